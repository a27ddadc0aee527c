/* job.c — the render thread of one window (see job.h). */
#include "worker/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_progress(void *ctx, int done, int total)
{
    wrk_job_t *j = ctx;
    atomic_store(&j->total, total);
    atomic_store(&j->done, done);
}

static void *job_main(void *arg)
{
    wrk_job_t *j = arg;
    proto_frames_t f = { 0 };
    wrk_render_t r = { &j->assign, &j->tc, &j->cancel, &j->silent, on_progress, j };
    long long t0 = now_ms();
    j->rc = j->engine->render(&r, &f, &j->fail_class, j->err, sizeof j->err);
    free(j->assign.data);            /* the conditioning blob the ASSIGN carried: the engine is done */
    j->assign.data = NULL; j->assign.data_len = 0;
    if (j->rc == WRK_RENDER_OK && atomic_load(&j->cancel)) j->rc = WRK_RENDER_CANCELLED;
    if (j->rc == WRK_RENDER_OK &&
        wrk_outbox_put(j->ob, j->assign.attempt_id, &f, &j->entry, j->err, sizeof j->err) < 0) {
        j->rc = WRK_RENDER_FAILED;
        j->fail_class = PROTO_FAIL_RESOURCE;
    }
    proto_frames_free(&f);
    j->render_ms = now_ms() - t0;
    atomic_store(&j->finished, 1);
    return NULL;
}

int wrk_job_start(wrk_job_t *j, const proto_msg_t *assign, const wrk_engine_t *e,
                  const wrk_testcard_opts_t *tc, wrk_outbox_t *ob, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->assign = *assign;
    j->assign.text = NULL;
    j->assign.data = NULL;
    j->assign.data_len = 0;
    if (assign->data_len) {          /* conditioning blob (proto/cond.h): the job owns a copy */
        if (!(j->assign.data = malloc(assign->data_len))) { snprintf(err, errlen, "out of memory"); return -1; }
        memcpy(j->assign.data, assign->data, assign->data_len);
        j->assign.data_len = assign->data_len;
    }
    j->engine = e;
    j->tc = *tc;
    j->ob = ob;
    atomic_init(&j->cancel, 0); atomic_init(&j->silent, 0); atomic_init(&j->finished, 0);
    atomic_init(&j->done, 0); atomic_init(&j->total, (int)assign->n_frames);
    int rc = pthread_create(&j->th, NULL, job_main, j);
    if (rc) {
        free(j->assign.data); j->assign.data = NULL;
        snprintf(err, errlen, "cannot start the render thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void wrk_job_join(wrk_job_t *j)
{
    pthread_join(j->th, NULL);
}
