/* store_sched.c — the store's writes: submission, workers, assignment, attempt outcomes, the
 * shot/job state derivation and assembly bookkeeping. Each public call is one transaction. */
#include "sql/store_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)
#define STMT(var, q) sqlite3_stmt *var = store_stmt(st, q, err, errlen); if (!var) goto fail

/* ---- submission ---- */
static int insert_shot(store_t *st, int64_t job_id, int idx, const store_shot_plan_t *p, int64_t *shot_id,
                       char *err, size_t errlen)
{
    const proto_shot_t *sh = p->shot;
    char outs[PROTO_OUTPUTS_MAX * 33] = "";
    for (int i = 0; i < sh->n_outputs; i++) {
        if (i) strcat(outs, ",");
        strncat(outs, sh->outputs[i], 32);
    }
    STMT(s, Q_SHOT_INS);
    int c = 1;
    sqlite3_bind_int64(s, c++, job_id); sqlite3_bind_int(s, c++, idx);
    sqlite3_bind_text(s, c++, sh->name, -1, SQLITE_STATIC); sqlite3_bind_text(s, c++, "queued", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, c++, sh->prompt, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, c++, sh->negative_prompt, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, c++, sh->frames); sqlite3_bind_double(s, c++, sh->fps);
    sqlite3_bind_int(s, c++, sh->width); sqlite3_bind_int(s, c++, sh->height);
    sqlite3_bind_int64(s, c++, (int64_t)sh->seed); sqlite3_bind_int(s, c++, sh->steps);
    sqlite3_bind_double(s, c++, sh->guidance);
    sqlite3_bind_text(s, c++, sh->model, -1, SQLITE_STATIC); sqlite3_bind_text(s, c++, sh->lora, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, c++, sh->engine, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, c++, sh->window); sqlite3_bind_int(s, c++, sh->overlap);
    sqlite3_bind_text(s, c++, sh->strategy, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, c++, outs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, c++, sh->priority);
    TRY(store_exec(st, Q_SHOT_INS, err, errlen));
    *shot_id = sqlite3_last_insert_rowid(st->db);
    return 0;
fail:
    return -1;
}

/* How a strategy shapes a shot's windows (issue #8); anything not listed renders independently. */
typedef struct { const char *name; int anchor_stage, chain; } strategy_rule_t;
static const strategy_rule_t STRATEGY_RULES[] = {
    { "independent", 0, 0 },
    { "chain",       0, 1 },   /* window k+1 waits for window k */
    { "anchor",      1, 0 },   /* every window waits for the anchor stage (the shot's middle frame) */
    { "anchor-causal", 0, 1 }, /* window k+1 waits for window k: it attends to the shot's first frame and
                                  window k's last (Tune-A-Video's sparse-causal pattern) */
};

static const strategy_rule_t *strategy_rule(const char *name)
{
    for (size_t i = 0; i < sizeof STRATEGY_RULES / sizeof STRATEGY_RULES[0]; i++)
        if (!strcmp(STRATEGY_RULES[i].name, name)) return &STRATEGY_RULES[i];
    return &STRATEGY_RULES[0];
}

static int insert_window(store_t *st, int64_t job_id, int64_t shot_id, const store_shot_plan_t *p, int idx,
                         store_span_t span, const char *role, int64_t after_id, int64_t *id,
                         char *err, size_t errlen)
{
    STMT(s, Q_WIN_INS);
    sqlite3_bind_int64(s, 1, job_id); sqlite3_bind_int64(s, 2, shot_id); sqlite3_bind_int(s, 3, idx);
    sqlite3_bind_int(s, 4, span.first); sqlite3_bind_int(s, 5, span.n);
    sqlite3_bind_text(s, 6, "queued", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, p->shot->priority);
    sqlite3_bind_text(s, 8, p->shot->engine, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 9, p->need_gpus); sqlite3_bind_int64(s, 10, p->need_mem_mb);
    sqlite3_bind_text(s, 11, role, -1, SQLITE_STATIC); sqlite3_bind_int64(s, 12, after_id);
    TRY(store_exec(st, Q_WIN_INS, err, errlen));
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
fail:
    return -1;
}

/* The shot's windows, plus (anchor) the anchor stage first: one frame, the shot's middle frame, with
 * index n_windows (its noise is its own); dependencies per STRATEGY_RULES. */
static int insert_windows(store_t *st, int64_t job_id, int64_t shot_id, const store_shot_plan_t *p,
                          char *err, size_t errlen)
{
    const strategy_rule_t *r = strategy_rule(p->shot->strategy);
    int64_t anchor = 0, prev = 0, id;
    if (r->anchor_stage && p->n_windows > 1) {
        store_span_t mid = { p->shot->frames / 2, 1 };
        TRY(insert_window(st, job_id, shot_id, p, p->n_windows, mid, "anchor", 0, &anchor, err, errlen));
    }
    for (int i = 0; i < p->n_windows; i++) {
        int64_t after = r->chain ? prev : anchor;
        TRY(insert_window(st, job_id, shot_id, p, i, p->windows[i], "render", after, &id, err, errlen));
        prev = id;
    }
    return 0;
fail:
    return -1;
}

int store_job_submit(store_t *st, const char *file_name, int n, const store_shot_plan_t *plan,
                     int64_t now_ms, int64_t *job_id, char *err, size_t errlen)
{
    TRY(store_tx_begin(st, err, errlen));
    STMT(s, Q_JOB_INS);
    sqlite3_bind_text(s, 1, file_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, "queued", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_ms); sqlite3_bind_int64(s, 4, now_ms); sqlite3_bind_int(s, 5, n);
    TRY(store_exec(st, Q_JOB_INS, err, errlen));
    *job_id = sqlite3_last_insert_rowid(st->db);
    int total = 0;
    for (int i = 0; i < n; i++) {
        int64_t shot_id;
        TRY(insert_shot(st, *job_id, i, &plan[i], &shot_id, err, errlen));
        TRY(insert_windows(st, *job_id, shot_id, &plan[i], err, errlen));
        total += plan[i].n_windows;
    }
    char detail[512];
    snprintf(detail, sizeof detail, "%s: %d shots, %d windows", file_name, n, total);
    TRY(store_event(st, *job_id, 0, 0, "", "submit", detail, now_ms));
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- workers ---- */
int store_worker_ready(store_t *st, const store_worker_t *w, int64_t busy_attempt, int64_t now_ms,
                       char *err, size_t errlen)
{
    TRY(store_tx_begin(st, err, errlen));
    STMT(s, Q_WORKER_UPSERT);
    sqlite3_bind_text(s, 1, w->id, -1, SQLITE_STATIC); sqlite3_bind_text(s, 2, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, w->engines, -1, SQLITE_STATIC); sqlite3_bind_int(s, 4, w->n_gpus);
    sqlite3_bind_int64(s, 5, w->mem_mb);
    sqlite3_bind_text(s, 6, busy_attempt ? "busy" : "idle", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, now_ms); sqlite3_bind_int64(s, 8, busy_attempt);
    TRY(store_exec(st, Q_WORKER_UPSERT, err, errlen));
    char detail[600];
    snprintf(detail, sizeof detail, "engines=%s gpus=%d mem_mb=%lld", w->engines, w->n_gpus, (long long)w->mem_mb);
    TRY(store_event(st, 0, 0, busy_attempt, w->id, "worker-ready", detail, now_ms));
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

int store_worker_set(store_t *st, const char *id, const char *state, int64_t attempt_id,
                     int64_t now_ms, char *err, size_t errlen)
{
    STMT(s, Q_WORKER_SET);
    sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC); sqlite3_bind_int64(s, 2, attempt_id);
    sqlite3_bind_int64(s, 3, now_ms); sqlite3_bind_text(s, 4, id, -1, SQLITE_STATIC);
    return store_exec(st, Q_WORKER_SET, err, errlen);
fail:
    return -1;
}

int store_worker_touch(store_t *st, int n, const char *const *ids, const int64_t *seen_ms,
                       char *err, size_t errlen)
{
    TRY(store_tx_begin(st, err, errlen));
    for (int i = 0; i < n; i++) {
        STMT(s, Q_WORKER_TOUCH);
        sqlite3_bind_int64(s, 1, seen_ms[i]); sqlite3_bind_text(s, 2, ids[i], -1, SQLITE_STATIC);
        TRY(store_exec(st, Q_WORKER_TOUCH, err, errlen));
    }
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- scheduling ---- */
static int load_shot(store_t *st, int64_t shot_id, proto_shot_t *sh, char *err, size_t errlen)
{
    STMT(s, Q_SHOT_GET);
    sqlite3_bind_int64(s, 1, shot_id);
    if (sqlite3_step(s) != SQLITE_ROW) { sqlite3_reset(s); return store_fail(err, errlen, "no shot %lld", (long long)shot_id); }
    store_read_shot(s, 0, sh);
    sqlite3_reset(s);
    return 0;
fail:
    return -1;
}

/* Finds the next window for w; 1 found, 0 none, -1 error. */
static int pick_window(store_t *st, const store_worker_t *w, int max_job_fails, int64_t now_ms,
                       store_assignment_t *a, char *job_state, char *err, size_t errlen)
{
    STMT(s, Q_SCHED);
    sqlite3_bind_int64(s, 1, now_ms); sqlite3_bind_text(s, 2, w->engines, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, w->n_gpus); sqlite3_bind_int64(s, 4, w->mem_mb);
    sqlite3_bind_text(s, 5, w->id, -1, SQLITE_STATIC); sqlite3_bind_int(s, 6, max_job_fails);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) { sqlite3_reset(s); return 0; }
    if (rc != SQLITE_ROW) { sqlite3_reset(s); return store_dberr(st, err, errlen, "schedule"); }
    a->window_id = sqlite3_column_int64(s, 0); a->job_id = sqlite3_column_int64(s, 1);
    a->shot_id = sqlite3_column_int64(s, 2); a->window_index = sqlite3_column_int(s, 3);
    a->first_frame = sqlite3_column_int(s, 4); a->n_frames = sqlite3_column_int(s, 5);
    store_text(s, 6, job_state, 16);
    store_text(s, 7, a->role, sizeof a->role);
    store_text(s, 8, a->after_artifact, sizeof a->after_artifact);
    sqlite3_reset(s);
    return 1;
fail:
    return -1;
}

static int start_attempt(store_t *st, const store_worker_t *w, int64_t now_ms, store_assignment_t *a,
                         char *err, size_t errlen)
{
    STMT(s, Q_ATT_INS);
    sqlite3_bind_int64(s, 1, a->window_id); sqlite3_bind_int64(s, 2, a->job_id);
    sqlite3_bind_text(s, 3, w->id, -1, SQLITE_STATIC); sqlite3_bind_text(s, 4, "running", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now_ms);
    TRY(store_exec(st, Q_ATT_INS, err, errlen));
    a->attempt_id = sqlite3_last_insert_rowid(st->db);
    TRY(store_transition(st, STORE_E_WINDOW, a->window_id, "assign", now_ms, NULL, 0, err, errlen));
    STMT(u, Q_WIN_ASSIGN);
    sqlite3_bind_int64(u, 1, a->attempt_id); sqlite3_bind_text(u, 2, w->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(u, 3, a->window_id);
    TRY(store_exec(st, Q_WIN_ASSIGN, err, errlen));
    return 0;
fail:
    return -1;
}

int store_assign_next(store_t *st, const store_worker_t *w, int max_job_fails, int64_t now_ms,
                      store_assignment_t *a, char *err, size_t errlen)
{
    char job_state[16], shot_state[16];
    memset(a, 0, sizeof *a);
    TRY(store_tx_begin(st, err, errlen));
    int f = pick_window(st, w, max_job_fails, now_ms, a, job_state, err, errlen);
    if (f <= 0) { store_tx_rollback(st); return f; }
    TRY(start_attempt(st, w, now_ms, a, err, errlen));
    if (strcmp(job_state, "queued") == 0)
        TRY(store_transition(st, STORE_E_JOB, a->job_id, "start", now_ms, NULL, 0, err, errlen));
    if (store_get_state(st, STORE_E_SHOT, a->shot_id, shot_state, sizeof shot_state, err, errlen) != 1) goto fail;
    if (strcmp(shot_state, "queued") == 0)
        TRY(store_transition(st, STORE_E_SHOT, a->shot_id, "start", now_ms, NULL, 0, err, errlen));
    TRY(load_shot(st, a->shot_id, &a->shot, err, errlen));
    TRY(store_worker_set(st, w->id, "busy", a->attempt_id, now_ms, err, errlen));
    char detail[128];
    snprintf(detail, sizeof detail, "%s w%d [%d,+%d)", a->shot.name, a->window_index, a->first_frame, a->n_frames);
    TRY(store_event(st, a->job_id, a->window_id, a->attempt_id, w->id, "assign", detail, now_ms));
    if (store_tx_commit(st, err, errlen) != 0) return -1;
    return 1;
fail:
    store_tx_rollback(st);
    return -1;
}

static int64_t scalar(store_t *st, store_q_t q)
{
    sqlite3_stmt *s = store_stmt(st, q, NULL, 0);
    int64_t v = 0;
    if (s && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    if (s) sqlite3_reset(s);
    return v;
}

int64_t store_next_backoff(store_t *st, int64_t now_ms)
{
    sqlite3_stmt *s = store_stmt(st, Q_NEXT_BACKOFF, NULL, 0);
    int64_t v = 0;
    if (!s) return 0;
    sqlite3_bind_int64(s, 1, now_ms);
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
}
int store_queued_count(store_t *st) { return (int)scalar(st, Q_QUEUED_COUNT); }
int store_has_queued(store_t *st) { return (int)scalar(st, Q_HAS_QUEUED); }

/* ---- attempts ---- */
int store_attempt_get(store_t *st, int64_t attempt_id, store_attempt_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    STMT(s, Q_ATT_GET);
    sqlite3_bind_int64(s, 1, attempt_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        a->id = sqlite3_column_int64(s, 0); a->window_id = sqlite3_column_int64(s, 1);
        a->job_id = sqlite3_column_int64(s, 2); a->shot_id = sqlite3_column_int64(s, 3);
        store_text(s, 4, a->state, sizeof a->state); store_text(s, 5, a->worker_id, sizeof a->worker_id);
        store_text(s, 6, a->shot_name, sizeof a->shot_name);
        a->window_index = sqlite3_column_int(s, 7); a->first_frame = sqlite3_column_int(s, 8);
        a->n_frames = sqlite3_column_int(s, 9); a->width = sqlite3_column_int(s, 10);
        a->height = sqlite3_column_int(s, 11);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return store_dberr(st, err, errlen, "attempt");
fail:
    return -1;
}

/* Collects the int64 first column of every row of q (bound with `arg` when arg_set). */
static int collect_ids(store_t *st, store_q_t q, int arg_set, int64_t arg, int64_t **ids, int *n,
                       char *err, size_t errlen)
{
    *ids = NULL; *n = 0;
    int cap = 0;
    STMT(s, q);
    if (arg_set) sqlite3_bind_int64(s, 1, arg);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *p = realloc(*ids, (size_t)cap * sizeof *p);
            if (!p) { sqlite3_reset(s); free(*ids); *ids = NULL; *n = 0; return store_fail(err, errlen, "out of memory"); }
            *ids = p;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return 0;
fail:
    return -1;
}

int store_attempts_running(store_t *st, int64_t **ids, int *n, char *err, size_t errlen)
{
    return collect_ids(st, Q_ATT_RUNNING, 0, 0, ids, n, err, errlen);
}

int store_shots_assembling(store_t *st, int64_t **ids, int *n, char *err, size_t errlen)
{
    return collect_ids(st, Q_SHOTS_ASSEMBLING, 0, 0, ids, n, err, errlen);
}

int store_attempt_progress(store_t *st, int64_t attempt_id, int done, int total, char *err, size_t errlen)
{
    STMT(s, Q_PROGRESS);
    sqlite3_bind_int(s, 1, done); sqlite3_bind_int(s, 2, total); sqlite3_bind_int64(s, 3, attempt_id);
    return store_exec(st, Q_PROGRESS, err, errlen);
fail:
    return -1;
}

/* Ends a running attempt (fencing: refuses any other state) and records class/reason. */
static int end_attempt(store_t *st, const store_attempt_t *a, const char *event, const char *cls,
                       const char *reason, int64_t now_ms, char *err, size_t errlen)
{
    TRY(store_transition(st, STORE_E_ATTEMPT, a->id, event, now_ms, NULL, 0, err, errlen));
    STMT(s, Q_ATT_END);
    sqlite3_bind_text(s, 1, cls ? cls : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, a->id);
    TRY(store_exec(st, Q_ATT_END, err, errlen));
    return store_worker_set(st, a->worker_id, "idle", 0, now_ms, err, errlen);
fail:
    return -1;
}

/* Loads the attempt and checks it is still running; inside a transaction. */
static int running_attempt(store_t *st, int64_t attempt_id, store_attempt_t *a, char *err, size_t errlen)
{
    int f = store_attempt_get(st, attempt_id, a, err, errlen);
    if (f < 0) return -1;
    if (f == 0) return store_fail(err, errlen, "attempt %lld: unknown", (long long)attempt_id);
    if (strcmp(a->state, "running") != 0)
        return store_fail(err, errlen, "attempt %lld is %s, not running (stale)", (long long)attempt_id, a->state);
    return 0;
}

int store_attempt_done(store_t *st, int64_t attempt_id, const char *manifest, const char *artifact,
                       int64_t now_ms, store_outcome_t *o, char *err, size_t errlen)
{
    store_attempt_t a;
    memset(o, 0, sizeof *o);
    TRY(store_tx_begin(st, err, errlen));
    TRY(running_attempt(st, attempt_id, &a, err, errlen));
    TRY(end_attempt(st, &a, "done", "", "", now_ms, err, errlen));
    TRY(store_transition(st, STORE_E_WINDOW, a.window_id, "done", now_ms, o->window_state,
                         sizeof o->window_state, err, errlen));
    STMT(s, Q_WIN_DONE);
    sqlite3_bind_text(s, 1, manifest, -1, SQLITE_STATIC); sqlite3_bind_text(s, 2, artifact, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, a.window_id);
    TRY(store_exec(st, Q_WIN_DONE, err, errlen));
    TRY(store_event(st, a.job_id, a.window_id, a.id, a.worker_id, "verified", artifact, now_ms));
    TRY(store_refresh(st, a.shot_id, a.job_id, now_ms, o, err, errlen));
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

static int requeue_window(store_t *st, const store_attempt_t *a, const char *event, int used,
                          int64_t not_before, int64_t now_ms, store_outcome_t *o, char *err, size_t errlen)
{
    TRY(store_transition(st, STORE_E_WINDOW, a->window_id, event, now_ms, o->window_state,
                         sizeof o->window_state, err, errlen));
    STMT(s, Q_WIN_REQUEUE);
    sqlite3_bind_int(s, 1, used); sqlite3_bind_int64(s, 2, not_before); sqlite3_bind_int64(s, 3, a->window_id);
    return store_exec(st, Q_WIN_REQUEUE, err, errlen);
fail:
    return -1;
}

/* A window failed for good: the queued windows waiting for it (transitively: a chain) can never run;
 * they move to cancelled ("block") so the shot can fail, and resume/retry queue them again. */
static int block_dependents(store_t *st, const store_attempt_t *a, int64_t now_ms, char *err, size_t errlen)
{
    int64_t *ids = NULL, *next = NULL;
    int n = 0, m = 0;
    TRY(collect_ids(st, Q_WIN_AFTER, 1, a->window_id, &ids, &n, err, errlen));
    while (n > 0) {
        int64_t id = ids[--n];
        TRY(store_transition(st, STORE_E_WINDOW, id, "block", now_ms, NULL, 0, err, errlen));
        TRY(store_event(st, a->job_id, id, 0, "", "blocked", "the window it waits for failed", now_ms));
        TRY(collect_ids(st, Q_WIN_AFTER, 1, id, &next, &m, err, errlen));
        for (int i = 0; i < m; i++) {
            int64_t *p = realloc(ids, (size_t)(n + 1) * sizeof *p);
            if (!p) { store_fail(err, errlen, "out of memory"); goto fail; }
            ids = p; ids[n++] = next[i];
        }
        free(next); next = NULL;
    }
    free(ids);
    return 0;
fail:
    free(ids); free(next);
    return -1;
}

int store_attempt_fail(store_t *st, int64_t attempt_id, const char *fail_class, const char *reason,
                       int budget, int64_t backoff_ms, int64_t backoff_max_ms, int64_t now_ms,
                       store_outcome_t *o, char *err, size_t errlen)
{
    store_attempt_t a;
    memset(o, 0, sizeof *o);
    TRY(store_tx_begin(st, err, errlen));
    TRY(running_attempt(st, attempt_id, &a, err, errlen));
    TRY(end_attempt(st, &a, "fail", fail_class, reason, now_ms, err, errlen));
    STMT(s, Q_WIN_USED);
    sqlite3_bind_int64(s, 1, a.window_id);
    int used = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) + 1 : 1;
    sqlite3_reset(s);
    /* A "model" failure (missing file, wrong shape, a LoRA for another base) would fail the same way
     * on every retry: the window fails now, keeping the reason; `farm resume` after the fix. */
    if (fail_class && strcmp(fail_class, "model") == 0 && used < budget) used = budget;
    int64_t delay = backoff_ms;
    for (int i = 1; i < used && delay < backoff_max_ms; i++) delay *= 2;
    if (delay > backoff_max_ms) delay = backoff_max_ms;
    TRY(requeue_window(st, &a, used >= budget ? "fail" : "retry", 1, now_ms + delay, now_ms, o, err, errlen));
    if (!strcmp(o->window_state, "failed")) TRY(block_dependents(st, &a, now_ms, err, errlen));
    char detail[600];
    snprintf(detail, sizeof detail, "%s (%d/%d): %.500s", fail_class, used, budget, reason ? reason : "");
    TRY(store_event(st, a.job_id, a.window_id, a.id, a.worker_id, "attempt-failed", detail, now_ms));
    TRY(store_refresh(st, a.shot_id, a.job_id, now_ms, o, err, errlen));
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

int store_attempt_lost(store_t *st, int64_t attempt_id, const char *reason, int64_t now_ms,
                       store_outcome_t *o, char *err, size_t errlen)
{
    store_attempt_t a;
    memset(o, 0, sizeof *o);
    TRY(store_tx_begin(st, err, errlen));
    TRY(running_attempt(st, attempt_id, &a, err, errlen));
    TRY(end_attempt(st, &a, "lost", "infra", reason, now_ms, err, errlen));
    char wstate[16];
    if (store_get_state(st, STORE_E_WINDOW, a.window_id, wstate, sizeof wstate, err, errlen) != 1) goto fail;
    if (strcmp(wstate, "running") == 0)
        TRY(requeue_window(st, &a, "requeue", 0, 0, now_ms, o, err, errlen));
    TRY(store_event(st, a.job_id, a.window_id, a.id, a.worker_id, "attempt-lost", reason, now_ms));
    TRY(store_refresh(st, a.shot_id, a.job_id, now_ms, o, err, errlen));
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- derived states ---- */
typedef struct { int queued, running, done, failed, cancelled, active, total; } counts_t;

static int count_states(store_t *st, store_q_t q, int64_t id, counts_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    STMT(s, q);
    sqlite3_bind_int64(s, 1, id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        int n = sqlite3_column_int(s, 1);
        c->total += n;
        if (!state) continue;
        if (!strcmp(state, "verified") || !strcmp(state, "done")) c->done += n;
        else if (!strcmp(state, "failed")) c->failed += n;
        else if (!strcmp(state, "cancelled")) c->cancelled += n;
        else if (!strcmp(state, "queued")) c->queued += n;
        else c->running += n;   /* running, rendering, assembling */
    }
    sqlite3_reset(s);
    c->active = c->queued + c->running;
    return 0;
fail:
    return -1;
}

/* A shot's windows decide its state: all verified -> assembling; none active and some failed or
 * cancelled -> failed. Three EXISTS probes on the (shot_id, state) index: O(1), not O(windows). */
static int refresh_shot(store_t *st, int64_t shot_id, int64_t now_ms, store_outcome_t *o, char *err, size_t errlen)
{
    char state[16];
    if (store_get_state(st, STORE_E_SHOT, shot_id, state, sizeof state, err, errlen) != 1) return -1;
    if (strcmp(state, "queued") && strcmp(state, "rendering")) return 0;
    STMT(s, Q_SHOT_COUNTS);
    sqlite3_bind_int64(s, 1, shot_id);
    if (sqlite3_step(s) != SQLITE_ROW) { sqlite3_reset(s); return store_dberr(st, err, errlen, "shot windows"); }
    int active = sqlite3_column_int(s, 0), bad = sqlite3_column_int(s, 1), any = sqlite3_column_int(s, 2);
    sqlite3_reset(s);
    if (any && !active && !bad) {
        TRY(store_transition(st, STORE_E_SHOT, shot_id, "assemble", now_ms, NULL, 0, err, errlen));
        o->assemble_shot = shot_id;
    } else if (!active && bad) {
        TRY(store_transition(st, STORE_E_SHOT, shot_id, "fail", now_ms, NULL, 0, err, errlen));
    }
    return 0;
fail:
    return -1;
}

static int refresh_job(store_t *st, int64_t job_id, int64_t now_ms, store_outcome_t *o, char *err, size_t errlen)
{
    counts_t c;
    if (store_get_state(st, STORE_E_JOB, job_id, o->job_state, sizeof o->job_state, err, errlen) != 1) return -1;
    if (store_state_final(STORE_E_JOB, o->job_state) || !strcmp(o->job_state, "queued")) return 0;
    TRY(count_states(st, Q_JOB_COUNTS, job_id, &c, err, errlen));
    const char *ev = NULL;
    if (c.total > 0 && c.done == c.total) ev = "complete";
    else if (c.active == 0 && c.failed) ev = "fail";
    if (ev) {
        TRY(store_transition(st, STORE_E_JOB, job_id, ev, now_ms, o->job_state, sizeof o->job_state, err, errlen));
        TRY(store_event(st, job_id, 0, 0, "", ev[0] == 'c' ? "job-done" : "job-failed", "", now_ms));
    }
    return 0;
fail:
    return -1;
}

int store_refresh(store_t *st, int64_t shot_id, int64_t job_id, int64_t now_ms, store_outcome_t *o,
                  char *err, size_t errlen)
{
    o->job_id = job_id; o->shot_id = shot_id;
    if (shot_id && refresh_shot(st, shot_id, now_ms, o, err, errlen) != 0) return -1;
    return refresh_job(st, job_id, now_ms, o, err, errlen);
}

/* ---- assembly ---- */
int store_shot_info(store_t *st, int64_t shot_id, store_shot_info_t *si, char *err, size_t errlen)
{
    memset(si, 0, sizeof *si);
    STMT(s, Q_SHOT_GET);
    sqlite3_bind_int64(s, 1, shot_id);
    if (sqlite3_step(s) != SQLITE_ROW) { sqlite3_reset(s); return store_fail(err, errlen, "no shot %lld", (long long)shot_id); }
    si->shot_id = shot_id; si->job_id = sqlite3_column_int64(s, 1);
    store_read_shot(s, 0, &si->shot);
    sqlite3_reset(s);
    STMT(w, Q_SHOT_WINDOWS);
    sqlite3_bind_int64(w, 1, shot_id);
    while (sqlite3_step(w) == SQLITE_ROW) {
        int n = si->n_windows + 1;
        void *a = realloc(si->artifacts, (size_t)n * sizeof *si->artifacts);
        if (a) si->artifacts = a;
        void *m = realloc(si->manifests, (size_t)n * sizeof *si->manifests);
        if (m) si->manifests = m;
        if (!a || !m) { sqlite3_reset(w); store_shot_info_free(si); return store_fail(err, errlen, "out of memory"); }
        store_text(w, 0, si->artifacts[n - 1], sizeof si->artifacts[0]);
        store_text(w, 1, si->manifests[n - 1], sizeof si->manifests[0]);
        si->n_windows = n;
    }
    sqlite3_reset(w);
    return 0;
fail:
    return -1;
}

void store_shot_info_free(store_shot_info_t *si)
{
    free(si->artifacts); free(si->manifests);
    memset(si, 0, sizeof *si);
}

int store_shot_assembled(store_t *st, int64_t shot_id, int ok, const char *result_or_error,
                         int64_t now_ms, store_outcome_t *o, char *err, size_t errlen)
{
    char state[16];
    memset(o, 0, sizeof *o);
    TRY(store_tx_begin(st, err, errlen));
    if (store_get_state(st, STORE_E_SHOT, shot_id, state, sizeof state, err, errlen) != 1) goto fail;
    STMT(q, Q_SHOT_GET);
    sqlite3_bind_int64(q, 1, shot_id);
    int64_t job_id = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 1) : 0;
    sqlite3_reset(q);
    if (strcmp(state, "assembling") != 0) {   /* cancelled meanwhile: keep the state, drop the result */
        store_tx_rollback(st);
        return store_fail(err, errlen, "shot %lld is %s, not assembling", (long long)shot_id, state);
    }
    TRY(store_transition(st, STORE_E_SHOT, shot_id, ok ? "complete" : "fail", now_ms, NULL, 0, err, errlen));
    STMT(s, Q_SHOT_RESULT);
    sqlite3_bind_text(s, 1, ok ? result_or_error : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ok ? "" : result_or_error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, shot_id);
    TRY(store_exec(st, Q_SHOT_RESULT, err, errlen));
    TRY(store_event(st, job_id, 0, 0, "", ok ? "shot-assembled" : "assembly-failed", result_or_error, now_ms));
    TRY(store_refresh(st, 0, job_id, now_ms, o, err, errlen));
    o->shot_id = shot_id;
    return store_tx_commit(st, err, errlen);
fail:
    store_tx_rollback(st);
    return -1;
}
