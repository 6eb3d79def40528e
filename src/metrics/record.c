/*
 * record.c - the hot path of counters and gauges (histograms record in
 * histogram.c).
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
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

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
