/*
 * pages.c - the gateway's history routes: GET /health/NAME/history, the
 * status page (GET / and /status) and badges (GET /badge/NAME.svg,
 * /badge/NAME/uptime/24h.svg). Each reads a cached snapshot through the
 * service core (so it shows only committed results) and the history
 * store, and hands the encoders (json.c, statuspage.c, badge.c) what
 * they need. Reading the database may take a few milliseconds, so the
 * gateway answers these on its worker pool, never on nng's thread.
 *
 * Access: without the token, the history route is refused like /metrics
 * (its errors are details); the page and badges show statuses only.
 */
#include "server/pages.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "encode/statuspage.h"
#include "server/request.h"
#include "vitals/encode.h"

#define CT_JSON	      "application/json"
#define CT_HTML	      "text/html; charset=utf-8"
#define CT_SVG	      "image/svg+xml"
#define DEFAULT_LIMIT VT__HISTORY_DEFAULT_LIMIT

/* The path of uri (absolute form's scheme and authority dropped), cut
 * at '?' or '#' into dst; its query in *query (NULL if none). */
static bool split(const char *uri, char *dst, size_t n, const char **query)
{
	const char *p = uri;
	if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
		p = strchr(strstr(p, "//") + 2, '/');
		if (p == NULL)
			p = "/";
	}
	size_t len = strcspn(p, "?#");
	if (len >= n)
		return false;
	memcpy(dst, p, len);
	dst[len] = '\0';
	*query = p[len] == '?' ? p + len + 1 : NULL;
	return true;
}

/* The value of key in query into dst; false when absent. */
static bool query_get(const char *query, const char *key, char *dst, size_t n)
{
	size_t kl = strlen(key);
	for (const char *q = query; q != NULL && *q != '\0' && *q != '#';) {
		size_t l = strcspn(q, "&#");
		if (l > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
			size_t vl = l - kl - 1;
			if (vl >= n)
				vl = n - 1;
			memcpy(dst, q + kl + 1, vl);
			dst[vl] = '\0';
			return true;
		}
		q += l;
		if (*q == '&')
			q++;
		else
			break;
	}
	return false;
}

static void set_error(vt__gw_response *a, uint16_t status, const char *msg)
{
	char *body = NULL;
	size_t len = 0;
	size_t n = strlen(msg) + 16;
	body = malloc(n);
	if (body != NULL)
		len = (size_t)snprintf(body, n, "{\"error\":\"%s\"}", msg);
	a->status = body != NULL ? status : 500;
	a->body = body != NULL ? body : (char *)"{\"error\":\"out of memory\"}";
	a->len = body != NULL ? len : strlen(a->body);
	a->owned = body != NULL;
	a->ctype = CT_JSON;
}

static void set_body(vt__gw_response *a, vt_err rv, char *body, size_t len,
		     const char *ctype)
{
	if (rv != VT_OK) {
		set_error(a, 500, vt_strerror(rv));
		return;
	}
	a->status = 200;
	a->body = body;
	a->len = len;
	a->owned = true;
	a->ctype = ctype;
}

/* A cached snapshot of one check (name) or all (NULL). */
static vt_err snapshot(vt__service *svc, const char *name, bool withhold,
		       vt_health_snapshot **out)
{
	vt__health_query q = {.mode = VT_RUN_CACHED, .withhold = withhold};
	q.filter.name = name;
	return vt__service_health(svc, &q, out);
}

static void history_route(vt__service *svc, const char *name, const char *query,
			  vt__gw_response *a)
{
	char v[64];
	double since = 0;
	long limit = DEFAULT_LIMIT;
	char *end;
	if (query_get(query, "since", v, sizeof(v))) {
		errno = 0;
		since = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' || !(since >= 0) ||
		    !isfinite(since)) {
			set_error(a, 400, "since must be Unix seconds >= 0");
			return;
		}
	}
	if (query_get(query, "limit", v, sizeof(v))) {
		errno = 0;
		limit = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || limit < 1) {
			set_error(a, 400, "limit must be an integer >= 1");
			return;
		}
	}
	vt_history_result *rs = NULL;
	size_t n = 0;
	vt_err rv = vt__service_history(svc, name, since, limit, &rs, &n);
	if (rv == VT_ENOENT) {
		set_error(a, 404, "unknown check");
		return;
	}
	char *body = NULL;
	size_t len = 0;
	if (rv == VT_OK)
		rv = vt_json_history(name, rs, n, &body, &len);
	vt_history_list_free(rs);
	set_body(a, rv, body, len, CT_JSON);
}

static void status_page(vt__service *svc, bool withhold, vt__gw_response *a)
{
	vt_health_snapshot *s = NULL;
	vt_err rv = snapshot(svc, NULL, withhold, &s);
	vt_history_summary *sums = NULL;
	double now = vt__wall_s();
	if (rv == VT_OK && svc->history != NULL && s->ncomponents > 0) {
		sums = calloc(s->ncomponents, sizeof(*sums));
		if (sums == NULL)
			rv = VT_ENOMEM;
		for (size_t i = 0; rv == VT_OK && i < s->ncomponents; i++)
			rv = vt_history_summary_read(
			    svc->history, s->components[i].name, now, &sums[i]);
	}
	char *body = NULL;
	size_t len = 0;
	if (rv == VT_OK)
		rv = vt__statuspage_html(s, sums, withhold, &body, &len);
	free(sums);
	vt_health_snapshot_free(s);
	set_body(a, rv, body, len, CT_HTML);
}

/* /badge/NAME.svg or /badge/NAME/uptime/24h.svg (rest = after /badge/). */
static void badge(vt__service *svc, char *rest, vt__gw_response *a)
{
	size_t n = strlen(rest);
	bool uptime = false;
	char *tail = strstr(rest, "/uptime/24h.svg");
	if (tail != NULL && tail[15] == '\0') {
		*tail = '\0';
		uptime = true;
	} else if (n > 4 && strcmp(rest + n - 4, ".svg") == 0) {
		rest[n - 4] = '\0';
	} else {
		set_error(a, 404, "not found");
		return;
	}
	if (!vt__req_pct_decode(rest) || strchr(rest, '/') != NULL) {
		set_error(a, 404, "not found");
		return;
	}
	vt_health_snapshot *s = NULL;
	vt_err rv = snapshot(svc, rest, true, &s);
	if (rv == VT_ENOENT || rv == VT_EINVAL) {
		set_error(a, 404, "unknown check");
		return;
	}
	char *body = NULL;
	size_t len = 0;
	if (rv == VT_OK && !uptime) {
		const vt_component *c = &s->components[0];
		rv = vt__badge_svg(c->name, vt_status_name(c->status),
				   (int)c->status, &body, &len);
	} else if (rv == VT_OK) {
		double r[VT_UPTIME_NWINDOWS] = {-1, -1, -1, -1};
		if (svc->history != NULL)
			rv = vt_history_uptime(svc->history, rest, vt__wall_s(),
					       r);
		char val[32] = "no data";
		if (r[VT_UPTIME_24H] >= 0)
			snprintf(val, sizeof(val), "%.2f%%",
				 floor(r[VT_UPTIME_24H] * 10000.0) / 100.0);
		int col = r[VT_UPTIME_24H] < 0	      ? -1
			  : r[VT_UPTIME_24H] >= 0.999 ? 0
			  : r[VT_UPTIME_24H] >= 0.99  ? 1
						      : 2;
		if (rv == VT_OK)
			rv = vt__badge_svg("uptime 24h", val, col, &body, &len);
	}
	vt_health_snapshot_free(s);
	set_body(a, rv, body, len, CT_SVG);
	if (rv == VT_OK)
		a->status = 200;
}

bool vt__pages_match(const char *uri)
{
	char path[512];
	const char *query;
	if (!split(uri, path, sizeof(path), &query))
		return false;
	if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0 ||
	    strncmp(path, "/badge/", 7) == 0)
		return true;
	size_t n = strlen(path);
	return strncmp(path, "/health/", 8) == 0 && n > 16 &&
	       strcmp(path + n - 8, "/history") == 0;
}

void vt__pages_answer(vt__service *svc, const char *uri, bool full,
		      vt__gw_response *a)
{
	char path[512];
	const char *query;
	if (!split(uri, path, sizeof(path), &query)) {
		set_error(a, 404, "not found");
		return;
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0) {
		status_page(svc, !full, a);
		return;
	}
	if (strncmp(path, "/badge/", 7) == 0) {
		badge(svc, path + 7, a);
		return;
	}
	/* /health/NAME/history */
	char *name = path + 8;
	name[strlen(name) - 8] = '\0';
	if (!vt__req_pct_decode(name) || strchr(name, '/') != NULL) {
		set_error(a, 404, "not found");
	} else if (svc->history == NULL) {
		set_error(a, 404, "no history is kept");
	} else if (!full) {
		set_error(a, 401, "history needs the server's token");
	} else {
		history_route(svc, name, query, a);
	}
}
