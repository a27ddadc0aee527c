/* t5.h — the T5 v1.1 encoder of a CogVideoX pipeline (`text_encoder/`, transformers'
 * T5EncoderModel) on a compute backend (CPU fp32, or CUDA), plus a per-prompt embedding cache.
 *
 * What it is (MODEL.md §5): x = shared[ids] (no scaling); per layer, pre-norm RMS norm, self
 * attention WITHOUT 1/sqrt(d_kv) scaling and with a bidirectional relative-position bias
 * (table [buckets, heads] in block 0, shared by all layers), gated-GELU (tanh) FFN; a final RMS
 * norm. No attention mask: pads are attended, as the CogVideoX pipeline calls the encoder.
 * Output (B, L, d_model) fp32. Attention is done with GEMMs (L×L logits per head materialised:
 * L = 226 is small: the backend op attention_relbias), not the fused DiT attention.
 * Weights: config.json + model.safetensors, or shards + model.safetensors.index.json, with the names
 * transformers writes (shared.weight or encoder.embed_tokens.weight, encoder.block.{i}.layer.0.
 * SelfAttention.{q,k,v,o}.weight, ...); F32/F16/BF16 converted to fp32. Every tensor's shape is
 * checked against config.json; errors name the file and the tensor. Extra layers in the weights
 * beyond num_layers are an error (config does not match the weights).
 * Cache: wrk_t5_encode looks every batch row up by its ids (and L) first; only missing rows are
 * computed. Entries live until wrk_t5_cache_clear or the handle is destroyed (LRU beyond capacity).
 *
 * Devices: the forward runs through a kernels/k.h backend (opts.kb; CPU by default). On another
 * backend (CUDA) the host keeps only the mmap of the weights; the layers are uploaded at the first
 * encode (bf16 for the GEMMs unless device_fp32; norms fp32), and freed again when the encode returns
 * unless keep_device — the GPU memory is the DiT's while it denoises; the embedding cache makes
 * repeated prompts free. The encode must run on a thread that can use the backend (CUDA: the
 * thread's current device).
 *
 * What it is not: the decoder, tensor parallelism, fp16 activation clamping. A handle is not
 * thread-safe (the cache is shared state); use one per thread.
 */
#ifndef WORKER_MODEL_T5_H
#define WORKER_MODEL_T5_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/k.h"

typedef struct {
    int    vocab_size, d_model, d_kv, num_heads, d_ff, num_layers;
    int    num_buckets, max_distance;    /* relative_attention_num_buckets 32, max_distance 128 */
    double eps;                          /* layer_norm_epsilon 1e-6 */
} wrk_t5_config_t;

typedef struct {
    int stream_weights;  /* 0: every weight converted to fp32 at load (fastest encodes);
                            1: only the mmap is kept and one layer at a time is converted during an
                            encode (T5-XXL: about 1 GB resident instead of 19 GB of fp32) */
    int cache_entries;   /* prompts kept in the embedding cache: 0 = 16, < 0 = no cache */
    const k_backend_t *kb; /* where the forward runs: NULL = the CPU (host fp32 weights) */
    int keep_device;     /* another backend: 1 keeps its weights between encodes, 0 frees them after each */
    int device_fp32;     /* another backend: 1 uploads fp32 weights (gemm, TF32 on CUDA) instead of bf16
                            (gemm_bf16w); T5-XXL: 19 GB instead of 9.5 GB */
} wrk_t5_opts_t;

typedef struct wrk_t5 wrk_t5_t;

/* Parses text_encoder/config.json text; `what` names it in errors. T5 v1.1 only:
 * feed_forward_proj "gated-gelu" (dense_act_fn gelu_new / gelu_pytorch_tanh). 0 / -1. */
int wrk_t5_config_parse(const char *text, size_t len, const char *what, wrk_t5_config_t *c, char *err,
                        size_t errlen);

/* Loads the encoder. path: a pipeline root holding text_encoder/, or the text_encoder/ folder
 * itself. opts may be NULL (defaults). 0 ok (*out owned: wrk_t5_destroy), -1 with err naming the
 * file and tensor. Logs nothing; wrk_t5_str gives the one-line summary. */
int  wrk_t5_load(const char *path, const wrk_t5_opts_t *opts, wrk_t5_t **out, char *err, size_t errlen);
void wrk_t5_destroy(wrk_t5_t **t5);

const wrk_t5_config_t *wrk_t5_config(const wrk_t5_t *t5);
/* "T5 encoder: 24 layers, 64x64 heads (d_model 4096), d_ff 10240, vocab 32128, BF16 weights, resident" */
void wrk_t5_str(const wrk_t5_t *t5, char *buf, size_t n);

/* Encodes B prompts of L ids each: ids (B, L), out (B, L, d_model). Every id must lie in
 * [0, vocab_size). 0 / -1 with err. */
int wrk_t5_encode(wrk_t5_t *t5, const int32_t *ids, int B, int L, float *out, char *err, size_t errlen);

/* A T5 encoder of config c with deterministic random weights (no files): matrices uniform in
 * ±1/sqrt(fan_in), norm weights 1, embedding and relative bias uniform in ±1, all a hash of (seed,
 * tensor, index). For benchmarks at real sizes (T5-XXL) without the checkpoint; opts as for
 * wrk_t5_load (on the CPU the layers are generated into host memory). 0 / -1 with err. */
int wrk_t5_new_random(const wrk_t5_config_t *c, uint64_t seed, const wrk_t5_opts_t *opts, wrk_t5_t **out,
                      char *err, size_t errlen);

/* Frees the weights held in backend memory now (keep_device mode); the next encode uploads them
 * again. No-op on the CPU. */
void wrk_t5_release_device(wrk_t5_t *t5);

/* Cache: drop every entry; counters of rows served from the cache / computed since load. */
void wrk_t5_cache_clear(wrk_t5_t *t5);
void wrk_t5_cache_stats(const wrk_t5_t *t5, long *hits, long *misses);

/* The bidirectional relative-position bucket of rel = key_pos − query_pos (transformers'
 * T5Attention._relative_position_bucket with bidirectional=True). Exposed for the tests. */
int wrk_t5_bucket(int rel, int num_buckets, int max_distance);

#endif
