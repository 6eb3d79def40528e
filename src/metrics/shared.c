/*
 * shared.c - interned strings and spare snapshot buffers, shared by a
 * registry and its snapshots (see shared.h). The buffers are opaque here:
 * each comes with the function that frees it.
 */
#include "metrics/shared.h"

#include <stdlib.h>
#include <string.h>

vt__shared *vt__shared_new(void)
{
	vt__shared *sh = calloc(1, sizeof *sh);
	if (sh == NULL)
		return NULL;
	if (pthread_mutex_init(&sh->mtx, NULL) != 0) {
		free(sh);
		return NULL;
	}
	atomic_init(&sh->refs, 1);
	vt__arena_init(&sh->strings, 4096, 65536);
	return sh;
}

void vt__shared_get(vt__shared *sh)
{
	atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
}

void vt__shared_put(vt__shared *sh)
{
	if (sh == NULL ||
	    atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < sh->nspare; i++)
		sh->spare_free(sh->spare[i]);
	vt__arena_fini(&sh->strings);
	pthread_mutex_destroy(&sh->mtx);
	free(sh);
}

void *vt__shared_take(vt__shared *sh)
{
	void *b = NULL;
	pthread_mutex_lock(&sh->mtx);
	if (sh->nspare > 0)
		b = sh->spare[--sh->nspare];
	pthread_mutex_unlock(&sh->mtx);
	return b;
}

bool vt__shared_keep(vt__shared *sh, void *buf, void (*free_fn)(void *))
{
	bool kept = false;
	pthread_mutex_lock(&sh->mtx);
	if (!sh->closed && sh->nspare < VT__SPARE_SNAPBUFS) {
		sh->spare_free = free_fn;
		sh->spare[sh->nspare++] = buf;
		kept = true;
	}
	pthread_mutex_unlock(&sh->mtx);
	return kept;
}

void vt__shared_close(vt__shared *sh)
{
	void *spare[VT__SPARE_SNAPBUFS];
	pthread_mutex_lock(&sh->mtx);
	sh->closed = true;
	size_t n = sh->nspare;
	memcpy(spare, sh->spare, n * sizeof *spare);
	sh->nspare = 0;
	pthread_mutex_unlock(&sh->mtx);
	for (size_t i = 0; i < n; i++)
		sh->spare_free(spare[i]);
}
