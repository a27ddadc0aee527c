/* cmd_submit.c — `farm submit FILE|- [--dry-run]`: reads the shot list (- = standard input), validates it locally with
 * proto_shotlist_parse (every error names row and field; nothing is sent when any is found), then
 * sends the text to farmd in a SUBMIT, which validates it again and records the job atomically. */
#include "ops/commands.h"
#include "proto/shotlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads at most PROTO_SHOTLIST_MAX_BYTES (+1 to detect "too big"); *size is the real size. */
static int read_list(const char *path, char **buf, size_t *len, long long *size, char *err, size_t errlen)
{
    size_t cap = PROTO_SHOTLIST_MAX_BYTES + 1;
    int fd = strcmp(path, "-") ? open(path, O_RDONLY) : dup(STDIN_FILENO);   /* "-": standard input */
    struct stat st;
    *buf = NULL; *len = 0; *size = -1;
    if (fd < 0) { snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno)); return -1; }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) *size = (long long)st.st_size;
    if (!(*buf = malloc(cap + 1))) { close(fd); snprintf(err, errlen, "out of memory"); return -1; }
    while (*len < cap) {
        ssize_t n = read(fd, *buf + *len, cap - *len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { snprintf(err, errlen, "reading '%s': %s", path, strerror(errno)); close(fd); free(*buf); *buf = NULL; return -1; }
        if (n == 0) break;
        *len += (size_t)n;
    }
    close(fd);
    (*buf)[*len] = 0;
    if (*size < 0 || *len < cap) *size = (long long)*len;
    return 0;
}

static void print_shot(ops_out_t *o, const proto_shot_t *s)
{
    char size[32], outs[300] = "";
    snprintf(size, sizeof size, "%dx%d", s->width, s->height);
    for (int k = 0; k < s->n_outputs; k++) { strcat(outs, k ? "," : ""); strcat(outs, s->outputs[k]); }
    ops_out_open(o, NULL);
    ops_out_str(o, "name", "%-24s ", s->name);
    ops_out_int(o, "frames", "%7lld ", s->frames);
    ops_out_int(o, "width", NULL, s->width);
    ops_out_int(o, "height", NULL, s->height);
    ops_out_text(o, "%-10s ", size);
    ops_out_num(o, "fps", "%6g ", s->fps);
    ops_out_str(o, "engine", "%-9s ", s->engine);
    ops_out_int(o, "window", "%6lld ", s->window);
    ops_out_int(o, "overlap", "%7lld ", s->overlap);
    ops_out_int(o, "priority", "%4lld ", s->priority);
    ops_out_int(o, "seed", NULL, (int64_t)s->seed);
    ops_out_int(o, "steps", NULL, s->steps);
    ops_out_num(o, "guidance", NULL, s->guidance);
    ops_out_str(o, "strategy", NULL, s->strategy);
    ops_out_str(o, "model", NULL, s->model);
    ops_out_list(o, "outputs");
    for (int k = 0; k < s->n_outputs; k++) ops_out_str(o, NULL, NULL, s->outputs[k]);
    ops_out_list_end(o);
    ops_out_text(o, "%s\n", outs);
    ops_out_close(o);
}

static int dry_run(ops_ctx_t *c, const char *path, const proto_shotlist_t *l)
{
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_str(&o, "file", "%s: valid, ", path);
    ops_out_int(&o, "n_shots", "%lld shot(s); nothing submitted (--dry-run)\n", l->n);
    ops_out_text(&o, "%-24s %7s %-10s %6s %-9s %6s %7s %4s %s\n", "NAME", "FRAMES", "SIZE", "FPS", "ENGINE",
                 "WINDOW", "OVERLAP", "PRIO", "OUTPUTS");
    ops_out_list(&o, "shots");
    for (int i = 0; i < l->n; i++) print_shot(&o, &l->shots[i]);
    ops_out_list_end(&o);
    ops_out_close(&o);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}

static int send_list(ops_ctx_t *c, const char *path, const char *text, int n_shots)
{
    proto_msg_t m, r;
    char err[512];
    const char *base = strrchr(path, '/');
    proto_msg_init(&m, PROTO_SUBMIT);
    snprintf(m.file_name, sizeof m.file_name, "%s", base ? base + 1 : path);
    if (proto_msg_set_text(&m, text) < 0) { proto_msg_free(&m); fprintf(stderr, "farm submit: out of memory\n"); return OPS_EXIT_ERROR; }
    int rc = ops_request(c, &m, PROTO_SUBMIT_REPLY, &r, err, sizeof err);
    proto_msg_free(&m);
    if (rc) { fprintf(stderr, "farm submit: %s\n", err); return rc; }
    if (r.status != 0) {
        fprintf(stderr, "farm submit: farmd refused %s:\n%s\n", path, r.text ? r.text : "");
        proto_msg_free(&r);
        return OPS_EXIT_REFUSED;
    }
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_int(&o, "job_id", "job %lld submitted: ", (int64_t)r.job_id);
    if (n_shots >= 0) ops_out_int(&o, "n_shots", "%lld shot(s) from ", n_shots);
    else ops_out_text(&o, "from ");
    ops_out_str(&o, "file", "%s\n", path);
    ops_out_close(&o);
    proto_msg_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}

/* --no-local-check: the file (up to farmd's text limit) goes to farmd as is. */
static int submit_unchecked(ops_ctx_t *c, const char *path)
{
    char err[512];
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "farm submit: cannot open '%s'\n", path); return OPS_EXIT_ERROR; }
    char *text = malloc(PROTO_TEXT_MAX + 1);
    size_t n = text ? fread(text, 1, PROTO_TEXT_MAX, f) : 0;
    int bad = !text || ferror(f) || memchr(text, 0, n);
    fclose(f);
    if (bad) {
        snprintf(err, sizeof err, text ? "cannot send '%s': unreadable or contains NUL bytes" : "out of memory", path);
        fprintf(stderr, "farm submit: %s\n", err);
        free(text);
        return OPS_EXIT_ERROR;
    }
    text[n] = 0;
    int rc = send_list(c, path, text, -1);
    free(text);
    return rc;
}

int ops_cmd_submit(ops_ctx_t *c, int argc, char **argv)
{
    int dry = 0, nolocal = 0, npos, rc;
    char *pos[1], *text = NULL, err[512];
    const ops_opt_t tab[] = {
        { "dry-run", NULL, OPS_OPT_FLAG, &dry, 0, 0, 0, "validate and print the shots; submit nothing" },
        { "no-local-check", NULL, OPS_OPT_FLAG, &nolocal, 0, 0, 0, "send without validating here (farmd validates again anyway)" },
    };
    if ((rc = ops_start(c, argc, argv, tab, 2, pos, 1, 1, &npos)) >= 0) return rc;
    if (nolocal && !dry) return submit_unchecked(c, pos[0]);
    size_t len;
    long long size;
    if (read_list(pos[0], &text, &len, &size, err, sizeof err) < 0) { fprintf(stderr, "farm submit: %s\n", err); return OPS_EXIT_ERROR; }
    proto_shotlist_t l;
    size_t errcap = 256 * 1024;
    char *perr = malloc(errcap);
    if (!perr) { free(text); return OPS_EXIT_ERROR; }
    if (size > (long long)PROTO_SHOTLIST_MAX_BYTES) {
        fprintf(stderr, "farm submit: %s: file: file is %lld bytes: at most %u bytes are allowed\n", pos[0], size, PROTO_SHOTLIST_MAX_BYTES);
        rc = OPS_EXIT_INVALID;
    } else if (proto_shotlist_parse(text, len, &l, perr, errcap) < 0) {
        fprintf(stderr, "farm submit: %s is not a valid shot list; nothing was submitted:\n", pos[0]);
        for (char *save = NULL, *t = strtok_r(perr, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
            fprintf(stderr, "  %s: %s\n", pos[0], t);
        rc = OPS_EXIT_INVALID;
    } else {
        rc = dry ? dry_run(c, pos[0], &l) : send_list(c, pos[0], text, l.n);
        proto_shotlist_free(&l);
    }
    free(perr);
    free(text);
    return rc;
}
