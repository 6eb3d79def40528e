/*
 * fuzz.h - what the fuzz targets share: the check that fails a run when
 * an invariant breaks, checkers of the output formats (UTF-8, JSON,
 * Prometheus text), and the in-process service the RPC and gateway
 * targets answer from.
 *
 * Everything here is static: the header is compiled once per program,
 * by a fuzz_*.c on its own (with libFuzzer) or by
 * tests/test_fuzz_regressions.c, which includes every fuzz_*.c with
 * VT_FUZZ_NO_ENTRY defined and calls their vt_fuzz_* functions.
 */
#ifndef VT_FUZZ_H
#define VT_FUZZ_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/service.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

/* Reports a broken invariant and aborts, so that libFuzzer saves the
 * input (and the regression test fails). The includer may name what is
 * being run first (the regression test names the input file). */
#ifndef VT_FUZZ_CONTEXT
#define VT_FUZZ_CONTEXT ""
#endif
#define VT_FUZZ_CHECK(cond)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s%s:%d: invariant failed: %s\n",     \
				VT_FUZZ_CONTEXT, __FILE__, __LINE__, #cond);   \
			abort();                                               \
		}                                                              \
	} while (0)

/* ---- text checks ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0] (n bytes left), 0 if none:
 * no overlong forms, surrogates or code points past U+10FFFF. */
static inline size_t fz_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static inline bool fz_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = fz_utf8_seq(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* Parses len bytes of JSON text that must be one valid value, in valid
 * UTF-8 with no NUL byte. The caller deletes the tree. */
static inline cJSON *fz_json(const char *text, size_t len)
{
	VT_FUZZ_CHECK(text != NULL);
	VT_FUZZ_CHECK(memchr(text, '\0', len) == NULL);
	VT_FUZZ_CHECK(fz_utf8_valid(text, len));
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
	VT_FUZZ_CHECK(j != NULL);
	while (end < text + len && (*end == ' ' || *end == '\n'))
		end++;
	VT_FUZZ_CHECK(end == text + len);
	return j;
}

static inline bool fz_metric_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

static inline bool fz_label_char(char c, bool first)
{
	return c != ':' && fz_metric_char(c, first);
}

/* A sample value as Go writes it: "1", "0.005", "1e-06", "+Inf", "NaN". */
static inline bool fz_prom_number(const char *s, size_t n)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0 ||
	    strcmp(buf, "NaN") == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' ||
		      buf[i] == 'e' || buf[i] == '-' || buf[i] == '+'))
			return false;
	char *end;
	double v = strtod(buf, &end);
	return end == buf + n && isfinite(v);
}

static inline int fz_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of s[0..n) to the growing array *v of *n_v strings. */
static inline void fz_push(char ***v, size_t *n_v, const char *s, size_t n)
{
	*v = realloc(*v, (*n_v + 1) * sizeof(**v));
	VT_FUZZ_CHECK(*v != NULL);
	(*v)[*n_v] = strndup(s, n);
	VT_FUZZ_CHECK((*v)[*n_v] != NULL);
	(*n_v)++;
}

/* Checks that no string of v[0..n) appears twice, and frees them. */
static inline void fz_unique_free(char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), fz_strcmp_p);
	for (size_t i = 1; i < n; i++)
		VT_FUZZ_CHECK(strcmp(v[i - 1], v[i]) != 0);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

typedef struct fz_prom_stats {
	size_t families; /* TYPE lines */
	size_t samples;	 /* sample lines */
} fz_prom_stats;

/* Checks the labels of a sample line from p (just past '{') and returns
 * the end of them (just past '}'). Sets *has_le when one is "le"; on a
 * histogram bucket (bucket), its value must be a bound. */
static inline const char *fz_prom_labels(const char *p, const char *nl,
					 bool bucket, bool *has_le)
{
	char seen[VT_MAX_LABELS + 1][VT_MAX_NAME_LEN + 1];
	size_t nseen = 0;
	*has_le = false;
	while (p < nl && *p != '}') {
		const char *ln = p;
		while (p < nl && fz_label_char(*p, p == ln))
			p++;
		size_t ll = (size_t)(p - ln);
		VT_FUZZ_CHECK(ll > 0 && ll <= VT_MAX_NAME_LEN);
		VT_FUZZ_CHECK(nseen <= VT_MAX_LABELS);
		for (size_t i = 0; i < nseen; i++)
			VT_FUZZ_CHECK(strlen(seen[i]) != ll ||
				      memcmp(seen[i], ln, ll) != 0);
		memcpy(seen[nseen], ln, ll);
		seen[nseen++][ll] = '\0';
		VT_FUZZ_CHECK(p + 1 < nl && p[0] == '=' && p[1] == '"');
		p += 2;
		const char *v = p;
		while (p < nl && *p != '"') {
			if (*p == '\\') {
				VT_FUZZ_CHECK(p + 1 < nl &&
					      (p[1] == '\\' || p[1] == '"' ||
					       p[1] == 'n'));
				p++;
			}
			p++;
		}
		VT_FUZZ_CHECK(p < nl);
		if (ll == 2 && memcmp(ln, "le", 2) == 0) {
			*has_le = true;
			VT_FUZZ_CHECK(!bucket ||
				      fz_prom_number(v, (size_t)(p - v)));
		}
		p++; /* the closing quote */
		if (p < nl && *p == ',')
			p++;
	}
	VT_FUZZ_CHECK(p < nl && *p == '}');
	return p + 1;
}

/*
 * Checks Prometheus text format 0.0.4 as vitals writes it, line by line:
 * per family "# HELP name text", "# TYPE name counter|gauge|histogram",
 * then its samples "name{label="value",...} number", the name being the
 * family's (histograms: _bucket with an le label, _sum, _count). Names
 * and label names follow Prometheus' rules; label values escape only
 * \\, \" and \n, HELP texts only \\ and \n; no family is typed twice and
 * no series (name and labels) appears twice; valid UTF-8; every line
 * ends with '\n'.
 */
static inline fz_prom_stats fz_check_prom(const char *text, size_t len)
{
	fz_prom_stats st = {0, 0};
	VT_FUZZ_CHECK(memchr(text, '\0', len) == NULL);
	VT_FUZZ_CHECK(fz_utf8_valid(text, len));
	VT_FUZZ_CHECK(len == 0 || text[len - 1] == '\n');
	char **keys = NULL, **typed = NULL;
	char family[VT_MAX_NAME_LEN + 16] = "", help[sizeof(family)] = "";
	char kind[16] = "";
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);
		bool is_help = n > 7 && memcmp(p, "# HELP ", 7) == 0;
		bool is_type = n > 7 && memcmp(p, "# TYPE ", 7) == 0;
		if (is_help || is_type) {
			const char *name = p + 7, *q = name;
			while (q < nl && fz_metric_char(*q, q == name))
				q++;
			size_t fl = (size_t)(q - name);
			VT_FUZZ_CHECK(fl > 0 && fl < sizeof(family));
			VT_FUZZ_CHECK(q < nl && *q == ' ');
			if (is_help) {
				memcpy(help, name, fl);
				help[fl] = '\0';
				for (q++; q < nl; q++) {
					if (*q != '\\')
						continue;
					VT_FUZZ_CHECK(
					    q + 1 < nl &&
					    (q[1] == '\\' || q[1] == 'n'));
					q++;
				}
			} else {
				memcpy(family, name, fl);
				family[fl] = '\0';
				/* vitals writes HELP first, same name */
				VT_FUZZ_CHECK(strcmp(family, help) == 0);
				size_t kl = (size_t)(nl - q - 1);
				VT_FUZZ_CHECK(kl < sizeof(kind));
				memcpy(kind, q + 1, kl);
				kind[kl] = '\0';
				VT_FUZZ_CHECK(strcmp(kind, "counter") == 0 ||
					      strcmp(kind, "gauge") == 0 ||
					      strcmp(kind, "histogram") == 0);
				fz_push(&typed, &st.families, family, fl);
				help[0] = '\0';
			}
			p = nl + 1;
			continue;
		}
		/* A sample of the family typed last. */
		VT_FUZZ_CHECK(family[0] != '\0');
		const char *q = p;
		while (q < nl && fz_metric_char(*q, q == p))
			q++;
		size_t nlen = (size_t)(q - p), fl = strlen(family);
		VT_FUZZ_CHECK(nlen >= fl && memcmp(p, family, fl) == 0);
		const char *suffix = p + fl;
		size_t sl = nlen - fl;
		bool bucket = false;
		if (strcmp(kind, "histogram") == 0) {
			bucket = sl == 7 && memcmp(suffix, "_bucket", 7) == 0;
			VT_FUZZ_CHECK(
			    bucket ||
			    (sl == 4 && memcmp(suffix, "_sum", 4) == 0) ||
			    (sl == 6 && memcmp(suffix, "_count", 6) == 0));
		} else {
			VT_FUZZ_CHECK(sl == 0);
		}
		bool has_le = false;
		if (q < nl && *q == '{')
			q = fz_prom_labels(q + 1, nl, bucket, &has_le);
		VT_FUZZ_CHECK(has_le || !bucket);
		VT_FUZZ_CHECK(q < nl && *q == ' ');
		VT_FUZZ_CHECK(fz_prom_number(q + 1, (size_t)(nl - q - 1)));
		fz_push(&keys, &st.samples, p, (size_t)(q - p));
		p = nl + 1;
	}
	fz_unique_free(keys, st.samples);
	fz_unique_free(typed, st.families);
	return st;
}

/* ---- the in-process service ------------------------------------------- */

/* Checks that answer at once, each with something for the encoders. */
static inline void fz_check_full(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_status(r, VT_DEGRADED);
	vt_result_detail_str(r, "quote", "a \"b\" \\ c\nd\te \x01 caf\xc3\xa9");
	vt_result_detail_str(r, "bad_utf8", "\xff\xfe \xc3 \xed\xa0\x80");
	vt_result_detail_num(r, "latency_ms", 0.25);
	vt_result_detail_num(r, "nan", NAN);
	vt_result_detail_num(r, "inf", -INFINITY);
	vt_result_detail_bool(r, "primary", true);
}

static inline void fz_check_down(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_status(r, VT_UNHEALTHY);
	vt_result_error(r, "connect to %s: refused \"%s\"\n", "[::1]:6379",
			"\xe2\x82\xac");
}

static inline bool fz_check_up(void *arg)
{
	(void)arg;
	return true;
}

/* Healthy and unhealthy by turns, for flap damping and status changes. */
static inline bool fz_check_flappy(void *arg)
{
	return atomic_fetch_add((atomic_uint *)arg, 1) % 2 == 0;
}

/* The service's checks (sorted by name, as snapshots are) and their
 * tags. */
static const struct {
	const char *name;
	const char *tags[2];
} fz_checks[] __attribute__((unused)) = {
    {"api.v1:edge-1", {"edge", "a.b:c-d"}},
    {"cache", {"ready", NULL}},
    {"db", {"live", "ready"}},
    {"queue", {"ready", NULL}},
};
#define FZ_NCHECKS 4

/*
 * One service for the whole run, over a health registry with the
 * instant checks of fz_checks (healthy; degraded with every kind of
 * detail; unhealthy, not critical; flapping with damping) and a metrics
 * registry with every kind, labels that need escaping, extreme values,
 * and health exported as metrics. The checks have run once, so the
 * cache holds results.
 */
static inline vt__service *fz_service(void)
{
	static vt__service svc;
	static bool ready;
	static atomic_uint flips;
	if (ready)
		return &svc;
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	VT_FUZZ_CHECK(vt_metrics_alloc(&m) == VT_OK);
	vt_health_opts ho = {.workers = 2, .metrics = m};
	VT_FUZZ_CHECK(vt_health_alloc(&h, &ho) == VT_OK);

	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = fz_checks[0].tags;
	o.ntags = 2;
	o.failures_before_unhealthy = 2;
	VT_FUZZ_CHECK(vt_health_add_simple(h, fz_checks[0].name,
					   fz_check_flappy, &flips,
					   &o) == VT_OK);
	o = (vt_check_opts)VT_CHECK_OPTS_DEFAULT;
	o.tags = fz_checks[1].tags;
	o.ntags = 1;
	VT_FUZZ_CHECK(vt_health_add(h, fz_checks[1].name, fz_check_full, NULL,
				    &o) == VT_OK);
	o.tags = fz_checks[2].tags;
	o.ntags = 2;
	VT_FUZZ_CHECK(vt_health_add_simple(h, fz_checks[2].name, fz_check_up,
					   NULL, &o) == VT_OK);
	o.tags = fz_checks[3].tags;
	o.ntags = 1;
	o.critical = false;
	VT_FUZZ_CHECK(vt_health_add(h, fz_checks[3].name, fz_check_down, NULL,
				    &o) == VT_OK);

	static const char *const ln[] = {"method", "route", "status"};
	static const char *const lv[] = {"GET", "/a\"b\\c\nd", "200"};
	static const char *const lv2[] = {"POST", "caf\xc3\xa9", "503"};
	vt_family *f;
	vt_counter *c;
	VT_FUZZ_CHECK(vt_metrics_counter_family(m, "http_requests_total",
						"Requests.\nWith \\ in help.",
						ln, 3, &f) == VT_OK);
	VT_FUZZ_CHECK(vt_family_series(f, lv, 3, &c) == VT_OK);
	vt_counter_add(c, 3);
	VT_FUZZ_CHECK(vt_family_series(f, lv2, 3, &c) == VT_OK);
	vt_counter_add(c, 1e300);
	VT_FUZZ_CHECK(vt_metrics_counter(m, "jobs", NULL, &c) == VT_OK);
	vt_counter_inc(c);
	vt_gauge *g;
	VT_FUZZ_CHECK(vt_metrics_gauge(m, "temperature", "Degrees.", &g) ==
		      VT_OK);
	vt_gauge_set(g, -INFINITY);
	static const double le[] = {-1, 0, 0.001, 1, 1e9};
	vt_histogram *hi;
	VT_FUZZ_CHECK(vt_metrics_histogram_family(m, "latency_seconds", NULL,
						  ln, 1, le, 5, &f) == VT_OK);
	VT_FUZZ_CHECK(vt_family_series(f, lv, 1, &hi) == VT_OK);
	static const double obs[] = {0, -3, 1e-300, 0.5, 2, 1e300, INFINITY};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		vt_histogram_observe(hi, obs[i]);
	VT_FUZZ_CHECK(vt_metrics_histogram(m, "empty_seconds", NULL, &hi) ==
		      VT_OK);

	VT_FUZZ_CHECK(vt__service_init(&svc, h, m, NULL, NULL) == VT_OK);
	vt_health_snapshot *s = NULL;
	VT_FUZZ_CHECK(vt_health_run(h, NULL, VT_RUN_FRESH, &s) == VT_OK);
	vt_health_snapshot_free(s);
	ready = true;
	return &svc;
}

/* The same checks and metrics as fz_service(), with FZ_TOKEN required
 * for details, metrics and changes (one service for the whole run). */
#define FZ_TOKEN "fuzz-t0ken"
static inline vt__service *fz_token_service(void)
{
	static vt__service svc;
	static bool ready;
	if (ready)
		return &svc;
	vt__service *base = fz_service();
	VT_FUZZ_CHECK(vt__service_init(&svc, base->health, base->metrics, NULL,
				       NULL) == VT_OK);
	VT_FUZZ_CHECK(vt__service_set_token(&svc, FZ_TOKEN) == VT_OK);
	ready = true;
	return &svc;
}

/* A check name or tag: 1..200 bytes of [A-Za-z0-9_.:-]. */
static inline bool fz_word(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == ':' || s[i] == '-'))
			return false;
	return true;
}

static inline bool fz_has_tag(const vt_component *c, const char *tag)
{
	for (size_t i = 0; i < c->ntags; i++)
		if (strcmp(c->tags[i], tag) == 0)
			return true;
	return false;
}

/* Whether the filter selects check i of fz_checks. */
static inline bool fz_selects(const vt_health_filter *f, size_t i)
{
	const char *const *tags = fz_checks[i].tags;
	if (f->name != NULL && strcmp(f->name, fz_checks[i].name) != 0)
		return false;
	if (f->tag != NULL &&
	    !(tags[0] != NULL && strcmp(f->tag, tags[0]) == 0) &&
	    !(tags[1] != NULL && strcmp(f->tag, tags[1]) == 0))
		return false;
	for (size_t j = 0; j < f->nexclude; j++)
		if (strcmp(f->exclude[j], fz_checks[i].name) == 0)
			return false;
	return true;
}

/* Checks that s holds exactly the checks f selects, in name order, each
 * with its tags, and an overall status that follows from them. */
static inline void fz_check_selection(const vt_health_snapshot *s,
				      const vt_health_filter *f)
{
	size_t k = 0;
	for (size_t i = 0; i < FZ_NCHECKS; i++) {
		if (!fz_selects(f, i))
			continue;
		VT_FUZZ_CHECK(k < s->ncomponents);
		const vt_component *c = &s->components[k++];
		VT_FUZZ_CHECK(strcmp(c->name, fz_checks[i].name) == 0);
		for (size_t t = 0; t < 2; t++)
			VT_FUZZ_CHECK(fz_checks[i].tags[t] == NULL ||
				      fz_has_tag(c, fz_checks[i].tags[t]));
	}
	VT_FUZZ_CHECK(k == s->ncomponents);
	VT_FUZZ_CHECK(s->status ==
		      vt_health_aggregate(s->components, s->ncomponents));
}

#endif
