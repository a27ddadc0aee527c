"""Stage 3: a tiny AutoencoderKLCogVideoX (diffusers 0.32.0), trained to reconstruct procedural RGB
clips and their alpha as grey clips (TransPixar encodes alpha as a 3-channel grey video with the same
VAE), then the latent scaling_factor set to 1 / std of the latents so the DiT sees unit variance.

Each step: BATCH 9-frame clips (CROP x CROP windows) (RGB + alpha-grey videos, 3 latent frames, the decoder's odd first
chunk exactly as the pipeline decodes it) plus SINGLES single frames (one latent frame: the causal
first-frame path, cheap spatial training). Loss: L1 + MSE with the foreground weighted up, plus a
small KL term. Checkpoints every CKPT_EVERY steps; --max-minutes cuts a run short and still saves.

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

BATCH, SINGLES, LR, KL_W, CKPT_EVERY = 2, 12, 3e-3, 1e-4, 25
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
        singles.append((r if s % 3 else a)[:, f:f + 1])  # 2/3 RGB: colour is the hard part
    return torch.stack(vids), torch.stack(singles)


def recon_loss(model, x):
    post = model.encode(x).latent_dist
    y = model.decode(post.sample()).sample
    w = 1.0 + 7.0 * (x > -0.95).any(dim=1, keepdim=True).float()  # foreground counts 8x
    err = y - x
    rec = (w * (err.abs() + err * err)).mean()
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
