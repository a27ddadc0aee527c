/* store.h — the farm's SQLite store: the only code in the tree that contains SQL.
 *
 * Opening runs `PRAGMA integrity_check`, turns on WAL, foreign keys and a busy timeout, and applies
 * the embedded numbered migrations (sql/NNN_*.sql) each in its own transaction. Every statement is
 * prepared once (cached) with bound parameters. Every state change asks sql/states.c first.
 * Each public call that changes anything is one transaction: it either happens whole or not at all,
 * and it is durable when the call returns (so farmd may acknowledge afterwards) — or, inside a
 * batch (store_batch_begin), when the batch commits.
 * Not thread-safe: one thread (farmd's loop) owns a store_t.
 */
#ifndef SQL_STORE_H
#define SQL_STORE_H
#include <stddef.h>
#include <stdint.h>
#include "proto/shotlist.h"

typedef struct store store_t;

typedef struct {
    int sync_full;      /* 1: synchronous=FULL (fsync every commit), 0: NORMAL (WAL survives crashes
                           of the process, not of the machine) */
    int busy_ms;        /* busy timeout, default 5000 */
} store_opts_t;

/* Opens (creating if needed) the database at path. 0 ok; -1 with err (integrity failure included). */
int  store_open(const char *path, const store_opts_t *o, store_t **out, char *err, size_t errlen);
void store_close(store_t **st);
/* Group commit: between batch_begin and batch_commit every call below is a savepoint of one outer
 * transaction (still all-or-nothing on its own), and nothing is durable until batch_commit returns
 * 0: the caller must hold back every acknowledgement until then. One fsync per batch instead of one
 * per call. -1 from batch_commit: the whole batch was rolled back. */
int  store_batch_begin(store_t *st, char *err, size_t errlen);
int  store_batch_commit(store_t *st, char *err, size_t errlen);
/* Runs PRAGMA integrity_check; 0 when "ok", -1 with the first problem in err. */
int  store_integrity(store_t *st, char *err, size_t errlen);
int  store_schema_version(store_t *st);

/* ---- submission ---- */
typedef struct { int first, n; } store_span_t;
typedef struct {
    const proto_shot_t *shot;
    int n_windows; const store_span_t *windows;   /* from coord_windows(): sorted, union [0, frames) */
    int need_gpus; int64_t need_mem_mb;            /* what a worker must advertise */
} store_shot_plan_t;
/* One transaction: job, its shots and windows (queued) and a "submit" event. */
int store_job_submit(store_t *st, const char *file_name, int n, const store_shot_plan_t *plan,
                     int64_t now_ms, int64_t *job_id, char *err, size_t errlen);

/* ---- workers ---- */
typedef struct {
    char id[65], name[256], engines[256];
    int n_gpus; int64_t mem_mb;
} store_worker_t;
/* Upsert on READY (state idle unless busy_attempt is non-zero) and a "worker-ready" event. */
int store_worker_ready(store_t *st, const store_worker_t *w, int64_t busy_attempt, int64_t now_ms,
                       char *err, size_t errlen);
/* Sets state ("idle" | "busy" | "lost"), attempt and last_seen. */
int store_worker_set(store_t *st, const char *id, const char *state, int64_t attempt_id,
                     int64_t now_ms, char *err, size_t errlen);
/* Batch update of last_seen for n workers (one transaction). */
int store_worker_touch(store_t *st, int n, const char *const *ids, const int64_t *seen_ms,
                       char *err, size_t errlen);

/* ---- scheduling ---- */
typedef struct {
    int64_t attempt_id, window_id, job_id, shot_id;
    int window_index, first_frame, n_frames;
    char role[16];                                 /* "render" | "anchor" (the anchor stage) */
    char after_artifact[1024];                     /* the verified artifact of the window it waited for
                                                      (its conditioning blob goes in ASSIGN), or "" */
    proto_shot_t shot;                             /* the shot's render parameters */
} store_assignment_t;
/* Picks the next queued window for worker w whose dependency (the strategy's: chain predecessor,
 * anchor stage) is verified (priority, then submission order; engine, GPUs and
 * memory must fit; jobs not paused; backoff elapsed; jobs where w failed >= max_job_fails windows since
 * the last resume are skipped), creates its attempt and marks it running, all in one transaction.
 * 1 assigned (*a filled), 0 nothing fits, -1 error. */
int store_assign_next(store_t *st, const store_worker_t *w, int max_job_fails, int64_t now_ms,
                      store_assignment_t *a, char *err, size_t errlen);
/* Earliest not_before_ms after now_ms of a queued window in a runnable job (0 when none waits). */
int64_t store_next_backoff(store_t *st, int64_t now_ms);
/* Number of queued windows in runnable jobs (any worker). */
int store_queued_count(store_t *st);
/* 1 if any window is queued in a runnable job (cheap: stops at the first). */
int store_has_queued(store_t *st);

/* ---- attempts (the fencing token) ---- */
typedef struct {
    int64_t id, window_id, job_id, shot_id;
    char state[16], worker_id[65], shot_name[65];
    int window_index, first_frame, n_frames, width, height;
} store_attempt_t;
/* 1 found (*a filled), 0 no such attempt, -1 error. */
int store_attempt_get(store_t *st, int64_t attempt_id, store_attempt_t *a, char *err, size_t errlen);
/* Ids of every attempt in state running (for farmd's restart grace). *ids malloc'd. */
int store_attempts_running(store_t *st, int64_t **ids, int *n, char *err, size_t errlen);

/* What a finished attempt changed, for farmd to act on. */
typedef struct {
    int64_t job_id, shot_id;
    int64_t assemble_shot;        /* non-zero: this shot's windows are all verified: run assembly */
    char window_state[16], job_state[16];
} store_outcome_t;

int store_attempt_progress(store_t *st, int64_t attempt_id, int done, int total, char *err, size_t errlen);
/* running attempt -> done, window -> verified (manifest, artifact path stored). */
int store_attempt_done(store_t *st, int64_t attempt_id, const char *manifest, const char *artifact,
                       int64_t now_ms, store_outcome_t *o, char *err, size_t errlen);
/* running attempt -> failed. Uses budget: the window is queued again with backoff
 * (backoff_ms * 2^(used-1), capped at backoff_max_ms) or failed when `budget` attempts are used. */
int store_attempt_fail(store_t *st, int64_t attempt_id, const char *fail_class, const char *reason,
                       int budget, int64_t backoff_ms, int64_t backoff_max_ms, int64_t now_ms,
                       store_outcome_t *o, char *err, size_t errlen);
/* running attempt -> lost (infrastructure: worker lost, lease expired, handed back, farmd restart);
 * the window is queued again, no budget used. */
int store_attempt_lost(store_t *st, int64_t attempt_id, const char *reason, int64_t now_ms,
                       store_outcome_t *o, char *err, size_t errlen);

/* ---- assembly ---- */
typedef struct {
    int64_t job_id, shot_id;
    proto_shot_t shot;
    int n_windows;
    char (*artifacts)[1024];       /* n_windows, sorted by first frame */
    char (*manifests)[512];
} store_shot_info_t;
int  store_shot_info(store_t *st, int64_t shot_id, store_shot_info_t *si, char *err, size_t errlen);
void store_shot_info_free(store_shot_info_t *si);
/* assembling -> done (result = newline-separated output paths) or failed (error). */
int store_shot_assembled(store_t *st, int64_t shot_id, int ok, const char *result_or_error,
                         int64_t now_ms, store_outcome_t *o, char *err, size_t errlen);
/* Shots in state assembling (after a restart their assembly must run again). *ids malloc'd. */
int store_shots_assembling(store_t *st, int64_t **ids, int *n, char *err, size_t errlen);

/* ---- operator control ---- */
typedef struct {
    int64_t *cancel_attempts; int n_cancel;     /* running attempts to tell CANCEL (malloc'd) */
    int64_t *assemble_shots;  int n_assemble;   /* shots to (re)assemble (malloc'd) */
    int n_windows;                              /* windows changed */
} store_control_t;
/* verb: pause | unpause | cancel | retry | resume. One transaction; an event records it.
 * 0 ok; -1 with err for an unknown job or a verb the job's state does not allow. */
int  store_control(store_t *st, const char *verb, int64_t job_id, int64_t now_ms,
                   store_control_t *c, char *err, size_t errlen);
void store_control_free(store_control_t *c);

/* ---- audit ---- */
int store_event(store_t *st, int64_t job_id, int64_t window_id, int64_t attempt_id, const char *worker,
                const char *kind, const char *detail, int64_t now_ms);

/* ---- queries (JSON text for QUERY_REPLY, malloc'd in *out; shapes documented in proto.h) ---- */
int store_query(store_t *st, const char *kind, int64_t job_id, int64_t since, const char *args,
                char **out, char *err, size_t errlen);
/* Folder of the per-attempt logs ("a<attempt id>.log") the "logs" query reads (last 64 KiB each). */
void store_set_logs_dir(store_t *st, const char *dir);

#endif
