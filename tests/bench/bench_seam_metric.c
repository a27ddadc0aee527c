/* bench_seam_metric.c — the seam metric of issue #8 on an output image sequence (png, png16; exr is
 * read as premultiplied). For each seam between neighbouring windows: the mean |Δ| between the two
 * frames across the seam divided by the mean |Δ| between neighbouring frames inside the windows, for
 * colour (premultiplied RGB) and alpha (tests/bench/seam_metric.h has the exact definition).
 *
 *   bench_seam_metric DIR --frames F --window W --overlap O     windows as farmd compiles them
 *   bench_seam_metric DIR --windows 0+9,7+9,14+9               windows given as first+length
 *   options: --json (one JSON object), --max-ratio R (exit 1 when a colour or alpha ratio exceeds R),
 *            --artifacts A0,A1,...  the shot's window artifacts in window order (farmd's artifacts/):
 *            adds the footage control "own" per seam: the change each of the two windows' own renders
 *            has at the seam pair (both cover it), averaged, over the same inside. A ratio near "own"
 *            is the footage's own motion at that pair (e.g. a model that moves in bursts), not a seam.
 * Text output: one row per seam, then MAX (max ratio colour / alpha, max band colour / alpha over the
 * seams), MIN (the smallest band min colour / alpha: a stall) and MEAN (mean ratio colour / alpha over
 * the seams); per seam the band min follows the other columns; JSON: "max", "mean", "band_max", "band_min".
 *
 * DIR holds one image per frame; every *.png / *.exr file in it is a frame, in name order.
 * Not a test (nothing here is run by `make test`); the math is tested by tests/unit/test_seam_metric.c.
 */
#include "tests/bench/seam_metric.h"
#include "coordinator/windows.h"
#include "proto/artifact.h"

#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { char **names; int n; } files_t;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_frames(const char *dir, files_t *fl)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) { fprintf(stderr, "seam: cannot open %s\n", dir); return -1; }
    while ((e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".png") && strcmp(dot, ".exr"))) continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        char **p = realloc(fl->names, (size_t)(fl->n + 1) * sizeof *p);
        if (!p || !(p[fl->n] = strdup(path))) { if (p) fl->names = p; break; }
        fl->names = p; fl->n++;
    }
    closedir(d);
    qsort(fl->names, (size_t)fl->n, sizeof *fl->names, cmp_str);
    return 0;
}

/* Decodes one image to premultiplied float RGBA (w·h·4) into *px (allocated on the first frame). */
static int read_image(const char *path, int *w, int *h, float **px)
{
    AVFormatContext *fc = NULL;
    AVCodecContext *cc = NULL;
    AVPacket *pk = av_packet_alloc();
    AVFrame *fr = av_frame_alloc(), *rgb = av_frame_alloc();
    struct SwsContext *sw = NULL;
    int rc = -1;
    if (!pk || !fr || !rgb || avformat_open_input(&fc, path, NULL, NULL) < 0 || avformat_find_stream_info(fc, NULL) < 0)
        goto out;
    const AVCodec *dec = avcodec_find_decoder(fc->streams[0]->codecpar->codec_id);
    if (!dec || !(cc = avcodec_alloc_context3(dec)) || avcodec_parameters_to_context(cc, fc->streams[0]->codecpar) < 0 ||
        avcodec_open2(cc, dec, NULL) < 0 || av_read_frame(fc, pk) < 0 || avcodec_send_packet(cc, pk) < 0 ||
        avcodec_receive_frame(cc, fr) < 0)
        goto out;
    if (*px && (fr->width != *w || fr->height != *h)) { fprintf(stderr, "seam: %s: size differs\n", path); goto out; }
    *w = fr->width; *h = fr->height;
    rgb->format = AV_PIX_FMT_RGBA64LE; rgb->width = *w; rgb->height = *h;
    if (av_frame_get_buffer(rgb, 0) < 0 ||
        !(sw = sws_getContext(*w, *h, fr->format, *w, *h, AV_PIX_FMT_RGBA64LE, SWS_POINT, NULL, NULL, NULL)) ||
        sws_scale(sw, (const uint8_t *const *)fr->data, fr->linesize, 0, *h, rgb->data, rgb->linesize) != *h)
        goto out;
    if (!*px && !(*px = malloc((size_t)*w * *h * 4 * sizeof **px))) goto out;
    int premul = strstr(path, ".exr") != NULL;
    for (int y = 0; y < *h; y++) {
        const uint16_t *s = (const uint16_t *)(rgb->data[0] + (size_t)y * rgb->linesize[0]);
        float *d = *px + (size_t)y * *w * 4;
        for (int x = 0; x < *w * 4; x += 4) {
            float a = s[x + 3] / 65535.0f, m = premul ? 1.0f : a;
            for (int c = 0; c < 3; c++) d[x + c] = s[x + c] / 65535.0f * m;
            d[x + 3] = a;
        }
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "seam: cannot decode %s\n", path);
    sws_freeContext(sw); av_frame_free(&fr); av_frame_free(&rgb); av_packet_free(&pk);
    avcodec_free_context(&cc); avformat_close_input(&fc);
    return rc;
}

static int parse_windows(const char *s, seam_span_t **w, int *n)
{
    *n = 0;
    for (const char *p = s; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        seam_span_t sp;
        if (sscanf(p, "%d+%d", &sp.first, &sp.n) != 2 || sp.first < 0 || sp.n < 1) return -1;
        seam_span_t *q = realloc(*w, (size_t)(*n + 1) * sizeof *q);
        if (!q) return -1;
        *w = q; (*w)[(*n)++] = sp;
    }
    return *n > 0 ? 0 : -1;
}

typedef struct { const char *dir, *windows, *artifacts; int frames, window, overlap, json; double max_ratio; } args_t;

static int parse_args(int argc, char **argv, args_t *a)
{
    *a = (args_t){ .overlap = -1, .max_ratio = 0 };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) { a->json = 1; continue; }
        if (o[0] != '-') { a->dir = o; continue; }
        if (!v) return -1;
        i++;
        if (!strcmp(o, "--windows")) a->windows = v;
        else if (!strcmp(o, "--frames")) a->frames = atoi(v);
        else if (!strcmp(o, "--window")) a->window = atoi(v);
        else if (!strcmp(o, "--overlap")) a->overlap = atoi(v);
        else if (!strcmp(o, "--max-ratio")) a->max_ratio = atof(v);
        else if (!strcmp(o, "--artifacts")) a->artifacts = v;
        else return -1;
    }
    return a->dir && (a->windows || (a->frames > 0 && a->window > 0 && a->overlap >= 0)) ? 0 : -1;
}

static void report(const args_t *a, const seam_result_t *r, const double (*own)[2], int ns, const files_t *fl,
                   int w, int h)
{
    if (a->json) printf("{\"dir\":\"%s\",\"frames\":%d,\"width\":%d,\"height\":%d,\"seams\":[", a->dir, fl->n, w, h);
    else printf("%-5s %-6s %12s %12s %12s %12s %10s %10s%s\n", "SEAM", "FRAME", "colour", "alpha", "colour_max",
                "alpha_max", "d_col", "d_alpha", own ? "      own_c      own_a      min_c      min_a" : "      min_c      min_a");
    for (int k = 0; k < ns; k++) {
        const seam_result_t *s = &r[k];
        if (a->json)
            printf("%s{\"seam\":%d,\"frame\":%d,\"colour\":%.4f,\"alpha\":%.4f,\"colour_band_max\":%.4f,"
                   "\"alpha_band_max\":%.4f,\"colour_band_min\":%.4f,\"alpha_band_min\":%.4f,"
                   "\"across\":[%.6f,%.6f],\"inside\":[%.6f,%.6f]", k ? "," : "", k,
                   s->frame, s->ratio[0], s->ratio[1], s->band_max[0], s->band_max[1], s->band_min[0],
                   s->band_min[1], s->across[0], s->across[1], s->inside[0], s->inside[1]);
        else
            printf("%-5d %-6d %12.3f %12.3f %12.3f %12.3f %10.5f %10.5f", k, s->frame, s->ratio[0],
                   s->ratio[1], s->band_max[0], s->band_max[1], s->across[0], s->across[1]);
        if (own) printf(a->json ? ",\"own\":[%.4f,%.4f]" : " %10.3f %10.3f", own[k][0], own[k][1]);
        if (!a->json) printf(" %10.3f %10.3f", s->band_min[0], s->band_min[1]);
        printf(a->json ? "}" : "\n");
    }
    double mx[4] = { 0, 0, 0, 0 }, mean[2] = { 0, 0 };   /* max colour, alpha, band colour, band alpha */
    double mn[2] = { INFINITY, INFINITY };                /* smallest band min colour, alpha */
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < 2; i++) {
            mx[i] = fmax(mx[i], r[k].ratio[i]); mx[2 + i] = fmax(mx[2 + i], r[k].band_max[i]);
            mn[i] = fmin(mn[i], r[k].band_min[i]);
            mean[i] += r[k].ratio[i] / ns;
        }
    if (a->json)
        printf("],\"max\":[%.4f,%.4f],\"mean\":[%.4f,%.4f],\"band_max\":[%.4f,%.4f],\"band_min\":[%.4f,%.4f]}\n",
               mx[0], mx[1], mean[0], mean[1], mx[2], mx[3], ns ? mn[0] : 0, ns ? mn[1] : 0);
    else if (ns > 0) {
        printf("%-5s %-6s %12.3f %12.3f %12.3f %12.3f\n", "MAX", "-", mx[0], mx[1], mx[2], mx[3]);
        printf("%-5s %-6s %12s %12s %12.3f %12.3f   (band min colour / alpha)\n", "MIN", "-", "-", "-", mn[0], mn[1]);
        printf("%-5s %-6s %12.3f %12.3f\n", "MEAN", "-", mean[0], mean[1]);
    }
}

/* The footage control of seam k: own[i] = mean over windows k, k+1 of their own render's change at the
 * seam pair, / r->inside[i]. Artifacts: comma-separated, one per window, ranges as the windows. */
static int own_ratios(const char *list, const seam_span_t *w, int nw, int64_t px, seam_result_t *r,
                      double (*own)[2])
{
    char *copy = strdup(list), *save = NULL, err[256];
    proto_frames_t f[2] = { { 0 } };
    int k = 0, rc = -1;
    float *fa = malloc((size_t)px * 8 * sizeof *fa), *fb = malloc((size_t)px * 8 * sizeof *fb);   /* 2 frames */
    for (char *p = copy ? strtok_r(copy, ",", &save) : NULL; p && fa && fb; p = strtok_r(NULL, ",", &save), k++) {
        proto_frames_free(&f[0]); f[0] = f[1]; memset(&f[1], 0, sizeof f[1]);
        proto_manifest_t m;
        if (k >= nw || proto_artifact_read(p, &f[1], &m, err, sizeof err) != 0 || m.first != w[k].first ||
            m.n != w[k].n || (int64_t)m.w * m.h != px) {
            fprintf(stderr, "seam: artifact %d (%s) does not match window %d: %s\n", k, p, k, k < nw ? err : "too many");
            goto out;
        }
        if (k == 0) continue;
        int c = r[k - 1].frame;
        for (int j = 0; j < 2; j++)            /* fa: window k's frames c − 1, c; fb: window k+1's */
            for (int64_t i = 0; i < px * 4; i++) {
                float *dst = j ? fb : fa;
                dst[i] = proto_frame(&f[j], c - 1 - w[k - 1 + j].first)[i] / 65535.0f;
                dst[px * 4 + i] = proto_frame(&f[j], c - w[k - 1 + j].first)[i] / 65535.0f;
            }
        seam_own(fa, fa + px * 4, fb, fb + px * 4, px, r[k - 1].inside, own[k - 1]);
    }
    rc = k == nw ? 0 : -1;
    if (k != nw) fprintf(stderr, "seam: %d artifacts for %d windows\n", k, nw);
out:
    proto_frames_free(&f[0]); proto_frames_free(&f[1]);
    free(copy); free(fa); free(fb);
    return rc;
}

/* The windows farmd would compile for (frames, window, overlap). */
static int planned_windows(const args_t *a, seam_span_t **w, int *nw, char *err, size_t errlen)
{
    store_span_t *sp = NULL;
    if (coord_windows(a->frames, a->window, a->overlap, &sp, nw, err, errlen) != 0) return -1;
    if (!(*w = malloc((size_t)*nw * sizeof **w))) { free(sp); return -1; }
    for (int i = 0; i < *nw; i++) (*w)[i] = (seam_span_t){ sp[i].first, sp[i].n };
    free(sp);
    return 0;
}

int main(int argc, char **argv)
{
    args_t a; files_t fl = { 0 };
    seam_span_t *w = NULL; int nw = 0, W = 0, H = 0, rc = 1;
    float *frames = NULL, *px = NULL;
    seam_result_t *res = NULL;
    double (*own)[2] = NULL;
    char err[256];
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: %s DIR (--windows F+N,... | --frames F --window W --overlap O) [--json] "
                "[--max-ratio R] [--artifacts A0,A1,...]\n", argv[0]);
        return 2;
    }
    if (a.windows ? parse_windows(a.windows, &w, &nw) != 0 : planned_windows(&a, &w, &nw, err, sizeof err) != 0) {
        fprintf(stderr, "seam: bad windows%s%s\n", a.windows ? "" : ": ", a.windows ? "" : err);
        return 2;
    }
    if (list_frames(a.dir, &fl) != 0 || fl.n < 2) { fprintf(stderr, "seam: need >= 2 frames in %s\n", a.dir); goto out; }
    for (int i = 0; i < fl.n; i++) {
        if (read_image(fl.names[i], &W, &H, &px) != 0) goto out;
        if (!frames && !(frames = malloc((size_t)fl.n * W * H * 4 * sizeof *frames))) goto out;
        memcpy(frames + (size_t)i * W * H * 4, px, (size_t)W * H * 4 * sizeof *px);
    }
    if (!(res = calloc((size_t)(nw > 1 ? nw - 1 : 1), sizeof *res))) goto out;
    rc = 0;
    for (int k = 0; k + 1 < nw; k++) {
        if (seam_measure(frames, fl.n, (int64_t)W * H, w, nw, k, &res[k]) != 0) {
            fprintf(stderr, "seam: windows do not fit %d frames\n", fl.n);
            rc = 1; goto out;
        }
        if (a.max_ratio > 0 && (res[k].ratio[0] > a.max_ratio || res[k].ratio[1] > a.max_ratio)) rc = 1;
    }
    if (a.artifacts && (!(own = calloc((size_t)(nw > 1 ? nw - 1 : 1), sizeof *own)) ||
                        own_ratios(a.artifacts, w, nw, (int64_t)W * H, res, own) != 0)) { rc = 1; goto out; }
    report(&a, res, (const double (*)[2])own, nw - 1, &fl, W, H);
out:
    for (int i = 0; i < fl.n; i++) free(fl.names[i]);
    free(fl.names); free(w); free(frames); free(px); free(res); free(own);
    return rc;
}
