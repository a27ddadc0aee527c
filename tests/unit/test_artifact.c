/* test_artifact.c — window artifact file: round trip, manifest text round trip, verify against the
 * manifest (checksum, size, range, alpha/opaque), truncated file, corrupted byte, header lying about
 * its size, and atomic writes that leave no temp file on failure (rename onto a directory, a file size
 * limit standing in for a full disk, an unwritable directory). */
#include "tests/test.h"
#include "proto/artifact.h"
#include "proto/checksum.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_artifact_XXXXXX";
static char err[512];

static void fill(proto_frames_t *f, int opaque)
{
    for (int i = 0; i < f->n; i++) {
        uint16_t *p = proto_frame(f, i);
        for (int k = 0; k < f->w * f->h; k++) {
            uint16_t a = opaque ? 65535 : (uint16_t)(k * 977 + i * 31);
            p[4 * k + 0] = (uint16_t)((uint32_t)a * (uint16_t)(k * 13) / 65535);
            p[4 * k + 1] = (uint16_t)((uint32_t)a * (uint16_t)(i * 1000 + 7) / 65535);
            p[4 * k + 2] = (uint16_t)((uint32_t)a / 3);
            p[4 * k + 3] = a;
        }
    }
}

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static int count_entries(void)
{
    int n = 0; DIR *d = opendir(dir); struct dirent *e;
    while (d && (e = readdir(d))) if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static int has_tmp(void)
{
    int n = 0; DIR *d = opendir(dir); struct dirent *e;
    while (d && (e = readdir(d))) if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void round_trip(void)
{
    proto_frames_t f, g; proto_manifest_t m, m2; char p[512];
    CHECK(proto_frames_alloc(&f, 7, 5, 3, 40, err, sizeof err) == 0);
    fill(&f, 0);
    path_of(p, sizeof p, "rt.rgba");
    CHECKF(proto_artifact_write(p, &f, &m, err, sizeof err) == 0, "%s", err);
    CHECK(m.first == 40 && m.n == 3 && m.w == 7 && m.h == 5 && m.convention == PROTO_ALPHA_PREMULTIPLIED);
    CHECK_EQ_INT(m.bytes, 48 + 7 * 5 * 3 * 8);
    struct stat st; CHECK(stat(p, &st) == 0 && (uint64_t)st.st_size == m.bytes);
    char hex[65]; CHECK(proto_sha256_file(p, hex, err, sizeof err) == 0);
    CHECK_STR(hex, m.sha256);
    CHECKF(proto_artifact_read(p, &g, &m2, err, sizeof err) == 0, "%s", err);
    CHECK(g.w == 7 && g.h == 5 && g.n == 3 && g.first == 40);
    CHECK(memcmp(f.px, g.px, (size_t)7 * 5 * 3 * 8) == 0);
    CHECK_STR(m2.sha256, m.sha256);
    int opaque = -1;
    CHECKF(proto_artifact_verify(p, &m, &opaque, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(opaque, 0);
    CHECK_EQ_INT(has_tmp(), 0);
    proto_frames_free(&g);
    fill(&f, 1);
    CHECK(proto_artifact_write(p, &f, &m, err, sizeof err) == 0);
    CHECK(proto_artifact_verify(p, &m, &opaque, err, sizeof err) == 0);
    CHECK_EQ_INT(opaque, 1);
    proto_frames_free(&f);
    unlink(p);
}

static void manifest_text(void)
{
    proto_manifest_t m = { 8, 49, 720, 480, 1, 12345, "" }, back;
    memset(m.sha256, 'a', 64); m.sha256[64] = 0; m.sha256[3] = '7';
    char buf[256];
    CHECK(proto_manifest_format(&m, buf, sizeof buf) == 0);
    CHECKF(proto_manifest_parse(buf, &back, err, sizeof err) == 0, "%s", err);
    CHECK(m.first == back.first && m.n == back.n && m.w == back.w && m.h == back.h &&
          m.convention == back.convention && m.bytes == back.bytes && strcmp(m.sha256, back.sha256) == 0);
    CHECK(proto_manifest_format(&m, buf, 20) == -1);
    static const char *bad[] = {
        "first=0 n=49 w=720 h=480 conv=1 bytes=99",                                   /* missing sha */
        "first=0 n=0 w=720 h=480 conv=1 bytes=99 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "first=0 n=1 w=720 h=480 conv=3 bytes=99 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "first=-1 n=1 w=720 h=480 conv=1 bytes=99 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "first=0 n=1 w=720 h=480 conv=1 bytes=99 sha256=" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "first=0 n=1 n=1 w=720 h=480 conv=1 bytes=99 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "first=0 n=1 w=720 h=480 conv=1 bytes=99 evil=1 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "first=0 n=1 w=720 h=480 conv=1 bytes=999999999999999999999 sha256=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(proto_manifest_parse(bad[i], &back, err, sizeof err) == -1, "accepted: %s", bad[i]);
}

/* Writes a valid artifact and returns its manifest, for the damage tests. */
static void write_sample(const char *p, proto_manifest_t *m)
{
    proto_frames_t f;
    proto_frames_alloc(&f, 4, 4, 2, 0, err, sizeof err);
    fill(&f, 0);
    CHECK(proto_artifact_write(p, &f, m, err, sizeof err) == 0);
    proto_frames_free(&f);
}

static void truncated(void)
{
    char p[512]; proto_manifest_t m; proto_frames_t g;
    path_of(p, sizeof p, "trunc.rgba");
    write_sample(p, &m);
    CHECK(truncate(p, (off_t)m.bytes - 3) == 0);
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "size mismatch") != NULL, "%s", err);
    CHECK(proto_artifact_verify(p, &m, NULL, err, sizeof err) == -1);
    CHECK(truncate(p, 20) == 0);
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "truncated") != NULL, "%s", err);
    CHECK(g.px == NULL);
    unlink(p);
}

static void patch_byte(const char *p, long off, uint8_t v)
{
    FILE *fp = fopen(p, "r+b");
    fseek(fp, off, SEEK_SET); fputc(v, fp); fclose(fp);
}

static void corrupted(void)
{
    char p[512]; proto_manifest_t m;
    path_of(p, sizeof p, "corrupt.rgba");
    write_sample(p, &m);
    patch_byte(p, 100, 0x5a);
    CHECK(proto_artifact_verify(p, &m, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "sha256") != NULL, "%s", err);
    proto_manifest_t other = m; other.first = 5;
    write_sample(p, &m);
    CHECK(proto_artifact_verify(p, &other, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "first") != NULL && strstr(err, "5") != NULL, "%s", err);
    patch_byte(p, 0, 'X');
    CHECK(proto_artifact_verify(p, &m, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "magic") != NULL, "%s", err);
    unlink(p);
}

static void header_lies(void)
{
    char p[512]; proto_manifest_t m; proto_frames_t g;
    path_of(p, sizeof p, "lies.rgba");
    write_sample(p, &m);
    patch_byte(p, 24, 200);                                  /* n: 2 -> 200, payload no longer matches */
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "size mismatch") != NULL, "%s", err);
    write_sample(p, &m);
    patch_byte(p, 19, 0x7f);                                 /* w: huge */
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "out of range") != NULL, "%s", err);
    write_sample(p, &m);
    patch_byte(p, 47, 0x01);                                 /* payload field: 2^56 more */
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    write_sample(p, &m);
    patch_byte(p, 32, 9);                                    /* convention */
    CHECK(proto_artifact_read(p, &g, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "convention") != NULL, "%s", err);
    unlink(p);
}

static void atomic_failures(void)
{
    char p[512]; proto_manifest_t m; proto_frames_t f;
    proto_frames_alloc(&f, 64, 64, 4, 0, err, sizeof err);
    fill(&f, 0);
    int before = count_entries();
    path_of(p, sizeof p, "isdir");                            /* rename onto a directory fails */
    CHECK(mkdir(p, 0755) == 0);
    CHECK(proto_artifact_write(p, &f, &m, err, sizeof err) == -1);
    CHECKF(strstr(err, "rename") != NULL, "%s", err);
    CHECK_EQ_INT(has_tmp(), 0);
    rmdir(p);
    path_of(p, sizeof p, "nodir/x.rgba");
    CHECK(proto_artifact_write(p, &f, &m, err, sizeof err) == -1);
    CHECK(strstr(err, "nodir") != NULL);
    /* a file-size limit makes write() fail with EFBIG, as a full disk would with ENOSPC */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old; lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    path_of(p, sizeof p, "full.rgba");
    int rc = proto_artifact_write(p, &f, &m, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc == -1);
    CHECKF(strstr(err, "write") != NULL, "%s", err);
    CHECK(access(p, F_OK) != 0);
    CHECK_EQ_INT(has_tmp(), 0);
    CHECK_EQ_INT(count_entries(), before);
    if (geteuid() != 0) {                                     /* root ignores directory permissions */
        chmod(dir, 0555);
        CHECK(proto_artifact_write(p, &f, &m, err, sizeof err) == -1);
        chmod(dir, 0755);
    }
    proto_frames_free(&f);
}

static void reader(void)
{
    char p[512]; proto_manifest_t m; proto_frames_t f; proto_artifact_reader_t r, z;
    uint16_t buf[6 * 3 * 4];
    proto_frames_alloc(&f, 6, 3, 4, 10, err, sizeof err);
    fill(&f, 0);
    path_of(p, sizeof p, "reader.rgba");
    CHECK(proto_artifact_write(p, &f, &m, err, sizeof err) == 0);
    CHECKF(proto_artifact_open(p, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.m.first == 10 && r.m.n == 4 && r.m.w == 6 && r.m.h == 3 && r.m.bytes == m.bytes);
    for (int i = 3; i >= 0; i--) {
        CHECK(proto_artifact_read_frame(&r, i, buf, err, sizeof err) == 0);
        CHECK(memcmp(buf, proto_frame(&f, i), sizeof buf) == 0);
    }
    CHECK(proto_artifact_read_frame(&r, 4, buf, err, sizeof err) == -1);
    CHECK(proto_artifact_read_frame(&r, -1, buf, err, sizeof err) == -1);
    proto_artifact_close(&r);
    proto_artifact_close(&r);
    memset(&z, 0, sizeof z);
    CHECK(proto_artifact_read_frame(&z, 0, buf, err, sizeof err) == -1);
    proto_artifact_close(&z);
    CHECK(truncate(p, 100) == 0);
    CHECK(proto_artifact_open(p, &r, err, sizeof err) == -1);
    proto_frames_free(&f);
    unlink(p);
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    T_RUN(round_trip);
    T_RUN(manifest_text);
    T_RUN(truncated);
    T_RUN(corrupted);
    T_RUN(header_lies);
    T_RUN(atomic_failures);
    T_RUN(reader);
    rmdir(dir);
    T_DONE();
}
