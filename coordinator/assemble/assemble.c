/* assemble.c — coord_assemble_shot (see assemble.h): stitch -> encode every output -> decode every
 * output back against a second stitch of the same frames -> rename into place -> contact sheet.
 *
 * Two streaming passes over the artifacts instead of keeping the shot in memory: the second pass
 * recomputes the reference frames bit-identically, so lossless outputs can be compared exactly and
 * lossy ones measured, with memory independent of the shot length.
 * Output names: "<out_dir>/<shot>.<format>.<ext>" for files, "<out_dir>/<shot>.<format>/" holding
 * "<shot>.NNNNNN.<ext>" for sequences, "<out_dir>/<shot>.contact.png" for the contact sheet.
 */
#include "coordinator/assemble/assemble.h"
#include "coordinator/assemble/check.h"
#include "coordinator/assemble/contact.h"
#include "coordinator/assemble/decode.h"
#include "coordinator/assemble/formats.h"
#include "coordinator/assemble/mux.h"
#include "coordinator/assemble/pixconv.h"
#include "coordinator/assemble/stitch.h"
#include "proto/shotlist.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>

typedef struct {
    const coord_format_t *fmt;
    char final[1024], tmp[1100];
    coord_enc_t *enc;
    coord_dec_t *dec;
    coord_dec_info_t info;
    coord_check_stats_t stats;
    AVFrame *storable;                    /* chroma-subsampled lossy formats: the source as the pixel
                                             format can hold it (see storable_reference) */
} out_t;

typedef struct {
    const coord_assembly_t *a;
    int nout;
    out_t out[PROTO_OUTPUTS_MAX];
    coord_contact_t *sheet;
    uint16_t *ref, *straight, *dec16, *stor16;   /* (h, w, 4) each */
    float *decf;                          /* (h, w, 4) */
    char err[1024];
} job_t;

/* ---- validation and naming ---- */

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PROTO_SHOT_NAME_MAX || strstr(s, "..")) return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int validate(const coord_assembly_t *a, char *err, size_t errlen)
{
    if (!name_ok(a->shot_name)) { snprintf(err, errlen, "assembly: invalid shot name"); return -1; }
    if (a->frames < 1 || a->frames > 100000 || !(a->fps > 0 && a->fps <= 1000) || a->width < 1 ||
        a->height < 1 || a->width > 16384 || a->height > 16384 || a->n_windows < 1 || !a->artifact_paths ||
        !a->manifests || a->n_outputs < 0 || a->n_outputs > PROTO_OUTPUTS_MAX || (a->n_outputs && !a->outputs) ||
        !a->out_dir) {
        snprintf(err, errlen, "shot '%s': bad assembly request (%d frames, %.3f fps, %dx%d, %d windows, %d outputs)",
                 a->shot_name, a->frames, a->fps, a->width, a->height, a->n_windows, a->n_outputs);
        return -1;
    }
    for (int i = 0; i < a->n_outputs; i++) {
        const coord_format_t *f = coord_format(a->outputs[i]);
        if (!f) { snprintf(err, errlen, "shot '%s': unknown output format '%.32s'", a->shot_name, a->outputs[i]); return -1; }
        for (int j = 0; j < i; j++)
            if (!strcmp(a->outputs[j], a->outputs[i])) {
                snprintf(err, errlen, "shot '%s': output '%s' requested twice", a->shot_name, f->name);
                return -1;
            }
        if (f->even_size && (a->width % 2 || a->height % 2)) {
            snprintf(err, errlen, "shot '%s': output %s (%s, 4:2:0 chroma) needs an even width and height, "
                     "the shot is %dx%d", a->shot_name, f->name, f->encoder, a->width, a->height);
            return -1;
        }
        char e2[256];
        if (coord_format_available(f, e2, sizeof e2) < 0) { snprintf(err, errlen, "shot '%s': %s", a->shot_name, e2); return -1; }
    }
    return 0;
}

static int plan_paths(job_t *j, char *err, size_t errlen)
{
    const coord_assembly_t *a = j->a;
    for (int i = 0; i < j->nout; i++) {
        out_t *o = &j->out[i];
        o->fmt = coord_format(a->outputs[i]);
        int n = o->fmt->sequence ? snprintf(o->final, sizeof o->final, "%s/%s.%s", a->out_dir, a->shot_name, o->fmt->name)
                                 : snprintf(o->final, sizeof o->final, "%s/%s.%s.%s", a->out_dir, a->shot_name,
                                            o->fmt->name, o->fmt->ext);
        if (n < 0 || (size_t)n >= sizeof o->final - 40) {
            snprintf(err, errlen, "shot '%s': output directory path too long", a->shot_name);
            return -1;
        }
        size_t l = (size_t)n;                     /* "<final>.tmp.<pid>" (fits: tmp is 60+ bytes longer) */
        memcpy(o->tmp, o->final, l);
        snprintf(o->tmp + l, sizeof o->tmp - l, ".tmp.%ld", (long)getpid());
    }
    return 0;
}

/* Removes a file, or a directory of files (sequence) — only ever our own temporary outputs. */
static void remove_output(const char *path)
{
    DIR *d = opendir(path);
    if (!d) { unlink(path); return; }
    struct dirent *e;
    char p[1400];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

/* Removes "<shot>.*.tmp.<pid>" / ".old.<pid>" leftovers of an assembly whose process died (a crash
 * or power loss between writing and renaming); live processes' temporaries are left alone. */
static void remove_stale(const coord_assembly_t *a)
{
    DIR *d = opendir(a->out_dir);
    struct dirent *e;
    char p[1400];
    size_t nl = strlen(a->shot_name);
    while (d && (e = readdir(d))) {
        const char *tag = strstr(e->d_name, ".tmp."), *old = strstr(e->d_name, ".old.");
        if (strncmp(e->d_name, a->shot_name, nl) || e->d_name[nl] != '.' || (!tag && !old)) continue;
        const char *num = strrchr(e->d_name, '.') + 1;
        long pid = strspn(num, "0123456789") == strlen(num) && *num ? strtol(num, NULL, 10) : 0;
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(p, sizeof p, "%s/%s", a->out_dir, e->d_name);
        remove_output(p);
    }
    if (d) closedir(d);
}

/* ---- pass 1: stitch and encode ---- */

static int encode_pass(job_t *j, char *err, size_t errlen)
{
    const coord_assembly_t *a = j->a;
    coord_stitch_t *st = NULL;
    int rc = -1;
    if (coord_stitch_open(&st, a->frames, a->width, a->height, a->n_windows, a->artifact_paths,
                          a->manifests, err, errlen) < 0) goto out;
    for (int i = 0; i < j->nout; i++)
        if (coord_enc_open(&j->out[i].enc, j->out[i].fmt, j->out[i].tmp, a->shot_name, a->width, a->height,
                           a->fps, err, errlen) < 0) goto out;
    for (int t = 0; t < a->frames; t++) {
        if (coord_stitch_frame(st, t, j->ref, err, errlen) < 0) goto out;
        for (int i = 0; i < j->nout; i++)
            if (coord_enc_write(j->out[i].enc, j->ref, err, errlen) < 0) goto out;
        coord_contact_add(j->sheet, t, j->ref);
    }
    for (int i = 0; i < j->nout; i++) {
        if (coord_enc_finish(j->out[i].enc, err, errlen) < 0) goto out;
        coord_enc_free(&j->out[i].enc);
    }
    rc = 0;
out:
    coord_stitch_close(&st);
    return rc;
}

/* ---- pass 2: decode back and compare ---- */

static int open_decoders(job_t *j, char *err, size_t errlen)
{
    for (int i = 0; i < j->nout; i++) {
        out_t *o = &j->out[i];
        if (coord_dec_open(&o->dec, o->fmt, o->tmp, j->a->shot_name, &o->info, err, errlen) < 0) return -1;
        if (o->info.extra_files) {
            snprintf(err, errlen, "%s: %d unexpected files in the sequence directory", o->fmt->name, o->info.extra_files);
            return -1;
        }
        if (!o->fmt->sequence && fabs(o->info.fps - j->a->fps) > 0.01 * j->a->fps) {
            snprintf(err, errlen, "%s: file declares %.4f fps, the shot is %.4f fps", o->fmt->name, o->info.fps, j->a->fps);
            return -1;
        }
        coord_check_init(&o->stats);
    }
    return 0;
}

/* The reference a lossy output is measured against. For a chroma-subsampled pixel format (VP9's
 * yuva420p) it is the source passed through the format's own conversion and back — what a perfect
 * codec would return — so the PSNR bound judges the codec, not the 4:2:0 loss every such file has on
 * sharp colour edges (the conversion itself is tested in test_mux_pixconv and formats_ffprobe).
 * Other formats compare with the source itself. */
static const uint16_t *storable_reference(job_t *j, out_t *o, char *err, size_t errlen)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(o->fmt->pix_fmt);
    const coord_pixfmt_t *pf = coord_pixfmt(o->fmt->pix_fmt);
    if (o->fmt->check != COORD_CHECK_LOSSY || !d || !pf || (!d->log2_chroma_w && !d->log2_chroma_h))
        return j->straight;
    if (!o->storable) {
        o->storable = av_frame_alloc();
        if (!o->storable) goto oom;
        o->storable->format = o->fmt->pix_fmt;
        o->storable->width = j->a->width;
        o->storable->height = j->a->height;
        if (av_frame_get_buffer(o->storable, 0) < 0) goto oom;
    }
    pf->put(j->ref, o->storable);
    pf->get(o->storable, j->stor16, NULL);
    return j->stor16;
oom:
    snprintf(err, errlen, "%s: out of memory for the reference frame", o->fmt->name);
    return NULL;
}

/* Decodes output o's frame t and compares it with the reference in j->ref / j->straight. */
static int verify_frame(job_t *j, out_t *o, int t, char *err, size_t errlen)
{
    AVFrame *f;
    int rc = coord_dec_next(o->dec, &f, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) { snprintf(err, errlen, "%s: decodes to %d frames, the shot has %d", o->fmt->name, t, j->a->frames); return -1; }
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    const coord_pixfmt_t *pf = coord_pixfmt(f->format);
    if (!desc || !(desc->flags & AV_PIX_FMT_FLAG_ALPHA) || !pf) {
        snprintf(err, errlen, "%s: decodes to pixel format %s, which %s", o->fmt->name, desc ? desc->name : "?",
                 desc && (desc->flags & AV_PIX_FMT_FLAG_ALPHA) ? "the checker cannot read" : "has no alpha");
        return -1;
    }
    if (f->width != j->a->width || f->height != j->a->height) {
        snprintf(err, errlen, "%s: frame %d decodes as %dx%d, the shot is %dx%d", o->fmt->name, t, f->width,
                 f->height, j->a->width, j->a->height);
        return -1;
    }
    pf->get(f, j->dec16, j->decf);
    const uint16_t *ref_straight = storable_reference(j, o, err, errlen);
    if (!ref_straight) return -1;
    coord_check_frame(o->fmt, pf, t, j->a->width, j->a->height, j->ref, ref_straight, j->dec16, j->decf, &o->stats);
    if (t == j->a->frames - 1) return coord_check_verdict(o->fmt, &o->stats, err, errlen);
    return 0;
}

static int verify_pass(job_t *j, char *err, size_t errlen)
{
    const coord_assembly_t *a = j->a;
    coord_stitch_t *st = NULL;
    size_t npx = (size_t)a->width * a->height;
    int rc = -1;
    if (j->nout == 0) return 0;
    if (open_decoders(j, err, errlen) < 0) goto out;
    if (coord_stitch_open(&st, a->frames, a->width, a->height, a->n_windows, a->artifact_paths,
                          a->manifests, err, errlen) < 0) goto out;
    for (int t = 0; t < a->frames; t++) {
        if (coord_stitch_frame(st, t, j->ref, err, errlen) < 0) goto out;
        coord_unpremultiply(j->ref, j->straight, npx);
        for (int i = 0; i < j->nout; i++)
            if (verify_frame(j, &j->out[i], t, err, errlen) < 0) goto out;
    }
    for (int i = 0; i < j->nout; i++) {
        AVFrame *f;
        int more = coord_dec_next(j->out[i].dec, &f, err, errlen);
        if (more < 0) goto out;
        if (more > 0) { snprintf(err, errlen, "%s: decodes to more than %d frames", j->out[i].fmt->name, a->frames); goto out; }
        coord_dec_free(&j->out[i].dec);
    }
    rc = 0;
out:
    coord_stitch_close(&st);
    return rc;
}

/* ---- publish ---- */

/* Renames a verified temporary output onto its final name; a previous sequence directory is moved
 * aside first (rename cannot replace a non-empty directory) and removed after. */
static int publish(const out_t *o, char *err, size_t errlen)
{
    char old[1200];
    struct stat sb;
    int moved = 0;
    if (o->fmt->sequence && lstat(o->final, &sb) == 0) {
        snprintf(old, sizeof old, "%s.old.%ld", o->final, (long)getpid());
        if (rename(o->final, old) < 0) { snprintf(err, errlen, "%s: move aside %s: %s", o->fmt->name, o->final, strerror(errno)); return -1; }
        moved = 1;
    }
    if (rename(o->tmp, o->final) < 0) {
        snprintf(err, errlen, "%s: rename to %s: %s", o->fmt->name, o->final, strerror(errno));
        if (moved) rename(old, o->final);
        return -1;
    }
    if (moved) remove_output(old);
    return 0;
}

static int alloc_buffers(job_t *j, char *err, size_t errlen)
{
    size_t n = (size_t)j->a->width * j->a->height * 4;
    j->ref = malloc(n * 2); j->straight = malloc(n * 2); j->dec16 = malloc(n * 2); j->stor16 = malloc(n * 2);
    j->decf = malloc(n * 4);
    if (!j->ref || !j->straight || !j->dec16 || !j->stor16 || !j->decf) { snprintf(err, errlen, "out of memory for frame buffers"); return -1; }
    return 0;
}

static void job_free(job_t *j, int failed)
{
    for (int i = 0; i < j->nout; i++) {
        coord_enc_free(&j->out[i].enc);
        coord_dec_free(&j->out[i].dec);
        av_frame_free(&j->out[i].storable);
        if (failed && j->out[i].fmt) remove_output(j->out[i].tmp);
    }
    coord_contact_free(&j->sheet);
    free(j->ref); free(j->straight); free(j->dec16); free(j->stor16); free(j->decf);
}

int coord_assemble_shot(const coord_assembly_t *a, coord_assembly_result_t *r, char *err, size_t errlen)
{
    job_t j = { .a = a, .nout = a ? a->n_outputs : 0 };
    char e[1024] = "";
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (!a) { snprintf(err, errlen, "assembly: no request"); return -1; }
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_ERROR);
    if (validate(a, err, errlen) < 0) { j.nout = 0; return -1; }
    remove_stale(a);
    if (plan_paths(&j, e, sizeof e) < 0 || alloc_buffers(&j, e, sizeof e) < 0 ||
        coord_contact_new(&j.sheet, a->shot_name, a->frames, a->width, a->height, a->fps, e, sizeof e) < 0) goto out;
    if (encode_pass(&j, e, sizeof e) < 0 || verify_pass(&j, e, sizeof e) < 0) goto out;
    snprintf(r->contact_sheet, sizeof r->contact_sheet, "%s/%s.contact.png", a->out_dir, a->shot_name);
    if (coord_contact_write(j.sheet, r->contact_sheet, e, sizeof e) < 0) goto out;
    for (int i = 0; i < j.nout; i++) {
        if (publish(&j.out[i], e, sizeof e) < 0) goto out;
        snprintf(r->paths[i], sizeof r->paths[i], "%s", j.out[i].final);
        coord_check_summary(j.out[i].fmt, &j.out[i].stats, r->summary[i], sizeof r->summary[i]);
        r->n = i + 1;
    }
    rc = 0;
out:
    if (rc < 0) snprintf(err, errlen, "shot '%s': %s", a->shot_name, e);
    job_free(&j, rc < 0);
    return rc;
}
