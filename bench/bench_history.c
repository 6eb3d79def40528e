/*
 * bench_history.c - what history costs.
 *
 *   status page   50 checks with 30 days of generated history (one
 *                 result a minute each, 2.16 M rows): the summaries
 *                 (rollup reads) and the HTML, per page; target <= 20 ms.
 *   recording     C1 (100 checks of 50 ms on 8 workers, one fresh run)
 *                 and a cached /health read + JSON encode, each with no
 *                 history and with a state database attached (the answer
 *                 waits for the commit of what it shows), same run.
 *
 *   bench_history [--smoke] [--db PATH]
 * --db keeps the generated database at PATH (for a status page demo:
 * point vitalsd's "state" at it) and reuses it when it holds history;
 * --smoke: tiny sizes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "encode/statuspage.h"
#include "vitals/encode.h"
#include "vitals/health.h"
#include "vitals/history.h"

static FILE *csv_out; /* --csv: one line per figure */

static void csv(const char *figure, double value, const char *unit)
{
	if (csv_out != NULL)
		fprintf(csv_out, "%s,%.4f,%s\n", figure, value, unit);
}

static double now_ms(void)
{
	return (double)vt__mono_ns() / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Fills hs with days of one-a-minute results for names[0..n): mostly
 * healthy, a few slow hours, a few outages with errors. */
static void generate(vt_history *hs, const char *const *names, int n, int days)
{
	double end = floor(vt__wall_s());
	int per = days * 1440;
	for (int c = 0; c < n; c++) {
		double base = 5 + (double)(rnd() % 40);
		for (int i = 0; i < per; i++) {
			double t = end - (double)(per - i) * 60.0;
			int hour = i / 60;
			vt_history_result r = {t, VT_HEALTHY,
					       base + (double)(rnd() % 20),
					       NULL, false};
			uint64_t h = (uint64_t)(hour * 31 + c * 7) % 97;
			if (h == 3 && i % 60 < 12) {
				r.status = VT_UNHEALTHY;
				r.error = "connection refused";
			} else if (h == 5) {
				r.status = VT_DEGRADED;
				r.duration_ms *= 6;
				r.error = "slow: 250 ms > 200 ms";
			}
			while (vt_history_record(hs, names[c], &r) == VT_EFULL)
				vt_history_flush(hs);
		}
	}
	vt_history_flush(hs);
}

static void bench_page(vt_history *hs, int nchecks, int iters, char **names)
{
	vt_health_opts ho = {.workers = 2};
	vt_health *h = NULL;
	vt_health_alloc(&h, &ho);
	vt_health_snapshot *s = NULL;
	vt_health_run(h, NULL, VT_RUN_CACHED, &s);
	/* A snapshot of nchecks components, as the service hands one. */
	vt_component *cs = calloc((size_t)nchecks, sizeof(*cs));
	for (int i = 0; i < nchecks; i++) {
		cs[i].name = names[i];
		cs[i].status = i % 9 == 0 ? VT_DEGRADED : VT_HEALTHY;
		cs[i].last_check_time = vt__wall_s();
		cs[i].duration_ms = 12.5;
		cs[i].error = i % 9 == 0 ? "slow: 250 ms > 200 ms" : NULL;
	}
	vt_health_snapshot page = {VT_DEGRADED, vt__wall_s(), (size_t)nchecks,
				   cs, 0};
	vt_history_summary *sums = calloc((size_t)nchecks, sizeof(*sums));
	double *t = calloc((size_t)iters, sizeof(double));
	size_t bytes = 0;
	for (int it = 0; it < iters; it++) {
		double t0 = now_ms();
		double wall = vt__wall_s();
		for (int i = 0; i < nchecks; i++)
			vt_history_summary_read(hs, names[i], wall, &sums[i]);
		char *out = NULL;
		size_t len = 0;
		vt__statuspage_html(&page, sums, false, &out, &len);
		t[it] = now_ms() - t0;
		bytes = len;
		free(out);
	}
	qsort(t, (size_t)iters, sizeof(double), cmp_d);
	printf("- status page: %d checks, %zu bytes: p50 %.2f ms, p99 %.2f ms "
	       "(target <= 20 ms)\n",
	       nchecks, bytes, t[iters / 2], t[iters * 99 / 100]);
	csv("status_page_p50", t[iters / 2], "ms");
	csv("status_page_p99", t[iters * 99 / 100], "ms");
	printf("- uptime of %s: 24h %.4f 7d %.4f 30d %.4f\n", names[0],
	       sums[0].uptime[1], sums[0].uptime[2], sums[0].uptime[3]);
	free(t);
	free(sums);
	free(cs);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

static bool sleepy(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	return true;
}

static bool instant(void *arg)
{
	(void)arg;
	return true;
}

/* C1 and cached /health, without and with a store (path NULL: none). */
static void bench_record(const char *path, int runs, int reads)
{
	vt_health_opts ho = {.workers = 8, .queue_cap = 4096};
	vt_health *h = NULL;
	vt_health_alloc(&h, &ho);
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	for (int i = 0; i < 100; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%03d", i);
		vt_health_add_simple(h, name, sleepy, NULL, &co);
	}
	vt_history *hs = NULL;
	if (path != NULL) {
		vt_history_opts o = {.path = path};
		char err[256];
		if (vt_history_open(&hs, &o, err, sizeof(err)) != VT_OK) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
		vt_history_attach(hs, h);
	}
	double best = 1e9, sum = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		vt_health_snapshot *s = NULL;
		vt_health_run(h, NULL, VT_RUN_FRESH, &s);
		if (hs != NULL)
			vt_history_wait(hs, s->seq, 10000);
		double dt = now_ms() - t0;
		vt_health_snapshot_free(s);
		best = dt < best ? dt : best;
		sum += dt;
	}
	printf("- C1 %s: 100 checks of 50 ms on 8 workers, fresh run: best "
	       "%.1f ms, mean %.1f ms (target <= 800 ms)\n",
	       hs != NULL ? "with history" : "no history  ", best, sum / runs);
	csv(hs != NULL ? "c1_best_history" : "c1_best_plain", best, "ms");
	/* Cached reads while the scheduler records 4 instant checks every
	 * 10 ms, as a busy daemon would. */
	vt_health *h2 = NULL;
	vt_health_opts ho2 = {.workers = 2};
	vt_health_alloc(&h2, &ho2);
	co.interval_ms = 10;
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "i%d", i);
		vt_health_add_simple(h2, name, instant, NULL, &co);
	}
	if (hs != NULL) {
		vt_history_detach(hs);
		vt_history_attach(hs, h2);
	}
	vt_health_start(h2);
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	double t0 = now_ms();
	for (int i = 0; i < reads; i++) {
		vt_health_snapshot *s = NULL;
		vt_health_run(h2, NULL, VT_RUN_CACHED, &s);
		if (hs != NULL)
			vt_history_wait(hs, s->seq, 10000);
		char *out = NULL;
		size_t len = 0;
		vt_json_health(s, &out, &len);
		free(out);
		vt_health_snapshot_free(s);
	}
	double per = (now_ms() - t0) * 1000.0 / reads;
	printf("- cached /health %s: snapshot (+ wait) + JSON: %.2f us/op\n",
	       hs != NULL ? "with history" : "no history  ", per);
	csv(hs != NULL ? "cached_health_history" : "cached_health_plain", per,
	    "us");
	vt_health_stop(h2);
	vt_history_detach(hs);
	vt_health_free(h2);
	vt_health_free(h);
	vt_history_close(hs);
}

int main(int argc, char **argv)
{
	bool smoke = false;
	const char *keep = NULL;
	const char *csv = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = true;
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			keep = argv[++i];
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv = argv[++i];
		/* run.sh's --quick and --pin change nothing here. */
	}
	printf("## History: status page and recording (bench_history)\n\n");
	if (csv != NULL && (csv_out = fopen(csv, "w")) != NULL)
		fprintf(csv_out, "figure,value,unit\n");
	char tmp[] = "/tmp/bench_history_XXXXXX";
	if (mkdtemp(tmp) == NULL)
		return 1;
	char path[600];
	snprintf(path, sizeof(path), "%s/page.db", tmp);
	const char *db = keep != NULL ? keep : path;
	int nchecks = smoke ? 5 : 50, days = smoke ? 1 : 30;
	static const char *const demo[] = {
	    "api",   "checkout", "dmarket", "postgres", "queue",
	    "redis", "search",	 "disk",    "payments", "auth"};
	char **names = calloc((size_t)nchecks, sizeof(char *));
	for (int i = 0; i < nchecks; i++) {
		names[i] = malloc(32);
		if (i < 10)
			snprintf(names[i], 32, "%s", demo[i]);
		else
			snprintf(names[i], 32, "service-%02d", i);
	}
	vt_history_opts o = {.path = db, .queue_cap = 1 << 16};
	vt_history *hs = NULL;
	char err[256];
	if (vt_history_open(&hs, &o, err, sizeof(err)) != VT_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t0 = now_ms();
	double up[VT_UPTIME_NWINDOWS];
	if (keep != NULL &&
	    vt_history_uptime(hs, names[0], vt__wall_s(), up) == VT_OK &&
	    up[VT_UPTIME_30D] >= 0) {
		printf("- using the history already in %s\n", keep);
	} else {
		generate(hs, (const char *const *)names, nchecks, days);
		printf("- generated %d checks x %d days (one result a minute): "
		       "%.1f s\n",
		       nchecks, days, (now_ms() - t0) / 1000.0);
	}
	bench_page(hs, nchecks, smoke ? 5 : 200, names);
	vt_history_close(hs);
	char rec[600];
	snprintf(rec, sizeof(rec), "%s/rec.db", tmp);
	bench_record(NULL, smoke ? 1 : 10, smoke ? 100 : 100000);
	bench_record(rec, smoke ? 1 : 10, smoke ? 100 : 100000);
	for (int i = 0; i < nchecks; i++)
		free(names[i]);
	free(names);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (csv_out != NULL)
		fclose(csv_out);
	return system(cmd) == 0 ? 0 : 1;
}
