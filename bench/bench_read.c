/*
 * bench_read.c - the read side of metrics: merge + encode, writers under
 * a scraping reader, thread churn, memory per (thread, series), and
 * percentile error.
 *
 * 1. Merge + encode. A registry of S series (families of 10 series with
 *    one label) is written by W threads, each writing every series once
 *    (counters: one inc; gauges: one set; histograms: 8 log-normal
 *    latencies, median 20 ms, sigma 1). Then the writers park, alive, so
 *    their shards stay live, and the reader times vt_metrics_snapshot_take
 *    (the merge), vt_json_metrics and vt_prom_metrics on that snapshot:
 *    with nothing written between snapshots ("unchanged": a histogram
 *    series that has not changed reuses its last result), then with
 *    every writer writing every series again before each snapshot ("all
 *    changed": a full merge of lines other cores just wrote), then a
 *    tenth of the series; then the writers exit (their shards fold into
 *    the totals) and the reader times the same again. Mixes: all
 *    counters; "mix" (per 10 families: 6 counter, 3 gauge, 1 histogram,
 *    i.e. 90% counters and gauges); all histograms. Every writer counts,
 *    in its own thread, the shard memory a full merge reads for its
 *    series: the distinct 64-byte lines of its slots and, for histograms,
 *    of the header fields, page directory entries, le counters and pages
 *    in use; "MB read" is their sum, and MB read / merge time is the
 *    merge's memory rate. Configurations whose estimated memory exceeds
 *    --max-mem-mb are skipped and say so. Times exclude freeing the
 *    snapshot and output; the totals are checked afterwards.
 * 2. Writer slowdown: 1 and 2 writers cycling over 1024 series (counters,
 *    then histograms) for --duration-ms, ns/op alone and with one thread
 *    scraping (snapshot + JSON) in a loop.
 * 3. Thread churn: batches of threads that each write 1000 counter incs
 *    and 100 histogram observations, then exit; threads/s and ops/s, with
 *    and without a concurrent scraper; the totals must be exact.
 * 4. Memory per (thread, series): what vt__series_thread_bytes reports
 *    (tests/test_histogram.c's method) for a counter, a histogram fed every
 *    octave from 1 us to 100 s, and one fed log-normal latencies clamped
 *    to 1 us..100 s; cross-checked by the RSS growth of a fresh thread
 *    writing many series.
 * 5. Percentile error of p50/p90/p99/p999 against the exact nearest-rank
 *    value of --samples (default 1e6) log-normal, uniform, bimodal and
 *    1 us..100 s log-uniform samples.
 *
 * --only selects parts: merge/<mix>/<series>/<writers> (e.g.
 * --only merge/mix/1000/16), slowdown, churn, memory, percentiles.
 *
 * Targets (DESIGN.md): merge + JSON of 1,000 series written by 16
 * threads <= 2 ms (for all histograms: unchanged, 10% and all changed
 * since the last snapshot, R1c, R1c-10%, R1c-all); <= 8 KiB per (thread,
 * series) for 1 us..100 s latencies; percentiles within 1.1%.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "metrics/histogram.h"
#include "metrics/registry.h"
#include "metrics/shard.h"
#include "vitals/encode.h"
#include "vitals/metrics.h"

#define MAX_REPS   64
#define MAX_WRITER 256
#define HIST_OBS   8 /* observations per (thread, histogram series) */
#define NVALS	   4096

static double vals[NVALS]; /* log-normal latencies, median 20 ms */

static void die(const char *what, vt_err err)
{
	fprintf(stderr, "bench_read: %s: %s\n", what, vt_strerror(err));
	exit(1);
}

/*
 * Cache lines the merge reads.
 */

typedef struct lineset {
	uintptr_t *v;
	size_t n, cap;
} lineset;

static void lines_add(lineset *s, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)63;
	uintptr_t e = ((uintptr_t)p + len + 63) & ~(uintptr_t)63;
	for (; a < e; a += 64) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 1024;
			uintptr_t *nv = realloc(s->v, cap * sizeof *nv);
			if (nv == NULL)
				die("lines", VT_ENOMEM);
			s->v = nv;
			s->cap = cap;
		}
		s->v[s->n++] = a;
	}
}

static int cmp_uptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return (x > y) - (x < y);
}

/* Distinct lines; frees the set. */
static size_t lines_count(lineset *s)
{
	qsort(s->v, s->n, sizeof *s->v, cmp_uptr);
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += i == 0 || s->v[i] != s->v[i - 1];
	free(s->v);
	memset(s, 0, sizeof *s);
	return n;
}

/* What vt__hmerge_add reads of h: see histogram.c. */
static void hist_lines(lineset *s, const vt__hist *h, size_t nb)
{
	lines_add(s, h, offsetof(vt__hist, spec));
	uint64_t used[2] = {atomic_load(&h->used[0]), atomic_load(&h->used[1])};
	uint64_t wide[2] = {atomic_load(&h->wide[0]), atomic_load(&h->wide[1])};
	if (used[VT__USED_SPEC / 64] >> (VT__USED_SPEC % 64) & 1)
		lines_add(s, (const void *)h->spec, sizeof h->spec);
	for (unsigned o = 0; o < VT__NOCT; o++) {
		if (!(used[o / 64] >> (o % 64) & 1))
			continue;
		lines_add(s, (const void *)&h->dir[o], sizeof h->dir[o]);
		/* A page's lo counts only, unless a carry made it wide. */
		const vt__page *pg = atomic_load(&h->dir[o]);
		bool w = wide[o / 64] >> (o % 64) & 1;
		lines_add(s, (const void *)pg, w ? sizeof *pg : sizeof pg->lo);
	}
	if (nb > 0)
		lines_add(s, (const void *)h->below, nb * sizeof h->below[0]);
}

/* Lines the merge reads of the calling thread's shard for series s[0..n):
 * the slot, and for histograms the vt__hist. Owner thread only. */
static size_t thread_lines(struct vt_series *const *s, size_t n)
{
	lineset ls = {0};
	for (size_t i = 0; i < n; i++) {
		if (s[i]->kind == VT_GAUGE)
			continue; /* gauges are not sharded */
		vt__slot *sl = vt__slot_get(s[i]);
		if (sl == NULL)
			die("slot", VT_ENOMEM);
		lines_add(&ls, sl, sizeof *sl);
		if (s[i]->kind == VT_HISTOGRAM) {
			vt__hist *h = atomic_load(&sl->hs.h);
			if (h != NULL)
				hist_lines(&ls, h, s[i]->fam->nbounds);
		}
	}
	return lines_count(&ls);
}

/* Lines the merge reads of the folded totals (the registry's). Call only
 * with no writer alive. */
static size_t dead_lines(struct vt_series *const *s, size_t n)
{
	lineset ls = {0};
	for (size_t i = 0; i < n; i++) {
		lines_add(&ls, &s[i]->dead_n, 2 * sizeof s[i]->dead_n);
		if (s[i]->kind == VT_HISTOGRAM && s[i]->dead_h != NULL)
			hist_lines(&ls, s[i]->dead_h, s[i]->fam->nbounds);
	}
	return lines_count(&ls);
}

/*
 * 1. Merge + encode.
 */

typedef enum mix { MIX_COUNTERS, MIX_MIX, MIX_HIST } mix_t;
static const char *const mix_names[] = {"counters", "mix", "histograms"};

static vt_metric_kind family_kind(mix_t mix, size_t fam)
{
	if (mix == MIX_COUNTERS)
		return VT_COUNTER;
	if (mix == MIX_HIST)
		return VT_HISTOGRAM;
	size_t k = fam % 10;
	return k < 6 ? VT_COUNTER : k < 9 ? VT_GAUGE : VT_HISTOGRAM;
}

/* A registry of n series in families of 10 (label "k"). */
static vt_metrics *build_registry(mix_t mix, size_t n, struct vt_series ***out)
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
		size_t fam = i / 10;
		vt_metric_kind kind = family_kind(mix, fam);
		if (i % 10 == 0) {
			char name[64];
			snprintf(name, sizeof name, "bench_%s_%06zu%s",
				 kind == VT_COUNTER ? "requests"
				 : kind == VT_GAUGE ? "inflight"
						    : "latency_seconds",
				 fam, kind == VT_COUNTER ? "_total" : "");
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
		if ((err = vt_family_series(f, &vv, 1, &s[i])) != VT_OK)
			die("series", err);
	}
	*out = s;
	return m;
}

/* Which series a round writes: every series in round 0 and in "all
 * changed" rounds; in "10% changed" rounds the series whose number ends
 * in the round's digit. */
typedef struct round_state {
	int round;   /* set by the reader: 0 first, then 1, 2, ... */
	int tenth;   /* rounds after the first write a tenth of the series */
	int written; /* writers done with the round */
	int release; /* writers may exit */
} round_state;

static bool round_writes(const round_state *r, size_t i)
{
	return r->round == 0 || !r->tenth || (int)(i % 10) == r->round % 10;
}

typedef struct writer {
	bench_team_arg ta;
	struct vt_series **s;
	size_t n;
	pthread_mutex_t *mtx;
	pthread_cond_t *cv;
	round_state *rs; /* protected by mtx */
	size_t lines;	 /* result: lines the merge reads of this shard */
} writer;

/* One round of writes: each selected series once (histograms:
 * HIST_OBS observations). */
static void write_round(writer *w, const round_state *r, unsigned *j)
{
	for (size_t i = 0; i < w->n; i++) {
		if (!round_writes(r, i))
			continue;
		struct vt_series *s = w->s[i];
		vt_err err = VT_OK;
		if (s->kind == VT_COUNTER)
			err = vt_counter_inc(s);
		else if (s->kind == VT_GAUGE)
			err = vt_gauge_set(s, (double)i);
		else
			for (int k = 0; k < HIST_OBS && err == VT_OK; k++)
				err = vt_histogram_observe(
				    s, vals[(*j)++ & (NVALS - 1)]);
		if (err != VT_OK)
			die("write", err);
	}
}

static void *writer_main(void *arg)
{
	writer *w = arg;
	bench_team_ready(&w->ta);
	unsigned j = (unsigned)w->ta.idx * 131u;
	round_state r = {0};
	write_round(w, &r, &j);
	w->lines = thread_lines(w->s, w->n);
	pthread_mutex_lock(w->mtx);
	for (;;) {
		w->rs->written++;
		pthread_cond_broadcast(w->cv);
		while (!w->rs->release && w->rs->round == r.round)
			pthread_cond_wait(w->cv, w->mtx);
		if (w->rs->release)
			break;
		r = *w->rs;
		pthread_mutex_unlock(w->mtx);
		write_round(w, &r, &j);
		pthread_mutex_lock(w->mtx);
	}
	pthread_mutex_unlock(w->mtx);
	return NULL;
}

/* Starts round r of the writers (tenth: a tenth of the series) and
 * waits until all nw have written it. */
static void run_round(writer *w, int nw, int tenth)
{
	pthread_mutex_lock(w->mtx);
	w->rs->written = 0;
	w->rs->tenth = tenth;
	w->rs->round++;
	pthread_cond_broadcast(w->cv);
	while (w->rs->written < nw)
		pthread_cond_wait(w->cv, w->mtx);
	pthread_mutex_unlock(w->mtx);
}

typedef struct read_fig {
	bench_stats merge, json, prom; /* ms; json/prom include the merge */
	size_t json_bytes, prom_bytes;
	vt_err prom_err;
} read_fig;

/* What changes between two timed snapshots. */
typedef enum change { CH_NONE, CH_ALL, CH_TENTH } change_t;
static const char *const change_names[] = {"unchanged", "all changed",
					   "10% changed"};

/* Times reps merges and encodings of m; before each, the nw writers w
 * write a round as ch says (CH_NONE: nothing; w may be NULL). */
static read_fig time_reads(vt_metrics *m, int reps, writer *w, int nw,
			   change_t ch)
{
	double mg[MAX_REPS], js[MAX_REPS], pr[MAX_REPS];
	read_fig f = {.prom_err = VT_OK};
	for (int r = 0; r < reps; r++) {
		if (ch != CH_NONE)
			run_round(w, nw, ch == CH_TENTH);
		vt_metrics_snapshot *s;
		char *out;
		size_t len;
		int64_t t0 = bench_now_ns();
		vt_err err = vt_metrics_snapshot_take(m, NULL, &s);
		int64_t t1 = bench_now_ns();
		if (err != VT_OK)
			die("snapshot", err);
		if ((err = vt_json_metrics(s, &out, &len)) != VT_OK)
			die("json", err);
		int64_t t2 = bench_now_ns();
		free(out);
		f.json_bytes = len;
		int64_t t3 = bench_now_ns();
		err = vt_prom_metrics(s, &out, &len);
		int64_t t4 = bench_now_ns();
		if (err == VT_OK) {
			free(out);
			f.prom_bytes = len;
		} else if (err == VT_ETOOBIG) {
			f.prom_err = err; /* past the 64 MiB cap */
		} else {
			die("prom", err);
		}
		vt_metrics_snapshot_free(s);
		mg[r] = (double)(t1 - t0) / 1e6;
		js[r] = (double)(t2 - t0) / 1e6;
		pr[r] = (double)((t1 - t0) + (t4 - t3)) / 1e6;
	}
	f.merge = bench_stats_of(mg, reps);
	f.json = bench_stats_of(js, reps);
	f.prom = bench_stats_of(pr, reps);
	return f;
}

/* Shard memory a configuration needs, roughly, in MB. */
static double estimate_mb(mix_t mix, size_t n, int w)
{
	double hist = mix == MIX_HIST  ? (double)n
		      : mix == MIX_MIX ? (double)n / 10
				       : 0;
	/* 8 log-normal values touch about 3 pages: 1 KiB header + pages. */
	double per_thread = hist * 2048 + (double)n * 16;
	return ((double)w * per_thread + (double)n * 400) / 1e6;
}

/* One target figure per mix: 1,000 series, 16 writers, live shards;
 * for histograms also with every series changed before each snapshot
 * (target_all) and a tenth of them (target_tenth). */
static read_fig target_fig[3], target_all, target_tenth;
static size_t target_lines[3];
static int target_have[3];

static void print_read_row(mix_t mix, size_t n, int w, const char *state,
			   const read_fig *f, size_t lines)
{
	double mb = (double)lines * 64 / 1e6;
	char prom[64];
	if (f->prom_err == VT_ETOOBIG)
		snprintf(prom, sizeof prom, "over 64 MiB cap");
	else
		snprintf(prom, sizeof prom, "%s", bench_fmt_stats(&f->prom));
	printf("| %s | %zu | %d | %s | %s | %s | %s | %s | %s | %s |\n",
	       mix_names[mix], n, w, state, bench_fmt(mb),
	       bench_fmt_stats(&f->merge), bench_fmt_stats(&f->json), prom,
	       bench_fmt((double)f->json_bytes / 1e6),
	       bench_fmt(mb / 1e3 / (f->merge.med / 1e3)));
	fflush(stdout);
	bench_csv("read,%s,%zu,%d,%s,%.4f,%.4f,%.4f,%zu", mix_names[mix], n, w,
		  state, f->merge.med, f->json.med,
		  f->prom_err == VT_OK ? f->prom.med : NAN, lines * 64);
}

/* Checks that snapshot of m holds every write: passes[i] rounds wrote
 * series i, by each of nw writers. */
static void check_totals(vt_metrics *m, int nw, const int *passes)
{
	vt_metrics_snapshot *snap;
	vt_err err = vt_metrics_snapshot_take(m, NULL, &snap);
	if (err != VT_OK)
		die("snapshot", err);
	size_t i = 0;
	for (size_t fi = 0; fi < snap->nfamilies; fi++) {
		const vt_family_snap *fs = &snap->families[fi];
		for (size_t k = 0; k < fs->nseries; k++, i++) {
			const vt_series_snap *x = &fs->series[k];
			double got = fs->kind == VT_HISTOGRAM
					 ? (double)x->hist.count
				     : fs->kind == VT_COUNTER ? x->value
							      : 1;
			double want = fs->kind == VT_HISTOGRAM
					  ? (double)nw * passes[i] * HIST_OBS
				      : fs->kind == VT_COUNTER
					  ? (double)nw * passes[i]
					  : 1;
			if (got != want) {
				fprintf(stderr, "%s: %g, want %g\n", fs->name,
					got, want);
				exit(1);
			}
		}
	}
	vt_metrics_snapshot_free(snap);
}

/* Times the reads of one configuration: live unchanged, live with every
 * series or a tenth of them written again before each snapshot, then
 * exited; checks the totals. */
static void read_config(const bench_opts *o, mix_t mix, size_t n, int nw)
{
	fprintf(stderr, "  read %s series=%zu writers=%d\n", mix_names[mix], n,
		nw);
	struct vt_series **s;
	vt_metrics *m = build_registry(mix, n, &s);
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	round_state rs = {0};
	writer *ws = calloc((size_t)nw, sizeof *ws);
	pthread_t *tids = calloc((size_t)nw, sizeof *tids);
	int *passes = calloc(n, sizeof *passes);
	if (ws == NULL || tids == NULL || passes == NULL)
		die("writers", VT_ENOMEM);
	for (int i = 0; i < nw; i++)
		ws[i] =
		    (writer){.s = s, .n = n, .mtx = &mtx, .cv = &cv, .rs = &rs};
	bench_team team;
	if (bench_team_start(&team, tids, nw, o->pin, writer_main, ws,
			     sizeof *ws))
		exit(1);
	bench_team_go(&team);
	pthread_mutex_lock(&mtx);
	while (rs.written < nw)
		pthread_cond_wait(&cv, &mtx);
	pthread_mutex_unlock(&mtx);
	size_t lines = 0;
	for (int i = 0; i < nw; i++)
		lines += ws[i].lines;
	read_fig live = time_reads(m, o->reps, NULL, nw, CH_NONE);
	print_read_row(mix, n, nw, "live, unchanged", &live, lines);
	read_fig fig[3];
	for (change_t ch = CH_ALL; ch <= CH_TENTH; ch++) {
		int r0 = rs.round;
		fig[ch] = time_reads(m, o->reps, ws, nw, ch);
		char state[64];
		snprintf(state, sizeof state, "live, %s", change_names[ch]);
		print_read_row(mix, n, nw, state, &fig[ch], lines);
		for (int r = r0 + 1; r <= rs.round; r++) {
			round_state x = {.round = r, .tenth = ch == CH_TENTH};
			for (size_t i = 0; i < n; i++)
				passes[i] += round_writes(&x, i);
		}
	}
	for (size_t i = 0; i < n; i++)
		passes[i]++; /* the first round */
	if (n == 1000 && nw == 16) {
		target_fig[mix] = live;
		target_lines[mix] = lines;
		target_have[mix] = 1;
		if (mix == MIX_HIST) {
			target_all = fig[CH_ALL];
			target_tenth = fig[CH_TENTH];
		}
	}
	pthread_mutex_lock(&mtx);
	rs.release = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mtx);
	bench_team_join(&team, tids);
	read_fig dead = time_reads(m, o->reps, NULL, nw, CH_NONE);
	print_read_row(mix, n, nw, "exited", &dead, dead_lines(s, n));
	check_totals(m, nw, passes);
	free(passes);
	free(ws);
	free(tids);
	free(s);
	vt_metrics_free(m);
}

static void merge_encode(const bench_opts *o)
{
	printf("### Merge + encode\n\n");
	printf("Every writer writes every series once (histograms: %d "
	       "observations), then stays alive and the reader takes "
	       "snapshots: with nothing written in between (unchanged: a "
	       "histogram series unchanged since the last snapshot reuses "
	       "its last result), with every writer writing every series "
	       "again before each snapshot (all changed), or a tenth of "
	       "them (10%% changed); then the writers exit, folding their "
	       "shards (exited). ms: median (min–max) of %d; JSON and Prom "
	       "include the merge. MB read: shard memory a full merge "
	       "reads (distinct 64-byte lines). GB/s: MB read / merge "
	       "time.\n\n",
	       HIST_OBS, o->reps);
	printf("| mix | series | writers | state | MB read | merge ms | merge "
	       "+ JSON ms | merge + Prom ms | JSON MB | merge GB/s |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|\n");
	for (int mix = 0; mix < 3; mix++) {
		for (int si = 0; si < o->series.n; si++) {
			size_t n = (size_t)o->series.v[si];
			for (int wi = 0; wi < o->writers.n; wi++) {
				int nw = (int)o->writers.v[wi];
				char cname[64];
				snprintf(cname, sizeof cname, "merge/%s/%zu/%d",
					 mix_names[mix], n, nw);
				if (!bench_selected(o, cname))
					continue;
				double est = estimate_mb(mix, n, nw);
				if (est > (double)o->max_mem_mb) {
					printf("| %s | %zu | %d | - | skipped: "
					       "needs about %s MB, over "
					       "--max-mem-mb %ld | | | | | "
					       "|\n",
					       mix_names[mix], n, nw,
					       bench_fmt(est), o->max_mem_mb);
					continue;
				}
				read_config(o, mix, n, nw);
			}
		}
	}
	printf("\n");
}

/* The R1 rows of the targets table. */
static void read_targets(void)
{
	static const char *const tnames[] = {
	    "merge + JSON; 1000 series x 16 threads; counters",
	    "merge + JSON; 1000 series x 16 threads; mix (90% counters and "
	    "gauges)",
	    "merge + JSON; 1000 series x 16 threads; all histograms"};
	static const char *const notes[] = {
	    "", "DESIGN.md's target as read for a typical registry; ",
	    "unchanged since the last snapshot; "};
	for (int mix = 0; mix < 3; mix++) {
		char id[8], note[200];
		snprintf(id, sizeof id, "R1%c", 'a' + mix);
		snprintf(note, sizeof note,
			 "%smerge alone %s ms; a full merge "
			 "reads %s MB",
			 notes[mix], bench_fmt(target_fig[mix].merge.med),
			 bench_fmt((double)target_lines[mix] * 64 / 1e6));
		if (target_have[mix])
			bench_target(id, tnames[mix], target_fig[mix].json.med,
				     BENCH_LE, 2, "ms", note);
		else
			bench_target_na(id, tnames[mix],
					"not run: needs 1000 in --series; 16 "
					"in --writers; not left out by --only");
	}
	if (!target_have[MIX_HIST])
		return;
	char note[160];
	snprintf(note, sizeof note,
		 "every thread wrote every series since the last snapshot: "
		 "bound by the %s MB a full merge reads; merge alone %s ms",
		 bench_fmt((double)target_lines[MIX_HIST] * 64 / 1e6),
		 bench_fmt(target_all.merge.med));
	bench_target("R1c-all",
		     "merge + JSON; 1000 series x 16 threads; all histograms; "
		     "every series changed",
		     target_all.json.med, BENCH_LE, 2, "ms", note);
	snprintf(note, sizeof note,
		 "every thread wrote a tenth of the series since the last "
		 "snapshot; merge alone %s ms",
		 bench_fmt(target_tenth.merge.med));
	bench_target("R1c-10%",
		     "merge + JSON; 1000 series x 16 threads; all histograms; "
		     "10% changed",
		     target_tenth.json.med, BENCH_LE, 2, "ms", note);
}

/*
 * 2. Writer slowdown under a scraping reader.
 */

#define SLOW_SERIES 1024
static unsigned slow_warm = NVALS * 4; /* untimed writes per writer */

typedef struct slow_writer {
	bench_team_arg ta;
	struct vt_series **s;
	int hist;
	uint64_t ops;
	int64_t t0, t1;
} slow_writer;

static void *slow_writer_main(void *arg)
{
	slow_writer *w = arg;
	struct vt_series **s = w->s;
	/* Every slot and page first, outside the window. */
	for (unsigned j = 0; j < slow_warm; j++)
		(void)(w->hist ? vt_histogram_observe(s[j & (SLOW_SERIES - 1)],
						      vals[j & (NVALS - 1)])
			       : vt_counter_inc(s[j & (SLOW_SERIES - 1)]));
	bench_team_ready(&w->ta);
	uint64_t ops = 0;
	unsigned j = (unsigned)w->ta.idx * 977u;
	int64_t t0 = bench_now_ns();
	do {
		if (w->hist)
			for (int i = 0; i < 1024; i++, j++)
				(void)vt_histogram_observe(
				    s[j & (SLOW_SERIES - 1)],
				    vals[j & (NVALS - 1)]);
		else
			for (int i = 0; i < 1024; i++, j++)
				(void)vt_counter_inc(s[j & (SLOW_SERIES - 1)]);
		ops += 1024;
	} while (!bench_team_stopped(w->ta.team));
	w->t1 = bench_now_ns();
	w->t0 = t0;
	w->ops = ops;
	return NULL;
}

typedef struct scraper {
	vt_metrics *m;
	_Atomic int stop;
	uint64_t scrapes;
} scraper;

static void *scraper_main(void *arg)
{
	scraper *sc = arg;
	while (!atomic_load_explicit(&sc->stop, memory_order_relaxed)) {
		vt_metrics_snapshot *s;
		char *out;
		size_t len;
		if (vt_metrics_snapshot_take(sc->m, NULL, &s) != VT_OK)
			die("scrape", VT_ENOMEM);
		if (vt_json_metrics(s, &out, &len) == VT_OK)
			free(out);
		vt_metrics_snapshot_free(s);
		sc->scrapes++;
	}
	return NULL;
}

/* ns/op of nw writers for ms, with or without a scraper; scrapes/s. */
static double slow_run(vt_metrics *m, struct vt_series **s, int hist, int nw,
		       int with_scraper, int ms, int pin, double *scrapes_s)
{
	slow_writer w[MAX_WRITER];
	pthread_t tids[MAX_WRITER], st;
	memset(w, 0, sizeof w);
	for (int i = 0; i < nw; i++) {
		w[i].s = s;
		w[i].hist = hist;
	}
	scraper sc = {.m = m, .scrapes = 0};
	atomic_init(&sc.stop, 0);
	bench_team team;
	if (bench_team_start(&team, tids, nw, pin, slow_writer_main, w,
			     sizeof w[0]))
		exit(1);
	if (with_scraper && pthread_create(&st, NULL, scraper_main, &sc) != 0)
		exit(1);
	int64_t t0 = bench_now_ns();
	bench_team_go(&team);
	bench_sleep_ms(ms);
	bench_team_stop(&team);
	bench_team_join(&team, tids);
	if (with_scraper) {
		atomic_store(&sc.stop, 1);
		pthread_join(st, NULL);
	}
	*scrapes_s = (double)sc.scrapes / ((double)(bench_now_ns() - t0) / 1e9);
	/* Operations over the union of the writers' windows. */
	int64_t w0 = w[0].t0, w1 = w[0].t1;
	double ops = 0;
	for (int i = 0; i < nw; i++) {
		w0 = w[i].t0 < w0 ? w[i].t0 : w0;
		w1 = w[i].t1 > w1 ? w[i].t1 : w1;
		ops += (double)w[i].ops;
	}
	return nw * (double)(w1 - w0) / ops;
}

static void writer_slowdown(const bench_opts *o)
{
	printf("### Writer slowdown under a scraping reader\n\n");
	printf("Writers cycle over %d series of one family for %d ms; the "
	       "scraper loops snapshot + JSON over the same registry. ns/op "
	       "per writer thread, median (min–max) of %d. With as many "
	       "threads as CPUs or more, the scraper also takes CPU time "
	       "from the writers.\n\n",
	       SLOW_SERIES, o->duration_ms, o->reps);
	printf("| kind | writers | ns/op alone | ns/op with scraper | "
	       "slowdown | scrapes/s |\n|---|---|---|---|---|---|\n");
	static const long nws[] = {1, 2};
	for (int hist = 0; hist < 2; hist++) {
		struct vt_series **s = malloc(SLOW_SERIES * sizeof *s);
		vt_metrics *m;
		vt_family *f;
		static const char *const ln[] = {"k"};
		if (s == NULL || vt_metrics_alloc(&m) != VT_OK)
			die("slowdown", VT_ENOMEM);
		vt_err err =
		    hist ? vt_metrics_histogram_family(m, "bench_slow_seconds",
						       NULL, ln, 1, NULL, 0, &f)
			 : vt_metrics_counter_family(m, "bench_slow_total",
						     NULL, ln, 1, &f);
		if (err != VT_OK)
			die("family", err);
		for (int i = 0; i < SLOW_SERIES; i++) {
			char v[16];
			snprintf(v, sizeof v, "%d", i);
			const char *vv = v;
			if ((err = vt_family_series(f, &vv, 1, &s[i])) != VT_OK)
				die("series", err);
		}
		for (int k = 0; k < 2; k++) {
			int nw = (int)nws[k];
			double a[MAX_REPS], b[MAX_REPS], sc[MAX_REPS], dummy;
			for (int r = 0; r < o->reps; r++) {
				a[r] = slow_run(m, s, hist, nw, 0,
						o->duration_ms, o->pin, &dummy);
				b[r] = slow_run(m, s, hist, nw, 1,
						o->duration_ms, o->pin, &sc[r]);
			}
			bench_stats sa = bench_stats_of(a, o->reps);
			bench_stats sb = bench_stats_of(b, o->reps);
			bench_stats ss = bench_stats_of(sc, o->reps);
			printf("| %s | %d | %s | %s | %sx | %s |\n",
			       hist ? "histogram" : "counter", nw,
			       bench_fmt_stats(&sa), bench_fmt_stats(&sb),
			       bench_fmt(sb.med / sa.med), bench_fmt(ss.med));
			fflush(stdout);
			bench_csv("slowdown,%s,%d,%.4f,%.4f,%.2f",
				  hist ? "histogram" : "counter", nw, sa.med,
				  sb.med, ss.med);
		}
		vt_metrics_free(m);
		free(s);
	}
	printf("\n");
}

/*
 * 3. Thread churn.
 */

#define CHURN_INCS 1000
#define CHURN_OBS  100

typedef struct churn_arg {
	struct vt_series **c; /* 10 counters */
	struct vt_series **h; /* 2 histograms */
} churn_arg;

static void *churn_main(void *arg)
{
	churn_arg *a = arg;
	for (int i = 0; i < CHURN_INCS; i++)
		if (vt_counter_inc(a->c[i % 10]) != VT_OK)
			die("churn inc", VT_EINVAL);
	for (int i = 0; i < CHURN_OBS; i++)
		if (vt_histogram_observe(a->h[i % 2], vals[i]) != VT_OK)
			die("churn observe", VT_EINVAL);
	return NULL;
}

static void churn(const bench_opts *o, long nthreads)
{
	printf("### Thread churn\n\n");
	printf("%ld threads in batches of %d (as many as CPUs), each writing "
	       "%d counter incs over 10 series and %d histogram observations "
	       "over 2, then exiting (its shard folds into the totals). "
	       "Median (min–max) of %d. Totals are checked exactly.\n\n",
	       nthreads, bench_ncpu(), CHURN_INCS, CHURN_OBS, o->reps);
	printf("| scraper | threads/s | ops/s | totals |\n|---|---|---|---|\n");
	int batch = bench_ncpu();
	for (int with = 0; with < 2; with++) {
		double tps[MAX_REPS];
		for (int r = 0; r < o->reps; r++) {
			vt_metrics *m;
			vt_family *cf, *hf;
			struct vt_series *c[10], *h[2];
			static const char *const ln[] = {"k"};
			if (vt_metrics_alloc(&m) != VT_OK ||
			    vt_metrics_counter_family(m, "churn_total", NULL,
						      ln, 1, &cf) != VT_OK ||
			    vt_metrics_histogram_family(m, "churn_seconds",
							NULL, ln, 1, NULL, 0,
							&hf) != VT_OK)
				die("churn", VT_ENOMEM);
			for (int i = 0; i < 10; i++) {
				char v[8];
				snprintf(v, sizeof v, "%d", i);
				const char *vv = v;
				if (vt_family_series(cf, &vv, 1, &c[i]) !=
					VT_OK ||
				    (i < 2 && vt_family_series(hf, &vv, 1,
							       &h[i]) != VT_OK))
					die("churn", VT_ENOMEM);
			}
			churn_arg ca = {c, h};
			scraper sc = {.m = m};
			atomic_init(&sc.stop, 0);
			pthread_t st, tids[MAX_WRITER];
			if (with &&
			    pthread_create(&st, NULL, scraper_main, &sc) != 0)
				exit(1);
			int64_t t0 = bench_now_ns();
			for (long done = 0; done < nthreads; done += batch) {
				int k = (int)(nthreads - done < batch
						  ? nthreads - done
						  : batch);
				for (int i = 0; i < k; i++)
					if (pthread_create(&tids[i], NULL,
							   churn_main,
							   &ca) != 0)
						exit(1);
				for (int i = 0; i < k; i++)
					pthread_join(tids[i], NULL);
			}
			double dt = (double)(bench_now_ns() - t0) / 1e9;
			if (with) {
				atomic_store(&sc.stop, 1);
				pthread_join(st, NULL);
			}
			tps[r] = (double)nthreads / dt;
			vt_metrics_snapshot *s;
			if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
				die("churn snapshot", VT_ENOMEM);
			double csum = 0, hsum = 0;
			for (size_t fi = 0; fi < s->nfamilies; fi++)
				for (size_t k = 0; k < s->families[fi].nseries;
				     k++)
					if (s->families[fi].kind == VT_COUNTER)
						csum += s->families[fi]
							    .series[k]
							    .value;
					else
						hsum += (double)s->families[fi]
							    .series[k]
							    .hist.count;
			vt_metrics_snapshot_free(s);
			vt_metrics_free(m);
			if (csum != (double)nthreads * CHURN_INCS ||
			    hsum != (double)nthreads * CHURN_OBS) {
				fprintf(stderr,
					"churn lost writes: counters %.0f of "
					"%.0f, histograms %.0f of %.0f\n",
					csum, (double)nthreads * CHURN_INCS,
					hsum, (double)nthreads * CHURN_OBS);
				exit(1);
			}
		}
		bench_stats st = bench_stats_of(tps, o->reps);
		bench_stats ops = st;
		ops.med *= CHURN_INCS + CHURN_OBS;
		ops.min *= CHURN_INCS + CHURN_OBS;
		ops.max *= CHURN_INCS + CHURN_OBS;
		printf("| %s | %s | %s | exact (%ld x %d incs, %ld x %d "
		       "observations) |\n",
		       with ? "looping" : "none", bench_fmt_stats(&st),
		       bench_fmt_stats(&ops), nthreads, CHURN_INCS, nthreads,
		       CHURN_OBS);
		bench_csv("churn,%s,%.1f", with ? "scraper" : "none", st.med);
	}
	printf("\n");
}

/*
 * 4. Memory per (thread, series).
 */

typedef struct mem_arg {
	struct vt_series **s;
	size_t n;
	int mode; /* 0: one inc; 1: every octave 1 us..100 s; 2: log-normal */
	size_t bytes;	   /* vt__series_thread_bytes of s[0] */
	size_t heap_delta; /* malloc'd bytes the writing added */
	size_t arena;	   /* the shard's arena bytes handed out */
} mem_arg;

static void *mem_main(void *arg)
{
	mem_arg *a = arg;
	bench_rng rng;
	bench_rng_seed(&rng, 7);
	size_t heap0 = bench_heap_bytes();
	for (size_t i = 0; i < a->n; i++) {
		struct vt_series *s = a->s[i];
		if (a->mode == 0) {
			(void)vt_counter_inc(s);
		} else if (a->mode == 1) {
			for (double v = 1e-6; v <= 100; v *= 1.05)
				(void)vt_histogram_observe(s, v);
			(void)vt_histogram_observe(s, 100);
		} else {
			for (int k = 0; k < 1000; k++) {
				double v = bench_rng_lognormal(&rng, 1e-3, 2.5);
				v = v < 1e-6 ? 1e-6 : v > 100 ? 100 : v;
				(void)vt_histogram_observe(s, v);
			}
		}
	}
	size_t heap1 = bench_heap_bytes();
	a->heap_delta = heap1 > heap0 ? heap1 - heap0 : 0;
	a->bytes = vt__series_thread_bytes(a->s[0]);
	a->arena =
	    vt__tls_cache.shard != NULL ? vt__tls_cache.shard->arena.used : 0;
	return NULL;
}

static void memory(const bench_opts *o)
{
	printf("### Memory per (thread, series)\n\n");
	printf("Bytes: what vt__series_thread_bytes reports for the writing "
	       "thread (its slot, and for histograms the vt__hist and its "
	       "pages), as tests/test_histogram.c measures. Heap: growth of "
	       "the bytes malloc has handed out (mallinfo2, every arena) "
	       "while one fresh thread writes N series, per series: adds "
	       "the shard's chunks of 256 slots and its arena blocks' slack "
	       "(blocks grow to 64 KiB).\n\n");
	printf("| series kind and inputs | bytes per (thread, series) | "
	       "shard arena per series | heap per series (N) | limit |\n"
	       "|---|---|---|---|---|\n");
	size_t n = o->smoke ? 50 : 10000;
	static const char *const what[] = {
	    "counter, one inc", "histogram, every octave 1 us..100 s",
	    "histogram, 1000 log-normal (median 1 ms, sigma 2.5) clamped "
	    "to 1 us..100 s"};
	size_t hist_bytes[3] = {0};
	for (int mode = 0; mode < 3; mode++) {
		vt_metrics *m;
		vt_family *f;
		static const char *const ln[] = {"k"};
		struct vt_series **s = malloc(n * sizeof *s);
		if (s == NULL || vt_metrics_alloc(&m) != VT_OK)
			die("memory", VT_ENOMEM);
		vt_err err =
		    mode == 0 ? vt_metrics_counter_family(m, "mem_total", NULL,
							  ln, 1, &f)
			      : vt_metrics_histogram_family(
				    m, "mem_seconds", NULL, ln, 1, NULL, 0, &f);
		if (err != VT_OK)
			die("memory family", err);
		for (size_t i = 0; i < n; i++) {
			char v[16];
			snprintf(v, sizeof v, "%zu", i);
			const char *vv = v;
			if ((err = vt_family_series(f, &vv, 1, &s[i])) != VT_OK)
				die("memory series", err);
		}
		mem_arg a = {.s = s, .n = n, .mode = mode};
		pthread_t t;
		if (pthread_create(&t, NULL, mem_main, &a) != 0)
			exit(1);
		pthread_join(t, NULL);
		hist_bytes[mode] = a.bytes;
		printf("| %s | %zu | %s | %s (%zu) | %s |\n", what[mode],
		       a.bytes,
		       mode == 0 ? "-" : bench_fmt((double)a.arena / n),
		       bench_fmt((double)a.heap_delta / n), n,
		       mode == 0 ? "-" : "<= 8192");
		bench_csv("memory,%d,%zu,%.1f,%.1f", mode, a.bytes,
			  (double)a.arena / n, (double)a.heap_delta / n);
		vt_metrics_free(m);
		free(s);
	}
	printf("\n");
	bench_target("R2",
		     "memory per (thread; histogram series); 1 us..100 "
		     "s; every octave",
		     (double)hist_bytes[1], BENCH_LE, 8192, "B", NULL);
	bench_target("R3",
		     "memory per (thread; histogram series); 1 us..100 "
		     "s; log-normal",
		     (double)hist_bytes[2], BENCH_LE, 8192, "B", NULL);
}

/*
 * 5. Percentile error.
 */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double sample(bench_rng *r, int dist)
{
	switch (dist) {
	case 0: /* log-normal */
		return bench_rng_lognormal(r, 1e-3, 1.5);
	case 1: /* uniform 1 ms .. 1 s */
		return 1e-3 + bench_rng_unit(r) * (1 - 1e-3);
	case 2: /* bimodal: 90% near 1 ms, 10% near 200 ms */
		return bench_rng_unit(r) < 0.9
			   ? bench_rng_lognormal(r, 1e-3, 0.2)
			   : bench_rng_lognormal(r, 0.2, 0.2);
	default: /* log-uniform 1 us .. 100 s */
		return 1e-6 * pow(1e8, bench_rng_unit(r));
	}
}

static void percentiles(const bench_opts *o)
{
	static const char *const dist[] = {
	    "log-normal (median 1 ms, sigma 1.5)", "uniform 1 ms..1 s",
	    "bimodal (90% ~1 ms, 10% ~200 ms)", "log-uniform 1 us..100 s"};
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	size_t n = (size_t)o->samples;
	printf("### Percentile error\n\n");
	printf("%zu samples per distribution into one histogram; exact: "
	       "nearest rank of the sorted samples; error: |vitals - exact| "
	       "/ exact.\n\n",
	       n);
	printf("| distribution | q | exact | vitals | error %% |\n"
	       "|---|---|---|---|---|\n");
	double *v = malloc(n * sizeof *v);
	if (v == NULL)
		die("percentiles", VT_ENOMEM);
	double worst = 0;
	for (int d = 0; d < 4; d++) {
		bench_rng rng;
		bench_rng_seed(&rng, 1000 + (uint64_t)d);
		vt_metrics *m;
		vt_histogram *h;
		if (vt_metrics_alloc(&m) != VT_OK ||
		    vt_metrics_histogram(m, "pct_seconds", NULL, &h) != VT_OK)
			die("percentiles", VT_ENOMEM);
		for (size_t i = 0; i < n; i++) {
			v[i] = sample(&rng, d);
			if (vt_histogram_observe(h, v[i]) != VT_OK)
				die("observe", VT_EINVAL);
		}
		qsort(v, n, sizeof *v, cmp_double);
		vt_metrics_snapshot *s;
		if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
			die("snapshot", VT_ENOMEM);
		const vt_series_snap *ss = &s->families[0].series[0];
		double got[4] = {ss->hist.p50, ss->hist.p90, ss->hist.p99,
				 ss->hist.p999};
		for (int k = 0; k < 4; k++) {
			double ex = bench_nearest_rank(v, n, qs[k]);
			double q2 = vt_series_quantile(ss, qs[k]);
			if (q2 != got[k]) {
				fprintf(stderr, "summary and "
						"vt_series_quantile differ\n");
				exit(1);
			}
			double err = fabs(got[k] - ex) / ex * 100;
			if (err > worst)
				worst = err;
			printf("| %s | %g | %.6g | %.6g | %.3f |\n", dist[d],
			       qs[k], ex, got[k], err);
			bench_csv("pct,%d,%g,%.9g,%.9g,%.5f", d, qs[k], ex,
				  got[k], err);
		}
		vt_metrics_snapshot_free(s);
		vt_metrics_free(m);
	}
	free(v);
	printf("\n");
	bench_target("R4", "percentile error p50..p999 (worst of 16)", worst,
		     BENCH_LE, 1.1, "%", NULL);
}

int main(int argc, char **argv)
{
	bench_opts o = {0};
	o.reps = 5;
	o.duration_ms = 200;
	bench_list_parse(&o.series, "1000,10000,100000");
	bench_list_parse(&o.writers, "1,2,4,8,16");
	o.samples = 1000000;
	o.max_mem_mb = 6144;
	o.threads = bench_default_threads();
	bench_opts def = o;
	bench_parse(&o, argc, argv,
		    "[--series LIST] [--writers LIST] [--samples N] "
		    "[--max-mem-mb N]");
	long churn_threads = 2000;
	if (o.smoke) {
		if (o.reps == def.reps)
			o.reps = 1;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 5;
		if (memcmp(&o.series, &def.series, sizeof o.series) == 0)
			bench_list_parse(&o.series, "100");
		if (memcmp(&o.writers, &def.writers, sizeof o.writers) == 0)
			bench_list_parse(&o.writers, "1,3");
		if (o.samples == def.samples)
			o.samples = 10000;
		churn_threads = 8;
		slow_warm = 2 * SLOW_SERIES;
	} else if (o.quick) {
		if (o.reps == def.reps)
			o.reps = 3;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 50;
		if (memcmp(&o.series, &def.series, sizeof o.series) == 0)
			bench_list_parse(&o.series, "1000,10000");
		churn_threads = 200;
	}
	if (o.reps > MAX_REPS) {
		fprintf(stderr, "at most %d repeats\n", MAX_REPS);
		return 2;
	}
	for (int i = 0; i < o.writers.n; i++)
		if (o.writers.v[i] > MAX_WRITER) {
			fprintf(stderr, "at most %d writers\n", MAX_WRITER);
			return 2;
		}
	bench_out_open(&o);
	bench_rng rng;
	bench_rng_seed(&rng, 99);
	for (int i = 0; i < NVALS; i++)
		vals[i] = bench_rng_lognormal(&rng, 0.02, 1);

	bench_header(&o, "Metrics: read side (bench_read)");
	if (bench_selected(&o, "merge/")) {
		fprintf(stderr, "bench_read: merge + encode\n");
		merge_encode(&o);
	}
	if (bench_selected(&o, "merge/"))
		read_targets();
	if (bench_selected(&o, "slowdown")) {
		fprintf(stderr, "bench_read: writer slowdown\n");
		writer_slowdown(&o);
	}
	if (bench_selected(&o, "churn")) {
		fprintf(stderr, "bench_read: churn\n");
		churn(&o, churn_threads);
	}
	if (bench_selected(&o, "memory")) {
		fprintf(stderr, "bench_read: memory\n");
		memory(&o);
	}
	if (bench_selected(&o, "percentiles")) {
		fprintf(stderr, "bench_read: percentiles\n");
		percentiles(&o);
	}
	bench_targets_print();
	bench_out_close();
	return 0;
}
