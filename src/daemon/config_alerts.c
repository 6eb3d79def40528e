/*
 * config_alerts.c - "notify" and "maintenance" of vitalsd's config file
 * (see config_alerts.h): validated into vt_notifier_opts and
 * vt_maintenance_window, every refusal naming the entry and field.
 */
#include "daemon/config_alerts.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/secrets.h"
#include "health/check.h"
#include "health/maintenance.h"

#define MAX_ENTRIES 64
#define MAX_LIST    1000
#define MAX_STRING  4096

typedef struct ctx {
	const char *path;
	char where[256];
	char *err;
	size_t errlen;
} ctx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static vt_err
fail(ctx *c, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char qfield[300] = ""; /* a key from the file: any bytes */
	if (field != NULL)
		vt__config_quote(field, qfield, sizeof(qfield));
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: %s%s%s%s%s%s", c->path,
			 c->where, c->where[0] != '\0' ? ": " : "",
			 field != NULL ? "field \"" : "", qfield,
			 field != NULL ? "\": " : "", msg);
	return VT_EINVAL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static vt_err get_string(ctx *c, const cJSON *o, const char *key, bool required,
			 char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return required ? fail(c, key, "missing") : VT_OK;
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return fail(c, key, "must be a string");
	if (v->valuestring[0] == '\0')
		return fail(c, key, "must not be empty");
	if (strlen(v->valuestring) > MAX_STRING)
		return fail(c, key, "longer than %d bytes", MAX_STRING);
	if ((*out = strdup(v->valuestring)) == NULL)
		return VT_ENOMEM;
	return VT_OK;
}

/* An integer in [min, max] at key, kept when absent. */
static vt_err get_i64(ctx *c, const cJSON *o, const char *key, int64_t min,
		      int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return VT_OK;
	double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
		return fail(c, key, "must be an integer from %lld to %lld",
			    (long long)min, (long long)max);
	*out = (int64_t)d;
	return VT_OK;
}

static vt_err get_int(ctx *c, const cJSON *o, const char *key, int min, int max,
		      int *out)
{
	int64_t v = *out;
	vt_err rv = get_i64(c, o, key, min, max, &v);
	*out = (int)v;
	return rv;
}

/* An array of names ([A-Za-z0-9_.:-], 1..200) at key. */
static vt_err get_names(ctx *c, const cJSON *o, const char *key, char ***out,
			size_t *n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL)
		return VT_OK;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MAX_LIST)
		return fail(c, key, "must be an array of at most %d names",
			    MAX_LIST);
	size_t len = (size_t)cJSON_GetArraySize(v);
	if (len == 0)
		return VT_OK;
	char **a = calloc(len, sizeof(*a));
	if (a == NULL)
		return VT_ENOMEM;
	size_t i = 0;
	for (const cJSON *e = v->child; e != NULL; e = e->next, i++) {
		if (!cJSON_IsString(e) ||
		    !vt_check_name_valid(e->valuestring)) {
			free_strv(a, i);
			return fail(c, key,
				    "element %zu must be a name of 1-200 "
				    "characters of [A-Za-z0-9_.:-]",
				    i);
		}
		if ((a[i] = strdup(e->valuestring)) == NULL) {
			free_strv(a, i);
			return VT_ENOMEM;
		}
	}
	*out = a;
	*n = len;
	return VT_OK;
}

static vt_err check_keys(ctx *c, const cJSON *o, const char *const *keys)
{
	for (const cJSON *e = o->child; e != NULL; e = e->next) {
		size_t i = 0;
		while (keys[i] != NULL && strcmp(keys[i], e->string) != 0)
			i++;
		if (keys[i] == NULL) {
			if (strcmp(e->string, "token") == 0 ||
			    strcmp(e->string, "secret") == 0)
				return fail(c, e->string,
					    "secrets are not read from the "
					    "file: name an environment "
					    "variable with \"%s_env\"",
					    e->string);
			return fail(c, e->string, "unknown key");
		}
		for (const cJSON *f = e->next; f != NULL; f = f->next)
			if (strcmp(f->string, e->string) == 0)
				return fail(c, e->string, "repeated");
	}
	return VT_OK;
}

static bool env_name_valid(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

/* The secret in the variable named at key (required). */
static vt_err env_secret(ctx *c, const cJSON *o, const char *key, bool required,
			 char **name, char **value)
{
	vt_err rv = get_string(c, o, key, required, name);
	if (rv != VT_OK || *name == NULL)
		return rv;
	if (!env_name_valid(*name))
		return fail(c, key,
			    "must name an environment variable "
			    "([A-Za-z_][A-Za-z0-9_]*)");
	const char *v = vt__secret_get(*name);
	if (v == NULL || v[0] == '\0')
		return fail(c, key, "environment variable %s is not set",
			    *name);
	if ((*value = strdup(v)) == NULL)
		return VT_ENOMEM;
	return VT_OK;
}

static vt_err check_known(ctx *c, const char *key, char **names, size_t n,
			  char *const *known, size_t nknown)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < nknown && strcmp(known[j], names[i]) != 0)
			j++;
		if (j == nknown)
			return fail(c, key, "no check is named \"%s\"",
				    names[i]);
	}
	return VT_OK;
}

static vt_err get_on(ctx *c, const cJSON *o, unsigned *on)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "on");
	if (v == NULL)
		return VT_OK;
	const char *what = "must be an array of \"unhealthy\", \"degraded\", "
			   "\"resolved\"";
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
		return fail(c, "on", "%s", what);
	*on = 0;
	for (const cJSON *e = v->child; e != NULL; e = e->next) {
		const char *s = cJSON_IsString(e) ? e->valuestring : "";
		if (strcmp(s, "unhealthy") == 0)
			*on |= VT_ON_UNHEALTHY;
		else if (strcmp(s, "degraded") == 0)
			*on |= VT_ON_DEGRADED;
		else if (strcmp(s, "resolved") == 0)
			*on |= VT_ON_RESOLVED;
		else
			return fail(c, "on", "%s", what);
	}
	return VT_OK;
}

static vt_err get_headers(ctx *c, const cJSON *o, vt__notify_conf *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "headers");
	if (v == NULL)
		return VT_OK;
	if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) > 64)
		return fail(c, "headers",
			    "must be an object of at most 64 \"Name\": "
			    "\"value\" pairs");
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n == 0)
		return VT_OK;
	if ((k->headers = calloc(n, sizeof(char *))) == NULL)
		return VT_ENOMEM;
	for (const cJSON *e = v->child; e != NULL; e = e->next) {
		const char *name = e->string;
		bool ok = cJSON_IsString(e) && name[0] != '\0' &&
			  strlen(name) < 256 && strlen(e->valuestring) < 4096;
		for (const char *p = name; ok && *p != '\0'; p++)
			ok = isgraph((unsigned char)*p) && *p != ':';
		for (const char *p = ok ? e->valuestring : ""; *p; p++)
			ok = ok && *p != '\r' && *p != '\n';
		if (!ok) {
			char q[300];
			vt__config_quote(name, q, sizeof(q));
			return fail(c, "headers",
				    "\"%s\" must be a token name with a "
				    "one-line string value",
				    q);
		}
		size_t len = strlen(name) + strlen(e->valuestring) + 3;
		char *line = malloc(len);
		if (line == NULL)
			return VT_ENOMEM;
		snprintf(line, len, "%s: %s", name, e->valuestring);
		k->headers[k->nheaders++] = line;
	}
	return VT_OK;
}

static const char *const notify_keys[] = {"name",
					  "type",
					  "token_env",
					  "chat_id",
					  "api_url",
					  "url",
					  "secret_env",
					  "headers",
					  "checks",
					  "tags",
					  "on",
					  "failure_threshold",
					  "success_threshold",
					  "remind_ms",
					  "rate_limit",
					  "rate_window_ms",
					  "timeout_ms",
					  "retry_min_ms",
					  "retry_max_ms",
					  NULL};

/* The fields of telegram or webhook k. */
static vt_err parse_target(ctx *c, const cJSON *o, vt__notify_conf *k,
			   const char *type)
{
	vt_err rv;
	vt_notifier_opts *n = &k->o;
	if (strcmp(type, "telegram") == 0) {
		n->type = VT_NOTIFIER_TELEGRAM;
		const cJSON *chat =
		    cJSON_GetObjectItemCaseSensitive(o, "chat_id");
		if (cJSON_IsNumber(chat) &&
		    chat->valuedouble == floor(chat->valuedouble)) {
			char b[32];
			snprintf(b, sizeof(b), "%.0f", chat->valuedouble);
			if ((k->chat_id = strdup(b)) == NULL)
				return VT_ENOMEM;
		} else if ((rv = get_string(c, o, "chat_id", true,
					    &k->chat_id))) {
			return rv;
		}
		if ((rv = env_secret(c, o, "token_env", true, &k->token_env,
				     &k->token)) ||
		    (rv = get_string(c, o, "api_url", false, &k->api_url)))
			return rv;
		if (strpbrk(k->token, "/?#@ \r\n") != NULL)
			return fail(c, "token_env",
				    "the token in %s is not a bot token",
				    k->token_env);
		if (k->api_url != NULL && strncmp(k->api_url, "http://", 7) &&
		    strncmp(k->api_url, "https://", 8))
			return fail(c, "api_url", "must be an http(s) URL");
		if (cJSON_GetObjectItemCaseSensitive(o, "url") ||
		    cJSON_GetObjectItemCaseSensitive(o, "secret_env") ||
		    cJSON_GetObjectItemCaseSensitive(o, "headers"))
			return fail(c, NULL,
				    "\"url\", \"secret_env\" and \"headers\" "
				    "are for webhooks");
	} else if (strcmp(type, "webhook") == 0) {
		n->type = VT_NOTIFIER_WEBHOOK;
		if ((rv = get_string(c, o, "url", true, &k->url)) ||
		    (rv = env_secret(c, o, "secret_env", false, &k->secret_env,
				     &k->secret)) ||
		    (rv = get_headers(c, o, k)))
			return rv;
		if (strncmp(k->url, "http://", 7) &&
		    strncmp(k->url, "https://", 8))
			return fail(c, "url", "must be an http(s) URL");
		if (cJSON_GetObjectItemCaseSensitive(o, "token_env") ||
		    cJSON_GetObjectItemCaseSensitive(o, "chat_id") ||
		    cJSON_GetObjectItemCaseSensitive(o, "api_url"))
			return fail(c, NULL,
				    "\"token_env\", \"chat_id\" and "
				    "\"api_url\" are for telegram");
	} else {
		return fail(c, "type",
			    "unknown notifier type (known: telegram, webhook)");
	}
	return VT_OK;
}

static vt_err parse_notifier(ctx *c, const cJSON *o, vt__notify_conf *k,
			     size_t i, char *const *known, size_t nknown)
{
	snprintf(c->where, sizeof(c->where), "notify[%zu]", i);
	if (!cJSON_IsObject(o))
		return fail(c, NULL, "must be a JSON object");
	vt_err rv;
	char *type = NULL;
	if ((rv = get_string(c, o, "name", true, &k->name)))
		return rv;
	if (!vt_check_name_valid(k->name))
		return fail(c, "name",
			    "must be 1-200 characters of [A-Za-z0-9_.:-]");
	snprintf(c->where, sizeof(c->where), "notify[%zu] \"%s\"", i, k->name);
	if ((rv = check_keys(c, o, notify_keys)) ||
	    (rv = get_string(c, o, "type", true, &type)))
		return rv;
	rv = parse_target(c, o, k, type);
	free(type);
	vt_notifier_opts *n = &k->o;
	if (rv || (rv = get_names(c, o, "checks", &k->checks, &k->nchecks)) ||
	    (rv = get_names(c, o, "tags", &k->tags, &k->ntags)) ||
	    (rv = check_known(c, "checks", k->checks, k->nchecks, known,
			      nknown)) ||
	    (rv = get_on(c, o, &n->on)) ||
	    (rv = get_int(c, o, "failure_threshold", 1, 1000000,
			  &n->failure_threshold)) ||
	    (rv = get_int(c, o, "success_threshold", 1, 1000000,
			  &n->success_threshold)) ||
	    (rv = get_i64(c, o, "remind_ms", 0, INT64_C(1) << 40,
			  &n->remind_ms)) ||
	    (rv = get_int(c, o, "rate_limit", 1, 1000000, &n->rate_limit)) ||
	    (rv = get_i64(c, o, "rate_window_ms", 1, INT64_C(1) << 40,
			  &n->rate_window_ms)) ||
	    (rv = get_int(c, o, "timeout_ms", 1, 600000, &n->timeout_ms)) ||
	    (rv = get_i64(c, o, "retry_min_ms", 1, INT64_C(1) << 40,
			  &n->retry_min_ms)) ||
	    (rv = get_i64(c, o, "retry_max_ms", 1, INT64_C(1) << 40,
			  &n->retry_max_ms)))
		return rv;
	n->name = k->name;
	n->token = k->token;
	n->chat_id = k->chat_id;
	n->api_url = k->api_url;
	n->url = k->url;
	n->secret = k->secret;
	n->headers = (const char *const *)k->headers;
	n->nheaders = k->nheaders;
	n->checks = (const char *const *)k->checks;
	n->nchecks = k->nchecks;
	n->tags = (const char *const *)k->tags;
	n->ntags = k->ntags;
	return VT_OK;
}

static const char *const maint_keys[] = {"checks",	"tags",	 "start",
					 "duration_ms", "every", NULL};

static vt_err parse_window(ctx *c, const cJSON *o, vt__maint_conf *k, size_t i,
			   char *const *known, size_t nknown)
{
	snprintf(c->where, sizeof(c->where), "maintenance[%zu]", i);
	if (!cJSON_IsObject(o))
		return fail(c, NULL, "must be a JSON object");
	vt_err rv;
	char *start = NULL, *every = NULL;
	vt_maintenance_window *w = &k->w;
	if ((rv = check_keys(c, o, maint_keys)) ||
	    (rv = get_names(c, o, "checks", &k->checks, &k->nchecks)) ||
	    (rv = get_names(c, o, "tags", &k->tags, &k->ntags)) ||
	    (rv = check_known(c, "checks", k->checks, k->nchecks, known,
			      nknown)) ||
	    (rv = get_i64(c, o, "duration_ms", 1, INT64_C(7) * 86400 * 1000,
			  &w->duration_ms)))
		return rv;
	if (cJSON_GetObjectItemCaseSensitive(o, "duration_ms") == NULL)
		return fail(c, "duration_ms", "missing");
	if ((rv = get_string(c, o, "start", true, &start)))
		return rv;
	rv = vt__maint_parse_time(start, &w->start);
	free(start);
	if (rv != VT_OK)
		return fail(c, "start",
			    "must be a time like \"2026-12-05T02:00:00Z\" "
			    "(UTC, or with an offset like +02:00)");
	if ((rv = get_string(c, o, "every", false, &every)))
		return rv;
	rv = every != NULL ? vt__maint_parse_repeat(every, &w->every) : VT_OK;
	free(every);
	if (rv != VT_OK)
		return fail(c, "every",
			    "must be \"daily\", \"weekly\" or \"none\"");
	if ((w->every == VT_REPEAT_DAILY && w->duration_ms > 86400 * 1000))
		return fail(c, "duration_ms",
			    "longer than a day, for a daily "
			    "window");
	w->checks = (const char *const *)k->checks;
	w->nchecks = k->nchecks;
	w->tags = (const char *const *)k->tags;
	w->ntags = k->ntags;
	return VT_OK;
}

/* The array at key with at most MAX_ENTRIES entries, or NULL. */
static vt_err get_array(ctx *c, const cJSON *root, const char *key,
			const cJSON **out, size_t *n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	*out = NULL;
	*n = 0;
	if (v == NULL)
		return VT_OK;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MAX_ENTRIES)
		return fail(c, key, "must be an array of at most %d objects",
			    MAX_ENTRIES);
	*out = v;
	*n = (size_t)cJSON_GetArraySize(v);
	return VT_OK;
}

vt_err vt__alerts_parse(const cJSON *root, const char *path, char *const *known,
			size_t nknown, vt__alerts_conf **out, char *errbuf,
			size_t errlen)
{
	ctx c = {.path = path, .err = errbuf, .errlen = errlen};
	vt__alerts_conf *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return VT_ENOMEM;
	const cJSON *arr;
	size_t n;
	vt_err rv = get_array(&c, root, "notify", &arr, &n);
	if (rv == VT_OK && n > 0 &&
	    (a->notify = calloc(n, sizeof(*a->notify))) == NULL)
		rv = VT_ENOMEM;
	for (const cJSON *o = arr ? arr->child : NULL; rv == VT_OK && o;
	     o = o->next) {
		size_t i = a->nnotify++;
		rv = parse_notifier(&c, o, &a->notify[i], i, known, nknown);
		for (size_t j = 0; rv == VT_OK && j < i; j++)
			if (strcmp(a->notify[j].name, a->notify[i].name) == 0)
				rv = fail(&c, "name",
					  "already used by "
					  "notify[%zu]",
					  j);
	}
	if (rv == VT_OK)
		rv = get_array(&c, root, "maintenance", &arr, &n);
	if (rv == VT_OK && n > 0 &&
	    (a->maint = calloc(n, sizeof(*a->maint))) == NULL)
		rv = VT_ENOMEM;
	for (const cJSON *o = arr ? arr->child : NULL; rv == VT_OK && o;
	     o = o->next) {
		size_t i = a->nmaint++;
		rv = parse_window(&c, o, &a->maint[i], i, known, nknown);
	}
	if (rv == VT_ENOMEM)
		fail(&c, NULL, "out of memory");
	if (rv != VT_OK) {
		vt__alerts_free(a);
		return rv;
	}
	*out = a;
	return VT_OK;
}

vt_err vt__alerts_build_maintenance(const vt__alerts_conf *a, vt_health *h)
{
	for (size_t i = 0; a != NULL && i < a->nmaint; i++) {
		vt_err rv = vt_health_add_maintenance(h, &a->maint[i].w);
		if (rv != VT_OK)
			return rv;
	}
	return VT_OK;
}

vt_err vt__alerts_build_notify(const vt__alerts_conf *a, vt_notify *n,
			       char *errbuf, size_t errlen)
{
	for (size_t i = 0; a != NULL && i < a->nnotify; i++) {
		vt_err rv = vt_notify_add(n, &a->notify[i].o);
		if (rv != VT_OK) {
			snprintf(errbuf, errlen,
				 "notify[%zu] \"%s\": refused: %s", i,
				 a->notify[i].name, vt_strerror(rv));
			return rv;
		}
	}
	return VT_OK;
}

void vt__alerts_forget_secrets(const vt__alerts_conf *a)
{
	for (size_t i = 0; a != NULL && i < a->nnotify; i++) {
		if (a->notify[i].token_env != NULL)
			vt__secret_keep(a->notify[i].token_env);
		if (a->notify[i].secret_env != NULL)
			vt__secret_keep(a->notify[i].secret_env);
	}
}

/* Frees s after overwriting it (a secret). */
static void wipe(char *s)
{
	if (s == NULL)
		return;
	volatile char *p = s;
	while (*p != '\0')
		*p++ = '\0';
	free(s);
}

void vt__alerts_free(vt__alerts_conf *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nnotify; i++) {
		vt__notify_conf *k = &a->notify[i];
		free(k->name);
		free(k->token_env);
		wipe(k->token);
		free(k->chat_id);
		free(k->api_url);
		free(k->url);
		free(k->secret_env);
		wipe(k->secret);
		free_strv(k->headers, k->nheaders);
		free_strv(k->checks, k->nchecks);
		free_strv(k->tags, k->ntags);
	}
	free(a->notify);
	for (size_t i = 0; i < a->nmaint; i++) {
		free_strv(a->maint[i].checks, a->maint[i].nchecks);
		free_strv(a->maint[i].tags, a->maint[i].ntags);
	}
	free(a->maint);
	free(a);
}
