"""Golden forward cases for the CogVideoX DiT (2B sin-cos form, 5B RoPE form, 5B + TransPixar).

Writes tests/golden/dit/<model>/transformer/ (save_pretrained, fp32) for the two tiny models and,
per case, inputs.safetensors, outputs.safetensors, debug.safetensors and case.json.
Run with the reference env:  $FARM_REFENV/bin/python tests/reference/gen_dit.py
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_common as rc  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "dit")
LORA_RANK = 8
LORA_ALPHA = 1.0
# The 5B form is written in two shards + index, as the real CogVideoX-5b transformer is; the 2B
# form as one file, as the real CogVideoX-2b transformer is.
MODELS = {"2b_sincos": dict(rope=False, seed=1001, shard=None),
          "5b_rope": dict(rope=True, seed=1002, shard="4MB")}

# name, model dir, batch, latent frames (RGB frames for TransPixar), latent H, W, text length
CASES = [
    dict(name="2b_sincos", model="2b_sincos", B=2, F=2, H=6, W=10, L=226, rgba=False, seed=11),
    dict(name="2b_sincos_f13", debug=True, model="2b_sincos", B=1, F=13, H=4, W=6, L=226, rgba=False, seed=12),
    dict(name="5b_rope", debug=True, model="5b_rope", B=1, F=13, H=4, W=6, L=1, rgba=False, seed=13),
    dict(name="5b_rope_b2", model="5b_rope", B=2, F=1, H=6, W=10, L=226, rgba=False, seed=14),
    dict(name="5b_transpixar", debug=True, model="5b_rope", B=2, F=2, H=6, W=10, L=226, rgba=True, seed=15),
    dict(name="5b_transpixar_f13", model="5b_rope", B=1, F=13, H=4, W=6, L=1, rgba=True, seed=16),
    dict(name="5b_transpixar_f1", model="5b_rope", B=1, F=1, H=4, W=4, L=226, rgba=True, seed=17),
    # the same LoRA stored in bf16, as the released file is; the reference runs it upcast to fp32
    dict(name="5b_transpixar_bf16lora", model="5b_rope", B=1, F=2, H=4, W=6, L=226, rgba=True, seed=18,
         lora_bf16=True),
]
LORA_CASE = "5b_transpixar"  # the case directory that holds lora.safetensors


def make_inputs(case, model):
    gen = torch.Generator().manual_seed(case["seed"])
    frames = case["F"] * (2 if case["rgba"] else 1)
    c = model.config
    hs = torch.randn(case["B"], frames, c.in_channels, case["H"], case["W"], generator=gen)
    if case["rgba"]:  # realistic: alpha half starts near the RGB half, but not equal
        hs[:, case["F"]:] = hs[:, :case["F"]] + 0.5 * torch.randn(hs[:, case["F"]:].shape, generator=gen)
    enc = torch.randn(case["B"], case["L"], c.text_embed_dim, generator=gen)
    t = torch.randint(0, 1000, (case["B"],), generator=gen, dtype=torch.int64)
    return {"hidden_states": hs, "encoder_hidden_states": enc, "timestep": t}


def attach_debug(model, store, text_len):
    """Record temb, the video part of the patch-embed output (after positions / domain embedding)
    and every block's video-token output, from the first call only. Text parts are left out to
    keep the goldens small."""
    def rec_temb(m, a, o):  # hooks must return None, or they replace the module output
        store.setdefault("temb", o.detach().clone())

    def rec_embeds(m, a, o):
        store.setdefault("embeds_video", o[:, text_len:].detach().clone())
    hooks = [model.time_embedding.register_forward_hook(rec_temb),
             model.patch_embed.register_forward_hook(rec_embeds)]
    for i, blk in enumerate(model.transformer_blocks):
        def rec(m, a, o, i=i):
            store.setdefault(f"block{i}_hidden", o[0].detach().clone())
        hooks.append(blk.register_forward_hook(rec))
    return hooks


def forward(model, inp, rotary):
    with torch.no_grad():
        return model(hidden_states=inp["hidden_states"], encoder_hidden_states=inp["encoder_hidden_states"],
                     timestep=inp["timestep"], image_rotary_emb=rotary, return_dict=False)[0]


def pos_embed_path(model, case):
    c = model.config
    pre_frames = (case["F"] - 1) * c.temporal_compression_ratio + 1
    same = (c.sample_height, c.sample_width, c.sample_frames) == (case["H"], case["W"], pre_frames)
    return "init_buffer" if same else "recomputed"


def run_case(case, models, lora):
    model = models[case["model"]]
    out_dir = rc.ensure_dir(os.path.join(GOLDEN, case["name"]))
    inp = make_inputs(case, model)
    meta = {"model": os.path.relpath(os.path.join(GOLDEN, case["model"]), out_dir),
            "batch": case["B"], "latent_frames": inp["hidden_states"].shape[1],
            "latent_hw": [case["H"], case["W"]], "text_len": case["L"],
            "tolerance": {"rel_to_max_abs": 1e-4, "tp_vs_tp1_rel": 1e-5}}
    rotary = None
    if model.config.use_rotary_positional_embeddings:
        cos, sin, crops = rc.pipeline_rotary(model, case["H"], case["W"], case["F"])
        rotary = (cos, sin)
        rc.save_tensors(os.path.join(out_dir, "rotary.safetensors"), {"cos": cos, "sin": sin})
        meta["rotary"] = {"frames": case["F"], "grid_hw": [case["H"] // 2, case["W"] // 2],
                          "base_hw": [model.config.sample_height // 2, model.config.sample_width // 2],
                          "crops": [list(crops[0]), list(crops[1])], "file": "rotary.safetensors"}
    else:
        meta["pos_embed_path"] = pos_embed_path(model, case)
    hook = None
    if case["rgba"]:
        lora_path = os.path.join(GOLDEN, LORA_CASE, "lora.safetensors")
        if case.get("lora_bf16"):
            lora = {k: v.to(torch.bfloat16) for k, v in lora.items()}
            lora_path = os.path.join(out_dir, "lora.safetensors")
            rc.save_tensors(lora_path, lora)
            lora = {k: v.float() for k, v in lora.items()}
        hook = rc.apply_transpixar(model, lora, LORA_ALPHA, -1.0)
        meta.update(lora=os.path.relpath(lora_path, out_dir), lora_dtype=str(
                        torch.bfloat16 if case.get("lora_bf16") else torch.float32).replace("torch.", ""),
                    lora_rank=LORA_RANK, lora_alpha=LORA_ALPHA, text_alpha_bias=-1.0,
                    extra_outputs={"sample_nomask": 0.0, "sample_hardmask": "-inf"})
    else:
        meta.update(lora=None, text_alpha_bias=None)
    debug = {}
    hooks = attach_debug(model, debug, case["L"])
    outs = {"sample": forward(model, inp, rotary)}
    for h in hooks:
        h.remove()
    if case["rgba"]:
        for key, bias in (("sample_nomask", 0.0), ("sample_hardmask", -math.inf)):
            rc.set_text_alpha_bias(model, bias)
            outs[key] = forward(model, inp, rotary)
        hook.remove()
        from diffusers.models.attention_processor import CogVideoXAttnProcessor2_0
        model.set_attn_processor(CogVideoXAttnProcessor2_0())
    meta["max_abs_sample"] = float(outs["sample"].abs().max())
    rc.save_tensors(os.path.join(out_dir, "inputs.safetensors"), inp)
    rc.save_tensors(os.path.join(out_dir, "outputs.safetensors"), outs)
    if case.get("debug"):  # intermediates only for one case per form, to keep the goldens small
        rc.save_tensors(os.path.join(out_dir, "debug.safetensors"), debug)
        meta["debug"] = "debug.safetensors"
    rc.save_json(os.path.join(out_dir, "case.json"), meta)
    print(f"{case['name']}: sample {tuple(outs['sample'].shape)} max|x| {meta['max_abs_sample']:.4f}")


def main():
    rc.setup_torch()
    models = {}
    for name, spec in MODELS.items():
        models[name] = rc.build_model(spec["rope"], spec["seed"])
        kw = {"max_shard_size": spec["shard"]} if spec["shard"] else {}
        models[name].save_pretrained(os.path.join(GOLDEN, name, "transformer"), safe_serialization=True, **kw)
    lora = rc.random_lora(models["5b_rope"], LORA_RANK, seed=2001)
    rc.ensure_dir(os.path.join(GOLDEN, LORA_CASE))
    rc.save_tensors(os.path.join(GOLDEN, LORA_CASE, "lora.safetensors"), lora)
    for case in CASES:
        run_case(case, models, lora)


if __name__ == "__main__":
    main()
