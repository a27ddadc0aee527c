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

/* The blob of frames [first, first + n): (2·n, 1, GRID, GRID), luma frames then alpha frames. */
static int make_block(const proto_msg_t *a, int kind, int first, int n, proto_cond_t *c, char *err, size_t errlen)
{
    const int cell = GRID * GRID;
    *c = (proto_cond_t){ kind, 2, n, 1, GRID, GRID, first, calloc((size_t)2 * n * cell, sizeof(float)) };
    if (!c->data) { snprintf(err, errlen, "testcard cond: out of memory"); return -1; }
    for (int i = 0; i < n; i++)
        if (frame_grid(a->seed, first + i, (int)a->width, (int)a->height, c->data + (size_t)i * cell,
                       c->data + (size_t)(n + i) * cell, err, errlen) < 0) {
            proto_cond_free(c);
            return -1;
        }
    return 0;
}

/* What this ASSIGN hands on: kind and frames, or kind 0 for nothing. */
static int handed_on(const proto_msg_t *a, int *first, int *n)
{
    int anchor = !strcmp(a->role, "anchor");
    if (anchor) { *first = (int)a->first_frame; *n = (int)a->n_frames; return PROTO_COND_ANCHOR; }
    if (!strcmp(a->strategy, "chain") && a->overlap > 0) {
        *n = a->overlap < a->n_frames ? (int)a->overlap : (int)a->n_frames;
        *first = (int)(a->first_frame + a->n_frames) - *n;
        return PROTO_COND_CHAIN;
    }
    return 0;
}

int wrk_testcard_cond_make(const proto_msg_t *a, proto_frames_t *f, char *err, size_t errlen)
{
    int first, n, kind = handed_on(a, &first, &n);
    proto_cond_t c;
    if (!kind) return 0;
    if (make_block(a, kind, first, n, &c, err, errlen) < 0) return -1;
    int rc = proto_cond_encode(&c, &f->cond, &f->cond_len, err, errlen);
    proto_cond_free(&c);
    return rc;
}

int wrk_testcard_cond_check(const proto_msg_t *a, char *err, size_t errlen)
{
    proto_cond_t got, want;
    char e2[256];
    if (!a->data_len) return 0;
    if (proto_cond_decode(a->data, a->data_len, &got, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "testcard: conditioning blob refused: %s", e2);
        return -1;
    }
    int need = !strcmp(a->strategy, "anchor") ? PROTO_COND_ANCHOR : PROTO_COND_CHAIN, rc = -1;
    if (got.kind != need || got.halves != 2 || got.c != 1 || got.h != GRID || got.w != GRID ||
        got.first + got.frames > (int)a->shot_frames) {
        snprintf(err, errlen, "testcard: conditioning blob of kind %s, %d frames from %d does not fit a %s window",
                 proto_cond_kind_name(got.kind), got.frames, got.first, a->strategy);
        goto out;
    }
    int inside = got.first >= (int)a->first_frame && got.first + got.frames <= (int)(a->first_frame + a->n_frames);
    if (need == PROTO_COND_CHAIN ? !inside : got.first != (int)a->shot_frames / 2) {
        snprintf(err, errlen, "testcard: %s blob stands for frames %d+%d: not %s", a->strategy, got.first,
                 got.frames, need == PROTO_COND_CHAIN ? "inside this window (the previous window's tail)"
                                                      : "the shot's middle frame (the anchor)");
        goto out;
    }
    if (make_block(a, need, got.first, got.frames, &want, err, errlen) < 0) goto out;
    size_t n = proto_cond_floats(&got);
    rc = memcmp(got.data, want.data, n * sizeof(float)) ? -1 : 0;
    if (rc) snprintf(err, errlen, "testcard: conditioning blob for frames %d+%d is not those frames", got.first, got.frames);
    proto_cond_free(&want);
out:
    proto_cond_free(&got);
    return rc;
}
