/* bench_gf_precision.c — where a GPU render of the golden RGBA pipeline (tests/golden/pipeline) departs
 * from the fp32 CPU render, measured without a GPU: the CPU backend table with its operands rounded
 * the way the CUDA backend rounds them (tests/unit/emu_cuda_rounding.h); the pipeline runs its DiT,
 * T5 and VAE on that table (wrk_pipe_opts_t.backend), with bf16 DiT/T5 weights (the CUDA default) or
 * fp32 weights (device_fp32), or with one kind of rounding only.
 * Printed per case: share of 8-bit samples within 2/255 of the fp32 CPU render, max and mean abs
 * difference (in 1/255). It is a model of the GPU's rounding, not the GPU: accumulation order and
 * the kernels' own rounding differ, so expect the same order of magnitude, not the same bits.
 * Usage: bench_gf_precision (from the repository root).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/k.h"
#include "tests/unit/emu_cuda_rounding.h"
#include "worker/model/pipeline.h"

#define GOLD "tests/golden/pipeline"

static float *render(const k_backend_t *kb, int fp32w, const char *name, int *n)
{
    char err[1024] = "", path[256];
    wrk_pipe_opts_t o;
    wrk_pipe_t *p = NULL;
    wrk_pipe_req_t q;
    wrk_pipe_noise_t nz;
    wrk_pipe_frames_t fr;
    int cls = 0, f9 = !strcmp(name, "f9");
    wrk_pipe_opts_default(&o);
    o.lora_path = GOLD "/lora.safetensors";
    o.threads = 2; o.quiet = 1; o.backend = kb; o.device_fp32 = fp32w;
    snprintf(path, sizeof path, GOLD "/%s/noise.safetensors", name);
    if (wrk_pipe_load(GOLD "/model", &o, &p, err, sizeof err) || wrk_pipe_noise_load(path, &nz, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        wrk_pipe_destroy(&p);
        return NULL;
    }
    wrk_pipe_req_default(&q);   /* the golden cases (case.json): 48x32, 10 DPM steps, guidance 6 */
    q.prompt = f9 ? "a swirl of orange smoke over glass, isolated background" : "blue fire sparks";
    q.negative = f9 ? "" : "blurry, low quality";
    q.frames = f9 ? 9 : 5; q.width = 48; q.height = 32; q.steps = 10; q.guidance = 6.0; q.noise = &nz;
    int rc = wrk_pipe_render(p, &q, &fr, &cls, err, sizeof err);
    wrk_pipe_noise_free(&nz);
    wrk_pipe_destroy(&p);
    if (rc != WRK_PIPE_OK) { fprintf(stderr, "render: %s\n", err); return NULL; }
    *n = fr.n * fr.h * fr.w * 4;
    float *px = fr.rgba;
    fr.rgba = NULL;
    wrk_pipe_frames_free(&fr);
    return px;
}

static void compare(const char *what, const float *a, const float *ref, int n)
{
    int bad = 0, mx = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int d = abs((int)wrk_pipe_u8(a[i]) - (int)wrk_pipe_u8(ref[i]));
        bad += d > 2;
        mx = d > mx ? d : mx;
        sum += fabs((double)a[i] - ref[i]) * 255.0;
    }
    printf("  %-40s %8.4f%% within 2/255, max %2d/255, mean abs %.4f/255\n", what, 100.0 * (n - bad) / n, mx, sum / n);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) { fprintf(stderr, "usage: bench_gf_precision (from the repository root)\n"); return 2; }
    k_backend_t emu;
    static const struct { const char *what; int fp32w, gemm, attn, conv; } RUNS[] = {
        { "bf16 weights, all rounding (CUDA default)", 0, 1, 1, 1 },
        { "fp32 weights, all rounding (device_fp32)", 1, 1, 1, 1 },
        { "bf16 weights stored, no operand rounding", 0, 0, 0, 0 },
        { "bf16 weights + GEMM operands only", 0, 1, 0, 0 },
        { "attention bf16 only (fp32 weights)", 1, 0, 1, 0 },
        { "VAE conv TF32 only (fp32 weights)", 1, 0, 0, 1 },
        { "GEMM TF32 only (fp32 weights)", 1, 1, 0, 0 },
    };
    const char *cases[] = { "f9", "f5" };
    for (int c = 0; c < 2; c++) {
        int n = 0, n2 = 0;
        float *ref = render(NULL, 0, cases[c], &n);
        if (!ref) return 1;
        printf("%s (vs the fp32 CPU render):\n", cases[c]);
        for (size_t r = 0; r < sizeof RUNS / sizeof *RUNS; r++) {
            emu_cuda_table(&emu, RUNS[r].gemm, RUNS[r].attn, RUNS[r].conv);
            float *a = render(&emu, RUNS[r].fp32w, cases[c], &n2);
            if (a && n2 == n) compare(RUNS[r].what, a, ref, n);
            free(a);
        }
        free(ref);
    }
    return 0;
}
