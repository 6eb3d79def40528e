/*
 * support_net.c - loopback ports and connections. See support_net.h.
 */
#include "support_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* The lowest port of the kernel's ephemeral range (32768 when unread). */
static int ephemeral_low(void)
{
	int lo = 32768, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f != NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

/* Whether a bind to 0.0.0.0:port, without SO_REUSEADDR, succeeds now:
 * nothing listens, connects or waits in TIME_WAIT on it. */
static int port_unused(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_ANY)};
	int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The kernel's pick for a bind to 127.0.0.1:0, when the ephemeral
 * range leaves no room below it. */
static int kernel_pick(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int vt_test_free_port(void)
{
	static atomic_uint seq;
	const int base = 10000;
	int span = ephemeral_low() - base;
	if (span < 1000)
		return kernel_pick();
	/* A different walk per process and per call. */
	uint32_t x = (uint32_t)getpid() * 2654435761u ^
		     (uint32_t)vt_test_now_ms() ^
		     (atomic_fetch_add(&seq, 1) + 1) * 40503u;
	for (int tries = 0; tries < 200; tries++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		int port = base + (int)(x % (uint32_t)span);
		if (port_unused(port))
			return port;
	}
	return -1;
}

int vt_test_connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	while (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Polls until a connect to port succeeds (want 1) or is refused (want
 * 0), within timeout_ms. */
static int wait_port_state(int port, int want, int timeout_ms)
{
	double end = vt_test_now_ms() + timeout_ms;
	for (;;) {
		int fd = vt_test_connect_port(port);
		if (fd >= 0)
			close(fd);
		if ((fd >= 0) == (want == 1))
			return 1;
		if (vt_test_now_ms() >= end)
			return 0;
		vt_test_sleep_ms(20);
	}
}

int vt_test_wait_port(int port, int timeout_ms)
{
	return wait_port_state(port, 1, timeout_ms);
}

int vt_test_wait_port_closed(int port, int timeout_ms)
{
	return wait_port_state(port, 0, timeout_ms);
}
