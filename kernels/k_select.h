/* k_select.h — picks the compute backend at run time: CUDA when this build has it (HAVE_CUDA, set by
 * the Makefile whenever nvcc exists) and a GPU is visible, else the CPU backend, with the one log
 * line that says which and why. Header-only so callers compile the same with or without nvcc.
 * For the engines (worker/model): `kb = k_backend_auto(&ngpu, line, sizeof line); log(line);`,
 * then TP degree = ngpu (or fewer) with k_comm_nccl_run on CUDA, k_comm_threads_run on CPU.
 */
#ifndef KERNELS_K_SELECT_H
#define KERNELS_K_SELECT_H
#include <stdio.h>

#include "kernels/k.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#endif

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

#endif
