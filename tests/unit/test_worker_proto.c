/* test_worker_proto.c — the real worker loop (wrk_cmd_run in a child process) against a scripted
 * coordinator ROUTER in this test: READY contents, PROGRESS per frame, RESULT chunks whose CRC-32C
 * and offsets are right and whose bytes form an artifact matching DONE's manifest and the testcard
 * frames, the outbox entry kept until ACK (and re-sent after an UNKNOWN heartbeat), dit refused with
 * a FAIL of class "model", --testcard-fail, CANCEL, and SIGTERM exiting 0. */
#include "tests/test.h"
#include "proto/artifact.h"
#include "proto/checksum.h"
#include "proto/wire.h"
#include "worker/commands.h"
#include "worker/outbox.h"
#include "worker/testcard.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static void *g_router;
static proto_env_t g_env;
static char g_dir[256];

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives the next message that is not a worker HEARTBEAT. 0 ok, -1 timeout. */
static int recv_msg(proto_msg_t *m, int timeout_ms)
{
    long long end = ms_now() + timeout_ms;
    char err[256];
    while (ms_now() < end) {
        zmq_pollitem_t it = { g_router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 50) <= 0) continue;
        if (proto_recv(g_router, &g_env, m, 0, err, sizeof err) != 0) { proto_msg_free(m); continue; }
        if (m->type != PROTO_HEARTBEAT) return 0;
        proto_msg_free(m);
    }
    return -1;
}

/* Like recv_msg, but also skips PROGRESS (a window may report "0 done" before it fails). */
static int recv_no_progress(proto_msg_t *m, int timeout_ms)
{
    long long end = ms_now() + timeout_ms;
    while (recv_msg(m, (int)(end - ms_now())) == 0) {
        if (m->type != PROTO_PROGRESS) return 0;
        proto_msg_free(m);
    }
    return -1;
}

static void send_msg(proto_msg_t *m)
{
    char err[256];
    CHECKF(proto_send(g_router, &g_env, m, 0, err, sizeof err) == 0, "%s", err);
    proto_msg_free(m);
}

static void assign(uint64_t attempt, const char *engine, unsigned window, unsigned first, unsigned n)
{
    proto_msg_t m;
    proto_msg_init(&m, PROTO_ASSIGN);
    m.attempt_id = attempt; m.job_id = 1; m.window_index = window; m.first_frame = first; m.n_frames = n;
    m.shot_frames = 100; m.width = 32; m.height = 16; m.seed = 7; m.fps = 8; m.steps = 1;
    snprintf(m.shot, sizeof m.shot, "s");
    snprintf(m.engine, sizeof m.engine, "%s", engine);
    send_msg(&m);
}

static void simple(int type, uint64_t attempt, const char *what, uint32_t flags)
{
    proto_msg_t m;
    proto_msg_init(&m, type);
    m.attempt_id = attempt;
    m.flags = flags;
    m.heartbeat_ms = 100;
    if (what) snprintf(m.what, sizeof m.what, "%s", what);
    send_msg(&m);
}

/* Collects RESULT chunks and the DONE of attempt; checks CRCs, offsets and the artifact. */
static int collect_result(uint64_t attempt, int *progress_msgs, int timeout_ms)   /* progress: bit per done */
{
    uint8_t *buf = NULL;
    uint64_t have = 0, total = 0;
    int ok = 0;
    proto_msg_t m;
    while (recv_msg(&m, timeout_ms) == 0) {
        if (m.type == PROTO_PROGRESS) {              /* count distinct frame counts (a last one may repeat with a note) */
            if (m.done < 32) *progress_msgs |= 1 << m.done;
            proto_msg_free(&m);
            continue;
        }
        if (m.type == PROTO_RESULT) {
            CHECK(m.attempt_id == attempt && m.offset == have);
            CHECK(m.crc32c == proto_crc32c(0, m.data, m.data_len));
            if (!buf) { total = m.total_size; buf = malloc(total); }
            if (have + m.data_len <= total) memcpy(buf + have, m.data, m.data_len);
            have += m.data_len;
            proto_msg_free(&m);
            continue;
        }
        if (m.type == PROTO_DONE) {
            proto_manifest_t mf;
            char err[256], path[300];
            CHECK(m.attempt_id == attempt && have == total && total > 0);
            CHECKF(proto_manifest_parse(m.manifest, &mf, err, sizeof err) == 0, "%s", err);
            snprintf(path, sizeof path, "%s/received.frm", g_dir);
            FILE *f = fopen(path, "wb");
            fwrite(buf, 1, have, f);
            fclose(f);
            CHECKF(proto_artifact_verify(path, &mf, NULL, err, sizeof err) == 0, "%s", err);
            proto_frames_t fr;
            CHECK(proto_artifact_read(path, &fr, NULL, err, sizeof err) == 0);
            uint16_t want[32 * 16 * 4];
            wrk_testcard_frame(7, 2, 32, 16, want, err, sizeof err);
            CHECK(fr.n == 3 && fr.first == 0 && memcmp(proto_frame(&fr, 2), want, sizeof want) == 0);
            proto_frames_free(&fr);
            ok = 1;
        }
        proto_msg_free(&m);
        break;
    }
    free(buf);
    return ok;
}

static int outbox_has(uint64_t attempt)
{
    char p[400];
    snprintf(p, sizeof p, "%s/outbox/a%llu.meta", g_dir, (unsigned long long)attempt);
    return access(p, F_OK) == 0;
}

static pid_t start_worker(const char *ep)
{
    pid_t pid = fork();
    if (pid) return pid;
    char outbox[300];
    snprintf(outbox, sizeof outbox, "%s/outbox", g_dir);
    char *argv[] = { "run", "--coordinator", (char *)ep, "--name", "wtest", "--outbox", outbox,
                     "--heartbeat-ms", "100", "--chunk-bytes", "1024", "--testcard-fail", "s:1",
                     "--testcard-delay-ms", "30", NULL };
    _exit(wrk_cmd_run((int)(sizeof argv / sizeof argv[0]) - 1, argv));
}

#define N_LEFT 70      /* results left in the outbox by a previous run: more than the upload list holds */

static void fill_outbox(void)
{
    wrk_outbox_t ob;
    proto_frames_t f;
    wrk_outbox_entry_t e;
    char dir[300], err[256];
    snprintf(dir, sizeof dir, "%s/outbox", g_dir);
    CHECK(wrk_outbox_open(&ob, dir, 0, err, sizeof err) == 0);
    CHECK(proto_frames_alloc(&f, 16, 16, 1, 0, err, sizeof err) == 0);
    for (int i = 0; i < N_LEFT; i++) CHECK(wrk_outbox_put(&ob, 1000 + (uint64_t)i, &f, &e, err, sizeof err) == 0);
    proto_frames_free(&f);
}

/* The previous run's results are uploaded (all of them, each once per round) and ACKed. */
static void drain_left(void)
{
    char seen[N_LEFT] = { 0 };
    int n = 0;
    proto_msg_t m;
    while (n < N_LEFT && recv_msg(&m, 5000) == 0) {
        if (m.type == PROTO_DONE && m.attempt_id >= 1000 && m.attempt_id < 1000 + N_LEFT && !seen[m.attempt_id - 1000]) {
            seen[m.attempt_id - 1000] = 1;
            n++;
            simple(PROTO_ACK, m.attempt_id, "result", 0);
        }
        proto_msg_free(&m);
    }
    CHECK_EQ_INT(n, N_LEFT);
    long long end = ms_now() + 3000;
    while (outbox_has(1000 + N_LEFT - 1) && ms_now() < end) usleep(20000);
    CHECK(!outbox_has(1000) && !outbox_has(1000 + N_LEFT - 1));
}

static void test_conversation(pid_t pid)
{
    proto_msg_t m;
    CHECK(recv_msg(&m, 5000) == 0 && m.type == PROTO_READY);
    CHECK_STR(m.worker_id, "wtest");
    CHECK_STR(m.engines, "testcard,dit");             /* every usable engine is advertised */
    CHECK(m.n_gpus == 0 && m.mem_mb > 0 && m.attempt_id == 0);
    proto_msg_free(&m);
    simple(PROTO_HEARTBEAT, 0, NULL, 0);
    drain_left();

    int progress = 0;
    assign(5, "testcard", 0, 0, 3);
    CHECK(collect_result(5, &progress, 5000));
    CHECK_EQ_INT(progress & 0xe, 0xe);                 /* a PROGRESS for each of frames 1, 2, 3 */
    CHECK(outbox_has(5));                              /* kept until ACK */

    simple(PROTO_HEARTBEAT, 0, NULL, PROTO_HB_UNKNOWN);   /* "I restarted": READY, then resend */
    CHECK(recv_msg(&m, 3000) == 0 && m.type == PROTO_READY);
    proto_msg_free(&m);
    progress = 0;
    CHECK(collect_result(5, &progress, 5000));
    simple(PROTO_ACK, 5, "result", 0);
    long long end = ms_now() + 3000;
    while (outbox_has(5) && ms_now() < end) usleep(20000);
    CHECK(!outbox_has(5));

    assign(6, "dit", 0, 0, 3);
    CHECK(recv_no_progress(&m, 3000) == 0 && m.type == PROTO_FAIL && m.attempt_id == 6);
    CHECK(m.fail_class == PROTO_FAIL_MODEL && m.text && strstr(m.text, "names no model"));  /* model class, never faked */
    proto_msg_free(&m);
    simple(PROTO_ACK, 6, "fail", 0);

    assign(7, "testcard", 1, 2, 3);
    CHECK(recv_no_progress(&m, 3000) == 0 && m.type == PROTO_FAIL && m.attempt_id == 7 && m.fail_class == PROTO_FAIL_WINDOW);
    proto_msg_free(&m);
    simple(PROTO_ACK, 7, "fail", 0);

    assign(8, "testcard", 2, 0, 60);                   /* 60 frames x 30 ms: cancel it midway */
    CHECK(recv_msg(&m, 3000) == 0 && m.type == PROTO_PROGRESS && m.attempt_id == 8);
    proto_msg_free(&m);
    simple(PROTO_CANCEL, 8, NULL, 0);
    int done_seen = 0;
    while (recv_msg(&m, 2500) == 0) { if (m.type == PROTO_DONE || m.type == PROTO_RESULT) done_seen = 1; proto_msg_free(&m); }
    CHECK(!done_seen && !outbox_has(8));

    kill(pid, SIGTERM);                                /* idle: drains at once, exits 0 */
    int st = 0;
    end = ms_now() + 5000;
    while (waitpid(pid, &st, WNOHANG) == 0 && ms_now() < end) usleep(20000);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
}

int main(void)
{
    char ep[300];
    snprintf(g_dir, sizeof g_dir, "/tmp/test_worker_proto.%d", (int)getpid());
    mkdir(g_dir, 0755);
    snprintf(ep, sizeof ep, "ipc://%s/farmd.sock", g_dir);
    void *ctx = zmq_ctx_new();
    g_router = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(g_router, ZMQ_LINGER, &linger, sizeof linger);
    CHECK(zmq_bind(g_router, ep) == 0);
    fill_outbox();
    pid_t pid = start_worker(ep);
    test_conversation(pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    zmq_close(g_router);
    zmq_ctx_term(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    T_DONE();
}
