/*
 * vitals/middleware.h - vitals inside a program's own nng HTTP server.
 *
 * For a program that already runs an nng_http_server:
 *
 *  1. vt_middleware_alloc attaches vitals' routes to that server, the
 *     same handlers the stand-alone gateway serves (vitals/server.h):
 *     GET /health[?cache=..&tag=..&exclude=..&format=..], /health/NAME,
 *     /livez, /readyz, /metrics[?format=..&name=..&prefix=..].
 *
 *  2. vt_middleware_handler makes a handler that calls the program's
 *     callback and records, per request, in the vt_metrics given:
 *       http_requests_total{method,route,status}         counter
 *       http_request_duration_seconds{method,route}      histogram
 *     route is the path the handler was registered with (not the
 *     request's URI, so label values stay few); method is the request's
 *     (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE, else
 *     OTHER); status is the response's code, "none" when the callback
 *     answered with no response (it wrote one itself or took the
 *     connection), "error" when it finished with an error.
 *
 *     The callback is called as nng calls handlers (nng_http_handler_alloc):
 *     input 0 the request, 1 a handler whose nng_http_handler_get_data
 *     returns the data given here, 2 the connection; it answers with
 *     nng_aio_set_output(aio, 0, res) and nng_aio_finish(aio, 0), from
 *     any thread.
 *
 *     nng_http_server srv; ...
 *     vt_middleware *mw;
 *     vt_middleware_alloc(&mw, srv, health, metrics, NULL);
 *     nng_http_handler *h;
 *     vt_middleware_handler(mw, "GET", "/orders", orders_cb, app, &h);
 *     nng_http_server_add_handler(srv, h);
 *     nng_http_server_start(srv);
 *     ...
 *     nng_http_server_stop(srv);
 *     vt_middleware_free(mw);
 *     nng_http_server_release(srv);
 */
#ifndef VITALS_MIDDLEWARE_H
#define VITALS_MIDDLEWARE_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_middleware vt_middleware;

typedef struct vt_middleware_opts {
	bool attach_routes;	  /* add vitals' routes to the server */
	int degraded_http_code;	  /* 0 = 200 */
	const char *live_tag;	  /* NULL = "live" */
	const char *ready_tag;	  /* NULL = "ready" */
	size_t max_request_bytes; /* body cap of vitals' routes; 0 = 1 MiB */
	unsigned workers;	  /* threads for fresh /health; 0 = 8 */
	/* Bearer token of vitals' routes, as vt_server_opts.token (VT_EINVAL
	 * when malformed); NULL = none. */
	const char *token;
	/* Bounds of http_request_duration_seconds; NULL (nbounds 0) =
	 * Prometheus' defaults. */
	const double *le_bounds;
	size_t nbounds;
} vt_middleware_opts;

#define VT_MIDDLEWARE_OPTS_DEFAULT                                             \
	{                                                                      \
		.attach_routes = true, .degraded_http_code = 0,                \
		.live_tag = NULL, .ready_tag = NULL, .max_request_bytes = 0,   \
		.workers = 0, .token = NULL, .le_bounds = NULL, .nbounds = 0,  \
	}

/* Registers the two request metrics in metrics and, with attach_routes
 * (opts NULL = VT_MIDDLEWARE_OPTS_DEFAULT), adds vitals' routes to srv,
 * started or not. health and metrics must outlive the middleware and
 * every handler it made. VT_EEXIST when srv already has one of the
 * routes; VT_EKIND/VT_EEXIST when a metric name is taken otherwise. On
 * error nothing is attached. Thread-safe. */
vt_err vt_middleware_alloc(vt_middleware **out, nng_http_server *srv,
			   vt_health *health, vt_metrics *metrics,
			   const vt_middleware_opts *opts);

/* Makes a handler for path and method (NULL = every method, as
 * nng_http_handler_set_method) that calls cb with data as above and
 * records the request metrics. It is not added yet: configure it further
 * if needed (nng_http_handler_set_tree, _collect_body, _set_host) and add
 * it with nng_http_server_add_handler, which owns it from then on, as
 * for any nng handler. The handler may outlive the middleware (it uses
 * only the vt_metrics). Thread-safe. */
vt_err vt_middleware_handler(vt_middleware *mw, const char *method,
			     const char *path, void (*cb)(nng_aio *),
			     void *data, nng_http_handler **out);

/* Removes vitals' routes from the server, waits for the requests they
 * are answering (a fresh /health may take up to the largest check
 * timeout) and frees. Call it before the server is released; handlers
 * made by vt_middleware_handler stay usable. Accepts NULL. Not from an
 * nng callback. */
void vt_middleware_free(vt_middleware *mw);

#ifdef __cplusplus
}
#endif
#endif
