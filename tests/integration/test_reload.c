/*
 * test_reload.c - SIGHUP and vitalsctl reload (vitals.v1.Admin/Reload)
 * reload a running vitalsd: checks added, removed and changed (replaced
 * under the same name), a refused file leaves the running config with
 * the reason told, restart-only settings are reported, a removed
 * check's metric series (vitals_check_* and its uptime gauges) leave
 * /metrics while a changed one's go on, the RPC needs the token, and no
 * request fails meanwhile: two clients hammer fresh /health over HTTP
 * and Health/Check plus a fresh health run over the RPC across every
 * reload, and each answer must be a success. A program serving with the
 * library and no reload function answers Reload with 12.
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
#include "vitals/server.h"

#define TOKEN "reload-token-5678"

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

/* Starts the two hammers (after the process' first nng socket). */
static void hammers_start(pthread_t *th, pthread_t *tr)
{
	atomic_store(&stop, 0);
	atomic_store(&http_ok, 0);
	atomic_store(&http_bad, 0);
	atomic_store(&rpc_ok, 0);
	atomic_store(&rpc_bad, 0);
	first_bad[0] = '\0';
	pthread_create(th, NULL, http_hammer, NULL);
	pthread_create(tr, NULL, rpc_hammer, NULL);
	vt_test_sleep_ms(200);
}

/* Stops them; every answer they got must have been a success. */
static void hammers_check(pthread_t th, pthread_t tr)
{
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
	hammers_start(&th, &tr);

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
	hammers_check(th, tr);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
}

/* vitalsctl --url RPC reload ARGS, with or without the token: its exit
 * status, and stdout + stderr into *out (malloc'd). */
static int ctl_reload(const char *args, bool token, char **out)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s --url %s reload %s 2>&1",
		 token ? "VITALS_TOKEN=" TOKEN : "env -u VITALS_TOKEN",
		 VT_TEST_VITALSCTL, d.rpc, args);
	*out = NULL;
	return vt_test_sh(cmd, out);
}

/* GET /metrics in Prometheus text with the token, over HTTP. */
static char *prom_metrics(void)
{
	vt_test_resp r = {0};
	if (!vt_test_http_request(
		d.http_port, "GET", "/metrics?format=prometheus",
		"Authorization: Bearer " TOKEN "\r\n", 5000, &r) ||
	    r.status != 200) {
		vt_test_resp_free(&r);
		return strdup("");
	}
	char *body = r.body;
	r.body = NULL;
	vt_test_resp_free(&r);
	return body != NULL ? body : strdup("");
}

/* Waits up to 15 s until /metrics has needle (want) or has it no more
 * (!want); 1 if so. */
static int metrics_wait(const char *needle, bool want)
{
	double end = vt_test_now_ms() + 15000;
	for (;;) {
		char *m = prom_metrics();
		bool has = strstr(m, needle) != NULL;
		free(m);
		if (has == want)
			return 1;
		if (vt_test_now_ms() > end)
			return 0;
		vt_test_sleep_ms(50);
	}
}

/* runs_total of check a over all results, through the RPC. */
static double runs_of_a(void)
{
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&cl, d.rpc, 5000) == VT_OK);
	CU_ASSERT_FATAL(vt_client_set_token(cl, TOKEN) == VT_OK);
	vt_label l = {"check", "a"};
	vt_metrics_filter f = {
	    .name = "vitals_check_runs_total", .labels = &l, .nlabels = 1};
	vt_metrics_snapshot *s = NULL;
	double n = -1;
	if (vt_client_metrics(cl, &f, &s) == VT_OK && s->nfamilies == 1) {
		n = 0;
		for (size_t i = 0; i < s->families[0].nseries; i++)
			n += s->families[0].series[i].value;
	}
	vt_metrics_snapshot_free(s);
	vt_client_close(cl);
	return n;
}

/* A bad file through vitalsctl: refused with the reason, the checks
 * (a and c) run on. */
static void refused_told(const char *checks)
{
	char *out = NULL, got[256];
	write_config("\"workers\": 0, \"token_env\": \"RELOAD_TOKEN_VAR\",",
		     checks);
	CU_ASSERT_EQUAL(ctl_reload("", true, &out), 3);
	CU_ASSERT(out != NULL && strstr(out, "reload refused") &&
		  strstr(out, "workers"));
	free(out);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,c");
	double before = runs_of_a();
	double end = vt_test_now_ms() + 10000;
	while (runs_of_a() <= before && vt_test_now_ms() < end)
		vt_test_sleep_ms(50);
	CU_ASSERT(runs_of_a() > before); /* a still runs */
}

static void test_reload_rpc(void)
{
	char a[256], a2[256], b[256], c[256], checks[1024], got[256];
	disk("a", 200, a, sizeof(a));
	disk("a", 300, a2, sizeof(a2));
	disk("b", 200, b, sizeof(b));
	disk("c", 200, c, sizeof(c));
	const char *top = "\"token_env\": \"RELOAD_TOKEN_VAR\",";
	setenv("RELOAD_TOKEN_VAR", TOKEN, 1);
	snprintf(checks, sizeof(checks), "%s, %s", a, b);
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "reload_rpc", top, checks, 0));
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b");
	/* b's series, its uptime gauges included, are there to go. */
	CU_ASSERT(metrics_wait("vitals_check_status{check=\"b\"}", true));
	CU_ASSERT(metrics_wait("vitals_check_uptime_ratio{check=\"b\"", true));
	CU_ASSERT(metrics_wait("vitals_check_runs_total{check=\"b\"", true));

	pthread_t th, tr;
	hammers_start(&th, &tr);

	/* Without the token: refused, nothing changes. */
	snprintf(checks, sizeof(checks), "%s, %s", a2, c);
	write_config(top, checks);
	char *out = NULL;
	CU_ASSERT_EQUAL(ctl_reload("", false, &out), 3);
	CU_ASSERT(out != NULL && strstr(out, "token") != NULL);
	free(out);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b");
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&cl, d.rpc, 5000) == VT_OK);
	vt_reload_report rep;
	CU_ASSERT_EQUAL(vt_client_reload(cl, &rep), VT_EAUTH); /* code 16 */

	/* With it: a changed, b removed, c added. */
	double runs = runs_of_a();
	CU_ASSERT(runs > 0);
	CU_ASSERT_EQUAL(ctl_reload("", true, &out), 0);
	CU_ASSERT(out != NULL &&
		  strstr(out, "reloaded: 1 added, 1 removed, 1 changed") &&
		  strstr(out, "added: c") && strstr(out, "removed: b") &&
		  strstr(out, "changed: a"));
	free(out);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,c");
	/* b's series leave /metrics, a's stay with their counts. */
	CU_ASSERT(metrics_wait("check=\"b\"", false));
	CU_ASSERT(metrics_wait("vitals_check_status{check=\"c\"}", true));
	CU_ASSERT(metrics_wait("vitals_check_status{check=\"a\"}", true));
	CU_ASSERT(runs_of_a() >= runs);

	refused_told(checks);

	/* Through the library's client, with b back: the report. */
	snprintf(checks, sizeof(checks), "%s, %s, %s", a2, b, c);
	write_config("\"workers\": 3, \"token_env\": \"RELOAD_TOKEN_VAR\",",
		     checks);
	CU_ASSERT_FATAL(vt_client_set_token(cl, TOKEN) == VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_client_reload(cl, &rep), VT_OK);
	CU_ASSERT(rep.nadded == 1 && strcmp(rep.added[0], "b") == 0);
	CU_ASSERT(rep.nremoved == 0 && rep.nchanged == 0);
	CU_ASSERT(rep.nignored == 1 &&
		  strstr(rep.ignored[0], "workers changed") != NULL);
	vt_reload_report_fini(&rep);
	vt_client_close(cl);
	CU_ASSERT(metrics_wait("vitals_check_status{check=\"b\"}", true));

	/* Nothing changed: an empty report, as JSON. */
	CU_ASSERT_EQUAL(ctl_reload("--json", true, &out), 0);
	CU_ASSERT(out != NULL &&
		  strstr(out, "{\"added\":[],\"removed\":[],\"changed\":[],"
			      "\"ignored\":[\"workers changed") != NULL);
	free(out);

	/* More back and forth, by RPC and SIGHUP in turn, under load. */
	for (int i = 0; i < 6; i++) {
		snprintf(checks, sizeof(checks), "%s, %s", i % 2 ? a : a2,
			 i % 3 ? b : c);
		write_config(top, checks);
		if (i % 2) {
			CU_ASSERT(hup());
		} else {
			CU_ASSERT_EQUAL(ctl_reload("", true, &out), 0);
			free(out);
		}
	}
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b");
	CU_ASSERT(metrics_wait("check=\"c\"", false));
	hammers_check(th, tr);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
}

static void test_reload_library(void)
{
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	vt_health_opts ho = {.metrics = m};
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", vt_test_free_port());
	vt_server_opts so = {.health = h, .metrics = m, .rpc_url = url};
	vt_server *srv = NULL;
	CU_ASSERT_FATAL(vt_server_start(&srv, &so, NULL, 0) == VT_OK);
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&cl, url, 5000) == VT_OK);
	vt_reload_report rep;
	CU_ASSERT_EQUAL(vt_client_reload(cl, &rep), VT_EPROTO); /* 12 */
	CU_ASSERT(strstr(vt_client_last_error(cl), "not supported") != NULL);
	vt_client_close(cl);
	vt_server_free(srv);
	vt_health_free(h);
	vt_metrics_free(m);
}

/* Secrets leave vitalsd's environment at start (exec plugins must not
 * see them); a reload still reads them: the token, a dmarket check's
 * key and a notifier's secret. */
static void test_reload_secrets(void)
{
	char a[256], b[256], checks[1024], top[512], got[256], *out = NULL;
	setenv("RELOAD_TOKEN_VAR", TOKEN, 1);
	/* RFC 8032 test 1: seed || public key. */
	setenv(
	    "RELOAD_DM_SECRET",
	    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	    1);
	setenv("RELOAD_HOOK_SECRET", "hook-secret-1", 1);
	snprintf(top, sizeof(top),
		 "\"token_env\": \"RELOAD_TOKEN_VAR\", \"state\": "
		 "\"%s/secrets.db\", \"notify\": [{\"name\": \"hook\", "
		 "\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/in\", "
		 "\"secret_env\": \"RELOAD_HOOK_SECRET\"}],",
		 vt_test_tmpdir());
	const char *dm =
	    "{\"name\": \"dm\", \"type\": \"dmarket\", "
	    "\"base_url\": \"http://127.0.0.1:9\", "
	    "\"public_key\": "
	    "\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f"
	    "707511a\", \"secret_key_env\": "
	    "\"RELOAD_DM_SECRET\", \"interval_ms\": 1000}";
	snprintf(checks, sizeof(checks), "%s, %s", disk("a", 200, a, sizeof(a)),
		 dm);
	CU_ASSERT_FATAL(
	    vt_test_daemon_start(&d, "reload_secrets", top, checks, 0));
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,dm");
	snprintf(checks, sizeof(checks), "%s, %s, %s", a, dm,
		 disk("b", 200, b, sizeof(b)));
	write_config(top, checks);
	CU_ASSERT_EQUAL(ctl_reload("", true, &out), 0);
	if (out != NULL && strstr(out, "refused") != NULL)
		fprintf(stderr, "  %s", out);
	free(out);
	names(got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a,b,dm");
	CU_ASSERT_EQUAL(hup(), 1); /* SIGHUP: the same file again */
	CU_ASSERT_EQUAL(count_in_log("reload refused"), 0);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"SIGHUP: add, remove, change, refuse; no request fails",
	     test_reload},
	    {"vitalsctl reload: token, report, series go, refusal told",
	     test_reload_rpc},
	    {"library without a config: Reload is 12", test_reload_library},
	    {"secrets out of the environment still reload",
	     test_reload_secrets},
	    {NULL, NULL},
	};
	return vt_test_main("reload", tests);
}
