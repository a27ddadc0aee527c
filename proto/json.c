/* json.c — strict JSON DOM parser, streaming writer and printer (see json.h for the contract).
 *
 * A recursive-descent parser over a byte buffer with an explicit depth limit; every error records the
 * byte offset and is converted to line/column once, at the end. Not a tolerant parser: anything
 * outside RFC 8259 (plus our "no \u0000" rule) is refused with a message saying what was expected.
 */
#include "proto/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *s;
    size_t n, i;
    int depth, max_depth;
    size_t err_at;
    char msg[160];
    int failed;
} jp_t;

/* ---------------------------------------------------------------- helpers */

static int jp_fail(jp_t *p, size_t at, const char *fmt, ...)
{
    if (p->failed) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
    p->err_at = at;
    p->failed = 1;
    return -1;
}

static void jp_ws(jp_t *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static const char *jp_show(unsigned char c, char buf[8])
{
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 8, "'%c'", c);
    else snprintf(buf, 8, "0x%02x", c);
    return buf;
}

/* Length of the valid UTF-8 sequence at s[0..n) or 0 if invalid (RFC 3629 table). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len; unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c == 0xe0) { len = 3; lo = 0xa0; }
    else if (c == 0xed) { len = 3; hi = 0x9f; }            /* no UTF-16 surrogates */
    else if (c >= 0xe1 && c <= 0xef) len = 3;
    else if (c == 0xf0) { len = 4; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) len = 4;
    else if (c == 0xf4) { len = 4; hi = 0x8f; }            /* <= U+10FFFF */
    else return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < len; k++) if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

size_t proto_json_utf8_check(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq(u + i, n - i);
        if (!k) return i;
        i += (size_t)k;
    }
    return n;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = s[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---------------------------------------------------------------- strings */

/* Reads a \uXXXX escape (and its low-surrogate partner); p->i points just past the 'u'. */
static int jp_unicode(jp_t *p, unsigned *cp)
{
    size_t at = p->i - 2;
    if (p->n - p->i < 4 || hex4(p->s + p->i, cp) < 0)
        return jp_fail(p, at, "bad \\u escape: expected 4 hex digits");
    p->i += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return jp_fail(p, at, "lone low surrogate \\u%04X", *cp);
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        unsigned lo;
        if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
            hex4(p->s + p->i + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return jp_fail(p, at, "lone high surrogate \\u%04X (no low surrogate follows)", *cp);
        p->i += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (*cp == 0) return jp_fail(p, at, "\\u0000 is not allowed in strings");
    return 0;
}

static int jp_escape(jp_t *p, char *o, size_t *olen)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned char c = p->s[p->i++];
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) { o[(*olen)++] = to[hit - from]; return 0; }
    if (c != 'u') {
        char b[8];
        return jp_fail(p, p->i - 2, "bad escape \\%s in string", jp_show(c, b));
    }
    unsigned cp;
    if (jp_unicode(p, &cp) < 0) return -1;
    *olen += utf8_put(o + *olen, cp);
    return 0;
}

/* Parses a string at p->i (pointing at '"'); returns a malloc'd copy. Output never exceeds input
 * length, since every escape is at least as long as the UTF-8 it produces. */
static char *jp_string(jp_t *p, size_t *outlen)
{
    size_t start = p->i++, j = p->i;
    while (j < p->n && p->s[j] != '"') j += p->s[j] == '\\' ? 2 : 1;   /* raw span bounds the output */
    char *o = malloc(j - start + 1);
    size_t olen = 0;
    if (!o) { jp_fail(p, start, "out of memory"); return NULL; }
    for (;;) {
        if (p->i >= p->n) { jp_fail(p, start, "unterminated string"); goto bad; }
        unsigned char c = p->s[p->i];
        if (c == '"') { p->i++; break; }
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) { jp_fail(p, start, "unterminated string"); goto bad; }
            if (jp_escape(p, o, &olen) < 0) goto bad;
            continue;
        }
        if (c < 0x20) { jp_fail(p, p->i, "control character 0x%02x in string (must be escaped)", c); goto bad; }
        int k = utf8_seq(p->s + p->i, p->n - p->i);
        if (!k) { jp_fail(p, p->i, "invalid UTF-8 byte 0x%02x in string", c); goto bad; }
        memcpy(o + olen, p->s + p->i, (size_t)k);
        olen += (size_t)k; p->i += (size_t)k;
    }
    o[olen] = 0;
    if (outlen) *outlen = olen;
    return o;
bad:
    free(o);
    return NULL;
}

/* ---------------------------------------------------------------- numbers */

static size_t jp_digits(jp_t *p)
{
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') { p->i++; k++; }
    return k;
}

static int jp_number(jp_t *p, proto_json_t *v)
{
    size_t start = p->i;
    int integral_text = 1;
    if (p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') {
        p->i++;
        if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            return jp_fail(p, start, "leading zeros are not allowed in numbers");
    } else if (!jp_digits(p)) return jp_fail(p, start, "bad number: expected a digit");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++; integral_text = 0;
        if (!jp_digits(p)) return jp_fail(p, p->i, "bad number: expected a digit after '.'");
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++; integral_text = 0;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!jp_digits(p)) return jp_fail(p, p->i, "bad number: expected a digit in the exponent");
    }
    char buf[512];
    size_t len = p->i - start;
    if (len >= sizeof buf) return jp_fail(p, start, "number too long (%zu characters)", len);
    memcpy(buf, p->s + start, len); buf[len] = 0;
    v->type = PROTO_JSON_NUMBER;
    errno = 0;
    v->num = strtod(buf, NULL);
    if (errno == ERANGE && isinf(v->num)) return jp_fail(p, start, "number out of range: %s", buf);
    if (integral_text) {
        errno = 0;
        long long ll = strtoll(buf, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->i64 = ll; }
    } else if (v->num == floor(v->num) && fabs(v->num) < 9.2e18) {
        v->is_int = 1; v->i64 = (int64_t)v->num;
    }
    return 0;
}

/* ---------------------------------------------------------------- containers */

static void json_clear(proto_json_t *v);

static int kids_reserve(proto_json_t *v, size_t need)
{
    if (need <= v->cap) return 0;
    size_t cap = v->cap ? v->cap * 2 : 4;
    while (cap < need) cap *= 2;
    proto_json_t *k = realloc(v->kids, cap * sizeof *k);
    if (!k) return -1;
    v->kids = k; v->cap = cap;
    return 0;
}

static _Thread_local const proto_json_t *g_sort_kids;
static int cmp_key_idx(const void *a, const void *b)
{
    const proto_json_t *k = g_sort_kids;
    return strcmp(k[*(const uint32_t *)a].key, k[*(const uint32_t *)b].key);
}

/* Builds obj->sorted; returns the index of a duplicated key or -1 when all keys are unique. */
static long obj_index(proto_json_t *obj, int *oom)
{
    *oom = 0;
    free(obj->sorted);
    obj->sorted = malloc((obj->len ? obj->len : 1) * sizeof *obj->sorted);
    if (!obj->sorted) { *oom = 1; return -1; }
    for (size_t i = 0; i < obj->len; i++) obj->sorted[i] = (uint32_t)i;
    g_sort_kids = obj->kids;   /* qsort has no context argument in C11; thread-local keeps it safe */
    qsort(obj->sorted, obj->len, sizeof *obj->sorted, cmp_key_idx);
    for (size_t i = 1; i < obj->len; i++)
        if (!strcmp(obj->kids[obj->sorted[i]].key, obj->kids[obj->sorted[i - 1]].key))
            return obj->sorted[i] > obj->sorted[i - 1] ? obj->sorted[i] : obj->sorted[i - 1];
    return -1;
}

static int jp_value(jp_t *p, proto_json_t *v);

static int jp_member(jp_t *p, proto_json_t *obj)
{
    jp_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"') return jp_fail(p, p->i, "expected a string key");
    char *key = jp_string(p, NULL);
    if (!key) return -1;
    jp_ws(p);
    if (p->i >= p->n || p->s[p->i] != ':') { free(key); return jp_fail(p, p->i, "expected ':' after key"); }
    p->i++;
    if (kids_reserve(obj, obj->len + 1) < 0) { free(key); return jp_fail(p, p->i, "out of memory"); }
    proto_json_t *k = &obj->kids[obj->len];
    memset(k, 0, sizeof *k);
    k->key = key;
    obj->len++;
    return jp_value(p, k);
}

static int jp_container(jp_t *p, proto_json_t *v, int is_obj)
{
    size_t start = p->i++;
    if (++p->depth > p->max_depth)
        return jp_fail(p, start, "nesting deeper than %d levels", p->max_depth);
    v->type = is_obj ? PROTO_JSON_OBJECT : PROTO_JSON_ARRAY;
    char close = is_obj ? '}' : ']';
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; goto done; }
    for (;;) {
        if (is_obj) { if (jp_member(p, v) < 0) return -1; }
        else {
            if (kids_reserve(v, v->len + 1) < 0) return jp_fail(p, p->i, "out of memory");
            memset(&v->kids[v->len], 0, sizeof *v->kids);
            if (jp_value(p, &v->kids[v->len++]) < 0) return -1;
        }
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
        return jp_fail(p, p->i, "expected ',' or '%c'", close);
    }
done:
    p->depth--;
    if (is_obj) {
        int oom; long dup = obj_index(v, &oom);
        if (oom) return jp_fail(p, start, "out of memory");
        if (dup >= 0) return jp_fail(p, v->kids[dup].offset, "duplicate key \"%.80s\"", v->kids[dup].key);
    }
    return 0;
}

static int jp_literal(jp_t *p, proto_json_t *v)
{
    static const struct { const char *word; proto_json_type_t t; int b; } lits[] = {
        { "true", PROTO_JSON_BOOL, 1 }, { "false", PROTO_JSON_BOOL, 0 }, { "null", PROTO_JSON_NULL, 0 },
    };
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t l = strlen(lits[k].word);
        if (p->n - p->i >= l && !memcmp(p->s + p->i, lits[k].word, l)) {
            v->type = lits[k].t; v->boolean = lits[k].b; p->i += l;
            return 0;
        }
    }
    char b[8];
    return jp_fail(p, p->i, "unexpected %s: expected a value", jp_show(p->s[p->i], b));
}

static int jp_value(jp_t *p, proto_json_t *v)
{
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, p->i, "unexpected end of input: expected a value");
    v->offset = p->i;
    unsigned char c = p->s[p->i];
    if (c == '{' || c == '[') return jp_container(p, v, c == '{');
    if (c == '"') {
        v->type = PROTO_JSON_STRING;
        v->str = jp_string(p, &v->len);
        return v->str ? 0 : -1;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jp_number(p, v);
    return jp_literal(p, v);
}

/* ---------------------------------------------------------------- public: parse */

static void err_position(const jp_t *p, proto_json_error_t *e)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < p->err_at && i < p->n; i++) {
        if (p->s[i] == '\n') { line++; col = 1; } else col++;
    }
    e->offset = p->err_at; e->line = line; e->column = col;
    snprintf(e->msg, sizeof e->msg, "%s", p->msg);
}

int proto_json_parse(const char *text, size_t len, const proto_json_limits_t *lim,
                     proto_json_t **out, proto_json_error_t *pos, char *err, size_t errlen)
{
    jp_t p = { .s = (const unsigned char *)text, .n = len };
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : PROTO_JSON_DEFAULT_MAX_BYTES;
    p.max_depth = lim && lim->max_depth ? lim->max_depth : PROTO_JSON_DEFAULT_MAX_DEPTH;
    if (p.max_depth > 1000) p.max_depth = 1000;             /* recursion: keep the stack bounded */
    proto_json_t *v = calloc(1, sizeof *v);
    *out = NULL;
    if (!text && len) jp_fail(&p, 0, "no input");
    else if (len > max_bytes) jp_fail(&p, 0, "input of %zu bytes exceeds the limit of %zu bytes", len, max_bytes);
    else if (!v) jp_fail(&p, 0, "out of memory");
    else if (jp_value(&p, v) == 0) {
        jp_ws(&p);
        if (p.i < p.n) jp_fail(&p, p.i, "unexpected trailing data after the value");
    }
    if (!p.failed) { *out = v; return 0; }
    proto_json_error_t e;
    err_position(&p, &e);
    if (pos) *pos = e;
    if (err && errlen) snprintf(err, errlen, "line %d, column %d (byte %zu): %s", e.line, e.column, e.offset, e.msg);
    proto_json_free(&v);
    return -1;
}

static void json_clear(proto_json_t *v)
{
    for (size_t i = 0; v->kids && i < v->len; i++) json_clear(&v->kids[i]);
    free(v->kids); free(v->sorted); free(v->str); free(v->key);
}

void proto_json_free(proto_json_t **v)
{
    if (!v || !*v) return;
    json_clear(*v);
    free(*v);
    *v = NULL;
}

const char *proto_json_type_name(proto_json_type_t t)
{
    static const char *names[] = { "null", "boolean", "number", "string", "array", "object" };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* ---------------------------------------------------------------- public: read */

const proto_json_t *proto_json_get(const proto_json_t *obj, const char *key)
{
    if (!obj || obj->type != PROTO_JSON_OBJECT || !key || !obj->sorted) return NULL;
    size_t lo = 0, hi = obj->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const proto_json_t *k = &obj->kids[obj->sorted[mid]];
        int c = strcmp(k->key, key);
        if (c == 0) return k;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

const proto_json_t *proto_json_at(const proto_json_t *v, size_t i)
{
    if (!v || (v->type != PROTO_JSON_ARRAY && v->type != PROTO_JSON_OBJECT) || i >= v->len) return NULL;
    return &v->kids[i];
}

size_t proto_json_len(const proto_json_t *v)
{
    return v && (v->type == PROTO_JSON_ARRAY || v->type == PROTO_JSON_OBJECT) ? v->len : 0;
}

const char *proto_json_str(const proto_json_t *v)
{
    return v && v->type == PROTO_JSON_STRING ? v->str : NULL;
}

int proto_json_get_str(const proto_json_t *obj, const char *key, const char **out)
{
    const proto_json_t *v = proto_json_get(obj, key);
    if (!v) return 1;
    if (v->type != PROTO_JSON_STRING) return -1;
    *out = v->str;
    return 0;
}

int proto_json_get_int(const proto_json_t *obj, const char *key, int64_t *out)
{
    const proto_json_t *v = proto_json_get(obj, key);
    if (!v) return 1;
    if (v->type != PROTO_JSON_NUMBER || !v->is_int) return -1;
    *out = v->i64;
    return 0;
}

int proto_json_get_num(const proto_json_t *obj, const char *key, double *out)
{
    const proto_json_t *v = proto_json_get(obj, key);
    if (!v) return 1;
    if (v->type != PROTO_JSON_NUMBER) return -1;
    *out = v->num;
    return 0;
}

int proto_json_get_bool(const proto_json_t *obj, const char *key, int *out)
{
    const proto_json_t *v = proto_json_get(obj, key);
    if (!v) return 1;
    if (v->type != PROTO_JSON_BOOL) return -1;
    *out = v->boolean;
    return 0;
}

/* ---------------------------------------------------------------- public: build */

proto_json_t *proto_json_new(proto_json_type_t t)
{
    proto_json_t *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

proto_json_t *proto_json_new_str(const char *s)
{
    proto_json_t *v = proto_json_new(PROTO_JSON_STRING);
    if (!v) return NULL;
    v->str = strdup(s ? s : "");
    if (!v->str) { free(v); return NULL; }
    v->len = strlen(v->str);
    return v;
}

proto_json_t *proto_json_new_int(int64_t i)
{
    proto_json_t *v = proto_json_new(PROTO_JSON_NUMBER);
    if (v) { v->num = (double)i; v->i64 = i; v->is_int = 1; }
    return v;
}

proto_json_t *proto_json_new_num(double d)
{
    proto_json_t *v = proto_json_new(PROTO_JSON_NUMBER);
    if (!v) return NULL;
    v->num = d;
    if (isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) { v->is_int = 1; v->i64 = (int64_t)d; }
    return v;
}

proto_json_t *proto_json_new_bool(int b)
{
    proto_json_t *v = proto_json_new(PROTO_JSON_BOOL);
    if (v) v->boolean = !!b;
    return v;
}

/* Moves *v into container c (key may be NULL for arrays); frees the shell of v. */
static int json_attach(proto_json_t *c, const char *key, proto_json_t *v)
{
    char *k = NULL;
    if (!v) return -1;
    if (key && !(k = strdup(key))) goto fail;
    if (kids_reserve(c, c->len + 1) < 0) goto fail;
    v->key = k;
    c->kids[c->len++] = *v;
    free(v);
    return 0;
fail:
    free(k);
    proto_json_free(&v);
    return -1;
}

int proto_json_add(proto_json_t *obj, const char *key, proto_json_t *v)
{
    if (!obj || obj->type != PROTO_JSON_OBJECT || !key || proto_json_get(obj, key)) {
        proto_json_free(&v);
        return -1;
    }
    uint32_t *idx = realloc(obj->sorted, (obj->len + 1) * sizeof *idx);
    if (!idx) { proto_json_free(&v); return -1; }
    obj->sorted = idx;
    if (json_attach(obj, key, v) < 0) return -1;
    size_t lo = 0, hi = obj->len - 1;          /* insert the new index in key order */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(obj->kids[idx[mid]].key, key) < 0) lo = mid + 1; else hi = mid;
    }
    memmove(idx + lo + 1, idx + lo, (obj->len - 1 - lo) * sizeof *idx);
    idx[lo] = (uint32_t)(obj->len - 1);
    return 0;
}

int proto_json_push(proto_json_t *arr, proto_json_t *v)
{
    if (!arr || arr->type != PROTO_JSON_ARRAY) { proto_json_free(&v); return -1; }
    return json_attach(arr, NULL, v);
}

/* ---------------------------------------------------------------- writer */

static void w_put(proto_json_writer_t *w, const char *s, size_t n)
{
    if (w->err) return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) { w->err = 1; return; }
        w->buf = b; w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void w_puts(proto_json_writer_t *w, const char *s) { w_put(w, s, strlen(s)); }

static void w_indent(proto_json_writer_t *w)
{
    if (!w->pretty) return;
    w_put(w, "\n", 1);
    for (int i = 0; i < w->depth; i++) w_put(w, "  ", 2);
}

/* Writes the separator before a value; sets err for a value where a key is required. */
static void w_pre_value(proto_json_writer_t *w)
{
    if (w->want_value) { w->want_value = 0; return; }
    if (w->depth == 0) { if (w->len) w->err = 1; return; }
    if (w->is_obj[w->depth]) { w->err = 1; return; }
    if (!w->first[w->depth]) w_put(w, ",", 1);
    w->first[w->depth] = 0;
    w_indent(w);
}

void proto_json_w_init(proto_json_writer_t *w, int pretty)
{
    memset(w, 0, sizeof *w);
    w->pretty = pretty;
}

static void w_begin(proto_json_writer_t *w, int is_obj)
{
    w_pre_value(w);
    if (w->depth >= PROTO_JSON_DEFAULT_MAX_DEPTH) { w->err = 1; return; }
    w_put(w, is_obj ? "{" : "[", 1);
    w->depth++;
    w->first[w->depth] = 1;
    w->is_obj[w->depth] = (uint8_t)is_obj;
}

static void w_end(proto_json_writer_t *w, int is_obj)
{
    if (w->depth == 0 || w->is_obj[w->depth] != is_obj || w->want_value) { w->err = 1; return; }
    int empty = w->first[w->depth];
    w->depth--;
    if (!empty) w_indent(w);
    w_put(w, is_obj ? "}" : "]", 1);
}

void proto_json_w_begin_object(proto_json_writer_t *w) { w_begin(w, 1); }
void proto_json_w_end_object(proto_json_writer_t *w)   { w_end(w, 1); }
void proto_json_w_begin_array(proto_json_writer_t *w)  { w_begin(w, 0); }
void proto_json_w_end_array(proto_json_writer_t *w)    { w_end(w, 0); }

static void w_quoted(proto_json_writer_t *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    w_put(w, "\"", 1);
    for (size_t i = 0; i < n;) {
        static const char esc[] = "\"\\\b\f\n\r\t", rep[] = "\"\\bfnrt";
        unsigned char c = u[i];
        const char *e = c ? memchr(esc, c, sizeof esc - 1) : NULL;
        char b[8];
        if (e) { b[0] = '\\'; b[1] = rep[e - esc]; w_put(w, b, 2); i++; continue; }
        if (c < 0x20) { snprintf(b, sizeof b, "\\u%04x", c); w_put(w, b, 6); i++; continue; }
        int k = utf8_seq(u + i, n - i);
        if (!k) { w_put(w, "\xef\xbf\xbd", 3); i++; continue; }    /* U+FFFD */
        w_put(w, s + i, (size_t)k);
        i += (size_t)k;
    }
    w_put(w, "\"", 1);
}

void proto_json_w_key(proto_json_writer_t *w, const char *key)
{
    if (w->depth == 0 || !w->is_obj[w->depth] || w->want_value || !key) { w->err = 1; return; }
    if (!w->first[w->depth]) w_put(w, ",", 1);
    w->first[w->depth] = 0;
    w_indent(w);
    w_quoted(w, key, strlen(key));
    w_put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
    w->want_value = 1;
}

void proto_json_w_strn(proto_json_writer_t *w, const char *s, size_t n)
{
    w_pre_value(w);
    w_quoted(w, s, n);
}

void proto_json_w_str(proto_json_writer_t *w, const char *s)
{
    if (!s) { proto_json_w_null(w); return; }
    proto_json_w_strn(w, s, strlen(s));
}

void proto_json_w_int(proto_json_writer_t *w, int64_t i)
{
    char b[32];
    w_pre_value(w);
    snprintf(b, sizeof b, "%" PRId64, i);
    w_puts(w, b);
}

void proto_json_w_num(proto_json_writer_t *w, double d)
{
    char b[40];
    w_pre_value(w);
    if (!isfinite(d)) { w_puts(w, "null"); return; }
    if (d == floor(d) && fabs(d) < 1e15) snprintf(b, sizeof b, "%.0f", d);
    else snprintf(b, sizeof b, "%.17g", d);
    w_puts(w, b);
}

void proto_json_w_bool(proto_json_writer_t *w, int b) { w_pre_value(w); w_puts(w, b ? "true" : "false"); }
void proto_json_w_null(proto_json_writer_t *w)        { w_pre_value(w); w_puts(w, "null"); }

void proto_json_w_value(proto_json_writer_t *w, const proto_json_t *v)
{
    if (!v) { proto_json_w_null(w); return; }
    switch (v->type) {
    case PROTO_JSON_NULL:   proto_json_w_null(w); break;
    case PROTO_JSON_BOOL:   proto_json_w_bool(w, v->boolean); break;
    case PROTO_JSON_NUMBER: if (v->is_int) proto_json_w_int(w, v->i64); else proto_json_w_num(w, v->num); break;
    case PROTO_JSON_STRING: proto_json_w_strn(w, v->str, v->len); break;
    case PROTO_JSON_ARRAY:
    case PROTO_JSON_OBJECT:
        w_begin(w, v->type == PROTO_JSON_OBJECT);
        for (size_t i = 0; i < v->len; i++) {
            if (v->type == PROTO_JSON_OBJECT) proto_json_w_key(w, v->kids[i].key);
            proto_json_w_value(w, &v->kids[i]);
        }
        w_end(w, v->type == PROTO_JSON_OBJECT);
        break;
    }
}

int proto_json_w_finish(proto_json_writer_t *w, char **out, size_t *len, char *err, size_t errlen)
{
    int bad = w->err || w->depth != 0 || w->want_value || w->len == 0;
    if (bad) {
        if (err && errlen) snprintf(err, errlen, "json writer: %s",
                                    w->err ? "misuse or out of memory" : "unbalanced or empty document");
        proto_json_w_free(w);
        return -1;
    }
    *out = w->buf;
    if (len) *len = w->len;
    w->buf = NULL;
    proto_json_w_free(w);
    return 0;
}

void proto_json_w_free(proto_json_writer_t *w)
{
    free(w->buf);
    int pretty = w->pretty;
    memset(w, 0, sizeof *w);
    w->pretty = pretty;
}

char *proto_json_print(const proto_json_t *v, int pretty)
{
    proto_json_writer_t w;
    char *out = NULL;
    proto_json_w_init(&w, pretty);
    proto_json_w_value(&w, v);
    if (proto_json_w_finish(&w, &out, NULL, NULL, 0) < 0) return NULL;
    return out;
}
