/* bench_pipeline.c — the whole RGBA pipeline (worker/model/pipeline.h) timed per stage on the CPU,
 * side by side with the reference diffusers pipeline on the same model, noise and settings.
 *
 *   bench_pipeline DIR [THREADS] [REPS]
 *
 * DIR is what `tests/reference/gen_pipeline.py --bench DIR` wrote: DIR/model (a mid-size random
 * pipeline: DiT 8x64 heads x 4 layers, T5 d_model 256 x 4 layers, VAE 32/64/64/128 x 2 layers),
 * DIR/lora.safetensors (rank 32), DIR/noise.safetensors (the reference run's captured noise),
 * DIR/expected.rgba (its 8-bit frames) and DIR/bench_ref.json (its stage times, 2 threads).
 * Renders 9 frames at 192x128 with 10 DPM steps, CFG 6 dynamic, tiled VAE; prints load time, the
 * best of REPS renders per stage (text, denoise, decode), the frames' agreement with the
 * reference, and the reference's times. Exit 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/json.h"
#include "worker/model/pipeline.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[*n] = 0;
    return buf;
}

/* Fraction of samples within 2/255 of DIR/expected.rgba; -1 when unreadable. */
static double agreement(const char *dir, const wrk_pipe_frames_t *fr, int *maxd)
{
    char path[4200];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/expected.rgba", dir);
    uint8_t *want = (uint8_t *)slurp(path, &n);
    size_t m = (size_t)fr->n * fr->h * fr->w * 4;
    long bad = 0;
    *maxd = 0;
    if (!want || n != m) { free(want); return -1; }
    for (size_t i = 0; i < m; i++) {
        int d = abs((int)wrk_pipe_u8(fr->rgba[i]) - (int)want[i]);
        if (d > *maxd) *maxd = d;
        bad += d > 2;
    }
    free(want);
    return 1.0 - (double)bad / (double)m;
}

static void print_ref(const char *dir)
{
    char path[4200], err[256];
    size_t n = 0;
    proto_json_t *j = NULL;
    snprintf(path, sizeof path, "%s/bench_ref.json", dir);
    char *text = slurp(path, &n);
    double t = 0, d = 0, v = 0, a = 0, c = -1;
    if (text && proto_json_parse(text, n, NULL, &j, NULL, err, sizeof err) == 0 &&
        !proto_json_get_num(j, "text_s", &t) && !proto_json_get_num(j, "denoise_s", &d) &&
        !proto_json_get_num(j, "decode_s", &v) && !proto_json_get_num(j, "total_s", &a)) {
        proto_json_get_num(j, "total_cpu_s", &c);
        printf("reference (diffusers 0.32 + our TransPixar, torch 2 threads): text %.3f s, denoise %.3f s, "
               "decode %.3f s, total %.3f s, process CPU %.3f s\n", t, d, v, a, c);
    }
    else
        printf("reference: %s unreadable\n", path);
    proto_json_free(&j);
    free(text);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: bench_pipeline DIR [THREADS] [REPS]\n"); return 2; }
    const char *dir = argv[1];
    int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 2;
    char model[4200], lora[4200], noise[4200], err[2048];
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(lora, sizeof lora, "%s/lora.safetensors", dir);
    snprintf(noise, sizeof noise, "%s/noise.safetensors", dir);
    wrk_pipe_opts_t o;
    wrk_pipe_opts_default(&o);
    o.lora_path = lora; o.threads = threads;
    wrk_pipe_t *p = NULL;
    wrk_pipe_noise_t nz;
    double t0 = now_s();
    if (wrk_pipe_load(model, &o, &p, err, sizeof err) || wrk_pipe_noise_load(noise, &nz, err, sizeof err)) {
        fprintf(stderr, "bench_pipeline: %s\n", err);
        return 1;
    }
    printf("load %.3f s, %d threads\n", now_s() - t0, threads);
    wrk_pipe_req_t q;
    wrk_pipe_req_default(&q);
    q.prompt = "a glass jellyfish drifting through dark water, isolated background"; q.negative = "";
    q.frames = 9; q.width = 192; q.height = 128; q.steps = 10; q.guidance = 6.0; q.noise = &nz;
    wrk_pipe_stats_t best = { 0 };
    wrk_pipe_frames_t fr = { 0 };
    for (int r = 0; r < reps; r++) {
        int cls;
        wrk_pipe_frames_free(&fr);
        wrk_pipe_text_cache_clear(p);
        double c0 = cpu_s();
        if (wrk_pipe_render(p, &q, &fr, &cls, err, sizeof err)) { fprintf(stderr, "bench_pipeline: %s\n", err); return 1; }
        const wrk_pipe_stats_t *s = wrk_pipe_stats(p);
        printf("run %d: text %.3f s, denoise %.3f s (%d steps, %d DiT calls), decode %.3f s, total %.3f s, "
               "process CPU %.3f s\n", r + 1, s->text_s, s->denoise_s, s->steps, s->dit_calls, s->decode_s,
               s->total_s, cpu_s() - c0);
        if (r == 0 || s->total_s < best.total_s) best = *s;
    }
    int maxd = 0;
    double frac = agreement(dir, &fr, &maxd);
    printf("best: text %.3f s, denoise %.3f s, decode %.3f s, total %.3f s; frames vs reference: %.4f%% within "
           "2/255 (max %d/255)\n", best.text_s, best.denoise_s, best.decode_s, best.total_s, 100.0 * frac, maxd);
    print_ref(dir);
    wrk_pipe_frames_free(&fr);
    wrk_pipe_noise_free(&nz);
    wrk_pipe_destroy(&p);
    return frac >= 0.999 ? 0 : 1;
}
