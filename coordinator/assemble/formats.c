/* formats.c — the output format table (see formats.h and DESIGN.md §9). */
#include "coordinator/assemble/formats.h"

#include <string.h>

const coord_format_t COORD_FORMATS[] = {
    /* name, ext, seq, muxer, encoder, decoder, pix_fmt, yuv, even, options, check, psnr colour, alpha */
    { "prores4444", "mov",  0, "mov",      "prores_ks",  "prores",     AV_PIX_FMT_YUVA444P10LE, 1, 0,
      "profile=4444:alpha_bits=16:vendor=apl0", COORD_CHECK_LOSSY, 45.0, -1 },
    { "vp9",        "webm", 0, "webm",     "libvpx-vp9", "libvpx-vp9", AV_PIX_FMT_YUVA420P,     1, 1,
      "deadline=good:cpu-used=4:row-mt=1:crf=12:b=0", COORD_CHECK_LOSSY, 35.0, 35.0 },
    { "ffv1",       "mkv",  0, "matroska", "ffv1",       "ffv1",       AV_PIX_FMT_RGBA64LE,     0, 0,
      "level=3:slicecrc=1", COORD_CHECK_EXACT, 0, 0 },
    { "png-mov",    "mov",  0, "mov",      "png",        "png",        AV_PIX_FMT_RGBA,         0, 0,
      "", COORD_CHECK_EXACT, 0, 0 },
    { "qtrle",      "mov",  0, "mov",      "qtrle",      "qtrle",      AV_PIX_FMT_ARGB,         0, 0,
      "", COORD_CHECK_EXACT, 0, 0 },
    { "exr",        "exr",  1, NULL,       "exr",        "exr",        AV_PIX_FMT_GBRAPF32LE,   0, 0,
      "compression=zip16:format=half", COORD_CHECK_HALF, 0, 0 },
    { "png",        "png",  1, NULL,       "png",        "png",        AV_PIX_FMT_RGBA,         0, 0,
      "", COORD_CHECK_EXACT, 0, 0 },
    { "png16",      "png",  1, NULL,       "png",        "png",        AV_PIX_FMT_RGBA64BE,     0, 0,
      "", COORD_CHECK_EXACT, 0, 0 },
    { NULL, NULL, 0, NULL, NULL, NULL, AV_PIX_FMT_NONE, 0, 0, NULL, COORD_CHECK_EXACT, 0, 0 },
};

const coord_format_t *coord_format(const char *name)
{
    for (int i = 0; name && COORD_FORMATS[i].name; i++)
        if (strcmp(COORD_FORMATS[i].name, name) == 0) return &COORD_FORMATS[i];
    return NULL;
}
