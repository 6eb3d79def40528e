/*
 * vitals/server.h - serving health and metrics: the HTTP gateway, the
 * nng req/rep RPC server and the nng pub socket for status changes.
 *
 * Both transports call one service core (src/server/service.c) and
 * differ only in encoding: the gateway answers JSON and Prometheus text,
 * the RPC server protobuf in the vitals.v1 envelope. Every address is
 * loopback unless configured otherwise.
 *
 * HTTP (nng's HTTP server):
 *   GET /health[?cache=true&tag=T&exclude=A,B]  200 healthy/degraded
 *                                (degraded_http_code), 503 unhealthy;
 *                                Accept: application/health+json gets
 *                                the IETF health-check format
 *   GET /health/NAME             one component, 404 if unknown
 *   GET /livez, /readyz          checks tagged live_tag / ready_tag
 *   GET /metrics[?format=prometheus|json&name=N&prefix=P]
 *                                JSON by default; Prometheus text 0.0.4
 *                                when Accept names text/plain or
 *                                openmetrics, or format=prometheus
 *   errors: {"error":"..."} with 400, 404, 405, 413
 *
 * RPC methods: grpc.health.v1.Health/Check, grpc.health.v1.Health/List,
 * vitals.v1.Health/Check, vitals.v1.Metrics/Get. Unknown method (12),
 * malformed payload (3), oversized message (3) get an error Response and
 * the server goes on.
 *
 * Pub: each component status change is published as the text
 *   "<check> <old> <new>"  e.g. "redis healthy unhealthy"
 * and the overall readiness change at shutdown as "* <old> unhealthy".
 */
#ifndef VITALS_SERVER_H
#define VITALS_SERVER_H

#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_server vt_server;

typedef struct vt_server_opts {
	vt_health *health;     /* required; outlives the server */
	vt_metrics *metrics;   /* required; outlives the server */
	const char *http_addr; /* "127.0.0.1:8080"; NULL = no gateway */
	const char
	    *rpc_url; /* "tcp://127.0.0.1:5555", "ipc://..."; NULL = none */
	const char *pub_url;	  /* "tcp://127.0.0.1:5556"; NULL = none */
	int degraded_http_code;	  /* 0 = 200 */
	const char *live_tag;	  /* NULL = "live" */
	const char *ready_tag;	  /* NULL = "ready" */
	unsigned rpc_contexts;	  /* requests in flight; 0 = 16 */
	size_t max_request_bytes; /* RPC message / HTTP body cap; 0 = 1 MiB */
} vt_server_opts;

/* Starts the configured listeners. On error nothing is left running and
 * errbuf (may be NULL) says what failed, e.g. "http 127.0.0.1:80: address
 * in use". */
vt_err vt_server_start(vt_server **out, const vt_server_opts *opts,
		       char *errbuf, size_t errlen);

/* Graceful shutdown: readiness turns UNHEALTHY (and is published), new
 * requests are refused, requests in flight finish. Thread-safe; returns
 * when the last in-flight request has been answered. */
void vt_server_shutdown(vt_server *s);

/* Shuts down if needed and frees. Accepts NULL. */
void vt_server_free(vt_server *s);

#ifdef __cplusplus
}
#endif
#endif
