/*
 * shard.c - per-thread shards: where counters and histograms record.
 *
 * Every thread that records to a registry owns one vt__shard for it. A
 * shard maps a series' idx to a 16-byte slot through a fixed directory of
 * chunk pointers (256 slots per chunk); the owner allocates a chunk on
 * first use and publishes it with a release store, so growth never moves
 * memory under a reader. The owner updates a slot with a relaxed load and
 * store (a plain mov on x86, no lock prefix); readers (snapshots) merge
 * every shard with relaxed/acquire loads. Histograms and their pages come
 * from the shard's bump arena.
 *
 * Finding the slot: a _Thread_local cache (initial-exec TLS) holds the
 * last used chunk, keyed by {registry id, chunk number}, and the last
 * used shard. The hot path compares the series' key with the cached one
 * and indexes the cached chunk: two loads from the handle to the slot.
 * Registry ids are unique in the process, so a new registry at a freed
 * one's address never matches. On a miss the thread takes the cached
 * shard, or walks its own list of links (vt__tnode, one per registry it
 * wrote to) without a lock, and creates a shard and link when none
 * matches.
 *
 * Thread exit: a pthread key destructor marks each of the thread's
 * shards retired. A retired shard stays on its registry's list, read by
 * merges like any other, until the fold stage (fold.c) takes it off the
 * list, adds it into the per-series totals and frees it, under
 * reg->shard_mtx, which merges hold too: no reader ever sees a freed
 * shard and nothing is counted twice or lost. The exiting thread folds at
 * once when shard_mtx is free (pthread_mutex_trylock), through the
 * registry's fold_retired hook, so this file does not depend on the stage
 * that reads it; when a snapshot holds the mutex, the snapshot folds the
 * shard when it is done, so an exit never waits for a scrape. A
 * thread's first write to a registry pushes its new shard onto the list
 * lock-free, so it does not wait for a scrape either. vt_metrics_free
 * frees the shards of every thread, live ones included, and marks their
 * links dead; the thread frees a dead link when it next creates a link,
 * or at exit.
 *
 * Lock order: link_mtx (global) before reg->shard_mtx. link_mtx guards
 * the shard <-> registry link (vt__tnode.reg/.sh, vt__shard.node) and is
 * taken only on slow paths: creating a shard, thread exit, registry
 * free; an exiting thread holds it while it folds, so the registry stays
 * alive meanwhile.
 */
#include "metrics/shard.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/histogram.h"
#include "metrics/registry.h"

/* A thread's link to one registry it wrote to. */
struct vt__tnode {
	uint64_t reg_id;	 /* immutable */
	vt_metrics *reg;	 /* protected by link_mtx; NULL when freed */
	_Atomic(vt__shard *) sh; /* written under link_mtx; NULL when freed */
	vt__tnode *next;	 /* owner thread only, changed under link_mtx */
};

static pthread_mutex_t link_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int key_ok;

_Thread_local vt__tls vt__tls_cache __attribute__((tls_model("initial-exec")));
static _Thread_local vt__tnode *t_nodes; /* this thread's links */

#define ARENA_FIRST 4096
#define ARENA_MAX   65536

void vt__shard_free(vt__shard *sh)
{
	for (int i = 0; i < VT__MAX_CHUNKS; i++)
		free(atomic_load_explicit(&sh->chunk[i], memory_order_relaxed));
	vt__arena_fini(&sh->arena);
	free(sh);
}

void vt__shards_take_retired(vt_metrics *m,
			     void (*fn)(vt_metrics *m, vt__shard *sh))
{
	if (atomic_load_explicit(&m->nretired, memory_order_acquire) == 0)
		return;
	_Atomic(vt__shard *) *pp = &m->shards;
	vt__shard *sh = atomic_load_explicit(pp, memory_order_acquire);
	while (sh != NULL) {
		vt__shard *next =
		    atomic_load_explicit(&sh->next, memory_order_relaxed);
		if (!atomic_load_explicit(&sh->retired, memory_order_acquire)) {
			pp = &sh->next;
			sh = next;
			continue;
		}
		if (pp == &m->shards) {
			/* New shards are pushed at the head without a lock. */
			vt__shard *head = sh;
			if (!atomic_compare_exchange_strong_explicit(
				pp, &head, next, memory_order_acq_rel,
				memory_order_acquire)) {
				sh = head; /* walk down to sh again */
				continue;
			}
		} else {
			atomic_store_explicit(pp, next, memory_order_relaxed);
		}
		fn(m, sh);
		atomic_fetch_sub_explicit(&m->nretired, 1,
					  memory_order_relaxed);
		sh = next;
	}
}

/* pthread key destructor: retires the thread's shards, folding them now
 * when no snapshot is under way. */
static void thread_exit(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&link_mtx);
	vt__tnode *n = t_nodes;
	while (n != NULL) {
		vt__tnode *next = n->next;
		vt__shard *sh =
		    atomic_load_explicit(&n->sh, memory_order_relaxed);
		if (sh != NULL) {
			vt_metrics *m = n->reg;
			sh->node = NULL;
			atomic_store_explicit(&sh->retired, 1,
					      memory_order_release);
			atomic_fetch_add_explicit(&m->nretired, 1,
						  memory_order_release);
			if (pthread_mutex_trylock(&m->shard_mtx) == 0) {
				m->fold_retired(m);
				pthread_mutex_unlock(&m->shard_mtx);
			}
		}
		free(n);
		n = next;
	}
	t_nodes = NULL;
	memset(&vt__tls_cache, 0, sizeof vt__tls_cache);
	pthread_mutex_unlock(&link_mtx);
}

static void key_init(void)
{
	key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* Creates the calling thread's shard of m. NULL when out of memory.
 * Locks: link_mtx; pushes onto m->shards without a lock. */
static vt__shard *shard_create(vt_metrics *m)
{
	pthread_once(&key_once, key_init);
	if (!key_ok)
		return NULL;
	vt__shard *sh = calloc(1, sizeof *sh);
	vt__tnode *node = calloc(1, sizeof *node);
	if (sh == NULL || node == NULL ||
	    pthread_setspecific(exit_key, &t_nodes) != 0) {
		free(sh);
		free(node);
		return NULL;
	}
	vt__arena_init(&sh->arena, ARENA_FIRST, ARENA_MAX);
	sh->reg = m;
	sh->node = node;
	node->reg_id = m->id;
	node->reg = m;
	atomic_init(&node->sh, sh);

	pthread_mutex_lock(&link_mtx);
	/* Drop links whose registry was freed. */
	for (vt__tnode **pp = &t_nodes; *pp != NULL;) {
		vt__tnode *n = *pp;
		if (atomic_load_explicit(&n->sh, memory_order_relaxed) ==
		    NULL) {
			*pp = n->next;
			free(n);
		} else {
			pp = &n->next;
		}
	}
	node->next = t_nodes;
	t_nodes = node;
	vt__shard *head =
	    atomic_load_explicit(&m->shards, memory_order_relaxed);
	do
		atomic_store_explicit(&sh->next, head, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
	    &m->shards, &head, sh, memory_order_release, memory_order_relaxed));
	pthread_mutex_unlock(&link_mtx);
	return sh;
}

/* The calling thread's shard of m, created on first use; also makes it
 * the cached one. */
static vt__shard *shard_get(vt_metrics *m)
{
	vt__shard *sh = NULL;
	/* Links of live registries are stable while the registry is, and
	 * recording to a registry being freed is not allowed. */
	for (vt__tnode *n = t_nodes; n != NULL; n = n->next) {
		if (n->reg_id == m->id) {
			sh = atomic_load_explicit(&n->sh, memory_order_relaxed);
			break;
		}
	}
	if (sh == NULL && (sh = shard_create(m)) == NULL)
		return NULL;
	vt__tls_cache.reg_id = m->id;
	vt__tls_cache.shard = sh;
	return sh;
}

vt__slot *vt__slot_slow(const vt_series *s)
{
	/* While key is set, shard is the shard of key's registry. */
	vt__tls_cache.key = 0;
	vt__shard *sh = vt__tls_cache.reg_id == s->reg_id
			    ? vt__tls_cache.shard
			    : shard_get(s->fam->reg);
	if (sh == NULL)
		return NULL;
	uint32_t ci = s->idx >> VT__CHUNK_SHIFT;
	vt__chunk *c =
	    atomic_load_explicit(&sh->chunk[ci], memory_order_relaxed);
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return NULL;
		atomic_store_explicit(&sh->chunk[ci], c, memory_order_release);
	}
	vt__tls_cache.key = s->key;
	vt__tls_cache.chunk = c;
	return &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
}

vt__hist *vt__hist_slot_alloc(const vt_series *s, vt__slot *sl)
{
	vt__hist *h =
	    vt__hist_new(&vt__tls_cache.shard->arena, s->fam->nbounds);
	if (h != NULL)
		atomic_store_explicit(&sl->hs.h, h, memory_order_release);
	return h;
}

vt__page *vt__hist_page_alloc(vt__hist *h, uint32_t oct)
{
	vt__page *pg =
	    vt__arena_alloc(&vt__tls_cache.shard->arena, sizeof *pg, 64);
	if (pg != NULL) {
		atomic_store_explicit(&h->dir[oct], pg, memory_order_release);
		vt__hist_mark(h, oct);
	}
	return pg;
}

void vt__shards_release(vt_metrics *m)
{
	pthread_mutex_lock(&link_mtx);
	pthread_mutex_lock(&m->shard_mtx);
	vt__shard *sh = atomic_load_explicit(&m->shards, memory_order_acquire);
	while (sh != NULL) {
		vt__shard *next =
		    atomic_load_explicit(&sh->next, memory_order_relaxed);
		if (sh->node != NULL) { /* a live thread's */
			sh->node->reg = NULL;
			atomic_store_explicit(&sh->node->sh, NULL,
					      memory_order_relaxed);
		}
		vt__shard_free(sh);
		sh = next;
	}
	atomic_store_explicit(&m->shards, NULL, memory_order_relaxed);
	atomic_store_explicit(&m->nretired, 0, memory_order_relaxed);
	pthread_mutex_unlock(&m->shard_mtx);
	pthread_mutex_unlock(&link_mtx);
}

size_t vt__series_thread_bytes(const vt_series *s)
{
	vt__slot *sl = vt__slot_get(s);
	if (sl == NULL)
		return 0;
	size_t n = sizeof *sl;
	if (s->kind == VT_HISTOGRAM) {
		vt__hist *h =
		    atomic_load_explicit(&sl->hs.h, memory_order_relaxed);
		if (h != NULL)
			n += vt__hist_bytes(h, s->fam->nbounds);
	}
	return n;
}
