/*
 * rpc.c - the nng req/rep RPC server. See rpc.h for the contract.
 *
 * One request is answered by vt__rpc_handle, socket-free: decode the
 * envelope, route the method, call the service, pack the Response into
 * the request's nng_msg (its body is replaced; nng keeps the backtrace
 * header it needs). Each of the N contexts is a state machine on one
 * nng_aio around it:
 *
 *   RECV --(request)--> vt__rpc_handle(nowait) answers? ----> SEND
 *                       may run checks? pool task: WORK:
 *                       vt__rpc_handle(wait) ---------------> SEND
 *   SEND --(sent or failed)--> RECV (unless stopping)
 *
 * The step that owns a context (its aio callback, or the pool task it
 * handed the request to) is the only code touching its fields; the hand
 * over goes through the pool's mutex or nng, which order memory.
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

#include "core/err.h"
#include "encode/admin.h"
#include "encode/protobuf.h"
#include "health/registry.h"
#include "server/answer_cache.h"
#include "server/connlimit.h"
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
	nng_msg *msg; /* the request, reused for the reply */
	bool entered; /* counted in the service */
} rpc_ctx;

struct vt__rpc {
	vt__service *svc;     /* immutable */
	nng_socket sock;      /* immutable after start */
	bool sock_open;	      /* owner only */
	size_t max_msg;	      /* immutable */
	unsigned n;	      /* immutable */
	rpc_ctx *ctxs;	      /* [n], immutable after start */
	vt_pool *pool;	      /* immutable until stop frees it */
	vt__connlimit *limit; /* immutable; freed after the socket */
	vt__acache *cache;    /* immutable; thread-safe */
	int port;	      /* immutable after start */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned busy;	/* protected by mtx */
	bool stopping;	/* protected by mtx */
	bool stopped;	/* owner only */
	bool sync_init; /* mtx and idle exist; owner only */
};

/* One request being answered by vt__rpc_handle. */
typedef struct call {
	vt__service *svc;
	vt__acache *cache;	/* NULL = none */
	vt__pb_request env;	/* decoded envelope */
	vt__pb_health_req hreq; /* vitals.v1.Health/Check, when decoded */
	bool have_hreq;
	vt__access access; /* by the envelope's token */
} call;

/* What a handler answers. */
typedef struct reply {
	uint32_t code;
	char text[1024];  /* room for a refused config's reason */
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

static void do_grpc_check(call *c, reply *rp)
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
	vt_err err = vt__service_health(c->svc, &q, &s);
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

static void do_grpc_list(call *c, reply *rp)
{
	if (vt__pb_grpc_list_req_check(c->env.payload, c->env.plen) != VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed grpc.health.v1.HealthListRequest");
		return;
	}
	vt__health_query q = {.mode = VT_RUN_FRESH};
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(c->svc, &q, &s);
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
static vt_err health_req(call *c)
{
	if (c->have_hreq)
		return VT_OK;
	vt_err err =
	    vt__pb_health_req_decode(c->env.payload, c->env.plen, &c->hreq);
	c->have_hreq = err == VT_OK;
	return err;
}

static void do_health(call *c, reply *rp)
{
	if (health_req(c) != VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed vitals.v1.HealthCheckRequest");
		return;
	}
	vt__health_query q = {.filter = c->hreq.filter,
			      .mode = c->hreq.mode,
			      .withhold = c->access != VT__ACCESS_FULL};
	/* The plain cached question: answer_cache.h, one slot per access. */
	const vt_health_filter *f = &q.filter;
	bool plain = c->cache != NULL && q.mode == VT_RUN_CACHED &&
		     (f->name == NULL || f->name[0] == '\0') &&
		     (f->tag == NULL || f->tag[0] == '\0') && f->nexclude == 0;
	unsigned slot = q.withhold ? 1 : 0;
	uint64_t epoch = 0;
	if (plain) {
		char *b = NULL;
		size_t n = 0;
		uint16_t unused;
		/* Read before the snapshot (see answer_cache.h). */
		epoch = vt__health_epoch(c->svc->health);
		if (vt__acache_get(c->cache, slot, epoch, &b, &n, &unused)) {
			reply_encoded(rp, VT_OK, (uint8_t *)b, n);
			return;
		}
	}
	vt_health_snapshot *s = NULL;
	vt_err err = vt__service_health(c->svc, &q, &s);
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
	if (err == VT_OK && plain)
		vt__acache_put(c->cache, slot, epoch, b, n, 0);
	reply_encoded(rp, err, b, n);
}

static void do_metrics(call *c, reply *rp)
{
	if (c->access != VT__ACCESS_FULL) {
		reply_err(rp, VT_EAUTH, "metrics need the server's token");
		return;
	}
	vt__pb_metrics_req mr;
	if (vt__pb_metrics_req_decode(c->env.payload, c->env.plen, &mr) !=
	    VT_OK) {
		reply_err(rp, VT_EPROTO,
			  "malformed vitals.v1.MetricsGetRequest");
		return;
	}
	vt_metrics_snapshot *s = NULL;
	vt_err err = vt__service_metrics(c->svc, &mr.filter, &s);
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

/* Full access is needed to change anything. */
static bool admin_allowed(call *c, reply *rp)
{
	if (c->access == VT__ACCESS_FULL)
		return true;
	reply_err(rp, VT_EAUTH, "%s needs the server's token", c->env.method);
	return false;
}

static void do_beat(call *c, reply *rp)
{
	char *name = NULL, buf[80];
	if (!admin_allowed(c, rp))
		return;
	if (vt__pb_beat_req_decode(c->env.payload, c->env.plen, &name) !=
	    VT_OK) {
		reply_err(rp, VT_EPROTO, "malformed vitals.v1.BeatRequest");
		return;
	}
	vt_err err = vt__service_beat(c->svc, name);
	if (err == VT_ENOENT)
		reply_err(rp, err, "no check named \"%s\"",
			  printable(buf, sizeof(buf), name));
	else if (err == VT_EINVAL)
		reply_err(rp, err, "\"%s\" is not a heartbeat check",
			  printable(buf, sizeof(buf), name));
	else if (err != VT_OK)
		reply_err(rp, err, NULL);
	else
		reply_encoded(rp, VT_OK, NULL, 0);
	free(name);
}

static void do_silence(call *c, reply *rp)
{
	char *name = NULL, buf[80];
	int64_t ms = 0;
	if (!admin_allowed(c, rp))
		return;
	if (vt__pb_silence_req_decode(c->env.payload, c->env.plen, &name,
				      &ms) != VT_OK) {
		reply_err(rp, VT_EPROTO, "malformed vitals.v1.SilenceRequest");
		return;
	}
	vt_err err = vt__service_silence(c->svc, name, ms);
	if (err == VT_ENOENT)
		reply_err(rp, err, "no check named \"%s\"",
			  printable(buf, sizeof(buf), name));
	else if (err == VT_EINVAL)
		reply_err(rp, err, "invalid silence");
	else if (err != VT_OK)
		reply_err(rp, err, NULL);
	else
		reply_encoded(rp, VT_OK, NULL, 0);
	free(name);
}

/* Applies the program's configuration again (vitals/reload.h): the
 * changes, or 3 with the reason a config was refused; 12 for a server
 * without a reload function (the library with no config file). */
static void do_reload(call *c, reply *rp)
{
	if (!admin_allowed(c, rp))
		return;
	if (vt__pb_reload_req_check(c->env.payload, c->env.plen) != VT_OK) {
		reply_err(rp, VT_EPROTO, "malformed vitals.v1.ReloadRequest");
		return;
	}
	if (c->svc->reload == NULL) {
		reply_fail(rp, VT__GRPC_UNIMPLEMENTED,
			   "reload is not supported: this server has no "
			   "config file to read again");
		return;
	}
	vt_reload_report rep;
	char why[sizeof(rp->text) - 64];
	vt_err err = vt__service_reload(c->svc, &rep, why, sizeof(why));
	if (err != VT_OK) {
		reply_err(rp, err,
			  "reload refused, the running config stays: %s", why);
		return;
	}
	uint8_t *b = NULL;
	size_t n = 0;
	err = vt__pb_reload_resp_encode(&rep, &b, &n);
	vt_reload_report_fini(&rep);
	reply_encoded(rp, err, b, n);
}

/* Same content, cap and token rule as GET /health/NAME/history
 * (pages.c), through the one service call. */
static void do_history(call *c, reply *rp)
{
	if (c->access != VT__ACCESS_FULL) {
		reply_err(rp, VT_EAUTH, "history needs the server's token");
		return;
	}
	vt__pb_history_req hr = {0};
	if (vt__pb_history_req_decode(c->env.payload, c->env.plen, &hr) !=
	    VT_OK) {
		reply_err(rp, VT_EPROTO, "malformed vitals.v1.HistoryRequest");
		return;
	}
	long limit = hr.limit == 0 ? VT__HISTORY_DEFAULT_LIMIT : (long)hr.limit;
	vt_history_result *rs = NULL;
	size_t n = 0;
	char buf[80];
	vt_err err =
	    vt__service_history(c->svc, hr.name, hr.since, limit, &rs, &n);
	if (err == VT_EUNAVAIL)
		reply_err(rp, VT_ENOENT, "no history is kept");
	else if (err == VT_ENOENT && hr.name == NULL)
		reply_err(rp, VT_EINVAL, "a check name is required");
	else if (err == VT_ENOENT)
		reply_err(rp, err, "no check named \"%s\"",
			  printable(buf, sizeof(buf), hr.name));
	else if (err == VT_EINVAL)
		reply_err(rp, err, "since must be Unix seconds >= 0");
	else if (err != VT_OK)
		reply_err(rp, err, NULL);
	if (err == VT_OK) {
		uint8_t *b = NULL;
		size_t len = 0;
		err = vt__pb_history_encode(hr.name, rs, n, &b, &len);
		reply_encoded(rp, err, b, len);
	}
	vt_history_list_free(rs);
	vt__pb_history_req_fini(&hr);
}

typedef struct route {
	const char *method;
	void (*fn)(call *c, reply *rp);
} route;

static const route routes[] = {
    {VT__M_HEALTH, do_health},	     {VT__M_METRICS, do_metrics},
    {VT__M_HISTORY, do_history},     {VT__M_GRPC_CHECK, do_grpc_check},
    {VT__M_GRPC_LIST, do_grpc_list}, {VT__M_BEAT, do_beat},
    {VT__M_SILENCE, do_silence},     {VT__M_RELOAD, do_reload},
};

static const route *route_of(const char *method)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
	return NULL;
}

/* Whether answering may wait on a check or a file: then it goes to the
 * pool. A caller without the token is refused at once by the methods
 * that need it: such requests never take a worker. */
static bool may_block(call *c, const route *rt)
{
	if (rt->fn == do_metrics || rt->fn == do_beat || rt->fn == do_silence)
		return false;
	if ((rt->fn == do_history || rt->fn == do_reload) &&
	    c->access != VT__ACCESS_FULL)
		return false;
	if (rt->fn == do_health)
		return health_req(c) == VT_OK && c->hreq.mode != VT_RUN_CACHED;
	return true;
}

/* Replaces m's body with the packed Response rp, or a short 13 when
 * that does not fit in memory, and frees rp's payload. false, with m as
 * it was, when not even the 13 fits. */
static bool reply_pack(reply *rp, nng_msg *m)
{
	vt__pb_response resp = {.code = rp->code,
				.message = rp->code != 0 ? rp->text : NULL,
				.payload = rp->payload,
				.plen = rp->plen};
	size_t size = vt__pb_response_size(&resp);
	bool ok = nng_msg_realloc(m, size) == 0;
	if (!ok) {
		resp = (vt__pb_response){.code = VT__GRPC_INTERNAL,
					 .message = "out of memory"};
		size = vt__pb_response_size(&resp);
		ok = nng_msg_realloc(m, size) == 0;
	}
	if (ok) {
		size_t len = 0;
		vt__pb_response_pack(&resp, nng_msg_body(m), size, &len);
		nng_msg_chop(m, nng_msg_len(m) - len);
	}
	free(rp->payload);
	rp->payload = NULL;
	return ok;
}

bool vt__rpc_handle(vt__service *svc, vt__acache *cache, size_t max_msg,
		    nng_msg *msg, bool nowait, bool *entered)
{
	call c = {.svc = svc, .cache = cache};
	reply rp = {0};
	size_t len = nng_msg_len(msg);
	const route *rt = NULL;
	vt_err err;
	bool waits = false;
	if (len > max_msg) {
		reply_err(&rp, VT_ETOOBIG,
			  "request of %zu bytes is over the limit of %zu bytes",
			  len, max_msg);
	} else if (vt__pb_request_decode(nng_msg_body(msg), len, &c.env) !=
		   VT_OK) {
		reply_err(&rp, VT_EPROTO,
			  "malformed request: not a vitals.v1.Request");
	} else if (c.env.method[0] == '\0') {
		reply_err(&rp, VT_EPROTO, "malformed request: no method");
	} else if ((rt = route_of(c.env.method)) == NULL) {
		char buf[80];
		reply_fail(&rp, VT__GRPC_UNIMPLEMENTED, "unknown method \"%s\"",
			   printable(buf, sizeof(buf), c.env.method));
	} else if ((c.access = vt__service_access(svc, c.env.token,
						  strlen(c.env.token))) ==
		   VT__ACCESS_DENIED) {
		reply_err(&rp, VT_EAUTH, "invalid token");
	} else if (!*entered && (err = vt__service_enter(svc)) != VT_OK) {
		reply_err(&rp, err, "server is shutting down");
	} else {
		*entered = true;
		if (nowait && may_block(&c, rt))
			waits = true;
		else
			rt->fn(&c, &rp);
	}
	if (c.have_hreq)
		vt__pb_health_req_fini(&c.hreq);
	vt__pb_request_fini(&c.env);
	return !waits && reply_pack(&rp, msg);
}

/* ---- the state machine ------------------------------------------------- */

static void arm_recv(rpc_ctx *c)
{
	c->state = ST_RECV;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
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

/* Sends c->msg, which holds the Response, after the request has left
 * the service; or drops it when answered is false (no memory for even
 * an error Response). */
static void send_reply(rpc_ctx *c, bool answered)
{
	nng_msg *m = c->msg;
	c->msg = NULL;
	if (c->entered) {
		vt__service_leave(c->rpc->svc);
		c->entered = false;
	}
	if (!answered) {
		nng_msg_free(m);
		finish(c);
		return;
	}
	c->state = ST_SEND;
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

/* Answers c's request with the error rp. */
static void send_error(rpc_ctx *c, reply *rp)
{
	send_reply(c, reply_pack(rp, c->msg));
}

static void work_task(void *arg)
{
	rpc_ctx *c = arg;
	send_reply(c,
		   vt__rpc_handle(c->rpc->svc, c->rpc->cache, c->rpc->max_msg,
				  c->msg, false, &c->entered));
}

static void on_request(rpc_ctx *c)
{
	vt__rpc *r = c->rpc;
	reply rp = {0};
	c->msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	c->entered = false;

	pthread_mutex_lock(&r->mtx);
	bool stopping = r->stopping;
	r->busy++;
	pthread_mutex_unlock(&r->mtx);
	if (stopping) {
		reply_err(&rp, VT_ECLOSED, "server is stopping");
		send_error(c, &rp);
		return;
	}
	if (vt__rpc_handle(r->svc, r->cache, r->max_msg, c->msg, true,
			   &c->entered)) {
		send_reply(c, true);
		return;
	}
	if (!c->entered) {
		/* Not even an error Response fit in memory. */
		send_reply(c, false);
		return;
	}
	/* It may wait on a check: to the pool. busy > 0 and not stopping:
	 * the pool outlives this. It has a thread and a queue slot per
	 * context, so it is never full. */
	c->state = ST_WORK;
	vt_err err = vt_pool_submit(r->pool, work_task, c);
	if (err == VT_OK)
		return;
	reply_err(&rp, err, NULL);
	send_error(c, &rp);
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

vt_err vt__rpc_start(vt__rpc **out, vt__service *svc, const char *url,
		     unsigned contexts, size_t max_msg, unsigned max_conns,
		     char *err, size_t errlen)
{
	return vt__rpc_start_tls(out, svc, url, contexts, max_msg, max_conns,
				 NULL, err, errlen);
}

vt_err vt__rpc_start_tls(vt__rpc **out, vt__service *svc, const char *url,
			 unsigned contexts, size_t max_msg, unsigned max_conns,
			 nng_tls_config *tls, char *err, size_t errlen)
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
	(void)vt_pool_set_name(r->pool, "vt-rpc");
	if ((rv = nng_rep0_open(&r->sock)) != 0)
		goto fail_nng;
	r->sock_open = true;
	/* nng drops what is past twice the limit unread; between the two
	 * the request gets its error Response (see rpc.h). */
	size_t hard = max_msg <= SIZE_MAX / 2 ? max_msg * 2 : SIZE_MAX;
	if ((rv = nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, hard)) != 0)
		goto fail_nng;
	if ((e = vt__connlimit_attach(&r->limit, r->sock, max_conns)) != VT_OK)
		goto fail_vt;
	if ((e = vt__acache_alloc(&r->cache, 2)) != VT_OK)
		goto fail_vt;
	if ((rv = nng_listener_create(&l, r->sock, url)) != 0)
		goto fail_nng;
	if (tls != NULL &&
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls)) != 0)
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
	e = vt__err_from_nng(rv);
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
	vt__connlimit_free(r->limit); /* the socket is closed */
	vt__acache_free(r->cache);
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
