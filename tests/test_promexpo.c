/*
 * test_promexpo.c - Prometheus' own formats: the protobuf exposition
 * (decoded here with the protoc-c code generated from the same
 * metrics.proto Prometheus reads), OpenMetrics text (checked by promtool
 * and by the strict OpenMetrics parser of Python's prometheus_client),
 * and the process metrics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/prometheus/client/metrics.pb-c.h"
#include "testutil.h"
#include "vitals/encode.h"
#include "vitals/metrics.h"

typedef Io__Prometheus__Client__MetricFamily pb_family;

/* A registry with a counter, a gauge and a labelled histogram. */
static vt_metrics *world(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT(vt_metrics_counter_add(m, "jobs", 7, NULL, 0) == VT_OK);
	CU_ASSERT(vt_metrics_set_gauge(m, "temp_celsius", 21.5) == VT_OK);
	vt_family *f;
	const char *ln[] = {"route"};
	CU_ASSERT_FATAL(vt_metrics_histogram_family(m, "req_seconds",
						    "Request time.", ln, 1,
						    NULL, 0, &f) == VT_OK);
	vt_histogram *h;
	const char *rv[] = {"/a\"b"};
	CU_ASSERT_FATAL(vt_family_series(f, rv, 1, &h) == VT_OK);
	/* 0, a log-spread run of positive values, one huge one. */
	vt_histogram_observe(h, 0);
	for (int i = 1; i <= 2000; i++)
		vt_histogram_observe(h, 1e-4 * pow(1.004, i));
	vt_histogram_observe(h, 1.0);
	vt_histogram_observe(h, 1e12);
	return m;
}

/* Splits buf into delimited MetricFamily messages, into fam[] (at most
 * cap); returns how many, -1 if any is malformed. */
static int decode(const char *buf, size_t len, pb_family **fam, int cap)
{
	const uint8_t *p = (const uint8_t *)buf, *end = p + len;
	int n = 0;
	while (p < end) {
		uint64_t sz = 0;
		int shift = 0;
		while (p < end && (*p & 0x80)) {
			sz |= (uint64_t)(*p++ & 0x7f) << shift;
			shift += 7;
		}
		if (p >= end || n >= cap)
			return -1;
		sz |= (uint64_t)*p++ << shift;
		if (sz > (uint64_t)(end - p))
			return -1;
		fam[n] =
		    io__prometheus__client__metric_family__unpack(NULL, sz, p);
		if (fam[n] == NULL)
			return -1;
		n++;
		p += sz;
	}
	return n;
}

static pb_family *find(pb_family **fam, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(fam[i]->name, name) == 0)
			return fam[i];
	return NULL;
}

/* Nearest-rank quantile q over the native buckets of h (upper bounds). */
static double native_quantile(const Io__Prometheus__Client__Histogram *h,
			      double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)h->sample_count);
	uint64_t seen = h->zero_count;
	if (seen >= rank)
		return 0;
	int64_t idx = 0, cnt = 0;
	size_t d = 0;
	for (size_t s = 0; s < h->n_positive_span; s++) {
		idx += h->positive_span[s]->offset;
		for (uint32_t k = 0; k < h->positive_span[s]->length; k++) {
			cnt += h->positive_delta[d++];
			seen += (uint64_t)cnt;
			if (seen >= rank)
				return pow(2.0, (double)idx / 32.0);
			idx++;
		}
	}
	return NAN;
}

static void test_protobuf_decodes(void)
{
	vt_metrics *m = world();
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	char *out = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_promproto_metrics(s, &out, &len) == VT_OK);
	pb_family *fam[8];
	int n = decode(out, len, fam, 8);
	CU_ASSERT_EQUAL_FATAL(n, 3);

	pb_family *c = find(fam, n, "jobs_total");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
	CU_ASSERT_STRING_EQUAL(c->help, "No help text registered.");
	CU_ASSERT_DOUBLE_EQUAL(c->metric[0]->counter->value, 7, 1e-12);
	pb_family *g = find(fam, n, "temp_celsius");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(g->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
	CU_ASSERT_DOUBLE_EQUAL(g->metric[0]->gauge->value, 21.5, 1e-12);

	pb_family *hf = find(fam, n, "req_seconds");
	CU_ASSERT_PTR_NOT_NULL_FATAL(hf);
	CU_ASSERT_EQUAL(hf->type,
			IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
	CU_ASSERT_STRING_EQUAL(hf->help, "Request time.");
	Io__Prometheus__Client__Metric *mm = hf->metric[0];
	CU_ASSERT_EQUAL_FATAL(mm->n_label, 1);
	CU_ASSERT_STRING_EQUAL(mm->label[0]->name, "route");
	CU_ASSERT_STRING_EQUAL(mm->label[0]->value, "/a\"b");
	const Io__Prometheus__Client__Histogram *h = mm->histogram;
	const vt_series_snap *ss = NULL;
	for (size_t i = 0; i < s->nfamilies; i++)
		if (strcmp(s->families[i].name, "req_seconds") == 0)
			ss = &s->families[i].series[0];
	CU_ASSERT_PTR_NOT_NULL_FATAL(ss);
	CU_ASSERT_EQUAL(h->sample_count, 2003);
	CU_ASSERT_DOUBLE_EQUAL(h->sample_sum, ss->hist.sum, 1e-6);
	/* Classic buckets: the same cumulative counts as the text format. */
	CU_ASSERT_EQUAL_FATAL(h->n_bucket, ss->hist.nbounds);
	for (size_t i = 0; i < h->n_bucket; i++) {
		CU_ASSERT_EQUAL(h->bucket[i]->cumulative_count,
				ss->hist.le_cumulative[i]);
		CU_ASSERT_DOUBLE_EQUAL(h->bucket[i]->upper_bound,
				       ss->hist.le_bounds[i], 0);
	}
	/* Native buckets: schema 5, the zero bucket, every observation. */
	CU_ASSERT_EQUAL(h->schema, 5);
	CU_ASSERT_DOUBLE_EQUAL(h->zero_threshold, ldexp(1, -48), 0);
	CU_ASSERT_EQUAL(h->zero_count, 1);
	CU_ASSERT(h->n_positive_span >= 2); /* 1e12 lies far off */
	CU_ASSERT_EQUAL(h->n_negative_span, 0);
	uint64_t total = h->zero_count;
	int64_t cnt = 0;
	size_t nd = 0;
	for (size_t sp = 0; sp < h->n_positive_span; sp++)
		nd += h->positive_span[sp]->length;
	CU_ASSERT_EQUAL_FATAL(nd, h->n_positive_delta);
	for (size_t d = 0; d < nd; d++) {
		cnt += h->positive_delta[d];
		CU_ASSERT(cnt > 0);
		total += (uint64_t)cnt;
	}
	CU_ASSERT_EQUAL(total, h->sample_count);
	/* 1.0 is the upper bound of native bucket 0: (2^(-1/32), 1]. */
	CU_ASSERT_DOUBLE_EQUAL(native_quantile(h, 1.0), 1e12, 1e12 * 0.022);
	CU_ASSERT_DOUBLE_EQUAL(native_quantile(h, 2002.0 / 2003), 1.0, 0);
	for (double q = 0.1; q < 0.99; q += 0.1) {
		double want = vt_series_quantile(ss, q);
		double got = native_quantile(h, q);
		CU_ASSERT(fabs(got - want) <= 0.022 * want);
	}
	for (int i = 0; i < n; i++)
		io__prometheus__client__metric_family__free_unpacked(fam[i],
								     NULL);
	free(out);

	/* An empty snapshot is an empty body. */
	vt_metrics_snapshot empty = {0};
	CU_ASSERT_FATAL(vt_promproto_metrics(&empty, &out, &len) == VT_OK);
	CU_ASSERT_EQUAL(len, 0);
	free(out);
	CU_ASSERT_EQUAL(vt_promproto_metrics(NULL, &out, &len), VT_EINVAL);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

static void test_native_bucket_of_one(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "one", 1.0) == VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "one", 1.01) == VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "one", -3) == VT_OK);
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	char *out = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_promproto_metrics(s, &out, &len) == VT_OK);
	pb_family *fam[2];
	CU_ASSERT_EQUAL_FATAL(decode(out, len, fam, 2), 1);
	const Io__Prometheus__Client__Histogram *h =
	    fam[0]->metric[0]->histogram;
	/* 1.0 in bucket 0, 1.01 in bucket 1 (2^(1/32) = 1.0219). */
	CU_ASSERT_EQUAL_FATAL(h->n_positive_span, 1);
	CU_ASSERT_EQUAL(h->positive_span[0]->offset, 0);
	CU_ASSERT_EQUAL(h->positive_span[0]->length, 2);
	CU_ASSERT_EQUAL(h->positive_delta[0], 1);
	CU_ASSERT_EQUAL(h->positive_delta[1], 0);
	/* -3 in the negative bucket holding 3: ceil(32 log2 3) = 51. */
	CU_ASSERT_EQUAL_FATAL(h->n_negative_span, 1);
	CU_ASSERT_EQUAL(h->negative_span[0]->offset, 51);
	CU_ASSERT_EQUAL(h->negative_delta[0], 1);
	io__prometheus__client__metric_family__free_unpacked(fam[0], NULL);
	free(out);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/* A histogram known only by its le counts (as vitalsctl decodes one
 * from the RPC) goes out with classic buckets only: no native part that
 * would claim its observations sit in no bucket. */
static void test_classic_only_without_buckets(void)
{
	static const double le[] = {0.1, 1};
	static const uint64_t cum[] = {2, 3, 4};
	vt_series_snap ss = {.hist = {.count = 4,
				      .sum = 5.5,
				      .nbounds = 2,
				      .le_bounds = le,
				      .le_cumulative = cum}};
	vt_family_snap fs = {.name = "lat_seconds",
			     .help = "",
			     .kind = VT_HISTOGRAM,
			     .nseries = 1,
			     .series = &ss};
	vt_metrics_snapshot snap = {.nfamilies = 1, .families = &fs};
	char *out = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_promproto_metrics(&snap, &out, &len) == VT_OK);
	pb_family *fam[2];
	CU_ASSERT_EQUAL_FATAL(decode(out, len, fam, 2), 1);
	const Io__Prometheus__Client__Histogram *h =
	    fam[0]->metric[0]->histogram;
	CU_ASSERT_EQUAL(h->sample_count, 4);
	CU_ASSERT_EQUAL(h->n_bucket, 2);
	CU_ASSERT_EQUAL(h->bucket[1]->cumulative_count, 3);
	CU_ASSERT(!h->has_schema && !h->has_zero_threshold);
	CU_ASSERT_EQUAL(h->n_positive_span, 0);
	io__prometheus__client__metric_family__free_unpacked(fam[0], NULL);
	free(out);
	/* Bounds out of order are refused. */
	static const double bad[] = {1, 0.1};
	ss.hist.le_bounds = bad;
	CU_ASSERT_EQUAL(vt_promproto_metrics(&snap, &out, &len), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_openmetrics_metrics(&snap, &out, &len), VT_EINVAL);
}

/* Runs cmd with text on its stdin; its exit status, output in out. */
static int run_with_input(const char *cmd, const char *text, size_t len,
			  char *out, size_t cap)
{
	char in[] = "/tmp/vt_om_XXXXXX";
	int fd = mkstemp(in);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	close(fd);
	char full[1024];
	snprintf(full, sizeof(full), "%s < %s 2>&1", cmd, in);
	FILE *p = popen(full, "r");
	CU_ASSERT_FATAL(p != NULL);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	unlink(in);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_openmetrics(void)
{
	vt_metrics *m = world();
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	char *out = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_openmetrics_metrics(s, &out, &len) == VT_OK);
	CU_ASSERT(len > 6 && strcmp(out + len - 6, "# EOF\n") == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "# TYPE jobs counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\njobs_total 7.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\njobs_created 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ntemp_celsius 21.5\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
				      "\nreq_seconds_bucket{route=\"/a\\\"b\","
				      "le=\"1.0\"} "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "le=\"+Inf\"} 2003\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "req_seconds_created{"));

	/* The created time is the series' creation, in the last minute. */
	const char *cr = strstr(out, "\njobs_created ");
	CU_ASSERT_FATAL(cr != NULL);
	double t = strtod(cr + 14, NULL);
	CU_ASSERT(fabs(t - (double)time(NULL)) < 60);

	/* promtool reads it with the 0.0.4 parser: no parse error, and
	 * its only findings are the OpenMetrics-only sample names
	 * (_created, counters' _total), which that linter sees as families
	 * of their own without help. */
	char res[8192];
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s check metrics", VT_TEST_PROMTOOL);
	int rc = run_with_input(cmd, out, len, res, sizeof(res));
	CU_ASSERT(rc == 0 || rc == 3);
	if (rc != 0 && rc != 3)
		fprintf(stderr, "promtool: %s\n", res);
	for (char *line = strtok(res, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		CU_ASSERT(strstr(line, "_created no help text") != NULL ||
			  strstr(line, "_total no help text") != NULL);

	/* HELP escapes double quotes (which the 0.0.4 parser refuses). */
	free(out);
	vt_metrics_snapshot_free(s);
	CU_ASSERT(vt_metrics_gauge_set(m, "quoted", 1, NULL, 0) == VT_OK);
	vt_gauge *qg;
	CU_ASSERT(vt_metrics_gauge(m, "quoted2", "Say \"hi\"\\.", &qg) ==
		  VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT_FATAL(vt_openmetrics_metrics(s, &out, &len) == VT_OK);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(out, "# HELP quoted2 Say \\\"hi\\\"\\\\.\n"));

	/* The strict OpenMetrics parser of prometheus_client. */
	rc = run_with_input("/usr/bin/python3 -c 'import sys\n"
			    "from prometheus_client.openmetrics.parser import "
			    "text_string_to_metric_families as p\n"
			    "fs = list(p(sys.stdin.read()))\n"
			    "print(sorted(f.name for f in fs))'",
			    out, len, res, sizeof(res));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(res, "'jobs'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(res, "'req_seconds'"));
	if (rc != 0)
		fprintf(stderr, "python: %s\n", res);
	free(out);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

static const vt_series_snap *one(const vt_metrics_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nfamilies; i++)
		if (strcmp(s->families[i].name, name) == 0 &&
		    s->families[i].nseries == 1)
			return &s->families[i].series[0];
	return NULL;
}

/* CPU time of this process, ms. */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_process_metrics(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_EQUAL(vt_metrics_process_update(NULL), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_metrics_process_update(m), VT_OK);
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	const vt_series_snap *v;
	CU_ASSERT((v = one(s, "process_resident_memory_bytes")) != NULL &&
		  v->value > 1e5);
	CU_ASSERT((v = one(s, "process_virtual_memory_bytes")) != NULL &&
		  v->value > 1e6);
	CU_ASSERT((v = one(s, "process_open_fds")) != NULL && v->value >= 3);
	CU_ASSERT((v = one(s, "process_max_fds")) != NULL && v->value >= 64);
	CU_ASSERT((v = one(s, "process_threads")) != NULL && v->value >= 1);
	double now = (double)time(NULL);
	CU_ASSERT((v = one(s, "process_start_time_seconds")) != NULL &&
		  v->value <= now + 1 && v->value > now - 3600);
	const vt_series_snap *cpu = one(s, "process_cpu_seconds_total");
	CU_ASSERT_FATAL(cpu != NULL);
	double cpu0 = cpu->value;
	CU_ASSERT(cpu0 >= 0);
	vt_metrics_snapshot_free(s);

	/* Burn 300 ms of CPU: the counter follows, never goes back. */
	double t0 = cpu_ms();
	volatile double x = 0;
	while (cpu_ms() - t0 < 300)
		x += sqrt(x + 1);
	CU_ASSERT_EQUAL(vt_metrics_process_update(m), VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	cpu = one(s, "process_cpu_seconds_total");
	CU_ASSERT(cpu != NULL && cpu->value >= cpu0 + 0.25);
	vt_metrics_snapshot_free(s);

	/* A name taken by another kind is reported; the rest are set. */
	vt_metrics *m2 = NULL;
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m2) == VT_OK);
	CU_ASSERT(vt_metrics_counter(m2, "process_threads", NULL, &c) == VT_OK);
	CU_ASSERT_EQUAL(vt_metrics_process_update(m2), VT_EKIND);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m2, NULL, &s) == VT_OK);
	CU_ASSERT(one(s, "process_open_fds") != NULL);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m2);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"protobuf exposition decodes", test_protobuf_decodes},
	    {"native bucket indexes", test_native_bucket_of_one},
	    {"classic only without buckets", test_classic_only_without_buckets},
	    {"openmetrics text", test_openmetrics},
	    {"process metrics", test_process_metrics},
	    {NULL, NULL},
	};
	return vt_test_main("promexpo", tests);
}
