/* windows.c — shot -> temporal windows (see windows.h for the rules). */
#include "coordinator/windows.h"
#include <stdio.h>
#include <stdlib.h>

static int round_up_len(int r) { return 1 + 4 * ((r - 1 + 3) / 4); }   /* smallest 1+4k >= r */

int coord_windows(int frames, int window, int overlap, store_span_t **out, int *n, char *err, size_t errlen)
{
    *out = NULL; *n = 0;
    if (frames < 1 || window < 1 || (window - 1) % 4 != 0 || overlap < 0 || overlap >= window) {
        snprintf(err, errlen, "windows: frames %d, window %d (1+4k), overlap %d (0..window-1) not allowed",
                 frames, window, overlap);
        return -1;
    }
    int lmax = window <= frames ? window : 1 + 4 * ((frames - 1) / 4);
    int ov = lmax < window && overlap > (lmax - 1) / 2 ? (lmax - 1) / 2 : overlap;
    int stride = lmax - ov;
    int cap = frames / stride + 2;
    store_span_t *w = malloc((size_t)cap * sizeof *w);
    if (!w) { snprintf(err, errlen, "windows: out of memory"); return -1; }
    int k = 0, s = 0;
    if (lmax == frames) {
        w[k++] = (store_span_t){ 0, frames };
    } else {
        for (; s + lmax < frames; s += stride) w[k++] = (store_span_t){ s, lmax };
        int len = round_up_len(frames - s);
        w[k++] = (store_span_t){ frames - len, len };
    }
    *out = w; *n = k;
    return 0;
}
