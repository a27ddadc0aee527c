/* frames.c — allocation and release of proto_frames_t (see frames.h). Only the container: no pixel
 * operations live here (stitching is coordinator/assemble, file I/O is artifact.c). */
#include "proto/frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int proto_frames_alloc(proto_frames_t *f, int w, int h, int n, int first, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (w <= 0 || h <= 0 || n <= 0 || first < 0) {
        snprintf(err, errlen, "frames: bad shape w=%d h=%d n=%d first=%d", w, h, n, first);
        return -1;
    }
    size_t samples = (size_t)w * (size_t)h;
    if (samples / (size_t)w != (size_t)h || samples > SIZE_MAX / 4 / sizeof(uint16_t) / (size_t)n) {
        snprintf(err, errlen, "frames: size overflow w=%d h=%d n=%d", w, h, n);
        return -1;
    }
    samples *= 4 * (size_t)n;
    f->px = calloc(samples, sizeof(uint16_t));
    if (!f->px) {
        snprintf(err, errlen, "frames: out of memory for %zu bytes", samples * sizeof(uint16_t));
        return -1;
    }
    f->w = w; f->h = h; f->n = n; f->first = first;
    return 0;
}

void proto_frames_free(proto_frames_t *f)
{
    if (!f) return;
    free(f->px);
    free(f->cond);
    memset(f, 0, sizeof *f);
}
