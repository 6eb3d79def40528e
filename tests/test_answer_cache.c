/*
 * test_answer_cache.c - the cache of encoded health answers
 * (src/server/answer_cache.c): an answer is reused only for the epoch
 * it was built at and within its TTL, each reuse is a copy of its own,
 * an answer built at an older epoch never replaces a newer one, slots
 * are independent, bad slots and a NULL cache are harmless, and under
 * concurrent writers and readers every hit is one whole answer (body,
 * length and status of the same put). /metrics answers: reused only for
 * a snapshot equal to the one they were encoded from (any value, label,
 * series or family that changed is a miss; vt__metrics_snapshot_equal
 * on hand-made snapshots), and under writers recording while readers
 * scrape, every hit is byte for byte the encoding of the reader's own
 * snapshot.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/snapshot.h"
#include "server/answer_cache.h"
#include "testutil.h"
#include "vitals/encode.h"

/* Gets slot at epoch, expecting a hit with body and status. */
static void expect_hit(vt__acache *k, unsigned slot, uint64_t epoch,
		       const char *body, uint16_t status)
{
	char *got = NULL;
	size_t len = 0;
	uint16_t st = 0;
	CU_ASSERT_TRUE_FATAL(vt__acache_get(k, slot, epoch, &got, &len, &st));
	CU_ASSERT_EQUAL(len, strlen(body));
	CU_ASSERT_STRING_EQUAL(got, body); /* NUL-terminated */
	CU_ASSERT_EQUAL(st, status);
	free(got);
}

static bool miss(vt__acache *k, unsigned slot, uint64_t epoch)
{
	char *got = (char *)"untouched";
	size_t len = 0;
	uint16_t st = 0;
	bool hit = vt__acache_get(k, slot, epoch, &got, &len, &st);
	if (hit)
		free(got);
	else
		CU_ASSERT_STRING_EQUAL(got, "untouched");
	return !hit;
}

static void test_alloc(void)
{
	vt__acache *k = NULL;
	CU_ASSERT_EQUAL(vt__acache_alloc(&k, 0), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__acache_alloc(NULL, 3), VT_EINVAL);
	CU_ASSERT_PTR_NULL(k);
	vt__acache_free(NULL);
	/* A NULL cache: nothing kept, nothing found. */
	vt__acache_put(NULL, 0, 1, "x", 1, 200);
	CU_ASSERT_TRUE(miss(NULL, 0, 1));
}

static void test_epochs(void)
{
	vt__acache *k;
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&k, 3), VT_OK);
	CU_ASSERT_TRUE(miss(k, 0, 0)); /* empty */
	vt__acache_put(k, 0, 5, "{\"status\":\"healthy\"}", 20, 200);
	expect_hit(k, 0, 5, "{\"status\":\"healthy\"}", 200);
	/* Another epoch: something changed since it was built. */
	CU_ASSERT_TRUE(miss(k, 0, 6));
	CU_ASSERT_TRUE(miss(k, 0, 4));
	/* Slots are apart; one out of range is ignored. */
	CU_ASSERT_TRUE(miss(k, 1, 5));
	vt__acache_put(k, 3, 5, "x", 1, 200);
	CU_ASSERT_TRUE(miss(k, 3, 5));
	vt__acache_put(k, 2, 5, "{\"b\":1}", 7, 503);
	expect_hit(k, 2, 5, "{\"b\":1}", 503);
	expect_hit(k, 0, 5, "{\"status\":\"healthy\"}", 200);

	/* A slower builder's older answer does not replace a newer one;
	 * the same or a newer epoch does. */
	vt__acache_put(k, 0, 4, "old", 3, 503);
	expect_hit(k, 0, 5, "{\"status\":\"healthy\"}", 200);
	CU_ASSERT_TRUE(miss(k, 0, 4));
	vt__acache_put(k, 0, 5, "same", 4, 429);
	expect_hit(k, 0, 5, "same", 429);
	vt__acache_put(k, 0, 9, "newer", 5, 200);
	expect_hit(k, 0, 9, "newer", 200);
	CU_ASSERT_TRUE(miss(k, 0, 5));
	vt__acache_free(k);
}

/* What is given back is a copy: neither the put's source nor a reader's
 * changes reach the cache. Bodies may hold any byte. */
static void test_copies(void)
{
	vt__acache *k;
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&k, 1), VT_OK);
	char src[] = "a\0b-body";
	vt__acache_put(k, 0, 1, src, sizeof(src) - 1, 200);
	memset(src, 'X', sizeof(src) - 1);
	char *got;
	size_t len;
	uint16_t st;
	CU_ASSERT_TRUE_FATAL(vt__acache_get(k, 0, 1, &got, &len, &st));
	CU_ASSERT_EQUAL(len, 8);
	CU_ASSERT_EQUAL(memcmp(got, "a\0b-body", 9), 0);
	got[0] = 'Z';
	free(got);
	CU_ASSERT_TRUE_FATAL(vt__acache_get(k, 0, 1, &got, &len, &st));
	CU_ASSERT_EQUAL(got[0], 'a');
	free(got);
	/* An empty body is an answer too. */
	vt__acache_put(k, 0, 2, "", 0, 204);
	expect_hit(k, 0, 2, "", 204);
	vt__acache_free(k);
}

/* An answer older than the TTL is not reused, even at its epoch. */
static void test_ttl(void)
{
	vt__acache *k;
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&k, 1), VT_OK);
	vt__acache_put(k, 0, 1, "x", 1, 200);
	vt_test_sleep_ms(3 * VT__ACACHE_TTL_MS);
	CU_ASSERT_TRUE(miss(k, 0, 1));
	vt__acache_free(k);
}

/* ---- concurrency ------------------------------------------------------ */

#define WRITERS 4
#define READERS 4
#define PUTS	3000

typedef struct shared {
	vt__acache *k;
	atomic_uint_fast64_t next_epoch;
	atomic_uint_fast64_t max_epoch;
	atomic_int writers_left;
	atomic_long hits, torn;
} shared;

/* The answer built at epoch e, and its status. */
static int body_of(uint64_t e, char *out, size_t cap)
{
	return snprintf(out, cap, "{\"epoch\":%llu,\"pad\":\"%0*d\"}",
			(unsigned long long)e, (int)(e % 50), 0);
}

static uint16_t status_of(uint64_t e)
{
	return e % 3 == 0 ? 503 : 200;
}

static void *writer(void *arg)
{
	shared *s = arg;
	char body[128];
	for (int i = 0; i < PUTS; i++) {
		uint64_t e = atomic_fetch_add(&s->next_epoch, 1);
		int n = body_of(e, body, sizeof(body));
		vt__acache_put(s->k, (unsigned)(e % 2), e, body, (size_t)n,
			       status_of(e));
		uint64_t m = atomic_load(&s->max_epoch);
		while (e > m &&
		       !atomic_compare_exchange_weak(&s->max_epoch, &m, e))
			;
	}
	atomic_fetch_sub(&s->writers_left, 1);
	return NULL;
}

static void *reader(void *arg)
{
	shared *s = arg;
	char want[128];
	while (atomic_load(&s->writers_left) > 0) {
		uint64_t e = atomic_load(&s->max_epoch);
		for (uint64_t d = 0; d < 4 && d <= e; d++) {
			char *got;
			size_t len;
			uint16_t st;
			uint64_t ask = e - d;
			if (!vt__acache_get(s->k, (unsigned)(ask % 2), ask,
					    &got, &len, &st))
				continue;
			int n = body_of(ask, want, sizeof(want));
			if (len != (size_t)n || strcmp(got, want) != 0 ||
			    st != status_of(ask))
				atomic_fetch_add(&s->torn, 1);
			atomic_fetch_add(&s->hits, 1);
			free(got);
		}
	}
	return NULL;
}

static void test_concurrent(void)
{
	shared s = {0};
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&s.k, 2), VT_OK);
	atomic_store(&s.next_epoch, 1);
	atomic_store(&s.writers_left, WRITERS);
	pthread_t w[WRITERS], r[READERS];
	for (int i = 0; i < READERS; i++)
		CU_ASSERT_FATAL(pthread_create(&r[i], NULL, reader, &s) == 0);
	for (int i = 0; i < WRITERS; i++)
		CU_ASSERT_FATAL(pthread_create(&w[i], NULL, writer, &s) == 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	CU_ASSERT_EQUAL(atomic_load(&s.torn), 0);

	/* Whatever order the puts landed in, each slot now holds its
	 * newest epoch: an answer at an epoch just below it is refused. */
	uint64_t top = atomic_load(&s.max_epoch);
	CU_ASSERT_EQUAL(top, (uint64_t)WRITERS * PUTS);
	for (uint64_t e = top - 1; e <= top; e++) {
		unsigned slot = (unsigned)(e % 2);
		vt__acache_put(s.k, slot, e - 2, "stale", 5, 200);
		CU_ASSERT_TRUE(miss(s.k, slot, e - 2));
		vt__acache_put(s.k, slot, e, "final", 5, 200);
		expect_hit(s.k, slot, e, "final", 200);
	}
	vt__acache_free(s.k);
}

/* ---- /metrics answers ------------------------------------------------ */

static vt_metrics_snapshot *snap_of(vt_metrics *m)
{
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_metrics_snapshot_take(m, NULL, &s), VT_OK);
	return s;
}

/* Encodes a snapshot of m as JSON, keeps it in slot and checks that an
 * equal snapshot gets exactly those bytes back. */
static void put_json(vt__acache *k, unsigned slot, vt_metrics *m)
{
	vt_metrics_snapshot *s = snap_of(m);
	char *body;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(vt_json_metrics(s, &body, &len), VT_OK);
	vt__acache_metrics_put(k, slot, s, body, len);
	vt_metrics_snapshot *again = snap_of(m);
	char *got = NULL;
	size_t glen = 0;
	CU_ASSERT_TRUE(vt__acache_metrics_get(k, slot, again, &got, &glen));
	CU_ASSERT_EQUAL(glen, len);
	CU_ASSERT_TRUE(got != NULL && memcmp(got, body, len) == 0 &&
		       got[len] == '\0');
	free(got);
	free(body);
	vt_metrics_snapshot_free(again);
}

static bool metrics_miss(vt__acache *k, unsigned slot, vt_metrics *m)
{
	vt_metrics_snapshot *s = snap_of(m);
	char *got = (char *)"untouched";
	size_t len = 0;
	bool hit = vt__acache_metrics_get(k, slot, s, &got, &len);
	if (hit)
		free(got);
	else
		CU_ASSERT_STRING_EQUAL(got, "untouched");
	vt_metrics_snapshot_free(s);
	return !hit;
}

/* Every kind of change misses; an unchanged registry hits. */
static void test_metrics_changes(void)
{
	vt_metrics *m;
	vt__acache *k;
	CU_ASSERT_EQUAL_FATAL(vt_metrics_alloc(&m), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&k, 1), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* empty slot */
	put_json(k, 0, m);		       /* an empty registry */

	vt_counter *c;
	vt_gauge *g;
	vt_histogram *h;
	vt_family *f;
	static const char *const ln[] = {"route"};
	CU_ASSERT_EQUAL_FATAL(vt_metrics_counter(m, "a_total", "A", &c), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* a family added */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_counter_add(c, 1), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* a counter moved */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL_FATAL(vt_metrics_gauge(m, "b", "B", &g), VT_OK);
	CU_ASSERT_EQUAL(vt_gauge_set(g, 2), VT_OK);
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_gauge_set(g, -0.0), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m));
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_gauge_set(g, 0.0), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* -0 and 0 differ in bits */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL_FATAL(vt_metrics_histogram(m, "c_seconds", "C", &h),
			      VT_OK);
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_histogram_observe(h, 0.25), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* an observation */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_histogram_observe(h, 0.25), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* the same value again */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL_FATAL(
	    vt_metrics_counter_family(m, "d_total", "D", ln, 1, &f), VT_OK);
	vt_counter *s1, *s2;
	static const char *const v1[] = {"/x"}, *const v2[] = {"/y"};
	CU_ASSERT_EQUAL_FATAL(vt_family_series(f, v1, 1, &s1), VT_OK);
	put_json(k, 0, m);
	CU_ASSERT_EQUAL_FATAL(vt_family_series(f, v2, 1, &s2), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* a series added */
	put_json(k, 0, m);
	CU_ASSERT_EQUAL(vt_counter_add(s2, 0.5), VT_OK);
	CU_ASSERT_TRUE(metrics_miss(k, 0, m)); /* a labelled series moved */

	/* Slots are apart; a bad slot or a NULL cache takes the snapshot
	 * (freed: the sanitizer builds would see a leak). */
	CU_ASSERT_TRUE(metrics_miss(k, 1, m));
	vt__acache_metrics_put(k, VT__ACACHE_METRICS_SLOTS, snap_of(m), "x", 1);
	vt__acache_metrics_put(NULL, 0, snap_of(m), "x", 1);
	CU_ASSERT_TRUE(metrics_miss(k, VT__ACACHE_METRICS_SLOTS, m));
	CU_ASSERT_TRUE(metrics_miss(NULL, 0, m));
	vt__acache_free(k);
	vt_metrics_free(m);
}

/* vt__metrics_snapshot_equal on hand-made snapshots: strings compared by
 * content when the pointers differ, labels, help, kinds and summaries. */
static void test_snapshot_equal(void)
{
	char n1[] = "x_total", n2[] = "x_total";
	vt_label la[] = {{"k", "v"}}, lb[] = {{"k", "v"}}, lc[] = {{"k", "w"}};
	vt_series_snap sa = {.labels = la, .nlabels = 1, .value = 1};
	vt_series_snap sb = {.labels = lb, .nlabels = 1, .value = 1};
	vt_family_snap fa = {n1, "", VT_COUNTER, 1, &sa};
	vt_family_snap fb = {n2, "", VT_COUNTER, 1, &sb};
	vt_metrics_snapshot a = {1, &fa}, b = {1, &fb};
	CU_ASSERT_TRUE(vt__metrics_snapshot_equal(&a, &b));
	CU_ASSERT_TRUE(vt__metrics_snapshot_equal(NULL, NULL));
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, NULL));
	n2[0] = 'y';
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	n2[0] = 'x';
	fb.help = "other";
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	fb.help = "";
	fb.kind = VT_GAUGE;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	fb.kind = VT_COUNTER;
	sb.labels = lc;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	sb.labels = lb;
	sb.created = 5;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	sb.created = 0;
	/* Bit for bit: NaN equals NaN, -0 differs from 0. */
	sa.value = sb.value = NAN;
	CU_ASSERT_TRUE(vt__metrics_snapshot_equal(&a, &b));
	sa.value = 0.0;
	sb.value = -0.0;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	sb.value = 0.0;

	/* Histograms: the summary and its le counts count. */
	double bounds[] = {0.1, 1};
	uint64_t cum_a[] = {1, 2, 3}, cum_b[] = {1, 2, 3};
	fa.kind = fb.kind = VT_HISTOGRAM;
	sa.hist = (vt_hist_summary){.count = 3,
				    .sum = 2,
				    .nbounds = 2,
				    .le_bounds = bounds,
				    .le_cumulative = cum_a};
	sb.hist = sa.hist;
	sb.hist.le_cumulative = cum_b;
	CU_ASSERT_TRUE(vt__metrics_snapshot_equal(&a, &b));
	cum_b[1] = 1;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
	cum_b[1] = 2;
	sb.hist.p99 = 1;
	CU_ASSERT_FALSE(vt__metrics_snapshot_equal(&a, &b));
}

#define SCRAPERS 3
#define RECORDS	 20000

typedef struct mshared {
	vt_metrics *m;
	vt__acache *k;
	vt_counter *c;
	vt_histogram *h;
	atomic_int writing;
	atomic_long hits, wrong, scrapes;
} mshared;

static void *recorder(void *arg)
{
	mshared *s = arg;
	for (int i = 0; i < RECORDS; i++) {
		vt_counter_add(s->c, 1);
		if (i % 7 == 0)
			vt_histogram_observe(s->h, i * 1e-4);
	}
	atomic_store(&s->writing, 0);
	return NULL;
}

/* Scrapes as the gateway does; each hit must be what encoding its own
 * snapshot writes. Runs on a while after the recorder stops, so that
 * unchanged snapshots hit. */
static void *scraper(void *arg)
{
	mshared *s = arg;
	int after = 0;
	while (after < 50) {
		if (!atomic_load(&s->writing))
			after++;
		vt_metrics_snapshot *snap = NULL;
		if (vt_metrics_snapshot_take(s->m, NULL, &snap) != VT_OK)
			continue;
		char *want, *got;
		size_t wlen, glen;
		bool encoded = vt_prom_metrics(snap, &want, &wlen) == VT_OK;
		if (vt__acache_metrics_get(s->k, 1, snap, &got, &glen)) {
			atomic_fetch_add(&s->hits, 1);
			if (!encoded || glen != wlen ||
			    memcmp(got, want, wlen) != 0)
				atomic_fetch_add(&s->wrong, 1);
			free(got);
			vt_metrics_snapshot_free(snap);
		} else if (encoded) {
			vt__acache_metrics_put(s->k, 1, snap, want, wlen);
		} else {
			vt_metrics_snapshot_free(snap);
		}
		if (encoded)
			free(want);
		atomic_fetch_add(&s->scrapes, 1);
	}
	return NULL;
}

static void test_metrics_concurrent(void)
{
	mshared s = {0};
	CU_ASSERT_EQUAL_FATAL(vt_metrics_alloc(&s.m), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__acache_alloc(&s.k, 1), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_metrics_counter(s.m, "r_total", "R", &s.c),
			      VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_metrics_histogram(s.m, "r_seconds", "R", &s.h),
			      VT_OK);
	atomic_store(&s.writing, 1);
	pthread_t w, r[SCRAPERS];
	for (int i = 0; i < SCRAPERS; i++)
		CU_ASSERT_FATAL(pthread_create(&r[i], NULL, scraper, &s) == 0);
	CU_ASSERT_FATAL(pthread_create(&w, NULL, recorder, &s) == 0);
	pthread_join(w, NULL);
	for (int i = 0; i < SCRAPERS; i++)
		pthread_join(r[i], NULL);
	CU_ASSERT_EQUAL(atomic_load(&s.wrong), 0);
	/* After the recorder stopped, the scrapes saw one unchanged
	 * registry: at most one miss per scraper, then hits. */
	CU_ASSERT_TRUE(atomic_load(&s.hits) >= SCRAPERS * 40);
	vt__acache_free(s.k);
	vt_metrics_free(s.m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"alloc", test_alloc},
	    {"epochs", test_epochs},
	    {"copies", test_copies},
	    {"ttl", test_ttl},
	    {"concurrent", test_concurrent},
	    {"metrics_changes", test_metrics_changes},
	    {"snapshot_equal", test_snapshot_equal},
	    {"metrics_concurrent", test_metrics_concurrent},
	    {NULL, NULL},
	};
	return vt_test_main("answer_cache", tests);
}
