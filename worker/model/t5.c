/* t5.c — T5 v1.1 encoder on the CPU (see t5.h): config, weights, forward with GEMM attention and
 * relative-position bias, per-prompt embedding cache. Golden: tests/golden/t5,
 * tests/unit/test_t5_golden.c. */
#include "worker/model/t5.h"

#include "kernels/k.h"
#include "proto/json.h"
#include "worker/model/safetensors.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------- types ---------------- */

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
    wrk_st_t        *st;            /* kept open only when streaming weights */
    char             emb_name[40];  /* shared.weight or encoder.embed_tokens.weight */
    float           *emb;           /* (V, D), resident mode only */
    float           *rel;           /* (num_buckets, H) relative_attention_bias of block 0 */
    float           *final_ln;      /* (D) */
    t5_layer_t      *layers;        /* num_layers (resident) or 1 scratch layer (streaming) */
    t5_cache_entry_t *cache;
    int              cache_n;
    long             stamp, hits, misses;
};

/* Scratch of one forward over BL = B·L rows. */
typedef struct {
    float *x, *y;               /* (BL, D) residual stream, normed copy */
    float *q, *k, *v, *att;     /* (BL, H·dk) */
    float *h0, *h1;             /* (BL, F) */
    float *S;                   /* (threads, L, L) logits, one block per thread */
    int   *bk;                  /* (2L − 1) bucket of rel = j − i, index rel + L − 1 */
} t5_scratch_t;

/* ---------------- config ---------------- */

typedef struct {
    const char *name;
    size_t      off;            /* into wrk_t5_config_t */
    int         is_double;
    double      lo, hi, def;    /* defaults: transformers' T5Config */
} t5_field_t;

#define T5_INT(n, m, lo, hi, d) { n, offsetof(wrk_t5_config_t, m), 0, lo, hi, d }
static const t5_field_t T5_FIELDS[] = {
    T5_INT("vocab_size", vocab_size, 1, 1 << 24, 32128),
    T5_INT("d_model", d_model, 1, 1 << 16, 512),
    T5_INT("d_kv", d_kv, 1, 4096, 64),
    T5_INT("num_heads", num_heads, 1, 1024, 8),
    T5_INT("d_ff", d_ff, 1, 1 << 20, 2048),
    T5_INT("num_layers", num_layers, 1, 1024, 6),
    T5_INT("relative_attention_num_buckets", num_buckets, 4, 4096, 32),
    T5_INT("relative_attention_max_distance", max_distance, 2, 1 << 20, 128),
    { "layer_norm_epsilon", offsetof(wrk_t5_config_t, eps), 1, 0, 1, 1e-6 },
};
#define T5_NFIELDS (int)(sizeof T5_FIELDS / sizeof T5_FIELDS[0])

static int config_field(const proto_json_t *root, const t5_field_t *f, wrk_t5_config_t *c,
                        const char *what, char *err, size_t errlen)
{
    double v = f->def;
    int64_t iv = 0;
    int rc = f->is_double ? proto_json_get_num(root, f->name, &v) : proto_json_get_int(root, f->name, &iv);
    if (rc == 0 && !f->is_double) v = (double)iv;
    if (rc < 0 || v < f->lo || v > f->hi) {
        snprintf(err, errlen, "%s: field \"%s\": expected %s in [%g, %g]", what, f->name,
                 f->is_double ? "a number" : "an integer", f->lo, f->hi);
        return -1;
    }
    if (f->is_double) *(double *)((char *)c + f->off) = v;
    else *(int *)((char *)c + f->off) = (int)v;
    return 0;
}

int wrk_t5_config_parse(const char *text, size_t len, const char *what, wrk_t5_config_t *c, char *err,
                        size_t errlen)
{
    proto_json_t *root = NULL;
    const char *proj = NULL, *act = NULL;
    char jerr[200];
    int rc = -1;
    if (proto_json_parse(text, len, NULL, &root, NULL, jerr, sizeof jerr)) {
        snprintf(err, errlen, "%s: %s", what, jerr);
        return -1;
    }
    if (root->type != PROTO_JSON_OBJECT) { snprintf(err, errlen, "%s: not a JSON object", what); goto out; }
    for (int i = 0; i < T5_NFIELDS; i++)
        if (config_field(root, &T5_FIELDS[i], c, what, err, errlen)) goto out;
    if (proto_json_get_str(root, "feed_forward_proj", &proj) != 0 || strcmp(proj, "gated-gelu")) {
        snprintf(err, errlen, "%s: field \"feed_forward_proj\": \"%s\" (only T5 v1.1 \"gated-gelu\" is supported)",
                 what, proj ? proj : "relu");
        goto out;
    }
    if (proto_json_get_str(root, "dense_act_fn", &act) < 0 ||
        (act && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))) {
        snprintf(err, errlen, "%s: field \"dense_act_fn\": \"%s\" (expected gelu_new)", what, act ? act : "?");
        goto out;
    }
    if (c->num_buckets % 2 || c->max_distance <= c->num_buckets / 4) {
        snprintf(err, errlen, "%s: relative_attention_num_buckets must be even and max_distance above "
                 "num_buckets/4", what);
        goto out;
    }
    rc = 0;
out:
    proto_json_free(&root);
    return rc;
}

static int read_text(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    char *buf = NULL;
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > (16L << 20) || fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1)) ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errlen, "%s: cannot read (or larger than 16 MiB)", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    *len = (size_t)n;
    return 0;
}

/* ---------------- relative position bias ---------------- */

int wrk_t5_bucket(int rel, int num_buckets, int max_distance)
{
    int half = num_buckets / 2, ret = rel > 0 ? half : 0, n = rel < 0 ? -rel : rel, exact = half / 2;
    if (n < exact) return ret + n;
    /* float32 throughout, as torch computes it: log(n / exact) / log(max/exact) · (half − exact) */
    float v = logf((float)n / (float)exact) / (float)log((double)max_distance / exact) * (float)(half - exact);
    long large = exact + (long)v;
    return ret + (int)(large < half - 1 ? large : half - 1);
}

/* ---------------- weights ---------------- */

typedef struct {
    const char *fmt;            /* name with the layer index */
    size_t      off;            /* float * member of t5_layer_t */
    t5_shape_t  shape;
} t5_tensor_t;

static const t5_tensor_t T5_LAYER_TENSORS[] = {
    { "encoder.block.%d.layer.0.layer_norm.weight", offsetof(t5_layer_t, ln0), SH_D },
    { "encoder.block.%d.layer.0.SelfAttention.q.weight", offsetof(t5_layer_t, q), SH_INNER_D },
    { "encoder.block.%d.layer.0.SelfAttention.k.weight", offsetof(t5_layer_t, k), SH_INNER_D },
    { "encoder.block.%d.layer.0.SelfAttention.v.weight", offsetof(t5_layer_t, v), SH_INNER_D },
    { "encoder.block.%d.layer.0.SelfAttention.o.weight", offsetof(t5_layer_t, o), SH_D_INNER },
    { "encoder.block.%d.layer.1.layer_norm.weight", offsetof(t5_layer_t, ln1), SH_D },
    { "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", offsetof(t5_layer_t, wi0), SH_F_D },
    { "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", offsetof(t5_layer_t, wi1), SH_F_D },
    { "encoder.block.%d.layer.1.DenseReluDense.wo.weight", offsetof(t5_layer_t, wo), SH_D_F },
};
#define T5_NLAYER_TENSORS (int)(sizeof T5_LAYER_TENSORS / sizeof T5_LAYER_TENSORS[0])

/* Expected shape; returns ndim. */
static int shape_of(const wrk_t5_config_t *c, t5_shape_t s, int64_t dims[2])
{
    int64_t D = c->d_model, NI = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    static const int ND[] = { 1, 2, 2, 2, 2 };
    int64_t rows[] = { D, NI, D, F, D }, cols[] = { 0, D, NI, D, F };
    dims[0] = rows[s];
    dims[1] = cols[s];
    return ND[s];
}

static int64_t numel_of(const wrk_t5_config_t *c, t5_shape_t s)
{
    int64_t d[2];
    return shape_of(c, s, d) == 1 ? d[0] : d[0] * d[1];
}

static int layer_alloc(const wrk_t5_config_t *c, t5_layer_t *w)
{
    int64_t total = 0;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) total += numel_of(c, T5_LAYER_TENSORS[i].shape);
    if (!(w->mem = malloc((size_t)total * sizeof(float)))) return -1;
    float *p = w->mem;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        *(float **)((char *)w + T5_LAYER_TENSORS[i].off) = p;
        p += numel_of(c, T5_LAYER_TENSORS[i].shape);
    }
    return 0;
}

static int layer_read(const wrk_st_t *st, const wrk_t5_config_t *c, int l, t5_layer_t *w, char *err,
                      size_t errlen)
{
    char name[128];
    int64_t dims[2];
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        const t5_tensor_t *t = &T5_LAYER_TENSORS[i];
        int nd = shape_of(c, t->shape, dims);
        snprintf(name, sizeof name, t->fmt, l);
        if (wrk_st_read_f32(st, name, nd, dims, *(float **)((char *)w + t->off), numel_of(c, t->shape),
                            err, errlen))
            return -1;
    }
    return 0;
}

/* Embedding, relative bias table, final norm, layer count and dtype checks. */
static int read_globals(wrk_t5_t *t, const wrk_st_t *st, char *err, size_t errlen)
{
    const wrk_t5_config_t *c = &t->cfg;
    int64_t rel_shape[2] = { c->num_buckets, c->num_heads }, emb_shape[2] = { c->vocab_size, c->d_model };
    int64_t D = c->d_model;
    char name[128];
    const char *rel = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
    const wrk_st_tensor_t *e = wrk_st_find(st, "shared.weight");
    snprintf(t->emb_name, sizeof t->emb_name, "%s", e ? "shared.weight" : "encoder.embed_tokens.weight");
    if (!e && !(e = wrk_st_find(st, t->emb_name))) {
        snprintf(err, errlen, "%s: no shared.weight or encoder.embed_tokens.weight in the weights", t->dir);
        return -1;
    }
    snprintf(t->dtype, sizeof t->dtype, "%s", wrk_st_dtype_name(e->dtype));
    snprintf(name, sizeof name, "encoder.block.%d.layer.0.layer_norm.weight", c->num_layers);
    if (wrk_st_find(st, name)) {
        snprintf(err, errlen, "%s: config.json says num_layers %d but the weights hold %s (%s)", t->dir,
                 c->num_layers, name, wrk_st_find(st, name)->file);
        return -1;
    }
    t->rel = malloc((size_t)(c->num_buckets * c->num_heads + D) * sizeof(float));
    if (!t->rel) { snprintf(err, errlen, "out of memory"); return -1; }
    t->final_ln = t->rel + c->num_buckets * c->num_heads;
    if (wrk_st_read_f32(st, rel, 2, rel_shape, t->rel, rel_shape[0] * rel_shape[1], err, errlen) ||
        wrk_st_read_f32(st, "encoder.final_layer_norm.weight", 1, &D, t->final_ln, D, err, errlen))
        return -1;
    if (t->opts.stream_weights) {   /* check the shape now; rows are read per token later */
        if (e->ndim != 2 || e->shape[0] != emb_shape[0] || e->shape[1] != emb_shape[1]) {
            snprintf(err, errlen, "%s: tensor %s: shape does not match config.json [%d, %d]", e->file,
                     t->emb_name, c->vocab_size, c->d_model);
            return -1;
        }
        return 0;
    }
    if (!(t->emb = malloc((size_t)(emb_shape[0] * emb_shape[1]) * sizeof(float)))) {
        snprintf(err, errlen, "out of memory (embedding %d x %d)", c->vocab_size, c->d_model);
        return -1;
    }
    return wrk_st_read_f32(st, t->emb_name, 2, emb_shape, t->emb, emb_shape[0] * emb_shape[1], err, errlen);
}

/* Streaming mode: a tensor read later must exist now with the shape config.json implies. */
static int check_shape(const wrk_t5_t *t, const wrk_st_t *st, const char *name, t5_shape_t sh, char *err,
                       size_t errlen)
{
    int64_t dims[2];
    int nd = shape_of(&t->cfg, sh, dims);
    const wrk_st_tensor_t *e = wrk_st_find(st, name);
    if (!e) { snprintf(err, errlen, "%s: tensor %s missing", t->dir, name); return -1; }
    if (e->ndim != nd || e->shape[0] != dims[0] || (nd == 2 && e->shape[1] != dims[1])) {
        snprintf(err, errlen, "%s: tensor %s: shape does not match config.json (expected [%lld%s%lld])", e->file,
                 name, (long long)dims[0], nd == 2 ? ", " : "", nd == 2 ? (long long)dims[1] : 0LL);
        return -1;
    }
    return 0;
}

static int read_layers(wrk_t5_t *t, const wrk_st_t *st, char *err, size_t errlen)
{
    int n = t->opts.stream_weights ? 1 : t->cfg.num_layers;
    char name[128];
    if (!(t->layers = calloc((size_t)n, sizeof *t->layers))) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int l = 0; l < n; l++)
        if (layer_alloc(&t->cfg, &t->layers[l])) {
            snprintf(err, errlen, "out of memory (layer %d)", l);
            return -1;
        }
    for (int l = 0; l < t->cfg.num_layers; l++) {   /* streaming: check every layer is there, read later */
        if (!t->opts.stream_weights) {
            if (layer_read(st, &t->cfg, l, &t->layers[l], err, errlen)) return -1;
            continue;
        }
        for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
            snprintf(name, sizeof name, T5_LAYER_TENSORS[i].fmt, l);
            if (check_shape(t, st, name, T5_LAYER_TENSORS[i].shape, err, errlen)) return -1;
        }
    }
    return 0;
}

/* ---------------- forward ---------------- */

static void scratch_free(t5_scratch_t *s)
{
    free(s->x);
    free(s->bk);
    memset(s, 0, sizeof *s);
}

static int scratch_alloc(const wrk_t5_config_t *c, int B, int L, int threads, t5_scratch_t *s)
{
    size_t BL = (size_t)B * L, D = (size_t)c->d_model, NI = (size_t)c->num_heads * c->d_kv, F = (size_t)c->d_ff;
    size_t total = 2 * BL * D + 4 * BL * NI + 2 * BL * F + (size_t)threads * L * L;
    memset(s, 0, sizeof *s);
    s->x = malloc(total * sizeof(float));
    s->bk = malloc((size_t)(2 * L - 1) * sizeof(int));
    if (!s->x || !s->bk) { scratch_free(s); return -1; }
    s->y = s->x + BL * D;
    s->q = s->y + BL * D;
    s->k = s->q + BL * NI;
    s->v = s->k + BL * NI;
    s->att = s->v + BL * NI;
    s->h0 = s->att + BL * NI;
    s->h1 = s->h0 + BL * F;
    s->S = s->h1 + BL * F;
    for (int r = -(L - 1); r <= L - 1; r++) s->bk[r + L - 1] = wrk_t5_bucket(r, c->num_buckets, c->max_distance);
    return 0;
}

/* One head of one prompt: S = q·kᵀ + bias (no 1/sqrt(dk)), softmax over keys, att = S·v.
 * q, k, v, att point at the head's first column in (L, H·dk) rows of stride ld. */
static void head_attention(const float *q, const float *k, const float *v, float *att, int ld, int L, int dk,
                           const float *rel, int H, int h, const int *bk, float *S /* (L, L) */)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dk, 1.0f, q, ld, k, ld, 0.0f, S, L);
    for (int i = 0; i < L; i++) {
        float *row = S + (size_t)i * L, mx = -INFINITY, sum = 0;
        const int *b = bk + (L - 1 - i);          /* b[j] = bucket(j − i) */
        for (int j = 0; j < L; j++) {
            row[j] += rel[b[j] * H + h];
            mx = row[j] > mx ? row[j] : mx;
        }
        for (int j = 0; j < L; j++) sum += (row[j] = expf(row[j] - mx));
        for (int j = 0; j < L; j++) row[j] /= sum;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dk, L, 1.0f, S, L, v, ld, 0.0f, att, ld);
}

/* x += SelfAttention(RMS(x)) for B prompts of L tokens. */
static int attention_block(const wrk_t5_t *t, const t5_layer_t *w, t5_scratch_t *s, int B, int L, int nt)
{
    const wrk_t5_config_t *c = &t->cfg;
    int D = c->d_model, H = c->num_heads, dk = c->d_kv, NI = H * dk, BL = B * L;
    if (k_cpu_rmsnorm(s->y, D, s->x, D, BL, D, w->ln0, (float)c->eps) ||
        k_cpu_gemm(s->q, NI, s->y, D, w->q, D, NULL, BL, NI, D, 1, 0, K_ACT_NONE) ||
        k_cpu_gemm(s->k, NI, s->y, D, w->k, D, NULL, BL, NI, D, 1, 0, K_ACT_NONE) ||
        k_cpu_gemm(s->v, NI, s->y, D, w->v, D, NULL, BL, NI, D, 1, 0, K_ACT_NONE))
        return -1;
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        size_t off = (size_t)(bh / H) * L * NI + (size_t)(bh % H) * dk;
        head_attention(s->q + off, s->k + off, s->v + off, s->att + off, NI, L, dk, t->rel, H, bh % H, s->bk,
                       s->S + (size_t)omp_get_thread_num() * L * L);
    }
    return k_cpu_gemm(s->x, D, s->att, NI, w->o, NI, NULL, BL, D, NI, 1, 1, K_ACT_NONE);
}

/* x += wo·(gelu_tanh(wi_0·RMS(x)) ⊙ wi_1·RMS(x)). */
static int ffn_block(const wrk_t5_t *t, const t5_layer_t *w, t5_scratch_t *s, int BL, int nt)
{
    const wrk_t5_config_t *c = &t->cfg;
    int D = c->d_model, F = c->d_ff;
    long n = (long)BL * F;
    if (k_cpu_rmsnorm(s->y, D, s->x, D, BL, D, w->ln1, (float)c->eps) ||
        k_cpu_gemm(s->h0, F, s->y, D, w->wi0, D, NULL, BL, F, D, 1, 0, K_ACT_GELU_TANH) ||
        k_cpu_gemm(s->h1, F, s->y, D, w->wi1, D, NULL, BL, F, D, 1, 0, K_ACT_NONE))
        return -1;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; i++) s->h0[i] *= s->h1[i];
    return k_cpu_gemm(s->x, D, s->h0, F, w->wo, F, NULL, BL, D, F, 1, 1, K_ACT_NONE);
}

static int embed(const wrk_t5_t *t, const int32_t *ids, int BL, float *x, char *err, size_t errlen)
{
    int D = t->cfg.d_model;
    for (int r = 0; r < BL; r++) {
        if (t->emb) {
            memcpy(x + (size_t)r * D, t->emb + (size_t)ids[r] * D, (size_t)D * sizeof(float));
            continue;
        }
        int64_t shape[2] = { t->cfg.vocab_size, D };
        if (wrk_st_read_f32_slice(t->st, t->emb_name, 2, shape, ids[r], ids[r] + 1, 0, D, x + (size_t)r * D, D,
                                  err, errlen))
            return -1;
    }
    return 0;
}

/* The encoder over B prompts (no cache): ids (B, L) → out (B, L, D). */
static int forward(wrk_t5_t *t, const int32_t *ids, int B, int L, float *out, char *err, size_t errlen)
{
    const wrk_t5_config_t *c = &t->cfg;
    int nt = k_threads(), BL = B * L, rc = -1;
    t5_scratch_t s;
    if (scratch_alloc(c, B, L, nt, &s)) { snprintf(err, errlen, "out of memory (T5 scratch, B=%d L=%d)", B, L); return -1; }
    if (embed(t, ids, BL, s.x, err, errlen)) goto out;
    for (int l = 0; l < c->num_layers; l++) {
        const t5_layer_t *w = &t->layers[t->opts.stream_weights ? 0 : l];
        if (t->opts.stream_weights && layer_read(t->st, c, l, &t->layers[0], err, errlen)) goto out;
        if (attention_block(t, w, &s, B, L, nt) || ffn_block(t, w, &s, BL, nt)) {
            snprintf(err, errlen, "T5 layer %d: %s", l, k_error());
            goto out;
        }
    }
    if (k_cpu_rmsnorm(out, c->d_model, s.x, c->d_model, BL, c->d_model, t->final_ln, (float)c->eps)) {
        snprintf(err, errlen, "T5 final norm: %s", k_error());
        goto out;
    }
    rc = 0;
out:
    scratch_free(&s);
    return rc;
}

/* ---------------- cache ---------------- */

static int cache_cap(const wrk_t5_t *t) { return t->opts.cache_entries < 0 ? 0 : t->opts.cache_entries; }

static t5_cache_entry_t *cache_find(wrk_t5_t *t, const int32_t *ids, int L)
{
    for (int i = 0; i < t->cache_n; i++)
        if (t->cache[i].L == L && !memcmp(t->cache[i].ids, ids, (size_t)L * sizeof *ids)) {
            t->cache[i].stamp = ++t->stamp;
            return &t->cache[i];
        }
    return NULL;
}

/* Stores one prompt's output (copied); evicts the least recently used entry when full. */
static void cache_put(wrk_t5_t *t, const int32_t *ids, int L, const float *out)
{
    size_t D = (size_t)t->cfg.d_model;
    int i = t->cache_n, cap = cache_cap(t);
    int32_t *ci = malloc((size_t)L * sizeof *ci);
    float *co = malloc((size_t)L * D * sizeof *co);
    if (!cap || !ci || !co) { free(ci); free(co); return; }   /* a cache miss later, never an error */
    if (t->cache_n == cap) {
        i = 0;
        for (int j = 1; j < t->cache_n; j++) if (t->cache[j].stamp < t->cache[i].stamp) i = j;
        free(t->cache[i].ids);
        free(t->cache[i].out);
    } else {
        t->cache_n++;
    }
    memcpy(ci, ids, (size_t)L * sizeof *ci);
    memcpy(co, out, (size_t)L * D * sizeof *co);
    t->cache[i] = (t5_cache_entry_t){ ci, co, L, ++t->stamp };
}

void wrk_t5_cache_clear(wrk_t5_t *t)
{
    for (int i = 0; i < t->cache_n; i++) { free(t->cache[i].ids); free(t->cache[i].out); }
    t->cache_n = 0;
}

void wrk_t5_cache_stats(const wrk_t5_t *t, long *hits, long *misses)
{
    *hits = t->hits;
    *misses = t->misses;
}

/* ---------------- public API ---------------- */

static int resolve_dir(const char *path, char *dir, size_t n, char *err, size_t errlen)
{
    struct stat st;
    char cfg[1100];
    snprintf(dir, n, "%s/text_encoder", path);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (stat(cfg, &st) == 0) return 0;
    snprintf(dir, n, "%s", path);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (stat(cfg, &st) == 0) return 0;
    snprintf(err, errlen, "%s: no text_encoder/config.json or config.json", path);
    return -1;
}

static int load_config(wrk_t5_t *t, char *err, size_t errlen)
{
    char path[1100], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", t->dir);
    if (read_text(path, &text, &len, err, errlen)) return -1;
    int rc = wrk_t5_config_parse(text, len, path, &t->cfg, err, errlen);
    free(text);
    return rc;
}

int wrk_t5_load(const char *path, const wrk_t5_opts_t *opts, wrk_t5_t **out, char *err, size_t errlen)
{
    wrk_st_t *st = NULL;
    wrk_t5_t *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    if (opts) t->opts = *opts;
    if (!t->opts.cache_entries) t->opts.cache_entries = 16;
    if (cache_cap(t) && !(t->cache = calloc((size_t)cache_cap(t), sizeof *t->cache))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (resolve_dir(path, t->dir, sizeof t->dir, err, errlen) || load_config(t, err, errlen) ||
        wrk_st_open(t->dir, &st, err, errlen) || read_globals(t, st, err, errlen) ||
        read_layers(t, st, err, errlen))
        goto fail;
    if (t->opts.stream_weights) t->st = st;
    else wrk_st_close(&st);
    *out = t;
    return 0;
fail:
    wrk_st_close(&st);
    wrk_t5_destroy(&t);
    return -1;
}

void wrk_t5_destroy(wrk_t5_t **p)
{
    wrk_t5_t *t = p ? *p : NULL;
    if (!t) return;
    wrk_t5_cache_clear(t);
    free(t->cache);
    for (int l = 0; t->layers && l < (t->opts.stream_weights ? 1 : t->cfg.num_layers); l++) free(t->layers[l].mem);
    free(t->layers);
    free(t->emb);
    free(t->rel);
    wrk_st_close(&t->st);
    free(t);
    *p = NULL;
}

const wrk_t5_config_t *wrk_t5_config(const wrk_t5_t *t) { return &t->cfg; }

void wrk_t5_str(const wrk_t5_t *t, char *buf, size_t n)
{
    const wrk_t5_config_t *c = &t->cfg;
    snprintf(buf, n, "T5 encoder: %d layers, %dx%d heads (d_model %d), d_ff %d, vocab %d, %s weights, %s",
             c->num_layers, c->num_heads, c->d_kv, c->d_model, c->d_ff, c->vocab_size, t->dtype,
             t->opts.stream_weights ? "streamed per layer" : "resident");
}

/* Sorts the rows of ids: served by the cache (copied into out now, src[b] = -1), the same as an
 * earlier miss (src[b] = that miss), or a new miss (appended to mids). Returns the miss count. */
static int plan_rows(wrk_t5_t *t, const int32_t *ids, int B, int L, float *out, int *src, int32_t *mids)
{
    size_t row = (size_t)L * t->cfg.d_model, bytes = (size_t)L * sizeof *ids;
    int nm = 0;
    for (int b = 0; b < B; b++) {
        const int32_t *r = ids + (size_t)b * L;
        t5_cache_entry_t *e = cache_find(t, r, L);
        src[b] = -1;
        if (e) { memcpy(out + b * row, e->out, row * sizeof(float)); t->hits++; continue; }
        for (int m = 0; m < nm && src[b] < 0; m++)
            if (!memcmp(mids + (size_t)m * L, r, bytes)) src[b] = m;
        if (src[b] >= 0) { t->hits++; continue; }
        memcpy(mids + (size_t)nm * L, r, bytes);
        src[b] = nm++;
        t->misses++;
    }
    return nm;
}

static int check_ids(const wrk_t5_t *t, const int32_t *ids, int B, int L, char *err, size_t errlen)
{
    for (long i = 0; i < (long)B * L; i++)
        if (ids[i] < 0 || ids[i] >= t->cfg.vocab_size) {
            snprintf(err, errlen, "T5 encode: token id %d at [%ld, %ld] outside [0, %d)", ids[i], i / L, i % L,
                     t->cfg.vocab_size);
            return -1;
        }
    return 0;
}

/* Rows not served by the cache or by an identical earlier row are computed once, as one batch. */
int wrk_t5_encode(wrk_t5_t *t, const int32_t *ids, int B, int L, float *out, char *err, size_t errlen)
{
    size_t row;
    int *src = NULL, nm, rc = -1;
    int32_t *mids = NULL;
    float *mout = NULL;
    if (!t || !ids || !out || B < 1 || L < 1 || (long)B * L > (1L << 24)) {
        snprintf(err, errlen, "T5 encode: bad arguments (B %d, L %d)", B, L);
        return -1;
    }
    if (check_ids(t, ids, B, L, err, errlen)) return -1;
    row = (size_t)L * t->cfg.d_model;
    src = malloc((size_t)B * sizeof *src);
    mids = malloc((size_t)B * L * sizeof *mids);
    if (!src || !mids) { snprintf(err, errlen, "out of memory"); goto out; }
    nm = plan_rows(t, ids, B, L, out, src, mids);
    if (nm) {
        if (!(mout = malloc((size_t)nm * row * sizeof(float)))) { snprintf(err, errlen, "out of memory"); goto out; }
        if (forward(t, mids, nm, L, mout, err, errlen)) goto out;
        for (int m = 0; m < nm; m++) cache_put(t, mids + (size_t)m * L, L, mout + m * row);
        for (int b = 0; b < B; b++)
            if (src[b] >= 0) memcpy(out + b * row, mout + src[b] * row, row * sizeof(float));
    }
    rc = 0;
out:
    free(src);
    free(mids);
    free(mout);
    return rc;
}
