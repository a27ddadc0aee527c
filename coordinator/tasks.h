/* tasks.h — a small thread pool for the blocking work farmd must keep off its loop thread
 * (artifact verification, shot assembly). A task's run() executes on a pool thread; its finish()
 * then executes on the loop thread when the loop calls coord_tasks_drain() after the wake fd polls
 * readable. Tasks never touch the store: finish() does. Not a general executor: FIFO, no priorities. */
#ifndef COORD_TASKS_H
#define COORD_TASKS_H
#include <stddef.h>

typedef struct coord_tasks coord_tasks_t;
typedef struct {
    void (*run)(void *arg);                  /* pool thread */
    void (*finish)(void *arg, void *ctx);    /* loop thread; owns and frees arg */
    void *arg;
} coord_task_t;

int  coord_tasks_new(int threads, coord_tasks_t **out, char *err, size_t errlen);
/* Stops accepting, waits for queued and running tasks (finish() is NOT called for them), joins. */
void coord_tasks_destroy(coord_tasks_t **p);
/* Queues a task (copied). 0 ok, -1 on OOM. */
int  coord_tasks_submit(coord_tasks_t *t, const coord_task_t *task);
/* Readable when finished tasks wait: poll it in the loop. */
int  coord_tasks_fd(const coord_tasks_t *t);
/* Runs finish(arg, ctx) for every finished task; returns how many. */
int  coord_tasks_drain(coord_tasks_t *t, void *ctx);
/* Tasks queued or running (not yet drained). */
int  coord_tasks_pending(coord_tasks_t *t);

#endif
