/* device.c — the worker's compute device choice (see device.h). */
#include "worker/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static k_device_t g_device = K_DEVICE_CPU;
static int g_gpus;

int wrk_device_choose(const char *opt, char *line, size_t linelen, char *err, size_t errlen)
{
    const char *env = getenv("FARM_DEVICE");
    const char *src = opt && *opt ? "--device" : env && *env ? "FARM_DEVICE" : NULL;
    const char *name = opt && *opt ? opt : env && *env ? env : "auto";
    k_device_t want;
    int ngpu = 0;
    char why[256];
    if (k_device_from_name(name, &want) != 0) {
        snprintf(err, errlen, "%s: '%.40s' is not allowed: cpu, cuda or auto", src, name);
        return -1;
    }
    const k_backend_t *kb = k_backend_pick(want, &ngpu, line, linelen, why, sizeof why);
    if (!kb) {
        snprintf(err, errlen, "%s: %s", src ? src : "device", why);
        return -1;
    }
    g_device = strcmp(kb->name, "cuda") == 0 ? K_DEVICE_CUDA : K_DEVICE_CPU;
    g_gpus = g_device == K_DEVICE_CUDA ? ngpu : 0;
    return 0;
}

k_device_t wrk_device_get(void) { return g_device; }

int wrk_device_gpus(void) { return g_gpus; }

void wrk_device_describe(char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
#ifdef HAVE_CUDA
    for (int i = 0; i < g_gpus && o < len; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) { cudaGetLastError(); continue; }
        int w = snprintf(buf + o, len - o, "%sGPU %d: %s, %zu MiB", o ? "; " : "", i, p.name,
                         (size_t)(p.totalGlobalMem >> 20));
        if (w < 0) break;
        o += (size_t)w;
    }
#else
    (void)o; (void)len;
#endif
}
