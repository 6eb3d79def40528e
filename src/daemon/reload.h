/*
 * reload.h - applying a new config file to a running vitalsd: checks
 * added, removed and replaced by name; restart-only settings reported.
 */
#ifndef VT_DAEMON_RELOAD_H
#define VT_DAEMON_RELOAD_H

#include <stddef.h>

#include "daemon/config.h"
#include "vitals/health.h"

typedef struct vt__reload_stats {
	size_t added, removed, changed;
} vt__reload_stats;

/* Called with one line about a setting that needs a restart. */
typedef void (*vt__reload_note)(const char *line, void *arg);

/* Verifies next (loaded by the caller, with its command-line overrides)
 * as at start; if it is refused, nothing changes and err says why.
 * Otherwise the checks of h are brought from cur's to next's (added,
 * removed, changed ones replaced in place) and st gets the counts; the
 * caller then runs with next and frees cur once nothing points into it.
 * Restart-only differences go to note. A check that fails to build
 * after verification passed (a file changed in between) returns its
 * error with the checks applied so far left running. Owner thread
 * only. */
vt_err vt__reload(const vt__config *cur, vt__config *next, vt_health *h,
		  vt__reload_stats *st, vt__reload_note note, void *arg,
		  char *err, size_t errlen);

#endif
