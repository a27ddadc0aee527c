/* engine.c — the engine table (see engine.h): testcard renders procedurally frame by frame; dit
 * renders with the model pipeline (worker/model/pipeline.h). */
#include "worker/engine.h"
#include "worker/testcard.h"
#include "worker/testcard_cond.h"
#include "worker/model/pipeline.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

/* The hang test: go silent and never finish; only a cancel (SIGTERM, CANCEL) ends it. */
static int testcard_hang(const wrk_render_t *r)
{
    atomic_store(r->silent, 1);
    while (!atomic_load(r->cancel)) sleep_ms(20);
    return WRK_RENDER_CANCELLED;
}

static int testcard_render(const wrk_render_t *r, proto_frames_t *out, int *fail_class, char *err, size_t errlen)
{
    const proto_msg_t *a = r->assign;
    if (wrk_window_listed(r->tc->hang, a->shot, a->window_index)) return testcard_hang(r);
    if (wrk_window_listed(r->tc->fail, a->shot, a->window_index)) {
        *fail_class = PROTO_FAIL_WINDOW;
        snprintf(err, errlen, "testcard: window %s:%u fails by request (--testcard-fail)", a->shot, a->window_index);
        return WRK_RENDER_FAILED;
    }
    if (wrk_testcard_cond_check(a, err, errlen) < 0) { *fail_class = PROTO_FAIL_WINDOW; return WRK_RENDER_FAILED; }
    if (proto_frames_alloc(out, (int)a->width, (int)a->height, (int)a->n_frames, (int)a->first_frame, err, errlen) < 0) {
        *fail_class = PROTO_FAIL_RESOURCE;
        return WRK_RENDER_FAILED;
    }
    for (int i = 0; i < out->n; i++) {
        if (atomic_load(r->cancel)) { proto_frames_free(out); return WRK_RENDER_CANCELLED; }
        if (wrk_testcard_frame(a->seed, out->first + i, out->w, out->h, proto_frame(out, i), err, errlen) < 0) {
            proto_frames_free(out);
            *fail_class = PROTO_FAIL_WINDOW;
            return WRK_RENDER_FAILED;
        }
        if (r->tc->delay_ms > 0) sleep_ms(r->tc->delay_ms);
        if (r->progress) r->progress(r->ctx, i + 1, out->n);
    }
    if (wrk_testcard_cond_make(a, out, err, errlen) < 0) {   /* what chain/anchor hand on (issue #8) */
        proto_frames_free(out);
        *fail_class = PROTO_FAIL_WINDOW;
        return WRK_RENDER_FAILED;
    }
    return WRK_RENDER_OK;
}

const wrk_engine_t WRK_ENGINES[] = {
    { "testcard", NULL, testcard_render },
    { "dit", NULL, wrk_pipe_engine_render },   /* worker/model/pipeline.h */
    { NULL, NULL, NULL },
};

const wrk_engine_t *wrk_engine_find(const char *name)
{
    for (int i = 0; name && WRK_ENGINES[i].name; i++)
        if (!strcmp(WRK_ENGINES[i].name, name)) return &WRK_ENGINES[i];
    return NULL;
}

static int in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, item, n)) return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

void wrk_engines_usable(const char *only, char *out, size_t len)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; WRK_ENGINES[i].name; i++) {
        if (WRK_ENGINES[i].unavailable) continue;
        if (only && *only && !in_list(only, WRK_ENGINES[i].name)) continue;
        int w = snprintf(out + o, len - o, "%s%s", o ? "," : "", WRK_ENGINES[i].name);
        if (w < 0 || (size_t)w >= len - o) break;
        o += (size_t)w;
    }
}

int wrk_window_listed(const char *list, const char *shot, unsigned window)
{
    char key[128];
    snprintf(key, sizeof key, "%s:%u", shot, window);
    return in_list(list, key) || (snprintf(key, sizeof key, "*:%u", window), in_list(list, key)) ||
           (snprintf(key, sizeof key, "%s:*", shot), in_list(list, key)) || in_list(list, "*:*");
}
