/*
 * waiter.c - fresh runs waited for without a thread (waiter.h).
 *
 * A waiter is what vt_health_run keeps on its stack while it waits:
 * the selected checks (each referenced) and the execution number it
 * needs of each. It is listed on h->waiters (newest first). Every
 * thread that settles executions and then wakes h->cv's waiters -
 * exec_task, batch_task, a refused submission - also takes the waiters
 * now complete off the list (vt__waiters_take_ready, under h->mtx:
 * their snapshots are built there, as vt_health_run builds its own)
 * and calls their done once the lock is free (vt__waiters_finish). So
 * a batch of quick checks answers every request that shared it from
 * the worker that ran it.
 *
 * What no worker does, the watcher thread does: it sleeps until the
 * earliest deadline of an unsettled execution or hand-off time of a
 * quiet batch that some waiter needs (h->watch_at), then settles and
 * hands off as wait_settled in registry.c would, and completes what
 * that made ready. A new waiter that needs a look before h->watch_at
 * signals it. Under a steady stream of quick runs it wakes about once
 * per hand-off interval, not per request. It starts with the first
 * waiter and stops in vt_health_free (vt__waiters_stop).
 *
 * Locks: h->mtx for the list, the waiters and the watcher's fields.
 */
#include "health/waiter.h"

#include <stdlib.h>

#include "core/clock.h"
#include "core/thread_name.h"
#include "health/run.h"

struct vt__waiter {
	struct vt__waiter *next; /* on h->waiters, or in a ready list */
	vt__run_done done;
	void *arg;
	vt_health_snapshot *s; /* once ready: the snapshot, if rv is VT_OK */
	vt_err rv;
	size_t n;
	vt__check **sel; /* [n], each referenced; points into the block */
	uint64_t gens[]; /* [n] the executions needed; then sel's room */
};

/* True once every execution w needs is settled. Locks: caller holds
 * h->mtx. */
static bool complete(const vt__waiter *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (!vt__run_settled(w->sel[i], w->gens[i]))
			return false;
	return true;
}

/* Settles w's overdue executions as timeouts and hands off quiet
 * batches past their time, as wait_settled does; returns when w needs
 * its next look (INT64_MAX: none, it is complete). Locks: caller holds
 * h->mtx. */
static int64_t look(vt_health *h, vt__waiter *w, int64_t now)
{
	int64_t wake = INT64_MAX;
	for (size_t i = 0; i < w->n; i++) {
		vt__check *c = w->sel[i];
		if (vt__run_settled(c, w->gens[i]) ||
		    vt__run_settle_overdue(h, c, now))
			continue;
		int64_t at = vt__run_batch_watch(h, c, now);
		if (at < wake)
			wake = at;
		if (c->deadline_ns < wake)
			wake = c->deadline_ns;
	}
	return wake;
}

vt__waiter *vt__waiters_take_ready(vt_health *h)
{
	vt__waiter *ready = NULL;
	vt__waiter **pp = &h->waiters;
	int64_t now = 0;
	while (*pp != NULL) {
		vt__waiter *w = *pp;
		if (!complete(w)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (now == 0)
			now = vt__mono_ns();
		w->rv = vt__health_run_end_locked(h, w->sel, w->n, now, &w->s);
		/* The list is newest first: so is ready, answered oldest
		 * first. */
		w->next = ready;
		ready = w;
	}
	return ready;
}

void vt__waiters_finish(vt_health *h, vt__waiter *ready)
{
	while (ready != NULL) {
		vt__waiter *w = ready;
		ready = w->next;
		vt__health_run_end(h, w->sel, w->n, w->rv, w->s);
		w->done(w->rv == VT_OK ? w->s : NULL, w->rv, w->arg);
		free(w);
	}
}

/* Completes what settles and hand-offs make ready, and sleeps until a
 * waiter needs its next look or a new one signals. */
static void *watch_main(void *arg)
{
	vt_health *h = arg;
	vt__thread_name_self("vt-deadlines");

	pthread_mutex_lock(&h->mtx);
	while (!h->watch_stop) {
		int64_t now = vt__mono_ns();
		int64_t wake = INT64_MAX;
		for (vt__waiter *w = h->waiters; w != NULL; w = w->next) {
			int64_t at = look(h, w, now);
			if (at < wake)
				wake = at;
		}
		vt__waiter *ready = vt__waiters_take_ready(h);
		bool news = h->ev_head != NULL && !h->delivering;
		if (ready != NULL || news) {
			pthread_mutex_unlock(&h->mtx);
			vt__waiters_finish(h, ready);
			if (news)
				vt__health_deliver(h);
			pthread_mutex_lock(&h->mtx);
			continue;
		}
		h->watch_at = wake;
		if (wake == INT64_MAX) {
			pthread_cond_wait(&h->watch_cv, &h->mtx);
		} else {
			struct timespec ts = vt__mono_ts(wake);
			pthread_cond_timedwait(&h->watch_cv, &h->mtx, &ts);
		}
		h->watch_at = INT64_MIN; /* awake: it looks before it sleeps */
	}
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

vt_err vt__health_run_async(vt_health *h, const vt_health_filter *filter,
			    vt__run_done done, void *arg)
{
	if (h == NULL || done == NULL)
		return VT_EINVAL;
	pthread_mutex_lock(&h->mtx);
	size_t cap = h->nchecks;
	vt__waiter *w =
	    malloc(sizeof(*w) + cap * (sizeof(uint64_t) + sizeof(vt__check *)));
	if (w == NULL) {
		pthread_mutex_unlock(&h->mtx);
		return VT_ENOMEM;
	}
	*w = (vt__waiter){.done = done, .arg = arg};
	w->sel = (vt__check **)(void *)(w->gens + cap);
	vt_err rv = vt__health_select(h, filter, w->sel, &w->n);
	if (rv == VT_OK && !h->watch_running) {
		h->watch_stop = false;
		if (pthread_create(&h->watch_thread, NULL, watch_main, h) == 0)
			h->watch_running = true;
		else
			rv = VT_EIO;
	}
	if (rv != VT_OK) {
		size_t dead = 0; /* references taken: dropped again */
		for (size_t i = 0; i < w->n; i++)
			if (vt__health_unref_locked(w->sel[i]))
				w->sel[dead++] = w->sel[i];
		pthread_mutex_unlock(&h->mtx);
		for (size_t i = 0; i < dead; i++)
			vt__check_destroy(w->sel[i]);
		free(w);
		return rv;
	}

	int64_t now = vt__mono_ns();
	vt__batch *b = vt__run_start_batch(h, w->sel, w->n, now);
	for (size_t i = 0; i < w->n; i++)
		w->gens[i] = w->sel[i]->gen;
	w->next = h->waiters;
	h->waiters = w;
	/* The watcher must look by w's first deadline or hand-off time. */
	int64_t at = look(h, w, now);
	if (at < h->watch_at) {
		h->watch_at = at;
		pthread_cond_signal(&h->watch_cv);
	}
	/* Nothing to wait for (all joined executions were settled, or the
	 * pool refused): answered here. */
	vt__waiter *ready = vt__waiters_take_ready(h);
	bool news = h->ev_head != NULL;
	pthread_mutex_unlock(&h->mtx);

	if (b != NULL) /* submitted with the lock free: run.h */
		vt__run_submit_batch(h, b);
	vt__waiters_finish(h, ready);
	if (news)
		vt__health_deliver(h);
	return VT_OK;
}

void vt__waiters_stop(vt_health *h)
{
	pthread_mutex_lock(&h->mtx);
	bool running = h->watch_running;
	pthread_t t = h->watch_thread;
	h->watch_running = false;
	h->watch_stop = true;
	pthread_cond_signal(&h->watch_cv);
	vt__waiter *left = h->waiters;
	h->waiters = NULL;
	pthread_mutex_unlock(&h->mtx);
	if (running)
		pthread_join(t, NULL);
	/* Only if the caller broke the contract: nobody may wait for a run
	 * of a registry being freed. */
	while (left != NULL) {
		vt__waiter *w = left;
		left = w->next;
		for (size_t i = 0; i < w->n; i++)
			vt__health_unref(h, w->sel[i]);
		w->done(NULL, VT_ECLOSED, w->arg);
		free(w);
	}
}
