"""T5 v1.1 encoder goldens for worker/model/t5.[ch]: tests/golden/t5/, and the reference side of
the T5 benchmark.

Golden: a tiny random `T5EncoderModel` (transformers 4.46.3; T5 v1.1 form: gated-gelu FFN,
no tied lm head, relative_attention_num_buckets 32, max_distance 128; d_model 64, d_kv 16,
4 heads, d_ff 128, 2 layers, vocab = the golden tokenizer's 1200 pieces + 100 extra ids) with
randomised weights of realistic magnitudes (T5's own init, then RMS-norm weights and the
relative-position table perturbed so none of them is the identity), saved with
`save_pretrained(max_shard_size=...)` into `text_encoder/` in two shards + index, as the real
CogVideoX text_encoder/ is. Its outputs (fp32, no attention mask, exactly as the CogVideoX pipeline
calls the encoder) for:
  main:  3 prompts tokenized with tests/golden/tokenizer to 226 ids (pads included; one prompt
         long enough to fill all 226);
  short: 2 prompts at L = 9 (the encoder works at any L).
Files: text_encoder/{config.json, model-0000{1,2}-of-00002.safetensors, model.safetensors.index.json},
cases.safetensors (ids_main I64 [3,226], out_main F32 [3,226,64], ids_short, out_short,
buckets I64 [601]: torch's bidirectional bucket of rel = -300..300 at 32 buckets / 128),
cases.json (prompts, shapes, max |out|), prompts_{main,short}.txt (one prompt per line).

Bench:  gen_t5.py --bench DIR [--layers 8 --d-model 512 --d-ff 1024 --heads 8 --d-kv 64 --batch 2
        --reps 3 --threads 2] saves a random model of that size into DIR/text_encoder (single file) with ids
        into DIR/bench_ids.safetensors (or re-uses them when DIR/text_encoder exists), times the
        transformers encoder (2 threads, best of reps) and writes DIR/bench_ref.json {ms,
        out_max_abs} and DIR/bench_out.safetensors.

Run:  $HOME/.cache/farm-refenv/bin/python tests/reference/gen_t5.py
"""
import argparse
import json
import math
import os
import shutil
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import T5Config, T5EncoderModel, T5Tokenizer
from transformers.models.t5.modeling_t5 import T5Attention

HERE = os.path.dirname(os.path.abspath(__file__))
GOLD = os.path.join(HERE, "..", "golden")
OUT = os.path.join(GOLD, "t5")

PROMPTS_MAIN = [
    "A translucent dragon made of swirling smoke rises slowly against a black background, 4k.",
    "",
    " ".join(["glowing fire ribbons spin in the wind, volumetric light, 35mm film;"] * 30),
]
PROMPTS_SHORT = ["fire", "smoke and glass"]


def setup_torch(threads=2):
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def t5_config(vocab, d_model, d_kv, heads, d_ff, layers):
    return T5Config(vocab_size=vocab, d_model=d_model, d_kv=d_kv, num_heads=heads, d_ff=d_ff,
                    num_layers=layers, num_decoder_layers=layers, relative_attention_num_buckets=32,
                    relative_attention_max_distance=128, dropout_rate=0.0, layer_norm_epsilon=1e-6,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, is_encoder_decoder=True,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def build(cfg, seed):
    torch.manual_seed(seed)
    model = T5EncoderModel(cfg).float().eval()   # T5's own init (_init_weights, factor 1.0)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.25 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=g))   # bias values of order 1, as trained T5
    return model


def encode(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).last_hidden_state.float().contiguous()   # no attention mask


def tokenize(tok, prompts, L):
    return torch.tensor(tok(prompts, padding="max_length", max_length=L, truncation=True,
                            add_special_tokens=True)["input_ids"], dtype=torch.int64)


def golden():
    setup_torch()
    tok = T5Tokenizer.from_pretrained(os.path.join(GOLD, "tokenizer", "tokenizer"))
    vocab = len(tok)  # 1200 pieces + 100 extra ids
    model = build(t5_config(vocab, 64, 16, 4, 128, 2), 66)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    model.save_pretrained(os.path.join(OUT, "text_encoder"), max_shard_size="400KB")
    ids_main = tokenize(tok, PROMPTS_MAIN, 226)
    ids_short = tokenize(tok, PROMPTS_SHORT, 9)
    assert int((ids_main[2] != 0).sum()) == 226, "prompt 3 must fill all 226 ids"
    # the saved files load back to the same outputs (the C side reads what save_pretrained wrote)
    again = T5EncoderModel.from_pretrained(os.path.join(OUT, "text_encoder")).float().eval()
    out_main, out_short = encode(model, ids_main), encode(model, ids_short)
    assert torch.equal(encode(again, ids_main), out_main)
    rel = torch.arange(-300, 301, dtype=torch.int64)   # key_pos - query_pos
    buckets = T5Attention._relative_position_bucket(rel, bidirectional=True, num_buckets=32, max_distance=128)
    save_file({"ids_main": ids_main, "out_main": out_main, "ids_short": ids_short, "out_short": out_short,
               "buckets": buckets.contiguous()},
              os.path.join(OUT, "cases.safetensors"), metadata={"format": "pt"})
    info = {"prompts_main": PROMPTS_MAIN, "prompts_short": PROMPTS_SHORT,
            "shape_main": list(out_main.shape), "shape_short": list(out_short.shape),
            "max_abs_main": float(out_main.abs().max()), "max_abs_short": float(out_short.abs().max()),
            "n_ids_main": [int((r != 0).sum()) for r in ids_main],
            "files": sorted(os.listdir(os.path.join(OUT, "text_encoder")))}
    for name, prompts in (("prompts_main.txt", PROMPTS_MAIN), ("prompts_short.txt", PROMPTS_SHORT)):
        with open(os.path.join(OUT, name), "w") as f:   # one prompt per line, for parity_t5.sh
            f.write("".join(p + "\n" for p in prompts))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print("t5 goldens:", json.dumps({k: info[k] for k in ("shape_main", "max_abs_main", "files")}))


def bench(a):
    """Random model of the given size saved once into DIR (re-used by later rounds), timed."""
    setup_torch(a.threads)
    te = os.path.join(a.bench, "text_encoder")
    if os.path.isdir(te):
        model = T5EncoderModel.from_pretrained(te).float().eval()
        ids = load_file(os.path.join(a.bench, "bench_ids.safetensors"))["ids"]
    else:
        model = build(t5_config(32128, a.d_model, a.d_kv, a.heads, a.d_ff, a.layers), 7)
        model.save_pretrained(te, max_shard_size="10GB")
        g = torch.Generator().manual_seed(3)
        ids = torch.randint(3, 32000, (a.batch, 226), generator=g, dtype=torch.int64)
        ids[:, 150] = 1
        ids[:, 151:] = 0                       # a typical prompt: 150 ids, EOS, pads
        save_file({"ids": ids}, os.path.join(a.bench, "bench_ids.safetensors"))
    encode(model, ids)                     # warm-up
    best = math.inf
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = encode(model, ids)
        best = min(best, time.perf_counter() - t0)
    save_file({"out": out}, os.path.join(a.bench, "bench_out.safetensors"))
    res = {"ms": best * 1e3, "out_max_abs": float(out.abs().max()), "threads": torch.get_num_threads(),
           "config": vars(a)}
    with open(os.path.join(a.bench, "bench_ref.json"), "w") as f:
        json.dump(res, f)
    print("reference transformers T5 encode: d_model %d, %d layers, d_ff %d: best of %d %.1f ms (B=%d, L=226, "
          "%d threads)" % (model.config.d_model, model.config.num_layers, model.config.d_ff, a.reps, res["ms"],
                           ids.shape[0], res["threads"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", metavar="DIR")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--d-model", type=int, default=512)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--d-kv", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.bench:
        bench(a)
    else:
        golden()


if __name__ == "__main__":
    main()
