/*
 * bench_checks.c - response time of fresh health runs.
 *
 * 1. Parallel run: --checks (100) checks that each sleep --sleep-ms (50)
 *    on a registry with --workers (8) pool threads; the wall time of one
 *    fresh vt_health_run (VT_RUN_FRESH), on a new registry each repeat
 *    (registration and pool start are not timed). Compared with the
 *    seed's sequential way: the same callbacks called one after another
 *    (measured --sequential times, default once: it takes checks x sleep).
 *    Every component must come back healthy.
 * 2. Hung check: one check that blocks (until the bench releases it after
 *    the run) with timeout T among 20 healthy checks of 10 ms, for each T
 *    of --hung-timeouts; the wall time of a fresh run, which must report
 *    the hung check UNHEALTHY "timeout after T ms" and the others
 *    healthy. Then a second fresh run while the hung callback still runs
 *    (single flight: it is not started again). The bench then releases
 *    the callback and frees the registry.
 *
 * Repeats: --reps (5); medians (min-max). --only parallel or --only hung
 * runs one part.
 *
 * Targets (DESIGN.md): 100 checks of 50 ms on 8 workers <= 0.8 s; with a
 * hung check, the answer within the check's timeout + 20 ms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "vitals/health.h"

#define MAX_REPS 64

static void die(const char *what, vt_err err)
{
	fprintf(stderr, "bench_checks: %s: %s\n", what, vt_strerror(err));
	exit(1);
}

static int sleep_ms_arg;

static bool sleeping_check(void *arg)
{
	bench_sleep_ms(*(const int *)arg);
	return true;
}

/* A hung dependency: blocks until released (or 60 s at most, so a
 * broken bench cannot hang forever). */
typedef struct hang {
	pthread_mutex_t mtx;
	int released;
	int entered;
} hang;

static void hung_check(vt_check_result *r, void *arg)
{
	hang *h = arg;
	int64_t until = bench_now_ns() + (int64_t)60 * 1000000000;
	pthread_mutex_lock(&h->mtx);
	h->entered++;
	while (!h->released && bench_now_ns() < until) {
		pthread_mutex_unlock(&h->mtx);
		bench_sleep_ms(1);
		pthread_mutex_lock(&h->mtx);
	}
	pthread_mutex_unlock(&h->mtx);
	vt_result_status(r, VT_HEALTHY);
}

static vt_health *new_registry(int workers)
{
	vt_health *h;
	vt_health_opts ho = {.workers = (unsigned)workers, .queue_cap = 1024};
	vt_err err = vt_health_alloc(&h, &ho);
	if (err != VT_OK)
		die("vt_health_alloc", err);
	return h;
}

static void add_sleepers(vt_health *h, int n, int *ms, const char *prefix)
{
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s%03d", prefix, i);
		vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
		vt_err err =
		    vt_health_add_simple(h, name, sleeping_check, ms, &co);
		if (err != VT_OK)
			die("vt_health_add_simple", err);
	}
}

/* Runs fresh, checks that every component but `hung` (may be NULL) is
 * healthy and `hung` timed out; returns the wall time in ms. */
static double timed_run(vt_health *h, size_t want, const char *hung,
			int timeout_ms)
{
	vt_health_snapshot *s;
	int64_t t0 = bench_now_ns();
	vt_err err = vt_health_run(h, NULL, VT_RUN_FRESH, &s);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	if (err != VT_OK)
		die("vt_health_run", err);
	if (s->ncomponents != want) {
		fprintf(stderr, "%zu components, want %zu\n", s->ncomponents,
			want);
		exit(1);
	}
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		char want_err[64];
		snprintf(want_err, sizeof want_err, "timeout after %d ms",
			 timeout_ms);
		int is_hung = hung != NULL && strcmp(c->name, hung) == 0;
		int ok = is_hung
			     ? c->status == VT_UNHEALTHY && c->error != NULL &&
				   strcmp(c->error, want_err) == 0
			     : c->status == VT_HEALTHY;
		if (!ok) {
			fprintf(stderr, "%s: %s (%s)\n", c->name,
				vt_status_name(c->status),
				c->error ? c->error : "no error");
			exit(1);
		}
	}
	vt_health_snapshot_free(s);
	return ms;
}

static void parallel(const bench_opts *o)
{
	double t[MAX_REPS];
	sleep_ms_arg = o->sleep_ms;
	fprintf(stderr, "bench_checks: %d checks of %d ms on %d workers\n",
		o->checks, o->sleep_ms, o->workers);
	for (int r = 0; r < o->reps; r++) {
		vt_health *h = new_registry(o->workers);
		add_sleepers(h, o->checks, &sleep_ms_arg, "sleep_");
		t[r] = timed_run(h, (size_t)o->checks, NULL, 0);
		vt_health_free(h);
	}
	bench_stats par = bench_stats_of(t, o->reps);
	double ideal = ceil((double)o->checks / o->workers) * o->sleep_ms;

	double seq[MAX_REPS];
	int nseq = o->sequential;
	for (int r = 0; r < nseq; r++) {
		int64_t t0 = bench_now_ns();
		for (int i = 0; i < o->checks; i++)
			(void)sleeping_check(&sleep_ms_arg);
		seq[r] = (double)(bench_now_ns() - t0) / 1e6;
	}
	bench_stats ss = bench_stats_of(seq, nseq);

	printf("### Fresh run of %d checks of %d ms on %d workers\n\n",
	       o->checks, o->sleep_ms, o->workers);
	printf("| method | wall ms, median (min–max) | runs | ideal ms |\n"
	       "|---|---|---|---|\n");
	printf("| vitals: vt_health_run (fresh, parallel) | %s | %d | %s "
	       "(ceil(%d / %d) x %d) |\n",
	       bench_fmt_stats(&par), o->reps, bench_fmt(ideal), o->checks,
	       o->workers, o->sleep_ms);
	if (nseq > 0)
		printf("| seed: the same callbacks one after another | %s | %d "
		       "| %s |\n",
		       bench_fmt_stats(&ss), nseq,
		       bench_fmt((double)o->checks * o->sleep_ms));
	printf("\n");
	bench_csv("checks,parallel,%d,%d,%d,%.3f", o->checks, o->sleep_ms,
		  o->workers, par.med);
	if (nseq > 0) {
		bench_csv("checks,sequential,%d,%d,1,%.3f", o->checks,
			  o->sleep_ms, ss.med);
		printf("Speed-up over the seed: %sx.\n\n",
		       bench_fmt(ss.med / par.med));
	}
	char text[128];
	snprintf(text, sizeof text,
		 "fresh run; %d checks of %d ms on %d workers", o->checks,
		 o->sleep_ms, o->workers);
	/* The limit scales with the configuration: 0.8 s for DESIGN.md's
	 * 100 x 50 ms on 8 workers. */
	double limit = 800.0 * (o->checks * o->sleep_ms) / (100.0 * 50.0) *
		       (8.0 / o->workers);
	int design = o->checks == 100 && o->sleep_ms == 50 && o->workers == 8;
	bench_target("C1", text, par.med, BENCH_LE, limit, "ms",
		     design ? NULL
			    : "scaled from 0.8 s for 100 x 50 ms on 8 "
			      "workers");
}

static void hung(const bench_opts *o)
{
	int healthy = o->smoke ? 4 : 20;
	static int healthy_ms = 10;
	printf("### Fresh run with one hung check\n\n");
	printf("One check blocks until released; %d healthy checks of %d ms; "
	       "%d workers. First: a fresh run. Second: a fresh run right "
	       "after, while the hung callback still runs (it is not started "
	       "again). ms: median (min–max) of %d.\n\n",
	       healthy, healthy_ms, o->workers, o->reps);
	printf("| timeout T ms | first run ms | over T ms | second run ms | "
	       "limit ms |\n|---|---|---|---|---|\n");
	for (int k = 0; k < o->hung_ms.n; k++) {
		int T = (int)o->hung_ms.v[k];
		double first[MAX_REPS], second[MAX_REPS], over[MAX_REPS];
		fprintf(stderr, "bench_checks: hung check, T = %d ms\n", T);
		for (int r = 0; r < o->reps; r++) {
			vt_health *h = new_registry(o->workers);
			add_sleepers(h, healthy, &healthy_ms, "ok_");
			hang hg = {.released = 0};
			pthread_mutex_init(&hg.mtx, NULL);
			vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
			co.timeout_ms = T;
			vt_err err =
			    vt_health_add(h, "hung", hung_check, &hg, &co);
			if (err != VT_OK)
				die("vt_health_add", err);
			first[r] = timed_run(h, (size_t)healthy + 1, "hung", T);
			over[r] = first[r] - T;
			second[r] =
			    timed_run(h, (size_t)healthy + 1, "hung", T);
			pthread_mutex_lock(&hg.mtx);
			int entered = hg.entered;
			hg.released = 1;
			pthread_mutex_unlock(&hg.mtx);
			vt_health_free(h); /* waits for the hung callback */
			pthread_mutex_destroy(&hg.mtx);
			if (entered != 1) {
				fprintf(stderr,
					"hung check started %d times, want "
					"1\n",
					entered);
				exit(1);
			}
		}
		bench_stats f = bench_stats_of(first, o->reps);
		bench_stats s = bench_stats_of(second, o->reps);
		bench_stats ov = bench_stats_of(over, o->reps);
		printf("| %d | %s | %s | %s | <= %d |\n", T,
		       bench_fmt_stats(&f), bench_fmt_stats(&ov),
		       bench_fmt_stats(&s), T + 20);
		bench_csv("hung,%d,%.3f,%.3f", T, f.med, s.med);
		char id[16], text[96];
		snprintf(id, sizeof id, "C2-%d", T);
		snprintf(text, sizeof text,
			 "fresh run with a hung check; timeout %d ms", T);
		bench_target(id, text, f.med, BENCH_LE, T + 20.0, "ms", NULL);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	bench_opts o = {0};
	o.reps = 5;
	o.checks = 100;
	o.sleep_ms = 50;
	o.workers = 8;
	o.sequential = 1;
	bench_list_parse(&o.hung_ms, "100,1000");
	bench_opts def = o;
	bench_parse(&o, argc, argv,
		    "[--checks N] [--sleep-ms N] [--workers N] "
		    "[--hung-timeouts LIST] [--sequential N]");
	if (o.smoke) {
		if (o.reps == def.reps)
			o.reps = 1;
		if (o.checks == def.checks)
			o.checks = 16;
		if (o.sleep_ms == def.sleep_ms)
			o.sleep_ms = 5;
		if (memcmp(&o.hung_ms, &def.hung_ms, sizeof o.hung_ms) == 0)
			bench_list_parse(&o.hung_ms, "50");
	} else if (o.quick) {
		if (o.reps == def.reps)
			o.reps = 3;
		if (memcmp(&o.hung_ms, &def.hung_ms, sizeof o.hung_ms) == 0)
			bench_list_parse(&o.hung_ms, "100");
	}
	if (o.reps > MAX_REPS || o.sequential > MAX_REPS) {
		fprintf(stderr, "at most %d repeats\n", MAX_REPS);
		return 2;
	}
	bench_out_open(&o);
	bench_header(&o, "Health: fresh runs (bench_checks)");
	if (bench_selected(&o, "parallel"))
		parallel(&o);
	if (bench_selected(&o, "hung"))
		hung(&o);
	bench_targets_print();
	bench_out_close();
	return 0;
}
