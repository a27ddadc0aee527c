/* engine.h — the worker's render engines, ONE table: testcard (procedural) and dit (the model).
 *
 * An engine renders one window of an ASSIGN into premultiplied RGBA16 frames, calling back after
 * every frame (testcard) or sampler step (dit) and polling a cancel flag. An engine that cannot run
 * in this build says why (wrk_engine_t.unavailable) and is neither advertised in READY nor faked:
 * a window for it is refused with a FAIL of class "model" carrying that reason.
 */
#ifndef WORKER_ENGINE_H
#define WORKER_ENGINE_H
#include <stdatomic.h>
#include <stddef.h>
#include "proto/frames.h"
#include "proto/proto.h"

/* testcard test options (farm-worker run --testcard-*) */
typedef struct {
    char fail[512];          /* "SHOT:WINDOW,SHOT:WINDOW": these windows fail every time (class window) */
    char hang[512];          /* these windows hang: the worker goes silent (see worker/run.c) */
    int  delay_ms;           /* sleep per frame */
} wrk_testcard_opts_t;

typedef struct {
    const proto_msg_t *assign;          /* the ASSIGN being rendered */
    const wrk_testcard_opts_t *tc;
    atomic_int *cancel;                 /* set by the loop: stop as soon as possible */
    atomic_int *silent;                 /* set by an engine: the loop must stop sending (hang test) */
    void (*progress)(void *ctx, int done, int total);
    void *ctx;
} wrk_render_t;

enum { WRK_RENDER_OK = 0, WRK_RENDER_FAILED = -1, WRK_RENDER_CANCELLED = -2 };

typedef struct {
    const char *name;
    /* NULL when the engine works in this build, else the reason it does not */
    const char *unavailable;
    /* WRK_RENDER_*; on FAILED sets *fail_class (proto_fail_class_t) and err */
    int (*render)(const wrk_render_t *r, proto_frames_t *out, int *fail_class, char *err, size_t errlen);
} wrk_engine_t;

extern const wrk_engine_t WRK_ENGINES[];   /* terminated by {NULL} */
const wrk_engine_t *wrk_engine_find(const char *name);
/* Comma-separated names of the usable engines, restricted to `only` (comma list) when non-empty. */
void wrk_engines_usable(const char *only, char *out, size_t len);
/* 1 if "shot:window" is in the comma list. */
int  wrk_window_listed(const char *list, const char *shot, unsigned window);

#endif
