/*
 * demo.c - vitals in one page: register checks, record metrics from
 * several threads, then print what GET /health and GET /metrics serve
 * (JSON) and the Prometheus text of the same metrics.
 *
 * Usage: vitals-demo [--prometheus]
 * Exit status: 0 when everything was printed, 1 on an error.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vitals/encode.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#define WRITERS		    4
#define REQUESTS_PER_WRITER 100000

/* The seed's plain form: true = healthy. */
static bool tmp_writable(void *arg)
{
	return access((const char *)arg, W_OK) == 0;
}

/* The status + details form: reports the load average as a detail and
 * turns DEGRADED above one runnable task per core. */
static void load_check(vt_check_result *r, void *arg)
{
	double load[1];
	FILE *f = fopen("/proc/loadavg", "r");
	if (f == NULL || fscanf(f, "%lf", &load[0]) != 1) {
		if (f != NULL)
			fclose(f);
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "cannot read /proc/loadavg");
		return;
	}
	fclose(f);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	vt_result_detail_num(r, "load1", load[0]);
	vt_result_detail_num(r, "cores", (double)cores);
	vt_result_status(r, load[0] > (double)cores ? VT_DEGRADED : VT_HEALTHY);
}

/* A dependency that answers slowly: past degraded_ms it reads DEGRADED. */
static void slow_dependency(vt_check_result *r, void *arg)
{
	struct timespec ts = {0, 30 * 1000000L};
	nanosleep(&ts, NULL);
	vt_result_detail_str(r, "endpoint", "demo://slow");
}

typedef struct writer {
	vt_metrics *metrics;
	vt_counter *requests;
	vt_histogram *latency;
	unsigned seed;
} writer;

/* Records like a request handler: a counter and a latency per request
 * through handles, and a by-name gauge now and then. */
static void *write_metrics(void *arg)
{
	writer *w = arg;
	unsigned s = w->seed;
	for (int i = 0; i < REQUESTS_PER_WRITER; i++) {
		s = s * 1103515245u + 12345u;
		double latency = 0.001 + (double)((s >> 16) % 1000) / 1e6;
		vt_counter_inc(w->requests);
		vt_histogram_observe(w->latency, latency);
	}
	vt_metrics_set_gauge(w->metrics, "active_connections", 42);
	return NULL;
}

/* Encodes a snapshot and prints it; -1 (after a message) on failure. */
static int print_encoded(vt_err rv, char *text, const char *what)
{
	if (rv != VT_OK) {
		fprintf(stderr, "vitals-demo: %s: %s\n", what, vt_strerror(rv));
		return -1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	bool prometheus = argc > 1 && strcmp(argv[1], "--prometheus") == 0;
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	int status = 1;

	if (vt_metrics_alloc(&m) != VT_OK)
		return 1;
	vt_health_opts hopts = {.workers = 4, .queue_cap = 64, .metrics = m};
	if (vt_health_alloc(&h, &hopts) != VT_OK)
		goto out;

	vt_check_opts tmp = VT_CHECK_OPTS_DEFAULT;
	const char *ready[] = {"ready"};
	tmp.tags = ready;
	tmp.ntags = 1;
	vt_check_opts load = VT_CHECK_OPTS_DEFAULT;
	load.critical = false;
	vt_check_opts slow = VT_CHECK_OPTS_DEFAULT;
	slow.degraded_ms = 20;
	slow.critical = false;
	if (vt_health_add_simple(h, "tmp", tmp_writable, "/tmp", &tmp) ||
	    vt_health_add(h, "load", load_check, NULL, &load) ||
	    vt_health_add(h, "slow_dependency", slow_dependency, NULL, &slow))
		goto out;

	vt_counter *requests;
	vt_histogram *latency;
	if (vt_metrics_counter(m, "api_requests_total", "Requests served.",
			       &requests) ||
	    vt_metrics_histogram(m, "request_duration_seconds",
				 "Request latency.", &latency))
		goto out;

	pthread_t threads[WRITERS];
	writer writers[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		writers[i] = (writer){m, requests, latency, (unsigned)i + 1};
		pthread_create(&threads[i], NULL, write_metrics, &writers[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(threads[i], NULL);
	vt_metrics_increment(m, "demo_runs_total");

	vt_health_snapshot *hs = NULL;
	if (vt_health_run(h, NULL, VT_RUN_FRESH, &hs) != VT_OK)
		goto out;
	char *text = NULL;
	size_t len;
	int failed = 0;
	vt_err rv;
	if (!prometheus) {
		printf("GET /health\n");
		rv = vt_json_health(hs, &text, &len);
		failed |= print_encoded(rv, text, "health");
	}
	vt_health_snapshot_free(hs);

	vt_metrics_snapshot *ms = NULL;
	if (vt_metrics_snapshot_take(m, NULL, &ms) != VT_OK)
		goto out;
	if (prometheus) {
		rv = vt_prom_metrics(ms, &text, &len);
		failed |= print_encoded(rv, text, "metrics");
	} else {
		printf("GET /metrics\n");
		rv = vt_json_metrics(ms, &text, &len);
		failed |= print_encoded(rv, text, "metrics");
	}
	vt_metrics_snapshot_free(ms);
	status = failed ? 1 : 0;
out:
	vt_health_free(h);
	vt_metrics_free(m);
	return status;
}
