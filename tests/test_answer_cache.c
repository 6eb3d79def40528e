/*
 * test_answer_cache.c - the cache of encoded health answers
 * (src/server/answer_cache.c): an answer is reused only for the epoch
 * it was built at and within its TTL, each reuse is a copy of its own,
 * an answer built at an older epoch never replaces a newer one, slots
 * are independent, bad slots and a NULL cache are harmless, and under
 * concurrent writers and readers every hit is one whole answer (body,
 * length and status of the same put).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/answer_cache.h"
#include "testutil.h"

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

int main(void)
{
	static const vt_test tests[] = {
	    {"alloc", test_alloc},	     {"epochs", test_epochs},
	    {"copies", test_copies},	     {"ttl", test_ttl},
	    {"concurrent", test_concurrent}, {NULL, NULL},
	};
	return vt_test_main("answer_cache", tests);
}
