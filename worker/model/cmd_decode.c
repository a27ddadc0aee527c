/* cmd_decode.c — `farm-worker decode`: the VAE decoder outside the farm, for parity tests, benchmarks
 * and anyone checking a model install.
 *
 *   farm-worker decode --model DIR --latents IN.safetensors --out OUT.safetensors [--tensor NAME]
 *                      [--tiled] [--tile-height PX] [--tile-width PX] [--postprocess] [--channels-first]
 *                      [--threads N]
 *
 * IN holds the latents (B, F, C, h, w) as the DiT produces them (tensor "latents" unless --tensor
 * names another; any float dtype), NOT divided by the scaling factor. OUT gets "frames"
 * (B, T, H, W, 3) fp32 (or (B, 3, T, H, W) with --channels-first, as vae.decode returns it): raw
 * decoder values, or mapped to [0, 1] with --postprocess as the pipeline does. One summary line on stdout. Exit status: 0 ok, 1 failure, 2 usage.
 * Not here: PNG writing, the DiT (cmd_forward.c), sampling (cmd_sample.c).
 */
#include "worker/commands.h"
#include "worker/model/cmd_common.h"
#include "worker/model/safetensors.h"
#include "worker/model/vae.h"
#include "worker/opts.h"

#include "kernels/k.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char model[4096], latents[4096], out[4096], tensor[256];
    int  tiled, tile_h, tile_w, post, threads, chfirst;
} dec_cli_t;

#define O(f) offsetof(dec_cli_t, f), sizeof(((dec_cli_t *)0)->f)
static const wrk_opt_t DEC_OPTS[] = {
    { "model",       "DIR",  WRK_OPT_STR,  O(model), 0, 0, "vae/ folder, or a model root holding vae/ (required)" },
    { "latents",     "FILE", WRK_OPT_STR,  O(latents), 0, 0, "safetensors holding the latents (B, F, C, h, w) (required)" },
    { "out",         "FILE", WRK_OPT_STR,  O(out), 0, 0, "safetensors to write `frames` (B, T, H, W, 3) to (required)" },
    { "tensor",      "NAME", WRK_OPT_STR,  O(tensor), 0, 0, "name of the latents tensor, default latents" },
    { "tiled",       NULL,   WRK_OPT_FLAG, O(tiled), 0, 1, "spatial tiling with the reference's blend" },
    { "tile-height", "PX",   WRK_OPT_INT,  O(tile_h), 8, 1 << 16, "tile_sample_min_height, default sample_height/2" },
    { "tile-width",  "PX",   WRK_OPT_INT,  O(tile_w), 8, 1 << 16, "tile_sample_min_width, default sample_width/2" },
    { "postprocess", NULL,   WRK_OPT_FLAG, O(post), 0, 1, "map x*0.5+0.5 clamped to [0, 1] (the pipeline's output)" },
    { "channels-first", NULL, WRK_OPT_FLAG, O(chfirst), 0, 1, "write frames as (B, 3, T, H, W), diffusers' layout" },
    { "threads",     "N",    WRK_OPT_INT,  O(threads), 1, 4096, "compute threads, default all" },
};
#define N_DEC_OPTS ((int)(sizeof DEC_OPTS / sizeof DEC_OPTS[0]))

static const char DEC_USAGE[] = "farm-worker decode --model DIR --latents IN.safetensors --out OUT.safetensors [OPTIONS]";

/* Reads the 5-D latents tensor; checks C against the VAE. */
static float *read_latents(const dec_cli_t *c, const wrk_vae_t *v, int dims[5], char *err, size_t errlen)
{
    wrk_st_t *st = NULL;
    float *lat = NULL;
    const char *name = c->tensor[0] ? c->tensor : "latents";
    if (wrk_st_open(c->latents, &st, err, errlen)) return NULL;
    const wrk_st_tensor_t *t = wrk_st_find(st, name);
    if (!t) { snprintf(err, errlen, "%.600s: tensor %.200s missing", c->latents, name); goto out; }
    if (t->ndim != 5 || t->numel > ((int64_t)1 << 31)) {
        snprintf(err, errlen, "%.600s: tensor %.200s: expected (B, F, C, h, w) with at most 2^31 elements", c->latents, name);
        goto out;
    }
    if (t->shape[2] != wrk_vae_config(v)->latent_channels) {
        snprintf(err, errlen, "%.600s: tensor %.200s: %lld channels, the VAE takes %d", c->latents, name,
                 (long long)t->shape[2], wrk_vae_config(v)->latent_channels);
        goto out;
    }
    for (int i = 0; i < 5; i++) dims[i] = (int)t->shape[i];
    if ((lat = malloc((size_t)t->numel * sizeof *lat)) == NULL) { snprintf(err, errlen, "out of memory"); goto out; }
    if (wrk_st_read_f32(st, name, 5, t->shape, lat, t->numel, err, errlen)) { free(lat); lat = NULL; }
out:
    wrk_st_close(&st);
    return lat;
}

static int set_tiles(const dec_cli_t *c, wrk_vae_t *v, char *err, size_t errlen)
{
    wrk_vae_tiling_t t;
    wrk_vae_tiling_get(v, &t);
    if (c->tile_h) t.tile_sample_min_height = c->tile_h;
    if (c->tile_w) t.tile_sample_min_width = c->tile_w;
    return wrk_vae_tiling_set(v, &t, err, errlen);
}

/* (B, P, C) -> (B, C, P) in a new buffer; NULL on OOM. */
static float *to_channels_first(const float *x, int B, long P, int C)
{
    float *y = malloc((size_t)B * P * C * sizeof *y);
    for (int b = 0; y && b < B; b++)
        for (long p = 0; p < P; p++)
            for (int c = 0; c < C; c++) y[((size_t)b * C + c) * P + p] = x[((size_t)b * P + p) * C + c];
    return y;
}

static int run_decode(const dec_cli_t *c, char *err, size_t errlen)
{
    wrk_vae_t *v = NULL;
    float *lat = NULL, *out = NULL;
    int d[5], T, H, W, rc = -1;
    char line[256];
    if (wrk_vae_load(c->model, &v, err, errlen) || set_tiles(c, v, err, errlen)) goto out;
    wrk_vae_config_str(v, line, sizeof line);
    fprintf(stderr, "decode: %s\n", line);
    if (!(lat = read_latents(c, v, d, err, errlen))) goto out;
    if (wrk_vae_out_dims(v, d[1], d[3], d[4], c->tiled, &T, &H, &W)) { snprintf(err, errlen, "bad latent size"); goto out; }
    size_t n = (size_t)d[0] * T * H * W * 3;
    if (!(out = malloc(n * sizeof *out))) { snprintf(err, errlen, "out of memory for %zu output floats", n); goto out; }
    double t0 = wrk_cmd_now_s();
    if (wrk_vae_decode(v, lat, d[0], d[1], d[3], d[4], c->tiled, out, err, errlen)) goto out;
    double dt = wrk_cmd_now_s() - t0;
    if (c->post) wrk_vae_postprocess(out, (long)n);
    wrk_st_wtensor_t wt = { "frames", WRK_ST_F32, 5, { d[0], T, H, W, 3 }, out };
    if (c->chfirst) {
        float *cf = to_channels_first(out, d[0], (long)T * H * W, 3);
        if (!cf) { snprintf(err, errlen, "out of memory"); goto out; }
        free(out);
        out = cf;
        wt = (wrk_st_wtensor_t){ "frames", WRK_ST_F32, 5, { d[0], 3, T, H, W }, out };
    }
    if (wrk_st_write(c->out, 1, &wt, err, errlen)) goto out;
    printf("decoded B=%d F=%d %dx%d latents -> %d frames %dx%d%s in %.3f s\n", d[0], d[1], d[3], d[4], T, H, W,
           c->tiled ? " (tiled)" : "", dt);
    rc = 0;
out:
    free(lat); free(out);
    wrk_vae_destroy(&v);
    return rc;
}

int wrk_cmd_decode(int argc, char **argv)
{
    dec_cli_t c = { 0 };
    char err[1024];
    int p = wrk_opts_command("decode", DEC_USAGE, DEC_OPTS, N_DEC_OPTS, &c, argc, argv);
    if (p) return p > 0 ? 0 : 2;
    if (!c.model[0] || !c.latents[0] || !c.out[0]) {
        fprintf(stderr, "decode: --model, --latents and --out are required\nusage: %s\n", DEC_USAGE);
        return 2;
    }
    if (c.threads) k_set_threads(c.threads);
    if (run_decode(&c, err, sizeof err)) { fprintf(stderr, "decode: %s\n", err); return 1; }
    if (fflush(stdout) || ferror(stdout)) return 1;
    return 0;
}
