/*
 * rules.c - what a notifier says about a check, and when: thresholds,
 * reminders, the rate limit and the retry backoff. Pure arithmetic on
 * the states given, no I/O, no locks, so it is tested alone.
 *
 * A result is "alertable" when its status is one the notifier reports
 * (UNHEALTHY with VT_ON_UNHEALTHY, DEGRADED with VT_ON_DEGRADED). After
 * failure_threshold alertable results in a row, a check that is not
 * alerting at that status is announced ("triggered"; a change between
 * UNHEALTHY and DEGRADED is announced as well). After success_threshold
 * other results in a row an alerting check is "resolved". While it
 * alerts, a reminder goes every remind_ms after the last message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "notify/notify_int.h"

static bool alertable(const vt__rule_cfg *cfg, vt_status s)
{
	return (s == VT_UNHEALTHY && (cfg->on & VT_ON_UNHEALTHY)) ||
	       (s == VT_DEGRADED && (cfg->on & VT_ON_DEGRADED));
}

bool vt__rule_result(const vt__rule_cfg *cfg, vt__rule_state *st,
		     vt_status status, double now, vt__alert *out)
{
	int fth = cfg->failure_threshold > 0 ? cfg->failure_threshold : 1;
	int sth = cfg->success_threshold > 0 ? cfg->success_threshold : 1;
	if (alertable(cfg, status)) {
		st->ok_streak = 0;
		if (st->fail_streak++ == 0)
			st->streak_start = now;
		if (st->alerted == (int)status || st->fail_streak < fth)
			return false;
		out->kind = VT__ALERT_TRIGGERED;
		out->status = status;
		out->previous =
		    st->alerted >= 0 ? (vt_status)st->alerted : st->last_quiet;
		if (st->alerted < 0)
			st->since = st->streak_start;
		out->since = st->since;
		out->time = now;
		st->alerted = (int)status;
		st->last_sent = now;
		return true;
	}
	st->fail_streak = 0;
	st->ok_streak++;
	st->last_quiet = status;
	if (st->alerted < 0 || st->ok_streak < sth)
		return false;
	out->kind = VT__ALERT_RESOLVED;
	out->status = status;
	out->previous = (vt_status)st->alerted;
	out->since = st->since;
	out->time = now;
	st->alerted = -1;
	return (cfg->on & VT_ON_RESOLVED) != 0;
}

bool vt__rule_tick(const vt__rule_cfg *cfg, vt__rule_state *st, double now,
		   vt__alert *out)
{
	if (st->alerted < 0 || cfg->remind_ms <= 0 ||
	    (now - st->last_sent) * 1000.0 < (double)cfg->remind_ms)
		return false;
	out->kind = VT__ALERT_REMINDER;
	out->status = (vt_status)st->alerted;
	out->previous = (vt_status)st->alerted;
	out->since = st->since;
	out->time = now;
	st->last_sent = now;
	return true;
}

vt_err vt__rate_init(vt__rate *r, int limit, double window_s)
{
	if (limit < 1 || !(window_s > 0))
		return VT_EINVAL;
	r->times = calloc((size_t)limit, sizeof(*r->times));
	if (r->times == NULL)
		return VT_ENOMEM;
	r->limit = limit;
	r->window_s = window_s;
	r->count = r->head = 0;
	return VT_OK;
}

void vt__rate_fini(vt__rate *r)
{
	free(r->times);
	r->times = NULL;
}

bool vt__rate_take(vt__rate *r, double now)
{
	if (r->count == r->limit) {
		/* head is the oldest of the last limit sends */
		if (now - r->times[r->head] < r->window_s)
			return false;
		r->times[r->head] = now;
		r->head = (r->head + 1) % r->limit;
		return true;
	}
	r->times[(r->head + r->count) % r->limit] = now;
	r->count++;
	return true;
}

int64_t vt__backoff_ms(int attempts, int64_t min_ms, int64_t max_ms)
{
	if (min_ms < 1)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	int64_t d = min_ms;
	for (int i = 1; i < attempts && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	return d < max_ms ? d : max_ms;
}

void vt__duration_text(double s, char *out, size_t cap)
{
	if (!(s > 0))
		s = 0;
	long long t = (long long)floor(s + 0.5);
	long long d = t / 86400, h = t % 86400 / 3600, m = t % 3600 / 60,
		  sec = t % 60;
	if (d > 0)
		snprintf(out, cap, "%lldd %lldh", d, h);
	else if (h > 0)
		snprintf(out, cap, "%lldh %lldm", h, m);
	else if (m > 0)
		snprintf(out, cap, "%lldm %llds", m, sec);
	else
		snprintf(out, cap, "%llds", sec);
}
