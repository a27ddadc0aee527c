/* test_kernels_pos.c — position tables against samples dumped from diffusers 0.32.0 / torch 2.4.0
 * (test_kernels_pos_golden.h): 3D RoPE cos/sin for the standard 30×45 grid, a cropped grid with
 * fractional linspace positions, a tall grid, the v1.5 "slice" grid; the 2B 3D sin-cos table
 * (small and full size); the timestep embedding (CogVideoX form and an odd-dim, shift-1, sin-first
 * form). Also the grid crop regions and argument errors.
 */
#include "kernels/k.h"
#include "tests/test.h"
#include "tests/unit/test_kernels_pos_golden.h"

#define NG(a) (long)(sizeof(a) / sizeof((a)[0]))

static int check_golden_(const char *what, const float *t, long n, const golden_t *g, long ng, double atol)
{
    int bad = 0;
    double maxerr = 0;
    for (long k = 0; k < ng; k++) {
        if (g[k].i >= n) { fprintf(stderr, "  %s: golden index %ld >= %ld\n", what, g[k].i, n); return 0; }
        double e = fabs((double)t[g[k].i] - g[k].v);
        if (e > maxerr) maxerr = e;
        if (!(e <= atol) && bad++ < 5)
            fprintf(stderr, "  %s[%ld]: got %.9g want %.9g\n", what, g[k].i, t[g[k].i], g[k].v);
    }
    fprintf(stderr, "  %s: %ld samples, max abs err %.3g\n", what, ng, maxerr);
    return bad == 0;
}

static void rope_case_(const char *what, int T, int Hp, int Wp, int grid_type,
                       const golden_t *gc, long ngc, const golden_t *gs, long ngs)
{
    long n = (long)T * Hp * Wp * 64;
    float *c = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
    float pt[64], ph[64], pw[64];
    CHECKF(k_rope_grid(pt, ph, pw, T, Hp, Wp, 30, 45, grid_type) == 0, "%s", k_error());
    CHECKF(k_cpu_rope_table_3d(c, s, 64, T, Hp, Wp, pt, ph, pw, 10000.0f) == 0, "%s", k_error());
    CHECKF(check_golden_(what, c, n, gc, ngc, 2e-6), "%s cos", what);
    CHECKF(check_golden_(what, s, n, gs, ngs, 2e-6), "%s sin", what);
    free(c); free(s);
}

static void test_rope_tables(void)
{
    rope_case_("rope 13x30x45", 13, 30, 45, 0, rope_std_cos, NG(rope_std_cos), rope_std_sin, NG(rope_std_sin));
    rope_case_("rope crop 3x24x40", 3, 24, 40, 0, rope_crop_cos, NG(rope_crop_cos), rope_crop_sin, NG(rope_crop_sin));
    rope_case_("rope tall 2x21x17", 2, 21, 17, 0, rope_tall_cos, NG(rope_tall_cos), rope_tall_sin, NG(rope_tall_sin));
    rope_case_("rope slice 3x20x30", 3, 20, 30, 1, rope_slice_cos, NG(rope_slice_cos), rope_slice_sin, NG(rope_slice_sin));
    /* crop (2,0)-(29,45) for 24x40 in a 30x45 base: linspace(2, 29·23/24, 24) */
    float pt[4], ph[24], pw[40];
    CHECK(k_rope_grid(pt, ph, pw, 3, 24, 40, 30, 45, 0) == 0);
    CHECK(ph[0] == 2.0f && fabsf(ph[23] - 29.0f * 23 / 24) < 1e-5f);
    CHECK(pw[0] == 0.0f && fabsf(pw[39] - 45.0f * 39 / 40) < 1e-5f);
    CHECK(pt[0] == 0 && pt[2] == 2.0f);
    CHECK(k_rope_grid(pt, ph, pw, 3, 31, 40, 30, 45, 1) == -1);   /* slice larger than base */
    CHECK(k_rope_grid(pt, ph, pw, 3, 24, 40, 30, 45, 7) == -1);
    CHECK(k_cpu_rope_table_3d((float *)pw, (float *)pw, 40, 1, 1, 1, pt, ph, pw, 10000.0f) == -1);
}

static void test_sincos_tables(void)
{
    float *small = malloc(sizeof(float) * 2 * 3 * 5 * 64);
    CHECK(k_cpu_sincos_table_3d(small, 64, 2, 3, 5, 1.875f, 1.0f) == 0);
    CHECK(check_golden_("sincos 2x3x5 D64", small, 2L * 3 * 5 * 64, sincos_small, NG(sincos_small), 1e-7));
    long n = 13L * 30 * 45 * 1920;
    float *big = malloc(sizeof(float) * n);
    k_set_threads(2);
    CHECK(k_cpu_sincos_table_3d(big, 1920, 13, 30, 45, 1.875f, 1.0f) == 0);
    k_set_threads(0);
    CHECK(check_golden_("sincos 2B 13x30x45", big, n, sincos_2b, NG(sincos_2b), 1e-7));
    CHECK(k_cpu_sincos_table_3d(small, 40, 2, 3, 5, 1.875f, 1.0f) == -1);   /* D % 16 */
    CHECK(k_cpu_sincos_table_3d(small, 64, 2, 3, 5, 0.0f, 1.0f) == -1);
    free(small); free(big);
}

static void test_timestep_embedding(void)
{
    float t[4] = { 999, 19, 0, 500 }, out[4 * 1920], odd[2 * 9];
    CHECK(k_cpu_timestep_embedding(out, t, 4, 1920, 1, 0.0f, 10000.0f) == 0);
    CHECK(check_golden_("temb 1920", out, 4 * 1920, temb_1920, NG(temb_1920), 2e-6));
    CHECK(k_cpu_timestep_embedding(odd, t, 2, 9, 0, 1.0f, 10000.0f) == 0);
    CHECK(check_golden_("temb odd", odd, 2 * 9, temb_odd, NG(temb_odd), 2e-6));
    CHECK(out[2 * 1920] == 1.0f && out[2 * 1920 + 960] == 0.0f);   /* t = 0: cos 1, sin 0 */
    CHECK(k_cpu_timestep_embedding(odd, t, 2, 2, 0, 1.0f, 10000.0f) == -1);   /* half − shift = 0 */
    CHECK(k_cpu_timestep_embedding(odd, NULL, 2, 9, 0, 0.0f, 10000.0f) == -1);
}

int main(void)
{
    T_RUN(test_rope_tables);
    T_RUN(test_sincos_tables);
    T_RUN(test_timestep_embedding);
    T_DONE();
}
