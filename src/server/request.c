/*
 * request.c - a request's URI and Accept header read into a vt__req.
 *
 * The parse goes in the order a reader would: cut the fragment and the
 * query off the path (an absolute-form URI loses its scheme and host),
 * percent-decode the path, check it against the matched route (what is
 * left after the route's prefix must be empty, "/" or, on /health, "/"
 * and a check name), then walk the query's key=value pairs, then pick
 * the format. The first thing refused decides the answer, so the same
 * URI always gets the same refusal. See request.h.
 */
#include "server/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "vitals/health.h"

#define CT_JSON "application/json"
#define CT_IETF "application/health+json"

/* Refusal bodies. */
#define R_NOT_FOUND "{\"error\":\"not found\"}"
#define R_BAD_PATH  "{\"error\":\"bad percent-encoding in path\"}"
#define R_BAD_QUERY "{\"error\":\"bad percent-encoding in query\"}"

const char *const vt__gw_route_paths[VT__GW_NROUTES] = {
    "/health", "/livez", "/readyz", "/metrics", "/"};

/* The longest check name, tag or metric prefix accepted. */
#define WORD_MAX 200

static bool refuse(vt__req_refusal *why, uint16_t status, const char *body)
{
	why->status = status;
	why->body = body;
	return false;
}

/* ---- decoding --------------------------------------------------------- */

bool vt__req_pct_decode(char *s)
{
	char *d = s;
	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*d++ = *s;
			continue;
		}
		int hi = OPENSSL_hexchar2int((unsigned char)s[1]);
		int lo = hi < 0 ? -1 : OPENSSL_hexchar2int((unsigned char)s[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		*d++ = (char)(hi * 16 + lo);
		s += 2;
	}
	*d = '\0';
	return true;
}

/* A metric name prefix: up to 200 bytes of [A-Za-z0-9_:]. */
static bool prefix_valid(const char *s)
{
	size_t n = strnlen(s, WORD_MAX + 1);
	if (n > WORD_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_:") == n;
}

/* ---- Accept ----------------------------------------------------------- */

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads the parameters of one Accept entry from p (just past its media
 * range) up to the next ',' or the end; returns where it stopped and
 * sets *q to its q (1 when none parses). */
static const char *entry_params(const char *p, double *q)
{
	*q = 1;
	while (*p != '\0' && *p != ',') {
		if (*p != ';') {
			p++;
			continue;
		}
		p = skip_blanks(p + 1);
		if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			char *end;
			double v = strtod(p + 2, &end);
			if (end != p + 2) {
				*q = v < 0 ? 0 : v > 1 ? 1 : v;
				p = end;
			}
		}
	}
	return p;
}

double vt__req_accept_q(const char *accept, const char *type)
{
	double best = -1;
	size_t tl = strlen(type);
	const char *p = accept;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *m = p;
		p += strcspn(p, ",; \t");
		size_t ml = (size_t)(p - m);
		double q;
		p = entry_params(p, &q);
		if (ml == tl && strncasecmp(m, type, tl) == 0 && q > best)
			best = q;
	}
	return best;
}

/* The value of parameter name (case-insensitive) in the parameters
 * [p, end) of one Accept entry, unquoted, into val (cap bytes); false
 * when absent. */
static bool entry_param(const char *p, const char *end, const char *name,
			char *val, size_t cap)
{
	size_t nl = strlen(name);
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		if (semi == NULL)
			return false;
		p = skip_blanks(semi + 1);
		if ((size_t)(end - p) <= nl || strncasecmp(p, name, nl) != 0 ||
		    p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"')
			p++;
		size_t n = strcspn(p, "\";, \t");
		if (p + n > end || n >= cap)
			return false;
		memcpy(val, p, n);
		val[n] = '\0';
		return true;
	}
	return false;
}

/* Which /metrics format the Accept entry with media range [m, m+ml) and
 * parameters [p, end) names; -1 for none. */
static int metrics_entry_fmt(const char *m, size_t ml, const char *p,
			     const char *end)
{
	char v[64];
#define IS(t) (ml == sizeof(t) - 1 && strncasecmp(m, t, ml) == 0)
	if (IS("application/vnd.google.protobuf"))
		return entry_param(p, end, "proto", v, sizeof(v)) &&
			       strcmp(v, "io.prometheus.client.MetricFamily") ==
				   0 &&
			       entry_param(p, end, "encoding", v, sizeof(v)) &&
			       strcmp(v, "delimited") == 0
			   ? VT__REQ_PROTOBUF
			   : -1;
	if (IS("application/openmetrics-text"))
		return !entry_param(p, end, "version", v, sizeof(v)) ||
			       strcmp(v, "1.0.0") == 0
			   ? VT__REQ_OPENMETRICS
			   : -1;
	if (IS("text/plain"))
		return !entry_param(p, end, "version", v, sizeof(v)) ||
			       strcmp(v, "0.0.4") == 0
			   ? VT__REQ_PROM
			   : -1;
	if (IS(CT_JSON))
		return VT__REQ_JSON;
#undef IS
	return -1;
}

/* /metrics' format by Accept: see vt__req_negotiate. */
static vt__req_fmt metrics_negotiate(const char *acc)
{
	/* Preference on equal q, lowest first: JSON wins every tie. */
	static const int rank[] = {[VT__REQ_JSON] = 4,
				   [VT__REQ_PROTOBUF] = 3,
				   [VT__REQ_OPENMETRICS] = 2,
				   [VT__REQ_PROM] = 1};
	int best = VT__REQ_JSON;
	double best_q = -1;
	const char *p = acc;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *m = p;
		p += strcspn(p, ",; \t");
		size_t ml = (size_t)(p - m);
		double q;
		const char *params = p;
		p = entry_params(p, &q);
		int f = metrics_entry_fmt(m, ml, params, p);
		if (f >= 0 && q > 0 &&
		    (q > best_q || (q == best_q && rank[f] > rank[best]))) {
			best = f;
			best_q = q;
		}
	}
	return (vt__req_fmt)best;
}

static double max3(double a, double b, double c)
{
	double m = a > b ? a : b;
	return m > c ? m : c;
}

vt__req_fmt vt__req_negotiate(vt__gw_route route, const char *acc)
{
	if (acc == NULL)
		return VT__REQ_JSON;
	if (route == VT__GW_METRICS)
		return metrics_negotiate(acc);
	double qi = vt__req_accept_q(acc, CT_IETF);
	if (qi > 0 && qi >= max3(vt__req_accept_q(acc, CT_JSON),
				 vt__req_accept_q(acc, "*/*"),
				 vt__req_accept_q(acc, "application/*")))
		return VT__REQ_IETF;
	return VT__REQ_JSON;
}

/* ---- path ------------------------------------------------------------- */

/* Cuts uri into *path and *query (NULL = none), dropping a fragment and
 * an absolute form's scheme and host. false when no path is left (an
 * absolute URI naming only its host asks for "/"). */
static bool split_uri(char *uri, char **path, char **query)
{
	char *p;
	*query = NULL;
	if ((p = strchr(uri, '#')) != NULL)
		*p = '\0';
	if ((p = strchr(uri, '?')) != NULL) {
		*p = '\0';
		*query = p + 1;
	}
	if (strncasecmp(uri, "http://", 7) == 0 ||
	    strncasecmp(uri, "https://", 8) == 0) {
		uri = strchr(uri + strlen("http"), '/');
		if (uri == NULL || (uri = strchr(uri + 2, '/')) == NULL)
			return false;
	}
	*path = uri;
	return true;
}

vt__gw_route vt__req_route(const char *uri)
{
	const char *p = uri;
	if (strncasecmp(p, "http://", 7) == 0 ||
	    strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/?#");
		if (*p != '/')
			return VT__GW_OTHER;
	}
	/* The first bytes of the path, %XX decoded: enough for every
	 * route's path and the byte after it, and one more. */
	char head[16];
	size_t n = 0;
	while (n < sizeof(head) - 1 && *p != '\0' && *p != '?' && *p != '#') {
		int hi =
		    p[0] == '%' ? OPENSSL_hexchar2int((unsigned char)p[1]) : -1;
		int lo =
		    hi >= 0 ? OPENSSL_hexchar2int((unsigned char)p[2]) : -1;
		if (lo >= 0) {
			head[n++] = (char)(hi * 16 + lo);
			p += 3;
		} else {
			head[n++] = *p++;
		}
	}
	head[n] = '\0';
	for (int r = 0; r < VT__GW_OTHER; r++) {
		const char *rp = vt__gw_route_paths[r];
		size_t rl = strlen(rp);
		if (strncmp(head, rp, rl) != 0)
			continue;
		if (head[rl] == '\0' ||
		    (head[rl] == '/' &&
		     (head[rl + 1] == '\0' || r == VT__GW_HEALTH)))
			return (vt__gw_route)r;
	}
	return VT__GW_OTHER;
}

/* Checks the decoded path against r->route: the route's own path, with
 * one trailing '/' or, on /health, "/NAME" (r->one). false = 404. */
static bool match_path(vt__req *r, const char *path)
{
	const char *rp = vt__gw_route_paths[r->route];
	size_t rl = strlen(rp);
	if (r->route == VT__GW_OTHER || strncmp(path, rp, rl) != 0)
		return false;
	const char *rest = path + rl;
	if (strcmp(rest, "/") == 0)
		rest = "";
	if (r->route == VT__GW_HEALTH && rest[0] == '/') {
		/* Not a name a check can have: no such resource. */
		if (!vt_check_name_valid(rest + 1))
			return false;
		r->one = true;
		r->q.filter.name = rest + 1;
		return true;
	}
	return rest[0] == '\0';
}

/* ---- query ------------------------------------------------------------ */

/* ?name= and ?prefix= of /metrics; an empty value selects nothing. */
static bool metrics_param(vt__req *r, const char *key, const char *val,
			  vt__req_refusal *why)
{
	if (val == NULL || val[0] == '\0')
		return true;
	if (strcmp(key, "name") == 0) {
		if (!vt_metric_name_valid(val))
			return refuse(why, 400,
				      "{\"error\":\"bad metric name in "
				      "name=\"}");
		r->mf.name = val;
	} else if (strcmp(key, "prefix") == 0) {
		if (!prefix_valid(val))
			return refuse(why, 400,
				      "{\"error\":\"bad metric name prefix in "
				      "prefix=\"}");
		r->mf.name_prefix = val;
	}
	return true;
}

/* ?cache, ?cache=true|1 read the cache; ?cache=false|0 run fresh. */
static bool cache_param(vt__req *r, const char *val, vt__req_refusal *why)
{
	if (val == NULL || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
		r->q.mode = VT_RUN_CACHED;
	else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
		r->q.mode = VT_RUN_FRESH;
	else
		return refuse(why, 400,
			      "{\"error\":\"bad cache value: use true or "
			      "false\"}");
	return true;
}

/* ?tag=NAME on /health: once, a valid name. */
static bool tag_param(vt__req *r, const char *val, vt__req_refusal *why)
{
	if (val == NULL || !vt_check_name_valid(val))
		return refuse(why, 400, "{\"error\":\"bad tag value\"}");
	if (r->q.filter.tag != NULL)
		return refuse(why, 400,
			      "{\"error\":\"tag given more than once\"}");
	r->q.filter.tag = val;
	return true;
}

/* ?exclude=a,b: a comma list, cut in place; empty items are skipped. */
static bool exclude_param(vt__req *r, char *val, vt__req_refusal *why)
{
	vt_health_filter *f = &r->q.filter;
	for (char *item = val; item != NULL;) {
		char *comma = strchr(item, ',');
		if (comma != NULL)
			*comma++ = '\0';
		if (item[0] != '\0') {
			if (!vt_check_name_valid(item))
				return refuse(why, 400,
					      "{\"error\":\"bad check name in "
					      "exclude\"}");
			if (f->nexclude == VT__REQ_MAX_EXCLUDE)
				return refuse(why, 400,
					      "{\"error\":\"too many exclude "
					      "names\"}");
			r->exclude[f->nexclude++] = item;
		}
		item = comma;
	}
	return true;
}

/* Applies one decoded key[=val] (val NULL when no '='); ?format= is
 * kept in *format. Unknown keys, and tag and exclude on /health/NAME,
 * are ignored. */
static bool apply_param(vt__req *r, const char *key, char *val,
			const char **format, vt__req_refusal *why)
{
	if (strcmp(key, "format") == 0) {
		*format = val != NULL ? val : "";
		return true;
	}
	if (r->route == VT__GW_METRICS)
		return metrics_param(r, key, val, why);
	if (strcmp(key, "cache") == 0)
		return cache_param(r, val, why);
	if (r->one)
		return true; /* one check: tag and exclude do not apply */
	if (strcmp(key, "tag") == 0 && r->route == VT__GW_HEALTH)
		return tag_param(r, val, why);
	if (strcmp(key, "exclude") == 0 && val != NULL)
		return exclude_param(r, val, why);
	return true;
}

/* Walks the '&'-separated pairs of query (NULL = none), cutting and
 * decoding each in place. */
static bool parse_query(vt__req *r, char *query, const char **format,
			vt__req_refusal *why)
{
	for (char *kv = query; kv != NULL;) {
		char *next = strchr(kv, '&');
		if (next != NULL)
			*next++ = '\0';
		char *key = kv, *val = strchr(kv, '=');
		kv = next;
		if (key[0] == '\0')
			continue;
		if (val != NULL)
			*val++ = '\0';
		if (!vt__req_pct_decode(key) ||
		    (val != NULL && !vt__req_pct_decode(val)))
			return refuse(why, 400, R_BAD_QUERY);
		if (!apply_param(r, key, val, format, why))
			return false;
	}
	return true;
}

/* ---- format ----------------------------------------------------------- */

/* The format by ?format= (NULL = not given), else by Accept. */
static bool choose_format(vt__req *r, const char *format, const char *accept,
			  vt__req_refusal *why)
{
	bool metrics = r->route == VT__GW_METRICS;
	if (format == NULL)
		r->fmt = vt__req_negotiate(r->route, accept);
	else if (strcmp(format, "json") == 0)
		r->fmt = VT__REQ_JSON;
	else if (metrics && strcmp(format, "prometheus") == 0)
		r->fmt = VT__REQ_PROM;
	else if (metrics && strcmp(format, "openmetrics") == 0)
		r->fmt = VT__REQ_OPENMETRICS;
	else if (metrics && strcmp(format, "protobuf") == 0)
		r->fmt = VT__REQ_PROTOBUF;
	else if (!metrics && (strcmp(format, "health+json") == 0 ||
			      strcmp(format, "ietf") == 0))
		r->fmt = VT__REQ_IETF;
	else
		return refuse(why, 400,
			      metrics ? "{\"error\":\"unknown format: use "
					"json, prometheus, openmetrics or "
					"protobuf\"}"
				      : "{\"error\":\"unknown format: use "
					"json or health+json\"}");
	return true;
}

bool vt__req_parse(vt__req *out, vt__gw_route route, char *uri,
		   const char *accept, const char *live_tag,
		   const char *ready_tag, vt__req_refusal *why)
{
	*out = (vt__req){.route = route, .q.mode = VT_RUN_FRESH};
	out->q.filter.exclude = out->exclude;
	char *path, *query;
	if (!split_uri(uri, &path, &query))
		return refuse(why, 404, R_NOT_FOUND);
	if (!vt__req_pct_decode(path))
		return refuse(why, 400, R_BAD_PATH);
	if (!match_path(out, path))
		return refuse(why, 404, R_NOT_FOUND);
	if (route == VT__GW_LIVEZ)
		out->q.filter.tag = live_tag;
	else if (route == VT__GW_READYZ)
		out->q.filter.tag = ready_tag;
	const char *format = NULL;
	if (!parse_query(out, query, &format, why))
		return false;
	return choose_format(out, format, accept, why);
}
