/* pixconv.h — conversions between the stitcher's premultiplied RGBA16 frames and the pixel formats
 * of the output codecs, in both directions (encode, and decode-back for verification).
 *
 * One table row per libav pixel format: a writer (premultiplied RGBA16 -> AVFrame, un-premultiplying
 * for straight formats), a reader (decoded AVFrame -> straight RGBA16, or premultiplied float for
 * float formats) and the bit depths the verifier quantises to. YUV uses BT.709 coefficients in
 * limited ("video") range, alpha full range; 4:2:0 chroma is the alpha-weighted 2x2 average so
 * transparent pixels do not bleed black into edges. Not here: scaling, other matrices, HDR.
 */
#ifndef COORD_PIXCONV_H
#define COORD_PIXCONV_H
#include <stddef.h>
#include <stdint.h>
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>

typedef struct {
    enum AVPixelFormat fmt;
    int color_bits, alpha_bits;    /* stored depth of colour and alpha samples */
    int yuv;                       /* 1: Y'CbCr BT.709 limited range; 0: RGB full range */
    int is_float;                  /* 1: reader yields premultiplied float instead of straight u16 */
    /* premul: (h, w, 4) u16 premultiplied -> f (allocated by the caller with fmt, w, h) */
    void (*put)(const uint16_t *premul, AVFrame *f);
    /* f -> straight (h, w, 4) u16, or for float formats premul_f (h, w, 4) float in [0, 1] */
    void (*get)(const AVFrame *f, uint16_t *straight, float *premul_f);
} coord_pixfmt_t;

/* Row for fmt, or NULL when the farm cannot write/read it. */
const coord_pixfmt_t *coord_pixfmt(enum AVPixelFormat fmt);

/* Straight from premultiplied, one sample: round(c * 65535 / a), clamped; 0 where a == 0.
 * inv = coord_unpremul_inv(a) once per pixel. Writers and the verifier share this exact rounding. */
static inline uint64_t coord_unpremul_inv(uint32_t a)
{ return a == 65535 ? 65536 : (a ? ((65535ull << 16) + a / 2) / a : 0); }   /* opaque: no division */
static inline uint16_t coord_unpremul(uint32_t c, uint64_t inv)
{ uint64_t s = (c * inv + 32768) >> 16; return (uint16_t)(s > 65535 ? 65535 : s); }
/* (npx, 4) premultiplied -> straight */
void coord_unpremultiply(const uint16_t *premul, uint16_t *straight, size_t npx);

/* Quantise a 16-bit sample to `bits` and expand back to 16 bits (the value a lossless codec of that
 * depth must return). */
static inline uint16_t coord_requant(uint32_t v, int bits)
{
    uint32_t mx = (1u << bits) - 1, q = (v * mx + 32767) / 65535;
    return (uint16_t)((q * 65535 + mx / 2) / mx);
}

/* BT.709 limited range, exposed for tests: straight RGB in [0,1] -> Y'CbCr code values at `bits`,
 * and back. */
void coord_rgb_to_yuv709(double r, double g, double b, int bits, double *y, double *cb, double *cr);
void coord_yuv709_to_rgb(double y, double cb, double cr, int bits, double *r, double *g, double *b);

#endif
