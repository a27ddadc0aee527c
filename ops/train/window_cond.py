"""Experiment for issue #8 (not part of the bundled demo model, not in the C engine): condition the DiT
on where in the shot's motion a window lies, so windows of a long shot move at the shot's pace.

Window condition c = (t0, t1): the window's first and last frame as fractions of the shot's motion
(data.py's path parameter; a single-window clip is (0, 1)). A window embedding (sinusoidal features
of 1000·t0 and 1000·t1 -> linear -> SiLU -> linear, the last one zero-initialised) is added to the
DiT's time embedding through a forward hook, as ref_common adds the TransPixar domain embedding.

  train: fine-tune from a model directory on a mix of whole clips (0, 1) and windows of long shots
         (motion over L = lmin..lmax frames, a random 9-frame span, c from the span); writes
         $DEMO_MODEL_DIR/{transformer, transpixar_lora.safetensors, window_emb.safetensors}.
  probe: chain_probe.py's shots with each window's c (33 frames, window 9, overlap 5: window k is
         frames 4k..4k+8, c = (4k/32, (4k+8)/32)); --nocond gives every window (0, 1).

Run (the reference venv): DEMO_MODEL_DIR=/tmp/wc DEMO_WORK_DIR=/tmp/wc-work python
ops/train/window_cond.py train [--steps 6000] then ... probe [--variants "chain independent"].
train --init-from DIR continues a window-conditioned model (its window_emb too); --init-from ""
--patch P trains from scratch with patch size P. probe --relcond tells every window only the shot's
pace, (0, (N-1)/(frames-1)); --resample, --cfg, --steps-sample as chain_probe.py. train/pack --edge-frac F
puts a share F of the long-shot windows at a shot's first or last frames (session 6: the first window of
a slow shot, c = (0, small), was rare next to the whole clips' (0, 1), and rendered too fast).
ctx_cond.py builds on this file (clean context latents as extra input channels).
denoise [--t "100 400"] [--cfg W] [--seeds "1 2 3"]: the denoiser alone on noised true windows.
On a GPU machine without the VAE or T5: here `pack --out F` (the encoded training set, bf16), there
`train --data F --device cuda [--patch 1 --init-from ""]` (needs only torch, diffusers, safetensors);
bring the model directory back and probe it here. The CUDA path has not run yet (no GPU so far).
Measured (session 4, BENCHMARKS.md "Window conditioning"): motion continues at the shot's pace, the
seam maximum does not come down (the per-latent-frame pace varies 2-3x).
"""
import argparse, math, os, sys, time
import numpy as np, torch
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE); sys.path.insert(0, os.path.join(ROOT, "tests", "quality"))
import common as C, data, train_dit as TD, chain_probe as P, ref_common as R
from diffusers.models.embeddings import Timesteps
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler
from safetensors.torch import save_file, load_file

PROMPTS = ["a red star moving left", "a blue smoke puff moving right", "a green ring growing"]  # chain_probe.py's default shots

class WinEmb(torch.nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.proj = Timesteps(d // 2, True, 0)
        self.l1, self.l2 = torch.nn.Linear(d, d), torch.nn.Linear(d, d)
        torch.nn.init.zeros_(self.l2.weight); torch.nn.init.zeros_(self.l2.bias)
        self.cond = None
    def forward(self, c):  # c [B, 2] in [0, 1]
        f = torch.cat([self.proj(c[:, 0] * 1000), self.proj(c[:, 1] * 1000)], -1)
        return self.l2(torch.nn.functional.silu(self.l1(f)))

def install(model, we):
    def hook(module, args, out):
        return out + we(we.cond).to(out.dtype)
    return model.time_embedding.register_forward_hook(hook)

def clip(index, seed, long_frac, lmin, lmax, F=9, edge_frac=0.0):
    """edge_frac: the share of long-shot windows placed at the shot's first or last frames (half each)
    instead of anywhere: a uniform offset rarely gives the first window of a slow shot, c = (0, small),
    while every whole clip is (0, 1)."""
    rng = np.random.default_rng([seed, index])
    combo = data.TRAIN_COMBOS[int(rng.integers(len(data.TRAIN_COMBOS)))]
    r2 = np.random.default_rng([seed, index, 8]); span, cond = None, (0.0, 1.0)
    if r2.random() < long_frac:
        L = int(r2.integers(lmin, lmax + 1)); off = int(r2.integers(0, L - F + 1))
        if edge_frac > 0:                                  # a fresh stream: edge_frac 0 keeps the old clips
            r3 = np.random.default_rng([seed, index, 9]).random()
            off = 0 if r3 < edge_frac / 2 else L - F if r3 < edge_frac else off
        span, cond = (L, off), (off / (L - 1), (off + F - 1) / (L - 1))
    rgb, alpha, cap = data.render(*combo, seed=int(rng.integers(2 ** 31)), F=F, span=span)
    return rgb, alpha, cap, cond

def encode(n, seed, long_frac, lmin, lmax, path, edge_frac=0.0):
    if os.path.exists(path): return torch.load(path)
    vae = AutoencoderKLCogVideoX.from_pretrained(os.path.join(C.MODEL_DIR, "vae")).float().eval()
    lats, caps, conds = [], [], []
    with torch.no_grad():
        for i in range(0, n, 8):
            vids = []
            for j in range(i, min(n, i + 8)):
                rgb, alpha, cap, cond = clip(j, seed, long_frac, lmin, lmax, edge_frac=edge_frac)
                vids += list(C.to_video(rgb, alpha)); caps.append(cap); conds.append(cond)
            z = vae.encode(torch.stack(vids)).latent_dist.mode() * vae.config.scaling_factor
            lats.append(z.permute(0, 2, 1, 3, 4).reshape(-1, 2 * C.LAT_FRAMES, *z.shape[1:2], *z.shape[3:]))
    out = {"latents": torch.cat(lats), "captions": caps, "conds": torch.tensor(conds, dtype=torch.float32)}
    torch.save(out, path); return out

def build_deeper(seed, init_from, extra, device="cpu"):
    """train_dit.build with `extra` CogVideoX blocks appended after init_from's, adaLN-Zero (their norm1 /
    norm2 linears zero: each new block starts as the identity), their LoRA pairs B = 0."""
    if not extra:
        return TD.build(seed, init_from, device)
    base = C.DIT_CFG["num_layers"]
    C.DIT_CFG["num_layers"] = base + extra                 # build() sizes the model and its LoRA from it
    src_dir = init_from
    model, lora = TD.build(seed, None, device)
    src = TD.CogVideoXTransformer3DModel.from_pretrained(os.path.join(src_dir, "transformer")).float()
    missing = model.load_state_dict(src.state_dict(), strict=False).missing_keys
    assert all(k.startswith("transformer_blocks.") and int(k.split(".")[1]) >= base for k in missing), missing
    with torch.no_grad():
        for i in range(base, base + extra):
            for n in ("norm1", "norm2"):
                lin = getattr(model.transformer_blocks[i], n).linear
                torch.nn.init.zeros_(lin.weight); torch.nn.init.zeros_(lin.bias)
        for k, v in load_file(os.path.join(src_dir, "transpixar_lora.safetensors")).items():
            lora[k].copy_(v.float())
    return model, lora


def dataset(a):
    """(latents [n, 2F, 16, h, w], text embeddings [1 + captions, L, d] (0: ""), caption index [n],
    conditions [n, 2]): from a `pack` file (--data) or encoded here (VAE + T5, cached in WORK_DIR)."""
    if a.data:
        d = torch.load(a.data)
        return d["latents"].float(), d["emb"].float(), d["cap_idx"], pace_only(d["conds"], a)
    ds = encode(a.clips, 2, a.long_frac, a.lmin, a.lmax, os.path.join(C.WORK_DIR, "wc_lat.pt"), a.edge_frac)
    caps = sorted(set(ds["captions"]))
    cap_idx = torch.tensor([1 + caps.index(c) for c in ds["captions"]])
    return ds["latents"], TD.embed_texts([""] + caps), cap_idx, pace_only(ds["conds"], a)


def pace_only(conds, a):
    """--relcond: c = (0, t1 - t0), the share of the motion a window covers and not where it lies (the
    probe's --relcond gives every window of a shot (0, (N-1)/(frames-1)))."""
    if not getattr(a, "relcond", False):
        return conds
    return torch.stack([torch.zeros_like(conds[:, 0]), conds[:, 1] - conds[:, 0]], 1)


def pack(a):
    """The training set as one file for a machine without the VAE or T5 (a lent GPU): latents and
    text embeddings in bf16 (2048 clips: 14.3 MiB), caption indices, conditions."""
    lat, emb, cap_idx, conds = dataset(a)
    torch.save({"latents": lat.to(torch.bfloat16), "emb": emb.to(torch.bfloat16), "cap_idx": cap_idx,
                "conds": conds}, a.out)
    print(f"{a.out}: {lat.shape[0]} clips, {os.path.getsize(a.out) / 2**20:.1f} MiB")


def train(a, make_model=None, loss_fn=None, seed=2):
    """make_model(device) -> (model, lora) (default: build_deeper from --init-from); loss_fn(model, rope,
    x0, text, alphas, gen) (default: TD.v_loss with --dloss); seed: the batch draws (ctx_cond.py: 3)."""
    dev = torch.device(a.device)
    lat, emb, cap_idx, conds = (x.to(dev) for x in dataset(a))
    model, lora = make_model(dev) if make_model else build_deeper(2, a.init_from, a.extra_layers, dev)
    loss_fn = loss_fn or (lambda m, r, x0, t, al, g: TD.v_loss(m, r, x0, t, al, g, a.dloss))
    we = WinEmb(); install(model, we)
    prev = os.path.join(a.init_from, "window_emb.safetensors")
    if os.path.exists(prev):                               # continuing a window-conditioned model
        we.load_state_dict(load_file(prev))
    we.to(dev)
    rope = tuple(r.to(dev) for r in R.pipeline_rotary(model, lat.shape[-2], lat.shape[-1], lat.shape[1] // 2)[:2])
    alphas = torch.tensor(CogVideoXDPMScheduler(**C.SCHED_CFG).alphas_cumprod, dtype=torch.float32).to(dev)
    params = list(model.parameters()) + list(lora.values())
    opt = torch.optim.AdamW([{"params": list(model.parameters()) + list(we.parameters()), "lr": a.lr},
                             {"params": list(lora.values()), "lr": a.lr * TD.LORA_LR_MULT}], weight_decay=0.0)
    base = [g["lr"] for g in opt.param_groups]
    ema = TD.Ema(model, lora); ema.src.update({"we." + k: v for k, v in we.named_parameters()})
    ema.avg.update({"we." + k: v.detach().clone() for k, v in we.named_parameters()})
    gen = torch.Generator().manual_seed(seed); t0 = time.time(); avg = None
    for step in range(a.steps):
        for g, lr in zip(opt.param_groups, base): g["lr"] = lr * TD.lr_at(step, a.steps)
        idx = torch.randint(0, lat.shape[0], (TD.BATCH,), generator=gen).to(dev)
        ci = torch.where(torch.rand(TD.BATCH, generator=gen).to(dev) < TD.P_UNCOND, 0, cap_idx[idx])
        we.cond = conds[idx]
        loss = loss_fn(model, rope, lat[idx], emb[ci], alphas, gen)
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(params + list(we.parameters()), 1.0); opt.step(); ema.update(step)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0: print(f"step {step} avg {avg:.4f} {(time.time()-t0)/(step+1):.2f} s/step", flush=True)
        if (step + 1) % 500 == 0 or step + 1 == a.steps:
            ema.swap(); TD.save_all(model.eval(), {k: v.cpu() for k, v in lora.items()}, step + 1)
            save_file({k: v.detach().cpu().contiguous() for k, v in we.state_dict().items()}, os.path.join(C.MODEL_DIR, "window_emb.safetensors"))
            ema.swap(); model.train()

class WProbe(P.Probe):
    def __init__(self, model_dir, steps, cfg):
        super().__init__(model_dir, steps, cfg)
        self.we = WinEmb(); self.we.load_state_dict(load_file(os.path.join(model_dir, "window_emb.safetensors")))
        install(self.p.dit, self.we)
        self.use_cond, self.relcond = True, False   # relcond: every window told the shot's pace, not its place
    def shot(self, variant, prompt, seed, frames, n, ov, **kw):
        firsts = list(range(0, frames - n + 1, n - ov)); orig = super().window
        conds = [(f / (frames - 1), (f + n - 1) / (frames - 1)) for f in firsts]
        if self.relcond:
            conds = [(0.0, (n - 1) / (frames - 1))] * len(firsts)
        calls = {"k": 0}
        def win(text, seed_, F, h, w, pin):
            k = calls["k"] - (1 if self.refining else 0); calls["k"] = k + 1   # refine0: window 0 again
            c = conds[k] if self.use_cond else (0.0, 1.0)
            self.we.cond = torch.tensor([c, c], dtype=torch.float32)
            return orig(text, seed_, F, h, w, pin)
        self.window = win
        try: return super().shot(variant, prompt, seed, frames, n, ov)
        finally: del self.window

def denoise_probe(pr, ts, cfg, seeds, frames=33, n=9):
    """The denoiser without the sampler: each window of the generator's long shot encoded, noised to t,
    one v-prediction with its c, the predicted x0 decoded and stitched as farmd does. Prints per t the
    spread of consecutive one-latent-frame blocks' alpha |Δ| and the seam ratios (chain_probe's)."""
    ac = torch.tensor(CogVideoXDPMScheduler(**C.SCHED_CFG).alphas_cumprod, dtype=torch.float32)
    firsts = list(range(0, frames - n + 1, n - 5))
    F = (n - 1) // 4 + 1
    rope = R.pipeline_rotary(pr.p.dit, C.HEIGHT // 8, C.WIDTH // 8, F)[:2]   # the same for every window
    for t in ts:
        sw, allr = [], []
        for prompt in PROMPTS:
            text = pr.p.embed(["", prompt])
            for seed in seeds:
                rgb, alpha = pr.long_shot(prompt, seed, frames); wins = []
                for k, f0 in enumerate(firsts):
                    x0 = pr.encode_window(rgb[f0:f0 + n], alpha[f0:f0 + n]); a = ac[t]
                    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(100 * seed + k))
                    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
                    c = (f0 / (frames - 1), (f0 + n - 1) / (frames - 1)); pr.we.cond = torch.tensor([c, c])
                    with torch.no_grad():
                        v = pr.p.dit(hidden_states=torch.cat([xt, xt]), encoder_hidden_states=text,
                                     timestep=torch.tensor([t, t]), image_rotary_emb=rope, return_dict=False)[0]
                    v = v[:1] + cfg * (v[1:] - v[:1])
                    wins.append(pr.decode(a.sqrt() * xt - (1 - a).sqrt() * v))
                x = P.stitch(wins, firsts, n, frames); r = P.seam_ratios(x, firsts, n); allr.append(r)
                b = np.abs(np.diff(x[..., 3], axis=0)).mean(axis=(1, 2)).reshape(-1, 4).mean(1)
                sw += list(np.exp(np.abs(np.log(b[1:] / b[:-1]))))
        r = np.concatenate(allr)
        print("t=%d CFG %g: blocks differ by median %.2fx, p90 %.2fx; seams max %.2f / %.2f, over 1.3: %d / %d" % (
            t, cfg, np.median(sw), np.percentile(sw, 90), *r.max(0), int((r.max(1) > 1.3).sum()), len(r)), flush=True)


def geom(x, prompt):
    """Per frame: the alpha centroid's x (translations) or the alpha's radius of gyration (growing)."""
    a = x[..., 3]; gy, gx = np.mgrid[0:a.shape[1], 0:a.shape[2]] + 0.5
    m = a.sum((1, 2)); cx = (a * gx).sum((1, 2)) / m; cy = (a * gy).sum((1, 2)) / m
    r2 = (a * ((gx - cx[:, None, None]) ** 2 + (gy - cy[:, None, None]) ** 2)).sum((1, 2)) / m
    return np.sqrt(r2) if "growing" in prompt else cx


def run_probe(pr, a):
    """The 33-frame shots of PROMPTS x --seeds per variant: each shot's seam ratios (--profile: alpha |Δ|
    per pair; --geom: geom()'s change per latent frame), then max, mean, seams over 1.3 and how much
    consecutive latent frames' mean alpha |Δ| differ."""
    for v in a.variants.split():
        every, spread = [], []
        for prompt in PROMPTS:
            for seed in map(int, a.seeds.split()):
                x, r = pr.shot(v, prompt, seed, 33, 9, 5); every.append(r)
                print(v, prompt, seed, " ".join("%.2f/%.2f" % tuple(z) for z in r), flush=True)
                d = np.abs(np.diff(x[..., 3], axis=0)).mean(axis=(1, 2))
                db = d[:32].reshape(-1, 4).mean(1)
                spread += list(np.exp(np.abs(np.log(db[1:] / db[:-1]))))
                if getattr(a, "profile", False):
                    print("   alpha |d| x100:", " ".join("%.1f" % z for z in d * 100))
                if getattr(a, "geom", False):
                    gb = np.diff(geom(x, prompt))[:32].reshape(-1, 4).sum(1)
                    print("   geometry per latent frame:", " ".join("%.2f" % z for z in gb))
        r = np.concatenate(every)
        print("== %s: max %.2f / %.2f  mean %.2f / %.2f  seams > 1.3: %d / %d; blocks differ median %.2fx p90 %.2fx" % (
            v, *r.max(0), *r.mean(0), int((r.max(1) > 1.3).sum()), len(r), np.median(spread),
            np.percentile(spread, 90)), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("mode")
    ap.add_argument("--steps", type=int, default=6000); ap.add_argument("--clips", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=3e-4); ap.add_argument("--long-frac", type=float, default=0.6)
    ap.add_argument("--lmin", type=int, default=9); ap.add_argument("--lmax", type=int, default=45)
    ap.add_argument("--edge-frac", type=float, default=0.0, help="long-shot windows at a shot's first/last frames")
    ap.add_argument("--init-from", default=ROOT + "/ops/models/demo")
    ap.add_argument("--dloss", type=float, default=0.0, help="weight of the latent-frame difference loss")
    ap.add_argument("--extra-layers", type=int, default=0, help="blocks appended to the init model (adaLN-Zero)")
    ap.add_argument("--patch", type=int, default=0, help="train from scratch (--init-from '') with this patch size")
    ap.add_argument("--variants", default="independent chain"); ap.add_argument("--nocond", action="store_true")
    ap.add_argument("--seeds", default="1 2 3 4 5"); ap.add_argument("--profile", action="store_true")
    ap.add_argument("--geom", action="store_true", help="probe: the alpha centroid / radius per latent frame")
    ap.add_argument("--resample", type=int, default=1); ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--steps-sample", type=int, default=25); ap.add_argument("--relcond", action="store_true")
    ap.add_argument("--data", default="", help="train from a `pack` file instead of encoding")
    ap.add_argument("--out", default="", help="pack: the file to write")
    ap.add_argument("--device", default="cpu", help="train on this torch device (cuda on a GPU machine)")
    ap.add_argument("--t", default="100 400 700 900", help="denoise: the noise levels")
    ap.add_argument("--frames", type=int, default=33, help="denoise: the long shot's length (its pace)")
    a = ap.parse_args(); C.setup_torch()
    if a.patch:   # the RoPE base grid stays TransPixar's 45 x 30 tokens (ref_common.pipeline_rotary checks it)
        C.DIT_CFG.update(patch_size=a.patch, sample_width=90 * a.patch // 2, sample_height=60 * a.patch // 2)
    if a.mode == "train": train(a)
    elif a.mode == "denoise":
        denoise_probe(WProbe(C.MODEL_DIR, a.steps_sample, a.cfg), list(map(int, a.t.split())), a.cfg,
                      list(map(int, a.seeds.split())), a.frames)
    elif a.mode == "pack":
        if not a.out: ap.error("pack needs --out FILE (where to write the training set)")
        pack(a)
    else:
        pr = WProbe(C.MODEL_DIR, a.steps_sample, a.cfg); pr.use_cond, pr.resample, pr.relcond = not a.nocond, a.resample, a.relcond
        run_probe(pr, a)
