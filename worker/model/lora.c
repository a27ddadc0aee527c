/* lora.c — TransPixar LoRA file: key parsing, validation against the base model, sharded reads. */
#include "worker/model/lora.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/model/safetensors.h"

/* Attention projection names of the released key format, indexed by wrk_lora_target_t. */
static const char *const TARGET_NAMES[WRK_LORA_TARGETS] = { "to_q", "to_k", "to_v", "to_out.0" };
static const char PREFIX[] = "transformer.";
static const char BLOCKS[] = "transformer_blocks.";

struct wrk_lora {
    char *path;
    wrk_st_t *st;
    int layers, dim, rank;
    int has_domain;
};

int wrk_lora_rank(const wrk_lora_t *l) { return l->rank; }
int wrk_lora_has_domain(const wrk_lora_t *l) { return l->has_domain; }
const char *wrk_lora_path(const wrk_lora_t *l) { return l->path; }

/* Parses "[transformer.]transformer_blocks.{i}.attn1.{target}.lora_{A|B}.weight".
 * Returns 0 with layer / target / which (0 = A, 1 = B), -1 when the name is not of that form. */
static int parse_key(const char *name, long *layer, int *target, int *which)
{
    if (strncmp(name, PREFIX, sizeof PREFIX - 1) == 0) name += sizeof PREFIX - 1;
    if (strncmp(name, BLOCKS, sizeof BLOCKS - 1) != 0) return -1;
    name += sizeof BLOCKS - 1;
    if (*name < '0' || *name > '9') return -1;
    char *end;
    *layer = strtol(name, &end, 10);
    if (strncmp(end, ".attn1.", 7) != 0 || *layer < 0 || *layer > 1000000) return -1;
    if (name[0] == '0' && end - name > 1) return -1;            /* "01" is not block 1's name */
    name = end + 7;
    for (int t = 0; t < WRK_LORA_TARGETS; t++) {
        size_t n = strlen(TARGET_NAMES[t]);
        if (strncmp(name, TARGET_NAMES[t], n) != 0) continue;
        if (strcmp(name + n, ".lora_A.weight") == 0) { *target = t; *which = 0; return 0; }
        if (strcmp(name + n, ".lora_B.weight") == 0) { *target = t; *which = 1; return 0; }
    }
    return -1;
}

static int is_float_dtype(wrk_st_dtype_t dt)
{
    return dt == WRK_ST_F32 || dt == WRK_ST_F16 || dt == WRK_ST_BF16 || dt == WRK_ST_F64;
}

/* domain_emb: D values, every dim but the last equal to 1. */
static int check_domain(const wrk_lora_t *l, const wrk_st_tensor_t *t, char *err, size_t errlen)
{
    int ok = t->ndim >= 1 && t->shape[t->ndim - 1] == l->dim && t->numel == l->dim;
    if (!ok) {
        snprintf(err, errlen, "%s: tensor %s: %lld values in %d dims, expected one vector of %d (%s)",
                 l->path, t->name, (long long)t->numel, t->ndim, l->dim,
                 t->ndim >= 1 && t->shape[t->ndim - 1] != l->dim ? "a LoRA for another base model?"
                 : "per-token domain embeddings are not supported");
        return -1;
    }
    return 0;
}

/* A [r, D] or B [D, r] of a block the base model has; fixes r on first sight. */
static int check_pair_tensor(wrk_lora_t *l, const wrk_st_tensor_t *t, long layer, int which,
                             char *err, size_t errlen)
{
    if (layer >= l->layers) {
        snprintf(err, errlen, "%s: tensor %s: block %ld, but the base model has %d blocks (a LoRA "
                 "for another base model?)", l->path, t->name, layer, l->layers);
        return -1;
    }
    int64_t r = t->ndim == 2 ? t->shape[which == 0 ? 0 : 1] : -1;
    int64_t d = t->ndim == 2 ? t->shape[which == 0 ? 1 : 0] : -1;
    if (l->rank == 0 && r > 0 && r <= 65536) l->rank = (int)r;
    if (t->ndim != 2 || d != l->dim || r != l->rank) {
        snprintf(err, errlen, "%s: tensor %s: shape %s, expected %s with D = %d%s", l->path, t->name,
                 t->ndim == 2 ? "mismatch" : "not 2-D", which == 0 ? "[r, D]" : "[D, r]", l->dim,
                 d != l->dim ? " (a LoRA for another base model?)" : " and one rank r for all tensors");
        return -1;
    }
    return 0;
}

/* Every tensor of the file is known and shaped for this base; marks seen[(layer·4+target)·2+which]. */
static int check_tensors(wrk_lora_t *l, unsigned char *seen, char *err, size_t errlen)
{
    for (int i = 0; i < wrk_st_count(l->st); i++) {
        const wrk_st_tensor_t *t = wrk_st_at(l->st, i);
        long layer; int target, which;
        if (!is_float_dtype(t->dtype)) {
            snprintf(err, errlen, "%s: tensor %s: dtype %s is not a float type", l->path, t->name,
                     wrk_st_dtype_name(t->dtype));
            return -1;
        }
        if (strcmp(t->name, "domain_emb") == 0 || strcmp(t->name, "transformer.domain_emb") == 0) {
            if (check_domain(l, t, err, errlen) != 0) return -1;
            l->has_domain = 1;
            continue;
        }
        if (parse_key(t->name, &layer, &target, &which) != 0) {
            snprintf(err, errlen, "%s: tensor %s: not a TransPixar LoRA key (expected transformer."
                     "transformer_blocks.{i}.attn1.{to_q,to_k,to_v,to_out.0}.lora_{A,B}.weight or "
                     "domain_emb)", l->path, t->name);
            return -1;
        }
        if (check_pair_tensor(l, t, layer, which, err, errlen) != 0) return -1;
        seen[((size_t)layer * WRK_LORA_TARGETS + (size_t)target) * 2 + (size_t)which] = 1;
    }
    return 0;
}

static int check_complete(const wrk_lora_t *l, const unsigned char *seen, char *err, size_t errlen)
{
    for (int i = 0; i < l->layers; i++)
        for (int t = 0; t < WRK_LORA_TARGETS; t++)
            for (int w = 0; w < 2; w++)
                if (!seen[((size_t)i * WRK_LORA_TARGETS + (size_t)t) * 2 + (size_t)w]) {
                    snprintf(err, errlen, "%s: tensor %s%s%d.attn1.%s.lora_%c.weight missing (the base "
                             "model has %d blocks)", l->path, PREFIX, BLOCKS, i, TARGET_NAMES[t],
                             w ? 'B' : 'A', l->layers);
                    return -1;
                }
    return 0;
}

int wrk_lora_open(const char *path, int layers, int dim, wrk_lora_t **out, char *err, size_t errlen)
{
    unsigned char *seen = NULL;
    wrk_lora_t *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    l->layers = layers;
    l->dim = dim;
    if (wrk_st_open(path, &l->st, err, errlen) != 0) goto fail;
    seen = calloc((size_t)layers * WRK_LORA_TARGETS * 2 + 1, 1);
    if (!seen) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    if (check_tensors(l, seen, err, errlen) != 0 || check_complete(l, seen, err, errlen) != 0) goto fail;
    if (l->rank == 0) { snprintf(err, errlen, "%s: no LoRA tensors", path); goto fail; }
    free(seen);
    *out = l;
    return 0;
fail:
    free(seen);
    wrk_lora_close(&l);
    return -1;
}

void wrk_lora_close(wrk_lora_t **lp)
{
    if (!lp || !*lp) return;
    wrk_st_close(&(*lp)->st);
    free((*lp)->path);
    free(*lp);
    *lp = NULL;
}

/* The stored name of a pair tensor (with or without the "transformer." prefix). */
static const char *pair_name(const wrk_lora_t *l, int layer, int target, int which, char *buf,
                             size_t len)
{
    snprintf(buf, len, "%s%s%d.attn1.%s.lora_%c.weight", PREFIX, BLOCKS, layer, TARGET_NAMES[target],
             which ? 'B' : 'A');
    return wrk_st_find(l->st, buf) ? buf : buf + sizeof PREFIX - 1;
}

int wrk_lora_read(const wrk_lora_t *l, int layer, wrk_lora_target_t target, const wrk_tp_shard_t *s,
                  float *a, float *b, char *err, size_t errlen)
{
    char na[160], nb[160];
    int lo, hi, D = l->dim, r = l->rank;
    if (layer < 0 || layer >= l->layers || (unsigned)target >= WRK_LORA_TARGETS) {
        snprintf(err, errlen, "%s: no block %d target %d", l->path, layer, (int)target);
        return -1;
    }
    const char *an = pair_name(l, layer, target, 0, na, sizeof na);
    const char *bn = pair_name(l, layer, target, 1, nb, sizeof nb);
    int64_t sa[2] = { r, D }, sb[2] = { D, r };
    if (target == WRK_LORA_OUT) {            /* A split by columns, B replicated */
        wrk_tp_range(s, WRK_TP_COLS_HEADS, D, &lo, &hi);
        if (wrk_st_read_f32_slice(l->st, an, 2, sa, 0, r, lo, hi, a, (int64_t)r * (hi - lo),
                                  err, errlen) != 0)
            return -1;
        return wrk_st_read_f32(l->st, bn, 2, sb, b, (int64_t)D * r, err, errlen);
    }
    wrk_tp_range(s, WRK_TP_ROWS_HEADS, D, &lo, &hi);   /* A replicated, B split by rows */
    if (wrk_st_read_f32(l->st, an, 2, sa, a, (int64_t)r * D, err, errlen) != 0) return -1;
    return wrk_st_read_f32_slice(l->st, bn, 2, sb, lo, hi, 0, r, b, (int64_t)(hi - lo) * r, err,
                                 errlen);
}

int wrk_lora_read_domain(const wrk_lora_t *l, float *dst, char *err, size_t errlen)
{
    const char *name = wrk_st_find(l->st, "domain_emb") ? "domain_emb" : "transformer.domain_emb";
    if (!l->has_domain) { snprintf(err, errlen, "%s: tensor domain_emb missing", l->path); return -1; }
    return wrk_st_read_f32(l->st, name, 0, NULL, dst, l->dim, err, errlen);
}
