/* sampler.h — CogVideoX samplers (diffusers v0.32.0 CogVideoXDDIMScheduler and CogVideoXDPMScheduler,
 * MODEL.md §3) as pure functions over a denoise callback, with classifier-free guidance and the
 * dynamic CFG schedule.
 *
 * Numerics follow the reference exactly where it matters for parity: the schedule is fp64 (torch's
 * linspace formula, sequential cumprod, SNR shift, zero-terminal-SNR rescale), the per-step
 * coefficients are fp64 and computed with the same IEEE operations (so ᾱ_t = 0 on the first step
 * gives λ = −∞, h = +∞; the second DPM step gets r = ∞ and D = x0; the last step returns x0 exactly),
 * then each coefficient is rounded to fp32 and the latent update is done in fp32 in the reference's
 * operation order. Dynamic CFG is computed in double with libm pow/cos (bit-equal to Python).
 *
 * Measured: the fp64 schedule equals torch 2.4's to within 1e-15 relative (bit-equal except where
 * torch's MKL sqrt is not correctly rounded), and given the same guided model outputs every DDIM
 * and DPM step reproduces diffusers' latents bit for bit (tests/unit/test_sampler*.c).
 * Scope: only the CogVideoX configs' scaled_linear betas are bit-faithful; "linear" and
 * "squaredcos_cap_v2" (fp32 in torch) are computed in fp64 here. `clip_sample` is ignored, as in the
 * CogVideoX step functions.
 *
 * Not here: the model (the denoise callback wraps it), noise generation (noise.h; the DPM sampler
 * asks a callback for the noise of each step), latents in bf16 between steps.
 */
#ifndef WORKER_MODEL_SAMPLER_H
#define WORKER_MODEL_SAMPLER_H
#include <stddef.h>
#include <stdint.h>

#include "worker/model/config.h"

/* ---- sampler and CFG kinds (tables: names, help) ---- */

typedef enum { WRK_SAMPLER_DDIM, WRK_SAMPLER_DPM, WRK_SAMPLER_COUNT } wrk_sampler_t;

const char *wrk_sampler_name(wrk_sampler_t s);                     /* "ddim", "dpm" */
const char *wrk_sampler_help(wrk_sampler_t s);
int         wrk_sampler_from_name(const char *name, wrk_sampler_t *out);   /* 0 / -1 */

typedef enum {
    WRK_CFG_CONSTANT,        /* w every step */
    WRK_CFG_DYNAMIC,         /* diffusers: 1 + w(1 − cos(π((N − t)/N)^5))/2, t = timestep value */
    WRK_CFG_DYNAMIC_STEP,    /* SAT DynamicCFG: 1 + w(1 − cos(π(k/N)^5))/2 with the step_index SAT's
                                samplers pass, k = N − i for loop step i = 0..N−1 (strong first) */
    WRK_CFG_COUNT
} wrk_cfg_mode_t;

const char *wrk_cfg_mode_name(wrk_cfg_mode_t m);                   /* "constant", "diffusers", "step" */
int         wrk_cfg_mode_from_name(const char *name, wrk_cfg_mode_t *out);
/* Guidance scale of step `step` (0-based) of n_steps at timestep t. */
double      wrk_cfg_scale(wrk_cfg_mode_t m, double w, int n_steps, int step, int64_t t);
/* v = v_u + w(v_c − v_u) in fp32 (w rounded to fp32 first, as torch does). out may alias v_u or v_c. */
void        wrk_cfg_combine(const float *v_u, const float *v_c, double w, float *out, int64_t n);

/* ---- the fp64 noise schedule ---- */

typedef struct {
    int              num_train_timesteps;
    double          *alphas_cumprod;       /* [num_train_timesteps] */
    double           final_alpha_cumprod;  /* ᾱ for prev_t < 0 */
    wrk_prediction_t prediction;
    wrk_spacing_t    spacing;
    int              steps_offset;
} wrk_schedule_t;

int    wrk_schedule_init(wrk_schedule_t *s, const wrk_sched_config_t *c, char *err, size_t errlen);
void   wrk_schedule_free(wrk_schedule_t *s);
double wrk_schedule_alpha(const wrk_schedule_t *s, int64_t t);     /* ᾱ_t; final_alpha_cumprod if t < 0 */
/* The timesteps of an n-step run, as set_timesteps(n) makes them (the count can differ from n by
 * one for trailing spacing when n does not divide num_train_timesteps, exactly as numpy's arange).
 * Returns the count written to t (at most cap), or -1 with err. */
int    wrk_schedule_timesteps(const wrk_schedule_t *s, int n, int64_t *t, int cap, char *err, size_t errlen);

/* ---- single steps (exposed for tests; the run loop below uses them) ---- */

typedef struct { double sqrt_a, sqrt_1ma; } wrk_pred_coef_t;       /* x0 = f(x_t, model output) */
typedef struct { double a_t, b_t; } wrk_ddim_coef_t;
typedef struct {
    double h, r;                      /* log-SNR gap and ratio (r = NaN when no back step) */
    double mult1, mult2, mult3, mult4, mult_noise;
    int    second_order;              /* 1: D = mult3·x0 − mult4·old_x0 is used */
} wrk_dpm_coef_t;

void wrk_ddim_coef(const wrk_schedule_t *s, int64_t t, int64_t prev_t, wrk_ddim_coef_t *c);
/* t_back < 0: no previous step. have_old: an x0 of the previous step exists. */
void wrk_dpm_coef(const wrk_schedule_t *s, int64_t t, int64_t prev_t, int64_t t_back, int have_old,
                  wrk_dpm_coef_t *c);

/* x0 from the model output at timestep t (prediction type of the schedule), fp32. */
void wrk_pred_x0(const wrk_schedule_t *s, int64_t t, const float *x, const float *out, float *x0, int64_t n);
/* x_prev (n) and x0 (n) from x (n) and the (guided) model output (n). */
void wrk_ddim_step(const wrk_schedule_t *s, int64_t t, int64_t prev_t, const float *x, const float *out,
                   float *x_prev, float *x0, int64_t n);
/* old_x0 may be NULL (first step); eps (n) is the noise added at this step. */
void wrk_dpm_step(const wrk_schedule_t *s, int64_t t, int64_t prev_t, int64_t t_back, const float *x,
                  const float *out, const float *old_x0, const float *eps, float *x_prev, float *x0, int64_t n);

/* ---- a whole run ---- */

/* The model: for latent x (n floats) at timestep t, step index `step`, fill out with batch·n floats:
 * batch 2 = [unconditional, conditional] (CFG), batch 1 = conditional only. 0 / -1 with err. */
typedef int (*wrk_denoise_fn)(void *ctx, const float *x, int64_t t, int step, int batch, float *out,
                              char *err, size_t errlen);
/* The noise added at DPM step `step` (n floats). 0 / -1 with err. */
typedef int (*wrk_noise_fn)(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen);
/* Called after each step with the new latent and that step's x0 prediction. Nonzero aborts. */
typedef int (*wrk_step_fn)(void *ctx, int step, int64_t t, const float *x_prev, const float *x0, int64_t n);

/* Optional conditioning hook (chain_pin.h): rewrites part of the latent for noise level alpha_bar (ᾱ of
 * the latent's timestep). Called on x before each step (ᾱ_t) and on the new latent after it (ᾱ_prev_t,
 * the final ᾱ after the last step). 0 / -1 with err. */
typedef int (*wrk_pin_fn)(void *ctx, double alpha_bar, float *x, int64_t n, char *err, size_t errlen);

typedef struct {
    wrk_sampler_t  kind;
    int            steps;              /* requested inference steps N */
    double         guidance;           /* w; CFG (batch 2) iff w > 1, as the pipeline decides */
    wrk_cfg_mode_t cfg_mode;
    wrk_denoise_fn denoise;  void *denoise_ctx;
    wrk_noise_fn   noise;    void *noise_ctx;     /* required for DPM */
    wrk_step_fn    on_step;  void *step_ctx;      /* optional */
    wrk_pin_fn     pin;      void *pin_ctx;       /* optional (chain strategy) */
} wrk_sampler_run_t;

/* Runs the sampler from the initial latent x (n floats), leaving the final latent in x.
 * 0 / -1 with err (callback errors are passed through). */
int wrk_sampler_run(const wrk_schedule_t *s, const wrk_sampler_run_t *r, float *x, int64_t n, char *err,
                    size_t errlen);

#endif
