/*
 * snapshot.c - merging every shard into an immutable snapshot.
 *
 * Under the registry mutex (which thread exit also takes to fold a shard,
 * so no shard is freed or counted twice meanwhile) each selected series
 * sums its folded totals and every live shard: counters their integer
 * and fractional parts, histograms through a dense merge buffer turned
 * into sparse buckets, a summary and le counts (histogram.c). Writers
 * never wait: they do not take the mutex. Everything the snapshot points
 * to (names, labels, bounds, buckets) is a copy in one arena owned by the
 * snapshot and freed with it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/arena.h"
#include "metrics/histogram.h"
#include "metrics/registry.h"
#include "metrics/shard.h"

struct snap {
	vt_metrics_snapshot pub; /* first: the caller's pointer */
	vt__arena arena;
};

static double counter_value(const vt_metrics *m, const vt_series *s)
{
	uint64_t n = s->dead_n;
	double f = s->dead_f;
	for (const vt__shard *sh = m->shards; sh != NULL; sh = sh->next) {
		vt__chunk *c =
		    atomic_load_explicit(&sh->chunk[s->idx >> VT__CHUNK_SHIFT],
					 memory_order_acquire);
		if (c == NULL)
			continue;
		vt__slot *sl = &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
		n += atomic_load_explicit(&sl->c.n, memory_order_relaxed);
		f += atomic_load_explicit(&sl->c.f, memory_order_relaxed);
	}
	return (double)n + f;
}

static double gauge_value(vt_series *s)
{
	uint64_t u = atomic_load(&s->gauge);
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/* Prefetches what vt__hmerge_add will read of h: its header and le
 * counters now, its pages once the directory is in. */
static void hist_prefetch_header(const vt__hist *h, size_t nbounds)
{
	__builtin_prefetch(h);
	for (size_t j = 0; j < nbounds; j += 8)
		__builtin_prefetch(&h->below[j]);
}

static void hist_prefetch_pages(const vt__hist *h)
{
	for (int w = 0; w < 2; w++) {
		uint64_t bits =
		    atomic_load_explicit(&h->used[w], memory_order_relaxed);
		if (w == VT__USED_SPEC / 64)
			bits &= (UINT64_C(1) << (VT__USED_SPEC % 64)) - 1;
		while (bits != 0) {
			unsigned o =
			    (unsigned)w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			const char *pg = (const char *)atomic_load_explicit(
			    &h->dir[o], memory_order_relaxed);
			for (int k = 0; pg != NULL && k < VT__SUB * 8; k += 64)
				__builtin_prefetch(pg + k);
		}
	}
}

/* Merges series s from its folded totals and every shard. Histograms of
 * 16 shards at a time are prefetched in two steps (headers, then pages)
 * before they are read: the merge is bound by memory, not by work. */
static void hist_merge(vt__hmerge *hm, const vt_metrics *m, const vt_series *s)
{
	enum { BATCH = 16 };
	size_t nb = s->fam->nbounds;
	if (s->dead_h != NULL)
		vt__hmerge_add(hm, s->dead_h, nb);
	const vt__shard *sh = m->shards;
	while (sh != NULL) {
		const vt__hist *batch[BATCH];
		size_t n = 0;
		for (; sh != NULL && n < BATCH; sh = sh->next) {
			vt__chunk *c = atomic_load_explicit(
			    &sh->chunk[s->idx >> VT__CHUNK_SHIFT],
			    memory_order_acquire);
			if (c == NULL)
				continue;
			vt__slot *sl = &c->slot[s->idx & (VT__CHUNK_SLOTS - 1)];
			vt__hist *h =
			    atomic_load_explicit(&sl->h, memory_order_acquire);
			if (h == NULL)
				continue;
			hist_prefetch_header(h, nb);
			batch[n++] = h;
		}
		for (size_t i = 0; i < n; i++)
			hist_prefetch_pages(batch[i]);
		for (size_t i = 0; i < n; i++)
			vt__hmerge_add(hm, batch[i], nb);
	}
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

/* Copies family f (and its selected series) into fs. Locks: m->mtx. */
static vt_err family_snap(vt__arena *a, vt__hmerge **hmp, const vt_family *f,
			  const vt_metrics_filter *flt, const size_t *lmap,
			  vt_family_snap *fs)
{
	vt_metrics *m = f->reg;
	char **lnames = NULL;
	double *bounds = NULL;
	fs->name = vt__arena_strdup(a, f->name);
	fs->help = vt__arena_strdup(a, f->help);
	fs->kind = f->kind;
	if (fs->name == NULL || fs->help == NULL)
		return VT_ENOMEM;
	if (f->nlabels > 0) {
		lnames = vt__arena_alloc(a, f->nlabels * sizeof *lnames, 8);
		if (lnames == NULL)
			return VT_ENOMEM;
		for (size_t i = 0; i < f->nlabels; i++)
			if ((lnames[i] = vt__arena_strdup(
				 a, f->label_names[i])) == NULL)
				return VT_ENOMEM;
	}
	if (f->kind == VT_HISTOGRAM) {
		bounds = vt__arena_alloc(a, f->nbounds * sizeof *bounds, 8);
		if (bounds == NULL)
			return VT_ENOMEM;
		memcpy(bounds, f->bounds, f->nbounds * sizeof *bounds);
		if (*hmp == NULL) {
			if ((*hmp = calloc(1, sizeof **hmp)) == NULL)
				return VT_ENOMEM;
			vt__hmerge_reset(*hmp, VT_MAX_LE_BOUNDS);
		}
	}
	vt_series_snap *ss = NULL;
	if (f->nseries > 0 &&
	    (ss = vt__arena_alloc(a, f->nseries * sizeof *ss, 8)) == NULL)
		return VT_ENOMEM;
	size_t ns = 0;
	size_t nfl = flt != NULL ? flt->nlabels : 0;
	for (size_t i = 0; i < f->nseries; i++) {
		vt_series *s = f->series[i];
		size_t k = 0;
		while (k < nfl &&
		       strcmp(s->values[lmap[k]], flt->labels[k].value) == 0)
			k++;
		if (k < nfl)
			continue;
		vt_series_snap *sn = &ss[ns++];
		sn->nlabels = f->nlabels;
		if (f->nlabels > 0) {
			vt_label *l =
			    vt__arena_alloc(a, f->nlabels * sizeof *l, 8);
			if (l == NULL)
				return VT_ENOMEM;
			for (size_t j = 0; j < f->nlabels; j++) {
				l[j].name = lnames[j];
				l[j].value = vt__arena_strdup(a, s->values[j]);
				if (l[j].value == NULL)
					return VT_ENOMEM;
			}
			sn->labels = l;
		}
		if (f->kind == VT_COUNTER) {
			sn->value = counter_value(m, s);
		} else if (f->kind == VT_GAUGE) {
			sn->value = gauge_value(s);
		} else {
			hist_merge(*hmp, m, s);
			vt_err err = vt__hmerge_finish(
			    *hmp, bounds, f->bound_bucket, f->nbounds, a,
			    &sn->hist, &sn->buckets);
			if (err != VT_OK)
				return err;
		}
	}
	fs->nseries = ns;
	fs->series = ss;
	return VT_OK;
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
	struct snap *s = calloc(1, sizeof *s);
	if (s == NULL)
		return VT_ENOMEM;
	vt__arena_init(&s->arena, 16384, 1 << 20);
	vt__hmerge *hm = NULL;
	size_t lmap_small[VT_MAX_LABELS];
	size_t *lmap = lmap_small;
	vt_err err = VT_OK;
	if (filter != NULL && filter->nlabels > VT_MAX_LABELS &&
	    (lmap = malloc(filter->nlabels * sizeof *lmap)) == NULL) {
		err = VT_ENOMEM;
		goto fail;
	}

	pthread_mutex_lock(&m->mtx);
	vt_family_snap *fams = NULL;
	size_t nf = 0;
	if (m->nfams > 0 &&
	    (fams = vt__arena_alloc(&s->arena, m->nfams * sizeof *fams, 8)) ==
		NULL)
		err = VT_ENOMEM;
	for (size_t i = 0; err == VT_OK && i < m->nfams; i++) {
		const vt_family *f = m->fams[i];
		if (!family_selected(f, filter, lmap))
			continue;
		err = family_snap(&s->arena, &hm, f, filter, lmap, &fams[nf]);
		/* With a label filter, families without a match are left
		 * out. */
		if (err == VT_OK && (fams[nf].nseries > 0 || filter == NULL ||
				     filter->nlabels == 0))
			nf++;
	}
	pthread_mutex_unlock(&m->mtx);
	if (err != VT_OK)
		goto fail;
	s->pub.nfamilies = nf;
	s->pub.families = fams;
	free(hm);
	if (lmap != lmap_small)
		free(lmap);
	*out = &s->pub;
	return VT_OK;
fail:
	free(hm);
	if (lmap != lmap_small)
		free(lmap);
	vt__arena_fini(&s->arena);
	free(s);
	return err;
}

void vt_metrics_snapshot_free(vt_metrics_snapshot *s)
{
	if (s == NULL)
		return;
	struct snap *sn = (struct snap *)s;
	vt__arena_fini(&sn->arena);
	free(sn);
}

double vt_series_quantile(const vt_series_snap *s, double q)
{
	return s != NULL ? vt__hsnap_quantile(s->buckets, q) : NAN;
}
