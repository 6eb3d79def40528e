/*
 * fuzz_gateway.c - libFuzzer target for the HTTP gateway: the input is
 * the head of one HTTP request ("GET /health?tag=ready HTTP/1.1", then
 * header lines), measured and split by the gateway's transport
 * (httpd.h: what it refuses must be 400, 431 or 505) and routed by
 * vt__req_route. vt__gw_answer then answers it as the gateway does:
 * first without waiting, then, for a fresh /health, again where waiting
 * is fine, from the in-process service of fuzz.h - once without a token
 * and once with FZ_TOKEN configured, so that the access paths (401
 * with WWW-Authenticate for a wrong token and for /metrics without one,
 * statuses only with the reason withheld) are fuzzed too. The request
 * module (request.h) is also driven on its own with the same URI and
 * Accept header, and its verdict must be the one the gateway acted on.
 *
 * Checks: the status is one the gateway may give and agrees with what
 * the headers and the health status say; the content type is one of
 * ours; every JSON body parses and every error body has "error"; health
 * bodies say a status that matches the HTTP code, and a plain /health,
 * /livez or /readyz lists exactly the checks it should; Prometheus text
 * passes the line checker, OpenMetrics ends in "# EOF", protobuf
 * decodes as MetricFamily messages; the connection is closed whenever
 * the transport will close it or a body was sent; only a fresh health
 * request waits. With the token: a wrong one is 401 invalid_token before
 * anything is parsed; none on /metrics is 401; none on a health route
 * never shows an error text (only "reason withheld"). The
 * request parse: a refusal is 400 or 404 with an error body, the very
 * answer the gateway gave; an accepted request names only valid checks
 * and tags, all inside the URI buffer, in a format its route has, which
 * the gateway's content type matches; Accept's q-values stay in 0..1.
 */
#include <strings.h>

#include "fuzz.h"
#include "io/prometheus/client/metrics.pb-c.h"
#include "server/gateway.h"
#include "server/pages.h"
#include "server/httpd.h"
#include "server/request.h"

#define FZ_GW_DEGRADED 429
#define FZ_GW_MAX_BODY 1000

/* A JSON body: an object. An error body is {"error":"..."} alone. */
static cJSON *fz_gw_json(const vt__gw_response *res, bool *is_error)
{
	cJSON *j = fz_json(res->body, res->len);
	VT_FUZZ_CHECK(cJSON_IsObject(j));
	cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	*is_error = cJSON_IsString(err) && cJSON_GetArraySize(j) == 1;
	return j;
}

/* The names of the components of a /health body, as "a,b,". */
static void fz_gw_names(const cJSON *j, char *out, size_t cap)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "components");
	VT_FUZZ_CHECK(cJSON_IsArray(cs));
	size_t o = 0;
	out[0] = '\0';
	const cJSON *c;
	cJSON_ArrayForEach(c, cs)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		VT_FUZZ_CHECK(cJSON_IsString(n));
		int w = snprintf(out + o, cap - o, "%s,", n->valuestring);
		VT_FUZZ_CHECK(w > 0 && (size_t)w < cap - o);
		o += (size_t)w;
	}
}

/* body is whole varint-delimited MetricFamily messages, each decoding. */
static void fz_check_promproto(const char *body, size_t len)
{
	const uint8_t *p = (const uint8_t *)body, *end = p + len;
	while (p < end) {
		uint64_t sz = 0;
		int shift = 0;
		while (p < end && (*p & 0x80) && shift < 63) {
			sz |= (uint64_t)(*p++ & 0x7f) << shift;
			shift += 7;
		}
		VT_FUZZ_CHECK(p < end);
		sz |= (uint64_t)*p++ << shift;
		VT_FUZZ_CHECK(sz <= (uint64_t)(end - p));
		Io__Prometheus__Client__MetricFamily *f =
		    io__prometheus__client__metric_family__unpack(NULL, sz, p);
		VT_FUZZ_CHECK(f != NULL && f->name != NULL);
		io__prometheus__client__metric_family__free_unpacked(f, NULL);
		p += sz;
	}
}

/* True for "/health/NAME/beat" with a nonempty NAME. */
static bool fz_gw_beat_path(const char *uri)
{
	size_t n = strlen(uri);
	return n > strlen("/health//beat") &&
	       strncmp(uri, "/health/", 8) == 0 &&
	       strcmp(uri + n - 5, "/beat") == 0;
}

/* The HTTP status of a health status, by the gateway's rule. */
static uint16_t fz_gw_code(const char *status)
{
	if (strcmp(status, "healthy") == 0 || strcmp(status, "pass") == 0)
		return 200;
	if (strcmp(status, "degraded") == 0 || strcmp(status, "warn") == 0)
		return FZ_GW_DEGRADED;
	VT_FUZZ_CHECK(strcmp(status, "unhealthy") == 0 ||
		      strcmp(status, "fail") == 0);
	return 503;
}

static void fz_gw_check(const vt__gw_request *rq, const vt__gw_response *res,
			bool entered)
{
	uint16_t st = res->status;
	VT_FUZZ_CHECK(st == 200 || st == 400 || st == 401 || st == 404 ||
		      st == 405 || st == 413 || st == FZ_GW_DEGRADED ||
		      st == 503);
	VT_FUZZ_CHECK((res->www_auth != NULL) == (st == 401));
	VT_FUZZ_CHECK(res->body != NULL);
	VT_FUZZ_CHECK(res->head == (strcmp(rq->method, "HEAD") == 0));
	VT_FUZZ_CHECK((res->allow != NULL) == (st == 405));

	/* nng closes after HTTP/1.0 or on "close" anywhere in Connection;
	 * a body left unread must not be taken for the next request. */
	const char *conn = rq->connection;
	bool nng_closes = strcmp(rq->version, "HTTP/1.1") != 0;
	for (const char *c = conn; c != NULL && *c != '\0' && !nng_closes; c++)
		nng_closes = strncasecmp(c, "close", 5) == 0;
	const char *cl = rq->content_length;
	bool body = rq->transfer_encoding != NULL ||
		    (cl != NULL && strspn(cl, "0") != strlen(cl));
	VT_FUZZ_CHECK(res->close || !(nng_closes || body));
	if (cl != NULL &&
	    (cl[0] == '\0' || strspn(cl, "0123456789") != strlen(cl))) {
		VT_FUZZ_CHECK(st == 400 && !entered);
		return;
	}
	if (cl != NULL) {
		/* Digits only: over the cap is 413; past 2^64, 400 too. */
		uint64_t n = 0;
		bool huge = false;
		for (const char *c = cl; *c != '\0'; c++) {
			huge |= n > (UINT64_MAX - 9) / 10;
			n = n * 10 + (uint64_t)(*c - '0');
		}
		if (huge) {
			VT_FUZZ_CHECK((st == 400 || st == 413) && !entered);
			return;
		}
		VT_FUZZ_CHECK((st == 413) == (n > FZ_GW_MAX_BODY));
	}
	if (st == 413)
		VT_FUZZ_CHECK(cl != NULL && !entered);
	if ((rq->route == VT__GW_HEALTH || rq->route == VT__GW_OTHER) &&
	    vt__pages_match(rq->uri))
		return; /* history, status page, badges: itest_history */
	if (rq->route == VT__GW_OTHER)
		VT_FUZZ_CHECK(st == 404 || st == 413);
	if (rq->route == VT__GW_HEALTH && fz_gw_beat_path(rq->uri)) {
		/* A beat: POST only (Allow says so), then the token, then
		 * the check (the fuzzed registry has no heartbeat check). */
		bool post = strcmp(rq->method, "POST") == 0;
		VT_FUZZ_CHECK(st == 413 || st == 400 || (st == 405) == !post);
		VT_FUZZ_CHECK(st != 405 || strcmp(res->allow, "POST") == 0);
		VT_FUZZ_CHECK(st == 400 || st == 401 || st == 404 ||
			      st == 405 || st == 413);
		return;
	}
	if (st == 405)
		VT_FUZZ_CHECK(!entered && strcmp(rq->method, "GET") != 0);

	const char *ct = res->ctype;
	if (strncmp(ct, "application/openmetrics-text", 28) == 0) {
		VT_FUZZ_CHECK(rq->route == VT__GW_METRICS && st == 200);
		VT_FUZZ_CHECK(res->len >= 6 && memcmp(res->body + res->len - 6,
						      "# EOF\n", 6) == 0);
		return;
	}
	if (strncmp(ct, "application/vnd.google.protobuf", 31) == 0) {
		VT_FUZZ_CHECK(rq->route == VT__GW_METRICS && st == 200);
		fz_check_promproto(res->body, res->len);
		return;
	}
	if (strcmp(ct, "text/plain; version=0.0.4; charset=utf-8") == 0) {
		VT_FUZZ_CHECK(rq->route == VT__GW_METRICS && st == 200);
		fz_check_prom(res->body, res->len);
		return;
	}
	bool ietf = strcmp(ct, "application/health+json") == 0;
	VT_FUZZ_CHECK(ietf || strcmp(ct, "application/json") == 0);
	bool err;
	cJSON *j = fz_gw_json(res, &err);
	VT_FUZZ_CHECK(err == (st == 400 || st == 401 || st == 404 ||
			      st == 405 || st == 413 ||
			      (st == 503 && !entered)));
	if (st == 401)
		VT_FUZZ_CHECK(!entered);
	if (!err && rq->route == VT__GW_METRICS) {
		const cJSON *m;
		cJSON_ArrayForEach(m, j)
		{
			VT_FUZZ_CHECK(cJSON_IsString(
			    cJSON_GetObjectItemCaseSensitive(m, "type")));
		}
	} else if (!err) {
		/* A health body: its status gives the HTTP code. */
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
		VT_FUZZ_CHECK(cJSON_IsString(s));
		VT_FUZZ_CHECK(fz_gw_code(s->valuestring) == st);
		VT_FUZZ_CHECK(!ietf ||
			      cJSON_IsObject(cJSON_GetObjectItem(j, "checks")));
		/* With no query: /health all, /livez and /readyz by tag. */
		const char *path = rq->uri;
		static const char *const plain[][2] = {
		    {"/health", "api.v1:edge-1,cache,db,queue,"},
		    {"/livez", "db,"},
		    {"/readyz", "cache,db,queue,"},
		};
		char names[256];
		for (size_t i = 0; i < 3 && !ietf; i++) {
			if (strcmp(path, plain[i][0]) != 0)
				continue;
			fz_gw_names(j, names, sizeof(names));
			VT_FUZZ_CHECK(strcmp(names, plain[i][1]) == 0);
		}
	}
	cJSON_Delete(j);
}

/* Whether s (NULL = unset) lies inside the n + 1 bytes at buf and is
 * a check name or tag: 1..200 of [A-Za-z0-9_.:-]. */
static bool fz_req_word(const char *s, const char *buf, size_t n)
{
	if (s == NULL || s < buf || s > buf + n)
		return false;
	size_t len = strlen(s);
	return len >= 1 && len <= 200 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.:-") == len;
}

/* The parse of an accepted request: what it selects is well formed. */
static void fz_req_accepted(const vt__req *r, const vt__gw_request *rq,
			    const char *buf, size_t n)
{
	VT_FUZZ_CHECK(r->route == rq->route && rq->route != VT__GW_OTHER);
	VT_FUZZ_CHECK(
	    (r->fmt == VT__REQ_PROM || r->fmt == VT__REQ_OPENMETRICS ||
	     r->fmt == VT__REQ_PROTOBUF) <= (rq->route == VT__GW_METRICS));
	VT_FUZZ_CHECK((r->fmt == VT__REQ_IETF) <=
		      (rq->route != VT__GW_METRICS));
	VT_FUZZ_CHECK(r->one <= (rq->route == VT__GW_HEALTH));
	VT_FUZZ_CHECK(r->one == (r->q.filter.name != NULL));
	VT_FUZZ_CHECK(!r->one || fz_req_word(r->q.filter.name, buf, n));
	VT_FUZZ_CHECK(r->q.filter.exclude == r->exclude);
	VT_FUZZ_CHECK(r->q.filter.nexclude <= VT__REQ_MAX_EXCLUDE);
	for (size_t i = 0; i < r->q.filter.nexclude; i++)
		VT_FUZZ_CHECK(fz_req_word(r->exclude[i], buf, n));
	if (rq->route == VT__GW_HEALTH && r->q.filter.tag != NULL)
		VT_FUZZ_CHECK(fz_req_word(r->q.filter.tag, buf, n));
	/* No ?format= anywhere in the URI: Accept decided. */
	if (strstr(rq->uri, "format") == NULL && strchr(rq->uri, '%') == NULL)
		VT_FUZZ_CHECK(r->fmt ==
			      vt__req_negotiate(rq->route, rq->accept));
}

/* Parses rq's URI and Accept with the request module alone and checks
 * its verdict against the gateway's answer res (entered: the gateway
 * got as far as parsing). */
static void fz_req_check(const vt__gw_request *rq, const vt__gw_response *res,
			 bool entered, const vt__service *svc)
{
	if ((rq->route == VT__GW_HEALTH || rq->route == VT__GW_OTHER) &&
	    vt__pages_match(rq->uri))
		return; /* answered by the pages, not the request module */
	if (rq->accept != NULL) {
		double q = vt__req_accept_q(rq->accept, "application/json");
		VT_FUZZ_CHECK(q == -1 || (q >= 0 && q <= 1));
	}
	size_t n = strlen(rq->uri);
	char *buf = strdup(rq->uri);
	VT_FUZZ_CHECK(buf != NULL);
	vt__req r;
	vt__req_refusal why;
	if (vt__req_parse(&r, rq->route, buf, rq->accept, svc->live_tag,
			  svc->ready_tag, &why)) {
		fz_req_accepted(&r, rq, buf, n);
		uint16_t st = res->status;
		if (entered && st != 400 && st != 404 && st != 500) {
			const char *want =
			    r.fmt == VT__REQ_PROM
				? "text/plain; version=0.0.4; charset=utf-8"
			    : r.fmt == VT__REQ_OPENMETRICS
				? "application/openmetrics-text; "
				  "version=1.0.0; charset=utf-8"
			    : r.fmt == VT__REQ_PROTOBUF
				? "application/vnd.google.protobuf; "
				  "proto=io.prometheus.client.MetricFamily; "
				  "encoding=delimited"
			    : r.fmt == VT__REQ_IETF ? "application/health+json"
						    : "application/json";
			VT_FUZZ_CHECK(strcmp(res->ctype, want) == 0);
		}
	} else {
		VT_FUZZ_CHECK(why.status == 400 || why.status == 404);
		cJSON *j = fz_json(why.body, strlen(why.body));
		VT_FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
		cJSON_Delete(j);
		if (entered)
			VT_FUZZ_CHECK(res->status == why.status &&
				      res->len == strlen(why.body) &&
				      memcmp(res->body, why.body, res->len) ==
					  0);
	}
	free(buf);
}

/* The handlers' cache of encoded health answers, so that reuses are
 * checked by the same invariants as fresh encodes. */
static vt__acache *fz_cache(void)
{
	static vt__acache *k;
	if (k == NULL)
		VT_FUZZ_CHECK(vt__acache_alloc(&k, VT__GW_CACHE_SLOTS) ==
			      VT_OK);
	return k;
}

/* The access checks of an answer from the token service. */
static void fz_gw_check_access(const vt__gw_request *rq,
			       const vt__gw_response *res, bool entered)
{
	const char *auth = rq->authorization;
	uint16_t st = res->status;
	if (st == 400 || st == 413 || st == 405 ||
	    (st == 404 && !entered && rq->route == VT__GW_OTHER))
		return; /* refused by the headers, before access */
	bool right = false;
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			n--;
		right = n == strlen(FZ_TOKEN) && memcmp(t, FZ_TOKEN, n) == 0;
	}
	if (auth != NULL && !right) {
		VT_FUZZ_CHECK(st == 401 && !entered);
		VT_FUZZ_CHECK(strstr(res->www_auth, "invalid_token") != NULL);
		return;
	}
	if (auth == NULL && rq->route == VT__GW_METRICS) {
		VT_FUZZ_CHECK(st == 401 && !entered);
		VT_FUZZ_CHECK(strstr(res->www_auth, "invalid_token") == NULL);
		return;
	}
	VT_FUZZ_CHECK(st != 401);
	if (auth == NULL && !res->head && res->body != NULL && st != 404 &&
	    st != 400) {
		/* Statuses only: no check's error text or details. */
		char *b = strndup(res->body, res->len);
		VT_FUZZ_CHECK(b != NULL);
		VT_FUZZ_CHECK(strstr(b, "refused") == NULL);
		free(b);
	}
}

/* Answers rq from svc as the gateway does and checks the answer. */
static void fz_gw_run(vt__service *svc, const vt__gw_request *rq, bool token)
{
	vt__gw_response res;
	bool entered = false;
	if (!vt__gw_answer(svc, fz_cache(), FZ_GW_DEGRADED, FZ_GW_MAX_BODY, rq,
			   true, &entered, &res)) {
		/* Only a fresh health request waits, and it entered; or a
		 * page that reads the state database (history, status page,
		 * badges), answered on the pool. */
		VT_FUZZ_CHECK(((rq->route == VT__GW_HEALTH ||
				rq->route == VT__GW_OTHER) &&
			       vt__pages_match(rq->uri)) ||
			      (entered && rq->route != VT__GW_METRICS &&
			       rq->route != VT__GW_OTHER));
		VT_FUZZ_CHECK(vt__gw_answer(svc, fz_cache(), FZ_GW_DEGRADED,
					    FZ_GW_MAX_BODY, rq, false, &entered,
					    &res));
	}
	fz_gw_check(rq, &res, entered);
	if (token)
		fz_gw_check_access(rq, &res, entered);
	else
		fz_req_check(rq, &res, entered, svc);
	if (entered)
		vt__service_leave(svc);
	vt__gw_response_fini(&res);
}

static int vt_fuzz_gateway(const uint8_t *data, size_t size)
{
	/* The head ends at its blank line, or at the end of the input. */
	char *text = malloc(size + 5);
	VT_FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	memcpy(text + size, "\r\n\r\n", 5);
	size_t scanned = 0;
	size_t hl = vt__httpd_head_len(text, size + 4, &scanned);
	VT_FUZZ_CHECK(hl > 0 && hl <= size + 4);
	vt__httpd_req h;
	uint16_t st = vt__httpd_parse_head(text, hl, &h);
	if (st != 0) {
		/* The transport answers these itself. */
		VT_FUZZ_CHECK(st == 400 || st == 431 || st == 505);
		free(text);
		return 0;
	}
	VT_FUZZ_CHECK(h.method != NULL && h.uri != NULL && h.version != NULL);
	vt__gw_request rq = {
	    .route = vt__req_route(h.uri),
	    .method = h.method,
	    .uri = h.uri,
	    .version = h.version,
	    .accept = vt__httpd_header(&h, "Accept"),
	    .connection = vt__httpd_header(&h, "Connection"),
	    .content_length = vt__httpd_header(&h, "Content-Length"),
	    .transfer_encoding = vt__httpd_header(&h, "Transfer-Encoding"),
	};
	/* Without a token every caller gets everything. */
	fz_gw_run(fz_service(), &rq, false);
	rq.authorization = vt__httpd_header(&h, "Authorization");
	fz_gw_run(fz_token_service(), &rq, true);
	free(text);
	return 0;
}

#ifndef VT_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vt_fuzz_gateway(data, size);
}
#endif
