/* pipeline_impl.h — the pipeline handle, shared by pipeline.c (loading) and pipeline_render.c
 * (rendering) only. Not a public interface: use pipeline.h. */
#ifndef WORKER_MODEL_PIPELINE_IMPL_H
#define WORKER_MODEL_PIPELINE_IMPL_H
#include "worker/model/pipeline.h"
#include "worker/model/t5.h"
#include "worker/model/tokenizer.h"
#include "worker/model/vae.h"

#define PIPE_PATH_MAX 4096

struct wrk_pipe {
    char            dir[PIPE_PATH_MAX], lora[PIPE_PATH_MAX];
    wrk_pipe_opts_t o;            /* o.lora_path points at lora (or NULL) */
    wrk_tok_t      *tok;
    wrk_t5_t       *t5;
    wrk_dit_t      *dit;
    wrk_vae_t      *vae;
    wrk_schedule_t  sched;
    wrk_sampler_t   kind;         /* from scheduler_config.json's _class_name */
    int             text_len;     /* transformer max_text_seq_length (226) */
    int             C;            /* latent channels */
    int             patch;        /* DiT spatial patch */
    int             rgba;         /* LoRA loaded: latents hold RGB then alpha frames */
    int             vae_scale;    /* pixels per latent: 2^(VAE blocks - 1) */
    wrk_pipe_stats_t stats;       /* of the last render */
};

#endif
