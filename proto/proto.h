/* proto.h — every message between farm-worker, farm (CLI) and farmd, defined once in a table
 * (proto.c: PROTO_MESSAGES) from which the encoder, the decoder, the self-test and the docs derive.
 * It is the codec and the framing rules only; it never opens sockets (wire.h has thin send/recv
 * helpers over an already-open ZeroMQ socket).
 *
 * Wire layout (ZeroMQ multipart; the ROUTER side sees its identity frame first):
 *
 *   [identity]                       only on farmd's ROUTER side (added/removed by ZeroMQ)
 *   [empty]                          only when the peer is a REQ socket; farmd echoes it back
 *   frame H, PROTO_HEADER_BYTES:     'F' 'M'  version:u16  type:u8  reserved:u8 (0)
 *   frame B, body (may be empty):    the message's fields in table order, big-endian:
 *        u8/u32/u64/i32 fixed width; f64 as IEEE-754 bits in a u64;
 *        str   = u16 length + bytes  (short strings, inline, limit per field, no NUL bytes)
 *        text  = u32 length + bytes  (long strings, heap, limit per field, no NUL bytes)
 *        bytes = u32 length + bytes  (RESULT payload, at most PROTO_CHUNK_MAX)
 *
 * Every message carries PROTO_VERSION in its header; a decoder refuses any other version (-2).
 * The body must be consumed exactly: trailing bytes are malformed.
 *
 * Conversation (worker, a DEALER whose routing id is its worker id):
 *   worker -> READY (worker_id, name, engines "testcard,dit", n_gpus, mem_mb, attempt_id = the attempt
 *             it is still working on after a reconnect, else 0)
 *   farmd  -> HEARTBEAT (heartbeat_ms = the interval it expects) in answer and then every interval;
 *             flags & PROTO_HB_UNKNOWN means "I do not know you (e.g. I restarted): send READY again".
 *   farmd  -> ASSIGN (one window at a time; attempt_id is the fencing token for everything after;
 *             strategy and role: "render" for a window of the output, "anchor" for the one-frame anchor
 *             stage an `anchor` shot renders before its windows; `chain` and `anchor` windows are only
 *             assigned once the window they depend on is verified; data = that window's conditioning
 *             blob (proto/cond.h, from its verified artifact), empty when it has none)
 *   worker -> PROGRESS* , RESULT chunks (offset, total_size, crc32c of this chunk's data), DONE (manifest
 *             text of proto_manifest_format) | FAIL (class, reason)
 *   farmd  -> ACK what="result" once the artifact is verified AND committed (the worker may drop it from
 *             its outbox), what="fail" for a recorded FAIL, what="refused" for a stale/unknown attempt
 *             (drop it, never resend), what="resend" when the upload was incomplete or corrupt (send
 *             every RESULT chunk again from offset 0, then DONE again).
 *             A DONE whose artifact fails verification is recorded as a window failure: ACK "fail".
 *   farmd  -> CANCEL (stop that attempt; no result is wanted). After CANCEL farmd treats the worker as
 *             idle and may ASSIGN again; a worker still busy answers FAIL "infra" (farmd then waits a
 *             heartbeat before offering it another window).
 *   Any worker message renews its lease (lease = heartbeat_ms * liveness unless set). A draining
 *   worker hands its window back with FAIL class "infra" (uses no attempt budget). Worker HEARTBEAT
 *   carries attempt_id (the window it renders, 0 when idle): if for a whole lease it names another
 *   attempt than farmd assigned and no upload of that attempt is under way, farmd deems the ASSIGN lost
 *   and requeues the window.
 *   farmd answers only after the state change is committed to SQLite (replies are held until the
 *   loop's batch commits), so an ACK/SUBMIT_REPLY/CONTROL_REPLY is never lost by a farmd crash.
 *
 * Client (farm CLI; DEALER or REQ): SUBMIT -> SUBMIT_REPLY, QUERY -> QUERY_REPLY (JSON text),
 * CONTROL -> CONTROL_REPLY. Replies carry status 0 ok, else an error with text saying why.
 *   QUERY kinds: "jobs", "job" (job_id), "workers", "logs" (job_id, args = "attempt=N" optional),
 *   "events" (since = last event id seen; job_id 0 = all jobs).
 *   CONTROL verbs: "pause", "unpause", "cancel", "retry", "resume" (job_id).
 *   QUERY_REPLY JSON (sql/store_query.c writes it; times are Unix ms):
 *     jobs:    {"jobs":[JOB...]}     JOB = {"id","file","state","created_ms","updated_ms","n_shots","error",
 *              "windows":{"<state>":n...,"total":n},"attempts":n}
 *     job:     {"job":JOB + "shots":[{"id","idx","name","state","frames","fps","width","height","engine",
 *              "window","overlap","priority","outputs":[..],"result":[paths..],"error",
 *              "windows":[{"idx","first","n","state","attempts" (= "budget_used": failed attempts
 *              counted against the budget since the last resume),"attempts_total" (every attempt started,
 *              infrastructure losses included),"worker","attempt_id","progress_done","progress_total",
 *              "not_before_ms","artifact","role" ("render"|"anchor"),"after" (index of the window it
 *              waits for, -1 none),"waits_for" ("window 2 (chain)", "the anchor", "" = nothing)}]}]};
 *              shots also carry "strategy"
 *     workers: {"workers":[{"id","name","engines","n_gpus","mem_mb","state","first_seen_ms","last_seen_ms",
 *              "attempt_id"}]}
 *     events:  {"events":[{"id","ts_ms","job_id","window_id","attempt_id","worker","kind","detail"}],"last":id}
 *     logs:    {"logs":[{"attempt_id","window_id","shot","window","worker","state","fail_class","reason",
 *              "started_ms","ended_ms","log"}]}
 *   States: job queued|running|paused|done|failed|cancelled; shot queued|rendering|assembling|done|
 *   failed|cancelled; window queued|running|verified|failed|cancelled; attempt running|done|failed|
 *   lost|cancelled (sql/states.c holds the transitions).
 */
#ifndef PROTO_PROTO_H
#define PROTO_PROTO_H
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION        2                 /* 2: ASSIGN.role and ASSIGN.data (issue #8 strategies) */
#define PROTO_HEADER_BYTES   6
#define PROTO_MAGIC0         'F'
#define PROTO_MAGIC1         'M'

/* size limits (bytes, excluding the NUL that decoded strings get) */
#define PROTO_ID_MAX         64                /* worker_id, shot: [A-Za-z0-9._:-], no ".." */
#define PROTO_STR_MAX        255               /* engines, model, lora, file_name, args ... */
#define PROTO_MANIFEST_MAX   511
#define PROTO_PROMPT_BYTES   2000              /* = PROTO_PROMPT_MAX in shotlist.h */
#define PROTO_TEXT_MAX       (16u << 20)       /* text fields (JSON replies, shot-list text, reasons) */
#define PROTO_CHUNK_MAX      (4u << 20)        /* RESULT payload per message; workers send <= 1 MiB */
#define PROTO_CHUNK_DEFAULT  (1u << 20)
#define PROTO_BODY_MAX       (PROTO_TEXT_MAX + 64 * 1024)

/* message types (ids are on the wire: never renumber, only add) */
typedef enum {
    PROTO_READY = 1, PROTO_HEARTBEAT = 2, PROTO_PROGRESS = 3, PROTO_RESULT = 4, PROTO_DONE = 5,
    PROTO_FAIL = 6,
    PROTO_ASSIGN = 10, PROTO_ACK = 11, PROTO_CANCEL = 12,
    PROTO_SUBMIT = 20, PROTO_SUBMIT_REPLY = 21, PROTO_QUERY = 22, PROTO_QUERY_REPLY = 23,
    PROTO_CONTROL = 24, PROTO_CONTROL_REPLY = 25,
} proto_type_t;

/* who sends a message type */
enum { PROTO_DIR_WORKER = 1, PROTO_DIR_FARMD = 2, PROTO_DIR_BOTH = 3, PROTO_DIR_CLIENT = 4,
       PROTO_DIR_REPLY = 8 };

/* FAIL classes: "window" uses one attempt of the window's budget; "model" and "resource" too, but the
 * worker is also penalised for the job; "infra" (worker lost, draining, restart) uses no budget. */
typedef enum { PROTO_FAIL_WINDOW = 0, PROTO_FAIL_MODEL = 1, PROTO_FAIL_RESOURCE = 2,
               PROTO_FAIL_INFRA = 3, PROTO_FAIL_N_ } proto_fail_class_t;

enum { PROTO_HB_UNKNOWN = 1 };   /* HEARTBEAT.flags from farmd: re-send READY */

/* One flat struct holds any message (zproto style); a message type uses the subset of fields its
 * table row lists, the rest stay zero. Short strings are inline; text and data are heap-owned. */
typedef struct {
    int      type;                          /* proto_type_t */
    int      version;                       /* PROTO_VERSION (filled by decode) */
    uint64_t attempt_id, job_id, since, offset, total_size, mem_mb, seed;
    uint32_t window_index, first_frame, n_frames, shot_frames, overlap;
    uint32_t done, total, n_gpus, width, height, steps, crc32c, heartbeat_ms, flags;
    int32_t  status;                        /* replies: 0 ok, else error */
    uint8_t  fail_class;                    /* proto_fail_class_t */
    double   fps, guidance;
    char     worker_id[PROTO_ID_MAX + 1], shot[PROTO_ID_MAX + 1];
    char     name[PROTO_STR_MAX + 1], engines[PROTO_STR_MAX + 1], engine[32], strategy[32];
    char     model[PROTO_STR_MAX + 1], lora[PROTO_STR_MAX + 1];
    char     kind[32], verb[32], what[32], args[PROTO_STR_MAX + 1], file_name[PROTO_STR_MAX + 1];
    char     role[16];                      /* ASSIGN: "render" (a window) | "anchor" (an anchor stage) */
    char     manifest[PROTO_MANIFEST_MAX + 1];
    char     prompt[PROTO_PROMPT_BYTES + 1], negative[PROTO_PROMPT_BYTES + 1];
    char    *text;                          /* owned, NUL-terminated, may be NULL (= "") */
    uint8_t *data;                          /* owned RESULT payload / ASSIGN conditioning blob, data_len bytes */
    size_t   data_len;
} proto_msg_t;

/* Field table entry (exported so tests and docs can walk it). */
typedef enum { PROTO_F_U8, PROTO_F_U32, PROTO_F_I32, PROTO_F_U64, PROTO_F_F64, PROTO_F_ID,
               PROTO_F_STR, PROTO_F_TEXT, PROTO_F_BYTES } proto_fkind_t;
typedef struct { const char *name; proto_fkind_t kind; size_t offset; size_t max; } proto_field_t;
#define PROTO_MAX_FIELDS 24
typedef struct {
    int type; const char *name; int dir;
    int fields[PROTO_MAX_FIELDS];           /* indexes into PROTO_FIELDS, terminated by -1 */
} proto_mdef_t;
extern const proto_field_t PROTO_FIELDS[];
extern const int PROTO_N_FIELDS;
extern const proto_mdef_t PROTO_MESSAGES[];
extern const int PROTO_N_MESSAGES;

/* Message definition for a type, or NULL. */
const proto_mdef_t *proto_mdef(int type);
const char *proto_type_name(int type);                 /* "READY" ..., "?" when unknown */
int         proto_type_from_name(const char *name);    /* -1 when unknown */
const char *proto_fail_class_name(int c);              /* "window" | "model" | "resource" | "infra" */
int         proto_fail_class_from_name(const char *s); /* -1 when unknown */

/* Initialises a message of a type (zeroes every field, sets type and version). */
void proto_msg_init(proto_msg_t *m, int type);
/* Frees text/data and zeroes the message; safe on a zeroed or initialised message. */
void proto_msg_free(proto_msg_t *m);
/* Sets m->text to a heap copy of s (NULL -> empty). 0 ok, -1 on OOM or over PROTO_TEXT_MAX. */
int  proto_msg_set_text(proto_msg_t *m, const char *s);
/* Sets m->data to a heap copy of n bytes. 0 ok, -1 on OOM or n > PROTO_CHUNK_MAX. */
int  proto_msg_set_data(proto_msg_t *m, const void *p, size_t n);

/* Encodes hdr (PROTO_HEADER_BYTES) and a malloc'd body (*body, *body_len; caller frees).
 * 0 ok; -1 with err when a field breaks its limit (names the message and field). */
int proto_encode(const proto_msg_t *m, uint8_t hdr[PROTO_HEADER_BYTES], uint8_t **body,
                 size_t *body_len, char *err, size_t errlen);
/* Decodes one message; *m is initialised by the call (free with proto_msg_free even on error).
 * 0 ok; -2 malformed (bad magic, version, type, truncated, over a limit, NUL in a string, bad id,
 * trailing bytes) with err saying which. Never reads outside the given buffers. */
int proto_decode(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                 proto_msg_t *m, char *err, size_t errlen);

/* 1 if s is a valid id: 1..PROTO_ID_MAX bytes of [A-Za-z0-9._:-], first byte alnum, no "..". */
int proto_id_valid(const char *s);

#endif
