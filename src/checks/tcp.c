/*
 * tcp.c - the tcp check: can a TCP connection to host:port be opened
 * before the run's deadline?
 *
 * The address is parsed at registration: "host:port", or "[v6]:port"
 * for IPv6 literals. A numeric host (IPv4 or IPv6 literal) is resolved
 * there once, with AI_NUMERICHOST, so a run does no name lookup at all.
 * A host name is resolved on every run with getaddrinfo(), which can
 * block past the deadline (the resolver has its own timeouts, see
 * resolv.conf); when it does, the registry reports the run as "timeout
 * after N ms" and the late result is discarded. Use a literal address
 * where that matters.
 *
 * Each address is tried in order with a non-blocking connect() (netconn.c) and
 * poll() bounded by the time left; the first that connects makes the run
 * HEALTHY, and the socket is closed at once. Details: address, ip,
 * latency_ms. errno becomes text in vt__errno_text (core/err.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/budget.h"
#include "checks/netconn.h"
#include "core/clock.h"
#include "core/err.h"
#include "vitals/checks.h"

#define HOST_MAX 255

typedef struct tcp_check {
	/* immutable after registration */
	char address[HOST_MAX + 16]; /* as given */
	char host[HOST_MAX + 1];     /* without brackets */
	char port[6];
	struct addrinfo *numeric; /* resolved once for a literal; or NULL */
	int timeout_ms;
} tcp_check;

static void tcp_check_free(void *arg)
{
	tcp_check *c = arg;
	if (c == NULL)
		return;
	if (c->numeric != NULL)
		freeaddrinfo(c->numeric);
	free(c);
}

/* Splits "host:port" / "[v6]:port" into c->host and c->port. 0 if the
 * address is well formed: a non-empty host (an unbracketed host has no
 * ':'), a port of 1..65535 in decimal. */
static int parse_address(tcp_check *c, const char *a)
{
	const char *host, *colon;
	size_t hlen;
	if (a[0] == '[') {
		const char *close = strchr(a, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		host = a + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL || memchr(a, ':', (size_t)(colon - a)))
			return -1; /* no port, or an IPv6 literal unbracketed */
		host = a;
		hlen = (size_t)(colon - a);
	}
	if (hlen == 0 || hlen > HOST_MAX)
		return -1;
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen)
		return -1;
	long port = strtol(p, NULL, 10);
	if (port < 1 || port > 65535)
		return -1;
	memcpy(c->host, host, hlen);
	c->host[hlen] = '\0';
	snprintf(c->port, sizeof(c->port), "%ld", port);
	return 0;
}

static void ip_text(const struct addrinfo *ai, char *out, size_t cap)
{
	const void *a = NULL;
	if (ai->ai_family == AF_INET)
		a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
	else if (ai->ai_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
	if (a == NULL ||
	    inet_ntop(ai->ai_family, a, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "?");
}

static void tcp_run(vt_check_result *r, void *arg)
{
	tcp_check *c = arg;
	vt_result_detail_str(r, "address", c->address);
	int64_t start = vt__mono_ns();
	int64_t deadline = vt__deadline_ns(vt__check_budget_ms(r));

	struct addrinfo *res = c->numeric, *owned = NULL;
	if (res == NULL) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_NUMERICSERV};
		int g = getaddrinfo(c->host, c->port, &hints, &owned);
		if (g != 0) {
			int err = errno;
			vt_result_status(r, VT_UNHEALTHY);
			vt_result_error(r, "cannot resolve %s: %s", c->host,
					g == EAI_SYSTEM ? vt__errno_text(err)
							: gai_strerror(g));
			return;
		}
		res = owned;
	}
	int err = ETIMEDOUT;
	char ip[INET6_ADDRSTRLEN] = "";
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (vt__mono_ns() >= deadline) {
			err = ETIMEDOUT;
			break;
		}
		ip_text(ai, ip, sizeof(ip));
		int fd;
		err = vt__netconn_connect(ai, deadline, &fd);
		if (err == 0) {
			close(fd);
			break;
		}
	}
	if (owned != NULL)
		freeaddrinfo(owned);
	if (ip[0] != '\0')
		vt_result_detail_str(r, "ip", ip);
	double ms = (double)(vt__mono_ns() - start) / 1e6;
	if (err == 0) {
		vt_result_detail_num(r, "latency_ms", ms);
		return;
	}
	vt_result_status(r, VT_UNHEALTHY);
	if (err == ETIMEDOUT)
		vt_result_error(r, "timeout after %d ms connecting to %s",
				c->timeout_ms, c->address);
	else
		vt_result_error(r, "cannot connect to %s: %s", c->address,
				vt__errno_text(err));
}

/* Registers a tcp check (see checks.h). VT_EINVAL for an address that is
 * not "host:port" or "[v6]:port" with a port of 1..65535, or a bracketed
 * host that is not an IPv6 literal; VT_ENOMEM; the registry's errors.
 * Nothing is registered on error. Thread-safe. */
vt_err vt_check_tcp_add(vt_health *h, const char *name, const vt_tcp_opts *o,
			const vt_check_opts *co)
{
	if (h == NULL || o == NULL || o->address == NULL)
		return VT_EINVAL;
	if (strlen(o->address) >= sizeof(((tcp_check *)0)->address))
		return VT_EINVAL;
	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = tcp_check_free;

	tcp_check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	vt_err rv = VT_EINVAL;
	snprintf(c->address, sizeof(c->address), "%s", o->address);
	c->timeout_ms = opts.timeout_ms;
	if (parse_address(c, o->address) != 0)
		goto fail;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	if (o->address[0] == '[')
		hints.ai_family = AF_INET6;
	int g = getaddrinfo(c->host, c->port, &hints, &c->numeric);
	if (g != 0) {
		c->numeric = NULL;
		if (o->address[0] == '[') /* brackets promise a literal */
			goto fail;
		if (g == EAI_MEMORY) {
			rv = VT_ENOMEM;
			goto fail;
		}
	}
	rv = vt_health_add(h, name, tcp_run, c, &opts);
	if (rv == VT_OK)
		return VT_OK;
fail:
	tcp_check_free(c);
	return rv;
}
