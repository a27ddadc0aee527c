/* pipeline.c — loading a diffusers CogVideoX model directory and checking its parts against each
 * other (see pipeline.h). Rendering is pipeline_render.c, the engine pipeline_engine.c. */
#include "worker/model/pipeline.h"
#include "worker/model/pipeline_impl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/json.h"
#include "proto/proto.h"
#include "worker/device.h"
#include "worker/model/safetensors.h"

void wrk_pipe_opts_default(wrk_pipe_opts_t *o)
{
    *o = (wrk_pipe_opts_t){ .lora_alpha = 1.0f, .mask = WRK_DIT_MASK_BIAS, .mask_bias = -1.0f, .tp = 1,
                            .tiled = 1, .t5_stream = -1 };
}

/* ---- model_index.json: one row per component the pipeline needs ---- */

typedef struct {
    const char *key;             /* component folder and model_index.json key */
    const char *classes[3];      /* accepted class names (second element of the [lib, class] pair) */
} pipe_component_t;

static const pipe_component_t COMPONENTS[] = {
    { "transformer",  { "CogVideoXTransformer3DModel" } },
    { "vae",          { "AutoencoderKLCogVideoX" } },
    { "text_encoder", { "T5EncoderModel" } },
    { "tokenizer",    { "T5Tokenizer", "T5TokenizerFast" } },
    { "scheduler",    { "CogVideoXDPMScheduler", "CogVideoXDDIMScheduler" } },
};
#define N_COMPONENTS (sizeof COMPONENTS / sizeof *COMPONENTS)

static char *read_small_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open (is this a diffusers model directory?)", path); return NULL; }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f) || n > max;
    fclose(f);
    if (bad) { free(buf); snprintf(err, errlen, "%s: unreadable or larger than %zu bytes", path, max); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int check_component(const proto_json_t *root, const pipe_component_t *c, const char *path, char *err,
                           size_t errlen)
{
    const proto_json_t *v = proto_json_get(root, c->key);
    const char *cls = v && v->type == PROTO_JSON_ARRAY && proto_json_len(v) == 2 ? proto_json_str(proto_json_at(v, 1)) : NULL;
    if (!cls) {
        snprintf(err, errlen, "%s: component \"%s\" missing or not a [library, class] pair", path, c->key);
        return -1;
    }
    for (int i = 0; i < 3 && c->classes[i]; i++)
        if (!strcmp(cls, c->classes[i])) return 0;
    snprintf(err, errlen, "%s: component \"%s\" is a %.80s; this pipeline runs %s%s%s", path, c->key, cls,
             c->classes[0], c->classes[1] ? " or " : "", c->classes[1] ? c->classes[1] : "");
    return -1;
}

/* model_index.json must name a CogVideoX pipeline with every component this engine runs. */
static int check_index(const char *dir, char *err, size_t errlen)
{
    char path[PIPE_PATH_MAX + 32];
    size_t len = 0;
    proto_json_t *root = NULL;
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    char *text = read_small_file(path, 1 << 20, &len, err, errlen);
    int rc = -1;
    if (!text) return -1;
    char jerr[200];
    if (proto_json_parse(text, len, NULL, &root, NULL, jerr, sizeof jerr)) {
        snprintf(err, errlen, "%s: %s", path, jerr);
        goto out;
    }
    const char *cls = NULL;
    if (root->type != PROTO_JSON_OBJECT || proto_json_get_str(root, "_class_name", &cls) || strncmp(cls, "CogVideoX", 9)) {
        snprintf(err, errlen, "%s: _class_name is not a CogVideoX pipeline", path);
        goto out;
    }
    for (size_t i = 0; i < N_COMPONENTS; i++)
        if (check_component(root, &COMPONENTS[i], path, err, errlen)) goto out;
    rc = 0;
out:
    proto_json_free(&root);
    free(text);
    return rc;
}

/* Total bytes of the *.safetensors files in dir (0 when unreadable). */
static unsigned long long safetensors_bytes(const char *dir)
{
    unsigned long long total = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PIPE_PATH_MAX + 300];
    struct stat sb;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) == 0) total += (unsigned long long)sb.st_size;
    }
    if (d) closedir(d);
    return total;
}

/* ---- components ---- */

static int load_text(wrk_pipe_t *p, char *err, size_t errlen)
{
    char sub[PIPE_PATH_MAX + 32];
    snprintf(sub, sizeof sub, "%s/text_encoder", p->dir);
    wrk_t5_opts_t to = { .stream_weights = p->o.t5_stream, .cache_entries = 0 };
    char line[256], why[256];                 /* on a CUDA worker T5 encodes on the GPU (weights per encode) */
    if (wrk_device_get() == K_DEVICE_CUDA) to.kb = k_backend_pick(K_DEVICE_CUDA, NULL, line, sizeof line, why, sizeof why);
    if (p->o.backend) to.kb = p->o.backend;
    to.device_fp32 = p->o.device_fp32;
    if (to.stream_weights < 0) to.stream_weights = safetensors_bytes(sub) > (4ull << 30);
    if (wrk_tok_open(p->dir, &p->tok, err, errlen) || wrk_t5_load(p->dir, &to, &p->t5, err, errlen)) return -1;
    const wrk_t5_config_t *tc = wrk_t5_config(p->t5);
    if (wrk_tok_vocab_size(p->tok) > tc->vocab_size) {
        snprintf(err, errlen, "%s/tokenizer has %d pieces but text_encoder/config.json vocab_size is %d: "
                 "tokenizer and text encoder do not belong together", p->dir, wrk_tok_vocab_size(p->tok), tc->vocab_size);
        return -1;
    }
    return 0;
}

static int load_dit(wrk_pipe_t *p, char *err, size_t errlen)
{
    wrk_dit_opts_t d;
    wrk_dit_opts_default(&d);
    d.lora_path = p->lora[0] ? p->lora : NULL;
    d.lora_alpha = p->o.lora_alpha; d.mask = p->o.mask; d.mask_bias = p->o.mask_bias;
    d.tp = p->o.tp > 0 ? p->o.tp : 0; d.threads = p->o.threads; d.quiet = p->o.quiet;
    d.device = wrk_device_get();          /* the process's --device / FARM_DEVICE (CPU when unset) */
    d.backend = p->o.backend;
    if (p->o.device_fp32) d.bf16_weights = 0;        /* else auto: bf16 on CUDA */
    else if (p->o.backend) d.bf16_weights = 1;      /* a test's table plays the GPU */
    if (wrk_dit_load(p->dir, &d, &p->dit, err, errlen)) return -1;
    const wrk_dit_info_t *i = wrk_dit_info(p->dit);
    if (!i->rope && p->lora[0]) {
        snprintf(err, errlen, "%s/transformer: a TransPixar LoRA needs the 5B (RoPE) form; this is the 2B sin-cos form", p->dir);
        return -1;
    }
    if (i->in_channels != i->out_channels) {
        snprintf(err, errlen, "%s/transformer/config.json: in_channels %d != out_channels %d (image-to-video models are not supported)",
                 p->dir, i->in_channels, i->out_channels);
        return -1;
    }
    return 0;
}

/* The parts must fit together: T5 width = DiT text width, VAE channels = DiT channels. */
static int check_parts(wrk_pipe_t *p, char *err, size_t errlen)
{
    const wrk_dit_info_t *i = wrk_dit_info(p->dit);
    const wrk_vae_config_t *v = wrk_vae_config(p->vae);
    const wrk_t5_config_t *t = wrk_t5_config(p->t5);
    if (t->d_model != i->text_dim) {
        snprintf(err, errlen, "%s: text_encoder/config.json d_model %d but transformer/config.json text_embed_dim %d",
                 p->dir, t->d_model, i->text_dim);
        return -1;
    }
    if (v->latent_channels != i->out_channels) {
        snprintf(err, errlen, "%s: vae/config.json latent_channels %d but transformer/config.json out_channels %d",
                 p->dir, v->latent_channels, i->out_channels);
        return -1;
    }
    p->text_len = i->max_text_len;
    p->C = i->out_channels;
    p->patch = i->patch;
    p->rgba = i->rgba;
    p->vae_scale = 1 << (v->n_blocks - 1);
    return 0;
}

static int load_sched(wrk_pipe_t *p, char *err, size_t errlen)
{
    wrk_sched_config_t cfg;
    if (wrk_sched_config_load(p->dir, &cfg, err, errlen)) return -1;
    p->kind = strcmp(cfg.class_name, "CogVideoXDPMScheduler") == 0 ? WRK_SAMPLER_DPM : WRK_SAMPLER_DDIM;
    return wrk_schedule_init(&p->sched, &cfg, err, errlen);
}

/* The VAE decodes on the DiT's GPU when the DiT runs on CUDA; if its weights do not fit there it
 * stays on the CPU (logged). T5 follows the worker's device (load_text). */
static void place_vae(wrk_pipe_t *p)
{
    char line[256], err[512];
    const k_backend_t *kb = p->o.backend ? p->o.backend
                            : wrk_dit_info(p->dit)->gpus > 0 ? k_backend_pick(K_DEVICE_CUDA, NULL, line, sizeof line,
                                                                             err, sizeof err) : NULL;
    if (kb && wrk_vae_set_backend(p->vae, kb, err, sizeof err) != 0)
        fprintf(stderr, "pipeline: VAE stays on the CPU: %s\n", err);
}

static int pipe_load_parts(wrk_pipe_t *p, char *err, size_t errlen)
{
    if (check_index(p->dir, err, errlen) || load_sched(p, err, errlen) || load_text(p, err, errlen) ||
        load_dit(p, err, errlen) || wrk_vae_load(p->dir, &p->vae, err, errlen) || check_parts(p, err, errlen))
        return -1;
    place_vae(p);
    return 0;
}

int wrk_pipe_load(const char *dir, const wrk_pipe_opts_t *o, wrk_pipe_t **out, char *err, size_t errlen)
{
    *out = NULL;
    wrk_pipe_t *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, errlen, "pipeline: out of memory"); return -1; }
    if (o) p->o = *o; else wrk_pipe_opts_default(&p->o);
    if (snprintf(p->dir, sizeof p->dir, "%s", dir) >= (int)sizeof p->dir ||
        snprintf(p->lora, sizeof p->lora, "%s", o && o->lora_path ? o->lora_path : "") >= (int)sizeof p->lora) {
        snprintf(err, errlen, "pipeline: model or LoRA path too long");
        wrk_pipe_destroy(&p);
        return -1;
    }
    p->o.lora_path = p->lora[0] ? p->lora : NULL;
    if (pipe_load_parts(p, err, errlen)) { wrk_pipe_destroy(&p); return -1; }
    if (!p->o.quiet) {
        char line[1024];
        wrk_pipe_str(p, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    *out = p;
    return 0;
}

void wrk_pipe_destroy(wrk_pipe_t **pp)
{
    wrk_pipe_t *p = pp ? *pp : NULL;
    if (!p) return;
    wrk_tok_close(&p->tok);
    wrk_t5_destroy(&p->t5);
    wrk_dit_destroy(&p->dit);
    wrk_vae_destroy(&p->vae);
    wrk_schedule_free(&p->sched);
    free(p);
    *pp = NULL;
}

void wrk_pipe_str(const wrk_pipe_t *p, char *buf, size_t n)
{
    const wrk_dit_info_t *i = wrk_dit_info(p->dit);
    char t5[256], vae[256];
    wrk_t5_str(p->t5, t5, sizeof t5);
    wrk_vae_config_str(p->vae, vae, sizeof vae);
    snprintf(buf, n, "pipeline %s: DiT %d layers, %dx%d heads, %s%s%s; %s; %s; %s sampler, text %d tokens",
             p->dir, i->num_layers, i->num_heads, i->head_dim, i->rope ? "RoPE" : "sin-cos",
             p->rgba ? ", RGBA LoRA " : ", RGB only", p->rgba ? p->lora : "", t5, vae,
             wrk_sampler_name(p->kind), p->text_len);
}

int wrk_pipe_rgba(const wrk_pipe_t *p) { return p->rgba; }

void wrk_pipe_text_cache_clear(wrk_pipe_t *p) { wrk_t5_cache_clear(p->t5); }

/* ---- noise replay ---- */

static float *read_all(const wrk_st_t *st, const wrk_st_tensor_t *t, char *err, size_t errlen)
{
    float *p = malloc((size_t)t->numel * sizeof *p);
    if (!p) { snprintf(err, errlen, "%s: out of memory", t->name); return NULL; }
    if (wrk_st_read_f32(st, t->name, t->ndim, t->shape, p, t->numel, err, errlen)) { free(p); return NULL; }
    return p;
}

int wrk_pipe_noise_load(const char *path, wrk_pipe_noise_t *nz, char *err, size_t errlen)
{
    wrk_st_t *st = NULL;
    memset(nz, 0, sizeof *nz);
    if (wrk_st_open(path, &st, err, errlen)) return -1;
    const wrk_st_tensor_t *lt = wrk_st_find(st, "latents"), *sn = wrk_st_find(st, "step_noise");
    int rc = -1;
    if (!lt || lt->ndim != 5 || lt->shape[0] != 1 || lt->numel <= 0 || lt->numel > (1ll << 30)) {
        snprintf(err, errlen, "%s: tensor latents missing or not (1, F, C, h, w)", path);
        goto out;
    }
    nz->nF = (int)lt->shape[1]; nz->C = (int)lt->shape[2]; nz->h = (int)lt->shape[3]; nz->w = (int)lt->shape[4];
    if (sn && (sn->ndim != 6 || sn->shape[0] < 1 || sn->shape[0] > 1000 || sn->shape[1] != 1 ||
               memcmp(sn->shape + 2, lt->shape + 1, 4 * sizeof *sn->shape))) {
        snprintf(err, errlen, "%s: tensor step_noise must be (S, 1, %d, %d, %d, %d)", path, nz->nF, nz->C, nz->h, nz->w);
        goto out;
    }
    if (!(nz->init = read_all(st, lt, err, errlen))) goto out;
    if (sn && !(nz->step_noise = read_all(st, sn, err, errlen))) goto out;
    nz->steps = sn ? (int)sn->shape[0] : 0;
    rc = 0;
out:
    wrk_st_close(&st);
    if (rc) wrk_pipe_noise_free(nz);
    return rc;
}

void wrk_pipe_noise_free(wrk_pipe_noise_t *nz)
{
    free(nz->init);
    free(nz->step_noise);
    memset(nz, 0, sizeof *nz);
}
