/* pipeline_png.c — 8-bit RGBA PNG files from premultiplied uint16 frames (see pipeline.h), for
 * `farm-worker render`. The worker links no zlib or libpng, so the image data is a zlib stream of
 * stored (uncompressed) deflate blocks: every decoder reads it; files are about 4·w·h bytes.
 * Not here: compression, 16-bit output, reading PNGs. */
#include "worker/model/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One chunk: length, type, data, CRC over type + data. */
static int put_chunk(FILE *f, const char type[4], const uint8_t *data, uint32_t n)
{
    uint8_t hdr[8], crc[4];
    put32(hdr, n);
    memcpy(hdr + 4, type, 4);
    uint32_t c = crc_update(0xffffffffu, (const uint8_t *)type, 4);
    c = crc_update(c, data, n) ^ 0xffffffffu;
    put32(crc, c);
    return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(crc, 1, 4, f) == 4 ? 0 : -1;
}

/* Filter-0 scanlines (h × (1 + 4w)) of straight 8-bit RGBA from premultiplied uint16 (h, w, 4). */
static void scanlines(const uint16_t *px, int w, int h, uint8_t *raw)
{
    for (int y = 0; y < h; y++) {
        uint8_t *o = raw + (size_t)y * (1 + 4 * (size_t)w);
        *o++ = 0;
        for (int x = 0; x < w; x++, px += 4) {
            uint32_t a = px[3];
            for (int c = 0; c < 3; c++) *o++ = a ? (uint8_t)(((uint64_t)px[c] * 255 * 2 + a) / (2 * a)) : 0;
            *o++ = (uint8_t)((a * 255 * 2 + 65535) / (2 * 65535));
        }
    }
}

/* zlib stream of stored blocks (at most 65535 bytes each) of raw[0..n). Returns its size. */
static size_t zlib_stored(const uint8_t *raw, size_t n, uint8_t *z)
{
    size_t o = 0;
    uint32_t s1 = 1, s2 = 0;
    z[o++] = 0x78; z[o++] = 0x01;
    for (size_t i = 0; i < n || i == 0; ) {
        size_t len = n - i > 65535 ? 65535 : n - i;
        z[o++] = i + len == n;               /* BFINAL, BTYPE 00 */
        z[o++] = (uint8_t)len; z[o++] = (uint8_t)(len >> 8);
        z[o++] = (uint8_t)~len; z[o++] = (uint8_t)(~len >> 8);
        memcpy(z + o, raw + i, len);
        o += len; i += len;
        if (len == 0) break;
    }
    for (size_t i = 0; i < n; i++) { s1 = (s1 + raw[i]) % 65521; s2 = (s2 + s1) % 65521; }
    put32(z + o, (s2 << 16) | s1);
    return o + 4;
}

static int write_file(FILE *f, const uint8_t *z, size_t zn, int w, int h)
{
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w); put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;   /* 8-bit RGBA, no interlace */
    if (fwrite(sig, 1, 8, f) != 8 || put_chunk(f, "IHDR", ihdr, 13)) return -1;
    for (size_t i = 0; i < zn; i += 1u << 30) {
        size_t len = zn - i > (1u << 30) ? (1u << 30) : zn - i;
        if (put_chunk(f, "IDAT", z + i, (uint32_t)len)) return -1;
    }
    return put_chunk(f, "IEND", NULL, 0);
}

int wrk_pipe_png_write(const char *path, const uint16_t *px, int w, int h, char *err, size_t errlen)
{
    if (w < 1 || h < 1 || w > 65535 || h > 65535) { snprintf(err, errlen, "%s: bad image size %dx%d", path, w, h); return -1; }
    size_t n = (size_t)h * (1 + 4 * (size_t)w), zcap = n + 5 * (n / 65535 + 1) + 6;
    uint8_t *raw = malloc(n), *z = malloc(zcap);
    char tmp[4200];
    int rc = -1;
    FILE *f = NULL;
    if (!raw || !z) { snprintf(err, errlen, "%s: out of memory", path); goto out; }
    if (!crc_table[1]) crc_init();
    scanlines(px, w, h, raw);
    size_t zn = zlib_stored(raw, n, z);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) { snprintf(err, errlen, "%s: %s", tmp, strerror(errno)); goto out; }
    int bad = write_file(f, z, zn, w, h);
    if (fclose(f) != 0 || bad) { snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno)); remove(tmp); goto out; }
    if (rename(tmp, path)) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); remove(tmp); goto out; }
    rc = 0;
out:
    free(raw); free(z);
    return rc;
}
