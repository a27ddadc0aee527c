/* vae.h — the CogVideoX 3D causal VAE decoder (diffusers 0.32.0 AutoencoderKLCogVideoX, decoder
 * only) on a compute backend (CPU by default, or CUDA), fp32, numerically the reference's algorithm (MODEL.md §4):
 *   latents (B, F, C, h, w) as the DiT produces them → times 1/scaling_factor → decoded in
 *   temporal chunks of 2 latent frames (3 in the first when F is odd, F itself when F < 2) with
 *   every causal conv's last 2 input frames carried to the next chunk, GroupNorm statistics per
 *   chunk → optional spatial tiling with the reference's in-place blend → frames.
 *
 * Loading reads MODEL/vae/config.json (every field checked, unsupported variants rejected: quant
 * convs, non-silu activations, other block types) and the decoder.* tensors of the safetensors
 * (F32/F16/BF16; every shape checked; a missing or unexpected decoder tensor is an error naming
 * the file and the tensor). The encoder is not loaded.
 *
 * Output layout: (B, T, H, W, 3) fp32, channels-last, the raw decoder values (the pipeline maps
 * them with x*0.5+0.5 clamped to [0, 1]: wrk_vae_postprocess). Untiled: T = wrk_vae_frames(F),
 * H = 8h, W = 8w for the 4-level config. Tiled output sizes come from wrk_vae_out_dims (they equal
 * the untiled ones whenever the tile settings are consistent, as the released ones are).
 *
 * Devices: the decoder runs on any compute backend of kernels/k.h (CPU by default; CUDA after
 * wrk_vae_set_backend(vae, k_backend_cuda()) — TF32 tensor-core convolutions, fp32 elsewhere).
 * Latents and frames stay in host memory whatever the backend.
 *
 * Not here: the encoder, batch slicing (batch items are decoded one after the other, which is
 * exactly what slicing does).
 */
#ifndef WORKER_MODEL_VAE_H
#define WORKER_MODEL_VAE_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/k.h"

#define WRK_VAE_MAX_BLOCKS 8

typedef struct {
    int    block_out_channels[WRK_VAE_MAX_BLOCKS];   /* [128, 256, 256, 512] */
    int    n_blocks;                                 /* 4 */
    int    latent_channels;                          /* 16 */
    int    out_channels;                             /* 3 */
    int    layers_per_block;                         /* 3 (up blocks have layers_per_block + 1) */
    int    norm_num_groups;                          /* 32 */
    double norm_eps;                                 /* 1e-6 (resnets; SpatialNorm3D hard-codes 1e-6) */
    int    temporal_compression_ratio;               /* 4 */
    int    sample_height, sample_width;              /* 480, 720 (tile defaults derive from them) */
    double scaling_factor;                           /* 1.15258426 (2B) / 0.7 (5B) */
} wrk_vae_config_t;

/* Spatial tiling (diffusers attributes of the same names). Defaults as diffusers computes them:
 * tile_sample_min = sample_size // 2, overlap factors 1/6 (height) and 1/5 (width). */
typedef struct {
    int    tile_sample_min_height, tile_sample_min_width;
    double tile_overlap_factor_height, tile_overlap_factor_width;
} wrk_vae_tiling_t;

typedef struct wrk_vae wrk_vae_t;

/* path: a vae/ directory (config.json + diffusion_pytorch_model.safetensors[.index.json]) or a
 * model root holding vae/. 0, or -1 with err naming the file and the field or tensor. */
int  wrk_vae_load(const char *path, wrk_vae_t **out, char *err, size_t errlen);
void wrk_vae_destroy(wrk_vae_t **vae);

/* A decoder of config cfg with deterministic random weights (no files; conv weights uniform
 * ±1/sqrt(fan_in), norm affine 1/0, biases ±0.01, a hash of (seed, tensor, index)), for benchmarks
 * at real sizes. 0 / -1 with err. */
int  wrk_vae_new_random(const wrk_vae_config_t *cfg, uint64_t seed, wrk_vae_t **out, char *err, size_t errlen);
/* The defaults of config.json fields (CogVideoX: blocks 128,256,256,512, 3 layers, groups 32, 16
 * latent channels, 480x720 samples, scaling_factor of 2B: set 0.7 for 5B). */
void wrk_vae_config_default(wrk_vae_config_t *c);

const wrk_vae_config_t *wrk_vae_config(const wrk_vae_t *vae);
/* One log line: "CogVideoX VAE decoder: blocks 128,256,256,512 x3 layers, groups 32, ..." */
void wrk_vae_config_str(const wrk_vae_t *vae, char *buf, size_t n);

void wrk_vae_tiling_get(const wrk_vae_t *vae, wrk_vae_tiling_t *t);
/* Replaces the tiling settings (validated: tiles of at least one latent, overlaps that advance). */
int  wrk_vae_tiling_set(wrk_vae_t *vae, const wrk_vae_tiling_t *t, char *err, size_t errlen);

/* Pixel frames decoded from F latent frames: 1 + 4(F-1) for odd F, 4F for even F (ratio 4). */
int wrk_vae_frames(const wrk_vae_t *vae, int latent_frames);
/* Output sizes for latents (F, h, w); tiled = 1 uses tiling when the latent exceeds one tile
 * (like diffusers). 0 / -1. */
int wrk_vae_out_dims(const wrk_vae_t *vae, int F, int h, int w, int tiled, int *T, int *H, int *W);

/* Decodes latents (B, F, C, h, w) (C = latent_channels, the DiT's layout, NOT yet scaled: this
 * applies 1/scaling_factor like the pipeline's decode_latents) into out (B, T, H, W, out_channels)
 * with (T, H, W) from wrk_vae_out_dims; latents and out are host memory on every backend.
 * Threads: the kernels' k_threads() of the calling thread (CPU). vae is not modified (the causal caches live in the call), so several threads may decode with
 * one loaded VAE at once (RGB and alpha videos). 0 / -1 with err. */
int wrk_vae_decode(const wrk_vae_t *vae, const float *latents, int B, int F, int h, int w, int tiled,
                   float *out, char *err, size_t errlen);

/* Runs wrk_vae_decode on backend kb (kernels/k.h; NULL or k_backend_cpu() = the host weights, the
 * default). Another backend gets its own copy of every weight (fp32: ~0.5 GB for CogVideoX's
 * decoder), made now, and keeps it until the next call or wrk_vae_destroy; a decode then holds its
 * activations and causal caches there (CogVideoX at 480x720: a few GB, see BENCHMARKS.md) and frees
 * them before returning. The calling thread must be able to use kb (on CUDA: the thread's current
 * device). 0, or -1 with err (the decoder is then back on the CPU). */
int wrk_vae_set_backend(wrk_vae_t *vae, const k_backend_t *kb, char *err, size_t errlen);
/* The backend decodes run on (never NULL). */
const k_backend_t *wrk_vae_backend(const wrk_vae_t *vae);

/* x = clamp(x * 0.5 + 0.5, 0, 1) over n floats (what the pipeline's video processor does). */
void wrk_vae_postprocess(float *x, long n);

#endif
