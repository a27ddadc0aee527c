/* safetensors.c — memory-mapped, bounds-checked safetensors reader and writer (see safetensors.h).
 *
 * Layout of a file: u64 little-endian N, N bytes of JSON header, then the data area. The header maps
 * tensor names to {dtype, shape, data_offsets [begin, end)} relative to the data area, plus an
 * optional "__metadata__" object of strings. As in the reference implementation (huggingface/
 * safetensors), tensors must tile the data area exactly: no overlap, no hole, nothing after.
 */
#include "worker/model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u << 20)    /* same limit as huggingface/safetensors */
#define ST_MAX_INDEX  (64u << 20)
#define ST_MAX_FILES  4096

/* ---- types ---- */

typedef struct {
    char          *path;
    const uint8_t *map;       /* whole file, read-only */
    size_t         size;
    size_t         data_off;  /* 8 + header length */
    proto_json_t  *header;    /* kept for __metadata__ lookups */
} st_file_t;

struct wrk_st {
    char            *origin;  /* what was opened, for errors about missing tensors */
    st_file_t       *files;
    int              nfiles;
    wrk_st_tensor_t *t;       /* sorted by name after open */
    int              n, cap;
};

typedef struct {
    const char *name;
    size_t      size;
    void      (*to_f32)(const uint8_t *src, float *dst, int64_t n);
    void      (*to_i64)(const uint8_t *src, int64_t *dst, int64_t n);
} st_dtype_info_t;

/* ---- static helpers: errors ---- */

static void st_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void st_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- scalar conversions ---- */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float wrk_st_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

float wrk_st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {                                   /* zero or subnormal: m * 2^-24, exact */
        float v = ldexpf((float)m, -24);
        return u2f(f2u(v) | sign);
    }
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));   /* inf, nan (payload kept) */
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t wrk_st_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   /* quiet nan */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

uint16_t wrk_st_f32_to_f16(float f)
{
    uint32_t u = f2u(f), sign = (u >> 16) & 0x8000, ax = u & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);          /* >= 65520: inf */
    if (ax < 0x38800000u) {                                           /* below 2^-14: subnormal */
        float r = nearbyintf(u2f(ax) * 16777216.0f);                  /* ties to even */
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t h = ((((ax >> 23) - 112) << 10) | ((ax & 0x7fffffu) >> 13));
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* ---- dtype table ---- */

static void cv_f32(const uint8_t *s, float *d, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void cv_f64(const uint8_t *s, float *d, int64_t n)
{ for (int64_t i = 0; i < n; i++) { double v; memcpy(&v, s + 8 * i, 8); d[i] = (float)v; } }
static void cv_f16(const uint8_t *s, float *d, int64_t n)
{ for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = wrk_st_f16_to_f32(h); } }
static void cv_bf16(const uint8_t *s, float *d, int64_t n)
{ for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); d[i] = wrk_st_bf16_to_f32(h); } }

#define ST_INT_CV(NAME, T) static void NAME(const uint8_t *s, int64_t *d, int64_t n) \
    { for (int64_t i = 0; i < n; i++) { T v; memcpy(&v, s + sizeof(T) * i, sizeof(T)); d[i] = v; } }
ST_INT_CV(cv_i64, int64_t)
ST_INT_CV(cv_i32, int32_t)
ST_INT_CV(cv_i16, int16_t)
ST_INT_CV(cv_i8, int8_t)
ST_INT_CV(cv_u8, uint8_t)

static const st_dtype_info_t st_dtypes[WRK_ST_DTYPE_COUNT] = {
    [WRK_ST_F32]  = {"F32", 4, cv_f32, NULL},
    [WRK_ST_F16]  = {"F16", 2, cv_f16, NULL},
    [WRK_ST_BF16] = {"BF16", 2, cv_bf16, NULL},
    [WRK_ST_F64]  = {"F64", 8, cv_f64, NULL},
    [WRK_ST_I64]  = {"I64", 8, NULL, cv_i64},
    [WRK_ST_I32]  = {"I32", 4, NULL, cv_i32},
    [WRK_ST_I16]  = {"I16", 2, NULL, cv_i16},
    [WRK_ST_I8]   = {"I8", 1, NULL, cv_i8},
    [WRK_ST_U8]   = {"U8", 1, NULL, cv_u8},
    [WRK_ST_BOOL] = {"BOOL", 1, NULL, NULL},
};

const char *wrk_st_dtype_name(wrk_st_dtype_t dt)
{
    return (unsigned)dt < WRK_ST_DTYPE_COUNT ? st_dtypes[dt].name : "?";
}

int wrk_st_dtype_from_name(const char *name, wrk_st_dtype_t *out)
{
    for (int i = 0; name && i < WRK_ST_DTYPE_COUNT; i++)
        if (strcmp(name, st_dtypes[i].name) == 0) { *out = (wrk_st_dtype_t)i; return 0; }
    return -1;
}

size_t wrk_st_dtype_size(wrk_st_dtype_t dt)
{
    return (unsigned)dt < WRK_ST_DTYPE_COUNT ? st_dtypes[dt].size : 0;
}

/* ---- static helpers: header validation ---- */

static int st_push(wrk_st_t *st, const wrk_st_tensor_t *t)
{
    if (st->n == st->cap) {
        int nc = st->cap ? st->cap * 2 : 256;
        wrk_st_tensor_t *p = realloc(st->t, (size_t)nc * sizeof *p);
        if (!p) return -1;
        st->t = p; st->cap = nc;
    }
    st->t[st->n++] = *t;
    return 0;
}

/* Reads a JSON array of non-negative integers (at most maxn) into v; returns count or -1. */
static int st_int_array(const proto_json_t *a, int64_t *v, int maxn)
{
    if (!a || a->type != PROTO_JSON_ARRAY || (int64_t)a->len > maxn) return -1;
    for (size_t i = 0; i < a->len; i++) {
        const proto_json_t *x = &a->kids[i];
        if (x->type != PROTO_JSON_NUMBER || !x->is_int || x->i64 < 0) return -1;
        v[i] = x->i64;
    }
    return (int)a->len;
}

/* Validates one header entry and fills t (name and data pointer set by the caller). */
static int st_entry(const st_file_t *f, const proto_json_t *e, wrk_st_tensor_t *t, uint64_t off[2],
                    char *err, size_t errlen)
{
    const char *dt = NULL, *nm = e->key;
    if (e->type != PROTO_JSON_OBJECT) { st_err(err, errlen, "%s: tensor '%s': header entry is not an object", f->path, nm); return -1; }
    for (size_t i = 0; i < e->len; i++) {
        const char *k = e->kids[i].key;
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets")) {
            st_err(err, errlen, "%s: tensor '%s': unknown header field '%s'", f->path, nm, k); return -1;
        }
    }
    if (proto_json_get_str(e, "dtype", &dt) != 0 || wrk_st_dtype_from_name(dt, &t->dtype) != 0) {
        st_err(err, errlen, "%s: tensor '%s': missing or unknown dtype '%s'", f->path, nm, dt ? dt : "");
        return -1;
    }
    t->ndim = st_int_array(proto_json_get(e, "shape"), t->shape, WRK_ST_MAX_DIMS);
    if (t->ndim < 0) { st_err(err, errlen, "%s: tensor '%s': shape missing, not integers >= 0, or more than %d dims", f->path, nm, WRK_ST_MAX_DIMS); return -1; }
    int64_t o[2];
    if (st_int_array(proto_json_get(e, "data_offsets"), o, 2) != 2 || o[0] > o[1]) {
        st_err(err, errlen, "%s: tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end", f->path, nm);
        return -1;
    }
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel) || numel > (uint64_t)INT64_MAX) goto big;
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtypes[t->dtype].size, &nbytes)) goto big;
    if (nbytes != (uint64_t)(o[1] - o[0])) {
        st_err(err, errlen, "%s: tensor '%s': shape x %s size = %llu bytes but data_offsets span %lld",
               f->path, nm, dt, (unsigned long long)nbytes, (long long)(o[1] - o[0]));
        return -1;
    }
    if ((uint64_t)o[1] > f->size - f->data_off) {
        st_err(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] past the data area (%zu bytes; file truncated?)",
               f->path, nm, (long long)o[0], (long long)o[1], f->size - f->data_off);
        return -1;
    }
    t->numel = (int64_t)numel; t->nbytes = (size_t)nbytes;
    off[0] = (uint64_t)o[0]; off[1] = (uint64_t)o[1];
    return 0;
big:
    st_err(err, errlen, "%s: tensor '%s': shape too large", f->path, nm);
    return -1;
}

static int st_meta_check(const st_file_t *f, const proto_json_t *m, char *err, size_t errlen)
{
    if (m->type != PROTO_JSON_OBJECT) { st_err(err, errlen, "%s: __metadata__ is not an object", f->path); return -1; }
    for (size_t i = 0; i < m->len; i++)
        if (m->kids[i].type != PROTO_JSON_STRING) {
            st_err(err, errlen, "%s: __metadata__ '%s' is not a string", f->path, m->kids[i].key);
            return -1;
        }
    return 0;
}

typedef struct { uint64_t b, e; int idx; } st_span_t;

static int st_span_cmp(const void *a, const void *b)
{
    const st_span_t *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    return 0;
}

/* Checks that the spans tile [0, data_len) exactly. spans are sorted in place. */
static int st_tiling(const st_file_t *f, const wrk_st_t *st, st_span_t *sp, int n, char *err, size_t errlen)
{
    qsort(sp, (size_t)n, sizeof *sp, st_span_cmp);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = st->t[sp[i].idx].name;
        if (sp[i].b < at) {
            st_err(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s'", f->path, nm,
                   (unsigned long long)sp[i].b, (unsigned long long)sp[i].e, st->t[sp[i - 1].idx].name);
            return -1;
        }
        if (sp[i].b > at) {
            st_err(err, errlen, "%s: tensor '%s': hole in the data area before offset %llu", f->path, nm,
                   (unsigned long long)sp[i].b);
            return -1;
        }
        at = sp[i].e;
    }
    if (at != f->size - f->data_off) {
        st_err(err, errlen, "%s: tensors cover %llu bytes but the data area has %zu (trailing bytes)", f->path,
               (unsigned long long)at, f->size - f->data_off);
        return -1;
    }
    return 0;
}

/* ---- static helpers: loading ---- */

static int st_map(st_file_t *f, char *err, size_t errlen)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC), rc = -1;
    struct stat sb;
    if (fd < 0) { st_err(err, errlen, "%s: %s", f->path, strerror(errno)); return -1; }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { st_err(err, errlen, "%s: not a regular file", f->path); goto out; }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) { st_err(err, errlen, "%s: truncated: %zu bytes, no header length", f->path, f->size); goto out; }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) { st_err(err, errlen, "%s: mmap: %s", f->path, strerror(errno)); goto out; }
    f->map = m;
    rc = 0;
out:
    close(fd);
    return rc;
}

static int st_parse_header(st_file_t *f, char *err, size_t errlen)
{
    uint64_t hl;
    memcpy(&hl, f->map, 8);
    if (hl > f->size - 8) {
        st_err(err, errlen, "%s: header length %llu past end of file (%zu bytes; truncated?)", f->path,
               (unsigned long long)hl, f->size);
        return -1;
    }
    if (hl < 2 || hl > ST_MAX_HEADER) { st_err(err, errlen, "%s: bad header length %llu", f->path, (unsigned long long)hl); return -1; }
    f->data_off = 8 + (size_t)hl;
    proto_json_limits_t lim = {.max_bytes = (size_t)hl + 1, .max_depth = 8};
    char jerr[256];
    if (proto_json_parse((const char *)f->map + 8, (size_t)hl, &lim, &f->header, NULL, jerr, sizeof jerr) != 0) {
        st_err(err, errlen, "%s: header JSON: %s", f->path, jerr);
        return -1;
    }
    if (f->header->type != PROTO_JSON_OBJECT) { st_err(err, errlen, "%s: header is not a JSON object", f->path); return -1; }
    return 0;
}

/* Maps one file, validates its header and appends its tensors to st. */
static int st_load_file(wrk_st_t *st, int fi, char *err, size_t errlen)
{
    st_file_t *f = &st->files[fi];
    st_span_t *sp = NULL;
    int first = st->n, rc = -1;
    if (st_map(f, err, errlen) || st_parse_header(f, err, errlen)) return -1;
    const proto_json_t *h = f->header;
    sp = calloc(h->len + 1, sizeof *sp);
    if (!sp) { st_err(err, errlen, "%s: out of memory", f->path); return -1; }
    int ns = 0;
    for (size_t i = 0; i < h->len; i++) {
        const proto_json_t *e = &h->kids[i];
        if (strcmp(e->key, "__metadata__") == 0) { if (st_meta_check(f, e, err, errlen)) goto out; continue; }
        wrk_st_tensor_t t = {.name = e->key, .file = f->path};
        uint64_t off[2];
        if (!e->key[0]) { st_err(err, errlen, "%s: tensor with an empty name", f->path); goto out; }
        if (st_entry(f, e, &t, off, err, errlen)) goto out;
        t.data = f->map + f->data_off + off[0];
        sp[ns] = (st_span_t){off[0], off[1], st->n};
        ns++;
        if (st_push(st, &t)) { st_err(err, errlen, "%s: out of memory", f->path); goto out; }
    }
    rc = st_tiling(f, st, sp, ns, err, errlen);
out:
    if (rc) st->n = first;
    free(sp);
    return rc;
}

static int st_name_cmp(const void *a, const void *b)
{
    return strcmp(((const wrk_st_tensor_t *)a)->name, ((const wrk_st_tensor_t *)b)->name);
}

static int st_sort_unique(wrk_st_t *st, char *err, size_t errlen)
{
    qsort(st->t, (size_t)st->n, sizeof *st->t, st_name_cmp);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->t[i - 1].name, st->t[i].name) == 0) {
            st_err(err, errlen, "%s: tensor '%s': duplicate name (also in %s)", st->t[i].file, st->t[i].name,
                   st->t[i - 1].file);
            return -1;
        }
    return 0;
}

static char *st_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *st_dirname(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return strdup(".");
    if (s == path) return strdup("/");
    return strndup(path, (size_t)(s - path));
}

static int st_add_file(wrk_st_t *st, const char *path)
{
    st_file_t *p = realloc(st->files, (size_t)(st->nfiles + 1) * sizeof *p);
    if (!p) return -1;
    st->files = p;
    memset(&p[st->nfiles], 0, sizeof *p);
    if (!(p[st->nfiles].path = strdup(path))) return -1;
    st->nfiles++;
    return 0;
}

static int st_read_text(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    int rc = -1;
    if (!fp) { st_err(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    if (fseek(fp, 0, SEEK_END) != 0) goto io;
    long sz = ftell(fp);
    if (sz < 0 || (size_t)sz > max) { st_err(err, errlen, "%s: bad size %ld", path, sz); goto out; }
    rewind(fp);
    if (!(buf = malloc((size_t)sz + 1))) { st_err(err, errlen, "%s: out of memory", path); goto out; }
    if (fread(buf, 1, (size_t)sz, fp) != (size_t)sz) goto io;
    buf[sz] = 0; *out = buf; *len = (size_t)sz; buf = NULL; rc = 0;
    goto out;
io:
    st_err(err, errlen, "%s: read error", path);
out:
    free(buf);
    fclose(fp);
    return rc;
}

static int st_shard_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* Adds each distinct shard file named by weight_map (in first-seen order). */
static int st_index_files(wrk_st_t *st, const char *ipath, const proto_json_t *wm, char *err, size_t errlen)
{
    char *dir = st_dirname(ipath);
    int rc = -1;
    if (!dir) { st_err(err, errlen, "%s: out of memory", ipath); return -1; }
    for (size_t i = 0; i < wm->len; i++) {
        const char *fn = proto_json_str(&wm->kids[i]);
        if (!fn || !st_shard_name_ok(fn)) {
            st_err(err, errlen, "%s: tensor '%s': weight_map value is not a plain file name", ipath, wm->kids[i].key);
            goto out;
        }
        char *p = st_join(dir, fn);
        int seen = 0;
        for (int k = 0; p && k < st->nfiles && !seen; k++) seen = strcmp(st->files[k].path, p) == 0;
        if (!p || (!seen && (st->nfiles >= ST_MAX_FILES || st_add_file(st, p)))) {
            free(p); st_err(err, errlen, "%s: too many shard files or out of memory", ipath); goto out;
        }
        free(p);
    }
    rc = 0;
out:
    free(dir);
    return rc;
}

/* Every weight_map entry must be in its named shard, and every shard tensor listed. */
static int st_index_check(wrk_st_t *st, const char *ipath, const proto_json_t *wm, char *err, size_t errlen)
{
    char *dir = st_dirname(ipath);
    int rc = -1;
    if (!dir) return -1;
    for (size_t i = 0; i < wm->len; i++) {
        const wrk_st_tensor_t *t = wrk_st_find(st, wm->kids[i].key);
        char *p = st_join(dir, wm->kids[i].str);
        if (!t || !p || strcmp(t->file, p) != 0) {
            st_err(err, errlen, "%s: tensor '%s': listed in %s but %s", ipath, wm->kids[i].key, wm->kids[i].str,
                   t ? "found in another shard" : "not found there");
            free(p); goto out;
        }
        free(p);
    }
    if ((size_t)st->n != wm->len) {
        for (int i = 0; i < st->n; i++)
            if (!proto_json_get(wm, st->t[i].name)) {
                st_err(err, errlen, "%s: tensor '%s': present in the shard but not in the index %s", st->t[i].file,
                       st->t[i].name, ipath);
                goto out;
            }
    }
    rc = 0;
out:
    free(dir);
    return rc;
}

static int st_open_index(wrk_st_t *st, const char *ipath, char *err, size_t errlen)
{
    char *text = NULL, jerr[256];
    size_t len;
    proto_json_t *root = NULL;
    int rc = -1;
    if (st_read_text(ipath, ST_MAX_INDEX, &text, &len, err, errlen)) return -1;
    if (proto_json_parse(text, len, NULL, &root, NULL, jerr, sizeof jerr)) {
        st_err(err, errlen, "%s: index JSON: %s", ipath, jerr); goto out;
    }
    const proto_json_t *wm = proto_json_get(root, "weight_map");
    if (!wm || wm->type != PROTO_JSON_OBJECT || wm->len == 0) {
        st_err(err, errlen, "%s: no \"weight_map\" object, or an empty one", ipath);
        goto out;
    }
    if (st_index_files(st, ipath, wm, err, errlen)) goto out;
    for (int i = 0; i < st->nfiles; i++)
        if (st_load_file(st, i, err, errlen)) goto out;
    if (st_sort_unique(st, err, errlen) || st_index_check(st, ipath, wm, err, errlen)) goto out;
    rc = 0;
out:
    proto_json_free(&root);
    free(text);
    return rc;
}

static int st_is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

static int st_ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int st_open_path(wrk_st_t *st, const char *path, char *err, size_t errlen)
{
    if (st_ends_with(path, ".json")) return st_open_index(st, path, err, errlen);
    if (st_add_file(st, path)) { st_err(err, errlen, "%s: out of memory", path); return -1; }
    if (st_load_file(st, 0, err, errlen)) return -1;
    return st_sort_unique(st, err, errlen);
}

static const char *const st_dir_names[] = {
    "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors",
    "model.safetensors.index.json", "model.safetensors",
};

/* ---- public API ---- */

int wrk_st_open(const char *path, wrk_st_t **out, char *err, size_t errlen)
{
    struct stat sb;
    wrk_st_t *st = calloc(1, sizeof *st);
    char *cand = NULL;
    *out = NULL;
    if (!st || !(st->origin = strdup(path))) { free(st); st_err(err, errlen, "%s: out of memory", path); return -1; }
    if (stat(path, &sb) != 0) { st_err(err, errlen, "%s: %s", path, strerror(errno)); goto fail; }
    if (S_ISDIR(sb.st_mode)) {
        for (size_t i = 0; i < sizeof st_dir_names / sizeof *st_dir_names && !cand; i++) {
            char *p = st_join(path, st_dir_names[i]);
            if (p && st_is_file(p)) cand = p; else free(p);
        }
        if (!cand) { st_err(err, errlen, "%s: no diffusion_pytorch_model / model .safetensors[.index.json] in directory", path); goto fail; }
        if (st_open_path(st, cand, err, errlen)) goto fail;
    } else if (st_open_path(st, path, err, errlen)) goto fail;
    free(cand);
    *out = st;
    return 0;
fail:
    free(cand);
    wrk_st_close(&st);
    return -1;
}

void wrk_st_close(wrk_st_t **pst)
{
    wrk_st_t *st = pst ? *pst : NULL;
    if (!st) return;
    for (int i = 0; i < st->nfiles; i++) {
        if (st->files[i].map) munmap((void *)st->files[i].map, st->files[i].size);
        proto_json_free(&st->files[i].header);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->t);
    free(st->origin);
    free(st);
    *pst = NULL;
}

int wrk_st_count(const wrk_st_t *st) { return st ? st->n : 0; }
int wrk_st_file_count(const wrk_st_t *st) { return st ? st->nfiles : 0; }

const wrk_st_tensor_t *wrk_st_at(const wrk_st_t *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const wrk_st_tensor_t *wrk_st_find(const wrk_st_t *st, const char *name)
{
    if (!st || !name) return NULL;
    wrk_st_tensor_t key = {.name = name};
    return bsearch(&key, st->t, (size_t)st->n, sizeof key, st_name_cmp);
}

const char *wrk_st_meta(const wrk_st_t *st, const char *key)
{
    for (int i = 0; st && i < st->nfiles; i++) {
        const char *v = proto_json_str(proto_json_get(proto_json_get(st->files[i].header, "__metadata__"), key));
        if (v) return v;
    }
    return NULL;
}

/* ---- reading ---- */

static void st_shape_str(char *b, size_t n, int nd, const int64_t *s)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int i = 0; i < nd && k < n; i++) k += (size_t)snprintf(b + k, n - k, i ? ", %lld" : "%lld", (long long)s[i]);
    if (k < n) snprintf(b + k, n - k, "]");
}

/* Finds name and checks its shape against expect (if any). */
static const wrk_st_tensor_t *st_lookup(const wrk_st_t *st, const char *name, int nd, const int64_t *expect,
                                        char *err, size_t errlen)
{
    const wrk_st_tensor_t *t = wrk_st_find(st, name);
    if (!t) { st_err(err, errlen, "%s: tensor '%s' not found", st ? st->origin : "(null)", name); return NULL; }
    int ok = !expect || nd == t->ndim;
    for (int i = 0; ok && expect && i < nd; i++) ok = expect[i] == t->shape[i];
    if (!ok) {
        char a[160], b[160];
        st_shape_str(a, sizeof a, t->ndim, t->shape);
        st_shape_str(b, sizeof b, nd, expect);
        st_err(err, errlen, "%s: tensor '%s': shape %s but expected %s", t->file, name, a, b);
        return NULL;
    }
    return t;
}

/* Resolves and checks a row/column slice of t viewed as [dim0, prod(dims 1..)]. */
static int st_slice(const wrk_st_tensor_t *t, int64_t *r0, int64_t *r1, int64_t *c0, int64_t *c1, int64_t *cols,
                    int64_t dst_numel, char *err, size_t errlen)
{
    int64_t rows = t->ndim ? t->shape[0] : 1;
    *cols = 1;
    for (int i = 1; i < t->ndim; i++) *cols *= t->shape[i];
    if (*r1 < 0) *r1 = rows;
    if (*c1 < 0) *c1 = *cols;
    if (*r0 < 0 || *r0 > *r1 || *r1 > rows || *c0 < 0 || *c0 > *c1 || *c1 > *cols) {
        st_err(err, errlen, "%s: tensor '%s': slice rows [%lld, %lld) cols [%lld, %lld) outside [%lld, %lld]",
               t->file, t->name, (long long)*r0, (long long)*r1, (long long)*c0, (long long)*c1, (long long)rows,
               (long long)*cols);
        return -1;
    }
    int64_t need = (*r1 - *r0) * (*c1 - *c0);
    if (need > dst_numel) {
        st_err(err, errlen, "%s: tensor '%s': needs %lld values, destination holds %lld", t->file, t->name,
               (long long)need, (long long)dst_numel);
        return -1;
    }
    return 0;
}

static const wrk_st_tensor_t *st_float_tensor(const wrk_st_t *st, const char *name, int nd, const int64_t *shape,
                                              char *err, size_t errlen)
{
    const wrk_st_tensor_t *t = st_lookup(st, name, nd, shape, err, errlen);
    if (t && !st_dtypes[t->dtype].to_f32) {
        st_err(err, errlen, "%s: tensor '%s': dtype %s is not a float type", t->file, name, st_dtypes[t->dtype].name);
        return NULL;
    }
    return t;
}

/* One row of a slice: n values of dtype dt at src into dst (the reader's element type). */
typedef void (*st_row_fn)(wrk_st_dtype_t dt, const uint8_t *src, void *dst, int64_t n);

static void st_row_f32(wrk_st_dtype_t dt, const uint8_t *src, void *dst, int64_t n)
{
    st_dtypes[dt].to_f32(src, dst, n);
}

/* To bf16 through fp32 in chunks (bf16 copied as is). */
static void st_row_bf16(wrk_st_dtype_t dt, const uint8_t *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    if (dt == WRK_ST_BF16) { memcpy(d, src, (size_t)n * 2); return; }
    float tmp[1024];
    for (int64_t k = 0; k < n; k += 1024) {
        int64_t m = n - k < 1024 ? n - k : 1024;
        st_dtypes[dt].to_f32(src + (size_t)k * st_dtypes[dt].size, tmp, m);
        for (int64_t j = 0; j < m; j++) d[k + j] = wrk_st_f32_to_bf16(tmp[j]);
    }
}

/* The slice [r0, r1) x [c0, c1) of a float tensor into dst, row by row through row(); dst elements
 * are out_size bytes. */
static int st_read_slice(const wrk_st_t *st, const char *name, int expect_ndim, const int64_t *expect_shape,
                         int64_t r0, int64_t r1, int64_t c0, int64_t c1, st_row_fn row, void *dst, size_t out_size,
                         int64_t dst_numel, char *err, size_t errlen)
{
    int64_t cols;
    const wrk_st_tensor_t *t = st_float_tensor(st, name, expect_ndim, expect_shape, err, errlen);
    if (!t || st_slice(t, &r0, &r1, &c0, &c1, &cols, dst_numel, err, errlen)) return -1;
    const uint8_t *base = t->data;
    size_t in_size = st_dtypes[t->dtype].size;
    for (int64_t r = r0, w = c1 - c0; r < r1; r++)
        row(t->dtype, base + (size_t)(r * cols + c0) * in_size, (uint8_t *)dst + (size_t)((r - r0) * w) * out_size, w);
    return 0;
}

int wrk_st_read_f32_slice(const wrk_st_t *st, const char *name, int expect_ndim,
                          const int64_t *expect_shape, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                          float *dst, int64_t dst_numel, char *err, size_t errlen)
{
    return st_read_slice(st, name, expect_ndim, expect_shape, r0, r1, c0, c1, st_row_f32, dst, sizeof *dst,
                         dst_numel, err, errlen);
}

int wrk_st_read_bf16_slice(const wrk_st_t *st, const char *name, int expect_ndim,
                           const int64_t *expect_shape, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                           uint16_t *dst, int64_t dst_numel, char *err, size_t errlen)
{
    return st_read_slice(st, name, expect_ndim, expect_shape, r0, r1, c0, c1, st_row_bf16, dst, sizeof *dst,
                         dst_numel, err, errlen);
}

int wrk_st_read_f32(const wrk_st_t *st, const char *name, int expect_ndim, const int64_t *expect_shape,
                    float *dst, int64_t dst_numel, char *err, size_t errlen)
{
    return wrk_st_read_f32_slice(st, name, expect_ndim, expect_shape, 0, -1, 0, -1, dst, dst_numel, err, errlen);
}

int wrk_st_read_i64(const wrk_st_t *st, const char *name, int expect_ndim, const int64_t *expect_shape,
                    int64_t *dst, int64_t dst_numel, char *err, size_t errlen)
{
    const wrk_st_tensor_t *t = st_lookup(st, name, expect_ndim, expect_shape, err, errlen);
    if (!t) return -1;
    const st_dtype_info_t *di = &st_dtypes[t->dtype];
    if (!di->to_i64) { st_err(err, errlen, "%s: tensor '%s': dtype %s is not an integer type", t->file, name, di->name); return -1; }
    if (t->numel > dst_numel) {
        st_err(err, errlen, "%s: tensor '%s': needs %lld values, destination holds %lld", t->file, name,
               (long long)t->numel, (long long)dst_numel);
        return -1;
    }
    di->to_i64(t->data, dst, t->numel);
    return 0;
}

/* ---- writing ---- */

static int st_w_check(int n, const wrk_st_wtensor_t *t, size_t *bytes, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        uint64_t ne = 1;
        if (!t[i].name || !t[i].name[0] || (unsigned)t[i].dtype >= WRK_ST_DTYPE_COUNT || t[i].ndim < 0 ||
            t[i].ndim > WRK_ST_MAX_DIMS) {
            st_err(err, errlen, "tensor %d ('%s'): empty name, bad dtype or ndim", i, t[i].name ? t[i].name : "");
            return -1;
        }
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0) { st_err(err, errlen, "tensor '%s': negative dim", t[i].name); return -1; }
            ne *= (uint64_t)t[i].shape[d];
        }
        bytes[i] = (size_t)ne * st_dtypes[t[i].dtype].size;
        if (bytes[i] && !t[i].data) { st_err(err, errlen, "tensor '%s': no data", t[i].name); return -1; }
        for (int k = 0; k < i; k++)
            if (strcmp(t[k].name, t[i].name) == 0) { st_err(err, errlen, "tensor '%s': duplicate name", t[i].name); return -1; }
    }
    return 0;
}

/* Builds the header text, space-padded so the data area starts 8-aligned. */
static int st_w_header(int n, const wrk_st_wtensor_t *t, const size_t *bytes, char **hdr, size_t *hlen,
                       char *err, size_t errlen)
{
    proto_json_writer_t w;
    size_t off = 0, len;
    char *s;
    proto_json_w_init(&w, 0);
    proto_json_w_begin_object(&w);
    for (int i = 0; i < n; i++) {
        proto_json_w_key(&w, t[i].name);
        proto_json_w_begin_object(&w);
        proto_json_w_key(&w, "dtype");
        proto_json_w_str(&w, st_dtypes[t[i].dtype].name);
        proto_json_w_key(&w, "shape");
        proto_json_w_begin_array(&w);
        for (int d = 0; d < t[i].ndim; d++) proto_json_w_int(&w, t[i].shape[d]);
        proto_json_w_end_array(&w);
        proto_json_w_key(&w, "data_offsets");
        proto_json_w_begin_array(&w);
        proto_json_w_int(&w, (int64_t)off);
        proto_json_w_int(&w, (int64_t)(off + bytes[i]));
        proto_json_w_end_array(&w);
        proto_json_w_end_object(&w);
        off += bytes[i];
    }
    proto_json_w_end_object(&w);
    if (proto_json_w_finish(&w, &s, &len, err, errlen)) { proto_json_w_free(&w); return -1; }
    proto_json_w_free(&w);
    size_t padded = (len + 7) & ~(size_t)7;
    char *p = realloc(s, padded + 1);
    if (!p) { free(s); st_err(err, errlen, "out of memory"); return -1; }
    memset(p + len, ' ', padded - len);
    p[padded] = 0;
    *hdr = p; *hlen = padded;
    return 0;
}

int wrk_st_write(const char *path, int n, const wrk_st_wtensor_t *t, char *err, size_t errlen)
{
    size_t *bytes = calloc((size_t)(n > 0 ? n : 1), sizeof *bytes), hlen = 0;
    char *hdr = NULL, tmp[4096];
    FILE *fp = NULL;
    int rc = -1;
    if (!bytes) { st_err(err, errlen, "%s: out of memory", path); return -1; }
    if (n < 0 || st_w_check(n, t, bytes, err, errlen) || st_w_header(n, t, bytes, &hdr, &hlen, err, errlen)) goto out;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (!(fp = fopen(tmp, "wb"))) { st_err(err, errlen, "%s: %s", tmp, strerror(errno)); goto out; }
    uint64_t hl = hlen;
    int ok = fwrite(&hl, 8, 1, fp) == 1 && fwrite(hdr, 1, hlen, fp) == hlen;
    for (int i = 0; ok && i < n; i++) ok = !bytes[i] || fwrite(t[i].data, 1, bytes[i], fp) == bytes[i];
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (fclose(fp) != 0) ok = 0;
    fp = NULL;
    if (!ok || rename(tmp, path) != 0) { st_err(err, errlen, "%s: write failed: %s", path, strerror(errno)); unlink(tmp); goto out; }
    rc = 0;
out:
    free(hdr);
    free(bytes);
    return rc;
}
