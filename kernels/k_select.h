/* k_select.h — picks the compute backend at run time: CUDA when this build has it (HAVE_CUDA, set by
 * the Makefile whenever nvcc exists) and a GPU is visible, else the CPU backend, with the one log
 * line that says which and why. Header-only so callers compile the same with or without nvcc.
 * For the engines (worker/model): `kb = k_backend_auto(&ngpu, line, sizeof line); log(line);`,
 * then TP degree = ngpu (or fewer) with k_comm_nccl_run on CUDA, k_comm_threads_run on CPU.
 * An explicit request (`--device cpu|cuda|auto`, env FARM_DEVICE) goes through k_backend_pick:
 * "auto" is k_backend_auto, "cpu" always works, "cuda" without a usable GPU is an error (never a
 * silent CPU fallback).
 */
#ifndef KERNELS_K_SELECT_H
#define KERNELS_K_SELECT_H
#include <stdio.h>
#include <string.h>

#include "kernels/k.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#endif

/* The device a program asks for. */
typedef enum { K_DEVICE_AUTO = 0, K_DEVICE_CPU, K_DEVICE_CUDA, K_DEVICE_COUNT } k_device_t;

/* "auto", "cpu", "cuda" ("?" for anything else). */
static inline const char *k_device_name(k_device_t d)
{
    static const char *const names[K_DEVICE_COUNT] = { "auto", "cpu", "cuda" };
    return (unsigned)d < K_DEVICE_COUNT ? names[d] : "?";
}

/* 0 with *out, or -1 when name is not one of k_device_name's. */
static inline int k_device_from_name(const char *name, k_device_t *out)
{
    for (int i = 0; name && i < K_DEVICE_COUNT; i++)
        if (strcmp(name, k_device_name((k_device_t)i)) == 0) { *out = (k_device_t)i; return 0; }
    return -1;
}

/* The backend to use; *ngpu (may be NULL) = visible GPUs (0 on CPU); line = "backend ...: why". */
static inline const k_backend_t *k_backend_auto(int *ngpu, char *line, size_t linelen)
{
    int n = 0;
#ifdef HAVE_CUDA
    n = k_cuda_device_count();
    if (n > 0) {
        if (line && linelen) snprintf(line, linelen, "backend cuda: %d GPU(s) visible", n);
        if (ngpu) *ngpu = n;
        return k_backend_cuda();
    }
    if (line && linelen) snprintf(line, linelen, "backend cpu: no CUDA device visible (CUDA backend built in)");
#else
    if (line && linelen) snprintf(line, linelen, "backend cpu: built without CUDA (no nvcc)");
#endif
    if (ngpu) *ngpu = n;
    return k_backend_cpu();
}

/* The backend for an explicit request. AUTO: k_backend_auto. CPU: the CPU backend, line "backend cpu:
 * requested (device cpu)", *ngpu = 0. CUDA: the CUDA backend when built in and a GPU is visible
 * (line as k_backend_auto's), else NULL with err saying why. */
static inline const k_backend_t *k_backend_pick(k_device_t want, int *ngpu, char *line, size_t linelen,
                                                char *err, size_t errlen)
{
    if (want == K_DEVICE_AUTO) return k_backend_auto(ngpu, line, linelen);
    if (ngpu) *ngpu = 0;
    if (want == K_DEVICE_CPU) {
        if (line && linelen) snprintf(line, linelen, "backend cpu: requested (device cpu)");
        return k_backend_cpu();
    }
    if (want != K_DEVICE_CUDA) {
        if (err && errlen) snprintf(err, errlen, "device %d: not cpu, cuda or auto", (int)want);
        return NULL;
    }
#ifdef HAVE_CUDA
    int n = k_cuda_device_count();
    if (n > 0) return k_backend_auto(ngpu, line, linelen);
    if (err && errlen) snprintf(err, errlen, "device cuda requested but no CUDA device is visible "
                                "(check the driver and CUDA_VISIBLE_DEVICES, or use --device cpu|auto)");
#else
    if (err && errlen) snprintf(err, errlen, "device cuda requested but this build has no CUDA backend "
                                "(built without nvcc; use --device cpu|auto)");
#endif
    return NULL;
}

#endif
