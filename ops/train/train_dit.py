"""Stage 4: a tiny CogVideoX DiT (5B form: RoPE, head_dim 64) with the TransPixar RGBA extensions.

The TransPixar model is tests/reference/ref_common.py's own implementation (imported): doubled
sequence [text | RGB | alpha] on the frame axis, one RoPE table shared by both halves, the domain
embedding added to alpha tokens after the patch embedding, LoRA (rank LORA_RANK, scale
lora_alpha/rank) on to_q/to_k/to_v/to_out.0 at alpha rows, text-query -> alpha-key logits -1.
Here the base transformer, the LoRA pairs and the domain embedding are trained jointly from scratch.

Objective: CogVideoX v-prediction on the zero-terminal-SNR schedule of CogVideoXDPMScheduler
(MODEL.md §3.1), t uniform in [0, 1000); the two halves share their noise half of the time (the
pipeline starts alpha as a copy of the RGB noise) and get independent noise otherwise; the caption
is replaced by "" with probability P_UNCOND for classifier-free guidance.

Data: NCLIPS training clips encoded once by the trained VAE (posterior mode x scaling_factor), text
embedded once by the frozen T5. Checkpoints every CKPT_EVERY steps; --max-minutes cuts a run short
and still saves a usable model. Output: MODEL_DIR/transformer/, transpixar_lora.safetensors,
scheduler/, model_index.json.

Run: python ops/train/train_dit.py [--steps N] [--max-minutes M] [--clips N]
"""
import argparse
import hashlib
import math
import os
import time

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from safetensors.torch import load_file
from transformers import T5EncoderModel, T5Tokenizer

import common as C
import data
import ref_common as R

BATCH, LR, P_UNCOND, P_SHARED, CKPT_EVERY, LORA_LR_MULT = 32, 1e-3, 0.1, 0.5, 50, 4.0
EMA = 0.999  # the saved model is the exponential moving average of the trained weights


class Ema:
    """EMA of every trained tensor (transformer parameters, LoRA pairs, domain embedding); decay
    warms up as (1 + n) / (10 + n) so early steps do not drag the average towards the init."""

    def __init__(self, model, lora):
        self.src = dict(model.named_parameters())
        self.src.update({"lora." + k: v for k, v in lora.items()})
        self.avg = {k: v.detach().clone() for k, v in self.src.items()}

    @torch.no_grad()
    def update(self, step):
        d = min(EMA, (1 + step) / (10 + step))
        for k, v in self.src.items():
            self.avg[k].mul_(d).add_(v.detach(), alpha=1 - d)

    @torch.no_grad()
    def swap(self):
        """Exchange live and averaged weights (call twice to restore)."""
        for k, v in self.src.items():
            tmp = v.detach().clone()
            v.copy_(self.avg[k])
            self.avg[k].copy_(tmp)


def embed_texts(prompts):
    tok = T5Tokenizer.from_pretrained(os.path.join(C.MODEL_DIR, "tokenizer"))
    t5 = T5EncoderModel.from_pretrained(os.path.join(C.MODEL_DIR, "text_encoder")).float().eval()
    ids = tok(prompts, padding="max_length", max_length=C.TEXT_LEN, truncation=True,
              add_special_tokens=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return t5(input_ids=ids).last_hidden_state.float()   # [P, L, d_model], no attention mask


def encode_clips(n, seed, long_frac=0.0, long_min=1):
    """n training clips -> latents [n, 2*LAT_FRAMES, 16, h, w] (RGB frames then alpha), captions.
    long_frac: the share of clips that are windows of long shots (data.train_clip)."""
    with open(os.path.join(C.MODEL_DIR, "vae", "diffusion_pytorch_model.safetensors"), "rb") as f:
        vae_hash = hashlib.sha256(f.read()).hexdigest()[:12]       # a retrained VAE re-encodes
    tag = f"_long{long_frac:g}x{long_min}" if long_frac > 0 else ""
    path = os.path.join(C.ensure_dir(C.WORK_DIR), f"latents_{n}_{seed}{tag}_{vae_hash}.pt")
    if os.path.exists(path):
        return torch.load(path)
    vae = AutoencoderKLCogVideoX.from_pretrained(os.path.join(C.MODEL_DIR, "vae")).float().eval()
    sf = vae.config.scaling_factor
    lats, caps = [], []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, n, 8):
            vids = []
            for j in range(i, min(n, i + 8)):
                rgb, alpha, cap = data.train_clip(j, seed=seed, long_frac=long_frac, long_min=long_min)
                vids += list(C.to_video(rgb, alpha))
                caps.append(cap)
            z = vae.encode(torch.stack(vids)).latent_dist.mode() * sf   # [2b, 16, f, h, w]
            z = z.permute(0, 2, 1, 3, 4).reshape(-1, 2 * C.LAT_FRAMES, *z.shape[1:2], *z.shape[3:])
            lats.append(z)
            if i % 64 == 0:
                C.log(f"dit: encoded {i + len(vids) // 2}/{n} clips, {time.time() - t0:.0f} s")
    out = {"latents": torch.cat(lats), "captions": caps}
    torch.save(out, path)
    return out


def build(seed, init_from=None, device="cpu"):
    """The model and its TransPixar extensions, from scratch, or (init_from: a model directory) from
    its transformer/ and transpixar_lora.safetensors, to fine-tune; on `device` (the LoRA tensors are
    moved before the processors take views of them)."""
    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(**C.DIT_CFG).float()
    if init_from:
        src = CogVideoXTransformer3DModel.from_pretrained(os.path.join(init_from, "transformer")).float()
        model.load_state_dict(src.state_dict())
    d = C.DIT_CFG["num_attention_heads"] * C.DIT_CFG["attention_head_dim"]
    lora = {}
    for i in range(C.DIT_CFG["num_layers"]):
        for t in R.LORA_TARGETS:
            pre = f"transformer.transformer_blocks.{i}.attn1.{t}"
            lora[f"{pre}.lora_A.weight"] = torch.nn.Parameter(torch.randn(C.LORA_RANK, d) / math.sqrt(d))
            lora[f"{pre}.lora_B.weight"] = torch.nn.Parameter(torch.zeros(d, C.LORA_RANK))
    lora["domain_emb"] = torch.nn.Parameter(torch.zeros(1, 1, d))  # zero-initialised, as in the paper
    if init_from:
        with torch.no_grad():
            for k, v in load_file(os.path.join(init_from, "transpixar_lora.safetensors")).items():
                lora[k].copy_(v.float())
    model.to(device)
    for v in lora.values():
        v.data = v.data.to(device)
    R.apply_transpixar(model, lora, C.LORA_ALPHA, C.TEXT_ALPHA_BIAS)
    return model, lora


def v_loss(model, rope, x0, text, alphas, gen, w_dt=0.0, ctx=None):
    """x0 [B, 2F, 16, h, w]; text [B, L, dt]. CogVideoX v-prediction MSE; w_dt > 0 adds w_dt · the
    ᾱ-weighted MSE of the predicted x0's differences between neighbouring latent frames (each half)
    against the true ones (ops/train/window_cond.py --dloss; the demo model uses 0). ctx [B, 2F] bool
    (ops/train/ctx_cond.py): those frames' clean latents go in input channels 16-31 (zeros elsewhere)
    and the MSE is over the other frames."""
    b, f2, dev = x0.shape[0], x0.shape[1], x0.device     # draws on gen (CPU), then to x0's device
    t = torch.randint(0, 1000, (b,), generator=gen).to(dev)
    eps = torch.randn(x0.shape, generator=gen).to(dev)
    shared = (torch.rand(b, generator=gen) < P_SHARED).view(b, 1, 1, 1, 1).to(dev)
    eps_shared = torch.cat([eps[:, :f2 // 2], eps[:, :f2 // 2]], 1)
    eps = torch.where(shared, eps_shared, eps)
    a = alphas[t].view(b, 1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    inp = xt
    if ctx is not None:
        m = ctx.to(dev).view(b, f2, 1, 1, 1).float()
        inp = torch.cat([xt, x0 * m], 2)
    pred = model(hidden_states=inp, encoder_hidden_states=text, timestep=t,
                 image_rotary_emb=rope, return_dict=False)[0]
    if ctx is None:
        loss = torch.nn.functional.mse_loss(pred, v)
    else:
        free = (1 - m).expand_as(v)
        loss = ((pred - v) ** 2 * free).sum() / free.sum()
    if w_dt > 0:
        x0p, f = a.sqrt() * xt - (1 - a).sqrt() * pred, f2 // 2     # predicted x0 [B, 2F, C, h, w]
        d = lambda x: torch.cat([x[:, 1:f] - x[:, :f - 1], x[:, f + 1:] - x[:, f:-1]], 1)  # noqa: E731
        loss = loss + w_dt * (a * (d(x0p) - d(x0)) ** 2).mean()
    return loss


def lr_at(step, steps):
    warm = 40
    if step < warm:
        return (step + 1) / warm
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


def save_all(model, lora, step):
    model.save_pretrained(os.path.join(C.MODEL_DIR, "transformer"), safe_serialization=True)
    R.save_tensors(os.path.join(C.MODEL_DIR, "transpixar_lora.safetensors"),
                   {k: v.detach() for k, v in lora.items()})
    sched = CogVideoXDPMScheduler(**C.SCHED_CFG)
    sched.save_pretrained(os.path.join(C.MODEL_DIR, "scheduler"))
    C.save_json(os.path.join(C.MODEL_DIR, "model_index.json"), {
        "_class_name": "CogVideoXPipeline", "_diffusers_version": "0.32.0",
        "scheduler": ["diffusers", "CogVideoXDPMScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLCogVideoX"]})
    C.log(f"dit: saved model at step {step}")


def train(a):
    ds = encode_clips(a.clips, a.seed, a.long_frac, a.long_min)
    caps = sorted(set(ds["captions"]))
    emb = embed_texts([""] + caps)                     # row 0 = unconditional
    cap_idx = torch.tensor([1 + caps.index(c) for c in ds["captions"]])
    lat = ds["latents"]
    C.log(f"dit: {lat.shape[0]} clips, latents {tuple(lat.shape[1:])}, std {lat.std():.3f}")
    model, lora = build(a.seed, a.init_from)
    rope = R.pipeline_rotary(model, lat.shape[-2], lat.shape[-1], lat.shape[1] // 2)[:2]
    alphas = torch.tensor(CogVideoXDPMScheduler(**C.SCHED_CFG).alphas_cumprod, dtype=torch.float32)
    lora_params = list(lora.values())
    opt = torch.optim.AdamW([{"params": list(model.parameters()), "lr": a.lr},
                             {"params": lora_params, "lr": a.lr * LORA_LR_MULT}], weight_decay=0.0)
    base_lr = [g["lr"] for g in opt.param_groups]
    ema = Ema(model, lora)
    gen = torch.Generator().manual_seed(a.seed)
    ckpt = os.path.join(C.WORK_DIR, "dit_ckpt.pt")
    start, t0, c0, avg = 0, time.time(), time.process_time(), None
    if os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        with torch.no_grad():
            for k, v in st["lora"].items():
                lora[k].copy_(v)
            for k, v in st.get("ema", {}).items():
                ema.avg[k].copy_(v)
        start, gen = st["step"], torch.Generator().manual_seed(a.seed + st["step"])
        C.log(f"dit: resumed at step {start}")
    model.train()
    for step in range(start, a.steps):
        for g, lr in zip(opt.param_groups, base_lr):
            g["lr"] = lr * lr_at(step, a.steps)
        idx = torch.randint(0, lat.shape[0], (a.batch,), generator=gen)
        ci = torch.where(torch.rand(a.batch, generator=gen) < P_UNCOND, 0, cap_idx[idx])
        loss = v_loss(model, rope, lat[idx], emb[ci], alphas, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + lora_params, 1.0)
        opt.step()
        ema.update(step)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 10 == 0:
            C.log(f"dit: step {step} loss {loss.item():.4f} avg {avg:.4f} "
                  f"{(time.time() - t0) / (step - start + 1):.2f} s/step "
                  f"{(time.process_time() - c0) / (step - start + 1):.2f} cpu-s/step")
        last = step + 1 == a.steps or (a.max_minutes and time.time() - t0 > a.max_minutes * 60)
        if (step + 1) % CKPT_EVERY == 0 or last:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                        "lora": {k: v.detach() for k, v in lora.items()},
                        "ema": ema.avg}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
            ema.swap()
            save_all(model.eval(), lora, step + 1)
            ema.swap()
            model.train()
        if last:
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--clips", type=int, default=1024)
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--long-frac", type=float, default=0.0,
                    help="share of training clips that are windows of long shots (data.train_clip)")
    ap.add_argument("--long-min", type=int, default=1,
                    help="a long shot's motion spans at least this many windows' worth of frames")
    ap.add_argument("--init-from", default="",
                    help="fine-tune: start from this model directory's transformer and LoRA")
    a = ap.parse_args()
    C.setup_torch()
    train(a)


if __name__ == "__main__":
    main()
