/* The signaling thread's event loop, and the one way other threads (HTTP)
 * get work done on it: a job queue woken by uv_async. Call state is only ever
 * touched on the loop thread, so nothing on the call path takes a lock. */
#ifndef SW_LOOP_JOBS_H
#define SW_LOOP_JOBS_H

#include <stdbool.h>
#include <uv.h>

/* The loop of the signaling thread (NULL before sw_loop_jobs_init). */
uv_loop_t *sw_loop(void);
int sw_loop_jobs_init(uv_loop_t *loop);
/* Stops accepting jobs; pending ones are cancelled (their waiters get -1). */
void sw_loop_jobs_close(void);

/* Runs fn(arg) on the loop thread and waits for it, at most timeout_ms.
 * Returns 0 when it ran, -1 on timeout or when the loop is shutting down. On
 * timeout the job may still run later, so `arg` must stay valid: callers pass
 * a heap object whose ownership moves to the job (freed by `release`). */
typedef void (*sw_job_fn)(void *arg);
int sw_loop_run_sync(sw_job_fn fn, void *arg, sw_job_fn release, int timeout_ms);

#endif
