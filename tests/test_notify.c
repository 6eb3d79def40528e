/*
 * test_notify.c - alerts without a network: the rules (thresholds,
 * transitions, reminders), the rate limit, the retry backoff, message
 * text and webhook bodies, the HMAC signature, the outbox surviving a
 * reopen, maintenance window arithmetic, silences and heartbeats on a
 * real registry.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health/maintenance.h"
#include "notify/notify_int.h"
#include "testutil.h"
#include "vitals/health.h"
#include "vitals/notify.h"

static const vt__rule_cfg all_on = {.on = VT_ON_UNHEALTHY | VT_ON_DEGRADED |
					  VT_ON_RESOLVED,
				    .failure_threshold = 1,
				    .success_threshold = 1,
				    .remind_ms = 0};

static void test_rule_basic_transitions(void)
{
	vt__rule_state st = VT__RULE_STATE_INIT;
	vt__alert al;
	CU_ASSERT_FALSE(vt__rule_result(&all_on, &st, VT_HEALTHY, 1, &al));
	CU_ASSERT_TRUE(vt__rule_result(&all_on, &st, VT_UNHEALTHY, 2, &al));
	CU_ASSERT_EQUAL(al.kind, VT__ALERT_TRIGGERED);
	CU_ASSERT_EQUAL(al.status, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(al.previous, VT_HEALTHY);
	CU_ASSERT_EQUAL(al.since, 2);
	/* still unhealthy: nothing new */
	CU_ASSERT_FALSE(vt__rule_result(&all_on, &st, VT_UNHEALTHY, 3, &al));
	/* unhealthy -> degraded is announced, since kept */
	CU_ASSERT_TRUE(vt__rule_result(&all_on, &st, VT_DEGRADED, 4, &al));
	CU_ASSERT_EQUAL(al.kind, VT__ALERT_TRIGGERED);
	CU_ASSERT_EQUAL(al.previous, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(al.since, 2);
	CU_ASSERT_TRUE(vt__rule_result(&all_on, &st, VT_HEALTHY, 9, &al));
	CU_ASSERT_EQUAL(al.kind, VT__ALERT_RESOLVED);
	CU_ASSERT_EQUAL(al.previous, VT_DEGRADED);
	CU_ASSERT_EQUAL(al.since, 2);
	CU_ASSERT_FALSE(vt__rule_result(&all_on, &st, VT_HEALTHY, 10, &al));
}

static void test_rule_thresholds(void)
{
	vt__rule_cfg cfg = all_on;
	cfg.failure_threshold = 3;
	cfg.success_threshold = 2;
	vt__rule_state st = VT__RULE_STATE_INIT;
	vt__alert al;
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 1, &al));
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 2, &al));
	/* a success in between resets the count */
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_HEALTHY, 3, &al));
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 4, &al));
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 5, &al));
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 6, &al));
	CU_ASSERT_EQUAL(al.since, 4); /* the streak's first result */
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_HEALTHY, 7, &al));
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 8, &al));
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_HEALTHY, 9, &al));
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_HEALTHY, 10, &al));
	CU_ASSERT_EQUAL(al.kind, VT__ALERT_RESOLVED);
}

static void test_rule_on_selection(void)
{
	vt__rule_cfg cfg = all_on;
	cfg.on = VT_ON_UNHEALTHY; /* no degraded, no resolved */
	vt__rule_state st = VT__RULE_STATE_INIT;
	vt__alert al;
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_DEGRADED, 1, &al));
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 2, &al));
	CU_ASSERT_EQUAL(al.previous, VT_DEGRADED);
	/* resolved is not sent, but the state is quiet again */
	CU_ASSERT_FALSE(vt__rule_result(&cfg, &st, VT_HEALTHY, 3, &al));
	CU_ASSERT_EQUAL(st.alerted, -1);
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 4, &al));
}

static void test_rule_reminders(void)
{
	vt__rule_cfg cfg = all_on;
	cfg.remind_ms = 10000;
	vt__rule_state st = VT__RULE_STATE_INIT;
	vt__alert al;
	CU_ASSERT_FALSE(vt__rule_tick(&cfg, &st, 100, &al)); /* quiet */
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 100, &al));
	CU_ASSERT_FALSE(vt__rule_tick(&cfg, &st, 109.9, &al));
	CU_ASSERT_TRUE(vt__rule_tick(&cfg, &st, 110, &al));
	CU_ASSERT_EQUAL(al.kind, VT__ALERT_REMINDER);
	CU_ASSERT_EQUAL(al.status, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(al.since, 100);
	CU_ASSERT_FALSE(vt__rule_tick(&cfg, &st, 115, &al));
	CU_ASSERT_TRUE(vt__rule_tick(&cfg, &st, 120, &al));
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_HEALTHY, 121, &al));
	CU_ASSERT_FALSE(vt__rule_tick(&cfg, &st, 200, &al));
	cfg.remind_ms = 0;
	CU_ASSERT_TRUE(vt__rule_result(&cfg, &st, VT_UNHEALTHY, 300, &al));
	CU_ASSERT_FALSE(vt__rule_tick(&cfg, &st, 1e9, &al));
}

static void test_rate_limit(void)
{
	vt__rate r;
	CU_ASSERT_EQUAL(vt__rate_init(&r, 0, 1), VT_EINVAL);
	CU_ASSERT_EQUAL_FATAL(vt__rate_init(&r, 3, 10), VT_OK);
	CU_ASSERT_TRUE(vt__rate_take(&r, 0));
	CU_ASSERT_TRUE(vt__rate_take(&r, 1));
	CU_ASSERT_TRUE(vt__rate_take(&r, 2));
	CU_ASSERT_FALSE(vt__rate_take(&r, 3));
	CU_ASSERT_FALSE(vt__rate_take(&r, 9.9));
	CU_ASSERT_TRUE(vt__rate_take(&r, 10)); /* the one at 0 left */
	CU_ASSERT_FALSE(vt__rate_take(&r, 10.5));
	CU_ASSERT_TRUE(vt__rate_take(&r, 11));
	CU_ASSERT_TRUE(vt__rate_take(&r, 12));
	CU_ASSERT_FALSE(vt__rate_take(&r, 12));
	vt__rate_fini(&r);
}

static void test_backoff(void)
{
	CU_ASSERT_EQUAL(vt__backoff_ms(1, 100, 1000), 100);
	CU_ASSERT_EQUAL(vt__backoff_ms(2, 100, 1000), 200);
	CU_ASSERT_EQUAL(vt__backoff_ms(3, 100, 1000), 400);
	CU_ASSERT_EQUAL(vt__backoff_ms(4, 100, 1000), 800);
	CU_ASSERT_EQUAL(vt__backoff_ms(5, 100, 1000), 1000);
	CU_ASSERT_EQUAL(vt__backoff_ms(1000000, 100, 1000), 1000);
	CU_ASSERT_EQUAL(vt__backoff_ms(80, 1000, 300000), 300000);
	CU_ASSERT_EQUAL(vt__backoff_ms(1, 500, 100), 500); /* max < min */
}

static void test_durations(void)
{
	char b[32];
	vt__duration_text(0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "0s");
	vt__duration_text(65, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "1m 5s");
	vt__duration_text(3600 * 2 + 60 * 7 + 3, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "2h 7m");
	vt__duration_text(86400 * 3 + 3600 * 4, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "3d 4h");
}

/* 2026-12-02 13:20:01 UTC */
#define T0 1796217601.0

static void test_telegram_text(void)
{
	vt__msg m = {.kind = VT__ALERT_TRIGGERED,
		     .check = "redis",
		     .status = VT_UNHEALTHY,
		     .previous = VT_HEALTHY,
		     .error = "connect: Connection refused",
		     .time = T0,
		     .since = T0};
	char *t = vt__telegram_text(&m);
	CU_ASSERT_STRING_EQUAL(t, "\xf0\x9f\x94\xb4 redis is UNHEALTHY\n"
				  "since 2026-12-02 13:20:01 UTC\n"
				  "error: connect: Connection refused");
	free(t);
	m.kind = VT__ALERT_RESOLVED;
	m.status = VT_HEALTHY;
	m.previous = VT_UNHEALTHY;
	m.error = NULL;
	m.time = T0 + 65;
	t = vt__telegram_text(&m);
	CU_ASSERT_STRING_EQUAL(t, "\xe2\x9c\x85 redis is HEALTHY again (was "
				  "UNHEALTHY)\ndown for 1m 5s, since "
				  "2026-12-02 13:20:01 UTC");
	free(t);
	m.kind = VT__ALERT_REMINDER;
	m.status = m.previous = VT_UNHEALTHY;
	m.time = T0 + 3600;
	m.error = "timeout after 1000 ms";
	t = vt__telegram_text(&m);
	CU_ASSERT_STRING_EQUAL(t, "\xf0\x9f\x94\xb4 redis is still UNHEALTHY, "
				  "for 1h 0m\nsince 2026-12-02 13:20:01 UTC\n"
				  "error: timeout after 1000 ms");
	free(t);

	vt__held held[2] = {
	    {.check = "redis", .count = 5, .status = VT_UNHEALTHY},
	    {.check = "queue", .count = 1, .status = VT_HEALTHY}};
	t = vt__telegram_summary(held, 2, 20, 60);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "6 alerts held back (at most 20 per "
					 "1m 0s)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "redis: 5 changes, now UNHEALTHY"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "queue: 1 change, now HEALTHY"));
	free(t);

	t = vt__telegram_body("-100123", "a \"quoted\"\nline\x01\xff");
	CU_ASSERT_STRING_EQUAL(t,
			       "{\"chat_id\":\"-100123\",\"text\":\"a "
			       "\\\"quoted\\\"\\nline\\u0001\xef\xbf\xbd\"}");
	free(t);
	CU_ASSERT_EQUAL(vt__telegram_retry_after(
			    "{\"ok\":false,\"error_code\":429,\"parameters\":"
			    "{\"retry_after\": 7}}"),
			7);
	CU_ASSERT_EQUAL(vt__telegram_retry_after("{\"ok\":false}"), -1);
}

static void test_webhook_body_and_signature(void)
{
	vt__msg m = {.kind = VT__ALERT_TRIGGERED,
		     .check = "redis",
		     .status = VT_UNHEALTHY,
		     .previous = VT_HEALTHY,
		     .error = "no \"pong\"",
		     .time = 1764000000.5,
		     .since = 1764000000.5};
	char *b = vt__webhook_body(&m, "abc123");
	CU_ASSERT_STRING_EQUAL(
	    b, "{\"id\":\"abc123\",\"kind\":\"triggered\",\"check\":\"redis\","
	       "\"status\":\"unhealthy\",\"previous\":\"healthy\",\"error\":"
	       "\"no \\\"pong\\\"\",\"time\":1764000000.500}");
	char sig[80];
	CU_ASSERT_EQUAL(
	    vt__webhook_sign("s3cret", b, strlen(b), sig, sizeof(sig)), VT_OK);
	/* Recomputed independently. */
	unsigned char mac[32];
	unsigned int ml = 0;
	HMAC(EVP_sha256(), "s3cret", 6, (const unsigned char *)b, strlen(b),
	     mac, &ml);
	char want[80] = "sha256=";
	for (int i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	CU_ASSERT_STRING_EQUAL(sig, want);
	CU_ASSERT_EQUAL(strlen(sig), 71);
	free(b);
	m.kind = VT__ALERT_RESOLVED;
	m.error = NULL;
	b = vt__webhook_body(&m, "x");
	CU_ASSERT_PTR_NOT_NULL(strstr(b, "\"kind\":\"resolved\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(b, "\"error\":null"));
	free(b);
	vt__held held[1] = {{.check = "q", .count = 3, .status = VT_HEALTHY}};
	b = vt__webhook_summary(held, 1, "id9", 5);
	CU_ASSERT_STRING_EQUAL(
	    b, "{\"id\":\"id9\",\"kind\":\"summary\",\"time\":5.000,\"held\":"
	       "[{\"check\":\"q\",\"count\":3,\"status\":\"healthy\"}]}");
	free(b);
}

static void test_outbox_survives_reopen(void)
{
	char path[] = "/tmp/vt_outbox_XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	vt__outbox *ob;
	CU_ASSERT_EQUAL_FATAL(vt__outbox_open(&ob, path, NULL, 0), VT_OK);
	CU_ASSERT_EQUAL(
	    vt__outbox_put(ob, "ops", "id1", "redis", "triggered", "one"),
	    VT_OK);
	CU_ASSERT_EQUAL(
	    vt__outbox_put(ob, "ops", "id2", "redis", "resolved", "two"),
	    VT_OK);
	CU_ASSERT_EQUAL(
	    vt__outbox_put(ob, "hook", "id3", "q", "triggered", "three"),
	    VT_OK);
	/* ids are unique */
	CU_ASSERT_NOT_EQUAL(
	    vt__outbox_put(ob, "ops", "id1", "redis", "triggered", "dup"),
	    VT_OK);
	vt__rule_state st = VT__RULE_STATE_INIT;
	st.alerted = VT_UNHEALTHY;
	st.since = 42;
	st.last_sent = 43;
	CU_ASSERT_EQUAL(vt__outbox_save_state(ob, "ops", "redis", &st), VT_OK);
	vt__outbox_close(ob);

	CU_ASSERT_EQUAL_FATAL(vt__outbox_open(&ob, path, NULL, 0), VT_OK);
	CU_ASSERT_EQUAL(vt__outbox_count(ob, NULL), 3);
	CU_ASSERT_EQUAL(vt__outbox_count(ob, "ops"), 2);
	vt__delivery d;
	CU_ASSERT_EQUAL_FATAL(vt__outbox_head(ob, "ops", &d), VT_OK);
	CU_ASSERT_STRING_EQUAL(d.id, "id1");
	CU_ASSERT_STRING_EQUAL(d.payload, "one");
	CU_ASSERT_EQUAL(d.attempts, 0);
	CU_ASSERT_EQUAL(vt__outbox_failed(ob, d.seq), VT_OK);
	int64_t seq = d.seq;
	vt__delivery_fini(&d);
	CU_ASSERT_EQUAL_FATAL(vt__outbox_head(ob, "ops", &d), VT_OK);
	CU_ASSERT_EQUAL(d.seq, seq); /* still first: order kept */
	CU_ASSERT_EQUAL(d.attempts, 1);
	vt__delivery_fini(&d);
	CU_ASSERT_EQUAL(vt__outbox_done(ob, seq), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__outbox_head(ob, "ops", &d), VT_OK);
	CU_ASSERT_STRING_EQUAL(d.id, "id2");
	CU_ASSERT_EQUAL(vt__outbox_done(ob, d.seq), VT_OK);
	vt__delivery_fini(&d);
	CU_ASSERT_EQUAL(vt__outbox_head(ob, "ops", &d), VT_ENOENT);
	vt__rule_state got = VT__RULE_STATE_INIT;
	CU_ASSERT_EQUAL(vt__outbox_load_state(ob, "ops", "redis", &got), VT_OK);
	CU_ASSERT_EQUAL(got.alerted, VT_UNHEALTHY);
	CU_ASSERT_EQUAL(got.since, 42);
	CU_ASSERT_EQUAL(vt__outbox_load_state(ob, "ops", "other", &got),
			VT_ENOENT);
	vt__outbox_close(ob);
	unlink(path);
	char side[64];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

static void test_window_arithmetic(void)
{
	double start;
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-12-05T02:00:00Z", &start),
			VT_OK);
	CU_ASSERT_EQUAL(start, 1796436000.0);
	double t2;
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-12-05T04:30:00+02:30", &t2),
			VT_OK);
	CU_ASSERT_EQUAL(t2, start);
	CU_ASSERT_EQUAL(vt__maint_parse_time("2024-02-29T00:00:00Z", &t2),
			VT_OK);
	CU_ASSERT_EQUAL(t2, 1709164800.0);
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-02-29T00:00:00Z", &t2),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-12-05 02:00", &t2),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-12-05T02:00:00", &t2),
			VT_EINVAL);
	CU_ASSERT_EQUAL(vt__maint_parse_time("2026-13-05T02:00:00Z", &t2),
			VT_EINVAL);

	int64_t hour = 3600 * 1000;
	/* once */
	CU_ASSERT_FALSE(
	    vt__window_covers(start, hour, VT_REPEAT_NONE, start - 1));
	CU_ASSERT_TRUE(vt__window_covers(start, hour, VT_REPEAT_NONE, start));
	CU_ASSERT_TRUE(
	    vt__window_covers(start, hour, VT_REPEAT_NONE, start + 3599.9));
	CU_ASSERT_FALSE(
	    vt__window_covers(start, hour, VT_REPEAT_NONE, start + 3600));
	CU_ASSERT_FALSE(
	    vt__window_covers(start, hour, VT_REPEAT_NONE, start + 86400));
	/* daily */
	CU_ASSERT_TRUE(vt__window_covers(start, hour, VT_REPEAT_DAILY,
					 start + 86400 * 30 + 10));
	CU_ASSERT_FALSE(vt__window_covers(start, hour, VT_REPEAT_DAILY,
					  start + 86400 * 30 - 10));
	CU_ASSERT_FALSE(vt__window_covers(start, hour, VT_REPEAT_DAILY,
					  start - 86400 + 10));
	/* weekly */
	CU_ASSERT_TRUE(vt__window_covers(start, hour, VT_REPEAT_WEEKLY,
					 start + 7 * 86400 + 60));
	CU_ASSERT_FALSE(vt__window_covers(start, hour, VT_REPEAT_WEEKLY,
					  start + 86400 + 60));
	vt_repeat r;
	CU_ASSERT_EQUAL(vt__maint_parse_repeat("weekly", &r), VT_OK);
	CU_ASSERT_EQUAL(r, VT_REPEAT_WEEKLY);
	CU_ASSERT_EQUAL(vt__maint_parse_repeat("hourly", &r), VT_EINVAL);
}

static bool ok_fn(void *arg)
{
	(void)arg;
	return true;
}

static void test_silence_and_windows_on_registry(void)
{
	vt_health *h;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	const char *tags[] = {"db"};
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.tags = tags;
	o.ntags = 1;
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "a", ok_fn, NULL, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "b", ok_fn, NULL, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_silence(h, "nope", 1000), VT_ENOENT);
	CU_ASSERT_EQUAL(vt_health_silence(h, "a", 0), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_health_silence(h, "a", 60000), VT_OK);

	vt_health_snapshot *s;
	CU_ASSERT_EQUAL_FATAL(vt_health_run(h, NULL, VT_RUN_FRESH, &s), VT_OK);
	CU_ASSERT_TRUE(s->components[0].maintenance);  /* a */
	CU_ASSERT_FALSE(s->components[1].maintenance); /* b */
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(vt_health_unsilence(h, "a"), VT_OK);
	CU_ASSERT_EQUAL(vt_health_unsilence(h, "a"), VT_OK); /* idempotent */
	CU_ASSERT_EQUAL(vt_health_unsilence(h, "nope"), VT_ENOENT);
	CU_ASSERT_FALSE(vt_health_in_maintenance(h, "a", tags, 1));

	/* --all */
	CU_ASSERT_EQUAL(vt_health_silence(h, NULL, 60000), VT_OK);
	CU_ASSERT_TRUE(vt_health_in_maintenance(h, "b", NULL, 0));
	CU_ASSERT_EQUAL(vt_health_unsilence(h, NULL), VT_OK);
	CU_ASSERT_FALSE(vt_health_in_maintenance(h, "b", NULL, 0));

	/* a window by tag, open now */
	const char *wt[] = {"db"};
	vt_maintenance_window w = {.tags = wt,
				   .ntags = 1,
				   .start = (double)time(NULL) - 10,
				   .duration_ms = 60000,
				   .every = VT_REPEAT_DAILY};
	CU_ASSERT_EQUAL(vt_health_add_maintenance(h, &w), VT_OK);
	CU_ASSERT_TRUE(vt_health_in_maintenance(h, "a", tags, 1));
	CU_ASSERT_FALSE(vt_health_in_maintenance(h, "b", NULL, 0));
	w.duration_ms = 0;
	CU_ASSERT_EQUAL(vt_health_add_maintenance(h, &w), VT_EINVAL);
	w.duration_ms = 2 * 86400 * 1000LL; /* longer than its period */
	CU_ASSERT_EQUAL(vt_health_add_maintenance(h, &w), VT_EINVAL);
	vt_health_free(h);
}

static void test_heartbeat(void)
{
	vt_health *h;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_check_heartbeat_add(h, "cron", 0, NULL), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_check_heartbeat_add(h, "cron", 300, NULL), VT_OK);
	CU_ASSERT_EQUAL(vt_health_add_simple(h, "plain", ok_fn, NULL, NULL),
			VT_OK);
	CU_ASSERT_EQUAL(vt_health_beat(h, "plain"), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_health_beat(h, "nope"), VT_ENOENT);
	vt_health_filter f = {.name = "cron"};
	vt_health_snapshot *s;
	CU_ASSERT_EQUAL_FATAL(vt_health_run(h, &f, VT_RUN_FRESH, &s), VT_OK);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_test_sleep_ms(1200);
	CU_ASSERT_EQUAL_FATAL(vt_health_run(h, &f, VT_RUN_FRESH, &s), VT_OK);
	CU_ASSERT_EQUAL(s->components[0].status, VT_UNHEALTHY);
	CU_ASSERT_STRING_EQUAL(s->components[0].error, "no heartbeat for 1 s");
	vt_health_snapshot_free(s);
	CU_ASSERT_EQUAL(vt_health_beat(h, "cron"), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt_health_run(h, &f, VT_RUN_FRESH, &s), VT_OK);
	CU_ASSERT_EQUAL(s->components[0].status, VT_HEALTHY);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

static void test_notifier_options_refused(void)
{
	vt_health *h;
	CU_ASSERT_EQUAL_FATAL(vt_health_alloc(&h, NULL), VT_OK);
	vt_notify *n;
	vt_notify_opts no = {.health = h};
	CU_ASSERT_EQUAL_FATAL(vt_notify_alloc(&n, &no), VT_OK);
	vt_notifier_opts o = {.name = "tg",
			      .type = VT_NOTIFIER_TELEGRAM,
			      .token = "123:abc",
			      .chat_id = "-1"};
	CU_ASSERT_EQUAL(vt_notify_add(n, &o), VT_OK);
	CU_ASSERT_EQUAL(vt_notify_add(n, &o), VT_EEXIST);
	o.name = "tg2";
	o.token = "12/3";
	CU_ASSERT_EQUAL(vt_notify_add(n, &o), VT_EINVAL);
	o.token = "1";
	o.chat_id = NULL;
	CU_ASSERT_EQUAL(vt_notify_add(n, &o), VT_EINVAL);
	vt_notifier_opts w = {
	    .name = "hook", .type = VT_NOTIFIER_WEBHOOK, .url = "ftp://x"};
	CU_ASSERT_EQUAL(vt_notify_add(n, &w), VT_EINVAL);
	w.url = "http://127.0.0.1:1/hook";
	const char *bad[] = {"X-A: 1\r\nX-B: 2"};
	w.headers = bad;
	w.nheaders = 1;
	CU_ASSERT_EQUAL(vt_notify_add(n, &w), VT_EINVAL);
	const char *good[] = {"X-Team: ops"};
	w.headers = good;
	CU_ASSERT_EQUAL(vt_notify_add(n, &w), VT_OK);
	CU_ASSERT_EQUAL(vt_notify_pending(n), 0);
	vt_notify_free(n);
	vt_health_free(h);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"rule: transitions", test_rule_basic_transitions},
	    {"rule: thresholds", test_rule_thresholds},
	    {"rule: on selection", test_rule_on_selection},
	    {"rule: reminders", test_rule_reminders},
	    {"rate limit", test_rate_limit},
	    {"backoff", test_backoff},
	    {"durations", test_durations},
	    {"telegram text", test_telegram_text},
	    {"webhook body and signature", test_webhook_body_and_signature},
	    {"outbox survives reopen", test_outbox_survives_reopen},
	    {"window arithmetic", test_window_arithmetic},
	    {"silence and windows", test_silence_and_windows_on_registry},
	    {"heartbeat", test_heartbeat},
	    {"notifier options", test_notifier_options_refused},
	    {NULL, NULL}};
	return vt_test_main("notify", tests);
}
