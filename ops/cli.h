/* cli.h — what every `farm` subcommand shares: the context (endpoint, --json, colour), the fixed
 * exit codes, table-driven options with generated help, the request/reply client to farmd, and the
 * output printer whose calls print either a human table or JSON (iproute2 json_print style: the
 * same calls, two renderings). Subcommands live in ops/cmd_*.c and are listed in ops/commands.c.
 */
#ifndef OPS_CLI_H
#define OPS_CLI_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "proto/curve.h"
#include "proto/json.h"
#include "proto/proto.h"

/* Exit codes (fixed and documented; `farm help` prints this table). */
typedef enum {
    OPS_EXIT_OK = 0,
    OPS_EXIT_ERROR = 1,          /* local error: file unreadable, stdout failed, bad reply */
    OPS_EXIT_USAGE = 2,          /* bad command line */
    OPS_EXIT_UNREACHABLE = 3,    /* farmd did not answer in time */
    OPS_EXIT_REFUSED = 4,        /* farmd answered with an error */
    OPS_EXIT_INVALID = 5,        /* the shot list is invalid (nothing was submitted) */
    OPS_EXIT_FAILED = 6,         /* wait: the job ended failed */
    OPS_EXIT_CANCELLED = 7,      /* wait: the job ended cancelled */
    OPS_EXIT_TIMEOUT = 8,        /* wait --timeout passed before the job ended */
} ops_exit_t;
typedef struct { int code; const char *name, *meaning; } ops_exit_doc_t;
extern const ops_exit_doc_t OPS_EXIT_CODES[];   /* terminated by {0, NULL} */

typedef struct {
    char coordinator[256];
    char curve_key[512], curve_server[512];   /* CURVE: this client's keypair, farmd's public key */
    proto_curve_client_t curve;  /* loaded from them at the first request */
    int  curve_loaded;
    int  json;
    int  color;                  /* resolved: TTY and not NO_COLOR and not --no-color */
    int  no_color;
    int  timeout_ms;
} ops_ctx_t;

/* ---- options: one table per command, help generated from it ---- */
typedef enum { OPS_OPT_STR, OPS_OPT_INT, OPS_OPT_FLAG } ops_optkind_t;
typedef struct {
    const char   *name;          /* without "--" */
    const char   *arg;           /* placeholder; NULL for flags */
    ops_optkind_t kind;
    void         *dst;           /* char[size] / int */
    size_t        size;
    long          lo, hi;
    const char   *help;
} ops_opt_t;

/* The global options (--coordinator, --curve-key, --curve-server, --json, --no-color, --timeout-ms)
 * bound to c. */
int  ops_global_opts(ops_ctx_t *c, ops_opt_t *out, int max);
/* Parses argv[1..) against the command's table plus the global options. Positionals go to pos
 * (exactly npos_min..npos_max of them). *help set on --help. 0 ok; -1 with err. */
int  ops_parse(ops_ctx_t *c, const ops_opt_t *tab, int ntab, int argc, char **argv,
               char **pos, int npos_min, int npos_max, int *npos, int *help, char *err, size_t errlen);
/* Prints "usage: farm CMD ARGS", the description and every option of the table and the globals. */
void ops_help(FILE *f, ops_ctx_t *c, const char *cmd, const char *args, const char *desc,
              const ops_opt_t *tab, int ntab);
/* Fills defaults (FARM_COORDINATOR, colour detection). Call before ops_parse. */
void ops_ctx_init(ops_ctx_t *c);
/* Finishes colour detection after parsing. */
void ops_ctx_ready(ops_ctx_t *c);

/* ---- client ---- */
/* Sends req and waits for the reply of type want (c->timeout_ms), over CURVE when c names keys (read
 * at the first request). 0 ok (rep initialised, free it); OPS_EXIT_UNREACHABLE / OPS_EXIT_ERROR with
 * err; OPS_EXIT_REFUSED when farmd refused this client's CURVE key; OPS_EXIT_USAGE for bad keys. */
int ops_request(ops_ctx_t *c, const proto_msg_t *req, int want, proto_msg_t *rep,
                char *err, size_t errlen);
/* QUERY kind (job, since, args) and parse the JSON answer. 0 ok (*out owned); else an exit code
 * with err (REFUSED when farmd answered an error status). */
int ops_query(ops_ctx_t *c, const char *kind, uint64_t job, uint64_t since, const char *args,
              proto_json_t **out, char *err, size_t errlen);
/* Parses a positive job id. 0 ok, -1 with err. */
int ops_job_id(const char *s, uint64_t *id, char *err, size_t errlen);

/* ---- output: the same calls render text or JSON ---- */
typedef struct {
    int json, color;
    FILE *f;
    proto_json_writer_t jw;
} ops_out_t;

void ops_out_init(ops_out_t *o, const ops_ctx_t *c, FILE *f);
void ops_out_open(ops_out_t *o, const char *key);      /* JSON object (key NULL at top/in lists) */
void ops_out_close(ops_out_t *o);
void ops_out_list(ops_out_t *o, const char *key);      /* JSON array */
void ops_out_list_end(ops_out_t *o);
/* JSON: "key": value. Text: printf(fmt, value) when fmt is non-NULL. */
void ops_out_str(ops_out_t *o, const char *key, const char *fmt, const char *v);
void ops_out_int(ops_out_t *o, const char *key, const char *fmt, int64_t v);
void ops_out_num(ops_out_t *o, const char *key, const char *fmt, double v);
/* Like ops_out_str, coloured by state name on a colour terminal. */
void ops_out_state(ops_out_t *o, const char *key, const char *fmt, const char *state);
/* Text only (ignored in JSON mode). */
void ops_out_text(ops_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON: prints the document and a newline. Both: checks ferror. 0 ok, -1 (stdout failed). */
int  ops_out_end(ops_out_t *o);

/* Small JSON readers for farmd answers (missing -> "" / 0). */
const char *ops_js(const proto_json_t *o, const char *key);
int64_t     ops_ji(const proto_json_t *o, const char *key);
/* 1 when a job/shot state is final (done, failed, cancelled). */
int ops_state_final(const char *state);

#endif
