/* test_coord_windows.c — property test of shot -> windows: frames 1..500 over several (window,
 * overlap) settings: union exactly [0, F), every length 1+4k and <= window, sorted and strictly
 * advancing, neighbour overlap >= requested (capped for short shots) and < requested + 4 except where
 * documented, deterministic; invalid arguments refused. */
#include "tests/test.h"
#include "coordinator/windows.h"

static int check_one(int F, int W, int O)
{
    store_span_t *w = NULL, *w2 = NULL; int n = 0, n2 = 0; char err[200];
    if (coord_windows(F, W, O, &w, &n, err, sizeof err) != 0) { fprintf(stderr, "F=%d W=%d O=%d: %s\n", F, W, O, err); return 0; }
    int ok = n >= 1 && w[0].first == 0 && w[n - 1].first + w[n - 1].n == F;
    for (int i = 0; i < n && ok; i++) {
        ok = w[i].n >= 1 && (w[i].n - 1) % 4 == 0 && w[i].n <= W && w[i].first >= 0 && w[i].first + w[i].n <= F;
        if (i > 0 && ok) {
            int prev_end = w[i - 1].first + w[i - 1].n, ov = prev_end - w[i].first;
            ok = w[i].first > w[i - 1].first && prev_end < w[i].first + w[i].n && ov >= 0;   /* no gap */
            int lmax = W <= F ? W : 1 + 4 * ((F - 1) / 4);
            int want = lmax < W && O > (lmax - 1) / 2 ? (lmax - 1) / 2 : O;
            if (ok && i < n - 1) ok = ov == want;
            if (ok && i == n - 1) ok = ov >= want && ov <= want + 3 + (lmax < W ? 4 : 0);
        }
    }
    ok = ok && coord_windows(F, W, O, &w2, &n2, err, sizeof err) == 0 && n2 == n &&
         memcmp(w, w2, (size_t)n * sizeof *w) == 0;
    if (!ok) {
        fprintf(stderr, "F=%d W=%d O=%d:", F, W, O);
        for (int i = 0; i < n; i++) fprintf(stderr, " [%d,+%d)", w[i].first, w[i].n);
        fputc('\n', stderr);
    }
    free(w); free(w2);
    return ok;
}

static void test_sweep(void)
{
    static const int cfg[][2] = { {49, 8}, {49, 0}, {49, 48}, {49, 24}, {13, 4}, {5, 1}, {1, 0}, {17, 16}, {45, 9} };
    int bad = 0, runs = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++)
        for (int F = 1; F <= 500; F++, runs++) bad += !check_one(F, cfg[c][0], cfg[c][1]);
    CHECKF(bad == 0, "%d of %d cases broke a property", bad, runs);
}

static void test_examples(void)
{
    store_span_t *w; int n; char err[200];
    CHECK(coord_windows(49, 49, 8, &w, &n, err, sizeof err) == 0 && n == 1 && w[0].n == 49); free(w);
    CHECK(coord_windows(1, 49, 8, &w, &n, err, sizeof err) == 0 && n == 1 && w[0].n == 1); free(w);
    CHECK(coord_windows(300, 49, 8, &w, &n, err, sizeof err) == 0 && n == 8 && w[1].first == 41); free(w);
    CHECK(coord_windows(10, 48, 8, &w, &n, err, sizeof err) == -1);
    CHECK(coord_windows(10, 49, 49, &w, &n, err, sizeof err) == -1);
    CHECK(coord_windows(0, 49, 8, &w, &n, err, sizeof err) == -1);
    CHECK(coord_windows(10, 49, -1, &w, &n, err, sizeof err) == -1);
}

int main(void)
{
    T_RUN(test_sweep);
    T_RUN(test_examples);
    T_DONE();
}
