/* test_stitch.c — the shot stitcher: windows cut from one synthetic video stitch back to it exactly;
 * weights sum to one and ramp smoothly; equal colour at different alpha blends without a fringe;
 * 1-window, many-window and overlap-0 shots; layouts with gaps/unsorted/mismatched windows refused. */
#include "tests/test.h"
#include "coordinator/assemble/stitch.h"

#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

enum { W = 9, H = 7 };
static char dir[] = "/tmp/test_stitch_XXXXXX";
static char err[512];

/* A smooth premultiplied synthetic video: frame t, pixel (x, y). */
static void synth(uint16_t *px, int t)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint16_t *p = px + (y * W + x) * 4;
            uint32_t a = (uint32_t)(8000 + 6000 * x + 900 * y + 37 * t) % 65536;
            p[3] = (uint16_t)a;
            p[0] = (uint16_t)(a * ((x * 7000 + t * 300) % 65536) / 65535);
            p[1] = (uint16_t)(a * ((y * 9000 + t * 11) % 65536) / 65535);
            p[2] = (uint16_t)(a / 2);
        }
}

/* Cuts frames [first, first+n) of the synthetic video into an artifact. */
static int cut(int first, int n, char *path, proto_manifest_t *m)
{
    proto_frames_t f;
    snprintf(path, 512, "%s/w%05d_%d.rgba", dir, first, n);
    if (proto_frames_alloc(&f, W, H, n, first, err, sizeof err) < 0) return -1;
    for (int i = 0; i < n; i++) synth(proto_frame(&f, i), first + i);
    int rc = proto_artifact_write(path, &f, m, err, sizeof err);
    proto_frames_free(&f);
    return rc;
}

/* Windows of length win with overlap ov over frames (last window clipped), stitched vs the video. */
static void cut_and_stitch(int frames, int win, int ov)
{
    static char paths[400][512]; static const char *pp[400]; static proto_manifest_t m[400];
    int nw = 0;
    for (int s = 0; ; s += win - ov) {
        int n = frames - s < win ? frames - s : win;
        CHECK(cut(s, n, paths[nw], &m[nw]) == 0);
        pp[nw] = paths[nw]; nw++;
        if (s + n >= frames || nw == 400) break;
    }
    coord_stitch_t *st;
    CHECKF(coord_stitch_open(&st, frames, W, H, nw, pp, m, err, sizeof err) == 0, "%s", err);
    if (!st) return;
    uint16_t got[W * H * 4], want[W * H * 4];
    int bad = 0;
    for (int t = 0; t < frames; t++) {
        CHECK(coord_stitch_frame(st, t, got, err, sizeof err) == 0);
        synth(want, t);
        if (memcmp(got, want, sizeof got)) bad++;
    }
    CHECKF(bad == 0, "frames=%d win=%d ov=%d: %d frames differ", frames, win, ov, bad);
    CHECK(coord_stitch_frame(st, frames, got, err, sizeof err) == -1);
    coord_stitch_close(&st);
    CHECK(st == NULL);
    for (int k = 0; k < nw; k++) unlink(paths[k]);
}

static void exact_where_agree(void)
{
    cut_and_stitch(49, 49, 8);      /* one window */
    cut_and_stitch(30, 100, 8);     /* one window longer than... clipped to the shot */
    cut_and_stitch(100, 17, 0);     /* overlap 0 */
    cut_and_stitch(100, 17, 8);     /* many windows */
    cut_and_stitch(60, 13, 12);     /* every frame in many windows */
    cut_and_stitch(1, 1, 0);
    /* 300 windows with only 40 file descriptors: windows are opened only while they are needed */
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old; lim.rlim_cur = 40;
    setrlimit(RLIMIT_NOFILE, &lim);
    cut_and_stitch(601, 3, 1);
    setrlimit(RLIMIT_NOFILE, &old);
}

static void weights_sum_to_one(void)
{
    static const struct { int nwin, first[6], n[6], frames; } L[] = {
        { 2, { 0, 41 }, { 49, 49 }, 90 },
        { 3, { 0, 10, 20 }, { 30, 30, 30 }, 50 },          /* triple overlaps */
        { 4, { 0, 5, 9, 30 }, { 10, 20, 24, 5 }, 35 },     /* irregular */
        { 3, { 0, 17, 34 }, { 17, 17, 17 }, 51 },          /* overlap 0 */
    };
    for (size_t c = 0; c < sizeof L / sizeof *L; c++) {
        CHECK(coord_stitch_check_layout(L[c].frames, L[c].nwin, L[c].first, L[c].n, err, sizeof err) == 0);
        double prev[6] = { 0 };
        for (int t = 0; t < L[c].frames; t++) {
            double w[6], sum = 0;
            coord_stitch_weights(L[c].nwin, L[c].first, L[c].n, t, w);
            for (int k = 0; k < L[c].nwin; k++) {
                sum += w[k];
                CHECK(w[k] >= 0 && w[k] <= 1);
                if (t < L[c].first[k] || t >= L[c].first[k] + L[c].n[k]) CHECK(w[k] == 0);
                if (t > 0 && w[k] > 0 && prev[k] > 0) CHECKF(fabs(w[k] - prev[k]) < 0.5, "jump at t=%d", t);
                prev[k] = w[k];
            }
            CHECKF(fabs(sum - 1) < 1e-12, "layout %zu t=%d sum=%.17g", c, t, sum);
        }
    }
    /* two windows overlapping by 8: the later one's weight rises monotonically and symmetrically */
    int first[2] = { 0, 41 }, n[2] = { 49, 49 };
    double w[2], last = 0;
    for (int t = 41; t < 49; t++) {
        coord_stitch_weights(2, first, n, t, w);
        CHECK(w[1] > last && w[1] < 1);
        last = w[1];
        double m[2]; coord_stitch_weights(2, first, n, 41 + 48 - t, m);
        CHECK(fabs(w[1] - m[0]) < 1e-12);
    }
}

/* Window A is colour C at alpha 0.9, window B the same colour at alpha 0.3: in the overlap the
 * blended straight colour must still be C (blending straight RGBA would darken/lighten it). */
static void no_fringe(void)
{
    static const uint16_t C[3] = { 60000, 20000, 3000 };
    static const uint16_t A[2] = { 58982, 19661 };
    char paths[2][512]; const char *pp[2] = { paths[0], paths[1] }; proto_manifest_t m[2];
    for (int k = 0; k < 2; k++) {
        proto_frames_t f;
        proto_frames_alloc(&f, W, H, 20, k * 12, err, sizeof err);
        for (size_t i = 0; i < (size_t)20 * W * H; i++) {
            for (int c = 0; c < 3; c++) f.px[4 * i + c] = (uint16_t)(((uint32_t)C[c] * A[k] + 32767) / 65535);
            f.px[4 * i + 3] = A[k];
        }
        snprintf(paths[k], 512, "%s/fringe%d.rgba", dir, k);
        CHECK(proto_artifact_write(paths[k], &f, &m[k], err, sizeof err) == 0);
        proto_frames_free(&f);
    }
    coord_stitch_t *st;
    CHECKF(coord_stitch_open(&st, 32, W, H, 2, pp, m, err, sizeof err) == 0, "%s", err);
    if (!st) return;
    uint16_t px[W * H * 4];
    double worst = 0; int mid_alpha = 0;
    for (int t = 0; t < 32; t++) {
        CHECK(coord_stitch_frame(st, t, px, err, sizeof err) == 0);
        double a = px[3];
        for (int c = 0; c < 3; c++) worst = fmax(worst, fabs(px[c] * 65535.0 / a - C[c]));
        if (px[3] > A[1] && px[3] < A[0]) mid_alpha++;
    }
    CHECKF(worst <= 4.0, "straight colour drifts by %.2f / 65535", worst);
    CHECK(mid_alpha >= 6);                      /* alpha itself crossfades */
    coord_stitch_close(&st);
    unlink(paths[0]); unlink(paths[1]);
}

static void bad_layouts(void)
{
    int f1[2] = { 0, 12 }, n1[2] = { 10, 10 };          /* gap [10, 12) */
    CHECK(coord_stitch_check_layout(22, 2, f1, n1, err, sizeof err) == -1);
    CHECKF(strstr(err, "[10, 12)") != NULL, "%s", err);
    int f2[2] = { 5, 0 }, n2[2] = { 10, 10 };           /* unsorted */
    CHECK(coord_stitch_check_layout(15, 2, f2, n2, err, sizeof err) == -1);
    int f3[2] = { 0, 5 }, n3[2] = { 10, 10 };           /* short of frames */
    CHECK(coord_stitch_check_layout(20, 2, f3, n3, err, sizeof err) == -1);
    CHECK(coord_stitch_check_layout(12, 2, f3, n3, err, sizeof err) == -1);   /* beyond frames */
    int f4[2] = { 0, 2 }, n4[2] = { 10, 5 };            /* contained */
    CHECK(coord_stitch_check_layout(10, 2, f4, n4, err, sizeof err) == -1);
    int f5[1] = { 1 }, n5[1] = { 10 };                  /* doesn't start at 0 */
    CHECK(coord_stitch_check_layout(11, 1, f5, n5, err, sizeof err) == -1);
    /* artifact disagrees with its manifest / with the shot size */
    char path[512]; proto_manifest_t m; const char *pp[1] = { path };
    CHECK(cut(0, 5, path, &m) == 0);
    coord_stitch_t *st;
    proto_manifest_t lie = m; lie.n = 6;
    CHECK(coord_stitch_open(&st, 6, W, H, 1, pp, &lie, err, sizeof err) == -1);
    CHECK(st == NULL);
    CHECK(coord_stitch_open(&st, 5, W + 1, H, 1, pp, &m, err, sizeof err) == -1);
    CHECKF(strstr(err, "the shot is") != NULL, "%s", err);
    unlink(path);
    CHECK(coord_stitch_open(&st, 5, W, H, 1, pp, &m, err, sizeof err) == -1);      /* file gone */
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    T_RUN(exact_where_agree);
    T_RUN(weights_sum_to_one);
    T_RUN(no_fringe);
    T_RUN(bad_layouts);
    rmdir(dir);
    T_DONE();
}
