/*
 * vitals/pool.h - a pthread worker pool with a bounded queue.
 *
 * Tasks run in submission order on up to nthreads workers, started on
 * demand: one at first, another when a task comes and none is idle. A full
 * queue makes vt_pool_submit fail with VT_EFULL at once (it never blocks).
 * Shutdown (vt_pool_free) refuses new tasks, runs every task already queued,
 * then joins every worker: no task is lost or run twice.
 */
#ifndef VITALS_POOL_H
#define VITALS_POOL_H

#include <stddef.h>

#include "vitals/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_pool vt_pool;
typedef void (*vt_task_fn)(void *arg);

/* Starts a pool of up to nthreads (>= 1) workers (the first one now)
 * with room for queue_cap (>= 1) waiting tasks. On success *out is set;
 * on error nothing is started. */
vt_err vt_pool_alloc(vt_pool **out, unsigned nthreads, size_t queue_cap);

/* Queues fn(arg). VT_EFULL if the queue is full, VT_ECLOSED once
 * vt_pool_free has begun. Thread-safe; never blocks on a full queue. */
vt_err vt_pool_submit(vt_pool *pool, vt_task_fn fn, void *arg);

/* The most workers the pool runs (nthreads). Thread-safe. */
unsigned vt_pool_threads(const vt_pool *pool);

/* Names the pool's workers, those running and those started later, as
 * `top -H`, `ps -L` and debuggers show them: Linux keeps the first 15
 * bytes. VT_EINVAL for NULL or an empty name. Thread-safe. */
vt_err vt_pool_set_name(vt_pool *pool, const char *name);

/* Runs every queued task, joins every worker and frees the pool. Waits
 * for running tasks to return. Accepts NULL. Must not be called from a
 * task of the same pool. */
void vt_pool_free(vt_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
