// spm_shim.cc — a C interface over Debian's libsentencepiece (C++), for worker/model/tokenizer.c.
//
// What it is: load a SentencePiece model file, encode UTF-8 text into ids the way Python's
// `sp.encode(text, out_type=str)` followed by `sp.piece_to_id(piece)` does (what transformers'
// slow T5Tokenizer does), and look pieces up. Every C++ exception and util::Status becomes -1 with a
// message; nothing here throws into C.
// What it is not: the T5 rules (special tokens, truncation, EOS, padding): tokenizer.c.
#include "worker/model/spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <new>
#include <string>
#include <vector>

struct wrk_spm {
    sentencepiece::SentencePieceProcessor sp;
};

static void set_err(char *err, size_t errlen, const std::string &msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg.c_str());
}

extern "C" int wrk_spm_load(const char *path, wrk_spm_t **out, char *err, size_t errlen)
{
    *out = nullptr;
    try {
        wrk_spm_t *h = new wrk_spm_t;
        auto st = h->sp.Load(path);
        if (!st.ok()) {
            set_err(err, errlen, std::string(path) + ": not a SentencePiece model: " + st.ToString());
            delete h;
            return -1;
        }
        *out = h;
        return 0;
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string(path) + ": " + e.what());
    } catch (...) {
        set_err(err, errlen, std::string(path) + ": unknown error loading the SentencePiece model");
    }
    return -1;
}

extern "C" void wrk_spm_free(wrk_spm_t **h)
{
    if (!h || !*h) return;
    delete *h;
    *h = nullptr;
}

extern "C" int wrk_spm_size(const wrk_spm_t *h) { return h->sp.GetPieceSize(); }

extern "C" int wrk_spm_piece_to_id(const wrk_spm_t *h, const char *piece)
{
    try {
        return h->sp.PieceToId(piece);
    } catch (...) {
        return -1;
    }
}

extern "C" int wrk_spm_special_ids(const wrk_spm_t *h, int *unk, int *bos, int *eos, int *pad)
{
    *unk = h->sp.unk_id();
    *bos = h->sp.bos_id();
    *eos = h->sp.eos_id();
    *pad = h->sp.pad_id();
    return 0;
}

// Pieces first, then ids from the piece strings: an unknown span comes back as its surface text,
// which maps to unk_id (exactly Python's encode(out_type=str) + piece_to_id).
extern "C" int wrk_spm_encode(const wrk_spm_t *h, const char *text, size_t len, int32_t *ids, int cap,
                              int *n, char *err, size_t errlen)
{
    *n = 0;
    try {
        std::vector<std::string> pieces;
        auto st = h->sp.Encode(std::string(text, len), &pieces);
        if (!st.ok()) {
            set_err(err, errlen, "sentencepiece encode: " + st.ToString());
            return -1;
        }
        int k = 0;
        for (const auto &p : pieces) {
            if (k < cap) ids[k] = h->sp.PieceToId(p);
            k++;
        }
        *n = k;
        return 0;
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "sentencepiece encode: out of memory");
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string("sentencepiece encode: ") + e.what());
    } catch (...) {
        set_err(err, errlen, "sentencepiece encode: unknown error");
    }
    return -1;
}
