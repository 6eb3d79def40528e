/*
 * support_http.c - a raw HTTP/1.1 keep-alive client. See support_http.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "support_http.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support_net.h"

/* The most bytes one connection buffers. */
#define BUF_MAX (16 * 1024 * 1024)

static bool fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return false;
}

void vt_test_conn_init(vt_test_conn *c)
{
	c->fd = -1;
	c->n = 0;
	c->cap = 65536;
	c->buf = malloc(c->cap);
}

void vt_test_conn_close(vt_test_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->n = 0;
}

void vt_test_conn_fini(vt_test_conn *c)
{
	vt_test_conn_close(c);
	free(c->buf);
	c->buf = NULL;
}

int vt_test_conn_open(vt_test_conn *c, int port)
{
	c->n = 0;
	c->fd = vt_test_connect_port(port);
	return c->fd >= 0 ? 0 : -1;
}

vt_test_conn *vt_test_conn_new(int port)
{
	vt_test_conn *c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	vt_test_conn_init(c);
	if (c->buf == NULL || vt_test_conn_open(c, port) != 0) {
		vt_test_conn_free(c);
		return NULL;
	}
	return c;
}

void vt_test_conn_free(vt_test_conn *c)
{
	if (c == NULL)
		return;
	vt_test_conn_fini(c);
	free(c);
}

bool vt_test_conn_send(vt_test_conn *c, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads more within timeout_ms: 1 got bytes, 0 EOF/error, -1 timeout. */
static int conn_fill(vt_test_conn *c, int timeout_ms)
{
	if (c->n + 1 >= c->cap) {
		size_t ncap = c->cap * 2;
		if (ncap > BUF_MAX)
			return 0;
		char *nb = realloc(c->buf, ncap);
		if (nb == NULL)
			return 0;
		c->buf = nb;
		c->cap = ncap;
	}
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int rv = poll(&p, 1, timeout_ms);
	if (rv == 0)
		return -1;
	if (rv < 0)
		return errno == EINTR ? 1 : 0;
	ssize_t r = recv(c->fd, c->buf + c->n, c->cap - 1 - c->n, 0);
	if (r < 0 && errno == EINTR)
		return 1;
	if (r <= 0)
		return 0;
	c->n += (size_t)r;
	return 1;
}

/* Drops the first n bytes of c's buffer. */
static void consume(vt_test_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->n - n);
	c->n -= n;
}

/* Reads the head into r; its length (with the blank line) in *hl. */
static bool read_head(vt_test_conn *c, int timeout_ms, vt_test_resp *r,
		      size_t *hl, char *why, size_t cap)
{
	char *end;
	for (;;) {
		c->buf[c->n] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) != NULL)
			break;
		int f = conn_fill(c, timeout_ms);
		if (f <= 0)
			return fail(why, cap, "%s before the head",
				    f == 0 ? "connection closed" : "timeout");
	}
	*hl = (size_t)(end - c->buf) + 4;
	if (*hl >= sizeof(r->head))
		return fail(why, cap, "head of %zu bytes", *hl);
	memcpy(r->head, c->buf, *hl);
	r->head[*hl] = '\0';
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return fail(why, cap, "bad status line");
	return true;
}

/* The Content-Length of head; -1 when it has none. */
static long content_length(const char *head)
{
	long cl = -1;
	for (const char *h = strstr(head, "\r\n"); h != NULL;
	     h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
			cl = strtol(h + 17, NULL, 10);
	return cl;
}

bool vt_test_conn_read(vt_test_conn *c, bool head_only, int timeout_ms,
		       vt_test_resp *r, char *why, size_t cap)
{
	size_t hl = 0;
	memset(r, 0, sizeof(*r));
	if (!read_head(c, timeout_ms, r, &hl, why, cap))
		return false;
	consume(c, hl);
	long cl = head_only ? 0 : content_length(r->head);
	int f = 1;
	while (cl < 0 ? f > 0 : c->n < (size_t)cl) {
		if ((f = conn_fill(c, timeout_ms)) < 0 || (f == 0 && cl >= 0))
			return fail(why, cap, "%s in the body",
				    f == 0 ? "connection closed" : "timeout");
	}
	r->len = cl < 0 ? c->n : (size_t)cl;
	if ((r->body = malloc(r->len + 1)) == NULL)
		return fail(why, cap, "out of memory");
	memcpy(r->body, c->buf, r->len);
	r->body[r->len] = '\0';
	consume(c, r->len);
	return true;
}

bool vt_test_conn_request(vt_test_conn *c, const char *method,
			  const char *target, const char *extra, int timeout_ms,
			  vt_test_resp *r, char *why, size_t cap)
{
	char req[8192];
	memset(r, 0, sizeof(*r));
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method,
			 target, extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return fail(why, cap, "request of %d bytes", n);
	if (!vt_test_conn_send(c, req, (size_t)n))
		return fail(why, cap, "send: %s", strerror(errno));
	return vt_test_conn_read(c, strcmp(method, "HEAD") == 0, timeout_ms, r,
				 why, cap);
}

int vt_test_conn_get(vt_test_conn *c, const char *target, int timeout_ms,
		     vt_test_resp *r, char *why, size_t cap)
{
	if (!vt_test_conn_request(c, "GET", target, NULL, timeout_ms, r, why,
				  cap))
		return -1;
	if (strncmp(r->head, "HTTP/1.1 ", 9) != 0 ||
	    content_length(r->head) < 0) {
		fail(why, cap, "%s",
		     r->head[7] != '1' ? "bad status line"
				       : "no Content-Length");
		vt_test_resp_free(r);
		return -1;
	}
	return 0;
}

bool vt_test_conn_closed(vt_test_conn *c, int timeout_ms)
{
	if (c->n > 0)
		return false;
	return conn_fill(c, timeout_ms) == 0;
}

bool vt_test_http_request(int port, const char *method, const char *target,
			  const char *extra, int timeout_ms, vt_test_resp *r)
{
	vt_test_conn *c = vt_test_conn_new(port);
	if (c == NULL) {
		memset(r, 0, sizeof(*r));
		return false;
	}
	bool ok = vt_test_conn_request(c, method, target, extra, timeout_ms, r,
				       NULL, 0);
	vt_test_conn_free(c);
	if (!ok)
		vt_test_resp_free(r);
	return ok;
}

void vt_test_resp_free(vt_test_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
	r->status = 0;
	r->head[0] = '\0';
}

int vt_test_resp_closes(const vt_test_resp *r)
{
	return strcasestr(r->head, "\r\nConnection: close") != NULL;
}

void vt_test_resp_header(const vt_test_resp *r, const char *name, char *out,
			 size_t cap)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *h = strstr(r->head, "\r\n"); h != NULL;
	     h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, name, nl) == 0 && h[2 + nl] == ':') {
			const char *v = h + 3 + nl;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)strcspn(v, "\r"), v);
			return;
		}
}
