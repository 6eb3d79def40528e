/*
 * histogram.c - log-bucket histograms with exact Prometheus "le" counts.
 *
 * Buckets. Positive values in (2^-48, 2^48] fall into log buckets with
 * the bounds of Prometheus' native-histogram schema 5: 32 per power of
 * two ("octave"), bucket k of octave e is (2^(e+k/32), 2^(e+(k+1)/32)],
 * upper bound included as in Prometheus. The index is computed exactly
 * without log(): the double's exponent gives the octave; the top 8 bits
 * of the mantissa index a 256-entry table (vt__hist_sub8) giving the
 * sub-bucket at the start of that mantissa range; one compare with the
 * 33-entry threshold table (vt__hist_thr) fixes it up, since no range of
 * 2^44 mantissas holds two bucket boundaries. The thresholds are exact:
 * (thr[k] >> 12) + 1 is the smallest 52-bit mantissa M with
 * 1 + M/2^52 > 2^(k/32) (computed with integer roots; tests/
 * test_histogram.c re-derives them), and working on bits - 1 makes a
 * power of two land in the octave below.
 * Zero, negatives, values <= 2^-48, values > 2^48 and +Inf go to four
 * special buckets (NEG, ZERO, UNDER, OVER); the 1.1% quantile guarantee
 * holds for positive values in (2^-48, 2^48]. A quantile reports its
 * bucket's harmonic midpoint 2ab/(a+b), clamped to [min, max]: relative
 * error at most (r-1)/(r+1) = 1.083% with r = 2^(1/32); NEG reports min,
 * OVER max, UNDER 2^-48 clamped, ZERO 0.
 *
 * Storage per (thread, series): a vt__hist with a bitmap of the pages in
 * use (so a merge reads only those), sum, min, max, the four special
 * buckets, a directory of 96 page pointers (one per octave) and the le
 * counters; pages of 32 uint64 counts (256 bytes) come lazily
 * from the shard's bump arena. Latencies from 1 us to 100 s touch 27
 * octaves: 27 * 256 + 960 = 7,872 bytes (+16 for the shard slot) with
 * the 11 default bounds. The count is the sum of the buckets, so a
 * snapshot's count always equals the sum of its buckets.
 *
 * le counts. For bound b_j let L_j be the bucket holding b_j. Then
 * count(v <= b_j) = (sum of buckets below L_j) + below[j], where below[j]
 * counts observations in bucket L_j with v <= b_j. A per-family bitmap
 * marks buckets holding a bound; only an observation in such a bucket
 * compares against bounds. Writers store sum/min/max, then the bucket
 * (release), then below[j] for descending j (release); readers load
 * below[j] for ascending j (acquire), then buckets (acquire), then
 * sum/min/max. So le counts read while writers run are monotone, at most
 * the count, and min/max cover every counted value.
 */
#include "metrics/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/registry.h"
#include "metrics/shard.h"

const double vt_default_le_bounds[] = {.005, .01, .025, .05, .1, .25,
				       .5,   1,	  2.5,	5,   10};
const size_t vt_default_le_nbounds =
    sizeof vt_default_le_bounds / sizeof vt_default_le_bounds[0];

const vt__hist_tables vt__hist_tab = {
    /* thr[k] (1 <= k <= 31): with M' the 52 mantissa bits of (bits - 1),
     * shifted to the top of a uint64, M' >= thr[k] iff v > 2^(e + k/32).
     * thr[32] is past every mantissa. */
    .thr =
	{
	    UINT64_C(0x0000000000000000), /*  0 */
	    UINT64_C(0x059b0d3158574000), /*  1 */
	    UINT64_C(0x0b5586cf9890f000), /*  2 */
	    UINT64_C(0x11301d0125b50000), /*  3 */
	    UINT64_C(0x172b83c7d517a000), /*  4 */
	    UINT64_C(0x1d4873168b9aa000), /*  5 */
	    UINT64_C(0x2387a6e756238000), /*  6 */
	    UINT64_C(0x29e9df51fdee1000), /*  7 */
	    UINT64_C(0x306fe0a31b715000), /*  8 */
	    UINT64_C(0x371a7373aa9ca000), /*  9 */
	    UINT64_C(0x3dea64c123422000), /* 10 */
	    UINT64_C(0x44e086061892d000), /* 11 */
	    UINT64_C(0x4bfdad5362a27000), /* 12 */
	    UINT64_C(0x5342b569d4f81000), /* 13 */
	    UINT64_C(0x5ab07dd485429000), /* 14 */
	    UINT64_C(0x6247eb03a5584000), /* 15 */
	    UINT64_C(0x6a09e667f3bcc000), /* 16 */
	    UINT64_C(0x71f75e8ec5f73000), /* 17 */
	    UINT64_C(0x7a11473eb0186000), /* 18 */
	    UINT64_C(0x82589994cce12000), /* 19 */
	    UINT64_C(0x8ace5422aa0db000), /* 20 */
	    UINT64_C(0x93737b0cdc5e4000), /* 21 */
	    UINT64_C(0x9c49182a3f090000), /* 22 */
	    UINT64_C(0xa5503b23e255c000), /* 23 */
	    UINT64_C(0xae89f995ad3ad000), /* 24 */
	    UINT64_C(0xb7f76f2fb5e46000), /* 25 */
	    UINT64_C(0xc199bdd85529c000), /* 26 */
	    UINT64_C(0xcb720dcef9069000), /* 27 */
	    UINT64_C(0xd5818dcfba487000), /* 28 */
	    UINT64_C(0xdfc97337b9b5e000), /* 29 */
	    UINT64_C(0xea4afa2a490d9000), /* 30 */
	    UINT64_C(0xf50765b6e4540000), /* 31 */
	    UINT64_C(0xffffffffffffffff), /* 32 */
	},
    /* Sub-bucket at the start of each 1/256 of the mantissa range. */
    .sub8 =
	{
	    0,	0,  0,	0,  0,	0,  1,	1,  1,	1,  1,	1,  2,	2,  2,	2,
	    2,	2,  3,	3,  3,	3,  3,	3,  4,	4,  4,	4,  4,	4,  5,	5,
	    5,	5,  5,	5,  6,	6,  6,	6,  6,	6,  7,	7,  7,	7,  7,	7,
	    7,	8,  8,	8,  8,	8,  8,	8,  9,	9,  9,	9,  9,	9,  10, 10,
	    10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12,
	    12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14,
	    14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16,
	    16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18,
	    18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20,
	    20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 22, 22, 22,
	    22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23, 23, 24,
	    24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25, 25,
	    25, 25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27,
	    27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	    29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30,
	    30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
	},
};

#define PAGE_BYTES (VT__SUB * sizeof(uint64_t))

uint32_t vt__hist_bucket(double v)
{
	uint32_t li = vt__hist_log_index(v);
	if (li < VT__NLOG)
		return VT__B_LOG0 + li;
	if (v < 0)
		return VT__B_NEG;
	if (v == 0)
		return VT__B_ZERO;
	if (v <= ldexp(1, VT__OCT_MIN))
		return VT__B_UNDER;
	return VT__B_OVER;
}

void vt__hist_bucket_bounds(uint32_t b, double *lo, double *hi)
{
	if (b == VT__B_NEG) {
		*lo = -INFINITY, *hi = 0;
	} else if (b == VT__B_ZERO) {
		*lo = 0, *hi = 0;
	} else if (b == VT__B_UNDER) {
		*lo = 0, *hi = ldexp(1, VT__OCT_MIN);
	} else if (b >= VT__B_OVER) {
		*lo = ldexp(1, VT__OCT_MIN + VT__NOCT), *hi = INFINITY;
	} else {
		uint32_t li = b - VT__B_LOG0;
		int e = (int)(li / VT__SUB) + VT__OCT_MIN;
		unsigned k = li % VT__SUB;
		*lo = ldexp(exp2(k / (double)VT__SUB), e);
		*hi = ldexp(exp2((k + 1) / (double)VT__SUB), e);
	}
}

size_t vt__hist_size(size_t nbounds)
{
	size_t n = sizeof(vt__hist) + nbounds * sizeof(uint64_t);
	return (n + 63) & ~(size_t)63;
}

vt__hist *vt__hist_new(vt__arena *a, size_t nbounds)
{
	vt__hist *h = vt__arena_alloc(a, vt__hist_size(nbounds), 64);
	if (h == NULL)
		return NULL;
	atomic_init(&h->sum, 0.0);
	atomic_init(&h->min, INFINITY);
	atomic_init(&h->max, -INFINITY);
	return h;
}

size_t vt__hist_bytes(const vt__hist *h, size_t nbounds)
{
	size_t n = vt__hist_size(nbounds);
	for (int o = 0; o < VT__NOCT; o++)
		if (atomic_load_explicit(&h->dir[o], memory_order_relaxed))
			n += PAGE_BYTES;
	return n;
}

/* Relaxed load + store: the caller is the only writer of p. */
static inline void add_owned(_Atomic uint64_t *p, uint64_t v, memory_order mo)
{
	atomic_store_explicit(
	    p, atomic_load_explicit(p, memory_order_relaxed) + v, mo);
}

vt_err vt__hist_fold(vt__hist *dst, const vt__hist *src, size_t nbounds,
		     vt__arena *a)
{
	const memory_order rl = memory_order_relaxed;
	double s = atomic_load_explicit(&src->sum, rl);
	atomic_store_explicit(&dst->sum,
			      atomic_load_explicit(&dst->sum, rl) + s, rl);
	double mn = atomic_load_explicit(&src->min, rl);
	if (mn < atomic_load_explicit(&dst->min, rl))
		atomic_store_explicit(&dst->min, mn, rl);
	double mx = atomic_load_explicit(&src->max, rl);
	if (mx > atomic_load_explicit(&dst->max, rl))
		atomic_store_explicit(&dst->max, mx, rl);
	for (int i = 0; i < 4; i++)
		add_owned(&dst->spec[i],
			  atomic_load_explicit(&src->spec[i], rl), rl);
	for (size_t j = 0; j < nbounds; j++)
		add_owned(&dst->below[j],
			  atomic_load_explicit(&src->below[j], rl), rl);
	uint64_t used[2] = {atomic_load_explicit(&src->used[0], rl),
			    atomic_load_explicit(&src->used[1], rl)};
	if (used[VT__USED_SPEC / 64] >> (VT__USED_SPEC % 64) & 1)
		vt__hist_mark(dst, VT__USED_SPEC);
	for (unsigned o = 0; o < VT__NOCT; o++) {
		if (!(used[o / 64] >> (o % 64) & 1))
			continue;
		_Atomic uint64_t *sp = atomic_load_explicit(&src->dir[o], rl);
		_Atomic uint64_t *dp = atomic_load_explicit(&dst->dir[o], rl);
		if (dp == NULL) {
			dp = vt__arena_alloc(a, PAGE_BYTES, 64);
			if (dp == NULL)
				return VT_ENOMEM;
			atomic_store_explicit(&dst->dir[o], dp,
					      memory_order_release);
			vt__hist_mark(dst, o);
		}
		for (int k = 0; k < VT__SUB; k++)
			add_owned(&dp[k], atomic_load_explicit(&sp[k], rl), rl);
	}
	return VT_OK;
}

void vt__hist_le_init(const double *bounds, size_t nbounds,
		      uint32_t *bound_bucket, uint64_t *straddle,
		      uint32_t *octave_bounds)
{
	memset(straddle, 0, VT__BITMAP_WORDS * sizeof *straddle);
	memset(octave_bounds, 0, VT__NOCT * sizeof *octave_bounds);
	for (size_t j = 0; j < nbounds; j++) {
		uint32_t b = vt__hist_bucket(bounds[j]);
		bound_bucket[j] = b;
		straddle[b >> 6] |= UINT64_C(1) << (b & 63);
		if (b >= VT__B_LOG0 && b < VT__B_OVER) {
			uint32_t li = b - VT__B_LOG0;
			octave_bounds[li / VT__SUB] |= UINT32_C(1)
						       << (li % VT__SUB);
		}
	}
}

/*
 * Recording.
 */

/* sum, min, max, then the bucket (release): see the top of the file. */
static inline void record(vt__hist *h, _Atomic uint64_t *bucket, double v)
{
	const memory_order rl = memory_order_relaxed;
	atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, rl) + v,
			      rl);
	if (v < atomic_load_explicit(&h->min, rl))
		atomic_store_explicit(&h->min, v, rl);
	if (v > atomic_load_explicit(&h->max, rl))
		atomic_store_explicit(&h->max, v, rl);
	add_owned(bucket, 1, memory_order_release);
}

/* v fell into bucket b, which holds le bounds: counts v in below[j] for
 * every bound j in b with v <= b_j, descending j. */
static vt_err __attribute__((noinline))
count_below(vt__hist *h, const vt_family *f, uint32_t b, double v)
{
	const uint32_t *bb = f->bound_bucket;
	size_t lo = 0, hi = f->nbounds; /* first j with bb[j] > b */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bb[mid] <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t j = lo; j-- > 0 && bb[j] == b;) {
		if (!(v <= f->bounds[j]))
			break;
		add_owned(&h->below[j], 1, memory_order_release);
	}
	return VT_OK;
}

static int bit_set(const uint64_t *bitmap, uint32_t b)
{
	return (int)(bitmap[b >> 6] >> (b & 63) & 1);
}

/* Everything but the common case: NaN, special buckets, the first value
 * of this thread, series or octave. */
static vt_err __attribute__((noinline)) observe_slow(vt_histogram *hg, double v)
{
	if (isnan(v))
		return VT_EINVAL;
	vt__slot *sl = vt__slot_get(hg);
	if (sl == NULL)
		return VT_ENOMEM;
	vt__hist *h = atomic_load_explicit(&sl->h, memory_order_relaxed);
	if (h == NULL && (h = vt__hist_slot_alloc(hg, sl)) == NULL)
		return VT_ENOMEM;
	uint32_t b = vt__hist_bucket(v);
	_Atomic uint64_t *bucket;
	if (b < VT__B_LOG0 || b == VT__B_OVER) {
		vt__hist_mark(h, VT__USED_SPEC);
		bucket = &h->spec[b == VT__B_OVER ? 3 : b];
	} else {
		uint32_t li = b - VT__B_LOG0;
		_Atomic uint64_t *pg = atomic_load_explicit(
		    &h->dir[li / VT__SUB], memory_order_relaxed);
		if (pg == NULL &&
		    (pg = vt__hist_page_alloc(h, li / VT__SUB)) == NULL)
			return VT_ENOMEM;
		bucket = &pg[li % VT__SUB];
	}
	record(h, bucket, v);
	if (bit_set(hg->fam->straddle, b))
		return count_below(h, hg->fam, b, v);
	return VT_OK;
}

vt_err vt_histogram_observe(vt_histogram *hg, double v)
{
	if (VT__UNLIKELY(hg == NULL || hg->kind != VT_HISTOGRAM))
		return VT_EINVAL;
	/* vt__hist_log_index, with octave and sub-bucket kept apart. */
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	u -= 1;
	uint64_t oct = (u >> 52) - (uint64_t)(1023 + VT__OCT_MIN);
	if (VT__UNLIKELY(oct >= VT__NOCT || !vt__slot_hit(hg)))
		return observe_slow(hg, v);
	vt__hist *h =
	    atomic_load_explicit(&vt__slot_cached(hg)->h, memory_order_relaxed);
	if (VT__UNLIKELY(h == NULL))
		return observe_slow(hg, v);
	_Atomic uint64_t *pg =
	    atomic_load_explicit(&h->dir[oct], memory_order_relaxed);
	if (VT__UNLIKELY(pg == NULL))
		return observe_slow(hg, v);
	uint64_t m = u << 12;
	uint32_t sub = vt__hist_tab.sub8[m >> 56];
	sub += m >= vt__hist_tab.thr[sub + 1];
	record(h, &pg[sub], v);
	const vt_family *f = hg->fam;
	if (VT__UNLIKELY(f->octave_bounds[oct] >> sub & 1))
		return count_below(
		    h, f, (uint32_t)(VT__B_LOG0 + oct * VT__SUB + sub), v);
	return VT_OK;
}

/*
 * Merging.
 */

void vt__hmerge_reset(vt__hmerge *m, size_t nbounds)
{
	for (int i = 0; i < VT__B_LOG0; i++)
		m->cnt[i] = 0;
	m->cnt[VT__B_OVER] = 0;
	for (int o = 0; o < VT__NOCT; o++) {
		if (m->touched[o / 64] >> (o % 64) & 1)
			memset(&m->cnt[VT__B_LOG0 + o * VT__SUB], 0,
			       PAGE_BYTES);
	}
	memset(m->touched, 0, sizeof m->touched);
	memset(m->below, 0, nbounds * sizeof m->below[0]);
	m->sum = 0;
	m->min = INFINITY;
	m->max = -INFINITY;
}

void vt__hmerge_add(vt__hmerge *m, const vt__hist *h, size_t nbounds)
{
	const memory_order acq = memory_order_acquire;
	for (size_t j = 0; j < nbounds; j++)
		m->below[j] += atomic_load_explicit(&h->below[j], acq);
	uint64_t used[2] = {atomic_load_explicit(&h->used[0], acq),
			    atomic_load_explicit(&h->used[1], acq)};
	for (int w = 0; w < 2; w++) {
		uint64_t bits = used[w];
		if (w == VT__USED_SPEC / 64)
			bits &= (UINT64_C(1) << (VT__USED_SPEC % 64)) - 1;
		m->touched[w] |= bits;
		while (bits != 0) {
			unsigned o =
			    (unsigned)w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			_Atomic uint64_t *pg =
			    atomic_load_explicit(&h->dir[o], acq);
			uint64_t *c = &m->cnt[VT__B_LOG0 + o * VT__SUB];
			for (int k = 0; k < VT__SUB; k++)
				c[k] += atomic_load_explicit(&pg[k], acq);
		}
	}
	if (used[VT__USED_SPEC / 64] >> (VT__USED_SPEC % 64) & 1) {
		for (int i = 0; i < VT__B_LOG0; i++)
			m->cnt[i] += atomic_load_explicit(&h->spec[i], acq);
		m->cnt[VT__B_OVER] += atomic_load_explicit(&h->spec[3], acq);
	}
	m->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
	double mn = atomic_load_explicit(&h->min, memory_order_relaxed);
	double mx = atomic_load_explicit(&h->max, memory_order_relaxed);
	if (mn < m->min)
		m->min = mn;
	if (mx > m->max)
		m->max = mx;
}

vt_err vt__hmerge_finish(vt__hmerge *m, const double *bounds,
			 const uint32_t *bound_bucket, size_t nbounds,
			 vt__arena *a, vt_hist_summary *sum,
			 const struct vt__hsnap **out)
{
	size_t cap = VT__B_LOG0 + 1, n = 0;
	for (int o = 0; o < VT__NOCT; o++)
		if (m->touched[o / 64] >> (o % 64) & 1)
			cap += VT__SUB;
	struct vt__hsnap *hs = vt__arena_alloc(a, sizeof *hs, 8);
	uint32_t *idx = vt__arena_alloc(a, cap * sizeof *idx, 4);
	uint64_t *cnt = vt__arena_alloc(a, cap * sizeof *cnt, 8);
	uint64_t *cum = vt__arena_alloc(a, (nbounds + 1) * sizeof *cum, 8);
	if (hs == NULL || idx == NULL || cnt == NULL || cum == NULL) {
		vt__hmerge_reset(m, nbounds);
		return VT_ENOMEM;
	}
	uint64_t count = 0;
	for (uint32_t b = 0; b < VT__NBUCKETS; b++) {
		if (b == VT__B_LOG0) {
			/* Skip untouched octaves a page at a time. */
			for (; b < VT__B_OVER; b += VT__SUB) {
				uint32_t o = (b - VT__B_LOG0) / VT__SUB;
				if (!(m->touched[o / 64] >> (o % 64) & 1))
					continue;
				for (uint32_t k = 0; k < VT__SUB; k++) {
					if (m->cnt[b + k] == 0)
						continue;
					idx[n] = b + k;
					cnt[n++] = m->cnt[b + k];
					count += m->cnt[b + k];
				}
			}
		}
		if (m->cnt[b] == 0)
			continue;
		idx[n] = b;
		cnt[n++] = m->cnt[b];
		count += m->cnt[b];
	}
	/* le: buckets below L_j plus below[j]; bound_bucket ascends. */
	uint64_t acc = 0;
	size_t p = 0;
	for (size_t j = 0; j < nbounds; j++) {
		while (p < n && idx[p] < bound_bucket[j])
			acc += cnt[p++];
		cum[j] = acc + m->below[j];
	}
	cum[nbounds] = count;

	hs->count = count;
	hs->min = count ? m->min : NAN;
	hs->max = count ? m->max : NAN;
	hs->n = n;
	hs->idx = idx;
	hs->cnt = cnt;

	sum->count = count;
	sum->sum = m->sum;
	sum->min = hs->min;
	sum->max = hs->max;
	sum->p50 = vt__hsnap_quantile(hs, 0.5);
	sum->p90 = vt__hsnap_quantile(hs, 0.9);
	sum->p95 = vt__hsnap_quantile(hs, 0.95);
	sum->p99 = vt__hsnap_quantile(hs, 0.99);
	sum->p999 = vt__hsnap_quantile(hs, 0.999);
	sum->nbounds = nbounds;
	sum->le_bounds = bounds;
	sum->le_cumulative = cum;
	*out = hs;
	vt__hmerge_reset(m, nbounds);
	return VT_OK;
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
		v = ldexp(1, VT__OCT_MIN);
	} else if (b == VT__B_OVER) {
		v = max;
	} else {
		vt__hist_bucket_bounds(b, &lo, &hi);
		v = 2 * lo * hi / (lo + hi);
	}
	return v < min ? min : v > max ? max : v;
}

double vt__hsnap_quantile(const struct vt__hsnap *h, double q)
{
	if (h == NULL || h->count == 0 || !(q >= 0 && q <= 1))
		return NAN;
	double kd = ceil(q * (double)h->count);
	uint64_t k = kd < 1		      ? 1
		     : kd >= (double)h->count ? h->count
					      : (uint64_t)kd;
	if (k == 1)
		return h->min;
	if (k == h->count)
		return h->max;
	uint64_t acc = 0;
	for (size_t i = 0; i < h->n; i++) {
		acc += h->cnt[i];
		if (acc >= k)
			return bucket_value(h->idx[i], h->min, h->max);
	}
	return h->max;
}
