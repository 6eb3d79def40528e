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
 * Locks: h->mtx for every check field; the callback runs with no lock
 * held. See registry.h for the lock order.
 */
#include "health/run.h"

#include <stdio.h>

#include "core/clock.h"

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

static void exec_task(void *arg)
{
	vt__check *c = arg;
	vt_health *h = c->h;

	pthread_mutex_lock(&h->mtx);
	int64_t deadline = c->deadline_ns;
	/* An execution whose deadline passed while it waited in the queue,
	 * of a check removed meanwhile, or of a registry being freed, is
	 * not run at all: its worker is better spent on the others. */
	vt__run_settle_overdue(h, c, vt__mono_ns());
	bool skip = c->settled || c->removed || h->closing;
	pthread_mutex_unlock(&h->mtx);

	vt_check_result r;
	vt__result_init(&r, deadline);
	int64_t t0 = vt__mono_ns();
	if (!skip) {
		if (c->fn != NULL)
			c->fn(&r, c->arg);
		else
			vt_result_ok(&r, c->simple_fn(c->arg));
	}
	int64_t t1 = vt__mono_ns();

	pthread_mutex_lock(&h->mtx);
	if (!c->settled && !skip) {
		if (t1 > deadline)
			record_timeout(h, c, t1);
		else
			vt__health_record(h, c, &r, (double)(t1 - t0) / 1e6,
					  t1);
	}
	c->settled = true;
	c->running = false;
	pthread_cond_broadcast(&h->cv);
	bool last = vt__health_unref_locked(c);
	pthread_mutex_unlock(&h->mtx);

	vt__result_fini(&r);
	vt__health_deliver(h);
	if (last)
		vt__check_destroy(c);
}

void vt__run_start(vt_health *h, vt__check *c, int64_t now)
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
	vt_err rv = vt_pool_submit(h->pool, exec_task, c);
	if (rv == VT_OK)
		return;
	/* The caller holds a reference (table or run), so this is not the
	 * last one. */
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

bool vt__run_settle_overdue(vt_health *h, vt__check *c, int64_t now)
{
	if (!c->running || c->settled || now < c->deadline_ns)
		return false;
	record_timeout(h, c, now);
	return true;
}
