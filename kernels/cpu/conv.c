/* conv.c — CPU conv3d / GroupNorm / nearest resize for the VAE decoder (interface: kernels/k_conv.h).
 *
 * conv3d engine: for each output frame, the kt input frames it needs are copied once into
 * zero-padded (Hp, Wp, Ci) buffers (a ring of kt slots, so frame f is padded once for all output
 * frames that read it). Output pixels are addressed on the padded width ("virtual rows"
 * v = y*Wp + x, the 2·pw columns past W are computed and dropped), which makes the input of tap
 * (dy, dx) the contiguous row range starting at v + dy*Wp + dx: each tap is one
 * sgemm (m, Co, Ci) with no im2col. Pixel blocks are spread over OpenMP threads; each thread
 * accumulates all kt·kh·kw taps into its (block, Co) tile, then scatters the valid pixels.
 * Not here: strides, dilation, even kernels, non-zero spatial padding modes.
 */
#include "kernels/k_conv.h"
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Below this many floats touched (or 8x this many multiply-adds) an op runs on the calling thread:
 * small parallel regions cost more in OpenMP wake-ups and barriers than they save. */
#define K_CONV_PAR_MIN ((size_t)1 << 16)

/* ---------------- helpers ---------------- */

static int conv_args_(const char *op, const float *y, const float *const *x, int T_in, int H, int W,
                      int Ci, int Co, int kt, int kh, int kw, const float *wp)
{
    if (!y || !x || !wp) return k_fail_(op, "NULL argument");
    if (H < 1 || W < 1 || Ci < 1 || Co < 1 || kt < 1 || kh < 1 || kw < 1)
        return k_fail_(op, "bad sizes H=%d W=%d Ci=%d Co=%d k=%dx%dx%d", H, W, Ci, Co, kt, kh, kw);
    if (kh % 2 == 0 || kw % 2 == 0) return k_fail_(op, "spatial kernel %dx%d must be odd", kh, kw);
    if (T_in < kt) return k_fail_(op, "T_in %d < kt %d", T_in, kt);
    for (int t = 0; t < T_in; t++)
        if (!x[t]) return k_fail_(op, "input frame %d is NULL", t);
    return 0;
}

/* dst (Hp, Wp, C) = src (H, W, C) with a zero border of ph rows / pw columns. */
static void pad_frame_(float *dst, const float *src, int H, int W, int C, int ph, int pw, int nth)
{
    int Hp = H + 2 * ph, Wp = W + 2 * pw;
    size_t row = (size_t)Wp * C;
    #pragma omp parallel for num_threads(nth) schedule(static) if ((size_t)Hp * row >= K_CONV_PAR_MIN)
    for (int r = 0; r < Hp; r++) {
        float *d = dst + (size_t)r * row;
        int sy = r - ph;
        if (sy < 0 || sy >= H) { memset(d, 0, row * sizeof(float)); continue; }
        memset(d, 0, (size_t)pw * C * sizeof(float));
        memcpy(d + (size_t)pw * C, src + (size_t)sy * W * C, (size_t)W * C * sizeof(float));
        memset(d + (size_t)(pw + W) * C, 0, (size_t)pw * C * sizeof(float));
    }
}

/* Pixel rows per work item: a (block, Co) tile of at most about 512 KiB (fewer, larger sgemm
 * calls: each call re-packs its operands; measured flat between 256 KiB and 4 MiB), but small
 * enough that a frame splits into at least 4 items per thread (low-resolution layers would
 * otherwise run on one thread). */
static int block_rows_(int Co, long M, int nth)
{
    long mb = 131072 / Co, share = (M + 4L * nth - 1) / (4L * nth);
    if (share < mb) mb = share;
    return mb < 32 ? 32 : mb > 2048 ? 2048 : (int)mb;
}

typedef struct {
    const float *const *src;   /* kt frames, (Hp, Wp, Ci) each (unpadded when ph = pw = 0) */
    const float *wp, *b;
    float *yt;                 /* (H, W, Co) output frame */
    int H, W, Wp, Ci, Co, kt, kh, kw, padded;
    long M;                    /* virtual rows */
} conv_frame_t;

/* One block of virtual rows [v0, v0+m) into tile c (or straight into y when not padded). */
static void conv_block_(const conv_frame_t *f, long v0, long m, float *tile)
{
    int Co = f->Co, Ci = f->Ci;
    float *c = f->padded ? tile : f->yt + v0 * Co;
    for (long r = 0; r < m; r++) {
        if (f->b) memcpy(c + r * Co, f->b, (size_t)Co * sizeof(float));
        else memset(c + r * Co, 0, (size_t)Co * sizeof(float));
    }
    for (int dt = 0; dt < f->kt; dt++)
        for (int dy = 0; dy < f->kh; dy++)
            for (int dx = 0; dx < f->kw; dx++) {
                int tap = (dt * f->kh + dy) * f->kw + dx;
                const float *a = f->src[dt] + (v0 + (long)dy * f->Wp + dx) * Ci;   /* (m, Ci) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, Co, Ci, 1.0f, a, Ci,
                            f->wp + (size_t)tap * Co * Ci, Ci, 1.0f, c, Co);
            }
    if (!f->padded) return;
    for (long r = 0; r < m; r++) {
        long v = v0 + r, py = v / f->Wp, px = v % f->Wp;
        if (px < f->W) memcpy(f->yt + (py * f->W + px) * Co, c + r * Co, (size_t)Co * sizeof(float));
    }
}

static void conv_frame_(const conv_frame_t *f, float *tiles, int mb, int nth)
{
    long nblk = (f->M + mb - 1) / mb;
    #pragma omp parallel for num_threads(nth) schedule(dynamic) \
        if (nblk > 1 && (double)f->M * f->Co * f->Ci * f->kt * f->kh * f->kw >= 8.0 * K_CONV_PAR_MIN)
    for (long k = 0; k < nblk; k++) {
        long v0 = k * mb, m = f->M - v0 < mb ? f->M - v0 : mb;
        float *tile = tiles ? tiles + (size_t)omp_get_thread_num() * mb * f->Co : NULL;
        conv_block_(f, v0, m, tile);
    }
}

/* ---------------- public API ---------------- */

int k_conv_pack_weight(float *wp, const float *w, int Co, int Ci, int kt, int kh, int kw)
{
    if (!wp || !w) return k_fail_("conv_pack_weight", "NULL argument");
    if (Co < 1 || Ci < 1 || kt < 1 || kh < 1 || kw < 1)
        return k_fail_("conv_pack_weight", "bad sizes Co=%d Ci=%d k=%dx%dx%d", Co, Ci, kt, kh, kw);
    int taps = kt * kh * kw;
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < Ci; ci++)
            for (int tap = 0; tap < taps; tap++)       /* w (Co, Ci, taps) -> wp (taps, Co, Ci) */
                wp[((size_t)tap * Co + co) * Ci + ci] = w[((size_t)co * Ci + ci) * taps + tap];
    return 0;
}

int k_cpu_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                 int kt, int kh, int kw, const float *wp, const float *b)
{
    if (conv_args_("conv3d", y, x, T_in, H, W, Ci, Co, kt, kh, kw, wp)) return -1;
    k_blas_init_();
    int ph = (kh - 1) / 2, pw = (kw - 1) / 2, Wp = W + 2 * pw, nth = k_threads();
    int padded = ph || pw, mb = block_rows_(Co, (long)H * Wp - 2 * pw, nth), rc = -1;
    size_t fsz = (size_t)(H + 2 * ph) * Wp * Ci;
    float *ring = padded ? malloc((size_t)kt * fsz * sizeof(float)) : NULL;
    float *tiles = padded ? malloc((size_t)nth * mb * Co * sizeof(float)) : NULL;
    const float **src = malloc((size_t)kt * sizeof *src);
    int *slot_frame = malloc((size_t)kt * sizeof *slot_frame);
    if (!src || !slot_frame || (padded && (!ring || !tiles))) { k_fail_("conv3d", "out of memory"); goto out; }
    for (int s = 0; s < kt; s++) slot_frame[s] = -1;
    conv_frame_t f = { src, wp, b, NULL, H, W, Wp, Ci, Co, kt, kh, kw, padded,
                       (long)H * Wp - 2 * pw };
    for (int t = 0; t + kt <= T_in; t++) {
        for (int dt = 0; dt < kt; dt++) {
            int fr = t + dt, s = fr % kt;
            if (!padded) { src[dt] = x[fr]; continue; }
            if (slot_frame[s] != fr) { pad_frame_(ring + s * fsz, x[fr], H, W, Ci, ph, pw, nth); slot_frame[s] = fr; }
            src[dt] = ring + s * fsz;
        }
        f.yt = y + (size_t)t * H * W * Co;
        conv_frame_(&f, tiles, mb, nth);
    }
    rc = 0;
out:
    free(ring); free(tiles); free(src); free(slot_frame);
    return rc;
}

int k_ref_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                 int kt, int kh, int kw, const float *wp, const float *b)
{
    if (conv_args_("ref_conv3d", y, x, T_in, H, W, Ci, Co, kt, kh, kw, wp)) return -1;
    int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
    for (int t = 0; t + kt <= T_in; t++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int co = 0; co < Co; co++) {
                    double acc = b ? b[co] : 0.0;
                    for (int dt = 0; dt < kt; dt++)
                        for (int dy = 0; dy < kh; dy++)
                            for (int dx = 0; dx < kw; dx++) {
                                int sy = h + dy - ph, sx = w + dx - pw;
                                if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
                                const float *xi = x[t + dt] + ((size_t)sy * W + sx) * Ci;
                                const float *wi = wp + ((size_t)((dt * kh + dy) * kw + dx) * Co + co) * Ci;
                                for (int ci = 0; ci < Ci; ci++) acc += (double)xi[ci] * wi[ci];
                            }
                    y[(((size_t)t * H + h) * W + w) * Co + co] = (float)acc;
                }
    return 0;
}

int k_cpu_groupnorm_stats(float *mean, float *rstd, const float *x, long N, int C, int G, float eps)
{
    if (!mean || !rstd || (!x && N > 0)) return k_fail_("groupnorm_stats", "NULL argument");
    if (N < 1 || C < 1 || G < 1 || C % G) return k_fail_("groupnorm_stats", "bad sizes N=%ld C=%d G=%d", N, C, G);
    int nth = k_threads(), cg = C / G;
    double *acc = calloc((size_t)nth * 2 * G, sizeof(double));
    if (!acc) return k_fail_("groupnorm_stats", "out of memory");
    #pragma omp parallel num_threads(nth) if ((size_t)N * C >= K_CONV_PAR_MIN)
    {
        double *s = acc + (size_t)omp_get_thread_num() * 2 * G;
        #pragma omp for schedule(static)
        for (long p = 0; p < N; p++) {
            const float *xp = x + p * C;
            for (int g = 0; g < G; g++) {
                double a = 0, q = 0;
                for (int c = 0; c < cg; c++) { double v = xp[g * cg + c]; a += v; q += v * v; }
                s[g] += a; s[G + g] += q;
            }
        }
    }
    double cnt = (double)N * cg;
    for (int g = 0; g < G; g++) {
        double a = 0, q = 0;
        for (int t = 0; t < nth; t++) { a += acc[(size_t)t * 2 * G + g]; q += acc[(size_t)t * 2 * G + G + g]; }
        double m = a / cnt, var = q / cnt - m * m;
        mean[g] = (float)m;
        rstd[g] = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));
    }
    free(acc);
    return 0;
}

int k_cpu_groupnorm(float *y, const float *x, long N, int C, int G, const float *gamma,
                    const float *beta, float eps)
{
    if (!y) return k_fail_("groupnorm", "NULL argument");
    float *mean = malloc((size_t)G * sizeof(float) * 2 + (size_t)C * 2 * sizeof(float));
    if (!mean) return k_fail_("groupnorm", "out of memory");
    float *rstd = mean + (G > 0 ? G : 0), *scale = rstd + (G > 0 ? G : 0), *shift = scale + C;
    if (k_cpu_groupnorm_stats(mean, rstd, x, N, C, G, eps)) { free(mean); return -1; }
    int cg = C / G;
    for (int c = 0; c < C; c++) {
        scale[c] = rstd[c / cg] * (gamma ? gamma[c] : 1.0f);
        shift[c] = (beta ? beta[c] : 0.0f) - mean[c / cg] * scale[c];
    }
    #pragma omp parallel for num_threads(k_threads()) schedule(static) if ((size_t)N * C >= K_CONV_PAR_MIN)
    for (long p = 0; p < N; p++)
        for (int c = 0; c < C; c++) y[p * C + c] = x[p * C + c] * scale[c] + shift[c];
    free(mean);
    return 0;
}

int k_nearest_index(int *idx, int in, int out)
{
    if (!idx || in < 1 || out < 1) return k_fail_("nearest_index", "bad arguments in=%d out=%d", in, out);
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        if (out == in) idx[d] = d;
        else if (out == 2 * in) idx[d] = d >> 1;
        else {
            long s = (long)floorf((float)d * scale);
            idx[d] = (int)(s < in - 1 ? s : in - 1);
        }
    }
    return 0;
}

int k_cpu_resize_nearest(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi,
                         int C)
{
    if (!y || !x) return k_fail_("resize_nearest", "NULL argument");
    if (C < 1 || To < 1 || Ho < 1 || Wo < 1 || Ti < 1 || Hi < 1 || Wi < 1)
        return k_fail_("resize_nearest", "bad sizes");
    int *it = malloc(sizeof(int) * ((size_t)To + Ho + Wo));
    if (!it) return k_fail_("resize_nearest", "out of memory");
    int *ih = it + To, *iw = ih + Ho;
    k_nearest_index(it, Ti, To); k_nearest_index(ih, Hi, Ho); k_nearest_index(iw, Wi, Wo);
    #pragma omp parallel for num_threads(k_threads()) schedule(static) if ((size_t)To * Ho * Wo * C >= K_CONV_PAR_MIN)
    for (long r = 0; r < (long)To * Ho; r++) {
        int t = (int)(r / Ho), h = (int)(r % Ho);
        const float *src = x + ((size_t)it[t] * Hi + ih[h]) * Wi * C;
        float *dst = y + (size_t)r * Wo * C;
        for (int w = 0; w < Wo; w++) memcpy(dst + (size_t)w * C, src + (size_t)iw[w] * C, (size_t)C * sizeof(float));
    }
    free(it);
    return 0;
}

/* Time map of the spatial norm's zq resize (see k_conv.h): -1 when an odd T > 1 comes from Tz < 2. */
static int snorm_time_map_(int *it, int Tz, int T)
{
    if (T > 1 && T % 2 == 1) {
        if (Tz < 2) return k_fail_("snorm_silu", "odd frame count %d from a %d-frame latent chunk", T, Tz);
        it[0] = 0;
        if (k_nearest_index(it + 1, Tz - 1, T - 1)) return -1;
        for (int t = 1; t < T; t++) it[t] += 1;
        return 0;
    }
    return k_nearest_index(it, Tz, T);
}

int k_cpu_snorm_silu(float *y, const float *x, int T, int H, int W, int C, int G, const float *mean,
                     const float *rstd, const float *gamma, const float *beta, const float *zy,
                     const float *zb, int Tz, int h, int w)
{
    const char *op = "snorm_silu";
    if (!y || !x || !mean || !rstd || !zy || !zb) return k_fail_(op, "NULL argument");
    if (T < 1 || H < 1 || W < 1 || C < 1 || G < 1 || C % G || Tz < 1 || h < 1 || w < 1)
        return k_fail_(op, "bad sizes T=%d H=%d W=%d C=%d G=%d zq %dx%dx%d", T, H, W, C, G, Tz, h, w);
    int *it = malloc(sizeof(int) * ((size_t)T + H + W));
    float *scale = malloc(sizeof(float) * 2 * (size_t)C), *shift = scale ? scale + C : NULL;
    int rc = -1, cg = C / G;
    if (!it || !scale) { k_fail_(op, "out of memory"); goto out; }
    int *ih = it + T, *iw = ih + H;
    if (snorm_time_map_(it, Tz, T) || k_nearest_index(ih, h, H) || k_nearest_index(iw, w, W)) goto out;
    for (int c = 0; c < C; c++) {
        scale[c] = rstd[c / cg] * (gamma ? gamma[c] : 1.0f);
        shift[c] = (beta ? beta[c] : 0.0f) - mean[c / cg] * scale[c];
    }
    #pragma omp parallel for num_threads(k_threads()) schedule(static) if ((long)T * H * W * C >= 65536)
    for (long row = 0; row < (long)T * H; row++) {
        int t = (int)(row / H), yy = (int)(row % H);
        for (int xx = 0; xx < W; xx++) {
            size_t o = ((size_t)row * W + xx) * C;
            size_t s = (((size_t)it[t] * h + ih[yy]) * w + iw[xx]) * C;
            for (int c = 0; c < C; c++) {
                float v = (x[o + c] * scale[c] + shift[c]) * zy[s + c] + zb[s + c];
                y[o + c] = v / (1.0f + expf(-v));
            }
        }
    }
    rc = 0;
out:
    free(it); free(scale);
    return rc;
}
