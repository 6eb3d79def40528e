/*
 * bench_common.c - the harness of bench_common.h: options, statistics,
 * thread teams behind a start barrier, the out-of-line baselines, random
 * inputs, Markdown/CSV output and the machine description.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include "bench_common.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void bench_sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(fmod(ms, 1000) * 1e6)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Options.
 */

int bench_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

bench_list bench_default_threads(void)
{
	bench_list l = {0, {0}};
	int max = 2 * bench_ncpu();
	for (long t = 1; t <= max && l.n < BENCH_MAX_LIST; t *= 2)
		l.v[l.n++] = t;
	return l;
}

int bench_list_parse(bench_list *l, const char *s)
{
	bench_list r = {0, {0}};
	const char *p = s;
	while (*p != '\0') {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno != 0 || v <= 0 || r.n == BENCH_MAX_LIST)
			return -1;
		r.v[r.n++] = v;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -1;
		p = end;
	}
	if (r.n == 0)
		return -1;
	*l = r;
	return 0;
}

static long parse_long(const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || v < min)
		return -1;
	return v;
}

static void usage_exit(const bench_opts *o, const char *usage, int code)
{
	FILE *f = code == 0 ? stdout : stderr;
	fprintf(f,
		"usage: %s [--quick | --smoke] [--reps N] [--duration-ms N] "
		"[--threads LIST] [--pin] [--csv FILE] [--only SUBSTR]%s%s\n",
		o->prog, usage != NULL ? " " : "", usage != NULL ? usage : "");
	exit(code);
}

void bench_parse(bench_opts *o, int argc, char **argv, const char *usage)
{
	o->prog = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		long n;
		int used = 1;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage_exit(o, usage, 0);
		} else if (strcmp(a, "--quick") == 0) {
			o->quick = 1;
			used = 0;
		} else if (strcmp(a, "--smoke") == 0) {
			o->smoke = 1;
			used = 0;
		} else if (strcmp(a, "--pin") == 0) {
			o->pin = 1;
			used = 0;
		} else if (v == NULL) {
			usage_exit(o, usage, 2);
		} else if (strcmp(a, "--reps") == 0) {
			if ((n = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
			o->reps = (int)n;
		} else if (strcmp(a, "--duration-ms") == 0) {
			if ((n = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
			o->duration_ms = (int)n;
		} else if (strcmp(a, "--csv") == 0) {
			o->csv = v;
		} else if (strcmp(a, "--only") == 0) {
			o->only = v;
		} else if (strcmp(a, "--threads") == 0) {
			if (bench_list_parse(&o->threads, v) != 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--series") == 0) {
			if (bench_list_parse(&o->series, v) != 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--writers") == 0) {
			if (bench_list_parse(&o->writers, v) != 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--hung-timeouts") == 0) {
			if (bench_list_parse(&o->hung_ms, v) != 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--samples") == 0) {
			if ((o->samples = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--max-mem-mb") == 0) {
			if ((o->max_mem_mb = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
		} else if (strcmp(a, "--checks") == 0) {
			if ((n = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
			o->checks = (int)n;
		} else if (strcmp(a, "--sleep-ms") == 0) {
			if ((n = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
			o->sleep_ms = (int)n;
		} else if (strcmp(a, "--workers") == 0) {
			if ((n = parse_long(v, 1)) < 0)
				usage_exit(o, usage, 2);
			o->workers = (int)n;
		} else if (strcmp(a, "--sequential") == 0) {
			if ((n = parse_long(v, 0)) < 0)
				usage_exit(o, usage, 2);
			o->sequential = (int)n;
		} else {
			usage_exit(o, usage, 2);
		}
		i += used;
	}
}

int bench_selected(const bench_opts *o, const char *name)
{
	/* Either way round: "merge/" (a part) is selected by --only
	 * merge/mix/1000/16 (something inside it). */
	return o->only == NULL || strstr(name, o->only) != NULL ||
	       strstr(o->only, name) != NULL;
}

/*
 * Statistics.
 */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

bench_stats bench_stats_of(double *v, int n)
{
	bench_stats s = {NAN, NAN, NAN, n};
	if (n <= 0)
		return s;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/*
 * Threads.
 */

int bench_pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % bench_ncpu(), &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int bench_team_start(bench_team *t, pthread_t *tids, int n, int pin,
		     void *(*fn)(void *), void *args, size_t stride)
{
	t->n = n;
	t->pin = pin;
	atomic_init(&t->stop, 0);
	int rc = pthread_barrier_init(&t->start, NULL, (unsigned)n + 1);
	if (rc != 0)
		return rc;
	for (int i = 0; i < n; i++) {
		bench_team_arg *a =
		    (bench_team_arg *)((char *)args + (size_t)i * stride);
		a->team = t;
		a->idx = i;
		rc = pthread_create(&tids[i], NULL, fn, a);
		if (rc != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			exit(1); /* a half-started team cannot be released */
		}
	}
	return 0;
}

void bench_team_ready(bench_team_arg *a)
{
	if (a->team->pin)
		(void)bench_pin_self(a->idx);
	pthread_barrier_wait(&a->team->start);
}

void bench_team_go(bench_team *t)
{
	pthread_barrier_wait(&t->start);
}

void bench_team_stop(bench_team *t)
{
	atomic_store_explicit(&t->stop, 1, memory_order_relaxed);
}

void bench_team_join(bench_team *t, pthread_t *tids)
{
	for (int i = 0; i < t->n; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&t->start);
}

/*
 * Baselines. noinline and a separate translation unit: each is a real
 * call, like the library's entry points.
 */

__attribute__((noinline)) void bench_empty_call(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) void bench_plain_inc(uint64_t *p)
{
	++*p;
}

__attribute__((noinline)) void bench_atomic_inc(_Atomic uint64_t *p)
{
	atomic_fetch_add(p, 1);
}

__attribute__((noinline)) void bench_mutex_inc(bench_mutex_counter *c)
{
	pthread_mutex_lock(&c->mtx);
	c->v++;
	pthread_mutex_unlock(&c->mtx);
}

void bench_mutex_counter_init(bench_mutex_counter *c)
{
	pthread_mutex_init(&c->mtx, NULL);
	c->v = 0;
}

void bench_mutex_counter_fini(bench_mutex_counter *c)
{
	pthread_mutex_destroy(&c->mtx);
}

void bench_seed_init(bench_seed_hist *h)
{
	pthread_mutex_init(&h->mtx, NULL);
	h->v = NULL;
	h->n = h->cap = 0;
	h->oom = 0;
}

void bench_seed_fini(bench_seed_hist *h)
{
	free(h->v);
	pthread_mutex_destroy(&h->mtx);
}

void bench_seed_clear(bench_seed_hist *h)
{
	pthread_mutex_lock(&h->mtx);
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
	pthread_mutex_unlock(&h->mtx);
}

__attribute__((noinline)) void bench_seed_observe(bench_seed_hist *h, double v)
{
	pthread_mutex_lock(&h->mtx);
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		double *nv = realloc(h->v, cap * sizeof *nv);
		if (nv == NULL) {
			h->oom = 1;
			pthread_mutex_unlock(&h->mtx);
			return;
		}
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n++] = v;
	pthread_mutex_unlock(&h->mtx);
}

double bench_nearest_rank(const double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	double k = ceil(q * (double)n);
	size_t i = k < 1 ? 0 : k >= (double)n ? n - 1 : (size_t)k - 1;
	return v[i];
}

size_t bench_seed_read(bench_seed_hist *h, const double *qs, double *q, int nq)
{
	pthread_mutex_lock(&h->mtx);
	size_t n = h->n;
	double *c = n ? malloc(n * sizeof *c) : NULL;
	if (c != NULL)
		memcpy(c, h->v, n * sizeof *c);
	pthread_mutex_unlock(&h->mtx);
	if (c == NULL)
		return 0;
	qsort(c, n, sizeof *c, cmp_double);
	for (int i = 0; i < nq; i++)
		q[i] = bench_nearest_rank(c, n, qs[i]);
	free(c);
	return n;
}

/*
 * Random numbers: xoshiro256** seeded by splitmix64.
 */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void bench_rng_seed(bench_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bench_rng_next(bench_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double bench_rng_unit(bench_rng *r)
{
	return (double)((bench_rng_next(r) >> 11) + 1) * 0x1p-53;
}

double bench_rng_normal(bench_rng *r)
{
	double u = bench_rng_unit(r), v = bench_rng_unit(r);
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

double bench_rng_lognormal(bench_rng *r, double median, double sigma)
{
	return median * exp(sigma * bench_rng_normal(r));
}

/*
 * Output.
 */

static FILE *csv_file;

void bench_out_open(const bench_opts *o)
{
	if (o->csv == NULL)
		return;
	csv_file = fopen(o->csv, "w");
	if (csv_file == NULL) {
		fprintf(stderr, "%s: cannot open %s: %s\n", o->prog, o->csv,
			strerror(errno));
		exit(1);
	}
}

void bench_out_close(void)
{
	if (csv_file != NULL && fclose(csv_file) != 0)
		fprintf(stderr, "error writing the CSV file\n");
	csv_file = NULL;
	fflush(stdout);
}

void bench_csv(const char *fmt, ...)
{
	if (csv_file == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(csv_file, fmt, ap);
	va_end(ap);
	fputc('\n', csv_file);
	fflush(csv_file);
}

#define NROT 16
static _Thread_local char rot_buf[NROT][256];
static _Thread_local int rot_i;

static char *rot(void)
{
	rot_i = (rot_i + 1) % NROT;
	return rot_buf[rot_i];
}

const char *bench_csv_text(const char *s)
{
	char *b = rot();
	snprintf(b, 256, "%s", s);
	for (char *p = b; *p != '\0'; p++)
		if (*p == ',' || *p == '\n')
			*p = ';';
	return b;
}

const char *bench_fmt(double x)
{
	char *b = rot();
	if (isnan(x))
		snprintf(b, 256, "-");
	else if (x != 0 && (fabs(x) >= 1e6 || fabs(x) < 1e-3))
		snprintf(b, 256, "%.3g", x);
	else if (fabs(x) >= 100)
		snprintf(b, 256, "%.0f", x);
	else if (fabs(x) >= 10)
		snprintf(b, 256, "%.1f", x);
	else if (fabs(x) >= 1)
		snprintf(b, 256, "%.2f", x);
	else
		snprintf(b, 256, "%.3g", x);
	return b;
}

const char *bench_fmt_stats(const bench_stats *s)
{
	char *b = rot();
	if (s->n <= 1)
		snprintf(b, 256, "%s", bench_fmt(s->med));
	else
		snprintf(b, 256, "%s (%s–%s)", bench_fmt(s->med),
			 bench_fmt(s->min), bench_fmt(s->max));
	return b;
}

void bench_machine(char *buf, size_t len)
{
	char model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		char line[512];
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "model name", 10) != 0)
				continue;
			char *p = strchr(line, ':');
			if (p == NULL)
				break;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = '\0';
			snprintf(model, sizeof model, "%s", p);
			break;
		}
		fclose(f);
	}
	struct utsname u;
	const char *kern = uname(&u) == 0 ? u.release : "unknown";
	snprintf(buf, len, "%s, %d CPUs online, Linux %s, gcc %s", model,
		 bench_ncpu(), kern,
#ifdef __VERSION__
		 __VERSION__
#else
		 "?"
#endif
	);
}

double bench_clock_ghz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	double best = 0;
	for (int r = 0; r < 5; r++) {
		uint64_t x = 0;
		int64_t t0 = bench_now_ns();
		for (int i = 0; i < 1000000; i++)
			/* 8 dependent adds: 8 cycles per iteration. */
			__asm__ volatile("add $1, %0\n\tadd $1, %0\n\t"
					 "add $1, %0\n\tadd $1, %0\n\t"
					 "add $1, %0\n\tadd $1, %0\n\t"
					 "add $1, %0\n\tadd $1, %0"
					 : "+r"(x));
		double ghz = 8e6 / (double)(bench_now_ns() - t0);
		if (ghz > best)
			best = ghz;
	}
	return best;
#else
	return NAN;
#endif
}

void bench_header(const bench_opts *o, const char *title)
{
	char m[512];
	bench_machine(m, sizeof m);
	printf("## %s\n\n", title);
	printf("Machine: %s; core clock measured at %.2f GHz (a chain of "
	       "dependent adds, best of 5). Mode: %s; %d repeats per figure; "
	       "threads %s.%s%s\n\n",
	       m, bench_clock_ghz(),
	       o->smoke	  ? "smoke (tiny sizes)"
	       : o->quick ? "quick"
			  : "full",
	       o->reps, o->pin ? "pinned" : "not pinned",
	       o->only != NULL ? " Only: " : "",
	       o->only != NULL ? o->only : "");
}

/*
 * Targets.
 */

#define MAX_TARGETS 64

typedef struct target_row {
	char id[32];
	char text[160];
	char measured[64];
	char limit[64];
	char ratio[32];
	char status[16];
	char note[200];
} target_row;

static target_row targets[MAX_TARGETS];
static int ntargets;

void bench_target(const char *id, const char *text, double measured,
		  bench_cmp cmp, double limit, const char *unit,
		  const char *note)
{
	if (ntargets == MAX_TARGETS)
		return;
	target_row *t = &targets[ntargets++];
	int met = cmp == BENCH_LE ? measured <= limit : measured >= limit;
	double ratio = cmp == BENCH_LE ? limit / measured : measured / limit;
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->text, sizeof t->text, "%s", text);
	snprintf(t->measured, sizeof t->measured, "%s %s", bench_fmt(measured),
		 unit);
	snprintf(t->limit, sizeof t->limit, "%s %s %s",
		 cmp == BENCH_LE ? "<=" : ">=", bench_fmt(limit), unit);
	snprintf(t->ratio, sizeof t->ratio, "%s", bench_fmt(ratio));
	snprintf(t->status, sizeof t->status, "%s",
		 isnan(measured) ? "n/a"
		 : met		 ? "MET"
				 : "MISSED");
	snprintf(t->note, sizeof t->note, "%s", note != NULL ? note : "");
	bench_csv("target,%s,%s,%s,%s,%s,%s,%s", t->id, bench_csv_text(t->text),
		  bench_csv_text(t->measured), bench_csv_text(t->limit),
		  t->ratio, t->status, bench_csv_text(t->note));
}

void bench_target_na(const char *id, const char *text, const char *why)
{
	if (ntargets == MAX_TARGETS)
		return;
	target_row *t = &targets[ntargets++];
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->text, sizeof t->text, "%s", text);
	snprintf(t->measured, sizeof t->measured, "-");
	snprintf(t->limit, sizeof t->limit, "-");
	snprintf(t->ratio, sizeof t->ratio, "-");
	snprintf(t->status, sizeof t->status, "n/a");
	snprintf(t->note, sizeof t->note, "%s", why);
	bench_csv("target,%s,%s,-,-,-,n/a,%s", t->id, bench_csv_text(t->text),
		  bench_csv_text(why));
}

void bench_targets_print(void)
{
	if (ntargets == 0)
		return;
	printf("### Targets (DESIGN.md)\n\n");
	printf("Ratio: headroom factor, > 1 means the target is met by "
	       "that factor.\n\n");
	printf("| id | target | measured (median) | limit | ratio | status | "
	       "note |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < ntargets; i++) {
		target_row *t = &targets[i];
		printf("| %s | %s | %s | %s | %s | **%s** | %s |\n", t->id,
		       t->text, t->measured, t->limit, t->ratio, t->status,
		       t->note);
	}
	printf("\n");
}

size_t bench_heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* ---- the registry the serving benches answer from ---------------------- */

static bool served_redis(void *arg)
{
	(void)arg;
	return true;
}

static void served_queue(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_detail_num(r, "depth", 3);
	vt_result_detail_bool(r, "consumers", true);
}

static void served_api(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_detail_str(r, "endpoint", "http://127.0.0.1:9000/ping");
	vt_result_detail_num(r, "status_code", 200);
}

static void served_disk(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_detail_num(r, "free_pct", 42.5);
}

vt_err bench_served_registry(vt_health *h, vt_metrics *m, const char **what)
{
	static const char *const ready[] = {"ready"};
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.interval_ms = 24 * 3600 * 1000; /* never stale in a run */
	co.tags = ready;
	co.ntags = 1;
	vt_err err;
	*what = "vt_health_add";
	if ((err = vt_health_add_simple(h, "redis", served_redis, NULL, &co)) !=
		VT_OK ||
	    (err = vt_health_add(h, "queue", served_queue, NULL, &co)) != VT_OK)
		return err;
	co.ntags = 0;
	if ((err = vt_health_add(h, "api", served_api, NULL, &co)) != VT_OK ||
	    (err = vt_health_add(h, "disk", served_disk, NULL, &co)) != VT_OK)
		return err;

	vt_counter *c;
	vt_gauge *g;
	vt_histogram *hi;
	vt_family *f;
	*what = "counter";
	if ((err = vt_metrics_counter(m, "api_requests_total",
				      "API requests served", &c)) != VT_OK ||
	    (err = vt_counter_add(c, 1234)) != VT_OK)
		return err;
	*what = "gauge";
	if ((err = vt_metrics_gauge(m, "active_connections",
				    "Open client connections", &g)) != VT_OK ||
	    (err = vt_gauge_set(g, 42)) != VT_OK)
		return err;
	*what = "histogram";
	if ((err = vt_metrics_histogram(m, "request_duration_seconds",
					"Request latency", &hi)) != VT_OK)
		return err;
	bench_rng rng;
	bench_rng_seed(&rng, 42);
	for (int i = 0; i < 1000; i++)
		vt_histogram_observe(hi, bench_rng_lognormal(&rng, 0.02, 1));
	static const char *const lnames[] = {"method", "route", "status"};
	*what = "counter family";
	if ((err = vt_metrics_counter_family(m, "http_requests_total",
					     "HTTP requests", lnames, 3, &f)) !=
	    VT_OK)
		return err;
	static const char *const lv[4][3] = {{"GET", "/health", "200"},
					     {"GET", "/metrics", "200"},
					     {"GET", "/orders", "200"},
					     {"POST", "/orders", "503"}};
	*what = "series";
	for (int i = 0; i < 4; i++) {
		vt_counter *s;
		if ((err = vt_family_series(f, lv[i], 3, &s)) != VT_OK ||
		    (err = vt_counter_add(s, 10.0 * (i + 1))) != VT_OK)
			return err;
	}
	*what = NULL;
	return VT_OK;
}

/* ---- the peers' metric sets ------------------------------------------------
 */

/* peers50: 20 counters, 20 gauges, 10 histograms, unlabelled. */
static vt_err peer_set50(vt_metrics *m)
{
	vt_err err;
	char name[64];
	for (int i = 0; i < 20; i++) {
		vt_counter *c;
		vt_gauge *g;
		snprintf(name, sizeof name, "peer_requests_%02d_total", i);
		if ((err = vt_metrics_counter(m, name, "Requests", &c)) !=
			VT_OK ||
		    (err = vt_counter_add(c, (i + 1) * 1000.0)) != VT_OK)
			return err;
		snprintf(name, sizeof name, "peer_inflight_%02d", i);
		if ((err = vt_metrics_gauge(m, name, "In flight", &g)) !=
			VT_OK ||
		    (err = vt_gauge_set(g, i * 1.5)) != VT_OK)
			return err;
	}
	for (int i = 0; i < 10; i++) {
		vt_histogram *h;
		snprintf(name, sizeof name, "peer_latency_%02d_seconds", i);
		if ((err = vt_metrics_histogram(m, name, "Latency", &h)) !=
		    VT_OK)
			return err;
		for (int k = 0; k < 100; k++)
			if ((err = vt_histogram_observe(
				 h, 1e-4 * pow(1.1, k))) != VT_OK)
				return err;
	}
	return VT_OK;
}

/* One family of mix1000 (see bench_peer_registry), filled. */
static vt_err peer_mix_family(vt_metrics *m, int f)
{
	static const char *const ln[] = {"k"};
	int k = f % 10;
	char name[64];
	vt_family *fam;
	vt_err err;
	if (k < 6) {
		snprintf(name, sizeof name, "bench_requests_%06d_total", f);
		err = vt_metrics_counter_family(m, name, "help", ln, 1, &fam);
	} else if (k < 9) {
		snprintf(name, sizeof name, "bench_inflight_%06d", f);
		err = vt_metrics_gauge_family(m, name, "help", ln, 1, &fam);
	} else {
		snprintf(name, sizeof name, "bench_latency_seconds_%06d", f);
		err = vt_metrics_histogram_family(m, name, "help", ln, 1, NULL,
						  0, &fam);
	}
	for (int j = 0; j < 10 && err == VT_OK; j++) {
		char v[8];
		snprintf(v, sizeof v, "%d", j);
		const char *vv = v;
		struct vt_series *s;
		if ((err = vt_family_series(fam, &vv, 1, &s)) != VT_OK)
			break;
		if (k < 6)
			err = vt_counter_inc(s);
		else if (k < 9)
			err = vt_gauge_set(s, f * 10 + j);
		for (int n = 0; k >= 9 && n < 8 && err == VT_OK; n++)
			err = vt_histogram_observe(
			    s, 1e-4 * pow(1.1, ((f * 10 + j) * 8 + n) % 100));
	}
	return err;
}

vt_err bench_peer_registry(vt_metrics *m, const char *set)
{
	if (strcmp(set, "peers50") == 0)
		return peer_set50(m);
	if (strcmp(set, "mix1000") != 0)
		return VT_EINVAL;
	vt_err err = VT_OK;
	for (int f = 0; f < 100 && err == VT_OK; f++)
		err = peer_mix_family(m, f);
	return err;
}
