/*
 * httpreq.c - one bounded libcurl request for the http and dmarket
 * checks.
 *
 * A request gets its own easy handle with CURLOPT_NOSIGNAL (no SIGALRM
 * in a threaded program), a whole-request and a connect timeout both set
 * to the caller's budget, http/https only, no redirects followed, TLS
 * verification on unless asked otherwise. The body goes through a write
 * callback that keeps the first body_keep bytes and stops the transfer
 * after VT__HTTP_BODY_MAX bytes; that stop is not an error, since the
 * status line was already received.
 *
 * CURLcode is mapped to vt_err and a text in one place, curl_failure().
 * libcurl's own error text (CURLOPT_ERRORBUFFER) is used when it is
 * there, unless it contains the URL's password, in which case the
 * generic curl_easy_strerror() text is used instead.
 */
#include "checks/httpreq.h"

#include "checks/url.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK; /* written once under global_once */

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

vt_err vt__http_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_rc == CURLE_OK ? VT_OK : VT_EINTERNAL;
}

void vt__http_printable(char *dst, size_t cap, const char *s, size_t n)
{
	if (cap == 0)
		return;
	if (n > cap - 1)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	dst[n] = '\0';
}

vt_err vt__http_url_check(const char *url)
{
	if (url == NULL || url[0] == '\0')
		return VT_EINVAL;
	if (vt__http_global_init() != VT_OK)
		return VT_EINTERNAL;
	vt__url u;
	vt_err rv = vt__url_parse(url, &u);
	if (rv != VT_OK)
		return rv;
	if ((strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) ||
	    u.host[0] == '\0')
		rv = VT_EINVAL;
	vt__url_fini(&u);
	return rv;
}

/* Whether text contains the password of url, as written in the URL or
 * decoded (so text must not be shown). */
static bool leaks_password(const char *url, const char *text)
{
	vt__url u;
	vt_err rv = vt__url_parse(url, &u);
	if (rv != VT_OK)
		return true; /* cannot tell: assume the worst */
	bool leak = (u.password != NULL && u.password[0] != '\0' &&
		     strstr(text, u.password) != NULL) ||
		    (u.password_raw != NULL && u.password_raw[0] != '\0' &&
		     strstr(text, u.password_raw) != NULL);
	vt__url_fini(&u);
	return leak;
}

/* The one place where a CURLcode becomes a vt_err and a text. */
static vt_err curl_failure(CURLcode rc, const char *url, const char *errbuf,
			   char *err, size_t errcap)
{
	const char *what;
	vt_err e;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		what = NULL; /* the caller says "timeout after N ms" */
		e = VT_ETIMEDOUT;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		what = "cannot resolve host";
		e = VT_EUNAVAIL;
		break;
	case CURLE_COULDNT_CONNECT:
		what = "cannot connect";
		e = VT_EUNAVAIL;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		what = "TLS peer verification failed";
		e = VT_EAUTH;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		what = "TLS handshake failed";
		e = VT_EPROTO;
		break;
	case CURLE_GOT_NOTHING:
		what = "empty reply from server";
		e = VT_EPROTO;
		break;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		what = "malformed reply";
		e = VT_EPROTO;
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		what = "connection failed";
		e = VT_EIO;
		break;
	case CURLE_OUT_OF_MEMORY:
		what = "out of memory";
		e = VT_ENOMEM;
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		what = "bad URL";
		e = VT_EINVAL;
		break;
	default:
		what = "request failed";
		e = VT_EIO;
		break;
	}
	const char *why = errbuf[0] != '\0' && !leaks_password(url, errbuf)
			      ? errbuf
			      : curl_easy_strerror(rc);
	if (what == NULL)
		snprintf(err, errcap, "%s", why);
	else
		snprintf(err, errcap, "%s: %s", what, why);
	return e;
}

typedef struct sink {
	size_t total; /* body bytes seen */
	size_t keep;  /* how many to keep */
	char *data;   /* [keep + 1] when keep > 0 */
	size_t len;
	int capped; /* stopped at VT__HTTP_BODY_MAX */
} sink;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	sink *s = arg;
	size_t n = size * nmemb;
	if (s->len < s->keep) {
		size_t take = s->keep - s->len < n ? s->keep - s->len : n;
		memcpy(s->data + s->len, ptr, take);
		s->len += take;
		s->data[s->len] = '\0';
	}
	s->total += n;
	if (s->total >= VT__HTTP_BODY_MAX) {
		s->capped = 1;
		return 0; /* anything but n stops the transfer */
	}
	return n;
}

/* Sets the options of q on e; CURLE_OK or the first failure. */
static CURLcode setup(CURL *e, const vt__http_req *q, struct curl_slist *hdrs,
		      sink *s, char *errbuf)
{
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl_easy_setopt(e, opt, val);                    \
	} while (0)
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)q->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)q->timeout_ms);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, q->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, q->insecure ? 0L : 2L);
	SET(CURLOPT_USERAGENT, "vitals-health-check");
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, s);
	if (hdrs != NULL)
		SET(CURLOPT_HTTPHEADER, hdrs);
	const char *m = q->method != NULL ? q->method : "GET";
	if (strcmp(m, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(m, "GET") != 0)
		SET(CURLOPT_CUSTOMREQUEST, m);
#undef SET
	return rc;
}

vt_err vt__http_perform(const vt__http_req *q, vt__http_resp *resp, char *err,
			size_t errcap)
{
	if (q == NULL || q->url == NULL || resp == NULL || q->timeout_ms <= 0) {
		snprintf(err, errcap, "bad request");
		return VT_EINVAL;
	}
	if (vt__http_global_init() != VT_OK) {
		snprintf(err, errcap, "libcurl failed to initialise");
		return VT_EINTERNAL;
	}
	vt_err rv = VT_ENOMEM;
	char errbuf[CURL_ERROR_SIZE];
	errbuf[0] = '\0';
	sink s = {.keep = q->body_keep};
	struct curl_slist *hdrs = NULL;
	CURL *e = NULL;

	if (s.keep > 0 && (s.data = malloc(s.keep + 1)) == NULL)
		goto fail_nomem;
	if (s.data != NULL)
		s.data[0] = '\0';
	for (const char *const *h = q->headers; h != NULL && *h != NULL; h++) {
		struct curl_slist *n = curl_slist_append(hdrs, *h);
		if (n == NULL)
			goto fail_nomem;
		hdrs = n;
	}
	if ((e = curl_easy_init()) == NULL)
		goto fail_nomem;

	CURLcode rc = setup(e, q, hdrs, &s, errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(e);
	if (rc == CURLE_WRITE_ERROR && s.capped)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		rv = curl_failure(rc, q->url, errbuf, err, errcap);
		goto out;
	}
	long status = 0;
	curl_off_t us = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
	*resp = (vt__http_resp){.status = status,
				.latency_ms = (double)us / 1000.0,
				.body = s.data,
				.body_len = s.len};
	s.data = NULL;
	rv = VT_OK;
	goto out;

fail_nomem:
	snprintf(err, errcap, "out of memory");
out:
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	free(s.data);
	return rv;
}

void vt__http_resp_fini(vt__http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

vt_err vt__http_check_perform(vt_check_result *r, const vt__http_req *q,
			      int timeout_ms, const char *shown,
			      vt__http_resp *resp)
{
	char err[VT__HTTP_ERR_MAX];
	vt_err rv = vt__http_perform(q, resp, err, sizeof(err));
	if (rv == VT_ETIMEDOUT) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "timeout after %d ms: %s (%s)", timeout_ms,
				err, shown);
		return rv;
	}
	if (rv != VT_OK) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "%s (%s)", err, shown);
		return rv;
	}
	vt_result_detail_num(r, "status_code", (double)resp->status);
	vt_result_detail_num(r, "latency_ms", resp->latency_ms);
	return VT_OK;
}
