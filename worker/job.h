/* job.h — one window being rendered on its own thread, so the worker loop keeps heartbeating,
 * reporting progress and answering CANCEL while an engine works. The thread renders with the
 * engine, then (on success) commits the result to the outbox before it reports "finished".
 * One job at a time; not a thread pool.
 */
#ifndef WORKER_JOB_H
#define WORKER_JOB_H
#include <pthread.h>
#include <stdatomic.h>
#include "proto/proto.h"
#include "worker/engine.h"
#include "worker/outbox.h"

typedef struct {
    proto_msg_t          assign;       /* copy of the ASSIGN (no text; data = the job's own copy of the
                                          conditioning blob, freed once the engine returns) */
    const wrk_engine_t  *engine;
    wrk_testcard_opts_t  tc;
    wrk_outbox_t        *ob;
    pthread_t            th;
    atomic_int           cancel, silent, finished, done, total;
    int                  rc;           /* WRK_RENDER_*, valid once finished */
    int                  fail_class;
    char                 err[512];
    wrk_outbox_entry_t   entry;        /* the committed result when rc == WRK_RENDER_OK */
    long long            render_ms;
} wrk_job_t;

/* Starts rendering; 0 ok, -1 with err (thread could not start). */
int  wrk_job_start(wrk_job_t *j, const proto_msg_t *assign, const wrk_engine_t *e,
                   const wrk_testcard_opts_t *tc, wrk_outbox_t *ob, char *err, size_t errlen);
/* Waits for the thread (call once finished is set, or after setting cancel). */
void wrk_job_join(wrk_job_t *j);

#endif
