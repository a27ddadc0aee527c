/* test_chain_pin.c — the chain strategy's pinning math (worker/model/chain_pin.h): the pinned frames
 * against the direct formula x_t = sqrt(ᾱ)·x0 + sqrt(1−ᾱ)·ε, the edge steps of the CogVideoX schedule
 * (ᾱ_999 = 0 gives the window's own noise exactly, the last step gives x0 exactly), the untouched rest of
 * the latent, the hook inside a real DDIM and DPM run (the model sees the pinned latent at every step),
 * taking the tail of a finished window, and determinism. */
#include "tests/test.h"
#include "worker/model/chain_pin.h"
#include "worker/model/noise.h"
#include "worker/model/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HV = 2, F = 4, P = 2, C = 3, HH = 2, WW = 3, FR = C * HH * WW, N = HV * F * FR };

static void sched_cogvideox(wrk_schedule_t *s)
{
    wrk_sched_config_t c;
    char err[256];
    wrk_sched_config_default(&c);
    c.prediction_type = WRK_PRED_V; c.rescale_betas_zero_snr = 1;
    c.timestep_spacing = WRK_SPACING_TRAILING; c.clip_sample = 0; c.snr_shift_scale = 1.0;
    if (wrk_schedule_init(s, &c, err, sizeof err)) fprintf(stderr, "schedule: %s\n", err);
}

static float cond[HV * P * FR], eps[N];

static wrk_pin_t make_pin(void)
{
    wrk_noise_normal(7, 100, 0, 0, HV * P * FR, cond);      /* stands in for window k's final latents */
    wrk_noise_initial(42, 3, 1, F, C, HH, WW, eps);          /* window 3's own initial noise */
    return (wrk_pin_t){ HV, F, P, FR, cond, eps, 0 };
}

/* 1 if the pinned frames of x equal the direct formula within tol and the rest equals `rest`. */
static int pinned_ok(const wrk_pin_t *p, const float *x, const float *rest, double ab, double tol)
{
    for (int h = 0; h < HV; h++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < FR; i++) {
                int64_t k = ((int64_t)h * F + f) * FR + i;
                if (f >= P) { if (x[k] != rest[k]) return 0; continue; }
                double want = sqrt(ab) * p->x0[((int64_t)h * P + f) * FR + i] + sqrt(1 - ab) * p->eps[k];
                if (fabs(x[k] - want) > tol) return 0;
            }
    return 1;
}

static void test_formula_and_edges(void)
{
    wrk_pin_t p = make_pin();
    wrk_schedule_t s;
    sched_cogvideox(&s);
    char err[256];
    CHECKF(wrk_pin_check(&p, N, err, sizeof err) == 0, "%s", err);
    CHECK(wrk_pin_check(&p, N - 1, err, sizeof err) == -1);
    wrk_pin_t bad = p; bad.P = F + 1;
    CHECK(wrk_pin_check(&bad, N, err, sizeof err) == -1);
    float x[N], rest[N];
    wrk_noise_normal(1, 2, 3, 0, N, rest);
    const double levels[] = { 0.25, 0.5, 0.9, wrk_schedule_alpha(&s, 500), wrk_schedule_alpha(&s, 1) };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        memcpy(x, rest, sizeof x);
        wrk_pin_apply(&p, levels[i], x);
        CHECKF(pinned_ok(&p, x, rest, levels[i], 1e-6), "level %g", levels[i]);
    }
    /* ᾱ_999 = 0 (zero terminal SNR): the pinned frames are exactly the window's own noise */
    CHECKF(wrk_schedule_alpha(&s, 999) == 0.0, "alpha_999 = %g", wrk_schedule_alpha(&s, 999));
    memcpy(x, rest, sizeof x);
    wrk_pin_apply(&p, wrk_schedule_alpha(&s, 999), x);
    int exact = 1;
    for (int h = 0; h < HV; h++)
        exact &= !memcmp(x + h * F * FR, eps + h * F * FR, P * FR * sizeof(float));
    CHECK(exact);
    /* after the last step (prev_t < 0: the final ᾱ = 1): exactly the given latents */
    CHECKF(wrk_schedule_alpha(&s, -1) == 1.0, "final alpha %g", wrk_schedule_alpha(&s, -1));
    wrk_pin_apply(&p, wrk_schedule_alpha(&s, -1), x);
    exact = 1;
    for (int h = 0; h < HV; h++) exact &= !memcmp(x + h * F * FR, cond + h * P * FR, P * FR * sizeof(float));
    CHECK(exact);
    CHECK(pinned_ok(&p, x, rest, 1.0, 0));
    wrk_schedule_free(&s);
}

/* A toy v-model that records whether every latent it is given carries the pinned frames at level t. */
typedef struct { const wrk_schedule_t *s; const wrk_pin_t *p; int calls, bad; } probe_t;

static int probe_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out,
                         char *err, size_t errlen)
{
    probe_t *q = ctx;
    (void)step; (void)err; (void)errlen;
    q->calls++;
    if (!pinned_ok(q->p, x, x, wrk_schedule_alpha(q->s, t), 1e-6)) q->bad++;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < N; i++) out[b * N + i] = 0.3f * x[i] + 0.05f * (float)(b + 1);
    return 0;
}

static int probe_noise(void *ctx, int step, float *e, int64_t n, char *err, size_t errlen)
{
    (void)ctx; (void)err; (void)errlen;
    wrk_noise_normal(42, 3, (uint32_t)step, 0, n, e);
    return 0;
}

static void run_once(wrk_sampler_t kind, float *x, probe_t *q)
{
    wrk_schedule_t s;
    sched_cogvideox(&s);
    wrk_pin_t p = make_pin();
    *q = (probe_t){ &s, &p, 0, 0 };
    memcpy(x, eps, N * sizeof *x);
    wrk_sampler_run_t r = { .kind = kind, .steps = 8, .guidance = 6.0, .cfg_mode = WRK_CFG_DYNAMIC,
                            .denoise = probe_denoise, .denoise_ctx = q, .noise = probe_noise,
                            .pin = wrk_pin_hook, .pin_ctx = &p };
    char err[256];
    CHECKF(wrk_sampler_run(&s, &r, x, N, err, sizeof err) == 0, "%s", err);
    wrk_schedule_free(&s);
}

static void test_in_sampler(void)
{
    const wrk_sampler_t kinds[] = { WRK_SAMPLER_DDIM, WRK_SAMPLER_DPM };
    for (int k = 0; k < 2; k++) {
        float x[N], y[N];
        probe_t q;
        run_once(kinds[k], x, &q);
        CHECK_EQ_INT(q.calls, 8);
        CHECKF(q.bad == 0, "%s: %d model calls saw unpinned frames", wrk_sampler_name(kinds[k]), q.bad);
        int exact = 1;   /* final latent: the pinned frames are the given latents exactly */
        for (int h = 0; h < HV; h++) exact &= !memcmp(x + h * F * FR, cond + h * P * FR, P * FR * sizeof(float));
        CHECK(exact);
        int moved = 0;   /* the rest was sampled, not left as noise */
        for (int i = P * FR; i < F * FR; i++) moved |= x[i] != eps[i];
        CHECK(moved);
        run_once(kinds[k], y, &q);
        CHECK(!memcmp(x, y, sizeof x));   /* determinism: a re-render is bit-identical */
    }
}

/* at > 0: the pinned block sits later in each half; the frames before and after it are untouched */
static void test_offset(void)
{
    wrk_pin_t p = make_pin();
    p.at = F - P;
    float x[N], rest[N];
    char err[256];
    wrk_noise_normal(3, 4, 5, 0, N, rest);
    memcpy(x, rest, sizeof x);
    CHECKF(wrk_pin_check(&p, N, err, sizeof err) == 0, "%s", err);
    wrk_pin_apply(&p, 0.36, x);
    int ok = 1;
    for (int h = 0; h < HV; h++)
        for (int f = 0; f < F; f++)
            for (int i = 0; i < FR; i++) {
                int64_t k = ((int64_t)h * F + f) * FR + i;
                if (f < p.at) { ok &= x[k] == rest[k]; continue; }
                double want = 0.6 * cond[((int64_t)h * P + f - p.at) * FR + i] + 0.8 * eps[k];
                ok &= fabs(x[k] - want) < 1e-6;
            }
    CHECK(ok);
    p.at = F - P + 1;
    CHECK(wrk_pin_check(&p, N, err, sizeof err) == -1);
}

static void test_take_tail(void)
{
    float x[N], tail[HV * P * FR];
    for (int i = 0; i < N; i++) x[i] = (float)i;
    wrk_pin_take_tail(x, HV, F, P, FR, tail);
    CHECK(tail[0] == (float)((F - P) * FR));                       /* RGB half: frames F-P.. */
    CHECK(tail[P * FR] == (float)((F + F - P) * FR));              /* alpha half */
    CHECK(tail[HV * P * FR - 1] == (float)(N - 1));
}

int main(void)
{
    T_RUN(test_formula_and_edges);
    T_RUN(test_in_sampler);
    T_RUN(test_offset);
    T_RUN(test_take_tail);
    T_DONE();
}
