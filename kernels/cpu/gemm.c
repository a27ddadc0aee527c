/* gemm.c — y = act(alpha·x·wᵀ + beta·y + b): the Linear layer of the DiT (weights as PyTorch
 * stores them, (out, in)). The fast version cuts y into a fixed grid of tiles shared out over
 * k_threads() OpenMP threads; each tile is one single-threaded OpenBLAS sgemm plus the bias and
 * activation pass over it. k_ref_gemm is the naive loop (tests only).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>

static int gemm_check_(const char *op, float *y, int ldy, const float *x, int ldx, const float *w,
                       int ldw, int M, int N, int K, k_act_t act)
{
    if (k_chk_mat_(op, "y", y, M, N, ldy) || k_chk_mat_(op, "x", x, M, K, ldx) ||
        k_chk_mat_(op, "w", w, N, K, ldw))
        return -1;
    if (act < 0 || act >= K_ACT_COUNT) return k_fail_(op, "unknown activation %d", (int)act);
    return 0;
}

/* y is cut into a fixed grid of tiles, independent of the thread count, and each tile is one
 * sgemm call followed by its epilogue while the tile is still in cache. OpenBLAS rounds the last
 * rows of a call differently from the middle ones, so a grid that moved with the thread count
 * would change the bits of the result; a fixed grid keeps every run bit-identical. */
#define TILE_M 256
#define TILE_N 1024

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

/* One tile: rows [m0, m0+m) and columns [n0, n0+n) of y. */
static void gemm_tile_(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                       const float *b, int m0, int m, int n0, int n, int K, float alpha,
                       float beta, k_act_t act)
{
    float *yb = y + (long)m0 * ldy + n0;
    if (K > 0)   /* OpenBLAS honours beta = 0 as "overwrite" (NaN-safe; tested) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, K, alpha,
                    x + (long)m0 * ldx, ldx, w + (long)n0 * ldw, ldw, beta, yb, ldy);
    else
        scale_rows_(yb, ldy, m, n, beta);
    epilogue_(yb, ldy, b ? b + n0 : NULL, m, n, act);
}

int k_cpu_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
               int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (gemm_check_("gemm", y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    if (M == 0 || N == 0) return 0;
    k_blas_init_();
    int tm = (M + TILE_M - 1) / TILE_M, tn = (N + TILE_N - 1) / TILE_N;
    long tiles = (long)tm * tn;
    int nt = k_threads();
    if ((long)M * N * (K + 1) < 1L << 18) nt = 1;
    if (nt > tiles) nt = (int)tiles;
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (long t = 0; t < tiles; t++) {
        int m0 = (int)(t / tn) * TILE_M, n0 = (int)(t % tn) * TILE_N;
        int m = M - m0 < TILE_M ? M - m0 : TILE_M, n = N - n0 < TILE_N ? N - n0 : TILE_N;
        gemm_tile_(y, ldy, x, ldx, w, ldw, b, m0, m, n0, n, K, alpha, beta, act);
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
