/* norm.c — LayerNorm (per row, optionally per group of a row, with or without affine) and
 * RMSNorm (T5, weight only), rows in parallel. Statistics are accumulated in double over two
 * passes; the LayerNorm row itself is vmath's ln_row (scalar form in vmath.c = the spec, AVX2
 * form the same arithmetic eight lanes at a time).
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <math.h>

int k_cpu_layernorm(float *y, int ldy, const float *x, int ldx, int rows, int groups, int dim,
                    const float *w, const float *b, float eps)
{
    if (groups < 1 || dim < 1) return k_fail_("layernorm", "groups %d, dim %d must be >= 1", groups, dim);
    if (k_chk_mat_("layernorm", "x", x, rows, (long)groups * dim, ldx) ||
        k_chk_mat_("layernorm", "y", y, rows, (long)groups * dim, ldy))
        return -1;
    if (!(eps >= 0)) return k_fail_("layernorm", "eps %g must be >= 0", (double)eps);
    const k_vmath_t *vm = k_vmath_();
    int nt = (long)rows * groups * dim < 1L << 15 ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < (long)rows * groups; r++) {
        long i = r / groups, g = r % groups;
        vm->ln_row(y + i * ldy + g * dim, x + i * ldx + g * dim, dim, w, b, eps);
    }
    return 0;
}

int k_cpu_rmsnorm(float *y, int ldy, const float *x, int ldx, int rows, int dim, const float *w,
                  float eps)
{
    if (dim < 1) return k_fail_("rmsnorm", "dim %d must be >= 1", dim);
    if (k_chk_mat_("rmsnorm", "x", x, rows, dim, ldx) || k_chk_mat_("rmsnorm", "y", y, rows, dim, ldy))
        return -1;
    if (!(eps >= 0)) return k_fail_("rmsnorm", "eps %g must be >= 0", (double)eps);
    int nt = (long)rows * dim < 1L << 15 ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (long)i * ldx;
        float *yr = y + (long)i * ldy;
        double ss = 0;
        for (int j = 0; j < dim; j++) ss += (double)xr[j] * xr[j];
        float r = (float)(1.0 / sqrt(ss / dim + (double)eps));
        for (int j = 0; j < dim; j++) yr[j] = w ? xr[j] * r * w[j] : xr[j] * r;
    }
    return 0;
}
