/* test_anchor_attn.c — the `anchor` strategy's attention (issue #8).
 * 1. The fused attention op with the extra K/V list against a plain CPU reference: dense softmax
 *    attention (double) over the concatenated keys [main; extra], with the text→alpha bias on both
 *    key ranges, in the DiT's strided fused-qkv layout, for bias 0, −1 and −inf.
 * 2. The DiT anchor path (wrk_dit_forward_anchor) on the tiny TransPixar golden model: the anchor
 *    stream equals a plain forward of the anchor latent (same blocks, same timestep and text: its K/V
 *    are the ones a standalone run computes), the anchor changes the window's prediction (and a
 *    different anchor changes it differently), a repeat is bit-identical, tp 2 equals tp 1. */
#include "tests/test.h"
#include "kernels/k.h"
#include "worker/model/dit.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / (double)(1ull << 53) - 0.5;
}

/* Dense reference: keys j < Sk from k/v, Sk <= j < Sk + Sk2 from k2/v2, every logit in double. */
static void dense_ref(const k_attn_t *a, double *o)   /* o (B, Sq, H, hd) contiguous */
{
    int Skt = a->Sk + a->Sk2;
    double *lg = malloc((size_t)Skt * sizeof *lg);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Sq; i++) {
                const float *q = a->q + b * a->q_bs + (long)i * a->q_ld + h * a->head_dim;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < Skt; j++) {
                    int ex = j >= a->Sk, jj = ex ? j - a->Sk : j;
                    const float *k = ex ? a->k2 + b * a->k2_bs + (long)jj * a->k2_ld + h * a->head_dim
                                        : a->k + b * a->k_bs + (long)jj * a->k_ld + h * a->head_dim;
                    double d = 0;
                    for (int c = 0; c < a->head_dim; c++) d += (double)q[c] * k[c];
                    int biased = i >= a->q0 && i < a->q1 &&
                                 (ex ? jj >= a->k2_0 && jj < a->k2_1 : jj >= a->k0 && jj < a->k1);
                    lg[j] = d * a->scale + (biased ? a->bias : 0.0);
                    if (lg[j] > mx) mx = lg[j];
                }
                double *out = o + (((size_t)b * a->Sq + i) * a->H + h) * a->head_dim;
                for (int c = 0; c < a->head_dim; c++) out[c] = 0;
                if (mx == -INFINITY) continue;
                for (int j = 0; j < Skt; j++) { lg[j] = exp(lg[j] - mx); sum += lg[j]; }
                for (int j = 0; j < Skt; j++) {
                    int ex = j >= a->Sk, jj = ex ? j - a->Sk : j;
                    const float *v = ex ? a->v2 + b * a->v2_bs + (long)jj * a->v2_ld + h * a->head_dim
                                        : a->v + b * a->v_bs + (long)jj * a->v_ld + h * a->head_dim;
                    for (int c = 0; c < a->head_dim; c++) out[c] += lg[j] / sum * v[c];
                }
            }
    free(lg);
}

static void test_op_against_dense(void)
{
    /* window: L text + 2·Nf video rows in a fused (B, S, 3·H·hd) buffer; anchor: 2·Na video rows */
    enum { B = 2, H = 3, HD = 16, L = 5, NF = 12, NA = 4, S = L + 2 * NF, SA = 2 * NA, LD = 3 * H * HD };
    const float biases[] = { 0.0f, -1.0f, -INFINITY };
    uint64_t seed = 11;
    float *qkv = malloc(sizeof(float) * B * S * LD), *akv = malloc(sizeof(float) * B * SA * LD);
    float *o = malloc(sizeof(float) * B * S * H * HD);
    double *ref = malloc(sizeof(double) * B * S * H * HD);
    for (int i = 0; i < B * S * LD; i++) qkv[i] = (float)(3 * rnd(&seed));
    for (int i = 0; i < B * SA * LD; i++) akv[i] = (float)(3 * rnd(&seed));
    for (int bi = 0; bi < 3; bi++) {
        k_attn_t a = {
            .B = B, .H = H, .head_dim = HD, .Sq = S, .Sk = S, .Sk2 = SA,
            .q = qkv, .q_bs = (long)S * LD, .q_ld = LD,
            .k = qkv + H * HD, .k_bs = (long)S * LD, .k_ld = LD,
            .v = qkv + 2 * H * HD, .v_bs = (long)S * LD, .v_ld = LD,
            .k2 = akv + H * HD, .k2_bs = (long)SA * LD, .k2_ld = LD,
            .v2 = akv + 2 * H * HD, .v2_bs = (long)SA * LD, .v2_ld = LD,
            .o = o, .o_bs = (long)S * H * HD, .o_ld = H * HD,
            .scale = 1.0f / sqrtf((float)HD), .bias = biases[bi],
            .q0 = 0, .q1 = L, .k0 = L + NF, .k1 = L + 2 * NF, .k2_0 = NA, .k2_1 = 2 * NA,
        };
        CHECKF(k_cpu_attention(&a) == 0, "%s", k_error());
        dense_ref(&a, ref);
        float *rf = malloc(sizeof(float) * B * S * H * HD);
        for (int i = 0; i < B * S * H * HD; i++) rf[i] = (float)ref[i];
        CHECKF(t_allclose("attention with anchor keys", o, rf, B * S * H * HD, 2e-5, 1e-4), "bias %g", biases[bi]);
        free(rf);
    }
    free(qkv); free(akv); free(o); free(ref);
}

/* ---- the DiT path ---- */
#define MODEL "tests/golden/dit/5b_rope"
#define LORA  "tests/golden/dit/5b_transpixar/lora.safetensors"

static wrk_dit_t *load(int tp)
{
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    char err[1024];
    wrk_dit_opts_default(&o);
    o.lora_path = LORA; o.tp = tp; o.threads = 2; o.quiet = 1;
    CHECKF(wrk_dit_load(MODEL, &o, &m, err, sizeof err) == 0, "%s", err);
    return m;
}

static void test_dit_anchor(void)
{
    wrk_dit_t *m = load(1);
    if (!m) return;
    const wrk_dit_info_t *in = wrk_dit_info(m);
    CHECK(in->rgba);
    int B = 2, F = 4, Fa = 2, H = 6, W = 10, L = 7, C = in->in_channels, Co = in->out_channels;
    size_t nx = (size_t)B * F * C * H * W, na = (size_t)B * Fa * C * H * W;
    size_t no = (size_t)B * F * Co * H * W, nao = (size_t)B * Fa * Co * H * W;
    float *x = malloc(nx * 4), *xa = malloc(na * 4), *xb = malloc(na * 4), *text = malloc((size_t)B * L * in->text_dim * 4);
    float *plain = malloc(no * 4), *y1 = malloc(no * 4), *y2 = malloc(no * 4), *y3 = malloc(no * 4);
    float *ya = malloc(nao * 4), *ya_alone = malloc(nao * 4);
    uint64_t s = 5;
    for (size_t i = 0; i < nx; i++) x[i] = (float)(2 * rnd(&s));
    for (size_t i = 0; i < na; i++) { xa[i] = (float)(2 * rnd(&s)); xb[i] = (float)(2 * rnd(&s)); }
    for (size_t i = 0; i < (size_t)B * L * in->text_dim; i++) text[i] = (float)rnd(&s);
    int64_t t[2] = { 700, 700 };
    char err[1024];
    wrk_dit_anchor_t an = { Fa, xa, ya };
    CHECKF(wrk_dit_forward(m, B, F, H, W, x, L, text, t, plain, err, sizeof err) == 0, "%s", err);
    CHECKF(wrk_dit_forward_anchor(m, B, F, H, W, x, &an, L, text, t, y1, err, sizeof err) == 0, "%s", err);
    CHECKF(wrk_dit_forward(m, B, Fa, H, W, xa, L, text, t, ya_alone, err, sizeof err) == 0, "%s", err);
    CHECK(t_allclose("anchor stream vs standalone anchor forward", ya, ya_alone, (long)nao, 1e-6, 1e-6));
    double d_plain = 0, d_other = 0;
    for (size_t i = 0; i < no; i++) d_plain = fmax(d_plain, fabs(y1[i] - plain[i]));
    CHECKF(d_plain > 1e-3, "the anchor does not change the window (max diff %g)", d_plain);
    an.out = NULL;
    CHECKF(wrk_dit_forward_anchor(m, B, F, H, W, x, &an, L, text, t, y2, err, sizeof err) == 0, "%s", err);
    CHECK(!memcmp(y1, y2, no * 4));   /* determinism */
    wrk_dit_anchor_t bn = { Fa, xb, NULL };
    CHECKF(wrk_dit_forward_anchor(m, B, F, H, W, x, &bn, L, text, t, y3, err, sizeof err) == 0, "%s", err);
    for (size_t i = 0; i < no; i++) d_other = fmax(d_other, fabs(y3[i] - y1[i]));
    CHECKF(d_other > 1e-3, "a different anchor gives the same window (max diff %g)", d_other);
    fprintf(stderr, "   window change from the anchor: %.3g, between two anchors: %.3g\n", d_plain, d_other);
    wrk_dit_destroy(&m);
    wrk_dit_t *m2 = load(2);
    if (m2) {
        CHECKF(wrk_dit_forward_anchor(m2, B, F, H, W, x, &an, L, text, t, y2, err, sizeof err) == 0, "%s", err);
        CHECK(t_allclose("anchor forward tp 2 vs tp 1", y2, y1, (long)no, 1e-4, 1e-4));
        wrk_dit_destroy(&m2);
    }
    free(x); free(xa); free(xb); free(text); free(plain); free(y1); free(y2); free(y3); free(ya); free(ya_alone);
}

int main(void)
{
    T_RUN(test_op_against_dense);
    T_RUN(test_dit_anchor);
    T_DONE();
}
