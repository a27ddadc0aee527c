/* checksum.h — content checksums for artifacts (SHA-256, hex in manifests) and transfer chunks (CRC-32C).
 * Pure functions, no I/O except proto_sha256_file. */
#ifndef PROTO_CHECKSUM_H
#define PROTO_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>

typedef struct { uint32_t s[8]; uint64_t nbytes; uint8_t buf[64]; size_t nbuf; } proto_sha256_t;

void     proto_sha256_init(proto_sha256_t *c);
void     proto_sha256_update(proto_sha256_t *c, const void *data, size_t n);
void     proto_sha256_final(proto_sha256_t *c, uint8_t out[32]);
/* out_hex receives 64 lowercase hex chars + NUL. */
void     proto_sha256_hex(const void *data, size_t n, char out_hex[65]);
/* SHA-256 of a whole file; 0 ok, -1 with err (names the path). */
int      proto_sha256_file(const char *path, char out_hex[65], char *err, size_t errlen);
/* CRC-32C (Castagnoli), as used per RESULT chunk. crc = proto_crc32c(0, p, n) for one buffer. */
uint32_t proto_crc32c(uint32_t crc, const void *data, size_t n);

#endif
