/* farmd.h — the coordinator's state and the functions its modules share: the loop (farmd.c), the
 * worker registry (registry.c), worker and client message handlers (on_worker.c, on_client.c),
 * result uploads and verification (upload.c), assembly (assembly.c), per-attempt logs (alog.c) and
 * engine needs (needs.c). One thread (the loop) owns everything here; tasks.c runs the blocking
 * parts elsewhere and hands results back to the loop. Not an API for other processes: see proto.h.
 */
#ifndef COORD_FARMD_H
#define COORD_FARMD_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "coordinator/config.h"
#include "coordinator/tasks.h"
#include "coordinator/zap.h"
#include "proto/proto.h"
#include "proto/wire.h"
#include "sql/store.h"

typedef struct coord_worker {
    proto_env_t env;                    /* routing id (= worker id) */
    store_worker_t caps;
    int64_t last_seen;                  /* monotonic ms */
    int64_t last_seen_wall;             /* for the store */
    int64_t attempt_id;                 /* 0: idle */
    int64_t job_id, window_id;
    int n_frames, width, height;        /* of the current window: bounds the upload size */
    int64_t progress_written;           /* monotonic ms of the last progress write */
    int64_t assigned_at;                /* monotonic ms the current attempt was assigned or bound */
    int64_t hold_until;                 /* no new ASSIGN before this (after it handed one back) */
    int64_t mismatch_since;             /* heartbeats name another attempt since (0: they agree) */
    int resends;                        /* ACK "resend" answers for the current attempt */
    int dirty;                          /* last_seen not yet flushed to the store */
    struct coord_worker *prev, *next;   /* ordered by last_seen, oldest first */
} coord_worker_t;

typedef struct {
    int64_t attempt_id;
    int fd;
    char path[1100];
    uint64_t received, total;
    int broken, verifying;
} coord_upload_t;

typedef struct { int64_t attempt_id; int64_t deadline; } coord_orphan_t;

typedef struct {
    int64_t assigned, verified, failed, lost, refused, malformed;
} coord_stats_t;

/* A reply held back until the batch that produced it is committed (nothing acknowledged is lost). */
typedef struct {
    proto_env_t env;
    uint8_t hdr[PROTO_HEADER_BYTES];
    uint8_t *body; size_t len;
    int type; int64_t attempt_id;
} coord_pending_t;

typedef struct coord_farmd {
    coord_config_t cfg;
    store_t *st;
    void *zctx, *router;
    coord_zap_t zap;                    /* CURVE client keys (sock NULL: CURVE off) */
    coord_tasks_t *tasks;               /* artifact verification (short) */
    coord_tasks_t *atasks;              /* shot assembly (long): never delays verification */
    coord_worker_t *head, *tail;        /* registry, oldest last_seen first */
    int n_workers;
    coord_upload_t *up; int n_up, cap_up;
    coord_orphan_t *orphans; int n_orphans;
    char dir_art[600], dir_tmp[640], dir_out[600], dir_logs[600];
    int64_t t_heartbeat, t_touch, t_sched;   /* monotonic deadlines of the timers */
    int64_t t_last_timers, t_expiry_hold;    /* stall detection: no lease ends before t_expiry_hold */
    int want_dispatch;
    int64_t refused_ring[64]; int refused_at;
    struct { proto_env_t env; int64_t at; } unknown_ring[32]; int unknown_at;   /* UNKNOWN replies sent */
    coord_stats_t stats;
    coord_pending_t *out; int n_out, cap_out;   /* replies waiting for the batch commit */
    int batching;
    volatile sig_atomic_t *stop;
} coord_farmd_t;

/* ---- farmd.c ---- */
/* Runs farmd until *stop becomes non-zero. 0 on a clean stop, -1 with err on a start-up failure. */
int     coord_farmd_run(const coord_config_t *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen);
int64_t coord_mono_ms(void);
int64_t coord_wall_ms(void);
/* Sends m to a peer after the current store batch commits (immediately outside a batch); a
 * failure to deliver is logged (an undeliverable ASSIGN requeues its window). 0 queued/sent, -1 error.
 * Never blocks. */
int     coord_send(coord_farmd_t *f, const proto_env_t *env, const proto_msg_t *m);
void    coord_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- registry.c ---- */
coord_worker_t *coord_worker_find(coord_farmd_t *f, const proto_env_t *env);
coord_worker_t *coord_worker_by_attempt(coord_farmd_t *f, int64_t attempt_id);
coord_worker_t *coord_worker_add(coord_farmd_t *f, const proto_env_t *env);
void            coord_worker_touch(coord_farmd_t *f, coord_worker_t *w);   /* renews the lease */
void            coord_worker_remove(coord_farmd_t *f, coord_worker_t *w);
/* Ends the lease of every worker silent for lease_ms (oldest first, stops at the first live one). */
void            coord_workers_expire(coord_farmd_t *f);
void            coord_workers_heartbeat(coord_farmd_t *f);
void            coord_workers_flush(coord_farmd_t *f);

/* ---- on_worker.c ---- */
void coord_on_worker_msg(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m);
/* Assigns queued windows to idle workers (one worker when w != NULL). */
void coord_dispatch(coord_farmd_t *f, coord_worker_t *w);
/* Marks an attempt lost (infrastructure), frees its worker, drops its upload. */
void coord_attempt_lost(coord_farmd_t *f, int64_t attempt_id, const char *reason);
void coord_orphans_expire(coord_farmd_t *f);
/* Acts on a store outcome (assembly to start). */
void coord_outcome(coord_farmd_t *f, const store_outcome_t *o);

/* ---- on_client.c ---- */
void coord_on_client_msg(coord_farmd_t *f, const proto_env_t *env, proto_msg_t *m);

/* ---- upload.c ---- */
coord_upload_t *coord_upload_find(coord_farmd_t *f, int64_t attempt_id);
void coord_upload_drop(coord_farmd_t *f, int64_t attempt_id);
/* RESULT chunk for a validated attempt (a: its window's size bounds the upload). */
void coord_upload_chunk(coord_farmd_t *f, const store_attempt_t *a, const proto_msg_t *m);
/* DONE for a validated attempt: verify off-loop, then commit and ACK. */
void coord_upload_done(coord_farmd_t *f, const proto_env_t *env, const store_attempt_t *a, const proto_msg_t *m);
int  coord_upload_clean_tmp(coord_farmd_t *f, char *err, size_t errlen);

/* ---- assembly.c ---- */
void coord_assembly_start(coord_farmd_t *f, int64_t shot_id);

/* ---- alog.c ---- */
void coord_alog(coord_farmd_t *f, int64_t attempt_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- needs.c ---- */
/* What a window of this shot needs from a worker; -1 with err for an engine farmd does not know. */
int coord_needs(const proto_shot_t *s, int window_frames, int *gpus, int64_t *mem_mb, char *err, size_t errlen);

/* mkdir -p; 0 ok, -1 with err. */
int coord_mkdirs(const char *path, char *err, size_t errlen);

#endif
