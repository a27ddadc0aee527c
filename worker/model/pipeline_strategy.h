/* pipeline_strategy.h — the `chain` and `anchor` strategies inside the dit engine (issue #8): turns
 * an ASSIGN (strategy, role, overlap, conditioning blob in ASSIGN.data) into what the sampler loop
 * needs, and the finished window's latents into the blob it hands on.
 *
 *   chain, render window with a blob:  the blob's latents pin the window's latent frames that stand
 *        for the same shot frames (chain_pin.h; normally the first P = (overlap−1)/4 + 1), re-noised
 *        with the window's own initial noise before and after every step.
 *   chain, any render window:          hands on its last P latent frames (kind chain).
 *   anchor, the anchor stage:          renders independently, hands on its whole latent (kind anchor).
 *   anchor, render window with a blob: every DiT call also attends to the anchor (dit.h
 *        wrk_dit_forward_anchor), the anchor latent re-noised to the step's level with a noise stream
 *        shared by all windows of the shot (seed, WRK_STRATEGY_ANCHOR_NOISE), so every window sees the
 *        same anchor at the same step.
 *   anchor-causal (Tune-A-Video's sparse-causal pattern at window scale): window k attends, like an
 *        anchor window, to two anchor latent frames: the shot's first latent frame and window k−1's last
 *        one; every window hands on that pair for the next (window 0 takes the first from itself), as a
 *        blob of kind anchor with 2 latent frames and first = 0 (a window that got no blob restarts the
 *        pair from its own first frame: first = its first frame). Same re-noising as anchor.
 *   independent, or no blob:           nothing (a missing blob is logged by farmd; the window renders
 *        on its own rather than fail).
 * Latent layout as the pipeline's: (halves·F, C, h, w), RGB half then alpha half.
 * Not here: the sampler loop and the DiT call themselves (pipeline_render.c calls these).
 */
#ifndef WORKER_MODEL_PIPELINE_STRATEGY_H
#define WORKER_MODEL_PIPELINE_STRATEGY_H
#include <stddef.h>
#include <stdint.h>

#include "proto/cond.h"
#include "proto/proto.h"
#include "worker/model/chain_pin.h"
#include "worker/model/sampler.h"

#define WRK_STRATEGY_ANCHOR_NOISE 0xfffffff0u   /* noise window id of the anchor's re-noising */

typedef struct {
    int          use;            /* what the window uses: 0, PROTO_COND_CHAIN (pin), PROTO_COND_ANCHOR */
    int          hand_on;        /* what it hands on: 0, PROTO_COND_CHAIN (tail), PROTO_COND_ANCHOR (all;
                                    anchor-causal: [first, last]) */
    int          causal;         /* anchor-causal */
    int          overlap, first_frame;
    uint64_t     seed;
    proto_cond_t in;             /* the decoded ASSIGN.data */
    /* bound to the window by wrk_strategy_bind: */
    int          halves, F, C, h, w;
    float       *eps;            /* chain: the window's initial noise (halves·F, C, h, w) */
    wrk_pin_t    pin;
    float       *anchor_eps;     /* anchor: (halves·Fa, C, h, w) */
    float       *anchor_b;       /* anchor: (2, halves·Fa, C, h, w) the batch of the current step */
    const wrk_schedule_t *sched;
} wrk_strategy_t;

/* From an ASSIGN: 0 ok (s filled, s->use 0 when nothing applies); -1 with err for a malformed blob. */
int  wrk_strategy_from_assign(const proto_msg_t *a, wrk_strategy_t *s, char *err, size_t errlen);
/* Binds s to the window's latent (halves·F, C, h, w) and its initial latent x_init (copied): checks
 * the blob fits (same C, h, w, halves; chain frames inside the window). 0 / -1 with err. */
int  wrk_strategy_bind(wrk_strategy_t *s, const wrk_schedule_t *sched, int halves, int F, int C, int h,
                       int w, const float *x_init, char *err, size_t errlen);
/* The sampler's pin hook (sampler.h) for a chain window, or NULL when s pins nothing. */
wrk_pin_fn wrk_strategy_pin_fn(const wrk_strategy_t *s);
/* Anchor windows: the anchor latent batch (batch, halves·Fa, C, h, w) at timestep t, Fa in *Fa
 * (halves·Fa latent frames, as wrk_dit_anchor_t.F); NULL when s has no anchor. */
const float *wrk_strategy_anchor(wrk_strategy_t *s, int64_t t, int batch, int *Fa);
/* The blob the finished window hands on from its final latent x, or *blob NULL when none. 0 / -1. */
int  wrk_strategy_hand_on(const wrk_strategy_t *s, const float *x, uint8_t **blob, size_t *len,
                          char *err, size_t errlen);
void wrk_strategy_free(wrk_strategy_t *s);

#endif
