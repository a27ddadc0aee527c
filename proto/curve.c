/* curve.c — CURVE keys and socket settings for farmd, farm-worker and farm (see curve.h). */
#include "proto/curve.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int proto_curve_read_key(const char *path, char z85[PROTO_CURVE_Z85 + 1], char *err, size_t errlen)
{
    char buf[256];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read CURVE key '%s': %s (make one with `farm keygen NAME`)", path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = buf, *e = buf + n;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    uint8_t raw[32];
    if (e - s != PROTO_CURVE_Z85 || !zmq_z85_decode(raw, s)) {
        snprintf(err, errlen, "'%s' is not a CURVE key: expected %d Z85 characters as `farm keygen` writes them, "
                 "found %d characters", path, PROTO_CURVE_Z85, (int)(e - s));
        return -1;
    }
    memcpy(z85, s, PROTO_CURVE_Z85 + 1);
    memset(buf, 0, sizeof buf);
    return 0;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

int proto_curve_key_path(const char *key, const char *ext, const char *home, char *out, size_t outlen)
{
    size_t n = strlen(key);
    if (ends_with(key, ".public")) n -= 7;
    else if (ends_with(key, ".secret")) n -= 7;
    int w;
    if (strchr(key, '/')) {
        w = snprintf(out, outlen, "%.*s%s", (int)n, key, ext);
    } else {
        const char *h = home && *home ? home : getenv("FARM_HOME");
        w = snprintf(out, outlen, "%s/keys/%.*s%s", h && *h ? h : "./farm-home", (int)n, key, ext);
    }
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

int proto_curve_client_load(proto_curve_client_t *k, const char *key, const char *server, const char *home,
                            char *err, size_t errlen)
{
    char path[600], e2[700];
    memset(k, 0, sizeof *k);
    int has_key = key && *key, has_srv = server && *server;
    if (!has_key && !has_srv) return 0;
    if (!has_key || !has_srv) {
        snprintf(err, errlen, "%s is set but %s is not: CURVE needs both, this client's keypair "
                 "(--curve-key NAME, from `farm keygen NAME`) and farmd's public key (--curve-server NAME)",
                 has_key ? "--curve-key" : "--curve-server", has_key ? "--curve-server" : "--curve-key");
        return -1;
    }
    const struct { const char *key, *ext, *opt; char *dst; } files[] = {
        { server, ".public", "--curve-server", k->server_pub },
        { key, ".public", "--curve-key", k->pub },
        { key, ".secret", "--curve-key", k->sec },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (proto_curve_key_path(files[i].key, files[i].ext, home, path, sizeof path) != 0) {
            snprintf(err, errlen, "%s: '%s' is too long", files[i].opt, files[i].key);
            return -1;
        }
        if (proto_curve_read_key(path, files[i].dst, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "%s: %s", files[i].opt, e2);
            memset(k, 0, sizeof *k);
            return -1;
        }
    }
    char derived[PROTO_CURVE_Z85 + 1];
    if (zmq_curve_public(derived, k->sec) != 0 || strcmp(derived, k->pub) != 0) {
        snprintf(err, errlen, "--curve-key: '%s' and its .secret are not one keypair", key);
        memset(k, 0, sizeof *k);
        return -1;
    }
    proto_curve_key_path(key, "", home, k->key_path, sizeof k->key_path);
    k->on = 1;
    return 0;
}

int proto_curve_client_apply(const proto_curve_client_t *k, void *sock, char *err, size_t errlen)
{
    if (!k || !k->on) return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k->server_pub, PROTO_CURVE_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->pub, PROTO_CURVE_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->sec, PROTO_CURVE_Z85) != 0) {
        snprintf(err, errlen, "CURVE client keys: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int proto_curve_server_apply(void *sock, const char *sec, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, PROTO_CURVE_Z85) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "farm", 4) != 0) {
        snprintf(err, errlen, "CURVE server key: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- handshake monitor ---- */

#define HS_EVENTS (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | \
                   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
                   ZMQ_EVENT_DISCONNECTED)

void *proto_hs_monitor(void *ctx, void *sock, const char *name, char *err, size_t errlen)
{
    char ep[128];
    snprintf(ep, sizeof ep, "inproc://%s-monitor", name);
    if (zmq_socket_monitor(sock, ep, HS_EVENTS) != 0) {
        snprintf(err, errlen, "zmq_socket_monitor: %s", zmq_strerror(errno));
        return NULL;
    }
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (mon) zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
    if (!mon || zmq_connect(mon, ep) != 0) {
        snprintf(err, errlen, "monitor %s: %s", ep, zmq_strerror(errno));
        if (mon) zmq_close(mon);
        return NULL;
    }
    return mon;
}

proto_hs_t proto_hs_read(void *mon)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&m); return PROTO_HS_NONE; }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 6) memcpy(&ev, zmq_msg_data(&m), sizeof ev);   /* event id, then a value */
    while (zmq_msg_more(&m)) {                                             /* the endpoint frame */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) < 0) break;
    }
    zmq_msg_close(&m);
    switch (ev) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return PROTO_HS_OK;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return PROTO_HS_REFUSED;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return PROTO_HS_MISMATCH;
    case ZMQ_EVENT_DISCONNECTED: return PROTO_HS_CLOSED;
    default: return PROTO_HS_NONE;
    }
}

void proto_hs_explain(proto_hs_t h, const proto_curve_client_t *k, char *out, size_t outlen)
{
    int on = k && k->on;
    if (h == PROTO_HS_REFUSED)
        snprintf(out, outlen, "farmd refused this client's CURVE key %s: copy %s.public into farmd's "
                 "clients folder (--curve-clients, default $FARM_HOME/keys/clients)",
                 on ? k->pub : "(none)", on ? k->key_path : "KEY");
    else if ((h == PROTO_HS_MISMATCH || h == PROTO_HS_CLOSED) && on)
        snprintf(out, outlen, "the CURVE handshake with farmd failed: check that --curve-server is farmd's "
                 "public key and that farmd runs with --curve-key");
    else if (h == PROTO_HS_MISMATCH || h == PROTO_HS_CLOSED)
        snprintf(out, outlen, "farmd closed the connection during the handshake: it probably requires CURVE "
                 "(give this client --curve-key and --curve-server)");
    else if (outlen)
        out[0] = 0;
}
