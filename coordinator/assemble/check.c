/* check.c — decode-back comparison (see check.h). */
#include "coordinator/assemble/check.h"

#include <math.h>
#include <stdio.h>

static double psnr(double sse, double n) { return sse <= 0 || n <= 0 ? INFINITY : 10 * log10(n / sse); }

void coord_check_init(coord_check_stats_t *s)
{
    *s = (coord_check_stats_t){ .first_bad_frame = -1, .worst_psnr_color = INFINITY,
                                .worst_psnr_alpha = INFINITY, .worst_color_frame = -1, .worst_alpha_frame = -1 };
}

static void note_bad(coord_check_stats_t *s, int t, long bad)
{
    s->mismatches += bad;
    if (bad && s->first_bad_frame < 0) s->first_bad_frame = t;
}

static inline uint32_t quant(uint32_t v, int bits) { uint32_t mx = (1u << bits) - 1; return (v * mx + 32767) / 65535; }

static void check_exact(int t, size_t npx, const uint16_t *ref, const uint16_t *dec, coord_check_stats_t *s)
{
    long bad = 0;
    for (size_t i = 0; i < npx; i++)
        for (int c = 0; c < 4; c++) {
            int b = c == 3 ? s->alpha_bits : s->color_bits;
            bad += quant(dec[4 * i + c], b) != quant(ref[4 * i + c], b);
        }
    note_bad(s, t, bad);
}

/* One half-float step at v (normal range: 2^(e-10); subnormal: 2^-24). */
static double half_step(double v)
{
    int e;
    v = fabs(v);
    if (v < 6.103515625e-05) return 5.9604644775390625e-08;
    frexp(v, &e);
    return ldexp(1.0, e - 11);
}

static void check_half(int t, size_t npx, const uint16_t *ref_premul, const float *dec, coord_check_stats_t *s)
{
    long bad = 0;
    for (size_t i = 0; i < 4 * npx; i++) {
        double want = ref_premul[i] / 65535.0;
        bad += !(fabs(dec[i] - want) <= half_step(want));
    }
    note_bad(s, t, bad);
}

static void check_lossy(const coord_format_t *fmt, int t, size_t npx,
                        const uint16_t *ref, const uint16_t *dec, coord_check_stats_t *s)
{
    double sse_c = 0, wsum = 0, sse_a = 0;
    long bad = 0;
    for (size_t i = 0; i < npx; i++) {
        const uint16_t *r = ref + 4 * i, *d = dec + 4 * i;
        double a = r[3] / 65535.0, da = (d[3] - (double)r[3]) / 65535.0;
        for (int c = 0; c < 3; c++) {
            double dc = (d[c] - (double)r[c]) / 65535.0;
            sse_c += a * dc * dc;
        }
        wsum += 3 * a;
        sse_a += da * da;
        if (fmt->min_psnr_alpha < 0) bad += quant(d[3], s->alpha_bits) != quant(r[3], s->alpha_bits);
    }
    double pc = psnr(sse_c, wsum), pa = psnr(sse_a, (double)npx);
    if (pc < s->worst_psnr_color) { s->worst_psnr_color = pc; s->worst_color_frame = t; }
    if (pa < s->worst_psnr_alpha) { s->worst_psnr_alpha = pa; s->worst_alpha_frame = t; }
    s->sse_color += sse_c; s->wsum_color += wsum; s->sse_alpha += sse_a; s->n_alpha += (double)npx;
    note_bad(s, t, bad);
}

void coord_check_frame(const coord_format_t *fmt, const coord_pixfmt_t *pf, int t, int w, int h,
                       const uint16_t *ref_premul, const uint16_t *ref_straight,
                       const uint16_t *dec_straight, const float *dec_float, coord_check_stats_t *s)
{
    size_t npx = (size_t)w * (size_t)h;
    const coord_pixfmt_t *enc = coord_pixfmt(fmt->pix_fmt);
    s->frames++;
    s->color_bits = enc && enc->color_bits < pf->color_bits ? enc->color_bits : pf->color_bits;
    s->alpha_bits = enc && enc->alpha_bits < pf->alpha_bits ? enc->alpha_bits : pf->alpha_bits;
    s->is_float = pf->is_float;
    if (pf->is_float) check_half(t, npx, ref_premul, dec_float, s);
    else if (fmt->check == COORD_CHECK_LOSSY) check_lossy(fmt, t, npx, ref_straight, dec_straight, s);
    else check_exact(t, npx, ref_straight, dec_straight, s);
}

double coord_check_psnr_color(const coord_check_stats_t *s) { return psnr(s->sse_color, s->wsum_color); }
double coord_check_psnr_alpha(const coord_check_stats_t *s) { return psnr(s->sse_alpha, s->n_alpha); }

int coord_check_verdict(const coord_format_t *fmt, const coord_check_stats_t *s, char *err, size_t errlen)
{
    if (fmt->check != COORD_CHECK_LOSSY || s->is_float) {
        if (s->mismatches == 0) return 0;
        snprintf(err, errlen, "%s: decoded pixels differ from the stitched frames (%ld samples, first in frame %d)%s",
                 fmt->name, s->mismatches, s->first_bad_frame, s->is_float ? " beyond one half-float step" : "");
        return -1;
    }
    if (s->worst_psnr_color < fmt->min_psnr_color) {
        snprintf(err, errlen, "%s: colour PSNR %.2f dB in frame %d is below %.1f dB", fmt->name,
                 s->worst_psnr_color, s->worst_color_frame, fmt->min_psnr_color);
        return -1;
    }
    if (fmt->min_psnr_alpha < 0 && s->mismatches) {
        snprintf(err, errlen, "%s: alpha not exact at %d bits (%ld samples differ, first in frame %d)",
                 fmt->name, s->alpha_bits, s->mismatches, s->first_bad_frame);
        return -1;
    }
    if (fmt->min_psnr_alpha >= 0 && s->worst_psnr_alpha < fmt->min_psnr_alpha) {
        snprintf(err, errlen, "%s: alpha PSNR %.2f dB in frame %d is below %.1f dB", fmt->name,
                 s->worst_psnr_alpha, s->worst_alpha_frame, fmt->min_psnr_alpha);
        return -1;
    }
    return 0;
}

void coord_check_summary(const coord_format_t *fmt, const coord_check_stats_t *s, char *buf, size_t len)
{
    if (s->is_float) snprintf(buf, len, "%d frames, premultiplied half float within one step", s->frames);
    else if (fmt->check != COORD_CHECK_LOSSY)
        snprintf(buf, len, "%d frames, exact (%d-bit colour, %d-bit alpha)", s->frames, s->color_bits, s->alpha_bits);
    else if (fmt->min_psnr_alpha < 0)
        snprintf(buf, len, "%d frames, colour PSNR %.2f dB (worst frame %.2f), alpha exact at %d bits",
                 s->frames, coord_check_psnr_color(s), s->worst_psnr_color, s->alpha_bits);
    else
        snprintf(buf, len, "%d frames, colour PSNR %.2f dB (worst frame %.2f), alpha PSNR %.2f dB (worst frame %.2f)",
                 s->frames, coord_check_psnr_color(s), s->worst_psnr_color, coord_check_psnr_alpha(s), s->worst_psnr_alpha);
}
