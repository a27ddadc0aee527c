/* bench_dit.c — one TransPixar DiT forward at a mid-size configuration on CPU.
 *
 * Default configuration (issue #4): D = 768 (12 heads × 64), 8 layers, 4 latent frames of 32×48
 * doubled to RGB + alpha (F = 8), text 226 × 4096, time 512, LoRA rank 128 (scale 1/128, the
 * released alpha), bias −1 text→alpha rule, 2 threads. Random weights: a diffusers-layout model
 * directory is synthesised under /tmp (fp32 safetensors) and loaded through the normal path.
 * Prints the median forward time and where it went: GEMM and attention seconds and GFLOP/s.
 * Compare with tests/reference/bench_dit.py run in the same session on the same threads.
 *
 *   bench_dit [--threads N] [--tp N] [--runs N] [--layers N] [--frames F] [--h H] [--w W]
 *             [--rank R] [--no-lora]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "worker/model/dit.h"
#include "worker/model/safetensors.h"

typedef struct {
    int threads, tp, runs, layers, frames, h, w, rank, lora;
    int heads, hd, text_dim, time_dim, text_len, C;
} bench_cfg_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float randn_ish(void)   /* sum of 4 uniforms: mean 0, var 1/3 → scale to ~unit */
{
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        s += (float)(rng >> 40) / (float)(1u << 24) - 0.5f;
    }
    return s * 1.732f;
}

typedef struct { wrk_st_wtensor_t *t; char **names; float **data; int n, cap; } tlist_t;

static void add(tlist_t *l, const char *name, float stddev, float mean, int ndim, int64_t d0, int64_t d1)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->t = realloc(l->t, (size_t)l->cap * sizeof *l->t);
        l->names = realloc(l->names, (size_t)l->cap * sizeof *l->names);
        l->data = realloc(l->data, (size_t)l->cap * sizeof *l->data);
    }
    int64_t n = d0 * (ndim > 1 ? d1 : 1);
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = mean + stddev * randn_ish();
    l->names[l->n] = strdup(name);
    l->data[l->n] = p;
    l->t[l->n] = (wrk_st_wtensor_t){ .name = l->names[l->n], .dtype = WRK_ST_F32, .ndim = ndim,
                                     .shape = { d0, d1 }, .data = p };
    l->n++;
}

static int flush(tlist_t *l, const char *path)
{
    char err[512];
    int rc = wrk_st_write(path, l->n, l->t, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    for (int i = 0; i < l->n; i++) { free(l->names[i]); free(l->data[i]); }
    free(l->t); free(l->names); free(l->data);
    memset(l, 0, sizeof *l);
    return rc;
}

static void add_block(tlist_t *l, const bench_cfg_t *c, int i)
{
    int D = c->heads * c->hd, T = c->time_dim;
    char n[128];
    static const char *const lin[] = { "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0" };
    for (int k = 0; k < 2; k++) {
        snprintf(n, sizeof n, "transformer_blocks.%d.norm%d.linear.weight", i, k + 1); add(l, n, 0.02f, 0, 2, 6 * D, T);
        snprintf(n, sizeof n, "transformer_blocks.%d.norm%d.linear.bias", i, k + 1);   add(l, n, 0.02f, 0, 1, 6 * D, 0);
        snprintf(n, sizeof n, "transformer_blocks.%d.norm%d.norm.weight", i, k + 1);   add(l, n, 0.1f, 1, 1, D, 0);
        snprintf(n, sizeof n, "transformer_blocks.%d.norm%d.norm.bias", i, k + 1);     add(l, n, 0.02f, 0, 1, D, 0);
    }
    for (int k = 0; k < 2; k++) {
        snprintf(n, sizeof n, "transformer_blocks.%d.attn1.norm_%c.weight", i, "qk"[k]); add(l, n, 0.1f, 1, 1, c->hd, 0);
        snprintf(n, sizeof n, "transformer_blocks.%d.attn1.norm_%c.bias", i, "qk"[k]);   add(l, n, 0.02f, 0, 1, c->hd, 0);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(n, sizeof n, "transformer_blocks.%d.%s.weight", i, lin[k]); add(l, n, 0.03f, 0, 2, D, D);
        snprintf(n, sizeof n, "transformer_blocks.%d.%s.bias", i, lin[k]);   add(l, n, 0.02f, 0, 1, D, 0);
    }
    snprintf(n, sizeof n, "transformer_blocks.%d.ff.net.0.proj.weight", i); add(l, n, 0.03f, 0, 2, 4 * D, D);
    snprintf(n, sizeof n, "transformer_blocks.%d.ff.net.0.proj.bias", i);   add(l, n, 0.02f, 0, 1, 4 * D, 0);
    snprintf(n, sizeof n, "transformer_blocks.%d.ff.net.2.weight", i);      add(l, n, 0.02f, 0, 2, D, 4 * D);
    snprintf(n, sizeof n, "transformer_blocks.%d.ff.net.2.bias", i);        add(l, n, 0.02f, 0, 1, D, 0);
}

static int write_model(const bench_cfg_t *c, const char *dir)
{
    int D = c->heads * c->hd, T = c->time_dim, P = 4 * c->C;
    char path[600];
    tlist_t l = { 0 };
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"_class_name\": \"CogVideoXTransformer3DModel\", \"num_attention_heads\": %d, "
               "\"attention_head_dim\": %d, \"in_channels\": %d, \"out_channels\": %d, \"num_layers\": %d, "
               "\"text_embed_dim\": %d, \"time_embed_dim\": %d, \"sample_height\": 60, \"sample_width\": 90, "
               "\"use_rotary_positional_embeddings\": true}\n",
            c->heads, c->hd, c->C, c->C, c->layers, c->text_dim, T);
    fclose(f);
    add(&l, "patch_embed.proj.weight", 0.05f, 0, 2, D, P);       /* (D, C, 2, 2) written as (D, C·4) */
    l.t[l.n - 1].ndim = 4; l.t[l.n - 1].shape[1] = c->C; l.t[l.n - 1].shape[2] = 2; l.t[l.n - 1].shape[3] = 2;
    add(&l, "patch_embed.proj.bias", 0.02f, 0, 1, D, 0);
    add(&l, "patch_embed.text_proj.weight", 0.02f, 0, 2, D, c->text_dim);
    add(&l, "patch_embed.text_proj.bias", 0.02f, 0, 1, D, 0);
    add(&l, "time_embedding.linear_1.weight", 0.03f, 0, 2, T, D);
    add(&l, "time_embedding.linear_1.bias", 0.02f, 0, 1, T, 0);
    add(&l, "time_embedding.linear_2.weight", 0.03f, 0, 2, T, T);
    add(&l, "time_embedding.linear_2.bias", 0.02f, 0, 1, T, 0);
    add(&l, "norm_final.weight", 0.1f, 1, 1, D, 0);
    add(&l, "norm_final.bias", 0.02f, 0, 1, D, 0);
    add(&l, "norm_out.linear.weight", 0.02f, 0, 2, 2 * D, T);
    add(&l, "norm_out.linear.bias", 0.02f, 0, 1, 2 * D, 0);
    add(&l, "norm_out.norm.weight", 0.1f, 1, 1, D, 0);
    add(&l, "norm_out.norm.bias", 0.02f, 0, 1, D, 0);
    add(&l, "proj_out.weight", 0.03f, 0, 2, P, D);
    add(&l, "proj_out.bias", 0.02f, 0, 1, P, 0);
    for (int i = 0; i < c->layers; i++) add_block(&l, c, i);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    return flush(&l, path);
}

static int write_lora(const bench_cfg_t *c, const char *path)
{
    static const char *const tg[] = { "to_q", "to_k", "to_v", "to_out.0" };
    int D = c->heads * c->hd;
    char n[160];
    tlist_t l = { 0 };
    add(&l, "domain_emb", 0.1f, 0, 2, 1, D);
    for (int i = 0; i < c->layers; i++)
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, "transformer.transformer_blocks.%d.attn1.%s.lora_A.weight", i, tg[k]);
            add(&l, n, 0.05f, 0, 2, c->rank, D);
            snprintf(n, sizeof n, "transformer.transformer_blocks.%d.attn1.%s.lora_B.weight", i, tg[k]);
            add(&l, n, 0.05f, 0, 2, D, c->rank);
        }
    return flush(&l, path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse(int argc, char **argv, bench_cfg_t *c)
{
    *c = (bench_cfg_t){ .threads = 2, .tp = 1, .runs = 3, .layers = 8, .frames = 4, .h = 32, .w = 48,
                        .rank = 128, .lora = 1, .heads = 12, .hd = 64, .text_dim = 4096, .time_dim = 512,
                        .text_len = 226, .C = 16 };
    struct { const char *name; int *dst; } opts[] = {
        { "--threads", &c->threads }, { "--tp", &c->tp }, { "--runs", &c->runs }, { "--layers", &c->layers },
        { "--frames", &c->frames }, { "--h", &c->h }, { "--w", &c->w }, { "--rank", &c->rank },
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-lora")) { c->lora = 0; continue; }
        size_t k = 0;
        while (k < sizeof opts / sizeof *opts && strcmp(argv[i], opts[k].name)) k++;
        if (k == sizeof opts / sizeof *opts || i + 1 >= argc || (*opts[k].dst = atoi(argv[++i])) < 1) {
            fprintf(stderr, "usage: bench_dit [--threads N] [--tp N] [--runs N] [--layers N] [--frames F] "
                            "[--h H] [--w W] [--rank R] [--no-lora]\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_cfg_t c;
    char dir[256], lora[300], cmd[400], err[1024];
    if (parse(argc, argv, &c) != 0) return 2;
    snprintf(dir, sizeof dir, "/tmp/bench_dit.%d", (int)getpid());
    snprintf(lora, sizeof lora, "%s/lora.safetensors", dir);
    mkdir(dir, 0700);
    double t0 = now_s();
    if (write_model(&c, dir) != 0 || (c.lora && write_lora(&c, lora) != 0)) return 1;
    fprintf(stderr, "bench_dit: synthesised model in %.1f s\n", now_s() - t0);
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    wrk_dit_opts_default(&o);
    o.lora_path = c.lora ? lora : NULL;
    o.tp = c.tp;
    o.threads = c.threads;
    int rc = wrk_dit_load(dir, &o, &m, err, sizeof err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_dit: cannot remove %s\n", dir);
    if (rc != 0) { fprintf(stderr, "bench_dit: %s\n", err); return 1; }

    int F = c.lora ? 2 * c.frames : c.frames, B = 1;
    size_t nx = (size_t)B * F * c.C * c.h * c.w, nt = (size_t)B * c.text_len * c.text_dim;
    float *x = malloc(nx * sizeof(float)), *text = malloc(nt * sizeof(float)), *y = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = randn_ish();
    for (size_t i = 0; i < nt; i++) text[i] = 0.2f * randn_ish();
    int64_t t = 500;
    wrk_dit_stats_t runs[64];
    double times[64] = { 0 };
    if (c.runs > 64) c.runs = 64;
    for (int r = 0; r < c.runs; r++) {
        double s = now_s();
        if (wrk_dit_forward(m, B, F, c.h, c.w, x, c.text_len, text, &t, y, err, sizeof err) != 0) {
            fprintf(stderr, "bench_dit: %s\n", err);
            return 1;
        }
        times[r] = now_s() - s;
        runs[r] = *wrk_dit_stats(m);
        fprintf(stderr, "  run %d: %.3f s (gemm %.3f s, attention %.3f s)\n", r, times[r], runs[r].gemm_s,
                runs[r].attn_s);
    }
    int med = 0;                                   /* the run with the median time */
    for (int r = 0; r < c.runs; r++) {
        int below = 0;
        for (int k = 0; k < c.runs; k++) below += times[k] < times[r] || (times[k] == times[r] && k < r);
        if (below == c.runs / 2) med = r;
    }
    const wrk_dit_stats_t *st = &runs[med];
    double mn = times[0];
    for (int r = 1; r < c.runs; r++) mn = times[r] < mn ? times[r] : mn;
    int S = c.text_len + F * (c.h / 2) * (c.w / 2);
    printf("bench_dit: D=%d heads=%d layers=%d frames=%d%s latent %dx%d text %d -> seq %d, lora r=%d, "
           "tp %d, %d threads\n", c.heads * c.hd, c.heads, c.layers, c.frames, c.lora ? "x2 (RGBA)" : "",
           c.h, c.w, c.text_len, S, c.lora ? c.rank : 0, c.tp, c.threads);
    printf("bench_dit: runs (s):");
    for (int r = 0; r < c.runs; r++) printf(" %.3f", times[r]);
    printf("\nbench_dit: forward median %.3f s (min %.3f), %.1f CPU-s\n", times[med], mn, st->total_cpu_s);
    printf("bench_dit: median run, rank 0: GEMM %.3f s, %.1f GFLOP: %.1f GFLOP/s, %.1f GFLOP/CPU-s\n",
           st->gemm_s, st->gemm_flop * 1e-9, st->gemm_flop / st->gemm_s * 1e-9,
           st->gemm_flop / st->gemm_cpu_s * 1e-9);
    printf("bench_dit: median run, rank 0: attention %.3f s, %.1f GFLOP: %.1f GFLOP/s, %.1f GFLOP/CPU-s\n",
           st->attn_s, st->attn_flop * 1e-9, st->attn_flop / st->attn_s * 1e-9,
           st->attn_flop / st->attn_cpu_s * 1e-9);
    printf("bench_dit: median run, rank 0: other %.3f s, %.2f CPU-s; overall %.1f GFLOP/s, %.1f GFLOP/CPU-s "
           "(rank 0's share)\n", st->total_s - st->gemm_s - st->attn_s,
           st->total_cpu_s - st->gemm_cpu_s - st->attn_cpu_s, (st->gemm_flop + st->attn_flop) / st->total_s * 1e-9,
           (st->gemm_flop + st->attn_flop) / st->total_cpu_s * 1e-9);
    free(x); free(text); free(y);
    wrk_dit_destroy(&m);
    return 0;
}
