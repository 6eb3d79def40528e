/*
 * registry.h - the registry's objects: vt_metrics, vt_family, vt_series,
 * and the lock-free lookup table (vt__htab) that the by-name API and
 * vt_family_series read without a lock. registry.c explains them.
 */
#ifndef VT_METRICS_REGISTRY_H
#define VT_METRICS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "vitals/metrics.h"

struct vt__shard;
typedef struct vt_series vt_series;

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
	char **values; /* [fam->nlabels] */

	/* Totals folded from exited threads; protected by reg->mtx. */
	uint64_t dead_n;
	double dead_f;
	vt__hist *dead_h;

	/* Gauge value (double bits): the one shared atomic, on its own
	 * cache line. */
	_Alignas(64) _Atomic uint64_t gauge;
};

struct vt_family {
	vt__hnode hnode; /* hash of the name */
	/* Immutable after creation. */
	vt_metrics *reg;
	vt_metric_kind kind;
	char *name;
	char *help; /* "" when none */
	size_t nlabels;
	char **label_names;
	size_t nbounds;		/* histograms: le bounds */
	double *bounds;		/* [nbounds] */
	uint32_t *bound_bucket; /* [nbounds] global bucket of each bound */
	uint64_t straddle[VT__BITMAP_WORDS]; /* buckets holding a bound */
	uint32_t octave_bounds[VT__NOCT];    /* the same, per octave */
	vt_series *series0; /* unlabelled families: the one series */

	/* Protected by reg->mtx. */
	vt_series **series; /* sorted by label values */
	size_t nseries, cap;

	/* Labelled families: series by label values; written under
	 * reg->mtx, read lock-free. */
	_Atomic(vt__htab *) stab;
};

struct vt_metrics {
	uint64_t id; /* immutable; unique in the process, never reused */
	pthread_mutex_t mtx;

	/* Protected by mtx. */
	vt_family **fams; /* sorted by name */
	size_t nfams, fcap;
	vt_series **all; /* by idx */
	size_t nseries, scap;
	vt__htab *retired; /* outgrown tables, freed with the registry */
	vt__arena arena;   /* dead_h of every series */

	/* Shards of live threads; changed with both the link mutex
	 * (shard.c) and mtx held, read with either. */
	struct vt__shard *shards;

	/* Families by name; written under mtx, read lock-free. */
	_Atomic(vt__htab *) ftab;
};

#endif
