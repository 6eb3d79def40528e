/*
 * request.h - what one HTTP request to vitals' routes asks for: its path
 * and query cut apart and percent-decoded, checked against the route nng
 * matched, and its answer format chosen by ?format= or by the Accept
 * header's q-values. No I/O and no allocation: the parse works in place
 * on the caller's copy of the request URI, and every refusal is a status
 * with a static JSON body. URLs, parameters and formats: vitals/server.h.
 *
 * The gateway (gateway.c) owns transport and lifetimes and calls this
 * module once per request; the fuzz target drives it the same way.
 */
#ifndef VT_SERVER_REQUEST_H
#define VT_SERVER_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "server/service.h"
#include "vitals/metrics.h"

/* The routes, by the handler nng matched a request to. */
typedef enum vt__gw_route {
	VT__GW_HEALTH,	/* /health and /health/... */
	VT__GW_LIVEZ,	/* /livez */
	VT__GW_READYZ,	/* /readyz */
	VT__GW_METRICS, /* /metrics */
	VT__GW_OTHER,	/* the catch-all: any other path */
	VT__GW_NROUTES
} vt__gw_route;

/* The path each route's handler is registered at ("/" for OTHER). */
extern const char *const vt__gw_route_paths[VT__GW_NROUTES];

/* The route of a request URI (path[?query][#fragment], absolute form
 * too), matched as nng 1.5's handlers match (so the middleware and the
 * gateway route alike): the path %XX-decoded, then a route's own path,
 * that path with a trailing '/', or, for /health, a prefix ending at a
 * '/' (vt__req_parse then refuses what the route does not serve);
 * VT__GW_OTHER for any other path. */
vt__gw_route vt__req_route(const char *uri);

/* The body format of an answer. */
typedef enum vt__req_fmt {
	VT__REQ_JSON,	     /* application/json */
	VT__REQ_IETF,	     /* application/health+json (health routes) */
	VT__REQ_PROM,	     /* Prometheus text (/metrics) */
	VT__REQ_OPENMETRICS, /* OpenMetrics text 1.0.0 (/metrics) */
	VT__REQ_PROTOBUF,    /* delimited MetricFamily messages (/metrics) */
} vt__req_fmt;

/* The most names one ?exclude= list may hold. */
#define VT__REQ_MAX_EXCLUDE 64

/* A parsed request. q.filter.exclude points into exclude[], and every
 * string points into the URI buffer that was parsed: keep both in place
 * while the request is served. */
typedef struct vt__req {
	vt__gw_route route;
	vt__req_fmt fmt;
	bool one;	      /* /health/NAME: q.filter.name is NAME */
	vt__health_query q;   /* mode, name, tag, exclude; withhold unset */
	vt_metrics_filter mf; /* /metrics: ?name= and ?prefix= */
	const char *exclude[VT__REQ_MAX_EXCLUDE];
} vt__req;

/* Why a request is refused: 400 or 404 and a static JSON body. */
typedef struct vt__req_refusal {
	uint16_t status;
	const char *body;
} vt__req_refusal;

/* Parses uri (path[?query][#fragment], absolute form too), cutting and
 * decoding it in place, for the route nng matched it to. /livez and
 * /readyz select live_tag and ready_tag. Accept (NULL = not sent)
 * chooses the format when no ?format= does. true with *out filled; false
 * with *why set when the request is refused (*out then half-filled). */
bool vt__req_parse(vt__req *out, vt__gw_route route, char *uri,
		   const char *accept, const char *live_tag,
		   const char *ready_tag, vt__req_refusal *why);

/* Percent-decodes s in place. false for a malformed escape or %00 (s is
 * then partly decoded). '+' stays '+' (RFC 3986; no value here can hold
 * a space). */
bool vt__req_pct_decode(char *s);

/* The highest q (0..1) of the Accept entries naming type exactly
 * (case-insensitive); -1 when none does. A q that does not parse
 * counts as 1. */
double vt__req_accept_q(const char *accept, const char *type);

/* The format Accept (NULL = not sent) chooses for route. /metrics: the
 * highest q among the entries naming application/vnd.google.protobuf
 * with proto=io.prometheus.client.MetricFamily and encoding=delimited
 * (protobuf), application/openmetrics-text without a version or
 * version=1.0.0 (OpenMetrics), text/plain without a version or 0.0.4
 * (Prometheus text) and application/json; JSON on a tie with it or when
 * none is named (wildcards choose nothing); protobuf, then OpenMetrics,
 * then text on a tie among them. Prometheus 2.42 thus gets OpenMetrics,
 * and protobuf with --enable-feature=native-histograms. Health routes: the IETF
 * format when application/health+json is named at least as high as JSON and the
 * wildcards (any type, any application type). JSON otherwise. */
vt__req_fmt vt__req_negotiate(vt__gw_route route, const char *accept);

#endif
