/*
 * vitals/health.h - the health registry: checks, runs, snapshots.
 *
 * A check is a callback that reports a status, optional details
 * (key/value) and an optional error. Two forms:
 *   vt_health_add_simple: bool fn(void *arg)   true = healthy
 *   vt_health_add:        void fn(vt_check_result *r, void *arg)
 *                         with vt_result_status, vt_result_detail_*
 *                         and vt_result_error.
 *
 * Runs. vt_health_run runs the selected checks in parallel on the
 * registry's worker pool, each with a deadline of submission time plus
 * its timeout, and returns when all are done or past their deadline, so
 * it waits at most for the largest timeout. A check past its deadline is
 * UNHEALTHY with error "timeout after N ms" and is not started again
 * while its callback still runs (single flight); a result it returns
 * late is discarded. A caller that finds a check already running (for
 * another caller or the background scheduler) waits for that run
 * instead of starting one: concurrent fresh requests share one run.
 *
 * Background mode (vt_health_start): each check runs every interval_ms
 * (with +-10% jitter) and feeds the cached results that a VT_RUN_CACHED
 * request reads without running anything. A cached result older than
 * three intervals is reported UNHEALTHY with error "stale: ...": a cache
 * never hides an outage. A check that never ran reads as UNHEALTHY
 * "no result yet".
 *
 * Status of one check, in order: the callback's status (default
 * HEALTHY); HEALTHY becomes DEGRADED when the run took longer than
 * degraded_ms (if > 0); then flap damping: UNHEALTHY is reported only
 * after failures_before_unhealthy consecutive UNHEALTHY results, and
 * after an UNHEALTHY report HEALTHY/DEGRADED only after
 * successes_before_healthy consecutive non-UNHEALTHY results. The first
 * result of a check is taken as it is.
 *
 * Overall: any critical UNHEALTHY -> UNHEALTHY; else any DEGRADED or
 * non-critical UNHEALTHY -> DEGRADED; else HEALTHY (also for no checks).
 *
 * Health is also metrics, when the registry is given a vt_metrics:
 *   vitals_check_status{check}            gauge, 0/1/2
 *   vitals_check_duration_seconds{check}  histogram of run durations
 *   vitals_check_runs_total{check,result} counter, result = status name
 */
#ifndef VITALS_HEALTH_H
#define VITALS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_status {
	VT_HEALTHY = 0,
	VT_DEGRADED = 1,
	VT_UNHEALTHY = 2,
} vt_status;

/* "healthy", "degraded", "unhealthy". */
const char *vt_status_name(vt_status st);
/* Parses a name of vt_status_name; VT_EINVAL otherwise. */
vt_err vt_status_parse(const char *name, vt_status *out);

typedef struct vt_health vt_health;
typedef struct vt_check_result vt_check_result;

/* Whether name is a valid check name (or tag): 1..200 bytes of
 * [A-Za-z0-9_.:-]. The registry, the config loader and both transports'
 * filters use this one rule; NULL is not valid. Thread-safe. */
bool vt_check_name_valid(const char *name);

typedef bool (*vt_check_simple_fn)(void *arg);
typedef void (*vt_check_fn)(vt_check_result *r, void *arg);
/* Called once when a check is freed, after its last callback returned. */
typedef void (*vt_check_free_fn)(void *arg);

/* Callback side. Only valid inside the callback, on r it was given. */
void vt_result_status(vt_check_result *r, vt_status st);
void vt_result_ok(vt_check_result *r, bool ok);
vt_err vt_result_detail_str(vt_check_result *r, const char *key,
			    const char *value);
vt_err vt_result_detail_num(vt_check_result *r, const char *key, double v);
vt_err vt_result_detail_bool(vt_check_result *r, const char *key, bool v);
/* Sets the error text (printf-style, truncated at 512 bytes). */
vt_err vt_result_error(vt_check_result *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Milliseconds left until this run's deadline (>= 0): use it as the
 * I/O timeout of the dependency being checked. */
int vt_result_remaining_ms(const vt_check_result *r);

/* Per-check options. Initialise with VT_CHECK_OPTS_DEFAULT. */
typedef struct vt_check_opts {
	int timeout_ms;		 /* > 0; default 2000 */
	int interval_ms;	 /* background period, > 0; default 10000 */
	int degraded_ms;	 /* 0 = off */
	bool critical;		 /* default true */
	const char *const *tags; /* copied */
	size_t ntags;
	int failures_before_unhealthy; /* >= 1; default 1 */
	int successes_before_healthy;  /* >= 1; default 1 */
	vt_check_free_fn free_arg;     /* may be NULL */
} vt_check_opts;

#define VT_CHECK_OPTS_DEFAULT                                                  \
	{                                                                      \
		.timeout_ms = 2000, .interval_ms = 10000, .degraded_ms = 0,    \
		.critical = true, .tags = NULL, .ntags = 0,                    \
		.failures_before_unhealthy = 1, .successes_before_healthy = 1, \
		.free_arg = NULL,                                              \
	}

typedef struct vt_health_opts {
	unsigned workers;    /* pool threads; default 4 */
	size_t queue_cap;    /* pool queue; default 1024 */
	vt_metrics *metrics; /* export health as metrics; may be NULL;
			      must outlive the registry */
} vt_health_opts;

vt_err vt_health_alloc(vt_health **out, const vt_health_opts *opts);
/* Stops the scheduler, waits for running callbacks to return, frees every
 * check (calling free_arg) and the registry. Accepts NULL. A callback
 * that never returns blocks this forever: callbacks must honour
 * vt_result_remaining_ms. No other call on h may overlap or follow. */
void vt_health_free(vt_health *h);

/* Registers a check. Name: 1..200 bytes of [A-Za-z0-9_.:-]. VT_EEXIST
 * if taken, VT_EINVAL for bad options. On error free_arg is not called.
 * Thread-safe. */
vt_err vt_health_add(vt_health *h, const char *name, vt_check_fn fn, void *arg,
		     const vt_check_opts *opts);
vt_err vt_health_add_simple(vt_health *h, const char *name,
			    vt_check_simple_fn fn, void *arg,
			    const vt_check_opts *opts);
/* Unregisters, returning at once; a running callback finishes first,
 * then free_arg runs (on its worker). VT_ENOENT if unknown. Thread-safe. */
vt_err vt_health_remove(vt_health *h, const char *name);

/* Starts / stops the background scheduler (start: VT_OK if it already
 * runs; stop waits for its thread, not for running checks, and must not
 * be called from the listener). Thread-safe. */
vt_err vt_health_start(vt_health *h);
void vt_health_stop(vt_health *h);

/* Marks the registry as shutting down: every later snapshot's overall
 * status is UNHEALTHY (components keep their own). Thread-safe. */
void vt_health_set_shutdown(vt_health *h);

/* Status-change listeners: called after a component's reported status
 * changes (not for its first result), outside any lock, on a thread that
 * records results (a worker, a vt_health_run caller, the scheduler):
 * one change at a time, in the order of the changes, each change to
 * every listener, possibly just after the vt_health_run that caused it
 * returned. */
typedef void (*vt_health_listener)(const char *check, vt_status old_status,
				   vt_status new_status, void *arg);
#define VT_MAX_LISTENERS 8
/* Adds listener (fn, arg). VT_EFULL past VT_MAX_LISTENERS. Thread-safe. */
vt_err vt_health_add_listener(vt_health *h, vt_health_listener fn, void *arg);
/* Removes listener (fn, arg) and returns once no call of it is under way
 * (so arg may be freed next), unless called from a listener call, which
 * it then cannot wait for. VT_ENOENT if not added. Thread-safe. */
vt_err vt_health_remove_listener(vt_health *h, vt_health_listener fn,
				 void *arg);

/* One recorded result, as result listeners see it. Strings are valid
 * during the call only. */
typedef struct vt_result_event {
	const char *check;
	vt_status status; /* as reported (after damping) */
	double time;	  /* Unix seconds */
	double duration_ms;
	const char *error; /* NULL when none */
	bool maintenance;  /* recorded during a maintenance window */
	uint64_t seq;	   /* the registry's result number, from 1 */
} vt_result_event;

/* Result listeners: called for every recorded result (not only changes),
 * in record order, under the registry's lock, on the recording thread.
 * They must be quick and must not block or call into the registry: hand
 * the event to a queue of your own. A snapshot's seq is the number of
 * the last result recorded when it was taken, so a listener that keeps
 * results can tell which of them a snapshot may show. */
typedef void (*vt_result_listener)(const vt_result_event *ev, void *arg);
/* Adds (fn, arg); VT_EFULL past VT_MAX_LISTENERS. Thread-safe. */
vt_err vt_health_add_result_listener(vt_health *h, vt_result_listener fn,
				     void *arg);
/* Removes (fn, arg); once it returns no call of it is under way.
 * VT_ENOENT if not added. Thread-safe; not from a listener. */
vt_err vt_health_remove_result_listener(vt_health *h, vt_result_listener fn,
					void *arg);

typedef enum vt_detail_kind {
	VT_DETAIL_STR = 0,
	VT_DETAIL_NUM = 1,
	VT_DETAIL_BOOL = 2,
} vt_detail_kind;

typedef struct vt_detail {
	const char *key;
	vt_detail_kind kind;
	const char *str; /* VT_DETAIL_STR */
	double num;	 /* VT_DETAIL_NUM */
	bool b;		 /* VT_DETAIL_BOOL */
} vt_detail;

/* One check's state in a snapshot. Times are Unix seconds; 0 = never. */
typedef struct vt_component {
	const char *name;
	vt_status status;
	bool critical;
	const char *const *tags;
	size_t ntags;
	const vt_detail *details; /* NULL when none */
	size_t ndetails;
	const char *error; /* NULL when none */
	double last_check_time;
	double duration_ms;
	uint32_t consecutive_failures;
	double last_status_change;
	bool stale;
	bool maintenance; /* in a maintenance window (results still kept) */
	/* Uptime over the last 1 h, 24 h, 7 d, 30 d (DEGRADED counts as up,
	 * maintenance left out), filled in by the service from history;
	 * has_uptime false when no history is kept, a ratio < 0 when the
	 * window holds no result. */
	bool has_uptime;
	double uptime[4];
} vt_component;

typedef struct vt_health_snapshot {
	vt_status status;
	double timestamp;
	size_t ncomponents;
	const vt_component *components; /* sorted by name */
	uint64_t seq; /* results recorded by the registry when taken */
} vt_health_snapshot;

/* Which checks: NULL or empty fields select all. */
typedef struct vt_health_filter {
	const char *name;	    /* only this check */
	const char *tag;	    /* only checks with this tag */
	const char *const *exclude; /* not these names */
	size_t nexclude;
} vt_health_filter;

typedef enum vt_run_mode {
	VT_RUN_FRESH = 0,  /* run now, sharing runs in flight */
	VT_RUN_CACHED = 1, /* last results, run nothing */
} vt_run_mode;

/* Runs (or reads) the selected checks and returns their snapshot. A name
 * filter naming an unknown check is VT_ENOENT. Thread-safe. */
vt_err vt_health_run(vt_health *h, const vt_health_filter *filter,
		     vt_run_mode mode, vt_health_snapshot **out);
void vt_health_snapshot_free(vt_health_snapshot *s);

/* The overall status of components, by the rule above. */
vt_status vt_health_aggregate(const vt_component *components, size_t n);

/* Maintenance windows and silences. While one covers a check, its
 * results are still recorded and shown, with vt_component.maintenance
 * set; alerts stay quiet and uptime leaves the time out. A window
 * covers [start, start + duration) and, when it repeats, the same span
 * every day or every week after. A window naming neither checks nor
 * tags covers every check; otherwise a check named in checks or
 * carrying one of tags. */
typedef enum vt_repeat {
	VT_REPEAT_NONE = 0,
	VT_REPEAT_DAILY = 1,
	VT_REPEAT_WEEKLY = 2,
} vt_repeat;

typedef struct vt_maintenance_window {
	const char *const *checks; /* copied */
	size_t nchecks;
	const char *const *tags; /* copied */
	size_t ntags;
	double start;	     /* Unix seconds */
	int64_t duration_ms; /* > 0; at most the repeat period */
	vt_repeat every;
} vt_maintenance_window;

/* Adds window w. VT_EINVAL for a bad duration, name or tag. Thread-safe. */
vt_err vt_health_add_maintenance(vt_health *h, const vt_maintenance_window *w);
/* Silences check name (NULL = every check, present and future) for
 * duration_ms from now (> 0), replacing an earlier silence of the same
 * target. VT_ENOENT for an unknown name. Thread-safe. */
vt_err vt_health_silence(vt_health *h, const char *name, int64_t duration_ms);
/* Ends the silence of name, or (NULL) every silence; VT_OK also when
 * there was none. VT_ENOENT for an unknown name. Thread-safe. */
vt_err vt_health_unsilence(vt_health *h, const char *name);
/* True if a window or silence covers check name (with tags) now.
 * Thread-safe. */
bool vt_health_in_maintenance(vt_health *h, const char *name,
			      const char *const *tags, size_t ntags);

/* Heartbeat checks (a dead man's switch): the check is UNHEALTHY
 * "no heartbeat for N s" once ttl_ms passed since the last beat (or its
 * registration). opts NULL: interval min(ttl_ms / 4, 10 s), at least
 * 50 ms. VT_EINVAL for ttl_ms < 1. Thread-safe. */
vt_err vt_check_heartbeat_add(vt_health *h, const char *name, int64_t ttl_ms,
			      const vt_check_opts *opts);
/* Records a beat of heartbeat check name now. VT_ENOENT if no check has
 * that name, VT_EINVAL if it is not a heartbeat check. Thread-safe. */
vt_err vt_health_beat(vt_health *h, const char *name);

#ifdef __cplusplus
}
#endif
#endif
