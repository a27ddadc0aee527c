/* pipeline.h — the whole TransPixar RGBA pipeline over a diffusers CogVideoX model directory, and
 * the worker's `dit` engine built on it (MODEL.md §2.8, §3, §4, §5).
 *
 * What it is:
 *   load once:  MODEL/model_index.json + tokenizer/ + text_encoder/ + transformer/ + vae/ +
 *               scheduler/, optional TransPixar LoRA file; the parts are checked against each other
 *               (T5 width = DiT text width, tokenizer ids fit T5's vocabulary, VAE latent channels =
 *               DiT channels): a mismatch is a "model" error naming the files.
 *   per window: prompt and negative prompt → tokenizer (max_text_seq_length ids, EOS, pads) → T5
 *               (embeddings cached per prompt by the T5 cache) → the scheduler of the model
 *               (DPM or DDIM from scheduler_config.json's _class_name) with CFG [uncond, cond] and
 *               dynamic CFG over the DiT, RGBA doubled latents (RGB frames then alpha frames, the
 *               alpha half starting as a copy of the RGB noise) → VAE decode of the RGB half and of
 *               the alpha half (spatial tiling on by default, as TransPixar's cli) → x*0.5+0.5
 *               clamped → alpha = max over the decoded alpha video's 3 channels → RGB premultiplied
 *               (rgb * alpha in fp32, as the reference saves it).
 *   Without a LoRA the model is plain CogVideoX: RGB latents only and alpha = 1 (opaque).
 *
 * Frame count rule: a window of n pixel frames uses F = (n − 1)/4 + 1 latent frames (temporal
 * compression 4). The VAE returns wrk_vae_frames(F) frames: 1 + 4(F − 1) = n when F is odd and n is
 * 1 + 4k (the farm's windows always are), 4F = n + 3 when F is even (MODEL.md §4.4: the first chunk
 * then has no single first frame). The pipeline keeps the FIRST n frames; when the VAE would return
 * fewer than n (n not 1 + 4k with F odd, e.g. 10) the window is refused (class "window").
 * Pixel size: width and height must be multiples of 8·patch (16 for CogVideoX).
 *
 * Noise: the initial latent and the noise of every DPM step are pure functions of (seed, window
 * index, step) (noise.h), so a re-render is bit-identical; a replay file (wrk_pipe_noise_load) can
 * stand in for both (the parity test replays the reference's captured noise).
 *
 * Failure classes (proto_fail_class_t): bad model input (missing file, wrong shape, truncated
 * tensor, config not matching the weights, a LoRA for another base) → PROTO_FAIL_MODEL with a
 * message naming file and tensor; a request the model cannot render (size, frame count) →
 * PROTO_FAIL_WINDOW; out of memory → PROTO_FAIL_RESOURCE.
 *
 * Not here: choosing the backend (worker/device.c: --device / FARM_DEVICE; the pipeline runs on the
 * backend in its options), sharing a model between concurrent renders (one render at a time per
 * wrk_pipe_t), CogVideoX 1.5 (patch_size_t), image-to-video.
 */
#ifndef WORKER_MODEL_PIPELINE_H
#define WORKER_MODEL_PIPELINE_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frames.h"
#include "worker/engine.h"
#include "worker/model/dit.h"
#include "worker/model/pipeline_strategy.h"
#include "worker/model/sampler.h"

/* ---- loading ---- */

typedef struct {
    const char    *lora_path;    /* TransPixar LoRA .safetensors, or NULL (plain RGB model) */
    float          lora_alpha;   /* LoRA scale = lora_alpha / rank; 1.0 as released */
    wrk_dit_mask_t mask;         /* text→alpha rule, default bias −1.0 (released code parity) */
    float          mask_bias;
    int            tp;           /* tensor-parallel degree of the DiT, default 1 */
    int            threads;      /* compute threads, 0 = all */
    int            tiled;        /* VAE spatial tiling: 1 (default, TransPixar cli) / 0 */
    int            t5_stream;    /* T5 weights: -1 auto (stream above 4 GiB of weights), 0 resident, 1 stream */
    int            device_fp32;  /* on a GPU: 1 keeps the DiT's and T5's weights fp32 (TF32 GEMMs) instead
                                    of bf16 (twice the weight memory; the parity check of the CUDA path) */
    const k_backend_t *backend;  /* tests: DiT, T5 and VAE run on this table as a device (NULL: the
                                    process's device); bf16 DiT/T5 weights unless device_fp32 */
    int            quiet;        /* 1: no load log on stderr */
} wrk_pipe_opts_t;

void wrk_pipe_opts_default(wrk_pipe_opts_t *o);

typedef struct wrk_pipe wrk_pipe_t;

/* Loads MODEL (a directory holding model_index.json and the component folders). 0, or -1 with err
 * naming the file (and tensor or field); every load failure is a model error. *out owned by the
 * caller: wrk_pipe_destroy. */
int  wrk_pipe_load(const char *dir, const wrk_pipe_opts_t *o, wrk_pipe_t **out, char *err, size_t errlen);
void wrk_pipe_destroy(wrk_pipe_t **p);
/* One line: "pipeline MODEL: CogVideoX 5b-rope ..., T5 ..., VAE ..., LoRA rank r, dpm" */
void wrk_pipe_str(const wrk_pipe_t *p, char *buf, size_t n);
int  wrk_pipe_rgba(const wrk_pipe_t *p);          /* 1 when a LoRA made it RGBA */
void wrk_pipe_text_cache_clear(wrk_pipe_t *p);    /* forget cached prompt embeddings */

/* ---- noise replay (farm-worker render --noise) ---- */

typedef struct {
    int     nF, C, h, w;      /* latent frames as stored (2F for RGBA, or F: duplicated for alpha) */
    float  *init;             /* (1, nF, C, h, w) */
    int     steps;            /* S */
    float  *step_noise;       /* (S, 1, nF, C, h, w) or NULL (then DPM noise comes from the seed) */
} wrk_pipe_noise_t;

/* Reads `latents` (1, nF, C, h, w) and optional `step_noise` (S, 1, nF, C, h, w). 0 / -1 with err. */
int  wrk_pipe_noise_load(const char *path, wrk_pipe_noise_t *nz, char *err, size_t errlen);
void wrk_pipe_noise_free(wrk_pipe_noise_t *nz);

/* ---- rendering ---- */

typedef struct {
    const char *prompt, *negative;       /* negative NULL = "" */
    int         frames, width, height;   /* n pixel frames, pixel size */
    int         steps;                   /* inference steps */
    double      guidance;                /* CFG iff > 1 */
    wrk_cfg_mode_t cfg_mode;             /* WRK_CFG_DYNAMIC (TransPixar) unless set otherwise */
    uint64_t    seed;
    uint32_t    window;                  /* window index: keys the noise */
    const wrk_pipe_noise_t *noise;       /* replay, or NULL */
    wrk_strategy_t *strategy;            /* chain / anchor (pipeline_strategy.h), or NULL: independent */
    atomic_int *cancel;                  /* polled between steps; may be NULL */
    void (*progress)(void *ctx, int done, int total);   /* after every step and after decoding */
    void       *ctx;
} wrk_pipe_req_t;

void wrk_pipe_req_default(wrk_pipe_req_t *r);

typedef struct {
    int    n, h, w;       /* frames kept (= req.frames), pixel size */
    float *rgba;          /* (n, h, w, 4): premultiplied RGB (rgb·alpha) then alpha, each in [0, 1] */
    uint8_t *cond;        /* the conditioning blob the window hands on (req.strategy), or NULL */
    size_t cond_len;
} wrk_pipe_frames_t;

enum { WRK_PIPE_OK = 0, WRK_PIPE_FAILED = -1, WRK_PIPE_CANCELLED = -2 };

/* Renders one window. WRK_PIPE_OK with out filled (free: wrk_pipe_frames_free), WRK_PIPE_CANCELLED,
 * or WRK_PIPE_FAILED with *fail_class (proto_fail_class_t) and err. */
int  wrk_pipe_render(wrk_pipe_t *p, const wrk_pipe_req_t *r, wrk_pipe_frames_t *out, int *fail_class,
                     char *err, size_t errlen);
void wrk_pipe_frames_free(wrk_pipe_frames_t *f);

/* Where the last wrk_pipe_render spent its wall time, seconds. */
typedef struct {
    double text_s;       /* tokenizer + T5 (cache hits cost ~0) */
    double denoise_s;    /* the sampler loop: every DiT call and step update */
    double decode_s;     /* both VAE decodes, postprocess and composition */
    double total_s;
    int    steps;        /* sampler steps taken */
    int    dit_calls;    /* DiT forwards (one per step; batch 2 with CFG) */
} wrk_pipe_stats_t;
const wrk_pipe_stats_t *wrk_pipe_stats(const wrk_pipe_t *p);

/* Float frames → the window artifact's premultiplied uint16 frames (round to nearest), frame 0 at
 * shot frame `first`. 0 / -1 with err (out of memory). */
int  wrk_pipe_to_proto(const wrk_pipe_frames_t *f, int first, proto_frames_t *out, char *err, size_t errlen);
/* One 8-bit sample as the reference exports it: (uint8)(x * 255) in fp32, truncating. */
static inline uint8_t wrk_pipe_u8(float x) { return (uint8_t)(x * 255.0f); }

/* ---- the worker's dit engine (pipeline_engine.c) ---- */

/* The `dit` row of worker/engine.c: renders the ASSIGN's window with the model and LoRA it names
 * (wrk_pipe_resolve), loading the pipeline once per process and again only when another model or
 * LoRA is named; PROGRESS after every sampler step, CANCEL honoured between steps. */
int  wrk_pipe_engine_render(const wrk_render_t *r, proto_frames_t *out, int *fail_class, char *err,
                            size_t errlen);

/* Resolves a shot's `model`: a value holding '/' is a directory path; otherwise a name looked up
 * as $FARM_MODELS/NAME, FARM_MODELS defaulting to $FARM_HOME/models (FARM_HOME: ./farm-home).
 * Names are [A-Za-z0-9._-], not "." or "..". A `lora` with '/' is a path; a bare file name is
 * looked up in the model directory, then in $FARM_MODELS. Empty lora = none. 0 / -1 with err. */
int  wrk_pipe_resolve(const char *model, const char *lora, char *dir, size_t dirlen, char *lora_out,
                      size_t loralen, char *err, size_t errlen);

/* 8-bit straight-alpha RGBA PNG of one premultiplied uint16 frame (h, w, 4) (pipeline_png.c):
 * colour = round(255 · c / a) (0 where a = 0), alpha = round(255 · a / 65535). Stored (uncompressed)
 * deflate blocks with zlib's Adler-32 and PNG's CRC-32: valid PNG without linking zlib.
 * Written to path.tmp then renamed. 0 / -1 with err. */
int  wrk_pipe_png_write(const char *path, const uint16_t *px, int w, int h, char *err, size_t errlen);

#endif
