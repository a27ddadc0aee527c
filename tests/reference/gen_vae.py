"""Golden tensors for the CogVideoX 3D causal VAE decoder (area "vae", MODEL.md section 4).

Builds a tiny random AutoencoderKLCogVideoX with diffusers 0.32.0, saves it with save_pretrained
(weights rounded to bf16 and stored as bf16, like the released vae/ folder, so the fp32 reference
and the C decoder see exactly the same numbers), and decodes a set of latents the way the
CogVideoX pipeline does: latents (B, F, C, h, w) as the DiT produces them -> permute to
(B, C, F, h, w) -> multiply by 1 / scaling_factor (CogVideoXPipeline.decode_latents) -> vae.decode (temporal chunks of 2 latent frames, 3
in the first when F is odd, conv caches carried, optional spatial tiling).

Output: tests/golden/vae/vae/{config.json, diffusion_pytorch_model.safetensors}
        tests/golden/vae/cases.safetensors: "<case>.latents" (B, F, C, h, w) fp32 and
        "<case>.out" (B, 3, T, H, W) fp32 (raw decoder output, before x*0.5+0.5), and metadata
        "cases" = JSON list of {name, tiled}.

Tiling uses the tile sizes diffusers derives from the config (sample_height // 2,
sample_width // 2); the tiny config's sample size (96 x 80) gives 48 x 40 pixel tiles
(6 x 5 latents), so the tiled cases have 2 x 2 overlapping tiles.

Bench mode (tests/bench/bench_vae.c calls it):  gen_vae.py --bench DIR --frames F --height h
--width w [--tiled]: builds a mid-size model in DIR/vae, writes DIR/bench.safetensors (latents,
reference output) and prints "ref_seconds <s>" and "ref_cpu_seconds <s>" (process CPU time) for
the diffusers decode with 2 threads.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import save_file
from diffusers import AutoencoderKLCogVideoX

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden", "vae")

TINY = dict(
    in_channels=3, out_channels=3, latent_channels=16,
    down_block_types=["CogVideoXDownBlock3D"] * 4, up_block_types=["CogVideoXUpBlock3D"] * 4,
    block_out_channels=[16, 32, 32, 32], layers_per_block=1, norm_num_groups=8, norm_eps=1e-6,
    act_fn="silu", temporal_compression_ratio=4, sample_height=96, sample_width=80,
    scaling_factor=0.7,
)

MID = dict(TINY, block_out_channels=[64, 128, 128, 256], layers_per_block=2, norm_num_groups=32,
           sample_height=480, sample_width=720)

# name, batch, latent frames, latent h, latent w, tiled
CASES = [
    ("f2", 1, 2, 4, 6, False),
    ("f3_b2", 2, 3, 4, 6, False),
    ("f4", 1, 4, 4, 6, False),
    ("f5", 1, 5, 4, 6, False),
    ("tiled_f3", 1, 3, 8, 7, True),
    ("tiled_f4", 1, 4, 8, 7, True),
    ("f1", 1, 1, 4, 6, False),        # a single latent frame: the T == 1 paths
]


def setup_torch():
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)


def build(cfg, seed):
    """Random VAE with realistic magnitudes; every parameter exactly representable in bf16."""
    model = AutoencoderKLCogVideoX(**cfg).float().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                v = torch.randn(p.shape, generator=gen) * 0.05
            elif p.dim() == 1:  # GroupNorm weight: near 1, not identity
                v = 1.0 + torch.randn(p.shape, generator=gen) * 0.1
            else:               # conv [out, in, k...]: unit-gain init
                v = torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel())
            p.copy_(v.to(torch.bfloat16).float())
    return model


def save_model(model, path):
    model.to(torch.bfloat16).save_pretrained(path, safe_serialization=True)
    model.float()


def decode(model, latents, tiled):
    """What the pipeline does with DiT latents (B, F, C, h, w)."""
    if tiled:
        model.enable_tiling()
    else:
        model.disable_tiling()
    z = 1 / model.config.scaling_factor * latents.permute(0, 2, 1, 3, 4)   # as decode_latents does
    with torch.no_grad():
        return model.decode(z).sample.float().contiguous()


def gen_goldens():
    setup_torch()
    model = build(TINY, 1234)
    save_model(model, os.path.join(GOLDEN, "vae"))
    gen = torch.Generator().manual_seed(99)
    tensors, meta = {}, []
    for name, b, f, h, w, tiled in CASES:
        lat = torch.randn((b, f, TINY["latent_channels"], h, w), generator=gen)
        out = decode(model, lat, tiled)
        print(f"{name}: latents {tuple(lat.shape)} -> {tuple(out.shape)} max|x| {out.abs().max():.3f}")
        tensors[f"{name}.latents"] = lat.contiguous()
        tensors[f"{name}.out"] = out
        meta.append({"name": name, "tiled": tiled})
    save_file(tensors, os.path.join(GOLDEN, "cases.safetensors"), metadata={"cases": json.dumps(meta)})
    write_manifest()


def write_manifest():
    """SHA256SUMS over every golden file (checked by tests/integration/parity_vae.sh)."""
    import hashlib
    lines = []
    for root, _, files in os.walk(GOLDEN):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), GOLDEN)
            if rel == "SHA256SUMS":
                continue
            with open(os.path.join(root, f), "rb") as fh:
                lines.append((rel, hashlib.sha256(fh.read()).hexdigest()))
    with open(os.path.join(GOLDEN, "SHA256SUMS"), "w") as fh:
        for rel, h in sorted(lines, key=lambda x: "./" + x[0]):
            fh.write(f"{h}  ./{rel}\n")


def gen_bench(d, frames, h, w, tiled):
    setup_torch()
    model = build(MID, 7)
    save_model(model, os.path.join(d, "vae"))
    lat = torch.randn((1, frames, MID["latent_channels"], h, w), generator=torch.Generator().manual_seed(5))
    decode(model, lat[:, :1], tiled)  # warm-up (allocator, one-frame graph)
    t0, c0 = time.perf_counter(), time.process_time()
    out = decode(model, lat, tiled)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    save_file({"latents": lat.contiguous(), "out": out}, os.path.join(d, "bench.safetensors"))
    print(f"ref_seconds {dt:.3f}")
    print(f"ref_cpu_seconds {dc:.3f}")
    print(f"ref_torch_threads {torch.get_num_threads()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--height", type=int, default=16)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--tiled", action="store_true")
    a = ap.parse_args()
    if a.bench:
        gen_bench(a.bench, a.frames, a.height, a.width, a.tiled)
    else:
        gen_goldens()
    return 0


if __name__ == "__main__":
    sys.exit(main())
