/* k_cpu_internal.h — helpers shared by the CPU op modules (the .c files of kernels/cpu); not part of the op
 * interface. Error recording, argument checks, OpenBLAS pinning and the vector math used by the
 * activations and the attention softmax (AVX2+FMA when the CPU has it, scalar libm otherwise).
 */
#ifndef KERNELS_CPU_K_CPU_INTERNAL_H
#define KERNELS_CPU_K_CPU_INTERNAL_H
#include "kernels/k.h"

#include <stdint.h>

/* Record "op: message" as this thread's last error; returns -1. */
int k_fail_(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Check a (rows, cols) matrix argument with row stride ld: sizes >= 0, ld >= cols, p non-NULL
 * when it holds anything. Returns 0 or k_fail_(op, ...). */
int k_chk_mat_(const char *op, const char *name, const void *p, long rows, long cols, long ld);

/* Check a (B, S, D) activation with row stride ld and batch stride bs (bs covers the S rows). */
int k_chk_bsd_(const char *op, const char *name, const void *p, long B, long S, long D, long ld,
               long bs);

/* Check every field of an attention call (sizes, the six strided views, bias, scale): the contract of
 * k_attn_t, shared by the CPU and CUDA launchers. Returns 0 or k_fail_(op, ...). */
int k_attn_check_(const char *op, const k_attn_t *a);

/* Pin OpenBLAS to one internal thread (once per process). */
void k_blas_init_(void);

/* The attention with the OpenBLAS engine whatever the CPU (k_cpu_attention picks AVX2 when it can). */
int k_cpu_attention_blas_(const k_attn_t *a);

/* Vector math on contiguous floats. Results equal the libm forms within a few ulp. */
typedef struct {
    const char *name;                                        /* "avx2", "scalar" */
    void (*gelu_tanh)(float *y, const float *x, long n);
    void (*silu)(float *y, const float *x, long n);
    float (*max)(const float *x, int n);                     /* -INFINITY for n == 0 */
    float (*exp_sub_sum)(float *x, int n, float m);          /* x = exp(x - m), returns Σx; exp(-inf) = 0 */
    void (*scale)(float *x, int n, float s);                 /* x *= s */
    /* LayerNorm of one vector (see k_cpu_layernorm); w, b may be NULL; y may equal x */
    void (*ln_row)(float *y, const float *x, int n, const float *w, const float *b, float eps);
    void (*bf16_to_f32)(float *dst, const uint16_t *src, long n);   /* exact widening */
} k_vmath_t;

const k_vmath_t *k_vmath_(void);
/* The scalar table, for tests comparing the two paths. */
const k_vmath_t *k_vmath_scalar_(void);
/* Tests only: make every op use the scalar table (on = 1) or the CPU's best again (on = 0), as on a
 * CPU without AVX2. Process-wide; not for use while other threads run ops. */
void k_vmath_force_scalar_(int on);

#endif
