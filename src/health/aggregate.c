/*
 * aggregate.c - status names and the overall status of a set of
 * components (DESIGN.md, Health): any critical UNHEALTHY -> UNHEALTHY;
 * else any DEGRADED or non-critical UNHEALTHY -> DEGRADED; else HEALTHY,
 * also for no components at all.
 */
#include <string.h>

#include "vitals/health.h"

static const char *const status_names[] = {"healthy", "degraded", "unhealthy"};

/* The JSON name of st; "unknown" for a value outside the enum.
 * Thread-safe. */
const char *vt_status_name(vt_status st)
{
	if ((int)st < VT_HEALTHY || (int)st > VT_UNHEALTHY)
		return "unknown";
	return status_names[st];
}

/* The status named exactly as vt_status_name names it; VT_EINVAL (out
 * untouched) otherwise. Thread-safe. */
vt_err vt_status_parse(const char *name, vt_status *out)
{
	if (name == NULL || out == NULL)
		return VT_EINVAL;
	for (int st = VT_HEALTHY; st <= VT_UNHEALTHY; st++) {
		if (strcmp(name, status_names[st]) == 0) {
			*out = (vt_status)st;
			return VT_OK;
		}
	}
	return VT_EINVAL;
}

/* Overall status of components[0..n) by the rule above. Thread-safe. */
vt_status vt_health_aggregate(const vt_component *components, size_t n)
{
	vt_status overall = VT_HEALTHY;
	for (size_t i = 0; components != NULL && i < n; i++) {
		const vt_component *c = &components[i];
		if (c->status == VT_UNHEALTHY && c->critical)
			return VT_UNHEALTHY;
		if (c->status == VT_UNHEALTHY || c->status == VT_DEGRADED)
			overall = VT_DEGRADED;
	}
	return overall;
}
