/*
 * ietf.c - a health snapshot in the IETF health-check response format
 * (draft-inadarei-api-health-check, media type application/health+json),
 * served by /health to clients that ask for it in Accept.
 */
#include "vitals/encode.h"

#include <stdio.h>
#include <time.h>

#include "core/buf.h"
#include "encode/textfmt.h"

/* Largest output: past it the encoder fails with VT_ETOOBIG. */
#define OUT_LIMIT ((size_t)64 << 20)

static const char *ietf_status(vt_status st)
{
	switch (st) {
	case VT_HEALTHY:
		return "pass";
	case VT_DEGRADED:
		return "warn";
	default:
		return "fail";
	}
}

/* Unix seconds t as RFC 3339 UTC with milliseconds. */
static void ietf_time(vt__tw *w, double t)
{
	time_t secs = (time_t)t;
	int ms = (int)((t - (double)secs) * 1000);
	if (ms < 0)
		ms = 0;
	if (ms > 999)
		ms = 999;
	struct tm tm;
	char buf[40];
	if (gmtime_r(&secs, &tm) == NULL)
		return;
	int n =
	    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ms);
	if (n > 0 && (size_t)n < sizeof(buf))
		vt__tw_put(w, buf, (size_t)n);
}

/*
 * The IETF health-check format (draft-inadarei-api-health-check):
 *   {"status":"pass|warn|fail","checks":{"NAME:responseTime":[{
 *     "componentId":"NAME","componentType":"component",
 *     "observedValue":<duration ms>,"observedUnit":"ms",
 *     "status":..,"time":"<RFC 3339>","output":"<error or empty>"}]}}
 * observedValue/Unit and time are left out for a check that never ran.
 */
vt_err vt_ietf_health(const vt_component *cs, size_t n, vt_status overall,
		      char **out, size_t *len)
{
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, OUT_LIMIT);
	vt__tw_init(&w, &b);
	VT__TW_LIT(&w, "{\"status\":\"");
	vt__tw_puts(&w, ietf_status(overall));
	VT__TW_LIT(&w, "\",\"checks\":{");
	for (size_t i = 0; i < n; i++) {
		const vt_component *c = &cs[i];
		if (i > 0)
			VT__TW_LIT(&w, ",");
		VT__TW_LIT(&w, "\"");
		vt__tw_escape(&w, c->name, VT__ESC_JSON);
		VT__TW_LIT(&w, ":responseTime\":[{\"componentId\":\"");
		vt__tw_escape(&w, c->name, VT__ESC_JSON);
		VT__TW_LIT(&w, "\",\"componentType\":\"component\",");
		if (c->last_check_time != 0) {
			VT__TW_LIT(&w, "\"observedValue\":");
			vt__tw_num_json(&w, c->duration_ms);
			VT__TW_LIT(&w, ",\"observedUnit\":\"ms\",");
		}
		VT__TW_LIT(&w, "\"status\":\"");
		vt__tw_puts(&w, ietf_status(c->status));
		VT__TW_LIT(&w, "\",");
		if (c->last_check_time != 0) {
			VT__TW_LIT(&w, "\"time\":\"");
			ietf_time(&w, c->last_check_time);
			VT__TW_LIT(&w, "\",");
		}
		VT__TW_LIT(&w, "\"output\":\"");
		if (c->error != NULL)
			vt__tw_escape(&w, c->error, VT__ESC_JSON);
		VT__TW_LIT(&w, "\"}]");
	}
	VT__TW_LIT(&w, "}}");
	vt__tw_flush(&w);
	return vt__buf_take(&b, out, len);
}
