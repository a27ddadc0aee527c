/* cmd_common.h — what the model subcommands share (forward, sample): the DiT loader's options as
 * one struct, their rows of the option table (worker/opts.h) and their mapping onto
 * wrk_dit_opts_t; and a monotonic clock for the timing lines. Not here: option parsing itself
 * (worker/opts.c) or anything a single command needs.
 */
#ifndef WRK_MODEL_CMD_COMMON_H
#define WRK_MODEL_CMD_COMMON_H
#include <stddef.h>

#include "worker/model/dit.h"
#include "worker/opts.h"

typedef struct {
    const char *lora, *mask, *device;
    int         tp, threads, rgba;
    float       mask_bias, lora_alpha;
} wrk_dit_cli_t;

#define WRK_DIT_CLI_DEFAULT { .tp = 1, .mask = "bias", .mask_bias = -1.0f, .lora_alpha = 1.0f }

/* The rows for a wrk_dit_cli_t member M of the command's struct T; --tp and --threads take
 * integers LO..HI. */
#define WRK_DIT_CLI_OPT_(T, M, f) offsetof(T, M.f), sizeof(((T *)0)->M.f)
#define WRK_DIT_CLI_OPTS(T, M, LO, HI) \
    { "lora",       "FILE", WRK_OPT_ARG,   WRK_DIT_CLI_OPT_(T, M, lora), 0, 0, "TransPixar RGBA LoRA (.safetensors); makes the model RGBA" }, \
    { "rgba",       NULL,   WRK_OPT_FLAG,  WRK_DIT_CLI_OPT_(T, M, rgba), 0, 1, "RGBA layout (frames: RGB then alpha) without a LoRA file" }, \
    { "tp",         "N",    WRK_OPT_INT,   WRK_DIT_CLI_OPT_(T, M, tp), LO, HI, "tensor-parallel degree (ranks as threads), default 1" }, \
    { "threads",    "N",    WRK_OPT_INT,   WRK_DIT_CLI_OPT_(T, M, threads), LO, HI, "compute threads in total, default all" }, \
    { "mask",       "RULE", WRK_OPT_ARG,   WRK_DIT_CLI_OPT_(T, M, mask), 0, 0, "text->alpha attention rule: none | bias (default) | hard" }, \
    { "mask-bias",  "B",    WRK_OPT_FLOAT, WRK_DIT_CLI_OPT_(T, M, mask_bias), 0, 0, "logit bias of --mask bias, default -1.0" }, \
    { "lora-alpha", "A",    WRK_OPT_FLOAT, WRK_DIT_CLI_OPT_(T, M, lora_alpha), 0, 0, "LoRA scale = A / rank, default 1.0 (as released)" }, \
    { "device",     "DEV",  WRK_OPT_ARG,   WRK_DIT_CLI_OPT_(T, M, device), 0, 0, "compute device: cpu | cuda | auto (env FARM_DEVICE, default auto)" }

/* wrk_dit_opts_default, then the options of c, the device chosen with worker/device.h (its log line
 * on stderr). 0 ok; -1 with err when --mask names no rule or the device cannot be used. */
int wrk_dit_cli_opts(const wrk_dit_cli_t *c, wrk_dit_opts_t *o, char *err, size_t errlen);

/* Seconds on CLOCK_MONOTONIC. */
double wrk_cmd_now_s(void);

#endif
