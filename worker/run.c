/* run.c — `farm-worker run`: the worker loop. A DEALER to farmd (routing id = worker name) that
 * advertises its usable engines, renders one window at a time on a job thread (worker/job.c),
 * reports PROGRESS per frame/step, uploads results from the durable outbox in checksummed RESULT
 * chunks followed by DONE, and deletes an outbox entry only when farmd ACKs it.
 *
 * Liveness (Paranoid Pirate): any message from farmd counts as its heartbeat; silence longer than
 * liveness × interval closes the socket and reconnects after a capped exponential backoff. After a
 * reconnect, or when farmd says it does not know us (HEARTBEAT flag UNKNOWN, e.g. it restarted), the
 * worker sends READY again (with the attempt it is still rendering) and re-sends every unacknowledged
 * result and FAIL.
 *
 * Signals only set a flag. SIGTERM/SIGINT once: drain (finish the current window, wait for its ACK,
 * exit 0; past --drain-timeout-ms the window is handed back with FAIL class "infra"). Twice: hand the
 * window back now and exit 0. --testcard-hang windows make the worker go silent (no heartbeat, no
 * progress, never finishes: to farmd it looks frozen, so its lease expires); SIGTERM then exits at once.
 */
#include "worker/commands.h"
#include "worker/device.h"
#include "worker/engine.h"
#include "worker/job.h"
#include "worker/opts.h"
#include "worker/outbox.h"
#include "proto/checksum.h"
#include "proto/curve.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_UPLOADS  64
#define MAX_FAILS    16
#define SEND_BUDGET  8          /* RESULT chunks per loop turn, so heartbeats and ACKs interleave */

typedef struct {
    char coordinator[256], name[PROTO_ID_MAX + 1], outbox[PATH_MAX - 64], engines[256], home[PATH_MAX - 128];
    char device[16], curve_key[512], curve_server[512];
    int  heartbeat_ms, liveness, reconnect_ms, reconnect_max_ms, chunk_bytes, drain_timeout_ms;
    wrk_testcard_opts_t tc;
} wrk_conf_t;

#define O(f) offsetof(wrk_conf_t, f), sizeof(((wrk_conf_t *)0)->f)
static const wrk_opt_t RUN_OPTS[] = {
    { "coordinator", "ENDPOINT", WRK_OPT_STR, O(coordinator), 0, 0,
      "farmd endpoint (env FARM_COORDINATOR, default tcp://127.0.0.1:7600)" },
    { "name", "NAME", WRK_OPT_STR, O(name), 0, 0, "worker id, [A-Za-z0-9._:-] (default HOST-PID; keep it stable to reuse the outbox)" },
    { "outbox", "DIR", WRK_OPT_STR, O(outbox), 0, 0, "durable result outbox (default $FARM_HOME/outbox-NAME)" },
    { "engines", "LIST", WRK_OPT_STR, O(engines), 0, 0, "advertise only these usable engines (comma list; default all usable)" },
    { "device", "DEV", WRK_OPT_STR, O(device), 0, 0, "compute device of the dit engine: cpu | cuda | auto (env FARM_DEVICE, default auto)" },
    { "curve-key", "NAME", WRK_OPT_STR, O(curve_key), 0, 0,
      "this worker's CURVE keypair from `farm keygen NAME` (NAME in $FARM_HOME/keys, or a path; env FARM_CURVE_KEY)" },
    { "curve-server", "NAME", WRK_OPT_STR, O(curve_server), 0, 0,
      "farmd's CURVE public key, NAME.public (env FARM_CURVE_SERVER); with --curve-key: encrypted, authenticated" },
    { "heartbeat-ms", "MS", WRK_OPT_INT, O(heartbeat_ms), 50, 600000, "heartbeat interval until farmd sets one (default 1000)" },
    { "liveness", "N", WRK_OPT_INT, O(liveness), 2, 100, "heartbeats farmd may miss before reconnecting (default 3)" },
    { "reconnect-ms", "MS", WRK_OPT_INT, O(reconnect_ms), 10, 600000, "first reconnect delay, doubled up to the max (default 100)" },
    { "reconnect-max-ms", "MS", WRK_OPT_INT, O(reconnect_max_ms), 10, 3600000, "reconnect delay cap (default 5000)" },
    { "chunk-bytes", "N", WRK_OPT_INT, O(chunk_bytes), 1024, (long)PROTO_CHUNK_MAX, "RESULT chunk size (default 1048576)" },
    { "drain-timeout-ms", "MS", WRK_OPT_INT, O(drain_timeout_ms), 0, 86400000,
      "on SIGTERM, wait this long for the current window before handing it back (default 300000)" },
    { "testcard-fail", "SHOT:WINDOW", WRK_OPT_LIST, O(tc.fail), 0, 0,
      "test: fail this window every time, class window (repeatable; * matches any)" },
    { "testcard-hang", "SHOT:WINDOW", WRK_OPT_LIST, O(tc.hang), 0, 0,
      "test: on this window go silent (no heartbeats/progress) and never finish (repeatable)" },
    { "testcard-delay-ms", "MS", WRK_OPT_INT, O(tc.delay_ms), 0, 600000, "test: sleep this long after each testcard frame" },
};
#define N_RUN_OPTS ((int)(sizeof RUN_OPTS / sizeof RUN_OPTS[0]))

typedef struct {
    wrk_outbox_entry_t e;
    uint64_t sent;              /* bytes of RESULT sent so far in this round */
    int      done_sent;         /* DONE sent, waiting for ACK */
} upload_t;

typedef struct { uint64_t attempt_id; int fail_class; char reason[512]; int sent; } pending_fail_t;

typedef struct {
    wrk_conf_t c;
    proto_curve_client_t curve;
    void *ctx, *sock;
    void *mon;                  /* the socket's handshake events */
    int  conns, hs_ok;          /* connections made; a handshake succeeded on this one */
    proto_hs_t hs_said;         /* the last handshake problem logged (NONE: none since the last success) */
    wrk_outbox_t ob;
    char engines_adv[256];
    long long now, last_rx, next_hb, reconnect_at;
    int  hb_ms, backoff_ms;
    wrk_job_t *job;             /* NULL when idle */
    int  job_cancelled;         /* farmd cancelled it: report nothing */
    int  progress_sent;
    upload_t up[MAX_UPLOADS]; int n_up;
    pending_fail_t fails[MAX_FAILS]; int n_fails;
    int  draining; long long drain_deadline;
    int  outbox_overflow;       /* entries left on disk because the upload list was full */
} wrk_t;

static volatile sig_atomic_t g_signals;
static void on_signal(int sig) { (void)sig; g_signals++; }

/* ---------------------------------------------------------------- small helpers */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const wrk_t *w, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    fprintf(stderr, "%02d:%02d:%02dZ farm-worker[%s]: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, w->c.name, line);
}

static int silent(const wrk_t *w) { return w->job && atomic_load(&w->job->silent); }

/* Sends m unless disconnected or silent. 0 sent, -1 not sent (EAGAIN: try again later). */
static int wsend(wrk_t *w, const proto_msg_t *m)
{
    char err[256];
    if (!w->sock || silent(w)) return -1;
    if (proto_send(w->sock, NULL, m, ZMQ_DONTWAIT, err, sizeof err) == 0) return 0;
    if (errno != EAGAIN) logf_(w, "send %s: %s", proto_type_name(m->type), err);
    return -1;
}

static uint64_t mem_mb(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz >> 20 : 0;
}

/* ---------------------------------------------------------------- messages out */

static void send_ready(wrk_t *w)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_READY);
    snprintf(m.worker_id, sizeof m.worker_id, "%s", w->c.name);
    snprintf(m.name, sizeof m.name, "%s", w->c.name);
    snprintf(m.engines, sizeof m.engines, "%s", w->engines_adv);
    m.n_gpus = (uint32_t)wrk_device_gpus();   /* the GPUs the dit engine uses (worker/device.h) */
    m.mem_mb = mem_mb();
    m.attempt_id = w->job && !w->job_cancelled ? w->job->assign.attempt_id : 0;
    wsend(w, &m);
    proto_msg_free(&m);
}

static void send_heartbeat(wrk_t *w)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_HEARTBEAT);
    m.attempt_id = w->job && !w->job_cancelled ? w->job->assign.attempt_id : 0;
    wsend(w, &m);
    proto_msg_free(&m);
}

static void send_fail(wrk_t *w, pending_fail_t *f)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_FAIL);
    m.attempt_id = f->attempt_id;
    m.fail_class = (uint8_t)f->fail_class;
    if (proto_msg_set_text(&m, f->reason) == 0 && wsend(w, &m) == 0) f->sent = 1;
    proto_msg_free(&m);
}

/* Records a FAIL (kept until farmd ACKs it, re-sent after reconnects) and sends it. */
static void fail_window(wrk_t *w, uint64_t attempt, int cls, const char *reason)
{
    logf_(w, "attempt %" PRIu64 ": FAIL (%s): %s", attempt, proto_fail_class_name(cls), reason);
    if (w->n_fails == MAX_FAILS) { memmove(w->fails, w->fails + 1, sizeof w->fails[0] * (MAX_FAILS - 1)); w->n_fails--; }
    pending_fail_t *f = &w->fails[w->n_fails++];
    memset(f, 0, sizeof *f);
    f->attempt_id = attempt;
    f->fail_class = cls;
    snprintf(f->reason, sizeof f->reason, "%s", reason);
    send_fail(w, f);
}

static void fails_drop(wrk_t *w, uint64_t attempt)
{
    for (int i = 0; i < w->n_fails; i++)
        if (w->fails[i].attempt_id == attempt) {
            memmove(&w->fails[i], &w->fails[i + 1], sizeof w->fails[0] * (size_t)(w->n_fails - i - 1));
            w->n_fails--; i--;
        }
}

/* ---------------------------------------------------------------- uploads */

static void uploads_restart(wrk_t *w)
{
    for (int i = 0; i < w->n_up; i++) { w->up[i].sent = 0; w->up[i].done_sent = 0; }
    for (int i = 0; i < w->n_fails; i++) w->fails[i].sent = 0;
}

static void upload_add(wrk_t *w, const wrk_outbox_entry_t *e)
{
    for (int i = 0; i < w->n_up; i++) if (w->up[i].e.attempt_id == e->attempt_id) return;
    if (w->n_up == MAX_UPLOADS) {
        if (!w->outbox_overflow) logf_(w, "outbox: more than %d results waiting; the rest wait on disk", MAX_UPLOADS);
        w->outbox_overflow = 1;
        return;
    }
    memset(&w->up[w->n_up], 0, sizeof w->up[0]);
    w->up[w->n_up++].e = *e;
}

static void upload_drop(wrk_t *w, uint64_t attempt, const char *why)
{
    char err[256];
    for (int i = 0; i < w->n_up; i++) {
        if (w->up[i].e.attempt_id != attempt) continue;
        if (wrk_outbox_remove(&w->ob, attempt, err, sizeof err) < 0) logf_(w, "%s", err);
        logf_(w, "attempt %" PRIu64 ": result %s, removed from the outbox", attempt, why);
        memmove(&w->up[i], &w->up[i + 1], sizeof w->up[0] * (size_t)(w->n_up - i - 1));
        w->n_up--;
        return;
    }
}

/* Sends the next chunk of u. 0 sent, -1 not now (retry later), -2 the file is unreadable. */
static int upload_chunk(wrk_t *w, upload_t *u, uint8_t *buf)
{
    uint64_t left = u->e.bytes - u->sent;
    size_t n = left < (uint64_t)w->c.chunk_bytes ? (size_t)left : (size_t)w->c.chunk_bytes;
    int fd = open(u->e.path, O_RDONLY);
    if (fd < 0) return -2;
    ssize_t got = pread(fd, buf, n, (off_t)u->sent);
    close(fd);
    if (got != (ssize_t)n) return -2;
    proto_msg_t m;
    proto_msg_init(&m, PROTO_RESULT);
    m.attempt_id = u->e.attempt_id;
    m.offset = u->sent;
    m.total_size = u->e.bytes;
    m.crc32c = proto_crc32c(0, buf, n);
    int rc = proto_msg_set_data(&m, buf, n) == 0 ? wsend(w, &m) : -1;
    proto_msg_free(&m);
    if (rc == 0) u->sent += n;
    return rc;
}

static int upload_done(wrk_t *w, upload_t *u)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_DONE);
    m.attempt_id = u->e.attempt_id;
    snprintf(m.manifest, sizeof m.manifest, "%s", u->e.manifest);
    int rc = proto_msg_set_text(&m, "") == 0 ? wsend(w, &m) : -1;   /* empty, never NULL, text */
    proto_msg_free(&m);
    if (rc == 0) { u->done_sent = 1; logf_(w, "attempt %" PRIu64 ": uploaded %" PRIu64 " bytes, DONE sent", u->e.attempt_id, u->e.bytes); }
    return rc;
}

/* Loads outbox entries that did not fit in the upload list once it has room again. */
static void uploads_refill(wrk_t *w)
{
    wrk_outbox_entry_t *es = NULL;
    int n = 0;
    char err[256];
    if (!w->outbox_overflow || w->n_up > MAX_UPLOADS / 2) return;
    w->outbox_overflow = 0;
    if (wrk_outbox_list(&w->ob, &es, &n, err, sizeof err) < 0) { logf_(w, "%s", err); return; }
    for (int i = 0; i < n; i++) upload_add(w, &es[i]);
    free(es);
}

static void uploads_pump(wrk_t *w)
{
    uploads_refill(w);
    static uint8_t *buf;
    int budget = SEND_BUDGET;
    if (!w->sock || silent(w)) return;
    if (!buf && !(buf = malloc(PROTO_CHUNK_MAX))) return;
    for (int i = 0; i < w->n_up && budget > 0; i++) {
        upload_t *u = &w->up[i];
        while (!u->done_sent && u->sent < u->e.bytes && budget-- > 0) {
            int rc = upload_chunk(w, u, buf);
            if (rc == -2) { upload_drop(w, u->e.attempt_id, "unreadable"); return; }
            if (rc < 0) return;
        }
        if (!u->done_sent && u->sent == u->e.bytes && upload_done(w, u) < 0) return;
    }
    for (int i = 0; i < w->n_fails; i++) if (!w->fails[i].sent) send_fail(w, &w->fails[i]);
}

/* ---------------------------------------------------------------- connection */

static void close_sock(wrk_t *w)
{
    if (w->mon) zmq_close(w->mon);
    if (w->sock) zmq_close(w->sock);
    w->mon = w->sock = NULL;
}

/* Handshake events: a success clears the problem; a problem is logged once, with the fix, until a
 * success (a refusal outranks a mismatch or a closed connection, which say the same). */
static void handshake_events(wrk_t *w)
{
    for (proto_hs_t h; w->mon && (h = proto_hs_read(w->mon)) != PROTO_HS_NONE;) {
        if (h == PROTO_HS_OK) { w->hs_ok = 1; w->hs_said = PROTO_HS_NONE; continue; }
        int rank = h == PROTO_HS_REFUSED ? 2 : 1, said = w->hs_said == PROTO_HS_REFUSED ? 2 : w->hs_said ? 1 : 0;
        if ((h == PROTO_HS_CLOSED && w->hs_ok) || rank <= said) continue;
        char why[512];
        proto_hs_explain(h, &w->curve, why, sizeof why);
        logf_(w, "%s", why);
        w->hs_said = h;
    }
}

static int connect_sock(wrk_t *w)
{
    int linger = 0, hwm = 10000;
    w->sock = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!w->sock) { logf_(w, "zmq_socket: %s", zmq_strerror(errno)); return -1; }
    zmq_setsockopt(w->sock, ZMQ_ROUTING_ID, w->c.name, strlen(w->c.name));
    zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(w->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    char err[256], name[64];
    snprintf(name, sizeof name, "worker-%d", ++w->conns);
    if (proto_curve_client_apply(&w->curve, w->sock, err, sizeof err) < 0) logf_(w, "%s", err);
    if (!(w->mon = proto_hs_monitor(w->ctx, w->sock, name, err, sizeof err))) logf_(w, "%s", err);
    w->hs_ok = 0;
    if (zmq_connect(w->sock, w->c.coordinator) < 0) {
        logf_(w, "connect %s: %s", w->c.coordinator, zmq_strerror(errno));
        close_sock(w);
        return -1;
    }
    w->last_rx = w->now;
    w->next_hb = w->now + w->hb_ms;
    uploads_restart(w);
    send_ready(w);
    return 0;
}

static void disconnect_sock(wrk_t *w, const char *why)
{
    if (!w->sock) return;
    logf_(w, "%s; reconnecting in %d ms", why, w->backoff_ms);
    handshake_events(w);
    close_sock(w);
    w->reconnect_at = w->now + w->backoff_ms;
    w->backoff_ms = w->backoff_ms * 2 > w->c.reconnect_max_ms ? w->c.reconnect_max_ms : w->backoff_ms * 2;
}

/* ---------------------------------------------------------------- messages in */

static int assign_check(const proto_msg_t *m, char *why, size_t n)
{
    if (!m->attempt_id) { snprintf(why, n, "ASSIGN without an attempt id"); return -1; }
    if (!proto_id_valid(m->shot)) { snprintf(why, n, "ASSIGN with a bad shot name"); return -1; }
    if (m->n_frames < 1 || m->n_frames > 100000 || m->first_frame > 100000) {
        snprintf(why, n, "ASSIGN with a bad frame range %u+%u", m->first_frame, m->n_frames); return -1;
    }
    if (m->width < 1 || m->width > 8192 || m->height < 1 || m->height > 8192) {
        snprintf(why, n, "ASSIGN with a bad size %ux%u", m->width, m->height); return -1;
    }
    return 0;
}

/* The window's frames must fit in half of this machine's memory (they are held, then written). */
static int assign_fits(const proto_msg_t *m, char *why, size_t n)
{
    uint64_t need_mb = ((uint64_t)m->width * m->height * 8u * m->n_frames >> 20) + 1, have = mem_mb();
    if (!have || need_mb <= have / 2) return 0;
    snprintf(why, n, "window needs %" PRIu64 " MB of frames, this worker has %" PRIu64 " MB", need_mb, have);
    return -1;
}

static void on_assign(wrk_t *w, const proto_msg_t *m)
{
    char why[512];
    const wrk_engine_t *e = wrk_engine_find(m->engine);
    if (w->job && w->job->assign.attempt_id == m->attempt_id) return;     /* a repeat: already on it */
    for (int i = 0; i < w->n_up; i++) if (w->up[i].e.attempt_id == m->attempt_id) return;   /* done, uploading */
    if (w->job) { fail_window(w, m->attempt_id, PROTO_FAIL_INFRA, "worker is busy with another window"); return; }
    if (w->draining) { fail_window(w, m->attempt_id, PROTO_FAIL_INFRA, "worker is draining (shutting down)"); return; }
    if (assign_check(m, why, sizeof why) < 0) { fail_window(w, m->attempt_id, PROTO_FAIL_WINDOW, why); return; }
    if (assign_fits(m, why, sizeof why) < 0) { fail_window(w, m->attempt_id, PROTO_FAIL_RESOURCE, why); return; }
    if (!e) { snprintf(why, sizeof why, "unknown engine '%.40s'", m->engine); fail_window(w, m->attempt_id, PROTO_FAIL_MODEL, why); return; }
    if (e->unavailable) { fail_window(w, m->attempt_id, PROTO_FAIL_MODEL, e->unavailable); return; }
    wrk_job_t *j = calloc(1, sizeof *j);
    if (!j || wrk_job_start(j, m, e, &w->c.tc, &w->ob, why, sizeof why) < 0) {
        free(j);
        fail_window(w, m->attempt_id, PROTO_FAIL_RESOURCE, j ? why : "out of memory");
        return;
    }
    w->job = j;
    w->job_cancelled = 0;
    w->progress_sent = -1;
    logf_(w, "attempt %" PRIu64 ": %s window %u of shot %s, frames %u+%u, %ux%u%s", m->attempt_id, m->engine,
          m->window_index, m->shot, m->first_frame, m->n_frames, m->width, m->height,
          strcmp(m->role, "anchor") ? "" : " (anchor stage)");
    if (m->data_len) logf_(w, "attempt %" PRIu64 ": conditioning blob of %zu bytes (%s strategy)", m->attempt_id,
                           m->data_len, m->strategy);
}

static void on_cancel(wrk_t *w, const proto_msg_t *m)
{
    if (w->job && w->job->assign.attempt_id == m->attempt_id) {
        atomic_store(&w->job->cancel, 1);
        w->job_cancelled = 1;
        logf_(w, "attempt %" PRIu64 ": cancelled by farmd", m->attempt_id);
    }
    upload_drop(w, m->attempt_id, "cancelled");
    fails_drop(w, m->attempt_id);
}

static void on_ack(wrk_t *w, const proto_msg_t *m)
{
    if (!strcmp(m->what, "result")) upload_drop(w, m->attempt_id, "acknowledged");
    else if (!strcmp(m->what, "refused")) { upload_drop(w, m->attempt_id, "refused (stale attempt)"); fails_drop(w, m->attempt_id); }
    else if (!strcmp(m->what, "fail")) fails_drop(w, m->attempt_id);
    else if (!strcmp(m->what, "resend")) {
        for (int i = 0; i < w->n_up; i++)
            if (w->up[i].e.attempt_id == m->attempt_id) { w->up[i].sent = 0; w->up[i].done_sent = 0; }
        logf_(w, "attempt %" PRIu64 ": farmd asks for the result again", m->attempt_id);
    } else logf_(w, "ACK with unknown what='%s' ignored", m->what);
}

static void on_message(wrk_t *w, const proto_msg_t *m)
{
    switch (m->type) {
    case PROTO_HEARTBEAT:
        if (m->heartbeat_ms >= 10 && m->heartbeat_ms <= 600000 && (int)m->heartbeat_ms != w->hb_ms) {
            w->hb_ms = (int)m->heartbeat_ms;            /* farmd's interval wins; reschedule now */
            if (w->next_hb > w->now + w->hb_ms) w->next_hb = w->now + w->hb_ms;
        }
        if (m->flags & PROTO_HB_UNKNOWN) { logf_(w, "farmd does not know us: READY again"); uploads_restart(w); send_ready(w); }
        break;
    case PROTO_ASSIGN: on_assign(w, m); break;
    case PROTO_CANCEL: on_cancel(w, m); break;
    case PROTO_ACK:    on_ack(w, m); break;
    default: logf_(w, "unexpected %s from farmd ignored", proto_type_name(m->type));
    }
}

static void receive_all(wrk_t *w)
{
    for (int k = 0; w->sock && k < 1000; k++) {
        proto_msg_t m;
        char err[256];
        int rc = proto_recv(w->sock, NULL, &m, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == -1) { proto_msg_free(&m); break; }
        w->last_rx = w->now;
        w->backoff_ms = w->c.reconnect_ms;
        if (rc == -2) logf_(w, "malformed message from farmd dropped: %s", err);
        else on_message(w, &m);
        proto_msg_free(&m);
    }
}

/* ---------------------------------------------------------------- the job */

/* One PROGRESS for every frame/step finished since the last one sent (none skipped, so farmd and the
 * attempt log see each), or one with note (it goes to the attempt log) even when nothing moved. */
static void job_progress(wrk_t *w, const char *note)
{
    int done = atomic_load(&w->job->done), total = atomic_load(&w->job->total);
    if (w->job_cancelled || (done == w->progress_sent && !note)) return;
    int from = w->progress_sent < 0 || w->progress_sent >= done ? done : w->progress_sent + 1;
    for (int d = from; d <= done; d++) {
        proto_msg_t m;
        proto_msg_init(&m, PROTO_PROGRESS);
        m.attempt_id = w->job->assign.attempt_id;
        m.done = (uint32_t)d;
        m.total = (uint32_t)total;
        int rc = proto_msg_set_text(&m, d == done && note ? note : "") == 0 ? wsend(w, &m) : -1;
        proto_msg_free(&m);
        if (rc < 0) return;
        w->progress_sent = d;
    }
}

/* Joins a finished job and turns its outcome into an upload or a FAIL. */
static void job_reap(wrk_t *w, int handback)
{
    wrk_job_t *j = w->job;
    wrk_job_join(j);
    uint64_t a = j->assign.attempt_id;
    if (w->job_cancelled) {
        if (j->rc == WRK_RENDER_OK) { char err[256]; wrk_outbox_remove(&w->ob, a, err, sizeof err); }
    } else if (j->rc == WRK_RENDER_OK) {
        char note[160];
        snprintf(note, sizeof note, "worker %s: %s rendered %u frames %ux%u in %lld ms", w->c.name,
                 j->engine->name, j->assign.n_frames, j->assign.width, j->assign.height, j->render_ms);
        logf_(w, "attempt %" PRIu64 ": %s", a, note);
        job_progress(w, note);
        upload_add(w, &j->entry);
    } else if (j->rc == WRK_RENDER_FAILED) fail_window(w, a, j->fail_class, j->err);
    else if (handback && !atomic_load(&j->silent)) fail_window(w, a, PROTO_FAIL_INFRA, "worker is shutting down: window handed back");
    free(j);
    w->job = NULL;
}

static void job_stop(wrk_t *w)
{
    if (!w->job) return;
    atomic_store(&w->job->cancel, 1);
    job_reap(w, 1);
}

/* ---------------------------------------------------------------- loop */

static int conf_defaults(wrk_conf_t *c, char *err, size_t errlen)
{
    const char *ep = getenv("FARM_COORDINATOR"), *home = getenv("FARM_HOME");
    if (!c->coordinator[0]) snprintf(c->coordinator, sizeof c->coordinator, "%s", ep && *ep ? ep : "tcp://127.0.0.1:7600");
    snprintf(c->home, sizeof c->home, "%s", home && *home ? home : "./farm-home");
    if (!c->name[0]) {
        char host[64] = "worker";
        gethostname(host, sizeof host - 1);
        host[strcspn(host, ".")] = 0;
        snprintf(c->name, sizeof c->name, "%.40s-%d", host, (int)getpid());
    }
    if (!proto_id_valid(c->name)) { snprintf(err, errlen, "--name '%s' is not allowed: [A-Za-z0-9._:-], at most 64", c->name); return -1; }
    if (!c->outbox[0] && (size_t)snprintf(c->outbox, sizeof c->outbox, "%s/outbox-%s", c->home, c->name) >= sizeof c->outbox) {
        snprintf(err, errlen, "FARM_HOME is too long"); return -1;
    }
    if (c->reconnect_max_ms < c->reconnect_ms) c->reconnect_max_ms = c->reconnect_ms;
    const char *ck = getenv("FARM_CURVE_KEY"), *cs = getenv("FARM_CURVE_SERVER");
    if (!c->curve_key[0] && ck) snprintf(c->curve_key, sizeof c->curve_key, "%s", ck);
    if (!c->curve_server[0] && cs) snprintf(c->curve_server, sizeof c->curve_server, "%s", cs);
    return 0;
}

/* Drain and exit decisions; returns 1 when the loop should end. */
static int handle_signals(wrk_t *w)
{
    int sigs = g_signals;
    if (sigs == 0) return 0;
    if (!w->draining) {
        w->draining = 1;
        w->drain_deadline = w->now + w->c.drain_timeout_ms;
        logf_(w, "draining: finishing the current window, then exiting");
    }
    if (sigs >= 2 || silent(w) || w->now >= w->drain_deadline) { job_stop(w); return 1; }
    return !w->job && w->n_up == 0 && w->n_fails == 0;
}

static void loop_turn(wrk_t *w)
{
    if (!w->sock && w->now >= w->reconnect_at) connect_sock(w);
    if (w->sock) {
        zmq_pollitem_t it[2] = { { w->sock, 0, ZMQ_POLLIN, 0 }, { w->mon, 0, ZMQ_POLLIN, 0 } };
        zmq_poll(it, w->mon ? 2 : 1, w->n_up ? 5 : 50);
        w->now = mono_ms();
        handshake_events(w);
        receive_all(w);
    } else usleep(20000);
    if (w->job && atomic_load(&w->job->finished)) job_reap(w, 0);
    if (w->job) job_progress(w, NULL);
    uploads_pump(w);
    if (w->sock && w->now >= w->next_hb) { send_heartbeat(w); w->next_hb = w->now + w->hb_ms; }
    if (w->sock && !silent(w) && w->now - w->last_rx > (long long)w->hb_ms * w->c.liveness)
        disconnect_sock(w, "farmd is silent");
}

/* Every name in --engines must be an engine of the table that works in this build. */
static int engines_check(const char *list, char *err, size_t errlen)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const wrk_engine_t *e = wrk_engine_find(t);
        if (!e) { snprintf(err, errlen, "--engines: unknown engine '%.40s' (testcard, dit)", t); return -1; }
        if (e->unavailable) { snprintf(err, errlen, "--engines: %s", e->unavailable); return -1; }
    }
    return 0;
}

static int worker_init(wrk_t *w, char *err, size_t errlen)
{
    wrk_outbox_entry_t *es = NULL;
    int n = 0;
    if (engines_check(w->c.engines, err, errlen) < 0) return -1;       /* before touching the disk */
    if (wrk_outbox_open(&w->ob, w->c.outbox, 1, err, errlen) < 0) return -1;
    if (wrk_outbox_list(&w->ob, &es, &n, err, errlen) < 0) return -1;
    for (int i = 0; i < n; i++) upload_add(w, &es[i]);
    free(es);
    wrk_engines_usable(w->c.engines, w->engines_adv, sizeof w->engines_adv);
    if (!w->engines_adv[0]) { snprintf(err, errlen, "no usable engine to advertise (--engines '%s')", w->c.engines); return -1; }
    w->ctx = zmq_ctx_new();
    if (!w->ctx) { snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno)); return -1; }
    w->hb_ms = w->c.heartbeat_ms;
    w->backoff_ms = w->c.reconnect_ms;
    w->now = mono_ms();
    logf_(w, "coordinator %s%s, engines %s, outbox %s (%d result%s waiting)", w->c.coordinator,
          w->curve.on ? " (CURVE)" : "", w->engines_adv, w->c.outbox, n, n == 1 ? "" : "s");
    return 0;
}

static void worker_fini(wrk_t *w)
{
    if (w->sock) {
        int linger = 2000;
        zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    close_sock(w);
    memset(&w->curve, 0, sizeof w->curve);
    if (w->ctx) zmq_ctx_term(w->ctx);
}

int wrk_cmd_run(int argc, char **argv)
{
    static wrk_t w;
    char err[512];
    int help = 0, npos = 0;
    char *pos[1];
    w.c = (wrk_conf_t){ .heartbeat_ms = 1000, .liveness = 3, .reconnect_ms = 100, .reconnect_max_ms = 5000,
                        .chunk_bytes = PROTO_CHUNK_DEFAULT, .drain_timeout_ms = 300000 };
    if (wrk_opts_parse(RUN_OPTS, N_RUN_OPTS, &w.c, argc, argv, pos, 0, &npos, &help, err, sizeof err) < 0) {
        fprintf(stderr, "farm-worker: %s\n", err);
        return 2;
    }
    if (help) {
        wrk_opts_help(stdout, "usage: farm-worker [run] [OPTIONS]\n\nConnects to farmd and renders assigned windows.",
                      RUN_OPTS, N_RUN_OPTS);
        return (fflush(stdout) != 0 || ferror(stdout)) ? 1 : 0;
    }
    if (conf_defaults(&w.c, err, sizeof err) < 0 ||
        proto_curve_client_load(&w.curve, w.c.curve_key, w.c.curve_server, w.c.home, err, sizeof err) < 0) {
        fprintf(stderr, "farm-worker: %s\n", err);
        return 2;
    }
    char dev_line[256], gpus[1024];
    if (wrk_device_choose(w.c.device, dev_line, sizeof dev_line, err, sizeof err) < 0) {
        fprintf(stderr, "farm-worker: %s\n", err);
        return 2;
    }
    wrk_device_describe(gpus, sizeof gpus);
    logf_(&w, "%s%s%s", dev_line, gpus[0] ? "; " : "", gpus);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (worker_init(&w, err, sizeof err) < 0) { logf_(&w, "%s", err); worker_fini(&w); return 1; }
    for (;;) {
        w.now = mono_ms();
        if (handle_signals(&w)) break;
        loop_turn(&w);
    }
    logf_(&w, "exiting (%d result%s left in the outbox)", w.n_up, w.n_up == 1 ? "" : "s");
    worker_fini(&w);
    return 0;
}
