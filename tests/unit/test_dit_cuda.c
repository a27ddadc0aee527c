/* test_dit_cuda.c — the DiT on the CUDA backend against the CPU engine (the fp32 reference path):
 *  - every tiny parity configuration of test_dit_parity (2B sin-cos, 5B RoPE, TransPixar RGBA + LoRA,
 *    1/2/13 latent frames, batch 1/2): relative L2 <= 2e-2 (bf16 weights, the default on CUDA), and
 *    with fp32 weights (TF32 GEMMs) <= 1e-2; the max error is printed;
 *  - anchor attention (the anchor stream beside the window) and a 4-step DPM run with CFG, CUDA vs CPU;
 *  - determinism: two forwards on one model, and two loads, give identical bytes;
 *  - tensor parallelism: more ranks than visible GPUs is refused with a clear error; with 2+ GPUs a
 *    tp-2 NCCL forward is compared too;
 *  - out of memory: an absurd alloc is NULL with k_cuda_oom() and "out of memory"; with the GPU filled
 *    (down to 256-byte chunks) a forward that needs a bigger workspace fails with "out of memory" and
 *    wrk_dit_oom() = 1, a load fails with "out of memory" and leaves no device bytes, and after the
 *    memory is given back a new load works and the first model works again, same bytes.
 * Needs a GPU: exits 77 with "skip: no CUDA device visible" without one (or without nvcc at build).
 * Run from the repository root (ops/gpu-run.sh parity does).
 */
#ifndef HAVE_CUDA
#include <stdio.h>
int main(void) { printf("skip: no CUDA device visible (built without nvcc)\n"); return 77; }
#else
#include "tests/unit/dit_device_cases.h"

#include <time.h>

#include "kernels/k_cuda.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *run_dev(const dc_case_t *c, k_device_t dev, int bf16, int tp)
{
    wrk_dit_opts_t o;
    dc_opts(c, &o);
    o.device = dev;
    o.bf16_weights = bf16;
    o.tp = tp;
    return dc_run(c, &o);
}

static void report(const char *what, const float *got, const float *ref, long n)
{
    double mx = 0;
    for (long i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref[i]));
    fprintf(stderr, "     %-34s rel L2 %.3e  max err %.3e  (max |cpu| %.3g)\n", what, dc_rel_l2(got, ref, n),
            dc_max_err(got, ref, n), mx);
}

/* Every golden case: CUDA (bf16 weights, and fp32 weights) vs CPU. */
static void test_cases(void)
{
    for (int k = 0; k < DC_NCASES; k++) {
        dc_case_t c;
        char what[96];
        if (dc_load(DC_CASES[k], &c) != 0) { CHECKF(0, "case %s", DC_CASES[k]); continue; }
        long n = dc_numel(&c);
        float *cpu = run_dev(&c, K_DEVICE_CPU, -1, 1), *g16 = run_dev(&c, K_DEVICE_CUDA, -1, 1),
              *g32 = run_dev(&c, K_DEVICE_CUDA, 0, 1);
        CHECKF(cpu && g16 && g32, "%s: forward", c.name);
        if (cpu && g16 && g32) {
            snprintf(what, sizeof what, "%s cuda bf16w", c.name);
            report(what, g16, cpu, n);
            CHECKF(dc_rel_l2(g16, cpu, n) <= 2e-2, "%s: rel L2 %g", what, dc_rel_l2(g16, cpu, n));
            snprintf(what, sizeof what, "%s cuda fp32w", c.name);
            report(what, g32, cpu, n);
            CHECKF(dc_rel_l2(g32, cpu, n) <= 1e-2, "%s: rel L2 %g", what, dc_rel_l2(g32, cpu, n));
        }
        free(cpu); free(g16); free(g32);
        dc_free(&c);
    }
}

/* Two forwards on one model and a second load: identical bytes. */
static void test_determinism(void)
{
    dc_case_t c;
    char err[1024] = "";
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    if (dc_load("5b_transpixar_f13", &c) != 0) { CHECK(0); return; }
    long n = dc_numel(&c);
    dc_opts(&c, &o);
    o.device = K_DEVICE_CUDA;
    CHECKF(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0, "%s", err);
    if (m) {
        const wrk_dit_info_t *i = wrk_dit_info(m);
        CHECK_STR(i->backend, "cuda");
        CHECK(i->gpus == 1 && i->bf16_weights == 1 && i->device_memory == 1);
        double t0 = now_s();
        float *a = dc_forward(m, &c);
        double t1 = now_s();
        float *b = dc_forward(m, &c);
        fprintf(stderr, "     forward %s on cuda: first %.1f ms, second %.1f ms\n", c.name, (t1 - t0) * 1e3,
                (now_s() - t1) * 1e3);
        float *d = run_dev(&c, K_DEVICE_CUDA, -1, 1);
        CHECK(a && b && d);
        if (a && b) CHECKF(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "repeat differs: max %g", dc_max_err(a, b, n));
        if (a && d) CHECKF(memcmp(a, d, (size_t)n * sizeof(float)) == 0, "reload differs: max %g", dc_max_err(a, d, n));
        free(a); free(b); free(d);
    }
    wrk_dit_destroy(&m);
    dc_free(&c);
}

/* The two runs: the CPU engine (k = 0) and CUDA (k = 1). */
static void pick_cuda(wrk_dit_opts_t *o, int k) { o->device = k ? K_DEVICE_CUDA : K_DEVICE_CPU; }

/* Anchor forward (window + anchor stream with shared K/V) on CUDA vs CPU. */
static void test_anchor(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    long n, na;
    float *y[2], *ya[2];
    dc_anchor_both(&c, pick_cuda, y, ya, &n, &na);
    report("anchor: window", y[1], y[0], n);
    report("anchor: anchor stream", ya[1], ya[0], na);
    CHECK(dc_rel_l2(y[1], y[0], n) <= 2e-2 && dc_rel_l2(ya[1], ya[0], na) <= 2e-2);
    for (int k = 0; k < 2; k++) { free(y[k]); free(ya[k]); }
    dc_free(&c);
}

/* 4 DPM steps with CFG over the DiT, CUDA vs CPU. */
static void test_sampler(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    float *x[2];
    dc_sample_both(&c, 4, pick_cuda, x);
    long n = dc_numel(&c) / c.B;
    CHECK(x[0] && x[1]);
    if (x[0] && x[1]) {
        report("sampler: 4 DPM steps, CFG", x[1], x[0], n);
        CHECK(dc_rel_l2(x[1], x[0], n) <= 3e-2);
    }
    free(x[0]); free(x[1]);
    dc_free(&c);
}

/* More ranks than GPUs: a clear refusal. With 2+ GPUs: tp 2 over NCCL vs CPU. */
static void test_tp(void)
{
    dc_case_t c;
    char err[1024] = "";
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    int ngpu = k_cuda_device_count();
    if (dc_load("5b_transpixar_f13", &c) != 0) { CHECK(0); return; }
    dc_opts(&c, &o);
    o.device = K_DEVICE_CUDA;
    o.tp = ngpu + 1;
    CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == -1 && m == NULL);
    CHECKF(strstr(err, "GPUs (one per rank)") != NULL, "%s", err);
    fprintf(stderr, "     tp %d on %d GPU(s): %s\n", ngpu + 1, ngpu, err);
    if (ngpu >= 2) {
        long n = dc_numel(&c);
        float *cpu = run_dev(&c, K_DEVICE_CPU, -1, 1), *g2 = run_dev(&c, K_DEVICE_CUDA, -1, 2);
        CHECK(cpu && g2);
        if (cpu && g2) { report("tp 2 over NCCL", g2, cpu, n); CHECK(dc_rel_l2(g2, cpu, n) <= 2e-2); }
        free(cpu); free(g2);
    }
    dc_free(&c);
}

/* Holds device memory until even a 256-byte alloc fails, in chunks shrinking by 4 from 1 GiB: the
 * driver serves small requests from partly used pages, so a filler that stops at 1 MiB leaves room
 * for the tiny model's small tensors (the first H100 run loaded it on a "full" GPU that way). */
typedef struct { void **p; int n, cap; } hog_t;

static void hog_fill(hog_t *h)
{
    const k_backend_t *kb = k_backend_cuda();
    for (size_t chunk = (size_t)1 << 30; chunk >= 256; chunk >>= 2)
        for (;;) {
            if (h->n == h->cap) {
                int cap = h->cap ? 2 * h->cap : 4096;
                void **q = cap <= (1 << 22) ? realloc(h->p, (size_t)cap * sizeof *q) : NULL;
                if (!q) return;
                h->p = q;
                h->cap = cap;
            }
            if (!(h->p[h->n] = kb->alloc(chunk))) break;
            h->n++;
        }
}

static void hog_free(hog_t *h)
{
    for (int i = 0; i < h->n; i++) k_backend_cuda()->free(h->p[i]);
    free(h->p);
    *h = (hog_t){ 0 };
}

/* With the GPU full (filled again after the failed forward, which gave back its old workspace before
 * asking for the bigger one): a load fails with "out of memory", leaves no device bytes behind, and
 * after the filler is freed a load succeeds and gives the first model's bytes. */
static void oom_load(const dc_case_t *c, const wrk_dit_opts_t *o, hog_t *h, const float *ref)
{
    char err[1024] = "";
    wrk_dit_t *m2 = NULL;
    long n = dc_numel(c);
    hog_fill(h);
    void *probe = k_backend_cuda()->alloc(256);
    CHECKF(probe == NULL, "a 256-byte alloc still succeeds with %d chunks held", h->n);
    k_backend_cuda()->free(probe);
    size_t held = k_cuda_bytes_in_use();
    CHECK(wrk_dit_load(c->model, o, &m2, err, sizeof err) == -1 && m2 == NULL);
    CHECKF(strstr(err, "out of memory") != NULL, "load: %s", err);
    fprintf(stderr, "     load with the GPU full: %s\n", err);
    CHECKF(k_cuda_bytes_in_use() == held, "the failed load left %lld bytes", (long long)(k_cuda_bytes_in_use() - held));
    wrk_dit_destroy(&m2);
    hog_free(h);
    CHECKF(wrk_dit_load(c->model, o, &m2, err, sizeof err) == 0, "load after the memory came back: %s", err);
    float *y2 = m2 ? dc_forward(m2, c) : NULL;
    CHECK(y2 && memcmp(y2, ref, (size_t)n * sizeof(float)) == 0);
    free(y2);
    wrk_dit_destroy(&m2);
}

static void test_oom(void)
{
    const k_backend_t *kb = k_backend_cuda();
    void *p = kb->alloc((size_t)1 << 50);
    CHECK(p == NULL && k_cuda_oom() == 1);
    CHECKF(strstr(k_error(), "out of memory") != NULL, "%s", k_error());
    dc_case_t c;
    char err[1024] = "";
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    dc_opts(&c, &o);
    o.device = K_DEVICE_CUDA;
    CHECKF(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0, "%s", err);
    float *ref = m ? dc_forward(m, &c) : NULL;
    CHECK(ref != NULL);
    if (m && ref) {
        long n = dc_numel(&c);
        int H = 64, W = 64;                            /* a workspace of ~66 MiB: more than is left */
        long nb = (long)c.B * c.F * c.C * H * W;
        float *big = calloc((size_t)nb, sizeof(float)), *yb = malloc((size_t)nb * sizeof(float));
        float *y = malloc((size_t)n * sizeof(float));
        size_t base = k_cuda_bytes_in_use();
        hog_t h = { 0 };
        hog_fill(&h);
        fprintf(stderr, "     GPU filled: %d chunks held, %.1f GiB in use by the backend\n", h.n,
                (double)k_cuda_bytes_in_use() / (1 << 30));
        int rc = wrk_dit_forward(m, c.B, c.F, H, W, big, c.L, c.text, c.t, yb, err, sizeof err);
        CHECK(rc == -1 && wrk_dit_oom(m));
        CHECKF(strstr(err, "out of memory") != NULL, "forward: %s", err);
        fprintf(stderr, "     forward with the GPU full: %s\n", err);
        oom_load(&c, &o, &h, ref);
        CHECKF(k_cuda_bytes_in_use() <= base, "%lld bytes more than before the filler",
               (long long)(k_cuda_bytes_in_use() - base));
        rc = wrk_dit_forward(m, c.B, c.F, c.H, c.W, c.x, c.L, c.text, c.t, y, err, sizeof err);
        CHECKF(rc == 0 && !wrk_dit_oom(m), "after the memory came back: %s", err);
        CHECK(rc == 0 && memcmp(y, ref, (size_t)n * sizeof(float)) == 0);
        free(big); free(yb); free(y);
    }
    free(ref);
    wrk_dit_destroy(&m);
    dc_free(&c);
}

int main(void)
{
    int n = k_cuda_device_count();
    if (n == 0) { printf("skip: no CUDA device visible\n"); return 77; }
    T_RUN(test_cases);
    T_RUN(test_determinism);
    T_RUN(test_anchor);
    T_RUN(test_sampler);
    T_RUN(test_tp);
    T_RUN(test_oom);
    wrk_dit_thread_done();
    T_DONE();
}
#endif
