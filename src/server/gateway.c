/*
 * gateway.c - vitals over HTTP: nng HTTP handlers that turn a request
 * into a service call (service.h) and its answer into JSON, the IETF
 * health-check format or Prometheus text (the encoders of encode.h).
 *
 * Every handler takes all methods and no body (nng reads none), so that
 * 405 (with Allow), 413 and 404 are answered here as JSON: nng's own
 * error pages carry HTML content types. A request with a body we did not
 * read is answered with "Connection: close".
 *
 * vt__gw_answer turns a request's route, method, URI and headers into
 * status, content type and body, touching no connection; the handlers
 * wrap it. What the URI and Accept header ask for is read by request.c;
 * this file keeps the headers' checks, access, answers, transport and
 * lifetimes. What cannot block - a cached /health, /metrics, every error -
 * is answered on the nng callback; a fresh /health, which may wait for the
 * largest check timeout, is started there and answered by the end of its
 * run (vt__service_health_async), on the thread that ends it: the check
 * worker that ran the batch, or at a deadline the registry's watcher
 * (health/waiter.h), so it costs no thread of its own while it waits
 * and no hand-off to one. With history kept its answer must wait for the
 * commit: then it goes to the routes' own worker pool. Either way
 * the response is written by us (nng_http_conn_write_res on the
 * request's connection) and the handler's aio is finished only once the
 * write is done, with no response (or an error, to close the
 * connection). So a request counted in-flight (vt__service_enter/leave)
 * has been answered on the wire when it leaves, and graceful shutdown
 * cuts none off; it costs no extra hop over handing nng the response.
 *
 * The stand-alone gateway (vt__gateway_start) does not use nng's HTTP
 * server: its connections are httpd.c's (capped, timed out; see the
 * decision there), which hands each request in and takes the answer
 * out - gw_serve routes it (vt__req_route, as nng would), answers it
 * with vt__gw_answer on the transport's thread, a fresh /health from the
 * end of its run as above (with history, on the gateway's pool), and the
 * request leaves the service once the transport has written the answer.
 * Routes added here serve on both.
 *
 * Lifetime: each handler's data is the routes object, and its data
 * destructor (called by nng once the handler is freed and no callback
 * holds it) counts it out; vt__routes_detach removes the handlers and
 * waits for that count to reach zero before freeing. After finishing a
 * handler's aio nothing here touches the routes again.
 */
#include "server/gateway.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "encode/textfmt.h"
#include "health/registry.h"
#include "server/answer_cache.h"
#include "server/pages.h"
#include "server/request.h"
#include "vitals/encode.h"
#include "vitals/pool.h"

#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_WORKERS	 8
#define QUEUE_CAP	 1024

#define CT_JSON "application/json"
#define CT_IETF "application/health+json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS                                                         \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_PROTOBUF                                                            \
	"application/vnd.google.protobuf; "                                    \
	"proto=io.prometheus.client.MetricFamily; encoding=delimited"

struct vt__routes {
	vt__service *svc;			    /* immutable after attach */
	nng_http_server *srv;			    /* immutable; not owned */
	int degraded_code;			    /* immutable */
	size_t max_body;			    /* immutable */
	vt_pool *pool;				    /* immutable until detach */
	vt__acache *cache;			    /* immutable; thread-safe */
	nng_http_handler *handlers[VT__GW_NROUTES]; /* owner thread only */
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	unsigned live; /* handlers nng has not destroyed; protected by mtx */
	pthread_mutex_t spare_mtx;
	struct gw_req *spare; /* idle request records; under spare_mtx */
	unsigned nspare;      /* protected by spare_mtx */
};

/* Idle request records kept, each with its write aio: allocating an
 * nng_aio per request and reaping it (nng_aio_reap wakes nng's reaper
 * thread) cost more than all the rest of a cached answer. */
#define SPARE_MAX 256

struct vt__gateway {
	vt__httpd *httpd; /* the transport; owns the connections */
	vt__service *svc;
	vt__acache *cache;
	vt_pool *pool; /* fresh /health */
	int degraded_code;
	size_t max_body;
	bool stopped;
};

/* A fresh /health answered once its run ends, on the thread that ends
 * it: whoever asks fills send and a (its head and close); the rest is
 * the query's. */
typedef struct gw_later gw_later;
struct gw_later {
	/* Gives the answer to the transport; l is not touched after. */
	void (*send)(gw_later *l, vt__gw_response *a);
	vt__gw_response a;
	bool one, withhold;
	vt__req_fmt fmt;
	int degraded_code;
};

/* One request on its connection, from its handler call to its answer. */
typedef struct gw_req {
	gw_later later; /* a fresh /health answered by its run's end */
	vt__routes *r;
	nng_aio *aio; /* the server's handler aio */
	nng_http_req *req;
	nng_http_conn *conn;
	nng_aio *waio;	   /* our write of the answer */
	nng_http_res *res; /* the answer being written */
	char *body;	   /* its body, when owned */
	vt__gw_route route;
	bool close;	     /* close the connection after the answer */
	bool entered;	     /* counted in by vt__service_enter */
	struct gw_req *next; /* in the spare list */
} gw_req;

/* One request as vt__gw_answer serves it. */
typedef struct gw_parse {
	vt__service *svc;
	vt__acache *cache; /* NULL = none */
	int degraded_code;
	vt__req rq; /* points into uri */
	char *uri;  /* the request URI, cut and decoded in place */
} gw_parse;

/* An answer before it becomes an nng response. */
typedef vt__gw_response answer;

/* ---- answers ---------------------------------------------------------- */

static void answer_static(answer *a, uint16_t status, const char *json)
{
	a->status = status;
	a->ctype = CT_JSON;
	a->body = (char *)json;
	a->len = strlen(json);
	a->owned = false;
}

/* {"error":"<msg>"} with msg escaped; a fixed text if memory runs out. */
static void answer_error(answer *a, uint16_t status, const char *msg)
{
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, 64 * 1024);
	vt__tw_init(&w, &b);
	VT__TW_LIT(&w, "{\"error\":\"");
	vt__tw_escape(&w, msg, VT__ESC_JSON);
	VT__TW_LIT(&w, "\"}");
	vt__tw_flush(&w);
	char *out;
	size_t len;
	if (vt__buf_take(&b, &out, &len) != VT_OK) {
		answer_static(a, 500, "{\"error\":\"out of memory\"}");
		return;
	}
	a->status = status;
	a->ctype = CT_JSON;
	a->body = out;
	a->len = len;
	a->owned = true;
}

static void answer_free(answer *a)
{
	if (a->owned)
		free(a->body);
	a->body = NULL;
	a->owned = false;
}

/* The response for a: status, Content-Type, Allow, Connection and the
 * body (none for HEAD, Content-Length kept). It points at a->body,
 * which must outlive the write. NULL when out of memory. */
static nng_http_res *build_res(const answer *a, bool head, bool close)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0)
		return NULL;
	int rv;
	if ((rv = nng_http_res_set_status(res, a->status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", a->ctype)) !=
		0 ||
	    (a->allow != NULL &&
	     (rv = nng_http_res_set_header(res, "Allow", a->allow)) != 0) ||
	    (close &&
	     (rv = nng_http_res_set_header(res, "Connection", "close")) != 0) ||
	    (a->www_auth != NULL &&
	     (rv = nng_http_res_set_header(res, "WWW-Authenticate",
					   a->www_auth)) != 0))
		goto fail;
	/* (NULL, len): headers only, with the body's Content-Length. */
	rv = nng_http_res_set_data(res, head ? NULL : a->body, a->len);
	if (rv != 0)
		goto fail;
	return res;
fail:
	nng_http_res_free(res);
	return NULL;
}

/* ---- encoding --------------------------------------------------------- */

static uint16_t status_code(int degraded_code, vt_status st)
{
	switch (st) {
	case VT_HEALTHY:
		return 200;
	case VT_DEGRADED:
		return (uint16_t)degraded_code;
	default:
		return 503;
	}
}

/* The cache slot of a plain cached /health, /livez or /readyz (no name,
 * tag or exclude of the caller's) in JSON or IETF; -1 for any other. */
static int cache_slot(const gw_parse *c)
{
	const vt_health_filter *f = &c->rq.q.filter;
	if (c->cache == NULL || c->rq.q.mode != VT_RUN_CACHED || c->rq.one ||
	    f->name != NULL || f->nexclude != 0 || c->rq.fmt == VT__REQ_PROM ||
	    (c->rq.route == VT__GW_HEALTH && f->tag != NULL) ||
	    c->rq.route > VT__GW_READYZ)
		return -1;
	return (int)vt__gw_cache_slot(
	    (unsigned)c->rq.route, c->rq.fmt == VT__REQ_IETF, c->rq.q.withhold);
}

/* The answer to a health query from its run's result: the snapshot s
 * (freed here) on VT_OK, else the error (name: the query's check, for
 * VT_ENOENT's message). one: /health/NAME, fmt: JSON or IETF. true
 * when s was encoded; false for an error answer. */
static bool answer_snapshot(answer *a, vt_err rv, vt_health_snapshot *s,
			    const char *name, bool one, vt__req_fmt fmt,
			    int degraded_code)
{
	if (rv == VT_ENOENT) {
		char msg[256];
		snprintf(msg, sizeof(msg), "unknown check \"%s\"",
			 name != NULL ? name : "");
		answer_error(a, 404, msg);
		return false;
	}
	if (rv == VT_EINVAL) {
		answer_static(a, 400, "{\"error\":\"bad filter value\"}");
		return false;
	}
	if (rv != VT_OK) {
		answer_error(a, 500, vt_strerror(rv));
		return false;
	}
	const vt_component *cs = s->components;
	size_t n = s->ncomponents;
	vt_status st = s->status;
	if (one) {
		if (n != 1) {
			vt_health_snapshot_free(s);
			answer_static(a, 404, "{\"error\":\"not found\"}");
			return false;
		}
		st = cs[0].status;
	}
	if (fmt == VT__REQ_IETF)
		rv = vt_ietf_health(cs, n, st, &a->body, &a->len);
	else if (one)
		rv = vt_json_component(&cs[0], &a->body, &a->len);
	else
		rv = vt_json_health(s, &a->body, &a->len);
	vt_health_snapshot_free(s);
	if (rv != VT_OK) {
		answer_error(a, 500, vt_strerror(rv));
		return false;
	}
	a->owned = true;
	a->status = status_code(degraded_code, st);
	a->ctype = fmt == VT__REQ_IETF ? CT_IETF : CT_JSON;
	return true;
}

/* Runs or reads the checks and encodes them, or reuses the encoded
 * answer (answer_cache.h). May block (fresh). */
static void answer_health(gw_parse *c, answer *a)
{
	int slot = cache_slot(c);
	uint64_t epoch = 0;
	if (slot >= 0) {
		/* Read before the snapshot: a change after it makes the
		 * stored answer older than its epoch says, never newer. */
		epoch = vt__health_epoch(c->svc->health);
		if (vt__acache_get(c->cache, (unsigned)slot, epoch, &a->body,
				   &a->len, &a->status)) {
			a->owned = true;
			a->ctype =
			    c->rq.fmt == VT__REQ_IETF ? CT_IETF : CT_JSON;
			return;
		}
	}
	vt_health_snapshot *s = NULL;
	vt_err rv = vt__service_health(c->svc, &c->rq.q, &s);
	if (answer_snapshot(a, rv, s, c->rq.q.filter.name, c->rq.one, c->rq.fmt,
			    c->degraded_code) &&
	    slot >= 0)
		vt__acache_put(c->cache, (unsigned)slot, epoch, a->body, a->len,
			       a->status);
}

static void fresh_done(vt_health_snapshot *s, vt_err rv, void *arg)
{
	gw_later *l = arg;
	if (s != NULL && l->withhold)
		vt__service_withhold(s);
	answer a = l->a;
	(void)answer_snapshot(&a, rv, s, NULL, l->one, l->fmt,
			      l->degraded_code);
	l->send(l, &a);
}

/* Starts c's fresh run without waiting for it (vt__service_health_async):
 * true once l will be answered (and may be already), false with *a set
 * when the answer is known now, false with a untouched when the run
 * must be waited for on a thread that may block (history kept). */
static bool answer_fresh_later(gw_parse *c, answer *a, gw_later *l, bool *waits)
{
	l->a = (answer){.head = a->head, .close = a->close};
	l->one = c->rq.one;
	l->withhold = c->rq.q.withhold;
	l->fmt = c->rq.fmt;
	l->degraded_code = c->degraded_code;
	vt_err rv = vt__service_health_async(c->svc, &c->rq.q, fresh_done, l);
	if (rv == VT_OK)
		return true;
	if (rv == VT_EUNAVAIL)
		*waits = true;
	else
		(void)answer_snapshot(a, rv, NULL, c->rq.q.filter.name,
				      c->rq.one, c->rq.fmt, c->degraded_code);
	return false;
}

/* The /metrics cache slot of c's format; -1 with a filter (the slot
 * keeps the unfiltered answer). */
static int metrics_slot(const gw_parse *c)
{
	const vt_metrics_filter *f = &c->rq.mf;
	if (c->cache == NULL || f->name != NULL || f->name_prefix != NULL ||
	    f->nlabels != 0)
		return -1;
	switch (c->rq.fmt) {
	case VT__REQ_JSON:
		return 0;
	case VT__REQ_PROM:
		return 1;
	case VT__REQ_OPENMETRICS:
		return 2;
	case VT__REQ_PROTOBUF:
		return 3;
	default:
		return -1;
	}
}

static vt_err encode_metrics(vt__req_fmt fmt, const vt_metrics_snapshot *s,
			     char **out, size_t *len)
{
	switch (fmt) {
	case VT__REQ_PROM:
		return vt_prom_metrics(s, out, len);
	case VT__REQ_OPENMETRICS:
		return vt_openmetrics_metrics(s, out, len);
	case VT__REQ_PROTOBUF:
		return vt_promproto_metrics(s, out, len);
	default:
		return vt_json_metrics(s, out, len);
	}
}

/* Merges and encodes the selected metrics, or reuses the answer encoded
 * from an equal snapshot (answer_cache.h). Never blocks. */
static void answer_metrics(gw_parse *c, answer *a)
{
	vt_metrics_snapshot *s = NULL;
	vt_err rv = vt__service_metrics(c->svc, &c->rq.mf, &s);
	if (rv != VT_OK) {
		answer_error(a, 500, vt_strerror(rv));
		return;
	}
	int slot = metrics_slot(c);
	if (slot >= 0 && vt__acache_metrics_get(c->cache, (unsigned)slot, s,
						&a->body, &a->len)) {
		vt_metrics_snapshot_free(s);
	} else {
		rv = encode_metrics(c->rq.fmt, s, &a->body, &a->len);
		if (rv == VT_OK && slot >= 0)
			vt__acache_metrics_put(c->cache, (unsigned)slot, s,
					       a->body, a->len);
		else
			vt_metrics_snapshot_free(s);
		if (rv != VT_OK) {
			answer_error(a, 500, vt_strerror(rv));
			return;
		}
	}
	a->owned = true;
	a->status = 200;
	static const char *const ctypes[] = {[VT__REQ_JSON] = CT_JSON,
					     [VT__REQ_PROM] = CT_PROM,
					     [VT__REQ_OPENMETRICS] =
						 CT_OPENMETRICS,
					     [VT__REQ_PROTOBUF] = CT_PROTOBUF};
	a->ctype = ctypes[c->rq.fmt];
}

/* ---- delivery ------------------------------------------------------- */

static void write_done(void *arg);

/* An idle request record with its write aio, or NULL out of memory. */
static gw_req *req_get(vt__routes *r)
{
	pthread_mutex_lock(&r->spare_mtx);
	gw_req *c = r->spare;
	if (c != NULL) {
		r->spare = c->next;
		r->nspare--;
	}
	pthread_mutex_unlock(&r->spare_mtx);
	if (c != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (nng_aio_alloc(&c->waio, write_done, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* Gives c back. Its write aio may still be inside write_done: nng lets
 * another thread start a new operation on it then (the aio counts its
 * callbacks), and nothing of c is touched here after it is listed. */
static void req_put(vt__routes *r, gw_req *c)
{
	nng_aio *waio = c->waio;
	*c = (gw_req){.waio = waio};
	pthread_mutex_lock(&r->spare_mtx);
	if (r->nspare < SPARE_MAX) {
		c->next = r->spare;
		r->spare = c;
		r->nspare++;
		c = NULL;
	}
	pthread_mutex_unlock(&r->spare_mtx);
	if (c != NULL) {
		nng_aio_reap(waio);
		free(c);
	}
}

/* The request is over: it leaves the service (if it entered), then the
 * server's aio finishes with no response (ours went out already), or
 * with an error, which makes nng close the connection. The last thing
 * done for a request; nothing of the routes is touched after. */
static void req_done(gw_req *c, int rv)
{
	nng_aio *aio = c->aio;
	vt__routes *r = c->r;
	vt__service *svc = c->entered ? r->svc : NULL;
	bool close = c->close;
	if (c->res != NULL)
		nng_http_res_free(c->res);
	free(c->body);
	req_put(r, c);
	if (svc != NULL)
		vt__service_leave(svc);
	nng_aio_set_output(aio, 0, NULL);
	nng_aio_finish(aio, rv != 0 ? rv : close ? NNG_ECLOSED : 0);
}

static void write_done(void *arg)
{
	gw_req *c = arg;
	req_done(c, nng_aio_result(c->waio));
}

/* Writes a as the response, taking its body. */
static void deliver(gw_req *c, answer *a)
{
	c->close = a->close;
	nng_http_res *res = build_res(a, a->head, a->close);
	if (res == NULL) {
		answer_free(a);
		req_done(c, NNG_ENOMEM);
		return;
	}
	c->res = res;
	c->body = a->owned ? a->body : NULL;
	nng_http_conn_write_res(c->conn, res, c->waio);
}

/* What vt__gw_answer needs of c's request. */
static void request_of(const gw_req *c, vt__gw_request *rq)
{
	nng_http_req *req = c->req;
	*rq = (vt__gw_request){
	    .route = c->route,
	    .method = nng_http_req_get_method(req),
	    .uri = nng_http_req_get_uri(req),
	    .version = nng_http_req_get_version(req),
	    .accept = nng_http_req_get_header(req, "Accept"),
	    .connection = nng_http_req_get_header(req, "Connection"),
	    .content_length = nng_http_req_get_header(req, "Content-Length"),
	    .transfer_encoding =
		nng_http_req_get_header(req, "Transfer-Encoding"),
	    .authorization = nng_http_req_get_header(req, "Authorization"),
	};
}

/* A fresh /health on the routes' pool: may wait for the checks. */
static void worker(void *arg)
{
	gw_req *c = arg;
	vt__gw_request rq;
	answer a;
	request_of(c, &rq);
	vt__gw_answer(c->r->svc, c->r->cache, c->r->degraded_code,
		      c->r->max_body, &rq, false, &c->entered, &a);
	deliver(c, &a);
}

/* ---- the handlers ----------------------------------------------------- */

/* Parses Content-Length strictly: digits only. */
static bool parse_length(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Whether s holds t anywhere, ignoring case: how nng decides to close
 * the connection after a request's "Connection" header (http_server.c),
 * so the response must say "close" then too. */
static bool has_text(const char *s, const char *t)
{
	size_t tl = strlen(t);
	for (; *s != '\0'; s++)
		if (strncasecmp(s, t, tl) == 0)
			return true;
	return false;
}

/* The NAME of "/health/NAME/beat" (in name[cap]); false for any other
 * path. */
static bool beat_path(const char *uri, char *name, size_t cap)
{
	const char *p = "/health/", *tail = "/beat";
	size_t pl = strlen(p), tl = strlen(tail), ul = strlen(uri);
	if (ul <= pl + tl || strncmp(uri, p, pl) != 0 ||
	    strcmp(uri + ul - tl, tail) != 0)
		return false;
	/* A name too long for any check is still a beat's path: "" names
	 * no check (404), so the method rules stay the same for it. */
	size_t nl = ul - pl - tl < cap ? ul - pl - tl : 0;
	memcpy(name, uri + pl, nl);
	name[nl] = '\0';
	return true;
}

/* What the request's headers decide before any service call: whether
 * the connection must close after it, and 400/413/404/405. false with
 * *a set when the request is refused. */
static bool precheck(const vt__gw_request *rq, size_t max_body, answer *a)
{
	const char *v;
	/* nng closes after HTTP/1.0 and "Connection: close"; the response
	 * must say so. */
	if (rq->version == NULL || strcmp(rq->version, "HTTP/1.1") != 0)
		a->close = true;
	if ((v = rq->connection) != NULL && has_text(v, "close"))
		a->close = true;

	/* No handler here reads a body: refuse a large one, and do not
	 * read the next request from the middle of a small one. */
	if (rq->transfer_encoding != NULL)
		a->close = true;
	if ((v = rq->content_length) != NULL) {
		uint64_t n;
		if (!parse_length(v, &n)) {
			a->close = true;
			answer_static(a, 400,
				      "{\"error\":\"bad Content-Length\"}");
			return false;
		}
		if (n > max_body) {
			a->close = true;
			answer_static(a, 413,
				      "{\"error\":\"request body too large\"}");
			return false;
		}
		if (n > 0)
			a->close = true;
	}
	if (rq->route == VT__GW_OTHER && !vt__pages_match(rq->uri)) {
		answer_static(a, 404, "{\"error\":\"not found\"}");
		return false;
	}
	char beat[256];
	bool is_beat = beat_path(rq->uri, beat, sizeof(beat));
	if (!a->head && strcmp(rq->method, "GET") != 0 &&
	    !(strcmp(rq->method, "POST") == 0 && is_beat)) {
		answer_static(a, 405, "{\"error\":\"method not allowed\"}");
		a->allow = is_beat ? "POST" : "GET, HEAD";
		return false;
	}
	return true;
}

/* The caller's access by its Authorization header (RFC 6750): the
 * "Bearer" scheme in any case, then the token; any other value is a
 * wrong token. */
static vt__access access_of(vt__service *svc, const char *auth)
{
	if (svc->token == NULL)
		return VT__ACCESS_FULL;
	if (auth == NULL)
		return VT__ACCESS_STATUS;
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return VT__ACCESS_DENIED;
	const char *t = auth + 7;
	while (*t == ' ')
		t++;
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	return n > 0 ? vt__service_access(svc, t, n) : VT__ACCESS_DENIED;
}

#define WWW_AUTH_NEEDED	 "Bearer realm=\"vitals\""
#define WWW_AUTH_INVALID "Bearer realm=\"vitals\", error=\"invalid_token\""

/* URIs up to this long are parsed on the stack. */
#define URI_STACK 512

/* POST /health/NAME/beat: a heartbeat check's beat. The token is
 * required when one is set. true with *a set when rq was a beat. */
static bool answer_beat(vt__service *svc, const vt__gw_request *rq, answer *a)
{
	char name[256];
	if (rq->route != VT__GW_HEALTH ||
	    !beat_path(rq->uri, name, sizeof(name)))
		return false;
	if (strcmp(rq->method, "POST") != 0) {
		answer_static(a, 405,
			      "{\"error\":\"method not allowed: "
			      "beats are POST\"}");
		a->allow = "POST";
		return true;
	}
	vt__access acc = access_of(svc, rq->authorization);
	if (acc != VT__ACCESS_FULL) {
		answer_static(a, 401,
			      "{\"error\":\"beats need the server's "
			      "token\"}");
		a->www_auth = acc == VT__ACCESS_DENIED ? WWW_AUTH_INVALID
						       : WWW_AUTH_NEEDED;
		return true;
	}
	switch (name[0] == '\0' ? VT_ENOENT : vt__service_beat(svc, name)) {
	case VT_OK:
		answer_static(a, 200, "{\"ok\":true}");
		break;
	case VT_ENOENT:
		answer_static(a, 404, "{\"error\":\"no such check\"}");
		break;
	case VT_EINVAL:
		answer_static(a, 400, "{\"error\":\"not a heartbeat check\"}");
		break;
	default:
		answer_static(a, 500, "{\"error\":\"beat not recorded\"}");
	}
	return true;
}

/* How gw_answer left a request. */
typedef enum gw_outcome {
	GW_ANSWERED, /* *out is the answer */
	GW_WAITS,    /* nowait, and it must wait: nothing was done */
	GW_LATER,    /* a fresh run answers it through later->send */
} gw_outcome;

/* vt__gw_answer, and with later (and nowait) a fresh /health is
 * started and answered by the run's end instead of waited for, when
 * nothing else of it may block (no history). */
static gw_outcome gw_answer(vt__service *svc, vt__acache *cache,
			    int degraded_code, size_t max_body,
			    const vt__gw_request *rq, bool nowait,
			    bool *entered, vt__gw_response *out,
			    gw_later *later)
{
	answer a = {.head = strcmp(rq->method, "HEAD") == 0};
	gw_parse c = {
	    .svc = svc, .cache = cache, .degraded_code = degraded_code};
	char ubuf[URI_STACK];
	size_t ulen = strlen(rq->uri);
	bool waits = false, started = false;
	vt__access acc;
	if (!precheck(rq, max_body, &a) || answer_beat(svc, rq, &a))
		goto done;
	if ((acc = access_of(svc, rq->authorization)) == VT__ACCESS_DENIED) {
		answer_static(&a, 401, "{\"error\":\"invalid token\"}");
		a.www_auth = WWW_AUTH_INVALID;
		goto done;
	}
	if (acc != VT__ACCESS_FULL && rq->route == VT__GW_METRICS) {
		answer_static(&a, 401,
			      "{\"error\":\"metrics need the server's "
			      "token\"}");
		a.www_auth = WWW_AUTH_NEEDED;
		goto done;
	}
	if (!*entered) {
		if (vt__service_enter(svc) != VT_OK) {
			a.close = true;
			answer_static(&a, 503, "{\"error\":\"shutting down\"}");
			goto done;
		}
		*entered = true;
	}
	if ((rq->route == VT__GW_HEALTH || rq->route == VT__GW_OTHER) &&
	    vt__pages_match(rq->uri)) {
		/* History, status page, badges: they read the database. */
		waits = nowait;
		if (!nowait)
			vt__pages_answer(svc, rq->uri, acc == VT__ACCESS_FULL,
					 &a);
		if (a.status == 401)
			a.www_auth = WWW_AUTH_NEEDED;
		goto done;
	}
	c.uri = ulen < sizeof(ubuf) ? ubuf : malloc(ulen + 1);
	if (c.uri == NULL) {
		answer_static(&a, 500, "{\"error\":\"out of memory\"}");
		goto done;
	}
	memcpy(c.uri, rq->uri, ulen + 1);
	vt__req_refusal why;
	bool parsed = vt__req_parse(&c.rq, rq->route, c.uri, rq->accept,
				    svc->live_tag, svc->ready_tag, &why);
	c.rq.q.withhold = acc != VT__ACCESS_FULL;
	if (!parsed) {
		answer_static(&a, why.status, why.body);
	} else if (rq->route == VT__GW_METRICS) {
		answer_metrics(&c, &a);
	} else if (c.rq.q.mode == VT_RUN_CACHED || !nowait) {
		answer_health(&c, &a);
	} else if (later != NULL) {
		/* later may be answered, and gone, once this returns true */
		if (answer_fresh_later(&c, &a, later, &waits))
			started = true;
	} else {
		waits = true; /* fresh: may wait up to the largest timeout */
	}
	if (c.uri != ubuf)
		free(c.uri);
done:
	if (started)
		return GW_LATER;
	if (waits)
		return GW_WAITS;
	*out = a;
	return GW_ANSWERED;
}

bool vt__gw_answer(vt__service *svc, vt__acache *cache, int degraded_code,
		   size_t max_body, const vt__gw_request *rq, bool nowait,
		   bool *entered, vt__gw_response *out)
{
	return gw_answer(svc, cache, degraded_code, max_body, rq, nowait,
			 entered, out, NULL) == GW_ANSWERED;
}

void vt__gw_response_fini(vt__gw_response *res)
{
	if (res != NULL)
		answer_free(res);
}

/* A fresh run's end answers its request (gw_later.send). */
static void later_deliver(gw_later *l, answer *a)
{
	deliver((gw_req *)(void *)((char *)l - offsetof(gw_req, later)), a);
}

/* Every route's callback: on nng's thread, so nothing here blocks. A
 * fresh /health is answered by the end of its run, on the thread that
 * ends it (with history, on the pool: it may wait); everything else is
 * answered here. */
static void on_request(nng_aio *aio, vt__gw_route route)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	vt__routes *r = nng_http_handler_get_data(h);
	gw_req *c = req_get(r);
	if (c == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	c->r = r;
	c->aio = aio;
	c->req = nng_aio_get_input(aio, 0);
	c->conn = nng_aio_get_input(aio, 2);
	c->route = route;

	c->later.send = later_deliver;

	vt__gw_request rq;
	answer a;
	request_of(c, &rq);
	switch (gw_answer(c->r->svc, c->r->cache, c->r->degraded_code,
			  c->r->max_body, &rq, true, &c->entered, &a,
			  &c->later)) {
	case GW_LATER:
		return; /* c belongs to the run's end now */
	case GW_ANSWERED:
		break;
	case GW_WAITS:
		/* Fresh with history: may wait up to the largest check
		 * timeout. */
		if (vt_pool_submit(c->r->pool, worker, c) == VT_OK)
			return; /* c belongs to the worker now */
		a = (answer){.head = strcmp(rq.method, "HEAD") == 0,
			     .close = true};
		answer_static(&a, 503,
			      "{\"error\":\"too many requests in flight\"}");
		break;
	}
	deliver(c, &a);
}

static void on_health(nng_aio *aio)
{
	on_request(aio, VT__GW_HEALTH);
}

static void on_livez(nng_aio *aio)
{
	on_request(aio, VT__GW_LIVEZ);
}

static void on_readyz(nng_aio *aio)
{
	on_request(aio, VT__GW_READYZ);
}

static void on_metrics(nng_aio *aio)
{
	on_request(aio, VT__GW_METRICS);
}

static void on_other(nng_aio *aio)
{
	on_request(aio, VT__GW_OTHER);
}

static void (*const route_cbs[VT__GW_NROUTES])(nng_aio *) = {
    on_health, on_livez, on_readyz, on_metrics, on_other};

/* ---- routes ----------------------------------------------------------- */

/* nng destroyed a handler: no callback of it runs or will run. */
static void handler_gone(void *arg)
{
	vt__routes *r = arg;
	pthread_mutex_lock(&r->mtx);
	if (--r->live == 0)
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mtx);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Allocates route's handler and adds it to r's server, counted live.
 * On error err says why and nothing of it stays (its count is undone
 * by handler_gone when nng frees it). Owner thread only. */
static vt_err add_route(vt__routes *r, vt__gw_route route, char *err,
			size_t errlen)
{
	const char *path = vt__gw_route_paths[route];
	nng_http_handler *h;
	int nrv = nng_http_handler_alloc(&h, path, route_cbs[route]);
	if (nrv != 0)
		goto fail;
	if ((nrv = nng_http_handler_set_method(h, NULL)) != 0 ||
	    (nrv = nng_http_handler_collect_body(h, false, 0)) != 0 ||
	    ((route == VT__GW_HEALTH || route == VT__GW_OTHER) &&
	     (nrv = nng_http_handler_set_tree(h)) != 0) ||
	    (nrv = nng_http_handler_set_data(h, r, handler_gone)) != 0) {
		nng_http_handler_free(h);
		goto fail;
	}
	pthread_mutex_lock(&r->mtx);
	r->live++;
	pthread_mutex_unlock(&r->mtx);
	if ((nrv = nng_http_server_add_handler(r->srv, h)) != 0) {
		nng_http_handler_free(h); /* handler_gone runs */
		if (nrv == NNG_EADDRINUSE) {
			set_err(err, errlen, "address in use (route %s taken)",
				path);
			return VT_EEXIST;
		}
		goto fail;
	}
	r->handlers[route] = h;
	return VT_OK;
fail:
	set_err(err, errlen, "handler %s: %s", path, nng_strerror(nrv));
	return vt__err_from_nng(nrv);
}

vt_err vt__routes_attach(vt__routes **out, nng_http_server *srv,
			 vt__service *svc, const vt__routes_opts *opts,
			 char *err, size_t errlen)
{
	vt__routes_opts o = {0};
	if (opts != NULL)
		o = *opts;
	if (out == NULL || srv == NULL || svc == NULL ||
	    (o.degraded_code != 0 &&
	     (o.degraded_code < 200 || o.degraded_code > 599))) {
		set_err(err, errlen, "invalid routes options");
		return VT_EINVAL;
	}
	vt__routes *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return VT_ENOMEM;
	r->svc = svc;
	r->srv = srv;
	r->degraded_code = o.degraded_code != 0 ? o.degraded_code : 200;
	r->max_body = o.max_body != 0 ? o.max_body : DEFAULT_MAX_BODY;
	if (pthread_mutex_init(&r->mtx, NULL) != 0) {
		free(r);
		return VT_ENOMEM;
	}
	if (pthread_cond_init(&r->cv, NULL) != 0) {
		pthread_mutex_destroy(&r->mtx);
		free(r);
		return VT_ENOMEM;
	}
	if (pthread_mutex_init(&r->spare_mtx, NULL) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mtx);
		free(r);
		return VT_ENOMEM;
	}
	vt_err rv = vt_pool_alloc(
	    &r->pool, o.workers != 0 ? o.workers : DEFAULT_WORKERS, QUEUE_CAP);
	if (rv != VT_OK) {
		set_err(err, errlen, "worker pool: %s", vt_strerror(rv));
		r->pool = NULL;
		vt__routes_detach(r);
		return rv;
	}
	(void)vt_pool_set_name(r->pool, "vt-routes");
	if ((rv = vt__acache_alloc(&r->cache, VT__GW_CACHE_SLOTS)) != VT_OK) {
		set_err(err, errlen, "answer cache: %s", vt_strerror(rv));
		r->cache = NULL;
		vt__routes_detach(r);
		return rv;
	}
	for (int i = 0; i < VT__GW_NROUTES; i++) {
		if (i == VT__GW_OTHER && !o.catch_all)
			continue;
		if ((rv = add_route(r, (vt__gw_route)i, err, errlen)) !=
		    VT_OK) {
			vt__routes_detach(r);
			return rv;
		}
	}
	*out = r;
	return VT_OK;
}

void vt__routes_detach(vt__routes *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < VT__GW_NROUTES; i++) {
		if (r->handlers[i] == NULL)
			continue;
		/* The server hands its reference back; callbacks under way
		 * hold their own until their aio has finished. */
		if (nng_http_server_del_handler(r->srv, r->handlers[i]) == 0)
			nng_http_handler_free(r->handlers[i]);
		r->handlers[i] = NULL;
	}
	pthread_mutex_lock(&r->mtx);
	while (r->live > 0)
		pthread_cond_wait(&r->cv, &r->mtx);
	pthread_mutex_unlock(&r->mtx);
	vt_pool_free(r->pool);
	vt__acache_free(r->cache);
	/* nng_aio_free waits for a write_done still returning. */
	for (gw_req *c = r->spare, *next; c != NULL; c = next) {
		next = c->next;
		nng_aio_free(c->waio);
		free(c);
	}
	pthread_mutex_destroy(&r->spare_mtx);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mtx);
	free(r);
}

/* ---- the stand-alone gateway ----------------------------------------- */

/* One request past the transport's thread: a fresh /health answered by
 * its run's end (later) or, when it must wait, on the pool. */
typedef struct gw_job {
	gw_later later;
	vt__gateway *g;
	vt__httpd_conn *conn;
	const vt__httpd_req *rq;
	bool entered;
} gw_job;

static void leave_svc(void *svc)
{
	vt__service_leave(svc);
}

/* What vt__gw_answer needs of a transport request. */
static void request_of_httpd(const vt__httpd_req *h, vt__gw_request *rq)
{
	*rq = (vt__gw_request){
	    .route = vt__req_route(h->uri),
	    .method = h->method,
	    .uri = h->uri,
	    .version = h->version,
	    .accept = vt__httpd_header(h, "Accept"),
	    .connection = vt__httpd_header(h, "Connection"),
	    .content_length = vt__httpd_header(h, "Content-Length"),
	    .transfer_encoding = vt__httpd_header(h, "Transfer-Encoding"),
	    .authorization = vt__httpd_header(h, "Authorization"),
	};
}

/* Hands a to the transport (which copies it) and frees it; the request
 * leaves the service once the answer is written. */
static void gw_send(vt__gateway *g, vt__httpd_conn *conn, answer *a,
		    bool entered)
{
	char hdrs[256];
	snprintf(hdrs, sizeof(hdrs), "%s%s%s%s%s%s",
		 a->allow != NULL ? "Allow: " : "",
		 a->allow != NULL ? a->allow : "",
		 a->allow != NULL ? "\r\n" : "",
		 a->www_auth != NULL ? "WWW-Authenticate: " : "",
		 a->www_auth != NULL ? a->www_auth : "",
		 a->www_auth != NULL ? "\r\n" : "");
	vt__httpd_res res = {.status = a->status,
			     .ctype = a->ctype,
			     .headers = hdrs,
			     .body = a->body,
			     .len = a->len,
			     .head = a->head,
			     .close = a->close,
			     .sent = entered ? leave_svc : NULL,
			     .sent_arg = g->svc};
	vt__httpd_reply(conn, &res);
	answer_free(a);
}

/* A fresh /health on the gateway's pool: may wait for the checks. */
static void gw_worker(void *arg)
{
	gw_job *j = arg;
	vt__gw_request rq;
	answer a;
	request_of_httpd(j->rq, &rq);
	vt__gw_answer(j->g->svc, j->g->cache, j->g->degraded_code,
		      j->g->max_body, &rq, false, &j->entered, &a);
	vt__gateway *g = j->g;
	vt__httpd_conn *conn = j->conn;
	bool entered = j->entered;
	free(j);
	gw_send(g, conn, &a, entered);
}

/* A fresh run's end answers its request (gw_later.send). */
static void gw_later_send(gw_later *l, answer *a)
{
	gw_job *j = (gw_job *)(void *)((char *)l - offsetof(gw_job, later));
	vt__gateway *g = j->g;
	vt__httpd_conn *conn = j->conn;
	bool entered = j->entered;
	free(j);
	gw_send(g, conn, a, entered);
}

/* Every request of the transport, on its thread: what cannot block is
 * answered here; a fresh /health is answered by the end of its run, on
 * the thread that ends it, or, when it must wait (history), on the
 * pool. */
static void gw_serve(void *arg, vt__httpd_conn *conn, const vt__httpd_req *h)
{
	vt__gateway *g = arg;
	vt__gw_request rq;
	answer a;
	bool entered = false;
	request_of_httpd(h, &rq);
	gw_job *j = malloc(sizeof(*j));
	if (j == NULL) {
		if (vt__gw_answer(g->svc, g->cache, g->degraded_code,
				  g->max_body, &rq, true, &entered, &a)) {
			gw_send(g, conn, &a, entered);
			return;
		}
		goto busy;
	}
	*j = (gw_job){
	    .later = {.send = gw_later_send}, .g = g, .conn = conn, .rq = h};
	switch (gw_answer(g->svc, g->cache, g->degraded_code, g->max_body, &rq,
			  true, &j->entered, &a, &j->later)) {
	case GW_LATER:
		return; /* j belongs to the run's end now */
	case GW_ANSWERED:
		entered = j->entered;
		free(j);
		gw_send(g, conn, &a, entered);
		return;
	case GW_WAITS:
		if (vt_pool_submit(g->pool, gw_worker, j) == VT_OK)
			return; /* j belongs to the worker now */
		entered = j->entered;
		free(j);
		break;
	}
busy:
	a = (answer){.head = strcmp(rq.method, "HEAD") == 0, .close = true};
	answer_static(&a, 503, "{\"error\":\"too many requests in flight\"}");
	gw_send(g, conn, &a, entered);
}

/* Whether the "scheme://host:port[/]" url names its port (nng would
 * take 80 for a missing one). */
static bool has_port(const char *url)
{
	const char *h = strstr(url, "://") + 3;
	if (*h == '[') {
		h = strchr(h, ']');
		return h != NULL && h[1] == ':' && h[2] >= '0' && h[2] <= '9';
	}
	size_t n = strcspn(h, "/?#");
	const char *colon = memchr(h, ':', n);
	return colon != NULL && colon[1] >= '0' && colon[1] <= '9';
}

/* addr ("HOST:PORT", "http://HOST:PORT[/]" or "https://...") as the
 * transport's "tcp://HOST:PORT" in out, or "tls+tcp://..." when it is
 * to be served over TLS: https://, or no scheme and have_tls. false with
 * err set when it is not one, or https:// without have_tls. */
static bool listen_url(const char *addr, bool have_tls, char *out, size_t cap,
		       char *err, size_t errlen)
{
	char url[512];
	int n = snprintf(url, sizeof(url), "%s%s",
			 strstr(addr, "://") != NULL ? "" : "http://", addr);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		set_err(err, errlen, "address too long");
		return false;
	}
	nng_url *u;
	if (nng_url_parse(&u, url) != 0) {
		set_err(err, errlen, "%s: %s", addr, "invalid address");
		return false;
	}
	bool https = strcmp(u->u_scheme, "https") == 0;
	bool tls = https || (have_tls && strstr(addr, "://") == NULL);
	bool ok = (https || strcmp(u->u_scheme, "http") == 0) &&
		  u->u_hostname[0] != '\0' && has_port(url) &&
		  (u->u_path[0] == '\0' || strcmp(u->u_path, "/") == 0) &&
		  u->u_query == NULL;
	if (ok) {
		n = snprintf(out, cap, "%stcp://%s", tls ? "tls+" : "",
			     u->u_host);
		ok = n > 0 && (size_t)n < cap;
	}
	nng_url_free(u);
	if (!ok)
		set_err(err, errlen, "%s: %s", addr,
			"invalid address (want HOST:PORT)");
	else if (https && !have_tls)
		set_err(err, errlen, "%s: %s", addr,
			"https needs a TLS certificate and key");
	return ok && (have_tls || !https);
}

vt_err vt__gateway_start(vt__gateway **out, vt__service *svc, const char *addr,
			 int degraded_code, size_t max_body,
			 const vt__httpd_opts *limits, char *err, size_t errlen)
{
	if (out == NULL || svc == NULL || addr == NULL || addr[0] == '\0') {
		set_err(err, errlen, "no address");
		return VT_EINVAL;
	}
	char url[600];
	bool have_tls = limits != NULL && limits->tls != NULL;
	if (!listen_url(addr, have_tls, url, sizeof(url), err, errlen))
		return VT_EINVAL;
	vt__gateway *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return VT_ENOMEM;
	g->svc = svc;
	g->degraded_code = degraded_code != 0 ? degraded_code : 200;
	g->max_body = max_body != 0 ? max_body : DEFAULT_MAX_BODY;
	vt_err rv = vt_pool_alloc(&g->pool, DEFAULT_WORKERS, QUEUE_CAP);
	if (rv == VT_OK) {
		(void)vt_pool_set_name(g->pool, "vt-http");
		rv = vt__acache_alloc(&g->cache, VT__GW_CACHE_SLOTS);
	}
	if (rv != VT_OK) {
		set_err(err, errlen, "%s: %s", addr, vt_strerror(rv));
		vt__gateway_free(g);
		return rv;
	}
	vt__httpd_opts o = limits != NULL ? *limits : (vt__httpd_opts){0};
	o.max_body = g->max_body;
	if (strncmp(url, "tls+", 4) != 0)
		o.tls = NULL; /* an explicit http:// stays plain */
	char herr[200] = "";
	rv = vt__httpd_start(&g->httpd, url, &o, gw_serve, g, herr,
			     sizeof(herr));
	if (rv != VT_OK) {
		set_err(err, errlen, "%s: %s", addr, herr);
		g->httpd = NULL;
		vt__gateway_free(g);
		return rv;
	}
	*out = g;
	return VT_OK;
}

void vt__gateway_stop(vt__gateway *g)
{
	if (g == NULL || g->stopped)
		return;
	g->stopped = true;
	if (g->httpd != NULL)
		vt__httpd_stop(g->httpd);
}

void vt__gateway_free(vt__gateway *g)
{
	if (g == NULL)
		return;
	vt__gateway_stop(g);
	vt__httpd_free(g->httpd); /* every request answered */
	vt_pool_free(g->pool);
	vt__acache_free(g->cache);
	free(g);
}
