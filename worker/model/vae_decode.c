/* vae_decode.c — the forward pass of the CogVideoX VAE decoder (MODEL.md §4.2–§4.5), channels-last
 * fp32 through the compute backend's conv-family ops (kernels/k.h table, specified in
 * kernels/k_conv.h): causal conv3d with the per-layer frame cache, SpatialNorm3D fused with the SiLU
 * that always follows it, ResnetBlock3D, Upsample3D with the odd-first-frame rule, temporal chunking
 * as diffusers' _decode, and tiled_decode's in-place blend. Interface: vae.h.
 *
 * Where things live: latents, tiles and output frames in host memory; each latent chunk is uploaded
 * to the backend, decoded there (activations and the causal caches in backend memory) and its frames
 * downloaded. On the CPU backend the "uploads" are copies and the ops are the k_cpu_ ones, so the
 * numerics are the CPU decoder's.
 *
 * Two exact shortcuts (same values as the reference's order of operations up to float rounding):
 *  - conv_y / conv_b of a spatial norm are pointwise, so they run on the latent chunk and the
 *    nearest interpolation is applied to their outputs (interp then 1x1 conv == 1x1 conv then interp);
 *  - nearest time-upsampling duplicates frames, so the upsampler's Conv2d runs once per source
 *    frame and its output is copied to the duplicates.
 */
#include "worker/model/vae.h"
#include "worker/model/vae_impl.h"

#include "kernels/k.h"
#include "kernels/k_conv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAE_SN_EPS 1e-6f   /* CogVideoXSpatialNorm3D builds its GroupNorm with eps=1e-6, whatever norm_eps says */
#define VAE_CHUNK 2        /* num_latent_frames_batch_size */

typedef struct { float *p; int T, H, W, C; } act_t;   /* (T, H, W, C), backend memory */

typedef struct {
    const float *z;        /* latent chunk (Tz, h, w, Cz), already / scaling_factor, backend memory */
    int Tz, h, w, Cz;
} zq_t;

typedef struct {           /* one decode through time (one batch item, one tile) */
    const k_backend_t *kb;
    float **cache;         /* per causal conv: its last kt-1 input frames (kt-1, H, W, Ci) */
    size_t *cache_n;
    int n;
    char *err;
    size_t errlen;
} run_t;

static int derr_(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int derr_(run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static float *balloc_(run_t *r, size_t n)
{
    float *p = r->kb->alloc(n * sizeof(float));
    if (!p) derr_(r, "vae: out of memory (%zu floats on %s%s%s)", n, r->kb->name, *k_error() ? ": " : "", k_error());
    return p;
}

static float *alloc_act_(run_t *r, act_t *a, int T, int H, int W, int C)
{
    a->T = T; a->H = H; a->W = W; a->C = C;
    return a->p = balloc_(r, (size_t)T * H * W * C);
}

static void free_act_(run_t *r, act_t *a) { if (a->p) r->kb->free(a->p); a->p = NULL; }

/* ---------------- causal conv with the frame cache ---------------- */

/* y (T, H, W, co) = CausalConv3d(x): time padding kt-1 frames on the left, copies of frame 0
 * in the first chunk, the layer's cached frames afterwards; the cache becomes the last kt-1
 * frames of the padded input (diffusers: conv_cache = inputs[:, :, -(kt-1):]). */
static int cconv_(run_t *r, const vae_conv_t *cv, const act_t *x, act_t *y)
{
    int pad = cv->kt - 1, T = x->T, rc = -1;
    size_t fs = (size_t)x->H * x->W * x->C;
    const float **fr = malloc((size_t)(T + pad) * sizeof *fr);   /* host array of frame pointers */
    if (!fr) return derr_(r, "vae: out of memory");
    if (!alloc_act_(r, y, T, x->H, x->W, cv->co)) { free(fr); return -1; }
    float **cache = cv->cache_id >= 0 ? &r->cache[cv->cache_id] : NULL;
    if (cache && *cache && r->cache_n[cv->cache_id] != (size_t)pad * fs) {
        derr_(r, "vae: conv cache shape changed between chunks"); goto out;
    }
    for (int i = 0; i < pad; i++) fr[i] = cache && *cache ? *cache + i * fs : x->p;
    for (int t = 0; t < T; t++) fr[pad + t] = x->p + t * fs;
    if (r->kb->conv3d(y->p, fr, T + pad, x->H, x->W, cv->ci, cv->co, cv->kt, cv->kh, cv->kw, cv->dw, cv->db)) {
        derr_(r, "vae: %s", k_error()); goto out;
    }
    if (cache && pad > 0) {
        if (!*cache && !(*cache = balloc_(r, (size_t)pad * fs))) goto out;
        r->cache_n[cv->cache_id] = (size_t)pad * fs;
        for (int i = 0; i < pad; i++)   /* in order: frame i+1.. of the old cache may move down to i */
            if (r->kb->copy(*cache + i * fs, fr[T + i], fs * sizeof(float))) { derr_(r, "vae: %s", k_error()); goto out; }
    }
    rc = 0;
out:
    free(fr);
    if (rc) free_act_(r, y);
    return rc;
}

/* y (T, H, W, co) = pointwise conv (kt = kh = kw = 1, no cache). */
static int conv1_(run_t *r, const vae_conv_t *cv, const float *x, int T, int H, int W, float *y)
{
    const float **fr = malloc((size_t)T * sizeof *fr);
    if (!fr) return derr_(r, "vae: out of memory");
    for (int t = 0; t < T; t++) fr[t] = x + (size_t)t * H * W * cv->ci;
    int rc = r->kb->conv3d(y, fr, T, H, W, cv->ci, cv->co, 1, 1, 1, cv->dw, cv->db);
    free(fr);
    return rc ? derr_(r, "vae: %s", k_error()) : 0;
}

/* ---------------- SpatialNorm3D + SiLU ---------------- */

/* y = SiLU(GroupNorm(f) · conv_y(zq') + conv_b(zq')), zq' = zq interpolated to f's (T, H, W)
 * (k_cpu_snorm_silu); y may equal f->p. */
static int snorm_silu_(run_t *r, const vae_snorm_t *n, int groups, const zq_t *zq, const act_t *f, float *y)
{
    int C = f->C, G = groups, rc = -1;
    size_t zn = (size_t)zq->Tz * zq->h * zq->w * C;
    float *zy = balloc_(r, zn), *zb = zy ? balloc_(r, zn) : NULL, *st = zb ? balloc_(r, 2 * (size_t)G) : NULL;
    if (!st) goto out;
    if (conv1_(r, &n->y, zq->z, zq->Tz, zq->h, zq->w, zy) || conv1_(r, &n->b, zq->z, zq->Tz, zq->h, zq->w, zb)) goto out;
    if (r->kb->groupnorm_stats(st, st + G, f->p, (long)f->T * f->H * f->W, C, G, VAE_SN_EPS) ||
        r->kb->snorm_silu(y, f->p, f->T, f->H, f->W, C, G, st, st + G, n->dgamma, n->dbeta, zy, zb, zq->Tz, zq->h,
                          zq->w)) {
        derr_(r, "vae: %s", k_error());
        goto out;
    }
    rc = 0;
out:
    if (zy) r->kb->free(zy);
    if (zb) r->kb->free(zb);
    if (st) r->kb->free(st);
    return rc;
}

/* ---------------- blocks ---------------- */

/* ResnetBlock3D: h = conv1(SiLU(SN1(x))); h = conv2(SiLU(SN2(h))); out = h + shortcut(x).
 * Consumes x (freed). */
static int resnet_(run_t *r, const vae_res_t *rb, int groups, const zq_t *zq, act_t *x, act_t *out)
{
    act_t h0 = { 0 }, h1 = { 0 };
    int rc = -1;
    out->p = NULL;
    if (!alloc_act_(r, &h0, x->T, x->H, x->W, x->C)) goto out;
    if (snorm_silu_(r, &rb->n1, groups, zq, x, h0.p) || cconv_(r, &rb->c1, &h0, &h1)) goto out;
    free_act_(r, &h0);
    if (snorm_silu_(r, &rb->n2, groups, zq, &h1, h1.p) || cconv_(r, &rb->c2, &h1, out)) goto out;
    free_act_(r, &h1);
    long n = (long)out->T * out->H * out->W * out->C;
    if (rb->sc.w) {   /* 1x1x1 shortcut into h1's space, then add */
        if (!alloc_act_(r, &h1, x->T, x->H, x->W, rb->co)) goto out;
        if (conv1_(r, &rb->sc, x->p, x->T, x->H, x->W, h1.p)) goto out;
    }
    if (r->kb->add(out->p, out->p, rb->sc.w ? h1.p : x->p, n)) { derr_(r, "vae: %s", k_error()); goto out; }
    rc = 0;
out:
    free_act_(r, &h0); free_act_(r, &h1); free_act_(r, x);
    if (rc) free_act_(r, out);
    return rc;
}

/* Source frame of output frame j of Upsample3D (nearest x2 in time with the odd-first-frame rule
 * when compress_time; frame count kept otherwise). */
static int up_src_(int compress, int T, int j) { return !compress || T == 1 ? j : T % 2 ? (j ? 1 + (j - 1) / 2 : 0) : j / 2; }
static int up_frames_(int compress, int T) { return !compress || T == 1 ? T : T % 2 ? 1 + 2 * (T - 1) : 2 * T; }

/* Upsample3D: nearest x2 (space; time by the rule above) then Conv2d 3x3 per frame. Consumes x. */
static int upsample_(run_t *r, const vae_up_t *u, act_t *x, act_t *out)
{
    act_t up = { 0 }, cv = { 0 };
    int rc = -1, T = x->T, T2 = up_frames_(u->compress_time, x->T), H2 = 2 * x->H, W2 = 2 * x->W;
    out->p = NULL;
    if (!alloc_act_(r, &up, x->T, H2, W2, x->C)) goto out;
    if (r->kb->resize_nearest(up.p, x->T, H2, W2, x->p, x->T, x->H, x->W, x->C)) { derr_(r, "vae: %s", k_error()); goto out; }
    free_act_(r, x);
    vae_conv_t c2 = u->up;
    c2.cache_id = -1;
    if (cconv_(r, &c2, &up, &cv)) goto out;   /* kt = 1: no time padding */
    free_act_(r, &up);
    if (T2 == T) { *out = cv; return 0; }   /* no time duplication: the conv output is the result */
    if (!alloc_act_(r, out, T2, H2, W2, cv.C)) goto out;
    size_t fs = (size_t)H2 * W2 * cv.C;
    for (int j = 0; j < T2; j++)
        if (r->kb->copy(out->p + j * fs, cv.p + (size_t)up_src_(u->compress_time, T, j) * fs, fs * sizeof(float))) {
            derr_(r, "vae: %s", k_error()); goto out;
        }
    rc = 0;
out:
    free_act_(r, &up); free_act_(r, &cv); free_act_(r, x);
    if (rc) free_act_(r, out);
    return rc;
}

/* ---------------- one chunk, one video ---------------- */

/* CogVideoXDecoder3D.forward on one latent chunk z (Tz, h, w, Cz) -> y (T, H, W, out_channels). */
static int decode_chunk_(run_t *r, const wrk_vae_t *v, const zq_t *zq, act_t *y)
{
    const wrk_vae_config_t *c = &v->cfg;
    act_t x = { (float *)zq->z, zq->Tz, zq->h, zq->w, zq->Cz }, h = { 0 }, t = { 0 };
    y->p = NULL;
    if (cconv_(r, &v->conv_in, &x, &h)) return -1;
    for (int i = 0; i < 2; i++) {
        if (resnet_(r, &v->mid[i], c->norm_num_groups, zq, &h, &t)) return -1;
        h = t;
    }
    for (int b = 0; b < v->n_up; b++) {
        const vae_up_t *u = &v->up[b];
        for (int k = 0; k < u->nres; k++) {
            if (resnet_(r, &u->res[k], c->norm_num_groups, zq, &h, &t)) return -1;
            h = t;
        }
        if (u->has_up) {
            if (upsample_(r, u, &h, &t)) return -1;
            h = t;
        }
    }
    if (snorm_silu_(r, &v->norm_out, c->norm_num_groups, zq, &h, h.p)) { free_act_(r, &h); return -1; }
    int rc = cconv_(r, &v->conv_out, &h, y);
    free_act_(r, &h);
    return rc;
}

static void run_free_(run_t *r)
{
    for (int i = 0; r->cache && i < r->n; i++) if (r->cache[i]) r->kb->free(r->cache[i]);
    free(r->cache); free(r->cache_n);
    r->cache = NULL; r->cache_n = NULL;
}

/* Chunk k of F latent frames: [start, end) as diffusers' _decode computes it. */
static void chunk_range_(int F, int k, int *start, int *end)
{
    int rem = F % VAE_CHUNK;
    *start = VAE_CHUNK * k + (k == 0 ? 0 : rem);
    *end = VAE_CHUNK * (k + 1) + rem;
    if (*end > F) *end = F;
}
static int chunk_count_(int F) { return F / VAE_CHUNK > 1 ? F / VAE_CHUNK : 1; }

/* Uploads chunk [s, e) of z (host), decodes it and downloads its frames to y (host). */
static int decode_one_chunk_(run_t *r, const wrk_vae_t *v, const float *z, int s, int e, int h, int w, float *y,
                             size_t *n_out)
{
    int Cz = v->cfg.latent_channels, rc = -1;
    size_t zn = (size_t)(e - s) * h * w * Cz;
    float *dz = balloc_(r, zn);
    act_t o = { 0 };
    if (!dz) return -1;
    if (r->kb->upload(dz, z + (size_t)s * h * w * Cz, zn * sizeof(float))) { derr_(r, "vae: upload: %s", k_error()); goto out; }
    zq_t zq = { dz, e - s, h, w, Cz };
    if (decode_chunk_(r, v, &zq, &o)) goto out;
    *n_out = (size_t)o.T * o.H * o.W * o.C;
    if (r->kb->download(y, o.p, *n_out * sizeof(float))) { derr_(r, "vae: download: %s", k_error()); goto out; }
    rc = 0;
out:
    free_act_(r, &o);
    r->kb->free(dz);
    return rc;
}

/* Decodes z (F, h, w, Cz) (host, already / scaling_factor) through time with its own caches into
 * y (T, 8h, 8w, out_channels) (host; y holds wrk_vae_frames(F) frames). */
static int decode_video_(const wrk_vae_t *v, const float *z, int F, int h, int w, float *y, char *err, size_t errlen)
{
    run_t r = { .kb = v->kb ? v->kb : k_backend_cpu(), .n = v->n_cache, .err = err, .errlen = errlen };
    int rc = -1;
    size_t t0 = 0;
    r.cache = calloc((size_t)v->n_cache + 1, sizeof *r.cache);
    r.cache_n = calloc((size_t)v->n_cache + 1, sizeof *r.cache_n);
    if (!r.cache || !r.cache_n) { derr_(&r, "vae: out of memory"); goto out; }
    for (int k = 0; k < chunk_count_(F); k++) {
        int s, e;
        size_t n = 0;
        chunk_range_(F, k, &s, &e);
        if (decode_one_chunk_(&r, v, z, s, e, h, w, y + t0, &n)) goto out;
        t0 += n;
    }
    rc = 0;
out:
    run_free_(&r);
    return rc;
}

/* ---------------- sizes ---------------- */

static int chunk_frames_(const wrk_vae_t *v, int Tz)
{
    int T = Tz;
    for (int b = 0; b < v->n_up; b++)
        if (v->up[b].has_up) T = up_frames_(v->up[b].compress_time, T);
    return T;
}

int wrk_vae_frames(const wrk_vae_t *v, int F)
{
    if (F < 1) return 0;
    int T = 0;
    for (int k = 0; k < chunk_count_(F); k++) {
        int s, e;
        chunk_range_(F, k, &s, &e);
        T += chunk_frames_(v, e - s);
    }
    return T;
}

typedef struct {
    int lat_h, lat_w;          /* tile size in latents */
    int ov_h, ov_w;            /* tile stride in latents */
    int blend_h, blend_w;      /* blend extents in pixels */
    int limit_h, limit_w;      /* crop per tile in pixels */
    int scale;                 /* pixels per latent */
} tiles_t;

/* The tiled_decode geometry, in the reference's arithmetic (Python float, truncated by int()). */
static int tiles_geom_(const wrk_vae_t *v, tiles_t *g)
{
    const wrk_vae_tiling_t *t = &v->tiling;
    g->scale = 1 << (v->cfg.n_blocks - 1);
    g->lat_h = (int)(t->tile_sample_min_height / (double)g->scale);
    g->lat_w = (int)(t->tile_sample_min_width / (double)g->scale);
    g->ov_h = (int)(g->lat_h * (1 - t->tile_overlap_factor_height));
    g->ov_w = (int)(g->lat_w * (1 - t->tile_overlap_factor_width));
    g->blend_h = (int)(t->tile_sample_min_height * t->tile_overlap_factor_height);
    g->blend_w = (int)(t->tile_sample_min_width * t->tile_overlap_factor_width);
    g->limit_h = t->tile_sample_min_height - g->blend_h;
    g->limit_w = t->tile_sample_min_width - g->blend_w;
    return g->lat_h >= 1 && g->lat_w >= 1 && g->ov_h >= 1 && g->ov_w >= 1 ? 0 : -1;
}

static int use_tiles_(const wrk_vae_t *v, int tiled, int h, int w, tiles_t *g)
{
    return tiled && tiles_geom_(v, g) == 0 && (w > g->lat_w || h > g->lat_h);
}

/* Output extent along one axis of n latents: Σ over tiles of min(tile pixels, crop). */
static int tiled_extent_(int n, int lat, int ov, int limit, int scale)
{
    int total = 0;
    for (int i = 0; i < n; i += ov) {
        int px = (i + lat < n ? lat : n - i) * scale;
        total += px < limit ? px : limit;
    }
    return total;
}

int wrk_vae_out_dims(const wrk_vae_t *v, int F, int h, int w, int tiled, int *T, int *H, int *W)
{
    tiles_t g;
    if (!v || F < 1 || h < 1 || w < 1) return -1;
    if (tiled && tiles_geom_(v, &g)) return -1;
    *T = wrk_vae_frames(v, F);
    int s = 1 << (v->cfg.n_blocks - 1);
    if (use_tiles_(v, tiled, h, w, &g)) {
        *H = tiled_extent_(h, g.lat_h, g.ov_h, g.limit_h, g.scale);
        *W = tiled_extent_(w, g.lat_w, g.ov_w, g.limit_w, g.scale);
    } else {
        *H = h * s; *W = w * s;
    }
    return 0;
}

/* ---------------- tiling ---------------- */

typedef struct { float *p; int T, H, W; } tile_t;   /* decoded tile (T, H, W, Co) */

/* b[:, y] = a[:, aH-E+y]·(1 - y/E) + b[:, y]·(y/E) for y < E = min(aH, bH, extent), in place
 * (diffusers blend_v; the weights are Python floats applied to fp32 tensors). */
static void blend_v_(const tile_t *a, tile_t *b, int extent, int C)
{
    int E = a->H < b->H ? a->H : b->H;
    if (extent < E) E = extent;
    size_t row = (size_t)b->W * C;   /* same column of tiles: same width */
    for (int t = 0; t < b->T; t++)
        for (int y = 0; y < E; y++) {
            float wa = (float)(1.0 - (double)y / E), wb = (float)((double)y / E);
            const float *pa = a->p + ((size_t)t * a->H + (a->H - E + y)) * row;
            float *pb = b->p + ((size_t)t * b->H + y) * row;
            for (size_t i = 0; i < row; i++) pb[i] = pa[i] * wa + pb[i] * wb;
        }
}

/* The same along x (diffusers blend_h; same row of tiles: same height). */
static void blend_h_(const tile_t *a, tile_t *b, int extent, int C)
{
    int E = a->W < b->W ? a->W : b->W;
    if (extent < E) E = extent;
    for (int x = 0; x < E; x++) {
        float wa = (float)(1.0 - (double)x / E), wb = (float)((double)x / E);
        for (long r = 0; r < (long)b->T * b->H; r++) {
            const float *pa = a->p + ((size_t)r * a->W + (a->W - E + x)) * C;
            float *pb = b->p + ((size_t)r * b->W + x) * C;
            for (int c = 0; c < C; c++) pb[c] = pa[c] * wa + pb[c] * wb;
        }
    }
}

/* Copies latent region rows [i, i+th) cols [j, j+tw) of z (F, h, w, Cz) into dst (F, th, tw, Cz). */
static void crop_latent_(float *dst, const float *z, int F, int h, int w, int Cz, int i, int j, int th, int tw)
{
    for (int f = 0; f < F; f++)
        for (int y = 0; y < th; y++)
            memcpy(dst + (((size_t)f * th + y) * tw) * Cz, z + (((size_t)f * h + i + y) * w + j) * Cz,
                   (size_t)tw * Cz * sizeof(float));
}

/* Decodes every tile through time (each with its own caches) into tiles[] in row-major order. */
static int decode_tiles_(const wrk_vae_t *v, const tiles_t *g, const float *z, int F, int h, int w,
                         tile_t *tiles, char *err, size_t errlen)
{
    int Cz = v->cfg.latent_channels, Co = v->cfg.out_channels, T = wrk_vae_frames(v, F);
    float *zt = malloc((size_t)F * g->lat_h * g->lat_w * Cz * sizeof(float));
    if (!zt) { snprintf(err, errlen, "vae: out of memory"); return -1; }
    int k = 0, rc = -1;
    for (int i = 0; i < h; i += g->ov_h)
        for (int j = 0; j < w; j += g->ov_w, k++) {
            int th = i + g->lat_h < h ? g->lat_h : h - i, tw = j + g->lat_w < w ? g->lat_w : w - j;
            tile_t *t = &tiles[k];
            t->T = T; t->H = th * g->scale; t->W = tw * g->scale;
            if (!(t->p = malloc((size_t)T * t->H * t->W * Co * sizeof(float)))) { snprintf(err, errlen, "vae: out of memory"); goto out; }
            crop_latent_(zt, z, F, h, w, Cz, i, j, th, tw);
            if (decode_video_(v, zt, F, th, tw, t->p, err, errlen)) goto out;
        }
    rc = 0;
out:
    free(zt);
    return rc;
}

/* Blends in row-major order in place, crops each tile to limit_h x limit_w and writes the mosaic
 * into y (T, H, W, Co). */
static void blend_place_(const tiles_t *g, tile_t *tiles, int ny, int nx, int Co, float *y, int H, int W)
{
    int y0 = 0;
    for (int i = 0; i < ny; i++) {
        int x0 = 0, ch = 0;
        for (int j = 0; j < nx; j++) {
            tile_t *t = &tiles[i * nx + j];
            if (i > 0) blend_v_(&tiles[(i - 1) * nx + j], t, g->blend_h, Co);
            if (j > 0) blend_h_(&tiles[i * nx + j - 1], t, g->blend_w, Co);
            int cw = t->W < g->limit_w ? t->W : g->limit_w;
            ch = t->H < g->limit_h ? t->H : g->limit_h;
            for (int f = 0; f < t->T; f++)
                for (int r = 0; r < ch; r++)
                    memcpy(y + (((size_t)f * H + y0 + r) * W + x0) * Co, t->p + (((size_t)f * t->H + r) * t->W) * Co,
                           (size_t)cw * Co * sizeof(float));
            x0 += cw;
        }
        y0 += ch;
    }
}

static int decode_tiled_(const wrk_vae_t *v, const tiles_t *g, const float *z, int F, int h, int w,
                         float *y, int H, int W, char *err, size_t errlen)
{
    int ny = (h + g->ov_h - 1) / g->ov_h, nx = (w + g->ov_w - 1) / g->ov_w;
    tile_t *tiles = calloc((size_t)ny * nx, sizeof *tiles);
    if (!tiles) { snprintf(err, errlen, "vae: out of memory"); return -1; }
    int rc = decode_tiles_(v, g, z, F, h, w, tiles, err, errlen);
    if (rc == 0) blend_place_(g, tiles, ny, nx, v->cfg.out_channels, y, H, W);
    for (int k = 0; k < ny * nx; k++) free(tiles[k].p);
    free(tiles);
    return rc;
}

/* ---------------- public API ---------------- */

/* z (F, h, w, Cz) = inv_sf · latents[b] (F, Cz, h, w); the pipeline's decode_latents computes
 * `1 / scaling_factor * latents` (a double reciprocal applied as an fp32 scalar), so do we. */
static void to_channels_last_(float *z, const float *lat, int F, int Cz, int h, int w, float inv_sf)
{
    for (int f = 0; f < F; f++)
        for (int c = 0; c < Cz; c++)
            for (int p = 0; p < h * w; p++)
                z[((size_t)f * h * w + p) * Cz + c] = inv_sf * lat[((size_t)f * Cz + c) * h * w + p];
}

int wrk_vae_decode(const wrk_vae_t *v, const float *latents, int B, int F, int h, int w, int tiled,
                   float *out, char *err, size_t errlen)
{
    int T, H, W, Cz, rc = -1;
    tiles_t g;
    if (!v || !latents || !out || B < 1) { snprintf(err, errlen, "vae decode: bad arguments"); return -1; }
    if (wrk_vae_out_dims(v, F, h, w, tiled, &T, &H, &W)) {
        snprintf(err, errlen, "vae decode: bad latent size F=%d h=%d w=%d%s", F, h, w, tiled ? " or tile settings" : "");
        return -1;
    }
    Cz = v->cfg.latent_channels;
    size_t zn = (size_t)F * Cz * h * w, on = (size_t)T * H * W * v->cfg.out_channels;
    float *z = malloc(zn * sizeof(float));
    if (!z) { snprintf(err, errlen, "vae: out of memory"); return -1; }
    int use_t = use_tiles_(v, tiled, h, w, &g);
    for (int b = 0; b < B; b++) {
        to_channels_last_(z, latents + (size_t)b * zn, F, Cz, h, w, (float)(1.0 / v->cfg.scaling_factor));
        if (use_t ? decode_tiled_(v, &g, z, F, h, w, out + b * on, H, W, err, errlen)
                  : decode_video_(v, z, F, h, w, out + b * on, err, errlen)) goto out;
    }
    rc = 0;
out:
    free(z);
    return rc;
}
