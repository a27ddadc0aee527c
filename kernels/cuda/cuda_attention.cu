/* cuda_attention.cu — fused attention of the CUDA backend (k_attn_t contract of k.h): streaming
 * (online) softmax, the text→alpha rule applied from index ranges (no mask tensor), keys running over
 * the main list and then the extra list, fully masked rows give 0.
 * Versions (kernel lab numbering; pick with k_cuda_attention_with):
 *   v1 SIMT    one warp per query row, fp32 throughout, any head_dim <= 256. The readable version.
 *   v2 WMMA64  head_dim 64: 64 query rows per block (4 warps × 16), 64-key tiles; q/k/v rounded to
 *              bf16 in shared memory, QKᵀ and PV on the tensor cores (WMMA 16×16×16, fp32
 *              accumulate), logits/softmax/output in fp32; per-row max and sum in registers of the
 *              two lanes that own the row. ~70 KB of dynamic shared memory per block.
 *   v3 MMA64   head_dim 64, FA2 register layout: mma.sync m16n8k16 bf16 (PTX), Q fragments, S and O
 *              accumulators in registers, P reused from the S accumulators as the A operand, K
 *              row-major and V transposed in shared memory (conflict-free 32-bit fragment loads),
 *              float4 tile loads; needs 16-byte aligned buffers and strides % 4. 27 KB smem.
 *   v4 MMA64B  head_dim 64: a pre-pass packs q, the joint K and the tile-transposed V in bf16 (scratch
 *              2·(Sq + 2·(Sk+Sk2))·64 bytes per (b, h)); the kernel is v3's math on 128-row blocks
 *              (8 warps) with 16-byte tile copies: a quarter of v3's load bytes. Any strides.
 * The table's attention (AUTO) uses v2 for head_dim 64 and v1 otherwise; v3 is to be promoted once
 * test_cuda_ops has passed it on a GPU and bench_cuda_step has timed it against v2. NOT RUN ON A GPU YET: the
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
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float lt = l[hf] + __shfl_xor_sync(0xffffffffu, l[hf], 1);
        lt += __shfl_xor_sync(0xffffffffu, lt, 2);
        int i = i0 + rw + 8 * hf;
        float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        if (i >= a.Sq) continue;
        float *orow = a.o + b * a.o_bs + (long)i * a.o_ld + (long)h * 64 + 2 * c;
        #pragma unroll
        for (int nt = 0; nt < 8; nt++)
            *(float2 *)(orow + nt * 8) = make_float2(o[nt][2 * hf] * inv, o[nt][2 * hf + 1] * inv);
    }
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

__global__ void kc_pack_kv_k(kc_attn_p a, kc_pack_t pk, int H, long n)
{
    KC_FOR(e, n) {                                     /* e = ((b·H + h)·Skp + j)·64 + d */
        int d = (int)(e & 63), j = (int)(e >> 6) % pk.Skp;
        long bh = (e >> 6) / pk.Skp;
        int h = (int)(bh % H), b = (int)(bh / H);
        const float *kr = kc_kv_row_(a, b, h, j, 0), *vr = kc_kv_row_(a, b, h, j, 1);
        pk.k[e] = __float2bfloat16_rn(kr ? kr[d] : 0.0f);
        long t = bh * (pk.Skp / 64) + j / 64;
        pk.vt[(t * 64 + d) * 64 + (j & 63)] = __float2bfloat16_rn(vr ? vr[d] : 0.0f);
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
    #pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float lt = l[hf] + __shfl_xor_sync(0xffffffffu, l[hf], 1);
        lt += __shfl_xor_sync(0xffffffffu, lt, 2);
        int i = i0 + rw + 8 * hf;
        float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        if (i >= a.Sq) continue;
        float *orow = a.o + b * a.o_bs + (long)i * a.o_ld + (long)h * 64 + 2 * c;
        #pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            orow[nt * 8] = o[nt][2 * hf] * inv;               /* scalar stores: any o stride */
            orow[nt * 8 + 1] = o[nt][2 * hf + 1] * inv;
        }
    }
}

static int kc_attn_v4_(kc_ctx_t *c, const k_attn_t *a, const kc_attn_p &p)
{
    const char *op = "attention";
    kc_pack_t pk;
    pk.Sqp = (a->Sq + 127) / 128 * 128;
    pk.Skp = (p.Sk + p.Sk2 + 63) / 64 * 64;
    if (pk.Skp == 0) pk.Skp = 64;
    size_t nq = (size_t)a->B * a->H * pk.Sqp * 64, nk = (size_t)a->B * a->H * pk.Skp * 64;
    __nv_bfloat16 *base = (__nv_bfloat16 *)kc_scratch_(c, 2, 2 * (nq + 2 * nk), op);
    if (!base) return -1;
    pk.q = base;
    pk.k = base + nq;
    pk.vt = base + nq + nk;
    kc_pack_q_k<<<kc_blocks_((long)nq, 256), 256, 0, c->stream>>>(p, pk, a->H, (long)nq);
    KC_LAUNCHED(op);
    kc_pack_kv_k<<<kc_blocks_((long)nk, 256), 256, 0, c->stream>>>(p, pk, a->H, (long)nk);
    KC_LAUNCHED(op);
    dim3 grid((unsigned)(pk.Sqp / 128), (unsigned)a->H, (unsigned)a->B);
    kc_attn_mma64b_k<<<grid, 256, 0, c->stream>>>(p, pk, a->H);
    KC_LAUNCHED(op);
    return 0;
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
    if (kind < K_CUDA_ATTN_AUTO || kind > K_CUDA_ATTN_MMA64B) return k_fail_(op, "unknown engine %d", (int)kind);
    if (kind == K_CUDA_ATTN_AUTO) kind = a->head_dim == 64 ? K_CUDA_ATTN_WMMA64 : K_CUDA_ATTN_SIMT;
    if (kind == K_CUDA_ATTN_WMMA64 && a->head_dim != 64) return k_fail_(op, "WMMA64 needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_SIMT && a->head_dim > KC_HD_MAX) return k_fail_(op, "head_dim %d > %d", a->head_dim, KC_HD_MAX);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_attn_p p = kc_attn_params_(a);
    if (kind == K_CUDA_ATTN_MMA64B && a->head_dim != 64) return k_fail_(op, "MMA64B needs head_dim 64, not %d", a->head_dim);
    if (kind == K_CUDA_ATTN_MMA64B) return kc_attn_v4_(c, a, p);
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
