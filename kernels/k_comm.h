/* k_comm.h — the tensor-parallel communicator: one interface, several backends.
 *
 * A communicator joins `size` ranks that run the same model code on their shard of the weights and
 * meet at collective calls (all-reduce after attention and after the FFN of each block, DESIGN.md §7).
 * Every rank must make the same sequence of collective calls with the same element counts.
 *
 * Backends: the CPU-threads backend (kernels/cpu/comm_threads.c: ranks are threads of one process
 * sharing memory) and NCCL (kernels/cuda/cuda_comm_nccl.cu: ranks are GPUs; buffers are device pointers). Model code
 * only uses the k_comm_* calls below, never a backend directly.
 *
 * Determinism: all_reduce_sum adds the ranks' contributions in rank order 0..size-1 for every element,
 * so all ranks end with bit-identical buffers and a run is reproducible for a given size.
 *
 * Failure: a rank that fails between collectives calls k_comm_abort(); every rank blocked in (or later
 * entering) a collective of that group then returns -1 instead of waiting forever.
 *
 * Not here: point-to-point messages, non-float reductions, overlapping compute with communication.
 */
#ifndef KERNELS_K_COMM_H
#define KERNELS_K_COMM_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k_comm k_comm_t;

/* Backend function table; a backend fills one static instance. All return 0 or -1 (aborted/failed). */
typedef struct {
    const char *name;                                          /* "threads", "nccl" */
    int  (*all_reduce_sum)(k_comm_t *c, float *buf, size_t n); /* in place, all ranks */
    int  (*broadcast)(k_comm_t *c, float *buf, size_t n, int root);
    int  (*barrier)(k_comm_t *c);
    void (*abort)(k_comm_t *c);
    int  (*first_abort)(const k_comm_t *c);                    /* rank that aborted the group first, -1 */
} k_comm_ops_t;

struct k_comm {
    const k_comm_ops_t *ops;
    int rank;            /* 0..size-1 */
    int size;            /* ranks in the group, >= 1 */
    void *impl;          /* backend state shared by the group */
};

static inline int k_comm_rank(const k_comm_t *c) { return c ? c->rank : 0; }
static inline int k_comm_size(const k_comm_t *c) { return c ? c->size : 1; }
static inline const char *k_comm_name(const k_comm_t *c) { return c ? c->ops->name : "none"; }

/* Sums buf (n floats) over all ranks, in place on every rank. A NULL comm or size 1 is a no-op. */
static inline int k_comm_all_reduce_sum(k_comm_t *c, float *buf, size_t n)
{ return (!c || c->size == 1) ? 0 : c->ops->all_reduce_sum(c, buf, n); }
/* Copies root's buf (n floats) to every rank's buf. */
static inline int k_comm_broadcast(k_comm_t *c, float *buf, size_t n, int root)
{ return (!c || c->size == 1) ? 0 : c->ops->broadcast(c, buf, n, root); }
/* Returns when every rank has entered the barrier (or -1 when the group was aborted). */
static inline int k_comm_barrier(k_comm_t *c)
{ return (!c || c->size == 1) ? 0 : c->ops->barrier(c); }
/* Marks the group failed and wakes every rank waiting in a collective; idempotent. */
static inline void k_comm_abort(k_comm_t *c) { if (c && c->size > 1) c->ops->abort(c); }

/* ---- CPU-threads backend (kernels/cpu/comm_threads.c) ---- */

/* The rank function run on each thread of k_comm_threads_run. Returns 0, or -1 with err filled. */
typedef int (*k_comm_rank_fn)(k_comm_t *c, void *arg, char *err, size_t errlen);

/* Runs fn on `size` threads (1..64), rank r on thread r (rank 0 on the calling thread), each with its
 * communicator of one shared group, and joins them. When a rank returns -1 the group is aborted so the
 * others leave their collectives. Returns 0 when every rank returned 0, else -1 with err filled with
 * "rank R: <that rank's message>" of the rank that aborted the group first (else the lowest failing).
 * One-shot: a k_comm_pool (kernels/k_comm_pool.h) keeps the threads and the group across runs. */
int k_comm_threads_run(int size, k_comm_rank_fn fn, void *arg, char *err, size_t errlen);

/* Lower-level: a group of `size` thread ranks, for callers that manage their own threads.
 * k_comm_threads_group_new returns the group's communicators as an array of `size` (comms[r] for rank r),
 * or NULL with err filled. Free with k_comm_threads_group_destroy once no rank uses it any more. */
k_comm_t *k_comm_threads_group_new(int size, char *err, size_t errlen);
void k_comm_threads_group_destroy(k_comm_t **comms);

#ifdef __cplusplus
}
#endif
#endif
