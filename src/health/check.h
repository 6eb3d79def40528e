/*
 * check.h - one registered check: its options, its execution state and
 * the state machine that turns an execution's result into the status it
 * reports (degraded_ms, then flap damping).
 *
 * Fields marked "immutable" are written before the check is published
 * in the registry; every other field is protected by the registry's mtx
 * (h->mtx), so every function here that touches them is called with it
 * held.
 */
#ifndef VT_HEALTH_CHECK_H
#define VT_HEALTH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/export.h"
#include "health/result.h"
#include "vitals/health.h"

#define VT__CHECK_NAME_MAX 200
#define VT__CHECK_TAGS_MAX 64

typedef struct vt__check {
	/* immutable after add */
	char *name;
	vt_check_fn fn; /* one of fn, simple_fn is set */
	vt_check_simple_fn simple_fn;
	void *arg;
	vt_check_free_fn free_arg;
	int timeout_ms;
	int interval_ms;
	int degraded_ms;
	bool critical;
	char **tags;
	size_t ntags;
	int failures_before_unhealthy;
	int successes_before_healthy;
	struct vt_health *h;
	vt__check_series series; /* metric handles, zero without metrics */

	/* protected by h->mtx */
	unsigned refs;	     /* registry table, executions, callers of run */
	bool removed;	     /* no longer in the table */
	bool replace;	     /* the next add of this name replaces it */
	bool running;	     /* a task is queued or its callback runs */
	bool settled;	     /* the current execution's result is recorded */
	uint64_t gen;	     /* executions started so far */
	int64_t deadline_ns; /* current execution's, monotonic */
	int64_t next_due_ns; /* scheduler: next start, monotonic */
	/* The fresh run's batch (run.h) the current execution waits in or
	 * runs on; NULL once it is recorded, handed off, or not batched. */
	struct vt__batch *batch;

	/* last recorded result; protected by h->mtx */
	bool has_result;
	vt_status status; /* as reported, after damping */
	int64_t last_mono_ns;
	double last_check_time; /* wall */
	double duration_ms;
	double last_status_change; /* wall */
	uint32_t consecutive_failures;
	uint32_t consecutive_successes;
	vt_detail *details;
	size_t ndetails;
	bool has_error;
	char error[VT__ERROR_MAX + 1];
} vt__check;

/* What recording one result did. */
typedef struct vt__change {
	vt_status run_status; /* this run's own status, before damping */
	bool changed;	      /* the reported status changed */
	vt_status old_status, new_status;
} vt__change;

/* A check with copies of name and of opts (defaults when opts is NULL),
 * refs 0, never run. VT_EINVAL for a bad name or option, VT_ENOMEM.
 * Exactly one of fn and simple_fn is non-NULL. */
vt_err vt__check_alloc(vt__check **out, const char *name, vt_check_fn fn,
		       vt_check_simple_fn simple_fn, void *arg,
		       const vt_check_opts *opts);

/* Calls free_arg(arg) (if set) and frees c. Call with no lock held. */
void vt__check_destroy(vt__check *c);

/* 1 if c carries tag. Reads immutable fields only. */
int vt__check_has_tag(const vt__check *c, const char *tag);

/* Records r as c's latest result: applies degraded_ms and flap damping,
 * stores the times, error and details (r's details are swapped with the
 * replaced ones, which vt__result_fini(r) then frees) and says in *chg
 * what changed. Locks: caller holds h->mtx. */
void vt__check_record(vt__check *c, vt_check_result *r, double duration_ms,
		      int64_t now_mono, double now_wall, vt__change *chg);

#endif
