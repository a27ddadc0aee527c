/* test_dit_load.c — DiT and LoRA loading: directory forms, options, and every rejection path
 * (wrong shapes, unknown tensors, LoRA for another base, missing tensors) naming file and tensor.
 * Builds broken copies of the golden 5B model / LoRA under /tmp. Run from the repository root.
 */
#include "tests/test.h"
#include "worker/model/dit.h"
#include "worker/model/lora.h"
#include "worker/model/safetensors.h"

#include <sys/stat.h>
#include <unistd.h>

#define MODEL "tests/golden/dit/5b_rope"
#define LORA "tests/golden/dit/5b_transpixar/lora.safetensors"

static char tmpdir[256];

/* Copies every tensor of src to dst, except: `drop` is left out, `reshape` gets shape (d0, d1) with
 * fresh zero data, and `add` (if set) is added as a (4) tensor. */
static int rewrite(const char *src, const char *dst, const char *drop, const char *reshape, int64_t d0,
                   int64_t d1, const char *add)
{
    char err[512];
    wrk_st_t *st = NULL;
    if (wrk_st_open(src, &st, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return -1; }
    int n = wrk_st_count(st), k = 0;
    wrk_st_wtensor_t *w = calloc((size_t)n + 1, sizeof *w);
    float *zeros = calloc((size_t)(d0 * d1 + 4), sizeof(float));
    for (int i = 0; i < n; i++) {
        const wrk_st_tensor_t *t = wrk_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        w[k] = (wrk_st_wtensor_t){ .name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data };
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        if (reshape && !strcmp(t->name, reshape))
            w[k] = (wrk_st_wtensor_t){ .name = t->name, .dtype = WRK_ST_F32, .ndim = 2, .shape = { d0, d1 },
                                       .data = zeros };
        k++;
    }
    if (add) w[k++] = (wrk_st_wtensor_t){ .name = add, .dtype = WRK_ST_F32, .ndim = 1, .shape = { 4 }, .data = zeros };
    int rc = wrk_st_write(dst, k, w, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    wrk_st_close(&st);
    free(w);
    free(zeros);
    return rc;
}

/* A model dir under tmpdir/name with the golden config and a rewritten checkpoint. */
static void make_model(const char *name, const char *drop, const char *reshape, int64_t d0, int64_t d1,
                       const char *add, char *path, size_t len)
{
    char cmd[1024], st[600];
    snprintf(path, len, "%s/%s", tmpdir, name);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp " MODEL "/transformer/config.json %s/", path, path);
    CHECK(system(cmd) == 0);
    snprintf(st, sizeof st, "%s/diffusion_pytorch_model.safetensors", path);
    CHECK(rewrite(MODEL "/transformer", st, drop, reshape, d0, d1, add) == 0);
}

static int load(const char *dir, const char *lora, int tp, char *err, size_t errlen)
{
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    wrk_dit_opts_default(&o);
    o.lora_path = lora;
    o.tp = tp;
    o.quiet = 1;
    int rc = wrk_dit_load(dir, &o, &m, err, errlen);
    if (rc == 0) {
        CHECK(wrk_dit_info(m)->tp == tp);
        CHECK(wrk_dit_info(m)->rgba == (lora != NULL));
    }
    wrk_dit_destroy(&m);
    CHECK(m == NULL);
    return rc;
}

#define EXPECT_ERR(call, ...) do { char err_[1024] = ""; int rc_ = (call); CHECKF(rc_ == -1, "accepted"); \
    const char *want_[] = { __VA_ARGS__ }; for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++) \
    CHECKF(strstr(err_, want_[i_]) != NULL, "error '%s' lacks '%s'", err_, want_[i_]); } while (0)
#define E err_, sizeof err_

static void test_dir_forms(void)
{
    char err[1024] = "";
    CHECKF(load(MODEL, NULL, 1, err, sizeof err) == 0, "%s", err);
    CHECKF(load(MODEL "/transformer", NULL, 1, err, sizeof err) == 0, "%s", err);
    CHECKF(load(MODEL, LORA, 4, err, sizeof err) == 0, "%s", err);
    CHECKF(load(MODEL, NULL, 3, err, sizeof err) == 0, "uneven split: %s", err);
    EXPECT_ERR(load("/nonexistent/model", NULL, 1, E), "/nonexistent/model", "config.json");
    EXPECT_ERR(load(MODEL, NULL, 5, E), "tensor parallel degree 5");
}

static void test_bad_checkpoint(void)
{
    char dir[512];
    make_model("wrong_shape", NULL, "transformer_blocks.1.attn1.to_k.weight", 256, 255, NULL, dir, sizeof dir);
    EXPECT_ERR(load(dir, NULL, 1, E), "diffusion_pytorch_model.safetensors", "transformer_blocks.1.attn1.to_k.weight");
    EXPECT_ERR(load(dir, NULL, 2, E), "transformer_blocks.1.attn1.to_k.weight");
    make_model("missing", "transformer_blocks.0.ff.net.2.bias", NULL, 0, 0, NULL, dir, sizeof dir);
    EXPECT_ERR(load(dir, NULL, 1, E), "transformer_blocks.0.ff.net.2.bias");
    make_model("unknown", NULL, NULL, 0, 0, "transformer_blocks.2.norm1.linear.bias", dir, sizeof dir);
    EXPECT_ERR(load(dir, NULL, 1, E), "transformer_blocks.2.norm1.linear.bias", "not part");
    make_model("leading_zero", NULL, NULL, 0, 0, "transformer_blocks.00.norm1.linear.bias", dir, sizeof dir);
    EXPECT_ERR(load(dir, NULL, 1, E), "transformer_blocks.00.norm1.linear.bias", "not part");
}

static void test_bad_lora(void)
{
    char path[512], err[1024] = "";
    wrk_lora_t *l = NULL;
    CHECKF(wrk_lora_open(LORA, 2, 256, &l, err, sizeof err) == 0, "%s", err);
    if (l) {
        CHECK(wrk_lora_rank(l) == 8 && wrk_lora_has_domain(l));
        wrk_lora_close(&l);
    }
    EXPECT_ERR(wrk_lora_open(LORA, 2, 320, &l, E), LORA, "tensor ", "another base");   /* other D */
    EXPECT_ERR(wrk_lora_open(LORA, 1, 256, &l, E), "transformer_blocks.1.", "1 blocks");    /* fewer blocks */
    EXPECT_ERR(wrk_lora_open(LORA, 3, 256, &l, E), "transformer_blocks.2.attn1.to_q.lora_A.weight", "missing");
    snprintf(path, sizeof path, "%s/lora_shape.safetensors", tmpdir);
    CHECK(rewrite(LORA, path, NULL, "transformer.transformer_blocks.1.attn1.to_v.lora_B.weight", 256, 4, NULL) == 0);
    EXPECT_ERR(wrk_lora_open(path, 2, 256, &l, E), path, "to_v.lora_B.weight");             /* rank differs */
    snprintf(path, sizeof path, "%s/lora_extra.safetensors", tmpdir);
    CHECK(rewrite(LORA, path, NULL, NULL, 0, 0, "transformer.transformer_blocks.0.ff.lora_A.weight") == 0);
    EXPECT_ERR(wrk_lora_open(path, 2, 256, &l, E), "ff.lora_A.weight", "not a TransPixar LoRA key");
    snprintf(path, sizeof path, "%s/lora_zero.safetensors", tmpdir);
    CHECK(rewrite(LORA, path, NULL, NULL, 0, 0, "transformer.transformer_blocks.01.attn1.to_q.lora_A.weight") == 0);
    EXPECT_ERR(wrk_lora_open(path, 2, 256, &l, E), "blocks.01.attn1", "not a TransPixar LoRA key");
    snprintf(path, sizeof path, "%s/lora_domain.safetensors", tmpdir);
    CHECK(rewrite(LORA, path, "domain_emb", NULL, 0, 0, "domain_emb") == 0);               /* 4 values */
    EXPECT_ERR(wrk_lora_open(path, 2, 256, &l, E), "domain_emb");
}

/* Forward of the 5b_rope golden inputs with the model in `dir`; NULL on failure. */
static float *forward_golden(const char *dir, long *n)
{
    char err[1024];
    wrk_st_t *in = NULL;
    wrk_dit_t *m = NULL;
    wrk_dit_opts_t o;
    float *y = NULL;
    wrk_dit_opts_default(&o);
    o.quiet = 1;
    CHECKF(wrk_st_open(MODEL "/inputs.safetensors", &in, err, sizeof err) == 0, "%s", err);
    CHECKF(wrk_dit_load(dir, &o, &m, err, sizeof err) == 0, "%s", err);
    const wrk_st_tensor_t *hs = in ? wrk_st_find(in, "hidden_states") : NULL;
    const wrk_st_tensor_t *eh = in ? wrk_st_find(in, "encoder_hidden_states") : NULL;
    if (m && hs && eh) {
        float *x = malloc((size_t)hs->numel * 4), *txt = malloc((size_t)eh->numel * 4);
        int64_t t[8];
        y = malloc((size_t)hs->numel * 4);
        *n = (long)hs->numel;
        CHECK(wrk_st_read_f32(in, "hidden_states", 0, NULL, x, hs->numel, err, sizeof err) == 0);
        CHECK(wrk_st_read_f32(in, "encoder_hidden_states", 0, NULL, txt, eh->numel, err, sizeof err) == 0);
        CHECK(wrk_st_read_i64(in, "timestep", 0, NULL, t, hs->shape[0], err, sizeof err) == 0);
        int rc = wrk_dit_forward(m, (int)hs->shape[0], (int)hs->shape[1], (int)hs->shape[3], (int)hs->shape[4],
                                 x, (int)eh->shape[1], txt, t, y, err, sizeof err);
        CHECKF(rc == 0, "%s", err);
        if (rc) { free(y); y = NULL; }
        free(x); free(txt);
    }
    wrk_dit_destroy(&m);
    wrk_st_close(&in);
    return y;
}

/* The golden checkpoint as BF16, and split over two shards with an index file: the same model. */
static void test_bf16_and_shards(void)
{
    char dir[300], path[1400], err[512];
    wrk_st_t *st = NULL;
    long n = 0, n2 = 0;
    float *ref = forward_golden(MODEL, &n);
    CHECK(wrk_st_open(MODEL "/transformer", &st, err, sizeof err) == 0);
    if (!ref || !st) { free(ref); wrk_st_close(&st); return; }
    int cnt = wrk_st_count(st), half = cnt / 2;
    wrk_st_wtensor_t *w = calloc((size_t)cnt, sizeof *w);
    uint16_t **bf = calloc((size_t)cnt, sizeof *bf);
    for (int i = 0; i < cnt; i++) {
        const wrk_st_tensor_t *t = wrk_st_at(st, i);
        float *f = malloc((size_t)t->numel * 4);
        bf[i] = malloc((size_t)t->numel * 2);
        CHECK(wrk_st_read_f32(st, t->name, 0, NULL, f, t->numel, err, sizeof err) == 0);
        for (int64_t k = 0; k < t->numel; k++) bf[i][k] = wrk_st_f32_to_bf16(f[k]);
        free(f);
        w[i] = (wrk_st_wtensor_t){ .name = t->name, .dtype = WRK_ST_BF16, .ndim = t->ndim, .data = bf[i] };
        memcpy(w[i].shape, t->shape, sizeof t->shape);
    }
    /* bf16, one file: close to fp32 (bf16 has 8 bits of mantissa) */
    snprintf(dir, sizeof dir, "%s/bf16", tmpdir);
    snprintf(path, sizeof path, "mkdir -p %s && cp " MODEL "/transformer/config.json %s/", dir, dir);
    CHECK(system(path) == 0);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    CHECK(wrk_st_write(path, cnt, w, err, sizeof err) == 0);
    float *yb = forward_golden(dir, &n2);
    if (yb) CHECK(n2 == n && t_allclose("bf16 vs fp32", yb, ref, n, 0.05, 0.05));
    if (yb) CHECK(memcmp(yb, ref, (size_t)n * 4) != 0);   /* the conversion really happened */
    /* bf16 in two shards + index: bit-identical to the single bf16 file */
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    snprintf(path, sizeof path, "mkdir -p %s && cp " MODEL "/transformer/config.json %s/", dir, dir);
    CHECK(system(path) == 0);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model-00001-of-00002.safetensors", dir);
    CHECK(wrk_st_write(path, half, w, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model-00002-of-00002.safetensors", dir);
    CHECK(wrk_st_write(path, cnt - half, w + half, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < cnt; i++)
        fprintf(f, "%s\"%s\": \"diffusion_pytorch_model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                w[i].name, i < half ? 1 : 2);
    fprintf(f, "}}\n");
    fclose(f);
    float *ys = forward_golden(dir, &n2);
    if (ys && yb) CHECKF(n2 == n && memcmp(ys, yb, (size_t)n * 4) == 0, "sharded differs from one file");
    free(ys); free(yb); free(ref);
    for (int i = 0; i < cnt; i++) free(bf[i]);
    free(bf); free(w);
    wrk_st_close(&st);
}

static void test_masks(void)
{
    wrk_dit_mask_t m;
    for (int i = 0; i < WRK_DIT_MASK_COUNT; i++) {
        CHECK(wrk_dit_mask_from_name(wrk_dit_mask_name((wrk_dit_mask_t)i), &m) == 0);
        CHECK(m == (wrk_dit_mask_t)i);
    }
    CHECK(wrk_dit_mask_from_name("soft", &m) == -1);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_dit_load.%d", (int)getpid());
    mkdir(tmpdir, 0700);
    T_RUN(test_dir_forms);
    T_RUN(test_bad_checkpoint);
    T_RUN(test_bad_lora);
    T_RUN(test_bf16_and_shards);
    T_RUN(test_masks);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
    T_DONE();
}
