/*
 * finish.h - the finish stage of the read side (shards -> fold -> merge
 * -> finish): the dense merge buffer a histogram series is summed into
 * (vt__hmerge, filled by merge.c), what it becomes in a snapshot (the
 * opaque vt_hist_buckets of vitals/metrics.h and the summary), and each
 * series' last result (vt__hcache). finish.c explains them.
 */
#ifndef VT_METRICS_FINISH_H
#define VT_METRICS_FINISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "vitals/metrics.h"

/* Merged counts: the dense scratch buffer a snapshot sums shards into. */
typedef struct vt__hmerge {
	uint64_t cnt[VT__NBUCKETS];
	uint64_t touched[(VT__NOCT + 63) / 64]; /* octaves with counts */
	uint64_t below[VT_MAX_LE_BOUNDS];
	double sum, min, max;
	/* vt__hmerge_finish's scratch: the non-empty buckets. */
	uint64_t scnt[VT__NBUCKETS];
	uint32_t sidx[VT__NBUCKETS];
} vt__hmerge;

/* The merged buckets of a histogram series, immutable, in a snapshot
 * (opaque to users: vitals/metrics.h). */
struct vt_hist_buckets {
	uint64_t count;	     /* sum of cnt[] */
	double min, max;     /* NaN when count == 0 */
	size_t n;	     /* non-empty buckets */
	const uint32_t *idx; /* [n] global bucket (VT__B_*), ascending */
	const uint64_t *cnt; /* [n] */
};

/* Empties m (m must be zeroed once, e.g. by calloc, before first use). */
void vt__hmerge_reset(vt__hmerge *m, size_t nbounds);

/* Turns m into buckets and a summary (le counts for bounds/bound_bucket,
 * percentiles) allocated from a, and empties m (on failure too). bounds
 * must outlive the result. VT_ENOMEM on allocation failure. */
vt_err vt__hmerge_finish(vt__hmerge *m, const double *bounds,
			 const uint32_t *bound_bucket, size_t nbounds,
			 vt__arena *a, vt_hist_summary *sum,
			 const vt_hist_buckets **out);

/* Nearest-rank quantile q in [0,1]; NaN when empty or q out of range. */
double vt__buckets_quantile(const vt_hist_buckets *h, double q);

/* A series' last result and the observation count it was made at. */
typedef struct vt__hcache vt__hcache;

/* Whether c holds the result made at observation count seen. */
bool vt__hcache_valid(const vt__hcache *c, uint64_t seen);

/* Copies c's result into a (as vt__hmerge_finish would make it).
 * VT_ENOMEM. */
vt_err vt__hcache_load(const vt__hcache *c, vt__arena *a, vt_hist_summary *sum,
		       const vt_hist_buckets **out);

/* Keeps a copy of the result (sum, b) made at observation count seen in
 * *cp, reallocating it when too small; out of memory leaves *cp NULL (no
 * result kept). */
void vt__hcache_store(vt__hcache **cp, uint64_t seen,
		      const vt_hist_summary *sum, const vt_hist_buckets *b);

void vt__hcache_free(vt__hcache *c);

#endif
