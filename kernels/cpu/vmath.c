/* vmath.c — vector math for the CPU ops: GELU(tanh), SiLU, and the max / exp-and-sum steps of the
 * streaming softmax. Two implementations behind one table: a scalar one on libm (the meaning) and
 * an AVX2+FMA one (a Cephes-style expf polynomial, within a few ulp of libm) chosen at run time
 * with __builtin_cpu_supports, since the build uses -O2 without -march.
 * Not a general math library: only what the ops need.
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---------------- scalar (the specification) ---------------- */

static void gelu_s_(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

static void silu_s_(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

static float max_s_(const float *x, int n)
{
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static float exp_sub_sum_s_(float *x, int n, float m)
{
    float s = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    return s;
}

static void scale_s_(float *x, int n, float s)
{
    for (int i = 0; i < n; i++) x[i] *= s;
}

/* One LayerNorm vector: y = (x − mean)/sqrt(var + eps)·w + b (w, b may be NULL); y may equal x.
 * Mean and biased variance accumulated in double over two passes. */
static void ln_row_s_(float *y, const float *x, int n, const float *w, const float *b, float eps)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (int i = 0; i < n; i++) { double d = x[i] - mean; ss += d * d; }
    float rstd = (float)(1.0 / sqrt(ss / n + (double)eps)), m = (float)mean;
    for (int i = 0; i < n; i++) {
        float v = (x[i] - m) * rstd;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

/* bf16 bit patterns to fp32: the 16 bits are the top half of the float. */
static void bf16_to_f32_s_(float *dst, const uint16_t *src, long n)
{
    for (long i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

static const k_vmath_t vm_scalar_ = {
    "scalar", gelu_s_, silu_s_, max_s_, exp_sub_sum_s_, scale_s_, ln_row_s_, bf16_to_f32_s_,
};

/* ---------------- AVX2 + FMA ---------------- */

#define AVX2 __attribute__((target("avx2,fma")))

/* exp(x) for 8 floats: range reduction x = n·ln2 + r, degree-6 polynomial on r, 2^n by exponent
 * bits. exp(x) = 0 below -87.3 (incl. -inf), clamped to exp(88) above; NaN propagates. */
static inline AVX2 __m256 exp8_(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.0f);
    __m256 zero_mask = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(zero_mask, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* x · sigmoid(a·x-ish): y = x / (1 + exp(-z)) */
static inline AVX2 __m256 xsig8_(__m256 x, __m256 z)
{
    __m256 e = exp8_(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* GELU(tanh) = 0.5·x·(1 + tanh(u)) = x / (1 + exp(-2u)), u = √(2/π)(x + 0.044715x³) */
static AVX2 void gelu_v_(float *y, const float *x, long n)
{
    const __m256 c0 = _mm256_set1_ps(2.0f * 0.7978845608028654f), c1 = _mm256_set1_ps(0.044715f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_mul_ps(c0, _mm256_fmadd_ps(_mm256_mul_ps(c1, v), _mm256_mul_ps(v, v), v));
        _mm256_storeu_ps(y + i, xsig8_(v, u));
    }
    gelu_s_(y + i, x + i, n - i);
}

static AVX2 void silu_v_(float *y, const float *x, long n)
{
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, xsig8_(v, v));
    }
    silu_s_(y + i, x + i, n - i);
}

static inline AVX2 float hsum8_(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static AVX2 float max_v_(const float *x, int n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h), t = max_s_(x + i, n - i);
    return t > r ? t : r;
}

static AVX2 float exp_sub_sum_v_(float *x, int n, float m)
{
    __m256 vm = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8_(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = hsum8_(acc);
    for (; i < n; i++) {   /* tail through the same polynomial, so every element agrees */
        float t[8] = { x[i] - m }, out[8];
        _mm256_storeu_ps(out, exp8_(_mm256_loadu_ps(t)));
        x[i] = out[0];
        s += out[0];
    }
    return s;
}

static AVX2 void scale_v_(float *x, int n, float s)
{
    __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(vs, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] *= s;
}

static inline AVX2 double hsum4d_(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* Same two passes as ln_row_s_, 8 floats at a time with double accumulators. */
static AVX2 void ln_row_v_(float *y, const float *x, int n, const float *w, const float *b, float eps)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int i = 0, n8 = n & ~7;
    for (; i < n8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double s = hsum4d_(_mm256_add_pd(a0, a1));
    for (; i < n; i++) s += x[i];
    double mean = s / n;
    __m256d md = _mm256_set1_pd(mean);
    a0 = a1 = _mm256_setzero_pd();
    for (i = 0; i < n8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double ss = hsum4d_(_mm256_add_pd(a0, a1));
    for (; i < n; i++) { double d = x[i] - mean; ss += d * d; }
    float rstd = (float)(1.0 / sqrt(ss / n + (double)eps)), m = (float)mean;
    __m256 vm = _mm256_set1_ps(m), vr = _mm256_set1_ps(rstd);
    for (i = 0; i < n8; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vr);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        float v = (x[i] - m) * rstd;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

static AVX2 void bf16_to_f32_v_(float *dst, const uint16_t *src, long n)
{
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(u, 16));
    }
    bf16_to_f32_s_(dst + i, src + i, n - i);
}

static const k_vmath_t vm_avx2_ = {
    "avx2", gelu_v_, silu_v_, max_v_, exp_sub_sum_v_, scale_v_, ln_row_v_, bf16_to_f32_v_,
};

/* ---------------- dispatch ---------------- */

static const k_vmath_t *vm_sel_ = &vm_scalar_;
static pthread_once_t vm_once_ = PTHREAD_ONCE_INIT;

static void vm_pick_(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) vm_sel_ = &vm_avx2_;
}

const k_vmath_t *k_vmath_(void)
{
    pthread_once(&vm_once_, vm_pick_);
    return vm_sel_;
}

const k_vmath_t *k_vmath_scalar_(void) { return &vm_scalar_; }

void k_vmath_force_scalar_(int on)
{
    pthread_once(&vm_once_, vm_pick_);
    if (on) vm_sel_ = &vm_scalar_;
    else { vm_sel_ = &vm_scalar_; vm_pick_(); }
}
