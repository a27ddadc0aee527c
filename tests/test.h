/* test.h — the smallest possible unit-test harness shared by tests/unit/test_*.c.
 *
 * Each test program is its own binary: it runs its cases, prints one line per failed check with
 * file:line, prints "<prog>: N passed, N failed" and exits non-zero if anything failed.
 * Never exit 0 after a failure (the bug karpathy/llm.c test_gpt2.c shows).
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass_, t_fail_;

#define CHECK(cond) do { if (cond) t_pass_++; else { t_fail_++; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { if (cond) t_pass_++; else { t_fail_++; \
    fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    CHECKF(a_ == b_, "%lld != %lld", a_, b_); } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    CHECKF(a_ && b_ && strcmp(a_, b_) == 0, "\"%s\" != \"%s\"", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

/* Compare float arrays with |a-b| <= atol + rtol*|b|; prints the first mismatches and max error. */
static inline int t_allclose(const char *what, const float *a, const float *b, long n,
                             double atol, double rtol)
{
    long bad = 0; double maxerr = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > maxerr || d != d) maxerr = d;
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            if (bad < 5) fprintf(stderr, "  %s[%ld]: got %.8g want %.8g\n", what, i, a[i], b[i]);
            bad++;
        }
    }
    if (bad) fprintf(stderr, "  %s: %ld/%ld mismatches, max abs err %.3g\n", what, bad, n, maxerr);
    return bad == 0;
}

#define T_RUN(fn) do { fprintf(stderr, "-- %s\n", #fn); fn(); } while (0)
#define T_DONE() do { printf("%s: %d passed, %d failed\n", __FILE__, t_pass_, t_fail_); \
    return t_fail_ ? 1 : 0; } while (0)

#endif
