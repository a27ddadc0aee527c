/* commands.h — the farm-worker subcommand table: `farm-worker [COMMAND] [OPTIONS]`.
 *
 * One row per subcommand {name, fn, help}; worker/main.c dispatches from it and prints help from it.
 * The first row is the default: argv without a known command name runs it. To add a subcommand,
 * declare its function here and add one row in commands.c (model engineers: forward, sample).
 * Each fn gets argv with argv[0] = the command name and returns the process exit status.
 */
#ifndef WORKER_COMMANDS_H
#define WORKER_COMMANDS_H

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} wrk_command_t;

extern const wrk_command_t WRK_COMMANDS[];   /* terminated by {NULL} */

/* Looks a command up by name; NULL when unknown. */
const wrk_command_t *wrk_command_find(const char *name);

/* run (default): connect to farmd and render assigned windows until SIGTERM (worker/run.c). */
int wrk_cmd_run(int argc, char **argv);
/* forward: one DiT transformer call from a safetensors of inputs (worker/model/cmd_forward.c). */
int wrk_cmd_forward(int argc, char **argv);
/* sample: a whole sampler run over the DiT from a safetensors of inputs (worker/model/cmd_sample.c). */
int wrk_cmd_sample(int argc, char **argv);
/* encode: tokenize prompts and run the T5 text encoder (worker/model/cmd_encode.c). */
int wrk_cmd_encode(int argc, char **argv);

/* decode: VAE-decode latents from a safetensors to frames (worker/model/cmd_decode.c). */
int wrk_cmd_decode(int argc, char **argv);

/* render: one RGBA window through the whole pipeline to PNG frames (worker/model/cmd_render.c). */
int wrk_cmd_render(int argc, char **argv);

#endif
