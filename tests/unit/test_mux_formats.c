/* test_mux_formats.c — coord_assemble_shot end to end on a small synthetic shot cut into windows:
 * every output format is written, decoded back and checked (the assembly itself fails otherwise),
 * names and colour tags are as documented, the formats table agrees with PROTO_OUTPUT_FORMATS,
 * and failures (odd size for 4:2:0, unwritable or missing directory, a disk that fills up, unknown or
 * repeated formats, corrupt artifacts) give a clear error and leave no partial output behind.
 *
 * `test_mux_formats --keep DIR [WORKDIR]` only assembles the shot "keep" with every format into DIR
 * (artifacts in WORKDIR, default DIR) and exits 0, or 1 printing the error (used by
 * tests/integration/formats_ffprobe.sh and formats_diskfull.sh). */
#include "tests/test.h"
#include "coordinator/assemble/assemble.h"
#include "coordinator/assemble/check.h"
#include "coordinator/assemble/formats.h"
#include "proto/shotlist.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libavformat/avformat.h>

static char dir[] = "/tmp/test_mux_formats_XXXXXX";
static char err[2048];
static const char *ALL[8] = { "prores4444", "vp9", "ffv1", "png-mov", "qtrle", "exr", "png", "png16" };

/* Soft moving disc over a faint translucent background: premultiplied RGBA16. */
static void synth(uint16_t *px, int w, int h, int t)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint16_t *p = px + ((size_t)y * w + x) * 4;
            double cx = w * (0.3 + 0.03 * t), r = hypot(x - cx, y - h * 0.5) / (0.35 * h);
            double a = r < 1 ? 1 : (r < 1.4 ? (1.4 - r) / 0.4 : 0.04 * (1 + sin(x * 0.2)));
            double c[3] = { 0.5 + 0.5 * sin(x * 0.05 + t * 0.2), 0.5 + 0.5 * cos(y * 0.07), (double)x / w };
            for (int k = 0; k < 3; k++) p[k] = (uint16_t)(c[k] * a * 65535 + 0.5);
            p[3] = (uint16_t)(a * 65535 + 0.5);
        }
}

typedef struct { int nw; char paths[16][600]; const char *pp[16]; proto_manifest_t m[16]; } shot_t;

/* Cuts a frames-long synthetic shot into windows of `win` overlapping by `ov`, as artifacts in d. */
static int make_shot(shot_t *s, const char *d, int w, int h, int frames, int win, int ov)
{
    s->nw = 0;
    for (int first = 0; s->nw < 16; first += win - ov) {
        int n = frames - first < win ? frames - first : win;
        proto_frames_t f;
        if (proto_frames_alloc(&f, w, h, n, first, err, sizeof err) < 0) return -1;
        for (int i = 0; i < n; i++) synth(proto_frame(&f, i), w, h, first + i);
        snprintf(s->paths[s->nw], sizeof s->paths[0], "%s/win%02d.rgba", d, s->nw);
        int rc = proto_artifact_write(s->paths[s->nw], &f, &s->m[s->nw], err, sizeof err);
        proto_frames_free(&f);
        if (rc < 0) return -1;
        s->pp[s->nw] = s->paths[s->nw];
        s->nw++;
        if (first + n >= frames) break;
    }
    return 0;
}

static coord_assembly_t request(const shot_t *s, const char *name, int frames, int w, int h,
                                const char *const *outs, int nout, const char *out_dir)
{
    coord_assembly_t a = { name, frames, 24.0, w, h, s->nw, s->pp, s->m, nout, outs, out_dir };
    return a;
}

/* Number of entries in d whose name contains `needle` ("" counts all). */
static int count_in(const char *d, const char *needle)
{
    DIR *dd = opendir(d); struct dirent *e; int n = 0;
    while (dd && (e = readdir(dd))) if (e->d_name[0] != '.' && strstr(e->d_name, needle)) n++;
    if (dd) closedir(dd);
    return n;
}

static void table_agrees(void)
{
    int n = 0;
    for (int i = 0; PROTO_OUTPUT_FORMATS[i].name; i++, n++) {
        const coord_format_t *f = coord_format(PROTO_OUTPUT_FORMATS[i].name);
        CHECKF(f != NULL, "no encoder row for '%s'", PROTO_OUTPUT_FORMATS[i].name);
        if (!f) continue;
        const char *pe = PROTO_OUTPUT_FORMATS[i].ext;
        CHECKF(f->sequence ? pe[0] == 0 : (pe[0] == '.' && !strcmp(pe + 1, f->ext)),
               "%s: ext '%s' vs '%s'", f->name, pe, f->ext);
    }
    int m = 0;
    for (int i = 0; COORD_FORMATS[i].name; i++, m++)
        CHECKF(proto_output_format(COORD_FORMATS[i].name) != NULL, "'%s' not in PROTO_OUTPUT_FORMATS", COORD_FORMATS[i].name);
    CHECK_EQ_INT(n, m);
    CHECK(coord_format("nope") == NULL);
}

/* Opens a container output and checks stream codec, size, frame rate and colour tags. */
static void check_tags(const char *path, enum AVCodecID id, int w, int h, int yuv)
{
    AVFormatContext *ic = NULL;
    CHECKF(avformat_open_input(&ic, path, NULL, NULL) == 0, "%s", path);
    if (!ic) return;
    CHECK(avformat_find_stream_info(ic, NULL) >= 0);
    const AVStream *st = ic->streams[0];
    const AVCodecParameters *p = st->codecpar;
    CHECKF(p->codec_id == id, "%s: codec %s", path, avcodec_get_name(p->codec_id));
    CHECK(p->width == w && p->height == h);
    CHECKF(fabs(av_q2d(st->avg_frame_rate) - 24.0) < 0.01, "%s: %g fps", path, av_q2d(st->avg_frame_rate));
    CHECKF(p->color_primaries == AVCOL_PRI_BT709 && p->color_trc == AVCOL_TRC_BT709, "%s: primaries/trc", path);
    if (yuv) CHECKF(p->color_space == AVCOL_SPC_BT709 && p->color_range == AVCOL_RANGE_MPEG, "%s: matrix/range %d %d",
                    path, p->color_space, p->color_range);
    avformat_close_input(&ic);
}

static void all_formats(void)
{
    char d[700]; shot_t s;
    snprintf(d, sizeof d, "%s/all", dir);
    mkdir(d, 0755);
    CHECK(make_shot(&s, d, 48, 32, 14, 6, 2) == 0);
    CHECK_EQ_INT(s.nw, 3);
    coord_assembly_t a = request(&s, "hero_01", 14, 48, 32, ALL, 8, d);
    coord_assembly_result_t r;
    CHECKF(coord_assemble_shot(&a, &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(r.n, 8);
    char want[800];
    static const char *names[8] = { "hero_01.prores4444.mov", "hero_01.vp9.webm", "hero_01.ffv1.mkv", "hero_01.png-mov.mov",
                                    "hero_01.qtrle.mov", "hero_01.exr", "hero_01.png", "hero_01.png16" };
    for (int i = 0; i < r.n; i++) {
        snprintf(want, sizeof want, "%s/%s", d, names[i]);
        CHECK_STR(r.paths[i], want);
        CHECK(access(r.paths[i], F_OK) == 0);
        CHECKF(strstr(r.summary[i], "14 frames") != NULL, "%s", r.summary[i]);
        fprintf(stderr, "  %-14s %s\n", ALL[i], r.summary[i]);
    }
    CHECK(strstr(r.summary[0], "alpha exact") != NULL);
    CHECK(strstr(r.summary[2], "exact (16-bit colour, 16-bit alpha)") != NULL);
    for (int i = 5; i < 8; i++) { snprintf(want, sizeof want, "%s/%s", d, names[i]); CHECK_EQ_INT(count_in(want, ""), 14); }
    snprintf(want, sizeof want, "%s/hero_01.contact.png", d);
    CHECK_STR(r.contact_sheet, want);
    FILE *fp = fopen(want, "rb"); unsigned char sig[8] = { 0 };
    CHECK(fp && fread(sig, 1, 8, fp) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8));
    if (fp) fclose(fp);
    CHECK_EQ_INT(count_in(d, ".tmp."), 0);
    check_tags(r.paths[0], AV_CODEC_ID_PRORES, 48, 32, 1);
    check_tags(r.paths[1], AV_CODEC_ID_VP9, 48, 32, 1);
    check_tags(r.paths[2], AV_CODEC_ID_FFV1, 48, 32, 0);
    check_tags(r.paths[3], AV_CODEC_ID_PNG, 48, 32, 0);
    check_tags(r.paths[4], AV_CODEC_ID_QTRLE, 48, 32, 0);
    /* assembling again (a resumed job) replaces every output, sequence directories included, and
     * removes temporaries a dead process left behind (pid 2^22+1 is above Linux's pid_max) */
    char stale[800];
    snprintf(stale, sizeof stale, "%s/hero_01.png.tmp.4194305", d); mkdir(stale, 0755);
    snprintf(stale, sizeof stale, "%s/hero_01.png.tmp.4194305/hero_01.000000.png", d); fclose(fopen(stale, "w"));
    snprintf(stale, sizeof stale, "%s/hero_01.vp9.webm.tmp.4194305", d); fclose(fopen(stale, "w"));
    snprintf(stale, sizeof stale, "%s/hero_01.vp9.webm.tmp.1", d); fclose(fopen(stale, "w"));   /* pid 1 lives */
    CHECKF(coord_assemble_shot(&a, &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(count_in(d, ".tmp.4194305"), 0);
    CHECK_EQ_INT(count_in(d, ".tmp.1"), 1);
    unlink(stale);
    CHECK_EQ_INT(count_in(d, ".old."), 0);
    CHECK_EQ_INT(count_in(d, ".tmp."), 0);
}

/* One window, overlap 0 and odd sizes for every format that allows them. */
static void shapes(void)
{
    char d[700]; shot_t s; coord_assembly_result_t r;
    snprintf(d, sizeof d, "%s/shapes", dir);
    mkdir(d, 0755);
    CHECK(make_shot(&s, d, 33, 17, 5, 9, 0) == 0);
    CHECK_EQ_INT(s.nw, 1);
    const char *odd_ok[7] = { "prores4444", "ffv1", "png-mov", "qtrle", "exr", "png", "png16" };
    coord_assembly_t a = request(&s, "odd", 5, 33, 17, odd_ok, 7, d);
    CHECKF(coord_assemble_shot(&a, &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(r.n, 7);
    CHECK(make_shot(&s, d, 48, 32, 9, 3, 0) == 0);
    CHECK_EQ_INT(s.nw, 3);
    const char *two[2] = { "vp9", "png16" };
    a = request(&s, "ov0", 9, 48, 32, two, 2, d);
    CHECKF(coord_assemble_shot(&a, &r, err, sizeof err) == 0, "%s", err);
    /* a one-frame shot at an NTSC rate: every container keeps the rate (checked on decode-back) */
    CHECK(make_shot(&s, d, 32, 16, 1, 9, 0) == 0);
    a = request(&s, "still", 1, 32, 16, ALL, 8, d);
    a.fps = 29.97;
    CHECKF(coord_assemble_shot(&a, &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(r.n, 8);
}

static void failures(void)
{
    char d[700], f[800]; shot_t s; coord_assembly_result_t r;
    snprintf(d, sizeof d, "%s/fail", dir);
    mkdir(d, 0755);
    CHECK(make_shot(&s, d, 47, 32, 6, 6, 0) == 0);
    int base = count_in(d, "");
    const char *vp9[1] = { "vp9" };
    coord_assembly_t a = request(&s, "oddvp9", 6, 47, 32, vp9, 1, d);
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    CHECKF(strstr(err, "even") && strstr(err, "47x32") && strstr(err, "oddvp9"), "%s", err);
    CHECK_EQ_INT(count_in(d, ""), base);
    const char *bad[2] = { "png", "gif" };
    a = request(&s, "x", 6, 47, 32, bad, 2, d);
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    CHECKF(strstr(err, "gif") != NULL, "%s", err);
    const char *twice[2] = { "png", "png" };
    a = request(&s, "x", 6, 47, 32, twice, 2, d);
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    const char *png[1] = { "png" };
    a = request(&s, "../evil", 6, 47, 32, png, 1, d);
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    snprintf(f, sizeof f, "%s/missing", d);                    /* directory does not exist */
    a = request(&s, "x", 6, 47, 32, png, 1, f);
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    CHECKF(strstr(err, "missing") != NULL, "%s", err);
    a = request(&s, "x", 6, 47, 32, png, 1, s.paths[0]);       /* "directory" is a file */
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    a = request(&s, "x", 7, 47, 32, png, 1, d);                /* windows do not cover the shot */
    CHECK(coord_assemble_shot(&a, &r, err, sizeof err) == -1);
    CHECKF(strstr(err, "covered by no window") != NULL, "%s", err);
    CHECK_EQ_INT(count_in(d, ""), base);
}

/* A per-file size limit makes writes fail with EFBIG the way a full disk fails with ENOSPC. */
static void disk_full(void)
{
    char d[700]; shot_t s; coord_assembly_result_t r;
    snprintf(d, sizeof d, "%s/full", dir);
    mkdir(d, 0755);
    CHECK(make_shot(&s, d, 64, 48, 8, 8, 0) == 0);
    int base = count_in(d, "");
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old; lim.rlim_cur = 6000;
    signal(SIGXFSZ, SIG_IGN);
    static const char *one[3][1] = { { "ffv1" }, { "png16" }, { "prores4444" } };
    for (int i = 0; i < 3; i++) {
        coord_assembly_t a = request(&s, "full", 8, 64, 48, one[i], 1, d);
        setrlimit(RLIMIT_FSIZE, &lim);
        int rc = coord_assemble_shot(&a, &r, err, sizeof err);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(rc == -1);
        CHECKF(strstr(err, "too large") || strstr(err, "space"), "%s", err);
        CHECKF(count_in(d, "") == base, "%s: leftovers after: %s", one[i][0], err);
        fprintf(stderr, "  %s\n", err);
    }
}

/* The comparison itself must catch damage: one wrong sample, noise, a half-float off by 2 steps. */
static void check_catches_damage(void)
{
    enum { N = 64 };
    uint16_t ref[N * 4], st[N * 4], dec[N * 4]; float decf[N * 4];
    for (int i = 0; i < N * 4; i++) ref[i] = (uint16_t)(i % 4 == 3 ? 65535 : i * 900);
    coord_unpremultiply(ref, st, N);
    const coord_format_t *png = coord_format("png16"), *pr = coord_format("prores4444"), *exr = coord_format("exr");
    const coord_pixfmt_t *p16 = coord_pixfmt(AV_PIX_FMT_RGBA64BE), *pyuv = coord_pixfmt(AV_PIX_FMT_YUVA444P12LE),
                         *pf = coord_pixfmt(AV_PIX_FMT_GBRAPF32LE);
    coord_check_stats_t s;
    memcpy(dec, st, sizeof dec);
    coord_check_init(&s);
    coord_check_frame(png, p16, 0, 8, 8, ref, st, dec, NULL, &s);
    CHECK(coord_check_verdict(png, &s, err, sizeof err) == 0);
    dec[77]++;
    coord_check_frame(png, p16, 1, 8, 8, ref, st, dec, NULL, &s);
    CHECK(coord_check_verdict(png, &s, err, sizeof err) == -1);
    CHECKF(strstr(err, "frame 1") != NULL, "%s", err);
    for (int i = 0; i < N * 4; i++) dec[i] = (uint16_t)(st[i] + (i % 4 == 3 ? 0 : (i * 7919) % 2000));
    coord_check_init(&s);
    coord_check_frame(pr, pyuv, 0, 8, 8, ref, st, dec, NULL, &s);
    CHECK(coord_check_verdict(pr, &s, err, sizeof err) == -1);
    CHECKF(strstr(err, "colour PSNR") != NULL, "%s", err);
    for (int i = 0; i < N * 4; i++) decf[i] = ref[i] / 65535.0f;
    coord_check_init(&s);
    coord_check_frame(exr, pf, 0, 8, 8, ref, st, NULL, decf, &s);
    CHECK(coord_check_verdict(exr, &s, err, sizeof err) == 0);
    decf[10] *= 1.0f + 2.0f / 1024;
    coord_check_frame(exr, pf, 1, 8, 8, ref, st, NULL, decf, &s);
    CHECK(coord_check_verdict(exr, &s, err, sizeof err) == -1);
}

/* --keep DIR [WORKDIR]: one shot with every format, left in DIR for the integration tests. */
static int keep(const char *d, const char *work)
{
    shot_t s; coord_assembly_result_t r;
    if (make_shot(&s, work, 64, 48, 12, 8, 4) < 0) { fprintf(stderr, "%s\n", err); return 1; }
    coord_assembly_t a = request(&s, "keep", 12, 64, 48, ALL, 8, d);
    if (coord_assemble_shot(&a, &r, err, sizeof err) < 0) { fprintf(stderr, "%s\n", err); return 1; }
    for (int i = 0; i < r.n; i++) printf("%s\t%s\t%s\n", ALL[i], r.paths[i], r.summary[i]);
    printf("contact\t%s\n", r.contact_sheet);
    return 0;
}

static void rm_tree(const char *path)
{
    DIR *dd = opendir(path); struct dirent *e; char p[1200];
    if (!dd) { unlink(path); return; }
    while ((e = readdir(dd))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_tree(p);
    }
    closedir(dd);
    rmdir(path);
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--keep")) return keep(argv[2], argv[argc - 1]);
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    T_RUN(table_agrees);
    T_RUN(all_formats);
    T_RUN(shapes);
    T_RUN(failures);
    T_RUN(disk_full);
    T_RUN(check_catches_damage);
    if (!t_fail_) rm_tree(dir);
    T_DONE();
}
