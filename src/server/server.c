/*
 * server.c - vt_server: the service core (service.c) with its three
 * listeners, the HTTP gateway (gateway.c), the RPC server (rpc.c) and
 * the status pub socket (pub.c). See vitals/server.h.
 *
 * Status changes reach the pub socket through the health registry's one
 * listener. vt_health_on_change may still call a listener just after it
 * was removed, so the listener's argument is not the server but its id,
 * looked up in a process-wide list of live servers under live_mtx: a
 * late call for a freed server finds nothing and publishes nothing.
 *
 * Shutdown, in order: "* <readiness> unhealthy" is published, the
 * service refuses new requests and waits for those in flight (the
 * gateway and the RPC server count theirs in and out), then the
 * listeners stop. The pub socket stays open until vt_server_free, so
 * late status changes still go out.
 *
 * Lock order: s->mtx (shutdown), then live_mtx (publishing).
 */
#include "vitals/server.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/gateway.h"
#include "server/pub.h"
#include "server/rpc.h"
#include "server/service.h"

struct vt_server {
	vt__service svc; /* initialised when svc_ready */
	bool svc_ready;	 /* immutable after start */
	vt_health *health;
	vt__gateway *gw; /* immutable after start; may be NULL */
	vt__rpc *rpc;	 /* immutable after start; may be NULL */
	vt__pub *pub;	 /* immutable after start; may be NULL */
	uintptr_t id;	 /* the listener's key; immutable */
	bool listening;	 /* the health listener is ours */
	pthread_mutex_t mtx;
	bool shut;		/* protected by mtx */
	struct vt_server *next; /* protected by live_mtx */
};

/* Servers whose listener may publish; protected by live_mtx. */
static pthread_mutex_t live_mtx = PTHREAD_MUTEX_INITIALIZER;
static vt_server *live_head;
static uintptr_t live_next_id = 1;

/* Publishes text on the pub socket of the live server id, if any.
 * Locks: takes live_mtx. */
static void publish(uintptr_t id, const char *text)
{
	pthread_mutex_lock(&live_mtx);
	for (vt_server *s = live_head; s != NULL; s = s->next) {
		if (s->id == id) {
			if (s->pub != NULL)
				(void)vt__pub_send(s->pub, text);
			break;
		}
	}
	pthread_mutex_unlock(&live_mtx);
}

/* The health listener: "<check> <old> <new>". */
static void on_change(const char *check, vt_status old_status,
		      vt_status new_status, void *arg)
{
	char text[VT_MAX_NAME_LEN + 64];
	int n =
	    snprintf(text, sizeof(text), "%s %s %s", check,
		     vt_status_name(old_status), vt_status_name(new_status));
	if (n < 0 || (size_t)n >= sizeof(text))
		return;
	publish((uintptr_t)arg, text);
}

static void live_add(vt_server *s)
{
	pthread_mutex_lock(&live_mtx);
	s->id = live_next_id++;
	s->next = live_head;
	live_head = s;
	pthread_mutex_unlock(&live_mtx);
}

static void live_remove(vt_server *s)
{
	pthread_mutex_lock(&live_mtx);
	for (vt_server **pp = &live_head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&live_mtx);
}

/* Frees whatever start built, without the shutdown sequence (so a
 * failed start leaves the health registry as it was). */
static void destroy(vt_server *s)
{
	if (s->listening)
		vt_health_on_change(s->health, NULL, NULL);
	live_remove(s);
	vt__gateway_free(s->gw);
	vt__rpc_free(s->rpc);
	vt__pub_free(s->pub);
	if (s->svc_ready)
		vt__service_fini(&s->svc);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

static void set_err(char *err, size_t errlen, const char *prefix,
		    const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s%s", prefix, what);
}

vt_err vt_server_start(vt_server **out, const vt_server_opts *opts,
		       char *errbuf, size_t errlen)
{
	char err[256] = "";
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL || opts == NULL || opts->health == NULL ||
	    opts->metrics == NULL) {
		set_err(errbuf, errlen, "",
			"server options: health and metrics are required");
		return VT_EINVAL;
	}
	if (opts->degraded_http_code != 0 && (opts->degraded_http_code < 200 ||
					      opts->degraded_http_code > 599)) {
		set_err(errbuf, errlen, "",
			"server options: degraded_http_code must be 200..599");
		return VT_EINVAL;
	}
	vt_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return VT_ENOMEM;
	s->health = opts->health;
	if (pthread_mutex_init(&s->mtx, NULL) != 0) {
		free(s);
		return VT_ENOMEM;
	}
	live_add(s);
	vt_err rv = vt__service_init(&s->svc, opts->health, opts->metrics,
				     opts->live_tag, opts->ready_tag);
	if (rv != VT_OK) {
		set_err(errbuf, errlen, "service: ", vt_strerror(rv));
		goto fail;
	}
	s->svc_ready = true;

	if (opts->pub_url != NULL) {
		rv = vt__pub_start(&s->pub, opts->pub_url, err, sizeof(err));
		if (rv != VT_OK) {
			s->pub = NULL;
			set_err(errbuf, errlen, "", err);
			goto fail;
		}
		vt_health_on_change(s->health, on_change, (void *)s->id);
		s->listening = true;
	}
	if (opts->http_addr != NULL) {
		rv = vt__gateway_start(
		    &s->gw, &s->svc, opts->http_addr, opts->degraded_http_code,
		    opts->max_request_bytes, err, sizeof(err));
		if (rv != VT_OK) {
			s->gw = NULL;
			set_err(errbuf, errlen, "http ", err);
			goto fail;
		}
	}
	if (opts->rpc_url != NULL) {
		rv = vt__rpc_start(&s->rpc, &s->svc, opts->rpc_url,
				   opts->rpc_contexts, opts->max_request_bytes,
				   err, sizeof(err));
		if (rv != VT_OK) {
			s->rpc = NULL;
			set_err(errbuf, errlen, "", err);
			goto fail;
		}
	}
	*out = s;
	return VT_OK;
fail:
	destroy(s);
	return rv;
}

/* Readiness now, from the cache: the overall status of the checks
 * tagged ready_tag (HEALTHY when there are none). */
static vt_status readiness(vt_server *s)
{
	vt_health_filter f = {.tag = s->svc.ready_tag};
	vt_health_snapshot *snap;
	if (vt_health_run(s->health, &f, VT_RUN_CACHED, &snap) != VT_OK)
		return VT_UNHEALTHY;
	vt_status st = snap->status;
	vt_health_snapshot_free(snap);
	return st;
}

void vt_server_shutdown(vt_server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	if (!s->shut) {
		s->shut = true;
		if (s->pub != NULL) {
			char text[64];
			snprintf(text, sizeof(text), "* %s %s",
				 vt_status_name(readiness(s)),
				 vt_status_name(VT_UNHEALTHY));
			publish(s->id, text);
		}
		vt__service_shutdown(&s->svc);
		vt__gateway_stop(s->gw);
		vt__rpc_stop(s->rpc);
	}
	pthread_mutex_unlock(&s->mtx);
}

void vt_server_free(vt_server *s)
{
	if (s == NULL)
		return;
	vt_server_shutdown(s);
	destroy(s);
}
