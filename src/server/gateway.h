/*
 * gateway.h - the HTTP side of the service core: vitals' routes as a set
 * of nng HTTP handlers, and the stand-alone gateway that serves them.
 *
 * A vt__routes is the handler set (/health, /health/NAME, /livez,
 * /readyz, /metrics, optionally a catch-all for JSON 404s). It can be
 * attached to any nng_http_server: the public middleware attaches it to
 * a program's server. The stand-alone gateway serves the same answers
 * (vt__gw_answer) over its own capped transport (httpd.h) on its own
 * address. URLs, codes and formats: vitals/server.h.
 */
#ifndef VT_SERVER_GATEWAY_H
#define VT_SERVER_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "server/answer_cache.h"
#include "server/httpd.h"
#include "server/request.h"
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

/* One request as the handlers read it; NULL for a header not sent. */
typedef struct vt__gw_request {
	vt__gw_route route;
	const char *method;  /* "GET", "HEAD", ...; never NULL */
	const char *uri;     /* as sent: path[?query][#fragment], absolute
				form too; never NULL */
	const char *version; /* "HTTP/1.1", ...; NULL = unknown */
	const char *accept;
	const char *connection;
	const char *content_length;
	const char *transfer_encoding;
	const char *authorization; /* "Bearer <token>" */
} vt__gw_request;

/* The answer to one request, and how to send it. */
typedef struct vt__gw_response {
	uint16_t status;
	const char *ctype; /* static */
	char *body;	   /* len bytes; malloc'd when owned, else static */
	size_t len;
	bool owned;
	const char *allow;    /* static Allow value (a 405), or NULL */
	bool close;	      /* add "Connection: close" and close after it */
	bool head;	      /* HEAD: no body is sent, its Content-Length is */
	const char *www_auth; /* static WWW-Authenticate value, or NULL */
} vt__gw_response;

/* The gateway's answer cache slots (answer_cache.h): 3 routes (/health,
 * /livez, /readyz) x 2 formats (JSON, IETF) x 2 accesses (full,
 * statuses only). */
#define VT__GW_CACHE_SLOTS 12
static inline unsigned vt__gw_cache_slot(unsigned route, bool ietf,
					 bool withhold)
{
	return route * 4 + (ietf ? 2u : 0u) + (withhold ? 1u : 0u);
}

/* Answers rq without a connection, as the handlers do each request
 * (reusing encoded health answers from cache, NULL = none):
 * status, content type and body by the rules of vitals/server.h, with
 * degraded_code (200..599) for a DEGRADED /health and a request body
 * cap of max_body bytes. A request that gets past the header checks is
 * counted into svc (vt__service_enter; 503 once shutdown began) unless
 * *entered already says it is; *entered is then set, and the caller
 * calls vt__service_leave once the answer is sent. With nowait, a
 * request whose answer may wait on a check run (a fresh /health,
 * /health/NAME, /livez or /readyz) is not answered: false and *out
 * untouched, to be asked again where waiting is fine (the routes'
 * pool). Otherwise true with *out set; release it with
 * vt__gw_response_fini. Thread-safe; without nowait it may block up to
 * the largest timeout of the selected checks. */
bool vt__gw_answer(vt__service *svc, vt__acache *cache, int degraded_code,
		   size_t max_body, const vt__gw_request *rq, bool nowait,
		   bool *entered, vt__gw_response *out);

/* Frees the body of res if it owns one. Accepts NULL. */
void vt__gw_response_fini(vt__gw_response *res);

/* Serves the routes (with a JSON 404 for every other path) on addr
 * ("127.0.0.1:8080", "[::1]:8080", "http://..." or "https://...") over
 * the capped transport of httpd.h, with limits (NULL = its defaults;
 * max_body is taken from the argument). With limits->tls, an addr
 * without a scheme or with https:// is served over HTTPS, one with
 * http:// plain; https:// without limits->tls is an error. On error nothing is
 * left running and err (may be NULL) reads "<addr>: <reason>". */
vt_err vt__gateway_start(vt__gateway **out, vt__service *svc, const char *addr,
			 int degraded_code, size_t max_body,
			 const vt__httpd_opts *limits, char *err,
			 size_t errlen);

/* Closes the listener and every connection (requests still running are
 * answered into closed connections). Idempotent. Owner thread only. */
void vt__gateway_stop(vt__gateway *g);

/* Stops if needed, waits for running requests and frees. Accepts NULL.
 * Owner thread only. */
void vt__gateway_free(vt__gateway *g);

#endif
