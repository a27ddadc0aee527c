/* upload.c — receiving a window's result: RESULT chunks are checked (sequence, CRC-32C, size bound)
 * and written to FARM_HOME/artifacts/tmp/a<attempt>.part; on DONE the file is verified against the
 * worker's manifest with proto_artifact_verify and renamed to artifacts/<job>/<shot>/w<idx>.rgba on a
 * pool thread; back on the loop the store commits the verified window, and only then the worker
 * gets ACK "result". Incomplete or corrupt uploads get ACK "resend". */
#include "coordinator/farmd.h"
#include "proto/artifact.h"
#include "proto/checksum.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_SLACK (64u * 1024)
#define UPLOAD_RESENDS 3   /* broken uploads of one attempt answered with "resend" before it fails */

typedef struct {
    int64_t attempt_id;
    proto_env_t env;
    char tmp[1100], dir[1100], final[1200], manifest[PROTO_MANIFEST_MAX + 1];
    proto_manifest_t man;
    int ok;
    char err[512];
} vtask_t;

coord_upload_t *coord_upload_find(coord_farmd_t *f, int64_t attempt_id)
{
    for (int i = 0; i < f->n_up; i++) if (f->up[i].attempt_id == attempt_id) return &f->up[i];
    return NULL;
}

void coord_upload_drop(coord_farmd_t *f, int64_t attempt_id)
{
    coord_upload_t *u = coord_upload_find(f, attempt_id);
    if (!u) return;
    if (u->fd >= 0) close(u->fd);
    if (!u->verifying) unlink(u->path);   /* a verifying file belongs to its task now */
    *u = f->up[--f->n_up];
}

int coord_upload_clean_tmp(coord_farmd_t *f, char *err, size_t errlen)
{
    DIR *d = opendir(f->dir_tmp);
    if (!d) { snprintf(err, errlen, "opendir %s: %s", f->dir_tmp, strerror(errno)); return -1; }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", f->dir_tmp, e->d_name);
        unlink(p);   /* partial uploads from before a restart: workers send them again */
    }
    closedir(d);
    return 0;
}

static coord_upload_t *upload_open(coord_farmd_t *f, int64_t attempt_id, uint64_t total)
{
    if (f->n_up == f->cap_up) {
        int cap = f->cap_up ? f->cap_up * 2 : 16;
        coord_upload_t *p = realloc(f->up, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        f->up = p; f->cap_up = cap;
    }
    coord_upload_t *u = &f->up[f->n_up];
    memset(u, 0, sizeof *u);
    u->attempt_id = attempt_id; u->total = total;
    snprintf(u->path, sizeof u->path, "%s/a%lld.part", f->dir_tmp, (long long)attempt_id);
    u->fd = open(u->path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (u->fd < 0) { coord_logf("open %s: %s", u->path, strerror(errno)); u->broken = 1; }
    f->n_up++;
    return u;
}

static void broken(coord_upload_t *u, const char *why)
{
    if (!u->broken) coord_logf("upload of attempt %lld broken: %s", (long long)u->attempt_id, why);
    u->broken = 1;
}

void coord_upload_chunk(coord_farmd_t *f, const store_attempt_t *a, const proto_msg_t *m)
{
    uint64_t limit = (uint64_t)a->n_frames * (uint64_t)a->width * (uint64_t)a->height * 8u + HEADER_SLACK;
    coord_upload_t *u = coord_upload_find(f, a->id);
    if (u && u->verifying) return;
    if (u && m->offset == 0) { coord_upload_drop(f, a->id); u = NULL; }   /* a fresh upload */
    if (!u && !(u = upload_open(f, a->id, m->total_size))) return;
    if (m->offset == 0 && (m->total_size == 0 || m->total_size > limit)) broken(u, "total size out of bounds");
    if (m->offset != u->received) broken(u, "chunk out of sequence");
    if (m->total_size != u->total) broken(u, "total size changed");
    if (m->offset + m->data_len > u->total) broken(u, "chunk past the announced size");
    if (proto_crc32c(0, m->data, m->data_len) != m->crc32c) broken(u, "CRC-32C mismatch");
    if (u->broken) return;
    size_t at = 0;
    while (at < m->data_len) {
        ssize_t w = pwrite(u->fd, m->data + at, m->data_len - at, (off_t)(m->offset + at));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { broken(u, strerror(errno)); return; }
        at += (size_t)w;
    }
    u->received += m->data_len;
}

/* ---- verification (pool thread) ---- */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void verify_run(void *arg)
{
    vtask_t *t = arg;
    int all_opaque = 0, fd = open(t->tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
    if (proto_artifact_verify(t->tmp, &t->man, &all_opaque, t->err, sizeof t->err) != 0) return;
    if (coord_mkdirs(t->dir, t->err, sizeof t->err) != 0) return;
    if (rename(t->tmp, t->final) != 0 || fsync_dir(t->dir) != 0) {
        snprintf(t->err, sizeof t->err, "rename %.400s: %s", t->final, strerror(errno));
        return;
    }
    t->ok = 1;
}

static void verify_finish(void *arg, void *ctx)
{
    vtask_t *t = arg;
    coord_farmd_t *f = ctx;
    store_outcome_t o; char err[512];
    proto_msg_t ack;
    coord_upload_t *u = coord_upload_find(f, t->attempt_id);
    if (u) { u->verifying = 0; u->fd = -1; *u = f->up[--f->n_up]; }
    if (!t->ok) unlink(t->tmp);
    int rc = t->ok ? store_attempt_done(f->st, t->attempt_id, t->manifest, t->final, coord_wall_ms(), &o, err, sizeof err)
                   : store_attempt_fail(f->st, t->attempt_id, "window", t->err, (int)f->cfg.max_attempts,
                                        f->cfg.backoff_ms, f->cfg.backoff_max_ms, coord_wall_ms(), &o, err, sizeof err);
    proto_msg_init(&ack, PROTO_ACK);
    ack.attempt_id = (uint64_t)t->attempt_id;
    snprintf(ack.what, sizeof ack.what, "%s", rc != 0 ? "refused" : t->ok ? "result" : "fail");
    coord_alog(f, t->attempt_id, "%s%s%s", t->ok ? "verified " : "verification failed: ", t->ok ? t->final : t->err,
               rc ? " (not committed: attempt no longer current)" : "");
    if (rc != 0) coord_logf("attempt %lld: %s", (long long)t->attempt_id, err);
    else if (t->ok) f->stats.verified++; else f->stats.failed++;
    coord_send(f, &t->env, &ack);   /* after the commit: nothing acknowledged is lost */
    coord_worker_t *w = coord_worker_by_attempt(f, t->attempt_id);
    if (w) { w->attempt_id = 0; coord_dispatch(f, w); }
    if (rc == 0) coord_outcome(f, &o);
    f->want_dispatch = 1;
    free(t);
}

static int manifest_matches(const proto_manifest_t *m, const store_attempt_t *a, char *err, size_t errlen)
{
    if (m->first == a->first_frame && m->n == a->n_frames && m->w == a->width && m->h == a->height) return 0;
    snprintf(err, errlen, "manifest frames [%d,+%d) %dx%d, window is [%d,+%d) %dx%d", m->first, m->n, m->w, m->h,
             a->first_frame, a->n_frames, a->width, a->height);
    return -1;
}

/* A worker whose uploads keep arriving broken: the attempt fails (window class, uses budget). */
static void upload_give_up(coord_farmd_t *f, const proto_env_t *env, coord_worker_t *w, int64_t attempt_id)
{
    store_outcome_t o; char err[256], why[96];
    proto_msg_t ack;
    snprintf(why, sizeof why, "upload arrived incomplete or corrupt %d times", w->resends);
    if (store_attempt_fail(f->st, attempt_id, "window", why, (int)f->cfg.max_attempts, f->cfg.backoff_ms,
                           f->cfg.backoff_max_ms, coord_wall_ms(), &o, err, sizeof err) != 0) {
        coord_logf("attempt %lld: %s", (long long)attempt_id, err);
        return;
    }
    coord_alog(f, attempt_id, "FAIL: %s", why);
    f->stats.failed++;
    proto_msg_init(&ack, PROTO_ACK); ack.attempt_id = (uint64_t)attempt_id; snprintf(ack.what, sizeof ack.what, "fail");
    coord_send(f, env, &ack);
    w->attempt_id = 0;
    coord_outcome(f, &o);
    f->want_dispatch = 1;
}

void coord_upload_done(coord_farmd_t *f, const proto_env_t *env, const store_attempt_t *a, const proto_msg_t *m)
{
    coord_upload_t *u = coord_upload_find(f, a->id);
    proto_msg_t ack;
    if (u && u->verifying) return;   /* a repeated DONE while we verify */
    if (!u || u->broken || u->total == 0 || u->received != u->total) {
        coord_worker_t *w = coord_worker_by_attempt(f, a->id);
        coord_alog(f, a->id, "DONE with an incomplete or corrupt upload (%llu of %llu bytes): resend",
                   u ? (unsigned long long)u->received : 0ull, u ? (unsigned long long)u->total : 0ull);
        coord_upload_drop(f, a->id);
        if (w && ++w->resends > UPLOAD_RESENDS) { upload_give_up(f, env, w, a->id); return; }
        proto_msg_init(&ack, PROTO_ACK); ack.attempt_id = (uint64_t)a->id; snprintf(ack.what, sizeof ack.what, "resend");
        coord_send(f, env, &ack);
        return;
    }
    vtask_t *t = calloc(1, sizeof *t);
    if (!t) return;
    t->attempt_id = a->id; t->env = *env;
    snprintf(t->manifest, sizeof t->manifest, "%s", m->manifest);
    snprintf(t->tmp, sizeof t->tmp, "%s", u->path);
    if (proto_manifest_parse(m->manifest, &t->man, t->err, sizeof t->err) != 0 ||
        manifest_matches(&t->man, a, t->err, sizeof t->err) != 0 || !proto_id_valid(a->shot_name)) {
        if (!t->err[0]) snprintf(t->err, sizeof t->err, "shot name is not a valid id");
    } else {
        snprintf(t->dir, sizeof t->dir, "%s/%lld/%s", f->dir_art, (long long)a->job_id, a->shot_name);
        snprintf(t->final, sizeof t->final, "%s/w%d.rgba", t->dir, a->window_index);
    }
    close(u->fd); u->fd = -1; u->verifying = 1;
    coord_task_t task = { t->final[0] ? verify_run : NULL, verify_finish, t };
    if (!task.run) { verify_finish(t, f); return; }
    if (coord_tasks_submit(f->tasks, &task) != 0) { u->verifying = 0; coord_upload_drop(f, a->id); free(t); }
}
