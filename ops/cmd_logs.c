/* cmd_logs.c — `farm logs JOB [--window SHOT:IDX] [--attempt N]`: every attempt of a job with its
 * worker, outcome, failure class and reason, and the tail of its log as farmd stored it. */
#include "ops/commands.h"

#include <stdlib.h>
#include <string.h>

static int wanted(const proto_json_t *a, const char *window)
{
    if (!*window) return 1;
    char key[160];
    snprintf(key, sizeof key, "%s:%lld", ops_js(a, "shot"), (long long)ops_ji(a, "window"));
    return !strcmp(key, window);
}

static void print_attempt(ops_out_t *o, const proto_json_t *a)
{
    const char *log = ops_js(a, "log"), *cls = ops_js(a, "fail_class"), *why = ops_js(a, "reason");
    ops_out_open(o, NULL);
    ops_out_int(o, "attempt_id", "== attempt %lld", ops_ji(a, "attempt_id"));
    ops_out_str(o, "shot", "  shot %s", ops_js(a, "shot"));
    ops_out_int(o, "window", "  window %lld", ops_ji(a, "window"));
    ops_out_str(o, "worker", "  worker %s  ", *ops_js(a, "worker") ? ops_js(a, "worker") : "-");
    ops_out_state(o, "state", "%s", ops_js(a, "state"));
    ops_out_str(o, "fail_class", *cls ? " (%s)" : NULL, cls);
    ops_out_text(o, "\n");
    ops_out_str(o, "reason", *why ? "   reason: %s\n" : NULL, why);
    ops_out_int(o, "window_id", NULL, ops_ji(a, "window_id"));
    ops_out_int(o, "started_ms", NULL, ops_ji(a, "started_ms"));
    ops_out_int(o, "ended_ms", NULL, ops_ji(a, "ended_ms"));
    ops_out_str(o, "log", *log ? "%s" : NULL, log);
    if (*log && log[strlen(log) - 1] != '\n') ops_out_text(o, "\n");
    ops_out_close(o);
}

int ops_cmd_logs(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc, attempt = 0;
    char *pos[1], err[512], window[128] = "", args[64] = "";
    uint64_t id;
    const ops_opt_t tab[] = {
        { "window", "SHOT:IDX", OPS_OPT_STR, window, sizeof window, 0, 0, "only the attempts of this window" },
        { "attempt", "N", OPS_OPT_INT, &attempt, 0, 1, 2147483647, "only this attempt" },
    };
    if ((rc = ops_start(c, argc, argv, tab, 2, pos, 1, 1, &npos)) >= 0) return rc;
    if (ops_job_id(pos[0], &id, err, sizeof err) < 0) { fprintf(stderr, "farm logs: %s\n", err); return OPS_EXIT_USAGE; }
    if (attempt) snprintf(args, sizeof args, "attempt=%d", attempt);
    proto_json_t *r;
    if ((rc = ops_query(c, "logs", id, 0, args, &r, err, sizeof err))) { fprintf(stderr, "farm logs: %s\n", err); return rc; }
    const proto_json_t *logs = proto_json_get(r, "logs");
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_int(&o, "job_id", NULL, (int64_t)id);
    ops_out_list(&o, "logs");
    int shown = 0;
    for (size_t i = 0; i < proto_json_len(logs); i++)
        if (wanted(proto_json_at(logs, i), window)) { print_attempt(&o, proto_json_at(logs, i)); shown++; }
    ops_out_list_end(&o);
    if (!shown) ops_out_text(&o, "(no attempts%s%s)\n", *window ? " for window " : "", window);
    ops_out_close(&o);
    proto_json_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
