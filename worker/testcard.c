/* testcard.c — procedural, deterministic RGBA test frames (see testcard.h).
 * Shape parameters come from a splitmix64 stream seeded by the shot seed only; motion is a function
 * of the frame index, so any frame can be rendered alone. Coverage uses a smoothstep over a soft
 * edge a few pixels wide, composited premultiplied OVER the frame, in float, rounded to uint16. */
#include "worker/testcard.h"
#include "proto/font.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_SHAPES 6

typedef struct {
    int    square;          /* 0 circle, 1 square */
    float  rgb[3];          /* straight colour 0..1 */
    float  alpha;           /* peak opacity 0.35..1 */
    float  size;            /* radius / half side, as a fraction of min(w, h) */
    float  x0, y0;          /* start position, fraction of w / h */
    float  vx, vy;          /* motion in fractions of w / h per frame */
} shape_t;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float unit(uint64_t *s) { return (float)(splitmix64(s) >> 40) / (float)(1 << 24); }

static void make_shapes(uint64_t seed, shape_t sh[N_SHAPES])
{
    uint64_t s = seed ^ 0x7e57ca4dULL;
    for (int i = 0; i < N_SHAPES; i++) {
        sh[i].square = (int)(splitmix64(&s) & 1);
        for (int c = 0; c < 3; c++) sh[i].rgb[c] = 0.15f + 0.85f * unit(&s);
        sh[i].alpha = i == 0 ? 1.0f : 0.35f + 0.65f * unit(&s);
        sh[i].size = 0.08f + 0.17f * unit(&s);
        sh[i].x0 = unit(&s); sh[i].y0 = unit(&s);
        sh[i].vx = (unit(&s) - 0.5f) * 0.04f; sh[i].vy = (unit(&s) - 0.5f) * 0.04f;
    }
}

/* Position wrapped into [-margin, 1 + margin) so shapes leave one edge and come back at the other. */
static float wrap(float p, float margin)
{
    float span = 1.0f + 2.0f * margin, q = fmodf(p + margin, span);
    if (q < 0) q += span;
    return q - margin;
}

static float smooth_cover(float inside, float soft)   /* inside: signed distance into the shape, px */
{
    float t = inside / soft + 0.5f;
    if (t <= 0) return 0;
    if (t >= 1) return 1;
    return t * t * (3 - 2 * t);
}

static void draw_shape(const shape_t *s, int index, int w, int h, uint16_t *px)   /* px: (h, w, 4) */
{
    float m = (float)(w < h ? w : h), r = s->size * m, soft = 2.0f + 0.04f * m;
    float cx = wrap(s->x0 + s->vx * (float)index, s->size) * (float)w;
    float cy = wrap(s->y0 + s->vy * (float)index, s->size) * (float)h;
    int x0 = (int)floorf(cx - r - soft), x1 = (int)ceilf(cx + r + soft);
    int y0 = (int)floorf(cy - r - soft), y1 = (int)ceilf(cy + r + soft);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w) x1 = w;
    if (y1 > h) y1 = h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            float dx = (float)x + 0.5f - cx, dy = (float)y + 0.5f - cy, d;
            d = s->square ? fmaxf(fabsf(dx), fabsf(dy)) : sqrtf(dx * dx + dy * dy);
            float a = s->alpha * smooth_cover(r - d, soft);
            if (a <= 0) continue;
            uint16_t *p = px + ((size_t)y * (size_t)w + (size_t)x) * 4;
            for (int c = 0; c < 3; c++)
                p[c] = (uint16_t)lrintf(s->rgb[c] * a * 65535.0f + (float)p[c] * (1 - a));
            p[3] = (uint16_t)lrintf(a * 65535.0f + (float)p[3] * (1 - a));
        }
}

int wrk_testcard_frame(uint64_t seed, int index, int w, int h, uint16_t *px, char *err, size_t errlen)
{
    if (!px || w <= 0 || h <= 0 || index < 0) {
        snprintf(err, errlen, "testcard: bad frame arguments w=%d h=%d index=%d", w, h, index);
        return -1;
    }
    shape_t sh[N_SHAPES];
    make_shapes(seed, sh);
    memset(px, 0, (size_t)w * (size_t)h * 4 * sizeof *px);
    for (int i = 0; i < N_SHAPES; i++) draw_shape(&sh[i], index, w, h, px);
    char label[32];
    snprintf(label, sizeof label, "%d", index);
    int scale = h / 60 > 1 ? h / 60 : 1;
    static const uint16_t white[4] = { 65535, 65535, 65535, 65535 };
    if (proto_draw_text(px, w, h, 2 * scale, 2 * scale, scale, label, white) < 0) {
        snprintf(err, errlen, "testcard: drawing the frame number failed");
        return -1;
    }
    return 0;
}
