/*
 * bench_metrics.c - write throughput of counters, gauges and histograms.
 *
 * What: ns/op (one thread's wall time per operation) and total Mops/s of
 * counter inc, gauge set, gauge add and histogram observe, through a
 * registered handle and through the by-name API, with 0, 1 and 3 labels,
 * for every thread count of --threads (default 1, 2, 4: up to twice the
 * CPUs), with all threads on one series ("one") and with one series per
 * thread ("disjoint").
 *
 * How: each figure is a timed window of --duration-ms during which every
 * thread runs chunks of 4096 calls, reading the clock and a stop flag
 * between chunks (at least one chunk). Threads start behind a barrier
 * and time their own window; the total rate is all operations over the
 * union of the windows (first start to last stop), ns/op is threads /
 * total rate, balance is the least / most operations of a thread, and
 * "best" the fastest chunk's ns/op (the noise floor). Each figure
 * is repeated --reps times (fresh threads each time, after one untimed
 * warm-up run) and reported as median (min-max). Histogram inputs are 16384
 * log-normal latencies (median 1 ms, sigma 2, clamped to 1 us..100 s)
 * computed before timing, read at a per-thread offset, so no RNG is
 * timed. After each configuration the registry's snapshot must hold
 * exactly the number of operations done (counters, gauge adds, histogram
 * counts), or the program fails.
 *
 * Baselines, same harness, same run: the empty loop (what the loop
 * itself costs: one asm barrier, or one load of the input value for
 * histograms), an empty non-inlined call, plain `++` on a per-thread
 * cache-line-padded uint64 through a non-inlined function (bench_common.c,
 * another translation unit: a real call, not optimised away), one shared
 * atomic_fetch_add counter (and one padded atomic per thread), a
 * mutex-protected counter (shared, and one per thread), and for
 * histograms the seed's method: append every value to a growable array
 * under a mutex, sort on read (its read cost is measured too).
 *
 * --only SUBSTR runs the configurations whose name op/api/labels/mode
 * contains SUBSTR (e.g. --only counter_inc/handle/0/one).
 *
 * Targets (DESIGN.md): counter inc <= 2 ns/op on one thread, 2 threads
 * >= 1.8x one thread, >= 5x a shared atomic and >= 50x a mutex counter at
 * 2 threads; histogram observe <= 5 ns/op and the same scaling. They are
 * judged on the raw figure (loop included); the net figure subtracts the
 * empty loop measured in the same run.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "vitals/metrics.h"

#define CHUNK	 4096  /* operations between two clock reads */
#define NVALS	 16384 /* histogram inputs; a power of two */
#define MAXTHR	 64
#define MAXRES	 1024
#define MAX_REPS 64

typedef enum op {
	OP_COUNTER,
	OP_GAUGE_SET,
	OP_GAUGE_ADD,
	OP_HIST,
	OP_LOOP,      /* empty loop */
	OP_LOOP_VAL,  /* empty loop reading the histogram input */
	OP_CALL,      /* empty non-inlined call */
	OP_PLAIN,     /* per-thread ++ through a call */
	OP_ATOMIC,    /* atomic_fetch_add */
	OP_MUTEX,     /* mutex counter */
	OP_SEED_HIST, /* the seed's append-to-array histogram */
} op_t;

static const char *const op_names[] = {
    "counter_inc", "gauge_set",	     "gauge_add",  "hist_observe",
    "empty_loop",  "empty_loop_val", "empty_call", "plain_inc",
    "atomic_inc",  "mutex_inc",	     "seed_hist",
};

typedef enum api { API_HANDLE, API_BYNAME, API_BASE } api_t;
static const char *const api_names[] = {"handle", "by-name", "baseline"};

typedef enum mode { MODE_ONE, MODE_DISJOINT } mode_t_;
static const char *const mode_names[] = {"one", "disjoint"};

/* One measured configuration at one thread count. */
typedef struct result {
	op_t op;
	api_t api;
	int labels;
	mode_t_ mode;
	int threads;
	bench_stats mops; /* total Mops/s */
	double ns_op;	  /* median per-thread ns/op */
	double balance;	  /* median of least / most operations of a thread */
	double best_ns;	  /* fastest chunk of any thread and repeat, per op */
} result;

static result results[MAXRES];
static int nresults;

static double vals[NVALS];
static int warm_n = NVALS; /* warm-up observations per histogram thread */

/* Per-thread state of one run. */
typedef struct worker {
	bench_team_arg ta; /* first: see bench_team_start */
	op_t op;
	api_t api;
	vt_metrics *m;
	void *target; /* handle, counter, mutex or seed histogram */
	const char *name;
	vt_label labels[3];
	size_t nlabels;
	char lval[32];
	unsigned off;
	/* results */
	uint64_t ops;
	int64_t t0, t1;
	int64_t best_chunk_ns; /* fastest chunk of CHUNK operations */
	int setup_err;
} __attribute__((aligned(64))) worker;

/* The timed loop around body; j indexes the inputs. */
#define LOOP(w, body)                                                          \
	do {                                                                   \
		uint64_t ops_ = 0;                                             \
		unsigned j = (w)->off;                                         \
		bench_team_ready(&(w)->ta);                                    \
		int64_t t0_ = bench_now_ns(), tc_ = t0_, best_ = INT64_MAX;    \
		do {                                                           \
			for (int i_ = 0; i_ < CHUNK; i_++, j++) {              \
				body;                                          \
			}                                                      \
			ops_ += CHUNK;                                         \
			int64_t te_ = bench_now_ns();                          \
			best_ = te_ - tc_ < best_ ? te_ - tc_ : best_;         \
			tc_ = te_;                                             \
		} while (!bench_team_stopped((w)->ta.team));                   \
		(w)->t1 = tc_;                                                 \
		(w)->t0 = t0_;                                                 \
		(w)->ops = ops_;                                               \
		(w)->best_chunk_ns = best_;                                    \
	} while (0)

/* One operation outside the timed window: creates the by-name series and
 * the thread's shard, so neither is timed. Returns what the op returns. */
static vt_err setup_op(worker *w)
{
	const vt_label *l = w->nlabels ? w->labels : NULL;
	switch (w->op) {
	case OP_COUNTER:
		if (w->api == API_HANDLE)
			return vt_counter_inc(w->target);
		if (w->nlabels == 0)
			return vt_metrics_increment(w->m, w->name);
		return vt_metrics_counter_add(w->m, w->name, 1, l, w->nlabels);
	case OP_GAUGE_SET:
		if (w->api == API_HANDLE)
			return vt_gauge_set(w->target, 1);
		return vt_metrics_gauge_set(w->m, w->name, 1, l, w->nlabels);
	case OP_GAUGE_ADD:
		if (w->api == API_HANDLE)
			return vt_gauge_add(w->target, 1);
		return vt_metrics_gauge_add(w->m, w->name, 1, l, w->nlabels);
	case OP_HIST:
		if (w->api == API_HANDLE)
			return vt_histogram_observe(w->target, vals[0]);
		return vt_metrics_histogram_observe(w->m, w->name, vals[0], l,
						    w->nlabels);
	default:
		return VT_OK;
	}
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	const vt_label *l = w->nlabels ? w->labels : NULL;
	size_t nl = w->nlabels;
	vt_metrics *m = w->m;
	const char *name = w->name;
	void *t = w->target;
	w->setup_err = setup_op(w) != VT_OK;
	/* Warm every octave the inputs use, for this thread's shard. */
	if (w->op == OP_HIST && w->api == API_HANDLE)
		for (int i = 0; i < warm_n; i++)
			(void)vt_histogram_observe(t, vals[i]);
	else if (w->op == OP_HIST)
		for (int i = 0; i < warm_n; i++)
			(void)vt_metrics_histogram_observe(m, name, vals[i], l,
							   nl);

	switch (w->op) {
	case OP_COUNTER:
		if (w->api == API_HANDLE)
			LOOP(w, (void)vt_counter_inc(t));
		else if (nl == 0)
			LOOP(w, (void)vt_metrics_increment(m, name));
		else
			LOOP(w,
			     (void)vt_metrics_counter_add(m, name, 1, l, nl));
		break;
	case OP_GAUGE_SET:
		if (w->api == API_HANDLE)
			LOOP(w, (void)vt_gauge_set(t, (double)(j & 1023)));
		else if (nl == 0)
			LOOP(w, (void)vt_metrics_set_gauge(m, name,
							   (double)(j & 1023)));
		else
			LOOP(w, (void)vt_metrics_gauge_set(
				    m, name, (double)(j & 1023), l, nl));
		break;
	case OP_GAUGE_ADD:
		if (w->api == API_HANDLE)
			LOOP(w, (void)vt_gauge_add(t, 1));
		else
			LOOP(w, (void)vt_metrics_gauge_add(m, name, 1, l, nl));
		break;
	case OP_HIST:
		if (w->api == API_HANDLE)
			LOOP(w, (void)vt_histogram_observe(
				    t, vals[j & (NVALS - 1)]));
		else
			LOOP(w, (void)vt_metrics_histogram_observe(
				    m, name, vals[j & (NVALS - 1)], l, nl));
		break;
	case OP_LOOP:
		LOOP(w, __asm__ volatile("" : : : "memory"));
		break;
	case OP_LOOP_VAL:
		LOOP(w, __asm__ volatile("" : : "x"(vals[j & (NVALS - 1)])));
		break;
	case OP_CALL:
		LOOP(w, bench_empty_call(t));
		break;
	case OP_PLAIN:
		LOOP(w, bench_plain_inc(t));
		break;
	case OP_ATOMIC:
		LOOP(w, bench_atomic_inc(t));
		break;
	case OP_MUTEX:
		LOOP(w, bench_mutex_inc(t));
		break;
	case OP_SEED_HIST:
		LOOP(w, bench_seed_observe(t, vals[j & (NVALS - 1)]));
		break;
	}
	return NULL;
}

/*
 * One configuration: its registry (or baseline objects) and its runs.
 */
typedef struct config {
	op_t op;
	api_t api;
	int labels;
	mode_t_ mode;
	vt_metrics *m;
	/* per-thread targets */
	void *target[MAXTHR];
	char name[MAXTHR][64];
	bench_padded_u64 plain[MAXTHR];
	bench_padded_atomic atom[MAXTHR];
	bench_mutex_counter mtx[MAXTHR];
	bench_seed_hist seed[MAXTHR];
	uint64_t expected; /* operations done, for the final check */
	uint64_t seed_values;
} config;

static const char *const label_names[3] = {"method", "route", "status"};
static const char *const label_values[3] = {"GET", "/api/v1/items", "200"};

static const char *kind_prefix(op_t op)
{
	return op == OP_COUNTER ? "c" : op == OP_HIST ? "h" : "g";
}

/* The first label's value of thread i: "GET", or "GET_t<i>" for
 * disjoint series. */
static void label0(char *buf, size_t len, mode_t_ mode, int i)
{
	if (mode == MODE_DISJOINT)
		snprintf(buf, len, "%s_t%d", label_values[0], i);
	else
		snprintf(buf, len, "%s", label_values[0]);
}

/* The handle of thread i's series in a registry config. */
static void *make_handle(config *c, int i)
{
	vt_family *f = NULL;
	const char *vals_[3];
	char v0[32];
	label0(v0, sizeof v0, c->mode, i);
	vals_[0] = c->labels > 0 ? v0 : NULL;
	vals_[1] = label_values[1];
	vals_[2] = label_values[2];
	vt_err err;
	if (c->op == OP_COUNTER)
		err = vt_metrics_counter_family(
		    c->m, c->name[i], NULL, label_names, (size_t)c->labels, &f);
	else if (c->op == OP_HIST)
		err = vt_metrics_histogram_family(
		    c->m, c->name[i], NULL, label_names, (size_t)c->labels,
		    NULL, 0, &f);
	else
		err = vt_metrics_gauge_family(
		    c->m, c->name[i], NULL, label_names, (size_t)c->labels, &f);
	struct vt_series *s = NULL;
	if (err == VT_OK)
		err = vt_family_series(f, vals_, (size_t)c->labels, &s);
	if (err != VT_OK) {
		fprintf(stderr, "registering %s: %s\n", c->name[i],
			vt_strerror(err));
		exit(1);
	}
	return s;
}

static void config_init(config *c, op_t op, api_t api, int labels, mode_t_ mode,
			int maxthr)
{
	memset(c, 0, sizeof *c);
	c->op = op;
	c->api = api;
	c->labels = labels;
	c->mode = mode;
	if (api != API_BASE) {
		if (vt_metrics_alloc(&c->m) != VT_OK) {
			fprintf(stderr, "vt_metrics_alloc failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < maxthr; i++) {
		/* Disjoint unlabelled series need their own names; labelled
		 * ones share the family and differ in a label value. */
		int own = mode == MODE_DISJOINT && labels == 0;
		const char *base = op == OP_COUNTER ? "requests"
				   : op == OP_HIST  ? "latency_seconds"
						    : "inflight";
		if (own)
			snprintf(c->name[i], sizeof c->name[i],
				 "bench_%s_%s_t%d", kind_prefix(op), base, i);
		else
			snprintf(c->name[i], sizeof c->name[i], "bench_%s_%s",
				 kind_prefix(op), base);
		if (api == API_HANDLE)
			c->target[i] = make_handle(c, i);
		bench_mutex_counter_init(&c->mtx[i]);
		bench_seed_init(&c->seed[i]);
		int k = mode == MODE_DISJOINT ? i : 0;
		switch (op) {
		case OP_PLAIN:
			c->target[i] = &c->plain[i].v; /* always per thread */
			break;
		case OP_ATOMIC:
			c->target[i] = &c->atom[k].v;
			break;
		case OP_MUTEX:
			c->target[i] = &c->mtx[k];
			break;
		case OP_SEED_HIST:
			c->target[i] = &c->seed[k];
			break;
		default:
			break;
		}
	}
}

static void config_fini(config *c, int maxthr)
{
	for (int i = 0; i < maxthr; i++) {
		bench_mutex_counter_fini(&c->mtx[i]);
		bench_seed_fini(&c->seed[i]);
	}
	vt_metrics_free(c->m);
}

/* Runs c on n threads for ms milliseconds; returns the total Mops/s and
 * the per-thread ns/op (n / total rate). */
static double run_once(config *c, int n, int ms, int pin, double *ns_op,
		       double *balance, double *best_ns)
{
	static worker w[MAXTHR];
	pthread_t tids[MAXTHR];
	bench_team team;
	memset(w, 0, sizeof w);
	for (int i = 0; i < n; i++) {
		w[i].op = c->op;
		w[i].api = c->api;
		w[i].m = c->m;
		w[i].target = c->target[i];
		w[i].name = c->name[i];
		w[i].off = (unsigned)i * 977u;
		w[i].nlabels = (size_t)c->labels;
		label0(w[i].lval, sizeof w[i].lval, c->mode, i);
		for (int k = 0; k < c->labels; k++) {
			w[i].labels[k].name = label_names[k];
			w[i].labels[k].value =
			    k == 0 ? w[i].lval : label_values[k];
		}
	}
	if (bench_team_start(&team, tids, n, pin, worker_main, w, sizeof w[0]))
		exit(1);
	bench_team_go(&team);
	bench_sleep_ms(ms);
	bench_team_stop(&team);
	bench_team_join(&team, tids);
	/* Total rate over the union of the threads' windows: threads that
	 * started late or ran alone for a while are not counted twice. */
	int64_t t0 = w[0].t0, t1 = w[0].t1;
	double ops = 0, lo = (double)w[0].ops, hi = lo;
	int64_t best = w[0].best_chunk_ns;
	for (int i = 0; i < n; i++) {
		if (w[i].setup_err) {
			fprintf(stderr, "%s/%s: set-up operation failed\n",
				op_names[c->op], api_names[c->api]);
			exit(1);
		}
		t0 = w[i].t0 < t0 ? w[i].t0 : t0;
		t1 = w[i].t1 > t1 ? w[i].t1 : t1;
		ops += (double)w[i].ops;
		lo = (double)w[i].ops < lo ? (double)w[i].ops : lo;
		best = w[i].best_chunk_ns < best ? w[i].best_chunk_ns : best;
		hi = (double)w[i].ops > hi ? (double)w[i].ops : hi;
		/* The timed operations, the set-up one and the warm-up. */
		c->expected += w[i].ops + (c->api != API_BASE);
		if (c->op == OP_HIST)
			c->expected += (uint64_t)warm_n;
	}
	double rate = ops / (double)(t1 - t0); /* ops per ns */
	if (!(rate > 0) || !isfinite(rate)) {
		fprintf(stderr, "%s/%s: no sane rate (%g ops/ns)\n",
			op_names[c->op], api_names[c->api], rate);
		exit(1);
	}
	*balance = lo / hi;
	*best_ns = (double)best / CHUNK;
	/* Per thread: n threads share the total rate. */
	*ns_op = n / rate;
	return rate * 1e3;
}

/* The sum of values (counters, gauges) or counts (histograms) over every
 * series of the registry. */
static double registry_total(vt_metrics *m)
{
	vt_metrics_snapshot *s;
	if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
		return NAN;
	double t = 0;
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		for (size_t k = 0; k < f->nseries; k++)
			t += f->kind == VT_HISTOGRAM
				 ? (double)f->series[k].hist.count
				 : f->series[k].value;
	}
	vt_metrics_snapshot_free(s);
	return t;
}

static void verify(config *c, int maxthr)
{
	double want = (double)c->expected, got = NAN;
	if (c->api != API_BASE && c->op != OP_GAUGE_SET) {
		got = registry_total(c->m);
	} else if (c->op == OP_ATOMIC) {
		got = 0;
		for (int i = 0; i < maxthr; i++)
			got += (double)atomic_load(&c->atom[i].v);
	} else if (c->op == OP_MUTEX) {
		got = 0;
		for (int i = 0; i < maxthr; i++)
			got += (double)c->mtx[i].v;
	} else if (c->op == OP_PLAIN) {
		got = 0;
		for (int i = 0; i < maxthr; i++)
			got += (double)c->plain[i].v;
	} else {
		return;
	}
	if (got != want) {
		fprintf(stderr,
			"%s/%s labels=%d %s: registry holds %.0f, %.0f "
			"operations were done\n",
			op_names[c->op], api_names[c->api], c->labels,
			mode_names[c->mode], got, want);
		exit(1);
	}
}

static result *find(op_t op, api_t api, int labels, mode_t_ mode, int thr)
{
	for (int i = 0; i < nresults; i++) {
		result *r = &results[i];
		if (r->op == op && r->api == api && r->labels == labels &&
		    r->mode == mode && r->threads == thr)
			return r;
	}
	return NULL;
}

/* Seed histogram read cost, measured after the 1-thread runs. */
typedef struct seed_read {
	size_t n;
	double ms;
	int done;
} seed_read;
static seed_read seed_read_cost;

static void measure(const bench_opts *o, op_t op, api_t api, int labels,
		    mode_t_ mode)
{
	char cname[96];
	snprintf(cname, sizeof cname, "%s/%s/%d/%s", op_names[op],
		 api_names[api], labels, mode_names[mode]);
	if (!bench_selected(o, cname))
		return;
	config *c = malloc(sizeof *c);
	if (c == NULL)
		exit(1);
	int maxthr = 0;
	for (int t = 0; t < o->threads.n; t++)
		if (o->threads.v[t] > maxthr)
			maxthr = (int)o->threads.v[t];
	config_init(c, op, api, labels, mode, maxthr);
	fprintf(stderr, "  %s:", cname);
	for (int t = 0; t < o->threads.n; t++) {
		int n = (int)o->threads.v[t];
		double mops[MAX_REPS], ns[MAX_REPS], bal[MAX_REPS], d1, d2, d3;
		double best = INFINITY;
		if (!o->smoke)
			(void)run_once(c, n, o->duration_ms / 5 + 1, o->pin,
				       &d1, &d2, &d3);
		for (int r = 0; r < o->reps; r++) {
			if (op == OP_SEED_HIST)
				for (int i = 0; i < maxthr; i++)
					bench_seed_clear(&c->seed[i]);
			mops[r] = run_once(c, n, o->duration_ms, o->pin, &ns[r],
					   &bal[r], &d3);
			best = d3 < best ? d3 : best;
		}
		if (op == OP_SEED_HIST && n == 1 && mode == MODE_ONE) {
			/* The seed's read: copy, sort, percentiles. */
			static const double qs[5] = {.5, .9, .95, .99, .999};
			double q[5];
			int64_t t0 = bench_now_ns();
			size_t nv = bench_seed_read(&c->seed[0], qs, q, 5);
			seed_read_cost.ms = (double)(bench_now_ns() - t0) / 1e6;
			seed_read_cost.n = nv;
			seed_read_cost.done = 1;
		}
		result *res = &results[nresults++];
		res->op = op;
		res->api = api;
		res->labels = labels;
		res->mode = mode;
		res->threads = n;
		res->mops = bench_stats_of(mops, o->reps);
		bench_stats nss = bench_stats_of(ns, o->reps);
		res->ns_op = nss.med;
		res->balance = bench_stats_of(bal, o->reps).med;
		res->best_ns = best;
		bench_csv(
		    "tput,metrics,%s,%s,%d,%s,%d,%.4f,%.3f,%.3f,%.3f,%.3f,%.4f",
		    op_names[op], api_names[api], labels, mode_names[mode], n,
		    res->ns_op, res->mops.med, res->mops.min, res->mops.max,
		    res->balance, res->best_ns);
		fprintf(stderr, " %dt=%s", n, bench_fmt(res->mops.med));
	}
	fprintf(stderr, " Mops/s\n");
	verify(c, maxthr);
	config_fini(c, maxthr);
	free(c);
}

/*
 * Reports.
 */

static void table(const bench_opts *o, const char *title, op_t op,
		  double loop_ns, const op_t *bases, int nbases)
{
	printf("### %s\n\n", title);
	printf("ns/op: wall time per operation of one thread (threads / "
	       "total rate; median of the repeats); net @1: minus the empty "
	       "loop (%s ns). Mops/s: total over all threads, median "
	       "(min–max). Best: the fastest %d-operation chunk of any repeat "
	       "(the noise floor; far below the median means the run was "
	       "disturbed). Balance: operations of the slowest thread / the "
	       "fastest (1: fair; near 0: one thread held the lock or line "
	       "most of the time).\n\n",
	       bench_fmt(loop_ns), CHUNK);
	printf("| implementation | labels | series |");
	for (int t = 0; t < o->threads.n; t++)
		printf(" ns/op @%ld |", o->threads.v[t]);
	printf(" net ns/op @1 | best ns/op @1 |");
	for (int t = 0; t < o->threads.n; t++)
		printf(" Mops/s @%ld |", o->threads.v[t]);
	printf(" @2 / @1 | balance @2 |\n|---|---|---|");
	for (int t = 0; t < 2 * o->threads.n + 4; t++)
		printf("---|");
	printf("\n");
	for (int k = 0; k < nresults; k++) {
		result *r = &results[k];
		int is_base = 0;
		for (int b = 0; b < nbases; b++)
			is_base |= r->op == bases[b];
		if (r->op != op && !is_base)
			continue;
		if (r->threads != o->threads.v[0])
			continue; /* one row per configuration */
		char impl[96];
		if (r->api == API_BASE)
			snprintf(impl, sizeof impl, "baseline: %s",
				 op_names[r->op]);
		else
			snprintf(impl, sizeof impl, "vitals %s %s",
				 op_names[r->op], api_names[r->api]);
		char lab[8];
		snprintf(lab, sizeof lab, "%d", r->labels);
		printf("| %s | %s | %s |", impl, r->api == API_BASE ? "-" : lab,
		       r->op == OP_PLAIN      ? "per-thread"
		       : r->op == OP_LOOP     ? "-"
		       : r->op == OP_CALL     ? "-"
		       : r->op == OP_LOOP_VAL ? "-"
					      : mode_names[r->mode]);
		for (int t = 0; t < o->threads.n; t++) {
			result *x = find(r->op, r->api, r->labels, r->mode,
					 (int)o->threads.v[t]);
			printf(" %s |", x ? bench_fmt(x->ns_op) : "-");
		}
		result *one = find(r->op, r->api, r->labels, r->mode, 1);
		printf(" %s | %s |",
		       one && !is_base ? bench_fmt(one->ns_op - loop_ns) : "-",
		       one ? bench_fmt(one->best_ns) : "-");
		for (int t = 0; t < o->threads.n; t++) {
			result *x = find(r->op, r->api, r->labels, r->mode,
					 (int)o->threads.v[t]);
			printf(" %s |", x ? bench_fmt_stats(&x->mops) : "-");
		}
		result *two = find(r->op, r->api, r->labels, r->mode, 2);
		printf(" %s | %s |\n",
		       one && two ? bench_fmt(two->mops.med / one->mops.med)
				  : "-",
		       two ? bench_fmt(two->balance) : "-");
	}
	printf("\n");
}

static void targets(void)
{
	result *c1 = find(OP_COUNTER, API_HANDLE, 0, MODE_ONE, 1);
	result *c2 = find(OP_COUNTER, API_HANDLE, 0, MODE_ONE, 2);
	result *a2 = find(OP_ATOMIC, API_BASE, 0, MODE_ONE, 2);
	result *m2 = find(OP_MUTEX, API_BASE, 0, MODE_ONE, 2);
	result *h1 = find(OP_HIST, API_HANDLE, 0, MODE_ONE, 1);
	result *h2 = find(OP_HIST, API_HANDLE, 0, MODE_ONE, 2);
	result *s2 = find(OP_SEED_HIST, API_BASE, 0, MODE_ONE, 2);
	const char *na = "not run: needs 1 and 2 in --threads and the "
			 "configurations not left out by --only";
	char note[128];
	if (c1) {
		snprintf(note, sizeof note,
			 "median; loop included; best chunk %s ns/op",
			 bench_fmt(c1->best_ns));
		bench_target("M1", "counter inc via handle; 1 thread",
			     c1->ns_op, BENCH_LE, 2, "ns/op", note);
	} else
		bench_target_na("M1", "counter inc via handle; 1 thread", na);
	if (c1 && c2)
		bench_target("M2", "counter inc; 2 threads vs 1 (one series)",
			     c2->mops.med / c1->mops.med, BENCH_GE, 1.8, "x",
			     NULL);
	else
		bench_target_na("M2", "counter inc; 2 threads vs 1", na);
	if (c2 && a2)
		bench_target("M3", "counter inc vs shared atomic; 2 threads",
			     c2->mops.med / a2->mops.med, BENCH_GE, 5, "x",
			     NULL);
	else
		bench_target_na("M3", "counter inc vs shared atomic", na);
	if (c2 && m2)
		bench_target("M4", "counter inc vs mutex counter; 2 threads",
			     c2->mops.med / m2->mops.med, BENCH_GE, 50, "x",
			     NULL);
	else
		bench_target_na("M4", "counter inc vs mutex counter", na);
	if (h1) {
		snprintf(note, sizeof note,
			 "median; loop included; best chunk %s ns/op",
			 bench_fmt(h1->best_ns));
		bench_target("H1", "histogram observe via handle; 1 thread",
			     h1->ns_op, BENCH_LE, 5, "ns/op", note);
	} else
		bench_target_na("H1", "histogram observe; 1 thread", na);
	if (h1 && h2)
		bench_target(
		    "H2", "histogram observe; 2 threads vs 1 (one series)",
		    h2->mops.med / h1->mops.med, BENCH_GE, 1.8, "x", NULL);
	else
		bench_target_na("H2", "histogram observe; 2 threads vs 1", na);
	if (h2 && a2)
		bench_target("H3",
			     "histogram observe vs shared atomic; 2 "
			     "threads",
			     h2->mops.med / a2->mops.med, BENCH_GE, 5, "x",
			     "if 'same scaling' includes the baselines");
	if (h2 && m2)
		bench_target("H4",
			     "histogram observe vs mutex counter; 2 "
			     "threads",
			     h2->mops.med / m2->mops.med, BENCH_GE, 50, "x",
			     "if 'same scaling' includes the baselines");
	if (h2 && s2)
		printf("Histogram observe vs the seed's method at 2 threads "
		       "(one series): %sx.\n\n",
		       bench_fmt(h2->mops.med / s2->mops.med));
}

/* The read side of the seed's method against a vitals snapshot of one
 * histogram series holding as many values. */
static void hist_read_cost(const bench_opts *o)
{
	if (!seed_read_cost.done)
		return;
	vt_metrics *m;
	vt_histogram *h;
	if (vt_metrics_alloc(&m) != VT_OK ||
	    vt_metrics_histogram(m, "read_cost_seconds", NULL, &h) != VT_OK)
		exit(1);
	for (size_t i = 0; i < seed_read_cost.n; i++)
		(void)vt_histogram_observe(h, vals[i & (NVALS - 1)]);
	double t[MAX_REPS];
	for (int r = 0; r < o->reps; r++) {
		vt_metrics_snapshot *s;
		int64_t t0 = bench_now_ns();
		if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK)
			exit(1);
		t[r] = (double)(bench_now_ns() - t0) / 1e6;
		vt_metrics_snapshot_free(s);
	}
	bench_stats st = bench_stats_of(t, o->reps);
	printf("### Histogram read cost\n\n");
	printf("| method | values held | read (ms): summary with p50..p999 "
	       "| memory |\n|---|---|---|---|\n");
	printf("| seed: copy + qsort + nearest rank | %zu | %s | %s MB "
	       "(8 bytes per value, unbounded) |\n",
	       seed_read_cost.n, bench_fmt(seed_read_cost.ms),
	       bench_fmt((double)seed_read_cost.n * 8 / 1e6));
	printf("| vitals: snapshot of the series | %zu | %s | bounded "
	       "(see bench_read: memory per (thread, series)) |\n\n",
	       seed_read_cost.n, bench_fmt_stats(&st));
	bench_csv("hist_read,seed,%zu,%.4f", seed_read_cost.n,
		  seed_read_cost.ms);
	bench_csv("hist_read,vitals,%zu,%.4f", seed_read_cost.n, st.med);
	vt_metrics_free(m);
}

int main(int argc, char **argv)
{
	bench_opts o = {0};
	o.reps = 5;
	o.duration_ms = 200;
	o.threads = bench_default_threads();
	bench_opts def = o;
	bench_parse(&o, argc, argv, NULL);
	if (o.smoke) {
		if (o.reps == def.reps)
			o.reps = 1;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 5;
		warm_n = 256;
		if (o.threads.n == def.threads.n &&
		    memcmp(o.threads.v, def.threads.v, sizeof o.threads.v) == 0)
			bench_list_parse(&o.threads, "1,2");
	} else if (o.quick) {
		if (o.reps == def.reps)
			o.reps = 3;
		if (o.duration_ms == def.duration_ms)
			o.duration_ms = 50;
	}
	for (int t = 0; t < o.threads.n; t++)
		if (o.threads.v[t] > MAXTHR) {
			fprintf(stderr, "at most %d threads\n", MAXTHR);
			return 2;
		}
	if (o.reps > MAX_REPS) {
		fprintf(stderr, "at most %d repeats\n", MAX_REPS);
		return 2;
	}
	bench_out_open(&o);

	bench_rng rng;
	bench_rng_seed(&rng, 42);
	for (int i = 0; i < NVALS; i++) {
		double v = bench_rng_lognormal(&rng, 1e-3, 2);
		vals[i] = v < 1e-6 ? 1e-6 : v > 100 ? 100 : v;
	}

	bench_header(&o, "Metrics: write throughput (bench_metrics)");
	printf("Each figure: a %d ms window, %d repeats, fresh threads each "
	       "time. Totals are checked against the registry after every "
	       "configuration.\n\n",
	       o.duration_ms, o.reps);

	fprintf(stderr, "bench_metrics: baselines\n");
	measure(&o, OP_LOOP, API_BASE, 0, MODE_ONE);
	measure(&o, OP_LOOP_VAL, API_BASE, 0, MODE_ONE);
	measure(&o, OP_CALL, API_BASE, 0, MODE_ONE);
	measure(&o, OP_PLAIN, API_BASE, 0, MODE_ONE);
	for (int md = 0; md < 2; md++) {
		measure(&o, OP_ATOMIC, API_BASE, 0, md);
		measure(&o, OP_MUTEX, API_BASE, 0, md);
		measure(&o, OP_SEED_HIST, API_BASE, 0, md);
	}
	static const op_t ops[] = {OP_COUNTER, OP_GAUGE_SET, OP_GAUGE_ADD,
				   OP_HIST};
	static const int nlab[] = {0, 1, 3};
	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		fprintf(stderr, "bench_metrics: %s\n", op_names[ops[k]]);
		for (int a = 0; a < 2; a++)
			for (int l = 0; l < 3; l++)
				for (int md = 0; md < 2; md++)
					measure(&o, ops[k], a, nlab[l], md);
	}

	result *loop = find(OP_LOOP, API_BASE, 0, MODE_ONE, 1);
	result *loopv = find(OP_LOOP_VAL, API_BASE, 0, MODE_ONE, 1);
	double loop_ns = loop ? loop->ns_op : NAN;
	double loopv_ns = loopv ? loopv->ns_op : NAN;
	static const op_t cbase[] = {OP_LOOP, OP_CALL, OP_PLAIN, OP_ATOMIC,
				     OP_MUTEX};
	static const op_t hbase[] = {OP_LOOP_VAL, OP_SEED_HIST};
	table(&o, "Counter inc", OP_COUNTER, loop_ns, cbase, 5);
	table(&o, "Gauge set", OP_GAUGE_SET, loop_ns, NULL, 0);
	table(&o, "Gauge add", OP_GAUGE_ADD, loop_ns, NULL, 0);
	table(&o, "Histogram observe (log-normal inputs)", OP_HIST, loopv_ns,
	      hbase, 2);
	hist_read_cost(&o);
	targets();
	bench_targets_print();
	bench_out_close();
	return 0;
}
