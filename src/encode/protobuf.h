/*
 * protobuf.h - snapshots and RPC messages to and from protobuf bytes
 * (the .proto files of proto/vitals/v1 and proto/grpc/health/v1).
 *
 * The one place that knows the wire messages of the nng RPC: the server
 * (src/server/rpc.c) and the client (client/client.c) only move bytes
 * and call these. Encoders take a snapshot (or a filter) and return
 * malloc'd bytes; decoders check what they read and turn it back into
 * the library's own types. A decoded snapshot is one allocation, freed
 * by vt__pb_health_free, or for metrics by vt_metrics_snapshot_free (as
 * every metrics snapshot; vt__pb_metrics_free calls it), and passes the
 * encoders of vitals/encode.h as it is; a decoded histogram series has
 * no buckets (vt_series_quantile gives NaN), its summary is all there is.
 *
 * Strings are written as valid UTF-8 (invalid bytes become U+FFFD, as in
 * the JSON encoder), since proto3 string fields must be UTF-8 for other
 * languages' decoders. Output is capped at VT__PB_MAX_OUT (VT_ETOOBIG).
 *
 * gRPC status codes are mapped from and to vt_err here, in one place.
 *
 * Every function is thread-safe: it only reads its inputs.
 */
#ifndef VT_ENCODE_PROTOBUF_H
#define VT_ENCODE_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"

/* The methods of the RPC server. */
#define VT__M_GRPC_CHECK "grpc.health.v1.Health/Check"
#define VT__M_GRPC_LIST	 "grpc.health.v1.Health/List"
#define VT__M_HEALTH	 "vitals.v1.Health/Check"
#define VT__M_METRICS	 "vitals.v1.Metrics/Get"
#define VT__M_HISTORY	 "vitals.v1.Health/History"

/* gRPC status numbers used in vitals.v1.Response.code. */
enum {
	VT__GRPC_OK = 0,
	VT__GRPC_INVALID_ARGUMENT = 3,
	VT__GRPC_NOT_FOUND = 5,
	VT__GRPC_UNIMPLEMENTED = 12,
	VT__GRPC_INTERNAL = 13,
	VT__GRPC_UNAVAILABLE = 14,
	VT__GRPC_UNAUTHENTICATED = 16,
};

/* grpc.health.v1.HealthCheckResponse.ServingStatus values. */
enum {
	VT__SERVING = 1,
	VT__NOT_SERVING = 2,
};

/* Most bytes an encoder here writes. */
#define VT__PB_MAX_OUT ((size_t)64 << 20)

/* The gRPC code of a service error: EINVAL, EPROTO, ETOOBIG -> 3;
 * ENOENT -> 5; ECLOSED, EUNAVAIL, EFULL, ETIMEDOUT -> 14; OK -> 0; any
 * other -> 13. */
uint32_t vt__grpc_code(vt_err err);
/* The vt_err a client reports for a code: 0 OK, 3 EINVAL, 5 ENOENT,
 * 14 EUNAVAIL, 13 EINTERNAL, 12 and unknown codes EPROTO. */
vt_err vt__grpc_err(uint32_t code);
/* HEALTHY and DEGRADED serve, UNHEALTHY does not. */
int vt__grpc_serving(vt_status st);

/* ---- snapshots --------------------------------------------------------- */

/* vitals.v1.HealthCheckResponse of s. VT_EINVAL for a malformed snapshot
 * (status out of range, NULL name or NULL array with a count). */
vt_err vt__pb_health_encode(const vt_health_snapshot *s, uint8_t **out,
			    size_t *len);
/* vitals.v1.MetricsGetResponse of s. VT_EINVAL for a malformed snapshot
 * (kind out of range, NULL name, NULL array with a count, more than
 * VT_MAX_LE_BOUNDS le bounds). */
vt_err vt__pb_metrics_encode(const vt_metrics_snapshot *s, uint8_t **out,
			     size_t *len);

/* Decodes a vitals.v1.HealthCheckResponse into one allocation. VT_EPROTO
 * for bytes that are not one or an out-of-range status; VT_ENOMEM. */
vt_err vt__pb_health_decode(const uint8_t *data, size_t len,
			    vt_health_snapshot **out);
/* Decodes a vitals.v1.MetricsGetResponse into one allocation. VT_EPROTO
 * also for an out-of-range kind, a histogram series without summary, or
 * le bounds / cumulative counts that do not fit together. */
vt_err vt__pb_metrics_decode(const uint8_t *data, size_t len,
			     vt_metrics_snapshot **out);
/* Free decoded snapshots. Accept NULL. */
void vt__pb_health_free(vt_health_snapshot *s);
void vt__pb_metrics_free(vt_metrics_snapshot *s);

/* ---- requests ---------------------------------------------------------- */

/* A decoded vitals.v1.HealthCheckRequest: filter fields point into the
 * decoded message (empty strings read as NULL); release with _fini. */
typedef struct vt__pb_health_req {
	vt_health_filter filter;
	vt_run_mode mode;
	void *msg; /* private */
} vt__pb_health_req;

/* filter may be NULL (all checks). */
vt_err vt__pb_health_req_encode(const vt_health_filter *filter,
				vt_run_mode mode, uint8_t **out, size_t *len);
/* VT_EPROTO for bytes that are not a HealthCheckRequest. On error *out
 * needs no _fini. */
vt_err vt__pb_health_req_decode(const uint8_t *data, size_t len,
				vt__pb_health_req *out);
void vt__pb_health_req_fini(vt__pb_health_req *r);

/* A decoded vitals.v1.MetricsGetRequest, as vt__pb_health_req. */
typedef struct vt__pb_metrics_req {
	vt_metrics_filter filter;
	void *msg;	  /* private */
	vt_label *labels; /* private */
} vt__pb_metrics_req;

vt_err vt__pb_metrics_req_encode(const vt_metrics_filter *filter, uint8_t **out,
				 size_t *len);
vt_err vt__pb_metrics_req_decode(const uint8_t *data, size_t len,
				 vt__pb_metrics_req *out);
void vt__pb_metrics_req_fini(vt__pb_metrics_req *r);

/* ---- vitals.v1.Health/History ------------------------------------------ */

/* A decoded vitals.v1.HistoryRequest: name points into the decoded
 * message (NULL when empty); release with _fini. */
typedef struct vt__pb_history_req {
	const char *name;
	double since;
	uint32_t limit; /* 0 = the default */
	void *msg;	/* private */
} vt__pb_history_req;

vt_err vt__pb_history_req_encode(const char *name, double since, uint32_t limit,
				 uint8_t **out, size_t *len);
/* VT_EPROTO for bytes that are not a HistoryRequest. */
vt_err vt__pb_history_req_decode(const uint8_t *data, size_t len,
				 vt__pb_history_req *out);
void vt__pb_history_req_fini(vt__pb_history_req *r);

/* HistoryResponse{name, results}: rs[n] newest first. */
vt_err vt__pb_history_encode(const char *name, const vt_history_result *rs,
			     size_t n, uint8_t **out, size_t *len);
/* *out is one allocation (results and their error strings), freed with
 * free(); *n may be 0. VT_EPROTO for bytes that are not a
 * HistoryResponse or hold a status out of range. */
vt_err vt__pb_history_decode(const uint8_t *data, size_t len,
			     vt_history_result **out, size_t *n);

/* ---- grpc.health.v1 ---------------------------------------------------- */

/* HealthCheckRequest{service}; service NULL means "". */
vt_err vt__pb_grpc_check_req_encode(const char *service, uint8_t **out,
				    size_t *len);
/* *service is a malloc'd copy ("" for the whole). VT_EPROTO. */
vt_err vt__pb_grpc_check_req_decode(const uint8_t *data, size_t len,
				    char **service);
/* HealthCheckResponse{status = serving}. */
vt_err vt__pb_grpc_check_resp_encode(int serving, uint8_t **out, size_t *len);
/* *serving is the status number as sent (0..3). VT_EPROTO. */
vt_err vt__pb_grpc_check_resp_decode(const uint8_t *data, size_t len,
				     int *serving);
/* HealthListResponse: "" -> the overall status of s, and each component
 * by name -> its own. */
vt_err vt__pb_grpc_list_resp_encode(const vt_health_snapshot *s, uint8_t **out,
				    size_t *len);
/* HealthListRequest has no fields: VT_EPROTO only for bytes that are not
 * a message at all. */
vt_err vt__pb_grpc_list_req_check(const uint8_t *data, size_t len);

/* ---- the envelope (vitals.v1.Request / Response) ---------------------- */

/* Request{method, payload, token}; token NULL or "" = none. */
vt_err vt__pb_request_encode(const char *method, const uint8_t *payload,
			     size_t plen, const char *token, uint8_t **out,
			     size_t *len);

/* A decoded Request; method and payload point into the decoded message;
 * release with _fini. */
typedef struct vt__pb_request {
	const char *method;
	const uint8_t *payload;
	size_t plen;
	const char *token; /* "" when none */
	void *msg;	   /* private */
} vt__pb_request;

/* VT_EPROTO for bytes that are not a Request. */
vt_err vt__pb_request_decode(const uint8_t *data, size_t len,
			     vt__pb_request *out);
void vt__pb_request_fini(vt__pb_request *r);

/* A Response to encode, or a decoded one (then the pointers are into the
 * decoded message, released with _fini). */
typedef struct vt__pb_response {
	uint32_t code;
	const char *message; /* NULL = "" */
	const uint8_t *payload;
	size_t plen;
	void *msg; /* private; NULL when built by hand */
} vt__pb_response;

/* Packed size of r, and packing into dst (of at least that size): the
 * server packs straight into its reply message. The message text is
 * written as valid UTF-8, cut at 1024 bytes. VT_ENOMEM. */
vt_err vt__pb_response_pack(const vt__pb_response *r, uint8_t *dst, size_t cap,
			    size_t *len);
size_t vt__pb_response_size(const vt__pb_response *r);
vt_err vt__pb_response_decode(const uint8_t *data, size_t len,
			      vt__pb_response *out);
void vt__pb_response_fini(vt__pb_response *r);

#endif
