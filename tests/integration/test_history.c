/*
 * test_history.c - history on real processes: vitalsd with a state
 * database and checks that change state (an exec check whose exit code
 * the test writes to a file, a refused TCP port, /bin/true).
 *
 * - No loss: every result /health reported (fresh and cached, polled as
 *   fast as the gateway answers) is in /health/NAME/history after
 *   kill -9 of vitalsd and a restart on the same state file; uptime,
 *   history and the last status come back.
 * - The status page in a real browser: headless Chromium loads / from a
 *   running vitalsd and the test reads the DOM (--dump-dom): each check's
 *   status word, its 24 h uptime figure and its error text; without the
 *   token it shows statuses only. Plain build only (Chromium under a
 *   sanitizer runtime's children is slow and not what is tested).
 * - A corrupt state file is refused at start and by --check-config,
 *   naming the file.
 * - vitals.v1.Health/History (libvitals-client and vitalsctl history)
 *   serves what GET /health/NAME/history serves; an unknown name is
 *   NOT_FOUND, exit 3 with a message.
 * - After a restart each check reads its last stored result until it
 *   runs again (a slow command keeps it from running at once), and one
 *   older than three intervals reads stale.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_daemon.h"
#include "support_http.h"
#include "testutil.h"
#include "vitals/client.h"

#ifndef VT_TEST_SANITIZE
#define VT_TEST_SANITIZE ""
#endif

static char flag_path[512];

static void set_flag(int code)
{
	char text[8];
	snprintf(text, sizeof(text), "%d\n", code);
	vt_test_write_file("flag", text, flag_path, sizeof(flag_path));
}

/* The checks: "flip" exits with the code in the flag file (0 healthy,
 * 2 unhealthy with its output as error), "refused" connects to a closed
 * port, "fine" runs /bin/true. */
static void checks_json(char *out, size_t cap)
{
	set_flag(0);
	snprintf(out, cap,
		 "{\"name\": \"flip\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/sh\", \"-c\", \"c=$(cat %s); echo flip says $c; "
		 "exit $c\"], \"interval_ms\": 250},"
		 "{\"name\": \"refused\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:1\", \"interval_ms\": 150},"
		 "{\"name\": \"fine\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/true\"], \"interval_ms\": 200}",
		 flag_path);
}

static cJSON *get_json(int port, const char *target)
{
	vt_test_conn c;
	vt_test_conn_init(&c);
	vt_test_resp r = {0};
	char why[200];
	cJSON *j = NULL;
	if (vt_test_conn_open(&c, port) == 0 &&
	    vt_test_conn_get(&c, target, 5000, &r, why, sizeof(why)) == 0) {
		j = cJSON_Parse(r.body);
		free(r.body);
	}
	vt_test_conn_fini(&c);
	return j;
}

typedef struct seen {
	char name[32];
	double t;
	char status[16];
} seen;

/* Adds each component of health (a /health answer) to s[*n]; a stale
 * one is left out: its status is the staleness rule's, not a result's
 * (after a restart a check reads its last stored result, stale once
 * older than three intervals). */
static void note(const cJSON *health, seen *s, size_t *n, size_t cap)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(health, "components"))
	{
		const cJSON *t = cJSON_GetObjectItem(c, "last_check_time");
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
		if (!cJSON_IsNumber(t) || name == NULL || *n == cap ||
		    cJSON_IsTrue(cJSON_GetObjectItem(c, "stale")))
			continue;
		snprintf(s[*n].name, sizeof(s[*n].name), "%s", name);
		s[*n].t = t->valuedouble;
		snprintf(
		    s[*n].status, sizeof(s[*n].status), "%s",
		    cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")));
		(*n)++;
	}
}

/* Whether history (a /health/NAME/history answer) holds a result at t
 * (stored to the millisecond) with status. */
static int holds(const cJSON *history, double t, const char *status)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(history, "results"))
	{
		const cJSON *rt = cJSON_GetObjectItem(r, "time");
		const char *st =
		    cJSON_GetStringValue(cJSON_GetObjectItem(r, "status"));
		if (cJSON_IsNumber(rt) && fabs(rt->valuedouble - t) < 0.0011 &&
		    st != NULL && strcmp(st, status) == 0)
			return 1;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const seen *)a)->name, ((const seen *)b)->name);
}

/* Checks every result in s[0..n) (sorted by name) against the history
 * vitalsd on port serves: one query per check. Returns the missing. */
static int count_missing(int port, seen *s, size_t n)
{
	int missing = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		double lo = s[i].t;
		while (j < n && strcmp(s[j].name, s[i].name) == 0) {
			if (s[j].t < lo)
				lo = s[j].t;
			j++;
		}
		char target[200];
		snprintf(target, sizeof(target),
			 "/health/%s/history?since=%.6f&limit=1000", s[i].name,
			 lo - 0.002);
		cJSON *hj = get_json(port, target);
		for (size_t k = i; k < j; k++) {
			if (hj != NULL && holds(hj, s[k].t, s[k].status))
				continue;
			if (missing++ < 5)
				fprintf(stderr, "missing: %s at %.6f %s\n",
					s[k].name, s[k].t, s[k].status);
		}
		cJSON_Delete(hj);
		i = j;
	}
	return missing;
}

/* Polls /health (fresh and cached) while 100 more checks keep the writer
 * busy, kills vitalsd with SIGKILL right after an answer, restarts it on
 * the same state file and finds every result it had answered. */
static void test_kill9_no_loss(void)
{
	char checks[16384];
	checks_json(checks, sizeof(checks));
	for (int i = 0; i < 100; i++) {
		size_t l = strlen(checks);
		snprintf(checks + l, sizeof(checks) - l,
			 ",{\"name\": \"p%03d\", \"type\": \"tcp\", "
			 "\"address\": \"127.0.0.1:1\", \"interval_ms\": 50}",
			 i);
	}
	enum { CAP = 1000000 };
	seen *s = calloc(CAP, sizeof(*s));
	CU_ASSERT_FATAL(s != NULL);
	size_t n = 0;
	int polls = 0;
	/* Three lives, each ended by SIGKILL right after an answer. */
	for (int life = 0; life < 3; life++) {
		vt_test_daemon d;
		char name[16];
		snprintf(name, sizeof(name), "life%d", life);
		CU_ASSERT_FATAL(vt_test_daemon_start(&d, name,
						     "\"state\": \"k9.db\",",
						     checks, 0) == 1);
		double end = vt_test_now_ms() + 900;
		if (life == 1)
			set_flag(2); /* flip: healthy in life 0, then not */
		while (vt_test_now_ms() < end) {
			cJSON *h = get_json(
			    d.http_port,
			    polls % 3 == 0 ? "/health" : "/health?cache=true");
			if (h != NULL)
				note(h, s, &n, CAP);
			cJSON_Delete(h);
			polls++;
		}
		/* Last, a fresh run: its results were recorded just before
		 * the answer; the kill follows the answer at once. */
		cJSON *last = get_json(d.http_port, "/health");
		CU_ASSERT_EQUAL(kill(d.pid, SIGKILL), 0);
		CU_ASSERT_PTR_NOT_NULL(last);
		note(last, s, &n, CAP);
		cJSON_Delete(last);
		CU_ASSERT_EQUAL(vt_test_wait_exit(d.pid, 5000), 128 + SIGKILL);
	}
	CU_ASSERT_TRUE(polls >= 3);
	CU_ASSERT_TRUE(n > 300);

	vt_test_daemon d2;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d2, "second",
					     "\"state\": \"k9.db\",", checks,
					     0) == 1);
	qsort(s, n, sizeof(*s), by_name);
	CU_ASSERT_EQUAL(count_missing(d2.http_port, s, n), 0);

	/* Uptime is back: flip was healthy, then unhealthy. */
	cJSON *one = get_json(d2.http_port, "/health/flip");
	const cJSON *up = cJSON_GetObjectItem(one, "uptime");
	const cJSON *h1 = cJSON_GetObjectItem(up, "1h");
	CU_ASSERT_TRUE(cJSON_IsNumber(h1) && h1->valuedouble > 0 &&
		       h1->valuedouble < 1);
	cJSON_Delete(one);
	one = get_json(d2.http_port, "/health/refused");
	up = cJSON_GetObjectItem(one, "uptime");
	CU_ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(up, "30d")) &&
		       cJSON_GetObjectItem(up, "30d")->valuedouble == 0);
	cJSON_Delete(one);
	/* Bad queries are refused with a reason. */
	vt_test_conn c;
	vt_test_conn_init(&c);
	vt_test_resp r = {0};
	char why[200];
	CU_ASSERT_EQUAL(vt_test_conn_open(&c, d2.http_port), 0);
	CU_ASSERT_EQUAL(vt_test_conn_get(&c, "/health/flip/history?limit=x",
					 5000, &r, why, sizeof(why)),
			0);
	CU_ASSERT_EQUAL(r.status, 400);
	free(r.body);
	CU_ASSERT_EQUAL(vt_test_conn_get(&c, "/health/nosuch/history", 5000, &r,
					 why, sizeof(why)),
			0);
	CU_ASSERT_EQUAL(r.status, 404);
	free(r.body);
	vt_test_conn_fini(&c);
	vt_test_stop(d2.pid);
	free(s);
}

static void test_corrupt_state(void)
{
	char path[512], cfg[512], cmd[1200];
	vt_test_write_file("bad.db", "not a database at all, just text\n", path,
			   sizeof(path));
	vt_test_write_file("bad.json",
			   "{\"http\": \"127.0.0.1:1\", \"state\": \"bad.db\", "
			   "\"checks\": []}",
			   cfg, sizeof(cfg));
	char vitalsd[512];
	CU_ASSERT_FATAL(
	    vt_test_build_path("vitalsd", vitalsd, sizeof(vitalsd)) != NULL);
	char *out = NULL;
	snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s' 2>&1", vitalsd,
		 cfg);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 1);
	CU_ASSERT_TRUE(out != NULL && strstr(out, path) != NULL &&
		       strstr(out, "not a database") != NULL);
	free(out);
	snprintf(cmd, sizeof(cmd), "timeout 10 '%s' --config '%s' 2>&1",
		 vitalsd, cfg);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 1);
	CU_ASSERT_TRUE(out != NULL && strstr(out, path) != NULL &&
		       strstr(out, "not a database") != NULL);
	free(out);
}

/* The DOM of url as Chromium renders it (malloc'd), NULL on failure. */
static char *dump_dom(const char *url)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 chromium --headless --no-sandbox --disable-gpu "
		 "--disable-background-networking --no-first-run "
		 "--user-data-dir=%s/chromium --dump-dom '%s' 2>/dev/null",
		 vt_test_tmpdir(), url);
	char *out = NULL;
	if (vt_test_sh(cmd, &out) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The text of the element with class cls inside check name's section of
 * dom, into out; 0 if absent. */
static int dom_text(const char *dom, const char *name, const char *cls,
		    char *out, size_t cap)
{
	char key[128];
	snprintf(key, sizeof(key), "data-check=\"%s\"", name);
	const char *sec = strstr(dom, key);
	if (sec == NULL)
		return 0;
	const char *endsec = strstr(sec, "</section>");
	snprintf(key, sizeof(key), "class=\"%s", cls);
	const char *p = strstr(sec, key);
	if (p == NULL || (endsec != NULL && p > endsec))
		return 0;
	p = strchr(p, '>');
	if (p == NULL)
		return 0;
	p++;
	size_t l = strcspn(p, "<");
	if (l >= cap)
		l = cap - 1;
	memcpy(out, p, l);
	out[l] = '\0';
	return 1;
}

static void test_status_page_in_chromium(void)
{
	char checks[1024];
	checks_json(checks, sizeof(checks));
	setenv("VT_HISTORY_TEST_TOKEN", "s3cret-token", 1);
	vt_test_daemon d;
	CU_ASSERT_FATAL(
	    vt_test_daemon_start(&d, "page",
				 "\"state\": \"page.db\", \"token_env\": "
				 "\"VT_HISTORY_TEST_TOKEN\",",
				 checks, 0) == 1);
	vt_test_sleep_ms(600);
	set_flag(2); /* flip goes unhealthy */
	vt_test_sleep_ms(600);

	/* Chromium sends no token: statuses only. */
	char url[128];
	snprintf(url, sizeof(url), "http://%s/status", d.http);
	char *dom = dump_dom(url);
	CU_ASSERT_FATAL(dom != NULL);
	char text[256];
	CU_ASSERT_TRUE(dom_text(dom, "flip", "status", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "unhealthy");
	CU_ASSERT_TRUE(dom_text(dom, "fine", "status", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "healthy");
	CU_ASSERT_TRUE(dom_text(dom, "refused", "status", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "unhealthy");
	CU_ASSERT_TRUE(
	    dom_text(dom, "refused", "uptime-24h", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "0.00%");
	CU_ASSERT_TRUE(dom_text(dom, "fine", "uptime-24h", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "100.00%");
	CU_ASSERT_TRUE(dom_text(dom, "flip", "uptime-24h", text, sizeof(text)));
	double pct = atof(text);
	CU_ASSERT_TRUE(pct > 0 && pct < 100);
	CU_ASSERT_TRUE(dom_text(dom, "refused", "error", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "last error: reason withheld");
	CU_ASSERT_PTR_NULL(strstr(dom, "connection refused"));
	CU_ASSERT_PTR_NULL(strstr(dom, "flip says"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dom, "id=\"overall\""));
	free(dom);
	vt_test_stop(d.pid);

	/* Without a token, the errors are shown, each under its check. */
	vt_test_daemon d2;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d2, "page2",
					     "\"state\": \"page.db\",", checks,
					     0) == 1);
	vt_test_sleep_ms(700);
	snprintf(url, sizeof(url), "http://%s/", d2.http);
	dom = dump_dom(url);
	CU_ASSERT_FATAL(dom != NULL);
	CU_ASSERT_TRUE(dom_text(dom, "refused", "error", text, sizeof(text)));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "connection refused"));
	CU_ASSERT_TRUE(dom_text(dom, "flip", "error", text, sizeof(text)));
	if (strstr(text, "flip says 2") == NULL)
		fprintf(stderr, "flip's error: %s\n", text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "flip says 2"));
	CU_ASSERT_TRUE(dom_text(dom, "flip", "status", text, sizeof(text)));
	CU_ASSERT_STRING_EQUAL(text, "unhealthy");
	/* History from before the restart: flip's uptime is still < 100%
	 * and > 0%, the chart is drawn. */
	CU_ASSERT_TRUE(dom_text(dom, "flip", "uptime-7d", text, sizeof(text)));
	pct = atof(text);
	CU_ASSERT_TRUE(pct > 0 && pct < 100);
	CU_ASSERT_PTR_NOT_NULL(strstr(dom, "<polyline class=\"avg\""));
	free(dom);
	vt_test_stop(d2.pid);
}

/* Runs vitalsctl with args; stdout and stderr into *out (malloc'd).
 * Exit status. */
static int ctl(const char *args, char **out)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", VT_TEST_VITALSCTL, args);
	return vt_test_sh(cmd, out);
}

/* The results of history (a GET /health/NAME/history answer) equal
 * rs[0..n) (newest first) once those newer than rs[0] are skipped. */
static int same_history(const cJSON *history, const vt_history_result *rs,
			size_t n)
{
	const cJSON *r;
	size_t i = 0;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(history, "results"))
	{
		double t = cJSON_GetObjectItem(r, "time")->valuedouble;
		if (t > rs[0].time + 1e-6)
			continue;
		const char *st =
		    cJSON_GetStringValue(cJSON_GetObjectItem(r, "status"));
		const char *er =
		    cJSON_GetStringValue(cJSON_GetObjectItem(r, "error"));
		const cJSON *d = cJSON_GetObjectItem(r, "duration_ms");
		if (i == n || fabs(t - rs[i].time) > 1e-6 || st == NULL ||
		    strcmp(st, vt_status_name(rs[i].status)) != 0 ||
		    !cJSON_IsNumber(d) ||
		    fabs(d->valuedouble - rs[i].duration_ms) > 1e-3 ||
		    (er == NULL) != (rs[i].error == NULL) ||
		    (er != NULL && strcmp(er, rs[i].error) != 0))
			return 0;
		i++;
	}
	return i == n;
}

static double num_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_rpc_history_and_restart(void)
{
	char checks[2048];
	set_flag(2);
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"flip\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/sh\", \"-c\", \"echo flip says $(cat %s); exit 2\"], "
		 "\"interval_ms\": 100},"
		 "{\"name\": \"quick\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/true\"], \"interval_ms\": 100}",
		 flag_path);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "rpch",
					     "\"state\": \"rpc.db\",", checks,
					     0) == 1);
	vt_test_sleep_ms(800);
	vt_client *c = NULL;
	CU_ASSERT_FATAL(vt_client_connect(&c, d.rpc, 5000) == VT_OK);
	vt_history_result *rs = NULL;
	size_t n = 0;
	CU_ASSERT_FATAL(vt_client_history(c, "flip", 0, 1000, &rs, &n) ==
			VT_OK);
	CU_ASSERT_TRUE(n >= 2);
	cJSON *hj = get_json(d.http_port, "/health/flip/history?limit=1000");
	CU_ASSERT_TRUE(n > 0 && same_history(hj, rs, n));
	CU_ASSERT_TRUE(n > 0 && rs[0].status == VT_UNHEALTHY &&
		       rs[0].error != NULL &&
		       strstr(rs[0].error, "flip says 2") != NULL);
	cJSON_Delete(hj);
	vt_client_history_free(rs);
	/* The limit and since as over HTTP. */
	CU_ASSERT_EQUAL(vt_client_history(c, "flip", 0, 2, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 2);
	vt_client_history_free(rs);
	CU_ASSERT_EQUAL(vt_client_history(c, "flip", 4e9, 0, &rs, &n), VT_OK);
	CU_ASSERT_EQUAL(n, 0);
	vt_client_history_free(rs);
	CU_ASSERT_EQUAL(vt_client_history(c, "nosuch", 0, 0, &rs, &n),
			VT_ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(vt_client_last_error(c), "nosuch"));
	vt_client_close(c);

	char args[300], *out = NULL;
	snprintf(args, sizeof(args), "--url %s history flip --limit 3", d.rpc);
	CU_ASSERT_EQUAL(ctl(args, &out), 0);
	CU_ASSERT_TRUE(out != NULL && strstr(out, "TIME") != NULL &&
		       strstr(out, "unhealthy") != NULL &&
		       strstr(out, "flip says 2") != NULL &&
		       strstr(out, "3 results") != NULL);
	free(out);
	snprintf(args, sizeof(args), "--url %s history flip --json", d.rpc);
	CU_ASSERT_EQUAL(ctl(args, &out), 0);
	cJSON *j = out != NULL ? cJSON_Parse(out) : NULL;
	CU_ASSERT_TRUE(cJSON_GetArraySize(cJSON_GetObjectItem(j, "results")) >
		       0);
	cJSON_Delete(j);
	free(out);
	snprintf(args, sizeof(args), "--url %s history nosuch", d.rpc);
	CU_ASSERT_EQUAL(ctl(args, &out), 3);
	CU_ASSERT_TRUE(out != NULL &&
		       strstr(out, "no check named \"nosuch\"") != NULL);
	free(out);

	/* Restart: the commands now take 5 s, so what the checks read at
	 * first is what the state database kept. */
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_sleep_ms(400);
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"flip\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/sleep\", \"5\"], \"timeout_ms\": 8000, "
		 "\"interval_ms\": 60000},"
		 "{\"name\": \"quick\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/sleep\", \"5\"], \"timeout_ms\": 8000, "
		 "\"interval_ms\": 100}");
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "rpch2",
					     "\"state\": \"rpc.db\",", checks,
					     0) == 1);
	cJSON *flip = get_json(d.http_port, "/health/flip?cache=true");
	cJSON *last = get_json(d.http_port, "/health/flip/history?limit=1");
	const cJSON *r0 =
	    cJSON_GetArrayItem(cJSON_GetObjectItem(last, "results"), 0);
	const char *st =
	    cJSON_GetStringValue(cJSON_GetObjectItem(flip, "status"));
	const char *er =
	    cJSON_GetStringValue(cJSON_GetObjectItem(flip, "error"));
	CU_ASSERT_TRUE(st != NULL && strcmp(st, "unhealthy") == 0);
	CU_ASSERT_TRUE(er != NULL && strstr(er, "flip says 2") != NULL);
	CU_ASSERT_TRUE(r0 != NULL && fabs(num_of(flip, "last_check_time") -
					  num_of(r0, "time")) < 1e-3);
	CU_ASSERT_TRUE(num_of(flip, "consecutive_failures") >= 2);
	CU_ASSERT_TRUE(num_of(flip, "last_status_change") > 0 &&
		       num_of(flip, "last_status_change") <=
			   num_of(flip, "last_check_time"));
	CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(flip, "stale")));
	/* quick was healthy, but its last result is older than 3 x 100 ms. */
	cJSON *quick = get_json(d.http_port, "/health/quick?cache=true");
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(quick, "stale")));
	er = cJSON_GetStringValue(cJSON_GetObjectItem(quick, "error"));
	CU_ASSERT_TRUE(er != NULL && strstr(er, "stale") != NULL);
	CU_ASSERT_TRUE(num_of(quick, "last_check_time") > 0);
	cJSON_Delete(quick);
	cJSON_Delete(flip);
	cJSON_Delete(last);
	vt_test_stop(d.pid);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"kill -9: every reported result is kept", test_kill9_no_loss},
	    {"corrupt state file refused", test_corrupt_state},
	    {"history over RPC; last status after restart",
	     test_rpc_history_and_restart},
	    {"status page in Chromium", test_status_page_in_chromium},
	    {NULL, NULL},
	};
	static const vt_test sanitized[] = {
	    {"kill -9: every reported result is kept", test_kill9_no_loss},
	    {"corrupt state file refused", test_corrupt_state},
	    {"history over RPC; last status after restart",
	     test_rpc_history_and_restart},
	    {NULL, NULL},
	};
	if (VT_TEST_SANITIZE[0] != '\0') {
		printf("status page in Chromium: skipped in the %s sanitizer "
		       "build (it runs in the plain build)\n",
		       VT_TEST_SANITIZE);
		return vt_test_main("history (integration)", sanitized);
	}
	return vt_test_main("history (integration)", tests);
}
