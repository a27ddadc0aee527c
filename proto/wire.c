/* wire.c — ZeroMQ multipart framing for proto messages: [rid][empty?][header][body]. */
#include "proto/wire.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 8

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap; va_start(ap, fmt); vsnprintf(err, errlen, fmt, ap); va_end(ap);
    }
    return rc;
}

static int send_frame(void *sock, const void *p, size_t n, int flags)
{
    return zmq_send(sock, p, n, flags) < 0 ? -1 : 0;
}

int proto_send(void *sock, const proto_env_t *env, const proto_msg_t *m, int zmq_flags,
               char *err, size_t errlen)
{
    uint8_t hdr[PROTO_HEADER_BYTES], *body = NULL;
    size_t body_len = 0;
    int rc = -1;
    if (proto_encode(m, hdr, &body, &body_len, err, errlen) != 0) return -1;
    if (env && send_frame(sock, env->rid, env->rid_len, ZMQ_SNDMORE | zmq_flags) != 0) goto zerr;
    if (env && env->delim && send_frame(sock, "", 0, ZMQ_SNDMORE | zmq_flags) != 0) goto zerr;
    if (send_frame(sock, hdr, sizeof hdr, ZMQ_SNDMORE | zmq_flags) != 0) goto zerr;
    if (send_frame(sock, body, body_len, zmq_flags) != 0) goto zerr;
    rc = 0;
    goto out;
zerr:
    fail(err, errlen, -1, "send %s: %s", proto_type_name(m->type), zmq_strerror(errno));
out:
    free(body);
    return rc;
}

/* Reads every frame of one multipart message (up to MAX_FRAMES kept; extra frames are drained). */
static int recv_frames(void *sock, zmq_msg_t *f, int *nf, int *extra, int flags)
{
    *nf = 0; *extra = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *dst = *nf < MAX_FRAMES ? &f[*nf] : &tmp;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, sock, *nf ? 0 : flags) < 0) {
            zmq_msg_close(dst);
            return -1;
        }
        int more = zmq_msg_more(dst);
        if (dst == &tmp) { zmq_msg_close(&tmp); (*extra)++; } else (*nf)++;
        if (!more) return 0;
    }
}

int proto_recv(void *sock, proto_env_t *env, proto_msg_t *m, int zmq_flags, char *err, size_t errlen)
{
    zmq_msg_t f[MAX_FRAMES];
    int nf = 0, extra = 0, at = 0, rc;
    proto_msg_init(m, 0);
    if (recv_frames(sock, f, &nf, &extra, zmq_flags) != 0) {
        int e = errno;
        for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
        errno = e;
        return fail(err, errlen, -1, "recv: %s", zmq_strerror(e));
    }
    if (env) {
        memset(env, 0, sizeof *env);
        size_t n = zmq_msg_size(&f[0]);
        if (n > PROTO_RID_MAX) n = PROTO_RID_MAX;
        memcpy(env->rid, zmq_msg_data(&f[0]), n); env->rid_len = n;
        at = 1;
        if (nf - at == 3 && zmq_msg_size(&f[at]) == 0) { env->delim = 1; at++; }
    } else if (nf == 3 && zmq_msg_size(&f[0]) == 0) {
        at = 1;   /* REQ socket receiving a reply */
    }
    if (extra || nf - at != 2)
        rc = fail(err, errlen, -2, "recv: %d frames, want header and body", nf - at + extra);
    else
        rc = proto_decode(zmq_msg_data(&f[at]), zmq_msg_size(&f[at]), zmq_msg_data(&f[at + 1]),
                          zmq_msg_size(&f[at + 1]), m, err, errlen);
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return rc;
}
