/*
 * example_metrics.c - metrics in one page: a counter, a gauge and a
 * histogram recorded through handles from two threads, a labelled
 * counter, and the seed's by-name calls; then what GET /metrics serves
 * (JSON) and the Prometheus text of the same snapshot.
 *
 * The numbers are known: 2 threads x 1000 requests give
 * api_requests_total 2000 and 2000 latency observations of 1..1000 ms
 * (p50 about 0.5 s); active_connections is 42.
 *
 * Usage: example_metrics
 * Prints "requests: 2000", "p50: ...", the JSON and the Prometheus text.
 * Exit status: 0 when all was printed, 1 on an error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitals/encode.h"
#include "vitals/metrics.h"

#define THREADS	 2
#define REQUESTS 1000

typedef struct handles {
	vt_counter *requests;
	vt_histogram *latency;
	vt_counter *by_status[2]; /* status="200", status="500" */
} handles;

/* A request handler's hot path: lock-free handle calls. */
static void *serve(void *arg)
{
	handles *hd = arg;
	for (int i = 1; i <= REQUESTS; i++) {
		vt_counter_inc(hd->requests);
		vt_histogram_observe(hd->latency, i / 1000.0); /* seconds */
		vt_counter_inc(hd->by_status[i % 100 == 0]);
	}
	return NULL;
}

int main(void)
{
	vt_metrics *m = NULL;
	vt_metrics_snapshot *s = NULL;
	char *json = NULL, *prom = NULL;
	size_t len;
	int status = 1;

	if (vt_metrics_alloc(&m) != VT_OK)
		return 1;

	handles hd;
	vt_family *fam;
	const char *label_names[] = {"status"};
	const char *ok[] = {"200"}, *failed[] = {"500"};
	if (vt_metrics_counter(m, "api_requests_total", "Requests served.",
			       &hd.requests) ||
	    vt_metrics_histogram(m, "request_duration_seconds",
				 "Request latency.", &hd.latency) ||
	    vt_metrics_counter_family(m, "api_responses_total",
				      "Responses by status.", label_names, 1,
				      &fam) ||
	    vt_family_series(fam, ok, 1, &hd.by_status[0]) ||
	    vt_family_series(fam, failed, 1, &hd.by_status[1])) {
		fprintf(stderr, "example_metrics: cannot register metrics\n");
		goto out;
	}

	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, serve, &hd);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	/* The seed's MetricsCollector calls: by name, created on first use. */
	vt_metrics_set_gauge(m, "active_connections", 42);
	vt_metrics_increment(m, "example_runs_total");

	/* Every shard merged at one moment. */
	if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
		goto out;
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		if (strcmp(f->name, "api_requests_total") == 0)
			printf("requests: %.0f\n", f->series[0].value);
		if (f->kind == VT_HISTOGRAM)
			printf("count: %llu p50: %.3f p99: %.3f max: %.3f\n",
			       (unsigned long long)f->series[0].hist.count,
			       f->series[0].hist.p50, f->series[0].hist.p99,
			       f->series[0].hist.max);
	}
	if (vt_json_metrics(s, &json, &len) != VT_OK ||
	    vt_prom_metrics(s, &prom, &len) != VT_OK)
		goto out;
	printf("GET /metrics\n%s\n", json);
	printf("GET /metrics?format=prometheus\n%s", prom);
	status = 0;
out:
	free(json);
	free(prom);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
	return status;
}
