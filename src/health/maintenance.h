/*
 * maintenance.h - maintenance windows and silences of a registry (see
 * vt_health_add_maintenance in vitals/health.h), and the arithmetic of
 * a repeating window, kept apart so that it can be tested alone.
 *
 * Locks: m->mtx is a leaf lock: nothing else is taken under it. It is
 * never taken under h->mtx either, so it sits outside the registry's
 * order (registry.h).
 */
#ifndef VT_HEALTH_MAINTENANCE_H
#define VT_HEALTH_MAINTENANCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/health.h"

typedef struct vt__window {
	char **checks;
	size_t nchecks;
	char **tags;
	size_t ntags;
	double start;
	int64_t duration_ms;
	vt_repeat every;
} vt__window;

typedef struct vt__silence {
	char *name; /* NULL = every check */
	double until;
} vt__silence;

typedef struct vt__maint {
	pthread_mutex_t mtx;
	vt__window *windows; /* protected by mtx */
	size_t nwindows;
	vt__silence *silences; /* protected by mtx */
	size_t nsilences;
} vt__maint;

vt_err vt__maint_init(vt__maint *m);
void vt__maint_fini(vt__maint *m);

/* True if a window of start, duration_ms and every covers time now (all
 * Unix seconds): now in [start + k*period, start + k*period + duration)
 * for some k >= 0 (k = 0 only for VT_REPEAT_NONE). */
bool vt__window_covers(double start, int64_t duration_ms, vt_repeat every,
		       double now);

/* Parses "YYYY-MM-DDTHH:MM:SS" with "Z" or "+HH:MM"/"-HH:MM" into Unix
 * seconds. VT_EINVAL for anything else. */
vt_err vt__maint_parse_time(const char *s, double *out);

/* "none", "daily", "weekly" into *out; VT_EINVAL otherwise. */
vt_err vt__maint_parse_repeat(const char *s, vt_repeat *out);

/* Copies w into m. VT_EINVAL, VT_ENOMEM. Locks: takes m->mtx. */
vt_err vt__maint_add(vt__maint *m, const vt_maintenance_window *w);

/* Silence name (NULL = all) until the wall time until; replaces the
 * earlier one of the same target. Locks: takes m->mtx. */
vt_err vt__maint_silence(vt__maint *m, const char *name, double until);

/* Removes the silence of name (NULL = all silences). VT_ENOENT when
 * there was none. Locks: takes m->mtx. */
vt_err vt__maint_unsilence(vt__maint *m, const char *name);

/* True if a window or silence covers the check at wall time now.
 * Locks: takes m->mtx. */
bool vt__maint_active(vt__maint *m, const char *name, const char *const *tags,
		      size_t ntags, double now);

/* Sets .maintenance on every component of s at wall time now.
 * Locks: takes m->mtx. */
void vt__maint_mark(vt__maint *m, vt_health_snapshot *s, double now);

#endif
