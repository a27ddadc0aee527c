/* test_store_basic.c — the SQLite store end to end on a temporary database: migrations and
 * integrity check, submission, scheduling order and capability matching, fencing (stale attempts
 * refused), budgets and backoff, infrastructure losses, the per-job worker bar and its reset on
 * resume, operator verbs, assembly bookkeeping, the state table and the append-only event log. */
#include "tests/test.h"
#include "sql/states.h"
#include "sql/store.h"
#include "sql/migrations.h"
#include <sqlite3.h>
#include <unistd.h>

static char dir[64], path[128], err[1024];

static proto_shot_t shot(const char *name, int frames, int prio, const char *engine)
{
    proto_shot_t s;
    proto_shot_defaults(&s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.frames = frames; s.priority = prio; s.width = 64; s.height = 48;
    snprintf(s.engine, sizeof s.engine, "%s", engine);
    return s;
}

static store_worker_t worker(const char *id, const char *engines, int64_t mem)
{
    store_worker_t w = {0};
    snprintf(w.id, sizeof w.id, "%s", id); snprintf(w.engines, sizeof w.engines, "%s", engines);
    w.mem_mb = mem;
    return w;
}

/* job with shot A (3 windows, priority 0) and B (1 window, priority 5) */
static int64_t submit(store_t *st)
{
    static const store_span_t wa[] = { {0, 17}, {13, 17}, {26, 9} }, wb[] = { {0, 5} };
    static proto_shot_t a, b;
    a = shot("A", 35, 0, "testcard"); b = shot("B", 5, 5, "testcard");
    store_shot_plan_t plan[2] = { { &a, 3, wa, 0, 100 }, { &b, 1, wb, 0, 100 } };
    int64_t job = 0;
    CHECKF(store_job_submit(st, "t.csv", 2, plan, 1000, &job, err, sizeof err) == 0, "%s", err);
    return job;
}

static void test_open_and_submit(void)
{
    store_t *st;
    CHECKF(store_open(path, NULL, &st, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(store_schema_version(st), STORE_MIGRATIONS[STORE_N_MIGRATIONS - 1].version);
    CHECK(store_integrity(st, err, sizeof err) == 0);
    int64_t job = submit(st);
    CHECK_EQ_INT(job, 1);
    CHECK_EQ_INT(store_queued_count(st), 4);
    char *json = NULL;
    CHECK(store_query(st, "job", job, 0, "", &json, err, sizeof err) == 0 && strstr(json, "\"name\":\"A\""));
    free(json);
    CHECK(store_query(st, "nonsense", 0, 0, "", &json, err, sizeof err) == -1);
    store_close(&st);
    CHECK(st == NULL);
    CHECKF(store_open(path, NULL, &st, err, sizeof err) == 0, "reopen: %s", err);   /* migrations idempotent */
    CHECK_EQ_INT(store_queued_count(st), 4);
    store_close(&st);
}

static void test_schedule_and_fencing(void)
{
    store_t *st; store_assignment_t a; store_outcome_t o;
    store_opts_t so = { 0, 1000 };
    CHECK(store_open(path, &so, &st, err, sizeof err) == 0);
    store_worker_t w1 = worker("w1", "testcard,dit", 0), wd = worker("wd", "dit", 0), small = worker("s", "testcard", 10);
    CHECK(store_worker_ready(st, &w1, 0, 1, err, sizeof err) == 0);
    CHECK_EQ_INT(store_assign_next(st, &wd, 3, 2000, &a, err, sizeof err), 0);      /* engine mismatch */
    CHECK_EQ_INT(store_assign_next(st, &small, 3, 2000, &a, err, sizeof err), 0);   /* needs 100 MB */
    {   /* a job needing a GPU waits for a worker advertising one */
        static const store_span_t g1[] = { {0, 1} };
        static proto_shot_t g;
        g = shot("G", 1, 100, "testcard");
        store_shot_plan_t gp = { &g, 1, g1, 1, 1 };
        int64_t gj;
        CHECK(store_job_submit(st, "g.csv", 1, &gp, 1500, &gj, err, sizeof err) == 0);
        store_assignment_t ga;
        store_worker_t gpu = worker("gpu", "testcard", 0);
        gpu.n_gpus = 1;
        CHECK_EQ_INT(store_assign_next(st, &gpu, 3, 1600, &ga, err, sizeof err), 1);
        CHECK(ga.job_id == gj);   /* priority 100 first */
        CHECK(store_attempt_done(st, ga.attempt_id, "m", "p", 1700, &o, err, sizeof err) == 0);
    }
    CHECK_EQ_INT(store_assign_next(st, &w1, 3, 2000, &a, err, sizeof err), 1);
    CHECK_STR(a.shot.name, "B");                                                    /* priority first */
    int64_t first = a.attempt_id;
    CHECK(store_attempt_done(st, first, "m", "/x/w0.rgba", 2100, &o, err, sizeof err) == 0);
    CHECK(o.assemble_shot != 0);                                                    /* B complete */
    CHECK(store_attempt_done(st, first, "m", "/x/w0.rgba", 2100, &o, err, sizeof err) == -1);   /* stale */
    CHECK(store_attempt_fail(st, first, "window", "late", 3, 10, 100, 2100, &o, err, sizeof err) == -1);
    CHECK_EQ_INT(store_assign_next(st, &w1, 3, 2200, &a, err, sizeof err), 1);
    CHECK(strcmp(a.shot.name, "A") == 0 && a.window_index == 0 && a.first_frame == 0 && a.n_frames == 17);
    /* infrastructure loss: queued again, no budget */
    CHECK(store_attempt_lost(st, a.attempt_id, "lease", 2300, &o, err, sizeof err) == 0);
    CHECK_STR(o.window_state, "queued");
    store_attempt_t at;
    CHECK(store_attempt_get(st, a.attempt_id, &at, err, sizeof err) == 1 && !strcmp(at.state, "lost"));
    /* three window failures: backoff between them, then failed */
    for (int i = 0; i < 3; i++) {
        int64_t now = 3000 + i * 1000;
        store_assignment_t held[2];
        if (i > 0)   /* w1 has failed window 0: it gets windows 1 and 2 first (the retry goes elsewhere) */
            for (int k = 0; k < 2; k++) {
                CHECK_EQ_INT(store_assign_next(st, &w1, 10, now, &held[k], err, sizeof err), 1);
                CHECK_EQ_INT(held[k].window_index, k + 1);
            }
        CHECK_EQ_INT(store_assign_next(st, &w1, 10, now, &a, err, sizeof err), 1);
        CHECK_EQ_INT(a.window_index, 0);   /* nothing else queued: back to the window it failed */
        for (int k = 0; i > 0 && k < 2; k++)
            CHECK(store_attempt_lost(st, held[k].attempt_id, "test", now, &o, err, sizeof err) == 0);
        CHECK(store_attempt_fail(st, a.attempt_id, "window", "boom", 3, 100, 400, now, &o, err, sizeof err) == 0);
        CHECK_STR(o.window_state, i < 2 ? "queued" : "failed");
        if (i < 2) {   /* during backoff the next window of A comes first */
            store_assignment_t b;
            CHECK_EQ_INT(store_assign_next(st, &w1, 10, now + 1, &b, err, sizeof err), 1);
            CHECK_EQ_INT(b.window_index, 1);   /* window 1 was lost before: no backoff */
            CHECK(store_attempt_lost(st, b.attempt_id, "test", now + 2, &o, err, sizeof err) == 0);
            CHECK(store_next_backoff(st, now + 2) > now + 2);
        }
    }
    store_close(&st);
}

static void test_bar_control_resume(void)
{
    store_t *st; store_assignment_t a; store_outcome_t o; store_control_t c;
    CHECK(store_open(path, NULL, &st, err, sizeof err) == 0);
    store_worker_t w1 = worker("w1", "testcard", 0), w2 = worker("w2", "testcard", 0);
    /* w1 failed 3 windows of job 1 (above): kept off it */
    CHECK_EQ_INT(store_assign_next(st, &w1, 3, 99000, &a, err, sizeof err), 0);
    CHECK_EQ_INT(store_assign_next(st, &w2, 3, 99000, &a, err, sizeof err), 1);
    /* pause: nothing assigned; unpause again */
    CHECK(store_control(st, "pause", 1, 99001, &c, err, sizeof err) == 0); store_control_free(&c);
    store_assignment_t b;
    CHECK_EQ_INT(store_assign_next(st, &w2, 3, 99002, &b, err, sizeof err), 0);
    CHECK(store_control(st, "pause", 1, 99003, &c, err, sizeof err) == -1);   /* paused -> pause: not allowed */
    CHECK(store_control(st, "unpause", 1, 99004, &c, err, sizeof err) == 0); store_control_free(&c);
    CHECK(store_control(st, "explode", 1, 99004, &c, err, sizeof err) == -1);
    CHECK(store_control(st, "cancel", 42, 99004, &c, err, sizeof err) == -1);   /* no such job */
    /* cancel: the running attempt is returned for CANCEL */
    CHECK(store_control(st, "cancel", 1, 99005, &c, err, sizeof err) == 0);
    CHECK(c.n_cancel == 1 && c.cancel_attempts[0] == a.attempt_id);
    store_control_free(&c);
    CHECK(store_attempt_done(st, a.attempt_id, "m", "p", 99006, &o, err, sizeof err) == -1);   /* fenced */
    CHECK_EQ_INT(store_queued_count(st), 0);
    /* resume: fresh budget, verified windows kept, bar reset */
    CHECK(store_control(st, "resume", 1, 99007, &c, err, sizeof err) == 0);
    CHECK_EQ_INT(c.n_windows, 3);
    store_control_free(&c);
    CHECK_EQ_INT(store_queued_count(st), 3);
    int done = 0;
    while (store_assign_next(st, &w1, 3, 99100, &a, err, sizeof err) == 1) {
        CHECK(store_attempt_done(st, a.attempt_id, "m", "p", 99101, &o, err, sizeof err) == 0);
        done++;
    }
    CHECK_EQ_INT(done, 3);
    CHECK(o.assemble_shot != 0);
    int64_t *ids; int n;
    CHECK(store_shots_assembling(st, &ids, &n, err, sizeof err) == 0 && n == 3);   /* A, B and G */
    store_shot_info_t si;
    CHECK(store_shot_info(st, ids[0], &si, err, sizeof err) == 0 && si.n_windows == 3 && !strcmp(si.shot.name, "A"));
    store_shot_info_free(&si);
    CHECK(store_shot_assembled(st, ids[0], 1, "/out/B.mkv", 99200, &o, err, sizeof err) == 0);
    CHECK_STR(o.job_state, "running");
    CHECK(store_shot_assembled(st, ids[1], 1, "/out/A.mkv", 99201, &o, err, sizeof err) == 0);
    CHECK_STR(o.job_state, "done");
    CHECK(store_shot_assembled(st, ids[1], 1, "/out/A.mkv", 99202, &o, err, sizeof err) == -1);
    free(ids);
    CHECK(store_control(st, "resume", 1, 99300, &c, err, sizeof err) == -1);   /* done: nothing to resume */
    store_close(&st);
}

static void test_event_append_only(void)
{
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE event SET kind = 'x'", NULL, NULL, NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(db, "DELETE FROM event", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_stmt *s;
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM event WHERE kind IN ('submit','assign','verified','job-done')", -1, &s, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) > 5);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_state_table(void)
{
    static const char *const states[STORE_E_N_][7] = {
        { "queued", "running", "paused", "done", "failed", "cancelled", NULL },
        { "queued", "rendering", "assembling", "done", "failed", "cancelled", NULL },
        { "queued", "running", "verified", "failed", "cancelled", NULL },
        { "running", "done", "failed", "lost", "cancelled", NULL },
    };
    int bad = 0;
    for (int i = 0; i < STORE_N_TRANSITIONS; i++) {
        const store_transition_t *t = &STORE_TRANSITIONS[i];
        int f = 0, to = 0;
        for (int k = 0; states[t->entity][k]; k++) { f |= !strcmp(states[t->entity][k], t->from); to |= !strcmp(states[t->entity][k], t->to); }
        if (!f || !to) { bad++; fprintf(stderr, "  bad transition %s %s->%s\n", t->event, t->from, t->to); }
        for (int j = 0; j < i; j++)   /* deterministic: one row per (entity, from, event) */
            if (STORE_TRANSITIONS[j].entity == t->entity && !strcmp(STORE_TRANSITIONS[j].from, t->from) &&
                !strcmp(STORE_TRANSITIONS[j].event, t->event)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(store_next_state(STORE_E_ATTEMPT, "done", "done") == NULL);
    CHECK(store_state_final(STORE_E_WINDOW, "verified") && !store_state_final(STORE_E_WINDOW, "queued"));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/farm.db", dir);
    T_RUN(test_open_and_submit);
    T_RUN(test_schedule_and_fencing);
    T_RUN(test_bar_control_resume);
    T_RUN(test_event_append_only);
    T_RUN(test_state_table);
    char cmd[128]; snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    T_DONE();
}
