/* mux.c — libavcodec/libavformat encoding of one output (see mux.h). */
#include "coordinator/assemble/mux.h"
#include "coordinator/assemble/pixconv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

struct coord_enc {
    const coord_format_t *fmt;
    const coord_pixfmt_t *pf;
    AVFormatContext *oc;        /* NULL for sequences */
    AVStream *st;
    AVCodecContext *cc;
    AVFrame *frame;
    AVPacket *pkt;
    int64_t next_pts;
    char path[1024], prefix[128];
};

static void av_err(char *err, size_t errlen, const char *fmt_name, const char *step, int rc)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(rc, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s: %s", fmt_name, step, msg);
}

int coord_seq_path(char *buf, size_t len, const char *dir, const char *prefix, int t, const char *ext)
{
    int n = snprintf(buf, len, "%s/%s.%06d.%s", dir, prefix, t, ext);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int coord_format_available(const coord_format_t *fmt, char *err, size_t errlen)
{
    if (!avcodec_find_encoder_by_name(fmt->encoder) || !avcodec_find_decoder_by_name(fmt->decoder)) {
        snprintf(err, errlen, "%s: this libavcodec build lacks encoder '%s' or decoder '%s'",
                 fmt->name, fmt->encoder, fmt->decoder);
        return -1;
    }
    if (fmt->muxer && !av_guess_format(fmt->muxer, NULL, NULL)) {
        snprintf(err, errlen, "%s: this libavformat build lacks muxer '%s'", fmt->name, fmt->muxer);
        return -1;
    }
    return 0;
}

/* Creates and opens the codec context with the row's options and colour tags. */
static int open_codec(coord_enc_t *e, int w, int h, double fps, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(e->fmt->encoder);
    AVDictionary *opts = NULL;
    int rc;
    if (!codec || !(e->cc = avcodec_alloc_context3(codec))) {
        snprintf(err, errlen, "%s: encoder '%s' not available", e->fmt->name, e->fmt->encoder);
        return -1;
    }
    AVCodecContext *c = e->cc;
    c->width = w; c->height = h; c->pix_fmt = e->fmt->pix_fmt;
    c->framerate = av_d2q(fps, 1 << 20);
    c->time_base = av_inv_q(c->framerate);
    c->sample_aspect_ratio = (AVRational){ 1, 1 };
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    c->colorspace = e->fmt->yuv ? AVCOL_SPC_BT709 : AVCOL_SPC_RGB;
    c->color_range = e->fmt->yuv ? AVCOL_RANGE_MPEG : AVCOL_RANGE_JPEG;
    c->thread_count = 0;
    if (e->oc && (e->oc->oformat->flags & AVFMT_GLOBALHEADER)) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (e->fmt->options[0] && av_dict_parse_string(&opts, e->fmt->options, "=", ":", 0) < 0) {
        snprintf(err, errlen, "%s: bad option string '%s'", e->fmt->name, e->fmt->options);
        av_dict_free(&opts);
        return -1;
    }
    rc = avcodec_open2(c, codec, &opts);
    if (rc >= 0 && av_dict_count(opts)) {
        snprintf(err, errlen, "%s: encoder '%s' does not know option '%s'", e->fmt->name,
                 e->fmt->encoder, av_dict_get(opts, "", NULL, AV_DICT_IGNORE_SUFFIX)->key);
        rc = -1;
    } else if (rc < 0) {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(rc, msg, sizeof msg);
        snprintf(err, errlen, "%s: encoder '%s' refused %dx%d %s: %s", e->fmt->name, e->fmt->encoder,
                 w, h, av_get_pix_fmt_name(e->fmt->pix_fmt), msg);
    }
    av_dict_free(&opts);
    return rc < 0 ? -1 : 0;
}

static int open_container(coord_enc_t *e, char *err, size_t errlen)
{
    int rc = avformat_alloc_output_context2(&e->oc, NULL, e->fmt->muxer, e->path);
    if (rc < 0 || !e->oc) { av_err(err, errlen, e->fmt->name, "muxer", rc < 0 ? rc : AVERROR(ENOMEM)); return -1; }
    if (!(e->st = avformat_new_stream(e->oc, NULL))) { snprintf(err, errlen, "%s: out of memory", e->fmt->name); return -1; }
    return 0;
}

static int start_container(coord_enc_t *e, char *err, size_t errlen)
{
    int rc = avcodec_parameters_from_context(e->st->codecpar, e->cc);
    if (rc < 0) { av_err(err, errlen, e->fmt->name, "stream parameters", rc); return -1; }
    e->st->time_base = e->cc->time_base;
    e->st->avg_frame_rate = e->cc->framerate;
    e->st->r_frame_rate = e->cc->framerate;
    if (e->fmt->pix_fmt == AV_PIX_FMT_YUVA420P) av_dict_set(&e->st->metadata, "alpha_mode", "1", 0);
    if ((rc = avio_open(&e->oc->pb, e->path, AVIO_FLAG_WRITE)) < 0) {
        av_err(err, errlen, e->fmt->name, e->path, rc);
        return -1;
    }
    if ((rc = avformat_write_header(e->oc, NULL)) < 0) { av_err(err, errlen, e->fmt->name, "write header", rc); return -1; }
    return 0;
}

int coord_enc_open(coord_enc_t **out, const coord_format_t *fmt, const char *path, const char *prefix,
                   int w, int h, double fps, char *err, size_t errlen)
{
    coord_enc_t *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e) { snprintf(err, errlen, "%s: out of memory", fmt->name); return -1; }
    e->fmt = fmt;
    snprintf(e->path, sizeof e->path, "%s", path);
    snprintf(e->prefix, sizeof e->prefix, "%s", prefix);
    if (!(e->pf = coord_pixfmt(fmt->pix_fmt)) || !e->pf->put) {
        snprintf(err, errlen, "%s: no writer for %s", fmt->name, av_get_pix_fmt_name(fmt->pix_fmt));
        goto fail;
    }
    if (fmt->sequence && mkdir(path, 0755) < 0) {
        snprintf(err, errlen, "%s: mkdir %s: %s", fmt->name, path, strerror(errno));
        goto fail;
    }
    if (!fmt->sequence && open_container(e, err, errlen) < 0) goto fail;
    if (open_codec(e, w, h, fps, err, errlen) < 0) goto fail;
    if (!fmt->sequence && start_container(e, err, errlen) < 0) goto fail;
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->frame || !e->pkt) { snprintf(err, errlen, "%s: out of memory", fmt->name); goto fail; }
    e->frame->format = fmt->pix_fmt; e->frame->width = w; e->frame->height = h;
    e->frame->color_primaries = e->cc->color_primaries;      /* prores_ks and qtrle read the tags */
    e->frame->color_trc = e->cc->color_trc;                  /* from the frame, not the context */
    e->frame->colorspace = e->cc->colorspace;
    e->frame->color_range = e->cc->color_range;
    if (av_frame_get_buffer(e->frame, 0) < 0) { snprintf(err, errlen, "%s: out of memory for a frame", fmt->name); goto fail; }
    *out = e;
    return 0;
fail:
    coord_enc_free(&e);
    return -1;
}

/* Writes one packet of a sequence as its own image file, fsynced. */
static int write_image(coord_enc_t *e, const AVPacket *p, char *err, size_t errlen)
{
    char file[1200];
    if (p->pts < 0 || p->pts > 99999999 ||
        coord_seq_path(file, sizeof file, e->path, e->prefix, (int)p->pts, e->fmt->ext) < 0) {
        snprintf(err, errlen, "%s: bad image number %lld", e->fmt->name, (long long)p->pts);
        return -1;
    }
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0) { snprintf(err, errlen, "%s: %s: %s", e->fmt->name, file, strerror(errno)); return -1; }
    for (size_t off = 0; off < (size_t)p->size && rc == 0; ) {
        ssize_t k = write(fd, p->data + off, (size_t)p->size - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) rc = -1; else off += (size_t)k;
    }
    if (rc == 0 && fsync(fd) < 0) rc = -1;
    if (close(fd) < 0) rc = -1;
    if (rc < 0) snprintf(err, errlen, "%s: write %s: %s", e->fmt->name, file, strerror(errno ? errno : EIO));
    return rc;
}

/* Moves every packet the encoder has ready to the container or image files. */
static int drain(coord_enc_t *e, char *err, size_t errlen)
{
    for (;;) {
        int rc = avcodec_receive_packet(e->cc, e->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
        if (rc < 0) { av_err(err, errlen, e->fmt->name, "encode", rc); return -1; }
        if (e->oc) {
            av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
            e->pkt->stream_index = e->st->index;
            rc = av_interleaved_write_frame(e->oc, e->pkt);
            if (rc < 0) { av_err(err, errlen, e->fmt->name, "write", rc); return -1; }
        } else {
            rc = write_image(e, e->pkt, err, errlen);
            av_packet_unref(e->pkt);
            if (rc < 0) return -1;
        }
    }
}

int coord_enc_write(coord_enc_t *e, const uint16_t *premul, char *err, size_t errlen)
{
    int rc = av_frame_make_writable(e->frame);
    if (rc < 0) { av_err(err, errlen, e->fmt->name, "frame buffer", rc); return -1; }
    e->pf->put(premul, e->frame);
    e->frame->pts = e->next_pts++;
    if ((rc = avcodec_send_frame(e->cc, e->frame)) < 0) { av_err(err, errlen, e->fmt->name, "encode", rc); return -1; }
    return drain(e, err, errlen);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int coord_enc_finish(coord_enc_t *e, char *err, size_t errlen)
{
    int rc = avcodec_send_frame(e->cc, NULL);
    if (rc < 0) { av_err(err, errlen, e->fmt->name, "flush", rc); return -1; }
    if (drain(e, err, errlen) < 0) return -1;
    if (e->oc) {
        if ((rc = av_write_trailer(e->oc)) < 0) { av_err(err, errlen, e->fmt->name, "write trailer", rc); return -1; }
        if (e->oc->pb->error < 0) { av_err(err, errlen, e->fmt->name, "write", e->oc->pb->error); return -1; }
        if ((rc = avio_closep(&e->oc->pb)) < 0) { av_err(err, errlen, e->fmt->name, "close", rc); return -1; }
    }
    if (fsync_path(e->path) < 0) {
        snprintf(err, errlen, "%s: fsync %s: %s", e->fmt->name, e->path, strerror(errno));
        return -1;
    }
    return 0;
}

void coord_enc_free(coord_enc_t **pe)
{
    coord_enc_t *e = pe ? *pe : NULL;
    if (!e) return;
    if (e->oc) {
        if (e->oc->pb) avio_closep(&e->oc->pb);
        avformat_free_context(e->oc);
    }
    avcodec_free_context(&e->cc);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    free(e);
    *pe = NULL;
}
