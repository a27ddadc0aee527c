/* test_proto_codec.c — round-trips every message type of the proto table with every field filled,
 * then feeds truncated, bit-flipped, random and over-limit input to the decoder (must answer -2 or 0,
 * never crash or read out of bounds: run under `make asan` to prove the latter). Also checks wire
 * framing over a real inproc DEALER/ROUTER pair. */
#include "tests/test.h"
#include "proto/proto.h"
#include "proto/wire.h"
#include <stdint.h>
#include <zmq.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* Fills every field of the message's table row with a value derived from the seed. */
static void fill(proto_msg_t *m, int type)
{
    const proto_mdef_t *d = proto_mdef(type);
    proto_msg_init(m, type);
    for (int i = 0; d->fields[i] >= 0; i++) {
        const proto_field_t *f = &PROTO_FIELDS[d->fields[i]];
        char *base = (char *)m + f->offset;
        switch (f->kind) {
        case PROTO_F_U8:  *(uint8_t *)base = (uint8_t)(rnd() % (f->max + 1)); break;
        case PROTO_F_U32: *(uint32_t *)base = (uint32_t)rnd(); break;
        case PROTO_F_I32: *(int32_t *)base = -(int32_t)(rnd() % 1000); break;
        case PROTO_F_U64: *(uint64_t *)base = rnd(); break;
        case PROTO_F_F64: *(double *)base = (double)(rnd() % 100000) / 7.0; break;
        case PROTO_F_ID:  snprintf(base, f->max + 1, "id-%u.x", (unsigned)(rnd() % 1000)); break;
        case PROTO_F_STR: memset(base, 'a' + (int)(rnd() % 26), f->max); base[f->max] = 0; break;
        case PROTO_F_TEXT: proto_msg_set_text(m, "h\xc3\xa9llo \"text\"\n"); break;
        case PROTO_F_BYTES: { uint8_t b[300]; for (int k = 0; k < 300; k++) b[k] = (uint8_t)rnd();
                              proto_msg_set_data(m, b, sizeof b); break; }
        }
    }
}

static int same(const proto_msg_t *a, const proto_msg_t *b)
{
    const proto_mdef_t *d = proto_mdef(a->type);
    if (a->type != b->type) return 0;
    for (int i = 0; d->fields[i] >= 0; i++) {
        const proto_field_t *f = &PROTO_FIELDS[d->fields[i]];
        const char *x = (const char *)a + f->offset, *y = (const char *)b + f->offset;
        int ok;
        switch (f->kind) {
        case PROTO_F_U8: ok = *x == *y; break;
        case PROTO_F_U32: case PROTO_F_I32: ok = memcmp(x, y, 4) == 0; break;
        case PROTO_F_U64: case PROTO_F_F64: ok = memcmp(x, y, 8) == 0; break;
        case PROTO_F_TEXT: ok = strcmp(a->text ? a->text : "", b->text ? b->text : "") == 0; break;
        case PROTO_F_BYTES: ok = a->data_len == b->data_len && memcmp(a->data, b->data, a->data_len) == 0; break;
        default: ok = strcmp(x, y) == 0;
        }
        if (!ok) { fprintf(stderr, "  %s.%s differs\n", d->name, f->name); return 0; }
    }
    return 1;
}

static void test_roundtrip_every_type(void)
{
    for (int i = 0; i < PROTO_N_MESSAGES; i++) {
        proto_msg_t m, back; uint8_t hdr[PROTO_HEADER_BYTES], *body; size_t n; char err[256];
        fill(&m, PROTO_MESSAGES[i].type);
        CHECKF(proto_encode(&m, hdr, &body, &n, err, sizeof err) == 0, "%s: %s", PROTO_MESSAGES[i].name, err);
        CHECKF(proto_decode(hdr, sizeof hdr, body, n, &back, err, sizeof err) == 0, "%s: %s", PROTO_MESSAGES[i].name, err);
        CHECK(same(&m, &back));
        CHECK_EQ_INT(back.version, PROTO_VERSION);
        CHECK_STR(proto_type_name(back.type), PROTO_MESSAGES[i].name);
        CHECK_EQ_INT(proto_type_from_name(PROTO_MESSAGES[i].name), PROTO_MESSAGES[i].type);
        /* every strict prefix of the body is malformed */
        int bad = 0;
        for (size_t k = 0; k < n; k++) {
            proto_msg_t t;
            if (n > 0 && proto_decode(hdr, sizeof hdr, body, k, &t, err, sizeof err) != -2) bad++;
            proto_msg_free(&t);
        }
        CHECKF(bad == 0, "%s: %d truncations accepted", PROTO_MESSAGES[i].name, bad);
        /* one trailing byte is malformed */
        proto_msg_free(&back);
        uint8_t *longer = malloc(n + 1); memcpy(longer, body, n); longer[n] = 0;
        CHECK(proto_decode(hdr, sizeof hdr, longer, n + 1, &back, err, sizeof err) == -2);
        free(longer); proto_msg_free(&back); free(body); proto_msg_free(&m);
    }
}

static void test_header_errors(void)
{
    proto_msg_t m; uint8_t hdr[PROTO_HEADER_BYTES] = { 'F', 'M', 0, PROTO_VERSION, PROTO_HEARTBEAT, 0 };
    uint8_t body[16] = {0}; char err[256];
    CHECK(proto_decode(hdr, sizeof hdr, body, 16, &m, err, sizeof err) == 0);
    proto_msg_free(&m);
    uint8_t h2[PROTO_HEADER_BYTES];
    memcpy(h2, hdr, sizeof h2); h2[0] = 'X';
    CHECK(proto_decode(h2, sizeof h2, body, 16, &m, err, sizeof err) == -2);
    memcpy(h2, hdr, sizeof h2); h2[3] = PROTO_VERSION + 1;
    CHECK(proto_decode(h2, sizeof h2, body, 16, &m, err, sizeof err) == -2);
    CHECK(strstr(err, "version") != NULL);
    memcpy(h2, hdr, sizeof h2); h2[4] = 99;
    CHECK(proto_decode(h2, sizeof h2, body, 16, &m, err, sizeof err) == -2);
    CHECK(proto_decode(hdr, 5, body, 16, &m, err, sizeof err) == -2);
    CHECK(proto_decode(NULL, 0, NULL, 0, &m, err, sizeof err) == -2);
    proto_msg_free(&m);
}

static void test_limits(void)
{
    proto_msg_t m; uint8_t hdr[PROTO_HEADER_BYTES], *body; size_t n; char err[256];
    proto_msg_init(&m, PROTO_READY);
    snprintf(m.worker_id, sizeof m.worker_id, "../etc");
    CHECK(proto_encode(&m, hdr, &body, &n, err, sizeof err) == -1);
    snprintf(m.worker_id, sizeof m.worker_id, "w1");
    CHECK(proto_encode(&m, hdr, &body, &n, err, sizeof err) == 0);
    /* patch worker_id on the wire to "../" : decoder must refuse */
    body[2] = '.'; body[3] = '.';
    proto_msg_t back;
    CHECK(proto_decode(hdr, sizeof hdr, body, n, &back, err, sizeof err) == -2);
    proto_msg_free(&back); free(body);
    /* over-long string length on the wire */
    uint8_t evil[8] = { 0xff, 0xff, 'a', 'b' };
    CHECK(proto_decode(hdr, sizeof hdr, evil, sizeof evil, &back, err, sizeof err) == -2);
    proto_msg_free(&back);
    /* FAIL class out of range */
    proto_msg_init(&m, PROTO_FAIL); m.fail_class = 2;
    CHECK(proto_encode(&m, hdr, &body, &n, err, sizeof err) == 0);
    body[8] = 9;
    CHECK(proto_decode(hdr, sizeof hdr, body, n, &back, err, sizeof err) == -2);
    proto_msg_free(&back); free(body);
    /* data over the chunk limit cannot be set */
    CHECK(proto_msg_set_data(&m, "x", (size_t)PROTO_CHUNK_MAX + 1) == -1);
    proto_msg_free(&m);
    CHECK(proto_id_valid("shot_01.a-b") && !proto_id_valid("") && !proto_id_valid("a..b") &&
          !proto_id_valid("-x") && !proto_id_valid("a/b"));
    CHECK(proto_fail_class_from_name("infra") == PROTO_FAIL_INFRA && proto_fail_class_from_name("x") == -1);
}

static void test_fuzz(void)
{
    int bad_rc = 0;
    for (int it = 0; it < 20000; it++) {
        proto_msg_t m, back; uint8_t hdr[PROTO_HEADER_BYTES], *body; size_t n; char err[256];
        fill(&m, PROTO_MESSAGES[rnd() % PROTO_N_MESSAGES].type);
        if (proto_encode(&m, hdr, &body, &n, err, sizeof err) != 0) { bad_rc++; proto_msg_free(&m); continue; }
        int flips = 1 + (int)(rnd() % 4);
        for (int k = 0; k < flips && n; k++) body[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        if (rnd() % 8 == 0) hdr[rnd() % PROTO_HEADER_BYTES] ^= (uint8_t)rnd();
        int rc = proto_decode(hdr, sizeof hdr, body, n - (rnd() % 3 == 0 && n ? rnd() % n : 0), &back, err, sizeof err);
        if (rc != 0 && rc != -2) bad_rc++;
        proto_msg_free(&back); proto_msg_free(&m); free(body);
    }
    for (int it = 0; it < 20000; it++) {   /* pure garbage with a valid header */
        uint8_t hdr[PROTO_HEADER_BYTES] = { 'F', 'M', 0, PROTO_VERSION, 0, 0 }, g[64];
        hdr[4] = (uint8_t)PROTO_MESSAGES[rnd() % PROTO_N_MESSAGES].type;
        size_t n = rnd() % sizeof g;
        for (size_t k = 0; k < n; k++) g[k] = (uint8_t)rnd();
        proto_msg_t back; char err[256];
        int rc = proto_decode(hdr, sizeof hdr, g, n, &back, err, sizeof err);
        if (rc != 0 && rc != -2) bad_rc++;
        proto_msg_free(&back);
    }
    CHECK_EQ_INT(bad_rc, 0);
}

static void test_wire(void)
{
    void *ctx = zmq_ctx_new(), *r = zmq_socket(ctx, ZMQ_ROUTER), *d = zmq_socket(ctx, ZMQ_DEALER);
    CHECK(zmq_setsockopt(d, ZMQ_ROUTING_ID, "w7", 2) == 0);
    CHECK(zmq_bind(r, "inproc://t") == 0 && zmq_connect(d, "inproc://t") == 0);
    proto_msg_t m, got; proto_env_t env; char err[256];
    proto_msg_init(&m, PROTO_PROGRESS); m.attempt_id = 42; m.done = 3; m.total = 9;
    proto_msg_set_text(&m, "step 3");
    CHECK(proto_send(d, NULL, &m, 0, err, sizeof err) == 0);
    CHECK(proto_recv(r, &env, &got, 0, err, sizeof err) == 0);
    CHECK(env.rid_len == 2 && memcmp(env.rid, "w7", 2) == 0 && !env.delim);
    CHECK(same(&m, &got));
    proto_msg_free(&got); proto_msg_free(&m);
    proto_msg_init(&m, PROTO_ACK); m.attempt_id = 42; snprintf(m.what, sizeof m.what, "result");
    CHECK(proto_send(r, &env, &m, 0, err, sizeof err) == 0);
    CHECK(proto_recv(d, NULL, &got, 0, err, sizeof err) == 0);
    CHECK(same(&m, &got));
    proto_msg_free(&got);
    /* a garbage multipart message is consumed and reported as malformed */
    zmq_send(d, "abc", 3, ZMQ_SNDMORE); zmq_send(d, "d", 1, ZMQ_SNDMORE); zmq_send(d, "e", 1, 0);
    CHECK(proto_recv(r, &env, &got, 0, err, sizeof err) == -2);
    proto_msg_free(&got);
    CHECK(proto_recv(r, &env, &got, ZMQ_DONTWAIT, err, sizeof err) == -1);
    /* a REQ client: the router side sees the empty delimiter and echoes it back */
    void *q = zmq_socket(ctx, ZMQ_REQ);
    CHECK(zmq_connect(q, "inproc://t") == 0);
    proto_msg_init(&m, PROTO_QUERY); snprintf(m.kind, sizeof m.kind, "jobs");
    CHECK(proto_send(q, NULL, &m, 0, err, sizeof err) == 0);
    CHECK(proto_recv(r, &env, &got, 0, err, sizeof err) == 0 && env.delim == 1 && got.type == PROTO_QUERY);
    proto_msg_free(&got);
    proto_msg_init(&m, PROTO_QUERY_REPLY); proto_msg_set_text(&m, "{}");
    CHECK(proto_send(r, &env, &m, 0, err, sizeof err) == 0);
    proto_msg_free(&m);
    CHECK(proto_recv(q, NULL, &got, 0, err, sizeof err) == 0 && got.type == PROTO_QUERY_REPLY && !strcmp(got.text, "{}"));
    proto_msg_free(&got);
    zmq_close(q);
    zmq_close(d); zmq_close(r); zmq_ctx_term(ctx);
}

int main(void)
{
    T_RUN(test_roundtrip_every_type);
    T_RUN(test_header_errors);
    T_RUN(test_limits);
    T_RUN(test_fuzz);
    T_RUN(test_wire);
    T_DONE();
}
