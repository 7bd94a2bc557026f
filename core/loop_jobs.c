/* Cross-thread jobs for the signaling loop. A job is reference-counted by its
 * two users (the waiting thread and the loop) so a waiter that times out never
 * frees memory the loop is about to use. */
#include "config.h"

#include "loop_jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct job {
    sw_job_fn fn;
    sw_job_fn release;
    void *arg;
    bool done;
    bool ran;
    int refs;
    pthread_cond_t cond;
    struct job *next;
} job_t;

static uv_loop_t *the_loop;
static uv_async_t wakeup;
static bool accepting;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static job_t *head, *tail;

uv_loop_t *sw_loop(void)
{
    return the_loop;
}

static void job_unref_locked(job_t *j)
{
    if (--j->refs == 0) {
        if (j->release)
            j->release(j->arg);
        pthread_cond_destroy(&j->cond);
        free(j);
    }
}

static void run_jobs(uv_async_t *h)
{
    (void)h;
    for (;;) {
        pthread_mutex_lock(&lock);
        job_t *j = head;
        if (j) {
            head = j->next;
            if (!head)
                tail = NULL;
        }
        pthread_mutex_unlock(&lock);
        if (!j)
            return;
        j->fn(j->arg);
        pthread_mutex_lock(&lock);
        j->done = true;
        j->ran = true;
        pthread_cond_signal(&j->cond);
        job_unref_locked(j);
        pthread_mutex_unlock(&lock);
    }
}

int sw_loop_jobs_init(uv_loop_t *loop)
{
    the_loop = loop;
    if (uv_async_init(loop, &wakeup, run_jobs))
        return -1;
    pthread_mutex_lock(&lock);
    accepting = true;
    pthread_mutex_unlock(&lock);
    return 0;
}

void sw_loop_jobs_close(void)
{
    pthread_mutex_lock(&lock);
    accepting = false;
    while (head) {
        job_t *j = head;
        head = j->next;
        j->done = true;
        pthread_cond_signal(&j->cond);
        job_unref_locked(j);
    }
    tail = NULL;
    pthread_mutex_unlock(&lock);
    if (the_loop && !uv_is_closing((uv_handle_t *)&wakeup))
        uv_close((uv_handle_t *)&wakeup, NULL);
}

int sw_loop_run_sync(sw_job_fn fn, void *arg, sw_job_fn release, int timeout_ms)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->fn = fn;
    j->arg = arg;
    j->release = release;
    j->refs = 2;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&lock);
    if (!accepting) {
        pthread_mutex_unlock(&lock);
        j->refs = 1;
        pthread_mutex_lock(&lock);
        job_unref_locked(j);
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (tail)
        tail->next = j;
    else
        head = j;
    tail = j;
    uv_async_send(&wakeup);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!j->done)
        if (pthread_cond_timedwait(&j->cond, &lock, &deadline) == ETIMEDOUT)
            break;
    int rc = j->ran ? 0 : -1;
    job_unref_locked(j);
    pthread_mutex_unlock(&lock);
    return rc;
}
