/*
 * registry.c - metric families, their series, and lookup by name.
 *
 * A registry (vt_metrics) holds families sorted by name; a family holds
 * its series sorted by label values. Registration and series creation
 * take the registry mutex; they are slow paths. Each series gets an idx,
 * its slot number in every thread's shard (shard.c).
 *
 * Lookup without a lock: families are also in a hash table keyed by name
 * (vt_metrics.ftab), and the series of a labelled family in a table keyed
 * by their label values in family order (vt_family.stab) - together the
 * canonical "name{labels in family order}". Tables use open addressing
 * with linear probing at load <= 1/2; the one writer (under the mutex)
 * fills empty slots with release stores, and growth builds a new table,
 * publishes it with a release store and keeps the old one readable until
 * the registry is freed. A reader that misses in an outgrown table falls
 * back to the locked path, which finds the entry. The by-name API
 * (vt_metrics_increment, ...) and vt_family_series cost two such lookups once
 * the series exists.
 *
 * Strings. Family names, help texts, label names, each series' label
 * array (vt_label: name and value) and le bounds are interned once, in
 * the arena of the registry's vt__shared, and never change: snapshots
 * point at them instead of copying them, and hold a reference to
 * vt__shared so they stay valid after the registry is freed. Series are
 * also numbered (idx) in a chunked directory (vt_metrics.sdir) that
 * fold.c reads without the registry mutex when it folds a shard.
 *
 * Place. This file creates and frees what every stage of the read side
 * (shard, fold, merge, finish: snapshot.c) works on, so it sits above
 * them: it calls them (to free the shards, the kept results and the
 * shared strings, and to give shard.c its fold hook), and none of them
 * calls it.
 *
 * Names. Besides the Prometheus rules (names.c), a family whose
 * Prometheus exposition would reuse a sample name of another family is
 * refused: a counter is exposed as NAME_total (NAME when it already ends
 * in _total), a histogram as NAME_bucket, NAME_sum, NAME_count. So
 * counters "x" and "x_total" cannot both exist (VT_EEXIST), nor counter
 * "x" and gauge "x_total" (VT_EKIND).
 *
 * Removal (the section at the end): a removed series or family leaves
 * the sorted arrays that snapshots lay out from and is marked removed;
 * lookups pass it over and put a new one in its table slot; its memory
 * stays until the registry is freed, for the handles writers still hold.
 *
 * Locks: only m->mtx here (registry.h has the whole picture).
 */
#include "metrics/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/finish.h"
#include "metrics/fold.h"
#include "metrics/names.h"
#include "metrics/shard.h"

static _Atomic uint64_t next_id = 1;

/*
 * Lock-free tables.
 */

typedef int (*eq_fn)(const vt__hnode *n, const void *key);

static vt__htab *htab_new(size_t cap)
{
	vt__htab *t = calloc(1, sizeof *t + cap * sizeof t->slot[0]);
	if (t != NULL)
		t->mask = cap - 1;
	return t;
}

/* Entry with this hash for which eq holds, or NULL. Lock-free. */
static vt__hnode *htab_find(_Atomic(vt__htab *) *tp, uint64_t hash, eq_fn eq,
			    const void *key)
{
	vt__htab *t = atomic_load_explicit(tp, memory_order_acquire);
	if (t == NULL)
		return NULL;
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		vt__hnode *n =
		    atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (n == NULL)
			return NULL;
		if (n->hash == hash && eq(n, key))
			return n;
	}
}

static void htab_place(vt__htab *t, vt__hnode *node)
{
	size_t i = node->hash & t->mask;
	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != NULL)
		i = (i + 1) & t->mask;
	atomic_store_explicit(&t->slot[i], node, memory_order_release);
	t->used++;
}

/* Makes room for one more entry in *tp, growing it if needed.
 * Locks: caller holds m->mtx. */
static vt_err htab_reserve(vt_metrics *m, _Atomic(vt__htab *) *tp)
{
	vt__htab *t = atomic_load_explicit(tp, memory_order_relaxed);
	if (t != NULL && (t->used + 1) * 2 <= t->mask + 1)
		return VT_OK;
	vt__htab *nt = htab_new(t != NULL ? (t->mask + 1) * 2 : 16);
	if (nt == NULL)
		return VT_ENOMEM;
	if (t != NULL) {
		for (size_t i = 0; i <= t->mask; i++) {
			vt__hnode *n = atomic_load_explicit(
			    &t->slot[i], memory_order_relaxed);
			if (n != NULL)
				htab_place(nt, n);
		}
		t->retired = m->retired;
		m->retired = t;
	}
	atomic_store_explicit(tp, nt, memory_order_release);
	return VT_OK;
}

/* Adds node, or puts it in the slot of the (removed) entry with the same
 * key, so that a key has one entry however often it is removed and
 * created again; htab_reserve must have succeeded. Locks: m->mtx. */
static void htab_put(_Atomic(vt__htab *) *tp, vt__hnode *node, eq_fn eq,
		     const void *key)
{
	vt__htab *t = atomic_load_explicit(tp, memory_order_relaxed);
	for (size_t i = node->hash & t->mask;; i = (i + 1) & t->mask) {
		vt__hnode *n =
		    atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		if (n == NULL)
			break;
		if (n->hash == node->hash && eq(n, key)) {
			atomic_store_explicit(&t->slot[i], node,
					      memory_order_release);
			return;
		}
	}
	htab_place(t, node);
}

static uint64_t name_hash(const char *name)
{
	return vt__hash_final(
	    vt__hash_bytes(VT__HASH_SEED, name, strlen(name)));
}

static uint64_t values_hash(const char *const *values, size_t n)
{
	uint64_t h = VT__HASH_SEED;
	for (size_t i = 0; i < n; i++)
		h = vt__hash_bytes(h, values[i], strlen(values[i]) + 1);
	return vt__hash_final(h);
}

static int family_eq(const vt__hnode *n, const void *key)
{
	return strcmp(((const vt_family *)n)->name, key) == 0;
}

static int values_cmp(const vt_label *a, const char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = strcmp(a[i].value, b[i]);
		if (c != 0)
			return c;
	}
	return 0;
}

struct values_key {
	const char *const *values;
	size_t n;
};

static int series_eq(const vt__hnode *n, const void *key)
{
	const struct values_key *k = key;
	return values_cmp(((const vt_series *)n)->labels, k->values, k->n) == 0;
}

static bool family_removed(const vt_family *f)
{
	return atomic_load_explicit(&f->removed, memory_order_acquire);
}

static bool series_removed(const vt_series *s)
{
	return atomic_load_explicit(&s->removed, memory_order_acquire);
}

/* The live family named name, or NULL. Lock-free, or under m->mtx. */
static vt_family *family_find(vt_metrics *m, const char *name)
{
	vt_family *f =
	    (vt_family *)htab_find(&m->ftab, name_hash(name), family_eq, name);
	return f != NULL && !family_removed(f) ? f : NULL;
}

/*
 * Registry.
 */

vt_err vt_metrics_alloc(vt_metrics **out)
{
	if (out == NULL)
		return VT_EINVAL;
	vt_metrics *m = calloc(1, sizeof *m);
	vt__shared *sh = vt__shared_new();
	if (m == NULL || sh == NULL)
		goto fail;
	if (pthread_mutex_init(&m->mtx, NULL) != 0)
		goto fail;
	if (pthread_mutex_init(&m->shard_mtx, NULL) != 0)
		goto fail_mtx;
	m->shared = sh;
	m->id = atomic_fetch_add(&next_id, 1);
	m->fold_retired = vt__fold_retired;
	vt__arena_init(&m->arena, 4096, 65536);
	*out = m;
	return VT_OK;
fail_mtx:
	pthread_mutex_destroy(&m->mtx);
fail:
	vt__shared_put(sh);
	free(m);
	return VT_ENOMEM;
}

/* Frees f but not its series, which vt_metrics_free frees by idx. */
static void family_free(vt_family *f)
{
	if (f == NULL)
		return;
	free(f->series);
	free(atomic_load_explicit(&f->stab, memory_order_relaxed));
	free(f->bound_bucket);
	free(f);
}

void vt_metrics_free(vt_metrics *m)
{
	if (m == NULL)
		return;
	vt__shards_release(m);
	/* Every series ever created, removed ones included, is in sdir. */
	size_t n = atomic_load_explicit(&m->nseries, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		vt_series *s = vt__series_at(m, i);
		vt__hcache_free(s->hcache);
		free(s);
	}
	for (size_t i = 0; i < m->nfams; i++)
		family_free(m->fams[i]);
	free(m->fams);
	while (m->gone != NULL) {
		vt_family *f = m->gone;
		m->gone = f->gone_next;
		family_free(f);
	}
	for (size_t i = 0; i < VT__MAX_CHUNKS; i++)
		free(m->sdir[i]);
	while (m->retired != NULL) {
		vt__htab *t = m->retired;
		m->retired = t->retired;
		free(t);
	}
	free(atomic_load_explicit(&m->ftab, memory_order_relaxed));
	vt__arena_fini(&m->arena);
	vt__shared_close(m->shared);
	vt__shared_put(m->shared);
	pthread_mutex_destroy(&m->shard_mtx);
	pthread_mutex_destroy(&m->mtx);
	free(m);
}

/*
 * Series.
 */

/* Grows *arr (elements of size es) to hold one more than *len. */
static int grow(void *arr, size_t *cap, size_t len, size_t es)
{
	if (len < *cap)
		return 1;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p = realloc(*(void **)arr, ncap * es);
	if (p == NULL)
		return 0;
	*(void **)arr = p;
	*cap = ncap;
	return 1;
}

/* Interned label array of f for these values. Locks: m->mtx. */
static const vt_label *labels_intern(vt_family *f, const char *const *values)
{
	vt__arena *a = &f->reg->shared->strings;
	vt_label *l = vt__arena_alloc(a, f->nlabels * sizeof *l, 8);
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < f->nlabels; i++) {
		l[i].name = f->label_names[i];
		if ((l[i].value = vt__arena_strdup(a, values[i])) == NULL)
			return NULL;
	}
	return l;
}

/* Creates the series of f with these (valid) values. Locks: m->mtx. */
static vt_err series_create(vt_family *f, const char *const *values,
			    uint64_t hash, vt_series **out)
{
	vt_metrics *m = f->reg;
	size_t idx = atomic_load_explicit(&m->nseries, memory_order_relaxed);
	if (idx >= VT__MAX_SERIES)
		return VT_EFULL;
	if (!grow(&f->series, &f->cap, f->nseries, sizeof *f->series))
		return VT_ENOMEM;
	if (f->nlabels > 0 && htab_reserve(m, &f->stab) != VT_OK)
		return VT_ENOMEM;
	vt_series ***dir = &m->sdir[idx >> VT__CHUNK_SHIFT];
	if (*dir == NULL &&
	    (*dir = calloc(VT__CHUNK_SLOTS, sizeof **dir)) == NULL)
		return VT_ENOMEM;
	const vt_label *labels = NULL;
	if (f->nlabels > 0 && (labels = labels_intern(f, values)) == NULL)
		return VT_ENOMEM;
	vt_series *s = aligned_alloc(64, sizeof *s);
	if (s == NULL)
		return VT_ENOMEM;
	memset(s, 0, sizeof *s);
	s->labels = labels;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	s->created = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	s->hnode.hash = hash;
	s->reg_id = m->id;
	s->idx = (uint32_t)idx;
	s->key = vt__chunk_key(m->id, s->idx);
	s->kind = (uint8_t)f->kind;
	s->fam = f;
	atomic_init(&s->gauge, 0); /* bits of 0.0 */

	/* Sorted insert by label values. */
	size_t lo = 0, hi = f->nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (values_cmp(f->series[mid]->labels, values, f->nlabels) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&f->series[lo + 1], &f->series[lo],
		(f->nseries - lo) * sizeof *f->series);
	f->series[lo] = s;
	f->nseries++;
	(*dir)[idx & (VT__CHUNK_SLOTS - 1)] = s;
	atomic_store_explicit(&m->nseries, idx + 1, memory_order_release);
	if (f->nlabels > 0) {
		struct values_key key = {values, f->nlabels};
		htab_put(&f->stab, &s->hnode, series_eq, &key);
	}
	*out = s;
	return VT_OK;
}

vt_err vt_family_series(vt_family *f, const char *const *values, size_t nvalues,
			struct vt_series **out)
{
	if (f == NULL || out == NULL || nvalues != f->nlabels ||
	    (nvalues > 0 && values == NULL))
		return VT_EINVAL;
	if (family_removed(f))
		return VT_ENOENT;
	if (nvalues == 0) {
		*out = f->series0;
		return VT_OK;
	}
	for (size_t i = 0; i < nvalues; i++)
		if (values[i] == NULL ||
		    strnlen(values[i], VT_MAX_LABEL_VALUE_LEN + 1) >
			VT_MAX_LABEL_VALUE_LEN)
			return VT_EINVAL;
	uint64_t h = values_hash(values, nvalues);
	struct values_key key = {values, nvalues};
	vt_series *s = (vt_series *)htab_find(&f->stab, h, series_eq, &key);
	if (s != NULL && !series_removed(s)) {
		*out = s;
		return VT_OK;
	}
	for (size_t i = 0; i < nvalues; i++)
		if (!vt__label_value_valid(values[i]))
			return VT_EINVAL;
	vt_metrics *m = f->reg;
	vt_err err = VT_OK;
	pthread_mutex_lock(&m->mtx);
	s = (vt_series *)htab_find(&f->stab, h, series_eq, &key);
	if (family_removed(f))
		err = VT_ENOENT;
	else if (s == NULL || series_removed(s))
		err = series_create(f, values, h, &s);
	pthread_mutex_unlock(&m->mtx);
	if (err == VT_OK)
		*out = s;
	return err;
}

/*
 * Families.
 */

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Whether family g's Prometheus exposition uses the name x. */
static int exposes(const vt_family *g, const char *x)
{
	size_t n = strlen(g->name);
	if (strcmp(g->name, x) == 0)
		return g->kind != VT_COUNTER || has_suffix(g->name, "_total");
	if (strncmp(x, g->name, n) != 0)
		return 0;
	const char *suf = x + n;
	if (g->kind == VT_COUNTER)
		return !has_suffix(g->name, "_total") &&
		       strcmp(suf, "_total") == 0;
	if (g->kind == VT_HISTOGRAM)
		return strcmp(suf, "_bucket") == 0 ||
		       strcmp(suf, "_sum") == 0 || strcmp(suf, "_count") == 0;
	return 0;
}

/* VT_EEXIST / VT_EKIND when a new family (kind, name) would expose a
 * name another family exposes. Locks: m->mtx. */
static vt_err exposition_clash(vt_metrics *m, vt_metric_kind kind,
			       const char *name)
{
	static const char *const suffixes[] = {"_total", "_bucket", "_sum",
					       "_count"};
	char x[4][VT_MAX_NAME_LEN + 16];
	size_t nx = 0;
	if (kind == VT_COUNTER && !has_suffix(name, "_total"))
		snprintf(x[nx++], sizeof x[0], "%s_total", name);
	else
		snprintf(x[nx++], sizeof x[0], "%s", name);
	if (kind == VT_HISTOGRAM)
		for (int i = 1; i < 4; i++)
			snprintf(x[nx++], sizeof x[0], "%s%s", name,
				 suffixes[i]);
	for (size_t i = 0; i < nx; i++) {
		char cand[VT_MAX_NAME_LEN + 16];
		for (int k = -1; k < 4; k++) {
			size_t xl = strnlen(x[i], sizeof cand - 1);
			memcpy(cand, x[i], xl);
			cand[xl] = '\0';
			if (k >= 0) {
				if (!has_suffix(cand, suffixes[k]))
					continue;
				cand[strlen(cand) - strlen(suffixes[k])] = '\0';
			}
			if (strcmp(cand, name) == 0)
				continue;
			vt_family *g = family_find(m, cand);
			if (g != NULL && exposes(g, x[i]))
				return g->kind != kind ? VT_EKIND : VT_EEXIST;
		}
	}
	return VT_OK;
}

/* Whether existing family f has this shape. */
static vt_err family_same(const vt_family *f, vt_metric_kind kind,
			  const char *const *label_names, size_t nlabels,
			  const double *bounds, size_t nbounds)
{
	if (f->kind != kind)
		return VT_EKIND;
	if (f->nlabels != nlabels)
		return VT_EEXIST;
	for (size_t i = 0; i < nlabels; i++)
		if (strcmp(f->label_names[i], label_names[i]) != 0)
			return VT_EEXIST;
	if (kind == VT_HISTOGRAM &&
	    (f->nbounds != nbounds ||
	     memcmp(f->bounds, bounds, nbounds * sizeof *bounds) != 0))
		return VT_EEXIST;
	return VT_OK;
}

/* A new family; its strings and bounds are interned in m->shared.
 * Locks: m->mtx. */
static vt_family *family_new(vt_metrics *m, vt_metric_kind kind,
			     const char *name, const char *help,
			     const char *const *label_names, size_t nlabels,
			     const double *bounds, size_t nbounds)
{
	vt__arena *a = &m->shared->strings;
	vt_family *f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->reg = m;
	f->kind = kind;
	f->hnode.hash = name_hash(name);
	f->name = vt__arena_strdup(a, name);
	f->help = vt__arena_strdup(a, help != NULL ? help : "");
	if (f->name == NULL || f->help == NULL)
		goto fail;
	if (nlabels > 0) {
		const char **ln = vt__arena_alloc(a, nlabels * sizeof *ln, 8);
		if (ln == NULL)
			goto fail;
		for (size_t i = 0; i < nlabels; i++)
			if ((ln[i] = vt__arena_strdup(a, label_names[i])) ==
			    NULL)
				goto fail;
		f->label_names = ln;
		f->nlabels = nlabels;
	}
	if (kind == VT_HISTOGRAM) {
		double *b = vt__arena_alloc(a, nbounds * sizeof *b, 8);
		f->bound_bucket = malloc(nbounds * sizeof *f->bound_bucket);
		if (b == NULL || f->bound_bucket == NULL)
			goto fail;
		memcpy(b, bounds, nbounds * sizeof *bounds);
		f->bounds = b;
		f->nbounds = nbounds;
		vt__hist_le_init(f->bounds, nbounds, f->bound_bucket,
				 f->straddle, f->octave_bounds,
				 f->octave_first);
	}
	return f;
fail:
	family_free(f);
	return NULL;
}

/* Registers (or returns the existing) family; see metrics.h. */
static vt_err family_get(vt_metrics *m, vt_metric_kind kind, const char *name,
			 const char *help, const char *const *label_names,
			 size_t nlabels, const double *bounds, size_t nbounds,
			 vt_family **out)
{
	if (m == NULL || out == NULL || !vt_metric_name_valid(name) ||
	    nlabels > VT_MAX_LABELS || (nlabels > 0 && label_names == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < nlabels; i++) {
		if (!vt_label_name_valid(label_names[i]))
			return VT_EINVAL;
		if (kind == VT_HISTOGRAM && strcmp(label_names[i], "le") == 0)
			return VT_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(label_names[i], label_names[j]) == 0)
				return VT_EINVAL;
	}
	if (kind == VT_HISTOGRAM) {
		if (bounds == NULL || nbounds == 0) {
			bounds = vt_default_le_bounds;
			nbounds = vt_default_le_nbounds;
		}
		if (nbounds > VT_MAX_LE_BOUNDS)
			return VT_EINVAL;
		for (size_t j = 0; j < nbounds; j++)
			if (!isfinite(bounds[j]) ||
			    (j > 0 && !(bounds[j] > bounds[j - 1])))
				return VT_EINVAL;
	} else {
		bounds = NULL;
		nbounds = 0;
	}

	vt_err err = VT_OK;
	vt_family *f = NULL;
	pthread_mutex_lock(&m->mtx);
	vt_family *old = family_find(m, name);
	if (old != NULL) {
		err = family_same(old, kind, label_names, nlabels, bounds,
				  nbounds);
		if (err == VT_OK)
			*out = old;
		goto out;
	}
	if ((err = exposition_clash(m, kind, name)) != VT_OK)
		goto out;
	/* Checked first: a refused family must not leave interned strings
	 * behind. */
	err = VT_EFULL;
	if (nlabels == 0 &&
	    atomic_load_explicit(&m->nseries, memory_order_relaxed) >=
		VT__MAX_SERIES)
		goto out;
	err = VT_ENOMEM;
	if (!grow(&m->fams, &m->fcap, m->nfams, sizeof *m->fams) ||
	    htab_reserve(m, &m->ftab) != VT_OK)
		goto out;
	f = family_new(m, kind, name, help, label_names, nlabels, bounds,
		       nbounds);
	if (f == NULL)
		goto out;
	if (nlabels == 0 && (err = series_create(f, NULL, values_hash(NULL, 0),
						 &f->series0)) != VT_OK) {
		family_free(f);
		goto out;
	}
	size_t lo = 0, hi = m->nfams;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(m->fams[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&m->fams[lo + 1], &m->fams[lo],
		(m->nfams - lo) * sizeof *m->fams);
	m->fams[lo] = f;
	m->nfams++;
	htab_put(&m->ftab, &f->hnode, family_eq, name);
	*out = f;
	err = VT_OK;
out:
	pthread_mutex_unlock(&m->mtx);
	return err;
}

vt_err vt_metrics_counter_family(vt_metrics *m, const char *name,
				 const char *help,
				 const char *const *label_names, size_t nlabels,
				 vt_family **out)
{
	return family_get(m, VT_COUNTER, name, help, label_names, nlabels, NULL,
			  0, out);
}

vt_err vt_metrics_gauge_family(vt_metrics *m, const char *name,
			       const char *help, const char *const *label_names,
			       size_t nlabels, vt_family **out)
{
	return family_get(m, VT_GAUGE, name, help, label_names, nlabels, NULL,
			  0, out);
}

vt_err vt_metrics_histogram_family(vt_metrics *m, const char *name,
				   const char *help,
				   const char *const *label_names,
				   size_t nlabels, const double *le_bounds,
				   size_t nbounds, vt_family **out)
{
	return family_get(m, VT_HISTOGRAM, name, help, label_names, nlabels,
			  le_bounds, nbounds, out);
}

static vt_err unlabelled(vt_metrics *m, vt_metric_kind kind, const char *name,
			 const char *help, vt_series **out)
{
	vt_family *f;
	if (out == NULL)
		return VT_EINVAL;
	vt_err err = family_get(m, kind, name, help, NULL, 0, NULL, 0, &f);
	if (err == VT_OK)
		*out = f->series0;
	return err;
}

vt_err vt_metrics_counter(vt_metrics *m, const char *name, const char *help,
			  vt_counter **out)
{
	return unlabelled(m, VT_COUNTER, name, help, out);
}

vt_err vt_metrics_gauge(vt_metrics *m, const char *name, const char *help,
			vt_gauge **out)
{
	return unlabelled(m, VT_GAUGE, name, help, out);
}

vt_err vt_metrics_histogram(vt_metrics *m, const char *name, const char *help,
			    vt_histogram **out)
{
	return unlabelled(m, VT_HISTOGRAM, name, help, out);
}

/*
 * By name.
 */

/* Label values of labels (any order) in f's label order, into vals. */
static vt_err map_labels(const vt_family *f, const vt_label *labels, size_t n,
			 const char **vals)
{
	for (size_t j = 0; j < n; j++)
		if (labels[j].name == NULL || labels[j].value == NULL)
			return VT_EINVAL;
	if (n != f->nlabels)
		goto mismatch;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < n && strcmp(labels[j].name, f->label_names[i]) != 0)
			j++;
		if (j == n)
			goto mismatch;
		vals[i] = labels[j].value;
	}
	return VT_OK;
mismatch:
	for (size_t j = 0; j < n; j++) {
		if (!vt_label_name_valid(labels[j].name))
			return VT_EINVAL;
		for (size_t k = 0; k < j; k++)
			if (strcmp(labels[j].name, labels[k].name) == 0)
				return VT_EINVAL;
	}
	return VT_EEXIST;
}

/* The series name{labels} of this kind, created on first use, in a
 * family found or registered just now. VT_ENOENT when that family was
 * removed meanwhile. */
static vt_err by_name_once(vt_metrics *m, vt_metric_kind kind, const char *name,
			   const vt_label *labels, size_t n, vt_series **out)
{
	vt_family *f = family_find(m, name);
	if (f == NULL) {
		const char *ln[VT_MAX_LABELS];
		for (size_t j = 0; j < n; j++)
			if ((ln[j] = labels[j].name) == NULL)
				return VT_EINVAL;
		vt_err err =
		    family_get(m, kind, name, NULL, ln, n, NULL, 0, &f);
		/* Another thread may have created it with the labels in
		 * another order: map below. */
		if (err == VT_EEXIST)
			f = family_find(m, name);
		if (f == NULL || (err != VT_OK && err != VT_EEXIST))
			return err;
	}
	if (f->kind != kind)
		return VT_EKIND;
	const char *vals[VT_MAX_LABELS];
	vt_err err = map_labels(f, labels, n, vals);
	if (err != VT_OK)
		return err;
	return vt_family_series(f, vals, n, out);
}

/* The series name{labels} of this kind, created on first use. */
static vt_err by_name(vt_metrics *m, vt_metric_kind kind, const char *name,
		      const vt_label *labels, size_t n, vt_series **out)
{
	if (m == NULL || name == NULL || n > VT_MAX_LABELS ||
	    (n > 0 && labels == NULL) ||
	    strnlen(name, VT_MAX_NAME_LEN + 1) > VT_MAX_NAME_LEN)
		return VT_EINVAL;
	/* A family removed between lookup and use is looked up again: the
	 * next lookup registers a new one. */
	vt_err err;
	int tries = 0;
	do
		err = by_name_once(m, kind, name, labels, n, out);
	while (err == VT_ENOENT && ++tries < 8);
	return err;
}

vt_err vt_metrics_increment(vt_metrics *m, const char *name)
{
	vt_series *s;
	vt_err err = by_name(m, VT_COUNTER, name, NULL, 0, &s);
	return err != VT_OK ? err : vt_counter_inc(s);
}

vt_err vt_metrics_counter_add(vt_metrics *m, const char *name, double v,
			      const vt_label *labels, size_t nlabels)
{
	if (!(v >= 0))
		return VT_EINVAL;
	vt_series *s;
	vt_err err = by_name(m, VT_COUNTER, name, labels, nlabels, &s);
	return err != VT_OK ? err : vt_counter_add(s, v);
}

vt_err vt_metrics_set_gauge(vt_metrics *m, const char *name, double v)
{
	return vt_metrics_gauge_set(m, name, v, NULL, 0);
}

vt_err vt_metrics_gauge_add(vt_metrics *m, const char *name, double v,
			    const vt_label *labels, size_t nlabels)
{
	if (isnan(v))
		return VT_EINVAL;
	vt_series *s;
	vt_err err = by_name(m, VT_GAUGE, name, labels, nlabels, &s);
	return err != VT_OK ? err : vt_gauge_add(s, v);
}

vt_err vt_metrics_gauge_set(vt_metrics *m, const char *name, double v,
			    const vt_label *labels, size_t nlabels)
{
	if (isnan(v))
		return VT_EINVAL;
	vt_series *s;
	vt_err err = by_name(m, VT_GAUGE, name, labels, nlabels, &s);
	return err != VT_OK ? err : vt_gauge_set(s, v);
}

vt_err vt_metrics_observe(vt_metrics *m, const char *name, double v)
{
	return vt_metrics_histogram_observe(m, name, v, NULL, 0);
}

vt_err vt_metrics_histogram_observe(vt_metrics *m, const char *name, double v,
				    const vt_label *labels, size_t nlabels)
{
	if (isnan(v))
		return VT_EINVAL;
	vt_series *s;
	vt_err err = by_name(m, VT_HISTOGRAM, name, labels, nlabels, &s);
	return err != VT_OK ? err : vt_histogram_observe(s, v);
}

/*
 * Removal. A removed series leaves its family's sorted array (so the
 * next snapshot, whose skeleton is laid out from those arrays under
 * m->mtx, does not have it) and is marked removed, so lookups by name or
 * label values pass it over and create a new series in its table slot.
 * Its memory and idx are kept until the registry is freed: a writer may
 * still hold its handle, and recording through it stays safe - it lands
 * in the removed series' own slot, which no snapshot reads. A removed
 * family leaves m->fams the same way and waits in m->gone.
 */

/* Marks s removed and takes it out of f's array. Locks: m->mtx. */
static void series_unlink(vt_family *f, vt_series *s)
{
	for (size_t i = 0; i < f->nseries; i++) {
		if (f->series[i] != s)
			continue;
		memmove(&f->series[i], &f->series[i + 1],
			(f->nseries - i - 1) * sizeof *f->series);
		f->nseries--;
		break;
	}
	atomic_store_explicit(&s->removed, true, memory_order_release);
}

/* Marks f and its series removed and moves it from m->fams to m->gone.
 * Locks: m->mtx. */
static void family_unlink(vt_metrics *m, vt_family *f)
{
	for (size_t i = 0; i < f->nseries; i++)
		atomic_store_explicit(&f->series[i]->removed, true,
				      memory_order_release);
	f->nseries = 0;
	for (size_t i = 0; i < m->nfams; i++) {
		if (m->fams[i] != f)
			continue;
		memmove(&m->fams[i], &m->fams[i + 1],
			(m->nfams - i - 1) * sizeof *m->fams);
		m->nfams--;
		break;
	}
	atomic_store_explicit(&f->removed, true, memory_order_release);
	f->gone_next = m->gone;
	m->gone = f;
}

/* Removes the series of f with these values (family order), or f itself
 * when it is unlabelled. Locks: m->mtx. */
static vt_err remove_locked(vt_family *f, const char *const *values)
{
	vt_metrics *m = f->reg;
	if (family_removed(f))
		return VT_ENOENT;
	if (f->nlabels == 0) {
		family_unlink(m, f);
		return VT_OK;
	}
	struct values_key key = {values, f->nlabels};
	vt_series *s = (vt_series *)htab_find(
	    &f->stab, values_hash(values, f->nlabels), series_eq, &key);
	if (s == NULL || series_removed(s))
		return VT_ENOENT;
	series_unlink(f, s);
	return VT_OK;
}

vt_err vt_family_remove_series(vt_family *f, const char *const *values,
			       size_t nvalues)
{
	if (f == NULL || nvalues != f->nlabels ||
	    (nvalues > 0 && values == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < nvalues; i++)
		if (values[i] == NULL)
			return VT_EINVAL;
	pthread_mutex_lock(&f->reg->mtx);
	vt_err err = remove_locked(f, values);
	pthread_mutex_unlock(&f->reg->mtx);
	return err;
}

vt_err vt_metrics_remove_series(vt_metrics *m, const char *name,
				const vt_label *labels, size_t nlabels)
{
	if (m == NULL || name == NULL || nlabels > VT_MAX_LABELS ||
	    (nlabels > 0 && labels == NULL))
		return VT_EINVAL;
	const char *vals[VT_MAX_LABELS];
	pthread_mutex_lock(&m->mtx);
	vt_family *f = family_find(m, name);
	vt_err err =
	    f == NULL ? VT_ENOENT : map_labels(f, labels, nlabels, vals);
	if (err == VT_EEXIST) /* other label names: no such series */
		err = VT_ENOENT;
	if (err == VT_OK)
		err = remove_locked(f, vals);
	pthread_mutex_unlock(&m->mtx);
	return err;
}

vt_err vt_metrics_remove_family(vt_metrics *m, const char *name)
{
	if (m == NULL || name == NULL)
		return VT_EINVAL;
	pthread_mutex_lock(&m->mtx);
	vt_family *f = family_find(m, name);
	if (f != NULL)
		family_unlink(m, f);
	pthread_mutex_unlock(&m->mtx);
	return f != NULL ? VT_OK : VT_ENOENT;
}

/* Whether family f is selected by filter's name and prefix. */
static bool filter_names(const vt_family *f, const vt_metrics_filter *flt)
{
	if (flt->name != NULL && flt->name[0] != '\0' &&
	    strcmp(f->name, flt->name) != 0)
		return false;
	return flt->name_prefix == NULL || flt->name_prefix[0] == '\0' ||
	       strncmp(f->name, flt->name_prefix, strlen(flt->name_prefix)) ==
		   0;
}

/* Removes the series of f carrying every label of flt; *n counts them.
 * Locks: m->mtx. */
static void remove_carrying(vt_family *f, const vt_metrics_filter *flt,
			    size_t *n)
{
	size_t at[VT_MAX_LABELS];
	for (size_t k = 0; k < flt->nlabels; k++) {
		size_t i = 0;
		while (i < f->nlabels &&
		       strcmp(f->label_names[i], flt->labels[k].name) != 0)
			i++;
		if (i == f->nlabels)
			return; /* f has no such label: no series carries it */
		at[k] = i;
	}
	for (size_t i = f->nseries; i-- > 0;) {
		vt_series *s = f->series[i];
		size_t k = 0;
		while (k < flt->nlabels && strcmp(s->labels[at[k]].value,
						  flt->labels[k].value) == 0)
			k++;
		if (k == flt->nlabels) {
			series_unlink(f, s);
			(*n)++;
		}
	}
}

vt_err vt_metrics_remove_matching(vt_metrics *m,
				  const vt_metrics_filter *filter,
				  size_t *nremoved)
{
	if (m == NULL || filter == NULL || filter->nlabels > VT_MAX_LABELS ||
	    (filter->nlabels > 0 && filter->labels == NULL))
		return VT_EINVAL;
	bool named =
	    (filter->name != NULL && filter->name[0] != '\0') ||
	    (filter->name_prefix != NULL && filter->name_prefix[0] != '\0');
	if (!named && filter->nlabels == 0)
		return VT_EINVAL; /* would remove everything */
	for (size_t k = 0; k < filter->nlabels; k++)
		if (filter->labels[k].name == NULL ||
		    filter->labels[k].value == NULL)
			return VT_EINVAL;
	size_t n = 0;
	pthread_mutex_lock(&m->mtx);
	for (size_t i = m->nfams; i-- > 0;) {
		vt_family *f = m->fams[i];
		if (!filter_names(f, filter))
			continue;
		if (filter->nlabels > 0) {
			remove_carrying(f, filter, &n);
		} else {
			n += f->nlabels == 0 ? 1 : f->nseries;
			family_unlink(m, f);
		}
	}
	pthread_mutex_unlock(&m->mtx);
	if (nremoved != NULL)
		*nremoved = n;
	return VT_OK;
}
