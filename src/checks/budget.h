/*
 * budget.h - the timing of a check's steps: how long each blocking step
 * of a run (a connect, a command, a plugin's output) may take.
 *
 * A run has a deadline (vt_result_remaining_ms). A check bounds its own
 * I/O by slightly less than what is left (vt__check_budget_ms), so that
 * its own timeout, which says where it stalled, lands before the
 * registry's generic "timeout after N ms". A step with a limit of its
 * own (a connect timeout) takes that limit or the time left, whichever is
 * less (vt__step_ms). All are thread-safe and keep no state.
 */
#ifndef VT_CHECKS_BUDGET_H
#define VT_CHECKS_BUDGET_H

#include <stdint.h>
#include <sys/time.h>

#include "vitals/health.h"

/* Milliseconds kept back from a run's deadline by vt__check_budget_ms. */
#define VT__BUDGET_MARGIN_MS 10

/* The I/O budget of a run: the milliseconds left to its deadline less
 * VT__BUDGET_MARGIN_MS (all that is left when that is little); <= 0 when
 * nothing is left. */
int vt__check_budget_ms(const vt_check_result *r);

/* The timeout of the next step: limit_ms or the time left, whichever is
 * less; <= 0 when the deadline has passed. */
int vt__step_ms(const vt_check_result *r, int limit_ms);

/* The monotonic deadline (vt__mono_ns) ms milliseconds from now. */
int64_t vt__deadline_ns(int ms);

/* Milliseconds from now to the monotonic deadline_ns, 0 when it has
 * passed, at most INT32_MAX: a poll() timeout. */
int vt__ms_until(int64_t deadline_ns);

/* ms as a struct timeval (hiredis' and librabbitmq's timeouts). */
struct timeval vt__ms_tv(int ms);

#endif
