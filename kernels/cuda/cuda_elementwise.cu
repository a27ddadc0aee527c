/* cuda_elementwise.cu — the memory-bound ops of the CUDA backend, fp32 in and out (k.h contract):
 * layer norm (per group), RMS norm, GELU-tanh, SiLU, adaLN modulate, gated residual, interleaved
 * RoPE, patch embed (gather + GEMM) and unpatchify (scatter).
 * Each launcher checks its arguments exactly like the CPU op (same helpers), launches on this
 * thread's stream and checks cudaGetLastError. Version 1 of each kernel (plain grid-stride or one
 * warp per vector); none has been run on a GPU yet.
 */
#include "kernels/cuda/kc_internal.cuh"

#include <math.h>

/* ---------------- norms: one warp per vector ---------------- */

__global__ void kc_layernorm_k(float *y, int ldy, const float *x, int ldx, long nvec, int groups,
                               int dim, const float *w, const float *b, float eps)
{
    long v = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (v >= nvec) return;
    long r = v / groups, g = v % groups;
    const float *xr = x + r * ldx + g * dim;
    float *yr = y + r * ldy + g * dim;
    float s = 0.0f, q = 0.0f;
    for (int j = lane; j < dim; j += 32) s += xr[j];
    float mean = kc_warp_sum_(s) / (float)dim;
    for (int j = lane; j < dim; j += 32) { float d = xr[j] - mean; q += d * d; }
    float rstd = rsqrtf(kc_warp_sum_(q) / (float)dim + eps);
    __syncwarp();                       /* every lane has read its x before y (maybe == x) is written */
    for (int j = lane; j < dim; j += 32) {
        float t = (xr[j] - mean) * rstd;
        if (w) t *= w[j];
        if (b) t += b[j];
        yr[j] = t;
    }
}

/* The row statistics of the vectorised layout below: LPV lanes per vector (32 or 16), NV float4 per
 * lane loaded into t (zeros when !ok: every lane stays for the shuffles), mean and 1/sqrt(var + eps)
 * over the vector's 4·LPV·NV values. */
template <int NV, int LPV>
__device__ __forceinline__ void kc_ln4_stats_(const float4 *xr, bool ok, int ln, float eps, float4 (&t)[NV],
                                              float &mean, float &rstd)
{
    const int dim = 4 * LPV * NV;
    float s = 0.0f, q = 0.0f;
    #pragma unroll
    for (int i = 0; i < NV; i++) {
        t[i] = ok ? xr[ln + i * LPV] : make_float4(0.f, 0.f, 0.f, 0.f);
        s += (t[i].x + t[i].y) + (t[i].z + t[i].w);
    }
    #pragma unroll
    for (int o = LPV / 2; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    mean = s / (float)dim;
    #pragma unroll
    for (int i = 0; i < NV; i++) {
        float a = t[i].x - mean, bb = t[i].y - mean, c = t[i].z - mean, d = t[i].w - mean;
        q += (a * a + bb * bb) + (c * c + d * d);
    }
    #pragma unroll
    for (int o = LPV / 2; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
    rstd = rsqrtf(q / (float)dim + eps);
}

/* The same layer norm with 16-byte accesses and the vector held in registers (one read of x, one
 * write of y): LPV lanes per vector (32 or 16), NV float4 per lane, dim = 4·LPV·NV. Used when x, y,
 * w, b and the strides are 16-byte aligned: the DiT's (B,S,3072) norms and per-head (64) q/k norms. */
template <int NV, int LPV>
__global__ void kc_layernorm4_k(float *y, int ldy, const float *x, int ldx, long nvec, int groups,
                                const float *w, const float *b, float eps)
{
    const int dim = 4 * LPV * NV;
    long v = ((long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32) * (32 / LPV) + (threadIdx.x & 31) / LPV;
    int ln = threadIdx.x & (LPV - 1);
    bool ok = v < nvec;                                          /* every lane stays for the shuffles */
    long r = ok ? v / groups : 0, g = ok ? v % groups : 0;
    float4 t[NV];
    float mean, rstd;
    kc_ln4_stats_<NV, LPV>((const float4 *)(x + r * ldx + g * dim), ok, ln, eps, t, mean, rstd);
    if (!ok) return;
    float4 *yr = (float4 *)(y + r * ldy + g * dim);
    #pragma unroll
    for (int i = 0; i < NV; i++) {
        int j = ln + i * LPV;
        float4 u = t[i], wv = w ? ((const float4 *)w)[j] : make_float4(1.f, 1.f, 1.f, 1.f);
        float4 bv = b ? ((const float4 *)b)[j] : make_float4(0.f, 0.f, 0.f, 0.f);
        u.x = (u.x - mean) * rstd * wv.x + bv.x;
        u.y = (u.y - mean) * rstd * wv.y + bv.y;
        u.z = (u.z - mean) * rstd * wv.z + bv.z;
        u.w = (u.w - mean) * rstd * wv.w + bv.w;
        yr[j] = u;
    }
}

typedef void (*kc_ln4_fn)(float *, int, const float *, int, long, int, const float *, const float *, float);
static const struct { int dim; kc_ln4_fn fn; int lpv; } kc_ln4_[] = {
    { 64, kc_layernorm4_k<1, 16>, 16 },   { 128, kc_layernorm4_k<1, 32>, 32 },
    { 256, kc_layernorm4_k<2, 32>, 32 },  { 512, kc_layernorm4_k<4, 32>, 32 },
    { 1024, kc_layernorm4_k<8, 32>, 32 }, { 1920, kc_layernorm4_k<15, 32>, 32 },
    { 2048, kc_layernorm4_k<16, 32>, 32 }, { 3072, kc_layernorm4_k<24, 32>, 32 },
};

static bool kc_al16_(const void *p) { return (uintptr_t)p % 16 == 0; }

extern "C" int k_cuda_layernorm(float *y, int ldy, const float *x, int ldx, int rows, int groups,
                                int dim, const float *w, const float *b, float eps)
{
    const char *op = "layernorm";
    if (groups < 1 || dim < 1) return k_fail_(op, "groups %d, dim %d must be >= 1", groups, dim);
    if (k_chk_mat_(op, "x", x, rows, (long)groups * dim, ldx) ||
        k_chk_mat_(op, "y", y, rows, (long)groups * dim, ldy))
        return -1;
    if (!(eps >= 0)) return k_fail_(op, "eps %g must be >= 0", (double)eps);
    long nvec = (long)rows * groups;
    if (nvec == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    bool al = kc_al16_(x) && kc_al16_(y) && kc_al16_(w) && kc_al16_(b) && ldx % 4 == 0 && ldy % 4 == 0;
    for (size_t i = 0; al && i < sizeof kc_ln4_ / sizeof *kc_ln4_; i++) {
        if (kc_ln4_[i].dim != dim) continue;
        long per_block = 8L * (32 / kc_ln4_[i].lpv);            /* 8 warps */
        kc_ln4_[i].fn<<<(unsigned)((nvec + per_block - 1) / per_block), 256, 0, c->stream>>>(y, ldy, x, ldx, nvec,
                                                                                            groups, w, b, eps);
        KC_LAUNCHED(op);
        return 0;
    }
    kc_layernorm_k<<<(unsigned)((nvec + 7) / 8), 256, 0, c->stream>>>(y, ldy, x, ldx, nvec, groups, dim, w, b, eps);
    KC_LAUNCHED(op);
    return 0;
}

__global__ void kc_rmsnorm_k(float *y, int ldy, const float *x, int ldx, int rows, int dim,
                             const float *w, float eps)
{
    long r = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + r * ldx;
    float *yr = y + r * ldy;
    float q = 0.0f;
    for (int j = lane; j < dim; j += 32) q += xr[j] * xr[j];
    float rs = rsqrtf(kc_warp_sum_(q) / (float)dim + eps);
    __syncwarp();
    for (int j = lane; j < dim; j += 32) yr[j] = w ? xr[j] * rs * w[j] : xr[j] * rs;
}

extern "C" int k_cuda_rmsnorm(float *y, int ldy, const float *x, int ldx, int rows, int dim,
                              const float *w, float eps)
{
    const char *op = "rmsnorm";
    if (dim < 1) return k_fail_(op, "dim %d must be >= 1", dim);
    if (k_chk_mat_(op, "x", x, rows, dim, ldx) || k_chk_mat_(op, "y", y, rows, dim, ldy)) return -1;
    if (!(eps >= 0)) return k_fail_(op, "eps %g must be >= 0", (double)eps);
    if (rows == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_rmsnorm_k<<<(unsigned)((rows + 7) / 8), 256, 0, c->stream>>>(y, ldy, x, ldx, rows, dim, w, eps);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- activations ---------------- */

static __device__ __forceinline__ float kc_gelu_(float v)
{
    const float k0 = 0.7978845608028654f, k1 = 0.044715f;
    return 0.5f * v * (1.0f + tanhf(k0 * (v + k1 * v * v * v)));
}
static __device__ __forceinline__ float kc_silu_(float v) { return v / (1.0f + expf(-v)); }

__global__ void kc_act_k(float *y, const float *x, long n, int act)
{
    KC_FOR(i, n) y[i] = act == K_ACT_GELU_TANH ? kc_gelu_(x[i]) : kc_silu_(x[i]);
}

/* y (M, N) row stride ldy, in place; grid = kc_rows_grid_(M, N). */
__global__ void kc_act_rows_k(float *y, int ldy, int N, int act)
{
    int j = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (j >= N) return;
    float *p = y + (long)blockIdx.x * ldy + j;
    *p = act == K_ACT_GELU_TANH ? kc_gelu_(*p) : kc_silu_(*p);
}

int kc_act_rows_(kc_ctx_t *c, float *y, int ldy, int M, int N, k_act_t act)
{
    if (act == K_ACT_NONE || M == 0 || N == 0) return 0;
    if (!kc_rows_ok_(M, N)) return k_fail_("activation", "%d x %d over the grid limits", M, N);
    kc_act_rows_k<<<kc_rows_grid_(M, N), KC_ROW_T, 0, c->stream>>>(y, ldy, N, (int)act);
    KC_LAUNCHED("activation");
    return 0;
}

static int kc_act_(const char *op, float *y, const float *x, long n, k_act_t act)
{
    if (n < 0) return k_fail_(op, "negative size %ld", n);
    if (n == 0) return 0;
    if (!x || !y) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_act_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(y, x, n, (int)act);
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_gelu_tanh(float *y, const float *x, long n) { return kc_act_("gelu_tanh", y, x, n, K_ACT_GELU_TANH); }
extern "C" int k_cuda_silu(float *y, const float *x, long n) { return kc_act_("silu", y, x, n, K_ACT_SILU); }

/* ---------------- adaLN modulate, gated residual ---------------- */

/* y[b,s,d] = x[b,s,d]·(1 + scale[b,d]) + shift[b,d]; grid = kc_rows_grid_(B·S, D). */
__global__ void kc_modulate_k(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                              const float *shift, const float *scale, int ldm, int S, int D)
{
    int d = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (d >= D) return;
    long b = blockIdx.x / S, s = blockIdx.x % S;
    float v = x[b * bsx + s * ldx + d];
    y[b * bsy + s * ldy + d] = v * (1.0f + scale[b * ldm + d]) + shift[b * ldm + d];
}

extern "C" int k_cuda_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                               const float *shift, const float *scale, int ldm, int B, int S, int D)
{
    const char *op = "modulate";
    if (k_chk_bsd_(op, "x", x, B, S, D, ldx, bsx) || k_chk_bsd_(op, "y", y, B, S, D, ldy, bsy) ||
        k_chk_mat_(op, "shift", shift, B, D, ldm) || k_chk_mat_(op, "scale", scale, B, D, ldm))
        return -1;
    if ((long)B * S * D == 0) return 0;
    if (!kc_rows_ok_((long)B * S, D)) return k_fail_(op, "B %d x S %d x D %d over the grid limits", B, S, D);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_modulate_k<<<kc_rows_grid_((long)B * S, D), KC_ROW_T, 0, c->stream>>>(y, ldy, bsy, x, ldx, bsx, shift, scale, ldm, S, D);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- adaLN: LayerNorm + modulate (norm_modulate, k.h k_cpu_norm_modulate) ---------------- */

/* v2, one pass: kc_layernorm4_k's layout (LPV lanes per token, NV float4 per lane in registers, D =
 * 4·LPV·NV), then y = u·(1 + scale) + shift with the token's chunks (text before split, video after):
 * x read once, y written once (v1: the norm writes y, the modulate reads and writes it again). */
template <int NV, int LPV>
__global__ void kc_norm_mod4_k(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int S, long ntok,
                               const float *w, const float *b, float eps, int split, const float *sh0,
                               const float *sc0, const float *sh1, const float *sc1, int ldm)
{
    long v = ((long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32) * (32 / LPV) + (threadIdx.x & 31) / LPV;
    int ln = threadIdx.x & (LPV - 1);
    bool ok = v < ntok;                                          /* every lane stays for the shuffles */
    long bi = ok ? v / S : 0;
    int s = ok ? (int)(v % S) : 0;
    float4 t[NV];
    float mean, rstd;
    kc_ln4_stats_<NV, LPV>((const float4 *)(x + bi * bsx + (long)s * ldx), ok, ln, eps, t, mean, rstd);
    if (!ok) return;
    const float4 *sh = (const float4 *)((s < split ? sh0 : sh1) + bi * ldm);
    const float4 *sc = (const float4 *)((s < split ? sc0 : sc1) + bi * ldm);
    float4 *yr = (float4 *)(y + bi * bsy + (long)s * ldy);
    #pragma unroll
    for (int i = 0; i < NV; i++) {
        int j = ln + i * LPV;
        float4 u = t[i], wv = w ? ((const float4 *)w)[j] : make_float4(1.f, 1.f, 1.f, 1.f);
        float4 bv = b ? ((const float4 *)b)[j] : make_float4(0.f, 0.f, 0.f, 0.f), hv = sh[j], cv = sc[j];
        u.x = ((u.x - mean) * rstd * wv.x + bv.x) * (1.0f + cv.x) + hv.x;
        u.y = ((u.y - mean) * rstd * wv.y + bv.y) * (1.0f + cv.y) + hv.y;
        u.z = ((u.z - mean) * rstd * wv.z + bv.z) * (1.0f + cv.z) + hv.z;
        u.w = ((u.w - mean) * rstd * wv.w + bv.w) * (1.0f + cv.w) + hv.w;
        yr[j] = u;
    }
}

typedef void (*kc_nm4_fn)(float *, int, long, const float *, int, long, int, long, const float *, const float *,
                          float, int, const float *, const float *, const float *, const float *, int);
static const struct { int dim; kc_nm4_fn fn; int lpv; } kc_nm4_[] = {
    { 64, kc_norm_mod4_k<1, 16>, 16 },   { 128, kc_norm_mod4_k<1, 32>, 32 },
    { 256, kc_norm_mod4_k<2, 32>, 32 },  { 512, kc_norm_mod4_k<4, 32>, 32 },
    { 1024, kc_norm_mod4_k<8, 32>, 32 }, { 1920, kc_norm_mod4_k<15, 32>, 32 },
    { 2048, kc_norm_mod4_k<16, 32>, 32 }, { 3072, kc_norm_mod4_k<24, 32>, 32 },
};

extern "C" int k_cuda_norm_modulate_with(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S,
                                         int D, const float *w, const float *b, float eps, int split,
                                         const float *sh0, const float *sc0, const float *sh1, const float *sc1,
                                         int ldm, k_cuda_norm_mod_kind_t kind)
{
    const char *op = "norm_modulate";
    if (B < 0 || S < 0 || D < 1 || split < 0 || split > S)
        return k_fail_(op, "B %d, S %d, D %d: split %d must lie in 0..S", B, S, D, split);
    if (k_chk_bsd_(op, "x", x, B, S, D, ldx, bsx) || k_chk_bsd_(op, "y", y, B, S, D, ldy, bsy) ||
        k_chk_mat_(op, "shift0", sh0, B, D, ldm) || k_chk_mat_(op, "scale0", sc0, B, D, ldm) ||
        k_chk_mat_(op, "shift1", sh1, B, D, ldm) || k_chk_mat_(op, "scale1", sc1, B, D, ldm))
        return -1;
    if (!(eps >= 0)) return k_fail_(op, "eps %g must be >= 0", (double)eps);
    if ((unsigned)kind >= K_CUDA_NORM_MOD_COUNT) return k_fail_(op, "unknown version %d", (int)kind);
    if (kind == K_CUDA_NORM_MOD_AUTO) kind = K_CUDA_NORM_MOD_AUTO_IS;
    int f = -1;
    bool al = kc_al16_(x) && kc_al16_(y) && kc_al16_(w) && kc_al16_(b) && kc_al16_(sh0) && kc_al16_(sc0) &&
              kc_al16_(sh1) && kc_al16_(sc1) && ldx % 4 == 0 && ldy % 4 == 0 && bsx % 4 == 0 && bsy % 4 == 0 &&
              ldm % 4 == 0;
    for (int i = 0; al && i < (int)(sizeof kc_nm4_ / sizeof *kc_nm4_); i++) if (kc_nm4_[i].dim == D) f = i;
    if (kind == K_CUDA_NORM_MOD_FUSED && f < 0)
        return k_fail_(op, "the fused version needs D in {64, 128, 256, 512, 1024, 1920, 2048, 3072} and 16-byte "
                       "aligned rows, affine and chunks (D %d)", D);
    if (kind != K_CUDA_NORM_MOD_FUSED) {                         /* v1: the norm, then modulate per range */
        if (bsx == (long)S * ldx && bsy == (long)S * ldy) {
            if (k_cuda_layernorm(y, ldy, x, ldx, B * S, 1, D, w, b, eps)) return -1;
        } else {
            for (int bi = 0; bi < B; bi++)
                if (k_cuda_layernorm(y + bi * bsy, ldy, x + bi * bsx, ldx, S, 1, D, w, b, eps)) return -1;
        }
        if (k_cuda_modulate(y, ldy, bsy, y, ldy, bsy, sh0, sc0, ldm, B, split, D)) return -1;
        return k_cuda_modulate(y + (long)split * ldy, ldy, bsy, y + (long)split * ldy, ldy, bsy, sh1, sc1, ldm, B,
                               S - split, D);
    }
    long ntok = (long)B * S;
    if (ntok == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    long per_block = 8L * (32 / kc_nm4_[f].lpv);                  /* 8 warps */
    kc_nm4_[f].fn<<<(unsigned)((ntok + per_block - 1) / per_block), 256, 0, c->stream>>>(
        y, ldy, bsy, x, ldx, bsx, S, ntok, w, b, eps, split, sh0, sc0, sh1, sc1, ldm);
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_norm_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S,
                                    int D, const float *w, const float *b, float eps, int split, const float *sh0,
                                    const float *sc0, const float *sh1, const float *sc1, int ldm)
{
    return k_cuda_norm_modulate_with(y, ldy, bsy, x, ldx, bsx, B, S, D, w, b, eps, split, sh0, sc0, sh1, sc1, ldm,
                                     K_CUDA_NORM_MOD_AUTO);
}

/* x[b,s,d] += gate[b,d]·y[b,s,d]; grid = kc_rows_grid_(B·S, D). */
__global__ void kc_gated_residual_k(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                                    const float *gate, int ldg, int S, int D)
{
    int d = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (d >= D) return;
    long b = blockIdx.x / S, s = blockIdx.x % S;
    x[b * bsx + s * ldx + d] += gate[b * ldg + d] * y[b * bsy + s * ldy + d];
}

extern "C" int k_cuda_gated_residual(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                                     const float *gate, int ldg, int B, int S, int D)
{
    const char *op = "gated_residual";
    if (k_chk_bsd_(op, "x", x, B, S, D, ldx, bsx) || k_chk_bsd_(op, "y", y, B, S, D, ldy, bsy) ||
        k_chk_mat_(op, "gate", gate, B, D, ldg))
        return -1;
    if ((long)B * S * D == 0) return 0;
    if (!kc_rows_ok_((long)B * S, D)) return k_fail_(op, "B %d x S %d x D %d over the grid limits", B, S, D);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_gated_residual_k<<<kc_rows_grid_((long)B * S, D), KC_ROW_T, 0, c->stream>>>(x, ldx, bsx, y, ldy, bsy, gate, ldg, S, D);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- RoPE (interleaved pairs), in place ---------------- */

/* grid = kc_rows_grid_(B·S, H·hd/2): one thread per (token, head, pair). */
__global__ void kc_rope_k(float *x, int ld, long bs, int S, int H, int hd, const float *cs,
                          const float *sn, int ldt)
{
    int half = hd / 2, t = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (t >= H * half) return;
    long b = blockIdx.x / S, s = blockIdx.x % S;
    int i = 2 * (t % half), h = t / half;
    float *v = x + b * bs + s * ld + (long)h * hd;
    const float *c = cs + s * ldt, *si = sn + s * ldt;
    float x0 = v[i], x1 = v[i + 1];
    v[i] = x0 * c[i] - x1 * si[i];
    v[i + 1] = x1 * c[i + 1] + x0 * si[i + 1];
}

extern "C" int k_cuda_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim,
                           const float *cos, const float *sin, int ldt)
{
    const char *op = "rope";
    if (H < 0 || head_dim < 2 || head_dim % 2)
        return k_fail_(op, "H %d, head_dim %d (must be even)", H, head_dim);
    if (k_chk_bsd_(op, "x", x, B, S, (long)H * head_dim, ld, bs) ||
        k_chk_mat_(op, "cos", cos, S, head_dim, ldt) || k_chk_mat_(op, "sin", sin, S, head_dim, ldt))
        return -1;
    long pairs = (long)H * (head_dim / 2);
    if ((long)B * S * pairs == 0) return 0;
    if (!kc_rows_ok_((long)B * S, pairs)) return k_fail_(op, "B %d x S %d x %ld pairs over the grid limits", B, S, pairs);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_rope_k<<<kc_rows_grid_((long)B * S, pairs), KC_ROW_T, 0, c->stream>>>(x, ld, bs, S, H, head_dim, cos, sin, ldt);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- q/k LayerNorm + RoPE (norm_rope, k.h k_cpu_norm_rope) ---------------- */

/* v2, one pass for head_dim 64: 16 lanes per (token, head) vector holding one float4 each (the layout
 * of kc_layernorm4_k<1, 16>), the norm and affine in registers, then RoPE on the lane's two interleaved
 * pairs with the token's table row when the token lies in a rope range: x read once, written once
 * (v1 reads and writes it twice where RoPE applies: the norm pass, then the rope pass). */
__global__ void kc_norm_rope64_k(float *x, int ld, long bs, int S, int H, long nvec, const float *w,
                                 const float *b, float eps, const float *cos, const float *sin, int ldt, int r0,
                                 int nr, int reps)
{
    long v = ((long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32) * 2 + (threadIdx.x & 31) / 16;
    int ln = threadIdx.x & 15;
    bool ok = v < nvec;                                          /* every lane stays for the shuffles */
    long tok = ok ? v / H : 0, bi = tok / S;
    int h = ok ? (int)(v % H) : 0, s = (int)(tok % S);
    float4 *xr = (float4 *)(x + bi * bs + (long)s * ld + (long)h * 64), tv[1];
    float mean, rstd;
    kc_ln4_stats_<1, 16>(xr, ok, ln, eps, tv, mean, rstd);
    if (!ok) return;
    float4 t = tv[0];
    float4 wv = w ? ((const float4 *)w)[ln] : make_float4(1.f, 1.f, 1.f, 1.f);
    float4 bv = b ? ((const float4 *)b)[ln] : make_float4(0.f, 0.f, 0.f, 0.f);
    float4 u;
    u.x = (t.x - mean) * rstd * wv.x + bv.x;
    u.y = (t.y - mean) * rstd * wv.y + bv.y;
    u.z = (t.z - mean) * rstd * wv.z + bv.z;
    u.w = (t.w - mean) * rstd * wv.w + bv.w;
    int rel = s - r0;
    if (cos && rel >= 0 && rel < reps * nr) {
        long row = rel % nr;
        float4 cv = ((const float4 *)(cos + row * ldt))[ln], sv = ((const float4 *)(sin + row * ldt))[ln];
        float x0 = u.x, x1 = u.y, x2 = u.z, x3 = u.w;
        u.x = x0 * cv.x - x1 * sv.x;
        u.y = x1 * cv.y + x0 * sv.y;
        u.z = x2 * cv.z - x3 * sv.z;
        u.w = x3 * cv.w + x2 * sv.w;
    }
    xr[ln] = u;
}

/* v1: the norm (one call per batch row block) then RoPE per range, i.e. the CPU op's sequence on the
 * CUDA layernorm and rope kernels. */
static int kc_norm_rope_v1_(float *x, int ld, long bs, int B, int S, int H, int hd, const float *w, const float *b,
                            float eps, const float *cos, const float *sin, int ldt, int r0, int nr, int reps)
{
    if (bs == (long)S * ld) {
        if (k_cuda_layernorm(x, ld, x, ld, B * S, H, hd, w, b, eps)) return -1;
    } else {
        for (int bi = 0; bi < B; bi++)
            if (k_cuda_layernorm(x + bi * bs, ld, x + bi * bs, ld, S, H, hd, w, b, eps)) return -1;
    }
    for (int j = 0; cos && j < reps && nr > 0; j++)
        if (k_cuda_rope(x + (long)(r0 + j * nr) * ld, ld, bs, B, nr, H, hd, cos, sin, ldt)) return -1;
    return 0;
}

/* 1 when v2 can run these arguments: head_dim 64, 16-byte aligned rows, affine and tables. */
static bool kc_norm_rope_v2_ok_(const float *x, int ld, long bs, int hd, const float *w, const float *b,
                                const float *cos, const float *sin, int ldt)
{
    return hd == 64 && kc_al16_(x) && ld % 4 == 0 && bs % 4 == 0 && kc_al16_(w) && kc_al16_(b) &&
           (!cos || (kc_al16_(cos) && kc_al16_(sin) && ldt % 4 == 0));
}

extern "C" int k_cuda_norm_rope_with(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                                     const float *b, float eps, const float *cos, const float *sin, int ldt, int r0,
                                     int nr, int reps, k_cuda_norm_rope_kind_t kind)
{
    const char *op = "norm_rope";
    if (B < 0 || S < 0 || H < 1 || head_dim < 2 || head_dim % 2 || r0 < 0 || nr < 0 || reps < 0 ||
        (long)r0 + (long)reps * nr > S)
        return k_fail_(op, "B %d, S %d, H %d, head_dim %d (even), rope range %d + %d x %d must lie inside the tokens",
                       B, S, H, head_dim, r0, reps, nr);
    if (k_chk_bsd_(op, "x", x, B, S, (long)H * head_dim, ld, bs)) return -1;
    if (cos && reps > 0 && nr > 0 &&
        (k_chk_mat_(op, "cos", cos, nr, head_dim, ldt) || k_chk_mat_(op, "sin", sin, nr, head_dim, ldt)))
        return -1;
    if (!(eps >= 0)) return k_fail_(op, "eps %g must be >= 0", (double)eps);
    if ((unsigned)kind >= K_CUDA_NORM_ROPE_COUNT) return k_fail_(op, "unknown version %d", (int)kind);
    if (kind == K_CUDA_NORM_ROPE_AUTO) kind = K_CUDA_NORM_ROPE_AUTO_IS;
    bool v2 = kc_norm_rope_v2_ok_(x, ld, bs, head_dim, w, b, cos, sin, ldt);
    if (kind == K_CUDA_NORM_ROPE_FUSED && !v2)
        return k_fail_(op, "the fused version needs head_dim 64 and 16-byte aligned rows, affine and tables");
    if (kind != K_CUDA_NORM_ROPE_FUSED)
        return kc_norm_rope_v1_(x, ld, bs, B, S, H, head_dim, w, b, eps, cos, sin, ldt, r0, nr, reps);
    long nvec = (long)B * S * H;
    if (nvec == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    long per_block = 16;                                          /* 8 warps, 2 vectors each */
    kc_norm_rope64_k<<<(unsigned)((nvec + per_block - 1) / per_block), 256, 0, c->stream>>>(
        x, ld, bs, S, H, nvec, w, b, eps, cos, sin, ldt, r0, nr, reps);
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_norm_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                                const float *b, float eps, const float *cos, const float *sin, int ldt, int r0,
                                int nr, int reps)
{
    return k_cuda_norm_rope_with(x, ld, bs, B, S, H, head_dim, w, b, eps, cos, sin, ldt, r0, nr, reps,
                                 K_CUDA_NORM_ROPE_AUTO);
}

/* ---------------- patch embed / unpatchify ---------------- */

typedef struct {
    int F, C, H, W, p, pt;
    int Tq, Hq, Wq;     /* tokens per axis: F/pt, H/p, W/p */
    int K;              /* features per patch: C·pt·p·p */
} kc_patch_t;

static int kc_patch_geom_(const char *op, kc_patch_t *g, int B, int F, int C, int H, int W, int p, int pt)
{
    if (B < 0 || F < 1 || C < 1 || H < 1 || W < 1 || p < 1 || pt < 1 || F % pt || H % p || W % p)
        return k_fail_(op, "bad geometry B %d F %d C %d H %d W %d p %d pt %d", B, F, C, H, W, p, pt);
    *g = (kc_patch_t){ F, C, H, W, p, pt, F / pt, H / p, W / p, C * pt * p * p };
    return 0;
}

/* Offset in the (F, C, H, W) latent of feature k of token n (the CPU op's index, patch.c). */
static __device__ __forceinline__ long kc_latent_index_(kc_patch_t g, long n, int k)
{
    long tq = n / ((long)g.Hq * g.Wq), hq = n / g.Wq % g.Hq, wq = n % g.Wq;
    int x = k % g.p, y = k / g.p % g.p, t = k / (g.p * g.p) % g.pt, c = k / (g.p * g.p * g.pt);
    long f = tq * g.pt + t, h = hq * g.p + y, w = wq * g.p + x;
    return ((f * g.C + c) * g.H + h) * g.W + w;
}

/* cols (ntok, K) = the patches of one (F, C, H, W) latent. */
__global__ void kc_patch_gather_k(float *cols, const float *xb, kc_patch_t g, long n)
{
    KC_FOR(i, n) cols[i] = xb[kc_latent_index_(g, i / g.K, (int)(i % g.K))];
}

extern "C" int k_cuda_patch_embed(float *out, int ld, long bs, const float *x, int B, int F, int C,
                                  int H, int W, int p, int pt, const float *w, const float *b, int D)
{
    const char *op = "patch_embed";
    kc_patch_t g;
    if (kc_patch_geom_(op, &g, B, F, C, H, W, p, pt)) return -1;
    long ntok = (long)g.Tq * g.Hq * g.Wq, per_b = (long)F * C * H * W;
    if (ntok > 0x7fffffff) return k_fail_(op, "%ld tokens", ntok);
    if (k_chk_bsd_(op, "out", out, B, ntok, D, ld, bs) || k_chk_mat_(op, "w", w, D, g.K, g.K)) return -1;
    if (B > 0 && !x) return k_fail_(op, "x: NULL buffer");
    if (B == 0 || ntok == 0 || D == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    float *cols = (float *)kc_scratch_(c, 1, sizeof(float) * (size_t)ntok * g.K, op);
    if (!cols) return -1;
    for (int bi = 0; bi < B; bi++) {
        long n = ntok * g.K;
        kc_patch_gather_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(cols, x + bi * per_b, g, n);
        KC_LAUNCHED(op);
        if (kc_gemm_f32_(c, out + bi * bs, ld, cols, g.K, w, g.K, b, (int)ntok, D, g.K, 1.0f, 0.0f, K_ACT_NONE))
            return -1;
    }
    return 0;
}

__global__ void kc_unpatchify_k(float *out, const float *y, int ld, long bs, kc_patch_t g, long ntok,
                                long per_b, long n)
{
    KC_FOR(i, n) {
        long r = i / g.K, bi = r / ntok, t = r % ntok;
        int k = (int)(i % g.K);
        out[bi * per_b + kc_latent_index_(g, t, k)] = y[bi * bs + t * ld + k];
    }
}

extern "C" int k_cuda_unpatchify(float *out, const float *y, int ld, long bs, int B, int F, int C,
                                 int H, int W, int p, int pt)
{
    const char *op = "unpatchify";
    kc_patch_t g;
    if (kc_patch_geom_(op, &g, B, F, C, H, W, p, pt)) return -1;
    long ntok = (long)g.Tq * g.Hq * g.Wq, per_b = (long)F * C * H * W;
    if (k_chk_bsd_(op, "y", y, B, ntok, g.K, ld, bs) || (B > 0 && !out)) return -1;
    long n = (long)B * ntok * g.K;
    if (n == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_unpatchify_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(out, y, ld, bs, g, ntok, per_b, n);
    KC_LAUNCHED(op);
    return 0;
}
