/*
 * test_history.c - the state database: results kept and read back
 * newest first, rollup uptime equal to a scan of the raw rows, retention,
 * clear errors for a corrupt or unwritable file, a failing disk turning
 * the store (and its check) DEGRADED without losing what is in memory,
 * a full queue, and the no-loss contract under concurrent runs: every
 * result a snapshot shows is committed once vt_history_wait returns.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "history/history.h"
#include "testutil.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"

static char tmpdir[] = "/tmp/vt_history_XXXXXX";

static const char *tmp_path(const char *name)
{
	static char buf[4][256];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, 256, "%s/%s", tmpdir, name);
	return b;
}

static vt_history *open_ok(const char *path, int retention_days, vt_metrics *m)
{
	vt_history_opts o = {
	    .path = path, .retention_days = retention_days, .metrics = m};
	vt_history *hs = NULL;
	char err[256] = "";
	vt_err rv = vt_history_open(&hs, &o, err, sizeof(err));
	if (rv != VT_OK)
		fprintf(stderr, "open: %s\n", err);
	CU_ASSERT_FATAL(rv == VT_OK);
	return hs;
}

static void rec(vt_history *hs, const char *check, double t, vt_status st,
		double ms, const char *error, bool maint)
{
	vt_history_result r = {t, st, ms, error, maint};
	CU_ASSERT_EQUAL(vt_history_record(hs, check, &r), VT_OK);
}

static void test_record_and_list(void)
{
	const char *path = tmp_path("list.db");
	vt_history *hs = open_ok(path, 0, NULL);
	double now = floor(vt__wall_s());
	for (int i = 0; i < 50; i++)
		rec(hs, "redis", now - 50 + i,
		    i % 10 == 0 ? VT_UNHEALTHY : VT_HEALTHY, i * 0.5,
		    i % 10 == 0 ? "connection refused" : NULL, i == 49);
	rec(hs, "other", now, VT_DEGRADED, 1, "slow", false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);

	vt_history_result *rs = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(vt_history_list(hs, "redis", 0, 10, &rs, &n),
			      VT_OK);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_DOUBLE_EQUAL(rs[0].time, now - 1, 1e-6);
	CU_ASSERT_TRUE(rs[0].maintenance);
	CU_ASSERT_DOUBLE_EQUAL(rs[0].duration_ms, 49 * 0.5, 1e-9);
	for (size_t i = 1; i < n; i++)
		CU_ASSERT_TRUE(rs[i].time < rs[i - 1].time);
	/* i = 40 is 9 rows down: unhealthy with its error. */
	CU_ASSERT_EQUAL(rs[9].status, VT_UNHEALTHY);
	CU_ASSERT_STRING_EQUAL(rs[9].error, "connection refused");
	CU_ASSERT_PTR_NULL(rs[8].error);
	vt_history_list_free(rs);

	/* since: only times >= it; limit capped at VT_HISTORY_LIMIT_MAX. */
	CU_ASSERT_EQUAL(vt_history_list(hs, "redis", now - 5, 1000000, &rs, &n),
			VT_OK);
	CU_ASSERT_EQUAL(n, 5);
	vt_history_list_free(rs);
	CU_ASSERT_EQUAL(vt_history_list(hs, "nosuch", 0, 10, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 0);
	vt_history_list_free(rs);
	CU_ASSERT_EQUAL(vt_history_list(hs, "redis", -1, 10, &rs, &n),
			VT_EINVAL);

	/* Bad input is refused and records nothing. */
	vt_history_result bad = {now, (vt_status)7, 1, NULL, false};
	CU_ASSERT_EQUAL(vt_history_record(hs, "redis", &bad), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_history_record(hs, "", &bad), VT_EINVAL);
	vt_history_close(hs);

	/* Everything is back after a reopen, uptime included. */
	hs = open_ok(path, 0, NULL);
	CU_ASSERT_EQUAL(vt_history_list(hs, "redis", 0, 1000, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 50);
	vt_history_list_free(rs);
	double up[VT_UPTIME_NWINDOWS];
	CU_ASSERT_TRUE(vt_history_cached_uptime(hs, "redis", up));
	/* 49 results outside maintenance, 5 of them unhealthy. */
	CU_ASSERT_DOUBLE_EQUAL(up[VT_UPTIME_24H], 44.0 / 49.0, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(up[VT_UPTIME_30D], 44.0 / 49.0, 1e-12);
	CU_ASSERT_TRUE(vt_history_cached_uptime(hs, "other", up));
	CU_ASSERT_DOUBLE_EQUAL(up[VT_UPTIME_1H], 1.0, 1e-12);
	vt_history_close(hs);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Rollup sums equal raw scans, at many "now"s over 30 days of random
 * results (statuses, maintenance, times across minute, hour and day
 * boundaries). */
static void test_rollups_equal_raw(void)
{
	vt_history *hs = open_ok(tmp_path("roll.db"), 0, NULL);
	double now = vt__wall_s();
	const char *checks[] = {"a", "b", "c"};
	for (int i = 0; i < 6000; i++) {
		double t =
		    now - (double)(next_rand() % (29ull * 86400000)) / 1000.0;
		if (i % 7 == 0) /* crowd the last two hours */
			t = now - (double)(next_rand() % 7200000) / 1000.0;
		vt_status st = (vt_status)(next_rand() % 3);
		bool maint = next_rand() % 10 == 0;
		rec(hs, checks[i % 3], t, st, (double)(next_rand() % 500),
		    st == VT_HEALTHY ? NULL : "boom", maint);
	}
	CU_ASSERT_EQUAL_FATAL(vt_history_flush(hs), VT_OK);
	int compared = 0;
	for (int k = 0; k < 40; k++) {
		double at =
		    now - (double)(next_rand() % (5ull * 86400000)) / 1000.0;
		if (k == 0)
			at = now;
		for (int c = 0; c < 3; c++) {
			double a[VT_UPTIME_NWINDOWS], b[VT_UPTIME_NWINDOWS];
			CU_ASSERT_EQUAL(vt_history_uptime(hs, checks[c], at, a),
					VT_OK);
			CU_ASSERT_EQUAL(
			    vt__history_uptime_raw(hs, checks[c], at, b),
			    VT_OK);
			for (int w = 0; w < VT_UPTIME_NWINDOWS; w++) {
				CU_ASSERT_EQUAL(a[w], b[w]);
				compared += a[w] >= 0;
			}
		}
	}
	CU_ASSERT_TRUE(compared > 300);
	double u[VT_UPTIME_NWINDOWS];
	CU_ASSERT_EQUAL(vt_history_uptime(hs, "nosuch", now, u), VT_OK);
	CU_ASSERT_EQUAL(u[VT_UPTIME_30D], -1);

	/* The status-page summary: 24 hourly segments whose counts add up
	 * to a raw count of the same hours. */
	vt_history_summary sum;
	CU_ASSERT_EQUAL(vt_history_summary_read(hs, "a", now, &sum), VT_OK);
	uint32_t total = 0;
	for (int i = 0; i < VT_HISTORY_BAR; i++) {
		total += sum.bar[i].n;
		if (i > 0)
			CU_ASSERT_DOUBLE_EQUAL(sum.bar[i].start,
					       sum.bar[i - 1].start + 3600, 0);
	}
	vt_history_result *rs;
	size_t n;
	CU_ASSERT_EQUAL(vt_history_list(hs, "a", sum.bar[0].start,
					VT_HISTORY_LIMIT_MAX, &rs, &n),
			VT_OK);
	CU_ASSERT_EQUAL(total, n);
	vt_history_list_free(rs);
	vt_history_close(hs);
}

/* Rows older than retention_days go at open (and hourly). */
static void test_retention(void)
{
	const char *path = tmp_path("ret.db");
	vt_history *hs = open_ok(path, 0, NULL);
	double now = vt__wall_s();
	for (int d = 0; d < 10; d++)
		rec(hs, "x", now - d * 86400.0 - 60, VT_HEALTHY, 1, NULL,
		    false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	vt_history_close(hs);

	hs = open_ok(path, 3, NULL);
	vt_history_result *rs;
	size_t n;
	CU_ASSERT_EQUAL(vt_history_list(hs, "x", 0, 100, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 3); /* today, 1 and 2 days ago */
	vt_history_list_free(rs);
	double a[VT_UPTIME_NWINDOWS], b[VT_UPTIME_NWINDOWS];
	CU_ASSERT_EQUAL(vt_history_uptime(hs, "x", now, a), VT_OK);
	CU_ASSERT_EQUAL(vt__history_uptime_raw(hs, "x", now, b), VT_OK);
	CU_ASSERT_EQUAL(a[VT_UPTIME_30D], b[VT_UPTIME_30D]);
	vt_history_close(hs);
}

static void test_corrupt_and_unwritable(void)
{
	char err[256];
	vt_history *hs = (vt_history *)&err;
	vt_history_opts o = {.path = tmp_path("corrupt.db")};
	FILE *f = fopen(o.path, "w");
	CU_ASSERT_FATAL(f != NULL);
	for (int i = 0; i < 400; i++)
		fputs("this is not a database, it is a text file. ", f);
	fclose(f);
	CU_ASSERT_EQUAL(vt_history_open(&hs, &o, err, sizeof(err)), VT_EIO);
	CU_ASSERT_PTR_EQUAL(hs, (vt_history *)&err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, o.path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a database"));
	/* The file is left as it was. */
	size_t len = 0;
	char *txt = vt_test_read_file(o.path, &len);
	CU_ASSERT_TRUE(txt != NULL && strncmp(txt, "this is not", 11) == 0);
	free(txt);

	/* A directory that does not exist, and one nobody can write to
	 * (root included). */
	const char *bad[] = {"/nonexistent-dir/state.db", "/proc/state.db"};
	for (int i = 0; i < 2; i++) {
		o.path = bad[i];
		err[0] = '\0';
		CU_ASSERT_EQUAL(vt_history_open(&hs, &o, err, sizeof(err)),
				VT_EIO);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i]));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "unable to open"));
	}
	o.path = "";
	CU_ASSERT_EQUAL(vt_history_open(&hs, &o, err, sizeof(err)), VT_EINVAL);
}

/* In a child: a file-size limit makes the disk "full" mid-run. The store
 * turns failing, its check DEGRADED with the reason, waits stop
 * blocking, and the results stay in memory. Exit code = failures. */
static _Atomic int troubles;
static void count_trouble(void *arg)
{
	(void)arg;
	troubles++;
}

static int full_disk_child(const char *path)
{
	vt_history_opts o = {.path = path, .on_trouble = count_trouble};
	vt_history *hs = NULL;
	char err[256];
	if (vt_history_open(&hs, &o, err, sizeof(err)) != VT_OK)
		return 10;
	signal(SIGXFSZ, SIG_IGN);
	struct stat sb;
	stat(path, &sb);
	struct rlimit rl = {(rlim_t)sb.st_size + 16384,
			    (rlim_t)sb.st_size + 16384};
	setrlimit(RLIMIT_FSIZE, &rl);
	char e[200];
	memset(e, 'e', sizeof(e) - 1);
	e[sizeof(e) - 1] = '\0';
	double t = vt__wall_s();
	vt_err st = VT_OK;
	for (int i = 0; i < 20000 && st == VT_OK; i++) {
		vt_history_result r = {t + i * 0.001, VT_UNHEALTHY, 1, e,
				       false};
		vt_history_record(hs, "big", &r);
		if (i % 100 == 99)
			st = vt_history_flush(hs);
	}
	int fails = 0;
	fails += st != VT_EIO;
	fails += vt_history_status(hs, err, sizeof(err)) != VT_EIO;
	fails += strstr(err, "kept in memory") == NULL;
	fails += vt_history_wait(hs, 1, 60000) == VT_OK;
	for (int i = 0; i < 200 && troubles == 0; i++)
		vt_test_sleep_ms(10);
	fails += troubles != 1; /* told once, from the writer */
	/* The check says DEGRADED and why. */
	vt_health_opts ho = {.workers = 1};
	vt_health *h = NULL;
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	vt_health_alloc(&h, &ho);
	vt_health_add(h, "vitals", vt_history_check, hs, &co);
	vt_health_snapshot *s = NULL;
	vt_health_run(h, NULL, VT_RUN_FRESH, &s);
	fails += s == NULL || s->components[0].status != VT_DEGRADED;
	fails += s == NULL || s->components[0].error == NULL ||
		 strstr(s->components[0].error, path) == NULL;
	if (s != NULL && s->components[0].error != NULL)
		fprintf(stderr, "full disk: %s\n", s->components[0].error);
	vt_health_snapshot_free(s);
	vt_health_free(h);
	vt_history_close(hs);
	return fails;
}

static void test_full_disk(void)
{
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(full_disk_child(tmp_path("full.db")));
	int ws = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &ws, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(ws));
	CU_ASSERT_EQUAL(WEXITSTATUS(ws), 0);
}

static void test_queue_full(void)
{
	vt_history_opts o = {.path = NULL, .queue_cap = 4};
	vt_history *hs = NULL;
	CU_ASSERT_FATAL(vt_history_open(&hs, &o, NULL, 0) == VT_OK);
	/* Hold the writer off the database, so the queue fills. */
	pthread_mutex_lock(&hs->rd_mtx);
	vt_history_result r = {vt__wall_s(), VT_HEALTHY, 1, NULL, false};
	int full = 0;
	for (int i = 0; i < 20; i++)
		full += vt_history_record(hs, "q", &r) == VT_EFULL;
	pthread_mutex_unlock(&hs->rd_mtx);
	CU_ASSERT_TRUE(full >= 15);
	char err[200];
	CU_ASSERT_EQUAL(vt_history_status(hs, err, sizeof(err)), VT_EFULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not recorded"));
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	vt_history_close(hs);
}

/* Checks that report a status set by the test. */
static _Atomic int flip;
static void flip_check(vt_check_result *r, void *arg)
{
	int v = flip++;
	vt_result_status(r, (vt_status)(((uintptr_t)arg + v) % 3));
	if (v % 3 == 2)
		vt_result_error(r, "error %d", v);
}

typedef struct runner {
	vt_health *h;
	vt_history *hs;
	int bad;
	int runs;
} runner;

/* Runs fresh and cached; after vt_history_wait each shown result is in
 * the database (its time is the newest row's or older). */
static void *run_thread(void *arg)
{
	runner *ru = arg;
	for (int i = 0; i < ru->runs; i++) {
		vt_health_snapshot *s = NULL;
		vt_run_mode mode = i % 2 ? VT_RUN_CACHED : VT_RUN_FRESH;
		if (vt_health_run(ru->h, NULL, mode, &s) != VT_OK) {
			ru->bad++;
			continue;
		}
		if (vt_history_wait(ru->hs, s->seq, 10000) != VT_OK)
			ru->bad++;
		for (size_t c = 0; c < s->ncomponents; c++) {
			const vt_component *cp = &s->components[c];
			if (cp->last_check_time == 0)
				continue;
			vt_history_result *rs = NULL;
			size_t n = 0;
			if (vt_history_list(ru->hs, cp->name,
					    cp->last_check_time - 0.0005, 1,
					    &rs, &n) != VT_OK ||
			    n != 1 || rs[0].status > VT_UNHEALTHY)
				ru->bad++;
			vt_history_list_free(rs);
		}
		vt_health_snapshot_free(s);
	}
	return NULL;
}

static void test_concurrent_no_loss(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_history *hs = open_ok(tmp_path("conc.db"), 0, m);
	vt_health_opts ho = {.workers = 8};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	CU_ASSERT_EQUAL(vt_history_attach(hs, h), VT_OK);
	CU_ASSERT_EQUAL(vt_history_attach(hs, h), VT_EEXIST);
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	co.interval_ms = 20;
	for (uintptr_t i = 0; i < 16; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%02u", (unsigned)i);
		CU_ASSERT_EQUAL(
		    vt_health_add(h, name, flip_check, (void *)i, &co), VT_OK);
	}
	CU_ASSERT_EQUAL(vt_health_start(h), VT_OK);
	runner ru[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		ru[i] = (runner){h, hs, 0, 40};
		pthread_create(&th[i], NULL, run_thread, &ru[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(ru[i].bad, 0);
	}
	vt_health_stop(h);
	/* Every result the registry recorded is a row. */
	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL(vt_health_run(h, NULL, VT_RUN_CACHED, &s), VT_OK);
	CU_ASSERT_EQUAL(vt_history_wait(hs, s->seq, 10000), VT_OK);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	uint64_t rows = 0;
	for (size_t c = 0; c < s->ncomponents; c++) {
		vt_history_result *rs;
		size_t n;
		CU_ASSERT_EQUAL(vt_history_list(hs, s->components[c].name, 0,
						VT_HISTORY_LIMIT_MAX, &rs, &n),
				VT_OK);
		rows += n;
		vt_history_list_free(rs);
	}
	CU_ASSERT_EQUAL(rows, s->seq);
	vt_health_snapshot_free(s);
	vt_history_detach(hs);
	vt_health_free(h);

	/* The uptime gauges exist for every check. */
	vt_metrics_snapshot *ms = NULL;
	vt_metrics_filter mf = {.name = "vitals_check_uptime_ratio"};
	CU_ASSERT_EQUAL(vt_metrics_snapshot_take(m, &mf, &ms), VT_OK);
	CU_ASSERT_TRUE(ms != NULL && ms->nfamilies == 1 &&
		       ms->families[0].nseries >= 16 * 2);
	vt_metrics_snapshot_free(ms);
	vt_history_close(hs);
	vt_metrics_free(m);
}

/* Uptime gauge series of check in m. */
static size_t gauges_of(vt_metrics *m, const char *check)
{
	vt_label l = {"check", check};
	vt_metrics_filter mf = {
	    .name = "vitals_check_uptime_ratio", .labels = &l, .nlabels = 1};
	vt_metrics_snapshot *ms = NULL;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, &mf, &ms) == VT_OK);
	size_t n = ms->nfamilies == 1 ? ms->families[0].nseries : 0;
	vt_metrics_snapshot_free(ms);
	return n;
}

static void test_forget(void)
{
	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_history *hs = open_ok(NULL, 0, m);
	double now = vt__wall_s();
	rec(hs, "gone", now, VT_HEALTHY, 1, NULL, false);
	rec(hs, "kept", now, VT_HEALTHY, 1, NULL, false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	CU_ASSERT(gauges_of(m, "gone") > 0);
	/* A result of it queued before the forget does not bring them
	 * back. */
	rec(hs, "gone", now + 1, VT_UNHEALTHY, 1, "x", false);
	CU_ASSERT_EQUAL(vt_history_forget(hs, "gone"), VT_OK);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	CU_ASSERT_EQUAL(gauges_of(m, "gone"), 0);
	CU_ASSERT(gauges_of(m, "kept") > 0);
	double up[VT_UPTIME_NWINDOWS];
	CU_ASSERT_FALSE(vt_history_cached_uptime(hs, "gone", up));
	/* Its rows stay; a result after the forget (the check added back)
	 * sets its gauges again, continuing its history. */
	vt_history_result *rs;
	size_t n;
	CU_ASSERT_EQUAL(vt_history_list(hs, "gone", 0, 10, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 2);
	vt_history_list_free(rs);
	rec(hs, "gone", now + 2, VT_HEALTHY, 1, NULL, false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	CU_ASSERT(gauges_of(m, "gone") > 0);
	CU_ASSERT_TRUE(vt_history_cached_uptime(hs, "gone", up));
	CU_ASSERT_EQUAL(vt_history_forget(hs, ""), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_history_forget(NULL, "x"), VT_EINVAL);
	vt_history_close(hs);
	vt_metrics_free(m);
}

/* After a restart, the uptime gauges of a check no longer registered
 * (removed while the process was down) leave at attach. */
static void test_forget_unregistered(void)
{
	const char *path = tmp_path("restart.db");
	vt_history *hs = open_ok(path, 0, NULL);
	double now = vt__wall_s();
	rec(hs, "removed", now, VT_HEALTHY, 1, NULL, false);
	rec(hs, "kept", now, VT_HEALTHY, 1, NULL, false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	vt_history_close(hs);

	vt_metrics *m = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	hs = open_ok(path, 0, m);
	CU_ASSERT(gauges_of(m, "removed") > 0); /* known at start */
	vt_health_opts ho = {.workers = 1};
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
	CU_ASSERT_EQUAL(vt_health_add(h, "kept", flip_check, NULL, &co), VT_OK);
	CU_ASSERT_EQUAL(vt_history_attach(hs, h), VT_OK);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	CU_ASSERT_EQUAL(gauges_of(m, "removed"), 0);
	CU_ASSERT(gauges_of(m, "kept") > 0);
	vt_history_detach(hs);
	vt_health_free(h);
	vt_history_close(hs);
	vt_metrics_free(m);
}

static void test_in_memory(void)
{
	vt_history *hs = open_ok(NULL, 0, NULL);
	rec(hs, "m", vt__wall_s(), VT_UNHEALTHY, 2, "down", false);
	CU_ASSERT_EQUAL(vt_history_flush(hs), VT_OK);
	vt_history_result *rs;
	size_t n;
	CU_ASSERT_EQUAL(vt_history_list(hs, "m", 0, 10, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(rs[0].error, "down");
	vt_history_list_free(rs);
	double up[VT_UPTIME_NWINDOWS];
	CU_ASSERT_EQUAL(vt_history_uptime(hs, "m", vt__wall_s(), up), VT_OK);
	CU_ASSERT_EQUAL(up[VT_UPTIME_1H], 0.0);
	char err[100];
	CU_ASSERT_EQUAL(vt_history_status(hs, err, sizeof(err)), VT_OK);
	vt_history_close(hs);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	static const vt_test tests[] = {
	    {"record, list newest first, reopen", test_record_and_list},
	    {"rollup uptime equals raw scans", test_rollups_equal_raw},
	    {"retention", test_retention},
	    {"corrupt and unwritable files", test_corrupt_and_unwritable},
	    {"full disk: failing, DEGRADED, kept in memory", test_full_disk},
	    {"queue full", test_queue_full},
	    {"concurrent runs: shown results are committed",
	     test_concurrent_no_loss},
	    {"in memory", test_in_memory},
	    {"forget: a removed check's uptime gauges go", test_forget},
	    {"restart: unregistered checks' uptime gauges go",
	     test_forget_unregistered},
	    {NULL, NULL},
	};
	int rc = vt_test_main("history", tests);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		rc = rc != 0 ? rc : 1;
	return rc;
}
