/* client.c — the farm CLI's request/reply to farmd over a ZeroMQ DEALER: one request, one reply
 * of the expected type, bounded by --timeout-ms; a silent farmd is OPS_EXIT_UNREACHABLE. */
#include "ops/cli.h"
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

/* Waits for a reply of type want; skips anything else. 0 ok, else an exit code. */
static int await_reply(const ops_ctx_t *c, void *s, int want, proto_msg_t *rep, char *err, size_t errlen)
{
    long long deadline = mono_ms() + c->timeout_ms;
    for (;;) {
        long long left = deadline - mono_ms();
        zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
        if (left <= 0 || zmq_poll(&it, 1, (long)left) <= 0) {
            if (left > 0 && errno == EINTR) continue;
            snprintf(err, errlen, "farmd at %s did not answer within %d ms (is it running?)", c->coordinator, c->timeout_ms);
            return OPS_EXIT_UNREACHABLE;
        }
        int rc = proto_recv(s, NULL, rep, ZMQ_DONTWAIT, err, errlen);
        if (rc == 0 && rep->type == want) return 0;
        if (rc == -2) { proto_msg_free(rep); return OPS_EXIT_ERROR; }
        proto_msg_free(rep);
    }
}

int ops_request(const ops_ctx_t *c, const proto_msg_t *req, int want, proto_msg_t *rep,
                char *err, size_t errlen)
{
    int rc = OPS_EXIT_ERROR, linger = 0;
    void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    proto_msg_init(rep, want);
    if (!s) { snprintf(err, errlen, "zmq: %s", zmq_strerror(errno)); goto out; }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, c->coordinator) < 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s", c->coordinator, zmq_strerror(errno));
        rc = OPS_EXIT_USAGE;
        goto out;
    }
    if (proto_send(s, NULL, req, 0, err, errlen) < 0) goto out;
    rc = await_reply(c, s, want, rep, err, errlen);
out:
    if (s) zmq_close(s);
    if (ctx) zmq_ctx_term(ctx);
    return rc;
}

int ops_query(const ops_ctx_t *c, const char *kind, uint64_t job, uint64_t since, const char *args,
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
