/*
 * shared.h - what snapshots share with the registry they come from and
 * may outlive it with: interned strings, and spare snapshot buffers that
 * make a scrape reuse the memory of the one before. Freed by the last
 * vt__shared_put, of the registry or of its last snapshot. A leaf module:
 * the registry (registry.c) and the snapshot (snapshot.c) both use it,
 * and it knows neither.
 */
#ifndef VT_METRICS_SHARED_H
#define VT_METRICS_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics/arena.h"

#define VT__SPARE_SNAPBUFS 2

typedef struct vt__shared {
	_Atomic size_t refs; /* the registry, and each live snapshot */
	/* Family names, help texts, label names, label arrays (vt_label) and
	 * le bounds: allocated under the registry mutex, never changed. */
	vt__arena strings;
	pthread_mutex_t mtx; /* protects what follows */
	bool closed;	     /* the registry is freed: keep no spares */
	size_t nspare;
	void *spare[VT__SPARE_SNAPBUFS];
	void (*spare_free)(void *); /* frees a spare; set by the first keep */
} vt__shared;

/* A new vt__shared holding one reference (the registry's); NULL when out
 * of memory. */
vt__shared *vt__shared_new(void);

/* Takes one more reference (a snapshot's). */
void vt__shared_get(vt__shared *sh);

/* Drops one reference to sh; the last frees it and its spares.
 * Thread-safe; accepts NULL. */
void vt__shared_put(vt__shared *sh);

/* A spare buffer kept by vt__shared_keep, or NULL. Locks: sh->mtx. */
void *vt__shared_take(vt__shared *sh);

/* Keeps buf (freed later with free_fn) for the next vt__shared_take;
 * false when the registry is freed or enough are kept: the caller frees
 * buf. Locks: sh->mtx. */
bool vt__shared_keep(vt__shared *sh, void *buf, void (*free_fn)(void *));

/* Marks sh's registry freed and frees its spare buffers. Locks: sh->mtx. */
void vt__shared_close(vt__shared *sh);

#endif
