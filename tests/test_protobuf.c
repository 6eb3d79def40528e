/*
 * test_protobuf.c - src/encode/protobuf.c: rich health and metrics
 * snapshots encoded and decoded back, compared field by field and
 * through the JSON and Prometheus encoders (a decoded snapshot must print
 * exactly as the original); the requests, grpc.health.v1 messages and
 * the envelope; the gRPC code mapping; and decoders fed garbage,
 * truncated bytes and well-formed messages with values out of range,
 * which must fail cleanly (run it under ASan to see "cleanly").
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encode/protobuf.h"
#include "grpc/health/v1/health.pb-c.h"
#include "testutil.h"
#include "vitals/encode.h"
#include "vitals/v1/health.pb-c.h"
#include "vitals/v1/metrics.pb-c.h"
#include "vitals/v1/rpc.pb-c.h"

/* ---- fixtures ---------------------------------------------------------- */

static const char *const tags_ready[] = {"ready"};
static const char *const tags_two[] = {"live", "ready"};
static const vt_detail api_details[] = {
    {.key = "endpoint", .kind = VT_DETAIL_STR, .str = "http://h:9000/ping"},
    {.key = "latency_ms", .kind = VT_DETAIL_NUM, .num = 250.5},
    {.key = "cached", .kind = VT_DETAIL_BOOL, .b = false},
    {.key = "ok", .kind = VT_DETAIL_BOOL, .b = true},
};
static vt_detail redis_details[] = {
    {.key = "clients", .kind = VT_DETAIL_NUM, .num = -3e-7},
    {.key = "inf", .kind = VT_DETAIL_NUM, .num = 0}, /* +Inf, set below */
    {.key = "note",
     .kind = VT_DETAIL_STR,
     .str = "caf\xc3\xa9 \"x\"\t\xe2\x9c\x93"},
    {.key = "empty", .kind = VT_DETAIL_STR, .str = ""},
};

static const vt_component components[] = {
    {.name = "api",
     .status = VT_DEGRADED,
     .critical = false,
     .tags = tags_ready,
     .ntags = 1,
     .details = api_details,
     .ndetails = 4,
     .last_check_time = 1764000000.1,
     .duration_ms = 250.5,
     .last_status_change = 1763999000.5},
    {.name = "disk",
     .status = VT_HEALTHY,
     .critical = true,
     .tags = tags_two,
     .ntags = 2,
     .last_check_time = 1764000000.05,
     .duration_ms = 0.4,
     .last_status_change = 1763990000},
    {.name = "never",
     .status = VT_UNHEALTHY,
     .critical = true,
     .error = "no result yet"},
    {.name = "redis",
     .status = VT_UNHEALTHY,
     .critical = true,
     .tags = tags_ready,
     .ntags = 1,
     .details = redis_details,
     .ndetails = 4,
     .error = "connect 127.0.0.1:6379: \"refused\"\n\tretry\\later",
     .last_check_time = 1764000000.123,
     .duration_ms = 2000,
     .consecutive_failures = 4294967295u,
     .last_status_change = 1763999990.25,
     .stale = true,
     .maintenance = true,
     .has_uptime = true,
     .uptime = {1, 0.9975, -1, 0.5}},
};

static const vt_health_snapshot health = {
    .status = VT_UNHEALTHY,
    .timestamp = 1764000000.123,
    .ncomponents = sizeof(components) / sizeof(components[0]),
    .components = components,
};

#define NB 11
static const double bounds[NB] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				  0.5,	 1,    2.5,   5,    10};
static const uint64_t dur_cum[NB + 1] = {0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2};
static const uint64_t zero_cum[NB + 1] = {0};
static const double one_bound[1] = {1e-9};
static const uint64_t one_cum[2] = {UINT64_C(1) << 40, (UINT64_C(1) << 40) + 7};

static const vt_label l1[] = {{"cache", "l1"}};
static const vt_label l2[] = {{"cache", "l\"2\"\n\\"}};
static const vt_label lhttp[] = {{"method", "GET"},
				 {"route", "/h\xc3\xa9"
					   "alth"},
				 {"status", "200"}};
static const vt_label lrpc[] = {{"method", "Check"}};

static vt_series_snap s_counter[] = {
    {.labels = l1, .nlabels = 1, .value = 10},
    {.labels = l2, .nlabels = 1, .value = 2.5}};
static vt_series_snap s_gauge[] = {{.value = -0.0}, {.value = 0}, {.value = 0}};
static vt_series_snap s_http[] = {{.labels = lhttp, .nlabels = 3, .value = 7}};
static vt_series_snap s_hist[3];

static const vt_family_snap families[] = {
    {"cache_hits", "", VT_COUNTER, 2, s_counter},
    {"empty_family", "Never used.", VT_GAUGE, 0, NULL},
    {"edges", "Line one\nback\\slash \xc3\xa9", VT_GAUGE, 3, s_gauge},
    {"http_requests_total", "HTTP requests.", VT_COUNTER, 1, s_http},
    {"rpc_latency_seconds", "Latency.", VT_HISTOGRAM, 3, s_hist},
};

static const vt_metrics_snapshot metrics = {
    sizeof(families) / sizeof(families[0]), families};

static void fixtures_init(void)
{
	redis_details[1].num = INFINITY;
	s_gauge[1].value = NAN;
	s_gauge[2].value = 1.5e300;

	vt_hist_summary *h = &s_hist[0].hist; /* never observed */
	s_hist[0].labels = l1;
	s_hist[0].nlabels = 1;
	h->min = h->max = h->p50 = h->p90 = h->p95 = h->p99 = h->p999 = NAN;
	h->nbounds = NB;
	h->le_bounds = bounds;
	h->le_cumulative = zero_cum;

	h = &s_hist[1].hist;
	s_hist[1].labels = lrpc;
	s_hist[1].nlabels = 1;
	h->count = 2;
	h->sum = 0.9;
	h->min = 0.4;
	h->max = 0.5;
	h->p50 = 0.4;
	h->p90 = 0.45;
	h->p95 = 0.47;
	h->p99 = 0.49;
	h->p999 = 0.5;
	h->nbounds = NB;
	h->le_bounds = bounds;
	h->le_cumulative = dur_cum;

	h = &s_hist[2].hist; /* huge counts, one bound */
	s_hist[2].labels = l2;
	s_hist[2].nlabels = 1;
	h->count = (UINT64_C(1) << 40) + 7;
	h->sum = 1e12;
	h->min = -5;
	h->max = 1e9;
	h->p50 = h->p90 = h->p95 = h->p99 = h->p999 = 1e-9;
	h->nbounds = 1;
	h->le_bounds = one_bound;
	h->le_cumulative = one_cum;
}

/* Doubles equal, NaN equal to NaN. (proto3 does not send a zero, so
 * -0 comes back as 0; both encoders print either as "0".) */
static int same(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ---- health ------------------------------------------------------------ */

static void assert_component(const vt_component *a, const vt_component *b)
{
	CU_ASSERT_STRING_EQUAL(a->name, b->name);
	CU_ASSERT_EQUAL(a->status, b->status);
	CU_ASSERT_EQUAL(a->critical, b->critical);
	CU_ASSERT_EQUAL_FATAL(a->ntags, b->ntags);
	for (size_t i = 0; i < a->ntags; i++)
		CU_ASSERT_STRING_EQUAL(a->tags[i], b->tags[i]);
	CU_ASSERT_EQUAL_FATAL(a->ndetails, b->ndetails);
	CU_ASSERT((a->details == NULL) == (b->details == NULL));
	for (size_t i = 0; i < a->ndetails; i++) {
		const vt_detail *x = &a->details[i], *y = &b->details[i];
		CU_ASSERT_STRING_EQUAL(x->key, y->key);
		CU_ASSERT_EQUAL_FATAL(x->kind, y->kind);
		if (x->kind == VT_DETAIL_STR)
			CU_ASSERT_STRING_EQUAL(x->str, y->str);
		if (x->kind == VT_DETAIL_NUM)
			CU_ASSERT(same(x->num, y->num));
		if (x->kind == VT_DETAIL_BOOL)
			CU_ASSERT_EQUAL(x->b, y->b);
	}
	CU_ASSERT(same_str(a->error, b->error));
	CU_ASSERT(same(a->last_check_time, b->last_check_time));
	CU_ASSERT(same(a->duration_ms, b->duration_ms));
	CU_ASSERT_EQUAL(a->consecutive_failures, b->consecutive_failures);
	CU_ASSERT(same(a->last_status_change, b->last_status_change));
	CU_ASSERT_EQUAL(a->stale, b->stale);
	CU_ASSERT_EQUAL(a->maintenance, b->maintenance);
	CU_ASSERT_EQUAL(a->has_uptime, b->has_uptime);
	for (int i = 0; a->has_uptime && b->has_uptime && i < 4; i++)
		CU_ASSERT(same(a->uptime[i], b->uptime[i]));
}

/* Both snapshots print the same JSON. */
static void assert_same_json_health(const vt_health_snapshot *a,
				    const vt_health_snapshot *b)
{
	char *ja = NULL, *jb = NULL;
	size_t na = 0, nb = 0;
	CU_ASSERT_EQUAL_FATAL(vt_json_health(a, &ja, &na), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_json_health(b, &jb, &nb), VT_OK);
	CU_ASSERT_EQUAL(na, nb);
	CU_ASSERT_STRING_EQUAL(ja, jb);
	free(ja);
	free(jb);
}

static void test_health_round_trip(void)
{
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_encode(&health, &b, &n), VT_OK);
	CU_ASSERT(n > 0);
	vt_health_snapshot *d = NULL;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_decode(b, n, &d), VT_OK);
	CU_ASSERT_EQUAL(d->status, health.status);
	CU_ASSERT(same(d->timestamp, health.timestamp));
	CU_ASSERT_EQUAL_FATAL(d->ncomponents, health.ncomponents);
	for (size_t i = 0; i < d->ncomponents; i++)
		assert_component(&d->components[i], &health.components[i]);
	/* "never" has no tags or details: NULL arrays, as the library's. */
	CU_ASSERT_PTR_NULL(d->components[2].tags);
	CU_ASSERT_PTR_NULL(d->components[2].details);
	CU_ASSERT_PTR_NULL(d->components[0].error);
	assert_same_json_health(&health, d);
	/* The decoded snapshot is freed by the library's own free too. */
	vt_health_snapshot_free(d);

	/* A component alone prints as the gateway's /health/NAME. */
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_decode(b, n, &d), VT_OK);
	char *ja = NULL, *jb = NULL;
	size_t la, lb;
	CU_ASSERT_EQUAL(vt_json_component(&components[3], &ja, &la), VT_OK);
	CU_ASSERT_EQUAL(vt_json_component(&d->components[3], &jb, &lb), VT_OK);
	CU_ASSERT_STRING_EQUAL(ja, jb);
	free(ja);
	free(jb);
	vt__pb_health_free(d);
	free(b);
}

static void test_health_empty_and_each_status(void)
{
	for (int st = VT_HEALTHY; st <= VT_UNHEALTHY; st++) {
		vt_health_snapshot e = {.status = (vt_status)st,
					.timestamp = 0};
		uint8_t *b = NULL;
		size_t n = 0;
		CU_ASSERT_EQUAL_FATAL(vt__pb_health_encode(&e, &b, &n), VT_OK);
		vt_health_snapshot *d = NULL;
		CU_ASSERT_EQUAL_FATAL(vt__pb_health_decode(b, n, &d), VT_OK);
		CU_ASSERT_EQUAL(d->status, st);
		CU_ASSERT_EQUAL(d->ncomponents, 0);
		CU_ASSERT_PTR_NULL(d->components);
		assert_same_json_health(&e, d);
		vt__pb_health_free(d);
		free(b);
	}
}

static void test_health_invalid_utf8_cleaned(void)
{
	vt_detail det = {.key = "k\xff", .kind = VT_DETAIL_STR, .str = "\xc3"};
	vt_component c = {.name = "x",
			  .status = VT_HEALTHY,
			  .details = &det,
			  .ndetails = 1,
			  .error = "bad\xff\xfe"
				   "byte \xed\xa0\x80"};
	vt_health_snapshot s = {.ncomponents = 1, .components = &c};
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_encode(&s, &b, &n), VT_OK);
	vt_health_snapshot *d = NULL;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_decode(b, n, &d), VT_OK);
	const vt_component *dc = &d->components[0];
	CU_ASSERT_STRING_EQUAL(dc->error, "bad\xef\xbf\xbd\xef\xbf\xbd"
					  "byte \xef\xbf\xbd\xef\xbf\xbd"
					  "\xef\xbf\xbd");
	CU_ASSERT_STRING_EQUAL(dc->details[0].key, "k\xef\xbf\xbd");
	CU_ASSERT_STRING_EQUAL(dc->details[0].str, "\xef\xbf\xbd");
	/* The JSON of both is the same: the JSON encoder cleans the same
	 * way. */
	assert_same_json_health(&s, d);
	vt__pb_health_free(d);
	free(b);
}

static void test_health_encode_refuses_malformed(void)
{
	uint8_t *b = (uint8_t *)"untouched";
	size_t n = 42;
	vt_component c = {.name = NULL, .status = VT_HEALTHY};
	vt_health_snapshot s = {.ncomponents = 1, .components = &c};
	CU_ASSERT_EQUAL(vt__pb_health_encode(&s, &b, &n), VT_EINVAL);
	c.name = "x";
	c.status = (vt_status)3;
	CU_ASSERT_EQUAL(vt__pb_health_encode(&s, &b, &n), VT_EINVAL);
	c.status = VT_HEALTHY;
	c.ntags = 1;
	CU_ASSERT_EQUAL(vt__pb_health_encode(&s, &b, &n), VT_EINVAL);
	c.ntags = 0;
	s.status = (vt_status)-1;
	CU_ASSERT_EQUAL(vt__pb_health_encode(&s, &b, &n), VT_EINVAL);
	s.status = VT_HEALTHY;
	s.components = NULL;
	CU_ASSERT_EQUAL(vt__pb_health_encode(&s, &b, &n), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__pb_health_encode(NULL, &b, &n), VT_EINVAL);
	/* Out-parameters only written on success. */
	CU_ASSERT_STRING_EQUAL((char *)b, "untouched");
	CU_ASSERT_EQUAL(n, 42);
}

/* ---- metrics ----------------------------------------------------------- */

static void assert_series(const vt_family_snap *f, const vt_series_snap *a,
			  const vt_series_snap *b)
{
	CU_ASSERT_EQUAL_FATAL(a->nlabels, b->nlabels);
	for (size_t k = 0; k < a->nlabels; k++) {
		CU_ASSERT_STRING_EQUAL(a->labels[k].name, b->labels[k].name);
		CU_ASSERT_STRING_EQUAL(a->labels[k].value, b->labels[k].value);
	}
	if (f->kind != VT_HISTOGRAM) {
		CU_ASSERT(same(a->value, b->value));
		return;
	}
	const vt_hist_summary *x = &a->hist, *y = &b->hist;
	CU_ASSERT_EQUAL(x->count, y->count);
	CU_ASSERT(same(x->sum, y->sum));
	CU_ASSERT(same(x->min, y->min));
	CU_ASSERT(same(x->max, y->max));
	CU_ASSERT(same(x->p50, y->p50));
	CU_ASSERT(same(x->p90, y->p90));
	CU_ASSERT(same(x->p95, y->p95));
	CU_ASSERT(same(x->p99, y->p99));
	CU_ASSERT(same(x->p999, y->p999));
	CU_ASSERT_EQUAL_FATAL(x->nbounds, y->nbounds);
	for (size_t i = 0; i < x->nbounds; i++)
		CU_ASSERT(same(x->le_bounds[i], y->le_bounds[i]));
	for (size_t i = 0; i <= x->nbounds; i++)
		CU_ASSERT_EQUAL(x->le_cumulative[i], y->le_cumulative[i]);
}

static void assert_same_text_metrics(const vt_metrics_snapshot *a,
				     const vt_metrics_snapshot *b)
{
	vt_err (*enc[2])(const vt_metrics_snapshot *, char **,
			 size_t *) = {vt_json_metrics, vt_prom_metrics};
	for (int e = 0; e < 2; e++) {
		char *ta = NULL, *tb = NULL;
		size_t na = 0, nb = 0;
		CU_ASSERT_EQUAL_FATAL(enc[e](a, &ta, &na), VT_OK);
		CU_ASSERT_EQUAL_FATAL(enc[e](b, &tb, &nb), VT_OK);
		CU_ASSERT_EQUAL(na, nb);
		CU_ASSERT_STRING_EQUAL(ta, tb);
		free(ta);
		free(tb);
	}
}

static void test_metrics_round_trip(void)
{
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_encode(&metrics, &b, &n), VT_OK);
	vt_metrics_snapshot *d = NULL;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_decode(b, n, &d), VT_OK);
	CU_ASSERT_EQUAL_FATAL(d->nfamilies, metrics.nfamilies);
	for (size_t i = 0; i < d->nfamilies; i++) {
		const vt_family_snap *x = &d->families[i];
		const vt_family_snap *y = &metrics.families[i];
		CU_ASSERT_STRING_EQUAL(x->name, y->name);
		CU_ASSERT_STRING_EQUAL(x->help, y->help);
		CU_ASSERT_EQUAL(x->kind, y->kind);
		CU_ASSERT_EQUAL_FATAL(x->nseries, y->nseries);
		for (size_t j = 0; j < x->nseries; j++)
			assert_series(y, &x->series[j], &y->series[j]);
	}
	/* No buckets travel: quantiles come from the summary only. */
	CU_ASSERT(isnan(vt_series_quantile(&d->families[4].series[1], 0.5)));
	assert_same_text_metrics(&metrics, d);
	vt__pb_metrics_free(d);
	free(b);

	vt_metrics_snapshot empty = {0, NULL};
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_encode(&empty, &b, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_decode(b, n, &d), VT_OK);
	CU_ASSERT_EQUAL(d->nfamilies, 0);
	vt__pb_metrics_free(d);
	free(b);
}

/* A real registry's snapshot survives the trip too. */
static void test_metrics_round_trip_registry(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_metrics_alloc(&m), VT_OK);
	const char *ln[] = {"route"};
	vt_family *hf = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_metrics_histogram_family(m, "lat_seconds",
							  "Latency.", ln, 1,
							  NULL, 0, &hf),
			      VT_OK);
	const char *v[] = {"/a"};
	vt_histogram *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_family_series(hf, v, 1, &h), VT_OK);
	for (int i = 1; i <= 1000; i++)
		vt_histogram_observe(h, i / 1000.0);
	vt_metrics_increment(m, "hits_total");
	vt_metrics_set_gauge(m, "temp", -12.25);
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_metrics_snapshot_take(m, NULL, &s), VT_OK);
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_encode(s, &b, &n), VT_OK);
	vt_metrics_snapshot *d = NULL;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_decode(b, n, &d), VT_OK);
	assert_same_text_metrics(s, d);
	vt__pb_metrics_free(d);
	vt_metrics_snapshot_free(s);
	free(b);
	vt_metrics_free(m);
}

static void test_metrics_encode_refuses_malformed(void)
{
	uint8_t *b = NULL;
	size_t n = 0;
	vt_series_snap ss = {.value = 1};
	vt_family_snap f = {"x", "", (vt_metric_kind)3, 1, &ss};
	vt_metrics_snapshot s = {1, &f};
	CU_ASSERT_EQUAL(vt__pb_metrics_encode(&s, &b, &n), VT_EINVAL);
	f.kind = VT_HISTOGRAM; /* no le_cumulative */
	CU_ASSERT_EQUAL(vt__pb_metrics_encode(&s, &b, &n), VT_EINVAL);
	f.kind = VT_COUNTER;
	f.name = NULL;
	CU_ASSERT_EQUAL(vt__pb_metrics_encode(&s, &b, &n), VT_EINVAL);
	f.name = "x";
	vt_label bad = {"a", NULL};
	ss.labels = &bad;
	ss.nlabels = 1;
	CU_ASSERT_EQUAL(vt__pb_metrics_encode(&s, &b, &n), VT_EINVAL);
	CU_ASSERT_PTR_NULL(b);
}

/* ---- bad input --------------------------------------------------------- */

typedef vt_err (*decoder)(const uint8_t *, size_t);

static vt_err dec_health(const uint8_t *p, size_t n)
{
	vt_health_snapshot *s = NULL;
	vt_err e = vt__pb_health_decode(p, n, &s);
	if (e == VT_OK) {
		/* Whatever decoded must be printable. */
		char *j = NULL;
		size_t l;
		CU_ASSERT_EQUAL(vt_json_health(s, &j, &l), VT_OK);
		free(j);
		vt__pb_health_free(s);
	} else {
		CU_ASSERT_PTR_NULL(s);
	}
	return e;
}

static vt_err dec_metrics(const uint8_t *p, size_t n)
{
	vt_metrics_snapshot *s = NULL;
	vt_err e = vt__pb_metrics_decode(p, n, &s);
	if (e == VT_OK) {
		char *j = NULL;
		size_t l;
		CU_ASSERT_EQUAL(vt_json_metrics(s, &j, &l), VT_OK);
		free(j);
		CU_ASSERT_EQUAL(vt_prom_metrics(s, &j, &l), VT_OK);
		free(j);
		vt__pb_metrics_free(s);
	} else {
		CU_ASSERT_PTR_NULL(s);
	}
	return e;
}

static vt_err dec_request(const uint8_t *p, size_t n)
{
	vt__pb_request r;
	vt_err e = vt__pb_request_decode(p, n, &r);
	if (e == VT_OK)
		vt__pb_request_fini(&r);
	return e;
}

static vt_err dec_response(const uint8_t *p, size_t n)
{
	vt__pb_response r;
	vt_err e = vt__pb_response_decode(p, n, &r);
	if (e == VT_OK)
		vt__pb_response_fini(&r);
	return e;
}

static vt_err dec_hreq(const uint8_t *p, size_t n)
{
	vt__pb_health_req r;
	vt_err e = vt__pb_health_req_decode(p, n, &r);
	if (e == VT_OK)
		vt__pb_health_req_fini(&r);
	return e;
}

static vt_err dec_mreq(const uint8_t *p, size_t n)
{
	vt__pb_metrics_req r;
	vt_err e = vt__pb_metrics_req_decode(p, n, &r);
	if (e == VT_OK)
		vt__pb_metrics_req_fini(&r);
	return e;
}

static const decoder decoders[] = {dec_health,	 dec_metrics, dec_request,
				   dec_response, dec_hreq,    dec_mreq};
#define NDEC (sizeof(decoders) / sizeof(decoders[0]))

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void test_decode_garbage(void)
{
	uint8_t buf[512];
	int failed[NDEC] = {0};
	for (int round = 0; round < 3000; round++) {
		size_t n = 1 + rnd32() % sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd32();
		for (size_t d = 0; d < NDEC; d++)
			failed[d] += decoders[d](buf, n) != VT_OK;
	}
	/* Random bytes are almost never a message. */
	for (size_t d = 0; d < NDEC; d++)
		CU_ASSERT(failed[d] > 2900);
	/* Empty input is the empty message: fine where that is valid. */
	CU_ASSERT_EQUAL(dec_health(NULL, 0), VT_OK);
	CU_ASSERT_EQUAL(dec_request(NULL, 0), VT_OK);
	/* A length that runs past the end, a huge varint, a bad wire type. */
	static const uint8_t past[] = {0x1a, 0x7f, 0x0a, 0x01, 'a'};
	static const uint8_t varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t wire[] = {0x0f, 0x00};
	for (size_t d = 0; d < NDEC; d++) {
		CU_ASSERT_NOT_EQUAL(decoders[d](past, sizeof(past)), VT_OK);
		CU_ASSERT_NOT_EQUAL(decoders[d](varint, sizeof(varint)), VT_OK);
		CU_ASSERT_NOT_EQUAL(decoders[d](wire, sizeof(wire)), VT_OK);
	}
}

/* Every prefix of a valid encoding decodes or fails cleanly; cutting
 * into the last field always fails. */
static void test_decode_truncated(void)
{
	uint8_t *hb = NULL, *mb = NULL;
	size_t hn = 0, mn = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_encode(&health, &hb, &hn), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_encode(&metrics, &mb, &mn), VT_OK);
	size_t hok = 0, mok = 0;
	for (size_t n = 0; n < hn; n++) {
		uint8_t *copy = malloc(n + 1); /* exact size for ASan */
		memcpy(copy, hb, n);
		hok += dec_health(copy, n) == VT_OK;
		free(copy);
	}
	for (size_t n = 0; n < mn; n++) {
		uint8_t *copy = malloc(n + 1);
		memcpy(copy, mb, n);
		mok += dec_metrics(copy, n) == VT_OK;
		free(copy);
	}
	/* Only prefixes ending on a field boundary decode. */
	CU_ASSERT(hok < hn / 10);
	CU_ASSERT(mok < mn / 10);
	CU_ASSERT_NOT_EQUAL(dec_health(hb, hn - 1), VT_OK);
	CU_ASSERT_NOT_EQUAL(dec_metrics(mb, mn - 1), VT_OK);
	free(hb);
	free(mb);
}

/* Well-formed protobuf with values the library's types cannot hold. */
static void test_decode_out_of_range(void)
{
	uint8_t buf[1024];
	size_t n;
	vt_health_snapshot *hs = NULL;
	vt_metrics_snapshot *ms = NULL;

	Vitals__V1__HealthCheckResponse hr =
	    VITALS__V1__HEALTH_CHECK_RESPONSE__INIT;
	hr.status = (Vitals__V1__Status)7;
	n = vitals__v1__health_check_response__pack(&hr, buf);
	CU_ASSERT_EQUAL(vt__pb_health_decode(buf, n, &hs), VT_EPROTO);

	Vitals__V1__Component c = VITALS__V1__COMPONENT__INIT;
	Vitals__V1__Component *cp = &c;
	c.name = "x";
	c.status = (Vitals__V1__Status)-1;
	hr.status = VITALS__V1__STATUS__STATUS_HEALTHY;
	hr.n_components = 1;
	hr.components = &cp;
	n = vitals__v1__health_check_response__pack(&hr, buf);
	CU_ASSERT_EQUAL(vt__pb_health_decode(buf, n, &hs), VT_EPROTO);
	/* A detail without a value (a future kind) decodes as "". */
	c.status = VITALS__V1__STATUS__STATUS_HEALTHY;
	Vitals__V1__Detail det = VITALS__V1__DETAIL__INIT;
	Vitals__V1__Detail *dp = &det;
	det.key = "k";
	c.n_details = 1;
	c.details = &dp;
	n = vitals__v1__health_check_response__pack(&hr, buf);
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_decode(buf, n, &hs), VT_OK);
	CU_ASSERT_EQUAL(hs->components[0].details[0].kind, VT_DETAIL_STR);
	CU_ASSERT_STRING_EQUAL(hs->components[0].details[0].str, "");
	vt__pb_health_free(hs);

	Vitals__V1__MetricsGetResponse mr =
	    VITALS__V1__METRICS_GET_RESPONSE__INIT;
	Vitals__V1__Family f = VITALS__V1__FAMILY__INIT;
	Vitals__V1__Family *fp = &f;
	Vitals__V1__Series s = VITALS__V1__SERIES__INIT;
	Vitals__V1__Series *sp = &s;
	Vitals__V1__HistogramSummary h = VITALS__V1__HISTOGRAM_SUMMARY__INIT;
	f.name = "h";
	f.n_series = 1;
	f.series = &sp;
	mr.n_families = 1;
	mr.families = &fp;
	f.kind = (Vitals__V1__MetricKind)9;
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	f.kind = VITALS__V1__METRIC_KIND__METRIC_KIND_HISTOGRAM;
	n = vitals__v1__metrics_get_response__pack(&mr, buf); /* no summary */
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	double lb[3] = {1, 2, 3};
	uint64_t cum[4] = {1, 2, 3, 4};
	s.histogram = &h;
	h.count = 4;
	h.n_le_bounds = 3;
	h.le_bounds = lb;
	h.n_le_cumulative = 3; /* one short */
	h.le_cumulative = cum;
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	h.n_le_cumulative = 4;
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_decode(buf, n, &ms), VT_OK);
	vt__pb_metrics_free(ms);
	ms = NULL;
	lb[1] = 1; /* not increasing */
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	lb[1] = NAN;
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	lb[1] = 2;
	cum[2] = 1; /* decreasing */
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	cum[2] = 3;
	h.count = 5; /* last cumulative is not the count */
	n = vitals__v1__metrics_get_response__pack(&mr, buf);
	CU_ASSERT_EQUAL(vt__pb_metrics_decode(buf, n, &ms), VT_EPROTO);
	CU_ASSERT_PTR_NULL(ms);
}

/* ---- requests, grpc.health.v1, envelope -------------------------------- */

static void test_health_request(void)
{
	const char *ex[] = {"a", "b.c"};
	vt_health_filter f = {
	    .name = "redis", .tag = "ready", .exclude = ex, .nexclude = 2};
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(
	    vt__pb_health_req_encode(&f, VT_RUN_CACHED, &b, &n), VT_OK);
	vt__pb_health_req r;
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_req_decode(b, n, &r), VT_OK);
	CU_ASSERT_STRING_EQUAL(r.filter.name, "redis");
	CU_ASSERT_STRING_EQUAL(r.filter.tag, "ready");
	CU_ASSERT_EQUAL_FATAL(r.filter.nexclude, 2);
	CU_ASSERT_STRING_EQUAL(r.filter.exclude[1], "b.c");
	CU_ASSERT_EQUAL(r.mode, VT_RUN_CACHED);
	vt__pb_health_req_fini(&r);
	free(b);

	/* No filter: everything, fresh; empty strings read as NULL. */
	CU_ASSERT_EQUAL_FATAL(
	    vt__pb_health_req_encode(NULL, VT_RUN_FRESH, &b, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL_FATAL(vt__pb_health_req_decode(b, n, &r), VT_OK);
	CU_ASSERT_PTR_NULL(r.filter.name);
	CU_ASSERT_PTR_NULL(r.filter.tag);
	CU_ASSERT_EQUAL(r.filter.nexclude, 0);
	CU_ASSERT_EQUAL(r.mode, VT_RUN_FRESH);
	vt__pb_health_req_fini(&r);
	free(b);

	const char *bad[] = {NULL};
	vt_health_filter fb = {.exclude = bad, .nexclude = 1};
	CU_ASSERT_EQUAL(vt__pb_health_req_encode(&fb, VT_RUN_FRESH, &b, &n),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt__pb_health_req_encode(NULL, (vt_run_mode)5, &b, &n),
			VT_EINVAL);
}

static void test_metrics_request(void)
{
	vt_label ls[] = {{"method", "GET"}, {"route", "/x"}};
	vt_metrics_filter f = {
	    .name = "n", .name_prefix = "http_", .labels = ls, .nlabels = 2};
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_req_encode(&f, &b, &n), VT_OK);
	vt__pb_metrics_req r;
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_req_decode(b, n, &r), VT_OK);
	CU_ASSERT_STRING_EQUAL(r.filter.name, "n");
	CU_ASSERT_STRING_EQUAL(r.filter.name_prefix, "http_");
	CU_ASSERT_EQUAL_FATAL(r.filter.nlabels, 2);
	CU_ASSERT_STRING_EQUAL(r.filter.labels[1].name, "route");
	CU_ASSERT_STRING_EQUAL(r.filter.labels[1].value, "/x");
	vt__pb_metrics_req_fini(&r);
	free(b);
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_req_encode(NULL, &b, &n), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__pb_metrics_req_decode(b, n, &r), VT_OK);
	CU_ASSERT_PTR_NULL(r.filter.name);
	CU_ASSERT_PTR_NULL(r.filter.name_prefix);
	CU_ASSERT_EQUAL(r.filter.nlabels, 0);
	vt__pb_metrics_req_fini(&r);
	free(b);
}

static void test_grpc_messages(void)
{
	uint8_t *b = NULL;
	size_t n = 0;
	char *svc = NULL;
	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_check_req_encode("redis", &b, &n),
			      VT_OK);
	/* Field 1, as in gRPC's health.proto. */
	CU_ASSERT_EQUAL(b[0], 0x0a);
	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_check_req_decode(b, n, &svc), VT_OK);
	CU_ASSERT_STRING_EQUAL(svc, "redis");
	free(svc);
	free(b);
	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_check_req_encode(NULL, &b, &n),
			      VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_check_req_decode(b, n, &svc), VT_OK);
	CU_ASSERT_STRING_EQUAL(svc, "");
	free(svc);
	free(b);

	int st = 0;
	CU_ASSERT_EQUAL_FATAL(
	    vt__pb_grpc_check_resp_encode(VT__NOT_SERVING, &b, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(b[0], 0x08);
	CU_ASSERT_EQUAL(b[1], 2);
	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_check_resp_decode(b, n, &st), VT_OK);
	CU_ASSERT_EQUAL(st, VT__NOT_SERVING);
	free(b);

	CU_ASSERT_EQUAL(vt__grpc_serving(VT_HEALTHY), VT__SERVING);
	CU_ASSERT_EQUAL(vt__grpc_serving(VT_DEGRADED), VT__SERVING);
	CU_ASSERT_EQUAL(vt__grpc_serving(VT_UNHEALTHY), VT__NOT_SERVING);

	CU_ASSERT_EQUAL_FATAL(vt__pb_grpc_list_resp_encode(&health, &b, &n),
			      VT_OK);
	Grpc__Health__V1__HealthListResponse *lr =
	    grpc__health__v1__health_list_response__unpack(NULL, n, b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lr);
	CU_ASSERT_EQUAL_FATAL(lr->n_statuses, health.ncomponents + 1);
	CU_ASSERT_STRING_EQUAL(lr->statuses[0]->key, "");
	CU_ASSERT_EQUAL(lr->statuses[0]->value->status, VT__NOT_SERVING);
	CU_ASSERT_STRING_EQUAL(lr->statuses[1]->key, "api");
	CU_ASSERT_EQUAL(lr->statuses[1]->value->status, VT__SERVING);
	CU_ASSERT_STRING_EQUAL(lr->statuses[2]->key, "disk");
	CU_ASSERT_EQUAL(lr->statuses[2]->value->status, VT__SERVING);
	CU_ASSERT_STRING_EQUAL(lr->statuses[4]->key, "redis");
	CU_ASSERT_EQUAL(lr->statuses[4]->value->status, VT__NOT_SERVING);
	grpc__health__v1__health_list_response__free_unpacked(lr, NULL);
	free(b);
	CU_ASSERT_EQUAL(vt__pb_grpc_list_req_check(NULL, 0), VT_OK);
}

static void test_envelope(void)
{
	const uint8_t payload[] = {0, 1, 2, 0xff};
	uint8_t *b = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt__pb_request_encode(VT__M_METRICS, payload,
						    sizeof(payload), NULL, &b,
						    &n),
			      VT_OK);
	/* Field numbers are the contract: method = 1, payload = 2. */
	Vitals__V1__Request *raw = vitals__v1__request__unpack(NULL, n, b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
	CU_ASSERT_STRING_EQUAL(raw->method, "vitals.v1.Metrics/Get");
	vitals__v1__request__free_unpacked(raw, NULL);
	CU_ASSERT_EQUAL(b[0], 0x0a);
	vt__pb_request r;
	CU_ASSERT_EQUAL_FATAL(vt__pb_request_decode(b, n, &r), VT_OK);
	CU_ASSERT_STRING_EQUAL(r.method, VT__M_METRICS);
	CU_ASSERT_EQUAL_FATAL(r.plen, sizeof(payload));
	CU_ASSERT_EQUAL(memcmp(r.payload, payload, sizeof(payload)), 0);
	vt__pb_request_fini(&r);
	free(b);

	/* A Response with a long, partly invalid message: cleaned and cut
	 * at 1024 bytes, never mid-character. */
	char text[3000];
	memset(text, 'a', sizeof(text));
	text[0] = '\xff';
	memcpy(text + 1022, "\xc3\xa9", 2); /* spans 1022..1023 after U+FFFD */
	text[sizeof(text) - 1] = '\0';
	vt__pb_response resp = {.code = VT__GRPC_INVALID_ARGUMENT,
				.message = text,
				.payload = payload,
				.plen = sizeof(payload)};
	size_t size = vt__pb_response_size(&resp);
	uint8_t *out = malloc(size);
	size_t len = 0;
	CU_ASSERT_EQUAL(vt__pb_response_pack(&resp, out, size - 1, &len),
			VT_ETOOBIG);
	CU_ASSERT_EQUAL_FATAL(vt__pb_response_pack(&resp, out, size, &len),
			      VT_OK);
	CU_ASSERT_EQUAL(len, size);
	vt__pb_response d;
	CU_ASSERT_EQUAL_FATAL(vt__pb_response_decode(out, len, &d), VT_OK);
	CU_ASSERT_EQUAL(d.code, 3);
	CU_ASSERT(strlen(d.message) <= 1024);
	CU_ASSERT(strlen(d.message) >= 1020);
	CU_ASSERT_EQUAL(memcmp(d.message,
			       "\xef\xbf\xbd"
			       "aaa",
			       6),
			0);
	CU_ASSERT_EQUAL(d.plen, sizeof(payload));
	vt__pb_response_fini(&d);
	free(out);
}

static void test_grpc_codes(void)
{
	static const struct {
		vt_err err;
		uint32_t code;
	} map[] = {
	    {VT_OK, 0},	       {VT_EINVAL, 3},	   {VT_EPROTO, 3},
	    {VT_ETOOBIG, 3},   {VT_ENOENT, 5},	   {VT_ECLOSED, 14},
	    {VT_EUNAVAIL, 14}, {VT_EFULL, 14},	   {VT_ETIMEDOUT, 14},
	    {VT_ENOMEM, 13},   {VT_EINTERNAL, 13}, {VT_EIO, 13},
	    {VT_EEXIST, 13},   {VT_EKIND, 13},	   {VT_EAUTH, 16},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		CU_ASSERT_EQUAL(vt__grpc_code(map[i].err), map[i].code);
	CU_ASSERT_EQUAL(vt__grpc_err(0), VT_OK);
	CU_ASSERT_EQUAL(vt__grpc_err(3), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__grpc_err(5), VT_ENOENT);
	CU_ASSERT_EQUAL(vt__grpc_err(12), VT_EPROTO);
	CU_ASSERT_EQUAL(vt__grpc_err(13), VT_EINTERNAL);
	CU_ASSERT_EQUAL(vt__grpc_err(14), VT_EUNAVAIL);
	CU_ASSERT_EQUAL(vt__grpc_err(16), VT_EAUTH);
	CU_ASSERT_EQUAL(vt__grpc_err(99), VT_EPROTO);
}

int main(void)
{
	fixtures_init();
	static const vt_test tests[] = {
	    {"health round trip", test_health_round_trip},
	    {"health empty, each status", test_health_empty_and_each_status},
	    {"health invalid UTF-8 cleaned", test_health_invalid_utf8_cleaned},
	    {"health encode refuses malformed",
	     test_health_encode_refuses_malformed},
	    {"metrics round trip", test_metrics_round_trip},
	    {"metrics round trip of a registry",
	     test_metrics_round_trip_registry},
	    {"metrics encode refuses malformed",
	     test_metrics_encode_refuses_malformed},
	    {"decode garbage", test_decode_garbage},
	    {"decode truncated", test_decode_truncated},
	    {"decode out of range", test_decode_out_of_range},
	    {"health request", test_health_request},
	    {"metrics request", test_metrics_request},
	    {"grpc.health.v1 messages", test_grpc_messages},
	    {"envelope", test_envelope},
	    {"gRPC codes", test_grpc_codes},
	    {NULL, NULL},
	};
	return vt_test_main("protobuf", tests);
}
