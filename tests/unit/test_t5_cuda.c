/* test_t5_cuda.c — the T5 encoder on CUDA: the ops T5 adds to the backend (attention_relbias, add, mul)
 * against the CPU ops on random inputs, and the tiny golden T5 (tests/golden/t5, transformers'
 * output) encoded on the GPU with fp32 (TF32 GEMM) and bf16 device weights, resident and streamed,
 * with the device memory released after each encode (or on wrk_t5_release_device when kept), and a
 * random-weight encoder on the GPU against the same encoder on the CPU.
 * Tolerances: fp32 ops 1e-5 relative L2; model outputs 1e-2 (TF32) / 2e-2 (bf16) relative L2; the
 * max error relative to the largest reference magnitude is printed.
 * Without a GPU the model checks run on a copy of the CPU backend table (which takes every
 * "device" code path: uploads, bf16 weights, streaming, release) and the program then exits 77
 * with "skip: no CUDA device visible"; a failed check exits 1 either way. Run from the repo root.
 */
#include "tests/test.h"

#include <stdint.h>

#include "kernels/k.h"
#ifdef HAVE_CUDA
#include "kernels/k_cuda.h"
#endif
#include "worker/model/safetensors.h"
#include "worker/model/t5.h"

#define GOLD "tests/golden/t5"
#define BT_SEED 0x5eed5eed12345678ull
#include "tests/unit/backend_test.h"

static k_backend_t host_dev;         /* CPU table under another identity: the device code paths on the host */

/* ---- ops ---- */

static void relbias_case(int B, int L, int H, int hd, float scale)
{
    int ld = H * hd + 3;
    long bs = (long)L * ld + 5;
    size_t n = (size_t)B * bs, np = (size_t)H * (2 * L - 1);
    float *q = hrand(n, 1), *k = hrand(n, 1), *v = hrand(n, 1), *pb = hrand(np, 2), *o = calloc(n, sizeof(float));
    float *dq = dev(q, n), *dk = dev(k, n), *dv = dev(v, n), *dpb = dev(pb, np), *dout = dev(o, n);
    CHECKF(kb->attention_relbias(dout, dq, dk, dv, ld, bs, B, L, H, hd, scale, dpb) == 0, "%s", k_error());
    CHECK(k_cpu_attention_relbias(o, q, k, v, ld, bs, B, L, H, hd, scale, pb) == 0);
    float *got = host(dout, n);
    double e = rel_l2(got, o, n);
    CHECKF(e < 1e-5, "relbias B %d L %d H %d hd %d scale %g: rel err %.3g", B, L, H, hd, scale, e);
    fprintf(stderr, "  relbias B %d L %d H %d hd %d: rel L2 %.2e\n", B, L, H, hd, e);
    kb->free(dq); kb->free(dk); kb->free(dv); kb->free(dpb); kb->free(dout);
    free(q); free(k); free(v); free(pb); free(o); free(got);
}

static void test_ops(void)
{
    relbias_case(2, 37, 3, 16, 1.0f);
    relbias_case(1, 226, 4, 64, 1.0f);
    relbias_case(2, 9, 2, 20, 0.125f);
    relbias_case(1, 1, 1, 8, 1.0f);
    size_t n = 100003;
    float *a = hrand(n, 3), *b = hrand(n, 3), *y = malloc(n * sizeof(float));
    float *da = dev(a, n), *db = dev(b, n), *dy = dev(a, n);
    for (int m = 0; m < 2; m++) {
        CHECK((m ? kb->mul(dy, da, db, (long)n) : kb->add(dy, da, db, (long)n)) == 0);
        (m ? k_cpu_mul : k_cpu_add)(y, a, b, (long)n);
        float *got = host(dy, n);
        CHECKF(memcmp(got, y, n * sizeof(float)) == 0, "%s differs from the CPU", m ? "mul" : "add");
        free(got);
    }
    CHECK(kb->copy(dy, da, n * sizeof(float)) == 0);
    float *got = host(dy, n);
    CHECK(memcmp(got, a, n * sizeof(float)) == 0);
    CHECK(kb->add(dy, NULL, db, 5) == -1 && strstr(k_error(), "add"));
    CHECK(kb->attention_relbias(dy, da, db, da, 8, 64, 1, 8, 1, 8, 1.0f, NULL) == -1);
    free(got); free(a); free(b); free(y);
    kb->free(da); kb->free(db); kb->free(dy);
}

/* ---- the golden model ---- */

typedef struct { int32_t ids[3 * 226]; float out[3 * 226 * 64]; } gold_t;
static gold_t G;

static int load_gold(void)
{
    wrk_st_t *st = NULL;
    char err[256];
    int64_t shape[2] = { 3, 226 }, tmp[3 * 226], so[3] = { 3, 226, 64 };
    int rc = -1;
    if (wrk_st_open(GOLD "/cases.safetensors", &st, err, sizeof err)) { fprintf(stderr, "  %s\n", err); return -1; }
    if (!wrk_st_read_i64(st, "ids_main", 2, shape, tmp, 3 * 226, err, sizeof err) &&
        !wrk_st_read_f32(st, "out_main", 3, so, G.out, 3 * 226 * 64, err, sizeof err)) {
        for (int i = 0; i < 3 * 226; i++) G.ids[i] = (int32_t)tmp[i];
        rc = 0;
    } else {
        fprintf(stderr, "  golden: %s\n", err);
    }
    wrk_st_close(&st);
    return rc;
}

static int on_cuda(void)
{
#ifdef HAVE_CUDA
    return kb == k_backend_cuda();
#else
    return 0;
#endif
}

static size_t bytes_in_use(void)
{
#ifdef HAVE_CUDA
    if (on_cuda()) return k_cuda_bytes_in_use();
#endif
    return 0;
}

static void golden_case(int fp32, int stream, int keep)
{
    static float out[3 * 226 * 64];
    wrk_t5_opts_t o = { .stream_weights = stream, .cache_entries = -1, .kb = kb, .keep_device = keep, .device_fp32 = fp32 };
    wrk_t5_t *t5 = NULL;
    char err[512], line[300], what[64];
    snprintf(what, sizeof what, "%s%s%s", fp32 ? "fp32" : "bf16", stream ? " streamed" : "", keep ? " kept" : "");
    size_t base = bytes_in_use();
    CHECKF(wrk_t5_load(GOLD, &o, &t5, err, sizeof err) == 0, "%s: load: %s", what, err);
    if (!t5) return;
    wrk_t5_str(t5, line, sizeof line);
    fprintf(stderr, "  %s\n", line);
    CHECKF(wrk_t5_encode(t5, G.ids, 3, 226, out, err, sizeof err) == 0, "%s: %s", what, err);
    double e = rel_l2(out, G.out, 3 * 226 * 64), tol = fp32 ? 1e-2 : 2e-2;
    fprintf(stderr, "  %s: rel L2 %.2e, max |diff| / max |ref| %.2e (vs transformers)\n", what, e,
            max_rel(out, G.out, 3 * 226 * 64));
    CHECKF(e < tol, "%s: rel L2 %.3g >= %.g", what, e, tol);
    if (keep) {
        CHECKF(bytes_in_use() > base || !on_cuda(), "%s: weights not kept on the device", what);
        wrk_t5_release_device(t5);
    }
    CHECKF(bytes_in_use() == base, "%s: %zu device bytes left after the encode (%zu before)", what, bytes_in_use(), base);
    wrk_t5_destroy(&t5);
}

static void test_golden(void)
{
    golden_case(1, 0, 0);
    golden_case(0, 0, 0);
    golden_case(0, 1, 0);
    golden_case(1, 0, 1);
}

/* The same random-weight encoder on the CPU (host fp32) and on the backend (fp32 device weights). */
static void test_random(void)
{
    wrk_t5_config_t c = { .vocab_size = 500, .d_model = 96, .d_kv = 16, .num_heads = 6, .d_ff = 160, .num_layers = 3,
                          .num_buckets = 32, .max_distance = 128, .eps = 1e-6 };
    wrk_t5_opts_t oc = { .cache_entries = -1 }, od = { .cache_entries = -1, .kb = kb, .device_fp32 = 1 };
    wrk_t5_t *a = NULL, *b = NULL;
    char err[256];
    int B = 2, L = 40;
    int32_t ids[80];
    for (int i = 0; i < B * L; i++) ids[i] = (i * 37 + 11) % c.vocab_size;
    float *ya = malloc(sizeof(float) * B * L * c.d_model), *yb = malloc(sizeof(float) * B * L * c.d_model);
    CHECKF(wrk_t5_new_random(&c, 7, &oc, &a, err, sizeof err) == 0, "%s", err);
    CHECKF(wrk_t5_new_random(&c, 7, &od, &b, err, sizeof err) == 0, "%s", err);
    if (a && b) {
        CHECKF(wrk_t5_encode(a, ids, B, L, ya, err, sizeof err) == 0, "%s", err);
        CHECKF(wrk_t5_encode(b, ids, B, L, yb, err, sizeof err) == 0, "%s", err);
        double e = rel_l2(yb, ya, (size_t)B * L * c.d_model);
        fprintf(stderr, "  random weights: device vs CPU rel L2 %.2e\n", e);
        CHECKF(e < 1e-2, "random: rel L2 %.3g", e);
    }
    c.num_buckets = 3;
    wrk_t5_t *bad = NULL;
    CHECK(wrk_t5_new_random(&c, 7, &od, &bad, err, sizeof err) == -1 && !bad);
    wrk_t5_destroy(&a);
    wrk_t5_destroy(&b);
    free(ya); free(yb);
}

int main(void)
{
    int have_gpu = 0;
    if (load_gold()) { fprintf(stderr, "cannot read " GOLD "/cases.safetensors\n"); return 1; }
    if (bt_pick_backend(&host_dev, &have_gpu)) return 1;
    T_RUN(test_ops);
    T_RUN(test_golden);
    T_RUN(test_random);
#ifdef HAVE_CUDA
    if (have_gpu) k_cuda_unbind();
#endif
    if (!have_gpu && !t_fail_) {
        printf("%s: %d passed on the CPU table as a device\nskip: no CUDA device visible\n", __FILE__, t_pass_);
        return 77;
    }
    T_DONE();
}
