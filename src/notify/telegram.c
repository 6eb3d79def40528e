/*
 * telegram.c - the Telegram message: plain text for sendMessage
 * (POST {api_url}/bot<token>/sendMessage with JSON {"chat_id","text"}),
 * saying which check, what status, since when and the error; on
 * recovery how long it was down.
 *
 *   🔴 redis is UNHEALTHY
 *   since 2026-12-02 13:20:01 UTC
 *   error: connect: Connection refused
 *
 *   ✅ redis is HEALTHY again (was UNHEALTHY)
 *   down for 1m 5s, since 2026-12-02 13:20:01 UTC
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify/notify_int.h"

#define TEXT_MAX  4096 /* Telegram's limit for one message */
#define ERROR_MAX 1000

static void upper(const char *s, char *out, size_t cap)
{
	size_t i = 0;
	for (; s[i] != '\0' && i + 1 < cap; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	out[i] = '\0';
}

static void utc_text(double t, char *out, size_t cap)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static const char *mark(vt_status s)
{
	return s == VT_UNHEALTHY  ? "\xf0\x9f\x94\xb4" /* red circle */
	       : s == VT_DEGRADED ? "\xf0\x9f\x9f\xa1" /* yellow circle */
				  : "\xe2\x9c\x85";    /* check mark */
}

static char *finish(vt_buf *b)
{
	char *out = NULL;
	size_t len;
	if (vt__buf_take(b, &out, &len) != VT_OK) {
		vt__buf_fini(b);
		return NULL;
	}
	return out;
}

static void error_line(vt_buf *b, const char *error)
{
	if (error == NULL || error[0] == '\0')
		return;
	size_t n = strlen(error);
	vt__buf_puts(b, "\nerror: ");
	vt__buf_append(b, error, n > ERROR_MAX ? ERROR_MAX : n);
	if (n > ERROR_MAX)
		vt__buf_puts(b, "...");
}

char *vt__telegram_text(const vt__msg *m)
{
	char st[16], prev[16], since[40], dur[40];
	upper(vt_status_name(m->status), st, sizeof(st));
	upper(vt_status_name(m->previous), prev, sizeof(prev));
	utc_text(m->since, since, sizeof(since));
	vt__duration_text(m->time - m->since, dur, sizeof(dur));
	vt_buf b;
	vt__buf_init(&b, TEXT_MAX * 2);
	switch (m->kind) {
	case VT__ALERT_TRIGGERED:
		vt__buf_printf(&b, "%s %s is %s", mark(m->status), m->check,
			       st);
		if (m->previous != VT_HEALTHY)
			vt__buf_printf(&b, " (was %s)", prev);
		vt__buf_printf(&b, "\nsince %s", since);
		error_line(&b, m->error);
		break;
	case VT__ALERT_REMINDER:
		vt__buf_printf(&b, "%s %s is still %s, for %s\nsince %s",
			       mark(m->status), m->check, st, dur, since);
		error_line(&b, m->error);
		break;
	case VT__ALERT_RESOLVED:
		vt__buf_printf(&b, "%s %s is %s again (was %s)\n",
			       mark(m->status), m->check, st, prev);
		vt__buf_printf(&b, "%s for %s, since %s",
			       m->previous == VT_UNHEALTHY ? "down"
							   : "degraded",
			       dur, since);
		break;
	default:
		vt__buf_fini(&b);
		return NULL;
	}
	return finish(&b);
}

char *vt__telegram_summary(const vt__held *held, size_t n, int limit,
			   double window_s)
{
	int total = 0;
	for (size_t i = 0; i < n; i++)
		total += held[i].count;
	char win[40];
	vt__duration_text(window_s, win, sizeof(win));
	vt_buf b;
	vt__buf_init(&b, TEXT_MAX * 2);
	vt__buf_printf(&b,
		       "\xe2\x9a\xa0\xef\xb8\x8f %d alert%s held back (at most "
		       "%d per %s):",
		       total, total == 1 ? "" : "s", limit, win);
	for (size_t i = 0; i < n && b.len < TEXT_MAX - 200; i++) {
		char st[16];
		upper(vt_status_name(held[i].status), st, sizeof(st));
		vt__buf_printf(&b, "\n%s %s: %d change%s, now %s",
			       mark(held[i].status), held[i].check,
			       held[i].count, held[i].count == 1 ? "" : "s",
			       st);
	}
	return finish(&b);
}

char *vt__telegram_body(const char *chat_id, const char *text)
{
	vt_buf b;
	vt__buf_init(&b, TEXT_MAX * 8);
	vt__buf_puts(&b, "{\"chat_id\":");
	vt__json_string(&b, chat_id);
	vt__buf_puts(&b, ",\"text\":");
	vt__json_string(&b, text);
	vt__buf_puts(&b, "}");
	return finish(&b);
}

long vt__telegram_retry_after(const char *body)
{
	const char *p = body != NULL ? strstr(body, "\"retry_after\"") : NULL;
	if (p == NULL)
		return -1;
	p += strlen("\"retry_after\"");
	while (*p == ' ' || *p == ':')
		p++;
	char *end;
	errno = 0;
	long v = strtol(p, &end, 10);
	if (end == p || errno != 0 || v < 0)
		return -1;
	return v;
}
