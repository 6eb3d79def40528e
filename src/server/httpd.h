/*
 * httpd.h - the gateway's HTTP/1.1 transport: a listener of its own over
 * nng's stream API (tcp://, and tls+tcp:// with a TLS config), with
 * every connection capped and timed out. Request in, answer out: the
 * transport reads and frames requests, the handler (the gateway) answers
 * each exactly once, from any thread.
 *
 * Limits (0 in the options = the default in brackets): connections at
 * once [1024], per client address [64], the request head (request line
 * and headers) within header_timeout_ms of its first byte [10 s], the
 * next request within idle_timeout_ms of the last answer [60 s], a head
 * of at most max_header bytes [8 KiB] and a Content-Length of at most
 * max_body bytes [1 MiB]; over TLS, the handshake and the first head
 * together within header_timeout_ms of accept (a connection cut during
 * the handshake is closed without an answer). No route reads a body: a request
 * with one (or with Transfer-Encoding) is answered from its head, then its
 * connection closes, so an unread body is never taken for the next request.
 * Answers the transport gives by itself, each with a JSON body and
 * "Connection: close": 400 (malformed head), 408 (head not in time),
 * 413 (Content-Length over max_body), 414 (request line over
 * max_header), 431 (head over max_header or over 64 headers), 505
 * (HTTP/2 and later). A connection
 * past the address cap is closed at accept; one past the total cap takes
 * the place of a connection waiting for a request - the one waiting
 * longest of those that never sent a whole request (a slowloris), else
 * the one idle longest; an answer under way is never cut - or is closed
 * at accept when none waits. The cap is lowered, if need be,
 * to the process's descriptor limit (RLIMIT_NOFILE, soft) less a
 * quarter of it (at least 64: the rest of the process, descriptors nng
 * closes late) and 64 (evicted connections still closing) - 704 at a
 * limit of 1,024 - so that accept, and with it eviction, does not run
 * out of descriptors.
 */
#ifndef VT_SERVER_HTTPD_H
#define VT_SERVER_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "vitals/err.h"

typedef struct vt__httpd vt__httpd;
typedef struct vt__httpd_conn vt__httpd_conn;

#define VT__HTTPD_MAX_HEADERS 64

typedef struct vt__httpd_opts {
	unsigned max_conns;	    /* 0 = 1024 */
	unsigned max_per_addr;	    /* 0 = 64 */
	unsigned header_timeout_ms; /* 0 = 10000 */
	unsigned idle_timeout_ms;   /* 0 = 60000 */
	size_t max_header;	    /* 0 = 8192 */
	size_t max_body;	    /* 0 = 1 MiB */
	/* An nng TLS server config (nng_tls_config *) for a tls+tcp://
	 * url: HTTPS. NULL = plain TCP. */
	void *tls;
} vt__httpd_opts;

/* One request; every pointer stays valid until the answer is given. */
typedef struct vt__httpd_req {
	const char *method;  /* never NULL */
	const char *uri;     /* as sent; never NULL */
	const char *version; /* "HTTP/1.0" or "HTTP/1.1" */
	unsigned nhdr;
	struct {
		const char *name, *value;
	} hdr[VT__HTTPD_MAX_HEADERS];
} vt__httpd_req;

/* An answer. The transport copies it: the caller's buffers may go as
 * soon as vt__httpd_reply returns. */
typedef struct vt__httpd_res {
	uint16_t status;
	const char *ctype;   /* Content-Type */
	const char *headers; /* more header lines, each "Name: value\r\n";
				NULL = none */
	const char *body;
	size_t len;
	bool head;  /* HEAD: Content-Length of body, no body sent */
	bool close; /* close the connection after it */
	/* Called once the answer was written (or could not be): then the
	 * request is over. NULL = none. */
	void (*sent)(void *arg);
	void *sent_arg;
} vt__httpd_res;

/* Called once per request on an nng thread; must not block (hand
 * waiting work to a thread of yours) and must lead to exactly one
 * vt__httpd_reply(c, ...). */
typedef void (*vt__httpd_handler)(void *arg, vt__httpd_conn *c,
				  const vt__httpd_req *rq);

/* The value of header name (case-insensitive; the first one sent), or
 * NULL. */
const char *vt__httpd_header(const vt__httpd_req *rq, const char *name);

/* The length of the request head at buf[0..n) through its blank line
 * (CRLF or LF line ends), 0 while it is incomplete. *scanned (0 at
 * first) remembers how far a previous call looked. */
size_t vt__httpd_head_len(const char *buf, size_t n, size_t *scanned);

/* Parses the head (hl bytes at buf, as vt__httpd_head_len measured;
 * buf[hl] must be readable and is restored) into rq, cutting it in
 * place: 0, or the status refusing it (400 malformed or no Host in
 * HTTP/1.1, 431 over VT__HTTPD_MAX_HEADERS headers, 505 HTTP/2+). */
uint16_t vt__httpd_parse_head(char *buf, size_t hl, vt__httpd_req *rq);

/* Answers c's current request. Any thread, once per request. */
void vt__httpd_reply(vt__httpd_conn *c, const vt__httpd_res *res);

/* Listens on url ("tcp://HOST:PORT"; "tls+tcp://..." with opts->tls)
 * and serves each request through h(arg, ...). On error nothing is left
 * running and err (may be NULL) says why. */
vt_err vt__httpd_start(vt__httpd **out, const char *url,
		       const vt__httpd_opts *opts, vt__httpd_handler h,
		       void *arg, char *err, size_t errlen);

/* Connections open now, and connections turned away or evicted so far.
 * Thread-safe. */
unsigned vt__httpd_current(vt__httpd *d);
uint64_t vt__httpd_refused(vt__httpd *d);

/* Stops accepting and closes every connection; requests being answered
 * still get their vt__httpd_reply (into a closed connection).
 * Idempotent. Not from a handler. */
void vt__httpd_stop(vt__httpd *d);

/* Stops, waits until every request begun has been replied to and every
 * connection is gone, and frees. Accepts NULL. Not from a handler. */
void vt__httpd_free(vt__httpd *d);

#endif
