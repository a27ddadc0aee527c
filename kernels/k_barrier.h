/* k_barrier.h — the abortable barrier the communicator backends meet at (kernels/cpu/comm_threads.c,
 * kernels/cuda/cuda_comm_nccl.cu): a mutex + condition variable with a generation count and an abort
 * flag, so a failing rank wakes every rank waiting in a collective instead of leaving it blocked.
 * Header-only (static inline) so the C and the CUDA C++ translation units share one definition.
 */
#ifndef KERNELS_K_BARRIER_H
#define KERNELS_K_BARRIER_H
#include <pthread.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size;                 /* ranks that must arrive */
    int arrived;              /* ranks waiting in the current generation */
    unsigned gen;             /* bumped when all arrived */
    volatile int aborted;     /* set once by k_barrier_abort; read unlocked by pollers */
    int abort_rank;           /* first rank that aborted, -1 when none */
} k_barrier_t;

static inline void k_barrier_init(k_barrier_t *b, int size)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->size = size;
    b->arrived = 0;
    b->gen = 0;
    b->aborted = 0;
    b->abort_rank = -1;
}

static inline void k_barrier_destroy(k_barrier_t *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

/* Returns 0 when every rank has arrived, -1 when the barrier was (or gets) aborted. */
static inline int k_barrier_wait(k_barrier_t *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->aborted) { pthread_mutex_unlock(&b->mu); return -1; }
    unsigned gen = b->gen;
    if (++b->arrived == b->size) {
        b->arrived = 0;
        b->gen++;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        return 0;
    }
    while (gen == b->gen && !b->aborted) pthread_cond_wait(&b->cv, &b->mu);
    int rc = gen != b->gen ? 0 : -1;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* Marks the barrier aborted (remembering the first rank) and wakes every waiter; idempotent. */
static inline void k_barrier_abort(k_barrier_t *b, int rank)
{
    pthread_mutex_lock(&b->mu);
    if (!b->aborted) { b->aborted = 1; b->abort_rank = rank; }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}
#endif
