/* vae_impl.h — internal types of the VAE decoder shared by vae.c (config, weights) and
 * vae_decode.c (forward, chunking, tiling). Not an interface: include vae.h.
 */
#ifndef WORKER_MODEL_VAE_IMPL_H
#define WORKER_MODEL_VAE_IMPL_H
#include "worker/model/vae.h"

#include "kernels/k.h"

/* One convolution: packed weight (kt*kh*kw, co, ci) (kernels/k_conv.h), bias (co), in host memory;
 * dw, db: the same in the decode backend's memory (== w, b on the CPU backend).
 * cache_id >= 0 for the causal k=3 convs that carry their last 2 input frames between chunks. */
typedef struct {
    float *w, *b;
    float *dw, *db;
    int    ci, co, kt, kh, kw;
    int    cache_id;
} vae_conv_t;

/* CogVideoXSpatialNorm3D: GroupNorm(groups, c, eps 1e-6) · conv_y(zq) + conv_b(zq). */
typedef struct {
    float     *gamma, *beta;   /* (c) */
    float     *dgamma, *dbeta; /* the same in the backend's memory */
    vae_conv_t y, b;           /* 1x1x1, latent_channels -> c */
    int        c;
} vae_snorm_t;

/* CogVideoXResnetBlock3D (decoder form: spatial norms, no temb). */
typedef struct {
    vae_snorm_t n1, n2;
    vae_conv_t  c1, c2, sc;    /* sc: 1x1x1 shortcut when ci != co (sc.w NULL otherwise) */
    int         ci, co;
} vae_res_t;

typedef struct {
    vae_res_t *res;
    int        nres;
    int        has_up, compress_time;
    vae_conv_t up;             /* Conv2d 3x3 (kt = 1) */
} vae_up_t;

struct wrk_vae {
    wrk_vae_config_t cfg;
    wrk_vae_tiling_t tiling;
    vae_conv_t  conv_in;
    vae_res_t   mid[2];
    vae_up_t    up[WRK_VAE_MAX_BLOCKS];
    vae_snorm_t norm_out;
    vae_conv_t  conv_out;
    int         n_cache;       /* causal convs with a cache */
    int         n_up;          /* upsampling blocks = n_blocks - 1 */
    const k_backend_t *kb;     /* where wrk_vae_decode runs (NULL = CPU) */
    int         dev_copies;    /* 1: dw/db/dgamma/dbeta are kb allocations (not the host arrays) */
};

#endif
