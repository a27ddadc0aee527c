/* out.c — one set of printer calls, two renderings: a human table (text, optional colour) or JSON
 * through proto/json's streaming writer (see cli.h). */
#include "ops/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void ops_out_init(ops_out_t *o, const ops_ctx_t *c, FILE *f)
{
    memset(o, 0, sizeof *o);
    o->json = c->json;
    o->color = c->color;
    o->f = f;
    proto_json_w_init(&o->jw, 0);
}

static void key(ops_out_t *o, const char *k) { if (k) proto_json_w_key(&o->jw, k); }

void ops_out_open(ops_out_t *o, const char *k)  { if (o->json) { key(o, k); proto_json_w_begin_object(&o->jw); } }
void ops_out_close(ops_out_t *o)                { if (o->json) proto_json_w_end_object(&o->jw); }
void ops_out_list(ops_out_t *o, const char *k)  { if (o->json) { key(o, k); proto_json_w_begin_array(&o->jw); } }
void ops_out_list_end(ops_out_t *o)             { if (o->json) proto_json_w_end_array(&o->jw); }

void ops_out_str(ops_out_t *o, const char *k, const char *fmt, const char *v)
{
    if (o->json) { key(o, k); proto_json_w_str(&o->jw, v); }
    else if (fmt) fprintf(o->f, fmt, v ? v : "");
}

void ops_out_int(ops_out_t *o, const char *k, const char *fmt, int64_t v)
{
    if (o->json) { key(o, k); proto_json_w_int(&o->jw, v); }
    else if (fmt) fprintf(o->f, fmt, (long long)v);
}

void ops_out_num(ops_out_t *o, const char *k, const char *fmt, double v)
{
    if (o->json) { key(o, k); proto_json_w_num(&o->jw, v); }
    else if (fmt) fprintf(o->f, fmt, v);
}

static const char *state_color(const char *s)
{
    static const struct { const char *state, *sgr; } tab[] = {
        { "done", "32" }, { "verified", "32" }, { "running", "36" }, { "rendering", "36" },
        { "assembling", "36" }, { "failed", "31" }, { "lost", "31" }, { "cancelled", "33" },
        { "paused", "33" }, { "idle", "2" }, { "busy", "36" },
    };
    for (size_t i = 0; s && i < sizeof tab / sizeof tab[0]; i++) if (!strcmp(tab[i].state, s)) return tab[i].sgr;
    return NULL;
}

void ops_out_state(ops_out_t *o, const char *k, const char *fmt, const char *state)
{
    const char *sgr = o->color ? state_color(state) : NULL;
    if (o->json || !fmt || !sgr) { ops_out_str(o, k, fmt, state); return; }
    fprintf(o->f, "\033[%sm", sgr);
    fprintf(o->f, fmt, state);
    fprintf(o->f, "\033[0m");
}

void ops_out_text(ops_out_t *o, const char *fmt, ...)
{
    if (o->json) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->f, fmt, ap);
    va_end(ap);
}

int ops_out_end(ops_out_t *o)
{
    int rc = 0;
    if (o->json) {
        char *doc = NULL, err[128];
        size_t len = 0;
        if (proto_json_w_finish(&o->jw, &doc, &len, err, sizeof err) < 0) { fprintf(stderr, "farm: %s\n", err); rc = -1; }
        else { fwrite(doc, 1, len, o->f); fputc('\n', o->f); free(doc); }
    }
    proto_json_w_free(&o->jw);
    if (fflush(o->f) != 0 || ferror(o->f)) rc = -1;
    return rc;
}
