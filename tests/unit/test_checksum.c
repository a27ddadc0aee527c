/* test_checksum.c — SHA-256 against the NIST FIPS 180-4 example vectors, CRC-32C against its standard
 * check value, incremental updates equal one-shot, and proto_sha256_file on a temp file. */
#include "tests/test.h"
#include "proto/checksum.h"
#include <stdint.h>
#include <unistd.h>

static void sha_vectors(void)
{
    char hex[65];
    proto_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    proto_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    proto_sha256_hex(m2, strlen(m2), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m4 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                     "klmnopqrlmnopqrsmnopqrstnopqrstu";
    proto_sha256_hex(m4, strlen(m4), hex);
    CHECK_STR(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void sha_million_a(void)
{
    proto_sha256_t c;
    uint8_t d[32], chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    proto_sha256_init(&c);
    for (int i = 0; i < 1000; i++) proto_sha256_update(&c, chunk, sizeof chunk);
    proto_sha256_final(&c, d);
    static const uint8_t want[32] = { 0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
        0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39,
        0xcc, 0xc7, 0x11, 0x2c, 0xd0 };
    CHECK(memcmp(d, want, 32) == 0);
}

static void sha_incremental(void)
{
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= 200; n += 13) {
        char one[65]; uint8_t d[32]; char two[65];
        proto_sha256_hex(data, n, one);
        proto_sha256_t c; proto_sha256_init(&c);
        for (size_t i = 0; i < n; i += 5) proto_sha256_update(&c, data + i, n - i < 5 ? n - i : 5);
        proto_sha256_final(&c, d);
        static const char hx[] = "0123456789abcdef";
        for (int i = 0; i < 32; i++) { two[2 * i] = hx[d[i] >> 4]; two[2 * i + 1] = hx[d[i] & 15]; }
        two[64] = 0;
        CHECK_STR(one, two);
    }
}

static void sha_file(void)
{
    char path[] = "/tmp/test_checksum_XXXXXX", hex[65], err[256];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "abc", 3) == 3);
    close(fd);
    CHECK(proto_sha256_file(path, hex, err, sizeof err) == 0);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    CHECK(proto_sha256_file(path, hex, err, sizeof err) == -1);
    CHECK(strstr(err, path) != NULL);
}

static void crc_vectors(void)
{
    CHECK_EQ_INT(proto_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(proto_crc32c(0, "", 0), 0);
    uint8_t z[32] = { 0 };
    CHECK_EQ_INT(proto_crc32c(0, z, 32), 0x8A9136AAu);   /* RFC 3720 B.4: 32 bytes of zeros */
    uint8_t ff[32]; memset(ff, 0xff, 32);
    CHECK_EQ_INT(proto_crc32c(0, ff, 32), 0x62A8AB43u);  /* RFC 3720 B.4: 32 bytes of 0xff */
    uint32_t c = proto_crc32c(0, "1234", 4);
    CHECK_EQ_INT(proto_crc32c(c, "56789", 5), 0xE3069283u);
}

int main(void)
{
    T_RUN(sha_vectors);
    T_RUN(sha_million_a);
    T_RUN(sha_incremental);
    T_RUN(sha_file);
    T_RUN(crc_vectors);
    T_DONE();
}
