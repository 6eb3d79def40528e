/*
 * example_server.c - serving health and metrics: a registry with two
 * checks and a metric, the HTTP gateway and the RPC server started with
 * vt_server_start, and a graceful shutdown after a while.
 *
 * Usage: example_server [HTTP_ADDR [RPC_URL [MS]]]
 *        defaults: 127.0.0.1:8080 tcp://127.0.0.1:5555 10000
 * While it serves (MS milliseconds), try
 *   curl http://127.0.0.1:8080/health
 *   curl 'http://127.0.0.1:8080/metrics?format=prometheus'
 *   vitalsctl --url tcp://127.0.0.1:5555 health
 * Prints "serving ..." when the listeners are up and "stopped" at the
 * end. Exit status: 0 after a clean shutdown, 1 on an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vitals/checks.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

static bool tmp_writable(void *arg)
{
	return access((const char *)arg, W_OK) == 0;
}

int main(int argc, char **argv)
{
	const char *http = argc > 1 ? argv[1] : "127.0.0.1:8080";
	const char *rpc = argc > 2 ? argv[2] : "tcp://127.0.0.1:5555";
	long ms = argc > 3 ? strtol(argv[3], NULL, 10) : 10000;
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	vt_server *srv = NULL;
	int status = 1;

	if (vt_metrics_alloc(&m) != VT_OK)
		return 1;
	vt_health_opts ho = {.workers = 2,
			     .metrics = m}; /* health as metrics */
	if (vt_health_alloc(&h, &ho) != VT_OK)
		goto out;
	const char *ready[] = {"ready"};
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = ready; /* GET /readyz runs these */
	o.ntags = 1;
	vt_disk_opts disk = {.path = "/", .unhealthy_free_pct = 1};
	if (vt_health_add_simple(h, "tmp", tmp_writable, "/tmp", &o) ||
	    vt_check_disk_add(h, "root_disk", &disk, &o))
		goto out;
	vt_gauge *up;
	if (vt_metrics_gauge(m, "example_up", "1 while the example serves.",
			     &up) != VT_OK)
		goto out;
	vt_gauge_set(up, 1);

	/* Keep the cache fresh for ?cache=true (each check every 10 s). */
	vt_health_start(h);
	vt_server_opts so = {
	    .health = h, .metrics = m, .http_addr = http, .rpc_url = rpc};
	char err[256];
	if (vt_server_start(&srv, &so, err, sizeof(err)) != VT_OK) {
		fprintf(stderr, "example_server: %s\n", err);
		goto out;
	}
	printf("serving http://%s/health and %s for %ld ms\n", http, rpc, ms);
	fflush(stdout);

	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
	/* Readiness turns unhealthy, requests in flight finish. */
	vt_server_shutdown(srv);
	printf("stopped\n");
	status = 0;
out:
	vt_server_free(srv);
	vt_health_free(h);
	vt_metrics_free(m);
	return status;
}
