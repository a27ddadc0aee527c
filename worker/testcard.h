/* testcard.h — the testcard engine: a procedural RGBA render, the farm's own way to validate a farm
 * and its codecs without a model.
 *
 * Every frame is a pure function of (seed, absolute frame index, w, h): soft-edged circles and
 * squares (smooth alpha falloff at their edges, some partially transparent) moving over full
 * transparency, and the absolute frame number drawn in opaque white at the top left. Because a frame
 * does not depend on the window it is rendered in, overlapping windows agree exactly.
 * Output is premultiplied uint16 RGBA (proto_frames_t). Not a model, not random per call.
 */
#ifndef WORKER_TESTCARD_H
#define WORKER_TESTCARD_H
#include <stddef.h>
#include <stdint.h>

/* Renders frame `index` (absolute within the shot) into px: (h, w, 4) premultiplied RGBA16,
 * overwriting it. 0 ok; -1 with err on bad arguments. */
int wrk_testcard_frame(uint64_t seed, int index, int w, int h, uint16_t *px, char *err, size_t errlen);

#endif
