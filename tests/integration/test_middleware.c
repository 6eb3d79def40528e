/*
 * test_middleware.c - vitals inside a program's own nng HTTP server: the
 * program's handlers wrapped by the middleware (a 201, a 500, one that
 * answers later from another thread, a tree handler for any method, one
 * that fails), vitals' routes attached beside them. After known
 * requests, the metrics snapshot must hold exact http_requests_total
 * counts by method, route and status, and histogram counts by method
 * and route; /health and /metrics must work on that server, and stop
 * working (while the program's handlers go on) once the middleware is
 * freed.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "support_http.h"
#include "support_net.h"
#include "testutil.h"
#include "vitals/middleware.h"

/* ---- requests, on the raw client of support_http.h ------------------- */

/* METHOD target with "Connection: close" on a connection of its own:
 * the status, 0 when there was no answer; the body into body[cap]. */
static int request(int port, const char *method, const char *target, char *body,
		   size_t cap)
{
	vt_test_resp r;
	int status = 0;
	body[0] = '\0';
	if (vt_test_http_request(port, method, target, "Connection: close\r\n",
				 10000, &r)) {
		status = r.status;
		snprintf(body, cap, "%s", r.body);
	}
	vt_test_resp_free(&r);
	return status;
}

/* ---- the program's handlers ------------------------------------------ */

typedef struct app {
	const char *order;
} app;

static void reply(nng_aio *aio, uint16_t status, const char *body)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, status);
	nng_http_res_set_header(res, "Content-Type", "text/plain");
	nng_http_res_copy_data(res, body, strlen(body));
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* 201 with the order from the handler's data. */
static void orders_cb(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	app *a = nng_http_handler_get_data(h);
	reply(aio, 201, a != NULL ? a->order : "no data");
}

static void fail_cb(nng_aio *aio)
{
	nng_http_res *res;
	if (nng_http_res_alloc_error(&res, 500) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void *slow_thread(void *arg)
{
	vt_test_sleep_ms(60);
	reply(arg, 200, "slow");
	return NULL;
}

/* Answers 60 ms later from its own thread. */
static void slow_cb(nng_aio *aio)
{
	pthread_t t;
	if (pthread_create(&t, NULL, slow_thread, aio) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	pthread_detach(t);
}

static void api_cb(nng_aio *aio)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, 204);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void broken_cb(nng_aio *aio)
{
	nng_aio_finish(aio, NNG_EINVAL);
}

static bool alpha_fn(void *arg)
{
	(void)arg;
	return true;
}

/* ---- metric lookups --------------------------------------------------- */

/* The series of family name whose label values are vals[n]; NULL if
 * none. */
static const vt_series_snap *find(const vt_metrics_snapshot *s,
				  const char *name, const char *const *vals,
				  size_t n)
{
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		if (strcmp(f->name, name) != 0)
			continue;
		for (size_t j = 0; j < f->nseries; j++) {
			const vt_series_snap *ss = &f->series[j];
			bool eq = ss->nlabels == n;
			for (size_t k = 0; eq && k < n; k++)
				eq = strcmp(ss->labels[k].value, vals[k]) == 0;
			if (eq)
				return ss;
		}
	}
	return NULL;
}

static double count_of(const vt_metrics_snapshot *s, const char *method,
		       const char *route, const char *status)
{
	const char *v[3] = {method, route, status};
	const vt_series_snap *ss = find(s, "http_requests_total", v, 3);
	return ss != NULL ? ss->value : 0;
}

static const vt_hist_summary *hist_of(const vt_metrics_snapshot *s,
				      const char *method, const char *route)
{
	const char *v[2] = {method, route};
	const vt_series_snap *ss =
	    find(s, "http_request_duration_seconds", v, 2);
	return ss != NULL ? &ss->hist : NULL;
}

static size_t nseries(const vt_metrics_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nfamilies; i++)
		if (strcmp(s->families[i].name, name) == 0)
			return s->families[i].nseries;
	return 0;
}

/* ---- the test --------------------------------------------------------- */

static void add(vt_middleware *mw, nng_http_server *srv, const char *method,
		const char *path, void (*cb)(nng_aio *), void *data, bool tree)
{
	nng_http_handler *h;
	CU_ASSERT_FATAL(vt_middleware_handler(mw, method, path, cb, data, &h) ==
			VT_OK);
	if (tree)
		CU_ASSERT_FATAL(nng_http_handler_set_tree(h) == 0);
	CU_ASSERT_FATAL(nng_http_server_add_handler(srv, h) == 0);
}

static void test_middleware(void)
{
	vt_metrics *m;
	vt_health *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_health_opts ho = {.metrics = m};
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	CU_ASSERT_FATAL(
	    vt_health_add_simple(h, "alpha", alpha_fn, NULL, NULL) == VT_OK);

	int port = vt_test_free_port();
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	nng_url *u;
	nng_http_server *srv;
	CU_ASSERT_FATAL(nng_url_parse(&u, url) == 0);
	CU_ASSERT_FATAL(nng_http_server_hold(&srv, u) == 0);
	nng_url_free(u);

	vt_middleware *mw;
	CU_ASSERT_FATAL(vt_middleware_alloc(&mw, srv, h, m, NULL) == VT_OK);
	/* The routes are taken now: a second one attaches nothing. */
	vt_middleware *mw2 = NULL;
	CU_ASSERT(vt_middleware_alloc(&mw2, srv, h, m, NULL) == VT_EEXIST);
	CU_ASSERT_PTR_NULL(mw2);
	CU_ASSERT(vt_middleware_handler(mw, "GET", NULL, orders_cb, NULL,
					&(nng_http_handler *){NULL}) ==
		  VT_EINVAL);

	app orders = {.order = "order-42"};
	add(mw, srv, "GET", "/orders", orders_cb, &orders, false);
	add(mw, srv, "GET", "/fail", fail_cb, NULL, false);
	add(mw, srv, "GET", "/slow", slow_cb, NULL, false);
	add(mw, srv, NULL, "/api", api_cb, NULL, true);
	add(mw, srv, "GET", "/broken", broken_cb, NULL, false);
	CU_ASSERT_FATAL(nng_http_server_start(srv) == 0);

	char buf[65536];
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(
		    request(port, "GET", "/orders", buf, sizeof(buf)), 201);
		CU_ASSERT_STRING_EQUAL(buf, "order-42");
	}
	CU_ASSERT_EQUAL(request(port, "HEAD", "/orders", buf, sizeof(buf)),
			201);
	CU_ASSERT_STRING_EQUAL(buf, "");
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(request(port, "GET", "/fail", buf, sizeof(buf)),
				500);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(request(port, "GET", "/slow", buf, sizeof(buf)),
				200);
	CU_ASSERT_EQUAL(request(port, "POST", "/api/x/y", buf, sizeof(buf)),
			204);
	CU_ASSERT_EQUAL(request(port, "GET", "/api", buf, sizeof(buf)), 204);
	CU_ASSERT_EQUAL(request(port, "BREW", "/api/pot", buf, sizeof(buf)),
			204);
	CU_ASSERT_EQUAL(request(port, "GET", "/broken", buf, sizeof(buf)), 0);
	/* Not wrapped, not counted: nng's own 405 and 404. */
	CU_ASSERT_EQUAL(request(port, "POST", "/orders", buf, sizeof(buf)),
			405);
	CU_ASSERT_EQUAL(request(port, "GET", "/nope", buf, sizeof(buf)), 404);

	/* vitals' routes on the program's server. */
	CU_ASSERT_EQUAL(request(port, "GET", "/health", buf, sizeof(buf)), 200);
	cJSON *j = cJSON_Parse(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring,
	    "healthy");
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(
	    request(port, "GET", "/health/alpha?cache=true", buf, sizeof(buf)),
	    200);
	CU_ASSERT_EQUAL(request(port, "GET", "/readyz", buf, sizeof(buf)), 200);
	CU_ASSERT_EQUAL(request(port, "POST", "/metrics", buf, sizeof(buf)),
			405);
	CU_ASSERT_EQUAL(request(port, "GET", "/metrics", buf, sizeof(buf)),
			200);
	j = cJSON_Parse(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(
	    j, "http_requests_total{method=\"GET\",route=\"/orders\","
	       "status=\"201\"}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(c, "value")->valueint,
			3);
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(request(port, "GET", "/metrics?format=prometheus", buf,
				sizeof(buf)),
			200);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(buf, "\nhttp_requests_total{method=\"GET\",route=\"/fail\","
			"status=\"500\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "http_request_duration_seconds_"
					   "count{method=\"GET\",route=\"/"
					   "slow\"} 2\n"));

	/* Exact counts in the snapshot. */
	vt_metrics_snapshot *s;
	vt_metrics_filter f = {.name_prefix = "http_request"};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &f, &s) == VT_OK);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/orders", "201"), 3);
	CU_ASSERT_EQUAL(count_of(s, "HEAD", "/orders", "201"), 1);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/fail", "500"), 2);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/slow", "200"), 2);
	CU_ASSERT_EQUAL(count_of(s, "POST", "/api", "204"), 1);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/api", "204"), 1);
	CU_ASSERT_EQUAL(count_of(s, "OTHER", "/api", "204"), 1);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/broken", "error"), 1);
	CU_ASSERT_EQUAL(nseries(s, "http_requests_total"), 8);
	const vt_hist_summary *hs = hist_of(s, "GET", "/orders");
	CU_ASSERT_FATAL(hs != NULL);
	CU_ASSERT_EQUAL(hs->count, 3);
	CU_ASSERT(hs->min >= 0 && hs->max < 5);
	hs = hist_of(s, "GET", "/slow");
	CU_ASSERT_FATAL(hs != NULL);
	CU_ASSERT_EQUAL(hs->count, 2);
	CU_ASSERT(hs->min >= 0.055 && hs->max < 5);
	/* le buckets are exact: none of the slow ones within 50 ms. */
	for (size_t i = 0; i < hs->nbounds; i++)
		if (hs->le_bounds[i] <= 0.05)
			CU_ASSERT_EQUAL(hs->le_cumulative[i], 0);
	CU_ASSERT_EQUAL(hs->le_cumulative[hs->nbounds], 2);
	hs = hist_of(s, "HEAD", "/orders");
	CU_ASSERT(hs != NULL && hs->count == 1);
	CU_ASSERT_EQUAL(nseries(s, "http_request_duration_seconds"), 8);
	vt_metrics_snapshot_free(s);

	/* Without the middleware, vitals' routes are gone; the program's
	 * wrapped handlers go on recording. */
	vt_middleware_free(mw);
	CU_ASSERT_EQUAL(request(port, "GET", "/health", buf, sizeof(buf)), 404);
	CU_ASSERT_EQUAL(request(port, "GET", "/orders", buf, sizeof(buf)), 201);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &f, &s) == VT_OK);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/orders", "201"), 4);
	vt_metrics_snapshot_free(s);

	nng_http_server_stop(srv);
	nng_http_server_release(srv);
	vt_health_free(h);
	vt_metrics_free(m);
}

/* The metrics half alone: no routes, no health registry. */
static void test_metrics_only(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	/* A name taken with another kind is refused. */
	vt_gauge *g;
	CU_ASSERT_FATAL(vt_metrics_gauge(m, "http_requests_total", NULL, &g) ==
			VT_OK);
	vt_middleware *mw = NULL;
	vt_middleware_opts o = VT_MIDDLEWARE_OPTS_DEFAULT;
	o.attach_routes = false;
	CU_ASSERT(vt_middleware_alloc(&mw, NULL, NULL, m, &o) == VT_EKIND);
	vt_metrics_free(m);

	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	static const double bounds[] = {0.001, 0.01, 0.1};
	o.le_bounds = bounds;
	o.nbounds = 3;
	CU_ASSERT_FATAL(vt_middleware_alloc(&mw, NULL, NULL, m, &o) == VT_OK);
	CU_ASSERT(vt_middleware_alloc(&(vt_middleware *){NULL}, NULL, NULL, m,
				      NULL) == VT_EINVAL);

	int port = vt_test_free_port();
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	nng_url *u;
	nng_http_server *srv;
	CU_ASSERT_FATAL(nng_url_parse(&u, url) == 0);
	CU_ASSERT_FATAL(nng_http_server_hold(&srv, u) == 0);
	nng_url_free(u);
	add(mw, srv, "GET", "/orders", orders_cb, NULL, false);
	CU_ASSERT_FATAL(nng_http_server_start(srv) == 0);
	char buf[4096];
	CU_ASSERT_EQUAL(request(port, "GET", "/orders", buf, sizeof(buf)), 201);
	CU_ASSERT_STRING_EQUAL(buf, "no data");
	CU_ASSERT_EQUAL(request(port, "GET", "/health", buf, sizeof(buf)), 404);
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT_EQUAL(count_of(s, "GET", "/orders", "201"), 1);
	const vt_hist_summary *hs = hist_of(s, "GET", "/orders");
	CU_ASSERT_FATAL(hs != NULL);
	CU_ASSERT_EQUAL(hs->nbounds, 3);
	vt_metrics_snapshot_free(s);
	nng_http_server_stop(srv);
	vt_middleware_free(mw);
	nng_http_server_release(srv);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"wrapped handlers and vitals routes", test_middleware},
	    {"metrics only", test_metrics_only},
	    {NULL, NULL},
	};
	return vt_test_main("middleware", tests);
}
