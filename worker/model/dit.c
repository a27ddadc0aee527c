/* dit.c — DiT options, backend choice, loading (config, weights of every rank, LoRA), and the forward
 * entry points that run the tensor-parallel ranks on the model's k_comm_pool (CPU threads, or one
 * thread per GPU over NCCL, started at load and kept). See dit.h; the weight table is dit_weights.c and the math is dit_fwd.c.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/k_select.h"
#include "worker/model/config.h"
#include "worker/model/dit_impl.h"

static const char *const MASK_NAMES[WRK_DIT_MASK_COUNT] = {
    [WRK_DIT_MASK_NONE] = "none", [WRK_DIT_MASK_BIAS] = "bias", [WRK_DIT_MASK_HARD] = "hard",
};

const char *wrk_dit_mask_name(wrk_dit_mask_t m)
{
    return (unsigned)m < WRK_DIT_MASK_COUNT ? MASK_NAMES[m] : "?";
}

int wrk_dit_mask_from_name(const char *name, wrk_dit_mask_t *out)
{
    for (int i = 0; i < WRK_DIT_MASK_COUNT; i++)
        if (name && strcmp(name, MASK_NAMES[i]) == 0) { *out = (wrk_dit_mask_t)i; return 0; }
    return -1;
}

void wrk_dit_opts_default(wrk_dit_opts_t *o)
{
    *o = (wrk_dit_opts_t){ .lora_alpha = 1.0f, .mask = WRK_DIT_MASK_BIAS, .mask_bias = -1.0f, .tp = 1,
                           .device = K_DEVICE_CPU, .bf16_weights = -1 };
}

const wrk_dit_info_t *wrk_dit_info(const wrk_dit_t *m) { return &m->info; }
const wrk_dit_stats_t *wrk_dit_stats(const wrk_dit_t *m) { return &m->stats; }

/* ---- loading ---- */

/* dir itself when it holds config.json, else dir/transformer. */
static int transformer_dir(const char *dir, char *out, size_t n, char *err, size_t errlen)
{
    struct stat sb;
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/transformer/config.json", dir);
    if (stat(probe, &sb) == 0) snprintf(out, n, "%s/transformer", dir);
    else snprintf(out, n, "%s", dir);
    snprintf(probe, sizeof probe, "%s/config.json", out);
    if (stat(probe, &sb) != 0) {
        snprintf(err, errlen, "%s: neither DIR/transformer/config.json nor DIR/config.json exists", dir);
        return -1;
    }
    return 0;
}

/* Copies the config into info/cfg; rejects the variants this engine does not run. */
static int apply_config(wrk_dit_t *m, const wrk_dit_config_t *c, char *err, size_t errlen)
{
    if (c->form != WRK_DIT_FORM_2B_SINCOS && c->form != WRK_DIT_FORM_5B_ROPE) {
        snprintf(err, errlen, "%s/config.json: form %s (patch_size_t) is not supported; only "
                 "CogVideoX v1.0 (2b-sincos, 5b-rope)", m->dir, wrk_dit_form_name(c->form));
        return -1;
    }
    if (!c->patch_bias || c->ofs_embed_dim || c->use_learned_positional_embeddings) {
        snprintf(err, errlen, "%s/config.json: patch_bias=false / ofs_embed_dim / learned positions "
                 "(CogVideoX1.5 / I2V) are not supported", m->dir);
        return -1;
    }
    m->info = (wrk_dit_info_t){
        .num_layers = c->num_layers, .num_heads = c->num_attention_heads,
        .head_dim = c->attention_head_dim, .inner_dim = c->inner_dim, .in_channels = c->in_channels,
        .out_channels = c->out_channels, .text_dim = c->text_embed_dim, .time_dim = c->time_embed_dim,
        .patch = c->patch_size, .rope = c->form == WRK_DIT_FORM_5B_ROPE,
        .max_text_len = c->max_text_seq_length,
    };
    m->cfg = (dit_cfg_t){
        .sample_h = c->sample_height, .sample_w = c->sample_width, .sample_frames = c->sample_frames,
        .temporal_compression = c->temporal_compression_ratio,
        .spatial_interp = (float)c->spatial_interpolation_scale,
        .temporal_interp = (float)c->temporal_interpolation_scale,
        .flip_sin_to_cos = c->flip_sin_to_cos, .freq_shift = (float)c->freq_shift,
        .norm_eps = (float)c->norm_eps, .norm_affine = c->norm_elementwise_affine,
        .attn_bias = c->attention_bias,
    };
    return 0;
}

/* RGBA, LoRA scale, mask and TP settings from the options. */
static int apply_opts(wrk_dit_t *m, const wrk_dit_opts_t *o, const wrk_lora_t *lora, char *err,
                      size_t errlen)
{
    wrk_dit_info_t *i = &m->info;
    if ((unsigned)o->mask >= WRK_DIT_MASK_COUNT || !isfinite(o->mask_bias) || o->tp < 0) {
        snprintf(err, errlen, "dit: invalid options (mask %d, mask_bias %g, tp %d)", (int)o->mask,
                 (double)o->mask_bias, o->tp);
        return -1;
    }
    i->rgba = o->rgba || lora != NULL;
    i->lora_rank = lora ? wrk_lora_rank(lora) : 0;
    i->lora_scale = !lora ? 0.0f : o->lora_scale > 0 ? o->lora_scale : o->lora_alpha / (float)i->lora_rank;
    i->mask = o->mask;
    i->mask_bias = o->mask == WRK_DIT_MASK_HARD ? -INFINITY : o->mask == WRK_DIT_MASK_BIAS ? o->mask_bias : 0;
    int total = o->threads > 0 ? o->threads : omp_get_max_threads();
    m->threads_per_rank = total / i->tp > 1 ? total / i->tp : 1;
    return 0;
}

/* The backend (opts.device, or opts.backend for tests), where buffers live, bf16 weights, and the
 * TP degree: on CUDA one rank per GPU, so more ranks than visible GPUs is an error. */
static int apply_backend(wrk_dit_t *m, const wrk_dit_opts_t *o, char *line, size_t linelen, char *err,
                         size_t errlen)
{
    int ngpu = 0;
    if (o->backend) {
        m->kb = o->backend;
        snprintf(line, linelen, "backend %s: given by the caller (device memory emulated)", m->kb->name);
    } else if (!(m->kb = k_backend_pick(o->device, &ngpu, line, linelen, err, errlen))) {
        return -1;
    }
    m->on_device = o->backend != NULL || strcmp(m->kb->name, "cpu") != 0;
    m->nccl = strcmp(m->kb->name, "cuda") == 0;
    m->bf16w = o->bf16_weights < 0 ? m->nccl : o->bf16_weights > 0;
    int tp = o->tp > 0 ? o->tp : m->nccl ? (ngpu < m->info.num_heads ? ngpu : m->info.num_heads) : 1;
    if (m->nccl && tp > ngpu) {
        snprintf(err, errlen, "dit: tensor-parallel degree %d on CUDA needs %d GPUs (one per rank), but %d "
                 "visible (CUDA_VISIBLE_DEVICES)", tp, tp, ngpu);
        return -1;
    }
    m->info.tp = tp;
    m->info.backend = m->kb->name;
    m->info.gpus = m->nccl ? tp : 0;
    m->info.bf16_weights = m->bf16w;
    m->info.device_memory = m->on_device;
    return 0;
}

/* Binds the calling thread to rank r's GPU (rank r = GPU r) on CUDA; a no-op elsewhere. */
static int bind_rank(const wrk_dit_t *m, int r, char *err, size_t errlen)
{
#ifdef HAVE_CUDA
    if (m->nccl) return k_cuda_bind(r, err, errlen);
#endif
    (void)m; (void)r; (void)err; (void)errlen;
    return 0;
}

/* tp > 1: the rank threads (rank r on GPU r over NCCL, else CPU threads) with their communicator group,
 * started once here and kept for every forward; the caller stays bound to GPU 0. */
static int make_pool(wrk_dit_t *m, char *err, size_t errlen)
{
    const k_comm_backend_t *be = k_comm_threads_backend();
#ifdef HAVE_CUDA
    if (m->nccl) be = k_comm_nccl_backend();
#endif
    char why[512] = "";
    if ((m->pool = k_comm_pool_new(be, m->info.tp, NULL, why, sizeof why))) return 0;
    snprintf(err, errlen, "dit: cannot start %d tensor-parallel ranks (%s): %s", m->info.tp, be->name, why);
    return -1;
}

void wrk_dit_thread_done(void)
{
#ifdef HAVE_CUDA
    k_cuda_unbind();
#endif
}

int wrk_dit_oom(const wrk_dit_t *m)
{
    for (int r = 0; m && m->ranks && r < m->info.tp; r++)
        if (m->ranks[r].oom) return 1;
    return 0;
}

static void log_config(const wrk_dit_t *m, const wrk_dit_config_t *c)
{
    const wrk_dit_info_t *i = &m->info;
    char line[512];
    wrk_dit_config_str(c, line, sizeof line);
    fprintf(stderr, "dit: %s | %s", line, i->rgba ? "RGBA" : "RGB");
    if (i->lora_rank) fprintf(stderr, " lora r=%d scale=%g", i->lora_rank, (double)i->lora_scale);
    if (i->rgba) fprintf(stderr, " mask=%s(%g)", wrk_dit_mask_name(i->mask), (double)i->mask_bias);
    if (m->nccl) fprintf(stderr, " | cuda tp %d (GPU 0..%d)%s\n", i->tp, i->tp - 1, m->bf16w ? ", bf16 weights" : "");
    else fprintf(stderr, " | %s tp %d x %d threads%s\n", m->kb->name, i->tp, m->threads_per_rank,
                 m->bf16w ? ", bf16 weights" : "");
}

int wrk_dit_load(const char *dir, const wrk_dit_opts_t *opts, wrk_dit_t **out, char *err, size_t errlen)
{
    wrk_dit_opts_t defaults;
    wrk_dit_config_t c;
    wrk_st_t *st = NULL;
    wrk_lora_t *lora = NULL;
    char line[256] = "";
    wrk_dit_t *m = calloc(1, sizeof *m);
    if (!opts) { wrk_dit_opts_default(&defaults); opts = &defaults; }
    if (!m) { snprintf(err, errlen, "dit: out of memory"); return -1; }
    m->kb = k_backend_cpu();
    if (transformer_dir(dir, m->dir, sizeof m->dir, err, errlen) != 0 ||
        wrk_dit_config_load(m->dir, &c, err, errlen) != 0 || apply_config(m, &c, err, errlen) != 0 ||
        wrk_st_open(m->dir, &st, err, errlen) != 0 || dit_weights_detect(m, st, err, errlen) != 0)
        goto fail;
    if (opts->lora_path &&
        wrk_lora_open(opts->lora_path, m->info.num_layers, m->info.inner_dim, &lora, err, errlen) != 0)
        goto fail;
    if (apply_backend(m, opts, line, sizeof line, err, errlen) != 0 ||
        apply_opts(m, opts, lora, err, errlen) != 0)
        goto fail;
    if (!opts->quiet) fprintf(stderr, "%s\n", line);
    if (!(m->ranks = calloc((size_t)m->info.tp, sizeof *m->ranks))) {
        snprintf(err, errlen, "dit: out of memory");
        goto fail;
    }
    for (int r = 0; r < m->info.tp; r++)
        if (bind_rank(m, r, err, errlen) != 0 || dit_weights_load(m, st, lora, r, err, errlen) != 0) goto fail;
    if (m->info.tp > 1 && (bind_rank(m, 0, err, errlen) != 0 || make_pool(m, err, errlen) != 0)) goto fail;
    if (!opts->quiet) log_config(m, &c);
    wrk_lora_close(&lora);
    wrk_st_close(&st);
    *out = m;
    return 0;
fail:
    wrk_lora_close(&lora);
    wrk_st_close(&st);
    wrk_dit_destroy(&m);
    return -1;
}

void wrk_dit_destroy(wrk_dit_t **mp)
{
    if (!mp || !*mp) return;
    wrk_dit_t *m = *mp;
    k_comm_pool_destroy(&m->pool);
    for (int r = 0; m->ranks && r < m->info.tp; r++) dit_weights_free(m, &m->ranks[r]);
    free(m->ranks);
    free(m);
    *mp = NULL;
}

/* ---- forward ---- */

typedef struct {
    wrk_dit_t *m;
    int B, F, H, W, L;
    const float *x, *text;
    const int64_t *t;
    const wrk_dit_anchor_t *anchor;
    float *out;
} fwd_args_t;

static int rank_fn(k_comm_t *c, void *p, char *err, size_t errlen)
{
    fwd_args_t *a = p;
    return dit_forward_rank(a->m, c, a->B, a->F, a->H, a->W, a->x, a->L, a->text, a->t, a->anchor,
                            k_comm_rank(c) == 0 ? a->out : NULL, err, errlen);
}

int wrk_dit_forward(wrk_dit_t *m, int B, int F, int H, int W, const float *x, int L,
                    const float *text, const int64_t *t, float *out, char *err, size_t errlen)
{
    if (!x || !text || !t || !out) { snprintf(err, errlen, "dit forward: NULL buffer"); return -1; }
    return wrk_dit_forward_anchor(m, B, F, H, W, x, NULL, L, text, t, out, err, errlen);
}

int wrk_dit_forward_anchor(wrk_dit_t *m, int B, int F, int H, int W, const float *x,
                           const wrk_dit_anchor_t *anchor, int L, const float *text, const int64_t *t,
                           float *out, char *err, size_t errlen)
{
    if (!x || !text || !t || !out || (anchor && !anchor->x)) {
        snprintf(err, errlen, "dit forward: NULL buffer");
        return -1;
    }
    for (int r = 0; r < m->info.tp; r++) m->ranks[r].oom = 0;
    if (m->info.tp == 1)
        return bind_rank(m, 0, err, errlen) != 0 ? -1
               : dit_forward_rank(m, NULL, B, F, H, W, x, L, text, t, anchor, out, err, errlen);
    fwd_args_t a = { m, B, F, H, W, L, x, text, t, anchor, out };
    return k_comm_pool_run(m->pool, rank_fn, &a, err, errlen);
}

int wrk_dit_forward_rank(wrk_dit_t *m, k_comm_t *comm, int B, int F, int H, int W, const float *x,
                         int L, const float *text, const int64_t *t, float *out, char *err,
                         size_t errlen)
{
    if (!x || !text || !t) { snprintf(err, errlen, "dit forward: NULL buffer"); return -1; }
    if (m->nccl) { snprintf(err, errlen, "dit forward: caller-driven ranks run on host memory only"); return -1; }
    return dit_forward_rank(m, comm, B, F, H, W, x, L, text, t, NULL, k_comm_rank(comm) == 0 ? out : NULL,
                            err, errlen);
}
