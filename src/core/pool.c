/*
 * pool.c - a fixed-size pthread worker pool with a bounded FIFO queue.
 *
 * The queue is a ring of queue_cap slots. vt_pool_submit appends under
 * pool->mtx and signals one idle worker; a full ring is VT_EFULL at once.
 * Each worker (nng taskq style) takes the oldest task under the lock,
 * drops the lock while the task runs, and takes it again to look for the
 * next one, so a task that blocks never holds up submitters or other
 * workers. vt_pool_free marks the pool closing (later submits get
 * VT_ECLOSED), wakes every worker, and joins them; a worker leaves only
 * once the queue is empty, so every task queued before the close runs
 * exactly once.
 *
 * Locks: pool->mtx only; no task ever runs under it.
 */
#include "vitals/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/mutex.h"

typedef struct pool_task {
	vt_task_fn fn;
	void *arg;
} pool_task;

struct vt_pool {
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* signalled on submit and on close */
	pool_task *ring;   /* [cap], protected by mtx */
	size_t cap;	   /* immutable */
	size_t head;	   /* oldest task; protected by mtx */
	size_t len;	   /* queued tasks; protected by mtx */
	bool closing;	   /* protected by mtx */
	unsigned nthreads; /* immutable after alloc */
	unsigned started;  /* threads created; owner (alloc/free) only */
	pthread_t *threads;
};

static void *pool_worker(void *arg)
{
	vt_pool *pool = arg;

	pthread_mutex_lock(&pool->mtx);
	for (;;) {
		while (pool->len == 0 && !pool->closing)
			pthread_cond_wait(&pool->cv, &pool->mtx);
		if (pool->len == 0)
			break; /* closing and drained */
		pool_task t = pool->ring[pool->head];
		pool->head = (pool->head + 1) % pool->cap;
		pool->len--;
		pthread_mutex_unlock(&pool->mtx);
		t.fn(t.arg);
		pthread_mutex_lock(&pool->mtx);
	}
	pthread_mutex_unlock(&pool->mtx);
	return NULL;
}

/* Closes the pool, joins the threads started so far and frees it all.
 * Accepts a half-built pool (from vt_pool_alloc's unwinding). */
static void pool_teardown(vt_pool *pool)
{
	pthread_mutex_lock(&pool->mtx);
	pool->closing = true;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mtx);
	for (unsigned i = 0; i < pool->started; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->cv);
	pthread_mutex_destroy(&pool->mtx);
	free(pool->threads);
	free(pool->ring);
	free(pool);
}

/* Starts nthreads workers with room for queue_cap waiting tasks. On error
 * (VT_EINVAL, VT_ENOMEM, VT_EIO) nothing is left running and *out is not
 * written. */
vt_err vt_pool_alloc(vt_pool **out, unsigned nthreads, size_t queue_cap)
{
	if (out == NULL || nthreads < 1 || queue_cap < 1 ||
	    queue_cap > SIZE_MAX / sizeof(pool_task))
		return VT_EINVAL;

	vt_pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return VT_ENOMEM;
	if (vt__mutex_init_adaptive(&pool->mtx) != 0)
		goto fail_mutex;
	if (pthread_cond_init(&pool->cv, NULL) != 0)
		goto fail_cond;
	pool->cap = queue_cap;
	pool->nthreads = nthreads;
	pool->ring = calloc(queue_cap, sizeof(pool_task));
	pool->threads = calloc(nthreads, sizeof(pthread_t));
	if (pool->ring == NULL || pool->threads == NULL) {
		pool_teardown(pool);
		return VT_ENOMEM;
	}
	for (; pool->started < nthreads; pool->started++) {
		if (pthread_create(&pool->threads[pool->started], NULL,
				   pool_worker, pool) != 0) {
			pool_teardown(pool);
			return VT_EIO;
		}
	}
	*out = pool;
	return VT_OK;

fail_cond:
	pthread_mutex_destroy(&pool->mtx);
fail_mutex:
	free(pool);
	return VT_EIO;
}

/* Queues fn(arg) behind the tasks already waiting. VT_EFULL when
 * queue_cap tasks wait, VT_ECLOSED once vt_pool_free has begun.
 * Thread-safe. Locks: takes pool->mtx; never waits for room. */
vt_err vt_pool_submit(vt_pool *pool, vt_task_fn fn, void *arg)
{
	if (pool == NULL || fn == NULL)
		return VT_EINVAL;
	vt_err rv = VT_OK;
	pthread_mutex_lock(&pool->mtx);
	if (pool->closing) {
		rv = VT_ECLOSED;
	} else if (pool->len == pool->cap) {
		rv = VT_EFULL;
	} else {
		size_t tail = (pool->head + pool->len) % pool->cap;
		pool->ring[tail] = (pool_task){fn, arg};
		pool->len++;
		pthread_cond_signal(&pool->cv);
	}
	pthread_mutex_unlock(&pool->mtx);
	return rv;
}

/* Number of workers. Thread-safe (immutable). */
unsigned vt_pool_threads(const vt_pool *pool)
{
	return pool->nthreads;
}

/* Refuses new tasks, lets the workers run every queued task, joins them
 * and frees the pool. Blocks until running tasks return. Accepts NULL.
 * Must not be called from one of the pool's own tasks. */
void vt_pool_free(vt_pool *pool)
{
	if (pool == NULL)
		return;
	pool_teardown(pool);
}
