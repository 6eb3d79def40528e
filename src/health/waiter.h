/*
 * waiter.h - fresh runs waited for without a thread: the run's end calls
 * back instead of waking a thread blocked in vt_health_run.
 *
 * vt__health_run_async starts a fresh run as vt_health_run does (the
 * same batch, the same single flight: it joins executions in flight)
 * and registers a waiter for the executions it needs. Whoever settles
 * the last of them completes the waiter: the worker that ran the batch
 * or the check, or, at a deadline or a batch's hand-off time, the
 * registry's watcher thread, which does for every waiter what
 * vt_health_run's waiting does for its caller (settles overdue
 * executions as timeouts, hands a slow batch's other checks off). So a
 * hung check still leaves the run answered at its timeout, and a run of
 * quick checks costs no thread hop beyond the batch's own.
 *
 * Locks: h->mtx for the waiter list and the watcher's state; done is
 * called with no lock held.
 */
#ifndef VT_HEALTH_WAITER_H
#define VT_HEALTH_WAITER_H

#include "health/registry.h"

/* A fresh run's end: s (the caller's to free) on VT_OK, else NULL and
 * the reason (VT_ENOMEM, VT_ECLOSED when the registry was freed first).
 * Called exactly once, on a check worker, the watcher thread or the
 * thread that started the run (before vt__health_run_async returns);
 * it must not block: other waiters and checks wait for that thread. */
typedef void (*vt__run_done)(vt_health_snapshot *s, vt_err rv, void *arg);

/* Starts a fresh run of the checks filter selects, as vt_health_run
 * with VT_RUN_FRESH, and returns; its snapshot goes to done(arg) once
 * every execution it needs is settled, within the largest timeout among
 * them plus scheduling noise. VT_OK when done will be (or was) called;
 * else VT_ENOENT (filter->name names no check), VT_EINVAL, VT_ENOMEM or
 * VT_EIO (no watcher thread), and done is not called. vt_health_free
 * must not begin before done was called. Thread-safe. Locks: takes
 * h->mtx. */
vt_err vt__health_run_async(vt_health *h, const vt_health_filter *filter,
			    vt__run_done done, void *arg);

/* One waiter, off the list, with its snapshot built. */
typedef struct vt__waiter vt__waiter;

/* Takes every waiter whose executions are all settled off the list,
 * builds its snapshot and returns them (NULL when none) for
 * vt__waiters_finish once h->mtx is released. Cheap when no waiter is
 * listed. Locks: caller holds h->mtx. */
vt__waiter *vt__waiters_take_ready(vt_health *h);

/* Calls each waiter's done, frees them. Locks: none held. */
void vt__waiters_finish(vt_health *h, vt__waiter *ready);

/* Stops the watcher thread (joins it) and completes every waiter still
 * listed with VT_ECLOSED. For vt_health_free. Locks: none held. */
void vt__waiters_stop(vt_health *h);

#endif
