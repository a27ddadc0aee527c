/* windows.h — compiles a shot into temporal windows (DESIGN.md §6).
 *
 * For F frames, model window W (1+4k) and overlap O: windows are sorted by first frame, their union
 * is exactly [0, F), every length is 1+4k and <= W, neighbours share O frames except the last window,
 * which is anchored at the end of the shot (it may be shorter and then shares O..O+3 frames).
 * Shots shorter than W use the longest 1+4k length that fits, with the overlap capped at half of it.
 * Pure and deterministic: the same input always gives the same windows.
 */
#ifndef COORD_WINDOWS_H
#define COORD_WINDOWS_H
#include <stddef.h>
#include "sql/store.h"

/* 0 ok with *out malloc'd (n entries; caller frees); -1 with err for invalid arguments. */
int coord_windows(int frames, int window, int overlap, store_span_t **out, int *n, char *err, size_t errlen);

#endif
