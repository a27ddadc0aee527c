/* bench_cuda_step.c — one denoising step of CogVideoX-5B TransPixar RGBA on the CUDA backend at real
 * shapes with random bf16 weights (weights do not change speed): 49 frames 480×720 → 13 latent
 * frames of 60×90 per stream, RGB + alpha streams, 226 text tokens → joint sequence 35,326, CFG
 * batch 2, D 3072, 48 heads of 64, FFN 12288, 42 blocks, LoRA rank 128 on the alpha rows of
 * q/k/v/out, the text→alpha rule as bias -1 (what the released reference computes).
 * Each block runs the op sequence of worker/model/dit_fwd.c through the k_backend_t table: adaLN
 * GEMM, LayerNorm + modulate (text / video chunks), fused q|k|v GEMM + LoRA, per-head q/k LayerNorm,
 * RoPE on the RGB and alpha ranges, fused attention, to_out + LoRA, gated residual, LayerNorm +
 * modulate, FFN (GELU in the epilogue), gated residual. TP = 1 (no all-reduce).
 * Prints: time per step (median of --steps), attention alone (TFLOP/s at 4·B·H·64·S² per call),
 * GEMM share, whole-step MFU against --peak TFLOP/s (989 = H100 SXM dense bf16), backend peak
 * bytes, device memory used, and the memory plan beside it.
 * Needs: an NVIDIA GPU (sm_80 or sm_90) with >= 24 GB free at the full size (the plan says ~18 GiB);
 * smaller --frames/--layers runs fit smaller cards. Exits 77 when no GPU is visible. Never run by
 * `make test`. H100 figures beside the PyTorch reference: BENCHMARKS.md (cuda).
 *
 * usage: bench_cuda_step [--layers 42] [--frames 13] [--lh 60] [--lw 90] [--steps 3] [--peak 989]
 *                        [--attn auto|v1|v2|v3|v4|v5]   (attention version; auto = the table's choice, v5)
 *                        [--normrope auto|v1|v2]         (q/k LayerNorm + RoPE: v1 two kernels, v2 fused)
 *                        [--normmod auto|v1|v2]          (adaLN LayerNorm + modulate: v1 two kernels, v2 fused)
 * Before the steps, the labs of the two fused ops: v1 and v2 of norm_rope on one block's q and k and of
 * norm_modulate on h -> n (median of 20 calls each, GB/s at one read + one write) and their largest
 * difference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#ifndef HAVE_CUDA
int main(void) { printf("bench_cuda_step: built without nvcc; needs the CUDA backend and a GPU\n"); return 77; }
#else
#include <cuda_runtime.h>

#include "kernels/k.h"
#include "kernels/k_cuda.h"

enum { D = 3072, HEADS = 48, HD = 64, FF = 12288, TD = 512, L = 226, R = 128 };

typedef struct {
    uint16_t *ada1, *ada2;    /* (6D, TD) */
    uint16_t *qkv;            /* (3D, D) */
    uint16_t *out;            /* (D, D) */
    uint16_t *ff1, *ff2;      /* (FF, D), (D, FF) */
    uint16_t *la[4], *lb[4];  /* LoRA A (R, D), B (D, R) for q, k, v, out */
    float *b6, *b3, *bd, *bff, *lnw, *lnb, *qkw, *qkb;   /* biases and norm affines (fp32) */
} blk_t;

typedef struct {
    int layers, frames, lh, lw, steps;
    double peak;
    int B, Nf, S;
    const k_backend_t *kb;
    blk_t *blk;
    float *h, *n, *y, *qkv, *ff, *lt, *stemb, *mod, *cs, *sn;
    double attn_s, gemm_flop, attn_flop;
    k_cuda_attn_kind_t attn_kind;   /* --attn auto|v1|v2|v3|v4 */
    k_cuda_norm_rope_kind_t nr_kind; /* --normrope auto|v1|v2 */
    k_cuda_norm_mod_kind_t nm_kind;  /* --normmod auto|v1|v2 */
} bench_t;

static double now_(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define TRY(call) do { if ((call) != 0) { fprintf(stderr, "bench_cuda_step:%d: %s\n", __LINE__, k_error()); return -1; } } while (0)

static void *dalloc(bench_t *b, size_t bytes, int *fail)
{
    void *p = b->kb->alloc(bytes);
    if (!p) *fail = 1;
    return p;
}

static uint16_t *wbf(bench_t *b, size_t n, uint64_t seed, float scale, int *fail)
{
    uint16_t *p = dalloc(b, 2 * n, fail);
    if (p && k_cuda_fill_uniform_bf16(p, n, seed, scale)) *fail = 1;
    return p;
}

static float *wf(bench_t *b, size_t n, uint64_t seed, float scale, int *fail)
{
    float *p = dalloc(b, 4 * n, fail);
    if (p && k_cuda_fill_uniform(p, n, seed, scale)) *fail = 1;
    return p;
}

static int setup(bench_t *b)
{
    int fail = 0;
    size_t BS = (size_t)b->B * b->S;
    uint64_t s = 1;
    b->blk = calloc((size_t)b->layers, sizeof *b->blk);
    if (!b->blk) return -1;
    for (int i = 0; i < b->layers && !fail; i++) {
        blk_t *k = &b->blk[i];
        float ws = 0.018f;                                   /* ~1/sqrt(D): keeps activations O(1) */
        k->ada1 = wbf(b, (size_t)6 * D * TD, s++, 0.04f, &fail);
        k->ada2 = wbf(b, (size_t)6 * D * TD, s++, 0.04f, &fail);
        k->qkv = wbf(b, (size_t)3 * D * D, s++, ws, &fail);
        k->out = wbf(b, (size_t)D * D, s++, ws, &fail);
        k->ff1 = wbf(b, (size_t)FF * D, s++, ws, &fail);
        k->ff2 = wbf(b, (size_t)D * FF, s++, 0.009f, &fail);
        for (int j = 0; j < 4; j++) {
            k->la[j] = wbf(b, (size_t)R * D, s++, ws, &fail);
            k->lb[j] = wbf(b, (size_t)D * R, s++, 0.01f, &fail);
        }
        k->b6 = wf(b, 6 * D, s++, 0.1f, &fail);
        k->b3 = wf(b, 3 * D, s++, 0.1f, &fail);
        k->bd = wf(b, D, s++, 0.1f, &fail);
        k->bff = wf(b, FF, s++, 0.1f, &fail);
        k->lnw = wf(b, D, s++, 1.0f, &fail);
        k->lnb = wf(b, D, s++, 0.1f, &fail);
        k->qkw = wf(b, HD, s++, 1.0f, &fail);
        k->qkb = wf(b, HD, s++, 0.1f, &fail);
    }
    b->h = wf(b, BS * D, s++, 1.0f, &fail);
    b->n = dalloc(b, 4 * BS * D, &fail);
    b->y = dalloc(b, 4 * BS * D, &fail);
    b->qkv = dalloc(b, 4 * BS * FF, &fail);                 /* (B,S,3D) q|k|v, then (B,S,FF) */
    b->ff = b->qkv;
    b->lt = dalloc(b, 4 * (size_t)b->B * b->Nf * R, &fail);
    b->stemb = wf(b, (size_t)b->B * TD, s++, 1.0f, &fail);
    b->mod = dalloc(b, 4 * (size_t)b->B * 6 * D, &fail);
    b->cs = wf(b, (size_t)b->Nf * HD, s++, 1.0f, &fail);
    b->sn = wf(b, (size_t)b->Nf * HD, s++, 1.0f, &fail);
    char err[256] = "";
    if (fail || b->kb->sync(err, sizeof err)) {
        fprintf(stderr, "bench_cuda_step: setup: %s%s\n", k_error(), k_cuda_oom() ? " (out of device memory)" : "");
        return -1;
    }
    return 0;
}

/* LoRA delta on the alpha rows: y[alpha] += (x[alpha]·Aᵀ)·Bᵀ (scale folded into B). */
static int lora(bench_t *b, float *y, int ldy, const float *x, int ldx, const uint16_t *A, const uint16_t *Bw)
{
    long bs = (long)b->S;
    for (int bi = 0; bi < b->B; bi++) {
        const float *xa = x + (bi * bs + L + b->Nf) * ldx;
        float *ya = y + (bi * bs + L + b->Nf) * ldy;
        TRY(b->kb->gemm_bf16w(b->lt, R, xa, ldx, A, D, NULL, b->Nf, R, D, 1, 0, K_ACT_NONE));
        TRY(b->kb->gemm_bf16w(ya, ldy, b->lt, R, Bw, R, NULL, b->Nf, D, R, 1, 1, K_ACT_NONE));
        b->gemm_flop += 2.0 * 2 * b->Nf * (double)R * D;
    }
    return 0;
}

/* norm + modulate of h into n with chunk c (text uses chunk c+3 of the 6D adaLN row). */
static int norm_mod(bench_t *b, blk_t *k, int c)
{
    long bs = (long)b->S * D;
    TRY(k_cuda_norm_modulate_with(b->n, D, bs, b->h, D, bs, b->B, b->S, D, k->lnw, k->lnb, 1e-5f, L, b->mod + (c + 3) * D,
                                  b->mod + (c + 4) * D, b->mod + c * D, b->mod + (c + 1) * D, 6 * D, b->nm_kind));
    return 0;
}

static int gemm(bench_t *b, float *y, int ldy, const float *x, int ldx, const uint16_t *w, const float *bias,
                int M, int N, int K, float beta, k_act_t act)
{
    TRY(b->kb->gemm_bf16w(y, ldy, x, ldx, w, K, bias, M, N, K, 1, beta, act));
    b->gemm_flop += 2.0 * M * N * K;
    return 0;
}

static int attention(bench_t *b)
{
    const int ld = 3 * D;
    long bs = (long)b->S * ld;
    k_attn_t a = { .B = b->B, .H = HEADS, .head_dim = HD, .Sq = b->S, .Sk = b->S,
                   .q = b->qkv, .q_bs = bs, .q_ld = ld, .k = b->qkv + D, .k_bs = bs, .k_ld = ld,
                   .v = b->qkv + 2 * D, .v_bs = bs, .v_ld = ld, .o = b->n, .o_bs = (long)b->S * D, .o_ld = D,
                   .scale = 0.125f, .bias = -1.0f, .q0 = 0, .q1 = L, .k0 = L + b->Nf, .k1 = L + 2 * b->Nf };
    TRY(k_cuda_attention_with(&a, b->attn_kind));
    b->attn_flop += 4.0 * b->B * HEADS * HD * (double)b->S * b->S;
    return 0;
}

static int block(bench_t *b, blk_t *k)
{
    const k_backend_t *kb = b->kb;
    int M = b->B * b->S, ld = 3 * D;
    long bs = (long)b->S * D, bq = (long)b->S * ld;
    if (gemm(b, b->mod, 6 * D, b->stemb, TD, k->ada1, k->b6, b->B, 6 * D, TD, 0, K_ACT_NONE) || norm_mod(b, k, 0) ||
        gemm(b, b->qkv, ld, b->n, D, k->qkv, k->b3, M, 3 * D, D, 0, K_ACT_NONE))
        return -1;
    for (int j = 0; j < 3; j++) if (lora(b, b->qkv + j * D, ld, b->n, D, k->la[j], k->lb[j])) return -1;
    for (int j = 0; j < 2; j++)                   /* q/k LayerNorm per head, RoPE on RGB and alpha ranges */
        TRY(k_cuda_norm_rope_with(b->qkv + j * D, ld, bq, b->B, b->S, HEADS, HD, k->qkw, k->qkb, 1e-6f, b->cs, b->sn,
                                  HD, L, b->Nf, 2, b->nr_kind));
    double t0 = now_();
    char err[256];
    TRY(kb->sync(err, sizeof err));
    t0 = now_();
    if (attention(b)) return -1;
    TRY(kb->sync(err, sizeof err));
    b->attn_s += now_() - t0;
    if (gemm(b, b->y, D, b->n, D, k->out, k->bd, M, D, D, 0, K_ACT_NONE) || lora(b, b->y, D, b->n, D, k->la[3], k->lb[3]))
        return -1;
    TRY(kb->gated_residual(b->h + (long)L * D, D, bs, b->y + (long)L * D, D, bs, b->mod + 2 * D, 6 * D, b->B, b->S - L, D));
    TRY(kb->gated_residual(b->h, D, bs, b->y, D, bs, b->mod + 5 * D, 6 * D, b->B, L, D));
    if (gemm(b, b->mod, 6 * D, b->stemb, TD, k->ada2, k->b6, b->B, 6 * D, TD, 0, K_ACT_NONE) || norm_mod(b, k, 0) ||
        gemm(b, b->ff, FF, b->n, D, k->ff1, k->bff, M, FF, D, 0, K_ACT_GELU_TANH) ||
        gemm(b, b->y, D, b->ff, FF, k->ff2, k->bd, M, D, FF, 0, K_ACT_NONE))
        return -1;
    TRY(kb->gated_residual(b->h + (long)L * D, D, bs, b->y + (long)L * D, D, bs, b->mod + 2 * D, 6 * D, b->B, b->S - L, D));
    TRY(kb->gated_residual(b->h, D, bs, b->y, D, bs, b->mod + 5 * D, 6 * D, b->B, L, D));
    return 0;
}

static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

/* The labs of the fused ops on block 0: median time of 20 calls of v1 and of v2 from the same input
 * (dst restored from a copy before each call), GB/s at `bytes`, the largest |v1 − v2| of dst. */
typedef int (*lab_fn)(bench_t *b, int fused);

static int lab_norm_rope(bench_t *b, int fused)
{
    long bq = (long)b->S * 3 * D;
    for (int j = 0; j < 2; j++)
        TRY(k_cuda_norm_rope_with(b->qkv + j * D, 3 * D, bq, b->B, b->S, HEADS, HD, b->blk[0].qkw, b->blk[0].qkb, 1e-6f,
                                  b->cs, b->sn, HD, L, b->Nf, 2, fused ? K_CUDA_NORM_ROPE_FUSED : K_CUDA_NORM_ROPE_SEQ));
    return 0;
}

static int lab_norm_mod(bench_t *b, int fused)
{
    long bs = (long)b->S * D;
    TRY(k_cuda_norm_modulate_with(b->n, D, bs, b->h, D, bs, b->B, b->S, D, b->blk[0].lnw, b->blk[0].lnb, 1e-5f, L,
                                  b->mod + 3 * D, b->mod + 4 * D, b->mod, b->mod + D, 6 * D,
                                  fused ? K_CUDA_NORM_MOD_FUSED : K_CUDA_NORM_MOD_SEQ));
    return 0;
}

static int lab(bench_t *b, const char *what, lab_fn fn, float *dst, size_t n, double bytes)
{
    const k_backend_t *kb = b->kb;
    char err[256];
    float *save = kb->alloc(n * sizeof(float)), *out[2] = { NULL, NULL };
    double med[2] = { 0, 0 }, ts[20], dmax = 0;
    int rc = -1;
    if (!save || kb->copy(save, dst, n * sizeof(float))) goto out;
    for (int v = 0; v < 2; v++) {
        for (int r = 0; r < 20; r++) {
            if (kb->copy(dst, save, n * sizeof(float)) || kb->sync(err, sizeof err)) goto out;
            double t0 = now_();
            if (fn(b, v) || kb->sync(err, sizeof err)) goto out;
            ts[r] = now_() - t0;
        }
        qsort(ts, 20, sizeof *ts, cmp_d);
        med[v] = ts[10];
        if (!(out[v] = malloc(n * sizeof(float))) || kb->download(out[v], dst, n * sizeof(float))) goto out;
    }
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)out[0][i] - out[1][i]);
        if (d != d) { dmax = INFINITY; break; }
        if (d > dmax) dmax = d;
    }
    printf("%s lab (block 0): v1 %.3f ms (%.0f GB/s), v2 %.3f ms (%.0f GB/s), max |v1 - v2| %.3g\n", what, 1e3 * med[0],
           bytes / med[0] / 1e9, 1e3 * med[1], bytes / med[1] / 1e9, dmax);
    rc = kb->copy(dst, save, n * sizeof(float));
out:
    free(out[0]); free(out[1]);
    if (save) kb->free(save);
    return rc;
}

/* Version options: the index of val among auto, v1, v2, ... (n names), or -1 with a message. */
static int version_of(const char *opt, const char *val, int n)
{
    static const char *const names[] = { "auto", "v1", "v2", "v3", "v4", "v5" };
    for (int k = 0; k < n; k++) if (!strcmp(val, names[k])) return k;
    fprintf(stderr, "bench_cuda_step: %s takes auto", opt);
    for (int k = 1; k < n; k++) fprintf(stderr, "|%s", names[k]);
    fprintf(stderr, "\n");
    return -1;
}

static int parse(bench_t *b, int argc, char **argv)
{
    *b = (bench_t){ .layers = 42, .frames = 13, .lh = 60, .lw = 90, .steps = 3, .peak = 989.0, .B = 2 };
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i];
        double v = atof(argv[i + 1]);
        int k = 0;
        if (!strcmp(o, "--attn")) {
            if ((k = version_of(o, argv[i + 1], 6)) < 0) return -1;
            b->attn_kind = (k_cuda_attn_kind_t)k;
        } else if (!strcmp(o, "--normrope")) {
            if ((k = version_of(o, argv[i + 1], K_CUDA_NORM_ROPE_COUNT)) < 0) return -1;
            b->nr_kind = (k_cuda_norm_rope_kind_t)k;
        } else if (!strcmp(o, "--normmod")) {
            if ((k = version_of(o, argv[i + 1], K_CUDA_NORM_MOD_COUNT)) < 0) return -1;
            b->nm_kind = (k_cuda_norm_mod_kind_t)k;
        } else if (!strcmp(o, "--layers")) b->layers = (int)v;
        else if (!strcmp(o, "--frames")) b->frames = (int)v;
        else if (!strcmp(o, "--lh")) b->lh = (int)v;
        else if (!strcmp(o, "--lw")) b->lw = (int)v;
        else if (!strcmp(o, "--steps")) b->steps = (int)v;
        else if (!strcmp(o, "--peak")) b->peak = v;
        else { fprintf(stderr, "bench_cuda_step: unknown option %s\n", o); return -1; }
    }
    if (b->layers < 1 || b->frames < 1 || b->lh < 2 || b->lw < 2 || b->lh % 2 || b->lw % 2 || b->steps < 1 || b->steps > 100) {
        fprintf(stderr, "bench_cuda_step: bad sizes\n");
        return -1;
    }
    b->Nf = b->frames * (b->lh / 2) * (b->lw / 2);
    b->S = L + 2 * b->Nf;
    return 0;
}

int main(int argc, char **argv)
{
    bench_t b;
    char err[256] = "", plan_txt[1024] = "";
    if (parse(&b, argc, argv)) return 2;
    if (k_cuda_device_count() < 1) {
        printf("bench_cuda_step: no CUDA device visible; needs an NVIDIA GPU (sm_80/sm_90), ~24 GB free at full size\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    if (k_cuda_bind(0, err, sizeof err) || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) { fprintf(stderr, "%s\n", err); return 1; }
    b.kb = k_backend_cuda();
    k_cuda_plan_cfg_t pc = k_cuda_plan_cfg_5b_rgba();
    k_cuda_plan_t plan;
    pc.layers = b.layers; pc.latent_frames = b.frames; pc.latent_h = b.lh; pc.latent_w = b.lw;
    pc.gpu_bytes = (double)prop.totalGlobalMem;
    if (k_cuda_plan_dit(&pc, &plan, err, sizeof err) == 0) k_cuda_plan_format(&plan, plan_txt, sizeof plan_txt);
    printf("device: %s, %d SMs, %.1f GiB; S = %d, B = %d, layers %d\n%s", prop.name, prop.multiProcessorCount,
           prop.totalGlobalMem / 1073741824.0, b.S, b.B, b.layers, plan_txt);
    if (setup(&b)) return 1;
    size_t nq = (size_t)b.B * b.S * 3 * D, nh = (size_t)b.B * b.S * D;
    if (k_cuda_fill_uniform(b.qkv, nq, 91, 1.0f) || k_cuda_fill_uniform(b.mod, (size_t)b.B * 6 * D, 92, 0.5f)) {
        fprintf(stderr, "lab inputs: %s\n", k_error());   /* q|k|v and the adaLN chunks the labs read */
        return 1;
    }
    if (lab(&b, "norm_rope (q, k)", lab_norm_rope, b.qkv, nq, 2.0 * 4.0 * b.B * b.S * 2.0 * D) ||
        lab(&b, "norm_modulate (h -> n)", lab_norm_mod, b.n, nh, 2.0 * 4.0 * (double)nh)) {
        fprintf(stderr, "lab: %s\n", k_error());
        return 1;
    }
    double times[100], attn[100], gflop = 0, aflop = 0;
    for (int st = -1; st < b.steps; st++) {               /* step -1 warms up (handles, heuristics) */
        b.attn_s = b.gemm_flop = b.attn_flop = 0;
        if (b.kb->sync(err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        double t0 = now_();
        for (int i = 0; i < b.layers; i++) if (block(&b, &b.blk[i])) return 1;
        if (b.kb->sync(err, sizeof err)) { fprintf(stderr, "step: %s\n", err); return 1; }
        if (st < 0) continue;
        times[st] = now_() - t0;
        attn[st] = b.attn_s;
        gflop = b.gemm_flop;
        aflop = b.attn_flop;
    }
    qsort(times, (size_t)b.steps, sizeof *times, cmp_d);
    qsort(attn, (size_t)b.steps, sizeof *attn, cmp_d);
    double t = times[b.steps / 2], ta = attn[b.steps / 2];
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    printf("| step (s) | attention (s) | attention TFLOP/s | GEMM+rest TFLOP/s | step TFLOP | MFU (peak %.0f) | backend peak GiB | device used GiB |\n"
           "|---|---|---|---|---|---|---|---|\n| %.3f | %.3f | %.1f | %.1f | %.1f | %.1f%% | %.2f | %.2f |\n",
           b.peak, t, ta, aflop / ta / 1e12, gflop / (t - ta) / 1e12, (gflop + aflop) / 1e12,
           100.0 * (gflop + aflop) / t / (b.peak * 1e12), k_cuda_bytes_peak() / 1073741824.0, (tot - fr) / 1073741824.0);
    k_cuda_unbind();
    return 0;
}
#endif
