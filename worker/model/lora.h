/* lora.h — the TransPixar RGBA LoRA file: validation against the base model and sharded reads.
 *
 * The released file (wileewang/TransPixar `cogvideox_rgba_lora.safetensors`, MODEL.md §2.5–2.6) holds,
 * for every block i of the base model, bias-free LoRA pairs on attention projections:
 *   transformer.transformer_blocks.{i}.attn1.{to_q,to_k,to_v,to_out.0}.lora_A.weight   [r, D]
 *   transformer.transformer_blocks.{i}.attn1.{to_q,to_k,to_v,to_out.0}.lora_B.weight   [D, r]
 * plus `domain_emb` (D values in any [1,..,1,D] shape), the learned embedding added to alpha tokens.
 * The delta of a target is scale · B·(A·x) with scale = lora_alpha / r (alpha 1.0 as released).
 * Keys without the leading "transformer." are accepted too. Every tensor of the file must be one of
 * these for a block the base model has, with one rank r throughout: a file made for another base
 * (other D, more or fewer blocks) is an error that names the file and the tensor.
 *
 * Not here: applying the deltas (dit), merging them into base weights.
 */
#ifndef WORKER_MODEL_LORA_H
#define WORKER_MODEL_LORA_H
#include <stddef.h>

#include "worker/model/tp.h"

typedef enum { WRK_LORA_Q = 0, WRK_LORA_K, WRK_LORA_V, WRK_LORA_OUT, WRK_LORA_TARGETS } wrk_lora_target_t;

typedef struct wrk_lora wrk_lora_t;

/* Opens and validates `path` for a base model with `layers` blocks and inner dim `dim`.
 * 0 (*out owned by the caller: wrk_lora_close) or -1 with err naming file and tensor. */
int  wrk_lora_open(const char *path, int layers, int dim, wrk_lora_t **out, char *err, size_t errlen);
void wrk_lora_close(wrk_lora_t **l);

int wrk_lora_rank(const wrk_lora_t *l);          /* r */
int wrk_lora_has_domain(const wrk_lora_t *l);    /* 1 when domain_emb is present */
const char *wrk_lora_path(const wrk_lora_t *l);

/* Reads the shard of one target of block `layer` that rank `s` holds (tp.h):
 *   q/k/v: a (r, D) whole,            b (D_local, r) rows of its heads
 *   out:   a (r, D_local) its columns, b (D, r) whole
 * a / b hold at least that many floats. 0 / -1 with err naming file and tensor. */
int wrk_lora_read(const wrk_lora_t *l, int layer, wrk_lora_target_t target, const wrk_tp_shard_t *s,
                  float *a, float *b, char *err, size_t errlen);

/* Reads domain_emb (D floats). 0 / -1 (absent or unreadable) with err. */
int wrk_lora_read_domain(const wrk_lora_t *l, float *dst, char *err, size_t errlen);

#endif
