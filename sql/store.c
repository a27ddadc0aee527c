/* store.c — opening the database (pragmas, integrity check, migrations), the statement table and
 * the transaction/state helpers the other store files build on. Every SQL text of the store is in
 * the SQL[] table below; nothing else in the tree holds SQL. */
#include "sql/store_int.h"
#include "sql/migrations.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A window's dependency (002_strategies: chain predecessor, anchor stage) is verified or absent. */
#define W_DEPS_MET "(w.after_id = 0 OR EXISTS (SELECT 1 FROM window p WHERE p.id = w.after_id " \
    "AND p.state = 'verified'))"
#define W_SHOT_COLS "s.id, s.job_id, s.idx, s.name, s.state, s.prompt, s.negative, s.frames, s.fps, " \
    "s.width, s.height, s.seed, s.steps, s.guidance, s.model, s.lora, s.engine, s.win, s.overlap, " \
    "s.strategy, s.outputs, s.priority"

static const char *const SQL[Q_N_] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE", [Q_COMMIT] = "COMMIT", [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT op", [Q_RELEASE] = "RELEASE op", [Q_ROLLBACK_TO] = "ROLLBACK TO op",
    [Q_EVENT] = "INSERT INTO event(ts_ms, job_id, window_id, attempt_id, worker_id, kind, detail) "
                "VALUES (?,?,?,?,?,?,?)",
    [Q_JOB_INS] = "INSERT INTO job(file_name, state, created_ms, updated_ms, n_shots) VALUES (?,?,?,?,?)",
    [Q_SHOT_INS] = "INSERT INTO shot(job_id, idx, name, state, prompt, negative, frames, fps, width, "
                   "height, seed, steps, guidance, model, lora, engine, win, overlap, strategy, outputs, "
                   "priority) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [Q_WIN_INS] = "INSERT INTO window(job_id, shot_id, idx, first_frame, n_frames, state, priority, "
                  "engine, need_gpus, need_mem_mb, role, after_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [Q_JOB_STATE] = "SELECT state FROM job WHERE id = ?",
    [Q_JOB_SET] = "UPDATE job SET state = ?, updated_ms = ? WHERE id = ?",
    [Q_SHOT_STATE] = "SELECT state FROM shot WHERE id = ?",
    [Q_SHOT_SET] = "UPDATE shot SET state = ? WHERE id = ? AND ?3 = ?3",
    [Q_WIN_STATE] = "SELECT state FROM window WHERE id = ?",
    [Q_WIN_SET] = "UPDATE window SET state = ? WHERE id = ? AND ?3 = ?3",
    [Q_ATT_STATE] = "SELECT state FROM attempt WHERE id = ?",
    [Q_ATT_SET] = "UPDATE attempt SET state = ?, ended_ms = ?3 WHERE id = ?2",
    [Q_ATT_GET] = "SELECT a.id, a.window_id, a.job_id, w.shot_id, a.state, a.worker_id, s.name, w.idx, "
                  "w.first_frame, w.n_frames, s.width, s.height FROM attempt a "
                  "JOIN window w ON w.id = a.window_id JOIN shot s ON s.id = w.shot_id WHERE a.id = ?",
    [Q_ATT_RUNNING] = "SELECT id FROM attempt WHERE state = 'running' ORDER BY id",
    [Q_ATT_INS] = "INSERT INTO attempt(window_id, job_id, worker_id, state, started_ms) VALUES (?,?,?,?,?)",
    [Q_ATT_END] = "UPDATE attempt SET fail_class = ?, reason = ? WHERE id = ?",
    [Q_SCHED] = "SELECT w.id, w.job_id, w.shot_id, w.idx, w.first_frame, w.n_frames, j.state, w.role, "
                "coalesce((SELECT p.artifact FROM window p WHERE p.id = w.after_id), '') "
                "FROM window w JOIN job j ON j.id = w.job_id "
                "WHERE w.state = 'queued' AND w.not_before_ms <= ?1 AND j.state IN ('queued', 'running') "
                "AND instr(',' || ?2 || ',', ',' || w.engine || ',') > 0 "
                "AND w.need_gpus <= ?3 AND (?4 = 0 OR w.need_mem_mb <= ?4) "
                "AND (SELECT count(*) FROM attempt a WHERE a.job_id = w.job_id AND a.worker_id = ?5 "
                "     AND a.state = 'failed' AND a.fail_class != 'infra' AND a.id > j.fence_attempt) < ?6 "
                "AND " W_DEPS_MET " ORDER BY w.priority DESC, "
                /* a window this worker has failed goes to it only when nothing else is queued for it:
                   its retry goes elsewhere first (a slow worker outlives the backoff, issue #3) */
                "EXISTS (SELECT 1 FROM attempt a WHERE a.window_id = w.id AND a.worker_id = ?5 "
                "        AND a.state = 'failed'), w.job_id, w.id LIMIT 1",
    [Q_WIN_ASSIGN] = "UPDATE window SET attempt_id = ?, worker_id = ?, attempts_all = attempts_all + 1, "
                     "progress_done = 0, progress_total = 0 WHERE id = ?",
    [Q_SHOT_GET] = "SELECT " W_SHOT_COLS " FROM shot s WHERE s.id = ?",
    [Q_WIN_DONE] = "UPDATE window SET manifest = ?, artifact = ?, progress_done = "
                   "max(progress_done, progress_total) WHERE id = ?",
    [Q_WIN_REQUEUE] = "UPDATE window SET attempts_used = attempts_used + ?, not_before_ms = ?, "
                      "attempt_id = 0, worker_id = '' WHERE id = ?",
    [Q_WIN_USED] = "SELECT attempts_used FROM window WHERE id = ?",
    [Q_SHOT_COUNTS] = "SELECT EXISTS (SELECT 1 FROM window WHERE shot_id = ?1 AND state IN ('queued', 'running')), "
                      "EXISTS (SELECT 1 FROM window WHERE shot_id = ?1 AND state IN ('failed', 'cancelled')), "
                      "EXISTS (SELECT 1 FROM window WHERE shot_id = ?1)",
    [Q_JOB_COUNTS] = "SELECT state, count(*) FROM shot WHERE job_id = ? GROUP BY state",
    [Q_PROGRESS] = "UPDATE window SET progress_done = ?, progress_total = ? "
                   "WHERE attempt_id = ? AND state = 'running'",
    [Q_WORKER_UPSERT] = "INSERT INTO worker(id, name, engines, n_gpus, mem_mb, state, first_seen_ms, "
                        "last_seen_ms, attempt_id) VALUES (?1,?2,?3,?4,?5,?6,?7,?7,?8) "
                        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, engines = excluded.engines, "
                        "n_gpus = excluded.n_gpus, mem_mb = excluded.mem_mb, state = excluded.state, "
                        "last_seen_ms = excluded.last_seen_ms, attempt_id = excluded.attempt_id",
    [Q_WORKER_SET] = "UPDATE worker SET state = ?, attempt_id = ?, last_seen_ms = ? WHERE id = ?",
    [Q_WORKER_TOUCH] = "UPDATE worker SET last_seen_ms = ? WHERE id = ?",
    [Q_NEXT_BACKOFF] = "SELECT coalesce(min(w.not_before_ms), 0) FROM window w JOIN job j ON j.id = w.job_id "
                       "WHERE w.state = 'queued' AND w.not_before_ms > ? AND j.state IN ('queued', 'running')",
    [Q_QUEUED_COUNT] = "SELECT count(*) FROM window w JOIN job j ON j.id = w.job_id "
                       "WHERE w.state = 'queued' AND j.state IN ('queued', 'running')",
    [Q_HAS_QUEUED] = "SELECT EXISTS (SELECT 1 FROM window w JOIN job j ON j.id = w.job_id "
                     "WHERE w.state = 'queued' AND j.state IN ('queued', 'running') AND " W_DEPS_MET ")",
    [Q_SHOT_WINDOWS] = "SELECT artifact, manifest FROM window WHERE shot_id = ? AND role = 'render' "
                       "ORDER BY first_frame",
    [Q_SHOT_RESULT] = "UPDATE shot SET result = ?, error = ? WHERE id = ?",
    [Q_SHOTS_ASSEMBLING] = "SELECT id FROM shot WHERE state = 'assembling' ORDER BY id",
    [Q_JOB_FENCE] = "UPDATE job SET fence_attempt = (SELECT coalesce(max(id), 0) FROM attempt) WHERE id = ?",
    [Q_WIN_LIST_JOB] = "SELECT id, state, attempt_id, shot_id, after_id FROM window WHERE job_id = ? ORDER BY id",
    [Q_WIN_RESET] = "UPDATE window SET attempts_used = 0, not_before_ms = 0, attempt_id = 0, "
                    "worker_id = '', progress_done = 0, progress_total = 0 WHERE id = ?",
    [Q_SHOT_LIST_JOB] = "SELECT id, state FROM shot WHERE job_id = ? ORDER BY idx",
    [Q_WIN_OF_SHOT_STATES] = "SELECT count(*) FROM window WHERE shot_id = ? AND state != 'verified'",
    [Q_JOBS] = "SELECT id, file_name, state, created_ms, updated_ms, n_shots, error FROM job ORDER BY id",
    [Q_JOB_ONE] = "SELECT id, file_name, state, created_ms, updated_ms, n_shots, error FROM job WHERE id = ?",
    [Q_JOB_SHOTS] = "SELECT " W_SHOT_COLS ", s.result, s.error FROM shot s WHERE s.job_id = ? ORDER BY s.idx",
    [Q_JOB_WINDOWS] = "SELECT w.idx, w.first_frame, w.n_frames, w.state, w.attempts_used, w.attempts_all, "
                      "w.worker_id, w.attempt_id, w.progress_done, w.progress_total, w.not_before_ms, w.artifact, "
                      "w.role, coalesce(p.idx, -1), coalesce(p.role, ''), coalesce(p.state, '') "
                      "FROM window w LEFT JOIN window p ON p.id = w.after_id AND w.after_id != 0 "
                      "WHERE w.shot_id = ? ORDER BY w.role = 'anchor' DESC, w.idx",
    [Q_WIN_AFTER] = "SELECT id FROM window WHERE after_id = ? AND state = 'queued' ORDER BY id",
    [Q_WORKERS] = "SELECT id, name, engines, n_gpus, mem_mb, state, first_seen_ms, last_seen_ms, attempt_id "
                  "FROM worker ORDER BY id",
    [Q_EVENTS] = "SELECT id, ts_ms, job_id, window_id, attempt_id, worker_id, kind, detail FROM event "
                 "WHERE id > ? ORDER BY id LIMIT ?",
    [Q_EVENTS_JOB] = "SELECT id, ts_ms, job_id, window_id, attempt_id, worker_id, kind, detail FROM event "
                     "WHERE id > ? AND job_id = ? ORDER BY id LIMIT ?",
    [Q_LOGS] = "SELECT a.id, a.window_id, s.name, w.idx, a.worker_id, a.state, a.fail_class, a.reason, "
               "a.started_ms, a.ended_ms FROM attempt a JOIN window w ON w.id = a.window_id "
               "JOIN shot s ON s.id = w.shot_id WHERE a.job_id = ? AND (?2 = 0 OR a.id = ?2) ORDER BY a.id",
    [Q_JOB_WCOUNTS] = "SELECT state, count(*), sum(attempts_all) FROM window WHERE job_id = ? GROUP BY state",
};

/* ---- helpers shared with the other store files ---- */
int store_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap; va_start(ap, fmt); vsnprintf(err, errlen, fmt, ap); va_end(ap);
    }
    return -1;
}

int store_dberr(store_t *st, char *err, size_t errlen, const char *what)
{
    return store_fail(err, errlen, "sqlite: %s: %s", what, sqlite3_errmsg(st->db));
}

sqlite3_stmt *store_stmt(store_t *st, store_q_t q, char *err, size_t errlen)
{
    if (!st->q[q]) {
        if (sqlite3_prepare_v3(st->db, SQL[q], -1, SQLITE_PREPARE_PERSISTENT, &st->q[q], NULL) != SQLITE_OK) {
            store_dberr(st, err, errlen, SQL[q]);
            return NULL;
        }
    }
    sqlite3_reset(st->q[q]);
    sqlite3_clear_bindings(st->q[q]);
    return st->q[q];
}

int store_exec(store_t *st, store_q_t q, char *err, size_t errlen)
{
    sqlite3_stmt *s = st->q[q];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return store_dberr(st, err, errlen, SQL[q]);
    return 0;
}

/* Runs one no-row statement by id (prepared on first use). */
static int run_q(store_t *st, store_q_t q, char *err, size_t errlen)
{
    return store_stmt(st, q, err, errlen) ? store_exec(st, q, err, errlen) : -1;
}

int store_tx_begin(store_t *st, char *err, size_t errlen)
{
    return run_q(st, st->batch ? Q_SAVEPOINT : Q_BEGIN, err, errlen);
}

int store_tx_commit(store_t *st, char *err, size_t errlen)
{
    if (run_q(st, st->batch ? Q_RELEASE : Q_COMMIT, err, errlen) != 0) {
        store_tx_rollback(st);
        return -1;
    }
    return 0;
}

void store_tx_rollback(store_t *st)
{
    if (sqlite3_get_autocommit(st->db)) return;
    if (!st->batch) { run_q(st, Q_ROLLBACK, NULL, 0); return; }
    if (run_q(st, Q_ROLLBACK_TO, NULL, 0) == 0) run_q(st, Q_RELEASE, NULL, 0);
}

int store_batch_begin(store_t *st, char *err, size_t errlen)
{
    if (st->batch) return 0;
    if (run_q(st, Q_BEGIN, err, errlen) != 0) return -1;
    st->batch = 1;
    return 0;
}

int store_batch_commit(store_t *st, char *err, size_t errlen)
{
    if (!st->batch) return 0;
    st->batch = 0;
    if (run_q(st, Q_COMMIT, err, errlen) == 0) return 0;
    if (!sqlite3_get_autocommit(st->db)) run_q(st, Q_ROLLBACK, NULL, 0);
    return -1;
}

void store_text(sqlite3_stmt *s, int col, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* state get/set statements per entity */
static const store_q_t GETQ[STORE_E_N_] = { Q_JOB_STATE, Q_SHOT_STATE, Q_WIN_STATE, Q_ATT_STATE };
static const store_q_t SETQ[STORE_E_N_] = { Q_JOB_SET, Q_SHOT_SET, Q_WIN_SET, Q_ATT_SET };

int store_get_state(store_t *st, store_entity_t e, int64_t id, char *out, size_t outlen,
                    char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, GETQ[e], err, errlen);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) { store_text(s, 0, out, outlen); sqlite3_reset(s); return 1; }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return 0;
    return store_dberr(st, err, errlen, "state");
}

int store_transition(store_t *st, store_entity_t e, int64_t id, const char *event, int64_t now_ms,
                     char *to, size_t tolen, char *err, size_t errlen)
{
    char cur[32];
    int f = store_get_state(st, e, id, cur, sizeof cur, err, errlen);
    if (f <= 0) return f < 0 ? -1 : store_fail(err, errlen, "no %s %lld", store_entity_name(e), (long long)id);
    const char *next = store_next_state(e, cur, event);
    if (!next)
        return store_fail(err, errlen, "%s %lld is %s: '%s' is not allowed", store_entity_name(e),
                          (long long)id, cur, event);
    sqlite3_stmt *s = store_stmt(st, SETQ[e], err, errlen);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, next, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, e == STORE_E_JOB ? 3 : 2, id);
    sqlite3_bind_int64(s, e == STORE_E_JOB ? 2 : 3, now_ms);
    if (store_exec(st, SETQ[e], err, errlen) != 0) return -1;
    if (to) snprintf(to, tolen, "%s", next);
    return 0;
}

void store_read_shot(sqlite3_stmt *s, int c, proto_shot_t *sh)
{
    memset(sh, 0, sizeof *sh);
    store_text(s, c + 3, sh->name, sizeof sh->name);
    store_text(s, c + 5, sh->prompt, sizeof sh->prompt);
    store_text(s, c + 6, sh->negative_prompt, sizeof sh->negative_prompt);
    sh->frames = sqlite3_column_int(s, c + 7);
    sh->fps = sqlite3_column_double(s, c + 8);
    sh->width = sqlite3_column_int(s, c + 9);
    sh->height = sqlite3_column_int(s, c + 10);
    sh->seed = (uint64_t)sqlite3_column_int64(s, c + 11);
    sh->steps = sqlite3_column_int(s, c + 12);
    sh->guidance = sqlite3_column_double(s, c + 13);
    store_text(s, c + 14, sh->model, sizeof sh->model);
    store_text(s, c + 15, sh->lora, sizeof sh->lora);
    store_text(s, c + 16, sh->engine, sizeof sh->engine);
    sh->window = sqlite3_column_int(s, c + 17);
    sh->overlap = sqlite3_column_int(s, c + 18);
    store_text(s, c + 19, sh->strategy, sizeof sh->strategy);
    char outs[PROTO_OUTPUTS_MAX * 33] = "";
    store_text(s, c + 20, outs, sizeof outs);
    for (char *save = NULL, *tok = strtok_r(outs, ",", &save); tok && sh->n_outputs < PROTO_OUTPUTS_MAX;
         tok = strtok_r(NULL, ",", &save))
        snprintf(sh->outputs[sh->n_outputs++], sizeof sh->outputs[0], "%s", tok);
    sh->priority = sqlite3_column_int(s, c + 21);
}

/* ---- opening ---- */
static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        store_fail(err, errlen, "sqlite: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Applies every embedded migration newer than user_version, one transaction each. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int have = user_version(db);
    if (have < 0) return store_fail(err, errlen, "sqlite: cannot read user_version: %s", sqlite3_errmsg(db));
    for (int i = 0; i < STORE_N_MIGRATIONS; i++) {
        const store_migration_t *m = &STORE_MIGRATIONS[i];
        if (m->version <= have) continue;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
        if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) != 0) return -1;
        if (exec_sql(db, m->sql, err, errlen) != 0 || exec_sql(db, pragma, err, errlen) != 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (exec_sql(db, "COMMIT", err, errlen) != 0) return -1;
    }
    if (have > STORE_N_MIGRATIONS && STORE_N_MIGRATIONS > 0 &&
        have > STORE_MIGRATIONS[STORE_N_MIGRATIONS - 1].version)
        return store_fail(err, errlen, "database schema %d is newer than this farmd knows", have);
    return 0;
}

int store_integrity(store_t *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
        return store_dberr(st, err, errlen, "integrity_check");
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        if (r && strcmp(r, "ok") == 0) rc = 0;
        else store_fail(err, errlen, "integrity_check: %s", r ? r : "?");
    } else store_dberr(st, err, errlen, "integrity_check");
    sqlite3_finalize(s);
    return rc;
}

int store_schema_version(store_t *st) { return user_version(st->db); }

int store_open(const char *path, const store_opts_t *o, store_t **out, char *err, size_t errlen)
{
    store_t *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st) return store_fail(err, errlen, "out of memory");
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        store_fail(err, errlen, "sqlite: open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, o && o->busy_ms > 0 ? o->busy_ms : 5000);
    if (store_integrity(st, err, errlen) != 0) goto fail;
    if (exec_sql(st->db, "PRAGMA journal_mode = WAL", err, errlen) != 0 ||
        exec_sql(st->db, "PRAGMA foreign_keys = ON", err, errlen) != 0 ||
        exec_sql(st->db, o && !o->sync_full ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
                 err, errlen) != 0)
        goto fail;
    if (migrate(st->db, err, errlen) != 0) goto fail;
    *out = st;
    return 0;
fail:
    store_close(&st);
    return -1;
}

void store_close(store_t **p)
{
    store_t *st = p ? *p : NULL;
    if (!st) return;
    for (int i = 0; i < Q_N_; i++) sqlite3_finalize(st->q[i]);
    sqlite3_close(st->db);
    free(st);
    *p = NULL;
}

int store_event(store_t *st, int64_t job_id, int64_t window_id, int64_t attempt_id, const char *worker,
                const char *kind, const char *detail, int64_t now_ms)
{
    sqlite3_stmt *s = store_stmt(st, Q_EVENT, NULL, 0);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, job_id);
    sqlite3_bind_int64(s, 3, window_id);
    sqlite3_bind_int64(s, 4, attempt_id);
    sqlite3_bind_text(s, 5, worker ? worker : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 7, detail ? detail : "", -1, SQLITE_TRANSIENT);
    return store_exec(st, Q_EVENT, NULL, 0);
}
