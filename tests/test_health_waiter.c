/*
 * test_health_waiter.c - fresh runs answered without a waiting thread
 * (health/waiter.h): a hung check still answers the run at its timeout
 * (while its callback still blocks), the others are handed off and run,
 * concurrent runs share one execution of each check, errors come back
 * at once, and many runs from several threads over quick checks each
 * get every check's result.
 *
 * No test asserts a duration: each waits for its callbacks with a
 * generous bound and checks what happened, and in which order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/waiter.h"
#include "testutil.h"
#include "vitals/health.h"

/* Polls until *v >= n, at most 10 s; true if it got there. */
static bool wait_count(atomic_int *v, int n)
{
	double end = vt_test_now_ms() + 10000;
	while (atomic_load(v) < n && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	return atomic_load(v) >= n;
}

/* A quick check that counts its calls. */
typedef struct probe {
	atomic_int calls;
	vt_status status;
} probe;

static void probe_fn(vt_check_result *r, void *arg)
{
	probe *p = arg;
	atomic_fetch_add(&p->calls, 1);
	vt_result_status(r, p->status);
}

static void probe_init(probe *p, vt_status st)
{
	atomic_init(&p->calls, 0);
	p->status = st;
}

/* One run's end as the callback saw it. */
typedef struct ending {
	atomic_int calls;
	vt_health_snapshot *s;
	vt_err rv;
	int gate_returned; /* the gate's returned count when it ended */
	vt_test_gate *g;   /* NULL = none to look at */
} ending;

static void on_done(vt_health_snapshot *s, vt_err rv, void *arg)
{
	ending *e = arg;
	e->s = s;
	e->rv = rv;
	e->gate_returned = e->g != NULL ? atomic_load(&e->g->returned) : 0;
	atomic_fetch_add(&e->calls, 1); /* last: the test reads after it */
}

static vt_health *health_new(unsigned workers)
{
	vt_health_opts o = {.workers = workers};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &o) == VT_OK);
	return h;
}

static const vt_component *comp(const vt_health_snapshot *s, const char *name)
{
	const vt_component *c = vt_test_component(s, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

static bool error_is(const vt_component *c, const char *text)
{
	return c->error != NULL && strcmp(c->error, text) == 0;
}

/* A hung check ends its run at its timeout, the callback still
 * blocked; the batch's other checks are handed off and run; a run of
 * only those others ends before the hung one's deadline. */
static void test_hung(void)
{
	vt_health *h = health_new(2);
	vt_test_gate g;
	vt_test_gate_init(&g);
	probe p[3];
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 2000;
	/* Sorted by name: "a" is the batch's first. */
	CU_ASSERT_EQUAL(vt_health_add(h, "a", vt_test_gate_check, &g, &o),
			VT_OK);
	const char *names[] = {"b", "c", "d"};
	o.timeout_ms = 30000;
	for (int i = 0; i < 3; i++) {
		probe_init(&p[i], VT_DEGRADED);
		CU_ASSERT_EQUAL(vt_health_add(h, names[i], probe_fn, &p[i], &o),
				VT_OK);
	}

	/* Both start before the hand-off (1 ms) unless the machine stalls:
	 * then "others" starts b, c and d again, which it may. */
	ending all = {.g = &g}, others = {.g = &g};
	CU_ASSERT_EQUAL(vt__health_run_async(h, NULL, on_done, &all), VT_OK);
	const char *ex[] = {"a"};
	vt_health_filter f = {.exclude = ex, .nexclude = 1};
	CU_ASSERT_EQUAL(vt__health_run_async(h, &f, on_done, &others), VT_OK);

	/* The others' run joins the batch's executions and ends once the
	 * hand-off ran them: long before "a" times out. */
	CU_ASSERT_FATAL(wait_count(&others.calls, 1));
	CU_ASSERT_EQUAL(atomic_load(&all.calls), 0);
	CU_ASSERT_EQUAL_FATAL(others.rv, VT_OK);
	CU_ASSERT_EQUAL(others.s->ncomponents, 3);
	int calls[3];
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(comp(others.s, names[i])->status, VT_DEGRADED);
		calls[i] = atomic_load(&p[i].calls);
		CU_ASSERT(calls[i] == 1 || calls[i] == 2);
	}

	/* The whole run ends at "a"'s deadline, "a" still blocked. */
	CU_ASSERT_FATAL(wait_count(&all.calls, 1));
	CU_ASSERT_EQUAL(all.gate_returned, 0);
	CU_ASSERT_EQUAL_FATAL(all.rv, VT_OK);
	const vt_component *a = comp(all.s, "a");
	CU_ASSERT_EQUAL(a->status, VT_UNHEALTHY);
	CU_ASSERT(error_is(a, "timeout after 2000 ms"));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(comp(all.s, names[i])->status, VT_DEGRADED);
	CU_ASSERT_EQUAL(all.s->status, VT_UNHEALTHY);

	/* Still hung: a new run reports the timeout without starting "a"
	 * again, and runs the others again. */
	ending again = {.g = &g};
	CU_ASSERT_EQUAL(vt__health_run_async(h, NULL, on_done, &again), VT_OK);
	CU_ASSERT_FATAL(wait_count(&again.calls, 1));
	CU_ASSERT_EQUAL(again.gate_returned, 0);
	CU_ASSERT(error_is(comp(again.s, "a"), "timeout after 2000 ms"));
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 1);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(atomic_load(&p[i].calls), calls[i] + 1);

	CU_ASSERT_EQUAL(atomic_load(&all.calls), 1);
	CU_ASSERT_EQUAL(atomic_load(&others.calls), 1);
	vt_health_snapshot_free(all.s);
	vt_health_snapshot_free(others.s);
	vt_health_snapshot_free(again.s);
	vt_test_gate_open(&g);
	CU_ASSERT(wait_count(&g.returned, 1));
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* Runs started while two checks run share their executions: each
 * check runs once for all of them, and each run ends once, with their
 * results. Both block, so no run can find either finished. */
static void test_shared(void)
{
	enum { NRUNS = 16 };
	vt_health *h = health_new(2);
	vt_test_gate g;
	vt_test_gate_init(&g);
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = 30000;
	CU_ASSERT_EQUAL(vt_health_add(h, "one", vt_test_gate_check, &g, &o),
			VT_OK);
	CU_ASSERT_EQUAL(vt_health_add(h, "two", vt_test_gate_check, &g, &o),
			VT_OK);

	ending e[NRUNS];
	for (int i = 0; i < NRUNS; i++) {
		e[i] = (ending){.g = &g};
		CU_ASSERT_EQUAL(vt__health_run_async(h, NULL, on_done, &e[i]),
				VT_OK);
	}
	/* The batch runs "one"; the hand-off gives "two" the other
	 * worker. */
	CU_ASSERT(wait_count(&g.calls, 2));
	for (int i = 0; i < NRUNS; i++)
		CU_ASSERT_EQUAL(atomic_load(&e[i].calls), 0);
	vt_test_gate_open(&g);
	for (int i = 0; i < NRUNS; i++) {
		CU_ASSERT_FATAL(wait_count(&e[i].calls, 1));
		CU_ASSERT_EQUAL(e[i].rv, VT_OK);
		CU_ASSERT_EQUAL(e[i].gate_returned, 2);
		CU_ASSERT_EQUAL(e[i].s->status, VT_HEALTHY);
		CU_ASSERT_EQUAL(comp(e[i].s, "one")->ndetails, 1);
		CU_ASSERT_EQUAL(comp(e[i].s, "two")->ndetails, 1);
		vt_health_snapshot_free(e[i].s);
	}
	CU_ASSERT_EQUAL(atomic_load(&g.calls), 2);
	vt_health_free(h);
	vt_test_gate_fini(&g);
}

/* Refusals come back at once, without a call; a run with nothing to
 * wait for ends before vt__health_run_async returns. */
static void test_errors(void)
{
	vt_health *h = health_new(1);
	ending e = {0};
	CU_ASSERT_EQUAL(vt__health_run_async(NULL, NULL, on_done, &e),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt__health_run_async(h, NULL, NULL, &e), VT_EINVAL);
	vt_health_filter f = {.name = "nope"};
	CU_ASSERT_EQUAL(vt__health_run_async(h, &f, on_done, &e), VT_ENOENT);
	CU_ASSERT_EQUAL(atomic_load(&e.calls), 0);

	/* No checks: nothing to run. */
	CU_ASSERT_EQUAL(vt__health_run_async(h, NULL, on_done, &e), VT_OK);
	CU_ASSERT_EQUAL(atomic_load(&e.calls), 1);
	CU_ASSERT_EQUAL(e.rv, VT_OK);
	CU_ASSERT_EQUAL(e.s->ncomponents, 0);
	vt_health_snapshot_free(e.s);
	vt_health_free(h);
}

/* Many runs from several threads over quick checks on one worker: every
 * run ends once, with every selected check's own result. */
#define MANY_CHECKS  20
#define MANY_THREADS 4
#define MANY_RUNS    300

typedef struct many {
	atomic_int ended;
	atomic_int bad;
} many;

static void many_done(vt_health_snapshot *s, vt_err rv, void *arg)
{
	many *m = arg;
	bool ok = rv == VT_OK && s->status == VT_HEALTHY &&
		  (s->ncomponents == MANY_CHECKS ||
		   s->ncomponents == MANY_CHECKS / 2);
	for (size_t j = 0; ok && j < s->ncomponents; j++)
		ok = s->components[j].status == VT_HEALTHY &&
		     s->components[j].error == NULL;
	if (!ok)
		atomic_fetch_add(&m->bad, 1);
	vt_health_snapshot_free(s);
	atomic_fetch_add(&m->ended, 1);
}

typedef struct many_arg {
	vt_health *h;
	many *m;
} many_arg;

static void *many_runner(void *arg)
{
	many_arg *a = arg;
	for (int i = 0; i < MANY_RUNS; i++) {
		vt_health_filter f = {.tag = i % 2 ? "odd" : NULL};
		if (vt__health_run_async(a->h, &f, many_done, a->m) != VT_OK)
			atomic_fetch_add(&a->m->bad, 1);
	}
	return NULL;
}

static void test_many(void)
{
	vt_health *h = health_new(1);
	probe p[MANY_CHECKS];
	for (int i = 0; i < MANY_CHECKS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "q%02d", i);
		const char *tags[] = {"odd"};
		vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
		o.timeout_ms = 30000;
		if (i % 2) {
			o.tags = tags;
			o.ntags = 1;
		}
		probe_init(&p[i], VT_HEALTHY);
		CU_ASSERT_EQUAL(vt_health_add(h, name, probe_fn, &p[i], &o),
				VT_OK);
	}
	many m;
	atomic_init(&m.ended, 0);
	atomic_init(&m.bad, 0);
	many_arg a = {.h = h, .m = &m};
	pthread_t t[MANY_THREADS];
	for (int i = 0; i < MANY_THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(
		    pthread_create(&t[i], NULL, many_runner, &a), 0);
	/* A waiting run among them. */
	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL(vt_health_run(h, NULL, VT_RUN_FRESH, &s), VT_OK);
	vt_health_snapshot_free(s);
	for (int i = 0; i < MANY_THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT(wait_count(&m.ended, MANY_THREADS * MANY_RUNS));
	CU_ASSERT_EQUAL(atomic_load(&m.ended), MANY_THREADS * MANY_RUNS);
	CU_ASSERT_EQUAL(atomic_load(&m.bad), 0);
	/* Shared runs: no check ran more often than runs were asked for. */
	for (int i = 0; i < MANY_CHECKS; i++) {
		int calls = atomic_load(&p[i].calls);
		CU_ASSERT(calls >= 1 && calls <= MANY_THREADS * MANY_RUNS + 1);
	}
	vt_health_free(h);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"hung check: the run ends at its timeout, others handed off",
	     test_hung},
	    {"concurrent runs share one execution", test_shared},
	    {"errors and a run with nothing to wait for", test_errors},
	    {"many runs from several threads", test_many},
	    {NULL, NULL},
	};
	return vt_test_main("health_waiter", tests);
}
