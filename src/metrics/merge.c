/*
 * merge.c - the merge stage: a snapshot's values summed over the folded
 * totals (fold.c) and every live shard (shard.c). Runs under
 * reg->shard_mtx, so no shard is folded or freed meanwhile; writers take
 * no lock and never wait.
 *
 * Counters: the integer and fractional parts of each series, summed
 * shard by shard over whole chunks when counters are a good part of the
 * series (each shard is then read in address order), else series by
 * series. Gauges: their one atomic.
 *
 * Histograms, first the change check. Every thread's vt__hist of a
 * series counts the observations it recorded (vt__hist.n), stored with
 * release after each observation's other stores; folding adds a retired
 * thread's count into the totals' (dead_h) with its counts. So the sum of
 * a series' counts changes whenever an observation completes, and never
 * otherwise: per-thread counts only grow, and a fold moves a count and
 * its data together. The count starts the vt__hist's second cache line,
 * so the check reads one line per (thread, series) instead of the header,
 * directory, le counters and pages. When the sum equals the count at
 * which finish.c kept the series' last result, that result is copied
 * (vt__hcache_load) and none of the series' pages are read. An
 * observation under way (its bucket stored, its count not yet) may be in
 * the kept result or not: it is concurrent with both snapshots, and
 * neither goes backwards. Acquire loads of the counts before the buckets
 * make every observation counted in the sum visible to the merge that
 * records that sum. The cost on the hot path: a load, an add and a store
 * on a line the observation holds anyway (bench/ANALYSIS.md has the
 * figures; a count in the shard slot instead cost the hot path two more
 * registers, saved and restored on every call).
 *
 * Then the merge of the changed series: all their vt__hist (folded
 * totals, then each shard's) as one stream, so memory is fetched well
 * ahead of its use across series boundaries: the shard slots of series a
 * few ahead, then each vt__hist in three prefetch steps
 * (vt__hist_prefetch) PF items apart, then vt__hmerge_add into the dense
 * buffer, which finish.c turns into the snapshot's buckets and summary
 * as each series completes. This part is bound by memory latency, not by
 * work: merging 1,000 changed series written by 16 threads reads about
 * 10 MB.
 */
#include "metrics/merge.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/shard.h"

/* Counter sums of one series over the live shards. */
typedef struct vt__mcacc {
	uint64_t n;
	double f;
} cacc;

/* A histogram series to merge, where its items end in hp, and the
 * observation count its items add up to. */
struct vt__mhser {
	vt_series *s;
	vt_series_snap *sn;
	size_t end;
	uint64_t seen;
	int reuse; /* the kept result is current: no items */
};

/* One vt__hist to merge, with its family's number of le bounds. */
struct vt__mitem {
	const vt__hist *h;
	uint32_t nb;
};

/* How many series ahead the series walks prefetch; prefetch distances
 * of the histogram stream. */
enum { AHEAD = 8, PF = 6, SLOT_AHEAD = 4 };

void vt__merge_fini(vt__merge *g)
{
	free(g->hm);
	free(g->acc);
	free(g->hs);
	free(g->hp);
	free(g->shards);
	memset(g, 0, sizeof *g);
}

/* Makes room for n elements of size es in *arr (capacity *cap). */
static int reserve(void *arr, size_t *cap, size_t n, size_t es)
{
	if (n <= *cap)
		return 1;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < n)
		ncap *= 2;
	void *p = realloc(*(void **)arr, ncap * es);
	if (p == NULL)
		return 0;
	*(void **)arr = p;
	*cap = ncap;
	return 1;
}

/* The shard list of m into g->shards. Locks: m->shard_mtx. */
static vt_err shards_list(vt__merge *g, const vt_metrics *m)
{
	size_t nsh = 0;
	for (const vt__shard *sh =
		 atomic_load_explicit(&m->shards, memory_order_acquire);
	     sh != NULL;
	     sh = atomic_load_explicit(&sh->next, memory_order_relaxed)) {
		if (!reserve(&g->shards, &g->shcap, nsh + 1, sizeof *g->shards))
			return VT_ENOMEM;
		g->shards[nsh++] = sh;
	}
	g->nsh = nsh;
	return VT_OK;
}

/* Sums every live shard's counter slots by series idx into acc[0..n),
 * chunk by chunk: each chunk's sums stay in cache while every shard's
 * chunk is read in address order. Histogram and gauge slots are summed
 * too and ignored. Locks: m->shard_mtx. */
static void counters_by_shard(vt__merge *g, size_t n)
{
	const memory_order rl = memory_order_relaxed;
	cacc *acc = g->acc;
	memset(acc, 0, n * sizeof *acc);
	for (size_t ci = 0; ci * VT__CHUNK_SLOTS < n; ci++) {
		cacc *a = &acc[ci * VT__CHUNK_SLOTS];
		size_t end = n - ci * VT__CHUNK_SLOTS;
		if (end > VT__CHUNK_SLOTS)
			end = VT__CHUNK_SLOTS;
		for (size_t i = 0; i < g->nsh; i++) {
			const vt__chunk *c = atomic_load_explicit(
			    &g->shards[i]->chunk[ci], memory_order_acquire);
			if (c == NULL)
				continue;
			for (size_t j = 0; j < end; j++) {
				a[j].n +=
				    atomic_load_explicit(&c->slot[j].c.n, rl);
				a[j].f +=
				    atomic_load_explicit(&c->slot[j].c.f, rl);
			}
		}
	}
}

/* Counter s summed over every live shard. Locks: m->shard_mtx. */
static cacc counter_by_series(const vt__merge *g, const vt_series *s)
{
	cacc a = {0, 0};
	for (size_t i = 0; i < g->nsh; i++) {
		const vt__chunk *c = atomic_load_explicit(
		    &g->shards[i]->chunk[s->idx >> VT__CHUNK_SHIFT],
		    memory_order_acquire);
		if (c == NULL)
			continue;
		const vt__slot *sl = &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
		a.n += atomic_load_explicit(&sl->c.n, memory_order_relaxed);
		a.f += atomic_load_explicit(&sl->c.f, memory_order_relaxed);
	}
	return a;
}

static double gauge_value(const vt_series *s)
{
	uint64_t u = atomic_load(&s->gauge);
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/* The slot of series idx in shard sh, or NULL. */
static const vt__slot *slot_of(const vt__shard *sh, uint32_t idx)
{
	const vt__chunk *c = atomic_load_explicit(
	    &sh->chunk[idx >> VT__CHUNK_SHIFT], memory_order_acquire);
	return c != NULL ? &c->slot[idx & (VT__CHUNK_SLOTS - 1)] : NULL;
}

/* Prefetches the slots of series idx in every shard (step 0), or, with
 * those in cache, the count of each shard's vt__hist (step 1). */
static void slots_prefetch(const vt__merge *g, uint32_t idx, int step)
{
	for (size_t i = 0; i < g->nsh; i++) {
		/* slot_of loads the chunk with acquire: step 1 reads the slot.
		 */
		const vt__slot *sl = slot_of(g->shards[i], idx);
		if (sl == NULL)
			continue;
		if (step == 0) {
			__builtin_prefetch(sl);
			continue;
		}
		const vt__hist *h =
		    atomic_load_explicit(&sl->hs.h, memory_order_relaxed);
		if (h != NULL)
			__builtin_prefetch(&h->n);
	}
}

/* Appends to g->hp the vt__hist of series hs (folded totals, then each
 * shard's) and sums their observation counts; drops them again when the
 * kept result is current. Locks: m->shard_mtx. */
static void hist_collect(vt__merge *g, struct vt__mhser *hs, size_t *ni)
{
	const memory_order acq = memory_order_acquire;
	const vt_series *s = hs->s;
	uint32_t nb = (uint32_t)s->fam->nbounds;
	size_t ni0 = *ni;
	uint64_t seen = 0;
	if (s->dead_h != NULL) {
		seen += atomic_load_explicit(&s->dead_h->n, acq);
		g->hp[(*ni)++] = (struct vt__mitem){s->dead_h, nb};
	}
	for (size_t i = 0; i < g->nsh; i++) {
		const vt__slot *sl = slot_of(g->shards[i], s->idx);
		const vt__hist *h =
		    sl != NULL ? atomic_load_explicit(&sl->hs.h, acq) : NULL;
		if (h == NULL)
			continue;
		/* The count first (acquire): what it counts is visible to
		 * the reads of the pages after it. */
		seen += atomic_load_explicit(&h->n, acq);
		g->hp[(*ni)++] = (struct vt__mitem){h, nb};
	}
	hs->seen = seen;
	hs->reuse = vt__hcache_valid(s->hcache, seen);
	if (hs->reuse)
		*ni = ni0;
	hs->end = *ni;
}

/* Collects the vt__hist of every histogram series in g->hs into g->hp.
 * Locks: m->shard_mtx. */
static vt_err hists_collect(vt__merge *g)
{
	if (!reserve(&g->hp, &g->hpcap, g->nhs * (g->nsh + 1), sizeof *g->hp))
		return VT_ENOMEM;
	size_t ni = 0;
	for (size_t k = 0; k < g->nhs; k++) {
		if (k + 3 * SLOT_AHEAD < g->nhs)
			__builtin_prefetch(g->hs[k + 3 * SLOT_AHEAD].s);
		if (k + 2 * SLOT_AHEAD < g->nhs)
			slots_prefetch(g, g->hs[k + 2 * SLOT_AHEAD].s->idx, 0);
		if (k + SLOT_AHEAD < g->nhs)
			slots_prefetch(g, g->hs[k + SLOT_AHEAD].s->idx, 1);
		hist_collect(g, &g->hs[k], &ni);
	}
	g->nhp = ni;
	return VT_OK;
}

/* The summary and buckets of series hs: its kept result, or what g->hm
 * holds, which is then kept. */
static vt_err hist_finish(vt__merge *g, const struct vt__mhser *hs,
			  vt__arena *a)
{
	vt_series *s = hs->s;
	vt_series_snap *sn = hs->sn;
	if (hs->reuse)
		return vt__hcache_load(s->hcache, a, &sn->hist, &sn->buckets);
	const vt_family *f = s->fam;
	vt_err err = vt__hmerge_finish(g->hm, f->bounds, f->bound_bucket,
				       f->nbounds, a, &sn->hist, &sn->buckets);
	if (err == VT_OK)
		vt__hcache_store(&s->hcache, hs->seen, &sn->hist, sn->buckets);
	return err;
}

/* Merges and finishes every histogram series in g->hs. Locks:
 * m->shard_mtx. */
static vt_err hists_merge(vt__merge *g, vt__arena *a)
{
	if (g->hm == NULL) {
		if ((g->hm = calloc(1, sizeof *g->hm)) == NULL)
			return VT_ENOMEM;
		vt__hmerge_reset(g->hm, VT_MAX_LE_BOUNDS);
	}
	vt_err err = hists_collect(g);
	if (err != VT_OK)
		return err;
	const struct vt__mitem *hp = g->hp;
	size_t ni = g->nhp, k = 0;
	for (size_t i = 0; i < ni + 3 * PF; i++) {
		if (i < ni)
			vt__hist_prefetch(hp[i].h, 0, hp[i].nb);
		if (i >= PF && i - PF < ni)
			vt__hist_prefetch(hp[i - PF].h, 1, hp[i - PF].nb);
		if (i >= 2 * PF && i - 2 * PF < ni)
			vt__hist_prefetch(hp[i - 2 * PF].h, 2,
					  hp[i - 2 * PF].nb);
		if (i < 3 * PF || i - 3 * PF >= ni)
			continue;
		size_t j = i - 3 * PF;
		/* Series whose items are all in (or that have none). */
		for (; k < g->nhs && g->hs[k].end <= j; k++)
			if ((err = hist_finish(g, &g->hs[k], a)) != VT_OK)
				return err;
		vt__hmerge_add(g->hm, hp[j].h, hp[j].nb);
	}
	for (; k < g->nhs; k++)
		if ((err = hist_finish(g, &g->hs[k], a)) != VT_OK)
			return err;
	return VT_OK;
}

vt_err vt__merge_values(vt__merge *g, const vt_metrics *m, vt_series *const *sv,
			vt_series_snap *const *out, size_t n, size_t nidx,
			size_t ncounters, vt__arena *a)
{
	vt_err err = shards_list(g, m);
	if (err != VT_OK)
		return err;
	/* Shard by shard when the counters are a good part of all series:
	 * each shard read in order beats one line per (series, shard). */
	int by_shard = ncounters > 0 && ncounters * 4 >= nidx;
	if (by_shard) {
		if (!reserve(&g->acc, &g->acccap, nidx, sizeof *g->acc))
			return VT_ENOMEM;
		counters_by_shard(g, nidx);
	}
	g->nhs = 0;
	for (size_t k = 0; k < n; k++) {
		if (k + AHEAD < n)
			__builtin_prefetch(sv[k + AHEAD]);
		vt_series *s = sv[k];
		vt_series_snap *sn = out[k];
		if (s->kind == VT_COUNTER) {
			cacc c =
			    by_shard ? g->acc[s->idx] : counter_by_series(g, s);
			sn->value =
			    (double)(s->dead_n + c.n) + (s->dead_f + c.f);
		} else if (s->kind == VT_GAUGE) {
			sn->value = gauge_value(s);
		} else {
			if (!reserve(&g->hs, &g->hscap, g->nhs + 1,
				     sizeof *g->hs))
				return VT_ENOMEM;
			g->hs[g->nhs++] = (struct vt__mhser){s, sn, 0, 0, 0};
		}
	}
	return g->nhs > 0 ? hists_merge(g, a) : VT_OK;
}

void vt__hmerge_add(vt__hmerge *m, const vt__hist *h, size_t nbounds)
{
	const memory_order acq = memory_order_acquire;
	for (size_t j = 0; j < nbounds; j++)
		m->below[j] += atomic_load_explicit(&h->below[j], acq);
	uint64_t used[2] = {atomic_load_explicit(&h->used[0], acq),
			    atomic_load_explicit(&h->used[1], acq)};
	for (int w = 0; w < 2; w++) {
		uint64_t bits = used[w];
		if (w == VT__USED_SPEC / 64)
			bits &= (UINT64_C(1) << (VT__USED_SPEC % 64)) - 1;
		m->touched[w] |= bits;
		while (bits != 0) {
			unsigned o =
			    (unsigned)w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			vt__hist_page_read(&m->cnt[VT__B_LOG0 + o * VT__SUB], h,
					   o);
		}
	}
	if (used[VT__USED_SPEC / 64] >> (VT__USED_SPEC % 64) & 1) {
		for (int i = 0; i < VT__B_LOG0; i++)
			m->cnt[i] += atomic_load_explicit(&h->spec[i], acq);
		m->cnt[VT__B_OVER] += atomic_load_explicit(&h->spec[3], acq);
	}
	const memory_order rl = memory_order_relaxed;
	m->sum += atomic_load_explicit(&h->sum, rl);
	double mn = atomic_load_explicit(&h->min, rl);
	double mx = atomic_load_explicit(&h->max, rl);
	if (mn < m->min)
		m->min = mn;
	if (mx > m->max)
		m->max = mx;
}
