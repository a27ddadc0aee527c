/* wire.h — send and receive proto messages over an already-open ZeroMQ socket (framing of proto.h).
 * It never creates, binds or connects sockets; the caller owns them. ROUTER callers pass an envelope
 * (the peer's routing id and whether it is a REQ peer); DEALER/REQ callers pass NULL. */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H
#include <stddef.h>
#include "proto/proto.h"

#define PROTO_RID_MAX 255
typedef struct {
    unsigned char rid[PROTO_RID_MAX];   /* routing id of the peer (ROUTER side) */
    size_t rid_len;
    int delim;                          /* 1: the peer is a REQ socket (empty delimiter frame) */
} proto_env_t;

/* Sends m. env != NULL: prepends env's routing id (and the empty delimiter if env->delim).
 * zmq_flags: 0 or ZMQ_DONTWAIT. 0 ok; -1 with err (EAGAIN, EHOSTUNREACH, encode limits ...). */
int proto_send(void *sock, const proto_env_t *env, const proto_msg_t *m, int zmq_flags,
               char *err, size_t errlen);
/* Receives one message. env != NULL: expects the routing id frame first (ROUTER side).
 * zmq_flags: 0 or ZMQ_DONTWAIT. 0 ok; -1 interrupted / nothing to read (EINTR, EAGAIN, ETERM:
 * errno kept); -2 malformed (wrong frame count, bad header or body; the whole multipart message is
 * consumed and env is still filled so the caller can log who sent it). Free m with proto_msg_free. */
int proto_recv(void *sock, proto_env_t *env, proto_msg_t *m, int zmq_flags, char *err, size_t errlen);

#endif
