/*
 * test_alerts.c - alerts from a real vitalsd to real HTTP receivers on
 * loopback (support_httpd.c: a stand-in for the Telegram Bot API and a
 * webhook endpoint), with a real redis-server and real sockets:
 *   - redis killed and restarted: exactly one "triggered" and one
 *     "resolved" Telegram message, in order, as Telegram would get them
 *     (POST /bot<token>/sendMessage, {"chat_id","text"}); the token is
 *     in no log line;
 *   - reminders at the configured interval for a missing heartbeat;
 *   - the receiver down (connection refused), then answering 500, then
 *     429 with retry_after: every alert delivered once it is back, in
 *     order, none lost, none repeated but as a retry of one that was not
 *     acknowledged; the 429's retry_after obeyed; the signature checks;
 *   - vitalsd SIGKILLed with deliveries pending: sent after the restart;
 *   - a receiver that hangs: /health answers as fast as before;
 *   - a maintenance window: no message, "maintenance":true shown.
 * Checks run every 100 ms and retries back off from 100 ms, so each
 * case takes seconds.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support_daemon.h"
#include "support_http.h"
#include "support_httpd.h"
#include "support_servers.h"
#include "testutil.h"
#include "vitals/client.h"

#define TOKEN  "123456:SECRET-bot-token_xyz"
#define SECRET "hook-secret-42"

/* ---- helpers ------------------------------------------------------ */

/* The tcp check's target: a listener on 127.0.0.1:port whose thread
 * accepts and closes every connection, so the check is healthy while
 * it is open and refused once it is closed. */
typedef struct target {
	int fd;
	int stop[2];
	pthread_t thread;
} target;

static void *target_main(void *arg)
{
	target *t = arg;
	struct pollfd p[2] = {{.fd = t->fd, .events = POLLIN},
			      {.fd = t->stop[0], .events = POLLIN}};
	while (poll(p, 2, -1) >= 0 && p[1].revents == 0) {
		int c = accept(t->fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

/* Opens t on port; 0 on success. */
static int target_open(target *t, int port)
{
	/* CLOEXEC: a vitalsd spawned later must not hold it open. */
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (t->fd < 0 ||
	    setsockopt(t->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(t->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(t->fd, 16) != 0 || pipe(t->stop) != 0) {
		perror("target");
		if (t->fd >= 0)
			close(t->fd);
		return -1;
	}
	if (pthread_create(&t->thread, NULL, target_main, t) != 0) {
		close(t->fd);
		close(t->stop[0]);
		close(t->stop[1]);
		return -1;
	}
	return 0;
}

static void target_close(target *t)
{
	if (write(t->stop[1], "x", 1) != 1)
		perror("target stop");
	pthread_join(t->thread, NULL);
	close(t->fd);
	close(t->stop[0]);
	close(t->stop[1]);
}

/* Requests r answered with status (0 = any), of n. */
static int count_status(const vt_test_request *r, int n, int status)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (status == 0 || r[i].status == status)
			k++;
	return k;
}

static vt_test_request reqs[VT_TEST_RECV_MAX];

/* Waits up to ms for s to have answered want requests with 200; returns
 * the number of requests logged (copied into reqs). */
static int wait_ok(vt_test_httpd *s, int want, int ms)
{
	double end = vt_test_now_ms() + ms;
	int n;
	for (;;) {
		n = vt_test_receiver_requests(s, reqs, VT_TEST_RECV_MAX);
		if (count_status(reqs, n, 200) >= want ||
		    vt_test_now_ms() > end)
			return n;
		vt_test_sleep_ms(50);
	}
}

/* The JSON value of key in webhook body b as a string ("" if none). */
static void body_field(const char *b, const char *key, char *out, size_t cap)
{
	out[0] = '\0';
	cJSON *j = cJSON_Parse(b);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (cJSON_IsString(v))
		snprintf(out, cap, "%s", v->valuestring);
	cJSON_Delete(j);
}

/* The Telegram message text of request q ("" if none). */
static void tg_text(const vt_test_request *q, char *out, size_t cap)
{
	body_field(q->body, "text", out, cap);
}

static void assert_log_clean(const vt_test_daemon *d)
{
	char *log = vt_test_daemon_log(d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NULL(strstr(log, TOKEN));
	CU_ASSERT_PTR_NULL(strstr(log, "SECRET-bot"));
	CU_ASSERT_PTR_NULL(strstr(log, SECRET));
	CU_ASSERT_PTR_NULL(strstr(log, "hookpw"));
	free(log);
}

/* GET path on the daemon; status, body into out. */
static int get(const vt_test_daemon *d, const char *path, char *out, size_t cap,
	       double *ms)
{
	vt_test_conn c;
	vt_test_conn_init(&c);
	int status = -1;
	char why[256];
	vt_test_resp r = {0};
	double t0 = vt_test_now_ms();
	if (vt_test_conn_open(&c, d->http_port) == 0 &&
	    vt_test_conn_get(&c, path, 5000, &r, why, sizeof(why)) == 0) {
		status = r.status;
		if (out != NULL)
			snprintf(out, cap, "%s", r.body != NULL ? r.body : "");
	}
	if (ms != NULL)
		*ms = vt_test_now_ms() - t0;
	free(r.body);
	vt_test_conn_fini(&c);
	return status;
}

/* ---- redis down and up: Telegram ------------------------------------ */

static void test_redis_telegram(void)
{
	vt_test_server redis = {0};
	CU_ASSERT_EQUAL_FATAL(vt_test_redis_start(&redis, 0, NULL), 0);
	vt_test_httpd *tg = vt_test_receiver_start(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tg);
	setenv("TG_TOKEN", TOKEN, 1);
	char top[1024], checks[512];
	snprintf(top, sizeof(top),
		 "\"state\": \"%s/tg.db\", \"notify\": [{\"name\": \"ops\", "
		 "\"type\": \"telegram\", \"token_env\": \"TG_TOKEN\", "
		 "\"chat_id\": \"-100123\", \"api_url\": "
		 "\"http://127.0.0.1:%d\", \"checks\": [\"redis\"], \"on\": "
		 "[\"unhealthy\", \"degraded\", \"resolved\"], "
		 "\"retry_min_ms\": 100}],",
		 vt_test_tmpdir(), vt_test_httpd_port(tg));
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"redis\", \"type\": \"redis\", \"url\": "
		 "\"redis://127.0.0.1:%d/0\", \"interval_ms\": 100, "
		 "\"timeout_ms\": 500}",
		 redis.port);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "tg", top, checks, 0));
	vt_test_sleep_ms(800); /* healthy results seen: no message */
	CU_ASSERT_EQUAL(vt_test_httpd_count(tg), 0);

	vt_test_srv_kill(&redis);
	int n = wait_ok(tg, 1, 8000);
	if (n != 1) {
		char *log = vt_test_daemon_log(&d);
		fprintf(stderr, "%s\n", log);
		free(log);
	}
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL_FATAL(vt_test_redis_start(&redis, redis.port, NULL), 0);
	n = wait_ok(tg, 2, 8000);
	vt_test_sleep_ms(800); /* nothing more comes */
	n = vt_test_receiver_requests(tg, reqs, VT_TEST_RECV_MAX);
	CU_ASSERT_EQUAL_FATAL(n, 2);

	char text[1024];
	CU_ASSERT_STRING_EQUAL(reqs[0].method, "POST");
	CU_ASSERT_STRING_EQUAL(reqs[0].target, "/bot" TOKEN "/sendMessage");
	char ct[128] = "";
	vt_test_request_header(&reqs[0], "Content-Type", ct, sizeof(ct));
	CU_ASSERT_STRING_EQUAL(ct, "application/json");
	char chat[64];
	body_field(reqs[0].body, "chat_id", chat, sizeof(chat));
	CU_ASSERT_STRING_EQUAL(chat, "-100123");
	tg_text(&reqs[0], text, sizeof(text));
	fprintf(stderr, "\n  triggered: %s\n", text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "redis is UNHEALTHY\nsince "));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nerror: "));
	tg_text(&reqs[1], text, sizeof(text));
	fprintf(stderr, "  resolved: %s\n", text);
	CU_ASSERT_STRING_EQUAL(reqs[1].target, "/bot" TOKEN "/sendMessage");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(text, "redis is HEALTHY again (was UNHEALTHY)\ndown for "));
	assert_log_clean(&d);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(tg);
	vt_test_srv_stop(&redis);
}

/* ---- reminders ------------------------------------------------------ */

static void test_reminders(void)
{
	vt_test_httpd *hook = vt_test_receiver_start(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	char top[1024];
	snprintf(top, sizeof(top),
		 "\"state\": \"%s/remind.db\", \"notify\": [{\"name\": "
		 "\"hook\", \"type\": \"webhook\", \"url\": "
		 "\"http://127.0.0.1:%d/hook\", \"remind_ms\": 700}],",
		 vt_test_tmpdir(), vt_test_httpd_port(hook));
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(
	    &d, "remind", top,
	    "{\"name\": \"cron\", \"type\": \"heartbeat\", \"ttl_ms\": 300, "
	    "\"interval_ms\": 100}",
	    0));
	/* No beat ever comes: triggered after the ttl, then reminders. */
	CU_ASSERT_FATAL(wait_ok(hook, 1, 5000) >= 1);
	double t0 = vt_test_now_ms();
	vt_test_sleep_ms(2450);
	int n = vt_test_receiver_requests(hook, reqs, VT_TEST_RECV_MAX);
	char kind[32], err[128];
	body_field(reqs[0].body, "kind", kind, sizeof(kind));
	CU_ASSERT_STRING_EQUAL(kind, "triggered");
	body_field(reqs[0].body, "error", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no heartbeat for "));
	/* 2.45 s at one every 0.7 s: 3 reminders (2..4 with scheduling). */
	fprintf(stderr, "\n  %d reminders in %.0f ms\n", n - 1,
		vt_test_now_ms() - t0);
	CU_ASSERT(n - 1 >= 2 && n - 1 <= 4);
	for (int i = 1; i < n; i++) {
		body_field(reqs[i].body, "kind", kind, sizeof(kind));
		CU_ASSERT_STRING_EQUAL(kind, "reminder");
	}
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
}

/* ---- the receiver down, 500, 429, back ----------------------------- */

/* Config of a webhook notifier "hook" to port, signed, for check "port"
 * (a tcp check of tport), with the given state file. */
static void hook_config(char *top, size_t tcap, char *checks, size_t ccap,
			const char *db, int port, int tport, int timeout_ms)
{
	snprintf(top, tcap,
		 "\"state\": \"%s/%s\", \"notify\": [{\"name\": \"hook\", "
		 "\"type\": \"webhook\", \"url\": "
		 "\"http://ops:hookpw@127.0.0.1:%d/in\", \"secret_env\": "
		 "\"HOOK_SECRET\", \"headers\": {\"X-Team\": "
		 "\"ops\"}, \"retry_min_ms\": 100, \"retry_max_ms\": 400, "
		 "\"timeout_ms\": %d}],",
		 vt_test_tmpdir(), db, port, timeout_ms);
	snprintf(checks, ccap,
		 "{\"name\": \"port\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:%d\", \"interval_ms\": 100, \"timeout_ms\": 300}",
		 tport);
}

/* Closes and reopens the target cycles times, leaving time for each
 * state to be seen. */
static int flap(target *t, int tport, int cycles)
{
	for (int i = 0; i < cycles; i++) {
		target_close(t);
		vt_test_sleep_ms(900);
		if (target_open(t, tport) != 0)
			return 0;
		vt_test_sleep_ms(900);
	}
	return 1;
}

/* 1 if q carries the right X-Vitals-Signature for its body. */
static int signature_ok(const vt_test_request *q)
{
	char got[128] = "", want[80] = "sha256=";
	unsigned char mac[32];
	unsigned int ml = 0;
	vt_test_request_header(q, "X-Vitals-Signature", got, sizeof(got));
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	     (const unsigned char *)q->body, strlen(q->body), mac, &ml);
	for (int i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	return strcmp(got, want) == 0;
}

static void test_receiver_outage(void)
{
	setenv("HOOK_SECRET", SECRET, 1);
	int port = vt_test_free_port(), tport = vt_test_free_port();
	target tg;
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	char top[1024], checks[512];
	hook_config(top, sizeof(top), checks, sizeof(checks), "outage.db", port,
		    tport, 2000);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "outage", top, checks, 0));
	vt_test_sleep_ms(500);

	/* Down (refused): two outages come and go. */
	CU_ASSERT_FATAL(flap(&tg, tport, 2));
	/* Back, answering 500, then 429 retry_after 1, then 200. */
	vt_test_httpd *hook = vt_test_receiver_start(port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	vt_test_receiver_mode(hook, VT_RECV_500, 0);
	vt_test_sleep_ms(1000);
	vt_test_receiver_mode(hook, VT_RECV_429, 1);
	double t429 = vt_test_now_ms(); /* the 429 is answered once */
	while (count_status(reqs, vt_test_receiver_requests(hook, reqs, 256),
			    429) == 0 &&
	       vt_test_now_ms() < t429 + 3000)
		vt_test_sleep_ms(20);
	vt_test_sleep_ms(300);
	vt_test_receiver_mode(hook, VT_RECV_OK, 0);
	int n = wait_ok(hook, 4, 10000);
	vt_test_sleep_ms(800);
	n = vt_test_receiver_requests(hook, reqs, VT_TEST_RECV_MAX);
	CU_ASSERT_FATAL(n >= 4 && n < VT_TEST_RECV_MAX);

	/* 429 obeyed: nothing within ~1 s of it. */
	int n500 = count_status(reqs, n, 500),
	    n429 = count_status(reqs, n, 429);
	fprintf(stderr, "\n  %d requests: %d x 500, %d x 429, %d x 200\n", n,
		n500, n429, count_status(reqs, n, 200));
	CU_ASSERT(n500 >= 2);
	CU_ASSERT_EQUAL(n429, 1);
	int i429 = 0;
	while (reqs[i429].status != 429)
		i429++;
	CU_ASSERT_FATAL(i429 + 1 < n);
	CU_ASSERT_EQUAL(reqs[i429 + 1].status, 200);
	double gap = reqs[i429 + 1].at_ms - reqs[i429].at_ms;
	fprintf(stderr, "  retry %.0f ms after the 429 (retry_after 1)\n", gap);
	CU_ASSERT(gap >= 950);

	/* Every acknowledged id once, in order; each unacknowledged one is
	 * the same id as the next request (a retry); all signed. */
	const char *want[] = {"triggered", "resolved", "triggered", "resolved"};
	char ids[8][64];
	int k = 0;
	for (int i = 0; i < n; i++) {
		char id[64], kind[32], check[32], team[32] = "";
		body_field(reqs[i].body, "id", id, sizeof(id));
		body_field(reqs[i].body, "kind", kind, sizeof(kind));
		body_field(reqs[i].body, "check", check, sizeof(check));
		CU_ASSERT_STRING_EQUAL(check, "port");
		CU_ASSERT(signature_ok(&reqs[i]));
		vt_test_request_header(&reqs[i], "X-Team", team, sizeof(team));
		CU_ASSERT_STRING_EQUAL(team, "ops");
		if (reqs[i].status != 200) {
			char next[64] = "";
			if (i + 1 < n)
				body_field(reqs[i + 1].body, "id", next,
					   sizeof(next));
			CU_ASSERT_STRING_EQUAL(id, next);
			continue;
		}
		CU_ASSERT_FATAL(k < 4);
		CU_ASSERT_STRING_EQUAL(kind, want[k]);
		for (int j = 0; j < k; j++)
			CU_ASSERT_STRING_NOT_EQUAL(ids[j], id);
		snprintf(ids[k++], sizeof(ids[0]), "%s", id);
	}
	CU_ASSERT_EQUAL(k, 4);
	assert_log_clean(&d);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
	target_close(&tg);
}

/* ---- kill -9 with deliveries pending --------------------------------- */

/* The number of messages waiting in the outbox of the state database at
 * path (read-only, beside the running daemon), or -1. */
static int outbox_rows(const char *path)
{
	sqlite3 *db;
	int n = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK) {
		sqlite3_busy_timeout(db, 1000);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM vt_outbox", -1,
				       &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				n = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
		}
	}
	sqlite3_close(db);
	return n;
}

/* Waits up to ms for want messages in the outbox; the count seen. */
static int wait_outbox(const char *path, int want, int ms)
{
	double end = vt_test_now_ms() + ms;
	int n;
	while ((n = outbox_rows(path)) != want && vt_test_now_ms() < end)
		vt_test_sleep_ms(50);
	return n;
}

static void test_kill_pending(void)
{
	setenv("HOOK_SECRET", SECRET, 1);
	int port = vt_test_free_port(), tport = vt_test_free_port();
	target tg;
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	char top[1024], checks[512];
	hook_config(top, sizeof(top), checks, sizeof(checks), "kill.db", port,
		    tport, 2000);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "kill", top, checks, 0));
	vt_test_sleep_ms(500);
	/* Receiver down: the down and the up wait in the outbox. A slow
	 * (TSan) daemon may need longer than flap's pauses to see each
	 * state, so each is waited for in the database itself. */
	char db[512];
	snprintf(db, sizeof(db), "%s/kill.db", vt_test_tmpdir());
	target_close(&tg);
	CU_ASSERT_EQUAL_FATAL(wait_outbox(db, 1, 20000), 1);
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	CU_ASSERT_EQUAL_FATAL(wait_outbox(db, 2, 20000), 2);
	kill(d.pid, SIGKILL);
	CU_ASSERT_EQUAL(vt_test_wait_exit(d.pid, 5000), 128 + SIGKILL);

	vt_test_httpd *hook = vt_test_receiver_start(port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "kill", top, checks, 0));
	int n = wait_ok(hook, 2, 20000); /* TSan: a slow restart */
	vt_test_sleep_ms(1000); /* and nothing more: no repeat on restart */
	n = vt_test_receiver_requests(hook, reqs, VT_TEST_RECV_MAX);
	CU_ASSERT_EQUAL(n, 2);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "  after restart %d: %d %.80s\n", i,
			reqs[i].status, reqs[i].body);
	char kind[32];
	if (n >= 2) {
		body_field(reqs[0].body, "kind", kind, sizeof(kind));
		CU_ASSERT_STRING_EQUAL(kind, "triggered");
		body_field(reqs[1].body, "kind", kind, sizeof(kind));
		CU_ASSERT_STRING_EQUAL(kind, "resolved");
	}
	/* A fresh outage after the restart is told once. */
	target_close(&tg);
	n = wait_ok(hook, 3, 15000);
	vt_test_sleep_ms(500);
	n = vt_test_receiver_requests(hook, reqs, VT_TEST_RECV_MAX);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
}

/* ---- a hanging receiver ---------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Latencies of n requests, /health?cache=true and fresh /health/port
 * in turn: the median into *median, the worst into *worst. */
static void latencies(const vt_test_daemon *d, int n, double *median,
		      double *worst)
{
	double ms[64];
	for (int i = 0; i < n && i < 64; i++) {
		CU_ASSERT(get(d, i % 2 ? "/health?cache=true" : "/health/port",
			      NULL, 0, &ms[i]) > 0);
		vt_test_sleep_ms(20);
	}
	qsort(ms, (size_t)n, sizeof(ms[0]), cmp_double);
	*median = ms[n / 2];
	*worst = ms[n - 1];
}

static void test_hanging_receiver(void)
{
	setenv("HOOK_SECRET", SECRET, 1);
	vt_test_httpd *hook = vt_test_receiver_start(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	vt_test_receiver_mode(hook, VT_RECV_HANG, 0);
	int tport = vt_test_free_port();
	target tg;
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	char top[1024], checks[512];
	hook_config(top, sizeof(top), checks, sizeof(checks), "hang.db",
		    vt_test_httpd_port(hook), tport, 30000);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "hang", top, checks, 0));
	vt_test_sleep_ms(300);
	double before, before_worst, during, during_worst;
	latencies(&d, 21, &before, &before_worst);
	target_close(&tg); /* an alert, whose delivery hangs */
	double end = vt_test_now_ms() + 5000;
	while (vt_test_httpd_count(hook) == 0 && vt_test_now_ms() < end)
		vt_test_sleep_ms(20);
	CU_ASSERT_FATAL(vt_test_httpd_count(hook) == 1);
	latencies(&d, 21, &during, &during_worst);
	fprintf(stderr,
		"\n  /health median (worst): %.1f (%.1f) ms before, %.1f "
		"(%.1f) ms during\n",
		before, before_worst, during, during_worst);
	/* Blocked by the sender, a request would wait for its 30 s
	 * timeout; scheduling noise (sanitizers, a busy machine) is far
	 * below a second. */
	CU_ASSERT(during < before + 50);
	CU_ASSERT(during_worst < 1000);
	/* The check kept running: port is reported unhealthy. */
	char body[8192];
	CU_ASSERT_EQUAL(get(&d, "/health/port", body, sizeof(body), NULL), 503);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
}

/* ---- maintenance window ---------------------------------------------- */

static void test_maintenance_window(void)
{
	vt_test_httpd *hook = vt_test_receiver_start(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	int tport = vt_test_free_port();
	target tg;
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	char start[32];
	time_t t = time(NULL) - 60;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char top[1024], checks[512];
	snprintf(
	    top, sizeof(top),
	    "\"state\": \"%s/maint.db\", \"notify\": [{\"name\": \"hook\", "
	    "\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d/in\"}], "
	    "\"maintenance\": [{\"checks\": [\"port\"], \"start\": \"%s\", "
	    "\"duration_ms\": 3600000, \"every\": \"daily\"}],",
	    vt_test_tmpdir(), vt_test_httpd_port(hook), start);
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"port\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:%d\", \"interval_ms\": 100, \"timeout_ms\": 300}",
		 tport);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "maint", top, checks, 0));
	vt_test_sleep_ms(500);
	target_close(&tg);
	vt_test_sleep_ms(1500);
	CU_ASSERT_EQUAL(vt_test_httpd_count(hook), 0);
	char body[8192];
	CU_ASSERT_EQUAL(get(&d, "/health/port", body, sizeof(body), NULL), 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"maintenance\":true"));
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
}

/* ---- beats and silences, with a token --------------------------------- */

#define ADMIN_TOKEN "admin-token-1234"

/* curl -X POST http://addr/health/NAME/beat [with the token]; the HTTP
 * status. */
static int http_beat(const vt_test_daemon *d, const char *name, bool token)
{
	char cmd[512], *out = NULL;
	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code}' --max-time 10 -X "
		 "POST %s http://%s/health/%s/beat",
		 token ? "-H 'Authorization: Bearer " ADMIN_TOKEN "'" : "",
		 d->http, name);
	int rc = vt_test_sh(cmd, &out);
	int status = rc == 0 && out != NULL ? atoi(out) : -1;
	free(out);
	return status;
}

/* vitalsctl --url RPC ARGS [with VITALS_TOKEN]; its exit status. */
static int ctl(const vt_test_daemon *d, const char *args, bool token)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s --url %s %s >/dev/null 2>&1",
		 token ? "VITALS_TOKEN=" ADMIN_TOKEN : "env -u VITALS_TOKEN",
		 VT_TEST_VITALSCTL, d->rpc, args);
	return vt_test_sh(cmd, NULL);
}

static void test_silence_and_beats(void)
{
	setenv("ADMIN_TOKEN_VAR", ADMIN_TOKEN, 1);
	/* hook hears about port, beats about cron (whose beats a slow
	 * sanitizer build may miss early on). */
	vt_test_httpd *hook = vt_test_receiver_start(0);
	vt_test_httpd *beats = vt_test_receiver_start(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hook);
	CU_ASSERT_PTR_NOT_NULL_FATAL(beats);
	int tport = vt_test_free_port();
	target tg;
	CU_ASSERT_FATAL(target_open(&tg, tport) == 0);
	char top[1024], checks[512];
	snprintf(
	    top, sizeof(top),
	    "\"token_env\": \"ADMIN_TOKEN_VAR\", \"state\": "
	    "\"%s/silence.db\", \"notify\": [{\"name\": \"hook\", "
	    "\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d/in\", "
	    "\"checks\": [\"port\"]}, {\"name\": \"beats\", \"type\": "
	    "\"webhook\", \"url\": \"http://127.0.0.1:%d/in\", \"checks\": "
	    "[\"cron\"]}],",
	    vt_test_tmpdir(), vt_test_httpd_port(hook),
	    vt_test_httpd_port(beats));
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"port\", \"type\": \"tcp\", \"address\": "
		 "\"127.0.0.1:%d\", \"interval_ms\": 100, \"timeout_ms\": 300},"
		 "{\"name\": \"cron\", \"type\": \"heartbeat\", \"ttl_ms\": "
		 "3000, \"interval_ms\": 100}",
		 tport);
	vt_test_daemon d;
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "silence", top, checks, 0));

	/* Beats: HTTP, vitalsctl and the RPC, each needing the token. */
	CU_ASSERT_EQUAL(http_beat(&d, "cron", false), 401);
	CU_ASSERT_EQUAL(http_beat(&d, "cron", true), 200);
	CU_ASSERT_EQUAL(http_beat(&d, "port", true), 400);
	CU_ASSERT_EQUAL(http_beat(&d, "nope", true), 404);
	/* Any other method: 405 with the one allowed. */
	char cmd[512], *out = NULL;
	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -D - --max-time 10 "
		 "http://%s/health/cron/beat",
		 d.http);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out ? out : "", " 405"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out ? out : "", "Allow: POST\r\n"));
	free(out);
	CU_ASSERT_EQUAL(ctl(&d, "beat cron", false), 3);
	CU_ASSERT_EQUAL(ctl(&d, "beat cron", true), 0);
	vt_client *c = NULL;
	CU_ASSERT_EQUAL_FATAL(vt_client_connect(&c, d.rpc, 5000), VT_OK);
	CU_ASSERT_EQUAL(vt_client_beat(c, "cron"), VT_EAUTH);
	CU_ASSERT_EQUAL(vt_client_set_token(c, ADMIN_TOKEN), VT_OK);
	CU_ASSERT_EQUAL(vt_client_beat(c, "cron"), VT_OK);
	CU_ASSERT_EQUAL(vt_client_beat(c, "nope"), VT_ENOENT);

	/* Silenced: the outage is recorded and shown, not alerted. */
	CU_ASSERT_EQUAL(ctl(&d, "silence port 1m", false), 3);
	CU_ASSERT_EQUAL(ctl(&d, "silence port 1m", true), 0);
	for (int i = 0; i < 10; i++) { /* cron kept alive meanwhile */
		if (i == 2)
			target_close(&tg);
		CU_ASSERT_EQUAL(vt_client_beat(c, "cron"), VT_OK);
		vt_test_sleep_ms(150);
	}
	int n = vt_test_receiver_requests(hook, reqs, VT_TEST_RECV_MAX);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "unexpected: %s\n", reqs[i].body);
	CU_ASSERT_EQUAL(n, 0);
	char body[8192];
	CU_ASSERT_EQUAL(get(&d, "/health/port", body, sizeof(body), NULL), 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"maintenance\":true"));
	/* Unsilenced: the outage that goes on is told now. */
	CU_ASSERT_EQUAL(ctl(&d, "unsilence port", true), 0);
	n = wait_ok(hook, 1, 5000);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	char check[32], kind[32];
	body_field(reqs[0].body, "check", check, sizeof(check));
	body_field(reqs[0].body, "kind", kind, sizeof(kind));
	CU_ASSERT_STRING_EQUAL(check, "port");
	CU_ASSERT_STRING_EQUAL(kind, "triggered");

	/* Beats stop: the heartbeat is missed and told. */
	int n0 = vt_test_receiver_requests(beats, reqs, VT_TEST_RECV_MAX);
	double end = vt_test_now_ms() + 12000;
	bool told = false;
	while (!told && vt_test_now_ms() < end) {
		vt_test_sleep_ms(100);
		n = vt_test_receiver_requests(beats, reqs, VT_TEST_RECV_MAX);
		for (int i = n0; i < n && !told; i++) {
			char err[128];
			body_field(reqs[i].body, "kind", kind, sizeof(kind));
			body_field(reqs[i].body, "error", err, sizeof(err));
			told = strcmp(kind, "triggered") == 0 &&
			       strstr(err, "no heartbeat for ") != NULL;
		}
	}
	CU_ASSERT_TRUE(told);
	vt_client_close(c);
	CU_ASSERT_EQUAL(vt_test_stop(d.pid), 0);
	vt_test_httpd_stop(hook);
	vt_test_httpd_stop(beats);
}

/* ---- the shipped example ----------------------------------------------- */

static void test_example_config(void)
{
	char cmd[1024], exe[512], *out = NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(
	    vt_test_build_path("vitalsd", exe, sizeof(exe)));
	snprintf(cmd, sizeof(cmd),
		 "TG_TOKEN=" TOKEN " %s --check-config '" VT_TEST_GOLDEN_DIR
		 "/../../config/alerts.json' 2>&1",
		 exe);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(out != NULL ? strstr(out, "ok (2 checks)")
					   : NULL);
	free(out);
	/* Without the token's variable it is refused, naming the field. */
	snprintf(cmd, sizeof(cmd),
		 "env -u TG_TOKEN %s --check-config '" VT_TEST_GOLDEN_DIR
		 "/../../config/alerts.json' 2>&1",
		 exe);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 1);
	CU_ASSERT_PTR_NOT_NULL(
	    out != NULL
		? strstr(out, "notify[0] \"ops\": field \"token_env\": "
			      "environment variable TG_TOKEN is not set")
		: NULL);
	free(out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	static const vt_test tests[] = {
	    {"redis down and up: telegram", test_redis_telegram},
	    {"reminders", test_reminders},
	    {"receiver outage", test_receiver_outage},
	    {"kill -9 with deliveries pending", test_kill_pending},
	    {"hanging receiver", test_hanging_receiver},
	    {"maintenance window", test_maintenance_window},
	    {"silence and beats", test_silence_and_beats},
	    {"example config", test_example_config},
	    {NULL, NULL}};
	return vt_test_main("alerts", tests);
}
