/* dit_device_cases.h — what the DiT device tests share (test_dit_device.c: the device-memory path on
 * the CPU with guarded memory; test_dit_cuda.c: the CUDA backend against the CPU engine): the golden
 * cases of tests/golden/dit (model, LoRA, inputs), one forward on given options, a short sampler run
 * over the DiT with CFG, and error measures. Header-only (static functions), included by one test
 * program each; run from the repository root.
 */
#ifndef TESTS_UNIT_DIT_DEVICE_CASES_H
#define TESTS_UNIT_DIT_DEVICE_CASES_H
#include "tests/test.h"
#include "proto/json.h"
#include "worker/model/config.h"
#include "worker/model/dit.h"
#include "worker/model/noise.h"
#include "worker/model/safetensors.h"
#include "worker/model/sampler.h"

#include <stdint.h>

#define DC_GOLD "tests/golden/dit"

/* The tiny parity configurations of test_dit_parity (2B sin-cos, 5B RoPE, TransPixar RGBA with LoRA,
 * 1 / 2 / 13 latent frames, batch 1 and 2). */
static const char *const DC_CASES[] = {
    "2b_sincos", "2b_sincos_f13", "5b_rope", "5b_rope_b2", "5b_transpixar", "5b_transpixar_f1",
    "5b_transpixar_f13",
};
#define DC_NCASES ((int)(sizeof DC_CASES / sizeof *DC_CASES))

typedef struct {
    char name[64], model[512], lora[512];
    int B, F, C, H, W, L, Dt;
    float *x, *text;               /* (B, F, C, H, W), (B, L, Dt) */
    int64_t *t;                    /* (B) */
} dc_case_t;

static char *dc_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    fclose(f);
    if (s) { s[n] = 0; *len = (size_t)n; }
    return s;
}

static float *dc_read(const wrk_st_t *st, const char *name)
{
    const wrk_st_tensor_t *t = wrk_st_find(st, name);
    char err[512];
    float *p = t ? malloc((size_t)t->numel * sizeof(float)) : NULL;
    if (p && wrk_st_read_f32(st, name, 0, NULL, p, t->numel, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        free(p);
        p = NULL;
    }
    return p;
}

static void dc_free(dc_case_t *c)
{
    free(c->x); free(c->text); free(c->t);
    memset(c, 0, sizeof *c);
}

/* Reads case.json (model, lora) and inputs.safetensors of golden case `name`. 0 / -1. */
static int dc_load(const char *name, dc_case_t *c)
{
    char path[600], err[512];
    size_t len = 0;
    proto_json_t *j = NULL;
    wrk_st_t *in = NULL;
    const char *model = ".", *lora = NULL;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(path, sizeof path, DC_GOLD "/%s/case.json", name);
    char *txt = dc_slurp(path, &len);
    int rc = -1;
    if (!txt || proto_json_parse(txt, len, NULL, &j, NULL, err, sizeof err) != 0) goto out;
    proto_json_get_str(j, "model", &model);
    proto_json_get_str(j, "lora", &lora);
    snprintf(c->model, sizeof c->model, DC_GOLD "/%s/%s", name, model);
    if (lora) snprintf(c->lora, sizeof c->lora, DC_GOLD "/%s/%s", name, lora);
    snprintf(path, sizeof path, DC_GOLD "/%s/inputs.safetensors", name);
    if (wrk_st_open(path, &in, err, sizeof err) != 0) goto out;
    const wrk_st_tensor_t *hs = wrk_st_find(in, "hidden_states"), *eh = wrk_st_find(in, "encoder_hidden_states");
    if (!hs || !eh || hs->ndim != 5 || eh->ndim != 3) goto out;
    c->B = (int)hs->shape[0]; c->F = (int)hs->shape[1]; c->C = (int)hs->shape[2];
    c->H = (int)hs->shape[3]; c->W = (int)hs->shape[4]; c->L = (int)eh->shape[1]; c->Dt = (int)eh->shape[2];
    c->x = dc_read(in, "hidden_states");
    c->text = dc_read(in, "encoder_hidden_states");
    c->t = malloc((size_t)c->B * sizeof(int64_t));
    if (c->x && c->text && c->t && wrk_st_read_i64(in, "timestep", 0, NULL, c->t, c->B, err, sizeof err) == 0) rc = 0;
out:
    if (rc) fprintf(stderr, "  case %s: cannot read (%s)\n", name, err);
    wrk_st_close(&in);
    proto_json_free(&j);
    free(txt);
    return rc;
}

static long dc_numel(const dc_case_t *c) { return (long)c->B * c->F * c->C * c->H * c->W; }

/* Options for case c: its LoRA, 2 threads, quiet; the caller sets device / backend / tp. */
static void dc_opts(const dc_case_t *c, wrk_dit_opts_t *o)
{
    wrk_dit_opts_default(o);
    o->lora_path = c->lora[0] ? c->lora : NULL;
    o->threads = 2;
    o->quiet = 1;
}

/* One forward of case c on a loaded model; the output (malloc'd) or NULL with err printed. */
static float *dc_forward(wrk_dit_t *m, const dc_case_t *c)
{
    char err[1024] = "";
    float *y = malloc((size_t)dc_numel(c) * sizeof(float));
    if (y && wrk_dit_forward(m, c->B, c->F, c->H, c->W, c->x, c->L, c->text, c->t, y, err, sizeof err) == 0)
        return y;
    fprintf(stderr, "  %s: forward: %s\n", c->name, err);
    free(y);
    return NULL;
}

/* Loads case c with options o and runs one forward; NULL on failure (printed). */
static float *dc_run(const dc_case_t *c, const wrk_dit_opts_t *o)
{
    char err[1024] = "";
    wrk_dit_t *m = NULL;
    if (wrk_dit_load(c->model, o, &m, err, sizeof err) != 0) {
        fprintf(stderr, "  %s: load: %s\n", c->name, err);
        return NULL;
    }
    float *y = dc_forward(m, c);
    wrk_dit_destroy(&m);
    return y;
}

/* ‖a − b‖₂ / ‖b‖₂ (inf when a holds a NaN). */
static double dc_rel_l2(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        if (a[i] != a[i]) return INFINITY;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}

static double dc_max_err(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

/* ---- a short sampler run over the DiT (CFG batch [text row 0, text row 1] when the case has 2) ---- */

typedef struct { wrk_dit_t *m; const dc_case_t *c; float *xb; long n; } dc_den_t;

static int dc_denoise(void *ctx, const float *x, int64_t t, int step, int batch, float *out, char *err,
                      size_t errlen)
{
    dc_den_t *d = ctx;
    int64_t ts[2] = { t, t };
    for (int b = 0; b < batch; b++) memcpy(d->xb + (size_t)b * d->n, x, (size_t)d->n * sizeof(float));
    const float *text = d->c->text + (size_t)(batch == 2 ? 0 : d->c->B - 1) * d->c->L * d->c->Dt;
    return wrk_dit_forward(d->m, batch, d->c->F, d->c->H, d->c->W, d->xb, d->c->L, text, ts, out, err, errlen);
}

static int dc_noise(void *ctx, int step, float *eps, int64_t n, char *err, size_t errlen)
{
    wrk_noise_normal(7, 0, (uint32_t)step, 0, n, eps);
    return 0;
}

/* `steps` DPM steps (guidance 6 with CFG when the case has 2 text rows) from the case's first latent;
 * the final latent (malloc'd) or NULL. */
static float *dc_sample(wrk_dit_t *m, const dc_case_t *c, int steps)
{
    wrk_sched_config_t sc;
    wrk_schedule_t s;
    char err[1024] = "";
    long n = dc_numel(c) / c->B;
    float *x = malloc((size_t)n * sizeof(float)), *xb = malloc((size_t)2 * n * sizeof(float));
    dc_den_t d = { m, c, xb, n };
    wrk_sched_config_default(&sc);
    int ok = x && xb && wrk_schedule_init(&s, &sc, err, sizeof err) == 0;
    if (ok) {
        memcpy(x, c->x, (size_t)n * sizeof(float));
        wrk_sampler_run_t r = { .kind = WRK_SAMPLER_DPM, .steps = steps, .guidance = c->B == 2 ? 6.0 : 1.0,
                                .cfg_mode = WRK_CFG_DYNAMIC, .denoise = dc_denoise, .denoise_ctx = &d,
                                .noise = dc_noise };
        ok = wrk_sampler_run(&s, &r, x, n, err, sizeof err) == 0;
        wrk_schedule_free(&s);
    }
    if (!ok) { fprintf(stderr, "  %s: sampler: %s\n", c->name, err); free(x); x = NULL; }
    free(xb);
    return x;
}

/* The anchor stream input of the anchor tests: 2 latent frames per batch item from the case's x, halved. */
static float *dc_anchor_input(const dc_case_t *c, long *na)
{
    long n = dc_numel(c);
    *na = (long)c->B * 2 * c->C * c->H * c->W;
    float *xa = malloc((size_t)*na * sizeof(float));
    for (long i = 0; xa && i < *na; i++) xa[i] = c->x[i % n] * 0.5f;
    return xa;
}

/* Loads the model with o and runs one anchor forward: window output into y (numel), the anchor
 * stream's into ya. Returns 0 or -1 with err. */
static int dc_anchor_forward(const dc_case_t *c, const wrk_dit_opts_t *o, const float *xa, float *y, float *ya,
                             char *err, size_t errlen)
{
    wrk_dit_t *m = NULL;
    wrk_dit_anchor_t an = { 2, xa, ya };
    int rc = wrk_dit_load(c->model, o, &m, err, errlen);
    if (rc == 0) rc = wrk_dit_forward_anchor(m, c->B, c->F, c->H, c->W, c->x, &an, c->L, c->text, c->t, y, err, errlen);
    wrk_dit_destroy(&m);
    return rc;
}

/* ---- the two runs a device test compares: k = 0 the reference path, k = 1 the path under test ---- */

/* Sets what differs between the two runs in the options (the device, or the backend table). */
typedef void (*dc_pick_fn)(wrk_dit_opts_t *o, int k);

/* `steps` sampler steps (dc_sample) on each run: x[k] (numel / B floats, malloc'd), NULL where the
 * load or the sampler failed (a failed check). */
static void dc_sample_both(const dc_case_t *c, int steps, dc_pick_fn pick, float *x[2])
{
    char err[1024] = "";
    for (int k = 0; k < 2; k++) {
        wrk_dit_opts_t o;
        wrk_dit_t *m = NULL;
        x[k] = NULL;
        dc_opts(c, &o);
        pick(&o, k);
        CHECKF(wrk_dit_load(c->model, &o, &m, err, sizeof err) == 0, "%s", err);
        if (m) x[k] = dc_sample(m, c, steps);
        wrk_dit_destroy(&m);
    }
}

/* One anchor forward (dc_anchor_forward on dc_anchor_input) on each run: y[k] (numel floats, *n),
 * ya[k] (the anchor stream, *na floats); the caller frees y[k], ya[k]. */
static void dc_anchor_both(const dc_case_t *c, dc_pick_fn pick, float *y[2], float *ya[2], long *n, long *na)
{
    char err[1024] = "";
    float *xa = dc_anchor_input(c, na);
    *n = dc_numel(c);
    for (int k = 0; k < 2; k++) {
        wrk_dit_opts_t o;
        dc_opts(c, &o);
        pick(&o, k);
        y[k] = calloc((size_t)*n, sizeof(float));
        ya[k] = calloc((size_t)*na, sizeof(float));
        CHECKF(dc_anchor_forward(c, &o, xa, y[k], ya[k], err, sizeof err) == 0, "anchor forward, run %d: %s", k, err);
    }
    free(xa);
}

#endif
