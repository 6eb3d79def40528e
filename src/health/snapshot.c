/*
 * snapshot.c - building and freeing vt_health_snapshot.
 *
 * A snapshot is one malloc'd block: the header, the component array,
 * then each component's tag and detail arrays and all their strings,
 * carved out in order by a bump allocator. The size is measured in a
 * first pass with the same rounding, so the copy pass cannot overflow,
 * and vt_health_snapshot_free is a single free(). Building runs under
 * h->mtx, so it copies and computes, nothing else.
 */
#include "health/snapshot.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

/* How one check reads now: its status and error after the staleness
 * rule. */
typedef struct snap_view {
	vt_status status;
	bool stale;
	const char *error; /* NULL, c->error or msg */
	char msg[128];
} snap_view;

typedef struct arena {
	char *base;
	size_t off, cap;
} arena;

static size_t rnd(size_t n)
{
	const size_t a = alignof(max_align_t);
	return (n + a - 1) / a * a;
}

static void *take(arena *a, size_t n)
{
	void *p = a->base + a->off;
	a->off += rnd(n);
	assert(a->off <= a->cap);
	return p;
}

static const char *take_str(arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = take(a, n);
	memcpy(p, s, n);
	return p;
}

static size_t str_size(const char *s)
{
	return rnd(strlen(s) + 1);
}

static void view_of(const vt__check *c, int64_t now, snap_view *v)
{
	v->stale = false;
	if (!c->has_result) {
		v->status = VT_UNHEALTHY;
		v->error = "no result yet";
		return;
	}
	int64_t age_ns = now - c->last_mono_ns;
	int64_t limit_ns = 3 * (int64_t)c->interval_ms * 1000000;
	if (age_ns > limit_ns) {
		v->status = VT_UNHEALTHY;
		v->stale = true;
		snprintf(v->msg, sizeof(v->msg),
			 "stale: last result %lld ms old (interval %d ms)",
			 (long long)(age_ns / 1000000), c->interval_ms);
		v->error = v->msg;
		return;
	}
	v->status = c->status;
	v->error = c->has_error ? c->error : NULL;
}

static size_t component_size(const vt__check *c, const snap_view *v)
{
	size_t size = str_size(c->name);
	size += rnd(c->ntags * sizeof(char *));
	for (size_t i = 0; i < c->ntags; i++)
		size += str_size(c->tags[i]);
	size += rnd(c->ndetails * sizeof(vt_detail));
	for (size_t i = 0; i < c->ndetails; i++) {
		size += str_size(c->details[i].key);
		if (c->details[i].str != NULL)
			size += str_size(c->details[i].str);
	}
	if (v->error != NULL)
		size += str_size(v->error);
	return size;
}

static void component_copy(arena *a, const vt__check *c, const snap_view *v,
			   vt_component *out)
{
	memset(out, 0, sizeof(*out));
	out->name = take_str(a, c->name);
	out->status = v->status;
	out->critical = c->critical;
	if (c->ntags > 0) {
		const char **tags = take(a, c->ntags * sizeof(char *));
		for (size_t i = 0; i < c->ntags; i++)
			tags[i] = take_str(a, c->tags[i]);
		out->tags = tags;
		out->ntags = c->ntags;
	}
	if (c->ndetails > 0) {
		vt_detail *d = take(a, c->ndetails * sizeof(vt_detail));
		for (size_t i = 0; i < c->ndetails; i++) {
			d[i] = c->details[i];
			d[i].key = take_str(a, c->details[i].key);
			if (c->details[i].str != NULL)
				d[i].str = take_str(a, c->details[i].str);
		}
		out->details = d;
		out->ndetails = c->ndetails;
	}
	if (v->error != NULL)
		out->error = take_str(a, v->error);
	if (c->has_result) {
		out->last_check_time = c->last_check_time;
		out->duration_ms = c->duration_ms;
		out->last_status_change = c->last_status_change;
	}
	out->consecutive_failures = c->consecutive_failures;
	out->stale = v->stale;
}

vt_err vt__snapshot_build(vt__check *const *checks, size_t n, bool shutdown,
			  int64_t now, vt_health_snapshot **out)
{
	snap_view *views = NULL;
	if (n > 0) {
		views = malloc(n * sizeof(*views));
		if (views == NULL)
			return VT_ENOMEM;
	}
	size_t size =
	    rnd(sizeof(vt_health_snapshot)) + rnd(n * sizeof(vt_component));
	for (size_t i = 0; i < n; i++) {
		view_of(checks[i], now, &views[i]);
		size += component_size(checks[i], &views[i]);
	}
	arena a = {malloc(size), 0, size};
	if (a.base == NULL) {
		free(views);
		return VT_ENOMEM;
	}
	vt_health_snapshot *s = take(&a, sizeof(*s));
	vt_component *comps = take(&a, n * sizeof(vt_component));
	for (size_t i = 0; i < n; i++)
		component_copy(&a, checks[i], &views[i], &comps[i]);
	assert(a.off == size);
	free(views);

	s->ncomponents = n;
	s->components = n > 0 ? comps : NULL;
	s->status = shutdown ? VT_UNHEALTHY : vt_health_aggregate(comps, n);
	s->timestamp = vt__wall_s();
	*out = s;
	return VT_OK;
}

/* Frees a snapshot of vt_health_run. Accepts NULL. Thread-safe. */
void vt_health_snapshot_free(vt_health_snapshot *s)
{
	free(s);
}
