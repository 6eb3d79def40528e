/*
 * tls.h - nng TLS configurations from PEM files, for every vitals
 * transport that speaks TLS: the RPC and pub listeners (tls+tcp://), the
 * HTTP gateway's stream listener and the client's dialer.
 */
#ifndef VT_SERVER_TLS_H
#define VT_SERVER_TLS_H

#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "vitals/err.h"

/* A server configuration: own certificate (PEM file cert, with its
 * chain) and key (PEM file key); with ca (may be NULL), clients must
 * present a certificate signed by it (mutual TLS). *out is written only
 * on success; on error err says which file and why: VT_EIO unreadable,
 * VT_EINVAL not a usable certificate or key, VT_ENOMEM. */
vt_err vt__tls_server_config(nng_tls_config **out, const char *cert,
			     const char *key, const char *ca, char *err,
			     size_t errlen);

/* A client configuration: the server's certificate must be signed by ca
 * (required) and name server_name (may be NULL: not checked); cert and
 * key (both or neither) are presented for mutual TLS. As above. */
vt_err vt__tls_client_config(nng_tls_config **out, const char *ca,
			     const char *cert, const char *key,
			     const char *server_name, char *err, size_t errlen);

/* "tcp://..." becomes "tls+tcp://..." in out; other URLs are copied.
 * VT_ETOOBIG if it does not fit. */
vt_err vt__tls_url(const char *url, char *out, size_t cap);

#endif
