/*
 * export.h - health as metrics: the three families a registry exports
 * into a vt_metrics and each check's series in them.
 */
#ifndef VT_HEALTH_EXPORT_H
#define VT_HEALTH_EXPORT_H

#include "vitals/health.h"
#include "vitals/metrics.h"

/* The registry's families; all NULL when it exports nothing. Immutable
 * after vt_health_alloc. */
typedef struct vt__export {
	vt_family *status;   /* vitals_check_status{check} */
	vt_family *duration; /* vitals_check_duration_seconds{check} */
	vt_family *runs;     /* vitals_check_runs_total{check,result} */
	vt_metrics *metrics; /* where they are */
} vt__export;

/* One check's series; all NULL when the registry exports nothing.
 * Immutable after the check is added. */
typedef struct vt__check_series {
	vt_gauge *status;
	vt_histogram *duration;
	vt_counter *runs[3]; /* by vt_status */
} vt__check_series;

/* Registers the families in m; with m NULL, sets e to export nothing.
 * Thread-safe (the metrics registry is). */
vt_err vt__export_init(vt__export *e, vt_metrics *m);

/* Creates (or finds) the series of check name; a check replaced under
 * the same name gets the same series, one removed and added again new
 * ones. Zeroes out when e exports nothing.
 * Thread-safe. */
vt_err vt__export_check(const vt__export *e, const char *name,
			vt__check_series *out);

/* Removes the series of check name from the metrics registry, so that
 * a removed check leaves no series behind. No-op without metrics.
 * Thread-safe; callable under h->mtx (the registry's lock is a leaf). */
void vt__export_forget(const vt__export *e, const char *name);

/* Publishes one recorded result: status gauge = reported, duration
 * observed in the histogram, runs_total{result = run_status} + 1. Lock-free
 * metric writes; callable under h->mtx. No-op without metrics. */
void vt__export_result(const vt__check_series *s, vt_status reported,
		       vt_status run_status, double duration_ms);

#endif
