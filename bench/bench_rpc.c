/*
 * bench_rpc.c - round-trip latency and throughput of the nng RPC server
 * (vitals.v1.Health/Check cached, vitals.v1.Metrics/Get) against a bare
 * nng req/rep server that answers the same number of bytes, in one run.
 *
 * Servers, all in this process: a vt_server with only its RPC listener
 * (tcp://127.0.0.1:PORT, then ipc://), its default 16 contexts, over a
 * registry of four instant callback checks (run once before the server
 * starts, so the cache is warm; their interval is a day, so the cache
 * cannot go stale during the run) and a few metric families, plus the
 * vitals_check_* families the registry exports. The baseline ("echo") is
 * the bare nng rep0 server of nng's demo/async: 16 contexts, each
 * receiving a request and answering it by reusing the request message
 * with a constant body of the size of the vitals response. There are
 * two: one the size of the Health/Check response (the DESIGN.md target),
 * one the size of the Metrics/Get response.
 *
 * Clients: C threads (--threads, default 1,2,4,...,64), each with its
 * own nng req0 socket, dialled once before any timing, in a closed loop:
 * send the pre-encoded vitals.v1.Request, receive the reply, check its
 * size, time the round trip with CLOCK_MONOTONIC. The same code and the
 * same request bytes drive both servers; only the reply size differs
 * between Health/Check and Metrics/Get. A window lasts --duration-ms;
 * per window: p50 and p99 (nearest rank) of every round trip,
 * throughput = replies / window, and the process's CPU time per reply
 * (CLOCK_PROCESS_CPUTIME_ID: clients, servers and kernel work done on
 * their behalf), which other load on the machine skews much less than
 * requests/s. Each repeat runs every client count, and for each the
 * four servers one after another, vitals and its echo side by side (the
 * order within a pair alternates by repeat), so noise hits both alike.
 * Figures: p50 and p99 of the round trips of all --reps windows pooled
 * (each window weighs by its round trips); requests/s and CPU per reply:
 * medians over the windows (min-max), the requests/s ratio the median
 * of the per-repeat ratios.
 *
 * Targets (DESIGN.md): Health/Check p50 <= 1.15x the echo's (1 client,
 * pooled p50s); throughput with 64 clients >= 0.8x the echo's. --pin
 * is accepted and ignored: nng's own threads cannot be pinned, and
 * pinning only the clients would skew the comparison. --only tcp or
 * --only ipc picks a transport.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench_common.h"
#include "encode/protobuf.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

#define NCTX	    16 /* contexts of both servers (vt_server's default) */
#define MAX_REPS    64
#define MAX_CLIENTS 256
#define WARMUP	    20 /* untimed round trips per client and window */
#define IO_TIMEOUT  10000

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_rpc: %s: %s\n", what, why);
	exit(1);
}

static void die_nng(const char *what, int rv)
{
	die(what, nng_strerror(rv));
}

static void die_vt(const char *what, vt_err err)
{
	die(what, vt_strerror(err));
}

/* ---- the baseline: a bare nng rep0 server with a constant reply -------- */

typedef struct echo_srv echo_srv;

typedef struct echo_ctx {
	echo_srv *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int sending; /* owned by the context's callback */
} echo_ctx;

struct echo_srv {
	nng_socket sock;
	echo_ctx ctxs[NCTX];
	const uint8_t *body; /* the reply body; immutable */
	size_t len;
	char url[128];
};

static void echo_cb(void *arg)
{
	echo_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	if (c->sending) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		nng_aio_set_msg(c->aio, NULL);
		c->sending = 0;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	/* The reply reuses the request: nng keeps the backtrace header. */
	nng_msg *m = nng_aio_get_msg(c->aio);
	nng_msg_clear(m);
	if (nng_msg_append(m, c->srv->body, c->srv->len) != 0) {
		nng_msg_free(m);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	c->sending = 1;
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

/* url: "tcp://127.0.0.1:0" (the bound port goes into s->url) or ipc. */
static void echo_start(echo_srv *s, const char *url, const uint8_t *body,
		       size_t len)
{
	int rv;
	nng_listener l;
	memset(s, 0, sizeof *s);
	s->body = body;
	s->len = len;
	if ((rv = nng_rep0_open(&s->sock)) != 0)
		die_nng("echo: nng_rep0_open", rv);
	if ((rv = nng_listener_create(&l, s->sock, url)) != 0)
		die_nng("echo: nng_listener_create", rv);
	for (int i = 0; i < NCTX; i++) {
		echo_ctx *c = &s->ctxs[i];
		c->srv = s;
		if ((rv = nng_aio_alloc(&c->aio, echo_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, s->sock)) != 0)
			die_nng("echo: context", rv);
	}
	if ((rv = nng_listener_start(l, 0)) != 0)
		die_nng("echo: listen", rv);
	int port = 0;
	if (strncmp(url, "tcp://", 6) == 0 &&
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
		snprintf(s->url, sizeof s->url, "tcp://127.0.0.1:%d", port);
	else
		snprintf(s->url, sizeof s->url, "%s", url);
	for (int i = 0; i < NCTX; i++)
		nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
}

static void echo_stop(echo_srv *s)
{
	nng_close(s->sock);
	for (int i = 0; i < NCTX; i++) {
		nng_aio_stop(s->ctxs[i].aio);
		nng_aio_free(s->ctxs[i].aio);
	}
}

/* ---- clients ------------------------------------------------------------ */

static nng_socket client_open(const char *url)
{
	nng_socket s;
	int rv;
	if ((rv = nng_req0_open(&s)) != 0)
		die_nng("client: nng_req0_open", rv);
	if ((rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, IO_TIMEOUT)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, IO_TIMEOUT)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0)) != 0)
		die_nng("client: options", rv);
	if ((rv = nng_dial(s, url, NULL, 0)) != 0)
		die_nng(url, rv);
	return s;
}

/* One round trip; the reply's length in *rlen, or its bytes in *reply
 * (caller frees) when reply is not NULL. 0 or an nng error. */
static int round_trip(nng_socket s, const uint8_t *req, size_t len,
		      size_t *rlen, nng_msg **reply)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, len);
	if (rv != 0)
		return rv;
	memcpy(nng_msg_body(m), req, len);
	if ((rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	if ((rv = nng_recvmsg(s, &m, 0)) != 0)
		return rv;
	*rlen = nng_msg_len(m);
	if (reply != NULL)
		*reply = m;
	else
		nng_msg_free(m);
	return 0;
}

typedef struct worker {
	bench_team_arg ta; /* first */
	nng_socket sock;
	const uint8_t *req;
	size_t reqlen;
	size_t want;   /* reply length */
	uint32_t *lat; /* round trips, ns */
	size_t n, cap;
	int64_t t0, t1;
	long bad; /* replies of another length */
	int err;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	size_t rlen;
	for (int i = 0; i < WARMUP && w->err == 0; i++)
		w->err = round_trip(w->sock, w->req, w->reqlen, &rlen, NULL);
	bench_team_ready(&w->ta);
	w->t0 = bench_now_ns();
	while (w->err == 0 && !bench_team_stopped(w->ta.team)) {
		int64_t a = bench_now_ns();
		int rv = round_trip(w->sock, w->req, w->reqlen, &rlen, NULL);
		int64_t d = bench_now_ns() - a;
		if (rv != 0) {
			w->err = rv;
			break;
		}
		if (rlen != w->want)
			w->bad++;
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 4096;
			uint32_t *nl = realloc(w->lat, cap * sizeof *nl);
			if (nl == NULL) {
				w->err = NNG_ENOMEM;
				break;
			}
			w->lat = nl;
			w->cap = cap;
		}
		w->lat[w->n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
	w->t1 = bench_now_ns();
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Every round trip of one configuration over all repeats. */
typedef struct sample_pool {
	uint32_t *v;
	size_t n, cap;
} sample_pool;

static void pool_append(sample_pool *p, const uint32_t *v, size_t n)
{
	if (p->n + n > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < p->n + n)
			cap *= 2;
		uint32_t *nv = realloc(p->v, cap * sizeof *nv);
		if (nv == NULL)
			die("samples", "out of memory");
		p->v = nv;
		p->cap = cap;
	}
	memcpy(p->v + p->n, v, n * sizeof *v);
	p->n += n;
}

typedef struct window {
	double p50_us, p99_us, rps;
	double cpu_us; /* process CPU time (clients + servers) per reply */
	long n;
} window;

static int64_t cpu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A timed window: nclients threads on socks[0..nclients) for
 * duration_ms. Exits on any failed or wrong-sized reply. */
static window run_window(nng_socket *socks, int nclients, const uint8_t *req,
			 size_t reqlen, size_t want, int duration_ms,
			 sample_pool *pool, const char *what)
{
	static worker ws[MAX_CLIENTS];
	static pthread_t tids[MAX_CLIENTS];
	bench_team team;
	memset(ws, 0, sizeof ws);
	for (int i = 0; i < nclients; i++) {
		ws[i].sock = socks[i];
		ws[i].req = req;
		ws[i].reqlen = reqlen;
		ws[i].want = want;
	}
	if (bench_team_start(&team, tids, nclients, 0, worker_main, ws,
			     sizeof ws[0]) != 0)
		die(what, "cannot start the client threads");
	bench_team_go(&team);
	int64_t c0 = cpu_now_ns();
	bench_sleep_ms(duration_ms);
	bench_team_stop(&team);
	bench_team_join(&team, tids);
	int64_t c1 = cpu_now_ns();

	size_t total = 0;
	int64_t t0 = INT64_MAX, t1 = INT64_MIN;
	for (int i = 0; i < nclients; i++) {
		if (ws[i].err != 0)
			die(what, nng_strerror(ws[i].err));
		if (ws[i].bad != 0) {
			fprintf(stderr,
				"bench_rpc: %s: %ld replies not of %zu bytes\n",
				what, ws[i].bad, want);
			exit(1);
		}
		total += ws[i].n;
		t0 = ws[i].t0 < t0 ? ws[i].t0 : t0;
		t1 = ws[i].t1 > t1 ? ws[i].t1 : t1;
	}
	window r = {NAN, NAN, NAN, NAN, (long)total};
	if (total == 0) {
		for (int i = 0; i < nclients; i++)
			free(ws[i].lat);
		die(what, "no round trip completed in the window");
	}
	uint32_t *all = malloc(total * sizeof *all);
	if (all == NULL)
		die(what, "out of memory");
	size_t k = 0;
	for (int i = 0; i < nclients; i++) {
		memcpy(all + k, ws[i].lat, ws[i].n * sizeof *all);
		k += ws[i].n;
		free(ws[i].lat);
	}
	qsort(all, total, sizeof *all, cmp_u32);
	size_t i50 = (size_t)ceil(0.50 * (double)total) - 1;
	size_t i99 = (size_t)ceil(0.99 * (double)total) - 1;
	r.p50_us = all[i50] / 1e3;
	r.p99_us = all[i99] / 1e3;
	r.rps = (double)total / ((double)(t1 - t0) / 1e9);
	r.cpu_us = (double)(c1 - c0) / 1e3 / (double)total;
	pool_append(pool, all, total);
	free(all);
	return r;
}

/* ---- checking what vitals answers ------------------------------------ */

/* Decodes a Health/Check reply: code 0, every check healthy and fresh. */
static void check_health_reply(nng_msg *m, const char *what)
{
	vt__pb_response resp;
	vt_health_snapshot *s = NULL;
	if (vt__pb_response_decode(nng_msg_body(m), nng_msg_len(m), &resp) !=
	    VT_OK)
		die(what, "undecodable Response");
	if (resp.code != 0)
		die(what, resp.message ? resp.message : "error Response");
	if (vt__pb_health_decode(resp.payload, resp.plen, &s) != VT_OK)
		die(what, "undecodable HealthCheckResponse");
	if (s->status != VT_HEALTHY || s->ncomponents != BENCH_SERVED_CHECKS)
		die(what, "not every check is in the answer, healthy");
	for (size_t i = 0; i < s->ncomponents; i++)
		if (s->components[i].status != VT_HEALTHY ||
		    s->components[i].stale)
			die(what, "a component is not healthy or stale");
	vt__pb_health_free(s);
	vt__pb_response_fini(&resp);
}

static size_t check_metrics_reply(nng_msg *m, const char *what)
{
	vt__pb_response resp;
	vt_metrics_snapshot *s = NULL;
	if (vt__pb_response_decode(nng_msg_body(m), nng_msg_len(m), &resp) !=
	    VT_OK)
		die(what, "undecodable Response");
	if (resp.code != 0)
		die(what, resp.message ? resp.message : "error Response");
	if (vt__pb_metrics_decode(resp.payload, resp.plen, &s) != VT_OK)
		die(what, "undecodable MetricsGetResponse");
	size_t n = s->nfamilies;
	vt__pb_metrics_free(s);
	vt__pb_response_fini(&resp);
	return n;
}

/* ---- the runs -------------------------------------------------------------
 */

enum { K_VH, K_EH, K_VM, K_EM, K_N };

static const char *const kind_name[K_N] = {
    "vitals.v1.Health/Check (cached)", "echo, Health/Check size",
    "vitals.v1.Metrics/Get", "echo, Metrics/Get size"};
static const char *const kind_id[K_N] = {"vitals_health", "echo_health",
					 "vitals_metrics", "echo_metrics"};

typedef struct fixture {
	vt_health *health;
	vt_metrics *metrics;
	uint8_t *req_health, *req_metrics; /* vitals.v1.Request bytes */
	size_t req_health_len, req_metrics_len;
	size_t nfamilies;
} fixture;

/* A registry with its warm cache and the encoded requests. vt_server
 * shutdown marks the registry as shutting down for good, so each
 * transport gets a fixture of its own. */
static void fixture_init(fixture *fx)
{
	vt_err err;
	memset(fx, 0, sizeof *fx);
	if ((err = vt_metrics_alloc(&fx->metrics)) != VT_OK)
		die_vt("vt_metrics_alloc", err);
	vt_health_opts ho = {.workers = 2, .metrics = fx->metrics};
	if ((err = vt_health_alloc(&fx->health, &ho)) != VT_OK)
		die_vt("vt_health_alloc", err);
	const char *what;
	if ((err = bench_served_registry(fx->health, fx->metrics, &what)) !=
	    VT_OK)
		die_vt(what, err);
	vt_health_snapshot *snap;
	if ((err = vt_health_run(fx->health, NULL, VT_RUN_FRESH, &snap)) !=
	    VT_OK)
		die_vt("warming the cache", err);
	if (snap->status != VT_HEALTHY)
		die("warming the cache", "not healthy");
	vt_health_snapshot_free(snap);
	vt_metrics_snapshot *ms;
	if ((err = vt_metrics_snapshot_take(fx->metrics, NULL, &ms)) != VT_OK)
		die_vt("metrics snapshot", err);
	fx->nfamilies = ms->nfamilies;
	vt_metrics_snapshot_free(ms);

	uint8_t *p;
	size_t plen;
	if ((err = vt__pb_health_req_encode(NULL, VT_RUN_CACHED, &p, &plen)) !=
		VT_OK ||
	    (err = vt__pb_request_encode(VT__M_HEALTH, p, plen, NULL,
					 &fx->req_health,
					 &fx->req_health_len)) != VT_OK)
		die_vt("encoding the Health/Check request", err);
	free(p);
	if ((err = vt__pb_metrics_req_encode(NULL, &p, &plen)) != VT_OK ||
	    (err = vt__pb_request_encode(VT__M_METRICS, p, plen, NULL,
					 &fx->req_metrics,
					 &fx->req_metrics_len)) != VT_OK)
		die_vt("encoding the Metrics/Get request", err);
	free(p);
}

static void fixture_fini(fixture *fx)
{
	free(fx->req_health);
	free(fx->req_metrics);
	vt_health_free(fx->health);
	vt_metrics_free(fx->metrics);
}

/* The ipc socket files of this process, removed at exit (also after a
 * failure). */
static const char *const ipc_names[] = {"vitals", "echo-h", "echo-m"};

static void ipc_url(char *url, size_t len, const char *name)
{
	snprintf(url, len, "ipc:///tmp/vitals-bench-rpc-%d-%s.ipc",
		 (int)getpid(), name);
}

static void ipc_cleanup(void)
{
	for (size_t i = 0; i < sizeof ipc_names / sizeof ipc_names[0]; i++) {
		char url[128];
		ipc_url(url, sizeof url, ipc_names[i]);
		unlink(url + strlen("ipc://"));
	}
}

static int free_tcp_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Starts a vt_server with only RPC at url (for tcp, a free port is
 * found here; taken between finding and binding, another is tried). */
static vt_server *vitals_start(fixture *fx, const char *transport, char *url,
			       size_t urllen)
{
	char err[256];
	for (int attempt = 0; attempt < 10; attempt++) {
		if (strcmp(transport, "tcp") == 0) {
			int port = free_tcp_port();
			if (port < 0)
				die("free port", strerror(errno));
			snprintf(url, urllen, "tcp://127.0.0.1:%d", port);
		} else {
			ipc_url(url, urllen, "vitals");
			unlink(url + strlen("ipc://"));
		}
		vt_server_opts so = {.health = fx->health,
				     .metrics = fx->metrics,
				     .rpc_url = url};
		vt_server *s;
		vt_err e = vt_server_start(&s, &so, err, sizeof err);
		if (e == VT_OK)
			return s;
		if (strcmp(transport, "tcp") != 0)
			break;
	}
	die("vt_server_start", err);
	return NULL;
}

typedef struct results {
	window w[K_N][BENCH_MAX_LIST][MAX_REPS]; /* [kind][clients][rep] */
	sample_pool pool[K_N][BENCH_MAX_LIST];	 /* all repeats' samples */
	double p50_us[K_N][BENCH_MAX_LIST];	 /* of the pool */
	double p99_us[K_N][BENCH_MAX_LIST];
	size_t bytes[K_N]; /* reply sizes */
} results;

/* The pooled percentiles; frees the samples. */
static void pool_close(results *res, int nclients)
{
	for (int k = 0; k < K_N; k++)
		for (int ci = 0; ci < nclients; ci++) {
			sample_pool *p = &res->pool[k][ci];
			res->p50_us[k][ci] = res->p99_us[k][ci] = NAN;
			if (p->n > 0) {
				qsort(p->v, p->n, sizeof *p->v, cmp_u32);
				size_t i50 = (size_t)ceil(0.50 * (double)p->n);
				size_t i99 = (size_t)ceil(0.99 * (double)p->n);
				res->p50_us[k][ci] = p->v[i50 - 1] / 1e3;
				res->p99_us[k][ci] = p->v[i99 - 1] / 1e3;
			}
			free(p->v);
			*p = (sample_pool){0};
		}
}

static void run_transport(const bench_opts *o, fixture *fx,
			  const char *transport, results *res)
{
	char vurl[128];
	vt_server *vs = vitals_start(fx, transport, vurl, sizeof vurl);
	int maxc = 0;
	for (int i = 0; i < o->threads.n; i++)
		if (o->threads.v[i] > maxc)
			maxc = (int)o->threads.v[i];

	/* What vitals answers, checked, and its sizes. */
	nng_socket probe = client_open(vurl);
	nng_msg *m;
	size_t hlen, mlen;
	int rv;
	if ((rv = round_trip(probe, fx->req_health, fx->req_health_len, &hlen,
			     &m)) != 0)
		die_nng("Health/Check", rv);
	check_health_reply(m, "Health/Check");
	nng_msg_free(m);
	if ((rv = round_trip(probe, fx->req_metrics, fx->req_metrics_len, &mlen,
			     &m)) != 0)
		die_nng("Metrics/Get", rv);
	if (check_metrics_reply(m, "Metrics/Get") != fx->nfamilies)
		die("Metrics/Get", "not every metric family in the answer");
	nng_msg_free(m);
	res->bytes[K_VH] = res->bytes[K_EH] = hlen;
	res->bytes[K_VM] = res->bytes[K_EM] = mlen;

	/* The baselines: constant replies of those sizes. */
	uint8_t *hbody = calloc(1, hlen), *mbody = calloc(1, mlen);
	if (hbody == NULL || mbody == NULL)
		die("echo", "out of memory");
	static echo_srv eh, em;
	char url[128];
	if (strcmp(transport, "tcp") == 0) {
		echo_start(&eh, "tcp://127.0.0.1:0", hbody, hlen);
		echo_start(&em, "tcp://127.0.0.1:0", mbody, mlen);
	} else {
		ipc_url(url, sizeof url, "echo-h");
		unlink(url + strlen("ipc://"));
		echo_start(&eh, url, hbody, hlen);
		ipc_url(url, sizeof url, "echo-m");
		unlink(url + strlen("ipc://"));
		echo_start(&em, url, mbody, mlen);
	}

	/* Clients, dialled once. */
	nng_socket *cv = calloc((size_t)maxc, sizeof *cv);
	nng_socket *ch = calloc((size_t)maxc, sizeof *ch);
	nng_socket *cm = calloc((size_t)maxc, sizeof *cm);
	if (cv == NULL || ch == NULL || cm == NULL)
		die("clients", "out of memory");
	for (int i = 0; i < maxc; i++) {
		cv[i] = client_open(vurl);
		ch[i] = client_open(eh.url);
		cm[i] = client_open(em.url);
	}
	fprintf(stderr,
		"bench_rpc: %s: vitals %s, echoes %s and %s; replies %zu and "
		"%zu bytes\n",
		transport, vurl, eh.url, em.url, hlen, mlen);

	for (int r = 0; r < o->reps; r++) {
		for (int ci = 0; ci < o->threads.n; ci++) {
			int n = (int)o->threads.v[ci];
			/* vitals and its echo side by side; who goes first
			 * alternates. */
			int order[K_N] = {K_VH, K_EH, K_VM, K_EM};
			if (r % 2 == 1) {
				order[0] = K_EH;
				order[1] = K_VH;
				order[2] = K_EM;
				order[3] = K_VM;
			}
			for (int k = 0; k < K_N; k++) {
				int kind = order[k];
				char what[160];
				snprintf(what, sizeof what,
					 "%s %s, %d clients, repeat %d",
					 transport, kind_name[kind], n, r + 1);
				nng_socket *socks = kind == K_EH   ? ch
						    : kind == K_EM ? cm
								   : cv;
				const uint8_t *req =
				    kind == K_VM || kind == K_EM
					? fx->req_metrics
					: fx->req_health;
				size_t reqlen = kind == K_VM || kind == K_EM
						    ? fx->req_metrics_len
						    : fx->req_health_len;
				res->w[kind][ci][r] = run_window(
				    socks, n, req, reqlen, res->bytes[kind],
				    o->duration_ms, &res->pool[kind][ci], what);
				fprintf(stderr,
					"bench_rpc: %s: p50 %.1f us, p99 %.1f "
					"us, %.0f req/s, CPU %.1f us/req\n",
					what, res->w[kind][ci][r].p50_us,
					res->w[kind][ci][r].p99_us,
					res->w[kind][ci][r].rps,
					res->w[kind][ci][r].cpu_us);
			}
		}
	}

	pool_close(res, o->threads.n);

	/* Still the same answer: the cache stayed warm and fresh. */
	if ((rv = round_trip(probe, fx->req_health, fx->req_health_len, &hlen,
			     &m)) != 0)
		die_nng("Health/Check after the runs", rv);
	check_health_reply(m, "Health/Check after the runs");
	nng_msg_free(m);

	nng_close(probe);
	for (int i = 0; i < maxc; i++) {
		nng_close(cv[i]);
		nng_close(ch[i]);
		nng_close(cm[i]);
	}
	free(cv);
	free(ch);
	free(cm);
	vt_server_free(vs);
	echo_stop(&eh);
	echo_stop(&em);
	free(hbody);
	free(mbody);
	if (strcmp(transport, "ipc") == 0)
		ipc_cleanup();
}

/* ---- report -----------------------------------------------------------------
 */

static bench_stats stat_of(const results *res, int kind, int ci, int reps,
			   int field)
{
	double v[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		const window *w = &res->w[kind][ci][r];
		v[r] = field == 0   ? w->p50_us
		       : field == 1 ? w->p99_us
		       : field == 2 ? w->rps
				    : w->cpu_us;
	}
	return bench_stats_of(v, reps);
}

/* Median over repeats of vitals / echo of one field (paired by repeat). */
static bench_stats ratio_of(const results *res, int kv, int ke, int ci,
			    int reps, int field)
{
	double v[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		const window *a = &res->w[kv][ci][r], *b = &res->w[ke][ci][r];
		v[r] = field == 0   ? a->p50_us / b->p50_us
		       : field == 1 ? a->p99_us / b->p99_us
		       : field == 2 ? a->rps / b->rps
				    : a->cpu_us / b->cpu_us;
	}
	return bench_stats_of(v, reps);
}

/* "pooled (min–max of the windows' values)". */
static const char *fmt_pooled(double pooled, const bench_stats *w)
{
	static char buf[4][128];
	static int k;
	k = (k + 1) % 4;
	if (w->n <= 1) {
		snprintf(buf[k], sizeof buf[k], "%s", bench_fmt(pooled));
	} else {
		char a[32], b[32], c[32];
		snprintf(a, sizeof a, "%s", bench_fmt(pooled));
		snprintf(b, sizeof b, "%s", bench_fmt(w->min));
		snprintf(c, sizeof c, "%s", bench_fmt(w->max));
		snprintf(buf[k], sizeof buf[k], "%s (%s–%s)", a, b, c);
	}
	return buf[k];
}

static void report_pair(const bench_opts *o, const results *res,
			const char *transport, int kv, int ke)
{
	printf("#### %s against the %s (%s)\n\n", kind_name[kv], kind_name[ke],
	       transport);
	printf("Replies of %zu bytes; %d windows of %d ms each. Round trips in "
	       "µs: p50 and p99 of every round trip of the %d windows "
	       "(in parentheses: the range of the windows' own p50); p50 "
	       "ratio: vitals / echo of those. Throughput in requests/s: "
	       "median (min–max) of the windows; its ratio: median of the "
	       "per-repeat ratios. CPU: the process's CPU time (clients, "
	       "servers, kernel) per reply, µs, median; other programs skew "
	       "it much less than requests/s.\n\n",
	       res->bytes[kv], o->reps, o->duration_ms, o->reps);
	printf("| clients | vitals p50 | echo p50 | p50 ratio | vitals p99 | "
	       "echo p99 | vitals req/s | echo req/s | req/s ratio | vitals "
	       "CPU/req | echo CPU/req |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int ci = 0; ci < o->threads.n; ci++) {
		bench_stats vp50 = stat_of(res, kv, ci, o->reps, 0);
		bench_stats ep50 = stat_of(res, ke, ci, o->reps, 0);
		bench_stats vr = stat_of(res, kv, ci, o->reps, 2);
		bench_stats er = stat_of(res, ke, ci, o->reps, 2);
		bench_stats vc = stat_of(res, kv, ci, o->reps, 3);
		bench_stats ec = stat_of(res, ke, ci, o->reps, 3);
		bench_stats rr = ratio_of(res, kv, ke, ci, o->reps, 2);
		/* One cell per printf: bench_fmt's buffers rotate. */
		printf("| %ld", o->threads.v[ci]);
		printf(" | %s", fmt_pooled(res->p50_us[kv][ci], &vp50));
		printf(" | %s", fmt_pooled(res->p50_us[ke][ci], &ep50));
		printf(" | %s",
		       bench_fmt(res->p50_us[kv][ci] / res->p50_us[ke][ci]));
		printf(" | %s", bench_fmt(res->p99_us[kv][ci]));
		printf(" | %s", bench_fmt(res->p99_us[ke][ci]));
		printf(" | %s", bench_fmt_stats(&vr));
		printf(" | %s", bench_fmt_stats(&er));
		printf(" | %s", bench_fmt(rr.med));
		printf(" | %s", bench_fmt(vc.med));
		printf(" | %s |\n", bench_fmt(ec.med));
		for (int k = 0; k < 2; k++) {
			int kind = k == 0 ? kv : ke;
			bench_stats p50 = k == 0 ? vp50 : ep50;
			bench_stats rps = k == 0 ? vr : er;
			bench_stats cpu = k == 0 ? vc : ec;
			/* rpc,<transport>,<server>,<clients>,<bytes>,
			 * <p50_us pooled>,<p50_us min,max of windows>,
			 * <p99_us pooled>,<req/s med,min,max>,
			 * <CPU us/reply med> */
			bench_csv("rpc,%s,%s,%ld,%zu,%.2f,%.2f,%.2f,%.2f,%.0f,"
				  "%.0f,%.0f,%.2f",
				  transport, kind_id[kind], o->threads.v[ci],
				  res->bytes[kind], res->p50_us[kind][ci],
				  p50.min, p50.max, res->p99_us[kind][ci],
				  rps.med, rps.min, rps.max, cpu.med);
		}
	}
	printf("\n");
}

static int client_index(const bench_opts *o, long n)
{
	for (int i = 0; i < o->threads.n; i++)
		if (o->threads.v[i] == n)
			return i;
	return -1;
}

static void report_targets(const bench_opts *o, const results *res,
			   const char *transport)
{
	char id[32], text[160], note[200];
	int c1 = client_index(o, 1), c64 = client_index(o, 64);
	snprintf(id, sizeof id, "P1-%s", transport);
	snprintf(text, sizeof text,
		 "Health/Check (cached) p50 vs same-size nng echo; %s; 1 "
		 "client",
		 transport);
	if (c1 < 0) {
		bench_target_na(id, text, "1 client not in --threads");
	} else {
		bench_stats r = ratio_of(res, K_VH, K_EH, c1, o->reps, 0);
		double v = res->p50_us[K_VH][c1], e = res->p50_us[K_EH][c1];
		snprintf(note, sizeof note,
			 "p50 of all round trips %s us vs echo %s us; "
			 "per-repeat ratios %s-%s",
			 bench_fmt(v), bench_fmt(e), bench_fmt(r.min),
			 bench_fmt(r.max));
		bench_target(id, text, v / e, BENCH_LE, 1.15, "x", note);
	}
	snprintf(id, sizeof id, "P2-%s", transport);
	snprintf(text, sizeof text,
		 "Health/Check (cached) throughput vs same-size nng echo; "
		 "%s; 64 clients",
		 transport);
	if (c64 < 0) {
		bench_target_na(id, text, "64 clients not in --threads");
	} else {
		bench_stats r = ratio_of(res, K_VH, K_EH, c64, o->reps, 2);
		bench_stats v = stat_of(res, K_VH, c64, o->reps, 2);
		bench_stats e = stat_of(res, K_EH, c64, o->reps, 2);
		bench_stats cr = ratio_of(res, K_VH, K_EH, c64, o->reps, 3);
		snprintf(note, sizeof note,
			 "%s req/s vs echo %s req/s; ratio range %s-%s; CPU "
			 "per reply %s x the echo's",
			 bench_fmt(v.med), bench_fmt(e.med), bench_fmt(r.min),
			 bench_fmt(r.max), bench_fmt(cr.med));
		bench_target(id, text, r.med, BENCH_GE, 0.8, "x", note);
	}
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	bench_opts o = {0};
	o.reps = 5;
	o.duration_ms = 1000;
	bench_list_parse(&o.threads, "1,2,4,8,16,32,64");
	bench_opts def = o;
	bench_parse(&o, argc, argv, "(--threads: concurrent clients)");
	if (o.smoke) {
		if (o.reps == def.reps)
			o.reps = 1;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 30;
		if (memcmp(&o.threads, &def.threads, sizeof o.threads) == 0)
			bench_list_parse(&o.threads, "1,4");
	} else if (o.quick) {
		if (o.reps == def.reps)
			o.reps = 3;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 500;
	}
	if (o.reps > MAX_REPS) {
		fprintf(stderr, "at most %d repeats\n", MAX_REPS);
		return 2;
	}
	for (int i = 0; i < o.threads.n; i++)
		if (o.threads.v[i] > MAX_CLIENTS) {
			fprintf(stderr, "at most %d clients\n", MAX_CLIENTS);
			return 2;
		}
	o.pin = 0; /* see the top of the file */
	raise_fd_limit();
	atexit(ipc_cleanup);

	fixture fx;
	fixture_init(&fx);
	bench_out_open(&o);
	bench_header(&o, "RPC: nng round trips against a bare nng req/rep "
			 "server (bench_rpc)");
	printf("Servers in this process: vt_server (RPC only, %d contexts) "
	       "over %d instant checks (cache warm) and %zu metric families; "
	       "the baseline is a bare nng rep0 server with %d contexts "
	       "answering each request with a constant body of the size of "
	       "the vitals reply (nng demo/async). Clients: one thread and "
	       "one nng req0 socket each, closed loop, the same code and "
	       "the same request bytes (%zu bytes Health/Check, %zu bytes "
	       "Metrics/Get) for both servers. The machine is shared: treat "
	       "small differences as noise.\n\n",
	       NCTX, BENCH_SERVED_CHECKS, fx.nfamilies, NCTX, fx.req_health_len,
	       fx.req_metrics_len);

	static const char *const transports[] = {"tcp", "ipc"};
	static results res[2];
	int ran[2] = {0, 0};
	for (int t = 0; t < 2; t++) {
		if (!bench_selected(&o, transports[t]))
			continue;
		fixture tf;
		fixture_init(&tf);
		run_transport(&o, &tf, transports[t], &res[t]);
		fixture_fini(&tf);
		ran[t] = 1;
	}
	for (int t = 0; t < 2; t++) {
		if (!ran[t])
			continue;
		printf("### %s\n\n", t == 0 ? "tcp loopback" : "ipc");
		report_pair(&o, &res[t], transports[t], K_VH, K_EH);
		report_pair(&o, &res[t], transports[t], K_VM, K_EM);
	}
	for (int t = 0; t < 2; t++)
		if (ran[t])
			report_targets(&o, &res[t], transports[t]);
	bench_targets_print();
	bench_out_close();

	fixture_fini(&fx);
	return 0;
}
