/* cmd_render.c — `farm-worker render`: one window through the whole RGBA pipeline without a
 * coordinator, written as PNG frames. How a studio checks a model install, and what the end-to-end
 * parity test drives.
 *
 *   farm-worker render --model DIR [--lora FILE] --prompt TEXT [--negative TEXT] --frames N
 *                      --width W --height H --steps S --guidance G --seed X [--window I]
 *                      [--noise FILE] --out DIR [--cfg diffusers|step|constant] [--mask none|bias|hard]
 *                      [--no-tiling] [--tp N] [--threads N] [--device cpu|cuda|auto]
 *
 * Writes OUT/frame_00000.png … (8-bit RGBA, straight alpha; the frames the engine would upload as
 * the window artifact, un-premultiplied) and one summary line on stdout. --noise FILE replays the
 * initial latent and the DPM step noise from a safetensors (`latents`, `step_noise`, see
 * pipeline.h); without it the noise comes from (seed, window) as on the farm.
 * Exit status: 0 ok, 1 failure (the message names the failure class), 2 usage.
 */
#include "worker/commands.h"
#include "worker/device.h"
#include "worker/model/pipeline.h"
#include "worker/opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "proto/proto.h"

typedef struct {
    char model[4096], lora[4096], prompt[8192], negative[8192], out[4096], noise[4096];
    char guidance[64], seed[64], cfg[32], mask[32], device[16];
    int  frames, width, height, steps, window, no_tiling, tp, threads;
} rnd_cli_t;

#define O(f) offsetof(rnd_cli_t, f), sizeof(((rnd_cli_t *)0)->f)
static const wrk_opt_t RND_OPTS[] = {
    { "model",     "DIR",  WRK_OPT_STR,  O(model), 0, 0, "diffusers CogVideoX model directory (model_index.json) (required)" },
    { "lora",      "FILE", WRK_OPT_STR,  O(lora), 0, 0, "TransPixar RGBA LoRA .safetensors (without it: RGB, opaque alpha)" },
    { "prompt",    "TEXT", WRK_OPT_STR,  O(prompt), 0, 0, "prompt (required)" },
    { "negative",  "TEXT", WRK_OPT_STR,  O(negative), 0, 0, "negative prompt, default empty" },
    { "frames",    "N",    WRK_OPT_INT,  O(frames), 1, 100000, "pixel frames, 1+4k (default 49)" },
    { "width",     "W",    WRK_OPT_INT,  O(width), 1, 16384, "width in pixels, a multiple of 16 (default 720)" },
    { "height",    "H",    WRK_OPT_INT,  O(height), 1, 16384, "height in pixels, a multiple of 16 (default 480)" },
    { "steps",     "S",    WRK_OPT_INT,  O(steps), 1, 1000, "inference steps (default 50)" },
    { "guidance",  "G",    WRK_OPT_STR,  O(guidance), 0, 0, "classifier-free guidance scale (default 6; CFG iff > 1)" },
    { "seed",      "X",    WRK_OPT_STR,  O(seed), 0, 0, "noise seed, unsigned 64-bit (default 0)" },
    { "window",    "I",    WRK_OPT_INT,  O(window), 0, 1000000, "window index keying the noise (default 0)" },
    { "noise",     "FILE", WRK_OPT_STR,  O(noise), 0, 0, "replay noise: safetensors with latents and step_noise" },
    { "out",       "DIR",  WRK_OPT_STR,  O(out), 0, 0, "folder for frame_NNNNN.png (created) (required)" },
    { "cfg",       "FORM", WRK_OPT_STR,  O(cfg), 0, 0, "guidance schedule: diffusers (dynamic, default) | step | constant" },
    { "mask",      "RULE", WRK_OPT_STR,  O(mask), 0, 0, "text->alpha attention rule: bias (default) | none | hard" },
    { "no-tiling", NULL,   WRK_OPT_FLAG, O(no_tiling), 0, 1, "decode without VAE spatial tiling" },
    { "tp",        "N",    WRK_OPT_INT,  O(tp), 1, 64, "tensor-parallel degree of the DiT (default: the GPUs on CUDA, 1 on CPU)" },
    { "device",    "DEV",  WRK_OPT_STR,  O(device), 0, 0, "compute device: cpu | cuda | auto (env FARM_DEVICE, default auto)" },
    { "threads",   "N",    WRK_OPT_INT,  O(threads), 1, 4096, "compute threads (default all)" },
};
#define N_RND_OPTS ((int)(sizeof RND_OPTS / sizeof RND_OPTS[0]))
static const char RND_USAGE[] =
    "usage: farm-worker render --model DIR --prompt TEXT --out DIR [OPTIONS]\n\n"
    "Renders one RGBA window locally (no coordinator) and writes 8-bit straight-alpha PNG frames.";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- options → request ---- */

static int parse_numbers(const rnd_cli_t *c, wrk_pipe_req_t *q, char *err, size_t errlen)
{
    char *end;
    if (c->guidance[0]) {
        errno = 0;
        q->guidance = strtod(c->guidance, &end);
        if (*end || errno || !isfinite(q->guidance) || q->guidance < 0) { snprintf(err, errlen, "--guidance: not a number >= 0"); return -1; }
    }
    if (c->seed[0]) {
        errno = 0;
        q->seed = strtoull(c->seed, &end, 0);
        if (*end || errno || c->seed[0] == '-') { snprintf(err, errlen, "--seed: not an unsigned 64-bit number"); return -1; }
    }
    return 0;
}

static int parse_modes(const rnd_cli_t *c, wrk_pipe_req_t *q, wrk_pipe_opts_t *o, char *err, size_t errlen)
{
    if (c->cfg[0] && wrk_cfg_mode_from_name(c->cfg, &q->cfg_mode)) {
        snprintf(err, errlen, "--cfg must be diffusers, step or constant");
        return -1;
    }
    if (c->mask[0] && wrk_dit_mask_from_name(c->mask, &o->mask)) {
        snprintf(err, errlen, "--mask must be none, bias or hard");
        return -1;
    }
    return 0;
}

static int build(const rnd_cli_t *c, wrk_pipe_req_t *q, wrk_pipe_opts_t *o, char *err, size_t errlen)
{
    if (!c->model[0] || !c->prompt[0] || !c->out[0]) { snprintf(err, errlen, "--model, --prompt and --out are required"); return -1; }
    wrk_pipe_req_default(q);
    wrk_pipe_opts_default(o);
    q->prompt = c->prompt; q->negative = c->negative;
    if (c->frames) q->frames = c->frames;
    if (c->width) q->width = c->width;
    if (c->height) q->height = c->height;
    if (c->steps) q->steps = c->steps;
    q->window = (uint32_t)c->window;
    o->lora_path = c->lora[0] ? c->lora : NULL;
    o->tiled = !c->no_tiling;
    o->tp = c->tp;                 /* 0: auto (dit.h) */
    o->threads = c->threads;
    return parse_numbers(c, q, err, errlen) || parse_modes(c, q, o, err, errlen) ? -1 : 0;
}

/* ---- output ---- */

static void on_progress(void *ctx, int done, int total)
{
    fprintf(stderr, "render: %d/%d (%.1f s)\n", done, total, now_s() - *(double *)ctx);
}

static int write_pngs(const char *dir, const proto_frames_t *f, char *err, size_t errlen)
{
    char path[4200];
    if (mkdir(dir, 0777) && errno != EEXIST) { snprintf(err, errlen, "%.1000s: %s", dir, strerror(errno)); return -1; }
    for (int i = 0; i < f->n; i++) {
        snprintf(path, sizeof path, "%s/frame_%05d.png", dir, i);
        if (wrk_pipe_png_write(path, proto_frame(f, i), f->w, f->h, err, errlen)) return -1;
    }
    return 0;
}

static int run(const rnd_cli_t *c, int *cls_out, char *err, size_t errlen)
{
    wrk_pipe_req_t q;
    wrk_pipe_opts_t o;
    wrk_pipe_noise_t nz = { 0 };
    wrk_pipe_t *p = NULL;
    wrk_pipe_frames_t fr = { 0 };
    proto_frames_t pf = { 0 };
    int cls = PROTO_FAIL_MODEL, rc = -1;
    double t0 = now_s();
    char line[256];
    if (build(c, &q, &o, err, errlen) || wrk_device_choose(c->device, line, sizeof line, err, errlen)) return 2;
    fprintf(stderr, "render: %s\n", line);
    q.progress = on_progress; q.ctx = &t0;
    if (c->noise[0] && wrk_pipe_noise_load(c->noise, &nz, err, errlen)) goto out;
    if (c->noise[0]) q.noise = &nz;
    if (wrk_pipe_load(c->model, &o, &p, err, errlen)) goto out;
    double t1 = now_s();
    if (wrk_pipe_render(p, &q, &fr, &cls, err, errlen) != WRK_PIPE_OK) goto out;
    if (wrk_pipe_to_proto(&fr, 0, &pf, err, errlen) || write_pngs(c->out, &pf, err, errlen)) goto out;
    const wrk_pipe_stats_t *st = wrk_pipe_stats(p);
    printf("rendered %d frames %dx%d (%s) in %.2f s (load %.2f s, text %.2f s, %d steps %.2f s, decode %.2f s) "
           "-> %s/frame_*.png\n", pf.n, pf.w, pf.h, wrk_pipe_rgba(p) ? "RGBA" : "RGB, opaque", now_s() - t1, t1 - t0,
           st->text_s, st->steps, st->denoise_s, st->decode_s, c->out);
    rc = 0;
out:
    *cls_out = cls;
    proto_frames_free(&pf);
    wrk_pipe_frames_free(&fr);
    wrk_pipe_destroy(&p);
    wrk_pipe_noise_free(&nz);
    return rc ? 1 : 0;
}

int wrk_cmd_render(int argc, char **argv)
{
    static rnd_cli_t c;
    char err[2048] = "";
    int help = 0, npos = 0;
    memset(&c, 0, sizeof c);
    if (wrk_opts_parse(RND_OPTS, N_RND_OPTS, &c, argc, argv, NULL, 0, &npos, &help, err, sizeof err) < 0) {
        fprintf(stderr, "render: %s\n", err);
        return 2;
    }
    if (help) {
        wrk_opts_help(stdout, RND_USAGE, RND_OPTS, N_RND_OPTS);
        return (fflush(stdout) != 0 || ferror(stdout)) ? 1 : 0;
    }
    int cls = PROTO_FAIL_MODEL, rc = run(&c, &cls, err, sizeof err);
    if (rc == 2) fprintf(stderr, "render: %s\n", err);
    else if (rc) fprintf(stderr, "render: %s (class %s)\n", err, proto_fail_class_name(cls));
    if (fflush(stdout) != 0 || ferror(stdout)) rc = 1;
    return rc;
}
