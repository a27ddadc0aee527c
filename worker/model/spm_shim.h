/* spm_shim.h — C interface of worker/model/spm_shim.cc (Debian's libsentencepiece behind C calls).
 *
 * What it is: load a SentencePiece model, encode text to ids exactly as Python's
 * `sp.encode(text, out_type=str)` + `sp.piece_to_id` (the slow transformers tokenizers' path), and
 * piece lookups. What it is not: T5 conventions (tokenizer.h adds those).
 */
#ifndef WORKER_MODEL_SPM_SHIM_H
#define WORKER_MODEL_SPM_SHIM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wrk_spm wrk_spm_t;

/* 0 ok (*out owned: wrk_spm_free), -1 with err naming path. */
int  wrk_spm_load(const char *path, wrk_spm_t **out, char *err, size_t errlen);
void wrk_spm_free(wrk_spm_t **h);
int  wrk_spm_size(const wrk_spm_t *h);                       /* pieces in the model */
int  wrk_spm_piece_to_id(const wrk_spm_t *h, const char *piece); /* unk id when absent */
int  wrk_spm_special_ids(const wrk_spm_t *h, int *unk, int *bos, int *eos, int *pad); /* -1 = none */
/* Encodes text[0..len) (UTF-8). Writes min(cap, count) ids, *n = count (may exceed cap). 0 / -1. */
int  wrk_spm_encode(const wrk_spm_t *h, const char *text, size_t len, int32_t *ids, int cap, int *n,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
