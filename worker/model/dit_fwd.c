/* dit_fwd.c — the forward pass of one tensor-parallel rank of the CogVideoX / TransPixar DiT.
 *
 * The residual stream is one joint buffer h (B, S, D) with S = L + Nv: text tokens [0, L) then video
 * tokens [L, S); for RGBA the video tokens are Nf RGB tokens then Nf alpha tokens (Nv = 2·Nf).
 * Per block (MODEL.md §1.6, §2): norm1 → joint attention (qk LayerNorm, RoPE on the video ranges,
 * LoRA deltas on alpha rows, the text→alpha rule) → to_out → all-reduce → gated residual; norm2 →
 * FFN over [text; video] → all-reduce → gated residual. Head (§1.7): norm_final, norm_out (shift,
 * scale), proj_out, unpatchify. Replicated parts are computed by every rank; the sharded GEMMs
 * (q/k/v, to_out, FFN) only over the rank's heads / FFN columns.
 * Buffers live where the backend computes (wrk_dit_t.on_device): on host memory the call's pointers
 * are used as given and tables are built in place; on device memory (CUDA) the inputs are uploaded
 * into the rank's workspace, tables are built in a host staging buffer and uploaded, the output is
 * downloaded, and nothing here reads or writes a workspace or weight pointer on the host.
 * Not here: loading (dit_weights.c), running the ranks as threads (dit.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/model/dit_impl.h"

/* Everything one rank's call works on. */
typedef struct fw {
    const wrk_dit_t *m;
    const dit_rank_t *r;
    const k_backend_t *kb;
    k_comm_t *comm;
    int B, F, H, W, L;       /* batch, latent frames, latent size, text length */
    int Hp, Wp, Tp;          /* patch grid, frames with their own positions (F, or F/2 for RGBA) */
    int Nf, Nv, S;           /* tokens per position set, video tokens, joint sequence */
    int D, Dl, Fl, T, R, hd, Hl;
    float *h;                /* (B, S, D) residual stream [text | video] */
    float *n;                /* (B, S, D) normed + modulated */
    float *y;                /* (B, S, D) to_out / ff.net.2 partial sums, then all-reduced */
    float *qkv;              /* (B, S, 3·Dl) q | k | v of my heads */
    float *att;              /* (B, S, Dl) attention output of my heads (shares n's memory) */
    float *ff;               /* (B, S, Fl) FFN hidden of my columns (shares qkv's memory) */
    float *lt;               /* (Nf, 3·R) LoRA A·x of the alpha rows */
    float *temb, *stemb;     /* (B, T) time embedding, SiLU(temb) */
    float *mod;              /* (B, 6·D) adaLN chunks (sized (B, 6·D + T) to double as scratch) */
    float *pos, *rsin;       /* sin-cos (Nf, D), or RoPE cos (Nf, hd) and sin (Nf, hd) */
    float *ones, *zeros;     /* (D) */
    float *po;               /* (B, Nv, P) proj_out output */
    float *xin, *txt, *yout; /* device memory only: x (B, F, C_in, H, W), text (B, L, Dt), output
                                (B, F, C_out, H, W) of the call; NULL on host memory */
    float *mem;              /* the rank's workspace behind all of the above */
    dit_rank_t *rw;          /* the rank, writable (its workspace) */
    wrk_dit_stats_t *st;     /* rank 0: where time and work are counted; NULL on other ranks */
    const struct fw *anc;    /* the anchor stream whose block K/V this window also attends to, or NULL */
} fw_t;

static int kfail(char *err, size_t errlen, int line)
{
    snprintf(err, errlen, "dit_fwd.c:%d: %s", line, k_error());
    return -1;
}
#define KC(call) do { if ((call) != 0) return kfail(err, errlen, __LINE__); } while (0)

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* Rank 0's clock around an op: on device memory the queue is drained first, so the interval is the
 * op's execution, not its launch. -1 when the queue reports an error. */
static int fw_clock(const fw_t *f, double *wall, double *cpu)
{
    int rc = f->st && f->m->on_device ? f->kb->sync(NULL, 0) : 0;
    *wall = f->st ? now_s() : 0;
    *cpu = f->st ? cpu_s() : 0;
    return rc;
}

/* GEMM and attention through the backend, timed and counted on rank 0 (wrk_dit_stats). The weight is
 * fp32 (w), or bf16 (wh, when the model holds that weight in bf16: gemm_bf16w). */
static int fw_gemm(fw_t *f, float *y, int ldy, const float *x, int ldx, const float *w,
                   const uint16_t *wh, int ldw, const float *b, int M, int N, int K, float alpha,
                   float beta, k_act_t act)
{
    double t0, c0, t1 = 0, c1 = 0;
    if (fw_clock(f, &t0, &c0) != 0) return -1;
    int rc = wh ? f->kb->gemm_bf16w(y, ldy, x, ldx, wh, ldw, b, M, N, K, alpha, beta, act)
                : f->kb->gemm(y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act);
    if (rc == 0 && fw_clock(f, &t1, &c1) != 0) return -1;
    if (f->st && rc == 0) {
        f->st->gemm_s += t1 - t0;
        f->st->gemm_cpu_s += c1 - c0;
        f->st->gemm_flop += 2.0 * M * N * K;
    }
    return rc;
}

static int fw_attention(fw_t *f, const k_attn_t *a)
{
    double t0, c0, t1 = 0, c1 = 0;
    if (fw_clock(f, &t0, &c0) != 0) return -1;
    int rc = f->kb->attention(a);
    if (rc == 0 && fw_clock(f, &t1, &c1) != 0) return -1;
    if (f->st && rc == 0) {
        f->st->attn_s += t1 - t0;
        f->st->attn_cpu_s += c1 - c0;
        f->st->attn_flop += 4.0 * a->B * a->H * a->head_dim * (double)a->Sq * (a->Sk + a->Sk2);
    }
    return rc;
}

/* ---- workspace ---- */

/* Host memory to build a table of n floats bound for workspace buffer dst: dst itself on host
 * memory, else the rank's host staging buffer (fw_put uploads it). NULL when out of memory. */
static float *fw_host(fw_t *f, float *dst, size_t n)
{
    dit_rank_t *r = f->rw;
    if (!f->m->on_device) return dst;
    if (r->stage_floats < n) {
        free(r->stage);
        r->stage_floats = 0;
        if (!(r->stage = malloc(n * sizeof(float)))) return NULL;
        r->stage_floats = n;
    }
    return r->stage;
}

/* Puts a table built at h (from fw_host) into dst: an upload on device memory, nothing on host. */
static int fw_put(fw_t *f, float *dst, const float *h, size_t n, char *err, size_t errlen)
{
    if (h != dst) KC(f->kb->upload(dst, h, n * sizeof(float)));
    return 0;
}

static int fw_oom(fw_t *f, const char *what, size_t floats, char *err, size_t errlen)
{
    f->rw->oom = 1;
    snprintf(err, errlen, "dit forward: out of memory (%.1f MiB of %s on %s%s%s)", (double)floats * 4 / 1048576.0,
             what, f->kb->name, f->m->on_device ? ": " : "", f->m->on_device ? k_error() : "");
    return -1;
}

/* ones and zeros (D) for the ops that take a scale / shift vector. */
static int fw_constants(fw_t *f, char *err, size_t errlen)
{
    size_t D = (size_t)f->D;
    for (int k = 0; k < 2; k++) {
        float *dst = k ? f->zeros : f->ones, *h = fw_host(f, dst, D);
        if (!h) return fw_oom(f, "host staging", D, err, errlen);
        for (size_t i = 0; i < D; i++) h[i] = k ? 0.0f : 1.0f;
        if (fw_put(f, dst, h, D, err, errlen) != 0) return -1;
    }
    return 0;
}

static int ws_alloc(fw_t *f, int anchor_ws, char *err, size_t errlen)
{
    const wrk_dit_info_t *in = &f->m->info;
    size_t B = (size_t)f->B, S = (size_t)f->S, D = (size_t)f->D, P = (size_t)in->patch;
    size_t pout = P * P * (size_t)in->out_channels;
    size_t pos = in->rope ? 2 * (size_t)f->Nf * (size_t)f->hd : (size_t)f->Nf * D;
    size_t qkv_ff = B * S * (3 * (size_t)f->Dl > (size_t)f->Fl ? 3 * (size_t)f->Dl : (size_t)f->Fl);
    size_t px = (size_t)f->F * (size_t)f->H * (size_t)f->W, dev = f->m->on_device ? 1 : 0;
    size_t sz[] = { B * S * D, B * S * D, B * S * D, qkv_ff, (size_t)f->Nf * 3 * (size_t)(f->R ? f->R : 1),
                    B * (size_t)f->T, B * (size_t)f->T, B * (6 * D + (size_t)f->T), pos, D, D,
                    B * (size_t)f->Nv * pout, dev * B * px * (size_t)in->in_channels,
                    dev * B * (size_t)f->L * (size_t)in->text_dim, dev * B * px * (size_t)in->out_channels };
    float **dst[] = { &f->h, &f->n, &f->y, &f->qkv, &f->lt, &f->temb, &f->stemb, &f->mod, &f->pos,
                      &f->ones, &f->zeros, &f->po, &f->xin, &f->txt, &f->yout };
    size_t total = 0, k = sizeof sz / sizeof *sz;
    for (size_t i = 0; i < k; i++) total += (sz[i] + 15) & ~(size_t)15;   /* 64-byte aligned parts */
    dit_rank_t *r = f->rw;                 /* kept between calls: no page faults in sampler loops */
    float **ws = anchor_ws ? &r->ws_anchor : &r->ws;
    size_t *ws_floats = anchor_ws ? &r->ws_anchor_floats : &r->ws_floats;
    if (*ws_floats < total) {
        if (*ws) f->kb->free(*ws);
        *ws = NULL;
        *ws_floats = 0;
        if (!(*ws = f->kb->alloc(total * sizeof(float)))) return fw_oom(f, "activations", total, err, errlen);
        *ws_floats = total;
    }
    f->mem = *ws;
    for (size_t i = 0, at = 0; i < k; at += (sz[i] + 15) & ~(size_t)15, i++) *dst[i] = sz[i] ? f->mem + at : NULL;
    f->rsin = f->pos + (size_t)f->Nf * (size_t)f->hd;
    f->att = f->n;     /* n is dead from the attention until norm2 */
    f->ff = f->qkv;    /* q/k/v are dead during the FFN */
    return fw_constants(f, err, errlen);
}

/* Device memory: the call's host inputs x and text uploaded into the workspace (*x, *text then point
 * there). Host memory: nothing (the pointers are used as given). */
static int fw_inputs(fw_t *f, const float **x, const float **text, char *err, size_t errlen)
{
    if (!f->m->on_device) return 0;
    const wrk_dit_info_t *i = &f->m->info;
    size_t nx = (size_t)f->B * f->F * i->in_channels * f->H * f->W, nt = (size_t)f->B * f->L * i->text_dim;
    KC(f->kb->upload(f->xin, *x, nx * sizeof(float)));
    KC(f->kb->upload(f->txt, *text, nt * sizeof(float)));
    *x = f->xin;
    *text = f->txt;
    return 0;
}

/* Validates the call and fills the sizes. */
static int fw_init(fw_t *f, const wrk_dit_t *m, const dit_rank_t *r, int B, int F, int H, int W,
                   int L, char *err, size_t errlen)
{
    const wrk_dit_info_t *i = &m->info;
    int p = i->patch;
    if (B < 1 || F < 1 || L < 1 || H < p || W < p || H % p || W % p || (i->rgba && F % 2) ||
        B > 1024 || F > 4096 || H > 8192 || W > 8192) {
        snprintf(err, errlen, "dit forward: bad input size B=%d F=%d H=%d W=%d L=%d (need H, W multiples "
                 "of %d%s, L >= 1, B <= 1024, F <= 4096, H, W <= 8192)", B, F, H, W, L, p,
                 i->rgba ? ", F even for RGBA" : "");
        return -1;
    }
    *f = (fw_t){ .m = m, .r = r, .kb = m->kb, .B = B, .F = F, .H = H, .W = W, .L = L,
                 .Hp = H / p, .Wp = W / p, .Tp = i->rgba ? F / 2 : F, .D = i->inner_dim, .Dl = r->Dl,
                 .Fl = r->Fl, .T = i->time_dim, .R = i->lora_rank, .hd = i->head_dim,
                 .Hl = r->sh.h1 - r->sh.h0 };
    f->Nf = f->Tp * f->Hp * f->Wp;
    f->Nv = F * f->Hp * f->Wp;
    f->S = L + f->Nv;
    if ((double)B * f->S * 6 * f->D > 2e9 || (double)f->S * 3 * f->Dl > 2e9) {
        snprintf(err, errlen, "dit forward: sequence of %d tokens too long", f->S);
        return -1;
    }
    return 0;
}

/* ---- embeddings ---- */

/* temb = linear_2(SiLU(linear_1(sincos(t)))); stemb = SiLU(temb).   (MODEL.md §1.3) */
static int embed_time(fw_t *f, const int64_t *t, char *err, size_t errlen)
{
    const dit_rank_t *r = f->r;
    float tf[f->B];
    float *sc = f->y;                                  /* (B, D) scratch: sincos of t */
    float *h1 = f->mod;                                /* (B, T) scratch */
    float *hs = fw_host(f, sc, (size_t)f->B * f->D);   /* built on the host */
    if (!hs) return fw_oom(f, "host staging", (size_t)f->B * f->D, err, errlen);
    for (int b = 0; b < f->B; b++) tf[b] = (float)t[b];
    KC(k_cpu_timestep_embedding(hs, tf, f->B, f->D, f->m->cfg.flip_sin_to_cos, f->m->cfg.freq_shift,
                                10000.0f));
    if (fw_put(f, sc, hs, (size_t)f->B * f->D, err, errlen) != 0) return -1;
    KC(fw_gemm(f, h1, f->T, sc, f->D, r->t1_w, NULL, f->D, r->t1_b, f->B, f->T, f->D, 1, 0, K_ACT_SILU));
    KC(fw_gemm(f, f->temb, f->T, h1, f->T, r->t2_w, NULL, f->T, r->t2_b, f->B, f->T, f->T, 1, 0, K_ACT_NONE));
    KC(f->kb->silu(f->stemb, f->temb, (long)f->B * f->T));
    return 0;
}

/* h = [text_proj(text) | patch_embed(x)] (+ sin-cos positions, + domain_emb on alpha tokens). */
static int embed_tokens(fw_t *f, const float *x, const float *text, char *err, size_t errlen)
{
    const dit_rank_t *r = f->r;
    const wrk_dit_info_t *i = &f->m->info;
    long bs = (long)f->S * f->D;
    for (int b = 0; b < f->B; b++)                     /* (L, Dt) → (L, D) */
        KC(fw_gemm(f, f->h + b * bs, f->D, text + (size_t)b * f->L * i->text_dim, i->text_dim,
                       r->tx_w, r->tx_h, i->text_dim, r->tx_b, f->L, f->D, i->text_dim, 1, 0, K_ACT_NONE));
    KC(f->kb->patch_embed(f->h + (size_t)f->L * f->D, f->D, bs, x, f->B, f->F, i->in_channels, f->H,
                          f->W, i->patch, 1, r->pe_w, r->pe_b, f->D));
    int halves = i->rgba ? 2 : 1;
    for (int b = 0; b < f->B; b++) {
        float *v = f->h + b * bs + (size_t)f->L * f->D;    /* (Nv, D) video tokens of item b */
        if (!i->rope)                                       /* same table for RGB and alpha halves */
            for (int k = 0; k < halves; k++)
                KC(f->kb->gated_residual(v + (size_t)k * f->Nf * f->D, f->D, 0, f->pos, f->D, 0,
                                         f->ones, f->D, 1, f->Nf, f->D));
        if (i->rgba && r->domain)                           /* alpha += domain_emb: x·(1+0) + e */
            KC(f->kb->modulate(v + (size_t)f->Nf * f->D, f->D, 0, v + (size_t)f->Nf * f->D, f->D, 0,
                               r->domain, f->zeros, f->D, 1, f->Nf, f->D));
    }
    return 0;
}

/* Position tables for Tp frames of Hp×Wp patches: 2B sin-cos (Nf, D) or 5B RoPE cos/sin (Nf, hd). */
static int build_positions(fw_t *f, char *err, size_t errlen)
{
    const dit_cfg_t *c = &f->m->cfg;
    size_t n = f->m->info.rope ? 2 * (size_t)f->Nf * f->hd : (size_t)f->Nf * f->D;   /* [cos | sin] or table */
    float *h = fw_host(f, f->pos, n);                  /* built on the host */
    if (!h) return fw_oom(f, "host staging", n, err, errlen);
    if (!f->m->info.rope)
        KC(k_cpu_sincos_table_3d(h, f->D, f->Tp, f->Hp, f->Wp, c->spatial_interp, c->temporal_interp));
    else {
        float pt[f->Tp], ph[f->Hp], pw[f->Wp];
        int p = f->m->info.patch;
        KC(k_rope_grid(pt, ph, pw, f->Tp, f->Hp, f->Wp, c->sample_h / p, c->sample_w / p, 0));
        KC(k_cpu_rope_table_3d(h, h + (size_t)f->Nf * f->hd, f->hd, f->Tp, f->Hp, f->Wp, pt, ph, pw, 10000.0f));
    }
    return fw_put(f, f->pos, h, n, err, errlen);
}

/* ---- one block ---- */

/* n = LN(h)·(1 + scale) + shift with the text chunks on text rows and the video chunks on video rows;
 * mod = linear(SiLU(temb)) = [shift, scale, gate, enc_shift, enc_scale, enc_gate] (B, 6D). */
static int norm_zero(fw_t *f, const float *lw, const uint16_t *lwh, const float *lb, const float *w,
                     const float *bias, char *err, size_t errlen)
{
    int D = f->D;
    long bs = (long)f->S * D;
    KC(fw_gemm(f, f->mod, 6 * D, f->stemb, f->T, lw, lwh, f->T, lb, f->B, 6 * D, f->T, 1, 0, K_ACT_NONE));
    KC(f->kb->norm_modulate(f->n, D, bs, f->h, D, bs, f->B, f->S, D, w, bias, f->m->cfg.norm_eps, f->L,
                            f->mod + 3 * D, f->mod + 4 * D, f->mod, f->mod + D, 6 * D));
    return 0;
}

/* h += gate·y per stream (enc_gate on text rows, gate on video rows), after the all-reduce of y. */
static int reduce_residual(fw_t *f, char *err, size_t errlen)
{
    int D = f->D;
    long bs = (long)f->S * D;
    if (k_comm_all_reduce_sum(f->comm, f->y, (size_t)f->B * f->S * D) != 0) {
        snprintf(err, errlen, "dit forward: all-reduce failed (another rank aborted)");
        return -1;
    }
    KC(f->kb->gated_residual(f->h, D, bs, f->y, D, bs, f->mod + 5 * D, 6 * D, f->B, f->L, D));
    KC(f->kb->gated_residual(f->h + (size_t)f->L * D, D, bs, f->y + (size_t)f->L * D, D, bs,
                             f->mod + 2 * D, 6 * D, f->B, f->Nv, D));
    return 0;
}

/* LoRA on q, k, v at alpha rows: qkv[alpha] += scale · (n[alpha]·A_tᵀ)·B_tᵀ.   (MODEL.md §2.5) */
static int lora_qkv(fw_t *f, const dit_block_t *blk, char *err, size_t errlen)
{
    const float *lb[3] = { blk->lb_q, blk->lb_k, blk->lb_v };
    int R = f->R, ld = 3 * f->Dl;
    for (int b = 0; b < f->B; b++) {
        size_t row = (size_t)b * f->S + f->L + f->Nf;          /* first alpha row of item b */
        KC(fw_gemm(f, f->lt, 3 * R, f->n + row * f->D, f->D, blk->la_qkv, NULL, f->D, NULL, f->Nf, 3 * R,
                       f->D, 1, 0, K_ACT_NONE));               /* (Nf, 3R) */
        for (int t = 0; t < 3; t++)
            KC(fw_gemm(f, f->qkv + row * ld + (size_t)t * f->Dl, ld, f->lt + t * R, 3 * R, lb[t], NULL, R,
                           NULL, f->Nf, f->Dl, R, f->m->info.lora_scale, 1, K_ACT_NONE));
    }
    return 0;
}

/* LoRA on to_out at alpha rows, into the partial sum y: y[alpha] += scale · (att·A_oᵀ)·B_oᵀ. */
static int lora_out(fw_t *f, const dit_block_t *blk, char *err, size_t errlen)
{
    int R = f->R;
    for (int b = 0; b < f->B; b++) {
        size_t row = (size_t)b * f->S + f->L + f->Nf;
        KC(fw_gemm(f, f->lt, R, f->att + row * f->Dl, f->Dl, blk->la_o, NULL, f->Dl, NULL, f->Nf, R, f->Dl,
                       1, 0, K_ACT_NONE));                     /* (Nf, R) partial over my heads */
        KC(fw_gemm(f, f->y + row * f->D, f->D, f->lt, R, blk->lb_o, NULL, R, NULL, f->Nf, f->D, R,
                       f->m->info.lora_scale, 1, K_ACT_NONE));
    }
    return 0;
}

/* qk LayerNorm per head, then RoPE on the RGB (and alpha) video ranges of q and k (one norm_rope call
 * each: the two video ranges share the table). */
static int qk_norm_rope(fw_t *f, const dit_block_t *blk, char *err, size_t errlen)
{
    int ld = 3 * f->Dl, rope = f->m->info.rope;
    long bs = (long)f->S * ld;
    const float *w[2] = { blk->nq_w, blk->nk_w }, *b[2] = { blk->nq_b, blk->nk_b };
    for (int part = 0; part < 2; part++)                      /* q, then k */
        KC(f->kb->norm_rope(f->qkv + (size_t)part * f->Dl, ld, bs, f->B, f->S, f->Hl, f->hd, w[part], b[part], 1e-6f,
                            rope ? f->pos : NULL, rope ? f->rsin : NULL, f->hd, f->L, f->Nf,
                            f->m->info.rgba ? 2 : 1));
    return 0;
}

static int attention(fw_t *f, char *err, size_t errlen)
{
    const wrk_dit_info_t *i = &f->m->info;
    int ld = 3 * f->Dl, rule = i->rgba && i->mask != WRK_DIT_MASK_NONE;
    long bs = (long)f->S * ld;
    k_attn_t a = {
        .B = f->B, .H = f->Hl, .head_dim = f->hd, .Sq = f->S, .Sk = f->S, .Sk2 = 0,
        .q = f->qkv, .q_bs = bs, .q_ld = ld,
        .k = f->qkv + f->Dl, .k_bs = bs, .k_ld = ld,
        .v = f->qkv + 2 * f->Dl, .v_bs = bs, .v_ld = ld,
        .o = f->att, .o_bs = (long)f->S * f->Dl, .o_ld = f->Dl,
        .scale = 1.0f / sqrtf((float)f->hd), .bias = rule ? i->mask_bias : 0.0f,
        .q0 = 0, .q1 = rule ? f->L : 0, .k0 = f->L + f->Nf, .k1 = f->L + 2 * f->Nf,
    };
    if (f->anc) {   /* the anchor's video keys/values of this block: (B, Nv_a, Dl) slices of its qkv */
        const fw_t *c = f->anc;
        int lda = 3 * c->Dl;
        long bsa = (long)c->S * lda;
        const float *kv = c->qkv + (size_t)c->L * lda;
        a.Sk2 = c->Nv;
        a.k2 = kv + c->Dl; a.k2_bs = bsa; a.k2_ld = lda;
        a.v2 = kv + 2 * c->Dl; a.v2_bs = bsa; a.v2_ld = lda;
        a.k2_0 = c->Nf; a.k2_1 = i->rgba ? 2 * c->Nf : c->Nf;   /* the anchor's alpha keys */
    }
    KC(fw_attention(f, &a));
    return 0;
}

static int block_attn(fw_t *f, const dit_block_t *blk, char *err, size_t errlen)
{
    int M = f->B * f->S, root = f->r->sh.rank == 0;
    if (norm_zero(f, blk->n1_lw, blk->n1_lh, blk->n1_lb, blk->n1_w, blk->n1_b, err, errlen) != 0) return -1;
    KC(fw_gemm(f, f->qkv, 3 * f->Dl, f->n, f->D, blk->qkv_w, blk->qkv_h, f->D, blk->qkv_b, M, 3 * f->Dl, f->D, 1,
                   0, K_ACT_NONE));
    if (f->R && lora_qkv(f, blk, err, errlen) != 0) return -1;
    if (qk_norm_rope(f, blk, err, errlen) != 0 || attention(f, err, errlen) != 0) return -1;
    KC(fw_gemm(f, f->y, f->D, f->att, f->Dl, blk->o_w, blk->o_h, f->Dl, root ? blk->o_b : NULL, M, f->D, f->Dl,
                   1, 0, K_ACT_NONE));                        /* row-parallel: bias on rank 0 only */
    if (f->R && lora_out(f, blk, err, errlen) != 0) return -1;
    return reduce_residual(f, err, errlen);
}

static int block_ff(fw_t *f, const dit_block_t *blk, char *err, size_t errlen)
{
    int M = f->B * f->S, root = f->r->sh.rank == 0;
    if (norm_zero(f, blk->n2_lw, blk->n2_lh, blk->n2_lb, blk->n2_w, blk->n2_b, err, errlen) != 0) return -1;
    KC(fw_gemm(f, f->ff, f->Fl, f->n, f->D, blk->f1_w, blk->f1_h, f->D, blk->f1_b, M, f->Fl, f->D, 1, 0,
                   K_ACT_GELU_TANH));
    KC(fw_gemm(f, f->y, f->D, f->ff, f->Fl, blk->f2_w, blk->f2_h, f->Fl, root ? blk->f2_b : NULL, M, f->D, f->Fl,
                   1, 0, K_ACT_NONE));
    return reduce_residual(f, err, errlen);
}

/* ---- output head ---- */

/* out = unpatchify(proj_out(norm_out(norm_final(h_video), temb))).   (MODEL.md §1.7) */
static int head(fw_t *f, float *out, char *err, size_t errlen)
{
    const dit_rank_t *r = f->r;
    const wrk_dit_info_t *i = &f->m->info;
    int D = f->D, P = i->patch * i->patch * i->out_channels;
    float eps = f->m->cfg.norm_eps;
    long bs = (long)f->S * D;
    KC(fw_gemm(f, f->mod, 2 * D, f->stemb, f->T, r->no_lw, NULL, f->T, r->no_lb, f->B, 2 * D, f->T, 1, 0,
                   K_ACT_NONE));                              /* (B, 2D) = [shift | scale] */
    for (int b = 0; b < f->B; b++) {
        float *v = f->n + b * bs + (size_t)f->L * D;
        KC(f->kb->layernorm(v, D, f->h + b * bs + (size_t)f->L * D, D, f->Nv, 1, D, r->nf_w, r->nf_b, eps));
        KC(f->kb->layernorm(v, D, v, D, f->Nv, 1, D, r->no_w, r->no_b, eps));
    }
    float *v0 = f->n + (size_t)f->L * D;
    KC(f->kb->modulate(v0, D, bs, v0, D, bs, f->mod, f->mod + D, 2 * D, f->B, f->Nv, D));
    for (int b = 0; b < f->B; b++)
        KC(fw_gemm(f, f->po + (size_t)b * f->Nv * P, P, v0 + b * bs, D, r->po_w, NULL, D, r->po_b, f->Nv, P,
                       D, 1, 0, K_ACT_NONE));
    if (!out) return 0;
    float *dst = f->m->on_device ? f->yout : out;           /* device: unpatchify there, then download */
    KC(f->kb->unpatchify(dst, f->po, P, (long)f->Nv * P, f->B, f->F, i->out_channels, f->H, f->W,
                         i->patch, 1));
    if (dst != out)
        KC(f->kb->download(out, dst, (size_t)f->B * f->F * i->out_channels * f->H * f->W * sizeof(float)));
    return 0;
}

/* The anchor stream of an anchor forward: its own sizes, positions, time and token embeddings. */
static int anchor_init(fw_t *fa, wrk_dit_t *m, int rank, int B, int H, int W, int L, const float *text,
                       const int64_t *t, const wrk_dit_anchor_t *an, char *err, size_t errlen)
{
    if (fw_init(fa, m, &m->ranks[rank], B, an->F, H, W, L, err, errlen) != 0) return -1;
    fa->rw = &m->ranks[rank];
    const float *x = an->x;
    if (ws_alloc(fa, 1, err, errlen) != 0 || fw_inputs(fa, &x, &text, err, errlen) != 0) return -1;
    if (embed_time(fa, t, err, errlen) != 0 || build_positions(fa, err, errlen) != 0 ||
        embed_tokens(fa, x, text, err, errlen) != 0)
        return -1;
    return 0;
}

/* The blocks; with an anchor, each block runs on the anchor first, so the window's attention sees
 * the anchor's K/V of the same block (kept in fa->qkv until the anchor's FFN reuses that memory). */
static int run_blocks(wrk_dit_t *m, fw_t *f, fw_t *fa, char *err, size_t errlen)
{
    for (int i = 0; i < m->info.num_layers; i++) {
        const dit_block_t *blk = &f->r->blocks[i];
        if ((fa && block_attn(fa, blk, err, errlen) != 0) || block_attn(f, blk, err, errlen) != 0 ||
            (fa && block_ff(fa, blk, err, errlen) != 0) || block_ff(f, blk, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int dit_forward_rank(wrk_dit_t *m, k_comm_t *comm, int B, int F, int H, int W, const float *x, int L,
                     const float *text, const int64_t *t, const wrk_dit_anchor_t *anchor, float *out,
                     char *err, size_t errlen)
{
    int rank = k_comm_rank(comm), rc = -1;
    fw_t f, fa;
    if (k_comm_size(comm) != m->info.tp) {
        snprintf(err, errlen, "dit forward: communicator of %d ranks for a model split %d ways",
                 k_comm_size(comm), m->info.tp);
        return -1;
    }
    if (fw_init(&f, m, &m->ranks[rank], B, F, H, W, L, err, errlen) != 0) return -1;
    f.comm = comm;
    f.rw = &m->ranks[rank];
    if (m->on_device) f.kb->sync(NULL, 0);     /* a failure of an earlier call is not this call's */
    if (ws_alloc(&f, 0, err, errlen) != 0 || fw_inputs(&f, &x, &text, err, errlen) != 0) goto out;
    double t0 = now_s(), c0 = cpu_s();
    if (rank == 0) { memset(&m->stats, 0, sizeof m->stats); f.st = &m->stats; }
    k_set_threads(m->threads_per_rank);
    if (anchor) {
        if (anchor_init(&fa, m, rank, B, H, W, L, text, t, anchor, err, errlen) != 0) goto out;
        fa.comm = comm; fa.st = f.st;
        f.anc = &fa;
    }
    if (embed_time(&f, t, err, errlen) != 0 || build_positions(&f, err, errlen) != 0 ||
        embed_tokens(&f, x, text, err, errlen) != 0)
        goto out;
    if (run_blocks(m, &f, anchor ? &fa : NULL, err, errlen) != 0) goto out;
    rc = head(&f, rank == 0 ? out : NULL, err, errlen);
    if (rc == 0 && anchor && anchor->out) rc = head(&fa, rank == 0 ? anchor->out : NULL, err, errlen);
    if (rc == 0 && m->on_device && f.kb->sync(err, errlen) != 0) rc = -1;   /* queued work's errors */
    if (f.st) { f.st->total_s = now_s() - t0; f.st->total_cpu_s = cpu_s() - c0; }
out:
    if (rc != 0 && strstr(err, "out of memory")) f.rw->oom = 1;   /* a resource failure (dit.h) */
    return rc;
}
