/* zap.c — farmd's ZAP handler: public keys allowed from a folder (see zap.h). */
#include "coordinator/zap.h"
#include "coordinator/farmd.h"
#include "proto/curve.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define ZAP_FRAMES 7                    /* version, request id, domain, address, identity, mechanism, key */

typedef int (*key_visit_fn)(const char *name, const char *z85, void *arg);

/* Calls fn for every valid NAME.public in dir (stops when it returns non-zero); returns that value. */
static int each_key(const char *dir, key_visit_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 7 || strcmp(e->d_name + n - 7, ".public") != 0) continue;
        char path[1200], z85[PROTO_CURVE_Z85 + 1], err[256], name[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (proto_curve_read_key(path, z85, err, sizeof err) != 0) { coord_logf("zap: skipped %s", err); continue; }
        snprintf(name, sizeof name, "%.*s", (int)(n - 7), e->d_name);
        rc = fn(name, z85, arg);
    }
    closedir(d);
    return rc;
}

typedef struct { const char *want; char name[256]; } find_t;

static int find_key(const char *name, const char *z85, void *arg)
{
    find_t *f = arg;
    if (strcmp(z85, f->want) != 0) return 0;
    snprintf(f->name, sizeof f->name, "%s", name);
    return 1;
}

static int count_key(const char *name, const char *z85, void *arg)
{
    (void)name; (void)z85;
    ++*(int *)arg;
    return 0;
}

int coord_zap_count(const coord_zap_t *z)
{
    int n = 0;
    each_key(z->dir, count_key, &n);
    return n;
}

int coord_zap_start(coord_zap_t *z, void *ctx, const char *dir, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    snprintf(z->dir, sizeof z->dir, "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "CURVE clients folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    int linger = 0;
    z->sock = zmq_socket(ctx, ZMQ_REP);
    if (!z->sock) { snprintf(err, errlen, "zap: socket: %s", zmq_strerror(errno)); return -1; }
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "zap: bind: %s", zmq_strerror(errno));
        coord_zap_stop(z);
        return -1;
    }
    return 0;
}

/* Receives one request's frames (at most ZAP_FRAMES kept); returns how many arrived, -1 on none. */
static int recv_request(void *s, zmq_msg_t *f)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, n ? 0 : ZMQ_DONTWAIT) < 0) { zmq_msg_close(&m); return n ? n : -1; }
        more = zmq_msg_more(&m);
        if (n < ZAP_FRAMES) f[n] = m; else zmq_msg_close(&m);
        n++;
    }
    return n;
}

static void send_reply(void *s, zmq_msg_t *req_id, const char *code, const char *text, const char *user)
{
    zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(s, req_id ? zmq_msg_data(req_id) : "", req_id ? zmq_msg_size(req_id) : 0, ZMQ_SNDMORE);
    zmq_send(s, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(s, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(s, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(s, "", 0, 0);
}

static int frame_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

/* One request: "200" with the key's file name as user id, or "400". */
static void answer(coord_zap_t *z, zmq_msg_t *f, int n)
{
    char z85[PROTO_CURVE_Z85 + 1] = "?", addr[64] = "";
    if (n >= 4) snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (const char *)zmq_msg_data(&f[3]));
    int ok_shape = n == ZAP_FRAMES && frame_is(&f[0], "1.0") && frame_is(&f[5], "CURVE") && zmq_msg_size(&f[6]) == 32;
    if (ok_shape) zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
    find_t found = { z85, "" };
    if (ok_shape && each_key(z->dir, find_key, &found)) {
        z->allowed++;
        send_reply(z->sock, &f[1], "200", "OK", found.name);
        return;
    }
    z->refused++;
    send_reply(z->sock, n >= 2 ? &f[1] : NULL, "400", "unknown client key", "");   /* REP: always answer */
    coord_logf("refused a CURVE client from %s: key %s is not in %s (to let it in: copy its .public there)",
               *addr ? addr : "?", z85, z->dir);
}

void coord_zap_handle(coord_zap_t *z)
{
    zmq_msg_t f[ZAP_FRAMES];
    for (int n; z->sock && (n = recv_request(z->sock, f)) > 0;) {
        answer(z, f, n);
        for (int i = 0; i < n && i < ZAP_FRAMES; i++) zmq_msg_close(&f[i]);
    }
}

void coord_zap_stop(coord_zap_t *z)
{
    if (z->sock) zmq_close(z->sock);
    z->sock = NULL;
}
