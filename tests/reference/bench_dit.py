"""Reference-side DiT benchmark: one forward of diffusers' CogVideoXTransformer3DModel with our
TransPixar extension (doubled sequence, LoRA on alpha rows, text->alpha bias -1) at a mid-size
config, fp32 on CPU, torch.set_num_threads(THREADS). Random weights. Prints the median time of a
few runs, the attention share (time inside scaled_dot_product_attention) and GFLOP/s figures
computed the same way the C benchmark should count them.

    $FARM_REFENV/bin/python tests/reference/bench_dit.py [--runs 3] [--threads 2]

Default config (matches the C benchmark): D=768 (12 heads x 64), 8 layers, text_embed_dim 4096,
time_embed_dim 512, 4 RGB latent frames of 32x48 -> 8 frames doubled, text 226, batch 1,
LoRA rank 128 (the released rank), lora_alpha 1.0.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_common as rc  # noqa: E402
from diffusers import CogVideoXTransformer3DModel  # noqa: E402


class SdpaTimer:
    """Wraps torch.nn.functional.scaled_dot_product_attention to accumulate its wall time."""

    def __init__(self):
        self.orig = rc.F.scaled_dot_product_attention
        self.total = 0.0

    def __call__(self, *a, **kw):
        t0 = time.perf_counter()
        out = self.orig(*a, **kw)
        self.total += time.perf_counter() - t0
        return out


def flops(a):
    """Multiply-adds x2 for one forward. Returns (gemm_flops, attention_flops)."""
    d, hd = a.heads * 64, 64
    n_rgb = a.frames * (a.height // 2) * (a.width // 2)
    n_vid, s = 2 * n_rgb, a.text + 2 * n_rgb
    per_layer = 2 * s * d * d * 4                      # to_q, to_k, to_v, to_out.0
    per_layer += 2 * s * d * 4 * d * 2                 # FF up and down
    per_layer += 2 * n_rgb * (d * a.rank + a.rank * d) * 4  # LoRA at alpha rows
    per_layer += 2 * 2 * 6 * d * 512                   # adaLN linears (norm1, norm2), tiny
    gemm = a.layers * per_layer + 2 * a.text * 4096 * d + 2 * n_vid * 64 * d + 2 * n_vid * d * 64
    attn = a.layers * 4 * s * s * hd * a.heads         # QK^T and PV
    return gemm, attn


def build(a):
    cfg = rc.tiny_config(rope=True)
    cfg.update(num_attention_heads=a.heads, num_layers=a.layers, text_embed_dim=4096, time_embed_dim=512)
    model = CogVideoXTransformer3DModel(**cfg).float().eval()
    rc.reinit_(model, torch.Generator().manual_seed(7))
    lora = rc.random_lora(model, a.rank, seed=8)
    rc.apply_transpixar(model, lora, 1.0, -1.0)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--text", type=int, default=226)
    ap.add_argument("--rank", type=int, default=128)
    a = ap.parse_args()
    rc.setup_torch()
    torch.set_num_threads(a.threads)
    model = build(a)
    gen = torch.Generator().manual_seed(9)
    hs = torch.randn(1, a.frames, 16, a.height, a.width, generator=gen).repeat(1, 2, 1, 1, 1)
    enc = torch.randn(1, a.text, 4096, generator=gen)
    t = torch.tensor([500], dtype=torch.int64)
    cos, sin, _ = rc.pipeline_rotary(model, a.height, a.width, a.frames)
    timer = SdpaTimer()
    rc.F.scaled_dot_product_attention = timer
    times, attn_times = [], []
    with torch.no_grad():
        for i in range(a.runs + 1):  # first run is warm-up
            timer.total = 0.0
            t0 = time.perf_counter()
            model(hidden_states=hs, encoder_hidden_states=enc, timestep=t, image_rotary_emb=(cos, sin),
                  return_dict=False)
            if i:
                times.append(time.perf_counter() - t0)
                attn_times.append(timer.total)
    rc.F.scaled_dot_product_attention = timer.orig
    med, med_attn = statistics.median(times), statistics.median(attn_times)
    gemm, attn = flops(a)
    seq = a.text + 2 * a.frames * (a.height // 2) * (a.width // 2)
    print(f"config: D={a.heads * 64} heads={a.heads} layers={a.layers} frames={a.frames}x2 "
          f"latent={a.height}x{a.width} text={a.text} seq={seq} lora_rank={a.rank} threads={a.threads}")
    print(f"torch {torch.__version__}, fp32, runs {a.runs} (+1 warm-up): {[round(x, 3) for x in times]}")
    print(f"forward median: {med:.3f} s")
    print(f"attention (SDPA) median: {med_attn:.3f} s = {100 * med_attn / med:.1f} % of the forward, "
          f"{attn / med_attn / 1e9:.1f} GFLOP/s")
    print(f"rest (GEMMs, norms, RoPE, ...): {med - med_attn:.3f} s, GEMM work {gemm / 1e9:.1f} GFLOP -> "
          f"{gemm / (med - med_attn) / 1e9:.1f} GFLOP/s (upper bound for the GEMMs alone)")
    print(f"total {(gemm + attn) / 1e9:.1f} GFLOP -> {(gemm + attn) / med / 1e9:.1f} GFLOP/s overall")


if __name__ == "__main__":
    main()
