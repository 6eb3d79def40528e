/*
 * snapshot.c - vt_metrics_snapshot_take: the read side as a pipeline.
 *
 *   shards (shard.c)  each writing thread's slots, histograms and pages
 *     -> fold (fold.c)     exited threads' shards added into the totals
 *     -> merge (merge.c)   totals + live shards summed per series, or a
 *                          histogram's kept result when nothing changed
 *     -> finish (finish.c) buckets, summary, le counts, percentiles
 *
 * Each stage owns its data (the shards, the totals, the merge scratch,
 * the snapshot's arrays and each series' kept result) and calls only the
 * stages after it; this file drives them and owns the snapshot's memory.
 *
 * Two steps. Under the registry mutex, briefly, the snapshot's skeleton
 * is laid out: the selected families and series, in order, pointing at
 * the registry's interned names, label arrays and bounds (registry.c),
 * which never change; series created later are simply not in it. Then,
 * under reg->shard_mtx (which folding a retired shard also takes, so no
 * shard is freed or counted twice meanwhile): fold, merge and finish;
 * shards retired meanwhile are folded after. Writers never wait: they
 * take no lock. Neither do exiting threads nor a thread's first write
 * (shard.c).
 *
 * Memory. A snapshot's arrays live in the arena of a vt__snapbuf, with
 * the merge stage's scratch. Freeing a snapshot hands its snapbuf back to
 * the registry's vt__shared (up to VT__SPARE_SNAPBUFS are kept) and the
 * next snapshot reuses it: a steady scraper neither mallocs nor faults
 * in fresh pages. A snapshot holds a reference to vt__shared, so its
 * strings stay valid after the registry is freed.
 *
 * One destructor. vt_metrics_snapshot_free also frees the snapshots that
 * do not come from a registry (a snapshot decoded from the RPC,
 * src/encode/protobuf.c): those are one block from
 * vt__metrics_snapshot_block.
 */
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/arena.h"
#include "metrics/finish.h"
#include "metrics/fold.h"
#include "metrics/merge.h"
#include "metrics/registry.h"
#include "metrics/shared.h"
#include "metrics/snapshot.h"

/* How many series ahead the skeleton walk prefetches. */
enum { AHEAD = 8 };

/* A snapshot's memory, kept for the next one. */
struct vt__snapbuf {
	vt__arena arena; /* everything the snapshot points to */
	vt__merge merge; /* the merge stage's scratch */
	/* The selected series and their entries, in snapshot order. */
	vt_series **sv;
	vt_series_snap **sn;
	size_t svcap;
};

struct snap {
	vt_metrics_snapshot pub; /* first: the caller's pointer */
	vt__shared *shared;	 /* NULL: a single block (free()) */
	struct vt__snapbuf *buf; /* holds this struct */
	alignas(max_align_t) char data[];
};

static void snapbuf_free(void *p)
{
	struct vt__snapbuf *b = p;
	if (b == NULL)
		return;
	vt__arena_fini(&b->arena);
	vt__merge_fini(&b->merge);
	free(b->sv);
	free(b->sn);
	free(b);
}

/* A spare snapbuf of sh, else a new one; NULL when out of memory. */
static struct vt__snapbuf *snapbuf_get(vt__shared *sh)
{
	struct vt__snapbuf *b = vt__shared_take(sh);
	if (b == NULL && (b = calloc(1, sizeof *b)) != NULL)
		vt__arena_init(&b->arena, 16384, 1 << 20);
	return b;
}

/* Empties b and keeps it in sh for the next snapshot, or frees it. */
static void snapbuf_put(vt__shared *sh, struct vt__snapbuf *b)
{
	vt__arena_reset(&b->arena);
	if (!vt__shared_keep(sh, b, snapbuf_free))
		snapbuf_free(b);
}

/* Room for n selected series in b. */
static int snapbuf_reserve(struct vt__snapbuf *b, size_t n)
{
	if (n <= b->svcap)
		return 1;
	size_t cap = b->svcap ? b->svcap : 64;
	while (cap < n)
		cap *= 2;
	vt_series **sv = realloc(b->sv, cap * sizeof *sv);
	if (sv == NULL)
		return 0;
	b->sv = sv;
	vt_series_snap **sn = realloc(b->sn, cap * sizeof *sn);
	if (sn == NULL)
		return 0;
	b->sn = sn;
	b->svcap = cap;
	return 1;
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
 * series and their entries to b->sv and b->sn at *nsv. Locks: m->mtx. */
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
	if (ss == NULL || !snapbuf_reserve(b, *nsv + f->nseries))
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
		b->sv[*nsv] = s;
		b->sn[(*nsv)++] = sn;
	}
	fs->nseries = ns;
	fs->series = ss;
	return VT_OK;
}

/* Lays out the selected families of m into *fams (*nf of them) and their
 * series into b->sv/b->sn (*nsv); *nidx and *ncounters for the merge.
 * Locks: m->mtx. */
static vt_err skeleton(struct vt__snapbuf *b, const vt_metrics *m,
		       const vt_metrics_filter *filter, size_t *lmap,
		       vt_family_snap **fams, size_t *nf, size_t *nsv,
		       size_t *nidx, size_t *ncounters)
{
	*nidx = atomic_load_explicit(&m->nseries, memory_order_relaxed);
	*fams = NULL;
	*nf = *nsv = *ncounters = 0;
	if (m->nfams > 0 &&
	    (*fams = vt__arena_alloc(&b->arena, m->nfams * sizeof **fams, 8)) ==
		NULL)
		return VT_ENOMEM;
	for (size_t i = 0; i < m->nfams; i++) {
		const vt_family *f = m->fams[i];
		if (!family_selected(f, filter, lmap))
			continue;
		size_t nsv0 = *nsv;
		vt_err err =
		    family_skeleton(b, nsv, f, filter, lmap, &(*fams)[*nf]);
		if (err != VT_OK)
			return err;
		if (f->kind == VT_COUNTER)
			*ncounters += *nsv - nsv0;
		/* With a label filter, families without a match are left
		 * out. */
		if ((*fams)[*nf].nseries > 0 || filter == NULL ||
		    filter->nlabels == 0)
			(*nf)++;
	}
	return VT_OK;
}

/* VT_EINVAL for a filter with a missing label name or value. */
static vt_err filter_check(const vt_metrics_filter *filter)
{
	if (filter == NULL)
		return VT_OK;
	if (filter->nlabels > 0 && filter->labels == NULL)
		return VT_EINVAL;
	for (size_t i = 0; i < filter->nlabels; i++)
		if (filter->labels[i].name == NULL ||
		    filter->labels[i].value == NULL)
			return VT_EINVAL;
	return VT_OK;
}

vt_err vt_metrics_snapshot_take(vt_metrics *m, const vt_metrics_filter *filter,
				vt_metrics_snapshot **out)
{
	if (m == NULL || out == NULL || filter_check(filter) != VT_OK)
		return VT_EINVAL;
	size_t lmap_small[VT_MAX_LABELS];
	size_t *lmap = lmap_small;
	if (filter != NULL && filter->nlabels > VT_MAX_LABELS &&
	    (lmap = malloc(filter->nlabels * sizeof *lmap)) == NULL)
		return VT_ENOMEM;
	vt_err err = VT_ENOMEM;
	struct vt__snapbuf *b = snapbuf_get(m->shared);
	if (b == NULL)
		goto out;
	struct snap *sn = vt__arena_alloc(&b->arena, sizeof *sn, 8);
	if (sn == NULL)
		goto fail_buf;

	/* The skeleton, under the registry mutex. */
	vt_family_snap *fams;
	size_t nf, nsv, nidx, ncounters;
	pthread_mutex_lock(&m->mtx);
	err = skeleton(b, m, filter, lmap, &fams, &nf, &nsv, &nidx, &ncounters);
	pthread_mutex_unlock(&m->mtx);
	if (err != VT_OK)
		goto fail_buf;

	/* fold -> merge -> finish, under the shard mutex. */
	pthread_mutex_lock(&m->shard_mtx);
	vt__fold_retired(m);
	err = vt__merge_values(&b->merge, m, b->sv, b->sn, nsv, nidx, ncounters,
			       &b->arena);
	/* Threads that exited meanwhile left their shards to us. */
	vt__fold_retired(m);
	pthread_mutex_unlock(&m->shard_mtx);
	if (err != VT_OK)
		goto fail_buf;

	vt__shared_get(m->shared);
	sn->shared = m->shared;
	sn->buf = b;
	sn->pub.nfamilies = nf;
	sn->pub.families = fams;
	*out = &sn->pub;
	goto out;
fail_buf:
	/* A merge buffer left half-filled by a failed finish is emptied
	 * there (finish.c), so b can be kept. */
	snapbuf_put(m->shared, b);
out:
	if (lmap != lmap_small)
		free(lmap);
	return err;
}

vt_metrics_snapshot *vt__metrics_snapshot_block(size_t size, void **mem)
{
	struct snap *sn = calloc(1, sizeof *sn + size);
	if (sn == NULL)
		return NULL;
	*mem = sn->data;
	return &sn->pub;
}

void vt_metrics_snapshot_free(vt_metrics_snapshot *s)
{
	if (s == NULL)
		return;
	struct snap *sn = (struct snap *)s;
	vt__shared *sh = sn->shared;
	if (sh == NULL) {
		free(sn);
		return;
	}
	snapbuf_put(sh, sn->buf); /* sn is gone after this */
	vt__shared_put(sh);
}

/* ---- equality ---------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* n items of size bytes each at a and b: the same bits. */
static bool mem_eq(const void *a, const void *b, size_t n, size_t size)
{
	return n == 0 || a == b ||
	       (a != NULL && b != NULL && memcmp(a, b, n * size) == 0);
}

static bool buckets_eq(const vt_hist_buckets *a, const vt_hist_buckets *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	return a->count == b->count && a->n == b->n &&
	       mem_eq(&a->min, &b->min, 1, sizeof a->min) &&
	       mem_eq(&a->max, &b->max, 1, sizeof a->max) &&
	       mem_eq(a->idx, b->idx, a->n, sizeof *a->idx) &&
	       mem_eq(a->cnt, b->cnt, a->n, sizeof *a->cnt);
}

static bool summary_eq(const vt_hist_summary *a, const vt_hist_summary *b)
{
	/* count .. p999: the scalar fields, laid out before nbounds. */
	size_t scalars = offsetof(vt_hist_summary, nbounds);
	return memcmp(a, b, scalars) == 0 && a->nbounds == b->nbounds &&
	       mem_eq(a->le_bounds, b->le_bounds, a->nbounds,
		      sizeof *a->le_bounds) &&
	       mem_eq(a->le_cumulative, b->le_cumulative,
		      a->le_cumulative != NULL ? a->nbounds + 1 : 0,
		      sizeof *a->le_cumulative) &&
	       (a->le_cumulative == NULL) == (b->le_cumulative == NULL);
}

static bool series_eq(const vt_series_snap *a, const vt_series_snap *b,
		      bool hist)
{
	if (a->nlabels != b->nlabels ||
	    !mem_eq(&a->value, &b->value, 1, sizeof a->value) ||
	    !mem_eq(&a->created, &b->created, 1, sizeof a->created))
		return false;
	if (a->labels != b->labels && a->nlabels > 0) {
		if (a->labels == NULL || b->labels == NULL)
			return false;
		for (size_t i = 0; i < a->nlabels; i++)
			if (!str_eq(a->labels[i].name, b->labels[i].name) ||
			    !str_eq(a->labels[i].value, b->labels[i].value))
				return false;
	}
	return !hist || (summary_eq(&a->hist, &b->hist) &&
			 buckets_eq(a->buckets, b->buckets));
}

bool vt__metrics_snapshot_equal(const vt_metrics_snapshot *a,
				const vt_metrics_snapshot *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL || a->nfamilies != b->nfamilies)
		return false;
	for (size_t i = 0; i < a->nfamilies; i++) {
		const vt_family_snap *fa = &a->families[i],
				     *fb = &b->families[i];
		if (fa->kind != fb->kind || fa->nseries != fb->nseries ||
		    !str_eq(fa->name, fb->name) || !str_eq(fa->help, fb->help))
			return false;
		for (size_t j = 0; j < fa->nseries; j++)
			if (!series_eq(&fa->series[j], &fb->series[j],
				       fa->kind == VT_HISTOGRAM))
				return false;
	}
	return true;
}

double vt_series_quantile(const vt_series_snap *s, double q)
{
	return s != NULL ? vt__buckets_quantile(s->buckets, q) : NAN;
}
