/* main.c — farm-worker entry point: picks a subcommand from WRK_COMMANDS (worker/commands.h) and
 * runs it. No other logic lives here; only this function exits. */
#include "worker/commands.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: farm-worker [COMMAND] [OPTIONS]\n\ncommands:\n");
    for (int i = 0; WRK_COMMANDS[i].name; i++)
        fprintf(f, "  %-10s %s\n", WRK_COMMANDS[i].name, WRK_COMMANDS[i].help);
    fprintf(f, "\nWithout a command, '%s' runs. 'farm-worker COMMAND --help' shows its options.\n",
            WRK_COMMANDS[0].name);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return (fflush(stdout) != 0 || ferror(stdout)) ? 1 : 0;
    }
    const wrk_command_t *c = argc > 1 ? wrk_command_find(argv[1]) : NULL;
    if (c) return c->fn(argc - 1, argv + 1);
    if (argc > 1 && argv[1][0] != '-') {
        fprintf(stderr, "farm-worker: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    argv[0] = (char *)WRK_COMMANDS[0].name;     /* default command sees argv[0] = its name */
    return WRK_COMMANDS[0].fn(argc, argv);
}
