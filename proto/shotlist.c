/* shotlist.c — parse and validate shot lists (CSV with a header row, or a JSON array of objects).
 *
 * Both syntaxes are reduced to the same thing — for each row, a list of (field name, text value)
 * pairs — and one field table (FIELDS below) converts and range-checks every value, so CSV and JSON
 * accept exactly the same values and produce the same messages. Cross-field rules (window shape,
 * dit sizes, unique names) run after a row's fields are set. Every problem is collected (up to
 * MAX_ERRORS) and nothing is returned unless the whole list is valid.
 *
 * Deliberately not here: compiling shots into windows (coordinator) and anything that touches disk.
 */
#include "proto/shotlist.h"
#include "proto/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS      50
#define DIT_MAX_WINDOW  49     /* CogVideoX: 13 latent frames */
#define WINDOW_MAX      257    /* testcard: any 1+4k up to this */

const proto_output_format_t PROTO_OUTPUT_FORMATS[] = {
    { "prores4444", ".mov",  "ProRes 4444, yuva444p10le, straight alpha" },
    { "vp9",        ".webm", "VP9 with alpha, yuva420p, straight alpha" },
    { "ffv1",       ".mkv",  "FFV1 lossless RGBA, straight alpha" },
    { "png-mov",    ".mov",  "PNG in QuickTime, rgba, straight alpha" },
    { "qtrle",      ".mov",  "QuickTime Animation, argb, straight alpha" },
    { "exr",        "",      "OpenEXR half-float sequence, premultiplied alpha" },
    { "png",        "",      "PNG sequence, 8-bit rgba, straight alpha" },
    { "png16",      "",      "PNG sequence, 16-bit rgba, straight alpha" },
    { NULL, NULL, NULL },
};
const char *const PROTO_ENGINE_NAMES[]   = { "testcard", "dit", NULL };
const char *const PROTO_STRATEGY_NAMES[] = { "independent", "chain", "anchor", "anchor-causal", NULL };

/* ---------------------------------------------------------------- error collection */

typedef struct {
    char  *buf;  size_t len, cap;
    int    count;
} errs_t;

static void errs_add(errs_t *e, int row, const char *field, const char *fmt, ...)
{
    if (++e->count > MAX_ERRORS) return;
    char line[768], where[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (row < 0) snprintf(where, sizeof where, "file");
    else if (field) snprintf(where, sizeof where, "row %d, field '%s'", row, field);
    else snprintf(where, sizeof where, "row %d", row);
    size_t need = strlen(where) + strlen(line) + 4;
    if (e->len + need + 1 > e->cap) {
        size_t cap = (e->cap ? e->cap * 2 : 1024) + need;
        char *b = realloc(e->buf, cap);
        if (!b) return;
        e->buf = b; e->cap = cap;
    }
    e->len += (size_t)snprintf(e->buf + e->len, e->cap - e->len, "%s: %s\n", where, line);
}

static void errs_emit(errs_t *e, char *err, size_t errlen)
{
    if (!err || !errlen) return;
    snprintf(err, errlen, "%s", e->buf ? e->buf : "shot list: unknown error\n");
    size_t n = strlen(err);
    if (e->count > MAX_ERRORS && n + 1 < errlen)
        snprintf(err + n, errlen - n, "(%d errors in total; the first %d are shown)\n", e->count, MAX_ERRORS);
    n = strlen(err);
    if (n && err[n - 1] == '\n') err[n - 1] = 0;
}

/* A value shown in a message: at most 40 bytes, non-printable bytes as \xNN. */
static const char *show(const char *v, char out[200])
{
    size_t o = 0;
    for (size_t i = 0; v[i] && o < 180; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i == 40) { o += (size_t)snprintf(out + o, 200 - o, "..."); break; }
        if (c >= 0x20 && c < 0x7f) out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, 200 - o, "\\x%02x", c);
    }
    out[o] = 0;
    return out;
}

/* ---------------------------------------------------------------- value converters */

typedef enum { K_NAME, K_PROMPT, K_TEXT, K_INT, K_U64, K_DBL, K_ENUM, K_OUTPUTS } kind_t;

typedef struct {
    const char *name;
    kind_t      kind;
    size_t      off;            /* offset in proto_shot_t */
    size_t      size;           /* char fields: buffer size */
    double      lo, hi;         /* numeric range (K_DBL: lo exclusive when lo_open) */
    int         lo_open;
    const char *const *names;   /* K_ENUM */
    int         required;
    const char *allowed;        /* "what is allowed" in messages and docs */
} field_t;

#define OFF(f) offsetof(proto_shot_t, f), sizeof(((proto_shot_t *)0)->f)
static const field_t FIELDS[] = {
    { "name", K_NAME, OFF(name), 0, 0, 0, NULL, 1,
      "1..64 characters [A-Za-z0-9._-], starting with a letter or digit, no '..', unique in the list" },
    { "prompt", K_PROMPT, OFF(prompt), 0, 0, 0, NULL, 0, "valid UTF-8 text of at most 2000 bytes" },
    { "negative_prompt", K_PROMPT, OFF(negative_prompt), 0, 0, 0, NULL, 0, "valid UTF-8 text of at most 2000 bytes" },
    { "frames", K_INT, OFF(frames), 1, 100000, 0, NULL, 1, "an integer 1..100000" },
    { "fps", K_DBL, OFF(fps), 0, 240, 1, NULL, 0, "a number > 0 and <= 240" },
    { "width", K_INT, OFF(width), 16, 4096, 0, NULL, 0, "an even integer 16..4096 (dit: a multiple of 16)" },
    { "height", K_INT, OFF(height), 16, 4096, 0, NULL, 0, "an even integer 16..4096 (dit: a multiple of 16)" },
    { "seed", K_U64, OFF(seed), 0, 0, 0, NULL, 0, "an integer 0..18446744073709551615" },
    { "steps", K_INT, OFF(steps), 1, 1000, 0, NULL, 0, "an integer 1..1000" },
    { "guidance", K_DBL, OFF(guidance), 0, 50, 0, NULL, 0, "a number 0..50" },
    { "model", K_TEXT, OFF(model), 0, 0, 0, NULL, 0, "a model name or directory, at most 255 bytes" },
    { "lora", K_TEXT, OFF(lora), 0, 0, 0, NULL, 0, "a LoRA file path, at most 255 bytes" },
    { "engine", K_ENUM, OFF(engine), 0, 0, 0, PROTO_ENGINE_NAMES, 0, "one of: testcard, dit" },
    { "window", K_INT, OFF(window), 1, WINDOW_MAX, 0, NULL, 0, "an integer 1+4k, 1..257 (dit: at most 49)" },
    { "overlap", K_INT, OFF(overlap), 0, WINDOW_MAX - 1, 0, NULL, 0, "an integer 0..window-1" },
    { "strategy", K_ENUM, OFF(strategy), 0, 0, 0, PROTO_STRATEGY_NAMES, 0, "one of: independent, chain, anchor, anchor-causal" },
    { "outputs", K_OUTPUTS, OFF(outputs), 0, 0, 0, NULL, 0,
      "1..8 distinct format names separated by ';' or ',' (prores4444, vp9, ffv1, png-mov, qtrle, exr, png, png16)" },
    { "priority", K_INT, OFF(priority), -100, 100, 0, NULL, 0, "an integer -100..100" },
};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const field_t *field_find(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++) if (!strcmp(FIELDS[i].name, name)) return &FIELDS[i];
    return NULL;
}

/* Strict decimal integer: optional '-', digits only (surrounding spaces ignored). */
static int parse_i64(const char *v, long long *out)
{
    while (*v == ' ') v++;
    const char *p = v + (*v == '-');
    if (*p < '0' || *p > '9') return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ') end++;
    if (errno || *end) return -1;
    *out = x;
    return 0;
}

static int parse_u64(const char *v, unsigned long long *out)
{
    while (*v == ' ') v++;
    if (*v < '0' || *v > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    while (*end == ' ') end++;
    if (errno || *end) return -1;
    *out = x;
    return 0;
}

/* Plain decimal number (digits, '.', exponent); no hex, inf or nan. */
static int parse_dbl(const char *v, double *out)
{
    while (*v == ' ') v++;
    if (!*v || strspn(v, "0123456789.eE+- ") != strlen(v)) return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (*end == ' ') end++;
    if (errno || *end || end == v || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

static int name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > PROTO_SHOT_NAME_MAX || strstr(v, "..")) return 0;
    if (!strchr("0123456789", v[0]) && !((v[0] | 32) >= 'a' && (v[0] | 32) <= 'z')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        int ok = (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static int text_ok(const char *v, size_t max, const char **why)
{
    size_t n = strlen(v);
    if (proto_json_utf8_check(v, n) != n) { *why = "invalid UTF-8"; return 0; }
    if (n > max) { *why = "too long"; return 0; }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\n' && v[i] != '\t') { *why = "control character"; return 0; }
    return 1;
}

static int set_outputs(proto_shot_t *s, const char *v)
{
    char buf[512];
    if (strlen(v) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", v);
    s->n_outputs = 0;
    for (char *save = NULL, *t = strtok_r(buf, ";,| \t", &save); t; t = strtok_r(NULL, ";,| \t", &save)) {
        if (!proto_output_format(t) || s->n_outputs == PROTO_OUTPUTS_MAX) return -1;
        for (int k = 0; k < s->n_outputs; k++) if (!strcmp(s->outputs[k], t)) return -1;
        snprintf(s->outputs[s->n_outputs++], sizeof s->outputs[0], "%s", t);
    }
    return s->n_outputs ? 0 : -1;
}

static int enum_ok(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++) if (!strcmp(names[i], v)) return 1;
    return 0;
}

/* Converts and stores one value; on failure reports it and returns -1. */
static int field_set(proto_shot_t *s, const field_t *f, const char *v, int row, errs_t *e)
{
    char shown[200];
    const char *why = "";
    char *dst = (char *)s + f->off;
    long long i; unsigned long long u; double d;
    int ok = 0;
    switch (f->kind) {
    case K_NAME:    ok = name_ok(v); if (ok) snprintf(dst, f->size, "%s", v); break;
    case K_PROMPT:  ok = text_ok(v, PROTO_PROMPT_MAX, &why); if (ok) snprintf(dst, f->size, "%s", v); break;
    case K_TEXT:    ok = text_ok(v, f->size - 1, &why); if (ok) snprintf(dst, f->size, "%s", v); break;
    case K_ENUM:    ok = enum_ok(f->names, v); if (ok) snprintf(dst, f->size, "%s", v); break;
    case K_OUTPUTS: ok = set_outputs(s, v) == 0; break;
    case K_INT:     ok = parse_i64(v, &i) == 0 && i >= f->lo && i <= f->hi; if (ok) *(int *)dst = (int)i; break;
    case K_U64:     ok = parse_u64(v, &u) == 0; if (ok) *(uint64_t *)dst = u; break;
    case K_DBL:
        ok = parse_dbl(v, &d) == 0 && (f->lo_open ? d > f->lo : d >= f->lo) && d <= f->hi;
        if (ok) *(double *)dst = d;
        break;
    }
    if (ok) return 0;
    if (f->kind == K_PROMPT || f->kind == K_TEXT)
        errs_add(e, row, f->name, "value of %zu bytes is not allowed (%s): %s", strlen(v), why, f->allowed);
    else
        errs_add(e, row, f->name, "'%s' is not allowed: %s", show(v, shown), f->allowed);
    return -1;
}

/* ---------------------------------------------------------------- rows */

typedef struct {
    const char *keys[32];
    const char *vals[32];
    int n;
} row_t;

/* `chain` (issue #8) pins window k+1's first latent frames to window k's last ones: a shot longer than
 * its window needs an overlap, and on the dit engine one of 1+4k frames, so that the windows start
 * 4·j frames apart and the pinned latent frames stand for the same shot frames in both windows (a
 * latent frame is one frame, then groups of 4). */
static void chain_rules(const proto_shot_t *s, int dit, int row, errs_t *e)
{
    if (strcmp(s->strategy, "chain") || s->frames <= s->window || s->overlap >= s->window) return;
    if (s->overlap < 1) {
        errs_add(e, row, "overlap", "'0' is not allowed with strategy chain on a shot longer than its window: window k+1 "
                 "continues from window k's last overlap frames; use at least 1%s", dit ? " (dit: 1+4k, e.g. 5)" : "");
    } else if (dit && (s->overlap - 1) % 4) {
        int lo = 1 + 4 * ((s->overlap - 1) / 4), hi = lo + 4;
        char alt[32] = "";
        if (hi < s->window) snprintf(alt, sizeof alt, " or %d", hi);
        errs_add(e, row, "overlap", "'%d' is not allowed with strategy chain and engine dit: the pinned latent frames of "
                 "neighbouring windows line up only when overlap is 1+4k; use %d%s", s->overlap, lo, alt);
    }
}

/* Applies a row onto defaults, then cross-field rules. Returns 0 when the row is valid. */
static int row_apply(proto_shot_t *s, const row_t *r, int row, errs_t *e)
{
    int before = e->count;
    unsigned seen = 0;
    proto_shot_defaults(s);
    for (int k = 0; k < r->n; k++) {
        const field_t *f = field_find(r->keys[k]);
        if (!f) continue;                                  /* unknown names were reported already */
        seen |= 1u << (f - FIELDS);
        if (r->vals[k]) field_set(s, f, r->vals[k], row, e);   /* NULL: present but already refused */
    }
    for (size_t k = 0; k < N_FIELDS; k++)
        if (FIELDS[k].required && !(seen & (1u << k)))
            errs_add(e, row, FIELDS[k].name, "missing (required): %s", FIELDS[k].allowed);
    if (e->count != before) return -1;
    int dit = !strcmp(s->engine, "dit");
    if ((s->window - 1) % 4 || (dit && s->window > DIT_MAX_WINDOW))
        errs_add(e, row, "window", "'%d' is not allowed: %s", s->window, "an integer 1+4k, 1..257 (dit: at most 49)");
    if (s->overlap >= s->window)
        errs_add(e, row, "overlap", "'%d' is not allowed: an integer 0..window-1 (window is %d)", s->overlap, s->window);
    const char *dims[2] = { "width", "height" }; int val[2] = { s->width, s->height };
    for (int k = 0; k < 2; k++)
        if (val[k] % (dit ? 16 : 2))
            errs_add(e, row, dims[k], "'%d' is not allowed: %s with engine %s", val[k],
                     dit ? "a multiple of 16" : "an even number", s->engine);
    if (dit && !s->prompt[0]) errs_add(e, row, "prompt", "missing: the dit engine needs a non-empty prompt");
    chain_rules(s, dit, row, e);
    return e->count != before ? -1 : 0;
}

static int shots_push(proto_shotlist_t *l, int *cap, errs_t *e)
{
    if (l->n >= PROTO_SHOTS_MAX) {
        if (l->n == PROTO_SHOTS_MAX) errs_add(e, -1, NULL, "more than %d shots: split the list", PROTO_SHOTS_MAX);
        l->n++;
        return -1;
    }
    if (l->n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        proto_shot_t *p = realloc(l->shots, (size_t)nc * sizeof *p);
        if (!p) { errs_add(e, -1, NULL, "out of memory"); return -1; }
        l->shots = p; *cap = nc;
    }
    l->n++;
    return 0;
}

static void check_unique(const proto_shotlist_t *l, const int *rows, errs_t *e)
{
    for (int i = 1; i < l->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(l->shots[i].name, l->shots[j].name)) {
                errs_add(e, rows[i], "name", "'%s' is not allowed: duplicate of row %d (names must be unique)",
                         l->shots[i].name, rows[j]);
                break;
            }
}

/* ---------------------------------------------------------------- CSV (RFC 4180) */

typedef struct {
    const char *s; size_t n, i;
    char *cell; size_t clen, ccap;
} csv_t;

static int csv_putc(csv_t *c, char ch)
{
    if (c->clen + 2 > c->ccap) {
        size_t cap = c->ccap ? c->ccap * 2 : 256;
        char *b = realloc(c->cell, cap);
        if (!b) return -1;
        c->cell = b; c->ccap = cap;
    }
    c->cell[c->clen++] = ch;
    c->cell[c->clen] = 0;
    return 0;
}

/* Reads one field into c->cell. *end_rec set at end of record. -1 with why on a syntax error. */
static int csv_field(csv_t *c, int *end_rec, const char **why)
{
    c->clen = 0;
    if (!c->cell && csv_putc(c, 0) < 0) { *why = "out of memory"; return -1; }
    c->clen = 0; c->cell[0] = 0;
    int quoted = c->i < c->n && c->s[c->i] == '"';
    if (quoted) c->i++;
    for (; c->i < c->n; c->i++) {
        char ch = c->s[c->i];
        if (quoted && ch == '"') {
            if (c->i + 1 < c->n && c->s[c->i + 1] == '"') { c->i++; if (csv_putc(c, '"')) goto oom; continue; }
            quoted = 2; c->i++;
            break;
        }
        if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) break;
        if (!quoted && ch == '"') { *why = "a '\"' inside an unquoted field (quote the whole field, double inner quotes)"; return -1; }
        if (ch == 0) { *why = "a NUL byte"; return -1; }
        if (csv_putc(c, ch)) goto oom;
    }
    if (quoted == 1) { *why = "a quoted field that never ends"; return -1; }
    if (c->i >= c->n) { *end_rec = 1; return 0; }
    char ch = c->s[c->i];
    if (ch == ',') { c->i++; *end_rec = 0; return 0; }
    if (ch == '\r' && c->i + 1 < c->n && c->s[c->i + 1] == '\n') c->i++;
    else if (ch == '\r') { *why = "a bare CR (use LF or CRLF line ends)"; return -1; }
    else if (ch != '\n') { *why = "text after a closing quote"; return -1; }
    c->i++;
    *end_rec = 1;
    return 0;
oom:
    *why = "out of memory";
    return -1;
}

/* Reads one record into heap strings vals[0..*n). Returns 0, 1 at EOF, -1 on syntax error. */
static int csv_record(csv_t *c, char **vals, int max, int *n, const char **why)
{
    *n = 0;
    if (c->i >= c->n) return 1;
    int end = 0;
    while (!end) {
        if (csv_field(c, &end, why) < 0) return -1;
        if (*n == max) { *why = "too many fields (at most 32)"; return -1; }
        if (!(vals[*n] = strdup(c->cell ? c->cell : ""))) { *why = "out of memory"; return -1; }
        (*n)++;
    }
    return 0;
}

static void free_vals(char **v, int n) { for (int i = 0; i < n; i++) free(v[i]); }

static int csv_is_blank(char **v, int n) { return n == 1 && v[0][0] == 0; }

/* Header row: every column must be a known field, none twice. */
static int csv_header(char **hdr, int nh, errs_t *e)
{
    int before = e->count;
    for (int k = 0; k < nh; k++) {
        if (!field_find(hdr[k])) {
            char shown[200];
            errs_add(e, 0, hdr[k], "unknown column '%s': allowed columns are name, prompt, negative_prompt, "
                     "frames, fps, width, height, seed, steps, guidance, model, lora, engine, window, overlap, "
                     "strategy, outputs, priority", show(hdr[k], shown));
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(hdr[j], hdr[k])) errs_add(e, 0, hdr[k], "column appears twice");
    }
    for (size_t k = 0; k < N_FIELDS; k++) {
        if (!FIELDS[k].required) continue;
        int have = 0;
        for (int j = 0; j < nh; j++) if (!strcmp(hdr[j], FIELDS[k].name)) have = 1;
        if (!have) errs_add(e, 0, FIELDS[k].name, "required column is missing: %s", FIELDS[k].allowed);
    }
    return e->count != before ? -1 : 0;
}

static int csv_rows(csv_t *c, char **hdr, int nh, proto_shotlist_t *l, int **rows, errs_t *e)
{
    int cap = 0, row = 0, rc;
    char *vals[32]; int nv; const char *why;
    while ((rc = csv_record(c, vals, 32, &nv, &why)) == 0) {
        row++;
        if (csv_is_blank(vals, nv)) { free_vals(vals, nv); row--; continue; }
        if (nv != nh) errs_add(e, row, NULL, "has %d fields but the header has %d", nv, nh);
        else if (shots_push(l, &cap, e) == 0) {
            int *rr = realloc(*rows, (size_t)cap * sizeof *rr);
            if (rr) { *rows = rr; rr[l->n - 1] = row; }
            row_t r = { .n = nv };
            for (int k = 0; k < nv; k++) { r.keys[k] = hdr[k]; r.vals[k] = vals[k]; }
            if (!rr) errs_add(e, -1, NULL, "out of memory");
            else row_apply(&l->shots[l->n - 1], &r, row, e);
        }
        free_vals(vals, nv);
    }
    if (rc < 0) { errs_add(e, row + 1, NULL, "CSV syntax error: %s", why); free_vals(vals, nv); }
    if (row == 0 && e->count == 0) errs_add(e, 1, NULL, "no shots: the file has a header row but no data rows");
    return 0;
}

static void parse_csv(const char *text, size_t len, proto_shotlist_t *l, int **rows, errs_t *e)
{
    csv_t c = { .s = text, .n = len };
    char *hdr[32]; int nh = 0; const char *why;
    int rc = csv_record(&c, hdr, 32, &nh, &why);
    if (rc < 0) { errs_add(e, 0, NULL, "CSV syntax error in the header row: %s", why); free_vals(hdr, nh); goto out; }
    if (rc == 1) { errs_add(e, -1, NULL, "file is empty: expected a CSV header row or a JSON array"); goto out; }
    if (csv_header(hdr, nh, e) == 0) csv_rows(&c, hdr, nh, l, rows, e);
    free_vals(hdr, nh);
out:
    free(c.cell);
}

/* ---------------------------------------------------------------- JSON */

/* Text form of a JSON scalar for the field converters; arrays only for "outputs". NULL if not allowed. */
static char *json_value_text(const proto_json_t *v, const char *src, const char **why)
{
    char buf[512];
    switch (v->type) {
    case PROTO_JSON_STRING: return strdup(v->str);
    case PROTO_JSON_NUMBER: {
        size_t n = strspn(src + v->offset, "0123456789.eE+-");
        if (n >= sizeof buf) { *why = "number too long"; return NULL; }
        memcpy(buf, src + v->offset, n); buf[n] = 0;
        return strdup(buf);
    }
    case PROTO_JSON_ARRAY: {
        size_t o = 0; buf[0] = 0;
        for (size_t i = 0; i < v->len; i++) {
            if (v->kids[i].type != PROTO_JSON_STRING) { *why = "an array of strings is expected"; return NULL; }
            int w = snprintf(buf + o, sizeof buf - o, "%s%s", i ? ";" : "", v->kids[i].str);
            if (w < 0 || (size_t)w >= sizeof buf - o) { *why = "array too long"; return NULL; }
            o += (size_t)w;
        }
        return strdup(buf);
    }
    default:
        *why = v->type == PROTO_JSON_BOOL ? "a boolean is not a valid value" : "an object is not a valid value";
        return NULL;
    }
}

static void json_row(const proto_json_t *o, const char *src, int row, proto_shotlist_t *l, int **rows,
                     int *cap, errs_t *e)
{
    row_t r = { 0 };
    char *texts[32] = { 0 };
    int before = e->count;
    if (o->type != PROTO_JSON_OBJECT) { errs_add(e, row, NULL, "is a JSON %s: each row must be an object", proto_json_type_name(o->type)); return; }
    for (size_t k = 0; k < o->len; k++) {
        const proto_json_t *v = &o->kids[k];
        const char *why = "";
        char shown[200];
        if (!field_find(v->key)) { errs_add(e, row, v->key, "unknown field '%s': allowed fields are name, prompt, negative_prompt, frames, fps, width, height, seed, steps, guidance, model, lora, engine, window, overlap, strategy, outputs, priority", show(v->key, shown)); continue; }
        if (v->type == PROTO_JSON_NULL) continue;            /* null = use the default */
        if (r.n == 32) continue;
        char *t = json_value_text(v, src, &why);
        if (!t) errs_add(e, row, v->key, "%s: %s", why, field_find(v->key)->allowed);
        texts[r.n] = t; r.keys[r.n] = v->key; r.vals[r.n++] = t;
    }
    if (e->count == before && shots_push(l, cap, e) == 0) {
        int *rr = realloc(*rows, (size_t)*cap * sizeof *rr);
        if (!rr) errs_add(e, -1, NULL, "out of memory");
        else { *rows = rr; rr[l->n - 1] = row; row_apply(&l->shots[l->n - 1], &r, row, e); }
    } else if (e->count != before) {
        /* still report missing required fields and other per-field problems of this row */
        proto_shot_t tmp;
        row_apply(&tmp, &r, row, e);
    }
    for (int k = 0; k < r.n; k++) free(texts[k]);
}

static void parse_json(const char *text, size_t len, proto_shotlist_t *l, int **rows, errs_t *e)
{
    proto_json_t *root = NULL;
    char jerr[256];
    proto_json_limits_t lim = { .max_bytes = PROTO_SHOTLIST_MAX_BYTES, .max_depth = 8 };
    if (proto_json_parse(text, len, &lim, &root, NULL, jerr, sizeof jerr) < 0) {
        errs_add(e, -1, NULL, "JSON syntax error at %s", jerr);
        return;
    }
    int cap = 0;
    if (root->type != PROTO_JSON_ARRAY) errs_add(e, -1, NULL, "a JSON shot list must be an array of objects");
    else if (root->len == 0) errs_add(e, -1, NULL, "no shots: the JSON array is empty");
    for (size_t i = 0; root->type == PROTO_JSON_ARRAY && i < root->len; i++)
        json_row(&root->kids[i], text, (int)i + 1, l, rows, &cap, e);
    proto_json_free(&root);
}

/* ---------------------------------------------------------------- public API */

void proto_shot_defaults(proto_shot_t *s)
{
    memset(s, 0, sizeof *s);
    s->fps = 8;
    s->width = 720; s->height = 480;
    s->steps = 50;
    s->guidance = 6;
    snprintf(s->engine, sizeof s->engine, "dit");
    s->window = 49;
    s->overlap = 8;
    snprintf(s->strategy, sizeof s->strategy, "independent");
    s->n_outputs = 1;
    snprintf(s->outputs[0], sizeof s->outputs[0], "ffv1");
}

const proto_output_format_t *proto_output_format(const char *name)
{
    for (int i = 0; name && PROTO_OUTPUT_FORMATS[i].name; i++)
        if (!strcmp(PROTO_OUTPUT_FORMATS[i].name, name)) return &PROTO_OUTPUT_FORMATS[i];
    return NULL;
}

const char *proto_shot_field_name(int i)
{
    return i >= 0 && (size_t)i < N_FIELDS ? FIELDS[i].name : NULL;
}

const char *proto_shot_field_allowed(int i)
{
    return i >= 0 && (size_t)i < N_FIELDS ? FIELDS[i].allowed : NULL;
}

static int only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) if (!strchr(" \t\r\n", s[i])) return 0;
    return 1;
}

int proto_shotlist_parse(const char *text, size_t len, proto_shotlist_t *out, char *err, size_t errlen)
{
    errs_t e = { 0 };
    int *rows = NULL;
    memset(out, 0, sizeof *out);
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) { text += 3; len -= 3; }   /* UTF-8 BOM */
    size_t lead = 0;
    while (lead < len && strchr(" \t\r\n", text[lead]) && text[lead]) lead++;
    if (len > PROTO_SHOTLIST_MAX_BYTES)
        errs_add(&e, -1, NULL, "file is %zu bytes: at most %u bytes are allowed", len, PROTO_SHOTLIST_MAX_BYTES);
    else if (!text || only_space(text, len))
        errs_add(&e, -1, NULL, "file is empty: expected a CSV header row or a JSON array");
    else if (memchr(text, 0, len))
        errs_add(&e, -1, NULL, "file contains a NUL byte at offset %zu: not a text file",
                 (size_t)((const char *)memchr(text, 0, len) - text));
    else if (text[lead] == '[' || text[lead] == '{') parse_json(text, len, out, &rows, &e);
    else parse_csv(text + lead, len - lead, out, &rows, &e);
    if (!e.count) check_unique(out, rows, &e);
    free(rows);
    if (!e.count) return 0;
    errs_emit(&e, err, errlen);
    free(e.buf);
    proto_shotlist_free(out);
    return -1;
}

void proto_shotlist_free(proto_shotlist_t *l)
{
    if (!l) return;
    free(l->shots);
    l->shots = NULL;
    l->n = 0;
}
