/*
 * json.c - health and metrics snapshots as JSON (the shapes are fixed in
 * vitals/encode.h).
 *
 * The text is written in one pass through a write-combining vt__tw into
 * one capped vt_buf: no tree, no allocation per value. A cJSON tree would
 * cost a node and a key copy per value, and cJSON prints numbers with
 * sprintf("%1.15g") plus an sscanf round-trip check: about 9 us per
 * histogram series here, against a /metrics budget of 2 ms for merging
 * and encoding 1,000 series. Numbers come from textfmt (shortest
 * round-trip, as JavaScript prints them; non-finite as null). Strings are
 * escaped per RFC 8259 with invalid UTF-8 replaced by U+FFFD, so the
 * output is always valid JSON.
 */
#include "vitals/encode.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "encode/textfmt.h"

/* Largest output: past it an encoder fails with VT_ETOOBIG. */
#define JSON_LIMIT ((size_t)64 << 20)

#define LIT VT__TW_LIT

/* Appends s as a quoted JSON string; NULL as null. */
static void json_str(vt__tw *w, const char *s)
{
	if (s == NULL) {
		LIT(w, "null");
		return;
	}
	LIT(w, "\"");
	vt__tw_escape(w, s, VT__ESC_JSON);
	LIT(w, "\"");
}

static void json_bool(vt__tw *w, bool v)
{
	if (v)
		LIT(w, "true");
	else
		LIT(w, "false");
}

/* A Unix time; 0 (never) as null. */
static void json_time(vt__tw *w, double t)
{
	if (t == 0)
		LIT(w, "null");
	else
		vt__tw_num_json(w, t);
}

static bool status_valid(vt_status st)
{
	return st == VT_HEALTHY || st == VT_DEGRADED || st == VT_UNHEALTHY;
}

/* Ends writing: on success hands the text to *out and *len, else frees
 * it and returns the first error (rv, else the buffer's). */
static vt_err finish(vt__tw *w, vt_err rv, char **out, size_t *len)
{
	vt__tw_flush(w);
	if (rv != VT_OK) {
		vt__buf_fini(w->buf);
		return rv;
	}
	return vt__buf_take(w->buf, out, len);
}

static vt_err component(vt__tw *w, const vt_component *c)
{
	if (c->name == NULL || !status_valid(c->status) ||
	    (c->ntags > 0 && c->tags == NULL) ||
	    (c->ndetails > 0 && c->details == NULL))
		return VT_EINVAL;
	LIT(w, "{\"name\":");
	json_str(w, c->name);
	LIT(w, ",\"status\":");
	json_str(w, vt_status_name(c->status));
	LIT(w, ",\"details\":");
	if (c->ndetails == 0)
		LIT(w, "null");
	for (size_t i = 0; i < c->ndetails; i++) {
		const vt_detail *d = &c->details[i];
		if (d->key == NULL)
			return VT_EINVAL;
		vt__tw_put(w, i == 0 ? "{" : ",", 1);
		json_str(w, d->key);
		LIT(w, ":");
		switch (d->kind) {
		case VT_DETAIL_STR:
			json_str(w, d->str);
			break;
		case VT_DETAIL_NUM:
			vt__tw_num_json(w, d->num);
			break;
		case VT_DETAIL_BOOL:
			json_bool(w, d->b);
			break;
		default:
			return VT_EINVAL;
		}
	}
	if (c->ndetails > 0)
		LIT(w, "}");
	LIT(w, ",\"last_check_time\":");
	json_time(w, c->last_check_time);
	LIT(w, ",\"error\":");
	json_str(w, c->error);
	LIT(w, ",\"duration_ms\":");
	vt__tw_num_json(w, c->duration_ms);
	LIT(w, ",\"critical\":");
	json_bool(w, c->critical);
	LIT(w, ",\"tags\":[");
	for (size_t i = 0; i < c->ntags; i++) {
		if (c->tags[i] == NULL)
			return VT_EINVAL;
		if (i > 0)
			LIT(w, ",");
		json_str(w, c->tags[i]);
	}
	LIT(w, "],\"consecutive_failures\":");
	vt__tw_u64(w, c->consecutive_failures);
	LIT(w, ",\"last_status_change\":");
	json_time(w, c->last_status_change);
	LIT(w, ",\"stale\":");
	json_bool(w, c->stale);
	if (c->maintenance)
		LIT(w, ",\"maintenance\":true");
	if (c->has_uptime) {
		static const char *const keys[] = {
		    "{\"1h\":", ",\"24h\":", ",\"7d\":", ",\"30d\":"};
		LIT(w, ",\"uptime\":");
		for (int i = 0; i < 4; i++) {
			vt__tw_puts(w, keys[i]);
			if (c->uptime[i] >= 0)
				vt__tw_num_json(w, c->uptime[i]);
			else
				LIT(w, "null");
		}
		LIT(w, "}");
	}
	LIT(w, "}");
	return VT_OK;
}

/* Writes the health snapshot s. On success *out (free()) and *len. */
vt_err vt_json_health(const vt_health_snapshot *s, char **out, size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    !status_valid(s->status) ||
	    (s->ncomponents > 0 && s->components == NULL))
		return VT_EINVAL;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, JSON_LIMIT);
	vt__tw_init(&w, &b);
	vt_err rv = VT_OK;
	LIT(&w, "{\"status\":");
	json_str(&w, vt_status_name(s->status));
	LIT(&w, ",\"timestamp\":");
	vt__tw_num_json(&w, s->timestamp);
	LIT(&w, ",\"components\":[");
	for (size_t i = 0; i < s->ncomponents && rv == VT_OK; i++) {
		if (i > 0)
			LIT(&w, ",");
		rv = component(&w, &s->components[i]);
	}
	LIT(&w, "]}");
	return finish(&w, rv, out, len);
}

/* Writes one component object alone. On success *out (free()), *len. */
vt_err vt_json_component(const vt_component *c, char **out, size_t *len)
{
	if (c == NULL || out == NULL || len == NULL)
		return VT_EINVAL;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, JSON_LIMIT);
	vt__tw_init(&w, &b);
	vt_err rv = component(&w, c);
	return finish(&w, rv, out, len);
}

/* "name" or "name{a=\"x\",...}": the label values escaped as in
 * Prometheus text, and the whole key then as a JSON string. */
static void series_key(vt__tw *w, const char *name, const vt_series_snap *s)
{
	LIT(w, "\"");
	vt__tw_escape(w, name, VT__ESC_JSON);
	if (s->nlabels > 0) {
		for (size_t i = 0; i < s->nlabels; i++) {
			vt__tw_put(w, i == 0 ? "{" : ",", 1);
			vt__tw_escape(w, s->labels[i].name, VT__ESC_JSON);
			LIT(w, "=\\\"");
			vt__tw_escape(w, s->labels[i].value,
				      VT__ESC_JSON_PROM_LABEL);
			LIT(w, "\\\"");
		}
		LIT(w, "}");
	}
	LIT(w, "\"");
}

static vt_err series(vt__tw *w, const vt_family_snap *f,
		     const vt_series_snap *s)
{
	if (s->nlabels > 0 && s->labels == NULL)
		return VT_EINVAL;
	for (size_t i = 0; i < s->nlabels; i++)
		if (s->labels[i].name == NULL || s->labels[i].value == NULL)
			return VT_EINVAL;
	series_key(w, f->name, s);
	switch (f->kind) {
	case VT_COUNTER:
		LIT(w, ":{\"type\":\"counter\"");
		break;
	case VT_GAUGE:
		LIT(w, ":{\"type\":\"gauge\"");
		break;
	case VT_HISTOGRAM:
		LIT(w, ":{\"type\":\"histogram\"");
		break;
	default:
		return VT_EINVAL;
	}
	if (s->nlabels > 0) {
		LIT(w, ",\"labels\":{");
		for (size_t i = 0; i < s->nlabels; i++) {
			if (i > 0)
				LIT(w, ",");
			json_str(w, s->labels[i].name);
			LIT(w, ":");
			json_str(w, s->labels[i].value);
		}
		LIT(w, "}");
	}
	if (f->kind != VT_HISTOGRAM) {
		LIT(w, ",\"value\":");
		vt__tw_num_json(w, s->value);
		LIT(w, "}");
		return VT_OK;
	}
	const vt_hist_summary *h = &s->hist;
	/* Empty: no average, extremes or percentiles, whatever the fields
	 * hold. */
	bool any = h->count > 0;
	double nan = NAN;
	LIT(w, ",\"count\":");
	vt__tw_u64(w, h->count);
	LIT(w, ",\"sum\":");
	vt__tw_num_json(w, h->sum);
	LIT(w, ",\"avg\":");
	vt__tw_num_json(w, any ? h->sum / (double)h->count : nan);
	LIT(w, ",\"min\":");
	vt__tw_num_json(w, any ? h->min : nan);
	LIT(w, ",\"max\":");
	vt__tw_num_json(w, any ? h->max : nan);
	LIT(w, ",\"p50\":");
	vt__tw_num_json(w, any ? h->p50 : nan);
	LIT(w, ",\"p90\":");
	vt__tw_num_json(w, any ? h->p90 : nan);
	LIT(w, ",\"p95\":");
	vt__tw_num_json(w, any ? h->p95 : nan);
	LIT(w, ",\"p99\":");
	vt__tw_num_json(w, any ? h->p99 : nan);
	LIT(w, ",\"p999\":");
	vt__tw_num_json(w, any ? h->p999 : nan);
	LIT(w, "}");
	return VT_OK;
}

/* Writes the metrics snapshot s: one member per series, families in
 * snapshot order; families without series are left out. On success
 * *out (free()) and *len. */
vt_err vt_json_metrics(const vt_metrics_snapshot *s, char **out, size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->nfamilies > 0 && s->families == NULL))
		return VT_EINVAL;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, JSON_LIMIT);
	vt__tw_init(&w, &b);
	vt_err rv = VT_OK;
	bool first = true;
	LIT(&w, "{");
	/* b.err is set by a flush: stop early once past the limit. */
	for (size_t i = 0; i < s->nfamilies && rv == VT_OK && b.err == VT_OK;
	     i++) {
		const vt_family_snap *f = &s->families[i];
		if (f->name == NULL || (f->nseries > 0 && f->series == NULL)) {
			rv = VT_EINVAL;
			break;
		}
		for (size_t j = 0;
		     j < f->nseries && rv == VT_OK && b.err == VT_OK; j++) {
			if (!first)
				LIT(&w, ",");
			first = false;
			rv = series(&w, f, &f->series[j]);
		}
	}
	LIT(&w, "}");
	return finish(&w, rv, out, len);
}

/* Writes {"name":..,"results":[{"time":..,"status":..,"duration_ms":..,
 * "error":..,"maintenance":..}]} for rs[n] (newest first as given). */
vt_err vt_json_history(const char *name, const vt_history_result *rs, size_t n,
		       char **out, size_t *len)
{
	if (name == NULL || (n > 0 && rs == NULL) || out == NULL || len == NULL)
		return VT_EINVAL;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, JSON_LIMIT);
	vt__tw_init(&w, &b);
	LIT(&w, "{\"name\":");
	json_str(&w, name);
	LIT(&w, ",\"results\":[");
	for (size_t i = 0; i < n; i++) {
		if (!status_valid(rs[i].status))
			return finish(&w, VT_EINVAL, out, len);
		if (i > 0)
			LIT(&w, ",");
		LIT(&w, "{\"time\":");
		vt__tw_num_json(&w, rs[i].time);
		LIT(&w, ",\"status\":");
		json_str(&w, vt_status_name(rs[i].status));
		LIT(&w, ",\"duration_ms\":");
		vt__tw_num_json(&w, rs[i].duration_ms);
		LIT(&w, ",\"error\":");
		json_str(&w, rs[i].error);
		LIT(&w, ",\"maintenance\":");
		json_bool(&w, rs[i].maintenance);
		LIT(&w, "}");
	}
	LIT(&w, "]}");
	return finish(&w, VT_OK, out, len);
}
