/*
 * test_vitalsd.c - the built vitalsd, end to end: --check-config on good
 * and bad files; a running daemon (on free loopback ports, with a config
 * this test writes) queried on every endpoint through curl, through the
 * built vitalsctl and through libvitals-client, bodies checked field by
 * field against DESIGN.md; its Prometheus text through promtool and a
 * real Prometheus server scraping it; status changes on the pub socket
 * and in the log; and SIGTERM while a slow fresh /health is in flight.
 *
 * The checks need no callbacks and no outside servers: tcp to a port
 * this test listens on (and closes, to make it fail), tcp to a port
 * nobody listens on, the Nagios-style scripts of tests/plugins, disk on
 * /, and a redis check of a dead port whose URL carries a password that
 * must never show. Time bounds are generous: they tell "happened" from
 * "never happened", not milliseconds.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support_daemon.h"
#include "testutil.h"
#include "vitals/client.h"

#define PLUGINS VT_TEST_GOLDEN_DIR "/../plugins"

/* ---- a port the "port" check connects to ---------------------------- */

static int listen_fd = -1;
static int listen_port;
static pthread_t accept_thread;
static int accept_running;

static void *accept_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			return NULL; /* closed by the test */
		close(c);
	}
}

/* Listens on 127.0.0.1:listen_port (a free port on the first call). */
static int listener_open(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)listen_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return 0;
	}
	listen_port = ntohs(a.sin_port);
	listen_fd = fd;
	accept_running = pthread_create(&accept_thread, NULL, accept_main,
					(void *)(intptr_t)fd) == 0;
	return 1;
}

static void listener_close(void)
{
	if (listen_fd < 0)
		return;
	shutdown(listen_fd, SHUT_RDWR); /* wakes accept */
	if (accept_running)
		pthread_join(accept_thread, NULL);
	accept_running = 0;
	close(listen_fd);
	listen_fd = -1;
}

/* ---- the daemon under test ------------------------------------------ */

static vt_test_daemon d;
static int dead_port;
static int started;

/* The main daemon, started once: six checks, degraded answered 429,
 * HTTP address given by --http (the file names another port). */
static int daemon_up(void)
{
	if (started)
		return d.pid > 0;
	started = 1;
	if (!listener_open() || (dead_port = vt_test_free_port()) < 0)
		return 0;
	char checks[4096];
	snprintf(
	    checks, sizeof(checks),
	    "{\"name\": \"port\", \"type\": \"tcp\", \"address\": "
	    "\"127.0.0.1:%d\", \"interval_ms\": 300, \"timeout_ms\": 1000, "
	    "\"tags\": [\"ready\", \"live\"]},\n"
	    "{\"name\": \"ok\", \"type\": \"exec\", \"command\": "
	    "[\"" PLUGINS "/ok.sh\", \"a\"], \"interval_ms\": 1000, "
	    "\"tags\": [\"live\"]},\n"
	    "{\"name\": \"disk\", \"type\": \"disk\", \"path\": \"/\", "
	    "\"interval_ms\": 1000, \"tags\": [\"ready\"]},\n"
	    "{\"name\": \"warn\", \"type\": \"exec\", \"command\": "
	    "[\"" PLUGINS "/warn.sh\"], \"critical\": false, "
	    "\"interval_ms\": 1000, \"tags\": [\"warnonly\"]},\n"
	    "{\"name\": \"down\", \"type\": \"tcp\", \"address\": "
	    "\"127.0.0.1:%d\", \"interval_ms\": 1000, \"tags\": "
	    "[\"down\"]},\n"
	    "{\"name\": \"cache\", \"type\": \"redis\", \"url\": "
	    "\"redis://:hunter2@127.0.0.1:%d/0\", \"critical\": false, "
	    "\"interval_ms\": 1000, \"timeout_ms\": 500, \"tags\": "
	    "[\"secret\"]}",
	    listen_port, dead_port, dead_port);
	return vt_test_daemon_start(&d, "main",
				    "\"workers\": 4, \"degraded_http_code\": "
				    "429,",
				    checks, 1);
}

/* ---- HTTP through curl ----------------------------------------------- */

typedef struct resp {
	int code;
	char ctype[128];
	char *body;
} resp;

static atomic_int body_seq;

/* curl -X method http://addr/path [-H "Accept: accept"]; 1 if curl ran. */
static int http_at(resp *r, const char *addr, const char *method,
		   const char *path, const char *accept)
{
	char file[512], cmd[2048], hdr[256] = "";
	snprintf(file, sizeof(file), "%s/body-%d", vt_test_tmpdir(),
		 atomic_fetch_add(&body_seq, 1));
	if (accept != NULL)
		snprintf(hdr, sizeof(hdr), "-H 'Accept: %s'", accept);
	snprintf(cmd, sizeof(cmd),
		 "curl -sS --max-time 60 -X %s %s -o '%s' -w '%%{http_code} "
		 "%%{content_type}' 'http://%s%s'",
		 method, hdr, file, addr, path);
	char *out = NULL;
	int rc = vt_test_sh(cmd, &out);
	memset(r, 0, sizeof(*r));
	if (out != NULL)
		sscanf(out, "%d %127[^\n]", &r->code, r->ctype);
	free(out);
	r->body = vt_test_read_file(file, NULL);
	if (r->body == NULL)
		r->body = calloc(1, 1);
	unlink(file);
	return rc == 0;
}

static int http(resp *r, const char *path, const char *accept)
{
	return http_at(r, d.http, "GET", path, accept);
}

static cJSON *json_of(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	if (j == NULL)
		fprintf(stderr, "\nnot JSON: %.300s\n", text);
	return j;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *component(const cJSON *health, const char *name)
{
	const cJSON *cs =
	    cJSON_GetObjectItemCaseSensitive(health, "components");
	const cJSON *c;
	cJSON_ArrayForEach(c, cs)
	{
		const char *n = str_of(c, "name");
		if (n != NULL && strcmp(n, name) == 0)
			return c;
	}
	return NULL;
}

/* Every field DESIGN.md and encode.h give a component, with its type. */
static void assert_component_shape(const cJSON *c)
{
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(c, "name")));
	const char *st = str_of(c, "status");
	CU_ASSERT(st != NULL &&
		  (strcmp(st, "healthy") == 0 || strcmp(st, "degraded") == 0 ||
		   strcmp(st, "unhealthy") == 0));
	const cJSON *det = cJSON_GetObjectItem(c, "details");
	CU_ASSERT(cJSON_IsObject(det) || cJSON_IsNull(det));
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(c, "last_check_time")));
	const cJSON *err = cJSON_GetObjectItem(c, "error");
	CU_ASSERT(cJSON_IsString(err) || cJSON_IsNull(err));
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(c, "duration_ms")));
	CU_ASSERT(cJSON_IsBool(cJSON_GetObjectItem(c, "critical")));
	CU_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(c, "tags")));
	CU_ASSERT(
	    cJSON_IsNumber(cJSON_GetObjectItem(c, "consecutive_failures")));
	const cJSON *lsc = cJSON_GetObjectItem(c, "last_status_change");
	CU_ASSERT(cJSON_IsNumber(lsc) || cJSON_IsNull(lsc));
	CU_ASSERT(cJSON_IsBool(cJSON_GetObjectItem(c, "stale")));
}

static void assert_status(const cJSON *o, const char *want)
{
	const char *st = str_of(o, "status");
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	if (strcmp(st, want) != 0)
		fprintf(stderr, "\nstatus %s, want %s\n", st, want);
	CU_ASSERT_STRING_EQUAL(st, want);
}

/* Waits until every check has a cached result (the scheduler ran them
 * all once). */
static void wait_for_cache(void)
{
	double end = vt_test_now_ms() + 20000;
	while (vt_test_now_ms() < end) {
		resp r;
		http(&r, "/health?cache=true", NULL);
		int ready = strstr(r.body, "no result yet") == NULL &&
			    strstr(r.body, "\"components\"") != NULL;
		free(r.body);
		if (ready)
			return;
		vt_test_sleep_ms(100);
	}
	CU_FAIL("the cache never filled");
}

/* ---- --check-config ----------------------------------------------------- */

static char vitalsd[1024];

/* Runs vitalsd with args (shell words), stderr and stdout captured. */
static int run_vitalsd(const char *args, char **out)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", vitalsd, args);
	return vt_test_sh(cmd, out);
}

/* Writes text to NAME.json and expects --check-config to refuse it,
 * with the file, each of want[] (NULL-terminated) in the message. */
static void refused_file(const char *name, const char *text,
			 const char *const *want)
{
	char path[512], file[128], args[700];
	snprintf(file, sizeof(file), "%s.json", name);
	CU_ASSERT_FATAL(vt_test_write_file(file, text, path, sizeof(path)) !=
			NULL);
	snprintf(args, sizeof(args), "--check-config '%s'", path);
	char *out = NULL;
	int rc = run_vitalsd(args, &out);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "vitalsd: %s: ", path);
	CU_ASSERT(strncmp(out, prefix, strlen(prefix)) == 0);
	for (const char *const *w = want; *w != NULL; w++) {
		if (strstr(out, *w) == NULL)
			fprintf(stderr, "\n%s: \"%s\" not in: %s", name, *w,
				out);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, *w));
	}
	free(out);
}

static void test_check_config(void)
{
	CU_ASSERT_FATAL(
	    vt_test_build_path("vitalsd", vitalsd, sizeof(vitalsd)) != NULL);
	char *out = NULL;
	CU_ASSERT_EQUAL(run_vitalsd("--version", &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "vitalsd 0.1.0"));
	free(out);
	CU_ASSERT_EQUAL(run_vitalsd("--help", &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--check-config FILE"));
	free(out);
	CU_ASSERT_EQUAL(run_vitalsd("", &out), 2);
	free(out);
	CU_ASSERT_EQUAL(run_vitalsd("--config", &out), 2);
	free(out);
	CU_ASSERT_EQUAL(run_vitalsd("--bogus x", &out), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown argument \"--bogus\""));
	free(out);

	/* The shipped default config is valid here. */
	CU_ASSERT_EQUAL(run_vitalsd("--check-config '" VT_TEST_GOLDEN_DIR
				    "/../../config/vitalsd.json'",
				    &out),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok (4 checks)"));
	free(out);

	char path[512], args[700];
	vt_test_write_file("good.json",
			   "{\"http\": \"127.0.0.1:8080\", \"workers\": 2,\n"
			   " \"checks\": [{\"name\": \"ok\", \"type\": "
			   "\"exec\", \"command\": [\"/bin/true\"]},\n"
			   " {\"name\": \"d\", \"type\": \"disk\", \"path\": "
			   "\"/\"}]}\n",
			   path, sizeof(path));
	snprintf(args, sizeof(args), "--check-config '%s'", path);
	CU_ASSERT_EQUAL(run_vitalsd(args, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok (2 checks)"));
	free(out);

	refused_file(
	    "syntax",
	    "{\"checks\": [\n {\"name\": \"a\", \"type\": \"disk\", "
	    "\"path\": \"/\"}\n {\"name\": \"b\"}]}",
	    (const char *const[]){"line 3, column", "JSON syntax", NULL});
	refused_file("unknown_key",
		     "{\"checks\": [{\"name\": \"a\", \"type\": \"disk\", "
		     "\"path\": \"/\"}, {\"name\": \"r\", \"type\": \"redis\", "
		     "\"url\": \"redis://h\", \"timout_ms\": 5}]}",
		     (const char *const[]){"checks[1] \"r\"",
					   "field \"timout_ms\"",
					   "unknown field", NULL});
	refused_file("bad_type",
		     "{\"checks\": [{\"name\": \"a\", \"type\": \"disk\", "
		     "\"path\": \"/\"}, {\"name\": \"b\", \"type\": \"disk\", "
		     "\"path\": \"/\"}, {\"name\": \"redis\", \"type\": "
		     "\"redis\", \"url\": \"redis://h\", \"timeout_ms\": "
		     "\"1000\"}]}",
		     (const char *const[]){"checks[2] \"redis\": field "
					   "\"timeout_ms\": must be a "
					   "positive integer",
					   NULL});
	refused_file("missing_field",
		     "{\"checks\": [{\"name\": \"p\", \"type\": \"tcp\"}]}",
		     (const char *const[]){"checks[0] \"p\": field "
					   "\"address\": missing",
					   NULL});
	refused_file("unknown_type",
		     "{\"checks\": [{\"name\": \"db\", \"type\": \"mysql\"}]}",
		     (const char *const[]){"checks[0] \"db\": field \"type\": "
					   "unknown check type \"mysql\"",
					   NULL});
	refused_file("secret_in_file",
		     "{\"checks\": [{\"name\": \"dm\", \"type\": \"dmarket\", "
		     "\"public_key\": \"00\", \"secret_key\": "
		     "\"deadbeefcafe\"}]}",
		     (const char *const[]){"checks[0] \"dm\": field "
					   "\"secret_key\"",
					   "secret_key_env", NULL});
	unsetenv("VT_ITEST_NO_SECRET");
	refused_file(
	    "missing_secret_env",
	    "{\"checks\": [{\"name\": \"dm\", \"type\": \"dmarket\", "
	    "\"public_key\": \"d75a980182b10ab7d54bfed3c964073a0ee172f3"
	    "daa62325af021a68f707511a\", \"secret_key_env\": "
	    "\"VT_ITEST_NO_SECRET\"}]}",
	    (const char *const[]){"checks[0] \"dm\": field "
				  "\"secret_key_env\"",
				  "VT_ITEST_NO_SECRET is not set", NULL});
	refused_file("exec_missing",
		     "{\"checks\": [{\"name\": \"load\", \"type\": \"exec\", "
		     "\"command\": [\"/nonexistent/check_load\"]}]}",
		     (const char *const[]){"checks[0] \"load\": field "
					   "\"command\"",
					   "/nonexistent/check_load", NULL});
	/* The secret's value never shows. */
	refused_file("secret_echo",
		     "{\"checks\": [{\"name\": \"dm\", \"type\": \"dmarket\", "
		     "\"secret_key\": \"s3cr3tvalue\"}]}",
		     (const char *const[]){"field \"secret_key\"", NULL});
	snprintf(args, sizeof(args), "--check-config '%s/secret_echo.json'",
		 vt_test_tmpdir());
	run_vitalsd(args, &out);
	CU_ASSERT_PTR_NULL(strstr(out, "s3cr3tvalue"));
	free(out);

	/* Running on a bad file refuses to start, with the same message. */
	snprintf(args, sizeof(args), "--config '%s/bad_type.json'",
		 vt_test_tmpdir());
	CU_ASSERT_EQUAL(run_vitalsd(args, &out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "field \"timeout_ms\""));
	free(out);
	CU_ASSERT_EQUAL(run_vitalsd("--config /nonexistent/vitals.json", &out),
			1);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(out, "vitalsd: /nonexistent/vitals.json: cannot open"));
	free(out);
}

/* ---- GET /health and friends through curl ----------------------------- */

static void test_http_health(void)
{
	CU_ASSERT_FATAL(daemon_up());
	wait_for_cache();

	/* The file's own http port is not used: --http won. */
	CU_ASSERT_FALSE(vt_test_wait_port(d.file_http_port, 200));

	resp r;
	CU_ASSERT_FATAL(http(&r, "/health", NULL));
	CU_ASSERT_EQUAL(r.code, 503); /* "down" is critical */
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "application/json"));
	cJSON *j = json_of(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	assert_status(j, "unhealthy");
	const cJSON *ts = cJSON_GetObjectItem(j, "timestamp");
	CU_ASSERT(cJSON_IsNumber(ts) && ts->valuedouble > 1.7e9);
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItem(j, "components")), 6);
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "components"))
	    assert_component_shape(c);

	c = component(j, "port");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "healthy");
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(c, "error")));
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(c, "critical")));
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(c, "tags")), 2);
	CU_ASSERT(cJSON_GetObjectItem(c, "last_check_time")->valuedouble >
		  1.7e9);

	c = component(j, "ok");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "healthy");
	const char *output =
	    str_of(cJSON_GetObjectItem(c, "details"), "output");
	CU_ASSERT(output != NULL && strstr(output, "OK - args: a") != NULL);

	c = component(j, "disk");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(c, "details"), "free_pct")));

	c = component(j, "warn");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "degraded");
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(c, "critical")));

	c = component(j, "down");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "unhealthy");
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(c, "error")));
	CU_ASSERT(cJSON_GetObjectItem(c, "consecutive_failures")->valuedouble >=
		  1);

	c = component(j, "cache");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "unhealthy");
	/* The redis password never shows. */
	CU_ASSERT_PTR_NULL(strstr(r.body, "hunter2"));
	cJSON_Delete(j);
	free(r.body);

	/* Tag and exclude filters, and the status codes: 200, the
	 * configured 429 for degraded, 503. */
	static const struct {
		const char *path;
		int code;
		const char *status;
		int ncomponents;
	} cases[] = {
	    {"/health?tag=ready", 200, "healthy", 2},
	    {"/health?tag=warnonly", 429, "degraded", 1},
	    {"/health?tag=down", 503, "unhealthy", 1},
	    {"/health?exclude=down,cache", 429, "degraded", 4},
	    {"/health?exclude=down,cache,warn", 200, "healthy", 3},
	    {"/health?exclude=down", 429, "degraded", 5}, /* cache: not
							     critical */
	    {"/health?cache=true&tag=ready", 200, "healthy", 2},
	    {"/health?cache=true", 503, "unhealthy", 6},
	    {"/livez", 200, "healthy", 2},
	    {"/readyz", 200, "healthy", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_FATAL(http(&r, cases[i].path, NULL));
		if (r.code != cases[i].code)
			fprintf(stderr, "\n%s: %d, want %d: %.300s\n",
				cases[i].path, r.code, cases[i].code, r.body);
		CU_ASSERT_EQUAL(r.code, cases[i].code);
		j = json_of(r.body);
		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		assert_status(j, cases[i].status);
		CU_ASSERT_EQUAL(
		    cJSON_GetArraySize(cJSON_GetObjectItem(j, "components")),
		    cases[i].ncomponents);
		cJSON_Delete(j);
		free(r.body);
	}

	/* One component. */
	CU_ASSERT_FATAL(http(&r, "/health/port", NULL));
	CU_ASSERT_EQUAL(r.code, 200);
	j = json_of(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "name"), "port");
	assert_status(j, "healthy");
	assert_component_shape(j);
	cJSON_Delete(j);
	free(r.body);
	CU_ASSERT_FATAL(http(&r, "/health/down", NULL));
	CU_ASSERT_EQUAL(r.code, 503);
	free(r.body);
	CU_ASSERT_FATAL(http(&r, "/health/nope", NULL));
	CU_ASSERT_EQUAL(r.code, 404);
	j = json_of(r.body);
	CU_ASSERT(j != NULL && str_of(j, "error") != NULL);
	cJSON_Delete(j);
	free(r.body);

	/* Errors are JSON with a fitting code. */
	CU_ASSERT_FATAL(http_at(&r, d.http, "POST", "/health", NULL));
	CU_ASSERT_EQUAL(r.code, 405);
	j = json_of(r.body);
	CU_ASSERT(j != NULL && str_of(j, "error") != NULL);
	cJSON_Delete(j);
	free(r.body);
	CU_ASSERT_FATAL(http(&r, "/no/such/path", NULL));
	CU_ASSERT_EQUAL(r.code, 404);
	free(r.body);

	/* IETF health-check format on request. */
	CU_ASSERT_FATAL(http(&r, "/health", "application/health+json"));
	CU_ASSERT_EQUAL(r.code, 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "application/health+json"));
	j = json_of(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	assert_status(j, "fail");
	CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(j, "checks")));
	cJSON_Delete(j);
	free(r.body);
}

/* ---- /metrics ----------------------------------------------------------- */

/* 1 if promtool check metrics accepts the text in file. */
static int promtool_ok(const char *text)
{
	char path[512], cmd[1200];
	vt_test_write_file("metrics.txt", text, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s' 2>&1",
		 VT_TEST_PROMTOOL, path);
	char *out = NULL;
	int rc = vt_test_sh(cmd, &out);
	if (rc != 0)
		fprintf(stderr, "\npromtool (%d): %s\n", rc, out);
	free(out);
	return rc == 0;
}

static double metric_value(const cJSON *metrics, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(metrics, key);
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(v, "value");
	return cJSON_IsNumber(val) ? val->valuedouble : -1;
}

static void test_http_metrics(void)
{
	CU_ASSERT_FATAL(daemon_up());
	wait_for_cache();
	resp r;
	CU_ASSERT_FATAL(http(&r, "/metrics", NULL));
	CU_ASSERT_EQUAL(r.code, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "application/json"));
	cJSON *j = json_of(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(
	    j, "vitals_check_status{check=\"port\"}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(str_of(s, "type"), "gauge");
	CU_ASSERT_STRING_EQUAL(
	    str_of(cJSON_GetObjectItem(s, "labels"), "check"), "port");
	CU_ASSERT_EQUAL(metric_value(j, "vitals_check_status{check=\"port\"}"),
			0);
	CU_ASSERT_EQUAL(metric_value(j, "vitals_check_status{check=\"warn\"}"),
			1);
	CU_ASSERT_EQUAL(metric_value(j, "vitals_check_status{check=\"down\"}"),
			2);
	CU_ASSERT(metric_value(j, "vitals_check_runs_total{check=\"port\","
				  "result=\"healthy\"}") >= 1);
	const cJSON *dh = cJSON_GetObjectItemCaseSensitive(
	    j, "vitals_check_duration_seconds{check=\"port\"}");
	CU_ASSERT_STRING_EQUAL(str_of(dh, "type"), "histogram");
	CU_ASSERT(cJSON_GetNumberValue(cJSON_GetObjectItem(dh, "count")) >= 1);
	CU_ASSERT(metric_value(j, "process_start_time_seconds") > 1.7e9);
	cJSON_Delete(j);
	free(r.body);

	/* Prometheus text, asked for either way, passes promtool. */
	CU_ASSERT_FATAL(http(&r, "/metrics?format=prometheus", NULL));
	CU_ASSERT_EQUAL(r.code, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "text/plain"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "# TYPE vitals_check_status "
					      "gauge\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(r.body, "vitals_check_status{check=\"down\"} 2\n"));
	CU_ASSERT(promtool_ok(r.body));
	free(r.body);
	CU_ASSERT_FATAL(http(&r, "/metrics",
			     "application/openmetrics-text;version=1.0.0,"
			     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	CU_ASSERT_EQUAL(r.code, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "application/openmetrics-text"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\n# EOF\n"));
	/* The daemon's process metrics, by Prometheus' names. */
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\nprocess_open_fds "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\nprocess_cpu_seconds_total "));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(r.body, "\nprocess_resident_memory_bytes "));
	free(r.body);
	CU_ASSERT_FATAL(http(&r, "/metrics", "text/plain;version=0.0.4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.ctype, "text/plain"));
	CU_ASSERT(promtool_ok(r.body));
	free(r.body);
}

/* ---- vitalsctl ------------------------------------------------------- */

/* Runs the built vitalsctl with args; stdout into *out. */
static int vitalsctl(const char *args, char **out)
{
	char exe[1024], cmd[2048];
	vt_test_build_path("client/vitalsctl", exe, sizeof(exe));
	snprintf(cmd, sizeof(cmd), "'%s' --url '%s' %s", exe, d.rpc, args);
	return vt_test_sh(cmd, out);
}

static void test_vitalsctl(void)
{
	CU_ASSERT_FATAL(daemon_up());
	wait_for_cache();
	char exe[1024];
	vt_test_build_path("client/vitalsctl", exe, sizeof(exe));
	CU_ASSERT_FATAL(access(exe, X_OK) == 0);

	/* Exit status: 0 healthy, 1 degraded, 2 unhealthy. */
	static const struct {
		const char *args;
		int rc;
	} cases[] = {
	    {"health", 2},	{"health port", 0}, {"health ok", 0},
	    {"health warn", 1}, {"health down", 2}, {"health cache", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int rc = vitalsctl(cases[i].args, &out);
		if (rc != cases[i].rc)
			fprintf(stderr, "\nvitalsctl %s: %d, want %d: %s\n",
				cases[i].args, rc, cases[i].rc, out);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT(out != NULL && out[0] != '\0');
		CU_ASSERT(out == NULL || strstr(out, "hunter2") == NULL);
		free(out);
	}
	/* An unknown check is no answer: 3, Nagios' UNKNOWN. */
	char *out = NULL;
	CU_ASSERT_EQUAL(vitalsctl("health nope 2>/dev/null", &out), 3);
	free(out);

	/* --json: the /health shape. */
	CU_ASSERT_EQUAL(vitalsctl("health --json", &out), 2);
	cJSON *j = json_of(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	assert_status(j, "unhealthy");
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItem(j, "components")), 6);
	const cJSON *c = component(j, "warn");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	assert_status(c, "degraded");
	assert_component_shape(c);
	cJSON_Delete(j);
	free(out);
	CU_ASSERT_EQUAL(vitalsctl("health port --json", &out), 0);
	j = json_of(out);
	CU_ASSERT_PTR_NOT_NULL(j);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"port\""));
	cJSON_Delete(j);
	free(out);

	/* metrics: JSON and Prometheus text. */
	CU_ASSERT_EQUAL(vitalsctl("metrics --json", &out), 0);
	j = json_of(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(metric_value(j, "vitals_check_status{check=\"down\"}"),
			2);
	cJSON_Delete(j);
	free(out);
	CU_ASSERT_EQUAL(vitalsctl("metrics vitals_check_status --json", &out),
			0);
	j = json_of(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 6); /* one series per check */
	CU_ASSERT_EQUAL(metric_value(j, "vitals_check_status{check=\"warn\"}"),
			1);
	cJSON_Delete(j);
	free(out);
	CU_ASSERT_EQUAL(vitalsctl("metrics --prometheus", &out), 0);
	CU_ASSERT(out != NULL && promtool_ok(out));
	CU_ASSERT(out != NULL &&
		  strstr(out, "vitals_check_status{check=\"port\"} 0\n"));
	free(out);
}

/* ---- libvitals-client ---------------------------------------------------- */

static void test_client_library(void)
{
	CU_ASSERT_FATAL(daemon_up());
	wait_for_cache();
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&cl, d.rpc, 30000) == VT_OK);

	vt_health_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_client_health(cl, NULL, VT_RUN_FRESH, &s) == VT_OK);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(s->ncomponents, 6);
	const vt_component *c = vt_test_component(s, "ok");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT(c->critical);
	CU_ASSERT(c->last_check_time > 1.7e9);
	CU_ASSERT(c->ndetails >= 1);
	c = vt_test_component(s, "warn");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->status, VT_DEGRADED);
	CU_ASSERT(!c->critical);
	c = vt_test_component(s, "cache");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT(c->error == NULL || strstr(c->error, "hunter2") == NULL);
	for (size_t i = 0; i < c->ndetails; i++)
		CU_ASSERT(c->details[i].kind != VT_DETAIL_STR ||
			  strstr(c->details[i].str, "hunter2") == NULL);
	vt_client_health_free(s);

	vt_health_filter ready = {.tag = "ready"};
	CU_ASSERT_FATAL(vt_client_health(cl, &ready, VT_RUN_CACHED, &s) ==
			VT_OK);
	CU_ASSERT_EQUAL(s->status, VT_HEALTHY);
	CU_ASSERT_EQUAL(s->ncomponents, 2);
	vt_client_health_free(s);
	vt_health_filter nope = {.name = "nope"};
	s = NULL;
	CU_ASSERT_EQUAL(vt_client_health(cl, &nope, VT_RUN_FRESH, &s),
			VT_ENOENT);
	CU_ASSERT_PTR_NULL(s);

	/* grpc.health.v1: DEGRADED is SERVING. */
	int serving = 0;
	CU_ASSERT_EQUAL(vt_client_grpc_check(cl, "", &serving), VT_OK);
	CU_ASSERT_EQUAL(serving, 2);
	CU_ASSERT_EQUAL(vt_client_grpc_check(cl, "port", &serving), VT_OK);
	CU_ASSERT_EQUAL(serving, 1);
	CU_ASSERT_EQUAL(vt_client_grpc_check(cl, "warn", &serving), VT_OK);
	CU_ASSERT_EQUAL(serving, 1);
	CU_ASSERT_EQUAL(vt_client_grpc_check(cl, "nope", &serving), VT_ENOENT);

	vt_metrics_filter mf = {.name = "vitals_check_status"};
	vt_metrics_snapshot *ms = NULL;
	CU_ASSERT_FATAL(vt_client_metrics(cl, &mf, &ms) == VT_OK);
	CU_ASSERT_EQUAL_FATAL(ms->nfamilies, 1);
	CU_ASSERT_EQUAL(ms->families[0].kind, VT_GAUGE);
	CU_ASSERT_EQUAL(ms->families[0].nseries, 6);
	for (size_t i = 0; i < ms->families[0].nseries; i++) {
		const vt_series_snap *sr = &ms->families[0].series[i];
		CU_ASSERT_EQUAL_FATAL(sr->nlabels, 1);
		if (strcmp(sr->labels[0].value, "down") == 0)
			CU_ASSERT_EQUAL(sr->value, 2);
		if (strcmp(sr->labels[0].value, "port") == 0)
			CU_ASSERT_EQUAL(sr->value, 0);
	}
	vt_client_metrics_free(ms);
	vt_client_close(cl);
}

/* ---- status changes: pub socket, vt_client_watch and the log ---------- */

typedef struct watcher {
	nng_socket sock;
	atomic_int connected;
	pthread_t thread;
	pthread_mutex_t mtx;
	char msgs[4096]; /* received messages, one a line; protected by mtx */
	atomic_int stop;
} watcher;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	atomic_store(&((watcher *)arg)->connected, 1);
}

static void *watch_main(void *arg)
{
	watcher *w = arg;
	while (!atomic_load(&w->stop)) {
		char *buf = NULL;
		size_t sz = 0;
		if (nng_recv(w->sock, &buf, &sz, NNG_FLAG_ALLOC) != 0)
			continue; /* receive timeout: look at stop */
		pthread_mutex_lock(&w->mtx);
		size_t n = strlen(w->msgs);
		if (n + sz + 2 < sizeof(w->msgs)) {
			memcpy(w->msgs + n, buf, sz);
			w->msgs[n + sz] = '\n';
			w->msgs[n + sz + 1] = '\0';
		}
		pthread_mutex_unlock(&w->mtx);
		nng_free(buf, sz);
	}
	return NULL;
}

/* A sub socket on url that records every message; 1 once connected. */
static int watcher_start(watcher *w, const char *url)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	if (nng_sub0_open(&w->sock) != 0)
		return 0;
	nng_pipe_notify(w->sock, NNG_PIPE_EV_ADD_POST, on_pipe, w);
	nng_socket_set(w->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(w->sock, NNG_OPT_RECVTIMEO, 100);
	if (nng_dial(w->sock, url, NULL, NNG_FLAG_NONBLOCK) != 0)
		return 0;
	double end = vt_test_now_ms() + 10000;
	while (!atomic_load(&w->connected) && vt_test_now_ms() < end)
		vt_test_sleep_ms(10);
	/* The pub side may attach the pipe a moment after we do. */
	vt_test_sleep_ms(200);
	pthread_create(&w->thread, NULL, watch_main, w);
	return atomic_load(&w->connected);
}

/* 1 once msg (a whole line) was received, 0 after timeout_ms. */
static int watcher_saw(watcher *w, const char *msg, int timeout_ms)
{
	char line[256];
	snprintf(line, sizeof(line), "%s\n", msg);
	double end = vt_test_now_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&w->mtx);
		int seen = strstr(w->msgs, line) != NULL;
		pthread_mutex_unlock(&w->mtx);
		if (seen)
			return 1;
		if (vt_test_now_ms() >= end) {
			fprintf(stderr, "\n\"%s\" not seen; got:\n%s", msg,
				w->msgs);
			return 0;
		}
		vt_test_sleep_ms(20);
	}
}

static void watcher_stop(watcher *w)
{
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	nng_close(w->sock);
	pthread_mutex_destroy(&w->mtx);
}

/* vt_client_watch callback: stops at the message it waits for. */
static int client_watch_fn(const char *msg, void *arg)
{
	return strcmp(msg, (const char *)arg) == 0;
}

typedef struct client_watch {
	const char *url;
	const char *want;
	vt_err rv;
} client_watch;

static void *client_watch_main(void *arg)
{
	client_watch *cw = arg;
	cw->rv =
	    vt_client_watch(cw->url, 20000, client_watch_fn, (void *)cw->want);
	return NULL;
}

static int log_has(const char *text, int timeout_ms)
{
	double end = vt_test_now_ms() + timeout_ms;
	for (;;) {
		char *log = vt_test_daemon_log(&d);
		int found = log != NULL && strstr(log, text) != NULL;
		free(log);
		if (found || vt_test_now_ms() >= end)
			return found;
		vt_test_sleep_ms(50);
	}
}

static void test_status_changes(void)
{
	CU_ASSERT_FATAL(daemon_up());
	wait_for_cache();
	watcher w;
	CU_ASSERT_FATAL(watcher_start(&w, d.pub));
	client_watch cw = {
	    .url = d.pub, .want = "port healthy unhealthy", .rv = VT_EINTERNAL};
	pthread_t cwt;
	pthread_create(&cwt, NULL, client_watch_main, &cw);
	vt_test_sleep_ms(1000); /* vt_client_watch subscribes */

	/* The "port" check's server goes away, and comes back. */
	listener_close();
	CU_ASSERT(watcher_saw(&w, "port healthy unhealthy", 15000));
	pthread_join(cwt, NULL);
	CU_ASSERT_EQUAL(cw.rv, VT_OK);
	CU_ASSERT(log_has("check port: healthy -> unhealthy", 5000));
	resp r;
	CU_ASSERT_FATAL(http(&r, "/readyz?cache=true", NULL));
	CU_ASSERT_EQUAL(r.code, 503);
	free(r.body);

	CU_ASSERT_FATAL(listener_open());
	CU_ASSERT(watcher_saw(&w, "port unhealthy healthy", 15000));
	CU_ASSERT(log_has("check port: unhealthy -> healthy", 5000));
	watcher_stop(&w);
	CU_ASSERT_FATAL(http(&r, "/readyz", NULL));
	CU_ASSERT_EQUAL(r.code, 200);
	free(r.body);
}

static void test_log(void)
{
	CU_ASSERT_FATAL(daemon_up());
	char *log = vt_test_daemon_log(&d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	/* Timestamped lines: 2026-01-02T03:04:05.678Z vitalsd: ... */
	CU_ASSERT(strlen(log) > 25 && log[4] == '-' && log[10] == 'T' &&
		  log[23] == 'Z' && strncmp(log + 24, " vitalsd: ", 10) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "starting"));
	char want[128];
	snprintf(want, sizeof(want), "listening: http http://%s", d.http);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, want));
	snprintf(want, sizeof(want), "listening: rpc %s", d.rpc);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "check cache: redis redis://:***@"));
	CU_ASSERT_PTR_NULL(strstr(log, "hunter2"));
	free(log);
}

/* ---- a real Prometheus server scrapes vitalsd ------------------------- */

static void test_prometheus_scrape(void)
{
	CU_ASSERT_FATAL(daemon_up());
	int port = vt_test_free_port();
	CU_ASSERT_FATAL(port > 0);
	char conf[512], text[1024], data[512], log[512], listen[64];
	snprintf(text, sizeof(text),
		 "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
		 "scrape_configs:\n  - job_name: vitalsd\n"
		 "    static_configs:\n      - targets: ['%s']\n",
		 d.http);
	CU_ASSERT_FATAL(vt_test_write_file("prometheus.yml", text, conf,
					   sizeof(conf)) != NULL);
	snprintf(data, sizeof(data), "%s/prometheus-data", vt_test_tmpdir());
	snprintf(log, sizeof(log), "%s/prometheus.log", vt_test_tmpdir());
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	char a1[600], a2[600], a3[100];
	snprintf(a1, sizeof(a1), "--config.file=%s", conf);
	snprintf(a2, sizeof(a2), "--storage.tsdb.path=%s", data);
	snprintf(a3, sizeof(a3), "--web.listen-address=%s", listen);
	char *argv[] = {"/usr/bin/prometheus", a1, a2, a3, NULL};
	pid_t pid = vt_test_spawn(argv, log);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(vt_test_wait_port(port, 30000));

	/* Within a generous wait, a vitals metric reads back from
	 * Prometheus' query API, with the right value. */
	double end = vt_test_now_ms() + 60000;
	int found = 0;
	while (!found && vt_test_now_ms() < end) {
		resp r;
		http_at(&r, listen, "GET",
			"/api/v1/query?query=vitals_check_status%7Bcheck%3D"
			"%22down%22%7D",
			NULL);
		cJSON *j = cJSON_Parse(r.body);
		const cJSON *res = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(j, "data"), "result");
		if (cJSON_GetArraySize(res) == 1) {
			const cJSON *e = cJSON_GetArrayItem(res, 0);
			const cJSON *m = cJSON_GetObjectItem(e, "metric");
			const cJSON *v = cJSON_GetObjectItem(e, "value");
			CU_ASSERT_STRING_EQUAL(str_of(m, "job"), "vitalsd");
			CU_ASSERT_STRING_EQUAL(str_of(m, "check"), "down");
			const cJSON *val = cJSON_GetArrayItem(v, 1);
			CU_ASSERT(cJSON_IsString(val) &&
				  strcmp(val->valuestring, "2") == 0);
			found = 1;
		}
		cJSON_Delete(j);
		free(r.body);
		if (!found)
			vt_test_sleep_ms(500);
	}
	if (!found) {
		char *plog = vt_test_read_file(log, NULL);
		fprintf(stderr, "\nprometheus log:\n%s\n", plog);
		free(plog);
	}
	CU_ASSERT(found);
	/* The scrape target is up: Prometheus parsed every sample. */
	resp r;
	http_at(&r, listen, "GET", "/api/v1/query?query=up", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"value\":["));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, ",\"1\"]"));
	free(r.body);
	CU_ASSERT_EQUAL(vt_test_stop(pid), 0);
}

/* ---- SIGTERM with a slow fresh /health in flight ---------------------- */

typedef struct inflight {
	const char *addr;
	resp r;
	int ran;
	double done_ms;
} inflight;

static void *inflight_main(void *arg)
{
	inflight *f = arg;
	f->ran = http_at(&f->r, f->addr, "GET", "/health", NULL);
	f->done_ms = vt_test_now_ms();
	return NULL;
}

static void test_sigterm_graceful(void)
{
	vt_test_daemon s;
	CU_ASSERT_FATAL(vt_test_daemon_start(
	    &s, "slow", "",
	    "{\"name\": \"slow\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/sleep\", \"2\"], \"timeout_ms\": 10000, \"interval_ms\": "
	    "60000, \"tags\": [\"ready\"]}",
	    0));
	/* Let the scheduler's first run finish, so the request below
	 * starts a run of its own (the next background one is a minute
	 * away). */
	double end = vt_test_now_ms() + 20000;
	int ran = 0;
	while (!ran && vt_test_now_ms() < end) {
		resp r;
		http_at(&r, s.http, "GET", "/health?cache=true", NULL);
		ran = strstr(r.body, "\"status\":\"healthy\"") != NULL;
		free(r.body);
		if (!ran)
			vt_test_sleep_ms(100);
	}
	CU_ASSERT_FATAL(ran);
	watcher w;
	CU_ASSERT_FATAL(watcher_start(&w, s.pub));

	inflight f = {.addr = s.http};
	pthread_t t;
	double t0 = vt_test_now_ms();
	pthread_create(&t, NULL, inflight_main, &f);
	vt_test_sleep_ms(700); /* the request is in, its run under way */
	double sent = vt_test_now_ms();
	kill(s.pid, SIGTERM);

	/* Readiness goes unhealthy and is published. */
	CU_ASSERT(watcher_saw(&w, "* healthy unhealthy", 10000));
	pthread_join(t, NULL);
	watcher_stop(&w);

	/* The request in flight got a full answer after the signal. */
	CU_ASSERT(f.ran);
	CU_ASSERT(f.done_ms > sent);
	CU_ASSERT(f.done_ms - t0 >= 1500); /* it waited for the check */
	CU_ASSERT(f.r.code == 200 || f.r.code == 503);
	cJSON *j = json_of(f.r.body);
	CU_ASSERT_PTR_NOT_NULL(j);
	const cJSON *c = component(j, "slow");
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c != NULL) {
		assert_status(c, "healthy");
		assert_component_shape(c);
	}
	cJSON_Delete(j);
	free(f.r.body);

	/* And vitalsd exits 0, saying so. */
	CU_ASSERT_EQUAL(vt_test_wait_exit(s.pid, 20000), 0);
	char *log = vt_test_daemon_log(&s);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "SIGTERM: shutting down"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "stopped"));
	free(log);
}

/* DMarket's secret comes from the environment, never shows, and is gone
 * from the environment the exec plugins inherit. */
static void test_secret_env(void)
{
	/* RFC 8032 test 1: seed || public key. */
	setenv(
	    "VT_ITEST_DMARKET_SECRET",
	    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	    1);
	int dead = vt_test_free_port();
	char checks[2048];
	snprintf(
	    checks, sizeof(checks),
	    "{\"name\": \"dm\", \"type\": \"dmarket\", \"base_url\": "
	    "\"http://127.0.0.1:%d\", \"public_key\": "
	    "\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707"
	    "511a\", \"secret_key_env\": \"VT_ITEST_DMARKET_SECRET\", "
	    "\"critical\": false},\n"
	    "{\"name\": \"env\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/sh\", \"-c\", \"echo "
	    "${VT_ITEST_DMARKET_SECRET:-absent}\"]}",
	    dead);
	vt_test_daemon s;
	int up = vt_test_daemon_start(&s, "secret", "", checks, 0);
	unsetenv("VT_ITEST_DMARKET_SECRET");
	CU_ASSERT_FATAL(up);
	resp r;
	CU_ASSERT_FATAL(http_at(&r, s.http, "GET", "/health", NULL));
	CU_ASSERT_EQUAL(r.code, 200); /* dm is down, but not critical */
	cJSON *j = json_of(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *c = component(j, "env");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	const char *output =
	    str_of(cJSON_GetObjectItem(c, "details"), "output");
	CU_ASSERT(output != NULL && strcmp(output, "absent") == 0);
	c = component(j, "dm");
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c != NULL)
		assert_status(c, "unhealthy");
	CU_ASSERT_PTR_NULL(strstr(r.body, "9d61b19d"));
	cJSON_Delete(j);
	free(r.body);
	CU_ASSERT_EQUAL(vt_test_stop(s.pid), 0);
	char *log = vt_test_daemon_log(&s);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(log, "(signed, secret from $VT_ITEST_DMARKET_SECRET)"));
	CU_ASSERT_PTR_NULL(strstr(log, "9d61b19d"));
	free(log);
}

/* The output of exec check "env" of a vitalsd started now with the
 * test's environment (malloc'd; NULL on failure). */
static char *plugin_env_output(const char *name)
{
	static const char checks[] =
	    "{\"name\": \"env\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/sh\", \"-c\", \"echo "
	    "${GNUTLS_NO_IMPLICIT_INIT:-absent}/${VITALSD_LEAN_START:-absent}/"
	    "${VT_ITEST_GIVEN:-absent}\"]}";
	vt_test_daemon s;
	if (!vt_test_daemon_start(&s, name, "", checks, 0))
		return NULL;
	char *out = NULL;
	resp r;
	if (http_at(&r, s.http, "GET", "/health", NULL)) {
		cJSON *j = json_of(r.body);
		const cJSON *c = j != NULL ? component(j, "env") : NULL;
		const char *o =
		    c != NULL
			? str_of(cJSON_GetObjectItem(c, "details"), "output")
			: NULL;
		out = o != NULL ? strdup(o) : NULL;
		cJSON_Delete(j);
		free(r.body);
	}
	/* Started again, it keeps its name (ps, pgrep, pidof). */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)s.pid);
	char *comm = vt_test_read_file(path, NULL);
	CU_ASSERT(comm != NULL && strcmp(comm, "vitalsd\n") == 0);
	free(comm);
	CU_ASSERT_EQUAL(vt_test_stop(s.pid), 0);
	return out;
}

/* vitalsd starts once more without GnuTLS's initialiser (leanstart.c),
 * under its own name, yet exec plugins inherit exactly the environment
 * it was given: the variables it added for that are gone, the caller's
 * own are kept. */
static void test_plugin_environment(void)
{
	unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	setenv("VT_ITEST_GIVEN", "kept", 1);
	char *out = plugin_env_output("plugin_env");
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out != NULL)
		CU_ASSERT_STRING_EQUAL(out, "absent/absent/kept");
	free(out);

	/* The caller's own setting is passed on as it is. */
	setenv("GNUTLS_NO_IMPLICIT_INIT", "0", 1);
	out = plugin_env_output("plugin_env_set");
	unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	unsetenv("VT_ITEST_GIVEN");
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out != NULL)
		CU_ASSERT_STRING_EQUAL(out, "0/absent/kept");
	free(out);
}

/* A listener that cannot be bound stops vitalsd with exit 1. */
static void test_port_in_use(void)
{
	CU_ASSERT_FATAL(daemon_up());
	char cmd[1200], *out = NULL;
	snprintf(cmd, sizeof(cmd), "--config '%s' --http %s", d.config, d.http);
	int rc = run_vitalsd(cmd, &out);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cannot serve"));
	free(out);
}

/* The main daemon stops on SIGINT too, with exit 0. */
static void test_sigint(void)
{
	CU_ASSERT_FATAL(daemon_up());
	kill(d.pid, SIGINT);
	CU_ASSERT_EQUAL(vt_test_wait_exit(d.pid, 20000), 0);
	d.pid = 0;
	CU_ASSERT(log_has("SIGINT: shutting down", 0));
	CU_ASSERT(log_has("readiness: ", 0));
	CU_ASSERT(log_has(" vitalsd: stopped\n", 0));
}

static void stop_all(void)
{
	if (d.pid > 0)
		vt_test_stop(d.pid);
	d.pid = 0;
	listener_close();
}

int main(void)
{
	static const vt_test tests[] = {
	    {"--check-config on good and bad files", test_check_config},
	    {"GET /health, /health/NAME, /livez, /readyz", test_http_health},
	    {"GET /metrics as JSON and Prometheus text", test_http_metrics},
	    {"vitalsctl", test_vitalsctl},
	    {"libvitals-client", test_client_library},
	    {"status changes on pub and in the log", test_status_changes},
	    {"log lines", test_log},
	    {"a real Prometheus scrapes vitalsd", test_prometheus_scrape},
	    {"DMarket secret only from the environment", test_secret_env},
	    {"exec plugins inherit the environment as given",
	     test_plugin_environment},
	    {"a port in use stops vitalsd", test_port_in_use},
	    {"SIGINT stops vitalsd with exit 0", test_sigint},
	    {"SIGTERM with a slow /health in flight", test_sigterm_graceful},
	    {NULL, NULL},
	};
	signal(SIGPIPE, SIG_IGN);
	atexit(stop_all);
	return vt_test_main("vitalsd", tests);
}
