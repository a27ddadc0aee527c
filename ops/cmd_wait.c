/* cmd_wait.c — `farm wait JOB [--timeout S]`: polls the job until it is done (exit 0), failed (6) or
 * cancelled (7); --timeout passing first exits 8. A farmd that is briefly unreachable (a restart)
 * is waited for, up to the timeout. */
#include "ops/commands.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int final_code(const char *state)
{
    if (!strcmp(state, "done")) return OPS_EXIT_OK;
    return !strcmp(state, "failed") ? OPS_EXIT_FAILED : OPS_EXIT_CANCELLED;
}

int ops_cmd_wait(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc, timeout = 0, interval = 500;
    char *pos[1], err[512], state[32] = "";
    uint64_t id;
    const ops_opt_t tab[] = {
        { "timeout", "SECONDS", OPS_OPT_INT, &timeout, 0, 0, 31536000, "give up after this long, exit 8 (default 0: never)" },
        { "interval-ms", "MS", OPS_OPT_INT, &interval, 0, 50, 600000, "poll interval (default 500)" },
    };
    if ((rc = ops_start(c, argc, argv, tab, 2, pos, 1, 1, &npos)) >= 0) return rc;
    if (ops_job_id(pos[0], &id, err, sizeof err) < 0) { fprintf(stderr, "farm wait: %s\n", err); return OPS_EXIT_USAGE; }
    long long deadline = timeout ? mono_ms() + (long long)timeout * 1000 : 0;
    for (;;) {
        proto_json_t *r;
        rc = ops_query(c, "job", id, 0, NULL, &r, err, sizeof err);
        if (rc && rc != OPS_EXIT_UNREACHABLE) { fprintf(stderr, "farm wait: %s\n", err); return rc; }
        if (rc == 0) {
            snprintf(state, sizeof state, "%s", ops_js(proto_json_get(r, "job"), "state"));
            proto_json_free(&r);
            if (ops_state_final(state)) break;
        } else fprintf(stderr, "farm wait: %s; still waiting\n", err);
        if (deadline && mono_ms() >= deadline) { fprintf(stderr, "farm wait: job %llu still %s after %d s\n", (unsigned long long)id, state, timeout); return OPS_EXIT_TIMEOUT; }
        usleep((useconds_t)interval * 1000);
    }
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_int(&o, "job_id", "job %lld ", (int64_t)id);
    ops_out_state(&o, "state", "%s\n", state);
    ops_out_close(&o);
    if (ops_out_end(&o) < 0) return OPS_EXIT_ERROR;
    return final_code(state);
}
