/* gemm.c — y = act(alpha·x·wᵀ + beta·y + b): the Linear layer of the DiT (weights as PyTorch
 * stores them, (out, in)), with fp32 weights or with bf16 weights converted slab by slab (half the
 * memory for the same fp32 arithmetic). The fast versions cut y into a fixed grid of tiles shared
 * out over k_threads() OpenMP threads; each tile is one single-threaded OpenBLAS sgemm plus the
 * bias and activation pass over it. k_ref_gemm is the naive loop (tests only).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

static int gemm_check_(const char *op, float *y, int ldy, const float *x, int ldx, const void *w,
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
#define TILE_NB 256    /* columns per tile with bf16 weights: the converted slab is (TILE_NB, K) */

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

/* One tile: yb (m, n) from xb (m, K) and wb (n, K), all pointers already at the tile. */
static void gemm_tile_(float *yb, int ldy, const float *xb, int ldx, const float *wb, int ldw,
                       const float *bb, int m, int n, int K, float alpha, float beta, k_act_t act)
{
    if (K > 0)   /* OpenBLAS honours beta = 0 as "overwrite" (NaN-safe; tested) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, K, alpha, xb, ldx, wb, ldw,
                    beta, yb, ldy);
    else
        scale_rows_(yb, ldy, m, n, beta);
    epilogue_(yb, ldy, bb, m, n, act);
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
        gemm_tile_(y + (long)m0 * ldy + n0, ldy, x + (long)m0 * ldx, ldx, w + (long)n0 * ldw, ldw,
                   b ? b + n0 : NULL, m, n, K, alpha, beta, act);
    }
    return 0;
}

/* ---------------- bf16 weights ---------------- */

typedef struct {
    float *y; const float *x; const uint16_t *w; const float *b;
    int ldy, ldx, ldw, M, N, K, tm, tn;
    float alpha, beta;
    k_act_t act;
} gemm_bf16_t;

/* One thread's share of the tiles, column tiles outer: the thread converts a (TILE_NB, K) slab of
 * w to fp32 when it first meets a column tile, then runs the fp32 tile on it. */
static void bf16_tiles_(const gemm_bf16_t *g, int *failed)
{
    const k_vmath_t *vm = k_vmath_();
    float *slab = malloc(sizeof(float) * (size_t)TILE_NB * (size_t)(g->K > 0 ? g->K : 1));
    int cur = -1;
    if (!slab) {
        #pragma omp atomic write
        *failed = 1;
    }
    #pragma omp for schedule(dynamic, 1)
    for (long t = 0; t < (long)g->tm * g->tn; t++) {
        int c = (int)(t / g->tm), m0 = (int)(t % g->tm) * TILE_M, n0 = c * TILE_NB;
        int m = g->M - m0 < TILE_M ? g->M - m0 : TILE_M, n = g->N - n0 < TILE_NB ? g->N - n0 : TILE_NB;
        if (!slab) continue;
        for (int j = 0; c != cur && j < n; j++)
            vm->bf16_to_f32(slab + (long)j * g->K, g->w + (long)(n0 + j) * g->ldw, g->K);
        cur = c;
        gemm_tile_(g->y + (long)m0 * g->ldy + n0, g->ldy, g->x + (long)m0 * g->ldx, g->ldx, slab,
                   g->K > 0 ? g->K : 1, g->b ? g->b + n0 : NULL, m, n, g->K, g->alpha, g->beta, g->act);
    }
    free(slab);
}

int k_cpu_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw,
                     const float *b, int M, int N, int K, float alpha, float beta, k_act_t act)
{
    int failed = 0;
    if (gemm_check_("gemm_bf16w", y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    if (M == 0 || N == 0) return 0;
    k_blas_init_();
    gemm_bf16_t g = { y, x, w, b, ldy, ldx, ldw, M, N, K, (M + TILE_M - 1) / TILE_M,
                      (N + TILE_NB - 1) / TILE_NB, alpha, beta, act };
    int nt = k_threads();
    if ((long)M * N * (K + 1) < 1L << 18) nt = 1;
    if (nt > (long)g.tm * g.tn) nt = g.tm * g.tn;
    #pragma omp parallel num_threads(nt)
    bf16_tiles_(&g, &failed);
    return failed ? k_fail_("gemm_bf16w", "out of memory for a weight slab") : 0;
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
