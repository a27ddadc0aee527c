/* test_dit_device.c — the DiT's device-memory path (what runs on CUDA) proved on the CPU, no GPU needed:
 *  - a GUARDED backend: the CPU ops behind a table whose alloc returns pages the host cannot touch
 *    (PROT_NONE) except inside the table's own calls (ops, upload, download); any host read or write
 *    of a workspace, weight or staging pointer by the model code is a segfault, i.e. a failed test.
 *    On it the forward (plain, anchor, every golden case) is bit-identical to the host path;
 *  - bf16 weights (the CUDA layout) on the CPU: within bf16 tolerance of fp32, and actually different;
 *  - tensor parallelism over device-style buffers (tp 2, 3: each rank its own copies) bit-identical
 *    to the host path's tp runs;
 *  - a short sampler run over the device path equals the host path's;
 *  - out of memory: a backend whose alloc fails after a budget makes the load fail with "out of
 *    memory" (no crash, nothing leaked into later loads), and a forward that needs more workspace than
 *    is left fails with "out of memory" and wrk_dit_oom() = 1, after which the model still works.
 * Run from the repository root.
 */
#include "tests/unit/dit_device_cases.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the guarded backend ---- */

#define G_MAX 4096
static struct { void *p; size_t len; } g_buf[G_MAX];
static int g_n;
static const k_backend_t *g_cpu;
static k_backend_t g_kb;
static size_t g_budget = (size_t)-1, g_used;   /* bytes alloc may still hand out (OOM tests) */

static void g_protect(int prot)
{
    for (int i = 0; i < g_n; i++)
        if (mprotect(g_buf[i].p, g_buf[i].len, prot) != 0) { perror("mprotect"); abort(); }
}

static void *g_alloc(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = (n + pg - 1) / pg * pg;
    if (!len) len = pg;
    if (g_n == G_MAX || g_used + len > g_budget) return NULL;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    g_buf[g_n].p = p;
    g_buf[g_n++].len = len;
    g_used += len;
    return p;
}

static void g_free(void *p)
{
    for (int i = 0; p && i < g_n; i++)
        if (g_buf[i].p == p) {
            munmap(p, g_buf[i].len);
            g_used -= g_buf[i].len;
            g_buf[i] = g_buf[--g_n];
            return;
        }
}

/* Every table call opens the device pages for its own duration only. */
#define G_OPEN(call) do { g_protect(PROT_READ | PROT_WRITE); int rc_ = (call); g_protect(PROT_NONE); return rc_; } while (0)
static int g_upload(void *d, const void *s, size_t n) { G_OPEN(g_cpu->upload(d, s, n)); }
static int g_download(void *d, const void *s, size_t n) { G_OPEN(g_cpu->download(d, s, n)); }
static int g_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b, int M,
                  int N, int K, float alpha, float beta, k_act_t act)
{ G_OPEN(g_cpu->gemm(y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act)); }
static int g_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, const float *b,
                        int M, int N, int K, float alpha, float beta, k_act_t act)
{ G_OPEN(g_cpu->gemm_bf16w(y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act)); }
static int g_layernorm(float *y, int ldy, const float *x, int ldx, int rows, int groups, int dim, const float *w,
                       const float *b, float eps)
{ G_OPEN(g_cpu->layernorm(y, ldy, x, ldx, rows, groups, dim, w, b, eps)); }
static int g_silu(float *y, const float *x, long n) { G_OPEN(g_cpu->silu(y, x, n)); }
static int g_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, const float *shift,
                      const float *scale, int ldm, int B, int S, int D)
{ G_OPEN(g_cpu->modulate(y, ldy, bsy, x, ldx, bsx, shift, scale, ldm, B, S, D)); }
static int g_gated_residual(float *x, int ldx, long bsx, const float *y, int ldy, long bsy, const float *gate,
                            int ldg, int B, int S, int D)
{ G_OPEN(g_cpu->gated_residual(x, ldx, bsx, y, ldy, bsy, gate, ldg, B, S, D)); }
static int g_rope(float *x, int ld, long bs, int B, int S, int H, int hd, const float *cos, const float *sin, int ldt)
{ G_OPEN(g_cpu->rope(x, ld, bs, B, S, H, hd, cos, sin, ldt)); }
static int g_norm_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                           const float *w, const float *b, float eps, int split, const float *sh0, const float *sc0,
                           const float *sh1, const float *sc1, int ldm)
{ G_OPEN(g_cpu->norm_modulate(y, ldy, bsy, x, ldx, bsx, B, S, D, w, b, eps, split, sh0, sc0, sh1, sc1, ldm)); }
static int g_norm_rope(float *x, int ld, long bs, int B, int S, int H, int hd, const float *w, const float *b,
                       float eps, const float *cos, const float *sin, int ldt, int r0, int nr, int reps)
{ G_OPEN(g_cpu->norm_rope(x, ld, bs, B, S, H, hd, w, b, eps, cos, sin, ldt, r0, nr, reps)); }
static int g_patch_embed(float *out, int ld, long bs, const float *x, int B, int F, int C, int H, int W, int p,
                         int pt, const float *w, const float *b, int D)
{ G_OPEN(g_cpu->patch_embed(out, ld, bs, x, B, F, C, H, W, p, pt, w, b, D)); }
static int g_unpatchify(float *out, const float *y, int ld, long bs, int B, int F, int C, int H, int W, int p, int pt)
{ G_OPEN(g_cpu->unpatchify(out, y, ld, bs, B, F, C, H, W, p, pt)); }
static int g_attention(const k_attn_t *a) { G_OPEN(g_cpu->attention(a)); }
static int g_gelu(float *y, const float *x, long n) { G_OPEN(g_cpu->gelu_tanh(y, x, n)); }
static int g_rmsnorm(float *y, int ldy, const float *x, int ldx, int rows, int dim, const float *w, float eps)
{ G_OPEN(g_cpu->rmsnorm(y, ldy, x, ldx, rows, dim, w, eps)); }

/* The CPU table with guarded memory: every op the DiT calls is wrapped; any other op is the CPU's and
 * would fault on guarded memory (so a new, unwrapped call in the model also fails this test). */
static const k_backend_t *guarded(void)
{
    g_cpu = k_backend_cpu();
    g_kb = *g_cpu;
    g_kb.name = "guarded";
    g_kb.alloc = g_alloc; g_kb.free = g_free; g_kb.upload = g_upload; g_kb.download = g_download;
    g_kb.gemm = g_gemm; g_kb.gemm_bf16w = g_gemm_bf16w; g_kb.layernorm = g_layernorm; g_kb.rmsnorm = g_rmsnorm;
    g_kb.silu = g_silu; g_kb.gelu_tanh = g_gelu; g_kb.modulate = g_modulate;
    g_kb.gated_residual = g_gated_residual; g_kb.rope = g_rope; g_kb.norm_rope = g_norm_rope; g_kb.norm_modulate = g_norm_modulate; g_kb.patch_embed = g_patch_embed;
    g_kb.unpatchify = g_unpatchify; g_kb.attention = g_attention;
    return &g_kb;
}

/* ---- tests ---- */

static float *run_on(const dc_case_t *c, const k_backend_t *kb, int tp, int bf16)
{
    wrk_dit_opts_t o;
    dc_opts(c, &o);
    o.backend = kb;
    o.tp = tp;
    o.bf16_weights = bf16;
    return dc_run(c, &o);
}

/* The guard itself: a host write to a guarded buffer kills the writer (checked in a child). */
static void test_guard_works(void)
{
    const k_backend_t *kb = guarded();
    float *d = kb->alloc(64 * sizeof(float)), one = 1.0f;
    CHECK(d != NULL && kb->upload(d, &one, sizeof one) == 0);   /* through the table: fine */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {                                             /* the host touching device memory */
        signal(SIGSEGV, SIG_DFL);                               /* not a sanitizer's handler */
        d[0] = 2.0f;
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child status %d: the guard did not fault", st);
    kb->free(d);
}

/* Every golden case: guarded device path = host path, bit for bit; nothing left allocated. */
static void test_guarded_cases(void)
{
    const k_backend_t *kb = guarded();
    for (int k = 0; k < DC_NCASES; k++) {
        dc_case_t c;
        if (dc_load(DC_CASES[k], &c) != 0) { CHECKF(0, "case %s", DC_CASES[k]); continue; }
        float *host = run_on(&c, NULL, 1, 0), *dev = run_on(&c, kb, 1, 0);
        CHECKF(host && dev, "%s: forward", c.name);
        if (host && dev)
            CHECKF(memcmp(host, dev, (size_t)dc_numel(&c) * sizeof(float)) == 0, "%s: device path differs, max err %g",
                   c.name, dc_max_err(dev, host, dc_numel(&c)));
        CHECKF(g_n == 0, "%s: %d device buffers left after destroy", c.name, g_n);
        free(host); free(dev);
        dc_free(&c);
    }
}

/* bf16 weights on the CPU: the CUDA weight layout, within bf16 tolerance of fp32. */
static void test_bf16_weights(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    long n = dc_numel(&c);
    float *ref = run_on(&c, NULL, 1, 0), *h16 = run_on(&c, NULL, 1, 1), *d16 = run_on(&c, guarded(), 1, 1);
    CHECK(ref && h16 && d16);
    if (ref && h16 && d16) {
        double e = dc_rel_l2(d16, ref, n);
        fprintf(stderr, "     bf16 weights vs fp32: rel L2 %.3g, max err %.3g\n", e, dc_max_err(d16, ref, n));
        CHECKF(e < 2e-2 && e > 0, "bf16 rel L2 %g (must be > 0: bf16 in use, and < 2e-2)", e);
        CHECKF(memcmp(h16, d16, (size_t)n * sizeof(float)) == 0, "bf16 host vs guarded differ");
    }
    free(ref); free(h16); free(d16);
    dc_free(&c);
}

/* TP over device-style buffers (each rank its own replicated copies) = the host path's TP. */
static void test_tp(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar_f13", &c) != 0) { CHECK(0); return; }
    for (int tp = 2; tp <= 3; tp++) {
        float *host = run_on(&c, NULL, tp, 0), *dev = run_on(&c, k_backend_cpu(), tp, 0);
        CHECKF(host && dev && memcmp(host, dev, (size_t)dc_numel(&c) * sizeof(float)) == 0,
               "tp %d: device-style buffers differ from host", tp);
        free(host); free(dev);
    }
    dc_free(&c);
}

/* The two runs: the host path (k = 0) and the guarded device-memory path (k = 1). */
static void pick_guarded(wrk_dit_opts_t *o, int k) { o->backend = k ? guarded() : NULL; }

/* Anchor forward (the anchor stream's own workspace and inputs) on guarded memory = host path. */
static void test_anchor(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    long n, na;
    float *y[2], *ya[2];
    dc_anchor_both(&c, pick_guarded, y, ya, &n, &na);
    CHECK(memcmp(y[0], y[1], (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(ya[0], ya[1], (size_t)na * sizeof(float)) == 0);
    for (int k = 0; k < 2; k++) { free(y[k]); free(ya[k]); }
    dc_free(&c);
}

/* 3 DPM steps with CFG: the device path's latents = the host path's. */
static void test_sampler(void)
{
    dc_case_t c;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    float *x[2];
    dc_sample_both(&c, 3, pick_guarded, x);
    long n = dc_numel(&c) / c.B;
    CHECK(x[0] && x[1] && memcmp(x[0], x[1], (size_t)n * sizeof(float)) == 0);
    free(x[0]); free(x[1]);
    dc_free(&c);
}

/* Out of memory: at load (class resource for the engine) and in a forward (wrk_dit_oom). */
static void test_oom(void)
{
    dc_case_t c;
    char err[1024] = "";
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    if (dc_load("5b_transpixar", &c) != 0) { CHECK(0); return; }
    dc_opts(&c, &o);
    o.backend = guarded();
    g_budget = 64 * 1024;                              /* less than the weights */
    CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == -1 && m == NULL);
    CHECKF(strstr(err, "out of memory") != NULL, "load: %s", err);
    CHECKF(g_n == 0, "%d buffers left after a failed load", g_n);
    g_budget = (size_t)-1;
    CHECKF(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0, "%s", err);
    float *ref = m ? dc_forward(m, &c) : NULL;        /* workspace for this size now allocated */
    CHECK(ref != NULL && !wrk_dit_oom(m));
    if (m && ref) {
        long n = dc_numel(&c);
        float *big = calloc((size_t)n * 4, sizeof(float)), *y = malloc((size_t)n * 4 * sizeof(float));
        g_budget = g_used;                             /* nothing more: a bigger workspace cannot come */
        int rc = wrk_dit_forward(m, c.B, c.F, 2 * c.H, 2 * c.W, big, c.L, c.text, c.t, y, err, sizeof err);
        CHECK(rc == -1 && wrk_dit_oom(m));
        CHECKF(strstr(err, "out of memory") != NULL, "forward: %s", err);
        g_budget = (size_t)-1;
        CHECK(wrk_dit_forward(m, c.B, c.F, c.H, c.W, c.x, c.L, c.text, c.t, y, err, sizeof err) == 0 && !wrk_dit_oom(m));
        CHECK(memcmp(y, ref, (size_t)n * sizeof(float)) == 0);
        free(big); free(y);
    }
    free(ref);
    wrk_dit_destroy(&m);
    CHECK(g_n == 0);
    dc_free(&c);
}

/* The backend choice of the loader: cpu by default, cuda refused clearly without a GPU. */
static void test_device_choice(void)
{
    dc_case_t c;
    char err[1024] = "";
    wrk_dit_opts_t o;
    wrk_dit_t *m = NULL;
    if (dc_load("5b_rope", &c) != 0) { CHECK(0); return; }
    dc_opts(&c, &o);
    CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0);
    if (m) {
        const wrk_dit_info_t *i = wrk_dit_info(m);
        CHECK_STR(i->backend, "cpu");
        CHECK(i->gpus == 0 && i->bf16_weights == 0 && i->device_memory == 0 && i->tp == 1);
    }
    wrk_dit_destroy(&m);
    o.tp = 0;                                          /* auto: 1 on the CPU */
    CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0 && wrk_dit_info(m)->tp == 1);
    wrk_dit_destroy(&m);
    int ngpu = 0;
    char line[256];
    k_backend_auto(&ngpu, line, sizeof line);
    if (ngpu == 0) {
        o.device = K_DEVICE_CUDA;
        CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == -1 && m == NULL);
        CHECKF(strstr(err, "device cuda requested") != NULL, "%s", err);
        o.device = K_DEVICE_AUTO;                      /* auto falls back to the CPU */
        CHECK(wrk_dit_load(c.model, &o, &m, err, sizeof err) == 0 && !strcmp(wrk_dit_info(m)->backend, "cpu"));
        wrk_dit_destroy(&m);
    }
    dc_free(&c);
}

int main(void)
{
    T_RUN(test_guard_works);
    T_RUN(test_guarded_cases);
    T_RUN(test_bf16_weights);
    T_RUN(test_tp);
    T_RUN(test_anchor);
    T_RUN(test_sampler);
    T_RUN(test_oom);
    T_RUN(test_device_choice);
    T_DONE();
}
