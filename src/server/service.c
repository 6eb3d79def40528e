/*
 * service.c - the service core behind the gateway and the RPC server:
 * in-flight accounting for graceful shutdown, and health and metrics
 * queries validated once for both transports. See service.h.
 */
#include "server/service.h"

#include <string.h>

#include "vitals/health.h"

vt_err vt__service_init(vt__service *svc, vt_health *h, vt_metrics *m,
			const char *live_tag, const char *ready_tag)
{
	if (svc == NULL || h == NULL || m == NULL)
		return VT_EINVAL;
	svc->health = h;
	svc->metrics = m;
	svc->live_tag = live_tag != NULL ? live_tag : "live";
	svc->ready_tag = ready_tag != NULL ? ready_tag : "ready";
	svc->inflight = 0;
	svc->shutting_down = false;
	if (pthread_mutex_init(&svc->mtx, NULL) != 0)
		return VT_ENOMEM;
	if (pthread_cond_init(&svc->idle, NULL) != 0) {
		pthread_mutex_destroy(&svc->mtx);
		return VT_ENOMEM;
	}
	return VT_OK;
}

void vt__service_fini(vt__service *svc)
{
	pthread_cond_destroy(&svc->idle);
	pthread_mutex_destroy(&svc->mtx);
}

vt_err vt__service_enter(vt__service *svc)
{
	vt_err rv = VT_OK;
	pthread_mutex_lock(&svc->mtx);
	if (svc->shutting_down)
		rv = VT_ECLOSED;
	else
		svc->inflight++;
	pthread_mutex_unlock(&svc->mtx);
	return rv;
}

void vt__service_leave(vt__service *svc)
{
	pthread_mutex_lock(&svc->mtx);
	if (--svc->inflight == 0)
		pthread_cond_broadcast(&svc->idle);
	pthread_mutex_unlock(&svc->mtx);
}

void vt__service_shutdown(vt__service *svc)
{
	vt_health_set_shutdown(svc->health);
	pthread_mutex_lock(&svc->mtx);
	svc->shutting_down = true;
	while (svc->inflight > 0)
		pthread_cond_wait(&svc->idle, &svc->mtx);
	pthread_mutex_unlock(&svc->mtx);
}

/* A filter value must be a plausible check name or tag: 1..200 bytes of
 * [A-Za-z0-9_.:-]. Anything else cannot match and is refused early. */
static bool filter_word_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}

vt_err vt__service_health(vt__service *svc, const vt__health_query *q,
			  vt_health_snapshot **out)
{
	const vt_health_filter *f = &q->filter;
	if (f->name != NULL && f->name[0] != '\0' &&
	    !filter_word_valid(f->name))
		return VT_EINVAL;
	if (f->tag != NULL && f->tag[0] != '\0' && !filter_word_valid(f->tag))
		return VT_EINVAL;
	for (size_t i = 0; i < f->nexclude; i++)
		if (f->exclude[i] == NULL || !filter_word_valid(f->exclude[i]))
			return VT_EINVAL;
	if (q->mode != VT_RUN_FRESH && q->mode != VT_RUN_CACHED)
		return VT_EINVAL;
	return vt_health_run(svc->health, f, q->mode, out);
}

vt_err vt__service_metrics(vt__service *svc, const vt_metrics_filter *f,
			   vt_metrics_snapshot **out)
{
	return vt_metrics_snapshot_take(svc->metrics, f, out);
}
