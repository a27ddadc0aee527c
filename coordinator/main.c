/* main.c — farmd entry point: reads the configuration, installs signal handlers that only set a
 * flag, and runs the coordinator loop. Only this function exits. */
#include "coordinator/config.h"
#include "coordinator/farmd.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) { (void)sig; stop_flag = 1; }

int main(int argc, char **argv)
{
    coord_config_t cfg;
    char err[1024];
    int rc = coord_config_parse(&cfg, argc, argv, stdout, err, sizeof err);
    if (rc == 1) return ferror(stdout) ? 1 : 0;
    if (rc != 0) { fprintf(stderr, "farmd: %s\n", err); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (coord_farmd_run(&cfg, &stop_flag, err, sizeof err) != 0) {
        fprintf(stderr, "farmd: %s\n", err);
        return 1;
    }
    return 0;
}
