/* test_contact_font.c — the 5x7 bitmap font used by the contact sheet and the testcard engine:
 * known glyph pixels, scale, premultiplied "over" composition, clipping at every edge, bad args. */
#include "tests/test.h"
#include "proto/font.h"
#include <stdint.h>

enum { W = 40, H = 20 };
static uint16_t px[H * W * 4];
static const uint16_t WHITE[4] = { 65535, 65535, 65535, 65535 };

static int lit(int x, int y) { return px[(y * W + x) * 4 + 3] != 0; }

static void glyph_one(void)
{
    memset(px, 0, sizeof px);
    CHECK(proto_draw_text(px, W, H, 0, 0, 1, "1", WHITE) == 0);
    /* '1' = {0x00,0x42,0x7F,0x40,0x00}: column 2 fully lit, column 0 and 4 empty */
    int col2 = 0, col0 = 0, col4 = 0;
    for (int y = 0; y < 7; y++) { col2 += lit(2, y); col0 += lit(0, y); col4 += lit(4, y); }
    CHECK_EQ_INT(col2, 7);
    CHECK_EQ_INT(col0, 0);
    CHECK_EQ_INT(col4, 0);
    CHECK(lit(1, 1) && lit(3, 6) && !lit(1, 0));
    int outside = 0;
    for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) if ((x >= 5 || y >= 7) && lit(x, y)) outside++;
    CHECK_EQ_INT(outside, 0);
}

static void scale_and_size(void)
{
    memset(px, 0, sizeof px);
    CHECK(proto_draw_text(px, W, H, 0, 0, 2, "1", WHITE) == 0);
    int n = 0;
    for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) n += lit(x, y);
    /* '1' has 1+... bits: 0x42 (2) + 0x7F (7) + 0x40 (1) = 10 bits -> 40 pixels at scale 2 */
    CHECK_EQ_INT(n, 40);
    int tw, th;
    proto_text_size("ab\ncde", 3, &tw, &th);
    CHECK_EQ_INT(tw, 3 * PROTO_FONT_CELL_W * 3);
    CHECK_EQ_INT(th, 2 * PROTO_FONT_CELL_H * 3);
}

static void over_compose(void)
{
    for (int i = 0; i < H * W; i++) { px[i*4] = 0; px[i*4+1] = 0; px[i*4+2] = 40000; px[i*4+3] = 40000; }
    const uint16_t half_red[4] = { 32768, 0, 0, 32768 };      /* premultiplied red at alpha 0.5 */
    CHECK(proto_draw_text(px, W, H, 0, 0, 1, "|", half_red) == 0);   /* '|' column 2 rows 0..6 */
    uint16_t *p = px + (3 * W + 2) * 4;
    CHECK(p[0] == 32768 && p[1] == 0);
    CHECKF(abs((int)p[2] - 20000) <= 1, "b=%d", p[2]);
    CHECKF(abs((int)p[3] - (32768 + 20000)) <= 1, "a=%d", p[3]);
    CHECK(px[(3 * W + 1) * 4 + 3] == 40000);                  /* untouched neighbour */
}

static void clipping(void)
{
    memset(px, 0, sizeof px);
    CHECK(proto_draw_text(px, W, H, -3, -4, 1, "8888888888", WHITE) == 0);
    CHECK(proto_draw_text(px, W, H, W - 2, H - 2, 4, "W", WHITE) == 0);
    CHECK(proto_draw_text(px, W, H, 10000, 10000, 1, "x", WHITE) == 0);
    CHECK(proto_draw_text(px, W, H, -10000, 0, 1, "x", WHITE) == 0);
    CHECK(lit(W - 1, H - 1) || lit(W - 2, H - 2));
}

static void bad_args(void)
{
    CHECK(proto_draw_text(NULL, W, H, 0, 0, 1, "a", WHITE) == -1);
    CHECK(proto_draw_text(px, 0, H, 0, 0, 1, "a", WHITE) == -1);
    CHECK(proto_draw_text(px, W, H, 0, 0, 0, "a", WHITE) == -1);
    CHECK(proto_draw_text(px, W, H, 0, 0, 1, NULL, WHITE) == -1);
    memset(px, 0, sizeof px);
    CHECK(proto_draw_text(px, W, H, 0, 0, 1, "\x01", WHITE) == 0);   /* drawn as '?' */
    CHECK(lit(1, 0));
}

int main(void)
{
    T_RUN(glyph_one);
    T_RUN(scale_and_size);
    T_RUN(over_compose);
    T_RUN(clipping);
    T_RUN(bad_args);
    T_DONE();
}
