/*
 * http.c - the http check: one HTTP(S) request per run, healthy when
 * the answer has the expected status.
 *
 * The URL, method and options are copied and validated at registration,
 * together with the redacted form of the URL that every detail and error
 * shows. A run sends the request through httpreq.c with the run's budget
 * (vt__check_budget_ms) as its timeout, discards the body (reading at
 * most VT__HTTP_BODY_MAX bytes of it) and reports status_code,
 * latency_ms and url. Slowness is judged by the registry (degraded_ms on
 * the run's duration). Redirects are not followed: a 3xx is what the URL
 * answers, acceptable only with expect_status set to it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "checks/budget.h"
#include "checks/httpreq.h"
#include "checks/url.h"
#include "vitals/checks.h"

typedef struct http_check {
	/* immutable after registration */
	char *url;
	char *shown; /* url with the password redacted */
	char *method;
	long expect_status;
	bool insecure;
	int timeout_ms; /* the check's timeout, for the messages */
} http_check;

static void http_check_free(void *arg)
{
	http_check *c = arg;
	if (c == NULL)
		return;
	free(c->url);
	free(c->shown);
	free(c->method);
	free(c);
}

/* 1 if m is an HTTP method token of 1..16 upper-case letters. */
static int method_valid(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	return 1;
}

static bool status_ok(const http_check *c, long status)
{
	if (c->expect_status == 0)
		return status >= 200 && status <= 299;
	return status == c->expect_status;
}

static void http_run(vt_check_result *r, void *arg)
{
	http_check *c = arg;
	vt_result_detail_str(r, "url", c->shown);
	int budget = vt__check_budget_ms(r);
	if (budget <= 0) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r,
				"timeout after %d ms: no time left to ask %s",
				c->timeout_ms, c->shown);
		return;
	}
	vt__http_req q = {
	    .url = c->url,
	    .method = c->method,
	    .insecure = c->insecure,
	    .timeout_ms = budget,
	};
	vt__http_resp resp = {0};
	if (vt__http_check_perform(r, &q, c->timeout_ms, c->shown, &resp) !=
	    VT_OK)
		return;
	if (!status_ok(c, resp.status)) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "HTTP %ld from %s", resp.status, c->shown);
	}
	vt__http_resp_fini(&resp);
}

/* Registers an http check (see checks.h). VT_EINVAL for a missing or
 * non-http(s) URL, a bad method or an expect_status outside 100..599;
 * VT_ENOMEM; the registry's errors (VT_EEXIST, VT_EINVAL). Nothing is
 * registered on error. Thread-safe. */
vt_err vt_check_http_add(vt_health *h, const char *name, const vt_http_opts *o,
			 const vt_check_opts *co)
{
	if (h == NULL || o == NULL)
		return VT_EINVAL;
	vt_err rv = vt__http_url_check(o->url);
	if (rv != VT_OK)
		return rv;
	const char *method = o->method != NULL ? o->method : "GET";
	if (!method_valid(method))
		return VT_EINVAL;
	if (o->expect_status != 0 &&
	    (o->expect_status < 100 || o->expect_status > 599))
		return VT_EINVAL;

	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = http_check_free;

	http_check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	c->url = strdup(o->url);
	c->shown = vt__url_shown(o->url);
	c->method = strdup(method);
	c->expect_status = o->expect_status;
	c->insecure = o->insecure != 0;
	c->timeout_ms = opts.timeout_ms;
	if (c->url == NULL || c->shown == NULL || c->method == NULL) {
		http_check_free(c);
		return VT_ENOMEM;
	}
	rv = vt_health_add(h, name, http_run, c, &opts);
	if (rv != VT_OK)
		http_check_free(c);
	return rv;
}
