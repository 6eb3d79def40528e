/*
 * test_metrics_remove.c - removing metric series and families: a removed
 * series is gone from the next snapshot, a stale handle records safely
 * into nothing, lookups create a new series from zero, families can be
 * registered again with another shape, filters remove what they select;
 * and all of it while other threads record, look up by name and take
 * snapshots (run under TSan too).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vitals/metrics.h"

/* The series of family name whose first label value is v (or the
 * unlabelled series when v is NULL), or NULL. */
static const vt_series_snap *find_series(const vt_metrics_snapshot *s,
					 const char *name, const char *v)
{
	const vt_family_snap *f = vt_test_family(s, name);
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->nseries; i++) {
		const vt_series_snap *ss = &f->series[i];
		if (v == NULL ? ss->nlabels == 0
			      : ss->nlabels > 0 &&
				    strcmp(ss->labels[0].value, v) == 0)
			return ss;
	}
	return NULL;
}

static vt_metrics_snapshot *snap(vt_metrics *m)
{
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	return s;
}

/* Value of name{first label = v}; -1 when absent. */
static double value_of(vt_metrics *m, const char *name, const char *v)
{
	vt_metrics_snapshot *s = snap(m);
	const vt_series_snap *ss = find_series(s, name, v);
	double d = ss != NULL ? ss->value : -1;
	vt_metrics_snapshot_free(s);
	return d;
}

static void test_remove_series(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *ln[] = {"check", "result"};
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_counter_family(m, "runs_total", "Runs.", ln,
						  2, &f) == VT_OK);
	const char *a[] = {"a", "ok"}, *b[] = {"b", "ok"};
	vt_counter *ca, *cb;
	CU_ASSERT_FATAL(vt_family_series(f, a, 2, &ca) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(f, b, 2, &cb) == VT_OK);
	for (int i = 0; i < 5; i++)
		CU_ASSERT(vt_counter_inc(ca) == VT_OK);
	CU_ASSERT(vt_counter_add(cb, 2) == VT_OK);
	CU_ASSERT(value_of(m, "runs_total", "a") == 5);

	CU_ASSERT(vt_family_remove_series(f, a, 2) == VT_OK);
	CU_ASSERT(vt_family_remove_series(f, a, 2) == VT_ENOENT);
	CU_ASSERT(value_of(m, "runs_total", "a") == -1);
	CU_ASSERT(value_of(m, "runs_total", "b") == 2);
	/* A stale handle records into nothing, safely. */
	CU_ASSERT(vt_counter_inc(ca) == VT_OK);
	CU_ASSERT(value_of(m, "runs_total", "a") == -1);
	/* A lookup creates a new series, from zero. */
	vt_counter *ca2;
	CU_ASSERT_FATAL(vt_family_series(f, a, 2, &ca2) == VT_OK);
	CU_ASSERT(ca2 != ca);
	CU_ASSERT(value_of(m, "runs_total", "a") == 0);
	CU_ASSERT(vt_counter_inc(ca) == VT_OK); /* still dropped */
	CU_ASSERT(vt_counter_inc(ca2) == VT_OK);
	CU_ASSERT(value_of(m, "runs_total", "a") == 1);
	/* The same lookup finds the new one again, lock-free. */
	vt_counter *again;
	CU_ASSERT(vt_family_series(f, a, 2, &again) == VT_OK && again == ca2);

	/* By name, labels in any order. */
	vt_label lb[] = {{"result", "ok"}, {"check", "b"}};
	CU_ASSERT(vt_metrics_remove_series(m, "runs_total", lb, 2) == VT_OK);
	CU_ASSERT(value_of(m, "runs_total", "b") == -1);
	CU_ASSERT(vt_metrics_remove_series(m, "runs_total", lb, 2) ==
		  VT_ENOENT);
	CU_ASSERT(vt_metrics_counter_add(m, "runs_total", 3, lb, 2) == VT_OK);
	CU_ASSERT(value_of(m, "runs_total", "b") == 3);
	vt_label other[] = {{"x", "1"}};
	CU_ASSERT(vt_metrics_remove_series(m, "runs_total", other, 1) ==
		  VT_ENOENT);
	CU_ASSERT(vt_metrics_remove_series(m, "nope", NULL, 0) == VT_ENOENT);
	CU_ASSERT(vt_metrics_remove_series(NULL, "x", NULL, 0) == VT_EINVAL);
	CU_ASSERT(vt_family_remove_series(f, a, 1) == VT_EINVAL);
	CU_ASSERT(vt_family_remove_series(NULL, a, 2) == VT_EINVAL);
	vt_metrics_free(m);
}

static void test_remove_histogram_and_gauge(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_label l[] = {{"check", "db"}};
	CU_ASSERT(vt_metrics_histogram_observe(m, "lat_seconds", 0.1, l, 1) ==
		  VT_OK);
	CU_ASSERT(vt_metrics_gauge_set(m, "up", 1, l, 1) == VT_OK);
	vt_metrics_snapshot *s = snap(m);
	CU_ASSERT(find_series(s, "lat_seconds", "db")->hist.count == 1);
	vt_metrics_snapshot_free(s);
	CU_ASSERT(vt_metrics_remove_series(m, "lat_seconds", l, 1) == VT_OK);
	CU_ASSERT(vt_metrics_remove_series(m, "up", l, 1) == VT_OK);
	s = snap(m);
	CU_ASSERT(find_series(s, "lat_seconds", "db") == NULL);
	CU_ASSERT(find_series(s, "up", "db") == NULL);
	/* The families stay, empty. */
	CU_ASSERT(vt_test_family(s, "lat_seconds") != NULL);
	vt_metrics_snapshot_free(s);
	/* Recreated from zero: count 1, not 2. */
	CU_ASSERT(vt_metrics_histogram_observe(m, "lat_seconds", 0.2, l, 1) ==
		  VT_OK);
	s = snap(m);
	const vt_series_snap *h = find_series(s, "lat_seconds", "db");
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT(h->hist.count == 1 && h->hist.sum == 0.2);
	CU_ASSERT(find_series(s, "up", "db") == NULL);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

static void test_remove_family(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_counter(m, "jobs", "Jobs.", &c) == VT_OK);
	CU_ASSERT(vt_counter_inc(c) == VT_OK);
	/* Unlabelled: removing its series removes the family. */
	CU_ASSERT(vt_metrics_remove_series(m, "jobs", NULL, 0) == VT_OK);
	vt_metrics_snapshot *s = snap(m);
	CU_ASSERT(vt_test_family(s, "jobs") == NULL);
	vt_metrics_snapshot_free(s);
	CU_ASSERT(vt_counter_inc(c) == VT_OK); /* dropped */
	/* The name is free again, even for another kind. */
	vt_gauge *g;
	CU_ASSERT_FATAL(vt_metrics_gauge(m, "jobs", "Now.", &g) == VT_OK);
	CU_ASSERT(vt_gauge_set(g, 7) == VT_OK);
	CU_ASSERT(value_of(m, "jobs", NULL) == 7);
	CU_ASSERT(vt_metrics_increment(m, "jobs") == VT_EKIND);

	const char *ln[] = {"k"};
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_counter_family(m, "ev", NULL, ln, 1, &f) ==
			VT_OK);
	const char *v[] = {"1"};
	vt_counter *e;
	CU_ASSERT_FATAL(vt_family_series(f, v, 1, &e) == VT_OK);
	CU_ASSERT(vt_counter_inc(e) == VT_OK);
	CU_ASSERT(vt_metrics_remove_family(m, "ev") == VT_OK);
	CU_ASSERT(vt_metrics_remove_family(m, "ev") == VT_ENOENT);
	/* A removed family's handle refuses new series; old ones drop. */
	CU_ASSERT(vt_family_series(f, v, 1, &e) == VT_ENOENT);
	CU_ASSERT(vt_counter_inc(e) == VT_OK);
	CU_ASSERT(vt_family_remove_series(f, v, 1) == VT_ENOENT);
	/* Registered again with other label names: a new family. */
	const char *ln2[] = {"a", "b"};
	vt_family *f2;
	CU_ASSERT(vt_metrics_counter_family(m, "ev", NULL, ln2, 2, &f2) ==
		  VT_OK);
	CU_ASSERT(f2 != f);
	/* Its exposition names are free too: ev_total cannot be a gauge
	 * while counter ev lives, but can once it is removed. */
	vt_gauge *g2;
	CU_ASSERT(vt_metrics_gauge(m, "ev_total", NULL, &g2) == VT_EKIND);
	CU_ASSERT(vt_metrics_remove_family(m, "ev") == VT_OK);
	CU_ASSERT(vt_metrics_gauge(m, "ev_total", NULL, &g2) == VT_OK);
	vt_metrics_free(m);
}

static void test_remove_matching(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *checks[] = {"db", "cache", "queue"};
	for (int i = 0; i < 3; i++) {
		vt_label l[] = {{"check", checks[i]}};
		vt_label l2[] = {{"check", checks[i]}, {"result", "ok"}};
		CU_ASSERT(vt_metrics_gauge_set(m, "x_status", i, l, 1) ==
			  VT_OK);
		CU_ASSERT(vt_metrics_counter_add(m, "x_runs_total", 1, l2, 2) ==
			  VT_OK);
	}
	CU_ASSERT(vt_metrics_increment(m, "other_total") == VT_OK);
	vt_label db[] = {{"check", "db"}};
	size_t n = 99;
	vt_metrics_filter f = {.name_prefix = "x_", .labels = db, .nlabels = 1};
	CU_ASSERT(vt_metrics_remove_matching(m, &f, &n) == VT_OK);
	CU_ASSERT(n == 2);
	vt_metrics_snapshot *s = snap(m);
	CU_ASSERT(find_series(s, "x_status", "db") == NULL);
	CU_ASSERT(find_series(s, "x_runs_total", "db") == NULL);
	CU_ASSERT(find_series(s, "x_status", "cache") != NULL);
	CU_ASSERT(find_series(s, "x_runs_total", "queue") != NULL);
	CU_ASSERT(find_series(s, "other_total", NULL) != NULL);
	vt_metrics_snapshot_free(s);
	/* A label no family has, or no series carries: nothing. */
	vt_label none[] = {{"zone", "eu"}};
	f = (vt_metrics_filter){.labels = none, .nlabels = 1};
	CU_ASSERT(vt_metrics_remove_matching(m, &f, &n) == VT_OK && n == 0);
	/* By name without labels: the whole family. */
	f = (vt_metrics_filter){.name = "x_status"};
	CU_ASSERT(vt_metrics_remove_matching(m, &f, &n) == VT_OK && n == 2);
	s = snap(m);
	CU_ASSERT(vt_test_family(s, "x_status") == NULL);
	CU_ASSERT(vt_test_family(s, "x_runs_total")->nseries == 2);
	vt_metrics_snapshot_free(s);
	/* A filter selecting everything is refused. */
	vt_metrics_filter all = {0};
	CU_ASSERT(vt_metrics_remove_matching(m, &all, &n) == VT_EINVAL);
	CU_ASSERT(vt_metrics_remove_matching(m, NULL, &n) == VT_EINVAL);
	vt_label bad[] = {{"check", NULL}};
	f = (vt_metrics_filter){.labels = bad, .nlabels = 1};
	CU_ASSERT(vt_metrics_remove_matching(m, &f, &n) == VT_EINVAL);
	CU_ASSERT(value_of(m, "other_total", NULL) == 1);
	vt_metrics_free(m);
}

/*
 * Concurrency: writers record through handles they keep (counter,
 * gauge, histogram of series k=0..NK-1) and through the by-name API,
 * while a remover removes the handle series one by one and the by-name
 * ones over and over, taking snapshots. A removed handle series never
 * comes back (its writers only hold the stale handle); the control
 * series, never removed, counts every increment exactly.
 */

enum { NW = 3, NK = 8, ROUNDS = 20000 };

typedef struct {
	vt_metrics *m;
	vt_counter *c[NK + 1]; /* [NK]: the control series */
	vt_gauge *g[NK];
	vt_histogram *h[NK];
	atomic_int stop;
	atomic_int started;
} shared;

static void *writer(void *p)
{
	shared *sh = p;
	char v[16];
	atomic_fetch_add(&sh->started, 1);
	for (int i = 0; i < ROUNDS; i++) {
		int k = i % NK;
		vt_counter_inc(sh->c[k]);
		vt_counter_inc(sh->c[NK]);
		vt_gauge_set(sh->g[k], i);
		vt_histogram_observe(sh->h[k], 0.001 * (i % 100 + 1));
		snprintf(v, sizeof(v), "%d", i % 4);
		vt_label l[] = {{"k", v}};
		if (vt_metrics_counter_add(sh->m, "byname_total", 1, l, 1) !=
		    VT_OK)
			return (void *)1;
		if (vt_metrics_gauge_add(sh->m, "byname_g", 1, NULL, 0) !=
		    VT_OK)
			return (void *)1;
	}
	return NULL;
}

static void *remover(void *p)
{
	shared *sh = p;
	while (atomic_load(&sh->started) < NW)
		;
	char v[16];
	long bad = 0;
	for (int k = 0; k < NK; k++) {
		snprintf(v, sizeof(v), "%d", k);
		vt_label l[] = {{"k", v}};
		vt_metrics_filter f = {.labels = l, .nlabels = 1};
		size_t n = 0;
		if (vt_metrics_remove_matching(sh->m, &f, &n) != VT_OK || n < 3)
			bad++;
		/* Gone from this snapshot on, the others still there. */
		vt_metrics_snapshot *s = NULL;
		if (vt_metrics_snapshot_take(sh->m, NULL, &s) != VT_OK)
			return (void *)1;
		for (int j = 0; j < NK; j++) {
			snprintf(v, sizeof(v), "%d", j);
			bool there = find_series(s, "hc", v) != NULL &&
				     find_series(s, "hg", v) != NULL &&
				     find_series(s, "hh_seconds", v) != NULL;
			bad += there != (j > k);
		}
		vt_metrics_snapshot_free(s);
		/* And by name, removed while being re-created. */
		(void)vt_metrics_remove_family(sh->m, "byname_g");
		snprintf(v, sizeof(v), "%d", k % 4);
		vt_label b[] = {{"k", v}};
		(void)vt_metrics_remove_series(sh->m, "byname_total", b, 1);
	}
	/* Until the writers are done: by-name series removed under them. */
	for (unsigned i = 0; !atomic_load(&sh->stop); i++) {
		snprintf(v, sizeof(v), "%u", i % 4);
		vt_label b[] = {{"k", v}};
		(void)vt_metrics_remove_series(sh->m, "byname_total", b, 1);
		if (i % 16 == 0)
			(void)vt_metrics_remove_family(sh->m, "byname_g");
		if (i % 64 == 0) {
			vt_metrics_snapshot *s = NULL;
			if (vt_metrics_snapshot_take(sh->m, NULL, &s) != VT_OK)
				return (void *)1;
			vt_metrics_snapshot_free(s);
		}
	}
	return (void *)bad;
}

static void test_remove_concurrent(void)
{
	shared sh = {0};
	CU_ASSERT_FATAL(vt_metrics_alloc(&sh.m) == VT_OK);
	const char *ln[] = {"k"};
	vt_family *fc, *fg, *fh;
	CU_ASSERT_FATAL(
	    vt_metrics_counter_family(sh.m, "hc", NULL, ln, 1, &fc) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_gauge_family(sh.m, "hg", NULL, ln, 1, &fg) ==
			VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram_family(sh.m, "hh_seconds", NULL,
						    ln, 1, NULL, 0,
						    &fh) == VT_OK);
	for (int k = 0; k <= NK; k++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", k == NK ? 99 : k);
		const char *vv[] = {v};
		CU_ASSERT_FATAL(vt_family_series(fc, vv, 1, &sh.c[k]) == VT_OK);
		if (k == NK)
			break;
		CU_ASSERT_FATAL(vt_family_series(fg, vv, 1, &sh.g[k]) == VT_OK);
		CU_ASSERT_FATAL(vt_family_series(fh, vv, 1, &sh.h[k]) == VT_OK);
	}
	pthread_t w[NW], r;
	for (int i = 0; i < NW; i++)
		CU_ASSERT_FATAL(pthread_create(&w[i], NULL, writer, &sh) == 0);
	CU_ASSERT_FATAL(pthread_create(&r, NULL, remover, &sh) == 0);
	void *rc;
	for (int i = 0; i < NW; i++) {
		pthread_join(w[i], &rc);
		CU_ASSERT(rc == NULL);
	}
	atomic_store(&sh.stop, 1);
	pthread_join(r, &rc);
	CU_ASSERT(rc == NULL);

	vt_metrics_snapshot *s = snap(sh.m);
	/* Every handle series stays gone; the control counts all. */
	for (int k = 0; k < NK; k++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", k);
		CU_ASSERT(find_series(s, "hc", v) == NULL);
		CU_ASSERT(find_series(s, "hh_seconds", v) == NULL);
	}
	const vt_series_snap *ctl = find_series(s, "hc", "99");
	CU_ASSERT_FATAL(ctl != NULL);
	CU_ASSERT(ctl->value == (double)NW * ROUNDS);
	vt_metrics_snapshot_free(s);
	/* The by-name series work after all that: created afresh. */
	CU_ASSERT(vt_metrics_remove_family(sh.m, "byname_g") == VT_OK ||
		  value_of(sh.m, "byname_g", NULL) == -1);
	CU_ASSERT(vt_metrics_gauge_add(sh.m, "byname_g", 1, NULL, 0) == VT_OK);
	CU_ASSERT(value_of(sh.m, "byname_g", NULL) == 1);
	vt_metrics_free(sh.m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"remove a series: gone, stale handle safe, new from zero",
	     test_remove_series},
	    {"remove histogram and gauge series",
	     test_remove_histogram_and_gauge},
	    {"remove a family: name free again", test_remove_family},
	    {"remove what a filter selects", test_remove_matching},
	    {"remove while writers record and look up", test_remove_concurrent},
	    {NULL, NULL},
	};
	return vt_test_main("metrics_remove", tests);
}
