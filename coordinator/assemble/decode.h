/* decode.h — reads an output back, frame by frame, with the decoder the formats table names
 * (libvpx-vp9 for VP9 so alpha survives), for the decode-back check. Containers go through
 * libavformat; sequences are read image by image from "<prefix>.NNNNNN.<ext>" files.
 * Not here: the pixel comparison (check.h).
 */
#ifndef COORD_DECODE_H
#define COORD_DECODE_H
#include <stddef.h>
#include <libavutil/frame.h>
#include "coordinator/assemble/formats.h"

typedef struct coord_dec coord_dec_t;

typedef struct {
    char codec[32];            /* codec name stored in the file */
    double fps;                /* frame rate the container declares (0 for sequences) */
    int extra_files;           /* sequences: files in the directory that are not frames */
} coord_dec_info_t;

/* Opens path (file or sequence directory), checks the stored codec is the format's codec.
 * 0 ok, -1 with err. */
int  coord_dec_open(coord_dec_t **out, const coord_format_t *fmt, const char *path, const char *prefix,
                    coord_dec_info_t *info, char *err, size_t errlen);
/* 1: *f holds the next frame (owned by d, valid until the next call); 0: no more frames; -1 error. */
int  coord_dec_next(coord_dec_t *d, AVFrame **f, char *err, size_t errlen);
void coord_dec_free(coord_dec_t **d);

#endif
