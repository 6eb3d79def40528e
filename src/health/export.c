/*
 * export.c - health as metrics, through the public metrics API.
 *
 *   vitals_check_status{check}            gauge: reported status, 0/1/2
 *   vitals_check_duration_seconds{check}  histogram: run durations (the
 *                                         last one is in /health as
 *                                         duration_ms)
 *   vitals_check_runs_total{check,result} counter: runs by their own
 *                                         result (before flap damping),
 *                                         result = healthy|degraded|
 *                                         unhealthy
 *
 * Families are registered once per registry and series once per check
 * (all three runs_total results up front, so each starts at 0); each
 * recorded result is then a few lock-free handle writes. A removed
 * check's series are removed with it (vt__export_forget), so /metrics
 * shows only the checks that exist; a check replaced in place keeps
 * its series.
 */
#include "health/export.h"

#include <stddef.h>
#include <string.h>

vt_err vt__export_init(vt__export *e, vt_metrics *m)
{
	memset(e, 0, sizeof(*e));
	if (m == NULL)
		return VT_OK;
	static const char *const check_label[] = {"check"};
	static const char *const runs_labels[] = {"check", "result"};
	vt__export x;
	vt_err rv = vt_metrics_gauge_family(
	    m, "vitals_check_status",
	    "Reported status of a health check: 0 healthy, 1 degraded, "
	    "2 unhealthy.",
	    check_label, 1, &x.status);
	if (rv != VT_OK)
		return rv;
	/* Prometheus' default le bounds (5 ms .. 10 s) for the classic
	 * buckets; the native ones cover every duration at 2.2% width. */
	rv = vt_metrics_histogram_family(
	    m, "vitals_check_duration_seconds",
	    "Duration of the runs of a health check.", check_label, 1, NULL, 0,
	    &x.duration);
	if (rv != VT_OK)
		return rv;
	rv = vt_metrics_counter_family(m, "vitals_check_runs_total",
				       "Runs of a health check by result.",
				       runs_labels, 2, &x.runs);
	if (rv != VT_OK)
		return rv;
	x.metrics = m;
	*e = x;
	return VT_OK;
}

vt_err vt__export_check(const vt__export *e, const char *name,
			vt__check_series *out)
{
	memset(out, 0, sizeof(*out));
	if (e->status == NULL)
		return VT_OK;
	vt__check_series s;
	const char *one[] = {name};
	vt_err rv = vt_family_series(e->status, one, 1, &s.status);
	if (rv != VT_OK)
		return rv;
	rv = vt_family_series(e->duration, one, 1, &s.duration);
	if (rv != VT_OK)
		return rv;
	for (int st = VT_HEALTHY; st <= VT_UNHEALTHY; st++) {
		const char *two[] = {name, vt_status_name((vt_status)st)};
		rv = vt_family_series(e->runs, two, 2, &s.runs[st]);
		if (rv != VT_OK)
			return rv;
	}
	*out = s;
	return VT_OK;
}

void vt__export_result(const vt__check_series *s, vt_status reported,
		       vt_status run_status, double duration_ms)
{
	if (s->status == NULL)
		return;
	/* Errors here can only be a NaN duration: nothing to report to. */
	(void)vt_gauge_set(s->status, (double)reported);
	(void)vt_histogram_observe(s->duration, duration_ms / 1000.0);
	(void)vt_counter_inc(s->runs[run_status]);
}

void vt__export_forget(const vt__export *e, const char *name)
{
	if (e->status == NULL)
		return;
	static const char *const fams[] = {"vitals_check_status",
					   "vitals_check_duration_seconds",
					   "vitals_check_runs_total"};
	vt_label check = {"check", name};
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		vt_metrics_filter f = {
		    .name = fams[i], .labels = &check, .nlabels = 1};
		/* Errors: none possible with this filter. */
		(void)vt_metrics_remove_matching(e->metrics, &f, NULL);
	}
}
