/* patch.c — patch embedding and unpatchify of CogVideoX (MODEL.md §1.4, §1.7).
 * Patch embed gathers each (pt × p × p) patch of the (B, F, C, H, W) latents into one row, feature
 * index ((c·pt + t)·p + y)·p + x (= the flattening of a Conv2d weight (D, C, p, p) when pt = 1), and
 * multiplies by the weight with k_cpu_gemm. Unpatchify scatters the same index back.
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <stdlib.h>

typedef struct {
    int F, C, H, W, p, pt;
    int Tq, Hq, Wq;     /* tokens per axis: F/pt, H/p, W/p */
    int K;              /* features per patch: C·pt·p·p */
} patch_geom_t;

static int geom_(const char *op, patch_geom_t *g, int B, int F, int C, int H, int W, int p, int pt)
{
    if (B < 0 || F < 1 || C < 1 || H < 1 || W < 1 || p < 1 || pt < 1 || F % pt || H % p || W % p)
        return k_fail_(op, "bad geometry B %d F %d C %d H %d W %d p %d pt %d", B, F, C, H, W, p, pt);
    *g = (patch_geom_t){ F, C, H, W, p, pt, F / pt, H / p, W / p, C * pt * p * p };
    return 0;
}

/* Offset in the (F, C, H, W) latent of feature k of token n, and its inverse walk. */
static long latent_index_(const patch_geom_t *g, long n, int k)
{
    long tq = n / ((long)g->Hq * g->Wq), hq = n / g->Wq % g->Hq, wq = n % g->Wq;
    int x = k % g->p, y = k / g->p % g->p, t = k / (g->p * g->p) % g->pt, c = k / (g->p * g->p * g->pt);
    long f = tq * g->pt + t, h = hq * g->p + y, w = wq * g->p + x;
    return ((f * g->C + c) * g->H + h) * g->W + w;
}

int k_cpu_patch_embed(float *out, int ld, long bs, const float *x, int B, int F, int C, int H,
                      int W, int p, int pt, const float *w, const float *b, int D)
{
    patch_geom_t g;
    float *cols = NULL;
    int rc = -1;
    if (geom_("patch_embed", &g, B, F, C, H, W, p, pt)) return -1;
    long ntok = (long)g.Tq * g.Hq * g.Wq, per_b = (long)F * C * H * W;
    if (ntok > 0x7fffffff) return k_fail_("patch_embed", "%ld tokens", ntok);
    if (k_chk_bsd_("patch_embed", "out", out, B, ntok, D, ld, bs) ||
        k_chk_mat_("patch_embed", "w", w, D, g.K, g.K))
        return -1;
    if (B > 0 && !x) return k_fail_("patch_embed", "x: NULL buffer");
    if (!(cols = malloc(sizeof(float) * (size_t)ntok * g.K + 4))) return k_fail_("patch_embed", "out of memory");
    for (int bi = 0; bi < B; bi++) {
        const float *xb = x + bi * per_b;   /* (F, C, H, W) */
        for (long n = 0; n < ntok; n++)
            for (int k = 0; k < g.K; k++) cols[n * g.K + k] = xb[latent_index_(&g, n, k)];
        if (k_cpu_gemm(out + bi * bs, ld, cols, g.K, w, g.K, b, (int)ntok, D, g.K, 1.0f, 0.0f, K_ACT_NONE))
            goto out;
    }
    rc = 0;
out:
    free(cols);
    return rc;
}

int k_cpu_unpatchify(float *out, const float *y, int ld, long bs, int B, int F, int C, int H,
                     int W, int p, int pt)
{
    patch_geom_t g;
    if (geom_("unpatchify", &g, B, F, C, H, W, p, pt)) return -1;
    long ntok = (long)g.Tq * g.Hq * g.Wq, per_b = (long)F * C * H * W;
    if (k_chk_bsd_("unpatchify", "y", y, B, ntok, g.K, ld, bs) || (B > 0 && !out)) return -1;
    int nt = (long)B * per_b < 1L << 16 ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < (long)B * ntok; r++) {
        long bi = r / ntok, n = r % ntok;
        const float *yr = y + bi * bs + n * ld;
        for (int k = 0; k < g.K; k++) out[bi * per_b + latent_index_(&g, n, k)] = yr[k];
    }
    return 0;
}
