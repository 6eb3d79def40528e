/*
 * service.h - the one service core both transports call.
 *
 * The HTTP gateway and the RPC server turn a request into a service
 * call and its answer back into bytes; everything else (what is run,
 * what is filtered, shutdown, in-flight accounting) happens here, so
 * neither transport has logic the other lacks.
 *
 * Shutdown: vt__service_shutdown marks the health registry as shutting
 * down (readiness UNHEALTHY), makes vt__service_enter refuse new
 * requests, and waits until every request that entered has left.
 */
#ifndef VT_SERVER_SERVICE_H
#define VT_SERVER_SERVICE_H

#include <pthread.h>
#include <stdbool.h>

#include "vitals/health.h"
#include "vitals/metrics.h"

typedef struct vt__service {
	vt_health *health;     /* immutable after init */
	vt_metrics *metrics;   /* immutable after init */
	const char *live_tag;  /* immutable after init */
	const char *ready_tag; /* immutable after init */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned inflight;  /* protected by mtx */
	bool shutting_down; /* protected by mtx */
} vt__service;

/* What a health request asks, whichever transport carried it. */
typedef struct vt__health_query {
	vt_health_filter filter;
	vt_run_mode mode;
} vt__health_query;

vt_err vt__service_init(vt__service *svc, vt_health *h, vt_metrics *m,
			const char *live_tag, const char *ready_tag);
void vt__service_fini(vt__service *svc);

/* Counts a request in; VT_ECLOSED once shutdown began. Thread-safe. */
vt_err vt__service_enter(vt__service *svc);
/* Counts a request out. Thread-safe. */
void vt__service_leave(vt__service *svc);

/* Readiness goes UNHEALTHY, new requests are refused, and this returns
 * once the requests in flight have left. Thread-safe, idempotent. */
void vt__service_shutdown(vt__service *svc);

/* Runs or reads the selected checks. VT_ENOENT for an unknown name,
 * VT_EINVAL for a malformed filter value. Thread-safe; may block up to
 * the largest timeout of the selected checks (VT_RUN_FRESH). */
vt_err vt__service_health(vt__service *svc, const vt__health_query *q,
			  vt_health_snapshot **out);

/* Merges the selected metrics. Thread-safe, never blocks writers. */
vt_err vt__service_metrics(vt__service *svc, const vt_metrics_filter *f,
			   vt_metrics_snapshot **out);

#endif
