/* test_contact_sheet.c — contact sheet: evenly spaced picks (first and last frame included), all
 * frames for short shots, thumbnails composited over the checkerboard (transparent shows the
 * checkerboard, opaque covers it, 50% alpha lands in between), title and labels drawn, and the PNG
 * written atomically decodes back at the canvas size. */
#include "tests/test.h"
#include "coordinator/assemble/contact.h"

#include <stdint.h>
#include <unistd.h>
#include <libavcodec/avcodec.h>

static char err[512];

static void picks(void)
{
    coord_contact_t *c;
    CHECK(coord_contact_new(&c, "long", 100, 64, 32, 24, err, sizeof err) == 0);
    CHECK_EQ_INT(coord_contact_count(c), COORD_CONTACT_MAX_THUMBS);
    int x, y, tw, th, f, prev = -1, gaps[2] = { 1000, 0 };
    for (int i = 0; i < coord_contact_count(c); i++) {
        coord_contact_slot(c, i, &x, &y, &tw, &th, &f);
        CHECK(f > prev);
        if (prev >= 0) { int g = f - prev; if (g < gaps[0]) gaps[0] = g; if (g > gaps[1]) gaps[1] = g; }
        prev = f;
        CHECK(coord_contact_wants(c, f));
    }
    CHECK(gaps[1] - gaps[0] <= 1);                     /* evenly spaced */
    coord_contact_slot(c, 0, &x, &y, &tw, &th, &f); CHECK_EQ_INT(f, 0);
    coord_contact_slot(c, 11, &x, &y, &tw, &th, &f); CHECK_EQ_INT(f, 99);
    CHECK(tw == 64 && th == 32);                       /* small frames are not enlarged */
    coord_contact_free(&c);
    CHECK(c == NULL);
    CHECK(coord_contact_new(&c, "short", 5, 1920, 1080, 24, err, sizeof err) == 0);
    CHECK_EQ_INT(coord_contact_count(c), 5);
    coord_contact_slot(c, 0, &x, &y, &tw, &th, &f);
    CHECK(tw == COORD_CONTACT_THUMB_BOX && th == 135); /* 1920x1080 fits the 240 box, aspect kept */
    for (int t = 0; t < 5; t++) CHECK(coord_contact_wants(c, t));
    coord_contact_free(&c);
    CHECK(coord_contact_new(&c, "one", 1, 8, 8, 24, err, sizeof err) == 0);
    CHECK_EQ_INT(coord_contact_count(c), 1);
    coord_contact_free(&c);
    CHECK(coord_contact_new(&c, "bad", 0, 8, 8, 24, err, sizeof err) == -1);
}

static const uint16_t *at(const coord_contact_t *c, int x, int y)
{
    int w, h; const uint16_t *px;
    coord_contact_canvas(c, &w, &h, &px);
    return px + ((size_t)y * w + x) * 4;
}

static void compositing(void)
{
    enum { W = 40, H = 24 };
    static uint16_t fr[W * H * 4];
    coord_contact_t *c;
    CHECK(coord_contact_new(&c, "comp", 3, W, H, 24, err, sizeof err) == 0);
    int x0, y0, tw, th, f;
    coord_contact_slot(c, 0, &x0, &y0, &tw, &th, &f);
    uint16_t before_light = at(c, x0 + 1, y0 + 1)[0], before_dark = at(c, x0 + 9, y0 + 1)[0];
    CHECK(before_light != before_dark);                /* the checkerboard is there */
    memset(fr, 0, sizeof fr);                          /* fully transparent: unchanged */
    coord_contact_add(c, 0, fr);
    CHECK(at(c, x0 + 1, y0 + 1)[0] == before_light && at(c, x0 + 9, y0 + 1)[0] == before_dark);
    for (int i = 0; i < W * H; i++) { fr[4*i] = 65535; fr[4*i+1] = 0; fr[4*i+2] = 0; fr[4*i+3] = 65535; }
    coord_contact_add(c, 1, fr);                       /* opaque red covers it */
    coord_contact_slot(c, 1, &x0, &y0, &tw, &th, &f);
    const uint16_t *p = at(c, x0 + 5, y0 + 5);
    CHECK(p[0] == 65535 && p[1] == 0 && p[2] == 0);
    for (int i = 0; i < W * H; i++) { fr[4*i] = 0; fr[4*i+1] = 32768; fr[4*i+2] = 0; fr[4*i+3] = 32768; }
    coord_contact_slot(c, 2, &x0, &y0, &tw, &th, &f);
    uint16_t bg = at(c, x0 + 1, y0 + 1)[0];
    coord_contact_add(c, 2, fr);                       /* 50% green over the board */
    p = at(c, x0 + 1, y0 + 1);
    CHECKF(abs((int)p[0] - bg / 2) <= 1 && abs((int)p[1] - (32768 + bg / 2)) <= 1, "%d %d (bg %d)", p[0], p[1], bg);
    coord_contact_add(c, 7, fr);                       /* not a pick: ignored */
    int w, h; const uint16_t *px; long text = 0;
    coord_contact_canvas(c, &w, &h, &px);
    for (int y = 0; y < y0 - 12; y++) for (int x = 0; x < w; x++) text += px[((size_t)y * w + x) * 4] == 60000;
    CHECK(text > 50);                                  /* the title was drawn */
    coord_contact_free(&c);
}

static void write_png(void)
{
    char dir[] = "/tmp/test_contact_XXXXXX", path[256], tmpname[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/shot.contact.png", dir);
    coord_contact_t *c;
    CHECK(coord_contact_new(&c, "shot", 30, 320, 180, 24, err, sizeof err) == 0);
    CHECKF(coord_contact_write(c, path, err, sizeof err) == 0, "%s", err);
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmpname, F_OK) != 0);
    FILE *fp = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    const AVCodec *dec = avcodec_find_decoder(AV_CODEC_ID_PNG);
    AVCodecContext *cc = avcodec_alloc_context3(dec);
    AVPacket *pkt = av_packet_alloc(); AVFrame *fr = av_frame_alloc();
    CHECK(avcodec_open2(cc, dec, NULL) == 0);
    pkt->data = buf; pkt->size = (int)n;
    CHECK(avcodec_send_packet(cc, pkt) == 0);
    CHECK(avcodec_receive_frame(cc, fr) == 0);
    int w, h; const uint16_t *px;
    coord_contact_canvas(c, &w, &h, &px);
    CHECK(fr->width == w && fr->height == h && fr->format == AV_PIX_FMT_RGB24);
    pkt->data = NULL; pkt->size = 0;
    av_packet_free(&pkt); av_frame_free(&fr); avcodec_free_context(&cc);
    snprintf(tmpname, sizeof tmpname, "%s/nodir/x.png", dir);
    CHECK(coord_contact_write(c, tmpname, err, sizeof err) == -1);
    coord_contact_free(&c);
    unlink(path); rmdir(dir);
}

int main(void)
{
    T_RUN(picks);
    T_RUN(compositing);
    T_RUN(write_png);
    T_DONE();
}
