/*
 * test_reload.c - SIGHUP reloads a running vitalsd: checks added,
 * removed and changed (replaced under the same name), a refused file
 * leaves the running config, restart-only settings are reported, and no
 * request fails meanwhile: two clients hammer fresh /health over HTTP
 * and Health/Check plus a fresh health run over the RPC across every
 * reload, and each answer must be a success.
 *
 * The checks are disk checks on / (instant, no outside server). Time
 * bounds only separate "happened" from "never happened".
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_daemon.h"
#include "support_http.h"
#include "testutil.h"
#include "vitals/client.h"

static vt_test_daemon d;
static atomic_int stop;
static atomic_int http_ok, http_bad, rpc_ok, rpc_bad;
static char first_bad[512];
static pthread_mutex_t bad_mtx = PTHREAD_MUTEX_INITIALIZER;

static void note_bad(const char *what)
{
	pthread_mutex_lock(&bad_mtx);
	if (first_bad[0] == '\0')
		snprintf(first_bad, sizeof(first_bad), "%.400s", what);
	pthread_mutex_unlock(&bad_mtx);
}

/* Fresh /health on one keep-alive connection, reopened if the server
 * closes it; every answer must be 200. */
static void *http_hammer(void *arg)
{
	(void)arg;
	vt_test_conn c;
	vt_test_conn_init(&c);
	while (!atomic_load(&stop)) {
		char why[256];
		vt_test_resp r;
		if (c.fd < 0 && vt_test_conn_open(&c, d.http_port) != 0) {
			atomic_fetch_add(&http_bad, 1);
			note_bad("http: cannot connect");
			vt_test_sleep_ms(10);
			continue;
		}
		if (vt_test_conn_get(&c, "/health?fresh=1", 5000, &r, why,
				     sizeof(why)) != 0) {
			atomic_fetch_add(&http_bad, 1);
			note_bad(why);
			vt_test_conn_close(&c);
			continue;
		}
		if (r.status == 200) {
			atomic_fetch_add(&http_ok, 1);
		} else {
			atomic_fetch_add(&http_bad, 1);
			note_bad(r.head);
		}
		if (vt_test_resp_closes(&r))
			vt_test_conn_close(&c);
		free(r.body);
	}
	vt_test_conn_fini(&c);
	return NULL;
}

/* Health/Check and a fresh health run over the RPC, in turn. */
static void *rpc_hammer(void *arg)
{
	(void)arg;
	vt_client *cl = NULL;
	if (vt_client_connect(&cl, d.rpc, 5000) != VT_OK) {
		atomic_fetch_add(&rpc_bad, 1);
		note_bad("rpc: cannot connect");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		int serving = 0;
		vt_err rv = vt_client_grpc_check(cl, "", &serving);
		if (rv == VT_OK && serving) {
			atomic_fetch_add(&rpc_ok, 1);
		} else {
			atomic_fetch_add(&rpc_bad, 1);
			note_bad(vt_client_last_error(cl));
		}
		vt_health_snapshot *s = NULL;
		rv = vt_client_health(cl, NULL, VT_RUN_FRESH, &s);
		if (rv == VT_OK && s->status == VT_HEALTHY) {
			atomic_fetch_add(&rpc_ok, 1);
		} else {
			atomic_fetch_add(&rpc_bad, 1);
			note_bad(rv != VT_OK ? vt_client_last_error(cl)
					     : "rpc: not healthy");
		}
		vt_client_health_free(s);
	}
	vt_client_close(cl);
	return NULL;
}

static const char *disk(const char *name, int interval_ms, char *out,
			size_t cap)
{
	snprintf(out, cap,
		 "{\"name\": \"%s\", \"type\": \"disk\", \"path\": \"/\", "
		 "\"interval_ms\": %d, \"timeout_ms\": 1000}",
		 name, interval_ms);
	return out;
}

/* Rewrites the daemon's file: same listeners, top and checks given. */
static void write_config(const char *top, const char *checks)
{
	FILE *f = fopen(d.config, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f,
		"{\"http\": \"%s\", \"rpc\": \"%s\", \"pub\": \"%s\", %s "
		"\"checks\": [%s]}\n",
		d.http, d.rpc, d.pub, top, checks);
	fclose(f);
}

static int count_in_log(const char *needle)
{
	char *log = vt_test_daemon_log(&d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
		n++;
	free(log);
	return n;
}

/* Sends SIGHUP and waits until the log shows one more "reloaded" or
 * "reload refused" line; 1 if it did. */
static int hup(void)
{
	int before =
	    count_in_log("reloaded: ") + count_in_log("reload refused");
	CU_ASSERT_EQUAL(kill(d.pid, SIGHUP), 0);
	double end = vt_test_now_ms() + 10000;
	while (vt_test_now_ms() < end) {
		if (count_in_log("reloaded: ") +
			count_in_log("reload refused") >
		    before)
			return 1;
		vt_test_sleep_ms(10);
	}
	return 0;
}

/* The names of the daemon's checks, comma-separated, into out. */
static void names(char *out, size_t cap)
{
	out[0] = '\0';
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&cl, d.rpc, 5000) == VT_OK);
	vt_health_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_client_health(cl, NULL, VT_RUN_CACHED, &s) == VT_OK);
	size_t n = 0;
	for (size_t i = 0; i < s->ncomponents; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "",
				      s->components[i].name);
	vt_client_health_free(s);
	vt_client_close(cl);
}

static void test_reload(void)
{
	char a[256], a2[256], b[256], c[256], checks[1024], got[256];
	disk("a", 1000, a, sizeof(a));
	disk("a", 700, a2, sizeof(a2));
	disk("b", 1000, b, sizeof(b));
	disk("c", 1000, c, sizeof(c));
	snprintf(checks, sizeof(checks), "%s, %s", a, b);
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "reload", "", checks, 0));

	/* nng initializes its global state on a process' first socket
	 * (libnng is not built for TSan, which sees that one-time init race
	 * with a second thread's first socket): take it here, before the
	 * hammers start. */
	char first[256];
	names(first, sizeof(first));
	CU_ASSERT_STRING_EQUAL(first, "a,b");

	pthread_t th, tr;
	pthread_create(&th, NULL, http_hammer, NULL);
	pthread_create(&tr, NULL, rpc_hammer, NULL);
	vt_test_sleep_ms(200);

	/* a changed, b removed, c added. */
	snprintf(checks, sizeof(checks), "%s, %s", a2, c);
	write_config("", checks);
	CU_ASSERT(hup());
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,c");
	CU_ASSERT_EQUAL(count_in_log("(1 added, 1 removed, 1 changed)"), 1);

	/* A refused file: the running checks stay. */
	write_config("\"workers\": 0,", checks);
	CU_ASSERT(hup());
	CU_ASSERT_EQUAL(count_in_log("reload refused"), 1);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,c");

	/* Restart-only settings are reported; the checks still apply. */
	snprintf(checks, sizeof(checks), "%s, %s, %s", a, b, c);
	write_config("\"workers\": 3,", checks);
	CU_ASSERT(hup());
	CU_ASSERT(count_in_log("workers changed: needs a restart") >= 1);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b,c");

	/* A few more back and forth under load. */
	for (int i = 0; i < 6; i++) {
		snprintf(checks, sizeof(checks), "%s, %s", i % 2 ? a : a2,
			 i % 3 ? b : c);
		write_config("", checks);
		CU_ASSERT(hup());
	}
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b");
	vt_test_sleep_ms(200);

	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	pthread_join(tr, NULL);
	printf("\n  during reloads: http %d ok %d failed, rpc %d ok %d "
	       "failed%s%s\n",
	       atomic_load(&http_ok), atomic_load(&http_bad),
	       atomic_load(&rpc_ok), atomic_load(&rpc_bad),
	       first_bad[0] ? "; first: " : "", first_bad);
	CU_ASSERT(atomic_load(&http_ok) > 0);
	CU_ASSERT(atomic_load(&rpc_ok) > 0);
	CU_ASSERT_EQUAL(atomic_load(&http_bad), 0);
	CU_ASSERT_EQUAL(atomic_load(&rpc_bad), 0);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"SIGHUP: add, remove, change, refuse; no request fails",
	     test_reload},
	    {NULL, NULL},
	};
	return vt_test_main("reload", tests);
}
