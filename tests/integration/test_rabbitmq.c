/*
 * test_rabbitmq.c - the rabbitmq check against a real rabbitmq-server
 * (started once for the program, on free loopback ports, with a default
 * user of our own): healthy, wrong credentials, an unknown vhost, queue
 * depth below and above its threshold, an unknown queue, a refused port,
 * a port that never answers, and finally the broker stopped. No password
 * may appear in the snapshot JSON, and the check prints nothing.
 *
 * A missing rabbitmq-server is a failure, not a skip.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_net.h"
#include "support_servers.h"
#include "testutil.h"
#include "vitals/checks.h"
#include "vitals/encode.h"
#include "vitals/health.h"

#define USER "vitals"
#define PW   "Rb-s3cret/p@ss:w0rd"
/* PW as spelt in a URL, inside a printf format. */
#define PW_FMT "Rb-s3cret%%2Fp%%40ss%%3Aw0rd"
#define WRONG  "Wr0ng-Rabbit-Pw"

static vt_test_server broker;

static const char *const secrets[] = {PW, "Rb-s3cret%2Fp%40ss%3Aw0rd", WRONG,
				      "s3cret", NULL};

/* Registers a rabbitmq check, runs it once (fresh), frees the registry
 * and returns the snapshot; *ms is how long that took. NULL if
 * registration failed. */
static vt_health_snapshot *run_check(const char *url, const char *queue,
				     long degraded_above, int timeout_ms,
				     int connect_ms, double *ms)
{
	vt_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	vt_rabbitmq_opts o = {.url = url,
			      .queue = queue,
			      .degraded_above = degraded_above,
			      .connect_timeout_ms = connect_ms};
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.timeout_ms = timeout_ms;
	vt_err e = vt_check_rabbitmq_add(h, "rabbitmq", &o, &co);
	CU_ASSERT_EQUAL(e, VT_OK);
	if (e != VT_OK) {
		vt_health_free(h);
		return NULL;
	}
	vt_health_snapshot *s = NULL;
	vt_test_capture cap;
	vt_test_capture_begin(&cap);
	double t0 = vt_test_now_ms();
	e = vt_health_run(h, NULL, VT_RUN_FRESH, &s);
	/* Freeing waits for a callback still running, so *ms covers the
	 * check's whole run, teardown included. */
	vt_health_free(h);
	double t1 = vt_test_now_ms();
	vt_test_capture_end_silent(&cap);
	if (ms != NULL)
		*ms = t1 - t0;
	CU_ASSERT_EQUAL_FATAL(e, VT_OK);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 1);
	vt_test_assert_snapshot_no_secret(s, secrets);
	return s;
}

/* Asserts status and that the error contains want (NULL: no error). */
static void expect(const vt_health_snapshot *s, vt_status st, const char *want)
{
	const vt_component *c = &s->components[0];
	if (getenv("VT_TEST_VERBOSE") != NULL)
		fprintf(stderr, "  [%s] %s\n", vt_status_name(c->status),
			c->error ? c->error : "");
	if (c->status != st)
		fprintf(stderr, "status %s, want %s; error: %s\n",
			vt_status_name(c->status), vt_status_name(st),
			c->error ? c->error : "(none)");
	CU_ASSERT_EQUAL(c->status, st);
	if (want == NULL) {
		CU_ASSERT_PTR_NULL(c->error);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->error);
	if (strstr(c->error, want) == NULL)
		fprintf(stderr, "error '%s' lacks '%s'\n", c->error, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(c->error, want));
}

static void url_for(char *out, size_t cap, const char *vhost)
{
	snprintf(out, cap, "amqp://" USER ":" PW_FMT "@127.0.0.1:%d%s",
		 broker.port, vhost);
}

static void test_healthy(void)
{
	char url[256], shown[256];
	static const char *const vhosts[] = {"/", "", "/%2f", "/%2F", NULL};
	for (int i = 0; vhosts[i] != NULL; i++) {
		url_for(url, sizeof(url), vhosts[i]);
		snprintf(shown, sizeof(shown),
			 "amqp://" USER ":***@127.0.0.1:%d%s", broker.port,
			 vhosts[i]);
		vt_health_snapshot *s = run_check(url, NULL, 0, 3000, 0, NULL);
		if (s == NULL)
			continue;
		expect(s, VT_HEALTHY, NULL);
		const vt_component *c = &s->components[0];
		const vt_detail *d = vt_test_detail(c, "url");
		CU_ASSERT(d != NULL && d->kind == VT_DETAIL_STR &&
			  strcmp(d->str, shown) == 0);
		d = vt_test_detail(c, "latency_ms");
		CU_ASSERT(d != NULL && d->kind == VT_DETAIL_NUM &&
			  d->num >= 0 && d->num < 3000);
		d = vt_test_detail(c, "version");
		CU_ASSERT(d != NULL && d->kind == VT_DETAIL_STR &&
			  strncmp(d->str, "3.", 2) == 0);
		CU_ASSERT_PTR_NULL(vt_test_detail(c, "messages"));
		vt_health_snapshot_free(s);
	}
}

static void test_wrong_credentials(void)
{
	char url[256];
	snprintf(url, sizeof(url), "amqp://" USER ":" WRONG "@127.0.0.1:%d/",
		 broker.port);
	vt_health_snapshot *s = run_check(url, NULL, 0, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, "login failed: ACCESS_REFUSED");
		vt_health_snapshot_free(s);
	}
	/* No user info: guest/guest, which this broker does not have. */
	snprintf(url, sizeof(url), "amqp://127.0.0.1:%d", broker.port);
	s = run_check(url, NULL, 0, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, "ACCESS_REFUSED");
		vt_health_snapshot_free(s);
	}
}

static void test_unknown_vhost(void)
{
	char url[256];
	url_for(url, sizeof(url), "/no-such-vhost");
	vt_health_snapshot *s = run_check(url, NULL, 0, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, "login failed: ");
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(s->components[0].error, "no-such-vhost"));
		vt_health_snapshot_free(s);
	}
}

static void test_queue_threshold(void)
{
	CU_ASSERT_FATAL(
	    vt_test_amqp_fill(broker.port, USER, PW, "vt.jobs", 7) == 0);
	char url[256];
	url_for(url, sizeof(url), "/");

	/* Above the threshold: degraded, with the count. */
	vt_health_snapshot *s = run_check(url, "vt.jobs", 5, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_DEGRADED, "7 messages");
		const vt_detail *d =
		    vt_test_detail(&s->components[0], "messages");
		CU_ASSERT(d != NULL && d->kind == VT_DETAIL_NUM && d->num == 7);
		vt_health_snapshot_free(s);
	}
	/* At and below it: healthy. */
	static const long below[] = {7, 100, 0};
	for (int i = 0; i < 3; i++) {
		s = run_check(url, "vt.jobs", below[i], 3000, 0, NULL);
		if (s == NULL)
			continue;
		expect(s, VT_HEALTHY, NULL);
		const vt_detail *d =
		    vt_test_detail(&s->components[0], "messages");
		CU_ASSERT(d != NULL && d->num == 7);
		vt_health_snapshot_free(s);
	}
	/* An empty queue after a purge: healthy, 0 messages. */
	CU_ASSERT_FATAL(
	    vt_test_amqp_fill(broker.port, USER, PW, "vt.jobs", 0) == 0);
	s = run_check(url, "vt.jobs", 5, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_HEALTHY, NULL);
		const vt_detail *d =
		    vt_test_detail(&s->components[0], "messages");
		CU_ASSERT(d != NULL && d->num == 0);
		vt_health_snapshot_free(s);
	}
}

static void test_unknown_queue(void)
{
	char url[256];
	url_for(url, sizeof(url), "/");
	vt_health_snapshot *s = run_check(url, "vt.nope", 5, 3000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, "queue 'vt.nope' failed: NOT_FOUND");
		vt_health_snapshot_free(s);
	}
}

static void test_refused(void)
{
	int port = vt_test_free_port();
	char url[256], want[128];
	snprintf(url, sizeof(url), "amqp://" USER ":" PW_FMT "@127.0.0.1:%d/",
		 port);
	snprintf(want, sizeof(want), "connect 127.0.0.1:%d: Connection refused",
		 port);
	double ms = 0;
	vt_health_snapshot *s = run_check(url, NULL, 0, 1000, 0, &ms);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, want);
		vt_health_snapshot_free(s);
	}
	CU_ASSERT(ms < 500);
}

static void test_never_answers(void)
{
	int port = 0;
	int fd = vt_test_silent_listener(&port);
	CU_ASSERT_FATAL(fd >= 0);
	char url[256];
	snprintf(url, sizeof(url), "amqp://" USER ":" PW_FMT "@127.0.0.1:%d/",
		 port);
	double ms = 0;
	vt_health_snapshot *s = run_check(url, "q", 5, 600, 0, &ms);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, "time");
		vt_health_snapshot_free(s);
	}
	CU_ASSERT(ms < 600 + 400);
	close(fd);

	int fillers[3];
	fd = vt_test_blackhole_listener(&port, fillers);
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(url, sizeof(url), "amqp://" USER ":" PW_FMT "@127.0.0.1:%d/",
		 port);
	char want[128];
	snprintf(want, sizeof(want),
		 "connect 127.0.0.1:%d: timed out after 300 ms", port);
	s = run_check(url, NULL, 0, 3000, 300, &ms);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, want);
		vt_health_snapshot_free(s);
	}
	CU_ASSERT(ms >= 290 && ms < 300 + 400);
	close(fd);
	for (int i = 0; i < 3; i++)
		if (fillers[i] >= 0)
			close(fillers[i]);
}

static void test_rejects_bad_options(void)
{
	vt_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	static const char *const bad[] = {
	    "amqps://u:p@127.0.0.1/",
	    "amqp://u:p@/vh",
	    "amqp://u:p@h/a/b",
	    "amqp://u:p@h/%zz",
	    "redis://h",
	    "amqp:/h",
	    "u:p@h:5672",
	    NULL,
	};
	for (int i = 0; bad[i] != NULL; i++) {
		vt_rabbitmq_opts o = {.url = bad[i]};
		vt_err e = vt_check_rabbitmq_add(h, "q", &o, NULL);
		if (e != VT_EINVAL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(e, VT_EINVAL);
	}
	vt_rabbitmq_opts o = {.url = "amqp://h", .degraded_above = 5};
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_EINVAL);
	o.queue = "";
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_EINVAL);
	o.queue = "jobs";
	o.degraded_above = -1;
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_EINVAL);
	o.degraded_above = 0;
	o.connect_timeout_ms = -1;
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_EINVAL);
	o.connect_timeout_ms = 0;
	char longq[300];
	memset(longq, 'q', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	o.queue = longq;
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_EINVAL);
	o.queue = "jobs";
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "bad name", &o, NULL),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt_check_rabbitmq_add(h, "q", &o, NULL), VT_OK);
	vt_health_free(h);
}

/* Last: the broker goes away. */
static void test_stopped_broker(void)
{
	char url[256], want[128];
	url_for(url, sizeof(url), "/");
	int port = broker.port;
	vt_test_srv_kill(&broker);
	snprintf(want, sizeof(want), "connect 127.0.0.1:%d: Connection refused",
		 port);
	vt_health_snapshot *s = run_check(url, "vt.jobs", 5, 1000, 0, NULL);
	if (s != NULL) {
		expect(s, VT_UNHEALTHY, want);
		vt_health_snapshot_free(s);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);
	double t0 = vt_test_now_ms();
	if (vt_test_rabbitmq_start(&broker, USER, PW) != 0) {
		fprintf(stderr, "FAIL: could not start rabbitmq-server\n");
		vt_test_srv_stop(&broker);
		return 1;
	}
	fprintf(stderr, "rabbitmq-server ready in %.1f s\n",
		(vt_test_now_ms() - t0) / 1e3);
	static const vt_test tests[] = {
	    {"healthy", test_healthy},
	    {"wrong credentials", test_wrong_credentials},
	    {"unknown vhost", test_unknown_vhost},
	    {"queue threshold", test_queue_threshold},
	    {"unknown queue", test_unknown_queue},
	    {"refused", test_refused},
	    {"never answers", test_never_answers},
	    {"rejects bad options", test_rejects_bad_options},
	    {"stopped broker", test_stopped_broker},
	    {NULL, NULL},
	};
	int rc = vt_test_main("rabbitmq", tests);
	vt_test_srv_stop(&broker);
	return rc;
}
