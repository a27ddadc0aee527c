/* main.c — `farm`, the operator CLI: finds the subcommand in OPS_COMMANDS (global options may come
 * before it) and runs it. Only this function exits. */
#include "ops/commands.h"

#include <stdlib.h>
#include <string.h>

/* Index of the command word: the first argument that is neither a global option nor its value. */
static int command_index(int argc, char **argv)
{
    ops_ctx_t c;
    ops_opt_t g[16];
    ops_ctx_init(&c);
    int ng = ops_global_opts(&c, g, 16);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2)) return i;
        for (int k = 0; k < ng; k++)
            if (g[k].arg && !strcmp(argv[i] + 2, g[k].name)) { i++; break; }   /* skip its value */
    }
    return -1;
}

int main(int argc, char **argv)
{
    int k = command_index(argc, argv);
    if (k < 0) {
        int help = argc > 1 && (!strcmp(argv[argc - 1], "--help") || !strcmp(argv[1], "--help"));
        ops_usage(help ? stdout : stderr);
        return help ? ((fflush(stdout) != 0 || ferror(stdout)) ? OPS_EXIT_ERROR : OPS_EXIT_OK) : OPS_EXIT_USAGE;
    }
    if (!strcmp(argv[k], "help")) {
        const ops_command_t *h = k + 1 < argc ? ops_command_find(argv[k + 1]) : NULL;
        if (!h) { ops_usage(stdout); return (fflush(stdout) != 0 || ferror(stdout)) ? OPS_EXIT_ERROR : OPS_EXIT_OK; }
        char *hargv[] = { (char *)h->name, "--help", NULL };
        ops_ctx_t c;
        ops_ctx_init(&c);
        return h->fn(&c, 2, hargv);
    }
    const ops_command_t *cmd = ops_command_find(argv[k]);
    if (!cmd) {
        fprintf(stderr, "farm: unknown command '%s'\n\n", argv[k]);
        ops_usage(stderr);
        return OPS_EXIT_USAGE;
    }
    char **cargv = calloc((size_t)argc + 1, sizeof *cargv);   /* command word first, then the rest */
    if (!cargv) return OPS_EXIT_ERROR;
    int n = 0;
    cargv[n++] = argv[k];
    for (int i = 1; i < argc; i++) if (i != k) cargv[n++] = argv[i];
    ops_ctx_t c;
    ops_ctx_init(&c);
    int rc = cmd->fn(&c, n, cargv);
    free(cargv);
    return rc;
}
