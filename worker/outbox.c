/* outbox.c — durable, crash-safe result outbox (see outbox.h for the on-disk contract). */
#include "worker/outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_MAGIC "farm-outbox 1\n"

static int mkdirs(const char *dir, char *err, size_t errlen)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) goto fail;
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "outbox: cannot create '%s': %s", p, strerror(errno));
    return -1;
}

static void entry_path(const wrk_outbox_t *ob, uint64_t id, const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/a%" PRIu64 "%s", ob->dir, id, ext);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes the meta file atomically: tmp, fsync, rename, fsync dir. */
static int meta_write(const wrk_outbox_t *ob, uint64_t id, const char *manifest, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 48], text[PROTO_MANIFEST_MAX + 96];
    entry_path(ob, id, ".meta", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int n = snprintf(text, sizeof text, META_MAGIC "attempt=%" PRIu64 "\nmanifest=%s\n", id, manifest);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) goto fail;
    if (write(fd, text, (size_t)n) != n || fsync(fd) < 0) { close(fd); unlink(tmp); goto fail; }
    close(fd);
    if (rename(tmp, path) < 0) { unlink(tmp); goto fail; }
    if (fsync_dir(ob->dir) < 0) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "outbox: writing '%s': %s", path, strerror(errno));
    return -1;
}

/* Reads and validates a meta file; fills e. 0 ok, -1 (not committed or damaged). */
static int meta_read(const wrk_outbox_t *ob, uint64_t id, wrk_outbox_entry_t *e)
{
    char path[PATH_MAX + 16], text[PROTO_MANIFEST_MAX + 128], perr[160];
    entry_path(ob, id, ".meta", path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    uint64_t got;
    char mf[PROTO_MANIFEST_MAX + 1];
    if (strncmp(text, META_MAGIC, strlen(META_MAGIC)) ||
        sscanf(text + strlen(META_MAGIC), "attempt=%" SCNu64 "\nmanifest=%511[^\n]\n", &got, mf) != 2 || got != id)
        return -1;
    proto_manifest_t m;
    if (proto_manifest_parse(mf, &m, perr, sizeof perr) < 0) return -1;
    memset(e, 0, sizeof *e);
    e->attempt_id = id;
    snprintf(e->manifest, sizeof e->manifest, "%s", mf);
    entry_path(ob, id, ".frm", e->path, sizeof e->path);
    e->bytes = m.bytes;
    return 0;
}

static int entry_valid(const wrk_outbox_t *ob, uint64_t id, int verify)
{
    wrk_outbox_entry_t e;
    char err[256];
    struct stat st;
    if (meta_read(ob, id, &e) < 0) return 0;
    if (stat(e.path, &st) < 0 || (uint64_t)st.st_size != e.bytes) return 0;
    if (!verify) return 1;
    proto_manifest_t m;
    if (proto_manifest_parse(e.manifest, &m, err, sizeof err) < 0) return 0;
    return proto_artifact_verify(e.path, &m, NULL, err, sizeof err) == 0;
}

/* Parses "a<digits>.frm" / "a<digits>.meta" (anything else: 0). */
static int entry_name(const char *name, uint64_t *id)
{
    if (name[0] != 'a' || name[1] < '0' || name[1] > '9') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name + 1, &end, 10);
    if (errno || (strcmp(end, ".frm") && strcmp(end, ".meta"))) return 0;
    *id = v;
    return 1;
}

/* Removes temporaries and every entry that is not committed and intact. */
static int outbox_clean(wrk_outbox_t *ob, int verify, char *err, size_t errlen)
{
    DIR *d = opendir(ob->dir);
    if (!d) { snprintf(err, errlen, "outbox: cannot open '%s': %s", ob->dir, strerror(errno)); return -1; }
    struct dirent *de;
    char path[PATH_MAX + 256], e2[64];
    while ((de = readdir(d))) {
        uint64_t id;
        snprintf(path, sizeof path, "%s/%s", ob->dir, de->d_name);
        if (strstr(de->d_name, ".tmp.")) { unlink(path); continue; }
        if (!entry_name(de->d_name, &id) || entry_valid(ob, id, verify)) continue;
        fprintf(stderr, "farm-worker: outbox: dropping incomplete or damaged entry %s\n", de->d_name);
        wrk_outbox_remove(ob, id, e2, sizeof e2);
    }
    closedir(d);
    return 0;
}

int wrk_outbox_open(wrk_outbox_t *ob, const char *dir, int verify, char *err, size_t errlen)
{
    if (!dir || !*dir || strlen(dir) >= sizeof ob->dir) {
        snprintf(err, errlen, "outbox: bad directory name");
        return -1;
    }
    snprintf(ob->dir, sizeof ob->dir, "%s", dir);
    if (mkdirs(dir, err, errlen) < 0) return -1;
    return outbox_clean(ob, verify, err, errlen);
}

int wrk_outbox_put(wrk_outbox_t *ob, uint64_t attempt_id, const proto_frames_t *f,
                   wrk_outbox_entry_t *e, char *err, size_t errlen)
{
    proto_manifest_t m;
    memset(e, 0, sizeof *e);
    e->attempt_id = attempt_id;
    entry_path(ob, attempt_id, ".frm", e->path, sizeof e->path);
    if (proto_artifact_write(e->path, f, &m, err, errlen) < 0) return -1;
    if (proto_manifest_format(&m, e->manifest, sizeof e->manifest) < 0) {
        snprintf(err, errlen, "outbox: manifest too long");
        return -1;
    }
    e->bytes = m.bytes;
    return meta_write(ob, attempt_id, e->manifest, err, errlen);
}

static int cmp_entry(const void *a, const void *b)
{
    uint64_t x = ((const wrk_outbox_entry_t *)a)->attempt_id, y = ((const wrk_outbox_entry_t *)b)->attempt_id;
    return x < y ? -1 : x > y;
}

int wrk_outbox_list(wrk_outbox_t *ob, wrk_outbox_entry_t **out, int *n, char *err, size_t errlen)
{
    *out = NULL; *n = 0;
    DIR *d = opendir(ob->dir);
    if (!d) { snprintf(err, errlen, "outbox: cannot open '%s': %s", ob->dir, strerror(errno)); return -1; }
    struct dirent *de;
    int cap = 0;
    while ((de = readdir(d))) {
        uint64_t id;
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 5, ".meta") || !entry_name(de->d_name, &id)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            wrk_outbox_entry_t *p = realloc(*out, (size_t)cap * sizeof *p);
            if (!p) { closedir(d); free(*out); *out = NULL; *n = 0; snprintf(err, errlen, "outbox: out of memory"); return -1; }
            *out = p;
        }
        if (meta_read(ob, id, &(*out)[*n]) == 0) (*n)++;
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_entry);
    return 0;
}

int wrk_outbox_remove(wrk_outbox_t *ob, uint64_t attempt_id, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    entry_path(ob, attempt_id, ".meta", path, sizeof path);
    if (unlink(path) < 0 && errno != ENOENT) goto fail;
    entry_path(ob, attempt_id, ".frm", path, sizeof path);
    if (unlink(path) < 0 && errno != ENOENT) goto fail;
    fsync_dir(ob->dir);
    return 0;
fail:
    snprintf(err, errlen, "outbox: removing '%s': %s", path, strerror(errno));
    return -1;
}
