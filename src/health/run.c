/*
 * run.c - executions (runs) of checks on the registry's worker pool.
 *
 * vt__run_start (under h->mtx) marks the check running, sets the
 * deadline (submission time + timeout), takes a reference for the task
 * and submits exec_task. The task reads what it needs under h->mtx
 * (and does not run the callback at all if the execution is already
 * settled, e.g. timed out while queued), drops the lock, runs the
 * callback, and takes the lock again to settle
 * the execution: it records the callback's result, or a timeout if the
 * callback returned after the deadline, or nothing if someone else
 * (a waiting vt_health_run, the scheduler) already settled it as a
 * timeout -- a late result is discarded. Either way it clears
 * c->running, so the check can start again, and wakes the waiters.
 *
 * A fresh run's checks go as one batch (vt__run_start_batch): the same
 * start for each, one task (batch_task) that claims them one at a time
 * and executes each as exec_task does, so a run of quick checks costs
 * one hand-off to a worker and one wake-up of its waiters instead of
 * one of each per check. While the batch is quiet its records do not
 * broadcast h->cv; its waiters instead wake on their own by the time
 * its current callback has run HANDOFF_NS (vt__run_batch_watch). A
 * waiter that finds it still there (or the batch past BATCH_MAX_NS)
 * hands the checks not claimed yet to exec_tasks of their own and
 * makes the batch loud: from then on each record broadcasts, as
 * exec_task's do. So a slow or hung callback holds up the others by
 * about HANDOFF_NS plus a wake-up, and deadlines and single flight are
 * those of single executions. A quiet batch's finished executions stay
 * "running" (settled) until the batch ends or turns loud, so requests
 * arriving meanwhile share the whole batch instead of starting a check
 * again beside it; the batch keeps their references until it ends.
 * Each unclaimed, running or so held execution of a batch points at it
 * (c->batch); the batch clears those pointers under h->mtx before it is
 * freed, so a waiter that reads one under the lock finds it alive.
 *
 * Locks: h->mtx for every check and batch field; the callback runs
 * with no lock held. See registry.h for the lock order.
 */
#include "health/run.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "health/waiter.h"

/* How long a batch's callback runs before its waiters hand the
 * remaining checks to other workers, and how long a whole batch may
 * run one check after another. */
#define HANDOFF_NS   1000000LL
#define BATCH_MAX_NS 4000000LL

struct vt__batch {
	vt_health *h;	  /* immutable */
	int64_t start_ns; /* immutable: submission, monotonic */
	/* protected by h->mtx */
	size_t n;	  /* c[next..n) wait; a hand-off takes them from n */
	int64_t since_ns; /* start of the current callback (or start_ns) */
	size_t next;	  /* c[0..next) were claimed by the batch */
	bool in_cb;	  /* c[next - 1]'s callback runs */
	bool loud;	  /* records broadcast h->cv; no more hand-off */
	vt__check *c[];	  /* [n] each holds its execution's reference */
};

static void handoff(vt_health *h, vt__batch *b);

/* Records "timeout after N ms" for c's current execution and settles
 * it. Locks: caller holds h->mtx. */
static void record_timeout(vt_health *h, vt__check *c, int64_t now)
{
	vt_check_result r;
	vt__result_init(&r, c->deadline_ns);
	r.status = VT_UNHEALTHY;
	snprintf(r.error, sizeof(r.error), "timeout after %d ms",
		 c->timeout_ms);
	r.has_error = true;
	vt__health_record(h, c, &r, (double)c->timeout_ms, now);
	c->settled = true;
	vt__result_fini(&r);
}

/* Executes c's current execution, for the batch b or (NULL) alone, and
 * leaves it settled: it is skipped if its deadline passed while it
 * waited, its check was removed or the registry is being freed; else
 * the callback runs with the lock dropped and its result is recorded
 * (quietly while b is quiet). Locks: caller holds h->mtx; released
 * meanwhile. */
static void execute(vt_health *h, vt__check *c, vt__batch *b)
{
	int64_t deadline = c->deadline_ns;
	vt__run_settle_overdue(h, c, vt__mono_ns());
	if (!c->settled && !c->removed && !h->closing) {
		vt_check_result r;
		vt__result_init(&r, deadline);
		pthread_mutex_unlock(&h->mtx);
		int64_t t0 = vt__mono_ns();
		if (c->fn != NULL)
			c->fn(&r, c->arg);
		else
			vt_result_ok(&r, c->simple_fn(c->arg));
		int64_t t1 = vt__mono_ns();
		pthread_mutex_lock(&h->mtx);
		/* Once vt_health_free began, a result goes nowhere: the
		 * metrics and listeners may be gone with the caller's
		 * objects. */
		double ms = (double)(t1 - t0) / 1e6;
		if (c->settled || h->closing)
			;
		else if (t1 > deadline)
			record_timeout(h, c, t1);
		else if (b != NULL && !b->loud)
			vt__health_record_quiet(h, c, &r, ms, t1);
		else
			vt__health_record(h, c, &r, ms, t1);
		vt__result_fini(&r);
	}
	c->settled = true;
}

/* Ends c's settled execution: the check may start again. Its reference
 * is dropped separately. Locks: caller holds h->mtx. */
static void finish(vt__check *c)
{
	c->running = false;
	c->batch = NULL;
}

static void exec_task(void *arg)
{
	vt__check *c = arg;
	vt_health *h = c->h;

	pthread_mutex_lock(&h->mtx);
	execute(h, c, NULL);
	finish(c);
	pthread_cond_broadcast(&h->cv);
	vt__waiter *ready = vt__waiters_take_ready(h);
	bool last = vt__health_unref_locked(c);
	/* Listeners are called only if a change waits (whoever queues one
	 * delivers it); with nothing left to do, done at once. */
	bool news = h->ev_head != NULL;
	bool now_done = !news && !last && ready == NULL;
	bool reap = now_done && vt__health_exec_done_locked(h, 1);
	pthread_mutex_unlock(&h->mtx);

	vt__waiters_finish(h, ready);
	if (news)
		vt__health_deliver(h);
	if (last)
		vt__check_destroy(c);
	if (!now_done)
		vt__health_exec_done(h, 1);
	else if (reap)
		vt__health_reap(h);
}

/* Ends the executions b ran and still holds (quiet ones, finished with
 * the batch so that requests meanwhile share them), but not the one
 * whose callback runs. Locks: caller holds h->mtx. */
static void finish_held(vt__batch *b)
{
	for (size_t i = 0; i < b->next; i++)
		if (b->c[i]->batch == b && !(b->in_cb && i == b->next - 1))
			finish(b->c[i]);
}

/* Runs b's checks one after another until none is left unclaimed (a
 * hand-off may take the rest), ends their executions and wakes the
 * waiters once, frees b. */
static void batch_task(void *arg)
{
	vt__batch *b = arg;
	vt_health *h = b->h;

	pthread_mutex_lock(&h->mtx);
	while (b->next < b->n) {
		vt__check *c = b->c[b->next++];
		b->since_ns = vt__mono_ns();
		b->in_cb = true;
		execute(h, c, b);
		b->in_cb = false;
		if (b->loud) {
			finish(c);
			pthread_cond_broadcast(&h->cv);
			vt__waiter *ready = vt__waiters_take_ready(h);
			if (ready != NULL) {
				pthread_mutex_unlock(&h->mtx);
				vt__waiters_finish(h, ready);
				pthread_mutex_lock(&h->mtx);
			}
		}
	}
	finish_held(b);
	vt__waiter *ready = vt__waiters_take_ready(h);
	size_t dead = 0;
	for (size_t i = 0; i < b->next; i++)
		if (vt__health_unref_locked(b->c[i]))
			b->c[dead++] = b->c[i]; /* to destroy */
	bool news = h->ev_head != NULL;
	size_t ran = b->next;
	pthread_mutex_unlock(&h->mtx);
	/* Quiet records, and checks no longer running, are news: one
	 * broadcast for them all, once the lock is free, so that waiters
	 * woken do not block on it at once (h lives until exec_done). */
	pthread_cond_broadcast(&h->cv);

	/* Every request that shared the batch is answered from here. */
	vt__waiters_finish(h, ready);
	if (news)
		vt__health_deliver(h);
	for (size_t i = 0; i < dead; i++)
		vt__check_destroy(b->c[i]);
	free(b); /* no check points at it any more */
	vt__health_exec_done(h, ran);
}

/* Marks c running with a new execution (deadline now + timeout) and
 * schedules its next background start one jittered interval from now.
 * Locks: caller holds h->mtx. */
static void begin(vt_health *h, vt__check *c, int64_t now)
{
	c->gen++;
	c->running = true;
	c->settled = false;
	c->deadline_ns = now + (int64_t)c->timeout_ms * 1000000;
	/* Next background start: interval +-10%, uniformly. */
	double u = (double)(vt__health_rand(h) >> 11) / 9007199254740992.0;
	c->next_due_ns =
	    now + (int64_t)((double)c->interval_ms * 1e6 * (0.9 + 0.2 * u));
	c->refs++;
}

/* Settles c's execution, which the pool refused with rv, as UNHEALTHY
 * and drops the execution's reference (never the last: the caller
 * holds one, in the table or a run). Locks: caller holds h->mtx. */
static void refuse(vt_health *h, vt__check *c, vt_err rv, int64_t now)
{
	c->refs--;
	c->running = false;
	vt_check_result r;
	vt__result_init(&r, c->deadline_ns);
	r.status = VT_UNHEALTHY;
	if (rv == VT_EFULL)
		snprintf(r.error, sizeof(r.error), "worker queue full");
	else
		snprintf(r.error, sizeof(r.error), "cannot start: %s",
			 vt_strerror(rv));
	r.has_error = true;
	vt__health_record(h, c, &r, 0.0, now);
	c->settled = true;
	vt__result_fini(&r);
}

void vt__run_start(vt_health *h, vt__check *c, int64_t now)
{
	begin(h, c, now);
	vt_err rv = vt_pool_submit(h->pool, exec_task, c);
	if (rv == VT_OK)
		h->inflight++;
	else
		refuse(h, c, rv, now);
}

vt__batch *vt__run_start_batch(vt_health *h, vt__check **cs, size_t n,
			       int64_t now)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !cs[i]->running;
	vt__batch *b = k > 1 ? malloc(sizeof(*b) + k * sizeof(b->c[0])) : NULL;
	if (b == NULL) { /* one check, or no memory: one task each */
		for (size_t i = 0; i < n; i++)
			if (!cs[i]->running)
				vt__run_start(h, cs[i], now);
		return NULL;
	}
	*b = (vt__batch){.h = h, .start_ns = now, .since_ns = now};
	for (size_t i = 0; i < n; i++) {
		if (cs[i]->running)
			continue;
		begin(h, cs[i], now);
		cs[i]->batch = b;
		b->c[b->n++] = cs[i];
	}
	h->inflight += b->n;
	return b;
}

void vt__run_submit_batch(vt_health *h, vt__batch *b)
{
	vt_err rv = vt_pool_submit(h->pool, batch_task, b);
	if (rv == VT_OK)
		return;
	pthread_mutex_lock(&h->mtx);
	/* A hand-off meanwhile took c[n..]; none was claimed. */
	int64_t now = vt__mono_ns();
	for (size_t i = b->next; i < b->n; i++) {
		b->c[i]->batch = NULL;
		h->inflight--;
		refuse(h, b->c[i], rv, now);
	}
	vt__waiter *ready = vt__waiters_take_ready(h);
	pthread_mutex_unlock(&h->mtx);
	free(b);
	vt__waiters_finish(h, ready);
}

/* Makes b loud, ends the executions it holds and gives each check it
 * has not claimed yet a task of its own (while the pool takes them; b
 * runs the others itself). Locks: caller holds h->mtx. */
static void handoff(vt_health *h, vt__batch *b)
{
	b->loud = true;
	finish_held(b);
	pthread_cond_broadcast(&h->cv); /* they may start again */
	while (b->next < b->n) {
		vt__check *c = b->c[b->n - 1];
		/* The execution's reference and count go with it. Queue
		 * full: the batch runs the rest itself. */
		if (vt_pool_submit(h->pool, exec_task, c) != VT_OK)
			break;
		b->n--;
		c->batch = NULL; /* exec_task waits for h->mtx */
	}
}

int64_t vt__run_batch_watch(vt_health *h, vt__check *c, int64_t now)
{
	vt__batch *b = c->batch;
	if (b == NULL || b->loud)
		return INT64_MAX;
	int64_t at = b->since_ns + HANDOFF_NS;
	if (b->start_ns + BATCH_MAX_NS < at)
		at = b->start_ns + BATCH_MAX_NS;
	if (now < at)
		return at;
	handoff(h, b);
	return INT64_MAX;
}

bool vt__run_settle_overdue(vt_health *h, vt__check *c, int64_t now)
{
	if (!c->running || c->settled || now < c->deadline_ns)
		return false;
	record_timeout(h, c, now);
	/* A batch with an overdue check is not quick: its held executions
	 * must not wait for that callback, nor its waiting checks. */
	if (c->batch != NULL && !c->batch->loud)
		handoff(h, c->batch);
	return true;
}
