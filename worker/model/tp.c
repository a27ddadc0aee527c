/* tp.c — tensor-parallel shard arithmetic (see tp.h). */
#include "worker/model/tp.h"

#include <stdio.h>

static const char *const SPLIT_NAMES[WRK_TP_SPLIT_COUNT] = {
    [WRK_TP_REPL] = "replicated",
    [WRK_TP_ROWS_HEADS] = "rows by heads",
    [WRK_TP_COLS_HEADS] = "columns by heads",
    [WRK_TP_ROWS_FF] = "rows by ffn",
    [WRK_TP_COLS_FF] = "columns by ffn",
};

const char *wrk_tp_split_name(wrk_tp_split_t split)
{
    return (unsigned)split < WRK_TP_SPLIT_COUNT ? SPLIT_NAMES[split] : "?";
}

int wrk_tp_shard(int tp, int rank, int heads, int head_dim, int ff_dim, wrk_tp_shard_t *s,
                 char *err, size_t errlen)
{
    if (tp < 1 || tp > heads) {
        snprintf(err, errlen, "tensor parallel degree %d must be in 1..%d (the head count)", tp, heads);
        return -1;
    }
    if (rank < 0 || rank >= tp) {
        snprintf(err, errlen, "tensor parallel rank %d outside 0..%d", rank, tp - 1);
        return -1;
    }
    if (ff_dim < tp || head_dim < 1) {
        snprintf(err, errlen, "ffn width %d / head dim %d cannot be split %d ways", ff_dim, head_dim, tp);
        return -1;
    }
    s->tp = tp;
    s->rank = rank;
    s->head_dim = head_dim;
    s->h0 = (int)((long)heads * rank / tp);
    s->h1 = (int)((long)heads * (rank + 1) / tp);
    s->f0 = (int)((long)ff_dim * rank / tp);
    s->f1 = (int)((long)ff_dim * (rank + 1) / tp);
    return 0;
}

void wrk_tp_range(const wrk_tp_shard_t *s, wrk_tp_split_t split, int full, int *lo, int *hi)
{
    switch (split) {
    case WRK_TP_ROWS_HEADS:
    case WRK_TP_COLS_HEADS: *lo = s->h0 * s->head_dim; *hi = s->h1 * s->head_dim; return;
    case WRK_TP_ROWS_FF:
    case WRK_TP_COLS_FF:    *lo = s->f0; *hi = s->f1; return;
    default:                *lo = 0; *hi = full; return;
    }
}
