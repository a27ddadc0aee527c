/* test_t5_golden.c — the C T5 v1.1 encoder (worker/model/t5.h) against transformers'
 * T5EncoderModel on the committed tiny random model (tests/golden/t5/, written by
 * tests/reference/gen_t5.py): outputs within 1e-4 of the largest reference magnitude, for 3 prompts
 * at L = 226 (pads attended) and 2 at L = 9; the relative-position buckets equal torch's; streamed
 * weights, a single-file and a BF16 copy, the embedding cache, and the load errors (missing tensor,
 * wrong shape, config that does not match the weights, bad ids). Run from the repository root. */
#include "tests/test.h"

#include "worker/model/safetensors.h"
#include "worker/model/t5.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLD "tests/golden/t5"

typedef struct {
    int32_t ids_main[3 * 226], ids_short[2 * 9];
    float   out_main[3 * 226 * 64], out_short[2 * 9 * 64];
    int64_t buckets[601];
} gold_t;

static gold_t G;

static int read_ids(const wrk_st_t *st, const char *name, int32_t *dst, int B, int L)
{
    int64_t shape[2] = { B, L }, tmp[3 * 226];
    char err[256];
    if (wrk_st_read_i64(st, name, 2, shape, tmp, (int64_t)B * L, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        return -1;
    }
    for (int i = 0; i < B * L; i++) dst[i] = (int32_t)tmp[i];
    return 0;
}

static int load_gold(void)
{
    wrk_st_t *st = NULL;
    char err[256];
    int64_t sm[3] = { 3, 226, 64 }, ss[3] = { 2, 9, 64 }, sb = 601;
    int rc = -1;
    if (wrk_st_open(GOLD "/cases.safetensors", &st, err, sizeof err)) { fprintf(stderr, "  %s\n", err); return -1; }
    if (read_ids(st, "ids_main", G.ids_main, 3, 226) || read_ids(st, "ids_short", G.ids_short, 2, 9) ||
        wrk_st_read_f32(st, "out_main", 3, sm, G.out_main, 3 * 226 * 64, err, sizeof err) ||
        wrk_st_read_f32(st, "out_short", 3, ss, G.out_short, 2 * 9 * 64, err, sizeof err) ||
        wrk_st_read_i64(st, "buckets", 1, &sb, G.buckets, 601, err, sizeof err))
        fprintf(stderr, "  golden: %s\n", err);
    else
        rc = 0;
    wrk_st_close(&st);
    return rc;
}

static float max_abs(const float *a, long n)
{
    float m = 0;
    for (long i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

/* Encodes both golden cases with t5 and compares at 1e-4 (or tol) of the largest |reference|. */
static void check_outputs(wrk_t5_t *t5, const char *what, double tol)
{
    static float out[3 * 226 * 64];
    char err[256];
    CHECKF(wrk_t5_encode(t5, G.ids_main, 3, 226, out, err, sizeof err) == 0, "%s: %s", what, err);
    double atol = tol * max_abs(G.out_main, 3 * 226 * 64);
    CHECKF(t_allclose(what, out, G.out_main, 3 * 226 * 64, atol, 0), "%s: main (atol %.3g)", what, atol);
    fprintf(stderr, "  %s: L=226 max |diff| / max |ref| = %.2e\n", what,
            max_diff(out, G.out_main, 3 * 226 * 64) / max_abs(G.out_main, 3 * 226 * 64));
    CHECKF(wrk_t5_encode(t5, G.ids_short, 2, 9, out, err, sizeof err) == 0, "%s: %s", what, err);
    atol = tol * max_abs(G.out_short, 2 * 9 * 64);
    CHECKF(t_allclose(what, out, G.out_short, 2 * 9 * 64, atol, 0), "%s: short (atol %.3g)", what, atol);
}

static void test_buckets(void)
{
    int bad = 0;
    for (int r = -300; r <= 300; r++)
        if (wrk_t5_bucket(r, 32, 128) != G.buckets[r + 300]) {
            if (bad++ < 5) fprintf(stderr, "  bucket(%d) = %d, torch %lld\n", r, wrk_t5_bucket(r, 32, 128),
                                   (long long)G.buckets[r + 300]);
        }
    CHECK_EQ_INT(bad, 0);
}

static void test_golden_resident_and_streamed(void)
{
    for (int stream = 0; stream < 2; stream++) {
        wrk_t5_opts_t o = { .stream_weights = stream, .cache_entries = -1 };
        wrk_t5_t *t5 = NULL;
        char err[256], line[256];
        CHECKF(wrk_t5_load(GOLD, &o, &t5, err, sizeof err) == 0, "load: %s", err);
        if (!t5) continue;
        wrk_t5_str(t5, line, sizeof line);
        fprintf(stderr, "  %s\n", line);
        CHECK_EQ_INT(wrk_t5_config(t5)->num_layers, 2);
        CHECK_EQ_INT(wrk_t5_config(t5)->vocab_size, 1300);
        check_outputs(t5, stream ? "streamed" : "resident", 1e-4);
        wrk_t5_destroy(&t5);
        CHECK(t5 == NULL);
    }
}

static void test_cache(void)
{
    static float a[3 * 226 * 64], b[3 * 226 * 64];
    int32_t ids[3 * 226];
    wrk_t5_t *t5 = NULL;
    char err[256];
    long hits, misses;
    CHECKF(wrk_t5_load(GOLD "/text_encoder", NULL, &t5, err, sizeof err) == 0, "%s", err);
    if (!t5) return;
    CHECK(wrk_t5_encode(t5, G.ids_main, 3, 226, a, err, sizeof err) == 0);
    wrk_t5_cache_stats(t5, &hits, &misses);
    CHECK(hits == 0 && misses == 3);
    /* rows 2, 0, 2: every row from the cache, in the new order */
    memcpy(ids, G.ids_main + 2 * 226, 226 * sizeof *ids);
    memcpy(ids + 226, G.ids_main, 226 * sizeof *ids);
    memcpy(ids + 452, G.ids_main + 2 * 226, 226 * sizeof *ids);
    CHECK(wrk_t5_encode(t5, ids, 3, 226, b, err, sizeof err) == 0);
    wrk_t5_cache_stats(t5, &hits, &misses);
    CHECK(hits == 3 && misses == 3);
    CHECK(!memcmp(b, a + 2 * 226 * 64, 226 * 64 * 4) && !memcmp(b + 226 * 64, a, 226 * 64 * 4) &&
          !memcmp(b + 452 * 64, a + 2 * 226 * 64, 226 * 64 * 4));
    /* after clearing: a duplicated row in one batch is computed once (the same bytes in both rows;
     * other batch sizes may round differently, so only close to the first result) */
    wrk_t5_cache_clear(t5);
    CHECK(wrk_t5_encode(t5, ids, 3, 226, b, err, sizeof err) == 0);
    wrk_t5_cache_stats(t5, &hits, &misses);
    CHECK(hits == 4 && misses == 5);
    CHECK(!memcmp(b + 452 * 64, b, 226 * 64 * 4));
    CHECK(t_allclose("recomputed", b, a + 2 * 226 * 64, 226 * 64, 1e-5, 1e-5));
    ids[5] = 1300;
    CHECK(wrk_t5_encode(t5, ids, 3, 226, b, err, sizeof err) == -1 && strstr(err, "1300"));
    ids[5] = -1;
    CHECK(wrk_t5_encode(t5, ids, 3, 226, b, err, sizeof err) == -1);
    CHECK(wrk_t5_encode(t5, ids, 0, 226, b, err, sizeof err) == -1);
    wrk_t5_destroy(&t5);
}

/* ---- modified copies of the golden model in a temp folder ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    if (f && buf) buf[fread(buf, 1, (1 << 16) - 1, f)] = 0;
    if (f) fclose(f);
    return buf;
}

static void replace(char *s, const char *from, const char *to)
{
    char *p = strstr(s, from), tmp[1 << 16];
    if (!p) return;
    snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    strcpy(s, tmp);
}

/* Writes dir/config.json (golden with one text replacement) and dir/model.safetensors holding every
 * golden tensor except `drop`, in dtype dt; shared.weight is stored as encoder.embed_tokens.weight
 * when `embed_tokens` is set. 0 / -1. */
static int make_copy_ex(const char *dir, const char *drop, wrk_st_dtype_t dt, const char *from, const char *to,
                        int embed_tokens)
{
    wrk_st_t *st = NULL;
    char err[256], path[512], *cfg = slurp(GOLD "/text_encoder/config.json");
    int rc = -1, n = 0;
    wrk_st_wtensor_t w[64];
    void *bufs[64] = { 0 };
    FILE *f;
    mkdir(dir, 0755);
    if (!cfg || wrk_st_open(GOLD "/text_encoder", &st, err, sizeof err)) goto out;
    replace(cfg, from, to);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(f = fopen(path, "w"))) goto out;
    fputs(cfg, f);
    fclose(f);
    for (int i = 0; i < wrk_st_count(st) && n < 64; i++) {
        const wrk_st_tensor_t *t = wrk_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        float *x = malloc((size_t)t->numel * 4);
        uint16_t *h = malloc((size_t)t->numel * 2);
        bufs[n] = dt == WRK_ST_BF16 ? (void *)h : (void *)x;
        if (!x || !h || wrk_st_read_f32(st, t->name, 0, NULL, x, t->numel, err, sizeof err)) { free(x); free(h); goto out; }
        for (int64_t j = 0; j < t->numel; j++) h[j] = wrk_st_f32_to_bf16(x[j]);
        if (dt == WRK_ST_BF16) free(x); else free(h);
        w[n] = (wrk_st_wtensor_t){ .name = t->name, .dtype = dt, .ndim = t->ndim, .data = bufs[n] };
        if (embed_tokens && !strcmp(t->name, "shared.weight")) w[n].name = "encoder.embed_tokens.weight";
        memcpy(w[n].shape, t->shape, sizeof t->shape);
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = wrk_st_write(path, n, w, err, sizeof err);
out:
    if (rc) fprintf(stderr, "  make_copy %s: %s\n", dir, err);
    for (int i = 0; i < n; i++) free(bufs[i]);
    wrk_st_close(&st);
    free(cfg);
    return rc;
}

static int make_copy(const char *dir, const char *drop, wrk_st_dtype_t dt, const char *from, const char *to)
{
    return make_copy_ex(dir, drop, dt, from, to, 0);
}

/* Both loading modes must refuse the folder at load time with an error naming n1 (and n2). */
static void expect_load_error(const char *dir, const char *n1, const char *n2)
{
    for (int stream = 0; stream < 2; stream++) {
        wrk_t5_opts_t o = { .stream_weights = stream };
        wrk_t5_t *t5 = NULL;
        char err[512] = "";
        CHECKF(wrk_t5_load(dir, &o, &t5, err, sizeof err) == -1 && !t5, "%s loaded (stream %d)", dir, stream);
        CHECKF(strstr(err, n1) && (!n2 || strstr(err, n2)), "stream %d: error \"%s\" lacks \"%s\" / \"%s\"",
               stream, err, n1, n2 ? n2 : "");
        wrk_t5_destroy(&t5);
    }
}

static void test_copies_and_errors(void)
{
    char root[] = "/tmp/test_t5_XXXXXX", d[600], cmd[700], err[256];
    wrk_t5_t *t5 = NULL;
    const char *wo1 = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    CHECK(mkdtemp(root) != NULL);
    /* a single-file fp32 copy under a pipeline root: identical outputs */
    snprintf(d, sizeof d, "%s/pipe", root);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/pipe/text_encoder", root);
    CHECK(make_copy(d, NULL, WRK_ST_F32, "", "") == 0);
    snprintf(d, sizeof d, "%s/pipe", root);
    CHECKF(wrk_t5_load(d, NULL, &t5, err, sizeof err) == 0, "%s", err);
    if (t5) check_outputs(t5, "single-file", 1e-4);
    wrk_t5_destroy(&t5);
    /* BF16 weights (as the released checkpoint): load, run, and stay near the fp32 reference */
    snprintf(d, sizeof d, "%s/bf16", root);
    CHECK(make_copy(d, NULL, WRK_ST_BF16, "", "") == 0);
    CHECKF(wrk_t5_load(d, NULL, &t5, err, sizeof err) == 0, "%s", err);
    if (t5) check_outputs(t5, "bf16", 5e-2);
    wrk_t5_destroy(&t5);
    /* the embedding under its tied name only (shared.weight absent): same outputs */
    snprintf(d, sizeof d, "%s/tied", root);
    CHECK(make_copy_ex(d, NULL, WRK_ST_F32, "", "", 1) == 0);
    CHECKF(wrk_t5_load(d, NULL, &t5, err, sizeof err) == 0, "%s", err);
    if (t5) check_outputs(t5, "embed_tokens", 1e-4);
    wrk_t5_destroy(&t5);
    snprintf(d, sizeof d, "%s/noemb", root);
    CHECK(make_copy(d, "shared.weight", WRK_ST_F32, "", "") == 0);
    expect_load_error(d, "shared.weight", "encoder.embed_tokens.weight");
    snprintf(d, sizeof d, "%s/drop", root);
    CHECK(make_copy(d, wo1, WRK_ST_F32, "", "") == 0);
    expect_load_error(d, wo1, NULL);
    snprintf(d, sizeof d, "%s/dff", root);
    CHECK(make_copy(d, NULL, WRK_ST_F32, "\"d_ff\": 128", "\"d_ff\": 96") == 0);
    expect_load_error(d, "model.safetensors", "DenseReluDense.wi_0");
    snprintf(d, sizeof d, "%s/layers", root);
    CHECK(make_copy(d, NULL, WRK_ST_F32, "\"num_layers\": 2", "\"num_layers\": 1") == 0);
    expect_load_error(d, "num_layers", "encoder.block.1");
    snprintf(d, sizeof d, "%s/relu", root);
    CHECK(make_copy(d, NULL, WRK_ST_F32, "\"gated-gelu\"", "\"relu\"") == 0);
    expect_load_error(d, "config.json", "feed_forward_proj");
    snprintf(d, sizeof d, "%s/vocab", root);
    CHECK(make_copy(d, NULL, WRK_ST_F32, "\"vocab_size\": 1300", "\"vocab_size\": 1301") == 0);
    expect_load_error(d, "shared.weight", NULL);
    snprintf(d, sizeof d, "%s/none", root);
    expect_load_error(d, d, "config.json");
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    if (load_gold()) { fprintf(stderr, "cannot read " GOLD "/cases.safetensors\n"); return 1; }
    T_RUN(test_buckets);
    T_RUN(test_golden_resident_and_streamed);
    T_RUN(test_cache);
    T_RUN(test_copies_and_errors);
    T_DONE();
}
