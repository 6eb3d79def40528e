/*
 * registry.h - the registry's objects: vt_metrics, vt_family, vt_series,
 * and the lock-free lookup table (vt__htab) that the by-name API and
 * vt_family_series read without a lock. Types only: every stage of the
 * read side (shard, fold, merge, finish, snapshot) reads these objects,
 * and registry.c, which creates and frees them, sits above all of them.
 * registry.c explains them.
 */
#ifndef VT_METRICS_REGISTRY_H
#define VT_METRICS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "metrics/shared.h"
#include "vitals/metrics.h"

struct vt__shard;
struct vt__hcache;
typedef struct vt_series vt_series;

/* Series are numbered densely (idx); shards and the registry's series
 * directory split the numbers into chunks of VT__CHUNK_SLOTS. */
#define VT__CHUNK_SHIFT 8
#define VT__CHUNK_SLOTS (1u << VT__CHUNK_SHIFT)
#define VT__MAX_CHUNKS	512
/* Most series per registry. */
#define VT__MAX_SERIES (VT__CHUNK_SLOTS * VT__MAX_CHUNKS)

/* A table entry; embedded first in vt_family and vt_series. */
typedef struct vt__hnode {
	uint64_t hash; /* immutable */
} vt__hnode;

/* Open addressing, linear probing, load <= 1/2. Readers probe without a
 * lock; one writer at a time (under the registry mutex) fills empty
 * slots with release stores, and growth publishes a new table while the
 * old one stays readable until the registry is freed. */
typedef struct vt__htab {
	size_t mask;		  /* capacity - 1; immutable */
	size_t used;		  /* protected by the registry mutex */
	struct vt__htab *retired; /* next in the registry's old tables */
	_Atomic(vt__hnode *) slot[];
} vt__htab;

struct vt_series {
	/* Immutable after creation; read by every recording thread. */
	vt__hnode hnode; /* hash of the label values */
	uint64_t key;	 /* vt__chunk_key(reg_id, idx): see vt__slot_hit */
	uint64_t reg_id; /* the registry's id (vt_metrics.id) */
	uint32_t idx;	 /* slot index in every shard */
	uint8_t kind;	 /* vt_metric_kind */
	vt_family *fam;
	/* [fam->nlabels] in family label order, interned in the registry's
	 * vt__shared: snapshots point at them. NULL when unlabelled. */
	const vt_label *labels;
	double created; /* Unix time of creation (OpenMetrics _created) */
	/* Set (release) under reg->mtx when the series is removed; never
	 * cleared. Lookups that find a removed series treat it as absent. */
	_Atomic bool removed;

	/* Totals folded from exited threads (fold.c); protected by
	 * reg->shard_mtx. Counters: dead_n whole increments, dead_f
	 * fractional adds; histograms: dead_h. */
	uint64_t dead_n;
	double dead_f;
	vt__hist *dead_h;
	/* Histograms: the last merged result and the observation count it
	 * was made at (finish.c); protected by reg->shard_mtx. */
	struct vt__hcache *hcache;

	/* Gauge value (double bits): the one shared atomic, on its own
	 * cache line. */
	_Alignas(64) _Atomic uint64_t gauge;
};

struct vt_family {
	vt__hnode hnode; /* hash of the name */
	/* Immutable after creation. */
	vt_metrics *reg;
	vt_metric_kind kind;
	/* Strings and bounds are interned in reg->shared. */
	const char *name;
	const char *help; /* "" when none */
	size_t nlabels;
	const char **label_names;
	size_t nbounds;		/* histograms: le bounds */
	const double *bounds;	/* [nbounds] */
	uint32_t *bound_bucket; /* [nbounds] global bucket of each bound */
	uint64_t straddle[VT__BITMAP_WORDS]; /* buckets holding a bound */
	uint32_t octave_bounds[VT__NOCT];    /* the same, per octave */
	uint8_t octave_first[VT__NOCT];	     /* first bound in the octave */
	vt_series *series0; /* unlabelled families: the one series */

	/* Protected by reg->mtx. */
	vt_series **series; /* sorted by label values */
	size_t nseries, cap;

	/* Labelled families: series by label values; written under
	 * reg->mtx, read lock-free. A removed series stays in it until a
	 * series with the same values replaces it in its slot. */
	_Atomic(vt__htab *) stab;

	/* Set (release) under reg->mtx when the family is removed; never
	 * cleared. Its series are then all removed too. */
	_Atomic bool removed;
	vt_family *gone_next; /* in reg->gone; protected by reg->mtx */
};

/*
 * Locks. mtx guards the registry's structure (families, series, tables);
 * shard_mtx guards the shard list's unlinking, the folded totals and
 * merging; neither is taken while holding the other. shard.c's global
 * link mutex comes before shard_mtx.
 */
struct vt_metrics {
	uint64_t id; /* immutable; unique in the process, never reused */
	pthread_mutex_t mtx;
	vt__shared *shared; /* immutable */

	/* Protected by mtx. */
	vt_family **fams; /* sorted by name */
	size_t nfams, fcap;
	vt__htab *retired; /* outgrown tables, freed with the registry */
	/* Removed families, kept for stale handles and freed with the
	 * registry. */
	vt_family *gone;

	/* Series by idx, in chunks of VT__CHUNK_SLOTS allocated under mtx;
	 * nseries is stored (release) after the entry it covers, so entries
	 * below an acquire load of it are read without a lock. */
	vt_series **sdir[VT__MAX_CHUNKS];
	_Atomic size_t nseries;

	pthread_mutex_t shard_mtx;
	vt__arena arena; /* dead_h of every series; protected by shard_mtx */
	/* Shards of live threads and of exited ones not folded yet: pushed
	 * lock-free (shard.c), unlinked and walked under shard_mtx. */
	_Atomic(struct vt__shard *) shards;
	_Atomic size_t nretired; /* shards whose thread exited, unfolded */
	/* Folds retired shards (fold.c's vt__fold_retired); immutable, set
	 * by vt_metrics_alloc, so that a thread's exit (shard.c) folds its
	 * shard without the shard module depending on the fold stage.
	 * Locks: caller holds shard_mtx. */
	void (*fold_retired)(vt_metrics *m);

	/* Families by name; written under mtx, read lock-free. */
	_Atomic(vt__htab *) ftab;
};

/* Series idx of m; idx must be below an acquire load of m->nseries. */
static inline vt_series *vt__series_at(const vt_metrics *m, size_t idx)
{
	return m->sdir[idx >> VT__CHUNK_SHIFT][idx & (VT__CHUNK_SLOTS - 1)];
}

#endif
