/* cmd_keygen.c — `farm keygen [NAME]`: a CURVE keypair (Z85 text) for ZeroMQ encryption, written to
 * $FARM_HOME/keys/NAME.public (0644) and NAME.secret (0600, created exclusively: an existing key is
 * never overwritten). farmd, farm-worker and farm load them with --curve-key NAME (proto/curve.h). */
#include "ops/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static int write_key(const char *path, const char *z85, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) { snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno)); return -1; }
    size_t n = strlen(z85);
    int ok = write(fd, z85, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) { snprintf(err, errlen, "writing '%s' failed", path); unlink(path); return -1; }
    return 0;
}

static int keys_dir(char *dir, size_t len, char *err, size_t errlen)
{
    const char *home = getenv("FARM_HOME");
    if ((size_t)snprintf(dir, len, "%s", home && *home ? home : "./farm-home") >= len) { snprintf(err, errlen, "FARM_HOME too long"); return -1; }
    mkdir(dir, 0755);
    strncat(dir, "/keys", len - strlen(dir) - 1);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) { snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno)); return -1; }
    return 0;
}

int ops_cmd_keygen(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc;
    char *pos[1], err[600], dir[512], pub[41], sec[41], ppath[700], spath[700];
    if ((rc = ops_start(c, argc, argv, NULL, 0, pos, 0, 1, &npos)) >= 0) return rc;
    const char *name = npos ? pos[0] : "farm";
    if (!proto_id_valid(name) || strchr(name, ':')) { fprintf(stderr, "farm keygen: '%s' is not a valid key name [A-Za-z0-9._-]\n", name); return OPS_EXIT_USAGE; }
    if (!zmq_has("curve")) { fprintf(stderr, "farm keygen: this libzmq has no CURVE support\n"); return OPS_EXIT_ERROR; }
    if (keys_dir(dir, sizeof dir, err, sizeof err) < 0) { fprintf(stderr, "farm keygen: %s\n", err); return OPS_EXIT_ERROR; }
    if (zmq_curve_keypair(pub, sec) != 0) { fprintf(stderr, "farm keygen: %s\n", zmq_strerror(errno)); return OPS_EXIT_ERROR; }
    snprintf(ppath, sizeof ppath, "%s/%s.public", dir, name);
    snprintf(spath, sizeof spath, "%s/%s.secret", dir, name);
    if (write_key(spath, sec, 0600, err, sizeof err) < 0 || write_key(ppath, pub, 0644, err, sizeof err) < 0) {
        if (access(ppath, F_OK) != 0) unlink(spath);   /* never leave half a pair we created */
        fprintf(stderr, "farm keygen: %s\n", err);
        memset(sec, 0, sizeof sec);
        return OPS_EXIT_ERROR;
    }
    memset(sec, 0, sizeof sec);
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_str(&o, "public_key", "public key %s\n", pub);
    ops_out_str(&o, "public_file", "  %s\n", ppath);
    ops_out_str(&o, "secret_file", "  %s (mode 0600)\n", spath);
    ops_out_close(&o);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
