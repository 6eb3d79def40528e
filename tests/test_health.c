/*
 * test_health.c - the health registry's rules: overall aggregation,
 * check registration, what a result carries (status, details, error),
 * degraded_ms, critical, flap damping, filters, the status-change
 * listener and the export as metrics. Timing and concurrency (timeouts,
 * parallel and shared runs, cache, scheduler) are in test_health_run.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

/* A check whose status the test sets; counts its calls. */
typedef struct probe {
	atomic_int calls;
	atomic_int status; /* vt_status to report */
	int sleep_ms;
	const char *error; /* reported when not NULL */
} probe;

static void probe_init(probe *p, vt_status st)
{
	atomic_init(&p->calls, 0);
	atomic_init(&p->status, (int)st);
	p->sleep_ms = 0;
	p->error = NULL;
}

static void probe_fn(vt_check_result *r, void *arg)
{
	probe *p = arg;
	atomic_fetch_add(&p->calls, 1);
	if (p->sleep_ms > 0)
		vt_test_sleep_ms(p->sleep_ms);
	vt_result_status(r, (vt_status)atomic_load(&p->status));
	if (p->error != NULL)
		vt_result_error(r, "%s", p->error);
}

static vt_health *health_new(unsigned workers)
{
	vt_health_opts o = {.workers = workers};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &o) == VT_OK);
	return h;
}

static vt_health_snapshot *run(vt_health *h, const vt_health_filter *f,
			       vt_run_mode mode)
{
	vt_health_snapshot *s = NULL;
	vt_err rv = vt_health_run(h, f, mode, &s);
	CU_ASSERT_EQUAL(rv, VT_OK);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* Status of a one-check fresh run. */
static vt_status run_one(vt_health *h, const char *name, vt_status *overall)
{
	vt_health_filter f = {.name = name};
	vt_health_snapshot *s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 1);
	vt_status st = s->components[0].status;
	if (overall != NULL)
		*overall = s->status;
	vt_health_snapshot_free(s);
	return st;
}

/* ---- status names ---- */

static void test_status_names(void)
{
	CU_ASSERT_STRING_EQUAL(vt_status_name(VT_HEALTHY), "healthy");
	CU_ASSERT_STRING_EQUAL(vt_status_name(VT_DEGRADED), "degraded");
	CU_ASSERT_STRING_EQUAL(vt_status_name(VT_UNHEALTHY), "unhealthy");
	for (int st = VT_HEALTHY; st <= VT_UNHEALTHY; st++) {
		vt_status out = (vt_status)-1;
		CU_ASSERT_EQUAL(
		    vt_status_parse(vt_status_name((vt_status)st), &out),
		    VT_OK);
		CU_ASSERT_EQUAL(out, st);
	}
	vt_status out = VT_DEGRADED;
	CU_ASSERT_EQUAL(vt_status_parse("ok", &out), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_status_parse("", &out), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_status_parse("Healthy", &out), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_status_parse(NULL, &out), VT_EINVAL);
	CU_ASSERT_EQUAL(out, VT_DEGRADED); /* untouched on error */
}

/* ---- aggregation ---- */

/* The rule of DESIGN.md, written as a severity maximum: critical
 * UNHEALTHY weighs 2, DEGRADED or non-critical UNHEALTHY 1. */
static vt_status expected_overall(const vt_status *st, const bool *crit,
				  size_t n)
{
	int worst = 0;
	for (size_t i = 0; i < n; i++) {
		int w = st[i] == VT_UNHEALTHY  ? (crit[i] ? 2 : 1)
			: st[i] == VT_DEGRADED ? 1
					       : 0;
		if (w > worst)
			worst = w;
	}
	return worst == 2   ? VT_UNHEALTHY
	       : worst == 1 ? VT_DEGRADED
			    : VT_HEALTHY;
}

/* Decodes combination k of n checks: 3 statuses x critical flag. */
static void decode(unsigned k, size_t n, vt_status *st, bool *crit)
{
	for (size_t i = 0; i < n; i++) {
		st[i] = (vt_status)(k % 3);
		crit[i] = (k / 3) % 2;
		k /= 6;
	}
}

static void test_aggregate_table(void)
{
	/* Anchors, stated by hand. */
	vt_component one[2];
	memset(one, 0, sizeof(one));
	CU_ASSERT_EQUAL(vt_health_aggregate(NULL, 0), VT_HEALTHY);
	one[0].status = VT_UNHEALTHY;
	one[0].critical = false;
	CU_ASSERT_EQUAL(vt_health_aggregate(one, 1), VT_DEGRADED);
	one[0].critical = true;
	CU_ASSERT_EQUAL(vt_health_aggregate(one, 1), VT_UNHEALTHY);
	one[0].status = VT_DEGRADED;
	one[1].status = VT_HEALTHY;
	one[1].critical = true;
	CU_ASSERT_EQUAL(vt_health_aggregate(one, 2), VT_DEGRADED);

	/* Every combination of up to 3 checks. */
	int bad = 0, total = 0;
	for (size_t n = 0; n <= 3; n++) {
		unsigned combos = 1;
		for (size_t i = 0; i < n; i++)
			combos *= 6;
		for (unsigned k = 0; k < combos; k++) {
			vt_status st[3];
			bool crit[3];
			vt_component c[3];
			memset(c, 0, sizeof(c));
			decode(k, n, st, crit);
			for (size_t i = 0; i < n; i++) {
				c[i].status = st[i];
				c[i].critical = crit[i];
			}
			vt_status want = expected_overall(st, crit, n);
			if (vt_health_aggregate(n ? c : NULL, n) != want) {
				bad++;
				fprintf(stderr,
					"n=%zu combo %u: got %d want %d\n", n,
					k, (int)vt_health_aggregate(c, n),
					(int)want);
			}
			total++;
		}
	}
	CU_ASSERT_EQUAL(total, 1 + 6 + 36 + 216);
	CU_ASSERT_EQUAL(bad, 0);
}

/* The same table through a registry: real checks reporting each status,
 * critical or not, and the snapshot's overall status. */
static void test_aggregate_registry(void)
{
	int bad = 0;
	for (size_t n = 0; n <= 3; n++) {
		for (unsigned mask = 0; mask < (1u << n); mask++) {
			vt_health *h = health_new(4);
			probe p[3];
			bool crit[3];
			for (size_t i = 0; i < n; i++) {
				char name[8];
				snprintf(name, sizeof(name), "c%zu", i);
				probe_init(&p[i], VT_HEALTHY);
				crit[i] = (mask >> i) & 1;
				vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
				o.critical = crit[i];
				CU_ASSERT_EQUAL(
				    vt_health_add(h, name, probe_fn, &p[i], &o),
				    VT_OK);
			}
			unsigned combos = 1;
			for (size_t i = 0; i < n; i++)
				combos *= 3;
			for (unsigned k = 0; k < combos; k++) {
				vt_status st[3];
				unsigned kk = k;
				for (size_t i = 0; i < n; i++) {
					st[i] = (vt_status)(kk % 3);
					kk /= 3;
					atomic_store(&p[i].status, (int)st[i]);
				}
				vt_health_snapshot *s =
				    run(h, NULL, VT_RUN_FRESH);
				CU_ASSERT_EQUAL(s->ncomponents, n);
				for (size_t i = 0; i < n && i < s->ncomponents;
				     i++) {
					CU_ASSERT_EQUAL(s->components[i].status,
							st[i]);
					CU_ASSERT_EQUAL(
					    s->components[i].critical, crit[i]);
				}
				if (s->status != expected_overall(st, crit, n))
					bad++;
				vt_health_snapshot_free(s);
			}
			vt_health_free(h);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void test_shutdown(void)
{
	vt_health *h = health_new(2);
	probe p;
	probe_init(&p, VT_HEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "db", probe_fn, &p, NULL), VT_OK);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_health_set_shutdown(h);
	s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	s = run(h, NULL, VT_RUN_CACHED);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	vt_health_snapshot_free(s);
	vt_health_free(h);

	/* No checks at all: healthy. */
	h = health_new(1);
	s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->status, VT_HEALTHY);
	CU_ASSERT_EQUAL(s->ncomponents, 0);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* ---- registration ---- */

static atomic_int freed_count;

static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&freed_count, 1);
}

static bool always_true(void *arg)
{
	(void)arg;
	return true;
}

static void test_add_validation(void)
{
	vt_health *h = health_new(1);
	atomic_store(&freed_count, 0);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.free_arg = count_free;

	char longest[201], too_long[202];
	memset(longest, 'a', 200);
	longest[200] = '\0';
	memset(too_long, 'b', 201);
	too_long[201] = '\0';
	const char *bad_names[] = {"",	   "has space", "slash/y", "é",
				   "a\"b", too_long,	NULL};
	for (size_t i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(vt_health_add_simple(h, bad_names[i],
						     always_true, NULL, &o),
				VT_EINVAL);
	CU_ASSERT_EQUAL(vt_health_add_simple(h, longest, always_true, NULL, &o),
			VT_OK);
	CU_ASSERT_EQUAL(
	    vt_health_add_simple(h, "Az09_.:-", always_true, NULL, &o), VT_OK);
	CU_ASSERT_EQUAL(
	    vt_health_add_simple(h, "Az09_.:-", always_true, NULL, &o),
	    VT_EEXIST);
	CU_ASSERT_EQUAL(vt_health_add(h, "nofn", NULL, NULL, &o), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "nofn", NULL, NULL, &o),
			VT_EINVAL);

	vt_check_opts b;
	b = o, b.timeout_ms = 0;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	b = o, b.interval_ms = -1;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	b = o, b.degraded_ms = -1;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	b = o, b.failures_before_unhealthy = 0;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	b = o, b.successes_before_healthy = 0;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	b = o, b.ntags = 1, b.tags = NULL;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	const char *bad_tags[] = {"ready", ""};
	b = o, b.ntags = 2, b.tags = bad_tags;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "x", always_true, NULL, &b),
			VT_EINVAL);
	/* Rejected adds never call free_arg. */
	CU_ASSERT_EQUAL(atomic_load(&freed_count), 0);

	/* Snapshot: sorted by name, tags copied. */
	const char *tags[] = {"live", "ready"};
	char tagbuf[8] = "ready";
	tags[1] = tagbuf;
	b = o, b.ntags = 2, b.tags = tags;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "AAA", always_true, NULL, &b),
			VT_OK);
	memcpy(tagbuf, "XXXXX", 6); /* the registry kept its own copy */
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 3);
	for (size_t i = 1; i < s->ncomponents; i++)
		CU_ASSERT(strcmp(s->components[i - 1].name,
				 s->components[i].name) < 0);
	const vt_component *c = vt_test_component(s, "AAA");
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL_FATAL(c->ntags, 2);
	CU_ASSERT_STRING_EQUAL(c->tags[0], "live");
	CU_ASSERT_STRING_EQUAL(c->tags[1], "ready");
	vt_health_snapshot_free(s);

	CU_ASSERT_EQUAL(vt_health_remove(h, "nope"), VT_ENOENT);
	CU_ASSERT_EQUAL(vt_health_remove(h, "AAA"), VT_OK);
	CU_ASSERT_EQUAL(atomic_load(&freed_count), 1);
	CU_ASSERT_EQUAL(vt_health_remove(h, "AAA"), VT_ENOENT);
	vt_health_free(h);
	/* The two left are freed with the registry, once each. */
	CU_ASSERT_EQUAL(atomic_load(&freed_count), 3);
}

/* ---- results ---- */

/* The wall clock the registry uses (time() may lag behind it). */
static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_bool simple_ok;

static bool simple_fn(void *arg)
{
	(void)arg;
	return atomic_load(&simple_ok);
}

static void test_simple_form_and_times(void)
{
	vt_health *h = health_new(2);
	CU_ASSERT_EQUAL(
	    vt_health_add_simple(h, "simple", simple_fn, NULL, NULL), VT_OK);
	atomic_store(&simple_ok, true);
	double before = wall_now() - 1;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	double after = wall_now() + 1;
	const vt_component *c = &s->components[0];
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	CU_ASSERT_PTR_NULL(c->details);
	CU_ASSERT_EQUAL(c->ndetails, 0);
	CU_ASSERT_TRUE(c->critical);
	CU_ASSERT(c->last_check_time >= before && c->last_check_time <= after);
	CU_ASSERT(c->last_status_change >= before &&
		  c->last_status_change <= c->last_check_time);
	CU_ASSERT(c->duration_ms >= 0 && c->duration_ms < 1000);
	CU_ASSERT_EQUAL(c->consecutive_failures, 0);
	CU_ASSERT_FALSE(c->stale);
	CU_ASSERT(s->timestamp >= before && s->timestamp <= after);
	if (!(c->last_check_time >= before && c->last_check_time <= after))
		fprintf(stderr,
			"wall clock: before %.3f check %.3f after %.3f\n",
			before, c->last_check_time, after);
	double first_change = c->last_status_change;
	vt_health_snapshot_free(s);

	atomic_store(&simple_ok, false);
	for (uint32_t i = 1; i <= 3; i++) {
		s = run(h, NULL, VT_RUN_FRESH);
		c = &s->components[0];
		CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
		CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
		CU_ASSERT_EQUAL(c->consecutive_failures, i);
		CU_ASSERT(c->last_status_change >= first_change);
		vt_health_snapshot_free(s);
	}
	atomic_store(&simple_ok, true);
	s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	CU_ASSERT_EQUAL(s->components[0].consecutive_failures, 0);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* What the rich callback reports, and what each vt_result_* returned. */
static vt_err detail_rv[16];
static int remaining_seen;

static void rich_fn(vt_check_result *r, void *arg)
{
	int round = *(int *)arg;
	int i = 0;
	remaining_seen = vt_result_remaining_ms(r);
	detail_rv[i++] = vt_result_detail_str(r, "version", "7.2.4");
	detail_rv[i++] = vt_result_detail_num(r, "latency_ms", 1.5 * round);
	detail_rv[i++] = vt_result_detail_bool(r, "primary", true);
	detail_rv[i++] = vt_result_detail_str(r, "version", "7.2.5");
	detail_rv[i++] = vt_result_detail_str(r, "", "x");
	char key129[130];
	memset(key129, 'k', 129);
	key129[129] = '\0';
	detail_rv[i++] = vt_result_detail_num(r, key129, 1);
	key129[128] = '\0';
	detail_rv[i++] = vt_result_detail_num(r, key129, 2);
	detail_rv[i++] = vt_result_detail_str(r, "nullvalue", NULL);
	detail_rv[i++] = vt_result_detail_str(r, NULL, "v");
	vt_result_status(r, VT_DEGRADED);
	detail_rv[i++] = vt_result_error(r, "pool %d/%d busy", 9, 10 + round);
}

static void test_details_and_errors(void)
{
	vt_health *h = health_new(2);
	int round = 1;
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 5000;
	CU_ASSERT_EQUAL(vt_health_add(h, "rich", rich_fn, &round, &o), VT_OK);
	vt_health_snapshot *s1 = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(detail_rv[0], VT_OK);
	CU_ASSERT_EQUAL(detail_rv[1], VT_OK);
	CU_ASSERT_EQUAL(detail_rv[2], VT_OK);
	CU_ASSERT_EQUAL(detail_rv[3], VT_OK);	  /* replaces */
	CU_ASSERT_EQUAL(detail_rv[4], VT_EINVAL); /* empty key */
	CU_ASSERT_EQUAL(detail_rv[5], VT_EINVAL); /* 129-byte key */
	CU_ASSERT_EQUAL(detail_rv[6], VT_OK);	  /* 128-byte key */
	CU_ASSERT_EQUAL(detail_rv[7], VT_EINVAL);
	CU_ASSERT_EQUAL(detail_rv[8], VT_EINVAL);
	CU_ASSERT_EQUAL(detail_rv[9], VT_OK);
	CU_ASSERT(remaining_seen > 4000 && remaining_seen <= 5000);

	const vt_component *c = &s1->components[0];
	CU_ASSERT_EQUAL(c->status, VT_DEGRADED);
	CU_ASSERT_EQUAL(s1->status, VT_DEGRADED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->error);
	CU_ASSERT_STRING_EQUAL(c->error, "pool 9/11 busy");
	CU_ASSERT_EQUAL(c->ndetails, 4);
	const vt_detail *d = vt_test_detail(c, "version");
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(d->kind, VT_DETAIL_STR);
	CU_ASSERT_STRING_EQUAL(d->str, "7.2.5");
	d = vt_test_detail(c, "latency_ms");
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(d->kind, VT_DETAIL_NUM);
	CU_ASSERT_DOUBLE_EQUAL(d->num, 1.5, 1e-12);
	d = vt_test_detail(c, "primary");
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(d->kind, VT_DETAIL_BOOL);
	CU_ASSERT_TRUE(d->b);

	/* A second run replaces the details; the first snapshot owns its
	 * own copies and still reads the old values. */
	round = 2;
	vt_health_snapshot *s2 = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_DOUBLE_EQUAL(
	    vt_test_detail(&s2->components[0], "latency_ms")->num, 3.0, 1e-12);
	CU_ASSERT_STRING_EQUAL(s2->components[0].error, "pool 9/12 busy");
	CU_ASSERT_DOUBLE_EQUAL(vt_test_detail(c, "latency_ms")->num, 1.5,
			       1e-12);
	CU_ASSERT_STRING_EQUAL(c->error, "pool 9/11 busy");
	vt_health_snapshot_free(s1);
	vt_health_snapshot_free(s2);
	vt_health_free(h);
}

static vt_err overflow_rv[2];

static void many_details_fn(vt_check_result *r, void *arg)
{
	(void)arg;
	char key[16];
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		vt_result_detail_num(r, key, i);
	}
	overflow_rv[0] = vt_result_detail_num(r, "k64", 64);
	overflow_rv[1] = vt_result_detail_num(r, "k00", -1); /* replace */
	/* 600 bytes of two-byte characters: cut at 512 bytes, never inside
	 * a character. */
	char big[1201];
	for (int i = 0; i < 600; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[1200] = '\0';
	vt_result_error(r, "x%s", big); /* 'x' shifts the cut by one */
	vt_result_detail_str(r, "k01", big);
	vt_result_ok(r, false);
}

static void test_limits(void)
{
	vt_health *h = health_new(1);
	CU_ASSERT_EQUAL(vt_health_add(h, "many", many_details_fn, NULL, NULL),
			VT_OK);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	const vt_component *c = &s->components[0];
	CU_ASSERT_EQUAL(overflow_rv[0], VT_EFULL);
	CU_ASSERT_EQUAL(overflow_rv[1], VT_OK);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(c->ndetails, 64);
	CU_ASSERT_PTR_NULL(vt_test_detail(c, "k64"));
	CU_ASSERT_DOUBLE_EQUAL(vt_test_detail(c, "k00")->num, -1, 1e-12);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->error);
	/* 'x' + 255 whole characters = 511 bytes. */
	CU_ASSERT_EQUAL(strlen(c->error), 511);
	CU_ASSERT_EQUAL(c->error[0], 'x');
	CU_ASSERT_EQUAL(memcmp(c->error + 509, "\xc3\xa9", 2), 0);
	const vt_detail *d = vt_test_detail(c, "k01");
	CU_ASSERT_EQUAL(d->kind, VT_DETAIL_STR);
	CU_ASSERT_EQUAL(strlen(d->str), 1024);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* ---- degraded_ms, critical ---- */

static void test_degraded_ms(void)
{
	vt_health *h = health_new(4);
	probe slow, slow_err, slow_bad, fast;
	probe_init(&slow, VT_HEALTHY);
	probe_init(&slow_err, VT_HEALTHY);
	probe_init(&slow_bad, VT_UNHEALTHY);
	probe_init(&fast, VT_HEALTHY);
	slow.sleep_ms = slow_err.sleep_ms = slow_bad.sleep_ms = 80;
	slow_err.error = "replica lag";
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.degraded_ms = 20;
	CU_ASSERT_EQUAL(vt_health_add(h, "slow", probe_fn, &slow, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "slow_err", probe_fn, &slow_err, &o),
			VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "slow_bad", probe_fn, &slow_bad, &o),
			VT_OK);
	o.degraded_ms = 2000;
	CU_ASSERT_EQUAL(vt_health_add(h, "fast", probe_fn, &fast, &o), VT_OK);
	/* degraded_ms 0: off, however slow. */
	probe slow_off;
	probe_init(&slow_off, VT_HEALTHY);
	slow_off.sleep_ms = 80;
	CU_ASSERT_EQUAL(vt_health_add(h, "slow_off", probe_fn, &slow_off, NULL),
			VT_OK);

	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	const vt_component *c = vt_test_component(s, "slow");
	CU_ASSERT_EQUAL(c->status, VT_DEGRADED);
	CU_ASSERT(c->duration_ms >= 75);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->error);
	CU_ASSERT_EQUAL(strncmp(c->error, "slow: ", 6), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(c->error, " ms > 20 ms"));
	long n = strtol(c->error + 6, NULL, 10);
	CU_ASSERT(n >= 75 && n < 2000);
	c = vt_test_component(s, "slow_err");
	CU_ASSERT_EQUAL(c->status, VT_DEGRADED);
	CU_ASSERT_STRING_EQUAL(c->error, "replica lag");
	c = vt_test_component(s, "slow_bad");
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	CU_ASSERT_EQUAL(vt_test_component(s, "fast")->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(vt_test_component(s, "fast")->error);
	CU_ASSERT_EQUAL(vt_test_component(s, "slow_off")->status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

static void test_non_critical(void)
{
	vt_health *h = health_new(2);
	probe a, b;
	probe_init(&a, VT_UNHEALTHY);
	probe_init(&b, VT_HEALTHY);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.critical = false;
	CU_ASSERT_EQUAL(vt_health_add(h, "cache", probe_fn, &a, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "db", probe_fn, &b, NULL), VT_OK);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->status, VT_DEGRADED);
	CU_ASSERT_EQUAL(vt_test_component(s, "cache")->status, VT_UNHEALTHY);
	CU_ASSERT_FALSE(vt_test_component(s, "cache")->critical);
	CU_ASSERT_TRUE(vt_test_component(s, "db")->critical);
	vt_health_snapshot_free(s);
	atomic_store(&b.status, VT_UNHEALTHY);
	s = run(h, NULL, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* ---- listener ---- */

typedef struct change {
	char name[32];
	vt_status from, to;
} change;

static struct {
	pthread_mutex_t mtx;
	change log[64];
	int n;
} changes = {PTHREAD_MUTEX_INITIALIZER, {{{0}, 0, 0}}, 0};

static void on_change(const char *check, vt_status from, vt_status to,
		      void *arg)
{
	(void)arg;
	pthread_mutex_lock(&changes.mtx);
	if (changes.n < 64) {
		change *c = &changes.log[changes.n++];
		snprintf(c->name, sizeof(c->name), "%s", check);
		c->from = from;
		c->to = to;
	}
	pthread_mutex_unlock(&changes.mtx);
}

static void changes_reset(void)
{
	pthread_mutex_lock(&changes.mtx);
	changes.n = 0;
	pthread_mutex_unlock(&changes.mtx);
}

/* The listener runs on the thread that recorded the change, which may
 * finish just after the run returned: wait (up to max_ms) for n calls,
 * then a little longer for any extra one. */
static int changes_wait(int n, int max_ms)
{
	double end = vt_test_now_ms() + max_ms;
	int got;
	for (;;) {
		pthread_mutex_lock(&changes.mtx);
		got = changes.n;
		pthread_mutex_unlock(&changes.mtx);
		if (got >= n || vt_test_now_ms() > end)
			break;
		vt_test_sleep_ms(1);
	}
	vt_test_sleep_ms(20);
	pthread_mutex_lock(&changes.mtx);
	got = changes.n;
	pthread_mutex_unlock(&changes.mtx);
	return got;
}

/* Flap damping, Consul-style, with the listener following the reported
 * status. failures_before_unhealthy 3, successes_before_healthy 2. */
static void test_flap_damping(void)
{
	vt_health *h = health_new(2);
	changes_reset();
	CU_ASSERT_EQUAL(vt_health_add_listener(h, on_change, NULL), VT_OK);
	probe p;
	probe_init(&p, VT_HEALTHY);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.failures_before_unhealthy = 3;
	o.successes_before_healthy = 2;
	CU_ASSERT_EQUAL(vt_health_add(h, "flappy", probe_fn, &p, &o), VT_OK);

	static const struct {
		vt_status run, reported;
	} seq[] = {
	    {VT_HEALTHY, VT_HEALTHY},	  /* first result, as is */
	    {VT_UNHEALTHY, VT_HEALTHY},	  /* 1 failure */
	    {VT_UNHEALTHY, VT_HEALTHY},	  /* 2 */
	    {VT_HEALTHY, VT_HEALTHY},	  /* streak broken */
	    {VT_UNHEALTHY, VT_HEALTHY},	  /* 1 */
	    {VT_UNHEALTHY, VT_HEALTHY},	  /* 2 */
	    {VT_UNHEALTHY, VT_UNHEALTHY}, /* 3: reported */
	    {VT_HEALTHY, VT_UNHEALTHY},	  /* 1 success */
	    {VT_UNHEALTHY, VT_UNHEALTHY}, /* streak broken */
	    {VT_HEALTHY, VT_UNHEALTHY},	  /* 1 */
	    {VT_DEGRADED, VT_DEGRADED},	  /* 2 non-unhealthy: reported */
	    {VT_HEALTHY, VT_HEALTHY},	  /* undamped between these two */
	    {VT_UNHEALTHY, VT_HEALTHY},	  /* 1 failure again */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		atomic_store(&p.status, (int)seq[i].run);
		vt_status got = run_one(h, "flappy", NULL);
		if (got != seq[i].reported) {
			fprintf(stderr, "step %zu: got %s want %s\n", i,
				vt_status_name(got),
				vt_status_name(seq[i].reported));
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_CACHED);
	CU_ASSERT_EQUAL(s->components[0].consecutive_failures, 1);
	vt_health_snapshot_free(s);

	/* Reported changes, in order: H->U, U->D, D->H. */
	CU_ASSERT_EQUAL_FATAL(changes_wait(3, 5000), 3);
	CU_ASSERT_STRING_EQUAL(changes.log[0].name, "flappy");
	CU_ASSERT(changes.log[0].from == VT_HEALTHY &&
		  changes.log[0].to == VT_UNHEALTHY);
	CU_ASSERT(changes.log[1].from == VT_UNHEALTHY &&
		  changes.log[1].to == VT_DEGRADED);
	CU_ASSERT(changes.log[2].from == VT_DEGRADED &&
		  changes.log[2].to == VT_HEALTHY);
	vt_health_free(h);

	/* A first result is taken as it is, even UNHEALTHY. */
	h = health_new(1);
	probe_init(&p, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "bad", probe_fn, &p, &o), VT_OK);
	CU_ASSERT_EQUAL(run_one(h, "bad", NULL), VT_UNHEALTHY);
	vt_health_free(h);
}

static atomic_int second_calls;

/* A second listener: counts its calls. */
static void count_change(const char *check, vt_status from, vt_status to,
			 void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_listener(void)
{
	vt_health *h = health_new(2);
	changes_reset();
	atomic_store(&second_calls, 0);
	CU_ASSERT_EQUAL(vt_health_add_listener(h, on_change, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add_listener(h, count_change, &second_calls),
			VT_OK);
	probe a, b;
	probe_init(&a, VT_HEALTHY);
	probe_init(&b, VT_HEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "a", probe_fn, &a, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "b", probe_fn, &b, NULL), VT_OK);
	/* First results and unchanged statuses: no call. */
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	CU_ASSERT_EQUAL(changes_wait(0, 5000), 0);

	atomic_store(&b.status, VT_UNHEALTHY);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	CU_ASSERT_EQUAL_FATAL(changes_wait(1, 5000), 1);
	CU_ASSERT_STRING_EQUAL(changes.log[0].name, "b");
	CU_ASSERT_EQUAL(changes.log[0].from, VT_HEALTHY);
	CU_ASSERT_EQUAL(changes.log[0].to, VT_UNHEALTHY);

	atomic_store(&b.status, VT_DEGRADED);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	CU_ASSERT_EQUAL_FATAL(changes_wait(2, 5000), 2);
	CU_ASSERT_EQUAL(changes.log[1].from, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(changes.log[1].to, VT_DEGRADED);
	/* Every listener sees every change. */
	CU_ASSERT_EQUAL(atomic_load(&second_calls), 2);

	/* Removed listener: no more calls; the other one goes on. */
	CU_ASSERT_EQUAL(vt_health_remove_listener(h, on_change, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_remove_listener(h, on_change, NULL),
			VT_ENOENT);
	atomic_store(&a.status, VT_UNHEALTHY);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	CU_ASSERT_EQUAL(changes_wait(3, 200), 2);
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&second_calls) < 3 && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	CU_ASSERT_EQUAL(atomic_load(&second_calls), 3);

	/* A bounded number of listeners. */
	for (int i = 1; i < VT_MAX_LISTENERS; i++)
		CU_ASSERT_EQUAL(
		    vt_health_add_listener(h, on_change, (void *)(intptr_t)i),
		    VT_OK);
	CU_ASSERT_EQUAL(vt_health_add_listener(h, on_change, NULL), VT_EFULL);
	vt_health_free(h);
}

/* ---- filters ---- */

static void test_filters(void)
{
	vt_health *h = health_new(2);
	probe p[4];
	const char *live[] = {"live"};
	const char *ready[] = {"ready"};
	const char *both[] = {"live", "ready"};
	struct {
		const char *name;
		const char *const *tags;
		size_t ntags;
	} defs[] = {{"api", ready, 1},
		    {"disk", live, 1},
		    {"redis", both, 2},
		    {"zeta", NULL, 0}};
	for (int i = 0; i < 4; i++) {
		probe_init(&p[i], VT_HEALTHY);
		vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
		o.tags = defs[i].tags;
		o.ntags = defs[i].ntags;
		CU_ASSERT_EQUAL(
		    vt_health_add(h, defs[i].name, probe_fn, &p[i], &o), VT_OK);
	}

	vt_health_filter f = {.tag = "ready"};
	vt_health_snapshot *s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 2);
	CU_ASSERT_STRING_EQUAL(s->components[0].name, "api");
	CU_ASSERT_STRING_EQUAL(s->components[1].name, "redis");
	vt_health_snapshot_free(s);
	/* Only the selected checks ran. */
	CU_ASSERT_EQUAL(atomic_load(&p[0].calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&p[1].calls), 0);
	CU_ASSERT_EQUAL(atomic_load(&p[2].calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&p[3].calls), 0);

	const char *excl[] = {"api", "zeta", "nonexistent"};
	f = (vt_health_filter){.exclude = excl, .nexclude = 3};
	s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 2);
	CU_ASSERT_STRING_EQUAL(s->components[0].name, "disk");
	CU_ASSERT_STRING_EQUAL(s->components[1].name, "redis");
	vt_health_snapshot_free(s);

	f = (vt_health_filter){
	    .tag = "live", .exclude = excl + 0, .nexclude = 1};
	s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->ncomponents, 2);
	vt_health_snapshot_free(s);

	f = (vt_health_filter){.name = "disk"};
	s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL_FATAL(s->ncomponents, 1);
	CU_ASSERT_STRING_EQUAL(s->components[0].name, "disk");
	vt_health_snapshot_free(s);

	f = (vt_health_filter){.tag = "nosuchtag"};
	s = run(h, &f, VT_RUN_FRESH);
	CU_ASSERT_EQUAL(s->ncomponents, 0);
	CU_ASSERT_EQUAL(s->status, VT_HEALTHY);
	vt_health_snapshot_free(s);

	/* Empty fields select all. */
	f = (vt_health_filter){.name = "", .tag = ""};
	s = run(h, &f, VT_RUN_CACHED);
	CU_ASSERT_EQUAL(s->ncomponents, 4);
	vt_health_snapshot_free(s);

	vt_health_snapshot *untouched = (vt_health_snapshot *)&f;
	f = (vt_health_filter){.name = "nope"};
	CU_ASSERT_EQUAL(vt_health_run(h, &f, VT_RUN_FRESH, &untouched),
			VT_ENOENT);
	CU_ASSERT_EQUAL(vt_health_run(h, &f, VT_RUN_CACHED, &untouched),
			VT_ENOENT);
	CU_ASSERT_PTR_EQUAL(untouched, (vt_health_snapshot *)&f);
	CU_ASSERT_EQUAL(vt_health_run(h, NULL, (vt_run_mode)7, &untouched),
			VT_EINVAL);
	vt_health_free(h);
}

/* ---- export as metrics ---- */

static const vt_series_snap *series(const vt_metrics_snapshot *ms,
				    const char *family, const char *check,
				    const char *result)
{
	for (size_t i = 0; i < ms->nfamilies; i++) {
		const vt_family_snap *f = &ms->families[i];
		if (strcmp(f->name, family) != 0)
			continue;
		for (size_t j = 0; j < f->nseries; j++) {
			const vt_series_snap *s = &f->series[j];
			int match = 1;
			for (size_t k = 0; k < s->nlabels; k++) {
				const vt_label *l = &s->labels[k];
				if (strcmp(l->name, "check") == 0)
					match &= strcmp(l->value, check) == 0;
				else if (strcmp(l->name, "result") == 0)
					match &= result != NULL &&
						 strcmp(l->value, result) == 0;
			}
			if (match)
				return s;
		}
	}
	return NULL;
}

static double value(const vt_metrics_snapshot *ms, const char *family,
		    const char *check, const char *result)
{
	const vt_series_snap *s = series(ms, family, check, result);
	CU_ASSERT_PTR_NOT_NULL(s);
	return s != NULL ? s->value : NAN;
}

static void test_export_metrics(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_health_opts ho = {.workers = 2, .metrics = m};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	probe db, cache;
	probe_init(&db, VT_HEALTHY);
	probe_init(&cache, VT_DEGRADED);
	db.sleep_ms = 30;
	CU_ASSERT_EQUAL(vt_health_add(h, "db", probe_fn, &db, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "cache", probe_fn, &cache, NULL),
			VT_OK);
	for (int i = 0; i < 3; i++)
		vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	atomic_store(&db.status, VT_UNHEALTHY);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH));
	/* Cached reads run nothing and count nothing. */
	vt_health_snapshot_free(run(h, NULL, VT_RUN_CACHED));

	vt_metrics_snapshot *ms = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &ms) == VT_OK);
	CU_ASSERT_DOUBLE_EQUAL(value(ms, "vitals_check_status", "db", NULL), 2,
			       1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value(ms, "vitals_check_status", "cache", NULL),
			       1, 1e-9);
	/* Every run's duration is one observation of the histogram. */
	const vt_series_snap *dur =
	    series(ms, "vitals_check_duration_seconds", "db", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dur);
	CU_ASSERT_EQUAL(dur->hist.count, 4);
	CU_ASSERT(dur->hist.min >= 0.025 && dur->hist.max < 2.0);
	CU_ASSERT_DOUBLE_EQUAL(
	    value(ms, "vitals_check_runs_total", "db", "healthy"), 3, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(
	    value(ms, "vitals_check_runs_total", "db", "unhealthy"), 1, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(
	    value(ms, "vitals_check_runs_total", "db", "degraded"), 0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(
	    value(ms, "vitals_check_runs_total", "cache", "degraded"), 4, 1e-9);
	for (size_t i = 0; i < ms->nfamilies; i++) {
		const vt_family_snap *f = &ms->families[i];
		if (strcmp(f->name, "vitals_check_runs_total") == 0)
			CU_ASSERT_EQUAL(f->kind, VT_COUNTER);
		if (strcmp(f->name, "vitals_check_status") == 0)
			CU_ASSERT_EQUAL(f->kind, VT_GAUGE);
		if (strcmp(f->name, "vitals_check_duration_seconds") == 0)
			CU_ASSERT_EQUAL(f->kind, VT_HISTOGRAM);
	}
	vt_metrics_snapshot_free(ms);
	vt_health_free(h);

	/* A family name taken with another kind fails the alloc. */
	vt_counter *clash;
	vt_metrics *m2 = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m2) == VT_OK);
	CU_ASSERT_EQUAL(
	    vt_metrics_counter(m2, "vitals_check_status", NULL, &clash), VT_OK);
	ho.metrics = m2;
	h = (vt_health *)&h;
	CU_ASSERT_EQUAL(vt_health_alloc(&h, &ho), VT_EKIND);
	CU_ASSERT_PTR_EQUAL(h, (vt_health *)&h);
	vt_metrics_free(m2);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"status names", test_status_names},
	    {"aggregation: every combination", test_aggregate_table},
	    {"aggregation through a registry", test_aggregate_registry},
	    {"shutdown forces unhealthy; no checks is healthy", test_shutdown},
	    {"add: names, options, duplicates, free_arg", test_add_validation},
	    {"simple form, times, consecutive failures",
	     test_simple_form_and_times},
	    {"details and errors", test_details_and_errors},
	    {"limits: 64 details, 512-byte errors", test_limits},
	    {"degraded_ms", test_degraded_ms},
	    {"critical false", test_non_critical},
	    {"flap damping", test_flap_damping},
	    {"status-change listener", test_listener},
	    {"filters: tag, exclude, name", test_filters},
	    {"export as metrics", test_export_metrics},
	    {NULL, NULL},
	};
	return vt_test_main("health", tests);
}
