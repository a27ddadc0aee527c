/* noise.h — counter-based Gaussian noise: Philox4x32-10 (Salmon et al., SC'11; Random123) keyed by
 * the shot seed, with the counter holding (element block, window, step), mapped to standard normals
 * by Box–Muller. Element i of a tensor always gets the same value for the same (seed, window, step),
 * whatever range is generated and however the work is split across threads, so any window re-renders
 * bit-identically and in any order.
 *
 * Mapping (fixed; changing it changes every render):
 *   key     = { seed & 0xffffffff, seed >> 32 }
 *   counter = { block & 0xffffffff, block >> 32, window, step },  block = i / 4
 *   the 4 output words (x0, x1, x2, x3) of a block give elements 4b..4b+3:
 *     u_a = (x0 + 0.5) / 2^32 in (0,1),  u_b = x1 / 2^32 in [0,1)
 *     z0 = sqrt(-2 ln u_a) cos(2π u_b),  z1 = sqrt(-2 ln u_a) sin(2π u_b)      (double, then float)
 *     z2, z3 likewise from (x2, x3).
 *   step = WRK_NOISE_STEP_INIT for a window's initial latent noise; sampler step i uses step = i.
 *
 * Not here: PyTorch's mt19937 stream (bit-exact seed parity with the reference is not a goal).
 */
#ifndef WORKER_MODEL_NOISE_H
#define WORKER_MODEL_NOISE_H
#include <stdint.h>

#define WRK_NOISE_STEP_INIT 0xffffffffu

/* One Philox4x32 block with 10 rounds. */
void wrk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Standard normals for elements [first, first + n) of the stream (seed, window, step).
 * Uses OpenMP threads for large n; results do not depend on the thread count. */
void wrk_noise_normal(uint64_t seed, uint32_t window, uint32_t step, uint64_t first, int64_t n, float *out);

/* The initial latent of a TransPixar window (MODEL.md §2.1): RGB noise (F, C, H, W) from the
 * stream (seed, window, WRK_NOISE_STEP_INIT), and with rgba set the alpha half as an exact copy,
 * so out is (2F, C, H, W) then; else (F, C, H, W). */
void wrk_noise_initial(uint64_t seed, uint32_t window, int rgba, int F, int C, int H, int W, float *out);

#endif
