/*
 * url.h - the URL handling that the checks share: parsing of
 * scheme://[user[:password]@]host[:port][/path][?query][#fragment]
 * (host may be an IPv6 literal in brackets, or empty as in
 * unix:///path), percent-decoding of the credentials and of query
 * values, and scrubbing of a secret out of text a server or library
 * produced. vt_url_redact (public, vitals/checks.h) lives in url.c too.
 *
 * Parsing follows RFC 3986 with the WHATWG rule for the user info: the
 * authority ends at the first '/', '?' or '#', and the user info at the
 * last '@' inside it, so an unencoded '@' in a password still works; a
 * '/', '?' or '#' in a password must be percent-encoded.
 *
 * This is the one URL parser of the library: the redis and rabbitmq
 * checks read their URLs with it, the http and dmarket checks validate
 * theirs with it (libcurl is handed the text as given), and redaction
 * (vt_url_redact, vt__scrub) and the http check's scrubbing of libcurl's
 * messages find the password with it.
 *
 * Every function here is reentrant and thread-safe.
 */
#ifndef VT_CHECKS_URL_H
#define VT_CHECKS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/err.h"

/* Longest URL accepted, in bytes. */
#define VT__URL_MAX 4096

typedef struct vt__url {
	char *scheme; /* lower-case: "redis", "amqp", "unix", ... */
	char *user;   /* percent-decoded; NULL when there is no user info */
	char
	    *password; /* percent-decoded; NULL when the user info has no ':' */
	char *password_raw; /* as written in the URL; NULL likewise */
	char *host;   /* "" when empty; an IPv6 literal without brackets */
	bool host_v6; /* host was a [v6] literal */
	int port;     /* 1..65535; 0 when absent */
	char *path;   /* raw (not decoded); "" when absent, else starts '/' */
	char *query;  /* raw, between '?' and '#'; NULL when absent */
} vt__url;

/* Parses text into *out (written only on success; release it with
 * vt__url_fini). VT_EINVAL when text is not such a URL: no scheme, a
 * control character or space, a bad port, host or percent escape (a
 * decoded NUL counts as bad), or more than VT__URL_MAX bytes;
 * VT_ENOMEM. */
vt_err vt__url_parse(const char *text, vt__url *out);

/* Frees what vt__url_parse allocated and zeroes u. Accepts NULL and a
 * zeroed vt__url. */
void vt__url_fini(vt__url *u);

/* Percent-decodes the n bytes at s into a malloc'd string (*out, on
 * success only). '+' stays '+'. VT_EINVAL for a bad escape or %00. */
vt_err vt__url_decode(const char *s, size_t n, char **out);

/* The percent-decoded value of the first key=value pair of query
 * ('&'-separated) whose key is key, as a malloc'd string in *out (on
 * success only); "key" alone gives "". VT_ENOENT when absent, VT_EINVAL
 * for a bad escape, VT_ENOMEM. query may be NULL (nothing in it). */
vt_err vt__url_query_get(const char *query, const char *key, char **out);

/* Writes "host:port", or "[v6]:port" for IPv6 literals, to out (cap
 * bytes, NUL-terminated, truncated if needed): how errors name a
 * server. */
void vt__url_hostport(const char *host, bool v6, int port, char *out,
		      size_t cap);

/* A malloc'd copy of url with its password redacted (vt_url_redact),
 * how a check shows its target in details and logs; NULL on ENOMEM. */
char *vt__url_shown(const char *url);

/* Replaces every occurrence of secret in the NUL-terminated text (held
 * in a buffer of cap bytes) with "***", cutting the result to cap - 1
 * bytes. For texts a server or library wrote, which might quote what it
 * was sent. An empty or NULL secret changes nothing. */
void vt__scrub(char *text, size_t cap, const char *secret);

/* Overwrites the NUL-terminated secret s with zeros before its memory is
 * freed, so a password does not linger there. Accepts NULL. */
void vt__secret_wipe(char *s);

#endif
