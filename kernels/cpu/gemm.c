/* gemm.c — y = act(alpha·x·wᵀ + beta·y + b): the Linear layer of the DiT (weights as PyTorch
 * stores them, (out, in)). The fast version splits the output over k_threads() OpenMP threads,
 * each calling single-threaded OpenBLAS sgemm on its block, then adds nothing else but the
 * activation pass over the block it just wrote. k_ref_gemm is the naive loop (tests only).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

static int gemm_check_(const char *op, float *y, int ldy, const float *x, int ldx, const float *w,
                       int ldw, int M, int N, int K, k_act_t act)
{
    if (k_chk_mat_(op, "y", y, M, N, ldy) || k_chk_mat_(op, "x", x, M, K, ldx) ||
        k_chk_mat_(op, "w", w, N, K, ldw))
        return -1;
    if (act < 0 || act >= K_ACT_COUNT) return k_fail_(op, "unknown activation %d", (int)act);
    return 0;
}

#define PANEL 256   /* rows per sgemm call: the epilogue then runs on a panel still in cache */

/* K = 0: y (m, n) = beta·y (beta = 0 means "overwrite", y may hold NaN); sgemm is not asked. */
static void scale_rows_(float *y, int ldy, int m, int n, float beta)
{
    for (int i = 0; i < m; i++) {
        float *r = y + (long)i * ldy;
        for (int j = 0; j < n; j++) r[j] = beta == 0.0f ? 0.0f : beta * r[j];
    }
}

/* y (m, n) += b, then the activation, row by row. */
static void epilogue_(float *y, int ldy, const float *b, int m, int n, k_act_t act)
{
    const k_vmath_t *vm = k_vmath_();
    for (int i = 0; i < m; i++) {
        float *r = y + (long)i * ldy;
        if (b) for (int j = 0; j < n; j++) r[j] += b[j];
        if (act == K_ACT_GELU_TANH) vm->gelu_tanh(r, r, n);
        else if (act == K_ACT_SILU) vm->silu(r, r, n);
    }
}

/* One thread's block: rows [m0, m0+m) and columns [n0, n0+n) of y, in panels of PANEL rows. */
static void gemm_block_(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                        const float *b, int m0, int m, int n0, int n, int K, float alpha,
                        float beta, k_act_t act)
{
    for (int r0 = m0; r0 < m0 + m && n > 0; r0 += PANEL) {
        int rows = m0 + m - r0 < PANEL ? m0 + m - r0 : PANEL;
        float *yb = y + (long)r0 * ldy + n0;
        if (K > 0)   /* OpenBLAS honours beta = 0 as "overwrite" (NaN-safe; tested) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, K, alpha,
                        x + (long)r0 * ldx, ldx, w + (long)n0 * ldw, ldw, beta, yb, ldy);
        else
            scale_rows_(yb, ldy, rows, n, beta);
        epilogue_(yb, ldy, b ? b + n0 : NULL, rows, n, act);
    }
}

int k_cpu_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
               int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (gemm_check_("gemm", y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    if (M == 0 || N == 0) return 0;
    k_blas_init_();
    long work = (long)M * N * (K + 1);
    int nt = k_threads();
    if (work < 1L << 18) nt = 1;
    /* split the longer side; blocks of 16 rows / 64 columns keep sgemm's panels whole */
    int by_rows = M >= N || M >= 64 * nt;
    int unit = by_rows ? 16 : 64, len = by_rows ? M : N;
    int chunks = (len + unit - 1) / unit;
    if (nt > chunks) nt = chunks;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int c0 = (int)((long)chunks * t / T), c1 = (int)((long)chunks * (t + 1) / T);
        int s0 = c0 * unit, s1 = c1 * unit < len ? c1 * unit : len;
        if (by_rows) gemm_block_(y, ldy, x, ldx, w, ldw, b, s0, s1 - s0, 0, N, K, alpha, beta, act);
        else         gemm_block_(y, ldy, x, ldx, w, ldw, b, 0, M, s0, s1 - s0, K, alpha, beta, act);
    }
    return 0;
}

/* ---------------- reference ---------------- */

static double ref_act_(double v, k_act_t act)
{
    switch (act) {
    case K_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case K_ACT_SILU:      return v / (1.0 + exp(-v));
    default:              return v;
    }
}

int k_ref_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
               int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (gemm_check_("ref_gemm", y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)x[(long)i * ldx + k] * w[(long)j * ldw + k];
            double v = alpha * acc + (b ? b[j] : 0.0);
            if (beta != 0.0f) v += (double)beta * y[(long)i * ldy + j];
            y[(long)i * ldy + j] = (float)ref_act_(v, act);
        }
    return 0;
}
