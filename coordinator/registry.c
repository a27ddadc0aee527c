/* registry.c — the live workers farmd knows, in a list ordered by last-seen (Paranoid Pirate):
 * any inbound message moves a worker to the tail, so lease expiry walks from the head and stops at
 * the first live worker. Lookups are linear: a farm has hundreds of workers, not millions. */
#include "coordinator/farmd.h"
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void unlink_w(coord_farmd_t *f, coord_worker_t *w)
{
    if (w->prev) w->prev->next = w->next; else f->head = w->next;
    if (w->next) w->next->prev = w->prev; else f->tail = w->prev;
    w->prev = w->next = NULL;
}

static void append_w(coord_farmd_t *f, coord_worker_t *w)
{
    w->prev = f->tail; w->next = NULL;
    if (f->tail) f->tail->next = w; else f->head = w;
    f->tail = w;
}

coord_worker_t *coord_worker_find(coord_farmd_t *f, const proto_env_t *env)
{
    for (coord_worker_t *w = f->tail; w; w = w->prev)
        if (w->env.rid_len == env->rid_len && !memcmp(w->env.rid, env->rid, env->rid_len)) return w;
    return NULL;
}

coord_worker_t *coord_worker_by_attempt(coord_farmd_t *f, int64_t attempt_id)
{
    for (coord_worker_t *w = f->head; attempt_id && w; w = w->next)
        if (w->attempt_id == attempt_id) return w;
    return NULL;
}

coord_worker_t *coord_worker_add(coord_farmd_t *f, const proto_env_t *env)
{
    coord_worker_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->env = *env;
    w->last_seen = coord_mono_ms(); w->last_seen_wall = coord_wall_ms();
    append_w(f, w);
    f->n_workers++;
    return w;
}

void coord_worker_touch(coord_farmd_t *f, coord_worker_t *w)
{
    w->last_seen = coord_mono_ms(); w->last_seen_wall = coord_wall_ms(); w->dirty = 1;
    if (f->tail != w) { unlink_w(f, w); append_w(f, w); }
}

void coord_worker_remove(coord_farmd_t *f, coord_worker_t *w)
{
    unlink_w(f, w);
    f->n_workers--;
    free(w);
}

void coord_workers_expire(coord_farmd_t *f)
{
    int64_t now = coord_mono_ms();
    char err[256];
    while (f->head && now - f->head->last_seen > f->cfg.lease_ms) {
        coord_worker_t *w = f->head;
        coord_logf("worker %s silent for %lld ms: lease ended", w->caps.id, (long long)(now - w->last_seen));
        if (w->attempt_id) coord_attempt_lost(f, w->attempt_id, "lease expired: worker silent");
        if (store_worker_set(f->st, w->caps.id, "lost", 0, w->last_seen_wall, err, sizeof err) != 0)
            coord_logf("%s", err);
        store_event(f->st, 0, 0, 0, w->caps.id, "worker-lost", "lease expired", coord_wall_ms());
        if (f->head == w) coord_worker_remove(f, w);
    }
}

void coord_workers_heartbeat(coord_farmd_t *f)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_HEARTBEAT);
    m.heartbeat_ms = (uint32_t)f->cfg.heartbeat_ms;
    char err[256];
    for (coord_worker_t *w = f->head; w; w = w->next)   /* unreachable peers: their lease decides */
        proto_send(f->router, &w->env, &m, ZMQ_DONTWAIT, err, sizeof err);
}

void coord_workers_flush(coord_farmd_t *f)
{
    const char *ids[512]; int64_t seen[512]; int n = 0;
    char err[256];
    for (coord_worker_t *w = f->head; w; w = w->next) {
        if (!w->dirty) continue;
        w->dirty = 0;
        ids[n] = w->caps.id; seen[n] = w->last_seen_wall; n++;
        if (n == 512) { store_worker_touch(f->st, n, ids, seen, err, sizeof err); n = 0; }
    }
    if (n && store_worker_touch(f->st, n, ids, seen, err, sizeof err) != 0) coord_logf("%s", err);
}
