/*
 * check.c - one check: validated copies of its options, and the state
 * machine that records an execution's result.
 *
 * Recording a result, in order:
 *   1. the run's status is the callback's; HEALTHY becomes DEGRADED when
 *      the run took longer than degraded_ms (> 0), with the error
 *      "slow: N ms > M ms" unless the callback gave one;
 *   2. flap damping (Consul's failures_before_critical /
 *      success_before_passing): a check that reports HEALTHY or DEGRADED
 *      reports UNHEALTHY only once failures_before_unhealthy UNHEALTHY
 *      runs came in a row; a check that reports UNHEALTHY reports the
 *      run's status again only once successes_before_healthy
 *      non-UNHEALTHY runs came in a row. HEALTHY and DEGRADED follow
 *      each other undamped. The first result is reported as it is.
 * Error and details are always the last run's, also while damping holds
 * the reported status: they say what the dependency is doing now.
 *
 * Lifetime: refcounted by the registry (check.h); vt__check_destroy
 * runs once the last reference is gone.
 */
#include "health/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool vt_check_name_valid(const char *name)
{
	if (name == NULL)
		return false;
	size_t n = strnlen(name, VT__CHECK_NAME_MAX + 1);
	if (n == 0 || n > VT__CHECK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == ':' || ch == '-'))
			return false;
	}
	return true;
}

/* VT_OK if opts are usable: positive timeout and interval, degraded_ms
 * >= 0, damping counts >= 1, tags valid names (same rule as check
 * names), at most VT__CHECK_TAGS_MAX. */
static vt_err opts_check(const vt_check_opts *o)
{
	if (o->timeout_ms <= 0 || o->interval_ms <= 0 || o->degraded_ms < 0 ||
	    o->failures_before_unhealthy < 1 || o->successes_before_healthy < 1)
		return VT_EINVAL;
	if (o->ntags > VT__CHECK_TAGS_MAX || (o->ntags > 0 && o->tags == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < o->ntags; i++)
		if (!vt_check_name_valid(o->tags[i]))
			return VT_EINVAL;
	return VT_OK;
}

vt_err vt__check_alloc(vt__check **out, const char *name, vt_check_fn fn,
		       vt_check_simple_fn simple_fn, void *arg,
		       const vt_check_opts *opts)
{
	static const vt_check_opts defaults = VT_CHECK_OPTS_DEFAULT;
	const vt_check_opts *o = opts != NULL ? opts : &defaults;
	if (!vt_check_name_valid(name) || (fn == NULL) == (simple_fn == NULL))
		return VT_EINVAL;
	vt_err rv = opts_check(o);
	if (rv != VT_OK)
		return rv;

	vt__check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	c->name = strdup(name);
	if (c->name == NULL)
		goto fail;
	if (o->ntags > 0) {
		c->tags = calloc(o->ntags, sizeof(char *));
		if (c->tags == NULL)
			goto fail;
		for (; c->ntags < o->ntags; c->ntags++) {
			c->tags[c->ntags] = strdup(o->tags[c->ntags]);
			if (c->tags[c->ntags] == NULL)
				goto fail;
		}
	}
	c->fn = fn;
	c->simple_fn = simple_fn;
	c->arg = arg;
	c->free_arg = o->free_arg;
	c->timeout_ms = o->timeout_ms;
	c->interval_ms = o->interval_ms;
	c->degraded_ms = o->degraded_ms;
	c->critical = o->critical;
	c->failures_before_unhealthy = o->failures_before_unhealthy;
	c->successes_before_healthy = o->successes_before_healthy;
	*out = c;
	return VT_OK;

fail:
	/* Not handed over yet: free_arg belongs to the caller. */
	c->free_arg = NULL;
	vt__check_destroy(c);
	return VT_ENOMEM;
}

void vt__check_destroy(vt__check *c)
{
	if (c == NULL)
		return;
	if (c->free_arg != NULL)
		c->free_arg(c->arg);
	for (size_t i = 0; i < c->ntags; i++)
		free(c->tags[i]);
	free(c->tags);
	vt__details_free(c->details, c->ndetails);
	free(c->name);
	free(c);
}

int vt__check_has_tag(const vt__check *c, const char *tag)
{
	for (size_t i = 0; i < c->ntags; i++)
		if (strcmp(c->tags[i], tag) == 0)
			return 1;
	return 0;
}

/* The status flap damping lets c report after a run with status run. */
static vt_status damp(vt__check *c, vt_status run)
{
	if (!c->has_result)
		return run;
	if (run == VT_UNHEALTHY) {
		if (c->status != VT_UNHEALTHY &&
		    c->consecutive_failures <
			(uint32_t)c->failures_before_unhealthy)
			return c->status;
		return VT_UNHEALTHY;
	}
	if (c->status == VT_UNHEALTHY &&
	    c->consecutive_successes < (uint32_t)c->successes_before_healthy)
		return VT_UNHEALTHY;
	return run;
}

void vt__check_record(vt__check *c, vt_check_result *r, double duration_ms,
		      int64_t now_mono, double now_wall, vt__change *chg)
{
	vt_status run = r->status;
	if (run == VT_HEALTHY && c->degraded_ms > 0 &&
	    duration_ms > (double)c->degraded_ms) {
		run = VT_DEGRADED;
		if (!r->has_error) {
			snprintf(r->error, sizeof(r->error),
				 "slow: %.0f ms > %d ms", ceil(duration_ms),
				 c->degraded_ms);
			r->has_error = true;
		}
	}

	if (run == VT_UNHEALTHY) {
		c->consecutive_failures++;
		c->consecutive_successes = 0;
	} else {
		c->consecutive_successes++;
		c->consecutive_failures = 0;
	}
	vt_status reported = damp(c, run);

	chg->run_status = run;
	chg->changed = c->has_result && reported != c->status;
	chg->old_status = c->status;
	chg->new_status = reported;
	if (!c->has_result || chg->changed)
		c->last_status_change = now_wall;

	c->has_result = true;
	c->status = reported;
	c->last_mono_ns = now_mono;
	c->last_check_time = now_wall;
	c->duration_ms = duration_ms;
	c->has_error = r->has_error;
	if (r->has_error)
		memcpy(c->error, r->error, strlen(r->error) + 1);
	else
		c->error[0] = '\0';

	vt_detail *d = c->details;
	size_t nd = c->ndetails;
	c->details = r->details;
	c->ndetails = r->ndetails;
	r->details = d;
	r->ndetails = nd;
	r->cap = nd;
}
