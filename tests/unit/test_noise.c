/* test_noise.c — Philox4x32-10 known answers (Random123 kat_vectors), determinism of the
 * (seed, window, step, element) noise under any range split and thread count, and its moments. */
#include <omp.h>
#include <stdint.h>

#include "tests/test.h"
#include "worker/model/noise.h"

static void test_kat(void)
{
    static const uint32_t kat[3][10] = {   /* counter[4], key[2], expected[4] */
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        wrk_philox4x32_10(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++) CHECKF(out[j] == kat[i][6 + j], "kat %d word %d: %08x", i, j, out[j]);
    }
}

static void test_determinism(void)
{
    enum { N = 40003 };
    static float a[N], b[N], c[N];
    wrk_noise_normal(42, 3, 7, 0, N, a);
    /* the same elements generated in odd pieces, in reverse order */
    int64_t cuts[] = {0, 1, 6, 999, 1000, 20001, 39999, N};
    for (int k = 6; k >= 0; k--) wrk_noise_normal(42, 3, 7, (uint64_t)cuts[k], cuts[k + 1] - cuts[k], b + cuts[k]);
    CHECK(memcmp(a, b, sizeof a) == 0);
    omp_set_num_threads(1);
    wrk_noise_normal(42, 3, 7, 0, N, c);
    omp_set_num_threads(2);
    CHECK(memcmp(a, c, sizeof a) == 0);
    /* each key component changes the stream */
    wrk_noise_normal(43, 3, 7, 0, N, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    wrk_noise_normal(42, 4, 7, 0, N, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    wrk_noise_normal(42, 3, WRK_NOISE_STEP_INIT, 0, N, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    wrk_noise_normal(1ull << 40, 3, 7, 0, N, b);   /* high seed bits matter */
    wrk_noise_normal(0, 3, 7, 0, N, c);
    CHECK(memcmp(b, c, sizeof b) != 0);
    /* far elements (block index above 2^32) are valid and distinct */
    wrk_noise_normal(42, 3, 7, (1ull << 34) + 2, 8, b);
    int finite = 1;
    for (int i = 0; i < 8; i++) finite &= isfinite(b[i]);
    CHECK(finite && memcmp(a, b, 8 * sizeof *a) != 0);
}

static void test_moments(void)
{
    enum { N = 1 << 21 };
    float *z = malloc(N * sizeof *z);
    wrk_noise_normal(12345, 0, 0, 0, N, z);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, in1 = 0, mx = 0;
    for (int i = 0; i < N; i++) {
        double v = z[i];
        s1 += v; s2 += v * v; s3 += v * v * v; s4 += v * v * v * v;
        in1 += fabs(v) < 1.0;
        if (fabs(v) > mx) mx = fabs(v);
    }
    double m = s1 / N, var = s2 / N - m * m, skew = s3 / N, kurt = s4 / N;
    CHECKF(fabs(m) < 0.004, "mean %g", m);
    CHECKF(fabs(var - 1) < 0.004, "var %g", var);
    CHECKF(fabs(skew) < 0.01, "skew %g", skew);
    CHECKF(fabs(kurt - 3) < 0.03, "kurtosis %g", kurt);
    CHECKF(fabs(in1 / N - 0.682689) < 0.002, "P(|z|<1) %g", in1 / N);
    CHECKF(mx > 4.0 && mx < 7.0, "max |z| %g", mx);
    /* neighbouring elements are uncorrelated */
    double c = 0;
    for (int i = 0; i + 1 < N; i++) c += (double)z[i] * z[i + 1];
    CHECKF(fabs(c / N) < 0.004, "lag-1 correlation %g", c / N);
    free(z);
}

static void test_initial(void)
{
    enum { F = 2, C = 3, H = 4, W = 5, N = F * C * H * W };
    float a[2 * N], b[N];
    wrk_noise_initial(9, 1, 1, F, C, H, W, a);
    wrk_noise_normal(9, 1, WRK_NOISE_STEP_INIT, 0, N, b);
    CHECK(memcmp(a, b, sizeof b) == 0 && memcmp(a + N, a, sizeof b) == 0);
    wrk_noise_initial(9, 1, 0, F, C, H, W, b);
    CHECK(memcmp(a, b, sizeof b) == 0);
}

int main(void)
{
    T_RUN(test_kat);
    T_RUN(test_determinism);
    T_RUN(test_moments);
    T_RUN(test_initial);
    T_DONE();
}
