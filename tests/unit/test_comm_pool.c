/* test_comm_pool.c — persistent rank threads (kernels/k_comm_pool.h) over the CPU-threads backend and
 * over test backends that wrap it to fail on purpose: reuse (same threads, same group, correct sums
 * on every run), a failing rank (error names it, the others leave their collectives, the group is
 * rebuilt and the next run works), a thread that cannot enter its device, a group that cannot be
 * rebuilt (the run says so; it works again once the backend recovers), bad arguments. */
#include "tests/test.h"
#include "kernels/k_comm_pool.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAXR 8

typedef struct {
    size_t n;
    int fail_rank;                  /* returns -1 before its collective, -1 none */
    int bad_count_rank;             /* passes half the count, -1 none */
    float *buf[MAXR];
    int rcs[MAXR];                  /* what each rank's all-reduce returned */
    pthread_t who[MAXR];            /* the thread that ran each rank */
    int dev_seen[MAXR];
} job_t;

static _Thread_local int tls_device = -1;      /* what thread_enter bound this thread to */

static int job_rank(k_comm_t *c, void *p, char *err, size_t errlen)
{
    job_t *j = p;
    int r = k_comm_rank(c);
    j->who[r] = pthread_self();
    j->dev_seen[r] = tls_device;
    if (r == j->fail_rank) { snprintf(err, errlen, "injected failure"); return -1; }
    for (size_t i = 0; i < j->n; i++) j->buf[r][i] = (float)(r + 1) * (float)i;
    size_t n = r == j->bad_count_rank ? j->n / 2 : j->n;
    j->rcs[r] = k_comm_all_reduce_sum(c, j->buf[r], n);
    if (j->rcs[r]) { snprintf(err, errlen, "all-reduce failed"); return -1; }
    return 0;
}

static void job_init(job_t *j, int size, size_t n)
{
    memset(j, 0, sizeof *j);
    j->n = n;
    j->fail_rank = j->bad_count_rank = -1;
    for (int r = 0; r < size; r++) j->buf[r] = calloc(n, sizeof(float));
}

static void job_free(job_t *j, int size) { for (int r = 0; r < size; r++) free(j->buf[r]); }

/* Every rank holds sum_r (r+1)*i = size(size+1)/2 * i. */
static int job_sums_ok(const job_t *j, int size)
{
    float mult = (float)size * (float)(size + 1) / 2.0f;
    for (int r = 0; r < size; r++)
        for (size_t i = 0; i < j->n; i++)
            if (j->buf[r][i] != mult * (float)i) return 0;
    return 1;
}

/* ---- test backends: the threads backend with counters and injected failures ---- */

static atomic_int enters, leaves, groups_made;
static int fail_enter_device = -1;      /* thread_enter fails for this device */
static int fail_group_new = 0;          /* group_new fails while set */

static k_comm_t *t_group_new(int size, const int *devices, char *err, size_t errlen)
{
    if (fail_group_new) { snprintf(err, errlen, "injected group failure"); return NULL; }
    atomic_fetch_add(&groups_made, 1);
    return k_comm_threads_backend()->group_new(size, devices, err, errlen);
}

static int t_enter(int device, char *err, size_t errlen)
{
    if (device == fail_enter_device) { snprintf(err, errlen, "device %d is broken", device); return -1; }
    atomic_fetch_add(&enters, 1);
    tls_device = device;
    return 0;
}

static void t_leave(void) { atomic_fetch_add(&leaves, 1); tls_device = -1; }

static const k_comm_backend_t T_BACKEND = {
    .name = "test", .group_new = t_group_new, .group_destroy = k_comm_threads_group_destroy,
    .thread_enter = t_enter, .thread_leave = t_leave,
};

static void reset_counters(void)
{
    atomic_store(&enters, 0);
    atomic_store(&leaves, 0);
    atomic_store(&groups_made, 0);
    fail_enter_device = -1;
    fail_group_new = 0;
}

/* ---- cases ---- */

/* 40 runs per size: right sums every time, rank 0 on the caller, ranks 1.. on the same threads. */
static void test_reuse(void)
{
    int sizes[] = { 1, 2, 3, 4, 7 };
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int size = sizes[s];
        char err[256] = "";
        k_comm_pool_t *p = k_comm_pool_new(k_comm_threads_backend(), size, NULL, err, sizeof err);
        CHECKF(p != NULL, "size %d: %s", size, err);
        if (!p) continue;
        CHECK_EQ_INT(k_comm_pool_size(p), size);
        job_t j;
        job_init(&j, size, 1001);
        pthread_t first[MAXR];
        int ok = 1, same = 1;
        for (int run = 0; run < 40; run++) {
            ok &= k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0 && job_sums_ok(&j, size);
            for (int r = 0; r < size; r++) {
                if (run == 0) first[r] = j.who[r];
                else same &= pthread_equal(first[r], j.who[r]) != 0;
            }
        }
        CHECKF(ok, "size %d: %s", size, err);
        CHECKF(same, "size %d: a rank moved to another thread between runs", size);
        CHECK(pthread_equal(first[0], pthread_self()));
        for (int r = 1; r < size; r++) CHECK(!pthread_equal(first[r], pthread_self()));
        CHECK_EQ_INT(k_comm_pool_runs(p), 40);
        CHECK_EQ_INT(k_comm_pool_groups(p), 1);
        job_free(&j, size);
        k_comm_pool_destroy(&p);
        CHECK(p == NULL);
    }
}

/* A failing rank: named in the error, the others' collectives fail, the next run works on a new group. */
static void test_failure_then_recovery(void)
{
    char err[256] = "";
    k_comm_pool_t *p = k_comm_pool_new(k_comm_threads_backend(), 4, NULL, err, sizeof err);
    CHECKF(p != NULL, "%s", err);
    if (!p) return;
    job_t j;
    job_init(&j, 4, 333);
    j.fail_rank = 2;
    CHECK(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == -1);
    CHECKF(strstr(err, "rank 2: injected failure") != NULL, "err = %s", err);
    CHECK(j.rcs[0] == -1 && j.rcs[1] == -1 && j.rcs[3] == -1);
    CHECK_EQ_INT(k_comm_pool_groups(p), 2);
    j.fail_rank = -1;
    memset(j.rcs, 0, sizeof j.rcs);
    CHECKF(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0, "%s", err);
    CHECK(job_sums_ok(&j, 4));
    j.bad_count_rank = 1;                               /* disagreement: every rank fails, none reads */
    CHECK(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == -1);
    CHECK(j.rcs[0] == -1 && j.rcs[1] == -1 && j.rcs[2] == -1 && j.rcs[3] == -1);
    CHECKF(strncmp(err, "rank ", 5) == 0, "err = %s", err);
    j.bad_count_rank = -1;
    CHECKF(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0, "%s", err);
    CHECK(job_sums_ok(&j, 4));
    CHECK_EQ_INT(k_comm_pool_runs(p), 4);
    CHECK_EQ_INT(k_comm_pool_groups(p), 3);
    job_free(&j, 4);
    k_comm_pool_destroy(&p);
}

/* Devices: rank r enters devices[r] once on its own thread; rank 0 enters on the caller each run;
 * every pool thread leaves when the pool ends. */
static void test_devices_enter_leave(void)
{
    reset_counters();
    int devs[3] = { 5, 7, 9 };
    char err[256] = "";
    k_comm_pool_t *p = k_comm_pool_new(&T_BACKEND, 3, devs, err, sizeof err);
    CHECKF(p != NULL, "%s", err);
    if (!p) return;
    CHECK_EQ_INT(atomic_load(&enters), 2);              /* ranks 1 and 2, at start-up */
    job_t j;
    job_init(&j, 3, 64);
    for (int run = 0; run < 5; run++) CHECKF(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0, "%s", err);
    CHECK(j.dev_seen[0] == 5 && j.dev_seen[1] == 7 && j.dev_seen[2] == 9);
    CHECK_EQ_INT(atomic_load(&enters), 2 + 5);          /* + rank 0 on the caller, once per run */
    CHECK_EQ_INT(atomic_load(&leaves), 0);
    k_comm_pool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&leaves), 2);
    CHECK_EQ_INT(atomic_load(&groups_made), 1);
    job_free(&j, 3);
    tls_device = -1;
}

/* A thread that cannot enter its device: no pool, the error names rank and device, nothing left running. */
static void test_enter_failure(void)
{
    reset_counters();
    fail_enter_device = 2;
    char err[256] = "";
    k_comm_pool_t *p = k_comm_pool_new(&T_BACKEND, 4, NULL, err, sizeof err);
    CHECK(p == NULL);
    CHECKF(strstr(err, "rank 2 (device 2): device 2 is broken") != NULL, "err = %s", err);
    CHECK_EQ_INT(atomic_load(&leaves), atomic_load(&enters));   /* every entered thread left again */
    fail_enter_device = 0;                              /* rank 0 fails on the caller at run time */
    p = k_comm_pool_new(&T_BACKEND, 2, NULL, err, sizeof err);
    CHECKF(p != NULL, "%s", err);
    job_t j;
    job_init(&j, 2, 16);
    CHECK(p && k_comm_pool_run(p, job_rank, &j, err, sizeof err) == -1);
    CHECKF(strstr(err, "rank 0: device 0 is broken") != NULL, "err = %s", err);
    CHECK(j.rcs[1] == -1);                              /* rank 1 left its collective */
    fail_enter_device = -1;
    CHECKF(p && k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0, "%s", err);
    CHECK(job_sums_ok(&j, 2));
    job_free(&j, 2);
    k_comm_pool_destroy(&p);
    reset_counters();
    tls_device = -1;
}

/* The group cannot be rebuilt after a failure: runs say why until the backend recovers. */
static void test_group_rebuild_failure(void)
{
    reset_counters();
    char err[256] = "";
    fail_group_new = 1;
    CHECK(k_comm_pool_new(&T_BACKEND, 2, NULL, err, sizeof err) == NULL);
    CHECKF(strstr(err, "injected group failure") != NULL, "err = %s", err);
    fail_group_new = 0;
    k_comm_pool_t *p = k_comm_pool_new(&T_BACKEND, 3, NULL, err, sizeof err);
    CHECKF(p != NULL, "%s", err);
    if (!p) return;
    job_t j;
    job_init(&j, 3, 32);
    j.fail_rank = 1;
    fail_group_new = 1;
    CHECK(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == -1);
    CHECKF(strstr(err, "rank 1: injected failure") != NULL, "err = %s", err);
    j.fail_rank = -1;
    CHECK(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == -1);
    CHECKF(strstr(err, "no communicator group: injected group failure") != NULL, "err = %s", err);
    fail_group_new = 0;
    CHECKF(k_comm_pool_run(p, job_rank, &j, err, sizeof err) == 0, "%s", err);
    CHECK(job_sums_ok(&j, 3));
    CHECK_EQ_INT(k_comm_pool_groups(p), 2);
    job_free(&j, 3);
    k_comm_pool_destroy(&p);
    reset_counters();
    tls_device = -1;
}

static void test_bad_args(void)
{
    char err[256] = "";
    CHECK(k_comm_pool_new(k_comm_threads_backend(), 0, NULL, err, sizeof err) == NULL && strstr(err, "0 ranks"));
    CHECK(k_comm_pool_new(k_comm_threads_backend(), 65, NULL, err, sizeof err) == NULL && strstr(err, "65 ranks"));
    CHECK(k_comm_pool_new(NULL, 2, NULL, err, sizeof err) == NULL && strstr(err, "no backend"));
    k_comm_pool_t *p = k_comm_pool_new(k_comm_threads_backend(), 2, NULL, err, sizeof err);
    CHECK(p && k_comm_pool_run(p, NULL, NULL, err, sizeof err) == -1 && strstr(err, "NULL rank function"));
    CHECK(k_comm_pool_run(NULL, job_rank, NULL, err, sizeof err) == -1 && strstr(err, "NULL pool"));
    k_comm_pool_destroy(&p);
    k_comm_pool_destroy(&p);                            /* NULL: no-op */
    CHECK(k_comm_pool_size(NULL) == 0);
}

int main(void)
{
    T_RUN(test_reuse);
    T_RUN(test_failure_then_recovery);
    T_RUN(test_devices_enter_leave);
    T_RUN(test_enter_failure);
    T_RUN(test_group_rebuild_failure);
    T_RUN(test_bad_args);
    T_DONE();
}
