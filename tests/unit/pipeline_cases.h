/* pipeline_cases.h — what the pipeline golden tests share (test_pipeline_parity.c on the CPU,
 * test_pipeline_cuda.c on a GPU): a case of tests/golden/pipeline (case.json: prompt, negative, frames,
 * size, steps, guidance), the render request for it, and its expected 8-bit frames. Header-only (static
 * functions), included by one test program each; run from the repository root.
 */
#ifndef TESTS_UNIT_PIPELINE_CASES_H
#define TESTS_UNIT_PIPELINE_CASES_H
#include "proto/json.h"
#include "worker/model/pipeline.h"
#include "worker/model/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GOLD "tests/golden/pipeline"

typedef struct {
    char prompt[512], negative[512];
    int frames, width, height, steps;
    double guidance;
} pcase_t;

static int read_case(const char *name, pcase_t *c)
{
    char path[256], err[256];
    snprintf(path, sizeof path, GOLD "/%s/case.json", name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    proto_json_t *j = NULL;
    if (proto_json_parse(buf, n, NULL, &j, NULL, err, sizeof err)) return -1;
    const char *p = NULL, *ng = NULL;
    int64_t fr = 0, w = 0, h = 0, st = 0;
    int rc = proto_json_get_str(j, "prompt", &p) || proto_json_get_str(j, "negative", &ng) ||
             proto_json_get_int(j, "frames", &fr) || proto_json_get_int(j, "width", &w) ||
             proto_json_get_int(j, "height", &h) || proto_json_get_int(j, "steps", &st) ||
             proto_json_get_num(j, "guidance", &c->guidance) ? -1 : 0;
    if (!rc) {
        snprintf(c->prompt, sizeof c->prompt, "%s", p);
        snprintf(c->negative, sizeof c->negative, "%s", ng);
        c->frames = (int)fr; c->width = (int)w; c->height = (int)h; c->steps = (int)st;
    }
    proto_json_free(&j);
    return rc;
}

/* The render request of a case (no noise: the caller adds the captured noise when it wants it). */
static void req_for(const pcase_t *c, wrk_pipe_req_t *q)
{
    wrk_pipe_req_default(q);
    q->prompt = c->prompt; q->negative = c->negative;
    q->frames = c->frames; q->width = c->width; q->height = c->height; q->steps = c->steps;
    q->guidance = c->guidance;
}

/* Expected frames_u8 (T, H, W, 4) of a case; the caller frees. */
static uint8_t *read_expected(const char *name, int64_t *numel)
{
    char path[256], err[512];
    wrk_st_t *st = NULL;
    snprintf(path, sizeof path, GOLD "/%s/expected.safetensors", name);
    if (wrk_st_open(path, &st, err, sizeof err)) { fprintf(stderr, "%s\n", err); return NULL; }
    const wrk_st_tensor_t *t = wrk_st_find(st, "frames_u8");
    int64_t *tmp = t ? malloc((size_t)t->numel * sizeof *tmp) : NULL;
    uint8_t *u = t ? malloc((size_t)t->numel) : NULL;
    if (!t || !tmp || !u || wrk_st_read_i64(st, "frames_u8", t->ndim, t->shape, tmp, t->numel, err, sizeof err)) {
        free(tmp); free(u); wrk_st_close(&st);
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++) u[i] = (uint8_t)tmp[i];
    *numel = t->numel;
    free(tmp);
    wrk_st_close(&st);
    return u;
}

#endif
