/* test_pipeline_load.c — bad model input for the pipeline and the dit engine (worker/model/pipeline.h):
 * every broken copy of the tiny golden model (tests/golden/pipeline/model) fails to load with an error
 * naming the file (and the tensor or field), and through the engine with class "model"; model/LoRA
 * name resolution under FARM_MODELS / FARM_HOME; the engine renders a good window to uint16 frames
 * at the ASSIGN's first frame; the PNG writer's bytes (signature, chunk CRCs, stored zlib stream,
 * straight-alpha values).
 */
#include "tests/test.h"
#include "worker/model/pipeline.h"
#include "worker/model/safetensors.h"
#include "proto/proto.h"

#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLD "tests/golden/pipeline"

static char g_tmp[256];

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    CHECKF(system(cmd) == 0, "%s", cmd);
}

/* A fresh copy of the golden model at g_tmp/NAME; returns its path (static buffer). */
static const char *copy_model(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    sh("rm -rf '%s' && cp -r " GOLD "/model '%s'", dir, dir);
    return dir;
}

/* Loading dir (+ lora) must fail with an error containing every needle. */
static void expect_load_error(const char *dir, const char *lora, const char *n1, const char *n2)
{
    wrk_pipe_opts_t o;
    wrk_pipe_t *p = NULL;
    char err[2048] = "";
    wrk_pipe_opts_default(&o);
    o.lora_path = lora; o.quiet = 1; o.threads = 2;
    int rc = wrk_pipe_load(dir, &o, &p, err, sizeof err);
    CHECKF(rc == -1 && p == NULL, "%s loaded", dir);
    CHECKF(strstr(err, n1) && (!n2 || strstr(err, n2)), "error '%s' lacks '%s' / '%s'", err, n1, n2 ? n2 : "");
    fprintf(stderr, "  ok: %s\n", err);
}

static void test_broken_models(void)
{
    const char *d = copy_model("noindex");
    sh("rm '%s/model_index.json'", d);
    expect_load_error(d, NULL, "model_index.json", NULL);
    d = copy_model("wrongclass");
    sh("sed -i 's/CogVideoXTransformer3DModel/FluxTransformer2DModel/' '%s/model_index.json'", d);
    expect_load_error(d, NULL, "model_index.json", "transformer");
    d = copy_model("note5");
    sh("rm '%s/text_encoder/model.safetensors'", d);
    expect_load_error(d, NULL, "text_encoder", NULL);
    d = copy_model("layers");                                  /* config does not match the weights */
    sh("sed -i 's/\"num_layers\": 2/\"num_layers\": 3/' '%s/transformer/config.json'", d);
    expect_load_error(d, NULL, "transformer", "transformer_blocks.2");
    d = copy_model("truncvae");
    sh("truncate -s 100000 '%s/vae/diffusion_pytorch_model.safetensors'", d);
    expect_load_error(d, NULL, "vae/diffusion_pytorch_model.safetensors", NULL);
    d = copy_model("nosched");
    sh("rm -r '%s/scheduler'", d);
    expect_load_error(d, NULL, "scheduler", NULL);
}

/* A LoRA made for another base (D = 256 instead of 128): the file and the tensor are named. */
static void test_foreign_lora(void)
{
    char path[512], err[512];
    static float a[8 * 256], b[256 * 8], dom[256];
    wrk_st_wtensor_t t[9];
    const char *tg[4] = { "to_q", "to_k", "to_v", "to_out.0" };
    static char names[8][128];
    for (int i = 0; i < 4; i++) {
        snprintf(names[2 * i], 128, "transformer.transformer_blocks.0.attn1.%s.lora_A.weight", tg[i]);
        snprintf(names[2 * i + 1], 128, "transformer.transformer_blocks.0.attn1.%s.lora_B.weight", tg[i]);
        t[2 * i] = (wrk_st_wtensor_t){ names[2 * i], WRK_ST_F32, 2, { 8, 256 }, a };
        t[2 * i + 1] = (wrk_st_wtensor_t){ names[2 * i + 1], WRK_ST_F32, 2, { 256, 8 }, b };
    }
    t[8] = (wrk_st_wtensor_t){ "domain_emb", WRK_ST_F32, 3, { 1, 1, 256 }, dom };
    snprintf(path, sizeof path, "%s/foreign_lora.safetensors", g_tmp);
    CHECK(wrk_st_write(path, 9, t, err, sizeof err) == 0);
    expect_load_error(GOLD "/model", path, "foreign_lora.safetensors", "tensor ");
    expect_load_error(GOLD "/model", "/nonexistent/lora.safetensors", "/nonexistent/lora.safetensors", NULL);
}

static void test_resolve(void)
{
    char dir[1024], lora[1024], err[512] = "";
    char models[512];
    snprintf(models, sizeof models, "%s/models", g_tmp);
    sh("mkdir -p '%s/m1' && touch '%s/m1/l.safetensors' '%s/shared.safetensors'", models, models, models);
    setenv("FARM_MODELS", models, 1);
    CHECK(wrk_pipe_resolve("m1", "l.safetensors", dir, sizeof dir, lora, sizeof lora, err, sizeof err) == 0);
    CHECK(strcmp(dir, models) > 0 && strstr(dir, "/models/m1") && strstr(lora, "/models/m1/l.safetensors"));
    CHECK(wrk_pipe_resolve("m1", "shared.safetensors", dir, sizeof dir, lora, sizeof lora, err, sizeof err) == 0);
    CHECK(strstr(lora, "/models/shared.safetensors") != NULL);
    CHECK(wrk_pipe_resolve("/abs/dir", "", dir, sizeof dir, lora, sizeof lora, err, sizeof err) == 0);
    CHECK_STR(dir, "/abs/dir");
    CHECK_STR(lora, "");
    CHECK(wrk_pipe_resolve("m1", "missing.safetensors", dir, sizeof dir, lora, sizeof lora, err, sizeof err) == -1);
    CHECKF(strstr(err, "missing.safetensors") != NULL, "%s", err);
    const char *bad[] = { "..", ".", "a b", "x;y", "" };
    for (int i = 0; i < 5; i++)
        CHECKF(wrk_pipe_resolve(bad[i], "", dir, sizeof dir, lora, sizeof lora, err, sizeof err) == -1, "'%s'", bad[i]);
    unsetenv("FARM_MODELS");
    setenv("FARM_HOME", "/srv/farm", 1);
    CHECK(wrk_pipe_resolve("CogVideoX-5b", NULL, dir, sizeof dir, lora, sizeof lora, err, sizeof err) == 0);
    CHECK_STR(dir, "/srv/farm/models/CogVideoX-5b");
    unsetenv("FARM_HOME");
}

static int g_steps;
static void count(void *ctx, int done, int total) { g_steps = done; }

static int engine(const char *model, const char *lora, uint32_t n, uint32_t first, proto_frames_t *out, int *cls,
                  char *err, size_t errlen)
{
    static proto_msg_t a;
    static atomic_int cancel, silent;
    proto_msg_init(&a, PROTO_ASSIGN);
    snprintf(a.model, sizeof a.model, "%s", model);
    snprintf(a.lora, sizeof a.lora, "%s", lora);
    snprintf(a.prompt, sizeof a.prompt, "glass smoke");
    a.n_frames = n; a.first_frame = first; a.width = 48; a.height = 32; a.steps = 3; a.guidance = 5;
    a.seed = 9; a.window_index = 1; a.job_id = 1; a.attempt_id = 1;
    wrk_render_t r = { &a, NULL, &cancel, &silent, count, NULL };
    return wrk_pipe_engine_render(&r, out, cls, err, errlen);
}

static void test_engine(void)
{
    proto_frames_t f = { 0 };
    char err[2048] = "", lora[512];
    int cls = -1;
    snprintf(lora, sizeof lora, "%s/" GOLD "/lora.safetensors", getcwd(err, sizeof err));
    const char *d = copy_model("engine_broken");
    sh("truncate -s 5000 '%s/transformer/diffusion_pytorch_model.safetensors'", d);
    CHECK(engine(d, lora, 5, 0, &f, &cls, err, sizeof err) == WRK_RENDER_FAILED);
    CHECKF(cls == PROTO_FAIL_MODEL && strstr(err, "transformer/diffusion_pytorch_model.safetensors"), "%d %s", cls, err);
    CHECK(engine("no-such-model", "", 5, 0, &f, &cls, err, sizeof err) == WRK_RENDER_FAILED && cls == PROTO_FAIL_MODEL);
    g_steps = 0;
    CHECK(engine(GOLD "/model", lora, 9, 40, &f, &cls, err, sizeof err) == WRK_RENDER_OK);
    CHECKF(f.n == 9 && f.first == 40 && f.w == 48 && f.h == 32 && f.px, "%d frames at %d: %s", f.n, f.first, err);
    CHECK_EQ_INT(g_steps, 4);                                  /* 3 sampler steps + decode */
    long opaque = 0, clear = 0;
    for (long i = 0; f.px && i < (long)f.n * f.w * f.h; i++) { opaque += f.px[4 * i + 3] == 65535; clear += f.px[4 * i + 3] < 65535; }
    CHECK(opaque > 0 && clear > 0);                            /* a real matte, not a constant */
    proto_frames_free(&f);
    CHECK(engine(GOLD "/model", lora, 10, 0, &f, &cls, err, sizeof err) == WRK_RENDER_FAILED && cls == PROTO_FAIL_WINDOW);
}

/* ---- PNG bytes ---- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_png(void)
{
    /* 2x1: a half-transparent red (premultiplied 0.25 red at alpha 0.5) and a fully clear pixel */
    uint16_t px[8] = { 16384, 0, 0, 32768, 0, 0, 0, 0 };
    char path[512], err[256];
    static uint8_t buf[4096];
    snprintf(path, sizeof path, "%s/t.png", g_tmp);
    CHECK(wrk_pipe_png_write(path, px, 2, 1, err, sizeof err) == 0);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(n > 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0);
    size_t o = 8;
    const uint8_t *idat = NULL;
    int chunks = 0;
    while (o + 12 <= n) {                                      /* every chunk's CRC is right */
        uint32_t len = be32(buf + o);
        CHECK(o + 12 + len <= n && crc32_bitwise(buf + o + 4, len + 4) == be32(buf + o + 8 + len));
        if (!memcmp(buf + o + 4, "IDAT", 4)) idat = buf + o + 8;
        if (!memcmp(buf + o + 4, "IHDR", 4)) CHECK(be32(buf + o + 8) == 2 && be32(buf + o + 12) == 1 && buf[o + 16] == 8 && buf[o + 17] == 6);
        o += 12 + len;
        chunks++;
    }
    CHECK(o == n && chunks == 3 && idat);
    if (!idat) return;
    /* zlib header, one final stored block of 9 bytes: filter 0 + 2 RGBA pixels, straight alpha */
    const uint8_t want[9] = { 0, 128, 0, 0, 128, 0, 0, 0, 0 };
    CHECK(idat[0] == 0x78 && idat[2] == 1 && idat[3] == 9 && idat[4] == 0 && idat[5] == 0xf6 && idat[6] == 0xff);
    CHECK(memcmp(idat + 7, want, 9) == 0);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_pipeline_load.%d", (int)getpid());
    mkdir(g_tmp, 0777);
    T_RUN(test_broken_models);
    T_RUN(test_foreign_lora);
    T_RUN(test_resolve);
    T_RUN(test_engine);
    T_RUN(test_png);
    sh("rm -rf '%s'", g_tmp);
    T_DONE();
}
