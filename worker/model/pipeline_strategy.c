/* pipeline_strategy.c — chain and anchor inside the dit engine (see pipeline_strategy.h). */
#include "worker/model/pipeline_strategy.h"
#include "worker/model/noise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shot frame latent j of a window starting at `first` ends at. */
static int latent_frame(int first, int j) { return j ? first + 4 * j : first; }

/* Latent frames of the previous window's tail that lie inside the overlap: (overlap − 1)/4 + 1. */
static int tail_frames(int overlap, int F)
{
    int P = overlap >= 1 ? (overlap - 1) / 4 + 1 : 0;
    return P < F ? P : F;
}

/* anchor-causal: the blob is the shot's first latent frame (first = 0; a chain that lost its blob on
 * the way restarts from its own first frame: first = that window's) then the previous window's last
 * latent frame, so first lies before this window. */
static int check_causal(const proto_cond_t *c, int first_frame, char *err, size_t errlen)
{
    if (c->frames == 2 && c->first < first_frame) return 0;
    snprintf(err, errlen, "anchor-causal blob of %d latent frames from frame %d for the window at %d: want 2 (the "
             "shot's first frame and the previous window's last latent frame)", c->frames, c->first, first_frame);
    return -1;
}

int wrk_strategy_from_assign(const proto_msg_t *a, wrk_strategy_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const proto_cond_strategy_t *r = proto_cond_strategy(a->strategy);
    int stage = !strcmp(a->role, "anchor");
    s->overlap = (int)a->overlap; s->first_frame = (int)a->first_frame; s->seed = a->seed; s->causal = r->causal;
    s->hand_on = stage ? PROTO_COND_ANCHOR : r->hand_on == PROTO_COND_CHAIN && a->overlap == 0 ? 0 : r->hand_on;
    if (!a->data_len || stage || !r->use) return 0;
    if (proto_cond_decode(a->data, a->data_len, &s->in, err, errlen) != 0) return -1;
    if (s->in.kind != r->use || (r->causal && check_causal(&s->in, s->first_frame, err, errlen))) {
        if (s->in.kind != r->use)
            snprintf(err, errlen, "conditioning blob of kind %s for a %s window", proto_cond_kind_name(s->in.kind),
                     a->strategy);
        proto_cond_free(&s->in);
        return -1;
    }
    s->use = s->in.kind;
    return 0;
}

/* Chain: where the blob's first latent lands in this window (nearest latent frame). */
static int bind_chain(wrk_strategy_t *s, char *err, size_t errlen)
{
    int d = s->in.first - s->first_frame, at = (d + 2) / 4;
    if (d < 0 || at + s->in.frames > s->F) {
        snprintf(err, errlen, "chain blob for frames from %d (%d latent frames) does not fit the window at %d (%d)",
                 s->in.first, s->in.frames, s->first_frame, s->F);
        return -1;
    }
    int64_t n = (int64_t)s->halves * s->F * s->C * s->h * s->w;
    s->pin = (wrk_pin_t){ s->halves, s->F, s->in.frames, (int64_t)s->C * s->h * s->w, s->in.data, s->eps, at };
    return wrk_pin_check(&s->pin, n, err, errlen);
}

int wrk_strategy_bind(wrk_strategy_t *s, const wrk_schedule_t *sched, int halves, int F, int C, int h, int w,
                      const float *x_init, char *err, size_t errlen)
{
    s->halves = halves; s->F = F; s->C = C; s->h = h; s->w = w; s->sched = sched;
    if (!s->use) return 0;
    if (s->in.halves != halves || s->in.c != C || s->in.h != h || s->in.w != w) {
        snprintf(err, errlen, "%s blob of (%d x %d, %d, %d, %d) latents does not fit this window's (%d x F, %d, %d, %d)",
                 proto_cond_kind_name(s->use), s->in.halves, s->in.frames, s->in.c, s->in.h, s->in.w, halves, C, h, w);
        return -1;
    }
    int64_t n = (int64_t)halves * F * C * h * w, na = (int64_t)halves * s->in.frames * C * h * w;
    if (s->use == PROTO_COND_CHAIN) {
        if (!(s->eps = malloc((size_t)n * sizeof *s->eps))) { snprintf(err, errlen, "out of memory"); return -1; }
        memcpy(s->eps, x_init, (size_t)n * sizeof *s->eps);
        return bind_chain(s, err, errlen);
    }
    s->anchor_eps = malloc((size_t)na * sizeof *s->anchor_eps);
    s->anchor_b = malloc((size_t)(2 * na) * sizeof *s->anchor_b);
    if (!s->anchor_eps || !s->anchor_b) { snprintf(err, errlen, "out of memory"); return -1; }
    wrk_noise_initial(s->seed, WRK_STRATEGY_ANCHOR_NOISE, halves == 2, s->in.frames, C, h, w, s->anchor_eps);
    return 0;
}

wrk_pin_fn wrk_strategy_pin_fn(const wrk_strategy_t *s) { return s->use == PROTO_COND_CHAIN ? wrk_pin_hook : NULL; }

const float *wrk_strategy_anchor(wrk_strategy_t *s, int64_t t, int batch, int *Fa)
{
    if (s->use != PROTO_COND_ANCHOR || batch < 1 || batch > 2) return NULL;
    double ab = wrk_schedule_alpha(s->sched, t);
    const float a = (float)sqrt(ab), b = (float)sqrt(1.0 - ab);
    int64_t na = (int64_t)s->halves * s->in.frames * s->C * s->h * s->w;
    for (int64_t i = 0; i < na; i++) s->anchor_b[i] = a * s->in.data[i] + b * s->anchor_eps[i];
    if (batch == 2) memcpy(s->anchor_b + na, s->anchor_b, (size_t)na * sizeof *s->anchor_b);
    *Fa = s->halves * s->in.frames;
    return s->anchor_b;
}

/* anchor-causal: c (halves·2, C, h, w) = per half [the shot's first latent frame, x's last one]; the
 * first comes from the blob this window got, or (window 0, or no blob) from x itself. */
static void causal_block(const wrk_strategy_t *s, const float *x, int64_t frame, float *c)
{
    for (int h = 0; h < s->halves; h++) {
        const float *first = s->use ? s->in.data + (int64_t)h * 2 * frame : x + (int64_t)h * s->F * frame;
        memcpy(c + (int64_t)h * 2 * frame, first, (size_t)frame * sizeof *c);
        memcpy(c + ((int64_t)h * 2 + 1) * frame, x + ((int64_t)h * s->F + s->F - 1) * frame, (size_t)frame * sizeof *c);
    }
}

int wrk_strategy_hand_on(const wrk_strategy_t *s, const float *x, uint8_t **blob, size_t *len, char *err,
                         size_t errlen)
{
    *blob = NULL; *len = 0;
    if (!s->hand_on || !s->F) return 0;
    int P = s->causal ? 2 : s->hand_on == PROTO_COND_ANCHOR ? s->F : tail_frames(s->overlap, s->F);
    if (P < 1) return 0;
    int64_t frame = (int64_t)s->C * s->h * s->w;
    int first = !s->causal ? latent_frame(s->first_frame, s->F - P) : s->use ? s->in.first : s->first_frame;
    proto_cond_t c = { s->hand_on, s->halves, P, s->C, s->h, s->w, first, NULL };
    if (!(c.data = malloc((size_t)(s->halves * P * frame) * sizeof *c.data))) { snprintf(err, errlen, "out of memory"); return -1; }
    if (s->causal) causal_block(s, x, frame, c.data);
    else wrk_pin_take_tail(x, s->halves, s->F, P, frame, c.data);
    int rc = proto_cond_encode(&c, blob, len, err, errlen);
    free(c.data);
    return rc;
}

void wrk_strategy_free(wrk_strategy_t *s)
{
    proto_cond_free(&s->in);
    free(s->eps); free(s->anchor_eps); free(s->anchor_b);
    memset(s, 0, sizeof *s);
}
