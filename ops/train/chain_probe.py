"""Seam probe for the `chain` strategy (issue #8) on the Python reference pipeline: a quick bench for
models and pinning variants before they go into the C engine (about 3 s per 33-frame shot on 2 CPUs,
no farm).

A shot of FRAMES frames is cut into windows of N frames, stride N - O (as farmd cuts it); each
window is sampled like tests/quality/sample_ref.py (DPM, trailing, constant CFG, alpha noise = RGB
noise) from its own seed (1000·seed + k); windows after the first get latent frames pinned to the
previous window's final latents, re-noised to each step's level with the window's own noise before
and after every step (as worker/model/chain_pin.h does). The windows are decoded, crossfaded with
farmd's smoothstep weights (coordinator/assemble/stitch.c) and measured with the seam metric of
tests/bench/seam_metric.h (ratio = |Δ| at the seam pair / mean |Δ| of the other pairs of the two
windows, colour premultiplied / alpha).

Variants (--variants):
  independent  no pinning (the baseline)
  chain        window k+1's first P = (O-1)/4+1 latent frames <- window k's last P (what farm-worker does)
  aligned      only the latent frames that stand for the same shot frames (window k+1's first latent
               frame is one frame, window k's are groups of 4, so it is left free)
  reenc        aligned, plus window k+1's first latent frame = the VAE encoding of window k's decoded
               frame at window k+1's start (a true one-frame latent)
  vae          no DiT: each window is the VAE round trip of the generator's own long shot for the
               prompt (data.render, the motion stretched over the whole shot), windows stitched as
               farmd does: what a DiT that reproduced the training distribution exactly would give
  gt0          chain, but window 0 is the VAE encoding of the generator's long shot (as `vae`): how
               the DiT continues a well-paced prefix, apart from how it starts one
--windows N    instead of shots: N seam-free single windows per prompt (seeds 1000·s + 7), each
               pair's |Δ| over its window's mean (the model's in-window motion profile)

Run: python ops/train/chain_probe.py [--model DIR] [--variants ...] [--prompts "p1|p2"] [--seeds "1 2"]
     [--frames 33] [--window 9] [--overlap 5] [--cfg 3] [--steps 25] [--profile] [--windows N]
     [--scheduler dpm|ddim] [--resample U]
--resample U   RePaint harmonisation of pinned windows: each step is taken U times, the result taken
               back to the step's noise level with fresh noise in between (U = 1: the farm's sampler)
Prints one line per shot (the seams' colour/alpha ratios) and per variant the max, mean and the
count of seams over 1.3; --profile adds each shot's alpha |Δ| per neighbouring pair (×100).
"""
import argparse
import itertools
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "quality"))
import common as C  # noqa: E402
import data  # noqa: E402
import ref_common as R  # noqa: E402
import sample_ref as S  # noqa: E402
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler  # noqa: E402


def smoothstep(x):
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x * x * (3 - 2 * x)


def stitch(wins, firsts, n, frames):
    """farmd's crossfade: each window ramps in over the frames it shares with earlier windows and
    out over those it shares with later ones; weights normalised per frame."""
    nw, ins, outs = len(wins), [], []
    for k in range(nw):
        s, e = firsts[k], firsts[k] + n
        reach = max([s] + [firsts[j] + n for j in range(nw) if j != k and firsts[j] < s])
        nxt = min([e] + [firsts[j] for j in range(nw) if j != k and s < firsts[j] and firsts[j] + n > e])
        ins.append(min(reach - s, n))
        outs.append(min(e - nxt, n))
    out = np.zeros((frames,) + wins[0].shape[1:])
    for t in range(frames):
        w = np.zeros(nw)
        for k in range(nw):
            if firsts[k] <= t < firsts[k] + n:
                w[k] = ((smoothstep((t - firsts[k] + 0.5) / ins[k]) if ins[k] else 1.0) *
                        (smoothstep((firsts[k] + n - t - 0.5) / outs[k]) if outs[k] else 1.0))
        for k in np.nonzero(w)[0]:
            out[t] += w[k] / w.sum() * wins[k][t - firsts[k]]
    return out


def pair_change(a, b):
    return np.array([np.abs(a[..., :3] - b[..., :3]).mean(), np.abs(a[..., 3] - b[..., 3]).mean()])


def seam_ratios(x, firsts, n):
    """[seams, 2] colour / alpha ratios (seam_metric.h: pair (c-1, c), c = middle of the overlap)."""
    cs = [firsts[k + 1] + (max(0, firsts[k] + n - firsts[k + 1]) + 1) // 2 for k in range(len(firsts) - 1)]
    out = []
    for k, c in enumerate(cs):
        inside = [pair_change(x[f - 1], x[f]) for f in range(firsts[k] + 1, firsts[k + 1] + n) if f not in cs]
        out.append(pair_change(x[c - 1], x[c]) / np.mean(inside, 0))
    return np.array(out)


class Probe:
    def __init__(self, model_dir, steps, cfg):
        self.p, self.steps, self.cfg, self.resample = S.RefPipe(model_dir), steps, cfg, 1
        self.scheduler = "dpm"
        self.refine0 = self.refining = False    # refine0: window 0 again with its latent frame 1 pinned

    def refine_pin(self, prev, F):
        """Window 0's second pass: its first pass's latent frame 1 (both halves) pinned, the slot
        `aligned` pins in later windows, so its last latent frame is rendered as a continuation."""
        m = torch.zeros(2 * F, dtype=torch.bool)
        m[1] = m[F + 1] = True
        return prev, m

    @torch.no_grad()
    def window(self, text, seed, F, h, w, pin):
        """Final latent [1, 2F, 16, h, w]; pin = (known latent, frame mask [2F]) or None."""
        cls = CogVideoXDDIMScheduler if self.scheduler == "ddim" else CogVideoXDPMScheduler
        sched = cls.from_config(self.p.sched_cfg, timestep_spacing="trailing")
        sched.set_timesteps(self.steps)
        gen = torch.Generator().manual_seed(seed)
        eps = torch.randn((1, F, 16, h, w), generator=gen).repeat(1, 2, 1, 1, 1)
        lat, old, ts, ac = eps.clone(), None, sched.timesteps, sched.alphas_cumprod
        rope = R.pipeline_rotary(self.p.dit, h, w, F)[:2]

        def apply(x, ab):
            if pin is None:
                return x
            x0, m = pin
            x = x.clone()
            x[:, m] = math.sqrt(ab) * x0[:, m] + math.sqrt(1 - ab) * eps[:, m]
            return x
        def step(i, t, lat, old):
            v = self.p.dit(hidden_states=torch.cat([lat, lat]), encoder_hidden_states=text,
                           timestep=t.expand(2), image_rotary_emb=rope, return_dict=False)[0]
            v = v[:1] + self.cfg * (v[1:] - v[:1])
            if self.scheduler == "ddim":
                return sched.step(v, t, lat, return_dict=False)[0], None
            return sched.step(v, old, t, ts[i - 1] if i > 0 else None, lat, generator=gen, return_dict=False)
        for i, t in enumerate(ts):
            x_t, old_t = apply(lat, float(ac[t])), old
            lat, old = step(i, t, x_t, old_t)
            nxt = float(ac[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            lat = apply(lat, nxt)
            # RePaint resampling (Lugmayr et al. 2022): take the step's result back to t's noise
            # level with fresh noise and step again, so the free frames settle on the pinned ones
            for _ in range(self.resample - 1 if pin is not None and 0 < i and i + 1 < len(ts) else 0):
                r = float(ac[t]) / nxt
                lat = math.sqrt(r) * lat + math.sqrt(1 - r) * torch.randn(lat.shape, generator=gen)
                lat, old = step(i, t, apply(lat, float(ac[t])), old_t)
                lat = apply(lat, nxt)
        return lat

    @torch.no_grad()
    def decode(self, lat):
        """[1, 2F, ...] -> [T, H, W, 4]: RGB as decoded (colour over black = premultiplied), alpha."""
        F = lat.shape[1] // 2
        rgb = self.p.decode(lat[:, :F]).numpy()
        alpha = self.p.decode(lat[:, F:]).max(dim=-1).values.numpy()
        return np.concatenate([rgb, alpha[..., None]], -1)

    @torch.no_grad()
    def encode_frame(self, frame):
        """One decoded RGBA frame [H, W, 4] -> its one-frame latents (RGB, alpha) [16, h, w] each."""
        vids = C.to_video(frame[None, ..., :3].astype(np.float32), frame[None, ..., 3].astype(np.float32))
        z = self.p.vae.encode(torch.stack(vids)).latent_dist.mode() * self.p.vae.config.scaling_factor
        return z[0, :, 0], z[1, :, 0]

    def pin_for(self, variant, prev, prev_frames, F, P, stride, shape):
        known, m = torch.zeros(shape), torch.zeros(shape[1], dtype=torch.bool)
        skip = 0 if variant == "chain" else 1            # aligned / reenc leave the one-frame latent
        for half in range(2):
            o = half * F
            known[:, o + skip:o + P] = prev[:, o + F - P + skip:o + F]
            m[o + skip:o + P] = True
        if variant == "reenc":
            zr, za = self.encode_frame(prev_frames[stride])
            known[0, 0], known[0, F] = zr, za
            m[0] = m[F] = True
        return known, m

    @staticmethod
    def long_shot(prompt, seed, frames):
        """The generator's clip for prompt with its motion stretched over all frames: rgb, alpha."""
        combo = next(c for c in itertools.product(data.SHAPES, data.COLOURS, data.MOTIONS) if data.caption(*c) == prompt)
        return data.render(*combo, seed=seed, F=frames, span=(frames, 0))[:2]

    @torch.no_grad()
    def encode_window(self, rgb, alpha):
        """Frames -> the window's latents [1, 2F, 16, h, w] (RGB half, alpha half)."""
        z = self.p.vae.encode(torch.stack(C.to_video(rgb, alpha))).latent_dist.mode() * self.p.vae.config.scaling_factor
        z = z.permute(0, 2, 1, 3, 4)                                 # [2, F, 16, h, w]
        return torch.cat([z[:1], z[1:]], 1)

    def vae_shot(self, prompt, seed, frames, n, firsts):
        """The generator's long shot for prompt (motion over all frames), each window VAE round-tripped."""
        rgb, alpha = self.long_shot(prompt, seed, frames)
        wins = []
        for f0 in firsts:
            r, a = self.p.roundtrip(rgb[f0:f0 + n], alpha[f0:f0 + n])
            wins.append(np.concatenate([r, a[..., None]], -1))
        return wins

    def shot(self, variant, prompt, seed, frames, n, ov, height=C.HEIGHT, width=C.WIDTH):
        text = self.p.embed(["", prompt])
        F, P, stride, h, w = (n - 1) // 4 + 1, (ov - 1) // 4 + 1, n - ov, height // 8, width // 8
        firsts, wins, prev = list(range(0, frames - n + 1, stride)), [], None
        if variant == "vae":
            wins = self.vae_shot(prompt, seed, frames, n, firsts)
            x = stitch(wins, firsts, n, frames)
            return x, seam_ratios(x, firsts, n)
        for k in range(len(firsts)):
            pin = None
            if prev is not None and variant != "independent":
                pin = self.pin_for("chain" if variant == "gt0" else variant, prev, wins[-1], F, P, stride,
                                   (1, 2 * F, 16, h, w))
            if k == 0 and variant == "gt0":
                rgb, alpha = self.long_shot(prompt, seed, frames)
                prev = self.encode_window(rgb[:n], alpha[:n])
            else:
                prev = self.window(text, 1000 * seed + k, F, h, w, pin)
                if k == 0 and self.refine0 and variant in ("chain", "aligned", "reenc"):
                    self.refining = True
                    prev = self.window(text, 1000 * seed + 999, F, h, w, self.refine_pin(prev, F))
                    self.refining = False
            wins.append(self.decode(prev))
        x = stitch(wins, firsts, n, frames)
        return x, seam_ratios(x, firsts, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=C.MODEL_DIR)
    ap.add_argument("--variants", default="independent chain aligned reenc")
    ap.add_argument("--prompts", default="a red star moving left|a blue smoke puff moving right|a green ring growing")
    ap.add_argument("--seeds", default="1 2 3 4 5")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--window", type=int, default=9)
    ap.add_argument("--overlap", type=int, default=5)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--windows", type=int, default=0)
    ap.add_argument("--scheduler", default="dpm", choices=["dpm", "ddim"])
    ap.add_argument("--resample", type=int, default=1, help="RePaint: passes per step of a pinned window")
    a = ap.parse_args()
    C.setup_torch()
    probe = Probe(a.model, a.steps, a.cfg)
    probe.resample, probe.scheduler = a.resample, a.scheduler
    if a.windows:
        return window_profile(probe, a)
    for v in a.variants.split():
        every = []
        for prompt in a.prompts.split("|"):
            for seed in map(int, a.seeds.split()):
                x, r = probe.shot(v, prompt, seed, a.frames, a.window, a.overlap)
                every.append(r)
                print(v, prompt, seed, " ".join("%.2f/%.2f" % tuple(z) for z in r), flush=True)
                if a.profile:
                    d = np.abs(np.diff(x[..., 3], axis=0)).mean(axis=(1, 2)) * 100
                    print("   alpha |d| x100:", " ".join("%.1f" % z for z in d))
        r = np.concatenate(every)
        print("== %s: max %.2f / %.2f  mean %.2f / %.2f  seams > 1.3: %d / %d" % (
            v, *r.max(0), *r.mean(0), int((r.max(1) > 1.3).sum()), len(r)), flush=True)


def window_profile(probe, a):
    """Each neighbouring pair's |Δ| over its window's mean, over seam-free single windows."""
    F, hw, prof = (a.window - 1) // 4 + 1, (C.HEIGHT // 8, C.WIDTH // 8), []
    for prompt in a.prompts.split("|"):
        text = probe.p.embed(["", prompt])
        for s in range(a.windows):
            w = probe.decode(probe.window(text, 1000 * s + 7, F, *hw, None))
            d = np.array([pair_change(w[i], w[i + 1]) for i in range(a.window - 1)])
            prof.append(d / d.mean(0))
    p = np.array(prof)
    print("%d windows of %d frames, steps %d, CFG %g" % (len(p), a.window, a.steps, a.cfg))
    for name, col in (("colour", 0), ("alpha", 1)):
        print("%-6s mean %s" % (name, " ".join("%.2f" % z for z in p[:, :, col].mean(0))))
        print("%-6s max  %s" % (name, " ".join("%.2f" % z for z in p[:, :, col].max(0))))
    print("windows over 1.3 (%%): %s" % " ".join("%d" % z for z in 100 * (p.max(2) > 1.3).mean(0)))


if __name__ == "__main__":
    main()
