/* test_worker_testcard.c — the testcard engine is deterministic from (seed, frame index), draws
 * premultiplied RGBA with transparent, translucent and opaque regions, moves, and overlapping
 * windows rendered through the engine table agree exactly. */
#include "tests/test.h"
#include "worker/engine.h"
#include "worker/testcard.h"

#include <stdint.h>

#define W 96
#define H 64

static uint16_t *frame(uint64_t seed, int idx)
{
    uint16_t *px = malloc((size_t)W * H * 4 * sizeof *px);
    char err[128];
    CHECK(wrk_testcard_frame(seed, idx, W, H, px, err, sizeof err) == 0);
    return px;
}

static void test_deterministic(void)
{
    uint16_t *a = frame(42, 7), *b = frame(42, 7), *c = frame(43, 7), *d = frame(42, 8);
    size_t bytes = (size_t)W * H * 4 * sizeof *a;
    CHECK(memcmp(a, b, bytes) == 0);
    CHECK(memcmp(a, c, bytes) != 0);     /* seed changes the picture */
    CHECK(memcmp(a, d, bytes) != 0);     /* shapes move from frame to frame */
    free(a); free(b); free(c); free(d);
}

static void test_alpha_content(void)
{
    long transparent = 0, partial = 0, opaque = 0, bad_premul = 0;
    for (int idx = 0; idx < 20; idx++) {
        uint16_t *p = frame(1234, idx);
        for (size_t i = 0; i < (size_t)W * H; i++) {
            uint16_t *q = p + 4 * i;
            if (q[3] == 0) transparent++; else if (q[3] == 65535) opaque++; else partial++;
            if (q[0] > q[3] || q[1] > q[3] || q[2] > q[3]) bad_premul++;
        }
        free(p);
    }
    CHECK(transparent > 0 && partial > 0 && opaque > 0);
    CHECK_EQ_INT(bad_premul, 0);
    char err[64];
    CHECK(wrk_testcard_frame(1, -1, W, H, (uint16_t[4]){0}, err, sizeof err) == -1);
    CHECK(wrk_testcard_frame(1, 0, 0, H, (uint16_t[4]){0}, err, sizeof err) == -1);
}

static void progress(void *ctx, int done, int total) { (void)total; *(int *)ctx = done; }

static int render(const char *shot, unsigned win, unsigned first, unsigned n, const wrk_testcard_opts_t *tc,
                  proto_frames_t *f, int *last)
{
    proto_msg_t a;
    proto_msg_init(&a, PROTO_ASSIGN);
    snprintf(a.shot, sizeof a.shot, "%s", shot);
    a.window_index = win; a.first_frame = first; a.n_frames = n; a.width = W; a.height = H; a.seed = 99;
    atomic_int cancel = 0, silent = 0;
    wrk_render_t r = { &a, tc, &cancel, &silent, progress, last };
    int cls = -1;
    char err[256] = "";
    const wrk_engine_t *e = wrk_engine_find("testcard");
    int rc = e->render(&r, f, &cls, err, sizeof err);
    if (rc == WRK_RENDER_FAILED) CHECK(cls == PROTO_FAIL_WINDOW && strstr(err, "--testcard-fail"));
    return rc;
}

static void test_engine_windows_agree(void)
{
    wrk_testcard_opts_t tc = { 0 };
    proto_frames_t a = { 0 }, b = { 0 };
    int last = 0;
    CHECK(render("s1", 0, 0, 9, &tc, &a, &last) == WRK_RENDER_OK && last == 9);
    CHECK(render("s1", 1, 5, 9, &tc, &b, &last) == WRK_RENDER_OK);
    size_t fb = (size_t)W * H * 4 * sizeof(uint16_t);
    for (int k = 0; k < 4; k++)      /* shot frames 5..8 are in both windows */
        CHECKF(memcmp(proto_frame(&a, 5 + k), proto_frame(&b, k), fb) == 0, "frame %d differs", 5 + k);
    CHECK(a.first == 0 && b.first == 5 && b.n == 9);
    proto_frames_free(&a); proto_frames_free(&b);
    snprintf(tc.fail, sizeof tc.fail, "other:0,s1:1");
    CHECK(render("s1", 1, 5, 9, &tc, &b, &last) == WRK_RENDER_FAILED);
    CHECK(render("s1", 0, 0, 9, &tc, &a, &last) == WRK_RENDER_OK);
    proto_frames_free(&a);
}

static void test_engine_table(void)
{
    char adv[64];
    wrk_engines_usable("", adv, sizeof adv);
    CHECK_STR(adv, "testcard,dit");                 /* both engines are built in and usable */
    wrk_engines_usable("testcard", adv, sizeof adv);
    CHECK_STR(adv, "testcard");                     /* --engines restricts what is advertised */
    const wrk_engine_t *d = wrk_engine_find("dit");
    CHECK(d && d->unavailable == NULL);
    CHECK(wrk_engine_find("nope") == NULL);
    CHECK(wrk_window_listed("*:*", "any", 7) && wrk_window_listed("b:*", "b", 9) && !wrk_window_listed("b:*", "c", 9));
    CHECK(wrk_window_listed("a:1,*:3", "zz", 3) && wrk_window_listed("a:1", "a", 1) && !wrk_window_listed("a:1", "a", 2));
}

int main(void)
{
    T_RUN(test_deterministic);
    T_RUN(test_alpha_content);
    T_RUN(test_engine_windows_agree);
    T_RUN(test_engine_table);
    T_DONE();
}
