/* store_query.c — read-only answers to QUERY as JSON text (shapes documented in proto.h).
 * Written with proto/json's streaming writer so the output is always valid JSON. */
#include "sql/store_int.h"
#include "proto/json.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_TAIL (64 * 1024)
#define EVENTS_MAX 1000

typedef proto_json_writer_t jw_t;

static void kv_int(jw_t *w, const char *k, int64_t v) { proto_json_w_key(w, k); proto_json_w_int(w, v); }
static void kv_num(jw_t *w, const char *k, double v) { proto_json_w_key(w, k); proto_json_w_num(w, v); }
static void kv_col(jw_t *w, const char *k, sqlite3_stmt *s, int c)
{
    proto_json_w_key(w, k);
    proto_json_w_str(w, (const char *)sqlite3_column_text(s, c));
}

void store_set_logs_dir(store_t *st, const char *dir)
{
    snprintf(st->logs_dir, sizeof st->logs_dir, "%s", dir ? dir : "");
}

/* Window counts by state and the number of attempts, for job summaries. */
static void job_counts(store_t *st, jw_t *w, int64_t job_id)
{
    sqlite3_stmt *s = store_stmt(st, Q_JOB_WCOUNTS, NULL, 0);
    int64_t attempts = 0, total = 0;
    proto_json_w_key(w, "windows"); proto_json_w_begin_object(w);
    if (s) {
        sqlite3_bind_int64(s, 1, job_id);
        while (sqlite3_step(s) == SQLITE_ROW) {
            kv_int(w, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
            total += sqlite3_column_int64(s, 1); attempts += sqlite3_column_int64(s, 2);
        }
        sqlite3_reset(s);
    }
    kv_int(w, "total", total);
    proto_json_w_end_object(w);
    kv_int(w, "attempts", attempts);
}

/* The job columns of Q_JOBS / Q_JOB_ONE as object members. */
static void job_fields(store_t *st, jw_t *w, sqlite3_stmt *s)
{
    int64_t id = sqlite3_column_int64(s, 0);
    kv_int(w, "id", id); kv_col(w, "file", s, 1); kv_col(w, "state", s, 2);
    kv_int(w, "created_ms", sqlite3_column_int64(s, 3)); kv_int(w, "updated_ms", sqlite3_column_int64(s, 4));
    kv_int(w, "n_shots", sqlite3_column_int64(s, 5)); kv_col(w, "error", s, 6);
    job_counts(st, w, id);
}

static int q_jobs(store_t *st, jw_t *w, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_JOBS, err, errlen);
    if (!s) return -1;
    int64_t ids[4096]; int n = 0;
    while (n < 4096 && sqlite3_step(s) == SQLITE_ROW) ids[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    proto_json_w_key(w, "jobs"); proto_json_w_begin_array(w);
    for (int i = 0; i < n; i++) {
        s = store_stmt(st, Q_JOB_ONE, err, errlen);
        if (!s) return -1;
        sqlite3_bind_int64(s, 1, ids[i]);
        if (sqlite3_step(s) == SQLITE_ROW) {
            proto_json_w_begin_object(w);
            job_fields(st, w, s);
            proto_json_w_end_object(w);
        }
        sqlite3_reset(s);
    }
    proto_json_w_end_array(w);
    return 0;
}

/* What a queued window waits for, by the shot's strategy, when its dependency is a render window
 * (issue #8); "%lld" is that window's index. An anchor stage dependency is "the anchor". */
static const struct { const char *strategy, *fmt; } WAITS_FOR[] = {
    { "chain",         "window %lld (chain)" },
    { "anchor-causal", "window %lld (anchor-causal: attends to its last frame and the shot's first frame)" },
};

/* 002_strategies columns of Q_JOB_WINDOWS (12..15): "role", "after" (the index of the window it waits
 * for, -1 none) and "waits_for" (what keeps a queued window from being scheduled, "" when nothing). */
static void deps_of(jw_t *w, sqlite3_stmt *s, const char *strategy)
{
    char role[16], prole[16], pstate[16], waits[128] = "";
    store_text(s, 12, role, sizeof role); store_text(s, 14, prole, sizeof prole);
    store_text(s, 15, pstate, sizeof pstate);
    const char *state = (const char *)sqlite3_column_text(s, 3), *fmt = WAITS_FOR[0].fmt;
    int64_t after = sqlite3_column_int64(s, 13);
    for (size_t i = 0; i < sizeof WAITS_FOR / sizeof WAITS_FOR[0]; i++)
        if (!strcmp(WAITS_FOR[i].strategy, strategy)) fmt = WAITS_FOR[i].fmt;
    if (after >= 0 && state && !strcmp(state, "queued") && strcmp(pstate, "verified")) {
        if (!strcmp(prole, "anchor")) snprintf(waits, sizeof waits, "the anchor");
        else snprintf(waits, sizeof waits, fmt, (long long)after);
    }
    kv_col(w, "role", s, 12); kv_int(w, "after", after);
    proto_json_w_key(w, "waits_for"); proto_json_w_str(w, waits);
}

static void windows_of(store_t *st, jw_t *w, int64_t shot_id, const char *strategy)
{
    sqlite3_stmt *s = store_stmt(st, Q_JOB_WINDOWS, NULL, 0);
    proto_json_w_key(w, "windows"); proto_json_w_begin_array(w);
    if (s) {
        sqlite3_bind_int64(s, 1, shot_id);
        while (sqlite3_step(s) == SQLITE_ROW) {
            proto_json_w_begin_object(w);
            kv_int(w, "idx", sqlite3_column_int64(s, 0)); kv_int(w, "first", sqlite3_column_int64(s, 1));
            kv_int(w, "n", sqlite3_column_int64(s, 2)); kv_col(w, "state", s, 3);
            kv_int(w, "attempts", sqlite3_column_int64(s, 4)); kv_int(w, "attempts_total", sqlite3_column_int64(s, 5));
            kv_int(w, "budget_used", sqlite3_column_int64(s, 4));
            kv_col(w, "worker", s, 6); kv_int(w, "attempt_id", sqlite3_column_int64(s, 7));
            kv_int(w, "progress_done", sqlite3_column_int64(s, 8));
            kv_int(w, "progress_total", sqlite3_column_int64(s, 9));
            kv_int(w, "not_before_ms", sqlite3_column_int64(s, 10)); kv_col(w, "artifact", s, 11);
            deps_of(w, s, strategy);
            proto_json_w_end_object(w);
        }
        sqlite3_reset(s);
    }
    proto_json_w_end_array(w);
}

/* One shot row of Q_JOB_SHOTS as an object (windows loaded after the row is read). */
static void shot_obj(store_t *st, jw_t *w, sqlite3_stmt *s, int64_t *shot_id)
{
    proto_shot_t sh;
    store_read_shot(s, 0, &sh);
    *shot_id = sqlite3_column_int64(s, 0);
    kv_int(w, "id", *shot_id); kv_int(w, "idx", sqlite3_column_int64(s, 2)); kv_col(w, "name", s, 3);
    kv_col(w, "state", s, 4); kv_int(w, "frames", sh.frames); kv_num(w, "fps", sh.fps);
    kv_int(w, "width", sh.width); kv_int(w, "height", sh.height); kv_col(w, "engine", s, 16);
    kv_int(w, "window", sh.window); kv_int(w, "overlap", sh.overlap); kv_int(w, "priority", sh.priority);
    kv_col(w, "strategy", s, 19);
    proto_json_w_key(w, "outputs"); proto_json_w_begin_array(w);
    for (int i = 0; i < sh.n_outputs; i++) proto_json_w_str(w, sh.outputs[i]);
    proto_json_w_end_array(w);
    char res[8192]; store_text(s, 22, res, sizeof res);
    proto_json_w_key(w, "result"); proto_json_w_begin_array(w);
    for (char *save = NULL, *t = strtok_r(res, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        proto_json_w_str(w, t);
    proto_json_w_end_array(w);
    kv_col(w, "error", s, 23);
}

static int q_job(store_t *st, jw_t *w, int64_t job_id, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_JOB_ONE, err, errlen);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    if (sqlite3_step(s) != SQLITE_ROW) { sqlite3_reset(s); return store_fail(err, errlen, "no job %lld", (long long)job_id); }
    proto_json_w_key(w, "job"); proto_json_w_begin_object(w);
    job_fields(st, w, s);
    sqlite3_reset(s);
    proto_json_w_key(w, "shots"); proto_json_w_begin_array(w);
    s = store_stmt(st, Q_JOB_SHOTS, err, errlen);   /* windows_of steps another statement meanwhile */
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t shot_id;
        char strategy[32];
        store_text(s, 19, strategy, sizeof strategy);
        proto_json_w_begin_object(w);
        shot_obj(st, w, s, &shot_id);
        windows_of(st, w, shot_id, strategy);
        proto_json_w_end_object(w);
    }
    sqlite3_reset(s);
    proto_json_w_end_array(w);
    proto_json_w_end_object(w);
    return 0;
}

static int q_workers(store_t *st, jw_t *w, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, Q_WORKERS, err, errlen);
    if (!s) return -1;
    proto_json_w_key(w, "workers"); proto_json_w_begin_array(w);
    while (sqlite3_step(s) == SQLITE_ROW) {
        proto_json_w_begin_object(w);
        kv_col(w, "id", s, 0); kv_col(w, "name", s, 1); kv_col(w, "engines", s, 2);
        kv_int(w, "n_gpus", sqlite3_column_int64(s, 3)); kv_int(w, "mem_mb", sqlite3_column_int64(s, 4));
        kv_col(w, "state", s, 5); kv_int(w, "first_seen_ms", sqlite3_column_int64(s, 6));
        kv_int(w, "last_seen_ms", sqlite3_column_int64(s, 7)); kv_int(w, "attempt_id", sqlite3_column_int64(s, 8));
        proto_json_w_end_object(w);
    }
    sqlite3_reset(s);
    proto_json_w_end_array(w);
    return 0;
}

static int q_events(store_t *st, jw_t *w, int64_t job_id, int64_t since, char *err, size_t errlen)
{
    sqlite3_stmt *s = store_stmt(st, job_id ? Q_EVENTS_JOB : Q_EVENTS, err, errlen);
    int64_t last = since;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, since);
    if (job_id) { sqlite3_bind_int64(s, 2, job_id); sqlite3_bind_int(s, 3, EVENTS_MAX); }
    else sqlite3_bind_int(s, 2, EVENTS_MAX);
    proto_json_w_key(w, "events"); proto_json_w_begin_array(w);
    while (sqlite3_step(s) == SQLITE_ROW) {
        proto_json_w_begin_object(w);
        last = sqlite3_column_int64(s, 0);
        kv_int(w, "id", last); kv_int(w, "ts_ms", sqlite3_column_int64(s, 1));
        kv_int(w, "job_id", sqlite3_column_int64(s, 2)); kv_int(w, "window_id", sqlite3_column_int64(s, 3));
        kv_int(w, "attempt_id", sqlite3_column_int64(s, 4)); kv_col(w, "worker", s, 5);
        kv_col(w, "kind", s, 6); kv_col(w, "detail", s, 7);
        proto_json_w_end_object(w);
    }
    sqlite3_reset(s);
    proto_json_w_end_array(w);
    kv_int(w, "last", last);
    return 0;
}

/* Writes the last LOG_TAIL bytes of the attempt's log as "log" (empty when there is none). */
static void log_tail(store_t *st, jw_t *w, int64_t attempt_id)
{
    char path[1200], *buf = NULL;
    ssize_t got = 0;
    snprintf(path, sizeof path, "%s/a%lld.log", st->logs_dir, (long long)attempt_id);
    int fd = st->logs_dir[0] ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        struct stat sb;
        if (fstat(fd, &sb) == 0 && (buf = malloc(LOG_TAIL)) != NULL) {
            off_t at = sb.st_size > LOG_TAIL ? sb.st_size - LOG_TAIL : 0;
            got = pread(fd, buf, LOG_TAIL, at);
        }
        close(fd);
    }
    proto_json_w_key(w, "log");
    proto_json_w_strn(w, buf ? buf : "", got > 0 ? (size_t)got : 0);
    free(buf);
}

static int q_logs(store_t *st, jw_t *w, int64_t job_id, const char *args, char *err, size_t errlen)
{
    int64_t only = 0;
    if (args && !strncmp(args, "attempt=", 8)) only = strtoll(args + 8, NULL, 10);
    sqlite3_stmt *s = store_stmt(st, Q_LOGS, err, errlen);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id); sqlite3_bind_int64(s, 2, only);
    proto_json_w_key(w, "logs"); proto_json_w_begin_array(w);
    while (sqlite3_step(s) == SQLITE_ROW) {
        proto_json_w_begin_object(w);
        int64_t id = sqlite3_column_int64(s, 0);
        kv_int(w, "attempt_id", id); kv_int(w, "window_id", sqlite3_column_int64(s, 1));
        kv_col(w, "shot", s, 2); kv_int(w, "window", sqlite3_column_int64(s, 3));
        kv_col(w, "worker", s, 4); kv_col(w, "state", s, 5); kv_col(w, "fail_class", s, 6);
        kv_col(w, "reason", s, 7); kv_int(w, "started_ms", sqlite3_column_int64(s, 8));
        kv_int(w, "ended_ms", sqlite3_column_int64(s, 9));
        log_tail(st, w, id);
        proto_json_w_end_object(w);
    }
    sqlite3_reset(s);
    proto_json_w_end_array(w);
    return 0;
}

/* ---- the query table: kind -> writer ---- */
typedef struct { int64_t job_id, since; const char *args; } qargs_t;
static int k_jobs(store_t *st, jw_t *w, const qargs_t *a, char *e, size_t n) { (void)a; return q_jobs(st, w, e, n); }
static int k_job(store_t *st, jw_t *w, const qargs_t *a, char *e, size_t n) { return q_job(st, w, a->job_id, e, n); }
static int k_workers(store_t *st, jw_t *w, const qargs_t *a, char *e, size_t n) { (void)a; return q_workers(st, w, e, n); }
static int k_events(store_t *st, jw_t *w, const qargs_t *a, char *e, size_t n) { return q_events(st, w, a->job_id, a->since, e, n); }
static int k_logs(store_t *st, jw_t *w, const qargs_t *a, char *e, size_t n) { return q_logs(st, w, a->job_id, a->args, e, n); }

static const struct { const char *kind; int (*fn)(store_t *, jw_t *, const qargs_t *, char *, size_t); } QUERIES[] = {
    { "jobs", k_jobs }, { "job", k_job }, { "workers", k_workers }, { "events", k_events }, { "logs", k_logs },
};

int store_query(store_t *st, const char *kind, int64_t job_id, int64_t since, const char *args,
                char **out, char *err, size_t errlen)
{
    jw_t w;
    int rc = store_fail(err, errlen, "unknown query '%s' (jobs, job, workers, events, logs)", kind);
    qargs_t a = { job_id, since, args };
    *out = NULL;
    proto_json_w_init(&w, 0);
    proto_json_w_begin_object(&w);
    for (size_t i = 0; i < sizeof QUERIES / sizeof QUERIES[0]; i++)
        if (!strcmp(QUERIES[i].kind, kind)) rc = QUERIES[i].fn(st, &w, &a, err, errlen);
    proto_json_w_end_object(&w);
    if (rc == 0) {
        size_t len;
        rc = proto_json_w_finish(&w, out, &len, err, errlen);
    }
    proto_json_w_free(&w);
    return rc;
}
