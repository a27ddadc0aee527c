/* cuda_gemm.cu — y = act(alpha·x·wᵀ + beta·y + b) on cuBLASLt (k.h contract, device pointers).
 * gemm:       fp32 x, fp32 w → TF32 tensor cores, fp32 accumulate (small GEMMs: time/adaLN/proj).
 * gemm_bf16w: fp32 x is rounded to bf16 one row chunk at a time (bounded scratch), bf16 w, fp32
 *             accumulate, fp32 y — the big GEMMs (q/k/v, to_out, FFN).
 * Bias and GELU-tanh run in the cuBLASLt epilogue (BIAS, GELU_BIAS), which applies them after
 * alpha·AB + beta·C, the CPU op's order; SiLU has no epilogue and takes one extra pass, and so do
 * bias/GELU when cuBLASLt offers no fused kernel for the case (checked per call through the heuristic).
 * Row-major y = x·wᵀ is column-major yᵀ = w·xᵀ: A = w (K×N col-major, ldw, transposed),
 * B = x (K×M col-major, ldx), D = yᵀ (N×M col-major, ldy); m = N, n = M, k = K; the bias runs along
 * D's rows = N. Alignment preferences are set from the real pointers and strides, so column slices
 * (odd offsets) get a slower but valid kernel instead of a wrong one. Verified on an H100 (test_cuda_ops).
 */
#include "kernels/cuda/kc_internal.cuh"

#include <cublasLt.h>

#define KC_BF16_SCRATCH ((size_t)128 << 20)   /* bytes of bf16 x per chunk */

static int kc_lt_fail_(const char *op, cublasStatus_t s, int line)
{
    return k_fail_(op, "cuBLASLt: %s (cuda_gemm.cu:%d)", cublasGetStatusString(s), line);
}
#define KC_LT(op, call) do { cublasStatus_t kc_s_ = (call); \
    if (kc_s_ != CUBLAS_STATUS_SUCCESS) { rc = kc_lt_fail_((op), kc_s_, __LINE__); goto out; } } while (0)

/* Largest power of two <= 256 dividing the address and the row pitch in bytes. */
static uint32_t kc_align_(const void *p, long ld_bytes)
{
    uintptr_t v = (uintptr_t)p | (uintptr_t)ld_bytes | 256u;
    return (uint32_t)(v & (~v + 1));
}

typedef struct {
    cudaDataType_t ab;            /* CUDA_R_32F (TF32) or CUDA_R_16BF */
    cublasComputeType_t compute;
    const void *w; int ldw;       /* (N, K) */
    const void *x; int ldx;       /* (M, K) */
    float *y; int ldy;            /* (M, N) */
    const float *b;               /* (N) or NULL */
    int M, N, K;
    float alpha, beta;
    k_act_t act;                  /* NONE or GELU_TANH (fused); SiLU is applied by the caller */
} kc_mm_t;

/* y (M, N) = act(y + b) row by row: the epilogue when cuBLASLt has no fused kernel for it. */
__global__ void kc_bias_act_k(float *y, int ldy, const float *b, int N, long n, int act)
{
    KC_FOR(i, n) {
        float *p = y + (i / N) * ldy + i % N;
        float v = *p + (b ? b[i % N] : 0.0f);
        if (act == K_ACT_GELU_TANH) v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        *p = v;
    }
}

static int kc_bias_act_(kc_ctx_t *c, float *y, int ldy, const float *b, int M, int N, k_act_t act)
{
    long n = (long)M * N;
    kc_bias_act_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(y, ldy, b, N, n, (int)act);
    KC_LAUNCHED("gemm epilogue");
    return 0;
}

static int kc_matmul_(kc_ctx_t *c, const kc_mm_t *g, const char *op)
{
    int rc = -1, found = 0, unfused = 0;
    cudaDataType_t bias_type = CUDA_R_32F;
    size_t es = g->ab == CUDA_R_16BF ? 2 : 4;
    cublasLtMatmulDesc_t d = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = g->b ? (g->act == K_ACT_GELU_TANH ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                  : (g->act == K_ACT_GELU_TANH ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
    uint32_t al_a = kc_align_(g->w, (long)g->ldw * es), al_b = kc_align_(g->x, (long)g->ldx * es);
    uint32_t al_c = kc_align_(g->y, (long)g->ldy * 4);
    size_t ws = c->ws_bytes;
    KC_LT(op, cublasLtMatmulDescCreate(&d, g->compute, CUDA_R_32F));
    KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (g->b) {
        KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->b, sizeof g->b));
        KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
    }
    KC_LT(op, cublasLtMatrixLayoutCreate(&la, g->ab, g->K, g->N, g->ldw));
    KC_LT(op, cublasLtMatrixLayoutCreate(&lb, g->ab, g->K, g->M, g->ldx));
    KC_LT(op, cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, g->N, g->M, g->ldy));
    KC_LT(op, cublasLtMatmulPreferenceCreate(&pref));
    KC_LT(op, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    KC_LT(op, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    KC_LT(op, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    KC_LT(op, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
    KC_LT(op, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    if (cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)c->lt, d, la, lb, lc, lc, pref, 1, &heur, &found) !=
            CUBLAS_STATUS_SUCCESS || found < 1) {
        /* no kernel with this epilogue (bias type, alignment): plain matmul, then bias/act pass */
        epi = CUBLASLT_EPILOGUE_DEFAULT;
        unfused = g->b || g->act != K_ACT_NONE;
        KC_LT(op, cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        KC_LT(op, cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)c->lt, d, la, lb, lc, lc, pref, 1, &heur, &found));
    }
    if (found < 1) { rc = k_fail_(op, "cuBLASLt: no algorithm for M %d N %d K %d", g->M, g->N, g->K); goto out; }
    KC_LT(op, cublasLtMatmul((cublasLtHandle_t)c->lt, d, &g->alpha, g->w, la, g->x, lb, &g->beta, g->y, lc,
                             g->y, lc, &heur.algo, c->ws, c->ws_bytes, c->stream));
    rc = unfused ? kc_bias_act_(c, g->y, g->ldy, g->b, g->M, g->N, g->act) : 0;
out:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (d) cublasLtMatmulDescDestroy(d);
    return rc;
}

/* K == 0: y = act(beta·y + b) (cuBLASLt does not take k = 0). */
__global__ void kc_gemm_k0_k(float *y, int ldy, const float *b, int N, long n, float beta, int act)
{
    KC_FOR(i, n) {
        float *p = y + (i / N) * ldy + i % N;
        float v = (beta != 0.0f ? beta * *p : 0.0f) + (b ? b[i % N] : 0.0f);
        if (act == K_ACT_GELU_TANH) v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        else if (act == K_ACT_SILU) v = v / (1.0f + expf(-v));
        *p = v;
    }
}

static int kc_gemm_check_(const char *op, const float *y, int ldy, const void *x, int ldx, const void *w,
                          int ldw, int M, int N, int K, k_act_t act)
{
    if (k_chk_mat_(op, "y", y, M, N, ldy) || k_chk_mat_(op, "x", x, M, K, ldx) ||
        k_chk_mat_(op, "w", w, N, K, ldw))
        return -1;
    if (act < 0 || act >= K_ACT_COUNT) return k_fail_(op, "unknown activation %d", (int)act);
    return 0;
}

static int kc_gemm_k0_(kc_ctx_t *c, float *y, int ldy, const float *b, int M, int N, float beta, k_act_t act)
{
    long n = (long)M * N;
    kc_gemm_k0_k<<<kc_blocks_(n, 256), 256, 0, c->stream>>>(y, ldy, b, N, n, beta, (int)act);
    KC_LAUNCHED("gemm");
    return 0;
}

int kc_gemm_f32_(kc_ctx_t *c, float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                 const float *b, int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (M == 0 || N == 0) return 0;
    if (K == 0) return kc_gemm_k0_(c, y, ldy, b, M, N, beta, act);
    kc_mm_t g = { CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, w, ldw, x, ldx, y, ldy, b, M, N, K,
                  alpha, beta, act == K_ACT_SILU ? K_ACT_NONE : act };
    if (kc_matmul_(c, &g, "gemm")) return -1;
    return act == K_ACT_SILU ? kc_act_rows_(c, y, ldy, M, N, act) : 0;
}

extern "C" int k_cuda_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                           const float *b, int M, int N, int K, float alpha, float beta, k_act_t act)
{
    if (kc_gemm_check_("gemm", y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    kc_ctx_t *c = kc_ctx_("gemm");
    return c ? kc_gemm_f32_(c, y, ldy, x, ldx, w, ldw, b, M, N, K, alpha, beta, act) : -1;
}

/* dst (m, K) contiguous bf16 = src (m, K) with row stride lds; grid = kc_rows_grid_(m, K). */
__global__ void kc_rows_to_bf16_k(__nv_bfloat16 *dst, const float *src, int lds, int K)
{
    int k = blockIdx.y * KC_ROW_T + threadIdx.x;
    if (k < K) dst[(long)blockIdx.x * K + k] = __float2bfloat16_rn(src[(long)blockIdx.x * lds + k]);
}

/* The same, 4 columns per thread (16-byte loads, 8-byte stores): K % 4 == 0, src and lds 16-byte aligned. */
__global__ void kc_rows_to_bf16x4_k(__nv_bfloat16 *dst, const float *src, int lds, int K)
{
    int k = (blockIdx.y * KC_ROW_T + threadIdx.x) * 4;
    if (k >= K) return;
    float4 v = *(const float4 *)(src + (long)blockIdx.x * lds + k);
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 u = make_uint2(*(uint32_t *)&lo, *(uint32_t *)&hi);
    *(uint2 *)(dst + (long)blockIdx.x * K + k) = u;
}

extern "C" int k_cuda_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw,
                                 const float *b, int M, int N, int K, float alpha, float beta, k_act_t act)
{
    const char *op = "gemm_bf16w";
    if (kc_gemm_check_(op, y, ldy, x, ldx, w, ldw, M, N, K, act)) return -1;
    if (M == 0 || N == 0) return 0;
    kc_ctx_t *c = kc_ctx_(op);
    if (!c) return -1;
    if (K == 0) return kc_gemm_k0_(c, y, ldy, b, M, N, beta, act);
    long chunk = (long)(KC_BF16_SCRATCH / (2 * (size_t)K));
    if (chunk < 128) chunk = 128;
    if (chunk > M) chunk = M;
    __nv_bfloat16 *xb = (__nv_bfloat16 *)kc_scratch_(c, 0, 2 * (size_t)chunk * K, op);
    if (!xb) return -1;
    for (long m0 = 0; m0 < M; m0 += chunk) {
        int m = (int)(M - m0 < chunk ? M - m0 : chunk);
        if (!kc_rows_ok_(m, K)) return k_fail_(op, "K %d over the grid limits", K);
        const float *xs = x + m0 * ldx;
        if (K % 4 == 0 && ldx % 4 == 0 && (uintptr_t)xs % 16 == 0)
            kc_rows_to_bf16x4_k<<<kc_rows_grid_(m, K / 4), KC_ROW_T, 0, c->stream>>>(xb, xs, ldx, K);
        else
            kc_rows_to_bf16_k<<<kc_rows_grid_(m, K), KC_ROW_T, 0, c->stream>>>(xb, xs, ldx, K);
        KC_LAUNCHED(op);
        kc_mm_t g = { CUDA_R_16BF, CUBLAS_COMPUTE_32F, w, ldw, xb, K, y + m0 * ldy, ldy, b, m, N, K,
                      alpha, beta, act == K_ACT_SILU ? K_ACT_NONE : act };
        if (kc_matmul_(c, &g, op)) return -1;
        if (act == K_ACT_SILU && kc_act_rows_(c, y + m0 * ldy, ldy, m, N, act)) return -1;
    }
    return 0;
}
