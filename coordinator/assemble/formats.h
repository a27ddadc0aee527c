/* formats.h — the output format table: one row per name in PROTO_OUTPUT_FORMATS (proto/shotlist.h),
 * saying how to encode it (muxer, encoder, pixel format, encoder options), how to decode it back
 * (decoder) and what the decode-back check demands. Encoder options use the ffmpeg CLI names, so
 * the benchmark derives the equivalent `ffmpeg` command line from the same row.
 */
#ifndef COORD_FORMATS_H
#define COORD_FORMATS_H
#include <libavutil/pixfmt.h>

typedef enum {
    COORD_CHECK_EXACT,     /* every sample equal at the stored depth (lossless formats) */
    COORD_CHECK_HALF,      /* premultiplied float within one half-float step */
    COORD_CHECK_LOSSY,     /* colour PSNR >= min_psnr_color; alpha PSNR >= min_psnr_alpha, or exact if < 0 */
} coord_check_kind_t;

typedef struct {
    const char *name;          /* as in PROTO_OUTPUT_FORMATS */
    const char *ext;           /* extension (no dot) of the file, or of each image of a sequence */
    int sequence;              /* 1: a directory holding one image per frame */
    const char *muxer;         /* libavformat muxer; NULL for sequences */
    const char *encoder;       /* libavcodec encoder */
    const char *decoder;       /* decoder used for decode-back (VP9: libvpx-vp9 keeps alpha) */
    enum AVPixelFormat pix_fmt;/* what the encoder is fed */
    int yuv;                   /* 1: tag BT.709 matrix, limited range; 0: RGB, full range */
    int even_size;             /* 4:2:0: width and height must be even */
    const char *options;       /* encoder options "key=value:key=value" */
    coord_check_kind_t check;
    double min_psnr_color, min_psnr_alpha;
} coord_format_t;

extern const coord_format_t COORD_FORMATS[];     /* terminated by a row with name == NULL */

const coord_format_t *coord_format(const char *name);   /* NULL if unknown */

#endif
