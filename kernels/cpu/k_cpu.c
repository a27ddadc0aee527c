/* k_cpu.c — the CPU backend's glue: per-thread error message and thread count, OpenBLAS pinning,
 * activation names and the k_backend_t table that points at the k_cpu_ ops.
 * The ops themselves live in the other files of kernels/cpu/ (gemm, norm, elementwise, pos,
 * patch, attention). Nothing here computes.
 */
#include "kernels/cpu/k_cpu_internal.h"
#include "kernels/k_conv.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char k_err_[256];
static _Thread_local int k_err_pending_;   /* set by a failure, cleared by the backend's sync */
static _Thread_local int k_threads_;       /* 0 = omp_get_max_threads() */
static pthread_once_t k_blas_once_ = PTHREAD_ONCE_INIT;

static const char *const k_act_names_[K_ACT_COUNT] = {
    [K_ACT_NONE] = "none", [K_ACT_GELU_TANH] = "gelu_tanh", [K_ACT_SILU] = "silu",
};

int k_fail_(const char *op, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(k_err_, sizeof k_err_, "%s: ", op);
    if (n < 0 || (size_t)n >= sizeof k_err_) n = 0;
    va_start(ap, fmt);
    vsnprintf(k_err_ + n, sizeof k_err_ - (size_t)n, fmt, ap);
    va_end(ap);
    k_err_pending_ = 1;
    return -1;
}

int k_chk_mat_(const char *op, const char *name, const void *p, long rows, long cols, long ld)
{
    if (rows < 0 || cols < 0) return k_fail_(op, "%s: negative size (%ld, %ld)", name, rows, cols);
    if (rows > 0 && ld < cols) return k_fail_(op, "%s: row stride %ld < %ld columns", name, ld, cols);
    if (rows > 0 && cols > 0 && !p) return k_fail_(op, "%s: NULL buffer", name);
    return 0;
}

int k_chk_bsd_(const char *op, const char *name, const void *p, long B, long S, long D, long ld,
               long bs)
{
    if (B < 0) return k_fail_(op, "%s: negative batch %ld", name, B);
    if (k_chk_mat_(op, name, p, S, D, ld)) return -1;
    if (B > 1 && S > 0 && D > 0 && bs < (S - 1) * ld + D)
        return k_fail_(op, "%s: batch stride %ld < %ld rows of stride %ld", name, bs, S, ld);
    return 0;
}

const char *k_error(void) { return k_err_; }

void k_set_threads(int n) { k_threads_ = n > 0 ? n : 0; }

int k_threads(void)
{
    k_blas_init_();   /* whoever sizes an OpenMP team with this may call sgemm inside it */
    int n = k_threads_ > 0 ? k_threads_ : omp_get_max_threads();
    return n > 0 ? n : 1;
}

void k_cpu_init(void) { k_blas_init_(); }

static void k_blas_pin_(void) { openblas_set_num_threads(1); }

void k_blas_init_(void) { pthread_once(&k_blas_once_, k_blas_pin_); }

const char *k_act_name(k_act_t a)
{
    return (a >= 0 && a < K_ACT_COUNT) ? k_act_names_[a] : "?";
}

/* ---------------- backend table ---------------- */

static void *k_cpu_alloc_(size_t nbytes)
{
    size_t n = (nbytes + 63) & ~(size_t)63;
    return aligned_alloc(64, n ? n : 64);
}

static void k_cpu_free_(void *p) { free(p); }

static int k_cpu_copy_(void *dst, const void *src, size_t nbytes)
{
    if (nbytes && (!dst || !src)) return k_fail_("copy", "NULL buffer");
    if (nbytes) memmove(dst, src, nbytes);
    return 0;
}

static int k_cpu_sync_(char *err, size_t errlen)
{
    if (!k_err_pending_) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", k_err_);
    k_err_pending_ = 0;
    return -1;
}

static const k_backend_t k_cpu_backend_ = {
    .name = "cpu",
    .alloc = k_cpu_alloc_, .free = k_cpu_free_,
    .upload = k_cpu_copy_, .download = k_cpu_copy_,
    .sync = k_cpu_sync_, .set_threads = k_set_threads,
    .gemm = k_cpu_gemm, .layernorm = k_cpu_layernorm, .rmsnorm = k_cpu_rmsnorm,
    .gelu_tanh = k_cpu_gelu_tanh, .silu = k_cpu_silu,
    .modulate = k_cpu_modulate, .gated_residual = k_cpu_gated_residual, .norm_modulate = k_cpu_norm_modulate,
    .rope = k_cpu_rope, .norm_rope = k_cpu_norm_rope, .patch_embed = k_cpu_patch_embed, .unpatchify = k_cpu_unpatchify,
    .attention = k_cpu_attention, .gemm_bf16w = k_cpu_gemm_bf16w,
    .copy = k_cpu_copy, .add = k_cpu_add, .mul = k_cpu_mul,
    .attention_relbias = k_cpu_attention_relbias, .conv3d = k_cpu_conv3d,
    .groupnorm_stats = k_cpu_groupnorm_stats, .snorm_silu = k_cpu_snorm_silu,
    .resize_nearest = k_cpu_resize_nearest,
};

const k_backend_t *k_backend_cpu(void) { return &k_cpu_backend_; }
