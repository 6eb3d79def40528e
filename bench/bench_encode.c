/*
 * bench_encode.c - the exposition encoders side by side on one snapshot
 * of the 1,000-series registry of bench_read (families of 10 series,
 * label "k"; mixes: all counters, all histograms, and 60% counters /
 * 30% gauges / 10% histograms), each histogram series holding 8
 * log-normal observations: Prometheus text 0.0.4 (the baseline),
 * OpenMetrics 1.0.0, the protobuf exposition (delimited MetricFamily,
 * classic + native buckets) and JSON. The merge is timed apart; each row
 * is the encoder alone, median (min-max) of the repeats, and its size.
 *
 *   bench_encode [--reps N] [--series N] [--smoke]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "vitals/encode.h"
#include "vitals/metrics.h"

#define MAX_REPS 1000

static const char *const mix_names[] = {"counters", "histograms", "mixed"};

static void die(const char *what, vt_err err)
{
	fprintf(stderr, "bench_encode: %s: %s\n", what, vt_strerror(err));
	exit(1);
}

static vt_metric_kind family_kind(int mix, size_t fam)
{
	if (mix == 0)
		return VT_COUNTER;
	if (mix == 1)
		return VT_HISTOGRAM;
	size_t k = fam % 10;
	return k < 6 ? VT_COUNTER : k < 9 ? VT_GAUGE : VT_HISTOGRAM;
}

/* A registry of n series as bench_read builds it, written once. */
static vt_metrics *build(int mix, size_t n)
{
	vt_metrics *m;
	vt_err err = vt_metrics_alloc(&m);
	if (err != VT_OK)
		die("alloc", err);
	static const char *const ln[] = {"k"};
	vt_family *f = NULL;
	bench_rng rng;
	bench_rng_seed(&rng, 42);
	for (size_t i = 0; i < n; i++) {
		vt_metric_kind kind = family_kind(mix, i / 10);
		if (i % 10 == 0) {
			char name[64];
			snprintf(name, sizeof name, "bench_%s_%06zu%s",
				 kind == VT_COUNTER ? "requests"
				 : kind == VT_GAUGE ? "inflight"
						    : "latency_seconds",
				 i / 10, kind == VT_COUNTER ? "_total" : "");
			err = kind == VT_COUNTER
				  ? vt_metrics_counter_family(m, name, "help",
							      ln, 1, &f)
			      : kind == VT_GAUGE
				  ? vt_metrics_gauge_family(m, name, "help", ln,
							    1, &f)
				  : vt_metrics_histogram_family(
					m, name, "help", ln, 1, NULL, 0, &f);
			if (err != VT_OK)
				die("family", err);
		}
		char v[16];
		snprintf(v, sizeof v, "%zu", i % 10);
		const char *vv = v;
		struct vt_series *s;
		if ((err = vt_family_series(f, &vv, 1, &s)) != VT_OK)
			die("series", err);
		if (kind == VT_COUNTER)
			err = vt_counter_add(s, (double)(i + 1));
		else if (kind == VT_GAUGE)
			err = vt_gauge_set(s, (double)i / 7);
		for (int j = 0; kind == VT_HISTOGRAM && j < 8; j++) {
			/* log-normal around 20 ms */
			double u1 = bench_rng_unit(&rng) + 1e-12;
			double u2 = bench_rng_unit(&rng);
			double z = sqrt(-2 * log(u1)) * cos(6.283185307 * u2);
			err = vt_histogram_observe(s, 0.02 * exp(z));
		}
		if (err != VT_OK)
			die("record", err);
	}
	return m;
}

typedef vt_err (*encoder)(const vt_metrics_snapshot *, char **, size_t *);

static void row(const char *mix, const char *name, encoder enc,
		const vt_metrics_snapshot *s, int reps, double *base_med)
{
	double t[MAX_REPS];
	size_t bytes = 0;
	for (int r = 0; r < reps; r++) {
		char *out;
		size_t len;
		int64_t t0 = bench_now_ns();
		vt_err err = enc(s, &out, &len);
		int64_t t1 = bench_now_ns();
		if (err != VT_OK)
			die(name, err);
		free(out);
		bytes = len;
		t[r] = (double)(t1 - t0) / 1e6;
	}
	bench_stats st = bench_stats_of(t, reps);
	if (*base_med == 0)
		*base_med = st.med;
	printf("| %s | %s | %s | %s | %.2fx |\n", mix, name,
	       bench_fmt_stats(&st), bench_fmt((double)bytes / 1e3),
	       st.med / *base_med);
	bench_csv("encode,%s,%s,%.4f,%zu", mix, name, st.med, bytes);
}

int main(int argc, char **argv)
{
	bench_opts o = {.reps = 51};
	bench_list_parse(&o.series, "1000");
	bench_parse(&o, argc, argv, "(--series: registry size)");
	if (o.smoke) {
		o.reps = 3;
		bench_list_parse(&o.series, "100");
	}
	if (o.reps > MAX_REPS)
		o.reps = MAX_REPS;
	size_t n = (size_t)o.series.v[0];
	printf("### Exposition encoders, %zu series\n\n", n);
	printf("One snapshot, encoder alone; ms: median (min–max) of %d. "
	       "Baseline: Prometheus text 0.0.4 of the same snapshot.\n\n",
	       o.reps);
	printf(
	    "| mix | encoder | ms | kB | vs text |\n|---|---|---|---|---|\n");
	for (int mix = 0; mix < 3; mix++) {
		vt_metrics *m = build(mix, n);
		vt_metrics_snapshot *s;
		vt_err err = vt_metrics_snapshot_take(m, NULL, &s);
		if (err != VT_OK)
			die("snapshot", err);
		double base = 0;
		row(mix_names[mix], "Prometheus text", vt_prom_metrics, s,
		    o.reps, &base);
		row(mix_names[mix], "OpenMetrics", vt_openmetrics_metrics, s,
		    o.reps, &base);
		row(mix_names[mix], "protobuf", vt_promproto_metrics, s, o.reps,
		    &base);
		row(mix_names[mix], "JSON", vt_json_metrics, s, o.reps, &base);
		vt_metrics_snapshot_free(s);
		vt_metrics_free(m);
	}
	return 0;
}
