/* testcard_cond.c — testcard conditioning blobs (see testcard_cond.h). */
#include "worker/testcard_cond.h"
#include "worker/testcard.h"
#include "proto/cond.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GRID = 8 };

/* The grid of frame `index`: luma (GRID, GRID) and alpha (GRID, GRID) cell means in [0, 1]. */
static int frame_grid(uint64_t seed, int index, int w, int h, float *luma, float *alpha, char *err, size_t errlen)
{
    uint16_t *px = malloc((size_t)w * h * 4 * sizeof *px);
    if (!px) { snprintf(err, errlen, "testcard cond: out of memory"); return -1; }
    if (wrk_testcard_frame(seed, index, w, h, px, err, errlen) < 0) { free(px); return -1; }
    for (int gy = 0; gy < GRID; gy++)
        for (int gx = 0; gx < GRID; gx++) {
            int y0 = gy * h / GRID, y1 = (gy + 1) * h / GRID, x0 = gx * w / GRID, x1 = (gx + 1) * w / GRID;
            double l = 0, a = 0; int n = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++, n++) {
                    const uint16_t *p = px + ((size_t)y * w + x) * 4;
                    l += (0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]) / 65535.0;
                    a += p[3] / 65535.0;
                }
            luma[gy * GRID + gx] = n ? (float)(l / n) : 0;
            alpha[gy * GRID + gx] = n ? (float)(a / n) : 0;
        }
    free(px);
    return 0;
}

/* The blob of the frames idx[0..n): (2·n, 1, GRID, GRID), luma frames then alpha frames; first = idx[0]. */
static int make_block(const proto_msg_t *a, int kind, const int *idx, int n, proto_cond_t *c, char *err, size_t errlen)
{
    const int cell = GRID * GRID;
    *c = (proto_cond_t){ kind, 2, n, 1, GRID, GRID, idx[0], calloc((size_t)2 * n * cell, sizeof(float)) };
    if (!c->data) { snprintf(err, errlen, "testcard cond: out of memory"); return -1; }
    for (int i = 0; i < n; i++)
        if (frame_grid(a->seed, idx[i], (int)a->width, (int)a->height, c->data + (size_t)i * cell,
                       c->data + (size_t)(n + i) * cell, err, errlen) < 0) {
            proto_cond_free(c);
            return -1;
        }
    return 0;
}

/* What this ASSIGN hands on: kind and frames idx[0..*n) (idx holds 2 or more), or kind 0 for nothing. */
static int handed_on(const proto_msg_t *a, int *idx, int *n)
{
    const proto_cond_strategy_t *s = proto_cond_strategy(a->strategy);
    int last = (int)(a->first_frame + a->n_frames) - 1;
    if (!strcmp(a->role, "anchor")) { idx[0] = (int)a->first_frame; *n = 1; return PROTO_COND_ANCHOR; }
    if (s->causal) { idx[0] = 0; idx[1] = last; *n = 2; return s->hand_on; }
    if (s->hand_on == PROTO_COND_CHAIN && a->overlap > 0) {
        *n = a->overlap < a->n_frames ? (int)a->overlap : (int)a->n_frames;
        for (int i = 0; i < *n; i++) idx[i] = last + 1 - *n + i;
        return PROTO_COND_CHAIN;
    }
    return 0;
}

int wrk_testcard_cond_make(const proto_msg_t *a, proto_frames_t *f, char *err, size_t errlen)
{
    int n = (int)(a->overlap > 2 ? a->overlap : 2), *idx = malloc((size_t)n * sizeof *idx), kind, rc = -1;
    proto_cond_t c;
    if (!idx) { snprintf(err, errlen, "testcard cond: out of memory"); return -1; }
    if (!(kind = handed_on(a, idx, &n))) { rc = 0; goto out; }
    if (make_block(a, kind, idx, n, &c, err, errlen) < 0) goto out;
    rc = proto_cond_encode(&c, &f->cond, &f->cond_len, err, errlen);
    proto_cond_free(&c);
out:
    free(idx);
    return rc;
}

/* 0 when got holds exactly the grids of frames idx[0..n). */
static int same_frames(const proto_msg_t *a, const proto_cond_t *got, const int *idx, int n, char *err, size_t errlen)
{
    proto_cond_t want;
    if (make_block(a, got->kind, idx, n, &want, err, errlen) < 0) return -1;
    int rc = memcmp(got->data, want.data, proto_cond_floats(got) * sizeof(float)) ? 1 : 0;
    proto_cond_free(&want);
    return rc;
}

/* Whether the blob stands for the frames this window expects: chain, the previous window's tail (inside
 * this window); anchor, the shot's middle frame; anchor-causal, [frame 0, the previous window's last frame]
 * (at or after this window's first frame − 1, before its own last). 0 fits, 1 other frames, -1 error. */
static int blob_fits(const proto_msg_t *a, const proto_cond_t *got, int causal, char *err, size_t errlen)
{
    int first = (int)a->first_frame, end = first + (int)a->n_frames, idx[2] = { 0, 0 };
    if (causal) {
        if (got->frames != 2 || got->first != 0) return 1;
        for (idx[1] = first - 1; idx[1] < end - 1; idx[1]++) {
            int rc = idx[1] >= 0 ? same_frames(a, got, idx, 2, err, errlen) : 1;
            if (rc <= 0) return rc;
        }
        return 1;
    }
    if (got->kind == PROTO_COND_ANCHOR) {
        if (got->frames != 1 || got->first != (int)a->shot_frames / 2) return 1;
        idx[0] = got->first;
        return same_frames(a, got, idx, 1, err, errlen);
    }
    if (got->first < first || got->first + got->frames > end) return 1;
    int *run = malloc((size_t)got->frames * sizeof *run), rc;
    if (!run) { snprintf(err, errlen, "testcard cond: out of memory"); return -1; }
    for (int i = 0; i < got->frames; i++) run[i] = got->first + i;
    rc = same_frames(a, got, run, got->frames, err, errlen);
    free(run);
    return rc;
}

int wrk_testcard_cond_check(const proto_msg_t *a, char *err, size_t errlen)
{
    static const char *const want_what[2] = { "inside this window (the previous window's tail)",
                                              "the shot's middle frame (the anchor)" };
    proto_cond_t got;
    char e2[256];
    if (!a->data_len) return 0;
    if (proto_cond_decode(a->data, a->data_len, &got, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "testcard: conditioning blob refused: %s", e2);
        return -1;
    }
    const proto_cond_strategy_t *s = proto_cond_strategy(a->strategy);
    int rc = -1;
    if (!s->use || got.kind != s->use || got.halves != 2 || got.c != 1 || got.h != GRID || got.w != GRID ||
        got.first + got.frames > (int)a->shot_frames) {
        snprintf(err, errlen, "testcard: conditioning blob of kind %s, %d frames from %d does not fit a %s window",
                 proto_cond_kind_name(got.kind), got.frames, got.first, a->strategy);
        goto out;
    }
    int fit = blob_fits(a, &got, s->causal, err, errlen);
    if (fit > 0)
        snprintf(err, errlen, "testcard: %s blob of %d frames from %d is not %s", a->strategy, got.frames, got.first,
                 s->causal ? "[the shot's first frame, the previous window's last frame]"
                           : want_what[got.kind == PROTO_COND_ANCHOR]);
    rc = fit ? -1 : 0;
out:
    proto_cond_free(&got);
    return rc;
}
