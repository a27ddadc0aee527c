/* tokenizer.h — the T5 tokenizer of a CogVideoX pipeline (`tokenizer/spiece.model`), ids exactly as
 * transformers' slow `T5Tokenizer` (legacy mode, the CogVideoX default) gives them to the pipeline:
 *     tokenizer(prompt, padding="max_length", max_length=L, truncation=True, add_special_tokens=True)
 *
 * What it is (MODEL.md §5):
 *   1. the prompt is split on the added tokens (`<pad>`, `</s>`, `<unk>`, `<extra_id_0..N-1>`):
 *      leftmost, longest match; a token with lstrip/rstrip eats the Python-whitespace next to it;
 *   2. every other piece of text goes through SentencePiece (libsentencepiece, spm_shim.h), which
 *      applies the model's own normalisation (nmt_nfkc) and the ▁ prefix;
 *      `<extra_id_i>` is id sp_size - 1 + extra_ids - i, the others their piece id;
 *   3. ids truncated to L - 1, then `</s>` appended unless the last kept id already is `</s>`,
 *      then `<pad>` up to L.
 * The added-token table and flags come from tokenizer_config.json (`added_tokens_decoder`,
 * `extra_ids`, `legacy`, `model_max_length`) when the file is there, else the T5Tokenizer defaults.
 * What it is not: decoding, the non-legacy mode (`legacy: false` is refused with an error), fast
 * (Rust) tokenizers' tokenizer.json, single_word added tokens (refused).
 */
#ifndef WORKER_MODEL_TOKENIZER_H
#define WORKER_MODEL_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#define WRK_TOK_MAX_LEN_DEFAULT 226   /* CogVideoX: max_sequence_length */

typedef struct wrk_tok wrk_tok_t;

/* Opens a tokenizer. path: a pipeline root holding tokenizer/, a tokenizer/ folder (spiece.model
 * and optionally tokenizer_config.json), or a spiece.model file. 0 ok (*out owned by the caller:
 * wrk_tok_close), -1 with err naming the file (missing, not a SentencePiece model, bad config). */
int  wrk_tok_open(const char *path, wrk_tok_t **out, char *err, size_t errlen);
void wrk_tok_close(wrk_tok_t **tok);

/* Encodes a NUL-terminated UTF-8 prompt into exactly max_len ids (max_len >= 2). Returns the
 * count of ids before the padding (content + EOS, 1..max_len), or -1 with err (invalid UTF-8,
 * bad max_len, SentencePiece failure). The handle is not modified (libsentencepiece's Encode is
 * const), so one tokenizer may serve several threads. */
int wrk_tok_encode(const wrk_tok_t *tok, const char *text, int max_len, int32_t *ids, char *err,
                   size_t errlen);

int wrk_tok_vocab_size(const wrk_tok_t *tok);   /* SentencePiece pieces + extra ids */
int wrk_tok_max_length(const wrk_tok_t *tok);   /* model_max_length from the config, else 226 */
int wrk_tok_pad_id(const wrk_tok_t *tok);       /* 0 for T5 */
int wrk_tok_eos_id(const wrk_tok_t *tok);       /* 1 for T5 */

#endif
