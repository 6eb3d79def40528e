/*
 * finish.c - the finish stage of the read side (shards -> fold -> merge
 * -> finish): a histogram series' merged counts (the dense vt__hmerge
 * that merge.c fills) become the immutable parts of a snapshot: the
 * non-empty buckets (vt_hist_buckets), the summary with exact le counts,
 * and the percentiles, computed once here so encoders only print them.
 * A quantile reports its bucket's harmonic midpoint, clamped to
 * [min, max] (histogram.c has the error bound).
 *
 * Each series also keeps its last result (vt__hcache, one malloc'd block
 * per series, protected by the registry's shard mutex) with the
 * observation count it was made at: when merge.c finds the count
 * unchanged, the next snapshot copies that result instead of reading
 * every thread's pages again. The block is about the size of the result
 * (12 bytes per non-empty bucket, 8 per le bound, plus 160), so it adds
 * at most what one snapshot of the series holds.
 */
#include "metrics/finish.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/native.h"

void vt__hmerge_reset(vt__hmerge *m, size_t nbounds)
{
	for (int i = 0; i < VT__B_LOG0; i++)
		m->cnt[i] = 0;
	m->cnt[VT__B_OVER] = 0;
	for (int o = 0; o < VT__NOCT; o++) {
		if (m->touched[o / 64] >> (o % 64) & 1)
			memset(&m->cnt[VT__B_LOG0 + o * VT__SUB], 0,
			       VT__SUB * sizeof m->cnt[0]);
	}
	memset(m->touched, 0, sizeof m->touched);
	memset(m->below, 0, nbounds * sizeof m->below[0]);
	m->sum = 0;
	m->min = INFINITY;
	m->max = -INFINITY;
}

/* The value reported for bucket b: see the top of the file. */
static double bucket_value(uint32_t b, double min, double max)
{
	double v, lo, hi;
	if (b == VT__B_NEG) {
		v = min;
	} else if (b == VT__B_ZERO) {
		v = 0;
	} else if (b == VT__B_UNDER) {
		v = 0x1p-48;
	} else if (b == VT__B_OVER) {
		v = max;
	} else {
		vt__hist_bucket_bounds(b, &lo, &hi);
		v = 2 * lo * hi / (lo + hi);
	}
	return v < min ? min : v > max ? max : v;
}

/* Nearest rank of q among count values (count > 0). */
static uint64_t rank_of(double q, uint64_t count)
{
	double kd = ceil(q * (double)count);
	return kd < 1 ? 1 : kd >= (double)count ? count : (uint64_t)kd;
}

/* Quantiles q[0..n) (ascending) of h into out, in one pass. */
static void buckets_quantiles(const vt_hist_buckets *h, const double *q,
			      size_t n, double *out)
{
	size_t i = 0, qi = 0;
	uint64_t acc = 0;
	for (; qi < n; qi++) {
		if (h->count == 0) {
			out[qi] = NAN;
			continue;
		}
		uint64_t k = rank_of(q[qi], h->count);
		if (k == 1) {
			out[qi] = h->min;
			continue;
		}
		if (k == h->count) {
			out[qi] = h->max;
			continue;
		}
		while (i < h->n && acc + h->cnt[i] < k)
			acc += h->cnt[i++];
		out[qi] =
		    i < h->n ? bucket_value(h->idx[i], h->min, h->max) : h->max;
	}
}

vt_err vt__hmerge_finish(vt__hmerge *m, const double *bounds,
			 const uint32_t *bound_bucket, size_t nbounds,
			 vt__arena *a, vt_hist_summary *sum,
			 const vt_hist_buckets **out)
{
	/* The non-empty buckets in bucket order, into the scratch arrays,
	 * emptying m as it goes; then copied out at their exact size. */
	uint64_t *scnt = m->scnt;
	uint32_t *sidx = m->sidx;
	size_t n = 0;
	for (uint32_t b = 0; b < VT__B_LOG0; b++) {
		sidx[n] = b;
		scnt[n] = m->cnt[b];
		n += m->cnt[b] != 0;
		m->cnt[b] = 0;
	}
	for (int w = 0; w < 2; w++) {
		for (uint64_t bits = m->touched[w]; bits != 0;
		     bits &= bits - 1) {
			unsigned o =
			    (unsigned)w * 64 + (unsigned)__builtin_ctzll(bits);
			uint32_t b0 = VT__B_LOG0 + o * VT__SUB;
			uint64_t *c = &m->cnt[b0];
			for (uint32_t k = 0; k < VT__SUB; k++) {
				sidx[n] = b0 + k;
				scnt[n] = c[k];
				n += c[k] != 0;
			}
			memset(c, 0, VT__SUB * sizeof *c);
		}
		m->touched[w] = 0;
	}
	sidx[n] = VT__B_OVER;
	scnt[n] = m->cnt[VT__B_OVER];
	n += m->cnt[VT__B_OVER] != 0;
	m->cnt[VT__B_OVER] = 0;

	vt_hist_buckets *hs = vt__arena_alloc(a, sizeof *hs, 8);
	uint64_t *cnt = vt__arena_alloc(a, (n + nbounds + 1) * sizeof *cnt, 8);
	uint32_t *idx = vt__arena_alloc(a, n * sizeof *idx + 1, 4);
	if (hs == NULL || cnt == NULL || idx == NULL) {
		vt__hmerge_reset(m, nbounds);
		return VT_ENOMEM;
	}
	uint64_t *cum = cnt + n;
	memcpy(idx, sidx, n * sizeof *idx);
	uint64_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += cnt[i] = scnt[i];

	/* le: buckets below L_j plus below[j]; bound_bucket ascends. */
	uint64_t acc = 0;
	size_t p = 0;
	for (size_t j = 0; j < nbounds; j++) {
		while (p < n && idx[p] < bound_bucket[j])
			acc += cnt[p++];
		cum[j] = acc + m->below[j];
		m->below[j] = 0;
	}
	cum[nbounds] = count;

	hs->count = count;
	hs->min = count ? m->min : NAN;
	hs->max = count ? m->max : NAN;
	hs->n = n;
	hs->idx = idx;
	hs->cnt = cnt;

	static const double qs[5] = {0.5, 0.9, 0.95, 0.99, 0.999};
	double qv[5];
	buckets_quantiles(hs, qs, 5, qv);
	sum->count = count;
	sum->sum = m->sum;
	sum->min = hs->min;
	sum->max = hs->max;
	sum->p50 = qv[0];
	sum->p90 = qv[1];
	sum->p95 = qv[2];
	sum->p99 = qv[3];
	sum->p999 = qv[4];
	sum->nbounds = nbounds;
	sum->le_bounds = bounds;
	sum->le_cumulative = cum;
	*out = hs;
	m->sum = 0;
	m->min = INFINITY;
	m->max = -INFINITY;
	return VT_OK;
}

double vt__buckets_quantile(const vt_hist_buckets *h, double q)
{
	if (h == NULL || h->count == 0 || !(q >= 0 && q <= 1))
		return NAN;
	double v;
	buckets_quantiles(h, &q, 1, &v);
	return v;
}

/*
 * The last result of each series.
 */

struct vt__hcache {
	uint64_t seen; /* observation count the result was made at */
	size_t cap;    /* room for this many buckets */
	size_t nb;     /* le bounds */
	vt_hist_summary sum;
	vt_hist_buckets b;
	/* cnt[cap], then cum[nb + 1], then idx[cap] */
	uint64_t data[];
};

bool vt__hcache_valid(const vt__hcache *c, uint64_t seen)
{
	return c != NULL && c->seen == seen;
}

/* The arrays of a result of n buckets and nb bounds, from a. */
static vt_err result_alloc(vt__arena *a, size_t n, size_t nb,
			   vt_hist_buckets **hs, uint64_t **cnt, uint32_t **idx)
{
	*hs = vt__arena_alloc(a, sizeof **hs, 8);
	*cnt = vt__arena_alloc(a, (n + nb + 1) * sizeof **cnt, 8);
	*idx = vt__arena_alloc(a, n * sizeof **idx + 1, 4);
	return *hs != NULL && *cnt != NULL && *idx != NULL ? VT_OK : VT_ENOMEM;
}

vt_err vt__hcache_load(const vt__hcache *c, vt__arena *a, vt_hist_summary *sum,
		       const vt_hist_buckets **out)
{
	size_t n = c->b.n, nb = c->nb;
	vt_hist_buckets *hs;
	uint64_t *cnt;
	uint32_t *idx;
	if (result_alloc(a, n, nb, &hs, &cnt, &idx) != VT_OK)
		return VT_ENOMEM;
	memcpy(cnt, c->b.cnt, n * sizeof *cnt);
	memcpy(cnt + n, c->sum.le_cumulative, (nb + 1) * sizeof *cnt);
	memcpy(idx, c->b.idx, n * sizeof *idx);
	*hs = c->b;
	hs->cnt = cnt;
	hs->idx = idx;
	*sum = c->sum;
	sum->le_cumulative = cnt + n;
	*out = hs;
	return VT_OK;
}

void vt__hcache_store(vt__hcache **cp, uint64_t seen,
		      const vt_hist_summary *sum, const vt_hist_buckets *b)
{
	vt__hcache *c = *cp;
	size_t n = b->n, nb = sum->nbounds;
	if (c == NULL || c->cap < n || c->nb != nb) {
		size_t cap = n < 16 ? 16 : n + n / 2;
		free(c);
		c = malloc(sizeof *c + (cap + nb + 1) * sizeof(uint64_t) +
			   cap * sizeof(uint32_t));
		*cp = c;
		if (c == NULL)
			return; /* no result kept: the next merge reads all */
		c->cap = cap;
		c->nb = nb;
	}
	uint64_t *cnt = c->data;
	uint64_t *cum = cnt + c->cap;
	uint32_t *idx = (uint32_t *)(cum + nb + 1);
	memcpy(cnt, b->cnt, n * sizeof *cnt);
	memcpy(cum, sum->le_cumulative, (nb + 1) * sizeof *cum);
	memcpy(idx, b->idx, n * sizeof *idx);
	c->b = *b;
	c->b.cnt = cnt;
	c->b.idx = idx;
	c->sum = *sum;
	c->sum.le_cumulative = cum;
	c->seen = seen;
}

void vt__hcache_free(vt__hcache *c)
{
	free(c);
}

/*
 * The native buckets, for the protobuf exposition (native.h).
 */

bool vt__series_native(const vt_series_snap *s, vt__native *out)
{
	const vt_hist_buckets *b = s != NULL ? s->buckets : NULL;
	if (b == NULL)
		return false;
	memset(out, 0, sizeof *out);
	out->schema = VT__NATIVE_SCHEMA;
	out->zero_threshold = VT__NATIVE_ZERO_THRESHOLD;
	size_t i = 0, n = b->n;
	for (; i < n && b->idx[i] < VT__B_LOG0; i++) {
		if (b->idx[i] == VT__B_NEG)
			out->neg_count = b->cnt[i];
		else
			out->zero_count += b->cnt[i]; /* ZERO, UNDER */
	}
	if (n > i && b->idx[n - 1] == VT__B_OVER)
		out->over_count = b->cnt[--n];
	out->n = n - i;
	out->bucket = b->idx + i;
	out->count = b->cnt + i;
	return true;
}
