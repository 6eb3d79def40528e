/*
 * config_alerts.h - the alert parts of vitalsd's configuration file:
 *
 *   notify       array of notifiers:
 *                {"name","type":"telegram","token_env","chat_id",
 *                 "api_url"} or {"name","type":"webhook","url",
 *                 "secret_env","headers":{"Name":"value"}}, and for
 *                both "checks", "tags", "on" (of "unhealthy",
 *                "degraded", "resolved"; default unhealthy+resolved),
 *                "failure_threshold", "success_threshold", "remind_ms",
 *                "rate_limit", "rate_window_ms", "timeout_ms",
 *                "retry_min_ms", "retry_max_ms" (vitals/notify.h)
 *   maintenance  array of windows: {"checks","tags","start" (RFC 3339
 *                UTC or with offset),"duration_ms","every":"daily|
 *                weekly|none"}
 *
 * Secrets (the bot token, the webhook secret) are read only from the
 * environment variables that token_env / secret_env name, at parse time,
 * and never printed. Errors name the file, the entry and the field:
 *   vitals.json: notify[0] "ops": field "chat_id": missing
 */
#ifndef VT_DAEMON_CONFIG_ALERTS_H
#define VT_DAEMON_CONFIG_ALERTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "vitals/health.h"
#include "vitals/notify.h"

typedef struct vt__notify_conf {
	vt_notifier_opts o; /* strings point into the fields below */
	char *name, *token_env, *token, *chat_id, *api_url;
	char *url, *secret_env, *secret;
	char **headers;
	size_t nheaders;
	char **checks;
	size_t nchecks;
	char **tags;
	size_t ntags;
} vt__notify_conf;

typedef struct vt__maint_conf {
	vt_maintenance_window w; /* lists point into the fields below */
	char **checks;
	size_t nchecks;
	char **tags;
	size_t ntags;
} vt__maint_conf;

typedef struct vt__alerts_conf {
	vt__notify_conf *notify;
	size_t nnotify;
	vt__maint_conf *maint;
	size_t nmaint;
} vt__alerts_conf;

/* Parses "notify" and "maintenance" of root (either may be absent) into
 * *out; check_names[0..nchecks) are the checks the file defines, which
 * the entries' "checks" must name. On error errbuf says where ("PATH:
 * notify[I] "NAME": field "F": why"). */
vt_err vt__alerts_parse(const cJSON *root, const char *path,
			char *const *check_names, size_t nchecks,
			vt__alerts_conf **out, char *errbuf, size_t errlen);

/* Adds the maintenance windows to h. */
vt_err vt__alerts_build_maintenance(const vt__alerts_conf *a, vt_health *h);

/* Adds the notifiers to n. */
vt_err vt__alerts_build_notify(const vt__alerts_conf *a, vt_notify *n,
			       char *errbuf, size_t errlen);

/* Removes token_env and secret_env variables from the environment. */
void vt__alerts_forget_secrets(const vt__alerts_conf *a);

void vt__alerts_free(vt__alerts_conf *a);

#endif
