/*
 * registry.c - vt_health: the table of checks, runs, the status-change
 * listener.
 *
 * The table is an array of checks sorted by name, so lookups are a
 * binary search and snapshots come out sorted. Everything mutable lives
 * under one mutex, h->mtx, with one condvar, h->cv (CLOCK_MONOTONIC),
 * broadcast whenever an execution is settled or finishes (a quiet
 * batch's, once for the batch: run.h).
 *
 * A fresh run takes a reference on each selected check, starts those not
 * in flight (run.c, as one batch) and notes the execution number of
 * each; then it waits on h->cv until each of those executions is
 * settled, settling itself, as timeouts, those whose deadline passed,
 * and waking by the times a quiet batch asks for. So concurrent fresh
 * runs share executions, and a run waits at most until the latest
 * deadline among them. A fresh run can also end without a thread
 * waiting for it (waiter.c): the same start, its snapshot handed to a
 * callback by whoever settles its last execution. A cached run only
 * copies recorded state (and
 * records timeouts already due). The snapshot is built under the lock;
 * listener calls, free_arg and the checks' callbacks never run under it.
 *
 * Checks are refcounted (under h->mtx) by the table, by each execution
 * and by each run that selected them; the last reference destroys the
 * check, calling free_arg, outside the lock. Status changes are queued
 * as events under the lock and delivered after it is released, in
 * order, by one thread at a time.
 *
 * Lock order: see registry.h.
 */
#include "health/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mutex.h"
#include "health/run.h"
#include "health/snapshot.h"
#include "health/waiter.h"

#define DEFAULT_WORKERS	  4
#define DEFAULT_QUEUE_CAP 1024

/* Index of name in h->checks, or -(insertion point) - 1.
 * Locks: caller holds h->mtx. */
static long find(const vt_health *h, const char *name)
{
	size_t lo = 0, hi = h->nchecks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(h->checks[mid]->name, name);
		if (cmp == 0)
			return (long)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/* Allocates a registry with its own worker pool; opts NULL or zero
 * fields take the defaults (4 workers, queue of 1024). With
 * opts->metrics, registers the vitals_check_* families there (their
 * errors are returned: VT_EKIND, VT_EEXIST). *out is written only on
 * success. */
vt_err vt_health_alloc(vt_health **out, const vt_health_opts *opts)
{
	if (out == NULL)
		return VT_EINVAL;
	unsigned workers =
	    opts != NULL && opts->workers > 0 ? opts->workers : DEFAULT_WORKERS;
	size_t qcap = opts != NULL && opts->queue_cap > 0 ? opts->queue_cap
							  : DEFAULT_QUEUE_CAP;
	vt_err rv = VT_EIO;

	vt_health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return VT_ENOMEM;
	if (vt__mutex_init_adaptive(&h->mtx) != 0)
		goto fail_mtx;
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		goto fail_attr;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&h->cv, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		goto fail_attr;
	}
	if (pthread_cond_init(&h->watch_cv, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		goto fail_watch_cv;
	}
	pthread_condattr_destroy(&attr);
	h->watch_at = INT64_MAX;
	if (pthread_mutex_init(&h->sched_mtx, NULL) != 0)
		goto fail_sched_mtx;
	rv = vt__export_init(&h->exp, opts != NULL ? opts->metrics : NULL);
	if (rv != VT_OK)
		goto fail_export;
	if ((rv = vt__maint_init(&h->maint)) != VT_OK)
		goto fail_export;
	rv = vt_pool_alloc(&h->pool, workers, qcap);
	if (rv != VT_OK)
		goto fail_pool;
	(void)vt_pool_set_name(h->pool, "vt-check");
	/* Any nonzero seed will do for jitter. */
	h->rng = (uint64_t)vt__mono_ns() ^ (uint64_t)(uintptr_t)h;
	h->rng = h->rng * 0x9E3779B97F4A7C15ULL | 1;
	*out = h;
	return VT_OK;

fail_pool:
	vt__maint_fini(&h->maint);
fail_export:
	pthread_mutex_destroy(&h->sched_mtx);
fail_sched_mtx:
	pthread_cond_destroy(&h->watch_cv);
fail_watch_cv:
	pthread_cond_destroy(&h->cv);
fail_attr:
	pthread_mutex_destroy(&h->mtx);
fail_mtx:
	free(h);
	return rv;
}

/* How long vt_health_free waits past the latest deadline of the
 * executions in flight before it detaches them. */
#define FREE_GRACE_MS 1000

/* Frees what only the registry uses: pool (joining its workers), locks
 * and h itself. Locks: none may be held; no execution may be in
 * flight. */
static void destroy_registry(vt_health *h)
{
	vt_pool_free(h->pool);
	vt__maint_fini(&h->maint);
	pthread_mutex_destroy(&h->sched_mtx);
	pthread_cond_destroy(&h->watch_cv);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mtx);
	free(h);
}

/* Waits until no execution is in flight or the bound passed: the latest
 * deadline among them (or now, if all are past it) + FREE_GRACE_MS.
 * Returns true if none is left. Locks: caller holds h->mtx. */
static bool wait_idle(vt_health *h)
{
	int64_t end = vt__mono_ns();
	for (size_t i = 0; i < h->nchecks; i++)
		if (h->checks[i]->running && h->checks[i]->deadline_ns > end)
			end = h->checks[i]->deadline_ns;
	end += (int64_t)FREE_GRACE_MS * 1000000;
	struct timespec ts = vt__mono_ts(end);
	while (h->inflight > 0 && vt__mono_ns() < end)
		pthread_cond_timedwait(&h->cv, &h->mtx, &ts);
	return h->inflight == 0;
}

/* Stops the scheduler, lets running callbacks return for a bounded time
 * (wait_idle), skips queued executions, frees every check not in use
 * (free_arg) and, if nothing is left running, the registry. Executions
 * still running are detached: each drops its result, frees its check
 * when its callback returns, and the last one frees the registry. No
 * other call on h may run concurrently or follow. Accepts NULL. */
void vt_health_free(vt_health *h)
{
	if (h == NULL)
		return;
	vt_health_stop(h);
	vt__waiters_stop(h);
	pthread_mutex_lock(&h->mtx);
	h->closing = true;
	h->nlisteners = 0; /* no listener is called from now on */
	bool idle = wait_idle(h);
	h->detached = !idle;
	vt__event *evs = h->ev_head;
	h->ev_head = h->ev_tail = NULL;
	vt__check **checks = h->checks;
	size_t n = h->nchecks;
	h->checks = NULL;
	h->nchecks = h->cap = 0;
	pthread_mutex_unlock(&h->mtx);

	for (vt__event *ev = evs, *next; ev != NULL; ev = next) {
		next = ev->next;
		free(ev);
	}
	/* A check an execution still holds is destroyed by that execution. */
	for (size_t i = 0; i < n; i++)
		vt__health_unref(h, checks[i]);
	free(checks);
	if (idle)
		destroy_registry(h);
}

static void *reap_registry(void *arg)
{
	destroy_registry(arg);
	return NULL;
}

bool vt__health_exec_done_locked(vt_health *h, size_t n)
{
	h->inflight -= n;
	/* Only vt_health_free (closing) waits for the count. */
	if (h->closing)
		pthread_cond_broadcast(&h->cv);
	return h->detached && h->inflight == 0;
}

void vt__health_exec_done(vt_health *h, size_t n)
{
	pthread_mutex_lock(&h->mtx);
	bool reap = vt__health_exec_done_locked(h, n);
	pthread_mutex_unlock(&h->mtx);
	if (reap)
		vt__health_reap(h);
}

void vt__health_reap(vt_health *h)
{
	/* A worker cannot join its own pool: a detached thread does. If it
	 * cannot start, the registry stays allocated (a bounded leak). */
	pthread_t t;
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_create(&t, &attr, reap_registry, h);
	pthread_attr_destroy(&attr);
}

/* Locks: caller holds h->mtx (one writer at a time). */
static void bump_epoch(vt_health *h)
{
	atomic_store_explicit(
	    &h->epoch,
	    atomic_load_explicit(&h->epoch, memory_order_relaxed) + 1,
	    memory_order_release);
}

uint64_t vt__health_epoch(vt_health *h)
{
	return atomic_load_explicit(&h->epoch, memory_order_acquire);
}

/* Puts c in the table in place of the check at pos, which is removed
 * (a callback of it still running finishes, its result dropped).
 * Locks: caller holds h->mtx; releases it. */
static void replace_at(vt_health *h, size_t pos, vt__check *c)
{
	vt__check *old = h->checks[pos];
	h->checks[pos] = c;
	c->refs = 1;
	old->removed = true;
	bump_epoch(h);
	pthread_cond_broadcast(&h->cv);
	bool last = vt__health_unref_locked(old);
	pthread_mutex_unlock(&h->mtx);
	if (last)
		vt__check_destroy(old);
}

void vt__health_expect_replace(vt_health *h, const char *name)
{
	pthread_mutex_lock(&h->mtx);
	long pos = find(h, name);
	if (pos >= 0)
		h->checks[pos]->replace = true;
	pthread_mutex_unlock(&h->mtx);
}

static vt_err add_check(vt_health *h, const char *name, vt_check_fn fn,
			vt_check_simple_fn simple_fn, void *arg,
			const vt_check_opts *opts)
{
	if (h == NULL)
		return VT_EINVAL;
	vt__check *c;
	vt_err rv = vt__check_alloc(&c, name, fn, simple_fn, arg, opts);
	if (rv != VT_OK)
		return rv;
	c->h = h;
	/* Outside h->mtx: the metrics registry may take its own locks. */
	rv = vt__export_check(&h->exp, c->name, &c->series);
	if (rv != VT_OK)
		goto fail;

	pthread_mutex_lock(&h->mtx);
	long pos = find(h, c->name);
	if (pos >= 0 && h->checks[pos]->replace) {
		replace_at(h, (size_t)pos, c);
		return VT_OK;
	}
	if (pos >= 0) {
		rv = VT_EEXIST;
		goto fail_locked;
	}
	if (h->nchecks == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		vt__check **a = realloc(h->checks, cap * sizeof(*a));
		if (a == NULL) {
			rv = VT_ENOMEM;
			goto fail_locked;
		}
		h->checks = a;
		h->cap = cap;
	}
	size_t at = (size_t)(-pos - 1);
	memmove(&h->checks[at + 1], &h->checks[at],
		(h->nchecks - at) * sizeof(*h->checks));
	h->checks[at] = c;
	h->nchecks++;
	c->refs = 1;
	bump_epoch(h);
	pthread_cond_broadcast(&h->cv); /* the scheduler runs it */
	pthread_mutex_unlock(&h->mtx);
	return VT_OK;

fail_locked:
	pthread_mutex_unlock(&h->mtx);
fail:
	c->free_arg = NULL; /* on error the caller keeps arg */
	vt__check_destroy(c);
	return rv;
}

/* Registers check name (fn fills a vt_check_result). VT_EINVAL for a bad
 * name or option, VT_EEXIST if name is taken, VT_ENOMEM, or a metrics
 * error; on error free_arg is not called. Thread-safe. Locks: takes
 * h->mtx. */
vt_err vt_health_add(vt_health *h, const char *name, vt_check_fn fn, void *arg,
		     const vt_check_opts *opts)
{
	if (fn == NULL)
		return VT_EINVAL;
	return add_check(h, name, fn, NULL, arg, opts);
}

/* As vt_health_add, for a check that returns true when healthy. */
vt_err vt_health_add_simple(vt_health *h, const char *name,
			    vt_check_simple_fn fn, void *arg,
			    const vt_check_opts *opts)
{
	if (fn == NULL)
		return VT_EINVAL;
	return add_check(h, name, NULL, fn, arg, opts);
}

/* Unregisters name at once; a callback still running finishes on its
 * worker and free_arg runs after it, on that thread. VT_ENOENT if
 * unknown. Thread-safe. Locks: takes h->mtx. */
vt_err vt_health_remove(vt_health *h, const char *name)
{
	if (h == NULL || name == NULL)
		return VT_EINVAL;
	pthread_mutex_lock(&h->mtx);
	long pos = find(h, name);
	if (pos < 0) {
		pthread_mutex_unlock(&h->mtx);
		return VT_ENOENT;
	}
	vt__check *c = h->checks[pos];
	memmove(&h->checks[pos], &h->checks[pos + 1],
		(h->nchecks - (size_t)pos - 1) * sizeof(*h->checks));
	h->nchecks--;
	c->removed = true;
	/* Under h->mtx, which vt__health_record holds while it checks
	 * c->removed and writes the series: none is written after this, and
	 * a check added again under the name gets new ones. */
	vt__export_forget(&h->exp, c->name);
	bump_epoch(h);
	bool last = vt__health_unref_locked(c);
	pthread_mutex_unlock(&h->mtx);
	if (last)
		vt__check_destroy(c);
	return VT_OK;
}

/* Thread-safe. Locks: takes h->mtx. */
void vt_health_set_shutdown(vt_health *h)
{
	pthread_mutex_lock(&h->mtx);
	h->shutdown = true;
	bump_epoch(h);
	pthread_mutex_unlock(&h->mtx);
}

/* Thread-safe. Locks: takes h->mtx. */
vt_err vt_health_add_listener(vt_health *h, vt_health_listener fn, void *arg)
{
	if (h == NULL || fn == NULL)
		return VT_EINVAL;
	vt_err rv = VT_OK;
	pthread_mutex_lock(&h->mtx);
	if (h->nlisteners == VT_MAX_LISTENERS) {
		rv = VT_EFULL;
	} else {
		h->listeners[h->nlisteners].fn = fn;
		h->listeners[h->nlisteners].arg = arg;
		h->nlisteners++;
	}
	pthread_mutex_unlock(&h->mtx);
	return rv;
}

/* Thread-safe. Locks: takes h->mtx. Result listeners run under h->mtx,
 * so adding or removing one under it is enough. */
vt_err vt_health_add_result_listener(vt_health *h, vt_result_listener fn,
				     void *arg)
{
	if (h == NULL || fn == NULL)
		return VT_EINVAL;
	vt_err rv = VT_EFULL;
	pthread_mutex_lock(&h->mtx);
	if (h->nrlisteners < VT_MAX_LISTENERS) {
		h->rlisteners[h->nrlisteners].fn = fn;
		h->rlisteners[h->nrlisteners].arg = arg;
		h->nrlisteners++;
		rv = VT_OK;
	}
	pthread_mutex_unlock(&h->mtx);
	return rv;
}

/* Thread-safe. Locks: takes h->mtx. */
vt_err vt_health_remove_result_listener(vt_health *h, vt_result_listener fn,
					void *arg)
{
	if (h == NULL)
		return VT_EINVAL;
	vt_err rv = VT_ENOENT;
	pthread_mutex_lock(&h->mtx);
	for (size_t i = 0; i < h->nrlisteners; i++) {
		if (h->rlisteners[i].fn == fn && h->rlisteners[i].arg == arg) {
			h->rlisteners[i] = h->rlisteners[--h->nrlisteners];
			rv = VT_OK;
			break;
		}
	}
	pthread_mutex_unlock(&h->mtx);
	return rv;
}

/* Waits for the change being delivered (if any) to reach every listener,
 * so a removed listener is not called after this returns. Thread-safe.
 * Locks: takes h->mtx. */
vt_err vt_health_remove_listener(vt_health *h, vt_health_listener fn, void *arg)
{
	if (h == NULL)
		return VT_EINVAL;
	vt_err rv = VT_ENOENT;
	pthread_mutex_lock(&h->mtx);
	for (size_t i = 0; i < h->nlisteners; i++) {
		if (h->listeners[i].fn == fn && h->listeners[i].arg == arg) {
			h->listeners[i] = h->listeners[--h->nlisteners];
			rv = VT_OK;
			break;
		}
	}
	uint64_t seen = h->delivered;
	while (rv == VT_OK && h->delivering && h->delivered == seen &&
	       !pthread_equal(h->deliverer, pthread_self()))
		pthread_cond_wait(&h->cv, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
	return rv;
}

void vt__health_record(vt_health *h, vt__check *c, vt_check_result *r,
		       double duration_ms, int64_t now_mono)
{
	vt__health_record_quiet(h, c, r, duration_ms, now_mono);
	pthread_cond_broadcast(&h->cv);
}

void vt__health_record_quiet(vt_health *h, vt__check *c, vt_check_result *r,
			     double duration_ms, int64_t now_mono)
{
	vt__change chg;
	vt__check_record(c, r, duration_ms, now_mono, vt__wall_s(), &chg);
	bump_epoch(h);
	if (c->removed)
		return;
	h->results++;
	if (h->nrlisteners > 0) {
		vt_result_event rev = {
		    .check = c->name,
		    .status = c->status,
		    .time = c->last_check_time,
		    .duration_ms = c->duration_ms,
		    .error = c->has_error ? c->error : NULL,
		    /* the maintenance lock is a leaf: safe under h->mtx */
		    .maintenance = vt__maint_active(
			&h->maint, c->name, (const char *const *)c->tags,
			c->ntags, c->last_check_time),
		    .seq = h->results,
		};
		for (size_t i = 0; i < h->nrlisteners; i++)
			h->rlisteners[i].fn(&rev, h->rlisteners[i].arg);
	}
	vt__export_result(&c->series, c->status, chg.run_status,
			  c->duration_ms);
	if (!chg.changed || h->nlisteners == 0)
		return;
	size_t n = strlen(c->name) + 1;
	vt__event *ev = malloc(sizeof(*ev) + n);
	if (ev == NULL)
		return; /* the status is recorded; only the call is lost */
	ev->next = NULL;
	ev->old_status = chg.old_status;
	ev->new_status = chg.new_status;
	memcpy(ev->name, c->name, n);
	if (h->ev_tail != NULL)
		h->ev_tail->next = ev;
	else
		h->ev_head = ev;
	h->ev_tail = ev;
}

void vt__health_deliver(vt_health *h)
{
	pthread_mutex_lock(&h->mtx);
	if (h->delivering) {
		pthread_mutex_unlock(&h->mtx);
		return;
	}
	h->delivering = true;
	h->deliverer = pthread_self();
	vt__event *ev;
	while ((ev = h->ev_head) != NULL) {
		h->ev_head = ev->next;
		if (h->ev_head == NULL)
			h->ev_tail = NULL;
		size_t n = h->nlisteners;
		vt__listener ls[VT_MAX_LISTENERS];
		memcpy(ls, h->listeners, n * sizeof(ls[0]));
		pthread_mutex_unlock(&h->mtx);
		for (size_t i = 0; i < n; i++)
			ls[i].fn(ev->name, ev->old_status, ev->new_status,
				 ls[i].arg);
		free(ev);
		pthread_mutex_lock(&h->mtx);
		h->delivered++;
		pthread_cond_broadcast(&h->cv);
	}
	h->delivering = false;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mtx);
}

bool vt__health_unref_locked(vt__check *c)
{
	return --c->refs == 0;
}

void vt__health_unref(vt_health *h, vt__check *c)
{
	pthread_mutex_lock(&h->mtx);
	bool last = vt__health_unref_locked(c);
	pthread_mutex_unlock(&h->mtx);
	if (last)
		vt__check_destroy(c);
}

vt_err vt__health_seed(vt_health *h, const char *name, const vt__seed *s)
{
	pthread_mutex_lock(&h->mtx);
	long i = find(h, name);
	if (i < 0) {
		pthread_mutex_unlock(&h->mtx);
		return VT_ENOENT;
	}
	vt__check *c = h->checks[i];
	if (!c->has_result) {
		double age_s = vt__wall_s() - s->time;
		if (age_s < 0)
			age_s = 0;
		if (age_s > 1e9)
			age_s = 1e9;
		c->has_result = true;
		c->status = s->status;
		c->last_mono_ns = vt__mono_ns() - (int64_t)(age_s * 1e9);
		c->last_check_time = s->time;
		c->duration_ms = s->duration_ms;
		c->last_status_change = s->last_status_change;
		c->consecutive_failures = s->consecutive_failures;
		c->has_error = s->error != NULL;
		snprintf(c->error, sizeof(c->error), "%s",
			 s->error != NULL ? s->error : "");
		bump_epoch(h);
	}
	pthread_mutex_unlock(&h->mtx);
	return VT_OK;
}

uint64_t vt__health_rand(vt_health *h)
{
	/* xorshift64* */
	uint64_t x = h->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* 1 if c is selected by filter f (NULL selects all). Locks: none
 * (immutable fields only). */
static int selected(const vt__check *c, const vt_health_filter *f)
{
	if (f == NULL)
		return 1;
	if (f->name != NULL && f->name[0] != '\0' &&
	    strcmp(c->name, f->name) != 0)
		return 0;
	if (f->tag != NULL && f->tag[0] != '\0' &&
	    !vt__check_has_tag(c, f->tag))
		return 0;
	for (size_t i = 0; f->exclude != NULL && i < f->nexclude; i++)
		if (f->exclude[i] != NULL &&
		    strcmp(c->name, f->exclude[i]) == 0)
			return 0;
	return 1;
}

/* Waits until execution gens[i] of every sel[i] is settled, settling
 * overdue ones as timeouts and watching quiet batches (run.h).
 * Locks: caller holds h->mtx; waits on h->cv. */
static void wait_settled(vt_health *h, vt__check **sel, const uint64_t *gens,
			 size_t n)
{
	for (;;) {
		int64_t now = vt__mono_ns();
		int64_t wake = INT64_MAX;
		for (size_t i = 0; i < n; i++) {
			vt__check *c = sel[i];
			if (vt__run_settled(c, gens[i]) ||
			    vt__run_settle_overdue(h, c, now))
				continue;
			int64_t look = vt__run_batch_watch(h, c, now);
			if (look < wake)
				wake = look;
			if (c->deadline_ns < wake)
				wake = c->deadline_ns;
		}
		if (wake == INT64_MAX)
			return;
		struct timespec ts = vt__mono_ts(wake);
		pthread_cond_timedwait(&h->cv, &h->mtx, &ts);
	}
}

vt_err vt__health_select(vt_health *h, const vt_health_filter *filter,
			 vt__check **sel, size_t *n)
{
	if (filter != NULL && filter->name != NULL && filter->name[0] != '\0' &&
	    find(h, filter->name) < 0)
		return VT_ENOENT;
	size_t k = 0;
	for (size_t i = 0; i < h->nchecks; i++) {
		if (selected(h->checks[i], filter)) {
			sel[k] = h->checks[i];
			/* Kept alive while h->cv waits release the lock. */
			sel[k]->refs++;
			k++;
		}
	}
	*n = k;
	return VT_OK;
}

vt_err vt__health_run_end_locked(vt_health *h, vt__check **sel, size_t n,
				 int64_t now, vt_health_snapshot **out)
{
	vt_err rv = vt__snapshot_build(sel, n, h->shutdown, now, out);
	if (rv == VT_OK)
		(*out)->seq = h->results;
	for (size_t i = 0; i < n; i++)
		if (!vt__health_unref_locked(sel[i]))
			sel[i] = NULL;
	return rv;
}

void vt__health_run_end(vt_health *h, vt__check **sel, size_t n, vt_err rv,
			vt_health_snapshot *s)
{
	for (size_t i = 0; i < n; i++)
		if (sel[i] != NULL)
			vt__check_destroy(sel[i]);
	if (rv == VT_OK)
		vt__maint_mark(&h->maint, s, s->timestamp);
}

/* Runs (FRESH) or reads (CACHED) the checks filter selects and returns
 * their snapshot in *out (written only on success). VT_ENOENT when
 * filter->name names no check, VT_EINVAL, VT_ENOMEM. Returns within the
 * largest timeout of the checks it starts or joins, plus scheduling
 * noise. Thread-safe. Locks: takes h->mtx, waits on h->cv. */
vt_err vt_health_run(vt_health *h, const vt_health_filter *filter,
		     vt_run_mode mode, vt_health_snapshot **out)
{
	if (h == NULL || out == NULL ||
	    (mode != VT_RUN_FRESH && mode != VT_RUN_CACHED))
		return VT_EINVAL;
	vt_err rv = VT_OK;
	vt__check **sel = NULL;
	uint64_t *gens = NULL;
	size_t n = 0;
	vt_health_snapshot *s = NULL;

	pthread_mutex_lock(&h->mtx);
	if (h->nchecks > 0) {
		sel = malloc(h->nchecks * sizeof(*sel));
		gens = malloc(h->nchecks * sizeof(*gens));
		if (sel == NULL || gens == NULL) {
			rv = VT_ENOMEM;
			goto out_unlock;
		}
	}
	if ((rv = vt__health_select(h, filter, sel, &n)) != VT_OK)
		goto out_unlock;

	int64_t now = vt__mono_ns();
	if (mode == VT_RUN_FRESH) {
		vt__batch *b = vt__run_start_batch(h, sel, n, now);
		for (size_t i = 0; i < n; i++)
			gens[i] = sel[i]->gen;
		if (b != NULL) { /* submitted with the lock free: run.h */
			pthread_mutex_unlock(&h->mtx);
			vt__run_submit_batch(h, b);
			pthread_mutex_lock(&h->mtx);
		}
		wait_settled(h, sel, gens, n);
		now = vt__mono_ns();
	} else {
		for (size_t i = 0; i < n; i++)
			vt__run_settle_overdue(h, sel[i], now);
	}
	rv = vt__health_run_end_locked(h, sel, n, now, &s);
out_unlock:;
	/* Changes queued after this are delivered by who queues them. */
	bool news = h->ev_head != NULL;
	pthread_mutex_unlock(&h->mtx);
	if (n > 0)
		vt__health_run_end(h, sel, n, rv, s);
	free(sel);
	free(gens);
	if (rv == VT_OK)
		*out = s;
	if (news)
		vt__health_deliver(h);
	return rv;
}

vt_err vt__health_visit(vt_health *h, const char *name,
			vt_err (*visit)(vt_health *h, vt__check *c, void *ctx),
			void *ctx)
{
	if (h == NULL || name == NULL)
		return VT_EINVAL;
	pthread_mutex_lock(&h->mtx);
	long pos = find(h, name);
	vt_err rv = pos < 0 ? VT_ENOENT : visit(h, h->checks[pos], ctx);
	pthread_mutex_unlock(&h->mtx);
	return rv;
}
