/*
 * record.c - the write side: the hot paths of counters, gauges and
 * histograms.
 *
 * A counter writes only to the calling thread's slot (shard.h): whole
 * increments to a uint64 and fractional adds to a double, each with a
 * relaxed load and store. No lock, no atomic read-modify-write; the
 * registry merges all shards on read.
 *
 * A gauge is one atomic double (its bits in a uint64, on its own cache
 * line): set is an atomic store, add/sub a compare-and-swap loop, all
 * sequentially consistent, so a gauge is linearizable (metrics.h says
 * why gauges are not sharded).
 *
 * A histogram observation writes only to the calling thread's vt__hist
 * of the series (histogram.c has the layout and the order of its stores:
 * sum, min and max, then the bucket, then the le counters), then counts
 * itself (vt__hist.n, release), which tells the merge whether the
 * series changed (merge.c). The fast path computes the
 * bucket from the double's bits with no log and no division, and leaves
 * to observe_slow NaN, the four clamp buckets, a thread's first value in
 * a series or octave, and a carry.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "metrics/histogram.h"
#include "metrics/registry.h"
#include "metrics/shard.h"

static void add_n(vt__slot *s, uint64_t n)
{
	atomic_store_explicit(
	    &s->c.n, atomic_load_explicit(&s->c.n, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static void add_f(vt__slot *s, double v)
{
	atomic_store_explicit(
	    &s->c.f, atomic_load_explicit(&s->c.f, memory_order_relaxed) + v,
	    memory_order_relaxed);
}

/* First write of this thread to c's registry or chunk. */
static vt_err __attribute__((noinline))
counter_slow(vt_counter *c, double v, int whole)
{
	vt__slot *s = vt__slot_slow(c);
	if (s == NULL)
		return VT_ENOMEM;
	if (whole)
		add_n(s, 1);
	else
		add_f(s, v);
	return VT_OK;
}

VT__HOT vt_err vt_counter_inc(vt_counter *c)
{
	if (VT__UNLIKELY(c == NULL || c->kind != VT_COUNTER))
		return VT_EINVAL;
	if (VT__UNLIKELY(!vt__slot_hit(c)))
		return counter_slow(c, 1, 1);
	add_n(vt__slot_cached(c), 1);
	return VT_OK;
}

VT__HOT vt_err vt_counter_add(vt_counter *c, double v)
{
	if (VT__UNLIKELY(c == NULL || c->kind != VT_COUNTER || !(v >= 0)))
		return VT_EINVAL;
	if (VT__UNLIKELY(!vt__slot_hit(c)))
		return counter_slow(c, v, 0);
	add_f(vt__slot_cached(c), v);
	return VT_OK;
}

static uint64_t to_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

static double from_bits(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

vt_err vt_gauge_set(vt_gauge *g, double v)
{
	if (g == NULL || g->kind != VT_GAUGE || isnan(v))
		return VT_EINVAL;
	atomic_store(&g->gauge, to_bits(v));
	return VT_OK;
}

vt_err vt_gauge_add(vt_gauge *g, double v)
{
	if (g == NULL || g->kind != VT_GAUGE || isnan(v))
		return VT_EINVAL;
	uint64_t old = atomic_load(&g->gauge);
	while (!atomic_compare_exchange_weak(&g->gauge, &old,
					     to_bits(from_bits(old) + v)))
		;
	return VT_OK;
}

vt_err vt_gauge_sub(vt_gauge *g, double v)
{
	if (isnan(v))
		return VT_EINVAL;
	return vt_gauge_add(g, -v);
}

/*
 * Histograms.
 */

/* Counts the observation just recorded in h: last, with release. */
static inline void count_obs(vt__hist *h)
{
	vt__add_owned(&h->n, 1, memory_order_release);
}

/* v fell into bucket b, which holds le bounds, the first of them bound
 * j0: counts v in below[j] for every bound j in b with v <= b_j,
 * descending j (histogram.c: le counts). */
static inline void count_below(vt__hist *h, const vt_family *f, uint32_t b,
			       size_t j0, double v)
{
	const uint32_t *bb = f->bound_bucket;
	size_t j = j0;
	while (j < f->nbounds && bb[j] < b)
		j++;
	size_t lo = j;
	while (j < f->nbounds && bb[j] == b)
		j++;
	while (j-- > lo) {
		if (!(v <= f->bounds[j]))
			break;
		vt__add_owned(&h->below[j], 1, memory_order_release);
	}
}

/* Everything but the common case: NaN, special buckets, the first value
 * of this thread, series or octave, a carry. */
static vt_err __attribute__((noinline)) observe_slow(vt_histogram *hg, double v)
{
	if (isnan(v))
		return VT_EINVAL;
	vt__slot *sl = vt__slot_get(hg);
	if (sl == NULL)
		return VT_ENOMEM;
	vt__hist *h = atomic_load_explicit(&sl->hs.h, memory_order_relaxed);
	if (h == NULL && (h = vt__hist_slot_alloc(hg, sl)) == NULL)
		return VT_ENOMEM;
	uint32_t b = vt__hist_bucket(v);
	uint32_t li = b - VT__B_LOG0;
	if (b < VT__B_LOG0 || b == VT__B_OVER) {
		vt__hist_mark(h, VT__USED_SPEC);
	} else if (atomic_load_explicit(&h->dir[li / VT__SUB],
					memory_order_relaxed) == NULL &&
		   vt__hist_page_alloc(h, li / VT__SUB) == NULL) {
		return VT_ENOMEM;
	}
	vt__hist_record_meta(h, v);
	if (b < VT__B_LOG0 || b == VT__B_OVER) {
		vt__add_owned(&h->spec[b == VT__B_OVER ? 3 : b], 1,
			      memory_order_release);
	} else {
		vt__hist_page_inc(h, li / VT__SUB, li % VT__SUB);
	}
	const vt_family *f = hg->fam;
	if (f->straddle[b >> 6] >> (b & 63) & 1)
		count_below(h, f, b, 0, v);
	count_obs(h);
	return VT_OK;
}

VT__HOT vt_err vt_histogram_observe(vt_histogram *hg, double v)
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
	vt__hist *h = atomic_load_explicit(&vt__slot_cached(hg)->hs.h,
					   memory_order_relaxed);
	if (VT__UNLIKELY(h == NULL))
		return observe_slow(hg, v);
	vt__page *pg = atomic_load_explicit(&h->dir[oct], memory_order_relaxed);
	if (VT__UNLIKELY(pg == NULL))
		return observe_slow(hg, v);
	uint64_t m = u << 12;
	uint32_t sub = vt__hist_tab.sub8[m >> 56];
	sub += m >= vt__hist_tab.thr[sub + 1];
	_Atomic uint16_t *lo = &pg->lo[sub];
	uint16_t c =
	    (uint16_t)(atomic_load_explicit(lo, memory_order_relaxed) + 1);
	if (VT__UNLIKELY(c == 0))
		return observe_slow(hg, v); /* a carry */
	vt__hist_record_meta(h, v);
	atomic_store_explicit(lo, c, memory_order_release);
	const vt_family *f = hg->fam;
	if (VT__UNLIKELY(f->octave_bounds[oct] >> sub & 1))
		count_below(h, f, (uint32_t)(VT__B_LOG0 + oct * VT__SUB + sub),
			    f->octave_first[oct], v);
	count_obs(h);
	return VT_OK;
}
