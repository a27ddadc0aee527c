/* pos.c — positional encodings of CogVideoX (MODEL.md §1.3, §1.5): applying RoPE with interleaved
 * pairs, building the 3D RoPE cos/sin table and its grid positions, the 2B 3D sin-cos table and
 * the timestep sinusoidal embedding. Each follows the arithmetic of diffusers v0.32
 * (models/embeddings.py, pipelines/cogvideo) step by step, including where it rounds to fp32,
 * so tables agree with the reference to an ulp or so. Plain loops; tables are built once per shape.
 */
#include "kernels/cpu/k_cpu_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int k_cpu_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim,
               const float *cos, const float *sin, int ldt)
{
    if (H < 0 || head_dim < 2 || head_dim % 2)
        return k_fail_("rope", "H %d, head_dim %d (must be even)", H, head_dim);
    if (k_chk_bsd_("rope", "x", x, B, S, (long)H * head_dim, ld, bs) ||
        k_chk_mat_("rope", "cos", cos, S, head_dim, ldt) || k_chk_mat_("rope", "sin", sin, S, head_dim, ldt))
        return -1;
    int nt = (long)B * S * H * head_dim < 1L << 15 ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < (long)B * S; r++) {
        long b = r / S, s = r % S;
        const float *c = cos + s * ldt, *sn = sin + s * ldt;
        for (int h = 0; h < H; h++) {
            float *v = x + b * bs + s * ld + (long)h * head_dim;
            for (int i = 0; i < head_dim; i += 2) {
                float x0 = v[i], x1 = v[i + 1];
                v[i]     = x0 * c[i] - x1 * sn[i];
                v[i + 1] = x1 * c[i + 1] + x0 * sn[i + 1];
            }
        }
    }
    return 0;
}

int k_cpu_norm_rope(float *x, int ld, long bs, int B, int S, int H, int head_dim, const float *w,
                    const float *b, float eps, const float *cos, const float *sin, int ldt, int r0, int nr,
                    int reps)
{
    if (B < 0 || S < 0 || r0 < 0 || nr < 0 || reps < 0 || (long)r0 + (long)reps * nr > S)
        return k_fail_("norm_rope", "B %d, S %d, rope range %d + %d x %d must lie inside the %d tokens", B, S,
                       r0, reps, nr, S);
    if (k_chk_bsd_("norm_rope", "x", x, B, S, (long)H * head_dim, ld, bs)) return -1;
    for (int bi = 0; bi < B; bi++)
        if (k_cpu_layernorm(x + bi * bs, ld, x + bi * bs, ld, S, H, head_dim, w, b, eps)) return -1;
    for (int j = 0; cos && j < reps && nr > 0; j++)
        if (k_cpu_rope(x + (long)(r0 + j * nr) * ld, ld, bs, B, nr, H, head_dim, cos, sin, ldt)) return -1;
    return 0;
}

/* get_1d_rotary_pos_embed(d, pos, theta, use_real=True): fp32 ω_j = 1/theta^((2j)/d), angle = pos·ω_j,
 * cos/sin repeated twice; written into columns [col, col+d) of rows stride ld, one row per pos. */
static void rope_axis_(float *cos_out, float *sin_out, int rows, int ld, int col, int d,
                       const float *pos, float theta)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < d / 2; j++) {
            float w = 1.0f / powf(theta, (float)(2 * j) / (float)d);
            float a = pos[r] * w;
            float c = (float)cos((double)a), s = (float)sin((double)a);
            cos_out[(long)r * ld + col + 2 * j] = cos_out[(long)r * ld + col + 2 * j + 1] = c;
            sin_out[(long)r * ld + col + 2 * j] = sin_out[(long)r * ld + col + 2 * j + 1] = s;
        }
}

int k_cpu_rope_table_3d(float *cos, float *sin, int head_dim, int T, int Hp, int Wp,
                        const float *pos_t, const float *pos_h, const float *pos_w, float theta)
{
    int dt = head_dim / 4, dh = head_dim / 8 * 3, dw = dh;
    if (head_dim < 16 || head_dim % 16 || T < 0 || Hp < 0 || Wp < 0)
        return k_fail_("rope_table_3d", "head_dim %d (multiple of 16), grid %dx%dx%d", head_dim, T, Hp, Wp);
    if (!cos || !sin || !pos_t || !pos_h || !pos_w || !(theta > 0))
        return k_fail_("rope_table_3d", "NULL argument or theta <= 0");
    float *ct = malloc(sizeof(float) * ((size_t)T * dt + (size_t)Hp * dh + (size_t)Wp * dw) * 2 + 4);
    if (!ct) return k_fail_("rope_table_3d", "out of memory");
    float *st = ct + (size_t)T * dt, *ch = st + (size_t)T * dt, *sh = ch + (size_t)Hp * dh;
    float *cw = sh + (size_t)Hp * dh, *sw = cw + (size_t)Wp * dw;
    rope_axis_(ct, st, T, dt, 0, dt, pos_t, theta);
    rope_axis_(ch, sh, Hp, dh, 0, dh, pos_h, theta);
    rope_axis_(cw, sw, Wp, dw, 0, dw, pos_w, theta);
    for (long n = 0; n < (long)T * Hp * Wp; n++) {   /* token n = (t·Hp + h)·Wp + w */
        long t = n / ((long)Hp * Wp), h = n / Wp % Hp, w = n % Wp;
        float *co = cos + n * head_dim, *so = sin + n * head_dim;
        for (int i = 0; i < dt; i++) { co[i] = ct[t * dt + i]; so[i] = st[t * dt + i]; }
        for (int i = 0; i < dh; i++) { co[dt + i] = ch[h * dh + i]; so[dt + i] = sh[h * dh + i]; }
        for (int i = 0; i < dw; i++) { co[dt + dh + i] = cw[w * dw + i]; so[dt + dh + i] = sw[w * dw + i]; }
    }
    free(ct);
    return 0;
}

/* torch.linspace(start, end, n) in fp32 (ATen's formula: from the start for the first half, from
 * the end for the second). */
static void linspace_f32_(float *out, double start, double end, int n)
{
    float s = (float)start, e = (float)end;
    if (n == 1) { out[0] = s; return; }
    float step = (e - s) / (float)(n - 1);
    for (int i = 0; i < n; i++)
        out[i] = i < n / 2 ? s + step * (float)i : e - step * (float)(n - 1 - i);
}

/* pipeline_cogvideox.get_resize_crop_region_for_grid((h, w), tw, th); Python round = half-even. */
static void crop_region_(int h, int w, int tw, int th, int *top, int *left, int *bottom, int *right)
{
    int rh, rw;
    if ((double)h / w > (double)th / tw) { rh = th; rw = (int)nearbyint((double)th / h * w); }
    else                                 { rw = tw; rh = (int)nearbyint((double)tw / w * h); }
    *top = (int)nearbyint((th - rh) / 2.0);
    *left = (int)nearbyint((tw - rw) / 2.0);
    *bottom = *top + rh;
    *right = *left + rw;
}

int k_rope_grid(float *pos_t, float *pos_h, float *pos_w, int T, int Hp, int Wp,
                int base_h, int base_w, int grid_type)
{
    if (!pos_t || !pos_h || !pos_w || T < 1 || Hp < 1 || Wp < 1 || base_h < 1 || base_w < 1)
        return k_fail_("rope_grid", "bad grid %dx%dx%d, base %dx%d", T, Hp, Wp, base_h, base_w);
    if (grid_type == 0) {
        int top, left, bottom, right;
        crop_region_(Hp, Wp, base_w, base_h, &top, &left, &bottom, &right);
        linspace_f32_(pos_h, top, (double)bottom * (Hp - 1) / Hp, Hp);
        linspace_f32_(pos_w, left, (double)right * (Wp - 1) / Wp, Wp);
        linspace_f32_(pos_t, 0, (double)T * (T - 1) / T, T);
        return 0;
    }
    if (grid_type != 1) return k_fail_("rope_grid", "unknown grid type %d", grid_type);
    if (Hp > base_h || Wp > base_w)   /* diffusers slices arange(base) and could not broadcast */
        return k_fail_("rope_grid", "slice grid %dx%d larger than base %dx%d", Hp, Wp, base_h, base_w);
    for (int i = 0; i < T; i++) pos_t[i] = (float)i;
    for (int i = 0; i < Hp; i++) pos_h[i] = (float)i;
    for (int i = 0; i < Wp; i++) pos_w[i] = (float)i;
    return 0;
}

/* get_1d_sincos_pos_embed_from_grid(d, pos) for n positions: out (n, d), fp64 ω_i = 1/10000^(i/(d/2)),
 * row r = [sin(pos_r·ω) | cos(pos_r·ω)] rounded to fp32. Positions are fp32 (arange(n, float32) /
 * scale, as diffusers computes them) before the fp64 outer product. */
static void sincos_axis_(float *out, int d, int n, float scale)
{
    for (int r = 0; r < n; r++) {
        double pos = (double)((float)r / scale);
        for (int i = 0; i < d / 2; i++) {
            double a = pos * (1.0 / pow(10000.0, (double)i / (d / 2.0)));
            out[(long)r * d + i] = (float)sin(a);
            out[(long)r * d + d / 2 + i] = (float)cos(a);
        }
    }
}

int k_cpu_sincos_table_3d(float *out, int D, int T, int Hp, int Wp, float spatial_interp,
                          float temporal_interp)
{
    if (!out || D < 16 || D % 16 || T < 0 || Hp < 0 || Wp < 0 || !(spatial_interp > 0) ||
        !(temporal_interp > 0))
        return k_fail_("sincos_table_3d", "D %d (multiple of 16), grid %dx%dx%d, scales %g %g",
                       D, T, Hp, Wp, (double)spatial_interp, (double)temporal_interp);
    int dt = D / 4, ds = 3 * D / 8;
    float *tt = malloc(sizeof(float) * ((size_t)T * dt + ((size_t)Wp + Hp) * ds + 1));
    if (!tt) return k_fail_("sincos_table_3d", "out of memory");
    float *tw = tt + (size_t)T * dt, *th = tw + (size_t)Wp * ds;
    sincos_axis_(tt, dt, T, temporal_interp);
    sincos_axis_(tw, ds, Wp, spatial_interp);
    sincos_axis_(th, ds, Hp, spatial_interp);
    int nt = (long)T * Hp * Wp * D < 1L << 16 ? 1 : k_threads();
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long n = 0; n < (long)T * Hp * Wp; n++) {   /* [temporal(t) | spatial(w) | spatial(h)] */
        long t = n / ((long)Hp * Wp), h = n / Wp % Hp, w = n % Wp;
        float *o = out + n * D;
        memcpy(o, tt + t * dt, sizeof(float) * dt);
        memcpy(o + dt, tw + w * ds, sizeof(float) * ds);
        memcpy(o + dt + ds, th + h * ds, sizeof(float) * ds);
    }
    free(tt);
    return 0;
}

int k_cpu_timestep_embedding(float *out, const float *t, int B, int dim, int flip_sin_to_cos,
                             float freq_shift, float max_period)
{
    int half = dim / 2;
    if (!out || !t || B < 0 || dim < 2 || !(max_period > 0) || !((float)half - freq_shift != 0.0f))
        return k_fail_("timestep_embedding", "B %d, dim %d, freq_shift %g, max_period %g", B, dim,
                       (double)freq_shift, (double)max_period);
    float nlog = (float)-log((double)max_period), den = (float)half - freq_shift;
    for (int b = 0; b < B; b++) {
        float *o = out + (long)b * dim;
        for (int i = 0; i < half; i++) {
            float f = expf(nlog * (float)i / den), a = t[b] * f;
            float s = (float)sin((double)a), c = (float)cos((double)a);
            o[i] = flip_sin_to_cos ? c : s;
            o[half + i] = flip_sin_to_cos ? s : c;
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
    return 0;
}
