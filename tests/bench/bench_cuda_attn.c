/* bench_cuda_attn.c — the attention kernel lab: every version of the CUDA fused attention
 * (v1 SIMT, v2 WMMA, v3 mma.sync, v4 bf16 pre-pass + mma.sync; k_cuda_attention_with) checked against the CPU op (the spec) on a
 * small case with the text→alpha bias and an extra key list, then timed at the real CogVideoX-5B
 * RGBA shape (B 2, 48 heads of 64, S 35,326 joint tokens, text→alpha bias -1) with CUDA events:
 * median of --reps, TFLOP/s at 4·B·H·64·Sq·Sk. The winner is what AUTO should pick (README).
 * Needs a GPU; exits 77 without one. Never run by `make test`. H100 figures: BENCHMARKS.md (cuda) and
 * kernels/cuda/README.md.
 *
 * usage: bench_cuda_attn [--seq 35326] [--text 226] [--heads 48] [--batch 2] [--reps 5] [--v1 0|1]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HAVE_CUDA
int main(void) { printf("bench_cuda_attn: built without nvcc; needs the CUDA backend and a GPU\n"); return 77; }
#else
#include <cuda_runtime.h>

#include "kernels/k.h"
#include "kernels/k_cuda.h"

static const char *const names[] = { "auto", "v1 simt", "v2 wmma", "v3 mma", "v4 mma-b", "v5 fa2" };
enum { NK = 6 };   /* versions 1..NK-1 */

static float *hrand(size_t n, uint64_t *s)
{
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; p && i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((*s >> 40) * (1.0 / 16777216.0)) * 3.0f - 1.5f;
    }
    return p;
}

/* Small case: every version against k_cpu_attention. Returns the number of failures. */
static int check(const k_backend_t *kb)
{
    int B = 2, H = 2, w = H * 64, S = 300, L = 40, Nf = 130, Sk2 = 50, bad = 0;
    size_t n = (size_t)B * S * 3 * w, n2 = (size_t)B * Sk2 * w, no = (size_t)B * S * w;
    uint64_t seed = 7;
    float *qkv = hrand(n, &seed), *kv2 = hrand(2 * n2, &seed), *ref = malloc(sizeof(float) * no), *got = malloc(sizeof(float) * no);
    float *dq = kb->alloc(4 * n), *d2 = kb->alloc(8 * n2), *dout = kb->alloc(4 * no);
    if (!qkv || !kv2 || !ref || !got || !dq || !d2 || !dout) { fprintf(stderr, "check: out of memory\n"); return 1; }
    kb->upload(dq, qkv, 4 * n);
    kb->upload(d2, kv2, 8 * n2);
    k_attn_t a = { .B = B, .H = H, .head_dim = 64, .Sq = S, .Sk = S, .Sk2 = Sk2,
                   .q = qkv, .q_bs = (long)S * 3 * w, .q_ld = 3 * w, .k = qkv + w, .k_bs = (long)S * 3 * w, .k_ld = 3 * w,
                   .v = qkv + 2 * w, .v_bs = (long)S * 3 * w, .v_ld = 3 * w, .k2 = kv2, .k2_bs = (long)Sk2 * w, .k2_ld = w,
                   .v2 = kv2 + n2, .v2_bs = (long)Sk2 * w, .v2_ld = w, .o = ref, .o_bs = (long)S * w, .o_ld = w,
                   .scale = 0.125f, .bias = -1.0f, .q0 = 0, .q1 = L, .k0 = L + Nf, .k1 = L + 2 * Nf };
    k_cpu_attention(&a);
    k_attn_t d = a;
    d.q = dq; d.k = dq + w; d.v = dq + 2 * w; d.k2 = d2; d.v2 = d2 + n2; d.o = dout;
    for (int k = 1; k < NK; k++) {
        char err[256] = "";
        double num = 0, den = 0;
        memset(got, 0xff, sizeof(float) * no);
        if (k_cuda_attention_with(&d, (k_cuda_attn_kind_t)k) || kb->download(got, dout, 4 * no) || kb->sync(err, sizeof err)) {
            printf("%-8s check: FAILED to run: %s %s\n", names[k], k_error(), err);
            bad++;
            continue;
        }
        for (size_t i = 0; i < no; i++) { double e = (double)got[i] - ref[i]; num += e * e; den += (double)ref[i] * ref[i]; }
        double rel = sqrt(num / den);
        printf("%-8s check vs CPU: rel L2 err %.2e %s\n", names[k], rel, rel < 1.5e-2 ? "ok" : "FAILED");
        bad += !(rel < 1.5e-2);
    }
    kb->free(dq); kb->free(d2); kb->free(dout);
    free(qkv); free(kv2); free(ref); free(got);
    return bad;
}

static int cmp_f(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }

int main(int argc, char **argv)
{
    int S = 35326, L = 226, H = 48, B = 2, reps = 5, v1 = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--seq")) S = v; else if (!strcmp(argv[i], "--text")) L = v;
        else if (!strcmp(argv[i], "--heads")) H = v; else if (!strcmp(argv[i], "--batch")) B = v;
        else if (!strcmp(argv[i], "--reps")) reps = v; else if (!strcmp(argv[i], "--v1")) v1 = v;
        else { fprintf(stderr, "bench_cuda_attn: unknown option %s\n", argv[i]); return 2; }
    }
    if (S < 2 || L < 0 || L >= S || (S - L) % 2 || H < 1 || B < 1 || reps < 1 || reps > 50) { fprintf(stderr, "bad sizes\n"); return 2; }
    if (k_cuda_device_count() < 1) { printf("bench_cuda_attn: no CUDA device visible; needs an NVIDIA GPU (sm_80/sm_90)\n"); return 77; }
    char err[256] = "";
    struct cudaDeviceProp prop;
    if (k_cuda_bind(0, err, sizeof err) || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) { fprintf(stderr, "%s\n", err); return 1; }
    const k_backend_t *kb = k_backend_cuda();
    int bad = check(kb);
    int w = H * 64, Nf = (S - L) / 2;
    size_t n = (size_t)B * S * 3 * w, no = (size_t)B * S * w;
    float *qkv = kb->alloc(4 * n), *o = kb->alloc(4 * no);
    if (!qkv || !o || k_cuda_fill_uniform(qkv, n, 11, 1.5f)) { fprintf(stderr, "alloc: %s\n", k_error()); return 1; }
    k_attn_t a = { .B = B, .H = H, .head_dim = 64, .Sq = S, .Sk = S, .q = qkv, .q_bs = (long)S * 3 * w, .q_ld = 3 * w,
                   .k = qkv + w, .k_bs = (long)S * 3 * w, .k_ld = 3 * w, .v = qkv + 2 * w, .v_bs = (long)S * 3 * w,
                   .v_ld = 3 * w, .o = o, .o_bs = (long)S * w, .o_ld = w, .scale = 0.125f, .bias = -1.0f,
                   .q0 = 0, .q1 = L, .k0 = L + Nf, .k1 = L + 2 * Nf };
    double flop = 4.0 * B * H * 64 * (double)S * S;
    cudaStream_t st = (cudaStream_t)k_cuda_stream();
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    printf("device %s; B %d, H %d, S %d (text %d), %.2f TFLOP per call\n| version | ms (median of %d) | TFLOP/s |\n|---|---|---|\n",
           prop.name, B, H, S, L, flop / 1e12, reps);
    for (int k = v1 ? 1 : 2; k < NK; k++) {
        float ms[50];
        for (int r = -1; r < reps; r++) {
            cudaEventRecord(e0, st);
            if (k_cuda_attention_with(&a, (k_cuda_attn_kind_t)k)) { fprintf(stderr, "%s: %s\n", names[k], k_error()); return 1; }
            cudaEventRecord(e1, st);
            if (cudaEventSynchronize(e1) != cudaSuccess || kb->sync(err, sizeof err)) { fprintf(stderr, "%s: %s\n", names[k], err); return 1; }
            if (r >= 0) cudaEventElapsedTime(&ms[r], e0, e1);
        }
        qsort(ms, (size_t)reps, sizeof *ms, cmp_f);
        printf("| %s | %.2f | %.1f |\n", names[k], ms[reps / 2], flop / (ms[reps / 2] * 1e-3) / 1e12);
    }
    /* the fast versions against v4 at the real shape (fast paths, many tiles) */
    float *h4 = malloc(sizeof(float) * no), *h5 = malloc(sizeof(float) * no);
    if (!h4 || !h5 || k_cuda_attention_with(&a, K_CUDA_ATTN_MMA64B) || kb->download(h4, o, 4 * no) || kb->sync(err, sizeof err)) {
        fprintf(stderr, "full-size compare: %s %s\n", k_error(), err);
        return 1;
    }
    for (int k = K_CUDA_ATTN_FA2; k < NK; k++) {
        double num = 0, den = 0;
        if (k_cuda_attention_with(&a, (k_cuda_attn_kind_t)k) || kb->download(h5, o, 4 * no) || kb->sync(err, sizeof err)) {
            fprintf(stderr, "full-size compare %s: %s %s\n", names[k], k_error(), err);
            return 1;
        }
        for (size_t i = 0; i < no; i++) { double e = (double)h5[i] - h4[i]; num += e * e; den += (double)h4[i] * h4[i]; }
        /* v5 rescales lazily, so its P rounds to bf16 at other magnitudes than v4's: bf16-level differences */
        printf("full size: %s vs v4 rel L2 %.2e %s\n", names[k], sqrt(num / den), sqrt(num / den) < 1e-2 ? "ok" : "FAILED");
        bad += !(sqrt(num / den) < 1e-2);
    }
    free(h4);
    free(h5);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    kb->free(qkv);
    kb->free(o);
    k_cuda_unbind();
    return bad ? 1 : 0;
}
#endif
