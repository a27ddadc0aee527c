/* pipeline_engine.c — the worker's `dit` engine (see pipeline.h): resolves the shot's model and
 * LoRA, keeps ONE loaded pipeline per worker process (reloaded only when a window names another
 * model or LoRA; a failed load is not remembered: a fixed model directory works on the next window),
 * renders the window and hands back premultiplied uint16 frames. */
#include "worker/model/pipeline.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/proto.h"

/* ---- model names ---- */

static int name_ok(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 200) return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void models_root(char *out, size_t n)
{
    const char *m = getenv("FARM_MODELS"), *h = getenv("FARM_HOME");
    if (m && *m) snprintf(out, n, "%s", m);
    else snprintf(out, n, "%s/models", h && *h ? h : "./farm-home");
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int resolve_lora(const char *lora, const char *dir, const char *root, char *out, size_t n, char *err,
                        size_t errlen)
{
    out[0] = 0;
    if (!lora || !*lora) return 0;
    if (strchr(lora, '/')) { snprintf(out, n, "%s", lora); return 0; }
    if (!name_ok(lora)) { snprintf(err, errlen, "lora '%.200s': a file name must be [A-Za-z0-9._-]", lora); return -1; }
    snprintf(out, n, "%s/%s", dir, lora);
    if (is_file(out)) return 0;
    snprintf(out, n, "%s/%s", root, lora);
    if (is_file(out)) return 0;
    snprintf(err, errlen, "lora '%s': no such file in %s or %s", lora, dir, root);
    return -1;
}

int wrk_pipe_resolve(const char *model, const char *lora, char *dir, size_t dirlen, char *lora_out, size_t loralen,
                     char *err, size_t errlen)
{
    char root[PATH_MAX];
    models_root(root, sizeof root);
    if (!model || !*model) { snprintf(err, errlen, "the shot names no model (a dit shot needs `model`)"); return -1; }
    if (strchr(model, '/')) snprintf(dir, dirlen, "%s", model);
    else if (!name_ok(model)) {
        snprintf(err, errlen, "model '%.200s': a model name must be [A-Za-z0-9._-] (or give a directory path)", model);
        return -1;
    } else snprintf(dir, dirlen, "%s/%s", root, model);
    return resolve_lora(lora, dir, root, lora_out, loralen, err, errlen);
}

/* ---- the process-wide pipeline ---- */

typedef struct {
    pthread_mutex_t mu;
    wrk_pipe_t     *pipe;
    char            dir[PATH_MAX], lora[PATH_MAX];
    uint64_t        job_id;           /* text cache belongs to this job */
} pipe_slot_t;

static pipe_slot_t g_slot = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Makes g_slot hold dir+lora; the caller holds the lock. 0 / -1 with err (a model error). */
static int slot_get(pipe_slot_t *s, const char *dir, const char *lora, char *err, size_t errlen)
{
    if (s->pipe && !strcmp(s->dir, dir) && !strcmp(s->lora, lora)) return 0;
    wrk_pipe_destroy(&s->pipe);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->lora, sizeof s->lora, "%s", lora);
    s->job_id = 0;
    wrk_pipe_opts_t o;
    wrk_pipe_opts_default(&o);
    o.lora_path = *lora ? lora : NULL;
    o.tp = 0;                             /* auto: one rank per GPU the worker has on CUDA, 1 on CPU */
    return wrk_pipe_load(dir, &o, &s->pipe, err, errlen);
}

static void req_from_assign(const wrk_render_t *r, wrk_pipe_req_t *q)
{
    const proto_msg_t *a = r->assign;
    wrk_pipe_req_default(q);
    q->prompt = a->prompt; q->negative = a->negative;
    q->frames = (int)a->n_frames; q->width = (int)a->width; q->height = (int)a->height;
    q->steps = a->steps ? (int)a->steps : 50;
    q->guidance = a->guidance;
    q->seed = a->seed; q->window = a->window_index;
    q->cancel = r->cancel; q->progress = r->progress; q->ctx = r->ctx;
}

static int render_locked(pipe_slot_t *s, const wrk_render_t *r, proto_frames_t *out, int *fail_class, char *err,
                         size_t errlen)
{
    wrk_pipe_req_t q;
    wrk_pipe_frames_t f = { 0 };
    wrk_strategy_t strat;
    if (s->job_id != r->assign->job_id) { wrk_pipe_text_cache_clear(s->pipe); s->job_id = r->assign->job_id; }
    req_from_assign(r, &q);
    if (wrk_strategy_from_assign(r->assign, &strat, err, errlen)) { *fail_class = PROTO_FAIL_WINDOW; return WRK_RENDER_FAILED; }
    q.strategy = &strat;
    if (strat.use)
        fprintf(stderr, "dit: window %u of %s: %s conditioning, %d latent frames\n", r->assign->window_index,
                r->assign->shot, proto_cond_kind_name(strat.use), strat.in.frames);
    int rc = wrk_pipe_render(s->pipe, &q, &f, fail_class, err, errlen);
    wrk_strategy_free(&strat);
    if (rc == WRK_PIPE_CANCELLED) return WRK_RENDER_CANCELLED;
    if (rc != WRK_PIPE_OK) return WRK_RENDER_FAILED;
    const wrk_pipe_stats_t *st = wrk_pipe_stats(s->pipe);
    fprintf(stderr, "dit: window %u of %s: text %.2f s, %d steps %.2f s, decode %.2f s\n", r->assign->window_index,
            r->assign->shot, st->text_s, st->steps, st->denoise_s, st->decode_s);
    rc = wrk_pipe_to_proto(&f, (int)r->assign->first_frame, out, err, errlen);
    wrk_pipe_frames_free(&f);
    if (rc) { *fail_class = PROTO_FAIL_RESOURCE; return WRK_RENDER_FAILED; }
    return WRK_RENDER_OK;
}

int wrk_pipe_engine_render(const wrk_render_t *r, proto_frames_t *out, int *fail_class, char *err, size_t errlen)
{
    char dir[PATH_MAX], lora[PATH_MAX];
    *fail_class = PROTO_FAIL_MODEL;
    if (wrk_pipe_resolve(r->assign->model, r->assign->lora, dir, sizeof dir, lora, sizeof lora, err, errlen))
        return WRK_RENDER_FAILED;
    pthread_mutex_lock(&g_slot.mu);
    int rc = WRK_RENDER_FAILED;
    if (slot_get(&g_slot, dir, lora, err, errlen) == 0) rc = render_locked(&g_slot, r, out, fail_class, err, errlen);
    else if (strstr(err, "out of memory")) *fail_class = PROTO_FAIL_RESOURCE;   /* the model does not fit here */
    wrk_dit_thread_done();                /* the job thread ends: release its GPU context (no-op on CPU) */
    pthread_mutex_unlock(&g_slot.mu);
    return rc;
}
