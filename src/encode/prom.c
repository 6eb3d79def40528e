/*
 * prom.c - a metrics snapshot as Prometheus text exposition format 0.0.4.
 *
 * Per family with at least one series (client_golang also drops empty
 * families): "# HELP", "# TYPE", then one line per sample, no
 * timestamps. promtool's linter rejects a family without help text, so a
 * family registered without one gets "No help text registered." rather
 * than a bare or missing HELP line. A counter whose name does not end in
 * "_total" is exposed with "_total" appended, in HELP, TYPE and samples,
 * unless that name is itself a family of the snapshot (two families of
 * one name would break the whole scrape; the plain name only draws a
 * lint warning). Histograms are name_bucket{...,le="b"} with cumulative
 * counts, le="+Inf" equal to the count, then name_sum and name_count.
 * Numbers are written as Go's client writes them (textfmt.h).
 *
 * A series' label text is escaped once and reused for each of its
 * bucket lines; the le texts are formatted once per run of series that
 * share the same bounds.
 */
#include "vitals/encode.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "encode/textfmt.h"

/* Largest output: past it the encoder fails with VT_ETOOBIG. */
#define PROM_LIMIT ((size_t)64 << 20)

#define LIT VT__TW_LIT

static const char total_suffix[] = "_total";
#define TOTAL_LEN (sizeof(total_suffix) - 1)

/* Scratch kept across one encoding. */
typedef struct prom_ctx {
	vt__tw *w;
	vt_buf name;   /* a family name + "_total", for the lookup */
	vt_buf labels; /* one series' labels: a="x",b="y" */
	/* the le bounds last seen and their texts */
	double le_bounds[VT_MAX_LE_BOUNDS];
	size_t le_n; /* 0 = none cached */
	char le_text[VT_MAX_LE_BOUNDS][VT__NUM_MAX];
	size_t le_len[VT_MAX_LE_BOUNDS];
} prom_ctx;

static int family_cmp(const void *key, const void *elem)
{
	const vt_family_snap *f = elem;
	return strcmp(key, f->name);
}

/* Whether the counter family f is exposed as name + "_total". Relies on
 * the snapshot's families being sorted by name. */
static bool needs_total(prom_ctx *c, const vt_metrics_snapshot *s,
			const vt_family_snap *f)
{
	size_t n = strlen(f->name);
	if (n >= TOTAL_LEN &&
	    memcmp(f->name + n - TOTAL_LEN, total_suffix, TOTAL_LEN) == 0)
		return false;
	c->name.len = 0; /* reused: only data and len are read below */
	vt__buf_append(&c->name, f->name, n);
	vt__buf_append(&c->name, total_suffix, TOTAL_LEN);
	if (c->name.err != VT_OK)
		return true; /* too long to look up; the output fails too */
	return bsearch(c->name.data, s->families, s->nfamilies,
		       sizeof(s->families[0]), family_cmp) == NULL;
}

/* Escapes the labels of s into c->labels (a="x",b="y", no braces). */
static vt_err render_labels(prom_ctx *c, const vt_series_snap *s)
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

/* name suffix{labels} then a space; le (may be NULL) as the last label. */
static void sample_head(prom_ctx *c, const char *name, const char *suffix,
			const char *le, size_t le_len)
{
	vt__tw *w = c->w;
	vt__tw_puts(w, name);
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

/* Formats h's le bounds into c unless they are the ones cached. */
static vt_err le_texts(prom_ctx *c, const vt_hist_summary *h)
{
	if (h->nbounds > VT_MAX_LE_BOUNDS)
		return VT_EINVAL;
	if (h->nbounds == 0)
		return VT_OK;
	if (h->nbounds == c->le_n && memcmp(h->le_bounds, c->le_bounds,
					    h->nbounds * sizeof(double)) == 0)
		return VT_OK;
	for (size_t i = 0; i < h->nbounds; i++) {
		double bound = h->le_bounds[i];
		/* A bound out of order or infinite would repeat an le. */
		if (!isfinite(bound) ||
		    (i > 0 && !(bound > h->le_bounds[i - 1]))) {
			c->le_n = 0;
			return VT_EINVAL;
		}
		c->le_bounds[i] = bound;
		c->le_len[i] = vt__num_prom(c->le_text[i], bound);
	}
	c->le_n = h->nbounds;
	return VT_OK;
}

static vt_err histogram(prom_ctx *c, const char *name, const vt_series_snap *s)
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
		sample_head(c, name, "_bucket", c->le_text[i], c->le_len[i]);
		vt__tw_u64(w, h->le_cumulative[i]);
		LIT(w, "\n");
	}
	sample_head(c, name, "_bucket", "+Inf", 4);
	vt__tw_u64(w, h->count);
	LIT(w, "\n");
	sample_head(c, name, "_sum", NULL, 0);
	vt__tw_num_prom(w, h->sum);
	LIT(w, "\n");
	sample_head(c, name, "_count", NULL, 0);
	vt__tw_u64(w, h->count);
	LIT(w, "\n");
	return VT_OK;
}

static vt_err family(prom_ctx *c, const vt_metrics_snapshot *snap,
		     const vt_family_snap *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	if (f->name == NULL || (f->nseries > 0 && f->series == NULL) ||
	    (f->kind != VT_COUNTER && f->kind != VT_GAUGE &&
	     f->kind != VT_HISTOGRAM))
		return VT_EINVAL;
	if (f->nseries == 0)
		return VT_OK;
	const char *suffix = "";
	if (f->kind == VT_COUNTER && needs_total(c, snap, f))
		suffix = total_suffix;

	vt__tw *w = c->w;
	LIT(w, "# HELP ");
	vt__tw_puts(w, f->name);
	vt__tw_puts(w, suffix);
	LIT(w, " ");
	if (f->help != NULL && f->help[0] != '\0')
		vt__tw_escape(w, f->help, VT__ESC_PROM_HELP);
	else
		LIT(w, "No help text registered.");
	LIT(w, "\n# TYPE ");
	vt__tw_puts(w, f->name);
	vt__tw_puts(w, suffix);
	LIT(w, " ");
	vt__tw_puts(w, types[f->kind]);
	LIT(w, "\n");

	for (size_t i = 0; i < f->nseries && c->w->buf->err == VT_OK; i++) {
		const vt_series_snap *s = &f->series[i];
		vt_err rv = render_labels(c, s);
		if (rv != VT_OK)
			return rv;
		if (f->kind == VT_HISTOGRAM) {
			rv = histogram(c, f->name, s);
			if (rv != VT_OK)
				return rv;
			continue;
		}
		sample_head(c, f->name, suffix, NULL, 0);
		vt__tw_num_prom(w, s->value);
		LIT(w, "\n");
	}
	return VT_OK;
}

/* Writes the snapshot s as Prometheus text 0.0.4. On success *out
 * (free()) and *len. */
vt_err vt_prom_metrics(const vt_metrics_snapshot *s, char **out, size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->nfamilies > 0 && s->families == NULL))
		return VT_EINVAL;
	prom_ctx *c = malloc(sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, PROM_LIMIT);
	vt__tw_init(&w, &b);
	c->w = &w;
	vt__buf_init(&c->name, PROM_LIMIT);
	vt__buf_init(&c->labels, PROM_LIMIT);
	c->le_n = 0;
	vt_err rv = VT_OK;
	/* needs_total's lookup reads every family's name. */
	for (size_t i = 0; i < s->nfamilies; i++)
		if (s->families[i].name == NULL)
			rv = VT_EINVAL;
	/* b.err is set by a flush: stop early once past the limit. */
	for (size_t i = 0; i < s->nfamilies && rv == VT_OK && b.err == VT_OK;
	     i++)
		rv = family(c, s, &s->families[i]);
	vt__buf_fini(&c->name);
	vt__buf_fini(&c->labels);
	free(c);
	vt__tw_flush(&w);
	if (rv != VT_OK) {
		vt__buf_fini(&b);
		return rv;
	}
	/* No families: "" (length 0), a valid, empty exposition. */
	return vt__buf_take(&b, out, len);
}
