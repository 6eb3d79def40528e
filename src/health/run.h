/*
 * run.h - one execution (run) of a check on the registry's worker pool: its
 * start, its deadline and its settlement (a result or a timeout).
 *
 * A check has at most one execution at a time (c->running); c->gen
 * numbers them. An execution is settled once a result is recorded for
 * it: the callback's, "timeout after N ms" or "worker queue full".
 * Whoever waits for an execution waits until it is settled; the callback
 * may still be running after a timeout settled it (c->running stays true
 * until it returns), and the check is not started again until then.
 *
 * A fresh run starts its checks as one batch: one pool task runs them
 * one after another while each is quick and records their results
 * quietly (one h->cv broadcast for the batch, not one per check). Its
 * waiters call vt__run_batch_watch, which hands the checks not started
 * yet to tasks of their own once the batch's current callback has run
 * 1 ms (or the batch 4 ms), so a slow check delays the others by about
 * 1 ms, never past their deadlines. Whoever settles executions and wakes
 * h->cv also ends the fresh runs waited for without a thread that are
 * now complete (waiter.h): the batch's worker answers every request that
 * shared it.
 */
#ifndef VT_HEALTH_RUN_H
#define VT_HEALTH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "health/registry.h"

/* Starts an execution of c (which is not running) with deadline now +
 * timeout and schedules its next background start one jittered interval
 * from now. If the pool refuses it, the execution is settled at once as
 * UNHEALTHY "worker queue full". Locks: caller holds h->mtx. */
void vt__run_start(vt_health *h, vt__check *c, int64_t now);

/* A fresh run's executions on one pool task (run.c). */
typedef struct vt__batch vt__batch;

/* Starts an execution of each of the n checks in cs that is not
 * running, as vt__run_start does, all for one pool task that runs them
 * one after another (a batch; a single one gets a task of its own, and
 * NULL is returned). A batch returned must be given to
 * vt__run_submit_batch once h->mtx is released: until then its
 * executions wait as if queued. Locks: caller holds h->mtx. */
vt__batch *vt__run_start_batch(vt_health *h, vt__check **cs, size_t n,
			       int64_t now);

/* Submits b to the pool; if the pool refuses, settles its executions
 * as vt__run_start does. Submitted with h->mtx free, the worker woken
 * does not block on it at once. Locks: takes h->mtx (on refusal);
 * call with no lock held, holding references on b's checks. */
void vt__run_submit_batch(vt_health *h, vt__batch *b);

/* For whoever waits for c's execution: if it belongs to a batch whose
 * records are still quiet, returns the time at which the waiter must
 * call again; once that time has come, hands the batch's checks not
 * started yet to pool tasks of their own, makes the batch's records
 * broadcast h->cv, and returns INT64_MAX, as it does for an execution
 * outside a quiet batch. Locks: caller holds h->mtx. */
int64_t vt__run_batch_watch(vt_health *h, vt__check *c, int64_t now);

/* Settles c's execution as UNHEALTHY "timeout after N ms" if it is
 * unsettled and its deadline is past at now; returns true if it did.
 * A quiet batch it belongs to hands off (as vt__run_batch_watch).
 * Locks: caller holds h->mtx. */
bool vt__run_settle_overdue(vt_health *h, vt__check *c, int64_t now);

/* True once execution number gen of c is settled (or superseded).
 * Locks: caller holds h->mtx. */
static inline bool vt__run_settled(const vt__check *c, uint64_t gen)
{
	return c->gen != gen || c->settled;
}

#endif
