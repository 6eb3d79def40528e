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

/* Settles c's execution as UNHEALTHY "timeout after N ms" if it is
 * unsettled and its deadline is past at now; returns true if it did.
 * Locks: caller holds h->mtx. */
bool vt__run_settle_overdue(vt_health *h, vt__check *c, int64_t now);

/* True once execution number gen of c is settled (or superseded).
 * Locks: caller holds h->mtx. */
static inline bool vt__run_settled(const vt__check *c, uint64_t gen)
{
	return c->gen != gen || c->settled;
}

#endif
