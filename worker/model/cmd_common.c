/* cmd_common.c — the DiT options of the model subcommands and their clock (see cmd_common.h). */
#include "worker/model/cmd_common.h"
#include "worker/device.h"

#include <stdio.h>
#include <time.h>

int wrk_dit_cli_opts(const wrk_dit_cli_t *c, wrk_dit_opts_t *o, char *err, size_t errlen)
{
    wrk_dit_opts_default(o);
    o->lora_path = c->lora;
    o->rgba = c->rgba;
    o->tp = c->tp;
    o->threads = c->threads;
    o->mask_bias = c->mask_bias;
    o->lora_alpha = c->lora_alpha;
    if (wrk_dit_mask_from_name(c->mask, &o->mask)) {
        snprintf(err, errlen, "--mask must be none, bias or hard");
        return -1;
    }
    char line[256];
    if (wrk_device_choose(c->device, line, sizeof line, err, errlen) != 0) return -1;
    fprintf(stderr, "%s\n", line);
    o->device = wrk_device_get();
    return 0;
}

double wrk_cmd_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
