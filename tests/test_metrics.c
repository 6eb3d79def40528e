/*
 * test_metrics.c - counters, gauges, the by-name API, snapshots and the
 * life of shards: exact totals from many threads (live and exited),
 * linearizable gauges, lookups and clashes by name, filters and
 * ordering, snapshot memory reused across scrapes, thread exits and
 * first writes that do not wait for a scrape, and a registry freed under
 * a live thread.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode/protobuf.h"
#include "metrics/finish.h"
#include "metrics/registry.h"
#include "metrics/shard.h"
#include "testutil.h"
#include "vitals/metrics.h"

/* The series of family name whose labels are exactly labels[n] (any
 * order), or NULL. */
static const vt_series_snap *find_series(const vt_metrics_snapshot *s,
					 const char *name,
					 const vt_label *labels, size_t n)
{
	const vt_family_snap *f = vt_test_family(s, name);
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->nseries; i++) {
		const vt_series_snap *ss = &f->series[i];
		if (ss->nlabels != n)
			continue;
		size_t ok = 0;
		for (size_t j = 0; j < n; j++)
			for (size_t k = 0; k < n; k++)
				ok += strcmp(ss->labels[k].name,
					     labels[j].name) == 0 &&
				      strcmp(ss->labels[k].value,
					     labels[j].value) == 0;
		if (ok == n)
			return ss;
	}
	return NULL;
}

/* Value of the unlabelled series name, NAN when absent. */
static double value_of(vt_metrics *m, const char *name)
{
	vt_metrics_snapshot *s;
	if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
		return NAN;
	const vt_series_snap *ss = find_series(s, name, NULL, 0);
	double v = ss != NULL ? ss->value : NAN;
	vt_metrics_snapshot_free(s);
	return v;
}

/*
 * Counters from many threads.
 */

enum { T = 4, M = 200000 };

typedef struct {
	vt_counter *c;
	pthread_barrier_t *bar;
} inc_arg;

static void *inc_many(void *p)
{
	inc_arg *a = p;
	for (int i = 0; i < M; i++) {
		vt_counter_inc(a->c);
		if (i % 4 == 0)
			vt_counter_add(a->c, 0.5);
	}
	pthread_barrier_wait(a->bar); /* written */
	pthread_barrier_wait(a->bar); /* main has read */
	return NULL;
}

static void test_counter_threads_exact(void)
{
	vt_metrics *m;
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m, "ops_total", "ops", &c) == VT_OK);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, T + 1);
	pthread_t t[T];
	inc_arg a = {c, &bar};
	for (int i = 0; i < T; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, inc_many, &a) == 0);
	const double want = (double)T * M + (double)T * (M / 4) * 0.5;
	pthread_barrier_wait(&bar);
	/* Every writer alive: merged from live shards. */
	CU_ASSERT(value_of(m, "ops_total") == want);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	/* Every writer exited: folded into the totals. */
	CU_ASSERT(value_of(m, "ops_total") == want);
	/* More writes on top of the folded totals. */
	CU_ASSERT(vt_counter_inc(c) == VT_OK);
	CU_ASSERT(value_of(m, "ops_total") == want + 1);
	pthread_barrier_destroy(&bar);
	vt_metrics_free(m);
}

/* Threads that write and exit while snapshots are taken: a snapshot
 * never loses or double-counts a folding shard. */
static void *inc_and_exit(void *p)
{
	vt_counter *c = p;
	for (int i = 0; i < 10000; i++)
		vt_counter_inc(c);
	return NULL;
}

static void test_counter_fold_during_snapshots(void)
{
	vt_metrics *m;
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m, "churn", NULL, &c) == VT_OK);
	double last = 0;
	for (int round = 0; round < 20; round++) {
		pthread_t t[3];
		for (int i = 0; i < 3; i++)
			CU_ASSERT_FATAL(
			    pthread_create(&t[i], NULL, inc_and_exit, c) == 0);
		for (int k = 0; k < 10; k++) {
			double v = value_of(m, "churn");
			CU_ASSERT(v >= last);
			CU_ASSERT(v <= (round + 1) * 30000.0);
			last = v;
		}
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		CU_ASSERT(value_of(m, "churn") == (round + 1) * 30000.0);
	}
	vt_metrics_free(m);
}

/* Many series (several shard chunks), from two threads. */
typedef struct {
	vt_family *f;
	int nseries;
} many_arg;

static void *write_many_series(void *p)
{
	many_arg *a = p;
	for (int i = 0; i < a->nseries; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		const char *vals[] = {v};
		vt_counter *c;
		if (vt_family_series(a->f, vals, 1, &c) != VT_OK)
			return (void *)1;
		for (int k = 0; k <= i % 7; k++)
			vt_counter_inc(c);
	}
	return NULL;
}

static void test_many_series(void)
{
	vt_metrics *m;
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *ln[] = {"id"};
	CU_ASSERT_FATAL(
	    vt_metrics_counter_family(m, "per_id", NULL, ln, 1, &f) == VT_OK);
	many_arg a = {f, 1500};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, write_many_series, &a) == 0);
	for (int i = 0; i < 2; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		CU_ASSERT(rc == NULL);
	}
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	const vt_family_snap *fs = vt_test_family(s, "per_id");
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT(fs->nseries == 1500);
	int bad = 0;
	for (size_t i = 0; i < fs->nseries; i++) {
		int id = atoi(fs->series[i].labels[0].value);
		bad += fs->series[i].value != 2.0 * (id % 7 + 1);
		if (i > 0)
			bad += strcmp(fs->series[i - 1].labels[0].value,
				      fs->series[i].labels[0].value) >= 0;
	}
	CU_ASSERT(bad == 0);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/*
 * Gauges.
 */

typedef struct {
	vt_gauge *g;
	int id;
	_Atomic int *stop;
} gauge_arg;

static void *gauge_updown(void *p)
{
	gauge_arg *a = p;
	for (int i = 0; i < 100000; i++) {
		vt_gauge_add(a->g, 1);
		vt_gauge_sub(a->g, 1);
	}
	return NULL;
}

static void *gauge_adder(void *p)
{
	gauge_arg *a = p;
	for (int i = 0; i < 50000; i++)
		vt_gauge_add(a->g, 0.25 * (a->id + 1));
	return NULL;
}

static void *gauge_setter(void *p)
{
	gauge_arg *a = p;
	for (int i = 0; i < 20000; i++)
		vt_gauge_set(a->g, 1000 + a->id);
	return NULL;
}

static void test_gauge_linearizable(void)
{
	vt_metrics *m;
	vt_gauge *g;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_gauge(m, "active", NULL, &g) == VT_OK);
	pthread_t t[T];
	gauge_arg a[T];

	/* add(1) then sub(1) per thread: any linearizable gauge stays in
	 * [0, T] at every read and ends at 0; lost updates drift. */
	for (int i = 0; i < T; i++) {
		a[i] = (gauge_arg){g, i, NULL};
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, gauge_updown, &a[i]) == 0);
	}
	int out_of_range = 0;
	for (int k = 0; k < 200; k++) {
		double v = value_of(m, "active");
		out_of_range += !(v >= 0 && v <= T && v == floor(v));
	}
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT(out_of_range == 0);
	CU_ASSERT(value_of(m, "active") == 0);

	/* Concurrent adds after a set: the set value plus every add. */
	CU_ASSERT(vt_gauge_set(g, 10) == VT_OK);
	for (int i = 0; i < T; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, gauge_adder, &a[i]) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	double want = 10;
	for (int i = 0; i < T; i++)
		want += 50000 * 0.25 * (i + 1);
	CU_ASSERT(value_of(m, "active") == want);

	/* Racing sets: the result is one of the values set, never a mix. */
	for (int i = 0; i < T; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, gauge_setter, &a[i]) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	double v = value_of(m, "active");
	CU_ASSERT(v == floor(v) && v >= 1000 && v < 1000 + T);

	/* sub of a negative adds; set wins over earlier adds. */
	CU_ASSERT(vt_gauge_sub(g, -2) == VT_OK);
	CU_ASSERT(value_of(m, "active") == v + 2);
	CU_ASSERT(vt_gauge_set(g, -3.5) == VT_OK);
	CU_ASSERT(value_of(m, "active") == -3.5);
	vt_metrics_free(m);
}

/*
 * By name.
 */

static void test_by_name(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	/* The seed's shapes. */
	CU_ASSERT(vt_metrics_increment(m, "api_requests_total") == VT_OK);
	CU_ASSERT(vt_metrics_increment(m, "api_requests_total") == VT_OK);
	CU_ASSERT(vt_metrics_increment(m, "api_requests_total") == VT_OK);
	CU_ASSERT(vt_metrics_set_gauge(m, "active_connections", 42) == VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "request_duration_seconds", 0.4) ==
		  VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "request_duration_seconds", 0.5) ==
		  VT_OK);
	CU_ASSERT(value_of(m, "api_requests_total") == 3);
	CU_ASSERT(value_of(m, "active_connections") == 42);
	CU_ASSERT(vt_metrics_gauge_add(m, "active_connections", -2, NULL, 0) ==
		  VT_OK);
	CU_ASSERT(value_of(m, "active_connections") == 40);

	/* Labels in any order name one series. */
	vt_label ab[] = {{"method", "GET"}, {"route", "/x"}};
	vt_label ba[] = {{"route", "/x"}, {"method", "GET"}};
	vt_label other[] = {{"route", "/y"}, {"method", "GET"}};
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, ab, 2) ==
		  VT_OK);
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 2, ba, 2) ==
		  VT_OK);
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 5, other,
					 2) == VT_OK);
	CU_ASSERT(vt_metrics_histogram_observe(m, "lat", 1, ba, 2) == VT_OK);
	CU_ASSERT(vt_metrics_gauge_set(m, "temp", 7, ab, 1) == VT_OK);

	/* The by-name API finds what handles registered, and vice versa. */
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_counter(m, "api_requests_total", NULL, &c) ==
			VT_OK);
	CU_ASSERT(vt_counter_inc(c) == VT_OK);
	vt_family *f;
	const char *ln[] = {"method", "route"};
	CU_ASSERT(vt_metrics_counter_family(m, "http_requests_total", NULL, ln,
					    2, &f) == VT_OK);
	const char *vals[] = {"GET", "/x"};
	CU_ASSERT_FATAL(vt_family_series(f, vals, 2, &c) == VT_OK);
	CU_ASSERT(vt_counter_add(c, 10) == VT_OK);

	/* Clashes: another kind, other labels, no labels. */
	CU_ASSERT(vt_metrics_increment(m, "active_connections") == VT_EKIND);
	CU_ASSERT(vt_metrics_set_gauge(m, "api_requests_total", 1) == VT_EKIND);
	CU_ASSERT(vt_metrics_observe(m, "api_requests_total", 1) == VT_EKIND);
	vt_label wrong[] = {{"method", "GET"}, {"code", "200"}};
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, wrong,
					 2) == VT_EEXIST);
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, ab, 1) ==
		  VT_EEXIST);
	CU_ASSERT(vt_metrics_increment(m, "http_requests_total") == VT_EEXIST);
	CU_ASSERT(vt_metrics_counter_add(m, "api_requests_total", 1, ab, 2) ==
		  VT_EEXIST);
	vt_label dup[] = {{"method", "GET"}, {"method", "PUT"}};
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, dup, 2) ==
		  VT_EINVAL);
	CU_ASSERT(vt_metrics_counter_add(m, "new_dup_total", 1, dup, 2) ==
		  VT_EINVAL);
	vt_label nullv[] = {{"method", NULL}, {"route", "/x"}};
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, nullv,
					 2) == VT_EINVAL);
	CU_ASSERT(vt_metrics_counter_add(m, "http_requests_total", 1, NULL,
					 2) == VT_EINVAL);
	CU_ASSERT(vt_metrics_increment(NULL, "x") == VT_EINVAL);
	CU_ASSERT(vt_metrics_increment(m, NULL) == VT_EINVAL);

	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	const vt_series_snap *ss = find_series(s, "http_requests_total", ab, 2);
	CU_ASSERT_FATAL(ss != NULL);
	CU_ASSERT(ss->value == 13);
	/* Labels come in family order: the order of first use. */
	CU_ASSERT(strcmp(ss->labels[0].name, "method") == 0);
	CU_ASSERT(strcmp(ss->labels[1].name, "route") == 0);
	ss = find_series(s, "http_requests_total", other, 2);
	CU_ASSERT_FATAL(ss != NULL);
	CU_ASSERT(ss->value == 5);
	ss = find_series(s, "lat", ab, 2);
	CU_ASSERT_FATAL(ss != NULL);
	CU_ASSERT(ss->hist.count == 1);
	CU_ASSERT(find_series(s, "temp", ab, 1) != NULL);
	CU_ASSERT(find_series(s, "api_requests_total", NULL, 0)->value == 4);
	const vt_family_snap *fs =
	    vt_test_family(s, "request_duration_seconds");
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT(fs->kind == VT_HISTOGRAM);
	CU_ASSERT(fs->series[0].hist.count == 2);
	CU_ASSERT(fs->series[0].hist.sum == 0.9);
	CU_ASSERT(fs->series[0].hist.min == 0.4);
	CU_ASSERT(fs->series[0].hist.max == 0.5);
	CU_ASSERT(vt_test_family(s, "new_dup_total") == NULL);
	CU_ASSERT(s->nfamilies == 6);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

typedef struct {
	vt_metrics *m;
	int id;
} byname_arg;

static void *by_name_writer(void *p)
{
	byname_arg *a = p;
	vt_label l1[] = {{"a", "1"}, {"b", "2"}};
	vt_label l2[] = {{"b", "2"}, {"a", "1"}};
	for (int i = 0; i < 20000; i++) {
		if (vt_metrics_increment(a->m, "hits") != VT_OK)
			return (void *)1;
		/* Half the threads name the labels in the other order. */
		if (vt_metrics_counter_add(a->m, "hits_l", 1,
					   a->id % 2 ? l1 : l2, 2) != VT_OK)
			return (void *)1;
		/* New series while others look up: the tables grow. */
		if (i % 50 == 0) {
			char v[32];
			snprintf(v, sizeof v, "%d", i / 50);
			vt_label l3 = {"k", v};
			if (vt_metrics_counter_add(a->m, "grow", 1, &l3, 1) !=
			    VT_OK)
				return (void *)1;
			snprintf(v, sizeof v, "fam_%d_%d", a->id, i / 50);
			if (vt_metrics_increment(a->m, v) != VT_OK)
				return (void *)1;
		}
	}
	return NULL;
}

static void test_by_name_concurrent(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	pthread_t t[T];
	byname_arg a[T];
	for (int i = 0; i < T; i++) {
		a[i] = (byname_arg){m, i};
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, by_name_writer, &a[i]) == 0);
	}
	for (int i = 0; i < T; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		CU_ASSERT(rc == NULL);
	}
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT(find_series(s, "hits", NULL, 0)->value == T * 20000.0);
	vt_label l1[] = {{"a", "1"}, {"b", "2"}};
	const vt_family_snap *fs = vt_test_family(s, "hits_l");
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT(fs->nseries == 1);
	CU_ASSERT(find_series(s, "hits_l", l1, 2)->value == T * 20000.0);
	fs = vt_test_family(s, "grow");
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT(fs->nseries == 400);
	int bad = 0;
	for (size_t i = 0; i < fs->nseries; i++)
		bad += fs->series[i].value != T;
	CU_ASSERT(bad == 0);
	CU_ASSERT(s->nfamilies == 3 + T * 400);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/*
 * Snapshots.
 */

static void test_snapshot_order_filters_copies(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_family *f;
	const char *ln[] = {"zone", "host"};
	CU_ASSERT_FATAL(vt_metrics_gauge_family(m, "zz_temp", "Temperature.",
						ln, 2, &f) == VT_OK);
	const char *v1[] = {"b", "h1"}, *v2[] = {"a", "h2"},
		   *v3[] = {"a", "h1"};
	vt_gauge *g1, *g2, *g3;
	CU_ASSERT_FATAL(vt_family_series(f, v1, 2, &g1) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(f, v2, 2, &g2) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(f, v3, 2, &g3) == VT_OK);
	vt_gauge *again;
	CU_ASSERT(vt_family_series(f, v2, 2, &again) == VT_OK && again == g2);
	vt_gauge_set(g1, 1);
	vt_gauge_set(g2, 2);
	vt_gauge_set(g3, 3);
	CU_ASSERT(vt_metrics_increment(m, "aa_total") == VT_OK);
	CU_ASSERT(vt_metrics_increment(m, "mm_total") == VT_OK);
	CU_ASSERT(vt_metrics_observe(m, "aa_seconds", 1) == VT_OK);
	/* Registered with a help text, no series yet. */
	vt_family *empty;
	const char *eln[] = {"x"};
	CU_ASSERT(vt_metrics_counter_family(m, "bb_total", "B.", eln, 1,
					    &empty) == VT_OK);

	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT_FATAL(s->nfamilies == 5);
	const char *order[] = {"aa_seconds", "aa_total", "bb_total", "mm_total",
			       "zz_temp"};
	for (int i = 0; i < 5; i++)
		CU_ASSERT(strcmp(s->families[i].name, order[i]) == 0);
	CU_ASSERT(s->families[2].nseries == 0);
	CU_ASSERT(strcmp(s->families[2].help, "B.") == 0);
	CU_ASSERT(strcmp(s->families[1].help, "") == 0);
	const vt_family_snap *fz = &s->families[4];
	CU_ASSERT(fz->kind == VT_GAUGE);
	CU_ASSERT(strcmp(fz->help, "Temperature.") == 0);
	CU_ASSERT_FATAL(fz->nseries == 3);
	/* Sorted by label values in family order: (a,h1) (a,h2) (b,h1). */
	CU_ASSERT(fz->series[0].value == 3);
	CU_ASSERT(fz->series[1].value == 2);
	CU_ASSERT(fz->series[2].value == 1);
	CU_ASSERT(strcmp(fz->series[0].labels[0].name, "zone") == 0);
	CU_ASSERT(strcmp(fz->series[0].labels[1].name, "host") == 0);
	CU_ASSERT(strcmp(fz->series[1].labels[1].value, "h2") == 0);

	/* Filters. */
	vt_metrics_snapshot *s2;
	vt_metrics_filter byname = {.name = "aa_total"};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &byname, &s2) == VT_OK);
	CU_ASSERT(s2->nfamilies == 1 &&
		  strcmp(s2->families[0].name, "aa_total") == 0);
	vt_metrics_snapshot_free(s2);
	vt_metrics_filter prefix = {.name_prefix = "aa_"};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &prefix, &s2) == VT_OK);
	CU_ASSERT(s2->nfamilies == 2);
	vt_metrics_snapshot_free(s2);
	vt_label want = {"host", "h1"};
	vt_metrics_filter bylabel = {.labels = &want, .nlabels = 1};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &bylabel, &s2) == VT_OK);
	CU_ASSERT_FATAL(s2->nfamilies == 1);
	CU_ASSERT(s2->families[0].nseries == 2);
	CU_ASSERT(s2->families[0].series[0].value == 3);
	CU_ASSERT(s2->families[0].series[1].value == 1);
	vt_metrics_snapshot_free(s2);
	vt_metrics_filter none = {.name = "nope"};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &none, &s2) == VT_OK);
	CU_ASSERT(s2->nfamilies == 0);
	vt_metrics_snapshot_free(s2);
	CU_ASSERT(vt_metrics_snapshot_take(NULL, NULL, &s2) == VT_EINVAL);
	CU_ASSERT(vt_metrics_snapshot_take(m, NULL, NULL) == VT_EINVAL);

	/* A snapshot owns its data: it outlives the registry and does not
	 * move with later writes. */
	vt_gauge_set(g1, 99);
	vt_metrics_free(m);
	CU_ASSERT(fz->series[2].value == 1);
	CU_ASSERT(strcmp(fz->name, "zz_temp") == 0);
	CU_ASSERT(strcmp(fz->series[2].labels[0].value, "b") == 0);
	CU_ASSERT(s->families[0].series[0].hist.count == 1);
	CU_ASSERT(s->families[0].series[0].hist.le_bounds[0] ==
		  vt_default_le_bounds[0]);
	CU_ASSERT(vt_series_quantile(&s->families[0].series[0], 0.5) == 1);
	vt_metrics_snapshot_free(s);
	vt_metrics_snapshot_free(NULL);
	vt_metrics_free(NULL);
}

/*
 * Snapshot memory and label strings.
 */

/* Snapshots reuse the memory of freed ones: series added in between
 * show up, held snapshots keep their values, and label strings are the
 * registry's interned ones, valid after the registry is freed. */
static void test_snapshot_reuse(void)
{
	vt_metrics *m;
	vt_family *cf, *hf;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *ln[] = {"k"};
	CU_ASSERT_FATAL(vt_metrics_counter_family(m, "reuse_total", NULL, ln, 1,
						  &cf) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram_family(m, "reuse_seconds", NULL,
						    ln, 1, NULL, 0,
						    &hf) == VT_OK);
	vt_metrics_snapshot *held[4] = {NULL};
	for (int round = 0; round < 40; round++) {
		/* One more series of each kind per round. */
		char v[16];
		snprintf(v, sizeof v, "s%03d", round);
		const char *vals[] = {v};
		vt_counter *c;
		vt_histogram *h;
		CU_ASSERT_FATAL(vt_family_series(cf, vals, 1, &c) == VT_OK);
		CU_ASSERT_FATAL(vt_family_series(hf, vals, 1, &h) == VT_OK);
		for (int i = 0; i <= round; i++) {
			vt_counter_inc(c);
			vt_histogram_observe(h, 0.001 * (i + 1));
		}
		vt_metrics_snapshot *s;
		CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
		const vt_family_snap *fc = vt_test_family(s, "reuse_total");
		const vt_family_snap *fh = vt_test_family(s, "reuse_seconds");
		CU_ASSERT_FATAL(fc != NULL && fh != NULL);
		CU_ASSERT_FATAL(fc->nseries == (size_t)round + 1);
		CU_ASSERT_FATAL(fh->nseries == (size_t)round + 1);
		int bad = 0;
		for (int i = 0; i <= round; i++) {
			char w[16];
			snprintf(w, sizeof w, "s%03d", i);
			bad += strcmp(fc->series[i].labels[0].value, w) != 0;
			bad += strcmp(fc->series[i].labels[0].name, "k") != 0;
			bad += fc->series[i].value != i + 1;
			bad += fh->series[i].hist.count != (uint64_t)i + 1;
			bad += fh->series[i]
				   .hist.le_cumulative[vt_default_le_nbounds] !=
			       (uint64_t)i + 1;
			bad += fh->series[i].hist.max != 0.001 * (i + 1);
		}
		CU_ASSERT(bad == 0);
		/* Interned: the same string in every snapshot. */
		if (held[round % 4] != NULL) {
			const vt_family_snap *old =
			    vt_test_family(held[round % 4], "reuse_total");
			CU_ASSERT(old->series[0].labels[0].value ==
				  fc->series[0].labels[0].value);
		}
		/* Keep a few (more than the spares kept) and free others,
		 * out of order. */
		if (round % 3 == 0) {
			vt_metrics_snapshot_free(held[round % 4]);
			held[round % 4] = s;
		} else {
			vt_metrics_snapshot_free(s);
		}
		/* Held snapshots did not move. */
		for (int j = 0; j < 4; j++) {
			if (held[j] == NULL)
				continue;
			const vt_family_snap *f =
			    vt_test_family(held[j], "reuse_total");
			for (size_t i = 0; i < f->nseries; i++)
				bad += f->series[i].value != (double)i + 1;
		}
		CU_ASSERT(bad == 0);
	}
	vt_metrics_free(m);
	/* Held snapshots outlive the registry, strings and all. */
	for (int j = 0; j < 4; j++) {
		if (held[j] == NULL)
			continue;
		const vt_family_snap *f =
		    vt_test_family(held[j], "reuse_seconds");
		CU_ASSERT(strcmp(f->series[0].labels[0].value, "s000") == 0);
		CU_ASSERT(f->series[0].hist.le_bounds[0] ==
			  vt_default_le_bounds[0]);
		CU_ASSERT(vt_series_quantile(&f->series[0], 1) == 0.001);
		vt_metrics_snapshot_free(held[j]);
	}
}

/* Counters merged shard by shard (most series selected) and series by
 * series (a filter selects few) agree, exactly. */
typedef struct {
	vt_counter **c;
	int n, id;
	pthread_barrier_t *bar;
} counters_arg;

static void *write_counters(void *p)
{
	counters_arg *a = p;
	for (int i = 0; i < a->n; i++)
		for (int k = 0; k <= (i + a->id) % 5; k++)
			vt_counter_add(a->c[i], k == 0 ? 1 : 0.5);
	pthread_barrier_wait(a->bar);
	pthread_barrier_wait(a->bar);
	return NULL;
}

static void test_counter_merge_paths(void)
{
	enum { NF = 60, NT = 3 };
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_counter *c[NF * 10];
	const char *ln[] = {"k"};
	for (int f = 0; f < NF; f++) {
		char name[32];
		snprintf(name, sizeof name, "paths_%02d_total", f);
		vt_family *fam;
		CU_ASSERT_FATAL(vt_metrics_counter_family(m, name, NULL, ln, 1,
							  &fam) == VT_OK);
		for (int i = 0; i < 10; i++) {
			char v[8];
			snprintf(v, sizeof v, "%d", i);
			const char *vals[] = {v};
			CU_ASSERT_FATAL(
			    vt_family_series(fam, vals, 1, &c[f * 10 + i]) ==
			    VT_OK);
		}
	}
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NT + 1);
	pthread_t t[NT];
	counters_arg a[NT];
	for (int i = 0; i < NT; i++) {
		a[i] = (counters_arg){c, NF * 10, i, &bar};
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, write_counters, &a[i]) == 0);
	}
	pthread_barrier_wait(&bar);
	for (int state = 0; state < 2; state++) {
		vt_metrics_snapshot *all, *one;
		CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &all) ==
				VT_OK);
		vt_metrics_filter flt = {.name = "paths_17_total"};
		CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &flt, &one) ==
				VT_OK);
		CU_ASSERT_FATAL(all->nfamilies == NF && one->nfamilies == 1);
		int bad = 0;
		for (int f = 0; f < NF; f++) {
			for (int i = 0; i < 10; i++) {
				double want = 0;
				for (int id = 0; id < NT; id++)
					want +=
					    1 + 0.5 * ((f * 10 + i + id) % 5);
				bad += all->families[f].series[i].value != want;
				if (f == 17)
					bad +=
					    one->families[0].series[i].value !=
					    want;
			}
		}
		CU_ASSERT(bad == 0);
		vt_metrics_snapshot_free(all);
		vt_metrics_snapshot_free(one);
		if (state == 0) { /* again, with every writer exited */
			pthread_barrier_wait(&bar);
			for (int i = 0; i < NT; i++)
				pthread_join(t[i], NULL);
		}
	}
	pthread_barrier_destroy(&bar);
	vt_metrics_free(m);
}

/*
 * Scrapes, thread exits and first writes.
 */

typedef struct {
	vt_metrics *m;
	vt_counter *c[4];
	vt_histogram *h[2];
	_Atomic int stop;
	int scrapes, bad;
} churn_ctx;

static void *churn_writer(void *p)
{
	churn_ctx *x = p;
	for (int i = 0; i < 400; i++)
		vt_counter_inc(x->c[i % 4]);
	for (int i = 0; i < 40; i++)
		vt_histogram_observe(x->h[i % 2], 0.001 * (i + 1));
	return NULL;
}

/* Loops snapshots; totals never go down and histograms stay
 * self-consistent. */
static void *churn_scraper(void *p)
{
	churn_ctx *x = p;
	double last = 0;
	uint64_t lasth = 0;
	while (!atomic_load(&x->stop)) {
		vt_metrics_snapshot *s;
		if (vt_metrics_snapshot_take(x->m, NULL, &s) != VT_OK) {
			x->bad++;
			continue;
		}
		double tot = 0;
		uint64_t toth = 0;
		for (size_t i = 0; i < s->nfamilies; i++) {
			const vt_family_snap *f = &s->families[i];
			for (size_t k = 0; k < f->nseries; k++) {
				const vt_series_snap *ss = &f->series[k];
				if (f->kind == VT_COUNTER) {
					tot += ss->value;
					continue;
				}
				toth += ss->hist.count;
				uint64_t sum = 0;
				for (size_t b = 0; b < ss->buckets->n; b++)
					sum += ss->buckets->cnt[b];
				x->bad += sum != ss->hist.count;
				x->bad +=
				    ss->hist.le_cumulative[ss->hist.nbounds] !=
				    ss->hist.count;
			}
		}
		x->bad += tot < last || toth < lasth;
		last = tot;
		lasth = toth;
		vt_metrics_snapshot_free(s);
		x->scrapes++;
	}
	return NULL;
}

/* Threads write and exit in batches while a scraper loops: nothing is
 * lost or counted twice, and no exited thread's shard is left behind. */
static void test_scrape_during_exit_churn(void)
{
	enum { THREADS = 600, BATCH = 4 };
	churn_ctx x = {0};
	CU_ASSERT_FATAL(vt_metrics_alloc(&x.m) == VT_OK);
	vt_family *cf, *hf;
	const char *ln[] = {"k"};
	CU_ASSERT_FATAL(vt_metrics_counter_family(x.m, "churn_total", NULL, ln,
						  1, &cf) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram_family(x.m, "churn_seconds", NULL,
						    ln, 1, NULL, 0,
						    &hf) == VT_OK);
	for (int i = 0; i < 4; i++) {
		char v[8];
		snprintf(v, sizeof v, "%d", i);
		const char *vals[] = {v};
		CU_ASSERT_FATAL(vt_family_series(cf, vals, 1, &x.c[i]) ==
				VT_OK);
		if (i < 2)
			CU_ASSERT_FATAL(
			    vt_family_series(hf, vals, 1, &x.h[i]) == VT_OK);
	}
	pthread_t st;
	CU_ASSERT_FATAL(pthread_create(&st, NULL, churn_scraper, &x) == 0);
	for (int done = 0; done < THREADS; done += BATCH) {
		pthread_t t[BATCH];
		for (int i = 0; i < BATCH; i++)
			CU_ASSERT_FATAL(
			    pthread_create(&t[i], NULL, churn_writer, &x) == 0);
		for (int i = 0; i < BATCH; i++)
			pthread_join(t[i], NULL);
	}
	atomic_store(&x.stop, 1);
	pthread_join(st, NULL);
	CU_ASSERT(x.bad == 0);
	CU_ASSERT(x.scrapes > 0);
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(x.m, NULL, &s) == VT_OK);
	const vt_family_snap *fc = vt_test_family(s, "churn_total");
	const vt_family_snap *fh = vt_test_family(s, "churn_seconds");
	for (int i = 0; i < 4; i++)
		CU_ASSERT(fc->series[i].value == THREADS * 100.0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT(fh->series[i].hist.count == THREADS * 20);
		CU_ASSERT(fh->series[i].hist.min == 0.001 * (i + 1));
	}
	vt_metrics_snapshot_free(s);
	/* Every exited thread's shard was folded and freed. */
	CU_ASSERT(atomic_load(&x.m->nretired) == 0);
	CU_ASSERT(atomic_load(&x.m->shards) == NULL);
	vt_metrics_free(x.m);
}

typedef struct {
	vt_counter *c;
	vt_histogram *h;
	vt_family *f; /* a new series is created too */
} first_arg;

static void *first_write_and_exit(void *p)
{
	first_arg *a = p;
	const char *vals[] = {"new"};
	vt_counter *c2;
	if (vt_family_series(a->f, vals, 1, &c2) != VT_OK)
		return (void *)1;
	for (int i = 0; i < 100; i++) {
		vt_counter_inc(a->c);
		vt_counter_inc(c2);
		vt_histogram_observe(a->h, 0.5);
	}
	return NULL;
}

/* While a snapshot holds the shard mutex, a thread's first write (a new
 * shard), a new series and the thread's exit go through without waiting;
 * the exited shard is folded by the next snapshot. */
static void test_exit_not_blocked_by_scrape(void)
{
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	first_arg a;
	const char *ln[] = {"k"};
	CU_ASSERT_FATAL(vt_metrics_counter(m, "first_total", NULL, &a.c) ==
			VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "first_seconds", NULL, &a.h) ==
			VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter_family(m, "made_total", NULL, ln, 1,
						  &a.f) == VT_OK);
	vt_counter_inc(a.c);		   /* this thread's shard */
	pthread_mutex_lock(&m->shard_mtx); /* as a snapshot does */
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, first_write_and_exit, &a) ==
			0);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	void *rc = NULL;
	int jr = pthread_timedjoin_np(t, &rc, &dl);
	CU_ASSERT(jr == 0);
	CU_ASSERT(rc == NULL);
	/* Retired, waiting for the mutex holder to fold it. */
	CU_ASSERT(atomic_load(&m->nretired) == 1);
	pthread_mutex_unlock(&m->shard_mtx);
	if (jr != 0)
		pthread_join(t, NULL);
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT(atomic_load(&m->nretired) == 0);
	CU_ASSERT(find_series(s, "first_total", NULL, 0)->value == 101);
	vt_label l = {"k", "new"};
	CU_ASSERT(find_series(s, "made_total", &l, 1)->value == 100);
	CU_ASSERT(find_series(s, "first_seconds", NULL, 0)->hist.count == 100);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/*
 * Shards and registry lifetimes.
 */

typedef struct {
	vt_counter *c;
	vt_histogram *h;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int stage;
	int ok;
} life_arg;

static void stage_set(life_arg *a, int stage)
{
	pthread_mutex_lock(&a->mtx);
	a->stage = stage;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mtx);
}

static void stage_wait(life_arg *a, int stage)
{
	pthread_mutex_lock(&a->mtx);
	while (a->stage < stage)
		pthread_cond_wait(&a->cv, &a->mtx);
	pthread_mutex_unlock(&a->mtx);
}

static void *outlive(void *p)
{
	life_arg *a = p;
	for (int i = 0; i < 1000; i++) {
		vt_counter_inc(a->c);
		vt_histogram_observe(a->h, i * 1e-3);
	}
	stage_set(a, 1);
	stage_wait(a, 2); /* the registry is freed */
	/* A new registry, perhaps at the same address: nothing stale is
	 * reused. */
	vt_metrics *m2;
	vt_counter *c2;
	if (vt_metrics_alloc(&m2) != VT_OK)
		return NULL;
	vt_metrics_counter(m2, "again", NULL, &c2);
	for (int i = 0; i < 10; i++)
		vt_counter_inc(c2);
	a->ok = value_of(m2, "again") == 10;
	vt_metrics_free(m2);
	/* And one that outlives this thread. */
	stage_set(a, 3);
	return NULL;
}

static void test_registry_freed_before_writer_exits(void)
{
	life_arg a = {0};
	pthread_mutex_init(&a.mtx, NULL);
	pthread_cond_init(&a.cv, NULL);
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m, "c", NULL, &a.c) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "h", NULL, &a.h) == VT_OK);
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, outlive, &a) == 0);
	stage_wait(&a, 1);
	CU_ASSERT(value_of(m, "c") == 1000);
	vt_metrics_free(m); /* the writer is still alive */
	vt_metrics *m3;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m3) == VT_OK);
	stage_set(&a, 2);
	pthread_join(t, NULL); /* exits with a dead link: no crash, no leak */
	CU_ASSERT(a.ok);
	vt_counter *c3;
	CU_ASSERT(vt_metrics_counter(m3, "c", NULL, &c3) == VT_OK);
	CU_ASSERT(vt_counter_inc(c3) == VT_OK);
	CU_ASSERT(value_of(m3, "c") == 1);
	vt_metrics_free(m3);
	pthread_cond_destroy(&a.cv);
	pthread_mutex_destroy(&a.mtx);
}

/* One thread, several registries, used in turns. */
static void test_several_registries(void)
{
	enum { R = 5 };
	vt_metrics *m[R];
	vt_counter *c[R];
	for (int i = 0; i < R; i++) {
		CU_ASSERT_FATAL(vt_metrics_alloc(&m[i]) == VT_OK);
		CU_ASSERT_FATAL(vt_metrics_counter(m[i], "n", NULL, &c[i]) ==
				VT_OK);
	}
	for (int k = 0; k < 1000; k++)
		for (int i = 0; i < R; i++)
			for (int j = 0; j <= i; j++)
				vt_counter_inc(c[i]);
	for (int i = 0; i < R; i++)
		CU_ASSERT(value_of(m[i], "n") == 1000.0 * (i + 1));
	/* Free one in the middle; the others keep counting. */
	vt_metrics_free(m[2]);
	for (int i = 0; i < R; i++)
		if (i != 2)
			vt_counter_inc(c[i]);
	for (int i = 0; i < R; i++)
		if (i != 2)
			CU_ASSERT(value_of(m[i], "n") == 1000.0 * (i + 1) + 1);
	for (int i = 0; i < R; i++)
		if (i != 2)
			vt_metrics_free(m[i]);
}

/* Series in different shard chunks, used in turns with another
 * registry's: every write lands in its own series. */
static void test_interleaved_chunks(void)
{
	enum { NS = 700 };
	vt_metrics *m, *m2;
	vt_family *f;
	vt_counter *c[NS], *other;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_alloc(&m2) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m2, "other", NULL, &other) == VT_OK);
	const char *ln[] = {"i"};
	CU_ASSERT_FATAL(vt_metrics_counter_family(m, "n", NULL, ln, 1, &f) ==
			VT_OK);
	for (int i = 0; i < NS; i++) {
		char v[8];
		snprintf(v, sizeof v, "%03d", i);
		const char *vals[] = {v};
		CU_ASSERT_FATAL(vt_family_series(f, vals, 1, &c[i]) == VT_OK);
	}
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "h", NULL, &h) == VT_OK);
	for (int k = 0; k < 100; k++) {
		for (int i = 0; i < NS; i += 233) {
			vt_counter_inc(c[i]);
			vt_counter_inc(other);
			vt_histogram_observe(h, 1);
			vt_counter_add(c[NS - 1 - i], 2);
		}
	}
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	const vt_family_snap *fs = vt_test_family(s, "n");
	CU_ASSERT_FATAL(fs != NULL && fs->nseries == NS);
	int bad = 0;
	for (int i = 0; i < NS; i++) {
		double want = (i % 233 == 0 ? 100 : 0) +
			      ((NS - 1 - i) % 233 == 0 ? 200 : 0);
		bad += fs->series[i].value != want;
	}
	CU_ASSERT(bad == 0);
	CU_ASSERT(vt_test_family(s, "h")->series[0].hist.count == 400);
	vt_metrics_snapshot_free(s);
	CU_ASSERT(value_of(m2, "other") == 400);
	vt_metrics_free(m);
	vt_metrics_free(m2);
}

/* One destructor: a snapshot from a registry, one decoded from the RPC
 * (as vt_client_metrics makes it) and one that outlives its registry are
 * all freed by vt_metrics_snapshot_free. */
static void test_one_destructor(void)
{
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "one_seconds", NULL, &h) ==
			VT_OK);
	CU_ASSERT(vt_metrics_increment(m, "one_total") == VT_OK);
	CU_ASSERT(vt_histogram_observe(h, 0.25) == VT_OK);
	vt_metrics_snapshot *s, *d;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	uint8_t *buf;
	size_t len;
	CU_ASSERT_FATAL(vt__pb_metrics_encode(s, &buf, &len) == VT_OK);
	CU_ASSERT_FATAL(vt__pb_metrics_decode(buf, len, &d) == VT_OK);
	free(buf);
	CU_ASSERT_FATAL(d->nfamilies == 2);
	const vt_series_snap *x = &d->families[0].series[0];
	CU_ASSERT(x->hist.count == 1 && x->hist.p50 == 0.25);
	/* Summaries only: no buckets to read quantiles from. */
	CU_ASSERT(x->buckets == NULL && isnan(vt_series_quantile(x, 0.5)));
	CU_ASSERT(vt_series_quantile(&s->families[0].series[0], 0.5) == 0.25);
	vt_metrics_snapshot_free(d);
	vt_metrics_free(m); /* s outlives its registry */
	CU_ASSERT(strcmp(s->families[1].name, "one_total") == 0);
	CU_ASSERT(s->families[1].series[0].value == 1);
	vt_metrics_snapshot_free(s);
	vt_metrics_snapshot_free(NULL);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"counter: threads exact, live and exited",
	     test_counter_threads_exact},
	    {"counter: folding during snapshots",
	     test_counter_fold_during_snapshots},
	    {"counter: many series", test_many_series},
	    {"gauge: linearizable", test_gauge_linearizable},
	    {"by name: create, find, clash", test_by_name},
	    {"by name: concurrent and exact", test_by_name_concurrent},
	    {"snapshot: order, filters, copies",
	     test_snapshot_order_filters_copies},
	    {"registry freed before a writer exits",
	     test_registry_freed_before_writer_exits},
	    {"several registries in one thread", test_several_registries},
	    {"series in several chunks, in turns", test_interleaved_chunks},
	    {"snapshot: memory reused, strings interned", test_snapshot_reuse},
	    {"counter: merged by shard and by series",
	     test_counter_merge_paths},
	    {"scrapes during thread exit churn", test_scrape_during_exit_churn},
	    {"exit and first write do not wait for a scrape",
	     test_exit_not_blocked_by_scrape},
	    {"snapshot: one destructor for every kind", test_one_destructor},
	    {NULL, NULL},
	};
	return vt_test_main("metrics", tests);
}
