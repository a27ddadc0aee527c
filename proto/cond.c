/* cond.c — conditioning blobs (see cond.h for the encoding). Pure functions over byte buffers. */
#include "proto/cond.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COND_MAGIC "FRMCOND1"
#define COND_VERSION 1u
#define COND_MAX_DIM 65536u
#define COND_MAX_FIRST 100000              /* frames in a shot (shotlist.h) */

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }

static const proto_cond_strategy_t COND_STRATEGIES[] = {
    { "independent",   0,                 0,                 0 },
    { "chain",         PROTO_COND_CHAIN,  PROTO_COND_CHAIN,  0 },   /* hand on: needs overlap > 0 */
    { "anchor",        PROTO_COND_ANCHOR, 0,                 0 },   /* the anchor stage hands on */
    { "anchor-causal", PROTO_COND_ANCHOR, PROTO_COND_ANCHOR, 1 },   /* [shot frame 0, last frame] */
};

const proto_cond_strategy_t *proto_cond_strategy(const char *name)
{
    for (size_t i = 0; i < sizeof COND_STRATEGIES / sizeof COND_STRATEGIES[0]; i++)
        if (name && !strcmp(COND_STRATEGIES[i].name, name)) return &COND_STRATEGIES[i];
    return &COND_STRATEGIES[0];
}

const char *proto_cond_kind_name(int kind)
{
    static const char *const N[PROTO_COND_KIND_END_] = { [PROTO_COND_CHAIN] = "chain", [PROTO_COND_ANCHOR] = "anchor" };
    return kind > 0 && kind < PROTO_COND_KIND_END_ ? N[kind] : "?";
}

size_t proto_cond_floats(const proto_cond_t *c)
{
    const int d[] = { c->frames, c->c, c->h, c->w };
    if (c->halves != 1 && c->halves != 2) return 0;
    size_t n = (size_t)c->halves;
    for (int i = 0; i < 4; i++) {
        if (d[i] < 1 || (unsigned)d[i] > COND_MAX_DIM) return 0;
        n *= (size_t)d[i];
        if (n > PROTO_COND_MAX) return 0;        /* floats > bytes/4: over the limit anyway */
    }
    return n;
}

static void f32_to_le(uint8_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) { uint32_t v; memcpy(&v, &src[i], 4); put32(dst + 4 * i, v); }
}

static void f32_from_le(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) { uint32_t v = get32(src + 4 * i); memcpy(&dst[i], &v, 4); }
}

int proto_cond_encode(const proto_cond_t *c, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    size_t n = proto_cond_floats(c);
    *out = NULL; *len = 0;
    if (c->kind <= 0 || c->kind >= PROTO_COND_KIND_END_ || !n || !c->data ||
        PROTO_COND_HDR + 4 * n > PROTO_COND_MAX) {
        snprintf(err, errlen, "cond: bad kind %d or block %dx%dx%dx%dx%d (limit %u bytes)", c->kind, c->halves,
                 c->frames, c->c, c->h, c->w, PROTO_COND_MAX);
        return -1;
    }
    uint8_t *b = malloc(PROTO_COND_HDR + 4 * n);
    if (!b) { snprintf(err, errlen, "cond: out of memory"); return -1; }
    memcpy(b, COND_MAGIC, 8);
    if (c->first < 0 || c->first > COND_MAX_FIRST) {
        snprintf(err, errlen, "cond: first frame %d out of range", c->first);
        return -1;
    }
    const uint32_t f[] = { COND_VERSION, (uint32_t)c->kind, (uint32_t)c->halves, (uint32_t)c->frames,
                           (uint32_t)c->c, (uint32_t)c->h, (uint32_t)c->w, (uint32_t)c->first };
    for (int i = 0; i < 8; i++) put32(b + 8 + 4 * i, f[i]);
    f32_to_le(b + PROTO_COND_HDR, c->data, n);
    *out = b; *len = PROTO_COND_HDR + 4 * n;
    return 0;
}

int proto_cond_decode(const uint8_t *b, size_t len, proto_cond_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!b || len < PROTO_COND_HDR || memcmp(b, COND_MAGIC, 8) != 0) {
        snprintf(err, errlen, "cond: not a conditioning blob (%zu bytes, bad magic or truncated)", len);
        return -1;
    }
    if (get32(b + 8) != COND_VERSION || get32(b + 36) > COND_MAX_FIRST) {
        snprintf(err, errlen, "cond: unsupported version %u or first frame %u", get32(b + 8), get32(b + 36));
        return -1;
    }
    uint32_t v[6];
    for (int i = 0; i < 6; i++) v[i] = get32(b + 12 + 4 * i);
    for (int i = 0; i < 6; i++)
        if (v[i] > COND_MAX_DIM) { snprintf(err, errlen, "cond: header field %d out of range (%u)", i, v[i]); return -1; }
    proto_cond_t t = { (int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5],
                       (int)get32(b + 36), NULL };
    size_t n = proto_cond_floats(&t);
    if (t.kind <= 0 || t.kind >= PROTO_COND_KIND_END_ || !n || len != PROTO_COND_HDR + 4 * n) {
        snprintf(err, errlen, "cond: kind %d, block %dx%dx%dx%dx%d does not match %zu bytes", t.kind, t.halves,
                 t.frames, t.c, t.h, t.w, len);
        return -1;
    }
    if (!(t.data = malloc(4 * n))) { snprintf(err, errlen, "cond: out of memory"); return -1; }
    f32_from_le(t.data, b + PROTO_COND_HDR, n);
    *c = t;
    return 0;
}

void proto_cond_free(proto_cond_t *c)
{
    if (!c) return;
    free(c->data);
    memset(c, 0, sizeof *c);
}
