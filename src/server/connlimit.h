/*
 * connlimit.h - a cap on the connections (nng pipes) of one nng socket.
 *
 * The RPC and pub sockets each take at most `max` peers at once: a pipe
 * past the cap is closed in nng's NNG_PIPE_EV_ADD_PRE callback, before
 * the socket ever sees it, so the peer's dial or request fails at once
 * and nothing of it is buffered. Its dialer (an nng req or sub socket)
 * retries on its own reconnect timer, so a client turned away gets in
 * once another leaves.
 */
#ifndef VT_SERVER_CONNLIMIT_H
#define VT_SERVER_CONNLIMIT_H

#include <stdint.h>

#include <nng/nng.h>

#include "vitals/err.h"

/* The default cap of a socket when its options say 0. */
#define VT__CONNS_DEFAULT 1024

typedef struct vt__connlimit vt__connlimit;

/* Caps sock's peers at max (0 = VT__CONNS_DEFAULT); call before sock
 * listens. Free only after sock is closed (nng calls the callbacks until
 * then). */
vt_err vt__connlimit_attach(vt__connlimit **out, nng_socket sock, unsigned max);

/* Peers connected now, and peers turned away so far. Thread-safe. */
unsigned vt__connlimit_current(vt__connlimit *cl);
uint64_t vt__connlimit_refused(vt__connlimit *cl);

/* Accepts NULL. */
void vt__connlimit_free(vt__connlimit *cl);

#endif
