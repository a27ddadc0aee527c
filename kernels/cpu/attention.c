/* attention.c — fused multi-head attention with a streaming (online) softmax and the TransPixar
 * text→alpha logit rule (a bias on one rectangle of queries × keys, 0 / -1 / -inf), over an
 * optional second list of keys and values (anchor frames). Contract: k.h, k_attn_t.
 *
 * Work items are (batch, head, chunk of query blocks of BQ rows), spread over k_threads() OpenMP
 * threads. For each block of BK keys: logits S (BQ, BK) = scale·Q·Kᵀ, the text→alpha bias on its
 * rectangle, one pass of the online softmax (running max m and sum l per row, O rescaled when m
 * grows), then O += P·V. Memory per thread is a few blocks plus (avx2) one packed head; never Sq×Sk.
 * Two engines for the two products, same everything else:
 *   avx2  Q, Kᵀ and V blocks packed into aligned scratch, one 6×16 FMA register-tile kernel for
 *         both products (S = Qs·Kᵀ and O += P·V are both "rows × packed 16-column panel");
 *   blas  single-threaded OpenBLAS sgemm on the strided views (CPUs without AVX2/FMA).
 * k_ref_attention is the naive two-pass softmax over the whole logit row, in double (tests only).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BQ 96     /* queries per work item (multiple of the 6-row tile) */
#define BK 128    /* keys per inner block (multiple of the 16-column tile) */
#define AVX2 __attribute__((target("avx2,fma")))

/* One key/value list as seen by one (b, h): pointers at key 0, its strides and biased range. */
typedef struct {
    const float *k, *v;
    int k_ld, v_ld, n, b0, b1;
} kv_view_t;

typedef struct {
    int hd, hdp;  /* head_dim, and rounded up to 16 (packed row length) */
    float *s;     /* (BQ, BK) logits, then probabilities */
    float *o;     /* (BQ, hdp) unnormalised output */
    float *qp;    /* (BQ, hdp) packed scaled queries (avx2) */
    float m[BQ];  /* running max per row */
    float l[BQ];  /* running sum per row */
} attn_scratch_t;

typedef void (*attn_item_fn)(const k_attn_t *a, int b, int h, int i0, int nq, attn_scratch_t *w,
                             const k_vmath_t *vm);

static int clampi_(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

int k_attn_check_(const char *op, const k_attn_t *a)
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
    if (!isfinite(a->scale)) return k_fail_(op, "scale must be finite");
    return 0;
}

static kv_view_t view_(const k_attn_t *a, int list, int b, int h)
{
    long off = (long)h * a->head_dim;
    if (list == 0 && (!a->k || !a->v || a->Sk == 0))
        return (kv_view_t){ NULL, NULL, 0, 0, 0, 0, 0 };
    if (list == 0)
        return (kv_view_t){ a->k + b * a->k_bs + off, a->v + b * a->v_bs + off, a->k_ld, a->v_ld,
                            a->Sk, clampi_(a->k0, 0, a->Sk), clampi_(a->k1, 0, a->Sk) };
    if (!a->k2 || !a->v2 || a->Sk2 == 0)   /* no extra list: nothing to point at */
        return (kv_view_t){ NULL, NULL, 0, 0, 0, 0, 0 };
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

/* Online softmax step on rows of S (nq, nk): P = exp(S − m_new), rescale O and l by exp(m − m_new).
 * O rows have stride ldo. */
static void softmax_step_(attn_scratch_t *w, int nq, int nk, int ldo, const k_vmath_t *vm)
{
    for (int r = 0; r < nq; r++) {
        float *row = w->s + (long)r * BK;
        float mx = vm->max(row, nk), mnew = mx > w->m[r] ? mx : w->m[r];
        if (mnew == -INFINITY) { memset(row, 0, sizeof(float) * nk); continue; }   /* all masked so far */
        float corr = w->m[r] == -INFINITY ? 0.0f : expf(w->m[r] - mnew);
        float sum = vm->exp_sub_sum(row, nk, mnew);
        if (corr != 1.0f) vm->scale(w->o + (long)r * ldo, w->hd, corr);
        w->l[r] = w->l[r] * corr + sum;
        w->m[r] = mnew;
    }
}

static void item_begin_(attn_scratch_t *w, int nq, int ldo)
{
    memset(w->o, 0, sizeof(float) * (size_t)nq * ldo);
    for (int r = 0; r < nq; r++) { w->m[r] = -INFINITY; w->l[r] = 0.0f; }
}

/* o rows = O / l (a row that saw no unmasked key gets 0). */
static void item_end_(const k_attn_t *a, int b, int h, int i0, int nq, const attn_scratch_t *w, int ldo)
{
    float *o = a->o + b * a->o_bs + (long)i0 * a->o_ld + (long)h * w->hd;
    for (int r = 0; r < nq; r++) {
        float inv = w->l[r] > 0.0f ? 1.0f / w->l[r] : 0.0f;
        for (int d = 0; d < w->hd; d++) o[(long)r * a->o_ld + d] = w->o[(long)r * ldo + d] * inv;
    }
}

static int scratch_new_(attn_scratch_t *w, int hd)
{
    w->hd = hd;
    w->hdp = (hd + 15) & ~15;
    size_t n = (size_t)BQ * BK + 2 * (size_t)BQ * w->hdp;
    w->s = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!w->s) return -1;
    w->o = w->s + (size_t)BQ * BK;
    w->qp = w->o + (size_t)BQ * w->hdp;
    return 0;
}

/* ---------------- blas engine ---------------- */

static void item_blas_(const k_attn_t *a, int b, int h, int i0, int nq, attn_scratch_t *w,
                       const k_vmath_t *vm)
{
    int hd = w->hd;
    const float *q = a->q + b * a->q_bs + (long)i0 * a->q_ld + (long)h * hd;
    item_begin_(w, nq, hd);
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
    item_end_(a, b, h, i0, nq, w, hd);
}

/* ---------------- avx2 engine ---------------- */

/* C (6, 16) = or += A (6, kk) · B (kk, 16); A rows stride lda, B rows stride ldb (32-byte
 * aligned), C rows stride ldc (32-byte aligned). Written out by hand: -O2 would not unroll the
 * row loop and kept the 12 accumulators in memory. */
#define T_ROW(r) __m256 c##r##0 = acc ? _mm256_load_ps(C + r * ldc) : _mm256_setzero_ps(), \
                        c##r##1 = acc ? _mm256_load_ps(C + r * ldc + 8) : _mm256_setzero_ps()
#define T_FMA(r) x = _mm256_broadcast_ss(A + r * lda + k); \
                 c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0); c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1)
#define T_STORE(r) _mm256_store_ps(C + r * ldc, c##r##0); _mm256_store_ps(C + r * ldc + 8, c##r##1)

static inline AVX2 void tile6x16_(int kk, const float *A, long lda, const float *B, long ldb,
                                  float *C, long ldc, int acc)
{
    T_ROW(0); T_ROW(1); T_ROW(2); T_ROW(3); T_ROW(4); T_ROW(5);
    for (int k = 0; k < kk; k++) {
        __m256 b0 = _mm256_load_ps(B + k * ldb), b1 = _mm256_load_ps(B + k * ldb + 8), x;
        T_FMA(0); T_FMA(1); T_FMA(2); T_FMA(3); T_FMA(4); T_FMA(5);
    }
    T_STORE(0); T_STORE(1); T_STORE(2); T_STORE(3); T_STORE(4); T_STORE(5);
}

/* One head's keys and values of both lists, packed in blocks of BK keys for the tile kernel,
 * shared by all threads working on that head. */
typedef struct {
    int list, j0, nk;      /* which list, first key, keys in the block */
} kv_block_t;

typedef struct {
    int nblk, hd, hdp;
    kv_block_t *blk;       /* (nblk) */
    float *kt;             /* (nblk, BK/16, hdp, 16) transposed keys, zero padded */
    float *vp;             /* (nblk, hdp/16, BK, 16) values, zero padded */
} kv_pack_t;

/* Keys as 16-column panels of Kᵀ: kt[(jp·hdp + d)·16 + jj] = key (jp·16 + jj), dim d; values as
 * 16-column panels of V: vp[(dp·BK + j)·16 + dd] = key j, dim dp·16 + dd. Each tile reads one
 * contiguous panel. */
static void pack_block_(const k_attn_t *a, int b, int h, const kv_pack_t *p, int bi)
{
    kv_block_t bl = p->blk[bi];
    kv_view_t kv = view_(a, bl.list, b, h);
    float *kt = p->kt + (size_t)bi * p->hdp * BK, *vp = p->vp + (size_t)bi * BK * p->hdp;
    memset(kt, 0, sizeof(float) * (size_t)p->hdp * BK);
    memset(vp, 0, sizeof(float) * (size_t)BK * p->hdp);
    for (int j = 0; j < bl.nk; j++) {
        const float *k = kv.k + (long)(bl.j0 + j) * kv.k_ld, *v = kv.v + (long)(bl.j0 + j) * kv.v_ld;
        float *ktj = kt + (long)(j / 16) * p->hdp * 16 + j % 16;
        for (int d = 0; d < p->hd; d++) {
            ktj[d * 16] = k[d];
            vp[((long)(d / 16) * BK + j) * 16 + d % 16] = v[d];
        }
    }
}

static AVX2 void block_avx2_(const k_attn_t *a, int i0, int nq, const kv_pack_t *p, int bi,
                             attn_scratch_t *w, const k_vmath_t *vm)
{
    kv_block_t bl = p->blk[bi];
    int nkp = (bl.nk + 15) & ~15, nqp = (nq + 5) / 6 * 6, hdp = p->hdp;
    const float *kt = p->kt + (size_t)bi * hdp * BK, *vp = p->vp + (size_t)bi * BK * hdp;
    for (int i = 0; i < nqp; i += 6)            /* S = (scale·Q)·Kᵀ */
        for (int j = 0; j < nkp; j += 16)
            tile6x16_(p->hd, w->qp + (long)i * hdp, hdp, kt + (long)j * hdp, 16, w->s + (long)i * BK + j, BK, 0);
    kv_view_t kv = view_(a, bl.list, 0, 0);     /* only its bias range is used */
    add_bias_(a, w->s, i0, nq, bl.j0, bl.nk, &kv);
    softmax_step_(w, nq, bl.nk, hdp, vm);
    for (int i = 0; i < nqp; i += 6)            /* O += P·V */
        for (int d = 0; d < hdp; d += 16)
            tile6x16_(bl.nk, w->s + (long)i * BK, BK, vp + (long)d * BK, 16, w->o + (long)i * hdp + d, hdp, 1);
}

static void item_avx2_(const k_attn_t *a, int b, int h, int i0, int nq, attn_scratch_t *w,
                       const kv_pack_t *p, const k_vmath_t *vm)
{
    int hd = w->hd, hdp = w->hdp, nqp = (nq + 5) / 6 * 6;
    const float *q = a->q + b * a->q_bs + (long)i0 * a->q_ld + (long)h * hd;
    for (int r = 0; r < nqp; r++)               /* padded rows are zero and never written out */
        for (int d = 0; d < hdp; d++)
            w->qp[(long)r * hdp + d] = r < nq && d < hd ? a->scale * q[(long)r * a->q_ld + d] : 0.0f;
    item_begin_(w, nqp, hdp);
    for (int bi = 0; bi < p->nblk; bi++) block_avx2_(a, i0, nq, p, bi, w, vm);
    item_end_(a, b, h, i0, nq, w, hdp);
}

static void pack_free_(kv_pack_t *p)
{
    free(p->blk);
    free(p->kt);
    p->blk = NULL;
    p->kt = NULL;
}

static int pack_new_(const k_attn_t *a, kv_pack_t *p)
{
    int nb0 = (a->Sk + BK - 1) / BK, nb1 = (a->Sk2 + BK - 1) / BK;
    *p = (kv_pack_t){ .nblk = nb0 + nb1, .hd = a->head_dim, .hdp = (a->head_dim + 15) & ~15 };
    size_t n = (size_t)p->nblk * BK * p->hdp;
    p->blk = malloc(sizeof(kv_block_t) * (size_t)(p->nblk + 1));
    p->kt = aligned_alloc(64, (2 * n + 16) * sizeof(float));
    if (!p->blk || !p->kt) { pack_free_(p); return -1; }
    p->vp = p->kt + n;
    for (int i = 0; i < p->nblk; i++) {
        int list = i >= nb0, j0 = (list ? i - nb0 : i) * BK, n_all = list ? a->Sk2 : a->Sk;
        p->blk[i] = (kv_block_t){ list, j0, n_all - j0 < BK ? n_all - j0 : BK };
    }
    return 0;
}

/* Work items (b, h, chunk of query blocks), no barriers: each thread keeps a private pack of the
 * head it last worked on and repacks only when its next item is another head. Packing a head
 * costs O(S·head_dim) against O(Sq·S·head_dim) of compute, so chunks of a head may be packed by
 * several threads. */
typedef struct {
    int nqb, cpt, bpc;     /* query blocks per head, chunks per head, blocks per chunk */
    long items;
} attn_plan_t;

static attn_plan_t plan_(const k_attn_t *a, int nt)
{
    attn_plan_t p = { .nqb = (a->Sq + BQ - 1) / BQ };
    long bh = (long)a->B * a->H, want = 4L * nt;   /* a few items per thread for balance */
    p.cpt = bh >= want ? 1 : (int)((want + bh - 1) / bh);
    if (p.cpt > p.nqb) p.cpt = p.nqb;
    p.bpc = (p.nqb + p.cpt - 1) / p.cpt;
    p.cpt = (p.nqb + p.bpc - 1) / p.bpc;
    p.items = bh * p.cpt;
    return p;
}

static void run_items_avx2_(const k_attn_t *a, const attn_plan_t *pl, int *failed)
{
    const k_vmath_t *vm = k_vmath_();
    attn_scratch_t w;
    kv_pack_t p;
    long packed = -1;   /* (b·H + h) held in p */
    int ok = scratch_new_(&w, a->head_dim) == 0;
    if (pack_new_(a, &p)) ok = 0;
    if (!ok) {
        #pragma omp atomic write
        *failed = 1;
    }
    #pragma omp for schedule(dynamic, 1)
    for (long it = 0; it < pl->items; it++) {
        long bh = it / pl->cpt;
        int b = (int)(bh / a->H), h = (int)(bh % a->H), c = (int)(it % pl->cpt);
        if (!ok) continue;
        if (bh != packed)
            for (int bi = 0; bi < p.nblk; bi++) pack_block_(a, b, h, &p, bi);
        packed = bh;
        for (int qb = c * pl->bpc; qb < (c + 1) * pl->bpc && qb < pl->nqb; qb++) {
            int i0 = qb * BQ, nq = a->Sq - i0 < BQ ? a->Sq - i0 : BQ;
            item_avx2_(a, b, h, i0, nq, &w, &p, vm);
        }
    }
    pack_free_(&p);
    free(w.s);
}

static int attention_avx2_(const k_attn_t *a)
{
    int failed = 0;
    if (k_attn_check_("attention", a)) return -1;
    if ((long)a->B * a->H * a->Sq == 0) return 0;
    int nt = k_threads();
    attn_plan_t pl = plan_(a, nt);
    if (nt > pl.items) nt = (int)pl.items;
    #pragma omp parallel num_threads(nt)
    run_items_avx2_(a, &pl, &failed);
    return failed ? k_fail_("attention", "out of memory for scratch") : 0;
}

/* ---------------- driver ---------------- */

static int attention_run_(const k_attn_t *a, attn_item_fn item)
{
    if (k_attn_check_("attention", a)) return -1;
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
        if (scratch_new_(&w, a->head_dim)) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < items; it++) {   /* (b, h, query block), block fastest */
            int qb = (int)(it % nqb), h = (int)(it / nqb % a->H), b = (int)(it / nqb / a->H);
            int i0 = qb * BQ, nq = a->Sq - i0 < BQ ? a->Sq - i0 : BQ;
            if (w.s) item(a, b, h, i0, nq, &w, vm);
        }
        free(w.s);
    }
    return failed ? k_fail_("attention", "out of memory for scratch") : 0;
}

int k_cpu_attention_blas_(const k_attn_t *a) { return attention_run_(a, item_blas_); }

int k_cpu_attention(const k_attn_t *a)
{
    return strcmp(k_vmath_()->name, "avx2") == 0 ? attention_avx2_(a) : attention_run_(a, item_blas_);
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
    if (k_attn_check_("ref_attention", a)) return -1;
    double *lg = malloc(sizeof(double) * ((size_t)a->Sk + a->Sk2 + 1));
    if (!lg) return k_fail_("ref_attention", "out of memory");
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Sq; i++) ref_row_(a, b, h, i, lg);
    free(lg);
    return 0;
}
