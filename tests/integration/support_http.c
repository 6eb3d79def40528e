/*
 * support_http.c - a raw HTTP/1.1 keep-alive client. See support_http.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "support_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

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
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		errno = e;
		return -1;
	}
	c->n = 0;
	return 0;
}

/* Reads more within timeout_ms: 1 got bytes, 0 EOF/error, -1 timeout. */
static int conn_fill(vt_test_conn *c, int timeout_ms)
{
	if (c->n + 1 >= c->cap) {
		size_t ncap = c->cap * 2;
		if (ncap > 16 * 1024 * 1024)
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

int vt_test_conn_get(vt_test_conn *c, const char *target, int timeout_ms,
		     vt_test_resp *r, char *why, size_t cap)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target);
	memset(r, 0, sizeof(*r));
	for (const char *p = req; n > 0;) {
		ssize_t w = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(why, cap, "send: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (int)w;
	}
	char *end;
	for (;;) {
		c->buf[c->n] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) != NULL)
			break;
		int f = conn_fill(c, timeout_ms);
		if (f <= 0) {
			snprintf(why, cap, "%s before the head",
				 f == 0 ? "connection closed" : "timeout");
			return -1;
		}
	}
	size_t hl = (size_t)(end - c->buf) + 4;
	if (hl >= sizeof(r->head)) {
		snprintf(why, cap, "head of %zu bytes", hl);
		return -1;
	}
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) {
		snprintf(why, cap, "bad status line");
		return -1;
	}
	long cl = -1;
	for (char *h = strstr(r->head, "\r\n"); h != NULL;
	     h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
			cl = strtol(h + 17, NULL, 10);
	if (cl < 0) {
		snprintf(why, cap, "no Content-Length");
		return -1;
	}
	while (c->n < hl + (size_t)cl) {
		int f = conn_fill(c, timeout_ms);
		if (f <= 0) {
			snprintf(why, cap, "%s in the body",
				 f == 0 ? "connection closed" : "timeout");
			return -1;
		}
	}
	r->len = (size_t)cl;
	if ((r->body = malloc(r->len + 1)) == NULL) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	memcpy(r->body, c->buf + hl, r->len);
	r->body[r->len] = '\0';
	memmove(c->buf, c->buf + hl + r->len, c->n - hl - r->len);
	c->n -= hl + r->len;
	return 0;
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
