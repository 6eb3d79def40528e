/*
 * support_httpd.c - loopback HTTP servers for the check tests (see
 * support_httpd.h).
 *
 * One acceptor thread per server polls the listening socket and a stop
 * pipe; each connection gets a thread that reads one request (headers,
 * then Content-Length bytes of body), records it, answers and closes.
 * Every wait - reading, a slow route's delay, writing an endless body -
 * polls the stop pipe too, so stopping wakes all threads at once; the
 * acceptor joins finished connection threads as it goes and all of them
 * at the end. Writes use MSG_NOSIGNAL: a client that leaves early is
 * not a crash.
 */
#include "support_httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_LIMIT_MS 5000 /* longest wait for a client's request */

typedef enum kind { PLAIN, SILENT, DMARKET, RECEIVER } kind;

typedef struct conn {
	pthread_t thread;
	int fd;
	struct vt_test_httpd *s;
	atomic_bool done;
	struct conn *next;
} conn;

struct vt_test_httpd {
	kind kind;
	int lfd;
	int port;
	int stop[2]; /* written once to stop: readable forever after */
	unsigned char pub[32];
	pthread_t acceptor;
	conn *conns; /* acceptor thread only */

	pthread_mutex_t mtx;
	vt_test_request last; /* protected by mtx */
	bool has_last;	      /* protected by mtx */
	int count;	      /* protected by mtx */

	/* receiver */
	atomic_int mode, retry_after;
	vt_test_request *log; /* [VT_TEST_RECV_MAX], protected by mtx */
	int nlog;	      /* protected by mtx */
};

/* Waits until fd has events (or the server stops, or ms pass; ms < 0 =
 * no limit). 1 if fd is ready, 0 on timeout, -1 when stopping. */
static int wait_fd(vt_test_httpd *s, int fd, short events, int ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = events},
			      {.fd = s->stop[0], .events = POLLIN}};
	for (;;) {
		int n = poll(p, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents != 0)
			return -1;
		return n == 0 ? 0 : 1;
	}
}

static int send_all(vt_test_httpd *s, int fd, const char *buf, size_t len)
{
	while (len > 0) {
		if (wait_fd(s, fd, POLLOUT, IO_LIMIT_MS) != 1)
			return -1;
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(vt_test_httpd *s, int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, strlen(body));
	if (send_all(s, fd, head, (size_t)n) == 0)
		send_all(s, fd, body, strlen(body));
}

int vt_test_request_header(const vt_test_request *q, const char *name,
			   char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *line = q->headers;
	while (*line != '\0') {
		const char *end = strstr(line, "\r\n");
		size_t llen = end != NULL ? (size_t)(end - line) : strlen(line);
		if (llen > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vlen = llen - (size_t)(v - line);
			if (vlen >= cap)
				vlen = cap - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return 1;
		}
		if (end == NULL)
			break;
		line = end + 2;
	}
	return 0;
}

/* 1 if the n bytes at b are printable ASCII, tabs and line ends. */
static int is_text(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)b[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') ||
		    ch >= 0x7f)
			return 0;
	}
	return 1;
}

/* Reads one request from fd into q. 0 on success. */
static int read_request(vt_test_httpd *s, int fd, vt_test_request *q)
{
	char buf[16384];
	size_t len = 0;
	char *hend = NULL;
	while (hend == NULL) {
		if (len == sizeof(buf) - 1 ||
		    wait_fd(s, fd, POLLIN, IO_LIMIT_MS) != 1)
			return -1;
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		/* The head only: a body may be UTF-8 (alert texts). */
		if (!is_text(buf, hend != NULL ? (size_t)(hend - buf) : len)) {
			/* Not HTTP (say, a TLS ClientHello): as web servers do,
			 * answer 400 in plain text and hang up. */
			respond(s, fd, 400, "{\"error\":\"not HTTP\"}");
			return -1;
		}
	}
	char *sp1 = strchr(buf, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	char *eol = strstr(buf, "\r\n");
	if (sp1 == NULL || sp2 == NULL || sp2 > eol ||
	    (size_t)(sp1 - buf) >= sizeof(q->method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(q->target))
		return -1;
	memset(q, 0, sizeof(*q));
	memcpy(q->method, buf, (size_t)(sp1 - buf));
	memcpy(q->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	size_t hlen = (size_t)(hend - (eol + 2));
	if (hlen >= sizeof(q->headers))
		hlen = sizeof(q->headers) - 1;
	memcpy(q->headers, eol + 2, hlen);

	char cl[32];
	size_t want = 0;
	if (vt_test_request_header(q, "Content-Length", cl, sizeof(cl)))
		want = strtoul(cl, NULL, 10);
	if (want >= sizeof(q->body))
		return -1;
	size_t have = len - (size_t)(hend + 4 - buf);
	memcpy(q->body, hend + 4, have < want ? have : want);
	while (have < want) {
		if (wait_fd(s, fd, POLLIN, IO_LIMIT_MS) != 1)
			return -1;
		ssize_t n = recv(fd, q->body + have, want - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

static void record(vt_test_httpd *s, const vt_test_request *q)
{
	pthread_mutex_lock(&s->mtx);
	s->last = *q;
	s->has_last = true;
	s->count++;
	pthread_mutex_unlock(&s->mtx);
}

/* The integer value of key in the query of target, or dflt. */
static long query_long(const char *target, const char *key, long dflt)
{
	const char *q = strchr(target, '?');
	size_t klen = strlen(key);
	while (q != NULL) {
		q++;
		if (strncmp(q, key, klen) == 0 && q[klen] == '=')
			return strtol(q + klen + 1, NULL, 10);
		q = strchr(q, '&');
	}
	return dflt;
}

static int path_is(const char *target, const char *path)
{
	size_t n = strlen(path);
	return strncmp(target, path, n) == 0 &&
	       (target[n] == '\0' || target[n] == '?');
}

static void serve_stream(vt_test_httpd *s, int fd)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			   "Connection: close\r\n\r\n";
	if (send_all(s, fd, head, strlen(head)) != 0)
		return;
	char chunk[16384];
	memset(chunk, 'x', sizeof(chunk));
	while (send_all(s, fd, chunk, sizeof(chunk)) == 0)
		;
}

static void serve_plain(vt_test_httpd *s, int fd, vt_test_request *q)
{
	const char *t = q->target;
	if (path_is(t, "/ok")) {
		q->status = 200;
		record(s, q);
		respond(s, fd, 200, "\"ok\"");
	} else if (path_is(t, "/fail")) {
		q->status = 500;
		record(s, q);
		respond(s, fd, 500, "{\"error\":\"failing on purpose\"}");
	} else if (path_is(t, "/slow")) {
		q->status = 200;
		record(s, q);
		int ms = (int)query_long(t, "ms", 1000);
		/* Readable before the delay ends: the client left. */
		if (wait_fd(s, fd, POLLIN, ms) == 0)
			respond(s, fd, 200, "\"slow\"");
	} else if (path_is(t, "/status")) {
		q->status = (int)query_long(t, "code", 200);
		record(s, q);
		respond(s, fd, q->status, "{}");
	} else if (path_is(t, "/stream")) {
		q->status = 200;
		record(s, q);
		serve_stream(s, fd);
	} else {
		q->status = 404;
		record(s, q);
		respond(s, fd, 404, "{\"error\":\"not found\"}");
	}
}

static int hex_decode(const char *h, unsigned char *out, size_t n)
{
	if (strlen(h) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		char two[3] = {h[2 * i], h[2 * i + 1], '\0'};
		if (strspn(two, "0123456789abcdefABCDEF") != 2 ||
		    sscanf(two, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	out[2 * n] = '\0';
}

/* NULL if q is signed right for s's key, else why not. */
static const char *dmarket_refusal(vt_test_httpd *s, const vt_test_request *q)
{
	char key[128], date[64], sign[256], pub_hex[65];
	if (!vt_test_request_header(q, "X-Api-Key", key, sizeof(key)) ||
	    !vt_test_request_header(q, "X-Sign-Date", date, sizeof(date)) ||
	    !vt_test_request_header(q, "X-Request-Sign", sign, sizeof(sign)))
		return "missing signature headers";
	hex_encode(s->pub, 32, pub_hex);
	if (strcmp(key, pub_hex) != 0)
		return "unknown api key";
	char *end;
	errno = 0;
	long long ts = strtoll(date, &end, 10);
	if (errno != 0 || *end != '\0' || end == date)
		return "bad X-Sign-Date";
	long long now = (long long)time(NULL);
	if (ts < now - 120 || ts > now + 120)
		return "X-Sign-Date not fresh";
	const char *prefix = "dmar ed25519 ";
	unsigned char sig[64];
	if (strncmp(sign, prefix, strlen(prefix)) != 0 ||
	    hex_decode(sign + strlen(prefix), sig, sizeof(sig)) != 0)
		return "bad X-Request-Sign format";

	char msg[8192];
	snprintf(msg, sizeof(msg), "%s%s%s%s", q->method, q->target, q->body,
		 date);
	EVP_PKEY *k =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, s->pub, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = k != NULL && ctx != NULL &&
		 EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(ctx, sig, sizeof(sig),
				  (const unsigned char *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok ? NULL : "signature does not verify";
}

static void serve_dmarket(vt_test_httpd *s, int fd, vt_test_request *q)
{
	const char *t = q->target;
	if (path_is(t, "/account/v1/balance") &&
	    strcmp(q->method, "GET") == 0) {
		const char *why = dmarket_refusal(s, q);
		char body[256];
		if (why == NULL) {
			q->status = 200;
			snprintf(
			    body, sizeof(body),
			    "{\"usd\":\"12345\",\"usdAvailableToWithdraw\":"
			    "\"12345\",\"dmc\":\"0\","
			    "\"dmcAvailableToWithdraw\":\"0\"}");
		} else {
			q->status = 401;
			snprintf(
			    body, sizeof(body),
			    "{\"code\":\"Unauthorized\",\"message\":\"%s\"}",
			    why);
		}
		record(s, q);
		respond(s, fd, q->status, body);
	} else if (path_is(t, "/exchange/v1/market/items") &&
		   strcmp(q->method, "GET") == 0) {
		int exact = strcmp(t, "/exchange/v1/market/items?gameId=a8db&"
				      "limit=1&currency=USD") == 0;
		q->status = exact ? 200 : 400;
		record(s, q);
		respond(s, fd, q->status,
			exact ? "{\"objects\":[],\"total\":{\"items\":0},"
				"\"cursor\":\"\"}"
			      : "{\"code\":\"BadRequest\"}");
	} else {
		q->status = 404;
		record(s, q);
		respond(s, fd, 404, "{\"code\":\"NotFound\"}");
	}
}

/* Holds the connection open, answering nothing, until the client leaves
 * or the server stops. */
static void serve_silent(vt_test_httpd *s, int fd)
{
	vt_test_request q = {.status = 0};
	snprintf(q.method, sizeof(q.method), "-");
	record(s, &q);
	char buf[4096];
	while (wait_fd(s, fd, POLLIN, -1) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
}

/* Records q in the receiver's log. */
static void log_request(vt_test_httpd *s, vt_test_request *q)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	q->at_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
	pthread_mutex_lock(&s->mtx);
	if (s->nlog < VT_TEST_RECV_MAX)
		s->log[s->nlog] = *q;
	s->nlog++;
	s->last = *q;
	s->has_last = true;
	s->count++;
	pthread_mutex_unlock(&s->mtx);
}

static void serve_receiver(vt_test_httpd *s, int fd, vt_test_request *q)
{
	int mode = atomic_load(&s->mode);
	char body[256];
	switch (mode) {
	case VT_RECV_OK:
		q->status = 200;
		log_request(s, q);
		snprintf(body, sizeof(body),
			 "{\"ok\":true,\"result\":{\"message_id\":%d}}",
			 vt_test_httpd_count(s));
		respond(s, fd, 200, body);
		break;
	case VT_RECV_500:
		q->status = 500;
		log_request(s, q);
		respond(s, fd, 500,
			"{\"ok\":false,\"error_code\":500,"
			"\"description\":\"Internal Server Error\"}");
		break;
	case VT_RECV_429:
		q->status = 429;
		log_request(s, q);
		snprintf(body, sizeof(body),
			 "{\"ok\":false,\"error_code\":429,\"description\":"
			 "\"Too Many Requests: retry after %d\","
			 "\"parameters\":{\"retry_after\":%d}}",
			 atomic_load(&s->retry_after),
			 atomic_load(&s->retry_after));
		respond(s, fd, 429, body);
		break;
	default: /* hang */
		q->status = 0;
		log_request(s, q);
		char buf[256];
		while (wait_fd(s, fd, POLLIN, -1) == 1) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EINTR))
				break;
		}
	}
}

static void *conn_main(void *arg)
{
	conn *c = arg;
	vt_test_httpd *s = c->s;
	if (s->kind == SILENT) {
		serve_silent(s, c->fd);
	} else {
		vt_test_request q;
		if (read_request(s, c->fd, &q) == 0) {
			if (s->kind == PLAIN)
				serve_plain(s, c->fd, &q);
			else if (s->kind == RECEIVER)
				serve_receiver(s, c->fd, &q);
			else
				serve_dmarket(s, c->fd, &q);
		}
	}
	close(c->fd);
	atomic_store(&c->done, true);
	return NULL;
}

/* Joins and frees the finished connections (all when wait_all). */
static void reap(vt_test_httpd *s, bool wait_all)
{
	conn **pp = &s->conns;
	while (*pp != NULL) {
		conn *c = *pp;
		if (wait_all || atomic_load(&c->done)) {
			pthread_join(c->thread, NULL);
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void *acceptor_main(void *arg)
{
	vt_test_httpd *s = arg;
	for (;;) {
		int ready = wait_fd(s, s->lfd, POLLIN, 100);
		reap(s, false);
		if (ready < 0)
			break;
		if (ready == 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->s = s;
		atomic_init(&c->done, false);
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		s->conns = c;
	}
	reap(s, true);
	return NULL;
}

static vt_test_httpd *start_on(kind k, const unsigned char *pub, int port)
{
	vt_test_httpd *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->kind = k;
	s->lfd = -1;
	s->stop[0] = s->stop[1] = -1;
	if (pub != NULL)
		memcpy(s->pub, pub, 32);
	pthread_mutex_init(&s->mtx, NULL);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (k == RECEIVER &&
	    (s->log = calloc(VT_TEST_RECV_MAX, sizeof(*s->log))) == NULL)
		goto fail;
	socklen_t alen = sizeof(a);
	int one = 1;
	if (pipe(s->stop) != 0 ||
	    (s->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->lfd, 64) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	s->port = ntohs(a.sin_port);
	if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0)
		goto fail;
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop[0] >= 0) {
		close(s->stop[0]);
		close(s->stop[1]);
	}
	pthread_mutex_destroy(&s->mtx);
	free(s->log);
	free(s);
	return NULL;
}

static vt_test_httpd *start(kind k, const unsigned char *pub)
{
	return start_on(k, pub, 0);
}

vt_test_httpd *vt_test_receiver_start(int port)
{
	return start_on(RECEIVER, NULL, port);
}

void vt_test_receiver_mode(vt_test_httpd *s, vt_test_recv_mode m,
			   int retry_after_s)
{
	atomic_store(&s->retry_after, retry_after_s);
	atomic_store(&s->mode, (int)m);
}

int vt_test_receiver_requests(vt_test_httpd *s, vt_test_request *out, int max)
{
	pthread_mutex_lock(&s->mtx);
	int n = s->nlog;
	for (int i = 0; i < n && i < max && i < VT_TEST_RECV_MAX; i++)
		out[i] = s->log[i];
	pthread_mutex_unlock(&s->mtx);
	return n;
}

vt_test_httpd *vt_test_httpd_start(void)
{
	return start(PLAIN, NULL);
}

vt_test_httpd *vt_test_httpd_start_silent(void)
{
	return start(SILENT, NULL);
}

vt_test_httpd *vt_test_dmarket_start(const unsigned char pub[32])
{
	return start(DMARKET, pub);
}

int vt_test_httpd_port(const vt_test_httpd *s)
{
	return s->port;
}

void vt_test_httpd_url(const vt_test_httpd *s, const char *path, char *out,
		       size_t cap)
{
	snprintf(out, cap, "http://127.0.0.1:%d%s", s->port, path);
}

int vt_test_httpd_count(vt_test_httpd *s)
{
	pthread_mutex_lock(&s->mtx);
	int n = s->count;
	pthread_mutex_unlock(&s->mtx);
	return n;
}

int vt_test_httpd_last(vt_test_httpd *s, vt_test_request *out)
{
	pthread_mutex_lock(&s->mtx);
	int have = s->has_last;
	if (have)
		*out = s->last;
	pthread_mutex_unlock(&s->mtx);
	return have;
}

void vt_test_httpd_stop(vt_test_httpd *s)
{
	if (s == NULL)
		return;
	char b = 1;
	while (write(s->stop[1], &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(s->acceptor, NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
	pthread_mutex_destroy(&s->mtx);
	free(s->log);
	free(s);
}

int vt_test_keypair_gen(vt_test_keypair *k)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *p = NULL;
	unsigned char seed[32];
	size_t slen = sizeof(seed), plen = sizeof(k->pub);
	int ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 &&
		 EVP_PKEY_keygen(ctx, &p) == 1 &&
		 EVP_PKEY_get_raw_private_key(p, seed, &slen) == 1 &&
		 EVP_PKEY_get_raw_public_key(p, k->pub, &plen) == 1 &&
		 slen == 32 && plen == 32;
	if (ok) {
		hex_encode(k->pub, 32, k->pub_hex);
		hex_encode(seed, 32, k->seed_hex);
		memcpy(k->secret_hex, k->seed_hex, 64);
		memcpy(k->secret_hex + 64, k->pub_hex, 65);
	}
	EVP_PKEY_free(p);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
