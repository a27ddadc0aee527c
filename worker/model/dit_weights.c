/* dit_weights.c — the DiT's weight name table and the sharded reads of one tensor-parallel rank.
 *
 * Names and shapes are exactly diffusers' CogVideoXTransformer3DModel state dict (MODEL.md §1.8);
 * one table row per tensor says where it goes, how it is split between ranks (tp.h) and its shape
 * in terms of the config, so a wrong shape is an error naming file and tensor. Every tensor of the
 * checkpoint must be one the engine uses: an unknown one means an unsupported variant.
 * On device memory (wrk_dit_t.on_device) every tensor is read on the host and uploaded at once, the
 * rows marked W_BF16 (the big GEMM weights) as bf16 into their bf16 slot, so host memory peaks at
 * one tensor.
 * Not here: config parsing (config.h), the forward pass (dit_fwd.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/model/dit_impl.h"

/* Symbolic dimensions of the table, resolved against the loaded config. */
typedef enum { DM_D, DM_2D, DM_6D, DM_T, DM_HD, DM_FF, DM_DT, DM_C, DM_P, DM_POUT, DM_COUNT } dm_t;

enum { W_AFFINE = 1, W_ABIAS = 2,     /* present only with norm_elementwise_affine / attention_bias */
       W_BF16 = 4 };                  /* a big GEMM weight: bf16 into the slot at off16 when bf16w */

typedef struct {
    const char *name;       /* full name, or the part after "transformer_blocks.{i}." */
    size_t off;             /* offsetof the destination pointer in dit_rank_t / dit_block_t */
    size_t off16;           /* W_BF16: offsetof the bf16 destination pointer */
    int part, nparts;       /* fused destination: slot `part` of `nparts` equal slots */
    wrk_tp_split_t split;
    int ndim;
    dm_t dims[4];
    unsigned flags;
} wdesc_t;

#define RK(f) offsetof(dit_rank_t, f)
#define BK(f) offsetof(dit_block_t, f)

static const wdesc_t GLOBAL_W[] = {
    { "patch_embed.proj.weight",        RK(pe_w),  0, 0, 1, WRK_TP_REPL, 4, { DM_D, DM_C, DM_P, DM_P }, 0 },
    { "patch_embed.proj.bias",          RK(pe_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, 0 },
    { "patch_embed.text_proj.weight",   RK(tx_w),  RK(tx_h), 0, 1, WRK_TP_REPL, 2, { DM_D, DM_DT }, W_BF16 },
    { "patch_embed.text_proj.bias",     RK(tx_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, 0 },
    { "time_embedding.linear_1.weight", RK(t1_w),  0, 0, 1, WRK_TP_REPL, 2, { DM_T, DM_D }, 0 },
    { "time_embedding.linear_1.bias",   RK(t1_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_T }, 0 },
    { "time_embedding.linear_2.weight", RK(t2_w),  0, 0, 1, WRK_TP_REPL, 2, { DM_T, DM_T }, 0 },
    { "time_embedding.linear_2.bias",   RK(t2_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_T }, 0 },
    { "norm_final.weight",              RK(nf_w),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, W_AFFINE },
    { "norm_final.bias",                RK(nf_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, W_AFFINE },
    { "norm_out.linear.weight",         RK(no_lw), 0, 0, 1, WRK_TP_REPL, 2, { DM_2D, DM_T }, 0 },
    { "norm_out.linear.bias",           RK(no_lb), 0, 0, 1, WRK_TP_REPL, 1, { DM_2D }, 0 },
    { "norm_out.norm.weight",           RK(no_w),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, W_AFFINE },
    { "norm_out.norm.bias",             RK(no_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_D }, W_AFFINE },
    { "proj_out.weight",                RK(po_w),  0, 0, 1, WRK_TP_REPL, 2, { DM_POUT, DM_D }, 0 },
    { "proj_out.bias",                  RK(po_b),  0, 0, 1, WRK_TP_REPL, 1, { DM_POUT }, 0 },
};

static const wdesc_t BLOCK_W[] = {
    { "norm1.linear.weight",    BK(n1_lw), BK(n1_lh), 0, 1, WRK_TP_REPL,       2, { DM_6D, DM_T }, W_BF16 },
    { "norm1.linear.bias",      BK(n1_lb), 0, 0, 1, WRK_TP_REPL,       1, { DM_6D }, 0 },
    { "norm1.norm.weight",      BK(n1_w),  0, 0, 1, WRK_TP_REPL,       1, { DM_D }, W_AFFINE },
    { "norm1.norm.bias",        BK(n1_b),  0, 0, 1, WRK_TP_REPL,       1, { DM_D }, W_AFFINE },
    { "attn1.norm_q.weight",    BK(nq_w),  0, 0, 1, WRK_TP_REPL,       1, { DM_HD }, 0 },
    { "attn1.norm_q.bias",      BK(nq_b),  0, 0, 1, WRK_TP_REPL,       1, { DM_HD }, 0 },
    { "attn1.norm_k.weight",    BK(nk_w),  0, 0, 1, WRK_TP_REPL,       1, { DM_HD }, 0 },
    { "attn1.norm_k.bias",      BK(nk_b),  0, 0, 1, WRK_TP_REPL,       1, { DM_HD }, 0 },
    { "attn1.to_q.weight",      BK(qkv_w), BK(qkv_h), 0, 3, WRK_TP_ROWS_HEADS, 2, { DM_D, DM_D }, W_BF16 },
    { "attn1.to_k.weight",      BK(qkv_w), BK(qkv_h), 1, 3, WRK_TP_ROWS_HEADS, 2, { DM_D, DM_D }, W_BF16 },
    { "attn1.to_v.weight",      BK(qkv_w), BK(qkv_h), 2, 3, WRK_TP_ROWS_HEADS, 2, { DM_D, DM_D }, W_BF16 },
    { "attn1.to_q.bias",        BK(qkv_b), 0, 0, 3, WRK_TP_ROWS_HEADS, 1, { DM_D }, W_ABIAS },
    { "attn1.to_k.bias",        BK(qkv_b), 0, 1, 3, WRK_TP_ROWS_HEADS, 1, { DM_D }, W_ABIAS },
    { "attn1.to_v.bias",        BK(qkv_b), 0, 2, 3, WRK_TP_ROWS_HEADS, 1, { DM_D }, W_ABIAS },
    { "attn1.to_out.0.weight",  BK(o_w),   BK(o_h), 0, 1, WRK_TP_COLS_HEADS, 2, { DM_D, DM_D }, W_BF16 },
    { "attn1.to_out.0.bias",    BK(o_b),   0, 0, 1, WRK_TP_REPL,       1, { DM_D }, 0 },
    { "norm2.linear.weight",    BK(n2_lw), BK(n2_lh), 0, 1, WRK_TP_REPL,       2, { DM_6D, DM_T }, W_BF16 },
    { "norm2.linear.bias",      BK(n2_lb), 0, 0, 1, WRK_TP_REPL,       1, { DM_6D }, 0 },
    { "norm2.norm.weight",      BK(n2_w),  0, 0, 1, WRK_TP_REPL,       1, { DM_D }, W_AFFINE },
    { "norm2.norm.bias",        BK(n2_b),  0, 0, 1, WRK_TP_REPL,       1, { DM_D }, W_AFFINE },
    { "ff.net.0.proj.weight",   BK(f1_w),  BK(f1_h), 0, 1, WRK_TP_ROWS_FF,    2, { DM_FF, DM_D }, W_BF16 },
    { "ff.net.0.proj.bias",     BK(f1_b),  0, 0, 1, WRK_TP_ROWS_FF,    1, { DM_FF }, 0 },
    { "ff.net.2.weight",        BK(f2_w),  BK(f2_h), 0, 1, WRK_TP_COLS_FF,    2, { DM_D, DM_FF }, W_BF16 },
    { "ff.net.2.bias",          BK(f2_b),  0, 0, 1, WRK_TP_REPL,       1, { DM_D }, 0 },
};

#define N_GLOBAL (sizeof GLOBAL_W / sizeof *GLOBAL_W)
#define N_BLOCK (sizeof BLOCK_W / sizeof *BLOCK_W)
static const char BLOCKS[] = "transformer_blocks.";

static int64_t dim_value(const wrk_dit_t *m, dm_t d)
{
    const wrk_dit_info_t *i = &m->info;
    const int64_t v[DM_COUNT] = {
        [DM_D] = i->inner_dim, [DM_2D] = 2 * i->inner_dim, [DM_6D] = 6 * i->inner_dim,
        [DM_T] = i->time_dim, [DM_HD] = i->head_dim, [DM_FF] = i->ff_dim, [DM_DT] = i->text_dim,
        [DM_C] = i->in_channels, [DM_P] = i->patch,
        [DM_POUT] = (int64_t)i->patch * i->patch * i->out_channels,
    };
    return v[d];
}

static int wanted(const wrk_dit_t *m, const wdesc_t *w)
{
    if ((w->flags & W_AFFINE) && !m->cfg.norm_affine) return 0;
    if ((w->flags & W_ABIAS) && !m->cfg.attn_bias) return 0;
    return 1;
}

/* ---- buffers ---- */

static int track(dit_rank_t *r, void *p)
{
    if (r->n_owned == r->cap_owned) {
        int cap = r->cap_owned ? 2 * r->cap_owned : 64;
        void **o = realloc(r->owned, (size_t)cap * sizeof *o);
        if (!o) return -1;
        r->owned = o;
        r->cap_owned = cap;
    }
    r->owned[r->n_owned++] = p;
    return 0;
}

/* Host buffer of n floats for rank r: owned by r on host memory (the CPU backend computes on it);
 * on device memory a staging copy (r->pending) that to_device uploads and frees. */
static float *rank_alloc(const wrk_dit_t *m, dit_rank_t *r, size_t n)
{
    float *p = malloc(n * sizeof(float) + 64);
    if (!p) return NULL;
    if (m->on_device) {
        free(r->pending);
        return r->pending = p;
    }
    if (track(r, p) != 0) { free(p); p = NULL; }
    return p;
}

/* Host fp32 → bf16 bits, round to nearest even (NaN kept quiet), as k_cuda_upload_bf16 does. */
static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Puts tensor *p (n floats, just read) where the forward reads it. p16 != NULL: as bf16 into *p16,
 * *p = NULL. Device path: uploads into backend memory owned by r and frees the host copy; host path:
 * the host buffer stays (converted in place for bf16). */
static int to_device(const wrk_dit_t *m, dit_rank_t *r, float **p, uint16_t **p16, size_t n,
                     const char *name, char *err, size_t errlen)
{
    float *h = *p;
    if (p16) {                                   /* in place: element i's bf16 lands in bytes already read */
        uint16_t *h16 = (uint16_t *)h;
        for (size_t i = 0; i < n; i++) h16[i] = bf16_of(h[i]);
    }
    if (!m->on_device) {
        if (p16) { *p16 = (uint16_t *)h; *p = NULL; }
        return 0;
    }
    size_t bytes = n * (p16 ? sizeof(uint16_t) : sizeof(float));
    void *d = m->kb->alloc(bytes);
    if (!d || track(r, d) != 0) {
        if (d) m->kb->free(d);
        snprintf(err, errlen, "%s: tensor %s: out of memory on the %s device (%.1f MiB): %s", m->dir, name,
                 m->kb->name, (double)bytes / 1048576.0, k_error());
        return -1;
    }
    if (m->kb->upload(d, h, bytes) != 0) {
        snprintf(err, errlen, "%s: tensor %s: upload to the %s device: %s", m->dir, name, m->kb->name, k_error());
        return -1;
    }
    free(r->pending);
    r->pending = NULL;
    if (p16) { *p16 = d; *p = NULL; }
    else *p = d;
    return 0;
}

void dit_weights_free(const wrk_dit_t *m, dit_rank_t *r)
{
    for (int i = 0; i < r->n_owned; i++) {
        if (m->on_device) m->kb->free(r->owned[i]);
        else free(r->owned[i]);
    }
    free(r->owned);
    free(r->blocks);
    if (r->ws) m->kb->free(r->ws);
    if (r->ws_anchor) m->kb->free(r->ws_anchor);
    free(r->pending);
    free(r->stage);
    memset(r, 0, sizeof *r);
}

/* ---- one tensor ---- */

/* Reads tensor `name` described by w into the slot of *dst (allocated at part 0). */
static int read_one(wrk_dit_t *m, const wrk_st_t *st, dit_rank_t *r, const wdesc_t *w,
                    const char *name, float **dst, char *err, size_t errlen)
{
    int64_t shape[4], rows, cols = 1;
    for (int d = 0; d < w->ndim; d++) shape[d] = dim_value(m, w->dims[d]);
    for (int d = 1; d < w->ndim; d++) cols *= shape[d];
    rows = shape[0];
    int lo, hi;
    int cols_split = w->split == WRK_TP_COLS_HEADS || w->split == WRK_TP_COLS_FF;
    wrk_tp_range(&r->sh, w->split, (int)(cols_split ? cols : rows), &lo, &hi);
    int64_t r0 = cols_split ? 0 : lo, r1 = cols_split ? rows : hi;
    int64_t c0 = cols_split ? lo : 0, c1 = cols_split ? hi : cols;
    int64_t local = (r1 - r0) * (c1 - c0);
    if (w->part == 0 && !(*dst = rank_alloc(m, r, (size_t)(local * w->nparts)))) {
        snprintf(err, errlen, "%s: tensor %s: out of memory", m->dir, name);
        return -1;
    }
    if (wrk_st_read_f32_slice(st, name, w->ndim, shape, r0, r1, c0, c1, *dst + local * w->part, local,
                              err, errlen) != 0)
        return -1;
    if (w->part < w->nparts - 1) return 0;       /* a fused tensor moves once complete */
    uint16_t **d16 = m->bf16w && (w->flags & W_BF16) ? (uint16_t **)((char *)dst - w->off + w->off16) : NULL;
    return to_device(m, r, dst, d16, (size_t)(local * w->nparts), name, err, errlen);
}

/* Rank > 0 on host memory: replicated tensors are rank 0's (on device memory every rank has its own). */
static int share_repl(const wrk_dit_t *m, int rank, const wdesc_t *w)
{
    return rank > 0 && w->split == WRK_TP_REPL && !m->on_device;
}

static int load_table(wrk_dit_t *m, const wrk_st_t *st, int rank, const wdesc_t *tab, size_t n,
                      void *dst_base, const void *src0_base, const char *prefix, char *err,
                      size_t errlen)
{
    char name[256];
    for (size_t i = 0; i < n; i++) {
        const wdesc_t *w = &tab[i];
        float **dst = (float **)((char *)dst_base + w->off);
        if (!wanted(m, w)) continue;
        if (share_repl(m, rank, w)) {
            *dst = *(float *const *)((const char *)src0_base + w->off);
            if (w->flags & W_BF16)
                *(uint16_t **)((char *)dst_base + w->off16) =
                    *(uint16_t *const *)((const char *)src0_base + w->off16);
            continue;
        }
        snprintf(name, sizeof name, "%s%s", prefix, w->name);
        if (read_one(m, st, &m->ranks[rank], w, name, dst, err, errlen) != 0) return -1;
    }
    return 0;
}

/* ---- LoRA ---- */

/* A LoRA factor of n floats read into host buffer *p: owned by r on host memory, else uploaded
 * (and the host copy freed). On failure *p is freed or left to r->pending. */
static int lora_keep(const wrk_dit_t *m, dit_rank_t *r, float **p, size_t n, const char *path, char *err,
                     size_t errlen)
{
    if (!m->on_device) {
        if (track(r, *p) == 0) return 0;
        free(*p);
        *p = NULL;
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    r->pending = *p;
    return to_device(m, r, p, NULL, n, path, err, errlen);
}

static int load_lora_block(wrk_dit_t *m, const wrk_lora_t *l, dit_rank_t *r, int i, char *err,
                           size_t errlen)
{
    dit_block_t *b = &r->blocks[i];
    size_t R = (size_t)m->info.lora_rank, D = (size_t)m->info.inner_dim, Dl = (size_t)r->Dl;
    const char *path = wrk_lora_path(l);
    /* A of q|k|v (3R, D), B of q, k, v (Dl, R) each, A of to_out (R, Dl), B of to_out (D, R) */
    float **dst[6] = { &b->la_qkv, &b->lb_q, &b->lb_k, &b->lb_v, &b->la_o, &b->lb_o };
    size_t n[6] = { 3 * R * D, Dl * R, Dl * R, Dl * R, R * Dl, D * R };
    float *buf[6] = { 0 };
    int rc = -1;
    for (int k = 0; k < 6; k++)
        if (!(buf[k] = malloc(n[k] * sizeof(float)))) { snprintf(err, errlen, "%s: out of memory", path); goto out; }
    for (int t = 0; t < 3; t++)
        if (wrk_lora_read(l, i, (wrk_lora_target_t)t, &r->sh, buf[0] + (size_t)t * R * D, buf[1 + t], err,
                          errlen) != 0)
            goto out;
    if (wrk_lora_read(l, i, WRK_LORA_OUT, &r->sh, buf[4], buf[5], err, errlen) != 0) goto out;
    for (int k = 0; k < 6; k++) {
        *dst[k] = buf[k];
        buf[k] = NULL;
        if (lora_keep(m, r, dst[k], n[k], path, err, errlen) != 0) goto out;
    }
    rc = 0;
out:
    for (int k = 0; k < 6; k++) free(buf[k]);
    return rc;
}

static int load_lora(wrk_dit_t *m, const wrk_lora_t *l, int rank, char *err, size_t errlen)
{
    dit_rank_t *r = &m->ranks[rank];
    for (int i = 0; i < m->info.num_layers; i++)
        if (load_lora_block(m, l, r, i, err, errlen) != 0) return -1;
    if (!wrk_lora_has_domain(l)) return 0;
    if (rank > 0 && !m->on_device) { r->domain = m->ranks[0].domain; return 0; }
    if (!(r->domain = rank_alloc(m, r, (size_t)m->info.inner_dim))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (wrk_lora_read_domain(l, r->domain, err, errlen) != 0) return -1;
    return to_device(m, r, &r->domain, NULL, (size_t)m->info.inner_dim, "domain_emb", err, errlen);
}

/* ---- public ---- */

int dit_weights_load(wrk_dit_t *m, const wrk_st_t *st, const wrk_lora_t *lora, int rank, char *err,
                     size_t errlen)
{
    dit_rank_t *r = &m->ranks[rank];
    char prefix[64];
    if (wrk_tp_shard(m->info.tp, rank, m->info.num_heads, m->info.head_dim, m->info.ff_dim, &r->sh,
                     err, errlen) != 0)
        return -1;
    r->Dl = (r->sh.h1 - r->sh.h0) * m->info.head_dim;
    r->Fl = r->sh.f1 - r->sh.f0;
    r->blocks = calloc((size_t)m->info.num_layers, sizeof *r->blocks);
    if (!r->blocks) { snprintf(err, errlen, "out of memory"); return -1; }
    if (load_table(m, st, rank, GLOBAL_W, N_GLOBAL, r, &m->ranks[0], "", err, errlen) != 0) return -1;
    for (int i = 0; i < m->info.num_layers; i++) {
        snprintf(prefix, sizeof prefix, "%s%d.", BLOCKS, i);
        if (load_table(m, st, rank, BLOCK_W, N_BLOCK, &r->blocks[i], &m->ranks[0].blocks[i], prefix,
                       err, errlen) != 0)
            return -1;
    }
    return lora ? load_lora(m, lora, rank, err, errlen) : 0;
}

/* Is `name` a tensor of the table (block index below the layer count)? */
static int known_name(const wrk_dit_t *m, const char *name)
{
    for (size_t i = 0; i < N_GLOBAL; i++)
        if (strcmp(name, GLOBAL_W[i].name) == 0) return wanted(m, &GLOBAL_W[i]);
    if (strncmp(name, BLOCKS, sizeof BLOCKS - 1) != 0) return 0;
    char *end;
    long i = strtol(name + sizeof BLOCKS - 1, &end, 10);
    const char *digits = name + sizeof BLOCKS - 1;
    if (end == digits || *end != '.' || i < 0 || i >= m->info.num_layers) return 0;
    if (digits[0] == '0' && end - digits > 1) return 0;         /* "01" is not block 1's name */
    for (size_t k = 0; k < N_BLOCK; k++)
        if (strcmp(end + 1, BLOCK_W[k].name) == 0) return wanted(m, &BLOCK_W[k]);
    return 0;
}

int dit_weights_detect(wrk_dit_t *m, const wrk_st_t *st, char *err, size_t errlen)
{
    const char *ff = "transformer_blocks.0.ff.net.0.proj.weight";
    const wrk_st_tensor_t *t = wrk_st_find(st, ff);
    if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > (1 << 24)) {
        snprintf(err, errlen, "%s: tensor %s %s", m->dir, ff, t ? "is not a 2-D weight" : "missing");
        return -1;
    }
    m->info.ff_dim = (int)t->shape[0];
    for (int i = 0; i < wrk_st_count(st); i++) {
        const wrk_st_tensor_t *u = wrk_st_at(st, i);
        if (!known_name(m, u->name)) {
            snprintf(err, errlen, "%s: tensor %s (in %s) is not part of a CogVideoX v1.0 transformer "
                     "with %d blocks as configured (unsupported variant or wrong config)", m->dir,
                     u->name, u->file, m->info.num_layers);
            return -1;
        }
    }
    return 0;
}
