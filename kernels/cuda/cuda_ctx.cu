/* cuda_ctx.cu — the CUDA backend's glue: per-thread context (device, stream, cuBLASLt handle,
 * scratch), allocation with OOM reporting and byte accounting, host↔device copies, fp32↔bf16
 * buffer helpers, deterministic random fills, sync, and the k_backend_t table.
 * The ops live in cuda_elementwise.cu, cuda_gemm.cu, cuda_attention.cu. Nothing here computes a
 * model op.
 */
#include "kernels/cuda/kc_internal.cuh"

#include <cublasLt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unordered_map>

#define KC_WS_BYTES ((size_t)32 << 20)   /* cuBLASLt workspace per thread */

static thread_local kc_ctx_t kc_tls_;
static thread_local int kc_oom_;

/* Process-wide allocation accounting (frees may come from any thread). */
static pthread_mutex_t kc_mem_mu_ = PTHREAD_MUTEX_INITIALIZER;
static std::unordered_map<void *, size_t> *kc_sizes_;
static size_t kc_in_use_, kc_peak_;

int kc_fail_cuda_(const char *op, cudaError_t e, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    cudaGetLastError();                     /* clear a non-sticky error so the next launch check is clean */
    if (e == cudaErrorMemoryAllocation) kc_oom_ = 1;
    return k_fail_(op, "%s%s (%s:%d)", e == cudaErrorMemoryAllocation ? "out of memory: " : "",
                   cudaGetErrorString(e), base ? base + 1 : file, line);
}

static int kc_ctx_make_(kc_ctx_t *c, int device)
{
    const char *op = "cuda context";
    cublasLtHandle_t lt = NULL;
    *c = (kc_ctx_t){ 0 };
    c->device = device;
    KC_CHECK(op, cudaSetDevice(device));
    KC_CHECK(op, cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    KC_CHECK(op, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    cublasStatus_t s = cublasLtCreate(&lt);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c->stream);
        return k_fail_(op, "cublasLtCreate: %s", cublasGetStatusString(s));
    }
    c->lt = lt;
    cudaError_t e = cudaMalloc(&c->ws, KC_WS_BYTES);
    if (e != cudaSuccess) {
        cublasLtDestroy(lt);
        cudaStreamDestroy(c->stream);
        return kc_fail_cuda_(op, e, __FILE__, __LINE__);
    }
    c->ws_bytes = KC_WS_BYTES;
    c->ready = 1;
    return 0;
}

static void kc_ctx_release_(kc_ctx_t *c)
{
    if (!c->ready) return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < 3; i++) cudaFree(c->scratch[i]);
    cudaFree(c->ws);
    cublasLtDestroy((cublasLtHandle_t)c->lt);
    cudaStreamDestroy(c->stream);
    *c = (kc_ctx_t){ 0 };
}

kc_ctx_t *kc_ctx_(const char *op)
{
    if (kc_tls_.ready) return &kc_tls_;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) { kc_fail_cuda_(op, e, __FILE__, __LINE__); return NULL; }
    return kc_ctx_make_(&kc_tls_, dev) ? NULL : &kc_tls_;
}

void *kc_scratch_(kc_ctx_t *c, int slot, size_t bytes, const char *op)
{
    if (c->scratch_bytes[slot] >= bytes) return c->scratch[slot];
    cudaFree(c->scratch[slot]);             /* implicit device sync: queued users are done */
    c->scratch[slot] = NULL;
    c->scratch_bytes[slot] = 0;
    size_t n = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    cudaError_t e = cudaMalloc(&c->scratch[slot], n);
    if (e != cudaSuccess) { c->scratch[slot] = NULL; kc_fail_cuda_(op, e, __FILE__, __LINE__); return NULL; }
    c->scratch_bytes[slot] = n;
    return c->scratch[slot];
}

/* ---------------- public: devices ---------------- */

extern "C" int k_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
    return n;
}

extern "C" int k_cuda_bind(int device, char *err, size_t errlen)
{
    if (kc_tls_.ready && kc_tls_.device == device) return 0;
    kc_ctx_release_(&kc_tls_);
    if (device < 0 || device >= k_cuda_device_count()) {
        snprintf(err, errlen, "cuda: device %d not visible (%d devices)", device, k_cuda_device_count());
        return -1;
    }
    if (kc_ctx_make_(&kc_tls_, device)) { snprintf(err, errlen, "%s", k_error()); return -1; }
    return 0;
}

extern "C" void k_cuda_unbind(void) { kc_ctx_release_(&kc_tls_); }
extern "C" int k_cuda_bound_device(void) { return kc_tls_.ready ? kc_tls_.device : -1; }
extern "C" int k_cuda_oom(void) { return kc_oom_; }

extern "C" void *k_cuda_stream(void)
{
    kc_ctx_t *c = kc_ctx_("stream");
    return c ? (void *)c->stream : NULL;
}

/* ---------------- allocation ---------------- */

static void *kc_alloc_(size_t nbytes)
{
    void *p = NULL;
    if (!kc_ctx_("alloc")) return NULL;
    size_t n = (nbytes + 255) & ~(size_t)255;
    cudaError_t e = cudaMalloc(&p, n ? n : 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (e == cudaErrorMemoryAllocation) kc_oom_ = 1;
        k_fail_("alloc", "%s%s (%.1f MiB requested, cuda_ctx.cu:%d)", e == cudaErrorMemoryAllocation ?
                "out of memory: " : "", cudaGetErrorString(e), (double)nbytes / 1048576.0, __LINE__);
        return NULL;
    }
    kc_oom_ = 0;
    pthread_mutex_lock(&kc_mem_mu_);
    if (!kc_sizes_) kc_sizes_ = new std::unordered_map<void *, size_t>();
    (*kc_sizes_)[p] = n;
    kc_in_use_ += n;
    if (kc_in_use_ > kc_peak_) kc_peak_ = kc_in_use_;
    pthread_mutex_unlock(&kc_mem_mu_);
    return p;
}

static void kc_free_(void *p)
{
    if (!p) return;
    pthread_mutex_lock(&kc_mem_mu_);
    if (kc_sizes_) {
        auto it = kc_sizes_->find(p);
        if (it != kc_sizes_->end()) { kc_in_use_ -= it->second; kc_sizes_->erase(it); }
    }
    pthread_mutex_unlock(&kc_mem_mu_);
    cudaFree(p);
}

extern "C" size_t k_cuda_bytes_in_use(void) { return kc_in_use_; }
extern "C" size_t k_cuda_bytes_peak(void) { return kc_peak_; }
extern "C" void k_cuda_reset_peak(void)
{
    pthread_mutex_lock(&kc_mem_mu_);
    kc_peak_ = kc_in_use_;
    pthread_mutex_unlock(&kc_mem_mu_);
}

/* ---------------- copies ---------------- */

/* Stream-ordered copy (after the queued ops that produce src / read dst), then wait. */
static int kc_copy_(void *dst, const void *src, size_t nbytes)
{
    const char *op = "copy";
    if (!nbytes) return 0;
    if (!dst || !src) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    KC_CHECK(op, cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, c->stream));
    KC_CHECK(op, cudaStreamSynchronize(c->stream));
    return 0;
}

static int kc_sync_(char *err, size_t errlen)
{
    if (kc_tls_.ready) {
        cudaError_t e = cudaStreamSynchronize(kc_tls_.stream);
        if (e != cudaSuccess) kc_fail_cuda_("sync", e, __FILE__, __LINE__);
    }
    return k_backend_cpu()->sync(err, errlen);   /* reports and clears this thread's pending error */
}

static void kc_set_threads_(int n) { (void)n; }

/* Host fp32 → bf16 bits, round to nearest even, NaN kept quiet. */
static uint16_t kc_f32_to_bf16_host_(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

extern "C" int k_cuda_upload_bf16(uint16_t *dst, const float *src, size_t n)
{
    enum { CH = 1 << 20 };
    if (n && (!dst || !src)) return k_fail_("upload_bf16", "NULL buffer");
    uint16_t *tmp = (uint16_t *)malloc(sizeof(uint16_t) * (n < CH ? (n ? n : 1) : CH));
    if (!tmp) return k_fail_("upload_bf16", "host out of memory");
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += CH) {
        size_t m = n - at < CH ? n - at : CH;
        for (size_t i = 0; i < m; i++) tmp[i] = kc_f32_to_bf16_host_(src[at + i]);
        rc = kc_copy_(dst + at, tmp, m * sizeof(uint16_t));
    }
    free(tmp);
    return rc;
}

extern "C" int k_cuda_download_bf16(float *dst, const uint16_t *src, size_t n)
{
    enum { CH = 1 << 20 };
    if (n && (!dst || !src)) return k_fail_("download_bf16", "NULL buffer");
    uint16_t *tmp = (uint16_t *)malloc(sizeof(uint16_t) * (n < CH ? (n ? n : 1) : CH));
    if (!tmp) return k_fail_("download_bf16", "host out of memory");
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += CH) {
        size_t m = n - at < CH ? n - at : CH;
        rc = kc_copy_(tmp, src + at, m * sizeof(uint16_t));
        for (size_t i = 0; i < m && !rc; i++) {
            uint32_t u = (uint32_t)tmp[i] << 16;
            memcpy(dst + at + i, &u, 4);
        }
    }
    free(tmp);
    return rc;
}

/* ---------------- conversion and fills ---------------- */

__global__ void kc_f32_to_bf16_k(__nv_bfloat16 *dst, const float *src, long n)
{
    KC_FOR(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" int k_cuda_f32_to_bf16(uint16_t *dst, const float *src, size_t n)
{
    const char *op = "f32_to_bf16";
    if (!n) return 0;
    if (!dst || !src) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_f32_to_bf16_k<<<kc_blocks_((long)n, 256), 256, 0, c->stream>>>((__nv_bfloat16 *)dst, src, (long)n);
    KC_LAUNCHED(op);
    return 0;
}

static __device__ __forceinline__ float kc_hash_unit_(uint64_t seed, long i)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;   /* [-1, 1) */
}

__global__ void kc_fill_k(float *dst, long n, uint64_t seed, float scale)
{
    KC_FOR(i, n) dst[i] = scale * kc_hash_unit_(seed, i);
}

__global__ void kc_fill_bf16_k(__nv_bfloat16 *dst, long n, uint64_t seed, float scale)
{
    KC_FOR(i, n) dst[i] = __float2bfloat16_rn(scale * kc_hash_unit_(seed, i));
}

extern "C" int k_cuda_fill_uniform(float *dst, size_t n, uint64_t seed, float scale)
{
    const char *op = "fill_uniform";
    if (!n) return 0;
    if (!dst) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_fill_k<<<kc_blocks_((long)n, 256), 256, 0, c->stream>>>(dst, (long)n, seed, scale);
    KC_LAUNCHED(op);
    return 0;
}

extern "C" int k_cuda_fill_uniform_bf16(uint16_t *dst, size_t n, uint64_t seed, float scale)
{
    const char *op = "fill_uniform_bf16";
    if (!n) return 0;
    if (!dst) return k_fail_(op, "NULL buffer");
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    kc_fill_bf16_k<<<kc_blocks_((long)n, 256), 256, 0, c->stream>>>((__nv_bfloat16 *)dst, (long)n, seed, scale);
    KC_LAUNCHED(op);
    return 0;
}

/* ---------------- the table ---------------- */

extern "C" {
int k_cuda_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
                int M, int N, int K, float alpha, float beta, k_act_t act);
int k_cuda_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw,
                      const float *b, int M, int N, int K, float alpha, float beta, k_act_t act);
int k_cuda_layernorm(float *y, int ldy, const float *x, int ldx, int rows, int groups, int dim,
                     const float *w, const float *b, float eps);
int k_cuda_rmsnorm(float *y, int ldy, const float *x, int ldx, int rows, int dim, const float *w, float eps);
int k_cuda_gelu_tanh(float *y, const float *x, long n);
int k_cuda_silu(float *y, const float *x, long n);
int k_cuda_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                    const float *shift, const float *scale, int ldm, int B, int S, int D);
int k_cuda_gated_residual(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                          const float *gate, int ldg, int B, int S, int D);
int k_cuda_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim,
                const float *cos, const float *sin, int ldt);
int k_cuda_norm_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                         const float *w, const float *b, float eps, int split, const float *shift0,
                         const float *scale0, const float *shift1, const float *scale1, int ldm);
int k_cuda_norm_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                     const float *b, float eps, const float *cos, const float *sin, int ldt, int r0, int nr,
                     int reps);
int k_cuda_patch_embed(float *out, int ld, long bs, const float *x, int B, int F, int C, int H,
                       int W, int p, int pt, const float *w, const float *b, int D);
int k_cuda_unpatchify(float *out, const float *y, int ld, long bs, int B, int F, int C, int H,
                      int W, int p, int pt);
int k_cuda_attention(const k_attn_t *a);
int k_cuda_copy(void *dst, const void *src, size_t nbytes);
int k_cuda_add(float *y, const float *a, const float *b, long n);
int k_cuda_mul(float *y, const float *a, const float *b, long n);
int k_cuda_attention_relbias(float *o, const float *q, const float *k, const float *v, int ld, long bs,
                             int B, int L, int H, int head_dim, float scale, const float *pb);
int k_cuda_conv3d(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                  int kt, int kh, int kw, const float *wp, const float *b);
int k_cuda_groupnorm_stats(float *mean, float *rstd, const float *x, long N, int C, int G, float eps);
int k_cuda_snorm_silu(float *y, const float *x, int T, int H, int W, int C, int G, const float *mean,
                      const float *rstd, const float *gamma, const float *beta, const float *zy,
                      const float *zb, int Tz, int h, int w);
int k_cuda_resize_nearest(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi, int C);
}

static const k_backend_t kc_backend_ = {
    .name = "cuda",
    .alloc = kc_alloc_, .free = kc_free_,
    .upload = kc_copy_, .download = kc_copy_,
    .sync = kc_sync_, .set_threads = kc_set_threads_,
    .gemm = k_cuda_gemm, .layernorm = k_cuda_layernorm, .rmsnorm = k_cuda_rmsnorm,
    .gelu_tanh = k_cuda_gelu_tanh, .silu = k_cuda_silu,
    .modulate = k_cuda_modulate, .gated_residual = k_cuda_gated_residual, .norm_modulate = k_cuda_norm_modulate,
    .rope = k_cuda_rope, .norm_rope = k_cuda_norm_rope, .patch_embed = k_cuda_patch_embed, .unpatchify = k_cuda_unpatchify,
    .attention = k_cuda_attention, .gemm_bf16w = k_cuda_gemm_bf16w,
    .copy = k_cuda_copy, .add = k_cuda_add, .mul = k_cuda_mul,
    .attention_relbias = k_cuda_attention_relbias, .conv3d = k_cuda_conv3d,
    .groupnorm_stats = k_cuda_groupnorm_stats, .snorm_silu = k_cuda_snorm_silu,
    .resize_nearest = k_cuda_resize_nearest,
};

extern "C" const k_backend_t *k_backend_cuda(void) { return &kc_backend_; }
