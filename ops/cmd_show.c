/* cmd_show.c — `farm show JOB`: the job, its shots (state, size, strategy, outputs, result paths) and
 * every window (frames, state, attempts, worker, progress, and what a queued window waits for). */
#include "ops/commands.h"

#include <string.h>

/* Frames done (verified, plus running windows' reported fraction) and total frames of a shot. */
static void shot_frames(const proto_json_t *shot, double *done, double *total)
{
    const proto_json_t *ws = proto_json_get(shot, "windows");
    for (size_t k = 0; k < proto_json_len(ws); k++) {
        const proto_json_t *w = proto_json_at(ws, k);
        if (!strcmp(ops_js(w, "role"), "anchor")) continue;   /* the anchor stage is not output frames */
        double n = (double)ops_ji(w, "n"), pt = (double)ops_ji(w, "progress_total");
        *total += n;
        if (!strcmp(ops_js(w, "state"), "verified")) *done += n;
        else if (!strcmp(ops_js(w, "state"), "running") && pt > 0) *done += n * (double)ops_ji(w, "progress_done") / pt;
    }
}

double ops_shot_progress(const proto_json_t *shot)
{
    double done = 0, total = 0;
    shot_frames(shot, &done, &total);
    return total > 0 ? done / total : 0;
}

double ops_job_progress(const proto_json_t *job)
{
    const proto_json_t *shots = proto_json_get(job, "shots");
    double done = 0, total = 0;
    for (size_t i = 0; i < proto_json_len(shots); i++) shot_frames(proto_json_at(shots, i), &done, &total);
    return total > 0 ? done / total : 0;
}

static void print_window(ops_out_t *o, const proto_json_t *w)
{
    char frames[48], prog[32] = "";
    int64_t first = ops_ji(w, "first"), n = ops_ji(w, "n"), pt = ops_ji(w, "progress_total");
    snprintf(frames, sizeof frames, "%lld-%lld", (long long)first, (long long)(first + n - 1));
    if (pt > 0) snprintf(prog, sizeof prog, "%lld/%lld", (long long)ops_ji(w, "progress_done"), (long long)pt);
    ops_out_open(o, NULL);
    ops_out_int(o, "idx", "    %4lld ", ops_ji(w, "idx"));
    ops_out_int(o, "first", NULL, first);
    ops_out_int(o, "n", NULL, n);
    ops_out_text(o, "%-13s ", frames);
    ops_out_state(o, "state", "%-10s ", ops_js(w, "state"));
    ops_out_int(o, "attempts", "%8lld ", ops_ji(w, "attempts"));
    ops_out_int(o, "attempts_total", NULL, ops_ji(w, "attempts_total"));
    ops_out_str(o, "worker", "%-20s ", *ops_js(w, "worker") ? ops_js(w, "worker") : "-");
    ops_out_int(o, "attempt_id", NULL, ops_ji(w, "attempt_id"));
    ops_out_int(o, "progress_done", NULL, ops_ji(w, "progress_done"));
    ops_out_int(o, "progress_total", NULL, pt);
    ops_out_text(o, "%s", prog);
    const char *waits = ops_js(w, "waits_for"), *role = ops_js(w, "role");
    int is_anchor = !strcmp(role, "anchor");
    ops_out_str(o, "role", NULL, role);
    ops_out_str(o, "waits_for", NULL, waits);
    if (is_anchor) ops_out_text(o, "%s(anchor stage)", *prog ? " " : "");
    if (*waits) ops_out_text(o, "%swaits for %s", *prog || is_anchor ? ", " : "", waits);
    ops_out_text(o, "\n");
    ops_out_int(o, "after", NULL, ops_ji(w, "after"));
    ops_out_str(o, "artifact", NULL, ops_js(w, "artifact"));
    ops_out_close(o);
}

static void print_shot(ops_out_t *o, const proto_json_t *s)
{
    const proto_json_t *outs = proto_json_get(s, "outputs"), *res = proto_json_get(s, "result");
    ops_out_open(o, NULL);
    ops_out_str(o, "name", "  shot %s  ", ops_js(s, "name"));
    ops_out_state(o, "state", "%s", ops_js(s, "state"));
    ops_out_int(o, "id", NULL, ops_ji(s, "id"));
    ops_out_int(o, "frames", "  %lld frames", ops_ji(s, "frames"));
    ops_out_int(o, "width", "  %lld", ops_ji(s, "width"));
    ops_out_int(o, "height", "x%lld", ops_ji(s, "height"));
    ops_out_num(o, "fps", " @ %g fps", proto_json_get(s, "fps") ? proto_json_get(s, "fps")->num : 0);
    ops_out_str(o, "engine", "  engine %s", ops_js(s, "engine"));
    ops_out_int(o, "window", "  window %lld", ops_ji(s, "window"));
    ops_out_int(o, "overlap", "/%lld", ops_ji(s, "overlap"));
    ops_out_str(o, "strategy", "  strategy %s\n", *ops_js(s, "strategy") ? ops_js(s, "strategy") : "independent");
    ops_out_int(o, "priority", NULL, ops_ji(s, "priority"));
    ops_out_list(o, "outputs");
    ops_out_text(o, "    outputs:");
    for (size_t i = 0; i < proto_json_len(outs); i++) ops_out_str(o, NULL, " %s", proto_json_str(proto_json_at(outs, i)));
    ops_out_list_end(o);
    ops_out_text(o, "\n");
    ops_out_list(o, "result");
    for (size_t i = 0; i < proto_json_len(res); i++) ops_out_str(o, NULL, "    result: %s\n", proto_json_str(proto_json_at(res, i)));
    ops_out_list_end(o);
    const char *e = ops_js(s, "error");
    ops_out_str(o, "error", *e ? "    error: %s\n" : NULL, e);
    ops_out_text(o, "    %4s %-13s %-10s %8s %-20s %s\n", "WIN", "FRAMES", "STATE", "FAILS", "WORKER", "PROGRESS");
    const proto_json_t *ws = proto_json_get(s, "windows");
    ops_out_list(o, "windows");
    for (size_t i = 0; i < proto_json_len(ws); i++) print_window(o, proto_json_at(ws, i));
    ops_out_list_end(o);
    ops_out_close(o);
}

void ops_print_job(ops_out_t *o, const proto_json_t *job)
{
    ops_out_open(o, "job");
    ops_out_text(o, "%-5s %-10s %5s %-11s %8s %s\n", "JOB", "STATE", "SHOTS", "WINDOWS", "ATTEMPTS", "FILE");
    ops_print_job_summary(o, job);
    ops_out_num(o, "progress_pct", "progress %.1f%%\n", 100.0 * ops_job_progress(job));
    const proto_json_t *shots = proto_json_get(job, "shots");
    ops_out_list(o, "shots");
    for (size_t i = 0; i < proto_json_len(shots); i++) print_shot(o, proto_json_at(shots, i));
    ops_out_list_end(o);
    ops_out_close(o);
}

int ops_cmd_show(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc;
    char *pos[1], err[512];
    uint64_t id;
    if ((rc = ops_start(c, argc, argv, NULL, 0, pos, 1, 1, &npos)) >= 0) return rc;
    if (ops_job_id(pos[0], &id, err, sizeof err) < 0) { fprintf(stderr, "farm show: %s\n", err); return OPS_EXIT_USAGE; }
    proto_json_t *r;
    if ((rc = ops_query(c, "job", id, 0, NULL, &r, err, sizeof err))) { fprintf(stderr, "farm show: %s\n", err); return rc; }
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_print_job(&o, proto_json_get(r, "job"));
    ops_out_close(&o);
    proto_json_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
