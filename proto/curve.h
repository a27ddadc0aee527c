/* curve.h — CURVE (ZeroMQ's encryption + public-key authentication) for the farm's sockets.
 *
 * Keys are the Z85 text files `farm keygen NAME` writes: NAME.public and NAME.secret (40 characters
 * and a newline) in $FARM_HOME/keys. A key argument is either such a NAME (no '/': looked up in
 * $FARM_HOME/keys) or a path, with or without the .public / .secret ending.
 *
 * farmd (server) holds its secret key and a folder of the public keys it lets in (coordinator/zap.c
 * answers libzmq's ZAP requests from it); workers and the CLI (clients) hold their own keypair and
 * farmd's public key. A client socket's monitor reports how a handshake ended, so a refused or
 * mismatched client says why instead of waiting for a reply that never comes.
 *
 * Not here: key rotation, certificates with metadata, per-key permissions (every allowed key may do
 * everything a worker or an operator can).
 */
#ifndef PROTO_CURVE_H
#define PROTO_CURVE_H
#include <stddef.h>

#define PROTO_CURVE_Z85 40                     /* characters of a Z85 key */

/* A client's settings: off when both files are unset. */
typedef struct {
    int  on;
    char server_pub[PROTO_CURVE_Z85 + 1];      /* farmd's public key */
    char pub[PROTO_CURVE_Z85 + 1];             /* this client's keypair */
    char sec[PROTO_CURVE_Z85 + 1];
    char key_path[512];                        /* the keypair's path prefix, for messages */
} proto_curve_client_t;

/* Reads one Z85 key file (40 Z85 characters, surrounding whitespace allowed) into z85.
 * 0, or -1 with err naming the file and the fix. */
int proto_curve_read_key(const char *path, char z85[PROTO_CURVE_Z85 + 1], char *err, size_t errlen);

/* The path of key NAME-or-PATH with ending ext (".public" / ".secret"): a NAME without '/' lives in
 * home/keys (home NULL or "": $FARM_HOME, else ./farm-home); a given .public/.secret ending is
 * replaced. 0, or -1 when it does not fit. */
int proto_curve_key_path(const char *key, const char *ext, const char *home, char *out, size_t outlen);

/* Client side: loads the keypair `key` (what --curve-key names) and farmd's public key `server`
 * (--curve-server, NAME-or-PATH of a .public). Both empty: k->on = 0. One without the other, or an
 * unreadable/invalid file: -1 with err naming the option and the fix. */
int proto_curve_client_load(proto_curve_client_t *k, const char *key, const char *server, const char *home,
                            char *err, size_t errlen);
/* Sets the client keys on a socket before it connects (no-op when off). 0 / -1 with err. */
int proto_curve_client_apply(const proto_curve_client_t *k, void *sock, char *err, size_t errlen);
/* Makes sock a CURVE server with secret key sec (Z85); ZAP domain "farm". 0 / -1 with err. */
int proto_curve_server_apply(void *sock, const char *sec, char *err, size_t errlen);

/* ---- handshake monitor (clients) ---- */

typedef enum {
    PROTO_HS_NONE = 0,        /* nothing to report (no event, or one that says nothing about security) */
    PROTO_HS_OK,              /* a handshake succeeded */
    PROTO_HS_REFUSED,         /* farmd's ZAP handler refused this client's key */
    PROTO_HS_MISMATCH,        /* the two ends disagree: CURVE against plain, or a wrong server key */
    PROTO_HS_CLOSED,          /* the connection closed (before a handshake succeeded: as MISMATCH) */
} proto_hs_t;

/* A PAIR socket that receives sock's handshake events (inproc://NAME-monitor, NAME unique in ctx).
 * NULL with err when libzmq refuses. Close it with zmq_close before sock's context ends. */
void *proto_hs_monitor(void *ctx, void *sock, const char *name, char *err, size_t errlen);
/* Reads one pending event from the monitor (non-blocking); PROTO_HS_NONE when none is pending. */
proto_hs_t proto_hs_read(void *mon);
/* What an operator should do about a REFUSED / MISMATCH / CLOSED result, for client k ("" otherwise). */
void proto_hs_explain(proto_hs_t h, const proto_curve_client_t *k, char *out, size_t outlen);

#endif
