/*
 * registry.h - the inside of a vt_health, shared by the modules of
 * src/health: the registry (registry.c), executions (run.c), the
 * background scheduler (scheduler.c) and snapshots (snapshot.c).
 *
 * Lock order: h->sched_mtx -> h->mtx -> pool->mtx (vt_pool_submit) ->
 * the metrics registry's own locks (series writes under h->mtx). No
 * check callback, status-change listener or free_arg ever runs under
 * any of them; result listeners run under h->mtx and take only their
 * own lock (h->mtx -> the listener's lock, e.g. the history queue's).
 */
#ifndef VT_HEALTH_REGISTRY_H
#define VT_HEALTH_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/check.h"
#include "health/export.h"
#include "health/maintenance.h"
#include "vitals/health.h"
#include "vitals/pool.h"

/* A status-change listener and its argument. */
typedef struct vt__listener {
	vt_health_listener fn;
	void *arg;
} vt__listener;

/* A status change waiting for the listeners. */
typedef struct vt__event {
	struct vt__event *next;
	vt_status old_status, new_status;
	char name[]; /* the check's */
} vt__event;

struct vt_health {
	pthread_mutex_t mtx;
	/* Broadcast on every recorded or finished execution, on add and on
	 * scheduler stop; runners and the scheduler wait on it. Uses
	 * CLOCK_MONOTONIC. */
	pthread_cond_t cv;
	vt_pool *pool;	 /* immutable after alloc */
	vt__export exp;	 /* immutable after alloc */
	vt__maint maint; /* windows and silences; its own leaf lock */

	/* protected by mtx */
	vt__check **checks; /* [nchecks] sorted by name; each holds a ref */
	/* Bumped (under mtx) by every change a cached read can show: a
	 * result recorded, a check added or removed, shutdown. Read without
	 * the lock by vt__health_epoch. */
	_Atomic uint64_t epoch;
	size_t nchecks, cap;
	bool shutdown;	 /* overall status forced UNHEALTHY */
	bool closing;	 /* vt_health_free began: queued executions skip */
	size_t inflight; /* executions submitted and not yet finished */
	bool detached;	 /* vt_health_free returned with some in flight:
			    the last one to finish frees the registry */
	vt__listener listeners[VT_MAX_LISTENERS];
	struct {
		vt_result_listener fn;
		void *arg;
	} rlisteners[VT_MAX_LISTENERS];
	size_t nrlisteners;
	uint64_t results; /* results recorded so far: the last seq */
	size_t nlisteners;
	vt__event *ev_head, *ev_tail; /* FIFO of changes to deliver */
	bool delivering;	      /* a thread is calling listeners */
	pthread_t deliverer;	      /* that thread, while delivering */
	uint64_t delivered;	      /* changes delivered so far */
	uint64_t rng;		      /* xorshift state for jitter */
	bool sched_stop;	      /* asks the scheduler thread to leave */

	/* protected by sched_mtx: start/stop of the scheduler thread */
	pthread_mutex_t sched_mtx;
	bool sched_running;
	pthread_t sched_thread;
	/* Fresh runs waited for without a thread (waiter.c). */
	pthread_cond_t watch_cv;    /* wakes the watcher; CLOCK_MONOTONIC */
	struct vt__waiter *waiters; /* protected by mtx */
	int64_t watch_at;	    /* the watcher's wake-up time: INT64_MAX =
				       when signalled, INT64_MIN = awake;
				       protected by mtx */
	bool watch_running;	    /* protected by mtx */
	bool watch_stop;	    /* protected by mtx */
	pthread_t watch_thread;	    /* protected by mtx */
};

/* The registry's epoch: equal values mean a cached read shows the same
 * results (time-derived fields - the timestamp, staleness - aside).
 * Thread-safe, lock-free. */
uint64_t vt__health_epoch(vt_health *h);

/* Records r for c (vt__check_record), exports it and queues the
 * listener event; then broadcasts h->cv. Nothing is exported or
 * announced for a removed check. Locks: caller holds h->mtx. */
void vt__health_record(vt_health *h, vt__check *c, vt_check_result *r,
		       double duration_ms, int64_t now_mono);

/* As vt__health_record, without the broadcast: the caller broadcasts
 * h->cv later, or its waiters look on their own (run.h's batches).
 * Locks: caller holds h->mtx. */
void vt__health_record_quiet(vt_health *h, vt__check *c, vt_check_result *r,
			     double duration_ms, int64_t now_mono);

/* Calls the listeners for every queued change, in order, one change at a
 * time across threads: if another thread is delivering, it takes these
 * too and this returns at once. Locks: takes h->mtx; call with no lock
 * held. */
void vt__health_deliver(vt_health *h);

/* Drops one reference; the last one destroys c (free_arg runs).
 * Locks: takes h->mtx; call with no lock held. */
void vt__health_unref(vt_health *h, vt__check *c);

/* Drops one reference; true if it was the last and the caller must
 * vt__check_destroy(c) once it released h->mtx. Locks: caller holds
 * h->mtx. */
bool vt__health_unref_locked(vt__check *c);

/* Marks n executions finished, last of all their steps; the last one
 * to finish after vt_health_free detached frees the registry (on a
 * thread of its own, which joins the pool). Touches nothing of h after
 * that. Locks: takes h->mtx; call with no lock held. */
void vt__health_exec_done(vt_health *h, size_t n);

/* As vt__health_exec_done, for a caller that holds h->mtx, has nothing
 * left to do with h but release it, and calls vt__health_reap(h) after
 * that if this returns true. Locks: caller holds h->mtx. */
bool vt__health_exec_done_locked(vt_health *h, size_t n);

/* Frees h, detached, on a thread of its own (see vt__health_exec_done).
 * Locks: none held. */
void vt__health_reap(vt_health *h);

/* Marks check name (if any) so that the next vt_health_add of that
 * name replaces it in place instead of failing with VT_EEXIST: the name
 * never leaves the table. Thread-safe. Locks: takes h->mtx. */
void vt__health_expect_replace(vt_health *h, const char *name);

/* Calls visit(c, ctx) with h->mtx held for the check named name, and
 * returns what it returns; VT_ENOENT if there is none. visit must not
 * block. Locks: takes h->mtx. */
vt_err vt__health_visit(vt_health *h, const char *name,
			vt_err (*visit)(vt_health *h, vt__check *c, void *ctx),
			void *ctx);

/* Selects the checks filter selects (NULL: all) into sel, which has
 * room for h->nchecks, takes a reference on each and returns how many
 * in *n. VT_ENOENT (nothing taken) when filter->name names no check.
 * Locks: caller holds h->mtx. */
vt_err vt__health_select(vt_health *h, const vt_health_filter *filter,
			 vt__check **sel, size_t *n);

/* Ends a run over sel[0..n): builds its snapshot at now in *out
 * (written on success) and drops the run's references, keeping in sel
 * only the checks whose last reference that was (the others NULL).
 * Locks: caller holds h->mtx. */
vt_err vt__health_run_end_locked(vt_health *h, vt__check **sel, size_t n,
				 int64_t now, vt_health_snapshot **out);

/* The rest of a run's end, once h->mtx is released: destroys the
 * checks vt__health_run_end_locked kept in sel and marks the
 * maintenance windows on s (when rv is VT_OK). Locks: none held. */
void vt__health_run_end(vt_health *h, vt__check **sel, size_t n, vt_err rv,
			vt_health_snapshot *s);

/* A uniformly random 64-bit number. Locks: caller holds h->mtx. */
uint64_t vt__health_rand(vt_health *h);

/* A check's last result as kept elsewhere (the state database). */
typedef struct vt__seed {
	vt_status status;
	double time; /* wall, Unix seconds */
	double duration_ms;
	const char *error;	   /* NULL = none */
	double last_status_change; /* wall */
	uint32_t consecutive_failures;
} vt__seed;

/* Gives check name the last result s unless it has one of its own
 * already: status, times, error and failure count, its monotonic time
 * set as far back as s->time is, so the staleness rule (three
 * intervals) applies to it as to any result. No listener is called:
 * nothing new happened. VT_ENOENT. Locks: takes h->mtx. */
vt_err vt__health_seed(vt_health *h, const char *name, const vt__seed *s);

#endif
