/* zap.h — farmd's ZAP handler (ZeroMQ RFC 27): with CURVE on, libzmq asks it about every client's
 * public key during the handshake; it lets in the keys found in the clients folder (*.public files,
 * as `farm keygen` writes them) and refuses the rest with a log line that names the key and the fix.
 * The folder is read at every request, so adding or removing a worker's key needs no restart.
 * Runs on farmd's loop thread (a REP socket polled with the ROUTER); answers never block.
 *
 * Not here: PLAIN or GSSAPI mechanisms, IP allow-lists, per-key roles.
 */
#ifndef COORD_ZAP_H
#define COORD_ZAP_H
#include <stddef.h>

typedef struct {
    void *sock;                         /* REP bound to inproc://zeromq.zap.01; NULL when CURVE is off */
    char dir[600];                      /* the clients folder */
    long allowed, refused;
} coord_zap_t;

/* Binds the handler in ctx (before the ROUTER binds). Creates dir (0700) when missing.
 * 0, or -1 with err. */
int  coord_zap_start(coord_zap_t *z, void *ctx, const char *dir, char *err, size_t errlen);
/* Answers every pending request (non-blocking). */
void coord_zap_handle(coord_zap_t *z);
/* Public keys now in the folder (for the start-up log line). */
int  coord_zap_count(const coord_zap_t *z);
void coord_zap_stop(coord_zap_t *z);

#endif
