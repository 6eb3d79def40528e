/*
 * test_exposition.c - end to end through the library: checks and metric
 * writes from several threads -> snapshots -> JSON and Prometheus text,
 * read back the way users read them (cJSON, promtool).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "vitals/encode.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#define THREADS	   4
#define PER_THREAD 20000

typedef struct world {
	vt_metrics *m;
	vt_health *h;
	vt_counter *plain;
	vt_counter *by_route[2];
	vt_histogram *latency;
} world;

static bool always_ok(void *arg)
{
	return true;
}

static void failing(vt_check_result *r, void *arg)
{
	vt_result_status(r, VT_UNHEALTHY);
	vt_result_detail_str(r, "target", "db \"main\"\n");
	vt_result_error(r, "refused");
}

static void *writer(void *arg)
{
	world *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		vt_counter_inc(w->plain);
		vt_counter_add(w->by_route[i & 1], 0.5);
		vt_histogram_observe(w->latency, 0.001 * (1 + i % 1000));
		vt_metrics_increment(w->m, "by_name_total");
	}
	return NULL;
}

static void world_init(world *w)
{
	CU_ASSERT_FATAL(vt_metrics_alloc(&w->m) == VT_OK);
	vt_health_opts ho = {.workers = 2, .queue_cap = 16, .metrics = w->m};
	CU_ASSERT_FATAL(vt_health_alloc(&w->h, &ho) == VT_OK);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	CU_ASSERT_FATAL(
	    vt_health_add_simple(w->h, "cache", always_ok, NULL, &o) == VT_OK);
	o.critical = false;
	CU_ASSERT_FATAL(vt_health_add(w->h, "db", failing, NULL, &o) == VT_OK);

	CU_ASSERT_FATAL(
	    vt_metrics_counter(w->m, "jobs", "Jobs done.", &w->plain) == VT_OK);
	const char *labels[] = {"route", "method"};
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_counter_family(w->m, "bytes_total",
						  "Bytes \\ sent.\nTwo lines.",
						  labels, 2, &f) == VT_OK);
	const char *r0[] = {"/a\"b", "GET"};
	const char *r1[] = {"/ünï\\code\n", "POST"};
	CU_ASSERT_FATAL(vt_family_series(f, r0, 2, &w->by_route[0]) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(f, r1, 2, &w->by_route[1]) == VT_OK);
	static const double bounds[] = {0.01, 0.1, 0.5};
	vt_family *hf;
	CU_ASSERT_FATAL(vt_metrics_histogram_family(w->m, "latency_seconds",
						    "Latency.", NULL, 0, bounds,
						    3, &hf) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(hf, NULL, 0, &w->latency) == VT_OK);
}

static void world_run(world *w)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, writer, w) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT(vt_metrics_set_gauge(w->m, "temperature_celsius", -3.5) ==
		  VT_OK);
	vt_health_snapshot *hs = NULL;
	CU_ASSERT_FATAL(vt_health_run(w->h, NULL, VT_RUN_FRESH, &hs) == VT_OK);
	CU_ASSERT(hs->status == VT_DEGRADED);
	vt_health_snapshot_free(hs);
}

static void world_fini(world *w)
{
	vt_health_free(w->h);
	vt_metrics_free(w->m);
}

/* Runs promtool check metrics on text; returns its exit status. */
static int promtool_status(const char *text, size_t len)
{
	char path[] = "/tmp/vitals-exposition-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	close(fd);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s", VT_TEST_PROMTOOL,
		 path);
	int st = system(cmd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_prometheus_text_of_live_registry(void)
{
	world w;
	world_init(&w);
	world_run(&w);
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(w.m, NULL, &s) == VT_OK);
	char *text = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_prom_metrics(s, &text, &len) == VT_OK);
	CU_ASSERT(promtool_status(text, len) == 0);

	char line[256];
	snprintf(line, sizeof(line), "\njobs_total %d\n", THREADS * PER_THREAD);
	CU_ASSERT(strstr(text, line) != NULL);
	CU_ASSERT(strstr(text, "# TYPE jobs_total counter\n") != NULL);
	snprintf(line, sizeof(line),
		 "\nbytes_total{route=\"/a\\\"b\",method=\"GET\"} %d\n",
		 THREADS * PER_THREAD / 4);
	CU_ASSERT(strstr(text, line) != NULL);
	CU_ASSERT(strstr(text, "route=\"/ünï\\\\code\\n\"") != NULL);
	CU_ASSERT(strstr(text, "# HELP bytes_total Bytes \\\\ sent.\\nTwo "
			       "lines.\n") != NULL);
	/* 1..1000 ms, each value 4 * 20 times: exact le counts. */
	CU_ASSERT(strstr(text, "latency_seconds_bucket{le=\"0.01\"} 800\n") !=
		  NULL);
	CU_ASSERT(strstr(text, "latency_seconds_bucket{le=\"0.1\"} 8000\n") !=
		  NULL);
	CU_ASSERT(strstr(text, "latency_seconds_bucket{le=\"0.5\"} 40000\n") !=
		  NULL);
	CU_ASSERT(strstr(text, "latency_seconds_bucket{le=\"+Inf\"} 80000\n") !=
		  NULL);
	CU_ASSERT(strstr(text, "latency_seconds_count 80000\n") != NULL);
	CU_ASSERT(strstr(text, "vitals_check_status{check=\"db\"} 2\n") !=
		  NULL);
	CU_ASSERT(strstr(text, "temperature_celsius -3.5\n") != NULL);
	free(text);
	vt_metrics_snapshot_free(s);
	world_fini(&w);
}

static void test_promtool_refuses_broken_text(void)
{
	/* The check above can fail: promtool rejects a broken exposition. */
	const char *bad = "# TYPE x counter\nx{a=\"1} 2\n";
	CU_ASSERT(promtool_status(bad, strlen(bad)) != 0);
}

static double json_num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	CU_ASSERT_FATAL(cJSON_IsNumber(v));
	return v->valuedouble;
}

static void test_json_of_live_registry(void)
{
	world w;
	world_init(&w);
	world_run(&w);
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(w.m, NULL, &s) == VT_OK);
	char *text = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_json_metrics(s, &text, &len) == VT_OK);
	cJSON *doc = cJSON_Parse(text);
	CU_ASSERT_FATAL(doc != NULL);

	const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
	CU_ASSERT_FATAL(jobs != NULL);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(jobs, "type")->valuestring,
	    "counter");
	CU_ASSERT(json_num(jobs, "value") == THREADS * PER_THREAD);
	const cJSON *byname =
	    cJSON_GetObjectItemCaseSensitive(doc, "by_name_total");
	CU_ASSERT_FATAL(byname != NULL);
	CU_ASSERT(json_num(byname, "value") == THREADS * PER_THREAD);
	const cJSON *route = cJSON_GetObjectItemCaseSensitive(
	    doc, "bytes_total{route=\"/a\\\"b\",method=\"GET\"}");
	CU_ASSERT_FATAL(route != NULL);
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(route, "labels");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(labels, "route")->valuestring,
	    "/a\"b");

	const cJSON *lat =
	    cJSON_GetObjectItemCaseSensitive(doc, "latency_seconds");
	CU_ASSERT_FATAL(lat != NULL);
	CU_ASSERT(json_num(lat, "count") == THREADS * PER_THREAD);
	CU_ASSERT(json_num(lat, "min") == 0.001);
	CU_ASSERT(json_num(lat, "max") == 1.0);
	/* Nearest rank of 1..1000 ms, each equally often: p50 = 500 ms. */
	double p50 = json_num(lat, "p50");
	CU_ASSERT(p50 > 0.5 * 0.989 && p50 < 0.5 * 1.011);
	double p99 = json_num(lat, "p99");
	CU_ASSERT(p99 > 0.99 * 0.989 && p99 < 0.99 * 1.011);
	CU_ASSERT(fabs(json_num(lat, "avg") - 0.5005) < 1e-9);

	const cJSON *st = cJSON_GetObjectItemCaseSensitive(
	    doc, "vitals_check_status{check=\"db\"}");
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT(json_num(st, "value") == 2);
	cJSON_Delete(doc);
	free(text);
	vt_metrics_snapshot_free(s);
	world_fini(&w);
}

static void test_health_json_of_live_registry(void)
{
	world w;
	world_init(&w);
	vt_health_snapshot *hs = NULL;
	CU_ASSERT_FATAL(vt_health_run(w.h, NULL, VT_RUN_FRESH, &hs) == VT_OK);
	char *text = NULL;
	size_t len = 0;
	CU_ASSERT_FATAL(vt_json_health(hs, &text, &len) == VT_OK);
	cJSON *doc = cJSON_Parse(text);
	CU_ASSERT_FATAL(doc != NULL);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(doc, "status")->valuestring,
	    "degraded");
	CU_ASSERT(json_num(doc, "timestamp") > 1.7e9);
	const cJSON *comps =
	    cJSON_GetObjectItemCaseSensitive(doc, "components");
	CU_ASSERT_FATAL(cJSON_GetArraySize(comps) == 2);
	const cJSON *db = cJSON_GetArrayItem(comps, 1);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(db, "name")->valuestring, "db");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(db, "error")->valuestring,
	    "refused");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(db, "details");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(details, "target")->valuestring,
	    "db \"main\"\n");
	CU_ASSERT(json_num(db, "last_check_time") > 1.7e9);
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(comps, 0), "error")));
	cJSON_Delete(doc);
	free(text);
	vt_health_snapshot_free(hs);
	world_fini(&w);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"prometheus text of a live registry passes promtool",
	     test_prometheus_text_of_live_registry},
	    {"promtool refuses broken text", test_promtool_refuses_broken_text},
	    {"metrics JSON of a live registry", test_json_of_live_registry},
	    {"health JSON of a live registry",
	     test_health_json_of_live_registry},
	    {NULL, NULL},
	};
	return vt_test_main("exposition", tests);
}
