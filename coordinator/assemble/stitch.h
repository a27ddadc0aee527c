/* stitch.h — joins the temporal windows of one shot into exactly `frames` frames.
 *
 * Windows are streamed from their artifact files one frame at a time; frame t of the shot is the
 * weighted sum, in PREMULTIPLIED alpha, of frame t of every window covering t. A window's raw weight
 * is a smoothstep ramp over the frames it shares with an earlier window times a ramp down over the
 * frames it shares with a later one; raw weights are normalised so they always sum to one (for two
 * windows overlapping by O frames the ramps are already complementary). Frames covered by a single
 * window are copied unchanged. Not here: verification of checksums (farmd did that on receipt).
 */
#ifndef COORD_STITCH_H
#define COORD_STITCH_H
#include <stddef.h>
#include <stdint.h>
#include "proto/artifact.h"

#define COORD_STITCH_MAX_WINDOWS 100000

/* Window ranges [first[k], first[k]+n[k]); checks they lie inside [0, frames), cover it without a
 * gap, and that each window starts and ends strictly after the one before it (none contains another).
 * 0 ok, -1 with err naming the first window that breaks the rule. */
int coord_stitch_check_layout(int frames, int nwin, const int *first, const int *n, char *err, size_t errlen);

/* Normalised weights of all nwin windows at frame t (0 for windows not covering t); w has nwin
 * entries and sums to one. The layout must have passed coord_stitch_check_layout. */
void coord_stitch_weights(int nwin, const int *first, const int *n, int t, double *w);

typedef struct coord_stitch coord_stitch_t;

/* Checks the layout and every artifact header against its manifest and the shot size. Artifacts are
 * then opened only while they cover the frames being stitched. `paths` must outlive the stitcher
 * (manifests are copied). *out is owned by the caller (coord_stitch_close). 0 ok, -1 with err. */
int  coord_stitch_open(coord_stitch_t **out, int frames, int w, int h, int nwin,
                       const char *const *paths, const proto_manifest_t *manifests, char *err, size_t errlen);
/* Writes shot frame t (0 <= t < frames) to dst: (h, w, 4) premultiplied uint16. Any order of t
 * works; increasing t reads each artifact sequentially. 0 ok, -1 with err (I/O). */
int  coord_stitch_frame(coord_stitch_t *s, int t, uint16_t *dst, char *err, size_t errlen);
void coord_stitch_close(coord_stitch_t **s);

#endif
