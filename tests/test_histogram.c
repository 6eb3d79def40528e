/*
 * test_histogram.c - log-bucket histograms: exact bucket index, quantile
 * error against the exact nearest-rank value, exact le counts, merging
 * across threads, self-consistent snapshots under concurrent writes,
 * counts past a page's 16-bit low parts (carries, read while they happen
 * and folded at exit), many series merged as one stream, and memory per
 * (thread, series).
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/finish.h"
#include "metrics/histogram.h"
#include "metrics/merge.h"
#include "metrics/native.h"
#include "metrics/shard.h"
#include "testutil.h"
#include "vitals/metrics.h"

/* Deterministic PRNG (splitmix64). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1p-53;
}

static double rng_normal(uint64_t *s)
{
	double u1 = rng_unit(s), u2 = rng_unit(s);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Rounds x to a multiple of 2^-30 (at least 2^-30), so that sums of up
 * to 2^23 in total are exact in any order. */
static double dyadic(double x)
{
	double v = ldexp(nearbyint(ldexp(x, 30)), -30);
	return v < 0x1p-30 ? 0x1p-30 : v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The exact nearest-rank quantile of sorted[n]. */
static double exact_quantile(const double *sorted, size_t n, double q)
{
	double kd = ceil(q * (double)n);
	size_t k = kd < 1 ? 1 : kd > (double)n ? n : (size_t)kd;
	return sorted[k - 1];
}

/* The one series of family name in a fresh snapshot of m. */
static const vt_series_snap *snap_series(vt_metrics *m, const char *name,
					 vt_metrics_snapshot **snap)
{
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, snap) == VT_OK);
	const vt_family_snap *f = vt_test_family(*snap, name);
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(f->nseries == 1);
	return &f->series[0];
}

/*
 * Bucket index.
 */

/* Little bignum of 32-bit limbs, enough for (2^53)^32. */
#define LIMBS 64
typedef struct {
	uint32_t w[LIMBS];
} big;

static void big_mul(big *r, const big *a, const big *b)
{
	uint64_t acc[2 * LIMBS] = {0};
	for (int i = 0; i < LIMBS; i++) {
		uint64_t carry = 0;
		for (int j = 0; i + j < LIMBS; j++) {
			uint64_t t = (uint64_t)a->w[i] * b->w[j] +
				     (acc[i + j] & 0xffffffffu) + carry;
			acc[i + j] = t & 0xffffffffu;
			carry = t >> 32;
		}
	}
	for (int i = 0; i < LIMBS; i++)
		r->w[i] = (uint32_t)acc[i];
}

/* Compares (2^52 + m)^32 with 2^e. */
static int pow32_cmp(uint64_t m, int e)
{
	big x = {{0}}, p;
	uint64_t v = (UINT64_C(1) << 52) + m;
	x.w[0] = (uint32_t)v;
	x.w[1] = (uint32_t)(v >> 32);
	for (int i = 0; i < 5; i++) {
		big_mul(&p, &x, &x);
		x = p;
	}
	big t = {{0}};
	t.w[e / 32] = UINT32_C(1) << (e % 32);
	for (int i = LIMBS - 1; i >= 0; i--)
		if (x.w[i] != t.w[i])
			return x.w[i] > t.w[i] ? 1 : -1;
	return 0;
}

static void test_thresholds_exact(void)
{
	for (int k = 1; k < 32; k++) {
		/* Smallest mantissa strictly above 2^(k/32). */
		uint64_t t = (vt__hist_tab.thr[k] >> 12) + 1;
		CU_ASSERT(pow32_cmp(t, 1664 + k) > 0);
		CU_ASSERT(pow32_cmp(t - 1, 1664 + k) < 0);
		CU_ASSERT(vt__hist_tab.thr[k] > vt__hist_tab.thr[k - 1]);
	}
	CU_ASSERT(vt__hist_tab.thr[32] == UINT64_MAX);
	for (unsigned j = 0; j < 256; j++) {
		uint64_t lo = (uint64_t)j << 56, hi = lo | (UINT64_MAX >> 8);
		unsigned below = 0, inside = 0;
		for (int k = 1; k < 32; k++) {
			below += vt__hist_tab.thr[k] <= lo;
			inside += vt__hist_tab.thr[k] > lo &&
				  vt__hist_tab.thr[k] <= hi;
		}
		CU_ASSERT(vt__hist_tab.sub8[j] == below);
		CU_ASSERT(inside <= 1);
	}
}

/* Reference: octave o with 2^o < v <= 2^(o+1), then the largest k with
 * 2^(o + k/32) < v, in long double. */
static uint32_t ref_bucket(double v)
{
	int e;
	double m = frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
	int o = m == 0.5 ? e - 2 : e - 1;
	long double x = ldexpl((long double)v, -o); /* (1, 2] */
	int k = 31;
	while (k > 0 && !(x > exp2l((long double)k / 32)))
		k--;
	if (o < VT__OCT_MIN)
		return VT__B_UNDER;
	if (o >= VT__OCT_MIN + VT__NOCT)
		return VT__B_OVER;
	return VT__B_LOG0 + (uint32_t)(o - VT__OCT_MIN) * 32 + (uint32_t)k;
}

static void test_bucket_index(void)
{
	/* Around every boundary in a few octaves. */
	int octs[] = {-48, -20, -1, 0, 5, 47};
	for (size_t i = 0; i < sizeof octs / sizeof octs[0]; i++) {
		int e = octs[i];
		uint32_t base = VT__B_LOG0 + (uint32_t)(e - VT__OCT_MIN) * 32;
		for (int k = 1; k < 32; k++) {
			uint64_t t = (vt__hist_tab.thr[k] >> 12) + 1;
			double above = ldexp(1 + ldexp((double)t, -52), e);
			double below =
			    ldexp(1 + ldexp((double)(t - 1), -52), e);
			CU_ASSERT(vt__hist_bucket(above) == base + (uint32_t)k);
			CU_ASSERT(vt__hist_bucket(below) ==
				  base + (uint32_t)k - 1);
		}
		/* Powers of two are upper bounds: (2^e, 2^(e+1)]. */
		double p = ldexp(1, e + 1);
		CU_ASSERT(vt__hist_bucket(p) == base + 31);
		CU_ASSERT(vt__hist_bucket(nextafter(ldexp(1, e), 1e300)) ==
			  base);
	}
	/* Random values against the long double reference. */
	uint64_t s = 42;
	for (int i = 0; i < 200000; i++) {
		double v =
		    ldexp(1 + rng_unit(&s), (int)(rng_next(&s) % 110) - 55);
		uint32_t got = vt__hist_bucket(v), want = ref_bucket(v);
		if (got != want) {
			CU_FAIL("bucket differs from reference");
			printf("v=%a got %u want %u\n", v, got, want);
			break;
		}
	}
	/* Special buckets and the edges of the log range. */
	CU_ASSERT(vt__hist_bucket(0.0) == VT__B_ZERO);
	CU_ASSERT(vt__hist_bucket(-0.0) == VT__B_ZERO);
	CU_ASSERT(vt__hist_bucket(-1e-300) == VT__B_NEG);
	CU_ASSERT(vt__hist_bucket(-INFINITY) == VT__B_NEG);
	CU_ASSERT(vt__hist_bucket(5e-324) == VT__B_UNDER);
	CU_ASSERT(vt__hist_bucket(0x1p-48) == VT__B_UNDER);
	CU_ASSERT(vt__hist_bucket(nextafter(0x1p-48, 1)) == VT__B_LOG0);
	CU_ASSERT(vt__hist_bucket(0x1p48) == VT__B_OVER - 1);
	CU_ASSERT(vt__hist_bucket(nextafter(0x1p48, INFINITY)) == VT__B_OVER);
	CU_ASSERT(vt__hist_bucket(INFINITY) == VT__B_OVER);
	CU_ASSERT(vt__hist_log_index(NAN) >= VT__NLOG);
	/* Bounds of a bucket contain its values. */
	double lo, hi;
	uint32_t b = vt__hist_bucket(0.1);
	vt__hist_bucket_bounds(b, &lo, &hi);
	CU_ASSERT(lo < 0.1 && 0.1 <= hi);
	CU_ASSERT(fabs(hi / lo - exp2(1.0 / 32)) < 1e-12);
}

/*
 * Quantiles.
 */

enum { NSAMPLES = 1000000, NTHREADS = 4 };

typedef struct {
	vt_histogram *h;
	const double *v;
	size_t first, step, n;
	pthread_barrier_t *bar;
} feed_arg;

static void *feed(void *p)
{
	feed_arg *a = p;
	for (size_t i = a->first; i < a->n; i += a->step)
		if (vt_histogram_observe(a->h, a->v[i]) != VT_OK)
			return (void *)1;
	if (a->bar != NULL)
		pthread_barrier_wait(a->bar); /* done writing */
	if (a->bar != NULL)
		pthread_barrier_wait(a->bar); /* main has read */
	return NULL;
}

/* Records v[] into m's histogram "h": one stream when nthreads == 0,
 * else interleaved over nthreads threads that have all exited. */
static vt_histogram *record_all(vt_metrics *m, const double *v, size_t n,
				int nthreads)
{
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "h", "", &h) == VT_OK);
	if (nthreads == 0) {
		feed_arg a = {h, v, 0, 1, n, NULL};
		CU_ASSERT(feed(&a) == NULL);
		return h;
	}
	pthread_t t[NTHREADS];
	feed_arg a[NTHREADS];
	for (int i = 0; i < nthreads; i++) {
		a[i] = (feed_arg){h, v, (size_t)i, (size_t)nthreads, n, NULL};
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, feed, &a[i]) == 0);
	}
	for (int i = 0; i < nthreads; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		CU_ASSERT(rc == NULL);
	}
	return h;
}

static void check_quantiles(const char *dist, const double *v, size_t n)
{
	double *sorted = malloc(n * sizeof *sorted);
	CU_ASSERT_FATAL(sorted != NULL);
	memcpy(sorted, v, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_double);

	vt_metrics *one, *many;
	CU_ASSERT_FATAL(vt_metrics_alloc(&one) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_alloc(&many) == VT_OK);
	record_all(one, v, n, 0);
	record_all(many, v, n, NTHREADS);
	vt_metrics_snapshot *s1, *s2;
	const vt_series_snap *a = snap_series(one, "h", &s1);
	const vt_series_snap *b = snap_series(many, "h", &s2);

	static const double qs[] = {0,	   0.001,  0.01,    0.05, 0.1,	0.25,
				    0.5,   0.75,   0.9,	    0.95, 0.99, 0.995,
				    0.999, 0.9999, 0.99999, 1};
	double worst = 0;
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		double exact = exact_quantile(sorted, n, qs[i]);
		double got = vt_series_quantile(a, qs[i]);
		double err = fabs(got - exact) / exact;
		if (err > worst)
			worst = err;
		if (err > 0.011)
			printf("%s q=%g exact %.17g got %.17g err %.4f%%\n",
			       dist, qs[i], exact, got, err * 100);
		CU_ASSERT(err <= 0.011);
		CU_ASSERT(vt_series_quantile(b, qs[i]) == got);
	}
	const double *ps[] = {&a->hist.p50, &a->hist.p90, &a->hist.p95,
			      &a->hist.p99, &a->hist.p999};
	const double pq[] = {0.5, 0.9, 0.95, 0.99, 0.999};
	for (int i = 0; i < 5; i++) {
		double exact = exact_quantile(sorted, n, pq[i]);
		CU_ASSERT(fabs(*ps[i] - exact) / exact <= 0.011);
	}
	printf("\n  %s: worst quantile error %.4f%%", dist, worst * 100);

	/* count, sum, min and max are exact. */
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	CU_ASSERT(a->hist.count == n);
	CU_ASSERT(a->hist.sum == sum);
	CU_ASSERT(a->hist.min == sorted[0]);
	CU_ASSERT(a->hist.max == sorted[n - 1]);

	/* Merged shards give exactly what one stream gives. */
	CU_ASSERT(b->hist.count == a->hist.count);
	CU_ASSERT(b->hist.sum == a->hist.sum);
	CU_ASSERT(b->hist.min == a->hist.min);
	CU_ASSERT(b->hist.max == a->hist.max);
	CU_ASSERT(b->hist.p50 == a->hist.p50);
	CU_ASSERT(b->hist.p90 == a->hist.p90);
	CU_ASSERT(b->hist.p95 == a->hist.p95);
	CU_ASSERT(b->hist.p99 == a->hist.p99);
	CU_ASSERT(b->hist.p999 == a->hist.p999);
	CU_ASSERT(memcmp(b->hist.le_cumulative, a->hist.le_cumulative,
			 (a->hist.nbounds + 1) * sizeof(uint64_t)) == 0);
	CU_ASSERT_FATAL(a->buckets->n == b->buckets->n);
	CU_ASSERT(memcmp(a->buckets->idx, b->buckets->idx,
			 a->buckets->n * sizeof a->buckets->idx[0]) == 0);
	CU_ASSERT(memcmp(a->buckets->cnt, b->buckets->cnt,
			 a->buckets->n * sizeof a->buckets->cnt[0]) == 0);

	vt_metrics_snapshot_free(s1);
	vt_metrics_snapshot_free(s2);
	vt_metrics_free(one);
	vt_metrics_free(many);
	free(sorted);
}

static void test_quantiles_uniform(void)
{
	double *v = malloc(NSAMPLES * sizeof *v);
	CU_ASSERT_FATAL(v != NULL);
	uint64_t s = 1;
	for (size_t i = 0; i < NSAMPLES; i++)
		v[i] = dyadic(0.001 + 9.999 * rng_unit(&s));
	check_quantiles("uniform", v, NSAMPLES);
	free(v);
}

static void test_quantiles_lognormal(void)
{
	double *v = malloc(NSAMPLES * sizeof *v);
	CU_ASSERT_FATAL(v != NULL);
	uint64_t s = 2;
	for (size_t i = 0; i < NSAMPLES; i++)
		v[i] = dyadic(exp(-4 + 1.5 * rng_normal(&s)));
	check_quantiles("log-normal", v, NSAMPLES);
	free(v);
}

static void test_quantiles_bimodal(void)
{
	double *v = malloc(NSAMPLES * sizeof *v);
	CU_ASSERT_FATAL(v != NULL);
	uint64_t s = 3;
	for (size_t i = 0; i < NSAMPLES; i++) {
		double x = rng_unit(&s) < 0.8 ? 0.002 + 0.0003 * rng_normal(&s)
					      : 0.2 + 0.03 * rng_normal(&s);
		v[i] = dyadic(fabs(x));
	}
	check_quantiles("bimodal", v, NSAMPLES);
	free(v);
}

/* Latencies over 1 us .. 100 s, and values with a wide spread. */
static void test_quantiles_wide(void)
{
	size_t n = 200000;
	double *v = malloc(n * sizeof *v);
	CU_ASSERT_FATAL(v != NULL);
	uint64_t s = 4;
	for (size_t i = 0; i < n; i++)
		v[i] = dyadic(1e-6 * exp(18.42 * rng_unit(&s)));
	check_quantiles("1us..100s", v, n);
	free(v);
}

/*
 * Threads: exact totals, live and after exit.
 */

typedef struct {
	vt_histogram *h;
	int id, m;
	pthread_barrier_t *bar;
} obs_arg;

/* Value i of a thread: multiples of 1/4, so sums are exact. */
static double obs_value(int id, int i)
{
	return (double)((i + id) % 64 + 1) * 0.25;
}

static void *observe_many(void *p)
{
	obs_arg *a = p;
	for (int i = 0; i < a->m; i++)
		vt_histogram_observe(a->h, obs_value(a->id, i));
	pthread_barrier_wait(a->bar);
	pthread_barrier_wait(a->bar);
	return NULL;
}

static void test_threads_exact(void)
{
	enum { T = 4, M = 100000 };
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "lat", "", &h) == VT_OK);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, T + 1);
	pthread_t t[T];
	obs_arg a[T];
	double want = 0;
	for (int i = 0; i < T; i++) {
		a[i] = (obs_arg){h, i, M, &bar};
		for (int k = 0; k < M; k++)
			want += obs_value(i, k);
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, observe_many, &a[i]) == 0);
	}
	pthread_barrier_wait(&bar); /* all written, all alive */
	vt_metrics_snapshot *s;
	const vt_series_snap *ss = snap_series(m, "lat", &s);
	CU_ASSERT(ss->hist.count == (uint64_t)T * M);
	CU_ASSERT(ss->hist.sum == want);
	CU_ASSERT(ss->hist.min == 0.25);
	CU_ASSERT(ss->hist.max == 16);
	vt_metrics_snapshot_free(s);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	/* Every writer has exited: their shards were folded. */
	ss = snap_series(m, "lat", &s);
	CU_ASSERT(ss->hist.count == (uint64_t)T * M);
	CU_ASSERT(ss->hist.sum == want);
	CU_ASSERT(ss->hist.min == 0.25);
	CU_ASSERT(ss->hist.max == 16);
	CU_ASSERT(ss->hist.le_cumulative[ss->hist.nbounds] == (uint64_t)T * M);
	vt_metrics_snapshot_free(s);
	pthread_barrier_destroy(&bar);
	vt_metrics_free(m);
}

/*
 * Snapshots while writers run.
 */

typedef struct {
	vt_histogram *h;
	_Atomic int *stop;
	uint64_t seed;
	uint64_t n;	/* observations made */
	uint64_t limit; /* stop after this many (0: run until stop) */
} writer_arg;

static void *writer(void *p)
{
	writer_arg *a = p;
	static const double hot[] = {0.005, 0.01, 0.1, 1, 2.5, 10};
	while (!atomic_load(a->stop) && (a->limit == 0 || a->n < a->limit)) {
		uint64_t r = rng_next(&a->seed);
		double v;
		switch (r % 4) {
		case 0: /* exactly on a bound, or next to it */
			v = hot[(r >> 8) % 6];
			if (r & 0x10000)
				v = nextafter(v, (r & 0x20000) ? 1e9 : 0);
			break;
		case 1:
			v = 1e-6 * exp(18.42 * rng_unit(&a->seed));
			break;
		case 2:
			v = (double)(r >> 40) * 1e-7;
			break;
		default:
			v = rng_unit(&a->seed) * 20 - 1; /* some negatives */
		}
		vt_histogram_observe(a->h, v);
		a->n++;
	}
	return NULL;
}

static void check_consistent(const vt_series_snap *ss)
{
	const vt_hist_summary *h = &ss->hist;
	uint64_t sum = 0;
	for (size_t i = 0; i < ss->buckets->n; i++)
		sum += ss->buckets->cnt[i];
	CU_ASSERT(sum == h->count);
	CU_ASSERT(ss->buckets->count == h->count);
	CU_ASSERT(h->le_cumulative[h->nbounds] == h->count);
	for (size_t j = 0; j < h->nbounds; j++) {
		CU_ASSERT(h->le_cumulative[j] <= h->le_cumulative[j + 1]);
		CU_ASSERT(h->le_cumulative[j] <= h->count);
	}
	if (h->count > 0) {
		CU_ASSERT(h->min <= h->p50 && h->p50 <= h->p90);
		CU_ASSERT(h->p90 <= h->p95 && h->p95 <= h->p99);
		CU_ASSERT(h->p99 <= h->p999 && h->p999 <= h->max);
	}
}

static void test_snapshot_consistent_under_writes(void)
{
	enum { W = 3 };
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "h", "", &h) == VT_OK);
	_Atomic int stop = 0;
	pthread_t t[W + 1];
	writer_arg a[W + 1];
	for (int i = 0; i <= W; i++) {
		/* The last writer exits early: its shard is folded while
		 * snapshots run. */
		a[i] = (writer_arg){h, &stop, (uint64_t)i + 10, 0,
				    i == W ? 20000 : 0};
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, writer, &a[i]) ==
				0);
	}
	uint64_t last = 0;
	for (int r = 0; r < 300; r++) {
		vt_metrics_snapshot *s;
		const vt_series_snap *ss = snap_series(m, "h", &s);
		check_consistent(ss);
		CU_ASSERT(ss->hist.count >= last);
		last = ss->hist.count;
		vt_metrics_snapshot_free(s);
		if (r == 150)
			vt_test_sleep_ms(5);
	}
	atomic_store(&stop, 1);
	uint64_t total = 0;
	for (int i = 0; i <= W; i++) {
		pthread_join(t[i], NULL);
		total += a[i].n;
	}
	vt_metrics_snapshot *s;
	const vt_series_snap *ss = snap_series(m, "h", &s);
	check_consistent(ss);
	CU_ASSERT(ss->hist.count == total);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/*
 * le buckets.
 */

static void check_le(vt_metrics *m, const char *name, const double *b,
		     size_t nb, const double *v, size_t nv)
{
	vt_metrics_snapshot *s;
	const vt_series_snap *ss = snap_series(m, name, &s);
	CU_ASSERT_FATAL(ss->hist.nbounds == nb);
	for (size_t j = 0; j < nb; j++) {
		uint64_t want = 0;
		for (size_t i = 0; i < nv; i++)
			want += v[i] <= b[j];
		CU_ASSERT(ss->hist.le_bounds[j] == b[j]);
		if (ss->hist.le_cumulative[j] != want)
			printf("\n  le=%.17g: got %llu want %llu", b[j],
			       (unsigned long long)ss->hist.le_cumulative[j],
			       (unsigned long long)want);
		CU_ASSERT(ss->hist.le_cumulative[j] == want);
	}
	CU_ASSERT(ss->hist.le_cumulative[nb] == nv);
	CU_ASSERT(ss->hist.count == nv);
	vt_metrics_snapshot_free(s);
}

/* Each bound, just below and just above it, and a few others. */
static size_t around(const double *b, size_t nb, double *v)
{
	size_t n = 0;
	for (size_t j = 0; j < nb; j++) {
		v[n++] = b[j];
		v[n++] = b[j];
		v[n++] = nextafter(b[j], -INFINITY);
		v[n++] = nextafter(b[j], INFINITY);
		v[n++] = b[j] * 1.01;
		v[n++] = b[j] * 0.99;
	}
	static const double extra[] = {0,	  -0.0,	   -5,	 -1e-300,
				       1e-300,	  0x1p-48, 1e30, INFINITY,
				       -INFINITY, 3.14159};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		v[n++] = extra[i];
	return n;
}

static void test_le_default_exact(void)
{
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "d", "", &h) == VT_OK);
	double v[6 * VT_MAX_LE_BOUNDS + 16];
	size_t nv = around(vt_default_le_bounds, vt_default_le_nbounds, v);
	for (size_t i = 0; i < nv; i++)
		CU_ASSERT(vt_histogram_observe(h, v[i]) == VT_OK);
	check_le(m, "d", vt_default_le_bounds, vt_default_le_nbounds, v, nv);
	vt_metrics_free(m);
}

static void test_le_custom_exact(void)
{
	/* Several bounds in one log bucket, powers of two (bucket upper
	 * edges), zero, negatives, and bounds outside the log range. */
	static const double b[] = {-10,	   -1e-9, 0, 1e-20,  0x1p-48,
				   0.001,  0.5,	  1, 1.0001, 1.0002,
				   1.0003, 2,	  3, 0x1p48, 1e20};
	size_t nb = sizeof b / sizeof b[0];
	vt_metrics *m;
	vt_family *f;
	vt_histogram *h1, *h2;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *ln[] = {"path"};
	CU_ASSERT_FATAL(
	    vt_metrics_histogram_family(m, "c", "", ln, 1, b, nb, &f) == VT_OK);
	const char *p1[] = {"/a"}, *p2[] = {"/b"};
	CU_ASSERT_FATAL(vt_family_series(f, p1, 1, &h1) == VT_OK);
	CU_ASSERT_FATAL(vt_family_series(f, p2, 1, &h2) == VT_OK);
	double v[6 * 15 + 16];
	size_t nv = around(b, nb, v);
	for (size_t i = 0; i < nv; i++)
		CU_ASSERT(vt_histogram_observe(h1, v[i]) == VT_OK);
	vt_metrics_filter flt = {0};
	vt_label l = {"path", "/a"};
	flt.labels = &l;
	flt.nlabels = 1;
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &flt, &s) == VT_OK);
	CU_ASSERT_FATAL(s->nfamilies == 1 && s->families[0].nseries == 1);
	const vt_hist_summary *hs = &s->families[0].series[0].hist;
	for (size_t j = 0; j < nb; j++) {
		uint64_t want = 0;
		for (size_t i = 0; i < nv; i++)
			want += v[i] <= b[j];
		CU_ASSERT(hs->le_cumulative[j] == want);
	}
	CU_ASSERT(hs->le_cumulative[nb] == nv);
	vt_metrics_snapshot_free(s);
	/* The other series is empty. */
	l.value = "/b";
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &flt, &s) == VT_OK);
	hs = &s->families[0].series[0].hist;
	CU_ASSERT(hs->count == 0 && hs->le_cumulative[nb] == 0);
	CU_ASSERT(isnan(hs->min) && isnan(hs->p50) && isnan(hs->max));
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/* le counts from many threads, checked after they exit. */
static void test_le_threads_exact(void)
{
	enum { T = 3 };
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "t", "", &h) == VT_OK);
	double v[6 * VT_MAX_LE_BOUNDS + 16];
	size_t nv = around(vt_default_le_bounds, vt_default_le_nbounds, v);
	double *all = malloc(T * nv * 50 * sizeof *all);
	CU_ASSERT_FATAL(all != NULL);
	for (size_t i = 0; i < T * nv * 50; i++)
		all[i] = v[i % nv];
	feed_arg a[T];
	pthread_t t[T];
	for (int i = 0; i < T; i++) {
		a[i] = (feed_arg){h, all, (size_t)i, T, T * nv * 50, NULL};
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, feed, &a[i]) == 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	check_le(m, "t", vt_default_le_bounds, vt_default_le_nbounds, all,
		 T * nv * 50);
	free(all);
	vt_metrics_free(m);
}

/*
 * Carries: counts past 65535 in one bucket of one thread.
 */

/* One thread, one bucket past several carries, with a bound in it (le
 * counted exactly) and a neighbour outside it. */
static void test_carry_exact(void)
{
	enum { N = 3 * 65536 + 123 };
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "carry", "", &h) == VT_OK);
	for (int i = 0; i < N; i++) {
		vt_histogram_observe(h, 0.1);  /* on the bound 0.1 */
		vt_histogram_observe(h, 0.25); /* on the bound 0.25 */
		if (i % 2 == 0)
			vt_histogram_observe(h, nextafter(0.1, 1));
	}
	size_t bytes = vt__series_thread_bytes(h);
	vt_metrics_snapshot *s;
	const vt_series_snap *ss = snap_series(m, "carry", &s);
	uint64_t odd = (N + 1) / 2;
	CU_ASSERT(ss->hist.count == 2 * (uint64_t)N + odd);
	CU_ASSERT(ss->buckets->n == 2);
	/* le .1: the values on it, not those just above, in its bucket. */
	CU_ASSERT(ss->hist.le_cumulative[3] == 0);
	CU_ASSERT(ss->hist.le_cumulative[4] == (uint64_t)N);
	CU_ASSERT(ss->hist.le_cumulative[5] == 2 * (uint64_t)N + odd);
	CU_ASSERT(ss->hist.min == 0.1 && ss->hist.max == 0.25);
	vt_metrics_snapshot_free(s);
	/* Carries take no memory: still two pages. */
	CU_ASSERT(bytes == 16 + vt__hist_size(vt_default_le_nbounds) + 2 * 256);
	vt_metrics_free(m);
}

typedef struct {
	vt_histogram *h;
	uint64_t n;
	pthread_barrier_t *bar; /* NULL: exit at once */
} carry_arg;

static void *carry_writer(void *p)
{
	carry_arg *a = p;
	for (uint64_t i = 0; i < a->n; i++)
		vt_histogram_observe(a->h, i % 8 == 0 ? 0.005 : 0.003);
	if (a->bar != NULL) {
		pthread_barrier_wait(a->bar);
		pthread_barrier_wait(a->bar);
	}
	return NULL;
}

/* Snapshots while a writer carries, again and again: counts never go
 * down, never pass what was written, and stay self-consistent; then
 * exact, live, and after the writer exited (folded). */
static void test_carry_under_snapshots(void)
{
	const uint64_t n = 40 * 65536 + 7;
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "cs", "", &h) == VT_OK);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	carry_arg a = {h, n, &bar};
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, carry_writer, &a) == 0);
	uint64_t last = 0, lastle = 0;
	int bad = 0, rounds = 0;
	for (;;) {
		vt_metrics_snapshot *s;
		const vt_series_snap *ss = snap_series(m, "cs", &s);
		uint64_t sum = 0;
		for (size_t i = 0; i < ss->buckets->n; i++)
			sum += ss->buckets->cnt[i];
		bad += sum != ss->hist.count;
		bad += ss->hist.count < last || ss->hist.count > n;
		bad += ss->hist.le_cumulative[0] < lastle;
		bad += ss->hist.le_cumulative[0] > ss->hist.count;
		last = ss->hist.count;
		lastle = ss->hist.le_cumulative[0];
		vt_metrics_snapshot_free(s);
		rounds++;
		if (last == n)
			break;
	}
	CU_ASSERT(bad == 0);
	CU_ASSERT(rounds > 1);
	pthread_barrier_wait(&bar); /* written, alive */
	vt_metrics_snapshot *s;
	const vt_series_snap *ss = snap_series(m, "cs", &s);
	CU_ASSERT(ss->hist.count == n);
	CU_ASSERT(ss->hist.le_cumulative[0] == n); /* all <= 0.005 */
	CU_ASSERT(ss->buckets->n == 2);
	CU_ASSERT(ss->buckets->cnt[1] == (n + 7) / 8);
	vt_metrics_snapshot_free(s);
	pthread_barrier_wait(&bar);
	pthread_join(t, NULL);
	/* Folded: counts past 16 bits in the totals too; and a second
	 * thread on top. */
	a.bar = NULL;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, carry_writer, &a) == 0);
	pthread_join(t, NULL);
	ss = snap_series(m, "cs", &s);
	CU_ASSERT(ss->hist.count == 2 * n);
	CU_ASSERT(ss->hist.le_cumulative[0] == 2 * n);
	CU_ASSERT_FATAL(ss->buckets->n == 2);
	CU_ASSERT(ss->buckets->cnt[0] == 2 * (n - (n + 7) / 8));
	CU_ASSERT(ss->buckets->cnt[1] == 2 * ((n + 7) / 8));
	double want = 2 * ((double)((n + 7) / 8) * 0.005 +
			   (double)(n - (n + 7) / 8) * 0.003);
	CU_ASSERT(fabs(ss->hist.sum / want - 1) < 1e-9);
	vt_metrics_snapshot_free(s);
	pthread_barrier_destroy(&bar);
	vt_metrics_free(m);
}

/* A merge that meets a carry half done takes the bucket's count from
 * before the carry, whatever state the page is in. */
static void test_carry_read_midway(void)
{
	vt__arena a;
	vt__arena_init(&a, 4096, 65536);
	vt__hist *h = vt__hist_new(&a, 0);
	CU_ASSERT_FATAL(h != NULL);
	vt__page *pg = vt__arena_alloc(&a, sizeof *pg, 64);
	CU_ASSERT_FATAL(pg != NULL);
	const unsigned o = 40, k = 7;
	atomic_store(&h->dir[o], pg);
	atomic_store(&h->used[0], UINT64_C(1) << o);
	atomic_store(&h->sum, 1.0);
	atomic_store(&h->min, 0.5);
	atomic_store(&h->max, 0.5);
	/* Bucket k held 3 * 65536 + 65535; the carry has bumped the high
	 * part and zeroed the low part, carry_seq is still odd. */
	atomic_store(&pg->lo[k], 0);
	atomic_store(&pg->mid[k], 4);
	atomic_store(&h->wide[0], UINT64_C(1) << o);
	atomic_store(&pg->lo[k + 1], 5); /* another bucket */
	atomic_store(&h->carry, (uint64_t)3 << 16 | o << 5 | k);
	atomic_store(&h->carry_seq, 1);
	vt__hmerge *mg = calloc(1, sizeof *mg);
	CU_ASSERT_FATAL(mg != NULL);
	vt__hmerge_reset(mg, VT_MAX_LE_BOUNDS);
	vt__hmerge_add(mg, h, 0);
	vt_hist_summary sum;
	const vt_hist_buckets *hs;
	CU_ASSERT_FATAL(vt__hmerge_finish(mg, NULL, NULL, 0, &a, &sum, &hs) ==
			VT_OK);
	CU_ASSERT(sum.count == 3 * 65536 + 65535 + 5);
	CU_ASSERT_FATAL(hs->n == 2);
	CU_ASSERT(hs->idx[0] == VT__B_LOG0 + o * VT__SUB + k);
	CU_ASSERT(hs->cnt[0] == 3 * 65536 + 65535);
	CU_ASSERT(hs->cnt[1] == 5);
	/* Carry done: the page as it now is. */
	atomic_store(&h->carry_seq, 2);
	vt__hmerge_add(mg, h, 0);
	CU_ASSERT_FATAL(vt__hmerge_finish(mg, NULL, NULL, 0, &a, &sum, &hs) ==
			VT_OK);
	CU_ASSERT(sum.count == 4 * 65536 + 5);
	free(mg);
	vt__arena_fini(&a);
}

/*
 * Many series merged as one stream.
 */

typedef struct {
	vt_histogram **h;
	int n, id;
	pthread_barrier_t *bar; /* NULL: exit at once */
} many_arg;

/* Series i gets i % 5 + 1 observations of thread id in ids i % 4 allows:
 * series with i % 4 == 0 get none. */
static int writes_series(int i, int id)
{
	return i % 4 != 0 && (i % 4 == 1 || id % 2 == i % 2);
}

static void *many_writer(void *p)
{
	many_arg *a = p;
	for (int i = 0; i < a->n; i++)
		if (writes_series(i, a->id))
			for (int k = 0; k <= i % 5; k++)
				vt_histogram_observe(a->h[i],
						     0.001 * (i + 1) * (k + 1));
	if (a->bar != NULL) {
		pthread_barrier_wait(a->bar);
		pthread_barrier_wait(a->bar);
	}
	return NULL;
}

/* Histograms of several families, some empty, some only in exited
 * threads, some in live ones too: each series gets exactly its own. */
static void test_many_series_stream(void)
{
	enum { NS = 300, LIVE = 3, DEAD = 2 };
	vt_metrics *m;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_histogram *h[NS];
	const char *ln[] = {"i"};
	static const double b2[] = {0.01, 0.1};
	vt_family *f = NULL;
	for (int i = 0; i < NS; i++) {
		if (i % 100 == 0) {
			char name[32];
			snprintf(name, sizeof name, "stream_%d_seconds",
				 i / 100);
			CU_ASSERT_FATAL(vt_metrics_histogram_family(
					    m, name, "", ln, 1,
					    i == 100 ? b2 : NULL,
					    i == 100 ? 2 : 0, &f) == VT_OK);
		}
		char v[8];
		snprintf(v, sizeof v, "%03d", i);
		const char *vals[] = {v};
		CU_ASSERT_FATAL(vt_family_series(f, vals, 1, &h[i]) == VT_OK);
	}
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, LIVE + 1);
	pthread_t t[LIVE + DEAD];
	many_arg a[LIVE + DEAD];
	for (int i = 0; i < LIVE + DEAD; i++) {
		a[i] = (many_arg){h, NS, i, i < LIVE ? &bar : NULL};
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, many_writer, &a[i]) == 0);
	}
	for (int i = LIVE; i < LIVE + DEAD; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_wait(&bar);
	for (int state = 0; state < 2; state++) {
		vt_metrics_snapshot *s;
		CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
		CU_ASSERT_FATAL(s->nfamilies == 3);
		int bad = 0;
		for (int i = 0; i < NS; i++) {
			const vt_series_snap *ss =
			    &s->families[i / 100].series[i % 100];
			uint64_t want = 0;
			for (int id = 0; id < LIVE + DEAD; id++)
				want += writes_series(i, id) ? i % 5 + 1 : 0;
			bad += ss->hist.count != want;
			bad += ss->hist.le_cumulative[ss->hist.nbounds] != want;
			bad += want > 0 && ss->hist.min != 0.001 * (i + 1);
			bad += want > 0 &&
			       ss->hist.max != 0.001 * (i + 1) * (i % 5 + 1);
			bad += want == 0 && !isnan(ss->hist.min);
			bad += ss->hist.nbounds !=
			       (i / 100 == 1 ? 2 : vt_default_le_nbounds);
		}
		CU_ASSERT(bad == 0);
		vt_metrics_snapshot_free(s);
		if (state == 0) {
			pthread_barrier_wait(&bar);
			for (int i = 0; i < LIVE; i++)
				pthread_join(t[i], NULL);
		}
	}
	pthread_barrier_destroy(&bar);
	vt_metrics_free(m);
}

/*
 * Edge cases and memory.
 */

static void test_special_values(void)
{
	vt_metrics *m;
	vt_histogram *h;
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "x", "", &h) == VT_OK);
	CU_ASSERT(vt_histogram_observe(h, NAN) == VT_EINVAL);
	CU_ASSERT(vt_histogram_observe(h, -NAN) == VT_EINVAL);
	const vt_series_snap *ss = snap_series(m, "x", &s);
	CU_ASSERT(ss->hist.count == 0);
	CU_ASSERT(ss->hist.sum == 0);
	CU_ASSERT(isnan(vt_series_quantile(ss, 0.5)));
	vt_metrics_snapshot_free(s);

	CU_ASSERT(vt_histogram_observe(h, 3) == VT_OK);
	ss = snap_series(m, "x", &s);
	CU_ASSERT(ss->hist.count == 1);
	/* One value: every quantile is that value, exactly. */
	CU_ASSERT(ss->hist.p50 == 3 && ss->hist.p999 == 3);
	CU_ASSERT(vt_series_quantile(ss, 0) == 3);
	vt_metrics_snapshot_free(s);

	CU_ASSERT(vt_histogram_observe(h, 0) == VT_OK);
	CU_ASSERT(vt_histogram_observe(h, -2) == VT_OK);
	CU_ASSERT(vt_histogram_observe(h, INFINITY) == VT_OK);
	ss = snap_series(m, "x", &s);
	CU_ASSERT(ss->hist.count == 4);
	CU_ASSERT(ss->hist.min == -2);
	CU_ASSERT(ss->hist.max == INFINITY);
	CU_ASSERT(ss->hist.sum == INFINITY);
	CU_ASSERT(vt_series_quantile(ss, 0) == -2);
	CU_ASSERT(vt_series_quantile(ss, 0.25) == -2);
	CU_ASSERT(vt_series_quantile(ss, 0.5) == 0);
	CU_ASSERT(fabs(vt_series_quantile(ss, 0.75) - 3) / 3 <= 0.011);
	CU_ASSERT(vt_series_quantile(ss, 1) == INFINITY);
	CU_ASSERT(isnan(vt_series_quantile(ss, -0.1)));
	CU_ASSERT(isnan(vt_series_quantile(ss, 1.1)));
	CU_ASSERT(isnan(vt_series_quantile(ss, NAN)));
	CU_ASSERT(isnan(vt_series_quantile(NULL, 0.5)));
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

/* The bucket bounds table is 2^(k/32) as exp2 gives it (the bounds
 * quantiles interpolate in), and neighbouring buckets meet. */
static void test_bucket_bounds(void)
{
	for (int k = 0; k <= VT__SUB; k++)
		CU_ASSERT(vt__hist_pow32[k] == exp2(k / (double)VT__SUB));
	int bad = 0;
	for (uint32_t b = VT__B_LOG0; b < VT__B_OVER; b++) {
		double lo, hi, lo2, hi2;
		vt__hist_bucket_bounds(b, &lo, &hi);
		uint32_t li = b - VT__B_LOG0;
		int e = (int)(li / VT__SUB) + VT__OCT_MIN;
		bad += lo != ldexp(exp2((li % VT__SUB) / 32.0), e);
		if (b + 1 < VT__B_OVER) {
			vt__hist_bucket_bounds(b + 1, &lo2, &hi2);
			bad += lo2 != hi;
		}
	}
	CU_ASSERT(bad == 0);
}

static void test_memory_per_thread_series(void)
{
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "lat", "", &h) == VT_OK);
	/* Latencies from 1 us to 100 s, every octave. */
	for (double v = 1e-6; v <= 100; v *= 1.001)
		vt_histogram_observe(h, v);
	vt_histogram_observe(h, 100);
	size_t bytes = vt__series_thread_bytes(h);
	printf("\n  1us..100s histogram: %zu bytes per (thread, series)",
	       bytes);
	CU_ASSERT(bytes >= 27 * 256); /* it measures the pages */
	CU_ASSERT(bytes <= 8192);
	vt_metrics_free(m);
}

/*
 * Reusing a series' last result: snapshots with and without changes.
 */

/* Whether two snapshots of one histogram series hold the same data. */
static bool same_hist(const vt_series_snap *a, const vt_series_snap *b)
{
	const vt_hist_summary *x = &a->hist, *y = &b->hist;
	if (x->count != y->count || x->sum != y->sum ||
	    x->nbounds != y->nbounds || a->buckets->n != b->buckets->n)
		return false;
	if (x->count > 0 &&
	    (x->min != y->min || x->max != y->max || x->p50 != y->p50 ||
	     x->p90 != y->p90 || x->p99 != y->p99 || x->p999 != y->p999))
		return false;
	size_t n = a->buckets->n;
	return memcmp(x->le_cumulative, y->le_cumulative,
		      (x->nbounds + 1) * sizeof x->le_cumulative[0]) == 0 &&
	       memcmp(a->buckets->idx, b->buckets->idx,
		      n * sizeof a->buckets->idx[0]) == 0 &&
	       memcmp(a->buckets->cnt, b->buckets->cnt,
		      n * sizeof a->buckets->cnt[0]) == 0;
}

static const vt_series_snap *first_series(const vt_metrics_snapshot *s)
{
	CU_ASSERT_FATAL(s->nfamilies > 0 && s->families[0].nseries > 0);
	return &s->families[0].series[0];
}

typedef struct {
	vt_histogram *h;
	double v;
	int n;
} exit_arg;

static void *observe_then_exit(void *p)
{
	exit_arg *a = p;
	for (int i = 0; i < a->n; i++)
		vt_histogram_observe(a->h, a->v);
	return NULL;
}

/* A change that leaves the sum as it was (a value too small to move a
 * large sum, a zero) still shows; no change gives the same result; a
 * thread's exit moves its counts without changing them. */
static void test_reuse_with_and_without_changes(void)
{
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "reuse_seconds", NULL, &h) ==
			VT_OK);
	vt_metrics_snapshot *s[8];
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[0]) == VT_OK);
	CU_ASSERT(first_series(s[0])->hist.count == 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT(vt_histogram_observe(h, 0x1p47) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[1]) == VT_OK);
	CU_ASSERT(first_series(s[1])->hist.count == 4);
	/* Unchanged: the same. */
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[2]) == VT_OK);
	CU_ASSERT(same_hist(first_series(s[1]), first_series(s[2])));
	/* 1e-6 does not move a sum of 2^49: counted all the same. */
	CU_ASSERT(vt_histogram_observe(h, 1e-6) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[3]) == VT_OK);
	const vt_hist_summary *x = &first_series(s[3])->hist;
	CU_ASSERT(x->count == 5 && x->sum == 0x1p49 && x->min == 1e-6);
	CU_ASSERT(x->le_cumulative[0] == 1); /* 1e-6 <= .005 */
	/* A zero, and a negative value that takes the sum back. */
	CU_ASSERT(vt_histogram_observe(h, 0) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[4]) == VT_OK);
	CU_ASSERT(first_series(s[4])->hist.count == 6);
	CU_ASSERT(vt_histogram_observe(h, 1) == VT_OK);
	CU_ASSERT(vt_histogram_observe(h, -1) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[5]) == VT_OK);
	x = &first_series(s[5])->hist;
	CU_ASSERT(x->count == 8 && x->sum == 0x1p49 && x->min == -1);
	/* Another thread writes and exits: its counts are folded. */
	exit_arg a = {h, 0.25, 1000};
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, observe_then_exit, &a) == 0);
	pthread_join(t, NULL);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[6]) == VT_OK);
	CU_ASSERT(first_series(s[6])->hist.count == 1008);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s[7]) == VT_OK);
	CU_ASSERT(same_hist(first_series(s[6]), first_series(s[7])));
	/* Earlier snapshots are not changed by later ones. */
	CU_ASSERT(first_series(s[1])->hist.count == 4);
	CU_ASSERT(first_series(s[3])->hist.count == 5);
	for (int i = 0; i < 8; i++)
		vt_metrics_snapshot_free(s[i]);
	vt_metrics_free(m);
}

typedef struct {
	vt_histogram *h;
	pthread_barrier_t *parked; /* NULL: exit at once */
	pthread_barrier_t *go;
} live_arg;

static void *observe_and_park(void *p)
{
	live_arg *a = p;
	for (int i = 0; i < 300; i++)
		vt_histogram_observe(a->h, 0.001 * (1 + i % 7));
	pthread_barrier_wait(a->parked);
	pthread_barrier_wait(a->go); /* then exit */
	return NULL;
}

/* A result kept while the writers were alive is still right once they
 * have exited and their shards are folded. */
static void test_reuse_across_fold(void)
{
	enum { NT = 4 };
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "fold_seconds", NULL, &h) ==
			VT_OK);
	pthread_barrier_t parked, go;
	pthread_barrier_init(&parked, NULL, NT + 1);
	pthread_barrier_init(&go, NULL, NT + 1);
	live_arg a = {h, &parked, &go};
	pthread_t t[NT];
	for (int i = 0; i < NT; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, observe_and_park, &a) == 0);
	pthread_barrier_wait(&parked);
	vt_metrics_snapshot *live, *dead, *more;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &live) == VT_OK);
	CU_ASSERT(first_series(live)->hist.count == NT * 300);
	pthread_barrier_wait(&go);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &dead) == VT_OK);
	CU_ASSERT(same_hist(first_series(live), first_series(dead)));
	CU_ASSERT(vt_histogram_observe(h, 0.5) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &more) == VT_OK);
	CU_ASSERT(first_series(more)->hist.count == NT * 300 + 1);
	CU_ASSERT(first_series(more)->hist.max == 0.5);
	vt_metrics_snapshot_free(live);
	vt_metrics_snapshot_free(dead);
	vt_metrics_snapshot_free(more);
	pthread_barrier_destroy(&parked);
	pthread_barrier_destroy(&go);
	vt_metrics_free(m);
}

enum { RS_SERIES = 8, RS_THREADS = 4, RS_OBS = 20000 };

typedef struct {
	vt_histogram **h;
	int id;
} rs_writer;

/* Value i of writer id: dyadic, so sums are exact in any order. */
static double rs_value(int id, int i)
{
	return (double)(1 + (i * 7 + id) % 64) / 256.0;
}

static void *rs_write(void *p)
{
	rs_writer *w = p;
	for (int i = 0; i < RS_OBS; i++)
		vt_histogram_observe(w->h[(i + w->id) % RS_SERIES],
				     rs_value(w->id, i));
	return NULL;
}

typedef struct {
	vt_metrics *m;
	_Atomic int stop;
	_Atomic int snaps, bad;
} rs_scraper;

/* Takes snapshots until stopped: counts never go backwards, and each
 * series is self-consistent. */
static void *rs_scrape(void *p)
{
	rs_scraper *r = p;
	uint64_t last[RS_SERIES] = {0};
	while (!atomic_load(&r->stop)) {
		vt_metrics_snapshot *s;
		if (vt_metrics_snapshot_take(r->m, NULL, &s) != VT_OK) {
			r->bad++;
			break;
		}
		const vt_family_snap *f = &s->families[0];
		for (size_t k = 0; k < f->nseries && k < RS_SERIES; k++) {
			const vt_series_snap *x = &f->series[k];
			uint64_t sum = 0;
			for (size_t b = 0; b < x->buckets->n; b++)
				sum += x->buckets->cnt[b];
			r->bad += x->hist.count < last[k] ||
				  sum != x->hist.count ||
				  x->hist.le_cumulative[x->hist.nbounds] !=
				      x->hist.count;
			last[k] = x->hist.count;
		}
		vt_metrics_snapshot_free(s);
		atomic_fetch_add(&r->snaps, 1);
	}
	return NULL;
}

/* Writers and a scraper at once, the writers exiting (folded) while
 * it scrapes: afterwards every series holds exactly what was written,
 * bucket by bucket, and a snapshot without changes gives the same. */
static void test_reuse_exact_under_concurrency(void)
{
	vt_metrics *m;
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	static const char *const ln[] = {"k"};
	CU_ASSERT_FATAL(vt_metrics_histogram_family(m, "rs_seconds", NULL, ln,
						    1, NULL, 0, &f) == VT_OK);
	vt_histogram *h[RS_SERIES];
	for (int i = 0; i < RS_SERIES; i++) {
		char v[8];
		snprintf(v, sizeof v, "%d", i);
		const char *vv = v;
		CU_ASSERT_FATAL(vt_family_series(f, &vv, 1, &h[i]) == VT_OK);
	}
	rs_scraper sc = {.m = m};
	pthread_t st, wt[RS_THREADS];
	rs_writer w[RS_THREADS];
	CU_ASSERT_FATAL(pthread_create(&st, NULL, rs_scrape, &sc) == 0);
	/* The writers start once the scraper runs, so that its snapshots
	 * overlap their writes however the threads are scheduled. */
	while (atomic_load(&sc.snaps) == 0 && atomic_load(&sc.bad) == 0)
		sched_yield();
	for (int i = 0; i < RS_THREADS; i++) {
		w[i] = (rs_writer){h, i};
		CU_ASSERT_FATAL(pthread_create(&wt[i], NULL, rs_write, &w[i]) ==
				0);
	}
	for (int i = 0; i < RS_THREADS; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&sc.stop, 1);
	pthread_join(st, NULL);
	CU_ASSERT(sc.bad == 0);
	CU_ASSERT(sc.snaps > 0);

	/* The exact totals, bucket by bucket. */
	uint64_t want[RS_SERIES][VT__NBUCKETS];
	double wsum[RS_SERIES] = {0};
	memset(want, 0, sizeof want);
	for (int id = 0; id < RS_THREADS; id++)
		for (int i = 0; i < RS_OBS; i++) {
			double v = rs_value(id, i);
			int k = (i + id) % RS_SERIES;
			want[k][vt__hist_bucket(v)]++;
			wsum[k] += v;
		}
	vt_metrics_snapshot *s1, *s2;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s1) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s2) == VT_OK);
	const vt_family_snap *fs = &s1->families[0];
	CU_ASSERT_FATAL(fs->nseries == RS_SERIES);
	int bad = 0;
	for (int k = 0; k < RS_SERIES; k++) {
		const vt_series_snap *x = &fs->series[k];
		uint64_t total = 0;
		for (size_t b = 0; b < x->buckets->n; b++) {
			bad +=
			    x->buckets->cnt[b] != want[k][x->buckets->idx[b]];
			total += x->buckets->cnt[b];
		}
		bad += total != (uint64_t)RS_THREADS * RS_OBS / RS_SERIES;
		bad += x->hist.sum != wsum[k];
		bad += !same_hist(x, &s2->families[0].series[k]);
	}
	CU_ASSERT(bad == 0);
	vt_metrics_snapshot_free(s1);
	vt_metrics_snapshot_free(s2);
	vt_metrics_free(m);
}

/*
 * Native buckets for the protobuf exposition (native.h).
 */

static void test_native_buckets(void)
{
	vt_metrics *m;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "native_seconds", NULL, &h) ==
			VT_OK);
	static const double v[] = {0, 1e-20, -3, 1.0, 1.0, 2.0, 1.5, 1e15};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CU_ASSERT(vt_histogram_observe(h, v[i]) == VT_OK);
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	vt__native nb;
	CU_ASSERT_FATAL(vt__series_native(first_series(s), &nb));
	CU_ASSERT(nb.schema == 5);
	CU_ASSERT(nb.zero_threshold == 0x1p-48);
	CU_ASSERT(nb.zero_count == 2); /* 0 and 1e-20 */
	CU_ASSERT(nb.neg_count == 1);
	CU_ASSERT(nb.over_count == 1);
	CU_ASSERT_FATAL(nb.n == 3);
	/* 1.0 is in (2^(-1/32), 2^0]: index 0; 1.5 in (2^(18/32),
	 * 2^(19/32)]: 19; 2.0: 32. */
	CU_ASSERT(vt__native_index(nb.bucket[0]) == 0 && nb.count[0] == 2);
	CU_ASSERT(vt__native_index(nb.bucket[1]) == 19 && nb.count[1] == 1);
	CU_ASSERT(vt__native_index(nb.bucket[2]) == 32 && nb.count[2] == 1);
	/* Every log bucket's upper bound is 2^(index/32). */
	for (uint32_t b = VT__B_LOG0; b < VT__B_OVER; b += 97) {
		double lo, hi;
		vt__hist_bucket_bounds(b, &lo, &hi);
		CU_ASSERT(fabs(hi / exp2(vt__native_index(b) / 32.0) - 1) <
			  1e-15);
	}
	CU_ASSERT(vt__native_index(VT__B_LOG0) == -1535);
	CU_ASSERT(vt__native_index(VT__B_OVER - 1) == 1536);
	uint64_t total = nb.zero_count + nb.neg_count + nb.over_count;
	for (size_t i = 0; i < nb.n; i++)
		total += nb.count[i];
	CU_ASSERT(total == first_series(s)->hist.count);
	/* A counter has no buckets. */
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_counter(m, "native_total", NULL, &c) ==
			VT_OK);
	vt_metrics_snapshot_free(s);
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT_FATAL(s->nfamilies == 2);
	const vt_family_snap *cf = &s->families[1];
	CU_ASSERT_FATAL(strcmp(cf->name, "native_total") == 0);
	CU_ASSERT(!vt__series_native(&cf->series[0], &nb));
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"thresholds are exact", test_thresholds_exact},
	    {"bucket index is exact", test_bucket_index},
	    {"bucket bounds", test_bucket_bounds},
	    {"quantiles: uniform", test_quantiles_uniform},
	    {"quantiles: log-normal", test_quantiles_lognormal},
	    {"quantiles: bimodal", test_quantiles_bimodal},
	    {"quantiles: 1us..100s", test_quantiles_wide},
	    {"threads: count and sum exact", test_threads_exact},
	    {"snapshot consistent under writes",
	     test_snapshot_consistent_under_writes},
	    {"le default bounds exact", test_le_default_exact},
	    {"le custom bounds exact", test_le_custom_exact},
	    {"le exact across threads", test_le_threads_exact},
	    {"special values", test_special_values},
	    {"memory per (thread, series)", test_memory_per_thread_series},
	    {"carries: counts past 16 bits exact", test_carry_exact},
	    {"carries: under snapshots, live and folded",
	     test_carry_under_snapshots},
	    {"carries: read half done", test_carry_read_midway},
	    {"many series merged as one stream", test_many_series_stream},
	    {"reuse: snapshots with and without changes",
	     test_reuse_with_and_without_changes},
	    {"reuse: a result kept live is right once folded",
	     test_reuse_across_fold},
	    {"reuse: exact under concurrent writes, exits and scrapes",
	     test_reuse_exact_under_concurrency},
	    {"native buckets: schema 5 indices and clamps",
	     test_native_buckets},
	    {NULL, NULL},
	};
	return vt_test_main("histogram", tests);
}
