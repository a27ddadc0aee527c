/* tasks.c — pool threads take tasks from a FIFO, run them, append them to a done list and write
 * one byte to a pipe so the loop thread wakes and drains the done list. */
#include "coordinator/tasks.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct node { coord_task_t t; struct node *next; } node_t;

struct coord_tasks {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    node_t *todo, *todo_tail, *done;
    int stop, pending, n_threads;
    int pipe_rd, pipe_wr;
    pthread_t th[64];
};

static void *worker_main(void *p)
{
    coord_tasks_t *t = p;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        while (!t->todo && !t->stop) pthread_cond_wait(&t->cv, &t->mu);
        node_t *n = t->todo;
        if (!n) { pthread_mutex_unlock(&t->mu); return NULL; }
        t->todo = n->next;
        if (!t->todo) t->todo_tail = NULL;
        pthread_mutex_unlock(&t->mu);
        n->t.run(n->t.arg);
        pthread_mutex_lock(&t->mu);
        n->next = t->done; t->done = n;
        pthread_mutex_unlock(&t->mu);
        if (write(t->pipe_wr, "x", 1) < 0) { /* pipe full: the loop is already due to drain */ }
    }
}

int coord_tasks_new(int threads, coord_tasks_t **out, char *err, size_t errlen)
{
    coord_tasks_t *t = calloc(1, sizeof *t);
    int fds[2];
    *out = NULL;
    if (!t || pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) { free(t); snprintf(err, errlen, "tasks: pipe/alloc failed"); return -1; }
    t->pipe_rd = fds[0]; t->pipe_wr = fds[1];
    pthread_mutex_init(&t->mu, NULL); pthread_cond_init(&t->cv, NULL);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&t->th[i], NULL, worker_main, t) != 0) break;
        t->n_threads++;
    }
    if (!t->n_threads) { coord_tasks_destroy(&t); snprintf(err, errlen, "tasks: no thread started"); return -1; }
    *out = t;
    return 0;
}

static void free_list(node_t *n)
{
    while (n) { node_t *x = n->next; free(n); n = x; }
}

void coord_tasks_destroy(coord_tasks_t **p)
{
    coord_tasks_t *t = p ? *p : NULL;
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < t->n_threads; i++) pthread_join(t->th[i], NULL);
    free_list(t->todo); free_list(t->done);
    close(t->pipe_rd); close(t->pipe_wr);
    pthread_mutex_destroy(&t->mu); pthread_cond_destroy(&t->cv);
    free(t);
    *p = NULL;
}

int coord_tasks_submit(coord_tasks_t *t, const coord_task_t *task)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n) return -1;
    n->t = *task;
    pthread_mutex_lock(&t->mu);
    if (t->todo_tail) t->todo_tail->next = n; else t->todo = n;
    t->todo_tail = n;
    t->pending++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int coord_tasks_fd(const coord_tasks_t *t) { return t->pipe_rd; }

int coord_tasks_drain(coord_tasks_t *t, void *ctx)
{
    char buf[256];
    while (read(t->pipe_rd, buf, sizeof buf) > 0) {}
    pthread_mutex_lock(&t->mu);
    node_t *n = t->done;
    t->done = NULL;
    pthread_mutex_unlock(&t->mu);
    node_t *rev = NULL;   /* done list is LIFO: reverse to finish in completion order */
    while (n) { node_t *x = n->next; n->next = rev; rev = n; n = x; }
    int k = 0;
    for (n = rev; n; k++) {
        node_t *x = n->next;
        n->t.finish(n->t.arg, ctx);
        free(n);
        n = x;
    }
    pthread_mutex_lock(&t->mu);
    t->pending -= k;
    pthread_mutex_unlock(&t->mu);
    return k;
}

int coord_tasks_pending(coord_tasks_t *t)
{
    pthread_mutex_lock(&t->mu);
    int n = t->pending;
    pthread_mutex_unlock(&t->mu);
    return n;
}
