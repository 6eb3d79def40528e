/*
 * snapshot.c - merging every shard into an immutable snapshot.
 *
 * Two steps. Under the registry mutex, briefly, the snapshot's skeleton
 * is laid out: the selected families and series, in order, pointing at
 * the registry's interned names, label arrays and bounds (registry.c),
 * which never change; series created later are simply not in it. Then,
 * under reg->shard_mtx (which folding a retired shard also takes, so no
 * shard is freed or counted twice meanwhile), each series sums its
 * folded totals and every shard: counters their integer and fractional
 * parts - shard by shard over whole chunks when most series are
 * selected counters, so each shard is read in order - and histograms
 * through a dense merge buffer turned into sparse buckets, a summary and
 * le counts (histogram.c). Retired shards are folded before and after.
 * Writers never wait: they take no lock. Neither do exiting threads nor
 * a thread's first write (shard.c).
 *
 * Memory. A snapshot's arrays live in the arena of a vt__snapbuf, with
 * the merge buffer and scratch arrays. Freeing a snapshot hands its
 * snapbuf back to the registry's vt__shared (up to VT__SPARE_SNAPBUFS
 * are kept) and the next snapshot reuses it: a steady scraper neither
 * mallocs nor faults in fresh pages. A snapshot holds a reference to
 * vt__shared, so its strings stay valid after the registry is freed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "metrics/registry.h"
#include "metrics/shard.h"

/* How many series ahead the series walks prefetch. */
enum { AHEAD = 8 };

/* Counter sums of one series over the live shards. */
typedef struct cacc {
	uint64_t n;
	double f;
} cacc;

/* A histogram series to merge, and where its items end in hp. */
struct hser {
	const vt_series *s;
	vt_series_snap *sn;
	size_t end;
};

/* One vt__hist to merge, with its family's number of le bounds. */
struct hitem {
	const vt__hist *h;
	uint32_t nb;
};

/* A snapshot's memory, kept for the next one. */
struct vt__snapbuf {
	vt__arena arena; /* everything the snapshot points to */
	vt__hmerge *hm;	 /* merge buffer */
	/* Scratch arrays, grown as needed and kept. */
	vt_series **sv; /* the selected series, in snapshot order */
	size_t svcap;
	cacc *acc; /* counter sums by series idx */
	size_t acccap;
	struct hser *hs; /* histogram series, in snapshot order */
	size_t nhs, hscap;
	struct hitem *hp; /* their vt__hist */
	size_t nhp, hpcap;
	const vt__shard **shards; /* the shard list, as an array */
	size_t shcap;
};

struct snap {
	vt_metrics_snapshot pub; /* first: the caller's pointer */
	vt__shared *shared;
	struct vt__snapbuf *buf; /* holds this struct */
};

static void snapbuf_free(struct vt__snapbuf *b)
{
	if (b == NULL)
		return;
	vt__arena_fini(&b->arena);
	free(b->hm);
	free(b->sv);
	free(b->acc);
	free(b->hs);
	free(b->hp);
	free(b->shards);
	free(b);
}

/* A spare snapbuf of sh, else a new one; NULL when out of memory.
 * Locks: sh->mtx. */
static struct vt__snapbuf *snapbuf_get(vt__shared *sh)
{
	struct vt__snapbuf *b = NULL;
	pthread_mutex_lock(&sh->mtx);
	if (sh->nspare > 0)
		b = sh->spare[--sh->nspare];
	pthread_mutex_unlock(&sh->mtx);
	if (b == NULL && (b = calloc(1, sizeof *b)) != NULL)
		vt__arena_init(&b->arena, 16384, 1 << 20);
	return b;
}

/* Empties b and keeps it in sh for the next snapshot, or frees it.
 * Locks: sh->mtx. */
static void snapbuf_put(vt__shared *sh, struct vt__snapbuf *b)
{
	vt__arena_reset(&b->arena);
	pthread_mutex_lock(&sh->mtx);
	if (!sh->closed && sh->nspare < VT__SPARE_SNAPBUFS) {
		sh->spare[sh->nspare++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&sh->mtx);
	snapbuf_free(b);
}

void vt__shared_close(vt__shared *sh)
{
	struct vt__snapbuf *spare[VT__SPARE_SNAPBUFS];
	pthread_mutex_lock(&sh->mtx);
	sh->closed = 1;
	size_t n = sh->nspare;
	memcpy(spare, sh->spare, n * sizeof *spare);
	sh->nspare = 0;
	pthread_mutex_unlock(&sh->mtx);
	for (size_t i = 0; i < n; i++)
		snapbuf_free(spare[i]);
}

void vt__shared_put(vt__shared *sh)
{
	if (sh == NULL ||
	    atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < sh->nspare; i++)
		snapbuf_free(sh->spare[i]);
	vt__arena_fini(&sh->strings);
	pthread_mutex_destroy(&sh->mtx);
	free(sh);
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

/* Sums every live shard's counter slots by series idx into acc[0..n),
 * chunk by chunk: each chunk's sums stay in cache while every shard's
 * chunk is read in address order. Histogram and gauge slots are summed
 * too and ignored. Locks: m->shard_mtx. */
static vt_err counters_by_shard(struct vt__snapbuf *b, const vt_metrics *m,
				size_t n)
{
	const memory_order rl = memory_order_relaxed;
	size_t nsh = 0;
	for (const vt__shard *sh =
		 atomic_load_explicit(&m->shards, memory_order_acquire);
	     sh != NULL; sh = atomic_load_explicit(&sh->next, rl)) {
		if (!reserve(&b->shards, &b->shcap, nsh + 1, sizeof *b->shards))
			return VT_ENOMEM;
		b->shards[nsh++] = sh;
	}
	cacc *acc = b->acc;
	memset(acc, 0, n * sizeof *acc);
	for (size_t ci = 0; ci * VT__CHUNK_SLOTS < n; ci++) {
		cacc *a = &acc[ci * VT__CHUNK_SLOTS];
		size_t end = n - ci * VT__CHUNK_SLOTS;
		if (end > VT__CHUNK_SLOTS)
			end = VT__CHUNK_SLOTS;
		for (size_t i = 0; i < nsh; i++) {
			const vt__chunk *c = atomic_load_explicit(
			    &b->shards[i]->chunk[ci], memory_order_acquire);
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
	return VT_OK;
}

/* Counter s summed over every live shard. Locks: m->shard_mtx. */
static cacc counter_by_series(const vt_metrics *m, const vt_series *s)
{
	cacc a = {0, 0};
	for (const vt__shard *sh =
		 atomic_load_explicit(&m->shards, memory_order_acquire);
	     sh != NULL;
	     sh = atomic_load_explicit(&sh->next, memory_order_relaxed)) {
		vt__chunk *c =
		    atomic_load_explicit(&sh->chunk[s->idx >> VT__CHUNK_SHIFT],
					 memory_order_acquire);
		if (c == NULL)
			continue;
		vt__slot *sl = &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
		a.n += atomic_load_explicit(&sl->c.n, memory_order_relaxed);
		a.f += atomic_load_explicit(&sl->c.f, memory_order_relaxed);
	}
	return a;
}

static double gauge_value(vt_series *s)
{
	uint64_t u = atomic_load(&s->gauge);
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/*
 * Histograms. All histogram series of a snapshot are merged as one
 * stream of vt__hist (each series' folded totals, then its shards'), so
 * memory is fetched well ahead of its use across series boundaries: the
 * shard slots of series a few ahead, then for the stream, each vt__hist
 * in three prefetch steps (vt__hist_prefetch) PF items apart, then the
 * merge. The merge is bound by memory, not by work.
 */
enum { PF = 6, SLOT_AHEAD = 4 };

/* Turns what b->hm holds into the summary of series hs. */
static vt_err hist_finish(struct vt__snapbuf *b, const struct hser *hs)
{
	const vt_family *f = hs->s->fam;
	return vt__hmerge_finish(b->hm, f->bounds, f->bound_bucket, f->nbounds,
				 &b->arena, &hs->sn->hist, &hs->sn->buckets);
}

/* Collects the vt__hist of every histogram series in b->hs into b->hp,
 * setting each series' end. Locks: m->shard_mtx. */
static vt_err hists_collect(struct vt__snapbuf *b, const vt_metrics *m)
{
	size_t nsh = 0;
	for (const vt__shard *sh =
		 atomic_load_explicit(&m->shards, memory_order_acquire);
	     sh != NULL;
	     sh = atomic_load_explicit(&sh->next, memory_order_relaxed)) {
		if (!reserve(&b->shards, &b->shcap, nsh + 1, sizeof *b->shards))
			return VT_ENOMEM;
		b->shards[nsh++] = sh;
	}
	if (!reserve(&b->hp, &b->hpcap, b->nhs * (nsh + 1), sizeof *b->hp))
		return VT_ENOMEM;
	size_t ni = 0;
	for (size_t k = 0; k < b->nhs; k++) {
		if (k + 2 * SLOT_AHEAD < b->nhs)
			__builtin_prefetch(b->hs[k + 2 * SLOT_AHEAD].s);
		if (k + SLOT_AHEAD < b->nhs) {
			uint32_t idx = b->hs[k + SLOT_AHEAD].s->idx;
			for (size_t i = 0; i < nsh; i++) {
				const vt__chunk *c = atomic_load_explicit(
				    &b->shards[i]
					 ->chunk[idx >> VT__CHUNK_SHIFT],
				    memory_order_relaxed);
				if (c != NULL)
					__builtin_prefetch(
					    &c->slot[idx &
						     (VT__CHUNK_SLOTS - 1)]);
			}
		}
		const vt_series *s = b->hs[k].s;
		uint32_t nb = (uint32_t)s->fam->nbounds;
		if (s->dead_h != NULL)
			b->hp[ni++] = (struct hitem){s->dead_h, nb};
		for (size_t i = 0; i < nsh; i++) {
			const vt__chunk *c = atomic_load_explicit(
			    &b->shards[i]->chunk[s->idx >> VT__CHUNK_SHIFT],
			    memory_order_acquire);
			if (c == NULL)
				continue;
			const vt__hist *h = atomic_load_explicit(
			    &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)].h,
			    memory_order_acquire);
			if (h != NULL)
				b->hp[ni++] = (struct hitem){h, nb};
		}
		b->hs[k].end = ni;
	}
	b->nhp = ni;
	return VT_OK;
}

/* Merges and summarizes every histogram series in b->hs. Locks:
 * m->shard_mtx. */
static vt_err hists_merge(struct vt__snapbuf *b, const vt_metrics *m)
{
	vt_err err = hists_collect(b, m);
	if (err != VT_OK)
		return err;
	const struct hitem *hp = b->hp;
	size_t ni = b->nhp, k = 0;
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
		for (; k < b->nhs && b->hs[k].end <= j; k++)
			if ((err = hist_finish(b, &b->hs[k])) != VT_OK)
				return err;
		vt__hmerge_add(b->hm, hp[j].h, hp[j].nb);
	}
	for (; k < b->nhs; k++)
		if ((err = hist_finish(b, &b->hs[k])) != VT_OK)
			return err;
	return VT_OK;
}

/* Whether f passes the name filters; fills lmap with the family label
 * index of each filter label (0 when a filter label is missing). */
static int family_selected(const vt_family *f, const vt_metrics_filter *flt,
			   size_t *lmap)
{
	if (flt == NULL)
		return 1;
	if (flt->name != NULL && flt->name[0] != '\0' &&
	    strcmp(f->name, flt->name) != 0)
		return 0;
	if (flt->name_prefix != NULL &&
	    strncmp(f->name, flt->name_prefix, strlen(flt->name_prefix)) != 0)
		return 0;
	for (size_t i = 0; i < flt->nlabels; i++) {
		size_t k = 0;
		while (k < f->nlabels &&
		       strcmp(f->label_names[k], flt->labels[i].name) != 0)
			k++;
		if (k == f->nlabels)
			return 0;
		lmap[i] = k;
	}
	return 1;
}

/* Lays out family f and its selected series in fs, and appends those
 * series to b->sv at *nsv. Locks: m->mtx. */
static vt_err family_skeleton(struct vt__snapbuf *b, size_t *nsv,
			      const vt_family *f, const vt_metrics_filter *flt,
			      const size_t *lmap, vt_family_snap *fs)
{
	fs->name = f->name;
	fs->help = f->help;
	fs->kind = f->kind;
	fs->nseries = 0;
	fs->series = NULL;
	if (f->nseries == 0)
		return VT_OK;
	vt_series_snap *ss =
	    vt__arena_alloc(&b->arena, f->nseries * sizeof *ss, 8);
	if (ss == NULL ||
	    !reserve(&b->sv, &b->svcap, *nsv + f->nseries, sizeof *b->sv))
		return VT_ENOMEM;
	size_t ns = 0;
	size_t nfl = flt != NULL ? flt->nlabels : 0;
	for (size_t i = 0; i < f->nseries; i++) {
		if (i + AHEAD < f->nseries)
			__builtin_prefetch(f->series[i + AHEAD]);
		vt_series *s = f->series[i];
		size_t k = 0;
		while (k < nfl && strcmp(s->labels[lmap[k]].value,
					 flt->labels[k].value) == 0)
			k++;
		if (k < nfl)
			continue;
		vt_series_snap *sn = &ss[ns++];
		sn->labels = s->labels;
		sn->nlabels = f->nlabels;
		sn->created = s->created;
		b->sv[(*nsv)++] = s;
	}
	fs->nseries = ns;
	fs->series = ss;
	return VT_OK;
}

/* Fills in the values of the laid-out families fams[0..nf) from the
 * series in b->sv[0..nsv). Locks: m->shard_mtx. */
static vt_err fill_values(struct vt__snapbuf *b, const vt_metrics *m,
			  vt_family_snap *fams, size_t nf, size_t nsv,
			  size_t nidx, size_t ncounters)
{
	/* Shard by shard when the counters are a good part of all series:
	 * each shard read in order beats one line per (series, shard). */
	int by_shard = ncounters > 0 && ncounters * 4 >= nidx;
	if (by_shard) {
		if (!reserve(&b->acc, &b->acccap, nidx, sizeof *b->acc))
			return VT_ENOMEM;
		vt_err err = counters_by_shard(b, m, nidx);
		if (err != VT_OK)
			return err;
	}
	size_t k = 0;
	b->nhs = 0;
	for (size_t i = 0; i < nf; i++) {
		vt_family_snap *fs = &fams[i];
		vt_series_snap *ss = (vt_series_snap *)fs->series;
		for (size_t j = 0; j < fs->nseries; j++, k++) {
			if (k + AHEAD < nsv)
				__builtin_prefetch(b->sv[k + AHEAD]);
			vt_series *s = b->sv[k];
			vt_series_snap *sn = &ss[j];
			if (fs->kind == VT_COUNTER) {
				cacc a = by_shard ? b->acc[s->idx]
						  : counter_by_series(m, s);
				sn->value = (double)(s->dead_n + a.n) +
					    (s->dead_f + a.f);
			} else if (fs->kind == VT_GAUGE) {
				sn->value = gauge_value(s);
			} else {
				if (!reserve(&b->hs, &b->hscap, b->nhs + 1,
					     sizeof *b->hs))
					return VT_ENOMEM;
				b->hs[b->nhs++] = (struct hser){s, sn, 0};
			}
		}
	}
	return b->nhs > 0 ? hists_merge(b, m) : VT_OK;
}

vt_err vt_metrics_snapshot_take(vt_metrics *m, const vt_metrics_filter *filter,
				vt_metrics_snapshot **out)
{
	if (m == NULL || out == NULL)
		return VT_EINVAL;
	if (filter != NULL) {
		if (filter->nlabels > 0 && filter->labels == NULL)
			return VT_EINVAL;
		for (size_t i = 0; i < filter->nlabels; i++)
			if (filter->labels[i].name == NULL ||
			    filter->labels[i].value == NULL)
				return VT_EINVAL;
	}
	size_t lmap_small[VT_MAX_LABELS];
	size_t *lmap = lmap_small;
	if (filter != NULL && filter->nlabels > VT_MAX_LABELS &&
	    (lmap = malloc(filter->nlabels * sizeof *lmap)) == NULL)
		return VT_ENOMEM;
	vt_err err = VT_ENOMEM;
	struct vt__snapbuf *b = snapbuf_get(m->shared);
	if (b == NULL)
		goto fail_lmap;
	struct snap *sn = vt__arena_alloc(&b->arena, sizeof *sn, 8);
	if (sn == NULL)
		goto fail_buf;

	/* The skeleton, under the registry mutex. */
	pthread_mutex_lock(&m->mtx);
	err = VT_OK;
	size_t nidx = atomic_load_explicit(&m->nseries, memory_order_relaxed);
	size_t nf = 0, nsv = 0, ncounters = 0, nhist = 0;
	vt_family_snap *fams = NULL;
	if (m->nfams > 0 &&
	    (fams = vt__arena_alloc(&b->arena, m->nfams * sizeof *fams, 8)) ==
		NULL)
		err = VT_ENOMEM;
	for (size_t i = 0; err == VT_OK && i < m->nfams; i++) {
		const vt_family *f = m->fams[i];
		if (!family_selected(f, filter, lmap))
			continue;
		size_t nsv0 = nsv;
		err = family_skeleton(b, &nsv, f, filter, lmap, &fams[nf]);
		if (f->kind == VT_COUNTER)
			ncounters += nsv - nsv0;
		else if (f->kind == VT_HISTOGRAM)
			nhist += nsv - nsv0;
		/* With a label filter, families without a match are left
		 * out. */
		if (err == VT_OK && (fams[nf].nseries > 0 || filter == NULL ||
				     filter->nlabels == 0))
			nf++;
	}
	pthread_mutex_unlock(&m->mtx);
	if (err == VT_OK && nhist > 0 && b->hm == NULL) {
		if ((b->hm = calloc(1, sizeof *b->hm)) == NULL)
			err = VT_ENOMEM;
		else
			vt__hmerge_reset(b->hm, VT_MAX_LE_BOUNDS);
	}
	if (err != VT_OK)
		goto fail_buf;

	/* The values, under the shard mutex. */
	pthread_mutex_lock(&m->shard_mtx);
	vt__shards_fold_retired(m);
	err = fill_values(b, m, fams, nf, nsv, nidx, ncounters);
	/* Threads that exited meanwhile left their shards to us. */
	vt__shards_fold_retired(m);
	pthread_mutex_unlock(&m->shard_mtx);
	if (err != VT_OK)
		goto fail_buf;

	if (lmap != lmap_small)
		free(lmap);
	atomic_fetch_add_explicit(&m->shared->refs, 1, memory_order_relaxed);
	sn->shared = m->shared;
	sn->buf = b;
	sn->pub.nfamilies = nf;
	sn->pub.families = fams;
	*out = &sn->pub;
	return VT_OK;
fail_buf:
	/* A merge buffer left half-filled by a failed finish is emptied
	 * there (histogram.c), so b can be kept. */
	snapbuf_put(m->shared, b);
fail_lmap:
	if (lmap != lmap_small)
		free(lmap);
	return err;
}

void vt_metrics_snapshot_free(vt_metrics_snapshot *s)
{
	if (s == NULL)
		return;
	struct snap *sn = (struct snap *)s;
	vt__shared *sh = sn->shared;
	snapbuf_put(sh, sn->buf); /* sn is gone after this */
	vt__shared_put(sh);
}

double vt_series_quantile(const vt_series_snap *s, double q)
{
	return s != NULL ? vt__hsnap_quantile(s->buckets, q) : NAN;
}
