/* cuda_plan.cu — the device-memory plan of the DiT forward on one GPU (host arithmetic only; no
 * device is touched). It counts what the CUDA backend's DiT run holds at its peak:
 *  - weights in bf16 (q/k/v/out and the FFN split over tp ranks, everything else replicated),
 *  - the TransPixar LoRA factors (bf16, split with their layers),
 *  - the fp32 working buffers of one forward, which every layer reuses (dit_fwd.c's workspace:
 *    h, n, y (B,S,D); qkv / FFN hidden (B,S,max(3·D/tp, FF/tp)); adaLN and time rows),
 *  - GEMM scratch (a bf16 row chunk of x, ≤ 128 MiB) and the cuBLASLt workspace (32 MiB),
 *  - attention workspace: the bf16 copies of the joint K and the tile-transposed V that the fused
 *    kernel (v5, cuda_attention.cu) packs per call, rows padded to 64; the logits
 *    stay in shared memory — for comparison the (B, H, S, S) bf16 tensor a materialised
 *    mask/logit path would need,
 *  - sampler state (latents, noise prediction, CFG halves, fp32),
 *  - a fixed reserve for the CUDA context, cuBLASLt kernels, NCCL buffers and allocator slack.
 * Computed, not measured: the GPU benchmark reports the measured peak beside it.
 */
#include "kernels/cuda/kc_internal.cuh"

#include <stdio.h>
#include <string.h>

#define KC_GIB (1024.0 * 1024.0 * 1024.0)

extern "C" k_cuda_plan_cfg_t k_cuda_plan_cfg_5b_rgba(void)
{
    k_cuda_plan_cfg_t c = { 42, 48, 64, 12288, 4096, 512, 226, 16, 16, 2, 128, 2, 13, 60, 90, 1, 1, 80e9 };
    return c;
}

/* Parameters of one block: replicated part and the part split over tp ranks. */
static void kc_block_params_(const k_cuda_plan_cfg_t *c, double *repl, double *split)
{
    double D = (double)c->heads * c->head_dim, T = c->time_dim, F = c->ff_dim, hd = c->head_dim;
    *repl = 2 * (6 * D * T + 6 * D)          /* norm1/norm2 adaLN linears */
          + 2 * 2 * D                        /* norm1/norm2 LayerNorm affine */
          + 2 * 2 * hd                       /* q/k LayerNorm affine */
          + D;                               /* to_out bias (added once, after the all-reduce) */
    *split = 4 * D * D + 3 * D               /* to_q/k/v (+bias), to_out weight */
           + F * D + F                       /* ff.net.0 (+bias) */
           + D * F + D;                      /* ff.net.2 (+bias) */
}

static double kc_global_params_(const k_cuda_plan_cfg_t *c)
{
    double D = (double)c->heads * c->head_dim, T = c->time_dim, P = (double)c->patch * c->patch;
    return D * c->in_channels * P + D          /* patch_embed.proj */
         + (double)c->text_dim * D + D         /* text_proj */
         + D * T + T + T * T + T               /* time_embedding linear_1, linear_2 */
         + 2 * D                               /* norm_final */
         + 2 * D * T + 2 * D + 2 * D           /* norm_out linear + LayerNorm affine */
         + P * c->out_channels * D + P * c->out_channels;   /* proj_out */
}

static int kc_plan_check_(const k_cuda_plan_cfg_t *c, char *err, size_t errlen)
{
    int v[] = { c->layers, c->heads, c->head_dim, c->ff_dim, c->text_dim, c->time_dim, c->text_len,
                c->in_channels, c->out_channels, c->patch, c->B, c->latent_frames, c->latent_h,
                c->latent_w, c->tp };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (v[i] < 1) { snprintf(err, errlen, "memory plan: config field %zu is %d (must be >= 1)", i, v[i]); return -1; }
    if (c->lora_rank < 0 || c->latent_h % c->patch || c->latent_w % c->patch || c->heads % c->tp || !(c->gpu_bytes > 0)) {
        snprintf(err, errlen, "memory plan: lora_rank %d, latent %dx%d vs patch %d, heads %d vs tp %d, gpu %.3g bytes",
                 c->lora_rank, c->latent_h, c->latent_w, c->patch, c->heads, c->tp, c->gpu_bytes);
        return -1;
    }
    return 0;
}

extern "C" int k_cuda_plan_dit(const k_cuda_plan_cfg_t *c, k_cuda_plan_t *p, char *err, size_t errlen)
{
    if (!c || !p) { snprintf(err, errlen, "memory plan: NULL argument"); return -1; }
    if (kc_plan_check_(c, err, errlen)) return -1;
    double repl, split, D = (double)c->heads * c->head_dim, tp = c->tp, B = c->B;
    long streams = c->rgba ? 2 : 1, per = (long)c->latent_frames * (c->latent_h / c->patch) * (c->latent_w / c->patch);
    kc_block_params_(c, &repl, &split);
    memset(p, 0, sizeof *p);
    p->S = c->text_len + streams * per;
    double S = (double)p->S, Dl = D / tp, Fl = (double)c->ff_dim / tp;
    p->weights = 2.0 * (c->layers * (repl + split / tp) + kc_global_params_(c));
    p->lora = c->rgba ? 2.0 * c->layers * 4 * (2.0 * c->lora_rank * D) / tp : 0;
    p->activations = 4.0 * (3 * B * S * D + B * S * (3 * Dl > Fl ? 3 * Dl : Fl)     /* h, n, y; qkv|ff */
                            + (double)per * 3 * c->lora_rank                          /* LoRA A·x rows */
                            + B * (6 * D + 3 * c->time_dim)                           /* adaLN, temb */
                            + 2.0 * per * c->head_dim + 2 * D                         /* RoPE tables, ones/zeros */
                            + B * streams * per * (double)c->patch * c->patch * c->out_channels);
    double xk = (double)(c->ff_dim > c->text_dim ? c->ff_dim : c->text_dim);
    double chunk_rows = (double)(((size_t)128 << 20) / (2 * (size_t)xk));
    p->gemm_scratch = 2.0 * xk * (chunk_rows < B * S ? chunk_rows : B * S) + 32.0 * 1048576.0;
    double Sk = (double)((p->S + 63) / 64 * 64);
    p->attn_workspace = 2.0 * B * (c->heads / tp) * 2 * Sk * c->head_dim;
    p->attn_if_materialised = 2.0 * B * (c->heads / tp) * S * S;
    double lat = (double)streams * c->latent_frames * c->in_channels * c->latent_h * c->latent_w;
    p->latents = 4.0 * lat * (4 + 2 * B);      /* x, x0, noise, model out + the CFG batch in and out */
    p->runtime_reserve = 1.5 * KC_GIB;
    p->total = p->weights + p->lora + p->activations + p->gemm_scratch + p->attn_workspace + p->latents +
               p->runtime_reserve;
    p->fits = p->total <= c->gpu_bytes;
    return 0;
}

extern "C" int k_cuda_plan_format(const k_cuda_plan_t *p, char *buf, size_t buflen)
{
    int n = snprintf(buf, buflen,
        "sequence            %ld tokens\n"
        "weights (bf16)      %7.2f GiB\n"
        "lora (bf16)         %7.2f GiB\n"
        "activations (fp32)  %7.2f GiB\n"
        "gemm scratch        %7.2f GiB\n"
        "attention workspace %7.2f GiB (a materialised (B,H,S,S) bf16 mask/logits would be %.1f GiB)\n"
        "sampler latents     %7.2f GiB\n"
        "runtime reserve     %7.2f GiB\n"
        "total               %7.2f GiB -> %s\n",
        p->S, p->weights / KC_GIB, p->lora / KC_GIB, p->activations / KC_GIB, p->gemm_scratch / KC_GIB,
        p->attn_workspace / KC_GIB, p->attn_if_materialised / KC_GIB, p->latents / KC_GIB,
        p->runtime_reserve / KC_GIB, p->total / KC_GIB, p->fits ? "fits" : "DOES NOT FIT");
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}
