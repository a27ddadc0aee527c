/* opts.c — table-driven option parsing and help for farm-worker (see opts.h). */
#include "worker/opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const wrk_opt_t *opt_find(const wrk_opt_t *tab, int ntab, const char *name, size_t n)
{
    for (int i = 0; i < ntab; i++)
        if (strlen(tab[i].name) == n && !strncmp(tab[i].name, name, n)) return &tab[i];
    return NULL;
}

/* ---- one store function per kind: p is the destination field, v the argument ---- */

static int store_str(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= o->size) { snprintf(err, errlen, "--%s: value longer than %zu bytes", o->name, o->size - 1); return -1; }
    snprintf(p, o->size, "%s", v);
    return 0;
}

static int store_list(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(p);
    if (n + strlen(v) + 2 > o->size) { snprintf(err, errlen, "--%s: too many values", o->name); return -1; }
    snprintf(p + n, o->size - n, "%s%s", n ? "," : "", v);
    return 0;
}

static int store_int(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < o->lo || x > o->hi) {
        snprintf(err, errlen, "--%s: '%.40s' is not allowed: an integer %ld..%ld", o->name, v, o->lo, o->hi);
        return -1;
    }
    *(int *)p = (int)x;
    return 0;
}

static int store_arg(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    (void)o; (void)err; (void)errlen;
    *(const char **)p = v;
    return 0;
}

static int store_args(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    wrk_optv_t *a = (wrk_optv_t *)p;
    if (a->n == WRK_OPTV_MAX) { snprintf(err, errlen, "--%s: at most %d values", o->name, WRK_OPTV_MAX); return -1; }
    a->v[a->n++] = v;
    return 0;
}

static int store_real(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double x = o->kind == WRK_OPT_FLOAT ? strtof(v, &end) : strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        snprintf(err, errlen, "--%s: '%.40s' is not allowed: a finite number", o->name, v);
        return -1;
    }
    if (o->kind == WRK_OPT_FLOAT) *(float *)p = (float)x;
    else *(double *)p = x;
    return 0;
}

static int store_u64(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = *v == '-' ? 0 : strtoull(v, &end, 0);
    if (!end || errno || end == v || *end) {
        snprintf(err, errlen, "--%s: '%.40s' is not allowed: an unsigned 64-bit integer", o->name, v);
        return -1;
    }
    *(unsigned long long *)p = x;
    return 0;
}

typedef int (*opt_store_fn)(const wrk_opt_t *o, char *p, const char *v, char *err, size_t errlen);
static const opt_store_fn OPT_STORE[] = {
    [WRK_OPT_STR] = store_str,     [WRK_OPT_INT] = store_int,     [WRK_OPT_LIST] = store_list,
    [WRK_OPT_ARG] = store_arg,     [WRK_OPT_ARGS] = store_args,   [WRK_OPT_FLOAT] = store_real,
    [WRK_OPT_DOUBLE] = store_real, [WRK_OPT_U64] = store_u64,
};

static int opt_store(const wrk_opt_t *o, void *dst, const char *v, char *err, size_t errlen)
{
    return OPT_STORE[o->kind](o, (char *)dst + o->off, v, err, errlen);
}

int wrk_opts_parse(const wrk_opt_t *tab, int ntab, void *dst, int argc, char **argv,
                   char **pos, int maxpos, int *npos, int *help, char *err, size_t errlen)
{
    *npos = 0; *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { *help = 1; continue; }
        if (strncmp(a, "--", 2)) {
            if (*npos == maxpos) { snprintf(err, errlen, "unexpected argument '%.60s'", a); return -1; }
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const wrk_opt_t *o = opt_find(tab, ntab, a + 2, n);
        if (!o) { snprintf(err, errlen, "unknown option '%.60s' (see --help)", a); return -1; }
        if (o->kind == WRK_OPT_FLAG) {
            if (eq) { snprintf(err, errlen, "--%s takes no value", o->name); return -1; }
            *(int *)((char *)dst + o->off) = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) { snprintf(err, errlen, "--%s needs a value (%s)", o->name, o->arg); return -1; }
        if (opt_store(o, dst, v, err, errlen) < 0) return -1;
    }
    return 0;
}

void wrk_opts_help(FILE *f, const char *usage, const wrk_opt_t *tab, int ntab)
{
    fprintf(f, "%s\n\noptions:\n", usage);
    for (int i = 0; i < ntab; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", tab[i].name, tab[i].arg ? " " : "", tab[i].arg ? tab[i].arg : "");
        fprintf(f, "  %-28s %s\n", left, tab[i].help);
    }
    fprintf(f, "  %-28s %s\n", "--help", "show this help");
}

int wrk_opts_command(const char *cmd, const char *usage, const wrk_opt_t *tab, int ntab, void *dst,
                     int argc, char **argv)
{
    char err[512];
    int help = 0, npos = 0;
    if (wrk_opts_parse(tab, ntab, dst, argc, argv, NULL, 0, &npos, &help, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return -1;
    }
    if (help) wrk_opts_help(stdout, usage, tab, ntab);
    return help;
}
