/* cli.c — farm CLI shared plumbing: context, exit-code table, table-driven options and help,
 * small JSON readers (see cli.h). */
#include "ops/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const ops_exit_doc_t OPS_EXIT_CODES[] = {
    { OPS_EXIT_OK, "ok", "success (wait: the job is done)" },
    { OPS_EXIT_ERROR, "error", "local error (file unreadable, output failed, malformed reply)" },
    { OPS_EXIT_USAGE, "usage", "bad command line" },
    { OPS_EXIT_UNREACHABLE, "unreachable", "farmd did not answer in time" },
    { OPS_EXIT_REFUSED, "refused", "farmd answered with an error" },
    { OPS_EXIT_INVALID, "invalid", "the shot list is invalid; nothing was submitted" },
    { OPS_EXIT_FAILED, "failed", "wait: the job ended failed" },
    { OPS_EXIT_CANCELLED, "cancelled", "wait: the job ended cancelled" },
    { OPS_EXIT_TIMEOUT, "timeout", "wait: --timeout passed before the job ended" },
    { 0, NULL, NULL },
};

void ops_ctx_init(ops_ctx_t *c)
{
    const char *ep = getenv("FARM_COORDINATOR");
    memset(c, 0, sizeof *c);
    snprintf(c->coordinator, sizeof c->coordinator, "%s", ep && *ep ? ep : "tcp://127.0.0.1:7600");
    const char *ck = getenv("FARM_CURVE_KEY"), *cs = getenv("FARM_CURVE_SERVER");
    snprintf(c->curve_key, sizeof c->curve_key, "%s", ck ? ck : "");
    snprintf(c->curve_server, sizeof c->curve_server, "%s", cs ? cs : "");
    c->timeout_ms = 5000;
}

void ops_ctx_ready(ops_ctx_t *c)
{
    const char *nc = getenv("NO_COLOR");
    c->color = !c->no_color && !c->json && !(nc && *nc) && isatty(STDOUT_FILENO);
}

int ops_global_opts(ops_ctx_t *c, ops_opt_t *out, int max)
{
    const ops_opt_t g[] = {
        { "coordinator", "ENDPOINT", OPS_OPT_STR, c->coordinator, sizeof c->coordinator, 0, 0,
          "farmd endpoint (env FARM_COORDINATOR, default tcp://127.0.0.1:7600)" },
        { "curve-key", "NAME", OPS_OPT_STR, c->curve_key, sizeof c->curve_key, 0, 0,
          "this client's CURVE keypair from `farm keygen NAME` (in $FARM_HOME/keys, or a path; env FARM_CURVE_KEY)" },
        { "curve-server", "NAME", OPS_OPT_STR, c->curve_server, sizeof c->curve_server, 0, 0,
          "farmd's CURVE public key NAME.public (env FARM_CURVE_SERVER)" },
        { "json", NULL, OPS_OPT_FLAG, &c->json, 0, 0, 0, "print JSON instead of text" },
        { "no-color", NULL, OPS_OPT_FLAG, &c->no_color, 0, 0, 0, "no colour (also when NO_COLOR is set or stdout is not a TTY)" },
        { "timeout-ms", "MS", OPS_OPT_INT, &c->timeout_ms, 0, 100, 3600000, "how long to wait for farmd's answer (default 5000)" },
    };
    int n = (int)(sizeof g / sizeof g[0]);
    for (int i = 0; i < n && i < max; i++) out[i] = g[i];
    return n < max ? n : max;
}

static const ops_opt_t *opt_find(const ops_opt_t *t, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(t[i].name) == len && !strncmp(t[i].name, name, len)) return &t[i];
    return NULL;
}

static int opt_store(const ops_opt_t *o, const char *v, char *err, size_t errlen)
{
    if (o->kind == OPS_OPT_STR) {
        if (strlen(v) >= o->size) { snprintf(err, errlen, "--%s: value longer than %zu bytes", o->name, o->size - 1); return -1; }
        snprintf(o->dst, o->size, "%s", v);
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < o->lo || x > o->hi) {
        snprintf(err, errlen, "--%s: '%.40s' is not allowed: an integer %ld..%ld", o->name, v, o->lo, o->hi);
        return -1;
    }
    *(int *)o->dst = (int)x;
    return 0;
}

/* One "--name[=value]" argument at argv[*i]. */
static int parse_opt(const ops_opt_t *all, int n, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *a = argv[*i], *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    const ops_opt_t *o = opt_find(all, n, a + 2, len);
    if (!o) { snprintf(err, errlen, "unknown option '%.60s'", a); return -1; }
    if (o->kind == OPS_OPT_FLAG) {
        if (eq) { snprintf(err, errlen, "--%s takes no value", o->name); return -1; }
        *(int *)o->dst = 1;
        return 0;
    }
    const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!v) { snprintf(err, errlen, "--%s needs a value (%s)", o->name, o->arg); return -1; }
    return opt_store(o, v, err, errlen);
}

int ops_parse(ops_ctx_t *c, const ops_opt_t *tab, int ntab, int argc, char **argv,
              char **pos, int npos_min, int npos_max, int *npos, int *help, char *err, size_t errlen)
{
    ops_opt_t all[48];
    int n = 0;
    for (int i = 0; i < ntab && n < 40; i++) all[n++] = tab[i];
    n += ops_global_opts(c, all + n, 48 - n);
    *npos = 0; *help = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { *help = 1; continue; }
        if (!strcmp(argv[i], "--") ) { for (i++; i < argc && *npos < npos_max; i++) pos[(*npos)++] = argv[i]; break; }
        if (!strncmp(argv[i], "--", 2)) { if (parse_opt(all, n, argc, argv, &i, err, errlen) < 0) return -1; continue; }
        if (*npos == npos_max) { snprintf(err, errlen, "unexpected argument '%.60s'", argv[i]); return -1; }
        pos[(*npos)++] = argv[i];
    }
    if (!*help && *npos < npos_min) { snprintf(err, errlen, "missing argument (see --help)"); return -1; }
    ops_ctx_ready(c);
    return 0;
}

static void help_rows(FILE *f, const ops_opt_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", t[i].name, t[i].arg ? " " : "", t[i].arg ? t[i].arg : "");
        fprintf(f, "  %-24s %s\n", left, t[i].help);
    }
}

void ops_help(FILE *f, ops_ctx_t *c, const char *cmd, const char *args, const char *desc,
              const ops_opt_t *tab, int ntab)
{
    ops_opt_t g[8];
    int ng = ops_global_opts(c, g, 8);
    fprintf(f, "usage: farm %s [OPTIONS]%s%s\n\n%s\n", cmd, args && *args ? " " : "", args ? args : "", desc);
    if (ntab) { fprintf(f, "\noptions:\n"); help_rows(f, tab, ntab); }
    fprintf(f, "\nglobal options:\n");
    help_rows(f, g, ng);
}

int ops_job_id(const char *s, uint64_t *id, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!s || errno || v == 0 || *end) { snprintf(err, errlen, "'%.40s' is not a job id (a positive integer)", s ? s : ""); return -1; }
    *id = v;
    return 0;
}

const char *ops_js(const proto_json_t *o, const char *key)
{
    const char *s = proto_json_str(proto_json_get(o, key));
    return s ? s : "";
}

int64_t ops_ji(const proto_json_t *o, const char *key)
{
    const proto_json_t *v = proto_json_get(o, key);
    return v && v->type == PROTO_JSON_NUMBER ? (v->is_int ? v->i64 : (int64_t)v->num) : 0;
}

int ops_state_final(const char *s)
{
    return !strcmp(s, "done") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}
