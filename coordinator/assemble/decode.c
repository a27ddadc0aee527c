/* decode.c — decode-back of one output (see decode.h). */
#include "coordinator/assemble/decode.h"
#include "coordinator/assemble/mux.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#define SEQ_MAX_IMAGE_BYTES (1u << 30)

struct coord_dec {
    const coord_format_t *fmt;
    AVFormatContext *ic;       /* NULL for sequences */
    int stream;
    AVCodecContext *cc;
    AVPacket *pkt;
    AVFrame *frame;
    int next_image, flushing, done;
    char path[1024], prefix[128];
};

static void av_err(char *err, size_t errlen, const char *what, const char *step, int rc)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(rc, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s: %s", what, step, msg);
}

static int open_decoder(coord_dec_t *d, const AVCodecParameters *par, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_decoder_by_name(d->fmt->decoder);
    if (!codec || !(d->cc = avcodec_alloc_context3(codec))) {
        snprintf(err, errlen, "%s: decoder '%s' not available", d->fmt->name, d->fmt->decoder);
        return -1;
    }
    if (par && avcodec_parameters_to_context(d->cc, par) < 0) {
        snprintf(err, errlen, "%s: bad stream parameters", d->fmt->name);
        return -1;
    }
    d->cc->thread_count = d->ic ? 0 : 1;     /* sequences: one image in, one frame out */
    int rc = avcodec_open2(d->cc, codec, NULL);
    if (rc < 0) { av_err(err, errlen, d->fmt->name, "open decoder", rc); return -1; }
    return 0;
}

static int open_container(coord_dec_t *d, coord_dec_info_t *info, char *err, size_t errlen)
{
    int rc = avformat_open_input(&d->ic, d->path, NULL, NULL);
    if (rc < 0) { av_err(err, errlen, d->fmt->name, d->path, rc); return -1; }
    if ((rc = avformat_find_stream_info(d->ic, NULL)) < 0) { av_err(err, errlen, d->fmt->name, "probe", rc); return -1; }
    d->stream = av_find_best_stream(d->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (d->stream < 0) { snprintf(err, errlen, "%s: %s has no video stream", d->fmt->name, d->path); return -1; }
    const AVStream *st = d->ic->streams[d->stream];
    const AVCodec *want = avcodec_find_encoder_by_name(d->fmt->encoder);
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    if (!want || want->id != st->codecpar->codec_id) {
        snprintf(err, errlen, "%s: %s holds codec '%s', expected '%s'", d->fmt->name, d->path, info->codec,
                 want ? avcodec_get_name(want->id) : d->fmt->encoder);
        return -1;
    }
    AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = r.den ? av_q2d(r) : 0;
    return open_decoder(d, st->codecpar, err, errlen);
}

/* Counts directory entries that are not this sequence's images "<prefix>.NNNNNN.<ext>". */
static int count_extra(const coord_dec_t *d)
{
    DIR *dir = opendir(d->path);
    struct dirent *e;
    int extra = 0;
    size_t pl = strlen(d->prefix), el = strlen(d->fmt->ext);
    while (dir && (e = readdir(dir))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        int ok = len == pl + 8 + el && !strncmp(n, d->prefix, pl) && n[pl] == '.' && n[pl + 7] == '.' &&
                 !strcmp(n + pl + 8, d->fmt->ext) && strspn(n + pl + 1, "0123456789") == 6;
        extra += !ok;
    }
    if (dir) closedir(dir);
    return extra;
}

int coord_dec_open(coord_dec_t **out, const coord_format_t *fmt, const char *path, const char *prefix,
                   coord_dec_info_t *info, char *err, size_t errlen)
{
    coord_dec_t *d = calloc(1, sizeof *d);
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (!d) { snprintf(err, errlen, "%s: out of memory", fmt->name); return -1; }
    d->fmt = fmt;
    snprintf(d->path, sizeof d->path, "%s", path);
    snprintf(d->prefix, sizeof d->prefix, "%s", prefix);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->pkt || !d->frame) { snprintf(err, errlen, "%s: out of memory", fmt->name); goto fail; }
    if (!fmt->sequence && open_container(d, info, err, errlen) < 0) goto fail;
    if (fmt->sequence) {
        snprintf(info->codec, sizeof info->codec, "%s", fmt->decoder);
        info->extra_files = count_extra(d);
        if (open_decoder(d, NULL, err, errlen) < 0) goto fail;
    }
    *out = d;
    return 0;
fail:
    coord_dec_free(&d);
    return -1;
}

/* Loads image next_image of a sequence into d->pkt. 1 loaded, 0 no such file, -1 error. */
static int load_image(coord_dec_t *d, char *err, size_t errlen)
{
    char file[1200];
    struct stat st;
    if (coord_seq_path(file, sizeof file, d->path, d->prefix, d->next_image, d->fmt->ext) < 0) return 0;
    FILE *fp = fopen(file, "rb");
    if (!fp) return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s: %s", d->fmt->name, file, strerror(errno)), -1);
    int rc = -1;
    if (fstat(fileno(fp), &st) < 0 || st.st_size <= 0 || st.st_size > SEQ_MAX_IMAGE_BYTES) {
        snprintf(err, errlen, "%s: %s: empty or oversized image", d->fmt->name, file);
        goto out;
    }
    av_packet_unref(d->pkt);
    if (av_new_packet(d->pkt, (int)st.st_size) < 0) { snprintf(err, errlen, "%s: out of memory", d->fmt->name); goto out; }
    if (fread(d->pkt->data, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
        snprintf(err, errlen, "%s: %s: short read", d->fmt->name, file);
        goto out;
    }
    d->pkt->pts = d->next_image++;
    d->pkt->flags |= AV_PKT_FLAG_KEY;          /* every image stands alone (png decodes deltas otherwise) */
    rc = 1;
out:
    fclose(fp);
    return rc;
}

/* Feeds the decoder one more packet (or the flush); 0 fed, 1 nothing left to feed, -1 error. */
static int feed(coord_dec_t *d, char *err, size_t errlen)
{
    int rc;
    if (d->flushing) return 1;
    if (!d->ic) {
        rc = load_image(d, err, errlen);
        if (rc < 0) return -1;
    } else {
        do {
            av_packet_unref(d->pkt);
            rc = av_read_frame(d->ic, d->pkt);
        } while (rc >= 0 && d->pkt->stream_index != d->stream);
        if (rc < 0 && rc != AVERROR_EOF) { av_err(err, errlen, d->fmt->name, "read", rc); return -1; }
        rc = rc >= 0;
    }
    if (!rc) { d->flushing = 1; rc = avcodec_send_packet(d->cc, NULL); }
    else rc = avcodec_send_packet(d->cc, d->pkt);
    if (rc < 0 && rc != AVERROR_EOF) { av_err(err, errlen, d->fmt->name, "decode", rc); return -1; }
    return 0;
}

int coord_dec_next(coord_dec_t *d, AVFrame **f, char *err, size_t errlen)
{
    while (!d->done) {
        av_frame_unref(d->frame);
        int rc = avcodec_receive_frame(d->cc, d->frame);
        if (rc >= 0) { *f = d->frame; return 1; }
        if (rc == AVERROR_EOF) { d->done = 1; break; }
        if (rc != AVERROR(EAGAIN)) { av_err(err, errlen, d->fmt->name, "decode", rc); return -1; }
        if ((rc = feed(d, err, errlen)) < 0) return -1;
        if (rc == 1) { d->done = 1; break; }
    }
    return 0;
}

void coord_dec_free(coord_dec_t **pd)
{
    coord_dec_t *d = pd ? *pd : NULL;
    if (!d) return;
    avcodec_free_context(&d->cc);
    if (d->ic) avformat_close_input(&d->ic);
    av_packet_free(&d->pkt);
    av_frame_free(&d->frame);
    free(d);
    *pd = NULL;
}
