/* commands.h — the `farm` subcommand table {name, fn, help, args}; ops/main.c dispatches from it and
 * `farm help` is generated from it. One row per subcommand, one file per subcommand (cmd_*.c). */
#ifndef OPS_COMMANDS_H
#define OPS_COMMANDS_H
#include "ops/cli.h"

typedef int (*ops_cmd_fn)(ops_ctx_t *c, int argc, char **argv);
typedef struct {
    const char *name;
    ops_cmd_fn  fn;
    const char *args;     /* positional arguments for usage lines */
    const char *help;
} ops_command_t;

extern const ops_command_t OPS_COMMANDS[];   /* terminated by {NULL} */
const ops_command_t *ops_command_find(const char *name);
/* Prints the command list and exit codes. */
void ops_usage(FILE *f);

int ops_cmd_submit(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_ls(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_show(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_workers(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_watch(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_logs(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_control(ops_ctx_t *c, int argc, char **argv);   /* resume, retry, cancel, pause, unpause */
int ops_cmd_wait(ops_ctx_t *c, int argc, char **argv);
int ops_cmd_keygen(ops_ctx_t *c, int argc, char **argv);

/* Common start of every subcommand: parses argv against tab + global options. Returns -1 when the
 * command should go on; otherwise the exit status to return (help printed: 0; usage error printed
 * to stderr: OPS_EXIT_USAGE). */
int ops_start(ops_ctx_t *c, int argc, char **argv, const ops_opt_t *tab, int ntab,
              char **pos, int pmin, int pmax, int *npos);

/* Shared printers: a job summary's members (ls, watch) and a whole job (show, watch --json). */
void ops_print_job_summary(ops_out_t *o, const proto_json_t *job);
void ops_print_job(ops_out_t *o, const proto_json_t *job);
/* Job progress in [0, 1]: verified frames plus running windows' reported progress, over all frames. */
double ops_job_progress(const proto_json_t *job);
double ops_shot_progress(const proto_json_t *shot);

#endif

