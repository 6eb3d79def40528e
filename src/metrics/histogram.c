/*
 * histogram.c - log-bucket histograms with exact Prometheus "le" counts.
 *
 * Buckets. Positive values in (2^-48, 2^48] fall into log buckets with
 * the bounds of Prometheus' native-histogram schema 5: 32 per power of
 * two ("octave"), bucket k of octave e is (2^(e+k/32), 2^(e+(k+1)/32)],
 * upper bound included as in Prometheus. The index is computed exactly
 * without log(): the double's exponent gives the octave; the top 8 bits
 * of the mantissa index a 256-entry table (vt__hist_tab.sub8) giving the
 * sub-bucket at the start of that mantissa range; one compare with the
 * 33-entry threshold table (vt__hist_tab.thr) fixes it up, since no range of
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
 * use (so a merge reads only those), sum, min, max, the count of
 * observations (n, which tells a merge whether anything changed:
 * merge.c), the four special buckets, a directory of 96 page pointers
 * (one per octave) and the le counters; pages (vt__page, 256 bytes) come
 * lazily from the shard's bump arena. Latencies from 1 us to 100 s touch
 * 27 octaves: 27 * 256 + 1,024 = 7,936 bytes (+16 for the shard slot)
 * with the 11 default bounds (n took the vt__hist from 960 to 1,024
 * bytes, its size rounded to cache lines). The count reported is the sum
 * of the buckets, so a snapshot's count always equals the sum of its
 * buckets.
 *
 * Pages. A page keeps each count as a 16-bit low part in its first cache
 * line and a 48-bit high part in the other three, so the hot path and a
 * merge of a page without carries touch one line instead of four. When a
 * low part would wrap, the owner carries (observe_slow): it records the
 * bucket and its count before the carry in h->carry, makes carry_seq odd,
 * adds one to the high part, zeroes the low part, marks the page wide and
 * makes carry_seq even. A merge reads each page between two loads of
 * carry_seq and reads it again if they differ; if carry_seq is odd it
 * takes the bucket under carry from h->carry. So a merge never waits for
 * a writer, and every count it reads is one the bucket really held. The
 * page stays 256 bytes: the memory bound is unchanged, only what is read.
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

_Static_assert(sizeof(vt__page) == 256, "a page is 256 bytes");
_Static_assert(offsetof(vt__hist, n) == 64,
	       "what a merge reads first fills one cache line");

#define PAGE_BYTES sizeof(vt__page)

/* clang-format off */
const double vt__hist_pow32[VT__SUB + 1] = {
    0x1p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0,
    0x1.11301d0125b51p+0, 0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0,
    0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0, 0x1.306fe0a31b715p+0,
    0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0,
    0x1.6247eb03a5585p+0, 0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0,
    0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0, 0x1.8ace5422aa0dbp+0,
    0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f09p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0,
    0x1.cb720dcef9069p+0, 0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0,
    0x1.ea4afa2a490dap+0, 0x1.f50765b6e454p+0, 0x1p+1
};
/* clang-format on */

uint32_t vt__hist_bucket(double v)
{
	uint32_t li = vt__hist_log_index(v);
	if (li < VT__NLOG)
		return VT__B_LOG0 + li;
	if (v < 0)
		return VT__B_NEG;
	if (v == 0)
		return VT__B_ZERO;
	if (v <= 0x1p-48)
		return VT__B_UNDER;
	return VT__B_OVER;
}

/* 2^e for |e| < 1023, exactly. */
static double pow2(int e)
{
	uint64_t u = (uint64_t)(e + 1023) << 52;
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

void vt__hist_bucket_bounds(uint32_t b, double *lo, double *hi)
{
	if (b == VT__B_NEG) {
		*lo = -INFINITY, *hi = 0;
	} else if (b == VT__B_ZERO) {
		*lo = 0, *hi = 0;
	} else if (b == VT__B_UNDER) {
		*lo = 0, *hi = 0x1p-48;
	} else if (b >= VT__B_OVER) {
		*lo = 0x1p48, *hi = INFINITY;
	} else {
		uint32_t li = b - VT__B_LOG0;
		double scale = pow2((int)(li / VT__SUB) + VT__OCT_MIN);
		unsigned k = li % VT__SUB;
		*lo = vt__hist_pow32[k] * scale;
		*hi = vt__hist_pow32[k + 1] * scale;
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

/* The high part (count >> 16) of bucket k of pg. Acquire loads: see
 * page_merge. */
static uint64_t page_high(const vt__page *pg, unsigned k)
{
	const memory_order acq = memory_order_acquire;
	return atomic_load_explicit(&pg->mid[k], acq) |
	       (uint64_t)atomic_load_explicit(&pg->top[k], acq) << 16;
}

/* Release stores: see page_inc. */
static void page_set_high(vt__page *pg, unsigned k, uint64_t hi)
{
	const memory_order rel = memory_order_release;
	atomic_store_explicit(&pg->mid[k], (uint16_t)hi, rel);
	atomic_store_explicit(&pg->top[k], (uint32_t)(hi >> 16), rel);
}

/* Sets bit b of the bitmap w (two words). Owner of w only. */
static void bit_mark(_Atomic uint64_t *w, unsigned b)
{
	_Atomic uint64_t *p = &w[b / 64];
	uint64_t bit = UINT64_C(1) << (b % 64);
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	if (!(old & bit))
		atomic_store_explicit(p, old | bit, memory_order_release);
}

static int bit_get(const _Atomic uint64_t *w, unsigned b, memory_order mo)
{
	return (int)(atomic_load_explicit(&w[b / 64], mo) >> (b % 64) & 1);
}

/* Adds v to bucket k of page o of h, which no merge reads meanwhile. */
static void page_add_quiet(vt__hist *h, unsigned o, unsigned k, uint64_t v)
{
	vt__page *pg = atomic_load_explicit(&h->dir[o], memory_order_relaxed);
	uint64_t lo = atomic_load_explicit(&pg->lo[k], memory_order_relaxed);
	uint64_t c = lo + (page_high(pg, k) << 16) + v;
	atomic_store_explicit(&pg->lo[k], (uint16_t)c, memory_order_relaxed);
	if (c >> 16 != 0) {
		page_set_high(pg, k, c >> 16);
		bit_mark(h->wide, o);
	}
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
	vt__add_owned(&dst->n, atomic_load_explicit(&src->n, rl), rl);
	for (int i = 0; i < 4; i++)
		vt__add_owned(&dst->spec[i],
			      atomic_load_explicit(&src->spec[i], rl), rl);
	for (size_t j = 0; j < nbounds; j++)
		vt__add_owned(&dst->below[j],
			      atomic_load_explicit(&src->below[j], rl), rl);
	if (bit_get(src->used, VT__USED_SPEC, rl))
		bit_mark(dst->used, VT__USED_SPEC);
	for (unsigned o = 0; o < VT__NOCT; o++) {
		if (!bit_get(src->used, o, rl))
			continue;
		const vt__page *sp = atomic_load_explicit(&src->dir[o], rl);
		if (atomic_load_explicit(&dst->dir[o], rl) == NULL) {
			vt__page *dp = vt__arena_alloc(a, PAGE_BYTES, 64);
			if (dp == NULL)
				return VT_ENOMEM;
			atomic_store_explicit(&dst->dir[o], dp,
					      memory_order_release);
			bit_mark(dst->used, o);
		}
		int wide = bit_get(src->wide, o, rl);
		for (unsigned k = 0; k < VT__SUB; k++) {
			uint64_t c = atomic_load_explicit(&sp->lo[k], rl);
			if (wide)
				c += page_high(sp, k) << 16;
			if (c != 0)
				page_add_quiet(dst, o, k, c);
		}
	}
	return VT_OK;
}

void vt__hist_le_init(const double *bounds, size_t nbounds,
		      uint32_t *bound_bucket, uint64_t *straddle,
		      uint32_t *octave_bounds, uint8_t *octave_first)
{
	memset(straddle, 0, VT__BITMAP_WORDS * sizeof *straddle);
	memset(octave_bounds, 0, VT__NOCT * sizeof *octave_bounds);
	memset(octave_first, 0, VT__NOCT * sizeof *octave_first);
	for (size_t j = 0; j < nbounds; j++) {
		uint32_t b = vt__hist_bucket(bounds[j]);
		bound_bucket[j] = b;
		straddle[b >> 6] |= UINT64_C(1) << (b & 63);
		if (b >= VT__B_LOG0 && b < VT__B_OVER) {
			uint32_t li = b - VT__B_LOG0;
			if (octave_bounds[li / VT__SUB] == 0)
				octave_first[li / VT__SUB] = (uint8_t)j;
			octave_bounds[li / VT__SUB] |= UINT32_C(1)
						       << (li % VT__SUB);
		}
	}
}

/*
 * Recording (the owner's side; record.c has the hot path).
 */

void vt__hist_page_inc(vt__hist *h, unsigned o, unsigned k)
{
	const memory_order rl = memory_order_relaxed;
	vt__page *pg = atomic_load_explicit(&h->dir[o], rl);
	uint16_t lo = atomic_load_explicit(&pg->lo[k], rl);
	if (VT__LIKELY(lo != UINT16_MAX)) {
		atomic_store_explicit(&pg->lo[k], (uint16_t)(lo + 1),
				      memory_order_release);
		return;
	}
	uint64_t hi = page_high(pg, k);
	uint64_t seq = atomic_load_explicit(&h->carry_seq, rl);
	atomic_store_explicit(&h->carry, hi << 16 | o << 5 | k, rl);
	/* A reader that sees seq odd sees h->carry. The stores below are
	 * releases, so a reader that sees one of them (acquire) sees the
	 * odd seq too when it loads seq again. */
	atomic_store_explicit(&h->carry_seq, seq + 1, memory_order_release);
	page_set_high(pg, k, hi + 1);
	bit_mark(h->wide, o);
	atomic_store_explicit(&pg->lo[k], 0, memory_order_release);
	atomic_store_explicit(&h->carry_seq, seq + 2, memory_order_release);
}

/*
 * Reading, for merges.
 */

void vt__hist_prefetch(const vt__hist *h, int step, size_t nbounds)
{
	const memory_order rl = memory_order_relaxed;
	if (step == 0) {
		__builtin_prefetch(h);
		for (size_t j = 0; j < nbounds; j += 8)
			__builtin_prefetch(&h->below[j]);
		return;
	}
	for (int w = 0; w < 2; w++) {
		uint64_t bits = atomic_load_explicit(&h->used[w], rl);
		if (w == VT__USED_SPEC / 64)
			bits &= (UINT64_C(1) << (VT__USED_SPEC % 64)) - 1;
		uint64_t wide = atomic_load_explicit(&h->wide[w], rl);
		const char *last = NULL;
		while (bits != 0) {
			unsigned o =
			    (unsigned)w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (step == 1) {
				/* One prefetch per line of directory. */
				const char *d =
				    (const char *)((uintptr_t)&h->dir[o] &
						   ~(uintptr_t)63);
				if (d != last)
					__builtin_prefetch(d);
				last = d;
				continue;
			}
			const char *pg =
			    (const char *)atomic_load_explicit(&h->dir[o], rl);
			if (pg == NULL)
				continue;
			__builtin_prefetch(pg);
			if (wide >> (o % 64) & 1)
				for (int k = 64; k < (int)PAGE_BYTES; k += 64)
					__builtin_prefetch(pg + k);
		}
	}
	if (step == 2 && bit_get(h->used, VT__USED_SPEC, rl))
		__builtin_prefetch(h->spec);
}

void vt__hist_page_read(uint64_t *c, const vt__hist *h, unsigned o)
{
	const memory_order rl = memory_order_relaxed;
	const vt__page *pg =
	    atomic_load_explicit(&h->dir[o], memory_order_acquire);
	uint64_t t[VT__SUB];
	/* Acquire loads throughout (plain loads on x86): the second load
	 * of carry_seq comes after every count, and sees a carry whose
	 * store it read (see page_inc). */
	const memory_order acq = memory_order_acquire;
	for (;;) {
		uint64_t seq = atomic_load_explicit(&h->carry_seq, acq);
		for (unsigned k = 0; k < VT__SUB; k++)
			t[k] = atomic_load_explicit(&pg->lo[k], acq);
		if (bit_get(h->wide, o, acq))
			for (unsigned k = 0; k < VT__SUB; k++)
				t[k] += page_high(pg, k) << 16;
		/* Off the first line: read only while a carry is under way. */
		uint64_t carry =
		    seq & 1 ? atomic_load_explicit(&h->carry, rl) : UINT64_MAX;
		if (atomic_load_explicit(&h->carry_seq, acq) != seq)
			continue; /* a carry began or ended: read again */
		if ((carry >> 5 & 0x7f) == o)
			t[carry & 31] = (carry >> 16 << 16) | UINT16_MAX;
		break;
	}
	for (unsigned k = 0; k < VT__SUB; k++)
		c[k] += t[k];
}
