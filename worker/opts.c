/* opts.c — table-driven option parsing and help for farm-worker (see opts.h). */
#include "worker/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const wrk_opt_t *opt_find(const wrk_opt_t *tab, int ntab, const char *name, size_t n)
{
    for (int i = 0; i < ntab; i++)
        if (strlen(tab[i].name) == n && !strncmp(tab[i].name, name, n)) return &tab[i];
    return NULL;
}

static int opt_store(const wrk_opt_t *o, void *dst, const char *v, char *err, size_t errlen)
{
    char *p = (char *)dst + o->off;
    if (o->kind == WRK_OPT_STR) {
        if (strlen(v) >= o->size) { snprintf(err, errlen, "--%s: value longer than %zu bytes", o->name, o->size - 1); return -1; }
        snprintf(p, o->size, "%s", v);
        return 0;
    }
    if (o->kind == WRK_OPT_LIST) {
        size_t n = strlen(p);
        if (n + strlen(v) + 2 > o->size) { snprintf(err, errlen, "--%s: too many values", o->name); return -1; }
        snprintf(p + n, o->size - n, "%s%s", n ? "," : "", v);
        return 0;
    }
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
