/* outbox.h — the worker's durable outbox: every finished window result stays on disk until farmd
 * acknowledges it, so neither a farmd restart nor a worker crash loses a rendered window.
 *
 * Layout in DIR: "a<attempt>.frm" (the window artifact, written atomically by proto_artifact_write)
 * and "a<attempt>.meta" (text: "farm-outbox 1\nattempt=N\nmanifest=...\n", written to a temporary
 * name, fsynced, renamed, directory fsynced) — the meta file is the commit point, written last.
 * On open, entries without a meta file, with an unreadable meta, or whose artifact no longer matches
 * its manifest are deleted (they were never committed or are damaged); temporary files are removed.
 * Not a queue of messages: it only holds results; FAILs are not persisted (lease expiry covers them).
 */
#ifndef WORKER_OUTBOX_H
#define WORKER_OUTBOX_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/artifact.h"
#include "proto/frames.h"
#include "proto/proto.h"

typedef struct {
    char dir[PATH_MAX - 64];
} wrk_outbox_t;

typedef struct {
    uint64_t attempt_id;
    char     manifest[PROTO_MANIFEST_MAX + 1];   /* proto_manifest_format text */
    char     path[PATH_MAX];                     /* the artifact file */
    uint64_t bytes;
} wrk_outbox_entry_t;

/* Creates DIR (and parents) if needed and cleans incomplete entries (verify = 1 also re-checks the
 * SHA-256 of every committed artifact). 0 ok, -1 with err. */
int wrk_outbox_open(wrk_outbox_t *ob, const char *dir, int verify, char *err, size_t errlen);
/* Writes frames as the result of attempt_id and commits it. Fills *e. 0 ok, -1 with err. */
int wrk_outbox_put(wrk_outbox_t *ob, uint64_t attempt_id, const proto_frames_t *f,
                   wrk_outbox_entry_t *e, char *err, size_t errlen);
/* Lists committed entries in attempt order; *out malloc'd (caller frees), *n entries. */
int wrk_outbox_list(wrk_outbox_t *ob, wrk_outbox_entry_t **out, int *n, char *err, size_t errlen);
/* Removes an entry (meta first, then artifact). Removing a missing entry is not an error. */
int wrk_outbox_remove(wrk_outbox_t *ob, uint64_t attempt_id, char *err, size_t errlen);

#endif
