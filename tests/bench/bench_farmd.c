/* bench_farmd.c — farmd under load (issue #2 item 7): starts a real farmd process on a loopback
 * port with a temporary FARM_HOME, connects N simulated workers (one DEALER socket each, all driven
 * by this one thread), submits shot lists totalling W one-frame windows, and answers every ASSIGN at
 * once with a real artifact (RESULT + DONE). Reports assignments per second, p50/p99 of the time
 * from a worker becoming ready (READY or DONE sent) to its next ASSIGN, and farmd's peak RSS.
 *
 * usage: bench_farmd [--bin DIR] [--workers N] [--windows W] [--sync full|normal] [--home DIR]
 *                    [--render-ms MS]  (simulated render time per window; 0 = answer at once, saturating)
 * Not a test: it prints numbers, it does not judge them. */
#include "proto/artifact.h"
#include "proto/checksum.h"
#include "proto/proto.h"
#include "proto/wire.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define FRAMES_PER_SHOT 1000
#define SIZE 16

typedef struct { void *s; char id[32]; double ready_at, due; proto_msg_t assign; int busy; } sim_t;
typedef struct { uint8_t *buf; size_t len; char manifest[PROTO_MANIFEST_MAX + 1]; } art_t;

static double now_s(void)
{
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The artifact of a one-frame window starting at `first` (cached: shots share frame numbers). */
static art_t *artifact(art_t *cache, int first, const char *tmpdir)
{
    art_t *a = &cache[first];
    if (a->buf) return a;
    proto_frames_t f; proto_manifest_t m; char p[512], err[256];
    proto_frames_alloc(&f, SIZE, SIZE, 1, first, err, sizeof err);
    for (int i = 0; i < SIZE * SIZE * 4; i++) f.px[i] = (uint16_t)((i * 131 + first * 7) & 0x7fff);
    snprintf(p, sizeof p, "%s/a.rgba", tmpdir);
    if (proto_artifact_write(p, &f, &m, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    proto_frames_free(&f);
    proto_manifest_format(&m, a->manifest, sizeof a->manifest);
    FILE *fp = fopen(p, "rb");
    a->buf = malloc(m.bytes);
    a->len = fread(a->buf, 1, m.bytes, fp);
    fclose(fp);
    return a;
}

static void send_or_die(void *s, proto_msg_t *m)
{
    char err[256];
    if (proto_send(s, NULL, m, 0, err, sizeof err) != 0) { fprintf(stderr, "bench: %s\n", err); exit(1); }
    proto_msg_free(m);
}

static void answer_assign(sim_t *w, const proto_msg_t *as, art_t *cache, const char *tmpdir)
{
    art_t *a = artifact(cache, (int)as->first_frame, tmpdir);
    proto_msg_t m;
    proto_msg_init(&m, PROTO_RESULT);
    m.attempt_id = as->attempt_id; m.total_size = a->len;
    proto_msg_set_data(&m, a->buf, a->len);
    m.crc32c = proto_crc32c(0, a->buf, a->len);
    send_or_die(w->s, &m);
    proto_msg_init(&m, PROTO_DONE);
    m.attempt_id = as->attempt_id;
    snprintf(m.manifest, sizeof m.manifest, "%s", a->manifest);
    send_or_die(w->s, &m);
    w->ready_at = now_s();   /* ready for the next window once DONE is out */
}

static long peak_rss_kb(pid_t pid)
{
    char p[64], line[256]; long kb = -1;
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static int submit(void *ctx, const char *ep, int windows)
{
    int shots = (windows + FRAMES_PER_SHOT - 1) / FRAMES_PER_SHOT, rc = -1;
    size_t cap = (size_t)shots * 128 + 256;
    char *csv = malloc(cap), err[256];
    size_t n = (size_t)snprintf(csv, cap, "name,frames,width,height,engine,window,overlap,outputs\n");
    for (int i = 0; i < shots; i++) {
        int fr = windows - i * FRAMES_PER_SHOT < FRAMES_PER_SHOT ? windows - i * FRAMES_PER_SHOT : FRAMES_PER_SHOT;
        n += (size_t)snprintf(csv + n, cap - n, "b%d,%d,%d,%d,testcard,1,0,ffv1\n", i, fr, SIZE, SIZE);
    }
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_connect(s, ep);
    proto_msg_t m, r;
    proto_msg_init(&m, PROTO_SUBMIT); snprintf(m.file_name, sizeof m.file_name, "bench.csv");
    proto_msg_set_text(&m, csv);
    send_or_die(s, &m);
    zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, 30000) > 0 && proto_recv(s, NULL, &r, 0, err, sizeof err) == 0 && r.status == 0) rc = 0;
    else fprintf(stderr, "bench: submit failed: %s\n", r.text ? r.text : err);
    proto_msg_free(&r);
    int linger = 0; zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s); free(csv);
    return rc;
}

int main(int argc, char **argv)
{
    const char *bin = getenv("FARM_BIN") ? getenv("FARM_BIN") : "bin", *sync = "full", *home_arg = NULL;
    int nw = 200, windows = 10000, render_ms = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bin")) bin = argv[i + 1];
        else if (!strcmp(argv[i], "--workers")) nw = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--windows")) windows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sync")) sync = argv[i + 1];
        else if (!strcmp(argv[i], "--home")) home_arg = argv[i + 1];
        else if (!strcmp(argv[i], "--render-ms")) render_ms = atoi(argv[i + 1]);
    }
    char tmp[] = "/tmp/bench_farmd.XXXXXX", home[600], ep[64], farmd[600], shm[] = "/dev/shm/bench_art.XXXXXX";
    if (!mkdtemp(tmp) || !mkdtemp(shm)) return 1;
    snprintf(home, sizeof home, "%s/home", home_arg ? home_arg : tmp);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 30000 + getpid() % 20000);
    snprintf(farmd, sizeof farmd, "%s/farmd", bin);
    pid_t pid = fork();
    if (pid == 0) {
        const char *log = getenv("BENCH_FARMD_LOG");   /* farmd's own log, when wanted */
        if (!freopen(log ? log : "/dev/null", "w", stderr)) _exit(126);
        execl(farmd, "farmd", "--bind", ep, "--home", home, "--sync", sync, "--heartbeat-ms", "1000", (char *)NULL);
        _exit(127);
    }
    usleep(500000);
    void *ctx = zmq_ctx_new();
    sim_t *w = calloc((size_t)nw, sizeof *w);
    zmq_pollitem_t *items = calloc((size_t)nw, sizeof *items);
    double *lat = malloc(sizeof(double) * (size_t)(windows + nw));
    art_t *cache = calloc(FRAMES_PER_SHOT, sizeof *cache);
    int nlat = 0, done = 0, linger = 0;
    for (int i = 0; i < nw; i++) {
        w[i].s = zmq_socket(ctx, ZMQ_DEALER);
        snprintf(w[i].id, sizeof w[i].id, "sim%03d", i);
        zmq_setsockopt(w[i].s, ZMQ_ROUTING_ID, w[i].id, strlen(w[i].id));
        zmq_setsockopt(w[i].s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(w[i].s, ep);
        items[i] = (zmq_pollitem_t){ w[i].s, 0, ZMQ_POLLIN, 0 };
    }
    if (submit(ctx, ep, windows) != 0) { kill(pid, SIGKILL); return 1; }
    double t0 = now_s(), last_hb = t0, t_first = 0, t_last = 0;
    for (int i = 0; i < nw; i++) {
        proto_msg_t m; proto_msg_init(&m, PROTO_READY);
        snprintf(m.worker_id, sizeof m.worker_id, "%s", w[i].id); snprintf(m.engines, sizeof m.engines, "testcard");
        m.mem_mb = 8192;
        send_or_die(w[i].s, &m);
        w[i].ready_at = now_s();
    }
    int assigned = 0, refused = 0;
    while (done < windows && now_s() - t0 < 900) {
        if (zmq_poll(items, nw, render_ms > 0 ? 5 : 100) < 0) break;
        for (int i = 0; i < nw; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            proto_msg_t m; char err[256];
            while (proto_recv(w[i].s, NULL, &m, ZMQ_DONTWAIT, err, sizeof err) == 0) {
                if (m.type == PROTO_ASSIGN) {
                    double t = now_s();
                    lat[nlat++] = t - w[i].ready_at;
                    if (!assigned++) t_first = t;
                    t_last = t;
                    if (render_ms > 0) { w[i].assign = m; w[i].busy = 1; w[i].due = t + render_ms / 1000.0; continue; }
                    answer_assign(&w[i], &m, cache, shm);
                } else if (m.type == PROTO_ACK && !strcmp(m.what, "result")) done++;
                else if (m.type == PROTO_ACK) refused++;
                proto_msg_free(&m);
            }
        }
        for (int i = 0; render_ms > 0 && i < nw; i++)   /* simulated renders that are due */
            if (w[i].busy && now_s() >= w[i].due) { answer_assign(&w[i], &w[i].assign, cache, shm); proto_msg_free(&w[i].assign); w[i].busy = 0; }
        if (now_s() - last_hb > 0.5) {   /* keep every simulated worker's lease alive */
            for (int i = 0; i < nw; i++) {
                proto_msg_t m; proto_msg_init(&m, PROTO_HEARTBEAT);
                m.attempt_id = w[i].busy ? w[i].assign.attempt_id : 0;
                send_or_die(w[i].s, &m);
            }
            last_hb = now_s();
        }
    }
    double span = t_last - t_first, total = now_s() - t0;
    long rss = peak_rss_kb(pid);
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_d);
    printf("farmd bench: %d simulated workers, %d one-frame windows (%dx%d), sync=%s, render %d ms\n", nw, windows,
           SIZE, SIZE, sync, render_ms);
    printf("  windows verified+acknowledged: %d in %.1f s\n", done, total);
    printf("  assignments: %d, %.0f per second (first to last ASSIGN over %.1f s)\n", assigned,
           span > 0 ? (assigned - 1) / span : 0.0, span);
    if (nlat) printf("  ready->assigned latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                     lat[nlat / 2] * 1e3, lat[(int)(nlat * 0.99)] * 1e3, lat[nlat - 1] * 1e3);
    printf("  farmd peak RSS (VmHWM): %.1f MB\n", rss / 1024.0);
    printf("  re-assignments (attempts beyond one per window): %d, ACKs other than result: %d\n",
           assigned - windows, refused);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < nw; i++) zmq_close(w[i].s);
    zmq_ctx_term(ctx);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", tmp, shm);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return done == windows ? 0 : 1;
}
