/*
 * vitals/client.h - libvitals-client: a small C API for the RPC server
 * (nng req over tcp:// or ipc://) and its pub socket.
 *
 * Every call is bounded by the timeout given at connect. Results are the
 * library's own snapshot types (vitals/health.h, vitals/metrics.h),
 * decoded from protobuf into one allocation each; free them with
 * vt_client_health_free / vt_client_metrics_free (the encoders of
 * vitals/encode.h take them as they are).
 */
#ifndef VITALS_CLIENT_H
#define VITALS_CLIENT_H

#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_client vt_client;

/* Connects (dials) to url with a timeout for each later call. */
vt_err vt_client_connect(vt_client **out, const char *url, int timeout_ms);
void vt_client_close(vt_client *c);

/* Sends token (the server's bearer token) with every later call; NULL
 * or "" sends none. Without it, a server that has a token answers
 * statuses only (errors read "reason withheld") and refuses metrics with
 * VT_EAUTH. Not concurrently with calls. */
vt_err vt_client_set_token(vt_client *c, const char *token);

/* The server's error text of the last failed call ("" if none). */
const char *vt_client_last_error(const vt_client *c);

/* vitals.v1.Health/Check. VT_ENOENT for an unknown name filter. */
vt_err vt_client_health(vt_client *c, const vt_health_filter *filter,
			vt_run_mode mode, vt_health_snapshot **out);

/* vitals.v1.Metrics/Get. */
vt_err vt_client_metrics(vt_client *c, const vt_metrics_filter *filter,
			 vt_metrics_snapshot **out);

/* vitals.v1.Health/History: the recorded results of check name, newest
 * first, time >= since (0 = any), at most limit (0 = 100; the server
 * caps it at VT_HISTORY_LIMIT_MAX). *out is one allocation for
 * vt_client_history_free; *n may be 0. VT_ENOENT for an unknown name or
 * a server that keeps no history, VT_EAUTH without the server's token. */
vt_err vt_client_history(vt_client *c, const char *name, double since,
			 unsigned limit, vt_history_result **out, size_t *n);
void vt_client_history_free(vt_history_result *r);

void vt_client_health_free(vt_health_snapshot *s);
void vt_client_metrics_free(vt_metrics_snapshot *s);

/* grpc.health.v1.Health/Check: *serving = 1 SERVING, 2 NOT_SERVING. */
vt_err vt_client_grpc_check(vt_client *c, const char *service, int *serving);

/* Watches status changes on the pub url: calls fn for each message
 * ("<check> <old> <new>") until fn returns non-zero or timeout_ms passes
 * without a message (timeout_ms < 0: no timeout). */
typedef int (*vt_client_watch_fn)(const char *msg, void *arg);
vt_err vt_client_watch(const char *pub_url, int timeout_ms,
		       vt_client_watch_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
