/*
 * service.h - the one service core both transports call.
 *
 * The HTTP gateway and the RPC server turn a request into a service
 * call and its answer back into bytes; everything else (what is run,
 * what is filtered, shutdown, in-flight accounting) happens here, so
 * neither transport has logic the other lacks.
 *
 * Access: with a bearer token set (vt__service_set_token), each request
 * is classed by the token it presents (vt__service_access): the right
 * one, or any when no token is set, gets everything; none gets statuses
 * only - health answers with details dropped and each error replaced by
 * "reason withheld", no metrics - so probes need no secret; a wrong one
 * is refused outright, so a misconfigured client learns so at once.
 *
 * Shutdown: vt__service_shutdown marks the health registry as shutting
 * down (readiness UNHEALTHY), makes vt__service_enter refuse new
 * requests, and waits until every request that entered has left.
 */
#ifndef VT_SERVER_SERVICE_H
#define VT_SERVER_SERVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "health/waiter.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"
#include "vitals/reload.h"

/* How long an answer waits for the commit of the results it shows. */
#define VT__HISTORY_WAIT_MS 10000

typedef struct vt__service {
	vt_health *health;     /* immutable after init */
	vt_metrics *metrics;   /* immutable after init */
	const char *live_tag;  /* immutable after init */
	const char *ready_tag; /* immutable after init */
	vt_history *history;   /* NULL = none; immutable after init */
	bool process_metrics;  /* immutable after init: process_* at reads */
	/* The program's reload (vitals/reload.h); NULL = none. Immutable
	 * after init. */
	vt_reload_fn reload;
	void *reload_arg;
	char *token;	  /* NULL = none; immutable after set_token */
	size_t token_len; /* immutable after set_token */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned inflight;  /* protected by mtx */
	bool shutting_down; /* protected by mtx */
} vt__service;

/* What a caller may see, by the token it presented. */
typedef enum vt__access {
	VT__ACCESS_FULL,   /* the token, or no token is set */
	VT__ACCESS_STATUS, /* a token is set and none was presented */
	VT__ACCESS_DENIED, /* a wrong token was presented */
} vt__access;

/* The error text that replaces a component's error for callers without
 * the token. */
#define VT__REASON_WITHHELD "reason withheld"

/* What a health request asks, whichever transport carried it. */
typedef struct vt__health_query {
	vt_health_filter filter;
	vt_run_mode mode;
	bool withhold; /* statuses only: no details, errors withheld */
} vt__health_query;

vt_err vt__service_init(vt__service *svc, vt_health *h, vt_metrics *m,
			const char *live_tag, const char *ready_tag);
void vt__service_fini(vt__service *svc);

/* Requires callers to present token for details and metrics. token is
 * 1..VT__TOKEN_MAX characters of RFC 6750's b64token set
 * ([A-Za-z0-9-._~+/] then any '='); VT_EINVAL otherwise. NULL or ""
 * sets none. Before the service is used. */
#define VT__TOKEN_MAX 1024
vt_err vt__service_set_token(vt__service *svc, const char *token);

/* Whether the n bytes at t are such a token. */
bool vt__token_valid(const char *t, size_t n);

/* Classes a caller by the token it presented: (NULL, 0) = none. Runs in
 * time that depends on the lengths only. Thread-safe. */
vt__access vt__service_access(const vt__service *svc, const char *presented,
			      size_t len);

/* Counts a request in; VT_ECLOSED once shutdown began. Thread-safe. */
vt_err vt__service_enter(vt__service *svc);
/* Counts a request out. Thread-safe. */
void vt__service_leave(vt__service *svc);

/* Readiness goes UNHEALTHY, new requests are refused, and this returns
 * once the requests in flight have left. Thread-safe, idempotent. */
void vt__service_shutdown(vt__service *svc);

/* Runs or reads the selected checks. With history, returns only once
 * the results shown are committed to it (vitals/history.h: no loss),
 * and fills each component's uptime. VT_ENOENT for an unknown name,
 * VT_EINVAL for a malformed filter value. Thread-safe; may block up to
 * the largest timeout of the selected checks (VT_RUN_FRESH). */
vt_err vt__service_health(vt__service *svc, const vt__health_query *q,
			  vt_health_snapshot **out);

/* Starts a fresh run of the selected checks without waiting for it:
 * its snapshot goes to done(arg) on the thread that completes the run
 * (health/waiter.h: done must not block), within the largest timeout
 * of the checks. The caller applies q->withhold
 * (vt__service_withhold). VT_EUNAVAIL when history is kept (its answer
 * waits for the commit: use vt__service_health on a thread that may
 * block); VT_ENOENT and VT_EINVAL as vt__service_health, VT_ENOMEM,
 * VT_EIO; done is called only on VT_OK. Thread-safe. */
vt_err vt__service_health_async(vt__service *svc, const vt__health_query *q,
				vt__run_done done, void *arg);

/* Statuses only: drops each component's details and replaces its
 * error, as vt__service_health does for a query with withhold. */
void vt__service_withhold(vt_health_snapshot *s);

/* The results a history answer holds when the caller names no limit. */
#define VT__HISTORY_DEFAULT_LIMIT 100

/* The recorded results of check name, newest first, time >= since, at
 * most limit (capped at VT_HISTORY_LIMIT_MAX), as both transports serve
 * them: only once the check's last shown result is committed. *out for
 * vt_history_list_free. VT_EUNAVAIL when no history is kept; VT_ENOENT
 * for an unknown (or impossible) name; VT_EINVAL for since < 0 or not
 * finite, or limit < 1; VT_EIO, VT_ENOMEM. The caller checks access:
 * history needs the token (its errors are details). Thread-safe. */
vt_err vt__service_history(vt__service *svc, const char *name, double since,
			   long limit, vt_history_result **out, size_t *n);

/* Records a beat of heartbeat check name (vt_health_beat): VT_ENOENT
 * for an unknown check, VT_EINVAL for one that is not a heartbeat.
 * Callers need full access (the transports check). Thread-safe. */
vt_err vt__service_beat(vt__service *svc, const char *name);
/* Silences check name (NULL = all) for duration_ms from now; 0 ends the
 * silence instead (vt_health_unsilence). VT_ENOENT for an unknown
 * name. Callers need full access. Thread-safe. */
vt_err vt__service_silence(vt__service *svc, const char *name,
			   int64_t duration_ms);
/* Applies the program's configuration again through svc->reload, which
 * must be set: VT_OK with *report filled, or its error with the reason
 * in err (the running configuration stays). Callers need full access.
 * Thread-safe (the reload function serializes itself). */
vt_err vt__service_reload(vt__service *svc, vt_reload_report *report, char *err,
			  size_t errlen);
/* Merges the selected metrics. Thread-safe, never blocks writers. */
vt_err vt__service_metrics(vt__service *svc, const vt_metrics_filter *f,
			   vt_metrics_snapshot **out);

#endif
