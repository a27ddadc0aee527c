/* test_pipeline_strategy.c — the dit engine's strategy glue (worker/model/pipeline_strategy.h): a chain
 * window hands on its last (overlap−1)/4+1 latent frames stamped with the shot frame they end at, and
 * the next window (overlap 9: exactly aligned; overlap 8 / 11: the nearest latent frame) pins them at the right
 * latent frames; blobs of the wrong kind or shape are refused; an anchor window gets the anchor latent
 * re-noised to each step's level (noise at ᾱ = 0, the latent itself at ᾱ = 1) in both CFG items;
 * anchor-causal: window 0 hands on [its first, its last] latent frame per half, window k attends to the
 * [shot first, window k−1 last] pair and hands on [shot first, its own last]; other blobs refused;
 * independent windows use and hand on nothing. */
#include "tests/test.h"
#include "worker/model/pipeline_strategy.h"
#include "worker/model/noise.h"
#include <stdlib.h>
#include <string.h>

enum { HV = 2, C = 2, H = 2, W = 3, FR = C * H * W };

static proto_msg_t assign(const char *strategy, const char *role, int first, int n, int overlap)
{
    proto_msg_t a;
    proto_msg_init(&a, PROTO_ASSIGN);
    snprintf(a.strategy, sizeof a.strategy, "%s", strategy);
    snprintf(a.role, sizeof a.role, "%s", role);
    a.first_frame = (uint32_t)first; a.n_frames = (uint32_t)n; a.overlap = (uint32_t)overlap; a.seed = 77;
    return a;
}

static void sched(wrk_schedule_t *s)
{
    wrk_sched_config_t c;
    char err[128];
    wrk_sched_config_default(&c);
    c.prediction_type = WRK_PRED_V; c.rescale_betas_zero_snr = 1; c.timestep_spacing = WRK_SPACING_TRAILING;
    wrk_schedule_init(s, &c, err, sizeof err);
}

/* Window `prev` (49 frames) hands on; window `next` receives; returns the pin offset or -1. */
static int chain_case(int overlap, int next_first, int next_n, float *x_prev)
{
    char err[256];
    wrk_strategy_t sp, sn;
    wrk_schedule_t sc;
    sched(&sc);
    proto_msg_t a0 = assign("chain", "render", 0, 49, overlap);
    int F0 = 13, F1 = (next_n - 1) / 4 + 1, at = -1;
    CHECK(wrk_strategy_from_assign(&a0, &sp, err, sizeof err) == 0 && sp.use == 0 && sp.hand_on == PROTO_COND_CHAIN);
    float *xi = malloc(sizeof(float) * HV * F1 * FR);
    wrk_noise_initial(77, 1, 1, F1, C, H, W, xi);
    CHECK(wrk_strategy_bind(&sp, &sc, HV, F0, C, H, W, x_prev, err, sizeof err) == 0);
    uint8_t *blob; size_t len;
    CHECKF(wrk_strategy_hand_on(&sp, x_prev, &blob, &len, err, sizeof err) == 0 && blob, "%s", err);
    proto_msg_t a1 = assign("chain", "render", next_first, next_n, overlap);
    proto_msg_set_data(&a1, blob, len);
    if (wrk_strategy_from_assign(&a1, &sn, err, sizeof err) == 0 && sn.use == PROTO_COND_CHAIN &&
        wrk_strategy_bind(&sn, &sc, HV, F1, C, H, W, xi, err, sizeof err) == 0) {
        at = sn.pin.at;
        CHECK(wrk_strategy_pin_fn(&sn) == wrk_pin_hook);
        CHECK_EQ_INT(sn.pin.P, (overlap - 1) / 4 + 1);
        CHECK(!memcmp(sn.pin.x0, x_prev + (F0 - sn.pin.P) * FR, sizeof(float) * sn.pin.P * FR));   /* RGB tail */
        CHECK(!memcmp(sn.pin.x0 + sn.pin.P * FR, x_prev + (F0 + F0 - sn.pin.P) * FR, sizeof(float) * sn.pin.P * FR));
        CHECK(!memcmp(sn.pin.eps, xi, sizeof(float) * HV * F1 * FR));
    }
    wrk_strategy_free(&sn); wrk_strategy_free(&sp);
    free(blob); free(xi);
    proto_msg_free(&a0); proto_msg_free(&a1);
    wrk_schedule_free(&sc);
    return at;
}

static void test_chain(void)
{
    float *x = malloc(sizeof(float) * HV * 13 * FR);
    for (int i = 0; i < HV * 13 * FR; i++) x[i] = (float)i;
    CHECK_EQ_INT(chain_case(9, 40, 49, x), 0);    /* 49 − 9 = 40: exact (latent 10 of w0 = latent 0 of w1) */
    CHECK_EQ_INT(chain_case(8, 41, 49, x), 1);    /* P 2, tail from latent 11 (ends at 44): w1's latent 1 ends at 45 */
    CHECK_EQ_INT(chain_case(11, 38, 49, x), 1);   /* P 3, tail ends at 40: between w1's latents 0 (38) and 1 (42) */
    CHECK_EQ_INT(chain_case(9, 45, 49, x), -1);   /* w1 starts after the tail: refused */
    free(x);
}

static void test_refusals_and_independent(void)
{
    char err[256];
    wrk_strategy_t s;
    float d[HV * FR] = { 0 };
    proto_cond_t c = { PROTO_COND_ANCHOR, HV, 1, C, H, W, 24, d };
    uint8_t *blob; size_t len;
    CHECK(proto_cond_encode(&c, &blob, &len, err, sizeof err) == 0);
    proto_msg_t a = assign("chain", "render", 0, 9, 2);
    proto_msg_set_data(&a, blob, len);
    CHECK(wrk_strategy_from_assign(&a, &s, err, sizeof err) == -1);   /* anchor blob in a chain window */
    proto_msg_free(&a);
    a = assign("anchor", "render", 0, 9, 2);
    proto_msg_set_data(&a, blob, 10);
    CHECK(wrk_strategy_from_assign(&a, &s, err, sizeof err) == -1);   /* truncated */
    proto_msg_free(&a);
    a = assign("anchor", "render", 0, 9, 2);
    proto_msg_set_data(&a, blob, len);
    CHECK(wrk_strategy_from_assign(&a, &s, err, sizeof err) == 0 && s.use == PROTO_COND_ANCHOR && !s.hand_on);
    float xi[HV * 3 * FR] = { 0 };
    CHECK(wrk_strategy_bind(&s, NULL, HV, 3, C + 1, H, W, xi, err, sizeof err) == -1);   /* other channels */
    wrk_strategy_free(&s);
    proto_msg_free(&a);
    a = assign("independent", "render", 0, 9, 2);
    proto_msg_set_data(&a, blob, len);
    CHECK(wrk_strategy_from_assign(&a, &s, err, sizeof err) == 0 && !s.use && !s.hand_on);
    CHECK(wrk_strategy_pin_fn(&s) == NULL);
    wrk_strategy_free(&s);
    proto_msg_free(&a);
    free(blob);
}

static void test_anchor(void)
{
    char err[256];
    wrk_schedule_t sc;
    sched(&sc);
    wrk_strategy_t st, sw;
    float x1[HV * FR], xi[HV * 3 * FR];
    for (int i = 0; i < HV * FR; i++) x1[i] = 0.5f + (float)i;
    proto_msg_t stage = assign("anchor", "anchor", 16, 1, 2);
    CHECK(wrk_strategy_from_assign(&stage, &st, err, sizeof err) == 0 && st.hand_on == PROTO_COND_ANCHOR);
    CHECK(wrk_strategy_bind(&st, &sc, HV, 1, C, H, W, x1, err, sizeof err) == 0);
    uint8_t *blob; size_t len;
    CHECK(wrk_strategy_hand_on(&st, x1, &blob, &len, err, sizeof err) == 0 && blob);
    proto_msg_t a = assign("anchor", "render", 0, 9, 2);
    proto_msg_set_data(&a, blob, len);
    CHECK(wrk_strategy_from_assign(&a, &sw, err, sizeof err) == 0 && sw.use == PROTO_COND_ANCHOR);
    CHECK(wrk_strategy_bind(&sw, &sc, HV, 3, C, H, W, xi, err, sizeof err) == 0);
    CHECK(wrk_strategy_pin_fn(&sw) == NULL);
    int Fa = 0;
    const float *b = wrk_strategy_anchor(&sw, 999, 2, &Fa);                   /* ᾱ_999 = 0: pure noise */
    float eps[HV * FR];
    wrk_noise_initial(77, WRK_STRATEGY_ANCHOR_NOISE, 1, 1, C, H, W, eps);
    CHECK(b && Fa == 2 && !memcmp(b, eps, sizeof eps) && !memcmp(b + HV * FR, eps, sizeof eps));
    b = wrk_strategy_anchor(&sw, -1, 1, &Fa);                                  /* final ᾱ = 1: the latent */
    CHECK(b && !memcmp(b, x1, sizeof x1));
    double ab = wrk_schedule_alpha(&sc, 500);
    b = wrk_strategy_anchor(&sw, 500, 1, &Fa);
    CHECK(fabs(b[3] - (sqrt(ab) * x1[3] + sqrt(1 - ab) * eps[3])) < 1e-5);
    wrk_strategy_free(&st); wrk_strategy_free(&sw);
    proto_msg_free(&stage); proto_msg_free(&a);
    free(blob);
    wrk_schedule_free(&sc);
}

/* x (HV·3, C, H, W) with frame f of half h holding 10·h + f + base. */
static void frames3(float *x, float base)
{
    for (int h = 0; h < HV; h++)
        for (int f = 0; f < 3; f++)
            for (int i = 0; i < FR; i++) x[(h * 3 + f) * FR + i] = base + (float)(10 * h + f);
}

static void test_anchor_causal(void)
{
    char err[256];
    wrk_schedule_t sc;
    sched(&sc);
    wrk_strategy_t s0, s1;
    float x0[HV * 3 * FR], x1[HV * 3 * FR];
    frames3(x0, 0); frames3(x1, 100);
    proto_msg_t a0 = assign("anchor-causal", "render", 0, 9, 5);
    CHECK(wrk_strategy_from_assign(&a0, &s0, err, sizeof err) == 0 && !s0.use && s0.hand_on == PROTO_COND_ANCHOR);
    CHECK(wrk_strategy_bind(&s0, &sc, HV, 3, C, H, W, x0, err, sizeof err) == 0);
    uint8_t *blob, *blob1; size_t len, len1;
    proto_cond_t c;
    CHECK(wrk_strategy_hand_on(&s0, x0, &blob, &len, err, sizeof err) == 0 && blob);
    CHECK(proto_cond_decode(blob, len, &c, err, sizeof err) == 0);
    /* per half [frame 0, frame 2] of window 0: RGB 0, 2; alpha 10, 12 */
    CHECK(c.kind == PROTO_COND_ANCHOR && c.frames == 2 && c.first == 0 && c.data[0] == 0 && c.data[FR] == 2 &&
          c.data[2 * FR] == 10 && c.data[3 * FR] == 12);
    proto_cond_free(&c);
    proto_msg_t a1 = assign("anchor-causal", "render", 4, 9, 5);
    proto_msg_set_data(&a1, blob, len);
    CHECK(wrk_strategy_from_assign(&a1, &s1, err, sizeof err) == 0 && s1.use == PROTO_COND_ANCHOR);
    CHECK(wrk_strategy_bind(&s1, &sc, HV, 3, C, H, W, x1, err, sizeof err) == 0);
    int Fa = 0;
    const float *b = wrk_strategy_anchor(&s1, -1, 1, &Fa);                     /* ᾱ = 1: the two frames */
    CHECK(b && Fa == 4 && b[0] == 0 && b[FR] == 2 && b[2 * FR] == 10 && b[3 * FR] == 12);
    CHECK(wrk_strategy_hand_on(&s1, x1, &blob1, &len1, err, sizeof err) == 0 && blob1);
    CHECK(proto_cond_decode(blob1, len1, &c, err, sizeof err) == 0);
    /* [shot frame 0 (from the blob), window 1's last]: RGB 0, 102; alpha 10, 112 */
    CHECK(c.frames == 2 && c.first == 0 && c.data[0] == 0 && c.data[FR] == 102 && c.data[2 * FR] == 10 &&
          c.data[3 * FR] == 112);
    proto_cond_free(&c);
    wrk_strategy_free(&s1);
    /* a one-frame anchor blob (the `anchor` stage's) is not an anchor-causal pair */
    float d[HV * FR] = { 0 };
    proto_cond_t one = { PROTO_COND_ANCHOR, HV, 1, C, H, W, 0, d };
    uint8_t *bad; size_t nbad;
    CHECK(proto_cond_encode(&one, &bad, &nbad, err, sizeof err) == 0);
    proto_msg_t a2 = assign("anchor-causal", "render", 8, 9, 5);
    proto_msg_set_data(&a2, bad, nbad);
    CHECK(wrk_strategy_from_assign(&a2, &s1, err, sizeof err) == -1 && strstr(err, "anchor-causal blob"));
    /* a window without a blob (e.g. its dependency rendered by the testcard engine) restarts the pair from
     * its own first frame; the next window accepts it (first before its own first frame) */
    proto_msg_t a3 = assign("anchor-causal", "render", 8, 9, 5);
    CHECK(wrk_strategy_from_assign(&a3, &s1, err, sizeof err) == 0 && !s1.use);
    CHECK(wrk_strategy_bind(&s1, &sc, HV, 3, C, H, W, x1, err, sizeof err) == 0);
    uint8_t *b3; size_t n3;
    CHECK(wrk_strategy_hand_on(&s1, x1, &b3, &n3, err, sizeof err) == 0 && b3);
    CHECK(proto_cond_decode(b3, n3, &c, err, sizeof err) == 0);
    CHECK(c.first == 8 && c.data[0] == 100 && c.data[FR] == 102);
    proto_cond_free(&c);
    wrk_strategy_free(&s1);
    proto_msg_t a4 = assign("anchor-causal", "render", 12, 9, 5);
    proto_msg_set_data(&a4, b3, n3);
    CHECK(wrk_strategy_from_assign(&a4, &s1, err, sizeof err) == 0 && s1.use == PROTO_COND_ANCHOR);
    wrk_strategy_free(&s1);
    proto_msg_t a5 = assign("anchor-causal", "render", 8, 9, 5);      /* its own pair: not before it */
    proto_msg_set_data(&a5, b3, n3);
    CHECK(wrk_strategy_from_assign(&a5, &s1, err, sizeof err) == -1);
    proto_msg_free(&a3); proto_msg_free(&a4); proto_msg_free(&a5);
    free(b3);
    wrk_strategy_free(&s0);
    proto_msg_free(&a0); proto_msg_free(&a1); proto_msg_free(&a2);
    free(blob); free(blob1); free(bad);
    wrk_schedule_free(&sc);
}

int main(void)
{
    T_RUN(test_chain);
    T_RUN(test_refusals_and_independent);
    T_RUN(test_anchor);
    T_RUN(test_anchor_causal);
    T_DONE();
}
