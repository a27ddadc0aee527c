/* sampler.c — CogVideoX DDIM / DPM samplers, fp64 schedule, dynamic CFG (see sampler.h).
 *
 * Reference: diffusers v0.32.0 schedulers/scheduling_ddim_cogvideox.py, scheduling_dpm_cogvideox.py,
 * pipelines/cogvideo/pipeline_cogvideox.py (the denoising loop). Comments quote the Python each line
 * mirrors where the operation order matters.
 */
#include "worker/model/sampler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

typedef struct { const char *name, *help; } name_help_t;

static const name_help_t sampler_tab[WRK_SAMPLER_COUNT] = {
    [WRK_SAMPLER_DDIM] = {"ddim", "CogVideoXDDIMScheduler: deterministic DDIM (eta ignored)"},
    [WRK_SAMPLER_DPM]  = {"dpm", "CogVideoXDPMScheduler: SDE-DPM-Solver++(2M), fresh noise every step"},
};

static const name_help_t cfg_tab[WRK_CFG_COUNT] = {
    [WRK_CFG_CONSTANT]     = {"constant", "w at every step"},
    [WRK_CFG_DYNAMIC]      = {"diffusers", "1 + w(1 - cos(pi((N - t)/N)^5))/2 with t the timestep value"},
    [WRK_CFG_DYNAMIC_STEP] = {"step", "1 + w(1 - cos(pi((N - i)/N)^5))/2 with i the step index (SAT idx = N - i)"},
};

const char *wrk_sampler_name(wrk_sampler_t s) { return (unsigned)s < WRK_SAMPLER_COUNT ? sampler_tab[s].name : "?"; }
const char *wrk_sampler_help(wrk_sampler_t s) { return (unsigned)s < WRK_SAMPLER_COUNT ? sampler_tab[s].help : "?"; }
const char *wrk_cfg_mode_name(wrk_cfg_mode_t m) { return (unsigned)m < WRK_CFG_COUNT ? cfg_tab[m].name : "?"; }

static int find_name(const name_help_t *tab, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(tab[i].name, name) == 0) return i;
    return -1;
}

int wrk_sampler_from_name(const char *name, wrk_sampler_t *out)
{
    int i = find_name(sampler_tab, WRK_SAMPLER_COUNT, name);
    if (i < 0) return -1;
    *out = (wrk_sampler_t)i;
    return 0;
}

int wrk_cfg_mode_from_name(const char *name, wrk_cfg_mode_t *out)
{
    int i = find_name(cfg_tab, WRK_CFG_COUNT, name);
    if (i < 0) return -1;
    *out = (wrk_cfg_mode_t)i;
    return 0;
}

static void sm_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sm_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- CFG ---- */

double wrk_cfg_scale(wrk_cfg_mode_t m, double w, int n_steps, int step, int64_t t)
{
    double frac;
    switch (m) {
    case WRK_CFG_DYNAMIC:        /* (num_inference_steps - t.item()) / num_inference_steps */
        frac = (double)((int64_t)n_steps - t) / (double)n_steps;
        break;
    case WRK_CFG_DYNAMIC_STEP:  /* SAT: sampler_step(..., idx=self.num_steps - i); (idx / num_steps) ** exp */
        frac = (double)(n_steps - step) / (double)n_steps;
        break;
    default:
        return w;
    }
    /* 1 + guidance_scale * ((1 - math.cos(math.pi * frac ** 5.0)) / 2) */
    return 1.0 + w * ((1.0 - cos(M_PI * pow(frac, 5.0))) / 2.0);
}

void wrk_cfg_combine(const float *v_u, const float *v_c, double w, float *out, int64_t n)
{
    const float wf = (float)w;
    for (int64_t i = 0; i < n; i++) out[i] = v_u[i] + wf * (v_c[i] - v_u[i]);
}

/* ---- schedule ---- */

/* torch.linspace(a, b, n, dtype=float64) on CPU (ATen linspace_kernel): the first half counts up
 * from a, the second half down from b; torch 2.4's AVX2 build contracts both into fused
 * multiply-adds, which is what matches it bit for bit (checked on all 1000 values). */
static void torch_linspace(double a, double b, int n, double *out)
{
    const double step = (b - a) / (double)(n - 1);
    const int half = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < half ? fma(step, (double)i, a) : fma(-step, (double)(n - i - 1), b);
}

/* betas_for_alpha_bar(T, "cosine") as diffusers, in fp64. */
static void betas_cosine(int n, double *beta)
{
    for (int i = 0; i < n; i++) {
        double t1 = (double)i / n, t2 = (double)(i + 1) / n;
        double f1 = pow(cos((t1 + 0.008) / 1.008 * M_PI / 2), 2), f2 = pow(cos((t2 + 0.008) / 1.008 * M_PI / 2), 2);
        beta[i] = fmin(1 - f2 / f1, 0.999);
    }
}

static void make_betas(const wrk_sched_config_t *c, double *beta)
{
    int n = c->num_train_timesteps;
    switch (c->beta_schedule) {
    case WRK_BETA_LINEAR:
        torch_linspace(c->beta_start, c->beta_end, n, beta);
        break;
    case WRK_BETA_SQUAREDCOS_CAP_V2:
        betas_cosine(n, beta);
        break;
    default:   /* torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float64) ** 2 */
        torch_linspace(pow(c->beta_start, 0.5), pow(c->beta_end, 0.5), n, beta);
        for (int i = 0; i < n; i++) beta[i] = beta[i] * beta[i];
    }
}

/* rescale_zero_terminal_snr (Lin et al. Alg. 1, on alphas_cumprod). */
static void rescale_zero_snr(double *ac, int n)
{
    for (int i = 0; i < n; i++) ac[i] = sqrt(ac[i]);
    double r0 = ac[0], rT = ac[n - 1], k = r0 / (r0 - rT);
    for (int i = 0; i < n; i++) { ac[i] -= rT; ac[i] *= k; }
    for (int i = 0; i < n; i++) ac[i] = ac[i] * ac[i];
}

int wrk_schedule_init(wrk_schedule_t *s, const wrk_sched_config_t *c, char *err, size_t errlen)
{
    int n = c->num_train_timesteps;
    memset(s, 0, sizeof *s);
    if (n < 2 || c->snr_shift_scale <= 0) { sm_err(err, errlen, "schedule: bad num_train_timesteps or snr_shift_scale"); return -1; }
    double *ac = malloc((size_t)n * sizeof *ac);
    if (!ac) { sm_err(err, errlen, "schedule: out of memory"); return -1; }
    make_betas(c, ac);
    double prod = 1.0, sh = c->snr_shift_scale;
    for (int i = 0; i < n; i++) { prod *= 1.0 - ac[i]; ac[i] = prod; }   /* cumprod(1 - betas) */
    for (int i = 0; i < n; i++) ac[i] = ac[i] / (sh + (1 - sh) * ac[i]);
    if (c->rescale_betas_zero_snr) rescale_zero_snr(ac, n);
    s->num_train_timesteps = n;
    s->alphas_cumprod = ac;
    s->final_alpha_cumprod = c->set_alpha_to_one ? 1.0 : ac[0];
    s->prediction = c->prediction_type;
    s->spacing = c->timestep_spacing;
    s->steps_offset = c->steps_offset;
    return 0;
}

void wrk_schedule_free(wrk_schedule_t *s)
{
    if (!s) return;
    free(s->alphas_cumprod);
    s->alphas_cumprod = NULL;
}

double wrk_schedule_alpha(const wrk_schedule_t *s, int64_t t)
{
    if (t < 0) return s->final_alpha_cumprod;
    if (t >= s->num_train_timesteps) return NAN;
    return s->alphas_cumprod[t];
}

/* numpy arange(start, stop, step) for floats: length ceil((stop-start)/step), values start + i·delta
 * with delta = (start + step) - start (numpy fills from the first two elements). */
static int np_arange_round(double start, double stop, double step, int64_t *out, int cap)
{
    double len = ceil((stop - start) / step);
    if (!(len >= 0) || len > cap) return -1;
    double delta = (start + step) - start;
    for (int i = 0; i < (int)len; i++) out[i] = (int64_t)rint(i == 0 ? start : start + i * delta);
    return (int)len;
}

int wrk_schedule_timesteps(const wrk_schedule_t *s, int n, int64_t *t, int cap, char *err, size_t errlen)
{
    int T = s->num_train_timesteps, cnt = n;
    if (n < 1 || n > T) { sm_err(err, errlen, "steps: %d is not in [1, %d]", n, T); return -1; }
    if (cap < n) { sm_err(err, errlen, "steps: output holds %d, needs %d", cap, n); return -1; }
    if (s->spacing == WRK_SPACING_LINSPACE) {       /* np.linspace(0, T-1, n).round()[::-1] */
        double step = n > 1 ? (double)(T - 1) / (n - 1) : 0;
        for (int i = 0; i < n; i++) t[n - 1 - i] = (int64_t)rint(i == n - 1 && n > 1 ? (double)(T - 1) : i * step);
    } else if (s->spacing == WRK_SPACING_LEADING) { /* (arange(n) * (T // n)).round()[::-1] + offset */
        for (int i = 0; i < n; i++) t[n - 1 - i] = (int64_t)i * (T / n) + s->steps_offset;
    } else {                                        /* np.round(np.arange(T, 0, -T / n)) - 1 */
        cnt = np_arange_round((double)T, 0.0, -((double)T / n), t, cap);
        if (cnt < 0) { sm_err(err, errlen, "steps: trailing spacing for %d steps needs more room", n); return -1; }
        for (int i = 0; i < cnt; i++) t[i] -= 1;
    }
    for (int i = 0; i < cnt; i++)
        if (t[i] < 0 || t[i] >= T) { sm_err(err, errlen, "steps: timestep %lld outside [0, %d)", (long long)t[i], T); return -1; }
    return cnt;
}

/* ---- coefficients (fp64, the reference's operations) ---- */

static wrk_pred_coef_t pred_coef(const wrk_schedule_t *s, int64_t t)
{
    double a = wrk_schedule_alpha(s, t);
    return (wrk_pred_coef_t){sqrt(a), sqrt(1 - a)};     /* alpha_prod_t**0.5, beta_prod_t**0.5 */
}

void wrk_ddim_coef(const wrk_schedule_t *s, int64_t t, int64_t prev_t, wrk_ddim_coef_t *c)
{
    double at = wrk_schedule_alpha(s, t), ap = wrk_schedule_alpha(s, prev_t);
    c->a_t = sqrt((1 - ap) / (1 - at));                /* ((1 - a_prev) / (1 - a_t)) ** 0.5 */
    c->b_t = sqrt(ap) - sqrt(at) * c->a_t;             /* a_prev**0.5 - a_t**0.5 * a_t */
}

static double lambda_of(double a) { return log(sqrt(a / (1 - a))); }   /* ((a / (1 - a)) ** 0.5).log() */

void wrk_dpm_coef(const wrk_schedule_t *s, int64_t t, int64_t prev_t, int64_t t_back, int have_old,
                  wrk_dpm_coef_t *c)
{
    double at = wrk_schedule_alpha(s, t), ap = wrk_schedule_alpha(s, prev_t);
    double lamb = lambda_of(at), lamb_next = lambda_of(ap);
    c->h = lamb_next - lamb;
    c->r = NAN;
    c->mult1 = sqrt((1 - ap) / (1 - at)) * exp(-c->h);
    c->mult2 = expm1(-2 * c->h) * sqrt(ap);
    c->mult_noise = sqrt(1 - ap) * sqrt(1 - exp(-2 * c->h));
    c->mult3 = c->mult4 = NAN;
    if (t_back >= 0) {
        double h_last = lamb - lambda_of(wrk_schedule_alpha(s, t_back));
        c->r = h_last / c->h;
        c->mult3 = 1 + 1 / (2 * c->r);
        c->mult4 = 1 / (2 * c->r);
    }
    /* if old_pred_original_sample is None or prev_timestep < 0: first order */
    c->second_order = have_old && prev_t >= 0 && t_back >= 0;
}

/* ---- steps (fp32 updates, coefficients rounded to fp32 first) ---- */

void wrk_pred_x0(const wrk_schedule_t *s, int64_t t, const float *x, const float *out, float *x0, int64_t n)
{
    wrk_pred_coef_t p = pred_coef(s, t);
    const float sa = (float)p.sqrt_a, sb = (float)p.sqrt_1ma;
    switch (s->prediction) {
    case WRK_PRED_EPSILON:    /* (sample - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5 */
        for (int64_t i = 0; i < n; i++) x0[i] = (x[i] - sb * out[i]) / sa;
        break;
    case WRK_PRED_SAMPLE:
        memcpy(x0, out, (size_t)n * sizeof *x0);
        break;
    default:                  /* alpha_prod_t**0.5 * sample - beta_prod_t**0.5 * model_output */
        for (int64_t i = 0; i < n; i++) x0[i] = sa * x[i] - sb * out[i];
    }
}

void wrk_ddim_step(const wrk_schedule_t *s, int64_t t, int64_t prev_t, const float *x, const float *out,
                   float *x_prev, float *x0, int64_t n)
{
    wrk_ddim_coef_t c;
    wrk_ddim_coef(s, t, prev_t, &c);
    wrk_pred_x0(s, t, x, out, x0, n);
    const float a = (float)c.a_t, b = (float)c.b_t;
    for (int64_t i = 0; i < n; i++) x_prev[i] = a * x[i] + b * x0[i];   /* a_t * sample + b_t * x0 */
}

void wrk_dpm_step(const wrk_schedule_t *s, int64_t t, int64_t prev_t, int64_t t_back, const float *x,
                  const float *out, const float *old_x0, const float *eps, float *x_prev, float *x0, int64_t n)
{
    wrk_dpm_coef_t c;
    wrk_dpm_coef(s, t, prev_t, t_back, old_x0 != NULL, &c);
    wrk_pred_x0(s, t, x, out, x0, n);
    const float m1 = (float)c.mult1, m2 = (float)c.mult2, mn = (float)c.mult_noise;
    if (!c.second_order) {    /* mult[0] * sample - mult[1] * x0 + mult_noise * noise */
        for (int64_t i = 0; i < n; i++) x_prev[i] = m1 * x[i] - m2 * x0[i] + mn * eps[i];
        return;
    }
    const float m3 = (float)c.mult3, m4 = (float)c.mult4;
    for (int64_t i = 0; i < n; i++) {
        float d = m3 * x0[i] - m4 * old_x0[i];            /* denoised_d */
        x_prev[i] = m1 * x[i] - m2 * d + mn * eps[i];
    }
}

/* ---- the run loop ---- */

typedef struct {
    float   *out;        /* (batch, n) model output */
    float   *x0, *old_x0, *xn, *eps;   /* (n) each */
    int64_t *ts;
} run_buf_t;

static void run_buf_free(run_buf_t *b)
{
    free(b->out); free(b->x0); free(b->old_x0); free(b->xn); free(b->eps); free(b->ts);
    memset(b, 0, sizeof *b);
}

static int run_buf_alloc(run_buf_t *b, int64_t n, int batch, int nts)
{
    size_t sz = (size_t)n * sizeof(float);
    b->out = malloc(sz * (size_t)batch);
    b->x0 = malloc(sz); b->old_x0 = malloc(sz); b->xn = malloc(sz); b->eps = malloc(sz);
    b->ts = malloc((size_t)nts * sizeof *b->ts);
    return b->out && b->x0 && b->old_x0 && b->xn && b->eps && b->ts ? 0 : -1;
}

/* One step i of the loop: model call, guidance, scheduler step. The new latent lands in b->xn. */
static int run_step(const wrk_schedule_t *s, const wrk_sampler_run_t *r, run_buf_t *b, int i, int cnt,
                    const float *x, int64_t n, int batch, char *err, size_t errlen)
{
    int64_t t = b->ts[i], prev_t = t - s->num_train_timesteps / r->steps;
    if (r->denoise(r->denoise_ctx, x, t, i, batch, b->out, err, errlen)) return -1;
    float *v = b->out;
    if (batch == 2) {   /* the pipeline's N in the dynamic formula is len(timesteps) */
        double w = wrk_cfg_scale(r->cfg_mode, r->guidance, cnt, i, t);
        wrk_cfg_combine(b->out, b->out + n, w, b->out, n);
    }
    if (r->kind == WRK_SAMPLER_DDIM) {
        wrk_ddim_step(s, t, prev_t, x, v, b->xn, b->x0, n);
        return 0;
    }
    if (r->noise(r->noise_ctx, i, b->eps, n, err, errlen)) return -1;
    wrk_dpm_step(s, t, prev_t, i > 0 ? b->ts[i - 1] : -1, x, v, i > 0 ? b->old_x0 : NULL, b->eps, b->xn, b->x0, n);
    return 0;
}

int wrk_sampler_run(const wrk_schedule_t *s, const wrk_sampler_run_t *r, float *x, int64_t n, char *err,
                    size_t errlen)
{
    run_buf_t b = {0};
    int rc = -1, batch = r->guidance > 1.0 ? 2 : 1;
    if ((unsigned)r->kind >= WRK_SAMPLER_COUNT || !r->denoise || (r->kind == WRK_SAMPLER_DPM && !r->noise) || n <= 0) {
        sm_err(err, errlen, "sampler: bad kind, missing callback or empty latent");
        return -1;
    }
    if (run_buf_alloc(&b, n, batch, r->steps + 1)) { sm_err(err, errlen, "sampler: out of memory"); goto out; }
    int cnt = wrk_schedule_timesteps(s, r->steps, b.ts, r->steps + 1, err, errlen);
    if (cnt < 0) goto out;
    for (int i = 0; i < cnt; i++) {
        int64_t prev_t = b.ts[i] - s->num_train_timesteps / r->steps;   /* as run_step */
        if (r->pin && r->pin(r->pin_ctx, wrk_schedule_alpha(s, b.ts[i]), x, n, err, errlen)) goto out;
        if (run_step(s, r, &b, i, cnt, x, n, batch, err, errlen)) goto out;
        memcpy(x, b.xn, (size_t)n * sizeof *x);
        if (r->pin && r->pin(r->pin_ctx, wrk_schedule_alpha(s, prev_t), x, n, err, errlen)) goto out;
        if (r->on_step && r->on_step(r->step_ctx, i, b.ts[i], x, b.x0, n)) {
            sm_err(err, errlen, "sampler: stopped by the step callback at step %d", i);
            goto out;
        }
        float *tmp = b.old_x0; b.old_x0 = b.x0; b.x0 = tmp;   /* x0 becomes old_x0 */
    }
    rc = 0;
out:
    run_buf_free(&b);
    return rc;
}
