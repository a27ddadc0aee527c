/* cuda_conv.cu — the convolution family of the VAE decoder on CUDA (kernels/k_conv.h contract, device
 * pointers, channels-last fp32): conv3d, GroupNorm statistics, the spatial norm fused with SiLU, and
 * the nearest resize.
 *
 * conv3d is an implicit GEMM per output frame: rows = the H·W output pixels, columns = Co, the
 * reduction runs over (tap, Ci) with the input read straight from the (unpadded) frames — the zero
 * padding is a bounds check, no im2col buffer, no padded copies. Kernel lab numbering:
 *   v1 SIMT: one thread per output value, fp32 FMA loop (any sizes; the readable reference on the GPU).
 *   v2 WMMA TF32: 128 pixels × 64 channels per block of 8 warps (each warp 32×32 of m16n16k8 TF32
 *      fragments, fp32 accumulation), K chunks of 32 staged through shared memory with float4 loads,
 *      the next chunk prefetched into registers while the tensor cores work on the current one.
 *      Needs Ci % 4 == 0 and 16-byte aligned frames and weights (every VAE conv; auto falls back to v1).
 * The frames of a launch travel by value in the kernel parameters (at most KC_CONV_MAXF), so a T_in
 * larger than that is processed in groups of output frames.
 * GroupNorm statistics: per-block, per-channel partial sums in double (scratch slot 1), then one block
 * per group sums them in a fixed order: the result does not depend on scheduling (deterministic).
 */
#include "kernels/cuda/kc_internal.cuh"

#include <math.h>
#include <mma.h>

extern "C" {
#include "kernels/k_conv.h"
}

using namespace nvcuda;

#define KC_CONV_MAXF 16

typedef struct { const float *f[KC_CONV_MAXF]; } kc_frames_t;

typedef struct {
    int H, W, Ci, Co, kt, kh, kw, ph, pw;
    long M;                       /* pixels per frame */
} kc_conv_t;

/* ---------------- conv3d v1: SIMT ---------------- */

/* y (nt, M, Co) for the output frames of this launch; frame tl + dt of fr feeds output frame tl. */
__global__ void kc_conv_simt_k(float *y, kc_frames_t fr, kc_conv_t g, const float *wp, const float *bias, long n)
{
    KC_FOR(i, n) {
        int co = (int)(i % g.Co);
        long r = i / g.Co, p = r % g.M;
        int tl = (int)(r / g.M), py = (int)(p / g.W), px = (int)(p % g.W);
        float acc = bias ? bias[co] : 0.0f;
        for (int dt = 0; dt < g.kt; dt++)
            for (int dy = 0; dy < g.kh; dy++)
                for (int dx = 0; dx < g.kw; dx++) {
                    int sy = py + dy - g.ph, sx = px + dx - g.pw;
                    if (sy < 0 || sy >= g.H || sx < 0 || sx >= g.W) continue;
                    const float *xi = fr.f[tl + dt] + ((long)sy * g.W + sx) * g.Ci;
                    const float *wi = wp + ((long)((dt * g.kh + dy) * g.kw + dx) * g.Co + co) * g.Ci;
                    for (int ci = 0; ci < g.Ci; ci++) acc += xi[ci] * wi[ci];
                }
        y[i] = acc;
    }
}

/* ---------------- conv3d v2: TF32 WMMA implicit GEMM ---------------- */

#define CV_BM 128
#define CV_BN 64
#define CV_BK 32
#define CV_LDA (CV_BK + 4)        /* smem row pitch of the A (pixels) and B (channels) tiles */
#define CV_LDC (CV_BN + 4)        /* smem row pitch of the epilogue tile */

typedef struct {
    int py[4], px[4], ok[4];      /* this thread's 4 A rows: pixel coordinates, inside the frame */
} kc_arows_t;

/* Loads K chunk kc (tap, 32 input channels) of this block into registers: 4 float4 of A (pixels
 * tid/8 + 32r, channels (tid%8)*4..+3) and 2 float4 of B (out channels n0 + tid/8 + 32r). */
static __device__ __forceinline__ void kc_conv_load_(float4 ra[4], float4 rb[2], const kc_frames_t &fr, int tl,
                                                     const kc_conv_t &g, const float *wp, int n0, int kc,
                                                     int nci, const kc_arows_t &ar)
{
    int tid = threadIdx.x, tap = kc / nci, ci = (kc % nci) * CV_BK + (tid % 8) * 4;
    int dt = tap / (g.kh * g.kw), dy = tap / g.kw % g.kh, dx = tap % g.kw;
    const float *src = fr.f[tl + dt];
    const float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int r = 0; r < 4; r++) {
        int sy = ar.py[r] + dy - g.ph, sx = ar.px[r] + dx - g.pw;
        bool in = ar.ok[r] && ci < g.Ci && sy >= 0 && sy < g.H && sx >= 0 && sx < g.W;
        ra[r] = in ? *(const float4 *)(src + ((long)sy * g.W + sx) * g.Ci + ci) : z;
    }
    for (int r = 0; r < 2; r++) {
        int co = n0 + tid / 8 + 32 * r;
        rb[r] = co < g.Co && ci < g.Ci ? *(const float4 *)(wp + ((long)tap * g.Co + co) * g.Ci + ci) : z;
    }
}

/* Four k-steps of 8 on the staged tiles: warp (wm, wn) owns rows wm·32.. and columns wn·32.. */
static __device__ __forceinline__ void kc_conv_mma_(const float *As, const float *Bs, int wm, int wn,
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2])
{
    for (int kk = 0; kk < CV_BK; kk += 8) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb[2];
        for (int i = 0; i < 2; i++) {
            wmma::load_matrix_sync(fa[i], As + (wm * 32 + i * 16) * CV_LDA + kk, CV_LDA);
            for (int e = 0; e < fa[i].num_elements; e++) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
            wmma::load_matrix_sync(fb[i], Bs + (wn * 32 + i * 16) * CV_LDA + kk, CV_LDA);
            for (int e = 0; e < fb[i].num_elements; e++) fb[i].x[e] = wmma::__float_to_tf32(fb[i].x[e]);
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
}

/* grid (ceil(M / 128), ceil(Co / 64), nt), 256 threads; y (nt, M, Co) of this launch. */
__global__ void __launch_bounds__(256) kc_conv_wmma_k(float *y, kc_frames_t fr, kc_conv_t g, const float *wp,
                                                      const float *bias)
{
    __shared__ __align__(128) float sm[CV_BM * CV_LDC];   /* A + B tiles, then the epilogue tile */
    float *As = sm, *Bs = sm + CV_BM * CV_LDA;
    int tid = threadIdx.x, wm = (tid / 32) % 4, wn = (tid / 32) / 4, tl = blockIdx.z;
    long m0 = (long)blockIdx.x * CV_BM;
    int n0 = blockIdx.y * CV_BN, nci = (g.Ci + CV_BK - 1) / CV_BK, nk = g.kt * g.kh * g.kw * nci;
    kc_arows_t ar;
    for (int r = 0; r < 4; r++) {
        long p = m0 + tid / 8 + 32 * r;
        ar.ok[r] = p < g.M;
        ar.py[r] = (int)(p / g.W);
        ar.px[r] = (int)(p % g.W);
    }
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    float4 ra[4], rb[2];
    kc_conv_load_(ra, rb, fr, tl, g, wp, n0, 0, nci, ar);
    for (int kc = 0; kc < nk; kc++) {
        for (int r = 0; r < 4; r++) *(float4 *)(As + (tid / 8 + 32 * r) * CV_LDA + (tid % 8) * 4) = ra[r];
        for (int r = 0; r < 2; r++) *(float4 *)(Bs + (tid / 8 + 32 * r) * CV_LDA + (tid % 8) * 4) = rb[r];
        __syncthreads();
        if (kc + 1 < nk) kc_conv_load_(ra, rb, fr, tl, g, wp, n0, kc + 1, nci, ar);   /* in flight during the MMAs */
        kc_conv_mma_(As, Bs, wm, wn, acc);
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(sm + (wm * 32 + i * 16) * CV_LDC + wn * 32 + j * 16, acc[i][j], CV_LDC,
                                    wmma::mem_row_major);
    __syncthreads();
    float *yt = y + (long)tl * g.M * g.Co;
    for (int idx = tid; idx < CV_BM * CV_BN; idx += 256) {
        int row = idx / CV_BN, col = idx % CV_BN, co = n0 + col;
        long p = m0 + row;
        if (p < g.M && co < g.Co) yt[p * g.Co + co] = sm[row * CV_LDC + col] + (bias ? bias[co] : 0.0f);
    }
}

/* ---------------- conv3d launcher ---------------- */

static int kc_conv_args_(const char *op, const float *y, const float *const *x, int T_in, int H, int W, int Ci,
                         int Co, int kt, int kh, int kw, const float *wp)
{
    if (!y || !x || !wp) return k_fail_(op, "NULL argument");
    if (H < 1 || W < 1 || Ci < 1 || Co < 1 || kt < 1 || kh < 1 || kw < 1)
        return k_fail_(op, "bad sizes H=%d W=%d Ci=%d Co=%d k=%dx%dx%d", H, W, Ci, Co, kt, kh, kw);
    if (kh % 2 == 0 || kw % 2 == 0) return k_fail_(op, "spatial kernel %dx%d must be odd", kh, kw);
    if (T_in < kt) return k_fail_(op, "T_in %d < kt %d", T_in, kt);
    if (kt > KC_CONV_MAXF) return k_fail_(op, "kt %d > %d", kt, KC_CONV_MAXF);
    if ((long)H * W > 0x7fffffffL / 2 || (long)kt * kh * kw > 4096) return k_fail_(op, "frame %dx%d or kernel too large", H, W);
    for (int t = 0; t < T_in; t++)
        if (!x[t]) return k_fail_(op, "input frame %d is NULL", t);
    return 0;
}

static int kc_aligned16_(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* 1 when the WMMA engine can take this call (float4 loads of frames and weights). */
static int kc_conv_wmma_ok_(const float *const *x, int T_in, int Ci, const float *wp)
{
    if (Ci % 4 || !kc_aligned16_(wp)) return 0;
    for (int t = 0; t < T_in; t++)
        if (!kc_aligned16_(x[t])) return 0;
    return 1;
}

extern "C" int k_cuda_conv3d_with(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                                  int kt, int kh, int kw, const float *wp, const float *b, int engine)
{
    const char *op = "conv3d";
    if (kc_conv_args_(op, y, x, T_in, H, W, Ci, Co, kt, kh, kw, wp)) return -1;
    int wmma_ok = kc_conv_wmma_ok_(x, T_in, Ci, wp);
    if (engine == K_CONV_ENGINE_WMMA && !wmma_ok)
        return k_fail_(op, "WMMA engine needs Ci %% 4 == 0 (Ci = %d) and 16-byte aligned frames and weights", Ci);
    if (engine < K_CONV_ENGINE_AUTO || engine > K_CONV_ENGINE_WMMA) return k_fail_(op, "unknown engine %d", engine);
    int use_wmma = engine == K_CONV_ENGINE_WMMA || (engine == K_CONV_ENGINE_AUTO && wmma_ok);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_conv_t g = { H, W, Ci, Co, kt, kh, kw, (kh - 1) / 2, (kw - 1) / 2, (long)H * W };
    int T_out = T_in - kt + 1, per = KC_CONV_MAXF - kt + 1;
    if (Co > 65535 * CV_BN) return k_fail_(op, "Co %d over the grid limits", Co);
    for (int t0 = 0; t0 < T_out; t0 += per) {
        int nt = T_out - t0 < per ? T_out - t0 : per;
        kc_frames_t fr = { { 0 } };
        for (int i = 0; i < nt + kt - 1; i++) fr.f[i] = x[t0 + i];
        float *yt = y + (long)t0 * g.M * Co;
        if (use_wmma) {
            dim3 grid((unsigned)((g.M + CV_BM - 1) / CV_BM), (unsigned)((Co + CV_BN - 1) / CV_BN), (unsigned)nt);
            kc_conv_wmma_k<<<grid, 256, 0, c->stream>>>(yt, fr, g, wp, b);
        } else {
            long n = (long)nt * g.M * Co;
            kc_conv_simt_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(yt, fr, g, wp, b, n);
        }
        KC_LAUNCHED(op);
    }
    return 0;
}

extern "C" int k_cuda_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                             int kt, int kh, int kw, const float *wp, const float *b)
{
    return k_cuda_conv3d_with(y, x, T_in, H, W, Ci, Co, kt, kh, kw, wp, b, K_CONV_ENGINE_AUTO);
}

/* ---------------- GroupNorm statistics ---------------- */

#define KC_GN_BLOCKS 1024

/* part (nblk, C, 2) doubles: block b's Σx and Σx² per channel over pixels [b·ppb, (b+1)·ppb).
 * Threads cover TR = min(C, 256) channels of R = 256 / TR pixels at a time (coalesced rows). */
__global__ void kc_gn_part_k(double *part, const float *x, long N, int C, long ppb)
{
    __shared__ double sh[2][256];
    int t = threadIdx.x, TR = C < 256 ? C : 256, R = 256 / TR, r = t / TR, c0 = t % TR;
    long p0 = (long)blockIdx.x * ppb, p1 = p0 + ppb < N ? p0 + ppb : N;
    for (int cb = 0; cb < C; cb += TR) {
        int c = cb + c0;
        double s = 0, q = 0;
        if (r < R && c < C)
            for (long p = p0 + r; p < p1; p += R) { double v = x[p * C + c]; s += v; q += v * v; }
        sh[0][t] = s;
        sh[1][t] = q;
        __syncthreads();
        if (t < TR && cb + t < C) {
            double S = 0, Q = 0;
            for (int rr = 0; rr < R; rr++) { S += sh[0][rr * TR + t]; Q += sh[1][rr * TR + t]; }
            part[((long)blockIdx.x * C + cb + t) * 2] = S;
            part[((long)blockIdx.x * C + cb + t) * 2 + 1] = Q;
        }
        __syncthreads();
    }
}

/* One block per group: sums its channels over the partial blocks in a fixed tree order. */
__global__ void kc_gn_final_k(float *mean, float *rstd, const double *part, int nblk, int C, int G, double cnt, float eps)
{
    __shared__ double sh[2][256];
    int g = blockIdx.x, cg = C / G, t = threadIdx.x;
    long n = (long)nblk * cg;
    double s = 0, q = 0;
    for (long i = t; i < n; i += 256) {
        long b = i / cg, c = (long)g * cg + i % cg;
        s += part[(b * C + c) * 2];
        q += part[(b * C + c) * 2 + 1];
    }
    sh[0][t] = s;
    sh[1][t] = q;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if (t < w) { sh[0][t] += sh[0][t + w]; sh[1][t] += sh[1][t + w]; }
        __syncthreads();
    }
    if (t == 0) {
        double m = sh[0][0] / cnt, var = sh[1][0] / cnt - m * m;
        mean[g] = (float)m;
        rstd[g] = (float)(1.0 / sqrt((var > 0 ? var : 0) + (double)eps));
    }
}

extern "C" int k_cuda_groupnorm_stats(float *mean, float *rstd, const float *x, long N, int C, int G, float eps)
{
    const char *op = "groupnorm_stats";
    if (!mean || !rstd || (!x && N > 0)) return k_fail_(op, "NULL argument");
    if (N < 1 || C < 1 || G < 1 || C % G) return k_fail_(op, "bad sizes N=%ld C=%d G=%d", N, C, G);
    if (G > 0x7fffffff / 2) return k_fail_(op, "G %d too large", G);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    long nblk = (N + 63) / 64;
    if (nblk > KC_GN_BLOCKS) nblk = KC_GN_BLOCKS;
    long ppb = (N + nblk - 1) / nblk;
    double *part = (double *)kc_scratch_(c, 1, sizeof(double) * 2 * (size_t)nblk * C, op);
    if (!part) return -1;
    kc_gn_part_k<<<(unsigned)nblk, 256, 0, c->stream>>>(part, x, N, C, ppb);
    KC_LAUNCHED(op);
    kc_gn_final_k<<<(unsigned)G, 256, 0, c->stream>>>(mean, rstd, part, (int)nblk, C, G, (double)N * (C / G), eps);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- nearest index, spatial norm + SiLU, resize ---------------- */

/* k_nearest_index's rule for one destination index (same fp32 arithmetic). */
static __device__ __forceinline__ int kc_nearest_(int d, int in, int out)
{
    if (out == in) return d;
    if (out == 2 * in) return d >> 1;
    float scale = (float)in / (float)out;
    int s = (int)floorf((float)d * scale);
    return s < in - 1 ? s : in - 1;
}

/* The spatial norm's time map (k_conv.h): odd T > 1 keeps frame 0 apart. */
static __device__ __forceinline__ int kc_snorm_t_(int t, int Tz, int T)
{
    if (T > 1 && T % 2 == 1) return t == 0 ? 0 : 1 + kc_nearest_(t - 1, Tz - 1, T - 1);
    return kc_nearest_(t, Tz, T);
}

typedef struct {
    int T, H, W, C, cg, Tz, h, w;
} kc_snorm_t;

/* grid rows = T·H, column blocks over W·C. */
__global__ void kc_snorm_silu_k(float *y, const float *x, kc_snorm_t s, const float *mean, const float *rstd,
                                const float *gamma, const float *beta, const float *zy, const float *zb)
{
    int j = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (j >= s.W * s.C) return;
    int row = blockIdx.x, t = row / s.H, yy = row % s.H, xx = j / s.C, c = j % s.C, g = c / s.cg;
    long o = (long)row * s.W * s.C + j;
    long src = (((long)kc_snorm_t_(t, s.Tz, s.T) * s.h + kc_nearest_(yy, s.h, s.H)) * s.w +
                kc_nearest_(xx, s.w, s.W)) * s.C + c;
    float sc = rstd[g] * (gamma ? gamma[c] : 1.0f), sh = (beta ? beta[c] : 0.0f) - mean[g] * sc;
    float v = (x[o] * sc + sh) * zy[src] + zb[src];
    y[o] = v / (1.0f + expf(-v));
}

extern "C" int k_cuda_snorm_silu(float *y, const float *x, int T, int H, int W, int C, int G, const float *mean,
                                 const float *rstd, const float *gamma, const float *beta, const float *zy,
                                 const float *zb, int Tz, int h, int w)
{
    const char *op = "snorm_silu";
    if (!y || !x || !mean || !rstd || !zy || !zb) return k_fail_(op, "NULL argument");
    if (T < 1 || H < 1 || W < 1 || C < 1 || G < 1 || C % G || Tz < 1 || h < 1 || w < 1)
        return k_fail_(op, "bad sizes T=%d H=%d W=%d C=%d G=%d zq %dx%dx%d", T, H, W, C, G, Tz, h, w);
    if (T > 1 && T % 2 == 1 && Tz < 2) return k_fail_(op, "odd frame count %d from a %d-frame latent chunk", T, Tz);
    if ((long)W * C > 0x7fffffffL || !kc_rows_ok_((long)T * H, (long)W * C)) return k_fail_(op, "sizes over the grid limits");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_snorm_t s = { T, H, W, C, C / G, Tz, h, w };
    kc_snorm_silu_k<<<kc_rows_grid_((long)T * H, (long)W * C), KC_ROW_T, 0, c->stream>>>(y, x, s, mean, rstd, gamma,
                                                                                         beta, zy, zb);
    KC_LAUNCHED(op);
    return 0;
}

/* grid rows = To·Ho, column blocks over Wo·C. */
__global__ void kc_resize_k(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi, int C)
{
    int j = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (j >= Wo * C) return;
    int row = blockIdx.x, t = row / Ho, yy = row % Ho, xx = j / C, c = j % C;
    long src = (((long)kc_nearest_(t, Ti, To) * Hi + kc_nearest_(yy, Hi, Ho)) * Wi + kc_nearest_(xx, Wi, Wo)) * C + c;
    y[(long)row * Wo * C + j] = x[src];
}

extern "C" int k_cuda_resize_nearest(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi, int C)
{
    const char *op = "resize_nearest";
    if (!y || !x) return k_fail_(op, "NULL argument");
    if (C < 1 || To < 1 || Ho < 1 || Wo < 1 || Ti < 1 || Hi < 1 || Wi < 1) return k_fail_(op, "bad sizes");
    if ((long)Wo * C > 0x7fffffffL || !kc_rows_ok_((long)To * Ho, (long)Wo * C)) return k_fail_(op, "sizes over the grid limits");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_resize_k<<<kc_rows_grid_((long)To * Ho, (long)Wo * C), KC_ROW_T, 0, c->stream>>>(y, To, Ho, Wo, x, Ti, Hi, Wi, C);
    KC_LAUNCHED(op);
    return 0;
}
