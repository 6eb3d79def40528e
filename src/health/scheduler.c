/*
 * scheduler.c - background mode: one thread that keeps every check's
 * cached result fresh.
 *
 * The thread sleeps on h->cv until the earliest of: a check's next start
 * (set by every start, by whoever made it, to one interval +-10% later,
 * so fresh runs also count), or the deadline of an unsettled execution.
 * On waking it starts each due check that is not in flight (never a
 * second execution of a check: single flight) and settles, as timeouts,
 * overdue executions nobody else waits for, so a hung check's cached
 * result turns UNHEALTHY on time. Finished executions, added checks and
 * stop broadcast h->cv, which wakes it to look again. A check added
 * while it runs, or never run, is due at once.
 *
 * Locks: h->sched_mtx serialises start/stop; the thread itself works
 * under h->mtx and calls the listener only after releasing it.
 */
#include <pthread.h>

#include "core/clock.h"
#include "core/thread_name.h"
#include "health/run.h"
#include "health/registry.h"

/* Longest sleep without a reason to wake, so a clock oddity cannot
 * stall the loop for long. */
#define MAX_SLEEP_NS (60LL * 1000000000)

static void *sched_main(void *arg)
{
	vt_health *h = arg;
	vt__thread_name_self("vt-scheduler");

	pthread_mutex_lock(&h->mtx);
	while (!h->sched_stop) {
		int64_t now = vt__mono_ns();
		int64_t wake = now + MAX_SLEEP_NS;
		for (size_t i = 0; i < h->nchecks; i++) {
			vt__check *c = h->checks[i];
			if (!c->running && now >= c->next_due_ns)
				vt__run_start(h, c, now);
			if (!c->running) {
				if (c->next_due_ns < wake)
					wake = c->next_due_ns;
			} else if (!vt__run_settle_overdue(h, c, now) &&
				   !c->settled && c->deadline_ns < wake) {
				wake = c->deadline_ns;
			}
		}
		if (h->ev_head != NULL && !h->delivering) {
			pthread_mutex_unlock(&h->mtx);
			vt__health_deliver(h);
			pthread_mutex_lock(&h->mtx);
			continue;
		}
		struct timespec ts = vt__mono_ts(wake);
		pthread_cond_timedwait(&h->cv, &h->mtx, &ts);
	}
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

/* Starts the scheduler thread; VT_OK if it already runs, VT_EIO if the
 * thread cannot be created. Thread-safe. Locks: h->sched_mtx, then
 * h->mtx. */
vt_err vt_health_start(vt_health *h)
{
	if (h == NULL)
		return VT_EINVAL;
	vt_err rv = VT_OK;
	pthread_mutex_lock(&h->sched_mtx);
	if (!h->sched_running) {
		pthread_mutex_lock(&h->mtx);
		h->sched_stop = false;
		pthread_mutex_unlock(&h->mtx);
		if (pthread_create(&h->sched_thread, NULL, sched_main, h) == 0)
			h->sched_running = true;
		else
			rv = VT_EIO;
	}
	pthread_mutex_unlock(&h->sched_mtx);
	return rv;
}

/* Stops the scheduler thread and waits for it to leave; executions it
 * started go on on the pool. No-op if it is not running. Must not be
 * called from the listener. Thread-safe. Locks: h->sched_mtx, then
 * h->mtx. */
void vt_health_stop(vt_health *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->sched_mtx);
	if (h->sched_running) {
		pthread_mutex_lock(&h->mtx);
		h->sched_stop = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mtx);
		pthread_join(h->sched_thread, NULL);
		h->sched_running = false;
	}
	pthread_mutex_unlock(&h->sched_mtx);
}
