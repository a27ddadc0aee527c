/* test_dit_tp.c — tensor-parallel sharding: shard ranges cover heads / FFN exactly once, and the
 * LoRA split math of tp.h holds (q/k/v: A replicated, B split by rows; to_out: A split by columns,
 * B replicated, partial deltas summed by the all-reduce), checked with plain loops in double.
 */
#include "tests/test.h"
#include "worker/model/tp.h"

#include <stdint.h>

static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / (double)(1ull << 53) - 0.5;
}

static void test_ranges(void)
{
    int heads = 7, hd = 4, ff = 30;
    char err[256];
    wrk_tp_shard_t s;
    CHECK(wrk_tp_shard(8, 0, heads, hd, ff, &s, err, sizeof err) == -1);
    CHECK(strstr(err, "degree 8") != NULL);
    CHECK(wrk_tp_shard(2, 2, heads, hd, ff, &s, err, sizeof err) == -1);
    for (int tp = 1; tp <= heads; tp++) {
        int next_h = 0, next_f = 0;
        for (int r = 0; r < tp; r++) {
            CHECK(wrk_tp_shard(tp, r, heads, hd, ff, &s, err, sizeof err) == 0);
            CHECK(s.h0 == next_h && s.h1 > s.h0 && s.f0 == next_f && s.f1 > s.f0);
            int lo, hi;
            wrk_tp_range(&s, WRK_TP_COLS_HEADS, heads * hd, &lo, &hi);
            CHECK(lo == s.h0 * hd && hi == s.h1 * hd);
            wrk_tp_range(&s, WRK_TP_REPL, 99, &lo, &hi);
            CHECK(lo == 0 && hi == 99);
            next_h = s.h1;
            next_f = s.f1;
        }
        CHECK(next_h == heads && next_f == ff);
    }
}

enum { D = 12, R = 3, M = 5, HEADS = 3, HD = 4 };

/* y (M, D) = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ over input columns [c0, c1) and output rows [o0, o1). */
static void lora_linear(double *y, const double *x, const double *W, const double *A, const double *B,
                        double scale, int c0, int c1, int o0, int o1)
{
    for (int m = 0; m < M; m++) {
        double ax[R] = { 0 };
        for (int j = 0; j < R; j++)
            for (int c = c0; c < c1; c++) ax[j] += A[j * D + c] * x[m * D + c];
        for (int o = o0; o < o1; o++) {
            double s = 0;
            for (int c = c0; c < c1; c++) s += W[o * D + c] * x[m * D + c];
            for (int j = 0; j < R; j++) s += scale * B[o * R + j] * ax[j];
            y[m * D + o] = s;
        }
    }
}

static void test_lora_split(void)
{
    uint64_t seed = 7;
    double x[M * D], W[D * D], A[R * D], B[D * R], full[M * D], got[M * D], part[M * D];
    for (int i = 0; i < M * D; i++) x[i] = rnd(&seed);
    for (int i = 0; i < D * D; i++) W[i] = rnd(&seed);
    for (int i = 0; i < R * D; i++) A[i] = rnd(&seed), B[i] = rnd(&seed);
    lora_linear(full, x, W, A, B, 0.125, 0, D, 0, D);
    char err[128];
    for (int tp = 1; tp <= HEADS; tp++) {
        memset(got, 0, sizeof got);
        double out_sum[M * D] = { 0 };
        for (int r = 0; r < tp; r++) {
            wrk_tp_shard_t s;
            int lo, hi;
            CHECK(wrk_tp_shard(tp, r, HEADS, HD, 8, &s, err, sizeof err) == 0);
            wrk_tp_range(&s, WRK_TP_ROWS_HEADS, D, &lo, &hi);      /* q/k/v: my output rows */
            lora_linear(got, x, W, A, B, 0.125, 0, D, lo, hi);
            wrk_tp_range(&s, WRK_TP_COLS_HEADS, D, &lo, &hi);      /* to_out: my input columns */
            lora_linear(part, x, W, A, B, 0.125, lo, hi, 0, D);
            for (int i = 0; i < M * D; i++) out_sum[i] += part[i]; /* the all-reduce */
        }
        double e1 = 0, e2 = 0;
        for (int i = 0; i < M * D; i++) {
            e1 = fmax(e1, fabs(got[i] - full[i]));
            e2 = fmax(e2, fabs(out_sum[i] - full[i]));
        }
        CHECKF(e1 < 1e-12, "tp %d column-parallel LoRA err %g", tp, e1);
        CHECKF(e2 < 1e-12, "tp %d row-parallel LoRA err %g", tp, e2);
    }
}

int main(void)
{
    T_RUN(test_ranges);
    T_RUN(test_lora_split);
    T_DONE();
}
