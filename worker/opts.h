/* opts.h — table-driven command-line options for farm-worker subcommands: each option is one row
 * {name, argument, kind, where it is stored, range, help}; parsing and --help text both come from
 * the table. Accepts "--name value" and "--name=value". Not getopt: no short options, no permuting
 * of positional arguments (positionals are returned in order).
 */
#ifndef WORKER_OPTS_H
#define WORKER_OPTS_H
#include <stddef.h>
#include <stdio.h>

typedef enum {
    WRK_OPT_STR,      /* char[size] */
    WRK_OPT_INT,      /* int within [lo, hi] */
    WRK_OPT_FLAG,     /* int set to 1, no argument */
    WRK_OPT_LIST,     /* char[size]: repeated values joined with ',' */
} wrk_optkind_t;

typedef struct {
    const char   *name;        /* without the leading "--" */
    const char   *arg;         /* placeholder in help, e.g. "MS"; NULL for flags */
    wrk_optkind_t kind;
    size_t        off, size;   /* where in the destination struct */
    long          lo, hi;
    const char   *help;
} wrk_opt_t;

/* Parses argv[1..argc) into dst. Positionals go to pos[0..*npos) (at most maxpos). *help set on
 * --help/-h. 0 ok; -1 with err naming the option and what is allowed. */
int  wrk_opts_parse(const wrk_opt_t *tab, int ntab, void *dst, int argc, char **argv,
                    char **pos, int maxpos, int *npos, int *help, char *err, size_t errlen);
void wrk_opts_help(FILE *f, const char *usage, const wrk_opt_t *tab, int ntab);

#endif
