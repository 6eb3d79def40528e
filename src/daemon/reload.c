/*
 * reload.c - applies a new config file to a running vitalsd (SIGHUP).
 *
 * The new file is loaded and fully verified (every check built on a
 * scratch registry) before anything changes: a refused file leaves the
 * running checks as they were, and the reason is returned. Then the
 * checks are compared by name with the ones running: a name only in the
 * new file is added; a name only in the old one is removed; a name in
 * both whose settings differ is replaced in place under the same name
 * (vt__health_expect_replace), so that it never disappears from /health
 * or the RPC and its history, keyed by name, goes on. Settings the
 * listeners and the pool were started with (http, rpc, pub, workers,
 * max_connections, token_env, degraded_http_code, tls) cannot change
 * without a restart: they keep their old values and are reported.
 *
 * A removed check's metric series go with it: vt_health_remove removes
 * its vitals_check_* series, and vt_history_forget its uptime gauges
 * once its queued results are written. A replaced check keeps both.
 * SIGHUP and vitals.v1.Admin/Reload (vitalsd.c) both come here; the
 * caller serializes them.
 */
#include "daemon/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/registry.h"
#include "vitals/history.h"

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

/* True if the common options of a and b are the same. */
static bool opts_eq(const vt__check_conf *a, const vt__check_conf *b)
{
	const vt_check_opts *x = &a->opts, *y = &b->opts;
	return x->timeout_ms == y->timeout_ms &&
	       x->interval_ms == y->interval_ms &&
	       x->degraded_ms == y->degraded_ms && x->critical == y->critical &&
	       x->failures_before_unhealthy == y->failures_before_unhealthy &&
	       x->successes_before_healthy == y->successes_before_healthy &&
	       strv_eq(a->tags, a->ntags, b->tags, b->ntags);
}

/* True if a and b describe the same check. */
static bool check_eq(const vt__check_conf *a, const vt__check_conf *b)
{
	return a->type == b->type && opts_eq(a, b) && str_eq(a->url, b->url) &&
	       a->connect_timeout_ms == b->connect_timeout_ms &&
	       a->command_timeout_ms == b->command_timeout_ms &&
	       str_eq(a->queue, b->queue) &&
	       a->degraded_above == b->degraded_above &&
	       str_eq(a->method, b->method) &&
	       a->expect_status == b->expect_status &&
	       a->insecure == b->insecure && str_eq(a->base_url, b->base_url) &&
	       str_eq(a->public_key, b->public_key) &&
	       str_eq(a->secret_key_env, b->secret_key_env) &&
	       str_eq(a->address, b->address) && str_eq(a->path, b->path) &&
	       a->degraded_free_pct == b->degraded_free_pct &&
	       a->unhealthy_free_pct == b->unhealthy_free_pct &&
	       strv_eq(a->argv, a->argc, b->argv, b->argc);
}

static const vt__check_conf *find_conf(const vt__config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nchecks; i++)
		if (strcmp(cfg->checks[i].name, name) == 0)
			return &cfg->checks[i];
	return NULL;
}

/* Notes in rep each setting that differs between the running config
 * and the new one and needs a restart. */
static void note_restart_only(const vt__config *run, const vt__config *next,
			      vt_reload_report *rep)
{
	char line[256];
#define RESTART_ONLY(cond, key)                                                \
	do {                                                                   \
		if (cond) {                                                    \
			snprintf(line, sizeof(line),                           \
				 "%s changed: needs a restart (the old value " \
				 "stays)",                                     \
				 key);                                         \
			(void)vt_reload_report_note(rep, VT_RELOAD_IGNORED,    \
						    line);                     \
		}                                                              \
	} while (0)
	RESTART_ONLY(!str_eq(run->http, next->http), "http");
	RESTART_ONLY(!str_eq(run->rpc, next->rpc), "rpc");
	RESTART_ONLY(!str_eq(run->pub, next->pub), "pub");
	RESTART_ONLY(run->workers != next->workers, "workers");
	RESTART_ONLY(run->max_connections != next->max_connections,
		     "max_connections");
	RESTART_ONLY(!str_eq(run->token_env, next->token_env), "token_env");
	RESTART_ONLY(run->degraded_http_code != next->degraded_http_code,
		     "degraded_http_code");
	RESTART_ONLY(!str_eq(run->tls_cert, next->tls_cert) ||
			 !str_eq(run->tls_key, next->tls_key) ||
			 !str_eq(run->tls_ca, next->tls_ca),
		     "tls");
#undef RESTART_ONLY
}

/* Builds the checks of next that are new or changed against cur, the
 * changed ones replacing theirs in place. */
static vt_err apply_checks(const vt__config *cur, const vt__config *next,
			   vt_health *h, vt_reload_report *rep, char *err,
			   size_t errlen)
{
	vt__config part = *next;
	part.checks = calloc(next->nchecks + 1, sizeof(*part.checks));
	if (part.checks == NULL)
		return VT_ENOMEM;
	part.nchecks = 0;
	for (size_t i = 0; i < next->nchecks; i++) {
		const vt__check_conf *k = &next->checks[i];
		const vt__check_conf *old = find_conf(cur, k->name);
		if (old != NULL && check_eq(old, k))
			continue;
		if (old != NULL)
			vt__health_expect_replace(h, k->name);
		(void)vt_reload_report_note(
		    rep, old != NULL ? VT_RELOAD_CHANGED : VT_RELOAD_ADDED,
		    k->name);
		part.checks[part.nchecks++] = *k; /* shallow: not freed */
	}
	vt_err rv = vt__config_build(&part, h, err, errlen);
	free(part.checks);
	return rv;
}

vt_err vt__reload(const vt__config *started, const vt__config *cur,
		  vt__config *next, vt_health *h, vt_history *hs,
		  vt_reload_report *rep, char *err, size_t errlen)
{
	memset(rep, 0, sizeof(*rep));
	vt_err rv = vt__config_verify(next, err, errlen);
	if (rv != VT_OK)
		return rv;
	/* Against what the listeners run with, whatever reloads said. */
	note_restart_only(started, next, rep);
	for (size_t i = 0; i < cur->nchecks; i++) {
		const char *name = cur->checks[i].name;
		if (find_conf(next, name) != NULL)
			continue;
		if (vt_health_remove(h, name) != VT_OK)
			continue;
		(void)vt_reload_report_note(rep, VT_RELOAD_REMOVED, name);
		if (hs != NULL)
			(void)vt_history_forget(hs, name);
	}
	rv = apply_checks(cur, next, h, rep, err, errlen);
	if (rv == VT_OK)
		vt__config_forget_secrets(next);
	return rv;
}
