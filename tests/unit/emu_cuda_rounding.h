/* emu_cuda_rounding.h — the CPU backend table with its operands rounded the way the CUDA backend
 * rounds them (kernels/k_cuda.h, "Precision mapping"), to measure on a CPU what the GPU's precision
 * does to a render (tests/bench/bench_gf_precision.c) and to give tests/unit/test_pipeline_cuda.c a
 * bf16 yardstick beside the GPU's own render:
 *   gemm        x and w rounded to TF32 (10-bit mantissa: cuBLASLt TF32)
 *   gemm_bf16w  x rounded to bf16 (the weights are bf16 already: the bf16×bf16 cuBLASLt matmul)
 *   attention   q, k, v (k2, v2) rounded to bf16 when head_dim is 64 (the tensor-core kernels)
 *   conv3d      frames and packed weights rounded to TF32 when Ci % 4 == 0 (the WMMA engine)
 * Everything else is the CPU op. A model of the rounding, not of the GPU: the accumulation order and
 * the kernels' internal roundings differ, so a render agrees in size of error, not in bits.
 * Header-only (static functions); emu_cuda_table(&t, gemm, attn, conv) fills t with each rounding
 * switched on or off. Operand copies are malloc'd per call (tiny models only).
 */
#ifndef TESTS_UNIT_EMU_CUDA_ROUNDING_H
#define TESTS_UNIT_EMU_CUDA_ROUNDING_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k.h"
#include "kernels/k_conv.h"

static int emu_gemm_on_, emu_attn_on_, emu_conv_on_;

static float emu_round_bits(float f, int drop)   /* round to nearest even, dropping `drop` mantissa bits */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return f;
    u += ((1u << (drop - 1)) - 1) + ((u >> drop) & 1u);
    u &= ~((1u << drop) - 1);
    memcpy(&f, &u, 4);
    return f;
}

/* A rounded copy of the n floats at p (NULL stays NULL). */
static float *emu_rcopy(const float *p, long n, int drop)
{
    if (!p) return NULL;
    float *c = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (c) for (long i = 0; i < n; i++) c[i] = emu_round_bits(p[i], drop);
    return c;
}

static int emu_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b, int M,
                    int N, int K, float alpha, float beta, k_act_t act)
{
    if (!emu_gemm_on_ || M <= 0 || N <= 0 || K <= 0) return k_cpu_gemm(y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act);
    float *xr = emu_rcopy(x, (long)(M - 1) * ldx + K, 13), *wr = emu_rcopy(w, (long)(N - 1) * ldw + K, 13);
    int rc = xr && wr ? k_cpu_gemm(y, ldy, xr, ldx, wr, ldw, b, M, N, K, alpha, beta, act) : -1;
    free(xr); free(wr);
    return rc;
}

static int emu_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, const float *b,
                          int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (!emu_gemm_on_ || M <= 0 || K <= 0) return k_cpu_gemm_bf16w(y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act);
    float *xr = emu_rcopy(x, (long)(M - 1) * ldx + K, 16);
    int rc = xr ? k_cpu_gemm_bf16w(y, ldy, xr, ldx, w, ldw, b, M, N, K, alpha, beta, act) : -1;
    free(xr);
    return rc;
}

static long emu_span(int B, long bs, int S, int ld, int cols)
{
    return B <= 0 || S <= 0 ? 0 : (long)(B - 1) * bs + (long)(S - 1) * ld + cols;
}

static int emu_attention(const k_attn_t *a)
{
    if (!emu_attn_on_ || a->head_dim != 64) return k_cpu_attention(a);
    int cols = a->H * a->head_dim;
    k_attn_t r = *a;
    float *q = emu_rcopy(a->q, emu_span(a->B, a->q_bs, a->Sq, a->q_ld, cols), 16);
    float *k = emu_rcopy(a->k, emu_span(a->B, a->k_bs, a->Sk, a->k_ld, cols), 16);
    float *v = emu_rcopy(a->v, emu_span(a->B, a->v_bs, a->Sk, a->v_ld, cols), 16);
    float *k2 = a->Sk2 ? emu_rcopy(a->k2, emu_span(a->B, a->k2_bs, a->Sk2, a->k2_ld, cols), 16) : NULL;
    float *v2 = a->Sk2 ? emu_rcopy(a->v2, emu_span(a->B, a->v2_bs, a->Sk2, a->v2_ld, cols), 16) : NULL;
    r.q = q; r.k = k; r.v = v;
    if (a->Sk2) { r.k2 = k2; r.v2 = v2; }
    int rc = k_cpu_attention(&r);
    free(q); free(k); free(v); free(k2); free(v2);
    return rc;
}

static int emu_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co, int kt, int kh,
                      int kw, const float *wp, const float *b)
{
    if (!emu_conv_on_ || Ci % 4 || T_in <= 0 || T_in > 256) return k_cpu_conv3d(y, x, T_in, H, W, Ci, Co, kt, kh, kw, wp, b);
    const float *xr[256];
    float *own[256];
    long fs = (long)H * W * Ci;
    int rc = 0;
    for (int t = 0; t < T_in; t++) {           /* repeated frame pointers share one rounded copy */
        own[t] = NULL;
        xr[t] = NULL;
        for (int s = 0; s < t && !xr[t]; s++) if (x[s] == x[t]) xr[t] = xr[s];
        if (!xr[t]) xr[t] = own[t] = emu_rcopy(x[t], fs, 13);
        if (!xr[t]) rc = -1;
    }
    float *wr = emu_rcopy(wp, (long)kt * kh * kw * Co * Ci, 13);
    if (!rc && wr) rc = k_cpu_conv3d(y, xr, T_in, H, W, Ci, Co, kt, kh, kw, wr, b);
    for (int t = 0; t < T_in; t++) free(own[t]);
    free(wr);
    return rc;
}

/* t = the CPU table with the chosen roundings on (1) or off (0). One setting per process at a time. */
static void emu_cuda_table(k_backend_t *t, int gemm, int attn, int conv)
{
    *t = *k_backend_cpu();
    t->name = "cpu-emulating-cuda-rounding";
    t->gemm = emu_gemm; t->gemm_bf16w = emu_gemm_bf16w; t->attention = emu_attention; t->conv3d = emu_conv3d;
    emu_gemm_on_ = gemm; emu_attn_on_ = attn; emu_conv_on_ = conv;
}

#endif
