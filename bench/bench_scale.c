/*
 * bench_scale.c - how the read side grows: the cost of a scrape and the
 * memory as series grow to 100k and writing threads to 64, and the cost
 * of a fresh /health as checks grow to 1,000, each with a fitted line.
 *
 * 1. Series (--series, default 1k, 3k, 10k, 30k, 100k): a registry of S
 *    series in bench_read's "mix" (families of 10 series with one label:
 *    per 10 families 6 counters, 3 gauges, 1 histogram with the default
 *    buckets), written by 2 threads (the CPUs of these machines),
 *    each writing every series once
 *    (counter inc, gauge set, 8 log-normal observations per histogram),
 *    then parked alive so their shards stay live, as under a scrape of a
 *    running service. Timed, --reps times: vt_metrics_snapshot_take (the
 *    merge), the merge + vt_prom_metrics, the merge + vt_json_metrics
 *    (a scrape of the Prometheus text or the JSON). Memory: the heap
 *    bytes in use (mallinfo2, every arena) after the writes less before
 *    the registry was made: the registry, its series and the writers'
 *    shards.
 * 2. Writer threads (--writers, default 1, 2, 4, ..., 64): the same with
 *    1,000 series written by W threads.
 * 3. Checks (1, 10, 100, 300, 1000; smoke: 1, 10, 50): N instant checks
 *    (a callback returning true) on a registry with --workers pool
 *    threads (default 4, the library's default); timed, --reps times: a
 *    fresh run of all (vt_health_run VT_RUN_FRESH) + its JSON
 *    (vt_json_health), i.e. what a fresh /health costs before HTTP. Every
 *    snapshot must be healthy with N components, or the program fails.
 *
 * Each curve gets a least-squares line, time = a + b * x (b: the cost per
 * series, per thread, per check; weighted by 1/time^2, i.e. relative
 * errors, as the sizes span decades), with its R^2, and the exponent k of a
 * power-law fit time ~ x^k on the log-log points (k = 1: linear growth,
 * k < 1: fixed costs still weigh, k > 1: worse than linear).
 *
 * Output as the other benches (bench_common.h); CSV rows:
 *   scale_series,<series>,<writers>,<merge ms>,<prom ms>,<json ms>,
 *                <heap bytes>,<prom bytes>
 *   scale_threads,<series>,<writers>,<merge ms>,<prom ms>,<json ms>,
 *                <heap bytes>,<prom bytes>
 *   scale_checks,<checks>,<workers>,<ms med>,<min>,<max>
 *   scale_fit,<curve>,<x unit>,<y unit>,<intercept>,<slope>,<r2>,<exponent>
 * --only series, threads or checks runs that part.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "vitals/encode.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#define MAX_REPS   64
#define MAX_WRITER 256
#define HIST_OBS   8
#define NVALS	   4096
#define MAX_POINTS 16

static double vals[NVALS]; /* log-normal latencies, median 20 ms */

static void die(const char *what, vt_err err)
{
	fprintf(stderr, "bench_scale: %s: %s\n", what, vt_strerror(err));
	exit(1);
}

/* ---- fits ------------------------------------------------------------------
 */

typedef struct fit {
	double a, b, r2, k; /* y = a + b x; R^2; y ~ x^k */
} fit;

/* Least squares over (x[i], y[i]) weighted by 1/y^2 (relative errors:
 * on sizes spread over decades the largest point would otherwise set the
 * line alone), and the slope of the log-log points. */
static fit fit_line(const double *x, const double *y, int n)
{
	fit f = {NAN, NAN, NAN, NAN};
	if (n < 2)
		return f;
	double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, lx = 0, ly = 0,
	       lxx = 0, lxy = 0;
	for (int i = 0; i < n; i++) {
		double w = 1 / (y[i] * y[i]);
		sw += w;
		sx += w * x[i];
		sy += w * y[i];
		sxx += w * x[i] * x[i];
		sxy += w * x[i] * y[i];
		double u = log(x[i]), v = log(y[i]);
		lx += u;
		ly += v;
		lxx += u * u;
		lxy += u * v;
	}
	f.b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
	f.a = (sy - f.b * sx) / sw;
	double mean = sy / sw, ssr = 0, sst = 0;
	for (int i = 0; i < n; i++) {
		double w = 1 / (y[i] * y[i]), e = y[i] - (f.a + f.b * x[i]);
		ssr += w * e * e;
		sst += w * (y[i] - mean) * (y[i] - mean);
	}
	f.r2 = sst > 0 ? 1 - ssr / sst : 1;
	f.k = (n * lxy - lx * ly) / (n * lxx - lx * lx);
	return f;
}

/* Prints and writes the fit of one curve; unit_scale turns the slope
 * (y per x) into the printed unit (e.g. 1e3: us per series from ms). */
static void print_fit(const char *curve, const char *what, const double *x,
		      const double *y, int n, double unit_scale,
		      const char *slope_unit)
{
	fit f = fit_line(x, y, n);
	printf("- **%s**: %s = %s ms + %s %s (R^2 %s); power-law exponent "
	       "%s (1 = linear).\n",
	       curve, what, bench_fmt(f.a), bench_fmt(f.b * unit_scale),
	       slope_unit, bench_fmt(f.r2), bench_fmt(f.k));
	bench_csv("scale_fit,%s,%s,ms,%.6g,%.6g,%.6f,%.4f", curve,
		  bench_csv_text(slope_unit), f.a, f.b * unit_scale, f.r2, f.k);
}

/* ---- a written registry -------------------------------------------------- */

/* A mix registry of n series (bench_read's "mix"); the series in *out. */
static vt_metrics *build_mix(size_t n, struct vt_series ***out)
{
	vt_metrics *m;
	vt_err err = vt_metrics_alloc(&m);
	if (err != VT_OK)
		die("vt_metrics_alloc", err);
	struct vt_series **s = malloc(n * sizeof *s);
	if (s == NULL)
		die("build", VT_ENOMEM);
	static const char *const ln[] = {"k"};
	vt_family *f = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t fam = i / 10, k = fam % 10;
		if (i % 10 == 0) {
			char name[64];
			if (k < 6) {
				snprintf(name, sizeof name,
					 "scale_requests_%06zu_total", fam);
				err = vt_metrics_counter_family(m, name, "help",
								ln, 1, &f);
			} else if (k < 9) {
				snprintf(name, sizeof name,
					 "scale_inflight_%06zu", fam);
				err = vt_metrics_gauge_family(m, name, "help",
							      ln, 1, &f);
			} else {
				snprintf(name, sizeof name,
					 "scale_latency_seconds_%06zu", fam);
				err = vt_metrics_histogram_family(
				    m, name, "help", ln, 1, NULL, 0, &f);
			}
			if (err != VT_OK)
				die("family", err);
		}
		char v[16];
		snprintf(v, sizeof v, "%zu", i % 10);
		const char *vv = v;
		if ((err = vt_family_series(f, &vv, 1, &s[i])) != VT_OK)
			die("series", err);
	}
	*out = s;
	return m;
}

typedef struct writer {
	bench_team_arg ta;
	struct vt_series **s;
	size_t n;
	pthread_mutex_t *mtx;
	pthread_cond_t *cv;
	int *written; /* writers done, under mtx */
	int *release; /* set by the reader, under mtx */
} writer;

/* Writes every series once, then parks until released. */
static void *writer_main(void *arg)
{
	writer *w = arg;
	bench_team_ready(&w->ta);
	unsigned j = (unsigned)w->ta.idx * 131u;
	for (size_t i = 0; i < w->n; i++) {
		size_t k = (i / 10) % 10;
		vt_err err = VT_OK;
		if (k < 6)
			err = vt_counter_inc(w->s[i]);
		else if (k < 9)
			err = vt_gauge_set(w->s[i], (double)i);
		else
			for (int o = 0; o < HIST_OBS && err == VT_OK; o++)
				err = vt_histogram_observe(
				    w->s[i], vals[j++ & (NVALS - 1)]);
		if (err != VT_OK)
			die("write", err);
	}
	pthread_mutex_lock(w->mtx);
	(*w->written)++;
	pthread_cond_broadcast(w->cv);
	while (!*w->release)
		pthread_cond_wait(w->cv, w->mtx);
	pthread_mutex_unlock(w->mtx);
	return NULL;
}

typedef struct scrape_fig {
	bench_stats merge, prom, json; /* ms; prom and json include merge */
	size_t heap, prom_bytes;
} scrape_fig;

/* Times reps scrapes of m. */
static void time_scrapes(vt_metrics *m, int reps, scrape_fig *f)
{
	double mg[MAX_REPS], pr[MAX_REPS], js[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		vt_metrics_snapshot *s;
		char *out;
		size_t len;
		int64_t t0 = bench_now_ns();
		vt_err err = vt_metrics_snapshot_take(m, NULL, &s);
		int64_t t1 = bench_now_ns();
		if (err != VT_OK)
			die("snapshot", err);
		if ((err = vt_prom_metrics(s, &out, &len)) != VT_OK)
			die("prom", err);
		int64_t t2 = bench_now_ns();
		free(out);
		f->prom_bytes = len;
		int64_t t3 = bench_now_ns();
		if ((err = vt_json_metrics(s, &out, &len)) != VT_OK)
			die("json", err);
		int64_t t4 = bench_now_ns();
		free(out);
		vt_metrics_snapshot_free(s);
		mg[r] = (double)(t1 - t0) / 1e6;
		pr[r] = (double)(t2 - t0) / 1e6;
		js[r] = (double)((t1 - t0) + (t4 - t3)) / 1e6;
	}
	f->merge = bench_stats_of(mg, reps);
	f->prom = bench_stats_of(pr, reps);
	f->json = bench_stats_of(js, reps);
}

/* A registry of n series written by nw parked threads: its scrapes and
 * heap bytes. */
static scrape_fig measure_scrape(const bench_opts *o, size_t n, int nw)
{
	scrape_fig f = {0};
	size_t heap0 = bench_heap_bytes();
	struct vt_series **s;
	vt_metrics *m = build_mix(n, &s);
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int written = 0, release = 0;
	writer *w = calloc((size_t)nw, sizeof *w);
	pthread_t *tids = calloc((size_t)nw, sizeof *tids);
	if (w == NULL || tids == NULL)
		die("writers", VT_ENOMEM);
	for (int i = 0; i < nw; i++)
		w[i] = (writer){.s = s,
				.n = n,
				.mtx = &mtx,
				.cv = &cv,
				.written = &written,
				.release = &release};
	bench_team team;
	if (bench_team_start(&team, tids, nw, o->pin, writer_main, w,
			     sizeof *w) != 0)
		die("threads", VT_ENOMEM);
	bench_team_go(&team);
	pthread_mutex_lock(&mtx);
	while (written < nw)
		pthread_cond_wait(&cv, &mtx);
	pthread_mutex_unlock(&mtx);
	/* The bench's own arrays are not the registry's memory. */
	f.heap = bench_heap_bytes() - heap0 - n * sizeof *s -
		 (size_t)nw * (sizeof *w + sizeof *tids);
	time_scrapes(m, o->reps, &f);
	pthread_mutex_lock(&mtx);
	release = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mtx);
	bench_team_join(&team, tids);
	vt_metrics_free(m);
	free(s);
	free(w);
	free(tids);
	return f;
}

/* ---- parts 1 and 2 --------------------------------------------------------
 */

static void print_scrape_row(const char *kind, size_t n, int nw,
			     const scrape_fig *f)
{
	printf("| %zu | %d | %s | %s | %s | %s | %s | %s |\n", n, nw,
	       bench_fmt_stats(&f->merge), bench_fmt_stats(&f->prom),
	       bench_fmt_stats(&f->json), bench_fmt((double)f->heap / 1048576),
	       bench_fmt((double)f->heap / (double)n),
	       bench_fmt((double)f->prom_bytes / 1048576));
	bench_csv("%s,%zu,%d,%.4f,%.4f,%.4f,%zu,%zu", kind, n, nw, f->merge.med,
		  f->prom.med, f->json.med, f->heap, f->prom_bytes);
}

static void scrape_table_head(void)
{
	printf("| series | writers | merge ms | merge + Prometheus text ms | "
	       "merge + JSON ms | heap MiB | heap bytes per series | text "
	       "MiB |\n|---|---|---|---|---|---|---|---|\n");
}

static void part_series(const bench_opts *o)
{
	int nw = 2;
	printf("### Scrape cost and memory against series (%d writer "
	       "threads)\n\n",
	       nw);
	scrape_table_head();
	double x[MAX_POINTS], yp[MAX_POINTS], yj[MAX_POINTS], hm[MAX_POINTS];
	int np = 0;
	for (int i = 0; i < o->series.n && np < MAX_POINTS; i++) {
		size_t n = (size_t)o->series.v[i];
		fprintf(stderr, "bench_scale: series %zu\n", n);
		scrape_fig f = measure_scrape(o, n, nw);
		print_scrape_row("scale_series", n, nw, &f);
		x[np] = (double)n;
		yp[np] = f.prom.med;
		yj[np] = f.json.med;
		hm[np++] = (double)f.heap / 1048576;
	}
	printf("\nGrowth (least squares over the medians, relative "
	       "errors):\n\n");
	print_fit("scrape_prom_vs_series", "merge + Prometheus text", x, yp, np,
		  1e6, "ns per series");
	print_fit("scrape_json_vs_series", "merge + JSON", x, yj, np, 1e6,
		  "ns per series");
	fit f = fit_line(x, hm, np);
	printf("- **memory_vs_series**: heap = %s MiB + %s bytes per series "
	       "(R^2 %s).\n\n",
	       bench_fmt(f.a), bench_fmt(f.b * 1048576), bench_fmt(f.r2));
	bench_csv("scale_fit,memory_vs_series,bytes per series,MiB,%.6g,%.6g,"
		  "%.6f,%.4f",
		  f.a, f.b * 1048576, f.r2, f.k);
}

static void part_threads(const bench_opts *o)
{
	size_t n = 1000;
	printf("### Scrape cost and memory against writer threads (%zu "
	       "series)\n\n",
	       n);
	scrape_table_head();
	double x[MAX_POINTS], yp[MAX_POINTS], yj[MAX_POINTS], hm[MAX_POINTS];
	int np = 0;
	for (int i = 0; i < o->writers.n && np < MAX_POINTS; i++) {
		int nw = (int)o->writers.v[i];
		fprintf(stderr, "bench_scale: writers %d\n", nw);
		scrape_fig f = measure_scrape(o, n, nw);
		print_scrape_row("scale_threads", n, nw, &f);
		x[np] = nw;
		yp[np] = f.prom.med;
		yj[np] = f.json.med;
		hm[np++] = (double)f.heap / 1048576;
	}
	printf("\nGrowth (least squares over the medians, relative "
	       "errors):\n\n");
	print_fit("scrape_prom_vs_threads", "merge + Prometheus text", x, yp,
		  np, 1e3, "us per thread");
	print_fit("scrape_json_vs_threads", "merge + JSON", x, yj, np, 1e3,
		  "us per thread");
	fit f = fit_line(x, hm, np);
	printf("- **memory_vs_threads**: heap = %s MiB + %s KiB per writer "
	       "thread (R^2 %s).\n\n",
	       bench_fmt(f.a), bench_fmt(f.b * 1024), bench_fmt(f.r2));
	bench_csv("scale_fit,memory_vs_threads,KiB per thread,MiB,%.6g,%.6g,"
		  "%.6f,%.4f",
		  f.a, f.b * 1024, f.r2, f.k);
}

/* ---- part 3: fresh /health against checks ------------------------------- */

static bool instant_check(void *arg)
{
	(void)arg;
	return true;
}

/* ms of reps fresh runs + JSON of n instant checks on workers threads. */
static bench_stats time_health(int n, int workers, int reps)
{
	vt_health *h;
	vt_health_opts ho = {.workers = (unsigned)workers};
	vt_err err = vt_health_alloc(&h, &ho);
	if (err != VT_OK)
		die("vt_health_alloc", err);
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.interval_ms = 24 * 3600 * 1000; /* never due in a run */
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "check_%04d", i);
		if ((err = vt_health_add_simple(h, name, instant_check, NULL,
						&co)) != VT_OK)
			die("vt_health_add_simple", err);
	}
	double ms[MAX_REPS];
	for (int r = -1; r < reps; r++) { /* one untimed warm-up run */
		vt_health_snapshot *snap;
		char *out;
		size_t len;
		int64_t t0 = bench_now_ns();
		if ((err = vt_health_run(h, NULL, VT_RUN_FRESH, &snap)) !=
		    VT_OK)
			die("vt_health_run", err);
		if ((err = vt_json_health(snap, &out, &len)) != VT_OK)
			die("vt_json_health", err);
		int64_t t1 = bench_now_ns();
		if (snap->status != VT_HEALTHY ||
		    snap->ncomponents != (size_t)n) {
			fprintf(stderr,
				"bench_scale: %d checks: status %s, %zu "
				"components\n",
				n, vt_status_name(snap->status),
				snap->ncomponents);
			exit(1);
		}
		free(out);
		vt_health_snapshot_free(snap);
		if (r >= 0)
			ms[r] = (double)(t1 - t0) / 1e6;
	}
	vt_health_free(h);
	return bench_stats_of(ms, reps);
}

static void part_checks(const bench_opts *o)
{
	static const int full[] = {1, 10, 100, 300, 1000};
	static const int smoke[] = {1, 10, 50};
	const int *list = o->smoke ? smoke : full;
	int n = o->smoke ? 3 : 5;
	int workers = o->workers > 0 ? o->workers : 4;
	printf("### Fresh /health against checks (%d workers, instant "
	       "checks)\n\n",
	       workers);
	printf("| checks | fresh run + JSON ms | per check us |\n"
	       "|---|---|---|\n");
	double x[MAX_POINTS], y[MAX_POINTS];
	for (int i = 0; i < n; i++) {
		fprintf(stderr, "bench_scale: checks %d\n", list[i]);
		bench_stats st = time_health(list[i], workers, o->reps);
		printf("| %d | %s | %s |\n", list[i], bench_fmt_stats(&st),
		       bench_fmt(st.med * 1e3 / list[i]));
		bench_csv("scale_checks,%d,%d,%.4f,%.4f,%.4f", list[i], workers,
			  st.med, st.min, st.max);
		x[i] = list[i];
		y[i] = st.med;
	}
	printf("\nGrowth (least squares over the medians, relative "
	       "errors):\n\n");
	print_fit("health_vs_checks", "fresh run + JSON", x, y, n, 1e3,
		  "us per check");
	printf("\n");
}

int main(int argc, char **argv)
{
	bench_opts o = {0};
	o.reps = 11;
	bench_parse(&o, argc, argv,
		    "usage: bench_scale [--quick] [--smoke] [--pin] [--reps N] "
		    "[--csv FILE] [--series 1000,10000] [--writers 1,2,4] "
		    "[--workers N] [--only series|threads|checks]");
	if (o.series.n == 0)
		bench_list_parse(&o.series, o.smoke   ? "100,1000"
					    : o.quick ? "1000,10000,100000"
						      : "1000,3000,10000,"
							"30000,100000");
	if (o.writers.n == 0)
		bench_list_parse(&o.writers, o.smoke   ? "1,4"
					     : o.quick ? "1,4,16,64"
						       : "1,2,4,8,16,32,64");
	if (o.smoke)
		o.reps = 2;
	else if (o.quick && o.reps == 11)
		o.reps = 5;
	if (o.reps > MAX_REPS) {
		fprintf(stderr, "at most %d repeats\n", MAX_REPS);
		return 2;
	}
	for (int i = 0; i < o.writers.n; i++)
		if (o.writers.v[i] < 1 || o.writers.v[i] > MAX_WRITER) {
			fprintf(stderr, "writers: 1..%d\n", MAX_WRITER);
			return 2;
		}
	for (int i = 0; i < o.series.n; i++)
		if (o.series.v[i] < 10) {
			fprintf(stderr, "series: at least 10\n");
			return 2;
		}
	bench_rng rng;
	bench_rng_seed(&rng, 7);
	for (int i = 0; i < NVALS; i++)
		vals[i] = bench_rng_lognormal(&rng, 0.02, 1);
	bench_out_open(&o);
	bench_header(&o, "Scale: scrape cost and memory against series and "
			 "threads, fresh /health against checks (bench_scale)");
	printf("Times: median (min-max) of the repeats. Heap: bytes malloc "
	       "holds (mallinfo2) for the registry, its series and the "
	       "writers' shards, the writers parked alive.\n\n");
	if (bench_selected(&o, "series"))
		part_series(&o);
	if (bench_selected(&o, "threads"))
		part_threads(&o);
	if (bench_selected(&o, "checks"))
		part_checks(&o);
	bench_out_close();
	return 0;
}
