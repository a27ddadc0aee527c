/* test_coord_fencing.c — farmd's protocol behaviour, message by message: farmd runs in a thread of
 * this program (ipc:// endpoint, temporary FARM_HOME) and the test plays a client and two workers
 * on DEALER sockets. Checks: ASSIGN after READY; a corrupt chunk (CRC) gets ACK "resend"; a worker
 * silent past its lease loses the window to another worker with a new attempt id; the stale
 * worker's RESULT/DONE/PROGRESS are refused (ACK "refused", events); a valid upload is verified,
 * committed and ACKed "result"; a repeated DONE is answered again without a second record; a
 * malformed message does not hurt farmd; the job completes through assembly. */
#include "tests/test.h"
#include "coordinator/farmd.h"
#include "proto/artifact.h"
#include "proto/checksum.h"
#include <pthread.h>
#include <unistd.h>
#include <zmq.h>

static char home[64], ep[128], err[1024];
static volatile sig_atomic_t stop_flag;
static coord_config_t cfg;
static void *zctx;

static void *farmd_thread(void *p)
{
    (void)p;
    char e[512];
    if (coord_farmd_run(&cfg, &stop_flag, e, sizeof e) != 0) fprintf(stderr, "farmd: %s\n", e);
    return NULL;
}

static void *dealer(const char *id)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (id) zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
    zmq_connect(s, ep);
    return s;
}

/* Receives until a message of `type` arrives (others are skipped) or timeout; 0 ok. */
static int expect(void *s, int type, proto_msg_t *m, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; ) {
        zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 50) > 0) {
            if (proto_recv(s, NULL, m, 0, err, sizeof err) == 0 && m->type == type) return 0;
            proto_msg_free(m);
        } else waited += 50;
    }
    return -1;
}

static void send_msg(void *s, proto_msg_t *m)
{
    CHECKF(proto_send(s, NULL, m, 0, err, sizeof err) == 0, "%s", err);
    proto_msg_free(m);
}

static void ready(void *s, const char *id)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_READY);
    snprintf(m.worker_id, sizeof m.worker_id, "%s", id);
    snprintf(m.engines, sizeof m.engines, "testcard");
    m.mem_mb = 4096;
    send_msg(s, &m);
}

static void chunk(void *s, uint64_t attempt, const uint8_t *p, size_t off, size_t n, size_t total, int corrupt)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_RESULT);
    m.attempt_id = attempt; m.offset = off; m.total_size = total;
    proto_msg_set_data(&m, p + off, n);
    m.crc32c = proto_crc32c(0, p + off, n) ^ (corrupt ? 1u : 0u);
    send_msg(s, &m);
}

static void upload(void *s, uint64_t attempt, const uint8_t *file, size_t len, const char *manifest, int corrupt)
{
    size_t step = 4096;
    for (size_t off = 0; off < len; off += step)
        chunk(s, attempt, file, off, off + step > len ? len - off : step, len, corrupt && off == 0);
    proto_msg_t m;
    proto_msg_init(&m, PROTO_DONE);
    m.attempt_id = attempt;
    snprintf(m.manifest, sizeof m.manifest, "%s", manifest);
    send_msg(s, &m);
}

/* Renders the window as a real artifact file; returns its bytes and manifest text. */
static uint8_t *artifact(const proto_msg_t *as, size_t *len, char *manifest, size_t mlen)
{
    proto_frames_t f; proto_manifest_t man; char p[128];
    proto_frames_alloc(&f, (int)as->width, (int)as->height, (int)as->n_frames, (int)as->first_frame, err, sizeof err);
    for (size_t i = 0; i < (size_t)f.n * f.w * f.h * 4; i++) f.px[i] = (uint16_t)((i * 977) & 0x7fff);
    snprintf(p, sizeof p, "%s/art.rgba", home);
    CHECKF(proto_artifact_write(p, &f, &man, err, sizeof err) == 0, "%s", err);
    proto_frames_free(&f);
    proto_manifest_format(&man, manifest, mlen);
    FILE *fp = fopen(p, "rb");
    uint8_t *buf = malloc(man.bytes);
    *len = fread(buf, 1, man.bytes, fp);
    fclose(fp);
    return buf;
}

static char *query(void *cl, const char *kind, uint64_t job)
{
    proto_msg_t m, r;
    proto_msg_init(&m, PROTO_QUERY); snprintf(m.kind, sizeof m.kind, "%s", kind); m.job_id = job;
    send_msg(cl, &m);
    if (expect(cl, PROTO_QUERY_REPLY, &r, 3000) != 0) return strdup("");
    char *t = strdup(r.text ? r.text : "");
    proto_msg_free(&r);
    return t;
}

static void test_protocol(void)
{
    void *cl = dealer(NULL), *a = dealer("wa"), *b = dealer("wb");
    proto_msg_t m, r;
    const char *csv = "name,frames,width,height,engine,window,overlap,outputs\nfence,9,32,32,testcard,9,0,ffv1\n";
    proto_msg_init(&m, PROTO_SUBMIT); snprintf(m.file_name, sizeof m.file_name, "t.csv"); proto_msg_set_text(&m, csv);
    send_msg(cl, &m);
    CHECK(expect(cl, PROTO_SUBMIT_REPLY, &r, 3000) == 0 && r.status == 0 && r.job_id == 1);
    proto_msg_free(&r);
    /* garbage first: farmd must survive it */
    zmq_send(a, "junk", 4, 0);
    ready(a, "wa");
    CHECK(expect(a, PROTO_HEARTBEAT, &r, 3000) == 0 && r.heartbeat_ms == (uint32_t)cfg.heartbeat_ms);
    proto_msg_free(&r);
    proto_msg_t as_a, as_b;
    CHECK(expect(a, PROTO_ASSIGN, &as_a, 3000) == 0 && as_a.n_frames == 9 && !strcmp(as_a.shot, "fence"));
    size_t len; char man[PROTO_MANIFEST_MAX + 1];
    uint8_t *file = artifact(&as_a, &len, man, sizeof man);
    upload(a, as_a.attempt_id, file, len, man, 1);   /* corrupt first chunk */
    CHECK(expect(a, PROTO_ACK, &r, 3000) == 0 && !strcmp(r.what, "resend"));
    proto_msg_free(&r);
    /* a goes silent past its lease; b takes the window with a new attempt id */
    ready(b, "wb");
    int got_b = 0;
    proto_msg_init(&as_b, 0);
    for (long t = 0; t < cfg.lease_ms + 400; t += 50) {   /* b stays alive (naming its window), a silent */
        if (!got_b && expect(b, PROTO_ASSIGN, &as_b, 1) == 0) got_b = 1;
        proto_msg_init(&m, PROTO_HEARTBEAT);
        m.attempt_id = got_b ? as_b.attempt_id : 0;
        send_msg(b, &m);
        usleep(50000);
    }
    CHECK(got_b || expect(b, PROTO_ASSIGN, &as_b, 3000) == 0);
    CHECK(as_b.attempt_id > as_a.attempt_id && as_b.window_index == as_a.window_index);
    /* the stale attempt's result is refused */
    upload(a, as_a.attempt_id, file, len, man, 0);
    CHECK(expect(a, PROTO_ACK, &r, 3000) == 0 && !strcmp(r.what, "refused"));
    proto_msg_free(&r);
    proto_msg_init(&m, PROTO_PROGRESS); m.attempt_id = as_a.attempt_id; m.done = 1; m.total = 9;
    send_msg(a, &m);
    CHECK(expect(a, PROTO_CANCEL, &r, 3000) == 0 && r.attempt_id == as_a.attempt_id);
    proto_msg_free(&r);
    /* b's upload is verified, committed, acknowledged; a repeated DONE is answered the same */
    upload(b, as_b.attempt_id, file, len, man, 0);
    CHECK(expect(b, PROTO_ACK, &r, 5000) == 0 && !strcmp(r.what, "result") && r.attempt_id == as_b.attempt_id);
    proto_msg_free(&r);
    proto_msg_init(&m, PROTO_DONE); m.attempt_id = as_b.attempt_id; snprintf(m.manifest, sizeof m.manifest, "%s", man);
    send_msg(b, &m);
    CHECK(expect(b, PROTO_ACK, &r, 3000) == 0 && !strcmp(r.what, "result"));
    proto_msg_free(&r);
    char *job = NULL;
    for (int i = 0; i < 100; i++) {   /* assembly runs on a pool thread */
        free(job); job = query(cl, "job", 1);
        if (strstr(job, "\"state\":\"done\"") == job + 0 || strstr(job, "\"file\":\"t.csv\",\"state\":\"done\"")) break;
        usleep(100000);
    }
    CHECKF(strstr(job, "\"file\":\"t.csv\",\"state\":\"done\""), "job not done: %.300s", job);
    free(job);
    char *ev = query(cl, "events", 0);
    int verified = 0, refused = 0;
    for (const char *p = ev; (p = strstr(p, "\"kind\":\"verified\"")); p++) verified++;
    for (const char *p = ev; (p = strstr(p, "\"kind\":\"refused\"")); p++) refused++;
    CHECK_EQ_INT(verified, 1);
    CHECKF(refused >= 2, "refused events: %d", refused);
    CHECK(strstr(ev, "\"kind\":\"attempt-lost\"") != NULL);
    free(ev);
    /* a lost ASSIGN: c is told about a window but keeps reporting no attempt in its heartbeats;
     * after a lease the attempt is requeued (infrastructure) and c is offered it again */
    usleep((useconds_t)(cfg.lease_ms + 200) * 1000);   /* b (silent now) leaves the registry */
    void *c = dealer("wc");
    ready(c, "wc");
    proto_msg_init(&m, PROTO_SUBMIT); snprintf(m.file_name, sizeof m.file_name, "t2.csv");
    proto_msg_set_text(&m, "name,frames,width,height,engine,window,overlap,outputs\nlost,5,32,32,testcard,5,0,ffv1\n");
    send_msg(cl, &m);
    CHECK(expect(cl, PROTO_SUBMIT_REPLY, &r, 3000) == 0 && r.job_id == 2);
    proto_msg_free(&r);
    proto_msg_t as_c, again;
    CHECK(expect(c, PROTO_ASSIGN, &as_c, 3000) == 0 && as_c.job_id == 2);
    for (long t = 0; t < cfg.lease_ms + 300; t += 50) {
        proto_msg_init(&m, PROTO_HEARTBEAT);
        send_msg(c, &m);
        usleep(50000);
    }
    CHECK(expect(c, PROTO_ASSIGN, &again, 3000) == 0 && again.attempt_id > as_c.attempt_id);
    ev = query(cl, "events", 0);
    CHECK(strstr(ev, "ASSIGN lost") != NULL);
    free(ev);
    proto_msg_free(&as_c); proto_msg_free(&again);
    free(file); proto_msg_free(&as_a); proto_msg_free(&as_b);
    zmq_close(cl); zmq_close(a); zmq_close(b); zmq_close(c);
}

/* A worker whose uploads keep arriving corrupt gets "resend" three times, then its attempt fails. */
static void test_resend_limit(void)
{
    void *d = dealer("wd");
    proto_msg_t as, r;
    ready(d, "wd");
    int got = 0;
    for (int i = 0; i < 60 && !got; i++) {   /* stay alive until farmd has a window for us */
        got = expect(d, PROTO_ASSIGN, &as, 100) == 0;
        proto_msg_t hb; proto_msg_init(&hb, PROTO_HEARTBEAT); send_msg(d, &hb);
    }
    CHECK(got);
    if (!got) { zmq_close(d); return; }
    size_t len; char man[PROTO_MANIFEST_MAX + 1];
    uint8_t *file = artifact(&as, &len, man, sizeof man);
    const char *want[] = { "resend", "resend", "resend", "fail" };
    for (int k = 0; k < 4; k++) {
        upload(d, as.attempt_id, file, len, man, 1);
        CHECK(expect(d, PROTO_ACK, &r, 3000) == 0 && !strcmp(r.what, want[k]));
        proto_msg_free(&r);
    }
    free(file); proto_msg_free(&as);
    zmq_close(d);
}

/* Hostile input: random frames and well-formed messages with random fields from several peers;
 * farmd must keep answering and its database must stay consistent. */
static void test_hostile_input(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    void *p[3] = { dealer("fz1"), dealer(NULL), dealer("wa") };
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        void *s = p[x % 3];
        if (x % 4 == 0) {   /* raw garbage: 1..4 frames */
            uint8_t buf[64];
            int nf = 1 + (int)(x >> 8) % 4;
            for (int k = 0; k < nf; k++) {
                size_t n = (x >> (k * 5)) % sizeof buf;
                for (size_t b = 0; b < n; b++) buf[b] = (uint8_t)(x >> (b % 56));
                zmq_send(s, buf, n, k + 1 < nf ? ZMQ_SNDMORE : 0);
            }
            continue;
        }
        proto_msg_t m;
        proto_msg_init(&m, PROTO_MESSAGES[(x >> 3) % PROTO_N_MESSAGES].type);
        m.attempt_id = (x >> 11) % 8; m.job_id = (x >> 17) % 4; m.offset = (x >> 23) % 3;
        m.total_size = (x >> 29) % 5000; m.done = (uint32_t)(x >> 31); m.total = 9;
        m.fail_class = (uint8_t)((x >> 37) % PROTO_FAIL_N_);
        snprintf(m.worker_id, sizeof m.worker_id, "fz%d", (int)((x >> 41) % 3));
        snprintf(m.kind, sizeof m.kind, "%s", (x >> 43) % 2 ? "job" : "events");
        snprintf(m.verb, sizeof m.verb, "%s", (x >> 45) % 2 ? "resume" : "pause");
        snprintf(m.engines, sizeof m.engines, "testcard");
        snprintf(m.manifest, sizeof m.manifest, "first=0 n=1 w=32 h=32 conv=1 bytes=%d sha256=00", (int)(x % 999));
        if (m.type == PROTO_SUBMIT) proto_msg_set_text(&m, (x >> 47) % 2 ? "name,frames\nq,1\n" : "\xff\xfe");
        if (m.type == PROTO_RESULT) proto_msg_set_data(&m, "abcdef", (size_t)(x >> 51) % 6);
        proto_send(s, NULL, &m, ZMQ_DONTWAIT, err, sizeof err);
        proto_msg_free(&m);
    }
    usleep(500000);
    void *cl = dealer(NULL);
    char *jobs = query(cl, "jobs", 0);
    CHECKF(strstr(jobs, "\"jobs\":[") != NULL, "farmd stopped answering: %.200s", jobs);
    free(jobs);
    for (int i = 0; i < 3; i++) zmq_close(p[i]);
    zmq_close(cl);
}

int main(void)
{
    snprintf(home, sizeof home, "/tmp/test_fence.XXXXXX");
    if (!mkdtemp(home)) return 1;
    snprintf(ep, sizeof ep, "ipc://%s/farmd.sock", home);
    char *argv[] = { "farmd", "--bind", ep, "--home", home, "--heartbeat-ms", "100", "--liveness", "3",
                     "--sync", "normal", NULL };
    if (coord_config_parse(&cfg, 11, argv, stdout, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    zctx = zmq_ctx_new();
    pthread_t th;
    pthread_create(&th, NULL, farmd_thread, NULL);
    usleep(300000);
    T_RUN(test_protocol);
    T_RUN(test_hostile_input);
    T_RUN(test_resend_limit);
    stop_flag = 1;
    pthread_join(th, NULL);
    zmq_ctx_term(zctx);
    {   /* the database survived everything above */
        char path[128]; store_t *st;
        snprintf(path, sizeof path, "%s/farm.db", home);
        CHECKF(store_open(path, NULL, &st, err, sizeof err) == 0, "%s", err);
        if (st) CHECK(store_integrity(st, err, sizeof err) == 0);
        store_close(&st);
    }
    char cmd[128]; snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    T_DONE();
}
