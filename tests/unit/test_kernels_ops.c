/* test_kernels_ops.c — the simple CPU ops against loops written here from the model's own
 * definitions (MODEL.md §1.4–§1.7): layer norm (affine / none / per head, strided, in place),
 * RMS norm, GELU(tanh) and SiLU (vector path vs libm), adaLN modulate, gated residual, RoPE with
 * interleaved pairs, patch embedding as the per-frame Conv2d (v1.0) and the v1.5 Linear, and
 * unpatchify as the reference reshape/permute. Odd sizes throughout.
 */
#include "kernels/cpu/k_cpu_internal.h"
#include "tests/test.h"

#include <stdint.h>

static uint64_t rng_ = 0x2545F4914F6CDD1Dull;
static float frand_(void)
{
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return (float)((rng_ >> 40) * (1.0 / (1ull << 23)) - 1.0);
}
static float *rand_buf_(long n, float amp)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = amp * frand_() + (i % 7 == 0 ? 0.3f * amp : 0.0f);
    return p;
}

static void test_layernorm(void)
{
    int rows = 37, groups = 3, dim = 65, ld = groups * dim + 4;
    float *x = rand_buf_((long)rows * ld, 3.0f), *w = rand_buf_(dim, 1.0f), *b = rand_buf_(dim, 1.0f);
    float *y = malloc(sizeof(float) * rows * ld), *want = malloc(sizeof(float) * rows * ld);
    for (int aff = 0; aff < 2; aff++) {
        memcpy(want, x, sizeof(float) * rows * ld);
        memcpy(y, x, sizeof(float) * rows * ld);
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++) {
                const float *v = x + (long)r * ld + g * dim;
                double mean = 0, var = 0;
                for (int i = 0; i < dim; i++) mean += v[i] / (double)dim;
                for (int i = 0; i < dim; i++) var += (v[i] - mean) * (v[i] - mean) / dim;
                for (int i = 0; i < dim; i++) {
                    double n = (v[i] - mean) / sqrt(var + 1e-6);
                    want[(long)r * ld + g * dim + i] = (float)(aff ? n * w[i] + b[i] : n);
                }
            }
        CHECK(k_cpu_layernorm(y, ld, y, ld, rows, groups, dim, aff ? w : NULL, aff ? b : NULL, 1e-6f) == 0);
        CHECK(t_allclose(aff ? "ln affine in place" : "ln plain in place", y, want, (long)rows * ld, 1e-5, 1e-5));
    }
    /* big rows, out of place, groups = 1, threads 2 */
    int R = 300, D = 768;
    float *X = rand_buf_((long)R * D, 50.0f), *Y = malloc(sizeof(float) * R * D);
    k_set_threads(2);
    CHECK(k_cpu_layernorm(Y, D, X, D, R, 1, D, NULL, NULL, 1e-5f) == 0);
    k_set_threads(0);
    int ok = 1;
    for (int r = 0; r < R; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < D; i++) m += Y[(long)r * D + i];
        for (int i = 0; i < D; i++) v += Y[(long)r * D + i] * Y[(long)r * D + i];
        ok &= fabs(m / D) < 1e-5 && fabs(v / D - 1.0) < 1e-4;
    }
    CHECK(ok);
    /* the vector row kernel against the scalar one (its definition), odd lengths, in place */
    const k_vmath_t *vm = k_vmath_(), *sc = k_vmath_scalar_();
    int lens[5] = { 1, 7, 64, 65, 767 };
    for (int k = 0; k < 5; k++) {
        float a1[767], a2[767];
        memcpy(a1, X + 3, sizeof(float) * lens[k]);
        memcpy(a2, X + 3, sizeof(float) * lens[k]);
        vm->ln_row(a1, a1, lens[k], k % 2 ? w : NULL, k % 3 ? NULL : b, 1e-5f);
        sc->ln_row(a2, a2, lens[k], k % 2 ? w : NULL, k % 3 ? NULL : b, 1e-5f);
        CHECKF(t_allclose("ln_row vector vs scalar", a1, a2, lens[k], 1e-6, 1e-6), "n %d", lens[k]);
    }
    CHECK(k_cpu_layernorm(Y, D, X, D, R, 0, D, NULL, NULL, 1e-5f) == -1);
    CHECK(k_cpu_layernorm(Y, D - 1, X, D, R, 1, D, NULL, NULL, 1e-5f) == -1);
    CHECK(k_cpu_layernorm(Y, D, X, D, R, 1, D, NULL, NULL, -1.0f) == -1);
    free(x); free(w); free(b); free(y); free(want); free(X); free(Y);
}

static void test_rmsnorm(void)
{
    int rows = 19, dim = 77, ld = 80;
    float *x = rand_buf_((long)rows * ld, 2.0f), *w = rand_buf_(dim, 1.0f);
    float *y = malloc(sizeof(float) * rows * dim), *want = malloc(sizeof(float) * rows * dim);
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)x[r * ld + i] * x[r * ld + i];
        for (int i = 0; i < dim; i++) want[r * dim + i] = (float)(x[r * ld + i] / sqrt(ss / dim + 1e-6) * w[i]);
    }
    CHECK(k_cpu_rmsnorm(y, dim, x, ld, rows, dim, w, 1e-6f) == 0);
    CHECK(t_allclose("rmsnorm", y, want, (long)rows * dim, 1e-6, 1e-5));
    CHECK(k_cpu_rmsnorm(y, dim, x, ld, rows, 0, w, 1e-6f) == -1);
    free(x); free(w); free(y); free(want);
}

static void test_activations(void)
{
    long n = 100003;
    float *x = rand_buf_(n, 12.0f), *y = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n);
    x[0] = 0; x[1] = -100; x[2] = 100; x[3] = -1e-8f; x[4] = 88.5f; x[5] = -88.5f;
    for (long i = 0; i < n; i++) {
        double v = x[i];
        want[i] = (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    }
    k_set_threads(2);
    CHECK(k_cpu_gelu_tanh(y, x, n) == 0);
    CHECK(t_allclose("gelu_tanh", y, want, n, 1e-6, 1e-5));
    for (long i = 0; i < n; i++) want[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
    memcpy(y, x, sizeof(float) * n);
    CHECK(k_cpu_silu(y, y, n) == 0);   /* in place */
    CHECK(t_allclose("silu", y, want, n, 1e-6, 1e-5));
    k_set_threads(0);
    /* the vector softmax helpers agree with libm (the scalar table is their definition) */
    const k_vmath_t *v = k_vmath_(), *s = k_vmath_scalar_();
    fprintf(stderr, "  vmath: %s\n", v->name);
    float a[37], c[37];
    for (int i = 0; i < 37; i++) a[i] = c[i] = 30.0f * frand_();
    a[5] = c[5] = -INFINITY;
    CHECK(v->max(a, 37) == s->max(c, 37));
    float sa = v->exp_sub_sum(a, 37, 31.0f), sc = s->exp_sub_sum(c, 37, 31.0f);
    CHECK(t_allclose("exp_sub_sum", a, c, 37, 1e-30, 3e-7));
    CHECKF(fabsf(sa - sc) <= 1e-6f * sc, "%g vs %g", (double)sa, (double)sc);
    CHECK(a[5] == 0.0f);
    CHECK(v->max(a, 0) == -INFINITY);
    /* exp over the whole softmax range [-100, 0] (and a little above): within a few ulp of libm */
    int ne = 200003;
    float *e1 = malloc(sizeof(float) * ne), *e2 = malloc(sizeof(float) * ne);
    for (int i = 0; i < ne; i++) e1[i] = e2[i] = -100.0f + 110.0f * (float)i / (float)(ne - 1);
    v->exp_sub_sum(e1, ne, 0.0f);
    for (int i = 0; i < ne; i++) e2[i] = e2[i] < -87.3f ? 0.0f : (float)exp((double)e2[i]);
    CHECK(t_allclose("vector exp sweep", e1, e2, ne, 1e-37, 4e-7));
    free(e1); free(e2);
    CHECK(k_cpu_gelu_tanh(y, NULL, 3) == -1 && k_cpu_silu(y, x, -1) == -1);
    free(x); free(y); free(want);
}

static void test_modulate_residual(void)
{
    int B = 3, S = 11, D = 45, ld = 50, Stot = 14, ldm = 6 * D;
    long bs = (long)Stot * ld;
    float *x = rand_buf_(B * bs, 2.0f), *mod = rand_buf_((long)B * ldm, 1.0f), *y = rand_buf_(B * bs, 1.0f);
    float *out = malloc(sizeof(float) * B * bs), *want = malloc(sizeof(float) * B * bs);
    memcpy(out, y, sizeof(float) * B * bs);
    memcpy(want, y, sizeof(float) * B * bs);
    const float *shift = mod + 3 * D, *scale = mod + 4 * D;   /* enc_shift, enc_scale chunks */
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++)
            for (int d = 0; d < D; d++) {
                long i = b * bs + (long)(s + 2) * ld + d;
                want[i] = x[i] * (1.0f + scale[b * ldm + d]) + shift[b * ldm + d];
            }
    CHECK(k_cpu_modulate(out + 2 * ld, ld, bs, x + 2 * ld, ld, bs, shift, scale, ldm, B, S, D) == 0);
    CHECK(t_allclose("modulate (rows 2..12 only)", out, want, B * bs, 1e-6, 1e-6));
    /* gated residual: x += gate·y on the same sub-range, gate = chunk 2 */
    const float *gate = mod + 2 * D;
    memcpy(want, x, sizeof(float) * B * bs);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++)
            for (int d = 0; d < D; d++) {
                long i = b * bs + (long)(s + 1) * ld + d;
                want[i] = x[i] + gate[b * ldm + d] * y[i];
            }
    CHECK(k_cpu_gated_residual(x + ld, ld, bs, y + ld, ld, bs, gate, ldm, B, S, D) == 0);
    CHECK(t_allclose("gated residual", x, want, B * bs, 1e-6, 1e-6));
    CHECK(k_cpu_modulate(out, ld, 10, x, ld, bs, shift, scale, ldm, B, S, D) == -1);   /* bs too small */
    CHECK(k_cpu_gated_residual(x, ld, bs, y, ld, bs, gate, D - 1, B, S, D) == -1);
    free(x); free(mod); free(y); free(out); free(want);
}

/* RoPE on heads [0,H) of a (B, S, H·hd) buffer, rows [n_text, n_text+S) — tables with distinct
 * values at 2i and 2i+1 so the index pattern of the formula is checked, not only the rotation. */
static void test_rope(void)
{
    int B = 2, H = 3, hd = 64, n_text = 5, S = 23, Stot = n_text + S, ld = H * hd + 6;
    long bs = (long)Stot * ld;
    float *x = rand_buf_(B * bs, 1.0f), *orig = malloc(sizeof(float) * B * bs), *want = malloc(sizeof(float) * B * bs);
    float *c = rand_buf_((long)S * (hd + 1), 1.0f), *s = rand_buf_((long)S * (hd + 1), 1.0f);
    memcpy(orig, x, sizeof(float) * B * bs);
    memcpy(want, x, sizeof(float) * B * bs);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < S; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < hd / 2; i++) {
                    long p = b * bs + (long)(n_text + t) * ld + h * hd + 2 * i;
                    const float *ct = c + (long)t * (hd + 1), *st = s + (long)t * (hd + 1);
                    want[p] = orig[p] * ct[2 * i] - orig[p + 1] * st[2 * i];
                    want[p + 1] = orig[p + 1] * ct[2 * i + 1] + orig[p] * st[2 * i + 1];
                }
    CHECK(k_cpu_rope(x + n_text * ld, ld, bs, B, S, H, hd, c, s, hd + 1) == 0);
    CHECK(t_allclose("rope", x, want, B * bs, 1e-6, 1e-6));
    /* with a true rotation table the norm of each pair is preserved */
    for (int t = 0; t < S; t++)
        for (int i = 0; i < hd; i += 2) {
            float a = 0.1f * t * (i + 1);
            c[(long)t * (hd + 1) + i] = c[(long)t * (hd + 1) + i + 1] = cosf(a);
            s[(long)t * (hd + 1) + i] = s[(long)t * (hd + 1) + i + 1] = sinf(a);
        }
    memcpy(x, orig, sizeof(float) * B * bs);
    CHECK(k_cpu_rope(x, ld, bs, B, S, H, hd, c, s, hd + 1) == 0);
    int ok = 1;
    for (long p = 0; p < (long)S * ld; p += 2) {
        if (p % ld >= H * hd) continue;
        double n0 = (double)orig[p] * orig[p] + (double)orig[p + 1] * orig[p + 1];
        double n1 = (double)x[p] * x[p] + (double)x[p + 1] * x[p + 1];
        ok &= fabs(n0 - n1) < 1e-5;
    }
    CHECK(ok);
    CHECK(k_cpu_rope(x, ld, bs, B, S, H, 63, c, s, hd + 1) == -1);
    free(x); free(orig); free(want); free(c); free(s);
}

/* norm_modulate: LayerNorm of each token over D (mean / biased variance in double, affine), then
 * ·(1 + scale) + shift with the text chunks before split and the video chunks from it, out of place
 * with strided x, y; in place; no affine; a split past S is refused. */
static void test_norm_modulate(void)
{
    int B = 2, S = 11, D = 96, split = 4, ldx = D + 3, ldy = D + 5, ldm = 6 * D;
    long bsx = (long)(S + 1) * ldx, bsy = (long)(S + 2) * ldy;
    float *x = rand_buf_(B * bsx, 2.0f), *y = rand_buf_(B * bsy, 1.0f), *want = malloc(sizeof(float) * B * bsy);
    float *w = rand_buf_(D, 1.0f), *b = rand_buf_(D, 0.5f), *mod = rand_buf_((long)B * ldm, 0.5f);
    const float *sh0 = mod + 3 * D, *sc0 = mod + 4 * D, *sh1 = mod, *sc1 = mod + D;
    for (int affine = 1; affine >= 0; affine--) {
        memcpy(want, y, sizeof(float) * B * bsy);
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < S; t++) {
                const float *xr = x + bi * bsx + (long)t * ldx;
                const float *sh = (t < split ? sh0 : sh1) + (long)bi * ldm, *sc = (t < split ? sc0 : sc1) + (long)bi * ldm;
                double m = 0, q = 0;
                for (int i = 0; i < D; i++) m += xr[i];
                m /= D;
                for (int i = 0; i < D; i++) q += (xr[i] - m) * (xr[i] - m);
                double r = 1.0 / sqrt(q / D + 1e-5);
                for (int i = 0; i < D; i++) {
                    float n = (float)((xr[i] - m) * r);
                    if (affine) n = n * w[i] + b[i];
                    want[bi * bsy + (long)t * ldy + i] = n * (1.0f + sc[i]) + sh[i];
                }
            }
        float *got = malloc(sizeof(float) * B * bsy);
        memcpy(got, y, sizeof(float) * B * bsy);
        CHECK(k_cpu_norm_modulate(got, ldy, bsy, x, ldx, bsx, B, S, D, affine ? w : NULL, affine ? b : NULL, 1e-5f,
                                  split, sh0, sc0, sh1, sc1, ldm) == 0);
        CHECK(t_allclose(affine ? "norm_modulate" : "norm_modulate no affine", got, want, B * bsy, 1e-5, 1e-5));
        free(got);
    }
    float *xi = malloc(sizeof(float) * B * bsx);                 /* in place = out of place */
    memcpy(xi, x, sizeof(float) * B * bsx);
    float *yo = calloc((size_t)B * bsx, sizeof(float));
    CHECK(k_cpu_norm_modulate(xi, ldx, bsx, xi, ldx, bsx, B, S, D, w, b, 1e-5f, split, sh0, sc0, sh1, sc1, ldm) == 0);
    CHECK(k_cpu_norm_modulate(yo, ldx, bsx, x, ldx, bsx, B, S, D, w, b, 1e-5f, split, sh0, sc0, sh1, sc1, ldm) == 0);
    int same = 1;
    for (int bi = 0; bi < B; bi++)
        for (int t = 0; t < S; t++)
            for (int i = 0; i < D; i++) same &= xi[bi * bsx + (long)t * ldx + i] == yo[bi * bsx + (long)t * ldx + i];
    CHECK(same);
    CHECK(k_cpu_norm_modulate(yo, ldx, bsx, x, ldx, bsx, B, S, D, w, b, 1e-5f, S + 1, sh0, sc0, sh1, sc1, ldm) == -1);
    free(x); free(y); free(want); free(w); free(b); free(mod); free(xi); free(yo);
}

/* norm_rope: per-head LayerNorm of every token (mean / biased variance in double, affine), then RoPE on
 * two ranges of nr tokens from r0 sharing one table (row s − r0 mod nr), written from the formulas;
 * text tokens before r0 and tokens after the ranges are normed only; cos NULL = the norm only; a
 * rope range past the tokens is refused. */
static void test_norm_rope(void)
{
    int B = 2, H = 3, hd = 64, r0 = 4, nr = 7, reps = 2, S = r0 + reps * nr + 3, ld = 3 * H * hd + 4, ldt = hd + 2;
    long bs = (long)(S + 1) * ld;
    float *x = rand_buf_(B * bs, 2.0f), *orig = malloc(sizeof(float) * B * bs), *want = malloc(sizeof(float) * B * bs);
    float *w = rand_buf_(hd, 1.0f), *b = rand_buf_(hd, 0.5f);
    float *c = rand_buf_((long)nr * ldt, 1.0f), *sn = rand_buf_((long)nr * ldt, 1.0f);
    for (int pass = 0; pass < 2; pass++) {                     /* 0: with RoPE, 1: cos NULL */
        memcpy(orig, x, sizeof(float) * B * bs);
        memcpy(want, x, sizeof(float) * B * bs);
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < S; t++)
                for (int h = 0; h < H; h++) {
                    float *v = want + bi * bs + (long)t * ld + h * hd, n[64];
                    double m = 0, q = 0;
                    for (int i = 0; i < hd; i++) m += v[i];
                    m /= hd;
                    for (int i = 0; i < hd; i++) q += (v[i] - m) * (v[i] - m);
                    double r = 1.0 / sqrt(q / hd + 1e-6);
                    for (int i = 0; i < hd; i++) n[i] = (float)((v[i] - m) * r) * w[i] + b[i];
                    int rel = t - r0, rot = pass == 0 && rel >= 0 && rel < reps * nr;
                    const float *ct = c + (long)(rel % nr) * ldt, *st = sn + (long)(rel % nr) * ldt;
                    for (int i = 0; i < hd; i += 2) {
                        v[i] = rot ? n[i] * ct[i] - n[i + 1] * st[i] : n[i];
                        v[i + 1] = rot ? n[i + 1] * ct[i + 1] + n[i] * st[i + 1] : n[i + 1];
                    }
                }
        CHECK(k_cpu_norm_rope(x, ld, bs, B, S, H, hd, w, b, 1e-6f, pass ? NULL : c, sn, ldt, r0, nr, reps) == 0);
        CHECK(t_allclose(pass ? "norm only" : "norm_rope", x, want, B * bs, 1e-5, 1e-5));
        int untouched = 1;                                      /* the row past S and the columns past H·hd */
        for (int bi = 0; bi < B; bi++)
            for (long p = 0; p < ld; p++) untouched &= x[bi * bs + (long)S * ld + p] == orig[bi * bs + (long)S * ld + p];
        for (int t = 0; t < S; t++)
            for (long p = H * hd; p < ld; p++) untouched &= x[(long)t * ld + p] == orig[(long)t * ld + p];
        CHECK(untouched);
    }
    CHECK(k_cpu_norm_rope(x, ld, bs, B, S, H, hd, w, b, 1e-6f, c, sn, ldt, r0, nr, 3) == -1);   /* past S */
    CHECK(k_cpu_norm_rope(x, ld, bs, B, S, H, hd, w, b, 1e-6f, c, sn, ldt, -1, nr, 1) == -1);
    free(x); free(orig); free(want); free(w); free(b); free(c); free(sn);
}

/* v1.0: Conv2d(C, D, k=p, s=p) per frame, tokens (f, row, col); v1.5 (pt = 2): Linear on the
 * patch vector with index ((c·pt + t)·p + y)·p + x. Written from the layer definitions. */
static void patch_case_(int B, int F, int C, int H, int W, int p, int pt, int D, int use_b)
{
    int Hq = H / p, Wq = W / p, Tq = F / pt, K = C * pt * p * p, ntok = Tq * Hq * Wq, ld = D + 3;
    long bs = (long)(ntok + 4) * ld;
    float *x = rand_buf_((long)B * F * C * H * W, 1.0f), *w = rand_buf_((long)D * K, 0.5f), *b = rand_buf_(D, 1.0f);
    float *out = calloc((size_t)B * bs, sizeof(float)), *want = calloc((size_t)B * bs, sizeof(float));
    for (int bi = 0; bi < B; bi++)
        for (int tq = 0; tq < Tq; tq++)
            for (int hq = 0; hq < Hq; hq++)
                for (int wq = 0; wq < Wq; wq++)
                    for (int d = 0; d < D; d++) {
                        double acc = use_b ? b[d] : 0;
                        for (int c = 0; c < C; c++)
                            for (int t = 0; t < pt; t++)
                                for (int ky = 0; ky < p; ky++)
                                    for (int kx = 0; kx < p; kx++) {
                                        long xi = ((((long)bi * F + tq * pt + t) * C + c) * H + hq * p + ky) * W + wq * p + kx;
                                        acc += (double)w[(long)d * K + ((c * pt + t) * p + ky) * p + kx] * x[xi];
                                    }
                        want[bi * bs + (long)((tq * Hq + hq) * Wq + wq) * ld + d] = (float)acc;
                    }
    CHECK(k_cpu_patch_embed(out, ld, bs, x, B, F, C, H, W, p, pt, w, use_b ? b : NULL, D) == 0);
    char what[64];
    snprintf(what, sizeof what, "patch_embed F%d H%d W%d pt%d", F, H, W, pt);
    CHECK(t_allclose(what, out, want, B * bs, 1e-5, 1e-5));
    free(x); free(w); free(b); free(out); free(want);
}

/* y.reshape(B, F/pt, H/p, W/p, C, pt, p, p) permuted back to (B, F, C, H, W) (the diffusers
 * unpatchify: pt = 1 drops the pt axis). */
static void unpatch_case_(int B, int F, int C, int H, int W, int p, int pt)
{
    int Hq = H / p, Wq = W / p, Tq = F / pt, K = C * pt * p * p, ntok = Tq * Hq * Wq, ld = K + 2;
    long bs = (long)ntok * ld + 7, n = (long)B * F * C * H * W;
    float *y = rand_buf_(B * bs, 1.0f), *out = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n);
    for (int bi = 0; bi < B; bi++)
        for (int tq = 0; tq < Tq; tq++)
            for (int hq = 0; hq < Hq; hq++)
                for (int wq = 0; wq < Wq; wq++)
                    for (int c = 0; c < C; c++)
                        for (int t = 0; t < pt; t++)
                            for (int py = 0; py < p; py++)
                                for (int px = 0; px < p; px++) {
                                    long o = ((((long)bi * F + tq * pt + t) * C + c) * H + hq * p + py) * W + wq * p + px;
                                    want[o] = y[bi * bs + (long)((tq * Hq + hq) * Wq + wq) * ld + ((c * pt + t) * p + py) * p + px];
                                }
    CHECK(k_cpu_unpatchify(out, y, ld, bs, B, F, C, H, W, p, pt) == 0);
    char what[64];
    snprintf(what, sizeof what, "unpatchify F%d H%d W%d pt%d", F, H, W, pt);
    CHECK(t_allclose(what, out, want, n, 0, 0));
    free(y); free(out); free(want);
}

static void test_patch(void)
{
    patch_case_(1, 1, 16, 2, 2, 2, 1, 8, 1);
    patch_case_(2, 3, 16, 6, 10, 2, 1, 24, 1);    /* non-square, odd frame count */
    patch_case_(1, 13, 4, 4, 6, 2, 1, 5, 0);
    patch_case_(2, 4, 3, 4, 6, 2, 2, 16, 0);      /* v1.5 layout */
    unpatch_case_(1, 1, 16, 2, 2, 2, 1);
    unpatch_case_(2, 3, 16, 6, 10, 2, 1);
    unpatch_case_(2, 4, 3, 4, 6, 2, 2);
    float buf[64];
    CHECK(k_cpu_patch_embed(buf, 4, 64, buf, 1, 1, 1, 3, 2, 2, 1, buf, NULL, 4) == -1);   /* H % p */
    CHECK(k_cpu_unpatchify(buf, buf, 4, 16, 1, 3, 1, 2, 2, 2, 2) == -1);                  /* F % pt */
}

/* The backend table is complete and its ops are the k_cpu_ functions. */
static void test_backend_table(void)
{
    const k_backend_t *be = k_backend_cpu();
    CHECK_STR(be->name, "cpu");
    CHECK(be->alloc && be->free && be->upload && be->download && be->sync && be->set_threads);
    CHECK(be->gemm == k_cpu_gemm && be->layernorm == k_cpu_layernorm && be->rmsnorm == k_cpu_rmsnorm);
    CHECK(be->gelu_tanh == k_cpu_gelu_tanh && be->silu == k_cpu_silu && be->modulate == k_cpu_modulate);
    CHECK(be->gated_residual == k_cpu_gated_residual && be->rope == k_cpu_rope && be->norm_rope == k_cpu_norm_rope &&
          be->norm_modulate == k_cpu_norm_modulate);
    CHECK(be->patch_embed == k_cpu_patch_embed && be->unpatchify == k_cpu_unpatchify);
    CHECK(be->attention == k_cpu_attention && be->gemm_bf16w == k_cpu_gemm_bf16w);
    float src[5] = { 1, 2, 3, 4, 5 }, back[5] = { 0 };
    float *d = be->alloc(sizeof src);
    CHECK(d != NULL && ((uintptr_t)d & 63) == 0);
    CHECK(be->upload(d, src, sizeof src) == 0 && be->download(back, d, sizeof src) == 0);
    CHECK(memcmp(src, back, sizeof src) == 0);
    be->free(d);
    CHECK(be->upload(NULL, src, 4) == -1);
    char err[64];
    CHECK(be->sync(err, sizeof err) == -1);
    CHECK(be->sync(err, sizeof err) == 0);
    CHECK_STR(k_act_name(K_ACT_GELU_TANH), "gelu_tanh");
    CHECK_STR(k_act_name((k_act_t)42), "?");
}

/* The same checks with the scalar vector math (as on a CPU without AVX2). */
static void test_scalar_path(void)
{
    k_vmath_force_scalar_(1);
    test_layernorm();
    test_activations();
    k_vmath_force_scalar_(0);
}

int main(void)
{
    T_RUN(test_layernorm);
    T_RUN(test_rmsnorm);
    T_RUN(test_activations);
    T_RUN(test_modulate_residual);
    T_RUN(test_rope);
    T_RUN(test_norm_rope);
    T_RUN(test_norm_modulate);
    T_RUN(test_patch);
    T_RUN(test_backend_table);
    T_RUN(test_scalar_path);
    T_DONE();
}
