/* k.h — the op interface of the compute backends (CPU now, CUDA later) used by the DiT engine.
 *
 * What it is: the list of tensor ops the CogVideoX / TransPixar transformer needs (MODEL.md §1–§2),
 * with one argument convention, declared three ways:
 *   k_cpu_<op>(...)  the CPU implementation (kernels/cpu/). For simple ops it is the plain fp32 loop
 *                    and therefore the specification. GEMM and attention have a fast CPU version
 *                    here and an obviously-correct naive loop k_ref_<op>() (tests only).
 *   k_backend_t      a table of function pointers with the SAME names and argument order, so the
 *                    engine can run on whichever backend is loaded (k_backend_cpu(); CUDA later).
 * What it is not: a tensor library. There are no shapes objects, no allocator policy, no autograd.
 * Callers pass raw pointers plus sizes and strides; every tensor argument carries a shape comment.
 *
 * Conventions (read once, they hold for every op):
 *  - All buffers are fp32 (except the bf16 weights of k_cpu_gemm_bf16w) and live where the
 *    backend computes (host memory for CPU).
 *  - "Row-major with a row stride": a (rows, cols) matrix argument M comes with `ldm`, the distance
 *    in floats between consecutive rows (ldm >= cols). This lets callers pass a column slice of a
 *    wider buffer (one head range of (S, H*64), q inside a fused (S, 3D) qkv buffer, a row-parallel
 *    weight shard W[:, k0:k1] of a full (N, K) weight with ldw = K).
 *  - A batched activation (B, S, D) comes with its row stride `ld` and its batch stride `bs`
 *    (floats between batch items, usually S_total*ld). Sub-ranges of tokens are passed by offsetting
 *    the pointer (x + tok0*ld) and giving the smaller S: e.g. text rows [0,226) and video rows
 *    [226,S) of one (B, S, D) buffer are two calls with the same ld and bs.
 *  - Weights are stored as PyTorch saves them: Linear weight (out, in), i.e. y = x·Wᵀ + b.
 *  - In-place is allowed where the prototype says so (y == x).
 *  - Ops return 0, or -1 on invalid arguments (negative sizes, strides smaller than a row, head_dim
 *    odd, NULL where required) after recording a message readable with k_error(). Ops never exit.
 *    Compute itself cannot fail on CPU; a CUDA backend reports launch errors the same way.
 *  - Threads: each op parallelises with OpenMP over at most k_threads() threads. The count is per
 *    calling thread (thread-local), so tensor-parallel ranks running as threads each set their own
 *    share: k_set_threads(1) in each of 2 rank threads uses 2 cores in total. 0 (the default)
 *    means omp_get_max_threads(). OpenBLAS is pinned to 1 internal thread on first use (GEMM is
 *    split across our own OpenMP threads, each calling single-threaded sgemm), so concurrent calls
 *    from several rank threads never fight over OpenBLAS's own thread pool.
 *  - Determinism: every op gives bit-identical results for any thread count (work is cut on
 *    fixed grids, never by thread), so a window re-renders identically on any worker with the
 *    same CPU features (the AVX2 and scalar paths differ in the last bits).
 */
#ifndef KERNELS_K_H
#define KERNELS_K_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------- errors and threads ---------------- */

/* Message of the last failed op on this thread ("" if none). */
const char *k_error(void);
/* Threads the ops called from this thread may use; n <= 0 restores the default. */
void k_set_threads(int n);
int k_threads(void);
/* Pins OpenBLAS to one internal thread (once per process; idempotent). Every op that uses BLAS
 * and k_threads() do it, so code that sizes its own OpenMP team with k_threads() and calls cblas
 * inside it is covered; call this first if you call cblas from your own threads otherwise. */
void k_cpu_init(void);

/* ---------------- activations ---------------- */

typedef enum {
    K_ACT_NONE = 0,
    K_ACT_GELU_TANH,   /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  (PyTorch approximate="tanh") */
    K_ACT_SILU,        /* x·sigmoid(x) */
    K_ACT_COUNT
} k_act_t;

const char *k_act_name(k_act_t a);

/* ---------------- attention parameters ---------------- */

/* Fused multi-head attention over a sub-range of heads, streaming (online) softmax; no Sq×Sk
 * matrix is ever materialised.
 *   for b < B, h < H, i < Sq:
 *     keys j run over the main list (Sk keys: k, v) and then the EXTRA list (Sk2 keys: k2, v2)
 *     logit(i, j) = scale · <q[b,i,h,:], key[b,j,h,:]> + bias(i, j)
 *     bias(i, j)  = bias  if q0 <= i < q1 and the key is main key j in [k0, k1)
 *                 = bias  if q0 <= i < q1 and the key is extra key j in [k2_0, k2_1)
 *                 = 0     otherwise
 *     o[b,i,h,:]  = Σ_j softmax_j(logit(i, ·)) · value[b,j,h,:]
 *   Element (b, s, h, d) of q is q[b*q_bs + s*q_ld + h*head_dim + d]; the same for k, v, o, k2, v2
 *   with their own strides. So q/k/v may be column slices of a fused (B, S, 3·D) buffer, and a
 *   tensor-parallel rank passes its local heads (B, S, H_local*64) with H = H_local.
 *   bias: 0 (no rule), -1.0f (what the released TransPixar reference computes: text→alpha logits
 *   lowered by 1), -INFINITY (hard mask: text queries ignore alpha keys). With -INFINITY a row
 *   whose every key is masked yields o = 0 (never NaN). A range with k0 >= k1 applies to nothing.
 *   For TransPixar: q0 = 0, q1 = n_text, [k0, k1) = [n_text + N, n_text + 2N) in the joint sequence.
 *   The extra list is meant for anchor-frame keys/values shared across windows; the text→alpha
 *   rule does not touch it unless [k2_0, k2_1) is given. Set k2 = v2 = NULL, Sk2 = 0 for none.
 *   scale: usually 1/sqrt(head_dim) (1/8 for 64). o must not overlap q, k, v.
 *   Ranges are clamped to the valid rows/keys ([q0,q1) to [0,Sq), ...), so [0, INT_MAX) means "all".
 *   CPU engine (picked at run time): AVX2+FMA register tiles over K/V packed per head (scratch of
 *   about 2·(Sk+Sk2)·head_dim floats per thread; work items are (b, head, chunk of 96-row query
 *   blocks), no barriers), or OpenBLAS sgemm on the strided views on CPUs without AVX2. Both
 *   stream 128 keys at a time. */
typedef struct {
    int B, H, head_dim;          /* batch, heads processed, dims per head (any size >= 1; 64 in CogVideoX) */
    int Sq, Sk, Sk2;             /* query rows, main keys, extra keys (0 = none) */
    const float *q;  long q_bs;  int q_ld;   /* (B, Sq,  H*head_dim) */
    const float *k;  long k_bs;  int k_ld;   /* (B, Sk,  H*head_dim) */
    const float *v;  long v_bs;  int v_ld;   /* (B, Sk,  H*head_dim) */
    const float *k2; long k2_bs; int k2_ld;  /* (B, Sk2, H*head_dim) or NULL */
    const float *v2; long v2_bs; int v2_ld;  /* (B, Sk2, H*head_dim) or NULL */
    float *o;        long o_bs;  int o_ld;   /* (B, Sq,  H*head_dim) output */
    float scale;                 /* logit scale, 1/sqrt(head_dim) */
    float bias;                  /* 0, -1.0f or -INFINITY (any finite value works too) */
    int q0, q1;                  /* query rows that get the bias */
    int k0, k1;                  /* main keys that get the bias (for those rows) */
    int k2_0, k2_1;              /* extra keys that get the bias (for those rows) */
} k_attn_t;

/* ---------------- CPU ops ---------------- */

/* y = act(alpha · x·wᵀ + beta · y + b)
 *   y (M, N) row stride ldy; x (M, K) ldx; w (N, K) ldw, PyTorch Linear [out, in]; b (N) or NULL.
 *   beta = 0 overwrites y (y may hold garbage, even NaN); beta = 1 accumulates (LoRA deltas,
 *   row-parallel partial sums). The activation applies after the bias and the accumulation.
 *   y must not overlap x or w. */
int k_cpu_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
               int M, int N, int K, float alpha, float beta, k_act_t act);
/* The same with bf16 weights: w (N, K) holds bf16 bit patterns (the top 16 bits of an fp32), row
 *   stride ldw, widened exactly to fp32 one (256, K) slab at a time per thread (scratch
 *   256·K floats per thread); the arithmetic is the fp32 GEMM's. Halves weight memory (the 5B
 *   transformer is 11 GB in bf16, 22 GB in fp32). */
int k_cpu_gemm_bf16w(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw,
                     const float *b, int M, int N, int K, float alpha, float beta, k_act_t act);
/* The naive triple loop of the same contract (double accumulation); tests only. */
int k_ref_gemm(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
               int M, int N, int K, float alpha, float beta, k_act_t act);

/* Layer norm over the last dim, per group: x is (rows, groups·dim) with row stride ldx, and each
 *   of the `groups` contiguous dim-vectors of a row is normalised on its own:
 *   y = (x − mean) / sqrt(var + eps) · w + b     (biased variance, like PyTorch)
 *   w, b (dim) shared by all groups; both NULL = no affine (b alone may be NULL).
 *   groups = 1: the usual per-token LayerNorm over D. Per-head q/k norm of CogVideoX:
 *   rows = B·S tokens, groups = H heads, dim = 64. In-place allowed (y == x, ldy == ldx). */
int k_cpu_layernorm(float *y, int ldy, const float *x, int ldx, int rows, int groups, int dim,
                    const float *w, const float *b, float eps);

/* RMS norm (T5): y = x / sqrt(mean(x²) + eps) · w; x, y (rows, dim) with row strides; w (dim) or
 *   NULL. In-place allowed. */
int k_cpu_rmsnorm(float *y, int ldy, const float *x, int ldx, int rows, int dim, const float *w,
                  float eps);

/* Elementwise activations on n contiguous floats; in-place allowed. */
int k_cpu_gelu_tanh(float *y, const float *x, long n);
int k_cpu_silu(float *y, const float *x, long n);

/* adaLN modulate: y[b,s,:] = x[b,s,:] · (1 + scale[b,:]) + shift[b,:]
 *   x, y (B, S, D) with row strides ldx/ldy and batch strides bsx/bsy;
 *   shift, scale (B, D) with row stride ldm (they are chunks of the (B, 6D) adaLN output, so
 *   ldm = 6D and shift = mod + 0·D, scale = mod + 1·D, ...). In-place allowed. */
int k_cpu_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                   const float *shift, const float *scale, int ldm, int B, int S, int D);

/* adaLN of CogVideoX: y = LayerNorm(x)·(1 + scale) + shift per token, i.e. k_cpu_layernorm (groups 1,
 *   dim D, affine w, b (D) or NULL, eps) then k_cpu_modulate with the text chunks (shift0, scale0) on
 *   tokens [0, split) and the video chunks (shift1, scale1) on [split, S); the chunks are (B, D) with row
 *   stride ldm. x, y (B, S, D) with ldx/bsx, ldy/bsy; in place allowed (y == x, same strides).
 *   Exactly those calls in sequence (the CPU op makes them); a backend may fuse them into one pass. */
int k_cpu_norm_modulate(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                        const float *w, const float *b, float eps, int split, const float *shift0,
                        const float *scale0, const float *shift1, const float *scale1, int ldm);

/* Gated residual: x[b,s,:] += gate[b,:] · y[b,s,:]
 *   x (B, S, D) ldx/bsx, updated in place; y (B, S, D) ldy/bsy; gate (B, D) row stride ldg. */
int k_cpu_gated_residual(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                         const float *gate, int ldg, int B, int S, int D);

/* Rotary embedding with interleaved pairs, in place, on H heads of S tokens (MODEL.md §1.5):
 *   out[2i]   = x[2i]·cos[s,2i]   − x[2i+1]·sin[s,2i]
 *   out[2i+1] = x[2i+1]·cos[s,2i+1] + x[2i]·sin[s,2i+1]
 *   x (B, S, H·head_dim) with ld/bs; cos, sin (S, head_dim) with row stride ldt: row s of the
 *   table goes to token s of this call. Apply to a token range by offsetting x (and, if needed,
 *   the tables): TransPixar applies the same table to the RGB range and to the alpha range. */
int k_cpu_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim,
               const float *cos, const float *sin, int ldt);

/* The q/k prologue of CogVideoX attention, in place, on one of q or k (x: its H·head_dim columns of the
 *   fused q|k|v buffer, (B, S, H·head_dim) with ld/bs): per-head LayerNorm of every token
 *   (k_cpu_layernorm with groups = H, dim = head_dim, affine w, b (head_dim), eps), then RoPE
 *   (k_cpu_rope) on the tokens [r0, r0 + reps·nr): token r0 + j·nr + s takes table row s, so the RGB and
 *   the alpha video ranges of TransPixar share one table (reps = 2). cos == NULL: the norm only.
 *   Exactly those calls in sequence (the CPU op makes them); a backend may fuse them into one pass. */
int k_cpu_norm_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                    const float *b, float eps, const float *cos, const float *sin, int ldt, int r0, int nr,
                    int reps);

/* 3D RoPE table (MODEL.md §1.5, get_3d_rotary_pos_embed use_real=True):
 *   cos, sin (T·Hp·Wp, head_dim), token n = t·Hp·Wp + h·Wp + w.
 *   head_dim split [dim_t = hd/4 | dim_h = hd/8·3 | dim_w = hd/8·3]; for an axis of dim d,
 *   ω_j = 1/theta^(2j/d) and each angle pos·ω_j is repeated twice (interleaved pairs).
 *   pos_t (T), pos_h (Hp), pos_w (Wp): grid positions (see k_rope_grid). theta = 10000. */
int k_cpu_rope_table_3d(float *cos, float *sin, int head_dim, int T, int Hp, int Wp,
                        const float *pos_t, const float *pos_h, const float *pos_w, float theta);

/* Grid positions of CogVideoX's 3D RoPE. grid_type 0 = "linspace" (v1.0: crop region of the
 *   (Hp, Wp) grid inside the base grid (base_h, base_w) = (sample_height/p, sample_width/p),
 *   then linspace(start, stop·(n−1)/n, n) per axis, time linspace(0, T(T−1)/T, T));
 *   grid_type 1 = "slice" (v1.5: 0..n−1). pos_t (T), pos_h (Hp), pos_w (Wp). */
int k_rope_grid(float *pos_t, float *pos_h, float *pos_w, int T, int Hp, int Wp,
                int base_h, int base_w, int grid_type);

/* 2B's 3D sin-cos position table (MODEL.md §1.5), computed in fp64 and stored as fp32:
 *   out (T·Hp·Wp, D), token n = t·Hp·Wp + h·Wp + w,
 *   out[n] = [ temporal sincos(D/4, t/temporal_interp) | sincos(3D/8, w/spatial_interp)
 *            | sincos(3D/8, h/spatial_interp) ],  sincos(d, p) = [sin(p·ω_i), cos(p·ω_i)],
 *   ω_i = 10000^(−i/(d/2)). D must be a multiple of 16. */
int k_cpu_sincos_table_3d(float *out, int D, int T, int Hp, int Wp, float spatial_interp,
                          float temporal_interp);

/* Timestep sinusoidal embedding (MODEL.md §1.3, get_timestep_embedding):
 *   out (B, dim); half = dim/2; freq_i = exp(−ln(max_period)·i/(half − freq_shift)) (fp32);
 *   arg = t[b]·freq_i; out = flip ? [cos(arg) | sin(arg)] : [sin(arg) | cos(arg)];
 *   an odd dim gets a zero last column. CogVideoX: flip = 1, freq_shift = 0, max_period = 10000. */
int k_cpu_timestep_embedding(float *out, const float *t, int B, int dim, int flip_sin_to_cos,
                             float freq_shift, float max_period);

/* Patch embedding as a GEMM on patches (MODEL.md §1.4), for CogVideoX v1.0 (pt = 1: per-frame
 *   Conv2d k=s=p, weight (D, C, p, p)) and v1.5 (pt = 2: Linear(C·pt·p·p → D), no bias):
 *   x (B, F, C, H, W) contiguous latents (frames before channels);
 *   out (B, (F/pt)·(H/p)·(W/p), D) with row stride ld and batch stride bs, tokens (t', h', w');
 *   w (D, C·pt·p·p) with patch feature index ((c·pt + t)·p + y)·p + x; b (D) or NULL.
 *   F % pt, H % p, W % p must be 0. */
int k_cpu_patch_embed(float *out, int ld, long bs, const float *x, int B, int F, int C, int H,
                      int W, int p, int pt, const float *w, const float *b, int D);

/* Unpatchify (MODEL.md §1.7): y (B, (F/pt)·(H/p)·(W/p), C·pt·p·p) with ld/bs, feature index
 *   ((c·pt + t)·p + y)·p + x  →  out (B, F, C, H, W) contiguous. */
int k_cpu_unpatchify(float *out, const float *y, int ld, long bs, int B, int F, int C, int H,
                     int W, int p, int pt);

/* Fused attention (see k_attn_t). k_ref_attention is the naive two-pass softmax over the full
 * logit row (double accumulation) of the same contract; tests only. */
int k_cpu_attention(const k_attn_t *a);
int k_ref_attention(const k_attn_t *a);

/* ---------------- T5 / VAE ops (elementwise, T5 attention) ---------------- */

/* Elementwise over n contiguous floats: y = a + b, y = a · b. y may equal a or b. */
int k_cpu_add(float *y, const float *a, const float *b, long n);
int k_cpu_mul(float *y, const float *a, const float *b, long n);
/* nbytes from src to dst inside the backend's memory (memmove on CPU: overlap allowed). */
int k_cpu_copy(void *dst, const void *src, size_t nbytes);

/* Attention with an additive relative-position bias per head (T5), no mask, full softmax:
 *   for b < B, h < H, i < L:
 *     logit(i, j) = scale · <q[b,i,h,:], k[b,j,h,:]> + pb[h·(2L−1) + (j − i + L − 1)]
 *     o[b,i,h,:]  = Σ_j softmax_j(logit(i, ·)) · v[b,j,h,:]
 *   q, k, v, o (B, L, H·head_dim) with the same row stride ld and batch stride bs;
 *   pb (H, 2L−1): the bias of relative position rel = j − i at column rel + L − 1
 *   (T5: pb[h][rel + L − 1] = relative_attention_bias[bucket(rel)][h]); scale = 1 for T5.
 *   o must not overlap q, k, v. CPU engine: per (b, h) an sgemm for the (L, L) logits, the bias
 *   and a max-subtracted expf softmax in row order, an sgemm for o (scratch L² floats per thread). */
int k_cpu_attention_relbias(float *o, const float *q, const float *k, const float *v, int ld, long bs,
                            int B, int L, int H, int head_dim, float scale, const float *pb);

/* ---------------- backend table ---------------- */

/* One entry per op, same names and argument order as the k_cpu_ functions. Buffers are device
 * pointers of that backend. alloc/free/upload/download move data between host and backend memory
 * (on CPU they are malloc/free/memcpy). sync waits for queued work and returns 0, or -1 with the
 * first error since the last sync. */
typedef struct k_backend {
    const char *name;                                   /* "cpu", "cuda" */
    void *(*alloc)(size_t nbytes);
    void (*free)(void *p);
    int (*upload)(void *dst, const void *src, size_t nbytes);
    int (*download)(void *dst, const void *src, size_t nbytes);
    int (*sync)(char *err, size_t errlen);
    void (*set_threads)(int n);

    int (*gemm)(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                const float *b, int M, int N, int K, float alpha, float beta, k_act_t act);
    int (*layernorm)(float *y, int ldy, const float *x, int ldx, int rows, int groups, int dim,
                     const float *w, const float *b, float eps);
    int (*rmsnorm)(float *y, int ldy, const float *x, int ldx, int rows, int dim,
                   const float *w, float eps);
    int (*gelu_tanh)(float *y, const float *x, long n);
    int (*silu)(float *y, const float *x, long n);
    int (*modulate)(float *y, int ldy, long bsy, const float *x, int ldx, long bsx,
                    const float *shift, const float *scale, int ldm, int B, int S, int D);
    int (*gated_residual)(float *x, int ldx, long bsx, const float *y, int ldy, long bsy,
                          const float *gate, int ldg, int B, int S, int D);
    int (*norm_modulate)(float *y, int ldy, long bsy, const float *x, int ldx, long bsx, int B, int S, int D,
                         const float *w, const float *b, float eps, int split, const float *shift0,
                         const float *scale0, const float *shift1, const float *scale1, int ldm);
    int (*rope)(float *x, int ld, long bs, int B, int S, int H, int head_dim,
                const float *cos, const float *sin, int ldt);
    int (*norm_rope)(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                     const float *b, float eps, const float *cos, const float *sin, int ldt, int r0, int nr,
                     int reps);
    int (*patch_embed)(float *out, int ld, long bs, const float *x, int B, int F, int C, int H,
                       int W, int p, int pt, const float *w, const float *b, int D);
    int (*unpatchify)(float *out, const float *y, int ld, long bs, int B, int F, int C, int H,
                      int W, int p, int pt);
    int (*attention)(const k_attn_t *a);
    int (*gemm_bf16w)(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw,
                      const float *b, int M, int N, int K, float alpha, float beta, k_act_t act);
    /* T5 and the VAE decoder (the conv family is specified in kernels/k_conv.h). copy is queued
     * like an op (device to device on CUDA); conv3d's x is a HOST array of T_in frame pointers
     * into the backend's memory; groupnorm_stats writes mean/rstd into the backend's memory. */
    int (*copy)(void *dst, const void *src, size_t nbytes);
    int (*add)(float *y, const float *a, const float *b, long n);
    int (*mul)(float *y, const float *a, const float *b, long n);
    int (*attention_relbias)(float *o, const float *q, const float *k, const float *v, int ld, long bs,
                             int B, int L, int H, int head_dim, float scale, const float *pb);
    int (*conv3d)(float *y, const float *const *x, int T_in, int H, int W, int Ci, int Co,
                  int kt, int kh, int kw, const float *wp, const float *b);
    int (*groupnorm_stats)(float *mean, float *rstd, const float *x, long N, int C, int G, float eps);
    int (*snorm_silu)(float *y, const float *x, int T, int H, int W, int C, int G, const float *mean,
                      const float *rstd, const float *gamma, const float *beta, const float *zy,
                      const float *zb, int Tz, int h, int w);
    int (*resize_nearest)(float *y, int To, int Ho, int Wo, const float *x, int Ti, int Hi, int Wi,
                          int C);
} k_backend_t;

/* The CPU backend (static table; never freed). Tables (rope/sincos/timestep) are built on the
 * host with the k_cpu_ functions and uploaded. */
const k_backend_t *k_backend_cpu(void);

#endif
