/*
 * test_prometheus.c - vitalsd with the real Prometheus ecosystem
 * (Debian's prometheus 2.42 and prometheus-alertmanager 0.25), all on
 * 127.0.0.1 and free ports, with 1 s scrape and evaluation intervals so
 * that each part ends within a bounded wait:
 *   1. Prometheus with --enable-feature=native-histograms scrapes
 *      vitalsd (protobuf): histogram_quantile(0.99) over the native
 *      histogram of check durations agrees with vitals' own p99 within
 *      one schema-5 bucket (2.2%), and the dashboard's queries parse;
 *   2. a Prometheus in agent mode scrapes vitalsd (OpenMetrics) and
 *      remote-writes to a second one started with
 *      --web.enable-remote-write-receiver; vitals' series, the classic
 *      buckets included, are read back from the second;
 *   3. promtool test rules on the shipped rules (also in deploy_test.sh;
 *      here beside the servers that load them);
 *   4. Prometheus with the shipped rules (their "for" durations cut to
 *      0s) and Alertmanager with the shipped config (amtool-checked;
 *      api_url pointed at a local Telegram stand-in, group_wait 1s)
 *      deliver VitalsCheckUnhealthy to the stand-in.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_daemon.h"
#include "support_http.h"
#include "support_httpd.h"
#include "support_servers.h"
#include "testutil.h"

#ifndef VT_TEST_SOURCE_DIR
#define VT_TEST_SOURCE_DIR "."
#endif
#define DEPLOY VT_TEST_SOURCE_DIR "/deploy"

/* Most time any one wait below may take. */
#define WAIT_MS 60000

static vt_test_daemon vd;
static vt_test_httpd *self_srv; /* what the "self" check connects to */

/* Starts vitalsd with a healthy check that runs only when asked (its
 * interval is an hour) and one that is always down. */
static int daemon_up(void)
{
	static int up;
	if (up)
		return 1;
	int dead = vt_test_free_port();
	if ((self_srv = vt_test_httpd_start()) == NULL || dead < 0)
		return 0;
	char checks[1024];
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"self\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:%d\", \"interval_ms\": 3600000},\n"
		 "{\"name\": \"down\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:%d\", \"interval_ms\": 500, \"timeout_ms\": 200}",
		 vt_test_httpd_port(self_srv), dead);
	up = vt_test_daemon_start(&vd, "prom", "", checks, 0);
	return up;
}

/* Starts a Prometheus named name on config text with extra flags;
 * returns its pid and sets *port, or -1. */
static pid_t prometheus(const char *name, const char *config,
			const char *extra1, const char *extra2, int *port)
{
	char cfg[512], data[512], listen[64], log[512], cfgname[128];
	snprintf(cfgname, sizeof(cfgname), "%s.yml", name);
	vt_test_write_file(cfgname, config, cfg, sizeof(cfg));
	snprintf(data, sizeof(data), "%s/%s-data", vt_test_tmpdir(), name);
	snprintf(log, sizeof(log), "%s/%s.log", vt_test_tmpdir(), name);
	*port = vt_test_free_port();
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d",
		 *port);
	char cfgarg[600], dataarg[600];
	snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
	bool agent = extra1 != NULL && strstr(extra1, "agent") != NULL;
	snprintf(dataarg, sizeof(dataarg), "%s=%s",
		 agent ? "--storage.agent.path" : "--storage.tsdb.path", data);
	char *argv[] = {"/usr/bin/prometheus", cfgarg,	       dataarg, listen,
			(char *)extra1,	       (char *)extra2, NULL};
	if (extra1 == NULL)
		argv[4] = NULL;
	pid_t pid = vt_test_spawn(argv, log);
	if (pid < 0 || !vt_test_wait_port(*port, 20000)) {
		char *l = NULL;
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "tail -20 %s", log);
		vt_test_sh(cmd, &l);
		fprintf(stderr, "prometheus %s did not start:\n%s\n", name,
			l != NULL ? l : "");
		free(l);
		return -1;
	}
	return pid;
}

/* The result array of an instant query (at unix time at, or now when
 * at is 0) against 127.0.0.1:port; NULL when the query fails. */
static cJSON *query(int port, const char *expr, double at)
{
	char cmd[4096], t[64] = "";
	if (at > 0)
		snprintf(t, sizeof(t), "--data-urlencode 'time=%.3f'", at);
	snprintf(cmd, sizeof(cmd),
		 "curl -s -m 10 -G --data-urlencode 'query=%s' %s "
		 "http://127.0.0.1:%d/api/v1/query",
		 expr, t, port);
	char *out = NULL;
	if (vt_test_sh(cmd, &out) != 0) {
		free(out);
		return NULL;
	}
	cJSON *j = cJSON_Parse(out);
	free(out);
	const cJSON *st = cJSON_GetObjectItem(j, "status");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "success") != 0) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* The first sample value of expr, NAN when none (yet). */
static double value(int port, const char *expr)
{
	cJSON *j = query(port, expr, 0);
	const cJSON *r =
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "result");
	const cJSON *v = cJSON_GetArrayItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "value"), 1);
	double x = cJSON_IsString(v) ? strtod(v->valuestring, NULL) : NAN;
	cJSON_Delete(j);
	return x;
}

/* Waits until expr has a value (for up to WAIT_MS); NAN if never. */
static double wait_value(int port, const char *expr)
{
	double t0 = vt_test_now_ms();
	while (vt_test_now_ms() - t0 < WAIT_MS) {
		double v = value(port, expr);
		if (!isnan(v))
			return v;
		vt_test_sleep_ms(250);
	}
	fprintf(stderr, "no value for %s\n", expr);
	return NAN;
}

/* count and p99 of vitals' own histogram of the self check's durations
 * (the JSON /metrics). */
static int own_hist(double *count, double *p99)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "curl -s -m 10 'http://%s/metrics?name="
		 "vitals_check_duration_seconds'",
		 vd.http);
	char *out = NULL;
	int rc = vt_test_sh(cmd, &out);
	cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
	free(out);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(
	    j, "vitals_check_duration_seconds{check=\"self\"}");
	const cJSON *c = cJSON_GetObjectItem(h, "count");
	const cJSON *p = cJSON_GetObjectItem(h, "p99");
	int ok = cJSON_IsNumber(c) && cJSON_IsNumber(p);
	if (ok) {
		*count = c->valuedouble;
		*p99 = p->valuedouble;
	}
	cJSON_Delete(j);
	return ok;
}

/* n fresh /health requests on one keep-alive connection: each runs the
 * self check once. */
static void run_checks(int n)
{
	vt_test_conn c;
	vt_test_conn_init(&c);
	int port = atoi(strchr(vd.http, ':') + 1);
	CU_ASSERT_FATAL(vt_test_conn_open(&c, port) == 0);
	for (int i = 0; i < n; i++) {
		vt_test_resp r;
		char why[256];
		if (vt_test_conn_get(&c, "/health", 10000, &r, why,
				     sizeof(why)) != 0) {
			vt_test_conn_close(&c);
			CU_ASSERT_FATAL(vt_test_conn_open(&c, port) == 0);
			continue;
		}
		free(r.body);
	}
	vt_test_conn_fini(&c);
}

static const char *scrape_config(char *buf, size_t cap, const char *extra)
{
	snprintf(buf, cap,
		 "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
		 "%s"
		 "scrape_configs:\n  - job_name: vitals\n"
		 "    static_configs:\n      - targets: ['%s']\n",
		 extra, vd.http);
	return buf;
}

static void test_native_histograms(void)
{
	CU_ASSERT_FATAL(daemon_up());
	run_checks(400);
	double count = 0, p99 = NAN;
	CU_ASSERT_FATAL(own_hist(&count, &p99));
	CU_ASSERT(count >= 400);
	char cfg[1024];
	int port;
	pid_t p = prometheus("native", scrape_config(cfg, sizeof(cfg), ""),
			     "--enable-feature=native-histograms", NULL, &port);
	CU_ASSERT_FATAL(p > 0);

	/* Wait until a scrape holds every observation made above. */
	char expr[512];
	snprintf(
	    expr, sizeof(expr),
	    "histogram_count(vitals_check_duration_seconds{check=\"self\"})"
	    " >= %.0f",
	    count);
	double seen = wait_value(port, expr);
	CU_ASSERT_FATAL(!isnan(seen));
	double again = 0, own = NAN;
	CU_ASSERT_FATAL(own_hist(&again, &own));
	CU_ASSERT_EQUAL(again, seen); /* nothing ran in between */
	double q =
	    value(port, "histogram_quantile(0.99, "
			"vitals_check_duration_seconds{check=\"self\"})");
	fprintf(stderr, "p99: vitals %.9g, Prometheus (native) %.9g, n=%.0f\n",
		own, q, seen);
	CU_ASSERT(fabs(q - own) <= 0.022 * own);
	/* The sum and the other families came through too. */
	CU_ASSERT(value(port, "histogram_sum(vitals_check_duration_seconds{"
			      "check=\"self\"})") > 0);
	CU_ASSERT_EQUAL(value(port, "vitals_check_status{check=\"down\"}"), 2);
	CU_ASSERT(value(port, "process_resident_memory_bytes{job=\"vitals\"}") >
		  1e5);
	CU_ASSERT(value(port, "process_open_fds{job=\"vitals\"}") > 3);

	/* Every query of the shipped dashboard parses and runs. */
	char *text =
	    vt_test_read_file(DEPLOY "/grafana/vitals-dashboard.json", NULL);
	cJSON *dash = cJSON_Parse(text);
	free(text);
	CU_ASSERT_FATAL(dash != NULL);
	const cJSON *panel, *target;
	int nq = 0;
	cJSON_ArrayForEach(panel, cJSON_GetObjectItem(dash, "panels"))
	{
		cJSON_ArrayForEach(target,
				   cJSON_GetObjectItem(panel, "targets"))
		{
			char e[1024], *o = e;
			const char *s =
			    cJSON_GetObjectItem(target, "expr")->valuestring;
			/* Grafana's variables, as Grafana fills them in. */
			while (*s != '\0' && o < e + sizeof(e) - 8) {
				if (strncmp(s, "$__rate_interval", 16) == 0)
					o += sprintf(o, "1m"), s += 16;
				else if (strncmp(s, "$instance", 9) == 0)
					o += sprintf(o, ".*"), s += 9;
				else if (strncmp(s, "$window", 7) == 0)
					o += sprintf(o, "30d"), s += 7;
				else
					*o++ = *s++;
			}
			*o = '\0';
			cJSON *r = query(port, e, 0);
			if (r == NULL)
				fprintf(stderr, "dashboard query fails: %s\n",
					e);
			CU_ASSERT_PTR_NOT_NULL(r);
			cJSON_Delete(r);
			nq++;
		}
	}
	CU_ASSERT(nq >= 7);
	cJSON_Delete(dash);
	CU_ASSERT_EQUAL(vt_test_stop(p), 0);
}

static void test_agent_remote_write(void)
{
	CU_ASSERT_FATAL(daemon_up());
	int rport;
	pid_t recv =
	    prometheus("central", "global:\n  scrape_interval: 1s\n",
		       "--web.enable-remote-write-receiver", NULL, &rport);
	CU_ASSERT_FATAL(recv > 0);
	char extra[512], full[2048];
	snprintf(extra, sizeof(extra),
		 "  external_labels:\n    host: host-1\n"
		 "remote_write:\n  - url: http://127.0.0.1:%d/api/v1/write\n"
		 "    queue_config:\n      batch_send_deadline: 1s\n",
		 rport);
	snprintf(full, sizeof(full),
		 "global:\n  scrape_interval: 1s\n%s"
		 "scrape_configs:\n  - job_name: vitals\n"
		 "    static_configs:\n      - targets: ['%s']\n",
		 extra, vd.http);
	int aport;
	pid_t agent =
	    prometheus("agent", full, "--enable-feature=agent", NULL, &aport);
	CU_ASSERT_FATAL(agent > 0);

	/* vitals' series arrive at the central store, with the host. */
	CU_ASSERT_EQUAL(wait_value(rport, "vitals_check_status{check=\"down\","
					  "host=\"host-1\",job=\"vitals\"}"),
			2);
	CU_ASSERT_EQUAL(wait_value(rport, "vitals_check_status{check=\"self\","
					  "host=\"host-1\"}"),
			0);
	CU_ASSERT(wait_value(rport, "process_cpu_seconds_total{host="
				    "\"host-1\"}") >= 0);
	CU_ASSERT(wait_value(rport, "vitals_check_runs_total{check=\"down\","
				    "result=\"unhealthy\"}") >= 1);
	/* The agent asked for OpenMetrics: counters' _created came along,
	 * and the classic buckets answer histogram_quantile. */
	CU_ASSERT(wait_value(rport, "vitals_check_runs_created{check="
				    "\"down\",result=\"unhealthy\"}") > 1.7e9);
	double own_n = 0, own99 = NAN;
	CU_ASSERT_FATAL(own_hist(&own_n, &own99));
	double q = wait_value(rport, "histogram_quantile(0.99, sum by (le) "
				     "(vitals_check_duration_seconds_bucket{"
				     "check=\"self\"}))");
	/* Classic buckets (5 ms .. 10 s): p99 lies in the one that holds
	 * vitals' own p99. */
	CU_ASSERT(!isnan(q) && q > 0 && q <= 0.005 + 1e-12 && own99 <= 0.005);
	CU_ASSERT_EQUAL(vt_test_stop(agent), 0);
	CU_ASSERT_EQUAL(vt_test_stop(recv), 0);
}

static void test_rules_unit_tests(void)
{
	char *out = NULL;
	int rc = vt_test_sh("cd " DEPLOY "/prometheus && promtool test rules "
			    "vitals.rules.test.yml 2>&1",
			    &out);
	if (rc != 0)
		fprintf(stderr, "%s\n", out != NULL ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
}

/* Copies src to tmpdir/name through the sed script; the path into out. */
static void sed_copy(const char *src, const char *script, const char *name,
		     char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", vt_test_tmpdir(), name);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "sed %s %s > %s", script, src, out);
	CU_ASSERT_FATAL(vt_test_sh(cmd, NULL) == 0);
}

static void test_alert_reaches_telegram(void)
{
	CU_ASSERT_FATAL(daemon_up());
	vt_test_httpd *tg = vt_test_httpd_start();
	CU_ASSERT_FATAL(tg != NULL);
	char url[256], script[1024], amcfg[512], rules[512], cmd[1024];
	vt_test_httpd_url(tg, "", url, sizeof(url));
	snprintf(script, sizeof(script),
		 "-e 's#api_url: .*#api_url: %s#' "
		 "-e 's#group_wait: .*#group_wait: 1s#'",
		 url);
	sed_copy(DEPLOY "/alertmanager/alertmanager.yml", script,
		 "alertmanager.yml", amcfg, sizeof(amcfg));
	snprintf(cmd, sizeof(cmd), "amtool check-config %s >/dev/null", amcfg);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, NULL), 0);
	sed_copy(DEPLOY "/prometheus/vitals.rules.yml",
		 "-e 's#for: .*#for: 0s#'", "vitals.rules.yml", rules,
		 sizeof(rules));

	int amport = vt_test_free_port();
	char a1[600], a2[600], a3[128], log[512];
	snprintf(a1, sizeof(a1), "--config.file=%s", amcfg);
	snprintf(a2, sizeof(a2), "--storage.path=%s/am-data", vt_test_tmpdir());
	snprintf(a3, sizeof(a3), "--web.listen-address=127.0.0.1:%d", amport);
	snprintf(log, sizeof(log), "%s/am.log", vt_test_tmpdir());
	char *argv[] = {"/usr/bin/prometheus-alertmanager", a1,	 a2, a3,
			"--cluster.listen-address=",	    NULL};
	pid_t am = vt_test_spawn(argv, log);
	CU_ASSERT_FATAL(am > 0 && vt_test_wait_port(amport, 20000));

	char extra[1024], cfg[2048];
	snprintf(extra, sizeof(extra),
		 "rule_files: ['%s']\n"
		 "alerting:\n  alertmanagers:\n    - static_configs:\n"
		 "        - targets: ['127.0.0.1:%d']\n",
		 rules, amport);
	int pport;
	pid_t p = prometheus("alerting", scrape_config(cfg, sizeof(cfg), extra),
			     NULL, NULL, &pport);
	CU_ASSERT_FATAL(p > 0);

	/* The down check fires; Alertmanager calls the stand-in. */
	vt_test_request q = {0};
	double t0 = vt_test_now_ms();
	int got = 0;
	while (!got && vt_test_now_ms() - t0 < WAIT_MS) {
		vt_test_sleep_ms(250);
		got = vt_test_httpd_last(tg, &q) &&
		      strstr(q.target, "/sendMessage") != NULL;
	}
	CU_ASSERT_FATAL(got);
	CU_ASSERT_STRING_EQUAL(q.method, "POST");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(q.target, "/bot123456789:REPLACE-WITH-THE-BOT-TOKEN/"));
	CU_ASSERT_PTR_NOT_NULL(strstr(q.body, "VitalsCheckUnhealthy"));
	CU_ASSERT_PTR_NOT_NULL(strstr(q.body, "Check down on"));
	CU_ASSERT_PTR_NOT_NULL(strstr(q.body, "-1001234567890"));
	CU_ASSERT_EQUAL(vt_test_stop(p), 0);
	CU_ASSERT_EQUAL(vt_test_stop(am), 0);
	vt_test_httpd_stop(tg);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"native histograms scraped by Prometheus", test_native_histograms},
	    {"agent mode remote_write to a central Prometheus",
	     test_agent_remote_write},
	    {"promtool test rules", test_rules_unit_tests},
	    {"alert through Alertmanager to Telegram",
	     test_alert_reaches_telegram},
	    {NULL, NULL},
	};
	return vt_test_main("prometheus", tests);
}
