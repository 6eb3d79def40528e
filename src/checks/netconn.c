/*
 * netconn.c - non-blocking TCP connect bounded by a deadline (see
 * netconn.h).
 */
#include "checks/netconn.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/budget.h"

/* Waits until the connect in progress on fd ends or deadline_ns passes;
 * the errno of the outcome (0 connected, ETIMEDOUT at the deadline). */
static int await_connect(int fd, int64_t deadline_ns)
{
	for (;;) {
		int left = vt__ms_until(deadline_ns);
		if (left <= 0)
			return ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			continue; /* the deadline check above ends it */
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		return err;
	}
}

int vt__netconn_connect(const struct addrinfo *ai, int64_t deadline_ns, int *fd)
{
	int s = socket(ai->ai_family,
		       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       ai->ai_protocol);
	if (s < 0)
		return errno;
	int err = 0;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno;
		if (err == EINPROGRESS || err == EINTR)
			err = await_connect(s, deadline_ns);
	}
	if (err != 0) {
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}
