/*
 * example_health.c - health checks in one page: the two callback forms
 * (plain ok / not ok, and status + details), two built-in checks, one
 * fresh run, and what GET /health would serve for it.
 *
 * The checks are chosen so the answer is known: "tmp" is healthy, "queue"
 * reports 42 waiting messages (above its threshold of 10: DEGRADED),
 * "root_disk" looks at / and "closed_port" connects to a port nobody
 * listens on (UNHEALTHY, but not critical). The whole is DEGRADED.
 *
 * Usage: example_health
 * Prints one line per check, "overall: <status>", then the /health JSON.
 * Exit status: 0 when all was printed, 1 on an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vitals/checks.h"
#include "vitals/encode.h"
#include "vitals/health.h"

/* The plain form: true = healthy. */
static bool tmp_writable(void *arg)
{
	return access((const char *)arg, W_OK) == 0;
}

/* The status + details form. */
static void queue_check(vt_check_result *r, void *arg)
{
	long depth = *(const long *)arg;
	vt_result_detail_num(r, "messages", (double)depth);
	if (depth > 10) {
		vt_result_status(r, VT_DEGRADED);
		vt_result_error(r, "queue depth %ld above 10", depth);
	}
}

int main(void)
{
	static long depth = 42;
	vt_health *h = NULL;
	vt_health_snapshot *s = NULL;
	char *json = NULL;
	size_t len;
	int status = 1;

	vt_health_opts ho = {.workers = 4};
	if (vt_health_alloc(&h, &ho) != VT_OK)
		return 1;

	vt_check_opts plain = VT_CHECK_OPTS_DEFAULT; /* 2 s timeout, critical */
	plain.timeout_ms = 500;
	vt_check_opts non_critical = VT_CHECK_OPTS_DEFAULT;
	non_critical.critical = false; /* failing -> DEGRADED overall */
	non_critical.timeout_ms = 500;
	vt_disk_opts disk = {.path = "/", .unhealthy_free_pct = 1};
	vt_tcp_opts port = {.address = "127.0.0.1:1"};
	if (vt_health_add_simple(h, "tmp", tmp_writable, "/tmp", &plain) ||
	    vt_health_add(h, "queue", queue_check, &depth, &non_critical) ||
	    vt_check_disk_add(h, "root_disk", &disk, &plain) ||
	    vt_check_tcp_add(h, "closed_port", &port, &non_critical)) {
		fprintf(stderr, "example_health: cannot register the checks\n");
		goto out;
	}

	/* Runs every check now, in parallel, each within its timeout. */
	if (vt_health_run(h, NULL, VT_RUN_FRESH, &s) != VT_OK)
		goto out;
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		printf("%s: %s%s%s\n", c->name, vt_status_name(c->status),
		       c->error != NULL ? " - " : "",
		       c->error != NULL ? c->error : "");
	}
	printf("overall: %s\n", vt_status_name(s->status));
	if (vt_json_health(s, &json, &len) != VT_OK)
		goto out;
	printf("%s\n", json);
	status = 0;
out:
	free(json);
	vt_health_snapshot_free(s);
	vt_health_free(h);
	return status;
}
