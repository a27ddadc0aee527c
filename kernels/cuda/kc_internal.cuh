/* kc_internal.cuh — helpers shared by the CUDA backend's .cu files; not part of the op interface.
 * The per-thread context (device, stream, cuBLASLt handle, scratch), CUDA check macros that record
 * "op: message (file:line)" through k_fail_, and launch-size helpers.
 */
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "kernels/cpu/k_cpu_internal.h"
#include "kernels/k_cuda.h"
}

/* One host thread's CUDA state. */
typedef struct {
    int ready;               /* 1 once made */
    int device;
    int sm_count;
    cudaStream_t stream;
    void *lt;                /* cublasLtHandle_t */
    void *ws;                /* cuBLASLt workspace */
    size_t ws_bytes;
    void *scratch[3];        /* [0] GEMM input in bf16, [1] patch columns, [2] attention v4 bf16 q/k/v */
    size_t scratch_bytes[3];
} kc_ctx_t;

/* This thread's context, made on the current device on first use; NULL after k_fail_(op, ...). */
kc_ctx_t *kc_ctx_(const char *op);
/* Records a CUDA error as "op: <cuda message> (file:line)"; returns -1. */
int kc_fail_cuda_(const char *op, cudaError_t e, const char *file, int line);
/* Scratch slot `slot` of at least `bytes`, grown as needed; NULL after k_fail_. */
void *kc_scratch_(kc_ctx_t *c, int slot, size_t bytes, const char *op);

#define KC_CHECK(op, call) do { cudaError_t kc_e_ = (call); \
    if (kc_e_ != cudaSuccess) return kc_fail_cuda_((op), kc_e_, __FILE__, __LINE__); } while (0)
/* After every launch. */
#define KC_LAUNCHED(op) KC_CHECK((op), cudaGetLastError())

/* Blocks for n items of `threads` each, capped for grid-stride loops. */
static inline unsigned kc_blocks_(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b > (1L << 20) ? (1L << 20) : b);
}

/* Row-wise launches: grid.x = rows (up to 2^31 - 1), grid.y = column blocks of KC_ROW_T threads,
 * so kernels index (row, col) without 64-bit divisions per element. */
#define KC_ROW_T 256
static inline dim3 kc_rows_grid_(long rows, long cols)
{
    return dim3((unsigned)rows, (unsigned)((cols + KC_ROW_T - 1) / KC_ROW_T), 1);
}
/* rows fit grid.x and the column blocks fit grid.y */
static inline int kc_rows_ok_(long rows, long cols)
{
    return rows >= 1 && rows <= 0x7fffffffL && cols >= 1 && (cols + KC_ROW_T - 1) / KC_ROW_T <= 65535;
}

/* Grid-stride loop index over [0, n). */
#define KC_FOR(i, n) for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                          i += (long)gridDim.x * blockDim.x)

static __device__ __forceinline__ float kc_warp_sum_(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Launchers shared between files. */
int kc_gemm_f32_(kc_ctx_t *c, float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                 const float *b, int M, int N, int K, float alpha, float beta, k_act_t act);
int kc_act_rows_(kc_ctx_t *c, float *y, int ldy, int M, int N, k_act_t act);
