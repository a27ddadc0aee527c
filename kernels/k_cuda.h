/* k_cuda.h — the CUDA backend of the op interface (k.h), its device-buffer helpers, the NCCL
 * communicator (k_comm.h) and the GPU memory plan of the DiT.
 *
 * What it is: k_backend_cuda() returns a k_backend_t whose ops take DEVICE pointers with exactly the
 * k.h contract (same arguments, strides, in-place rules, 0/-1 + k_error()). Built into
 * build/libkcuda.a whenever nvcc exists (HAVE_CUDA is then defined for C code); usable at run time
 * only when k_cuda_device_count() > 0. Status: compiled and linked here, NEVER RUN on a GPU yet (the
 * session that wrote it had none); tests/unit/test_cuda_ops.c is what proves it on one.
 *
 * Precision mapping (fp32 arguments of k.h → bf16 tensor cores):
 *  - Activation buffers stay fp32 in device memory, so the caller's pointer arithmetic on `float *`
 *    (column slices, token ranges, batch strides) is valid unchanged.
 *  - Weights: bf16 for the big GEMMs (gemm_bf16w; build them with k_cuda_upload_bf16), fp32 for the
 *    small ones (gemm: cuBLASLt in TF32).
 *  - gemm_bf16w converts x to bf16 (row chunks in a bounded scratch) and runs a bf16×bf16 cuBLASLt
 *    matmul with fp32 accumulation and fp32 output, bias and GELU fused in the epilogue.
 *  - attention loads fp32 q/k/v, rounds them to bf16 in shared memory, multiplies on the tensor
 *    cores (head_dim 64; other head dims take an fp32 CUDA-core kernel), softmax and output in fp32.
 *  - every other op is fp32 in and out, fp32 arithmetic.
 *  So results differ from the CPU ops by bf16 rounding of the GEMM/attention operands (relative
 *  error about 1e-3..1e-2), nothing else.
 *
 * Threads and devices: each host thread binds one device (k_cuda_bind) and gets its own stream,
 * cuBLASLt handle and scratch; ops queue on that stream and are asynchronous — errors of queued work
 * show at backend->sync (or at a download, which synchronises). A thread that never called
 * k_cuda_bind uses the current CUDA device. One process, one thread per GPU rank.
 *
 * Errors: argument errors, launch errors and CUDA errors come back as -1 with k_error() set
 * ("op: message (file:line)"). Running out of device memory is a resource error: alloc returns
 * NULL, k_cuda_oom() becomes 1 and the message says "out of memory". Nothing here exits or asserts.
 */
#ifndef KERNELS_K_CUDA_H
#define KERNELS_K_CUDA_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/k.h"
#include "kernels/k_comm.h"
#include "kernels/k_comm_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------- devices and the backend ---------------- */

/* Visible CUDA devices; 0 when there is no driver or no device (never fails). */
int k_cuda_device_count(void);
/* Binds the calling thread to `device`: stream, cuBLASLt handle, workspace. Idempotent for the same
 * device; a different device first releases the old context. 0 or -1 with err filled. */
int k_cuda_bind(int device, char *err, size_t errlen);
/* Releases this thread's context (waits for its queued work first). */
void k_cuda_unbind(void);
/* The device this thread is bound to, or -1. */
int k_cuda_bound_device(void);
/* The backend table (static; never freed). Its ops bind the current device on first use. */
const k_backend_t *k_backend_cuda(void);
/* This thread's stream as a cudaStream_t (NULL when no context could be made). */
void *k_cuda_stream(void);
/* 1 when the last failed allocation on this thread ran out of device memory (cleared by a success). */
int k_cuda_oom(void);
/* Device bytes held by the backend's allocations (all threads) now, and at most since the last reset. */
size_t k_cuda_bytes_in_use(void);
size_t k_cuda_bytes_peak(void);
void k_cuda_reset_peak(void);

/* ---------------- bf16 device buffers ---------------- */

/* dst (n bf16, device) = round-to-nearest-even bf16 of src (n fp32, host). 0/-1; synchronous. */
int k_cuda_upload_bf16(uint16_t *dst, const float *src, size_t n);
/* dst (n fp32, host) = exact widening of src (n bf16, device). Synchronous. */
int k_cuda_download_bf16(float *dst, const uint16_t *src, size_t n);
/* Device to device: dst (n bf16) = bf16(src (n fp32)). Queued on this thread's stream. */
int k_cuda_f32_to_bf16(uint16_t *dst, const float *src, size_t n);
/* Fill n device floats (or bf16) with a deterministic uniform [-scale, scale) hash of (seed, i);
 * for benchmarks with random weights and for tests. Queued. */
int k_cuda_fill_uniform(float *dst, size_t n, uint64_t seed, float scale);
int k_cuda_fill_uniform_bf16(uint16_t *dst, size_t n, uint64_t seed, float scale);

/* ---------------- attention engine choice (tests, labs) ---------------- */

typedef enum {
    K_CUDA_ATTN_AUTO = 0,   /* v5 (FA2) for head_dim 64, v1 (fp32) otherwise */
    K_CUDA_ATTN_SIMT,       /* v1: one warp per query row, fp32, any head_dim <= 256 */
    K_CUDA_ATTN_WMMA64,     /* v2: 64×64 tiles, bf16 WMMA, online softmax in shared memory */
    K_CUDA_ATTN_MMA64,      /* v3: mma.sync m16n8k16, accumulators in registers (FA2 layout); needs
                               16-byte aligned q/k/v/o (and k2/v2) and strides that are multiples of 4 */
    K_CUDA_ATTN_MMA64B,     /* v4: bf16 pre-pass of q/k/v into scratch + v3's math on 128-row blocks;
                               any strides; scratch 2·B·H·(Sq + 2·(Sk+Sk2))·64 bytes (1.2 GiB at 5B) */
    K_CUDA_ATTN_FA2,        /* v5: v4's packed operands, FA2 tiling: 32 rows per warp, ldmatrix, cp.async
                               double-buffered K/V tiles, checks only on the tiles that need them */
} k_cuda_attn_kind_t;
/* Attention with a chosen engine (the table's attention is K_CUDA_ATTN_AUTO). */
int k_cuda_attention_with(const k_attn_t *a, k_cuda_attn_kind_t kind);

/* Versions of norm_rope (k.h k_cpu_norm_rope), the lab's numbering; the table's norm_rope is AUTO. */
typedef enum {
    K_CUDA_NORM_ROPE_AUTO = 0,
    K_CUDA_NORM_ROPE_SEQ,      /* v1: the layernorm kernel, then the rope kernel per range (x read and
                                  written twice where RoPE applies); any head_dim */
    K_CUDA_NORM_ROPE_FUSED,    /* v2: one pass, head_dim 64, 16-byte aligned rows/affine/tables; refuses
                                  anything else */
    K_CUDA_NORM_ROPE_COUNT
} k_cuda_norm_rope_kind_t;
/* AUTO's choice: v1 until v2 has passed test_cuda_ops and the lab (bench_cuda_step --normrope) on a
 * GPU; v2 was written without one (session 3). */
#define K_CUDA_NORM_ROPE_AUTO_IS K_CUDA_NORM_ROPE_SEQ
/* Versions of norm_modulate (k.h k_cpu_norm_modulate, adaLN), the lab's numbering; the table's is AUTO. */
typedef enum {
    K_CUDA_NORM_MOD_AUTO = 0,
    K_CUDA_NORM_MOD_SEQ,       /* v1: the layernorm kernel, then the modulate kernel on each token range */
    K_CUDA_NORM_MOD_FUSED,     /* v2: one pass, D in the vectorised layernorm's table (64 .. 3072), 16-byte
                                  aligned rows, affine and chunks; refuses anything else */
    K_CUDA_NORM_MOD_COUNT
} k_cuda_norm_mod_kind_t;
/* AUTO's choice: v1 until v2 has passed test_cuda_ops and the lab on a GPU (written without one). */
#define K_CUDA_NORM_MOD_AUTO_IS K_CUDA_NORM_MOD_SEQ
int k_cuda_norm_modulate_with(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                              const float *w, const float *b, float eps, int split, const float *shift0,
                              const float *scale0, const float *shift1, const float *scale1, int ldm,
                              k_cuda_norm_mod_kind_t kind);
int k_cuda_norm_rope_with(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                          const float *b, float eps, const float *cos, const float *sin, int ldt, int r0, int nr,
                          int reps, k_cuda_norm_rope_kind_t kind);

/* ---------------- memory plan of the DiT on one GPU ---------------- */

typedef struct {
    int layers, heads, head_dim, ff_dim;        /* 42, 48, 64, 12288 for CogVideoX-5B */
    int text_dim, time_dim, text_len;           /* 4096, 512, 226 */
    int in_channels, out_channels, patch;       /* 16, 16, 2 */
    int lora_rank;                              /* TransPixar alpha LoRA rank (0 = none) */
    int B;                                      /* batch: 2 with CFG */
    int latent_frames, latent_h, latent_w;      /* per stream: 13, 60, 90 for 49 frames 480×720 */
    int rgba;                                   /* 1: RGB and alpha token streams (TransPixar) */
    int tp;                                     /* tensor-parallel degree (GPUs) */
    double gpu_bytes;                           /* device memory of one GPU */
} k_cuda_plan_cfg_t;

typedef struct {
    long S;                       /* joint sequence: text_len + streams·(F·H·W/patch²) */
    double weights;               /* bf16 weights held by one rank (sharded ones / tp) */
    double lora;                  /* fp32 LoRA factors held by one rank */
    double activations;           /* fp32 working buffers of the forward (reused by every layer) */
    double gemm_scratch;          /* bf16 copy of one GEMM input row chunk + cuBLASLt workspace */
    double attn_workspace;        /* fused attention: 0 bytes in device memory */
    double attn_if_materialised;  /* what a (B, H, S, S) bf16 logit/mask tensor would need */
    double latents;               /* sampler state: latents, noise prediction, CFG halves */
    double runtime_reserve;       /* CUDA context, cuBLASLt, NCCL buffers, allocator slack */
    double total;                 /* sum of all but attn_if_materialised */
    int fits;                     /* total <= gpu_bytes */
} k_cuda_plan_t;

/* CogVideoX-5B TransPixar RGBA at 49 frames 480×720, CFG batch 2, TP=1, 80 GB. */
k_cuda_plan_cfg_t k_cuda_plan_cfg_5b_rgba(void);
/* Computes the plan (pure arithmetic, no device needed). 0, or -1 with err on a bad config. */
int k_cuda_plan_dit(const k_cuda_plan_cfg_t *c, k_cuda_plan_t *p, char *err, size_t errlen);
/* One line per item, "name  GiB", into buf. */
int k_cuda_plan_format(const k_cuda_plan_t *p, char *buf, size_t buflen);

/* ---------------- NCCL communicator ---------------- */

/* A group of `size` GPU ranks in this process; rank r runs on devices[r] (NULL = device r). Returns
 * the comms array (comms[r] for rank r) or NULL with err. Buffers given to the collectives are
 * device pointers on the rank's device; collectives queue on the calling thread's k_cuda stream and
 * return when done (or -1 when the group was aborted / NCCL reported an error). Each rank thread
 * must k_cuda_bind(devices[r]) before its first collective. all_reduce_sum is NCCL's ring/tree sum:
 * identical on all ranks, but not the rank-ordered sum of the threads backend. */
k_comm_t *k_comm_nccl_group_new(int size, const int *devices, char *err, size_t errlen);
/* Destroys the group (ncclCommAbort when it was aborted, so hung collectives are torn down). */
void k_comm_nccl_group_destroy(k_comm_t **comms);
/* Runs fn on `size` threads (rank 0 on the caller), each bound to its device with k_cuda_bind and
 * given its communicator, then joins them; a failing rank aborts the group, the others leave their
 * collectives with -1, every context is released. Returns 0 when all ranks returned 0, else -1 with
 * "rank R: message" of the rank that aborted the group first (else the lowest failing rank). The
 * calling thread runs rank 0 and its own k_cuda binding is released at the end (bind again to go on).
 * A one-shot k_comm_pool over k_comm_nccl_backend(); a model keeps a pool instead. */
int k_comm_nccl_run(int size, const int *devices, k_comm_rank_fn fn, void *arg, char *err,
                    size_t errlen);
/* The NCCL backend for a persistent k_comm_pool (kernels/k_comm_pool.h): groups from
 * k_comm_nccl_group_new, each rank thread k_cuda_bind-s to its device once and unbinds when the pool
 * ends; rank 0 runs on the caller, which stays bound to devices[0] after a run. */
const k_comm_backend_t *k_comm_nccl_backend(void);

#ifdef __cplusplus
}
#endif
#endif
