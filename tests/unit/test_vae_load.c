/* test_vae_load.c — loading a vae/ folder and its failure modes: every bad input is an error that
 * names the file and the field or tensor (missing folder, unknown / wrong-typed config field,
 * unsupported variant, config that does not match the weights, missing / wrong-shaped /
 * unexpected tensor, truncated file), never a crash. Also the size helpers: pixel frames per
 * latent frame count, tiled output sizes, tile setting checks, and the pipeline's post-processing.
 * Model folders are built in a temp dir from the golden tiny VAE (tests/golden/vae/vae).
 */
#include "tests/test.h"
#include "worker/model/safetensors.h"
#include "worker/model/vae.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLD "tests/golden/vae/vae"

static char tmp_[256];

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    if (b) b[len] = 0;
    fclose(f);
    if (n) *n = (size_t)len;
    return b;
}

static void put(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(text, 1, n, f); fclose(f); }
}

/* Writes tmp/NAME/{config.json, diffusion_pytorch_model.safetensors}: the golden config with
 * `from` replaced by `to` (if given), the golden tensors minus `drop`, with `reshape` given a
 * different shape, plus `extra`. Returns the folder path (static buffer). */
static const char *make_model(const char *name, const char *from, const char *to, const char *drop,
                              const char *reshape, const char *extra)
{
    static char dir[512];
    char path[600], err[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp_, name);
    mkdir(dir, 0755);
    size_t n;
    char *cfg = slurp(GOLD "/config.json", &n);
    if (!cfg) return dir;
    char *hit = from ? strstr(cfg, from) : NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hit) {
        size_t cap = n + strlen(to) + 1;
        char *out = malloc(cap);
        snprintf(out, cap, "%.*s%s%s", (int)(hit - cfg), cfg, to, hit + strlen(from));
        put(path, out, strlen(out));
        free(out);
    } else {
        put(path, cfg, n);
    }
    free(cfg);
    wrk_st_t *st = NULL;
    if (wrk_st_open(GOLD, &st, err, sizeof err)) return dir;
    int cnt = wrk_st_count(st), k = 0;
    wrk_st_wtensor_t *w = calloc((size_t)cnt + 1, sizeof *w);
    static const uint16_t one[4] = { 0x3f80, 0x3f80, 0x3f80, 0x3f80 };
    for (int i = 0; i < cnt; i++) {
        const wrk_st_tensor_t *t = wrk_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        w[k] = (wrk_st_wtensor_t){ t->name, t->dtype, t->ndim, { 0 }, t->data };
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        if (reshape && !strcmp(t->name, reshape)) { w[k].ndim = 2; w[k].shape[0] = t->shape[0] * t->shape[1]; w[k].shape[1] = t->numel / w[k].shape[0]; }
        k++;
    }
    if (extra) w[k++] = (wrk_st_wtensor_t){ extra, WRK_ST_BF16, 1, { 4 }, one };
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    wrk_st_write(path, k, w, err, sizeof err);
    free(w);
    wrk_st_close(&st);
    return dir;
}

/* Loading `dir` must fail with an error containing every non-NULL needle. */
static void expect_fail(const char *dir, const char *n1, const char *n2)
{
    char err[512] = "";
    wrk_vae_t *v = NULL;
    int rc = wrk_vae_load(dir, &v, err, sizeof err);
    CHECKF(rc == -1 && v == NULL, "%s: loaded but should fail", dir);
    CHECKF(!n1 || strstr(err, n1), "%s: error \"%s\" lacks \"%s\"", dir, err, n1);
    CHECKF(!n2 || strstr(err, n2), "%s: error \"%s\" lacks \"%s\"", dir, err, n2);
    wrk_vae_destroy(&v);
}

static void test_bad_inputs(void)
{
    expect_fail("/nonexistent/model", "config.json", NULL);
    expect_fail(make_model("unknown", "\"act_fn\"", "\"bogus_field\": 1, \"act_fn\"", NULL, NULL, NULL), "bogus_field", "config.json");
    expect_fail(make_model("type", "\"layers_per_block\": 1", "\"layers_per_block\": \"one\"", NULL, NULL, NULL), "layers_per_block", NULL);
    expect_fail(make_model("act", "\"silu\"", "\"relu\"", NULL, NULL, NULL), "act_fn", NULL);
    expect_fail(make_model("pq", "\"use_post_quant_conv\": false", "\"use_post_quant_conv\": true", NULL, NULL, NULL), "use_post_quant_conv", NULL);
    expect_fail(make_model("groups", "\"norm_num_groups\": 8", "\"norm_num_groups\": 5", NULL, NULL, NULL), "norm_num_groups", NULL);
    /* config that does not match the weights: more layers, other widths */
    expect_fail(make_model("layers", "\"layers_per_block\": 1", "\"layers_per_block\": 2", NULL, NULL, NULL), "resnets.2", "diffusion_pytorch_model.safetensors");
    expect_fail(make_model("widths", "32\n  ],\n  \"down", "64\n  ],\n  \"down", NULL, NULL, NULL), "decoder.conv_in.conv.weight", NULL);
    expect_fail(make_model("missing", NULL, NULL, "decoder.conv_out.conv.bias", NULL, NULL), "decoder.conv_out.conv.bias", NULL);
    expect_fail(make_model("shape", NULL, NULL, NULL, "decoder.mid_block.resnets.1.conv2.conv.weight", NULL),
                "decoder.mid_block.resnets.1.conv2.conv.weight", "diffusion_pytorch_model.safetensors");
    expect_fail(make_model("extra", NULL, NULL, NULL, NULL, "decoder.mid_block.resnets.0.temb_proj.bias"),
                "decoder.mid_block.resnets.0.temb_proj.bias", "diffusion_pytorch_model.safetensors");
    /* truncated weights file */
    const char *dir = make_model("trunc", NULL, NULL, NULL, NULL, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && truncate(path, sb.st_size / 2) == 0);
    expect_fail(dir, "diffusion_pytorch_model.safetensors", NULL);
    /* the untouched copy loads, from the folder and from a model root holding vae/ */
    char err[512];
    wrk_vae_t *v = NULL;
    CHECKF(wrk_vae_load(make_model("good", NULL, NULL, NULL, NULL, NULL), &v, err, sizeof err) == 0, "%s", err);
    wrk_vae_destroy(&v);
    CHECK(v == NULL);
    CHECKF(wrk_vae_load("tests/golden/vae", &v, err, sizeof err) == 0, "root: %s", err);
    wrk_vae_destroy(&v);
}

static void test_sizes(void)
{
    char err[512];
    wrk_vae_t *v = NULL;
    if (wrk_vae_load(GOLD, &v, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    const wrk_vae_config_t *c = wrk_vae_config(v);
    CHECK(c->n_blocks == 4 && c->block_out_channels[1] == 32 && c->norm_num_groups == 8);
    CHECK(fabs(c->scaling_factor - 0.7) < 1e-12);
    static const int F[] = { 1, 2, 3, 4, 5, 12, 13 }, want[] = { 1, 8, 9, 16, 17, 48, 49 };
    for (int i = 0; i < 7; i++) CHECKF(wrk_vae_frames(v, F[i]) == want[i], "F=%d -> %d", F[i], wrk_vae_frames(v, F[i]));
    int T, H, W;
    CHECK(wrk_vae_out_dims(v, 3, 8, 7, 1, &T, &H, &W) == 0 && T == 9 && H == 64 && W == 56);
    CHECK(wrk_vae_out_dims(v, 3, 4, 5, 1, &T, &H, &W) == 0 && H == 32 && W == 40);   /* fits one tile */
    /* inconsistent tiles (crop larger than the stride) give the reference's larger mosaic */
    wrk_vae_tiling_t t;
    wrk_vae_tiling_get(v, &t);
    CHECK(t.tile_sample_min_height == 48 && t.tile_sample_min_width == 40);
    wrk_vae_tiling_t bad = t;
    bad.tile_sample_min_height = 4;
    CHECK(wrk_vae_tiling_set(v, &bad, err, sizeof err) == -1 && strstr(err, "tiling"));
    bad = t; bad.tile_overlap_factor_width = 1.5;
    CHECK(wrk_vae_tiling_set(v, &bad, err, sizeof err) == -1);
    bad = t; bad.tile_sample_min_height = 24;   /* 3 latents, stride 2, crop 20 px */
    CHECK(wrk_vae_tiling_set(v, &bad, err, sizeof err) == 0);
    CHECK(wrk_vae_out_dims(v, 2, 5, 4, 1, &T, &H, &W) == 0 && H == 20 + 20 + 8 && W == 32);
    CHECK(wrk_vae_out_dims(v, 0, 5, 4, 0, &T, &H, &W) == -1);
    /* the released geometry (MODEL.md 4.5): 240x360 px tiles over 60x90 latents, stride 25 x 36
     * latents, crops 200 x 288 px: rows 200+200+80, cols 288+288+144 -> exactly 480 x 720 */
    wrk_vae_tiling_t rel = { 240, 360, 1.0 / 6.0, 1.0 / 5.0 };
    CHECK(wrk_vae_tiling_set(v, &rel, err, sizeof err) == 0);
    CHECK(wrk_vae_out_dims(v, 13, 60, 90, 1, &T, &H, &W) == 0 && T == 49 && H == 480 && W == 720);
    CHECK(wrk_vae_out_dims(v, 13, 30, 45, 1, &T, &H, &W) == 0 && H == 240 && W == 360);   /* one tile: untiled */
    float px[4] = { -3.0f, -1.0f, 0.5f, 2.0f };
    wrk_vae_postprocess(px, 4);
    CHECK(px[0] == 0.0f && px[1] == 0.0f && px[2] == 0.75f && px[3] == 1.0f);
    wrk_vae_destroy(&v);
}

int main(void)
{
    snprintf(tmp_, sizeof tmp_, "/tmp/test_vae_load.XXXXXX");
    if (!mkdtemp(tmp_)) { perror("mkdtemp"); return 1; }
    T_RUN(test_bad_inputs);
    T_RUN(test_sizes);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_);
    T_DONE();
}
