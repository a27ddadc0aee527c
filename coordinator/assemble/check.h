/* check.h — the decode-back comparison of one output against the stitched reference frames.
 *
 * EXACT formats: every sample of the decoded frame equals the reference quantised to the depth the
 * decoded pixel format stores. HALF (OpenEXR): premultiplied float within one half-float step.
 * LOSSY: colour PSNR, alpha-weighted (colour under fully transparent pixels is invisible and not
 * counted), and alpha PSNR or exact alpha; the verdict uses the WORST frame, not the average.
 */
#ifndef COORD_CHECK_H
#define COORD_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include "coordinator/assemble/formats.h"
#include "coordinator/assemble/pixconv.h"

typedef struct {
    int frames;
    int color_bits, alpha_bits;      /* depths exactness was judged at (last frame) */
    int is_float;
    long mismatches;                 /* EXACT/HALF: samples off; LOSSY with exact alpha: alpha samples off */
    int first_bad_frame;             /* -1 if none */
    double worst_psnr_color, worst_psnr_alpha;
    int worst_color_frame, worst_alpha_frame;
    double sse_color, wsum_color, sse_alpha, n_alpha;   /* whole-shot totals */
} coord_check_stats_t;

void coord_check_init(coord_check_stats_t *s);
/* Compares decoded frame t with the reference. ref_premul/ref_straight: (h, w, 4) u16; exactly one
 * of dec_straight (u16) / dec_float (premultiplied float, for float formats) is used per pf->is_float.
 * pf is the DECODED pixel format; exactness is judged at the smaller of its depth and the depth the
 * encoder was fed (fmt->pix_fmt): e.g. ProRes is fed 10-bit alpha and decodes it as 12-bit. */
void coord_check_frame(const coord_format_t *fmt, const coord_pixfmt_t *pf, int t, int w, int h,
                       const uint16_t *ref_premul, const uint16_t *ref_straight,
                       const uint16_t *dec_straight, const float *dec_float, coord_check_stats_t *s);
/* 0 if the format's thresholds hold, -1 with err giving the measured figure and the bound. */
int  coord_check_verdict(const coord_format_t *fmt, const coord_check_stats_t *s, char *err, size_t errlen);
/* One-line description of the result (for logs and coord_assembly_result_t.summary). */
void coord_check_summary(const coord_format_t *fmt, const coord_check_stats_t *s, char *buf, size_t len);
/* Whole-shot PSNR figures (inf when there was no error), for logs and the benchmark. */
double coord_check_psnr_color(const coord_check_stats_t *s);
double coord_check_psnr_alpha(const coord_check_stats_t *s);

#endif
