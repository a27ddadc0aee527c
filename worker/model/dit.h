/* dit.h — the CogVideoX diffusion transformer (diffusers CogVideoXTransformer3DModel) with the
 * TransPixar RGBA extensions, on the kernels/k.h op interface, optionally tensor-parallel.
 *
 * What it is: load a diffusers `transformer/` directory (config.json + safetensors, names exactly as
 * diffusers saves them, every shape checked) and an optional TransPixar LoRA file, then run one
 * transformer call: latents (B, F, C, H, W) + text embeddings (B, L, Dt) + timesteps (B) → the
 * v-prediction (B, F, C_out, H, W). Both the 2B form (3D sin-cos positions) and the 5B form (3D RoPE)
 * of CogVideoX v1.0 (patch_size_t = null) are supported (MODEL.md §1).
 *
 * RGBA (TransPixar, MODEL.md §2): when a LoRA file is given (or opts.rgba is set) the latent frame
 * axis holds F/2 RGB frames then F/2 alpha frames; alpha tokens share the RGB positional encoding,
 * get `domain_emb` added after the patch embedding, LoRA deltas on to_q/to_k/to_v/to_out.0 at alpha
 * rows only, and the text→alpha attention rule (none / bias / hard mask).
 *
 * Tensor parallelism (DESIGN.md §7): with opts.tp = N the model is split into N rank shards (heads
 * split, FFN split by columns then rows, embeddings and adaLN replicated); each shard reads only its
 * slices of the weights. wrk_dit_forward runs the ranks as threads over kernels/k_comm.h (CPU-threads
 * backend; NCCL with one thread per GPU on CUDA) and returns the full output; wrk_dit_forward_rank
 * lets a caller that owns its ranks (and its communicator) drive one rank itself (host memory only).
 *
 * Backends (kernels/k_select.h): opts.device picks CPU (the default here: the fp32 reference path),
 * CUDA or auto. On CUDA the model is device-resident: weights are uploaded once at load (the big GEMM
 * weights — q|k|v, to_out, FFN, the adaLN and text projections — as bf16 for gemm_bf16w, everything
 * else fp32; the LoRA factors fp32 and applied as on CPU), rank r lives on GPU r (CUDA_VISIBLE_DEVICES
 * says which GPUs the process has), the activation workspace comes from the backend's alloc, host
 * tables (positions, time embedding, ones/zeros) are built on the host and uploaded, the call's
 * inputs are uploaded and the output downloaded: the forward API stays host in, host out. Results
 * differ from the CPU path by bf16 rounding (relative L2 ~1e-3..1e-2); the CPU path is unchanged.
 * A thread that ran CUDA forwards holds a CUDA context (stream, cuBLASLt, scratch): release it with
 * wrk_dit_thread_done() before the thread ends.
 *
 * Not here: samplers, classifier-free guidance, the VAE, the text encoder, v1.5 (patch_size_t = 2).
 */
#ifndef WORKER_MODEL_DIT_H
#define WORKER_MODEL_DIT_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/k_comm.h"
#include "kernels/k_select.h"

/* The text→alpha attention rule (MODEL.md §2.4); only used for RGBA models. */
typedef enum {
    WRK_DIT_MASK_NONE = 0,   /* no rule */
    WRK_DIT_MASK_BIAS,       /* text-query → alpha-key logits += mask_bias (−1.0: the released code) */
    WRK_DIT_MASK_HARD,       /* text queries ignore alpha keys (the paper's intent) */
    WRK_DIT_MASK_COUNT
} wrk_dit_mask_t;

const char *wrk_dit_mask_name(wrk_dit_mask_t m);                  /* "none", "bias", "hard" */
int wrk_dit_mask_from_name(const char *name, wrk_dit_mask_t *out); /* 0 / -1 */

typedef struct {
    const char *lora_path;   /* TransPixar LoRA .safetensors, or NULL */
    int rgba;                /* 1: RGBA layout even without a LoRA file; 0: RGBA iff lora_path */
    float lora_alpha;        /* LoRA scale = lora_alpha / rank; default 1.0 as released */
    float lora_scale;        /* > 0 overrides the scale directly; 0 = lora_alpha / rank */
    wrk_dit_mask_t mask;     /* default WRK_DIT_MASK_BIAS */
    float mask_bias;         /* the bias of WRK_DIT_MASK_BIAS, default −1.0 */
    int tp;                  /* tensor-parallel degree, default 1, at most the head count; 0 = auto
                                (CUDA: the visible GPUs, one rank per GPU; CPU: 1) */
    int threads;             /* compute threads in total (split across ranks); 0 = OpenMP default */
    int quiet;               /* 1: do not log the detected config to stderr */
    k_device_t device;       /* K_DEVICE_CPU (default), K_DEVICE_CUDA (an error without a GPU) or
                                K_DEVICE_AUTO (k_backend_auto) */
    const k_backend_t *backend;  /* tests: use this table instead and treat its memory as device
                                memory (every buffer moved with upload/download); NULL = by device */
    int bf16_weights;        /* big GEMM weights in bf16 (gemm_bf16w): -1 auto (on for CUDA), 0, 1 */
} wrk_dit_opts_t;

void wrk_dit_opts_default(wrk_dit_opts_t *o);

/* What was loaded (read-only view). */
typedef struct {
    int num_layers, num_heads, head_dim, inner_dim;   /* D = num_heads · head_dim */
    int in_channels, out_channels, text_dim, time_dim, ff_dim;
    int patch;                                        /* spatial patch size p */
    int rope;                                         /* 1: 3D RoPE (5B form), 0: 3D sin-cos (2B) */
    int max_text_len;                                 /* max_text_seq_length of the config */
    int rgba;                                         /* RGBA (TransPixar) layout */
    int lora_rank;                                    /* 0 when no LoRA */
    float lora_scale;
    wrk_dit_mask_t mask;
    float mask_bias;                                  /* effective logit bias (0, b, −inf) */
    int tp;
    const char *backend;                              /* "cpu", "cuda" (the k_backend_t name) */
    int gpus;                                         /* GPUs in use (one per rank on CUDA), else 0 */
    int bf16_weights;                                 /* 1: big GEMM weights held in bf16 */
    int device_memory;                                /* 1: buffers live in backend (device) memory */
} wrk_dit_info_t;

typedef struct wrk_dit wrk_dit_t;

/* Where the last forward spent its time (rank 0's view; GEMM FLOPs 2·M·N·K, attention FLOPs
 * 4·Sq·Sk·head_dim per head and batch item, for rank 0's share of the heads / FFN). The *_cpu_s
 * fields are process CPU time over the same intervals (all threads; with tp > 1 they include the
 * other ranks' concurrent work, so they are meaningful per op only at tp 1). */
typedef struct {
    double total_s, gemm_s, attn_s;
    double total_cpu_s, gemm_cpu_s, attn_cpu_s;
    double gemm_flop, attn_flop;
} wrk_dit_stats_t;

/* Loads the model. `dir` is a model root containing transformer/ or the transformer directory
 * itself. 0 ok (*out owned by the caller: wrk_dit_destroy), or -1 with err naming file and tensor.
 * Running out of (host or device) memory says "out of memory" in err: a resource failure. */
int  wrk_dit_load(const char *dir, const wrk_dit_opts_t *opts, wrk_dit_t **out, char *err,
                  size_t errlen);
void wrk_dit_destroy(wrk_dit_t **m);
const wrk_dit_info_t *wrk_dit_info(const wrk_dit_t *m);
const wrk_dit_stats_t *wrk_dit_stats(const wrk_dit_t *m);

/* One transformer call on host buffers.
 *   x    (B, F, C_in, H, W)   latents; RGBA: frames [0, F/2) RGB, [F/2, F) alpha (F even)
 *   text (B, L, Dt)           text embeddings, any L >= 1
 *   t    (B)                  timesteps
 *   out  (B, F, C_out, H, W)  v-prediction
 * H and W must be multiples of the patch size. Runs opts.tp ranks as threads. 0 / -1 with err.
 * The activation workspace is kept in the model between calls, so one model runs one forward at a
 * time (not thread-safe across concurrent calls on the same wrk_dit_t). */
int wrk_dit_forward(wrk_dit_t *m, int B, int F, int H, int W, const float *x, int L,
                    const float *text, const int64_t *t, float *out, char *err, size_t errlen);

/* 1 when the last forward failed for lack of (host or device) memory: a resource failure, not a
 * model error (the window may succeed on another worker). */
int wrk_dit_oom(const wrk_dit_t *m);

/* Releases the calling thread's backend context (CUDA: stream, cuBLASLt handle, scratch; device
 * memory of models stays). Call before a thread that ran forwards ends; a no-op on CPU. */
void wrk_dit_thread_done(void);

/* The same call for one rank, for callers that run the ranks themselves: every rank r of a
 * communicator of size opts.tp calls it concurrently with comm rank r; out may be NULL on ranks
 * other than 0 (every rank computes the full output; rank 0 writes it). */
int wrk_dit_forward_rank(wrk_dit_t *m, k_comm_t *comm, int B, int F, int H, int W, const float *x,
                         int L, const float *text, const int64_t *t, float *out, char *err,
                         size_t errlen);

/* ---- anchor-frame attention (issue #8, the `anchor` strategy; Layer-Animate inter-frame attention) ----
 * The anchor latents run through the same blocks at the same timestep(s) and text as the window, as
 * their own sequence [text | anchor RGB | anchor alpha] with their own positions (frame 0 of a
 * Fa-frame grid); in every block the window's attention also attends to the anchor's video keys and
 * values of that block (RGB and alpha tokens: the extra K/V list of k_attn_t), with the text→alpha
 * rule applied to the anchor's alpha keys as to the window's. The anchor never sees the window.
 *   x_anchor   (B, Fa, C_in, H, W)   the anchor latents at the call's noise level (RGBA: Fa even)
 *   out_anchor (B, Fa, C_out, H, W)  optional: the anchor stream's own prediction (NULL = skip) */
typedef struct {
    int F;                   /* Fa: anchor latent frames (RGBA: RGB then alpha, F even) */
    const float *x;          /* (B, Fa, C_in, H, W) */
    float *out;              /* (B, Fa, C_out, H, W) or NULL */
} wrk_dit_anchor_t;

/* wrk_dit_forward with anchor attention; anchor NULL = the plain forward. */
int wrk_dit_forward_anchor(wrk_dit_t *m, int B, int F, int H, int W, const float *x,
                           const wrk_dit_anchor_t *anchor, int L, const float *text, const int64_t *t,
                           float *out, char *err, size_t errlen);

#endif
