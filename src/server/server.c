/*
 * server.c - vt_server: the service core (service.c) with its three
 * listeners, the HTTP gateway (gateway.c), the RPC server (rpc.c) and
 * the status pub socket (pub.c). See vitals/server.h.
 *
 * Status changes reach the pub socket through a health listener;
 * removing it waits for a call under way, so none outlives the server.
 *
 * Shutdown, in order: "* <readiness> unhealthy" is published, the
 * service refuses new requests and waits for those in flight (the
 * gateway and the RPC server count theirs in and out), then the
 * listeners stop. The pub socket stays open until vt_server_free, so
 * late status changes still go out.
 */
#include "vitals/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/gateway.h"
#include "server/pub.h"
#include "server/rpc.h"
#include "server/service.h"
#include "server/tls.h"

struct vt_server {
	vt__service svc; /* initialised when svc_ready */
	bool svc_ready;	 /* immutable after start */
	vt_health *health;
	vt__gateway *gw; /* immutable after start; may be NULL */
	vt__rpc *rpc;	 /* immutable after start; may be NULL */
	vt__pub *pub;	 /* immutable after start; may be NULL */
	bool listening;	 /* our health listener is added */
	/* TLS configurations (NULL = plain): the RPC's asks for client
	 * certificates when a ca is set; the pub's, which the gateway
	 * shares (Prometheus and browsers have none), never does.
	 * Immutable after start. */
	nng_tls_config *tls_rpc, *tls_pub;
	pthread_mutex_t mtx;
	bool shut; /* protected by mtx */
};

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
	vt_server *s = arg;
	(void)vt__pub_send(s->pub, text);
}

/* Frees whatever start built, without the shutdown sequence (so a
 * failed start leaves the health registry as it was). */
static void destroy(vt_server *s)
{
	if (s->listening)
		vt_health_remove_listener(s->health, on_change, s);
	vt__gateway_free(s->gw);
	vt__rpc_free(s->rpc);
	vt__pub_free(s->pub);
	if (s->tls_rpc != NULL)
		nng_tls_config_free(s->tls_rpc);
	if (s->tls_pub != NULL)
		nng_tls_config_free(s->tls_pub);
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

/* Builds s's TLS configurations from opts' files, if any. */
static vt_err start_tls(vt_server *s, const vt_server_opts *opts, char *errbuf,
			size_t errlen)
{
	if (opts->tls_cert == NULL && opts->tls_key == NULL)
		return VT_OK;
	char err[512];
	vt_err rv =
	    vt__tls_server_config(&s->tls_rpc, opts->tls_cert, opts->tls_key,
				  opts->tls_ca, err, sizeof(err));
	if (rv == VT_OK)
		rv = vt__tls_server_config(&s->tls_pub, opts->tls_cert,
					   opts->tls_key, NULL, err,
					   sizeof(err));
	if (rv != VT_OK)
		set_err(errbuf, errlen, "tls: ", err);
	return rv;
}

/* The url a listener is started on: tcp:// becomes tls+tcp:// when s
 * has TLS. */
static vt_err served_url(const vt_server *s, const char *url, char *out,
			 size_t cap, char *errbuf, size_t errlen)
{
	vt_err rv =
	    s->tls_rpc != NULL
		? vt__tls_url(url, out, cap)
		: (snprintf(out, cap, "%s", url) < (int)cap ? VT_OK
							    : VT_ETOOBIG);
	if (rv != VT_OK)
		set_err(errbuf, errlen, url, ": too long");
	return rv;
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
	vt_err rv = vt__service_init(&s->svc, opts->health, opts->metrics,
				     opts->live_tag, opts->ready_tag);
	if (rv != VT_OK) {
		set_err(errbuf, errlen, "service: ", vt_strerror(rv));
		goto fail;
	}
	s->svc_ready = true;
	s->svc.history = opts->history;
	s->svc.process_metrics = opts->process_metrics;
	s->svc.reload = opts->reload;
	s->svc.reload_arg = opts->reload_arg;
	if ((rv = vt__service_set_token(&s->svc, opts->token)) != VT_OK) {
		set_err(
		    errbuf, errlen, "",
		    rv == VT_EINVAL
			? "server options: token must be 1..1024 characters "
			  "of [A-Za-z0-9-._~+/], then any '='"
			: "server options: out of memory");
		goto fail;
	}

	if ((rv = start_tls(s, opts, errbuf, errlen)) != VT_OK)
		goto fail;
	char url[512];
	if (opts->pub_url != NULL) {
		if ((rv = served_url(s, opts->pub_url, url, sizeof(url), errbuf,
				     errlen)) != VT_OK)
			goto fail;
		/* Subscribers need no certificate: the ca is the RPC's. */
		rv = vt__pub_start_tls(&s->pub, url, opts->max_connections,
				       s->tls_pub, err, sizeof(err));
		if (rv != VT_OK) {
			s->pub = NULL;
			set_err(errbuf, errlen, "", err);
			goto fail;
		}
		rv = vt_health_add_listener(s->health, on_change, s);
		if (rv != VT_OK) {
			set_err(errbuf, errlen,
				"pub: status listener: ", vt_strerror(rv));
			goto fail;
		}
		s->listening = true;
	}
	if (opts->http_addr != NULL) {
		vt__httpd_opts lim = {
		    .max_conns = opts->max_connections,
		    .max_per_addr = opts->http_max_per_address,
		    .header_timeout_ms = opts->http_header_timeout_ms,
		    .idle_timeout_ms = opts->http_idle_timeout_ms,
		    .tls = s->tls_pub,
		};
		rv = vt__gateway_start(
		    &s->gw, &s->svc, opts->http_addr, opts->degraded_http_code,
		    opts->max_request_bytes, &lim, err, sizeof(err));
		if (rv != VT_OK) {
			s->gw = NULL;
			set_err(errbuf, errlen, "http ", err);
			goto fail;
		}
	}
	if (opts->rpc_url != NULL) {
		if ((rv = served_url(s, opts->rpc_url, url, sizeof(url), errbuf,
				     errlen)) != VT_OK)
			goto fail;
		rv = vt__rpc_start_tls(
		    &s->rpc, &s->svc, url, opts->rpc_contexts,
		    opts->max_request_bytes, opts->max_connections, s->tls_rpc,
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
			(void)vt__pub_send(s->pub, text);
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
