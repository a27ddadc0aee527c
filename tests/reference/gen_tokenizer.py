"""Tokenizer goldens for the C T5 tokenizer (worker/model/tokenizer.[ch]): tests/golden/tokenizer/.

There is no real T5 spiece.model on the build machines and nothing may be downloaded from a model
hub, so this script trains (on a corpus generated from a fixed seed, not stored) a small SentencePiece unigram model with the pinned `sentencepiece`
trainer on a generated caption corpus (T5-like: nmt_nfkc normalisation, pad 0, eos 1, unk 2, no
bos), saves it as `spiece.model` plus the tokenizer_config.json that `T5Tokenizer.save_pretrained`
writes (legacy=True, model_max_length=226, 100 <extra_id_*> tokens, like CogVideoX's tokenizer/),
and records what `transformers.T5Tokenizer` (slow, loaded with from_pretrained from that folder)
produces for >= 300 prompts (plus 300 random Unicode strings) exactly as the CogVideoX pipeline calls it:
    tokenizer(prompt, padding="max_length", max_length=L, truncation=True, add_special_tokens=True)

Files:
  tokenizer/spiece.model, tokenizer/tokenizer_config.json, tokenizer/special_tokens_map.json
  cases.json           [{"name", "text", "max_length", "ids": [...]}, ...]

Run:  $HOME/.cache/farm-refenv/bin/python tests/reference/gen_tokenizer.py
"""
import json
import os
import random
import shutil
import tempfile
import warnings

import sentencepiece as spm
from transformers import T5Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "golden", "tokenizer")
VOCAB = 1200

ADJ = ["red", "blue", "golden", "translucent", "glowing", "swirling", "thick", "thin", "dark", "bright",
       "soft", "violent", "gentle", "ancient", "tiny", "giant", "wet", "frozen", "burning", "shimmering",
       "cinematic", "detailed", "realistic", "stylised", "dreamy", "misty", "crystal", "metallic", "fluffy",
       "slow", "fast", "looping", "seamless", "transparent", "smoky", "liquid", "electric", "neon", "pale"]
NOUN = ["smoke", "fire", "flame", "glass", "water", "bubble", "cloud", "dragon", "butterfly", "leaf",
        "feather", "spark", "explosion", "wave", "jellyfish", "ghost", "bird", "cat", "dog", "horse",
        "wizard", "robot", "ribbon", "flag", "candle", "lantern", "snowflake", "raindrop", "petal",
        "tree", "creature", "portal", "shield", "sword", "crown", "balloon", "kite", "comet", "storm"]
VERB = ["rises", "drifts", "spins", "falls", "dances", "flickers", "explodes", "melts", "grows", "fades",
        "floats", "swirls", "bursts", "glides", "shatters", "ripples", "flutters", "burns", "pulses"]
PLACE = ["in the wind", "against a black background", "on a transparent background", "over a lake",
         "through the forest", "in slow motion", "at night", "under the moonlight", "in a studio",
         "across the frame", "from left to right", "near the camera", "in the distance", "at dawn"]
STYLE = ["4k", "8K", "HDR", "35mm film", "shallow depth of field", "volumetric light", "high detail",
         "studio lighting", "macro shot", "wide angle", "24 fps", "alpha matte", "VFX element"]
UNI = ["café", "naïve", "Ångström", "über", "façade", "jalapeño", "São Paulo", "Zürich", "crème brûlée",
       "東京", "火", "煙", "水", "龍", "さくら", "ドラゴン", "불꽃", "дым", "огонь", "πῦρ", "ﬁre", "Ⅻ",
       "ｆｕｌｌｗｉｄｔｈ", "①", "½", "™", "…", "—", "“quoted”", "‘single’"]
EMOJI = ["🔥", "💨", "✨", "🐉", "🦋", "🌊", "❄️", "👻", "🎈", "🌈", "👩‍🚀", "🇫🇷"]
PUNCT = [",", ".", "!", "?", ";", ":", "-", "(", ")", "[", "]", "\"", "'", "/", "&", "%", "#", "@",
         "*", "+", "=", "<", ">", "~", "^", "|", "\\", "`", "{", "}", "$"]
SPECIAL = ["<extra_id_0>", "<extra_id_1>", "<extra_id_10>", "<extra_id_99>", "</s>", "<pad>", "<unk>"]


def caption(r):
    words = [r.choice(["A", "The", "Two", "Some", "One", "An old", "Many"]), r.choice(ADJ), r.choice(NOUN),
             r.choice(VERB), r.choice(PLACE)]
    if r.random() < 0.7:
        words.append(", " + r.choice(STYLE))
    if r.random() < 0.4:
        words.append(", " + r.choice(ADJ) + " " + r.choice(NOUN))
    if r.random() < 0.2:
        words.append(str(r.randint(0, 99999)))
    if r.random() < 0.15:
        words.append(r.choice(UNI))
    return " ".join(words).replace(" ,", ",") + r.choice([".", ".", "!", ""])


def train_corpus():
    r = random.Random(6)
    lines = [caption(r) for _ in range(6000)]
    lines += [" ".join(r.choice(UNI) for _ in range(3)) for _ in range(200)]
    lines += ["frame %d of %d at %dx%d" % (r.randint(0, 99), r.randint(1, 999), r.randint(1, 4096),
                                          r.randint(1, 4096)) for _ in range(200)]
    return lines


def train_model(lines, prefix):
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=prefix, model_type="unigram", vocab_size=VOCAB,
        normalization_rule_name="nmt_nfkc", character_coverage=0.9995, pad_id=0, eos_id=1, unk_id=2,
        bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", num_threads=1,
        shuffle_input_sentence=False, seed_sentencepiece_size=200000, input_sentence_size=0,
        minloglevel=2)


def long_prompt(r, n_words):
    return " ".join(caption(r) for _ in range(n_words))


def prompts():
    """(name, text, max_length) for every case."""
    r = random.Random(2026)
    out = [("empty", "", 226), ("negative_default", "", 226), ("space", " ", 226), ("newline", "\n", 226),
           ("spaces", "     ", 226), ("tabs", "\t\t", 226)]
    for i in range(150):
        out.append(("caption_%03d" % i, caption(r), 226))
    for i, u in enumerate(UNI):
        out.append(("unicode_%02d" % i, "A %s %s %s" % (r.choice(ADJ), u, r.choice(NOUN)), 226))
    for i, e in enumerate(EMOJI):
        out.append(("emoji_%02d" % i, "%s %s %s%s" % (r.choice(NOUN), e, e, r.choice(NOUN)), 226))
    for i in range(20):
        out.append(("punct_%02d" % i, "".join(r.choice(PUNCT) + r.choice(["", " ", "a", "7"]) for _ in range(12)),
                    226))
    for i in range(15):
        out.append(("digits_%02d" % i, "%d %s %.3f %d,%03d %dx%d" % (
            r.randint(0, 10 ** r.randint(1, 12)), r.choice(NOUN), r.random() * 1000, r.randint(1, 999),
            r.randint(0, 999), r.randint(1, 8192), r.randint(1, 8192)), 226))
    ws = [" ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", " \t \n "]
    for i in range(20):
        words = [r.choice(NOUN) for _ in range(5)]
        out.append(("whitespace_%02d" % i, r.choice(ws) + r.choice(ws).join(words) + r.choice(ws), 226))
    for i in range(12):
        n = r.randint(40, 90)
        out.append(("long_%02d" % i, long_prompt(r, n), 226))
    out.append(("long_cjk", "煙と火の龍が夜空を舞う。" * 60, 226))
    out.append(("long_emoji", "🔥💨 " * 300, 226))
    for i, s in enumerate(SPECIAL):
        out.append(("special_%02d" % i, "a %s  smoke %s" % (s, r.choice(NOUN)), 226))
        out.append(("special_edge_%02d" % i, s, 226))
    out += [("special_ws", "  <extra_id_0>\t \n<extra_id_1>  fire ", 226),
            ("special_adj", "<extra_id_5><extra_id_55></s><pad>x<unk>", 226),
            ("special_not", "<extra_id_100> <extra_id_> <extra_id_x> <extra_id_-1> < /s>", 226),
            ("ends_with_eos", "fire and smoke </s>", 226),
            ("ends_with_eos_ws", "fire and smoke </s>   ", 226),
            ("only_eos", "</s>", 226), ("eos_twice", "</s></s>", 226),
            ("nul_free_controls", "a\x01b\x7fc\u200bd\ufeffe", 226),
            ("combining", "e\u0301 a\u0308 n\u0303 Å", 226), ("hangul_jamo", "\u1100\u1161\u11a8", 226),
            ("surrogate_range_emoji", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", 226), ("rtl", "نار ودخان אש ועשן", 226),
            ("underline_char", "▁fire ▁ ▁▁smoke", 226)]
    for i, L in enumerate([2, 3, 8, 16, 77, 120, 512]):
        out.append(("maxlen_%03d" % L, long_prompt(r, 20), L))
    out.append(("maxlen_512_short", caption(r), 512))
    return out


FUZZ_RANGES = [(0x20, 0x7e)] * 6 + [
    (0x09, 0x0d), (0xa0, 0x17f), (0x300, 0x36f), (0x370, 0x3ff), (0x400, 0x4ff), (0x2000, 0x206f),
    (0x2100, 0x218f), (0x2460, 0x24ff), (0x3000, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xacff), (0xff00, 0xffef),
    (0x1f300, 0x1f64f), (0x1d400, 0x1d7ff), (0xfb00, 0xfb4f), (0x1100, 0x11ff), (0xe000, 0xe0ff)]
FUZZ_WORDS = ["fire", "smoke", "<extra_id_3>", "</s>", "<pad>", "<unk>", " ", "  ", "\n", "a", "glass"]


def fuzz_prompts(r, n):
    """Random strings over many Unicode blocks (NFKC-sensitive ones included: fullwidth forms,
    ligatures, math letters, compatibility jamo, combining marks), mixed with special tokens."""
    out = []
    for i in range(n):
        s = []
        for _ in range(r.randint(0, 30)):
            if r.random() < 0.15:
                s.append(r.choice(FUZZ_WORDS))
                continue
            lo, hi = r.choice(FUZZ_RANGES)
            s.append(chr(r.randint(lo, hi)))
        out.append(("fuzz_%03d" % i, "".join(s), 64))
    return out


def exact_length_prompts(tok, r):
    """Prompts whose sp length is 223..228 (around the truncation point at 225), and ones whose
    225th id is a literal </s> (then no second EOS is appended). " a" is one piece (▁a)."""
    def n_ids(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])
    words = long_prompt(r, 60).split(" ")
    out = []
    for target in range(223, 229):
        k = 1
        while k < len(words) and n_ids(" ".join(words[:k + 1])) <= target:
            k += 1
        text = " ".join(words[:k])
        while n_ids(text) < target:
            text += " a"
        out.append(("exact_%d" % target, text, 226))
        if target == 224:
            assert n_ids(text) == 224
            out.append(("eos_at_225", text + "</s> and more smoke", 226))
            out.append(("eos_at_225_end", text + "</s>", 226))
    return out


def main():
    warnings.simplefilter("ignore")
    os.makedirs(OUT, exist_ok=True)
    lines = train_corpus()
    tdir = os.path.join(OUT, "tokenizer")
    shutil.rmtree(tdir, ignore_errors=True)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)   # the trainer stores model_prefix in the file: keep it "spiece" (byte-identical reruns)
        try:
            train_model(lines, "spiece")
        finally:
            os.chdir(cwd)
        base = T5Tokenizer(vocab_file=os.path.join(tmp, "spiece.model"), legacy=True, model_max_length=226)
        base.save_pretrained(tdir)
    tok = T5Tokenizer.from_pretrained(tdir)
    assert tok.legacy and len(tok.sp_model) == VOCAB and tok.pad_token_id == 0 and tok.eos_token_id == 1
    cases = prompts() + exact_length_prompts(tok, random.Random(7)) + fuzz_prompts(random.Random(1), 300)
    res = []
    for name, text, L in cases:
        ids = tok(text, padding="max_length", max_length=L, truncation=True, add_special_tokens=True)["input_ids"]
        assert len(ids) == L, (name, len(ids))
        res.append({"name": name, "text": text, "max_length": L, "ids": ids})
    # batch call as the pipeline makes it must agree with the single calls
    batch = tok([c["text"] for c in res if c["max_length"] == 226], padding="max_length", max_length=226,
                truncation=True, add_special_tokens=True)["input_ids"]
    assert batch == [c["ids"] for c in res if c["max_length"] == 226]
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in res) + "\n]\n")
    n_unk = sum(2 in c["ids"] for c in res)
    n_trunc = sum(c["ids"][-1] != 0 for c in res)
    print("tokenizer goldens: %d cases (%d with <unk>, %d filled to max_length), vocab %d + %d extra ids"
          % (len(res), n_unk, n_trunc, len(tok.sp_model), tok._extra_ids))


if __name__ == "__main__":
    main()
