/* on_worker.c — handlers for worker messages (READY, HEARTBEAT, PROGRESS, RESULT, DONE, FAIL), the
 * fencing check every attempt-bearing message passes, the scheduler's dispatch and the restart
 * grace for attempts whose workers have not reported yet. All on the loop thread; nothing blocks. */
#include "coordinator/farmd.h"
#include "proto/artifact.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_WRITE_MS 500

typedef void (*handler_fn)(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m);

/* ---- small helpers ---- */
/* 1 if this peer was told "unknown" within the last heartbeat interval (an upload in flight would
 * otherwise get one per chunk and restart its upload each time); else records it and returns 0. */
static int unknown_recent(coord_farmd_t *f, const proto_env_t *env)
{
    int64_t now = coord_mono_ms();
    for (int i = 0; i < 32; i++) {
        proto_env_t *e = &f->unknown_ring[i].env;
        if (e->rid_len == env->rid_len && !memcmp(e->rid, env->rid, env->rid_len) &&
            now - f->unknown_ring[i].at < f->cfg.heartbeat_ms)
            return 1;
    }
    int k = f->unknown_at++ % 32;
    f->unknown_ring[k].env = *env; f->unknown_ring[k].at = now;
    return 0;
}

static void reply(coord_farmd_t *f, const proto_env_t *env, int type, int64_t attempt_id, const char *what)
{
    proto_msg_t r;
    proto_msg_init(&r, type);
    r.attempt_id = (uint64_t)attempt_id;
    if (type == PROTO_ACK) snprintf(r.what, sizeof r.what, "%s", what);
    if (type == PROTO_CANCEL) proto_msg_set_text(&r, what);
    if (type == PROTO_HEARTBEAT) { r.heartbeat_ms = (uint32_t)f->cfg.heartbeat_ms; r.flags = what ? PROTO_HB_UNKNOWN : 0; }
    if (type == PROTO_HEARTBEAT && what && unknown_recent(f, env)) { proto_msg_free(&r); return; }
    coord_send(f, env, &r);
    proto_msg_free(&r);
}

/* The worker id of a sender: its registry entry, else its routing id when that is a valid id. */
static int sender_id(const proto_env_t *env, const coord_worker_t *w, char *id, size_t n)
{
    if (w) { snprintf(id, n, "%s", w->caps.id); return 0; }
    if (env->rid_len == 0 || env->rid_len >= n) return -1;
    memcpy(id, env->rid, env->rid_len); id[env->rid_len] = 0;
    return proto_id_valid(id) ? 0 : -1;
}

static void orphan_forget(coord_farmd_t *f, int64_t attempt_id)
{
    for (int i = 0; i < f->n_orphans; i++)
        if (f->orphans[i].attempt_id == attempt_id) { f->orphans[i] = f->orphans[--f->n_orphans]; return; }
}

/* 1 the first time (attempt, type) is refused: log an event only once per pair. */
static int refused_first(coord_farmd_t *f, int64_t attempt_id, int type)
{
    int64_t key = attempt_id * 64 + type;
    for (int i = 0; i < 64; i++) if (f->refused_ring[i] == key) return 0;
    f->refused_ring[f->refused_at++ % 64] = key;
    return 1;
}

void coord_outcome(coord_farmd_t *f, const store_outcome_t *o)
{
    if (o->assemble_shot) coord_assembly_start(f, o->assemble_shot);
    if (!strcmp(o->job_state, "done") || !strcmp(o->job_state, "failed"))
        coord_logf("job %lld is %s", (long long)o->job_id, o->job_state);
}

/* An attempt no registered worker holds (after a restart, or a worker busy with a newer one) keeps
 * an unbound lease here: renewed by each message about it, lost when it runs out. */
static void orphan_renew(coord_farmd_t *f, int64_t attempt_id)
{
    int64_t until = coord_mono_ms() + f->cfg.lease_ms;
    for (int i = 0; i < f->n_orphans; i++)
        if (f->orphans[i].attempt_id == attempt_id) {
            if (f->orphans[i].deadline < until) f->orphans[i].deadline = until;
            return;
        }
    coord_orphan_t *p = realloc(f->orphans, (size_t)(f->n_orphans + 1) * sizeof *p);
    if (!p) return;
    f->orphans = p;
    f->orphans[f->n_orphans++] = (coord_orphan_t){ attempt_id, until };
}

static void bind_attempt(coord_farmd_t *f, coord_worker_t *w, const store_attempt_t *a)
{
    if (!w || (w->attempt_id && w->attempt_id != a->id)) { orphan_renew(f, a->id); return; }
    orphan_forget(f, a->id);
    w->attempt_id = a->id; w->job_id = a->job_id; w->window_id = a->window_id;
    w->n_frames = a->n_frames; w->width = a->width; w->height = a->height;
    w->assigned_at = coord_mono_ms(); w->mismatch_since = 0; w->resends = 0;
}

/* ---- fencing ---- */
/* 1: the attempt is running and belongs to the sender (*a filled); 0: refused (answered here). */
static int fence(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, const proto_msg_t *m,
                 store_attempt_t *a)
{
    char id[PROTO_ID_MAX + 1], err[256], why[160];
    int64_t aid = (int64_t)m->attempt_id;
    if (sender_id(env, w, id, sizeof id) != 0) { reply(f, env, PROTO_HEARTBEAT, 0, "unknown"); return 0; }
    if (!w) reply(f, env, PROTO_HEARTBEAT, 0, "unknown");   /* ask for READY, but still hear it out */
    if (w && w->attempt_id == aid && aid) {
        w->mismatch_since = 0;   /* it is working on what we think */
        memset(a, 0, sizeof *a);
        a->id = aid; a->job_id = w->job_id; a->window_id = w->window_id; snprintf(a->state, sizeof a->state, "running");
        snprintf(a->worker_id, sizeof a->worker_id, "%s", id);
        a->n_frames = w->n_frames; a->width = w->width; a->height = w->height;
        return 1;
    }
    int found = store_attempt_get(f->st, aid, a, err, sizeof err);
    if (found == 1 && !strcmp(a->worker_id, id)) {
        if (!strcmp(a->state, "running")) { bind_attempt(f, w, a); return 1; }
        if (m->type == PROTO_DONE && !strcmp(a->state, "done")) { reply(f, env, PROTO_ACK, aid, "result"); return 0; }
        if (m->type == PROTO_FAIL && (!strcmp(a->state, "failed") || !strcmp(a->state, "lost"))) {
            reply(f, env, PROTO_ACK, aid, "fail"); return 0;
        }
    }
    snprintf(why, sizeof why, "stale %s from %s: attempt %lld is %s", proto_type_name(m->type), id, (long long)aid,
             found == 1 ? a->state : found == 0 ? "unknown" : "unreadable");
    f->stats.refused++;
    if (refused_first(f, aid, m->type)) {
        coord_logf("refused %s", why);
        store_event(f->st, found == 1 ? a->job_id : 0, found == 1 ? a->window_id : 0, aid, id, "refused", why, coord_wall_ms());
        if (m->type == PROTO_PROGRESS) reply(f, env, PROTO_CANCEL, aid, "attempt is no longer current");
        if (m->type == PROTO_RESULT) reply(f, env, PROTO_ACK, aid, "refused");
    }
    if (m->type == PROTO_DONE || m->type == PROTO_FAIL) reply(f, env, PROTO_ACK, aid, "refused");
    return 0;
}

/* ---- handlers ---- */
static void on_ready(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    char err[256];
    if (!m->worker_id[0] || env->rid_len != strlen(m->worker_id) || memcmp(env->rid, m->worker_id, env->rid_len)) {
        coord_logf("READY refused: worker id '%s' must be the DEALER routing id", m->worker_id);
        return;
    }
    if (!w && !(w = coord_worker_add(f, env))) return;
    /* On another window than we think: restarted without it, unless our ASSIGN just crossed this
     * READY on the wire; a recent one is left to the heartbeat check (on_heartbeat). */
    if (w->attempt_id && w->attempt_id != (int64_t)m->attempt_id && coord_mono_ms() - w->assigned_at > f->cfg.lease_ms)
        coord_attempt_lost(f, w->attempt_id, "worker restarted without it");
    snprintf(w->caps.id, sizeof w->caps.id, "%s", m->worker_id);
    snprintf(w->caps.name, sizeof w->caps.name, "%s", m->name);
    snprintf(w->caps.engines, sizeof w->caps.engines, "%s", m->engines);
    w->caps.n_gpus = (int)(m->n_gpus > 4096 ? 4096 : m->n_gpus);
    w->caps.mem_mb = (int64_t)(m->mem_mb > ((uint64_t)1 << 40) ? (uint64_t)1 << 40 : m->mem_mb);
    if (m->attempt_id && !w->attempt_id) {   /* reconnect (e.g. farmd restarted): still on a window? */
        store_attempt_t a;
        int found = store_attempt_get(f->st, (int64_t)m->attempt_id, &a, err, sizeof err);
        int mine = found == 1 && !strcmp(a.worker_id, w->caps.id);
        if (mine && !strcmp(a.state, "running")) bind_attempt(f, w, &a);
        else if (mine && !strcmp(a.state, "done")) reply(f, env, PROTO_ACK, (int64_t)m->attempt_id, "result");
        else {
            char why[160];
            snprintf(why, sizeof why, "stale READY from %s: attempt %llu is %s", w->caps.id,
                     (unsigned long long)m->attempt_id, found == 1 ? a.state : "unknown");
            f->stats.refused++;
            coord_logf("refused %s", why);
            store_event(f->st, found == 1 ? a.job_id : 0, found == 1 ? a.window_id : 0, (int64_t)m->attempt_id,
                        w->caps.id, "refused", why, coord_wall_ms());
            reply(f, env, PROTO_CANCEL, (int64_t)m->attempt_id, "attempt is no longer current");
        }
    }
    if (store_worker_ready(f->st, &w->caps, w->attempt_id, coord_wall_ms(), err, sizeof err) != 0) coord_logf("%s", err);
    coord_logf("worker %s ready: engines %s, %d GPUs, %lld MB%s", w->caps.id, w->caps.engines, w->caps.n_gpus,
               (long long)w->caps.mem_mb, w->attempt_id ? ", still on its window" : "");
    reply(f, env, PROTO_HEARTBEAT, 0, NULL);
    if (!w->attempt_id) coord_dispatch(f, w);
}

/* A worker's heartbeat names the window it renders. If for a whole lease its heartbeats name another
 * one, nothing else about our attempt arrives and no upload of it is under way, the ASSIGN was lost
 * (e.g. in a reconnect): requeue it. */
static void on_heartbeat(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    int64_t now = coord_mono_ms();
    if (!w) { reply(f, env, PROTO_HEARTBEAT, 0, "unknown"); return; }
    if (!w->attempt_id || (int64_t)m->attempt_id == w->attempt_id || coord_upload_find(f, w->attempt_id)) {
        w->mismatch_since = 0;
        return;
    }
    if (!w->mismatch_since) w->mismatch_since = now;
    if (now - w->mismatch_since > f->cfg.lease_ms && now - w->assigned_at > f->cfg.lease_ms)
        coord_attempt_lost(f, w->attempt_id, "the worker is not on its assigned window (ASSIGN lost)");
}

static void on_progress(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    store_attempt_t a; char err[256];
    if (!fence(f, env, w, m, &a)) return;
    coord_alog(f, a.id, "progress %u/%u %s", m->done, m->total, m->text ? m->text : "");
    int64_t now = coord_mono_ms();
    if (w && now - w->progress_written < PROGRESS_WRITE_MS && m->done < m->total) return;
    if (w) w->progress_written = now;
    int done = (int)(m->done > 1000000 ? 1000000 : m->done), total = (int)(m->total > 1000000 ? 1000000 : m->total);
    if (store_attempt_progress(f->st, a.id, done, total, err, sizeof err) != 0) coord_logf("%s", err);
}

static void on_result(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    store_attempt_t a;
    if (!fence(f, env, w, m, &a)) return;
    coord_upload_chunk(f, &a, m);
}

static void on_done(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    store_attempt_t a; char err[256];
    if (!fence(f, env, w, m, &a)) return;
    if (store_attempt_get(f->st, a.id, &a, err, sizeof err) != 1) { coord_logf("DONE: %s", err); return; }
    if (m->text && m->text[0]) coord_alog(f, a.id, "worker: %s", m->text);
    coord_upload_done(f, env, &a, m);
}

static void on_fail(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, proto_msg_t *m)
{
    store_attempt_t a; store_outcome_t o; char err[256];
    if (!fence(f, env, w, m, &a)) return;
    const char *cls = proto_fail_class_name(m->fail_class), *why = m->text ? m->text : "";
    coord_alog(f, a.id, "FAIL class=%s: %s", cls, why);
    coord_upload_drop(f, a.id);
    if (m->fail_class == PROTO_FAIL_INFRA) {   /* handed back: no budget used; give the worker a moment */
        if (w) w->hold_until = coord_mono_ms() + f->cfg.heartbeat_ms;
        coord_attempt_lost(f, a.id, why);
        reply(f, env, PROTO_ACK, a.id, "fail");
        return;
    }
    if (store_attempt_fail(f->st, a.id, cls, why, (int)f->cfg.max_attempts, f->cfg.backoff_ms,
                           f->cfg.backoff_max_ms, coord_wall_ms(), &o, err, sizeof err) != 0) {
        coord_logf("attempt %lld: %s", (long long)a.id, err);
        return;   /* not committed: no ACK, the worker will send it again */
    }
    f->stats.failed++;
    coord_logf("attempt %lld failed (%s): %s; window now %s", (long long)a.id, cls, why, o.window_state);
    reply(f, env, PROTO_ACK, a.id, "fail");
    if (w && w->attempt_id == a.id) w->attempt_id = 0;
    coord_outcome(f, &o);
    if (w) coord_dispatch(f, w);
    f->want_dispatch = 1;
}

static const struct { int type; handler_fn fn; } HANDLERS[] = {
    { PROTO_READY, on_ready }, { PROTO_HEARTBEAT, on_heartbeat }, { PROTO_PROGRESS, on_progress },
    { PROTO_RESULT, on_result }, { PROTO_DONE, on_done }, { PROTO_FAIL, on_fail },
};

void coord_on_worker_msg(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m)
{
    coord_worker_t *w = coord_worker_find(f, env);
    if (w) coord_worker_touch(f, w);
    for (size_t i = 0; i < sizeof HANDLERS / sizeof HANDLERS[0]; i++)
        if (HANDLERS[i].type == m->type) { HANDLERS[i].fn(f, env, w, m); return; }
}

/* ---- attempts ending without a result ---- */
void coord_attempt_lost(coord_farmd_t *f, int64_t attempt_id, const char *reason)
{
    store_outcome_t o; char err[256];
    coord_worker_t *w = coord_worker_by_attempt(f, attempt_id);
    if (w) w->attempt_id = 0;
    coord_upload_drop(f, attempt_id);
    orphan_forget(f, attempt_id);
    coord_alog(f, attempt_id, "LOST (infrastructure): %s", reason);
    if (store_attempt_lost(f->st, attempt_id, reason, coord_wall_ms(), &o, err, sizeof err) != 0) {
        coord_logf("attempt %lld: %s", (long long)attempt_id, err);
        return;
    }
    f->stats.lost++;
    coord_logf("attempt %lld lost (%s): window %s again", (long long)attempt_id, reason, o.window_state);
    coord_outcome(f, &o);
    f->want_dispatch = 1;
}

void coord_orphans_expire(coord_farmd_t *f)
{
    int64_t now = coord_mono_ms();
    for (int i = 0; i < f->n_orphans;) {
        if (now < f->orphans[i].deadline) { i++; continue; }
        int64_t id = f->orphans[i].attempt_id;
        coord_upload_t *u = coord_upload_find(f, id);
        if (u && u->verifying) { f->orphans[i].deadline = now + f->cfg.lease_ms; i++; continue; }
        f->orphans[i] = f->orphans[--f->n_orphans];
        store_attempt_t a; char err[256];
        if (store_attempt_get(f->st, id, &a, err, sizeof err) == 1 && !strcmp(a.state, "running"))
            coord_attempt_lost(f, id, "no worker reported on it within its lease (or the grace after a restart)");
    }
}

/* ---- scheduling ---- */
static void fill_assign(proto_msg_t *m, const store_assignment_t *a)
{
    proto_msg_init(m, PROTO_ASSIGN);
    m->attempt_id = (uint64_t)a->attempt_id; m->job_id = (uint64_t)a->job_id;
    snprintf(m->shot, sizeof m->shot, "%s", a->shot.name);
    m->window_index = (uint32_t)a->window_index; m->first_frame = (uint32_t)a->first_frame;
    m->n_frames = (uint32_t)a->n_frames; m->shot_frames = (uint32_t)a->shot.frames;
    m->overlap = (uint32_t)a->shot.overlap;
    snprintf(m->engine, sizeof m->engine, "%s", a->shot.engine);
    snprintf(m->prompt, sizeof m->prompt, "%s", a->shot.prompt);
    snprintf(m->negative, sizeof m->negative, "%s", a->shot.negative_prompt);
    m->width = (uint32_t)a->shot.width; m->height = (uint32_t)a->shot.height; m->fps = a->shot.fps;
    m->seed = a->shot.seed; m->steps = (uint32_t)a->shot.steps; m->guidance = a->shot.guidance;
    snprintf(m->model, sizeof m->model, "%s", a->shot.model);
    snprintf(m->lora, sizeof m->lora, "%s", a->shot.lora);
    snprintf(m->strategy, sizeof m->strategy, "%s", a->shot.strategy);
    snprintf(m->role, sizeof m->role, "%s", a->role[0] ? a->role : "render");
}

/* ASSIGN.data: the conditioning blob of the verified window this one waited for (chain predecessor,
 * anchor stage), read from its artifact; none when that engine attached none. A blob that cannot be
 * read is logged and left out: the engine decides whether it can render without it. */
static void attach_cond(coord_farmd_t *f, proto_msg_t *m, const store_assignment_t *a)
{
    uint8_t *blob = NULL; size_t len = 0; char err[512];
    if (!a->after_artifact[0]) return;
    if (proto_artifact_read_cond(a->after_artifact, &blob, &len, err, sizeof err) != 0)
        coord_alog(f, a->attempt_id, "conditioning not attached: %s", err);
    else if (blob && proto_msg_set_data(m, blob, len) != 0)
        coord_alog(f, a->attempt_id, "conditioning not attached: %zu bytes over the message limit", len);
    else if (blob)
        coord_alog(f, a->attempt_id, "conditioning attached: %zu bytes from %s", len, a->after_artifact);
    free(blob);
}

/* 1 assigned, 0 nothing for this worker, -1 error (or the worker vanished). */
static int assign_one(coord_farmd_t *f, coord_worker_t *w)
{
    store_assignment_t a; proto_msg_t m; char err[256];
    int rc = store_assign_next(f->st, &w->caps, (int)f->cfg.max_job_fails, coord_wall_ms(), &a, err, sizeof err);
    if (rc <= 0) { if (rc < 0) coord_logf("schedule: %s", err); return rc; }
    w->attempt_id = a.attempt_id; w->job_id = a.job_id; w->window_id = a.window_id;
    w->n_frames = a.n_frames; w->width = a.shot.width; w->height = a.shot.height;
    w->progress_written = 0; w->assigned_at = coord_mono_ms(); w->mismatch_since = 0; w->resends = 0;
    f->stats.assigned++;
    coord_alog(f, a.attempt_id, "assigned job %lld shot %s window %d frames [%d,+%d) to worker %s",
               (long long)a.job_id, a.shot.name, a.window_index, a.first_frame, a.n_frames, w->caps.id);
    fill_assign(&m, &a);
    attach_cond(f, &m, &a);
    rc = coord_send(f, &w->env, &m);   /* delivered after the commit (flush_out handles a gone peer) */
    proto_msg_free(&m);
    if (rc != 0) {   /* not even queued: infrastructure, not the window's fault */
        coord_attempt_lost(f, a.attempt_id, "ASSIGN could not be delivered");
        coord_worker_remove(f, w);
        return -1;
    }
    return 1;
}

void coord_dispatch(coord_farmd_t *f, coord_worker_t *w)
{
    int64_t now = coord_mono_ms();
    if (w) {
        if (!w->attempt_id && w->caps.id[0] && now >= w->hold_until) assign_one(f, w);
        return;
    }
    if (!store_has_queued(f->st)) return;
    for (coord_worker_t *x = f->head, *next; x; x = next) {
        next = x->next;
        if (x->attempt_id || !x->caps.id[0] || now < x->hold_until) continue;
        if (assign_one(f, x) == 1 && !store_has_queued(f->st)) return;
    }
}
