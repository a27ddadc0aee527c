/* test_worker_device.c — the worker's device choice (worker/device.h, kernels/k_select.h): names,
 * `--device` over FARM_DEVICE over auto, the backend log line (the CPU fallback line exactly as
 * k_backend_auto gives it), `cuda` without a GPU refused with a message naming the option and
 * keeping the previous choice, unknown names refused naming what is allowed, and the model
 * subcommands' option mapping (wrk_dit_cli_opts) carrying the device into the DiT options.
 */
#include "tests/test.h"
#include "worker/device.h"
#include "worker/model/cmd_common.h"

static void test_names(void)
{
    k_device_t d;
    for (int i = 0; i < K_DEVICE_COUNT; i++) {
        CHECK(k_device_from_name(k_device_name((k_device_t)i), &d) == 0 && d == (k_device_t)i);
    }
    CHECK_STR(k_device_name(K_DEVICE_CUDA), "cuda");
    CHECK(k_device_from_name("gpu", &d) == -1 && k_device_from_name("", &d) == -1 && k_device_from_name(NULL, &d) == -1);
    char line[256], err[256];
    int n = -1;
    CHECK(k_backend_pick(K_DEVICE_CPU, &n, line, sizeof line, err, sizeof err) == k_backend_cpu() && n == 0);
    CHECK_STR(line, "backend cpu: requested (device cpu)");
    CHECK(k_backend_pick((k_device_t)7, &n, line, sizeof line, err, sizeof err) == NULL);
}

static void test_choose(void)
{
    char line[256] = "", err[512] = "", want[256];
    int ngpu = 0;
    const k_backend_t *kb = k_backend_auto(&ngpu, want, sizeof want);
    unsetenv("FARM_DEVICE");
    CHECK(wrk_device_get() == K_DEVICE_CPU && wrk_device_gpus() == 0);      /* never chosen: CPU */
    CHECK(wrk_device_choose(NULL, line, sizeof line, err, sizeof err) == 0); /* auto */
    CHECK_STR(line, want);
    CHECK(wrk_device_get() == (kb == k_backend_cpu() ? K_DEVICE_CPU : K_DEVICE_CUDA) && wrk_device_gpus() == ngpu);
    fprintf(stderr, "     auto: %s\n", line);
    CHECK(wrk_device_choose("cpu", line, sizeof line, err, sizeof err) == 0 && wrk_device_get() == K_DEVICE_CPU);
    CHECK_STR(line, "backend cpu: requested (device cpu)");
    CHECK(wrk_device_gpus() == 0);
    CHECK(wrk_device_choose("gpu", line, sizeof line, err, sizeof err) == -1);
    CHECK_STR(err, "--device: 'gpu' is not allowed: cpu, cuda or auto");
    setenv("FARM_DEVICE", "tpu", 1);
    CHECK(wrk_device_choose("", line, sizeof line, err, sizeof err) == -1);
    CHECK_STR(err, "FARM_DEVICE: 'tpu' is not allowed: cpu, cuda or auto");
    setenv("FARM_DEVICE", "cpu", 1);                  /* the variable, and the option over it */
    CHECK(wrk_device_choose(NULL, line, sizeof line, err, sizeof err) == 0 && wrk_device_get() == K_DEVICE_CPU);
    CHECK(wrk_device_choose("auto", line, sizeof line, err, sizeof err) == 0);
    CHECK_STR(line, want);
    unsetenv("FARM_DEVICE");
    if (ngpu == 0) {                                   /* here: cuda is an error, the choice stays */
        CHECK(wrk_device_choose("cpu", line, sizeof line, err, sizeof err) == 0);
        CHECK(wrk_device_choose("cuda", line, sizeof line, err, sizeof err) == -1);
        CHECKF(strstr(err, "--device: device cuda requested but") != NULL, "%s", err);
        CHECK(wrk_device_get() == K_DEVICE_CPU);
        fprintf(stderr, "     cuda: %s\n", err);
        CHECK(strstr(want, "backend cpu: ") == want);  /* the fallback line */
    } else {
        CHECK(wrk_device_choose("cuda", line, sizeof line, err, sizeof err) == 0 && wrk_device_get() == K_DEVICE_CUDA);
        char d[1024];
        wrk_device_describe(d, sizeof d);
        CHECK(strstr(d, "GPU 0: ") == d);
    }
}

static void test_cli_opts(void)
{
    wrk_dit_cli_t c = WRK_DIT_CLI_DEFAULT;
    wrk_dit_opts_t o;
    char err[512];
    c.device = "cpu";
    CHECK(wrk_dit_cli_opts(&c, &o, err, sizeof err) == 0 && o.device == K_DEVICE_CPU && o.tp == 1);
    c.device = "quantum";
    CHECK(wrk_dit_cli_opts(&c, &o, err, sizeof err) == -1);
    CHECKF(strstr(err, "'quantum' is not allowed") != NULL, "%s", err);
}

int main(void)
{
    T_RUN(test_names);
    T_RUN(test_choose);
    T_RUN(test_cli_opts);
    T_DONE();
}
