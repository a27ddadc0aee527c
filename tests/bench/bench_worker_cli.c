/* bench_worker_cli.c — throughput of the worker-cli pieces (not a test): testcard frames per second
 * at 720x480, strict JSON parsing of a safetensors-style header, shot-list validation of 1000 rows,
 * and committing a 49-frame 720x480 window to the durable outbox (artifact + fsync + meta).
 * Usage: bench_worker_cli [DIR for the outbox, default /tmp]. Prints one line per measurement. */
#include "proto/json.h"
#include "proto/shotlist.h"
#include "worker/outbox.h"
#include "worker/testcard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_testcard(void)
{
    int w = 720, h = 480, n = 49;
    uint16_t *px = malloc((size_t)w * h * 4 * sizeof *px);
    char err[128];
    double t0 = now_s();
    for (int i = 0; i < n; i++) wrk_testcard_frame(42, i, w, h, px, err, sizeof err);
    double dt = now_s() - t0;
    printf("testcard 720x480: %d frames in %.3f s = %.1f frames/s (one thread)\n", n, dt, n / dt);
    free(px);
}

static void bench_json(void)
{
    size_t cap = 16u << 20, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < 20000; i++)
        o += (size_t)snprintf(s + o, cap - o, ",\"transformer_blocks.%d.attn1.to_q.weight\":{\"dtype\":\"BF16\","
                              "\"shape\":[3072,3072],\"data_offsets\":[%lld,%lld]}", i,
                              (long long)i * 18874368LL, (long long)(i + 1) * 18874368LL);
    o += (size_t)snprintf(s + o, cap - o, "}");
    proto_json_t *v = NULL;
    char err[256];
    int reps = 5;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        if (proto_json_parse(s, o, NULL, &v, NULL, err, sizeof err) < 0) { printf("json: %s\n", err); break; }
        if (r < reps - 1) proto_json_free(&v);
    }
    double dt = (now_s() - t0) / reps;
    double t1 = now_s();
    int found = 0;
    char key[96];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "transformer_blocks.%d.attn1.to_q.weight", i);
        found += proto_json_get(v, key) != NULL;
    }
    double lk = now_s() - t1;
    printf("json: %.2f MB header, 20001 keys: parse %.1f ms (%.0f MB/s), %d lookups in %.2f ms\n",
           (double)o / 1e6, dt * 1e3, (double)o / 1e6 / dt, found, lk * 1e3);
    proto_json_free(&v);
    free(s);
}

static void bench_shotlist(void)
{
    size_t cap = 1u << 20, o = 0;
    char *s = malloc(cap), err[4096];
    o += (size_t)snprintf(s, cap, "name,prompt,frames,engine,width,height,outputs,seed\n");
    for (int i = 0; i < PROTO_SHOTS_MAX; i++)
        o += (size_t)snprintf(s + o, cap - o, "shot_%04d,\"a prompt, with a comma\",%d,testcard,720,480,prores4444;exr,%d\n",
                              i, 1 + i * 7, i);
    proto_shotlist_t l;
    double t0 = now_s();
    int rc = proto_shotlist_parse(s, o, &l, err, sizeof err);
    double dt = now_s() - t0;
    printf("shot list: %d rows, %.0f KB CSV validated in %.2f ms (rc %d)\n", l.n, (double)o / 1e3, dt * 1e3, rc);
    proto_shotlist_free(&l);
    free(s);
}

static void bench_outbox(const char *base)
{
    char dir[512], err[256];
    snprintf(dir, sizeof dir, "%s/bench_outbox.%d", base, (int)getpid());
    wrk_outbox_t ob;
    proto_frames_t f;
    wrk_outbox_entry_t e;
    if (wrk_outbox_open(&ob, dir, 0, err, sizeof err) < 0 || proto_frames_alloc(&f, 720, 480, 49, 0, err, sizeof err) < 0) {
        printf("outbox: %s\n", err);
        return;
    }
    for (int i = 0; i < f.n; i++) wrk_testcard_frame(1, i, f.w, f.h, proto_frame(&f, i), err, sizeof err);
    double t0 = now_s();
    int rc = wrk_outbox_put(&ob, 1, &f, &e, err, sizeof err);
    double dt = now_s() - t0;
    printf("outbox: commit of a 49-frame 720x480 window (%.1f MB, SHA-256, fsync, rename) in %.0f ms = %.0f MB/s (rc %d)\n",
           (double)e.bytes / 1e6, dt * 1e3, (double)e.bytes / 1e6 / dt, rc);
    wrk_outbox_remove(&ob, 1, err, sizeof err);
    rmdir(dir);
    proto_frames_free(&f);
}

int main(int argc, char **argv)
{
    bench_testcard();
    bench_json();
    bench_shotlist();
    bench_outbox(argc > 1 ? argv[1] : "/tmp");
    return 0;
}
