/* t5_impl.h — internal types of the T5 encoder shared by t5.c (config, host weights, cache, API) and
 * t5_fwd.c (the forward through the kernels/k.h backend table, weights in backend memory, random
 * weights). Not an interface: include t5.h.
 */
#ifndef WORKER_MODEL_T5_IMPL_H
#define WORKER_MODEL_T5_IMPL_H
#include "worker/model/t5.h"

#include "kernels/k.h"
#include "worker/model/safetensors.h"

#include <stdint.h>

typedef struct {
    float *mem;                 /* one allocation holding every tensor below */
    float *ln0;                 /* (D)          layer.0.layer_norm */
    float *q, *k, *v;           /* (H·dk, D)    SelfAttention.{q,k,v} */
    float *o;                   /* (D, H·dk)    SelfAttention.o */
    float *ln1;                 /* (D)          layer.1.layer_norm */
    float *wi0, *wi1;           /* (F, D)       DenseReluDense.wi_0 (gelu), wi_1 (linear) */
    float *wo;                  /* (D, F)       DenseReluDense.wo */
} t5_layer_t;

typedef enum { SH_D, SH_INNER_D, SH_D_INNER, SH_F_D, SH_D_F } t5_shape_t;

typedef struct {
    const char *fmt;            /* name with the layer index */
    size_t      off;            /* float * member of t5_layer_t */
    t5_shape_t  shape;
} t5_tensor_t;

/* Index of each tensor in T5_LAYER_TENSORS (and in t5_dlayer_t.p). */
enum { T5_LN0, T5_Q, T5_K, T5_V, T5_O, T5_LN1, T5_WI0, T5_WI1, T5_WO, T5_NLAYER_TENSORS };
extern const t5_tensor_t T5_LAYER_TENSORS[T5_NLAYER_TENSORS];

/* One layer in the backend's memory: matrices in bf16 (dev_bf16) or fp32, norm weights fp32. */
typedef struct { void *p[T5_NLAYER_TENSORS]; } t5_dlayer_t;

typedef struct {
    int32_t *ids;               /* (L) */
    float   *out;               /* (L, D) */
    int      L;
    long     stamp;             /* last use, for LRU eviction */
} t5_cache_entry_t;

struct wrk_t5 {
    wrk_t5_config_t  cfg;
    wrk_t5_opts_t    opts;
    char             dir[1024];
    char             dtype[8];      /* dtype of the weights on disk, for the summary line */
    wrk_st_t        *st;            /* kept open when streaming or on a device backend */
    char             emb_name[40];  /* shared.weight or encoder.embed_tokens.weight */
    float           *emb;           /* (V, D), host-resident mode only */
    float           *rel;           /* (num_buckets, H) relative_attention_bias of block 0 */
    float           *final_ln;      /* (D) */
    t5_layer_t      *layers;        /* host: num_layers (resident) or 1 scratch layer (streaming); NULL on a device */
    t5_cache_entry_t *cache;
    int              cache_n;
    long             stamp, hits, misses;
    int              random;        /* wrk_t5_new_random: weights from a hash of (seed, tensor, index) */
    uint64_t         seed;
    t5_dlayer_t     *dl;            /* device weights: num_layers, or 1 when streamed; NULL until needed */
    float           *d_final_ln;    /* (D) in backend memory */
};

/* 1 when the encoder computes on a backend other than the CPU (weights uploaded there). */
int t5_on_device(const wrk_t5_t *t);
const k_backend_t *t5_backend(const wrk_t5_t *t);
/* Expected shape of a tensor kind (returns ndim) and its element count. */
int t5_shape_of(const wrk_t5_config_t *c, t5_shape_t s, int64_t dims[2]);
int64_t t5_numel_of(const wrk_t5_config_t *c, t5_shape_t s);
/* Tensor i of layer l as fp32 into dst: from st, or random values when t->random. */
int t5_fetch_f32(const wrk_t5_t *t, const wrk_st_t *st, int l, int i, float *dst, char *err, size_t errlen);
/* Random fill of n floats: uniform [-scale, scale) from (seed, stream, index); scale 0 gives 1.0s. */
void t5_random_fill(float *dst, long n, uint64_t seed, uint64_t stream, float scale);
/* The encoder over B prompts (no cache): ids (B, L) → out (B, L, D) in host memory. */
int t5_forward(wrk_t5_t *t, const int32_t *ids, int B, int L, float *out, char *err, size_t errlen);
/* Frees the backend copies of the weights (no-op on the CPU). */
void t5_device_free(wrk_t5_t *t);

#endif
