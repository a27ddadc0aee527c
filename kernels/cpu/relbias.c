/* relbias.c — attention with an additive per-head relative-position bias (T5 self attention), the
 * specification of k_cuda_attention_relbias (interface: kernels/k.h). Logits are materialised per
 * (batch, head): L×L floats per thread, fine for T5's L = 226; this is not a long-sequence kernel
 * (the DiT's fused attention is k_cpu_attention). Work items are (b, h) pairs, each computed by
 * one thread in a fixed order, so results do not depend on the thread count.
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

/* One head: S = scale·q·kᵀ + bias(j − i), softmax over keys, o = S·v. q, k, v, o point at the head's
 * first column of (L, ·) rows with stride ld; pbh (2L − 1) is the head's bias row. */
static void relbias_head_(float *o, const float *q, const float *k, const float *v, int ld, int L, int dk,
                          float scale, const float *pbh, float *S /* (L, L) */)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dk, scale, q, ld, k, ld, 0.0f, S, L);
    for (int i = 0; i < L; i++) {
        float *row = S + (size_t)i * L, mx = -INFINITY, sum = 0;
        const float *b = pbh + (L - 1 - i);          /* b[j] = bias(j − i) */
        for (int j = 0; j < L; j++) {
            row[j] += b[j];
            mx = row[j] > mx ? row[j] : mx;
        }
        for (int j = 0; j < L; j++) sum += (row[j] = expf(row[j] - mx));
        for (int j = 0; j < L; j++) row[j] /= sum;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dk, L, 1.0f, S, L, v, ld, 0.0f, o, ld);
}

int k_cpu_attention_relbias(float *o, const float *q, const float *k, const float *v, int ld, long bs,
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
    k_blas_init_();
    int nt = k_threads();
    float *S = malloc(sizeof(float) * (size_t)nt * L * L);
    if (!S) return k_fail_(op, "out of memory (%d threads x %d x %d logits)", nt, L, L);
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        long off = (long)(bh / H) * bs + (long)(bh % H) * head_dim;
        relbias_head_(o + off, q + off, k + off, v + off, ld, L, head_dim, scale,
                      pb + (size_t)(bh % H) * (2 * L - 1), S + (size_t)omp_get_thread_num() * L * L);
    }
    free(S);
    return 0;
}
