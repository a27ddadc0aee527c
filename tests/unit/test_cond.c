/* test_cond.c — conditioning blobs (proto/cond.h) and their trip through the artifact file: encode /
 * decode round trip, hostile blobs refused (truncated, bad magic, sizes that disagree, over the limit),
 * an artifact with a blob written, read, verified (the manifest checksum covers it) and its blob read
 * back alone; a flipped byte in the blob fails verification; artifacts without a blob unchanged. Also
 * the testcard engine's blobs (worker/testcard_cond.h): a chain tail is accepted by the next window
 * and refused by a window it does not overlap, an anchor blob only as the shot's middle frame, an
 * anchor-causal blob as [frame 0, the previous window's last frame]. */
#include "tests/test.h"
#include "proto/artifact.h"
#include "proto/cond.h"
#include "worker/testcard_cond.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_codec(void)
{
    float d[2 * 3 * 4 * 5 * 6];
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) d[i] = (float)i * 0.25f - 7;
    proto_cond_t c = { PROTO_COND_CHAIN, 2, 3, 4, 5, 6, 40, d }, back;
    uint8_t *b; size_t n; char err[256];
    CHECKF(proto_cond_encode(&c, &b, &n, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(n, PROTO_COND_HDR + sizeof d);
    CHECKF(proto_cond_decode(b, n, &back, err, sizeof err) == 0, "%s", err);
    CHECK(back.kind == c.kind && back.halves == 2 && back.frames == 3 && back.c == 4 && back.h == 5 &&
          back.w == 6 && back.first == 40 && !memcmp(back.data, d, sizeof d));
    CHECK_STR(proto_cond_kind_name(back.kind), "chain");
    proto_cond_free(&back);
    CHECK(proto_cond_decode(b, n - 1, &back, err, sizeof err) == -1);           /* truncated */
    CHECK(proto_cond_decode(b, 10, &back, err, sizeof err) == -1);
    b[0] ^= 1; CHECK(proto_cond_decode(b, n, &back, err, sizeof err) == -1); b[0] ^= 1;
    b[20] = 4; CHECK(proto_cond_decode(b, n, &back, err, sizeof err) == -1); b[20] = 3;  /* frames */
    b[12] = 9; CHECK(proto_cond_decode(b, n, &back, err, sizeof err) == -1); b[12] = 1;  /* kind */
    b[39] = 0x80; CHECK(proto_cond_decode(b, n, &back, err, sizeof err) == -1); b[39] = 0;   /* first */
    CHECK(proto_cond_decode(b, n, &back, err, sizeof err) == 0);
    proto_cond_free(&back);
    free(b);
    proto_cond_t big = { PROTO_COND_ANCHOR, 2, 16, 16, 64, 64, 0, d };            /* 8 MiB > limit */
    CHECK(proto_cond_encode(&big, &b, &n, err, sizeof err) == -1);
    proto_cond_t bad = { 7, 1, 1, 1, 1, 1, 0, d };
    CHECK(proto_cond_encode(&bad, &b, &n, err, sizeof err) == -1);
}

static void test_artifact_trailer(void)
{
    char path[] = "/tmp/test_cond_XXXXXX", err[512];
    int fd = mkstemp(path); close(fd);
    proto_frames_t f, g;
    proto_manifest_t m;
    CHECK(proto_frames_alloc(&f, 4, 3, 2, 10, err, sizeof err) == 0);
    for (size_t i = 0; i < 4 * 3 * 2 * 4; i++) f.px[i] = (uint16_t)(i * 977);
    float d[2 * 1 * 1 * 2 * 2] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    proto_cond_t c = { PROTO_COND_ANCHOR, 2, 1, 1, 2, 2, 11, d };
    CHECK(proto_cond_encode(&c, &f.cond, &f.cond_len, err, sizeof err) == 0);
    CHECKF(proto_artifact_write(path, &f, &m, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(m.bytes, 48 + 4 * 3 * 2 * 8 + f.cond_len);
    CHECKF(proto_artifact_verify(path, &m, NULL, err, sizeof err) == 0, "%s", err);
    CHECKF(proto_artifact_read(path, &g, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(g.cond_len == f.cond_len && !memcmp(g.cond, f.cond, f.cond_len) && !memcmp(g.px, f.px, 4 * 3 * 2 * 8));
    proto_frames_free(&g);
    uint8_t *blob; size_t len;
    CHECKF(proto_artifact_read_cond(path, &blob, &len, err, sizeof err) == 0, "%s", err);
    CHECK(len == f.cond_len && blob && !memcmp(blob, f.cond, len));
    free(blob);
    /* a flipped float in the blob: still well formed, but the checksum catches it */
    FILE *fp = fopen(path, "r+b");
    fseek(fp, (long)(m.bytes - 1), SEEK_SET); fputc(0x42, fp); fclose(fp);   /* 8.0f -> 32.0f */
    CHECK(proto_artifact_verify(path, &m, NULL, err, sizeof err) == -1 && strstr(err, "sha256"));
    /* a broken blob header is refused by read, verify and read_cond */
    fp = fopen(path, "r+b");
    fseek(fp, 48 + 4 * 3 * 2 * 8, SEEK_SET); fputc('X', fp); fclose(fp);
    CHECK(proto_artifact_read(path, &g, NULL, err, sizeof err) == -1);
    CHECK(proto_artifact_read_cond(path, &blob, &len, err, sizeof err) == -1);
    /* no blob: the file and its manifest are as before */
    free(f.cond); f.cond = NULL; f.cond_len = 0;
    CHECK(proto_artifact_write(path, &f, &m, err, sizeof err) == 0);
    CHECK_EQ_INT(m.bytes, 48 + 4 * 3 * 2 * 8);
    CHECK(proto_artifact_read_cond(path, &blob, &len, err, sizeof err) == 0 && !blob && len == 0);
    proto_frames_free(&f);
    unlink(path);
}

static proto_msg_t assign(const char *strategy, const char *role, int first, int n)
{
    proto_msg_t a;
    proto_msg_init(&a, PROTO_ASSIGN);
    snprintf(a.strategy, sizeof a.strategy, "%s", strategy);
    snprintf(a.role, sizeof a.role, "%s", role);
    a.seed = 9; a.width = 32; a.height = 24; a.first_frame = (uint32_t)first; a.n_frames = (uint32_t)n;
    a.shot_frames = 33; a.overlap = 2;
    return a;
}

static void test_testcard_blobs(void)
{
    char err[512];
    proto_frames_t f = { 0 };
    proto_msg_t w0 = assign("chain", "render", 0, 9), w1 = assign("chain", "render", 7, 9), w2 = assign("chain", "render", 14, 9);
    CHECKF(wrk_testcard_cond_make(&w0, &f, err, sizeof err) == 0 && f.cond, "%s", err);
    proto_msg_set_data(&w1, f.cond, f.cond_len);
    CHECKF(wrk_testcard_cond_check(&w1, err, sizeof err) == 0, "%s", err);       /* its tail is w1's head */
    proto_msg_set_data(&w2, f.cond, f.cond_len);
    CHECK(wrk_testcard_cond_check(&w2, err, sizeof err) == -1);                  /* w2 does not overlap w0 */
    proto_msg_t an = assign("anchor", "render", 0, 9);
    proto_msg_set_data(&an, f.cond, f.cond_len);
    CHECK(wrk_testcard_cond_check(&an, err, sizeof err) == -1);                  /* wrong kind */
    proto_frames_free(&f);
    proto_msg_t stage = assign("anchor", "anchor", 16, 1);
    CHECK(wrk_testcard_cond_make(&stage, &f, err, sizeof err) == 0 && f.cond);
    proto_msg_free(&an); an = assign("anchor", "render", 21, 9);
    proto_msg_set_data(&an, f.cond, f.cond_len);
    CHECKF(wrk_testcard_cond_check(&an, err, sizeof err) == 0, "%s", err);
    proto_msg_t other = assign("anchor", "render", 21, 9);
    other.seed = 10;                                                            /* another shot's frames */
    proto_msg_set_data(&other, f.cond, f.cond_len);
    CHECK(wrk_testcard_cond_check(&other, err, sizeof err) == -1);
    proto_frames_free(&f);
    proto_msg_t ind = assign("independent", "render", 0, 9);
    CHECK(wrk_testcard_cond_make(&ind, &f, err, sizeof err) == 0 && !f.cond);   /* hands on nothing */
    CHECK(wrk_testcard_cond_check(&ind, err, sizeof err) == 0);
    proto_msg_free(&w0); proto_msg_free(&w1); proto_msg_free(&w2); proto_msg_free(&an);
    proto_msg_free(&stage); proto_msg_free(&other); proto_msg_free(&ind);
}

/* anchor-causal: a window hands on [the shot's frame 0, its last frame]; the next window accepts it
 * (the last frame lies in its overlap, or just before it), a window further on, a blob of another
 * shot, one that does not start at frame 0 and a chain tail are refused; the hand-on of window 1
 * keeps frame 0 and adds its own last frame. */
static void test_testcard_causal(void)
{
    char err[512];
    proto_frames_t f = { 0 }, g = { 0 };
    proto_msg_t w0 = assign("anchor-causal", "render", 0, 9), w1 = assign("anchor-causal", "render", 7, 9),
                w2 = assign("anchor-causal", "render", 14, 9), gap = assign("anchor-causal", "render", 9, 9),
                other = assign("anchor-causal", "render", 7, 9), ch = assign("chain", "render", 0, 9);
    other.seed = 10;
    CHECKF(wrk_testcard_cond_make(&w0, &f, err, sizeof err) == 0 && f.cond, "%s", err);
    proto_cond_t c;
    CHECKF(proto_cond_decode(f.cond, f.cond_len, &c, err, sizeof err) == 0, "%s", err);
    CHECK(c.kind == PROTO_COND_ANCHOR && c.frames == 2 && c.first == 0 && c.halves == 2);
    proto_cond_free(&c);
    proto_msg_set_data(&w1, f.cond, f.cond_len);
    CHECKF(wrk_testcard_cond_check(&w1, err, sizeof err) == 0, "%s", err);       /* frame 8 is in w1 */
    proto_msg_set_data(&gap, f.cond, f.cond_len);
    CHECKF(wrk_testcard_cond_check(&gap, err, sizeof err) == 0, "%s", err);      /* frame 8 just before it */
    proto_msg_set_data(&w2, f.cond, f.cond_len);
    CHECK(wrk_testcard_cond_check(&w2, err, sizeof err) == -1 && strstr(err, "previous window's last frame"));
    proto_msg_set_data(&other, f.cond, f.cond_len);
    CHECK(wrk_testcard_cond_check(&other, err, sizeof err) == -1);
    CHECKF(wrk_testcard_cond_make(&w1, &g, err, sizeof err) == 0 && g.cond, "%s", err);
    proto_msg_set_data(&w2, g.cond, g.cond_len);
    CHECKF(wrk_testcard_cond_check(&w2, err, sizeof err) == 0, "%s", err);       /* [0, 15] */
    proto_msg_set_data(&w1, g.cond, g.cond_len);
    CHECK(wrk_testcard_cond_check(&w1, err, sizeof err) == -1);                  /* frame 15 is w1's own last */
    proto_frames_free(&g);
    CHECKF(wrk_testcard_cond_make(&ch, &g, err, sizeof err) == 0 && g.cond, "%s", err);
    proto_msg_set_data(&w2, g.cond, g.cond_len);
    CHECK(wrk_testcard_cond_check(&w2, err, sizeof err) == -1 && strstr(err, "does not fit"));   /* a chain tail */
    proto_frames_free(&f); proto_frames_free(&g);
    proto_msg_free(&w0); proto_msg_free(&w1); proto_msg_free(&w2); proto_msg_free(&gap);
    proto_msg_free(&other); proto_msg_free(&ch);
}

int main(void)
{
    T_RUN(test_codec);
    T_RUN(test_artifact_trailer);
    T_RUN(test_testcard_blobs);
    T_RUN(test_testcard_causal);
    T_DONE();
}
