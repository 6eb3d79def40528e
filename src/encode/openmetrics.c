/*
 * openmetrics.c - a metrics snapshot as OpenMetrics text 1.0.0
 * (application/openmetrics-text; version=1.0.0), ending in "# EOF".
 *
 * Per family with at least one series: "# TYPE", "# HELP" (a family
 * without help gets "No help text registered.", as in the text format),
 * then its samples. A counter family is named without "_total" and its
 * samples are NAME_total and NAME_created, so the series names match the
 * text format's; a counter registered as "x_total" whose family name "x"
 * is itself another family of the snapshot keeps "x_total" as the family
 * name, since two families of one name would break the whole scrape.
 * Histograms: NAME_bucket{le} (cumulative, +Inf = count), NAME_count,
 * NAME_sum (left out when an observation or a bound is negative, as the
 * format requires: the sum is then no counter), NAME_created. _created is
 * the series' creation time, written when the snapshot knows it.
 *
 * Floats are written as client_golang's OpenMetrics writer does: Go's
 * shortest form with ".0" added to integral values ("1.0", "0.005",
 * "1e-06", "+Inf"); counts as integers. HELP and label values escape
 * backslash, double quote and newline; invalid UTF-8 becomes U+FFFD.
 */
#include "vitals/encode.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "encode/textfmt.h"

#define OM_LIMIT ((size_t)64 << 20)

#define LIT VT__TW_LIT

typedef struct om_ctx {
	vt__tw *w;
	vt_buf labels; /* one series' labels: a="x",b="y" */
	char base[VT_MAX_NAME_LEN + 16];
	double le_bounds[VT_MAX_LE_BOUNDS];
	size_t le_n; /* 0 = none cached */
	char le_text[VT_MAX_LE_BOUNDS][VT__NUM_MAX + 2];
	size_t le_len[VT_MAX_LE_BOUNDS];
} om_ctx;

/* v as an OpenMetrics float into dst (VT__NUM_MAX + 2); returns length. */
static size_t om_float(char *dst, double v)
{
	size_t n = vt__num_prom(dst, v);
	if (isfinite(v) && memchr(dst, '.', n) == NULL &&
	    memchr(dst, 'e', n) == NULL) {
		memcpy(dst + n, ".0", 3);
		n += 2;
	}
	return n;
}

static void tw_float(vt__tw *w, double v)
{
	char t[VT__NUM_MAX + 2];
	vt__tw_put(w, t, om_float(t, v));
}

static int family_cmp(const void *key, const void *elem)
{
	const vt_family_snap *f = elem;
	return strcmp(key, f->name);
}

/* Sets c->base to f's family name (see the top). */
static vt_err base_name(om_ctx *c, const vt_metrics_snapshot *s,
			const vt_family_snap *f)
{
	size_t n = strlen(f->name);
	if (n >= sizeof(c->base))
		return VT_EINVAL;
	memcpy(c->base, f->name, n + 1);
	if (f->kind != VT_COUNTER || n < 6 ||
	    strcmp(f->name + n - 6, "_total") != 0)
		return VT_OK;
	c->base[n - 6] = '\0';
	if (bsearch(c->base, s->families, s->nfamilies, sizeof(s->families[0]),
		    family_cmp) != NULL)
		c->base[n - 6] = '_'; /* keep the full name */
	return VT_OK;
}

/* Escapes the labels of s into c->labels (a="x",b="y", no braces). */
static vt_err render_labels(om_ctx *c, const vt_series_snap *s)
{
	if (s->nlabels > 0 && s->labels == NULL)
		return VT_EINVAL;
	c->labels.len = 0;
	vt__tw lw;
	vt__tw_init(&lw, &c->labels);
	for (size_t i = 0; i < s->nlabels; i++) {
		const vt_label *l = &s->labels[i];
		if (l->name == NULL || l->value == NULL)
			return VT_EINVAL;
		if (i > 0)
			LIT(&lw, ",");
		vt__tw_puts(&lw, l->name);
		LIT(&lw, "=\"");
		vt__tw_escape(&lw, l->value, VT__ESC_PROM_LABEL);
		LIT(&lw, "\"");
	}
	vt__tw_flush(&lw);
	return c->labels.err;
}

/* base suffix{labels[,le="..."]} and a space. */
static void sample_head(om_ctx *c, const char *suffix, const char *le,
			size_t le_len)
{
	vt__tw *w = c->w;
	vt__tw_puts(w, c->base);
	vt__tw_puts(w, suffix);
	bool any = c->labels.len > 0;
	if (any || le != NULL)
		LIT(w, "{");
	if (any)
		vt__tw_put(w, c->labels.data, c->labels.len);
	if (le != NULL) {
		if (any)
			LIT(w, ",");
		LIT(w, "le=\"");
		vt__tw_put(w, le, le_len);
		LIT(w, "\"");
	}
	if (any || le != NULL)
		LIT(w, "}");
	LIT(w, " ");
}

static void created(om_ctx *c, const vt_series_snap *s)
{
	if (!(s->created > 0) || !isfinite(s->created))
		return;
	sample_head(c, "_created", NULL, 0);
	tw_float(c->w, s->created);
	LIT(c->w, "\n");
}

/* Formats h's le bounds into c unless they are the ones cached. */
static vt_err le_texts(om_ctx *c, const vt_hist_summary *h)
{
	if (h->nbounds > VT_MAX_LE_BOUNDS)
		return VT_EINVAL;
	if (h->nbounds == c->le_n && h->nbounds > 0 &&
	    memcmp(h->le_bounds, c->le_bounds, h->nbounds * sizeof(double)) ==
		0)
		return VT_OK;
	for (size_t i = 0; i < h->nbounds; i++) {
		double b = h->le_bounds[i];
		if (!isfinite(b) || (i > 0 && !(b > h->le_bounds[i - 1]))) {
			c->le_n = 0;
			return VT_EINVAL;
		}
		c->le_bounds[i] = b;
		c->le_len[i] = om_float(c->le_text[i], b);
	}
	c->le_n = h->nbounds;
	return VT_OK;
}

static vt_err histogram(om_ctx *c, const vt_series_snap *s)
{
	const vt_hist_summary *h = &s->hist;
	if (h->nbounds > 0 &&
	    (h->le_bounds == NULL || h->le_cumulative == NULL))
		return VT_EINVAL;
	vt_err rv = le_texts(c, h);
	if (rv != VT_OK)
		return rv;
	vt__tw *w = c->w;
	for (size_t i = 0; i < h->nbounds; i++) {
		sample_head(c, "_bucket", c->le_text[i], c->le_len[i]);
		vt__tw_u64(w, h->le_cumulative[i]);
		LIT(w, "\n");
	}
	sample_head(c, "_bucket", "+Inf", 4);
	vt__tw_u64(w, h->count);
	LIT(w, "\n");
	sample_head(c, "_count", NULL, 0);
	vt__tw_u64(w, h->count);
	LIT(w, "\n");
	bool negative = (h->count > 0 && h->min < 0) ||
			(h->nbounds > 0 && h->le_bounds[0] < 0);
	if (!negative) {
		sample_head(c, "_sum", NULL, 0);
		tw_float(w, h->sum);
		LIT(w, "\n");
	}
	created(c, s);
	return VT_OK;
}

static vt_err series(om_ctx *c, const vt_family_snap *f,
		     const vt_series_snap *s)
{
	vt_err rv = render_labels(c, s);
	if (rv != VT_OK)
		return rv;
	if (f->kind == VT_HISTOGRAM)
		return histogram(c, s);
	if (f->kind == VT_GAUGE) {
		sample_head(c, "", NULL, 0);
		tw_float(c->w, s->value);
		LIT(c->w, "\n");
		return VT_OK;
	}
	/* A family kept under its full name "x_total" writes "x_total". */
	size_t n = strlen(c->base);
	bool full = n >= 6 && strcmp(c->base + n - 6, "_total") == 0;
	sample_head(c, full ? "" : "_total", NULL, 0);
	tw_float(c->w, s->value);
	LIT(c->w, "\n");
	created(c, s);
	return VT_OK;
}

static vt_err family(om_ctx *c, const vt_metrics_snapshot *snap,
		     const vt_family_snap *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	if (f->name == NULL || (f->nseries > 0 && f->series == NULL) ||
	    (f->kind != VT_COUNTER && f->kind != VT_GAUGE &&
	     f->kind != VT_HISTOGRAM))
		return VT_EINVAL;
	if (f->nseries == 0)
		return VT_OK;
	vt_err rv = base_name(c, snap, f);
	if (rv != VT_OK)
		return rv;
	vt__tw *w = c->w;
	LIT(w, "# TYPE ");
	vt__tw_puts(w, c->base);
	LIT(w, " ");
	vt__tw_puts(w, types[f->kind]);
	LIT(w, "\n# HELP ");
	vt__tw_puts(w, c->base);
	LIT(w, " ");
	if (f->help != NULL && f->help[0] != '\0')
		vt__tw_escape(w, f->help, VT__ESC_PROM_LABEL);
	else
		LIT(w, "No help text registered.");
	LIT(w, "\n");
	for (size_t i = 0; i < f->nseries && w->buf->err == VT_OK; i++)
		if ((rv = series(c, f, &f->series[i])) != VT_OK)
			return rv;
	return VT_OK;
}

/* Writes the snapshot s as OpenMetrics text 1.0.0. On success *out
 * (free()) and *len. */
vt_err vt_openmetrics_metrics(const vt_metrics_snapshot *s, char **out,
			      size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->nfamilies > 0 && s->families == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < s->nfamilies; i++)
		if (s->families[i].name == NULL)
			return VT_EINVAL;
	om_ctx *c = malloc(sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, OM_LIMIT);
	vt__tw_init(&w, &b);
	c->w = &w;
	vt__buf_init(&c->labels, OM_LIMIT);
	c->le_n = 0;
	vt_err rv = VT_OK;
	for (size_t i = 0; i < s->nfamilies && rv == VT_OK && b.err == VT_OK;
	     i++)
		rv = family(c, s, &s->families[i]);
	LIT(&w, "# EOF\n");
	vt__buf_fini(&c->labels);
	free(c);
	vt__tw_flush(&w);
	if (rv != VT_OK) {
		vt__buf_fini(&b);
		return rv;
	}
	return vt__buf_take(&b, out, len);
}
