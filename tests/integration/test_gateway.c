/*
 * test_gateway.c - the HTTP gateway over real sockets: vt_server_start
 * with http (and pub) on free loopback ports, a health registry of
 * callback checks (healthy, status-controlled, tagged live/ready, slow,
 * hung), and a small raw HTTP/1.1 client that can also send what no
 * library would (malformed lines, 100 KB headers, lying Content-Length).
 *
 * Covered: every route, query, Accept variant, status code and
 * Content-Type; bodies parsed with cJSON against DESIGN.md; degraded code
 * mapping; cached vs fresh (invocation counts); a hung check answered
 * within its timeout while other routes stay responsive; bad input, each
 * followed by a request that succeeds; keep-alive and HEAD; graceful
 * shutdown with a slow request in flight; pub messages; start errors.
 *
 * Time bounds are generous on purpose (sanitizer builds are slow): they
 * separate "answered at the deadline" from "waited for the hang".
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "support_http.h"
#include "support_net.h"
#include "testutil.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "server/answer_cache.h"
#include "vitals/server.h"

#define CT_JSON "application/json"
#define CT_IETF "application/health+json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM	"application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_PB                                                                  \
	"application/vnd.google.protobuf; "                                    \
	"proto=io.prometheus.client.MetricFamily; encoding=delimited"

/* ---- requests, on the raw client of support_http.h ------------------- */

/* How long one read may wait for the server. */
#define READ_MS 10000

/* Reads one answer on c (no body for HEAD). false when the connection
 * ended or timed out first (r->status 0). */
static bool conn_read(vt_test_conn *c, bool head, vt_test_resp *r)
{
	return vt_test_conn_read(c, head, READ_MS, r, NULL, 0);
}

/* Sends "METHOD target HTTP/1.1" with Host and extra (lines each ending
 * in \r\n, may be NULL) on c and reads the answer. */
static bool conn_request(vt_test_conn *c, const char *method,
			 const char *target, const char *extra, vt_test_resp *r)
{
	return vt_test_conn_request(c, method, target, extra, READ_MS, r, NULL,
				    0);
}

/* One request on a new connection. */
static bool request(int port, const char *method, const char *target,
		    const char *extra, vt_test_resp *r)
{
	return vt_test_http_request(port, method, target, extra, READ_MS, r);
}

/* The value of header name in r (first one, any case) into a static
 * buffer; "" when missing. */
static const char *hdr(const vt_test_resp *r, const char *name)
{
	static char out[1024];
	vt_test_resp_header(r, name, out, sizeof(out));
	return out;
}

/* GET target, asserting the status and Content-Type; the body parsed. */
static cJSON *get_json(int port, const char *target, const char *extra,
		       int want_status, const char *want_ct)
{
	vt_test_resp r;
	CU_ASSERT_FATAL(request(port, "GET", target, extra, &r));
	if (r.status != want_status)
		fprintf(stderr, "GET %s: %d, want %d: %s\n", target, r.status,
			want_status, r.body);
	CU_ASSERT_EQUAL(r.status, want_status);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), want_ct);
	cJSON *j = cJSON_Parse(r.body);
	if (j == NULL)
		fprintf(stderr, "GET %s: not JSON: %s\n", target, r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	vt_test_resp_free(&r);
	return j;
}

/* The "error" text of an error body with status want. */
static void expect_error(int port, const char *method, const char *target,
			 const char *extra, int want, const char *has)
{
	vt_test_resp r;
	CU_ASSERT_FATAL(request(port, method, target, extra, &r));
	if (r.status != want)
		fprintf(stderr, "%s %s: %d, want %d: %s\n", method, target,
			r.status, want, r.body);
	CU_ASSERT_EQUAL(r.status, want);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), CT_JSON);
	cJSON *j = cJSON_Parse(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	CU_ASSERT_FATAL(cJSON_IsString(e));
	if (has != NULL && strstr(e->valuestring, has) == NULL)
		fprintf(stderr, "%s %s: error \"%s\" lacks \"%s\"\n", method,
			target, e->valuestring, has);
	CU_ASSERT(has == NULL || strstr(e->valuestring, has) != NULL);
	cJSON_Delete(j);
	vt_test_resp_free(&r);
}

/* ---- the fixture ------------------------------------------------------ */

static atomic_int alpha_runs, beta_status, slow_runs, hang_runs;
static pthread_mutex_t hang_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hang_cv = PTHREAD_COND_INITIALIZER;
static bool hang_released; /* protected by hang_mtx */

static bool alpha_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&alpha_runs, 1);
	return true;
}

static void beta_fn(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_status st = (vt_status)atomic_load(&beta_status);
	vt_result_status(r, st);
	vt_result_detail_str(r, "version", "1.2.3");
	vt_result_detail_num(r, "connections", 7);
	vt_result_detail_bool(r, "primary", true);
	if (st == VT_UNHEALTHY)
		vt_result_error(r, "beta is down");
}

static bool slow_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&slow_runs, 1);
	vt_test_sleep_ms(600);
	return true;
}

/* Blocks until the fixture releases it: a check that ignores its
 * deadline. */
static bool hang_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&hang_runs, 1);
	pthread_mutex_lock(&hang_mtx);
	while (!hang_released)
		pthread_cond_wait(&hang_cv, &hang_mtx);
	pthread_mutex_unlock(&hang_mtx);
	return true;
}

enum { WITH_SLOW = 1, WITH_HANG = 2, WITH_PUB = 4 };

typedef struct fx {
	vt_health *h;
	vt_metrics *m;
	vt_server *s;
	int port;
	int pub_port;
} fx;

static void add_check(fx *f, const char *name, vt_check_simple_fn fn,
		      const char *const *tags, size_t ntags, int timeout_ms)
{
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = tags;
	o.ntags = ntags;
	o.timeout_ms = timeout_ms;
	CU_ASSERT_FATAL(vt_health_add_simple(f->h, name, fn, NULL, &o) ==
			VT_OK);
}

/* Health and metrics registries with alpha (live, ready), beta (ready;
 * status from beta_status) and the optional slow (tag slow, 600 ms) and
 * hang (tag hang, timeout 800 ms) checks; a server on a free port. */
static void fx_start(fx *f, int degraded_code, int flags)
{
	memset(f, 0, sizeof(*f));
	atomic_store(&alpha_runs, 0);
	atomic_store(&beta_status, VT_HEALTHY);
	atomic_store(&slow_runs, 0);
	atomic_store(&hang_runs, 0);
	pthread_mutex_lock(&hang_mtx);
	hang_released = false;
	pthread_mutex_unlock(&hang_mtx);

	CU_ASSERT_FATAL(vt_metrics_alloc(&f->m) == VT_OK);
	vt_health_opts ho = {.workers = 4, .metrics = f->m};
	CU_ASSERT_FATAL(vt_health_alloc(&f->h, &ho) == VT_OK);
	static const char *const live_ready[] = {"live", "ready"};
	static const char *const ready[] = {"ready"};
	static const char *const slow[] = {"slow"};
	static const char *const hang[] = {"hang"};
	add_check(f, "alpha", alpha_fn, live_ready, 2, 2000);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = ready;
	o.ntags = 1;
	CU_ASSERT_FATAL(vt_health_add(f->h, "beta", beta_fn, NULL, &o) ==
			VT_OK);
	if (flags & WITH_SLOW)
		add_check(f, "slow", slow_fn, slow, 1, 5000);
	if (flags & WITH_HANG)
		add_check(f, "hang", hang_fn, hang, 1, 800);

	char http[64], pub[64], err[256];
	f->port = vt_test_free_port();
	CU_ASSERT_FATAL(f->port > 0);
	snprintf(http, sizeof(http), "127.0.0.1:%d", f->port);
	vt_server_opts so = {.health = f->h,
			     .metrics = f->m,
			     .http_addr = http,
			     .degraded_http_code = degraded_code};
	if (flags & WITH_PUB) {
		f->pub_port = vt_test_free_port();
		snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", f->pub_port);
		so.pub_url = pub;
	}
	vt_err rv = vt_server_start(&f->s, &so, err, sizeof(err));
	if (rv != VT_OK)
		fprintf(stderr, "vt_server_start: %s\n", err);
	CU_ASSERT_FATAL(rv == VT_OK);
}

static void fx_stop(fx *f)
{
	vt_server_free(f->s);
	pthread_mutex_lock(&hang_mtx);
	hang_released = true;
	pthread_cond_broadcast(&hang_cv);
	pthread_mutex_unlock(&hang_mtx);
	vt_health_free(f->h);
	vt_metrics_free(f->m);
}

/* The names of a /health body's components, comma-joined. */
static const char *names(const cJSON *j)
{
	static char out[256];
	out[0] = '\0';
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "components"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		if (out[0] != '\0')
			strcat(out, ",");
		if (cJSON_IsString(n))
			strcat(out, n->valuestring);
	}
	return out;
}

static const char *str_of(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : "(not a string)";
}

/* ---- tests ------------------------------------------------------------ */

static void test_health_json(void)
{
	fx f;
	fx_start(&f, 0, 0);
	cJSON *j = get_json(f.port, "/health", NULL, 200, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "healthy");
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
	CU_ASSERT(cJSON_IsNumber(ts) && ts->valuedouble > 1.6e9);
	CU_ASSERT_STRING_EQUAL(names(j), "alpha,beta");

	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "components");
	const cJSON *a = cJSON_GetArrayItem(cs, 0);
	CU_ASSERT_STRING_EQUAL(str_of(a, "status"), "healthy");
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "details")));
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "error")));
	CU_ASSERT(cJSON_IsNumber(
	    cJSON_GetObjectItemCaseSensitive(a, "last_check_time")));
	CU_ASSERT(
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "duration_ms")));
	CU_ASSERT(
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "critical")));
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
	CU_ASSERT(cJSON_GetArraySize(tags) == 2);

	const cJSON *b = cJSON_GetArrayItem(cs, 1);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(b, "details");
	CU_ASSERT_STRING_EQUAL(str_of(d, "version"), "1.2.3");
	const cJSON *conns = cJSON_GetObjectItemCaseSensitive(d, "connections");
	CU_ASSERT(cJSON_IsNumber(conns) && conns->valuedouble == 7);
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "primary")));
	cJSON_Delete(j);
	fx_stop(&f);
}

/* Overall status to code: 200, degraded_code, 503. */
static void check_codes(fx *f, int degraded_code)
{
	atomic_store(&beta_status, VT_DEGRADED);
	cJSON *j = get_json(f->port, "/health", NULL, degraded_code, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "degraded");
	cJSON_Delete(j);

	atomic_store(&beta_status, VT_UNHEALTHY);
	j = get_json(f->port, "/health", NULL, 503, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "unhealthy");
	const cJSON *b = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(j, "components"), 1);
	CU_ASSERT_STRING_EQUAL(str_of(b, "error"), "beta is down");
	cJSON_Delete(j);
	j = get_json(f->port, "/health/beta", NULL, 503, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "unhealthy");
	cJSON_Delete(j);
	j = get_json(f->port, "/health/alpha", NULL, 200, CT_JSON);
	cJSON_Delete(j);

	atomic_store(&beta_status, VT_HEALTHY);
	j = get_json(f->port, "/health", NULL, 200, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "healthy");
	cJSON_Delete(j);
}

static void test_status_codes(void)
{
	fx f;
	fx_start(&f, 0, 0);
	check_codes(&f, 200);
	fx_stop(&f);

	fx_start(&f, 429, 0);
	check_codes(&f, 429);
	fx_stop(&f);
}

static void test_cache(void)
{
	fx f;
	fx_start(&f, 0, 0);
	/* Nothing ran yet: the cache says so, and so does the code. */
	cJSON *j = get_json(f.port, "/health?cache=true", NULL, 503, CT_JSON);
	const cJSON *a = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(j, "components"), 0);
	CU_ASSERT_STRING_EQUAL(str_of(a, "error"), "no result yet");
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(atomic_load(&alpha_runs), 0);

	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));
	CU_ASSERT_EQUAL(atomic_load(&alpha_runs), 1);
	cJSON_Delete(
	    get_json(f.port, "/health?cache=true", NULL, 200, CT_JSON));
	cJSON_Delete(get_json(f.port, "/health?cache", NULL, 200, CT_JSON));
	cJSON_Delete(get_json(f.port, "/health?cache=1", NULL, 200, CT_JSON));
	cJSON_Delete(get_json(f.port, "/livez?cache=true", NULL, 200, CT_JSON));
	cJSON_Delete(
	    get_json(f.port, "/health/alpha?cache=true", NULL, 200, CT_JSON));
	CU_ASSERT_EQUAL(atomic_load(&alpha_runs), 1);
	cJSON_Delete(
	    get_json(f.port, "/health?cache=false", NULL, 200, CT_JSON));
	CU_ASSERT_EQUAL(atomic_load(&alpha_runs), 2);
	cJSON_Delete(get_json(f.port, "/health/alpha", NULL, 200, CT_JSON));
	CU_ASSERT_EQUAL(atomic_load(&alpha_runs), 3);

	/* The cache reports the last run's result, not a new one. */
	atomic_store(&beta_status, VT_UNHEALTHY);
	cJSON_Delete(
	    get_json(f.port, "/health?cache=true", NULL, 200, CT_JSON));
	cJSON_Delete(get_json(f.port, "/health", NULL, 503, CT_JSON));
	cJSON_Delete(
	    get_json(f.port, "/health?cache=true", NULL, 503, CT_JSON));

	expect_error(f.port, "GET", "/health?cache=maybe", NULL, 400, "cache");
	expect_error(f.port, "GET", "/health?cache=", NULL, 400, "cache");
	expect_error(f.port, "GET", "/readyz?cache=yes", NULL, 400, "cache");
	fx_stop(&f);
}

/* Plain cached reads reuse an encoded answer (answer_cache.h) only while
 * nothing it shows has changed: a new result, a new check or another
 * format shows at once, and the timestamp moves on after the TTL. */
static void test_cache_reuse(void)
{
	fx f;
	fx_start(&f, 0, 0);
	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));
	cJSON *j = get_json(f.port, "/health?cache=true", NULL, 200, CT_JSON);
	double t0 = cJSON_GetObjectItem(j, "timestamp")->valuedouble;
	cJSON_Delete(j);

	/* Another format of the same question is not the JSON answer. */
	cJSON_Delete(get_json(f.port, "/health?cache=true",
			      "Accept: application/health+json\r\n", 200,
			      CT_IETF));

	/* A check added is listed by the next cached read. */
	add_check(&f, "gamma", alpha_fn, NULL, 0, 2000);
	j = get_json(f.port, "/health?cache=true", NULL, 503, CT_JSON);
	CU_ASSERT_STRING_EQUAL(names(j), "alpha,beta,gamma");
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(vt_health_remove(f.h, "gamma"), VT_OK);
	j = get_json(f.port, "/health?cache=true", NULL, 200, CT_JSON);
	CU_ASSERT_STRING_EQUAL(names(j), "alpha,beta");
	cJSON_Delete(j);

	/* Past the TTL the answer is built again: a later timestamp. */
	vt_test_sleep_ms(VT__ACACHE_TTL_MS + 50);
	j = get_json(f.port, "/health?cache=true", NULL, 200, CT_JSON);
	CU_ASSERT(cJSON_GetObjectItem(j, "timestamp")->valuedouble > t0);
	cJSON_Delete(j);

	/* Readiness and liveness have slots of their own. */
	atomic_store(&beta_status, VT_UNHEALTHY);
	cJSON_Delete(get_json(f.port, "/readyz", NULL, 503, CT_JSON));
	cJSON_Delete(get_json(f.port, "/livez?cache=true", NULL, 200, CT_JSON));
	cJSON_Delete(
	    get_json(f.port, "/readyz?cache=true", NULL, 503, CT_JSON));
	fx_stop(&f);
}

static void expect_names(int port, const char *target, int status,
			 const char *want)
{
	cJSON *j = get_json(port, target, NULL, status, CT_JSON);
	if (strcmp(names(j), want) != 0)
		fprintf(stderr, "GET %s: components %s, want %s\n", target,
			names(j), want);
	CU_ASSERT_STRING_EQUAL(names(j), want);
	cJSON_Delete(j);
}

static void test_filters(void)
{
	fx f;
	fx_start(&f, 0, WITH_SLOW);
	expect_names(f.port, "/health?tag=live", 200, "alpha");
	expect_names(f.port, "/health?tag=ready", 200, "alpha,beta");
	expect_names(f.port, "/health?tag=nothing", 200, "");
	expect_names(f.port, "/health?exclude=slow", 200, "alpha,beta");
	expect_names(f.port, "/health?exclude=alpha,slow", 200, "beta");
	expect_names(f.port, "/health?exclude=alpha&exclude=slow,beta", 200,
		     "");
	expect_names(f.port, "/health?exclude=al%70ha,,slow,", 200, "beta");
	expect_names(f.port, "/health?tag=ready&exclude=beta", 200, "alpha");
	expect_names(f.port, "/health?tag=re%61dy&unknown=1&exclude=", 200,
		     "alpha,beta");

	expect_error(f.port, "GET", "/health?exclude=b%40d", NULL, 400,
		     "exclude");
	expect_error(f.port, "GET", "/health?exclude=a%2Fb", NULL, 400, NULL);
	expect_error(f.port, "GET", "/health?tag=%zz", NULL, 400, "percent");
	expect_error(f.port, "GET", "/health?tag=%00", NULL, 400, NULL);
	expect_error(f.port, "GET", "/health?tag=", NULL, 400, "tag");
	expect_error(f.port, "GET", "/health?tag=live&tag=ready", NULL, 400,
		     "tag");
	char many[2048] = "/health?exclude=c0";
	for (int i = 1; i <= 64; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 ",c%d", i);
	expect_error(f.port, "GET", many, NULL, 400, "too many");
	fx_stop(&f);
}

static void test_one(void)
{
	fx f;
	fx_start(&f, 0, 0);
	cJSON *j = get_json(f.port, "/health/alpha", NULL, 200, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "name"), "alpha");
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "healthy");
	cJSON_Delete(j);
	j = get_json(f.port, "/health/be%74a", NULL, 200, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "name"), "beta");
	cJSON_Delete(j);
	/* Tag and exclude do not apply to one check. */
	j = get_json(f.port, "/health/beta?tag=live&exclude=beta", NULL, 200,
		     CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "name"), "beta");
	cJSON_Delete(j);
	expect_names(f.port, "/health/", 200, "alpha,beta");

	expect_error(f.port, "GET", "/health/nope", NULL, 404,
		     "unknown check \"nope\"");
	expect_error(f.port, "GET", "/health/b%40d", NULL, 404, NULL);
	expect_error(f.port, "GET", "/health/alpha/x", NULL, 404, NULL);
	expect_error(f.port, "GET", "/health/alpha?cache=no", NULL, 400,
		     "cache");
	fx_stop(&f);
}

static void test_livez_readyz(void)
{
	fx f;
	fx_start(&f, 0, WITH_SLOW);
	expect_names(f.port, "/livez", 200, "alpha");
	expect_names(f.port, "/readyz", 200, "alpha,beta");
	expect_names(f.port, "/readyz/", 200, "alpha,beta");
	expect_names(f.port, "/readyz?exclude=alpha", 200, "beta");
	/* ?tag does not change what liveness means. */
	expect_names(f.port, "/livez?tag=ready", 200, "alpha");
	atomic_store(&beta_status, VT_UNHEALTHY);
	expect_names(f.port, "/readyz", 503, "alpha,beta");
	expect_names(f.port, "/livez", 200, "alpha");
	expect_error(f.port, "GET", "/livez/x", NULL, 404, NULL);
	expect_error(f.port, "GET", "/readyzz", NULL, 404, NULL);
	fx_stop(&f);
}

static const cJSON *ietf_check(const cJSON *j, const char *key)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "checks"), key);
	CU_ASSERT_FATAL(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 1);
	return cJSON_GetArrayItem(arr, 0);
}

static void test_ietf(void)
{
	fx f;
	fx_start(&f, 0, 0);
	const char *acc = "Accept: application/health+json\r\n";
	cJSON *j = get_json(f.port, "/health", acc, 200, CT_IETF);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "pass");
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "checks")),
	    2);
	const cJSON *a = ietf_check(j, "alpha:responseTime");
	CU_ASSERT_STRING_EQUAL(str_of(a, "status"), "pass");
	CU_ASSERT_STRING_EQUAL(str_of(a, "componentId"), "alpha");
	CU_ASSERT_STRING_EQUAL(str_of(a, "output"), "");
	CU_ASSERT_STRING_EQUAL(str_of(a, "observedUnit"), "ms");
	CU_ASSERT(cJSON_IsNumber(
	    cJSON_GetObjectItemCaseSensitive(a, "observedValue")));
	const char *t = str_of(a, "time");
	/* RFC 3339: 2025-05-20T12:34:56.789Z */
	CU_ASSERT(strlen(t) == 24 && t[4] == '-' && t[10] == 'T' &&
		  t[23] == 'Z');
	cJSON_Delete(j);

	atomic_store(&beta_status, VT_DEGRADED);
	j = get_json(f.port, "/health", acc, 200, CT_IETF);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "warn");
	CU_ASSERT_STRING_EQUAL(
	    str_of(ietf_check(j, "beta:responseTime"), "status"), "warn");
	cJSON_Delete(j);
	atomic_store(&beta_status, VT_UNHEALTHY);
	j = get_json(f.port, "/health", acc, 503, CT_IETF);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "fail");
	const cJSON *b = ietf_check(j, "beta:responseTime");
	CU_ASSERT_STRING_EQUAL(str_of(b, "status"), "fail");
	CU_ASSERT_STRING_EQUAL(str_of(b, "output"), "beta is down");
	cJSON_Delete(j);

	/* One check; the format by query; JSON when asked or preferred. */
	j = get_json(f.port, "/health/alpha?cache=true", acc, 200, CT_IETF);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "pass");
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "checks")),
	    1);
	cJSON_Delete(j);
	j = get_json(f.port, "/readyz?format=health+json", NULL, 503, CT_IETF);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "fail");
	cJSON_Delete(j);
	j = get_json(f.port, "/livez?format=ietf", NULL, 200, CT_IETF);
	cJSON_Delete(j);
	j = get_json(f.port, "/health?format=json", acc, 503, CT_JSON);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "unhealthy");
	cJSON_Delete(j);
	j = get_json(
	    f.port, "/livez",
	    "Accept: application/json, application/health+json;q=0.5\r\n", 200,
	    CT_JSON);
	cJSON_Delete(j);
	j = get_json(f.port, "/livez",
		     "Accept: application/health+json, */*;q=0.1\r\n", 200,
		     CT_IETF);
	cJSON_Delete(j);
	j = get_json(f.port, "/livez", "Accept: text/html, */*;q=0.8\r\n", 200,
		     CT_JSON);
	cJSON_Delete(j);
	expect_error(f.port, "GET", "/health?format=xml", NULL, 400, "format");
	expect_error(f.port, "GET", "/health?format=prometheus", NULL, 400,
		     "format");
	fx_stop(&f);
}

/* GET /metrics with extra; the Content-Type and body. */
static char *get_metrics(int port, const char *target, const char *extra,
			 const char *want_ct)
{
	vt_test_resp r;
	CU_ASSERT_FATAL(request(port, "GET", target, extra, &r));
	CU_ASSERT_EQUAL(r.status, 200);
	if (strcmp(hdr(&r, "Content-Type"), want_ct) != 0)
		fprintf(stderr, "GET %s [%s]: Content-Type %s, want %s\n",
			target, extra != NULL ? extra : "",
			hdr(&r, "Content-Type"), want_ct);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), want_ct);
	char *body = r.body;
	r.body = NULL;
	vt_test_resp_free(&r);
	return body;
}

static bool promtool_ok(const char *text)
{
	char path[] = "/tmp/vt_gw_promXXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s", VT_TEST_PROMTOOL,
		 path);
	ok = ok && system(cmd) == 0;
	unlink(path);
	return ok;
}

static void test_metrics(void)
{
	fx f;
	fx_start(&f, 0, 0);
	vt_counter *c;
	vt_gauge *g;
	vt_histogram *h;
	CU_ASSERT_FATAL(
	    vt_metrics_counter(f.m, "orders_total", "Orders.", &c) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_gauge(f.m, "queue_depth", NULL, &g) ==
			VT_OK);
	CU_ASSERT_FATAL(
	    vt_metrics_histogram(f.m, "latency_seconds", NULL, &h) == VT_OK);
	for (int i = 0; i < 3; i++)
		vt_counter_inc(c);
	vt_gauge_set(g, 42);
	vt_histogram_observe(h, 0.4);
	vt_histogram_observe(h, 0.5);
	/* A run, so the health metrics exist. */
	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));

	cJSON *j = get_json(f.port, "/metrics", NULL, 200, CT_JSON);
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "orders_total");
	CU_ASSERT_STRING_EQUAL(str_of(o, "type"), "counter");
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(o, "value")->valuedouble ==
		  3);
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "queue_depth");
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(q, "value")->valuedouble ==
		  42);
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "latency_seconds");
	CU_ASSERT_STRING_EQUAL(str_of(l, "type"), "histogram");
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(l, "count")->valuedouble ==
		  2);
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(
		      j, "vitals_check_status{check=\"alpha\"}") != NULL);
	cJSON_Delete(j);

	/* Prometheus text, by query and by Accept. */
	char *t =
	    get_metrics(f.port, "/metrics?format=prometheus", NULL, CT_PROM);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE orders_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\norders_total 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "latency_seconds_count 2\n"));
	CU_ASSERT(promtool_ok(t));
	free(t);
	const char *prom_accept =
	    "Accept: application/openmetrics-text;version=1.0.0,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,"
	    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
	t = get_metrics(f.port, "/metrics", prom_accept, CT_OM);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE orders counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\norders_total 3.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\n# EOF\n"));
	free(t);
	/* With --enable-feature=native-histograms Prometheus asks for
	 * protobuf first (test_promexpo.c decodes it). */
	const char *native_accept =
	    "Accept: application/vnd.google.protobuf;proto=io.prometheus."
	    "client.MetricFamily;encoding=delimited,application/"
	    "openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;"
	    "q=0.5,*/*;q=0.1\r\n";
	t = get_metrics(f.port, "/metrics", native_accept, CT_PB);
	CU_ASSERT(t != NULL && (unsigned char)t[0] > 0); /* a length */
	free(t);
	free(get_metrics(f.port, "/metrics?format=openmetrics", NULL, CT_OM));
	free(
	    get_metrics(f.port, "/metrics", "Accept: text/plain\r\n", CT_PROM));
	free(get_metrics(f.port, "/metrics",
			 "Accept: text/plain;version=0.0.4\r\n", CT_PROM));
	free(get_metrics(f.port, "/metrics", "Accept: application/json\r\n",
			 CT_JSON));
	free(get_metrics(f.port, "/metrics", "Accept: */*\r\n", CT_JSON));
	free(get_metrics(f.port, "/metrics",
			 "Accept: application/json, text/plain;q=0.5\r\n",
			 CT_JSON));
	free(get_metrics(f.port, "/metrics?format=json", prom_accept, CT_JSON));

	/* Filters. */
	j = get_json(f.port, "/metrics?name=orders_total", NULL, 200, CT_JSON);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 1);
	CU_ASSERT_PTR_NOT_NULL(
	    cJSON_GetObjectItemCaseSensitive(j, "orders_total"));
	cJSON_Delete(j);
	j = get_json(f.port, "/metrics?prefix=vitals_check_", NULL, 200,
		     CT_JSON);
	const cJSON *it;
	int n = 0;
	cJSON_ArrayForEach(it, j)
	{
		CU_ASSERT(strncmp(it->string, "vitals_check_", 13) == 0);
		n++;
	}
	CU_ASSERT(n > 0);
	cJSON_Delete(j);
	j = get_json(f.port, "/metrics?name=no_such_metric", NULL, 200,
		     CT_JSON);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);
	t = get_metrics(f.port, "/metrics?format=prometheus&name=queue_depth",
			NULL, CT_PROM);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "queue_depth 42\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "orders_total"));
	free(t);

	expect_error(f.port, "GET", "/metrics?name=1bad", NULL, 400, "name");
	expect_error(f.port, "GET", "/metrics?prefix=a-b", NULL, 400, "prefix");
	expect_error(f.port, "GET", "/metrics?format=xml", NULL, 400, "format");
	expect_error(f.port, "GET", "/metrics?format=health+json", NULL, 400,
		     "format");
	expect_error(f.port, "GET", "/metrics/x", NULL, 404, NULL);
	fx_stop(&f);
}

static void test_hung_check(void)
{
	fx f;
	fx_start(&f, 0, WITH_HANG);
	/* A fresh /health waits for the hung check's deadline (800 ms) ... */
	vt_test_conn *a = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	const char *get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
	double t0 = vt_test_now_ms();
	CU_ASSERT_FATAL(vt_test_conn_send(a, get, strlen(get)));

	/* ... while the gateway answers other requests at once. */
	vt_test_sleep_ms(100);
	vt_test_resp r;
	double t1 = vt_test_now_ms();
	CU_ASSERT_FATAL(request(f.port, "GET", "/metrics", NULL, &r));
	CU_ASSERT_EQUAL(r.status, 200);
	vt_test_resp_free(&r);
	CU_ASSERT_FATAL(request(f.port, "GET", "/health?cache=true", NULL, &r));
	vt_test_resp_free(&r);
	double quick = vt_test_now_ms() - t1;
	CU_ASSERT(quick < 500);

	CU_ASSERT_FATAL(conn_read(a, false, &r));
	double ms = vt_test_now_ms() - t0;
	fprintf(stderr, "hung: /health in %.0f ms, others in %.0f ms\n", ms,
		quick);
	CU_ASSERT(ms >= 700);
	CU_ASSERT(ms <= 800 + 1500);
	CU_ASSERT_EQUAL(r.status, 503);
	cJSON *j = cJSON_Parse(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *c;
	bool seen = false;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "components"))
	{
		if (strcmp(str_of(c, "name"), "hang") != 0)
			continue;
		seen = true;
		CU_ASSERT_STRING_EQUAL(str_of(c, "status"), "unhealthy");
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(str_of(c, "error"), "timeout after 800 ms"));
	}
	CU_ASSERT(seen);
	cJSON_Delete(j);
	vt_test_resp_free(&r);
	vt_test_conn_free(a);

	/* Still hung (single flight): a new fresh run does not wait again
	 * for it, and the other checks are fine. */
	t0 = vt_test_now_ms();
	expect_names(f.port, "/health?exclude=hang", 200, "alpha,beta");
	CU_ASSERT(vt_test_now_ms() - t0 < 700);
	fx_stop(&f);
}

static void test_methods(void)
{
	fx f;
	fx_start(&f, 0, 0);
	static const char *const bad[][2] = {
	    {"POST", "/health"},    {"PUT", "/metrics"},
	    {"DELETE", "/livez"},   {"PATCH", "/health/alpha"},
	    {"OPTIONS", "/readyz"}, {"BREW", "/health"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vt_test_resp r;
		CU_ASSERT_FATAL(
		    request(f.port, bad[i][0], bad[i][1], NULL, &r));
		CU_ASSERT_EQUAL(r.status, 405);
		CU_ASSERT_STRING_EQUAL(hdr(&r, "Allow"), "GET, HEAD");
		CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), CT_JSON);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"error\""));
		vt_test_resp_free(&r);
	}
	/* A body sent with a refused method: answered, then closed. */
	vt_test_conn *c = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	vt_test_resp r;
	CU_ASSERT_FATAL(conn_request(
	    c, "POST", "/health",
	    "Content-Type: application/json\r\nContent-Length: 7\r\n", &r));
	/* The unread body must not be taken for the next request: the
	 * answer says the connection closes, and it does. */
	CU_ASSERT_EQUAL(r.status, 405);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
	vt_test_resp_free(&r);
	/* The body may still be sent (or meet the closed socket already):
	 * either way no second answer comes, only the close. */
	(void)vt_test_conn_send(c, "{\"a\":1}", 7);
	CU_ASSERT(vt_test_conn_closed(c, 5000));
	vt_test_conn_free(c);
	/* A path that is not ours: 404 whatever the method. */
	expect_error(f.port, "POST", "/orders", NULL, 404, "not found");
	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));
	fx_stop(&f);
}

/* Sends raw bytes on a new connection; the answer's status, 0 when the
 * server closed without one. Then checks the server still serves. */
static int raw(int port, const char *bytes, size_t n, vt_test_resp *r)
{
	vt_test_conn *c = vt_test_conn_new(port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	(void)vt_test_conn_send(c, bytes, n);
	if (!conn_read(c, false, r))
		r->status = 0;
	vt_test_conn_free(c);
	vt_test_resp ok;
	CU_ASSERT(request(port, "GET", "/health?cache=true", NULL, &ok));
	CU_ASSERT_EQUAL(ok.status, 200);
	vt_test_resp_free(&ok);
	return r->status;
}

static void test_bad_input(void)
{
	fx f;
	fx_start(&f, 0, 0);
	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));
	expect_error(f.port, "GET", "/nope", NULL, 404, "not found");
	expect_error(f.port, "GET", "/nothing-here", NULL, 404, NULL);
	expect_error(f.port, "GET", "/healthz", NULL, 404, NULL);
	expect_error(f.port, "GET", "/metricsx?format=json", NULL, 404, NULL);
	expect_error(f.port, "GET", "/health/%zz", NULL, 400, "percent");

	vt_test_resp r;
	/* 100 KB header: nng 1.5.2 keeps headers within 8 KiB and drops the
	 * connection without an answer; the server goes on. */
	size_t big = 100 * 1024;
	char *req = malloc(big + 128);
	int n =
	    snprintf(req, 128, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', big);
	memcpy(req + n + big, "\r\n\r\n", 5);
	int st = raw(f.port, req, (size_t)n + big + 4, &r);
	CU_ASSERT(st == 0 || st == 431 || st == 400);
	vt_test_resp_free(&r);
	free(req);

	/* A body over the cap (1 MiB): 413 from its headers, then closed. */
	vt_test_conn *c = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	const char *huge = "GET /health HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 2000000\r\n\r\nxxxxxxxx";
	CU_ASSERT_FATAL(vt_test_conn_send(c, huge, strlen(huge)));
	CU_ASSERT_FATAL(conn_read(c, false, &r));
	CU_ASSERT_EQUAL(r.status, 413);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), CT_JSON);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "too large"));
	vt_test_resp_free(&r);
	CU_ASSERT(vt_test_conn_closed(c, 5000));
	vt_test_conn_free(c);
	expect_error(f.port, "POST", "/metrics",
		     "Content-Length: 99999999999\r\n", 413, "too large");
	expect_error(f.port, "GET", "/health", "Content-Length: 12x\r\n", 400,
		     "Content-Length");
	/* A small body is not read: answered, then the connection closes. */
	c = vt_test_conn_new(f.port);
	const char *small = "GET /health?cache=true HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 5\r\n\r\nhello";
	CU_ASSERT_FATAL(vt_test_conn_send(c, small, strlen(small)));
	CU_ASSERT_FATAL(conn_read(c, false, &r));
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
	vt_test_resp_free(&r);
	CU_ASSERT(vt_test_conn_closed(c, 5000));
	vt_test_conn_free(c);

	/* Malformed request lines: closed by nng, or its error page. */
	static const char *const junk[] = {
	    "GARBAGE\r\n\r\n",
	    "GET /health\r\n\r\n",
	    "\x01\x02\x03\xff\xfe\r\n\r\n",
	    "GET /health HTTP/1.1\r\nHost x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		st = raw(f.port, junk[i], strlen(junk[i]), &r);
		CU_ASSERT(st == 0 || st == 400);
		vt_test_resp_free(&r);
	}
	/* nng's own errors carry our JSON bodies. */
	const char *h2 = "GET /health HTTP/2.0\r\nHost: x\r\n\r\n";
	CU_ASSERT_EQUAL(raw(f.port, h2, strlen(h2), &r), 505);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "{\"error\":"));
	vt_test_resp_free(&r);
	const char *nohost = "GET /health HTTP/1.1\r\n\r\n";
	CU_ASSERT_EQUAL(raw(f.port, nohost, strlen(nohost), &r), 400);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"error\":\"bad request\"}");
	vt_test_resp_free(&r);
	/* Absolute form. */
	const char *abs = "GET http://127.0.0.1/health/alpha?cache=true "
			  "HTTP/1.1\r\nHost: x\r\n\r\n";
	CU_ASSERT_EQUAL(raw(f.port, abs, strlen(abs), &r), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"name\":\"alpha\""));
	vt_test_resp_free(&r);
	fx_stop(&f);
}

static void test_keepalive_head(void)
{
	fx f;
	fx_start(&f, 0, 0);
	vt_test_conn *c = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	vt_test_resp r;
	size_t get_len = 0;
	static const struct {
		const char *method, *target;
		int status;
	} seq[] = {
	    {"GET", "/health", 200},
	    {"GET", "/nope", 404},
	    {"GET", "/health?cache=x", 400},
	    {"POST", "/health", 405},
	    {"GET", "/metrics", 200},
	    {"HEAD", "/health", 200},
	    {"HEAD", "/health?cache=true", 200},
	    {"HEAD", "/nope", 404},
	    {"GET", "/health/alpha", 200},
	};
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		CU_ASSERT_FATAL(
		    conn_request(c, seq[i].method, seq[i].target, NULL, &r));
		CU_ASSERT_EQUAL(r.status, seq[i].status);
		if (i == 0)
			get_len = r.len;
		if (strcmp(seq[i].method, "HEAD") == 0 && seq[i].status == 200)
			/* the GET's length (timings may differ in digits) */
			CU_ASSERT(labs(atol(hdr(&r, "Content-Length")) -
				       (long)get_len) < 16);
		vt_test_resp_free(&r);
	}
	/* Nothing stray follows a HEAD answer on the connection. */
	CU_ASSERT_EQUAL(c->n, 0);
	vt_test_conn_free(c);

	/* HTTP/1.0 and "Connection: close": answered, then closed, on
	 * both the fresh (worker) and the cached (inline) path. */
	static const char *const closing[] = {
	    "GET /health HTTP/1.0\r\n\r\n",
	    "GET /health?cache=true HTTP/1.0\r\n\r\n",
	    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    "GET /livez?cache=true HTTP/1.1\r\nHost: x\r\nConnection: "
	    "Close\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
		c = vt_test_conn_new(f.port);
		CU_ASSERT_FATAL(
		    vt_test_conn_send(c, closing[i], strlen(closing[i])));
		CU_ASSERT_FATAL(conn_read(c, false, &r));
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
		vt_test_resp_free(&r);
		CU_ASSERT(vt_test_conn_closed(c, 5000));
		vt_test_conn_free(c);
	}
	fx_stop(&f);
}

typedef struct par {
	int port;
	int status;
} par;

static void *par_get(void *arg)
{
	par *p = arg;
	vt_test_resp r;
	if (request(p->port, "GET", "/health?tag=slow", NULL, &r))
		p->status = r.status;
	vt_test_resp_free(&r);
	return NULL;
}

static void test_concurrent_fresh(void)
{
	fx f;
	fx_start(&f, 0, WITH_SLOW);
	enum { N = 8 };
	pthread_t t[N];
	par p[N];
	double t0 = vt_test_now_ms();
	for (int i = 0; i < N; i++) {
		p[i] = (par){.port = f.port};
		pthread_create(&t[i], NULL, par_get, &p[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(p[i].status, 200);
	}
	double ms = vt_test_now_ms() - t0;
	fprintf(stderr,
		"%d fresh /health on a 600 ms check: %.0f ms, %d runs\n", N, ms,
		atomic_load(&slow_runs));
	/* They shared runs instead of queueing one after another. */
	CU_ASSERT(atomic_load(&slow_runs) <= 2);
	CU_ASSERT(ms < 2 * 600 + 800);
	fx_stop(&f);
}

/* Fresh requests on several connections while a check hangs: one
 * execution of it for all, each answered at its timeout while it still
 * hangs. */
static void test_concurrent_hung(void)
{
	fx f;
	fx_start(&f, 0, WITH_HANG);
	enum { N = 8 };
	vt_test_conn *c[N];
	const char *get = "GET /health?tag=hang HTTP/1.1\r\nHost: x\r\n\r\n";
	for (int i = 0; i < N; i++) {
		c[i] = vt_test_conn_new(f.port);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c[i]);
		CU_ASSERT_FATAL(vt_test_conn_send(c[i], get, strlen(get)));
	}
	for (int i = 0; i < N; i++) {
		vt_test_resp r;
		CU_ASSERT_FATAL(conn_read(c[i], false, &r));
		CU_ASSERT_EQUAL(r.status, 503);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "timeout after 800 ms"));
		vt_test_resp_free(&r);
		vt_test_conn_free(c[i]);
	}
	/* Answered while it still hangs (fx_stop releases it). */
	CU_ASSERT_EQUAL(atomic_load(&hang_runs), 1);
	fx_stop(&f);
}

typedef struct shut {
	vt_server *s;
	double done_ms;
} shut;

static void *do_shutdown(void *arg)
{
	shut *sh = arg;
	vt_server_shutdown(sh->s);
	sh->done_ms = vt_test_now_ms();
	return NULL;
}

static void test_shutdown(void)
{
	fx f;
	fx_start(&f, 0, WITH_SLOW);
	cJSON_Delete(
	    get_json(f.port, "/health?exclude=slow", NULL, 200, CT_JSON));
	vt_test_conn *idle = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(idle);
	vt_test_conn *a = vt_test_conn_new(f.port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	const char *get = "GET /health?tag=slow HTTP/1.1\r\nHost: x\r\n\r\n";
	double sent = vt_test_now_ms();
	CU_ASSERT_FATAL(vt_test_conn_send(a, get, strlen(get)));
	vt_test_sleep_ms(150); /* the slow check runs (600 ms) */

	shut sh = {.s = f.s};
	pthread_t t;
	pthread_create(&t, NULL, do_shutdown, &sh);
	vt_test_resp r;
	CU_ASSERT_FATAL(conn_read(a, false, &r));
	pthread_join(t, NULL);
	/* The answer is whole: readiness is down (503), the check itself
	 * passed. */
	CU_ASSERT_EQUAL(r.status, 503);
	cJSON *j = cJSON_Parse(r.body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "status"), "unhealthy");
	CU_ASSERT_STRING_EQUAL(names(j), "slow");
	CU_ASSERT_STRING_EQUAL(
	    str_of(cJSON_GetArrayItem(
		       cJSON_GetObjectItemCaseSensitive(j, "components"), 0),
		   "status"),
	    "healthy");
	cJSON_Delete(j);
	vt_test_resp_free(&r);
	/* shutdown waited for the request in flight (the check started
	 * after it was sent and takes 600 ms) */
	CU_ASSERT(sh.done_ms - sent >= 590);
	vt_test_conn_free(a);

	/* Later: refused, or 503 on a connection that was open. */
	vt_test_conn *late = vt_test_conn_new(f.port);
	if (late != NULL) {
		bool got = conn_request(late, "GET", "/health", NULL, &r);
		CU_ASSERT(!got || r.status == 503);
		vt_test_resp_free(&r);
		vt_test_conn_free(late);
	}
	bool got = conn_request(idle, "GET", "/health", NULL, &r);
	CU_ASSERT(!got || r.status == 503);
	vt_test_resp_free(&r);
	vt_test_conn_free(idle);
	vt_server_shutdown(f.s); /* idempotent */
	fx_stop(&f);
}

/* The next pub message within 5 s into out; false on timeout. */
static bool sub_recv(nng_socket sub, char *out, size_t cap)
{
	char *buf;
	size_t n;
	if (nng_recv(sub, &buf, &n, NNG_FLAG_ALLOC) != 0)
		return false;
	snprintf(out, cap, "%.*s", (int)n, buf);
	nng_free(buf, n);
	return true;
}

static void test_pub(void)
{
	fx f;
	fx_start(&f, 0, WITH_PUB);
	nng_socket sub;
	CU_ASSERT_FATAL(nng_sub0_open(&sub) == 0);
	CU_ASSERT_FATAL(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) == 0);
	CU_ASSERT_FATAL(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000) == 0);
	char url[64], msg[256];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", f.pub_port);
	CU_ASSERT_FATAL(nng_dial(sub, url, NULL, 0) == 0);
	vt_test_sleep_ms(300); /* the subscription reaches the publisher */

	cJSON_Delete(get_json(f.port, "/health", NULL, 200, CT_JSON));
	atomic_store(&beta_status, VT_UNHEALTHY);
	cJSON_Delete(get_json(f.port, "/health", NULL, 503, CT_JSON));
	CU_ASSERT(sub_recv(sub, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "beta healthy unhealthy");
	atomic_store(&beta_status, VT_HEALTHY);
	cJSON_Delete(get_json(f.port, "/readyz", NULL, 200, CT_JSON));
	CU_ASSERT(sub_recv(sub, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "beta unhealthy healthy");

	vt_server_shutdown(f.s);
	CU_ASSERT(sub_recv(sub, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "* healthy unhealthy");
	nng_close(sub);
	fx_stop(&f);
}

static void test_start_errors(void)
{
	vt_metrics *m;
	vt_health *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_health_alloc(&h, NULL) == VT_OK);
	CU_ASSERT_FATAL(
	    vt_health_add_simple(h, "alpha", alpha_fn, NULL, NULL) == VT_OK);
	char err[256], addr[64];
	vt_server *s = NULL;
	vt_server_opts o = {.health = h, .metrics = m, .http_addr = "nonsense"};
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) == VT_EINVAL);
	CU_ASSERT(strncmp(err, "http nonsense", 13) == 0);
	o.http_addr = "127.0.0.1:8080/path";
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) == VT_EINVAL);
	o.http_addr = "127.0.0.1"; /* no port: not silently 80 */
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) == VT_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "HOST:PORT"));
	o.http_addr = "tcp://127.0.0.1:8080";
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) == VT_EINVAL);
	o.http_addr = "127.0.0.1:0";
	o.degraded_http_code = 99;
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) == VT_EINVAL);
	o.degraded_http_code = 0;
	vt_server_opts none = {.metrics = m};
	CU_ASSERT(vt_server_start(&s, &none, err, sizeof(err)) == VT_EINVAL);

	/* A port someone holds. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(listen(fd, 4) == 0);
	getsockname(fd, (struct sockaddr *)&a, &al);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
	o.http_addr = addr;
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) != VT_OK);
	fprintf(stderr, "busy port: %s\n", err);
	CU_ASSERT(strstr(err, "address in use") != NULL);
	CU_ASSERT(strncmp(err, "http 127.0.0.1:", 15) == 0);
	close(fd);

	/* An rpc url that cannot listen undoes the started gateway: the
	 * same http address starts again, and the registry is not shut. */
	int port = vt_test_free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	o.rpc_url = "bogus://nowhere";
	CU_ASSERT(vt_server_start(&s, &o, err, sizeof(err)) != VT_OK);
	fprintf(stderr, "bad rpc: %s\n", err);
	CU_ASSERT(strstr(err, "rpc") != NULL);
	o.rpc_url = NULL;
	CU_ASSERT_FATAL(vt_server_start(&s, &o, err, sizeof(err)) == VT_OK);
	cJSON_Delete(get_json(port, "/health", NULL, 200, CT_JSON));
	vt_server_free(s);
	vt_server_free(NULL);
	vt_health_free(h);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"health JSON body", test_health_json},
	    {"status codes and degraded code", test_status_codes},
	    {"cached vs fresh", test_cache},
	    {"cached answers reused while unchanged", test_cache_reuse},
	    {"tag and exclude filters", test_filters},
	    {"one check by name", test_one},
	    {"livez and readyz", test_livez_readyz},
	    {"IETF health+json", test_ietf},
	    {"metrics formats and filters", test_metrics},
	    {"hung check", test_hung_check},
	    {"methods", test_methods},
	    {"bad input", test_bad_input},
	    {"keep-alive, HEAD, close", test_keepalive_head},
	    {"concurrent fresh requests", test_concurrent_fresh},
	    {"concurrent fresh requests on a hung check", test_concurrent_hung},
	    {"graceful shutdown", test_shutdown},
	    {"pub", test_pub},
	    {"start errors", test_start_errors},
	    {NULL, NULL},
	};
	return vt_test_main("gateway", tests);
}
