/* test_st_config.c — transformer/config.json and scheduler_config.json parsing: the published
 * CogVideoX configs, diffusers defaults, form detection, and errors naming the field. */
#include <unistd.h>
#include <sys/stat.h>

#include "tests/test.h"
#include "worker/model/config.h"

static const char *cfg_5b =
    "{\"_class_name\": \"CogVideoXTransformer3DModel\", \"_diffusers_version\": \"0.31.0.dev0\","
    "\"activation_fn\": \"gelu-approximate\", \"attention_bias\": true, \"attention_head_dim\": 64,"
    "\"dropout\": 0.0, \"flip_sin_to_cos\": true, \"freq_shift\": 0, \"in_channels\": 16,"
    "\"max_text_seq_length\": 226, \"norm_elementwise_affine\": true, \"norm_eps\": 1e-05,"
    "\"num_attention_heads\": 48, \"num_layers\": 42, \"out_channels\": 16, \"patch_size\": 2,"
    "\"sample_frames\": 49, \"sample_height\": 60, \"sample_width\": 90, \"spatial_interpolation_scale\": 1.875,"
    "\"temporal_compression_ratio\": 4, \"temporal_interpolation_scale\": 1.0, \"text_embed_dim\": 4096,"
    "\"time_embed_dim\": 512, \"timestep_activation_fn\": \"silu\", \"use_learned_positional_embeddings\": false,"
    "\"use_rotary_positional_embeddings\": true}";

static const char *sched_5b =
    "{\"_class_name\": \"CogVideoXDDIMScheduler\", \"_diffusers_version\": \"0.31.0.dev0\", \"beta_end\": 0.012,"
    "\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, \"clip_sample_range\": 1.0,"
    "\"num_train_timesteps\": 1000, \"prediction_type\": \"v_prediction\", \"rescale_betas_zero_snr\": true,"
    "\"sample_max_value\": 1.0, \"set_alpha_to_one\": true, \"snr_shift_scale\": 1.0, \"steps_offset\": 0,"
    "\"timestep_spacing\": \"trailing\", \"trained_betas\": null}";

static void test_5b(void)
{
    wrk_dit_config_t c;
    char err[512], line[512];
    CHECKF(wrk_dit_config_parse(cfg_5b, strlen(cfg_5b), "5b", &c, err, sizeof err) == 0, "%s", err);
    CHECK(c.num_layers == 42 && c.num_attention_heads == 48 && c.inner_dim == 3072 && c.ff_inner_dim == 12288);
    CHECK(c.form == WRK_DIT_FORM_5B_ROPE && c.patch_size_t == 0 && c.patch_bias == 1 && c.ofs_embed_dim == 0);
    CHECK(c.latent_frames == 13 && c.norm_eps == 1e-5 && c.out_channels == 16);
    CHECK_STR(c.class_name, "CogVideoXTransformer3DModel");
    wrk_dit_config_str(&c, line, sizeof line);
    CHECKF(strstr(line, "5b-rope") && strstr(line, "42 layers"), "%s", line);
}

static void test_defaults_and_forms(void)
{
    wrk_dit_config_t c;
    char err[512];
    CHECKF(wrk_dit_config_parse("{}", 2, "empty", &c, err, sizeof err) == 0, "%s", err);
    /* diffusers defaults are the 2B model */
    CHECK(c.num_layers == 30 && c.num_attention_heads == 30 && c.inner_dim == 1920 && c.form == WRK_DIT_FORM_2B_SINCOS);
    CHECK(c.spatial_interpolation_scale == 1.875 && c.max_text_seq_length == 226 && c.out_channels == 16);
    const char *v15 = "{\"use_rotary_positional_embeddings\": true, \"patch_size_t\": 2, \"patch_bias\": false,"
                      " \"ofs_embed_dim\": null, \"out_channels\": null, \"in_channels\": 32}";
    CHECKF(wrk_dit_config_parse(v15, strlen(v15), "v15", &c, err, sizeof err) == 0, "%s", err);
    CHECK(c.form == WRK_DIT_FORM_15_ROPE && c.patch_size_t == 2 && !c.patch_bias && c.out_channels == 32);
}

typedef struct { const char *text, *field; } bad_t;

static void test_errors(void)
{
    static const bad_t bad[] = {
        {"{\"num_layers\": 0}", "num_layers"},
        {"{\"num_layers\": \"42\"}", "num_layers"},
        {"{\"num_layers\": 4.5}", "num_layers"},
        {"{\"flip_sin_to_cos\": 1}", "flip_sin_to_cos"},
        {"{\"activation_fn\": \"gelu\"}", "activation_fn"},
        {"{\"timestep_activation_fn\": \"relu\"}", "timestep_activation_fn"},
        {"{\"use_learned_positional_embeddings\": true}", "use_learned_positional_embeddings"},
        {"{\"use_learned_positional_embeddings\": true, \"use_rotary_positional_embeddings\": true}",
         "use_learned_positional_embeddings"},
        {"{\"use_rotary_positional_embeddings\": true, \"attention_head_dim\": 60}", "attention_head_dim"},
        {"{\"attention_head_dim\": 6, \"num_attention_heads\": 1}", "attention_head_dim"},
        {"{\"patch_size_t\": 2}", "patch_size_t"},
        {"{\"num_layer\": 4}", "num_layer"},
        {"{\"norm_eps\": -1}", "norm_eps"},
    };
    char err[512];
    wrk_dit_config_t c;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = wrk_dit_config_parse(bad[i].text, strlen(bad[i].text), "cfg.json", &c, err, sizeof err);
        CHECKF(rc == -1 && strstr(err, "cfg.json") && strstr(err, bad[i].field), "%s -> %s", bad[i].text, err);
    }
    CHECK(wrk_dit_config_parse("{", 1, "cfg.json", &c, err, sizeof err) == -1 && strstr(err, "cfg.json"));
    CHECK(wrk_dit_config_parse("[]", 2, "cfg.json", &c, err, sizeof err) == -1);
}

static void test_sched(void)
{
    wrk_sched_config_t s;
    char err[512];
    CHECKF(wrk_sched_config_parse(sched_5b, strlen(sched_5b), "s", &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.num_train_timesteps == 1000 && s.beta_schedule == WRK_BETA_SCALED_LINEAR && s.prediction_type == WRK_PRED_V);
    CHECK(s.timestep_spacing == WRK_SPACING_TRAILING && s.rescale_betas_zero_snr && s.snr_shift_scale == 1.0);
    CHECK(s.set_alpha_to_one && !s.clip_sample && s.beta_start == 0.00085 && s.beta_end == 0.012);
    CHECK_STR(s.class_name, "CogVideoXDDIMScheduler");
    CHECK(wrk_sched_config_parse("{}", 2, "s", &s, err, sizeof err) == 0);
    CHECK(s.snr_shift_scale == 3.0 && s.prediction_type == WRK_PRED_EPSILON && s.timestep_spacing == WRK_SPACING_LEADING);
    static const bad_t bad[] = {
        {"{\"beta_schedule\": \"cosine\"}", "beta_schedule"},
        {"{\"trained_betas\": [0.1]}", "trained_betas"},
        {"{\"prediction_type\": \"v\"}", "prediction_type"},
        {"{\"timestep_spacing\": \"Trailing\"}", "timestep_spacing"},
        {"{\"_class_name\": \"EulerDiscreteScheduler\"}", "_class_name"},
        {"{\"thresholding\": true}", "thresholding"},
        {"{\"beta_start\": 0.1, \"beta_end\": 0.01}", "beta_end"},
        {"{\"snr_shift\": 1}", "snr_shift"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = wrk_sched_config_parse(bad[i].text, strlen(bad[i].text), "sch.json", &s, err, sizeof err);
        CHECKF(rc == -1 && strstr(err, "sch.json") && strstr(err, bad[i].field), "%s -> %s", bad[i].text, err);
    }
}

static void test_load_dir(void)
{
    char dir[] = "/tmp/test_cfg_XXXXXX", p[256], err[512];
    if (!mkdtemp(dir)) { CHECK(0); return; }
    snprintf(p, sizeof p, "%s/transformer", dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/scheduler", dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/transformer/config.json", dir);
    FILE *fp = fopen(p, "w"); fputs(cfg_5b, fp); fclose(fp);
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", dir);
    fp = fopen(p, "w"); fputs(sched_5b, fp); fclose(fp);
    wrk_dit_config_t c;
    wrk_sched_config_t s;
    CHECKF(wrk_dit_config_load(dir, &c, err, sizeof err) == 0 && c.num_layers == 42, "%s", err);
    snprintf(p, sizeof p, "%s/transformer", dir);
    CHECKF(wrk_dit_config_load(p, &c, err, sizeof err) == 0 && c.num_layers == 42, "%s", err);
    CHECKF(wrk_sched_config_load(dir, &s, err, sizeof err) == 0 && s.prediction_type == WRK_PRED_V, "%s", err);
    CHECK(wrk_sched_config_load(p, &s, err, sizeof err) == -1 && strstr(err, "transformer"));
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    CHECK(system(p) == 0);
}

int main(void)
{
    T_RUN(test_5b);
    T_RUN(test_defaults_and_forms);
    T_RUN(test_errors);
    T_RUN(test_sched);
    T_RUN(test_load_dir);
    T_DONE();
}
