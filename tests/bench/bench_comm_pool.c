/* bench_comm_pool.c — what a tensor-parallel run costs before any model work: a one-shot run
 * (k_comm_threads_run: threads started, group built, torn down) against a persistent k_comm_pool run
 * (threads and group kept), for a rank function that does one small all-reduce (the DiT forward does
 * two per block, on its activations). CPU-threads backend; on NCCL the one-shot also pays
 * ncclCommInitAll and one k_cuda context (stream, cuBLASLt handle, workspace) per rank per run.
 *
 *   bench_comm_pool [--runs N] [--n FLOATS]     prints µs per run for TP 2, 4, 8, both ways
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/k_comm_pool.h"

typedef struct { size_t n; float *buf[8]; } arg_t;

static int rank_fn(k_comm_t *c, void *p, char *err, size_t errlen)
{
    arg_t *a = p;
    float *b = a->buf[k_comm_rank(c)];
    for (size_t i = 0; i < a->n; i++) b[i] = 1.0f;
    if (k_comm_all_reduce_sum(c, b, a->n)) { snprintf(err, errlen, "all-reduce"); return -1; }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int runs = 2000;
    size_t n = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = (size_t)atol(argv[i + 1]);
        else { fprintf(stderr, "usage: bench_comm_pool [--runs N] [--n FLOATS]\n"); return 2; }
    }
    if (runs < 1 || n < 1) { fprintf(stderr, "bench_comm_pool: --runs and --n must be >= 1\n"); return 2; }
    arg_t a = { .n = n };
    for (int r = 0; r < 8; r++) if (!(a.buf[r] = calloc(n, sizeof(float)))) return 1;
    char err[256] = "";
    printf("runs %d, all-reduce of %zu floats per run\n%-4s %14s %14s %8s\n", runs, n, "tp", "one-shot µs", "pool µs",
           "ratio");
    for (int tp = 2; tp <= 8; tp *= 2) {
        double t0 = now();
        for (int i = 0; i < runs; i++)
            if (k_comm_threads_run(tp, rank_fn, &a, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        double once = (now() - t0) / runs * 1e6;
        k_comm_pool_t *p = k_comm_pool_new(k_comm_threads_backend(), tp, NULL, err, sizeof err);
        if (!p) { fprintf(stderr, "%s\n", err); return 1; }
        t0 = now();
        for (int i = 0; i < runs; i++)
            if (k_comm_pool_run(p, rank_fn, &a, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        double pooled = (now() - t0) / runs * 1e6;
        k_comm_pool_destroy(&p);
        if (a.buf[0][0] != (float)tp) { fprintf(stderr, "bench_comm_pool: wrong sum %g\n", a.buf[0][0]); return 1; }
        printf("%-4d %14.1f %14.1f %8.2f\n", tp, once, pooled, once / pooled);
    }
    for (int r = 0; r < 8; r++) free(a.buf[r]);
    return 0;
}
