"""Stages 1-2: SentencePiece unigram tokenizer on the caption grammar and a tiny T5 v1.1 encoder.

Tokenizer: unigram, nmt_nfkc, pad 0 / eos 1 / unk 2, no bos (like T5), saved with the slow
T5Tokenizer (legacy, 100 <extra_id_*>, model_max_length TEXT_LEN) into MODEL_DIR/tokenizer/.
Text encoder: transformers T5EncoderModel (gated-gelu, untied), T5's own random init from a fixed
seed, frozen (never trained): the grammar is tiny, distinct words give distinct token vectors and the
DiT learns to read them. Checks that all captions encode to distinct embeddings and prints the
closest pair. Saves fp32 safetensors to MODEL_DIR/text_encoder/.
"""
import os
import random

import sentencepiece as spm
import torch
from transformers import T5Config, T5EncoderModel, T5Tokenizer

import common as C
import data

SP_VOCAB = 100
EXTRA = ["a", "an", "the", "of", "and", "in", "on", "over", "with", "small", "big", "bright", "soft",
         "slowly", "fast", "moving", "transparent", "background", "black", "fire", "light"]


def corpus():
    r = random.Random(7)
    lines = data.all_captions() * 4
    words = sorted({w for c in data.all_captions() for w in c.split()}) + EXTRA
    lines += [" ".join(r.choice(words) for _ in range(6)) for _ in range(3000)]
    lines += ["abcdefghijklmnopqrstuvwxyz 0123456789 ,.!?-"] * 3  # every plain character is a piece
    r.shuffle(lines)
    return lines


def train_tokenizer(out):
    prefix = os.path.join(C.ensure_dir(C.WORK_DIR), "spiece")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_prefix=prefix, model_type="unigram",
        vocab_size=SP_VOCAB, normalization_rule_name="nmt_nfkc", character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
        unk_piece="<unk>", num_threads=1, shuffle_input_sentence=False, input_sentence_size=0,
        seed_sentencepiece_size=200000, minloglevel=2)
    tok = T5Tokenizer(vocab_file=prefix + ".model", extra_ids=100, legacy=True,
                      model_max_length=C.TEXT_LEN)
    tok.save_pretrained(out)
    return T5Tokenizer.from_pretrained(out)


def build_t5(vocab):
    cfg = T5Config(vocab_size=vocab, relative_attention_num_buckets=32,
                   relative_attention_max_distance=128, dropout_rate=0.0, layer_norm_epsilon=1e-6,
                   feed_forward_proj="gated-gelu", tie_word_embeddings=False, is_encoder_decoder=True,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, num_decoder_layers=0,
                   **C.T5_CFG)
    torch.manual_seed(1234)
    return T5EncoderModel(cfg).float().eval()


def encode(tok, t5, prompts):
    ids = tok(prompts, padding="max_length", max_length=C.TEXT_LEN, truncation=True,
              add_special_tokens=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return t5(input_ids=ids).last_hidden_state.float()  # [B, L, d_model], no attention mask


def check_distinct(tok, t5):
    caps = data.all_captions() + [""]
    emb = encode(tok, t5, caps).flatten(1)
    emb = emb / emb.norm(dim=1, keepdim=True)
    sim = emb @ emb.t() - 2 * torch.eye(len(caps))
    i = int(sim.max(1).values.argmax())
    j = int(sim[i].argmax())
    C.log(f"text: {len(caps)} captions, max cosine between two different ones "
          f"{float(sim[i, j]):.4f} ({caps[i]!r} vs {caps[j]!r})")
    ids = tok(caps, add_special_tokens=True).input_ids
    C.log(f"text: longest caption {max(len(x) for x in ids)} tokens (limit {C.TEXT_LEN}); "
          f"unk in captions: {sum(x.count(2) for x in ids)}")
    assert max(len(x) for x in ids) <= C.TEXT_LEN and float(sim[i, j]) < 0.999


def main():
    C.setup_torch()
    tok = train_tokenizer(os.path.join(C.MODEL_DIR, "tokenizer"))
    t5 = build_t5(len(tok))
    check_distinct(tok, t5)
    t5.save_pretrained(os.path.join(C.MODEL_DIR, "text_encoder"), safe_serialization=True)
    C.log(f"text: vocab {len(tok)}, T5 params {sum(p.numel() for p in t5.parameters())}")


if __name__ == "__main__":
    main()
