/* bench_vae.c — VAE decode: ours vs the diffusers 0.32.0 reference on the CPU, or ours alone at real
 * sizes with random weights on any backend (CUDA: time, conv TFLOP/s, peak device memory).
 *
 *   build/bench/bench_vae [--frames F] [--height h] [--width w] [--tiled] [--threads N] [--dir DIR]
 *   build/bench/bench_vae --random [--device cuda|cpu] [--frames 13 --height 60 --width 90] [--tiled]
 *                         [--reps N] [--threads N]
 *   build/bench/bench_vae --conv-lab      (CUDA: conv3d engines v1/v2 at the decoder's resolutions)
 *
 * --random: the CogVideoX-5B decoder config (MODEL.md §4.1) with random weights, latents (1, F, 16, h, w)
 * (default 13 x 60 x 90 = 49 frames at 480x720, untiled), warm-up with one latent frame, then the
 * best of N decodes; prints seconds, frames/s, the conv work in TFLOP and TFLOP/s, and on CUDA the
 * peak of the backend's allocations (weights + activations + caches) and the device memory in use
 * as cudaMemGetInfo sees it. Exits 77 with "skip: no CUDA device visible" when CUDA is asked for
 * and absent.
 *
 * Reference mode (default):
 * Builds a mid-size random AutoencoderKLCogVideoX (block_out_channels 64,128,128,256, 3 resnets per
 * up block, groups 32) with tests/reference/gen_vae.py --bench in the reference venv
 * (${FARM_REFENV:-~/.cache/farm-refenv}), which also times diffusers' decode of the latents with
 * torch at 2 threads (after a 1-frame warm-up) and saves its output. Then decodes the same latents
 * here (after the same warm-up), prints both times, the frame rate, our peak RSS and the max error
 * against the reference output. Without the venv it says so and exits 77.
 */
#include "kernels/k.h"
#include "kernels/k_conv.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#include <cuda_runtime.h>
#endif
#include "worker/model/safetensors.h"
#include "worker/model/vae.h"
#include "worker/model/vae_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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

/* Runs the reference generator; returns its decode time in seconds or -1 (*cpu: its CPU time). */
static double run_reference(const char *dir, int F, int h, int w, int tiled, double *cpu)
{
    const char *env = getenv("FARM_REFENV");
    char py[1024], cmd[4096], line[256];
    if (env) snprintf(py, sizeof py, "%s/bin/python", env);
    else snprintf(py, sizeof py, "%s/.cache/farm-refenv/bin/python", getenv("HOME") ? getenv("HOME") : "");
    if (access(py, X_OK)) { printf("no reference venv at %s\n", py); return -1; }
    snprintf(cmd, sizeof cmd, "'%s' tests/reference/gen_vae.py --bench '%s' --frames %d --height %d --width %d%s",
             py, dir, F, h, w, tiled ? " --tiled" : "");
    FILE *p = popen(cmd, "r");
    double t = -1;
    while (p && fgets(line, sizeof line, p)) {
        if (sscanf(line, "ref_seconds %lf", &t) == 1) continue;
        if (sscanf(line, "ref_cpu_seconds %lf", cpu) == 1) continue;
        fputs(line, stdout);
    }
    if (!p || pclose(p) != 0) return -1;
    return t;
}

/* Multiply-adds x2 of the convolutions we run for one chunk of Tz latent frames at h x w (the
 * upsampler's Conv2d counted once per source frame, as vae_decode.c runs it). */
static double conv_flop(const vae_conv_t *c, double pix) { return c->w ? 2.0 * pix * c->co * c->ci * c->kt * c->kh * c->kw : 0; }
static double res_flop(const vae_res_t *r, double pix) { return conv_flop(&r->c1, pix) + conv_flop(&r->c2, pix) + conv_flop(&r->sc, pix); }
static double chunk_flop(const wrk_vae_t *v, int Tz, int h, int w)
{
    int T = Tz, H = h, W = w;
    double f = conv_flop(&v->conv_in, (double)T * H * W) + res_flop(&v->mid[0], (double)T * H * W) + res_flop(&v->mid[1], (double)T * H * W);
    for (int b = 0; b < v->n_up; b++) {
        const vae_up_t *u = &v->up[b];
        for (int k = 0; k < u->nres; k++) f += res_flop(&u->res[k], (double)T * H * W);
        if (!u->has_up) continue;
        H *= 2; W *= 2;
        f += conv_flop(&u->up, (double)T * H * W);
        T = !u->compress_time || T == 1 ? T : T % 2 ? 1 + 2 * (T - 1) : 2 * T;
    }
    return f + conv_flop(&v->conv_out, (double)T * H * W);
}
static double decode_gflop(const wrk_vae_t *v, int F, int h, int w)
{
    double f = 0;   /* chunks as diffusers' _decode: 2 latent frames, 3 in the first when F is odd */
    for (int k = 0; k < (F / 2 > 1 ? F / 2 : 1); k++) {
        int s = 2 * k + (k ? F % 2 : 0), e = 2 * (k + 1) + F % 2;
        f += chunk_flop(v, (e < F ? e : F) - s, h, w);
    }
    return f * 1e-9;
}

static double max_err(const float *got, const float *ref, int B, int T, int H, int W, double *maxref)
{
    double e = 0;
    long P = (long)T * H * W;
    *maxref = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < 3; c++)
            for (long p = 0; p < P; p++) {
                double r = ref[((long)b * 3 + c) * P + p], d = fabs(got[((long)b * P + p) * 3 + c] - r);
                if (d > e) e = d;
                if (fabs(r) > *maxref) *maxref = fabs(r);
            }
    return e;
}

/* The backend named by --device (binding CUDA device 0), or NULL with a reason printed. */
static const k_backend_t *pick_device(const char *name)
{
    if (!strcmp(name, "cpu")) return k_backend_cpu();
#ifdef HAVE_CUDA
    char err[256];
    if (!strcmp(name, "cuda")) {
        if (k_cuda_device_count() < 1) { printf("skip: no CUDA device visible\n"); return NULL; }
        if (k_cuda_bind(0, err, sizeof err)) { printf("cuda: %s\n", err); return NULL; }
        return k_backend_cuda();
    }
#endif
    printf("%s: unknown device or built without it%s\n", name, strcmp(name, "cuda") ? "" : "\nskip: no CUDA device visible");
    return NULL;
}

static void device_memory_line(const k_backend_t *kb)
{
#ifdef HAVE_CUDA
    size_t fr = 0, tot = 0;
    if (kb == k_backend_cuda() && cudaMemGetInfo(&fr, &tot) == cudaSuccess)
        printf("device memory: backend allocations peak %.2f GiB (now %.2f GiB); device in use %.2f of %.2f GiB\n",
               k_cuda_bytes_peak() / 1073741824.0, k_cuda_bytes_in_use() / 1073741824.0, (tot - fr) / 1073741824.0,
               tot / 1073741824.0);
#else
    (void)kb;
#endif
}

/* --conv-lab (CUDA): one causal 3x3x3 conv (2 output frames from 4 input frames) at each resolution
 * of the 5B decoder, engines v1 SIMT and v2 WMMA (k_cuda_conv3d_with): time (best of 3 after a
 * warm-up, synchronised), TFLOP/s, and the relative L2 difference of v2 against v1. */
#ifdef HAVE_CUDA
static double conv_lab_run(const k_backend_t *kb, float *y, const float *const *fr, int H, int W, int C, const float *wp,
                           const float *b, int engine)
{
    char err[256];
    double best = INFINITY;
    for (int r = 0; r < 4; r++) {
        double t0 = now_s();
        if (k_cuda_conv3d_with(y, fr, 4, H, W, C, C, 3, 3, 3, wp, b, engine) || kb->sync(err, sizeof err)) {
            fprintf(stderr, "conv lab: %s\n", k_error());
            return -1;
        }
        if (r) best = fmin(best, now_s() - t0);
    }
    return best;
}

static int conv_lab(void)
{
    static const int shapes[][3] = { { 512, 60, 90 }, { 512, 120, 180 }, { 256, 240, 360 }, { 128, 480, 720 } };
    const k_backend_t *kb = pick_device("cuda");
    if (!kb) return 77;
    for (int s = 0; s < 4; s++) {
        int C = shapes[s][0], H = shapes[s][1], W = shapes[s][2];
        size_t fs = (size_t)H * W * C, wn = (size_t)27 * C * C, yn = 2 * fs;
        float *x = kb->alloc(4 * fs * 4), *w = kb->alloc(wn * 4), *b = kb->alloc((size_t)C * 4);
        float *y1 = kb->alloc(yn * 4), *y2 = kb->alloc(yn * 4);
        float *h1 = malloc(yn * 4), *h2 = malloc(yn * 4);
        if (!x || !w || !b || !y1 || !y2 || !h1 || !h2 || k_cuda_fill_uniform(x, 4 * fs, 1, 1.0f) ||
            k_cuda_fill_uniform(w, wn, 2, (float)(1.0 / sqrt(27.0 * C))) || k_cuda_fill_uniform(b, C, 3, 0.01f)) {
            fprintf(stderr, "conv lab: %s\n", k_error());
            return 1;
        }
        const float *fr[4] = { x, x + fs, x + 2 * fs, x + 3 * fs };
        double t1 = conv_lab_run(kb, y1, fr, H, W, C, w, b, K_CONV_ENGINE_SIMT);
        double t2 = conv_lab_run(kb, y2, fr, H, W, C, w, b, K_CONV_ENGINE_WMMA);
        double num = 0, den = 0, flop = 2.0 * 2 * H * W * (double)C * C * 27;
        if (kb->download(h1, y1, yn * 4) || kb->download(h2, y2, yn * 4)) return 1;
        for (size_t i = 0; i < yn; i++) { num += ((double)h2[i] - h1[i]) * ((double)h2[i] - h1[i]); den += (double)h1[i] * h1[i]; }
        printf("conv3d 3x3x3 %d->%d at %dx%d, 2 frames (%.1f GFLOP): v1 SIMT %.2f ms (%.1f TFLOP/s), v2 WMMA TF32 "
               "%.2f ms (%.1f TFLOP/s), v2 vs v1 rel L2 %.2e\n", C, C, H, W, flop * 1e-9, t1 * 1e3, flop / t1 * 1e-12,
               t2 * 1e3, flop / t2 * 1e-12, sqrt(num / (den > 0 ? den : 1)));
        kb->free(x); kb->free(w); kb->free(b); kb->free(y1); kb->free(y2);
        free(h1); free(h2);
    }
    return 0;
}
#else
static int conv_lab(void) { printf("skip: no CUDA device visible (built without nvcc)\n"); return 77; }
#endif

/* --random: the 5B decoder with random weights on the chosen backend. */
static int run_random(const char *device, int F, int h, int w, int tiled, int reps)
{
    char err[512], line[256];
    const k_backend_t *kb = pick_device(device);
    if (!kb) return strcmp(device, "cuda") ? 2 : 77;
    wrk_vae_config_t cfg;
    wrk_vae_config_default(&cfg);
    cfg.scaling_factor = 0.7;
    wrk_vae_t *vae = NULL;
    double t0 = now_s();
    if (wrk_vae_new_random(&cfg, 1234, &vae, err, sizeof err) || wrk_vae_set_backend(vae, kb, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        wrk_vae_destroy(&vae);
        return 1;
    }
    wrk_vae_config_str(vae, line, sizeof line);
    printf("%s\nrandom weights on %s in %.2f s\n", line, kb->name, now_s() - t0);
    int T, H, W, T1, H1, W1;
    wrk_vae_out_dims(vae, F, h, w, tiled, &T, &H, &W);
    wrk_vae_out_dims(vae, 1, h, w, tiled, &T1, &H1, &W1);
    size_t zn = (size_t)F * 16 * h * w, on = (size_t)T * H * W * 3;
    float *z = malloc(zn * sizeof(float)), *out = malloc(on * sizeof(float));
    int rc = 1;
    if (!z || !out) { fprintf(stderr, "out of host memory\n"); goto out; }
    for (size_t i = 0; i < zn; i++) z[i] = sinf((float)i * 0.731f) * 0.7f;
    t0 = now_s();
    if (wrk_vae_decode(vae, z, 1, 1, h, w, tiled, out, err, sizeof err)) { fprintf(stderr, "warm-up: %s\n", err); goto out; }
    printf("warm-up (1 latent frame -> %d frames): %.3f s\n", T1, now_s() - t0);
#ifdef HAVE_CUDA
    if (kb == k_backend_cuda()) k_cuda_reset_peak();
#endif
    double best = INFINITY, gf = decode_gflop(vae, F, h, w);
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (wrk_vae_decode(vae, z, 1, F, h, w, tiled, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
        best = fmin(best, now_s() - t0);
    }
    double sum = 0;
    for (size_t i = 0; i < on; i++) sum += fabs(out[i]);
    printf("decode latents (1, %d, 16, %d, %d)%s -> %d frames %dx%d on %s: best of %d %.3f s, %.2f frames/s, conv work "
           "%.1f TFLOP, %.1f TFLOP/s (mean |out| %.4g)\n", F, h, w, tiled ? " tiled" : "", T, H, W, kb->name, reps, best,
           T / best, gf * 1e-3, gf * 1e-3 / best, sum / on);
    device_memory_line(kb);
    rc = isfinite(sum) ? 0 : 1;
out:
    free(z); free(out);
    wrk_vae_destroy(&vae);
    return rc;
}

int main(int argc, char **argv)
{
    int F = 3, h = 16, w = 24, tiled = 0, threads = 2, random = 0, reps = 1, sized = 0;
    char dir[512] = "", device[16] = "cuda";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--random")) { random = 1; continue; }
        if (!strcmp(a, "--conv-lab")) return conv_lab();
        if (!strcmp(a, "--device")) { snprintf(device, sizeof device, "%s", v); i++; continue; }
        if (!strcmp(a, "--reps")) { reps = atoi(v); i++; continue; }
        if (!strcmp(a, "--frames") || !strcmp(a, "--height") || !strcmp(a, "--width")) sized = 1;
        if (!strcmp(a, "--frames")) F = atoi(v), i++;
        else if (!strcmp(a, "--height")) h = atoi(v), i++;
        else if (!strcmp(a, "--width")) w = atoi(v), i++;
        else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
        else if (!strcmp(a, "--dir")) snprintf(dir, sizeof dir, "%s", v), i++;
        else if (!strcmp(a, "--tiled")) tiled = 1;
        else {
            fprintf(stderr, "usage: bench_vae [--frames F] [--height h] [--width w] [--tiled] [--threads N] [--dir DIR]\n"
                            "       bench_vae --random [--device cuda|cpu] [--frames F --height h --width w] [--tiled] [--reps N]\n");
            return 2;
        }
    }
    if (F < 1 || h < 1 || w < 1 || threads < 1 || reps < 1) { fprintf(stderr, "bad sizes\n"); return 2; }
    if (random) {
        k_set_threads(threads);
        if (!sized) { F = 13; h = 60; w = 90; }
        return run_random(device, F, h, w, tiled, reps);
    }
    if (!dir[0]) { snprintf(dir, sizeof dir, "/tmp/bench_vae.XXXXXX"); if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; } }
    printf("bench_vae: latents (1, %d, 16, %d, %d)%s, %d threads, dir %s\n", F, h, w, tiled ? " tiled" : "", threads, dir);
    double c_ref = 0, t_ref = run_reference(dir, F, h, w, tiled, &c_ref);
    if (t_ref < 0) { printf("skip: the reference run failed or is unavailable\n"); return 77; }

    char err[512], path[600];
    wrk_vae_t *vae = NULL;
    wrk_st_t *st = NULL;
    int T, H, W;
    k_set_threads(threads);
    if (wrk_vae_load(dir, &vae, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    snprintf(path, sizeof path, "%s/bench.safetensors", dir);
    if (wrk_st_open(path, &st, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    wrk_vae_out_dims(vae, F, h, w, tiled, &T, &H, &W);
    size_t zn = (size_t)F * 16 * h * w, on = (size_t)T * H * W * 3;
    float *z = malloc(zn * sizeof(float)), *ref = malloc(on * sizeof(float)), *out = malloc(on * sizeof(float));
    if (wrk_st_read_f32(st, "latents", 0, NULL, z, (int64_t)zn, err, sizeof err) ||
        wrk_st_read_f32(st, "out", 0, NULL, ref, (int64_t)on, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    char line[256];
    wrk_vae_config_str(vae, line, sizeof line);
    printf("%s\n", line);
    /* warm-up: one latent frame (first-chunk path), like the reference; frame 0 leads (B, F, C, h, w) */
    int T1, H1, W1;
    wrk_vae_out_dims(vae, 1, h, w, tiled, &T1, &H1, &W1);
    float *warm = malloc((size_t)T1 * H1 * W1 * 3 * sizeof(float));
    if (!warm || wrk_vae_decode(vae, z, 1, 1, h, w, tiled, warm, err, sizeof err)) fprintf(stderr, "warm-up failed: %s\n", err);
    free(warm);
    double t0 = now_s(), c0 = cpu_s();
    if (wrk_vae_decode(vae, z, 1, F, h, w, tiled, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    double t_c = now_s() - t0, c_c = cpu_s() - c0, maxref;
    double e = max_err(out, ref, 1, T, H, W, &maxref);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("output %d frames %dx%d\n", T, H, W);
    printf("diffusers (torch, %d threads): %8.3f s wall %8.3f s CPU  %6.2f frames/s\n", 2, t_ref, c_ref, T / t_ref);
    printf("ours      (C, %d threads):     %8.3f s wall %8.3f s CPU  %6.2f frames/s  (%.2fx the reference's wall, %.2fx its CPU)\n",
           threads, t_c, c_c, T / t_c, t_ref / t_c, c_ref / c_c);
    double gf = decode_gflop(vae, F, h, w);
    printf("our conv work %.1f GFLOP: %.1f GFLOP/s wall, %.1f GFLOP per CPU-s\n", gf, gf / t_c, gf / c_c);
    printf("max |ours - diffusers| = %.3g (%.2g of max |ref| %.3g); our peak RSS %.0f MiB\n", e, e / maxref, maxref,
           ru.ru_maxrss / 1024.0);
    free(z); free(ref); free(out);
    wrk_st_close(&st);
    wrk_vae_destroy(&vae);
    return e <= 1e-3 * maxref ? 0 : 1;
}
