"""Cross-check our TransPixar reference (ref_common.py) against the released TransPixar code.

Not part of the golden generation and not needed by CI. Loads the released
`CogVideoX/rgba_utils.py` from a path you give (a checkout of wileewang/TransPixar; nothing
of it is stored in this repository), installs it on the tiny 5B golden model with our golden
LoRA file, runs the golden 5b_transpixar inputs and compares with the committed outputs.
It also proves the LoRA file loads with the released loader (key names and shapes).

    $FARM_REFENV/bin/python tests/reference/check_release.py /path/to/TransPixar/CogVideoX/rgba_utils.py
"""
import functools
import importlib.util
import json
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_common as rc  # noqa: E402
from diffusers import CogVideoXTransformer3DModel  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "dit")


def load_release(path):
    spec = importlib.util.spec_from_file_location("released_rgba_utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_case(rel, name):
    """Fresh tiny model + released processors, one golden case; returns max rel error."""
    case_dir = os.path.join(GOLDEN, name)
    inp = load_file(os.path.join(case_dir, "inputs.safetensors"))
    gold = load_file(os.path.join(case_dir, "outputs.safetensors"))["sample"]
    rot = load_file(os.path.join(case_dir, "rotary.safetensors"))
    model = CogVideoXTransformer3DModel.from_pretrained(
        os.path.join(GOLDEN, "5b_rope", "transformer")).float().eval()
    hs = inp["hidden_states"]
    n_video = hs.shape[1] * (hs.shape[3] // 2) * (hs.shape[4] // 2)  # RGB + alpha tokens
    with open(os.path.join(case_dir, "case.json")) as f:
        lora_file = os.path.join(case_dir, json.load(f)["lora"])
    rank = load_file(lora_file)["transformer.transformer_blocks.0.attn1.to_q.lora_A.weight"].shape[0]
    # The released processor hard-codes latent_dim=3072 (the 5B width) and prepare_for_rgba_inference
    # does not pass it through; bind the tiny model's width instead.
    width = model.config.num_attention_heads * model.config.attention_head_dim
    orig = rel.RGBALoRACogVideoXAttnProcessor
    rel.RGBALoRACogVideoXAttnProcessor = functools.partial(orig, latent_dim=width)
    try:
        rel.prepare_for_rgba_inference(model, lora_file, device="cpu", dtype=torch.float32,
                                       lora_rank=rank, lora_alpha=1.0,
                                       text_length=inp["encoder_hidden_states"].shape[1],
                                       seq_length=n_video)
    finally:
        rel.RGBALoRACogVideoXAttnProcessor = orig
    with torch.no_grad():
        out = model(hidden_states=hs, encoder_hidden_states=inp["encoder_hidden_states"],
                    timestep=inp["timestep"], image_rotary_emb=(rot["cos"], rot["sin"]),
                    return_dict=False)[0]
    return float((out - gold).abs().max() / gold.abs().max())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_release.py PATH/TO/rgba_utils.py")
    rc.setup_torch()
    rel = load_release(sys.argv[1])
    bad = 0
    for name in ("5b_transpixar", "5b_transpixar_f13", "5b_transpixar_f1", "5b_transpixar_bf16lora"):
        err = check_case(rel, name)
        print(f"released rgba_utils vs golden {name}: max rel err {err:.3e}")
        bad += err > 1e-5
    if bad:
        sys.exit("MISMATCH")
    print("OK")


if __name__ == "__main__":
    main()
