/* k_conv.h — the convolution-family CPU ops of the CogVideoX 3D causal VAE decoder (MODEL.md §4):
 * 3D convolution (causal in time by construction: valid in time, the caller supplies the padded
 * frame list), GroupNorm, nearest resizing with PyTorch's index rule.
 *
 * What it is: fp32 ops on CHANNELS-LAST activations — one frame is (H, W, C) contiguous, a clip is
 * (T, H, W, C). Channels-last makes every conv tap a plain row-major GEMM over pixels (OpenBLAS) and
 * makes the decoder's final (T, H, W, 3) frames the natural output.
 * What it is not: a general conv library (stride 1, odd spatial kernels, zero spatial padding
 * (k-1)/2 only — all the VAE decoder uses).
 *
 * Conventions are those of kernels/k.h: ops return 0, or -1 after recording a message readable
 * with k_error(); they never exit; they parallelise with OpenMP over k_threads() threads.
 * k_ref_<op> is the plain-loop specification (double accumulation), for tests.
 */
#ifndef KERNELS_K_CONV_H
#define KERNELS_K_CONV_H
#include <stddef.h>

/* Repacks a PyTorch conv weight w (Co, Ci, kt, kh, kw) (Conv2d: kt = 1) into the tap-major layout
 * the conv ops take: wp (kt*kh*kw, Co, Ci), tap index (dt*kh + dy)*kw + dx. */
int k_conv_pack_weight(float *wp, const float *w, int Co, int Ci, int kt, int kh, int kw);

/* 3D convolution, stride 1, valid in time, zero-padded in space by ph = (kh-1)/2, pw = (kw-1)/2:
 *   x: T_in frame pointers, each frame (H, W, Ci) contiguous (pointers may repeat: the causal
 *      "replicate frame 0" padding is the same pointer twice); T_out = T_in - kt + 1 >= 1.
 *   y: (T_out, H, W, Co) contiguous, must not overlap any input frame.
 *   y[t,h,w,co] = b[co] + Σ_{dt,dy,dx,ci} wp[(dt*kh+dy)*kw+dx][co][ci] · x[t+dt][h+dy-ph][w+dx-pw][ci]
 *   wp: packed (kt*kh*kw, Co, Ci) (k_conv_pack_weight); b (Co) or NULL.
 * A Conv2d applied per frame is kt = 1; a 1x1x1 conv is kt = kh = kw = 1.
 * CPU engine: per output frame, each tap is one sgemm over a zero-padded copy of the input frame
 * (pixels as rows, so a spatial shift is a pointer offset), blocked over pixels for the cache;
 * scratch: kt padded frames + one (block, Co) tile per thread. */
int k_cpu_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                 int kt, int kh, int kw, const float *wp, const float *b);
int k_ref_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                 int kt, int kh, int kw, const float *wp, const float *b);

/* GroupNorm statistics over channels-last x (N pixels, C channels): group g holds channels
 * [g*C/G, (g+1)*C/G); mean[g] and rstd[g] = 1/sqrt(var + eps) over its N*C/G values (biased
 * variance, double accumulation). C % G == 0. */
int k_cpu_groupnorm_stats(float *mean, float *rstd, const float *x, long N, int C, int G, float eps);

/* y = (x - mean[g]) * rstd[g] * gamma[c] + beta[c] over (N, C) channels-last, like
 * torch.nn.GroupNorm(G, C, eps, affine) on the channels-first tensor. gamma/beta may be NULL
 * (1 / 0). In place allowed (y == x). */
int k_cpu_groupnorm(float *y, const float *x, long N, int C, int G, const float *gamma,
                    const float *beta, float eps);

/* Source index of PyTorch's F.interpolate(mode="nearest", size=out) along one axis:
 *   idx[d] = d if out == in; d >> 1 if out == 2*in; else min(floor(d * (float)in/out), in - 1). */
int k_nearest_index(int *idx, int in, int out);

/* Nearest resize, channels-last: y (To, Ho, Wo, C) from x (Ti, Hi, Wi, C), each axis mapped with
 * k_nearest_index. y must not overlap x. */
int k_cpu_resize_nearest(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi,
                         int C);

/* The spatial norm of the CogVideoX decoder fused with the SiLU that always follows it
 * (SpatialNorm3D: GroupNorm(f) · conv_y(zq') + conv_b(zq'), zq' = zq nearest-resized to f):
 *   x, y (T, H, W, C) channels-last (in place allowed: y == x); mean, rstd (G) from
 *   k_cpu_groupnorm_stats over x; gamma, beta (C) or NULL (1 / 0);
 *   zy, zb (Tz, h, w, C): conv_y(zq) and conv_b(zq) at the latent size (pointwise convs commute
 *   with the nearest resize, so they are applied before it);
 *   scale[c] = rstd[g]·gamma[c], shift[c] = beta[c] − mean[g]·scale[c], g = c / (C/G),
 *   v = (x·scale[c] + shift[c]) · zy[s, c] + zb[s, c],  y = v / (1 + exp(−v)),
 *   s = (it[t], ih[y], iw[x]) with ih, iw = k_nearest_index(h → H), (w → W) and the time map of
 *   the reference: T > 1 and odd: it[0] = 0, it[1..] = 1 + nearest(Tz−1 → T−1) (needs Tz >= 2);
 *   otherwise it = nearest(Tz → T). */
/* CUDA engines of conv3d (kernels/cuda/cuda_conv.cu), for tests and the kernel lab; the backend
 * table's conv3d is AUTO: WMMA when Ci % 4 == 0 and every frame and wp are 16-byte aligned, SIMT
 * otherwise. WMMA refuses calls it cannot take. Defined only in builds with CUDA. */
typedef enum { K_CONV_ENGINE_AUTO = 0, K_CONV_ENGINE_SIMT, K_CONV_ENGINE_WMMA } k_conv_engine_t;
int k_cuda_conv3d_with(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                       int kt, int kh, int kw, const float *wp, const float *b, int engine);

int k_cpu_snorm_silu(float *y, const float *x, int T, int H, int W, int C, int G, const float *mean,
                     const float *rstd, const float *gamma, const float *beta, const float *zy,
                     const float *zb, int Tz, int h, int w);

#endif
