/* tp.h — tensor-parallel sharding of the DiT: which slice of each weight a rank holds.
 *
 * Megatron-style split (DESIGN.md §7): attention heads are divided between ranks (to_q/to_k/to_v are
 * column-parallel, i.e. a rank holds the ROWS of the [out, in] weight for its heads; to_out.0 is
 * row-parallel, i.e. a rank holds the COLUMNS of its heads), the FFN is split by columns of
 * ff.net.0 (rows of its weight) then by rows of ff.net.2 (columns of its weight); everything else is
 * replicated. Uneven splits are allowed (rank r holds heads [H·r/N, H·(r+1)/N)), so N only has to be
 * at most the head count. A row-parallel layer's partial outputs are summed with one all-reduce; its
 * bias is added by rank 0 only, before the all-reduce.
 *
 * LoRA shards follow the same math (verified in tests/unit/test_dit_tp.c): q/k/v deltas B·(A·x) have
 * A replicated and B split by rows like the base weight; the to_out delta B·(A·o) has A split by
 * columns (rank r's A·o_r is a partial sum of A·o) and B replicated, so the partial deltas ride the
 * same all-reduce as the base to_out.
 *
 * Not here: the communicator (kernels/k_comm.h), reading the slices (worker/model/safetensors.h).
 */
#ifndef WORKER_MODEL_TP_H
#define WORKER_MODEL_TP_H
#include <stddef.h>

/* How a weight is split between ranks. */
typedef enum {
    WRK_TP_REPL = 0,    /* every rank holds all of it */
    WRK_TP_ROWS_HEADS,  /* rows [h0·hd, h1·hd) of dim 0 (q/k/v weights and biases, LoRA B of q/k/v) */
    WRK_TP_COLS_HEADS,  /* columns [h0·hd, h1·hd) of dim 1 (to_out.0 weight, LoRA A of to_out) */
    WRK_TP_ROWS_FF,     /* rows [f0, f1) (ff.net.0.proj weight and bias) */
    WRK_TP_COLS_FF,     /* columns [f0, f1) (ff.net.2 weight) */
    WRK_TP_SPLIT_COUNT
} wrk_tp_split_t;

/* One rank's share. */
typedef struct {
    int tp, rank;
    int h0, h1;         /* attention heads [h0, h1) */
    int head_dim;
    int f0, f1;         /* FFN inner columns [f0, f1) */
} wrk_tp_shard_t;

/* Fills s for rank `rank` of `tp`. 0, or -1 with err (tp < 1, tp > heads, rank out of range,
 * ff_dim < tp). */
int wrk_tp_shard(int tp, int rank, int heads, int head_dim, int ff_dim, wrk_tp_shard_t *s,
                 char *err, size_t errlen);

/* The local extent of a split dim: for a split of `split` kind, the [lo, hi) range of the split
 * dimension (rows or columns) that the rank holds, out of `full`. REPL gives [0, full). */
void wrk_tp_range(const wrk_tp_shard_t *s, wrk_tp_split_t split, int full, int *lo, int *hi);

const char *wrk_tp_split_name(wrk_tp_split_t split);

#endif
