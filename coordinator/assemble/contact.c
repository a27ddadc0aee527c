/* contact.c — contact sheet layout, thumbnailing and PNG writing (see contact.h). */
#include "coordinator/assemble/contact.h"
#include "proto/font.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libavcodec/avcodec.h>

#define MARGIN   12
#define TITLE_SC 2
#define LABEL_SC 2
#define COLS_MAX 4
#define CHECKER  8

struct coord_contact {
    int frames, w, h, n, cols, rows, tw, th, cw, ch;
    int pick[COORD_CONTACT_MAX_THUMBS];      /* shot frame shown in slot i */
    uint16_t *px;                            /* (ch, cw, 4) premultiplied, opaque */
};

static const uint16_t BG[4] = { 9000, 9000, 10000, 65535 };
static const uint16_t TEXT[4] = { 60000, 60000, 60000, 65535 };

static void fill_rect(coord_contact_t *c, int x0, int y0, int w, int h, const uint16_t v[4])
{
    for (int y = y0; y < y0 + h && y < c->ch; y++)
        for (int x = x0; x < x0 + w && x < c->cw; x++) memcpy(c->px + ((size_t)y * c->cw + x) * 4, v, 8);
}

static void checkerboard(coord_contact_t *c, int x0, int y0)
{
    static const uint16_t LIGHT[4] = { 52000, 52000, 52000, 65535 }, DARK[4] = { 36000, 36000, 36000, 65535 };
    for (int y = 0; y < c->th; y++)
        for (int x = 0; x < c->tw; x++)
            memcpy(c->px + ((size_t)(y0 + y) * c->cw + x0 + x) * 4, ((x / CHECKER + y / CHECKER) & 1) ? DARK : LIGHT, 8);
}

void coord_contact_slot(const coord_contact_t *c, int i, int *x, int *y, int *tw, int *th, int *frame)
{
    int title_h = PROTO_FONT_CELL_H * TITLE_SC + MARGIN, label_h = PROTO_FONT_CELL_H * LABEL_SC + 4;
    *x = MARGIN + (i % c->cols) * (c->tw + MARGIN);
    *y = MARGIN + title_h + (i / c->cols) * (c->th + label_h + MARGIN);
    *tw = c->tw; *th = c->th; *frame = c->pick[i];
}

/* Grid geometry: n thumbnails, thumbnail size inside the box, canvas size. */
static void layout(coord_contact_t *c)
{
    c->n = c->frames < COORD_CONTACT_MAX_THUMBS ? c->frames : COORD_CONTACT_MAX_THUMBS;
    for (int i = 0; i < c->n; i++)
        c->pick[i] = c->n == 1 ? 0 : (int)((2LL * i * (c->frames - 1) + (c->n - 1)) / (2LL * (c->n - 1)));
    double s = (double)COORD_CONTACT_THUMB_BOX / (c->w > c->h ? c->w : c->h);
    if (s > 1) s = 1;
    c->tw = (int)(c->w * s + 0.5); c->th = (int)(c->h * s + 0.5);
    if (c->tw < 1) c->tw = 1;
    if (c->th < 1) c->th = 1;
    c->cols = c->n < COLS_MAX ? c->n : COLS_MAX;
    c->rows = (c->n + c->cols - 1) / c->cols;
    int x, y, tw, th, f;
    coord_contact_slot(c, c->n - 1, &x, &y, &tw, &th, &f);
    c->cw = MARGIN + c->cols * (c->tw + MARGIN);
    c->ch = y + c->th + PROTO_FONT_CELL_H * LABEL_SC + 4 + MARGIN;
    int title_w;
    proto_text_size("W", TITLE_SC, &title_w, NULL);
    if (c->cw < 2 * MARGIN + 24 * title_w) c->cw = 2 * MARGIN + 24 * title_w;   /* room for a title */
}

int coord_contact_new(coord_contact_t **out, const char *shot_name, int frames, int w, int h, double fps,
                      char *err, size_t errlen)
{
    coord_contact_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c || frames < 1 || w < 1 || h < 1) {
        snprintf(err, errlen, "contact sheet: %s", c ? "bad shot shape" : "out of memory");
        free(c);
        return -1;
    }
    c->frames = frames; c->w = w; c->h = h;
    layout(c);
    if (!(c->px = malloc((size_t)c->cw * c->ch * 8))) {
        snprintf(err, errlen, "contact sheet: out of memory");
        free(c);
        return -1;
    }
    fill_rect(c, 0, 0, c->cw, c->ch, BG);
    char title[160];
    snprintf(title, sizeof title, "%.64s  %d frames  %dx%d  %.3g fps", shot_name, frames, w, h, fps);
    proto_draw_text(c->px, c->cw, c->ch, MARGIN, MARGIN, TITLE_SC, title, TEXT);
    for (int i = 0; i < c->n; i++) {
        int x, y, tw, th, f;
        char label[24];
        coord_contact_slot(c, i, &x, &y, &tw, &th, &f);
        checkerboard(c, x, y);
        snprintf(label, sizeof label, "%d", f);
        proto_draw_text(c->px, c->cw, c->ch, x, y + th + 3, LABEL_SC, label, TEXT);
    }
    *out = c;
    return 0;
}

int coord_contact_wants(const coord_contact_t *c, int t)
{
    for (int i = 0; i < c->n; i++) if (c->pick[i] == t) return 1;
    return 0;
}

/* Box-filtered (area average, premultiplied) thumbnail of src composited OVER the checkerboard. */
static void thumb_over(coord_contact_t *c, int x0, int y0, const uint16_t *src)
{
    for (int ty = 0; ty < c->th; ty++) {
        int sy0 = (int)((long long)ty * c->h / c->th), sy1 = (int)((long long)(ty + 1) * c->h / c->th);
        if (sy1 <= sy0) sy1 = sy0 + 1;
        for (int tx = 0; tx < c->tw; tx++) {
            int sx0 = (int)((long long)tx * c->w / c->tw), sx1 = (int)((long long)(tx + 1) * c->w / c->tw);
            if (sx1 <= sx0) sx1 = sx0 + 1;
            double acc[4] = { 0, 0, 0, 0 };
            for (int y = sy0; y < sy1; y++)
                for (int x = sx0; x < sx1; x++)
                    for (int k = 0; k < 4; k++) acc[k] += src[((size_t)y * c->w + x) * 4 + k];
            double n = (double)(sy1 - sy0) * (sx1 - sx0), inv_a = 1 - acc[3] / n / 65535.0;
            uint16_t *d = c->px + ((size_t)(y0 + ty) * c->cw + x0 + tx) * 4;
            for (int k = 0; k < 3; k++) {
                double v = acc[k] / n + d[k] * inv_a;
                d[k] = (uint16_t)(v > 65535 ? 65535 : v + 0.5);
            }
        }
    }
}

void coord_contact_add(coord_contact_t *c, int t, const uint16_t *premul)
{
    for (int i = 0; i < c->n; i++) {
        if (c->pick[i] != t) continue;
        int x, y, tw, th, f;
        coord_contact_slot(c, i, &x, &y, &tw, &th, &f);
        thumb_over(c, x, y, premul);
    }
}

/* Encodes the canvas as one RGB PNG into *pkt. */
static int encode_png(const coord_contact_t *c, AVPacket *pkt, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    AVCodecContext *cc = codec ? avcodec_alloc_context3(codec) : NULL;
    AVFrame *f = av_frame_alloc();
    int rc = -1;
    if (!cc || !f) { snprintf(err, errlen, "contact sheet: no PNG encoder"); goto out; }
    cc->width = c->cw; cc->height = c->ch; cc->pix_fmt = AV_PIX_FMT_RGB24;
    cc->time_base = (AVRational){ 1, 1 };
    f->format = AV_PIX_FMT_RGB24; f->width = c->cw; f->height = c->ch;
    if (avcodec_open2(cc, codec, NULL) < 0 || av_frame_get_buffer(f, 0) < 0) {
        snprintf(err, errlen, "contact sheet: cannot open the PNG encoder for %dx%d", c->cw, c->ch);
        goto out;
    }
    for (int y = 0; y < c->ch; y++)
        for (int x = 0; x < c->cw; x++)
            for (int k = 0; k < 3; k++)
                f->data[0][(size_t)y * f->linesize[0] + 3 * x + k] =
                    (uint8_t)((c->px[((size_t)y * c->cw + x) * 4 + k] * 255u + 32767u) / 65535u);
    if (avcodec_send_frame(cc, f) < 0 || avcodec_send_frame(cc, NULL) < 0 || avcodec_receive_packet(cc, pkt) < 0) {
        snprintf(err, errlen, "contact sheet: PNG encoding failed");
        goto out;
    }
    rc = 0;
out:
    avcodec_free_context(&cc);
    av_frame_free(&f);
    return rc;
}

int coord_contact_write(const coord_contact_t *c, const char *path, char *err, size_t errlen)
{
    char tmp[1200];
    AVPacket *pkt = av_packet_alloc();
    FILE *fp = NULL;
    int rc = -1;
    if (!pkt) { snprintf(err, errlen, "contact sheet: out of memory"); return -1; }
    if (encode_png(c, pkt, err, errlen) < 0) goto out;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (!(fp = fopen(tmp, "wb"))) { snprintf(err, errlen, "contact sheet: %s: %s", tmp, strerror(errno)); goto out; }
    if (fwrite(pkt->data, 1, (size_t)pkt->size, fp) != (size_t)pkt->size || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        snprintf(err, errlen, "contact sheet: write %s: %s", tmp, strerror(errno));
        goto out;
    }
    int cl = fclose(fp);
    fp = NULL;
    if (cl != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "contact sheet: %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fp) fclose(fp);
    if (rc < 0) unlink(tmp);
    av_packet_free(&pkt);
    return rc;
}

void coord_contact_canvas(const coord_contact_t *c, int *w, int *h, const uint16_t **px)
{
    *w = c->cw; *h = c->ch; *px = c->px;
}

int coord_contact_count(const coord_contact_t *c) { return c->n; }

void coord_contact_free(coord_contact_t **pc)
{
    if (!pc || !*pc) return;
    free((*pc)->px);
    free(*pc);
    *pc = NULL;
}
