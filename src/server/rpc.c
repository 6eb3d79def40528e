/*
 * rpc.c - the nng req/rep RPC server. See rpc.h for the contract.
 *
 * Each of the N contexts is a state machine on one nng_aio:
 *
 *   RECV --(request)--> reads state? answer now ----------> SEND
 *                       may run checks? pool task: WORK --> SEND
 *   SEND --(sent or failed)--> RECV (unless stopping)
 *
 * The step that owns a context (its aio callback, or the pool task it
 * handed the request to) is the only code touching its fields; the hand
 * over goes through the pool's mutex or nng, which order memory. The
 * reply reuses the request's nng_msg: the body is replaced by the packed
 * Response, nng keeps the backtrace header it needs.
 *
 * Stopping: `stopping` makes every later request an immediate 14 and
 * stops contexts from receiving again; `busy` counts contexts between a
 * received request and the end of its send, so vt__rpc_stop waits for it
 * to reach 0, frees the (then idle) pool, closes the socket (pending
 * receives end with NNG_ECLOSED) and stops each aio, which waits for any
 * callback still running.
 *
 * Locks: r->mtx guards busy and stopping only and is never held while
 * calling out; the pool is used only by a context counted in busy, so it
 * outlives every submit.
 */
#include "server/rpc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "encode/protobuf.h"
#include "vitals/pool.h"

/* A reply that the peer does not take within this long is dropped, so a
 * stalled client cannot hold vt__rpc_stop. */
#define SEND_TIMEOUT_MS 10000

typedef enum ctx_state {
	ST_RECV,
	ST_WORK,
	ST_SEND,
} ctx_state;

typedef struct rpc_ctx {
	vt__rpc *rpc; /* immutable after start */
	nng_ctx ctx;  /* immutable after start */
	nng_aio *aio; /* immutable after start */
	/* Owned by the step that runs the context (see the top). */
	ctx_state state;
	nng_msg *msg;		/* the request, reused for the reply */
	vt__pb_request env;	/* decoded envelope while handling */
	vt__pb_health_req hreq; /* vitals.v1.Health/Check, when decoded */
	bool have_hreq;
	bool entered; /* counted in the service */
} rpc_ctx;

struct vt__rpc {
	vt__service *svc; /* immutable */
	nng_socket sock;  /* immutable after start */
	bool sock_open;	  /* owner only */
	size_t max_msg;	  /* immutable */
	unsigned n;	  /* immutable */
	rpc_ctx *ctxs;	  /* [n], immutable after start */
	vt_pool *pool;	  /* immutable until stop frees it */
	int port;	  /* immutable after start */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned busy;	/* protected by mtx */
	bool stopping;	/* protected by mtx */
	bool stopped;	/* owner only */
	bool sync_init; /* mtx and idle exist; owner only */
};

/* What a handler answers. */
typedef struct reply {
	uint32_t code;
	char text[256];
	uint8_t *payload; /* malloc'd; NULL for errors */
	size_t plen;
} reply;

static void reply_fail(reply *rp, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_fail(reply *rp, uint32_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rp->text, sizeof(rp->text), fmt, ap);
	va_end(ap);
	rp->code = code;
	free(rp->payload);
	rp->payload = NULL;
	rp->plen = 0;
}

/* An error as a reply: the code from the one vt_err mapping
 * (vt__grpc_code), the text formatted, or the error's own when fmt is
 * NULL. */
static void reply_err(reply *rp, vt_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_err(reply *rp, vt_err err, const char *fmt, ...)
{
	if (fmt == NULL) {
		reply_fail(rp, vt__grpc_code(err), "%s", vt_strerror(err));
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rp->text, sizeof(rp->text), fmt, ap);
	va_end(ap);
	rp->code = vt__grpc_code(err);
	free(rp->payload);
	rp->payload = NULL;
	rp->plen = 0;
}

/* An encoder that failed on our own snapshot is an internal error,
 * whatever its vt_err says (VT_ETOOBIG: a response over 64 MiB). */
static void reply_encoded(reply *rp, vt_err err, uint8_t *bytes, size_t len)
{
	if (err != VT_OK) {
		reply_fail(rp, VT__GRPC_INTERNAL, "encoding the response: %s",
			   vt_strerror(err));
		return;
	}
	rp->code = VT__GRPC_OK;
	rp->payload = bytes;
	rp->plen = len;
}

/* Copies untrusted text for an error message: printable ASCII, others
 * as '?', at most 64 bytes. */
static const char *printable(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	if (s == NULL)
		s = "";
	for (; *s != '\0' && o + 1 < cap && o < 64; s++)
		dst[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (*s != '\0' && o + 4 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* ---- methods ----------------------------------------------------------- */

static void do_grpc_check(rpc_ctx *c, reply *rp)
{
	char *service = NULL;
	if (vt__pb_grpc_check_req_decode(c->env.payload, c->env.plen,
					 &service) != VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed grpc.health.v1.HealthCheckRequest");
		return;
	}
	vt__health_query q = {.filter = {.name = service[0] ? service : NULL},
			      .mode = VT_RUN_FRESH};
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(c->rpc->svc, &q, &s);
	/* A name no check can have is as unknown as any other. */
	if (err == VT_EINVAL && service[0] != '\0')
		err = VT_ENOENT;
	if (err == VT_OK && service[0] != '\0' && s->ncomponents != 1)
		err = VT_ENOENT;
	if (err == VT_ENOENT) {
		char buf[80];
		reply_err(rp, err, "unknown service \"%s\"",
			  printable(buf, sizeof(buf), service));
	} else if (err != VT_OK) {
		reply_err(rp, err, NULL);
	} else {
		vt_status st =
		    service[0] != '\0' ? s->components[0].status : s->status;
		uint8_t *b = NULL;
		size_t n = 0;
		vt_err e =
		    vt__pb_grpc_check_resp_encode(vt__grpc_serving(st), &b, &n);
		reply_encoded(rp, e, b, n);
	}
	vt_health_snapshot_free(s);
	free(service);
}

static void do_grpc_list(rpc_ctx *c, reply *rp)
{
	if (vt__pb_grpc_list_req_check(c->env.payload, c->env.plen) != VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed grpc.health.v1.HealthListRequest");
		return;
	}
	vt__health_query q = {.mode = VT_RUN_FRESH};
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(c->rpc->svc, &q, &s);
	if (err != VT_OK) {
		reply_err(rp, err, NULL);
		return;
	}
	uint8_t *b = NULL;
	size_t n = 0;
	err = vt__pb_grpc_list_resp_encode(s, &b, &n);
	vt_health_snapshot_free(s);
	reply_encoded(rp, err, b, n);
}

/* Decodes the vitals.v1.HealthCheckRequest into c->hreq once. */
static vt_err health_req(rpc_ctx *c)
{
	if (c->have_hreq)
		return VT_OK;
	vt_err err =
	    vt__pb_health_req_decode(c->env.payload, c->env.plen, &c->hreq);
	c->have_hreq = err == VT_OK;
	return err;
}

static void do_health(rpc_ctx *c, reply *rp)
{
	if (health_req(c) != VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed vitals.v1.HealthCheckRequest");
		return;
	}
	vt__health_query q = {.filter = c->hreq.filter, .mode = c->hreq.mode};
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(c->rpc->svc, &q, &s);
	if (err != VT_OK) {
		char buf[80];
		if (err == VT_ENOENT)
			reply_err(rp, err, "no check named \"%s\"",
				  printable(buf, sizeof(buf), q.filter.name));
		else if (err == VT_EINVAL)
			reply_err(rp, err,
				  "invalid filter: names and tags are 1..200 "
				  "bytes of [A-Za-z0-9_.:-]");
		else
			reply_err(rp, err, NULL);
		return;
	}
	uint8_t *b = NULL;
	size_t n = 0;
	err = vt__pb_health_encode(s, &b, &n);
	vt_health_snapshot_free(s);
	reply_encoded(rp, err, b, n);
}

static void do_metrics(rpc_ctx *c, reply *rp)
{
	vt__pb_metrics_req mr;
	if (vt__pb_metrics_req_decode(c->env.payload, c->env.plen, &mr) !=
	    VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed vitals.v1.MetricsGetRequest");
		return;
	}
	vt_metrics_snapshot *s = NULL;
	vt_err err = vt__service_metrics(c->rpc->svc, &mr.filter, &s);
	vt__pb_metrics_req_fini(&mr);
	if (err != VT_OK) {
		reply_err(rp, err,
			  err == VT_EINVAL ? "invalid label filter" : NULL);
		return;
	}
	uint8_t *b = NULL;
	size_t n = 0;
	err = vt__pb_metrics_encode(s, &b, &n);
	vt_metrics_snapshot_free(s);
	reply_encoded(rp, err, b, n);
}

typedef struct route {
	const char *method;
	void (*fn)(rpc_ctx *c, reply *rp);
} route;

static const route routes[] = {
    {VT__M_HEALTH, do_health},
    {VT__M_METRICS, do_metrics},
    {VT__M_GRPC_CHECK, do_grpc_check},
    {VT__M_GRPC_LIST, do_grpc_list},
};

static const route *route_of(const char *method)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
	return NULL;
}

/* Whether answering may wait on a check: then it goes to the pool. */
static bool may_block(rpc_ctx *c, const route *rt)
{
	if (rt->fn == do_metrics)
		return false;
	if (rt->fn == do_health)
		return health_req(c) == VT_OK && c->hreq.mode != VT_RUN_CACHED;
	return true;
}

/* ---- the state machine ------------------------------------------------- */

static void arm_recv(rpc_ctx *c)
{
	c->state = ST_RECV;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

/* Ends the handling of c's request: releases what it decoded and its
 * place in the service. */
static void handled(rpc_ctx *c)
{
	if (c->have_hreq) {
		vt__pb_health_req_fini(&c->hreq);
		c->have_hreq = false;
	}
	vt__pb_request_fini(&c->env);
	if (c->entered) {
		vt__service_leave(c->rpc->svc);
		c->entered = false;
	}
}

/* The context is done with its request (sent or dropped): receives the
 * next one unless the server stops. */
static void finish(rpc_ctx *c)
{
	vt__rpc *r = c->rpc;
	pthread_mutex_lock(&r->mtx);
	bool stopping = r->stopping;
	if (--r->busy == 0)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->mtx);
	if (!stopping)
		arm_recv(c);
	else
		c->state = ST_RECV;
}

/* Packs rp into c->msg (the request message, reused) and sends it. */
static void send_reply(rpc_ctx *c, reply *rp)
{
	nng_msg *m = c->msg;
	c->msg = NULL;
	handled(c);
	vt__pb_response resp = {.code = rp->code,
				.message = rp->code != 0 ? rp->text : NULL,
				.payload = rp->payload,
				.plen = rp->plen};
	size_t size = vt__pb_response_size(&resp);
	size_t len = 0;
	if (nng_msg_realloc(m, size) != 0) {
		/* No memory for the answer: try a short 13. */
		free(rp->payload);
		rp->payload = NULL;
		resp = (vt__pb_response){.code = VT__GRPC_INTERNAL,
					 .message = "out of memory"};
		size = vt__pb_response_size(&resp);
		if (nng_msg_realloc(m, size) != 0) {
			nng_msg_free(m);
			finish(c);
			return;
		}
	}
	vt__pb_response_pack(&resp, nng_msg_body(m), size, &len);
	nng_msg_chop(m, nng_msg_len(m) - len);
	free(rp->payload);
	rp->payload = NULL;

	c->state = ST_SEND;
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

static void work_task(void *arg)
{
	rpc_ctx *c = arg;
	reply rp = {0};
	const route *rt = route_of(c->env.method);
	rt->fn(c, &rp);
	send_reply(c, &rp);
}

static void on_request(rpc_ctx *c)
{
	vt__rpc *r = c->rpc;
	reply rp = {0};
	c->msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	memset(&c->env, 0, sizeof(c->env));
	c->have_hreq = false;
	c->entered = false;

	pthread_mutex_lock(&r->mtx);
	bool stopping = r->stopping;
	r->busy++;
	pthread_mutex_unlock(&r->mtx);
	if (stopping) {
		reply_err(&rp, VT_ECLOSED, "server is stopping");
		send_reply(c, &rp);
		return;
	}

	size_t len = nng_msg_len(c->msg);
	if (len > r->max_msg) {
		reply_err(&rp, VT_ETOOBIG,
			  "request of %zu bytes is over the limit of %zu bytes",
			  len, r->max_msg);
		send_reply(c, &rp);
		return;
	}
	if (vt__pb_request_decode(nng_msg_body(c->msg), len, &c->env) !=
	    VT_OK) {
		reply_err(&rp, VT_EPROTO,
			  "malformed request: not a vitals.v1.Request");
		send_reply(c, &rp);
		return;
	}
	if (c->env.method[0] == '\0') {
		reply_err(&rp, VT_EPROTO, "malformed request: no method");
		send_reply(c, &rp);
		return;
	}
	const route *rt = route_of(c->env.method);
	if (rt == NULL) {
		char buf[80];
		reply_fail(&rp, VT__GRPC_UNIMPLEMENTED, "unknown method \"%s\"",
			   printable(buf, sizeof(buf), c->env.method));
		send_reply(c, &rp);
		return;
	}
	vt_err err = vt__service_enter(r->svc);
	if (err != VT_OK) {
		reply_err(&rp, err, "server is shutting down");
		send_reply(c, &rp);
		return;
	}
	c->entered = true;
	if (may_block(c, rt)) {
		/* busy > 0 and not stopping: the pool outlives this. It has
		 * a thread and a queue slot per context, so it is never
		 * full. */
		c->state = ST_WORK;
		err = vt_pool_submit(r->pool, work_task, c);
		if (err == VT_OK)
			return;
		reply_err(&rp, err, NULL);
		send_reply(c, &rp);
		return;
	}
	rt->fn(c, &rp);
	send_reply(c, &rp);
}

static void ctx_cb(void *arg)
{
	rpc_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	switch (c->state) {
	case ST_RECV:
		if (rv == 0) {
			on_request(c);
		} else if (rv != NNG_ECLOSED && rv != NNG_ECANCELED) {
			/* A failed receive (e.g. NNG_ENOMEM): go on. */
			arm_recv(c);
		}
		break;
	case ST_SEND:
		if (rv != 0 && nng_aio_get_msg(c->aio) != NULL) {
			/* Not sent: the message is still ours. */
			nng_msg_free(nng_aio_get_msg(c->aio));
		}
		nng_aio_set_msg(c->aio, NULL);
		finish(c);
		break;
	case ST_WORK:
		/* No aio operation is pending while the pool works. */
		break;
	}
}

/* ---- start and stop ---------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *url, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "rpc %s: %s", url, what);
}

static vt_err nng_err(int rv)
{
	switch (rv) {
	case NNG_ENOMEM:
		return VT_ENOMEM;
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_EINVAL:
		return VT_EINVAL;
	default:
		return VT_EUNAVAIL;
	}
}

vt_err vt__rpc_start(vt__rpc **out, vt__service *svc, const char *url,
		     unsigned contexts, size_t max_msg, char *err,
		     size_t errlen)
{
	if (out == NULL || svc == NULL || url == NULL) {
		set_err(err, errlen, url ? url : "(null)", "invalid argument");
		return VT_EINVAL;
	}
	if (contexts == 0)
		contexts = 16;
	if (max_msg == 0)
		max_msg = (size_t)1 << 20;
	vt__rpc *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		set_err(err, errlen, url, "out of memory");
		return VT_ENOMEM;
	}
	r->svc = svc;
	r->n = contexts;
	r->max_msg = max_msg;
	if (pthread_mutex_init(&r->mtx, NULL) != 0) {
		free(r);
		set_err(err, errlen, url, "out of memory");
		return VT_ENOMEM;
	}
	if (pthread_cond_init(&r->idle, NULL) != 0) {
		pthread_mutex_destroy(&r->mtx);
		free(r);
		set_err(err, errlen, url, "out of memory");
		return VT_ENOMEM;
	}
	r->sync_init = true;

	vt_err e = VT_ENOMEM;
	int rv;
	nng_listener l;
	if ((r->ctxs = calloc(contexts, sizeof(*r->ctxs))) == NULL)
		goto fail_vt;
	if ((e = vt_pool_alloc(&r->pool, contexts, contexts)) != VT_OK)
		goto fail_vt;
	if ((rv = nng_rep0_open(&r->sock)) != 0)
		goto fail_nng;
	r->sock_open = true;
	/* nng drops what is past twice the limit unread; between the two
	 * the request gets its error Response (see rpc.h). */
	size_t hard = max_msg <= SIZE_MAX / 2 ? max_msg * 2 : SIZE_MAX;
	if ((rv = nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, hard)) != 0)
		goto fail_nng;
	if ((rv = nng_listener_create(&l, r->sock, url)) != 0)
		goto fail_nng;
	/* Transports that have the option take it on the listener too. */
	rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, hard);
	if (rv != 0 && rv != NNG_ENOTSUP)
		goto fail_nng;
	for (unsigned i = 0; i < contexts; i++) {
		rpc_ctx *c = &r->ctxs[i];
		c->rpc = r;
		c->state = ST_RECV;
		if ((rv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0)
			goto fail_nng;
		/* Closed with the socket. */
		if ((rv = nng_ctx_open(&c->ctx, r->sock)) != 0)
			goto fail_nng;
	}
	if ((rv = nng_listener_start(l, 0)) != 0)
		goto fail_nng;
	if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &r->port) != 0)
		r->port = 0;
	for (unsigned i = 0; i < contexts; i++)
		arm_recv(&r->ctxs[i]);
	*out = r;
	return VT_OK;

fail_nng:
	e = nng_err(rv);
	set_err(err, errlen, url, nng_strerror(rv));
	vt__rpc_free(r);
	return e;
fail_vt:
	set_err(err, errlen, url, vt_strerror(e));
	vt__rpc_free(r);
	return e;
}

void vt__rpc_stop(vt__rpc *r)
{
	if (r == NULL || r->stopped)
		return;
	r->stopped = true;
	pthread_mutex_lock(&r->mtx);
	r->stopping = true;
	while (r->busy > 0)
		pthread_cond_wait(&r->idle, &r->mtx);
	pthread_mutex_unlock(&r->mtx);
	/* Idle now: nothing is queued or running. */
	vt_pool_free(r->pool);
	r->pool = NULL;
	if (r->sock_open) {
		nng_close(r->sock);
		r->sock_open = false;
	}
	for (unsigned i = 0; r->ctxs != NULL && i < r->n; i++)
		if (r->ctxs[i].aio != NULL)
			nng_aio_stop(r->ctxs[i].aio);
}

void vt__rpc_free(vt__rpc *r)
{
	if (r == NULL)
		return;
	vt__rpc_stop(r);
	for (unsigned i = 0; r->ctxs != NULL && i < r->n; i++) {
		rpc_ctx *c = &r->ctxs[i];
		/* Every message was taken, sent or freed by its step. */
		if (c->aio != NULL)
			nng_aio_free(c->aio);
	}
	free(r->ctxs);
	if (r->sync_init) {
		pthread_cond_destroy(&r->idle);
		pthread_mutex_destroy(&r->mtx);
	}
	free(r);
}

int vt__rpc_port(const vt__rpc *r)
{
	return r != NULL ? r->port : 0;
}
