/* client.c — the farm CLI's request/reply to farmd over a ZeroMQ DEALER: one request, one reply
 * of the expected type, bounded by --timeout-ms; a silent farmd is OPS_EXIT_UNREACHABLE. */
#include "ops/cli.h"
#include "proto/curve.h"
#include "proto/wire.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A handshake that went wrong: the exit code and why; 0 when nothing is wrong (yet). */
static int handshake_problem(const ops_ctx_t *c, void *mon, int *hs_ok, char *err, size_t errlen)
{
    for (proto_hs_t h; mon && (h = proto_hs_read(mon)) != PROTO_HS_NONE;) {
        if (h == PROTO_HS_OK) { *hs_ok = 1; continue; }
        if (h == PROTO_HS_CLOSED && *hs_ok) continue;
        char why[512];
        proto_hs_explain(h, &c->curve, why, sizeof why);
        snprintf(err, errlen, "farmd at %s: %s", c->coordinator, why);
        return h == PROTO_HS_REFUSED ? OPS_EXIT_REFUSED : OPS_EXIT_UNREACHABLE;
    }
    return 0;
}

/* Waits for a reply of type want; skips anything else. 0 ok, else an exit code. */
static int await_reply(const ops_ctx_t *c, void *s, void *mon, int want, proto_msg_t *rep, char *err, size_t errlen)
{
    long long deadline = mono_ms() + c->timeout_ms;
    int hs_ok = 0, bad;
    for (;;) {
        long long left = deadline - mono_ms();
        zmq_pollitem_t it[2] = { { s, 0, ZMQ_POLLIN, 0 }, { mon, 0, ZMQ_POLLIN, 0 } };
        int n = left > 0 ? zmq_poll(it, mon ? 2 : 1, (long)left) : 0;
        if ((bad = handshake_problem(c, mon, &hs_ok, err, errlen))) return bad;
        if (n > 0 && !(it[0].revents & ZMQ_POLLIN)) continue;
        if (left <= 0 || n <= 0) {
            if (left > 0 && errno == EINTR) continue;
            snprintf(err, errlen, "farmd at %s did not answer within %d ms (is it running?%s)", c->coordinator,
                     c->timeout_ms, c->curve.on ? " does it run with CURVE?" : "");
            return OPS_EXIT_UNREACHABLE;
        }
        int rc = proto_recv(s, NULL, rep, ZMQ_DONTWAIT, err, errlen);
        if (rc == 0 && rep->type == want) return 0;
        if (rc == -2) { proto_msg_free(rep); return OPS_EXIT_ERROR; }
        proto_msg_free(rep);
    }
}

int ops_request(ops_ctx_t *c, const proto_msg_t *req, int want, proto_msg_t *rep,
                char *err, size_t errlen)
{
    int rc = OPS_EXIT_ERROR, linger = 0;
    void *ctx = NULL, *s = NULL, *mon = NULL;
    proto_msg_init(rep, want);
    if (!c->curve_loaded) {                   /* the keys are read once per command */
        if (proto_curve_client_load(&c->curve, c->curve_key, c->curve_server, NULL, err, errlen) < 0) return OPS_EXIT_USAGE;
        c->curve_loaded = 1;
    }
    ctx = zmq_ctx_new();
    s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (!s) { snprintf(err, errlen, "zmq: %s", zmq_strerror(errno)); goto out; }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (proto_curve_client_apply(&c->curve, s, err, errlen) < 0) goto out;
    mon = proto_hs_monitor(ctx, s, "farm", err, errlen);     /* without it: only the timeout says */
    if (zmq_connect(s, c->coordinator) < 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s", c->coordinator, zmq_strerror(errno));
        rc = OPS_EXIT_USAGE;
        goto out;
    }
    if (proto_send(s, NULL, req, 0, err, errlen) < 0) goto out;
    rc = await_reply(c, s, mon, want, rep, err, errlen);
out:
    if (mon) zmq_close(mon);
    if (s) zmq_close(s);
    if (ctx) zmq_ctx_term(ctx);
    return rc;
}

int ops_query(ops_ctx_t *c, const char *kind, uint64_t job, uint64_t since, const char *args,
              proto_json_t **out, char *err, size_t errlen)
{
    proto_msg_t q, r;
    *out = NULL;
    proto_msg_init(&q, PROTO_QUERY);
    snprintf(q.kind, sizeof q.kind, "%s", kind);
    q.job_id = job;
    q.since = since;
    snprintf(q.args, sizeof q.args, "%s", args ? args : "");
    int rc = ops_request(c, &q, PROTO_QUERY_REPLY, &r, err, errlen);
    proto_msg_free(&q);
    if (rc) return rc;
    const char *text = r.text ? r.text : "";
    if (r.status != 0) {
        snprintf(err, errlen, "farmd: %s", *text ? text : "error");
        rc = OPS_EXIT_REFUSED;
    } else if (proto_json_parse(text, strlen(text), NULL, out, NULL, err, errlen) < 0) {
        rc = OPS_EXIT_ERROR;
    }
    proto_msg_free(&r);
    return rc;
}
