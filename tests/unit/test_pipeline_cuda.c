/* test_pipeline_cuda.c — the whole RGBA pipeline with the DiT, T5 and the VAE (placed on the DiT's
 * GPU) on CUDA, against the same pipeline on the CPU in fp32 and the reference frames of
 * test_pipeline_parity (tests/golden/pipeline: tiny TransPixar model, captured noise, 10 DPM steps,
 * dynamic CFG up to 7). Per case (f9, f5), three GPU checks:
 *  (a) fp32 weights on the GPU (device_fp32: TF32 GEMMs and convs, bf16 attention operands): the
 *      8-bit frames within 2/255 of the CPU's (and of the reference) on at least 99% of the samples;
 *  (b) the default bf16 weights: within bf16 tolerance, judged against a yardstick rendered in the
 *      same run: the CPU pipeline with the CUDA backend's operand rounding (emu_cuda_rounding.h:
 *      GEMM activations to bf16 for the bf16-weight GEMMs, TF32 for the rest, bf16 attention
 *      operands). The GPU's mean abs difference from the fp32 CPU render, and its share of samples
 *      off by more than 2/255, must each be at most twice the yardstick's;
 *  (c) a GPU re-render identical.
 * Why (b) is not the 99% bar: the first H100 run (bf16) gave 97.06% (f9) / 98.64% (f5) within 2/255,
 * max 10/255; the emulation gives 97.35% / 98.86%, max 9 / 6, mean abs 0.44 / 0.34 (1/255), and
 * separates the causes (bench_gf_precision): bf16 weights alone move nothing (mean 0.0002/255: the
 * golden weights are bf16-exact), TF32 GEMMs 0.13, bf16 attention 0.08, TF32 convs 0.05, while
 * rounding the GEMM activations to bf16 (what a bf16 x bf16 tensor-core GEMM needs) gives 0.43 and all
 * of the 2/255 misses; 10 sampler steps with CFG amplify that rounding. With fp32 weights the
 * emulation is at 99.99% / 100%. The factor 2 in (b) is room for a different rounding of the same size
 * (accumulation order, the GPU kernels' own rounding), not for a bigger error.
 * Needs a GPU: exits 77 with "skip: no CUDA device visible" without one. Run from the repository root.
 */
#ifndef HAVE_CUDA
#include <stdio.h>
int main(void) { printf("skip: no CUDA device visible (built without nvcc)\n"); return 77; }
#else
#include "tests/test.h"
#include "tests/unit/emu_cuda_rounding.h"
#include "tests/unit/pipeline_cases.h"
#include "kernels/k_cuda.h"
#include "proto/json.h"
#include "proto/proto.h"
#include "worker/device.h"
#include "worker/model/pipeline.h"
#include "worker/model/pipeline_impl.h"
#include "worker/model/safetensors.h"

/* device "cpu" or "cuda"; fp32w: device_fp32; kb: a table playing the device (with "cpu"). */
static wrk_pipe_t *load_on(const char *device, int fp32w, const k_backend_t *kb)
{
    char line[256], err[2048];
    wrk_pipe_opts_t o;
    wrk_pipe_t *p = NULL;
    CHECKF(wrk_device_choose(device, line, sizeof line, err, sizeof err) == 0, "%s", err);
    wrk_pipe_opts_default(&o);
    o.lora_path = GOLD "/lora.safetensors";
    o.threads = 2;
    o.tp = 0;
    o.quiet = 1;
    o.device_fp32 = fp32w;
    o.backend = kb;
    CHECKF(wrk_pipe_load(GOLD "/model", &o, &p, err, sizeof err) == 0, "%s: %s", device, err);
    return p;
}

/* Renders case `name` with its captured noise; frames (malloc'd float RGBA) or NULL. */
static float *render(wrk_pipe_t *p, const char *name, int *n_out, double *secs)
{
    pcase_t c;
    wrk_pipe_req_t q;
    wrk_pipe_noise_t nz;
    wrk_pipe_frames_t fr;
    char path[256], err[1024] = "";
    int cls = -1;
    if (read_case(name, &c)) return NULL;
    snprintf(path, sizeof path, GOLD "/%s/noise.safetensors", name);
    if (wrk_pipe_noise_load(path, &nz, err, sizeof err)) { fprintf(stderr, "%s\n", err); return NULL; }
    req_for(&c, &q);
    q.noise = &nz;
    int rc = wrk_pipe_render(p, &q, &fr, &cls, err, sizeof err);
    wrk_pipe_noise_free(&nz);
    CHECKF(rc == WRK_PIPE_OK, "render %s: class %d: %s", name, cls, err);
    if (rc != WRK_PIPE_OK) return NULL;
    *n_out = fr.n * fr.h * fr.w * 4;
    *secs = wrk_pipe_stats(p)->total_s;
    float *px = fr.rgba;
    fr.rgba = NULL;
    wrk_pipe_frames_free(&fr);
    return px;
}

typedef struct { double within2, mean_abs; int maxd; } diff_t;

/* a against b8 (8-bit reference) or bf: share of 8-bit samples within 2/255, max difference
 * (1/255), mean abs difference of the float samples (in 1/255; of the 8-bit ones with b8). */
static diff_t differ(const float *a, const uint8_t *b8, const float *bf, int n)
{
    diff_t r = { 0, 0, 0 };
    int bad = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int d = abs((int)wrk_pipe_u8(a[i]) - (int)(b8 ? b8[i] : wrk_pipe_u8(bf[i])));
        if (d > r.maxd) r.maxd = d;
        bad += d > 2;
        sum += b8 ? d : fabs((double)a[i] - bf[i]) * 255.0;
    }
    r.within2 = 1.0 - (double)bad / n;
    r.mean_abs = sum / n;
    return r;
}

static diff_t show(const char *name, const char *what, const float *a, const uint8_t *b8, const float *bf, int n)
{
    diff_t d = differ(a, b8, bf, n);
    fprintf(stderr, "  %s: %-38s max |diff| %2d/255, %8.4f%% within 2/255, mean abs %.4f/255\n", name, what, d.maxd,
            100 * d.within2, d.mean_abs);
    return d;
}

typedef struct { wrk_pipe_t *cpu, *gpu, *g32, *emu; } pipes_t;

/* (a): the fp32-weight GPU render at the 99%-within-2/255 bar, against the CPU and the reference. */
static void check_fp32(const char *name, const float *c, const float *a, const uint8_t *want, int n)
{
    diff_t d = show(name, "(a) cuda fp32 weights vs cpu", c, NULL, a, n);
    CHECKF(d.within2 >= 0.99, "%s: cuda fp32 weights vs cpu only %.4f%% within 2/255", name, 100 * d.within2);
    d = show(name, "(a) cuda fp32 weights vs reference", c, want, NULL, n);
    CHECKF(d.within2 >= 0.99, "%s: cuda fp32 weights vs reference only %.4f%% within 2/255", name, 100 * d.within2);
}

/* (b): the bf16 GPU render within twice the yardstick's departure from the fp32 CPU render. */
static void check_bf16(const char *name, const float *b, const float *e, const float *a, int n)
{
    diff_t ds = show(name, "(b) yardstick: cpu with cuda rounding", e, NULL, a, n);
    diff_t d = show(name, "(b) cuda bf16 (default) vs cpu", b, NULL, a, n);
    show(name, "(b) cuda bf16 vs the yardstick", b, NULL, e, n);
    CHECKF(ds.mean_abs > 0, "%s: the yardstick equals the fp32 render (no rounding emulated?)", name);
    CHECKF(d.mean_abs <= 2 * ds.mean_abs, "%s: cuda bf16 mean abs %.4f/255 > 2 x the yardstick's %.4f/255", name,
           d.mean_abs, ds.mean_abs);
    CHECKF(1 - d.within2 <= 2 * (1 - ds.within2), "%s: cuda bf16 off by > 2/255 on %.4f%% > 2 x the yardstick's %.4f%%",
           name, 100 * (1 - d.within2), 100 * (1 - ds.within2));
}

/* Checks (a), (b), (c) of the header on one case. */
static void one_case(const pipes_t *P, const char *name)
{
    int n = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0;
    int64_t ne = 0;
    double tc = 0, tg = 0, tg2 = 0, t32 = 0, te = 0;
    float *a = render(P->cpu, name, &n, &tc), *b = render(P->gpu, name, &n2, &tg);
    float *b2 = render(P->gpu, name, &n3, &tg2), *c = render(P->g32, name, &n4, &t32);
    float *e = render(P->emu, name, &n5, &te);
    uint8_t *want = read_expected(name, &ne);
    int ok = a && b && b2 && c && e && want && n == n2 && n == n3 && n == n4 && n == n5 && n <= ne;
    CHECKF(ok, "%s: renders", name);
    if (ok) {
        fprintf(stderr, "  %s: cpu %.2f s, cuda bf16 %.2f s, cuda fp32 weights %.2f s, cpu emulating cuda %.2f s\n",
                name, tc, tg, t32, te);
        show(name, "cpu vs reference", a, want, NULL, n);
        check_fp32(name, c, a, want, n);
        check_bf16(name, b, e, a, n);
        CHECK(memcmp(b, b2, (size_t)n * sizeof(float)) == 0);   /* (c) deterministic on the GPU */
    }
    free(a); free(b); free(b2); free(c); free(e); free(want);
}

int main(void)
{
    static k_backend_t emu;
    if (k_cuda_device_count() == 0) { printf("skip: no CUDA device visible\n"); return 77; }
    emu_cuda_table(&emu, 1, 1, 1);
    pipes_t P = { load_on("cpu", 0, NULL), load_on("cuda", 0, NULL), load_on("cuda", 1, NULL), NULL };
    P.emu = load_on("cpu", 0, &emu);
    if (P.gpu && P.g32) {
        const wrk_dit_info_t *i = wrk_dit_info(P.gpu->dit), *i32 = wrk_dit_info(P.g32->dit);
        CHECKF(!strcmp(i->backend, "cuda") && i->gpus >= 1 && i->bf16_weights, "DiT on %s", i->backend);
        CHECKF(!strcmp(i32->backend, "cuda") && !i32->bf16_weights, "fp32 DiT on %s", i32->backend);
        fprintf(stderr, "  VAE decodes on %s\n", wrk_vae_backend(P.gpu->vae)->name);
    }
    if (P.cpu && P.gpu && P.g32 && P.emu) {
        one_case(&P, "f9");
        one_case(&P, "f5");
    }
    wrk_pipe_destroy(&P.cpu);
    wrk_pipe_destroy(&P.gpu);
    wrk_pipe_destroy(&P.g32);
    wrk_pipe_destroy(&P.emu);
    wrk_dit_thread_done();
    T_DONE();
}
#endif
