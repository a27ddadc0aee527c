/* cmd_ls.c — `farm ls` (jobs) and `farm workers`: one QUERY each, printed as a table or JSON
 * through the same printer calls. */
#include "ops/commands.h"

#include <string.h>
#include <sys/time.h>

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void ops_print_job_summary(ops_out_t *o, const proto_json_t *j)
{
    const proto_json_t *w = proto_json_get(j, "windows");
    char win[64];
    snprintf(win, sizeof win, "%lld/%lld", (long long)ops_ji(w, "verified"), (long long)ops_ji(w, "total"));
    ops_out_int(o, "id", "%-5lld ", ops_ji(j, "id"));
    ops_out_state(o, "state", "%-10s ", ops_js(j, "state"));
    ops_out_int(o, "n_shots", "%5lld ", ops_ji(j, "n_shots"));
    ops_out_text(o, "%-11s ", win);
    ops_out_open(o, "windows");
    for (size_t i = 0; o->json && i < proto_json_len(w); i++)
        ops_out_int(o, proto_json_at(w, i)->key, NULL, ops_ji(w, proto_json_at(w, i)->key));
    ops_out_close(o);
    ops_out_int(o, "attempts", "%8lld ", ops_ji(j, "attempts"));
    ops_out_str(o, "file", "%s", ops_js(j, "file"));
    ops_out_int(o, "created_ms", NULL, ops_ji(j, "created_ms"));
    ops_out_int(o, "updated_ms", NULL, ops_ji(j, "updated_ms"));
    const char *e = ops_js(j, "error");
    ops_out_str(o, "error", *e ? "  (%s)" : NULL, e);
    ops_out_text(o, "\n");
}

int ops_cmd_ls(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc;
    char *pos[1], err[512];
    if ((rc = ops_start(c, argc, argv, NULL, 0, pos, 0, 0, &npos)) >= 0) return rc;
    proto_json_t *r;
    if ((rc = ops_query(c, "jobs", 0, 0, NULL, &r, err, sizeof err))) { fprintf(stderr, "farm ls: %s\n", err); return rc; }
    const proto_json_t *jobs = proto_json_get(r, "jobs");
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_text(&o, "%-5s %-10s %5s %-11s %8s %s\n", "JOB", "STATE", "SHOTS", "WINDOWS", "ATTEMPTS", "FILE");
    ops_out_list(&o, "jobs");
    for (size_t i = 0; i < proto_json_len(jobs); i++) {
        ops_out_open(&o, NULL);
        ops_print_job_summary(&o, proto_json_at(jobs, i));
        ops_out_close(&o);
    }
    ops_out_list_end(&o);
    if (!proto_json_len(jobs)) ops_out_text(&o, "(no jobs)\n");
    ops_out_close(&o);
    proto_json_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}

static void print_worker(ops_out_t *o, const proto_json_t *w, int64_t now)
{
    int64_t seen = ops_ji(w, "last_seen_ms");
    ops_out_open(o, NULL);
    ops_out_str(o, "id", "%-24s ", ops_js(w, "id"));
    ops_out_state(o, "state", "%-8s ", ops_js(w, "state"));
    ops_out_str(o, "engines", "%-16s ", ops_js(w, "engines"));
    ops_out_int(o, "n_gpus", "%4lld ", ops_ji(w, "n_gpus"));
    ops_out_int(o, "mem_mb", "%8lld ", ops_ji(w, "mem_mb"));
    ops_out_int(o, "attempt_id", "%8lld ", ops_ji(w, "attempt_id"));
    ops_out_text(o, "%7.1fs\n", seen ? (double)(now - seen) / 1000.0 : 0.0);
    ops_out_str(o, "name", NULL, ops_js(w, "name"));
    ops_out_int(o, "first_seen_ms", NULL, ops_ji(w, "first_seen_ms"));
    ops_out_int(o, "last_seen_ms", NULL, seen);
    ops_out_close(o);
}

int ops_cmd_workers(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc;
    char *pos[1], err[512];
    if ((rc = ops_start(c, argc, argv, NULL, 0, pos, 0, 0, &npos)) >= 0) return rc;
    proto_json_t *r;
    if ((rc = ops_query(c, "workers", 0, 0, NULL, &r, err, sizeof err))) { fprintf(stderr, "farm workers: %s\n", err); return rc; }
    const proto_json_t *ws = proto_json_get(r, "workers");
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_text(&o, "%-24s %-8s %-16s %4s %8s %8s %8s\n", "WORKER", "STATE", "ENGINES", "GPUS", "MEM_MB", "ATTEMPT", "SEEN");
    ops_out_list(&o, "workers");
    int64_t now = wall_ms();
    for (size_t i = 0; i < proto_json_len(ws); i++) print_worker(&o, proto_json_at(ws, i), now);
    ops_out_list_end(&o);
    if (!proto_json_len(ws)) ops_out_text(&o, "(no workers)\n");
    ops_out_close(&o);
    proto_json_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
