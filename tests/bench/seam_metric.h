/* seam_metric.h — the seam metric of issue #8, as pure functions over decoded frames (header-only:
 * tests/bench/bench_seam_metric.c runs it on an output sequence, tests/unit/test_seam_metric.c checks it).
 *
 * Frames are premultiplied RGBA floats in [0, 1], (n_frames, h·w·4). Windows are the shot's temporal
 * windows (first frame, length), sorted. For the seam between windows k and k+1:
 *   seam pair   = (c − 1, c), c = the middle of their overlap (first_{k+1} + ceil(O/2)), where a crossfade
 *                 crosses 50 %; c = first_{k+1} when they do not overlap;
 *   across      = mean |frame_c − frame_{c−1}| over the pixels, colour (premultiplied RGB) and alpha apart;
 *   inside      = the mean of the same change over every neighbouring pair inside the two windows that is
 *                 not the seam pair of any seam (the footage's own motion; with long overlaps most frames
 *                 are in two windows, so overlap frames count too);
 *   ratio       = across / inside (1 = the seam moves like the footage; > 1 = a visible jump).
 *   band max    = the largest pair change anywhere from the start to the end of the overlap, / inside
 *                 (catches a crossfade that smears the jump over the overlap);
 *   band min    = the smallest one, / inside (catches a stall: the join freezes the footage, which
 *                 the ratio, a test for jumps, passes).
 * When inside is 0 (static footage) the ratio is 1 if across is 0 too, else +inf.
 *   own (footage control, seam_own) = the mean of the two windows' OWN changes at the seam pair (each
 *                 window's render covers it), / the same inside: what the seam pair would measure if
 *                 the footage moved like either window there without any join (≈ ratio: no seam added).
 * Not here: reading files (the bench program), choosing windows (coordinator/windows.h).
 */
#ifndef TESTS_BENCH_SEAM_METRIC_H
#define TESTS_BENCH_SEAM_METRIC_H
#include <math.h>
#include <stdint.h>

typedef struct { int first, n; } seam_span_t;
typedef struct {
    int frame;                      /* c: the seam pair is (c - 1, c) */
    double across[2], inside[2];    /* [0] colour, [1] alpha */
    double ratio[2], band_max[2], band_min[2];
} seam_result_t;

/* Mean |a − b| of colour (channels 0..2) and alpha (channel 3) over px pixels. */
static inline void seam_pair_change(const float *a, const float *b, int64_t px, double out[2])
{
    double c = 0, al = 0;
    for (int64_t i = 0; i < px; i++) {
        c += fabs((double)a[4 * i] - b[4 * i]) + fabs((double)a[4 * i + 1] - b[4 * i + 1]) +
             fabs((double)a[4 * i + 2] - b[4 * i + 2]);
        al += fabs((double)a[4 * i + 3] - b[4 * i + 3]);
    }
    out[0] = px ? c / (3.0 * (double)px) : 0;
    out[1] = px ? al / (double)px : 0;
}

/* The seam frame c of seam k (pair (c − 1, c)): the middle of the overlap of windows k and k+1. */
static inline int seam_frame(const seam_span_t *w, int k)
{
    int end_k = w[k].first + w[k].n, first = w[k + 1].first;
    int ov = end_k > first ? end_k - first : 0;
    return first + (ov + 1) / 2;
}

/* 1 when (f − 1, f) is the seam pair of some seam. */
static inline int seam_is_pair(const seam_span_t *w, int nw, int f)
{
    for (int k = 0; k + 1 < nw; k++)
        if (seam_frame(w, k) == f) return 1;
    return 0;
}

static inline double seam_ratio(double across, double inside)
{
    if (inside > 0) return across / inside;
    return across > 0 ? INFINITY : 1.0;
}

/* Seam k (between windows k and k+1) of frames (n_frames, px·4). 0 ok, -1 when the windows or the
 * frame count do not fit. */
static inline int seam_measure(const float *frames, int n_frames, int64_t px, const seam_span_t *w,
                               int nw, int k, seam_result_t *r)
{
    if (k < 0 || k + 1 >= nw) return -1;
    int end_k = w[k].first + w[k].n, first = w[k + 1].first, c = seam_frame(w, k);
    if (c < 1 || c >= n_frames || w[k + 1].first + w[k + 1].n > n_frames) return -1;
    const int64_t fs = px * 4;
    double sum[2] = { 0, 0 }, d[2];
    int pairs = 0;
    int lo_f = w[k].first + 1, hi_f = w[k + 1].first + w[k + 1].n;   /* pairs (f − 1, f) in the union */
    for (int f = lo_f; f < hi_f; f++)
        if (!seam_is_pair(w, nw, f)) {
            seam_pair_change(frames + (int64_t)(f - 1) * fs, frames + (int64_t)f * fs, px, d);
            sum[0] += d[0]; sum[1] += d[1]; pairs++;
        }
    r->frame = c;
    seam_pair_change(frames + (int64_t)(c - 1) * fs, frames + (int64_t)c * fs, px, r->across);
    for (int i = 0; i < 2; i++) {
        r->inside[i] = pairs ? sum[i] / pairs : 0;
        r->ratio[i] = seam_ratio(r->across[i], r->inside[i]);
        r->band_max[i] = r->band_min[i] = r->ratio[i];
    }
    int lo = first > 1 ? first : 1, hi = end_k > first ? end_k : first + 1;
    for (int f = lo; f <= hi && f < n_frames; f++) {
        seam_pair_change(frames + (int64_t)(f - 1) * fs, frames + (int64_t)f * fs, px, d);
        for (int i = 0; i < 2; i++) {
            double q = seam_ratio(d[i], r->inside[i]);
            if (q > r->band_max[i]) r->band_max[i] = q;
            if (q < r->band_min[i]) r->band_min[i] = q;
        }
    }
    return 0;
}

/* The footage control of a seam: a0, a1 = window k's own frames c − 1 and c, b0, b1 = window k+1's
 * (px·4 floats each); inside from seam_measure. own[0] colour, own[1] alpha. */
static inline void seam_own(const float *a0, const float *a1, const float *b0, const float *b1, int64_t px,
                            const double inside[2], double own[2])
{
    double da[2], db[2];
    seam_pair_change(a0, a1, px, da);
    seam_pair_change(b0, b1, px, db);
    for (int i = 0; i < 2; i++) own[i] = seam_ratio((da[i] + db[i]) / 2, inside[i]);
}

#endif
