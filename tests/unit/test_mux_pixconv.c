/* test_mux_pixconv.c — pixel conversions for the encoders: BT.709 limited-range code values for
 * known colours (white, black, primaries), matrix round trip, un-premultiply rounding, and for every
 * pixel-format row: write a premultiplied frame, read it back, and land within the row's depth
 * (exact for RGB rows, a few 10-bit steps for 4:4:4 YUV, alpha always exact at its depth). */
#include "tests/test.h"
#include "coordinator/assemble/pixconv.h"

#include <stdint.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>

static void bt709_values(void)
{
    double y, cb, cr, r, g, b;
    coord_rgb_to_yuv709(1, 1, 1, 10, &y, &cb, &cr);
    CHECK(fabs(y - 940) < 1e-9 && fabs(cb - 512) < 1e-9 && fabs(cr - 512) < 1e-9);
    coord_rgb_to_yuv709(0, 0, 0, 10, &y, &cb, &cr);
    CHECK(fabs(y - 64) < 1e-9 && fabs(cb - 512) < 1e-9 && fabs(cr - 512) < 1e-9);
    coord_rgb_to_yuv709(1, 0, 0, 8, &y, &cb, &cr);            /* BT.709 100% bars, rounded: red 63/102/240 */
    CHECKF(fabs(y - 62.56) < 0.01 && fabs(cb - 102.34) < 0.01 && fabs(cr - 240) < 1e-9, "%f %f %f", y, cb, cr);
    coord_rgb_to_yuv709(0, 1, 0, 8, &y, &cb, &cr);            /* green: Y 173, Cb 42, Cr 26 */
    CHECKF(fabs(y - 172.63) < 0.01 && fabs(cb - 41.66) < 0.01 && fabs(cr - 26.27) < 0.01, "%f %f %f", y, cb, cr);
    coord_rgb_to_yuv709(0, 0, 1, 8, &y, &cb, &cr);            /* blue: Y 32, Cb 240, Cr 118 */
    CHECKF(fabs(y - 31.81) < 0.01 && fabs(cb - 240) < 1e-9 && fabs(cr - 117.73) < 0.01, "%f %f %f", y, cb, cr);
    for (int i = 0; i < 50; i++) {
        double in[3] = { (i * 37 % 101) / 100.0, (i * 53 % 101) / 100.0, (i * 71 % 101) / 100.0 };
        coord_rgb_to_yuv709(in[0], in[1], in[2], 10, &y, &cb, &cr);
        coord_yuv709_to_rgb(y, cb, cr, 10, &r, &g, &b);
        CHECK(fabs(r - in[0]) < 1e-12 && fabs(g - in[1]) < 1e-12 && fabs(b - in[2]) < 1e-12);
    }
}

static void unpremultiply(void)
{
    uint16_t p[4 * 5] = { 0, 0, 0, 0,  100, 50, 7, 100,  65535, 0, 32768, 65535,  300, 1, 0, 200,  1, 1, 1, 1 };
    uint16_t s[4 * 5];
    coord_unpremultiply(p, s, 5);
    CHECK(s[0] == 0 && s[3] == 0);                            /* transparent -> black, alpha 0 */
    CHECK(s[4] == 65535 && s[5] == 32768 && s[7] == 100);     /* 50/100 -> 0.5 */
    CHECKF(abs((int)s[6] - 4587) <= 1, "%d", s[6]);           /* 7/100 */
    CHECK(s[8] == 65535 && s[9] == 0 && s[10] == 32768);      /* opaque unchanged */
    CHECK(s[12] == 65535);                                    /* colour above alpha clamps */
    CHECK(s[16] == 65535 && s[19] == 1);
}

static void roundtrip_rows(void)
{
    enum { W = 19, H = 7 };                                   /* odd sizes on purpose */
    static uint16_t src[W * H * 4], st[W * H * 4], back[W * H * 4];
    static float backf[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        uint32_t a = (uint32_t)(i * 2654435761u) >> 16;
        if (i % 7 == 0) a = 65535;
        if (i % 11 == 0) a = 0;
        for (int c = 0; c < 3; c++) src[4 * i + c] = (uint16_t)(a * ((i * (c + 3) * 977) % 65536) / 65535);
        src[4 * i + 3] = (uint16_t)a;
    }
    coord_unpremultiply(src, st, W * H);
    static const enum AVPixelFormat fmts[] = { AV_PIX_FMT_RGBA, AV_PIX_FMT_ARGB, AV_PIX_FMT_RGBA64BE, AV_PIX_FMT_RGBA64LE,
        AV_PIX_FMT_GBRAP16LE, AV_PIX_FMT_GBRAPF32LE, AV_PIX_FMT_YUVA444P10LE, AV_PIX_FMT_YUVA420P };
    for (size_t k = 0; k < sizeof fmts / sizeof *fmts; k++) {
        const coord_pixfmt_t *pf = coord_pixfmt(fmts[k]);
        CHECK(pf && pf->put && pf->get);
        if (!pf) continue;
        AVFrame *f = av_frame_alloc();
        f->format = fmts[k]; f->width = W; f->height = H;
        CHECK(av_frame_get_buffer(f, 0) == 0);
        pf->put(src, f);
        pf->get(f, back, backf);
        long bad = 0; double worst = 0;
        for (int i = 0; i < W * H * 4; i++) {
            int c = i % 4;
            if (pf->is_float) { bad += fabsf(backf[i] - src[i] / 65535.0f) > 1e-6f; continue; }
            if (c == 3 || !pf->yuv) { bad += back[i] != coord_requant(st[i], c == 3 ? pf->alpha_bits : pf->color_bits); continue; }
            if (st[i - c + 3] < 65535 || fmts[k] == AV_PIX_FMT_YUVA420P) continue;   /* colour of opaque 4:4:4 pixels */
            worst = fmax(worst, fabs(back[i] - (double)st[i]) / 65535 * 1023);
        }
        CHECKF(bad == 0, "%s: %ld samples off", av_get_pix_fmt_name(fmts[k]), bad);
        CHECKF(worst <= 2.0, "%s: colour off by %.2f 10-bit steps", av_get_pix_fmt_name(fmts[k]), worst);
        av_frame_free(&f);
    }
    CHECK(coord_pixfmt(AV_PIX_FMT_YUV420P) == NULL);          /* no alpha: not a farm format */
}

/* 4:2:0 chroma is alpha-weighted: a transparent black neighbour must not darken an opaque colour. */
static void chroma_alpha_weighted(void)
{
    uint16_t src[2 * 2 * 4] = { 65535, 0, 0, 65535,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0 };
    uint16_t back[16];
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUVA420P; f->width = 2; f->height = 2;
    CHECK(av_frame_get_buffer(f, 0) == 0);
    const coord_pixfmt_t *pf = coord_pixfmt(AV_PIX_FMT_YUVA420P);
    pf->put(src, f);
    CHECK(f->data[2][0] >= 239);                              /* Cr of pure red, not of a red/black mix */
    pf->get(f, back, NULL);
    CHECKF(back[0] > 64000 && back[1] < 1500 && back[2] < 1500 && back[3] == 65535, "%d %d %d", back[0], back[1], back[2]);
    av_frame_free(&f);
}

int main(void)
{
    T_RUN(bt709_values);
    T_RUN(unpremultiply);
    T_RUN(roundtrip_rows);
    T_RUN(chroma_alpha_weighted);
    T_DONE();
}
