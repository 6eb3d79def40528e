/*
 * test_load.c - vitals under sustained concurrent load, in process.
 *
 * One vt_server (HTTP gateway, RPC and pub on free loopback ports) over
 * a health registry in background mode (fast callback checks, one that
 * sleeps 50 ms, one non-critical check that flips at every run so that
 * status changes flow to the pub socket) and a metrics registry. For
 * VT_LOAD_SECONDS (default 30), all at once:
 *   - RPC threads with libvitals-client (most with a client of their
 *     own, some sharing one): vitals.v1.Health/Check cached and fresh,
 *     grpc.health.v1.Health/Check, vitals.v1.Metrics/Get filtered and
 *     whole;
 *   - HTTP threads, each a keep-alive raw-socket client: /health?cache=true,
 *     /health, /metrics (JSON, filtered and whole),
 *     /metrics?format=prometheus, /readyz;
 *   - metric writers: a counter, a labelled counter of their own and a
 *     histogram through handles, by-name calls, a gauge; and a churn
 *     thread that keeps starting short-lived writer threads, whose
 *     shards are folded into the totals when they exit;
 *   - a pub watcher (vt_client_watch).
 *
 * Asserted afterwards: zero failed requests (every answer well-formed,
 * with the expected code and content); counters and histogram counts
 * seen by each reader never go backwards; the final counter, labelled
 * counters, by-name counter, histogram counts and sums equal exactly
 * what was written, read through Metrics/Get and through the JSON
 * /metrics; memory stable (RSS, end <= middle x 1.10 + 8 MiB; in
 * sanitizer builds the live heap: see MEM_SLACK_PCT); thread count
 * stable.
 * The figures are printed for docs/RELIABILITY.md.
 *
 * Under TSan (5-15x slower) the same duration runs with fewer threads;
 * VT_LOAD_SECONDS shortens or lengthens any build's run.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support_net.h"
#include "support_servers.h"
#include "testutil.h"
#include "vitals/client.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

#include "support_http.h"
#include "support_tsan.h"
#include "support_watch.h"

#ifdef VT_TSAN
#define RPC_THREADS    12
#define HTTP_THREADS   6
#define WRITER_THREADS 2
#else
#define RPC_THREADS    32
#define HTTP_THREADS   16
#define WRITER_THREADS 4
#endif
#define NCHECKS	     5
#define CALL_TIMEOUT 15000 /* ms: an answer later than this is a failure */
#define BATCH	     1000  /* handle records per writer batch */
#define CHURN_OPS    5000  /* records of one short-lived writer */
#define MIB	     (1024.0 * 1024.0)
/*
 * Memory: the end may exceed the middle by 10% + 8 MiB (plain build).
 * By the middle every pool, arena, connection buffer and allocator cache
 * has reached its working size (measured here: RSS 9.3 MiB at 15 s,
 * 9.6 MiB at 30 s), so what grows after it grows with the work done in
 * the second half - some 25,000 requests, 50 million metric records and
 * 270 short-lived writer threads in the plain build: the rule trips on
 * about 350 bytes kept per request, or 30 KiB per exited thread (a shard
 * not freed), while leaving room for glibc's per-thread arenas and for
 * other work on this shared machine. The measure is RSS
 * (/proc/self/statm), except in sanitizer builds: there RSS is mostly
 * the sanitizer's own memory - ASan's quarantine of freed blocks
 * (256 MiB by default, still filling at the middle) and size-class
 * regions it never returns, TSan's shadow and sync metadata - and it
 * grows by tens of MiB while the live heap stays flat (measured: ASan
 * RSS 152 -> 192 MiB over 10 s with 2.2 MiB live all along). There the
 * rule applies to the runtime's exact count of live heap bytes instead,
 * with 2 MiB of slack rather than 8 (it moves only with the buffers of
 * requests in flight, well under 1 MiB here): that trips on about
 * 100 bytes per request or 8 KiB per exited thread. RSS is printed all
 * the same, and LeakSanitizer checks for unreachable leaks at exit.
 */
#define MEM_SLACK_PCT 10

#ifdef VT_SANITIZED
/* sanitizer/allocator_interface.h, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
#define MEM_WHAT      "live heap"
#define MEM_SLACK_MIB 2
#else
#define MEM_WHAT      "RSS"
#define MEM_SLACK_MIB 8
#endif

static const char CT_JSON[] = "application/json";
static const char CT_PROM[] = "text/plain; version=0.0.4; charset=utf-8";

/* ---- shared state ----------------------------------------------------- */

static atomic_bool stop;
static vt_metrics *metrics;
static vt_health *health;
static vt_server *server;
static int http_port;
static char rpc_url[64], pub_url[64];

/* What the writers wrote, added in when each writer ends. */
static atomic_uint_least64_t w_ops;	/* load_ops_total */
static atomic_uint_least64_t w_obs;	/* load_latency_seconds count */
static atomic_uint_least64_t w_quarter; /* observations of 0.25 ... */
static atomic_uint_least64_t w_byname;	/* load_byname_total */
static atomic_uint_least64_t w_byname_obs;
static atomic_uint_least64_t w_churned; /* short-lived threads run */
static atomic_uint_least64_t w_labelled[WRITER_THREADS];
static atomic_uint_least64_t w_errors;

/* Request counts per kind, failures per transport. */
enum kind {
	K_RPC_CACHED,
	K_RPC_FRESH,
	K_RPC_GRPC,
	K_RPC_METRICS,
	K_HTTP_CACHED,
	K_HTTP_FRESH,
	K_HTTP_METRICS,
	K_HTTP_PROM,
	K_HTTP_READYZ,
	K_COUNT
};
static const char *const kind_names[K_COUNT] = {
    "rpc Health/Check cached",
    "rpc Health/Check fresh",
    "rpc grpc Health/Check",
    "rpc Metrics/Get",
    "http /health?cache=true",
    "http /health",
    "http /metrics (json)",
    "http /metrics?format=prometheus",
    "http /readyz"};
static atomic_uint_least64_t done[K_COUNT];
static atomic_uint_least64_t max_us[K_COUNT];
static atomic_uint_least64_t sum_us[K_COUNT];
static atomic_uint_least64_t rpc_failures, http_failures, http_reconnects;
static atomic_uint_least64_t pub_messages, pub_bad;

/* The first failures, with what was wrong. */
static pthread_mutex_t fail_mtx = PTHREAD_MUTEX_INITIALIZER;
static int nfail_logged; /* protected by fail_mtx */

static void failure(atomic_uint_least64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void failure(atomic_uint_least64_t *counter, const char *fmt, ...)
{
	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&fail_mtx);
	if (nfail_logged++ < 30) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "  FAILURE: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_mtx);
}

static void account(enum kind k, double t0)
{
	atomic_fetch_add(&done[k], 1);
	uint64_t us = (uint64_t)((vt_test_now_ms() - t0) * 1000.0);
	atomic_fetch_add(&sum_us[k], us);
	uint64_t cur = atomic_load(&max_us[k]);
	while (us > cur && !atomic_compare_exchange_weak(&max_us[k], &cur, us))
		;
}

/* ---- /proc/self ------------------------------------------------------- */

static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, rss = 0;
	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (double)rss * (double)sysconf(_SC_PAGESIZE) / MIB;
}

/* What the memory rule applies to, in MiB. */
static double mem_mib(void)
{
#ifdef VT_SANITIZED
	return (double)__sanitizer_get_current_allocated_bytes() / MIB;
#else
	return rss_mib();
#endif
}

static int thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Threads:", 8) == 0)
			n = atoi(line + 8);
	if (f != NULL)
		fclose(f);
	return n;
}

/* ---- the checks ------------------------------------------------------- */

static atomic_uint flip_runs;

static bool fast_fn(void *arg)
{
	(void)arg;
	return true;
}

static void detailed_fn(vt_check_result *r, void *arg)
{
	(void)arg;
	vt_result_detail_str(r, "version", "7.2.4");
	vt_result_detail_num(r, "connections", 12);
	vt_result_detail_bool(r, "primary", true);
}

static bool slow_fn(void *arg)
{
	(void)arg;
	vt_test_sleep_ms(50);
	return true;
}

/* Set when the load ends: flip stays healthy, so status changes stop and
 * the pub watcher can close its socket on a quiet line (see watch_main). */
static atomic_bool flip_frozen;

static void flip_fn(vt_check_result *r, void *arg)
{
	(void)arg;
	if (!atomic_load(&flip_frozen) &&
	    atomic_fetch_add(&flip_runs, 1) % 2 == 1) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "flipped");
	}
}

static void add_check(const char *name, vt_check_simple_fn sfn, vt_check_fn fn,
		      const char *const *tags, size_t ntags, bool critical)
{
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = tags;
	o.ntags = ntags;
	o.critical = critical;
	o.interval_ms = 300;
	o.timeout_ms = 5000;
	vt_err rv = sfn != NULL
			? vt_health_add_simple(health, name, sfn, NULL, &o)
			: vt_health_add(health, name, fn, NULL, &o);
	CU_ASSERT_FATAL(rv == VT_OK);
}

/* Checks a health snapshot of all five checks (ready: of the three
 * tagged "ready"): every critical one healthy, overall healthy or
 * degraded (flip). 1 if so, else 0 with the reason in why. */
static int health_ok(const vt_health_snapshot *s, size_t want, char *why,
		     size_t cap)
{
	if (s->ncomponents != want) {
		snprintf(why, cap, "%zu components, want %zu", s->ncomponents,
			 want);
		return 0;
	}
	if (s->status == VT_UNHEALTHY) {
		snprintf(why, cap, "overall unhealthy");
		return 0;
	}
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		if (strcmp(c->name, "flip") != 0 && c->status != VT_HEALTHY) {
			snprintf(why, cap, "%s is %s: %s", c->name,
				 vt_status_name(c->status),
				 c->error != NULL ? c->error : "");
			return 0;
		}
	}
	return 1;
}

/* ---- HTTP over one keep-alive connection (support_http.h) ------------- */

typedef vt_test_conn conn;
typedef vt_test_resp resp;

/* ---- reading the metrics --------------------------------------------- */

typedef struct totals {
	double ops, byname, labelled[WRITER_THREADS];
	uint64_t obs, byname_obs;
	double obs_sum, byname_sum;
	uint64_t le_inf; /* the histogram's +Inf bucket */
} totals;

/* The totals in a snapshot (through Metrics/Get). 0 if a family is
 * missing or malformed. */
static int totals_of_snapshot(const vt_metrics_snapshot *s, totals *t)
{
	memset(t, 0, sizeof(*t));
	const vt_family_snap *ops = vt_test_family(s, "load_ops_total");
	const vt_family_snap *lat = vt_test_family(s, "load_latency_seconds");
	const vt_family_snap *bn = vt_test_family(s, "load_byname_total");
	const vt_family_snap *bno = vt_test_family(s, "load_byname_seconds");
	const vt_family_snap *lab = vt_test_family(s, "load_labelled_total");
	if (ops == NULL || lat == NULL || bn == NULL || bno == NULL ||
	    lab == NULL || ops->nseries != 1 || lat->nseries != 1 ||
	    bn->nseries != 1 || bno->nseries != 1 ||
	    lat->kind != VT_HISTOGRAM || ops->kind != VT_COUNTER)
		return 0;
	t->ops = ops->series[0].value;
	t->byname = bn->series[0].value;
	const vt_hist_summary *h = &lat->series[0].hist;
	t->obs = h->count;
	t->obs_sum = h->sum;
	t->le_inf = h->le_cumulative[h->nbounds];
	t->byname_obs = bno->series[0].hist.count;
	t->byname_sum = bno->series[0].hist.sum;
	for (size_t i = 0; i < lab->nseries; i++) {
		const vt_series_snap *ss = &lab->series[i];
		int w;
		if (ss->nlabels == 1 &&
		    sscanf(ss->labels[0].value, "w%d", &w) == 1 && w >= 0 &&
		    w < WRITER_THREADS)
			t->labelled[w] = ss->value;
	}
	return 1;
}

static double json_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The totals in a /metrics JSON body. 0 if a series is missing. */
static int totals_of_json(const cJSON *j, totals *t)
{
	memset(t, 0, sizeof(*t));
	const cJSON *ops =
	    cJSON_GetObjectItemCaseSensitive(j, "load_ops_total");
	const cJSON *lat =
	    cJSON_GetObjectItemCaseSensitive(j, "load_latency_seconds");
	const cJSON *bn =
	    cJSON_GetObjectItemCaseSensitive(j, "load_byname_total");
	const cJSON *bno =
	    cJSON_GetObjectItemCaseSensitive(j, "load_byname_seconds");
	if (ops == NULL || lat == NULL || bn == NULL || bno == NULL)
		return 0;
	t->ops = json_num(ops, "value");
	t->byname = json_num(bn, "value");
	t->obs = (uint64_t)json_num(lat, "count");
	t->obs_sum = json_num(lat, "sum");
	t->le_inf = t->obs;
	t->byname_obs = (uint64_t)json_num(bno, "count");
	t->byname_sum = json_num(bno, "sum");
	for (int w = 0; w < WRITER_THREADS; w++) {
		char key[64];
		snprintf(key, sizeof(key),
			 "load_labelled_total{writer=\"w%d\"}", w);
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, key);
		if (l == NULL)
			return 0;
		t->labelled[w] = json_num(l, "value");
	}
	return !isnan(t->ops) && !isnan(t->byname) && !isnan(t->obs_sum);
}

/* ---- RPC clients ------------------------------------------------------ */

typedef struct rpc_worker {
	pthread_t th;
	int idx;
	vt_client *shared; /* NULL: connects its own */
} rpc_worker;

static void *rpc_main(void *arg)
{
	rpc_worker *w = arg;
	vt_client *c = w->shared;
	char why[512];
	if (c == NULL &&
	    vt_client_connect(&c, rpc_url, CALL_TIMEOUT) != VT_OK) {
		failure(&rpc_failures, "rpc %d: connect", w->idx);
		return NULL;
	}
	double last_ops = 0;
	uint64_t last_obs = 0;
	for (unsigned i = (unsigned)w->idx; !atomic_load(&stop); i++) {
		double t0 = vt_test_now_ms();
		vt_err e;
		switch (i % 8) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 4: {
			vt_run_mode mode =
			    i % 8 == 4 ? VT_RUN_FRESH : VT_RUN_CACHED;
			vt_health_snapshot *s = NULL;
			e = vt_client_health(c, NULL, mode, &s);
			if (e != VT_OK) {
				failure(&rpc_failures, "rpc health: %s",
					vt_strerror(e));
				break;
			}
			if (!health_ok(s, NCHECKS, why, sizeof(why)))
				failure(&rpc_failures, "rpc health %s: %s",
					mode == VT_RUN_FRESH ? "fresh"
							     : "cached",
					why);
			vt_client_health_free(s);
			account(mode == VT_RUN_FRESH ? K_RPC_FRESH
						     : K_RPC_CACHED,
				t0);
			break;
		}
		case 5: {
			int serving = 0;
			e = vt_client_grpc_check(c, "", &serving);
			if (e != VT_OK || serving != 1)
				failure(&rpc_failures, "rpc grpc: %s, %d",
					vt_strerror(e), serving);
			else
				account(K_RPC_GRPC, t0);
			break;
		}
		default: {
			vt_metrics_filter f = {.name_prefix = "load_"};
			vt_metrics_snapshot *s = NULL;
			e = vt_client_metrics(c, i % 8 == 6 ? &f : NULL, &s);
			if (e != VT_OK) {
				failure(&rpc_failures, "rpc metrics: %s",
					vt_strerror(e));
				break;
			}
			totals t;
			if (!totals_of_snapshot(s, &t))
				failure(&rpc_failures,
					"rpc metrics: series missing");
			else if (t.ops < last_ops || t.obs < last_obs)
				failure(&rpc_failures,
					"rpc metrics went backwards: ops "
					"%.0f -> %.0f, obs %llu -> %llu",
					last_ops, t.ops,
					(unsigned long long)last_obs,
					(unsigned long long)t.obs);
			else if (t.le_inf != t.obs)
				failure(&rpc_failures,
					"rpc metrics: +Inf bucket %llu != "
					"count %llu",
					(unsigned long long)t.le_inf,
					(unsigned long long)t.obs);
			last_ops = t.ops;
			last_obs = t.obs;
			vt_client_metrics_free(s);
			account(K_RPC_METRICS, t0);
			break;
		}
		}
	}
	if (w->shared == NULL)
		vt_client_close(c);
	return NULL;
}

/* ---- HTTP clients ----------------------------------------------------- */

typedef struct http_worker {
	pthread_t th;
	int idx;
} http_worker;

static const struct route {
	const char *target;
	enum kind kind;
} routes[] = {
    {"/health?cache=true", K_HTTP_CACHED},
    {"/metrics?prefix=load_", K_HTTP_METRICS},
    {"/health?cache=true", K_HTTP_CACHED},
    {"/health", K_HTTP_FRESH},
    {"/health?cache=true", K_HTTP_CACHED},
    {"/metrics?format=prometheus", K_HTTP_PROM},
    {"/readyz", K_HTTP_READYZ},
    {"/metrics", K_HTTP_METRICS},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Checks one answer; 1 if right, else 0 with the reason in why. */
static int http_answer_ok(const struct route *rt, const resp *r,
			  double *last_ops, char *why, size_t cap)
{
	char ct[128];
	vt_test_resp_header(r, "Content-Type", ct, sizeof(ct));
	if (r->status != 200) {
		snprintf(why, cap, "status %d: %.200s", r->status, r->body);
		return 0;
	}
	if (rt->kind == K_HTTP_PROM) {
		if (strcmp(ct, CT_PROM) != 0) {
			snprintf(why, cap, "Content-Type %s", ct);
			return 0;
		}
		const char *line = strstr(r->body, "\nload_ops_total ");
		if (r->len == 0 || r->body[r->len - 1] != '\n' ||
		    strstr(r->body, "# TYPE load_ops_total counter\n") ==
			NULL ||
		    line == NULL) {
			snprintf(why, cap, "prometheus text lacks load_ops");
			return 0;
		}
		double v = strtod(line + 16, NULL);
		if (v < *last_ops) {
			snprintf(why, cap, "prometheus ops %.0f -> %.0f",
				 *last_ops, v);
			return 0;
		}
		*last_ops = v;
		return 1;
	}
	if (strcmp(ct, CT_JSON) != 0) {
		snprintf(why, cap, "Content-Type %s", ct);
		return 0;
	}
	cJSON *j = cJSON_ParseWithLength(r->body, r->len);
	if (j == NULL) {
		snprintf(why, cap, "not JSON: %.200s", r->body);
		return 0;
	}
	int ok = 1;
	if (rt->kind == K_HTTP_METRICS) {
		totals t;
		if (!totals_of_json(j, &t)) {
			snprintf(why, cap, "metrics JSON lacks a series");
			ok = 0;
		} else if (t.ops < *last_ops) {
			snprintf(why, cap, "json ops %.0f -> %.0f", *last_ops,
				 t.ops);
			ok = 0;
		}
		if (ok)
			*last_ops = t.ops;
	} else {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
		const cJSON *cs =
		    cJSON_GetObjectItemCaseSensitive(j, "components");
		int want = rt->kind == K_HTTP_READYZ ? 3 : NCHECKS;
		if (!cJSON_IsString(st) ||
		    (strcmp(st->valuestring, "healthy") != 0 &&
		     strcmp(st->valuestring, "degraded") != 0) ||
		    cJSON_GetArraySize(cs) != want) {
			snprintf(why, cap, "health body: %.300s", r->body);
			ok = 0;
		}
		const cJSON *c;
		cJSON_ArrayForEach(c, cs)
		{
			const cJSON *n =
			    cJSON_GetObjectItemCaseSensitive(c, "name");
			const cJSON *s =
			    cJSON_GetObjectItemCaseSensitive(c, "status");
			if (ok && cJSON_IsString(n) &&
			    strcmp(n->valuestring, "flip") != 0 &&
			    (!cJSON_IsString(s) ||
			     strcmp(s->valuestring, "healthy") != 0)) {
				snprintf(why, cap, "component %s: %.300s",
					 n->valuestring, r->body);
				ok = 0;
			}
		}
	}
	cJSON_Delete(j);
	return ok;
}

static void *http_main(void *arg)
{
	http_worker *w = arg;
	conn c;
	vt_test_conn_init(&c);
	char why[512];
	double last_ops = 0, last_prom = 0;
	for (unsigned i = (unsigned)w->idx; !atomic_load(&stop); i++) {
		const struct route *rt = &routes[i % NROUTES];
		if (c.fd < 0 && vt_test_conn_open(&c, http_port) != 0) {
			failure(&http_failures, "http %d: connect: %s", w->idx,
				strerror(errno));
			vt_test_sleep_ms(100);
			continue;
		}
		double t0 = vt_test_now_ms();
		resp r;
		if (vt_test_conn_get(&c, rt->target, CALL_TIMEOUT, &r, why,
				     sizeof(why)) != 0) {
			failure(&http_failures, "GET %s: %s", rt->target, why);
			vt_test_conn_close(&c);
			atomic_fetch_add(&http_reconnects, 1);
			continue;
		}
		if (!http_answer_ok(rt, &r,
				    rt->kind == K_HTTP_PROM ? &last_prom
							    : &last_ops,
				    why, sizeof(why)))
			failure(&http_failures, "GET %s: %s", rt->target, why);
		else
			account(rt->kind, t0);
		char connection[64];
		vt_test_resp_header(&r, "Connection", connection,
				    sizeof(connection));
		if (strcasecmp(connection, "close") == 0) {
			vt_test_conn_close(&c);
			atomic_fetch_add(&http_reconnects, 1);
		}
		free(r.body);
	}
	vt_test_conn_fini(&c);
	return NULL;
}

/* ---- metric writers --------------------------------------------------- */

static vt_counter *h_ops;
static vt_histogram *h_lat;
static vt_counter *h_labelled[WRITER_THREADS];
/* Observed values: exact in binary, so every sum is exact too. */
static const double obs_values[4] = {0.25, 0.5, 1.0, 2.0};

static void werr(vt_err e)
{
	if (e != VT_OK && atomic_fetch_add(&w_errors, 1) < 5)
		fprintf(stderr, "  FAILURE: write: %s\n", vt_strerror(e));
}

typedef struct writer {
	pthread_t th;
	int idx;
} writer;

static void *writer_main(void *arg)
{
	writer *w = arg;
	uint64_t ops = 0, quarter_rounds = 0, byname = 0, labelled = 0;
	while (!atomic_load(&stop)) {
		for (int k = 0; k < BATCH; k++) {
			werr(vt_counter_inc(h_ops));
			werr(vt_histogram_observe(h_lat, obs_values[k & 3]));
			werr(vt_counter_inc(h_labelled[w->idx]));
		}
		ops += BATCH;
		quarter_rounds += BATCH / 4;
		labelled += BATCH;
		for (int k = 0; k < 10; k++) {
			werr(
			    vt_metrics_increment(metrics, "load_byname_total"));
			werr(vt_metrics_observe(metrics, "load_byname_seconds",
						0.5));
		}
		byname += 10;
		werr(vt_metrics_set_gauge(metrics, "load_writer_batches",
					  (double)ops / BATCH));
		vt_test_sleep_ms(1);
	}
	atomic_fetch_add(&w_ops, ops);
	atomic_fetch_add(&w_obs, ops);
	atomic_fetch_add(&w_quarter, quarter_rounds);
	atomic_fetch_add(&w_byname, byname);
	atomic_fetch_add(&w_byname_obs, byname);
	atomic_fetch_add(&w_labelled[w->idx], labelled);
	return NULL;
}

/* A short-lived writer: its shard is folded in when it exits. */
static void *churn_one(void *arg)
{
	(void)arg;
	for (int k = 0; k < CHURN_OPS; k++) {
		werr(vt_counter_inc(h_ops));
		werr(vt_histogram_observe(h_lat, obs_values[k & 3]));
	}
	for (int k = 0; k < 10; k++) {
		werr(vt_metrics_increment(metrics, "load_byname_total"));
		werr(vt_metrics_observe(metrics, "load_byname_seconds", 0.5));
	}
	atomic_fetch_add(&w_ops, CHURN_OPS);
	atomic_fetch_add(&w_obs, CHURN_OPS);
	atomic_fetch_add(&w_quarter, CHURN_OPS / 4);
	atomic_fetch_add(&w_byname, 10);
	atomic_fetch_add(&w_byname_obs, 10);
	atomic_fetch_add(&w_churned, 1);
	return NULL;
}

static void *churn_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_t t;
		if (pthread_create(&t, NULL, churn_one, NULL) == 0)
			pthread_join(t, NULL);
		else
			werr(VT_EIO);
		vt_test_sleep_ms(50);
	}
	return NULL;
}

/* ---- pub watcher ------------------------------------------------------ */

static int on_pub(const char *msg, void *arg)
{
	(void)arg;
	char check[256], from[32], to[32];
	vt_status a, b;
	if (sscanf(msg, "%255s %31s %31s", check, from, to) != 3 ||
	    vt_status_parse(from, &a) != VT_OK ||
	    vt_status_parse(to, &b) != VT_OK || a == b ||
	    strcmp(check, "flip") != 0) {
		if (atomic_fetch_add(&pub_bad, 1) < 5)
			fprintf(stderr, "  FAILURE: pub message \"%s\"\n", msg);
	} else {
		atomic_fetch_add(&pub_messages, 1);
	}
	return 0;
}

/* The watch ends on a quiet line (support_watch.h): while the load
 * runs, flip changes several times a second; at the end the flips stop
 * first (flip_frozen) and the watch ends by its timeout. */
static void *watch_main(void *arg)
{
	(void)arg;
	vt_test_watch_until(pub_url, on_pub, NULL, &stop);
	return NULL;
}

/* ---- the test --------------------------------------------------------- */

static int load_seconds(void)
{
	const char *s = getenv("VT_LOAD_SECONDS");
	if (s == NULL || s[0] == '\0')
		return 30;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 3600) {
		fprintf(stderr, "VT_LOAD_SECONDS=%s: want 1..3600; using 30\n",
			s);
		return 30;
	}
	return (int)v;
}

static void setup(void)
{
	CU_ASSERT_FATAL(vt_metrics_alloc(&metrics) == VT_OK);
	vt_health_opts ho = {.workers = 4, .metrics = metrics};
	CU_ASSERT_FATAL(vt_health_alloc(&health, &ho) == VT_OK);
	static const char *const live_ready[] = {"live", "ready"};
	static const char *const ready[] = {"ready"};
	static const char *const live[] = {"live"};
	add_check("fast_a", fast_fn, NULL, live_ready, 2, true);
	add_check("fast_b", fast_fn, NULL, ready, 1, true);
	add_check("detailed", NULL, detailed_fn, live, 1, true);
	add_check("slow", slow_fn, NULL, ready, 1, true);
	add_check("flip", NULL, flip_fn, NULL, 0, false);

	CU_ASSERT_FATAL(vt_metrics_counter(metrics, "load_ops_total",
					   "Operations.", &h_ops) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(metrics, "load_latency_seconds",
					     "Latency.", &h_lat) == VT_OK);
	static const char *const wl[] = {"writer"};
	vt_family *lab;
	CU_ASSERT_FATAL(
	    vt_metrics_counter_family(metrics, "load_labelled_total",
				      "Per writer.", wl, 1, &lab) == VT_OK);
	for (int i = 0; i < WRITER_THREADS; i++) {
		char v[16];
		snprintf(v, sizeof(v), "w%d", i);
		const char *vals[] = {v};
		CU_ASSERT_FATAL(
		    vt_family_series(lab, vals, 1, &h_labelled[i]) == VT_OK);
	}
	/* The by-name series exist before the readers look. */
	CU_ASSERT_FATAL(vt_metrics_counter_add(metrics, "load_byname_total", 0,
					       NULL, 0) == VT_OK);
	vt_histogram *bno;
	CU_ASSERT_FATAL(vt_metrics_histogram(metrics, "load_byname_seconds",
					     NULL, &bno) == VT_OK);

	char http[64], err[256];
	for (int tries = 0; tries < 5; tries++) {
		http_port = vt_test_free_port();
		int rpc = vt_test_free_port();
		int pub = vt_test_free_port();
		snprintf(http, sizeof(http), "127.0.0.1:%d", http_port);
		snprintf(rpc_url, sizeof(rpc_url), "tcp://127.0.0.1:%d", rpc);
		snprintf(pub_url, sizeof(pub_url), "tcp://127.0.0.1:%d", pub);
		if (rpc == pub || rpc == http_port || pub == http_port)
			continue;
		vt_server_opts so = {.health = health,
				     .metrics = metrics,
				     .http_addr = http,
				     .rpc_url = rpc_url,
				     .pub_url = pub_url};
		if (vt_server_start(&server, &so, err, sizeof(err)) == VT_OK)
			break;
		fprintf(stderr, "vt_server_start: %s (retrying)\n", err);
		server = NULL;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(server);
	CU_ASSERT_FATAL(vt_health_start(health) == VT_OK);
}

/* Waits (up to 10 s) until the cache holds a healthy result of every
 * critical check, so the first cached requests are answered right. */
static void wait_warm(void)
{
	char why[256] = "";
	for (int i = 0; i < 1000; i++) {
		vt_health_snapshot *s = NULL;
		if (vt_health_run(health, NULL, VT_RUN_CACHED, &s) == VT_OK) {
			int ok = health_ok(s, NCHECKS, why, sizeof(why));
			vt_health_snapshot_free(s);
			if (ok)
				return;
		}
		vt_test_sleep_ms(10);
	}
	fprintf(stderr, "cache not warm: %s\n", why);
	CU_FAIL_FATAL("cache not warm");
}

/* Final reads, after every writer has exited. */
static void check_totals(const totals *t, const char *via)
{
	uint64_t ops = atomic_load(&w_ops), obs = atomic_load(&w_obs);
	double sum = (double)atomic_load(&w_quarter) * (0.25 + 0.5 + 1 + 2);
	uint64_t bn = atomic_load(&w_byname), bno = atomic_load(&w_byname_obs);
	fprintf(stderr,
		"  %s: counter %.0f (written %llu), histogram count %llu sum "
		"%.2f (written %llu, %.2f), by-name %.0f / %llu (written "
		"%llu)\n",
		via, t->ops, (unsigned long long)ops,
		(unsigned long long)t->obs, t->obs_sum, (unsigned long long)obs,
		sum, t->byname, (unsigned long long)t->byname_obs,
		(unsigned long long)bn);
	CU_ASSERT_EQUAL(t->ops, (double)ops);
	CU_ASSERT_EQUAL(t->obs, obs);
	CU_ASSERT_EQUAL(t->le_inf, obs);
	CU_ASSERT_EQUAL(t->obs_sum, sum);
	CU_ASSERT_EQUAL(t->byname, (double)bn);
	CU_ASSERT_EQUAL(t->byname_obs, bno);
	CU_ASSERT_EQUAL(t->byname_sum, 0.5 * (double)bno);
	for (int w = 0; w < WRITER_THREADS; w++) {
		if (t->labelled[w] != (double)atomic_load(&w_labelled[w]))
			fprintf(
			    stderr, "  %s: w%d labelled %.0f, wrote %llu\n",
			    via, w, t->labelled[w],
			    (unsigned long long)atomic_load(&w_labelled[w]));
		CU_ASSERT_EQUAL(t->labelled[w],
				(double)atomic_load(&w_labelled[w]));
	}
}

static void test_sustained_load(void)
{
	int secs = load_seconds();
	setup();
	wait_warm();

	int threads_before = thread_count();
	double rss_start = rss_mib();

	vt_client *shared[2] = {NULL, NULL};
	for (int i = 0; i < 2; i++)
		CU_ASSERT_FATAL(vt_client_connect(&shared[i], rpc_url,
						  CALL_TIMEOUT) == VT_OK);
	static rpc_worker rw[RPC_THREADS];
	static http_worker hw[HTTP_THREADS];
	static writer ww[WRITER_THREADS];
	pthread_t churn, watch;
	double t0 = vt_test_now_ms();
	for (int i = 0; i < RPC_THREADS; i++) {
		rw[i].idx = i;
		/* One in four shares a client (two clients in all). */
		rw[i].shared = i % 4 == 3 ? shared[(i / 4) % 2] : NULL;
		CU_ASSERT_FATAL(
		    pthread_create(&rw[i].th, NULL, rpc_main, &rw[i]) == 0);
	}
	for (int i = 0; i < HTTP_THREADS; i++) {
		hw[i].idx = i;
		CU_ASSERT_FATAL(
		    pthread_create(&hw[i].th, NULL, http_main, &hw[i]) == 0);
	}
	for (int i = 0; i < WRITER_THREADS; i++) {
		ww[i].idx = i;
		CU_ASSERT_FATAL(
		    pthread_create(&ww[i].th, NULL, writer_main, &ww[i]) == 0);
	}
	CU_ASSERT_FATAL(pthread_create(&churn, NULL, churn_main, NULL) == 0);
	CU_ASSERT_FATAL(pthread_create(&watch, NULL, watch_main, NULL) == 0);

	double mid_at = t0 + secs * 500.0, end_at = t0 + secs * 1000.0;
	while (vt_test_now_ms() < mid_at)
		vt_test_sleep_ms(20);
	double rss_mid = rss_mib(), mem_mid = mem_mib();
	int threads_mid = thread_count();
	uint64_t reqs_mid = 0;
	for (int k = 0; k < K_COUNT; k++)
		reqs_mid += atomic_load(&done[k]);
	fprintf(stderr,
		"  middle (%.1f s): RSS %.1f MiB, %d threads, %llu "
		"requests\n",
		(vt_test_now_ms() - t0) / 1e3, rss_mid, threads_mid,
		(unsigned long long)reqs_mid);
	while (vt_test_now_ms() < end_at)
		vt_test_sleep_ms(20);
	double rss_end = rss_mib(), mem_end = mem_mib();
	int threads_end = thread_count();
	atomic_store(&flip_frozen, true);
	atomic_store(&stop, true);
	double elapsed = (vt_test_now_ms() - t0) / 1e3;

	for (int i = 0; i < RPC_THREADS; i++)
		pthread_join(rw[i].th, NULL);
	for (int i = 0; i < HTTP_THREADS; i++)
		pthread_join(hw[i].th, NULL);
	for (int i = 0; i < WRITER_THREADS; i++)
		pthread_join(ww[i].th, NULL);
	pthread_join(churn, NULL);
	pthread_join(watch, NULL);
	for (int i = 0; i < 2; i++)
		vt_client_close(shared[i]);
	double join_ms = vt_test_now_ms() - t0 - elapsed * 1e3;

	/* The figures. */
	uint64_t rpc = 0, http = 0;
	fprintf(stderr,
		"\n  load held %.1f s: %d RPC threads, %d HTTP threads, %d "
		"writers + 1 churn\n",
		elapsed, RPC_THREADS, HTTP_THREADS, WRITER_THREADS);
	for (int k = 0; k < K_COUNT; k++) {
		uint64_t n = atomic_load(&done[k]);
		if (k < K_HTTP_CACHED)
			rpc += n;
		else
			http += n;
		fprintf(
		    stderr,
		    "  %-32s %8llu %6.0f/s  mean %6.2f ms  max %6.1f ms\n",
		    kind_names[k], (unsigned long long)n, (double)n / elapsed,
		    n > 0 ? (double)atomic_load(&sum_us[k]) / 1e3 / (double)n
			  : 0.0,
		    (double)atomic_load(&max_us[k]) / 1e3);
	}
	fprintf(stderr,
		"  rpc total %llu (%.0f req/s), http total %llu (%.0f req/s, "
		"%llu reconnects), all %.0f req/s\n",
		(unsigned long long)rpc, (double)rpc / elapsed,
		(unsigned long long)http, (double)http / elapsed,
		(unsigned long long)atomic_load(&http_reconnects),
		(double)(rpc + http) / elapsed);
	fprintf(stderr,
		"  failures: rpc %llu, http %llu, writes %llu, pub %llu\n",
		(unsigned long long)atomic_load(&rpc_failures),
		(unsigned long long)atomic_load(&http_failures),
		(unsigned long long)atomic_load(&w_errors),
		(unsigned long long)atomic_load(&pub_bad));
	fprintf(stderr,
		"  writes: %llu counter incs (%.1f M/s), %llu observations, "
		"%llu by-name calls, %llu short-lived writer threads\n",
		(unsigned long long)atomic_load(&w_ops),
		(double)atomic_load(&w_ops) / elapsed / 1e6,
		(unsigned long long)atomic_load(&w_obs),
		(unsigned long long)atomic_load(&w_byname) * 2,
		(unsigned long long)atomic_load(&w_churned));
	fprintf(stderr, "  pub: %llu status changes received\n",
		(unsigned long long)atomic_load(&pub_messages));
	double mem_limit =
	    mem_mid * (1 + MEM_SLACK_PCT / 100.0) + MEM_SLACK_MIB;
	fprintf(stderr, "  RSS: start %.1f MiB, middle %.1f MiB, end %.1f MiB",
		rss_start, rss_mid, rss_end);
#ifdef VT_SANITIZED
	fprintf(stderr, "; %s: middle %.1f MiB, end %.1f MiB", MEM_WHAT,
		mem_mid, mem_end);
#endif
	fprintf(stderr,
		" (limit %.1f); threads: before %d, middle %d, end %d; "
		"joined in %.0f ms\n",
		mem_limit, threads_before, threads_mid, threads_end, join_ms);

	CU_ASSERT_EQUAL(atomic_load(&rpc_failures), 0);
	CU_ASSERT_EQUAL(atomic_load(&http_failures), 0);
	CU_ASSERT_EQUAL(atomic_load(&w_errors), 0);
	CU_ASSERT_EQUAL(atomic_load(&pub_bad), 0);
	for (int k = 0; k < K_COUNT; k++)
		CU_ASSERT(atomic_load(&done[k]) > 0);
	CU_ASSERT(atomic_load(&pub_messages) > 0);
	CU_ASSERT(atomic_load(&w_churned) > 0);
	CU_ASSERT(mem_end <= mem_limit);
	/* A short-lived writer may be alive at either sample. */
	CU_ASSERT(abs(threads_end - threads_mid) <= 1);

	/* Exact totals, through both transports. */
	vt_client *c = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&c, rpc_url, CALL_TIMEOUT) == VT_OK);
	vt_metrics_filter f = {.name_prefix = "load_"};
	vt_metrics_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_client_metrics(c, &f, &s) == VT_OK);
	totals t;
	CU_ASSERT_FATAL(totals_of_snapshot(s, &t));
	check_totals(&t, "Metrics/Get");
	vt_client_metrics_free(s);
	vt_client_close(c);

	conn hc;
	vt_test_conn_init(&hc);
	CU_ASSERT_FATAL(vt_test_conn_open(&hc, http_port) == 0);
	resp r;
	char why[256];
	int got = vt_test_conn_get(&hc, "/metrics?prefix=load_", CALL_TIMEOUT,
				   &r, why, sizeof(why));
	if (got != 0)
		fprintf(stderr, "GET /metrics: %s\n", why);
	CU_ASSERT_FATAL(got == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	cJSON *j = cJSON_ParseWithLength(r.body, r.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_FATAL(totals_of_json(j, &t));
	check_totals(&t, "GET /metrics");
	cJSON_Delete(j);
	free(r.body);
	vt_test_conn_fini(&hc);

	vt_health_stop(health);
	vt_server_free(server);
	vt_health_free(health);
	vt_metrics_free(metrics);
	/* Every client thread and connection is gone: nothing of them may
	 * keep a thread (nng's own pool threads predate the load). */
	int threads_after = thread_count();
	fprintf(stderr, "  threads after teardown: %d (before load %d)\n",
		threads_after, threads_before);
	CU_ASSERT(threads_after <= threads_before);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"sustained load on every transport", test_sustained_load},
	    {NULL, NULL},
	};
	return vt_test_main("load", tests);
}
