/* test_seam_metric.c — the seam metric (tests/bench/seam_metric.h) on synthetic sequences: smooth
 * motion through a seam gives ratio 1, a jump at the seam gives the jump's size over the motion, colour
 * and alpha are measured apart, the seam frame is the middle of the overlap, the inside motion skips the
 * seam pairs, the band maximum finds a
 * jump elsewhere in the overlap, bad windows are refused; the footage control (seam_own) equals the
 * ratio when the output moves like the windows, and stays at the footage's motion when the join jumps. */
#include "tests/test.h"
#include "tests/bench/seam_metric.h"
#include <stdlib.h>

enum { NF = 20, PX = 6 };

/* frame f: colour = v0 + step·f (premultiplied, alpha 1) plus jump after frame `at`; alpha constant */
static void make(float *fr, double step, int at, double jump, double ajump)
{
    for (int f = 0; f < NF; f++)
        for (int p = 0; p < PX; p++) {
            float *x = fr + ((size_t)f * PX + p) * 4;
            double v = 0.1 + step * f + (f >= at ? jump : 0);
            x[0] = x[1] = x[2] = (float)v;
            x[3] = (float)(0.5 + (f >= at ? ajump : 0));
        }
}

static void test_metric(void)
{
    float *fr = malloc(sizeof(float) * NF * PX * 4);
    const seam_span_t w[] = { { 0, 9 }, { 5, 9 }, { 11, 9 } };   /* overlaps [5,9) and [11,14) */
    seam_result_t r;
    make(fr, 0.01, 99, 0, 0);                                       /* smooth, no jump */
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    CHECK_EQ_INT(r.frame, 7);                                       /* 5 + ceil(4/2) */
    CHECKF(fabs(r.ratio[0] - 1) < 1e-4, "smooth colour ratio %g", r.ratio[0]);
    CHECKF(r.ratio[1] == 1.0, "static alpha ratio %g", r.ratio[1]);  /* 0/0 -> 1 */
    CHECK(seam_measure(fr, NF, PX, w, 3, 1, &r) == 0);
    CHECK_EQ_INT(r.frame, 13);                                      /* 11 + ceil(3/2) */
    make(fr, 0.01, 7, 0.05, 0.2);                                   /* jump at the seam pair (6,7) */
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    CHECKF(fabs(r.ratio[0] - 6) < 1e-3, "colour ratio %g, want (0.01+0.05)/0.01 = 6", r.ratio[0]);
    CHECKF(isinf(r.ratio[1]), "alpha jump over static alpha: %g", r.ratio[1]);
    CHECKF(fabs(r.across[1] - 0.2) < 1e-6, "alpha across %g", r.across[1]);
    make(fr, 0.01, 9, 0.03, 0);                                     /* jump at the end of the overlap */
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    /* inside: pairs f = 1..13 but the seam pairs 7 and 13: 10 of 0.01 and one of 0.04 */
    double in = (10 * 0.01 + 0.04) / 11;
    CHECKF(fabs(r.inside[0] - in) < 1e-6, "inside %g, want %g", r.inside[0], in);
    CHECKF(fabs(r.ratio[0] - 0.01 / in) < 1e-3, "seam pair unaffected: %g", r.ratio[0]);
    CHECKF(fabs(r.band_max[0] - 0.04 / in) < 1e-3, "band max %g, want %g", r.band_max[0], 0.04 / in);
    CHECKF(fabs(r.band_min[0] - 0.01 / in) < 1e-3, "band min %g, want %g", r.band_min[0], 0.01 / in);
    for (int p = 0; p < PX; p++)                                    /* a stall: frame 8 repeats frame 7 */
        for (int ch = 0; ch < 4; ch++) fr[((size_t)8 * PX + p) * 4 + ch] = fr[((size_t)7 * PX + p) * 4 + ch];
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    CHECKF(r.band_min[0] == 0 && r.ratio[0] < 1.3, "stall: band min %g (want 0), ratio %g passes", r.band_min[0],
           r.ratio[0]);
    CHECK(seam_measure(fr, NF, PX, w, 3, 2, &r) == -1);             /* no window after the last */
    const seam_span_t too_long[] = { { 0, 9 }, { 5, 30 } };
    CHECK(seam_measure(fr, NF, PX, too_long, 2, 0, &r) == -1);
    free(fr);
}

static void test_own(void)
{
    float *fr = malloc(sizeof(float) * NF * PX * 4), *win = malloc(sizeof(float) * NF * PX * 4);
    const seam_span_t w[] = { { 0, 9 }, { 5, 9 }, { 11, 9 } };
    const int64_t fs = PX * 4;
    seam_result_t r;
    double own[2];
    make(win, 0.01, 99, 0, 0);                    /* both windows' own renders: smooth motion */
    make(fr, 0.01, 7, 0.05, 0.2);                 /* the joined output jumps at the seam pair (6, 7) */
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    seam_own(win + 6 * fs, win + 7 * fs, win + 6 * fs, win + 7 * fs, PX, r.inside, own);
    CHECKF(fabs(own[0] - 0.01 / r.inside[0]) < 1e-6 && own[0] < r.ratio[0] - 4, "own %g vs ratio %g", own[0],
           r.ratio[0]);
    CHECKF(own[1] == 1.0, "static alpha, static windows: own %g", own[1]);
    make(fr, 0.01, 99, 0, 0);                     /* output = the windows' footage: own == ratio */
    CHECK(seam_measure(fr, NF, PX, w, 3, 0, &r) == 0);
    seam_own(fr + 6 * fs, fr + 7 * fs, fr + 6 * fs, fr + 7 * fs, PX, r.inside, own);
    CHECKF(fabs(own[0] - r.ratio[0]) < 1e-9, "own %g, ratio %g", own[0], r.ratio[0]);
    free(fr); free(win);
}

int main(void)
{
    T_RUN(test_metric);
    T_RUN(test_own);
    T_DONE();
}
