/* commands.c — the farm-worker subcommand table (see commands.h). Add one line per subcommand. */
#include "worker/commands.h"

#include <string.h>

const wrk_command_t WRK_COMMANDS[] = {
    { "run", wrk_cmd_run, "connect to farmd and render assigned windows (default)" },
    { "forward", wrk_cmd_forward, "one DiT call on a safetensors of inputs (model check, parity)" },
    { "sample", wrk_cmd_sample, "a whole DDIM/DPM sampler run with CFG over the DiT (model check, parity)" },
    { "encode", wrk_cmd_encode, "tokenize prompts and run the T5 text encoder (model check, parity)" },
    { "decode", wrk_cmd_decode, "decode DiT latents with the VAE to frames (model check, parity)" },
    { "render", wrk_cmd_render, "render one RGBA window locally with a model directory to PNG frames (model check)" },
    { NULL, NULL, NULL },
};

const wrk_command_t *wrk_command_find(const char *name)
{
    for (int i = 0; name && WRK_COMMANDS[i].name; i++)
        if (!strcmp(WRK_COMMANDS[i].name, name)) return &WRK_COMMANDS[i];
    return NULL;
}
