/* cuda_comm_nccl.cu — the NCCL backend of the tensor-parallel communicator (kernels/k_comm.h).
 *
 * One process, one thread per GPU rank. The group's communicators come from ncclCommInitAll; each
 * collective first meets the other ranks at a host barrier that compares element counts (a mismatch
 * or an abort fails every rank instead of hanging NCCL), then queues the NCCL call on the rank
 * thread's k_cuda stream and polls it (cudaStreamQuery + ncclCommGetAsyncError + the group's abort
 * flag), so an aborted group never leaves a rank blocked in the device. The group destructor calls
 * ncclCommAbort on every communicator when the group was aborted (that tears down collectives
 * still spinning on a GPU), ncclCommDestroy otherwise. Rank threads come from a k_comm_pool
 * (kernels/cpu/comm_pool.c): kc_nccl_backend_ binds each one to its GPU once (k_cuda_bind) and keeps
 * the group across runs; k_comm_nccl_run is a one-shot pool.
 */
#include "kernels/cuda/kc_internal.cuh"
#include "kernels/k_barrier.h"
#include "kernels/k_comm_pool.h"

#include <nccl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KC_NCCL_MAX 64

typedef struct {
    int size;
    k_barrier_t bar;                     /* host meeting point of the collectives, abortable */
    size_t n[KC_NCCL_MAX];               /* counts published for the current collective */
    int dev[KC_NCCL_MAX];
    ncclComm_t nc[KC_NCCL_MAX];
    k_comm_t comms[KC_NCCL_MAX];
} kc_grp_t;

static int kc_grp_barrier_(kc_grp_t *g) { return k_barrier_wait(&g->bar); }

static void kc_nccl_abort_(k_comm_t *c) { k_barrier_abort(&((kc_grp_t *)c->impl)->bar, c->rank); }

static int kc_nccl_first_abort_(const k_comm_t *c) { return ((const kc_grp_t *)c->impl)->bar.abort_rank; }

static int kc_aborted_(k_comm_t *c, const char *op)
{
    return k_fail_(op, "rank %d: communicator group aborted", c->rank);
}

/* Meets the others with this rank's count; -1 (group aborted) on abort or disagreement. */
static int kc_publish_(k_comm_t *c, size_t n, const char *op)
{
    kc_grp_t *g = (kc_grp_t *)c->impl;
    g->n[c->rank] = n;
    if (kc_grp_barrier_(g)) return kc_aborted_(c, op);
    for (int r = 0; r < g->size; r++)
        if (g->n[r] != n) {
            kc_nccl_abort_(c);
            return k_fail_(op, "rank %d has %zu elements, rank %d has %zu", c->rank, n, r, g->n[r]);
        }
    return 0;
}

/* Waits for the queued collective: done, CUDA/NCCL error (aborts the group), or group aborted. */
static int kc_wait_(k_comm_t *c, kc_ctx_t *x, const char *op)
{
    kc_grp_t *g = (kc_grp_t *)c->impl;
    for (unsigned spin = 0;; spin++) {
        cudaError_t e = cudaStreamQuery(x->stream);
        if (e == cudaSuccess) return 0;
        if (e != cudaErrorNotReady) { kc_nccl_abort_(c); return kc_fail_cuda_(op, e, __FILE__, __LINE__); }
        ncclResult_t ae = ncclSuccess;
        if (ncclCommGetAsyncError(g->nc[c->rank], &ae) == ncclSuccess && ae != ncclSuccess && ae != ncclInProgress) {
            kc_nccl_abort_(c);
            return k_fail_(op, "NCCL: %s", ncclGetErrorString(ae));
        }
        if (g->bar.aborted) return kc_aborted_(c, op);
        if (spin > 1000) sched_yield();
    }
}

static int kc_nccl_enqueued_(k_comm_t *c, kc_ctx_t *x, ncclResult_t r, const char *op)
{
    if (r != ncclSuccess) { kc_nccl_abort_(c); return k_fail_(op, "NCCL: %s", ncclGetErrorString(r)); }
    return kc_wait_(c, x, op);
}

static kc_ctx_t *kc_rank_ctx_(k_comm_t *c, const char *op)
{
    kc_grp_t *g = (kc_grp_t *)c->impl;
    if (k_cuda_bound_device() != g->dev[c->rank]) {
        k_fail_(op, "rank %d: thread not bound to device %d (k_cuda_bind)", c->rank, g->dev[c->rank]);
        return NULL;
    }
    return kc_ctx_(op);
}

static int kc_nccl_all_reduce_(k_comm_t *c, float *buf, size_t n)
{
    const char *op = "nccl all_reduce";
    kc_grp_t *g = (kc_grp_t *)c->impl;
    kc_ctx_t *x = kc_rank_ctx_(c, op);
    if (!x) { kc_nccl_abort_(c); return -1; }
    if (kc_publish_(c, n, op)) return -1;
    if (n == 0) return 0;
    return kc_nccl_enqueued_(c, x, ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, g->nc[c->rank], x->stream), op);
}

static int kc_nccl_broadcast_(k_comm_t *c, float *buf, size_t n, int root)
{
    const char *op = "nccl broadcast";
    kc_grp_t *g = (kc_grp_t *)c->impl;
    if (root < 0 || root >= g->size) { kc_nccl_abort_(c); return k_fail_(op, "root %d of %d ranks", root, g->size); }
    kc_ctx_t *x = kc_rank_ctx_(c, op);
    if (!x) { kc_nccl_abort_(c); return -1; }
    if (kc_publish_(c, n, op)) return -1;
    if (n == 0) return 0;
    return kc_nccl_enqueued_(c, x, ncclBroadcast(buf, buf, n, ncclFloat, root, g->nc[c->rank], x->stream), op);
}

static int kc_nccl_barrier_(k_comm_t *c)
{
    kc_grp_t *g = (kc_grp_t *)c->impl;
    return kc_grp_barrier_(g) ? kc_aborted_(c, "nccl barrier") : 0;
}

static const k_comm_ops_t kc_nccl_ops_ = {
    "nccl", kc_nccl_all_reduce_, kc_nccl_broadcast_, kc_nccl_barrier_, kc_nccl_abort_, kc_nccl_first_abort_,
};

extern "C" k_comm_t *k_comm_nccl_group_new(int size, const int *devices, char *err, size_t errlen)
{
    int ndev = k_cuda_device_count();
    if (size < 1 || size > KC_NCCL_MAX) { snprintf(err, errlen, "nccl: %d ranks (1..%d)", size, KC_NCCL_MAX); return NULL; }
    kc_grp_t *g = (kc_grp_t *)calloc(1, sizeof *g);
    if (!g) { snprintf(err, errlen, "nccl: out of memory"); return NULL; }
    g->size = size;
    for (int r = 0; r < size; r++) {
        g->dev[r] = devices ? devices[r] : r;
        if (g->dev[r] < 0 || g->dev[r] >= ndev) {
            snprintf(err, errlen, "nccl: rank %d: device %d not visible (%d devices)", r, g->dev[r], ndev);
            free(g);
            return NULL;
        }
    }
    ncclResult_t nr = ncclCommInitAll(g->nc, size, g->dev);
    if (nr != ncclSuccess) {
        snprintf(err, errlen, "nccl: ncclCommInitAll(%d ranks): %s", size, ncclGetErrorString(nr));
        free(g);
        return NULL;
    }
    k_barrier_init(&g->bar, size);
    for (int r = 0; r < size; r++) g->comms[r] = (k_comm_t){ &kc_nccl_ops_, r, size, g };
    return g->comms;
}

extern "C" void k_comm_nccl_group_destroy(k_comm_t **comms)
{
    if (!comms || !*comms) return;
    kc_grp_t *g = (kc_grp_t *)(*comms)[0].impl;
    int prev = -1;
    cudaGetDevice(&prev);
    for (int r = 0; r < g->size; r++) {
        cudaSetDevice(g->dev[r]);
        if (g->bar.aborted) ncclCommAbort(g->nc[r]);
        else ncclCommDestroy(g->nc[r]);
    }
    if (prev >= 0) cudaSetDevice(prev);
    k_barrier_destroy(&g->bar);
    free(g);
    *comms = NULL;
}

/* ---- as a pool backend (kernels/k_comm_pool.h); one-shot runs ---- */

static int kc_nccl_enter_(int device, char *err, size_t errlen) { return k_cuda_bind(device, err, errlen); }

static const k_comm_backend_t kc_nccl_backend_ = {
    "nccl", k_comm_nccl_group_new, k_comm_nccl_group_destroy, kc_nccl_enter_, k_cuda_unbind,
};

extern "C" const k_comm_backend_t *k_comm_nccl_backend(void) { return &kc_nccl_backend_; }

extern "C" int k_comm_nccl_run(int size, const int *devices, k_comm_rank_fn fn, void *arg, char *err,
                               size_t errlen)
{
    int prev = -1;
    cudaGetDevice(&prev);
    k_comm_pool_t *p = k_comm_pool_new(&kc_nccl_backend_, size, devices, err, errlen);
    int rc = p ? k_comm_pool_run(p, fn, arg, err, errlen) : -1;
    k_comm_pool_destroy(&p);
    k_cuda_unbind();                                   /* as documented: the caller binds again */
    if (prev >= 0) cudaSetDevice(prev);
    return rc;
}
