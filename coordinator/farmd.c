/* farmd.c — farmd's event loop: one thread polls the ROUTER socket and the task pool's wake fd,
 * dispatches each message to its handler and runs the timers (heartbeats, lease expiry, restart
 * grace, scheduling of backed-off windows, last-seen flushes). Handlers never block: blocking work
 * (verification, assembly) runs in tasks.c. Signals only set *stop. */
#include "coordinator/farmd.h"
#include "proto/curve.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#define TICK_MS 50
#define SCHED_MS 200
#define TOUCH_MS 2000

int64_t coord_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t coord_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void coord_logf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    fprintf(stderr, "%02d:%02d:%02d farmd: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, buf);
}

/* Sends one encoded message; 0 ok, -1 with errno (EHOSTUNREACH for a gone peer, EAGAIN). */
static int send_frames(coord_farmd_t *f, const coord_pending_t *p)
{
    const int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    if (zmq_send(f->router, p->env.rid, p->env.rid_len, more) < 0) return -1;
    if (p->env.delim && zmq_send(f->router, "", 0, more) < 0) return -1;
    if (zmq_send(f->router, p->hdr, PROTO_HEADER_BYTES, more) < 0) return -1;
    return zmq_send(f->router, p->body, p->len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int coord_send(coord_farmd_t *f, const proto_env_t *env, const proto_msg_t *m)
{
    char err[256];
    if (!f->batching) {
        if (proto_send(f->router, env, m, ZMQ_DONTWAIT, err, sizeof err) == 0) return 0;
        coord_logf("%s", err);
        return -1;
    }
    if (f->n_out == f->cap_out) {
        int cap = f->cap_out ? f->cap_out * 2 : 64;
        coord_pending_t *p = realloc(f->out, (size_t)cap * sizeof *p);
        if (!p) return -1;
        f->out = p; f->cap_out = cap;
    }
    coord_pending_t *p = &f->out[f->n_out];
    if (proto_encode(m, p->hdr, &p->body, &p->len, err, sizeof err) != 0) { coord_logf("%s", err); return -1; }
    p->env = *env; p->type = m->type; p->attempt_id = (int64_t)m->attempt_id;
    f->n_out++;
    return 0;
}

/* After the commit: sends every held reply. An ASSIGN that cannot be delivered requeues its window. */
static void flush_out(coord_farmd_t *f)
{
    int n = f->n_out;
    f->n_out = 0;
    for (int i = 0; i < n; i++) {
        coord_pending_t *p = &f->out[i];
        if (send_frames(f, p) != 0) {
            coord_logf("send %s: %s", proto_type_name(p->type), zmq_strerror(errno));
            if (p->type == PROTO_ASSIGN) {
                coord_worker_t *w = coord_worker_by_attempt(f, p->attempt_id);
                coord_attempt_lost(f, p->attempt_id, "ASSIGN could not be delivered");
                if (w) coord_worker_remove(f, w);
            }
        }
        free(p->body);
    }
}

/* Ends a batch: commit, then the held replies go out. A failed commit rolls everything back and
 * drops the replies; farmd then stops (its state in memory no longer matches the store). */
static int batch_end(coord_farmd_t *f, char *err, size_t errlen)
{
    char e[512];
    f->batching = 0;
    if (store_batch_commit(f->st, e, sizeof e) != 0) {
        for (int i = 0; i < f->n_out; i++) free(f->out[i].body);
        f->n_out = 0;
        snprintf(err, errlen, "store commit failed, stopping: %s", e);
        return -1;
    }
    flush_out(f);
    return 0;
}

static void batch_begin(coord_farmd_t *f)
{
    char e[512];
    if (store_batch_begin(f->st, e, sizeof e) == 0) f->batching = 1;
    else coord_logf("batch: %s", e);   /* falls back to one transaction per call */
}

int coord_mkdirs(const char *path, char *err, size_t errlen)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s; *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "mkdir %s: %s", p, strerror(errno));
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    return 0;
}

/* ---- start-up ---- */
static int make_dirs(coord_farmd_t *f, char *err, size_t errlen)
{
    const char *home = f->cfg.home;
    snprintf(f->dir_art, sizeof f->dir_art, "%s/artifacts", home);
    snprintf(f->dir_tmp, sizeof f->dir_tmp, "%s/artifacts/tmp", home);
    snprintf(f->dir_out, sizeof f->dir_out, "%s/outputs", home);
    snprintf(f->dir_logs, sizeof f->dir_logs, "%s/logs", home);
    const char *dirs[] = { home, f->dir_art, f->dir_tmp, f->dir_out, f->dir_logs };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (coord_mkdirs(dirs[i], err, errlen) != 0) return -1;
    return coord_upload_clean_tmp(f, err, errlen);
}

/* CURVE on the ROUTER with farmd's secret key, and the ZAP handler that checks the clients' keys. */
static int start_curve(coord_farmd_t *f, char *err, size_t errlen)
{
    char path[600], sec[PROTO_CURVE_Z85 + 1], pub[PROTO_CURVE_Z85 + 1], e2[800];
    if (!zmq_has("curve")) { snprintf(err, errlen, "--curve-key: this libzmq has no CURVE support"); return -1; }
    if (proto_curve_key_path(f->cfg.curve_key, ".secret", f->cfg.home, path, sizeof path) != 0 ||
        proto_curve_read_key(path, sec, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "--curve-key: %s", e2);
        return -1;
    }
    int rc = zmq_curve_public(pub, sec) == 0 && proto_curve_server_apply(f->router, sec, err, errlen) == 0 &&
             coord_zap_start(&f->zap, f->zctx, f->cfg.curve_clients, err, errlen) == 0 ? 0 : -1;
    memset(sec, 0, sizeof sec);
    if (rc) return -1;
    int n = coord_zap_count(&f->zap);
    coord_logf("CURVE on: public key %s; %d client key(s) in %s%s", pub, n, f->zap.dir,
               n ? "" : " (none yet: every worker and client is refused until its .public is copied there)");
    return 0;
}

static int open_socket(coord_farmd_t *f, char *err, size_t errlen)
{
    int one = 1, linger = 0, hwm = 100000;
    f->zctx = zmq_ctx_new();
    f->router = f->zctx ? zmq_socket(f->zctx, ZMQ_ROUTER) : NULL;
    if (!f->router) { snprintf(err, errlen, "zmq: socket: %s", zmq_strerror(errno)); return -1; }
    zmq_setsockopt(f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(f->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(f->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (f->cfg.curve_key[0] && start_curve(f, err, errlen) != 0) return -1;
    if (zmq_bind(f->router, f->cfg.bind) != 0) {
        snprintf(err, errlen, "zmq: bind %s: %s", f->cfg.bind, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* After a restart: running attempts wait grace_ms for their workers; assemblies run again. */
static int recover(coord_farmd_t *f, char *err, size_t errlen)
{
    int64_t *ids = NULL; int n = 0;
    if (store_attempts_running(f->st, &ids, &n, err, errlen) != 0) return -1;
    f->orphans = calloc((size_t)n + 1, sizeof *f->orphans);
    if (!f->orphans) { free(ids); snprintf(err, errlen, "out of memory"); return -1; }
    for (int i = 0; i < n; i++) f->orphans[i] = (coord_orphan_t){ ids[i], coord_mono_ms() + f->cfg.grace_ms };
    f->n_orphans = n;
    free(ids);
    if (n) coord_logf("restart: %d running attempts get %ld ms for their workers to report", n, f->cfg.grace_ms);
    if (store_shots_assembling(f->st, &ids, &n, err, errlen) != 0) return -1;
    for (int i = 0; i < n; i++) coord_assembly_start(f, ids[i]);
    free(ids);
    return 0;
}

static int start(coord_farmd_t *f, const coord_config_t *cfg, char *err, size_t errlen)
{
    char path[700], e2[512];
    f->cfg = *cfg;
    if (make_dirs(f, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s/farm.db", cfg->home);
    store_opts_t so = { .sync_full = strcmp(cfg->sync, "normal") != 0, .busy_ms = 5000 };
    if (store_open(path, &so, &f->st, e2, sizeof e2) != 0) { snprintf(err, errlen, "%s", e2); return -1; }
    store_set_logs_dir(f->st, f->dir_logs);
    if (coord_tasks_new(2, &f->tasks, err, errlen) != 0 ||
        coord_tasks_new((int)cfg->assembly_threads, &f->atasks, err, errlen) != 0)
        return -1;
    if (open_socket(f, err, errlen) != 0) return -1;
    if (recover(f, err, errlen) != 0) return -1;
    int64_t now = coord_mono_ms();
    f->t_heartbeat = now + cfg->heartbeat_ms; f->t_touch = now + TOUCH_MS; f->t_sched = now;
    f->want_dispatch = 1;
    store_event(f->st, 0, 0, 0, "", "farmd-start", cfg->bind, coord_wall_ms());
    coord_logf("listening on %s, home %s, lease %ld ms, schema v%d", cfg->bind, cfg->home, cfg->lease_ms,
               store_schema_version(f->st));
    return 0;
}

static void stop_all(coord_farmd_t *f)
{
    if (f->tasks) coord_tasks_destroy(&f->tasks);
    if (f->atasks) coord_tasks_destroy(&f->atasks);
    for (int i = 0; i < f->n_up; i++) coord_upload_drop(f, f->up[i].attempt_id);
    while (f->head) coord_worker_remove(f, f->head);
    if (f->router) zmq_close(f->router);
    coord_zap_stop(&f->zap);
    if (f->zctx) zmq_ctx_term(f->zctx);
    store_close(&f->st);
    free(f->up); free(f->orphans); free(f->out);
}

/* ---- loop ---- */
static void on_message(coord_farmd_t *f)
{
    proto_env_t env; proto_msg_t m; char err[256];
    int rc = proto_recv(f->router, &env, &m, ZMQ_DONTWAIT, err, sizeof err);
    if (rc == -2) {
        f->stats.malformed++;
        coord_logf("malformed message refused: %s", err);
    } else if (rc == 0) {
        const proto_mdef_t *d = proto_mdef(m.type);
        if (d && (d->dir & PROTO_DIR_WORKER)) coord_on_worker_msg(f, &env, &m);
        else if (d && d->dir == PROTO_DIR_CLIENT) coord_on_client_msg(f, &env, &m);
        else coord_logf("message %s is not for farmd: ignored", proto_type_name(m.type));
    }
    proto_msg_free(&m);
}

static int input_pending(coord_farmd_t *f)
{
    int ev = 0; size_t sz = sizeof ev;
    return zmq_getsockopt(f->router, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

/* Leases end on the workers' silence, not on ours: after the loop itself stalled (a huge SUBMIT, a
 * slow disk) the backlog of their messages is heard for one lease before anyone expires. */
static void timers(coord_farmd_t *f)
{
    int64_t now = coord_mono_ms();
    if (f->t_last_timers && now - f->t_last_timers > f->cfg.lease_ms / 2) {
        f->t_expiry_hold = now + f->cfg.lease_ms;
        coord_logf("loop stalled for %lld ms: leases held for %ld ms", (long long)(now - f->t_last_timers), f->cfg.lease_ms);
    }
    f->t_last_timers = now;
    if (now >= f->t_expiry_hold) {
        coord_workers_expire(f);
        coord_orphans_expire(f);
    }
    if (now >= f->t_heartbeat) { coord_workers_heartbeat(f); f->t_heartbeat = now + f->cfg.heartbeat_ms; }
    if (now >= f->t_touch) { coord_workers_flush(f); f->t_touch = now + TOUCH_MS; }
    if (now >= f->t_sched || f->want_dispatch) {
        f->want_dispatch = 0; f->t_sched = now + SCHED_MS;
        coord_dispatch(f, NULL);
    }
}

int coord_farmd_run(const coord_config_t *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    coord_farmd_t *f = calloc(1, sizeof *f);
    int rc = -1;
    if (!f) { snprintf(err, errlen, "out of memory"); return -1; }
    f->stop = stop;
    if (start(f, cfg, err, errlen) != 0) goto out;
    while (!*stop) {
        zmq_pollitem_t items[4] = { { f->router, 0, ZMQ_POLLIN, 0 }, { NULL, coord_tasks_fd(f->tasks), ZMQ_POLLIN, 0 },
                                    { NULL, coord_tasks_fd(f->atasks), ZMQ_POLLIN, 0 }, { f->zap.sock, 0, ZMQ_POLLIN, 0 } };
        int n = zmq_poll(items, f->zap.sock ? 4 : 3, TICK_MS);
        if (n < 0 && errno != EINTR) { snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(errno)); goto out; }
        batch_begin(f);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN))
            for (int k = 0; k < 256 && !*stop && input_pending(f); k++)   /* a burst, then timers */
                on_message(f);
        if (n > 0 && (items[1].revents & ZMQ_POLLIN)) coord_tasks_drain(f->tasks, f);
        if (n > 0 && (items[2].revents & ZMQ_POLLIN)) coord_tasks_drain(f->atasks, f);
        if (n > 0 && f->zap.sock && (items[3].revents & ZMQ_POLLIN)) coord_zap_handle(&f->zap);
        timers(f);
        if (batch_end(f, err, errlen) != 0) goto out;
    }
    coord_logf("stopping: assigned %lld, verified %lld, failed %lld, lost %lld, refused %lld, malformed %lld",
               (long long)f->stats.assigned, (long long)f->stats.verified, (long long)f->stats.failed,
               (long long)f->stats.lost, (long long)f->stats.refused, (long long)f->stats.malformed);
    coord_workers_flush(f);
    store_event(f->st, 0, 0, 0, "", "farmd-stop", "", coord_wall_ms());
    rc = 0;
out:
    stop_all(f);
    free(f);
    return rc;
}
