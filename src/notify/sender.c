/*
 * sender.c - one delivery thread per notifier: sends the notifier's
 * outbox, oldest first, with libcurl.
 *
 * The thread takes the oldest pending message, sends it (bounded by
 * timeout_ms, connect included) and then:
 *   2xx                   -> deleted (acknowledged);
 *   no answer, 5xx, 408   -> kept, retried after the backoff
 *                            (retry_min_ms doubling up to retry_max_ms);
 *   429                   -> kept, retried after retry_after seconds
 *                            (Telegram's JSON "parameters", or the
 *                            Retry-After header), else the backoff;
 *   any other status      -> dropped and logged: a retry cannot help.
 * A message that is not acknowledged blocks the ones behind it, so each
 * check's messages arrive in order. Nothing here is shared with the
 * checks or the servers: a receiver that hangs costs this thread only.
 * Stopping aborts a request in flight (libcurl's progress callback)
 * and leaves its message pending.
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checks/httpreq.h"
#include "core/clock.h"
#include "core/thread_name.h"
#include "notify/notify_int.h"
#include "vitals/checks.h"

#define RESP_MAX  (16 * 1024) /* response bytes kept, for retry_after */
#define IDLE_WAIT 1000	      /* ms between looks at an empty outbox */

typedef enum outcome { SENT, RETRY, DROP, STOPPED } outcome;

typedef struct resp {
	char body[RESP_MAX + 1];
	size_t len;
	long retry_after; /* -1 = none */
} resp;

/* Replaces every occurrence of secret in line with "***". */
static void redact(char *line, size_t cap, const char *secret)
{
	size_t n = secret != NULL ? strlen(secret) : 0;
	if (n == 0)
		return;
	char *p;
	while ((p = strstr(line, secret)) != NULL) {
		size_t rest = strlen(p + n);
		if ((size_t)(p - line) + 3 + rest + 1 > cap)
			rest = cap - (size_t)(p - line) - 4;
		memmove(p + 3, p + n, rest);
		p[3 + rest] = '\0';
		memcpy(p, "***", 3);
	}
}

void vt__notifier_log(const vt__notifier *nf, const char *fmt, ...)
{
	if (nf->log == NULL)
		return;
	char line[1024];
	int k = snprintf(line, sizeof(line), "notify %s: ", nf->name);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
	va_end(ap);
	redact(line, sizeof(line), nf->token);
	redact(line, sizeof(line), nf->secret);
	nf->log(line, nf->log_arg);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t len = size * n, room = RESP_MAX - r->len;
	size_t take = len < room ? len : room;
	memcpy(r->body + r->len, p, take);
	r->len += take;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t len = size * n;
	const char *name = "Retry-After:";
	size_t nl = strlen(name);
	if (len > nl && strncasecmp(p, name, nl) == 0) {
		char v[32];
		size_t vl = len - nl < sizeof(v) - 1 ? len - nl : sizeof(v) - 1;
		memcpy(v, p + nl, vl);
		v[vl] = '\0';
		char *end;
		long s = strtol(v, &end, 10);
		if (end != v && s >= 0)
			r->retry_after = s;
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	vt__sender *s = arg;
	return atomic_load(&s->stop) ? 1 : 0;
}

/* The request's URL into out; shown with the token as "***" in logs. */
static void request_url(const vt__notifier *nf, bool shown, char *out,
			size_t cap)
{
	if (nf->type == VT_NOTIFIER_TELEGRAM)
		snprintf(out, cap, "%s/bot%s/sendMessage", nf->api_url,
			 shown ? "***" : nf->token);
	else if (shown) /* a password in the URL is not shown either */
		vt_url_redact(nf->url, out, cap);
	else
		snprintf(out, cap, "%s", nf->url);
}

/* The body to POST for delivery d. Caller frees. */
static char *request_body(const vt__notifier *nf, const vt__delivery *d)
{
	if (nf->type == VT_NOTIFIER_TELEGRAM)
		return vt__telegram_body(nf->chat_id, d->payload);
	return strdup(d->payload);
}

/* Headers for d (NULL on failure). */
static struct curl_slist *
request_headers(const vt__notifier *nf, const vt__delivery *d, const char *body)
{
	struct curl_slist *h = NULL, *t;
	char line[256];
#define ADD(s)                                                                 \
	do {                                                                   \
		if ((t = curl_slist_append(h, (s))) == NULL)                   \
			goto fail;                                             \
		h = t;                                                         \
	} while (0)
	ADD("Content-Type: application/json");
	ADD("Expect:");
	if (nf->type == VT_NOTIFIER_WEBHOOK) {
		snprintf(line, sizeof(line), "X-Vitals-Delivery: %s", d->id);
		ADD(line);
		char sig[80];
		if (nf->secret != NULL) {
			if (vt__webhook_sign(nf->secret, body, strlen(body),
					     sig, sizeof(sig)) != VT_OK)
				goto fail;
			snprintf(line, sizeof(line), "X-Vitals-Signature: %s",
				 sig);
			ADD(line);
		}
		for (size_t i = 0; i < nf->nheaders; i++)
			ADD(nf->headers[i]);
	}
#undef ADD
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* What an HTTP status means for the message. */
static outcome judge(long status)
{
	if (status >= 200 && status < 300)
		return SENT;
	if (status >= 500 || status == 408 || status == 429)
		return RETRY;
	return DROP;
}

/* Sends d once; *retry_after_s set from a 429. */
static outcome send_one(vt__sender *s, const vt__delivery *d,
			long *retry_after_s)
{
	vt__notifier *nf = s->nf;
	char url[2048], shown[2048], err[CURL_ERROR_SIZE] = "";
	request_url(nf, false, url, sizeof(url));
	request_url(nf, true, shown, sizeof(shown));
	char *body = request_body(nf, d);
	struct curl_slist *hdr = body ? request_headers(nf, d, body) : NULL;
	resp *r = calloc(1, sizeof(*r));
	CURL *c = curl_easy_init();
	outcome oc = RETRY;
	if (body == NULL || hdr == NULL || r == NULL || c == NULL) {
		vt__notifier_log(nf, "delivery %s: out of memory", d->id);
		goto out;
	}
	r->retry_after = -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)nf->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)nf->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode rc = curl_easy_perform(c);
	if (atomic_load(&s->stop)) {
		oc = STOPPED;
		goto out;
	}
	if (rc != CURLE_OK) {
		vt__notifier_log(nf, "delivery %s to %s failed: %s", d->id,
				 shown, err[0] ? err : curl_easy_strerror(rc));
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	oc = judge(status);
	if (status == 429) {
		long ra = vt__telegram_retry_after(r->body);
		*retry_after_s = ra >= 0 ? ra : r->retry_after;
	}
	if (oc != SENT)
		vt__notifier_log(nf, "delivery %s to %s: HTTP %ld%s", d->id,
				 shown, status,
				 oc == DROP ? ", dropped: the receiver refused "
					      "it"
					    : ", will retry");
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(body);
	free(r);
	return oc;
}

/* Sleeps until mono time until_ns, a wake or stop. Locks: takes s->mtx. */
static void nap(vt__sender *s, int64_t until_ns, bool wakeable)
{
	pthread_mutex_lock(&s->mtx);
	struct timespec ts = vt__mono_ts(until_ns);
	while (!atomic_load(&s->stop) && !(wakeable && s->wake) &&
	       vt__mono_ns() < until_ns)
		pthread_cond_timedwait(&s->cv, &s->mtx, &ts);
	s->wake = false;
	pthread_mutex_unlock(&s->mtx);
}

static void *sender_main(void *arg)
{
	vt__sender *s = arg;
	vt__notifier *nf = s->nf;
	vt__thread_name_self("vt-notify");
	while (!atomic_load(&s->stop)) {
		vt__delivery d;
		vt_err rv = vt__outbox_head(nf->ob, nf->name, &d);
		if (rv != VT_OK) {
			nap(s, vt__mono_ns() + IDLE_WAIT * 1000000LL, true);
			continue;
		}
		long retry_after = -1;
		outcome oc = send_one(s, &d, &retry_after);
		if (oc == SENT || oc == DROP) {
			vt__outbox_done(nf->ob, d.seq);
		} else if (oc == RETRY) {
			vt__outbox_failed(nf->ob, d.seq);
			int64_t ms = retry_after >= 0
					 ? retry_after * 1000
					 : vt__backoff_ms(d.attempts + 1,
							  nf->retry_min_ms,
							  nf->retry_max_ms);
			nap(s, vt__mono_ns() + ms * 1000000LL, false);
		}
		vt__delivery_fini(&d);
	}
	return NULL;
}

vt_err vt__sender_start(vt__sender *s, vt__notifier *nf)
{
	vt_err rv = vt__http_global_init();
	if (rv != VT_OK)
		return rv;
	s->nf = nf;
	s->wake = false;
	atomic_init(&s->stop, false);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &a);
	pthread_condattr_destroy(&a);
	pthread_mutex_init(&s->mtx, NULL);
	if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mtx);
		return VT_EIO;
	}
	s->started = true;
	return VT_OK;
}

void vt__sender_wake(vt__sender *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mtx);
	s->wake = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

void vt__sender_stop(vt__sender *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mtx);
	atomic_store(&s->stop, true);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mtx);
	s->started = false;
}
