/* artifact.c — the lossless RGBA window artifact file (see artifact.h for the contract).
 *
 * Layout (all little-endian), 48-byte header then payload:
 *   0  magic "FRMRGBA1"     8  u32 version (1)     12 u32 header bytes (48)
 *   16 u32 w   20 u32 h   24 u32 n   28 u32 first   32 u32 convention
 *   36 u32 conditioning bytes (0 = none; <= PROTO_COND_MAX; was "reserved (0)", so older files read as none)
 *   40 u64 payload bytes (= n*h*w*4*2)
 *   48 payload: (n, h, w, 4) uint16 RGBA
 *   48 + payload: the conditioning blob (proto/cond.h), validated on read and verify
 * Writing streams through SHA-256 (the manifest checksum covers the whole file), to "<path>.tmp.<pid>",
 * fsync, rename, fsync of the directory. Reading checks every header field against the file size
 * before allocating anything. Not a general image format: one pixel layout, no compression.
 */
#include "proto/artifact.h"
#include "proto/checksum.h"
#include "proto/cond.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ART_MAGIC      "FRMRGBA1"
#define ART_VERSION    1u
#define ART_HDR_BYTES  48u
#define ART_MAX_SIDE   16384
#define ART_MAX_FRAMES 100000           /* a shot has at most 100000 frames (shotlist.h) */
#define ART_IO_CHUNK   (1u << 20)

typedef struct { uint32_t w, h, n, first, conv, cond; uint64_t payload; } art_hdr_t;

/* ---- little-endian helpers ---- */

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static int host_is_le(void) { const uint16_t one = 1; return *(const uint8_t *)&one == 1; }

/* Swaps uint16 samples in place when the host is big-endian (the file is little-endian). */
static void samples_to_le(uint16_t *s, size_t n)
{
    if (host_is_le()) return;
    for (size_t i = 0; i < n; i++) s[i] = (uint16_t)(s[i] << 8 | s[i] >> 8);
}

static uint64_t payload_bytes(uint32_t w, uint32_t h, uint32_t n)
{
    return (uint64_t)w * h * n * 4u * sizeof(uint16_t);      /* <= 16384^2*1e5*8: fits in 64 bits */
}

static void hdr_encode(uint8_t out[ART_HDR_BYTES], const proto_frames_t *f, uint32_t conv)
{
    memset(out, 0, ART_HDR_BYTES);
    memcpy(out, ART_MAGIC, 8);
    put32(out + 8, ART_VERSION); put32(out + 12, ART_HDR_BYTES);
    put32(out + 16, (uint32_t)f->w); put32(out + 20, (uint32_t)f->h);
    put32(out + 24, (uint32_t)f->n); put32(out + 28, (uint32_t)f->first);
    put32(out + 32, conv);
    put32(out + 36, (uint32_t)f->cond_len);
    put64(out + 40, payload_bytes((uint32_t)f->w, (uint32_t)f->h, (uint32_t)f->n));
}

/* Validates a header against the real file size. 0 ok, -1 with err naming the field and values. */
static int hdr_decode(const uint8_t in[ART_HDR_BYTES], uint64_t file_bytes, art_hdr_t *h,
                      const char *path, char *err, size_t errlen)
{
    if (memcmp(in, ART_MAGIC, 8) != 0) { snprintf(err, errlen, "%s: not an RGBA artifact (bad magic)", path); return -1; }
    uint32_t ver = get32(in + 8), hb = get32(in + 12);
    if (ver != ART_VERSION || hb != ART_HDR_BYTES) {
        snprintf(err, errlen, "%s: unsupported artifact version %u / header %u bytes", path, ver, hb);
        return -1;
    }
    h->w = get32(in + 16); h->h = get32(in + 20); h->n = get32(in + 24);
    h->first = get32(in + 28); h->conv = get32(in + 32); h->cond = get32(in + 36); h->payload = get64(in + 40);
    if (h->w < 1 || h->w > ART_MAX_SIDE || h->h < 1 || h->h > ART_MAX_SIDE || h->n < 1 ||
        h->n > ART_MAX_FRAMES || h->first > ART_MAX_FRAMES - h->n) {
        snprintf(err, errlen, "%s: header out of range: w=%u h=%u n=%u first=%u", path, h->w, h->h, h->n, h->first);
        return -1;
    }
    if (h->conv != PROTO_ALPHA_PREMULTIPLIED && h->conv != PROTO_ALPHA_STRAIGHT) {
        snprintf(err, errlen, "%s: header convention %u is not 1 or 2", path, h->conv);
        return -1;
    }
    uint64_t want = payload_bytes(h->w, h->h, h->n);
    if (h->cond > PROTO_COND_MAX || (h->cond && h->cond < PROTO_COND_HDR)) {
        snprintf(err, errlen, "%s: conditioning block of %u bytes (limit %u)", path, h->cond, PROTO_COND_MAX);
        return -1;
    }
    if (h->payload != want || file_bytes != ART_HDR_BYTES + want + h->cond) {
        snprintf(err, errlen, "%s: size mismatch: header says payload %" PRIu64 " (w*h*n*8 = %" PRIu64
                 "), file has %" PRIu64 " bytes, expected %" PRIu64, path, h->payload, want, file_bytes,
                 (uint64_t)ART_HDR_BYTES + want);
        return -1;
    }
    return 0;
}

/* ---- I/O helpers ---- */

static int write_all(int fd, const void *p, size_t n, proto_sha256_t *sha)
{
    const uint8_t *b = p;
    if (sha) proto_sha256_update(sha, p, n);
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = ENOSPC; return -1; }
        b += w; n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) { errno = EIO; return -1; }         /* file shrank under us */
        b += r; n -= (size_t)r;
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void to_hex(const uint8_t d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) { out[2 * i] = hx[d[i] >> 4]; out[2 * i + 1] = hx[d[i] & 15]; }
    out[64] = 0;
}

/* Streams the payload of f to fd (little-endian), feeding sha. */
static int write_payload(int fd, const proto_frames_t *f, proto_sha256_t *sha)
{
    size_t total = (size_t)f->n * (size_t)f->h * (size_t)f->w * 4, step = ART_IO_CHUNK / 2;
    if (host_is_le()) return write_all(fd, f->px, total * 2, sha);
    uint16_t *buf = malloc(step * 2);
    if (!buf) { errno = ENOMEM; return -1; }
    int rc = 0;
    for (size_t i = 0; i < total && rc == 0; i += step) {
        size_t k = total - i < step ? total - i : step;
        memcpy(buf, f->px + i, k * 2);
        samples_to_le(buf, k);
        rc = write_all(fd, buf, k * 2, sha);
    }
    free(buf);
    return rc;
}

/* ---- public API ---- */

int proto_artifact_write(const char *path, const proto_frames_t *f, proto_manifest_t *m,
                         char *err, size_t errlen)
{
    char tmp[PATH_MAX + 32];
    uint8_t hdr[ART_HDR_BYTES], digest[32];
    proto_sha256_t sha;
    const char *step = "open";
    int fd = -1, rc = -1;
    if (!f || !f->px || f->w < 1 || f->w > ART_MAX_SIDE || f->h < 1 || f->h > ART_MAX_SIDE || f->n < 1 ||
        f->n > ART_MAX_FRAMES || f->first < 0 || f->first > ART_MAX_FRAMES - f->n) {
        snprintf(err, errlen, "%s: refusing to write frames of bad shape", path);
        return -1;
    }
    if ((f->cond_len && (!f->cond || f->cond_len > PROTO_COND_MAX || f->cond_len < PROTO_COND_HDR))) {
        snprintf(err, errlen, "%s: refusing a conditioning block of %zu bytes", path, f->cond_len);
        return -1;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) goto fail;
    hdr_encode(hdr, f, PROTO_ALPHA_PREMULTIPLIED);
    proto_sha256_init(&sha);
    step = "write";
    if (write_all(fd, hdr, sizeof hdr, &sha) < 0 || write_payload(fd, f, &sha) < 0 ||
        (f->cond_len && write_all(fd, f->cond, f->cond_len, &sha) < 0))
        goto fail;
    step = "fsync";
    if (fsync(fd) < 0) goto fail;
    step = "close";
    rc = close(fd); fd = -1;
    if (rc < 0) goto fail;
    step = "rename";
    if (rename(tmp, path) < 0) goto fail;
    fsync_parent(path);                      /* best effort: the data itself is already durable */
    proto_sha256_final(&sha, digest);
    memset(m, 0, sizeof *m);
    m->first = f->first; m->n = f->n; m->w = f->w; m->h = f->h;
    m->convention = PROTO_ALPHA_PREMULTIPLIED;
    m->bytes = ART_HDR_BYTES + payload_bytes((uint32_t)f->w, (uint32_t)f->h, (uint32_t)f->n) + f->cond_len;
    to_hex(digest, m->sha256);
    return 0;
fail:
    snprintf(err, errlen, "%s: %s: %s", path, step, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
}

/* Opens path and validates its header against the file size. Returns the fd or -1. */
static int open_checked(const char *path, art_hdr_t *h, uint64_t *file_bytes, uint8_t raw[ART_HDR_BYTES],
                        char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "%s: open: %s", path, strerror(errno)); return -1; }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    *file_bytes = (uint64_t)st.st_size;
    if (*file_bytes < ART_HDR_BYTES) {
        snprintf(err, errlen, "%s: truncated: %" PRIu64 " bytes, header needs %u", path, *file_bytes, ART_HDR_BYTES);
        goto fail;
    }
    if (read_all(fd, raw, ART_HDR_BYTES) < 0) { snprintf(err, errlen, "%s: read: %s", path, strerror(errno)); goto fail; }
    if (hdr_decode(raw, *file_bytes, h, path, err, errlen) < 0) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* Reads the conditioning trailer (h->cond bytes at the current position) into a malloc'd *out and
 * checks it is a well-formed blob (proto/cond.h). 0 ok (*out NULL when there is none), -1 with err. */
static int read_cond(int fd, const art_hdr_t *h, uint8_t **out, const char *path, char *err, size_t errlen)
{
    proto_cond_t c;
    *out = NULL;
    if (!h->cond) return 0;
    uint8_t *b = malloc(h->cond);
    if (!b) { snprintf(err, errlen, "%s: out of memory for the conditioning block", path); return -1; }
    if (read_all(fd, b, h->cond) < 0) {
        snprintf(err, errlen, "%s: read conditioning block: %s", path, strerror(errno));
        free(b);
        return -1;
    }
    char e2[200];
    if (proto_cond_decode(b, h->cond, &c, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "%s: %s", path, e2);
        free(b);
        return -1;
    }
    proto_cond_free(&c);
    *out = b;
    return 0;
}

static void fill_manifest(proto_manifest_t *m, const art_hdr_t *h, uint64_t bytes, const uint8_t d[32])
{
    memset(m, 0, sizeof *m);
    m->first = (int)h->first; m->n = (int)h->n; m->w = (int)h->w; m->h = (int)h->h;
    m->convention = (int)h->conv; m->bytes = bytes;
    to_hex(d, m->sha256);
}

int proto_artifact_read(const char *path, proto_frames_t *f, proto_manifest_t *m,
                        char *err, size_t errlen)
{
    art_hdr_t h;
    uint64_t bytes;
    uint8_t raw[ART_HDR_BYTES], digest[32];
    proto_sha256_t sha;
    memset(f, 0, sizeof *f);
    int fd = open_checked(path, &h, &bytes, raw, err, errlen);
    if (fd < 0) return -1;
    if (proto_frames_alloc(f, (int)h.w, (int)h.h, (int)h.n, (int)h.first, err, errlen) < 0) goto fail;
    if (read_all(fd, f->px, (size_t)h.payload) < 0) {
        snprintf(err, errlen, "%s: read payload: %s", path, strerror(errno));
        goto fail;
    }
    if (read_cond(fd, &h, &f->cond, path, err, errlen) < 0) goto fail;
    f->cond_len = h.cond;
    close(fd);
    proto_sha256_init(&sha);
    proto_sha256_update(&sha, raw, sizeof raw);
    proto_sha256_update(&sha, f->px, (size_t)h.payload);
    if (f->cond) proto_sha256_update(&sha, f->cond, f->cond_len);
    proto_sha256_final(&sha, digest);
    samples_to_le(f->px, (size_t)h.payload / 2);
    if (m) fill_manifest(m, &h, bytes, digest);
    return 0;
fail:
    close(fd);
    proto_frames_free(f);
    return -1;
}

/* Hashes the payload from fd (positioned after the header) and reports whether any alpha < 65535. */
static int scan_payload(int fd, uint64_t payload, proto_sha256_t *sha, int *translucent)
{
    uint8_t *buf = malloc(ART_IO_CHUNK);
    if (!buf) { errno = ENOMEM; return -1; }
    int rc = 0;
    *translucent = 0;
    for (uint64_t done = 0; done < payload && rc == 0; ) {
        size_t k = payload - done < ART_IO_CHUNK ? (size_t)(payload - done) : ART_IO_CHUNK;
        rc = read_all(fd, buf, k);
        if (rc < 0) break;
        proto_sha256_update(sha, buf, k);
        for (size_t i = 6; i < k && !*translucent; i += 8)     /* chunks are multiples of 8 bytes */
            if (buf[i] != 0xff || buf[i + 1] != 0xff) *translucent = 1;
        done += k;
    }
    free(buf);
    return rc;
}

#define DIFF_INT(field, a, b) do { if ((long long)(a) != (long long)(b)) { \
    snprintf(err, errlen, "%s: %s differs: file has %lld, manifest says %lld", path, field, \
             (long long)(a), (long long)(b)); goto fail; } } while (0)

int proto_artifact_verify(const char *path, const proto_manifest_t *expect, int *all_opaque,
                          char *err, size_t errlen)
{
    art_hdr_t h;
    uint64_t bytes;
    uint8_t raw[ART_HDR_BYTES], digest[32];
    proto_sha256_t sha;
    int translucent = 0;
    int fd = open_checked(path, &h, &bytes, raw, err, errlen);
    if (fd < 0) return -1;
    DIFF_INT("bytes", bytes, expect->bytes);
    DIFF_INT("first", h.first, expect->first);
    DIFF_INT("n", h.n, expect->n);
    DIFF_INT("w", h.w, expect->w);
    DIFF_INT("h", h.h, expect->h);
    DIFF_INT("convention", h.conv, expect->convention);
    proto_sha256_init(&sha);
    proto_sha256_update(&sha, raw, sizeof raw);
    if (scan_payload(fd, h.payload, &sha, &translucent) < 0) {
        snprintf(err, errlen, "%s: read payload: %s", path, strerror(errno));
        goto fail;
    }
    uint8_t *cond = NULL;
    if (read_cond(fd, &h, &cond, path, err, errlen) < 0) goto fail;
    if (cond) proto_sha256_update(&sha, cond, h.cond);
    free(cond);
    close(fd);
    proto_manifest_t got;
    proto_sha256_final(&sha, digest);
    fill_manifest(&got, &h, bytes, digest);
    if (strcmp(got.sha256, expect->sha256) != 0) {
        snprintf(err, errlen, "%s: sha256 differs: file has %s, manifest says %.64s", path, got.sha256, expect->sha256);
        return -1;
    }
    if (all_opaque) *all_opaque = !translucent;
    return 0;
fail:
    close(fd);
    return -1;
}

/* ---- streaming reader ---- */

int proto_artifact_open(const char *path, proto_artifact_reader_t *r, char *err, size_t errlen)
{
    art_hdr_t h;
    uint64_t bytes;
    uint8_t raw[ART_HDR_BYTES];
    memset(r, 0, sizeof *r);
    int fd = open_checked(path, &h, &bytes, raw, err, errlen);
    if (fd < 0) return -1;
    r->fd = fd;
    r->m.first = (int)h.first; r->m.n = (int)h.n; r->m.w = (int)h.w; r->m.h = (int)h.h;
    r->m.convention = (int)h.conv; r->m.bytes = bytes;
    snprintf(r->path, sizeof r->path, "%s", path[0] ? path : "?");
    return 0;
}

int proto_artifact_read_frame(const proto_artifact_reader_t *r, int i, uint16_t *dst, char *err, size_t errlen)
{
    if (!r->path[0] || i < 0 || i >= r->m.n) {
        snprintf(err, errlen, "%s: frame %d outside [0, %d)", r->path, i, r->m.n);
        return -1;
    }
    size_t fb = (size_t)r->m.w * (size_t)r->m.h * 8;
    off_t off = (off_t)ART_HDR_BYTES + (off_t)fb * i;
    for (size_t done = 0; done < fb; ) {
        ssize_t k = pread(r->fd, (uint8_t *)dst + done, fb - done, off + (off_t)done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(err, errlen, "%s: read frame %d: %s", r->path, i, k < 0 ? strerror(errno) : "file shrank");
            return -1;
        }
        done += (size_t)k;
    }
    samples_to_le(dst, fb / 2);
    return 0;
}

void proto_artifact_close(proto_artifact_reader_t *r)
{
    if (r && r->path[0]) close(r->fd);
    if (r) memset(r, 0, sizeof *r);
}

/* ---- manifest text ---- */

int proto_manifest_format(const proto_manifest_t *m, char *buf, size_t len)
{
    int n = snprintf(buf, len, "first=%d n=%d w=%d h=%d conv=%d bytes=%" PRIu64 " sha256=%s",
                     m->first, m->n, m->w, m->h, m->convention, m->bytes, m->sha256);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static const char *const MF_KEYS[7] = { "first", "n", "w", "h", "conv", "bytes", "sha256" };

/* Parses one decimal value within [lo, hi]. */
static int parse_u64(const char *v, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 20) return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        if (x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10) return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int mf_set(proto_manifest_t *m, int key, const char *v, size_t n)
{
    static const uint64_t LO[6] = { 0, 1, 1, 1, 1, ART_HDR_BYTES + 8 };
    static const uint64_t HI[6] = { ART_MAX_FRAMES - 1, ART_MAX_FRAMES, ART_MAX_SIDE, ART_MAX_SIDE, 2, UINT64_MAX };
    uint64_t x;
    if (key == 6) {
        if (n != 64) return -1;
        for (size_t i = 0; i < n; i++) if (!strchr("0123456789abcdef", v[i]) || !v[i]) return -1;
        memcpy(m->sha256, v, 64); m->sha256[64] = 0;
        return 0;
    }
    if (parse_u64(v, n, LO[key], HI[key], &x) < 0) return -1;
    int *ints[5] = { &m->first, &m->n, &m->w, &m->h, &m->convention };
    if (key < 5) *ints[key] = (int)x; else m->bytes = x;
    return 0;
}

int proto_manifest_parse(const char *s, proto_manifest_t *m, char *err, size_t errlen)
{
    unsigned seen = 0;
    memset(m, 0, sizeof *m);
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *eq = strchr(s, '='), *end = strchr(s, ' ');
        if (!end) end = s + strlen(s);
        if (!eq || eq > end) { snprintf(err, errlen, "manifest: token '%.*s' has no '='", (int)(end - s), s); return -1; }
        int key = -1;
        for (int k = 0; k < 7; k++)
            if (strlen(MF_KEYS[k]) == (size_t)(eq - s) && memcmp(s, MF_KEYS[k], (size_t)(eq - s)) == 0) key = k;
        if (key < 0 || (seen >> key & 1)) {
            snprintf(err, errlen, "manifest: %s key '%.*s'", key < 0 ? "unknown" : "duplicate", (int)(eq - s), s);
            return -1;
        }
        if (mf_set(m, key, eq + 1, (size_t)(end - eq - 1)) < 0) {
            snprintf(err, errlen, "manifest: bad value for '%s': '%.*s'", MF_KEYS[key], (int)(end - eq - 1), eq + 1);
            return -1;
        }
        seen |= 1u << key;
        s = end;
    }
    for (int k = 0; k < 7; k++)
        if (!(seen >> k & 1)) { snprintf(err, errlen, "manifest: missing '%s'", MF_KEYS[k]); return -1; }
    if (m->first + m->n > ART_MAX_FRAMES) { snprintf(err, errlen, "manifest: first+n exceeds %d", ART_MAX_FRAMES); return -1; }
    return 0;
}

int proto_artifact_read_cond(const char *path, uint8_t **blob, size_t *len, char *err, size_t errlen)
{
    art_hdr_t h;
    uint64_t bytes;
    uint8_t raw[ART_HDR_BYTES];
    *blob = NULL; *len = 0;
    int fd = open_checked(path, &h, &bytes, raw, err, errlen);
    if (fd < 0) return -1;
    int rc = 0;
    if (h.cond && lseek(fd, (off_t)(ART_HDR_BYTES + h.payload), SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: seek: %s", path, strerror(errno));
        rc = -1;
    } else if (read_cond(fd, &h, blob, path, err, errlen) < 0) {
        rc = -1;
    } else {
        *len = h.cond;
    }
    close(fd);
    return rc;
}
