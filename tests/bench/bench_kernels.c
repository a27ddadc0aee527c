/* bench_kernels.c — throughput of the CPU ops at DiT-like shapes: the fused attention (GFLOP/s
 * counted as 4·Sq·Sk·head_dim per head) next to the GEMM (2·M·N·K) that produces q/k/v and the FFN,
 * on 1 and 2 threads; plus layer norm, GELU and RoPE in GB/s-ish terms (elements per second).
 * Prints a Markdown table for BENCHMARKS.md. Not a test: it checks nothing and is never run by
 * `make test`.
 *
 * usage: bench_kernels [--seq S] [--dim D] [--heads H] [--text T] [--reps N] [--threads "1 2"]
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int seq, dim, heads, text, reps;
    int threads[4], nthreads;
} bench_opt_t;

static double now_(void) { return omp_get_wtime(); }

/* CPU seconds of the whole process (all threads): on a shared machine, work / CPU time shows the
 * per-core efficiency even when wall time is stretched by other processes. */
static double cpu_(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct { double wall, cpu; } bench_time_t;

static void keep_best_(bench_time_t *best, double w0, double c0)
{
    double w = now_() - w0, c = cpu_() - c0;
    if (w < best->wall) { best->wall = w; best->cpu = c; }
}

static float *buf_(long n)
{
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (long i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* Best time of reps runs of one GEMM y (M, N) = x (M, K)·wᵀ + b. */
/* Best time of reps runs of one GEMM y (M, N) = x (M, K)·wᵀ + b (bf16: weights stored as bf16). */
static bench_time_t time_gemm_(int M, int N, int K, k_act_t act, int reps, int bf16)
{
    float *x = buf_((long)M * K), *w = buf_((long)N * K), *b = buf_(N), *y = buf_((long)M * N);
    uint16_t *wh = malloc(sizeof(uint16_t) * (size_t)N * K);
    for (long i = 0; wh && i < (long)N * K; i++) { uint32_t u; memcpy(&u, &w[i], 4); wh[i] = (uint16_t)(u >> 16); }
    bench_time_t best = { 1e30, 0 };
    for (int r = 0; r < reps && wh; r++) {
        double t0 = now_(), c0 = cpu_();
        if (bf16) k_cpu_gemm_bf16w(y, N, x, K, wh, K, b, M, N, K, 1.0f, 0.0f, act);
        else      k_cpu_gemm(y, N, x, K, w, K, b, M, N, K, 1.0f, 0.0f, act);
        keep_best_(&best, t0, c0);
    }
    free(wh);
    free(x); free(w); free(b); free(y);
    return best;
}

/* Best time of the joint attention over [text | rgb | alpha] with the -1 text→alpha bias, q/k/v
 * as slices of one fused (S, 3D) buffer (how the DiT stores them). */
static bench_time_t time_attn_(const bench_opt_t *o, int reps, int blas)
{
    int S = o->seq, D = o->dim, hd = 64, H = o->heads, nv = (S - o->text) / 2;
    float *qkv = buf_((long)S * 3 * D), *out = buf_((long)S * D);
    k_attn_t a = { .B = 1, .H = H, .head_dim = hd, .Sq = S, .Sk = S,
                   .q = qkv, .q_ld = 3 * D, .k = qkv + D, .k_ld = 3 * D, .v = qkv + 2 * D, .v_ld = 3 * D,
                   .o = out, .o_ld = D, .scale = 0.125f, .bias = -1.0f,
                   .q0 = 0, .q1 = o->text, .k0 = o->text + nv, .k1 = S };
    bench_time_t best = { 1e30, 0 };
    for (int r = 0; r < reps; r++) {
        double t0 = now_(), c0 = cpu_();
        if (blas ? k_cpu_attention_blas_(&a) : k_cpu_attention(&a)) { fprintf(stderr, "%s\n", k_error()); exit(1); }
        keep_best_(&best, t0, c0);
    }
    free(qkv); free(out);
    return best;
}

static bench_time_t time_small_ops_(const bench_opt_t *o, int which, int reps)
{
    int S = o->seq, D = o->dim;
    float *x = buf_((long)S * D), *y = buf_((long)S * D), *w = buf_(D), *c = buf_((long)S * 64), *s = buf_((long)S * 64);
    bench_time_t best = { 1e30, 0 };
    for (int r = 0; r < reps; r++) {
        double t0 = now_(), c0 = cpu_();
        if (which == 0) k_cpu_layernorm(y, D, x, D, S, 1, D, w, w, 1e-5f);
        else if (which == 1) k_cpu_gelu_tanh(y, x, (long)S * D);
        else k_cpu_rope(x, D, 0, 1, S, D / 64, 64, c, s, 64);
        keep_best_(&best, t0, c0);
    }
    free(x); free(y); free(w); free(c); free(s);
    return best;
}

static void run_(const bench_opt_t *o, int nt)
{
    int S = o->seq, D = o->dim;
    k_set_threads(nt);
    struct { const char *name; int M, N, K; k_act_t act; int bf16; } g[] = {
        { "gemm qkv (S, 3D, D)", S, 3 * D, D, K_ACT_NONE, 0 },
        { "gemm ff1+gelu (S, 4D, D)", S, 4 * D, D, K_ACT_GELU_TANH, 0 },
        { "gemm ff2 (S, D, 4D)", S, D, 4 * D, K_ACT_NONE, 0 },
        { "gemm ff2, bf16 weights (S, D, 4D)", S, D, 4 * D, K_ACT_NONE, 1 },
    };
    for (unsigned i = 0; i < sizeof g / sizeof g[0]; i++) {
        bench_time_t t = time_gemm_(g[i].M, g[i].N, g[i].K, g[i].act, o->reps, g[i].bf16);
        double fl = 2.0 * g[i].M * g[i].N * g[i].K;
        printf("| %d | %s | %.3f s | %.1f GFLOP/s | %.1f GFLOP/CPU-s |\n", nt, g[i].name, t.wall,
               fl / t.wall / 1e9, fl / t.cpu / 1e9);
        fflush(stdout);
    }
    double fl = 4.0 * S * (double)S * 64 * o->heads;
    for (int blas = 0; blas < 2; blas++) {
        bench_time_t ta = time_attn_(o, o->reps, blas);
        printf("| %d | attention S=%d H=%d d=64, bias -1 (%s engine) | %.3f s | %.1f GFLOP/s | %.1f GFLOP/CPU-s |\n",
               nt, S, o->heads, blas ? "blas" : k_vmath_()->name, ta.wall, fl / ta.wall / 1e9, fl / ta.cpu / 1e9);
        fflush(stdout);
    }
    const char *names[3] = { "layernorm (S, D)", "gelu_tanh (S·D)", "rope (S, D)" };
    for (int i = 0; i < 3; i++) {
        bench_time_t t = time_small_ops_(o, i, o->reps);
        printf("| %d | %s | %.4f s | %.2f Gelem/s | %.2f Gelem/CPU-s |\n", nt, names[i], t.wall,
               (double)S * D / t.wall / 1e9, (double)S * D / t.cpu / 1e9);
    }
    fflush(stdout);
    k_set_threads(0);
}

static int parse_(int argc, char **argv, bench_opt_t *o)
{
    *o = (bench_opt_t){ .seq = 12000, .dim = 768, .heads = 12, .text = 226, .reps = 2,
                        .threads = { 1, 2 }, .nthreads = 2 };
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seq")) o->seq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) o->dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--heads")) o->heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--text")) o->text = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) o->reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            o->nthreads = sscanf(argv[i + 1], "%d %d %d %d", &o->threads[0], &o->threads[1],
                                 &o->threads[2], &o->threads[3]);
        else return -1;
    }
    if (o->seq < 2 || o->dim < 64 || o->dim % 64 || o->heads < 1 || o->heads * 64 > o->dim ||
        o->text < 0 || o->text >= o->seq || o->reps < 1 || o->nthreads < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    bench_opt_t o;
    if (parse_(argc, argv, &o)) {
        fprintf(stderr, "usage: %s [--seq S] [--dim D (multiple of 64)] [--heads H] [--text T] [--reps N] [--threads \"1 2\"]\n", argv[0]);
        return 2;
    }
    printf("S=%d D=%d heads=%d text=%d, best of %d\n\n", o.seq, o.dim, o.heads, o.text, o.reps);
    printf("| threads | op | wall time | throughput (wall) | per CPU-second |\n|---|---|---|---|---|\n");
    for (int i = 0; i < o.nthreads; i++) run_(&o, o.threads[i]);
    return 0;
}
