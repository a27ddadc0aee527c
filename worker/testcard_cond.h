/* testcard_cond.h — the testcard engine's side of the strategies' conditioning blobs (issue #8,
 * proto/cond.h), so the farm's plumbing (worker -> artifact -> farmd -> ASSIGN -> worker) is tested
 * with real processes without a model.
 *
 * What a model engine hands on as latents, the testcard hands on in pixel space: per frame an 8×8 grid
 * of cell means, half 0 = premultiplied luma, half 1 = alpha (halves 2, channels 1).
 *   chain,  a render window: its last min(overlap, n) frames (kind chain);
 *   anchor, the anchor stage: its frame (kind anchor);
 *   anchor-causal, a render window: [the shot's frame 0, its last frame] (kind anchor, 2 frames; the
 *           receiving window finds which of its frames is the previous window's last).
 * Because testcard frames are a pure function of (seed, frame), a receiving window recomputes the
 * grid of the frames the blob says it stands for and refuses a blob that does not match (wrong kind
 * for the strategy, frames outside the shot, other content): a blob from the wrong window fails it.
 */
#ifndef WORKER_TESTCARD_COND_H
#define WORKER_TESTCARD_COND_H
#include <stddef.h>
#include "proto/frames.h"
#include "proto/proto.h"

/* Attaches f->cond when the ASSIGN's strategy and role hand something on (else leaves it NULL).
 * 0 ok, -1 with err. */
int wrk_testcard_cond_make(const proto_msg_t *a, proto_frames_t *f, char *err, size_t errlen);
/* Checks the ASSIGN's conditioning blob (a->data) against what the testcard would have handed on.
 * 0: matches, or nothing was sent; -1 with err: malformed, wrong kind, or other frames. */
int wrk_testcard_cond_check(const proto_msg_t *a, char *err, size_t errlen);

#endif
