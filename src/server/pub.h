/*
 * pub.h - the nng pub socket on which status changes are published.
 *
 * Each message is plain text without a NUL (server.h has the format):
 *   "<check> <old> <new>"  e.g. "redis healthy unhealthy"
 *   "* <old> unhealthy"    the overall readiness change at shutdown
 * Subscribers (vt_client_watch, any nng sub socket) subscribe to "" or
 * to a check name prefix. pub drops messages for a subscriber that does
 * not keep up, and one that connects later sees only later changes.
 */
#ifndef VT_SERVER_PUB_H
#define VT_SERVER_PUB_H

#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "vitals/err.h"

typedef struct vt__pub vt__pub;

/* Opens a pub socket listening at url (tcp:// or ipc://) for at most
 * max_conns subscribers at once (0 = VT__CONNS_DEFAULT). On error
 * nothing is left open and err (may be NULL) says what failed, e.g.
 * "pub tcp://127.0.0.1:5556: Address in use"; VT_EINVAL for a bad url,
 * VT_EUNAVAIL when it cannot listen. Thread-safe. */
vt_err vt__pub_start(vt__pub **out, const char *url, unsigned max_conns,
		     char *err, size_t errlen);

/* As vt__pub_start; with tls (not NULL; held by the listener) a
 * tls+tcp:// url is served with it. */
vt_err vt__pub_start_tls(vt__pub **out, const char *url, unsigned max_conns,
			 nng_tls_config *tls, char *err, size_t errlen);

/* Publishes text to every subscriber without blocking: VT_OK once nng
 * has taken it (a slow subscriber may still miss it), VT_EINVAL for a
 * NULL argument, VT_ENOMEM, VT_EIO if nng refused it. Thread-safe, so it
 * can be the health listener's body. */
vt_err vt__pub_send(vt__pub *p, const char *text);

/* The TCP port listened on (for "tcp://127.0.0.1:0"), else 0.
 * Thread-safe. */
int vt__pub_port(const vt__pub *p);

/* Closes the socket and frees. Accepts NULL. No vt__pub_send may run
 * concurrently or later. */
void vt__pub_free(vt__pub *p);

#endif
