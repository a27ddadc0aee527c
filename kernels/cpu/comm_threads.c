/* comm_threads.c — CPU-threads backend of the tensor-parallel communicator (kernels/k_comm.h).
 *
 * Ranks are threads of one process, so a collective is a few barriers around plain memory copies:
 * every rank publishes its buffer pointer, rank r reduces slice r of the element range over all
 * ranks (in rank order, so every rank's result is bit-identical), then every rank copies the other
 * slices from their owners. The barrier is a mutex + condition variable with an abort flag, so a rank
 * that fails cannot leave the others waiting forever.
 *
 * k_comm_threads_run is a one-shot k_comm_pool (kernels/cpu/comm_pool.c) over this backend.
 *
 * Not here: inter-process or inter-machine communication, GPU buffers (the NCCL backend does those).
 */
#include "kernels/k_barrier.h"
#include "kernels/k_comm.h"
#include "kernels/k_comm_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMM_MAX_RANKS 64

typedef struct {
    int size;
    k_barrier_t bar;                  /* collectives meet here; aborted by k_comm_abort */
    float *ptr[COMM_MAX_RANKS];       /* buffers published for the current collective */
    size_t n[COMM_MAX_RANKS];         /* their element counts */
    k_comm_t comms[COMM_MAX_RANKS];   /* one communicator per rank */
} grp_t;

static int grp_barrier(grp_t *g) { return k_barrier_wait(&g->bar); }

static void th_abort(k_comm_t *c) { k_barrier_abort(&((grp_t *)c->impl)->bar, c->rank); }

static int th_first_abort(const k_comm_t *c) { return ((const grp_t *)c->impl)->bar.abort_rank; }

/* Publishes (buf, n) and waits for all ranks; fails (and aborts) when the counts disagree. */
static int publish(k_comm_t *c, float *buf, size_t n)
{
    grp_t *g = c->impl;
    g->ptr[c->rank] = buf;
    g->n[c->rank] = n;
    if (grp_barrier(g) != 0) return -1;
    for (int r = 0; r < g->size; r++)
        if (g->n[r] != n) { th_abort(c); return -1; }
    return 0;
}

/* Element range [lo, hi) of slice `part` when n elements are split over `parts`. */
static void slice_of(size_t n, int parts, int part, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)parts;
    *hi = n * (size_t)(part + 1) / (size_t)parts;
}

/* ---- collectives ---- */

static int th_all_reduce_sum(k_comm_t *c, float *buf, size_t n)
{
    grp_t *g = c->impl;
    if (publish(c, buf, n) != 0) return -1;
    size_t lo, hi;
    slice_of(n, g->size, c->rank, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {          /* reduce my slice in rank order */
        float s = g->ptr[0][i];
        for (int r = 1; r < g->size; r++) s += g->ptr[r][i];
        buf[i] = s;
    }
    if (grp_barrier(g) != 0) return -1;
    for (int r = 0; r < g->size; r++) {         /* gather the other slices from their owners */
        if (r == c->rank) continue;
        slice_of(n, g->size, r, &lo, &hi);
        if (hi > lo) memcpy(buf + lo, g->ptr[r] + lo, (hi - lo) * sizeof(float));
    }
    return grp_barrier(g);                      /* nobody reuses its buffer while others read it */
}

static int th_broadcast(k_comm_t *c, float *buf, size_t n, int root)
{
    grp_t *g = c->impl;
    if (root < 0 || root >= g->size) { th_abort(c); return -1; }
    if (publish(c, buf, n) != 0) return -1;
    if (c->rank != root && n) memcpy(buf, g->ptr[root], n * sizeof(float));
    return grp_barrier(g);
}

static int th_barrier(k_comm_t *c) { return grp_barrier(c->impl); }

static const k_comm_ops_t TH_OPS = {
    .name = "threads",
    .all_reduce_sum = th_all_reduce_sum,
    .broadcast = th_broadcast,
    .barrier = th_barrier,
    .abort = th_abort,
    .first_abort = th_first_abort,
};

/* ---- group lifetime ---- */

k_comm_t *k_comm_threads_group_new(int size, char *err, size_t errlen)
{
    if (size < 1 || size > COMM_MAX_RANKS) {
        snprintf(err, errlen, "comm threads: group size %d outside 1..%d", size, COMM_MAX_RANKS);
        return NULL;
    }
    grp_t *g = calloc(1, sizeof *g);
    if (!g) { snprintf(err, errlen, "comm threads: out of memory"); return NULL; }
    g->size = size;
    k_barrier_init(&g->bar, size);
    for (int r = 0; r < size; r++)
        g->comms[r] = (k_comm_t){ .ops = &TH_OPS, .rank = r, .size = size, .impl = g };
    return g->comms;
}

void k_comm_threads_group_destroy(k_comm_t **comms)
{
    if (!comms || !*comms) return;
    grp_t *g = (*comms)->impl;
    k_barrier_destroy(&g->bar);
    free(g);
    *comms = NULL;
}

/* ---- as a pool backend; one-shot runs ---- */

static k_comm_t *th_group_new(int size, const int *devices, char *err, size_t errlen)
{
    (void)devices;                                 /* ranks are threads of this process */
    return k_comm_threads_group_new(size, err, errlen);
}

static const k_comm_backend_t TH_BACKEND = {
    .name = "threads",
    .group_new = th_group_new,
    .group_destroy = k_comm_threads_group_destroy,
};

const k_comm_backend_t *k_comm_threads_backend(void) { return &TH_BACKEND; }

int k_comm_threads_run(int size, k_comm_rank_fn fn, void *arg, char *err, size_t errlen)
{
    k_comm_pool_t *p = k_comm_pool_new(&TH_BACKEND, size, NULL, err, errlen);
    if (!p) return -1;
    int rc = k_comm_pool_run(p, fn, arg, err, errlen);
    k_comm_pool_destroy(&p);
    return rc;
}
