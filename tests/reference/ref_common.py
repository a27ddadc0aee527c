"""Shared pieces of the golden generators: tiny CogVideoX configs, weight re-initialisation,
the pipeline's rotary table, and our own TransPixar extension on top of diffusers 0.32.

The TransPixar part is written from MODEL.md section 2 (and checked against the released
reference), not copied: an attention processor that adds LoRA deltas at alpha rows, shares
the RoPE table between the RGB and alpha halves and biases text-query -> alpha-key logits,
plus a forward hook on the patch embedding that adds the domain embedding to alpha tokens.
"""
import json
import math
import os
import types

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from diffusers import CogVideoXTransformer3DModel
from diffusers.models.embeddings import apply_rotary_emb, get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import (
    CogVideoXPipeline,
    get_resize_crop_region_for_grid,
)

VAE_SCALE_SPATIAL = 8  # CogVideoX VAE: latent pixel = 8 image pixels
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def setup_torch():
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.enabled = True


def tiny_config(rope):
    """Tiny CogVideoX config: head_dim 64 x 4 heads (D=256), 2 layers, real channel counts."""
    cfg = dict(
        num_attention_heads=4, attention_head_dim=64, in_channels=16, out_channels=16,
        flip_sin_to_cos=True, freq_shift=0, time_embed_dim=32, text_embed_dim=32,
        num_layers=2, dropout=0.0, attention_bias=True, patch_size=2, patch_size_t=None,
        temporal_compression_ratio=4, max_text_seq_length=226, activation_fn="gelu-approximate",
        timestep_activation_fn="silu", norm_elementwise_affine=True, norm_eps=1e-5,
        spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0,
        use_rotary_positional_embeddings=rope, use_learned_positional_embeddings=False,
        patch_bias=True,
    )
    if rope:  # the real 5B values: RoPE base grid = sample // patch = 30 x 45
        cfg.update(sample_width=90, sample_height=60, sample_frames=49)
    else:     # 2B form: sample size = the main case's latent size, so the init-time table is used
        cfg.update(sample_width=10, sample_height=6, sample_frames=5)
    return cfg


def reinit_(model, gen):
    """Re-initialise every parameter with realistic, non-trivial magnitudes."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:  # LayerNorm weights: near 1 but not identity
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.1)
            else:               # Linear [out, in] / Conv [out, in, kh, kw]
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def build_model(rope, seed):
    model = CogVideoXTransformer3DModel(**tiny_config(rope)).float().eval()
    reinit_(model, torch.Generator().manual_seed(seed))
    return model


def pipeline_rotary(model, lat_h, lat_w, frames):
    """image_rotary_emb exactly as diffusers 0.32 CogVideoXPipeline computes it.

    Calls the pipeline's own method on a stand-in `self` (it only reads these two fields).
    Returns (cos, sin) [frames*(lat_h/2)*(lat_w/2), head_dim] fp32 and the crop region."""
    fake = types.SimpleNamespace(vae_scale_factor_spatial=VAE_SCALE_SPATIAL,
                                 transformer=types.SimpleNamespace(config=model.config))
    h_px, w_px = lat_h * VAE_SCALE_SPATIAL, lat_w * VAE_SCALE_SPATIAL
    cos, sin = CogVideoXPipeline._prepare_rotary_positional_embeddings(
        fake, h_px, w_px, frames, torch.device("cpu"))
    p = model.config.patch_size
    crops = get_resize_crop_region_for_grid(
        (lat_h // p, lat_w // p), model.config.sample_width // p, model.config.sample_height // p)
    # TransPixar's pipeline hard-codes the 480x720 base (30 x 45 after patching); with the real
    # sample size in the config both give the same table. Check it, do not assume it.
    tp_crops = get_resize_crop_region_for_grid((lat_h // p, lat_w // p), 720 // 16, 480 // 16)
    tp_cos, tp_sin = get_3d_rotary_pos_embed(
        embed_dim=model.config.attention_head_dim, crops_coords=tp_crops,
        grid_size=(lat_h // p, lat_w // p), temporal_size=frames)
    assert torch.equal(tp_cos, cos) and torch.equal(tp_sin, sin)
    return cos, sin, crops


class RGBAAttnProcessor:
    """Joint attention with the TransPixar RGBA rules (MODEL.md 2.2, 2.4, 2.5).

    Sequence: [text(L) | RGB(N) | alpha(N)]. lora: {target: (A [r, D], B [D, r])}."""

    def __init__(self, lora, scale, text_alpha_bias):
        self.lora = lora
        self.scale = scale
        self.bias = text_alpha_bias  # 0.0 none, -1.0 released-code parity, -inf hard mask

    def _proj(self, linear, target, x, n_alpha):
        y = linear(x)
        a, b = self.lora[target]
        xa = x[:, -n_alpha:, :]
        y[:, -n_alpha:, :] = y[:, -n_alpha:, :] + (xa @ a.t() @ b.t()) * self.scale
        return y

    def _mask(self, text_len, seq_len, n_alpha, dtype):
        if self.bias == 0.0:
            return None
        mask = torch.zeros(seq_len, seq_len, dtype=dtype)
        mask[:text_len, seq_len - n_alpha:] = self.bias
        return mask

    def __call__(self, attn, hidden_states, encoder_hidden_states,
                 attention_mask=None, image_rotary_emb=None):
        text_len = encoder_hidden_states.size(1)
        n_alpha = hidden_states.size(1) // 2
        s = torch.cat([encoder_hidden_states, hidden_states], dim=1)  # [B, S, D]
        bsz, seq_len, _ = s.shape
        q = self._proj(attn.to_q, "to_q", s, n_alpha)
        k = self._proj(attn.to_k, "to_k", s, n_alpha)
        v = self._proj(attn.to_v, "to_v", s, n_alpha)
        hd = q.shape[-1] // attn.heads
        q, k, v = (t.view(bsz, seq_len, attn.heads, hd).transpose(1, 2) for t in (q, k, v))
        q, k = attn.norm_q(q), attn.norm_k(k)
        if image_rotary_emb is not None:  # one table for N tokens, used for RGB and for alpha
            cos, sin = image_rotary_emb
            both = (torch.cat([cos, cos], 0), torch.cat([sin, sin], 0))
            q[:, :, text_len:] = apply_rotary_emb(q[:, :, text_len:], both)
            k[:, :, text_len:] = apply_rotary_emb(k[:, :, text_len:], both)
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=self._mask(text_len, seq_len, n_alpha, q.dtype))
        o = o.transpose(1, 2).reshape(bsz, seq_len, attn.heads * hd)
        out = self._proj(attn.to_out[0], "to_out.0", o, n_alpha)
        out = attn.to_out[1](out)
        return out[:, text_len:], out[:, :text_len]


def random_lora(model, rank, seed):
    """Random LoRA pairs and domain embedding, keyed as in the released TransPixar file."""
    gen = torch.Generator().manual_seed(seed)
    d = model.config.num_attention_heads * model.config.attention_head_dim
    tensors = {}
    for i in range(model.config.num_layers):
        for t in LORA_TARGETS:
            pre = f"transformer.transformer_blocks.{i}.attn1.{t}"
            tensors[f"{pre}.lora_A.weight"] = torch.randn(rank, d, generator=gen) / math.sqrt(d)
            tensors[f"{pre}.lora_B.weight"] = torch.randn(d, rank, generator=gen) / math.sqrt(rank)
    tensors["domain_emb"] = torch.randn(1, 1, d, generator=gen) * 0.5
    return tensors


def apply_transpixar(model, lora_file_tensors, lora_alpha, text_alpha_bias):
    """Install the RGBA processors and the domain-embedding hook. Returns the hook handle."""
    rank = lora_file_tensors["transformer.transformer_blocks.0.attn1.to_q.lora_A.weight"].shape[0]
    procs = {}
    for name in model.attn_processors.keys():  # "transformer_blocks.{i}.attn1.processor"
        i = int(name.split(".")[1])
        pre = f"transformer.transformer_blocks.{i}.attn1"
        lora = {t: (lora_file_tensors[f"{pre}.{t}.lora_A.weight"],
                    lora_file_tensors[f"{pre}.{t}.lora_B.weight"]) for t in LORA_TARGETS}
        procs[name] = RGBAAttnProcessor(lora, lora_alpha / rank, text_alpha_bias)
    model.set_attn_processor(procs)
    dom = lora_file_tensors["domain_emb"].reshape(1, 1, -1)

    def add_domain(module, args, out):  # out: [B, L + 2N, D] = [text | RGB | alpha]
        n_alpha = (out.shape[1] - args[0].shape[1]) // 2
        out = out.clone()
        out[:, -n_alpha:, :] += dom.to(out.dtype)
        return out
    return model.patch_embed.register_forward_hook(add_domain)


def set_text_alpha_bias(model, bias):
    for proc in model.attn_processors.values():
        proc.bias = bias


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def save_tensors(path, tensors):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path
