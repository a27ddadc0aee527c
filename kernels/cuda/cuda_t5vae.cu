/* cuda_t5vae.cu — the small ops T5 and the VAE decoder add to the CUDA backend (k.h contract, device
 * pointers, fp32 in and out): elementwise add / mul, the stream-ordered device copy, and the T5
 * attention with a per-head relative-position bias. The conv family is in cuda_conv.cu.
 * attention_relbias v1: one warp per query row, the row's logits in shared memory (two-pass softmax
 * like the CPU op), fp32 throughout — T5's L = 226 makes this a small share of an encode.
 */
#include "kernels/cuda/kc_internal.cuh"

#include <math.h>

/* ---------------- elementwise ---------------- */

__global__ void kc_binary_k(float *y, const float *a, const float *b, long n, int mul)
{
    KC_FOR(i, n) y[i] = mul ? a[i] * b[i] : a[i] + b[i];
}

static int kc_binary_(const char *op, float *y, const float *a, const float *b, long n, int mul)
{
    if (n < 0) return k_fail_(op, "negative size %ld", n);
    if (n == 0) return 0;
    if (!y || !a || !b) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_binary_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(y, a, b, n, mul);
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_add(float *y, const float *a, const float *b, long n) { return kc_binary_("add", y, a, b, n, 0); }
extern "C" int k_cuda_mul(float *y, const float *a, const float *b, long n) { return kc_binary_("mul", y, a, b, n, 1); }

/* Queued on this thread's stream (ordered after the ops that produce src); does not wait. */
extern "C" int k_cuda_copy(void *dst, const void *src, size_t nbytes)
{
    const char *op = "copy";
    if (!nbytes) return 0;
    if (!dst || !src) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    KC_CHECK(op, cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, c->stream));
    return 0;
}

/* ---------------- attention with relative-position bias ---------------- */

#define KC_RB_WARPS 4
#define KC_RB_MAX_HD 256
#define KC_RB_SMEM_MAX (48 * 1024)

static __device__ __forceinline__ float kc_warp_max_(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* grid (ceil(L / KC_RB_WARPS), H, B), KC_RB_WARPS warps; shared: per warp q row (hd) + logits (L). */
__global__ void kc_relbias_k(float *o, const float *q, const float *k, const float *v, int ld, long bs, int L,
                             int hd, float scale, const float *pb)
{
    extern __shared__ float kc_rb_sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31, h = blockIdx.y;
    int i = blockIdx.x * KC_RB_WARPS + warp;
    if (i >= L) return;                       /* whole warps leave: only __syncwarp below */
    float *qs = kc_rb_sm + (size_t)warp * (hd + L), *p = qs + hd;
    long base = (long)blockIdx.z * bs + (long)h * hd;
    for (int d = lane; d < hd; d += 32) qs[d] = q[base + (long)i * ld + d];
    __syncwarp();
    const float *bias = pb + (long)h * (2 * L - 1) + (L - 1 - i);   /* bias[j] = pb(h, j − i) */
    float mx = -INFINITY;
    for (int j = lane; j < L; j += 32) {
        const float *kj = k + base + (long)j * ld;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qs[d] * kj[d];
        s = s * scale + bias[j];
        p[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = kc_warp_max_(mx);
    float sum = 0.0f;
    for (int j = lane; j < L; j += 32) { float e = expf(p[j] - mx); p[j] = e; sum += e; }
    sum = kc_warp_sum_(sum);
    __syncwarp();
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j < L; j++) acc += p[j] * v[base + (long)j * ld + d];
        o[base + (long)i * ld + d] = acc / sum;
    }
}

extern "C" int k_cuda_attention_relbias(float *o, const float *q, const float *k, const float *v, int ld, long bs,
                                        int B, int L, int H, int head_dim, float scale, const float *pb)
{
    const char *op = "attention_relbias";
    if (H < 1 || head_dim < 1 || L < 0 || L > (1 << 15)) return k_fail_(op, "bad sizes L=%d H=%d head_dim=%d", L, H, head_dim);
    long D = (long)H * head_dim;
    if (k_chk_bsd_(op, "q", q, B, L, D, ld, bs) || k_chk_bsd_(op, "k", k, B, L, D, ld, bs) ||
        k_chk_bsd_(op, "v", v, B, L, D, ld, bs) || k_chk_bsd_(op, "o", o, B, L, D, ld, bs))
        return -1;
    if (!pb && (long)B * L > 0) return k_fail_(op, "pb: NULL buffer");
    if (!isfinite(scale)) return k_fail_(op, "scale %g is not finite", (double)scale);
    if ((long)B * L == 0) return 0;
    size_t smem = sizeof(float) * KC_RB_WARPS * ((size_t)head_dim + L);
    if (head_dim > KC_RB_MAX_HD || smem > KC_RB_SMEM_MAX)
        return k_fail_(op, "L %d with head_dim %d needs %zu bytes of shared memory (max %d, head_dim <= %d)", L,
                       head_dim, smem, KC_RB_SMEM_MAX, KC_RB_MAX_HD);
    if (H > 65535 || B > 65535) return k_fail_(op, "H %d / B %d over the grid limits", H, B);
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    dim3 grid((unsigned)((L + KC_RB_WARPS - 1) / KC_RB_WARPS), (unsigned)H, (unsigned)B);
    kc_relbias_k<<<grid, 32 * KC_RB_WARPS, smem, c->stream>>>(o, q, k, v, ld, bs, L, head_dim, scale, pb);
    KC_LAUNCHED(op);
    return 0;
}
