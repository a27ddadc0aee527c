/* attention.c — fused multi-head attention with a streaming (online) softmax and the TransPixar
 * text→alpha logit rule (a bias on one rectangle of queries × keys, 0 / -1 / -inf), over an
 * optional second list of keys and values (anchor frames). Contract: k.h, k_attn_t.
 *
 * Fast version: work items are (batch, head, block of BQ queries), spread over k_threads() OpenMP
 * threads. For each block of BK keys the logits S (BQ, BK) = scale·Q·Kᵀ and the update O += P·V
 * are single-threaded OpenBLAS sgemm calls on strided views (no copies of q/k/v); the softmax
 * between them is one pass of vector max / exp over S with running max m and sum l per row.
 * Memory per thread: BQ·BK + BQ·head_dim floats; never Sq×Sk.
 * k_ref_attention is the naive two-pass softmax over the whole logit row, in double (tests only).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BQ 64     /* queries per work item */
#define BK 256    /* keys per inner block */

/* One key/value list as seen by one (b, h): pointers at key 0, its strides and biased range. */
typedef struct {
    const float *k, *v;
    int k_ld, v_ld, n, b0, b1;
} kv_view_t;

typedef struct {
    float *s;     /* (BQ, BK) logits, then probabilities */
    float *o;     /* (BQ, head_dim) unnormalised output */
    float m[BQ];  /* running max per row */
    float l[BQ];  /* running sum per row */
} attn_scratch_t;

static int clampi_(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static int attn_check_(const char *op, const k_attn_t *a)
{
    if (!a) return k_fail_(op, "NULL parameters");
    if (a->B < 0 || a->H < 0 || a->head_dim < 1 || a->Sq < 0 || a->Sk < 0 || a->Sk2 < 0)
        return k_fail_(op, "bad sizes B %d H %d head_dim %d Sq %d Sk %d Sk2 %d",
                       a->B, a->H, a->head_dim, a->Sq, a->Sk, a->Sk2);
    long w = (long)a->H * a->head_dim;
    if (k_chk_bsd_(op, "q", a->q, a->B, a->Sq, w, a->q_ld, a->q_bs) ||
        k_chk_bsd_(op, "o", a->o, a->B, a->Sq, w, a->o_ld, a->o_bs) ||
        k_chk_bsd_(op, "k", a->k, a->B, a->Sk, w, a->k_ld, a->k_bs) ||
        k_chk_bsd_(op, "v", a->v, a->B, a->Sk, w, a->v_ld, a->v_bs) ||
        k_chk_bsd_(op, "k2", a->k2, a->B, a->Sk2, w, a->k2_ld, a->k2_bs) ||
        k_chk_bsd_(op, "v2", a->v2, a->B, a->Sk2, w, a->v2_ld, a->v2_bs))
        return -1;
    if (isnan(a->bias) || a->bias == INFINITY) return k_fail_(op, "bias must be finite or -inf");
    return 0;
}

static kv_view_t view_(const k_attn_t *a, int list, int b, int h)
{
    long off = (long)h * a->head_dim;
    if (list == 0)
        return (kv_view_t){ a->k + b * a->k_bs + off, a->v + b * a->v_bs + off, a->k_ld, a->v_ld,
                            a->Sk, clampi_(a->k0, 0, a->Sk), clampi_(a->k1, 0, a->Sk) };
    return (kv_view_t){ a->k2 + b * a->k2_bs + off, a->v2 + b * a->v2_bs + off, a->k2_ld, a->v2_ld,
                        a->Sk2, clampi_(a->k2_0, 0, a->Sk2), clampi_(a->k2_1, 0, a->Sk2) };
}

/* Add the bias to S on the rectangle (rows [i0,i0+nq) ∩ [q0,q1)) × (keys [j0,j0+nk) ∩ [b0,b1)). */
static void add_bias_(const k_attn_t *a, float *s, int i0, int nq, int j0, int nk, const kv_view_t *kv)
{
    int r0 = clampi_(a->q0, i0, i0 + nq), r1 = clampi_(a->q1, i0, i0 + nq);
    int c0 = clampi_(kv->b0, j0, j0 + nk), c1 = clampi_(kv->b1, j0, j0 + nk);
    if (a->bias == 0.0f || r0 >= r1 || c0 >= c1) return;
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) s[(long)(r - i0) * BK + (c - j0)] += a->bias;
}

/* Online softmax step on rows of S (nq, nk): P = exp(S − m_new), rescale O and l by exp(m − m_new). */
static void softmax_step_(attn_scratch_t *w, int nq, int nk, int hd, const k_vmath_t *vm)
{
    for (int r = 0; r < nq; r++) {
        float *row = w->s + (long)r * BK;
        float mx = vm->max(row, nk), mnew = mx > w->m[r] ? mx : w->m[r];
        if (mnew == -INFINITY) { memset(row, 0, sizeof(float) * nk); continue; }   /* all masked so far */
        float corr = w->m[r] == -INFINITY ? 0.0f : expf(w->m[r] - mnew);
        float sum = vm->exp_sub_sum(row, nk, mnew);
        if (corr != 1.0f) vm->scale(w->o + (long)r * hd, hd, corr);
        w->l[r] = w->l[r] * corr + sum;
        w->m[r] = mnew;
    }
}

/* One work item: queries [i0, i0+nq) of head h, batch b, over both key lists. */
static void attn_item_(const k_attn_t *a, int b, int h, int i0, int nq, attn_scratch_t *w,
                       const k_vmath_t *vm)
{
    int hd = a->head_dim;
    const float *q = a->q + b * a->q_bs + (long)i0 * a->q_ld + (long)h * hd;
    memset(w->o, 0, sizeof(float) * (size_t)nq * hd);
    for (int r = 0; r < nq; r++) { w->m[r] = -INFINITY; w->l[r] = 0.0f; }
    for (int list = 0; list < 2; list++) {
        kv_view_t kv = view_(a, list, b, h);
        for (int j0 = 0; j0 < kv.n; j0 += BK) {
            int nk = kv.n - j0 < BK ? kv.n - j0 : BK;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, a->scale, q, a->q_ld,
                        kv.k + (long)j0 * kv.k_ld, kv.k_ld, 0.0f, w->s, BK);
            add_bias_(a, w->s, i0, nq, j0, nk, &kv);
            softmax_step_(w, nq, nk, hd, vm);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, 1.0f, w->s, BK,
                        kv.v + (long)j0 * kv.v_ld, kv.v_ld, 1.0f, w->o, hd);
        }
    }
    float *o = a->o + b * a->o_bs + (long)i0 * a->o_ld + (long)h * hd;
    for (int r = 0; r < nq; r++) {
        float inv = w->l[r] > 0.0f ? 1.0f / w->l[r] : 0.0f;   /* no keys at all → 0 */
        for (int d = 0; d < hd; d++) o[(long)r * a->o_ld + d] = w->o[(long)r * hd + d] * inv;
    }
}

int k_cpu_attention(const k_attn_t *a)
{
    if (attn_check_("attention", a)) return -1;
    int nqb = (a->Sq + BQ - 1) / BQ, failed = 0;
    long items = (long)a->B * a->H * nqb;
    if (items == 0) return 0;
    k_blas_init_();
    const k_vmath_t *vm = k_vmath_();
    int nt = k_threads();
    if (nt > items) nt = (int)items;
    #pragma omp parallel num_threads(nt)
    {
        attn_scratch_t w;
        w.s = malloc(sizeof(float) * ((size_t)BQ * BK + (size_t)BQ * a->head_dim));
        w.o = w.s ? w.s + (size_t)BQ * BK : NULL;
        if (!w.s) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < items; it++) {   /* (b, h, query block), block fastest: K/V reuse */
            int qb = (int)(it % nqb), h = (int)(it / nqb % a->H), b = (int)(it / nqb / a->H);
            int i0 = qb * BQ, nq = a->Sq - i0 < BQ ? a->Sq - i0 : BQ;
            if (w.s) attn_item_(a, b, h, i0, nq, &w, vm);
        }
        free(w.s);
    }
    return failed ? k_fail_("attention", "out of memory for scratch") : 0;
}

/* ---------------- reference ---------------- */

static double ref_logit_(const k_attn_t *a, int b, int h, int i, int list, int j)
{
    int hd = a->head_dim;
    const float *q = a->q + b * a->q_bs + (long)i * a->q_ld + (long)h * hd;
    const float *k = list == 0 ? a->k + b * a->k_bs + (long)j * a->k_ld + (long)h * hd
                               : a->k2 + b * a->k2_bs + (long)j * a->k2_ld + (long)h * hd;
    double dot = 0;
    for (int d = 0; d < hd; d++) dot += (double)q[d] * k[d];
    int in_q = i >= a->q0 && i < a->q1;
    int in_k = list == 0 ? (j >= a->k0 && j < a->k1) : (j >= a->k2_0 && j < a->k2_1);
    return (double)a->scale * dot + (in_q && in_k ? (double)a->bias : 0.0);
}

static void ref_row_(const k_attn_t *a, int b, int h, int i, double *lg)
{
    int n = a->Sk + a->Sk2, hd = a->head_dim;
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        lg[j] = j < a->Sk ? ref_logit_(a, b, h, i, 0, j) : ref_logit_(a, b, h, i, 1, j - a->Sk);
        if (lg[j] > mx) mx = lg[j];
    }
    for (int j = 0; j < n; j++) { lg[j] = mx == -INFINITY ? 0.0 : exp(lg[j] - mx); sum += lg[j]; }
    float *o = a->o + b * a->o_bs + (long)i * a->o_ld + (long)h * hd;
    for (int d = 0; d < hd; d++) {
        double acc = 0;
        for (int j = 0; j < n; j++) {
            const float *v = j < a->Sk ? a->v + b * a->v_bs + (long)j * a->v_ld
                                       : a->v2 + b * a->v2_bs + (long)(j - a->Sk) * a->v2_ld;
            acc += lg[j] * v[(long)h * hd + d];
        }
        o[d] = sum > 0 ? (float)(acc / sum) : 0.0f;
    }
}

int k_ref_attention(const k_attn_t *a)
{
    if (attn_check_("ref_attention", a)) return -1;
    double *lg = malloc(sizeof(double) * ((size_t)a->Sk + a->Sk2 + 1));
    if (!lg) return k_fail_("ref_attention", "out of memory");
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Sq; i++) ref_row_(a, b, h, i, lg);
    free(lg);
    return 0;
}
