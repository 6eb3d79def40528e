/*
 * test_health_run.c - how health runs behave in time and under
 * concurrency: a hung check (timeout, single flight, late result
 * discarded), parallel execution, shared fresh runs, a full worker
 * queue, cached reads and staleness, the background scheduler, and
 * removing a check whose callback still runs.
 *
 * Time bounds are generous on purpose: they separate "waited for the
 * deadline" from "waited for the hung check" or "ran sequentially", not
 * milliseconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

/* A check that sleeps, reports a status and counts its calls. */
typedef struct probe {
	atomic_int calls;
	int sleep_ms;
	vt_status status;
} probe;

static void probe_init(probe *p, int sleep_ms, vt_status st)
{
	atomic_init(&p->calls, 0);
	p->sleep_ms = sleep_ms;
	p->status = st;
}

static void probe_fn(vt_check_result *r, void *arg)
{
	probe *p = arg;
	atomic_fetch_add(&p->calls, 1);
	if (p->sleep_ms > 0)
		vt_test_sleep_ms(p->sleep_ms);
	vt_result_status(r, p->status);
	vt_result_detail_num(r, "answer", 42);
}

static vt_health *health_new(unsigned workers, size_t queue_cap)
{
	vt_health_opts o = {.workers = workers, .queue_cap = queue_cap};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &o) == VT_OK);
	return h;
}

static vt_health_snapshot *run(vt_health *h, const vt_health_filter *f,
			       vt_run_mode mode, double *elapsed_ms)
{
	vt_health_snapshot *s = NULL;
	double t0 = vt_test_now_ms();
	vt_err rv = vt_health_run(h, f, mode, &s);
	if (elapsed_ms != NULL)
		*elapsed_ms = vt_test_now_ms() - t0;
	CU_ASSERT_EQUAL(rv, VT_OK);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* The component named name, which s must have. */
static const vt_component *comp(const vt_health_snapshot *s, const char *name)
{
	const vt_component *c = vt_test_component(s, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

static int error_is(const vt_component *c, const char *text)
{
	return c != NULL && c->error != NULL && strcmp(c->error, text) == 0;
}

/* ---- a hung check ---- */

static void test_hung_check(void)
{
	vt_health *h = health_new(4, 0);
	vt_test_gate g;
	vt_test_gate_init(&g);
	probe ok, deg;
	probe_init(&ok, 0, VT_HEALTHY);
	probe_init(&deg, 0, VT_DEGRADED);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 400;
	CU_ASSERT_EQUAL(vt_health_add(h, "hung", vt_test_gate_check, &g, &o),
			VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "ok", probe_fn, &ok, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "slowish", probe_fn, &deg, NULL),
			VT_OK);

	double el;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, &el);
	printf("\n    fresh run with a hung check (timeout 400 ms): %.1f ms ",
	       el);
	CU_ASSERT(el >= 395); /* the deadline is 400 ms after the start */
	CU_ASSERT(el < 400 + 300);
	const vt_component *c = comp(s, "hung");
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(error_is(c, "timeout after 400 ms"));
	CU_ASSERT_EQUAL(c->ndetails, 0);
	CU_ASSERT_EQUAL(c->consecutive_failures, 1);
	c = comp(s, "ok");
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	CU_ASSERT_EQUAL(c->ndetails, 1);
	CU_ASSERT_EQUAL(comp(s, "slowish")->status, VT_DEGRADED);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	vt_health_snapshot_free(s);

	/* While it still hangs: later fresh runs report the timeout at
	 * once, without starting it again, and run the others. */
	for (int i = 0; i < 3; i++) {
		s = run(h, NULL, VT_RUN_FRESH, &el);
		CU_ASSERT(el < 250); /* not another 400 ms */
		CU_ASSERT(error_is(comp(s, "hung"), "timeout after 400 ms"));
		CU_ASSERT_EQUAL(comp(s, "hung")->status, VT_UNHEALTHY);
		/* Reported, not recorded again. */
		CU_ASSERT_EQUAL(comp(s, "hung")->consecutive_failures, 1);
		CU_ASSERT_EQUAL(comp(s, "ok")->status, VT_HEALTHY);
		vt_health_snapshot_free(s);
	}
	vt_health_filter only = {.name = "hung"};
	s = run(h, &only, VT_RUN_FRESH, &el);
	CU_ASSERT(el < 250); /* not another 400 ms */
	vt_health_snapshot_free(s);
	s = run(h, NULL, VT_RUN_CACHED, &el);
	CU_ASSERT(el < 250); /* not another 400 ms */
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&ok.calls), 4);

	/* Its late result is discarded ... */
	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, 1));
	vt_test_sleep_ms(20);
	s = run(h, &only, VT_RUN_CACHED, NULL);
	CU_ASSERT(error_is(comp(s, "hung"), "timeout after 400 ms"));
	CU_ASSERT_EQUAL(comp(s, "hung")->ndetails, 0);
	CU_ASSERT_EQUAL(comp(s, "hung")->consecutive_failures, 1);
	vt_health_snapshot_free(s);
	/* ... and once it returned, it runs again. */
	s = run(h, &only, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 2);
	CU_ASSERT_EQUAL(comp(s, "hung")->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(comp(s, "hung")->error);
	vt_health_snapshot_free(s);
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* ---- parallelism ---- */

static void test_parallel(void)
{
	vt_health *h = health_new(8, 0);
	static probe p[100];
	for (int i = 0; i < 100; i++) {
		char name[16];
		snprintf(name, sizeof(name), "check%03d", i);
		probe_init(&p[i], 50, VT_HEALTHY);
		CU_ASSERT_EQUAL(vt_health_add(h, name, probe_fn, &p[i], NULL),
				VT_OK);
	}
	double el;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, &el);
	printf("\n    100 checks x 50 ms on 8 workers: %.1f ms "
	       "(sequential: 5000 ms) ",
	       el);
	CU_ASSERT(el < 2000);
	CU_ASSERT_EQUAL(s->ncomponents, 100);
	CU_ASSERT_EQUAL(s->status, VT_HEALTHY);
	int bad = 0;
	for (size_t i = 0; i < s->ncomponents; i++)
		bad += s->components[i].status != VT_HEALTHY;
	for (int i = 0; i < 100; i++)
		bad += atomic_load(&p[i].calls) != 1;
	CU_ASSERT_EQUAL(bad, 0);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* ---- shared fresh runs ---- */

#define NCALLERS 8
#define NSHARED	 10

typedef struct caller {
	vt_health *h;
	pthread_barrier_t *start;
	vt_status status;
	size_t ncomponents;
	double elapsed_ms;
	vt_err rv;
} caller;

static void *caller_main(void *arg)
{
	caller *c = arg;
	pthread_barrier_wait(c->start);
	vt_health_snapshot *s = NULL;
	double t0 = vt_test_now_ms();
	c->rv = vt_health_run(c->h, NULL, VT_RUN_FRESH, &s);
	c->elapsed_ms = vt_test_now_ms() - t0;
	if (c->rv == VT_OK) {
		c->status = s->status;
		c->ncomponents = s->ncomponents;
		vt_health_snapshot_free(s);
	}
	return NULL;
}

static void test_shared_runs(void)
{
	vt_health *h = health_new(4, 0);
	probe p[NSHARED];
	for (int i = 0; i < NSHARED; i++) {
		char name[16];
		snprintf(name, sizeof(name), "shared%d", i);
		probe_init(&p[i], 300, VT_HEALTHY);
		CU_ASSERT_EQUAL(vt_health_add(h, name, probe_fn, &p[i], NULL),
				VT_OK);
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NCALLERS);
	caller callers[NCALLERS];
	pthread_t threads[NCALLERS];
	for (int i = 0; i < NCALLERS; i++) {
		callers[i] = (caller){.h = h, .start = &start};
		CU_ASSERT_FATAL(pthread_create(&threads[i], NULL, caller_main,
					       &callers[i]) == 0);
	}
	for (int i = 0; i < NCALLERS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);

	for (int i = 0; i < NCALLERS; i++) {
		CU_ASSERT_EQUAL(callers[i].rv, VT_OK);
		CU_ASSERT_EQUAL(callers[i].status, VT_HEALTHY);
		CU_ASSERT_EQUAL(callers[i].ncomponents, NSHARED);
		/* 10 x 300 ms on 4 workers is 900 ms; run twice would be
		 * at least 1800 ms for some caller. */
		CU_ASSERT(callers[i].elapsed_ms < 1700);
	}
	int bad = 0;
	for (int i = 0; i < NSHARED; i++)
		bad += atomic_load(&p[i].calls) != 1;
	CU_ASSERT_EQUAL(bad, 0);

	/* A later fresh run is a new run. */
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH, NULL));
	CU_ASSERT_EQUAL(atomic_load(&p[0].calls), 2);
	vt_health_free(h);
}

/* A fresh request joins an execution the scheduler started. */
static void test_fresh_joins_scheduler_run(void)
{
	vt_health *h = health_new(2, 0);
	probe p;
	probe_init(&p, 300, VT_HEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "slow", probe_fn, &p, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK);
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&p.calls) == 0 && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), 1);
	double el;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, &el);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), 1);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	CU_ASSERT(el < 300 + 300);
	vt_health_snapshot_free(s);
	vt_health_stop(h);
	vt_health_free(h);
}

/* ---- a full worker queue ---- */

static void test_queue_full(void)
{
	/* One worker, room for one waiting task. */
	vt_health *h = health_new(1, 1);
	vt_test_gate g;
	vt_test_gate_init(&g);
	probe b, c;
	probe_init(&b, 0, VT_HEALTHY);
	probe_init(&c, 0, VT_HEALTHY);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 300;
	CU_ASSERT_EQUAL(vt_health_add(h, "a", vt_test_gate_check, &g, &o),
			VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "b", probe_fn, &b, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "c", probe_fn, &c, &o), VT_OK);

	/* "a" takes the only worker and keeps it. */
	vt_health_filter fa = {.name = "a"};
	vt_health_snapshot *s = run(h, &fa, VT_RUN_FRESH, NULL);
	CU_ASSERT(error_is(comp(s, "a"), "timeout after 300 ms"));
	vt_health_snapshot_free(s);

	/* "b" waits in the queue until its deadline; "c" finds it full.
	 * (Run together, "b" and "c" would share one task as a batch.) */
	double el;
	vt_health_filter fb = {.name = "b"};
	s = run(h, &fb, VT_RUN_FRESH, &el);
	CU_ASSERT(el < 300 + 300);
	CU_ASSERT(error_is(comp(s, "b"), "timeout after 300 ms"));
	vt_health_snapshot_free(s);
	s = run(h, NULL, VT_RUN_FRESH, &el);
	CU_ASSERT(error_is(comp(s, "a"), "timeout after 300 ms"));
	CU_ASSERT(error_is(comp(s, "b"), "timeout after 300 ms"));
	CU_ASSERT_EQUAL(comp(s, "c")->status, VT_UNHEALTHY);
	CU_ASSERT(error_is(comp(s, "c"), "worker queue full"));
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&b.calls), 0);
	CU_ASSERT_EQUAL(atomic_load(&c.calls), 0);

	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, 1));
	/* "b"'s queued execution timed out: the worker skips it. Then,
	 * one at a time (the queue holds one), all run again. */
	const char *names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		vt_health_filter f = {.name = names[i]};
		s = run(h, &f, VT_RUN_FRESH, NULL);
		CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
		vt_health_snapshot_free(s);
	}
	CU_ASSERT_EQUAL(atomic_load(&b.calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&c.calls), 1);
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* ---- batches: a fresh run's checks on one task ---- */

/* A hung check first in a batch: the checks after it are handed to
 * other workers and report their own results, not timeouts; the run
 * still ends at the hung one's deadline. */
static void test_batch_handoff(void)
{
	vt_health *h = health_new(2, 0);
	vt_test_gate g;
	vt_test_gate_init(&g);
	probe p[3];
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 400;
	/* Sorted by name: "a" is the batch's first. */
	CU_ASSERT_EQUAL(vt_health_add(h, "a", vt_test_gate_check, &g, &o),
			VT_OK);
	const char *names[] = {"b", "c", "d"};
	o.timeout_ms = 5000;
	for (int i = 0; i < 3; i++) {
		probe_init(&p[i], 0, VT_DEGRADED);
		CU_ASSERT_EQUAL(vt_health_add(h, names[i], probe_fn, &p[i], &o),
				VT_OK);
	}
	double el;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, &el);
	CU_ASSERT(el < 5000);
	CU_ASSERT(error_is(comp(s, "a"), "timeout after 400 ms"));
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(comp(s, names[i])->status, VT_DEGRADED);
		CU_ASSERT(comp(s, names[i])->error == NULL);
		CU_ASSERT_EQUAL(atomic_load(&p[i].calls), 1);
	}
	vt_health_snapshot_free(s);

	/* "a" still runs: the next run starts the others only. */
	s = run(h, NULL, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 1);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(atomic_load(&p[i].calls), 2);
	vt_health_snapshot_free(s);
	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, 1));
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* A quick check finished before a hung one in the same batch, whose
 * deadline comes before the hand-off: the timeout releases the quick
 * one, which the next run starts again. */
static void test_batch_timeout_releases(void)
{
	vt_health *h = health_new(2, 0);
	vt_test_gate g;
	vt_test_gate_init(&g);
	probe p;
	probe_init(&p, 0, VT_HEALTHY);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	CU_ASSERT_EQUAL(vt_health_add(h, "a", probe_fn, &p, &o), VT_OK);
	o.timeout_ms = 1;
	CU_ASSERT_EQUAL(vt_health_add(h, "b", vt_test_gate_check, &g, &o),
			VT_OK);
	for (int i = 1; i <= 3; i++) {
		vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, NULL);
		CU_ASSERT_EQUAL(comp(s, "a")->status, VT_HEALTHY);
		CU_ASSERT(error_is(comp(s, "b"), "timeout after 1 ms"));
		CU_ASSERT_EQUAL(atomic_load(&p.calls), i);
		vt_health_snapshot_free(s);
	}
	/* Once, unless a busy machine let its deadline pass before it
	 * started: then it is skipped and started again. */
	int calls = atomic_load(&g.calls);
	CU_ASSERT(calls <= 1);
	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, calls));
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* Many quick checks on one worker, fresh runs from several threads:
 * every run sees every check settled with a result of its own. */
#define BATCH_CHECKS  40
#define BATCH_THREADS 4
#define BATCH_RUNS    200

static void *batch_runner(void *arg)
{
	vt_health *h = arg;
	for (int i = 0; i < BATCH_RUNS; i++) {
		vt_health_snapshot *s = NULL;
		vt_health_filter f = {.tag = i % 2 ? "odd" : NULL};
		if (vt_health_run(h, &f, VT_RUN_FRESH, &s) != VT_OK)
			return "run failed";
		size_t want = i % 2 ? BATCH_CHECKS / 2 : BATCH_CHECKS;
		bool ok = s->ncomponents == want && s->status == VT_HEALTHY;
		for (size_t j = 0; ok && j < s->ncomponents; j++)
			ok = s->components[j].status == VT_HEALTHY &&
			     s->components[j].error == NULL;
		vt_health_snapshot_free(s);
		if (!ok)
			return "a check without its result";
	}
	return NULL;
}

static void test_batch_concurrent(void)
{
	vt_health *h = health_new(1, 0);
	probe p[BATCH_CHECKS];
	for (int i = 0; i < BATCH_CHECKS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "q%02d", i);
		const char *tags[] = {"odd"};
		vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
		o.timeout_ms = 10000;
		if (i % 2) {
			o.tags = tags;
			o.ntags = 1;
		}
		probe_init(&p[i], 0, VT_HEALTHY);
		CU_ASSERT_EQUAL(vt_health_add(h, name, probe_fn, &p[i], &o),
				VT_OK);
	}
	pthread_t t[BATCH_THREADS];
	for (int i = 0; i < BATCH_THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(
		    pthread_create(&t[i], NULL, batch_runner, h), 0);
	for (int i = 0; i < BATCH_THREADS; i++) {
		void *err = NULL;
		pthread_join(t[i], &err);
		CU_ASSERT_PTR_NULL(err);
		if (err != NULL)
			fprintf(stderr, "batch runner: %s\n", (char *)err);
	}
	/* Shared runs: no check ran more often than runs were asked for. */
	for (int i = 0; i < BATCH_CHECKS; i++) {
		int calls = atomic_load(&p[i].calls);
		CU_ASSERT(calls >= 1 && calls <= BATCH_THREADS * BATCH_RUNS);
	}
	vt_health_free(h);
}

/* ---- cache ---- */

static void test_cached(void)
{
	vt_health *h = health_new(2, 0);
	probe p;
	probe_init(&p, 0, VT_HEALTHY);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.interval_ms = 100;
	CU_ASSERT_EQUAL(vt_health_add(h, "p", probe_fn, &p, &o), VT_OK);

	vt_health_snapshot *s = run(h, NULL, VT_RUN_CACHED, NULL);
	const vt_component *c = &s->components[0];
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(error_is(c, "no result yet"));
	CU_ASSERT_FALSE(c->stale);
	CU_ASSERT_EQUAL(c->last_check_time, 0);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), 0);

	s = run(h, NULL, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	s = run(h, NULL, VT_RUN_CACHED, NULL);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	CU_ASSERT_FALSE(s->components[0].stale);
	CU_ASSERT_EQUAL(s->components[0].ndetails, 1);
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), 1);

	/* Three intervals (300 ms) later the cache says so. */
	vt_test_sleep_ms(500);
	s = run(h, NULL, VT_RUN_CACHED, NULL);
	c = &s->components[0];
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT_TRUE(c->stale);
	CU_ASSERT_EQUAL(s->status, VT_UNHEALTHY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->error);
	CU_ASSERT_EQUAL(strncmp(c->error, "stale: last result ", 19), 0);
	long age = strtol(c->error + 19, NULL, 10);
	CU_ASSERT(age >= 450 && age < 10000);
	CU_ASSERT_PTR_NOT_NULL(strstr(c->error, " ms old (interval 100 ms)"));
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), 1);

	s = run(h, NULL, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	CU_ASSERT_FALSE(s->components[0].stale);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

/* ---- background scheduler ---- */

static void test_scheduler(void)
{
	vt_health *h = health_new(2, 0);
	probe p, q;
	probe_init(&p, 0, VT_HEALTHY);
	probe_init(&q, 0, VT_DEGRADED);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.interval_ms = 100;
	CU_ASSERT_EQUAL(vt_health_add(h, "p", probe_fn, &p, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK);
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK); /* already running */
	vt_test_sleep_ms(50);
	/* Added while running: runs at once, on its own (long) interval. */
	o.interval_ms = 60000;
	CU_ASSERT_EQUAL(vt_health_add(h, "q", probe_fn, &q, &o), VT_OK);
	vt_test_sleep_ms(950);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_CACHED, NULL);
	CU_ASSERT_EQUAL(comp(s, "p")->status, VT_HEALTHY);
	CU_ASSERT_FALSE(comp(s, "p")->stale);
	CU_ASSERT_EQUAL(comp(s, "q")->status, VT_DEGRADED);
	vt_health_snapshot_free(s);
	vt_health_stop(h);
	vt_health_stop(h); /* no-op */

	/* Every 100 ms +-10% for 1 s: about 10 runs. */
	int n = atomic_load(&p.calls);
	printf("\n    interval 100 ms for 1000 ms: %d runs ", n);
	CU_ASSERT(n >= 5 && n <= 16);
	CU_ASSERT_EQUAL(atomic_load(&q.calls), 1);
	vt_test_sleep_ms(50);
	n = atomic_load(&p.calls);
	vt_test_sleep_ms(300);
	CU_ASSERT_EQUAL(atomic_load(&p.calls), n); /* stopped */

	/* Restartable; vt_health_free stops it too. */
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK);
	vt_test_sleep_ms(250);
	CU_ASSERT(atomic_load(&p.calls) > n);
	vt_health_free(h);
}

/* The scheduler settles the deadline of an execution nobody waits for,
 * and does not start a hung check again. */
static double status_gauge(vt_metrics *m, const char *check)
{
	vt_metrics_snapshot *ms = NULL;
	double v = -1;
	vt_label l = {"check", check};
	vt_metrics_filter f = {
	    .name = "vitals_check_status", .labels = &l, .nlabels = 1};
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &f, &ms) == VT_OK);
	if (ms->nfamilies == 1 && ms->families[0].nseries == 1)
		v = ms->families[0].series[0].value;
	vt_metrics_snapshot_free(ms);
	return v;
}

static void test_scheduler_hung(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_health_opts ho = {.workers = 2, .metrics = m};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	vt_test_gate g;
	vt_test_gate_init(&g);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 100;
	o.interval_ms = 600; /* due again by 660 ms; stale only after 1800 */
	CU_ASSERT_EQUAL(vt_health_add(h, "hung", vt_test_gate_check, &g, &o),
			VT_OK);
	/* A fast neighbour keeps the scheduler busy meanwhile. */
	probe tick;
	probe_init(&tick, 0, VT_HEALTHY);
	o.interval_ms = 20;
	CU_ASSERT_EQUAL(vt_health_add(h, "tick", probe_fn, &tick, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK);
	vt_test_sleep_ms(1000);
	/* Recorded by the scheduler, before anyone reads. */
	CU_ASSERT_DOUBLE_EQUAL(status_gauge(m, "hung"), 2, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(status_gauge(m, "tick"), 0, 1e-9);
	double el;
	vt_health_snapshot *s = run(h, NULL, VT_RUN_CACHED, &el);
	CU_ASSERT(el < 250); /* not blocked by the hung check */
	const vt_component *c = comp(s, "hung");
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(error_is(c, "timeout after 100 ms"));
	CU_ASSERT_FALSE(c->stale);
	CU_ASSERT_EQUAL(c->consecutive_failures, 1);
	CU_ASSERT_EQUAL(comp(s, "tick")->status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 1);
	CU_ASSERT(atomic_load(&tick.calls) >= 5);
	vt_health_stop(h);
	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, 1));
	vt_health_free(h);
	vt_metrics_free(m);
	vt_test_gate_fini(&g);
}

/* ---- remove while running ---- */

static atomic_int freed;

static void count_free(void *arg)
{
	vt_test_gate *g = arg;
	/* free_arg comes after the callback returned. */
	if (atomic_load(&g->returned) == atomic_load(&g->calls))
		atomic_fetch_add(&freed, 1);
	else
		atomic_fetch_add(&freed, 100);
}

static void test_remove_while_running(void)
{
	vt_health *h = health_new(2, 0);
	vt_test_gate g;
	vt_test_gate_init(&g);
	atomic_store(&freed, 0);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 100;
	o.free_arg = count_free;
	CU_ASSERT_EQUAL(vt_health_add(h, "r", vt_test_gate_check, &g, &o),
			VT_OK);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH, NULL));
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 1);

	double t0 = vt_test_now_ms();
	CU_ASSERT_EQUAL(vt_health_remove(h, "r"), VT_OK);
	CU_ASSERT(vt_test_now_ms() - t0 < 100); /* did not wait for it */
	CU_ASSERT_EQUAL(atomic_load(&freed), 0);
	CU_ASSERT_EQUAL(vt_health_remove(h, "r"), VT_ENOENT);
	vt_health_snapshot *s = run(h, NULL, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(s->ncomponents, 0);
	vt_health_snapshot_free(s);

	/* The name is free again at once. */
	probe p;
	probe_init(&p, 0, VT_HEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "r", probe_fn, &p, NULL), VT_OK);
	s = run(h, NULL, VT_RUN_FRESH, NULL);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);

	vt_test_gate_open(&g);
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&freed) == 0 && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	vt_test_sleep_ms(20);
	CU_ASSERT_EQUAL(atomic_load(&freed), 1);
	vt_health_free(h);
	CU_ASSERT_EQUAL(atomic_load(&freed), 1);
	vt_test_gate_fini(&g);
}

static atomic_int listened;

static void count_listen(const char *name, vt_status old_status,
			 vt_status new_status, void *arg)
{
	(void)name, (void)old_status, (void)new_status, (void)arg;
	atomic_fetch_add(&listened, 1);
}

/* A registry exporting to its own metrics, with a listener, one instant
 * check and one check hung on g (timeout 50 ms), both run once. */
static vt_health *health_with_hung(vt_metrics **m, vt_test_gate *g)
{
	CU_ASSERT_FATAL(vt_metrics_alloc(m) == VT_OK);
	vt_health_opts ho = {.workers = 2, .metrics = *m};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	atomic_store(&freed, 0);
	atomic_store(&listened, 0);
	CU_ASSERT_EQUAL(vt_health_add_listener(h, count_listen, NULL), VT_OK);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 50;
	o.free_arg = count_free;
	CU_ASSERT_EQUAL(vt_health_add(h, "hung", vt_test_gate_check, g, &o),
			VT_OK);
	static probe p;
	probe_init(&p, 0, VT_HEALTHY);
	CU_ASSERT_EQUAL(vt_health_add(h, "quick", probe_fn, &p, NULL), VT_OK);
	vt_health_snapshot_free(run(h, NULL, VT_RUN_FRESH, NULL));
	CU_ASSERT_EQUAL(atomic_load(&g->calls), 1);
	return h;
}

/* vt_health_free returns although a callback never returns; the arg in
 * use is not freed under it, and the caller may free its metrics. */
static void test_free_never_returns(void)
{
	/* Static: the callback keeps using it after the test returned. */
	static vt_test_gate g;
	vt_test_gate_init(&g);
	vt_metrics *m = NULL;
	vt_health *h = health_with_hung(&m, &g);
	vt_health_free(h); /* must return: ctest's timeout fails it if not */
	CU_ASSERT_EQUAL(atomic_load(&freed), 0);
	CU_ASSERT_EQUAL(atomic_load(&g.returned), 0);
	vt_metrics_free(m);
	/* The gate stays shut: the callback never returns. */
}

/* A detached callback that returns later: its result goes nowhere (no
 * listener, no metric: both may be gone), then its free_arg runs and the
 * registry is released (ASan's leak check sees it). */
static void test_free_detached_returns(void)
{
	vt_test_gate g;
	vt_test_gate_init(&g);
	vt_metrics *m = NULL;
	vt_health *h = health_with_hung(&m, &g);
	int heard = atomic_load(&listened);
	vt_health_free(h);
	CU_ASSERT_EQUAL(atomic_load(&freed), 0);
	vt_metrics_free(m);
	vt_test_gate_open(&g);
	CU_ASSERT(vt_test_gate_wait_returned(&g, 1));
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&freed) == 0 && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	CU_ASSERT_EQUAL(atomic_load(&freed), 1);
	CU_ASSERT_EQUAL(atomic_load(&listened), heard);
	vt_test_sleep_ms(50); /* lets the registry's reaper finish */
	vt_test_gate_fini(&g);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"hung check: timeout, single flight, late result dropped",
	     test_hung_check},
	    {"100 checks of 50 ms on 8 workers", test_parallel},
	    {"concurrent fresh runs share one run", test_shared_runs},
	    {"fresh run joins the scheduler's run",
	     test_fresh_joins_scheduler_run},
	    {"worker queue full", test_queue_full},
	    {"batch: a hung check hands the others off", test_batch_handoff},
	    {"batch: a timeout releases the checks it holds",
	     test_batch_timeout_releases},
	    {"batch: concurrent fresh runs of quick checks",
	     test_batch_concurrent},
	    {"cached: no result yet, stale", test_cached},
	    {"background scheduler", test_scheduler},
	    {"scheduler settles a hung check", test_scheduler_hung},
	    {"remove while running", test_remove_while_running},
	    {"free with a callback that never returns",
	     test_free_never_returns},
	    {"free detaches a callback that returns later",
	     test_free_detached_returns},
	    {NULL, NULL},
	};
	return vt_test_main("health_run", tests);
}
