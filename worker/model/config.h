/* config.h — the two config.json files of a diffusers CogVideoX model directory, parsed and checked:
 * transformer/config.json (CogVideoXTransformer3DModel, diffusers v0.32.0 fields and defaults) and
 * scheduler/scheduler_config.json (CogVideoXDDIMScheduler / CogVideoXDPMScheduler).
 *
 * Every field is read through one table (name, type, range, default). A missing field takes the
 * diffusers default; an unknown field, a value of the wrong type or out of range, or a combination
 * the engine cannot run is an error naming the file and the field. Keys starting with '_'
 * (_class_name, _diffusers_version, _name_or_path) are informational and ignored, except that
 * _class_name is kept.
 *
 * Not here: weights (safetensors.h, dit.h), the schedule itself (sampler.h).
 */
#ifndef WORKER_MODEL_CONFIG_H
#define WORKER_MODEL_CONFIG_H
#include <stddef.h>
#include <stdint.h>

/* ---- transformer/config.json ---- */

typedef enum {
    WRK_DIT_FORM_2B_SINCOS,   /* use_rotary_positional_embeddings = false: 3D sin-cos added to tokens */
    WRK_DIT_FORM_5B_ROPE,     /* use_rotary_positional_embeddings = true, patch_size_t null (v1.0) */
    WRK_DIT_FORM_15_ROPE,     /* RoPE with patch_size_t set (CogVideoX1.5, grid_type "slice") */
    WRK_DIT_FORM_COUNT
} wrk_dit_form_t;

typedef struct {
    char   class_name[64];                 /* "_class_name" or "" */
    int    num_attention_heads;            /* 30 */
    int    attention_head_dim;             /* 64 */
    int    in_channels;                    /* 16 */
    int    out_channels;                   /* null -> in_channels */
    int    flip_sin_to_cos;                /* true */
    int    freq_shift;                     /* 0 */
    int    time_embed_dim;                 /* 512 */
    int    ofs_embed_dim;                  /* null -> 0 (only CogVideoX1.5 I2V sets it) */
    int    text_embed_dim;                 /* 4096 */
    int    num_layers;                     /* 30 */
    double dropout;                        /* 0.0 (inference: unused) */
    int    attention_bias;                 /* true */
    int    sample_width;                   /* 90  (latent units) */
    int    sample_height;                  /* 60 */
    int    sample_frames;                  /* 49  (pixel frames) */
    int    patch_size;                     /* 2 */
    int    patch_size_t;                   /* null -> 0 */
    int    temporal_compression_ratio;     /* 4 */
    int    max_text_seq_length;            /* 226 */
    char   activation_fn[32];              /* "gelu-approximate" (the only one accepted) */
    char   timestep_activation_fn[32];     /* "silu" (the only one accepted) */
    int    norm_elementwise_affine;        /* true */
    double norm_eps;                       /* 1e-5 */
    double spatial_interpolation_scale;    /* 1.875 */
    double temporal_interpolation_scale;   /* 1.0 */
    int    use_rotary_positional_embeddings;   /* false */
    int    use_learned_positional_embeddings;  /* false (true = I2V: rejected) */
    int    patch_bias;                     /* true */
    /* derived */
    int    inner_dim;                      /* num_attention_heads * attention_head_dim */
    int    ff_inner_dim;                   /* 4 * inner_dim (diffusers FeedForward mult=4) */
    int    latent_frames;                  /* (sample_frames - 1) / temporal_compression_ratio + 1 */
    wrk_dit_form_t form;
} wrk_dit_config_t;

void        wrk_dit_config_default(wrk_dit_config_t *c);
const char *wrk_dit_form_name(wrk_dit_form_t f);     /* "2b-sincos", "5b-rope", "1.5-rope" */

/* Parses config text; `what` names the source in errors. 0 / -1 with err naming what and field. */
int wrk_dit_config_parse(const char *text, size_t len, const char *what, wrk_dit_config_t *c,
                         char *err, size_t errlen);
/* path: a config.json file, a transformer/ directory, or a model root holding transformer/. */
int wrk_dit_config_load(const char *path, wrk_dit_config_t *c, char *err, size_t errlen);
/* One line for logs: "CogVideoX 5b-rope: 42 layers, 48x64 heads (D=3072), ..." */
void wrk_dit_config_str(const wrk_dit_config_t *c, char *buf, size_t n);

/* ---- scheduler/scheduler_config.json ---- */

typedef enum { WRK_BETA_LINEAR, WRK_BETA_SCALED_LINEAR, WRK_BETA_SQUAREDCOS_CAP_V2, WRK_BETA_COUNT } wrk_beta_schedule_t;
typedef enum { WRK_PRED_EPSILON, WRK_PRED_SAMPLE, WRK_PRED_V, WRK_PRED_COUNT } wrk_prediction_t;
typedef enum { WRK_SPACING_LEADING, WRK_SPACING_TRAILING, WRK_SPACING_LINSPACE, WRK_SPACING_COUNT } wrk_spacing_t;

typedef struct {
    char   class_name[64];                 /* "CogVideoXDDIMScheduler", "CogVideoXDPMScheduler" or "" */
    int    num_train_timesteps;            /* 1000 */
    double beta_start;                     /* 0.00085 */
    double beta_end;                       /* 0.012 */
    wrk_beta_schedule_t beta_schedule;     /* "scaled_linear" */
    int    clip_sample;                    /* true (ignored by the CogVideoX step functions) */
    int    set_alpha_to_one;               /* true */
    int    steps_offset;                   /* 0 */
    wrk_prediction_t prediction_type;      /* "epsilon" (CogVideoX ships "v_prediction") */
    double clip_sample_range;              /* 1.0 (ignored, as in diffusers' CogVideoX step) */
    double sample_max_value;               /* 1.0 (ignored) */
    wrk_spacing_t timestep_spacing;        /* "leading" (CogVideoX ships "trailing") */
    int    rescale_betas_zero_snr;         /* false (CogVideoX ships true) */
    double snr_shift_scale;                /* 3.0 (5B ships 1.0) */
} wrk_sched_config_t;

void        wrk_sched_config_default(wrk_sched_config_t *c);
const char *wrk_beta_schedule_name(wrk_beta_schedule_t b);
const char *wrk_prediction_name(wrk_prediction_t p);
const char *wrk_spacing_name(wrk_spacing_t s);
int         wrk_spacing_from_name(const char *name, wrk_spacing_t *out);     /* 0 / -1 */

int wrk_sched_config_parse(const char *text, size_t len, const char *what, wrk_sched_config_t *c,
                           char *err, size_t errlen);
/* path: a scheduler_config.json file, a scheduler/ directory, or a model root holding scheduler/. */
int wrk_sched_config_load(const char *path, wrk_sched_config_t *c, char *err, size_t errlen);

#endif
