/* dit_impl.h — internals shared by the DiT modules (dit.c: options, loading, entry points;
 * dit_weights.c: the weight name table and sharded reads; dit_fwd.c: the forward pass of one rank).
 * Not a public header: only worker/model/dit*.c include it.
 */
#ifndef WORKER_MODEL_DIT_IMPL_H
#define WORKER_MODEL_DIT_IMPL_H
#include "kernels/k.h"
#include "kernels/k_comm_pool.h"
#include "worker/model/dit.h"
#include "worker/model/lora.h"
#include "worker/model/safetensors.h"
#include "worker/model/tp.h"

/* Config values the forward needs beyond wrk_dit_info_t (from transformer/config.json). */
typedef struct {
    int sample_h, sample_w;          /* latent sample size (sample_height / sample_width) */
    int sample_frames;               /* pixel frames of the sample size */
    int temporal_compression;        /* temporal_compression_ratio */
    float spatial_interp, temporal_interp;   /* 2B sin-cos interpolation scales */
    int flip_sin_to_cos;
    float freq_shift;
    float norm_eps;                  /* adaLN / final norms */
    int norm_affine;                 /* norm_elementwise_affine */
    int attn_bias;                   /* attention_bias: q/k/v carry biases */
} dit_cfg_t;

/* One block's weights as one rank holds them. Dl = local heads · head_dim, Fl = local FFN width,
 * r = LoRA rank. Replicated tensors may be shared between ranks (see dit_rank_t.owner). */
typedef struct {
    float *n1_lw, *n1_lb;            /* norm1.linear (6D, T), (6D) */
    float *n1_w, *n1_b;              /* norm1.norm (D), (D); NULL without affine */
    float *nq_w, *nq_b, *nk_w, *nk_b;/* attn1.norm_q / norm_k (hd) */
    float *qkv_w, *qkv_b;            /* to_q | to_k | to_v rows of my heads: (3·Dl, D), (3·Dl) */
    float *o_w, *o_b;                /* to_out.0 columns of my heads (D, Dl); bias (D) */
    float *n2_lw, *n2_lb, *n2_w, *n2_b;
    float *f1_w, *f1_b;              /* ff.net.0.proj rows (Fl, D), (Fl) */
    float *f2_w, *f2_b;              /* ff.net.2 columns (D, Fl); bias (D) */
    float *la_qkv;                   /* LoRA A of q | k | v (3r, D), replicated */
    float *lb_q, *lb_k, *lb_v;       /* LoRA B rows of my heads (Dl, r) */
    float *la_o;                     /* LoRA A of to_out columns of my heads (r, Dl) */
    float *lb_o;                     /* LoRA B of to_out (D, r), replicated */
    /* bf16 copies of the big GEMM weights (wrk_dit_t.bf16w): set instead of the fp32 pointers above */
    uint16_t *n1_lh, *qkv_h, *o_h, *n2_lh, *f1_h, *f2_h;
} dit_block_t;

typedef struct {
    wrk_tp_shard_t sh;
    int Dl, Fl;
    float *pe_w, *pe_b;              /* patch_embed.proj (D, C·p·p), (D) */
    float *tx_w, *tx_b;              /* patch_embed.text_proj (D, Dt), (D) */
    uint16_t *tx_h;                  /* text_proj in bf16 (wrk_dit_t.bf16w; tx_w is then NULL) */
    float *t1_w, *t1_b;              /* time_embedding.linear_1 (T, D), (T) */
    float *t2_w, *t2_b;              /* time_embedding.linear_2 (T, T), (T) */
    float *nf_w, *nf_b;              /* norm_final (D) */
    float *no_lw, *no_lb;            /* norm_out.linear (2D, T), (2D) */
    float *no_w, *no_b;              /* norm_out.norm (D) */
    float *po_w, *po_b;              /* proj_out (p·p·C_out, D), (p·p·C_out) */
    float *domain;                   /* TransPixar domain_emb (D) or NULL */
    dit_block_t *blocks;             /* num_layers */
    float *ws;                       /* activation workspace, reused by every forward */
    size_t ws_floats;
    float *ws_anchor;                /* the anchor stream's workspace (anchor forwards only) */
    size_t ws_anchor_floats;
    void **owned;                    /* buffers this rank allocated (freed with it: kb->free on device
                                        memory, free() on host memory) */
    int n_owned, cap_owned;
    float *pending;                  /* device path: the host copy of a tensor being read (freed on error) */
    float *stage;                    /* device path: host buffer where tables are built before upload */
    size_t stage_floats;
    int oom;                         /* the last forward of this rank ran out of memory */
} dit_rank_t;

struct wrk_dit {
    wrk_dit_info_t info;
    dit_cfg_t cfg;
    char dir[1024];                  /* the transformer directory */
    const k_backend_t *kb;
    int on_device;                   /* buffers live in backend memory (CUDA, or opts.backend): every
                                        host access goes through kb->upload / kb->download */
    int bf16w;                       /* big GEMM weights in bf16 through kb->gemm_bf16w */
    int nccl;                        /* ranks are GPUs over NCCL, rank r bound to GPU r */
    k_comm_pool_t *pool;             /* tp > 1: the rank threads and their group, kept across forwards */
    int threads_per_rank;
    wrk_dit_stats_t stats;           /* of the last forward, measured on rank 0 */
    dit_rank_t *ranks;               /* info.tp */
};

/* dit_weights.c: reads rank `rank`'s shard of every weight (and of the LoRA file when lora != NULL).
 * Replicated weights of ranks > 0 point at rank 0's copies when the backend is host memory; on
 * device memory each tensor is read on the host, then uploaded (bf16 where the table says) and the
 * host copy dropped. The calling thread must be bound to the rank's device. 0 / -1 with err naming
 * file and tensor. */
int  dit_weights_load(wrk_dit_t *m, const wrk_st_t *st, const wrk_lora_t *lora, int rank,
                      char *err, size_t errlen);
void dit_weights_free(const wrk_dit_t *m, dit_rank_t *r);
/* Detects ff_dim and checks that the block count matches the checkpoint. 0 / -1 with err. */
int  dit_weights_detect(wrk_dit_t *m, const wrk_st_t *st, char *err, size_t errlen);

/* dit_fwd.c: the forward pass of one rank (see wrk_dit_forward_rank); anchor NULL = none, else the
 * anchor stream runs beside the window (see wrk_dit_forward_anchor). */
int dit_forward_rank(wrk_dit_t *m, k_comm_t *comm, int B, int F, int H, int W, const float *x, int L,
                     const float *text, const int64_t *t, const wrk_dit_anchor_t *anchor, float *out,
                     char *err, size_t errlen);

#endif
