/* noise.c — Philox4x32-10 and Box–Muller normals (see noise.h for the exact mapping). */
#include "worker/model/noise.h"

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0], p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
}

void wrk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r) { k[0] += PHILOX_W0; k[1] += PHILOX_W1; }
        philox_round(c, k);
    }
    for (int i = 0; i < 4; i++) out[i] = c[i];
}

/* Four normals of block b. */
static void noise_block(const uint32_t key[2], uint32_t window, uint32_t step, uint64_t b, float z[4])
{
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), window, step}, x[4];
    wrk_philox4x32_10(ctr, key, x);
    for (int p = 0; p < 2; p++) {
        double ua = ((double)x[2 * p] + 0.5) * 0x1p-32, ub = (double)x[2 * p + 1] * 0x1p-32;
        double r = sqrt(-2.0 * log(ua)), th = 2.0 * M_PI * ub;
        z[2 * p] = (float)(r * cos(th));
        z[2 * p + 1] = (float)(r * sin(th));
    }
}

void wrk_noise_normal(uint64_t seed, uint32_t window, uint32_t step, uint64_t first, int64_t n, float *out)
{
    if (n <= 0) return;
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint64_t b0 = first / 4, b1 = (first + (uint64_t)n - 1) / 4;
    int64_t nb = (int64_t)(b1 - b0 + 1);
#pragma omp parallel for schedule(static) if (nb > 4096)
    for (int64_t j = 0; j < nb; j++) {
        float z[4];
        uint64_t b = b0 + (uint64_t)j;
        noise_block(key, window, step, b, z);
        for (int l = 0; l < 4; l++) {
            uint64_t e = 4 * b + (uint64_t)l;
            if (e >= first && e < first + (uint64_t)n) out[e - first] = z[l];
        }
    }
}

void wrk_noise_initial(uint64_t seed, uint32_t window, int rgba, int F, int C, int H, int W, float *out)
{
    int64_t n = (int64_t)F * C * H * W;   /* (F, C, H, W) */
    wrk_noise_normal(seed, window, WRK_NOISE_STEP_INIT, 0, n, out);
    if (rgba) memcpy(out + n, out, (size_t)n * sizeof *out);   /* alpha frames = RGB noise */
}
