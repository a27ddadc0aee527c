/* config.h — farmd's settings: one table of options {flag, environment variable, default, range,
 * help} from which parsing, defaults and --help text derive. Flags win over the environment, the
 * environment over defaults. Not a general option parser: only farmd's own settings. */
#ifndef COORD_CONFIG_H
#define COORD_CONFIG_H
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char bind[256];          /* ROUTER endpoint */
    char home[512];          /* FARM_HOME: farm.db, artifacts/, outputs/, logs/ */
    long heartbeat_ms;       /* HEARTBEAT interval to workers (and expected from them) */
    long liveness;           /* heartbeats a worker may miss before its lease ends */
    long lease_ms;           /* silence after which a worker's window is requeued (0: heartbeat*liveness) */
    long grace_ms;           /* after a restart, time for live workers to report (0: 2*lease) */
    long max_attempts;       /* per-window attempt budget */
    long max_job_fails;      /* windows a worker may fail in one job before it is kept off it */
    long backoff_ms, backoff_max_ms;
    long assembly_threads;
    char sync[16];           /* "full" | "normal" */
    char curve_key[512];     /* farmd's CURVE keypair (NAME in $FARM_HOME/keys, or a path); "": no CURVE */
    char curve_clients[600]; /* public keys let in ("": $FARM_HOME/keys/clients) */
} coord_config_t;

/* Defaults, then environment, then argv. 0 ok; 1 when --help was printed to out; -1 with err. */
int  coord_config_parse(coord_config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen);
void coord_config_help(FILE *f);

#endif
