/*
 * fold.c - folding exited threads' shards into the series' totals.
 *
 * A retired shard holds its thread's final counts. Under reg->shard_mtx
 * (which merges hold too, so a merge never sees a shard both live and
 * folded) each of its slots is added into its series: counters into
 * dead_n and dead_f, histograms into dead_h (allocated from the
 * registry's arena on first use), their observation count (vt__hist.n)
 * included, so that the sum a merge compares (merge.c) stays the same
 * when a shard moves from the list into the totals. Then the shard is
 * freed.
 * Folding runs at a thread's exit when the mutex is free (shard.c calls
 * it through vt_metrics.fold_retired), else before and after the next
 * snapshot's merge.
 */
#include "metrics/fold.h"

#include "metrics/histogram.h"
#include "metrics/shard.h"

/* Adds histogram slot sl of series s into s's totals. */
static void fold_hist(vt_metrics *m, vt_series *s, const vt__slot *sl)
{
	const vt__hist *h =
	    atomic_load_explicit(&sl->hs.h, memory_order_acquire);
	if (h == NULL)
		return;
	if (s->dead_h == NULL)
		s->dead_h = vt__hist_new(&m->arena, s->fam->nbounds);
	/* Out of memory here loses this thread's counts. */
	if (s->dead_h != NULL)
		(void)vt__hist_fold(s->dead_h, h, s->fam->nbounds, &m->arena);
}

/* Adds retired shard sh into the series' totals and frees it. Locks:
 * caller holds m->shard_mtx. */
static void fold_shard(vt_metrics *m, vt__shard *sh)
{
	const memory_order rl = memory_order_relaxed;
	size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
	for (size_t ci = 0; ci * VT__CHUNK_SLOTS < n; ci++) {
		const vt__chunk *c =
		    atomic_load_explicit(&sh->chunk[ci], memory_order_acquire);
		if (c == NULL)
			continue;
		size_t end = n - ci * VT__CHUNK_SLOTS;
		if (end > VT__CHUNK_SLOTS)
			end = VT__CHUNK_SLOTS;
		for (size_t j = 0; j < end; j++) {
			vt_series *s =
			    vt__series_at(m, ci * VT__CHUNK_SLOTS + j);
			const vt__slot *sl = &c->slot[j];
			if (s->kind == VT_COUNTER) {
				s->dead_n += atomic_load_explicit(&sl->c.n, rl);
				s->dead_f += atomic_load_explicit(&sl->c.f, rl);
			} else if (s->kind == VT_HISTOGRAM) {
				fold_hist(m, s, sl);
			}
		}
	}
	vt__shard_free(sh);
}

void vt__fold_retired(vt_metrics *m)
{
	vt__shards_take_retired(m, fold_shard);
}
