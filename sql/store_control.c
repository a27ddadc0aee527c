/* store_control.c — operator verbs on a job (pause, unpause, cancel, retry, resume), each one
 * transaction driven by the transition table. Running attempts a verb stops are returned so farmd
 * can send CANCEL; shots whose windows are all verified are returned so assembly re-runs. */
#include "sql/store_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int push_id(int64_t **v, int *n, int64_t id)
{
    int64_t *p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    p[(*n)++] = id; *v = p;
    return 0;
}

typedef struct { int64_t id, attempt_id, shot_id, after_id; char state[16]; } win_row_t;

/* Loads (id, state, attempt, shot) of every window of the job. */
static int job_windows(store_t *st, int64_t job_id, win_row_t **rows, int *n, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_WIN_LIST_JOB, err, errlen);
    *rows = NULL; *n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        win_row_t *p = realloc(*rows, (size_t)(*n + 1) * sizeof *p);
        if (!p) { sqlite3_reset(s); return store_fail(err, errlen, "out of memory"); }
        *rows = p;
        p[*n].id = sqlite3_column_int64(s, 0);
        store_text(s, 1, p[*n].state, sizeof p[*n].state);
        p[*n].attempt_id = sqlite3_column_int64(s, 2);
        p[*n].shot_id = sqlite3_column_int64(s, 3);
        p[*n].after_id = sqlite3_column_int64(s, 4);
        (*n)++;
    }
    sqlite3_reset(s);
    return 0;
}

/* Applies event to every shot of the job whose state allows it. */
static int shots_event(store_t *st, int64_t job_id, const char *event, int64_t now_ms, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_SHOT_LIST_JOB, err, errlen);
    int64_t ids[PROTO_SHOTS_MAX]; char states[PROTO_SHOTS_MAX][16]; int n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    while (n < PROTO_SHOTS_MAX && sqlite3_step(s) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(s, 0); store_text(s, 1, states[n], sizeof states[n]); n++;
    }
    sqlite3_reset(s);
    for (int i = 0; i < n; i++)
        if (store_next_state(STORE_E_SHOT, states[i], event) &&
            store_transition(st, STORE_E_SHOT, ids[i], event, now_ms, NULL, 0, err, errlen) != 0)
            return -1;
    return 0;
}

static int cancel_windows(store_t *st, win_row_t *w, int n, int64_t now_ms, store_control_t *c,
                          char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (!store_next_state(STORE_E_WINDOW, w[i].state, "cancel")) continue;
        if (!strcmp(w[i].state, "running") && w[i].attempt_id) {
            char as[16];
            if (store_get_state(st, STORE_E_ATTEMPT, w[i].attempt_id, as, sizeof as, err, errlen) < 0) return -1;
            if (!strcmp(as, "running")) {
                if (store_transition(st, STORE_E_ATTEMPT, w[i].attempt_id, "cancel", now_ms, NULL, 0, err, errlen) != 0 ||
                    push_id(&c->cancel_attempts, &c->n_cancel, w[i].attempt_id) != 0)
                    return -1;
            }
        }
        if (store_transition(st, STORE_E_WINDOW, w[i].id, "cancel", now_ms, NULL, 0, err, errlen) != 0) return -1;
        c->n_windows++;
    }
    return 0;
}

/* resume: failed and cancelled windows (retry: failed ones and those blocked behind them, i.e. cancelled
 * windows with a dependency) back to queued with a fresh budget. */
static int reset_windows(store_t *st, win_row_t *w, int n, int only_failed, int64_t now_ms,
                         store_control_t *c, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (only_failed && strcmp(w[i].state, "failed") && !(w[i].after_id && !strcmp(w[i].state, "cancelled")))
            continue;
        if (!store_next_state(STORE_E_WINDOW, w[i].state, "resume")) continue;
        if (store_transition(st, STORE_E_WINDOW, w[i].id, "resume", now_ms, NULL, 0, err, errlen) != 0) return -1;
        sqlite3_stmt *s = store_stmt(st, Q_WIN_RESET, err, errlen);
        if (!s) return -1;
        sqlite3_bind_int64(s, 1, w[i].id);
        if (store_exec(st, Q_WIN_RESET, err, errlen) != 0) return -1;
        c->n_windows++;
    }
    return 0;
}

/* After a resume: shots whose windows are all verified go (back) to assembling. */
static int reassemble(store_t *st, int64_t job_id, int64_t now_ms, store_control_t *c, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_SHOT_LIST_JOB, err, errlen);
    int64_t ids[PROTO_SHOTS_MAX]; int n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    while (n < PROTO_SHOTS_MAX && sqlite3_step(s) == SQLITE_ROW) ids[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    for (int i = 0; i < n; i++) {
        store_outcome_t o = {0};
        if (store_refresh(st, ids[i], job_id, now_ms, &o, err, errlen) != 0) return -1;
        if (o.assemble_shot && push_id(&c->assemble_shots, &c->n_assemble, o.assemble_shot) != 0) return -1;
    }
    return 0;
}

static int do_verb(store_t *st, const char *verb, int64_t job_id, int64_t now_ms, store_control_t *c,
                   char *err, size_t errlen)
{
    win_row_t *w = NULL; int n = 0, rc = -1;
    int is_resume = !strcmp(verb, "resume"), is_retry = !strcmp(verb, "retry");
    if (store_transition(st, STORE_E_JOB, job_id, verb, now_ms, NULL, 0, err, errlen) != 0) return -1;
    if (strcmp(verb, "cancel") && !is_resume && !is_retry) return 0;   /* pause / unpause */
    TRY(job_windows(st, job_id, &w, &n, err, errlen));
    if (!strcmp(verb, "cancel")) {
        TRY(cancel_windows(st, w, n, now_ms, c, err, errlen));
        TRY(shots_event(st, job_id, "cancel", now_ms, err, errlen));
    } else {
        sqlite3_stmt *s = store_stmt(st, Q_JOB_FENCE, err, errlen);
        if (!s) goto fail;
        sqlite3_bind_int64(s, 1, job_id);
        TRY(store_exec(st, Q_JOB_FENCE, err, errlen));
        TRY(reset_windows(st, w, n, is_retry, now_ms, c, err, errlen));
        TRY(shots_event(st, job_id, "resume", now_ms, err, errlen));
        TRY(reassemble(st, job_id, now_ms, c, err, errlen));
    }
    rc = 0;
fail:
    free(w);
    return rc;
}

int store_control(store_t *st, const char *verb, int64_t job_id, int64_t now_ms,
                  store_control_t *c, char *err, size_t errlen)
{
    static const char *const VERBS[] = { "pause", "unpause", "cancel", "retry", "resume" };
    int known = 0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++) known |= !strcmp(VERBS[i], verb);
    if (!known) return store_fail(err, errlen, "unknown verb '%s' (pause, unpause, cancel, retry, resume)", verb);
    TRY(store_tx_begin(st, err, errlen));
    TRY(do_verb(st, verb, job_id, now_ms, c, err, errlen));
    char detail[96];
    snprintf(detail, sizeof detail, "%s: %d windows, %d attempts cancelled", verb, c->n_windows, c->n_cancel);
    TRY(store_event(st, job_id, 0, 0, "", verb, detail, now_ms));
    if (store_tx_commit(st, err, errlen) == 0) return 0;
fail:
    store_tx_rollback(st);
    store_control_free(c);
    return -1;
}

void store_control_free(store_control_t *c)
{
    free(c->cancel_attempts); free(c->assemble_shots);
    memset(c, 0, sizeof *c);
}
