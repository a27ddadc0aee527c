/* test_comm_threads.c — the CPU-threads communicator: all-reduce, broadcast, barrier, abort, errors. */
#include "tests/test.h"
#include "kernels/k_comm.h"

#include <pthread.h>
#include <stdint.h>

#define MAXR 8

/* Value rank r contributes at index i: irregular magnitudes so the summation order matters. */
static float contrib(int r, size_t i)
{
    uint32_t h = (uint32_t)(r * 2654435761u) ^ (uint32_t)(i * 40503u + 17u);
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    float m = (float)(h % 100000) / 1000.0f - 50.0f;
    return (h & 1) ? m * 1e-3f : m * 1e3f;
}

typedef struct {
    size_t n;
    int iters;
    float *out[MAXR];              /* each rank's result, kept for comparison */
    int fail_rank;                 /* rank that fails before its first collective, -1 none */
    int bad_count_rank;            /* rank that passes a different count, -1 none */
    int rcs[MAXR];                 /* what each rank's collective returned */
} ar_arg_t;

static int ar_rank(k_comm_t *c, void *p, char *err, size_t errlen)
{
    ar_arg_t *a = p;
    int r = k_comm_rank(c);
    float *buf = a->out[r];
    if (r == a->fail_rank) { snprintf(err, errlen, "injected failure"); return -1; }
    for (int it = 0; it < a->iters; it++) {
        for (size_t i = 0; i < a->n; i++) buf[i] = contrib(r, i);
        size_t n = r == a->bad_count_rank ? a->n / 2 : a->n;
        a->rcs[r] = k_comm_all_reduce_sum(c, buf, n);
        if (a->rcs[r] != 0) { snprintf(err, errlen, "all-reduce aborted"); return -1; }
    }
    return 0;
}

static void check_all_reduce(int size, size_t n)
{
    ar_arg_t a = { .n = n, .iters = 3, .fail_rank = -1, .bad_count_rank = -1 };
    for (int r = 0; r < size; r++) a.out[r] = calloc(n ? n : 1, sizeof(float));
    char err[256] = "";
    int rc = k_comm_threads_run(size, ar_rank, &a, err, sizeof err);
    CHECKF(rc == 0, "size %d n %zu: %s", size, n, err);
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = contrib(0, i);                     /* rank order, as the interface promises */
        for (int r = 1; r < size; r++) want += contrib(r, i);
        for (int r = 0; r < size; r++)
            if (memcmp(&a.out[r][i], &want, sizeof want) != 0) bad++;
    }
    CHECKF(bad == 0, "size %d n %zu: %ld elements differ from the rank-order sum", size, n, bad);
    for (int r = 0; r < size; r++) free(a.out[r]);
}

static void test_all_reduce(void)
{
    int sizes[] = { 1, 2, 3, 4, 7 };
    size_t ns[] = { 0, 1, 5, 1000, 100003 };
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) check_all_reduce(sizes[s], ns[k]);
}

typedef struct { float *buf[MAXR]; size_t n; int root; } bc_arg_t;

static int bc_rank(k_comm_t *c, void *p, char *err, size_t errlen)
{
    bc_arg_t *a = p;
    int r = k_comm_rank(c);
    for (size_t i = 0; i < a->n; i++) a->buf[r][i] = contrib(r, i);
    if (k_comm_broadcast(c, a->buf[r], a->n, a->root) != 0) { snprintf(err, errlen, "bcast"); return -1; }
    return k_comm_barrier(c) == 0 ? 0 : -1;
}

static void test_broadcast(void)
{
    for (int root = 0; root < 3; root++) {
        bc_arg_t a = { .n = 777, .root = root };
        for (int r = 0; r < 3; r++) a.buf[r] = calloc(a.n, sizeof(float));
        char err[256] = "";
        CHECKF(k_comm_threads_run(3, bc_rank, &a, err, sizeof err) == 0, "%s", err);
        long bad = 0;
        for (int r = 0; r < 3; r++)
            for (size_t i = 0; i < a.n; i++) bad += a.buf[r][i] != contrib(root, i);
        CHECKF(bad == 0, "root %d: %ld wrong", root, bad);
        for (int r = 0; r < 3; r++) free(a.buf[r]);
    }
}

/* A rank failing before the collective: the others must leave theirs with -1 and the error names it. */
static void test_abort(void)
{
    ar_arg_t a = { .n = 100, .iters = 2, .fail_rank = 2, .bad_count_rank = -1 };
    for (int r = 0; r < 4; r++) a.out[r] = calloc(a.n, sizeof(float));
    char err[256] = "";
    int rc = k_comm_threads_run(4, ar_rank, &a, err, sizeof err);
    CHECK(rc == -1);
    CHECKF(strstr(err, "rank 2: injected failure") != NULL, "err = %s", err);
    CHECK(a.rcs[0] == -1 && a.rcs[1] == -1 && a.rcs[3] == -1);
    for (int r = 0; r < 4; r++) free(a.out[r]);
}

/* Ranks passing different counts: every rank's collective fails instead of reading out of bounds. */
static void test_count_mismatch(void)
{
    ar_arg_t a = { .n = 64, .iters = 1, .fail_rank = -1, .bad_count_rank = 1 };
    for (int r = 0; r < 3; r++) a.out[r] = calloc(a.n, sizeof(float));
    char err[256] = "";
    CHECK(k_comm_threads_run(3, ar_rank, &a, err, sizeof err) == -1);
    CHECK(a.rcs[0] == -1 && a.rcs[1] == -1 && a.rcs[2] == -1);
    CHECKF(strstr(err, "rank ") != NULL, "err = %s", err);
    for (int r = 0; r < 3; r++) free(a.out[r]);
}

static void test_bad_size(void)
{
    char err[256] = "";
    CHECK(k_comm_threads_group_new(0, err, sizeof err) == NULL);
    CHECK(strstr(err, "group size 0") != NULL);
    CHECK(k_comm_threads_group_new(65, err, sizeof err) == NULL);
    k_comm_t *g = k_comm_threads_group_new(1, err, sizeof err);
    CHECK(g != NULL);
    float x = 3.0f;
    CHECK(k_comm_all_reduce_sum(&g[0], &x, 1) == 0 && x == 3.0f);
    CHECK(k_comm_all_reduce_sum(NULL, &x, 1) == 0 && x == 3.0f);   /* NULL comm: single rank */
    CHECK(k_comm_size(NULL) == 1 && k_comm_rank(NULL) == 0);
    k_comm_threads_group_destroy(&g);
    CHECK(g == NULL);
}

int main(void)
{
    T_RUN(test_all_reduce);
    T_RUN(test_broadcast);
    T_RUN(test_abort);
    T_RUN(test_count_mismatch);
    T_RUN(test_bad_size);
    T_DONE();
}
