"""bench_cuda_ref.py — the PyTorch side of bench_cuda_step: one denoising step of the CogVideoX-5B
TransPixar RGBA transformer at the same shapes (bf16, random weights), with its attention given the
additive (B, 1, S, S) mask the released reference builds (text rows -1 on alpha keys) through
F.scaled_dot_product_attention. Same op sequence as tests/bench/bench_cuda_step.c: adaLN linear,
LayerNorm + modulate (text/video chunks), fused q|k|v + LoRA on alpha rows, per-head q/k LayerNorm,
interleaved RoPE on the RGB and alpha ranges, attention, to_out + LoRA, gated residuals, FFN (tanh GELU).
Prints step time (median), attention time and TFLOP/s, MFU, peak memory. Not a test.

  python tests/bench/bench_cuda_ref.py [--layers 42] [--frames 13] [--lh 60] [--lw 90] [--steps 3]
                                       [--peak 989] [--device cuda]
`--device cpu --layers 1 --frames 1 --lh 4 --lw 4` is a smoke run without a GPU (fp32 on CPU).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

D, HEADS, HD, FF, TD, L, R = 3072, 48, 64, 12288, 512, 226, 128


def rope(x, cos, sin):
    """Interleaved-pair rotary embedding: x (B, H, N, HD), cos/sin (N, HD)."""
    x2 = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
    return x * cos + x2 * sin


class Block:
    def __init__(s, dev, dt, g):
        def w(*shape, scale):
            return ((torch.rand(*shape, generator=g, device=dev) * 2 - 1) * scale).to(dt)
        s.ada1, s.ada2 = w(6 * D, TD, scale=0.04), w(6 * D, TD, scale=0.04)
        s.b6, s.qkv, s.b3 = w(6 * D, scale=0.1), w(3 * D, D, scale=0.018), w(3 * D, scale=0.1)
        s.out, s.bd = w(D, D, scale=0.018), w(D, scale=0.1)
        s.ff1, s.bff, s.ff2 = w(FF, D, scale=0.018), w(FF, scale=0.1), w(D, FF, scale=0.009)
        s.la = [w(R, D, scale=0.018) for _ in range(4)]
        s.lb = [w(D, R, scale=0.01) for _ in range(4)]
        s.lnw, s.lnb, s.qkw, s.qkb = w(D, scale=1), w(D, scale=0.1), w(HD, scale=1), w(HD, scale=0.1)


def norm_mod(h, blk, mod):
    n = F.layer_norm(h, (D,), blk.lnw, blk.lnb, 1e-5)
    c = mod.chunk(6, dim=-1)
    vid = n[:, L:] * (1 + c[1][:, None]) + c[0][:, None]
    txt = n[:, :L] * (1 + c[4][:, None]) + c[3][:, None]
    return torch.cat([txt, vid], dim=1), c[2][:, None], c[5][:, None]


def lora(y, x, A, Bw, nf):
    y[:, L + nf:] += (x[:, L + nf:] @ A.t()) @ Bw.t()


def block(h, blk, stemb, mask, cos, sin, nf, timer):
    B, S, _ = h.shape
    n, gv, gt = norm_mod(h, blk, F.linear(stemb, blk.ada1, blk.b6))
    qkv = F.linear(n, blk.qkv, blk.b3)
    for j in range(3):
        lora(qkv[..., j * D:(j + 1) * D], n, blk.la[j], blk.lb[j], nf)
    q, k, v = (t.view(B, S, HEADS, HD).transpose(1, 2) for t in qkv.split(D, dim=-1))
    q = F.layer_norm(q, (HD,), blk.qkw, blk.qkb, 1e-6)
    k = F.layer_norm(k, (HD,), blk.qkw, blk.qkb, 1e-6)
    for t in (q, k):
        for st in range(2):
            a0 = L + st * nf
            t[:, :, a0:a0 + nf] = rope(t[:, :, a0:a0 + nf], cos, sin)
    o = timer(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    o = o.transpose(1, 2).reshape(B, S, D)
    y = F.linear(o, blk.out, blk.bd)
    lora(y, o, blk.la[3], blk.lb[3], nf)
    h = h + torch.cat([gt * y[:, :L], gv * y[:, L:]], dim=1)
    n, gv, gt = norm_mod(h, blk, F.linear(stemb, blk.ada2, blk.b6))
    y = F.linear(F.gelu(F.linear(n, blk.ff1, blk.bff), approximate="tanh"), blk.ff2, blk.bd)
    return h + torch.cat([gt * y[:, :L], gv * y[:, L:]], dim=1)


def main():
    ap = argparse.ArgumentParser()
    for name, default in (("layers", 42), ("frames", 13), ("lh", 60), ("lw", 90), ("steps", 3)):
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--peak", type=float, default=989.0)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    dt = torch.bfloat16 if dev.type == "cuda" else torch.float32
    g = torch.Generator(device=dev).manual_seed(1)
    B, nf = 2, a.frames * (a.lh // 2) * (a.lw // 2)
    S = L + 2 * nf
    blocks = [Block(dev, dt, g) for _ in range(a.layers)]
    mask = torch.zeros(B, 1, S, S, dtype=dt, device=dev)
    mask[:, :, :L, L + nf:L + 2 * nf] = -1.0               # text queries → alpha keys, as released
    cos = torch.rand(nf, HD, generator=g, device=dev).to(dt)
    sin = torch.rand(nf, HD, generator=g, device=dev).to(dt)
    stemb = torch.rand(B, TD, generator=g, device=dev).to(dt)
    h0 = (torch.rand(B, S, D, generator=g, device=dev) * 2 - 1).to(dt)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    attn = [0.0]

    def timer(fn):
        sync()
        t0 = time.perf_counter()
        r = fn()
        sync()
        attn[0] += time.perf_counter() - t0
        return r

    steps, attns = [], []
    with torch.no_grad():
        for st in range(a.steps + 1):                     # the first is warm-up
            attn[0] = 0.0
            sync()
            t0 = time.perf_counter()
            h = h0
            for blk in blocks:
                h = block(h, blk, stemb, mask, cos, sin, nf, timer)
            sync()
            if st:
                steps.append(time.perf_counter() - t0)
                attns.append(attn[0])
    t, ta = statistics.median(steps), statistics.median(attns)
    M = B * S
    gemm = a.layers * (2 * M * D * (3 * D + D + 2 * FF) + 2 * 2 * B * 6 * D * TD + 4 * 2 * 2 * B * nf * R * D)
    af = a.layers * 4.0 * B * HEADS * HD * S * S
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    print(f"reference: torch {torch.__version__} on {name}, S = {S}, B = {B}, layers {a.layers}, {dt}")
    print("| step (s) | attention (s) | attention TFLOP/s | step TFLOP | MFU (peak %.0f) | peak GiB |" % a.peak)
    print("|---|---|---|---|---|---|")
    print(f"| {t:.3f} | {ta:.3f} | {af / ta / 1e12:.1f} | {(gemm + af) / 1e12:.1f} | "
          f"{100 * (gemm + af) / t / (a.peak * 1e12):.1f}% | {peak:.2f} |")


if __name__ == "__main__":
    main()
