/* t5.c — T5 v1.1 encoder (see t5.h): config, host weights (resident, streamed, or random), the
 * backend choice, per-prompt embedding cache and the public API. The forward pass and the weights
 * in backend memory are in t5_fwd.c. Golden: tests/golden/t5, tests/unit/test_t5_golden.c (CPU),
 * tests/unit/test_t5_cuda.c (CUDA). */
#include "worker/model/t5.h"
#include "worker/model/t5_impl.h"

#include "kernels/k.h"
#include "proto/json.h"
#include "worker/model/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

const t5_tensor_t T5_LAYER_TENSORS[T5_NLAYER_TENSORS] = {
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

/* Expected shape; returns ndim. */
int t5_shape_of(const wrk_t5_config_t *c, t5_shape_t s, int64_t dims[2])
{
    int64_t D = c->d_model, NI = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    static const int ND[] = { 1, 2, 2, 2, 2 };
    int64_t rows[] = { D, NI, D, F, D }, cols[] = { 0, D, NI, D, F };
    dims[0] = rows[s];
    dims[1] = cols[s];
    return ND[s];
}

int64_t t5_numel_of(const wrk_t5_config_t *c, t5_shape_t s)
{
    int64_t d[2];
    return t5_shape_of(c, s, d) == 1 ? d[0] : d[0] * d[1];
}

static int layer_alloc(const wrk_t5_config_t *c, t5_layer_t *w)
{
    int64_t total = 0;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) total += t5_numel_of(c, T5_LAYER_TENSORS[i].shape);
    if (!(w->mem = malloc((size_t)total * sizeof(float)))) return -1;
    float *p = w->mem;
    for (int i = 0; i < T5_NLAYER_TENSORS; i++) {
        *(float **)((char *)w + T5_LAYER_TENSORS[i].off) = p;
        p += t5_numel_of(c, T5_LAYER_TENSORS[i].shape);
    }
    return 0;
}

/* Host weights of layer l (fp32) into w: from st, or random values (t->random). */
static int layer_read(const wrk_t5_t *t, const wrk_st_t *st, int l, t5_layer_t *w, char *err, size_t errlen)
{
    for (int i = 0; i < T5_NLAYER_TENSORS; i++)
        if (t5_fetch_f32(t, st, l, i, *(float **)((char *)w + T5_LAYER_TENSORS[i].off), err, errlen)) return -1;
    return 0;
}

/* Backends and host-light modes: on a device (or when streaming) the host keeps only the mmap. */
int t5_on_device(const wrk_t5_t *t) { return t->opts.kb && t->opts.kb != k_backend_cpu(); }
const k_backend_t *t5_backend(const wrk_t5_t *t) { return t->opts.kb ? t->opts.kb : k_backend_cpu(); }
static int host_light(const wrk_t5_t *t) { return t->opts.stream_weights || t5_on_device(t); }

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
    if (host_light(t)) {   /* check the shape now; rows are read per token later */
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
    int nd = t5_shape_of(&t->cfg, sh, dims);
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
    int n = t5_on_device(t) ? 0 : t->opts.stream_weights ? 1 : t->cfg.num_layers;
    char name[128];
    if (n && !(t->layers = calloc((size_t)n, sizeof *t->layers))) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int l = 0; l < n; l++)
        if (layer_alloc(&t->cfg, &t->layers[l])) {
            snprintf(err, errlen, "out of memory (layer %d)", l);
            return -1;
        }
    for (int l = 0; l < t->cfg.num_layers; l++) {   /* streaming / device: check every layer is there, read later */
        if (!host_light(t)) {
            if (layer_read(t, st, l, &t->layers[l], err, errlen)) return -1;
            continue;
        }
        for (int i = 0; !t->random && i < T5_NLAYER_TENSORS; i++) {
            snprintf(name, sizeof name, T5_LAYER_TENSORS[i].fmt, l);
            if (check_shape(t, st, name, T5_LAYER_TENSORS[i].shape, err, errlen)) return -1;
        }
    }
    return 0;
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
    if (host_light(t)) t->st = st;
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
    t5_device_free(t);
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
    const char *dev = !t5_on_device(t) ? "" : t->opts.device_fp32 ? " as fp32" : " as bf16";
    snprintf(buf, n, "T5 encoder: %d layers, %dx%d heads (d_model %d), d_ff %d, vocab %d, %s weights, %s on %s%s%s",
             c->num_layers, c->num_heads, c->d_kv, c->d_model, c->d_ff, c->vocab_size, t->dtype,
             t->opts.stream_weights ? "streamed per layer" : "resident", t5_backend(t)->name, dev,
             t5_on_device(t) && !t->opts.keep_device ? " (freed after each encode)" : "");
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
        if (t5_forward(t, mids, nm, L, mout, err, errlen)) goto out;
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

void wrk_t5_release_device(wrk_t5_t *t) { if (t) t5_device_free(t); }

/* Random mode: no files; rel ~ U(-1, 1), final norm ones; host layers only on the CPU backend. */
static int random_init(wrk_t5_t *t, char *err, size_t errlen)
{
    const wrk_t5_config_t *c = &t->cfg;
    int nrel = c->num_buckets * c->num_heads;
    snprintf(t->dtype, sizeof t->dtype, "random");
    snprintf(t->dir, sizeof t->dir, "(random weights, seed %llu)", (unsigned long long)t->seed);
    if (!(t->rel = malloc((size_t)(nrel + c->d_model) * sizeof(float)))) { snprintf(err, errlen, "out of memory"); return -1; }
    t->final_ln = t->rel + nrel;
    t5_random_fill(t->rel, nrel, t->seed, 2, 1.0f);
    t5_random_fill(t->final_ln, c->d_model, t->seed, 3, 0.0f);
    return read_layers(t, NULL, err, errlen);
}

int wrk_t5_new_random(const wrk_t5_config_t *c, uint64_t seed, const wrk_t5_opts_t *opts, wrk_t5_t **out, char *err,
                      size_t errlen)
{
    wrk_t5_t *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    if (opts) t->opts = *opts;
    if (!t->opts.cache_entries) t->opts.cache_entries = 16;
    t->cfg = *c;
    t->random = 1;
    t->seed = seed;
    if (c->d_model < 1 || c->d_kv < 1 || c->num_heads < 1 || c->d_ff < 1 || c->num_layers < 1 || c->vocab_size < 1 ||
        c->num_buckets < 4 || c->num_buckets % 2 || c->max_distance <= c->num_buckets / 4) {
        snprintf(err, errlen, "T5 random: bad config");
        goto fail;
    }
    if (cache_cap(t) && !(t->cache = calloc((size_t)cache_cap(t), sizeof *t->cache))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (random_init(t, err, errlen)) goto fail;
    *out = t;
    return 0;
fail:
    wrk_t5_destroy(&t);
    return -1;
}
