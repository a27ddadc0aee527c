/* assemble.h — turns the verified window artifacts of one shot into the files a studio uses.
 *
 * coord_assemble_shot() is called by farmd OFF its loop thread (it blocks for seconds to minutes).
 * It streams: windows are read frame by frame from their artifacts, overlaps are blended in
 * premultiplied alpha with smooth weights summing to one, and every frame goes to all requested
 * encoders before the next is stitched, so memory is a few frames, never the whole shot.
 * Each output is written under a temporary name, decoded back and checked (frame count, size,
 * alpha-carrying pixel format, pixel error bounds per format), then renamed into place; on any
 * failure no partial file remains and err says which output failed and why.
 * Finally a contact sheet PNG (evenly spaced frames over a checkerboard, shot name, frame numbers)
 * is written next to the outputs. Output names derive from shot_name only.
 */
#ifndef COORD_ASSEMBLE_H
#define COORD_ASSEMBLE_H
#include <stddef.h>
#include "proto/artifact.h"

typedef struct {
    const char *shot_name; int frames; double fps; int width, height;
    int n_windows; const char *const *artifact_paths;   /* sorted by first frame */
    const proto_manifest_t *manifests;                   /* n_windows */
    int n_outputs; const char *const *outputs;           /* format names from proto/shotlist.h */
    const char *out_dir;                                 /* created by the caller */
} coord_assembly_t;

/* paths[i] is the file (or, for image sequences, the directory) of outputs[i]; summary[i] is a
 * one-line account of its decode-back check, e.g. "exact (8-bit colour, 8-bit alpha)" or
 * "colour PSNR 47.2 dB (worst frame 45.9), alpha exact at 10 bits" (added field). */
typedef struct {
    int n; char paths[9][1024]; char contact_sheet[1024];
    char summary[9][160];
} coord_assembly_result_t;

/* 0 ok (every output written and verified, contact sheet written); -1 with err naming the shot,
 * the output format and the failing step. Thread-safe: shares no state between calls. */
int coord_assemble_shot(const coord_assembly_t *a, coord_assembly_result_t *r, char *err, size_t errlen);

#endif
