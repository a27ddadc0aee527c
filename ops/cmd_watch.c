/* cmd_watch.c — `farm watch [JOB]`: live progress until the job (without JOB: every job) has ended.
 * On a terminal: the screen is redrawn each interval with a progress bar per shot (per job without
 * JOB). Otherwise (a pipe, a log file): one plain line whenever something changed, and at least
 * every 10 s. With --json: one JSON document per line whenever something changed. Exits 0 when
 * everything watched is done, failed or cancelled. */
#include "ops/commands.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    ops_ctx_t *c;
    uint64_t job;
    int tty, interval;
    char last[1024];
    time_t last_print;
} watch_t;

static void bar(char *out, size_t len, double frac, int width)
{
    int fill = (int)(frac * width + 0.5);
    size_t o = 0;
    out[o++] = '[';
    for (int i = 0; i < width && o + 2 < len; i++) out[o++] = i < fill ? '#' : '-';
    out[o++] = ']';
    out[o] = 0;
}

/* One-line summary of a job object (used for change detection and plain output). */
static void summary(const proto_json_t *j, double frac, char *out, size_t len)
{
    const proto_json_t *w = proto_json_get(j, "windows");
    snprintf(out, len, "job %lld %s %.1f%% windows %lld/%lld verified, %lld running, %lld queued, %lld failed",
             (long long)ops_ji(j, "id"), ops_js(j, "state"), 100 * frac, (long long)ops_ji(w, "verified"),
             (long long)ops_ji(w, "total"), (long long)ops_ji(w, "running"), (long long)ops_ji(w, "queued"),
             (long long)ops_ji(w, "failed"));
}

static void draw_tty(const proto_json_t *j)
{
    char b[64], line[512];
    double frac = ops_job_progress(j);
    summary(j, frac, line, sizeof line);
    printf("\033[H\033[2J%s\n\n", line);
    const proto_json_t *shots = proto_json_get(j, "shots");
    for (size_t i = 0; i < proto_json_len(shots); i++) {
        const proto_json_t *s = proto_json_at(shots, i);
        double f = ops_shot_progress(s);
        bar(b, sizeof b, f, 30);
        printf("  %-24s %s %5.1f%%  %s\n", ops_js(s, "name"), b, 100 * f, ops_js(s, "state"));
    }
    fflush(stdout);
}

/* One poll of one job. Returns 1 when it has ended, 0 to go on, or an exit code + 100 on error. */
static int watch_job(watch_t *w)
{
    proto_json_t *r;
    char err[512], line[1024];
    int rc = ops_query(w->c, "job", w->job, 0, NULL, &r, err, sizeof err);
    if (rc == OPS_EXIT_UNREACHABLE) { fprintf(stderr, "farm watch: %s; retrying\n", err); return 0; }
    if (rc) { fprintf(stderr, "farm watch: %s\n", err); return 100 + rc; }
    const proto_json_t *j = proto_json_get(r, "job");
    double frac = ops_job_progress(j);
    int ended = ops_state_final(ops_js(j, "state"));
    summary(j, frac, line, sizeof line);
    int changed = strcmp(line, w->last) != 0;
    snprintf(w->last, sizeof w->last, "%s", line);
    if (w->c->json && (changed || ended)) {
        ops_out_t o;
        ops_out_init(&o, w->c, stdout);
        ops_out_open(&o, NULL);
        ops_print_job(&o, j);
        ops_out_close(&o);
        if (ops_out_end(&o) < 0) rc = OPS_EXIT_ERROR;
    } else if (!w->c->json && w->tty) draw_tty(j);
    else if (!w->c->json && (changed || ended || time(NULL) - w->last_print >= 10)) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        printf("%02d:%02d:%02dZ %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, line);
        fflush(stdout);
        w->last_print = t;
    }
    proto_json_free(&r);
    if ((fflush(stdout) != 0 || ferror(stdout))) return 100 + OPS_EXIT_ERROR;
    return rc ? 100 + rc : ended;
}

/* One job line of the all-jobs view (text bar, or a JSON document per line with --json). */
static void all_line(watch_t *w, const proto_json_t *j, double f)
{
    char b[64];
    ops_out_t o;
    bar(b, sizeof b, f, 30);
    ops_out_init(&o, w->c, stdout);
    ops_out_open(&o, NULL);
    ops_out_int(&o, "id", "job %-5lld ", ops_ji(j, "id"));
    ops_out_text(&o, "%s ", b);
    ops_out_num(&o, "progress_pct", "%5.1f%%  ", 100 * f);
    ops_out_state(&o, "state", "%s\n", ops_js(j, "state"));
    ops_out_close(&o);
    ops_out_end(&o);
}

/* One poll of all jobs: a line (or bar) per active job. 1 when none is active. */
static int watch_all(watch_t *w)
{
    proto_json_t *r;
    char err[512];
    int rc = ops_query(w->c, "jobs", 0, 0, NULL, &r, err, sizeof err);
    if (rc == OPS_EXIT_UNREACHABLE) { fprintf(stderr, "farm watch: %s; retrying\n", err); return 0; }
    if (rc) { fprintf(stderr, "farm watch: %s\n", err); return 100 + rc; }
    const proto_json_t *jobs = proto_json_get(r, "jobs");
    int active = 0;
    if (w->tty && !w->c->json) printf("\033[H\033[2J");
    for (size_t i = 0; i < proto_json_len(jobs); i++) {
        const proto_json_t *j = proto_json_at(jobs, i), *win = proto_json_get(j, "windows");
        double t = (double)ops_ji(win, "total"), f = t > 0 ? (double)ops_ji(win, "verified") / t : 0;
        if (ops_state_final(ops_js(j, "state"))) continue;
        active++;
        all_line(w, j, f);
    }
    if (!active && !w->c->json) printf("no active jobs\n");
    proto_json_free(&r);
    return (fflush(stdout) != 0 || ferror(stdout)) ? 100 + OPS_EXIT_ERROR : !active;
}

int ops_cmd_watch(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc, interval = 1000;
    char *pos[1], err[512];
    const ops_opt_t tab[] = {
        { "interval-ms", "MS", OPS_OPT_INT, &interval, 0, 50, 600000, "refresh interval (default 1000)" },
    };
    if ((rc = ops_start(c, argc, argv, tab, 1, pos, 0, 1, &npos)) >= 0) return rc;
    watch_t w = { .c = c, .tty = isatty(STDOUT_FILENO), .interval = interval };
    if (npos && ops_job_id(pos[0], &w.job, err, sizeof err) < 0) { fprintf(stderr, "farm watch: %s\n", err); return OPS_EXIT_USAGE; }
    for (;;) {
        rc = w.job ? watch_job(&w) : watch_all(&w);
        if (rc == 1) return OPS_EXIT_OK;
        if (rc >= 100) return rc - 100;
        usleep((useconds_t)interval * 1000);
    }
}
