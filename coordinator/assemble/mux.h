/* mux.h — encodes a stream of premultiplied RGBA16 frames into one output of the formats table:
 * a container file via libavformat, or a directory with one image per frame for sequences.
 * The caller chooses the (temporary) path and renames it after verification; mux never renames.
 * Colour tags: BT.709 primaries/transfer, BT.709 matrix + limited range for YUV, RGB + full range
 * otherwise; frame rate from fps. Not here: audio, timecode tracks, the decode-back check.
 */
#ifndef COORD_MUX_H
#define COORD_MUX_H
#include <stddef.h>
#include <stdint.h>
#include "coordinator/assemble/formats.h"

typedef struct coord_enc coord_enc_t;

/* path: the container file, or the directory to create for a sequence (images named
 * "<prefix>.NNNNNN.<ext>", NNNNNN = 0-based frame number). 0 ok; -1 with err (encoder missing,
 * size refused, path unwritable). On failure nothing stays open; files already created remain for
 * the caller to remove. */
int  coord_enc_open(coord_enc_t **out, const coord_format_t *fmt, const char *path, const char *prefix,
                    int w, int h, double fps, char *err, size_t errlen);
/* Encodes the next frame, (h, w, 4) premultiplied. */
int  coord_enc_write(coord_enc_t *e, const uint16_t *premul, char *err, size_t errlen);
/* Flushes the encoder, writes the trailer, closes and fsyncs what it wrote. */
int  coord_enc_finish(coord_enc_t *e, char *err, size_t errlen);
void coord_enc_free(coord_enc_t **e);

/* Sequence image path: "<dir>/<prefix>.<%06d>.<ext>". 0 ok, -1 if it does not fit. */
int  coord_seq_path(char *buf, size_t len, const char *dir, const char *prefix, int t, const char *ext);
/* The codec/encoder a format row names is present in this libavcodec build. */
int  coord_format_available(const coord_format_t *fmt, char *err, size_t errlen);

#endif
