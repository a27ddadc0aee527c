/* proto.c — the message table and the codec derived from it (see proto.h for the wire layout).
 * Pure functions over byte buffers: no sockets, no global state besides the const tables.
 * The decoder treats its input as hostile: every length is checked before it is used. */
#include "proto/proto.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- field table ---- */
#define FLD(n, k, mx) { #n, PROTO_F_##k, offsetof(proto_msg_t, n), mx }
enum {
    F_ATTEMPT, F_JOB, F_SINCE, F_OFFSET, F_TOTAL_SIZE, F_MEM_MB, F_SEED,
    F_WINDOW_INDEX, F_FIRST_FRAME, F_N_FRAMES, F_SHOT_FRAMES, F_OVERLAP,
    F_DONE, F_TOTAL, F_N_GPUS, F_WIDTH, F_HEIGHT, F_STEPS, F_CRC, F_HB_MS, F_FLAGS,
    F_STATUS, F_FAIL_CLASS, F_FPS, F_GUIDANCE,
    F_WORKER_ID, F_SHOT, F_NAME, F_ENGINES, F_ENGINE, F_STRATEGY, F_MODEL, F_LORA,
    F_KIND, F_VERB, F_WHAT, F_ARGS, F_FILE_NAME, F_MANIFEST, F_PROMPT, F_NEGATIVE,
    F_TEXT, F_DATA, F_ROLE, F_N_
};
const proto_field_t PROTO_FIELDS[] = {
    FLD(attempt_id, U64, 0), FLD(job_id, U64, 0), FLD(since, U64, 0), FLD(offset, U64, 0),
    FLD(total_size, U64, 0), FLD(mem_mb, U64, 0), FLD(seed, U64, 0),
    FLD(window_index, U32, 0), FLD(first_frame, U32, 0), FLD(n_frames, U32, 0),
    FLD(shot_frames, U32, 0), FLD(overlap, U32, 0),
    FLD(done, U32, 0), FLD(total, U32, 0), FLD(n_gpus, U32, 0), FLD(width, U32, 0),
    FLD(height, U32, 0), FLD(steps, U32, 0), FLD(crc32c, U32, 0), FLD(heartbeat_ms, U32, 0),
    FLD(flags, U32, 0),
    FLD(status, I32, 0), FLD(fail_class, U8, PROTO_FAIL_N_ - 1), FLD(fps, F64, 0),
    FLD(guidance, F64, 0),
    FLD(worker_id, ID, PROTO_ID_MAX), FLD(shot, ID, PROTO_ID_MAX),
    FLD(name, STR, PROTO_STR_MAX), FLD(engines, STR, PROTO_STR_MAX), FLD(engine, STR, 31),
    FLD(strategy, STR, 31), FLD(model, STR, PROTO_STR_MAX), FLD(lora, STR, PROTO_STR_MAX),
    FLD(kind, STR, 31), FLD(verb, STR, 31), FLD(what, STR, 31), FLD(args, STR, PROTO_STR_MAX),
    FLD(file_name, STR, PROTO_STR_MAX), FLD(manifest, STR, PROTO_MANIFEST_MAX),
    FLD(prompt, STR, PROTO_PROMPT_BYTES), FLD(negative, STR, PROTO_PROMPT_BYTES),
    FLD(text, TEXT, PROTO_TEXT_MAX), FLD(data, BYTES, PROTO_CHUNK_MAX), FLD(role, STR, 15),
};
const int PROTO_N_FIELDS = F_N_;
_Static_assert(sizeof PROTO_FIELDS / sizeof PROTO_FIELDS[0] == F_N_, "field table out of sync");

/* ---- message table: the single definition of the protocol ---- */
#define W PROTO_DIR_WORKER
#define C PROTO_DIR_FARMD
#define END -1
const proto_mdef_t PROTO_MESSAGES[] = {
    { PROTO_READY, "READY", W,
      { F_WORKER_ID, F_NAME, F_ENGINES, F_N_GPUS, F_MEM_MB, F_ATTEMPT, END } },
    { PROTO_HEARTBEAT, "HEARTBEAT", PROTO_DIR_BOTH, { F_ATTEMPT, F_HB_MS, F_FLAGS, END } },
    { PROTO_PROGRESS, "PROGRESS", W, { F_ATTEMPT, F_DONE, F_TOTAL, F_TEXT, END } },
    { PROTO_RESULT, "RESULT", W, { F_ATTEMPT, F_OFFSET, F_TOTAL_SIZE, F_CRC, F_DATA, END } },
    { PROTO_DONE, "DONE", W, { F_ATTEMPT, F_MANIFEST, F_TEXT, END } },
    { PROTO_FAIL, "FAIL", W, { F_ATTEMPT, F_FAIL_CLASS, F_TEXT, END } },
    { PROTO_ASSIGN, "ASSIGN", C,
      { F_ATTEMPT, F_JOB, F_SHOT, F_WINDOW_INDEX, F_FIRST_FRAME, F_N_FRAMES, F_SHOT_FRAMES,
        F_OVERLAP, F_ENGINE, F_PROMPT, F_NEGATIVE, F_WIDTH, F_HEIGHT, F_FPS, F_SEED, F_STEPS,
        F_GUIDANCE, F_MODEL, F_LORA, F_STRATEGY, F_ROLE, F_DATA, END } },
    { PROTO_ACK, "ACK", C, { F_ATTEMPT, F_WHAT, END } },
    { PROTO_CANCEL, "CANCEL", C, { F_ATTEMPT, F_TEXT, END } },
    { PROTO_SUBMIT, "SUBMIT", PROTO_DIR_CLIENT, { F_FILE_NAME, F_TEXT, END } },
    { PROTO_SUBMIT_REPLY, "SUBMIT_REPLY", PROTO_DIR_REPLY, { F_STATUS, F_JOB, F_TEXT, END } },
    { PROTO_QUERY, "QUERY", PROTO_DIR_CLIENT, { F_KIND, F_JOB, F_SINCE, F_ARGS, END } },
    { PROTO_QUERY_REPLY, "QUERY_REPLY", PROTO_DIR_REPLY, { F_STATUS, F_TEXT, END } },
    { PROTO_CONTROL, "CONTROL", PROTO_DIR_CLIENT, { F_VERB, F_JOB, END } },
    { PROTO_CONTROL_REPLY, "CONTROL_REPLY", PROTO_DIR_REPLY, { F_STATUS, F_TEXT, END } },
};
const int PROTO_N_MESSAGES = sizeof PROTO_MESSAGES / sizeof PROTO_MESSAGES[0];
#undef W
#undef C

static const char *const FAIL_CLASS_NAMES[PROTO_FAIL_N_] = { "window", "model", "resource", "infra" };

/* ---- static helpers ---- */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap; va_start(ap, fmt); vsnprintf(err, errlen, fmt, ap); va_end(ap);
    }
    return rc;
}

typedef struct { uint8_t *p; size_t n, cap; int oom; } wbuf_t;

static void w_put(wbuf_t *b, const void *src, size_t n)
{
    if (b->oom || n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n); b->n += n;
}

static void w_uint(wbuf_t *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    w_put(b, t, (size_t)bytes);
}

typedef struct { const uint8_t *p; size_t n, at; } rbuf_t;

static int r_uint(rbuf_t *r, uint64_t *v, int bytes)
{
    if (r->n - r->at < (size_t)bytes) return -1;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++) x = (x << 8) | r->p[r->at + i];
    r->at += (size_t)bytes; *v = x;
    return 0;
}

static int lenbytes(proto_fkind_t k) { return k == PROTO_F_ID || k == PROTO_F_STR ? 2 : 4; }

/* ---- public: names ---- */
const proto_mdef_t *proto_mdef(int type)
{
    for (int i = 0; i < PROTO_N_MESSAGES; i++)
        if (PROTO_MESSAGES[i].type == type) return &PROTO_MESSAGES[i];
    return NULL;
}

const char *proto_type_name(int type)
{
    const proto_mdef_t *d = proto_mdef(type);
    return d ? d->name : "?";
}

int proto_type_from_name(const char *name)
{
    for (int i = 0; name && i < PROTO_N_MESSAGES; i++)
        if (strcmp(PROTO_MESSAGES[i].name, name) == 0) return PROTO_MESSAGES[i].type;
    return -1;
}

const char *proto_fail_class_name(int c)
{
    return c >= 0 && c < PROTO_FAIL_N_ ? FAIL_CLASS_NAMES[c] : "?";
}

int proto_fail_class_from_name(const char *s)
{
    for (int i = 0; s && i < PROTO_FAIL_N_; i++)
        if (strcmp(FAIL_CLASS_NAMES[i], s) == 0) return i;
    return -1;
}

int proto_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PROTO_ID_MAX) return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == ':';
        if (!ok) return 0;
    }
    return strstr(s, "..") == NULL;
}

/* ---- public: message lifetime ---- */
void proto_msg_init(proto_msg_t *m, int type)
{
    memset(m, 0, sizeof *m);
    m->type = type; m->version = PROTO_VERSION;
}

void proto_msg_free(proto_msg_t *m)
{
    if (!m) return;
    free(m->text); free(m->data);
    memset(m, 0, sizeof *m);
}

int proto_msg_set_text(proto_msg_t *m, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > PROTO_TEXT_MAX) return -1;
    char *p = malloc(n + 1);
    if (!p) return -1;
    memcpy(p, s ? s : "", n + 1);
    free(m->text); m->text = p;
    return 0;
}

int proto_msg_set_data(proto_msg_t *m, const void *p, size_t n)
{
    if (n > PROTO_CHUNK_MAX) return -1;
    uint8_t *d = malloc(n ? n : 1);
    if (!d) return -1;
    if (n) memcpy(d, p, n);
    free(m->data); m->data = d; m->data_len = n;
    return 0;
}

/* ---- encode ---- */
static int enc_field(wbuf_t *b, const proto_msg_t *m, const proto_field_t *f, char *err, size_t errlen)
{
    const char *base = (const char *)m + f->offset;
    switch (f->kind) {
    case PROTO_F_U8:  w_uint(b, *(const uint8_t *)base, 1); return 0;
    case PROTO_F_U32: w_uint(b, *(const uint32_t *)base, 4); return 0;
    case PROTO_F_I32: w_uint(b, (uint32_t)*(const int32_t *)base, 4); return 0;
    case PROTO_F_U64: w_uint(b, *(const uint64_t *)base, 8); return 0;
    case PROTO_F_F64: { uint64_t u; memcpy(&u, base, 8); w_uint(b, u, 8); return 0; }
    case PROTO_F_BYTES:
        if (m->data_len > f->max || (m->data_len && !m->data))
            return fail(err, errlen, -1, "field %s: %zu bytes over limit %zu", f->name, m->data_len, f->max);
        w_uint(b, m->data_len, 4); w_put(b, m->data, m->data_len); return 0;
    default: break;
    }
    const char *s = f->kind == PROTO_F_TEXT ? *(char *const *)base : base;
    size_t n = s ? strlen(s) : 0;
    if (n > f->max) return fail(err, errlen, -1, "field %s: %zu bytes over limit %zu", f->name, n, f->max);
    if (f->kind == PROTO_F_ID && n && !proto_id_valid(s))
        return fail(err, errlen, -1, "field %s: '%s' is not a valid id", f->name, s);
    w_uint(b, n, lenbytes(f->kind)); w_put(b, s, n);
    return 0;
}

int proto_encode(const proto_msg_t *m, uint8_t hdr[PROTO_HEADER_BYTES], uint8_t **body,
                 size_t *body_len, char *err, size_t errlen)
{
    const proto_mdef_t *d = proto_mdef(m->type);
    *body = NULL; *body_len = 0;
    if (!d) return fail(err, errlen, -1, "encode: unknown message type %d", m->type);
    if (m->type == PROTO_FAIL && m->fail_class >= PROTO_FAIL_N_)
        return fail(err, errlen, -1, "encode FAIL: class %d unknown", m->fail_class);
    wbuf_t b = {0};
    for (int i = 0; d->fields[i] >= 0; i++) {
        if (enc_field(&b, m, &PROTO_FIELDS[d->fields[i]], err, errlen) != 0) {
            free(b.p); return -1;
        }
    }
    if (b.oom) { free(b.p); return fail(err, errlen, -1, "encode %s: out of memory", d->name); }
    hdr[0] = PROTO_MAGIC0; hdr[1] = PROTO_MAGIC1;
    hdr[2] = (uint8_t)(PROTO_VERSION >> 8); hdr[3] = (uint8_t)PROTO_VERSION;
    hdr[4] = (uint8_t)m->type; hdr[5] = 0;
    *body = b.p; *body_len = b.n;
    return 0;
}

/* ---- decode ---- */
static int dec_str(rbuf_t *r, proto_msg_t *m, const proto_field_t *f, char *err, size_t errlen)
{
    uint64_t n;
    if (r_uint(r, &n, lenbytes(f->kind)) != 0) return fail(err, errlen, -2, "field %s: truncated length", f->name);
    if (n > f->max) return fail(err, errlen, -2, "field %s: length %llu over limit %zu", f->name, (unsigned long long)n, f->max);
    if (r->n - r->at < n) return fail(err, errlen, -2, "field %s: truncated (%llu bytes announced)", f->name, (unsigned long long)n);
    const uint8_t *src = r->p + r->at;
    if (f->kind != PROTO_F_BYTES && memchr(src, 0, n)) return fail(err, errlen, -2, "field %s: NUL byte in string", f->name);
    char *base = (char *)m + f->offset;
    if (f->kind == PROTO_F_TEXT || f->kind == PROTO_F_BYTES) {
        uint8_t *p = malloc(n + 1);
        if (!p) return fail(err, errlen, -2, "field %s: out of memory", f->name);
        memcpy(p, src, n); p[n] = 0;
        if (f->kind == PROTO_F_TEXT) *(char **)base = (char *)p;
        else { m->data = p; m->data_len = n; }
    } else {
        memcpy(base, src, n); base[n] = 0;
        if (f->kind == PROTO_F_ID && n && !proto_id_valid(base))
            return fail(err, errlen, -2, "field %s: not a valid id", f->name);
    }
    r->at += n;
    return 0;
}

static int dec_field(rbuf_t *r, proto_msg_t *m, const proto_field_t *f, char *err, size_t errlen)
{
    static const int width[] = { [PROTO_F_U8] = 1, [PROTO_F_U32] = 4, [PROTO_F_I32] = 4,
                                 [PROTO_F_U64] = 8, [PROTO_F_F64] = 8 };
    if (f->kind >= PROTO_F_ID) return dec_str(r, m, f, err, errlen);
    uint64_t v;
    if (r_uint(r, &v, width[f->kind]) != 0) return fail(err, errlen, -2, "field %s: truncated", f->name);
    char *base = (char *)m + f->offset;
    switch (f->kind) {
    case PROTO_F_U8:
        if (f->max && v > f->max) return fail(err, errlen, -2, "field %s: %llu out of range", f->name, (unsigned long long)v);
        *(uint8_t *)base = (uint8_t)v; break;
    case PROTO_F_U32: *(uint32_t *)base = (uint32_t)v; break;
    case PROTO_F_I32: *(int32_t *)base = (int32_t)(uint32_t)v; break;
    case PROTO_F_U64: *(uint64_t *)base = v; break;
    default: memcpy(base, &v, 8); break;
    }
    return 0;
}

int proto_decode(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                 proto_msg_t *m, char *err, size_t errlen)
{
    proto_msg_init(m, 0);
    if (!hdr || hdr_len != PROTO_HEADER_BYTES) return fail(err, errlen, -2, "header: %zu bytes, want %d", hdr_len, PROTO_HEADER_BYTES);
    if (hdr[0] != PROTO_MAGIC0 || hdr[1] != PROTO_MAGIC1) return fail(err, errlen, -2, "header: bad magic");
    int ver = hdr[2] << 8 | hdr[3];
    if (ver != PROTO_VERSION) return fail(err, errlen, -2, "header: protocol version %d, want %d", ver, PROTO_VERSION);
    const proto_mdef_t *d = proto_mdef(hdr[4]);
    if (!d) return fail(err, errlen, -2, "header: unknown message type %d", hdr[4]);
    if (hdr[5] != 0) return fail(err, errlen, -2, "header: reserved byte %d", hdr[5]);
    if (body_len > PROTO_BODY_MAX) return fail(err, errlen, -2, "%s: body %zu bytes over limit", d->name, body_len);
    m->type = d->type;
    rbuf_t r = { body, body ? body_len : 0, 0 };
    char ferr[160] = "";
    for (int i = 0; d->fields[i] >= 0; i++)
        if (dec_field(&r, m, &PROTO_FIELDS[d->fields[i]], ferr, sizeof ferr) != 0)
            return fail(err, errlen, -2, "%s: %s", d->name, ferr);
    if (r.at != r.n) return fail(err, errlen, -2, "%s: %zu trailing bytes", d->name, r.n - r.at);
    return 0;
}
