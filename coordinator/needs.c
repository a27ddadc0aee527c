/* needs.c — one row per engine: GPUs a worker must advertise and the memory a window needs
 * (a base for the engine plus the RGBA16 frames of the window, twice: render and upload copy).
 * A worker that advertises mem_mb = 0 is treated as "unknown" and matched on engine and GPUs only. */
#include "coordinator/farmd.h"
#include <stdio.h>
#include <string.h>

typedef struct { const char *engine; int gpus; int64_t base_mb; int copies; } need_row_t;

static const need_row_t NEEDS[] = {
    { "testcard", 0, 64, 2 },
    { "dit",      0, 4096, 4 },   /* CPU threads when the worker has no GPU (DESIGN.md §2) */
};

int coord_needs(const proto_shot_t *s, int window_frames, int *gpus, int64_t *mem_mb, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof NEEDS / sizeof NEEDS[0]; i++) {
        if (strcmp(NEEDS[i].engine, s->engine)) continue;
        int64_t frame_bytes = (int64_t)s->width * s->height * 8;
        *gpus = NEEDS[i].gpus;
        *mem_mb = NEEDS[i].base_mb + (frame_bytes * window_frames * NEEDS[i].copies) / (1024 * 1024);
        return 0;
    }
    snprintf(err, errlen, "engine '%s' is not known to farmd (testcard, dit)", s->engine);
    return -1;
}
