/*
 * bench_gateway.c - the servers of the gateway benchmark: vitals' HTTP
 * gateway and, as the reference point of SERVERS.md, a bare nng HTTP
 * handler that returns a constant body of the same size. It measures
 * nothing itself: bench/bench_gateway.sh starts it, adds nginx serving
 * static files of the same sizes, and drives all three with wrk.
 *
 * Started here, on free 127.0.0.1 ports:
 *   vitals  a vt_server with only the HTTP gateway, over four instant
 *           callback checks run once before it starts (the cache is
 *           warm; their interval is a day, so it never goes stale) and
 *           a few metric families:
 *             GET /health?cache=true
 *             GET /metrics                   (JSON)
 *             GET /metrics?format=prometheus
 *   bare    an nng HTTP server with one callback handler per path that
 *           answers 200 with a constant body: the bytes vitals served
 *           for the matching URL at start-up, same Content-Type:
 *             GET /health  /metrics  /metrics.prom
 * Then it prints, one per line, vitals_port=, bare_port=, spare_port=
 * (free at start-up, for nginx), health_bytes=, metrics_json_bytes=,
 * metrics_prom_bytes= and finally "ready", and serves until SIGTERM or
 * SIGINT, or for --seconds N. --bodies DIR writes the three bodies as
 * DIR/health.json, DIR/metrics.json and DIR/metrics.prom (nginx's
 * files). --smoke (the CTest test): one request to each URL of both
 * servers over a plain socket, checked (status 200, vitals healthy,
 * equal sizes), then 1 s of serving and a clean exit.
 *
 * --set peers50|mix1000 serves a peers' metric set (bench_peer_registry:
 * the series bench/peers/ serve) instead of the few families, for
 * bench/peers/bench_peers.sh; /health is the same.
 *
 * Usage: bench_gateway [--smoke] [--seconds N] [--bodies DIR] [--set S]
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "bench_common.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_gateway: %s: %s\n", what, why);
	exit(1);
}

static void die_vt(const char *what, vt_err err)
{
	die(what, vt_strerror(err));
}

static void die_nng(const char *what, int rv)
{
	die(what, nng_strerror(rv));
}

/* ---- a minimal HTTP/1.1 client (no curl needed) ------------------------- */

typedef struct http_reply {
	int status;
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
} http_reply;

/* GET path from 127.0.0.1:port; reads the headers and Content-Length
 * bytes of body. 0 or -1 (with *why set). */
static int http_get(int port, const char *path, http_reply *out,
		    const char **why)
{
	memset(out, 0, sizeof *out);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		*why = strerror(errno);
		close(fd);
		return -1;
	}
	char req[512];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Connection: close\r\n\r\n",
			 path, port);
	if (send(fd, req, (size_t)n, 0) != n) {
		*why = "send failed";
		close(fd);
		return -1;
	}
	size_t cap = 1 << 16, len = 0, hdr = 0, want = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		*why = "out of memory";
		close(fd);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, 2 * cap + 1);
			if (nb == NULL) {
				*why = "out of memory";
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*why = r == 0 ? "connection closed early"
				      : "no answer within 5 s";
			goto fail;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (hdr == 0) {
			char *e = strstr(buf, "\r\n\r\n");
			if (e == NULL)
				continue;
			hdr = (size_t)(e - buf) + 4;
			if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
				*why = "not an HTTP response";
				goto fail;
			}
			/* Content-Length, any case. */
			bool found = false;
			for (char *p = buf; p < e; p++) {
				if ((p == buf || p[-1] == '\n') &&
				    strncasecmp(p, "content-length:", 15) ==
					0) {
					want = strtoul(p + 15, NULL, 10);
					found = true;
					break;
				}
			}
			if (!found) {
				*why = "no Content-Length";
				goto fail;
			}
		}
		if (len >= hdr + want)
			break;
	}
	close(fd);
	out->body = malloc(want + 1);
	if (out->body == NULL) {
		free(buf);
		*why = "out of memory";
		return -1;
	}
	memcpy(out->body, buf + hdr, want);
	out->body[want] = '\0';
	out->len = want;
	free(buf);
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---- the bare nng HTTP handler ------------------------------------------ */

typedef struct bare_route {
	const char *path;
	const char *ctype;
	const char *body; /* immutable while the server runs */
	size_t len;
} bare_route;

static void bare_cb(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	const bare_route *r = nng_http_handler_get_data(h);
	nng_http_res *res;
	int rv = nng_http_res_alloc(&res);
	if (rv != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_header(res, "Content-Type", r->ctype)) !=
		0 ||
	    (rv = nng_http_res_set_data(res, r->body, r->len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static nng_http_server *bare_start(bare_route *routes, int n, int *port)
{
	nng_url *u;
	nng_http_server *srv;
	int rv;
	if ((rv = nng_url_parse(&u, "http://127.0.0.1:0")) != 0)
		die_nng("bare: url", rv);
	rv = nng_http_server_hold(&srv, u);
	nng_url_free(u);
	if (rv != 0)
		die_nng("bare: nng_http_server_hold", rv);
	for (int i = 0; i < n; i++) {
		nng_http_handler *h;
		if ((rv = nng_http_handler_alloc(&h, routes[i].path,
						 bare_cb)) != 0 ||
		    (rv = nng_http_handler_set_data(h, &routes[i], NULL)) !=
			0 ||
		    (rv = nng_http_server_add_handler(srv, h)) != 0)
			die_nng("bare: handler", rv);
	}
	if ((rv = nng_http_server_start(srv)) != 0)
		die_nng("bare: nng_http_server_start", rv);
	nng_sockaddr sa;
	if ((rv = nng_http_server_get_addr(srv, &sa)) != 0)
		die_nng("bare: nng_http_server_get_addr", rv);
	*port = ntohs(sa.s_in.sa_port);
	return srv;
}

/* ---- vitals ----------------------------------------------------------------
 */

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

/* A port free when found can be taken before the bind: retried. */
static vt_server *vitals_start(vt_health *h, vt_metrics *m, int *port)
{
	char err[256] = "";
	for (int attempt = 0; attempt < 10; attempt++) {
		char addr[64];
		*port = free_tcp_port();
		if (*port < 0)
			die("free port", strerror(errno));
		snprintf(addr, sizeof addr, "127.0.0.1:%d", *port);
		vt_server_opts so = {
		    .health = h, .metrics = m, .http_addr = addr};
		vt_server *s;
		if (vt_server_start(&s, &so, err, sizeof err) == VT_OK)
			return s;
	}
	die("vt_server_start", err);
	return NULL;
}

static void fetch(int port, const char *path, http_reply *r)
{
	const char *why;
	char what[128];
	snprintf(what, sizeof what, "GET 127.0.0.1:%d%s", port, path);
	if (http_get(port, path, r, &why) != 0)
		die(what, why);
	if (r->status != 200) {
		fprintf(stderr, "bench_gateway: %s: status %d: %s\n", what,
			r->status, r->body);
		exit(1);
	}
}

static void write_file(const char *dir, const char *name, const char *body,
		       size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(body, 1, len, f) != len || fclose(f) != 0)
		die(path, strerror(errno));
}

/* The served registry's checks into h, and its metrics or, with set,
 * a peers' metric set (bench_peer_registry) into m. */
static void fill_registries(vt_health *h, vt_metrics *m, const char *set)
{
	const char *what;
	vt_err err;
	if (set != NULL) {
		vt_metrics *unused;
		if ((err = vt_metrics_alloc(&unused)) != VT_OK ||
		    (err = bench_served_registry(h, unused, &what)) != VT_OK)
			die_vt("served registry", err);
		if ((err = bench_peer_registry(m, set)) != VT_OK)
			die_vt(set, err);
		vt_metrics_free(unused);
	} else if ((err = bench_served_registry(h, m, &what)) != VT_OK) {
		die_vt(what, err);
	}
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: bench_gateway [--smoke] [--seconds N] [--bodies DIR] "
		"[--set peers50|mix1000]\n");
	exit(code);
}

int main(int argc, char **argv)
{
	int smoke = 0;
	long seconds = 0;
	const char *bodies = NULL;
	const char *set = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0) {
			smoke = 1;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			char *end;
			seconds = strtol(argv[++i], &end, 10);
			if (*end != '\0' || seconds < 0)
				usage(2);
		} else if (strcmp(argv[i], "--bodies") == 0 && i + 1 < argc) {
			bodies = argv[++i];
		} else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
			set = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			usage(0);
		} else {
			usage(2);
		}
	}
	if (smoke && seconds == 0)
		seconds = 1;

	/* Signals are taken by sigtimedwait below: blocked in every thread,
	 * so block them before nng or the pool start any. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	vt_metrics *m;
	vt_health *h;
	vt_err err;
	if ((err = vt_metrics_alloc(&m)) != VT_OK)
		die_vt("vt_metrics_alloc", err);
	/* A peers' set is served alone: health exports no series into it. */
	vt_health_opts ho = {.workers = 2, .metrics = set ? NULL : m};
	if ((err = vt_health_alloc(&h, &ho)) != VT_OK)
		die_vt("vt_health_alloc", err);
	fill_registries(h, m, set);
	vt_health_snapshot *snap;
	if ((err = vt_health_run(h, NULL, VT_RUN_FRESH, &snap)) != VT_OK)
		die_vt("warming the cache", err);
	if (snap->status != VT_HEALTHY)
		die("warming the cache", "not healthy");
	vt_health_snapshot_free(snap);

	int vport;
	vt_server *vs = vitals_start(h, m, &vport);

	/* What vitals serves, byte for byte, becomes the bare bodies. */
	static const char *const vpaths[3] = {"/health?cache=true", "/metrics",
					      "/metrics?format=prometheus"};
	http_reply vr[3];
	for (int i = 0; i < 3; i++)
		fetch(vport, vpaths[i], &vr[i]);
	if (strstr(vr[0].body, "\"status\":\"healthy\"") == NULL ||
	    strstr(vr[0].body, "\"stale\":true") != NULL)
		die("GET /health?cache=true", "not healthy and fresh");
	bare_route routes[3] = {
	    {"/health", CT_JSON, vr[0].body, vr[0].len},
	    {"/metrics", CT_JSON, vr[1].body, vr[1].len},
	    {"/metrics.prom", CT_PROM, vr[2].body, vr[2].len},
	};
	int bport;
	nng_http_server *bare = bare_start(routes, 3, &bport);
	if (bodies != NULL) {
		write_file(bodies, "health.json", vr[0].body, vr[0].len);
		write_file(bodies, "metrics.json", vr[1].body, vr[1].len);
		write_file(bodies, "metrics.prom", vr[2].body, vr[2].len);
	}

	if (smoke) {
		for (int i = 0; i < 3; i++) {
			http_reply br, again;
			fetch(bport, routes[i].path, &br);
			fetch(vport, vpaths[i], &again);
			/* /health carries a timestamp: its size may move
			 * by a digit or two. */
			size_t slack = i == 0 ? 4 : 0;
			if (br.len != vr[i].len ||
			    again.len + slack < vr[i].len ||
			    again.len > vr[i].len + slack) {
				fprintf(stderr,
					"bench_gateway: %s: sizes differ: "
					"vitals %zu then %zu, bare %zu\n",
					vpaths[i], vr[i].len, again.len,
					br.len);
				exit(1);
			}
			free(br.body);
			free(again.body);
		}
	}

	printf("vitals_port=%d\nbare_port=%d\nspare_port=%d\n"
	       "health_bytes=%zu\nmetrics_json_bytes=%zu\n"
	       "metrics_prom_bytes=%zu\nready\n",
	       vport, bport, free_tcp_port(), vr[0].len, vr[1].len, vr[2].len);
	fflush(stdout);

	/* Serve until a signal, or for the given seconds. */
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	for (;;) {
		struct timespec now, wait = {1, 0};
		if (seconds > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > end.tv_sec ||
			    (now.tv_sec == end.tv_sec &&
			     now.tv_nsec >= end.tv_nsec))
				break;
			long ns = (end.tv_sec - now.tv_sec) * 1000000000L +
				  (end.tv_nsec - now.tv_nsec);
			if (ns < 1000000000L) {
				wait.tv_sec = 0;
				wait.tv_nsec = ns;
			}
		}
		int sig = sigtimedwait(&sigs, NULL, &wait);
		if (sig > 0)
			break;
	}

	nng_http_server_stop(bare);
	nng_http_server_release(bare);
	vt_server_free(vs);
	for (int i = 0; i < 3; i++)
		free(vr[i].body);
	vt_health_free(h);
	vt_metrics_free(m);
	return 0;
}
