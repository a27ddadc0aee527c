/* cmd_encode.c — `farm-worker encode`: tokenize prompts and run the T5 encoder outside the farm,
 * for parity tests and for anyone checking the text half of a model install.
 *
 *   farm-worker encode --model DIR --prompt TEXT [--prompt TEXT ...] [--max-length L]
 *                      [--threads N] [--stream] --out OUT.safetensors
 *
 * DIR is the pipeline root holding tokenizer/ and text_encoder/. OUT gets `input_ids` (B, L) I64
 * and `prompt_embeds` (B, L, d_model) F32, B = the number of --prompt options, L = --max-length
 * (default: the tokenizer's model_max_length, 226 for CogVideoX). One summary line on stderr.
 * Exit status: 0 ok, 1 failure, 2 usage. Not here: negative prompts or CFG (the pipeline's job).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k.h"
#include "worker/commands.h"
#include "worker/model/cmd_common.h"
#include "worker/model/safetensors.h"
#include "worker/model/t5.h"
#include "worker/model/tokenizer.h"
#include "worker/opts.h"

typedef struct {
    const char *model, *out;
    wrk_optv_t  prompts;
    int         max_length, threads, stream;
} enc_cli_t;

/* Option table: help and parsing both come from it (worker/opts.h). */
#define O(f) offsetof(enc_cli_t, f), sizeof(((enc_cli_t *)0)->f)
static const wrk_opt_t ENC_OPTS[] = {
    { "model",      "DIR",  WRK_OPT_ARG,  O(model), 0, 0, "pipeline root holding tokenizer/ and text_encoder/ (required)" },
    { "prompt",     "TEXT", WRK_OPT_ARGS, O(prompts), 0, 0, "a prompt; repeat for a batch (at least one, at most 64)" },
    { "out",        "FILE", WRK_OPT_ARG,  O(out), 0, 0, "safetensors to write input_ids and prompt_embeds to (required)" },
    { "max-length", "L",    WRK_OPT_INT,  O(max_length), 1, 65536, "ids per prompt, default the tokenizer's model_max_length (226)" },
    { "threads",    "N",    WRK_OPT_INT,  O(threads), 1, 65536, "compute threads, default all" },
    { "stream",     NULL,   WRK_OPT_FLAG, O(stream), 0, 1, "convert one layer of weights at a time (low memory)" },
};
#define N_ENC_OPTS ((int)(sizeof ENC_OPTS / sizeof ENC_OPTS[0]))
static const char ENC_USAGE[] =
    "usage: farm-worker encode --model DIR --prompt TEXT [--prompt TEXT ...] --out OUT.safetensors [OPTIONS]";

/* 0 ok, 1 help shown, -1 usage error (message printed). */
static int parse_args(int argc, char **argv, enc_cli_t *c)
{
    memset(c, 0, sizeof *c);
    int r = wrk_opts_command("encode", ENC_USAGE, ENC_OPTS, N_ENC_OPTS, c, argc, argv);
    if (r) return r;
    if (!c->model || !c->out || !c->prompts.n) {
        fprintf(stderr, "encode: --model, --out and at least one --prompt are required\n");
        return -1;
    }
    return 0;
}

static int write_out(const char *path, const int32_t *ids, const float *emb, int B, int L, int D, char *err,
                     size_t errlen)
{
    int64_t *ids64 = malloc((size_t)B * L * sizeof *ids64);
    if (!ids64) { snprintf(err, errlen, "out of memory"); return -1; }
    for (long i = 0; i < (long)B * L; i++) ids64[i] = ids[i];
    wrk_st_wtensor_t t[2] = {
        { .name = "input_ids", .dtype = WRK_ST_I64, .ndim = 2, .shape = { B, L }, .data = ids64 },
        { .name = "prompt_embeds", .dtype = WRK_ST_F32, .ndim = 3, .shape = { B, L, D }, .data = emb },
    };
    int rc = wrk_st_write(path, 2, t, err, errlen);
    free(ids64);
    return rc;
}

/* Tokenize every prompt, encode the batch, write OUT. */
static int run_encode(const enc_cli_t *c, char *err, size_t errlen)
{
    wrk_tok_t *tok = NULL;
    wrk_t5_t *t5 = NULL;
    wrk_t5_opts_t opts = { .stream_weights = c->stream, .cache_entries = -1 };
    int32_t *ids = NULL;
    float *emb = NULL;
    int rc = -1, B = c->prompts.n, L, D;
    char line[256];
    double t0 = wrk_cmd_now_s() * 1e3, t1, t2;
    if (wrk_tok_open(c->model, &tok, err, errlen) || wrk_t5_load(c->model, &opts, &t5, err, errlen)) goto out;
    L = c->max_length ? c->max_length : wrk_tok_max_length(tok);
    D = wrk_t5_config(t5)->d_model;
    ids = malloc((size_t)B * L * sizeof *ids);
    emb = malloc((size_t)B * L * D * sizeof *emb);
    if (!ids || !emb) { snprintf(err, errlen, "out of memory (B %d, L %d, d_model %d)", B, L, D); goto out; }
    t1 = wrk_cmd_now_s() * 1e3;
    for (int b = 0; b < B; b++)
        if (wrk_tok_encode(tok, c->prompts.v[b], L, ids + (size_t)b * L, err, errlen) < 0) goto out;
    t2 = wrk_cmd_now_s() * 1e3;
    if (wrk_t5_encode(t5, ids, B, L, emb, err, errlen) || write_out(c->out, ids, emb, B, L, D, err, errlen)) goto out;
    wrk_t5_str(t5, line, sizeof line);
    fprintf(stderr, "encode: %s; %d prompt(s) x %d ids: load %.0f ms, tokenize %.2f ms, encode %.1f ms (%d threads)\n",
            line, B, L, t1 - t0, t2 - t1, wrk_cmd_now_s() * 1e3 - t2, k_threads());
    rc = 0;
out:
    free(ids);
    free(emb);
    wrk_t5_destroy(&t5);
    wrk_tok_close(&tok);
    return rc;
}

int wrk_cmd_encode(int argc, char **argv)
{
    enc_cli_t c;
    char err[1024] = "";
    int p = parse_args(argc, argv, &c);
    if (p) return p > 0 ? 0 : 2;
    if (c.threads) k_set_threads(c.threads);
    if (run_encode(&c, err, sizeof err)) {
        fprintf(stderr, "encode: %s\n", err);
        return 1;
    }
    return 0;
}
