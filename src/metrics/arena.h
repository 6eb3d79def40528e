/*
 * arena.h - a bump allocator for memory that lives as long as its owner
 * (a thread's shard, a registry's folded totals and interned strings, a
 * snapshot). Allocations are zeroed and freed all at once; nothing moves,
 * so a pointer handed out stays valid until vt__arena_fini or
 * vt__arena_reset. A reset keeps the blocks for the next round of
 * allocations (a snapshot buffer reused scrape after scrape), so a steady
 * caller neither calls malloc nor faults in fresh pages.
 */
#ifndef VT_METRICS_ARENA_H
#define VT_METRICS_ARENA_H

#include <stddef.h>

typedef struct vt__ablock vt__ablock;

typedef struct vt__arena {
	vt__ablock *blocks; /* in use, newest first */
	vt__ablock *spare;  /* kept by vt__arena_reset, oldest first */
	char *cur, *end;    /* free space in the newest block */
	int dirty;	    /* the newest block was used before a reset */
	size_t first_size;  /* size of the first block */
	size_t next_size;   /* size of the next block */
	size_t max_size;    /* blocks grow by doubling up to this */
	size_t used;	    /* bytes handed out, with alignment padding */
} vt__arena;

/* Empty arena whose blocks start at first bytes and double up to max. */
void vt__arena_init(vt__arena *a, size_t first, size_t max);

/* size zeroed bytes aligned to align (a power of two, at most 64); NULL
 * when out of memory. Not thread-safe: one owner allocates. */
void *vt__arena_alloc(vt__arena *a, size_t size, size_t align);

/* Copy of s (NUL-terminated) in the arena; NULL when out of memory. */
char *vt__arena_strdup(vt__arena *a, const char *s);

/* Takes back everything handed out, keeping the blocks for later
 * allocations; blocks a whole round since the previous reset left unused
 * are freed, so the arena keeps about one round's worth. */
void vt__arena_reset(vt__arena *a);

/* Frees every block. Accepts a zeroed or finished arena. */
void vt__arena_fini(vt__arena *a);

#endif
