/* chain_pin.h — the `chain` strategy's latent pinning (issue #8): window k+1's first P latent frames
 * (in the RGB half and in the alpha half of a TransPixar latent) are replaced, before and after every
 * sampler step, by window k's final latents of its last P frames re-noised to the step's level:
 *     x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε,   ε = this window's own initial noise at those positions
 * so motion continues across the seam while the window's noise (and so its re-render) stays a pure
 * function of (seed, window). With the zero-terminal-SNR schedule ᾱ = 0 at the first step gives ε
 * exactly (the window's untouched initial latent) and ᾱ = 1 after the last step gives x0 exactly.
 *
 * Latent layout: (halves·F, C, H, W), halves = 2 (RGB frames then alpha frames) or 1. The pinned
 * frames are [at, at + P) of each half (at = 0 unless the previous window's tail starts later).
 * The conditioning latents: (halves·P, C, H, W), the same half order.
 * Not here: the sampler loop (sampler.h calls the hook), the transfer of the latents between windows.
 */
#ifndef WORKER_MODEL_CHAIN_PIN_H
#define WORKER_MODEL_CHAIN_PIN_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int         halves;       /* 2: TransPixar latent (RGB half, alpha half); 1: RGB only */
    int         F, P;         /* latent frames per half; pinned frames at the start of each half */
    int64_t     frame;        /* C·H·W floats per latent frame */
    const float *x0;          /* (halves·P, C, H, W): the previous window's final latents (its last P) */
    const float *eps;         /* (halves·F, C, H, W): this window's initial noise */
    int         at;           /* first pinned latent frame of each half (0: the window's first frames;
                                 > 0 when the previous window's tail starts later, e.g. a longer overlap) */
} wrk_pin_t;

/* 0 when p describes a latent of n floats (1 <= P, at >= 0, at + P <= F, halves 1 or 2, buffers
 * set); -1 with err. */
int  wrk_pin_check(const wrk_pin_t *p, int64_t n, char *err, size_t errlen);
/* Writes the pinned frames of x (halves·F, C, H, W) for noise level alpha_bar (ᾱ in [0,1]); the
 * coefficients are computed in double and rounded to fp32, the update is fp32. Other frames untouched. */
void wrk_pin_apply(const wrk_pin_t *p, double alpha_bar, float *x);
/* The sampler hook (sampler.h wrk_pin_fn) over a wrk_pin_t ctx. */
int  wrk_pin_hook(void *ctx, double alpha_bar, float *x, int64_t n, char *err, size_t errlen);
/* The conditioning a finished window hands on: its last P latent frames of each half.
 * x (halves·F, C, H, W) -> out (halves·P, C, H, W). */
void wrk_pin_take_tail(const float *x, int halves, int F, int P, int64_t frame, float *out);

#endif
