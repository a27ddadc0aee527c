"""Render the quality prompts with the Python reference pipeline into RGBA PNG frames.

Loads a diffusers model directory (default ops/models/demo) + its transpixar_lora.safetensors,
installs tests/reference/ref_common.py's TransPixar model (imported, not copied), and samples
like TransPixar's pipeline_rgba.py: noise [1, F, 16, h, w] from a CPU generator, repeated on the
frame axis so the alpha half starts as a copy of the RGB noise; CogVideoXDPMScheduler (trailing
spacing), batch [uncond "", cond], v = v_u + w (v_c - v_u); then RGB and alpha latents decoded
separately by the VAE (x * 0.5 + 0.5, clamp), alpha = max over the grey video's channels.

Output per prompt: OUT/<nn>_<slug>/prompt.txt and frame_000.png ... RGBA, RGB = the decoded RGB
video as it is (the effect over black, i.e. colour x coverage), A = the decoded alpha.

Run: python tests/quality/sample_ref.py OUT [--model DIR] [--steps 25] [--cfg 3] [--seed 0]
     [--ground-truth | --vae-roundtrip]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "ops", "train"))
import common as C  # noqa: E402  (also puts tests/reference on the path)
import data  # noqa: E402
import ref_common as R  # noqa: E402
from diffusers import (AutoencoderKLCogVideoX, CogVideoXDPMScheduler,  # noqa: E402
                       CogVideoXTransformer3DModel)
from safetensors.torch import load_file  # noqa: E402
from transformers import T5EncoderModel, T5Tokenizer  # noqa: E402


class RefPipe:
    def __init__(self, model_dir):
        j = lambda *p: os.path.join(model_dir, *p)  # noqa: E731
        self.tok = T5Tokenizer.from_pretrained(j("tokenizer"))
        self.t5 = T5EncoderModel.from_pretrained(j("text_encoder")).float().eval()
        self.dit = CogVideoXTransformer3DModel.from_pretrained(j("transformer")).float().eval()
        lora = load_file(j("transpixar_lora.safetensors"))
        self.hook = R.apply_transpixar(self.dit, {k: v.float() for k, v in lora.items()},
                                       C.LORA_ALPHA, C.TEXT_ALPHA_BIAS)
        self.vae = AutoencoderKLCogVideoX.from_pretrained(j("vae")).float().eval()
        self.sched_cfg = CogVideoXDPMScheduler.load_config(j("scheduler"))
        self.max_len = self.tok.model_max_length

    def embed(self, prompts):
        ids = self.tok(prompts, padding="max_length", max_length=self.max_len, truncation=True,
                       add_special_tokens=True, return_tensors="pt").input_ids
        return self.t5(input_ids=ids).last_hidden_state.float()

    def decode(self, lat):
        """[1, F, 16, h, w] -> [T, H, W, 3] in [0, 1]."""
        z = lat.permute(0, 2, 1, 3, 4) / self.vae.config.scaling_factor
        x = self.vae.decode(z).sample[0]                       # [3, T, H, W]
        return (x * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 3, 0)

    @torch.no_grad()
    def roundtrip(self, rgb, alpha):
        """Generator clip -> VAE encode (posterior mode) -> decode, as the pipeline decodes."""
        x = torch.stack(C.to_video(rgb, alpha))                    # [2, 3, T, H, W]
        z = self.vae.encode(x).latent_dist.mode() * self.vae.config.scaling_factor
        lat = z.permute(0, 2, 1, 3, 4)                             # [2, F, 16, h, w]
        return self.decode(lat[:1]).numpy(), self.decode(lat[1:]).max(dim=-1).values.numpy()

    @torch.no_grad()
    def __call__(self, prompt, seed, steps, cfg, frames=C.FRAMES, height=C.HEIGHT, width=C.WIDTH):
        sched = CogVideoXDPMScheduler.from_config(self.sched_cfg, timestep_spacing="trailing")
        sched.set_timesteps(steps)
        text = self.embed(["", prompt])                          # [2, L, dt]
        f, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
        gen = torch.Generator().manual_seed(seed)
        lat = torch.randn((1, f, 16, h, w), generator=gen).repeat(1, 2, 1, 1, 1)  # alpha = RGB noise
        rope = R.pipeline_rotary(self.dit, h, w, f)[:2]
        old = None
        for i, t in enumerate(sched.timesteps):
            v = self.dit(hidden_states=torch.cat([lat, lat]), encoder_hidden_states=text,
                         timestep=t.expand(2), image_rotary_emb=rope, return_dict=False)[0]
            v = v[:1] + cfg * (v[1:] - v[:1])
            lat, old = sched.step(v, old, t, sched.timesteps[i - 1] if i > 0 else None, lat,
                                  generator=gen, return_dict=False)
        rgb_lat, alpha_lat = lat.chunk(2, dim=1)
        rgb = self.decode(rgb_lat)
        alpha = self.decode(alpha_lat).max(dim=-1).values
        return rgb.numpy(), alpha.numpy()


def write_frames(d, prompt, rgb, alpha):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "prompt.txt"), "w") as fp:
        fp.write(prompt + "\n")
    for i in range(rgb.shape[0]):  # 8-bit export truncates like TransPixar's export_to_video
        px = np.concatenate([rgb[i], alpha[i][..., None]], -1)
        Image.fromarray((px * 255).astype(np.uint8), "RGBA").save(os.path.join(d, "frame_%03d.png" % i))


def prompt_dirs(prompts):
    return ["%02d_%s" % (i, p.replace(" ", "_")) for i, p in enumerate(prompts)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", default=C.MODEL_DIR)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=3.0)  # chosen on seeds 100-131, QUALITY.md
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ground-truth", action="store_true", help="write the generator's own clips")
    ap.add_argument("--vae-roundtrip", action="store_true",
                    help="write the generator's clips after the model's VAE (encode mode, decode): "
                         "the ceiling a DiT can reach with this VAE")
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    a = ap.parse_args()
    C.setup_torch()
    prompts = [data.caption(*h) for h in data.HELDOUT]
    pipe = None if a.ground_truth else RefPipe(a.model)
    t0 = time.time()
    jobs = list(zip(prompt_dirs(prompts), prompts, data.HELDOUT))
    for i, (d, p, combo) in enumerate(jobs[:a.limit] if a.limit else jobs):
        if a.ground_truth or a.vae_roundtrip:
            rgb, alpha, _ = data.render(*combo, seed=a.seed + i, F=C.FRAMES, H=C.HEIGHT, W=C.WIDTH)
            if a.vae_roundtrip:
                rgb, alpha = pipe.roundtrip(rgb, alpha)
        else:
            rgb, alpha = pipe(p, a.seed + i, a.steps, a.cfg)
        write_frames(os.path.join(a.out, d), p, rgb, alpha)
    C.log(f"sample_ref: {len(prompts)} prompts in {time.time() - t0:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
