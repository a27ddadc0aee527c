/* test_kernels_conv.c — the VAE conv-family ops (kernels/k_conv.h): the sgemm conv3d against the
 * plain-loop k_ref_conv3d on odd shapes (causal padding by repeated frame pointers, Conv2d per
 * frame, 1x1x1, 3-channel output, widths smaller than the kernel), GroupNorm against a direct
 * double computation, PyTorch's nearest index rule, resize, and argument errors.
 */
#include "kernels/k.h"
#include "kernels/k_conv.h"
#include "tests/test.h"

#include <stdint.h>

static uint64_t rng_ = 88172645463325252ull;
static float frand(void)
{
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return (float)((rng_ >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float *rand_buf(size_t n) { float *p = malloc(n * sizeof *p); for (size_t i = 0; i < n; i++) p[i] = frand(); return p; }

typedef struct { int T, H, W, Ci, Co, kt, kh, kw, repeat_first, bias; } conv_case_t;

static void conv_one(const conv_case_t *c)
{
    int T_in = c->T + c->kt - 1, taps = c->kt * c->kh * c->kw;
    size_t fr = (size_t)c->H * c->W * c->Ci, on = (size_t)c->T * c->H * c->W * c->Co;
    float *frames = rand_buf(fr * T_in), *w = rand_buf((size_t)c->Co * c->Ci * taps);
    float *wp = malloc(sizeof(float) * c->Co * c->Ci * taps), *b = c->bias ? rand_buf(c->Co) : NULL;
    float *y = malloc(on * sizeof *y), *r = malloc(on * sizeof *r);
    const float **x = malloc(sizeof(*x) * T_in);
    for (int t = 0; t < T_in; t++)   /* causal first chunk: frame 0 repeated kt-1 times */
        x[t] = frames + fr * (c->repeat_first ? (t < c->kt ? 0 : t - c->kt + 1) : t);
    CHECK(k_conv_pack_weight(wp, w, c->Co, c->Ci, c->kt, c->kh, c->kw) == 0);
    CHECK(k_cpu_conv3d(y, x, T_in, c->H, c->W, c->Ci, c->Co, c->kt, c->kh, c->kw, wp, b) == 0);
    CHECK(k_ref_conv3d(r, x, T_in, c->H, c->W, c->Ci, c->Co, c->kt, c->kh, c->kw, wp, b) == 0);
    char what[96];
    snprintf(what, sizeof what, "conv T%d %dx%d %d->%d k%d%d%d", c->T, c->H, c->W, c->Ci, c->Co, c->kt, c->kh, c->kw);
    CHECKF(t_allclose(what, y, r, (long)on, 1e-4, 1e-4), "%s", what);
    /* direct check of one element against PyTorch's layout (w (Co, Ci, kt, kh, kw)) */
    double acc = b ? b[0] : 0;
    for (int dt = 0; dt < c->kt; dt++)
        for (int dy = 0; dy < c->kh; dy++)
            for (int dx = 0; dx < c->kw; dx++) {
                int sy = dy - (c->kh - 1) / 2, sx = dx - (c->kw - 1) / 2;
                if (sy < 0 || sx < 0 || sy >= c->H || sx >= c->W) continue;
                for (int ci = 0; ci < c->Ci; ci++)
                    acc += (double)x[dt][((size_t)sy * c->W + sx) * c->Ci + ci] *
                           w[(((size_t)ci) * c->kt + dt) * c->kh * c->kw + dy * c->kw + dx];
            }
    CHECKF(fabs(acc - y[0]) < 1e-3, "%s: y[0] %g vs torch-layout %g", what, y[0], acc);
    free(frames); free(w); free(wp); free(b); free(y); free(r); free(x);
}

static void test_conv3d(void)
{
    static const conv_case_t cases[] = {
        { 3, 5, 7, 4, 6, 3, 3, 3, 1, 1 },     /* causal conv, first chunk */
        { 2, 4, 9, 8, 5, 3, 3, 3, 0, 1 },     /* later chunk: distinct frames */
        { 4, 6, 5, 3, 7, 1, 3, 3, 0, 1 },     /* Conv2d per frame (upsampler) */
        { 3, 4, 6, 16, 8, 1, 1, 1, 0, 1 },    /* 1x1x1 (conv_y / conv_b / shortcut) */
        { 2, 3, 4, 16, 3, 3, 3, 3, 1, 0 },    /* conv_out-like: 3 output channels, no bias */
        { 1, 1, 2, 5, 4, 3, 3, 3, 1, 1 },     /* image narrower than the kernel */
        { 1, 40, 33, 24, 40, 3, 3, 3, 0, 1 }, /* several pixel blocks */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_one(&cases[i]);
    k_set_threads(1);
    conv_one(&cases[0]);
    k_set_threads(0);
}

static void test_groupnorm(void)
{
    long N = 37; int C = 12, G = 3;
    float *x = rand_buf((size_t)N * C), *g = rand_buf(C), *b = rand_buf(C);
    float *y = malloc(sizeof(float) * N * C), *r = malloc(sizeof(float) * N * C);
    for (long i = 0; i < N * C; i++) x[i] = x[i] * 3 + 0.5f;
    for (int gi = 0; gi < G; gi++) {
        double m = 0, v = 0; int cg = C / G;
        for (long p = 0; p < N; p++) for (int c = 0; c < cg; c++) m += x[p * C + gi * cg + c];
        m /= (double)N * cg;
        for (long p = 0; p < N; p++) for (int c = 0; c < cg; c++) { double d = x[p * C + gi * cg + c] - m; v += d * d; }
        v /= (double)N * cg;
        for (long p = 0; p < N; p++) for (int c = 0; c < cg; c++) {
            int ch = gi * cg + c;
            r[p * C + ch] = (float)((x[p * C + ch] - m) / sqrt(v + 1e-6) * g[ch] + b[ch]);
        }
    }
    CHECK(k_cpu_groupnorm(y, x, N, C, G, g, b, 1e-6f) == 0);
    CHECK(t_allclose("groupnorm", y, r, N * C, 1e-5, 1e-5));
    CHECK(k_cpu_groupnorm(x, x, N, C, G, g, b, 1e-6f) == 0);   /* in place */
    CHECK(t_allclose("groupnorm in place", x, r, N * C, 1e-5, 1e-5));
    CHECK(k_cpu_groupnorm(y, x, N, 10, 3, g, b, 1e-6f) == -1); /* C % G != 0 */
    CHECK(strstr(k_error(), "groupnorm") != NULL);
    free(x); free(g); free(b); free(y); free(r);
}

static void test_nearest(void)
{
    int idx[16];
    CHECK(k_nearest_index(idx, 2, 8) == 0);
    CHECK(idx[0] == 0 && idx[3] == 0 && idx[4] == 1 && idx[7] == 1);
    CHECK(k_nearest_index(idx, 3, 6) == 0);
    CHECK(idx[1] == 0 && idx[2] == 1 && idx[5] == 2);
    CHECK(k_nearest_index(idx, 5, 7) == 0);       /* floor(d * 5/7) */
    int want[7] = { 0, 0, 1, 2, 2, 3, 4 };
    CHECK(memcmp(idx, want, sizeof want) == 0);
    CHECK(k_nearest_index(idx, 4, 3) == 0);       /* downscale: floor(d * 4/3) */
    CHECK(idx[0] == 0 && idx[1] == 1 && idx[2] == 2);
    CHECK(k_nearest_index(idx, 0, 3) == -1);
    float x[2 * 2 * 3 * 2], y[4 * 4 * 6 * 2];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    CHECK(k_cpu_resize_nearest(y, 4, 4, 6, x, 2, 2, 3, 2) == 0);
    /* y[t=3, h=2, w=5, c=1] = x[1, 1, 2, 1] */
    CHECK(y[((3 * 4 + 2) * 6 + 5) * 2 + 1] == x[((1 * 2 + 1) * 3 + 2) * 2 + 1]);
    CHECK(y[((1 * 4 + 1) * 6 + 1) * 2 + 0] == x[0]);
}

static void test_errors(void)
{
    float y[4], f[4], wp[4];
    const float *x[2] = { f, f };
    CHECK(k_cpu_conv3d(y, x, 2, 1, 1, 1, 1, 3, 1, 1, wp, NULL) == -1);   /* T_in < kt */
    CHECK(strstr(k_error(), "conv3d") != NULL);
    CHECK(k_cpu_conv3d(y, x, 2, 1, 1, 1, 1, 1, 2, 2, wp, NULL) == -1);   /* even kernel */
    const float *xn[2] = { f, NULL };
    CHECK(k_cpu_conv3d(y, xn, 2, 1, 1, 1, 1, 1, 1, 1, wp, NULL) == -1);  /* NULL frame */
    CHECK(k_conv_pack_weight(wp, NULL, 1, 1, 1, 1, 1) == -1);
}

int main(void)
{
    T_RUN(test_conv3d);
    T_RUN(test_groupnorm);
    T_RUN(test_nearest);
    T_RUN(test_errors);
    T_DONE();
}
