/* store_int.h — internals shared by the store's files (statement cache, transaction and state
 * helpers). Not an API: nothing outside sql/ includes it. */
#ifndef SQL_STORE_INT_H
#define SQL_STORE_INT_H
#include <sqlite3.h>
#include <stdarg.h>
#include "sql/states.h"
#include "sql/store.h"

typedef enum {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_EVENT,
    Q_JOB_INS, Q_SHOT_INS, Q_WIN_INS,
    Q_JOB_STATE, Q_JOB_SET, Q_SHOT_STATE, Q_SHOT_SET, Q_WIN_STATE, Q_WIN_SET, Q_ATT_STATE, Q_ATT_SET,
    Q_ATT_GET, Q_ATT_RUNNING, Q_ATT_INS, Q_ATT_END, Q_SCHED, Q_WIN_ASSIGN, Q_SHOT_GET,
    Q_WIN_DONE, Q_WIN_REQUEUE, Q_WIN_USED, Q_SHOT_COUNTS, Q_JOB_COUNTS, Q_PROGRESS,
    Q_WORKER_UPSERT, Q_WORKER_SET, Q_WORKER_TOUCH, Q_NEXT_BACKOFF, Q_QUEUED_COUNT, Q_HAS_QUEUED,
    Q_SHOT_WINDOWS, Q_SHOT_RESULT, Q_SHOTS_ASSEMBLING, Q_JOB_FENCE, Q_WIN_LIST_JOB, Q_WIN_RESET,
    Q_SHOT_LIST_JOB, Q_WIN_OF_SHOT_STATES,
    Q_JOBS, Q_JOB_ONE, Q_JOB_SHOTS, Q_JOB_WINDOWS, Q_WORKERS, Q_EVENTS, Q_EVENTS_JOB, Q_LOGS,
    Q_JOB_WCOUNTS, Q_WIN_AFTER,
    Q_N_
} store_q_t;

struct store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_N_];
    char logs_dir[1024];
    int batch;          /* inside store_batch_begin/commit: each call is a savepoint of the batch */
};

/* Prepared (cached) statement, reset and with bindings cleared; NULL with err on failure. */
sqlite3_stmt *store_stmt(store_t *st, store_q_t q, char *err, size_t errlen);
int  store_fail(char *err, size_t errlen, const char *fmt, ...);
int  store_dberr(store_t *st, char *err, size_t errlen, const char *what);
int  store_exec(store_t *st, store_q_t q, char *err, size_t errlen);      /* no-row statements */
int  store_tx_begin(store_t *st, char *err, size_t errlen);
int  store_tx_commit(store_t *st, char *err, size_t errlen);
void store_tx_rollback(store_t *st);
/* Moves entity id by event through the transition table (reads the current state first).
 * 0 ok (to filled if non-NULL), -1 with err naming entity, id, state and event. */
int  store_transition(store_t *st, store_entity_t e, int64_t id, const char *event, int64_t now_ms,
                      char *to, size_t tolen, char *err, size_t errlen);
int  store_get_state(store_t *st, store_entity_t e, int64_t id, char *out, size_t outlen,
                     char *err, size_t errlen);   /* 1 found, 0 none, -1 error */
/* Fills a proto_shot_t from the columns of Q_SHOT_GET starting at column `c`. */
void store_read_shot(sqlite3_stmt *s, int c, proto_shot_t *sh);
/* Re-derives a shot's state from its windows, then the job's from its shots; fills o. */
int  store_refresh(store_t *st, int64_t shot_id, int64_t job_id, int64_t now_ms, store_outcome_t *o,
                   char *err, size_t errlen);
void store_text(sqlite3_stmt *s, int col, char *dst, size_t n);

#endif
