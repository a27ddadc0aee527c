/* bench_mux.c — stitch + mux throughput per output format at 720x480 and 1920x1080, side by side
 * with the `ffmpeg` command line encoding the same frames with the same encoder settings, in the
 * same run. Not a test: prints a Markdown table for BENCHMARKS.md.
 *
 * Ours: windows are read from artifact files (17 frames, overlap 4, so most frames are blended),
 * stitched, converted and encoded exactly as coord_assemble_shot does in its first pass.
 * ffmpeg: reads the stitched frames as raw straight rgba64le (premultiplied for EXR) from a file
 * written beforehand, converts with swscale and encodes with the same encoder options, taken from
 * the same formats-table row. Decode-back verification is timed separately (ours only).
 *
 * usage: bench_mux [frames_sd=48] [frames_hd=16] [format ...]; BENCH_REPS=n runs ours and ffmpeg
 * alternately n times each and keeps the best time of each (the machine is shared and noisy).
 */
#include "coordinator/assemble/check.h"
#include "coordinator/assemble/decode.h"
#include "coordinator/assemble/formats.h"
#include "coordinator/assemble/mux.h"
#include "coordinator/assemble/pixconv.h"
#include "coordinator/assemble/stitch.h"
#include "proto/artifact.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>

#define WIN 17
#define OVL 4

static char err[1024];
static char dir[] = "/tmp/bench_mux_XXXXXX";

typedef struct { int w, h, frames, nw; char paths[64][512]; const char *pp[64]; proto_manifest_t m[64]; } shot_t;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void synth(uint16_t *px, int w, int h, int t, int win)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint16_t *p = px + ((size_t)y * w + x) * 4;
            double cx = w * (0.3 + 0.01 * t), r = hypot(x - cx, y - h * 0.5) / (0.35 * h);
            double a = r < 1 ? 1 : (r < 1.3 ? (1.3 - r) / 0.3 : 0.05 * (1 + sin(x * 0.05)));
            double c[3] = { 0.5 + 0.5 * sin(x * 0.02 + t * 0.1 + win * 0.01), 0.5 + 0.5 * cos(y * 0.03), (double)x / w };
            for (int k = 0; k < 3; k++) p[k] = (uint16_t)(c[k] * a * 65535 + 0.5);
            p[3] = (uint16_t)(a * 65535 + 0.5);
        }
}

static int make_shot(shot_t *s)
{
    s->nw = 0;
    for (int first = 0; s->nw < 64; first += WIN - OVL) {
        int n = s->frames - first < WIN ? s->frames - first : WIN;
        proto_frames_t f;
        if (proto_frames_alloc(&f, s->w, s->h, n, first, err, sizeof err) < 0) return -1;
        for (int i = 0; i < n; i++) synth(proto_frame(&f, i), s->w, s->h, first + i, s->nw);
        snprintf(s->paths[s->nw], sizeof s->paths[0], "%s/w%dx%d_%02d.rgba", dir, s->w, s->h, s->nw);
        int rc = proto_artifact_write(s->paths[s->nw], &f, &s->m[s->nw], err, sizeof err);
        proto_frames_free(&f);
        if (rc < 0) return -1;
        s->pp[s->nw] = s->paths[s->nw];
        s->nw++;
        if (first + n >= s->frames) break;
    }
    return 0;
}

/* The stitched frames as raw rgba64le files for the ffmpeg CLI: straight and premultiplied. */
static int write_raw(const shot_t *s, const char *straight_path, const char *premul_path)
{
    coord_stitch_t *st;
    size_t npx = (size_t)s->w * s->h;
    uint16_t *pm = malloc(npx * 8), *sa = malloc(npx * 8);
    FILE *fs = fopen(straight_path, "wb"), *fp = fopen(premul_path, "wb");
    int rc = -1;
    if (!pm || !sa || !fs || !fp) goto out;
    if (coord_stitch_open(&st, s->frames, s->w, s->h, s->nw, s->pp, s->m, err, sizeof err) < 0) goto out;
    for (int t = 0; t < s->frames; t++) {
        if (coord_stitch_frame(st, t, pm, err, sizeof err) < 0) { coord_stitch_close(&st); goto out; }
        coord_unpremultiply(pm, sa, npx);
        fwrite(sa, 8, npx, fs);
        fwrite(pm, 8, npx, fp);
    }
    coord_stitch_close(&st);
    rc = 0;
out:
    free(pm); free(sa);
    if (fs) fclose(fs);
    if (fp) fclose(fp);
    return rc;
}

/* Ours: stitch from the artifacts and encode, as coord_assemble_shot's first pass. Seconds or -1. */
static double run_ours(const shot_t *s, const coord_format_t *f, const char *out)
{
    coord_stitch_t *st = NULL;
    coord_enc_t *e = NULL;
    uint16_t *px = malloc((size_t)s->w * s->h * 8);
    double t0 = now(), dt = -1;
    if (!px || coord_stitch_open(&st, s->frames, s->w, s->h, s->nw, s->pp, s->m, err, sizeof err) < 0) goto out;
    if (coord_enc_open(&e, f, out, "x", s->w, s->h, 24.0, err, sizeof err) < 0) goto out;
    for (int t = 0; t < s->frames; t++)
        if (coord_stitch_frame(st, t, px, err, sizeof err) < 0 || coord_enc_write(e, px, err, sizeof err) < 0) goto out;
    if (coord_enc_finish(e, err, sizeof err) < 0) goto out;
    dt = now() - t0;
out:
    coord_enc_free(&e);
    coord_stitch_close(&st);
    free(px);
    return dt;
}

/* Ours: decode-back check (decode, re-stitch, compare), as the second pass. Seconds or -1. */
static double run_verify(const shot_t *s, const coord_format_t *f, const char *out, char *summary, size_t len)
{
    coord_stitch_t *st = NULL;
    coord_dec_t *d = NULL;
    coord_dec_info_t info;
    coord_check_stats_t cs;
    size_t n = (size_t)s->w * s->h * 4;
    uint16_t *ref = malloc(n * 2), *sa = malloc(n * 2), *dec = malloc(n * 2);
    float *decf = malloc(n * 4);
    double t0 = now(), dt = -1;
    coord_check_init(&cs);
    if (!ref || !sa || !dec || !decf) goto out;
    if (coord_stitch_open(&st, s->frames, s->w, s->h, s->nw, s->pp, s->m, err, sizeof err) < 0) goto out;
    if (coord_dec_open(&d, f, out, "x", &info, err, sizeof err) < 0) goto out;
    for (int t = 0; t < s->frames; t++) {
        AVFrame *fr;
        if (coord_stitch_frame(st, t, ref, err, sizeof err) < 0 || coord_dec_next(d, &fr, err, sizeof err) != 1) goto out;
        const coord_pixfmt_t *pf = coord_pixfmt(fr->format);
        if (!pf) goto out;
        coord_unpremultiply(ref, sa, n / 4);
        pf->get(fr, dec, decf);
        coord_check_frame(f, pf, t, s->w, s->h, ref, sa, dec, decf, &cs);
    }
    dt = now() - t0;
    if (coord_check_verdict(f, &cs, err, sizeof err) < 0) snprintf(summary, len, "FAILED: %.150s", err);
    else coord_check_summary(f, &cs, summary, len);
out:
    coord_dec_free(&d);
    coord_stitch_close(&st);
    free(ref); free(sa); free(dec); free(decf);
    return dt;
}

/* The ffmpeg command line equivalent to a formats-table row. */
static void ffmpeg_cmd(char *cmd, size_t len, const shot_t *s, const coord_format_t *f, const char *raw, const char *out)
{
    char opts[512] = "", buf[256];
    snprintf(buf, sizeof buf, "%s", f->options);
    for (char *kv = strtok(buf, ":"); kv; kv = strtok(NULL, ":")) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        const char *k = !strcmp(kv, "profile") ? "profile:v" : !strcmp(kv, "b") ? "b:v" : kv;
        size_t l = strlen(opts);
        snprintf(opts + l, sizeof opts - l, " -%s %s", k, eq + 1);
    }
    snprintf(cmd, len, "ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgba64le -s %dx%d -r 24 -i %s "
             "-c:v %s -pix_fmt %s%s -color_primaries bt709 -color_trc bt709 -colorspace %s -color_range %s "
             "-f %s %s%s", s->w, s->h, raw, f->encoder, av_get_pix_fmt_name(f->pix_fmt), opts,
             f->yuv ? "bt709" : "rgb", f->yuv ? "tv" : "pc", f->sequence ? "image2" : f->muxer, out,
             f->sequence ? (f->ext[0] == 'e' ? "/x.%06d.exr" : "/x.%06d.png") : "");
}

/* Our own share of the work, without any encoder: stitching (read + blend) and pixel conversion. */
static void overheads(const shot_t *s)
{
    coord_stitch_t *st;
    uint16_t *px = malloc((size_t)s->w * s->h * 8);
    if (!px || coord_stitch_open(&st, s->frames, s->w, s->h, s->nw, s->pp, s->m, err, sizeof err) < 0) { free(px); return; }
    double t0 = now();
    for (int t = 0; t < s->frames; t++) coord_stitch_frame(st, t, px, err, sizeof err);
    double dt = now() - t0;
    coord_stitch_close(&st);
    fprintf(stdout, "\n%dx%d, no encoder: stitch %.1f ms/frame (%.0f fps); conversion ms/frame:", s->w, s->h,
            1e3 * dt / s->frames, s->frames / dt);
    for (int i = 0; COORD_FORMATS[i].name; i++) {
        const coord_format_t *f = &COORD_FORMATS[i];
        const coord_pixfmt_t *pf = coord_pixfmt(f->pix_fmt);
        AVFrame *fr = av_frame_alloc();
        if (!pf || !fr) continue;
        fr->format = f->pix_fmt; fr->width = s->w; fr->height = s->h;
        if (av_frame_get_buffer(fr, 0) == 0) {
            t0 = now();
            for (int k = 0; k < 8; k++) pf->put(px, fr);
            fprintf(stdout, " %s %.1f;", f->name, 1e3 * (now() - t0) / 8);
        }
        av_frame_free(&fr);
    }
    fprintf(stdout, "\n\n");
    free(px);
}

static long long du(const char *path)
{
    char cmd[1200]; long long kb = -1;
    snprintf(cmd, sizeof cmd, "du -sk '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (p && fscanf(p, "%lld", &kb) != 1) kb = -1;
    if (p) pclose(p);
    return kb;
}

static int reps = 1;

static void bench_size(int w, int h, int frames, int nf, const char *const *names)
{
    shot_t *s = calloc(1, sizeof *s);
    char raw_s[600], raw_p[600], ours[700], cli[700], cmd[4096], summary[200];
    s->w = w; s->h = h; s->frames = frames;
    snprintf(raw_s, sizeof raw_s, "%s/raw_%dx%d_straight.rgba64le", dir, w, h);
    snprintf(raw_p, sizeof raw_p, "%s/raw_%dx%d_premul.rgba64le", dir, w, h);
    if (make_shot(s) < 0 || write_raw(s, raw_s, raw_p) < 0) { fprintf(stderr, "setup: %s\n", err); exit(1); }
    printf("| format | size | frames | ours fps (stitch+mux) | ffmpeg CLI fps | ours/ffmpeg speed | ours decode-back fps | KiB ours / ffmpeg | decode-back check |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nf; i++) {
        const coord_format_t *f = coord_format(names[i]);
        if (!f) { fprintf(stderr, "unknown format %s\n", names[i]); continue; }
        if (f->even_size && (w % 2 || h % 2)) continue;
        snprintf(ours, sizeof ours, "%s/ours.%s%s%s", dir, f->name, f->sequence ? "" : ".", f->sequence ? "" : f->ext);
        snprintf(cli, sizeof cli, "%s/cli.%s%s%s", dir, f->name, f->sequence ? "" : ".", f->sequence ? "" : f->ext);
        if (f->sequence) mkdir(cli, 0755);
        double t_ours = 1e30, t_cli = 1e30;
        int rc = 0;
        ffmpeg_cmd(cmd, sizeof cmd, s, f, f->check == COORD_CHECK_HALF ? raw_p : raw_s, cli);
        for (int rep = 0; rep < reps; rep++) {           /* alternate, keep the best of each */
            char rm[1500];
            snprintf(rm, sizeof rm, "rm -rf '%s'", ours);
            if (rep && system(rm) != 0) fprintf(stderr, "cleanup failed\n");
            double t = run_ours(s, f, ours);
            if (t < 0) { fprintf(stderr, "%s: %s\n", f->name, err); break; }
            t_ours = fmin(t_ours, t);
            double t0 = now();
            rc |= system(cmd);
            t_cli = fmin(t_cli, now() - t0);
        }
        if (t_ours >= 1e30) continue;
        double t_ver = run_verify(s, f, ours, summary, sizeof summary);
        printf("| %s | %dx%d | %d | %.2f | %.2f | %.2f | %.2f | %lld / %lld | %s |\n", f->name, w, h, frames,
               frames / t_ours, rc == 0 ? frames / t_cli : 0.0, rc == 0 ? t_cli / t_ours : 0.0,
               t_ver > 0 ? frames / t_ver : 0.0, du(ours), du(cli), summary);
        fflush(stdout);
        fprintf(stderr, "  %s\n", cmd);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", ours, cli);
        if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    }
    overheads(s);
    for (int k = 0; k < s->nw; k++) unlink(s->paths[k]);
    unlink(raw_s); unlink(raw_p);
    free(s);
}

int main(int argc, char **argv)
{
    int sd = argc > 1 ? atoi(argv[1]) : 48, hd = argc > 2 ? atoi(argv[2]) : 16;
    const char *names[16]; int nf = 0;
    for (int i = 3; i < argc && nf < 16; i++) names[nf++] = argv[i];
    if (!nf) for (int i = 0; COORD_FORMATS[i].name && nf < 16; i++) names[nf++] = COORD_FORMATS[i].name;
    av_log_set_level(AV_LOG_ERROR);
    if (getenv("BENCH_REPS")) reps = atoi(getenv("BENCH_REPS")) > 0 ? atoi(getenv("BENCH_REPS")) : 1;
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    if (sd > 0) bench_size(720, 480, sd, nf, names);
    if (hd > 0) bench_size(1920, 1080, hd, nf, names);
    rmdir(dir);
    return 0;
}
