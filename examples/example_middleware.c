/*
 * example_middleware.c - monitoring a program's own nng HTTP server:
 * the program's route GET /hello goes through vt_middleware_handler,
 * which records http_requests_total{method,route,status} and
 * http_request_duration_seconds{method,route}, and vitals' routes
 * (/health, /livez, /readyz, /metrics) are attached to the same server.
 *
 * Usage: example_middleware [ADDR [MS]]   defaults: 127.0.0.1:8081 10000
 * While it serves (MS milliseconds), try
 *   curl http://127.0.0.1:8081/hello
 *   curl 'http://127.0.0.1:8081/metrics?format=prometheus'
 * Prints "serving ..." when up, and at the end "GET /hello: N requests"
 * from its own metrics. Exit status: 0 after a clean stop, 1 on an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/middleware.h"

/* The program's own handler, written as for any nng HTTP server. */
static void hello(nng_aio *aio)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_header(res, "Content-Type", "text/plain");
	nng_http_res_copy_data(res, "hello\n", 6);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static bool always_up(void *arg)
{
	(void)arg;
	return true;
}

/* The value of http_requests_total{method="GET",route="/hello",
 * status="200"}, from a snapshot. */
static double hello_count(vt_metrics *m)
{
	vt_label want[] = {{"route", "/hello"}, {"status", "200"}};
	vt_metrics_filter f = {
	    .name = "http_requests_total", .labels = want, .nlabels = 2};
	vt_metrics_snapshot *s;
	double n = 0;
	if (vt_metrics_snapshot_take(m, &f, &s) != VT_OK)
		return -1;
	for (size_t i = 0; i < s->nfamilies; i++)
		for (size_t j = 0; j < s->families[i].nseries; j++)
			n += s->families[i].series[j].value;
	vt_metrics_snapshot_free(s);
	return n;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "127.0.0.1:8081";
	long ms = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	nng_url *url = NULL;
	nng_http_server *srv = NULL;
	vt_middleware *mw = NULL;
	int status = 1;

	if (vt_metrics_alloc(&m) != VT_OK)
		return 1;
	vt_health_opts ho = {.workers = 2, .metrics = m};
	if (vt_health_alloc(&h, &ho) != VT_OK ||
	    vt_health_add_simple(h, "app", always_up, NULL, NULL) != VT_OK)
		goto out;

	char u[300];
	snprintf(u, sizeof(u), "http://%s", addr);
	if (nng_url_parse(&url, u) != 0 || nng_http_server_hold(&srv, url) != 0)
		goto out;

	/* vitals' routes on the program's server, and its /hello wrapped. */
	nng_http_handler *hd;
	if (vt_middleware_alloc(&mw, srv, h, m, NULL) != VT_OK ||
	    vt_middleware_handler(mw, "GET", "/hello", hello, NULL, &hd) !=
		VT_OK)
		goto out;
	if (nng_http_server_add_handler(srv, hd) != 0) {
		nng_http_handler_free(hd);
		goto out;
	}
	if (nng_http_server_start(srv) != 0) {
		fprintf(stderr, "example_middleware: cannot listen on %s\n",
			addr);
		goto out;
	}
	printf("serving http://%s/hello and /health, /metrics for %ld ms\n",
	       addr, ms);
	fflush(stdout);

	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
	nng_http_server_stop(srv);
	printf("GET /hello: %.0f requests\n", hello_count(m));
	status = 0;
out:
	vt_middleware_free(mw);
	if (srv != NULL)
		nng_http_server_release(srv);
	if (url != NULL)
		nng_url_free(url);
	vt_health_free(h);
	vt_metrics_free(m);
	return status;
}
