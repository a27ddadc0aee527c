/* test_cuda_plan.c — the GPU memory plan of the DiT (kernels/cuda/cuda_plan.cu): pure arithmetic,
 * so it runs without a GPU. Checks the 5B RGBA sequence length, the parameter count against the
 * known CogVideoX-5B size, that the reference configuration fits one 80 GB GPU at TP=1, that TP
 * splits what it should, that bad configurations are refused, and the run-time backend choice
 * (k_select.h: CPU with a clear line when no GPU is visible). Skips (77) when built without nvcc.
 */
#ifndef HAVE_CUDA
#include <stdio.h>
int main(void) { printf("skip: built without nvcc (no CUDA backend)\n"); return 77; }
#else
#include "tests/test.h"

#include "kernels/k_cuda.h"
#include "kernels/k_select.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

static void test_5b_rgba(void)
{
    k_cuda_plan_cfg_t c = k_cuda_plan_cfg_5b_rgba();
    k_cuda_plan_t p;
    char err[256] = "", txt[1024];
    CHECK(k_cuda_plan_dit(&c, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.S, 35326);                                   /* MODEL.md §7: 226 + 2·13·30·45 */
    /* CogVideoX-5B transformer: 5.56e9 parameters (11.1 GB in bf16, k.h) */
    CHECKF(p.weights > 2 * 5.50e9 && p.weights < 2 * 5.62e9, "weights %.4g bytes", p.weights);
    CHECKF(p.lora > 0.26e9 && p.lora < 0.27e9, "lora %.4g bytes (the 264 MB file)", p.lora);
    /* h, n, y: 3·2·35326·3072 fp32; FFN hidden 2·35326·12288 fp32 */
    double act_min = 4.0 * (3.0 * 2 * 35326 * 3072 + 2.0 * 35326 * 12288);
    CHECKF(p.activations >= act_min && p.activations < act_min * 1.05, "activations %.4g", p.activations);
    CHECKF(p.attn_workspace > 0.75 * GIB && p.attn_workspace < 0.85 * GIB, "attention pack scratch %.4g", p.attn_workspace);   /* K + Vt: 0.81 GiB */
    CHECKF(p.attn_if_materialised > 200 * GIB, "materialised %.4g", p.attn_if_materialised);
    CHECK(p.fits == 1);
    CHECKF(p.total < 0.5 * c.gpu_bytes, "total %.4g of %.4g", p.total, c.gpu_bytes);
    CHECK(k_cuda_plan_format(&p, txt, sizeof txt) == 0);
    CHECK(strstr(txt, "fits") != NULL);
    printf("%s", txt);
}

static void test_tp_and_limits(void)
{
    k_cuda_plan_cfg_t c = k_cuda_plan_cfg_5b_rgba();
    k_cuda_plan_t p1, p2;
    char err[256] = "";
    CHECK(k_cuda_plan_dit(&c, &p1, err, sizeof err) == 0);
    c.tp = 2;
    CHECK(k_cuda_plan_dit(&c, &p2, err, sizeof err) == 0);
    /* attention + FFN (4.76e9 params) split in two; adaLN linears (0.80e9) and globals replicated */
    CHECKF(p2.weights > 0.56 * p1.weights && p2.weights < 0.59 * p1.weights, "%.4g vs %.4g", p2.weights, p1.weights);
    CHECK(p2.activations < p1.activations);
    c.tp = 1;
    c.gpu_bytes = 16e9;                          /* the plan needs ~18.6 GB: must not fit 16 GB */
    CHECK(k_cuda_plan_dit(&c, &p1, err, sizeof err) == 0);
    CHECK(p1.fits == 0);
    c = k_cuda_plan_cfg_5b_rgba();
    c.tp = 5;                                    /* 48 heads do not split over 5 ranks */
    CHECK(k_cuda_plan_dit(&c, &p1, err, sizeof err) == -1 && strstr(err, "tp") != NULL);
    c = k_cuda_plan_cfg_5b_rgba();
    c.latent_w = 91;
    CHECK(k_cuda_plan_dit(&c, &p1, err, sizeof err) == -1);
    c = k_cuda_plan_cfg_5b_rgba();
    c.layers = 0;
    CHECK(k_cuda_plan_dit(&c, &p1, err, sizeof err) == -1);
    CHECK(k_cuda_plan_dit(NULL, &p1, err, sizeof err) == -1);
}

/* Backend choice: CUDA exactly when a device is visible, with the log line saying so. */
static void test_select(void)
{
    char line[128] = "";
    int n = -1;
    const k_backend_t *b = k_backend_auto(&n, line, sizeof line);
    CHECK_EQ_INT(n, k_cuda_device_count());
    if (n > 0) CHECK(b == k_backend_cuda() && strstr(line, "backend cuda"));
    else CHECK(b == k_backend_cpu() && strstr(line, "no CUDA device visible"));
    printf("%s\n", line);
}

int main(void)
{
    T_RUN(test_select);
    T_RUN(test_5b_rgba);
    T_RUN(test_tp_and_limits);
    T_DONE();
}
#endif
