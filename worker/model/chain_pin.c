/* chain_pin.c — the chain strategy's pinning of the first overlap latent frames (see chain_pin.h). */
#include "worker/model/chain_pin.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int wrk_pin_check(const wrk_pin_t *p, int64_t n, char *err, size_t errlen)
{
    if (!p || !p->x0 || !p->eps || (p->halves != 1 && p->halves != 2) || p->F < 1 || p->P < 1 ||
        p->at < 0 || p->at + p->P > p->F || p->frame < 1) {
        snprintf(err, errlen, "chain pin: need 1 <= P, 0 <= at, at + P <= F, halves 1 or 2, latents and noise");
        return -1;
    }
    if ((int64_t)p->halves * p->F * p->frame != n) {
        snprintf(err, errlen, "chain pin: latent of %lld floats, expected %d x %d frames of %lld",
                 (long long)n, p->halves, p->F, (long long)p->frame);
        return -1;
    }
    return 0;
}

void wrk_pin_apply(const wrk_pin_t *p, double alpha_bar, float *x)
{
    if (alpha_bar < 0) alpha_bar = 0;
    if (alpha_bar > 1) alpha_bar = 1;
    const float a = (float)sqrt(alpha_bar), b = (float)sqrt(1.0 - alpha_bar);
    const int64_t span = (int64_t)p->P * p->frame;        /* pinned floats per half */
    for (int h = 0; h < p->halves; h++) {
        float *dst = x + ((int64_t)h * p->F + p->at) * p->frame;       /* (P, C, H, W) */
        const float *e = p->eps + ((int64_t)h * p->F + p->at) * p->frame;   /* (P, C, H, W) */
        const float *c = p->x0 + (int64_t)h * span;                    /* (P, C, H, W) */
        for (int64_t i = 0; i < span; i++) dst[i] = a * c[i] + b * e[i];
    }
}

int wrk_pin_hook(void *ctx, double alpha_bar, float *x, int64_t n, char *err, size_t errlen)
{
    const wrk_pin_t *p = ctx;
    if (wrk_pin_check(p, n, err, errlen) != 0) return -1;
    wrk_pin_apply(p, alpha_bar, x);
    return 0;
}

void wrk_pin_take_tail(const float *x, int halves, int F, int P, int64_t frame, float *out)
{
    for (int h = 0; h < halves; h++)
        memcpy(out + (int64_t)h * P * frame, x + ((int64_t)h * F + (F - P)) * frame,
               (size_t)(P * frame) * sizeof *out);
}
