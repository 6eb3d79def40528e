/*
 * httpreq.h - the HTTP plumbing that the http and dmarket checks share:
 * one libcurl request, bounded in time and in the body it reads, with
 * libcurl's codes mapped to a vt_err and a text that names no
 * credential.
 *
 * Each request uses a fresh easy handle, so every run of a check makes
 * a new connection (DNS, connect, TLS) as a new client would, and a
 * stale keep-alive connection never hides an outage.
 */
#ifndef VT_CHECKS_HTTPREQ_H
#define VT_CHECKS_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"

/* Most body bytes read from a response; past it the transfer stops and
 * the response counts as received (a health check wants the status, not
 * an endless stream). */
#define VT__HTTP_BODY_MAX (64 * 1024)

/* Bytes of an error text built by vt__http_perform. */
#define VT__HTTP_ERR_MAX 384

typedef struct vt__http_req {
	const char *url;	    /* absolute http(s) URL */
	const char *method;	    /* NULL = "GET"; "HEAD" sends no body */
	const char *const *headers; /* "Name: value" lines, NULL-ended */
	bool insecure;		    /* skip TLS peer and host verification */
	int timeout_ms;		    /* > 0: whole request, connect included */
	size_t body_keep;	    /* first body bytes kept; 0 = none */
} vt__http_req;

typedef struct vt__http_resp {
	long status;	   /* HTTP status code */
	double latency_ms; /* whole transfer, as libcurl measured it */
	char *body;	   /* first body_keep bytes, NUL-terminated; or NULL */
	size_t body_len;
} vt__http_resp;

/* Initialises libcurl once per process (pthread_once). VT_EINTERNAL if
 * curl_global_init failed. Thread-safe. */
vt_err vt__http_global_init(void);

/* VT_OK if url is an absolute http:// or https:// URL with a host, as
 * the library's URL parser (checks/url.h) reads it; VT_EINVAL otherwise,
 * VT_ENOMEM. Thread-safe. */
vt_err vt__http_url_check(const char *url);

/* Performs q. VT_OK once a response status was received, whatever it is
 * (resp filled; release it with vt__http_resp_fini). Otherwise a vt_err
 * (VT_ETIMEDOUT, VT_EUNAVAIL for resolve/connect failures, VT_EAUTH for
 * a TLS peer that failed verification, VT_EPROTO, VT_EIO, VT_ENOMEM) and
 * err[errcap] says what happened, without the URL's password - for
 * VT_ETIMEDOUT only where it stalled, so that the caller can say
 * "timeout after N ms" with its own N; resp is then untouched.
 * Thread-safe (no state is shared between calls). */
vt_err vt__http_perform(const vt__http_req *q, vt__http_resp *resp, char *err,
			size_t errcap);

/* vt__http_perform for a check run: on failure the run is UNHEALTHY
 * with the error ("timeout after N ms: ..." past the budget; N is the
 * check's timeout_ms) followed by shown (the redacted URL) and a
 * non-VT_OK code is returned; on success the details status_code and
 * latency_ms are set. Thread-safe. */
vt_err vt__http_check_perform(vt_check_result *r, const vt__http_req *q,
			      int timeout_ms, const char *shown,
			      vt__http_resp *resp);

/* Frees what resp holds. Accepts a zeroed resp. */
void vt__http_resp_fini(vt__http_resp *resp);

/* Copies the n bytes of s to dst[cap] (cut at cap - 1 bytes, always
 * NUL-terminated) with every control byte (below 0x20, and 0x7f)
 * replaced by a space: for quoting a server's text in an error. */
void vt__http_printable(char *dst, size_t cap, const char *s, size_t n);

#endif
