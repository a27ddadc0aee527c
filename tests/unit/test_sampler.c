/* test_sampler.c — CogVideoX samplers: the fp64 schedule (MODEL.md §3.1 values and torch's own),
 * timesteps, dynamic CFG values, the IEEE edge cases of §3.3, an analytic (oracle) denoiser, and
 * whole trajectories against diffusers 0.32.0 (test_sampler_ref.inc). */
#include <stdint.h>

#include "tests/test.h"
#include "worker/model/sampler.h"

typedef struct {
    wrk_sampler_t kind;
    int steps;
    double shift, w;
    int dyn;
    const float *x, *bu, *bc, *noise, *traj;   /* traj/noise: (steps, 8) */
} ref_case_t;

#include "tests/unit/test_sampler_ref.inc"

static void sched_5b(wrk_schedule_t *s, double shift)
{
    wrk_sched_config_t c;
    char err[256];
    wrk_sched_config_default(&c);
    c.prediction_type = WRK_PRED_V;
    c.rescale_betas_zero_snr = 1;
    c.timestep_spacing = WRK_SPACING_TRAILING;
    c.clip_sample = 0;
    c.snr_shift_scale = shift;
    if (wrk_schedule_init(s, &c, err, sizeof err)) fprintf(stderr, "schedule: %s\n", err);
}

static int rel_eq(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

static void test_schedule(void)
{
    wrk_schedule_t s;
    sched_5b(&s, 1.0);
    const double *a = s.alphas_cumprod;
    /* MODEL.md §3.1 (5 digits) */
    CHECKF(fabs(a[0] - 0.99915) < 5e-6 && fabs(a[19] - 0.98101) < 5e-6 && fabs(a[99] - 0.88809) < 5e-6, "%g %g %g", a[0], a[19], a[99]);
    CHECKF(fabs(a[499] - 0.24236) < 5e-6 && fabs(a[979] - 8.58e-5) < 5e-8, "%g %g", a[499], a[979]);
    CHECK(a[999] == 0.0);
    /* torch 2.4.0 values (repr); equal up to torch's own non-correctly-rounded sqrt (<= 1 ulp) */
    CHECK(rel_eq(a[19], 0.9810104569288466, 3e-16) && rel_eq(a[99], 0.8880858947943182, 3e-16));
    CHECK(rel_eq(a[499], 0.24235916655614523, 3e-16) && rel_eq(a[979], 8.578784340054837e-05, 1e-15));
    CHECK(rel_eq(a[998], 1.967888056621291e-07, 1e-14));
    CHECK(wrk_schedule_alpha(&s, -1) == 1.0);
    for (int i = 1; i < 1000; i++) CHECKF(a[i] < a[i - 1], "not decreasing at %d", i);
    wrk_schedule_free(&s);
    sched_5b(&s, 3.0);   /* 2B: SNR shift 3 lowers every ᾱ, still ends at 0 */
    CHECK(s.alphas_cumprod[999] == 0.0 && s.alphas_cumprod[499] < 0.24236 && s.alphas_cumprod[0] < 0.99915);
    wrk_schedule_free(&s);
}

static void test_timesteps(void)
{
    wrk_schedule_t s;
    int64_t t[1001];
    char err[256];
    sched_5b(&s, 1.0);
    int n = wrk_schedule_timesteps(&s, 50, t, 1001, err, sizeof err);
    CHECK_EQ_INT(n, 50);
    for (int i = 0; i < n; i++) CHECKF(t[i] == 999 - 20 * i, "N=50 t[%d]=%lld", i, (long long)t[i]);
    n = wrk_schedule_timesteps(&s, 25, t, 1001, err, sizeof err);
    CHECK(n == 25 && t[0] == 999 && t[1] == 959 && t[24] == 39);
    static const int64_t t30[] = {999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532,
                                  499, 466, 432, 399, 366, 332, 299, 266, 232, 199, 166, 132, 99, 66, 32};
    n = wrk_schedule_timesteps(&s, 30, t, 1001, err, sizeof err);
    CHECK(n == 30 && memcmp(t, t30, sizeof t30) == 0);
    static const int64_t t7[] = {999, 856, 713, 570, 428, 285, 142};
    n = wrk_schedule_timesteps(&s, 7, t, 1001, err, sizeof err);
    CHECK(n == 7 && memcmp(t, t7, sizeof t7) == 0);
    s.spacing = WRK_SPACING_LEADING;
    n = wrk_schedule_timesteps(&s, 7, t, 1001, err, sizeof err);
    CHECK(n == 7 && t[0] == 852 && t[6] == 0);
    s.spacing = WRK_SPACING_LINSPACE;
    n = wrk_schedule_timesteps(&s, 7, t, 1001, err, sizeof err);
    CHECK(n == 7 && t[0] == 999 && t[1] == 832 && t[3] == 500 && t[6] == 0);   /* 499.5 rounds to even */
    s.spacing = WRK_SPACING_TRAILING;
    CHECK(wrk_schedule_timesteps(&s, 0, t, 1001, err, sizeof err) == -1);
    CHECK(wrk_schedule_timesteps(&s, 1001, t, 1001, err, sizeof err) == -1);
    /* torch yields a timestep of -1 here (numpy arange overshoot): refused, not silently wrapped */
    CHECK(wrk_schedule_timesteps(&s, 985, t, 1001, err, sizeof err) == -1 && strstr(err, "-1"));
    wrk_schedule_free(&s);
}

static void test_dynamic_cfg(void)
{
    static const double n50[] = {2.2915, 2.5435, 6.9744, 6.4204, 2.7881, 4.2719, 1.0376};
    static const double n25[] = {7.9182, 7.8954, 1.1495, 1.1249, 6.1270};
    for (int i = 0; i < 7; i++) {
        double w = wrk_cfg_scale(WRK_CFG_DYNAMIC, 6.0, 50, i, 999 - 20 * i);
        CHECKF(fabs(w - n50[i]) < 5e-5, "N=50 step %d: %.6f", i, w);
    }
    CHECK(fabs(wrk_cfg_scale(WRK_CFG_DYNAMIC, 6.0, 50, 47, 59) - 1.0) < 5e-5);
    CHECK(fabs(wrk_cfg_scale(WRK_CFG_DYNAMIC, 6.0, 50, 48, 39) - 1.0) < 5e-5);
    CHECK(fabs(wrk_cfg_scale(WRK_CFG_DYNAMIC, 6.0, 50, 49, 19) - 1.1234) < 5e-5);
    for (int i = 0; i < 5; i++) {
        double w = wrk_cfg_scale(WRK_CFG_DYNAMIC, 7.0, 25, i, 999 - 40 * i);
        CHECKF(fabs(w - n25[i]) < 5e-5, "N=25 step %d: %.6f", i, w);
    }
    CHECK(fabs(wrk_cfg_scale(WRK_CFG_DYNAMIC, 7.0, 25, 24, 39) - 1.0523) < 5e-5);
    /* bit-exact against Python: 1 + 6 * ((1 - math.cos(math.pi * ((50 - 979) / 50) ** 5.0)) / 2) */
    CHECK(wrk_cfg_scale(WRK_CFG_DYNAMIC, 6.0, 50, 1, 979) == 2.5435028667646318);
    /* SAT form (idx = N - i): 1 + w at the first step, falling towards 1 */
    CHECK(wrk_cfg_scale(WRK_CFG_DYNAMIC_STEP, 6.0, 50, 0, 999) == 7.0);
    CHECK(wrk_cfg_scale(WRK_CFG_DYNAMIC_STEP, 6.0, 50, 49, 19) == 1 + 6.0 * ((1 - cos(M_PI * pow(1.0 / 50, 5.0))) / 2));
    CHECK(fabs(wrk_cfg_scale(WRK_CFG_DYNAMIC_STEP, 6.0, 50, 49, 19) - 1.0) < 1e-6);
    for (int i = 1; i < 50; i++)
        CHECK(wrk_cfg_scale(WRK_CFG_DYNAMIC_STEP, 6.0, 50, i, 999 - 20 * i) <= wrk_cfg_scale(WRK_CFG_DYNAMIC_STEP, 6.0, 50, i - 1, 0));
    CHECK(wrk_cfg_scale(WRK_CFG_CONSTANT, 6.0, 50, 3, 939) == 6.0);
    float u[3] = {1, 2, 3}, c[3] = {2, 2, 0}, o[3];
    wrk_cfg_combine(u, c, 3.0, o, 3);
    CHECK(o[0] == 4 && o[1] == 2 && o[2] == -6);
}

static void test_edge_cases(void)
{
    wrk_schedule_t s;
    wrk_dpm_coef_t c;
    sched_5b(&s, 1.0);
    double ap = s.alphas_cumprod[979];
    /* first step, t = 999: ᾱ_t = 0 → λ = −∞, h = +∞ */
    wrk_dpm_coef(&s, 999, 979, -1, 0, &c);
    CHECK(isinf(c.h) && c.h > 0 && c.mult1 == 0.0 && !c.second_order);
    CHECK(c.mult2 == -sqrt(ap) && c.mult_noise == sqrt(1 - ap));
    /* second step: h_last = ∞ → r = ∞ → D = x0 */
    wrk_dpm_coef(&s, 979, 959, 999, 1, &c);
    CHECK(isinf(c.r) && c.mult3 == 1.0 && c.mult4 == 0.0 && c.second_order);
    /* a middle step is properly second order */
    wrk_dpm_coef(&s, 499, 479, 519, 1, &c);
    CHECK(isfinite(c.r) && c.r > 0 && c.mult4 > 0 && c.mult1 > 0 && c.mult2 < 0);
    /* last step: prev_t < 0 → ᾱ_prev = 1 → x_prev = x0 exactly, no noise */
    wrk_dpm_coef(&s, 19, -1, 39, 1, &c);
    CHECK(!c.second_order && c.mult1 == 0.0 && c.mult2 == -1.0 && c.mult_noise == 0.0);
    float x[4] = {0.3f, -1.2f, 2.5f, 0.0f}, v[4] = {0.1f, 0.7f, -0.4f, 1.0f}, eps[4] = {5, -5, 3, 1};
    float old[4] = {9, 9, 9, 9}, xp[4], x0[4];
    wrk_dpm_step(&s, 19, -1, 39, x, v, old, eps, xp, x0, 4);
    CHECK(memcmp(xp, x0, sizeof xp) == 0);
    wrk_ddim_step(&s, 19, -1, x, v, xp, x0, 4);
    CHECK(memcmp(xp, x0, sizeof xp) == 0);
    /* first DPM step: x_prev = sqrt(ᾱ_prev)·x0 + sqrt(1−ᾱ_prev)·ε, and x0 = −v (ᾱ_t = 0) */
    wrk_dpm_step(&s, 999, 979, -1, x, v, NULL, eps, xp, x0, 4);
    for (int i = 0; i < 4; i++) {
        CHECK(x0[i] == -v[i]);
        CHECK(fabsf(xp[i] - ((float)sqrt(ap) * x0[i] + (float)sqrt(1 - ap) * eps[i])) <= 1e-6f);
    }
    wrk_schedule_free(&s);
}

/* ---- the analytic check: the ideal denoiser of a one-point data set ---- */

typedef struct { const wrk_schedule_t *s; const float *xu, *xc; int n; float *eps_seen; } oracle_t;

/* For data = {xd}: ε = (x − sqrt(ᾱ)·xd)/sqrt(1−ᾱ) and v = sqrt(ᾱ)·ε − sqrt(1−ᾱ)·xd, so x0 = xd. */
static void oracle_v(const wrk_schedule_t *s, int64_t t, const float *x, const float *xd, float *v, int n)
{
    double a = wrk_schedule_alpha(s, t);
    for (int i = 0; i < n; i++) {
        double e = a == 0 ? x[i] : (x[i] - sqrt(a) * xd[i]) / sqrt(1 - a);
        v[i] = (float)(sqrt(a) * e - sqrt(1 - a) * xd[i]);
    }
}

static int oracle_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out, char *err, size_t errlen)
{
    oracle_t *o = ctx;
    if (batch == 2) oracle_v(o->s, t, x, o->xu, out, o->n);
    oracle_v(o->s, t, x, o->xc, out + (batch - 1) * o->n, o->n);
    return 0;
}

static int philox_free_noise(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen)
{
    for (int64_t i = 0; i < n; i++) eps[i] = (float)sin(1.0 + 3.7 * step + 1.3 * (double)i);   /* any fixed values */
    return 0;
}

static void test_oracle(void)
{
    wrk_schedule_t s;
    sched_5b(&s, 1.0);
    enum { N = 6 };
    float xu[N] = {0.5f, -1, 2, 0, 0.25f, -0.75f}, xc[N] = {1, 1, -1, 0.5f, 3, -2}, x[N], x1[N];
    for (int i = 0; i < N; i++) x[i] = x1[i] = (float)cos(0.9 * i);
    oracle_t o = {&s, xu, xc, N, NULL};
    char err[256];
    /* DDIM, CFG w = 4: every x0 is xu + 4(xc − xu), so the run ends there */
    wrk_sampler_run_t r = {.kind = WRK_SAMPLER_DDIM, .steps = 20, .guidance = 4.0, .cfg_mode = WRK_CFG_CONSTANT,
                           .denoise = oracle_denoise, .denoise_ctx = &o};
    CHECKF(wrk_sampler_run(&s, &r, x, N, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < N; i++) CHECKF(fabsf(x[i] - (xu[i] + 4 * (xc[i] - xu[i]))) < 1e-4f, "ddim %d: %g", i, x[i]);
    /* DPM, no CFG: ends at xc */
    r.kind = WRK_SAMPLER_DPM; r.guidance = 1.0; r.noise = philox_free_noise;
    CHECKF(wrk_sampler_run(&s, &r, x1, N, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < N; i++) CHECKF(fabsf(x1[i] - xc[i]) < 1e-5f, "dpm %d: %g", i, x1[i]);
    /* one DPM step keeps the noise component at unit scale: ε' = e^{−h} ε + sqrt(1 − e^{−2h}) ξ */
    float xt[N], v[N], xp[N], x0[N], xi[N], old[N];
    double at = s.alphas_cumprod[499], ap = s.alphas_cumprod[479];
    for (int i = 0; i < N; i++) { xi[i] = (float)(0.3 * i - 1); old[i] = xc[i]; xt[i] = (float)(sqrt(at) * xc[i] + sqrt(1 - at) * cos(2.0 * i)); }
    oracle_v(&s, 499, xt, xc, v, N);
    wrk_dpm_step(&s, 499, 479, 519, xt, v, old, xi, xp, x0, N);
    wrk_dpm_coef_t c;
    wrk_dpm_coef(&s, 499, 479, 519, 1, &c);
    for (int i = 0; i < N; i++) {
        double e_t = (xt[i] - sqrt(at) * xc[i]) / sqrt(1 - at), e_p = (xp[i] - sqrt(ap) * xc[i]) / sqrt(1 - ap);
        double want = exp(-c.h) * e_t + sqrt(1 - exp(-2 * c.h)) * xi[i];
        CHECKF(fabs(e_p - want) < 2e-5, "dpm marginal %d: %g vs %g", i, e_p, want);
    }
    wrk_schedule_free(&s);
}

/* ---- whole trajectories against diffusers ---- */

typedef struct { const ref_case_t *rc; int step; float maxerr, maxref; } ref_ctx_t;

static int ref_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out, char *err, size_t errlen)
{
    const ref_case_t *rc = ((ref_ctx_t *)ctx)->rc;
    const float sc = (float)(t / 1000.0);
    for (int i = 0; i < 8; i++) {
        out[i] = 0.25f * x[i] + rc->bu[i] * sc;
        out[8 + i] = -0.5f * x[i] + rc->bc[i] * sc;
    }
    return batch == 2 ? 0 : -1;
}

static int ref_noise(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen)
{
    memcpy(eps, ((ref_ctx_t *)ctx)->rc->noise + 8 * step, 8 * sizeof *eps);
    return 0;
}

static int ref_on_step(void *ctx, int step, int64_t t, const float *x, const float *x0, int64_t n)
{
    ref_ctx_t *c = ctx;
    const float *want = c->rc->traj + 8 * step;
    for (int i = 0; i < 8; i++) {
        c->maxerr = fmaxf(c->maxerr, fabsf(x[i] - want[i]));
        c->maxref = fmaxf(c->maxref, fabsf(want[i]));
    }
    c->step = step + 1;
    return 0;
}

static void test_reference_trajectories(void)
{
    for (size_t k = 0; k < sizeof ref_cases / sizeof *ref_cases; k++) {
        const ref_case_t *rc = &ref_cases[k];
        wrk_schedule_t s;
        sched_5b(&s, rc->shift);
        ref_ctx_t c = {rc, 0, 0, 0};
        float x[8];
        char err[256];
        memcpy(x, rc->x, sizeof x);
        wrk_sampler_run_t r = {.kind = rc->kind, .steps = rc->steps, .guidance = rc->w,
                               .cfg_mode = rc->dyn ? WRK_CFG_DYNAMIC : WRK_CFG_CONSTANT,
                               .denoise = ref_denoise, .denoise_ctx = &c, .noise = ref_noise, .noise_ctx = &c,
                               .on_step = ref_on_step, .step_ctx = &c};
        CHECKF(wrk_sampler_run(&s, &r, x, 8, err, sizeof err) == 0, "%s", err);
        CHECK_EQ_INT(c.step, rc->steps);
        fprintf(stderr, "   %s N=%d shift %.0f w %.0f%s: max |err| %.3g (max |ref| %.3g)\n", wrk_sampler_name(rc->kind),
                rc->steps, rc->shift, rc->w, rc->dyn ? " dynamic" : "", c.maxerr, c.maxref);
        CHECKF(c.maxerr <= 1e-5f * c.maxref, "case %zu: max err %g", k, c.maxerr);
        CHECK(t_allclose("final", x, rc->traj + 8 * (rc->steps - 1), 8, 0, 1e-5));
        wrk_schedule_free(&s);
    }
}

static void test_names(void)
{
    for (int i = 0; i < WRK_SAMPLER_COUNT; i++) {
        wrk_sampler_t k;
        CHECK(wrk_sampler_from_name(wrk_sampler_name((wrk_sampler_t)i), &k) == 0 && (int)k == i);
    }
    for (int i = 0; i < WRK_CFG_COUNT; i++) {
        wrk_cfg_mode_t m;
        CHECK(wrk_cfg_mode_from_name(wrk_cfg_mode_name((wrk_cfg_mode_t)i), &m) == 0 && (int)m == i);
    }
    wrk_sampler_t k;
    CHECK(wrk_sampler_from_name("euler", &k) == -1 && wrk_sampler_from_name(NULL, &k) == -1);
}

int main(void)
{
    T_RUN(test_schedule);
    T_RUN(test_timesteps);
    T_RUN(test_dynamic_cfg);
    T_RUN(test_edge_cases);
    T_RUN(test_oracle);
    T_RUN(test_reference_trajectories);
    T_RUN(test_names);
    T_DONE();
}
