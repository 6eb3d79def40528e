/*
 * merge.h - the merge stage of the read side (shards -> fold -> merge ->
 * finish): the values of a snapshot's series, summed over the folded
 * totals and every live shard. A vt__merge holds this stage's scratch
 * memory, kept from one snapshot to the next. merge.c explains it.
 */
#ifndef VT_METRICS_MERGE_H
#define VT_METRICS_MERGE_H

#include <stddef.h>

#include "metrics/arena.h"
#include "metrics/finish.h"
#include "metrics/registry.h"

struct vt__mcacc;
struct vt__mhser;
struct vt__mitem;
struct vt__shard;

typedef struct vt__merge {
	vt__hmerge *hm; /* histogram merge buffer; allocated on first use */
	struct vt__mcacc *acc; /* counter sums by series idx */
	size_t acccap;
	struct vt__mhser *hs; /* histogram series to merge */
	size_t nhs, hscap;
	struct vt__mitem *hp; /* their vt__hist */
	size_t nhp, hpcap;
	const struct vt__shard **shards; /* the shard list, as an array */
	size_t nsh, shcap;
} vt__merge;

/* Frees g's scratch memory. */
void vt__merge_fini(vt__merge *g);

/* Fills in the values of series sv[0..n) of m into out[0..n): counters
 * and gauges their value, histograms their summary and buckets, whose
 * arrays come from a. nidx: m->nseries when sv was laid out; ncounters:
 * how many of sv are counters. VT_ENOMEM. Locks: m->shard_mtx. */
vt_err vt__merge_values(vt__merge *g, const vt_metrics *m, vt_series *const *sv,
			vt_series_snap *const *out, size_t n, size_t nidx,
			size_t ncounters, vt__arena *a);

/* Adds the counts of h, which its owner may be writing: le counters are
 * read before buckets and buckets before sum/min/max, so the result is
 * self-consistent. */
void vt__hmerge_add(vt__hmerge *m, const vt__hist *h, size_t nbounds);

#endif
