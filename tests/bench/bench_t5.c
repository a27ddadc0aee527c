/* bench_t5.c — T5 encoder (worker/model/t5.h): on the CPU from a model folder (time of one batch
 * encode, best of N, resident and streamed weights, peak RSS, error against transformers), or at
 * real sizes with random weights on any backend (CUDA: time and peak device memory).
 *
 *   bench_t5 DIR [REPS] [THREADS]
 *   bench_t5 --random [--device cuda|cpu] [--config xxl|tiny] [--batch B] [--len L] [--reps N] [--fp32]
 *
 * --random: T5-XXL's encoder shape (24 layers, d_model 4096, 64 heads of 64, d_ff 10240, vocab 32128;
 * --config tiny for a 2-layer check) with random weights, B prompts of L = 226 tokens (default B 1).
 * Device weights are bf16 (--fp32: fp32, TF32 GEMMs). Prints the first encode (weights generated,
 * converted and uploaded, then encoded), the best of N encodes with the weights kept on the device,
 * the peak of the backend's allocations, and the device bytes left after an encode in the default
 * mode (weights freed after each encode: 0 expected). Exits 77 with "skip: no CUDA device visible"
 * when CUDA is asked for and absent.
 *
 * Folder mode:
 * DIR holds text_encoder/ (any config), bench_ids.safetensors (`ids` (B, L) int64) and optionally
 * bench_out.safetensors (`out` (B, L, d_model), the reference's output). Written by
 * `tests/reference/gen_t5.py --bench DIR`; tests/bench/bench_t5_vs_ref.sh runs both sides.
 * Prints one line per mode; the cache is off so every repetition computes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kernels/k.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#endif
#include "worker/model/safetensors.h"
#include "worker/model/t5.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int read_ids(const char *dir, int32_t **ids, int *B, int *L)
{
    char path[1024], err[256];
    wrk_st_t *st = NULL;
    snprintf(path, sizeof path, "%s/bench_ids.safetensors", dir);
    if (wrk_st_open(path, &st, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    const wrk_st_tensor_t *t = wrk_st_find(st, "ids");
    int64_t *tmp = t && t->ndim == 2 ? malloc((size_t)t->numel * sizeof *tmp) : NULL;
    int rc = -1;
    if (tmp && !wrk_st_read_i64(st, "ids", 2, t->shape, tmp, t->numel, err, sizeof err) &&
        (*ids = malloc((size_t)t->numel * sizeof **ids))) {
        for (int64_t i = 0; i < t->numel; i++) (*ids)[i] = (int32_t)tmp[i];
        *B = (int)t->shape[0];
        *L = (int)t->shape[1];
        rc = 0;
    } else {
        fprintf(stderr, "%s: no readable (B, L) tensor `ids`\n", path);
    }
    free(tmp);
    wrk_st_close(&st);
    return rc;
}

/* max |out − ref| / max |ref| against DIR/bench_out.safetensors, or -1 when absent. */
static double ref_error(const char *dir, const float *out, long n)
{
    char path[1024], err[256];
    wrk_st_t *st = NULL;
    double e = 0, m = 0;
    snprintf(path, sizeof path, "%s/bench_out.safetensors", dir);
    if (wrk_st_open(path, &st, err, sizeof err)) return -1;
    float *ref = malloc((size_t)n * sizeof *ref);
    if (!ref || wrk_st_read_f32(st, "out", 0, NULL, ref, n, err, sizeof err)) {
        free(ref);
        wrk_st_close(&st);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        e = fmax(e, fabs((double)out[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    free(ref);
    wrk_st_close(&st);
    return m > 0 ? e / m : e;
}

static int bench_mode(const char *dir, int stream, const int32_t *ids, int B, int L, int reps)
{
    wrk_t5_opts_t o = { .stream_weights = stream, .cache_entries = -1 };
    wrk_t5_t *t5 = NULL;
    char err[512], line[256];
    double t0 = now_ms(), tl, best = INFINITY;
    struct rusage ru;
    if (wrk_t5_load(dir, &o, &t5, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    tl = now_ms() - t0;
    long n = (long)B * L * wrk_t5_config(t5)->d_model;
    float *out = malloc((size_t)n * sizeof *out);
    for (int r = 0; out && r < reps; r++) {
        t0 = now_ms();
        if (wrk_t5_encode(t5, ids, B, L, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); break; }
        best = fmin(best, now_ms() - t0);
    }
    getrusage(RUSAGE_SELF, &ru);
    wrk_t5_str(t5, line, sizeof line);
    double rel = out ? ref_error(dir, out, n) : -1;
    printf("%s\n  B=%d L=%d threads=%d: load %.0f ms, encode best of %d %.1f ms, peak RSS %.0f MiB, "
           "vs reference %s%.2e\n", line, B, L, k_threads(), tl, reps, best, ru.ru_maxrss / 1024.0,
           rel < 0 ? "(none) " : "", rel < 0 ? 0 : rel);
    free(out);
    wrk_t5_destroy(&t5);
    return isfinite(best) ? 0 : -1;
}

/* ---------------- --random ---------------- */

typedef struct {
    char device[16], config[16];
    int B, L, reps, fp32;
} rnd_args_t;

static size_t dev_bytes(const k_backend_t *kb, int peak)
{
#ifdef HAVE_CUDA
    if (kb == k_backend_cuda()) return peak ? k_cuda_bytes_peak() : k_cuda_bytes_in_use();
#endif
    (void)kb; (void)peak;
    return 0;
}

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

/* One encoder in one residency mode: keep = 1 times the first encode (upload included) and the best
 * of reps; keep = 0 runs one encode and reports what is left on the device. */
static int rnd_mode(const wrk_t5_config_t *c, const rnd_args_t *a, const k_backend_t *kb, int keep, const int32_t *ids,
                    float *out)
{
    wrk_t5_opts_t o = { .cache_entries = -1, .kb = kb, .keep_device = keep, .device_fp32 = a->fp32 };
    wrk_t5_t *t5 = NULL;
    char err[512], line[300];
    double t0 = now_ms(), best = INFINITY;
    size_t base = dev_bytes(kb, 0);
    if (wrk_t5_new_random(c, 42, &o, &t5, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    wrk_t5_str(t5, line, sizeof line);
    printf("%s\n", line);
    int rc = -1;
#ifdef HAVE_CUDA
    if (kb == k_backend_cuda()) k_cuda_reset_peak();
#endif
    if (wrk_t5_encode(t5, ids, a->B, a->L, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
    printf("  B=%d L=%d: first encode (weights generated, converted, uploaded) %.1f ms\n", a->B, a->L, now_ms() - t0);
    for (int r = 0; keep && r < a->reps; r++) {
        t0 = now_ms();
        if (wrk_t5_encode(t5, ids, a->B, a->L, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
        best = fmin(best, now_ms() - t0);
    }
    if (keep) {
        double flop = 2.0 * a->B * a->L * c->num_layers *
                      ((double)4 * c->d_model * c->num_heads * c->d_kv + 3.0 * c->d_model * c->d_ff);
        printf("  encode with resident weights: best of %d %.2f ms (%.1f TFLOP/s in the GEMMs), backend allocations "
               "peak %.2f GiB\n", a->reps, best, flop / best * 1e-9, dev_bytes(kb, 1) / 1073741824.0);
        wrk_t5_release_device(t5);
    }
    printf("  device bytes held after %s: %zu (before the encoder: %zu)\n",
           keep ? "wrk_t5_release_device" : "the encode (freed after each encode)", dev_bytes(kb, 0), base);
    rc = dev_bytes(kb, 0) == base ? 0 : -1;
out:
    wrk_t5_destroy(&t5);
    return rc;
}

static int run_random(const rnd_args_t *a)
{
    wrk_t5_config_t xxl = { 32128, 4096, 64, 64, 10240, 24, 32, 128, 1e-6 };
    wrk_t5_config_t tiny = { 1000, 128, 32, 4, 256, 2, 32, 128, 1e-6 };
    const wrk_t5_config_t *c = !strcmp(a->config, "tiny") ? &tiny : &xxl;
    const k_backend_t *kb = pick_device(a->device);
    if (!kb) return strcmp(a->device, "cuda") ? 2 : 77;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)a->B * a->L);
    float *out = malloc(sizeof(float) * (size_t)a->B * a->L * c->d_model);
    if (!ids || !out) { free(ids); free(out); return 1; }
    for (long i = 0; i < (long)a->B * a->L; i++) ids[i] = (int32_t)((i * 7919 + 13) % c->vocab_size);
    int rc = rnd_mode(c, a, kb, 1, ids, out) || rnd_mode(c, a, kb, 0, ids, out);
    double s = 0;
    for (long i = 0; i < (long)a->B * a->L * c->d_model; i++) s += fabs(out[i]);
    printf("  mean |out| %.4g\n", s / ((double)a->B * a->L * c->d_model));
    free(ids); free(out);
    return rc || !isfinite(s);
}

static int random_main(int argc, char **argv)
{
    rnd_args_t a = { "cuda", "xxl", 1, 226, 3, 0 };
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(k, "--fp32")) { a.fp32 = 1; continue; }
        if (!strcmp(k, "--device")) snprintf(a.device, sizeof a.device, "%s", v);
        else if (!strcmp(k, "--config")) snprintf(a.config, sizeof a.config, "%s", v);
        else if (!strcmp(k, "--batch")) a.B = atoi(v);
        else if (!strcmp(k, "--len")) a.L = atoi(v);
        else if (!strcmp(k, "--reps")) a.reps = atoi(v);
        else { fprintf(stderr, "bench_t5 --random: unknown option %s\n", k); return 2; }
        i++;
    }
    if (a.B < 1 || a.L < 1 || a.reps < 1) { fprintf(stderr, "bench_t5 --random: bad sizes\n"); return 2; }
    return run_random(&a);
}

int main(int argc, char **argv)
{
    int32_t *ids = NULL;
    if (argc > 1 && !strcmp(argv[1], "--random")) return random_main(argc, argv);
    int B = 0, L = 0, reps = argc > 2 ? atoi(argv[2]) : 3;
    if (argc < 2 || reps < 1) { fprintf(stderr, "usage: bench_t5 DIR [REPS] [THREADS]\n"); return 2; }
    if (argc > 3) k_set_threads(atoi(argv[3]));
    if (read_ids(argv[1], &ids, &B, &L)) return 1;
    /* streamed first: peak RSS is a process-wide maximum */
    int rc = bench_mode(argv[1], 1, ids, B, L, reps) || bench_mode(argv[1], 0, ids, B, L, reps);
    free(ids);
    return rc;
}
