/* device.h — the worker's compute device, chosen once per process: `--device cpu|cuda|auto` (the
 * run and render commands), else env FARM_DEVICE, else auto (CUDA when a GPU is visible, CPU
 * otherwise). The dit engine loads its model on this device; READY advertises the GPUs it uses.
 * `cuda` without a usable GPU is an error at start-up, never a silent CPU fallback.
 * Library users that never choose (unit tests) get the CPU, the fp32 reference path.
 * Not here: the backends themselves (kernels/k_select.h picks the table), GPU selection inside the
 * process (CUDA_VISIBLE_DEVICES gives a worker its GPUs; the DiT puts rank r on GPU r).
 */
#ifndef WORKER_DEVICE_H
#define WORKER_DEVICE_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/k_select.h"

/* Chooses the device: `opt` is the --device value (NULL or "" = FARM_DEVICE, then "auto"). Checks
 * that it can be used and fills line with the backend log line ("backend cuda: 1 GPU(s) visible",
 * "backend cpu: no CUDA device visible ...", "backend cpu: requested (device cpu)"). 0, or -1 with
 * err naming the option or variable and what is allowed (the previous choice is kept). */
int wrk_device_choose(const char *opt, char *line, size_t linelen, char *err, size_t errlen);

/* The chosen device (never AUTO once chosen: AUTO resolves to CPU or CUDA); K_DEVICE_CPU when
 * wrk_device_choose was never called. */
k_device_t wrk_device_get(void);

/* GPUs the chosen device gives the worker (visible GPUs on CUDA, 0 on CPU). */
int wrk_device_gpus(void);

/* One line per GPU in use: "GPU 0: NAME, N MiB" (empty on CPU). */
void wrk_device_describe(char *buf, size_t len);

#endif
