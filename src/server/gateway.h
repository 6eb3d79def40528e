/*
 * gateway.h - the HTTP side of the service core: vitals' routes as a set
 * of nng HTTP handlers, and the stand-alone gateway that serves them.
 *
 * A vt__routes is the handler set (/health, /health/NAME, /livez,
 * /readyz, /metrics, optionally a catch-all for JSON 404s). It can be
 * attached to any nng_http_server: the gateway attaches it to a server
 * it holds on its own address; the public middleware attaches it to a
 * program's server. URLs, codes and formats: vitals/server.h.
 */
#ifndef VT_SERVER_GATEWAY_H
#define VT_SERVER_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "server/service.h"
#include "vitals/err.h"

typedef struct vt__routes vt__routes;
typedef struct vt__gateway vt__gateway;

typedef struct vt__routes_opts {
	int degraded_code; /* status for DEGRADED; 0 = 200 */
	size_t max_body;   /* request body cap; 0 = 1 MiB */
	unsigned workers;  /* threads answering fresh /health; 0 = 8 */
	bool catch_all;	   /* also answer every other path with a JSON 404 */
} vt__routes_opts;

/* Adds vitals' handlers to srv (started or not). svc must outlive the
 * routes. On error nothing stays attached and err (may be NULL) says
 * why. Thread-safe. */
vt_err vt__routes_attach(vt__routes **out, nng_http_server *srv,
			 vt__service *svc, const vt__routes_opts *opts,
			 char *err, size_t errlen);

/* Removes the handlers from their server, waits until every request
 * they began has been answered (a fresh /health may take up to the
 * largest check timeout), and frees. Call before the server is
 * released. Accepts NULL. Not from an nng callback. */
void vt__routes_detach(vt__routes *r);

/* Holds an nng HTTP server on addr ("127.0.0.1:8080", "[::1]:8080" or
 * "http://..."), attaches the routes with a JSON catch-all and JSON
 * error pages, and starts it. On error nothing is left running and err
 * (may be NULL) reads "<addr>: <reason>". */
vt_err vt__gateway_start(vt__gateway **out, vt__service *svc, const char *addr,
			 int degraded_code, size_t max_body, char *err,
			 size_t errlen);

/* Closes the listener and every connection (requests still running are
 * answered into closed connections). Idempotent. Owner thread only. */
void vt__gateway_stop(vt__gateway *g);

/* Stops if needed, waits for running requests and frees. Accepts NULL.
 * Owner thread only. */
void vt__gateway_free(vt__gateway *g);

#endif
