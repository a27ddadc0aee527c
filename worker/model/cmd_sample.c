/* cmd_sample.c — `farm-worker sample`: a whole CogVideoX sampler run outside the farm, for parity
 * tests and for anyone checking a model install.
 *
 *   farm-worker sample --model DIR [--lora FILE] [--tp N] --inputs IN.safetensors --out OUT.safetensors
 *                      [--scheduler ddim|dpm] [--steps N] [--guidance W] [--dynamic-cfg]
 *                      [--dynamic-cfg-form diffusers|step] [--scheduler-config PATH]
 *                      [--noise auto|input|philox] [--seed S]
 *                      [--window W] [--mask none|bias|hard] [--mask-bias B] [--lora-alpha A] [--rgba]
 *                      [--threads N]
 *
 * IN holds `latents` (1, F, C, H, W) (the initial noise), `prompt_embeds` (1, L, Dt),
 * `negative_prompt_embeds` (1, L, Dt) (needed when W > 1) and, for DPM, optionally `step_noise`
 * (S, 1, F, C, H, W): the noise added at step i. Without step_noise (or with --noise philox), DPM
 * draws its noise from the counter-based generator (noise.h) keyed by (--seed, --window, step). The DiT is the denoiser with
 * the CFG batch [uncond, cond]; v = v_u + w_t (v_c − v_u) in fp32.
 * OUT gets `latents` (1, F, C, H, W) (final) and `trajectory` (N, 1, F, C, H, W) (after each step),
 * fp32. The scheduler config comes from --scheduler-config, else DIR/scheduler/. The sampler kind
 * defaults to the config's _class_name (CogVideoXDPMScheduler → dpm, otherwise ddim).
 * Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/commands.h"
#include "worker/model/cmd_common.h"
#include "worker/model/config.h"
#include "worker/model/dit.h"
#include "worker/model/noise.h"
#include "worker/model/safetensors.h"
#include "worker/model/sampler.h"
#include "worker/opts.h"

/* ---- options ---- */

typedef struct {
    const char   *model, *inputs, *out, *scheduler, *sched_cfg, *cfg_form, *noise;
    int           steps, dyn;
    double        guidance;
    wrk_dit_cli_t dit;
    unsigned long long seed, window;
} smp_cli_t;

/* Option table: help and parsing both come from it (worker/opts.h). */
#define O(f) offsetof(smp_cli_t, f), sizeof(((smp_cli_t *)0)->f)
static const wrk_opt_t SMP_OPTS[] = {
    { "model",            "DIR",  WRK_OPT_ARG,    O(model), 0, 0, "model root holding transformer/ (and scheduler/) (required)" },
    { "inputs",           "FILE", WRK_OPT_ARG,    O(inputs), 0, 0, "safetensors with latents, prompt_embeds, negative_prompt_embeds[, step_noise] (required)" },
    { "out",              "FILE", WRK_OPT_ARG,    O(out), 0, 0, "safetensors to write latents and trajectory to (required)" },
    { "scheduler",        "KIND", WRK_OPT_ARG,    O(scheduler), 0, 0, "ddim | dpm (default: from the scheduler config's _class_name)" },
    { "steps",            "N",    WRK_OPT_INT,    O(steps), 1, 100000, "inference steps, default 50" },
    { "guidance",         "W",    WRK_OPT_DOUBLE, O(guidance), 0, 0, "classifier-free guidance scale, default 6 (CFG iff W > 1)" },
    { "dynamic-cfg",      NULL,   WRK_OPT_FLAG,   O(dyn), 0, 1, "dynamic guidance schedule (MODEL.md 3.4)" },
    { "dynamic-cfg-form", "FORM", WRK_OPT_ARG,    O(cfg_form), 0, 0, "diffusers (timestep value, default) | step (SAT: step index, strongest first)" },
    { "scheduler-config", "PATH", WRK_OPT_ARG,    O(sched_cfg), 0, 0, "scheduler_config.json or its directory (default DIR/scheduler)" },
    { "noise",            "SRC",  WRK_OPT_ARG,    O(noise), 0, 0, "DPM noise: auto (step_noise if IN has it, default) | input | philox" },
    { "seed",             "S",    WRK_OPT_U64,    O(seed), 0, 0, "philox noise seed, default 0" },
    { "window",           "W",    WRK_OPT_U64,    O(window), 0, 0, "window index for that noise, default 0" },
    WRK_DIT_CLI_OPTS(smp_cli_t, dit, 1, 100000),
};
#define N_SMP_OPTS ((int)(sizeof SMP_OPTS / sizeof SMP_OPTS[0]))
static const char SMP_USAGE[] =
    "usage: farm-worker sample --model DIR --inputs IN.safetensors --out OUT.safetensors [OPTIONS]";

/* The sampler list after the options in --help. */
static void help_samplers(FILE *f)
{
    fprintf(f, "\nsamplers:\n");
    for (int i = 0; i < WRK_SAMPLER_COUNT; i++)
        fprintf(f, "  %-6s %s\n", wrk_sampler_name((wrk_sampler_t)i), wrk_sampler_help((wrk_sampler_t)i));
}

/* Checks that need several options or a name table. 0 ok, -1 (message printed). */
static int check_args(const smp_cli_t *c)
{
    if (!c->model || !c->inputs || !c->out) {
        fprintf(stderr, "sample: --model, --inputs and --out are required\n");
        return -1;
    }
    if (c->window > 0xffffffffull) { fprintf(stderr, "sample: --window must fit 32 bits\n"); return -1; }
    wrk_cfg_mode_t m;
    if (wrk_cfg_mode_from_name(c->cfg_form, &m) || m == WRK_CFG_CONSTANT) {
        fprintf(stderr, "sample: --dynamic-cfg-form must be diffusers or step\n");
        return -1;
    }
    if (strcmp(c->noise, "auto") && strcmp(c->noise, "input") && strcmp(c->noise, "philox")) {
        fprintf(stderr, "sample: --noise must be auto, input or philox\n");
        return -1;
    }
    return 0;
}

/* 0 ok, 1 help shown, -1 usage error (message printed). */
static int parse_args(int argc, char **argv, smp_cli_t *c)
{
    *c = (smp_cli_t){ .steps = 50, .guidance = 6.0, .cfg_form = "diffusers", .noise = "auto",
                      .dit = WRK_DIT_CLI_DEFAULT };
    int r = wrk_opts_command("sample", SMP_USAGE, SMP_OPTS, N_SMP_OPTS, c, argc, argv);
    if (r == 1) help_samplers(stdout);
    return r ? r : check_args(c);
}

/* ---- inputs ---- */

typedef struct {
    int     F, C, H, W, L, Dt;
    int64_t n;                /* F·C·H·W, one latent */
    float  *x;                /* (1, F, C, H, W) */
    float  *text;             /* (2, L, Dt): [negative, prompt] */
    float  *noise;            /* (S, 1, F, C, H, W) or NULL */
    int     noise_steps;      /* S */
} smp_in_t;

static void in_free(smp_in_t *in)
{
    free(in->x); free(in->text); free(in->noise);
    memset(in, 0, sizeof *in);
}

/* Reads name into a fresh buffer after checking its shape. */
static float *read_tensor(const wrk_st_t *st, const char *name, int nd, const int64_t *shape, char *err, size_t errlen)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) { snprintf(err, errlen, "%s: out of memory", name); return NULL; }
    if (wrk_st_read_f32(st, name, nd, shape, p, n, err, errlen)) { free(p); return NULL; }
    return p;
}

static int read_latents(const wrk_st_t *st, const char *path, smp_in_t *in, char *err, size_t errlen)
{
    const wrk_st_tensor_t *lt = wrk_st_find(st, "latents"), *pe = wrk_st_find(st, "prompt_embeds");
    if (!lt || lt->ndim != 5 || lt->shape[0] != 1 || lt->numel <= 0 || lt->numel > ((int64_t)1 << 31)) {
        snprintf(err, errlen, "%s: tensor latents missing or not (1, F, C, H, W)", path);
        return -1;
    }
    if (!pe || pe->ndim != 3 || pe->shape[0] != 1 || pe->numel <= 0 || pe->numel > ((int64_t)1 << 31)) {
        snprintf(err, errlen, "%s: tensor prompt_embeds missing or not (1, L, Dt)", path);
        return -1;
    }
    in->F = (int)lt->shape[1]; in->C = (int)lt->shape[2]; in->H = (int)lt->shape[3]; in->W = (int)lt->shape[4];
    in->L = (int)pe->shape[1]; in->Dt = (int)pe->shape[2];
    in->n = lt->numel;
    return (in->x = read_tensor(st, "latents", 5, lt->shape, err, errlen)) ? 0 : -1;
}

/* prompt_embeds, and negative_prompt_embeds (same shape) when CFG is on, as the batch [neg, pos]. */
static int read_text(const wrk_st_t *st, const char *path, smp_in_t *in, int cfg, char *err, size_t errlen)
{
    int64_t sh[3] = {1, in->L, in->Dt}, one = (int64_t)in->L * in->Dt;
    if (!(in->text = malloc((size_t)(2 * one) * sizeof(float)))) { snprintf(err, errlen, "out of memory"); return -1; }
    if (wrk_st_read_f32(st, "prompt_embeds", 3, sh, in->text + one, one, err, errlen)) return -1;
    if (!cfg) return 0;
    if (!wrk_st_find(st, "negative_prompt_embeds")) {
        snprintf(err, errlen, "%s: tensor negative_prompt_embeds missing (needed for guidance > 1)", path);
        return -1;
    }
    return wrk_st_read_f32(st, "negative_prompt_embeds", 3, sh, in->text, one, err, errlen);
}

static int read_noise(const wrk_st_t *st, const char *path, const char *src, smp_in_t *in, char *err, size_t errlen)
{
    const wrk_st_tensor_t *sn = wrk_st_find(st, "step_noise");
    if (!strcmp(src, "philox") || (!sn && !strcmp(src, "auto"))) return 0;
    if (!sn) { snprintf(err, errlen, "%s: tensor step_noise missing (--noise input)", path); return -1; }
    if (sn->ndim != 6 || sn->shape[0] < 1 || sn->shape[0] > 100000) {
        snprintf(err, errlen, "%s: tensor step_noise must be (S, 1, F, C, H, W)", path);
        return -1;
    }
    int64_t sh[6] = {sn->shape[0], 1, in->F, in->C, in->H, in->W};
    in->noise_steps = (int)sn->shape[0];
    return (in->noise = read_tensor(st, "step_noise", 6, sh, err, errlen)) ? 0 : -1;
}

static int read_inputs(const char *path, const char *noise_src, smp_in_t *in, int cfg, int dpm, char *err, size_t errlen)
{
    wrk_st_t *st = NULL;
    if (wrk_st_open(path, &st, err, errlen)) return -1;
    int rc = read_latents(st, path, in, err, errlen) || read_text(st, path, in, cfg, err, errlen) ||
             (dpm && read_noise(st, path, noise_src, in, err, errlen)) ? -1 : 0;
    wrk_st_close(&st);
    return rc;
}

/* ---- the denoiser and the noise over the DiT ---- */

typedef struct {
    wrk_dit_t       *m;
    const smp_in_t  *in;
    const smp_cli_t *cli;
    float           *xb;      /* (2, F, C, H, W): the latent twice for the CFG batch */
    float           *traj;    /* (N, 1, F, C, H, W) */
    int              cnt;     /* timesteps in the run */
    double           t0;
} smp_run_t;

/* batch 2: out = [v(x, negative), v(x, prompt)]; batch 1: out = v(x, prompt). */
static int dit_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out, char *err, size_t errlen)
{
    smp_run_t *r = ctx;
    const smp_in_t *in = r->in;
    int64_t ts[2] = {t, t};
    const float *text = batch == 2 ? in->text : in->text + (size_t)in->L * in->Dt;
    for (int b = 0; b < batch; b++) memcpy(r->xb + (size_t)b * in->n, x, (size_t)in->n * sizeof *x);
    return wrk_dit_forward(r->m, batch, in->F, in->H, in->W, r->xb, in->L, text, ts, out, err, errlen);
}

static int step_noise(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen)
{
    smp_run_t *r = ctx;
    if (!r->in->noise) {
        wrk_noise_normal(r->cli->seed, (uint32_t)r->cli->window, (uint32_t)step, 0, n, eps);
        return 0;
    }
    if (step >= r->in->noise_steps) {
        snprintf(err, errlen, "%s: step_noise has %d steps, step %d needs one more", r->cli->inputs,
                 r->in->noise_steps, step);
        return -1;
    }
    memcpy(eps, r->in->noise + (size_t)step * n, (size_t)n * sizeof *eps);
    return 0;
}

static int on_step(void *ctx, int step, int64_t t, const float *x, const float *x0, int64_t n)
{
    smp_run_t *r = ctx;
    memcpy(r->traj + (size_t)step * n, x, (size_t)n * sizeof *x);
    fprintf(stderr, "sample: step %d/%d t=%lld (%.2f s)\n", step + 1, r->cnt, (long long)t, wrk_cmd_now_s() - r->t0);
    return 0;
}

/* ---- setup and output ---- */

static int load_schedule(const smp_cli_t *c, wrk_schedule_t *s, wrk_sampler_t *kind, char *err, size_t errlen)
{
    wrk_sched_config_t cfg;
    if (wrk_sched_config_load(c->sched_cfg ? c->sched_cfg : c->model, &cfg, err, errlen)) return -1;
    if (c->scheduler) {
        if (wrk_sampler_from_name(c->scheduler, kind)) { snprintf(err, errlen, "--scheduler must be ddim or dpm"); return -1; }
    } else {
        *kind = strcmp(cfg.class_name, "CogVideoXDPMScheduler") == 0 ? WRK_SAMPLER_DPM : WRK_SAMPLER_DDIM;
    }
    return wrk_schedule_init(s, &cfg, err, errlen);
}

static int load_model(const smp_cli_t *c, const smp_in_t *in, wrk_dit_t **m, char *err, size_t errlen)
{
    wrk_dit_opts_t o;
    if (wrk_dit_cli_opts(&c->dit, &o, err, errlen) || wrk_dit_load(c->model, &o, m, err, errlen)) return -1;
    const wrk_dit_info_t *i = wrk_dit_info(*m);
    if (in->C != i->in_channels || i->out_channels != i->in_channels || in->Dt != i->text_dim) {
        snprintf(err, errlen, "%s: latents have %d channels and prompt width %d; the model takes %d -> %d and %d",
                 c->inputs, in->C, in->Dt, i->in_channels, i->out_channels, i->text_dim);
        return -1;
    }
    return 0;
}

static int write_out(const char *path, const smp_in_t *in, const float *x, const float *traj, int cnt,
                     char *err, size_t errlen)
{
    wrk_st_wtensor_t t[2] = {
        { .name = "latents", .dtype = WRK_ST_F32, .ndim = 5, .shape = {1, in->F, in->C, in->H, in->W}, .data = x },
        { .name = "trajectory", .dtype = WRK_ST_F32, .ndim = 6, .shape = {cnt, 1, in->F, in->C, in->H, in->W}, .data = traj },
    };
    return wrk_st_write(path, 2, t, err, errlen);
}

static int setup_run(const smp_cli_t *c, smp_run_t *r, wrk_sampler_run_t *sr, wrk_sampler_t kind, char *err, size_t errlen)
{
    r->xb = malloc((size_t)(2 * r->in->n) * sizeof(float));
    r->traj = malloc((size_t)(r->cnt > 0 ? r->cnt : 1) * (size_t)r->in->n * sizeof(float));
    if (!r->xb || !r->traj) { snprintf(err, errlen, "out of memory"); return -1; }
    *sr = (wrk_sampler_run_t){ .kind = kind, .steps = c->steps, .guidance = c->guidance, .cfg_mode = WRK_CFG_CONSTANT,
                               .denoise = dit_denoise, .denoise_ctx = r, .noise = step_noise, .noise_ctx = r,
                               .on_step = on_step, .step_ctx = r };
    if (c->dyn) wrk_cfg_mode_from_name(c->cfg_form, &sr->cfg_mode);   /* checked by parse_args */
    return 0;
}

/* Number of timesteps the run will take (can be steps + 1, see wrk_schedule_timesteps). */
static int count_steps(const wrk_schedule_t *s, int steps, char *err, size_t errlen)
{
    int64_t *t = malloc((size_t)(steps + 1) * sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    int cnt = wrk_schedule_timesteps(s, steps, t, steps + 1, err, errlen);
    free(t);
    return cnt;
}

int wrk_cmd_sample(int argc, char **argv)
{
    smp_cli_t c;
    smp_in_t in = {0};
    smp_run_t r = {0};
    wrk_schedule_t s = {0};
    wrk_sampler_run_t sr;
    wrk_sampler_t kind;
    char err[1024] = "";
    int pr = parse_args(argc, argv, &c), rc = 1;
    if (pr != 0) return pr > 0 ? 0 : 2;
    r.in = &in; r.cli = &c;
    if (load_schedule(&c, &s, &kind, err, sizeof err) || (r.cnt = count_steps(&s, c.steps, err, sizeof err)) < 0 ||
        read_inputs(c.inputs, c.noise, &in, c.guidance > 1.0, kind == WRK_SAMPLER_DPM, err, sizeof err) ||
        load_model(&c, &in, &r.m, err, sizeof err) || setup_run(&c, &r, &sr, kind, err, sizeof err))
        goto out;
    fprintf(stderr, "sample: %s, %d steps, guidance %g%s%s, latents (1, %d, %d, %d, %d), text %d x %d, noise %s\n",
            wrk_sampler_name(kind), r.cnt, c.guidance, c.dyn ? " dynamic " : "", c.dyn ? wrk_cfg_mode_name(sr.cfg_mode) : "",
            in.F, in.C, in.H, in.W, in.L, in.Dt, kind == WRK_SAMPLER_DDIM ? "none" : in.noise ? "step_noise" : "philox");
    r.t0 = wrk_cmd_now_s();
    if (wrk_sampler_run(&s, &sr, in.x, in.n, err, sizeof err) || write_out(c.out, &in, in.x, r.traj, r.cnt, err, sizeof err))
        goto out;
    fprintf(stderr, "sample: done in %.2f s -> %s\n", wrk_cmd_now_s() - r.t0, c.out);
    rc = 0;
out:
    if (rc) fprintf(stderr, "sample: %s\n", err);
    in_free(&in);
    free(r.xb); free(r.traj);
    wrk_schedule_free(&s);
    wrk_dit_destroy(&r.m);
    return rc;
}
