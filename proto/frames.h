/* frames.h — an RGBA frame sequence in memory, the unit every stage hands to the next.
 *
 * Pixels are 16-bit unsigned per channel, PREMULTIPLIED alpha (the model's native output and the
 * convention the stitcher blends in); encoders un-premultiply where a format stores straight alpha.
 * This header is only the container; artifact.h writes/reads it, coordinator/assemble stitches it.
 */
#ifndef PROTO_FRAMES_H
#define PROTO_FRAMES_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;            /* frame size in pixels, > 0 */
    int n;               /* number of frames, > 0 */
    int first;           /* index of frame 0 within the shot ([first, first+n) of [0, frames)) */
    uint16_t *px;        /* (n, h, w, 4) RGBA premultiplied, 0..65535; owned by this struct */
    uint8_t *cond;       /* optional conditioning blob (proto/cond.h) the window hands on, or NULL; owned */
    size_t cond_len;
} proto_frames_t;

/* Allocates px for n×h×w×4 samples (zeroed). Returns 0, or -1 with err filled (size overflow, OOM). */
int  proto_frames_alloc(proto_frames_t *f, int w, int h, int n, int first, char *err, size_t errlen);
/* Frees px and cond and zeroes the struct; safe on a zeroed struct. */
void proto_frames_free(proto_frames_t *f);
/* Pointer to frame i (0-based within this sequence): (h, w, 4). */
static inline uint16_t *proto_frame(const proto_frames_t *f, int i)
{ return f->px + (size_t)i * (size_t)f->h * (size_t)f->w * 4; }

#endif
