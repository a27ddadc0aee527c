/* commands.c — the `farm` subcommand table (see commands.h). */
#include "ops/commands.h"

#include <string.h>

const ops_command_t OPS_COMMANDS[] = {
    { "submit",  ops_cmd_submit,  "FILE|-", "validate a shot list (CSV or JSON) and submit it as a job" },
    { "ls",      ops_cmd_ls,      "", "list jobs" },
    { "show",    ops_cmd_show,    "JOB", "show a job: shots and windows (state, attempts, worker, progress, outputs)" },
    { "workers", ops_cmd_workers, "", "list workers" },
    { "watch",   ops_cmd_watch,   "[JOB]", "live progress until the job (or every job) ends" },
    { "logs",    ops_cmd_logs,    "JOB", "attempt logs of a job" },
    { "resume",  ops_cmd_control, "JOB", "failed and cancelled windows back to queued with a fresh budget" },
    { "retry",   ops_cmd_control, "JOB", "retry failed windows of a job now" },
    { "cancel",  ops_cmd_control, "JOB", "cancel a job (running windows are told to stop)" },
    { "pause",   ops_cmd_control, "JOB", "stop assigning windows of a job" },
    { "unpause", ops_cmd_control, "JOB", "assign windows of a paused job again" },
    { "wait",    ops_cmd_wait,    "JOB", "wait until a job ends: exit 0 done, 6 failed, 7 cancelled" },
    { "keygen",  ops_cmd_keygen,  "[NAME]", "CURVE keypair into $FARM_HOME/keys (for --curve-key NAME)" },
    { NULL, NULL, NULL, NULL },
};

const ops_command_t *ops_command_find(const char *name)
{
    for (int i = 0; name && OPS_COMMANDS[i].name; i++)
        if (!strcmp(OPS_COMMANDS[i].name, name)) return &OPS_COMMANDS[i];
    return NULL;
}

void ops_usage(FILE *f)
{
    fprintf(f, "usage: farm [GLOBAL OPTIONS] COMMAND [ARGS]\n\ncommands:\n");
    for (int i = 0; OPS_COMMANDS[i].name; i++) {
        char left[32];
        snprintf(left, sizeof left, "%s %s", OPS_COMMANDS[i].name, OPS_COMMANDS[i].args);
        fprintf(f, "  %-16s %s\n", left, OPS_COMMANDS[i].help);
    }
    fprintf(f, "\n'farm COMMAND --help' shows a command's options.\n\nexit codes:\n");
    for (int i = 0; OPS_EXIT_CODES[i].name; i++)
        fprintf(f, "  %d  %-12s %s\n", OPS_EXIT_CODES[i].code, OPS_EXIT_CODES[i].name, OPS_EXIT_CODES[i].meaning);
}

int ops_start(ops_ctx_t *c, int argc, char **argv, const ops_opt_t *tab, int ntab,
              char **pos, int pmin, int pmax, int *npos)
{
    const ops_command_t *cmd = ops_command_find(argv[0]);
    char err[512];
    int help = 0;
    if (ops_parse(c, tab, ntab, argc, argv, pos, pmin, pmax, npos, &help, err, sizeof err) < 0) {
        fprintf(stderr, "farm %s: %s\n", argv[0], err);
        return OPS_EXIT_USAGE;
    }
    if (!help) return -1;
    ops_help(stdout, c, argv[0], cmd ? cmd->args : "", cmd ? cmd->help : "", tab, ntab);
    return (fflush(stdout) != 0 || ferror(stdout)) ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
