/* stitch.c — streaming premultiplied-alpha crossfade of a shot's windows (see stitch.h). */
#include "coordinator/assemble/stitch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coord_stitch {
    int frames, w, h, nwin;
    int *first, *n;                     /* (nwin) window ranges */
    int *in, *out;                      /* (nwin) frames shared with earlier / later windows */
    const char *const *paths;           /* (nwin) artifact files, owned by the caller */
    proto_manifest_t *man;              /* (nwin) their manifests */
    proto_artifact_reader_t *rd;        /* (nwin) readers; only windows around the current frame are open */
    double *wt;                         /* (nwin) weights of the current frame */
    uint16_t *tmp;                      /* (h, w, 4) one window frame */
    float *acc;                         /* (h, w, 4) weighted sum */
};

/* ---- layout and weights (pure) ---- */

int coord_stitch_check_layout(int frames, int nwin, const int *first, const int *n, char *err, size_t errlen)
{
    if (frames < 1 || nwin < 1 || nwin > COORD_STITCH_MAX_WINDOWS) {
        snprintf(err, errlen, "stitch: %d frames from %d windows is not a shot", frames, nwin);
        return -1;
    }
    long covered = 0;                   /* union so far is [0, covered) */
    for (int k = 0; k < nwin; k++) {
        if (n[k] < 1 || first[k] < 0 || first[k] > frames - n[k]) {
            snprintf(err, errlen, "stitch: window %d frames [%d, %ld) outside the shot [0, %d)",
                     k, first[k], (long)first[k] + n[k], frames);
            return -1;
        }
        if (k > 0 && (first[k] <= first[k - 1] || first[k] + n[k] <= first[k - 1] + n[k - 1])) {
            snprintf(err, errlen, "stitch: window %d [%d, %d) must start and end after window %d [%d, %d)",
                     k, first[k], first[k] + n[k], k - 1, first[k - 1], first[k - 1] + n[k - 1]);
            return -1;
        }
        if (first[k] > covered) {
            snprintf(err, errlen, "stitch: frames [%ld, %d) are covered by no window", covered, first[k]);
            return -1;
        }
        if (first[k] + n[k] > covered) covered = first[k] + n[k];
    }
    if (covered != frames) {
        snprintf(err, errlen, "stitch: frames [%ld, %d) are covered by no window", covered, frames);
        return -1;
    }
    return 0;
}

static double smoothstep(double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    return x * x * (3 - 2 * x);
}

/* Frames window k shares with windows starting before it (ramp in) / ending after it (ramp out). */
static void shared_frames(int nwin, const int *first, const int *n, int k, int *in, int *out)
{
    int s = first[k], e = first[k] + n[k], reach = s, next = e;
    for (int j = 0; j < nwin; j++) {
        if (j == k) continue;
        if (first[j] < s && first[j] + n[j] > reach) reach = first[j] + n[j];
        if (first[j] + n[j] > e && first[j] < next && first[j] > s) next = first[j];
    }
    *in = reach - s < n[k] ? reach - s : n[k];
    *out = e - next < n[k] ? e - next : n[k];
}

/* Weights at frame t given each window's shared-frame counts (in[k], out[k]). */
static void weights_at(int nwin, const int *first, const int *n, const int *in, const int *out, int t, double *w)
{
    double sum = 0;
    for (int k = 0; k < nwin; k++) {
        w[k] = 0;
        if (t < first[k] || t >= first[k] + n[k]) continue;
        double r = 1;
        if (in[k] > 0) r *= smoothstep((t - first[k] + 0.5) / in[k]);
        if (out[k] > 0) r *= smoothstep((first[k] + n[k] - t - 0.5) / out[k]);
        w[k] = r;
        sum += r;
    }
    for (int k = 0; k < nwin && sum > 0; k++) w[k] /= sum;
}

void coord_stitch_weights(int nwin, const int *first, const int *n, int t, double *w)
{
    int *in = calloc((size_t)nwin, sizeof(int)), *out = calloc((size_t)nwin, sizeof(int));
    if (!in || !out) { for (int k = 0; k < nwin; k++) w[k] = 0; goto out; }
    for (int k = 0; k < nwin; k++) shared_frames(nwin, first, n, k, &in[k], &out[k]);
    weights_at(nwin, first, n, in, out, t, w);
out:
    free(in); free(out);
}

/* ---- streaming ---- */

static int check_window(const coord_stitch_t *s, int k, const proto_manifest_t *m, char *err, size_t errlen)
{
    const proto_manifest_t *h = &s->rd[k].m;
    if (h->first != m->first || h->n != m->n || h->w != m->w || h->h != m->h || h->bytes != m->bytes) {
        snprintf(err, errlen, "stitch: %s: header (first=%d n=%d %dx%d %llu bytes) disagrees with its manifest "
                 "(first=%d n=%d %dx%d %llu bytes)", s->rd[k].path, h->first, h->n, h->w, h->h,
                 (unsigned long long)h->bytes, m->first, m->n, m->w, m->h, (unsigned long long)m->bytes);
        return -1;
    }
    if (h->w != s->w || h->h != s->h) {
        snprintf(err, errlen, "stitch: %s is %dx%d, the shot is %dx%d", s->rd[k].path, h->w, h->h, s->w, s->h);
        return -1;
    }
    return 0;
}

/* Opens window k's artifact if it is not open, checking its header. A long shot has thousands of
 * windows, so only the ones covering the current frame hold a file descriptor. */
static int ensure_open(coord_stitch_t *s, int k, char *err, size_t errlen)
{
    if (s->rd[k].path[0]) return 0;
    if (proto_artifact_open(s->paths[k], &s->rd[k], err, errlen) < 0) return -1;
    if (check_window(s, k, &s->man[k], err, errlen) < 0) { proto_artifact_close(&s->rd[k]); return -1; }
    return 0;
}

int coord_stitch_open(coord_stitch_t **out, int frames, int w, int h, int nwin,
                      const char *const *paths, const proto_manifest_t *manifests, char *err, size_t errlen)
{
    *out = NULL;
    if (w < 1 || h < 1 || w > 16384 || h > 16384 || nwin < 1 || nwin > COORD_STITCH_MAX_WINDOWS) {
        snprintf(err, errlen, "stitch: bad shot shape %dx%d with %d windows", w, h, nwin);
        return -1;
    }
    coord_stitch_t *s = calloc(1, sizeof *s);
    size_t px = (size_t)w * (size_t)h * 4;
    if (!s || !(s->first = calloc((size_t)nwin, sizeof(int))) || !(s->n = calloc((size_t)nwin, sizeof(int))) ||
        !(s->in = calloc((size_t)nwin, sizeof(int))) || !(s->out = calloc((size_t)nwin, sizeof(int))) ||
        !(s->rd = calloc((size_t)nwin, sizeof *s->rd)) || !(s->man = calloc((size_t)nwin, sizeof *s->man)) || !(s->wt = calloc((size_t)nwin, sizeof(double))) ||
        !(s->tmp = malloc(px * sizeof(uint16_t))) || !(s->acc = malloc(px * sizeof(float)))) {
        snprintf(err, errlen, "stitch: out of memory");
        goto fail;
    }
    s->frames = frames; s->w = w; s->h = h; s->nwin = nwin;
    for (int k = 0; k < nwin; k++) { s->first[k] = manifests[k].first; s->n[k] = manifests[k].n; }
    if (coord_stitch_check_layout(frames, nwin, s->first, s->n, err, errlen) < 0) goto fail;
    for (int k = 0; k < nwin; k++) shared_frames(nwin, s->first, s->n, k, &s->in[k], &s->out[k]);
    s->paths = paths;
    memcpy(s->man, manifests, (size_t)nwin * sizeof *s->man);
    for (int k = 0; k < nwin; k++) {             /* validate every header now, then close again */
        if (ensure_open(s, k, err, errlen) < 0) goto fail;
        proto_artifact_close(&s->rd[k]);
    }
    *out = s;
    return 0;
fail:
    coord_stitch_close(&s);
    return -1;
}

/* Reads window k's frame for shot frame t into buf, premultiplying straight artifacts. */
static int load(coord_stitch_t *s, int k, int t, uint16_t *buf, char *err, size_t errlen)
{
    if (ensure_open(s, k, err, errlen) < 0) return -1;
    if (proto_artifact_read_frame(&s->rd[k], t - s->first[k], buf, err, errlen) < 0) return -1;
    if (s->rd[k].m.convention != PROTO_ALPHA_STRAIGHT) return 0;
    size_t npx = (size_t)s->w * (size_t)s->h;
    for (size_t i = 0; i < npx; i++) {
        uint32_t a = buf[4 * i + 3];
        for (int c = 0; c < 3; c++) buf[4 * i + c] = (uint16_t)((buf[4 * i + c] * a + 32767u) / 65535u);
    }
    return 0;
}

int coord_stitch_frame(coord_stitch_t *s, int t, uint16_t *dst, char *err, size_t errlen)
{
    if (t < 0 || t >= s->frames) { snprintf(err, errlen, "stitch: frame %d outside [0, %d)", t, s->frames); return -1; }
    weights_at(s->nwin, s->first, s->n, s->in, s->out, t, s->wt);
    for (int k = 0; k < s->nwin; k++)            /* windows that ended before t are done with */
        if (s->rd[k].path[0] && s->first[k] + s->n[k] <= t) proto_artifact_close(&s->rd[k]);
    size_t ns = (size_t)s->w * (size_t)s->h * 4;
    int used = 0;
    for (int k = 0; k < s->nwin; k++) {
        if (s->wt[k] <= 0) continue;
        if (s->wt[k] >= 1.0) return load(s, k, t, dst, err, errlen);     /* only window: exact copy */
        if (load(s, k, t, s->tmp, err, errlen) < 0) return -1;
        float wk = (float)s->wt[k];
        if (!used++) for (size_t i = 0; i < ns; i++) s->acc[i] = wk * s->tmp[i];
        else for (size_t i = 0; i < ns; i++) s->acc[i] += wk * s->tmp[i];
    }
    for (size_t i = 0; i < ns; i++) {
        float v = s->acc[i] + 0.5f;
        dst[i] = (uint16_t)(v >= 65535.f ? 65535 : (v <= 0 ? 0 : (int)v));
    }
    return 0;
}

void coord_stitch_close(coord_stitch_t **ps)
{
    coord_stitch_t *s = ps ? *ps : NULL;
    if (!s) return;
    for (int k = 0; s->rd && k < s->nwin; k++) proto_artifact_close(&s->rd[k]);
    free(s->first); free(s->n); free(s->in); free(s->out); free(s->man); free(s->rd); free(s->wt); free(s->tmp); free(s->acc);
    free(s);
    *ps = NULL;
}
