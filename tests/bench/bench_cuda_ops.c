/* bench_cuda_ops.c — the memory-bound ops of the CUDA backend at CogVideoX-5B TransPixar shapes (B 2,
 * S 35,326 = 226 text + 2 × 17,550 video, D 3072, 48 heads of 64, FFN 12,288), each timed on its own
 * against the bytes it must move (one read of every input, one write of every output): the roofline
 * column of each op's kernel lab. A device-to-device copy of the same bytes is the practical ceiling
 * (`copy` row); an op far below it is the next kernel to rework. The two fused ops (norm_rope,
 * norm_modulate) run as v1 (two kernels) and v2 (one pass), with the largest |v1 − v2| of their output.
 * Needs an NVIDIA GPU with ~6 GB free; exits 77 when none is visible. Never run by `make test`
 * (ops/gpu-run.sh stage opslab).
 *
 * usage: bench_cuda_ops [--reps 20] [--frames 13]
 * Prints one row per op: median ms of --reps calls, GB moved, GB/s, % of the copy row's GB/s.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HAVE_CUDA
int main(void) { printf("bench_cuda_ops: built without nvcc; needs the CUDA backend and a GPU\n"); return 77; }
#else
#include "kernels/k.h"
#include "kernels/k_cuda.h"

enum { D = 3072, HEADS = 48, HD = 64, FF = 12288, L = 226 };

typedef struct {
    const k_backend_t *kb;
    int B, S, Nf, reps;
    float *h, *n, *qkv, *ff, *mod, *w, *bias, *cs, *sn, *scratch;
} ob_t;

typedef struct {
    const char *name;
    int (*run)(ob_t *o, int v);      /* v: version for the fused ops (1, 2), ignored otherwise */
    double (*bytes)(const ob_t *o);  /* bytes one call must move */
    int versions;                    /* 2: v1 and v2 rows (fused ops) */
    float *(*out)(ob_t *o);          /* the output compared between versions */
    size_t (*out_n)(const ob_t *o);
} op_row_t;

static double now_(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static size_t tokens(const ob_t *o) { return (size_t)o->B * o->S; }
static double hbytes(const ob_t *o) { return 4.0 * (double)tokens(o) * D; }      /* one (B, S, D) fp32 */

/* ---- the ops, each as the DiT calls it ---- */
static int r_copy(ob_t *o, int v) { return o->kb->copy(o->n, o->h, (size_t)hbytes(o)); }
static double b_copy(const ob_t *o) { return 2 * hbytes(o); }
static int r_layernorm(ob_t *o, int v)
{ return o->kb->layernorm(o->n, D, o->h, D, o->B * o->S, 1, D, o->w, o->bias, 1e-5f); }
static double b_2h(const ob_t *o) { return 2 * hbytes(o); }
static int r_modulate(ob_t *o, int v)
{
    long bs = (long)o->S * D;
    return o->kb->modulate(o->n + (long)L * D, D, bs, o->n + (long)L * D, D, bs, o->mod, o->mod + D, 6 * D, o->B,
                           o->S - L, D);
}
static double b_mod(const ob_t *o) { return 2 * 4.0 * o->B * (double)(o->S - L) * D; }
static int r_gated(ob_t *o, int v)
{
    long bs = (long)o->S * D;
    return o->kb->gated_residual(o->h, D, bs, o->n, D, bs, o->mod + 2 * D, 6 * D, o->B, o->S, D);
}
static double b_3h(const ob_t *o) { return 3 * hbytes(o); }
static int r_qknorm(ob_t *o, int v)
{
    return o->kb->layernorm(o->qkv, 3 * D, o->qkv, 3 * D, o->B * o->S, HEADS, HD, o->w, o->bias, 1e-6f);
}
static int r_rope(ob_t *o, int v)
{
    long bq = (long)o->S * 3 * D;
    for (int st = 0; st < 2; st++)
        if (o->kb->rope(o->qkv + (long)(L + st * o->Nf) * 3 * D, 3 * D, bq, o->B, o->Nf, HEADS, HD, o->cs, o->sn, HD))
            return -1;
    return 0;
}
static double b_rope(const ob_t *o) { return 2 * 4.0 * o->B * 2.0 * o->Nf * D; }
static int r_norm_rope(ob_t *o, int v)
{
    long bq = (long)o->S * 3 * D;
    return k_cuda_norm_rope_with(o->qkv, 3 * D, bq, o->B, o->S, HEADS, HD, o->w, o->bias, 1e-6f, o->cs, o->sn, HD, L,
                                 o->Nf, 2, v == 2 ? K_CUDA_NORM_ROPE_FUSED : K_CUDA_NORM_ROPE_SEQ);
}
static int r_norm_mod(ob_t *o, int v)
{
    long bs = (long)o->S * D;
    return k_cuda_norm_modulate_with(o->n, D, bs, o->h, D, bs, o->B, o->S, D, o->w, o->bias, 1e-5f, L, o->mod + 3 * D,
                                     o->mod + 4 * D, o->mod, o->mod + D, 6 * D,
                                     v == 2 ? K_CUDA_NORM_MOD_FUSED : K_CUDA_NORM_MOD_SEQ);
}
static int r_gelu(ob_t *o, int v) { return o->kb->gelu_tanh(o->ff, o->ff, (long)tokens(o) * FF); }
static double b_gelu(const ob_t *o) { return 2 * 4.0 * (double)tokens(o) * FF; }
static int r_add(ob_t *o, int v) { return o->kb->add(o->n, o->h, o->n, (long)tokens(o) * D); }
static float *out_q(ob_t *o) { return o->qkv; }
static size_t n_q(const ob_t *o) { return tokens(o) * 3 * D; }
static float *out_n(ob_t *o) { return o->n; }
static size_t n_n(const ob_t *o) { return tokens(o) * D; }

static const op_row_t OPS[] = {
    { "copy (ceiling)",            r_copy,      b_copy, 1, NULL, NULL },
    { "layernorm D 3072",          r_layernorm, b_2h,   1, NULL, NULL },
    { "modulate (video rows)",     r_modulate,  b_mod,  1, NULL, NULL },
    { "gated_residual",            r_gated,     b_3h,   1, NULL, NULL },
    { "add",                       r_add,       b_3h,   1, NULL, NULL },
    { "q layernorm per head",      r_qknorm,    b_2h,   1, NULL, NULL },
    { "rope q (RGB + alpha)",      r_rope,      b_rope, 1, NULL, NULL },
    { "norm_rope q",               r_norm_rope, b_2h,   2, out_q, n_q },
    { "norm_modulate h -> n",      r_norm_mod,  b_2h,   2, out_n, n_n },
    { "gelu_tanh FFN",             r_gelu,      b_gelu, 1, NULL, NULL },
};

static double time_op(ob_t *o, const op_row_t *r, int v, char *err, size_t errlen)
{
    double ts[100];
    if (r->run(o, v) || o->kb->sync(err, errlen)) return -1;             /* warm-up */
    for (int i = 0; i < o->reps; i++) {
        double t0 = now_();
        if (r->run(o, v) || o->kb->sync(err, errlen)) return -1;
        ts[i] = now_() - t0;
    }
    for (int i = 1; i < o->reps; i++)                                     /* insertion sort: small n */
        for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) { double t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t; }
    return ts[o->reps / 2];
}

/* The largest |v1 − v2| of a fused op's output, each version run from the same inputs (h, qkv saved). */
static double version_diff(ob_t *o, const op_row_t *r, char *err, size_t errlen)
{
    size_t n = r->out_n(o), bytes = n * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *dst = r->out(o);
    double d = -1;
    if (!a || !b || o->kb->copy(o->scratch, dst, bytes)) goto out;
    if (r->run(o, 1) || o->kb->download(a, dst, bytes) || o->kb->copy(dst, o->scratch, bytes) || r->run(o, 2) ||
        o->kb->download(b, dst, bytes) || o->kb->copy(dst, o->scratch, bytes) || o->kb->sync(err, errlen))
        goto out;
    d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e != e) { d = INFINITY; break; }
        if (e > d) d = e;
    }
out:
    free(a); free(b);
    return d;
}

int main(int argc, char **argv)
{
    ob_t o = { .B = 2, .reps = 20 };
    int frames = 13;
    char err[256] = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) o.reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames")) frames = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: bench_cuda_ops [--reps 20] [--frames 13]\n"); return 2; }
    }
    if (o.reps < 1 || o.reps > 100 || frames < 1 || frames > 13) { fprintf(stderr, "bench_cuda_ops: bad sizes\n"); return 2; }
    if (k_cuda_device_count() < 1) { printf("bench_cuda_ops: no CUDA device visible; needs an NVIDIA GPU\n"); return 77; }
    if (k_cuda_bind(0, err, sizeof err)) { fprintf(stderr, "bind: %s\n", err); return 1; }
    o.kb = k_backend_cuda();
    o.Nf = frames * 30 * 45;
    o.S = L + 2 * o.Nf;
    size_t t = tokens(&o);
    struct { float **p; size_t n; float scale; } bufs[] = {
        { &o.h, t * D, 1.0f }, { &o.n, t * D, 1.0f }, { &o.qkv, t * 3 * D, 1.0f }, { &o.ff, t * FF, 1.0f },
        { &o.mod, (size_t)o.B * 6 * D, 0.5f }, { &o.w, D, 1.0f }, { &o.bias, D, 0.5f }, { &o.cs, (size_t)o.Nf * HD, 1.0f },
        { &o.sn, (size_t)o.Nf * HD, 1.0f }, { &o.scratch, t * 3 * D, 0.0f },
    };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        *bufs[i].p = o.kb->alloc(bufs[i].n * sizeof(float));
        if (!*bufs[i].p || (bufs[i].scale > 0 && k_cuda_fill_uniform(*bufs[i].p, bufs[i].n, 100 + i, bufs[i].scale))) {
            fprintf(stderr, "bench_cuda_ops: setup: %s%s\n", k_error(), k_cuda_oom() ? " (out of device memory)" : "");
            return 1;
        }
    }
    printf("B %d, S %d (text %d + 2 x %d video), D %d, %d heads of %d, FFN %d; median of %d calls\n", o.B, o.S, L, o.Nf,
           D, HEADS, HD, FF, o.reps);
    printf("| op | version | ms | GB moved | GB/s | of copy | max |v1 - v2| |\n|---|---|---|---|---|---|---|\n");
    double ceiling = 0;
    for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++) {
        const op_row_t *r = &OPS[i];
        for (int v = 1; v <= r->versions; v++) {
            double s = time_op(&o, r, v, err, sizeof err), gb = r->bytes(&o) / 1e9;
            if (s < 0) { fprintf(stderr, "%s v%d: %s %s\n", r->name, v, k_error(), err); return 1; }
            if (i == 0) ceiling = gb / s;
            char diff[32] = "";
            if (r->versions == 2 && v == 2) {
                double d = version_diff(&o, r, err, sizeof err);
                snprintf(diff, sizeof diff, d < 0 ? "error" : "%.3g", d);
            }
            printf("| %s | %s | %.3f | %.2f | %.0f | %.0f %% | %s |\n", r->name, r->versions == 2 ? (v == 1 ? "v1" : "v2") : "-",
                   1e3 * s, gb, gb / s, 100.0 * gb / s / ceiling, diff);
        }
    }
    k_cuda_unbind();
    return 0;
}
#endif
