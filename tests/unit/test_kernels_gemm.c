/* test_kernels_gemm.c — k_cpu_gemm (OpenBLAS, split over threads) against k_ref_gemm and against
 * a few hand-computed values: odd sizes, row strides and weight column slices (row-parallel
 * shards), alpha/beta accumulation, bias, fused GELU/SiLU, beta = 0 over NaN garbage, 1..3
 * threads, concurrent calls from several threads with k_set_threads(1), and argument errors.
 */
#include "kernels/cpu/k_cpu_internal.h"
#include "tests/test.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>

static uint64_t rng_ = 0x9E3779B97F4A7C15ull;
static float frand_(void)
{
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return (float)((rng_ >> 40) * (1.0 / (1ull << 23)) - 1.0);
}
static float *rand_buf_(long n)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = frand_();
    return p;
}

static void test_hand_values(void)
{
    /* x (2, 3), w (2, 3) → y = x·wᵀ + b */
    float x[6] = { 1, 2, 3, 4, 5, 6 }, w[6] = { 1, 0, -1, 0.5f, 0.5f, 0.5f }, b[2] = { 10, -1 };
    float y[4], want[4] = { 1 - 3 + 10, 3 - 1, 4 - 6 + 10, 7.5f - 1 };
    CHECK(k_cpu_gemm(y, 2, x, 3, w, 3, b, 2, 2, 3, 1.0f, 0.0f, K_ACT_NONE) == 0);
    CHECK(t_allclose("hand", y, want, 4, 1e-6, 0));
    float g[1], one = 1.0f, zero = 0;   /* gelu_tanh(1) = 0.841191990607 */
    CHECK(k_cpu_gemm(g, 1, &one, 1, &one, 1, &zero, 1, 1, 1, 1.0f, 0.0f, K_ACT_GELU_TANH) == 0);
    CHECKF(fabs(g[0] - 0.841191990607) < 1e-6, "gelu(1) = %.9g", g[0]);
    CHECK(k_cpu_gemm(g, 1, &one, 1, &one, 1, NULL, 1, 1, 1, -2.0f, 0.0f, K_ACT_SILU) == 0);
    CHECKF(fabs(g[0] - (-2.0 / (1.0 + exp(2.0)))) < 1e-6, "silu(-2) = %.9g", g[0]);
}

/* One random case: y (M, N) in a (M, ldy) buffer, x a column slice, w a column slice. */
static void one_case_(int M, int N, int K, float alpha, float beta, k_act_t act, int use_b, int threads)
{
    int ldx = K + 3, ldw = K + 5, ldy = N + 2;
    float *x = rand_buf_((long)M * ldx), *w = rand_buf_((long)N * ldw), *b = rand_buf_(N);
    float *y0 = rand_buf_((long)M * ldy), *y = malloc(sizeof(float) * ((size_t)M * ldy + 1));
    float *r = malloc(sizeof(float) * ((size_t)M * ldy + 1));
    memcpy(r, y0, sizeof(float) * (size_t)M * ldy);
    memcpy(y, y0, sizeof(float) * (size_t)M * ldy);
    if (beta == 0.0f) for (long i = 0; i < (long)M * ldy; i++) if (i % ldy < N) y[i] = NAN;
    k_set_threads(threads);
    CHECKF(k_cpu_gemm(y, ldy, x + 1, ldx, w + 2, ldw, use_b ? b : NULL, M, N, K, alpha, beta, act) == 0, "%s", k_error());
    k_set_threads(0);
    CHECK(k_ref_gemm(r, ldy, x + 1, ldx, w + 2, ldw, use_b ? b : NULL, M, N, K, alpha, beta, act) == 0);
    char what[96];
    snprintf(what, sizeof what, "gemm %dx%dx%d a%g b%g %s bias%d t%d", M, N, K, (double)alpha,
             (double)beta, k_act_name(act), use_b, threads);
    CHECKF(t_allclose(what, y, r, (long)M * ldy, 1e-5, 1e-4), "%s", what);   /* padding columns too */
    free(x); free(w); free(b); free(y0); free(y); free(r);
}

static void test_against_ref(void)
{
    int sizes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 17, 33, 65 }, { 130, 70, 64 }, { 257, 96, 129 },
                       { 5, 300, 40 }, { 64, 64, 0 } };
    for (unsigned s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int act = 0; act < K_ACT_COUNT; act++) {
            one_case_(sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f, (k_act_t)act, 1, 2);
            one_case_(sizes[s][0], sizes[s][1], sizes[s][2], 0.5f, 1.0f, (k_act_t)act, act != 1, 3);
        }
    one_case_(200, 150, 77, -1.25f, 0.75f, K_ACT_NONE, 1, 1);
    one_case_(200, 150, 77, 0.0078125f, 1.0f, K_ACT_NONE, 0, 2);   /* LoRA-style accumulate */
}

/* Row-parallel split: y = x·wᵀ summed over two K halves (w column slices) equals the full GEMM. */
static void test_row_parallel_split(void)
{
    int M = 45, N = 38, K = 100;
    float *x = rand_buf_((long)M * K), *w = rand_buf_((long)N * K), *b = rand_buf_(N);
    float *full = malloc(sizeof(float) * M * N), *part = malloc(sizeof(float) * M * N);
    CHECK(k_cpu_gemm(full, N, x, K, w, K, b, M, N, K, 1.0f, 0.0f, K_ACT_NONE) == 0);
    CHECK(k_cpu_gemm(part, N, x, K, w, K, b, M, N, 60, 1.0f, 0.0f, K_ACT_NONE) == 0);
    CHECK(k_cpu_gemm(part, N, x + 60, K, w + 60, K, NULL, M, N, 40, 1.0f, 1.0f, K_ACT_NONE) == 0);
    CHECK(t_allclose("row-parallel", part, full, (long)M * N, 1e-5, 1e-5));
    free(x); free(w); free(b); free(full); free(part);
}

/* Results do not depend on the thread count (re-rendering a window must be bit-identical). */
static void test_thread_count_invariance(void)
{
    int shapes[][3] = { { 333, 200, 96 }, { 40, 700, 64 }, { 1000, 48, 130 } };
    for (int s = 0; s < 3; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = rand_buf_((long)M * K), *w = rand_buf_((long)N * K), *b = rand_buf_(N);
        float *y1 = malloc(sizeof(float) * M * N), *y = malloc(sizeof(float) * M * N);
        k_set_threads(1);
        CHECK(k_cpu_gemm(y1, N, x, K, w, K, b, M, N, K, 1.0f, 0.0f, K_ACT_GELU_TANH) == 0);
        for (int t = 2; t <= 3; t++) {
            k_set_threads(t);
            CHECK(k_cpu_gemm(y, N, x, K, w, K, b, M, N, K, 1.0f, 0.0f, K_ACT_GELU_TANH) == 0);
            CHECKF(memcmp(y, y1, sizeof(float) * M * N) == 0, "shape %d threads %d differs from 1 thread", s, t);
        }
        k_set_threads(0);
        free(x); free(w); free(b); free(y1); free(y);
    }
}

/* bf16 weights: round fp32 weights to bf16 (nearest even), then the bf16 GEMM must match the naive
 * loop on the widened weights; odd sizes, strides, beta over NaN, several column tiles, threads. */
static uint16_t to_bf16_(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static void bf16_case_(int M, int N, int K, float beta, k_act_t act, int threads)
{
    int ldw = K + 3, ldy = N + 1;
    float *x = rand_buf_((long)M * K), *wf = rand_buf_((long)N * ldw), *b = rand_buf_(N);
    uint16_t *wb = malloc(sizeof(uint16_t) * ((size_t)N * ldw + 1));
    for (long i = 0; i < (long)N * ldw; i++) { wb[i] = to_bf16_(wf[i]); uint32_t u = (uint32_t)wb[i] << 16; memcpy(&wf[i], &u, 4); }
    float *y = rand_buf_((long)M * ldy), *r = malloc(sizeof(float) * ((size_t)M * ldy + 1));
    memcpy(r, y, sizeof(float) * (size_t)M * ldy);
    if (beta == 0.0f) for (long i = 0; i < (long)M * ldy; i++) if (i % ldy < N) y[i] = NAN;
    k_set_threads(threads);
    CHECKF(k_cpu_gemm_bf16w(y, ldy, x, K, wb, ldw, b, M, N, K, 0.5f, beta, act) == 0, "%s", k_error());
    k_set_threads(0);
    CHECK(k_ref_gemm(r, ldy, x, K, wf, ldw, b, M, N, K, 0.5f, beta, act) == 0);
    char what[80];
    snprintf(what, sizeof what, "gemm_bf16w %dx%dx%d beta %g %s t%d", M, N, K, (double)beta, k_act_name(act), threads);
    CHECKF(t_allclose(what, y, r, (long)M * ldy, 1e-5, 1e-4), "%s", what);
    free(x); free(wf); free(b); free(wb); free(y); free(r);
}

static void test_bf16_weights(void)
{
    bf16_case_(1, 1, 1, 0.0f, K_ACT_NONE, 1);
    bf16_case_(37, 300, 65, 0.0f, K_ACT_GELU_TANH, 2);    /* 2 column tiles */
    bf16_case_(300, 600, 33, 1.0f, K_ACT_NONE, 3);        /* 2 row tiles × 3 column tiles */
    bf16_case_(5, 20, 0, 0.5f, K_ACT_SILU, 1);            /* K = 0 */
    /* exact widening: 1.0, -2.5, the largest finite bf16, a NaN payload */
    uint16_t h[4] = { 0x3f80, 0xc020, 0x7f7f, 0x7fc1 };
    float f[4];
    k_vmath_()->bf16_to_f32(f, h, 4);
    CHECK(f[0] == 1.0f && f[1] == -2.5f && f[2] > 3.38e38f && isnan(f[3]));
    /* thread-count invariance */
    int M = 260, N = 520, K = 70;
    float *x = rand_buf_((long)M * K), *y1 = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N);
    uint16_t *w = malloc(sizeof(uint16_t) * N * K);
    for (long i = 0; i < (long)N * K; i++) w[i] = to_bf16_(frand_());
    k_set_threads(1);
    CHECK(k_cpu_gemm_bf16w(y1, N, x, K, w, K, NULL, M, N, K, 1, 0, K_ACT_NONE) == 0);
    k_set_threads(3);
    CHECK(k_cpu_gemm_bf16w(y2, N, x, K, w, K, NULL, M, N, K, 1, 0, K_ACT_NONE) == 0);
    k_set_threads(0);
    CHECK(memcmp(y1, y2, sizeof(float) * M * N) == 0);
    CHECK(k_cpu_gemm_bf16w(y1, N, x, K, w, K - 1, NULL, M, N, K, 1, 0, K_ACT_NONE) == -1);   /* ldw < K */
    CHECK(k_cpu_gemm_bf16w(y1, N, x, K, NULL, K, NULL, M, N, K, 1, 0, K_ACT_NONE) == -1);
    free(x); free(y1); free(y2); free(w);
}

typedef struct { int M, N, K, ok; } conc_arg_t;

static void *conc_thread_(void *p)
{
    conc_arg_t *c = p;
    float *x = malloc(sizeof(float) * c->M * c->K), *w = malloc(sizeof(float) * c->N * c->K);
    float *y = malloc(sizeof(float) * c->M * c->N), *r = malloc(sizeof(float) * c->M * c->N);
    for (int i = 0; i < c->M * c->K; i++) x[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < c->N * c->K; i++) w[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    k_set_threads(1);
    c->ok = 1;
    for (int it = 0; it < 5; it++) {
        c->ok &= k_cpu_gemm(y, c->N, x, c->K, w, c->K, NULL, c->M, c->N, c->K, 1.0f, 0.0f, K_ACT_GELU_TANH) == 0;
        c->ok &= k_ref_gemm(r, c->N, x, c->K, w, c->K, NULL, c->M, c->N, c->K, 1.0f, 0.0f, K_ACT_GELU_TANH) == 0;
        c->ok &= t_allclose("concurrent", y, r, (long)c->M * c->N, 1e-5, 1e-4);
    }
    free(x); free(w); free(y); free(r);
    return NULL;
}

/* Tensor-parallel ranks are threads that call ops concurrently, each with k_set_threads(1). */
static void test_concurrent_callers(void)
{
    pthread_t th[3];
    conc_arg_t a[3] = { { 96, 80, 72, 0 }, { 64, 128, 50, 0 }, { 120, 33, 90, 0 } };
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, conc_thread_, &a[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECKF(a[i].ok, "thread %d", i);
    k_cpu_init();
    CHECK_EQ_INT(openblas_get_num_threads(), 1);   /* pinned */
    k_set_threads(2);
    CHECK_EQ_INT(k_threads(), 2);
    k_set_threads(0);
    CHECK(k_threads() >= 1);
}

static void test_errors(void)
{
    float buf[16] = { 0 };
    CHECK(k_cpu_gemm(buf, 1, buf, 2, buf, 2, NULL, 2, 2, 2, 1, 0, K_ACT_NONE) == -1);   /* ldy < N */
    CHECKF(strstr(k_error(), "gemm") && strstr(k_error(), "y"), "%s", k_error());
    CHECK(k_cpu_gemm(buf, 2, buf, 1, buf, 2, NULL, 2, 2, 2, 1, 0, K_ACT_NONE) == -1);   /* ldx < K */
    CHECK(k_cpu_gemm(buf, 2, buf, 2, NULL, 2, NULL, 2, 2, 2, 1, 0, K_ACT_NONE) == -1);  /* w NULL */
    CHECK(k_cpu_gemm(buf, 2, buf, 2, buf, 2, NULL, -1, 2, 2, 1, 0, K_ACT_NONE) == -1);
    CHECK(k_cpu_gemm(buf, 2, buf, 2, buf, 2, NULL, 2, 2, 2, 1, 0, (k_act_t)9) == -1);
    CHECK(k_cpu_gemm(NULL, 2, NULL, 2, buf, 2, NULL, 0, 2, 2, 1, 0, K_ACT_NONE) == 0); /* M = 0 */
    char err[128] = "";
    const k_backend_t *be = k_backend_cpu();
    CHECK(be->gemm(buf, 1, buf, 2, buf, 2, NULL, 2, 2, 2, 1, 0, K_ACT_NONE) == -1);
    CHECK(be->sync(err, sizeof err) == -1 && strstr(err, "gemm") != NULL);
    CHECK(be->sync(err, sizeof err) == 0);
    CHECK_STR(be->name, "cpu");
}

int main(void)
{
    T_RUN(test_hand_values);
    T_RUN(test_against_ref);
    T_RUN(test_row_parallel_split);
    T_RUN(test_thread_count_invariance);
    T_RUN(test_bf16_weights);
    T_RUN(test_concurrent_callers);
    T_RUN(test_errors);
    T_DONE();
}
