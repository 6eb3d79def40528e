/*
 * promproto.c - a metrics snapshot as Prometheus' protobuf exposition:
 * length-delimited io.prometheus.client.MetricFamily messages (a varint
 * length, then the message), the format Prometheus asks for with
 * "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;
 * encoding=delimited". The messages are protoc-c's, generated at build
 * time from the metrics.proto of Debian's client_model package
 * (cmake/VitalsPromProto.cmake).
 *
 * Families and names as in the text format (prom.c): families without
 * series are left out, a family without help gets "No help text
 * registered.", a counter not ending in "_total" is named with it unless
 * that name is a family of the snapshot. Histograms carry, from the same
 * snapshot, both the classic buckets (cumulative counts at the le bounds;
 * +Inf is implied by sample_count, as client_golang writes it) and the
 * native ones: schema 5, whose bucket i is (2^((i-1)/32), 2^(i/32)] -
 * exactly the log buckets the metrics module records in - as spans and
 * count deltas. Values in [0, 2^-48] form the zero bucket (threshold
 * 2^-48); values over 2^48 are counted in the first bucket above it; all
 * negative values (one clamp bucket in the recorder) in the negative
 * bucket holding the series' minimum. The Debian metrics.proto has no
 * created-timestamp field, so creation times go out in OpenMetrics only.
 * Strings are sent as valid UTF-8 (invalid bytes become U+FFFD).
 *
 * Per family, the messages are built in a scratch arena reused across
 * families, packed, and appended to the output.
 */
#include "vitals/encode.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "encode/textfmt.h"
#include "io/prometheus/client/metrics.pb-c.h"
#include "metrics/histogram.h"
#include "metrics/native.h"

#define PROTO_LIMIT ((size_t)64 << 20)

typedef Io__Prometheus__Client__MetricFamily pb_family;
typedef Io__Prometheus__Client__Metric pb_metric;
typedef Io__Prometheus__Client__LabelPair pb_label;
typedef Io__Prometheus__Client__Histogram pb_hist;
typedef Io__Prometheus__Client__Bucket pb_bucket;
typedef Io__Prometheus__Client__BucketSpan pb_span;

/* Schema 5: native bucket i of a positive value v is ceil(32 log2 v);
 * the recorder's log bucket li (octave * 32 + sub-bucket, octaves from
 * 2^VT__OCT_MIN) has upper bound 2^(VT__OCT_MIN + (li + 1) / 32). */
#define NATIVE_SCHEMA	  5
#define NATIVE_OF_LOG(li) ((int64_t)(li) + VT__OCT_MIN * VT__SUB + 1)

/* A bump allocator whose chunks are kept for the next family. */
typedef struct chunk {
	struct chunk *next;
	size_t cap, used;
	_Alignas(max_align_t) unsigned char data[];
} chunk;

typedef struct scratch {
	chunk *head, *cur;
	bool failed;
} scratch;

/* n bytes, aligned for any message; NULL (and s->failed) when out of
 * memory. */
static void *sc_alloc(scratch *s, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	while (s->cur != NULL && s->cur->cap - s->cur->used < n)
		s->cur = s->cur->next;
	if (s->cur == NULL) {
		size_t cap = n > (64u << 10) ? n : (64u << 10);
		chunk *c = malloc(sizeof(*c) + cap);
		if (c == NULL) {
			s->failed = true;
			return NULL;
		}
		c->cap = cap;
		c->used = 0;
		c->next = s->head; /* a new chunk goes first: reset finds it */
		s->head = c;
		s->cur = c;
	}
	void *p = s->cur->data + s->cur->used;
	s->cur->used += n;
	return p;
}

static void sc_reset(scratch *s)
{
	for (chunk *c = s->head; c != NULL; c = c->next)
		c->used = 0;
	s->cur = s->head;
}

static void sc_fini(scratch *s)
{
	while (s->head != NULL) {
		chunk *c = s->head;
		s->head = c->next;
		free(c);
	}
}

/* s as valid UTF-8: s itself, or a cleaned copy in the scratch. */
static char *clean_str(scratch *sc, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);
	bool ok = true;
	for (const unsigned char *q = p; q < end && ok;) {
		size_t n = vt__utf8_seq(q, end);
		ok = n > 0;
		q += n;
	}
	if (ok)
		return (char *)s;
	char *d = sc_alloc(sc, 3 * (size_t)(end - p) + 1);
	if (d == NULL)
		return (char *)"";
	size_t k = 0;
	while (p < end) {
		size_t n = vt__utf8_seq(p, end);
		if (n == 0) {
			memcpy(d + k, "\xef\xbf\xbd", 3);
			k += 3;
			p++;
			continue;
		}
		memcpy(d + k, p, n);
		k += n;
		p += n;
	}
	d[k] = '\0';
	return d;
}

/* Native bucket index of the positive value v (v > 2^-48). */
static int64_t native_index(double v)
{
	uint32_t li = vt__hist_log_index(v);
	if (li < VT__NLOG)
		return NATIVE_OF_LOG(li);
	return NATIVE_OF_LOG(VT__NLOG); /* past 2^48 */
}

/* One side's buckets as spans and deltas. Buckets come ascending. */
typedef struct side {
	pb_span **spans;
	size_t nspans;
	int64_t *deltas;
	size_t ndeltas;
	int64_t last_idx;
	int64_t last_cnt;
} side;

static void side_add(scratch *sc, side *sd, int64_t i, uint64_t c)
{
	if (sd->ndeltas == 0 || i != sd->last_idx + 1) {
		pb_span *sp = sc_alloc(sc, sizeof(*sp));
		if (sp == NULL)
			return;
		io__prometheus__client__bucket_span__init(sp);
		sp->has_offset = sp->has_length = 1;
		sp->offset =
		    (int32_t)(sd->ndeltas == 0 ? i : i - sd->last_idx - 1);
		sp->length = 0;
		sd->spans[sd->nspans++] = sp;
	}
	sd->spans[sd->nspans - 1]->length++;
	sd->deltas[sd->ndeltas++] = (int64_t)c - sd->last_cnt;
	sd->last_cnt = (int64_t)c;
	sd->last_idx = i;
}

/* Fills the native part of hm from s's buckets; leaves it out when s
 * has observations but carries no buckets. */
static void native(scratch *sc, pb_hist *hm, const vt_series_snap *s)
{
	/* The metrics module's native buckets (metrics/native.h). */
	vt__native nb;
	if (!vt__series_native(s, &nb))
		nb = (vt__native){.n = 0};
	size_t n = nb.n;
	if (n + nb.zero_count + nb.neg_count + nb.over_count == 0 &&
	    s->hist.count > 0)
		return; /* no buckets known (a decoded snapshot): classic only
			 */
	hm->has_schema = hm->has_zero_threshold = hm->has_zero_count = 1;
	hm->schema = NATIVE_SCHEMA;
	hm->zero_threshold = ldexp(1.0, VT__OCT_MIN);
	hm->zero_count = nb.zero_count;
	side pos = {0}, neg = {0};
	pos.spans = sc_alloc(sc, (n + 1) * sizeof(*pos.spans));
	pos.deltas = sc_alloc(sc, (n + 1) * sizeof(*pos.deltas));
	neg.spans = sc_alloc(sc, sizeof(*neg.spans));
	neg.deltas = sc_alloc(sc, sizeof(*neg.deltas));
	if (sc->failed)
		return;
	if (nb.neg_count > 0) {
		double lo = s->hist.min;
		int64_t i = isfinite(lo) && lo < -ldexp(1.0, VT__OCT_MIN)
				? native_index(-lo)
				: NATIVE_OF_LOG(0);
		side_add(sc, &neg, i, nb.neg_count);
	}
	for (size_t k = 0; k < n; k++)
		side_add(sc, &pos, vt__native_index(nb.bucket[k]), nb.count[k]);
	if (nb.over_count > 0)
		side_add(sc, &pos, NATIVE_OF_LOG(VT__NLOG), nb.over_count);
	hm->positive_span = pos.spans;
	hm->n_positive_span = pos.nspans;
	hm->positive_delta = pos.deltas;
	hm->n_positive_delta = pos.ndeltas;
	hm->negative_span = neg.spans;
	hm->n_negative_span = neg.nspans;
	hm->negative_delta = neg.deltas;
	hm->n_negative_delta = neg.ndeltas;
}

/* The histogram message of series s: classic buckets and native ones. */
static vt_err histogram(scratch *sc, pb_metric *m, const vt_series_snap *s)
{
	const vt_hist_summary *h = &s->hist;
	if (h->nbounds > VT_MAX_LE_BOUNDS ||
	    (h->nbounds > 0 &&
	     (h->le_bounds == NULL || h->le_cumulative == NULL)))
		return VT_EINVAL;
	pb_hist *hm = sc_alloc(sc, sizeof(*hm));
	pb_bucket *bk = sc_alloc(sc, (h->nbounds + 1) * sizeof(*bk));
	pb_bucket **bp = sc_alloc(sc, (h->nbounds + 1) * sizeof(*bp));
	if (sc->failed)
		return VT_ENOMEM;
	io__prometheus__client__histogram__init(hm);
	hm->has_sample_count = hm->has_sample_sum = 1;
	hm->sample_count = h->count;
	hm->sample_sum = h->sum;
	for (size_t i = 0; i < h->nbounds; i++) {
		double b = h->le_bounds[i];
		if (!isfinite(b) || (i > 0 && !(b > h->le_bounds[i - 1])))
			return VT_EINVAL;
		io__prometheus__client__bucket__init(&bk[i]);
		bk[i].has_cumulative_count = bk[i].has_upper_bound = 1;
		bk[i].cumulative_count = h->le_cumulative[i];
		bk[i].upper_bound = b;
		bp[i] = &bk[i];
	}
	hm->bucket = bp;
	hm->n_bucket = h->nbounds;
	native(sc, hm, s);
	if (sc->failed)
		return VT_ENOMEM;
	m->histogram = hm;
	return VT_OK;
}

/* The labels of s into m. */
static vt_err labels(scratch *sc, pb_metric *m, const vt_series_snap *s)
{
	if (s->nlabels > 0 && s->labels == NULL)
		return VT_EINVAL;
	if (s->nlabels == 0)
		return VT_OK;
	pb_label *lp = sc_alloc(sc, s->nlabels * sizeof(*lp));
	pb_label **pp = sc_alloc(sc, s->nlabels * sizeof(*pp));
	if (sc->failed)
		return VT_ENOMEM;
	for (size_t i = 0; i < s->nlabels; i++) {
		if (s->labels[i].name == NULL || s->labels[i].value == NULL)
			return VT_EINVAL;
		io__prometheus__client__label_pair__init(&lp[i]);
		lp[i].name = clean_str(sc, s->labels[i].name);
		lp[i].value = clean_str(sc, s->labels[i].value);
		pp[i] = &lp[i];
	}
	m->label = pp;
	m->n_label = s->nlabels;
	return VT_OK;
}

/* One series as a Metric of family f. */
static vt_err metric(scratch *sc, const vt_family_snap *f,
		     const vt_series_snap *s, pb_metric **out)
{
	pb_metric *m = sc_alloc(sc, sizeof(*m));
	if (m == NULL)
		return VT_ENOMEM;
	io__prometheus__client__metric__init(m);
	vt_err rv = labels(sc, m, s);
	if (rv != VT_OK)
		return rv;
	if (f->kind == VT_HISTOGRAM) {
		rv = histogram(sc, m, s);
	} else if (f->kind == VT_COUNTER) {
		m->counter = sc_alloc(sc, sizeof(*m->counter));
		if (m->counter == NULL)
			return VT_ENOMEM;
		io__prometheus__client__counter__init(m->counter);
		m->counter->has_value = 1;
		m->counter->value = s->value;
	} else {
		m->gauge = sc_alloc(sc, sizeof(*m->gauge));
		if (m->gauge == NULL)
			return VT_ENOMEM;
		io__prometheus__client__gauge__init(m->gauge);
		m->gauge->has_value = 1;
		m->gauge->value = s->value;
	}
	*out = m;
	return rv;
}

static int family_cmp(const void *key, const void *elem)
{
	const vt_family_snap *f = elem;
	return strcmp(key, f->name);
}

/* The exposed name of f (see the top), in the scratch. */
static char *family_name(scratch *sc, const vt_metrics_snapshot *snap,
			 const vt_family_snap *f)
{
	size_t n = strlen(f->name);
	if (f->kind != VT_COUNTER ||
	    (n >= 6 && strcmp(f->name + n - 6, "_total") == 0))
		return (char *)f->name;
	char *t = sc_alloc(sc, n + 7);
	if (t == NULL)
		return NULL;
	memcpy(t, f->name, n);
	memcpy(t + n, "_total", 7);
	if (bsearch(t, snap->families, snap->nfamilies,
		    sizeof(snap->families[0]), family_cmp) != NULL)
		return (char *)f->name;
	return t;
}

/* Builds family f's message in the scratch and appends it, delimited. */
static vt_err family(scratch *sc, vt_buf *b, const vt_metrics_snapshot *snap,
		     const vt_family_snap *f)
{
	static const Io__Prometheus__Client__MetricType types[] = {
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM};
	if (f->name == NULL || (f->nseries > 0 && f->series == NULL) ||
	    (f->kind != VT_COUNTER && f->kind != VT_GAUGE &&
	     f->kind != VT_HISTOGRAM))
		return VT_EINVAL;
	if (f->nseries == 0)
		return VT_OK;
	sc_reset(sc);
	pb_family mf = IO__PROMETHEUS__CLIENT__METRIC_FAMILY__INIT;
	mf.name = family_name(sc, snap, f);
	mf.help = f->help != NULL && f->help[0] != '\0'
		      ? clean_str(sc, f->help)
		      : (char *)"No help text registered.";
	mf.has_type = 1;
	mf.type = types[f->kind];
	mf.metric = sc_alloc(sc, f->nseries * sizeof(*mf.metric));
	if (sc->failed || mf.name == NULL)
		return VT_ENOMEM;
	mf.n_metric = f->nseries;
	for (size_t i = 0; i < f->nseries; i++) {
		vt_err rv = metric(sc, f, &f->series[i], &mf.metric[i]);
		if (rv != VT_OK)
			return rv;
	}
	size_t n = io__prometheus__client__metric_family__get_packed_size(&mf);
	uint8_t *msg = sc_alloc(sc, n + 10);
	if (msg == NULL)
		return VT_ENOMEM;
	size_t k = 0; /* the varint length prefix */
	uint64_t v = n;
	for (; v >= 0x80; v >>= 7)
		msg[k++] = (uint8_t)(v | 0x80);
	msg[k++] = (uint8_t)v;
	io__prometheus__client__metric_family__pack(&mf, msg + k);
	return vt__buf_append(b, msg, k + n);
}

/* Writes the snapshot s as delimited MetricFamily messages. On success
 * *out (free(); NUL-terminated, though binary) and *len. */
vt_err vt_promproto_metrics(const vt_metrics_snapshot *s, char **out,
			    size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->nfamilies > 0 && s->families == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < s->nfamilies; i++)
		if (s->families[i].name == NULL)
			return VT_EINVAL;
	vt_buf b;
	vt__buf_init(&b, PROTO_LIMIT);
	scratch sc = {0};
	vt_err rv = VT_OK;
	for (size_t i = 0; i < s->nfamilies && rv == VT_OK; i++)
		rv = family(&sc, &b, s, &s->families[i]);
	sc_fini(&sc);
	if (rv != VT_OK) {
		vt__buf_fini(&b);
		return rv;
	}
	return vt__buf_take(&b, out, len);
}
