/* config.c — transformer and scheduler config.json parsing through one field table each
 * (see config.h). Defaults and field names are those of diffusers v0.32.0
 * (CogVideoXTransformer3DModel.__init__, CogVideoXDDIMScheduler/CogVideoXDPMScheduler.__init__).
 */
#include "worker/model/config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/json.h"

/* ---- types ---- */

typedef enum { F_INT, F_INT_NULL, F_BOOL, F_NUM, F_STR, F_ENUM, F_NULL_ONLY, F_FALSE_ONLY, F_IGNORE } field_type_t;

typedef struct {
    const char  *name;
    field_type_t type;
    size_t       off;                 /* offset in the config struct */
    double       lo, hi;              /* numeric range (inclusive) */
    const char *const *names;         /* F_STR: accepted values; F_ENUM: value names by index */
    int          nnames;
} field_t;

#define CONFIG_MAX_BYTES (1u << 20)

/* ---- name tables ---- */

static const char *const form_names[WRK_DIT_FORM_COUNT] = {"2b-sincos", "5b-rope", "1.5-rope"};
static const char *const beta_names[WRK_BETA_COUNT] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
static const char *const pred_names[WRK_PRED_COUNT] = {"epsilon", "sample", "v_prediction"};
static const char *const spacing_names[WRK_SPACING_COUNT] = {"leading", "trailing", "linspace"};
static const char *const act_names[] = {"gelu-approximate"};
static const char *const tact_names[] = {"silu"};

const char *wrk_dit_form_name(wrk_dit_form_t f) { return (unsigned)f < WRK_DIT_FORM_COUNT ? form_names[f] : "?"; }
const char *wrk_beta_schedule_name(wrk_beta_schedule_t b) { return (unsigned)b < WRK_BETA_COUNT ? beta_names[b] : "?"; }
const char *wrk_prediction_name(wrk_prediction_t p) { return (unsigned)p < WRK_PRED_COUNT ? pred_names[p] : "?"; }
const char *wrk_spacing_name(wrk_spacing_t s) { return (unsigned)s < WRK_SPACING_COUNT ? spacing_names[s] : "?"; }

int wrk_spacing_from_name(const char *name, wrk_spacing_t *out)
{
    for (int i = 0; name && i < WRK_SPACING_COUNT; i++)
        if (strcmp(name, spacing_names[i]) == 0) { *out = (wrk_spacing_t)i; return 0; }
    return -1;
}

/* ---- field tables ---- */

#define DF(name, type, lo, hi) {#name, type, offsetof(wrk_dit_config_t, name), lo, hi, NULL, 0}
#define DS(name, tab) {#name, F_STR, offsetof(wrk_dit_config_t, name), 0, 0, tab, (int)(sizeof tab / sizeof *tab)}
static const field_t dit_fields[] = {
    DF(num_attention_heads, F_INT, 1, 4096),      DF(attention_head_dim, F_INT, 2, 4096),
    DF(in_channels, F_INT, 1, 4096),              DF(out_channels, F_INT_NULL, 1, 4096),
    DF(flip_sin_to_cos, F_BOOL, 0, 1),            DF(freq_shift, F_INT, -1000000, 1000000),
    DF(time_embed_dim, F_INT, 1, 1 << 16),        DF(ofs_embed_dim, F_INT_NULL, 1, 1 << 16),
    DF(text_embed_dim, F_INT, 1, 1 << 16),        DF(num_layers, F_INT, 1, 1024),
    DF(dropout, F_NUM, 0, 1),                     DF(attention_bias, F_BOOL, 0, 1),
    DF(sample_width, F_INT, 1, 1 << 16),          DF(sample_height, F_INT, 1, 1 << 16),
    DF(sample_frames, F_INT, 1, 1 << 16),         DF(patch_size, F_INT, 1, 64),
    DF(patch_size_t, F_INT_NULL, 1, 64),          DF(temporal_compression_ratio, F_INT, 1, 64),
    DF(max_text_seq_length, F_INT, 1, 1 << 16),   DS(activation_fn, act_names),
    DS(timestep_activation_fn, tact_names),       DF(norm_elementwise_affine, F_BOOL, 0, 1),
    DF(norm_eps, F_NUM, 0, 1),                    DF(spatial_interpolation_scale, F_NUM, 1e-9, 1e9),
    DF(temporal_interpolation_scale, F_NUM, 1e-9, 1e9),
    DF(use_rotary_positional_embeddings, F_BOOL, 0, 1),
    DF(use_learned_positional_embeddings, F_BOOL, 0, 1),
    DF(patch_bias, F_BOOL, 0, 1),
};

#define SF(name, type, lo, hi) {#name, type, offsetof(wrk_sched_config_t, name), lo, hi, NULL, 0}
#define SE(name, tab) {#name, F_ENUM, offsetof(wrk_sched_config_t, name), 0, 0, tab, (int)(sizeof tab / sizeof *tab)}
static const field_t sched_fields[] = {
    SF(num_train_timesteps, F_INT, 2, 1000000),   SF(beta_start, F_NUM, 0, 1),
    SF(beta_end, F_NUM, 0, 1),                    SE(beta_schedule, beta_names),
    {"trained_betas", F_NULL_ONLY, 0, 0, 0, NULL, 0},
    SF(clip_sample, F_BOOL, 0, 1),                SF(set_alpha_to_one, F_BOOL, 0, 1),
    SF(steps_offset, F_INT, 0, 1000000),          SE(prediction_type, pred_names),
    SF(clip_sample_range, F_NUM, 0, 1e30),        SF(sample_max_value, F_NUM, 0, 1e30),
    SE(timestep_spacing, spacing_names),          SF(rescale_betas_zero_snr, F_BOOL, 0, 1),
    SF(snr_shift_scale, F_NUM, 1e-9, 1e9),
    {"thresholding", F_FALSE_ONLY, 0, 0, 0, NULL, 0},
    {"dynamic_thresholding_ratio", F_IGNORE, 0, 0, 0, NULL, 0},
};

/* ---- static helpers ---- */

static void cf_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cf_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int cf_int(const field_t *f, const proto_json_t *v, void *base)
{
    if (v->type == PROTO_JSON_NULL && f->type == F_INT_NULL) { *(int *)((char *)base + f->off) = 0; return 0; }
    if (v->type != PROTO_JSON_NUMBER || !v->is_int || v->i64 < f->lo || v->i64 > f->hi) return -1;
    *(int *)((char *)base + f->off) = (int)v->i64;
    return 0;
}

static int cf_str(const field_t *f, const proto_json_t *v, void *base)
{
    const char *s = proto_json_str(v);
    for (int i = 0; s && i < f->nnames; i++) {
        if (strcmp(s, f->names[i]) != 0) continue;
        if (f->type == F_ENUM) *(int *)((char *)base + f->off) = i;
        else snprintf((char *)base + f->off, 32, "%s", s);
        return 0;
    }
    return -1;
}

/* Stores one value through its table entry. 0 ok, -1 wrong type or range. */
static int cf_set(const field_t *f, const proto_json_t *v, void *base)
{
    switch (f->type) {
    case F_INT: case F_INT_NULL: return cf_int(f, v, base);
    case F_BOOL:
        if (v->type != PROTO_JSON_BOOL) return -1;
        *(int *)((char *)base + f->off) = v->boolean;
        return 0;
    case F_NUM:
        if (v->type != PROTO_JSON_NUMBER || !(v->num >= f->lo && v->num <= f->hi)) return -1;
        *(double *)((char *)base + f->off) = v->num;
        return 0;
    case F_STR: case F_ENUM: return cf_str(f, v, base);
    case F_NULL_ONLY: return v->type == PROTO_JSON_NULL ? 0 : -1;
    case F_FALSE_ONLY: return v->type == PROTO_JSON_BOOL && !v->boolean ? 0 : -1;
    case F_IGNORE: return 0;
    }
    return -1;
}

static void cf_expect(const field_t *f, char *b, size_t n)
{
    switch (f->type) {
    case F_INT: snprintf(b, n, "an integer in [%.0f, %.0f]", f->lo, f->hi); break;
    case F_INT_NULL: snprintf(b, n, "null or an integer in [%.0f, %.0f]", f->lo, f->hi); break;
    case F_BOOL: snprintf(b, n, "true or false"); break;
    case F_NUM: snprintf(b, n, "a number in [%g, %g]", f->lo, f->hi); break;
    case F_NULL_ONLY: snprintf(b, n, "null (not supported otherwise)"); break;
    case F_FALSE_ONLY: snprintf(b, n, "false (not supported otherwise)"); break;
    default: {
        size_t k = (size_t)snprintf(b, n, "one of");
        for (int i = 0; i < f->nnames && k < n; i++) k += (size_t)snprintf(b + k, n - k, " \"%s\"", f->names[i]);
    }
    }
}

/* Walks a parsed object through a field table. */
static int cf_apply(const proto_json_t *root, const field_t *tab, int ntab, void *base, char *class_name,
                    const char *what, char *err, size_t errlen)
{
    if (!root || root->type != PROTO_JSON_OBJECT) { cf_err(err, errlen, "%s: not a JSON object", what); return -1; }
    for (size_t i = 0; i < root->len; i++) {
        const proto_json_t *v = &root->kids[i];
        const field_t *f = NULL;
        if (v->key[0] == '_') {
            if (strcmp(v->key, "_class_name") == 0 && proto_json_str(v)) snprintf(class_name, 64, "%s", v->str);
            continue;
        }
        for (int k = 0; k < ntab && !f; k++) if (strcmp(tab[k].name, v->key) == 0) f = &tab[k];
        if (!f) { cf_err(err, errlen, "%s: unknown field '%s'", what, v->key); return -1; }
        if (cf_set(f, v, base) != 0) {
            char exp[160], *got = proto_json_print(v, 0);
            cf_expect(f, exp, sizeof exp);
            cf_err(err, errlen, "%s: field '%s': expected %s, got %.60s", what, f->name, exp, got ? got : "?");
            free(got);
            return -1;
        }
    }
    return 0;
}

static int cf_parse(const char *text, size_t len, const field_t *tab, int ntab, void *base, char *class_name,
                    const char *what, char *err, size_t errlen)
{
    proto_json_t *root = NULL;
    proto_json_limits_t lim = {.max_bytes = CONFIG_MAX_BYTES, .max_depth = 8};
    char jerr[256];
    if (proto_json_parse(text, len, &lim, &root, NULL, jerr, sizeof jerr) != 0) {
        cf_err(err, errlen, "%s: %s", what, jerr);
        return -1;
    }
    int rc = cf_apply(root, tab, ntab, base, class_name, what, err, errlen);
    proto_json_free(&root);
    return rc;
}

static int cf_is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }
static int cf_is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

/* Resolves file | dir/<file> | dir/<sub>/<file>. */
static int cf_resolve(const char *path, const char *sub, const char *file, char *out, size_t n)
{
    if (!cf_is_dir(path)) { snprintf(out, n, "%s", path); return 0; }
    snprintf(out, n, "%s/%s", path, file);
    if (cf_is_file(out)) return 0;
    snprintf(out, n, "%s/%s/%s", path, sub, file);
    return 0;
}

static int cf_read(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { cf_err(err, errlen, "%s: cannot open", path); return -1; }
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, fp) : 0;
    int bad = !buf || ferror(fp) || n > CONFIG_MAX_BYTES;
    fclose(fp);
    if (bad) { free(buf); cf_err(err, errlen, "%s: read error or larger than %u bytes", path, CONFIG_MAX_BYTES); return -1; }
    buf[n] = 0;
    *text = buf; *len = n;
    return 0;
}

/* ---- transformer config ---- */

void wrk_dit_config_default(wrk_dit_config_t *c)
{
    *c = (wrk_dit_config_t){
        .num_attention_heads = 30, .attention_head_dim = 64, .in_channels = 16, .out_channels = 16,
        .flip_sin_to_cos = 1, .freq_shift = 0, .time_embed_dim = 512, .ofs_embed_dim = 0,
        .text_embed_dim = 4096, .num_layers = 30, .dropout = 0.0, .attention_bias = 1,
        .sample_width = 90, .sample_height = 60, .sample_frames = 49, .patch_size = 2, .patch_size_t = 0,
        .temporal_compression_ratio = 4, .max_text_seq_length = 226, .activation_fn = "gelu-approximate",
        .timestep_activation_fn = "silu", .norm_elementwise_affine = 1, .norm_eps = 1e-5,
        .spatial_interpolation_scale = 1.875, .temporal_interpolation_scale = 1.0,
        .use_rotary_positional_embeddings = 0, .use_learned_positional_embeddings = 0, .patch_bias = 1,
    };
}

/* Cross-field checks and derived values. */
static int dit_finish(wrk_dit_config_t *c, int out_null, const char *what, char *err, size_t errlen)
{
    if (out_null) c->out_channels = c->in_channels;
    long long d = (long long)c->num_attention_heads * c->attention_head_dim;
    if (d > (1 << 20)) { cf_err(err, errlen, "%s: field 'num_attention_heads': inner dim %lld too large", what, d); return -1; }
    c->inner_dim = (int)d;
    c->ff_inner_dim = 4 * c->inner_dim;
    c->latent_frames = (c->sample_frames - 1) / c->temporal_compression_ratio + 1;
    if (!c->use_rotary_positional_embeddings && c->use_learned_positional_embeddings) {
        cf_err(err, errlen, "%s: field 'use_learned_positional_embeddings': true needs use_rotary_positional_embeddings (as diffusers)", what);
        return -1;
    }
    if (c->use_learned_positional_embeddings) {
        cf_err(err, errlen, "%s: field 'use_learned_positional_embeddings': true (CogVideoX I2V) is not supported", what);
        return -1;
    }
    if (c->use_rotary_positional_embeddings && c->attention_head_dim % 8) {
        cf_err(err, errlen, "%s: field 'attention_head_dim': 3D RoPE needs a multiple of 8, got %d", what, c->attention_head_dim);
        return -1;
    }
    if (!c->use_rotary_positional_embeddings && c->inner_dim % 16) {
        cf_err(err, errlen, "%s: field 'attention_head_dim': 3D sin-cos needs heads*head_dim %% 16 == 0, got %d", what, c->inner_dim);
        return -1;
    }
    if (!c->use_rotary_positional_embeddings && c->patch_size_t) {
        cf_err(err, errlen, "%s: field 'patch_size_t': set without use_rotary_positional_embeddings", what);
        return -1;
    }
    c->form = !c->use_rotary_positional_embeddings ? WRK_DIT_FORM_2B_SINCOS
            : c->patch_size_t ? WRK_DIT_FORM_15_ROPE : WRK_DIT_FORM_5B_ROPE;
    return 0;
}

int wrk_dit_config_parse(const char *text, size_t len, const char *what, wrk_dit_config_t *c,
                         char *err, size_t errlen)
{
    wrk_dit_config_default(c);
    c->out_channels = -1;
    if (cf_parse(text, len, dit_fields, (int)(sizeof dit_fields / sizeof *dit_fields), c, c->class_name, what,
                 err, errlen))
        return -1;
    int out_null = c->out_channels == 0;   /* null: follow in_channels */
    if (c->out_channels < 0) c->out_channels = 16;   /* absent: the diffusers default */
    return dit_finish(c, out_null, what, err, errlen);
}

int wrk_dit_config_load(const char *path, wrk_dit_config_t *c, char *err, size_t errlen)
{
    char file[4096], *text = NULL;
    size_t len;
    cf_resolve(path, "transformer", "config.json", file, sizeof file);
    if (cf_read(file, &text, &len, err, errlen)) return -1;
    int rc = wrk_dit_config_parse(text, len, file, c, err, errlen);
    free(text);
    return rc;
}

void wrk_dit_config_str(const wrk_dit_config_t *c, char *buf, size_t n)
{
    snprintf(buf, n, "CogVideoX %s: %d layers, %dx%d heads (D=%d, ff %d), in %d out %d, text %d (max %d tokens), "
             "time %d, patch %d%s%.0d, sample %dx%dx%d (latent frames %d)%s",
             wrk_dit_form_name(c->form), c->num_layers, c->num_attention_heads, c->attention_head_dim, c->inner_dim,
             c->ff_inner_dim, c->in_channels, c->out_channels, c->text_embed_dim, c->max_text_seq_length,
             c->time_embed_dim, c->patch_size, c->patch_size_t ? "x" : "", c->patch_size_t, c->sample_frames,
             c->sample_height, c->sample_width, c->latent_frames, c->patch_bias ? "" : ", no patch bias");
}

/* ---- scheduler config ---- */

void wrk_sched_config_default(wrk_sched_config_t *c)
{
    *c = (wrk_sched_config_t){
        .num_train_timesteps = 1000, .beta_start = 0.00085, .beta_end = 0.012,
        .beta_schedule = WRK_BETA_SCALED_LINEAR, .clip_sample = 1, .set_alpha_to_one = 1, .steps_offset = 0,
        .prediction_type = WRK_PRED_EPSILON, .clip_sample_range = 1.0, .sample_max_value = 1.0,
        .timestep_spacing = WRK_SPACING_LEADING, .rescale_betas_zero_snr = 0, .snr_shift_scale = 3.0,
    };
}

int wrk_sched_config_parse(const char *text, size_t len, const char *what, wrk_sched_config_t *c,
                           char *err, size_t errlen)
{
    wrk_sched_config_default(c);
    if (cf_parse(text, len, sched_fields, (int)(sizeof sched_fields / sizeof *sched_fields), c, c->class_name,
                 what, err, errlen))
        return -1;
    if (c->class_name[0] && strcmp(c->class_name, "CogVideoXDDIMScheduler") &&
        strcmp(c->class_name, "CogVideoXDPMScheduler")) {
        cf_err(err, errlen, "%s: field '_class_name': \"%s\" is not a CogVideoX scheduler", what, c->class_name);
        return -1;
    }
    if (!(c->beta_end >= c->beta_start)) {
        cf_err(err, errlen, "%s: field 'beta_end': %g is below beta_start %g", what, c->beta_end, c->beta_start);
        return -1;
    }
    return 0;
}

int wrk_sched_config_load(const char *path, wrk_sched_config_t *c, char *err, size_t errlen)
{
    char file[4096], *text = NULL;
    size_t len;
    cf_resolve(path, "scheduler", "scheduler_config.json", file, sizeof file);
    if (cf_read(file, &text, &len, err, errlen)) return -1;
    int rc = wrk_sched_config_parse(text, len, file, c, err, errlen);
    free(text);
    return rc;
}
