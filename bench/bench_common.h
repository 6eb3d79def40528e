/*
 * bench_common.h - the harness every bench program shares.
 *
 * Timing is CLOCK_MONOTONIC in nanoseconds. Multi-thread measurements
 * start behind a barrier (optionally pinning thread i to CPU i % ncpu)
 * and each thread times its own window; a total rate is every thread's
 * operations over the union of the windows, which stays true when there
 * are more threads than CPUs. Every figure is
 * repeated and reported as median with min and max. Programs print
 * Markdown to stdout (a section of bench/RESULTS.md), progress to
 * stderr, and, with --csv FILE, machine-readable rows for plots and the
 * summary of targets that bench/run.sh assembles.
 *
 * The baseline operations (plain ++, shared atomic, mutex, seed
 * histogram) live in bench_common.c, a separate translation unit built
 * without LTO: a call to them is never inlined or optimised away, so
 * they cost the same call the library's entry points cost.
 */
#ifndef VITALS_BENCH_COMMON_H
#define VITALS_BENCH_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "vitals/health.h"
#include "vitals/metrics.h"

/* Monotonic nanoseconds. */
static inline int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps ms milliseconds (restarted on EINTR). */
void bench_sleep_ms(double ms);

/*
 * Options shared by the programs. Lists are comma-separated integers.
 */
#define BENCH_MAX_LIST 16

typedef struct bench_list {
	int n;
	long v[BENCH_MAX_LIST];
} bench_list;

typedef struct bench_opts {
	const char *prog;
	int quick;	    /* --quick: fewer repeats, shorter runs */
	int smoke;	    /* --smoke: tiny sizes, for CTest */
	int reps;	    /* --reps N: repeats per figure */
	int duration_ms;    /* --duration-ms N: length of a timed run */
	int pin;	    /* --pin: thread i on CPU i % ncpu */
	const char *csv;    /* --csv FILE: machine-readable rows */
	const char *only;   /* --only SUBSTR: run only what matches */
	bench_list threads; /* --threads 1,2,4 */
	bench_list series;  /* --series 1000,10000 (bench_read) */
	bench_list writers; /* --writers 1,2,4 (bench_read) */
	long samples;	    /* --samples N (percentile error) */
	long max_mem_mb;    /* --max-mem-mb N (bench_read) */
	int checks;	    /* --checks N (bench_checks) */
	int sleep_ms;	    /* --sleep-ms N (bench_checks) */
	int workers;	    /* --workers N (bench_checks) */
	bench_list hung_ms; /* --hung-timeouts 100,1000 (bench_checks) */
	int sequential;	    /* --sequential 0|1 (bench_checks) */
} bench_opts;

/* Fills o from argv over defaults set by the caller (fields already in
 * o; --quick and --smoke then shrink them as each program decides).
 * Prints usage and exits 2 on a bad option, 0 on --help. */
void bench_parse(bench_opts *o, int argc, char **argv, const char *usage);

/* Whether a configuration or part named name is selected by --only:
 * when the --only text is in name, or name is in the --only text. */
int bench_selected(const bench_opts *o, const char *name);

/* Online CPUs. */
int bench_ncpu(void);

/* The list 1, 2, 4, ... up to twice the CPUs. */
bench_list bench_default_threads(void);

/* Parses "1,2,4"; 0 on success. */
int bench_list_parse(bench_list *l, const char *s);

/*
 * Statistics over repeats.
 */
typedef struct bench_stats {
	double med, min, max;
	int n;
} bench_stats;

/* Median (mean of the two middle values for even n), min and max of
 * v[0..n); sorts v. */
bench_stats bench_stats_of(double *v, int n);

/*
 * Threads. bench_team_run starts n threads running fn(arg_i) where arg_i
 * is (char *)args + i * stride, and joins them. Inside fn a thread calls
 * bench_team_ready(team) once set up: it returns when all n threads and
 * the caller of bench_team_go are there.
 */
typedef struct bench_team {
	pthread_barrier_t start;
	int n;
	int pin;
	_Atomic int stop; /* set by the caller to end a timed window */
} bench_team;

typedef struct bench_team_arg {
	bench_team *team;
	int idx;
} bench_team_arg; /* the first member of every per-thread argument */

/* Starts n threads on fn; arg i is at (char *)args + i * stride and must
 * begin with a bench_team_arg (filled here). Returns 0 or an errno. */
int bench_team_start(bench_team *t, pthread_t *tids, int n, int pin,
		     void *(*fn)(void *), void *args, size_t stride);
/* Called by every team thread after set-up: waits for the others and
 * for bench_team_go. */
void bench_team_ready(bench_team_arg *a);
/* Called by the starting thread: releases the team. */
void bench_team_go(bench_team *t);
/* Joins the team and destroys it. */
void bench_team_join(bench_team *t, pthread_t *tids);
/* Whether the timed window is over (one relaxed load). */
static inline int bench_team_stopped(bench_team *t)
{
	return atomic_load_explicit(&t->stop, memory_order_relaxed);
}
/* Ends the timed window. */
void bench_team_stop(bench_team *t);

/* Pins the calling thread to CPU cpu % ncpu; 0 on success. */
int bench_pin_self(int cpu);

/*
 * Baselines, out of line on purpose (see the top of the file).
 */
typedef struct bench_padded_u64 {
	_Alignas(64) uint64_t v;
	char pad[56];
} bench_padded_u64;

typedef struct bench_padded_atomic {
	_Alignas(64) _Atomic uint64_t v;
	char pad[56];
} bench_padded_atomic;

typedef struct bench_mutex_counter {
	_Alignas(64) pthread_mutex_t mtx;
	uint64_t v;
} bench_mutex_counter;

/* The seed's histogram: every value appended to a growable array under a
 * mutex; a read copies, sorts and picks nearest-rank percentiles. */
typedef struct bench_seed_hist {
	_Alignas(64) pthread_mutex_t mtx;
	double *v;
	size_t n, cap;
	int oom;
} bench_seed_hist;

void bench_empty_call(void *p);
void bench_plain_inc(uint64_t *p);
void bench_atomic_inc(_Atomic uint64_t *p);
void bench_mutex_inc(bench_mutex_counter *c);
void bench_mutex_counter_init(bench_mutex_counter *c);
void bench_mutex_counter_fini(bench_mutex_counter *c);

void bench_seed_init(bench_seed_hist *h);
void bench_seed_fini(bench_seed_hist *h);
void bench_seed_clear(bench_seed_hist *h);
void bench_seed_observe(bench_seed_hist *h, double v);
/* Copies the values, sorts them and fills q[i] with the nearest-rank
 * quantile qs[i]; returns the number of values (0: q untouched). */
size_t bench_seed_read(bench_seed_hist *h, const double *qs, double *q, int nq);

/* Nearest-rank quantile q of sorted v[0..n): v[ceil(q n) - 1]. */
double bench_nearest_rank(const double *v, size_t n, double q);

/*
 * Random numbers (deterministic, xoshiro256**) for precomputed inputs.
 */
typedef struct bench_rng {
	uint64_t s[4];
} bench_rng;

void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in (0, 1]. */
double bench_rng_unit(bench_rng *r);
/* Standard normal (Box-Muller). */
double bench_rng_normal(bench_rng *r);
/* Log-normal with the given median and sigma (of the log). */
double bench_rng_lognormal(bench_rng *r, double median, double sigma);

/*
 * Output. The CSV has one row per figure, first field the row kind:
 *   tput,<bench>,<op>,<api>,<labels>,<mode>,<threads>,<ns_op>,<mops_med>,
 *        <mops_min>,<mops_max>,<balance>,<best_ns_op>
 *   read,<mix>,<series>,<writers>,<state>,<merge_ms>,<json_ms>,<prom_ms>,
 *        <bytes_touched>
 *   target,<id>,<text>,<measured>,<limit>,<ratio>,<status>,<note>
 * and a few kinds of each program's own (hist_read, slowdown, churn,
 * memory, pct, checks, hung: see where they are written). Text fields
 * never hold commas: bench_csv_text replaces them.
 */
void bench_out_open(const bench_opts *o);
void bench_out_close(void);
/* One CSV row from printf-style fields (commas inside %s arguments are
 * the caller's business: use bench_csv_text for free text). */
void bench_csv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s with commas replaced by semicolons, in a static rotating buffer. */
const char *bench_csv_text(const char *s);

/* Prints a Markdown heading and a line describing the machine (CPU
 * model, CPUs online, kernel, compiler) and the options in force. */
void bench_header(const bench_opts *o, const char *title);

/* The clock the calling thread runs at, in GHz, from a timed chain of
 * dependent one-cycle adds (no hardware counters needed, which VMs
 * often lack): turns ns into cycles for reading the figures. */
double bench_clock_ghz(void);

/* Machine description, one line (CPU model, CPUs, kernel). */
void bench_machine(char *buf, size_t len);

/*
 * Targets. kind BENCH_LE: measured <= limit is MET (ratio limit /
 * measured, > 1 is headroom); BENCH_GE: measured >= limit is MET (ratio
 * measured / limit). Rows are kept and printed by bench_targets_print as
 * a Markdown table, and written to the CSV.
 */
typedef enum { BENCH_LE, BENCH_GE } bench_cmp;

void bench_target(const char *id, const char *text, double measured,
		  bench_cmp cmp, double limit, const char *unit,
		  const char *note);
/* A target that this run could not measure (e.g. its thread count was
 * not in the list). */
void bench_target_na(const char *id, const char *text, const char *why);
void bench_targets_print(void);

/* Formats x with 3 significant digits (or "-" for NaN) in a static
 * rotating buffer. */
const char *bench_fmt(double x);
/* "med (min-max)" of s, 3 significant digits each. */
const char *bench_fmt_stats(const bench_stats *s);

/* Bytes malloc has handed out, over every arena (mallinfo2: in-use
 * chunks plus mmapped ones). */
size_t bench_heap_bytes(void);

/* ---- the registry the serving benches answer from ---------------------- */

/* Fills h and m as bench_rpc and bench_gateway serve them, so that both
 * measure the same answers: BENCH_SERVED_CHECKS instant checks (two
 * tagged "ready"; a day's interval, so never stale in a run) and five
 * metric families (a counter, a gauge, a histogram of 1000 log-normal
 * latencies, a labelled counter family of four series). VT_OK, or the
 * first error with *what naming its step. */
#define BENCH_SERVED_CHECKS 4
vt_err bench_served_registry(vt_health *h, vt_metrics *m, const char **what);

/* Fills m with a peers' metric set, the same series that bench/peers/
 * go_client.go and python_client.py serve (see there): "peers50" (20
 * counters, 20 gauges, 10 histograms) or "mix1000" (1,000 labelled
 * series: 60% counters, 30% gauges, 10% histograms). VT_EINVAL for
 * another name. */
vt_err bench_peer_registry(vt_metrics *m, const char *set);

#endif
