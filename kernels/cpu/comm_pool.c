/* comm_pool.c — persistent tensor-parallel rank threads over any communicator backend
 * (kernels/k_comm_pool.h). Host code shared by the CPU-threads and the NCCL backends.
 *
 * Rank threads 1..size-1 wait on a generation counter; a run sets the job, bumps the generation,
 * runs rank 0 on the caller and waits until `pending` drops to 0. A failing rank aborts the group
 * (the others leave their collectives); after such a run the group is replaced with a fresh one.
 *
 * Not here: concurrent runs (the caller serialises them), the collectives themselves.
 */
#include "kernels/k_comm_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX_RANKS 64

typedef struct {
    int rc;
    char err[512];
} pool_slot_t;

typedef struct {
    k_comm_pool_t *p;
    int rank;
} pool_thread_arg_t;

struct k_comm_pool {
    const k_comm_backend_t *be;
    int size;
    int dev[POOL_MAX_RANKS];
    k_comm_t *comms;                     /* the group; NULL after a rebuild failed */
    char group_err[256];                 /* why comms is NULL */
    pthread_mutex_t mu;
    pthread_cond_t go;                   /* rank threads: a new generation or quit */
    pthread_cond_t done;                 /* the caller: pending reached 0 */
    unsigned gen;                        /* bumped once per run */
    int pending;                         /* rank threads not yet done with the current phase */
    int quit;
    k_comm_rank_fn fn;
    void *arg;
    pool_slot_t slot[POOL_MAX_RANKS];
    pthread_t th[POOL_MAX_RANKS];
    pool_thread_arg_t targ[POOL_MAX_RANKS];
    int started;                         /* threads 1..started-1 were created */
    int runs, groups;
};

/* ---- helpers ---- */

static void slot_fail(pool_slot_t *s, const char *what)
{
    s->rc = -1;
    if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s", what);
}

/* Runs the job on rank r (any thread); a failure aborts the group so the others get out. */
static void run_rank(k_comm_pool_t *p, int r, k_comm_t *c)
{
    pool_slot_t *s = &p->slot[r];
    s->err[0] = 0;
    s->rc = p->fn(c, p->arg, s->err, sizeof s->err);
    if (s->rc != 0) { slot_fail(s, "failed"); k_comm_abort(c); }
}

/* One rank is done with the current phase (entering its device, or a run). */
static void phase_done(k_comm_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

static void wait_phase(k_comm_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *rank_thread(void *vp)
{
    pool_thread_arg_t *ta = vp;
    k_comm_pool_t *p = ta->p;
    int r = ta->rank, entered = 1;
    unsigned seen = 0;
    if (p->be->thread_enter && p->be->thread_enter(p->dev[r], p->slot[r].err, sizeof p->slot[r].err) != 0) {
        slot_fail(&p->slot[r], "cannot enter its device");
        entered = 0;
    }
    pthread_mutex_lock(&p->mu);
    seen = p->gen;
    pthread_mutex_unlock(&p->mu);
    phase_done(p);
    while (entered) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        int quit = p->quit;
        seen = p->gen;
        k_comm_t *c = p->comms ? &p->comms[r] : NULL;
        pthread_mutex_unlock(&p->mu);
        if (quit) break;
        run_rank(p, r, c);
        phase_done(p);
    }
    if (entered && p->be->thread_leave) p->be->thread_leave();
    return NULL;
}

/* The rank to blame: the one that aborted the group first when it failed, else the lowest failing. */
static int blamed_rank(const k_comm_pool_t *p)
{
    const k_comm_t *c0 = &p->comms[0];
    int first = c0->ops->first_abort ? c0->ops->first_abort(c0) : -1;
    if (first >= 0 && first < p->size && p->slot[first].rc != 0) return first;
    for (int r = 0; r < p->size; r++)
        if (p->slot[r].rc != 0) return r;
    return -1;
}

static int make_group(k_comm_pool_t *p)
{
    p->comms = p->be->group_new(p->size, p->dev, p->group_err, sizeof p->group_err);
    if (p->comms) p->groups++;
    return p->comms ? 0 : -1;
}

/* Stops every started thread and waits for them (the pool's threads only; the group stays). */
static void stop_threads(k_comm_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int r = 1; r < p->started; r++) pthread_join(p->th[r], NULL);
    p->started = 1;
}

/* ---- public API ---- */

k_comm_pool_t *k_comm_pool_new(const k_comm_backend_t *backend, int size, const int *devices, char *err,
                               size_t errlen)
{
    if (!backend || !backend->group_new || !backend->group_destroy) {
        snprintf(err, errlen, "comm pool: no backend");
        return NULL;
    }
    if (size < 1 || size > POOL_MAX_RANKS) {
        snprintf(err, errlen, "comm pool: %d ranks (1..%d)", size, POOL_MAX_RANKS);
        return NULL;
    }
    k_comm_pool_t *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, errlen, "comm pool: out of memory"); return NULL; }
    p->be = backend;
    p->size = size;
    p->started = 1;
    for (int r = 0; r < size; r++) p->dev[r] = devices ? devices[r] : r;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (make_group(p) != 0) { snprintf(err, errlen, "%s", p->group_err); goto fail; }
    p->pending = size - 1;
    for (; p->started < size; p->started++) {
        int r = p->started;
        p->targ[r] = (pool_thread_arg_t){ p, r };
        if (pthread_create(&p->th[r], NULL, rank_thread, &p->targ[r]) != 0) {
            snprintf(err, errlen, "comm pool: cannot start the thread of rank %d", r);
            pthread_mutex_lock(&p->mu);
            p->pending -= size - r;                /* the ranks that will never report */
            pthread_mutex_unlock(&p->mu);
            wait_phase(p);
            goto fail;
        }
    }
    wait_phase(p);                                  /* every thread entered its device (or failed) */
    for (int r = 1; r < size; r++)
        if (p->slot[r].rc != 0) {
            snprintf(err, errlen, "comm pool: rank %d (device %d): %s", r, p->dev[r], p->slot[r].err);
            goto fail;
        }
    return p;
fail:
    k_comm_pool_destroy(&p);
    return NULL;
}

int k_comm_pool_run(k_comm_pool_t *p, k_comm_rank_fn fn, void *arg, char *err, size_t errlen)
{
    if (!p || !fn) { snprintf(err, errlen, "comm pool: NULL %s", p ? "rank function" : "pool"); return -1; }
    if (!p->comms && make_group(p) != 0) {
        snprintf(err, errlen, "comm pool: no communicator group: %s", p->group_err);
        return -1;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    for (int r = 0; r < p->size; r++) p->slot[r] = (pool_slot_t){ 0, "" };
    p->pending = p->size - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    k_comm_t *c0 = &p->comms[0];
    if (p->be->thread_enter && p->be->thread_enter(p->dev[0], p->slot[0].err, sizeof p->slot[0].err) != 0) {
        slot_fail(&p->slot[0], "cannot enter its device");
        k_comm_abort(c0);
    } else {
        run_rank(p, 0, c0);
    }
    wait_phase(p);
    p->runs++;
    int bad = blamed_rank(p);
    if (bad < 0) return 0;
    snprintf(err, errlen, "rank %d: %s", bad, p->slot[bad].err);
    p->be->group_destroy(&p->comms);               /* aborted: the next run gets a fresh group */
    make_group(p);
    return -1;
}

int k_comm_pool_size(const k_comm_pool_t *p) { return p ? p->size : 0; }
int k_comm_pool_runs(const k_comm_pool_t *p) { return p ? p->runs : 0; }
int k_comm_pool_groups(const k_comm_pool_t *p) { return p ? p->groups : 0; }

void k_comm_pool_destroy(k_comm_pool_t **pp)
{
    if (!pp || !*pp) return;
    k_comm_pool_t *p = *pp;
    stop_threads(p);
    if (p->comms) p->be->group_destroy(&p->comms);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}
