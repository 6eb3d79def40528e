/*
 * test_request.c - the request module (src/server/request.c): what a
 * request URI and Accept header ask of the gateway's routes. Paths
 * (trailing '/', absolute form, /health/NAME), queries (cache, tag,
 * exclude, name=, prefix=, format=), percent-decoding (good, bad,
 * %00), Accept with q-values, and oversize names, tags and lists: each
 * accepted as the user means it or refused with the status and error
 * the gateway sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"
#include "testutil.h"

#define LIVE  "live"
#define READY "ready"

/* The parse of uri on route, with Accept accept. The URI is copied
 * into a buffer kept until the next call, as the gateway keeps it. */
static bool parse(vt__gw_route route, const char *uri, const char *accept,
		  vt__req *r, vt__req_refusal *why)
{
	static char buf[8192];
	int n = snprintf(buf, sizeof(buf), "%s", uri);
	CU_ASSERT_FATAL(n >= 0 && (size_t)n < sizeof(buf));
	*why = (vt__req_refusal){0};
	return vt__req_parse(r, route, buf, accept, LIVE, READY, why);
}

static void accepted(vt__gw_route route, const char *uri, const char *accept,
		     vt__req *r)
{
	vt__req_refusal why;
	bool ok = parse(route, uri, accept, r, &why);
	if (!ok)
		fprintf(stderr, "%s: refused %d %s\n", uri, why.status,
			why.body);
	CU_ASSERT_FATAL(ok);
}

/* Asserts that uri is refused with status and an error body that says
 * has. */
static void refused(vt__gw_route route, const char *uri, uint16_t status,
		    const char *has)
{
	vt__req r;
	vt__req_refusal why;
	bool ok = parse(route, uri, NULL, &r, &why);
	if (ok || why.status != status || strstr(why.body, has) == NULL)
		fprintf(stderr, "%s: %s %d %s, want %d \"%s\"\n", uri,
			ok ? "accepted" : "refused", why.status,
			why.body != NULL ? why.body : "", status, has);
	CU_ASSERT_FALSE(ok);
	CU_ASSERT_EQUAL(why.status, status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(why.body);
	CU_ASSERT_EQUAL(strncmp(why.body, "{\"error\":\"", 10), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(why.body, has));
}

static void test_paths(void)
{
	vt__req r;
	accepted(VT__GW_HEALTH, "/health", NULL, &r);
	CU_ASSERT_EQUAL(r.route, VT__GW_HEALTH);
	CU_ASSERT_FALSE(r.one);
	CU_ASSERT_PTR_NULL(r.q.filter.name);
	CU_ASSERT_PTR_NULL(r.q.filter.tag);
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_JSON);

	accepted(VT__GW_HEALTH, "/health/", NULL, &r);
	CU_ASSERT_FALSE(r.one);
	accepted(VT__GW_HEALTH, "/health/db.main:5432", NULL, &r);
	CU_ASSERT_TRUE(r.one);
	CU_ASSERT_STRING_EQUAL(r.q.filter.name, "db.main:5432");
	/* A name may be percent-encoded; the fragment is not the path. */
	accepted(VT__GW_HEALTH, "/health/%64b#frag", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.name, "db");

	/* /livez and /readyz select their tags. */
	accepted(VT__GW_LIVEZ, "/livez/", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.tag, LIVE);
	accepted(VT__GW_READYZ, "/readyz", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.tag, READY);
	accepted(VT__GW_METRICS, "/metrics", NULL, &r);

	/* Absolute form: scheme and host dropped, any case. */
	accepted(VT__GW_HEALTH, "HTTP://example:80/health/db?cache", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.name, "db");
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_CACHED);
	accepted(VT__GW_READYZ, "https://h/readyz", NULL, &r);
	refused(VT__GW_HEALTH, "http://h", 404, "not found");

	/* What is past the route's path must be nothing, or a name. */
	refused(VT__GW_LIVEZ, "/livez/x", 404, "not found");
	refused(VT__GW_METRICS, "/metrics//", 404, "not found");
	refused(VT__GW_HEALTH, "/health/a/b", 404, "not found");
	refused(VT__GW_HEALTH, "/health/a%20b", 404, "not found");
	refused(VT__GW_HEALTH, "/healthz", 404, "not found");
	refused(VT__GW_OTHER, "/", 404, "not found");
	refused(VT__GW_OTHER, "/orders", 404, "not found");
}

static void test_queries(void)
{
	vt__req r;
	accepted(VT__GW_HEALTH, "/health?cache=true&tag=ready", NULL, &r);
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_CACHED);
	CU_ASSERT_STRING_EQUAL(r.q.filter.tag, "ready");
	accepted(VT__GW_HEALTH, "/health?cache=1&cache=0", NULL, &r);
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_FRESH); /* the last one counts */
	accepted(VT__GW_HEALTH, "/health?cache=false", NULL, &r);
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_FRESH);
	refused(VT__GW_HEALTH, "/health?cache=yes", 400, "bad cache value");

	/* exclude: a comma list, empty items skipped, repeatable. */
	accepted(VT__GW_HEALTH, "/health?exclude=a,,b&exclude=c%2Cd&&x=1", NULL,
		 &r);
	CU_ASSERT_EQUAL_FATAL(r.q.filter.nexclude, 4);
	CU_ASSERT_PTR_EQUAL(r.q.filter.exclude, r.exclude);
	CU_ASSERT_STRING_EQUAL(r.exclude[0], "a");
	CU_ASSERT_STRING_EQUAL(r.exclude[1], "b");
	CU_ASSERT_STRING_EQUAL(r.exclude[2], "c");
	CU_ASSERT_STRING_EQUAL(r.exclude[3], "d");
	refused(VT__GW_HEALTH, "/health?exclude=a,b%21", 400,
		"bad check name in exclude");

	/* tag: once, a valid name, on /health only. */
	refused(VT__GW_HEALTH, "/health?tag=a&tag=b", 400,
		"tag given more than once");
	refused(VT__GW_HEALTH, "/health?tag", 400, "bad tag value");
	refused(VT__GW_HEALTH, "/health?tag=", 400, "bad tag value");
	accepted(VT__GW_LIVEZ, "/livez?tag=other", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.tag, LIVE);

	/* /health/NAME: tag and exclude do not apply, cache does. */
	accepted(VT__GW_HEALTH, "/health/db?tag=!!&exclude=db&cache", NULL, &r);
	CU_ASSERT_PTR_NULL(r.q.filter.tag);
	CU_ASSERT_EQUAL(r.q.filter.nexclude, 0);
	CU_ASSERT_EQUAL(r.q.mode, VT_RUN_CACHED);

	/* /metrics: name= and prefix=; empty values select nothing. */
	accepted(VT__GW_METRICS, "/metrics?name=http_requests_total&cache=x",
		 NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.mf.name, "http_requests_total");
	CU_ASSERT_PTR_NULL(r.mf.name_prefix);
	accepted(VT__GW_METRICS, "/metrics?prefix=vt_&name=", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.mf.name_prefix, "vt_");
	CU_ASSERT_PTR_NULL(r.mf.name);
	refused(VT__GW_METRICS, "/metrics?name=9lives", 400,
		"bad metric name in name=");
	refused(VT__GW_METRICS, "/metrics?prefix=a.b", 400,
		"bad metric name prefix");
}

static void test_formats(void)
{
	vt__req r;
	accepted(VT__GW_HEALTH, "/health?format=ietf", NULL, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_IETF);
	accepted(VT__GW_READYZ, "/readyz?format=health%2Bjson", NULL, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_IETF);
	accepted(VT__GW_METRICS, "/metrics?format=prometheus", NULL, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_PROM);
	/* ?format= wins over Accept. */
	accepted(VT__GW_METRICS, "/metrics?format=json", "text/plain", &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_JSON);
	refused(VT__GW_METRICS, "/metrics?format=ietf", 400,
		"use json, prometheus, openmetrics or protobuf");
	refused(VT__GW_HEALTH, "/health?format=prometheus", 400,
		"use json or health+json");
	refused(VT__GW_HEALTH, "/health?format", 400, "unknown format");
}

static void test_percent(void)
{
	char s[64];
	snprintf(s, sizeof(s), "a%%2Fb%%2fc%%41");
	CU_ASSERT_TRUE(vt__req_pct_decode(s));
	CU_ASSERT_STRING_EQUAL(s, "a/b/cA");
	snprintf(s, sizeof(s), "a+b%%20c");
	CU_ASSERT_TRUE(vt__req_pct_decode(s));
	CU_ASSERT_STRING_EQUAL(s, "a+b c"); /* '+' is not a space */
	snprintf(s, sizeof(s), "%%ff%%80");
	CU_ASSERT_TRUE(vt__req_pct_decode(s));
	CU_ASSERT_STRING_EQUAL(s, "\xff\x80");
	static const char *const bad[] = {"%",	 "%4",	 "a%G1", "%1g",
					  "%00", "ok%0", "%%41"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s, sizeof(s), "%s", bad[i]);
		CU_ASSERT_FALSE(vt__req_pct_decode(s));
	}

	refused(VT__GW_HEALTH, "/health/%zz", 400,
		"bad percent-encoding in path");
	refused(VT__GW_HEALTH, "/health%00", 400,
		"bad percent-encoding in path");
	refused(VT__GW_HEALTH, "/health?tag=%4", 400,
		"bad percent-encoding in query");
	refused(VT__GW_METRICS, "/metrics?na%ZZme=x", 400,
		"bad percent-encoding in query");
	/* A key that decodes to a known one is that key. */
	vt__req r;
	accepted(VT__GW_HEALTH, "/health?%74ag=%72eady", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.tag, "ready");
	/* The path is matched decoded, as nng routes it. */
	accepted(VT__GW_HEALTH, "/health%2Fdb", NULL, &r);
	CU_ASSERT_STRING_EQUAL(r.q.filter.name, "db");
	accepted(VT__GW_HEALTH, "/%68ealth", NULL, &r);
	CU_ASSERT_FALSE(r.one);
}

static void test_accept(void)
{
	CU_ASSERT_EQUAL(vt__req_accept_q("text/plain", "text/plain"), 1);
	CU_ASSERT_EQUAL(vt__req_accept_q("TEXT/Plain;q=0.5", "text/plain"),
			0.5);
	CU_ASSERT_EQUAL(vt__req_accept_q("text/html", "text/plain"), -1);
	CU_ASSERT_EQUAL(vt__req_accept_q("text/plainer", "text/plain"), -1);
	/* The highest of several; q clamped to 0..1; junk q counts as 1. */
	CU_ASSERT_EQUAL(
	    vt__req_accept_q("a/b;q=0.2, a/b;level=1;q=0.7 ,x/y", "a/b"), 0.7);
	CU_ASSERT_EQUAL(vt__req_accept_q("a/b;q=7", "a/b"), 1);
	CU_ASSERT_EQUAL(vt__req_accept_q("a/b;q=-1", "a/b"), 0);
	CU_ASSERT_EQUAL(vt__req_accept_q("a/b;q=x", "a/b"), 1);
	CU_ASSERT_EQUAL(vt__req_accept_q("", "a/b"), -1);
	CU_ASSERT_EQUAL(vt__req_accept_q(",,; ,", "a/b"), -1);

	/* /metrics: the Accept Prometheus 2.42 sends gets OpenMetrics, and
	 * protobuf with --enable-feature=native-histograms. */
	const char *prom =
	    "application/openmetrics-text;version=1.0.0,application/"
	    "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
	    "q=0.5,*/*;q=0.1";
	const char *prom_native =
	    "application/vnd.google.protobuf;proto=io.prometheus.client."
	    "MetricFamily;encoding=delimited,application/openmetrics-text;"
	    "version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;"
	    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS, prom),
			VT__REQ_OPENMETRICS);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS, prom_native),
			VT__REQ_PROTOBUF);
	/* q-values decide; protobuf needs its proto and encoding, the text
	 * formats a version vitals writes. */
	CU_ASSERT_EQUAL(vt__req_negotiate(
			    VT__GW_METRICS,
			    "application/vnd.google.protobuf;proto=io."
			    "prometheus.client.MetricFamily;encoding=delimited;"
			    "q=0.3,text/plain;version=0.0.4;q=0.5"),
			VT__REQ_PROM);
	CU_ASSERT_EQUAL(
	    vt__req_negotiate(VT__GW_METRICS,
			      "application/vnd.google.protobuf;encoding=text,"
			      "application/openmetrics-text;version=0.0.1,"
			      "text/plain;version=0.0.4;q=0.2"),
	    VT__REQ_PROM);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS,
					  "application/openmetrics-text; "
					  "version=\"1.0.0\"; q=0.9, "
					  "text/plain;q=0.9"),
			VT__REQ_OPENMETRICS);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS, NULL), VT__REQ_JSON);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS,
					  "text/plain;q=0.5, application/json"),
			VT__REQ_JSON);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_METRICS, "text/plain;q=0"),
			VT__REQ_JSON);
	/* Health: IETF when named at least as high as JSON and wildcards. */
	CU_ASSERT_EQUAL(
	    vt__req_negotiate(VT__GW_HEALTH, "application/health+json"),
	    VT__REQ_IETF);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_LIVEZ,
					  "application/json;q=0.9, "
					  "application/health+json;q=0.9"),
			VT__REQ_IETF);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_READYZ,
					  "application/health+json;q=0.5,"
					  " */*"),
			VT__REQ_JSON);
	CU_ASSERT_EQUAL(
	    vt__req_negotiate(VT__GW_HEALTH, "application/health+json;q=0"),
	    VT__REQ_JSON);
	CU_ASSERT_EQUAL(vt__req_negotiate(VT__GW_HEALTH, "text/plain"),
			VT__REQ_JSON);
	/* The parse takes Accept when no ?format= is given. */
	vt__req r;
	accepted(VT__GW_METRICS, "/metrics", prom, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_OPENMETRICS);
	accepted(VT__GW_METRICS, "/metrics?format=protobuf", NULL, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_PROTOBUF);
	accepted(VT__GW_METRICS, "/metrics?format=openmetrics", NULL, &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_OPENMETRICS);
	accepted(VT__GW_HEALTH, "/health/db", "application/health+json", &r);
	CU_ASSERT_EQUAL(r.fmt, VT__REQ_IETF);
}

/* Names, tags and lists past their limits are refused, never cut. */
static void test_oversize(void)
{
	char uri[8192], name[256];
	memset(name, 'n', 200);
	name[200] = '\0';
	vt__req r;
	snprintf(uri, sizeof(uri), "/health/%s", name);
	accepted(VT__GW_HEALTH, uri, NULL, &r);
	CU_ASSERT_EQUAL(strlen(r.q.filter.name), 200);
	snprintf(uri, sizeof(uri), "/health/%sn", name);
	refused(VT__GW_HEALTH, uri, 404, "not found");
	snprintf(uri, sizeof(uri), "/health?tag=%sn", name);
	refused(VT__GW_HEALTH, uri, 400, "bad tag value");
	snprintf(uri, sizeof(uri), "/health?exclude=%sn", name);
	refused(VT__GW_HEALTH, uri, 400, "bad check name in exclude");
	snprintf(uri, sizeof(uri), "/metrics?prefix=%sn", name);
	refused(VT__GW_METRICS, uri, 400, "bad metric name prefix");

	/* 64 exclude names fit; the 65th is refused. */
	size_t n = (size_t)snprintf(uri, sizeof(uri), "/health?exclude=");
	for (int i = 0; i < VT__REQ_MAX_EXCLUDE; i++)
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, "c%d,", i);
	accepted(VT__GW_HEALTH, uri, NULL, &r);
	CU_ASSERT_EQUAL(r.q.filter.nexclude, VT__REQ_MAX_EXCLUDE);
	CU_ASSERT_STRING_EQUAL(r.exclude[63], "c63");
	snprintf(uri + n, sizeof(uri) - n, "one-more");
	refused(VT__GW_HEALTH, uri, 400, "too many exclude names");
}

int main(void)
{
	static const vt_test tests[] = {
	    {"paths", test_paths},
	    {"queries", test_queries},
	    {"formats", test_formats},
	    {"percent-encoding", test_percent},
	    {"accept q-values", test_accept},
	    {"oversize", test_oversize},
	    {NULL, NULL},
	};
	return vt_test_main("request", tests);
}
