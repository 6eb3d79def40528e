/*
 * httpd.c - the gateway's HTTP/1.1 transport over nng streams (see
 * httpd.h for the contract and limits).
 *
 * Why our own loop and not nng's HTTP server or libmicrohttpd: nng
 * 1.5.2's server has no hook to cap connections or time out a head, and
 * answers an over-long head by closing; libmicrohttpd has caps and an
 * inactivity timeout, but its timeout restarts on every byte (a head
 * dribbled a byte a second is never cut) and it answers an over-long
 * head with 413 or 414, not 431. Here every limit is one comparison on
 * a path we own, the transport stays on nng (tls+tcp:// is a listener
 * option away), and a cached /health costs one recv, one parse and one
 * send (README "Decisions" has the measured figures).
 *
 * Each connection is one chain of operations on one aio: read a head,
 * hand the request to the handler, write the answer,
 * then the next request (pipelined bytes already read come first). So a
 * connection's state is touched by one thread at a time, handed on by
 * the aio callback and by the handler's vt__httpd_reply; only what the
 * accept side reads of it (waiting, wait_since, evicted, the list links)
 * is under the server's mutex. Timers are the aio's own timeout: each
 * read waits at most until the request's deadline (the head within
 * header_timeout_ms of its first byte) or, between requests, the idle
 * timeout; each write at most the idle timeout. Over TLS nng does the
 * handshake inside the first read, which therefore waits at most
 * header_timeout_ms from accept: the handshake and the first head share
 * that deadline, so a handshake stopped half way is cut like a slow
 * head (and is evictable as one meanwhile).
 *
 * Lifetime: a connection is freed only by its own chain (conn_end), once
 * its last operation finished; vt__httpd_free waits until none is left.
 */
#include "server/httpd.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#define DEF_CONNS      1024
#define DEF_PER_ADDR   64
#define DEF_HEADER_MS  10000
#define DEF_IDLE_MS    60000
#define DEF_MAX_HEADER 8192
#define DEF_MAX_BODY   ((size_t)1 << 20)
#define EVICT_SLACK    64    /* evicted connections still closing */
#define OUT_KEEP       65536 /* output buffer kept between answers */
#define ACCEPT_BACKOFF 10    /* ms after an accept error (EMFILE) */
#define FD_RESERVE     64    /* descriptors left to the rest of the process */

typedef enum { C_READ, C_HANDLER, C_WRITE } cstate;

struct vt__httpd_conn {
	vt__httpd *d;
	nng_stream *s;
	nng_aio *aio;
	cstate st;
	nng_sockaddr addr;
	/* Under d->mtx: */
	struct vt__httpd_conn *prev, *next;
	bool waiting;	     /* waiting for a request: evictable */
	bool evicted;	     /* its stream was closed by the accept side */
	bool served;	     /* it has sent a whole request */
	nng_time wait_since; /* when it began waiting */
	/* The connection's own: */
	char *in; /* max_header + 1 bytes */
	size_t n, scanned, consumed;
	nng_time deadline; /* of the current request, once begun */
	bool started;	   /* the current request's first byte arrived */
	bool handshake;	   /* TLS, nothing read yet: deadline runs */
	bool close;	   /* close after the current answer */
	vt__httpd_req rq;
	char *out;
	size_t olen, ocap, osent;
	void (*sent)(void *);
	void *sent_arg;
};

typedef struct addr_count {
	nng_sockaddr a;
	unsigned n;
} addr_count;

struct vt__httpd {
	vt__httpd_opts o;
	vt__httpd_handler h;
	void *arg;
	nng_stream_listener *l;
	nng_aio *acc;
	bool sleeping; /* acc is in a back-off sleep; accept side only */
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool stopping;			    /* under mtx */
	unsigned nconns;		    /* under mtx */
	uint64_t refused;		    /* under mtx */
	struct vt__httpd_conn *head, *tail; /* oldest first; under mtx */
	addr_count *addrs;		    /* under mtx */
	unsigned naddrs, addr_cap;	    /* under mtx */
};

typedef struct vt__httpd_conn conn;

static void conn_cb(void *arg);
static void try_head(conn *c);

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

/* ---- client addresses (under mtx) --------------------------------- */

static bool addr_eq(const nng_sockaddr *a, const nng_sockaddr *b)
{
	if (a->s_family != b->s_family)
		return false;
	if (a->s_family == NNG_AF_INET)
		return a->s_in.sa_addr == b->s_in.sa_addr;
	if (a->s_family == NNG_AF_INET6)
		return memcmp(a->s_in6.sa_addr, b->s_in6.sa_addr, 16) == 0;
	return true; /* no address to tell peers apart */
}

static addr_count *addr_find(vt__httpd *d, const nng_sockaddr *a)
{
	for (unsigned i = 0; i < d->naddrs; i++)
		if (addr_eq(&d->addrs[i].a, a))
			return &d->addrs[i];
	return NULL;
}

/* Counts a out (its entry goes at zero). */
static void addr_drop(vt__httpd *d, const nng_sockaddr *a)
{
	addr_count *e = addr_find(d, a);
	if (e != NULL && --e->n == 0)
		*e = d->addrs[--d->naddrs];
}

/* ---- admission (accept side) -------------------------------------- */

/* The connection to evict: of those waiting for a request and not yet
 * evicted, the one waiting longest that has never sent a whole request
 * (what a slowloris holds), else the one idle longest. NULL if none.
 * Under mtx. */
static conn *oldest_waiting(vt__httpd *d)
{
	conn *fresh = NULL, *idle = NULL;
	for (conn *c = d->head; c != NULL; c = c->next) {
		if (!c->waiting || c->evicted)
			continue;
		conn **best = c->served ? &idle : &fresh;
		if (*best == NULL || c->wait_since < (*best)->wait_since)
			*best = c;
	}
	return fresh != NULL ? fresh : idle;
}

/* Whether c (its address in c->addr) may join; counts it in and lists
 * it when so, evicting a waiting connection at the total cap. */
static bool admit(vt__httpd *d, conn *c)
{
	bool ok = false;
	pthread_mutex_lock(&d->mtx);
	addr_count *e = addr_find(d, &c->addr);
	if (d->stopping || (e != NULL && e->n >= d->o.max_per_addr) ||
	    d->nconns >= d->o.max_conns + EVICT_SLACK)
		goto out;
	if (d->nconns >= d->o.max_conns) {
		conn *old = oldest_waiting(d);
		if (old == NULL)
			goto out;
		old->evicted = true;
		d->refused++;
		nng_stream_close(old->s); /* its read ends: conn_end */
	}
	if (e == NULL) {
		e = &d->addrs[d->naddrs++];
		e->a = c->addr;
		e->n = 0;
	}
	e->n++;
	d->nconns++;
	c->waiting = true;
	c->wait_since = nng_clock();
	c->prev = d->tail;
	if (d->tail != NULL)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	ok = true;
out:
	if (!ok)
		d->refused++;
	pthread_mutex_unlock(&d->mtx);
	return ok;
}

static void conn_free(conn *c)
{
	if (c->aio != NULL)
		nng_aio_reap(c->aio);
	free(c->in);
	free(c->out);
	free(c);
}

/* The chain ends: unlisted, counted out, stream and memory freed. From
 * the connection's own aio callback only. */
static void conn_end(conn *c)
{
	vt__httpd *d = c->d;
	if (c->sent != NULL) {
		c->sent(c->sent_arg);
		c->sent = NULL;
	}
	pthread_mutex_lock(&d->mtx);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		d->tail = c->prev;
	addr_drop(d, &c->addr);
	nng_stream_free(c->s); /* closes */
	if (--d->nconns == 0)
		pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mtx);
	conn_free(c);
}

static void accept_next(vt__httpd *d);

/* A new connection on s: admitted and reading, or closed. */
static void conn_start(vt__httpd *d, nng_stream *s)
{
	conn *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->in = malloc(d->o.max_header + 1)) == NULL ||
	    nng_aio_alloc(&c->aio, conn_cb, c) != 0) {
		if (c != NULL)
			c->aio = NULL;
		nng_stream_free(s);
		if (c != NULL)
			conn_free(c);
		return;
	}
	c->d = d;
	c->s = s;
	/* Over TLS the handshake comes before the first byte of the head
	 * and counts against its deadline: one stopped half way is cut
	 * like a head dribbled in (nothing is sent; no 408 can be). */
	c->handshake = d->o.tls != NULL;
	c->deadline = nng_clock() + d->o.header_timeout_ms;
	if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &c->addr) != 0)
		c->addr.s_family = NNG_AF_UNSPEC;
	if (!admit(d, c)) {
		nng_stream_free(s);
		conn_free(c);
		return;
	}
	try_head(c); /* nothing read yet: starts the first read */
}

static void accept_done(void *arg)
{
	vt__httpd *d = arg;
	int rv = nng_aio_result(d->acc);
	pthread_mutex_lock(&d->mtx);
	bool stopping = d->stopping;
	pthread_mutex_unlock(&d->mtx);
	if (stopping || rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		if (rv == 0 && !d->sleeping)
			nng_stream_free(nng_aio_get_output(d->acc, 0));
		return;
	}
	if (d->sleeping) {
		d->sleeping = false;
		accept_next(d);
		return;
	}
	if (rv != 0) {
		/* Out of descriptors or memory: try again shortly (the
		 * caps keep this rare). */
		d->sleeping = true;
		nng_sleep_aio(ACCEPT_BACKOFF, d->acc);
		return;
	}
	conn_start(d, nng_aio_get_output(d->acc, 0));
	accept_next(d);
}

static void accept_next(vt__httpd *d)
{
	nng_stream_listener_accept(d->l, d->acc);
}

/* ---- answers -------------------------------------------------------- */

static const char *reason(uint16_t st)
{
	switch (st) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return st < 300	  ? "OK"
		       : st < 500 ? "Client Error"
				  : "Server Error";
	}
}

static void start_send(conn *c)
{
	nng_iov iov = {.iov_buf = c->out + c->osent,
		       .iov_len = c->olen - c->osent};
	c->st = C_WRITE;
	nng_aio_set_iov(c->aio, 1, &iov);
	nng_aio_set_timeout(c->aio, (nng_duration)c->d->o.idle_timeout_ms);
	nng_stream_send(c->s, c->aio);
}

void vt__httpd_reply(conn *c, const vt__httpd_res *res)
{
	c->close = c->close || res->close;
	c->sent = res->sent;
	c->sent_arg = res->sent_arg;
	const char *extra = res->headers != NULL ? res->headers : "";
	size_t blen = res->head ? 0 : res->len;
	size_t need = 160 + strlen(res->ctype) + strlen(extra) + blen;
	if (need > c->ocap) {
		char *o = realloc(c->out, need);
		if (o == NULL) {
			/* Nothing can be sent: end the connection. */
			c->close = true;
			c->olen = c->osent = 0;
			start_send(c);
			return;
		}
		c->out = o;
		c->ocap = need;
	}
	int n = snprintf(c->out, c->ocap,
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n",
			 res->status, reason(res->status), res->ctype, res->len,
			 extra, c->close ? "Connection: close\r\n" : "");
	c->olen = (size_t)n;
	if (blen > 0)
		memcpy(c->out + c->olen, res->body, blen);
	c->olen += blen;
	c->osent = 0;
	start_send(c);
}

/* The transport's own refusal: JSON, then the connection closes. */
static void refuse(conn *c, uint16_t status)
{
	const char *body;
	switch (status) {
	case 408:
		body = "{\"error\":\"request timeout\"}";
		break;
	case 413:
		body = "{\"error\":\"request body too large\"}";
		break;
	case 414:
		body = "{\"error\":\"request URI too long\"}";
		break;
	case 431:
		body = "{\"error\":\"request headers too large\"}";
		break;
	case 505:
		body = "{\"error\":\"HTTP version not supported\"}";
		break;
	default:
		body = "{\"error\":\"bad request\"}";
		break;
	}
	vt__httpd_res res = {.status = status,
			     .ctype = "application/json",
			     .body = body,
			     .len = strlen(body),
			     .close = true};
	vt__httpd_reply(c, &res);
}

/* ---- reading -------------------------------------------------------- */

static void set_waiting(conn *c, bool waiting)
{
	pthread_mutex_lock(&c->d->mtx);
	if (!waiting)
		c->served = true;
	if (waiting && !c->waiting)
		c->wait_since = nng_clock();
	c->waiting = waiting;
	pthread_mutex_unlock(&c->d->mtx);
}

/* Milliseconds left to the request's deadline (at least 1), or the idle
 * timeout between requests. */
static nng_duration time_left(const conn *c)
{
	if (!c->started && !c->handshake)
		return (nng_duration)c->d->o.idle_timeout_ms;
	nng_time now = nng_clock();
	return c->deadline > now ? (nng_duration)(c->deadline - now) : 1;
}

static void start_read(conn *c, void *buf, size_t len, cstate st)
{
	nng_iov iov = {.iov_buf = buf, .iov_len = len};
	c->st = st;
	nng_aio_set_iov(c->aio, 1, &iov);
	nng_aio_set_timeout(c->aio, time_left(c));
	nng_stream_recv(c->s, c->aio);
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch);
}

static bool is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Cuts the line at p (up to '\n') in place, dropping "\r"; returns the
 * next line. */
static char *cut_line(char *p)
{
	char *nl = strchr(p, '\n');
	*nl = '\0';
	if (nl > p && nl[-1] == '\r')
		nl[-1] = '\0';
	return nl + 1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* The request line at buf into rq: 0, or the status refusing it. */
static uint16_t parse_request_line(char *buf, vt__httpd_req *rq, char **rest)
{
	char *line = buf;
	*rest = cut_line(line);
	char *sp1 = strchr(line, ' ');
	if (sp1 == NULL)
		return 400;
	*sp1 = '\0';
	char *uri = sp1 + 1;
	char *sp2 = strchr(uri, ' ');
	if (sp2 == NULL || sp2 == uri)
		return 400;
	*sp2 = '\0';
	const char *ver = sp2 + 1;
	if (!is_token(line))
		return 400;
	for (const char *u = uri; *u != '\0'; u++)
		if ((unsigned char)*u <= ' ' || *u == 0x7f)
			return 400;
	if (strncmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9' || ver[8] != '\0')
		return 400;
	if (ver[5] >= '2')
		return 505;
	if (ver[5] != '1')
		return 400;
	rq->method = line;
	rq->uri = uri;
	rq->version = ver[7] == '0' ? "HTTP/1.0" : "HTTP/1.1";
	return 0;
}

uint16_t vt__httpd_parse_head(char *buf, size_t hl, vt__httpd_req *rq)
{
	*rq = (vt__httpd_req){0};
	if (memchr(buf, '\0', hl) != NULL)
		return 400;
	char saved = buf[hl];
	buf[hl] = '\0';
	char *p;
	uint16_t st = parse_request_line(buf, rq, &p);
	while (st == 0 && *p != '\0' && *p != '\r' && *p != '\n') {
		char *line = p;
		p = cut_line(line);
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line) {
			st = 400;
			break;
		}
		*colon = '\0';
		if (!is_token(line)) {
			st = 400;
			break;
		}
		if (rq->nhdr == VT__HTTPD_MAX_HEADERS) {
			st = 431;
			break;
		}
		rq->hdr[rq->nhdr].name = line;
		rq->hdr[rq->nhdr].value = trim(colon + 1);
		rq->nhdr++;
	}
	buf[hl] = saved;
	if (st == 0 && strcmp(rq->version, "HTTP/1.1") == 0 &&
	    vt__httpd_header(rq, "Host") == NULL)
		st = 400;
	return st;
}

const char *vt__httpd_header(const vt__httpd_req *rq, const char *name)
{
	for (unsigned i = 0; i < rq->nhdr; i++)
		if (strcasecmp(rq->hdr[i].name, name) == 0)
			return rq->hdr[i].value;
	return NULL;
}

size_t vt__httpd_head_len(const char *buf, size_t n, size_t *scanned)
{
	size_t i = *scanned;
	for (; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	*scanned = n > 2 ? n - 2 : 0;
	return 0;
}

static bool has_word(const char *s, const char *w)
{
	size_t wl = strlen(w);
	for (; *s != '\0'; s++)
		if (strncasecmp(s, w, wl) == 0)
			return true;
	return false;
}

static void dispatch(conn *c)
{
	set_waiting(c, false);
	c->st = C_HANDLER;
	c->d->h(c->d->arg, c, &c->rq);
}

/* The head is parsed: check its framing, then hand the request on. */
static void take_body(conn *c, size_t hl)
{
	const char *v = vt__httpd_header(&c->rq, "Connection");
	if (strcmp(c->rq.version, "HTTP/1.1") != 0 ||
	    (v != NULL && has_word(v, "close")))
		c->close = true;
	c->consumed = hl;
	if (vt__httpd_header(&c->rq, "Transfer-Encoding") != NULL)
		c->close = true; /* not framed by us: the handler decides */
	v = vt__httpd_header(&c->rq, "Content-Length");
	uint64_t len = 0;
	bool ok = v != NULL && *v != '\0';
	for (const char *s = v; ok && *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || len > (UINT64_MAX - 9) / 10)
			ok = false;
		else
			len = len * 10 + (uint64_t)(*s - '0');
	}
	if (v != NULL && !ok)
		c->close = true; /* unframed: the handler says 400 */
	else if (len > c->d->o.max_body) {
		refuse(c, 413);
		return;
	} else if (len > 0)
		c->close = true; /* bodies are not read: answer, then close */
	dispatch(c);
}

/* Reads on until a whole head is in, then parses it. */
static void try_head(conn *c)
{
	/* Blank lines before a request line are ignored (RFC 9112 2.2). */
	size_t skip = 0;
	while (skip < c->n && (c->in[skip] == '\r' || c->in[skip] == '\n'))
		skip++;
	if (skip > 0) {
		memmove(c->in, c->in + skip, c->n - skip);
		c->n -= skip;
		c->scanned = 0;
	}
	size_t hl = vt__httpd_head_len(c->in, c->n, &c->scanned);
	if (hl == 0) {
		if (c->n >= c->d->o.max_header) {
			refuse(c, memchr(c->in, '\n', c->n) ? 431 : 414);
			return;
		}
		if (c->started && nng_clock() >= c->deadline) {
			refuse(c, 408);
			return;
		}
		start_read(c, c->in + c->n, c->d->o.max_header - c->n, C_READ);
		return;
	}
	uint16_t st = vt__httpd_parse_head(c->in, hl, &c->rq);
	if (st != 0) {
		refuse(c, st);
		return;
	}
	take_body(c, hl);
}

/* The answer is out: the next request, from the bytes already read. */
static void next_request(conn *c)
{
	memmove(c->in, c->in + c->consumed, c->n - c->consumed);
	c->n -= c->consumed;
	c->consumed = c->scanned = 0;
	c->rq = (vt__httpd_req){0};
	if (c->ocap > OUT_KEEP) {
		free(c->out);
		c->out = NULL;
		c->ocap = 0;
	}
	c->started = c->n > 0;
	if (c->started)
		c->deadline = nng_clock() + c->d->o.header_timeout_ms;
	set_waiting(c, true);
	try_head(c);
}

static void read_done(conn *c, int rv)
{
	if (rv == NNG_ETIMEDOUT && c->started) {
		refuse(c, 408);
		return;
	}
	if (rv != 0) {
		conn_end(c);
		return;
	}
	size_t got = nng_aio_count(c->aio);
	if (got > 0 && !c->started) {
		c->started = true;
		if (!c->handshake) /* else the deadline runs from accept */
			c->deadline = nng_clock() + c->d->o.header_timeout_ms;
		c->handshake = false;
	}
	c->n += got;
	try_head(c);
}

static void write_done(conn *c, int rv)
{
	if (rv == 0) {
		c->osent += nng_aio_count(c->aio);
		if (c->osent < c->olen) {
			start_send(c);
			return;
		}
	}
	if (c->sent != NULL) {
		c->sent(c->sent_arg);
		c->sent = NULL;
	}
	pthread_mutex_lock(&c->d->mtx);
	bool end =
	    rv != 0 || c->close || c->olen == 0 || c->d->stopping || c->evicted;
	pthread_mutex_unlock(&c->d->mtx);
	if (end)
		conn_end(c);
	else
		next_request(c);
}

static void conn_cb(void *arg)
{
	conn *c = arg;
	int rv = nng_aio_result(c->aio);
	switch (c->st) {
	case C_READ:
		read_done(c, rv);
		break;
	case C_WRITE:
		write_done(c, rv);
		break;
	case C_HANDLER:
		break; /* no operation runs while the handler has it */
	}
}

/* ---- the server ----------------------------------------------------- */

static void opts_fill(vt__httpd_opts *o, const vt__httpd_opts *in)
{
	*o = in != NULL ? *in : (vt__httpd_opts){0};
	if (o->max_conns == 0)
		o->max_conns = DEF_CONNS;
	if (o->max_per_addr == 0)
		o->max_per_addr = DEF_PER_ADDR;
	if (o->header_timeout_ms == 0)
		o->header_timeout_ms = DEF_HEADER_MS;
	if (o->idle_timeout_ms == 0)
		o->idle_timeout_ms = DEF_IDLE_MS;
	if (o->max_header == 0)
		o->max_header = DEF_MAX_HEADER;
	if (o->max_body == 0)
		o->max_body = DEF_MAX_BODY;
	/* Past the descriptor limit accept fails, and with it eviction:
	 * keep the cap, the evicted still closing and the descriptors nng
	 * closes late (its reaper thread) under it - a quarter of the
	 * limit, at least FD_RESERVE, is left to all but live ones. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		rlim_t spare =
		    rl.rlim_cur / 4 > FD_RESERVE ? rl.rlim_cur / 4 : FD_RESERVE;
		rlim_t room = rl.rlim_cur > spare + EVICT_SLACK + 1
				  ? rl.rlim_cur - spare - EVICT_SLACK
				  : 1;
		if (o->max_conns > room)
			o->max_conns = (unsigned)room;
	}
}

static vt_err map_nng(int rv)
{
	switch (rv) {
	case 0:
		return VT_OK;
	case NNG_ENOMEM:
		return VT_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return VT_EINVAL;
	case NNG_EADDRINUSE:
		return VT_EEXIST;
	default:
		return VT_EIO;
	}
}

static const char *nng_reason(int rv)
{
	switch (rv) {
	case NNG_EADDRINUSE:
		return "address in use";
	case NNG_EADDRINVAL:
		return "invalid address";
	case NNG_EPERM:
		return "permission denied";
	default:
		return nng_strerror(rv);
	}
}

static vt_err listen_on(vt__httpd *d, const char *url, char *err, size_t errlen)
{
	int rv = nng_stream_listener_alloc(&d->l, url);
	if (rv == 0 && d->o.tls != NULL)
		rv = nng_stream_listener_set_ptr(d->l, NNG_OPT_TLS_CONFIG,
						 d->o.tls);
	if (rv == 0)
		rv = nng_stream_listener_listen(d->l);
	if (rv == 0)
		rv = nng_aio_alloc(&d->acc, accept_done, d);
	if (rv != 0) {
		set_err(err, errlen, "%s", nng_reason(rv));
		return map_nng(rv);
	}
	return VT_OK;
}

vt_err vt__httpd_start(vt__httpd **out, const char *url,
		       const vt__httpd_opts *opts, vt__httpd_handler h,
		       void *arg, char *err, size_t errlen)
{
	if (out == NULL || url == NULL || h == NULL) {
		set_err(err, errlen, "invalid arguments");
		return VT_EINVAL;
	}
	vt__httpd *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return VT_ENOMEM;
	opts_fill(&d->o, opts);
	d->h = h;
	d->arg = arg;
	d->addr_cap = d->o.max_conns + EVICT_SLACK + 1;
	if ((d->addrs = calloc(d->addr_cap, sizeof(*d->addrs))) == NULL ||
	    pthread_mutex_init(&d->mtx, NULL) != 0) {
		free(d->addrs);
		free(d);
		return VT_ENOMEM;
	}
	if (pthread_cond_init(&d->cv, NULL) != 0) {
		pthread_mutex_destroy(&d->mtx);
		free(d->addrs);
		free(d);
		return VT_ENOMEM;
	}
	vt_err rv = listen_on(d, url, err, errlen);
	if (rv != VT_OK) {
		d->stopping = true;
		vt__httpd_free(d);
		return rv;
	}
	accept_next(d);
	*out = d;
	return VT_OK;
}

unsigned vt__httpd_current(vt__httpd *d)
{
	pthread_mutex_lock(&d->mtx);
	unsigned n = d->nconns;
	pthread_mutex_unlock(&d->mtx);
	return n;
}

uint64_t vt__httpd_refused(vt__httpd *d)
{
	pthread_mutex_lock(&d->mtx);
	uint64_t n = d->refused;
	pthread_mutex_unlock(&d->mtx);
	return n;
}

void vt__httpd_stop(vt__httpd *d)
{
	pthread_mutex_lock(&d->mtx);
	d->stopping = true;
	pthread_mutex_unlock(&d->mtx);
	if (d->l != NULL)
		nng_stream_listener_close(d->l);
	if (d->acc != NULL)
		nng_aio_stop(d->acc); /* no accept callback runs after */
	pthread_mutex_lock(&d->mtx);
	for (conn *c = d->head; c != NULL; c = c->next)
		nng_stream_close(c->s);
	pthread_mutex_unlock(&d->mtx);
}

void vt__httpd_free(vt__httpd *d)
{
	if (d == NULL)
		return;
	vt__httpd_stop(d);
	pthread_mutex_lock(&d->mtx);
	while (d->nconns > 0)
		pthread_cond_wait(&d->cv, &d->mtx);
	pthread_mutex_unlock(&d->mtx);
	if (d->acc != NULL)
		nng_aio_free(d->acc);
	if (d->l != NULL)
		nng_stream_listener_free(d->l);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mtx);
	free(d->addrs);
	free(d);
}
