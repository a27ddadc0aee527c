/* bench_t5.c — T5 encoder on the CPU (worker/model/t5.h): time of one batch encode, best of N, for
 * resident and streamed weights, and peak RSS; with the transformers reference's output present,
 * the max error relative to its largest magnitude.
 *
 *   bench_t5 DIR [REPS] [THREADS]
 * DIR holds text_encoder/ (any config), bench_ids.safetensors (`ids` (B, L) int64) and optionally
 * bench_out.safetensors (`out` (B, L, d_model), the reference's output). Written by
 * `tests/reference/gen_t5.py --bench DIR`; tests/bench/bench_t5_vs_ref.sh runs both sides.
 * Prints one line per mode; the cache is off so every repetition computes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kernels/k.h"
#include "worker/model/safetensors.h"
#include "worker/model/t5.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int read_ids(const char *dir, int32_t **ids, int *B, int *L)
{
    char path[1024], err[256];
    wrk_st_t *st = NULL;
    snprintf(path, sizeof path, "%s/bench_ids.safetensors", dir);
    if (wrk_st_open(path, &st, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    const wrk_st_tensor_t *t = wrk_st_find(st, "ids");
    int64_t *tmp = t && t->ndim == 2 ? malloc((size_t)t->numel * sizeof *tmp) : NULL;
    int rc = -1;
    if (tmp && !wrk_st_read_i64(st, "ids", 2, t->shape, tmp, t->numel, err, sizeof err) &&
        (*ids = malloc((size_t)t->numel * sizeof **ids))) {
        for (int64_t i = 0; i < t->numel; i++) (*ids)[i] = (int32_t)tmp[i];
        *B = (int)t->shape[0];
        *L = (int)t->shape[1];
        rc = 0;
    } else {
        fprintf(stderr, "%s: no readable (B, L) tensor `ids`\n", path);
    }
    free(tmp);
    wrk_st_close(&st);
    return rc;
}

/* max |out − ref| / max |ref| against DIR/bench_out.safetensors, or -1 when absent. */
static double ref_error(const char *dir, const float *out, long n)
{
    char path[1024], err[256];
    wrk_st_t *st = NULL;
    double e = 0, m = 0;
    snprintf(path, sizeof path, "%s/bench_out.safetensors", dir);
    if (wrk_st_open(path, &st, err, sizeof err)) return -1;
    float *ref = malloc((size_t)n * sizeof *ref);
    if (!ref || wrk_st_read_f32(st, "out", 0, NULL, ref, n, err, sizeof err)) {
        free(ref);
        wrk_st_close(&st);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        e = fmax(e, fabs((double)out[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    free(ref);
    wrk_st_close(&st);
    return m > 0 ? e / m : e;
}

static int bench_mode(const char *dir, int stream, const int32_t *ids, int B, int L, int reps)
{
    wrk_t5_opts_t o = { .stream_weights = stream, .cache_entries = -1 };
    wrk_t5_t *t5 = NULL;
    char err[512], line[256];
    double t0 = now_ms(), tl, best = INFINITY;
    struct rusage ru;
    if (wrk_t5_load(dir, &o, &t5, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    tl = now_ms() - t0;
    long n = (long)B * L * wrk_t5_config(t5)->d_model;
    float *out = malloc((size_t)n * sizeof *out);
    for (int r = 0; out && r < reps; r++) {
        t0 = now_ms();
        if (wrk_t5_encode(t5, ids, B, L, out, err, sizeof err)) { fprintf(stderr, "%s\n", err); break; }
        best = fmin(best, now_ms() - t0);
    }
    getrusage(RUSAGE_SELF, &ru);
    wrk_t5_str(t5, line, sizeof line);
    double rel = out ? ref_error(dir, out, n) : -1;
    printf("%s\n  B=%d L=%d threads=%d: load %.0f ms, encode best of %d %.1f ms, peak RSS %.0f MiB, "
           "vs reference %s%.2e\n", line, B, L, k_threads(), tl, reps, best, ru.ru_maxrss / 1024.0,
           rel < 0 ? "(none) " : "", rel < 0 ? 0 : rel);
    free(out);
    wrk_t5_destroy(&t5);
    return isfinite(best) ? 0 : -1;
}

int main(int argc, char **argv)
{
    int32_t *ids = NULL;
    int B = 0, L = 0, reps = argc > 2 ? atoi(argv[2]) : 3;
    if (argc < 2 || reps < 1) { fprintf(stderr, "usage: bench_t5 DIR [REPS] [THREADS]\n"); return 2; }
    if (argc > 3) k_set_threads(atoi(argv[3]));
    if (read_ids(argv[1], &ids, &B, &L)) return 1;
    /* streamed first: peak RSS is a process-wide maximum */
    int rc = bench_mode(argv[1], 1, ids, B, L, reps) || bench_mode(argv[1], 0, ids, B, L, reps);
    free(ids);
    return rc;
}
