/*
 * support_net.c - loopback ports and connections. See support_net.h.
 */
#include "support_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

int vt_test_free_port(void)
{
	/* A bind to port 0 can fail while the ephemeral range is busy. */
	for (int tries = 0; tries < 20; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr =
					    htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(a);
		int port = -1;
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
			port = ntohs(a.sin_port);
		close(fd);
		if (port > 0)
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
