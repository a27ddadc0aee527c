/* bench_sampler.c — throughput of the sampler area's pieces at CogVideoX-5B TransPixar sizes:
 * Philox noise (one full RGBA latent, 1 and 2 threads), one DPM / DDIM step plus CFG combine on that
 * latent, and safetensors bf16 -> fp32 reads (whole tensor, row shard, column shard) from a
 * 3072 x 12288 bf16 tensor (an ff.net.0 weight) in a file on tmpfs.
 * Usage: bench_sampler [DIR]   (DIR for the temporary file, default /dev/shm or /tmp).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker/model/noise.h"
#include "worker/model/safetensors.h"
#include "worker/model/sampler.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of `reps` runs of fn(arg), seconds. */
#define BEST(reps, stmt) ({ double b_ = 1e30; for (int r_ = 0; r_ < (reps); r_++) { double t0_ = now_s(); stmt; \
    double d_ = now_s() - t0_; if (d_ < b_) b_ = d_; } b_; })

static void bench_noise(float *buf, int64_t n)
{
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        double s = BEST(3, wrk_noise_normal(1, 0, 5, 0, n, buf));
        printf("noise     philox normals, %d thread%s: %8.1f ms for %lld values = %6.1f M/s\n", th, th > 1 ? "s" : "",
               s * 1e3, (long long)n, n / s * 1e-6);
    }
}

static void bench_steps(float *x, int64_t n)
{
    wrk_sched_config_t c;
    wrk_schedule_t s;
    char err[256];
    wrk_sched_config_default(&c);
    c.prediction_type = WRK_PRED_V; c.rescale_betas_zero_snr = 1; c.timestep_spacing = WRK_SPACING_TRAILING;
    c.snr_shift_scale = 1.0;
    double ti = BEST(5, (wrk_schedule_init(&s, &c, err, sizeof err), wrk_schedule_free(&s)));
    wrk_schedule_init(&s, &c, err, sizeof err);
    float *v = malloc(2 * n * sizeof *v), *xp = malloc(n * sizeof *xp), *x0 = malloc(n * sizeof *x0),
          *old = malloc(n * sizeof *old), *eps = malloc(n * sizeof *eps);
    wrk_noise_normal(2, 0, 0, 0, 2 * n, v);
    wrk_noise_normal(3, 0, 0, 0, n, eps);
    memcpy(old, x, n * sizeof *x);
    double tc = BEST(5, wrk_cfg_combine(v, v + n, 6.0, xp, n));
    double td = BEST(5, wrk_dpm_step(&s, 499, 479, 519, x, v, old, eps, xp, x0, n));
    double tg = BEST(5, wrk_ddim_step(&s, 499, 479, x, v, xp, x0, n));
    printf("schedule  init (1000 fp64 values):        %8.3f ms\n", ti * 1e3);
    printf("step      CFG combine:                   %8.1f ms  (%lld values, 1 thread)\n", tc * 1e3, (long long)n);
    printf("step      DPM 2nd-order step:            %8.1f ms\n", td * 1e3);
    printf("step      DDIM step:                     %8.1f ms\n", tg * 1e3);
    free(v); free(xp); free(x0); free(old); free(eps);
    wrk_schedule_free(&s);
}

static void bench_st(const char *dir)
{
    enum { R = 12288, C = 3072 };   /* ff.net.0.proj.weight of the 5B: (12288, 3072) */
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/bench_sampler_%ld.safetensors", dir, (long)getpid());
    uint16_t *w = malloc((size_t)R * C * sizeof *w);
    float *dst = malloc((size_t)R * C * sizeof *dst);
    for (size_t i = 0; i < (size_t)R * C; i++) w[i] = wrk_st_f32_to_bf16((float)(i % 1000) * 0.001f);
    wrk_st_wtensor_t t = {"ff.net.0.proj.weight", WRK_ST_BF16, 2, {R, C}, w};
    if (wrk_st_write(path, 1, &t, err, sizeof err)) { printf("st: %s\n", err); return; }
    wrk_st_t *st = NULL;
    double to = BEST(5, (wrk_st_open(path, &st, err, sizeof err), wrk_st_close(&st)));
    wrk_st_open(path, &st, err, sizeof err);
    int64_t sh[2] = {R, C};
    double tf = BEST(3, wrk_st_read_f32(st, t.name, 2, sh, dst, (int64_t)R * C, err, sizeof err));
    double tr = BEST(3, wrk_st_read_f32_slice(st, t.name, 2, sh, 0, R / 2, 0, -1, dst, (int64_t)R * C, err, sizeof err));
    double tcl = BEST(3, wrk_st_read_f32_slice(st, t.name, 2, sh, 0, -1, 0, C / 2, dst, (int64_t)R * C, err, sizeof err));
    double mb = (double)R * C * 2 / 1e6;
    printf("st        open + validate + close:       %8.3f ms\n", to * 1e3);
    printf("st        bf16->f32 whole (%.0f MB):      %8.1f ms = %6.2f GB/s of bf16\n", mb, tf * 1e3, mb / tf * 1e-3);
    printf("st        bf16->f32 rows [0, R/2):       %8.1f ms = %6.2f GB/s\n", tr * 1e3, mb / 2 / tr * 1e-3);
    printf("st        bf16->f32 cols [0, C/2):       %8.1f ms = %6.2f GB/s\n", tcl * 1e3, mb / 2 / tcl * 1e-3);
    wrk_st_close(&st);
    unlink(path);
    free(w); free(dst);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    const int64_t n = 26LL * 16 * 60 * 90;   /* TransPixar latent (26, 16, 60, 90) */
    float *x = malloc(n * sizeof *x);
    bench_noise(x, n);
    bench_steps(x, n);
    bench_st(dir);
    free(x);
    return 0;
}
