/*
 * test_redis.c - the redis check against real redis-server processes on
 * free loopback ports: healthy without and with AUTH (password, ACL
 * user, unix socket), a wrong password, a refused port, a port that
 * never answers and one that never completes a connect, a server killed
 * and restarted under the background scheduler. No password may appear
 * in the snapshot JSON (which holds every detail and error), and the
 * check prints nothing.
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

/* The password of the AUTH server, and as it is spelt in URLs. */
#define PW     "s3cr3t/p@ss:w%rd"
#define PW_URL "s3cr3t%2Fp%40ss%3Aw%25rd"
#define WRONG  "Wr0ng-Pa55word"
/* PW_URL inside a printf format. */
#define PW_FMT "s3cr3t%%2Fp%%40ss%%3Aw%%25rd"

static vt_test_server plain, authd;

static const char *const secrets[] = {PW, PW_URL, WRONG, "s3cr3t", NULL};

/* One fresh run of the check registered as "redis" on h; returns the
 * snapshot (one component) and checks its JSON for secrets. *ms is how
 * long vt_health_run took. */
static vt_health_snapshot *run(vt_health *h, double *ms)
{
	vt_health_snapshot *s = NULL;
	vt_test_capture cap;
	vt_test_capture_begin(&cap);
	double t0 = vt_test_now_ms();
	vt_err e = vt_health_run(h, NULL, VT_RUN_FRESH, &s);
	double t1 = vt_test_now_ms();
	vt_test_capture_end_silent(&cap);
	if (ms != NULL)
		*ms = t1 - t0;
	CU_ASSERT_EQUAL_FATAL(e, VT_OK);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 1);
	vt_test_assert_snapshot_no_secret(s, secrets);
	return s;
}

/* A registry with one redis check; NULL if registration failed. */
static vt_health *with_check(const char *url, int timeout_ms, int connect_ms,
			     int command_ms)
{
	vt_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	vt_redis_opts o = {.url = url,
			   .connect_timeout_ms = connect_ms,
			   .command_timeout_ms = command_ms};
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.timeout_ms = timeout_ms;
	vt_err e = vt_check_redis_add(h, "redis", &o, &co);
	CU_ASSERT_EQUAL(e, VT_OK);
	if (e != VT_OK) {
		vt_health_free(h);
		return NULL;
	}
	return h;
}

/* Runs url once and asserts it is healthy with the usual details;
 * shown is the URL as the detail must show it. */
static void expect_healthy(const char *url, const char *shown)
{
	vt_health *h = with_check(url, 2000, 0, 0);
	if (h == NULL)
		return;
	vt_health_snapshot *s = run(h, NULL);
	const vt_component *c = &s->components[0];
	if (c->status != VT_HEALTHY)
		fprintf(stderr, "%s: %s\n", shown,
			c->error ? c->error : "(no error)");
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	const vt_detail *lat = vt_test_detail(c, "latency_ms");
	CU_ASSERT_PTR_NOT_NULL(lat);
	if (lat != NULL) {
		CU_ASSERT_EQUAL(lat->kind, VT_DETAIL_NUM);
		CU_ASSERT(lat->num >= 0 && lat->num < 2000);
	}
	const char *role = vt_test_detail_str(c, "role");
	CU_ASSERT_PTR_NOT_NULL(role);
	if (role != NULL)
		CU_ASSERT_STRING_EQUAL(role, "master");
	const char *version = vt_test_detail_str(c, "version");
	CU_ASSERT_PTR_NOT_NULL(version);
	if (version != NULL)
		CU_ASSERT(version[0] >= '1' && version[0] <= '9');
	const char *u = vt_test_detail_str(c, "url");
	CU_ASSERT_PTR_NOT_NULL(u);
	if (u != NULL)
		CU_ASSERT_STRING_EQUAL(u, shown);

	/* A second run reuses the connection and is healthy again. */
	vt_health_snapshot_free(s);
	s = run(h, NULL);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* Runs url once and asserts it is unhealthy with an error containing
 * each of the NULL-terminated want[]. Returns the run's duration. */
static double expect_unhealthy(const char *url, int timeout_ms, int connect_ms,
			       int command_ms, const char *const *want)
{
	vt_health *h = with_check(url, timeout_ms, connect_ms, command_ms);
	if (h == NULL)
		return 0;
	double ms = 0;
	vt_health_snapshot *s = run(h, &ms);
	const vt_component *c = &s->components[0];
	if (getenv("VT_TEST_VERBOSE") != NULL)
		fprintf(stderr, "  [%.0f ms] %s\n", ms,
			c->error ? c->error : "");
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT_PTR_NOT_NULL(c->error);
	for (int i = 0; c->error != NULL && want[i] != NULL; i++) {
		if (strstr(c->error, want[i]) == NULL)
			fprintf(stderr, "error '%s' lacks '%s'\n", c->error,
				want[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(c->error, want[i]));
	}
	vt_health_snapshot_free(s);
	/* Freeing waits for a callback still running: the check itself
	 * gives up by the run's deadline, not at some longer timeout. */
	double t0 = vt_test_now_ms();
	vt_health_free(h);
	double total = ms + (vt_test_now_ms() - t0);
	if (total >= timeout_ms + 400)
		fprintf(stderr, "the check ran %.0f ms\n", total);
	CU_ASSERT(total < timeout_ms + 400);
	return ms;
}

static void test_healthy_without_password(void)
{
	char url[256];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", plain.port);
	expect_healthy(url, url);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", plain.port);
	expect_healthy(url, url);
	snprintf(url, sizeof(url), "redis://localhost:%d/3", plain.port);
	expect_healthy(url, url);
	snprintf(url, sizeof(url), "unix://%s?db=2", plain.unix_path);
	expect_healthy(url, url);
}

static void test_healthy_with_password(void)
{
	char url[256], shown[256];
	snprintf(url, sizeof(url), "redis://:" PW_FMT "@127.0.0.1:%d/1",
		 authd.port);
	snprintf(shown, sizeof(shown), "redis://:***@127.0.0.1:%d/1",
		 authd.port);
	expect_healthy(url, shown);

	/* Redis 6 ACL form: AUTH user password. */
	snprintf(url, sizeof(url), "redis://default:" PW_FMT "@127.0.0.1:%d",
		 authd.port);
	snprintf(shown, sizeof(shown), "redis://default:***@127.0.0.1:%d",
		 authd.port);
	expect_healthy(url, shown);

	snprintf(url, sizeof(url), "unix://%s?db=1&password=" PW_FMT,
		 authd.unix_path);
	snprintf(shown, sizeof(shown), "unix://%s?db=1&password=***",
		 authd.unix_path);
	expect_healthy(url, shown);
}

static void test_wrong_password(void)
{
	char url[256];
	static const char *const wrongpass[] = {"AUTH failed: WRONGPASS", NULL};
	snprintf(url, sizeof(url), "redis://:" WRONG "@127.0.0.1:%d/0",
		 authd.port);
	expect_unhealthy(url, 2000, 0, 0, wrongpass);
	snprintf(url, sizeof(url), "redis://alice:" WRONG "@127.0.0.1:%d",
		 authd.port);
	expect_unhealthy(url, 2000, 0, 0, wrongpass);

	/* No password for a server that wants one. */
	static const char *const noauth[] = {"NOAUTH", NULL};
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", authd.port);
	expect_unhealthy(url, 2000, 0, 0, noauth);

	/* A password for a server without one. */
	static const char *const nopw[] = {"AUTH failed", NULL};
	snprintf(url, sizeof(url), "redis://:" WRONG "@127.0.0.1:%d",
		 plain.port);
	expect_unhealthy(url, 2000, 0, 0, nopw);
}

static void test_refused(void)
{
	int port = vt_test_free_port();
	char url[128], want[128];
	snprintf(url, sizeof(url), "redis://:" PW_FMT "@127.0.0.1:%d", port);
	snprintf(want, sizeof(want), "connect 127.0.0.1:%d: Connection refused",
		 port);
	const char *const w[] = {want, NULL};
	double ms = expect_unhealthy(url, 1000, 0, 0, w);
	CU_ASSERT(ms < 500);

	static const char *const nosock[] = {"connect /nonexistent/redis.sock",
					     NULL};
	expect_unhealthy("unix:///nonexistent/redis.sock", 1000, 0, 0, nosock);
}

static void test_never_answers(void)
{
	int port = 0;
	int fd = vt_test_silent_listener(&port);
	CU_ASSERT_FATAL(fd >= 0);
	char url[128];
	snprintf(url, sizeof(url), "redis://:" PW_FMT "@127.0.0.1:%d/0", port);

	/* The check's own command timeout. */
	static const char *const cmd[] = {"AUTH: timed out after 200 ms", NULL};
	double ms = expect_unhealthy(url, 3000, 0, 200, cmd);
	CU_ASSERT(ms >= 190 && ms < 200 + 400);

	/* The run's deadline is earlier than the command timeout: the
	 * check gives up at the deadline, and the next run can start. */
	static const char *const any[] = {"time", NULL};
	for (int i = 0; i < 2; i++) {
		ms = expect_unhealthy(url, 500, 0, 5000, any);
		CU_ASSERT(ms < 500 + 400);
	}
	close(fd);
}

static void test_connect_never_completes(void)
{
	int port = 0, fillers[3];
	int fd = vt_test_blackhole_listener(&port, fillers);
	CU_ASSERT_FATAL(fd >= 0);
	char url[128], want[128];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	snprintf(want, sizeof(want),
		 "connect 127.0.0.1:%d: timed out after "
		 "300 ms",
		 port);
	const char *const w[] = {want, NULL};
	double ms = expect_unhealthy(url, 3000, 300, 0, w);
	CU_ASSERT(ms >= 290 && ms < 300 + 400);

	static const char *const any[] = {"time", NULL};
	ms = expect_unhealthy(url, 400, 5000, 0, any);
	CU_ASSERT(ms < 400 + 400);
	close(fd);
	for (int i = 0; i < 3; i++)
		if (fillers[i] >= 0)
			close(fillers[i]);
}

/* Polls the cached result until it has status want; returns the time
 * it took, or -1 after limit_ms. */
static double wait_cached(vt_health *h, vt_status want, double limit_ms,
			  char *last_error, size_t cap)
{
	double t0 = vt_test_now_ms();
	while (vt_test_now_ms() - t0 < limit_ms) {
		vt_health_snapshot *s = NULL;
		if (vt_health_run(h, NULL, VT_RUN_CACHED, &s) == VT_OK) {
			const vt_component *c = &s->components[0];
			bool done = c->status == want;
			if (last_error != NULL)
				snprintf(last_error, cap, "%s",
					 c->error ? c->error : "");
			char *json = NULL;
			size_t len;
			if (vt_json_health(s, &json, &len) == VT_OK)
				vt_test_assert_no_secret(json, secrets);
			free(json);
			vt_health_snapshot_free(s);
			if (done)
				return vt_test_now_ms() - t0;
		}
		vt_test_sleep_ms(10);
	}
	return -1;
}

static void test_killed_and_restarted(void)
{
	static vt_test_server flappy;
	CU_ASSERT_FATAL(vt_test_redis_start(&flappy, 0, PW) == 0);
	char url[128];
	snprintf(url, sizeof(url), "redis://:" PW_FMT "@127.0.0.1:%d/0",
		 flappy.port);

	const int interval = 200, timeout = 500;
	vt_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	vt_redis_opts o = {
	    .url = url, .connect_timeout_ms = 300, .command_timeout_ms = 300};
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.timeout_ms = timeout;
	co.interval_ms = interval;
	CU_ASSERT_EQUAL_FATAL(vt_check_redis_add(h, "redis", &o, &co), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_health_start(h), VT_OK);

	char err[600];
	CU_ASSERT(wait_cached(h, VT_HEALTHY, 5000, err, sizeof(err)) >= 0);

	/* Killed mid-run: the next run (within one interval) fails within
	 * its timeout. The bound is generous for slow sanitizer builds. */
	vt_test_srv_kill(&flappy);
	double down = wait_cached(h, VT_UNHEALTHY, 5000, err, sizeof(err));
	fprintf(stderr, "  unhealthy %.0f ms after the kill: %s\n", down, err);
	CU_ASSERT(down >= 0);
	CU_ASSERT(down <= interval * 1.1 + timeout + 1000);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "127.0.0.1"));

	/* Restarted on the same port: healthy again, same check. */
	CU_ASSERT_FATAL(vt_test_redis_start(&flappy, flappy.port, PW) == 0);
	double up = wait_cached(h, VT_HEALTHY, 5000, err, sizeof(err));
	fprintf(stderr, "  healthy %.0f ms after the restart\n", up);
	CU_ASSERT(up >= 0);
	CU_ASSERT(up <= interval * 1.1 + timeout + 1000);

	vt_health_stop(h);
	vt_health_free(h);
	vt_test_srv_stop(&flappy);
}

static void test_rejects_bad_options(void)
{
	vt_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	static const char *const bad[] = {
	    "rediss://127.0.0.1:6379",	   /* no TLS in hiredis 0.14 */
	    "redis://alice@127.0.0.1",	   /* a user needs a password */
	    "redis://127.0.0.1/x",	   /* db not a number */
	    "redis://127.0.0.1/1/2",	   /* db not a number */
	    "redis://:pw@:6379",	   /* no host */
	    "redis://127.0.0.1:70000",	   /* port */
	    "http://127.0.0.1:6379",	   /* scheme */
	    "unix://relative/path",	   /* host in a unix URL */
	    "unix:///tmp/s.sock?db=one",   /* db */
	    "unix://:a@/tmp/s?password=b", /* two passwords */
	    "127.0.0.1:6379",		   /* not a URL */
	    NULL,
	};
	for (int i = 0; bad[i] != NULL; i++) {
		vt_redis_opts o = {.url = bad[i]};
		vt_err e = vt_check_redis_add(h, "redis", &o, NULL);
		if (e != VT_EINVAL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(e, VT_EINVAL);
	}
	vt_redis_opts o = {.url = "redis://127.0.0.1",
			   .command_timeout_ms = -1};
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", &o, NULL), VT_EINVAL);
	o.command_timeout_ms = 0;
	o.connect_timeout_ms = -5;
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", &o, NULL), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", NULL, NULL), VT_EINVAL);
	o.connect_timeout_ms = 0;
	o.url = NULL;
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", &o, NULL), VT_EINVAL);
	/* A bad name is refused by the registry; nothing leaks. */
	o.url = "redis://:pw@127.0.0.1";
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "bad name", &o, NULL), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", &o, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_check_redis_add(h, "redis", &o, NULL), VT_EEXIST);

	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_health_run(h, NULL, VT_RUN_CACHED, &s), VT_OK);
	CU_ASSERT_EQUAL(s->ncomponents, 1);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

int main(void)
{
	/* The check must survive SIGPIPE's default action (terminate). */
	signal(SIGPIPE, SIG_DFL);
	double t0 = vt_test_now_ms();
	if (vt_test_redis_start(&plain, 0, NULL) != 0 ||
	    vt_test_redis_start(&authd, 0, PW) != 0) {
		fprintf(stderr, "FAIL: could not start redis-server\n");
		vt_test_srv_stop(&plain);
		vt_test_srv_stop(&authd);
		return 1;
	}
	fprintf(stderr, "redis-server on ports %d and %d (%.0f ms)\n",
		plain.port, authd.port, vt_test_now_ms() - t0);
	static const vt_test tests[] = {
	    {"healthy without password", test_healthy_without_password},
	    {"healthy with password", test_healthy_with_password},
	    {"wrong password", test_wrong_password},
	    {"refused", test_refused},
	    {"never answers", test_never_answers},
	    {"connect never completes", test_connect_never_completes},
	    {"killed and restarted", test_killed_and_restarted},
	    {"rejects bad options", test_rejects_bad_options},
	    {NULL, NULL},
	};
	int rc = vt_test_main("redis", tests);
	vt_test_srv_stop(&plain);
	vt_test_srv_stop(&authd);
	return rc;
}
