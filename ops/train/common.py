"""Shared settings of the demo-model training stages: sizes, paths, torch setup, tensor helpers.

The model family is exactly the real one (MODEL.md §1-§5): T5 v1.1 encoder + SentencePiece,
AutoencoderKLCogVideoX, CogVideoXTransformer3DModel in the 5B form (RoPE, head_dim 64) with the
TransPixar extensions from tests/reference/ref_common.py (imported, not copied).
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)

MODEL_DIR = os.environ.get("DEMO_MODEL_DIR", os.path.join(ROOT, "ops", "models", "demo"))
WORK_DIR = os.environ.get("DEMO_WORK_DIR", os.path.join(ROOT, "build", "demo-train"))

FRAMES, HEIGHT, WIDTH = 9, 48, 48          # pixels; latent 3 x 6 x 6, DiT tokens 3 x 3 x 3 per half
LAT_FRAMES = (FRAMES - 1) // 4 + 1
TEXT_LEN = 16                              # tokenizer model_max_length = transformer max_text_seq_length
LORA_RANK = 4                              # TransPixar LoRA: scale = lora_alpha / rank = 1/4
LORA_ALPHA = 1.0
TEXT_ALPHA_BIAS = -1.0                     # text-query -> alpha-key logit bias (released-code parity)

T5_CFG = dict(d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2)
VAE_CFG = dict(
    in_channels=3, out_channels=3, latent_channels=16,
    down_block_types=["CogVideoXDownBlock3D"] * 4, up_block_types=["CogVideoXUpBlock3D"] * 4,
    block_out_channels=[8, 16, 32, 32], layers_per_block=1, norm_num_groups=1, norm_eps=1e-6,
    act_fn="silu", temporal_compression_ratio=4,
    sample_height=2 * HEIGHT, sample_width=2 * WIDTH,  # tiles = sample/2 = the whole frame: tiling is a no-op
    scaling_factor=1.0, use_quant_conv=False, use_post_quant_conv=False,
)
DIT_CFG = dict(
    num_attention_heads=2, attention_head_dim=64, in_channels=16, out_channels=16,
    flip_sin_to_cos=True, freq_shift=0, time_embed_dim=64, text_embed_dim=T5_CFG["d_model"],
    num_layers=3, dropout=0.0, attention_bias=True, patch_size=2, patch_size_t=None,
    temporal_compression_ratio=4, max_text_seq_length=TEXT_LEN, activation_fn="gelu-approximate",
    timestep_activation_fn="silu", norm_elementwise_affine=True, norm_eps=1e-5,
    spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0,
    use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False,
    patch_bias=True, sample_width=90, sample_height=60, sample_frames=49,  # real 5B RoPE base grid
)
SCHED_CFG = dict(  # CogVideoX-5b scheduler (MODEL.md §3.1), trailing spacing as TransPixar sets it
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    clip_sample=False, set_alpha_to_one=True, steps_offset=0, prediction_type="v_prediction",
    clip_sample_range=1.0, sample_max_value=1.0, timestep_spacing="trailing",
    rescale_betas_zero_snr=True, snr_shift_scale=1.0,
)


def setup_torch(threads=None):
    """threads: DEMO_THREADS (default 2). On an oversubscribed machine 1 thread is much faster:
    measured 1.5-2.8 s vs 7-56 s per DiT step at load 14 on 2 cores (OpenMP workers wait on each other)."""
    torch.set_num_threads(threads or int(os.environ.get("DEMO_THREADS", "2")))
    torch.manual_seed(0)
    torch.backends.mkldnn.enabled = True


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def to_video(rgb, alpha):
    """numpy clip -> two VAE inputs [3, F, H, W] in [-1, 1]: RGB, and alpha as a grey video."""
    r = torch.from_numpy(rgb).permute(3, 0, 1, 2) * 2 - 1
    a = torch.from_numpy(alpha)[None].expand(3, -1, -1, -1) * 2 - 1
    return r.contiguous(), a.contiguous()


def log(msg):
    print(msg, flush=True)
