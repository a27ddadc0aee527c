/* binary.c — elementwise binary ops (add, mul) and the backend's in-memory copy, fp32 plain loops:
 * the specification of the CUDA versions (kernels/cuda/cuda_t5vae.cu). Used by the T5 gated FFN
 * (gelu(h0) · h1) and the VAE's residual adds. Not here: broadcasting, strides.
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <string.h>

static int binary_args_(const char *op, const float *y, const float *a, const float *b, long n)
{
    if (n < 0) return k_fail_(op, "negative size %ld", n);
    if (n > 0 && (!y || !a || !b)) return k_fail_(op, "NULL buffer");
    return 0;
}

int k_cpu_add(float *y, const float *a, const float *b, long n)
{
    if (binary_args_("add", y, a, b, n)) return -1;
    int nt = n < (1L << 16) ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
    return 0;
}

int k_cpu_mul(float *y, const float *a, const float *b, long n)
{
    if (binary_args_("mul", y, a, b, n)) return -1;
    int nt = n < (1L << 16) ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] * b[i];
    return 0;
}

int k_cpu_copy(void *dst, const void *src, size_t nbytes)
{
    if (nbytes && (!dst || !src)) return k_fail_("copy", "NULL buffer");
    if (nbytes) memmove(dst, src, nbytes);
    return 0;
}
