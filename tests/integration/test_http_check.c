/*
 * test_http_check.c - the http check against real HTTP servers on
 * loopback (support_httpd): 200, 500, expected statuses, a slow answer
 * past degraded_ms, a slow answer past the timeout, a listener that
 * never answers, a refused port, an endless body, and a URL with a
 * password that must never show.
 *
 * Time bounds are generous on purpose: they separate "stopped at the
 * deadline" from "waited for the server", not milliseconds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support_httpd.h"
#include "support_net.h"
#include "testutil.h"
#include "vitals/checks.h"
#include "vitals/encode.h"

static vt_test_httpd *srv;    /* plain routes */
static vt_test_httpd *silent; /* accepts, never answers */

static vt_health *health_new(void)
{
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, NULL) == VT_OK);
	return h;
}

/* Registers an http check name on url with these options. */
static void add(vt_health *h, const char *name, const char *url, long expect,
		int timeout_ms, int degraded_ms)
{
	vt_http_opts o = {.url = url, .expect_status = expect};
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.timeout_ms = timeout_ms;
	co.degraded_ms = degraded_ms;
	CU_ASSERT_FATAL(vt_check_http_add(h, name, &o, &co) == VT_OK);
}

/* Frees h and checks the callbacks had already kept their deadline. */
static void health_free_quickly(vt_health *h)
{
	double t0 = vt_test_now_ms();
	vt_health_free(h);
	CU_ASSERT(vt_test_now_ms() - t0 < 1500);
}

static void test_ok_and_fail(void)
{
	vt_health *h = health_new();
	char ok[256], fail[256];
	vt_test_httpd_url(srv, "/ok", ok, sizeof(ok));
	vt_test_httpd_url(srv, "/fail", fail, sizeof(fail));
	add(h, "ok", ok, 0, 3000, 0);
	add(h, "fail", fail, 0, 3000, 0);

	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "ok", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	const vt_detail *d = vt_test_detail(c, "status_code");
	CU_ASSERT(d != NULL && d->kind == VT_DETAIL_NUM && d->num == 200);
	d = vt_test_detail(c, "latency_ms");
	CU_ASSERT(d != NULL && d->kind == VT_DETAIL_NUM && d->num >= 0);
	d = vt_test_detail(c, "url");
	CU_ASSERT(d != NULL && d->kind == VT_DETAIL_STR &&
		  strcmp(d->str, ok) == 0);
	vt_health_snapshot_free(s);

	c = vt_test_run_one(h, "fail", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	char want[300];
	snprintf(want, sizeof(want), "HTTP 500 from %s", fail);
	CU_ASSERT(c->error != NULL && strcmp(c->error, want) == 0);
	d = vt_test_detail(c, "status_code");
	CU_ASSERT(d != NULL && d->num == 500);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

static void test_expect_status_and_method(void)
{
	vt_health *h = health_new();
	char u404[256], ok[256];
	vt_test_httpd_url(srv, "/status?code=404", u404, sizeof(u404));
	vt_test_httpd_url(srv, "/ok", ok, sizeof(ok));
	add(h, "want404", u404, 404, 3000, 0);
	add(h, "want201", ok, 201, 3000, 0);
	vt_http_opts o = {.url = ok, .method = "HEAD"};
	CU_ASSERT_FATAL(vt_check_http_add(h, "head", &o, NULL) == VT_OK);

	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "want404", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	c = vt_test_run_one(h, "want201", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(c->error, "HTTP 200 from "));
	vt_health_snapshot_free(s);
	c = vt_test_run_one(h, "head", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_test_request q;
	CU_ASSERT(vt_test_httpd_last(srv, &q) && strcmp(q.method, "HEAD") == 0);
	health_free_quickly(h);
}

static void test_slow_degraded(void)
{
	vt_health *h = health_new();
	char url[256];
	vt_test_httpd_url(srv, "/slow?ms=400", url, sizeof(url));
	add(h, "slow", url, 0, 5000, 150);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "slow", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_DEGRADED);
	CU_ASSERT(ms >= 390 && ms < 4000);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

/* Past the timeout: UNHEALTHY with a timeout error - the check's own or
 * the registry's - and the run returns at the deadline. */
static void test_slow_timeout(void)
{
	vt_health *h = health_new();
	char url[256];
	vt_test_httpd_url(srv, "/slow?ms=5000", url, sizeof(url));
	add(h, "slow", url, 0, 300, 0);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "slow", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(c->error, "timeout after"));
	CU_ASSERT(ms >= 250 && ms < 300 + 1000);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

static void test_never_answers(void)
{
	vt_health *h = health_new();
	char url[256];
	vt_test_httpd_url(silent, "/ok", url, sizeof(url));
	add(h, "silent", url, 0, 300, 0);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "silent", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(c->error, "timeout after"));
	CU_ASSERT(ms < 300 + 1000);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
	CU_ASSERT(vt_test_httpd_count(silent) >= 1); /* it did connect */
}

static void test_refused(void)
{
	vt_health *h = health_new();
	char url[256];
	int port = vt_test_free_port(); /* nothing listens there */
	CU_ASSERT_FATAL(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", port);
	add(h, "refused", url, 0, 3000, 0);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "refused", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(c->error, "cannot connect"));
	CU_ASSERT(ms < 2000);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

/* https to a server that speaks plain HTTP: a TLS error, not a hang.
 * With insecure set too: verification is not what fails here. */
static void test_tls_error(void)
{
	vt_health *h = health_new();
	char url[256];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/ok",
		 vt_test_httpd_port(srv));
	add(h, "tls", url, 0, 3000, 0);
	vt_http_opts o = {.url = url, .insecure = 1};
	CU_ASSERT_FATAL(vt_check_http_add(h, "tls-insecure", &o, NULL) ==
			VT_OK);
	const char *names[] = {"tls", "tls-insecure"};
	for (int i = 0; i < 2; i++) {
		vt_health_snapshot *s;
		double ms;
		const vt_component *c = vt_test_run_one(h, names[i], &s, &ms);
		CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
		CU_ASSERT(
		    vt_test_starts_with(c->error, "TLS handshake failed"));
		CU_ASSERT(ms < 2500);
		vt_health_snapshot_free(s);
	}
	health_free_quickly(h);
}

/* An endless body is cut at the cap: the status is what counts. */
static void test_endless_body(void)
{
	vt_health *h = health_new();
	char url[256];
	vt_test_httpd_url(srv, "/stream", url, sizeof(url));
	add(h, "stream", url, 0, 5000, 0);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "stream", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT(ms < 4000);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

/* user:password in the URL: sent to the server, never shown. */
static void test_password_redacted(void)
{
	const char *pw = "s3cr3t-pw";
	vt_health *h = health_new();
	char fail[256], slow[256], refused[256];
	int closed = vt_test_free_port();
	CU_ASSERT_FATAL(closed > 0);
	snprintf(fail, sizeof(fail), "http://alice:%s@127.0.0.1:%d/fail", pw,
		 vt_test_httpd_port(srv));
	snprintf(slow, sizeof(slow),
		 "http://alice:%s@127.0.0.1:%d/slow?ms=5000", pw,
		 vt_test_httpd_port(srv));
	snprintf(refused, sizeof(refused), "http://alice:%s@127.0.0.1:%d/", pw,
		 closed);
	add(h, "fail", fail, 0, 3000, 0);
	add(h, "slow", slow, 0, 300, 0);
	add(h, "refused", refused, 0, 3000, 0);

	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "fail", &s, NULL);
	char want[300];
	snprintf(want, sizeof(want),
		 "HTTP 500 from http://alice:***@127.0.0.1:%d/fail",
		 vt_test_httpd_port(srv));
	CU_ASSERT(c->error != NULL && strcmp(c->error, want) == 0);
	vt_health_snapshot_free(s);
	vt_test_request q;
	char auth[256];
	CU_ASSERT(
	    vt_test_httpd_last(srv, &q) &&
	    vt_test_request_header(&q, "Authorization", auth, sizeof(auth)) &&
	    vt_test_starts_with(auth, "Basic "));

	/* All three, errors and details, as JSON. */
	CU_ASSERT_FATAL(vt_health_run(h, NULL, VT_RUN_FRESH, &s) == VT_OK);
	CU_ASSERT_EQUAL(s->ncomponents, 3);
	for (size_t i = 0; i < s->ncomponents; i++) {
		CU_ASSERT_EQUAL(s->components[i].status, VT_UNHEALTHY);
		CU_ASSERT(s->components[i].error != NULL &&
			  strstr(s->components[i].error, pw) == NULL);
	}
	char *json;
	size_t len;
	CU_ASSERT_FATAL(vt_json_health(s, &json, &len) == VT_OK);
	CU_ASSERT_PTR_NULL(strstr(json, pw));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "alice:***@"));
	free(json);
	vt_health_snapshot_free(s);
	health_free_quickly(h);
}

static void test_invalid(void)
{
	vt_health *h = health_new();
	char ok[256];
	vt_test_httpd_url(srv, "/ok", ok, sizeof(ok));
	const char *bad_urls[] = {
	    "",	       "not a url",	     "ftp://127.0.0.1/x",
	    "http://", "file:///etc/passwd", NULL};
	for (int i = 0; bad_urls[i] != NULL; i++) {
		vt_http_opts o = {.url = bad_urls[i]};
		CU_ASSERT_EQUAL(vt_check_http_add(h, "x", &o, NULL), VT_EINVAL);
	}
	vt_http_opts o = {.url = NULL};
	CU_ASSERT_EQUAL(vt_check_http_add(h, "x", &o, NULL), VT_EINVAL);
	o = (vt_http_opts){.url = ok, .method = "get"};
	CU_ASSERT_EQUAL(vt_check_http_add(h, "x", &o, NULL), VT_EINVAL);
	o = (vt_http_opts){.url = ok, .method = "GET\r\nX: y"};
	CU_ASSERT_EQUAL(vt_check_http_add(h, "x", &o, NULL), VT_EINVAL);
	o = (vt_http_opts){.url = ok, .expect_status = 42};
	CU_ASSERT_EQUAL(vt_check_http_add(h, "x", &o, NULL), VT_EINVAL);
	o = (vt_http_opts){.url = ok};
	CU_ASSERT_EQUAL(vt_check_http_add(h, "bad name!", &o, NULL), VT_EINVAL);
	vt_health_filter f = {.name = "x"};
	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL(vt_health_run(h, &f, VT_RUN_CACHED, &s), VT_ENOENT);
	vt_health_free(h);
}

int main(void)
{
	/* A proxy from the environment must not sit between the check and
	 * the loopback servers. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	srv = vt_test_httpd_start();
	silent = vt_test_httpd_start_silent();
	if (srv == NULL || silent == NULL) {
		fprintf(stderr, "cannot start the test HTTP servers\n");
		return 2;
	}
	static const vt_test tests[] = {
	    {"200 healthy, 500 unhealthy", test_ok_and_fail},
	    {"expect_status and HEAD", test_expect_status_and_method},
	    {"slow past degraded_ms: degraded", test_slow_degraded},
	    {"slow past the timeout: unhealthy at the deadline",
	     test_slow_timeout},
	    {"listener that never answers: timeout", test_never_answers},
	    {"refused port: unhealthy", test_refused},
	    {"https to plain HTTP: TLS error", test_tls_error},
	    {"endless body: capped, healthy", test_endless_body},
	    {"password never shown", test_password_redacted},
	    {"bad options refused at registration", test_invalid},
	    {NULL, NULL},
	};
	int rc = vt_test_main("http_check", tests);
	vt_test_httpd_stop(silent);
	vt_test_httpd_stop(srv);
	return rc;
}
