/* config.c — the option table and its parser (see config.h). */
#include "coordinator/config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *flag, *env, *arg, *def;
    size_t off, size;        /* size > 0: string field of that size; 0: long */
    long lo, hi;
    const char *help;
} opt_t;

#define S(f) offsetof(coord_config_t, f), sizeof(((coord_config_t *)0)->f)
#define L(f) offsetof(coord_config_t, f), 0
static const opt_t OPTS[] = {
    { "bind", "FARM_BIND", "ENDPOINT", "tcp://127.0.0.1:7600", S(bind), 0, 0, "ZeroMQ ROUTER endpoint workers and clients connect to" },
    { "home", "FARM_HOME", "DIR", "./farm-home", S(home), 0, 0, "state folder: farm.db, artifacts/, outputs/, logs/" },
    { "heartbeat-ms", "FARM_HEARTBEAT_MS", "MS", "1000", L(heartbeat_ms), 10, 600000, "heartbeat interval" },
    { "liveness", "FARM_LIVENESS", "N", "3", L(liveness), 1, 100, "missed heartbeats before a worker's lease ends" },
    { "lease-ms", "FARM_LEASE_MS", "MS", "0", L(lease_ms), 0, 86400000, "worker silence that requeues its window (0: heartbeat-ms * liveness)" },
    { "grace-ms", "FARM_GRACE_MS", "MS", "0", L(grace_ms), 0, 86400000, "after a restart, time for live workers to report first (0: 2 * lease)" },
    { "max-attempts", "FARM_MAX_ATTEMPTS", "N", "3", L(max_attempts), 1, 100, "attempt budget per window" },
    { "max-job-fails", "FARM_MAX_JOB_FAILS", "N", "3", L(max_job_fails), 1, 1000, "failed windows after which a worker is kept off a job" },
    { "backoff-ms", "FARM_BACKOFF_MS", "MS", "1000", L(backoff_ms), 0, 3600000, "first retry delay (doubles per attempt)" },
    { "backoff-max-ms", "FARM_BACKOFF_MAX_MS", "MS", "60000", L(backoff_max_ms), 0, 86400000, "retry delay cap" },
    { "assembly-threads", "FARM_ASSEMBLY_THREADS", "N", "2", L(assembly_threads), 1, 64, "threads for shot assembly (verification has its own 2)" },
    { "sync", "FARM_SYNC", "full|normal", "full", S(sync), 0, 0, "SQLite synchronous mode (full: fsync every commit)" },
    { "curve-key", "FARMD_CURVE_KEY", "NAME", "", S(curve_key), 0, 0, "encrypt and authenticate with this CURVE keypair (farm keygen NAME; a NAME lives in $FARM_HOME/keys, else a path)" },
    { "curve-clients", "FARMD_CURVE_CLIENTS", "DIR", "", S(curve_clients), 0, 0, "with --curve-key: the public keys let in, NAME.public files (default $FARM_HOME/keys/clients)" },
};
#define N_OPTS ((int)(sizeof OPTS / sizeof OPTS[0]))

static int set_opt(coord_config_t *c, const opt_t *o, const char *v, const char *src, char *err, size_t errlen)
{
    char *base = (char *)c + o->off;
    if (o->size) {
        if (strlen(v) >= o->size) { snprintf(err, errlen, "%s %s: value too long", src, o->flag); return -1; }
        memcpy(base, v, strlen(v) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < o->lo || x > o->hi) {
        snprintf(err, errlen, "%s %s: '%s' is not allowed: an integer %ld..%ld", src, o->flag, v, o->lo, o->hi);
        return -1;
    }
    *(long *)base = x;
    return 0;
}

void coord_config_help(FILE *f)
{
    fprintf(f, "usage: farmd [OPTIONS]\n\nThe farm coordinator. Options (environment variable in brackets):\n");
    for (int i = 0; i < N_OPTS; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s %s", OPTS[i].flag, OPTS[i].arg);
        fprintf(f, "  %-26s %s [%s, default %s]\n", lhs, OPTS[i].help, OPTS[i].env, *OPTS[i].def ? OPTS[i].def : "none");
    }
    fprintf(f, "  %-26s this text\n", "--help");
}

static const opt_t *find_opt(const char *name, size_t n)
{
    for (int i = 0; i < N_OPTS; i++)
        if (strlen(OPTS[i].flag) == n && !strncmp(OPTS[i].flag, name, n)) return &OPTS[i];
    return NULL;
}

static int finish(coord_config_t *c, char *err, size_t errlen)
{
    if (strcmp(c->sync, "full") && strcmp(c->sync, "normal")) {
        snprintf(err, errlen, "--sync: '%s' is not allowed: full or normal", c->sync);
        return -1;
    }
    if (!c->lease_ms) c->lease_ms = c->heartbeat_ms * c->liveness;
    if (!c->grace_ms) c->grace_ms = 2 * c->lease_ms;
    if (c->curve_clients[0] && !c->curve_key[0]) {
        snprintf(err, errlen, "--curve-clients needs --curve-key (farmd's own keypair, from `farm keygen NAME`)");
        return -1;
    }
    if (c->curve_key[0] && !c->curve_clients[0] &&
        snprintf(c->curve_clients, sizeof c->curve_clients, "%s/keys/clients", c->home) >= (int)sizeof c->curve_clients) {
        snprintf(err, errlen, "--home is too long");
        return -1;
    }
    return 0;
}

int coord_config_parse(coord_config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_OPTS; i++) {
        const char *env = getenv(OPTS[i].env);
        if (set_opt(c, &OPTS[i], OPTS[i].def, "default", err, errlen) != 0) return -1;
        if (env && *env && set_opt(c, &OPTS[i], env, OPTS[i].env, err, errlen) != 0) return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { coord_config_help(out); return 1; }
        if (strncmp(a, "--", 2)) { snprintf(err, errlen, "unexpected argument '%s'", a); return -1; }
        const char *eq = strchr(a + 2, '=');
        const opt_t *o = find_opt(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (!o) { snprintf(err, errlen, "unknown option '%s' (see --help)", a); return -1; }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) { snprintf(err, errlen, "option --%s needs a value", o->flag); return -1; }
        if (set_opt(c, o, v, "option", err, errlen) != 0) return -1;
    }
    return finish(c, err, errlen);
}
