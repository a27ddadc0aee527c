/* vae.c — loading the CogVideoX VAE decoder: vae/config.json through one field table, the decoder.*
 * tensors with checked shapes (packed for kernels/k_conv.h), sizes and frame counts. The forward
 * pass, temporal chunking and tiling are in vae_decode.c. Interface: vae.h.
 */
#include "worker/model/vae.h"
#include "worker/model/vae_impl.h"

#include "kernels/k.h"
#include "kernels/k_conv.h"
#include "proto/json.h"
#include "worker/model/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------- config.json ---------------- */

typedef enum { F_INT, F_NUM, F_IGNORE } vae_ftype_t;

/* Known fields: the decoder's (typed, ranged) and the encoder/pipeline-side ones we ignore. */
static const struct { const char *name; vae_ftype_t type; size_t off; double lo, hi; } VAE_FIELDS[] = {
    { "latent_channels",            F_INT, offsetof(wrk_vae_config_t, latent_channels), 1, 4096 },
    { "out_channels",               F_INT, offsetof(wrk_vae_config_t, out_channels), 1, 64 },
    { "layers_per_block",           F_INT, offsetof(wrk_vae_config_t, layers_per_block), 1, 64 },
    { "norm_num_groups",            F_INT, offsetof(wrk_vae_config_t, norm_num_groups), 1, 4096 },
    { "norm_eps",                   F_NUM, offsetof(wrk_vae_config_t, norm_eps), 0, 1 },
    { "temporal_compression_ratio", F_INT, offsetof(wrk_vae_config_t, temporal_compression_ratio), 1, 64 },
    { "sample_height",              F_INT, offsetof(wrk_vae_config_t, sample_height), 8, 1 << 16 },
    { "sample_width",               F_INT, offsetof(wrk_vae_config_t, sample_width), 8, 1 << 16 },
    { "scaling_factor",             F_NUM, offsetof(wrk_vae_config_t, scaling_factor), 1e-6, 1e6 },
    { "in_channels", F_IGNORE, 0, 0, 0 },          { "down_block_types", F_IGNORE, 0, 0, 0 },
    { "force_upcast", F_IGNORE, 0, 0, 0 },         { "use_quant_conv", F_IGNORE, 0, 0, 0 },
    { "shift_factor", F_IGNORE, 0, 0, 0 },         { "latents_mean", F_IGNORE, 0, 0, 0 },
    { "latents_std", F_IGNORE, 0, 0, 0 },          { "invert_scale_latents", F_IGNORE, 0, 0, 0 },
    /* checked by hand below */
    { "block_out_channels", F_IGNORE, 0, 0, 0 },   { "up_block_types", F_IGNORE, 0, 0, 0 },
    { "act_fn", F_IGNORE, 0, 0, 0 },               { "use_post_quant_conv", F_IGNORE, 0, 0, 0 },
};

static int ferr_(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ferr_(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void config_default_(wrk_vae_config_t *c)
{
    static const int boc[4] = { 128, 256, 256, 512 };
    memset(c, 0, sizeof *c);
    memcpy(c->block_out_channels, boc, sizeof boc);
    c->n_blocks = 4; c->latent_channels = 16; c->out_channels = 3; c->layers_per_block = 3;
    c->norm_num_groups = 32; c->norm_eps = 1e-6; c->temporal_compression_ratio = 4;
    c->sample_height = 480; c->sample_width = 720; c->scaling_factor = 1.15258426;
}

static int config_field_(const proto_json_t *kv, wrk_vae_config_t *c, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof VAE_FIELDS / sizeof VAE_FIELDS[0]; i++) {
        if (strcmp(VAE_FIELDS[i].name, kv->key)) continue;
        if (VAE_FIELDS[i].type == F_IGNORE) return 0;
        int is_int = VAE_FIELDS[i].type == F_INT;
        if (kv->type != PROTO_JSON_NUMBER || (is_int && (!kv->is_int && kv->num != floor(kv->num))))
            return ferr_(err, errlen, "%s: field %s: expected %s", what, kv->key, is_int ? "an integer" : "a number");
        if (!(kv->num >= VAE_FIELDS[i].lo && kv->num <= VAE_FIELDS[i].hi))
            return ferr_(err, errlen, "%s: field %s: %g out of range [%g, %g]", what, kv->key, kv->num,
                         VAE_FIELDS[i].lo, VAE_FIELDS[i].hi);
        if (is_int) *(int *)((char *)c + VAE_FIELDS[i].off) = (int)kv->num;
        else *(double *)((char *)c + VAE_FIELDS[i].off) = kv->num;
        return 0;
    }
    if (kv->key[0] == '_') return 0;   /* _class_name, _diffusers_version, _name_or_path */
    return ferr_(err, errlen, "%s: unknown field %s", what, kv->key);
}

static int config_blocks_(const proto_json_t *root, wrk_vae_config_t *c, const char *what, char *err, size_t errlen)
{
    const proto_json_t *boc = proto_json_get(root, "block_out_channels");
    if (boc) {
        size_t n = proto_json_len(boc);
        if (boc->type != PROTO_JSON_ARRAY || n < 1 || n > WRK_VAE_MAX_BLOCKS)
            return ferr_(err, errlen, "%s: field block_out_channels: expected an array of 1..%d integers", what, WRK_VAE_MAX_BLOCKS);
        for (size_t i = 0; i < n; i++) {
            const proto_json_t *v = proto_json_at(boc, i);
            if (v->type != PROTO_JSON_NUMBER || !v->is_int || v->i64 < 1 || v->i64 > 8192)
                return ferr_(err, errlen, "%s: field block_out_channels[%zu]: expected a positive integer", what, i);
            c->block_out_channels[i] = (int)v->i64;
        }
        c->n_blocks = (int)n;
    }
    const proto_json_t *ub = proto_json_get(root, "up_block_types");
    if (ub && (ub->type != PROTO_JSON_ARRAY || (int)proto_json_len(ub) != c->n_blocks))
        return ferr_(err, errlen, "%s: field up_block_types: expected %d entries (one per block_out_channels)", what, c->n_blocks);
    for (size_t i = 0; ub && i < proto_json_len(ub); i++) {
        const char *s = proto_json_str(proto_json_at(ub, i));
        if (!s || strcmp(s, "CogVideoXUpBlock3D"))
            return ferr_(err, errlen, "%s: field up_block_types[%zu]: only CogVideoXUpBlock3D is supported", what, i);
    }
    return 0;
}

static int config_check_(const proto_json_t *root, const wrk_vae_config_t *c, const char *what, char *err, size_t errlen)
{
    const char *act = NULL;
    int pq = 0;
    if (proto_json_get_str(root, "act_fn", &act) < 0 || (act && strcmp(act, "silu") && strcmp(act, "swish")))
        return ferr_(err, errlen, "%s: field act_fn: only \"silu\" is supported", what);
    if (proto_json_get_bool(root, "use_post_quant_conv", &pq) < 0 || pq)
        return ferr_(err, errlen, "%s: field use_post_quant_conv: must be false (CogVideoX has none)", what);
    for (int i = 0; i < c->n_blocks; i++)
        if (c->block_out_channels[i] % c->norm_num_groups)
            return ferr_(err, errlen, "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d",
                         what, i, c->block_out_channels[i], c->norm_num_groups);
    int r = c->temporal_compression_ratio;
    if (r & (r - 1)) return ferr_(err, errlen, "%s: field temporal_compression_ratio: %d is not a power of 2", what, r);
    return 0;
}

static int config_parse_(const char *text, size_t len, const char *what, wrk_vae_config_t *c, char *err, size_t errlen)
{
    proto_json_t *root = NULL;
    char jerr[200];
    int rc = -1;
    config_default_(c);
    if (proto_json_parse(text, len, NULL, &root, NULL, jerr, sizeof jerr))
        return ferr_(err, errlen, "%s: %s", what, jerr);
    if (root->type != PROTO_JSON_OBJECT) { ferr_(err, errlen, "%s: not a JSON object", what); goto out; }
    for (size_t i = 0; i < root->len; i++)
        if (config_field_(&root->kids[i], c, what, err, errlen)) goto out;
    if (config_blocks_(root, c, what, err, errlen) || config_check_(root, c, what, err, errlen)) goto out;
    rc = 0;
out:
    proto_json_free(&root);
    return rc;
}

static int read_text_(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ferr_(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) { fclose(f); return ferr_(err, errlen, "%s: unreadable or larger than 1 MiB", path); }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return ferr_(err, errlen, "%s: read failed", path); }
    fclose(f);
    buf[n] = 0;
    *out = buf; *len = (size_t)n;
    return 0;
}

/* ---------------- weights ---------------- */

typedef struct {
    wrk_st_t *st;              /* NULL: random weights (wrk_vae_new_random) */
    uint64_t  seed;
    wrk_vae_t *vae;
    char    **names;      /* tensors read, for the "unexpected tensor" check */
    int       n_names, cap;
    char     *err;
    size_t    errlen;
} vae_loader_t;

static int note_name_(vae_loader_t *L, const char *name)
{
    if (L->n_names == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        char **p = realloc(L->names, (size_t)cap * sizeof *p);
        if (!p) return ferr_(L->err, L->errlen, "vae: out of memory");
        L->names = p; L->cap = cap;
    }
    if (!(L->names[L->n_names] = strdup(name))) return ferr_(L->err, L->errlen, "vae: out of memory");
    L->n_names++;
    return 0;
}

/* Random tensor of the given name (wrk_vae_new_random): norm weights 1, norm biases 0, other biases
 * uniform ±0.01, conv weights uniform ±1/sqrt(fan_in); values a hash of (seed, tensor number, index). */
static void random_tensor_(vae_loader_t *L, const char *name, int ndim, const int64_t *shape, float *p, int64_t n)
{
    size_t len = strlen(name);
    int is_bias = len > 5 && !strcmp(name + len - 5, ".bias"), is_norm = strstr(name, ".norm_layer.") != NULL;
    double fan = 1;
    for (int i = 1; i < ndim; i++) fan *= (double)shape[i];
    float scale = is_bias ? 0.01f : (float)(1.0 / sqrt(fan));
    uint64_t s = L->seed * 0x9e3779b97f4a7c15ull + (uint64_t)L->n_names * 0xbf58476d1ce4e5b9ull + 1;
    for (int64_t i = 0; i < n; i++) {
        if (is_norm) { p[i] = is_bias ? 0.0f : 1.0f; continue; }
        uint64_t z = s + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        p[i] = scale * ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f);
    }
}

/* Reads tensor `name` (shape dims) as fp32 into a new buffer. */
static float *read_tensor_(vae_loader_t *L, const char *name, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) { ferr_(L->err, L->errlen, "vae: out of memory for %s", name); return NULL; }
    if (!L->st) {
        random_tensor_(L, name, ndim, shape, p, n);
        if (note_name_(L, name)) { free(p); return NULL; }
        return p;
    }
    if (!wrk_st_find(L->st, name)) {   /* name the weights file, not only the folder */
        const wrk_st_tensor_t *any = wrk_st_count(L->st) > 0 ? wrk_st_at(L->st, 0) : NULL;
        ferr_(L->err, L->errlen, "%s: tensor %s: missing (config.json describes a decoder that has it)",
              any ? any->file : "vae weights", name);
        free(p);
        return NULL;
    }
    if (wrk_st_read_f32(L->st, name, ndim, shape, p, n, L->err, L->errlen) || note_name_(L, name)) { free(p); return NULL; }
    return p;
}

/* prefix.weight (co, ci, kt, kh, kw) — or (co, ci, kh, kw) when kt == 0 (Conv2d) — and prefix.bias. */
static int load_conv_(vae_loader_t *L, const char *prefix, vae_conv_t *c, int co, int ci, int kt, int kh, int kw, int cache)
{
    char name[256];
    int is2d = kt == 0, rc = -1;
    int64_t sh5[5] = { co, ci, kt, kh, kw }, sh4[4] = { co, ci, kh, kw }, shb[1] = { co };
    c->co = co; c->ci = ci; c->kt = is2d ? 1 : kt; c->kh = kh; c->kw = kw;
    c->cache_id = cache ? L->vae->n_cache++ : -1;
    snprintf(name, sizeof name, "%s.weight", prefix);
    float *w = read_tensor_(L, name, is2d ? 4 : 5, is2d ? sh4 : sh5);
    if (!w) return -1;
    snprintf(name, sizeof name, "%s.bias", prefix);
    c->w = malloc((size_t)co * ci * c->kt * kh * kw * sizeof(float));
    if (!c->w) { ferr_(L->err, L->errlen, "vae: out of memory"); goto out; }
    if (k_conv_pack_weight(c->w, w, co, ci, c->kt, kh, kw)) { ferr_(L->err, L->errlen, "%s: %s", prefix, k_error()); goto out; }
    if (!(c->b = read_tensor_(L, name, 1, shb))) goto out;
    rc = 0;
out:
    free(w);
    return rc;
}

static int load_snorm_(vae_loader_t *L, const char *prefix, vae_snorm_t *n, int c)
{
    char name[256];
    int64_t sh[1] = { c };
    int zc = L->vae->cfg.latent_channels;
    n->c = c;
    snprintf(name, sizeof name, "%s.norm_layer.weight", prefix);
    if (!(n->gamma = read_tensor_(L, name, 1, sh))) return -1;
    snprintf(name, sizeof name, "%s.norm_layer.bias", prefix);
    if (!(n->beta = read_tensor_(L, name, 1, sh))) return -1;
    snprintf(name, sizeof name, "%s.conv_y.conv", prefix);
    if (load_conv_(L, name, &n->y, c, zc, 1, 1, 1, 0)) return -1;
    snprintf(name, sizeof name, "%s.conv_b.conv", prefix);
    return load_conv_(L, name, &n->b, c, zc, 1, 1, 1, 0);
}

static int load_res_(vae_loader_t *L, const char *prefix, vae_res_t *r, int ci, int co)
{
    char name[256];
    r->ci = ci; r->co = co;
    snprintf(name, sizeof name, "%s.norm1", prefix);
    if (load_snorm_(L, name, &r->n1, ci)) return -1;
    snprintf(name, sizeof name, "%s.conv1.conv", prefix);
    if (load_conv_(L, name, &r->c1, co, ci, 3, 3, 3, 1)) return -1;
    snprintf(name, sizeof name, "%s.norm2", prefix);
    if (load_snorm_(L, name, &r->n2, co)) return -1;
    snprintf(name, sizeof name, "%s.conv2.conv", prefix);
    if (load_conv_(L, name, &r->c2, co, co, 3, 3, 3, 1)) return -1;
    if (ci == co) return 0;
    snprintf(name, sizeof name, "%s.conv_shortcut", prefix);
    return load_conv_(L, name, &r->sc, co, ci, 1, 1, 1, 0);
}

static int load_up_blocks_(vae_loader_t *L)
{
    wrk_vae_t *v = L->vae;
    const wrk_vae_config_t *c = &v->cfg;
    int nb = c->n_blocks, level = 0, prev = c->block_out_channels[nb - 1];
    while ((1 << (level + 1)) <= c->temporal_compression_ratio) level++;   /* int(log2(ratio)) */
    char name[256];
    for (int i = 0; i < nb; i++) {
        vae_up_t *u = &v->up[i];
        int co = c->block_out_channels[nb - 1 - i];
        u->nres = c->layers_per_block + 1;
        if (!(u->res = calloc((size_t)u->nres, sizeof *u->res))) return ferr_(L->err, L->errlen, "vae: out of memory");
        for (int k = 0; k < u->nres; k++) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.%d", i, k);
            if (load_res_(L, name, &u->res[k], k == 0 ? prev : co, co)) return -1;
        }
        u->has_up = i < nb - 1;
        u->compress_time = i < level;
        snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.conv", i);
        if (u->has_up && load_conv_(L, name, &u->up, co, co, 0, 3, 3, 0)) return -1;
        prev = co;
    }
    v->n_up = nb;
    return 0;
}

static int load_decoder_(vae_loader_t *L)
{
    wrk_vae_t *v = L->vae;
    const wrk_vae_config_t *c = &v->cfg;
    int top = c->block_out_channels[c->n_blocks - 1], last = c->block_out_channels[0];
    if (load_conv_(L, "decoder.conv_in.conv", &v->conv_in, top, c->latent_channels, 3, 3, 3, 1)) return -1;
    if (load_res_(L, "decoder.mid_block.resnets.0", &v->mid[0], top, top)) return -1;
    if (load_res_(L, "decoder.mid_block.resnets.1", &v->mid[1], top, top)) return -1;
    if (load_up_blocks_(L)) return -1;
    if (load_snorm_(L, "decoder.norm_out", &v->norm_out, last)) return -1;
    return load_conv_(L, "decoder.conv_out.conv", &v->conv_out, c->out_channels, last, 3, 3, 3, 1);
}

static int cmp_str_(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every decoder.* tensor of the file must have been read: anything else means the config does
 * not describe these weights. */
static int check_unexpected_(vae_loader_t *L)
{
    qsort(L->names, (size_t)L->n_names, sizeof *L->names, cmp_str_);
    for (int i = 0; i < wrk_st_count(L->st); i++) {
        const wrk_st_tensor_t *t = wrk_st_at(L->st, i);
        if (strncmp(t->name, "decoder.", 8)) continue;
        const char *key = t->name;
        if (!bsearch(&key, L->names, (size_t)L->n_names, sizeof *L->names, cmp_str_))
            return ferr_(L->err, L->errlen, "%s: tensor %s: not part of the decoder described by config.json",
                         t->file, t->name);
    }
    return 0;
}

/* ---------------- backend copies of the weights ---------------- */

typedef struct {
    const k_backend_t *kb;     /* NULL: point the d* fields at the host arrays */
    int                drop;   /* 1: free the backend copies (then point at the host arrays) */
} vae_move_t;

/* *dst = a backend copy of n host floats (or the host array itself, or freed): see vae_move_t. */
static int move_(const vae_move_t *m, float **dst, float *host, size_t n)
{
    if (m->drop) { if (*dst && *dst != host) m->kb->free(*dst); *dst = host; return 0; }
    if (!m->kb || !host) { *dst = host; return 0; }
    if (!(*dst = m->kb->alloc(n * sizeof(float)))) return -1;
    return m->kb->upload(*dst, host, n * sizeof(float));
}

static int move_conv_(const vae_move_t *m, vae_conv_t *c)
{
    return move_(m, &c->dw, c->w, (size_t)c->kt * c->kh * c->kw * c->co * c->ci) || move_(m, &c->db, c->b, (size_t)c->co);
}

static int move_snorm_(const vae_move_t *m, vae_snorm_t *n)
{
    return move_(m, &n->dgamma, n->gamma, (size_t)n->c) || move_(m, &n->dbeta, n->beta, (size_t)n->c) ||
           move_conv_(m, &n->y) || move_conv_(m, &n->b);
}

static int move_res_(const vae_move_t *m, vae_res_t *r)
{
    return move_snorm_(m, &r->n1) || move_snorm_(m, &r->n2) || move_conv_(m, &r->c1) || move_conv_(m, &r->c2) ||
           move_conv_(m, &r->sc);
}

/* Applies m to every weight of the decoder (stops at the first failure). */
static int move_all_(const vae_move_t *m, wrk_vae_t *v)
{
    if (move_conv_(m, &v->conv_in) || move_res_(m, &v->mid[0]) || move_res_(m, &v->mid[1])) return -1;
    for (int i = 0; i < v->n_up; i++) {
        for (int k = 0; v->up[i].res && k < v->up[i].nres; k++)
            if (move_res_(m, &v->up[i].res[k])) return -1;
        if (move_conv_(m, &v->up[i].up)) return -1;
    }
    return move_snorm_(m, &v->norm_out) || move_conv_(m, &v->conv_out);
}

/* Frees the backend copies (if any) and points every d* field at the host arrays. */
static void drop_copies_(wrk_vae_t *v)
{
    vae_move_t drop = { v->kb, 1 }, host = { NULL, 0 };
    if (v->dev_copies) move_all_(&drop, v);
    move_all_(&host, v);
    v->dev_copies = 0;
}

int wrk_vae_set_backend(wrk_vae_t *v, const k_backend_t *kb, char *err, size_t errlen)
{
    drop_copies_(v);
    v->kb = NULL;
    if (!kb || kb == k_backend_cpu()) return 0;
    vae_move_t up = { kb, 0 };
    v->kb = kb;
    v->dev_copies = 1;   /* fields not yet uploaded keep their host pointer; drop_copies_ frees only d* != host */
    if (move_all_(&up, v)) {
        ferr_(err, errlen, "vae: weights to %s: %s", kb->name, k_error());
        drop_copies_(v);
        v->kb = NULL;
        return -1;
    }
    return 0;
}

const k_backend_t *wrk_vae_backend(const wrk_vae_t *v) { return v->kb ? v->kb : k_backend_cpu(); }

/* ---------------- public API ---------------- */

static void conv_free_(vae_conv_t *c) { free(c->w); free(c->b); c->w = c->b = NULL; }
static void snorm_free_(vae_snorm_t *n) { free(n->gamma); free(n->beta); conv_free_(&n->y); conv_free_(&n->b); }
static void res_free_(vae_res_t *r) { snorm_free_(&r->n1); snorm_free_(&r->n2); conv_free_(&r->c1); conv_free_(&r->c2); conv_free_(&r->sc); }

void wrk_vae_destroy(wrk_vae_t **pv)
{
    if (!pv || !*pv) return;
    wrk_vae_t *v = *pv;
    drop_copies_(v);
    conv_free_(&v->conv_in);
    res_free_(&v->mid[0]); res_free_(&v->mid[1]);
    for (int i = 0; i < WRK_VAE_MAX_BLOCKS; i++) {
        for (int k = 0; v->up[i].res && k < v->up[i].nres; k++) res_free_(&v->up[i].res[k]);
        free(v->up[i].res);
        conv_free_(&v->up[i].up);
    }
    snorm_free_(&v->norm_out);
    conv_free_(&v->conv_out);
    free(v);
    *pv = NULL;
}

/* path -> the vae directory: path itself when it holds config.json, else path/vae. */
static void vae_dir_(const char *path, char *dir, size_t n)
{
    struct stat sb;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/config.json", path);
    if (stat(probe, &sb) == 0) snprintf(dir, n, "%s", path);
    else snprintf(dir, n, "%s/vae", path);
}

int wrk_vae_load(const char *path, wrk_vae_t **out, char *err, size_t errlen)
{
    char dir[4096], cfg_path[4200];
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    vae_loader_t L = { .err = err, .errlen = errlen };
    *out = NULL;
    vae_dir_(path, dir, sizeof dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    if (!(L.vae = calloc(1, sizeof *L.vae))) return ferr_(err, errlen, "vae: out of memory");
    if (read_text_(cfg_path, &text, &len, err, errlen)) goto out;
    if (config_parse_(text, len, cfg_path, &L.vae->cfg, err, errlen)) goto out;
    wrk_vae_tiling_get(L.vae, &L.vae->tiling);
    if (wrk_st_open(dir, &L.st, err, errlen)) goto out;
    if (load_decoder_(&L) || check_unexpected_(&L)) goto out;
    drop_copies_(L.vae);   /* decode from the host weights until wrk_vae_set_backend */
    rc = 0;
out:
    for (int i = 0; i < L.n_names; i++) free(L.names[i]);
    free(L.names);
    free(text);
    wrk_st_close(&L.st);
    if (rc) wrk_vae_destroy(&L.vae);
    *out = L.vae;
    return rc;
}

int wrk_vae_new_random(const wrk_vae_config_t *cfg, uint64_t seed, wrk_vae_t **out, char *err, size_t errlen)
{
    vae_loader_t L = { .seed = seed, .err = err, .errlen = errlen };
    int rc = -1;
    *out = NULL;
    if (cfg->n_blocks < 1 || cfg->n_blocks > WRK_VAE_MAX_BLOCKS || cfg->latent_channels < 1 || cfg->out_channels < 1 ||
        cfg->layers_per_block < 1 || cfg->norm_num_groups < 1 || cfg->temporal_compression_ratio < 1 ||
        (cfg->temporal_compression_ratio & (cfg->temporal_compression_ratio - 1)) || !(cfg->scaling_factor > 0))
        return ferr_(err, errlen, "vae random: bad config");
    for (int i = 0; i < cfg->n_blocks; i++)
        if (cfg->block_out_channels[i] < 1 || cfg->block_out_channels[i] % cfg->norm_num_groups)
            return ferr_(err, errlen, "vae random: block_out_channels[%d] = %d", i, cfg->block_out_channels[i]);
    if (!(L.vae = calloc(1, sizeof *L.vae))) return ferr_(err, errlen, "vae: out of memory");
    L.vae->cfg = *cfg;
    wrk_vae_tiling_get(L.vae, &L.vae->tiling);
    if (load_decoder_(&L)) goto out;
    drop_copies_(L.vae);
    rc = 0;
out:
    for (int i = 0; i < L.n_names; i++) free(L.names[i]);
    free(L.names);
    if (rc) wrk_vae_destroy(&L.vae);
    *out = L.vae;
    return rc;
}

void wrk_vae_config_default(wrk_vae_config_t *c) { config_default_(c); }

const wrk_vae_config_t *wrk_vae_config(const wrk_vae_t *vae) { return &vae->cfg; }

void wrk_vae_config_str(const wrk_vae_t *vae, char *buf, size_t n)
{
    const wrk_vae_config_t *c = &vae->cfg;
    char boc[96] = "";
    size_t o = 0;
    for (int i = 0; i < c->n_blocks && o < sizeof boc; i++)
        o += (size_t)snprintf(boc + o, sizeof boc - o, "%s%d", i ? "," : "", c->block_out_channels[i]);
    snprintf(buf, n, "CogVideoX VAE decoder: blocks %s x%d layers, groups %d, latent %d ch, time x%d, "
             "spatial x%d, scaling %.8g, tiles %dx%d px", boc, c->layers_per_block + 1, c->norm_num_groups,
             c->latent_channels, c->temporal_compression_ratio, 1 << (c->n_blocks - 1), c->scaling_factor,
             vae->tiling.tile_sample_min_height, vae->tiling.tile_sample_min_width);
}

void wrk_vae_tiling_get(const wrk_vae_t *vae, wrk_vae_tiling_t *t)
{
    if (vae->tiling.tile_sample_min_height > 0) { *t = vae->tiling; return; }
    t->tile_sample_min_height = vae->cfg.sample_height / 2;
    t->tile_sample_min_width = vae->cfg.sample_width / 2;
    t->tile_overlap_factor_height = 1.0 / 6.0;
    t->tile_overlap_factor_width = 1.0 / 5.0;
}

int wrk_vae_tiling_set(wrk_vae_t *vae, const wrk_vae_tiling_t *t, char *err, size_t errlen)
{
    int s = 1 << (vae->cfg.n_blocks - 1);
    int lh = (int)(t->tile_sample_min_height / (double)s), lw = (int)(t->tile_sample_min_width / (double)s);
    if (lh < 1 || lw < 1) return ferr_(err, errlen, "vae tiling: tiles must cover at least one latent (%d px)", s);
    if (!(t->tile_overlap_factor_height >= 0 && t->tile_overlap_factor_height < 1 &&
          t->tile_overlap_factor_width >= 0 && t->tile_overlap_factor_width < 1))
        return ferr_(err, errlen, "vae tiling: overlap factors must be in [0, 1)");
    if ((int)(lh * (1 - t->tile_overlap_factor_height)) < 1 || (int)(lw * (1 - t->tile_overlap_factor_width)) < 1)
        return ferr_(err, errlen, "vae tiling: tile stride is 0 latents (tiles too small for the overlap)");
    vae->tiling = *t;
    return 0;
}

void wrk_vae_postprocess(float *x, long n)
{
    for (long i = 0; i < n; i++) {
        float v = x[i] * 0.5f + 0.5f;
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}
