/* elementwise.c — GELU(tanh), SiLU, adaLN modulate and the gated residual. The activations run
 * through vmath (AVX2 when present; the scalar libm form in vmath.c is their specification);
 * modulate and residual are plain loops, parallel over rows.
 */
#include "kernels/cpu/k_cpu_internal.h"

#define K_PAR_MIN (1L << 15)   /* below this many elements one thread is faster */

static int act_(const char *op, float *y, const float *x, long n, int gelu)
{
    if (n < 0) return k_fail_(op, "negative length %ld", n);
    if (n > 0 && (!x || !y)) return k_fail_(op, "NULL buffer");
    const k_vmath_t *vm = k_vmath_();
    long chunk = 1L << 14, nch = (n + chunk - 1) / chunk;
    int nt = n < K_PAR_MIN ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long c = 0; c < nch; c++) {
        long i0 = c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        if (gelu) vm->gelu_tanh(y + i0, x + i0, m); else vm->silu(y + i0, x + i0, m);
    }
    return 0;
}

int k_cpu_gelu_tanh(float *y, const float *x, long n) { return act_("gelu_tanh", y, x, n, 1); }
int k_cpu_silu(float *y, const float *x, long n) { return act_("silu", y, x, n, 0); }

int k_cpu_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                   const float *shift, const float *scale, int ldm, int B, int S, int D)
{
    if (k_chk_bsd_("modulate", "x", x, B, S, D, ldx, bsx) || k_chk_bsd_("modulate", "y", y, B, S, D, ldy, bsy) ||
        k_chk_mat_("modulate", "shift", shift, B, D, ldm) || k_chk_mat_("modulate", "scale", scale, B, D, ldm))
        return -1;
    int nt = (long)B * S * D < K_PAR_MIN ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < (long)B * S; r++) {
        long b = r / S, s = r % S;
        const float *xr = x + b * bsx + s * ldx, *sh = shift + b * ldm, *sc = scale + b * ldm;
        float *yr = y + b * bsy + s * ldy;
        for (int d = 0; d < D; d++) yr[d] = xr[d] * (1.0f + sc[d]) + sh[d];
    }
    return 0;
}

int k_cpu_norm_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                        const float *w, const float *b, float eps, int split, const float *shift0,
                        const float *scale0, const float *shift1, const float *scale1, int ldm)
{
    if (B < 0 || S < 0 || split < 0 || split > S)
        return k_fail_("norm_modulate", "B %d, S %d: split %d must lie in 0..S", B, S, split);
    for (int bi = 0; bi < B; bi++)
        if (k_cpu_layernorm(y + bi * bsy, ldy, x + bi * bsx, ldx, S, 1, D, w, b, eps)) return -1;
    if (k_cpu_modulate(y, ldy, bsy, y, ldy, bsy, shift0, scale0, ldm, B, split, D) ||
        k_cpu_modulate(y + (long)split * ldy, ldy, bsy, y + (long)split * ldy, ldy, bsy, shift1, scale1, ldm, B,
                       S - split, D))
        return -1;
    return 0;
}

int k_cpu_gated_residual(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                         const float *gate, int ldg, int B, int S, int D)
{
    if (k_chk_bsd_("gated_residual", "x", x, B, S, D, ldx, bsx) ||
        k_chk_bsd_("gated_residual", "y", y, B, S, D, ldy, bsy) ||
        k_chk_mat_("gated_residual", "gate", gate, B, D, ldg))
        return -1;
    int nt = (long)B * S * D < K_PAR_MIN ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < (long)B * S; r++) {
        long b = r / S, s = r % S;
        float *xr = x + b * bsx + s * ldx;
        const float *yr = y + b * bsy + s * ldy, *g = gate + b * ldg;
        for (int d = 0; d < D; d++) xr[d] += g[d] * yr[d];
    }
    return 0;
}
