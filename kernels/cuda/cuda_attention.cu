/* cuda_attention.cu — fused attention of the CUDA backend (k_attn_t contract of k.h): streaming
 * (online) softmax, the text→alpha rule applied from index ranges (no mask tensor), keys running over
 * the main list and then the extra list, fully masked rows give 0.
 * Versions (kernel lab numbering; pick with k_cuda_attention_with; tests/bench/bench_cuda_attn times them):
 *   v1 SIMT    one warp per query row, fp32 throughout, any head_dim <= 256. The readable version.
 *   v2 WMMA64  head_dim 64: 64 query rows per block (4 warps × 16), 64-key tiles; q/k/v rounded to
 *              bf16 in shared memory, QKᵀ and PV on the tensor cores (WMMA 16×16×16, fp32
 *              accumulate), logits/softmax/output in fp32. ~70 KB of dynamic shared memory per block.
 *   v3 MMA64   head_dim 64, FA2 register layout: mma.sync m16n8k16 bf16 (PTX), Q fragments, S and O
 *              accumulators in registers, P reused from the S accumulators as the A operand, K
 *              row-major and V transposed in shared memory, float4 tile loads; needs 16-byte aligned
 *              buffers and strides % 4.
 *   v4 MMA64B  head_dim 64: a pre-pass packs q, the joint K and the tile-transposed V in bf16 (scratch
 *              2·(Sq + 2·(Sk+Sk2))·64 bytes per (b, h)); v3's math on 128-row blocks (8 warps × 16).
 *   v5 FA2     head_dim 64, scale > 0 (AUTO's choice): v4's packed K/Vᵀ (Q read from fp32 once per
 *              block); 4 warps × 32 rows (each
 *              K/V fragment feeds two mma), ldmatrix.x4 fragment loads, cp.async double-buffered
 *              tiles, tree row reductions, lazy rescaling of O, per-element checks only where needed.
 * Measured on an H100 (BENCHMARKS.md, 5B shape): v2 20, v3 51, v4 125, v5 ~300 TFLOP/s.
 * Tried and dropped (numbers in kernels/cuda/README.md): a wgmma (sm_90a) version that failed its
 * layout check, v5 with the key loop skewed (spilled, slower), v5 ordered by m-tile (slower).
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


/* ---------------- v3: mma.sync m16n8k16, registers (FA2 layout), head_dim 64 ---------------- */

/* Fragment layouts of mma.m16n8k16 (PTX ISA), g = lane / 4, c = lane % 4:
 *   A (16×16, row):  a0 = A[g][2c..2c+1], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 = A[g+8][2c+8..]
 *   B (16×8, col):   b0 = B[2c..2c+1][g], b1 = B[2c+8..2c+9][g]
 *   C/D (16×8 fp32): c0, c1 = C[g][2c, 2c+1]; c2, c3 = C[g+8][2c, 2c+1]
 * Q·Kᵀ: B[k=d][n=key] = K[key][d] → two consecutive bf16 of a K row (Ks[key][d], row-major).
 * P·V:  B[k=key][n=d] = V[key][d] → stored transposed (Vt[d][key]) so the pair is consecutive too.
 * The S accumulators of key tiles 2kk and 2kk+1 are exactly the A fragment of P for k-step kk. */
#define M_LDH 72

static __device__ __forceinline__ void kc_mma_(float *d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                               uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ uint32_t kc_pack_(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);     /* .x (low 16 bits) = lo */
    return *(uint32_t *)&v;
}

static __device__ __forceinline__ uint32_t kc_ld32_(const __nv_bfloat16 *p) { return *(const uint32_t *)p; }

/* 64 rows × 64 fp32 from `row(r)` (NULL = zeros) into bf16 smem, float4 loads; transposed when vt. */
template <bool VT, typename RowFn>
static __device__ __forceinline__ void kc_tile_f4_(__nv_bfloat16 *dst, RowFn row)
{
    for (int e = threadIdx.x; e < 64 * 16; e += blockDim.x) {
        int r = e >> 4, d = (e & 15) * 4;
        const float *src = row(r);
        float4 v = src ? *(const float4 *)(src + d) : make_float4(0.f, 0.f, 0.f, 0.f);
        if (VT) {
            dst[(d + 0) * M_LDH + r] = __float2bfloat16_rn(v.x);
            dst[(d + 1) * M_LDH + r] = __float2bfloat16_rn(v.y);
            dst[(d + 2) * M_LDH + r] = __float2bfloat16_rn(v.z);
            dst[(d + 3) * M_LDH + r] = __float2bfloat16_rn(v.w);
        } else {
            uint2 u = make_uint2(kc_pack_(v.x, v.y), kc_pack_(v.z, v.w));
            *(uint2 *)(dst + r * M_LDH + d) = u;
        }
    }
}

/* Online softmax of one 64-key tile for rows g (half 0) and g+8 (half 1) of this warp: scales the
 * logits in s, turns them into probabilities, rescales o, keeps m and the lane's partial l. */
static __device__ __forceinline__ void kc_mma_softmax_(const kc_attn_p &a, float (&s)[8][4], float (&o)[8][4],
                                                       float (&m)[2], float (&l)[2], int j0, int c,
                                                       const bool (&biased)[2])
{
    float mx[2] = { -INFINITY, -INFINITY };
    #pragma unroll
    for (int nt = 0; nt < 8; nt++)
        #pragma unroll
        for (int e = 0; e < 4; e++) {
            int j = j0 + nt * 8 + 2 * c + (e & 1), hf = e >> 1;
            float v = s[nt][e] * a.scale_log2;
            if (j >= a.Sk + a.Sk2) v = -INFINITY;
            else if (biased[hf] && kc_key_biased_(a, j)) v += a.bias_log2;
            s[nt][e] = v;
            mx[hf] = fmaxf(mx[hf], v);
        }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 1));
        mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 2));
        float mn = fmaxf(m[hf], mx[hf]), al = mn == -INFINITY ? 1.0f : exp2f(m[hf] - mn);
        m[hf] = mn;
        l[hf] *= al;
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            o[nt][2 * hf] *= al;
            o[nt][2 * hf + 1] *= al;
            #pragma unroll
            for (int e = 2 * hf; e < 2 * hf + 2; e++) {
                float p = mn == -INFINITY ? 0.0f : exp2f(s[nt][e] - mn);
                s[nt][e] = p;
                l[hf] += p;
            }
        }
    }
}

/* One 64-key tile of v3/v4 (16 rows per warp): S = Q·Kᵀ from Ks, online softmax, O += P·V from Vt;
 * fragments with 32-bit shared-memory loads. */
static __device__ __forceinline__ void kc_mma_tile_(const kc_attn_p &a, float (&s)[8][4], float (&o)[8][4],
                                                    float (&m)[2], float (&l)[2], const uint32_t (&qa)[4][4],
                                                    const __nv_bfloat16 *Ks, const __nv_bfloat16 *Vt, int j0, int g,
                                                    int c, const bool (&biased)[2])
{
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        #pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            const __nv_bfloat16 *k = Ks + (nt * 8 + g) * M_LDH + kk * 16 + 2 * c;
            kc_mma_(s[nt], qa[kk][0], qa[kk][1], qa[kk][2], qa[kk][3], kc_ld32_(k), kc_ld32_(k + 8));
        }
    }
    kc_mma_softmax_(a, s, o, m, l, j0, c, biased);
    #pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t p0 = kc_pack_(s[2 * kk][0], s[2 * kk][1]), p1 = kc_pack_(s[2 * kk][2], s[2 * kk][3]);
        uint32_t p2 = kc_pack_(s[2 * kk + 1][0], s[2 * kk + 1][1]), p3 = kc_pack_(s[2 * kk + 1][2], s[2 * kk + 1][3]);
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            const __nv_bfloat16 *v = Vt + (nt * 8 + g) * M_LDH + kk * 16 + 2 * c;
            kc_mma_(o[nt], p0, p1, p2, p3, kc_ld32_(v), kc_ld32_(v + 8));
        }
    }
}

/* The end of a query row in the mma.sync layout: the row's sum l over the 4 lanes of its quad, 1/l (0
 * for a row every key was masked from), and lane c's 16 outputs of row i (o[nt][2hf], o[nt][2hf + 1])
 * stored as float2 (VEC: o rows 8-byte aligned, v3) or as scalars (any o stride: v4, v5). */
template <bool VEC>
static __device__ __forceinline__ void kc_store_row_(const kc_attn_p &a, const float (&o)[8][4], int hf, float l, int i,
                                                     int b, int h, int c)
{
    float lt = l + __shfl_xor_sync(0xffffffffu, l, 1);
    lt += __shfl_xor_sync(0xffffffffu, lt, 2);
    float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
    if (i >= a.Sq) return;
    float *orow = a.o + b * a.o_bs + (long)i * a.o_ld + (long)h * 64 + 2 * c;
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        if (VEC) {
            *(float2 *)(orow + nt * 8) = make_float2(o[nt][2 * hf] * inv, o[nt][2 * hf + 1] * inv);
        } else {
            orow[nt * 8] = o[nt][2 * hf] * inv;               /* scalar stores: any o stride */
            orow[nt * 8 + 1] = o[nt][2 * hf + 1] * inv;
        }
    }
}

__global__ void __launch_bounds__(128) kc_attn_mma64_k(kc_attn_p a)
{
    __shared__ __align__(16) __nv_bfloat16 Qs[64 * M_LDH], Ks[64 * M_LDH], Vt[64 * M_LDH];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, b = blockIdx.z, i0 = blockIdx.x * 64, nkeys = a.Sk + a.Sk2;
    int rw = warp * 16 + g;                                   /* this lane's rows: rw, rw + 8 */
    bool biased[2] = { i0 + rw >= a.q0 && i0 + rw < a.q1, i0 + rw + 8 >= a.q0 && i0 + rw + 8 < a.q1 };
    float m[2] = { -INFINITY, -INFINITY }, l[2] = { 0.0f, 0.0f }, o[8][4], s[8][4];
    uint32_t qa[4][4];
    kc_tile_f4_<false>(Qs, [&](int r) -> const float * {
        int i = i0 + r;
        return i < a.Sq ? a.q + b * a.q_bs + (long)i * a.q_ld + (long)h * 64 : (const float *)NULL; });
    __syncthreads();
    #pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const __nv_bfloat16 *q = Qs + rw * M_LDH + kk * 16 + 2 * c;
        qa[kk][0] = kc_ld32_(q);
        qa[kk][1] = kc_ld32_(q + 8 * M_LDH);
        qa[kk][2] = kc_ld32_(q + 8);
        qa[kk][3] = kc_ld32_(q + 8 * M_LDH + 8);
    }
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    for (int j0 = 0; j0 < nkeys; j0 += 64) {
        __syncthreads();                                      /* every warp is done with the last tile */
        kc_tile_f4_<false>(Ks, [&](int r) { return kc_kv_row_(a, b, h, j0 + r, 0); });
        kc_tile_f4_<true>(Vt, [&](int r) { return kc_kv_row_(a, b, h, j0 + r, 1); });
        __syncthreads();
        kc_mma_tile_(a, s, o, m, l, qa, Ks, Vt, j0, g, c, biased);
    }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) kc_store_row_<true>(a, o, hf, l[hf], i0 + rw + 8 * hf, b, h, c);
}


/* ---------------- v4: bf16 pre-pass + mma.sync, 128-row blocks, head_dim 64 ---------------- */

/* The pre-pass packs q, the joint key list and the joint value list of every (b, h) into bf16
 * scratch, zero-padded, so the kernel's tile loads are plain 16-byte copies:
 *   Qb  (B, H, Sqp, 64)              Sqp = Sq rounded up to 128
 *   Kb  (B, H, Skp, 64)              Skp = Sk + Sk2 rounded up to 64 (main keys, then extra keys)
 *   Vtb (B, H, Skp/64, 64 d, 64 key) each 64-key tile of V stored transposed (what PV's B operand reads)
 * Same numerics as v3 (q/k/v rounded to bf16 once); a quarter of v3's tile bytes per query row
 * (bf16, and 128 instead of 64 query rows share each K/V tile). */
typedef struct { __nv_bfloat16 *q, *k, *vt; int Sqp, Skp; } kc_pack_t;

__global__ void kc_pack_q_k(kc_attn_p a, kc_pack_t pk, int H, long n)
{
    KC_FOR(e, n) {                                     /* e = ((b·H + h)·Sqp + i)·64 + d */
        int d = (int)(e & 63), i = (int)(e >> 6) % pk.Sqp;
        long bh = (e >> 6) / pk.Sqp;
        int h = (int)(bh % H), b = (int)(bh / H);
        float v = i < a.Sq ? a.q[b * a.q_bs + (long)i * a.q_ld + (long)h * 64 + d] : 0.0f;
        pk.q[e] = __float2bfloat16_rn(v);
    }
}

/* One 64-key tile of (b, h) per block: K rows copied, V transposed through shared memory so that
 * both the fp32 reads and the bf16 writes are coalesced. */
__global__ void __launch_bounds__(256) kc_pack_kv_k(kc_attn_p a, kc_pack_t pk, int H)
{
    __shared__ float Vs[64][65];
    int tile = blockIdx.x, h = blockIdx.y, b = blockIdx.z, j0 = tile * 64;
    long bh = (long)b * H + h;
    #pragma unroll 4
    for (int i = 0; i < 16; i++) {
        int e = threadIdx.x + i * 256, r = e >> 6, d = e & 63, j = j0 + r;
        const float *kr = kc_kv_row_(a, b, h, j, 0), *vr = kc_kv_row_(a, b, h, j, 1);
        pk.k[(bh * pk.Skp + j) * 64 + d] = __float2bfloat16_rn(kr ? kr[d] : 0.0f);
        Vs[r][d] = vr ? vr[d] : 0.0f;
    }
    __syncthreads();
    __nv_bfloat16 *vt = pk.vt + (bh * (pk.Skp / 64) + tile) * 64 * 64;
    #pragma unroll 4
    for (int i = 0; i < 16; i++) {
        int e = threadIdx.x + i * 256, d = e >> 6, r = e & 63;
        vt[d * 64 + r] = __float2bfloat16_rn(Vs[r][d]);
    }
}

/* 64 rows of 64 bf16 (contiguous, 8 KB) → smem rows of pitch M_LDH, 16-byte copies. */
static __device__ __forceinline__ void kc_copy_tile_(__nv_bfloat16 *dst, const __nv_bfloat16 *src)
{
    for (int e = threadIdx.x; e < 64 * 8; e += blockDim.x) {
        int r = e >> 3, c8 = (e & 7) * 8;
        *(uint4 *)(dst + r * M_LDH + c8) = *(const uint4 *)(src + r * 64 + c8);
    }
}

__global__ void __launch_bounds__(256) kc_attn_mma64b_k(kc_attn_p a, kc_pack_t pk, int H)
{
    __shared__ __align__(16) __nv_bfloat16 Ks[64 * M_LDH], Vt[64 * M_LDH];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, b = blockIdx.z, i0 = blockIdx.x * 128, nkeys = a.Sk + a.Sk2;
    int rw = warp * 16 + g;                                   /* this lane's rows: i0 + rw, + 8 */
    long bh = (long)b * H + h;
    bool biased[2] = { i0 + rw >= a.q0 && i0 + rw < a.q1, i0 + rw + 8 >= a.q0 && i0 + rw + 8 < a.q1 };
    float m[2] = { -INFINITY, -INFINITY }, l[2] = { 0.0f, 0.0f }, o[8][4], s[8][4];
    uint32_t qa[4][4];
    const __nv_bfloat16 *qrow = pk.q + (bh * pk.Sqp + i0 + rw) * 64 + 2 * c;
    #pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        qa[kk][0] = kc_ld32_(qrow + kk * 16);
        qa[kk][1] = kc_ld32_(qrow + 8 * 64 + kk * 16);
        qa[kk][2] = kc_ld32_(qrow + kk * 16 + 8);
        qa[kk][3] = kc_ld32_(qrow + 8 * 64 + kk * 16 + 8);
    }
    #pragma unroll
    for (int nt = 0; nt < 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    for (int j0 = 0; j0 < nkeys; j0 += 64) {
        __syncthreads();                                      /* every warp is done with the last tile */
        kc_copy_tile_(Ks, pk.k + (bh * pk.Skp + j0) * 64);
        kc_copy_tile_(Vt, pk.vt + (bh * (pk.Skp / 64) + j0 / 64) * 64 * 64);
        __syncthreads();
        kc_mma_tile_(a, s, o, m, l, qa, Ks, Vt, j0, g, c, biased);
    }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) kc_store_row_<false>(a, o, hf, l[hf], i0 + rw + 8 * hf, b, h, c);
}

/* Packs q / K / Vᵀ to bf16 scratch for v4 and v5; rows of q padded to `qpad`. */
/* qpad = 0: q is not packed (v5 reads its Q fragments from the fp32 rows itself). */
static int kc_attn_pack_(kc_ctx_t *c, const k_attn_t *a, const kc_attn_p &p, int qpad, kc_pack_t *pk)
{
    const char *op = "attention";
    pk->Sqp = qpad ? (a->Sq + qpad - 1) / qpad * qpad : 0;
    pk->Skp = (p.Sk + p.Sk2 + 63) / 64 * 64;
    if (pk->Skp == 0) pk->Skp = 64;
    size_t nq = (size_t)a->B * a->H * pk->Sqp * 64, nk = (size_t)a->B * a->H * pk->Skp * 64;
    __nv_bfloat16 *base = (__nv_bfloat16 *)kc_scratch_(c, 2, 2 * (nq + 2 * nk), op);
    if (!base) return -1;
    pk->q = base;
    pk->k = base + nq;
    pk->vt = base + nq + nk;
    if (nq) {
        kc_pack_q_k<<<kc_blocks_((long)nq, 256), 256, 0, c->stream>>>(p, *pk, a->H, (long)nq);
        KC_LAUNCHED(op);
    }
    kc_pack_kv_k<<<dim3((unsigned)(pk->Skp / 64), (unsigned)a->H, (unsigned)a->B), 256, 0, c->stream>>>(p, *pk, a->H);
    KC_LAUNCHED(op);
    return 0;
}

static int kc_attn_v4_(kc_ctx_t *c, const k_attn_t *a, const kc_attn_p &p)
{
    const char *op = "attention";
    kc_pack_t pk;
    if (kc_attn_pack_(c, a, p, 128, &pk)) return -1;
    dim3 grid((unsigned)(pk.Sqp / 128), (unsigned)a->H, (unsigned)a->B);
    kc_attn_mma64b_k<<<grid, 256, 0, c->stream>>>(p, pk, a->H);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- v5: FA2 tiling — 32 rows per warp, ldmatrix, cp.async double buffer ---------------- */

/* Same packed bf16 operands as v4 (kc_pack_q_k / kc_pack_kv_k). A block = 4 warps × 32 query rows
 * (two m16 tiles per warp, so every K/V fragment read from shared memory feeds two mma), 64-key
 * tiles of K and Vᵀ streamed through a two-stage cp.async ring (the next tile loads while this one
 * is multiplied), B fragments read with ldmatrix.x4 (one instruction = the fragments of two
 * k-steps), logits scaled inside the exp2 (one FFMA + one MUFU per element), and the per-element
 * key-range and text→alpha checks only on the tiles that need them (the last key tile, warps that
 * hold a biased row). 36 KB static shared memory, two blocks per SM. */
#define F_ROWS 128

/* The same mma without `volatile`: it has outputs, so the compiler may schedule independent mma
 * (different accumulators) between dependent ones instead of issuing them in source order. */
static __device__ __forceinline__ void kc_mma_nv_(float *d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                                  uint32_t b0, uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ float kc_ex2_(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

static __device__ __forceinline__ void kc_cp16_(void *smem, const void *gmem)
{
    unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(sa), "l"(gmem));
}
static __device__ __forceinline__ void kc_cp_commit_(void) { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> static __device__ __forceinline__ void kc_cp_wait_(void)
{
    asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
}

/* ldmatrix.x4: lane L gives the address of row L % 8 of matrix L / 8; r[i] = this lane's pair of matrix i. */
static __device__ __forceinline__ void kc_ldm4_(uint32_t (&r)[4], const __nv_bfloat16 *p)
{
    unsigned sa = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(sa));
}

/* One 64-row × 64 bf16 tile (8 KB, contiguous) → smem of pitch M_LDH through cp.async (128 threads). */
static __device__ __forceinline__ void kc_cp_tile_(__nv_bfloat16 *dst, const __nv_bfloat16 *src)
{
    #pragma unroll
    for (int i = 0; i < 4; i++) {
        int e = threadIdx.x + i * 128, r = e >> 3, c8 = (e & 7) * 8;
        kc_cp16_(dst + r * M_LDH + c8, src + r * 64 + c8);
    }
}

/* D (32 rows × 64 of this warp) += A · B for one 64-wide tile, A in registers (two m16 tiles × four
 * k16 steps of fragments), B from a shared-memory tile of pitch M_LDH read with ldmatrix.x4: matrix i
 * of lane L's address = rows nt·8 + L%8, columns kp·32 + (i & 1)·8 + (i >> 1)·16. Q·Kᵀ: A = Q, B = K
 * (rows = keys); P·V: A = P, B = Vᵀ (rows = d). */
static __device__ __forceinline__ void kc_fa_mma_(float (&d)[2][8][4], const uint32_t (&a)[2][4][4],
                                                  const __nv_bfloat16 *T, int lane)
{
    const __nv_bfloat16 *base = T + (lane & 7) * M_LDH + ((lane >> 3) & 1) * 8 + (lane >> 4) * 16;
    #pragma unroll
    for (int kp = 0; kp < 2; kp++)                             /* k-steps 2kp and 2kp+1 */
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            uint32_t b[4];
            kc_ldm4_(b, base + nt * 8 * M_LDH + kp * 32);
            #pragma unroll
            for (int h = 0; h < 2; h++)
                #pragma unroll
                for (int mt = 0; mt < 2; mt++)
                    kc_mma_nv_(d[mt][nt], a[mt][2 * kp + h][0], a[mt][2 * kp + h][1], a[mt][2 * kp + h][2],
                               a[mt][2 * kp + h][3], b[2 * h], b[2 * h + 1]);
        }
}

/* S = Q·Kᵀ for one key tile. */
static __device__ __forceinline__ void kc_fa_qk_(float (&s)[2][8][4], const uint32_t (&qa)[2][4][4],
                                                 const __nv_bfloat16 *Ks, int lane)
{
    #pragma unroll
    for (int mt = 0; mt < 2; mt++)
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
    kc_fa_mma_(s, qa, Ks, lane);
}

/* v5's online softmax for one 16-row m-tile of a warp: the row reductions as trees (max and sum over
 * the 16 values a lane holds per row in depth 4 instead of a 16-long dependent chain), lazy
 * rescaling, and the bf16 P fragments written to pa. `check`: apply the key-range end and the
 * text→alpha bias per element (v4's rules). */
static __device__ __forceinline__ void kc_fa_softmax_(const kc_attn_p &a, float (&s)[8][4], float (&o)[8][4],
                                                      float (&m)[2], float (&l)[2], int j0, int c, bool check,
                                                      const bool (&biased)[2], uint32_t (&pa)[4][4])
{
    const float sc = a.scale_log2;                              /* > 0 on this path (see the launcher) */
    if (check) {
        #pragma unroll
        for (int nt = 0; nt < 8; nt++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                int j = j0 + nt * 8 + 2 * c + (e & 1);
                float v = s[nt][e] * sc;
                if (j >= a.Sk + a.Sk2) v = -INFINITY;
                else if (biased[e >> 1] && kc_key_biased_(a, j)) v += a.bias_log2;
                s[nt][e] = v;                                   /* checked tiles keep scaled logits */
            }
    }
    float mx[2], al[2], ms[2];
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float t[8];
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) t[nt] = fmaxf(s[nt][2 * hf], s[nt][2 * hf + 1]);
        #pragma unroll
        for (int w = 4; w >= 1; w >>= 1)
            #pragma unroll
            for (int i = 0; i < w; i++) t[i] = fmaxf(t[i], t[i + w]);
        mx[hf] = fmaxf(t[0], __shfl_xor_sync(0xffffffffu, t[0], 1));
    }
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float x = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 2));
        float mn = fmaxf(m[hf], check ? x : x * sc);            /* raw max: scale > 0 keeps the order */
        /* Lazy rescale: keep the running max unless the new one exceeds it by more than 8 (log2
         * units). Exact: l and O use the same stale max, and p ≤ 2^8 stays well inside fp32/bf16. */
        if (!(mn - m[hf] > 8.0f)) mn = m[hf];
        al[hf] = mn == -INFINITY || mn == m[hf] ? 1.0f : kc_ex2_(m[hf] - mn);
        ms[hf] = mn == -INFINITY ? 0.0f : mn;                   /* all masked so far: p = 0 below */
        m[hf] = mn;
    }
    const float k = check ? 1.0f : sc;
    #pragma unroll
    for (int nt = 0; nt < 8; nt++)
        #pragma unroll
        for (int e = 0; e < 4; e++) s[nt][e] = kc_ex2_(fmaf(s[nt][e], k, -ms[e >> 1]));
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float t[8];
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) t[nt] = s[nt][2 * hf] + s[nt][2 * hf + 1];
        #pragma unroll
        for (int w = 4; w >= 1; w >>= 1)
            #pragma unroll
            for (int i = 0; i < w; i++) t[i] += t[i + w];
        l[hf] = l[hf] * al[hf] + t[0];
    }
    #pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        pa[kk][0] = kc_pack_(s[2 * kk][0], s[2 * kk][1]);
        pa[kk][1] = kc_pack_(s[2 * kk][2], s[2 * kk][3]);
        pa[kk][2] = kc_pack_(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[kk][3] = kc_pack_(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
    if (__any_sync(0xffffffffu, al[0] != 1.0f || al[1] != 1.0f))   /* rescale O only when a max moved */
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            o[nt][0] *= al[0];
            o[nt][1] *= al[0];
            o[nt][2] *= al[1];
            o[nt][3] *= al[1];
        }
}


__global__ void __launch_bounds__(128, 2) kc_attn_fa2_k(kc_attn_p a, kc_pack_t pk, int H)
{
    __shared__ __align__(128) __nv_bfloat16 Ks[2][64 * M_LDH], Vt[2][64 * M_LDH];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, b = blockIdx.z, i0 = blockIdx.x * F_ROWS, nkeys = a.Sk + a.Sk2;
    int ntiles = (nkeys + 63) / 64;
    long bh = (long)b * H + h;
    const __nv_bfloat16 *kg = pk.k + bh * pk.Skp * 64, *vg = pk.vt + bh * (pk.Skp / 64) * 64 * 64;
    if (ntiles > 0) { kc_cp_tile_(Ks[0], kg); kc_cp_tile_(Vt[0], vg); }
    kc_cp_commit_();
    bool biased[2][2], wcheck = false;
    float m[2][2], l[2][2], o[2][8][4], s[2][8][4];
    uint32_t qa[2][4][4];
    #pragma unroll
    for (int mt = 0; mt < 2; mt++) {
        int r = i0 + warp * 32 + mt * 16 + g;                   /* this lane's rows r, r + 8 */
        #pragma unroll
        for (int hf = 0; hf < 2; hf++) {                        /* Q fragments straight from the fp32 rows */
            const float *qrow = r + 8 * hf < a.Sq ? a.q + b * a.q_bs + (long)(r + 8 * hf) * a.q_ld + (long)h * 64 + 2 * c
                                                  : NULL;
            #pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                qa[mt][kk][hf] = qrow ? kc_pack_(qrow[kk * 16], qrow[kk * 16 + 1]) : 0u;
                qa[mt][kk][2 + hf] = qrow ? kc_pack_(qrow[kk * 16 + 8], qrow[kk * 16 + 9]) : 0u;
            }
        }
        #pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            biased[mt][hf] = r + 8 * hf >= a.q0 && r + 8 * hf < a.q1;
            m[mt][hf] = -INFINITY;
            l[mt][hf] = 0.0f;
        }
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) o[mt][nt][0] = o[mt][nt][1] = o[mt][nt][2] = o[mt][nt][3] = 0.0f;
    }
    int wr0 = i0 + warp * 32;                                   /* does any row of this warp carry the rule? */
    wcheck = wr0 < a.q1 && wr0 + 32 > a.q0;
    for (int t = 0; t < ntiles; t++) {
        int buf = t & 1;
        if (t + 1 < ntiles) {                                   /* prefetch the next tile into the other stage */
            kc_cp_tile_(Ks[buf ^ 1], kg + (long)(t + 1) * 64 * 64);
            kc_cp_tile_(Vt[buf ^ 1], vg + (long)(t + 1) * 64 * 64);
            kc_cp_commit_();
            kc_cp_wait_<1>();
        } else {
            kc_cp_wait_<0>();
        }
        __syncthreads();
        kc_fa_qk_(s, qa, Ks[buf], lane);
        bool check = wcheck || t * 64 + 64 > nkeys;
        uint32_t pa[2][4][4];
        #pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            if (check) kc_fa_softmax_(a, s[mt], o[mt], m[mt], l[mt], t * 64, c, true, biased[mt], pa[mt]);
            else kc_fa_softmax_(a, s[mt], o[mt], m[mt], l[mt], t * 64, c, false, biased[mt], pa[mt]);
        }
        kc_fa_mma_(o, pa, Vt[buf], lane);                      /* O += P·V */
        __syncthreads();                                        /* stage buf is refilled next iteration */
    }
    #pragma unroll
    for (int mt = 0; mt < 2; mt++)
        #pragma unroll
        for (int hf = 0; hf < 2; hf++) kc_store_row_<false>(a, o[mt], hf, l[mt][hf], i0 + warp * 32 + mt * 16 + g + 8 * hf, b, h, c);
}

/* v3 reads rows as float4 and writes float2: every base pointer 16-byte aligned, strides % 4. */
static bool kc_mma_aligned_(const k_attn_t *a)
{
    const void *p[] = { a->q, a->k, a->v, a->o, a->k2, a->v2 };
    long st[] = { a->q_ld, a->k_ld, a->v_ld, a->o_ld, a->k2_ld, a->v2_ld, a->q_bs, a->k_bs, a->v_bs, a->o_bs,
                  a->k2_bs, a->v2_bs };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) if ((uintptr_t)p[i] % 16) return false;
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) if (st[i] % 4) return false;
    return true;
}

static int kc_attn_v5_(kc_ctx_t *c, const k_attn_t *a, const kc_attn_p &p)
{
    const char *op = "attention";
    kc_pack_t pk;
    if (kc_attn_pack_(c, a, p, 0, &pk)) return -1;
    dim3 grid((unsigned)((a->Sq + F_ROWS - 1) / F_ROWS), (unsigned)a->H, (unsigned)a->B);
    kc_attn_fa2_k<<<grid, 128, 0, c->stream>>>(p, pk, a->H);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- launcher ---------------- */

static int kc_attn_check_(const char *op, const k_attn_t *a)
{
    if (k_attn_check_(op, a)) return -1;   /* the k_attn_t contract, same as the CPU op */
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
    if (kind < K_CUDA_ATTN_AUTO || kind > K_CUDA_ATTN_FA2) return k_fail_(op, "unknown engine %d", (int)kind);
    if (kind == K_CUDA_ATTN_AUTO) kind = a->head_dim == 64 ? K_CUDA_ATTN_FA2 : K_CUDA_ATTN_SIMT;
    if (kind == K_CUDA_ATTN_WMMA64 && a->head_dim != 64) return k_fail_(op, "WMMA64 needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_SIMT && a->head_dim > KC_HD_MAX) return k_fail_(op, "head_dim %d > %d", a->head_dim, KC_HD_MAX);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_attn_p p = kc_attn_params_(a);
    if (kind == K_CUDA_ATTN_MMA64B && a->head_dim != 64) return k_fail_(op, "MMA64B needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_MMA64B) return kc_attn_v4_(c, a, p);
    if (kind == K_CUDA_ATTN_FA2 && a->head_dim != 64) return k_fail_(op, "FA2 needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_FA2 && !(a->scale > 0.0f)) return kc_attn_v4_(c, a, p);   /* raw-max trick needs scale > 0 */
    if (kind == K_CUDA_ATTN_FA2) return kc_attn_v5_(c, a, p);
    if (kind == K_CUDA_ATTN_MMA64 && (a->head_dim != 64 || !kc_mma_aligned_(a)))
        return k_fail_(op, "MMA64 needs head_dim 64 (got %d), 16-byte aligned buffers and strides %% 4", a->head_dim);
    if (kind == K_CUDA_ATTN_MMA64) {
        dim3 grid((unsigned)((a->Sq + 63) / 64), (unsigned)a->H, (unsigned)a->B);
        kc_attn_mma64_k<<<grid, 128, 0, c->stream>>>(p);
    } else if (kind == K_CUDA_ATTN_WMMA64) {
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
