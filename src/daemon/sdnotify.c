/*
 * sdnotify.c - sd_notify's datagram protocol (see sdnotify.h).
 *
 * Each notification opens a datagram socket, sends one datagram to the
 * address in $NOTIFY_SOCKET and closes it: a handful per run (ready,
 * stopping, reloads) and one per half watchdog interval, so nothing is
 * kept open. An abstract address ('@' first) is sent without the
 * trailing NUL, its length counting only the name, as systemd binds it.
 */
#include "daemon/sdnotify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* MSG_NOSIGNAL and SOCK_CLOEXEC are Linux's (and POSIX 2024's). */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif

/* Fills *sa and *len with the address named by path ("/..." or
 * "@abstract"); false when it names none. */
static bool notify_address(const char *path, struct sockaddr_un *sa,
			   socklen_t *len)
{
	size_t n = strlen(path);
	if (n < 2 || (path[0] != '/' && path[0] != '@') ||
	    n > sizeof(sa->sun_path) - (path[0] == '/'))
		return false;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len =
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return true;
}

int vt__sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;
	if (state == NULL)
		return -1;
	struct sockaddr_un sa;
	socklen_t salen;
	if (!notify_address(path, &sa, &salen))
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	size_t n = strlen(state);
	ssize_t sent;
	do
		sent = sendto(fd, state, n, MSG_NOSIGNAL,
			      (const struct sockaddr *)&sa, salen);
	while (sent < 0 && errno == EINTR);
	close(fd);
	return sent == (ssize_t)n ? 1 : -1;
}

/* Parses s as a whole decimal number > 0 into *out; false otherwise. */
static bool parse_positive(const char *s, unsigned long long *out)
{
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0)
		return false;
	*out = v;
	return true;
}

int vt__sd_watchdog_usec(uint64_t *usec)
{
	unsigned long long v, pid;
	if (!parse_positive(getenv("WATCHDOG_USEC"), &v))
		return 0;
	const char *p = getenv("WATCHDOG_PID");
	if (p != NULL && p[0] != '\0') {
		if (!parse_positive(p, &pid) ||
		    pid != (unsigned long long)getpid())
			return 0;
	}
	if (usec != NULL)
		*usec = (uint64_t)v;
	return 1;
}
