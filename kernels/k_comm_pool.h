/* k_comm_pool.h — a persistent set of tensor-parallel rank threads with their communicator group.
 *
 * k_comm_threads_run / k_comm_nccl_run start `size` threads, build a group (for NCCL:
 * ncclCommInitAll), bind each thread to its device, run one rank function and tear everything down:
 * fine for a test, wasteful per denoising forward. A pool does the start-up once: rank threads
 * 1..size-1 are started and bound (thread_enter, e.g. k_cuda_bind) when the pool is made and keep
 * their binding and the group across runs; each k_comm_pool_run hands them the next rank function
 * and runs rank 0 on the calling thread.
 *
 * Failure: a rank that returns -1 aborts the group, so the others leave their collectives; the run
 * returns -1 with "rank R: message" of the rank that aborted first (else the lowest failing rank),
 * and the pool replaces the aborted group with a fresh one before the next run (for NCCL: abort,
 * destroy, init again), so one failed window does not poison the worker. A run after a group that
 * could not be rebuilt tries again and fails with that reason.
 *
 * The pool is backend-agnostic: a k_comm_backend_t says how to make and destroy a group and how a
 * rank thread enters and leaves its device. Backends: k_comm_threads_backend() (kernels/cpu) and
 * k_comm_nccl_backend() (kernels/cuda, k_cuda.h).
 *
 * Not here: several concurrent runs on one pool (runs are serialised by the caller, as the model's
 * forwards are), ranks in other processes.
 */
#ifndef KERNELS_K_COMM_POOL_H
#define KERNELS_K_COMM_POOL_H
#include <stddef.h>

#include "kernels/k_comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a pool makes its group and prepares its threads. */
typedef struct {
    const char *name;                                      /* "threads", "nccl" */
    /* The group's communicators (comms[r] for rank r), rank r on devices[r] (NULL: device r). */
    k_comm_t *(*group_new)(int size, const int *devices, char *err, size_t errlen);
    void (*group_destroy)(k_comm_t **comms);
    /* Called once on each rank thread before its first run (and on the caller before each run of
     * rank 0); NULL when threads need no preparation. 0, or -1 with err. */
    int (*thread_enter)(int device, char *err, size_t errlen);
    /* Called once on each rank thread 1..size-1 when the pool ends; NULL: nothing to release. */
    void (*thread_leave)(void);
} k_comm_backend_t;

typedef struct k_comm_pool k_comm_pool_t;

/* Starts a pool of `size` ranks (1..64) on `backend`; rank r on devices[r] (NULL: device r; copied).
 * Returns NULL with err when the group cannot be made or a thread cannot start or enter its device
 * (nothing is left running then). */
k_comm_pool_t *k_comm_pool_new(const k_comm_backend_t *backend, int size, const int *devices, char *err,
                               size_t errlen);
/* Runs fn on every rank (rank 0 on the calling thread) and waits for all of them. 0 when every rank
 * returned 0; else -1 with "rank R: message" (see the top) and the group is rebuilt for the next run. */
int k_comm_pool_run(k_comm_pool_t *p, k_comm_rank_fn fn, void *arg, char *err, size_t errlen);
/* Ranks in the pool; 0 for NULL. */
int k_comm_pool_size(const k_comm_pool_t *p);
/* Runs completed (successful or not) and groups built so far (1 + rebuilds after failures). */
int k_comm_pool_runs(const k_comm_pool_t *p);
int k_comm_pool_groups(const k_comm_pool_t *p);
/* Stops and joins the rank threads (each leaves its device), destroys the group; *p = NULL. */
void k_comm_pool_destroy(k_comm_pool_t **p);

/* The CPU-threads backend (kernels/cpu/comm_threads.c): devices are ignored. */
const k_comm_backend_t *k_comm_threads_backend(void);

#ifdef __cplusplus
}
#endif
#endif
