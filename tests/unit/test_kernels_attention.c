/* test_kernels_attention.c — the fused attention (k_cpu_attention) and its reference loop
 * (k_ref_attention) against the textbook form built here: a dense (Sq, Sk+Sk2) mask M and
 * O = softmax(Q·Kᵀ·scale + M)·V per head, in double. Covers odd sizes, the three text→alpha bias
 * modes (none, -1, -inf), fully masked blocks, extra key lists, strided fused-qkv layouts, a head
 * subset of a wider tensor (tensor-parallel shard), 1..3 threads, both engines (AVX2 tiles where
 * the CPU has them, OpenBLAS sgemm otherwise), and argument errors.
 */
#include "kernels/cpu/k_cpu_internal.h"
#include "tests/test.h"

#include <stdint.h>

static uint64_t rng_ = 88172645463325252ull;
static float frand_(void)   /* uniform in [-1, 1) */
{
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return (float)((rng_ >> 40) * (1.0 / (1ull << 23)) - 1.0);
}
static float *rand_buf_(long n, float amp)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = amp * frand_();
    return p;
}

/* Dense textbook attention for head h, batch b, with mask M (Sq, Sk+Sk2) in double. */
static void dense_(const k_attn_t *a, const double *M, int b, int h, float *out /* (Sq, hd) */)
{
    int n = a->Sk + a->Sk2, hd = a->head_dim;
    double *p = malloc(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < a->Sq; i++) {
        const float *q = a->q + b * a->q_bs + (long)i * a->q_ld + h * hd;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            const float *k = j < a->Sk ? a->k + b * a->k_bs + (long)j * a->k_ld + h * hd
                                       : a->k2 + b * a->k2_bs + (long)(j - a->Sk) * a->k2_ld + h * hd;
            double d = 0;
            for (int e = 0; e < hd; e++) d += (double)q[e] * k[e];
            p[j] = d * a->scale + M[(long)i * n + j];
            if (p[j] > mx) mx = p[j];
        }
        for (int j = 0; j < n; j++) { p[j] = mx == -INFINITY ? 0 : exp(p[j] - mx); sum += p[j]; }
        for (int e = 0; e < hd; e++) {
            double acc = 0;
            for (int j = 0; j < n; j++) {
                const float *v = j < a->Sk ? a->v + b * a->v_bs + (long)j * a->v_ld + h * hd
                                           : a->v2 + b * a->v2_bs + (long)(j - a->Sk) * a->v2_ld + h * hd;
                acc += p[j] * v[e];
            }
            out[(long)i * hd + e] = sum > 0 ? (float)(acc / sum) : 0.0f;
        }
    }
    free(p);
}

/* The mask the rule means, built densely: rows [q0,q1) × keys [k0,k1) (main) and [k2_0,k2_1)
 * (extra, offset by Sk) get `bias`. */
static double *dense_mask_(const k_attn_t *a)
{
    int n = a->Sk + a->Sk2;
    double *M = calloc((size_t)a->Sq * n + 1, sizeof(double));
    for (int i = 0; i < a->Sq; i++)
        for (int j = 0; j < n; j++) {
            int in_k = j < a->Sk ? (j >= a->k0 && j < a->k1) : (j - a->Sk >= a->k2_0 && j - a->Sk < a->k2_1);
            if (i >= a->q0 && i < a->q1 && in_k) M[(long)i * n + j] = a->bias;
        }
    return M;
}

/* Compare fast and reference outputs (in a->o layout) with the dense form, head by head. */
static int compare_(const char *what, k_attn_t *a, int threads)
{
    int ok = 1, hd = a->head_dim;
    long osz = (long)(a->B - 1) * a->o_bs + (long)a->Sq * a->o_ld + 1;
    float *fast = malloc(sizeof(float) * osz), *ref = malloc(sizeof(float) * osz);
    float *blas = malloc(sizeof(float) * osz), *got3 = malloc(sizeof(float) * ((size_t)a->Sq * hd + 1));
    float *want = malloc(sizeof(float) * ((size_t)a->Sq * hd + 1)), *got = malloc(sizeof(float) * ((size_t)a->Sq * hd + 1));
    float *got2 = malloc(sizeof(float) * ((size_t)a->Sq * hd + 1));
    double *M = dense_mask_(a);
    for (long i = 0; i < osz; i++) fast[i] = ref[i] = blas[i] = NAN;   /* untouched columns stay NaN */
    k_set_threads(threads);
    a->o = fast; CHECKF(k_cpu_attention(a) == 0, "%s: %s", what, k_error());
    a->o = ref;  CHECKF(k_ref_attention(a) == 0, "%s: %s", what, k_error());
    a->o = blas; CHECKF(k_cpu_attention_blas_(a) == 0, "%s: %s", what, k_error());
    k_set_threads(0);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            dense_(a, M, b, h, want);
            for (int i = 0; i < a->Sq; i++)
                for (int e = 0; e < hd; e++) {
                    got[(long)i * hd + e] = fast[b * a->o_bs + (long)i * a->o_ld + h * hd + e];
                    got2[(long)i * hd + e] = ref[b * a->o_bs + (long)i * a->o_ld + h * hd + e];
                    got3[(long)i * hd + e] = blas[b * a->o_bs + (long)i * a->o_ld + h * hd + e];
                }
            ok &= t_allclose(what, got, want, (long)a->Sq * hd, 2e-5, 2e-4);
            ok &= t_allclose(what, got2, want, (long)a->Sq * hd, 1e-6, 1e-5);
            ok &= t_allclose(what, got3, want, (long)a->Sq * hd, 2e-5, 2e-4);
        }
    CHECKF(ok, "%s (threads %d)", what, threads);
    free(fast); free(ref); free(blas); free(want); free(got); free(got2); free(got3); free(M);
    return ok;
}

/* Separate contiguous q, k, v (B, S, H·hd); TransPixar-style sequence [text | rgb | alpha]. */
static void run_case_(const char *what, int B, int H, int hd, int n_text, int n_vid, float bias, int threads)
{
    int S = n_text + 2 * n_vid, w = H * hd;
    float *q = rand_buf_((long)B * S * w, 2.0f), *k = rand_buf_((long)B * S * w, 2.0f);
    float *v = rand_buf_((long)B * S * w, 1.0f);
    k_attn_t a = {
        .B = B, .H = H, .head_dim = hd, .Sq = S, .Sk = S,
        .q = q, .q_bs = (long)S * w, .q_ld = w, .k = k, .k_bs = (long)S * w, .k_ld = w,
        .v = v, .v_bs = (long)S * w, .v_ld = w, .o_bs = (long)S * w, .o_ld = w,
        .scale = 1.0f / sqrtf((float)hd), .bias = bias,
        .q0 = 0, .q1 = n_text, .k0 = n_text + n_vid, .k1 = S,
    };
    compare_(what, &a, threads);
    free(q); free(k); free(v);
}

static void test_bias_modes(void)
{
    float modes[3] = { 0.0f, -1.0f, -INFINITY };
    for (int m = 0; m < 3; m++) {
        char name[64];
        snprintf(name, sizeof name, "tiny bias %g", (double)modes[m]);
        run_case_(name, 1, 1, 64, 3, 5, modes[m], 1);
        snprintf(name, sizeof name, "odd bias %g", (double)modes[m]);
        run_case_(name, 2, 3, 64, 7, 150, modes[m], 2);          /* S = 307: partial blocks */
        snprintf(name, sizeof name, "long text bias %g", (double)modes[m]);
        run_case_(name, 1, 2, 64, 226, 140, modes[m], 3);         /* text rows span 4 query blocks */
    }
    run_case_("head_dim 8", 2, 2, 8, 5, 33, -1.0f, 2);
    run_case_("head_dim 13", 1, 3, 13, 1, 20, -INFINITY, 1);
    run_case_("single token", 1, 1, 64, 1, 0, -INFINITY, 1);
}

/* -inf: text rows must equal attention over text+RGB keys only; a -inf block that covers a whole
 * key block (and rows whose first key block is fully masked) must not produce NaN. */
static void test_hard_mask_equivalence(void)
{
    int H = 2, hd = 64, n_text = 9, n_vid = 300, S = n_text + 2 * n_vid, w = H * hd;
    float *q = rand_buf_((long)S * w, 2.0f), *k = rand_buf_((long)S * w, 2.0f), *v = rand_buf_((long)S * w, 1.0f);
    float *o = malloc(sizeof(float) * S * w), *o2 = malloc(sizeof(float) * n_text * w);
    k_attn_t a = { .B = 1, .H = H, .head_dim = hd, .Sq = S, .Sk = S, .q = q, .q_ld = w, .k = k, .k_ld = w,
                   .v = v, .v_ld = w, .o = o, .o_ld = w, .scale = 0.125f, .bias = -INFINITY,
                   .q0 = 0, .q1 = n_text, .k0 = n_text + n_vid, .k1 = S };
    CHECK(k_cpu_attention(&a) == 0);
    k_attn_t t = a;   /* text queries over the unmasked keys only, no bias */
    t.Sq = n_text; t.Sk = n_text + n_vid; t.bias = 0; t.o = o2;
    CHECK(k_cpu_attention(&t) == 0);
    float *ot = malloc(sizeof(float) * n_text * w);
    for (int i = 0; i < n_text * w; i++) ot[i] = o[i];
    CHECK(t_allclose("hard mask = dropped keys", ot, o2, (long)n_text * w, 1e-6, 1e-5));
    /* mask the FIRST keys instead (rows start with a fully masked key block) */
    a.k0 = 0; a.k1 = 280;
    float *ref = malloc(sizeof(float) * S * w);
    a.o = ref; CHECK(k_ref_attention(&a) == 0);
    a.o = o;   CHECK(k_cpu_attention(&a) == 0);
    int finite = 1;
    for (long i = 0; i < (long)S * w; i++) finite &= isfinite(o[i]);
    CHECK(finite);
    CHECK(t_allclose("masked first block", o, ref, (long)S * w, 2e-5, 2e-4));
    /* every key masked for the text rows: output 0, never NaN */
    a.k0 = 0; a.k1 = S;
    CHECK(k_cpu_attention(&a) == 0);
    int zero = 1;
    for (long i = 0; i < (long)n_text * w; i++) zero &= o[i] == 0.0f;
    CHECK(zero);
    free(q); free(k); free(v); free(o); free(o2); free(ot); free(ref);
}

/* q, k, v as column slices of one fused (B, S, 3·Hfull·hd) buffer; this rank's heads are
 * [h0, h0+H) of Hfull; output into a wider (B, S, Hfull·hd + 5) buffer; plus an extra K/V list
 * with its own bias range. */
static void test_strided_shard_extra(void)
{
    int B = 2, Hfull = 4, H = 2, h0 = 1, hd = 64, S = 261, S2 = 70, n_text = 13;
    int wf = Hfull * hd, ld = 3 * wf, old = wf + 5;
    float *qkv = rand_buf_((long)B * S * ld, 2.0f), *kv2 = rand_buf_((long)B * S2 * 2 * wf, 2.0f);
    for (int it = 0; it < 3; it++) {
        k_attn_t a = {
            .B = B, .H = H, .head_dim = hd, .Sq = S, .Sk = S, .Sk2 = S2,
            .q = qkv + h0 * hd, .q_bs = (long)S * ld, .q_ld = ld,
            .k = qkv + wf + h0 * hd, .k_bs = (long)S * ld, .k_ld = ld,
            .v = qkv + 2 * wf + h0 * hd, .v_bs = (long)S * ld, .v_ld = ld,
            .k2 = kv2 + h0 * hd, .k2_bs = (long)S2 * 2 * wf, .k2_ld = 2 * wf,
            .v2 = kv2 + wf + h0 * hd, .v2_bs = (long)S2 * 2 * wf, .v2_ld = 2 * wf,
            .o_bs = (long)S * old, .o_ld = old, .scale = 0.125f,
            .bias = it == 0 ? -1.0f : it == 1 ? -INFINITY : 0.0f,
            .q0 = 0, .q1 = n_text, .k0 = 137, .k1 = S, .k2_0 = it == 1 ? 10 : 0, .k2_1 = it == 1 ? 50 : 0,
        };
        compare_(it == 0 ? "shard+extra -1" : it == 1 ? "shard+extra -inf, extra range" : "shard+extra none", &a, 2);
    }
    /* extra list only (Sk = 0) */
    k_attn_t e = { .B = 1, .H = 1, .head_dim = hd, .Sq = 17, .Sk = 0, .Sk2 = S2,
                   .q = qkv, .q_ld = ld, .k = qkv, .k_ld = ld, .v = qkv, .v_ld = ld,
                   .k2 = kv2, .k2_ld = 2 * wf, .v2 = kv2 + wf, .v2_ld = 2 * wf, .o_ld = hd, .scale = 0.125f };
    compare_("extra only", &e, 1);
    free(qkv); free(kv2);
}

/* Results do not depend on the thread count (bit-identical), both engines. */
static void test_thread_count_invariance(void)
{
    int B = 2, H = 3, hd = 64, S = 500, w = H * hd;
    float *q = rand_buf_((long)B * S * w, 2.0f), *k = rand_buf_((long)B * S * w, 2.0f), *v = rand_buf_((long)B * S * w, 1.0f);
    float *o1 = malloc(sizeof(float) * B * S * w), *o = malloc(sizeof(float) * B * S * w);
    for (int eng = 0; eng < 2; eng++) {
        k_attn_t a = { .B = B, .H = H, .head_dim = hd, .Sq = S, .Sk = S, .q = q, .q_bs = (long)S * w, .q_ld = w,
                       .k = k, .k_bs = (long)S * w, .k_ld = w, .v = v, .v_bs = (long)S * w, .v_ld = w,
                       .o = o1, .o_bs = (long)S * w, .o_ld = w, .scale = 0.125f, .bias = -1.0f,
                       .q0 = 0, .q1 = 30, .k0 = 265, .k1 = S };
        k_set_threads(1);
        CHECK((eng ? k_cpu_attention_blas_(&a) : k_cpu_attention(&a)) == 0);
        a.o = o;
        for (int t = 2; t <= 5; t += 3) {
            k_set_threads(t);
            CHECK((eng ? k_cpu_attention_blas_(&a) : k_cpu_attention(&a)) == 0);
            CHECKF(memcmp(o, o1, sizeof(float) * B * S * w) == 0, "engine %d threads %d", eng, t);
        }
        k_set_threads(0);
    }
    free(q); free(k); free(v); free(o1); free(o);
}

static void test_errors(void)
{
    float buf[64] = { 0 };
    k_attn_t a = { .B = 1, .H = 1, .head_dim = 8, .Sq = 2, .Sk = 2, .q = buf, .q_ld = 8, .k = buf, .k_ld = 8,
                   .v = buf, .v_ld = 4 /* too small */, .o = buf + 32, .o_ld = 8, .scale = 1 };
    CHECK(k_cpu_attention(&a) == -1);
    CHECKF(strstr(k_error(), "v") != NULL, "%s", k_error());
    a.v_ld = 8; a.head_dim = 0;
    CHECK(k_cpu_attention(&a) == -1);
    a.head_dim = 8; a.Sk2 = 3;   /* extra keys without buffers */
    CHECK(k_ref_attention(&a) == -1);
    a.Sk2 = 0; a.bias = NAN;
    CHECK(k_cpu_attention(&a) == -1);
    CHECK(k_cpu_attention(NULL) == -1);
    a.bias = 0; a.scale = INFINITY;
    CHECK(k_cpu_attention(&a) == -1);
    a.scale = 1;
    a.bias = 0;
    CHECK(k_cpu_attention(&a) == 0);
    a.Sq = 0;
    CHECK(k_cpu_attention(&a) == 0);
}

/* As on a CPU without AVX2: scalar vector math, the blas engine picked by k_cpu_attention. */
static void test_scalar_path(void)
{
    k_vmath_force_scalar_(1);
    CHECK_STR(k_vmath_()->name, "scalar");
    run_case_("scalar path -1", 2, 3, 64, 7, 150, -1.0f, 2);
    run_case_("scalar path -inf", 1, 2, 64, 226, 140, -INFINITY, 3);
    k_vmath_force_scalar_(0);
    CHECK(strcmp(k_vmath_()->name, "scalar") != 0 || !__builtin_cpu_supports("avx2"));
}

int main(void)
{
    T_RUN(test_bias_modes);
    T_RUN(test_scalar_path);
    T_RUN(test_hard_mask_equivalence);
    T_RUN(test_strided_shard_extra);
    T_RUN(test_thread_count_invariance);
    T_RUN(test_errors);
    T_DONE();
}
