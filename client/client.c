/*
 * client.c - libvitals-client: the RPC server's methods over an nng req
 * socket, and the pub socket's status changes. See vitals/client.h.
 *
 * One req socket per client, dialled once (nng redials by itself if the
 * server goes away later). Every call runs on an nng context of its own,
 * so threads may share a client: the first caller uses the client's
 * cached context (taken with a trylock), concurrent callers open a
 * temporary one. A call sends the vitals.v1.Request envelope and waits
 * for the Response, both within the timeout given at connect (one
 * deadline for the whole call); a non-zero code becomes a vt_err
 * (src/encode/protobuf.c maps them) and its message the last error.
 * Message building and decoding live in src/encode/protobuf.c.
 *
 * The contract (threads, timeouts, the code mapping, the last error) is
 * stated in vitals/client.h. The last error is written under err_mtx and
 * read under it too, into a thread-local copy, so any thread may read it
 * while others fail calls.
 */
#include "vitals/client.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/err.h"
#include "encode/admin.h"
#include "encode/protobuf.h"
#include "server/tls.h"

/* Largest Response accepted: the encoders' cap plus the envelope. */
#define MAX_RESPONSE (VT__PB_MAX_OUT + 4096)
/* Largest pub message accepted. */
#define MAX_PUB_MSG 4096

struct vt_client {
	nng_socket sock; /* immutable; thread-safe */
	int timeout_ms;	 /* immutable; < 0 = none */
	char url[256];	 /* immutable, for messages */
	char *token;	 /* sent with every call; NULL = none */
	pthread_mutex_t cache_mtx;
	nng_ctx ctx;  /* the cached context: used by cache_mtx's holder */
	nng_aio *aio; /* idem */
	pthread_mutex_t err_mtx;
	char last_err[512]; /* protected by err_mtx */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_last(vt_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_last(vt_client *c, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&c->err_mtx);
	va_start(ap, fmt);
	vsnprintf(c->last_err, sizeof(c->last_err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->err_mtx);
}

vt_err vt_client_connect(vt_client **out, const char *url, int timeout_ms)
{
	return vt_client_connect_tls(out, url, timeout_ms, NULL);
}

/* Dials url on sock, with TLS from tls when it is a tls+tcp:// url. */
static int dial(nng_socket sock, const char *url, const vt_client_tls *tls)
{
	if (tls == NULL || tls->ca == NULL)
		return nng_dial(sock, url, NULL, 0);
	char err[512];
	nng_tls_config *cfg;
	if (vt__tls_client_config(&cfg, tls->ca, tls->cert, tls->key,
				  tls->server_name, err, sizeof(err)) != VT_OK)
		return NNG_EINVAL;
	nng_dialer d;
	int rv = nng_dialer_create(&d, sock, url);
	if (rv == 0)
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (rv == 0)
		rv = nng_dialer_start(d, 0);
	return rv;
}

vt_err vt_client_connect_tls(vt_client **out, const char *url, int timeout_ms,
			     const vt_client_tls *tls)
{
	if (out == NULL || url == NULL || timeout_ms == 0)
		return VT_EINVAL;
	vt_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	c->timeout_ms = timeout_ms;
	snprintf(c->url, sizeof(c->url), "%s", url);
	if (pthread_mutex_init(&c->cache_mtx, NULL) != 0) {
		free(c);
		return VT_ENOMEM;
	}
	if (pthread_mutex_init(&c->err_mtx, NULL) != 0) {
		pthread_mutex_destroy(&c->cache_mtx);
		free(c);
		return VT_ENOMEM;
	}
	int rv = nng_req0_open(&c->sock);
	if (rv != 0)
		goto fail_sock;
	if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
				      MAX_RESPONSE)) != 0 ||
	    (rv = nng_aio_alloc(&c->aio, NULL, NULL)) != 0 ||
	    (rv = nng_ctx_open(&c->ctx, c->sock)) != 0 ||
	    (rv = dial(c->sock, url, tls)) != 0)
		goto fail;
	*out = c;
	return VT_OK;
fail:
	nng_close(c->sock);
	if (c->aio != NULL)
		nng_aio_free(c->aio);
fail_sock:
	pthread_mutex_destroy(&c->err_mtx);
	pthread_mutex_destroy(&c->cache_mtx);
	free(c);
	return vt__err_from_nng(rv);
}

void vt_client_close(vt_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	nng_aio_free(c->aio);
	pthread_mutex_destroy(&c->err_mtx);
	pthread_mutex_destroy(&c->cache_mtx);
	free(c->token);
	free(c);
}

vt_err vt_client_set_token(vt_client *c, const char *token)
{
	if (c == NULL)
		return VT_EINVAL;
	char *copy = NULL;
	if (token != NULL && token[0] != '\0' && (copy = strdup(token)) == NULL)
		return VT_ENOMEM;
	free(c->token);
	c->token = copy;
	return VT_OK;
}

const char *vt_client_last_error(const vt_client *c)
{
	static _Thread_local char copy[sizeof(((vt_client *)0)->last_err)];
	if (c == NULL)
		return "";
	/* The lock is the client's own; reading does not change the text. */
	pthread_mutex_t *mtx = (pthread_mutex_t *)&c->err_mtx;
	pthread_mutex_lock(mtx);
	memcpy(copy, c->last_err, sizeof(copy));
	pthread_mutex_unlock(mtx);
	return copy;
}

/* Sends one request and waits for its Response within the timeout; on
 * VT_OK *resp holds a code-0 Response (release with _fini). Thread-safe. */
static vt_err call(vt_client *c, const char *method, const uint8_t *payload,
		   size_t plen, vt__pb_response *resp)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	vt_err err = vt__pb_request_encode(method, payload, plen, c->token,
					   &bytes, &len);
	if (err != VT_OK) {
		set_last(c, "%s: encoding the request: %s", method,
			 vt_strerror(err));
		return err;
	}
	nng_msg *m = NULL;
	int rv = nng_msg_alloc(&m, len);
	if (rv != 0) {
		free(bytes);
		set_last(c, "%s: %s", method, nng_strerror(rv));
		return VT_ENOMEM;
	}
	memcpy(nng_msg_body(m), bytes, len);
	free(bytes);

	nng_ctx ctx;
	nng_aio *aio;
	bool cached = pthread_mutex_trylock(&c->cache_mtx) == 0;
	if (cached) {
		ctx = c->ctx;
		aio = c->aio;
	} else {
		if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
			nng_msg_free(m);
			set_last(c, "%s: %s", method, nng_strerror(rv));
			return VT_ENOMEM;
		}
		if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
			nng_aio_free(aio);
			nng_msg_free(m);
			set_last(c, "%s: %s", method, nng_strerror(rv));
			return vt__err_from_nng(rv);
		}
	}

	int64_t deadline = mono_ms() + c->timeout_ms;
	nng_aio_set_timeout(aio, c->timeout_ms < 0 ? NNG_DURATION_INFINITE
						   : c->timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
	} else {
		nng_duration left = NNG_DURATION_INFINITE;
		if (c->timeout_ms >= 0) {
			int64_t l = deadline - mono_ms();
			left = l > 0 ? (nng_duration)l : 1;
		}
		nng_aio_set_timeout(aio, left);
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	nng_msg *reply = rv == 0 ? nng_aio_get_msg(aio) : NULL;
	nng_aio_set_msg(aio, NULL);
	if (cached) {
		pthread_mutex_unlock(&c->cache_mtx);
	} else {
		nng_ctx_close(ctx);
		nng_aio_free(aio);
	}
	if (rv != 0) {
		if (rv == NNG_ETIMEDOUT)
			set_last(c, "%s: no answer from %s within %d ms",
				 method, c->url, c->timeout_ms);
		else
			set_last(c, "%s: %s: %s", method, c->url,
				 nng_strerror(rv));
		return vt__err_from_nng(rv);
	}

	err = vt__pb_response_decode(nng_msg_body(reply), nng_msg_len(reply),
				     resp);
	nng_msg_free(reply);
	if (err != VT_OK) {
		set_last(c, "%s: malformed response from %s", method, c->url);
		return err == VT_ENOMEM ? err : VT_EPROTO;
	}
	if (resp->code != VT__GRPC_OK) {
		set_last(c, "%s",
			 resp->message[0] != '\0' ? resp->message
						  : "error without message");
		vt_err e = vt__grpc_err(resp->code);
		vt__pb_response_fini(resp);
		return e;
	}
	return VT_OK;
}

vt_err vt_client_health(vt_client *c, const vt_health_filter *filter,
			vt_run_mode mode, vt_health_snapshot **out)
{
	if (c == NULL || out == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_health_req_encode(filter, mode, &req, &len);
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, VT__M_HEALTH, req, len, &resp);
	free(req);
	if (err != VT_OK)
		return err;
	err = vt__pb_health_decode(resp.payload, resp.plen, out);
	vt__pb_response_fini(&resp);
	if (err != VT_OK)
		set_last(c, "%s: malformed vitals.v1.HealthCheckResponse",
			 VT__M_HEALTH);
	return err;
}

vt_err vt_client_metrics(vt_client *c, const vt_metrics_filter *filter,
			 vt_metrics_snapshot **out)
{
	if (c == NULL || out == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_metrics_req_encode(filter, &req, &len);
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, VT__M_METRICS, req, len, &resp);
	free(req);
	if (err != VT_OK)
		return err;
	err = vt__pb_metrics_decode(resp.payload, resp.plen, out);
	vt__pb_response_fini(&resp);
	if (err != VT_OK)
		set_last(c, "%s: malformed vitals.v1.MetricsGetResponse",
			 VT__M_METRICS);
	return err;
}

vt_err vt_client_history(vt_client *c, const char *name, double since,
			 unsigned limit, vt_history_result **out, size_t *n)
{
	if (c == NULL || name == NULL || out == NULL || n == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_history_req_encode(name, since, limit, &req, &len);
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, VT__M_HISTORY, req, len, &resp);
	free(req);
	if (err != VT_OK)
		return err;
	err = vt__pb_history_decode(resp.payload, resp.plen, out, n);
	vt__pb_response_fini(&resp);
	if (err != VT_OK)
		set_last(c, "%s: malformed vitals.v1.HistoryResponse",
			 VT__M_HISTORY);
	return err;
}

void vt_client_history_free(vt_history_result *r)
{
	free(r);
}

void vt_client_health_free(vt_health_snapshot *s)
{
	vt__pb_health_free(s);
}

/* The same destructor as every metrics snapshot's. */
void vt_client_metrics_free(vt_metrics_snapshot *s)
{
	vt_metrics_snapshot_free(s);
}

vt_err vt_client_grpc_check(vt_client *c, const char *service, int *serving)
{
	if (c == NULL || serving == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_grpc_check_req_encode(service, &req, &len);
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, VT__M_GRPC_CHECK, req, len, &resp);
	free(req);
	if (err != VT_OK)
		return err;
	int st = 0;
	err = vt__pb_grpc_check_resp_decode(resp.payload, resp.plen, &st);
	vt__pb_response_fini(&resp);
	if (err == VT_OK && st != VT__SERVING && st != VT__NOT_SERVING)
		err = VT_EPROTO;
	if (err != VT_OK) {
		set_last(c, "%s: malformed grpc.health.v1.HealthCheckResponse",
			 VT__M_GRPC_CHECK);
		return err;
	}
	*serving = st;
	return VT_OK;
}

vt_err vt_client_watch(const char *pub_url, int timeout_ms,
		       vt_client_watch_fn fn, void *arg)
{
	return vt_client_watch_tls(pub_url, timeout_ms, NULL, fn, arg);
}

vt_err vt_client_watch_tls(const char *pub_url, int timeout_ms,
			   const vt_client_tls *tls, vt_client_watch_fn fn,
			   void *arg)
{
	if (pub_url == NULL || fn == NULL)
		return VT_EINVAL;
	nng_socket s;
	int rv = nng_sub0_open(&s);
	if (rv != 0)
		return vt__err_from_nng(rv);
	vt_err err = VT_OK;
	if ((rv = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, MAX_PUB_MSG)) !=
		0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO,
				    timeout_ms < 0 ? NNG_DURATION_INFINITE
						   : timeout_ms)) != 0 ||
	    (rv = dial(s, pub_url, tls)) != 0) {
		nng_close(s);
		return vt__err_from_nng(rv);
	}
	char buf[MAX_PUB_MSG + 1];
	for (;;) {
		nng_msg *m = NULL;
		if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
			err = vt__err_from_nng(rv);
			break;
		}
		size_t n = nng_msg_len(m);
		if (n > MAX_PUB_MSG)
			n = MAX_PUB_MSG;
		memcpy(buf, nng_msg_body(m), n);
		buf[n] = '\0';
		nng_msg_free(m);
		if (fn(buf, arg) != 0)
			break;
	}
	nng_close(s);
	return err;
}

/* Sends method with payload and expects an empty answer. */
static vt_err call_empty(vt_client *c, const char *method, vt_err err,
			 uint8_t *req, size_t len)
{
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, method, req, len, &resp);
	free(req);
	if (err == VT_OK)
		vt__pb_response_fini(&resp);
	return err;
}

vt_err vt_client_beat(vt_client *c, const char *name)
{
	if (c == NULL || name == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_beat_req_encode(name, &req, &len);
	return call_empty(c, VT__M_BEAT, err, req, len);
}

vt_err vt_client_silence(vt_client *c, const char *name, int64_t duration_ms)
{
	if (c == NULL || duration_ms < 0)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_silence_req_encode(name, duration_ms, &req, &len);
	return call_empty(c, VT__M_SILENCE, err, req, len);
}

vt_err vt_client_reload(vt_client *c, vt_reload_report *out)
{
	if (c == NULL || out == NULL)
		return VT_EINVAL;
	uint8_t *req = NULL;
	size_t len = 0;
	vt_err err = vt__pb_reload_req_encode(&req, &len);
	if (err != VT_OK)
		return err;
	vt__pb_response resp;
	err = call(c, VT__M_RELOAD, req, len, &resp);
	free(req);
	if (err != VT_OK)
		return err;
	vt_reload_report r;
	err = vt__pb_reload_resp_decode(resp.payload, resp.plen, &r);
	vt__pb_response_fini(&resp);
	if (err != VT_OK) {
		set_last(c, "%s: malformed ReloadResponse", VT__M_RELOAD);
		return err;
	}
	*out = r;
	return VT_OK;
}
