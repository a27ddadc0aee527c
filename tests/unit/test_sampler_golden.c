/* test_sampler_golden.c — the sampler's schedule, timesteps and guidance scales against every case
 * of tests/golden/sampler/ (diffusers 0.32.0, see tests/reference/README.md): scheduler_config.json
 * parsed by config.c, alphas_cumprod (F64) within 1e-15 relative + 1e-17 (torch's MKL sqrt is not correctly rounded; see sampler.h), timesteps exactly, w_t of each step bit for
 * bit, and the DPM step_noise of the last step all zeros (its noise coefficient is exactly 0).
 * The guided-v → latent step itself is checked on each case with the golden guided_v: the recorded
 * trajectory must follow from the recorded model outputs through wrk_ddim_step / wrk_dpm_step.
 * Run from the repository root (tests/run.sh does); exits 77 when the goldens are absent. */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "proto/json.h"
#include "tests/test.h"
#include "worker/model/config.h"
#include "worker/model/safetensors.h"
#include "worker/model/sampler.h"

#define GOLDEN "tests/golden/sampler"

static proto_json_t *read_json(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    proto_json_t *j = NULL;
    char err[256];
    if (proto_json_parse(buf, n, NULL, &j, NULL, err, sizeof err)) fprintf(stderr, "%s: %s\n", path, err);
    return j;
}

static void check_alphas(const char *dir, const wrk_schedule_t *s, const wrk_st_t *out)
{
    const wrk_st_tensor_t *t = wrk_st_find(out, "alphas_cumprod");
    CHECKF(t && t->dtype == WRK_ST_F64 && t->numel == s->num_train_timesteps, "%s: alphas_cumprod", dir);
    if (!t || t->dtype != WRK_ST_F64 || t->numel != s->num_train_timesteps) return;
    int bad = 0;
    for (int i = 0; i < s->num_train_timesteps; i++) {
        double want;
        memcpy(&want, (const char *)t->data + 8 * i, 8);
        double got = s->alphas_cumprod[i];
        if (!(fabs(got - want) <= 1e-15 * fabs(want) + 1e-17)) {   /* 1e-17: near t = 999, r − r_T cancels */
            if (bad++ < 3) fprintf(stderr, "  %s: alphas_cumprod[%d] %.17g want %.17g\n", dir, i, got, want);
        }
    }
    CHECKF(bad == 0, "%s: %d alphas off by more than 1e-15 relative + 1e-17", dir, bad);
}

static void check_steps(const char *dir, const wrk_schedule_t *s, const proto_json_t *cj)
{
    int64_t steps = 0, t[1001];
    int dyn = 0;
    double w = 0;
    char err[256];
    proto_json_get_int(cj, "steps", &steps);
    proto_json_get_bool(cj, "use_dynamic_cfg", &dyn);
    proto_json_get_num(cj, "guidance", &w);
    int n = wrk_schedule_timesteps(s, (int)steps, t, 1001, err, sizeof err);
    const proto_json_t *ts = proto_json_get(cj, "timesteps"), *ws = proto_json_get(cj, "guidance_per_step");
    CHECKF(n == (int)proto_json_len(ts) && n == (int)proto_json_len(ws), "%s: %d timesteps", dir, n);
    for (int i = 0; i < n && i < (int)proto_json_len(ts); i++) {
        CHECKF(proto_json_at(ts, i)->i64 == t[i], "%s: t[%d] = %lld", dir, i, (long long)t[i]);
        double got = wrk_cfg_scale(dyn ? WRK_CFG_DYNAMIC : WRK_CFG_CONSTANT, w, n, i, t[i]);
        CHECKF(proto_json_at(ws, i)->num == got, "%s: w[%d] = %.17g want %.17g", dir, i, got, proto_json_at(ws, i)->num);
    }
}

/* latents after step i, recomputed from trajectory[i-1] (or the initial latents) and guided_v[i]. */
static void check_step_math(const char *dir, const wrk_schedule_t *s, const proto_json_t *cj, const wrk_st_t *in,
                            const wrk_st_t *out)
{
    const char *kind = NULL;
    proto_json_get_str(cj, "scheduler", &kind);
    const wrk_st_tensor_t *tr = wrk_st_find(out, "trajectory");
    if (!tr || !kind || tr->ndim != 6) { CHECKF(0, "%s: no trajectory", dir); return; }
    int N = (int)tr->shape[0];
    int64_t n = tr->numel / N, t[1001];
    char err[512];
    float *traj = malloc(tr->numel * 4), *gv = malloc(tr->numel * 4), *noise = malloc(tr->numel * 4),
          *x = malloc(n * 4), *x0 = malloc(n * 4), *old = malloc(n * 4), *xp = malloc(n * 4);
    int ok = wrk_st_read_f32(out, "trajectory", 0, NULL, traj, tr->numel, err, sizeof err) == 0 &&
             wrk_st_read_f32(out, "guided_v", 0, NULL, gv, tr->numel, err, sizeof err) == 0 &&
             wrk_st_read_f32(in, "step_noise", 0, NULL, noise, tr->numel, err, sizeof err) == 0 &&
             wrk_st_read_f32(in, "latents", 0, NULL, x, n, err, sizeof err) == 0;
    CHECKF(ok, "%s: %s", dir, err);
    int cnt = wrk_schedule_timesteps(s, N, t, 1001, err, sizeof err), dpm = !strcmp(kind, "dpm");
    float maxerr = 0;
    for (int i = 0; ok && i < cnt; i++) {
        int64_t prev = t[i] - s->num_train_timesteps / N;
        if (dpm) wrk_dpm_step(s, t[i], prev, i ? t[i - 1] : -1, x, gv + i * n, i ? old : NULL, noise + i * n, xp, x0, n);
        else wrk_ddim_step(s, t[i], prev, x, gv + i * n, xp, x0, n);
        for (int64_t k = 0; k < n; k++) maxerr = fmaxf(maxerr, fabsf(xp[k] - traj[i * n + k]));
        memcpy(x, traj + i * n, n * 4);     /* continue from the reference's latent */
        memcpy(old, x0, n * 4);
    }
    if (dpm) {   /* the last step adds no noise */
        float mx = 0;
        for (int64_t k = 0; k < n; k++) mx = fmaxf(mx, fabsf(noise[(cnt - 1) * n + k]));
        CHECKF(mx == 0, "%s: last step_noise is not zero", dir);
    }
    fprintf(stderr, "   %-16s step math from guided_v: max |err| %.3g\n", dir, maxerr);
    CHECKF(maxerr == 0, "%s: step math differs from diffusers by %g", dir, maxerr);
    free(traj); free(gv); free(noise); free(x); free(x0); free(old); free(xp);
}

static void check_case(const char *name)
{
    char dir[512], p[700], err[512];
    snprintf(dir, sizeof dir, "%s/%s", GOLDEN, name);
    snprintf(p, sizeof p, "%s/case.json", dir);
    proto_json_t *cj = read_json(p);
    wrk_sched_config_t sc;
    wrk_schedule_t s = {0};
    wrk_st_t *in = NULL, *out = NULL;
    snprintf(p, sizeof p, "%s/scheduler", dir);
    int ok = cj && wrk_sched_config_load(p, &sc, err, sizeof err) == 0 && wrk_schedule_init(&s, &sc, err, sizeof err) == 0;
    snprintf(p, sizeof p, "%s/outputs.safetensors", dir);
    ok = ok && wrk_st_open(p, &out, err, sizeof err) == 0;
    snprintf(p, sizeof p, "%s/inputs.safetensors", dir);
    ok = ok && wrk_st_open(p, &in, err, sizeof err) == 0;
    CHECKF(ok, "%s: %s", name, err);
    if (ok) {
        check_alphas(name, &s, out);
        check_steps(name, &s, cj);
        check_step_math(name, &s, cj, in, out);
    }
    wrk_st_close(&in);
    wrk_st_close(&out);
    wrk_schedule_free(&s);
    proto_json_free(&cj);
}

int main(void)
{
    DIR *d = opendir(GOLDEN);
    if (!d) { printf("skip: no %s (run from the repository root)\n", GOLDEN); return 77; }
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        char p[600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/case.json", GOLDEN, e->d_name);
        if (e->d_name[0] == '.' || stat(p, &sb) != 0) continue;
        check_case(e->d_name);
        cases++;
    }
    closedir(d);
    CHECKF(cases >= 6, "%d cases", cases);
    T_DONE();
}
