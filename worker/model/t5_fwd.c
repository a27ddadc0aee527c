/* t5_fwd.c — the T5 v1.1 encoder's forward pass through the compute backend table (kernels/k.h), the
 * encoder's weights in backend memory (bf16 or fp32, uploaded on first use, freed after an encode
 * unless kept), and the random-weight source of wrk_t5_new_random. Interface: t5.h.
 *
 * One layer: x += o·attn_relbias(q, k, v; bias(j − i)) on RMS(x); x += wo·(gelu(wi_0·RMS(x)) ⊙ wi_1·RMS(x)).
 * On the CPU backend the ops are the k_cpu_ ones on the host weights (the numerics of the CPU
 * encoder before backends existed); on another backend every activation lives there, the token
 * embeddings are gathered on the host and uploaded, and the output is downloaded.
 */
#include "worker/model/t5_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- random weights ---------------- */

static uint64_t mix_(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void t5_random_fill(float *dst, long n, uint64_t seed, uint64_t stream, float scale)
{
    uint64_t s = mix_(seed + 0x9e3779b97f4a7c15ull * (stream + 1));
    #pragma omp parallel for schedule(static) if (n >= (1L << 16))
    for (long i = 0; i < n; i++) {
        uint64_t z = mix_(s + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
        dst[i] = scale == 0 ? 1.0f : scale * ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f);
    }
}

/* Fan-in scale of tensor kind s (norm weights: 0 = all ones). */
static float random_scale_(const wrk_t5_config_t *c, t5_shape_t s)
{
    int64_t d[2];
    return t5_shape_of(c, s, d) == 1 ? 0.0f : (float)(1.0 / sqrt((double)d[1]));
}

int t5_fetch_f32(const wrk_t5_t *t, const wrk_st_t *st, int l, int i, float *dst, char *err, size_t errlen)
{
    const t5_tensor_t *tt = &T5_LAYER_TENSORS[i];
    int64_t dims[2], n = t5_numel_of(&t->cfg, tt->shape);
    int nd = t5_shape_of(&t->cfg, tt->shape, dims);
    if (t->random) {
        t5_random_fill(dst, n, t->seed, 16 + (uint64_t)l * T5_NLAYER_TENSORS + i, random_scale_(&t->cfg, tt->shape));
        return 0;
    }
    char name[128];
    snprintf(name, sizeof name, tt->fmt, l);
    return wrk_st_read_f32(st, name, nd, dims, dst, n, err, errlen);
}

/* Tensor i of layer l as bf16 into dst (stage: room for its fp32 values, random mode only). */
static int fetch_bf16_(const wrk_t5_t *t, int l, int i, uint16_t *dst, float *stage, char *err, size_t errlen)
{
    const t5_tensor_t *tt = &T5_LAYER_TENSORS[i];
    int64_t dims[2], n = t5_numel_of(&t->cfg, tt->shape);
    int nd = t5_shape_of(&t->cfg, tt->shape, dims);
    if (t->random) {
        if (t5_fetch_f32(t, NULL, l, i, stage, err, errlen)) return -1;
        #pragma omp parallel for schedule(static) if (n >= (1L << 16))
        for (int64_t j = 0; j < n; j++) dst[j] = wrk_st_f32_to_bf16(stage[j]);
        return 0;
    }
    char name[128];
    snprintf(name, sizeof name, tt->fmt, l);
    return wrk_st_read_bf16_slice(t->st, name, nd, dims, 0, -1, 0, -1, dst, n, err, errlen);
}

/* ---------------- weights in backend memory ---------------- */

static int dlayer_alloc_(const wrk_t5_t *t, t5_dlayer_t *d)
{
    const k_backend_t *kb = t5_backend(t);
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        t5_shape_t sh = T5_LAYER_TENSORS[i].shape;
        size_t es = sh != SH_D && !t->opts.device_fp32 ? 2 : 4;
        if (!(d->p[i] = kb->alloc((size_t)t5_numel_of(&t->cfg, sh) * es))) return -1;
    }
    return 0;
}

/* Layer l into d (allocated): norms fp32, matrices bf16 unless opts.device_fp32. stage holds the
 * largest tensor in fp32. */
static int dlayer_upload_(const wrk_t5_t *t, int l, t5_dlayer_t *d, float *stage, char *err, size_t errlen)
{
    const k_backend_t *kb = t5_backend(t);
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        t5_shape_t sh = T5_LAYER_TENSORS[i].shape;
        size_t n = (size_t)t5_numel_of(&t->cfg, sh);
        int bf16 = sh != SH_D && !t->opts.device_fp32;
        uint16_t *h = (uint16_t *)(stage + n);   /* bf16 values after the fp32 scratch of random mode */
        if (bf16 ? fetch_bf16_(t, l, i, h, stage, err, errlen) : t5_fetch_f32(t, t->st, l, i, stage, err, errlen))
            return -1;
        if (kb->upload(d->p[i], bf16 ? (void *)h : (void *)stage, n * (bf16 ? 2 : 4))) {
            snprintf(err, errlen, "T5 layer %d to %s: %s", l, kb->name, k_error());
            return -1;
        }
    }
    return 0;
}

void t5_device_free(wrk_t5_t *t)
{
    const k_backend_t *kb = t5_backend(t);
    int n = t->opts.stream_weights ? 1 : t->cfg.num_layers;
    for (int l = 0; t->dl && l < n; l++)
        for (int i = 0; i < T5_NLAYER_TENSORS; i++)
            if (t->dl[l].p[i]) kb->free(t->dl[l].p[i]);
    free(t->dl);
    t->dl = NULL;
    if (t->d_final_ln) kb->free(t->d_final_ln);
    t->d_final_ln = NULL;
}

/* Largest layer tensor in floats, times 1.5 (room for its bf16 copy after it). */
static size_t stage_floats_(const wrk_t5_config_t *c)
{
    size_t m = 0;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        size_t n = (size_t)t5_numel_of(c, T5_LAYER_TENSORS[i].shape);
        m = n > m ? n : m;
    }
    return m + m / 2 + 1;
}

/* Device weights ready for an encode: all layers (resident) or one slot (streamed), final norm. */
static int device_ready_(wrk_t5_t *t, float *stage, char *err, size_t errlen)
{
    const k_backend_t *kb = t5_backend(t);
    int n = t->opts.stream_weights ? 1 : t->cfg.num_layers, D = t->cfg.d_model;
    if (t->dl) return 0;
    if (!(t->dl = calloc((size_t)n, sizeof *t->dl))) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int l = 0; l < n; l++)
        if (dlayer_alloc_(t, &t->dl[l]) || (!t->opts.stream_weights && dlayer_upload_(t, l, &t->dl[l], stage, err, errlen)))
            goto fail;
    if (!(t->d_final_ln = kb->alloc((size_t)D * sizeof(float))) ||
        kb->upload(t->d_final_ln, t->final_ln, (size_t)D * sizeof(float)))
        goto fail;
    return 0;
fail:
    if (!*err) snprintf(err, errlen, "T5 weights on %s: %s", kb->name, k_error());
    t5_device_free(t);
    return -1;
}

/* ---------------- forward ---------------- */

typedef struct {
    const k_backend_t *kb;
    float *x, *y;               /* (BL, D) residual stream, normed copy */
    float *q, *k, *v, *att;     /* (BL, H·dk) */
    float *h0, *h1;             /* (BL, F) */
    float *pb;                  /* (H, 2L − 1) relative-position bias per head */
} t5_run_t;

typedef struct { const void *w[T5_NLAYER_TENSORS]; int bf16; } t5_lw_t;   /* one layer's weights */

static int run_alloc_(t5_run_t *r, const wrk_t5_config_t *c, int B, int L)
{
    size_t BL = (size_t)B * L, D = (size_t)c->d_model, NI = (size_t)c->num_heads * c->d_kv, F = (size_t)c->d_ff;
    size_t total = 2 * BL * D + 4 * BL * NI + 2 * BL * F + (size_t)c->num_heads * (2 * L - 1);
    if (!(r->x = r->kb->alloc(total * sizeof(float)))) return -1;
    r->y = r->x + BL * D;
    r->q = r->y + BL * D;
    r->k = r->q + BL * NI;
    r->v = r->k + BL * NI;
    r->att = r->v + BL * NI;
    r->h0 = r->att + BL * NI;
    r->h1 = r->h0 + BL * F;
    r->pb = r->h1 + BL * F;
    return 0;
}

/* pb (H, 2L − 1) on the host: pb[h][rel + L − 1] = rel_table[bucket(rel)][h]; uploaded to r->pb. */
static int upload_bias_(const wrk_t5_t *t, const t5_run_t *r, int L)
{
    const wrk_t5_config_t *c = &t->cfg;
    int H = c->num_heads, n = 2 * L - 1;
    float *pb = malloc(sizeof(float) * (size_t)H * n);
    if (!pb) return -1;
    for (int rel = -(L - 1); rel <= L - 1; rel++) {
        int b = wrk_t5_bucket(rel, c->num_buckets, c->max_distance);
        for (int h = 0; h < H; h++) pb[(size_t)h * n + rel + L - 1] = t->rel[b * H + h];
    }
    int rc = r->kb->upload(r->pb, pb, sizeof(float) * (size_t)H * n);
    free(pb);
    return rc;
}

/* y = x·w[i]ᵀ (+ beta·y), the weight in bf16 or fp32. */
static int mm_(const t5_run_t *r, const t5_lw_t *w, int i, float *y, int ldy, const float *x, int ldx, int M, int N,
               int K, float beta, k_act_t act)
{
    return w->bf16 ? r->kb->gemm_bf16w(y, ldy, x, ldx, w->w[i], K, NULL, M, N, K, 1, beta, act)
                   : r->kb->gemm(y, ldy, x, ldx, w->w[i], K, NULL, M, N, K, 1, beta, act);
}

/* x += SelfAttention(RMS(x)) for B prompts of L tokens (no 1/sqrt(dk) scaling in T5). */
static int attention_block_(const wrk_t5_t *t, const t5_lw_t *w, const t5_run_t *r, int B, int L)
{
    const wrk_t5_config_t *c = &t->cfg;
    int D = c->d_model, H = c->num_heads, dk = c->d_kv, NI = H * dk, BL = B * L;
    return r->kb->rmsnorm(r->y, D, r->x, D, BL, D, w->w[T5_LN0], (float)c->eps) ||
           mm_(r, w, T5_Q, r->q, NI, r->y, D, BL, NI, D, 0, K_ACT_NONE) ||
           mm_(r, w, T5_K, r->k, NI, r->y, D, BL, NI, D, 0, K_ACT_NONE) ||
           mm_(r, w, T5_V, r->v, NI, r->y, D, BL, NI, D, 0, K_ACT_NONE) ||
           r->kb->attention_relbias(r->att, r->q, r->k, r->v, NI, (long)L * NI, B, L, H, dk, 1.0f, r->pb) ||
           mm_(r, w, T5_O, r->x, D, r->att, NI, BL, D, NI, 1, K_ACT_NONE);
}

/* x += wo·(gelu_tanh(wi_0·RMS(x)) ⊙ wi_1·RMS(x)). */
static int ffn_block_(const wrk_t5_t *t, const t5_lw_t *w, const t5_run_t *r, int BL)
{
    const wrk_t5_config_t *c = &t->cfg;
    int D = c->d_model, F = c->d_ff;
    return r->kb->rmsnorm(r->y, D, r->x, D, BL, D, w->w[T5_LN1], (float)c->eps) ||
           mm_(r, w, T5_WI0, r->h0, F, r->y, D, BL, F, D, 0, K_ACT_GELU_TANH) ||
           mm_(r, w, T5_WI1, r->h1, F, r->y, D, BL, F, D, 0, K_ACT_NONE) ||
           r->kb->mul(r->h0, r->h0, r->h1, (long)BL * F) ||
           mm_(r, w, T5_WO, r->x, D, r->h0, F, BL, D, F, 1, K_ACT_NONE);
}

/* x (BL, D) host = the embedding rows of ids (resident table, rows read from the weights, or random). */
static int embed_(const wrk_t5_t *t, const int32_t *ids, int BL, float *x, char *err, size_t errlen)
{
    int D = t->cfg.d_model;
    int64_t shape[2] = { t->cfg.vocab_size, D };
    for (int r = 0; r < BL; r++) {
        float *xr = x + (size_t)r * D;
        if (t->emb) memcpy(xr, t->emb + (size_t)ids[r] * D, (size_t)D * sizeof(float));
        else if (t->random) t5_random_fill(xr, D, t->seed, 1u << 20 | (uint64_t)ids[r], 1.0f);
        else if (wrk_st_read_f32_slice(t->st, t->emb_name, 2, shape, ids[r], ids[r] + 1, 0, D, xr, D, err, errlen))
            return -1;
    }
    return 0;
}

/* Layer l's weights for this encode: host layers (reading layer l first when streamed) or device. */
static int layer_weights_(wrk_t5_t *t, int l, float *stage, t5_lw_t *w, char *err, size_t errlen)
{
    int dev = t5_on_device(t), slot = t->opts.stream_weights ? 0 : l;
    if (dev && t->opts.stream_weights && dlayer_upload_(t, l, &t->dl[0], stage, err, errlen)) return -1;
    if (!dev && t->opts.stream_weights) {
        for (int i = 0; i < T5_NLAYER_TENSORS; i++)
            if (t5_fetch_f32(t, t->st, l, i, *(float **)((char *)&t->layers[0] + T5_LAYER_TENSORS[i].off), err, errlen))
                return -1;
    }
    w->bf16 = dev && !t->opts.device_fp32;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++)
        w->w[i] = dev ? t->dl[slot].p[i] : *(float **)((char *)&t->layers[slot] + T5_LAYER_TENSORS[i].off);
    return 0;
}

/* Embeds the ids into r->x (through a host buffer on a device) and uploads the position bias. */
static int forward_inputs_(const wrk_t5_t *t, const t5_run_t *r, const int32_t *ids, int BL, int L, char *err,
                           size_t errlen)
{
    size_t n = (size_t)BL * t->cfg.d_model;
    float *hx = t5_on_device(t) ? malloc(n * sizeof(float)) : r->x;
    int rc = -1;
    if (!hx) { snprintf(err, errlen, "out of memory"); return -1; }
    if (embed_(t, ids, BL, hx, err, errlen)) goto out;
    if ((hx != r->x && r->kb->upload(r->x, hx, n * sizeof(float))) || upload_bias_(t, r, L)) {
        snprintf(err, errlen, "T5 inputs to %s: %s", r->kb->name, k_error());
        goto out;
    }
    rc = 0;
out:
    if (hx != r->x) free(hx);
    return rc;
}

int t5_forward(wrk_t5_t *t, const int32_t *ids, int B, int L, float *out, char *err, size_t errlen)
{
    const wrk_t5_config_t *c = &t->cfg;
    int BL = B * L, D = c->d_model, dev = t5_on_device(t), rc = -1;
    t5_run_t r = { .kb = t5_backend(t) };
    float *stage = dev ? malloc(stage_floats_(c) * sizeof(float)) : NULL;
    *err = 0;
    if (dev && (!stage || device_ready_(t, stage, err, errlen))) { if (!*err) snprintf(err, errlen, "out of memory"); goto out; }
    if (run_alloc_(&r, c, B, L)) { snprintf(err, errlen, "out of memory (T5 scratch, B=%d L=%d, %s)", B, L, r.kb->name); goto out; }
    if (forward_inputs_(t, &r, ids, BL, L, err, errlen)) goto out;
    for (int l = 0; l < c->num_layers; l++) {
        t5_lw_t w;
        if (layer_weights_(t, l, stage, &w, err, errlen)) goto out;
        if (attention_block_(t, &w, &r, B, L) || ffn_block_(t, &w, &r, BL)) {
            snprintf(err, errlen, "T5 layer %d: %s", l, k_error());
            goto out;
        }
    }
    if (r.kb->rmsnorm(r.y, D, r.x, D, BL, D, dev ? t->d_final_ln : t->final_ln, (float)c->eps) ||
        r.kb->download(out, r.y, (size_t)BL * D * sizeof(float))) {
        snprintf(err, errlen, "T5 final norm: %s", k_error());
        goto out;
    }
    rc = 0;
out:
    if (r.x) r.kb->free(r.x);
    free(stage);
    if (dev && !t->opts.keep_device) t5_device_free(t);
    return rc;
}
