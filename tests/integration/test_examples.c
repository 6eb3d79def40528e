/*
 * test_examples.c - every program of examples/ run as a user would run
 * it, its output checked: example_health and example_metrics print known
 * results and exit; example_server and example_middleware serve on free
 * loopback ports for a few seconds, are queried with curl meanwhile, and
 * stop by themselves.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_daemon.h"
#include "testutil.h"

/* BUILD/name, or a test failure. */
static const char *example(const char *name, char *out, size_t cap)
{
	const char *p = vt_test_build_path(name, out, cap);
	CU_ASSERT_FATAL(p != NULL && access(p, X_OK) == 0);
	return p;
}

/* Runs the shell command line fmt..., stdout into *out. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
sh(char **out, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return vt_test_sh(cmd, out);
}

static int contains(const char *text, const char *want)
{
	if (text != NULL && strstr(text, want) != NULL)
		return 1;
	fprintf(stderr, "\n\"%s\" not in:\n%s\n", want, text ? text : "");
	return 0;
}

/* The line of out that starts with prefix, as a string (static). */
static const char *line_starting(const char *out, const char *prefix)
{
	static char line[65536];
	for (const char *p = out; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0 &&
		    n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			return line;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	return NULL;
}

static void test_example_health(void)
{
	char exe[1024], *out = NULL;
	example("example_health", exe, sizeof(exe));
	CU_ASSERT_EQUAL(sh(&out, "'%s'", exe), 0);
	CU_ASSERT(contains(out, "tmp: healthy\n"));
	CU_ASSERT(contains(out, "queue: degraded - queue depth 42 above 10\n"));
	CU_ASSERT(contains(out, "root_disk: healthy\n"));
	CU_ASSERT(contains(out, "closed_port: unhealthy - "));
	CU_ASSERT(contains(out, "overall: degraded\n"));
	cJSON *j = cJSON_Parse(line_starting(out, "{"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "status")->valuestring,
			       "degraded");
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItem(j, "components")), 4);
	cJSON_Delete(j);
	free(out);
}

static void test_example_metrics(void)
{
	char exe[1024], *out = NULL;
	example("example_metrics", exe, sizeof(exe));
	CU_ASSERT_EQUAL(sh(&out, "'%s'", exe), 0);
	CU_ASSERT(contains(out, "requests: 2000\n"));
	CU_ASSERT(contains(out, "count: 2000 p50: 0.49"));
	cJSON *j = cJSON_Parse(line_starting(out, "{"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *c = cJSON_GetObjectItem(j, "api_requests_total");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(c, "value")->valuedouble, 2000);
	c = cJSON_GetObjectItem(j, "api_responses_total{status=\"500\"}");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(c, "value")->valuedouble, 20);
	c = cJSON_GetObjectItem(j, "active_connections");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(c, "value")->valuedouble, 42);
	c = cJSON_GetObjectItem(j, "request_duration_seconds");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(c, "count")->valuedouble, 2000);
	CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(c, "max")->valuedouble, 1,
			       1e-12);
	cJSON_Delete(j);

	/* The Prometheus half passes promtool. */
	const char *prom = strstr(out, "GET /metrics?format=prometheus\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(prom);
	char path[512];
	vt_test_write_file("example_metrics.prom",
			   prom + strlen("GET /metrics?format=prometheus\n"),
			   path, sizeof(path));
	char *lint = NULL;
	int rc =
	    sh(&lint, "'%s' check metrics < '%s' 2>&1", VT_TEST_PROMTOOL, path);
	if (rc != 0)
		fprintf(stderr, "\npromtool: %s\n", lint);
	CU_ASSERT_EQUAL(rc, 0);
	free(lint);
	free(out);
}

/* curl http://addr/path; status code into *code, body returned. */
static char *curl(const char *addr, const char *path, int *code)
{
	char url[512], *out = NULL;
	snprintf(url, sizeof(url), "http://%s%s", addr, path);
	sh(&out, "curl -sS --max-time 30 -w '\\n%%{http_code}' '%s'", url);
	*code = 0;
	char *nl = out != NULL ? strrchr(out, '\n') : NULL;
	if (nl != NULL) {
		*code = (int)strtol(nl + 1, NULL, 10);
		*nl = '\0';
	}
	return out;
}

static void test_example_server(void)
{
	char exe[1024], http[64], rpc[64], log[512];
	example("example_server", exe, sizeof(exe));
	int hp = vt_test_free_port(), rp = vt_test_free_port();
	CU_ASSERT_FATAL(hp > 0 && rp > 0 && hp != rp);
	snprintf(http, sizeof(http), "127.0.0.1:%d", hp);
	snprintf(rpc, sizeof(rpc), "tcp://127.0.0.1:%d", rp);
	snprintf(log, sizeof(log), "%s/example_server.log", vt_test_tmpdir());
	char *argv[] = {exe, http, rpc, "4000", NULL};
	double t0 = vt_test_now_ms();
	pid_t pid = vt_test_spawn(argv, log);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(vt_test_wait_port(hp, 3000));

	int code;
	char *body = curl(http, "/health", &code);
	CU_ASSERT_EQUAL(code, 200);
	CU_ASSERT(contains(body, "\"status\":\"healthy\""));
	CU_ASSERT(contains(body, "\"name\":\"root_disk\""));
	free(body);
	body = curl(http, "/readyz", &code);
	CU_ASSERT_EQUAL(code, 200);
	free(body);
	body = curl(http, "/metrics?format=prometheus", &code);
	CU_ASSERT_EQUAL(code, 200);
	CU_ASSERT(contains(body, "example_up 1\n"));
	CU_ASSERT(contains(body, "vitals_check_status{check=\"tmp\"} 0\n"));
	free(body);

	/* It stops by itself, cleanly, after its 4 s. */
	CU_ASSERT_EQUAL(vt_test_wait_exit(pid, 20000), 0);
	CU_ASSERT(vt_test_now_ms() - t0 >= 3900);
	char *out = vt_test_read_file(log, NULL);
	CU_ASSERT(contains(out, "serving http://"));
	CU_ASSERT(contains(out, "stopped\n"));
	free(out);
	CU_ASSERT_FALSE(vt_test_wait_port(hp, 100));
}

static void test_example_middleware(void)
{
	char exe[1024], addr[64], log[512];
	example("example_middleware", exe, sizeof(exe));
	int port = vt_test_free_port();
	CU_ASSERT_FATAL(port > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/example_middleware.log",
		 vt_test_tmpdir());
	char *argv[] = {exe, addr, "4000", NULL};
	pid_t pid = vt_test_spawn(argv, log);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(vt_test_wait_port(port, 3000));

	int code;
	for (int i = 0; i < 3; i++) {
		char *body = curl(addr, "/hello", &code);
		CU_ASSERT_EQUAL(code, 200);
		CU_ASSERT(contains(body, "hello"));
		free(body);
	}
	char *body = curl(addr, "/health", &code);
	CU_ASSERT_EQUAL(code, 200);
	CU_ASSERT(contains(body, "\"name\":\"app\""));
	free(body);
	body = curl(addr, "/metrics?format=prometheus", &code);
	CU_ASSERT_EQUAL(code, 200);
	CU_ASSERT(contains(body, "http_requests_total{method=\"GET\","
				 "route=\"/hello\",status=\"200\"} 3\n"));
	CU_ASSERT(contains(body, "http_request_duration_seconds_count{method="
				 "\"GET\",route=\"/hello\"} 3\n"));
	free(body);

	CU_ASSERT_EQUAL(vt_test_wait_exit(pid, 20000), 0);
	char *out = vt_test_read_file(log, NULL);
	CU_ASSERT(contains(out, "serving http://"));
	CU_ASSERT(contains(out, "GET /hello: 3 requests\n"));
	free(out);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"example_health", test_example_health},
	    {"example_metrics", test_example_metrics},
	    {"example_server", test_example_server},
	    {"example_middleware", test_example_middleware},
	    {NULL, NULL},
	};
	return vt_test_main("examples", tests);
}
