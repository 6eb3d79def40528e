/*
 * shard.h - per-thread shards: where counters and histograms record,
 * the first stage of the read side (shards -> fold -> merge -> finish:
 * snapshot.c). shard.c explains the design; the inline lookup here is
 * the hot path.
 */
#ifndef VT_METRICS_SHARD_H
#define VT_METRICS_SHARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "metrics/registry.h"

/* One series' data in one shard. Owner-written (relaxed load + store),
 * read relaxed by mergers. */
typedef struct vt__slot {
	union {
		struct {
			_Atomic uint64_t n; /* whole increments */
			_Atomic double f;   /* fractional adds */
		} c;			    /* counter */
		struct {
			_Atomic(vt__hist *) h; /* published release */
		} hs;			       /* histogram */
	};
} vt__slot;

typedef struct vt__chunk {
	vt__slot slot[VT__CHUNK_SLOTS];
} vt__chunk;

typedef struct vt__tnode vt__tnode;

/* One thread's data for one registry. */
typedef struct vt__shard {
	/* Allocated lazily by the owner, published with a release store,
	 * read with acquire by mergers. */
	_Atomic(vt__chunk *) chunk[VT__MAX_CHUNKS];
	vt__arena arena; /* histograms and pages; owner thread only */
	vt_metrics *reg; /* immutable */
	/* Next in reg->shards: set before the shard is pushed, changed
	 * under reg->shard_mtx. */
	_Atomic(struct vt__shard *) next;
	/* Set (release) when the owner has exited: the shard holds its
	 * final counts and waits to be folded under reg->shard_mtx. */
	_Atomic int retired;
	/* The owner's link, NULL once retired; protected by the link mutex
	 * (shard.c). */
	vt__tnode *node;
} vt__shard;

/* The calling thread's last used shard and chunk. */
typedef struct vt__tls {
	uint64_t key;	  /* vt__chunk_key of chunk; 0: none */
	vt__chunk *chunk; /* in shard */
	uint64_t reg_id;  /* registry of shard; 0: none */
	vt__shard *shard;
} vt__tls;

extern _Thread_local vt__tls vt__tls_cache
    __attribute__((tls_model("initial-exec")));

/* Names chunk idx / VT__CHUNK_SLOTS of registry reg_id (ids start at 1,
 * so a key is never 0). */
_Static_assert(VT__MAX_CHUNKS == 1 << 9, "vt__chunk_key packs 9 bits");
static inline uint64_t vt__chunk_key(uint64_t reg_id, uint32_t idx)
{
	return reg_id << 9 | idx >> VT__CHUNK_SHIFT;
}

/* Slow path of vt__slot_get: finds or creates the calling thread's shard
 * of s's registry and the chunk of s, and caches both. NULL when out of
 * memory. */
vt__slot *vt__slot_slow(const vt_series *s);

/* Whether the calling thread's cached chunk holds the slot of s: one
 * compare, so callers keep their fast path frameless and branch to their
 * slow path (vt__slot_slow) on a miss. */
static inline int vt__slot_hit(const vt_series *s)
{
	return vt__tls_cache.key == s->key;
}

/* The slot of s in the cached chunk; only after vt__slot_hit(s). Two
 * loads from the handle to the slot keep the owner's load + store of the
 * slot quick. */
static inline vt__slot *vt__slot_cached(const vt_series *s)
{
	return &vt__tls_cache.chunk->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
}

/* The calling thread's slot of series s; NULL when out of memory. */
static inline vt__slot *vt__slot_get(const vt_series *s)
{
	return VT__LIKELY(vt__slot_hit(s)) ? vt__slot_cached(s)
					   : vt__slot_slow(s);
}

/* Allocates and publishes the calling thread's vt__hist in slot sl of
 * histogram series s; call right after vt__slot_get(s). */
vt__hist *vt__hist_slot_alloc(const vt_series *s, vt__slot *sl);

/* Allocates and publishes page oct of h, the calling thread's vt__hist
 * of a series got just before. NULL when out of memory. */
vt__page *vt__hist_page_alloc(vt__hist *h, uint32_t oct);

/* Calls fn(m, sh) for each shard of m whose thread has exited, after
 * unlinking it from m->shards; fn takes over sh (folds and frees it).
 * Locks: caller holds m->shard_mtx. */
void vt__shards_take_retired(vt_metrics *m,
			     void (*fn)(vt_metrics *m, vt__shard *sh));

/* Frees a shard taken from its registry's list. */
void vt__shard_free(vt__shard *sh);

/* Frees every shard of m, live threads' too (their links are marked
 * dead, the thread drops them later). Locks: the link mutex (shard.c), then
 * m->shard_mtx. */
void vt__shards_release(vt_metrics *m);

/* Bytes the calling thread's shard holds for series s: its slot, and for
 * a histogram the vt__hist and its pages. For tests and sizing. */
size_t vt__series_thread_bytes(const vt_series *s);

#endif
