"""Stage 3: a tiny AutoencoderKLCogVideoX (diffusers 0.32.0), trained to reconstruct procedural RGB
clips and their alpha as grey clips (TransPixar encodes alpha as a 3-channel grey video with the same
VAE), then the latent scaling_factor set to 1 / std of the latents so the DiT sees unit variance.

Each step: BATCH 9-frame clips (CROP x CROP windows) (RGB + alpha-grey videos, 3 latent frames, the decoder's odd first
chunk exactly as the pipeline decodes it) plus SINGLES single frames (one latent frame: the causal
first-frame path, cheap spatial training). Loss: L1 + MSE with the foreground weighted up, plus a
small KL term; the decoder sees the posterior mean + small noise. colour_highway_() initialises
a linear colour path (see there). Checkpoints every CKPT_EVERY steps; --max-minutes cuts a run short and still saves.

Run: python ops/train/train_vae.py [--steps N] [--max-minutes M]
"""
import argparse
import math
import os
import time

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX

import common as C
import data

BATCH, SINGLES, LR, KL_W, CKPT_EVERY = 2, 12, 5e-4, 1e-4, 25  # 3e-3 collapses the decoder to a colour-blind output
Z_NOISE = 0.05  # posterior samples drown the weak early colour signal; the mean + this noise does not
EDGE_W = 4.0  # edge term (gradient L1): the IoU thresholds at 0.5, so outline position matters
CROP = 32  # clips are trained on CROP x CROP windows (the VAE is convolutional): 2.25x cheaper


def crop(v, rng):
    """[3, F, H, W] -> a CROP x CROP window that contains part of the shape in most frames."""
    y0, x0 = (int(rng.integers(0, d - CROP + 1)) for d in (C.HEIGHT, C.WIDTH))
    return v[:, :, y0:y0 + CROP, x0:x0 + CROP]


def batch(step, seed):
    """([2*BATCH, 3, F, H, W], [SINGLES, 3, 1, H, W]) in [-1, 1] for this step."""
    vids, singles = [], []
    rng = np.random.default_rng([seed, step, 7])
    for b in range(BATCH):
        r, a = C.to_video(*data.train_clip(step * 100 + b, seed=seed)[:2])
        v = crop(torch.cat([r, a]), rng)
        vids += [v[:3], v[3:]]
    for s in range(SINGLES):
        r, a = C.to_video(*data.train_clip(step * 100 + 50 + s, seed=seed)[:2])
        f = int(rng.integers(C.FRAMES))
        singles.append((r if s % 2 else a)[:, f:f + 1])  # half RGB, half alpha
    return torch.stack(vids), torch.stack(singles)


def _ident_causal(conv3d, n):
    """Rows c < n of a Conv3d [Co, Ci, kt, kh, kw]: pass input channel c through (current frame, centre)."""
    w, b = conv3d.weight, conv3d.bias
    kt, kh, kw = w.shape[2:]
    w[:n] = 0
    for c in range(n):
        w[c, c, kt - 1, kh // 2, kw // 2] = 1.0
    if b is not None:
        b[:n] = 0

def colour_highway_(vae, n=3):
    """Initialise a linear colour path: pixel RGB -> latent channels 0..n-1 (block averages) -> RGB.

    Every resnet's residual branch is zeroed on channels < n (the skip carries them), shortcuts,
    conv_in/conv_out, encoder downsamplers (3x3 box average), decoder upsamplers and the decoder's
    final SpatialNorm conv_b pass them through; the posterior log-variance starts at -6. Without
    it this small VAE learns shape and brightness but stays colour-blind (grey output for every
    colour after 300+ steps, any learning rate tried); with it colour is there from the start."""
    enc, dec = vae.encoder, vae.decoder
    with torch.no_grad():
        _ident_causal(enc.conv_in.conv, n)
        for blocks in (enc.down_blocks, dec.up_blocks):
            for blk in blocks:
                for r in blk.resnets:
                    _zero_branch(r, n)
        for mid in (enc.mid_block, dec.mid_block):
            for r in mid.resnets:
                _zero_branch(r, n)
        for blk in enc.down_blocks:
            for d in (blk.downsamplers or []):
                w = d.conv.weight
                w[:n] = 0
                for c in range(n):
                    w[c, c] = 1.0 / 9
                d.conv.bias[:n] = 0
        for blk in dec.up_blocks:
            for u in (blk.upsamplers or []):
                w = u.conv.weight
                w[:n] = 0
                for c in range(n):
                    w[c, c, 1, 1] = 1.0
                u.conv.bias[:n] = 0
        co = enc.conv_out.conv
        _ident_causal(co, n)
        half = co.weight.shape[0] // 2
        co.weight[half:] = 0
        co.bias[half:] = -6.0                             # small posterior std at the start
        _ident_causal(dec.conv_in.conv, n)
        no = dec.norm_out
        no.conv_y.conv.weight[:n] = 0
        no.conv_y.conv.bias[:n] = 0
        _ident_causal(no.conv_b.conv, n)
        _ident_causal(dec.conv_out.conv, n)

def _zero_branch(r, n):
    r.conv2.conv.weight[:n] = 0
    r.conv2.conv.bias[:n] = 0
    sc = getattr(r, "conv_shortcut", None)
    if sc is not None:
        conv = sc.conv if hasattr(sc, "conv") else sc
        _ident_causal(conv, n)


def edge_err(y, x):
    """L1 of the spatial finite differences [.., H, W]: soft edges and blocky outlines cost more."""
    dy = (y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])
    dx = (y[..., :, 1:] - y[..., :, :-1]) - (x[..., :, 1:] - x[..., :, :-1])
    return dy.abs().mean() + dx.abs().mean()


def recon_loss(model, x):
    post = model.encode(x).latent_dist
    z = post.mode()
    y = model.decode(z + Z_NOISE * torch.randn_like(z)).sample  # mean + small noise: robust decoder
    w = 1.0 + 7.0 * (x > -0.95).any(dim=1, keepdim=True).float()  # foreground counts 8x
    err = y - x
    rec = (w * (err.abs() + err * err)).mean() + EDGE_W * edge_err(y, x)
    kl = 0.5 * (post.mean ** 2 + post.var - 1.0 - post.logvar).mean()
    return rec, kl


def lr_at(step, steps):
    warm = 10
    if step < warm:
        return LR * (step + 1) / warm
    return LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))


def save_ckpt(model, opt, step, path):
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, path + ".tmp")
    os.replace(path + ".tmp", path)


def train(steps, max_minutes, seed):
    torch.manual_seed(seed)
    model = AutoencoderKLCogVideoX(**C.VAE_CFG).float().train()
    colour_highway_(model)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    ckpt = os.path.join(C.ensure_dir(C.WORK_DIR), "vae_ckpt.pt")
    start = 0
    if os.path.exists(ckpt):  # resume a cut-short run
        st = torch.load(ckpt)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        start = st["step"]
        C.log(f"vae: resumed at step {start}")
    t0 = time.time()
    for step in range(start, steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps)
        vids, singles = batch(step, seed)
        rv, kv = recon_loss(model, vids)
        rs, ks = recon_loss(model, singles)
        loss = rv + 0.5 * rs + KL_W * (kv + ks)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 5 == 0:
            C.log(f"vae: step {step} rec_video {rv.item():.4f} rec_single {rs.item():.4f} "
                  f"kl {kv.item():.3f} {(time.time() - t0) / (step - start + 1):.1f} s/step")
        if (step + 1) % CKPT_EVERY == 0:
            save_ckpt(model, opt, step + 1, ckpt)
        if max_minutes and time.time() - t0 > max_minutes * 60:
            C.log(f"vae: time budget reached at step {step + 1}")
            save_ckpt(model, opt, step + 1, ckpt)
            break
    return model.eval()


def latent_std(model, seed, n=24):
    zs = []
    with torch.no_grad():
        for i in range(n):
            r, a = C.to_video(*data.train_clip(10 ** 6 + i, seed=seed)[:2])
            zs.append(model.encode(torch.stack([r, a])).latent_dist.mode())
    z = torch.cat(zs)
    return float(z.std()), float(z.mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    C.setup_torch()
    model = train(a.steps, a.max_minutes, a.seed)
    std, mean = latent_std(model, a.seed)
    model.register_to_config(scaling_factor=round(1.0 / std, 6))
    C.log(f"vae: latent mean {mean:.4f} std {std:.4f} -> scaling_factor {model.config.scaling_factor}")
    model.save_pretrained(os.path.join(C.MODEL_DIR, "vae"), safe_serialization=True)


if __name__ == "__main__":
    main()
