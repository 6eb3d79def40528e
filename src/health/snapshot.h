/*
 * snapshot.h - deep copies of checks' recorded state, as the caller-owned
 * vt_health_snapshot that vt_health_run returns.
 */
#ifndef VT_HEALTH_SNAPSHOT_H
#define VT_HEALTH_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/check.h"
#include "vitals/health.h"

/* A snapshot of checks[0..n) (in that order, which must be by name) as
 * they read at monotonic time now: a check that never recorded a result
 * reads UNHEALTHY "no result yet", one whose last result is older than
 * three intervals reads UNHEALTHY "stale: ..." with stale set. The
 * overall status is their aggregate, or UNHEALTHY when shutdown. One
 * allocation, freed by vt_health_snapshot_free. VT_ENOMEM.
 * Locks: caller holds h->mtx. */
vt_err vt__snapshot_build(vt__check *const *checks, size_t n, bool shutdown,
			  int64_t now, vt_health_snapshot **out);

#endif
