/* on_client.c — client requests: SUBMIT (parse the shot list again, authoritatively; compile shots
 * into windows; one transaction), QUERY (JSON from the store) and CONTROL (operator verbs). Each is
 * answered exactly once, after its effect is committed. */
#include "coordinator/farmd.h"
#include "coordinator/windows.h"
#include "proto/shotlist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MAX (64 * 1024)
#define JOB_WINDOWS_MAX 500000   /* one job may not compile into more windows than this */

typedef void (*client_fn)(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m);

static void answer(coord_farmd_t *f, const proto_env_t *env, int type, int status, int64_t job_id, const char *text)
{
    proto_msg_t r;
    proto_msg_init(&r, type);
    r.status = status; r.job_id = (uint64_t)job_id;
    if (proto_msg_set_text(&r, text) != 0) proto_msg_set_text(&r, "reply too large");
    coord_send(f, env, &r);
    proto_msg_free(&r);
}

/* Windows and needs for every shot; on error err names the row (1-based) and field. */
static int plan_shots(const proto_shotlist_t *l, store_shot_plan_t *plan, int *total, char *err, size_t errlen)
{
    for (int i = 0; i < l->n; i++) {
        const proto_shot_t *s = &l->shots[i];
        char e[256];
        store_span_t *w = NULL; int n = 0;
        plan[i].shot = s;
        if (coord_windows(s->frames, s->window, s->overlap, &w, &n, e, sizeof e) != 0) {
            snprintf(err, errlen, "row %d, field 'window': %s", i + 1, e);
            return -1;
        }
        plan[i].windows = w; plan[i].n_windows = n;
        *total += n;
        if (*total > JOB_WINDOWS_MAX) {
            snprintf(err, errlen, "row %d, field 'frames': the list compiles into more than %d windows", i + 1, JOB_WINDOWS_MAX);
            return -1;
        }
        if (coord_needs(s, s->window, &plan[i].need_gpus, &plan[i].need_mem_mb, e, sizeof e) != 0) {
            snprintf(err, errlen, "row %d, field 'engine': %s", i + 1, e);
            return -1;
        }
    }
    return 0;
}

static void on_submit(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m)
{
    proto_shotlist_t l = {0};
    store_shot_plan_t *plan = NULL;
    char *err = calloc(1, ERR_MAX);
    int64_t job_id = 0;
    const char *text = m->text ? m->text : "";
    if (!err) return;
    if (strlen(text) > PROTO_SHOTLIST_MAX_BYTES) {
        snprintf(err, ERR_MAX, "shot list is %zu bytes: at most %u allowed", strlen(text), PROTO_SHOTLIST_MAX_BYTES);
        goto refuse;
    }
    if (proto_shotlist_parse(text, strlen(text), &l, err, ERR_MAX) != 0) goto refuse;
    if (!(plan = calloc((size_t)l.n + 1, sizeof *plan))) { snprintf(err, ERR_MAX, "out of memory"); goto refuse; }
    int total = 0;
    if (plan_shots(&l, plan, &total, err, ERR_MAX) != 0) goto refuse;
    if (store_job_submit(f->st, m->file_name[0] ? m->file_name : "(unnamed)", l.n, plan, coord_wall_ms(), &job_id,
                         err, ERR_MAX) != 0)
        goto refuse;
    coord_logf("job %lld submitted: %s, %d shots", (long long)job_id, m->file_name, l.n);
    answer(f, env, PROTO_SUBMIT_REPLY, 0, job_id, "");
    f->want_dispatch = 1;
    goto out;
refuse:
    answer(f, env, PROTO_SUBMIT_REPLY, 1, 0, err);
out:
    for (int i = 0; plan && i < l.n; i++) free((void *)plan[i].windows);
    free(plan);
    proto_shotlist_free(&l);
    free(err);
}

static void on_query(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m)
{
    char *json = NULL, err[512];
    if (store_query(f->st, m->kind, (int64_t)m->job_id, (int64_t)m->since, m->args, &json, err, sizeof err) != 0)
        answer(f, env, PROTO_QUERY_REPLY, 1, 0, err);
    else
        answer(f, env, PROTO_QUERY_REPLY, 0, 0, json);
    free(json);
}

static void on_control(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m)
{
    store_control_t c; char err[512], msg[256];
    if (store_control(f->st, m->verb, (int64_t)m->job_id, coord_wall_ms(), &c, err, sizeof err) != 0) {
        answer(f, env, PROTO_CONTROL_REPLY, 1, (int64_t)m->job_id, err);
        return;
    }
    for (int i = 0; i < c.n_cancel; i++) {   /* committed: now tell the workers to stop */
        coord_worker_t *w = coord_worker_by_attempt(f, c.cancel_attempts[i]);
        proto_msg_t r;
        coord_upload_drop(f, c.cancel_attempts[i]);
        coord_alog(f, c.cancel_attempts[i], "CANCEL: job %s", m->verb);
        if (!w) continue;
        proto_msg_init(&r, PROTO_CANCEL); r.attempt_id = (uint64_t)c.cancel_attempts[i];
        proto_msg_set_text(&r, "job cancelled");
        coord_send(f, &w->env, &r);
        proto_msg_free(&r);
        w->attempt_id = 0;
        if (store_worker_set(f->st, w->caps.id, "idle", 0, coord_wall_ms(), err, sizeof err) != 0) coord_logf("%s", err);
    }
    for (int i = 0; i < c.n_assemble; i++) coord_assembly_start(f, c.assemble_shots[i]);
    snprintf(msg, sizeof msg, "%d windows changed, %d running attempts cancelled", c.n_windows, c.n_cancel);
    coord_logf("job %lld: %s: %s", (long long)m->job_id, m->verb, msg);
    answer(f, env, PROTO_CONTROL_REPLY, 0, (int64_t)m->job_id, msg);
    store_control_free(&c);
    f->want_dispatch = 1;
}

static const struct { int type; client_fn fn; } CLIENT[] = {
    { PROTO_SUBMIT, on_submit }, { PROTO_QUERY, on_query }, { PROTO_CONTROL, on_control },
};

void coord_on_client_msg(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m)
{
    for (size_t i = 0; i < sizeof CLIENT / sizeof CLIENT[0]; i++)
        if (CLIENT[i].type == m->type) { CLIENT[i].fn(f, env, m); return; }
}
