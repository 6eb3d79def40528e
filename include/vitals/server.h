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
 *   GET /metrics[?format=json|prometheus|openmetrics|protobuf
 *                &name=N&prefix=P]
 *                                JSON by default; by Accept's q-values
 *                                Prometheus text 0.0.4, OpenMetrics
 *                                1.0.0 or the protobuf exposition
 *                                (delimited MetricFamily, native
 *                                histograms), as Prometheus asks
 *   POST /health/NAME/beat       a heartbeat check's beat: 200, 404
 *                                unknown, 400 not a heartbeat; needs
 *                                the token when one is set (401)
 *   errors: {"error":"..."} with 400, 404, 405, 413
 *
 * RPC methods: grpc.health.v1.Health/Check, grpc.health.v1.Health/List,
 * vitals.v1.Health/Check, vitals.v1.Metrics/Get, and, with the token
 * when one is set, vitals.v1.Health/Beat, vitals.v1.Admin/Silence and
 * vitals.v1.Admin/Reload (proto/vitals/v1/admin.proto; Reload answers
 * 12 unless vt_server_opts.reload is set). Unknown method (12),
 * malformed payload (3), oversized message (3) get an error Response and
 * the server goes on.
 *
 * Access: with a token set, a request that presents it (HTTP
 * "Authorization: Bearer <token>", the RPC envelope's token field) gets
 * everything; one without gets statuses only - /health and
 * vitals.v1.Health/Check with each component's details dropped and its
 * error, if any, replaced by "reason withheld"; grpc.health.v1 as usual;
 * /metrics 401 and Metrics/Get 16 UNAUTHENTICATED - so probes need no
 * secret; a wrong token gets 401 (WWW-Authenticate: Bearer
 * error="invalid_token") or 16 on every route and method. Without a
 * token every caller gets everything. The pub socket carries statuses
 * only, and needs none.
 *
 * Limits: RPC messages and HTTP bodies over max_request_bytes get an
 * error (3; 413); HTTP request heads over 8 KiB get 431, heads not
 * complete within http_header_timeout_ms of their first byte 408;
 * max_connections caps the RPC and pub peers and the HTTP connections,
 * http_max_per_address the HTTP connections of one client address;
 * an HTTP connection idle http_idle_timeout_ms between requests is
 * closed; fresh /health requests beyond 1024 queued get 503.
 *
 * Pub: each component status change is published as the text
 *   "<check> <old> <new>"  e.g. "redis healthy unhealthy"
 * and the overall readiness change at shutdown as "* <old> unhealthy".
 */
#ifndef VITALS_SERVER_H
#define VITALS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"
#include "vitals/reload.h"

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
	/* Bearer token (RFC 6750 b64token, 1..1024 characters); NULL or
	 * "" = none. With one, callers that do not present it get statuses
	 * only (see the top); a wrong one is refused. */
	const char *token;
	/* Clients connected at once to the RPC socket, subscribers to the
	 * pub socket and HTTP connections, each; one past it is
	 * disconnected at once (HTTP: it replaces the connection idle the
	 * longest, if any). 0 = 1024. */
	unsigned max_connections;
	unsigned http_max_per_address;	 /* 0 = 64 */
	unsigned http_header_timeout_ms; /* 0 = 10000 */
	unsigned http_idle_timeout_ms;	 /* 0 = 60000 */
	/* Results kept (vitals/history.h); NULL = none. With one, answers
	 * show only committed results and carry "uptime", and the gateway
	 * serves /health/NAME/history, the status page (/, /status) and
	 * badges (/badge/NAME.svg, /badge/NAME/uptime/24h.svg). Outlives
	 * the server. */
	vt_history *history;
	/* true: /metrics and Metrics/Get carry the process' own metrics
	 * (process_cpu_seconds_total, process_resident_memory_bytes, ...;
	 * vt_metrics_process_update), read from /proc at each request. */
	bool process_metrics;
	/* TLS: with tls_cert and tls_key (PEM files), the RPC and pub
	 * listen on tls+tcp:// (a tcp:// url is served as tls+tcp://) and
	 * the gateway serves HTTPS on http_addr (an explicit "http://HOST:
	 * PORT" stays plain; "https://HOST:PORT" without them is an error);
	 * with tls_ca too, RPC clients must present a certificate signed by
	 * it (mutual TLS) - HTTPS clients are never asked for one. NULL =
	 * plain. */
	const char *tls_cert, *tls_key, *tls_ca;
	/* Answers vitals.v1.Admin/Reload (token required when one is
	 * set) by applying the program's configuration again
	 * (vitals/reload.h); NULL: the method answers 12 UNIMPLEMENTED,
	 * as a program without a configuration file has nothing to read
	 * again. reload_arg is passed to it. */
	vt_reload_fn reload;
	void *reload_arg;
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
