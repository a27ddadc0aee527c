/* json.h — a small, strict JSON (RFC 8259) DOM parser, plus a streaming writer and a DOM printer.
 *
 * Used by shot lists, the CLI's --json output, farmd's QUERY answers and the model loader
 * (safetensors headers, config.json). Strict means: UTF-8 is validated (overlongs, surrogates
 * encoded as UTF-8, code points > U+10FFFF and lone \u surrogates are rejected), no comments, no
 * trailing commas, no NaN/Infinity, no leading zeros, duplicate object keys are an error, nesting
 * depth and input size are limited, and "\u0000" is refused so every string is a plain C string.
 * Errors carry the byte offset, line and column (1-based) of the offending byte.
 *
 * Numbers are kept as a double, plus an exact int64 when the value is integral and fits
 * (integers written without fraction/exponent are parsed exactly, not through the double).
 *
 * Not a streaming parser and not a general-purpose editor: a DOM is built once, read, destroyed.
 * Object lookup is a binary search over a sorted key index (safetensors headers have thousands of keys).
 */
#ifndef PROTO_JSON_H
#define PROTO_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    PROTO_JSON_NULL, PROTO_JSON_BOOL, PROTO_JSON_NUMBER,
    PROTO_JSON_STRING, PROTO_JSON_ARRAY, PROTO_JSON_OBJECT
} proto_json_type_t;

typedef struct proto_json proto_json_t;
struct proto_json {
    proto_json_type_t type;
    char    *key;          /* member name when this value sits in an object, else NULL */
    int      boolean;      /* BOOL: 0/1 */
    double   num;          /* NUMBER */
    int      is_int;       /* NUMBER: 1 when integral and within int64; then i64 is exact */
    int64_t  i64;
    char    *str;          /* STRING: NUL-terminated valid UTF-8 (no embedded NUL) */
    size_t   len;          /* STRING: bytes; ARRAY/OBJECT: number of children */
    proto_json_t *kids;    /* ARRAY/OBJECT: len children, in document order */
    uint32_t *sorted;      /* OBJECT: indices of kids sorted by key (built by the parser / on add) */
    size_t   cap;
    size_t   offset;       /* byte offset of the value in the parsed text (0 for built values) */
};

typedef struct {
    size_t max_bytes;      /* input size limit; 0 = PROTO_JSON_DEFAULT_MAX_BYTES */
    int    max_depth;      /* nesting limit;    0 = PROTO_JSON_DEFAULT_MAX_DEPTH; at most 1000 */
} proto_json_limits_t;
#define PROTO_JSON_DEFAULT_MAX_BYTES (256u << 20)
#define PROTO_JSON_DEFAULT_MAX_DEPTH 64

typedef struct {
    size_t offset;         /* byte offset of the error */
    int    line, column;   /* 1-based; column counts bytes */
    char   msg[160];
} proto_json_error_t;

/* Parses text[0..len) as one JSON value (surrounding whitespace allowed). lim and pos may be NULL.
 * 0 ok with *out owned by the caller (proto_json_free); -1 with err = "line L, column C (byte B): why"
 * and pos filled. */
int  proto_json_parse(const char *text, size_t len, const proto_json_limits_t *lim,
                      proto_json_t **out, proto_json_error_t *pos, char *err, size_t errlen);
void proto_json_free(proto_json_t **v);
const char *proto_json_type_name(proto_json_type_t t);

/* ---- reading (all accept NULL and return NULL / -1 for the wrong type) ---- */
const proto_json_t *proto_json_get(const proto_json_t *obj, const char *key);
const proto_json_t *proto_json_at(const proto_json_t *arr_or_obj, size_t i);
size_t      proto_json_len(const proto_json_t *arr_or_obj);   /* 0 for scalars */
const char *proto_json_str(const proto_json_t *v);            /* NULL unless STRING */
/* Typed member access: 0 ok, 1 absent (out untouched), -1 present with the wrong type/range. */
int proto_json_get_str(const proto_json_t *obj, const char *key, const char **out);
int proto_json_get_int(const proto_json_t *obj, const char *key, int64_t *out);
int proto_json_get_num(const proto_json_t *obj, const char *key, double *out);
int proto_json_get_bool(const proto_json_t *obj, const char *key, int *out);

/* ---- building (return NULL on OOM; add/push take ownership of v, also on failure) ---- */
proto_json_t *proto_json_new(proto_json_type_t t);
proto_json_t *proto_json_new_str(const char *s);
proto_json_t *proto_json_new_int(int64_t i);
proto_json_t *proto_json_new_num(double d);
proto_json_t *proto_json_new_bool(int b);
int proto_json_add(proto_json_t *obj, const char *key, proto_json_t *v);   /* 0 / -1 (dup key, OOM) */
int proto_json_push(proto_json_t *arr, proto_json_t *v);

/* ---- streaming writer (same calls for DOM printing, CLI --json output and farmd answers) ----
 * Commas, quoting and escaping are automatic; invalid UTF-8 in strings is written as U+FFFD and
 * NaN/Inf as null, so the output is always valid JSON. Structure errors (a value where a key is
 * needed, unbalanced end) and OOM set w->err; proto_json_w_finish reports them. */
typedef struct {
    char  *buf;  size_t len, cap;  /* output buffer (NUL-terminated) */
    int    pretty;                 /* 2-space indentation and newlines */
    int    depth;
    uint8_t first[PROTO_JSON_DEFAULT_MAX_DEPTH + 1];    /* no element written yet at this depth */
    uint8_t is_obj[PROTO_JSON_DEFAULT_MAX_DEPTH + 1];
    int    want_value;             /* a key was just written */
    int    err;
} proto_json_writer_t;

void proto_json_w_init(proto_json_writer_t *w, int pretty);
void proto_json_w_begin_object(proto_json_writer_t *w);
void proto_json_w_end_object(proto_json_writer_t *w);
void proto_json_w_begin_array(proto_json_writer_t *w);
void proto_json_w_end_array(proto_json_writer_t *w);
void proto_json_w_key(proto_json_writer_t *w, const char *key);
void proto_json_w_str(proto_json_writer_t *w, const char *s);       /* NULL writes null */
void proto_json_w_strn(proto_json_writer_t *w, const char *s, size_t n);
void proto_json_w_int(proto_json_writer_t *w, int64_t i);
void proto_json_w_num(proto_json_writer_t *w, double d);
void proto_json_w_bool(proto_json_writer_t *w, int b);
void proto_json_w_null(proto_json_writer_t *w);
void proto_json_w_value(proto_json_writer_t *w, const proto_json_t *v);   /* a whole DOM value */
/* 0 ok: *out (malloc'd, NUL-terminated, caller frees) and *len; -1 with err. Resets the writer. */
int  proto_json_w_finish(proto_json_writer_t *w, char **out, size_t *len, char *err, size_t errlen);
void proto_json_w_free(proto_json_writer_t *w);

/* Prints a DOM value as text (malloc'd; NULL on OOM). */
char *proto_json_print(const proto_json_t *v, int pretty);
/* Validates that s[0..n) is UTF-8 by the same rules as the parser; returns the offset of the first
 * bad byte, or n when valid. */
size_t proto_json_utf8_check(const char *s, size_t n);

#endif
