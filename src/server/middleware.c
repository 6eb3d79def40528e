/*
 * middleware.c - vitals inside a program's own nng HTTP server: vitals'
 * routes attached to it (gateway.c's vt__routes), and handlers that
 * record request metrics around the program's callbacks. See
 * vitals/middleware.h.
 *
 * A wrapped handler's callback stamps the start, allocates an inner aio
 * whose inputs are the request, a "shadow" handler (never added to any
 * server) carrying the program's data, and the connection, and calls the
 * program's callback with it as nng would. When the program finishes
 * the inner aio, its completion reads the response's status, records
 * http_requests_total and http_request_duration_seconds, moves the
 * response to the server's aio and finishes that. The label set is
 * bounded: route is the registered path, method one of a fixed list.
 */
#include "vitals/middleware.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "server/gateway.h"
#include "server/service.h"

#define REQUESTS_NAME "http_requests_total"
#define DURATION_NAME "http_request_duration_seconds"

struct vt_middleware {
	vt__service svc;     /* initialised when svc_ready */
	bool svc_ready;	     /* immutable after alloc */
	vt__routes *routes;  /* NULL without attach_routes */
	vt_family *requests; /* immutable; owned by the vt_metrics */
	vt_family *duration; /* immutable; owned by the vt_metrics */
};

/* One wrapped handler: its data, freed by nng with the handler. */
typedef struct mw_wrap {
	vt_family *requests; /* immutable */
	vt_family *duration; /* immutable */
	void (*cb)(nng_aio *);
	nng_http_handler *shadow; /* what the program's callback sees */
	char route[];
} mw_wrap;

/* One request through a wrapped handler. */
typedef struct mw_call {
	mw_wrap *w;
	nng_aio *outer; /* the server's handler aio */
	nng_aio *inner; /* the program's callback's aio */
	const char *method;
	int64_t start_ns;
} mw_call;

static const char *const methods[] = {"GET",	 "HEAD",    "POST",
				      "PUT",	 "DELETE",  "PATCH",
				      "OPTIONS", "CONNECT", "TRACE"};

/* The method label: a known method's name, else "OTHER". */
static const char *method_label(const char *m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (m != NULL && strcmp(m, methods[i]) == 0)
			return methods[i];
	return "OTHER";
}

static void record(const mw_call *c, const char *status)
{
	double secs = (double)(vt__mono_ns() - c->start_ns) / 1e9;
	const char *lv[3] = {c->method, c->w->route, status};
	struct vt_series *s;
	if (vt_family_series(c->w->requests, lv, 3, &s) == VT_OK)
		(void)vt_counter_inc(s);
	if (vt_family_series(c->w->duration, lv, 2, &s) == VT_OK)
		(void)vt_histogram_observe(s, secs < 0 ? 0 : secs);
}

/* The program finished its aio: record, then hand its answer on. */
static void inner_done(void *arg)
{
	mw_call *c = arg;
	int rv = nng_aio_result(c->inner);
	nng_http_res *res = rv == 0 ? nng_aio_get_output(c->inner, 0) : NULL;
	char code[16];
	const char *status = code;
	if (rv != 0)
		status = "error";
	else if (res == NULL)
		status = "none";
	else
		snprintf(code, sizeof(code), "%u",
			 (unsigned)nng_http_res_get_status(res));
	record(c, status);
	nng_aio *outer = c->outer;
	nng_aio_reap(c->inner);
	free(c);
	nng_aio_set_output(outer, 0, res);
	nng_aio_finish(outer, rv);
}

static void wrapped(nng_aio *outer)
{
	nng_http_req *req = nng_aio_get_input(outer, 0);
	mw_wrap *w = nng_http_handler_get_data(nng_aio_get_input(outer, 1));
	mw_call *c = malloc(sizeof(*c));
	if (c == NULL) {
		nng_aio_finish(outer, NNG_ENOMEM);
		return;
	}
	c->start_ns = vt__mono_ns();
	c->w = w;
	c->outer = outer;
	c->method = method_label(nng_http_req_get_method(req));
	if (nng_aio_alloc(&c->inner, inner_done, c) != 0) {
		free(c);
		nng_aio_finish(outer, NNG_ENOMEM);
		return;
	}
	nng_aio_set_input(c->inner, 0, req);
	nng_aio_set_input(c->inner, 1, w->shadow);
	nng_aio_set_input(c->inner, 2, nng_aio_get_input(outer, 2));
	/* As nng's server does for a handler's aio. */
	if (!nng_aio_begin(c->inner)) {
		nng_aio_free(c->inner);
		free(c);
		nng_aio_finish(outer, NNG_ECLOSED);
		return;
	}
	w->cb(c->inner);
}

static void wrap_free(void *arg)
{
	mw_wrap *w = arg;
	nng_http_handler_free(w->shadow);
	free(w);
}

vt_err vt_middleware_handler(vt_middleware *mw, const char *method,
			     const char *path, void (*cb)(nng_aio *),
			     void *data, nng_http_handler **out)
{
	if (mw == NULL || path == NULL || cb == NULL || out == NULL ||
	    strlen(path) > VT_MAX_LABEL_VALUE_LEN)
		return VT_EINVAL;
	size_t n = strlen(path) + 1;
	mw_wrap *w = malloc(sizeof(*w) + n);
	if (w == NULL)
		return VT_ENOMEM;
	w->requests = mw->requests;
	w->duration = mw->duration;
	w->cb = cb;
	memcpy(w->route, path, n);
	int rv = nng_http_handler_alloc(&w->shadow, path, cb);
	if (rv != 0) {
		free(w);
		return vt__err_from_nng(rv);
	}
	nng_http_handler *h = NULL;
	if ((rv = nng_http_handler_set_data(w->shadow, data, NULL)) != 0 ||
	    (rv = nng_http_handler_alloc(&h, path, wrapped)) != 0 ||
	    (rv = nng_http_handler_set_method(h, method)) != 0) {
		if (h != NULL)
			nng_http_handler_free(h);
		wrap_free(w);
		return vt__err_from_nng(rv);
	}
	if ((rv = nng_http_handler_set_data(h, w, wrap_free)) != 0) {
		nng_http_handler_free(h);
		wrap_free(w);
		return vt__err_from_nng(rv);
	}
	*out = h;
	return VT_OK;
}

vt_err vt_middleware_alloc(vt_middleware **out, nng_http_server *srv,
			   vt_health *health, vt_metrics *metrics,
			   const vt_middleware_opts *opts)
{
	vt_middleware_opts o = VT_MIDDLEWARE_OPTS_DEFAULT;
	if (opts != NULL)
		o = *opts;
	if (out == NULL || metrics == NULL ||
	    (o.attach_routes && (srv == NULL || health == NULL)))
		return VT_EINVAL;
	vt_middleware *mw = calloc(1, sizeof(*mw));
	if (mw == NULL)
		return VT_ENOMEM;
	static const char *const req_labels[] = {"method", "route", "status"};
	vt_err rv = vt_metrics_counter_family(
	    metrics, REQUESTS_NAME,
	    "HTTP requests by method, route and status code.", req_labels, 3,
	    &mw->requests);
	if (rv == VT_OK)
		rv = vt_metrics_histogram_family(
		    metrics, DURATION_NAME,
		    "HTTP request duration in seconds by method and route.",
		    req_labels, 2, o.le_bounds, o.nbounds, &mw->duration);
	if (rv != VT_OK)
		goto fail;
	if (o.attach_routes) {
		rv = vt__service_init(&mw->svc, health, metrics, o.live_tag,
				      o.ready_tag);
		if (rv != VT_OK)
			goto fail;
		mw->svc_ready = true;
		if ((rv = vt__service_set_token(&mw->svc, o.token)) != VT_OK)
			goto fail;
		vt__routes_opts ro = {.degraded_code = o.degraded_http_code,
				      .max_body = o.max_request_bytes,
				      .workers = o.workers,
				      .catch_all = false};
		rv =
		    vt__routes_attach(&mw->routes, srv, &mw->svc, &ro, NULL, 0);
		if (rv != VT_OK) {
			mw->routes = NULL;
			goto fail;
		}
	}
	*out = mw;
	return VT_OK;
fail:
	vt_middleware_free(mw);
	return rv;
}

void vt_middleware_free(vt_middleware *mw)
{
	if (mw == NULL)
		return;
	vt__routes_detach(mw->routes);
	if (mw->svc_ready)
		vt__service_fini(&mw->svc);
	free(mw);
}
