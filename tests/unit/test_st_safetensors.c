/* test_st_safetensors.c — safetensors reader/writer: round trip, fp16/bf16 conversion, sliced reads,
 * sharded index directories, and corrupted files that must be rejected naming file and tensor. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test.h"
#include "worker/model/safetensors.h"

static char g_dir[256];

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

/* Writes u64 header length + header + nbytes of data (0x11 pattern). */
static void write_raw(const char *path, const char *hdr, size_t nbytes, int64_t fake_len)
{
    FILE *fp = fopen(path, "wb");
    uint64_t hl = fake_len >= 0 ? (uint64_t)fake_len : strlen(hdr);
    fwrite(&hl, 8, 1, fp);
    fwrite(hdr, 1, strlen(hdr), fp);
    for (size_t i = 0; i < nbytes; i++) fputc(0x11, fp);
    fclose(fp);
}

static void test_roundtrip(void)
{
    char p[512], err[512];
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 65504};   // (2, 3)
    int64_t ti[3] = {999, -1, 1LL << 40};
    uint16_t b16[4] = {0x3f80, 0xc000, 0x7f80, 0x0001}; // 1, -2, inf, smallest bf16 subnormal
    uint16_t h16[2] = {0x3c00, 0x0001};                 // 1, 2^-24
    wrk_st_wtensor_t w[] = {
        {"a.weight", WRK_ST_F32, 2, {2, 3}, a}, {"timestep", WRK_ST_I64, 1, {3}, ti},
        {"b\"q\\uote", WRK_ST_BF16, 2, {2, 2}, b16}, {"h", WRK_ST_F16, 1, {2}, h16},
        {"empty", WRK_ST_F32, 2, {0, 5}, NULL}, {"scalar", WRK_ST_F32, 0, {0}, a},
    };
    path_of(p, sizeof p, "rt.safetensors");
    CHECK(wrk_st_write(p, 6, w, err, sizeof err) == 0);
    wrk_st_t *st = NULL;
    CHECKF(wrk_st_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (!st) return;
    CHECK_EQ_INT(wrk_st_count(st), 6);
    const wrk_st_tensor_t *t = wrk_st_find(st, "a.weight");
    CHECK(t && t->dtype == WRK_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    float out[8] = {0};
    int64_t sh[2] = {2, 3};
    CHECK(wrk_st_read_f32(st, "a.weight", 2, sh, out, 8, err, sizeof err) == 0);
    CHECK(memcmp(out, a, sizeof a) == 0);
    int64_t oi[3];
    CHECK(wrk_st_read_i64(st, "timestep", 1, NULL, oi, 3, err, sizeof err) == 0);
    CHECK(oi[0] == 999 && oi[1] == -1 && oi[2] == (1LL << 40));
    CHECK(wrk_st_read_f32(st, "b\"q\\uote", 2, NULL, out, 8, err, sizeof err) == 0);
    CHECK(out[0] == 1 && out[1] == -2 && isinf(out[2]) && out[3] == ldexpf(1, -133));
    CHECK(wrk_st_read_f32(st, "h", 1, NULL, out, 8, err, sizeof err) == 0);
    CHECK(out[0] == 1 && out[1] == ldexpf(1, -24));
    t = wrk_st_find(st, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1);
    t = wrk_st_find(st, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0);
    /* shape mismatch names file and tensor */
    int64_t bad[2] = {3, 2};
    CHECK(wrk_st_read_f32(st, "a.weight", 2, bad, out, 8, err, sizeof err) == -1);
    CHECKF(strstr(err, "rt.safetensors") && strstr(err, "'a.weight'") && strstr(err, "[2, 3]"), "%s", err);
    CHECK(wrk_st_read_f32(st, "nope", 1, NULL, out, 8, err, sizeof err) == -1 && strstr(err, "'nope'"));
    CHECK(wrk_st_read_f32(st, "a.weight", 2, NULL, out, 5, err, sizeof err) == -1);   /* dst too small */
    CHECK(wrk_st_read_f32(st, "timestep", 1, NULL, out, 8, err, sizeof err) == -1);   /* int as float */
    wrk_st_close(&st);
    CHECK(st == NULL);
}

static void test_slices(void)
{
    char p[512], err[512];
    float m[4 * 6];   // (4, 6)
    uint16_t mb[4 * 6];
    for (int i = 0; i < 24; i++) { m[i] = (float)i; mb[i] = wrk_st_f32_to_bf16((float)i); }
    float bias[4] = {10, 11, 12, 13};
    wrk_st_wtensor_t w[] = {{"w", WRK_ST_F32, 2, {4, 6}, m}, {"wb", WRK_ST_BF16, 2, {4, 6}, mb},
                            {"bias", WRK_ST_F32, 1, {4}, bias}};
    path_of(p, sizeof p, "slice.safetensors");
    CHECK(wrk_st_write(p, 3, w, err, sizeof err) == 0);
    wrk_st_t *st = NULL;
    CHECKF(wrk_st_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (!st) return;
    float out[24];
    int64_t sh[2] = {4, 6};
    CHECK(wrk_st_read_f32_slice(st, "w", 2, sh, 1, 3, 0, -1, out, 12, err, sizeof err) == 0);   /* rows 1..2 */
    CHECK(out[0] == 6 && out[11] == 17);
    CHECK(wrk_st_read_f32_slice(st, "wb", 2, sh, 0, -1, 2, 5, out, 12, err, sizeof err) == 0);  /* cols 2..4 */
    CHECK(out[0] == 2 && out[2] == 4 && out[3] == 8 && out[11] == 22);
    CHECK(wrk_st_read_f32_slice(st, "w", 2, sh, 2, 4, 3, 6, out, 6, err, sizeof err) == 0);     /* block */
    CHECK(out[0] == 15 && out[5] == 23);
    CHECK(wrk_st_read_f32_slice(st, "bias", 1, NULL, 2, 4, 0, -1, out, 2, err, sizeof err) == 0);
    CHECK(out[0] == 12 && out[1] == 13);
    uint16_t ob[24];   /* bf16: bf16 source copied, f32 source rounded */
    CHECK(wrk_st_read_bf16_slice(st, "wb", 2, sh, 1, 3, 2, 4, ob, 4, err, sizeof err) == 0);
    CHECK(ob[0] == mb[8] && ob[1] == mb[9] && ob[2] == mb[14] && ob[3] == mb[15]);
    CHECK(wrk_st_read_bf16_slice(st, "w", 2, sh, 0, -1, 0, -1, ob, 24, err, sizeof err) == 0);
    CHECK(memcmp(ob, mb, sizeof mb) == 0);
    CHECK(wrk_st_read_bf16_slice(st, "w", 2, sh, 0, -1, 0, -1, ob, 23, err, sizeof err) == -1 && strstr(err, "'w'"));
    CHECK(wrk_st_read_f32_slice(st, "w", 2, sh, 3, 5, 0, -1, out, 24, err, sizeof err) == -1);
    CHECKF(strstr(err, "'w'") && strstr(err, "slice"), "%s", err);
    wrk_st_close(&st);
}

static void test_conversions(void)
{
    /* every f16 pattern survives f16 -> f32 -> f16 (nan stays nan) */
    int bad16 = 0, badb = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wrk_st_f16_to_f32((uint16_t)h);
        uint16_t back = wrk_st_f32_to_f16(f);
        if (isnan(f) ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad16++;
        float g = wrk_st_bf16_to_f32((uint16_t)h);
        uint16_t bb = wrk_st_f32_to_bf16(g);
        if (isnan(g) ? !isnan(wrk_st_bf16_to_f32(bb)) : bb != h) badb++;
    }
    CHECK_EQ_INT(bad16, 0);
    CHECK_EQ_INT(badb, 0);
    CHECK(wrk_st_f16_to_f32(0x0001) == ldexpf(1, -24));          /* smallest subnormal */
    CHECK(wrk_st_f16_to_f32(0x03ff) == ldexpf(1023, -24));       /* largest subnormal */
    CHECK(wrk_st_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(wrk_st_f16_to_f32(0xfc00)) && wrk_st_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(wrk_st_f16_to_f32(0x7e00)));
    CHECK(signbit(wrk_st_f16_to_f32(0x8000)) && wrk_st_f16_to_f32(0x8000) == 0);
    CHECK(wrk_st_f32_to_f16(65519.0f) == 0x7bff && wrk_st_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(wrk_st_f32_to_f16(ldexpf(1, -25)) == 0x0000);            /* tie -> even (0) */
    CHECK(wrk_st_f32_to_f16(ldexpf(3, -25)) == 0x0002);            /* 1.5 ulp -> 2 */
    CHECK(wrk_st_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);     /* tie -> even */
    CHECK(wrk_st_f32_to_f16(1.0f + ldexpf(3, -11)) == 0x3c02);
    CHECK(wrk_st_bf16_to_f32(0x0001) == ldexpf(1, -133));
    CHECK(isnan(wrk_st_bf16_to_f32(0xffc1)) && isinf(wrk_st_bf16_to_f32(0xff80)));
    CHECK(wrk_st_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80);     /* tie -> even */
    CHECK(wrk_st_f32_to_bf16(1.0f + ldexpf(3, -8)) == 0x3f82);
    CHECK(isnan(wrk_st_bf16_to_f32(wrk_st_f32_to_bf16(NAN))));
}

static void test_sharded(void)
{
    char d[512], p[600], err[512];
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    snprintf(d, sizeof d, "%s/transformer", g_dir);
    mkdir(d, 0755);
    wrk_st_wtensor_t w1[] = {{"x.a", WRK_ST_F32, 1, {2}, a}}, w2[] = {{"y.b", WRK_ST_F32, 1, {3}, b}};
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model-00001-of-00002.safetensors", d);
    CHECK(wrk_st_write(p, 1, w1, err, sizeof err) == 0);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model-00002-of-00002.safetensors", d);
    CHECK(wrk_st_write(p, 1, w2, err, sizeof err) == 0);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors.index.json", d);
    FILE *fp = fopen(p, "w");
    fputs("{\"metadata\": {\"total_size\": 20}, \"weight_map\": {"
          "\"x.a\": \"diffusion_pytorch_model-00001-of-00002.safetensors\","
          "\"y.b\": \"diffusion_pytorch_model-00002-of-00002.safetensors\"}}", fp);
    fclose(fp);
    wrk_st_t *st = NULL;
    CHECKF(wrk_st_open(d, &st, err, sizeof err) == 0, "%s", err);
    if (!st) return;
    CHECK_EQ_INT(wrk_st_count(st), 2);
    CHECK_EQ_INT(wrk_st_file_count(st), 2);
    float o[3];
    CHECK(wrk_st_read_f32(st, "y.b", 1, NULL, o, 3, err, sizeof err) == 0 && o[2] == 5);
    CHECK(strstr(wrk_st_find(st, "y.b")->file, "00002-of"));
    CHECK(strstr(wrk_st_find(st, "x.a")->file, "00001-of"));
    wrk_st_close(&st);
    /* an index that points a tensor at the wrong shard */
    fp = fopen(p, "w");
    fputs("{\"weight_map\": {\"x.a\": \"diffusion_pytorch_model-00002-of-00002.safetensors\","
          "\"y.b\": \"diffusion_pytorch_model-00002-of-00002.safetensors\"}}", fp);
    fclose(fp);
    CHECK(wrk_st_open(d, &st, err, sizeof err) == -1);
    CHECKF(strstr(err, "'x.a'") && strstr(err, "index.json"), "%s", err);
    /* an index with an empty weight_map */
    fp = fopen(p, "w");
    fputs("{\"weight_map\": {}}", fp);
    fclose(fp);
    CHECK(wrk_st_open(d, &st, err, sizeof err) == -1 && strstr(err, "weight_map"));
    /* an index naming a path outside the directory */
    fp = fopen(p, "w");
    fputs("{\"weight_map\": {\"x.a\": \"../etc/passwd\"}}", fp);
    fclose(fp);
    CHECK(wrk_st_open(d, &st, err, sizeof err) == -1 && strstr(err, "'x.a'"));
}

typedef struct { const char *what, *hdr; size_t data; int64_t fake_len; const char *tensor; } corrupt_t;

static const corrupt_t corrupt_cases[] = {
    {"truncated data", "{\"t1\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10, -1, "t1"},
    {"header length past EOF", "{\"t2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 5000, NULL},
    {"bad JSON", "{\"t3\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, -1, NULL},
    {"overlap", "{\"t4a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"t4b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1, "t4"},
    {"offset out of range", "{\"t5\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[100,108]}}", 8, -1, "t5"},
    {"shape/offset mismatch", "{\"t6\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1, "t6"},
    {"unknown dtype", "{\"t7\":{\"dtype\":\"F8_E9\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, -1, "t7"},
    {"duplicate names", "{\"t8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"t8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, -1, "t8"},
    {"hole", "{\"t9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, -1, "t9"},
    {"trailing bytes", "{\"t10\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 3, -1, NULL},
    {"negative dim", "{\"t11\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, -1, "t11"},
    {"reversed offsets", "{\"t12\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]}}", 2, -1, "t12"},
    {"unknown field", "{\"t13\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1, -1, "t13"},
    {"header not an object", "[1,2,3]", 0, -1, NULL},
    {"shape overflow", "{\"t15\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0, -1, "t15"},
    {"metadata not strings", "{\"__metadata__\":{\"format\":1}}", 0, -1, NULL},
};

static void test_corrupt(void)
{
    char p[512], err[512];
    for (size_t i = 0; i < sizeof corrupt_cases / sizeof *corrupt_cases; i++) {
        const corrupt_t *c = &corrupt_cases[i];
        path_of(p, sizeof p, "bad.safetensors");
        write_raw(p, c->hdr, c->data, c->fake_len);
        wrk_st_t *st = NULL;
        err[0] = 0;
        int rc = wrk_st_open(p, &st, err, sizeof err);
        CHECKF(rc == -1 && st == NULL, "%s: accepted", c->what);
        CHECKF(strstr(err, "bad.safetensors") != NULL, "%s: file not named: %s", c->what, err);
        if (c->tensor) CHECKF(strstr(err, c->tensor) != NULL, "%s: tensor not named: %s", c->what, err);
        fprintf(stderr, "   %-24s -> %s\n", c->what, err);
        wrk_st_close(&st);
    }
    /* a file shorter than the length field */
    path_of(p, sizeof p, "tiny.safetensors");
    FILE *fp = fopen(p, "wb");
    fputs("abc", fp);
    fclose(fp);
    wrk_st_t *st = NULL;
    CHECK(wrk_st_open(p, &st, err, sizeof err) == -1 && strstr(err, "tiny.safetensors"));
    /* a real file cut short in the middle of its data */
    float big[64] = {0};
    wrk_st_wtensor_t w[] = {{"k", WRK_ST_F32, 1, {64}, big}};
    path_of(p, sizeof p, "cut.safetensors");
    CHECK(wrk_st_write(p, 1, w, err, sizeof err) == 0);
    struct stat sb;
    stat(p, &sb);
    CHECK(truncate(p, sb.st_size - 4) == 0);
    CHECK(wrk_st_open(p, &st, err, sizeof err) == -1);
    CHECKF(strstr(err, "cut.safetensors") && strstr(err, "'k'"), "%s", err);
}

/* Random single-byte corruptions and truncations of a valid file: open either succeeds with every
 * tensor inside the file, or fails with a message; never crashes (run under ASan by `make asan`). */
static void test_fuzz(void)
{
    char p[512], err[512];
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[3] = {1, 2, 3};
    wrk_st_wtensor_t w[] = {{"alpha", WRK_ST_F32, 2, {2, 3}, a}, {"beta", WRK_ST_BF16, 1, {3}, b}};
    path_of(p, sizeof p, "fuzz.safetensors");
    CHECK(wrk_st_write(p, 2, w, err, sizeof err) == 0);
    FILE *fp = fopen(p, "rb");
    unsigned char orig[1024];
    size_t n = fread(orig, 1, sizeof orig, fp);
    fclose(fp);
    unsigned seed = 12345;
    int opened = 0, rejected = 0, bad_msg = 0, outside = 0;
    for (int it = 0; it < 3000; it++) {
        unsigned char buf[1024];
        memcpy(buf, orig, n);
        seed = seed * 1103515245u + 12345u;
        size_t pos = (seed >> 8) % n, len = n;
        buf[pos] = (unsigned char)(seed >> 20);
        if (it % 5 == 0) len = (seed >> 4) % n;
        fp = fopen(p, "wb");
        fwrite(buf, 1, len, fp);
        fclose(fp);
        wrk_st_t *st = NULL;
        err[0] = 0;
        if (wrk_st_open(p, &st, err, sizeof err) == 0) {
            opened++;
            size_t total = 0;
            for (int i = 0; i < wrk_st_count(st); i++) {
                const wrk_st_tensor_t *t = wrk_st_at(st, i);
                float tmp[64];
                total += t->nbytes;
                if (t->numel <= 64 && t->dtype <= WRK_ST_F64)   /* touches every byte of the tensor */
                    outside += wrk_st_read_f32(st, t->name, 0, NULL, tmp, 64, err, sizeof err) != 0;
            }
            outside += total > len - 8;
            wrk_st_close(&st);
        } else {
            rejected++;
            bad_msg += strstr(err, "fuzz.safetensors") == NULL;
        }
    }
    CHECKF(rejected > 1000 && opened > 0, "opened %d rejected %d", opened, rejected);
    CHECK_EQ_INT(bad_msg, 0);
    CHECK_EQ_INT(outside, 0);
}

static void test_writer_errors(void)
{
    char p[512], err[512];
    float a = 1;
    wrk_st_wtensor_t w[] = {{"d", WRK_ST_F32, 0, {0}, &a}, {"d", WRK_ST_F32, 0, {0}, &a}};
    path_of(p, sizeof p, "dup.safetensors");
    CHECK(wrk_st_write(p, 2, w, err, sizeof err) == -1 && strstr(err, "duplicate"));
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/no/such/dir/x.safetensors", g_dir);
    CHECK(wrk_st_write(p, 1, w, err, sizeof err) == -1);
}

int main(void)
{
    /* tmpfs when there is one: the writer fsyncs, which is slow on a busy disk */
    snprintf(g_dir, sizeof g_dir, "%s/test_st_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    T_RUN(test_roundtrip);
    T_RUN(test_slices);
    T_RUN(test_conversions);
    T_RUN(test_sharded);
    T_RUN(test_corrupt);
    T_RUN(test_fuzz);
    T_RUN(test_writer_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", g_dir);
    T_DONE();
}
