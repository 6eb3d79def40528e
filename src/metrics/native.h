/*
 * native.h - a snapshot's histogram series as Prometheus native-histogram
 * buckets, for the protobuf exposition. Internal; its shape is kept
 * stable for the encoders.
 *
 * Contract. Histograms record in log buckets with the bounds of
 * Prometheus' native-histogram schema 5 (VT__NATIVE_SCHEMA): 32 buckets
 * per power of two, upper bound included. vt__series_native returns, for
 * a histogram series of a snapshot taken in this process, its non-empty
 * log buckets in ascending order as global bucket indices (VT__B_LOG0 <=
 * bucket[i] < VT__B_OVER) with their counts, without copying (they live
 * as long as the snapshot). vt__native_index turns a global index into
 * the schema-5 bucket index i of Prometheus, whose bucket is
 * (2^((i-1)/32), 2^(i/32)]: i = global - VT__B_LOG0 - 1535, so 1.0 is
 * in bucket 0, 2.0 in bucket 32, and the log buckets span i in
 * [-1535, 1536], i.e. values in (2^-48, 2^48]. Indices ascend with the
 * global ones, so spans and deltas can be computed in one pass.
 *
 * Four clamp buckets have no schema-5 index and are given apart:
 *   zero_count  v == 0 and 0 < v <= 2^-48 (zero_threshold): Prometheus'
 *               zero bucket [-zero_threshold, zero_threshold], except
 *               that no negative value is ever counted in it;
 *   neg_count   v < 0, all in one bucket without bounds (negative values
 *               are not resolved; the summary's min is the lowest);
 *   over_count  v > 2^48 and +Inf, one bucket without an upper bound.
 * zero_count + neg_count + over_count + the sum of count[] equals the
 * series' hist.count.
 */
#ifndef VT_METRICS_NATIVE_H
#define VT_METRICS_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/histogram.h"
#include "vitals/metrics.h"

#define VT__NATIVE_SCHEMA	  5
#define VT__NATIVE_ZERO_THRESHOLD 0x1p-48

_Static_assert(VT__SUB == 1 << VT__NATIVE_SCHEMA, "schema 5: 32 per octave");

typedef struct vt__native {
	int32_t schema;		/* VT__NATIVE_SCHEMA */
	double zero_threshold;	/* VT__NATIVE_ZERO_THRESHOLD */
	uint64_t zero_count;	/* v == 0 or 0 < v <= zero_threshold */
	uint64_t neg_count;	/* v < 0 (clamp, no bounds) */
	uint64_t over_count;	/* v > 2^48 (clamp, no upper bound) */
	size_t n;		/* non-empty log buckets */
	const uint32_t *bucket; /* [n] global bucket index, ascending */
	const uint64_t *count;	/* [n] */
} vt__native;

/* The schema-5 bucket index of log bucket global (VT__B_LOG0 <= global <
 * VT__B_OVER). */
static inline int32_t vt__native_index(uint32_t global)
{
	return (int32_t)(global - VT__B_LOG0) + VT__OCT_MIN * VT__SUB + 1;
}

/* Fills out for histogram series s of a snapshot; false (out untouched)
 * when s carries no buckets: not a histogram, or a snapshot decoded from
 * the RPC, which carries summaries only. */
bool vt__series_native(const vt_series_snap *s, vt__native *out);

#endif
