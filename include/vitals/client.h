/*
 * vitals/client.h - libvitals-client: a small C API for the RPC server
 * (nng req over tcp:// or ipc://) and its pub socket.
 *
 * Results are the library's own snapshot types (vitals/health.h,
 * vitals/metrics.h), decoded from protobuf into one allocation each;
 * free them with the types' own destructors, vt_health_snapshot_free and
 * vt_metrics_snapshot_free, like snapshots the library takes itself (the
 * encoders of vitals/encode.h take them as they are).
 *
 * Threads: every call on a client is thread-safe, and threads may share
 * one client (each call runs on an nng context of its own).
 * vt_client_set_token and vt_client_close must not overlap other calls
 * on the same client. vt_client_last_error may be called from any thread
 * (see there).
 *
 * Timeouts: vt_client_connect dials at once, so a refused connection or
 * a missing ipc path is VT_EUNAVAIL and a bad URL VT_EINVAL there (the
 * OS connect timeout bounds the dial of an unreachable host, not
 * timeout_ms). Every later call is bounded by timeout_ms as a whole
 * (one deadline for the request and its answer): no answer in time is
 * VT_ETIMEDOUT. timeout_ms < 0 means no timeout; 0 is VT_EINVAL.
 *
 * Errors: a Response with a non-zero gRPC code becomes a vt_err, its
 * message the last error: 3 INVALID_ARGUMENT -> VT_EINVAL, 5 NOT_FOUND ->
 * VT_ENOENT, 13 INTERNAL -> VT_EINTERNAL, 14 UNAVAILABLE -> VT_EUNAVAIL
 * (also a server shutting down), 16 UNAUTHENTICATED -> VT_EAUTH, 12
 * UNIMPLEMENTED and any other code -> VT_EPROTO. An answer that does not
 * decode is VT_EPROTO; transport failures are mapped from nng (refused
 * or reset: VT_EUNAVAIL; too large: VT_ETOOBIG; out of memory:
 * VT_ENOMEM).
 */
#ifndef VITALS_CLIENT_H
#define VITALS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"
#include "vitals/reload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_client vt_client;

/* Connects (dials) to url with a timeout for each later call (see
 * above). *out is written only on success; vt_client_close accepts
 * NULL. */
vt_err vt_client_connect(vt_client **out, const char *url, int timeout_ms);

/* TLS for a tls+tcp:// url: PEM files. ca (required) signs the server's
 * certificate; cert and key (both or neither) are the client's own, for
 * servers that require one (mutual TLS); server_name, if not NULL, must
 * match the server's certificate. */
typedef struct vt_client_tls {
	const char *ca;
	const char *cert, *key;
	const char *server_name;
} vt_client_tls;

/* As vt_client_connect, over TLS with tls (NULL or tls->ca NULL: plain).
 * VT_EINVAL also for unusable TLS files. */
vt_err vt_client_connect_tls(vt_client **out, const char *url, int timeout_ms,
			     const vt_client_tls *tls);
void vt_client_close(vt_client *c);

/* Sends token (the server's bearer token) with every later call; NULL
 * or "" sends none. Without it, a server that has a token answers
 * statuses only (errors read "reason withheld") and refuses metrics with
 * VT_EAUTH. Not concurrently with calls. */
vt_err vt_client_set_token(vt_client *c, const char *token);

/* The text of the last failed call on c, from any thread ("" if none):
 * the server's message for an error Response, else what failed locally
 * ("no answer from URL within N ms", nng's error, a malformed answer).
 * Thread-safe: the text is copied under c's lock into a buffer of the
 * calling thread, valid until that thread calls vt_client_last_error
 * again; concurrent failures on a shared client overwrite each other, so
 * threads sharing one should rely on the returned vt_err codes. */
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

/* Kept for existing callers: the same as vt_health_snapshot_free and
 * vt_metrics_snapshot_free. */
void vt_client_health_free(vt_health_snapshot *s);
void vt_client_metrics_free(vt_metrics_snapshot *s);

/* grpc.health.v1.Health/Check: *serving = 1 SERVING, 2 NOT_SERVING. */
vt_err vt_client_grpc_check(vt_client *c, const char *service, int *serving);

/* vitals.v1.Health/Beat: a beat of heartbeat check name. VT_ENOENT for
 * an unknown check, VT_EINVAL for one that is no heartbeat, VT_EAUTH
 * without the server's token. */
vt_err vt_client_beat(vt_client *c, const char *name);

/* vitals.v1.Admin/Silence: silences check name (NULL = every check) for
 * duration_ms; 0 ends the silence. VT_ENOENT, VT_EAUTH as above. */
vt_err vt_client_silence(vt_client *c, const char *name, int64_t duration_ms);

/* vitals.v1.Admin/Reload: the server applies its configuration again;
 * *out gets what changed (vt_reload_report_fini frees it; written only
 * on success). VT_EINVAL for a refused config (vt_client_last_error has
 * the reason; the running config stays), VT_EAUTH without the server's
 * token, VT_EPROTO (12 UNIMPLEMENTED) for a server with nothing to
 * reload. */
vt_err vt_client_reload(vt_client *c, vt_reload_report *out);

/* Watches status changes on the pub url: calls fn for each message
 * ("<check> <old> <new>", cut at 4 KiB) until fn returns non-zero
 * (VT_OK) or timeout_ms passes without a message (VT_ETIMEDOUT;
 * timeout_ms < 0: no timeout). Dials at once: VT_EUNAVAIL, VT_EINVAL as
 * vt_client_connect. Thread-safe; fn runs on the calling thread. */
typedef int (*vt_client_watch_fn)(const char *msg, void *arg);
vt_err vt_client_watch(const char *pub_url, int timeout_ms,
		       vt_client_watch_fn fn, void *arg);

/* As vt_client_watch, over TLS with tls for a tls+tcp:// pub_url (as
 * vt_client_connect_tls; the pub socket asks for no client
 * certificate, so cert and key may be left NULL). */
vt_err vt_client_watch_tls(const char *pub_url, int timeout_ms,
			   const vt_client_tls *tls, vt_client_watch_fn fn,
			   void *arg);

#ifdef __cplusplus
}
#endif
#endif
