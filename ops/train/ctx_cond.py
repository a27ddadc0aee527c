"""Experiment for issue #8 (not part of the bundled demo model, not in the C engine): give a window the
pinned latents of the window before it *clean*, as extra input channels (the CogVideoX-5B-I2V layout:
in_channels 32 = the noisy latents | the context latents, zeros where a frame is free), on top of
window_cond.py's window condition c = (t0, t1).

Why: `chain` pins by replacement, so the pinned frames the DiT sees are noised to the step's level; at
the high noise levels where a window's coarse motion is decided they carry little of the position the
shot has reached, and the new latent frame lands a random distance from it (BENCHMARKS.md, "pace
noise"). With the context channels the DiT sees the exact latents at every step.

  train: from a window-conditioned model (--init-from, in_channels 16: the patch embedding is widened
         with zero weights, so step 0 is that model) or a context model; each clip gets a context
         mode: none (p 0.3), latent frame 1 only (p 0.2: `aligned` pinning) or latent frames 0 and 1
         (p 0.5: `reenc` pinning), from its own clean latents; the loss is over the free frames.
  probe: window_cond.py's shots; every pinned window also gets its pinned latents as context.
         Variants as chain_probe.py (reenc and aligned are the in-distribution ones).

Run (the reference venv), each step with DEMO_MODEL_DIR = its output directory (a copy of ops/models/demo)
and DEMO_WORK_DIR a scratch directory:
  window_cond.py pack --out wc-pack.pt;  window_cond.py train --data wc-pack.pt --steps 6000   -> wc
  ctx_cond.py train --data wc-pack.pt --init-from wc --steps 6000                              -> cc
  window_cond.py pack --out pack2.pt --edge-frac 0.5 --long-frac 0.7   (a fresh DEMO_WORK_DIR)
  ctx_cond.py train --data pack2.pt --init-from cc --steps 8000       -> cc2 (its step-4000 save: cc2@4k)
  ctx_cond.py train --data pack2.pt --relcond --init-from cc2@4k --steps 5000                  -> ccrel
  ctx_cond.py probe --relcond --variants aligned --geom      (ccrel: 2 of 90 seams over 1.3, BENCHMARKS.md)
probe [--variants "reenc aligned"] [--geom] [--cfg W] [--refine0] [--noctx: a 16-channel model].
"""
import argparse, os, sys
import numpy as np, torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import window_cond as W  # noqa: E402  (puts tests/quality on the path too)
import common as C, train_dit as TD  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

CTX_MODES = ((0.3, ()), (0.2, (1,)), (0.5, (0, 1)))   # (probability, context latent frames)


def build_ctx(seed, init_from, device="cpu"):
    """A DiT with in_channels 32 from init_from (16 input channels: widened, new weights zero)."""
    C.DIT_CFG["in_channels"] = 32
    model, lora = TD.build(seed, None, device)
    src = TD.CogVideoXTransformer3DModel.from_pretrained(os.path.join(init_from, "transformer")).float()
    sd = src.state_dict()
    w = sd["patch_embed.proj.weight"]                     # [D, Cin, p, p]
    if w.shape[1] == 16:
        sd["patch_embed.proj.weight"] = torch.cat([w, torch.zeros_like(w)], 1)
    model.load_state_dict(sd)
    with torch.no_grad():
        for k, v in load_file(os.path.join(init_from, "transpixar_lora.safetensors")).items():
            lora[k].copy_(v.float())
    return model, lora


def ctx_masks(b, f, gen):
    """[b, 2F] bool: the context frames of each clip (both halves), drawn from CTX_MODES."""
    u, m = torch.rand(b, generator=gen), torch.zeros(b, 2 * f, dtype=torch.bool)
    edges = np.cumsum([p for p, _ in CTX_MODES])
    for i in range(b):
        frames = CTX_MODES[int(np.searchsorted(edges, float(u[i]), side="right"))][1]
        for j in frames:
            m[i, j] = m[i, f + j] = True
    return m


def train(a):
    """window_cond.py's training loop with the widened model and the context loss (batch draws seed 3)."""
    def loss_fn(model, rope, x0, text, alphas, gen):
        return TD.v_loss(model, rope, x0, text, alphas, gen, ctx=ctx_masks(x0.shape[0], x0.shape[1] // 2, gen))
    W.train(a, lambda dev: build_ctx(2, a.init_from, dev), loss_fn, seed=3)


class CProbe(W.WProbe):
    """WProbe whose DiT gets 32 input channels: the pinned latents (clean) or zeros."""
    def __init__(self, model_dir, steps, cfg):
        super().__init__(model_dir, steps, cfg)
        self.ctx = None
        def pre(module, args, kw):
            x = kw["hidden_states"]
            c = torch.zeros_like(x) if self.ctx is None else self.ctx.expand_as(x)
            kw["hidden_states"] = torch.cat([x, c], 2)
            return args, kw
        self.p.dit.register_forward_pre_hook(pre, with_kwargs=True)

    def take(self, pin):                  # pin = (known latents, frame mask): the context is its pinned part
        self.ctx = pin[0] * pin[1].view(1, -1, 1, 1, 1).float()
        return pin

    def pin_for(self, *args):
        return self.take(super().pin_for(*args))

    def refine_pin(self, prev, F):
        return self.take(super().refine_pin(prev, F))

    def shot(self, *args, **kw):          # window 0 (and every independent window) has no context
        self.ctx = None
        return super().shot(*args, **kw)


def probe(a):
    pr = (W.WProbe if a.noctx else CProbe)(C.MODEL_DIR, a.steps_sample, a.cfg)   # --noctx: a 16-channel model
    pr.refine0, pr.relcond = a.refine0, a.relcond
    W.run_probe(pr, a)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("mode", choices=["train", "probe"])
    ap.add_argument("--steps", type=int, default=6000); ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--init-from", default="/tmp/wc"); ap.add_argument("--data", default="")
    ap.add_argument("--clips", type=int, default=2048); ap.add_argument("--long-frac", type=float, default=0.6)
    ap.add_argument("--lmin", type=int, default=9); ap.add_argument("--lmax", type=int, default=45)
    ap.add_argument("--device", default="cpu"); ap.add_argument("--edge-frac", type=float, default=0.0)
    ap.add_argument("--variants", default="reenc aligned chain independent"); ap.add_argument("--seeds", default="1 2 3 4 5")
    ap.add_argument("--cfg", type=float, default=3.0); ap.add_argument("--steps-sample", type=int, default=25)
    ap.add_argument("--geom", action="store_true"); ap.add_argument("--noctx", action="store_true")
    ap.add_argument("--relcond", action="store_true", help="train: c = (0, t1 - t0); probe: every window told only the pace, c = (0, 8/32)")
    ap.add_argument("--refine0", action="store_true", help="window 0 twice, the second time with its latent frame 1 pinned")
    a = ap.parse_args(); C.setup_torch()
    if a.mode == "train":
        train(a)
    else:
        probe(a)
