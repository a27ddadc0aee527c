/* backend_test.h — what the tests of a backend table share (test_cuda_ops, test_t5_cuda, test_vae_cuda):
 * the backend under test `kb` and its choice, a deterministic uniform generator seeded with BT_SEED
 * (each program defines it before including, so its inputs stay its own), host <-> backend copies and
 * error measures. Header-only (static inline), included by one test program each.
 */
#ifndef TESTS_UNIT_BACKEND_TEST_H
#define TESTS_UNIT_BACKEND_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#endif

#ifndef BT_SEED
#error "define BT_SEED (the program's generator seed) before including backend_test.h"
#endif

static const k_backend_t *kb;        /* the backend under test */
static uint64_t bt_rng_ = BT_SEED;

/* Uniform in [-1, 1): a 64-bit LCG, 24 bits of the high word. */
static inline float frand(void)
{
    bt_rng_ = bt_rng_ * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((bt_rng_ >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
/* n host floats off + s·frand(); the caller frees. */
static inline float *hrand_off(size_t n, float s, float off)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = off + s * frand();
    return p;
}
static inline float *hrand(size_t n, float s) { return hrand_off(n, s, 0.0f); }
static inline float *dup(const float *h, size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    memcpy(p, h, sizeof(float) * n);
    return p;
}
/* A backend copy of h (n floats), or NULL. */
static inline float *dev(const float *h, size_t n)
{
    float *d = kb->alloc(sizeof(float) * (n ? n : 1));
    if (d && kb->upload(d, h, sizeof(float) * n)) { kb->free(d); return NULL; }
    return d;
}
/* Downloads d into a fresh host array (all NaN when the download fails, so a comparison fails). */
static inline float *host(const float *d, size_t n)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    if (kb->download(h, d, sizeof(float) * n)) memset(h, 0xff, sizeof(float) * n);
    return h;
}
/* ‖a − b‖ / ‖b‖ (infinite when a holds a NaN). */
static inline double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i]) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-30));
}
/* max |a − b| / max |b|. */
static inline double max_rel(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) { e = fmax(e, fabs((double)a[i] - b[i])); m = fmax(m, fabs((double)b[i])); }
    return e / (m > 0 ? m : 1);
}

/* Picks the backend under test: CUDA on GPU 0 when one is visible (*gpu = 1), else the CPU table copied
 * into `host` under the name "cpu-as-device" (the device code paths run on the host). Logs the choice.
 * 0, or -1 when the GPU cannot be bound. */
static inline int bt_pick_backend(k_backend_t *host, int *gpu)
{
    *host = *k_backend_cpu();
    host->name = "cpu-as-device";
    kb = host;
    *gpu = 0;
#ifdef HAVE_CUDA
    char err[256] = "";
    if (k_cuda_device_count() > 0) {
        if (k_cuda_bind(0, err, sizeof err)) { fprintf(stderr, "bind: %s\n", err); return -1; }
        kb = k_backend_cuda();
        *gpu = 1;
    }
#endif
    fprintf(stderr, "backend under test: %s\n", kb->name);
    return 0;
}

#endif
