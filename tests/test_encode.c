/*
 * test_encode.c - the encoders: JSON /health and /metrics and Prometheus
 * text, on hand-built snapshots. Outputs are compared with golden files
 * (tests/golden/), parsed back with cJSON and checked field by field, and
 * the Prometheus text is fed to promtool. Numbers are checked against a
 * printf/strtod reference for shortest round-trip form.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "encode/textfmt.h"
#include "testutil.h"
#include "vitals/encode.h"

/* ---- fixtures ---------------------------------------------------------- */

#define NBOUNDS 11
static const double default_bounds[NBOUNDS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const uint64_t dur_cum[NBOUNDS + 1] = {0, 0, 0, 0, 0, 0,
					      2, 2, 2, 2, 2, 2};
static const uint64_t zero_cum[NBOUNDS + 1] = {0};
static const double rpc_bounds[4] = {0.001, 0.01, 0.1, 1};
static const uint64_t rpc_cum[5] = {1, 2, 3, 3, 3};

static const vt_label cache_l1[] = {{"cache", "l1"}};
static const vt_label cache_l2[] = {{"cache", "l2"}};
static const vt_label esc_quote[] = {{"path", "say \"hi\""}};
static const vt_label esc_backslash[] = {{"path", "C:\\dir\\"}};
static const vt_label esc_newline[] = {{"path", "line1\nline2"}};
static const vt_label esc_utf8[] = {{"path", "h\xc3\xa9llo \xe2\x9c\x93 "
					     "\xe6\x97\xa5\xe6\x9c\xac"}};
static const vt_label esc_badutf8[] = {{"path", "bad\xff"
						"byte"}};
static const vt_label http_get[] = {
    {"method", "GET"}, {"route", "/health"}, {"status", "200"}};
static const vt_label http_post[] = {
    {"method", "POST"}, {"route", "/orders"}, {"status", "503"}};
static const vt_label nf_nan[] = {{"v", "nan"}};
static const vt_label nf_pinf[] = {{"v", "pinf"}};
static const vt_label nf_ninf[] = {{"v", "ninf"}};
static const vt_label nf_neg[] = {{"v", "neg"}};
static const vt_label nf_big[] = {{"v", "big"}};
static const vt_label nf_tiny[] = {{"v", "tiny"}};
static const vt_label nf_million[] = {{"v", "million"}};
static const vt_label rpc_check[] = {{"method", "Check"}};

#define SERIES(lbl, v)                                                         \
	{                                                                      \
		.labels = (lbl), .nlabels = sizeof(lbl) / sizeof((lbl)[0]),    \
		.value = (v)                                                   \
	}

static const vt_series_snap s_active[] = {{.value = 42}};
static const vt_series_snap s_api[] = {{.value = 3}};
static const vt_series_snap s_cache[] = {SERIES(cache_l1, 10),
					 SERIES(cache_l2, 2.5)};
static const vt_series_snap s_esc[] = {
    SERIES(esc_quote, 1), SERIES(esc_backslash, 2), SERIES(esc_newline, 3),
    SERIES(esc_utf8, 4), SERIES(esc_badutf8, 5)};
static const vt_series_snap s_help[] = {{.value = 0.25}};
static const vt_series_snap s_http[] = {SERIES(http_get, 7),
					SERIES(http_post, 1)};
static vt_series_snap s_nonfinite[] = {
    SERIES(nf_nan, 0),		SERIES(nf_pinf, 0),	 SERIES(nf_ninf, 0),
    SERIES(nf_neg, -0.5),	SERIES(nf_big, 1.5e300), SERIES(nf_tiny, 1e-7),
    SERIES(nf_million, 1234567)};
static vt_series_snap s_qempty[1];
static vt_series_snap s_dur[1];
static vt_series_snap s_rpc[1];

static const vt_family_snap rich_families[] = {
    {"active_connections", "Open client connections.", VT_GAUGE, 1, s_active},
    {"api_requests_total", "Requests served.", VT_COUNTER, 1, s_api},
    {"cache_hits", "", VT_COUNTER, 2, s_cache},
    {"empty_family", "Never used.", VT_GAUGE, 0, NULL},
    {"escapes", "Label values that need escaping.", VT_GAUGE, 5, s_esc},
    {"help_escapes", "Line one\nback\\slash \"quoted\" \xc3\xa9", VT_GAUGE, 1,
     s_help},
    {"http_requests_total", "HTTP requests by method, route and status.",
     VT_COUNTER, 2, s_http},
    {"nonfinite", "Gauges at the edges of double.", VT_GAUGE, 7, s_nonfinite},
    {"queue_wait_seconds", "Never observed.", VT_HISTOGRAM, 1, s_qempty},
    {"request_duration_seconds", "Request latency.", VT_HISTOGRAM, 1, s_dur},
    {"rpc_latency_seconds", "", VT_HISTOGRAM, 1, s_rpc},
};

static const vt_metrics_snapshot rich = {
    sizeof(rich_families) / sizeof(rich_families[0]), rich_families};

static const char *const tags_ready[] = {"ready"};
static const char *const tags_live_ready[] = {"live", "ready"};
static const vt_detail api_details[] = {
    {.key = "endpoint",
     .kind = VT_DETAIL_STR,
     .str = "http://127.0.0.1:9000/ping"},
    {.key = "latency_ms", .kind = VT_DETAIL_NUM, .num = 250.5},
    {.key = "cached", .kind = VT_DETAIL_BOOL, .b = false},
};
static vt_detail redis_details[] = {
    {.key = "reachable", .kind = VT_DETAIL_BOOL, .b = true},
    {.key = "clients", .kind = VT_DETAIL_NUM, .num = 3},
    {.key = "ratio", .kind = VT_DETAIL_NUM, .num = 0},
    {.key = "note", .kind = VT_DETAIL_STR, .str = "caf\xc3\xa9 \"x\"\t"},
};

static const vt_component components[] = {
    {.name = "api",
     .status = VT_DEGRADED,
     .critical = false,
     .tags = tags_ready,
     .ntags = 1,
     .details = api_details,
     .ndetails = 3,
     .error = NULL,
     .last_check_time = 1764000000.1,
     .duration_ms = 250.5,
     .consecutive_failures = 0,
     .last_status_change = 1763999000.5,
     .stale = false},
    {.name = "disk",
     .status = VT_HEALTHY,
     .critical = true,
     .tags = tags_live_ready,
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
     .consecutive_failures = 4,
     .last_status_change = 1763999990.25,
     .stale = true},
};

static const vt_health_snapshot health = {
    .status = VT_UNHEALTHY,
    .timestamp = 1764000000.123,
    .ncomponents = sizeof(components) / sizeof(components[0]),
    .components = components,
};

/* Fills the parts that are not constant expressions. */
static void fixtures_init(void)
{
	s_nonfinite[0].value = NAN;
	s_nonfinite[1].value = INFINITY;
	s_nonfinite[2].value = -INFINITY;
	redis_details[2].num = NAN; /* a detail JSON cannot hold */

	vt_hist_summary *q = &s_qempty[0].hist;
	q->count = 0;
	q->sum = 0;
	q->min = q->max = NAN;
	q->p50 = q->p90 = q->p95 = q->p99 = q->p999 = NAN;
	q->nbounds = NBOUNDS;
	q->le_bounds = default_bounds;
	q->le_cumulative = zero_cum;

	vt_hist_summary *d = &s_dur[0].hist;
	d->count = 2;
	d->sum = 0.9;
	d->min = 0.4;
	d->max = 0.5;
	d->p50 = 0.4;
	d->p90 = d->p95 = d->p99 = d->p999 = 0.5;
	d->nbounds = NBOUNDS;
	d->le_bounds = default_bounds;
	d->le_cumulative = dur_cum;

	s_rpc[0].labels = rpc_check;
	s_rpc[0].nlabels = 1;
	vt_hist_summary *r = &s_rpc[0].hist;
	r->count = 3;
	r->sum = 0.0005 + 0.005 + 0.05;
	r->min = 0.0005;
	r->max = 0.05;
	r->p50 = 0.005;
	r->p90 = r->p95 = r->p99 = r->p999 = 0.05;
	r->nbounds = 4;
	r->le_bounds = rpc_bounds;
	r->le_cumulative = rpc_cum;
}

/* ---- helpers ----------------------------------------------------------- */

static char *must_json_metrics(const vt_metrics_snapshot *s, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_json_metrics(s, &out, &n) == VT_OK);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT(strlen(out) == n);
	if (len != NULL)
		*len = n;
	return out;
}

static char *must_prom(const vt_metrics_snapshot *s, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_prom_metrics(s, &out, &n) == VT_OK);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT(strlen(out) == n);
	if (len != NULL)
		*len = n;
	return out;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (m == NULL)
		fprintf(stderr, "missing member %s\n", key);
	return m;
}

static double num_of(const cJSON *obj, const char *key)
{
	const cJSON *m = member(obj, key);
	CU_ASSERT(cJSON_IsNumber(m));
	return cJSON_IsNumber(m) ? m->valuedouble : NAN;
}

static int is_null(const cJSON *obj, const char *key)
{
	return cJSON_IsNull(member(obj, key));
}

static const char *str_of(const cJSON *obj, const char *key)
{
	const cJSON *m = member(obj, key);
	CU_ASSERT(cJSON_IsString(m));
	return cJSON_IsString(m) ? m->valuestring : "";
}

/* Asserts the members of obj are exactly keys[], in this order. */
static void assert_keys(const cJSON *obj, const char *const *keys, size_t n)
{
	size_t i = 0;
	for (const cJSON *c = obj->child; c != NULL; c = c->next, i++) {
		CU_ASSERT(i < n);
		if (i < n && strcmp(c->string, keys[i]) != 0) {
			fprintf(stderr, "member %zu: %s, want %s\n", i,
				c->string, keys[i]);
			CU_FAIL("member order");
		}
	}
	CU_ASSERT(i == n);
}

/* Runs promtool check metrics on text; returns its exit status (or -1)
 * and prints what it said. */
static int promtool_check(const char *text, size_t len)
{
	char path[] = "/tmp/vt_test_encode_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return -1;
	}
	int ok = fwrite(text, 1, len, f) == len;
	ok &= fclose(f) == 0;
	int rc = -1;
	char cmd[1200];
	if (ok && snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s' 2>&1",
			   VT_TEST_PROMTOOL, path) < (int)sizeof(cmd)) {
		FILE *p = popen(cmd, "r");
		if (p != NULL) {
			char line[512];
			while (fgets(line, sizeof(line), p) != NULL)
				fprintf(stderr, "promtool: %s", line);
			int st = pclose(p);
			if (st != -1 && WIFEXITED(st))
				rc = WEXITSTATUS(st);
		}
	}
	unlink(path);
	return rc;
}

/* ---- numbers ----------------------------------------------------------- */

/* Strips trailing zeros of d into *e10. */
static void norm(uint64_t *d, int *e10)
{
	while (*d != 0 && *d % 10 == 0) {
		*d /= 10;
		(*e10)++;
	}
}

static double dec_value(uint64_t d, int e10)
{
	char b[48];
	snprintf(b, sizeof(b), "%llue%d", (unsigned long long)d, e10);
	return strtod(b, NULL);
}

/* Checks Ryu's d * 10^e against brute force: it reads back as v; no
 * decimal with fewer digits does (printf's correctly rounded p digits or
 * their neighbours, since at a power of two the interval is lopsided);
 * and when printf's rounding to as many digits reads back, it is that
 * one (the nearest). */
static int shortest_ok(double v, uint64_t d, int e)
{
	if (dec_value(d, e) != v)
		return 0;
	char s[32];
	int nd = (int)vt__num_u64(s, d);
	for (int p = 1; p <= nd; p++) {
		char b[64];
		snprintf(b, sizeof(b), "%.*e", p - 1, v);
		const char *x = strchr(b, 'e');
		uint64_t m = 0;
		for (const char *c = b; c < x; c++)
			if (*c >= '0' && *c <= '9')
				m = m * 10 + (uint64_t)(*c - '0');
		int me = atoi(x + 1) - (p - 1);
		for (int k = -1; k <= 1; k++) {
			uint64_t mk = m + (uint64_t)k;
			if (dec_value(mk, me) != v)
				continue;
			if (p < nd)
				return 0; /* a shorter one exists */
			if (k == 0) {
				norm(&mk, &me);
				return mk == d && me == e;
			}
		}
	}
	return 1;
}

static void test_num_shortest(void)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int bad = 0;
	for (int i = 0; i < 40000; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		double v;
		if (i % 2 == 0) {
			memcpy(&v, &rng, sizeof(v)); /* any bit pattern */
		} else if (i % 4 == 1) {
			v = (double)(rng % 1000000) / 1000; /* latency-like */
		} else {
			/* powers of two and log-bucket bounds */
			v = exp2((double)(rng % 4096) / 32 - 64);
		}
		if (!isfinite(v) || v == 0)
			continue;
		v = fabs(v);
		uint64_t d;
		int e;
		vt__num_shortest(v, &d, &e);
		char p[VT__NUM_MAX], j[VT__NUM_MAX];
		vt__num_prom(p, v);
		vt__num_json(j, v);
		if (!shortest_ok(v, d, e) || strtod(p, NULL) != v ||
		    strtod(j, NULL) != v) {
			if (bad++ < 5)
				fprintf(stderr, "%.17g: %llue%d (%s, %s)\n", v,
					(unsigned long long)d, e, p, j);
		}
	}
	CU_ASSERT(bad == 0);
	/* 2^-24 = 5.9604644775390625e-08: printf's 16 digits (...062)
	 * fall outside the narrow lower half-gap, ...063 does not. */
	uint64_t d;
	int e;
	vt__num_shortest(0x1p-24, &d, &e);
	CU_ASSERT(d == 5960464477539063ull && e == -23);
}

static void test_num_layout(void)
{
	static const struct {
		double v;
		const char *prom, *json;
	} cases[] = {
	    {0, "0", "0"},
	    {1, "1", "1"},
	    {3, "3", "3"},
	    {-1, "-1", "-1"},
	    {0.005, "0.005", "0.005"},
	    {2.5, "2.5", "2.5"},
	    {0.9, "0.9", "0.9"},
	    {0.45, "0.45", "0.45"},
	    {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
	    {1e-6, "1e-06", "0.000001"},
	    {1e-7, "1e-07", "1e-7"},
	    {0.0001, "0.0001", "0.0001"},
	    {0.00001, "1e-05", "0.00001"},
	    {100000, "100000", "100000"},
	    {1234567, "1.234567e+06", "1234567"},
	    {1764000000.123, "1.764000000123e+09", "1764000000.123"},
	    {1e21, "1e+21", "1e+21"},
	    {1e20, "1e+20", "100000000000000000000"},
	    {-0.5, "-0.5", "-0.5"},
	    {1.5e300, "1.5e+300", "1.5e+300"},
	    {5e-324, "5e-324", "5e-324"},
	    {1.7976931348623157e308, "1.7976931348623157e+308",
	     "1.7976931348623157e+308"},
	    {9007199254740993.0, "9.007199254740992e+15", "9007199254740992"},
	    {NAN, "NaN", "null"},
	    {INFINITY, "+Inf", "null"},
	    {-INFINITY, "-Inf", "null"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[VT__NUM_MAX], j[VT__NUM_MAX];
		size_t pn = vt__num_prom(p, cases[i].v);
		size_t jn = vt__num_json(j, cases[i].v);
		if (strcmp(p, cases[i].prom) != 0 ||
		    strcmp(j, cases[i].json) != 0) {
			fprintf(stderr,
				"%.17g: prom %s want %s, json %s want %s\n",
				cases[i].v, p, cases[i].prom, j, cases[i].json);
			CU_FAIL("number layout");
		}
		CU_ASSERT(pn == strlen(p) && jn == strlen(j));
	}
	char neg0[VT__NUM_MAX];
	vt__num_prom(neg0, -0.0);
	CU_ASSERT_STRING_EQUAL(neg0, "0");
	vt__num_json(neg0, -0.0);
	CU_ASSERT_STRING_EQUAL(neg0, "0");
	char u[VT__NUM_MAX];
	CU_ASSERT(vt__num_u64(u, UINT64_MAX) == 20);
	CU_ASSERT_STRING_EQUAL(u, "18446744073709551615");
	vt__num_u64(u, 0);
	CU_ASSERT_STRING_EQUAL(u, "0");
}

/* s escaped by mode, malloc'd. */
static char *escaped(const char *s, vt__esc_mode mode)
{
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, 1 << 20);
	vt__tw_init(&w, &b);
	vt__tw_escape(&w, s, mode);
	vt__tw_flush(&w);
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt__buf_take(&b, &out, &n) == VT_OK);
	CU_ASSERT(strlen(out) == n);
	return out;
}

static void test_escape(void)
{
	static const struct {
		vt__esc_mode mode;
		const char *in, *want;
	} cases[] = {
	    {VT__ESC_PROM_LABEL, "plain", "plain"},
	    {VT__ESC_PROM_LABEL, "a\"b\\c\nd\te", "a\\\"b\\\\c\\nd\te"},
	    {VT__ESC_PROM_HELP, "a\"b\\c\nd\te", "a\"b\\\\c\\nd\te"},
	    {VT__ESC_JSON, "a\"b\\c\nd\te\x01\x7f/",
	     "a\\\"b\\\\c\\nd\\te\\u0001\x7f/"},
	    {VT__ESC_JSON, "\b\f\r\x1f", "\\b\\f\\r\\u001f"},
	    /* a label value inside a JSON series key: both escapes */
	    {VT__ESC_JSON_PROM_LABEL, "a\"b\\c\nd\te",
	     "a\\\\\\\"b\\\\\\\\c\\\\nd\\te"},
	    /* UTF-8 kept; anything else replaced by U+FFFD, byte by byte */
	    {VT__ESC_PROM_LABEL, "\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80",
	     "\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80"},
	    {VT__ESC_PROM_LABEL,
	     "a\xff"
	     "b",
	     "a\xef\xbf\xbd"
	     "b"},
	    {VT__ESC_JSON, "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {VT__ESC_PROM_HELP, "\xed\xa0\x80",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {VT__ESC_JSON_PROM_LABEL, "x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd"},
	    {VT__ESC_JSON, "\xf4\x90\x80\x80",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = escaped(cases[i].in, cases[i].mode);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "case %zu: got \"%s\"\n", i, got);
			CU_FAIL("escape");
		}
		free(got);
	}
	/* Longer than the writer's chunk: goes straight through. */
	size_t big = 3 * sizeof(((vt__tw *)0)->chunk) + 7;
	char *in = malloc(big + 1);
	CU_ASSERT_FATAL(in != NULL);
	for (size_t i = 0; i < big; i++)
		in[i] = i % 1000 == 999 ? '"' : (char)('a' + i % 26);
	in[big] = '\0';
	char *got = escaped(in, VT__ESC_JSON);
	CU_ASSERT(strlen(got) == big + big / 1000);
	cJSON *parsed = NULL;
	size_t glen = strlen(got);
	char *quoted = malloc(glen + 3);
	CU_ASSERT_FATAL(quoted != NULL);
	quoted[0] = '"';
	memcpy(quoted + 1, got, glen);
	memcpy(quoted + 1 + glen, "\"", 2);
	parsed = cJSON_Parse(quoted);
	CU_ASSERT(cJSON_IsString(parsed) &&
		  strcmp(parsed->valuestring, in) == 0);
	cJSON_Delete(parsed);
	free(quoted);
	free(got);
	free(in);
}

/* ---- JSON /metrics ----------------------------------------------------- */

static void test_json_metrics_golden(void)
{
	size_t n;
	char *out = must_json_metrics(&rich, &n);
	CU_ASSERT(vt_test_golden("metrics.json", out, n));
	free(out);
}

static void test_json_metrics_parse(void)
{
	size_t n;
	char *out = must_json_metrics(&rich, &n);
	cJSON *root = cJSON_ParseWithLength(out, n);
	CU_ASSERT_FATAL(cJSON_IsObject(root));

	/* One member per series, in snapshot order; empty families absent. */
	static const char *const keys[] = {
	    "active_connections",
	    "api_requests_total",
	    "cache_hits{cache=\"l1\"}",
	    "cache_hits{cache=\"l2\"}",
	    "escapes{path=\"say \\\"hi\\\"\"}",
	    "escapes{path=\"C:\\\\dir\\\\\"}",
	    "escapes{path=\"line1\\nline2\"}",
	    "escapes{path=\"h\xc3\xa9llo \xe2\x9c\x93 "
	    "\xe6\x97\xa5\xe6\x9c\xac\"}",
	    "escapes{path=\"bad\xef\xbf\xbd"
	    "byte\"}",
	    "help_escapes",
	    "http_requests_total{method=\"GET\",route=\"/health\","
	    "status=\"200\"}",
	    "http_requests_total{method=\"POST\",route=\"/orders\","
	    "status=\"503\"}",
	    "nonfinite{v=\"nan\"}",
	    "nonfinite{v=\"pinf\"}",
	    "nonfinite{v=\"ninf\"}",
	    "nonfinite{v=\"neg\"}",
	    "nonfinite{v=\"big\"}",
	    "nonfinite{v=\"tiny\"}",
	    "nonfinite{v=\"million\"}",
	    "queue_wait_seconds",
	    "request_duration_seconds",
	    "rpc_latency_seconds{method=\"Check\"}",
	};
	assert_keys(root, keys, sizeof(keys) / sizeof(keys[0]));

	const cJSON *c = member(root, "api_requests_total");
	static const char *const counter_keys[] = {"type", "value"};
	assert_keys(c, counter_keys, 2);
	CU_ASSERT_STRING_EQUAL(str_of(c, "type"), "counter");
	CU_ASSERT(num_of(c, "value") == 3);
	CU_ASSERT(strstr(out, "\"api_requests_total\":{\"type\":\"counter\","
			      "\"value\":3}") != NULL); /* 3, not 3.0 */
	const cJSON *g = member(root, "active_connections");
	CU_ASSERT_STRING_EQUAL(str_of(g, "type"), "gauge");
	CU_ASSERT(num_of(g, "value") == 42);

	/* Labelled: "labels" right after "type", values unescaped. */
	const cJSON *h = member(root, "http_requests_total{method=\"POST\","
				      "route=\"/orders\",status=\"503\"}");
	static const char *const lkeys[] = {"type", "labels", "value"};
	assert_keys(h, lkeys, 3);
	const cJSON *l = member(h, "labels");
	static const char *const hl[] = {"method", "route", "status"};
	assert_keys(l, hl, 3);
	CU_ASSERT_STRING_EQUAL(str_of(l, "route"), "/orders");
	CU_ASSERT(num_of(h, "value") == 1);
	const cJSON *e = member(root, "escapes{path=\"line1\\nline2\"}");
	CU_ASSERT_STRING_EQUAL(str_of(member(e, "labels"), "path"),
			       "line1\nline2");
	e = member(root, "escapes{path=\"say \\\"hi\\\"\"}");
	CU_ASSERT_STRING_EQUAL(str_of(member(e, "labels"), "path"),
			       "say \"hi\"");
	CU_ASSERT(num_of(member(root, "cache_hits{cache=\"l2\"}"), "value") ==
		  2.5);

	/* JSON has no NaN or Inf. */
	CU_ASSERT(is_null(member(root, "nonfinite{v=\"nan\"}"), "value"));
	CU_ASSERT(is_null(member(root, "nonfinite{v=\"pinf\"}"), "value"));
	CU_ASSERT(is_null(member(root, "nonfinite{v=\"ninf\"}"), "value"));
	CU_ASSERT(num_of(member(root, "nonfinite{v=\"big\"}"), "value") ==
		  1.5e300);
	CU_ASSERT(num_of(member(root, "nonfinite{v=\"tiny\"}"), "value") ==
		  1e-7);

	const cJSON *d = member(root, "request_duration_seconds");
	static const char *const hkeys[] = {"type", "count", "sum", "avg",
					    "min",  "max",   "p50", "p90",
					    "p95",  "p99",   "p999"};
	assert_keys(d, hkeys, sizeof(hkeys) / sizeof(hkeys[0]));
	CU_ASSERT_STRING_EQUAL(str_of(d, "type"), "histogram");
	CU_ASSERT(num_of(d, "count") == 2);
	CU_ASSERT(num_of(d, "sum") == 0.9);
	CU_ASSERT(num_of(d, "avg") == 0.45);
	CU_ASSERT(num_of(d, "min") == 0.4);
	CU_ASSERT(num_of(d, "max") == 0.5);
	CU_ASSERT(num_of(d, "p50") == 0.4);
	CU_ASSERT(num_of(d, "p999") == 0.5);

	const cJSON *q = member(root, "queue_wait_seconds");
	assert_keys(q, hkeys, sizeof(hkeys) / sizeof(hkeys[0]));
	CU_ASSERT(num_of(q, "count") == 0);
	CU_ASSERT(num_of(q, "sum") == 0);
	static const char *const nulls[] = {"avg", "min", "max", "p50",
					    "p90", "p95", "p99", "p999"};
	for (size_t i = 0; i < 8; i++)
		CU_ASSERT(is_null(q, nulls[i]));

	const cJSON *r = member(root, "rpc_latency_seconds{method=\"Check\"}");
	static const char *const rkeys[] = {"type", "labels", "count", "sum",
					    "avg",  "min",    "max",   "p50",
					    "p90",  "p95",    "p99",   "p999"};
	assert_keys(r, rkeys, sizeof(rkeys) / sizeof(rkeys[0]));
	CU_ASSERT(num_of(r, "avg") == s_rpc[0].hist.sum / 3);

	cJSON_Delete(root);
	free(out);
}

static void test_json_metrics_empty(void)
{
	vt_metrics_snapshot none = {0, NULL};
	char *out = must_json_metrics(&none, NULL);
	CU_ASSERT_STRING_EQUAL(out, "{}");
	free(out);
	vt_family_snap only_empty = {"x", "", VT_GAUGE, 0, NULL};
	vt_metrics_snapshot s = {1, &only_empty};
	out = must_json_metrics(&s, NULL);
	CU_ASSERT_STRING_EQUAL(out, "{}");
	free(out);
}

/* ---- JSON /health ------------------------------------------------------ */

static void test_json_health_golden(void)
{
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_json_health(&health, &out, &n) == VT_OK);
	CU_ASSERT(strlen(out) == n);
	CU_ASSERT(vt_test_golden("health.json", out, n));
	free(out);
}

static void test_json_health_parse(void)
{
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_json_health(&health, &out, &n) == VT_OK);
	cJSON *root = cJSON_ParseWithLength(out, n);
	CU_ASSERT_FATAL(cJSON_IsObject(root));
	static const char *const top[] = {"status", "timestamp", "components"};
	assert_keys(root, top, 3);
	CU_ASSERT_STRING_EQUAL(str_of(root, "status"), "unhealthy");
	CU_ASSERT(num_of(root, "timestamp") == 1764000000.123);
	CU_ASSERT(strstr(out, "\"timestamp\":1764000000.123,") != NULL);

	const cJSON *comps = member(root, "components");
	CU_ASSERT_FATAL(cJSON_IsArray(comps));
	CU_ASSERT_FATAL(cJSON_GetArraySize(comps) == 4);
	static const char *const ckeys[] = {"name",
					    "status",
					    "details",
					    "last_check_time",
					    "error",
					    "duration_ms",
					    "critical",
					    "tags",
					    "consecutive_failures",
					    "last_status_change",
					    "stale"};
	const cJSON *c;
	cJSON_ArrayForEach(c, comps)
	{
		assert_keys(c, ckeys, sizeof(ckeys) / sizeof(ckeys[0]));
	}

	const cJSON *api = cJSON_GetArrayItem(comps, 0);
	CU_ASSERT_STRING_EQUAL(str_of(api, "name"), "api");
	CU_ASSERT_STRING_EQUAL(str_of(api, "status"), "degraded");
	const cJSON *det = member(api, "details");
	CU_ASSERT_FATAL(cJSON_IsObject(det));
	CU_ASSERT_STRING_EQUAL(str_of(det, "endpoint"),
			       "http://127.0.0.1:9000/ping");
	CU_ASSERT(num_of(det, "latency_ms") == 250.5);
	CU_ASSERT(cJSON_IsFalse(member(det, "cached")));
	CU_ASSERT(is_null(api, "error"));
	CU_ASSERT(num_of(api, "last_check_time") == 1764000000.1);
	CU_ASSERT(num_of(api, "last_status_change") == 1763999000.5);
	CU_ASSERT(cJSON_IsFalse(member(api, "critical")));
	CU_ASSERT(cJSON_IsFalse(member(api, "stale")));
	CU_ASSERT(num_of(api, "consecutive_failures") == 0);

	const cJSON *disk = cJSON_GetArrayItem(comps, 1);
	CU_ASSERT_STRING_EQUAL(str_of(disk, "status"), "healthy");
	CU_ASSERT(is_null(disk, "details"));
	CU_ASSERT(num_of(disk, "duration_ms") == 0.4);
	const cJSON *tags = member(disk, "tags");
	CU_ASSERT(cJSON_IsArray(tags) && cJSON_GetArraySize(tags) == 2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(tags, 1)->valuestring,
			       "ready");

	const cJSON *never = cJSON_GetArrayItem(comps, 2);
	CU_ASSERT(is_null(never, "last_check_time"));
	CU_ASSERT(is_null(never, "last_status_change"));
	CU_ASSERT(is_null(never, "details"));
	CU_ASSERT_STRING_EQUAL(str_of(never, "error"), "no result yet");
	CU_ASSERT(cJSON_GetArraySize(member(never, "tags")) == 0);

	const cJSON *redis = cJSON_GetArrayItem(comps, 3);
	CU_ASSERT_STRING_EQUAL(str_of(redis, "error"), components[3].error);
	CU_ASSERT(cJSON_IsTrue(member(redis, "stale")));
	CU_ASSERT(num_of(redis, "consecutive_failures") == 4);
	CU_ASSERT(num_of(redis, "duration_ms") == 2000);
	det = member(redis, "details");
	CU_ASSERT(cJSON_IsTrue(member(det, "reachable")));
	CU_ASSERT(num_of(det, "clients") == 3);
	CU_ASSERT(is_null(det, "ratio"));
	CU_ASSERT_STRING_EQUAL(str_of(det, "note"), redis_details[3].str);

	cJSON_Delete(root);
	free(out);
}

/* GET /health/NAME: the same object as inside /health. */
static void test_json_component(void)
{
	char *all = NULL, *one = NULL;
	size_t n = 0, m = 0;
	CU_ASSERT_FATAL(vt_json_health(&health, &all, &n) == VT_OK);
	for (size_t i = 0; i < health.ncomponents; i++) {
		CU_ASSERT_FATAL(vt_json_component(&components[i], &one, &m) ==
				VT_OK);
		CU_ASSERT(one[0] == '{' && one[m - 1] == '}');
		CU_ASSERT(strstr(all, one) != NULL);
		free(one);
	}
	free(all);
	CU_ASSERT_FATAL(vt_json_component(&components[0], &one, &m) == VT_OK);
	CU_ASSERT(vt_test_golden("component.json", one, m));
	free(one);
}

static void test_json_health_empty(void)
{
	vt_health_snapshot s = {VT_HEALTHY, 1764000000, 0, NULL, 0};
	char *out = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_json_health(&s, &out, &n) == VT_OK);
	CU_ASSERT_STRING_EQUAL(out, "{\"status\":\"healthy\","
				    "\"timestamp\":1764000000,"
				    "\"components\":[]}");
	free(out);
}

/* ---- Prometheus text --------------------------------------------------- */

static void test_prom_golden(void)
{
	size_t n;
	char *out = must_prom(&rich, &n);
	CU_ASSERT(vt_test_golden("metrics.prom", out, n));
	free(out);
}

static void test_prom_shape(void)
{
	char *out = must_prom(&rich, NULL);
	/* Counter without _total: exposed with it, everywhere. */
	CU_ASSERT(strstr(out, "# HELP cache_hits_total No help text "
			      "registered.\n# TYPE cache_hits_total counter\n"
			      "cache_hits_total{cache=\"l1\"} 10\n"
			      "cache_hits_total{cache=\"l2\"} 2.5\n") != NULL);
	CU_ASSERT(strstr(out, "\ncache_hits{") == NULL);
	CU_ASSERT(strstr(out, "# TYPE api_requests_total counter\n"
			      "api_requests_total 3\n") != NULL);
	/* Empty family left out. */
	CU_ASSERT(strstr(out, "empty_family") == NULL);
	/* HELP escapes backslash and newline, not quotes. */
	CU_ASSERT(strstr(out, "# HELP help_escapes Line one\\nback\\\\slash "
			      "\"quoted\" \xc3\xa9\n") != NULL);
	CU_ASSERT(strstr(out, "escapes{path=\"say \\\"hi\\\"\"} 1\n") != NULL);
	CU_ASSERT(strstr(out, "escapes{path=\"C:\\\\dir\\\\\"} 2\n") != NULL);
	CU_ASSERT(strstr(out, "escapes{path=\"line1\\nline2\"} 3\n") != NULL);
	CU_ASSERT(strstr(out, "nonfinite{v=\"nan\"} NaN\n") != NULL);
	CU_ASSERT(strstr(out, "nonfinite{v=\"pinf\"} +Inf\n") != NULL);
	CU_ASSERT(strstr(out, "nonfinite{v=\"ninf\"} -Inf\n") != NULL);
	CU_ASSERT(strstr(out, "nonfinite{v=\"million\"} 1.234567e+06\n") !=
		  NULL);
	/* Histograms: cumulative buckets, +Inf = count, then sum, count. */
	CU_ASSERT(strstr(out,
			 "request_duration_seconds_bucket{le=\"0.25\"} 0\n"
			 "request_duration_seconds_bucket{le=\"0.5\"} 2\n") !=
		  NULL);
	CU_ASSERT(strstr(out, "request_duration_seconds_bucket{le=\"+Inf\"} 2\n"
			      "request_duration_seconds_sum 0.9\n"
			      "request_duration_seconds_count 2\n") != NULL);
	CU_ASSERT(strstr(out, "rpc_latency_seconds_bucket{method=\"Check\","
			      "le=\"0.001\"} 1\n") != NULL);
	CU_ASSERT(strstr(out, "queue_wait_seconds_bucket{le=\"+Inf\"} 0\n"
			      "queue_wait_seconds_sum 0\n"
			      "queue_wait_seconds_count 0\n") != NULL);
	/* Every line: a comment or "name[{...}] value", no timestamp. */
	size_t lines = 0;
	for (char *line = out; *line != '\0'; lines++) {
		char *nl = strchr(line, '\n');
		CU_ASSERT_FATAL(nl != NULL); /* ends with a newline */
		if (line[0] != '#') {
			char *sp = nl;
			while (sp > line && sp[-1] != ' ' && sp[-1] != '}')
				sp--;
			/* the value follows the last space after any '}' */
			CU_ASSERT(sp > line && sp[-1] == ' ');
			char *end;
			strtod(sp, &end);
			CU_ASSERT(end == nl);
		}
		line = nl + 1;
	}
	CU_ASSERT(lines > 60);
	free(out);
}

static void test_prom_promtool(void)
{
	size_t n;
	char *out = must_prom(&rich, &n);
	CU_ASSERT(promtool_check(out, n) == 0);
	free(out);

	/* The check can fail: a counter without _total, then a broken line. */
	static const char lint[] = "# HELP foo x\n# TYPE foo counter\nfoo 1\n";
	CU_ASSERT(promtool_check(lint, sizeof(lint) - 1) > 0);
	static const char broken[] =
	    "# HELP foo_total x\n# TYPE foo_total counter\n"
	    "foo_total{a=\"b} 1\n";
	CU_ASSERT(promtool_check(broken, sizeof(broken) - 1) > 0);
}

/* "jobs" counter next to a "jobs_total" family: the counter keeps its
 * name, so no family is declared twice. */
static void test_prom_total_collision(void)
{
	static const vt_series_snap one[] = {{.value = 1}};
	static const vt_series_snap two[] = {{.value = 2}};
	const vt_family_snap fams[] = {
	    {"jobs", "Jobs.", VT_COUNTER, 1, one},
	    {"jobs_total", "Also jobs.", VT_GAUGE, 1, two},
	    {"runs", "Runs.", VT_COUNTER, 1, one},
	};
	vt_metrics_snapshot s = {3, fams};
	char *out = must_prom(&s, NULL);
	CU_ASSERT_STRING_EQUAL(out,
			       "# HELP jobs Jobs.\n# TYPE jobs counter\n"
			       "jobs 1\n"
			       "# HELP jobs_total Also jobs.\n"
			       "# TYPE jobs_total gauge\njobs_total 2\n"
			       "# HELP runs_total Runs.\n"
			       "# TYPE runs_total counter\nruns_total 1\n");
	free(out);
}

static void test_prom_empty(void)
{
	vt_metrics_snapshot none = {0, NULL};
	size_t n = 99;
	char *out = must_prom(&none, &n);
	CU_ASSERT(n == 0 && out[0] == '\0');
	free(out);
}

/* ---- errors ------------------------------------------------------------ */

static void test_errors_null(void)
{
	char *sentinel = (char *)"untouched";
	char *out = sentinel;
	size_t len = 7;
	CU_ASSERT(vt_json_health(NULL, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_health(&health, NULL, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_health(&health, &out, NULL) == VT_EINVAL);
	CU_ASSERT(vt_json_component(NULL, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_component(&components[0], NULL, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_component(&components[0], &out, NULL) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(NULL, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(&rich, NULL, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(&rich, &out, NULL) == VT_EINVAL);
	CU_ASSERT(vt_prom_metrics(NULL, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_prom_metrics(&rich, NULL, &len) == VT_EINVAL);
	CU_ASSERT(vt_prom_metrics(&rich, &out, NULL) == VT_EINVAL);
	CU_ASSERT(out == sentinel && len == 7);
}

static void test_errors_malformed(void)
{
	char *sentinel = (char *)"untouched";
	char *out = sentinel;
	size_t len = 7;

	vt_health_snapshot h = health;
	h.status = (vt_status)7;
	CU_ASSERT(vt_json_health(&h, &out, &len) == VT_EINVAL);
	h = health;
	h.components = NULL;
	CU_ASSERT(vt_json_health(&h, &out, &len) == VT_EINVAL);
	vt_component c = components[0];
	c.name = NULL;
	CU_ASSERT(vt_json_component(&c, &out, &len) == VT_EINVAL);
	c = components[0];
	c.details = NULL;
	CU_ASSERT(vt_json_component(&c, &out, &len) == VT_EINVAL);

	/* An le bound out of order or infinite would repeat an le. */
	static const double bad_bounds[] = {0.1, 0.1};
	static const uint64_t cum[] = {0, 0, 0};
	vt_series_snap hs = {0};
	hs.hist.nbounds = 2;
	hs.hist.le_bounds = bad_bounds;
	hs.hist.le_cumulative = cum;
	vt_family_snap f = {"h", "", VT_HISTOGRAM, 1, &hs};
	vt_metrics_snapshot s = {1, &f};
	CU_ASSERT(vt_prom_metrics(&s, &out, &len) == VT_EINVAL);
	hs.hist.le_cumulative = NULL;
	CU_ASSERT(vt_prom_metrics(&s, &out, &len) == VT_EINVAL);

	/* A family without a name, after one whose "_total" lookup would
	 * read it. */
	const vt_family_snap unnamed[] = {
	    {"a", "", VT_COUNTER, 1, s_active},
	    {NULL, "", VT_GAUGE, 1, s_active},
	};
	vt_metrics_snapshot us = {2, unnamed};
	CU_ASSERT(vt_prom_metrics(&us, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(&us, &out, &len) == VT_EINVAL);

	vt_family_snap k = {"k", "", (vt_metric_kind)9, 1, s_active};
	vt_metrics_snapshot ks = {1, &k};
	CU_ASSERT(vt_prom_metrics(&ks, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(&ks, &out, &len) == VT_EINVAL);
	vt_series_snap nolabels = {.labels = NULL, .nlabels = 1};
	vt_family_snap nl = {"g", "", VT_GAUGE, 1, &nolabels};
	vt_metrics_snapshot nls = {1, &nl};
	CU_ASSERT(vt_prom_metrics(&nls, &out, &len) == VT_EINVAL);
	CU_ASSERT(vt_json_metrics(&nls, &out, &len) == VT_EINVAL);
	CU_ASSERT(out == sentinel && len == 7);
}

/* 80,000 series with a 1 KiB label value: over the 64 MiB cap in both
 * formats; a third of them fits. */
static void test_errors_too_big(void)
{
	enum { NSERIES = 80000, VLEN = 1024 };
	char *value = malloc(VLEN + 1);
	vt_series_snap *ss = calloc(NSERIES, sizeof(*ss));
	CU_ASSERT_FATAL(value != NULL && ss != NULL);
	memset(value, 'v', VLEN);
	value[VLEN] = '\0';
	vt_label label = {"big", value};
	for (size_t i = 0; i < NSERIES; i++) {
		ss[i].labels = &label;
		ss[i].nlabels = 1;
		ss[i].value = (double)i;
	}
	vt_family_snap f = {"big_gauge", "", VT_GAUGE, NSERIES, ss};
	vt_metrics_snapshot s = {1, &f};
	char *sentinel = (char *)"untouched";
	char *out = sentinel;
	size_t len = 7;
	CU_ASSERT(vt_prom_metrics(&s, &out, &len) == VT_ETOOBIG);
	CU_ASSERT(vt_json_metrics(&s, &out, &len) == VT_ETOOBIG);
	CU_ASSERT(out == sentinel && len == 7);

	f.nseries = NSERIES / 3;
	CU_ASSERT(vt_prom_metrics(&s, &out, &len) == VT_OK);
	CU_ASSERT(len > 20u << 20 && len < 64u << 20);
	if (out != sentinel)
		free(out);
	free(ss);
	free(value);
}

int main(void)
{
	fixtures_init();
	static const vt_test tests[] = {
	    {"num_shortest", test_num_shortest},
	    {"num_layout", test_num_layout},
	    {"escape", test_escape},
	    {"json_metrics_golden", test_json_metrics_golden},
	    {"json_metrics_parse", test_json_metrics_parse},
	    {"json_metrics_empty", test_json_metrics_empty},
	    {"json_health_golden", test_json_health_golden},
	    {"json_health_parse", test_json_health_parse},
	    {"json_component", test_json_component},
	    {"json_health_empty", test_json_health_empty},
	    {"prom_golden", test_prom_golden},
	    {"prom_shape", test_prom_shape},
	    {"prom_promtool", test_prom_promtool},
	    {"prom_total_collision", test_prom_total_collision},
	    {"prom_empty", test_prom_empty},
	    {"errors_null", test_errors_null},
	    {"errors_malformed", test_errors_malformed},
	    {"errors_too_big", test_errors_too_big},
	    {NULL, NULL},
	};
	return vt_test_main("encode", tests);
}
