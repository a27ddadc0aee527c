"""Golden 10-step sampler trajectories (CogVideoX DDIM / DPM, CFG and dynamic CFG) with the tiny
5B + TransPixar model as the denoiser. The loop follows pipeline_cogvideox / pipeline_rgba:
batch [uncond, cond], v = v_u + w (v_c - v_u) in fp32, DPM carries the previous x0.

The DPM scheduler's noise is captured: the scheduler module's randn_tensor is replaced by a
function that hands out pre-drawn tensors and records which draw the step used. Every step is
also recomputed with our own implementation of MODEL.md 3.1-3.4 and compared.
Run with the reference env:  $FARM_REFENV/bin/python tests/reference/gen_sampler.py
"""
import math
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_common as rc  # noqa: E402
import diffusers.schedulers.scheduling_dpm_cogvideox as dpm_mod  # noqa: E402
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler, CogVideoXTransformer3DModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
DIT = os.path.join(GOLDEN, "dit")
STEPS, GUIDANCE = 10, 6.0
RGB_FRAMES, LAT_H, LAT_W, TEXT_LEN = 2, 4, 6, 226
CASES = [  # name, scheduler, snr_shift_scale, dynamic cfg, seed
    dict(name="ddim_cfg", sched="ddim", snr=1.0, dyn=False, seed=31),
    dict(name="ddim_dyncfg", sched="ddim", snr=1.0, dyn=True, seed=32),
    dict(name="ddim_cfg_snr3", sched="ddim", snr=3.0, dyn=False, seed=33),
    dict(name="dpm_cfg", sched="dpm", snr=1.0, dyn=False, seed=34),
    dict(name="dpm_dyncfg", sched="dpm", snr=1.0, dyn=True, seed=35),
    dict(name="dpm_dyncfg_snr3", sched="dpm", snr=3.0, dyn=True, seed=36),
]


def scheduler_for(case):
    """The CogVideoX-5b scheduler config, trailing spacing as TransPixar's cli sets it."""
    cls = CogVideoXDPMScheduler if case["sched"] == "dpm" else CogVideoXDDIMScheduler
    return cls(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
               clip_sample=False, set_alpha_to_one=True, steps_offset=0, prediction_type="v_prediction",
               timestep_spacing="trailing", rescale_betas_zero_snr=True, snr_shift_scale=case["snr"])


class NoiseTap:
    """Stands in for randn_tensor inside the DPM scheduler: pre-drawn noise, draws recorded."""

    def __init__(self, shape, seed):
        gen = torch.Generator().manual_seed(seed)
        self.bank = [[torch.randn(shape, generator=gen) for _ in range(2)] for _ in range(STEPS)]
        self.step = 0
        self.draws = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        t = self.bank[self.step][len(self.draws)]
        assert tuple(shape) == tuple(t.shape)
        self.draws.append(t)
        return t.clone().to(dtype)


def own_schedule(snr):
    """MODEL.md 3.1 written out: fp64 betas, SNR shift, zero-terminal-SNR rescale."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    ac = ac / (snr + (1 - snr) * ac)
    r = ac.sqrt()
    r0, rT = r[0].item(), r[-1].item()
    return ((r - rT) * r0 / (r0 - rT)) ** 2


def own_step(kind, ac, v, x, t, t_back, old_x0, noise):
    """MODEL.md 3.2 / 3.3 with coefficients in double rounded to float, as torch does it."""
    prev = t - 1000 // STEPS
    a_t = ac[t].item()
    a_p = ac[prev].item() if prev >= 0 else 1.0
    f = lambda c: torch.tensor(c, dtype=torch.float32)  # noqa: E731
    x0 = f(math.sqrt(a_t)) * x - f(math.sqrt(1 - a_t)) * v
    if kind == "ddim":
        at = math.sqrt((1 - a_p) / (1 - a_t))
        return f(at) * x + f(math.sqrt(a_p) - math.sqrt(a_t) * at) * x0, x0
    lam = lambda a: math.log(math.sqrt(a / (1 - a))) if 0 < a < 1 else (-math.inf if a == 0 else math.inf)  # noqa
    h = lam(a_p) - lam(a_t)
    m1 = math.sqrt((1 - a_p) / (1 - a_t)) * math.exp(-h)
    m2 = math.expm1(-2 * h) * math.sqrt(a_p)
    sn = math.sqrt(1 - a_p) * math.sqrt(1 - math.exp(-2 * h))
    d = x0
    if old_x0 is not None and prev >= 0:
        r = (lam(a_t) - lam(ac[t_back].item())) / h
        d = f(1 + 1 / (2 * r)) * x0 - f(1 / (2 * r)) * old_x0
    return f(m1) * x - f(m2) * d + f(sn) * noise, x0


def dynamic_w(t):
    """The diffusers form with the timestep VALUE (MODEL.md 3.4), in double."""
    return 1 + GUIDANCE * ((1 - math.cos(math.pi * ((STEPS - t) / STEPS) ** 5.0)) / 2)


def make_inputs(seed, text_dim):
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.randn(1, RGB_FRAMES, 16, LAT_H, LAT_W, generator=gen)
    return {"latents": rgb.repeat(1, 2, 1, 1, 1),  # alpha half = copy of the RGB noise
            "prompt_embeds": torch.randn(1, TEXT_LEN, text_dim, generator=gen),
            "negative_prompt_embeds": torch.randn(1, TEXT_LEN, text_dim, generator=gen)}


def run_case(case, model, rotary):
    sched = scheduler_for(case)
    sched.set_timesteps(STEPS)
    inp = make_inputs(case["seed"], model.config.text_embed_dim)
    tap = NoiseTap(inp["latents"].shape, case["seed"] + 100)
    dpm_mod.randn_tensor = tap
    prompt = torch.cat([inp["negative_prompt_embeds"], inp["prompt_embeds"]], 0)
    ac = own_schedule(case["snr"])
    assert torch.allclose(ac, sched.alphas_cumprod, rtol=0, atol=1e-15)
    latents, old_x0, own_old = inp["latents"].clone(), None, None
    traj, noises, guided, ws, worst = [], [], [], [], 0.0
    for i, t in enumerate(sched.timesteps):
        with torch.no_grad():
            v = model(hidden_states=torch.cat([latents] * 2), encoder_hidden_states=prompt,
                      timestep=t.expand(2), image_rotary_emb=rotary, return_dict=False)[0].float()
        w = dynamic_w(t.item()) if case["dyn"] else GUIDANCE
        v_u, v_c = v.chunk(2)
        v = v_u + w * (v_c - v_u)
        tap.step, tap.draws = i, []
        x_in = latents
        if case["sched"] == "dpm":
            t_back = sched.timesteps[i - 1] if i > 0 else None
            latents, old_x0 = sched.step(v, old_x0, t, t_back, latents, return_dict=False)
        else:
            latents = sched.step(v, t, latents, return_dict=False)[0]
        if case["sched"] == "dpm":  # 1st-order steps (first, last) draw once, 2nd-order steps twice
            second_order = i > 0 and int(t) - 1000 // STEPS >= 0
            assert len(tap.draws) == (2 if second_order else 1), (i, len(tap.draws))
        used = tap.draws[-1] if tap.draws else torch.zeros_like(latents)
        if case["sched"] == "dpm" and int(t) - 1000 // STEPS < 0:
            used = torch.zeros_like(latents)  # last step: noise coefficient is exactly 0
        mine, own_old = own_step(case["sched"], ac, v, x_in, int(t),
                                 int(sched.timesteps[i - 1]) if i > 0 else None, own_old, used)
        worst = max(worst, float((mine - latents).abs().max()))
        latents = latents.to(torch.float32)
        traj.append(latents.clone())
        noises.append(used.clone())
        guided.append(v.clone())
        ws.append(w)
    dpm_mod.randn_tensor = None
    return inp, traj, noises, guided, ws, worst, sched


def write_case(case, inp, traj, noises, guided, ws, worst, sched):
    out_dir = rc.ensure_dir(os.path.join(GOLDEN, "sampler", case["name"]))
    sched.save_pretrained(os.path.join(out_dir, "scheduler"))
    inp = dict(inp, step_noise=torch.stack(noises))
    rc.save_tensors(os.path.join(out_dir, "inputs.safetensors"), inp)
    rc.save_tensors(os.path.join(out_dir, "outputs.safetensors"), {
        "latents": traj[-1], "trajectory": torch.stack(traj), "guided_v": torch.stack(guided),
        "alphas_cumprod": sched.alphas_cumprod.to(torch.float64)})
    rc.save_json(os.path.join(out_dir, "case.json"), {
        "scheduler": case["sched"], "steps": STEPS, "guidance": GUIDANCE, "use_dynamic_cfg": case["dyn"],
        "guidance_per_step": ws, "snr_shift_scale": case["snr"],
        "timesteps": [int(t) for t in sched.timesteps],
        "model": os.path.relpath(os.path.join(DIT, "5b_rope"), out_dir),
        "lora": os.path.relpath(os.path.join(DIT, "5b_transpixar", "lora.safetensors"), out_dir),
        "lora_alpha": 1.0, "text_alpha_bias": -1.0, "rotary_frames": RGB_FRAMES,
        "latent_hw": [LAT_H, LAT_W], "text_len": TEXT_LEN,
        "tolerance": {"rel_to_max_abs": 1e-3},
        "own_step_max_abs_diff": worst})
    print(f"{case['name']}: final max|x| {float(traj[-1].abs().max()):.4f}, own-step diff {worst:.2e}, "
          f"w {[round(w, 4) for w in ws]}")


def main():
    rc.setup_torch()
    model = CogVideoXTransformer3DModel.from_pretrained(os.path.join(DIT, "5b_rope", "transformer")).float().eval()
    lora = load_file(os.path.join(DIT, "5b_transpixar", "lora.safetensors"))
    rc.apply_transpixar(model, lora, 1.0, -1.0)
    cos, sin, _ = rc.pipeline_rotary(model, LAT_H, LAT_W, RGB_FRAMES)
    saved = dpm_mod.randn_tensor
    try:
        for case in CASES:
            write_case(case, *run_case(case, model, (cos, sin)))
    finally:
        dpm_mod.randn_tensor = saved


if __name__ == "__main__":
    main()
