/*
 * reload.h - applying a new config file to a running vitalsd: checks
 * added, removed and replaced by name; restart-only settings reported.
 */
#ifndef VT_DAEMON_RELOAD_H
#define VT_DAEMON_RELOAD_H

#include <stddef.h>

#include "daemon/config.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/reload.h"

/* Verifies next (loaded by the caller, with its command-line overrides)
 * as at start (started: the config the listeners and pool were started
 * with, which restart-only settings are compared against; cur: the one
 * whose checks run now); if it is refused, nothing changes and err says why.
 * Otherwise the checks of h are brought from cur's to next's (added,
 * removed - their series and, with hs, uptime gauges with them -,
 * changed ones replaced in place) and rep (zeroed first; the caller
 * finis it) gets their names and the restart-only differences; the
 * caller then runs with next and frees cur once nothing points into it.
 * A check that fails to build after verification passed (a file changed
 * in between) returns its error with the checks applied so far left
 * running. One caller at a time. */
vt_err vt__reload(const vt__config *started, const vt__config *cur,
		  vt__config *next, vt_health *h, vt_history *hs,
		  vt_reload_report *rep, char *err, size_t errlen);

#endif
