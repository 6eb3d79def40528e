/*
 * netconn.h - the non-blocking TCP connect that the tcp and rabbitmq
 * checks share.
 *
 * One address at a time: a non-blocking, close-on-exec socket, connect(),
 * then poll() for writability until a monotonic deadline, and SO_ERROR
 * for the outcome. EINTR is retried; nothing blocks past the deadline.
 * Errors are errno values, for vt__errno_text (core/err.h) or the
 * check's own wording. Thread-safe, no state.
 */
#ifndef VT_CHECKS_NETCONN_H
#define VT_CHECKS_NETCONN_H

#include <netdb.h>
#include <stdint.h>

/* Connects to ai before deadline_ns (vt__mono_ns). 0 on success with *fd
 * the connected socket (non-blocking, close-on-exec; the caller closes
 * it); else the errno of the failure (ETIMEDOUT at the deadline) and
 * nothing left open. */
int vt__netconn_connect(const struct addrinfo *ai, int64_t deadline_ns,
			int *fd);

#endif
