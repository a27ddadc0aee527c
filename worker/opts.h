/* opts.h — table-driven command-line options for farm-worker and its subcommands (run, forward,
 * sample, encode, decode, render): each option is one row {name, argument, kind, where it is
 * stored, range, help}; parsing and --help text both come from the table. Accepts "--name value"
 * and "--name=value". Not getopt: no short options, no permuting of positional arguments
 * (positionals are returned in order).
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
    WRK_OPT_ARG,      /* const char *: the argument itself (argv outlives the parse), no length limit */
    WRK_OPT_ARGS,     /* wrk_optv_t: repeated arguments in order, at most WRK_OPTV_MAX */
    WRK_OPT_FLOAT,    /* float, finite */
    WRK_OPT_DOUBLE,   /* double, finite */
    WRK_OPT_U64,      /* unsigned long long as strtoull base 0 reads it, no sign */
} wrk_optkind_t;

#define WRK_OPTV_MAX 64
typedef struct {
    const char *v[WRK_OPTV_MAX];
    int         n;
} wrk_optv_t;

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

/* The front of a subcommand that takes no positionals: parses argv into dst (defaults already in
 * it). 0 parsed; 1 --help asked: the help is on stdout; -1 usage error: "CMD: message" on stderr. */
int  wrk_opts_command(const char *cmd, const char *usage, const wrk_opt_t *tab, int ntab, void *dst,
                      int argc, char **argv);

#endif
