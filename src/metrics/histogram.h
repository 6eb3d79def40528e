/*
 * histogram.h - log-bucket histograms: the bucket layout and one
 * thread's counts for one series (vt__hist and its pages, vt__page), with
 * the operations on them that every stage shares: the owner's stores
 * (inline here, for the hot path in record.c), folding one vt__hist into
 * another (fold.c), and reading a page consistently with the owner's
 * carries (merge.c). It knows nothing of shards, registries or
 * snapshots. histogram.c explains it.
 */
#ifndef VT_METRICS_HISTOGRAM_H
#define VT_METRICS_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "metrics/arena.h"
#include "vitals/metrics.h"

/* Log buckets cover (2^VT__OCT_MIN, 2^(VT__OCT_MIN + VT__NOCT)]: octave o
 * is (2^(o+OCT_MIN), 2^(o+OCT_MIN+1)], split into VT__SUB buckets. */
#define VT__OCT_MIN (-48)
#define VT__NOCT    96
#define VT__SUB	    32
#define VT__NLOG    (VT__NOCT * VT__SUB)

/* Global bucket order (ascending values): v < 0, v == 0,
 * 0 < v <= 2^-48, the log buckets, v > 2^48 (and +Inf). */
#define VT__B_NEG	 0
#define VT__B_ZERO	 1
#define VT__B_UNDER	 2
#define VT__B_LOG0	 3
#define VT__B_OVER	 (VT__B_LOG0 + VT__NLOG)
#define VT__NBUCKETS	 (VT__B_OVER + 1)
#define VT__BITMAP_WORDS ((VT__NBUCKETS + 63) / 64)

/* On a hot-path entry point: its fast path starts a cache line, so it
 * never straddles two (a cycle per call where it did, whatever the link
 * order put before it). */
#define VT__HOT __attribute__((aligned(64)))

#define VT__LIKELY(x)	__builtin_expect(!!(x), 1)
#define VT__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The bucket index tables (histogram.c), in one object so the hot path
 * needs one base register. */
typedef struct vt__hist_tables {
	uint64_t thr[33];  /* sub-bucket thresholds */
	uint8_t sub8[256]; /* sub-bucket by the top 8 mantissa bits */
} vt__hist_tables;

extern const vt__hist_tables vt__hist_tab __attribute__((visibility("hidden")));

/*
 * The counts of one octave's VT__SUB buckets, 256 bytes. Each count is
 * split: count = lo + (mid << 16) + (top << 32). The hot path and most
 * merges touch only lo, the page's first cache line; mid and top change
 * only when a lo wraps (a carry, histogram.c), which marks the page
 * "wide" so merges read them.
 */
typedef struct vt__page {
	_Atomic uint16_t lo[VT__SUB];
	_Atomic uint16_t mid[VT__SUB];
	_Atomic uint32_t top[VT__SUB];
} vt__page;

/*
 * One thread's counts for one histogram series (or a registry's folded
 * totals of exited threads). In a shard: owner-written with relaxed
 * load + store, read by mergers; pages are published with a release
 * store. In the folded totals: protected by the registry's shard mutex.
 * The first cache line holds what every merge reads first.
 */
typedef struct vt__hist {
	/* Bit o: dir[o] is set; bit VT__USED_SPEC: a special bucket is in
	 * use. Set (release) after what it announces, so mergers touch only
	 * the pages that exist. */
	_Atomic uint64_t used[2];
	_Atomic uint64_t wide[2];   /* bit o: page o has had a carry */
	_Atomic uint64_t carry_seq; /* odd while the owner carries */
	/* Relaxed atomics, which GCC moves through a general register:
	 * on the AMD EPYC of bench/RESULTS.md a cycle per observation
	 * faster than volatile SSE loads and stores of a plain double. */
	_Atomic double sum;
	_Atomic double min, max; /* +Inf / -Inf while empty */
	/* Observations recorded, stored (release) after each one's every
	 * other store: a merge that finds a series' sum of these unchanged
	 * reuses its last result (merge.c). Starts the second cache line,
	 * which a merge's change check reads alone. */
	_Atomic uint64_t n;
	_Atomic uint64_t spec[4]; /* NEG, ZERO, UNDER, OVER buckets */
	_Atomic uint64_t carry;	  /* the carry under way: histogram.c */
	_Atomic(vt__page *) dir[VT__NOCT];
	_Atomic uint64_t below[]; /* [nbounds]: see histogram.c */
} vt__hist;

#define VT__USED_SPEC VT__NOCT

/* Sets bit b of h->used. Owner of h only. */
static inline void vt__hist_mark(vt__hist *h, unsigned b)
{
	_Atomic uint64_t *w = &h->used[b / 64];
	uint64_t bit = UINT64_C(1) << (b % 64);
	uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
	if (!(old & bit))
		atomic_store_explicit(w, old | bit, memory_order_release);
}

/* Index among the log buckets (octave * 32 + sub-bucket) of v, exact, or
 * a value >= VT__NLOG when v is not in (2^-48, 2^48] (also for zero,
 * negatives, infinities and NaN). No log(), no division. */
static inline uint32_t vt__hist_log_index(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	u -= 1; /* buckets are (lo, hi]: 2^e belongs to the octave below */
	uint32_t oct = (uint32_t)(u >> 52) - (uint32_t)(1023 + VT__OCT_MIN);
	if (oct >= VT__NOCT)
		return UINT32_MAX;
	uint64_t m = u << 12;
	uint32_t sub = vt__hist_tab.sub8[m >> 56];
	sub += m >= vt__hist_tab.thr[sub + 1];
	return oct * VT__SUB + sub;
}

/* 2^(k/32), k = 0..32, correctly rounded. */
extern const double vt__hist_pow32[VT__SUB + 1]
    __attribute__((visibility("hidden")));

/* Global bucket (VT__B_*) of v; v must not be NaN. */
uint32_t vt__hist_bucket(double v);

/* Lower and upper bound of global bucket b (lower exclusive). */
void vt__hist_bucket_bounds(uint32_t b, double *lo, double *hi);

/* Bytes of a vt__hist with nbounds le counters, as allocated. */
size_t vt__hist_size(size_t nbounds);

/* A new empty vt__hist from arena a; NULL when out of memory. */
vt__hist *vt__hist_new(vt__arena *a, size_t nbounds);

/* Adds src into dst, allocating dst's pages from a. Both must be
 * quiescent (src's owner has exited, dst under the shard mutex).
 * VT_ENOMEM leaves dst partly added. */
vt_err vt__hist_fold(vt__hist *dst, const vt__hist *src, size_t nbounds,
		     vt__arena *a);

/* Bytes h holds: the vt__hist and its pages. Owner thread only. */
size_t vt__hist_bytes(const vt__hist *h, size_t nbounds);

/* le bound b_j is counted exactly as: all buckets below bucket(b_j) plus
 * below[j], the observations v <= b_j inside bucket(b_j). Computes each
 * bound's bucket, the bitmap of buckets holding a bound (straddle,
 * VT__BITMAP_WORDS), the same per octave (octave_bounds, VT__NOCT masks
 * of 32 sub-buckets) and the first bound in each octave that holds one
 * (octave_first, VT__NOCT). */
void vt__hist_le_init(const double *bounds, size_t nbounds,
		      uint32_t *bound_bucket, uint64_t *straddle,
		      uint32_t *octave_bounds, uint8_t *octave_first);

/* Prefetches the memory vt__hmerge_add will read of h, in three steps a
 * few histograms apart: 0 its first line and le counters, 1 the
 * directory entries of its pages (needs step 0 in cache), 2 its pages
 * (needs step 1 in cache). */
void vt__hist_prefetch(const vt__hist *h, int step, size_t nbounds);

/* Adds page o of h into c[0..VT__SUB), consistently with the owner's
 * carries (histogram.c): every count read is one the bucket really held.
 * The owner may be writing h meanwhile. */
void vt__hist_page_read(uint64_t *c, const vt__hist *h, unsigned o);

/* Adds one to bucket k of page o of h, carrying into the high part when
 * the low part would wrap. Owner of h only. */
void vt__hist_page_inc(vt__hist *h, unsigned o, unsigned k);

/* sum, min and max of h for an observation v: stored before the bucket
 * (histogram.c). Owner of h only; relaxed load + store, no RMW. */
static inline void vt__hist_record_meta(vt__hist *h, double v)
{
	const memory_order rl = memory_order_relaxed;
	atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, rl) + v,
			      rl);
	if (v < atomic_load_explicit(&h->min, rl))
		atomic_store_explicit(&h->min, v, rl);
	if (v > atomic_load_explicit(&h->max, rl))
		atomic_store_explicit(&h->max, v, rl);
}

/* Relaxed load + store with order mo: the caller is the only writer of
 * p (no atomic read-modify-write). */
static inline void vt__add_owned(_Atomic uint64_t *p, uint64_t v,
				 memory_order mo)
{
	atomic_store_explicit(
	    p, atomic_load_explicit(p, memory_order_relaxed) + v, mo);
}

#endif
