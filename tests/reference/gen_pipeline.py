"""End-to-end RGBA pipeline goldens for worker/model/pipeline.[ch] (area "pipeline"): tests/golden/pipeline/.

A tiny random CogVideoX pipeline in the diffusers layout (CogVideoXPipeline.save_pretrained:
model_index.json, tokenizer/, text_encoder/, transformer/, vae/, scheduler/) plus a TransPixar
LoRA file in the released key format, then the reference RGBA pipeline run on it exactly as
TransPixar's CogVideoX/cli.py does it (MODEL.md 2.8, 3.3, 3.4), on the CPU in fp32:

  prompt + negative prompt -> T5Tokenizer (226, pads) -> T5 encoder (no mask)
  latents (1, F, 16, h, w) noise, repeated to (1, 2F, ...) (RGB then alpha frames)
  10 CogVideoXDPMScheduler steps (trailing), CFG batch [uncond, cond], dynamic CFG (diffusers form)
  over the transformer with our TransPixar extension (ref_common.apply_transpixar, bias -1.0)
  rgb, alpha latents = chunk(2, dim=1) -> pipe.decode_latents -> postprocess_video (np)
  with VAE tiling on (cli.py: vae.enable_tiling())
  alpha = max over RGB of the decoded alpha video; saved RGB = rgb * alpha;
  8-bit export = (x * 255).astype(uint8)  (truncation)

Every weight is rounded to bf16 and stored as bf16 (as the released checkpoints are); the
reference is run from the saved directory re-loaded in fp32, so the C side reads exactly the
numbers the reference used. The DPM noise is captured (the scheduler module's randn_tensor is
replaced, as gen_sampler.py does) and saved with the initial latents, so `farm-worker render
--noise FILE` can replay it.

Cases (one model): f9 = 9 frames (3 latent frames, 3 in the first VAE chunk, tiled decode),
f5 = 5 frames (2 latent frames: the VAE returns 8 frames, the engine keeps the first 5).

Files (tests/golden/pipeline/):
  model/...                    the pipeline directory (bf16 weights)
  lora.safetensors             transformer.transformer_blocks.{i}.attn1.{to_q,..}.lora_{A,B}.weight, domain_emb (bf16)
  <case>/noise.safetensors     latents (1, 2F, 16, h, w), step_noise (10, 1, 2F, 16, h, w)
  <case>/expected.safetensors  frames_u8 (T, H, W, 4) U8 premultiplied RGB + alpha as exported,
                               rgb (T, H, W, 3) F32 straight, alpha (T, H, W) F32, latents (final),
                               prompt_embeds, negative_prompt_embeds (1, 226, 32)
  <case>/expected.rgba         frames_u8 of the first `frames` frames, raw bytes (for the shell test)
  <case>/case.json             prompt, negative, frames, width, height, steps, guidance, ...
  SHA256SUMS                   every file above (checked by parity_pipeline.sh)
Run:  $HOME/.cache/farm-refenv/bin/python tests/reference/gen_pipeline.py   (about 30 s)
Bench: gen_pipeline.py --bench DIR   (reference side of tests/bench/bench_pipeline.c: a mid-size
       pipeline in DIR, 9 frames at 128x192, 10 steps, timed per stage with 2 threads)
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_common as rc  # noqa: E402
import diffusers.schedulers.scheduling_dpm_cogvideox as dpm_mod  # noqa: E402
from diffusers import (AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXPipeline,  # noqa: E402
                       CogVideoXTransformer3DModel)
from transformers import T5Config, T5EncoderModel, T5Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
OUT = os.path.join(GOLDEN, "pipeline")
TOKENIZER = os.path.join(GOLDEN, "tokenizer", "tokenizer")
STEPS, GUIDANCE, LORA_RANK, TEXT_ALPHA_BIAS = 10, 6.0, 8, -1.0
WIDTH, HEIGHT = 48, 32
CASES = [
    dict(name="f9", frames=9, seed=71, prompt="a swirl of orange smoke over glass, isolated background",
         negative=""),
    dict(name="f5", frames=5, seed=72, prompt="blue fire sparks",
         negative="blurry, low quality"),
]

DIT_CFG = dict(
    num_attention_heads=2, attention_head_dim=64, in_channels=16, out_channels=16,
    flip_sin_to_cos=True, freq_shift=0, time_embed_dim=32, text_embed_dim=32, num_layers=2,
    dropout=0.0, attention_bias=True, sample_width=90, sample_height=60, sample_frames=49,
    patch_size=2, patch_size_t=None, temporal_compression_ratio=4, max_text_seq_length=226,
    activation_fn="gelu-approximate", timestep_activation_fn="silu", norm_elementwise_affine=True,
    norm_eps=1e-5, spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0,
    use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False, patch_bias=True,
)
VAE_CFG = dict(
    in_channels=3, out_channels=3, latent_channels=16,
    down_block_types=["CogVideoXDownBlock3D"] * 4, up_block_types=["CogVideoXUpBlock3D"] * 4,
    block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=4, norm_eps=1e-6,
    act_fn="silu", temporal_compression_ratio=4, sample_height=96, sample_width=80,
    scaling_factor=0.7,
)


T5_CFG = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2)

# Bench (--bench DIR): a mid-size pipeline, 9 frames at 128x192, 10 DPM steps with CFG, LoRA rank 32.
BENCH_DIT = dict(DIT_CFG, num_attention_heads=8, num_layers=4, text_embed_dim=256, time_embed_dim=512)
BENCH_VAE = dict(VAE_CFG, block_out_channels=[32, 64, 64, 128], layers_per_block=2, norm_num_groups=16,
                 sample_height=480, sample_width=720)
BENCH_T5 = dict(d_model=256, d_kv=32, num_heads=8, d_ff=512, num_layers=4)
BENCH_CASE = dict(name="bench", frames=9, seed=81, prompt="a glass jellyfish drifting through dark water, isolated background",
                  negative="", width=192, height=128)


def t5_config(vocab, d_model, d_kv, num_heads, d_ff, num_layers):
    return T5Config(vocab_size=vocab, d_model=d_model, d_kv=d_kv, num_heads=num_heads, d_ff=d_ff,
                    num_layers=num_layers, num_decoder_layers=num_layers, relative_attention_num_buckets=32,
                    relative_attention_max_distance=128, dropout_rate=0.0, layer_norm_epsilon=1e-6,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, is_encoder_decoder=True,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def round_bf16_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return model


def build_components(dit_cfg=DIT_CFG, vae_cfg=VAE_CFG, t5_cfg=T5_CFG):
    tok = T5Tokenizer.from_pretrained(TOKENIZER)
    torch.manual_seed(5)
    te = T5EncoderModel(t5_config(len(tok), **t5_cfg)).float().eval()
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for name, p in te.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.25 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=g))
    dit = CogVideoXTransformer3DModel(**dit_cfg).float().eval()
    rc.reinit_(dit, torch.Generator().manual_seed(7))
    vae = AutoencoderKLCogVideoX(**vae_cfg).float().eval()
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif p.dim() == 1:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    sched = CogVideoXDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                  beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=True,
                                  steps_offset=0, prediction_type="v_prediction", timestep_spacing="trailing",
                                  rescale_betas_zero_snr=True, snr_shift_scale=1.0)
    for m in (te, dit, vae):
        round_bf16_(m).to(torch.bfloat16)
    return CogVideoXPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=dit, scheduler=sched)


def lora_tensors(dit, rank=LORA_RANK):
    t = rc.random_lora(dit, rank, 9)
    return {k: v.to(torch.bfloat16) for k, v in t.items()}


class NoiseTap:
    """randn_tensor inside the DPM scheduler: draws from a seeded generator, records them per step."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.draws = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        t = torch.randn(tuple(shape), generator=self.gen)
        self.draws.append(t)
        return t.clone().to(dtype)


def dynamic_w(t, n):
    return 1 + GUIDANCE * ((1 - math.cos(math.pi * ((n - t) / n) ** 5.0)) / 2)


def denoise(pipe, case, prompt_embeds, neg_embeds, rope):
    f_lat = (case["frames"] - 1) // 4 + 1
    h, w = case.get("height", HEIGHT) // 8, case.get("width", WIDTH) // 8
    gen = torch.Generator().manual_seed(case["seed"])
    init = torch.randn((1, f_lat, 16, h, w), generator=gen).repeat(1, 2, 1, 1, 1)  # RGB, alpha = copy
    sched = pipe.scheduler
    sched.set_timesteps(STEPS)
    ts = sched.timesteps
    tap = NoiseTap(case["seed"] + 1000)
    dpm_mod.randn_tensor = tap
    latents, old, used, ws = init.clone(), None, [], []
    text = torch.cat([neg_embeds, prompt_embeds])
    for i, t in enumerate(ts):
        with torch.no_grad():
            v = pipe.transformer(hidden_states=torch.cat([latents] * 2), encoder_hidden_states=text,
                                 timestep=t.expand(2), image_rotary_emb=rope, return_dict=False)[0].float()
        wt = dynamic_w(t.item(), STEPS)
        ws.append(wt)
        v_u, v_c = v.chunk(2)
        v = v_u + wt * (v_c - v_u)
        tap.draws = []
        latents, old = sched.step(v, old, t, ts[i - 1] if i > 0 else None, latents, return_dict=False)
        latents = latents.to(prompt_embeds.dtype)
        used.append(tap.draws[-1] if tap.draws else torch.zeros_like(latents))
    return init, latents, torch.stack(used), [int(x) for x in ts], ws


def decode(pipe, lat):
    with torch.no_grad():
        video = pipe.decode_latents(lat)
    return pipe.video_processor.postprocess_video(video=video, output_type="np")[0]  # (T, H, W, 3) f32


def run_case(pipe, case, lora_file):
    d = rc.ensure_dir(os.path.join(OUT, case["name"]))
    with torch.no_grad():
        pe, ne = pipe.encode_prompt(case["prompt"], case["negative"], do_classifier_free_guidance=True,
                                    num_videos_per_prompt=1, max_sequence_length=226,
                                    device=torch.device("cpu"))
    f_lat = (case["frames"] - 1) // 4 + 1
    rope = pipe._prepare_rotary_positional_embeddings(HEIGHT, WIDTH, f_lat, torch.device("cpu"))
    init, lat, noise, ts, ws = denoise(pipe, case, pe, ne, rope)
    rgb_lat, alpha_lat = lat.chunk(2, dim=1)
    rgb, a3 = decode(pipe, rgb_lat), decode(pipe, alpha_lat)
    alpha = np.max(a3, axis=-1, keepdims=True)
    premul = rgb * np.repeat(alpha, 3, axis=-1)
    u8 = np.concatenate([(premul * 255).astype(np.uint8), (alpha * 255).astype(np.uint8)], axis=-1)
    save_file({"latents": init.contiguous(), "step_noise": noise.contiguous()},
              os.path.join(d, "noise.safetensors"), metadata={"format": "pt"})
    save_file({"frames_u8": torch.from_numpy(np.ascontiguousarray(u8)),
               "rgb": torch.from_numpy(np.ascontiguousarray(rgb)),
               "alpha": torch.from_numpy(np.ascontiguousarray(alpha[..., 0])),
               "latents": lat.contiguous(), "prompt_embeds": pe.contiguous(),
               "negative_prompt_embeds": ne.contiguous()},
              os.path.join(d, "expected.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "expected.rgba"), "wb") as f:
        f.write(np.ascontiguousarray(u8[:case["frames"]]).tobytes())
    info = dict(case, width=WIDTH, height=HEIGHT, steps=STEPS, guidance=GUIDANCE, scheduler="dpm",
                dynamic_cfg="diffusers", latent_frames=f_lat, latent_hw=[HEIGHT // 8, WIDTH // 8],
                decoded_frames=int(u8.shape[0]), vae_tiling=True, lora=os.path.relpath(lora_file, d),
                lora_rank=LORA_RANK, lora_alpha=1.0, text_alpha_bias=TEXT_ALPHA_BIAS, timesteps=ts,
                guidance_per_step=ws, model=os.path.relpath(os.path.join(OUT, "model"), d),
                alpha_mean=float(alpha.mean()), alpha_min=float(alpha.min()), alpha_max=float(alpha.max()),
                tolerance={"u8_abs": 2, "fraction_within": 0.999})
    rc.save_json(os.path.join(d, "case.json"), info)
    print(f"{case['name']}: frames {case['frames']} -> decoded {u8.shape}, alpha mean {alpha.mean():.3f} "
          f"[{alpha.min():.3f}, {alpha.max():.3f}], rgb mean {rgb.mean():.3f}")


def bench(d):
    """Mid-size pipeline in D/model (+ D/lora.safetensors, D/bench/noise.safetensors and expected
    frames), timed per stage with 2 threads: D/bench_ref.json {text_s, denoise_s, decode_s, total_s}."""
    import time
    global OUT
    rc.setup_torch()
    OUT = d
    os.makedirs(d, exist_ok=True)
    model_dir = os.path.join(d, "model")
    if not os.path.isdir(model_dir):
        build_components(BENCH_DIT, BENCH_VAE, BENCH_T5).save_pretrained(model_dir, safe_serialization=True)
    pipe = CogVideoXPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    pipe.vae.enable_tiling()
    lora = lora_tensors(pipe.transformer, 32)
    lora_file = os.path.join(d, "lora.safetensors")
    save_file({k: v.contiguous() for k, v in lora.items()}, lora_file)
    rc.apply_transpixar(pipe.transformer, {k: v.float() for k, v in lora.items()}, 1.0, TEXT_ALPHA_BIAS)
    case, dev = BENCH_CASE, torch.device("cpu")
    saved = dpm_mod.randn_tensor
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            pe, ne = pipe.encode_prompt(case["prompt"], case["negative"], do_classifier_free_guidance=True,
                                        num_videos_per_prompt=1, max_sequence_length=226, device=dev)
        t1, c1 = time.perf_counter(), time.process_time()
        f_lat = (case["frames"] - 1) // 4 + 1
        rope = pipe._prepare_rotary_positional_embeddings(case["height"], case["width"], f_lat, dev)
        init, lat, noise, ts, ws = denoise(pipe, case, pe, ne, rope)
        t2, c2 = time.perf_counter(), time.process_time()
        rgb_lat, alpha_lat = lat.chunk(2, dim=1)
        rgb, a3 = decode(pipe, rgb_lat), decode(pipe, alpha_lat)
        alpha = np.max(a3, axis=-1, keepdims=True)
        premul = rgb * np.repeat(alpha, 3, axis=-1)
        t3, c3 = time.perf_counter(), time.process_time()
    finally:
        dpm_mod.randn_tensor = saved
    u8 = np.concatenate([(premul * 255).astype(np.uint8), (alpha * 255).astype(np.uint8)], axis=-1)
    save_file({"latents": init.contiguous(), "step_noise": noise.contiguous()},
              os.path.join(d, "noise.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "expected.rgba"), "wb") as f:
        f.write(np.ascontiguousarray(u8[:case["frames"]]).tobytes())
    res = dict(text_s=t1 - t0, denoise_s=t2 - t1, decode_s=t3 - t2, total_s=t3 - t0,
               text_cpu_s=c1 - c0, denoise_cpu_s=c2 - c1, decode_cpu_s=c3 - c2, total_cpu_s=c3 - c0,
               threads=torch.get_num_threads(),
               steps=STEPS, guidance=GUIDANCE, case=case, dit=BENCH_DIT, vae=BENCH_VAE, t5=BENCH_T5, lora_rank=32)
    with open(os.path.join(d, "bench_ref.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("reference pipeline: text %.3f s, denoise %.3f s (%d steps, CFG), decode %.3f s, total %.3f s "
          "(process CPU %.3f / %.3f / %.3f / %.3f s)" %
          (res["text_s"], res["denoise_s"], STEPS, res["decode_s"], res["total_s"], res["text_cpu_s"],
           res["denoise_cpu_s"], res["decode_cpu_s"], res["total_cpu_s"]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
        return
    rc.setup_torch()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    model_dir = os.path.join(OUT, "model")
    build_components().save_pretrained(model_dir, safe_serialization=True)
    # run from what was saved, in fp32 (bf16 weights upcast exactly)
    pipe = CogVideoXPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    pipe.vae.enable_tiling()  # TransPixar cli.py / app.py
    lora = lora_tensors(pipe.transformer)
    lora_file = os.path.join(OUT, "lora.safetensors")
    save_file({k: v.contiguous() for k, v in lora.items()}, lora_file)
    rc.apply_transpixar(pipe.transformer, {k: v.float() for k, v in lora.items()}, 1.0, TEXT_ALPHA_BIAS)
    saved = dpm_mod.randn_tensor
    try:
        for case in CASES:
            run_case(pipe, case, lora_file)
    finally:
        dpm_mod.randn_tensor = saved
    write_manifest(OUT)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"pipeline goldens: {total / 1e6:.2f} MB in {OUT}")


def write_manifest(root):
    """SHA256SUMS over every golden file (checked by tests/integration/parity_pipeline.sh)."""
    import hashlib
    names = sorted(os.path.relpath(os.path.join(r, f), root) for r, _, fs in os.walk(root) for f in fs
                   if f not in ("SHA256SUMS", "README.md"))
    with open(os.path.join(root, "SHA256SUMS"), "w") as out:
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                out.write(f"{hashlib.sha256(f.read()).hexdigest()}  {n}\n")


if __name__ == "__main__":
    main()
