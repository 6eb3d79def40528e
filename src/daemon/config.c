/*
 * config.c - vitalsd's configuration file (see config.h for its shape).
 *
 * Loading is three steps. The file is read whole, up to the size cap,
 * and parsed by cJSON; a syntax error is turned into a line and column
 * from the position cJSON stops at. The tree is then walked once: every
 * object's keys are first matched against the keys its kind allows
 * (which catches typos and repeated keys before any value is looked
 * at), then each value is type- and range-checked and copied into a
 * plain struct (vt__config), so nothing else in the daemon touches
 * cJSON. Building (vt__config_build) hands each entry to its
 * vt_check_*_add; the library's own validation there is the last word,
 * and its refusal is reported against the field it most likely concerns.
 *
 * Messages are "FILE: checks[I] "NAME": field "KEY": what is wrong".
 * Text from the file (keys, type names, an exec command that is not
 * executable) is quoted with non-printable bytes escaped and long text
 * cut; values are never echoed, so URLs with passwords and keys cannot
 * leak into a message. A syntax error quotes the text before it with
 * every string that could be a URL blanked out.
 */
#include "daemon/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "daemon/secrets.h"
#include "daemon/config_alerts.h"
#include "health/check.h"
#include "server/service.h"
#include "vitals/checks.h"

#define MAX_WORKERS 256
#define MAX_ARGS    256
#define MAX_TAGS    VT__CHECK_TAGS_MAX
/* Largest rabbitmq degraded_above: exact as a double, far above any
 * real queue. */
#define MAX_QUEUE_DEPTH 1000000000000000L
/* Longest string value taken from the file (URLs, paths, arguments). */
#define MAX_STRING 4096

/* Where in the file an error is: the check being read, if any. */
typedef struct ctx {
	const char *path;
	char where[256]; /* "" or checks[I] "NAME" */
	char *err;
	size_t errlen;
} ctx;

void vt__config_quote(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return;
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];
		char tmp[8];
		if (i == 64) {
			snprintf(tmp, sizeof(tmp), "...");
		} else if (ch == '"' || ch == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)ch;
			tmp[2] = '\0';
		} else if (ch < 0x20 || ch >= 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		} else {
			tmp[0] = (char)ch;
			tmp[1] = '\0';
		}
		size_t n = strlen(tmp);
		if (o + n >= cap)
			break;
		memcpy(out + o, tmp, n);
		o += n;
		if (i == 64)
			break;
	}
	out[o] = '\0';
}

/* Formats the error "PATH: WHERE: field "FIELD": MSG" (WHERE and the
 * field part only when set) and returns rv. */
static vt_err failv(ctx *c, vt_err rv, const char *field, const char *fmt,
		    va_list ap)
{
	char msg[512], qfield[300] = "";
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (field != NULL)
		vt__config_quote(field, qfield, sizeof(qfield));
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: %s%s%s%s%s%s", c->path,
			 c->where, c->where[0] != '\0' ? ": " : "",
			 field != NULL ? "field \"" : "", qfield,
			 field != NULL ? "\": " : "", msg);
	return rv;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static vt_err
fail(ctx *c, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vt_err rv = failv(c, VT_EINVAL, field, fmt, ap);
	va_end(ap);
	return rv;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static vt_err
fail_rv(ctx *c, vt_err rv, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, rv, field, fmt, ap);
	va_end(ap);
	return rv;
}

/* ---- keys ---------------------------------------------------------- */

static const char *const top_keys[] = {"http",
				       "rpc",
				       "pub",
				       "workers",
				       "degraded_http_code",
				       "token_env",
				       "max_connections",
				       "http_max_per_address",
				       "http_header_timeout_ms",
				       "http_idle_timeout_ms",
				       "tls",
				       "allow_plaintext_token",
				       "state",
				       "retention_days",
				       "checks",
				       "notify",
				       "maintenance",
				       NULL};

static const char *const tls_keys[] = {"cert", "key", "ca", NULL};

static const char *const common_keys[] = {"name",
					  "type",
					  "interval_ms",
					  "timeout_ms",
					  "degraded_ms",
					  "critical",
					  "tags",
					  "failures_before_unhealthy",
					  "successes_before_healthy",
					  NULL};

/* The keys of each type, in vt__check_type order; NULL-terminated. */
static const struct {
	const char *name;
	const char *const keys[6];
} types[] = {
    [VT__CHECK_REDIS] = {"redis",
			 {"url", "connect_timeout_ms", "command_timeout_ms"}},
    [VT__CHECK_RABBITMQ] = {"rabbitmq",
			    {"url", "queue", "degraded_above",
			     "connect_timeout_ms"}},
    [VT__CHECK_HTTP] = {"http", {"url", "method", "expect_status", "insecure"}},
    [VT__CHECK_DMARKET] = {"dmarket",
			   {"base_url", "public_key", "secret_key_env"}},
    [VT__CHECK_TCP] = {"tcp", {"address"}},
    [VT__CHECK_DISK] = {"disk",
			{"path", "degraded_free_pct", "unhealthy_free_pct"}},
    [VT__CHECK_EXEC] = {"exec", {"command"}},
    [VT__CHECK_HEARTBEAT] = {"heartbeat", {"ttl_ms"}},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))
/* More than any key list above holds. */
#define MAX_KEYS 16

const char *vt__check_type_name(vt__check_type t)
{
	return (size_t)t < NTYPES ? types[t].name : "?";
}

/* The index of k in the NULL-terminated keys, or -1. */
static int key_index(const char *const *keys, const char *k)
{
	for (int i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], k) == 0)
			return i;
	return -1;
}

/* "a, b, c" of the NULL-terminated keys into out. */
static void key_list(const char *const *keys, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (; *keys != NULL; keys++) {
		int n = snprintf(out + o, cap - o, "%s%s", o > 0 ? ", " : "",
				 *keys);
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += (size_t)n;
	}
}

/* Every key of obj must be in keys1 or keys2 (NULL-terminated; keys2 may
 * be NULL) and appear once. type names the check type for the message
 * (keys2 are its keys), or is NULL at the top level. */
static vt_err check_keys(ctx *c, const cJSON *obj, const char *const *keys1,
			 const char *const *keys2, const char *type)
{
	unsigned char seen[2 * MAX_KEYS] = {0};
	for (const cJSON *it = obj->child; it != NULL; it = it->next) {
		const char *k = it->string;
		int i = key_index(keys1, k);
		if (i < 0 && keys2 != NULL && (i = key_index(keys2, k)) >= 0)
			i += MAX_KEYS;
		if (i >= 0) {
			if (seen[i])
				return fail(c, k, "given twice");
			seen[i] = 1;
			continue;
		}
		if (strcmp(k, "secret_key") == 0)
			return fail(c, k,
				    "secrets are not read from the "
				    "configuration file: put the key in an "
				    "environment variable and name it in "
				    "\"secret_key_env\"");
		char list[256];
		if (type == NULL) {
			key_list(keys1, list, sizeof(list));
			return fail(c, k, "unknown field (known: %s)", list);
		}
		key_list(keys2, list, sizeof(list));
		return fail(c, k,
			    "unknown field for a %s check (known: %s%sthe "
			    "common options)",
			    type, list, list[0] != '\0' ? " and " : "");
	}
	return VT_OK;
}

/* ---- values -------------------------------------------------------- */

/* The string at key (NULL in *out when absent and !required). */
static vt_err get_string(ctx *c, const cJSON *obj, const char *key,
			 bool required, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL) {
		if (required)
			return fail(c, key, "missing");
		return VT_OK;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return fail(c, key, "must be a string");
	if (v->valuestring[0] == '\0')
		return fail(c, key, "must not be empty");
	if (strlen(v->valuestring) > MAX_STRING)
		return fail(c, key, "longer than %d bytes", MAX_STRING);
	if ((*out = strdup(v->valuestring)) == NULL)
		return fail_rv(c, VT_ENOMEM, key, "out of memory");
	return VT_OK;
}

/* The integer at key, in [min, max], into *out; kept when absent. what
 * describes the range for the message. */
static vt_err get_long(ctx *c, const cJSON *obj, const char *key, long min,
		       long max, const char *what, long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL)
		return VT_OK;
	double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
		return fail(c, key, "must be %s", what);
	*out = (long)d;
	return VT_OK;
}

static vt_err get_int(ctx *c, const cJSON *obj, const char *key, int min,
		      int max, const char *what, int *out)
{
	long l = *out;
	vt_err rv = get_long(c, obj, key, min, max, what, &l);
	if (rv == VT_OK)
		*out = (int)l;
	return rv;
}

/* A positive int (milliseconds, counts). */
static vt_err get_pos(ctx *c, const cJSON *obj, const char *key, int *out)
{
	return get_int(c, obj, key, 1, INT_MAX, "a positive integer", out);
}

static vt_err get_bool(ctx *c, const cJSON *obj, const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL)
		return VT_OK;
	if (!cJSON_IsBool(v))
		return fail(c, key, "must be true or false");
	*out = cJSON_IsTrue(v);
	return VT_OK;
}

static vt_err get_pct(ctx *c, const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL)
		return VT_OK;
	double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!isfinite(d) || d < 0 || d > 100)
		return fail(c, key, "must be a number from 0 to 100");
	*out = d;
	return VT_OK;
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The array of at most max strings at key (empty only if
 * allow_empty_array) into *out, NULL-terminated, n in *count. Absent:
 * *out stays NULL. */
static vt_err get_strv(ctx *c, const cJSON *obj, const char *key, size_t max,
		       bool allow_empty_array, char ***out, size_t *count)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL)
		return VT_OK;
	if (!cJSON_IsArray(v))
		return fail(c, key, "must be an array of strings");
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n == 0 && !allow_empty_array)
		return fail(c, key, "must not be empty");
	if (n > max)
		return fail(c, key, "more than %zu entries", max);
	char **strv = calloc(n + 1, sizeof(*strv));
	if (strv == NULL)
		return fail_rv(c, VT_ENOMEM, key, "out of memory");
	size_t i = 0;
	for (const cJSON *e = v->child; e != NULL; e = e->next, i++) {
		if (!cJSON_IsString(e) || e->valuestring == NULL) {
			free_strv(strv, i);
			return fail(c, key, "must be an array of strings");
		}
		if (strlen(e->valuestring) > MAX_STRING) {
			free_strv(strv, i);
			return fail(c, key, "entry %zu longer than %d bytes", i,
				    MAX_STRING);
		}
		if ((strv[i] = strdup(e->valuestring)) == NULL) {
			free_strv(strv, i);
			return fail_rv(c, VT_ENOMEM, key, "out of memory");
		}
	}
	*out = strv;
	*count = n;
	return VT_OK;
}

/* ---- addresses and URLs -------------------------------------------- */

/* 1 if s is "host:port" or "[v6]:port" with a port of 1..65535. */
static int hostport_valid(const char *s)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close == s + 1 || close[1] != ':')
			return 0;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return 0;
		for (const char *p = s; p < colon; p++)
			if (*p == ':' || *p == '/' || *p <= ' ')
				return 0;
	}
	const char *p = colon + 1;
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	char *end;
	unsigned long port = strtoul(p, &end, 10);
	return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

/* 1 if s is the gateway's address: "host:port", optionally after
 * "http://" (plain even with "tls") or "https://" (needs "tls"). */
static int http_addr_valid(const char *s)
{
	if (strncmp(s, "http://", 7) == 0)
		return hostport_valid(s + 7);
	if (strncmp(s, "https://", 8) == 0)
		return hostport_valid(s + 8);
	return hostport_valid(s);
}

/* 1 if s is an nng URL vitalsd can listen on: tcp://host:port or
 * ipc://path. */
static int nng_url_valid(const char *s)
{
	if (strncmp(s, "tcp://", 6) == 0)
		return hostport_valid(s + 6);
	if (strncmp(s, "ipc://", 6) == 0)
		return s[6] != '\0';
	return 0;
}

/* 1 if s starts with one of the schemes (case-insensitive) and has
 * something after it. */
static int has_scheme(const char *s, const char *a, const char *b)
{
	size_t na = strlen(a), nb = b != NULL ? strlen(b) : 0;
	if (strncasecmp(s, a, na) == 0)
		return s[na] != '\0';
	return b != NULL && strncasecmp(s, b, nb) == 0 && s[nb] != '\0';
}

/* Whether s is exactly n bytes written as 2n hex digits (either case). */
static bool hex_bytes_valid(const char *s, size_t n)
{
	unsigned char buf[64];
	size_t len = 0;
	return n <= sizeof(buf) && strlen(s) == 2 * n &&
	       OPENSSL_hexstr2buf_ex(buf, n, &len, s, '\0') == 1 && len == n;
}
static int env_name_valid(const char *s)
{
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	      s[0] == '_'))
		return 0;
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* The value of the environment variable name, which field key names:
 * refused when name is not a variable name or the variable is unset or
 * empty. Secrets are read only this way. */
static vt_err env_secret(ctx *c, const char *key, const char *name,
			 const char **out)
{
	if (!env_name_valid(name))
		return fail(c, key,
			    "must name an environment variable "
			    "([A-Za-z_][A-Za-z0-9_]*)");
	const char *v = vt__secret_get(name);
	if (v == NULL || v[0] == '\0')
		return fail(c, key, "environment variable %s is not set", name);
	*out = v;
	return VT_OK;
}

/* A listener value (http, rpc, pub): absent = def, null = disabled. */
static vt_err get_listener(ctx *c, const cJSON *obj, const char *key,
			   const char *def, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsNull(v))
		return VT_OK;
	char *s = NULL;
	vt_err rv = get_string(c, obj, key, false, &s);
	if (rv != VT_OK)
		return rv;
	if (s == NULL && (s = strdup(def)) == NULL)
		return fail_rv(c, VT_ENOMEM, key, "out of memory");
	int ok =
	    strcmp(key, "http") == 0 ? http_addr_valid(s) : nng_url_valid(s);
	if (!ok) {
		free(s);
		return fail(c, key,
			    strcmp(key, "http") == 0
				? "must be \"host:port\" with a port of "
				  "1..65535 (optionally after http:// or "
				  "https://), or null"
				: "must be \"tcp://host:port\" or "
				  "\"ipc:///path\", or null");
	}
	*out = s;
	return VT_OK;
}

/* ---- checks -------------------------------------------------------- */

static void check_conf_fini(vt__check_conf *k)
{
	free(k->name);
	free_strv(k->tags, k->ntags);
	free(k->url);
	free(k->queue);
	free(k->method);
	free(k->base_url);
	free(k->public_key);
	free(k->secret_key_env);
	free(k->address);
	free(k->path);
	free_strv(k->argv, k->argc);
}

/* The common options of check object o into k->opts. */
static vt_err parse_common(ctx *c, const cJSON *o, vt__check_conf *k)
{
	vt_err rv;
	vt_check_opts *co = &k->opts;
	k->interval_given =
	    cJSON_GetObjectItemCaseSensitive(o, "interval_ms") != NULL;
	if ((rv = get_pos(c, o, "interval_ms", &co->interval_ms)) ||
	    (rv = get_pos(c, o, "timeout_ms", &co->timeout_ms)) ||
	    (rv = get_int(c, o, "degraded_ms", 0, INT_MAX,
			  "an integer >= 0 (0 = off)", &co->degraded_ms)) ||
	    (rv = get_bool(c, o, "critical", &co->critical)) ||
	    (rv = get_pos(c, o, "failures_before_unhealthy",
			  &co->failures_before_unhealthy)) ||
	    (rv = get_pos(c, o, "successes_before_healthy",
			  &co->successes_before_healthy)) ||
	    (rv = get_strv(c, o, "tags", MAX_TAGS, true, &k->tags, &k->ntags)))
		return rv;
	for (size_t i = 0; i < k->ntags; i++)
		if (!vt_check_name_valid(k->tags[i]))
			return fail(c, "tags",
				    "entry %zu: a tag is 1-200 characters of "
				    "[A-Za-z0-9_.:-]",
				    i);
	co->tags = (const char *const *)k->tags;
	co->ntags = k->ntags;
	return VT_OK;
}

static vt_err parse_url(ctx *c, const cJSON *o, const char *key, const char *s1,
			const char *s2, char **out)
{
	vt_err rv = get_string(c, o, key, true, out);
	if (rv != VT_OK)
		return rv;
	if (!has_scheme(*out, s1, s2))
		return s2 != NULL
			   ? fail(c, key, "must be a %s or %s URL", s1, s2)
			   : fail(c, key, "must be a %s URL", s1);
	return VT_OK;
}

static vt_err parse_dmarket(ctx *c, const cJSON *o, vt__check_conf *k)
{
	vt_err rv;
	if (cJSON_GetObjectItemCaseSensitive(o, "base_url") != NULL &&
	    (rv = parse_url(c, o, "base_url", "http://", "https://",
			    &k->base_url)))
		return rv;
	if (k->base_url != NULL && strpbrk(k->base_url, "?#") != NULL)
		return fail(c, "base_url",
			    "must not have a query or fragment: the API paths "
			    "are appended to it");
	if ((rv = get_string(c, o, "public_key", false, &k->public_key)) ||
	    (rv =
		 get_string(c, o, "secret_key_env", false, &k->secret_key_env)))
		return rv;
	if (k->public_key != NULL && !hex_bytes_valid(k->public_key, 32))
		return fail(c, "public_key",
			    "must be the 32-byte public key as 64 hex digits");
	if (k->public_key != NULL && k->secret_key_env == NULL)
		return fail(c, "secret_key_env",
			    "missing: \"public_key\" needs the secret key, "
			    "from the environment variable this names");
	if (k->public_key == NULL && k->secret_key_env != NULL)
		return fail(c, "public_key",
			    "missing: \"secret_key_env\" is set, so the "
			    "public key is needed too");
	if (k->secret_key_env == NULL)
		return VT_OK;
	const char *secret;
	rv = env_secret(c, "secret_key_env", k->secret_key_env, &secret);
	if (rv != VT_OK)
		return rv;
	if (!hex_bytes_valid(secret, 64))
		return fail(c, "secret_key_env",
			    "environment variable %s must hold the 64-byte "
			    "secret key as 128 hex digits",
			    k->secret_key_env);
	return VT_OK;
}

/* The fields of k's type from check object o. */
static vt_err parse_type_fields(ctx *c, const cJSON *o, vt__check_conf *k)
{
	vt_err rv = VT_OK;
	switch (k->type) {
	case VT__CHECK_REDIS:
		if ((rv = parse_url(c, o, "url", "redis://", "unix://",
				    &k->url)) ||
		    (rv = get_pos(c, o, "connect_timeout_ms",
				  &k->connect_timeout_ms)) ||
		    (rv = get_pos(c, o, "command_timeout_ms",
				  &k->command_timeout_ms)))
			return rv;
		break;
	case VT__CHECK_RABBITMQ:
		if ((rv = parse_url(c, o, "url", "amqp://", "amqps://",
				    &k->url)) ||
		    (rv = get_string(c, o, "queue", false, &k->queue)) ||
		    (rv = get_long(c, o, "degraded_above", 0, MAX_QUEUE_DEPTH,
				   "an integer >= 0 (0 = no threshold)",
				   &k->degraded_above)) ||
		    (rv = get_pos(c, o, "connect_timeout_ms",
				  &k->connect_timeout_ms)))
			return rv;
		if (k->degraded_above > 0 && k->queue == NULL)
			return fail(c, "degraded_above",
				    "needs \"queue\": the threshold is on its "
				    "message count");
		break;
	case VT__CHECK_HTTP:
		if ((rv = parse_url(c, o, "url", "http://", "https://",
				    &k->url)) ||
		    (rv = get_string(c, o, "method", false, &k->method)) ||
		    (rv = get_long(c, o, "expect_status", 100, 599,
				   "an HTTP status code from 100 to 599",
				   &k->expect_status)) ||
		    (rv = get_bool(c, o, "insecure", &k->insecure)))
			return rv;
		for (const char *p = k->method; p != NULL && *p != '\0'; p++)
			if (*p < 'A' || *p > 'Z')
				return fail(c, "method",
					    "must be an upper-case HTTP "
					    "method such as GET or HEAD");
		break;
	case VT__CHECK_DMARKET:
		return parse_dmarket(c, o, k);
	case VT__CHECK_TCP:
		if ((rv = get_string(c, o, "address", true, &k->address)))
			return rv;
		if (!hostport_valid(k->address))
			return fail(c, "address",
				    "must be \"host:port\" (\"[v6]:port\" for "
				    "IPv6) with a port of 1..65535");
		break;
	case VT__CHECK_DISK:
		if ((rv = get_string(c, o, "path", true, &k->path)) ||
		    (rv = get_pct(c, o, "degraded_free_pct",
				  &k->degraded_free_pct)) ||
		    (rv = get_pct(c, o, "unhealthy_free_pct",
				  &k->unhealthy_free_pct)))
			return rv;
		if (k->degraded_free_pct > 0 && k->unhealthy_free_pct > 0 &&
		    k->unhealthy_free_pct > k->degraded_free_pct)
			return fail(c, "unhealthy_free_pct",
				    "must not be above \"degraded_free_pct\"");
		break;
	case VT__CHECK_EXEC:
		if (cJSON_GetObjectItemCaseSensitive(o, "command") == NULL)
			return fail(c, "command", "missing");
		if ((rv = get_strv(c, o, "command", MAX_ARGS, false, &k->argv,
				   &k->argc)))
			return rv;
		if (k->argv[0][0] != '/')
			return fail(c, "command",
				    "the program (first entry) must be an "
				    "absolute path: it is run without a shell "
				    "or PATH search");
		break;
	case VT__CHECK_HEARTBEAT:
		break; /* below */
	}
	if (k->type == VT__CHECK_HEARTBEAT) {
		long ttl = 0;
		vt_err hrv =
		    get_long(c, o, "ttl_ms", 1, 366L * 86400 * 1000,
			     "a positive integer of milliseconds", &ttl);
		if (hrv != VT_OK)
			return hrv;
		if (ttl == 0)
			return fail(c, "ttl_ms", "missing");
		k->ttl_ms = ttl;
	}
	return VT_OK;
}

/* Check number i, object o, into cfg->checks[i]; checks before it are
 * parsed. */
static vt_err parse_check(ctx *c, const cJSON *o, vt__config *cfg, size_t i)
{
	static const vt_check_opts defaults = VT_CHECK_OPTS_DEFAULT;
	vt__check_conf *k = &cfg->checks[i];
	vt_err rv;
	k->opts = defaults;
	snprintf(c->where, sizeof(c->where), "checks[%zu]", i);
	if (!cJSON_IsObject(o))
		return fail(c, NULL, "must be a JSON object");
	if ((rv = get_string(c, o, "name", true, &k->name)))
		return rv;
	if (!vt_check_name_valid(k->name))
		return fail(c, "name",
			    "must be 1-200 characters of [A-Za-z0-9_.:-]");
	for (size_t j = 0; j < i; j++)
		if (strcmp(cfg->checks[j].name, k->name) == 0)
			return fail(c, "name",
				    "\"%s\" is already used by "
				    "checks[%zu]",
				    k->name, j);
	snprintf(c->where, sizeof(c->where), "checks[%zu] \"%s\"", i, k->name);

	char *type = NULL;
	if ((rv = get_string(c, o, "type", true, &type)))
		return rv;
	size_t t = 0;
	while (t < NTYPES && strcmp(types[t].name, type) != 0)
		t++;
	if (t == NTYPES) {
		char q[300];
		vt__config_quote(type, q, sizeof(q));
		free(type);
		return fail(c, "type",
			    "unknown check type \"%s\" (known: redis, "
			    "rabbitmq, http, dmarket, tcp, disk, exec, "
			    "heartbeat)",
			    q);
	}
	free(type);
	k->type = (vt__check_type)t;
	if ((rv = check_keys(c, o, common_keys, types[t].keys, types[t].name)))
		return rv;
	if ((rv = parse_common(c, o, k)))
		return rv;
	return parse_type_fields(c, o, k);
}

static vt_err parse_checks(ctx *c, const cJSON *root, vt__config *cfg)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "checks");
	if (arr == NULL)
		return VT_OK;
	if (!cJSON_IsArray(arr))
		return fail(c, "checks", "must be an array of check objects");
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (n > VT__CONFIG_MAX_CHECKS)
		return fail(c, "checks", "more than %d checks",
			    VT__CONFIG_MAX_CHECKS);
	if (n == 0)
		return VT_OK;
	if ((cfg->checks = calloc(n, sizeof(*cfg->checks))) == NULL)
		return fail_rv(c, VT_ENOMEM, "checks", "out of memory");
	size_t i = 0;
	for (const cJSON *o = arr->child; o != NULL; o = o->next, i++) {
		cfg->nchecks = i + 1; /* so that free sees it */
		vt_err rv = parse_check(c, o, cfg, i);
		if (rv != VT_OK)
			return rv;
	}
	c->where[0] = '\0';
	return VT_OK;
}

/* ---- the file ------------------------------------------------------ */

/* Blanks out with '*' the bytes of near, a copy of text[from..] (text
 * has len bytes), that lie in a JSON string holding ':' or '\\': a URL,
 * perhaps with a password, is such a string however it is escaped, and
 * no message may show a password. Strings are found from the start of
 * text, so one that began before from counts too. */
static void hide_urls(const char *text, size_t len, size_t from, char *near)
{
	size_t to = from + strlen(near);
	for (size_t i = 0; i < to; i++) {
		if (text[i] != '"')
			continue;
		size_t start = ++i;
		bool url = false;
		for (; i < len && text[i] != '"'; i++) {
			if (text[i] == ':' || text[i] == '\\')
				url = true;
			if (text[i] == '\\' && i + 1 < len)
				i++;
		}
		/* text[start..i): the contents, to the end if unclosed */
		for (size_t k = start > from ? start : from;
		     url && k < i && k < to; k++)
			near[k - from] = '*';
	}
}

/* The syntax error at err_at (within text[0..len)) as a message: line
 * and column (in characters) of the place cJSON stopped, and the text of
 * that line just before it. */
static vt_err syntax_error(ctx *c, const char *text, size_t len,
			   const char *err_at)
{
	if (len == 0)
		return fail(c, NULL, "empty file: expected a JSON object");
	size_t pos = 0;
	if (err_at != NULL && err_at >= text && err_at <= text + len)
		pos = (size_t)(err_at - text);
	size_t line = 1, col = 1, line_start = 0;
	for (size_t i = 0; i < pos; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
			line_start = i + 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			col++; /* count UTF-8 characters, not bytes */
		}
	}
	size_t rest = pos;
	while (rest < len && (text[rest] == ' ' || text[rest] == '\t' ||
			      text[rest] == '\n' || text[rest] == '\r'))
		rest++;
	if (rest == len)
		return fail(c, NULL,
			    "line %zu, column %zu: JSON syntax error: "
			    "unexpected end of file",
			    line, col);
	/* Up to 24 bytes of the line, ending with the byte cJSON stopped
	 * at unless that is the line's end. */
	size_t from = pos - line_start > 24 ? pos - 23 : line_start;
	size_t to =
	    pos < len && text[pos] != '\n' && text[pos] != '\r' ? pos + 1 : pos;
	char near[32], q[160];
	memcpy(near, text + from, to - from);
	near[to - from] = '\0';
	hide_urls(text, len, from, near);
	vt__config_quote(near, q, sizeof(q));
	return fail(c, NULL,
		    "line %zu, column %zu: JSON syntax error after \"%s\"",
		    line, col, q);
}

void vt__config_free(vt__config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nchecks; i++)
		check_conf_fini(&cfg->checks[i]);
	free(cfg->checks);
	free(cfg->path);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_ca);
	free(cfg->http);
	free(cfg->rpc);
	free(cfg->pub);
	free(cfg->token_env);
	free(cfg->state);
	vt__alerts_free(cfg->alerts);
	if (cfg->token != NULL) {
		/* Wiped before free, through a volatile pointer so that the
		 * stores are kept. */
		volatile char *t = cfg->token;
		while (*t != '\0')
			*t++ = '\0';
		free(cfg->token);
	}
	free(cfg);
}

/* "token_env": the variable holding the bearer token, read now so that
 * --check-config tells a missing or malformed token too. */
static vt_err get_token(ctx *c, const cJSON *root, vt__config *cfg)
{
	vt_err rv = get_string(c, root, "token_env", false, &cfg->token_env);
	if (rv != VT_OK || cfg->token_env == NULL)
		return rv;
	const char *t;
	if ((rv = env_secret(c, "token_env", cfg->token_env, &t)) != VT_OK)
		return rv;
	if (!vt__token_valid(t, strlen(t)))
		return fail(c, "token_env",
			    "environment variable %s must hold 1..%d "
			    "characters of [A-Za-z0-9-._~+/], then any '='",
			    cfg->token_env, VT__TOKEN_MAX);
	if ((cfg->token = strdup(t)) == NULL)
		return fail_rv(c, VT_ENOMEM, "token_env", "out of memory");
	return VT_OK;
}

/* "tls": {"cert", "key", "ca"}: cert and key required, ca optional;
 * each file must be readable now. */
static vt_err get_tls(ctx *c, const cJSON *root, vt__config *cfg)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tls");
	if (t == NULL)
		return VT_OK;
	if (!cJSON_IsObject(t))
		return fail(c, "tls",
			    "must be an object {\"cert\", \"key\", "
			    "\"ca\"}");
	vt_err rv;
	if ((rv = check_keys(c, t, tls_keys, NULL, NULL)) ||
	    (rv = get_string(c, t, "cert", true, &cfg->tls_cert)) ||
	    (rv = get_string(c, t, "key", true, &cfg->tls_key)) ||
	    (rv = get_string(c, t, "ca", false, &cfg->tls_ca)))
		return rv;
	const char *files[] = {cfg->tls_cert, cfg->tls_key, cfg->tls_ca};
	const char *keys[] = {"cert", "key", "ca"};
	for (int i = 0; i < 3; i++)
		if (files[i] != NULL && access(files[i], R_OK) != 0) {
			const char *why = vt__errno_text(errno);
			char q[300];
			vt__config_quote(files[i], q, sizeof(q));
			return fail(c, keys[i], "tls: %s: %s", q, why);
		}
	return VT_OK;
}

/* "http": "https://..." needs "tls". */
static vt_err check_https(ctx *c, const vt__config *cfg)
{
	if (cfg->http == NULL || cfg->tls_cert != NULL ||
	    strncmp(cfg->http, "https://", 8) != 0)
		return VT_OK;
	return fail(c, "http",
		    "https:// needs \"tls\" (a certificate and key)");
}

/* True if the host of "host:port", "tcp://host:port" or
 * "http[s]://host:port" is loopback. */
static bool loopback(const char *addr)
{
	if (strncmp(addr, "tcp://", 6) == 0 || strncmp(addr, "http://", 7) == 0)
		addr = strstr(addr, "://") + 3;
	else if (strncmp(addr, "https://", 8) == 0)
		addr += 8;
	else if (strstr(addr, "://") != NULL)
		return true; /* ipc://, inproc://: never on the network */
	return strncmp(addr, "127.", 4) == 0 ||
	       strncmp(addr, "localhost:", 10) == 0 ||
	       strncmp(addr, "[::1]:", 6) == 0;
}

vt_err vt__config_plaintext_token(const vt__config *cfg, char *errbuf,
				  size_t errlen)
{
	ctx c = {.path = cfg->path, .err = errbuf, .errlen = errlen};
	if (cfg->token == NULL || cfg->allow_plaintext_token)
		return VT_OK;
	/* With "tls" the gateway serves HTTPS, unless its address says
	 * http:// explicitly. */
	bool http_plain =
	    cfg->http != NULL &&
	    (cfg->tls_cert == NULL || strncmp(cfg->http, "http://", 7) == 0);
	const char *plain =
	    http_plain && !loopback(cfg->http) ? cfg->http
	    : cfg->tls_cert == NULL && cfg->rpc != NULL && !loopback(cfg->rpc)
		? cfg->rpc
		: NULL;
	if (plain == NULL)
		return VT_OK;
	char q[300];
	vt__config_quote(plain, q, sizeof(q));
	return fail(&c, "token_env",
		    "the bearer token would cross the network in clear text "
		    "on %s (not a loopback address): configure \"tls\", bind "
		    "to 127.0.0.1, or set \"allow_plaintext_token\": true",
		    q);
}

/* "state": the state database; absent = vitals-state.db beside the
 * config file, null = in memory; a relative path is relative to the
 * config file's directory. "retention_days": 1..3650, default 30. */
static vt_err get_state(ctx *c, const cJSON *root, vt__config *cfg)
{
	long days = 30;
	vt_err rv = get_long(c, root, "retention_days", 1, 3650,
			     "an integer from 1 to 3650", &days);
	cfg->retention_days = (int)days;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "state");
	if (rv != VT_OK || cJSON_IsNull(v))
		return rv;
	char *given = NULL;
	if ((rv = get_string(c, root, "state", false, &given)) != VT_OK)
		return rv;
	const char *name = given != NULL ? given : "vitals-state.db";
	const char *slash = strrchr(c->path, '/');
	size_t dl =
	    name[0] == '/' || slash == NULL ? 0 : (size_t)(slash - c->path) + 1;
	size_t nl = strlen(name) + 1;
	cfg->state = malloc(dl + nl);
	if (cfg->state != NULL) {
		memcpy(cfg->state, c->path, dl);
		memcpy(cfg->state + dl, name, nl);
	}
	free(given);
	return cfg->state == NULL
		   ? fail_rv(c, VT_ENOMEM, "state", "out of memory")
		   : VT_OK;
}

/* "notify" and "maintenance" (config_alerts.c). */
static vt_err parse_alerts(ctx *c, const cJSON *root, vt__config *cfg)
{
	char **names = NULL;
	if (cfg->nchecks > 0 &&
	    (names = calloc(cfg->nchecks, sizeof(*names))) == NULL)
		return fail_rv(c, VT_ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < cfg->nchecks; i++)
		names[i] = cfg->checks[i].name;
	vt_err rv = vt__alerts_parse(root, c->path, names, cfg->nchecks,
				     &cfg->alerts, c->err, c->errlen);
	free(names);
	return rv;
}

vt_err vt__config_parse(vt__config **out, const char *text, size_t len,
			const char *path, char *errbuf, size_t errlen)
{
	ctx c = {.path = path, .err = errbuf, .errlen = errlen};
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (memchr(text, '\0', len) != NULL)
		return fail(&c, NULL, "contains a NUL byte: not a JSON text");

	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (root == NULL)
		return syntax_error(&c, text, len, end);
	/* Anything but white space after the value is an error too. */
	while (end != NULL && end < text + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	vt_err rv;
	if (end != NULL && end < text + len) {
		rv = syntax_error(&c, text, len, end);
		goto out_json;
	}
	if (!cJSON_IsObject(root)) {
		rv = fail(&c, NULL, "must be one JSON object ({...})");
		goto out_json;
	}

	vt__config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		rv = fail_rv(&c, VT_ENOMEM, NULL, "out of memory");
		goto out_cfg;
	}
	long workers = 4, code = 200, conns = 0, per_addr = 0, hdr_ms = 0,
	     idle_ms = 0;
	if ((rv = check_keys(&c, root, top_keys, NULL, NULL)) ||
	    (rv = get_listener(&c, root, "http", VT__CONFIG_DEFAULT_HTTP,
			       &cfg->http)) ||
	    (rv = get_listener(&c, root, "rpc", VT__CONFIG_DEFAULT_RPC,
			       &cfg->rpc)) ||
	    (rv = get_listener(&c, root, "pub", VT__CONFIG_DEFAULT_PUB,
			       &cfg->pub)) ||
	    (rv = get_long(&c, root, "workers", 1, MAX_WORKERS,
			   "an integer from 1 to 256", &workers)) ||
	    (rv = get_long(&c, root, "degraded_http_code", 200, 599,
			   "an HTTP status code from 200 to 599", &code)) ||
	    (rv = get_long(&c, root, "max_connections", 1, 65536,
			   "an integer from 1 to 65536", &conns)) ||
	    (rv = get_long(&c, root, "http_max_per_address", 1, 65536,
			   "an integer from 1 to 65536", &per_addr)) ||
	    (rv = get_long(&c, root, "http_header_timeout_ms", 1, 3600000,
			   "an integer from 1 to 3600000", &hdr_ms)) ||
	    (rv = get_long(&c, root, "http_idle_timeout_ms", 1, 3600000,
			   "an integer from 1 to 3600000", &idle_ms)) ||
	    (rv = get_token(&c, root, cfg)) || (rv = get_tls(&c, root, cfg)) ||
	    (rv = check_https(&c, cfg)) ||
	    (rv = get_bool(&c, root, "allow_plaintext_token",
			   &cfg->allow_plaintext_token)) ||
	    (rv = get_state(&c, root, cfg)) ||
	    (rv = parse_checks(&c, root, cfg)) ||
	    (rv = parse_alerts(&c, root, cfg)) ||
	    (rv = vt__config_plaintext_token(cfg, errbuf, errlen)))
		goto out_cfg;
	cfg->workers = (unsigned)workers;
	cfg->max_connections = (unsigned)conns;
	cfg->http_max_per_address = (unsigned)per_addr;
	cfg->http_header_timeout_ms = (unsigned)hdr_ms;
	cfg->http_idle_timeout_ms = (unsigned)idle_ms;
	cfg->degraded_http_code = (int)code;
	if (cfg->rpc != NULL && cfg->pub != NULL &&
	    strcmp(cfg->rpc, cfg->pub) == 0) {
		rv = fail(&c, "pub", "must differ from \"rpc\"");
		goto out_cfg;
	}
	if (cfg->http == NULL && cfg->rpc == NULL) {
		rv = fail(&c, NULL,
			  "\"http\" and \"rpc\" are both null: nothing "
			  "would be served");
		goto out_cfg;
	}
	cJSON_Delete(root);
	*out = cfg;
	return VT_OK;
out_cfg:
	vt__config_free(cfg);
out_json:
	cJSON_Delete(root);
	return rv;
}

vt_err vt__config_load(vt__config **out, const char *path, char *errbuf,
		       size_t errlen)
{
	ctx c = {.path = path, .err = errbuf, .errlen = errlen};
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return fail_rv(&c, VT_EIO, NULL, "cannot open: %s",
			       vt__errno_text(errno));
	/* One byte past the cap tells an over-long file apart. */
	char *text = malloc(VT__CONFIG_MAX_BYTES + 1);
	if (text == NULL) {
		fclose(f);
		return fail_rv(&c, VT_ENOMEM, NULL, "out of memory");
	}
	size_t len = fread(text, 1, VT__CONFIG_MAX_BYTES + 1, f);
	int rerr = ferror(f) ? errno : 0;
	fclose(f);
	vt_err rv;
	if (rerr != 0)
		rv = fail_rv(&c, VT_EIO, NULL, "cannot read: %s",
			     vt__errno_text(rerr));
	else if (len > VT__CONFIG_MAX_BYTES)
		rv = fail_rv(&c, VT_ETOOBIG, NULL, "larger than %d bytes",
			     VT__CONFIG_MAX_BYTES);
	else
		rv = vt__config_parse(out, text, len, path, errbuf, errlen);
	free(text);
	return rv;
}

/* ---- building ------------------------------------------------------ */

/* The field a refusal of k's vt_check_*_add most likely concerns: the
 * one value config.c cannot fully judge itself. */
static const char *blamed_field(const vt__check_conf *k)
{
	switch (k->type) {
	case VT__CHECK_REDIS:
	case VT__CHECK_RABBITMQ:
	case VT__CHECK_HTTP:
		return "url";
	case VT__CHECK_DMARKET:
		return k->public_key != NULL ? "public_key" : "base_url";
	case VT__CHECK_TCP:
		return "address";
	case VT__CHECK_DISK:
		return "path";
	case VT__CHECK_EXEC:
		return "command";
	case VT__CHECK_HEARTBEAT:
		return "ttl_ms";
	}
	return "type";
}

/* Registers check k on h. */
static vt_err build_check(vt_health *h, const vt__check_conf *k)
{
	switch (k->type) {
	case VT__CHECK_REDIS: {
		vt_redis_opts o = {.url = k->url,
				   .connect_timeout_ms = k->connect_timeout_ms,
				   .command_timeout_ms = k->command_timeout_ms};
		return vt_check_redis_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_RABBITMQ: {
		vt_rabbitmq_opts o = {.url = k->url,
				      .queue = k->queue,
				      .degraded_above = k->degraded_above,
				      .connect_timeout_ms =
					  k->connect_timeout_ms};
		return vt_check_rabbitmq_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_HTTP: {
		vt_http_opts o = {.url = k->url,
				  .method = k->method,
				  .expect_status = k->expect_status,
				  .insecure = k->insecure};
		return vt_check_http_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_DMARKET: {
		vt_dmarket_opts o = {.base_url = k->base_url,
				     .public_key = k->public_key};
		if (k->secret_key_env != NULL) {
			o.secret_key = vt__secret_get(k->secret_key_env);
			if (o.secret_key == NULL)
				return VT_ENOENT;
		}
		return vt_check_dmarket_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_TCP: {
		vt_tcp_opts o = {.address = k->address};
		return vt_check_tcp_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_DISK: {
		vt_disk_opts o = {.path = k->path,
				  .degraded_free_pct = k->degraded_free_pct,
				  .unhealthy_free_pct = k->unhealthy_free_pct};
		return vt_check_disk_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_EXEC: {
		vt_exec_opts o = {.argv = (const char *const *)k->argv};
		return vt_check_exec_add(h, k->name, &o, &k->opts);
	}
	case VT__CHECK_HEARTBEAT: {
		vt_check_opts o = k->opts;
		if (!k->interval_given) { /* as vt_check_heartbeat_add's */
			int64_t iv = k->ttl_ms / 4;
			o.interval_ms = (int)(iv > 10000 ? 10000
					      : iv < 50	 ? 50
							 : iv);
		}
		return vt_check_heartbeat_add(h, k->name, k->ttl_ms, &o);
	}
	}
	return VT_EINVAL;
}

vt_err vt__config_build(const vt__config *cfg, vt_health *h, char *errbuf,
			size_t errlen)
{
	ctx c = {.path = cfg->path, .err = errbuf, .errlen = errlen};
	for (size_t i = 0; i < cfg->nchecks; i++) {
		const vt__check_conf *k = &cfg->checks[i];
		vt_err rv = build_check(h, k);
		if (rv == VT_OK)
			continue;
		snprintf(c.where, sizeof(c.where), "checks[%zu] \"%s\"", i,
			 k->name);
		switch (rv) {
		case VT_EINVAL:
			if (k->type == VT__CHECK_EXEC &&
			    access(k->argv[0], X_OK) != 0) {
				const char *why = vt__errno_text(errno);
				char q[300];
				vt__config_quote(k->argv[0], q, sizeof(q));
				return fail(&c, "command",
					    "%s: not executable: %s", q, why);
			}
			if (k->type == VT__CHECK_DMARKET &&
			    k->public_key != NULL)
				return fail(&c, "public_key",
					    "refused by the dmarket check: "
					    "the secret key in %s does not "
					    "belong to this public key",
					    k->secret_key_env);
			return fail(&c, blamed_field(k),
				    "refused by the %s check: not a valid "
				    "value",
				    vt__check_type_name(k->type));
		case VT_ENOENT:
			return fail(&c, "secret_key_env",
				    "environment variable %s is not set",
				    k->secret_key_env);
		case VT_EEXIST:
			return fail(&c, "name", "already used");
		default:
			return fail_rv(&c, rv, NULL, "cannot add the check: %s",
				       vt_strerror(rv));
		}
	}
	return VT_OK;
}

void vt__config_forget_secrets(const vt__config *cfg)
{
	for (size_t i = 0; i < cfg->nchecks; i++)
		if (cfg->checks[i].secret_key_env != NULL)
			vt__secret_keep(cfg->checks[i].secret_key_env);
	if (cfg->token_env != NULL)
		vt__secret_keep(cfg->token_env);
	vt__alerts_forget_secrets(cfg->alerts);
}

vt_err vt__config_verify(const vt__config *cfg, char *errbuf, size_t errlen)
{
	vt_health *h = NULL;
	vt_health_opts ho = {.workers = 1, .queue_cap = 16};
	vt_err rv = vt_health_alloc(&h, &ho);
	if (rv != VT_OK) {
		ctx c = {.path = cfg->path, .err = errbuf, .errlen = errlen};
		return fail_rv(&c, rv, NULL, "cannot check: %s",
			       vt_strerror(rv));
	}
	rv = vt__config_build(cfg, h, errbuf, errlen);
	if (rv == VT_OK)
		rv = vt__alerts_build_maintenance(cfg->alerts, h);
	vt_health_free(h);
	return rv;
}

vt_err vt__config_override(vt__config *cfg, const char *key, const char *value,
			   char *errbuf, size_t errlen)
{
	char flag[16];
	snprintf(flag, sizeof(flag), "--%s", key);
	ctx c = {.path = flag, .err = errbuf, .errlen = errlen};
	bool http = strcmp(key, "http") == 0;
	char **slot = http			? &cfg->http
		      : strcmp(key, "rpc") == 0 ? &cfg->rpc
						: &cfg->pub;
	char *v = NULL;
	if (strcmp(value, "none") != 0) {
		if (!(http ? http_addr_valid(value) : nng_url_valid(value)))
			return fail(&c, NULL,
				    http ? "must be \"host:port\" with a port "
					   "of 1..65535 (optionally after "
					   "http:// or https://), or none"
					 : "must be \"tcp://host:port\" or "
					   "\"ipc:///path\", or none");
		if ((v = strdup(value)) == NULL)
			return fail_rv(&c, VT_ENOMEM, NULL, "out of memory");
	}
	free(*slot);
	*slot = v;
	return VT_OK;
}

/* arg into out (cap bytes) with the password of the URL in it, if any,
 * redacted: a plugin's arguments may carry credentials
 * ("--url=https://user:pw@host"), and the exec check shows none of
 * them either. */
static void redact_arg(const char *arg, char *out, size_t cap)
{
	const char *sep = strstr(arg, "://");
	if (sep == NULL) {
		snprintf(out, cap, "%s", arg);
		return;
	}
	const char *url = sep;
	while (url > arg && (isalnum((unsigned char)url[-1]) ||
			     strchr("+.-", url[-1]) != NULL))
		url--;
	snprintf(out, cap, "%.*s", (int)(url - arg), arg);
	size_t o = strlen(out);
	vt_url_redact(url, out + o, cap - o);
}

void vt__check_conf_describe(const vt__check_conf *k, char *out, size_t cap)
{
	char target[1024] = "";
	switch (k->type) {
	case VT__CHECK_REDIS:
	case VT__CHECK_RABBITMQ:
	case VT__CHECK_HTTP:
		vt_url_redact(k->url, target, sizeof(target));
		break;
	case VT__CHECK_DMARKET:
		vt_url_redact(k->base_url != NULL ? k->base_url
						  : "https://api.dmarket.com",
			      target, sizeof(target));
		if (k->public_key != NULL)
			snprintf(target + strlen(target),
				 sizeof(target) - strlen(target),
				 " (signed, secret from $%s)",
				 k->secret_key_env);
		break;
	case VT__CHECK_TCP:
		snprintf(target, sizeof(target), "%s", k->address);
		break;
	case VT__CHECK_DISK:
		snprintf(target, sizeof(target), "%s", k->path);
		break;
	case VT__CHECK_HEARTBEAT:
		snprintf(target, sizeof(target), "ttl %lld ms",
			 (long long)k->ttl_ms);
		break;
	case VT__CHECK_EXEC:
		for (size_t i = 0, o = 0; i < k->argc; i++) {
			char arg[sizeof(target)];
			redact_arg(k->argv[i], arg, sizeof(arg));
			int n = snprintf(target + o, sizeof(target) - o, "%s%s",
					 i > 0 ? " " : "", arg);
			if (n < 0 || (size_t)n >= sizeof(target) - o)
				break;
			o += (size_t)n;
		}
		break;
	}
	snprintf(out, cap, "%s %s, every %d ms, timeout %d ms%s",
		 vt__check_type_name(k->type), target, k->opts.interval_ms,
		 k->opts.timeout_ms, k->opts.critical ? "" : ", non-critical");
}
