/* pixconv.c — premultiplied RGBA16 <-> codec pixel formats (see pixconv.h). Single-threaded on
 * purpose: the encoders already use every core through libavcodec's threads, farmd may assemble
 * several shots at once, and on a loaded 2-core machine an OpenMP team measured slower (qtrle at
 * 720x480: 18 fps with 2 OpenMP threads, 27-42 fps with 1). */
#include "coordinator/assemble/pixconv.h"

#include <math.h>
#include <string.h>

#define KR 0.2126
#define KB 0.0722
#define KG (1.0 - KR - KB)

/* ---- shared helpers ---- */

static inline uint32_t q8(uint32_t v) { return (v * 255u + 32767u) / 65535u; }
static inline uint32_t qbits(uint32_t v, uint32_t mx) { return (v * mx + 32767u) / 65535u; }
static inline uint16_t x16(uint32_t q, uint32_t mx) { return (uint16_t)((q * 65535u + mx / 2) / mx); }
static inline uint16_t *row16(const AVFrame *f, int p, int y) { return (uint16_t *)(f->data[p] + (size_t)y * f->linesize[p]); }
static inline uint8_t *row8(const AVFrame *f, int p, int y) { return f->data[p] + (size_t)y * f->linesize[p]; }
static inline float *rowf(const AVFrame *f, int p, int y) { return (float *)(f->data[p] + (size_t)y * f->linesize[p]); }
static inline int clampi(double v, int mx) { return v <= 0 ? 0 : (v >= mx ? mx : (int)(v + 0.5)); }

void coord_unpremultiply(const uint16_t *premul, uint16_t *straight, size_t npx)
{
    for (size_t i = 0; i < npx; i++) {
        const uint16_t *p = premul + 4 * i;
        uint64_t inv = coord_unpremul_inv(p[3]);
        for (int c = 0; c < 3; c++) straight[4 * i + c] = coord_unpremul(p[c], inv);
        straight[4 * i + 3] = p[3];
    }
}

/* ---- packed RGB writers/readers ---- */

/* order[k] = which RGBA channel goes to byte k */
static void put_packed8(const uint16_t *src, AVFrame *f, const int order[4])
{
    for (int y = 0; y < f->height; y++) {
        uint8_t *o = row8(f, 0, y);
        const uint16_t *p = src + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, p += 4, o += 4) {
            uint64_t inv = coord_unpremul_inv(p[3]);
            uint32_t v[4] = { q8(coord_unpremul(p[0], inv)), q8(coord_unpremul(p[1], inv)),
                              q8(coord_unpremul(p[2], inv)), q8(p[3]) };
            for (int k = 0; k < 4; k++) o[k] = (uint8_t)v[order[k]];
        }
    }
}
static const int ORD_RGBA[4] = { 0, 1, 2, 3 }, ORD_ARGB[4] = { 3, 0, 1, 2 };
static void put_rgba8(const uint16_t *s, AVFrame *f) { put_packed8(s, f, ORD_RGBA); }
static void put_argb8(const uint16_t *s, AVFrame *f) { put_packed8(s, f, ORD_ARGB); }

static void get_packed8(const AVFrame *f, uint16_t *dst, const int order[4])
{
    for (int y = 0; y < f->height; y++) {
        const uint8_t *i = row8(f, 0, y);
        uint16_t *d = dst + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, i += 4, d += 4)
            for (int k = 0; k < 4; k++) d[order[k]] = (uint16_t)(i[k] * 257u);
    }
}
static void get_rgba8(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_packed8(f, d, ORD_RGBA); }
static void get_argb8(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_packed8(f, d, ORD_ARGB); }

static void put_rgba64(const uint16_t *src, AVFrame *f, int big)
{
    for (int y = 0; y < f->height; y++) {
        uint8_t *o = row8(f, 0, y);
        const uint16_t *p = src + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, p += 4) {
            uint64_t inv = coord_unpremul_inv(p[3]);
            uint16_t v[4] = { coord_unpremul(p[0], inv), coord_unpremul(p[1], inv), coord_unpremul(p[2], inv), p[3] };
            for (int k = 0; k < 4; k++, o += 2) {
                o[big ? 0 : 1] = (uint8_t)(v[k] >> 8);
                o[big ? 1 : 0] = (uint8_t)v[k];
            }
        }
    }
}
static void put_rgba64be(const uint16_t *s, AVFrame *f) { put_rgba64(s, f, 1); }
static void put_rgba64le(const uint16_t *s, AVFrame *f) { put_rgba64(s, f, 0); }

static void get_rgba64(const AVFrame *f, uint16_t *dst, int big)
{
    for (int y = 0; y < f->height; y++) {
        const uint8_t *i = row8(f, 0, y);
        uint16_t *d = dst + (size_t)y * f->width * 4;
        for (int k = 0; k < f->width * 4; k++, i += 2)
            d[k] = big ? (uint16_t)(i[0] << 8 | i[1]) : (uint16_t)(i[1] << 8 | i[0]);
    }
}
static void get_rgba64be(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_rgba64(f, d, 1); }
static void get_rgba64le(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_rgba64(f, d, 0); }

/* ---- planar RGB: planes are G, B, R, A ---- */

static const int GBRA_PLANE[4] = { 2, 0, 1, 3 };    /* RGBA channel c lives in plane GBRA_PLANE[c] */

static void put_gbrap16(const uint16_t *src, AVFrame *f)
{
    for (int y = 0; y < f->height; y++) {
        uint16_t *pl[4];
        for (int c = 0; c < 4; c++) pl[c] = row16(f, GBRA_PLANE[c], y);
        const uint16_t *p = src + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, p += 4) {
            uint64_t inv = coord_unpremul_inv(p[3]);
            for (int c = 0; c < 3; c++) pl[c][x] = coord_unpremul(p[c], inv);
            pl[3][x] = p[3];
        }
    }
}

static void get_gbrap16(const AVFrame *f, uint16_t *dst, float *u)
{
    (void)u;
    for (int y = 0; y < f->height; y++) {
        uint16_t *d = dst + (size_t)y * f->width * 4;
        for (int c = 0; c < 4; c++) {
            const uint16_t *pl = row16(f, GBRA_PLANE[c], y);
            for (int x = 0; x < f->width; x++) d[4 * x + c] = pl[x];
        }
    }
}

/* float planes hold PREMULTIPLIED values (OpenEXR compositing convention) */
static void put_gbrapf32(const uint16_t *src, AVFrame *f)
{
    for (int y = 0; y < f->height; y++) {
        const uint16_t *p = src + (size_t)y * f->width * 4;
        for (int c = 0; c < 4; c++) {
            float *pl = rowf(f, GBRA_PLANE[c], y);
            for (int x = 0; x < f->width; x++) pl[x] = p[4 * x + c] * (1.0f / 65535.0f);
        }
    }
}

static void get_gbrapf32(const AVFrame *f, uint16_t *d, float *dst)
{
    (void)d;
    for (int y = 0; y < f->height; y++) {
        float *o = dst + (size_t)y * f->width * 4;
        for (int c = 0; c < 4; c++) {
            const float *pl = rowf(f, GBRA_PLANE[c], y);
            for (int x = 0; x < f->width; x++) o[4 * x + c] = pl[x];
        }
    }
}

/* ---- Y'CbCr BT.709 limited range, alpha full range ---- */

static inline void yuv_of(const double rgb[3], double s, double out[3])
{
    double yl = KR * rgb[0] + KG * rgb[1] + KB * rgb[2];
    out[0] = (16 + 219 * yl) * s;
    out[1] = (128 + 224 * (rgb[2] - yl) / (2 * (1 - KB))) * s;
    out[2] = (128 + 224 * (rgb[0] - yl) / (2 * (1 - KR))) * s;
}

/* Float version for the encoders' per-pixel path: straight colour of a premultiplied pixel -> Y'CbCr
 * at scale s (lossy formats only, so it need not round exactly like coord_unpremul). */
static inline void yuv_of_px(const uint16_t *p, float s, float out[3])
{
    float inv = p[3] == 65535 ? 1.0f / 65535 : (p[3] ? 1.0f / p[3] : 0.0f);
    float r = p[0] * inv, g = p[1] * inv, b = p[2] * inv;
    r = r > 1.0f ? 1.0f : r; g = g > 1.0f ? 1.0f : g; b = b > 1.0f ? 1.0f : b;
    float yl = (float)KR * r + (float)KG * g + (float)KB * b;
    out[0] = (16.0f + 219.0f * yl) * s;
    out[1] = (128.0f + (float)(224 / (2 * (1 - KB))) * (b - yl)) * s;
    out[2] = (128.0f + (float)(224 / (2 * (1 - KR))) * (r - yl)) * s;
}

static inline int clampf(float v, int mx) { return v <= 0 ? 0 : (v >= mx ? mx : (int)(v + 0.5f)); }

static inline void rgb16_of(double y, double cb, double cr, double s, uint16_t *d)
{
    double yl = (y / s - 16) / 219, pb = (cb / s - 128) / 224, pr = (cr / s - 128) / 224;
    double r = yl + 2 * (1 - KR) * pr, b = yl + 2 * (1 - KB) * pb, g = (yl - KR * r - KB * b) / KG;
    d[0] = (uint16_t)clampi(r * 65535, 65535);
    d[1] = (uint16_t)clampi(g * 65535, 65535);
    d[2] = (uint16_t)clampi(b * 65535, 65535);
}

static void put_yuva444p10(const uint16_t *src, AVFrame *f)
{
    const int mx = 1023;
    for (int y = 0; y < f->height; y++) {
        uint16_t *pl[4];
        for (int c = 0; c < 4; c++) pl[c] = row16(f, c, y);
        const uint16_t *p = src + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, p += 4) {
            float v[3];
            yuv_of_px(p, 4.0f, v);
            for (int c = 0; c < 3; c++) pl[c][x] = (uint16_t)clampf(v[c], mx);
            pl[3][x] = (uint16_t)qbits(p[3], (uint32_t)mx);
        }
    }
}

static void get_yuva444p(const AVFrame *f, uint16_t *dst, int bits)
{
    const uint32_t mx = (1u << bits) - 1;
    const double s = (double)(1 << (bits - 8));
    for (int y = 0; y < f->height; y++) {
        const uint16_t *Y = row16(f, 0, y), *U = row16(f, 1, y), *V = row16(f, 2, y), *A = row16(f, 3, y);
        uint16_t *d = dst + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, d += 4) {
            rgb16_of(Y[x], U[x], V[x], s, d);
            d[3] = x16(A[x] > mx ? mx : A[x], mx);
        }
    }
}
static void get_yuva444p10(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_yuva444p(f, d, 10); }
static void get_yuva444p12(const AVFrame *f, uint16_t *d, float *u) { (void)u; get_yuva444p(f, d, 12); }

/* Chroma of the 2x2 block at (cx, cy): straight colour averaged with alpha weights. */
static void block_chroma(const uint16_t *src, int w, int h, int cx, int cy, double out[3])
{
    double sum[4] = { 0, 0, 0, 0 }, rgb[3];
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int x = 2 * cx + dx < w ? 2 * cx + dx : w - 1, y = 2 * cy + dy < h ? 2 * cy + dy : h - 1;
            const uint16_t *p = src + ((size_t)y * w + x) * 4;
            for (int c = 0; c < 4; c++) sum[c] += p[c];
        }
    double inv = sum[3] > 0 ? 1.0 / sum[3] : 0;
    for (int c = 0; c < 3; c++) { rgb[c] = sum[c] * inv; if (rgb[c] > 1) rgb[c] = 1; }
    yuv_of(rgb, 1.0, out);
}

static void put_yuva420p(const uint16_t *src, AVFrame *f)
{
    const int w = f->width, h = f->height;
    for (int y = 0; y < h; y++) {
        uint8_t *Y = row8(f, 0, y), *A = row8(f, 3, y);
        const uint16_t *p = src + (size_t)y * w * 4;
        for (int x = 0; x < w; x++, p += 4) {
            float v[3];
            yuv_of_px(p, 1.0f, v);
            Y[x] = (uint8_t)clampf(v[0], 255);
            A[x] = (uint8_t)q8(p[3]);
        }
    }
    for (int cy = 0; cy < (h + 1) / 2; cy++) {
        uint8_t *U = row8(f, 1, cy), *V = row8(f, 2, cy);
        for (int cx = 0; cx < (w + 1) / 2; cx++) {
            double v[3];
            block_chroma(src, w, h, cx, cy, v);
            U[cx] = (uint8_t)clampi(v[1], 255);
            V[cx] = (uint8_t)clampi(v[2], 255);
        }
    }
}

static void get_yuva420p(const AVFrame *f, uint16_t *dst, float *u)
{
    (void)u;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *Y = row8(f, 0, y), *U = row8(f, 1, y / 2), *V = row8(f, 2, y / 2), *A = row8(f, 3, y);
        uint16_t *d = dst + (size_t)y * f->width * 4;
        for (int x = 0; x < f->width; x++, d += 4) {
            rgb16_of(Y[x], U[x / 2], V[x / 2], 1.0, d);
            d[3] = (uint16_t)(A[x] * 257u);
        }
    }
}

void coord_rgb_to_yuv709(double r, double g, double b, int bits, double *y, double *cb, double *cr)
{
    double rgb[3] = { r, g, b }, v[3];
    yuv_of(rgb, (double)(1 << (bits - 8)), v);
    *y = v[0]; *cb = v[1]; *cr = v[2];
}

void coord_yuv709_to_rgb(double y, double cb, double cr, int bits, double *r, double *g, double *b)
{
    double s = (double)(1 << (bits - 8));
    double yl = (y / s - 16) / 219, pb = (cb / s - 128) / 224, pr = (cr / s - 128) / 224;
    *r = yl + 2 * (1 - KR) * pr;
    *b = yl + 2 * (1 - KB) * pb;
    *g = (yl - KR * *r - KB * *b) / KG;
}

/* ---- the table ---- */

static const coord_pixfmt_t PIXFMTS[] = {
    /* fmt                     colour alpha yuv float put            get */
    { AV_PIX_FMT_RGBA,          8,  8, 0, 0, put_rgba8,      get_rgba8 },
    { AV_PIX_FMT_ARGB,          8,  8, 0, 0, put_argb8,      get_argb8 },
    { AV_PIX_FMT_RGBA64BE,     16, 16, 0, 0, put_rgba64be,   get_rgba64be },
    { AV_PIX_FMT_RGBA64LE,     16, 16, 0, 0, put_rgba64le,   get_rgba64le },
    { AV_PIX_FMT_GBRAP16LE,    16, 16, 0, 0, put_gbrap16,    get_gbrap16 },
    { AV_PIX_FMT_GBRAPF32LE,   16, 16, 0, 1, put_gbrapf32,   get_gbrapf32 },
    { AV_PIX_FMT_YUVA444P10LE, 10, 10, 1, 0, put_yuva444p10, get_yuva444p10 },
    { AV_PIX_FMT_YUVA444P12LE, 12, 12, 1, 0, NULL,           get_yuva444p12 },
    { AV_PIX_FMT_YUVA420P,      8,  8, 1, 0, put_yuva420p,   get_yuva420p },
};

const coord_pixfmt_t *coord_pixfmt(enum AVPixelFormat fmt)
{
    for (size_t i = 0; i < sizeof PIXFMTS / sizeof *PIXFMTS; i++)
        if (PIXFMTS[i].fmt == fmt) return &PIXFMTS[i];
    return NULL;
}
