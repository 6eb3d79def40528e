/*
 * service.c - the service core behind the gateway and the RPC server:
 * in-flight accounting for graceful shutdown, and health and metrics
 * queries validated once for both transports. See service.h.
 */
#include "server/service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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
	svc->history = NULL;
	svc->reload = NULL;
	svc->reload_arg = NULL;
	svc->token = NULL;
	svc->token_len = 0;
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
	free(svc->token);
	svc->token = NULL;
	pthread_cond_destroy(&svc->idle);
	pthread_mutex_destroy(&svc->mtx);
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"=". */
bool vt__token_valid(const char *t, size_t n)
{
	size_t i = 0;
	if (n == 0 || n > VT__TOKEN_MAX)
		return false;
	for (; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_' || c == '~' || c == '+' || c == '/'))
			break;
	}
	if (i == 0)
		return false;
	while (i < n && t[i] == '=')
		i++;
	return i == n;
}

vt_err vt__service_set_token(vt__service *svc, const char *token)
{
	char *copy = NULL;
	size_t n = token != NULL ? strlen(token) : 0;
	if (n > 0) {
		if (!vt__token_valid(token, n))
			return VT_EINVAL;
		if ((copy = strdup(token)) == NULL)
			return VT_ENOMEM;
	}
	free(svc->token);
	svc->token = copy;
	svc->token_len = n;
	return VT_OK;
}

vt__access vt__service_access(const vt__service *svc, const char *presented,
			      size_t len)
{
	if (svc->token == NULL)
		return VT__ACCESS_FULL;
	if (presented == NULL || len == 0)
		return VT__ACCESS_STATUS;
	/* Constant time: every byte of the token is compared, whatever
	 * differs first, and a presented token of another length costs the
	 * same compare (of the token with itself). */
	const char *t = svc->token;
	size_t n = svc->token_len;
	const char *p = len == n ? presented : t;
	int diff = CRYPTO_memcmp(t, p, n);
	return len == n && diff == 0 ? VT__ACCESS_FULL : VT__ACCESS_DENIED;
}

/* Statuses only: drops each component's details and replaces its error.
 * The snapshot is one allocation of its own (snapshot.c), so its
 * components are ours to change; the error now points at a literal. */
void vt__service_withhold(vt_health_snapshot *s)
{
	vt_component *cs = (vt_component *)s->components;
	for (size_t i = 0; i < s->ncomponents; i++) {
		cs[i].details = NULL;
		cs[i].ndetails = 0;
		if (cs[i].error != NULL)
			cs[i].error = VT__REASON_WITHHELD;
	}
}

/* Waits until the results of s are committed (a failing store does not
 * wait: its check says so), then adds each component's cached uptime. */
static void with_history(vt_history *hs, vt_health_snapshot *s)
{
	(void)vt_history_wait(hs, s->seq, VT__HISTORY_WAIT_MS);
	vt_component *cs = (vt_component *)s->components;
	for (size_t i = 0; i < s->ncomponents; i++)
		cs[i].has_uptime =
		    vt_history_cached_uptime(hs, cs[i].name, cs[i].uptime);
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

/* VT_EINVAL when a name in q's filter is malformed; VT_OK else. */
static vt_err filter_valid(const vt_health_filter *f)
{
	if (f->name != NULL && f->name[0] != '\0' &&
	    !vt_check_name_valid(f->name))
		return VT_EINVAL;
	if (f->tag != NULL && f->tag[0] != '\0' && !vt_check_name_valid(f->tag))
		return VT_EINVAL;
	for (size_t i = 0; i < f->nexclude; i++)
		if (f->exclude[i] == NULL ||
		    !vt_check_name_valid(f->exclude[i]))
			return VT_EINVAL;
	return VT_OK;
}

vt_err vt__service_health(vt__service *svc, const vt__health_query *q,
			  vt_health_snapshot **out)
{
	const vt_health_filter *f = &q->filter;
	if (filter_valid(f) != VT_OK ||
	    (q->mode != VT_RUN_FRESH && q->mode != VT_RUN_CACHED))
		return VT_EINVAL;
	vt_err err = vt_health_run(svc->health, f, q->mode, out);
	if (err == VT_OK && svc->history != NULL)
		with_history(svc->history, *out);
	if (err == VT_OK && q->withhold)
		vt__service_withhold(*out);
	return err;
}

vt_err vt__service_health_async(vt__service *svc, const vt__health_query *q,
				vt__run_done done, void *arg)
{
	if (filter_valid(&q->filter) != VT_OK || q->mode != VT_RUN_FRESH)
		return VT_EINVAL;
	if (svc->history != NULL)
		return VT_EUNAVAIL;
	return vt__health_run_async(svc->health, &q->filter, done, arg);
}

vt_err vt__service_history(vt__service *svc, const char *name, double since,
			   long limit, vt_history_result **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (svc->history == NULL)
		return VT_EUNAVAIL;
	if (name == NULL || !vt_check_name_valid(name))
		return VT_ENOENT;
	if (!(since >= 0) || !isfinite(since) || limit < 1)
		return VT_EINVAL;
	/* The check's cached snapshot: it exists, and what it shows is
	 * committed before the list is read. */
	vt__health_query q = {.filter = {.name = name}, .mode = VT_RUN_CACHED};
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(svc, &q, &s);
	if (err == VT_OK && s->ncomponents != 1)
		err = VT_ENOENT;
	vt_health_snapshot_free(s);
	if (err != VT_OK)
		return err == VT_EINVAL ? VT_ENOENT : err;
	size_t cap =
	    limit > VT_HISTORY_LIMIT_MAX ? VT_HISTORY_LIMIT_MAX : (size_t)limit;
	return vt_history_list(svc->history, name, since, cap, out, n);
}

vt_err vt__service_metrics(vt__service *svc, const vt_metrics_filter *f,
			   vt_metrics_snapshot **out)
{
	if (svc->process_metrics)
		(void)vt_metrics_process_update(svc->metrics);
	return vt_metrics_snapshot_take(svc->metrics, f, out);
}

vt_err vt__service_beat(vt__service *svc, const char *name)
{
	return vt_health_beat(svc->health, name);
}

vt_err vt__service_silence(vt__service *svc, const char *name,
			   int64_t duration_ms)
{
	if (duration_ms < 0)
		return VT_EINVAL;
	if (duration_ms == 0)
		return vt_health_unsilence(svc->health, name);
	return vt_health_silence(svc->health, name, duration_ms);
}

vt_err vt__service_reload(vt__service *svc, vt_reload_report *report, char *err,
			  size_t errlen)
{
	memset(report, 0, sizeof(*report));
	if (errlen > 0)
		err[0] = '\0';
	vt_err rv = svc->reload(svc->reload_arg, report, err, errlen);
	if (rv != VT_OK)
		vt_reload_report_fini(report);
	if (rv != VT_OK && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "%s", vt_strerror(rv));
	return rv;
}
