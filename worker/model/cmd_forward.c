/* cmd_forward.c — `farm-worker forward`: one DiT call outside the farm, for parity tests and for
 * anyone checking a model install.
 *
 *   farm-worker forward --model DIR [--lora FILE] [--tp N] [--mask none|bias|hard] [--mask-bias B]
 *                       [--lora-alpha A] [--rgba] [--threads N] --inputs IN.safetensors
 *                       --out OUT.safetensors
 *
 * IN holds hidden_states (B, F, C, H, W), encoder_hidden_states (B, L, Dt) and timestep (B) (int64
 * as diffusers uses; integral floats are accepted), names and layouts as diffusers uses them.
 * OUT gets `sample` (B, F, C_out, H, W) fp32. Exit status: 0 ok, 1 failure, 2 usage.
 * Not here: sampling loops (cmd_sample.c).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/commands.h"
#include "worker/model/cmd_common.h"
#include "worker/model/dit.h"
#include "worker/model/safetensors.h"
#include "worker/opts.h"

typedef struct {
    const char   *model, *inputs, *out;
    wrk_dit_cli_t dit;
} fwd_cli_t;

/* Option table: help and parsing both come from it (worker/opts.h). */
#define O(f) offsetof(fwd_cli_t, f), sizeof(((fwd_cli_t *)0)->f)
static const wrk_opt_t FWD_OPTS[] = {
    { "model",      "DIR",  WRK_OPT_ARG,   O(model), 0, 0, "model root holding transformer/, or the transformer dir (required)" },
    { "inputs",     "FILE", WRK_OPT_ARG,   O(inputs), 0, 0, "safetensors with hidden_states, encoder_hidden_states, timestep (required)" },
    { "out",        "FILE", WRK_OPT_ARG,   O(out), 0, 0, "safetensors to write `sample` to (required)" },
    WRK_DIT_CLI_OPTS(fwd_cli_t, dit, 0, 4096),
};
#define N_FWD_OPTS ((int)(sizeof FWD_OPTS / sizeof FWD_OPTS[0]))
static const char FWD_USAGE[] =
    "usage: farm-worker forward --model DIR --inputs IN.safetensors --out OUT.safetensors [OPTIONS]";

/* 0 ok, 1 help shown, -1 usage error (message printed). */
static int parse_args(int argc, char **argv, fwd_cli_t *c)
{
    *c = (fwd_cli_t){ .dit = WRK_DIT_CLI_DEFAULT };
    int r = wrk_opts_command("forward", FWD_USAGE, FWD_OPTS, N_FWD_OPTS, c, argc, argv);
    if (r) return r;
    if (!c->model || !c->inputs || !c->out) {
        fprintf(stderr, "forward: --model, --inputs and --out are required\n");
        return -1;
    }
    return 0;
}

/* ---- inputs ---- */

typedef struct {
    int B, F, C, H, W, L, Dt;
    float *x, *text;
    int64_t *t;
} fwd_in_t;

static const wrk_st_tensor_t *need(const wrk_st_t *st, const char *path, const char *name, int ndim,
                                   char *err, size_t errlen)
{
    const wrk_st_tensor_t *t = wrk_st_find(st, name);
    if (!t) snprintf(err, errlen, "%s: tensor %s missing", path, name);
    else if (t->ndim != ndim) snprintf(err, errlen, "%s: tensor %s has %d dims, expected %d", path, name, t->ndim, ndim);
    else if (t->numel <= 0 || t->numel > ((int64_t)1 << 31)) snprintf(err, errlen, "%s: tensor %s: bad size", path, name);
    else return t;
    return NULL;
}

/* timestep (B): integer dtypes as they are, floats only when integral. */
static int read_timesteps(const wrk_st_t *st, const char *path, const wrk_st_tensor_t *tt,
                          int64_t *dst, char *err, size_t errlen)
{
    char ignored[256];
    if (wrk_st_read_i64(st, tt->name, 1, tt->shape, dst, tt->numel, ignored, sizeof ignored) == 0)
        return 0;
    float tf[tt->numel];
    if (wrk_st_read_f32(st, tt->name, 1, tt->shape, tf, tt->numel, err, errlen) != 0) return -1;
    for (int64_t i = 0; i < tt->numel; i++) {
        if (!(tf[i] >= 0 && tf[i] < 1e7f) || tf[i] != floorf(tf[i])) {
            snprintf(err, errlen, "%s: tensor timestep[%lld] = %g is not an integer timestep", path,
                     (long long)i, (double)tf[i]);
            return -1;
        }
        dst[i] = (int64_t)tf[i];
    }
    return 0;
}

static int read_inputs(const char *path, fwd_in_t *in, char *err, size_t errlen)
{
    wrk_st_t *st = NULL;
    int rc = -1;
    if (wrk_st_open(path, &st, err, errlen) != 0) return -1;
    const wrk_st_tensor_t *hs = need(st, path, "hidden_states", 5, err, errlen), *eh = NULL, *tt = NULL;
    if (!hs || !(eh = need(st, path, "encoder_hidden_states", 3, err, errlen)) ||
        !(tt = need(st, path, "timestep", 1, err, errlen)))
        goto out;
    if (eh->shape[0] != hs->shape[0] || tt->shape[0] != hs->shape[0]) {
        snprintf(err, errlen, "%s: batch sizes differ: hidden_states %lld, encoder_hidden_states %lld, "
                 "timestep %lld", path, (long long)hs->shape[0], (long long)eh->shape[0],
                 (long long)tt->shape[0]);
        goto out;
    }
    *in = (fwd_in_t){ (int)hs->shape[0], (int)hs->shape[1], (int)hs->shape[2], (int)hs->shape[3],
                      (int)hs->shape[4], (int)eh->shape[1], (int)eh->shape[2], NULL, NULL, NULL };
    in->x = malloc((size_t)hs->numel * sizeof(float));
    in->text = malloc((size_t)eh->numel * sizeof(float));
    in->t = malloc((size_t)in->B * sizeof(int64_t));
    if (!in->x || !in->text || !in->t) { snprintf(err, errlen, "%s: out of memory", path); goto out; }
    if (wrk_st_read_f32(st, hs->name, 5, hs->shape, in->x, hs->numel, err, errlen) != 0 ||
        wrk_st_read_f32(st, eh->name, 3, eh->shape, in->text, eh->numel, err, errlen) != 0 ||
        read_timesteps(st, path, tt, in->t, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    wrk_st_close(&st);
    return rc;
}

/* Checks the inputs against the model's channel and text widths. */
static int check_inputs(const fwd_in_t *in, const wrk_dit_info_t *i, const char *path, char *err,
                        size_t errlen)
{
    if (in->C != i->in_channels || in->Dt != i->text_dim) {
        snprintf(err, errlen, "%s: hidden_states has %d channels and encoder_hidden_states width %d; "
                 "the model wants %d and %d", path, in->C, in->Dt, i->in_channels, i->text_dim);
        return -1;
    }
    return 0;
}

static int write_sample(const char *path, const fwd_in_t *in, int c_out, const float *y, char *err,
                        size_t errlen)
{
    wrk_st_wtensor_t t = { .name = "sample", .dtype = WRK_ST_F32, .ndim = 5,
                           .shape = { in->B, in->F, c_out, in->H, in->W }, .data = y };
    return wrk_st_write(path, 1, &t, err, errlen);
}

int wrk_cmd_forward(int argc, char **argv)
{
    fwd_cli_t c;
    fwd_in_t in = { 0 };
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    float *y = NULL;
    char err[1024] = "";
    int pr = parse_args(argc, argv, &c), rc = 1;
    if (pr != 0) return pr > 0 ? 0 : 2;
    if (wrk_dit_cli_opts(&c.dit, &o, err, sizeof err) != 0) {
        fprintf(stderr, "forward: %s\n", err);
        return 2;
    }
    if (read_inputs(c.inputs, &in, err, sizeof err) != 0 || wrk_dit_load(c.model, &o, &m, err, sizeof err) != 0 ||
        check_inputs(&in, wrk_dit_info(m), c.inputs, err, sizeof err) != 0)
        goto out;
    int c_out = wrk_dit_info(m)->out_channels;
    if (!(y = malloc((size_t)in.B * in.F * c_out * in.H * in.W * sizeof(float)))) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    double t0 = wrk_cmd_now_s();
    if (wrk_dit_forward(m, in.B, in.F, in.H, in.W, in.x, in.L, in.text, in.t, y, err, sizeof err) != 0 ||
        write_sample(c.out, &in, c_out, y, err, sizeof err) != 0)
        goto out;
    fprintf(stderr, "forward: B=%d F=%d H=%d W=%d L=%d in %.3f s -> %s\n", in.B, in.F, in.H, in.W, in.L,
            wrk_cmd_now_s() - t0, c.out);
    rc = 0;
out:
    if (rc) fprintf(stderr, "forward: %s\n", err);
    free(y); free(in.x); free(in.text); free(in.t);
    wrk_dit_destroy(&m);
    return rc;
}
