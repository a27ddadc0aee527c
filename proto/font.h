/* font.h — a tiny 5x7 bitmap font (printable ASCII 0x20..0x7e) drawn into premultiplied RGBA16 frames.
 *
 * Used by the testcard engine (frame numbers) and the contact sheet (shot name, frame numbers).
 * Each glyph is 5x7 pixels in a 6x8 cell; `scale` multiplies every pixel into a scale x scale block.
 * Characters outside the printable range are drawn as '?'; '\n' starts a new line at x.
 * Not a text layout engine: no kerning, no wrapping, no anti-aliasing.
 */
#ifndef PROTO_FONT_H
#define PROTO_FONT_H
#include <stdint.h>

#define PROTO_FONT_GLYPH_W 5
#define PROTO_FONT_GLYPH_H 7
#define PROTO_FONT_CELL_W  6     /* horizontal advance per character (times scale) */
#define PROTO_FONT_CELL_H  8     /* line height (times scale) */

/* Draws text with its top-left corner at (x, y) into a (h, w, 4) premultiplied RGBA frame, composing
 * colour (premultiplied RGBA, 0..65535) OVER the existing pixels; everything outside the frame is
 * clipped. 0 ok; -1 on bad arguments (NULL pointers, w/h <= 0, scale < 1 or > 64). */
int proto_draw_text(uint16_t *rgba_premul, int w, int h, int x, int y, int scale, const char *text,
                    const uint16_t color[4]);
/* Size in pixels that proto_draw_text would cover for text at scale (widest line, number of lines). */
void proto_text_size(const char *text, int scale, int *out_w, int *out_h);

#endif
