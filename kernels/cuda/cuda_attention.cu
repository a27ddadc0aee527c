/* cuda_attention.cu — fused attention of the CUDA backend (k_attn_t contract of k.h): streaming
 * (online) softmax, the text→alpha rule applied from index ranges (no mask tensor), keys running over
 * the main list and then the extra list, fully masked rows give 0.
 * Versions (kernel lab numbering; pick with k_cuda_attention_with):
 *   v1 SIMT    one warp per query row, fp32 throughout, any head_dim <= 256. The readable version.
 *   v2 WMMA64  head_dim 64: 64 query rows per block (4 warps × 16), 64-key tiles; q/k/v rounded to
 *              bf16 in shared memory, QKᵀ and PV on the tensor cores (WMMA 16×16×16, fp32
 *              accumulate), logits/softmax/output in fp32; per-row max and sum in registers of the
 *              two lanes that own the row. ~70 KB of dynamic shared memory per block.
 * The table's attention (AUTO) uses v2 for head_dim 64 and v1 otherwise. NOT RUN ON A GPU YET: the
 * fragment addressing was checked by review only (all fragment pointers 32-byte aligned, ldm 72
 * bf16 / 68 fp32). v2 loads tiles with scalar 4-byte loads and keeps S/O in shared memory: expect
 * it well under the 400 TFLOP/s goal; a wgmma (sm_90a) version with register accumulators and
 * TMA loads of bf16 q/k/v is the next step.
 */
#include "kernels/cuda/kc_internal.cuh"

#include <math.h>
#include <mma.h>

#define KC_LOG2E 1.4426950408889634f
#define KC_HD_MAX 256

/* Kernel parameters: the k_attn_t with ranges clamped and the scale/bias in log2 units. */
typedef struct {
    int hd, Sq, Sk, Sk2;
    const float *q; long q_bs; int q_ld;
    const float *k; long k_bs; int k_ld;
    const float *v; long v_bs; int v_ld;
    const float *k2; long k2_bs; int k2_ld;
    const float *v2; long v2_bs; int v2_ld;
    float *o; long o_bs; int o_ld;
    float scale_log2, bias_log2;
    int q0, q1, k0, k1, k2_0, k2_1;
} kc_attn_p;

static int kc_clamp_(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Row j of the joint key (val = 0) or value (val = 1) list of (b, h); NULL past the end. */
static __device__ __forceinline__ const float *kc_kv_row_(const kc_attn_p &a, int b, int h, int j, int val)
{
    if (j < a.Sk) return (val ? a.v + b * a.v_bs + (long)j * a.v_ld : a.k + b * a.k_bs + (long)j * a.k_ld) + (long)h * a.hd;
    j -= a.Sk;
    if (j < a.Sk2) return (val ? a.v2 + b * a.v2_bs + (long)j * a.v2_ld : a.k2 + b * a.k2_bs + (long)j * a.k2_ld) + (long)h * a.hd;
    return NULL;
}

/* Whether joint key j is in the biased range (for a biased query row). */
static __device__ __forceinline__ bool kc_key_biased_(const kc_attn_p &a, int j)
{
    return j < a.Sk ? (j >= a.k0 && j < a.k1) : (j - a.Sk >= a.k2_0 && j - a.Sk < a.k2_1);
}

/* ---------------- v1: one warp per query row ---------------- */

__global__ void __launch_bounds__(128) kc_attn_simt_k(kc_attn_p a)
{
    int lane = threadIdx.x & 31, i = blockIdx.x * 4 + threadIdx.x / 32, h = blockIdx.y, b = blockIdx.z;
    if (i >= a.Sq) return;
    const float *qr = a.q + b * a.q_bs + (long)i * a.q_ld + (long)h * a.hd;
    float q[KC_HD_MAX / 32], acc[KC_HD_MAX / 32], m = -INFINITY, l = 0.0f;
    bool row_biased = i >= a.q0 && i < a.q1;
    #pragma unroll
    for (int u = 0; u < KC_HD_MAX / 32; u++) {
        int d = lane + 32 * u;
        q[u] = d < a.hd ? qr[d] * a.scale_log2 : 0.0f;
        acc[u] = 0.0f;
    }
    for (int j = 0; j < a.Sk + a.Sk2; j++) {
        const float *kr = kc_kv_row_(a, b, h, j, 0), *vr = kc_kv_row_(a, b, h, j, 1);
        float s = 0.0f;
        #pragma unroll
        for (int u = 0; u < KC_HD_MAX / 32; u++) if (lane + 32 * u < a.hd) s += q[u] * kr[lane + 32 * u];
        s = __shfl_sync(0xffffffffu, kc_warp_sum_(s), 0);        /* one value for the whole warp */
        if (row_biased && kc_key_biased_(a, j)) s += a.bias_log2;
        if (s == -INFINITY) continue;                             /* hard-masked key */
        float mn = fmaxf(m, s), al = exp2f(m - mn), p = exp2f(s - mn);
        l = l * al + p;
        m = mn;
        #pragma unroll
        for (int u = 0; u < KC_HD_MAX / 32; u++) if (lane + 32 * u < a.hd) acc[u] = acc[u] * al + p * vr[lane + 32 * u];
    }
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *orow = a.o + b * a.o_bs + (long)i * a.o_ld + (long)h * a.hd;
    #pragma unroll
    for (int u = 0; u < KC_HD_MAX / 32; u++) if (lane + 32 * u < a.hd) orow[lane + 32 * u] = acc[u] * inv;
}

/* ---------------- v2: WMMA, head_dim 64 ---------------- */

#define W_BQ 64            /* query rows per block (4 warps × 16) */
#define W_BK 64            /* keys per tile */
#define W_LDH 72           /* bf16 row pitch in shared memory */
#define W_LDF 68           /* fp32 row pitch */
#define W_SMEM (4 * 64 * W_LDH * 2 + 2 * 64 * W_LDF * 4)

using namespace nvcuda;

/* The block's 64 rows of a (rows, 64) fp32 tile → bf16 smem (zeros past `valid` rows). */
static __device__ __forceinline__ void kc_tile_q_(__nv_bfloat16 *dst, const kc_attn_p &a, int b, int h, int i0)
{
    for (int e = threadIdx.x; e < 64 * 64; e += blockDim.x) {
        int r = e >> 6, d = e & 63, i = i0 + r;
        float v = i < a.Sq ? a.q[b * a.q_bs + (long)i * a.q_ld + (long)h * 64 + d] : 0.0f;
        dst[r * W_LDH + d] = __float2bfloat16_rn(v);
    }
}

static __device__ __forceinline__ void kc_tile_kv_(__nv_bfloat16 *ks, __nv_bfloat16 *vs, const kc_attn_p &a,
                                                   int b, int h, int j0)
{
    for (int e = threadIdx.x; e < 64 * 64; e += blockDim.x) {
        int r = e >> 6, d = e & 63;
        const float *kr = kc_kv_row_(a, b, h, j0 + r, 0), *vr = kc_kv_row_(a, b, h, j0 + r, 1);
        ks[r * W_LDH + d] = __float2bfloat16_rn(kr ? kr[d] : 0.0f);
        vs[r * W_LDH + d] = __float2bfloat16_rn(vr ? vr[d] : 0.0f);
    }
}

/* S (16 rows of this warp, 64 keys) = Q_w · Kᵀ, fp32 into Ss. */
static __device__ __forceinline__ void kc_qk_(float *Ss, const __nv_bfloat16 *Qw, const __nv_bfloat16 *Ks)
{
    #pragma unroll
    for (int jn = 0; jn < 4; jn++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
            wmma::load_matrix_sync(fa, Qw + kk * 16, W_LDH);
            wmma::load_matrix_sync(fb, Ks + jn * 16 * W_LDH + kk * 16, W_LDH);   /* (d, key) at key·ld + d */
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(Ss + jn * 16, acc, W_LDF, wmma::mem_row_major);
    }
}

/* O_w (16 rows, 64 dims) += P_w (16 rows, 64 keys) · V (64 keys, 64 dims). */
static __device__ __forceinline__ void kc_pv_(float *Ow, const __nv_bfloat16 *Pw, const __nv_bfloat16 *Vs)
{
    #pragma unroll
    for (int jn = 0; jn < 4; jn++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::load_matrix_sync(acc, Ow + jn * 16, W_LDF, wmma::mem_row_major);
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
            wmma::load_matrix_sync(fa, Pw + kk * 16, W_LDH);
            wmma::load_matrix_sync(fb, Vs + kk * 16 * W_LDH + jn * 16, W_LDH);   /* (key, d) at key·ld + d */
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(Ow + jn * 16, acc, W_LDF, wmma::mem_row_major);
    }
}

/* Online softmax of one key tile for the row this lane pair owns (32 keys per lane): turns the row's
 * logits in Ss into bf16 probabilities in Ps, rescales the row of Os, updates m and l. */
static __device__ __forceinline__ void kc_softmax_tile_(const kc_attn_p &a, const float *srow, __nv_bfloat16 *prow,
                                                        float *orow, int j0, bool row_biased, float &m, float &l)
{
    float sv[32], mx = -INFINITY, sum = 0.0f, al = 1.0f;
    #pragma unroll
    for (int c = 0; c < 32; c++) {
        int j = j0 + c;
        float s = srow[c] * a.scale_log2;
        if (j >= a.Sk + a.Sk2) s = -INFINITY;
        else if (row_biased && kc_key_biased_(a, j)) s += a.bias_log2;
        sv[c] = s;
        mx = fmaxf(mx, s);
    }
    float mn = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)));
    if (mn != -INFINITY) al = exp2f(m - mn);
    #pragma unroll
    for (int c = 0; c < 32; c++) {
        float p = mn == -INFINITY ? 0.0f : exp2f(sv[c] - mn);
        sum += p;
        prow[c] = __float2bfloat16_rn(p);
        orow[c] *= al;
    }
    l = l * al + sum + __shfl_xor_sync(0xffffffffu, sum, 1);
    m = mn;
}

__global__ void __launch_bounds__(128) kc_attn_wmma64_k(kc_attn_p a)
{
    extern __shared__ __align__(128) unsigned char kc_smem_[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)kc_smem_, *Ks = Qs + 64 * W_LDH, *Vs = Ks + 64 * W_LDH, *Ps = Vs + 64 * W_LDH;
    float *Ss = (float *)(Ps + 64 * W_LDH), *Os = Ss + 64 * W_LDF;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, h = blockIdx.y, b = blockIdx.z;
    int i0 = blockIdx.x * W_BQ, r = warp * 16 + (lane >> 1), half = lane & 1;
    int nkeys = a.Sk + a.Sk2, i = i0 + r;
    bool row_biased = i >= a.q0 && i < a.q1;
    float m = -INFINITY, l = 0.0f;
    kc_tile_q_(Qs, a, b, h, i0);
    for (int e = threadIdx.x; e < 64 * W_LDF; e += blockDim.x) Os[e] = 0.0f;
    for (int j0 = 0; j0 < nkeys; j0 += W_BK) {
        __syncthreads();                       /* Q/O ready; every warp is done with the last K/V tile */
        kc_tile_kv_(Ks, Vs, a, b, h, j0);
        __syncthreads();
        kc_qk_(Ss + warp * 16 * W_LDF, Qs + warp * 16 * W_LDH, Ks);
        __syncwarp();
        kc_softmax_tile_(a, Ss + r * W_LDF + half * 32, Ps + r * W_LDH + half * 32, Os + r * W_LDF + half * 32,
                         j0 + half * 32, row_biased, m, l);
        __syncwarp();
        kc_pv_(Os + warp * 16 * W_LDF, Ps + warp * 16 * W_LDH, Vs);
        __syncwarp();
    }
    __syncthreads();                           /* also covers nkeys == 0 (Os zeroed by all threads) */
    if (i >= a.Sq) return;
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *orow = a.o + b * a.o_bs + (long)i * a.o_ld + (long)h * 64 + half * 32;
    #pragma unroll
    for (int c = 0; c < 32; c++) orow[c] = Os[r * W_LDF + half * 32 + c] * inv;
}

/* ---------------- launcher ---------------- */

static int kc_attn_check_(const char *op, const k_attn_t *a)
{
    if (!a) return k_fail_(op, "NULL parameters");
    if (a->B < 0 || a->H < 0 || a->head_dim < 1 || a->Sq < 0 || a->Sk < 0 || a->Sk2 < 0)
        return k_fail_(op, "bad sizes B %d H %d head_dim %d Sq %d Sk %d Sk2 %d",
                       a->B, a->H, a->head_dim, a->Sq, a->Sk, a->Sk2);
    long w = (long)a->H * a->head_dim;
    if (k_chk_bsd_(op, "q", a->q, a->B, a->Sq, w, a->q_ld, a->q_bs) ||
        k_chk_bsd_(op, "o", a->o, a->B, a->Sq, w, a->o_ld, a->o_bs) ||
        k_chk_bsd_(op, "k", a->k, a->B, a->Sk, w, a->k_ld, a->k_bs) ||
        k_chk_bsd_(op, "v", a->v, a->B, a->Sk, w, a->v_ld, a->v_bs) ||
        k_chk_bsd_(op, "k2", a->k2, a->B, a->Sk2, w, a->k2_ld, a->k2_bs) ||
        k_chk_bsd_(op, "v2", a->v2, a->B, a->Sk2, w, a->v2_ld, a->v2_bs))
        return -1;
    if (isnan(a->bias) || a->bias == INFINITY) return k_fail_(op, "bias must be finite or -inf");
    if (!isfinite(a->scale)) return k_fail_(op, "scale must be finite");
    if (a->B > 65535 || a->H > 65535) return k_fail_(op, "B %d, H %d over the 65535 grid limit", a->B, a->H);
    return 0;
}

static kc_attn_p kc_attn_params_(const k_attn_t *a)
{
    int sk = (a->k && a->v) ? a->Sk : 0, sk2 = (a->k2 && a->v2) ? a->Sk2 : 0;
    kc_attn_p p = { a->head_dim, a->Sq, sk, sk2, a->q, a->q_bs, a->q_ld, a->k, a->k_bs, a->k_ld,
                    a->v, a->v_bs, a->v_ld, a->k2, a->k2_bs, a->k2_ld, a->v2, a->v2_bs, a->v2_ld,
                    a->o, a->o_bs, a->o_ld, a->scale * KC_LOG2E, a->bias * KC_LOG2E,
                    kc_clamp_(a->q0, 0, a->Sq), kc_clamp_(a->q1, 0, a->Sq), kc_clamp_(a->k0, 0, sk),
                    kc_clamp_(a->k1, 0, sk), kc_clamp_(a->k2_0, 0, sk2), kc_clamp_(a->k2_1, 0, sk2) };
    if (a->bias == 0.0f) p.q1 = p.q0;          /* no rule: no row is biased */
    return p;
}

extern "C" int k_cuda_attention_with(const k_attn_t *a, k_cuda_attn_kind_t kind)
{
    const char *op = "attention";
    if (kc_attn_check_(op, a)) return -1;
    if (a->B == 0 || a->H == 0 || a->Sq == 0) return 0;
    if (kind == K_CUDA_ATTN_AUTO) kind = a->head_dim == 64 ? K_CUDA_ATTN_WMMA64 : K_CUDA_ATTN_SIMT;
    if (kind == K_CUDA_ATTN_WMMA64 && a->head_dim != 64) return k_fail_(op, "WMMA64 needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_SIMT && a->head_dim > KC_HD_MAX) return k_fail_(op, "head_dim %d > %d", a->head_dim, KC_HD_MAX);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_attn_p p = kc_attn_params_(a);
    if (kind == K_CUDA_ATTN_WMMA64) {
        KC_CHECK(op, cudaFuncSetAttribute(kc_attn_wmma64_k, cudaFuncAttributeMaxDynamicSharedMemorySize, W_SMEM));
        dim3 grid((unsigned)((a->Sq + W_BQ - 1) / W_BQ), (unsigned)a->H, (unsigned)a->B);
        kc_attn_wmma64_k<<<grid, 128, W_SMEM, c->stream>>>(p);
    } else {
        dim3 grid((unsigned)((a->Sq + 3) / 4), (unsigned)a->H, (unsigned)a->B);
        kc_attn_simt_k<<<grid, 128, 0, c->stream>>>(p);
    }
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_attention(const k_attn_t *a) { return k_cuda_attention_with(a, K_CUDA_ATTN_AUTO); }
