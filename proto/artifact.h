/* artifact.h — the lossless RGBA window artifact: one file per rendered window, plus its manifest.
 *
 * File: a fixed little-endian header (magic "FRMRGBA1", version, w, h, n, first, convention,
 * conditioning bytes, payload bytes) followed by (n, h, w, 4) uint16 samples and the optional
 * conditioning blob of proto_frames_t.cond. The manifest (carried in DONE and stored
 * by farmd) names frame range, size, convention and the SHA-256 of the whole file.
 * Writing goes to "<path>.tmp.<pid>", fsync, rename, fsync of the directory: never a partial file.
 * Reading validates every header field against the file size; nothing is trusted.
 */
#ifndef PROTO_ARTIFACT_H
#define PROTO_ARTIFACT_H
#include <stddef.h>
#include <stdint.h>
#include "proto/frames.h"

enum { PROTO_ALPHA_PREMULTIPLIED = 1, PROTO_ALPHA_STRAIGHT = 2 };

typedef struct {
    int first, n;            /* frame range [first, first+n) of the shot */
    int w, h;
    int convention;          /* PROTO_ALPHA_* (artifacts are written premultiplied) */
    uint64_t bytes;          /* whole file size */
    char sha256[65];         /* hex of the whole file */
} proto_manifest_t;

/* Writes f to path atomically; fills *m. 0 ok, -1 with err naming the path and the failing step. */
int proto_artifact_write(const char *path, const proto_frames_t *f, proto_manifest_t *m,
                         char *err, size_t errlen);
/* Reads and validates the file; fills *f (caller frees with proto_frames_free) and *m if non-NULL. */
int proto_artifact_read(const char *path, proto_frames_t *f, proto_manifest_t *m,
                        char *err, size_t errlen);
/* Verifies a received file against the manifest the worker sent: header parses, size, frame range,
 * w/h, checksum, and that alpha is present (some sample with alpha < 65535 or the header says
 * RGBA — an all-opaque window is legal but is reported via *all_opaque if non-NULL).
 * 0 ok, -1 with err saying which field disagreed and both values. */
int proto_artifact_verify(const char *path, const proto_manifest_t *expect, int *all_opaque,
                          char *err, size_t errlen);
/* Manifest <-> compact text "first=0 n=49 w=720 h=480 conv=1 bytes=N sha256=HEX" for messages/db. */
int proto_manifest_format(const proto_manifest_t *m, char *buf, size_t len);
int proto_manifest_parse(const char *s, proto_manifest_t *m, char *err, size_t errlen);

/* Streaming access (additive, used by the stitcher so a shot never has to sit in memory whole):
 * open validates the header against the file size (no checksum pass: farmd verified the file on
 * receipt); read_frame reads frame i (0-based within the window) into dst, (h, w, 4) samples. */
typedef struct { int fd; proto_manifest_t m; char path[512]; } proto_artifact_reader_t;
int  proto_artifact_open(const char *path, proto_artifact_reader_t *r, char *err, size_t errlen);
int  proto_artifact_read_frame(const proto_artifact_reader_t *r, int i, uint16_t *dst, char *err, size_t errlen);
void proto_artifact_close(proto_artifact_reader_t *r);   /* safe on a zeroed or closed reader */

/* The conditioning blob (proto/cond.h) a window's artifact carries after its payload (issue #8
 * strategies): header u32 at offset 36 = its size, covered by the manifest checksum; read, verify and
 * this call check it is well formed. 0 ok with *blob malloc'd (NULL, *len 0 when the file has none);
 * -1 with err. No checksum pass (farmd verified the file on receipt). */
int proto_artifact_read_cond(const char *path, uint8_t **blob, size_t *len, char *err, size_t errlen);

#endif
