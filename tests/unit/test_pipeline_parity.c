/* test_pipeline_parity.c — the whole RGBA pipeline (worker/model/pipeline.h) against the reference
 * TransPixar pipeline run by tests/reference/gen_pipeline.py on the tiny golden model
 * (tests/golden/pipeline/): same prompts, same captured noise, 10 DPM steps with dynamic CFG, tiled
 * VAE decode. The 8-bit frames as the reference exports them ((uint8)(x·255) of premultiplied RGB
 * and of alpha) must match within 2/255 on at least 99.9% of the samples, for a 9-frame window
 * (3 latent frames) and a 5-frame one (2 latent frames: the VAE returns 8, the first 5 are kept).
 * Also: the uint16 artifact frames keep colour <= alpha, a re-render with (seed, window) noise is
 * bit-identical and another window differs, progress is reported per step, cancel stops a render.
 */
#include "tests/test.h"
#include "tests/unit/pipeline_cases.h"
#include "proto/proto.h"

static wrk_pipe_t *g_pipe;

static int g_progress_calls, g_progress_last, g_progress_total;
static void on_progress(void *ctx, int done, int total)
{
    g_progress_calls++; g_progress_last = done; g_progress_total = total;
}

static void parity_case(const char *name)
{
    pcase_t c;
    wrk_pipe_req_t q;
    wrk_pipe_noise_t nz;
    wrk_pipe_frames_t fr;
    char path[256], err[1024] = "";
    int cls = -1;
    int64_t ne = 0;
    CHECKF(read_case(name, &c) == 0, "%s/case.json", name);
    snprintf(path, sizeof path, GOLD "/%s/noise.safetensors", name);
    CHECKF(wrk_pipe_noise_load(path, &nz, err, sizeof err) == 0, "%s", err);
    req_for(&c, &q);
    q.noise = &nz;
    q.progress = on_progress;
    g_progress_calls = 0;
    int rc = wrk_pipe_render(g_pipe, &q, &fr, &cls, err, sizeof err);
    CHECKF(rc == WRK_PIPE_OK, "render %s: rc %d class %d: %s", name, rc, cls, err);
    uint8_t *want = read_expected(name, &ne);
    CHECK(want != NULL);
    if (rc != WRK_PIPE_OK || !want) { free(want); wrk_pipe_noise_free(&nz); return; }
    CHECK_EQ_INT(fr.n, c.frames);
    CHECK(g_progress_calls == c.steps + 1 && g_progress_last == g_progress_total);
    const wrk_pipe_stats_t *st = wrk_pipe_stats(g_pipe);
    CHECK(st->steps == c.steps && st->dit_calls == c.steps && st->total_s > 0 &&
          st->total_s >= st->text_s + st->denoise_s + st->decode_s - 1e-6);
    int64_t n = (int64_t)fr.n * fr.h * fr.w * 4, bad = 0, maxd = 0;
    CHECK(n <= ne);
    for (int64_t i = 0; i < n && n <= ne; i++) {
        int d = abs((int)wrk_pipe_u8(fr.rgba[i]) - (int)want[i]);
        if (d > maxd) maxd = d;
        if (d > 2) bad++;
    }
    double frac = 1.0 - (double)bad / (double)n;
    fprintf(stderr, "  %s: %d frames %dx%d, max |diff| %lld/255, %.4f%% within 2/255\n", name, fr.n, fr.w, fr.h,
            (long long)maxd, 100.0 * frac);
    CHECKF(frac >= 0.999, "%s: only %.4f%% of samples within 2/255", name, 100.0 * frac);
    proto_frames_t pf = { 0 };
    CHECK(wrk_pipe_to_proto(&fr, 7, &pf, err, sizeof err) == 0 && pf.first == 7 && pf.n == fr.n);
    int premul_ok = 1;
    for (int64_t i = 0; pf.px && i < n; i += 4)
        for (int k = 0; k < 3; k++) premul_ok &= pf.px[i + k] <= pf.px[i + 3];
    CHECK(premul_ok);
    proto_frames_free(&pf);
    free(want);
    wrk_pipe_frames_free(&fr);
    wrk_pipe_noise_free(&nz);
}

static void test_parity_f9(void) { parity_case("f9"); }
static void test_parity_f5(void) { parity_case("f5"); }

static int render_seeded(uint32_t window, wrk_pipe_frames_t *fr)
{
    pcase_t c;
    wrk_pipe_req_t q;
    char err[1024];
    int cls;
    if (read_case("f5", &c)) return -1;
    req_for(&c, &q);
    q.seed = 1234; q.window = window; q.steps = 4;
    int rc = wrk_pipe_render(g_pipe, &q, fr, &cls, err, sizeof err);
    if (rc) fprintf(stderr, "  render: %s\n", err);
    return rc;
}

static void test_determinism(void)
{
    wrk_pipe_frames_t a, b, c;
    CHECK(render_seeded(3, &a) == 0);
    CHECK(render_seeded(3, &b) == 0);
    CHECK(render_seeded(4, &c) == 0);
    size_t n = (size_t)a.n * a.h * a.w * 4 * sizeof(float);
    CHECK(a.rgba && b.rgba && memcmp(a.rgba, b.rgba, n) == 0);   /* same (seed, window): same bits */
    CHECK(a.rgba && c.rgba && memcmp(a.rgba, c.rgba, n) != 0);   /* another window: other noise */
    wrk_pipe_frames_free(&a); wrk_pipe_frames_free(&b); wrk_pipe_frames_free(&c);
}

static atomic_int g_cancel;
static void cancel_after_two(void *ctx, int done, int total)
{
    g_progress_calls++;
    if (done >= 2) atomic_store(&g_cancel, 1);
}

static void test_cancel_and_window_errors(void)
{
    pcase_t c;
    wrk_pipe_req_t q;
    wrk_pipe_frames_t fr;
    char err[1024];
    int cls = -1;
    CHECK(read_case("f9", &c) == 0);
    req_for(&c, &q);
    atomic_store(&g_cancel, 0);
    q.cancel = &g_cancel; q.progress = cancel_after_two; g_progress_calls = 0;
    CHECK(wrk_pipe_render(g_pipe, &q, &fr, &cls, err, sizeof err) == WRK_PIPE_CANCELLED);
    CHECK_EQ_INT(g_progress_calls, 2);                  /* stopped right after step 2 */
    req_for(&c, &q);
    q.frames = 10;                                      /* 3 latents decode to 9 < 10 */
    CHECK(wrk_pipe_render(g_pipe, &q, &fr, &cls, err, sizeof err) == WRK_PIPE_FAILED && cls == PROTO_FAIL_WINDOW);
    CHECKF(strstr(err, "1+4k") != NULL, "%s", err);
    req_for(&c, &q);
    q.width = 40;                                       /* not a multiple of 16 */
    CHECK(wrk_pipe_render(g_pipe, &q, &fr, &cls, err, sizeof err) == WRK_PIPE_FAILED && cls == PROTO_FAIL_WINDOW);
    CHECKF(strstr(err, "multiples of 16") != NULL, "%s", err);
}

int main(void)
{
    wrk_pipe_opts_t o;
    char err[2048];
    wrk_pipe_opts_default(&o);
    o.lora_path = GOLD "/lora.safetensors";
    o.threads = 2;
    if (wrk_pipe_load(GOLD "/model", &o, &g_pipe, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    CHECK(wrk_pipe_rgba(g_pipe) == 1);
    T_RUN(test_parity_f9);
    T_RUN(test_parity_f5);
    T_RUN(test_determinism);
    T_RUN(test_cancel_and_window_errors);
    wrk_pipe_destroy(&g_pipe);
    CHECK(g_pipe == NULL);
    T_DONE();
}
