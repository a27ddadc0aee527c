/* pipeline_render.c — one window through the loaded pipeline (see pipeline.h): text → sampler over
 * the DiT → VAE decode of RGB and alpha → premultiplied float RGBA. Also the float → uint16 step. */
#include "worker/model/pipeline.h"
#include "worker/model/pipeline_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/k.h"
#include "proto/proto.h"
#include "worker/model/noise.h"

void wrk_pipe_req_default(wrk_pipe_req_t *r)
{
    *r = (wrk_pipe_req_t){ .frames = 49, .width = 720, .height = 480, .steps = 50, .guidance = 6.0,
                           .cfg_mode = WRK_CFG_DYNAMIC };
}

typedef struct {
    wrk_pipe_t           *p;
    const wrk_pipe_req_t *r;
    int      F, h, w, nF;   /* latent frames per half, latent size, frames in the latent (2F RGBA) */
    int64_t  n;             /* nF·C·h·w: one latent */
    int      T, cnt;        /* frames the VAE returns, sampler timesteps */
    int      cfg;           /* 1: CFG batch [uncond, cond] */
    int      tiled;         /* VAE spatial tiling for this window (see check_size) */
    float   *x;             /* (1, nF, C, h, w) */
    float   *xb;            /* (2, nF, C, h, w): the CFG batch */
    float   *text;          /* (2, L, Dt): [negative, prompt] */
    int      cancelled;
} pipe_run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_free(pipe_run_t *u)
{
    free(u->x); free(u->xb); free(u->text);
}

static int fail(int *cls, int c, char *err, size_t errlen, const char *what)
{
    *cls = c;
    if (what) snprintf(err, errlen, "%s", what);
    return WRK_PIPE_FAILED;
}

/* ---- the request against the model (class "window") ---- */

static int check_size(pipe_run_t *u, char *err, size_t errlen)
{
    const wrk_pipe_req_t *r = u->r;
    int q = u->p->vae_scale * u->p->patch, T, H, W;
    if (r->width < q || r->height < q || r->width % q || r->height % q || r->width > 16384 || r->height > 16384) {
        snprintf(err, errlen, "size %dx%d: width and height must be positive multiples of %d for this model", r->width,
                 r->height, q);
        return -1;
    }
    u->h = r->height / u->p->vae_scale;
    u->w = r->width / u->p->vae_scale;
    /* Tiling only saves memory. Where the model's tile geometry would not give back the requested
     * size (tiles larger than half the frame, as in a model trained at a tiny size), decode whole. */
    for (u->tiled = u->p->o.tiled; u->tiled >= 0; u->tiled--)
        if (!wrk_vae_out_dims(u->p->vae, u->F, u->h, u->w, u->tiled, &T, &H, &W) && H == r->height && W == r->width)
            return 0;
    snprintf(err, errlen, "size %dx%d: the VAE does not decode %dx%d latents to that size", r->width, r->height,
             u->h, u->w);
    return -1;
}

static int check_req(pipe_run_t *u, char *err, size_t errlen)
{
    const wrk_pipe_req_t *r = u->r;
    if (r->frames < 1 || r->frames > 100000 || r->steps < 1 || r->steps > 1000 || !isfinite(r->guidance) ||
        r->guidance < 0 || r->guidance > 1000 || !r->prompt) {
        snprintf(err, errlen, "bad request: frames %d, steps %d, guidance %g", r->frames, r->steps, r->guidance);
        return -1;
    }
    u->F = (r->frames - 1) / 4 + 1;
    u->T = wrk_vae_frames(u->p->vae, u->F);
    if (u->T < r->frames) {
        snprintf(err, errlen, "%d frames: %d latent frames decode to %d; a dit window must have 1+4k frames",
                 r->frames, u->F, u->T);
        return -1;
    }
    if (check_size(u, err, errlen)) return -1;
    u->nF = u->p->rgba ? 2 * u->F : u->F;
    u->n = (int64_t)u->nF * u->p->C * u->h * u->w;
    u->cfg = r->guidance > 1.0;
    return 0;
}

/* ---- initial latent ---- */

static int init_latent(pipe_run_t *u, char *err, size_t errlen)
{
    const wrk_pipe_noise_t *nz = u->r->noise;
    int64_t half = (int64_t)u->F * u->p->C * u->h * u->w;
    if (!nz) {
        wrk_noise_initial(u->r->seed, u->r->window, u->p->rgba, u->F, u->p->C, u->h, u->w, u->x);
        return 0;
    }
    if ((nz->nF != u->nF && nz->nF != u->F) || nz->C != u->p->C || nz->h != u->h || nz->w != u->w) {
        snprintf(err, errlen, "noise file: latents (1, %d, %d, %d, %d) do not fit this window's (1, %d, %d, %d, %d)",
                 nz->nF, nz->C, nz->h, nz->w, u->nF, u->p->C, u->h, u->w);
        return -1;
    }
    memcpy(u->x, nz->init, (size_t)(nz->nF == u->nF ? u->n : half) * sizeof *u->x);
    if (nz->nF != u->nF) memcpy(u->x + half, u->x, (size_t)half * sizeof *u->x);   /* alpha = RGB noise */
    return 0;
}

/* ---- text ---- */

/* text (2, L, Dt) = T5([negative, prompt]); only the prompt row without CFG. */
static int encode_text(pipe_run_t *u, int *cls, char *err, size_t errlen)
{
    wrk_pipe_t *p = u->p;
    int L = p->text_len, Dt = wrk_t5_config(p->t5)->d_model;
    int32_t *ids = malloc((size_t)2 * L * sizeof *ids);
    u->text = malloc((size_t)2 * L * Dt * sizeof *u->text);
    if (!ids || !u->text) { free(ids); return fail(cls, PROTO_FAIL_RESOURCE, err, errlen, "out of memory for the text"); }
    int rc = -1;
    if (wrk_tok_encode(p->tok, u->r->negative ? u->r->negative : "", L, ids, err, errlen) < 0 ||
        wrk_tok_encode(p->tok, u->r->prompt, L, ids + L, err, errlen) < 0) {
        *cls = PROTO_FAIL_WINDOW;
        goto out;
    }
    int first = u->cfg ? 0 : 1;
    if (wrk_t5_encode(p->t5, ids + (size_t)first * L, 2 - first, L, u->text + (size_t)first * L * Dt, err, errlen)) {
        *cls = PROTO_FAIL_MODEL;
        goto out;
    }
    rc = 0;
out:
    free(ids);
    return rc;
}

/* ---- sampler callbacks ---- */

static int pipe_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out, char *err, size_t errlen)
{
    pipe_run_t *u = ctx;
    int L = u->p->text_len, Dt = wrk_t5_config(u->p->t5)->d_model;
    int64_t ts[2] = { t, t };
    const float *text = batch == 2 ? u->text : u->text + (size_t)L * Dt;
    for (int b = 0; b < batch; b++) memcpy(u->xb + (size_t)b * u->n, x, (size_t)u->n * sizeof *x);
    u->p->stats.dit_calls++;
    int Fa = 0;                       /* anchor strategy: also attend to the anchor at this step's level */
    const float *xa = u->r->strategy ? wrk_strategy_anchor(u->r->strategy, t, batch, &Fa) : NULL;
    wrk_dit_anchor_t an = { Fa, xa, NULL };
    return wrk_dit_forward_anchor(u->p->dit, batch, u->nF, u->h, u->w, u->xb, xa ? &an : NULL, L, text, ts, out,
                                  err, errlen);
}

static int pipe_noise(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen)
{
    pipe_run_t *u = ctx;
    const wrk_pipe_noise_t *nz = u->r->noise;
    if (!nz || !nz->step_noise) {
        wrk_noise_normal(u->r->seed, u->r->window, (uint32_t)step, 0, n, eps);
        return 0;
    }
    if (step >= nz->steps || nz->nF != u->nF) {
        snprintf(err, errlen, "noise file: step_noise has %d steps of %d frames, step %d of %d frames needed",
                 nz->steps, nz->nF, step, u->nF);
        return -1;
    }
    memcpy(eps, nz->step_noise + (size_t)step * n, (size_t)n * sizeof *eps);
    return 0;
}

static int pipe_on_step(void *ctx, int step, int64_t t, const float *x, const float *x0, int64_t n)
{
    pipe_run_t *u = ctx;
    u->p->stats.steps = step + 1;
    if (u->r->progress) u->r->progress(u->r->ctx, step + 1, u->cnt + 1);
    if (u->r->cancel && atomic_load(u->r->cancel)) { u->cancelled = 1; return 1; }
    return 0;
}

static int count_steps(const wrk_pipe_t *p, int steps, char *err, size_t errlen)
{
    int64_t *t = malloc((size_t)(steps + 1) * sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    int cnt = wrk_schedule_timesteps(&p->sched, steps, t, steps + 1, err, errlen);
    free(t);
    return cnt;
}

static int sample(pipe_run_t *u, int *cls, char *err, size_t errlen)
{
    wrk_sampler_run_t sr = { .kind = u->p->kind, .steps = u->r->steps, .guidance = u->r->guidance,
                             .cfg_mode = u->r->cfg_mode, .denoise = pipe_denoise, .denoise_ctx = u,
                             .noise = pipe_noise, .noise_ctx = u, .on_step = pipe_on_step, .step_ctx = u };
    if (u->r->strategy) { sr.pin = wrk_strategy_pin_fn(u->r->strategy); sr.pin_ctx = &u->r->strategy->pin; }
    if (wrk_sampler_run(&u->p->sched, &sr, u->x, u->n, err, errlen)) {
        if (u->cancelled) return WRK_PIPE_CANCELLED;   /* out of (device) memory: retry elsewhere */
        return fail(cls, wrk_dit_oom(u->p->dit) ? PROTO_FAIL_RESOURCE : PROTO_FAIL_MODEL, err, errlen, NULL);
    }
    return 0;
}

/* ---- decoding ---- */

/* Decodes latent half `lat` (1, F, C, h, w) into dst (T, H, W, 3) mapped to [0, 1]. */
static int decode_half(pipe_run_t *u, const float *lat, float *dst, char *err, size_t errlen)
{
    if (wrk_vae_decode(u->p->vae, lat, 1, u->F, u->h, u->w, u->tiled, dst, err, errlen)) return -1;
    wrk_vae_postprocess(dst, (long)u->T * u->r->height * u->r->width * 3);
    return 0;
}

/* out (n, H, W, 4) = [rgb · alpha, alpha] with alpha = max over the alpha video's channels. */
static void compose(const float *rgb, const float *a3, int64_t pixels, float *out)
{
    for (int64_t i = 0; i < pixels; i++) {
        float a = a3 ? fmaxf(fmaxf(a3[3 * i], a3[3 * i + 1]), a3[3 * i + 2]) : 1.0f;
        for (int c = 0; c < 3; c++) out[4 * i + c] = rgb[3 * i + c] * a;
        out[4 * i + 3] = a;
    }
}

static int decode(pipe_run_t *u, wrk_pipe_frames_t *out, int *cls, char *err, size_t errlen)
{
    int64_t px = (int64_t)u->r->height * u->r->width, full = (int64_t)u->T * px * 3;
    int64_t half = (int64_t)u->F * u->p->C * u->h * u->w;
    float *rgb = malloc((size_t)full * sizeof *rgb), *a3 = u->p->rgba ? malloc((size_t)full * sizeof *a3) : NULL;
    out->rgba = malloc((size_t)u->r->frames * px * 4 * sizeof *out->rgba);
    int rc = WRK_PIPE_FAILED;
    if (!rgb || (u->p->rgba && !a3) || !out->rgba) { fail(cls, PROTO_FAIL_RESOURCE, err, errlen, "out of memory for the frames"); goto out; }
    if (decode_half(u, u->x, rgb, err, errlen)) { *cls = PROTO_FAIL_MODEL; goto out; }
    if (u->r->cancel && atomic_load(u->r->cancel)) { rc = WRK_PIPE_CANCELLED; goto out; }
    if (a3 && decode_half(u, u->x + half, a3, err, errlen)) { *cls = PROTO_FAIL_MODEL; goto out; }
    compose(rgb, a3, (int64_t)u->r->frames * px, out->rgba);   /* the first n of T frames */
    out->n = u->r->frames; out->h = u->r->height; out->w = u->r->width;
    rc = WRK_PIPE_OK;
out:
    free(rgb); free(a3);
    if (rc != WRK_PIPE_OK) wrk_pipe_frames_free(out);
    return rc;
}

/* ---- public ---- */

static int setup(pipe_run_t *u, int *cls, char *err, size_t errlen)
{
    if (check_req(u, err, errlen)) return fail(cls, PROTO_FAIL_WINDOW, err, errlen, NULL);
    if ((u->cnt = count_steps(u->p, u->r->steps, err, errlen)) < 0) return fail(cls, PROTO_FAIL_WINDOW, err, errlen, NULL);
    u->x = malloc((size_t)u->n * sizeof *u->x);
    u->xb = malloc((size_t)(2 * u->n) * sizeof *u->xb);
    if (!u->x || !u->xb) return fail(cls, PROTO_FAIL_RESOURCE, err, errlen, "out of memory for the latents");
    if (init_latent(u, err, errlen)) return fail(cls, PROTO_FAIL_WINDOW, err, errlen, NULL);
    if (u->r->strategy && wrk_strategy_bind(u->r->strategy, &u->p->sched, u->p->rgba ? 2 : 1, u->F, u->p->C, u->h,
                                            u->w, u->x, err, errlen))
        return fail(cls, PROTO_FAIL_WINDOW, err, errlen, NULL);
    return encode_text(u, cls, err, errlen);
}

int wrk_pipe_render(wrk_pipe_t *p, const wrk_pipe_req_t *r, wrk_pipe_frames_t *out, int *fail_class, char *err,
                    size_t errlen)
{
    pipe_run_t u = { .p = p, .r = r };
    int rc;
    double t0 = now_s(), t1 = t0, t2 = t0;
    memset(out, 0, sizeof *out);
    memset(&p->stats, 0, sizeof p->stats);
    *fail_class = PROTO_FAIL_MODEL;
    if (p->o.threads > 0) k_set_threads(p->o.threads);
    if ((rc = setup(&u, fail_class, err, errlen)) == 0 && (t1 = now_s(), rc = sample(&u, fail_class, err, errlen)) == 0) {
        t2 = now_s();
        if (r->cancel && atomic_load(r->cancel)) rc = WRK_PIPE_CANCELLED;
        else rc = decode(&u, out, fail_class, err, errlen);
        if (rc == WRK_PIPE_OK && r->strategy &&
            wrk_strategy_hand_on(r->strategy, u.x, &out->cond, &out->cond_len, err, errlen)) {
            *fail_class = PROTO_FAIL_RESOURCE;
            wrk_pipe_frames_free(out);
            rc = WRK_PIPE_FAILED;
        }
    }
    double t3 = now_s();
    p->stats.total_s = t3 - t0;
    p->stats.text_s = t1 - t0;
    if (t2 > t1) { p->stats.denoise_s = t2 - t1; p->stats.decode_s = t3 - t2; }
    if (rc == WRK_PIPE_OK && r->progress) r->progress(r->ctx, u.cnt + 1, u.cnt + 1);
    run_free(&u);
    return rc;
}

const wrk_pipe_stats_t *wrk_pipe_stats(const wrk_pipe_t *p) { return &p->stats; }

void wrk_pipe_frames_free(wrk_pipe_frames_t *f)
{
    free(f->rgba);
    free(f->cond);
    memset(f, 0, sizeof *f);
}

static uint16_t to_u16(float x)
{
    if (!(x > 0.0f)) return 0;   /* NaN too */
    if (x >= 1.0f) return 65535;
    return (uint16_t)lrintf(x * 65535.0f);
}

int wrk_pipe_to_proto(const wrk_pipe_frames_t *f, int first, proto_frames_t *out, char *err, size_t errlen)
{
    if (proto_frames_alloc(out, f->w, f->h, f->n, first, err, errlen)) return -1;
    if (f->cond_len) {   /* the conditioning blob travels with the frames (artifact trailer) */
        if (!(out->cond = malloc(f->cond_len))) {
            proto_frames_free(out);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(out->cond, f->cond, f->cond_len);
        out->cond_len = f->cond_len;
    }
    int64_t m = (int64_t)f->n * f->h * f->w * 4;
    for (int64_t i = 0; i < m; i += 4) {
        uint16_t a = to_u16(f->rgba[i + 3]);
        for (int c = 0; c < 3; c++) {
            uint16_t v = to_u16(f->rgba[i + c]);
            out->px[i + c] = v > a ? a : v;   /* premultiplied: colour never exceeds alpha */
        }
        out->px[i + 3] = a;
    }
    return 0;
}
