/*
 * pool.c - a pthread worker pool of up to nthreads workers with a bounded
 * FIFO queue.
 *
 * The queue is a ring of queue_cap slots. vt_pool_submit appends under
 * pool->mtx and wakes one idle worker; a full ring is VT_EFULL at once.
 * Each worker (nng taskq style) takes the oldest task under the lock,
 * drops the lock while the task runs, and takes it again to look for the
 * next one, so a task that blocks never holds up submitters or other
 * workers. vt_pool_free marks the pool closing (later submits get
 * VT_ECLOSED), wakes every worker, and joins them; a worker leaves only
 * once the queue is empty, so every task queued before the close runs
 * exactly once.
 *
 * Workers start on demand: vt_pool_alloc starts one, and a submit that
 * finds no idle worker starts another while fewer than nthreads run, so
 * as many tasks run at once as before, but a pool whose tasks never
 * overlap keeps one thread (each costs its stack pages, and each thread
 * that records metrics its own shard). Idle workers wait on their own
 * condition variable in a stack, and a submit wakes the one that went
 * idle last: work stays on the few threads that are warm, the others
 * sleep. A worker started on demand gets the signal mask of the thread
 * that allocated the pool, as if vt_pool_alloc had started it.
 *
 * Locks: pool->mtx only; no task ever runs under it.
 */
#include "vitals/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mutex.h"
#include "core/thread_name.h"

typedef struct pool_task {
	vt_task_fn fn;
	void *arg;
} pool_task;

typedef struct pool_worker {
	struct vt_pool *pool; /* immutable */
	pthread_t thread;     /* written before the worker reads anything */
	pthread_cond_t cv;    /* signalled to wake this worker */
	bool woken;	      /* protected by pool->mtx */
	struct pool_worker *next_idle; /* protected by pool->mtx */
} pool_worker;

struct vt_pool {
	pthread_mutex_t mtx;
	pthread_cond_t ready_cv; /* the first worker is idle (alloc waits) */
	pool_task *ring;	 /* [cap], protected by mtx */
	size_t cap;		 /* immutable */
	size_t head;		 /* oldest task; protected by mtx */
	size_t len;		 /* queued tasks; protected by mtx */
	bool closing;		 /* protected by mtx */
	unsigned nthreads;	 /* immutable after alloc */
	unsigned started;	 /* workers started; protected by mtx */
	pool_worker *workers;	 /* [nthreads]; [0, started) live */
	pool_worker *idle;	 /* stack of idle workers; protected by mtx */
	sigset_t sigmask;	 /* of the allocating thread; immutable */
	char name[16];		 /* workers' name or ""; protected by mtx */
};

static void *worker_main(void *arg)
{
	pool_worker *w = arg;
	vt_pool *pool = w->pool;

	pthread_mutex_lock(&pool->mtx);
	for (;;) {
		while (pool->len == 0 && !pool->closing) {
			w->woken = false;
			w->next_idle = pool->idle;
			pool->idle = w;
			pthread_cond_signal(&pool->ready_cv);
			while (!w->woken && !pool->closing)
				pthread_cond_wait(&w->cv, &pool->mtx);
		}
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

/* Starts worker number pool->started with the allocating thread's
 * signal mask; false when it cannot. Locks: pool->mtx held. */
static bool worker_start(vt_pool *pool)
{
	pool_worker *w = &pool->workers[pool->started];
	w->pool = pool;
	w->woken = false;
	w->next_idle = NULL;
	if (pthread_cond_init(&w->cv, NULL) != 0)
		return false;
	sigset_t old;
	bool masked = pthread_sigmask(SIG_SETMASK, &pool->sigmask, &old) == 0;
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->cv);
		return false;
	}
	/* Named before it takes a task: that needs pool->mtx, held here. */
	if (pool->name[0] != '\0')
		vt__thread_name(w->thread, pool->name);
	pool->started++;
	return true;
}

/* Closes the pool, joins the threads started so far and frees it all.
 * Accepts a half-built pool (from vt_pool_alloc's unwinding). */
static void pool_teardown(vt_pool *pool)
{
	pthread_mutex_lock(&pool->mtx);
	pool->closing = true;
	for (unsigned i = 0; i < pool->started; i++)
		pthread_cond_signal(&pool->workers[i].cv);
	/* No worker starts once closing is set: started is final. */
	unsigned started = pool->started;
	pthread_mutex_unlock(&pool->mtx);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(pool->workers[i].thread, NULL);
		pthread_cond_destroy(&pool->workers[i].cv);
	}
	pthread_cond_destroy(&pool->ready_cv);
	pthread_mutex_destroy(&pool->mtx);
	free(pool->workers);
	free(pool->ring);
	free(pool);
}

/* Starts the first of up to nthreads workers, with room for queue_cap
 * waiting tasks, and returns once it waits for work. On error
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
	if (pthread_cond_init(&pool->ready_cv, NULL) != 0)
		goto fail_cond;
	if (pthread_sigmask(SIG_BLOCK, NULL, &pool->sigmask) != 0)
		sigemptyset(&pool->sigmask);
	pool->cap = queue_cap;
	pool->nthreads = nthreads;
	pool->ring = calloc(queue_cap, sizeof(pool_task));
	pool->workers = calloc(nthreads, sizeof(pool_worker));
	if (pool->ring == NULL || pool->workers == NULL) {
		pool_teardown(pool);
		return VT_ENOMEM;
	}
	pthread_mutex_lock(&pool->mtx);
	bool ok = worker_start(pool);
	/* Idle before the first submit: that submit wakes it rather than
	 * starting a second worker. */
	while (ok && pool->idle == NULL)
		pthread_cond_wait(&pool->ready_cv, &pool->mtx);
	pthread_mutex_unlock(&pool->mtx);
	if (!ok) {
		pool_teardown(pool);
		return VT_EIO;
	}
	*out = pool;
	return VT_OK;

fail_cond:
	pthread_mutex_destroy(&pool->mtx);
fail_mutex:
	free(pool);
	return VT_EIO;
}

/* Queues fn(arg) behind the tasks already waiting, and wakes the worker
 * that went idle last, or starts one when none is idle and fewer than
 * nthreads run (when that fails, a running worker takes the task once
 * it is free). VT_EFULL when queue_cap tasks wait, VT_ECLOSED once
 * vt_pool_free has begun. Thread-safe. Locks: takes pool->mtx; never
 * waits for room. */
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
		pool_worker *w = pool->idle;
		if (w != NULL) {
			pool->idle = w->next_idle;
			w->woken = true;
			pthread_cond_signal(&w->cv);
		} else if (pool->started < pool->nthreads) {
			(void)worker_start(pool);
		}
	}
	pthread_mutex_unlock(&pool->mtx);
	return rv;
}

/* Most workers the pool runs. Thread-safe (immutable). */
unsigned vt_pool_threads(const vt_pool *pool)
{
	return pool->nthreads;
}

vt_err vt_pool_set_name(vt_pool *pool, const char *name)
{
	if (pool == NULL || name == NULL || name[0] == '\0')
		return VT_EINVAL;
	pthread_mutex_lock(&pool->mtx);
	size_t n = strnlen(name, sizeof(pool->name) - 1);
	memcpy(pool->name, name, n);
	pool->name[n] = '\0';
	for (unsigned i = 0; i < pool->started; i++)
		vt__thread_name(pool->workers[i].thread, pool->name);
	pthread_mutex_unlock(&pool->mtx);
	return VT_OK;
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
