/*
 * fuzz_config.c - libFuzzer target for vitalsd's config loader: the
 * input is the text of a config file, parsed by vt__config_parse; a
 * config that parses is described check by check (the log lines) and
 * verified (every check built on a scratch registry, as
 * vitalsd --check-config does; building opens no connection).
 *
 * Checks: an error is VT_EINVAL with a message that starts with the file
 * name and is printable ASCII; a parsed config holds only values in
 * their documented ranges; descriptions fit any buffer; and no password
 * of a URL in the text (a "scheme://user:PASSWORD@" span) appears in an
 * error message or a description, unless the same text is elsewhere in
 * the file too.
 */
#include "daemon/config.h"
#include "fuzz.h"
#include "health/check.h"

#define FZ_CFG_PATH "fuzz.json"

/* The passwords of the URLs that are JSON string values of text (keys
 * and "type" values are quoted in messages on purpose): after
 * "scheme://", the authority runs to the first of / ? # " \ or a byte
 * outside printable ASCII, the user info to its last '@', the password
 * from the user info's first ':'. Kept only when they look like secrets
 * that no message could hold by chance: 5+ letters and digits, with at
 * least one of each. The text with every such span blanked out goes to
 * rest. */
typedef struct fz_cfg_secrets {
	char *pw[16];
	size_t n;
	char *rest;
} fz_cfg_secrets;

static bool fz_cfg_secret_like(const char *s, size_t n)
{
	bool alpha = false, digit = false;
	if (n < 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			digit = true;
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			alpha = true;
		else
			return false;
	}
	return alpha && digit;
}

/* The password of the URL text[from..to), if it is one: a scheme, "://",
 * an authority. */
static void fz_cfg_scan(const char *text, size_t from, size_t to,
			fz_cfg_secrets *sec)
{
	size_t i = from;
	while (i < to && ((text[i] >= 'a' && text[i] <= 'z') ||
			  (text[i] >= 'A' && text[i] <= 'Z') ||
			  (i > from && ((text[i] >= '0' && text[i] <= '9') ||
					strchr("+.-", text[i]) != NULL))))
		i++;
	if (i == from || i + 3 > to || memcmp(text + i, "://", 3) != 0)
		return;
	size_t a = i + 3, e = a;
	while (e < to && text[e] > ' ' && text[e] < 0x7f &&
	       strchr("/?#\"\\", text[e]) == NULL)
		e++;
	size_t at = e;
	while (at > a && text[at - 1] != '@')
		at--;
	if (at == a)
		return;
	at--; /* the last '@' */
	const char *colon = memchr(text + a, ':', at - a);
	if (colon == NULL)
		return;
	size_t p = (size_t)(colon - text) + 1;
	memset(sec->rest + p, ' ', at - p);
	if (sec->n < 16 && fz_cfg_secret_like(text + p, at - p)) {
		sec->pw[sec->n] = strndup(text + p, at - p);
		VT_FUZZ_CHECK(sec->pw[sec->n] != NULL);
		sec->n++;
	}
}

static void fz_cfg_secrets_find(const char *text, size_t len,
				fz_cfg_secrets *sec)
{
	memset(sec, 0, sizeof(*sec));
	sec->rest = malloc(len + 1);
	VT_FUZZ_CHECK(sec->rest != NULL);
	memcpy(sec->rest, text, len);
	sec->rest[len] = '\0';
	bool type_key = false;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '"')
			continue;
		size_t start = ++i;
		while (i < len && text[i] != '"')
			i += text[i] == '\\' && i + 1 < len ? 2 : 1;
		size_t end = i < len ? i : len, k = end + 1;
		while (k < len && strchr(" \t\r\n", text[k]) != NULL)
			k++;
		if (k < len && text[k] == ':') {
			/* a key; a "type" value is quoted on purpose too */
			type_key = end - start == 4 &&
				   memcmp(text + start, "type", 4) == 0;
			continue;
		}
		if (!type_key)
			fz_cfg_scan(text, start, end, sec);
		type_key = false;
	}
}

/* No secret that the text holds only as a password is in out. */
static void fz_cfg_no_leak(const fz_cfg_secrets *sec, const char *out)
{
	for (size_t i = 0; i < sec->n; i++)
		if (strstr(sec->rest, sec->pw[i]) == NULL)
			VT_FUZZ_CHECK(strstr(out, sec->pw[i]) == NULL);
}

static void fz_cfg_secrets_free(fz_cfg_secrets *sec)
{
	for (size_t i = 0; i < sec->n; i++)
		free(sec->pw[i]);
	free(sec->rest);
}

/* An error message: "fuzz.json: ...", printable ASCII, no secret. */
static void fz_cfg_message(const fz_cfg_secrets *sec, const char *err,
			   size_t cap)
{
	VT_FUZZ_CHECK(memchr(err, '\0', cap) != NULL);
	VT_FUZZ_CHECK(strncmp(err, FZ_CFG_PATH ": ", strlen(FZ_CFG_PATH) + 2) ==
		      0);
	for (const char *p = err; *p != '\0'; p++)
		VT_FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	fz_cfg_no_leak(sec, err);
}

/* What a parsed config promises (config.h and vitals/health.h). */
static void fz_cfg_valid(const vt__config *cfg)
{
	VT_FUZZ_CHECK(strcmp(cfg->path, FZ_CFG_PATH) == 0);
	VT_FUZZ_CHECK(cfg->workers >= 1 && cfg->workers <= 256);
	VT_FUZZ_CHECK(cfg->degraded_http_code >= 200 &&
		      cfg->degraded_http_code <= 599);
	VT_FUZZ_CHECK(cfg->http != NULL || cfg->rpc != NULL);
	VT_FUZZ_CHECK(cfg->rpc == NULL || cfg->pub == NULL ||
		      strcmp(cfg->rpc, cfg->pub) != 0);
	VT_FUZZ_CHECK(cfg->nchecks <= VT__CONFIG_MAX_CHECKS);
	VT_FUZZ_CHECK(cfg->nchecks == 0 || cfg->checks != NULL);
	for (size_t i = 0; i < cfg->nchecks; i++) {
		const vt__check_conf *k = &cfg->checks[i];
		VT_FUZZ_CHECK(vt_check_name_valid(k->name));
		for (size_t j = 0; j < i; j++)
			VT_FUZZ_CHECK(strcmp(cfg->checks[j].name, k->name) !=
				      0);
		VT_FUZZ_CHECK(k->type >= VT__CHECK_REDIS &&
			      k->type <= VT__CHECK_HEARTBEAT);
		const vt_check_opts *o = &k->opts;
		VT_FUZZ_CHECK(o->timeout_ms > 0 && o->interval_ms > 0 &&
			      o->degraded_ms >= 0);
		VT_FUZZ_CHECK(o->failures_before_unhealthy >= 1 &&
			      o->successes_before_healthy >= 1);
		VT_FUZZ_CHECK(o->ntags == k->ntags);
		for (size_t t = 0; t < k->ntags; t++)
			VT_FUZZ_CHECK(vt_check_name_valid(k->tags[t]));
		switch (k->type) {
		case VT__CHECK_REDIS:
		case VT__CHECK_RABBITMQ:
		case VT__CHECK_HTTP:
			VT_FUZZ_CHECK(k->url != NULL);
			break;
		case VT__CHECK_DMARKET:
			VT_FUZZ_CHECK((k->public_key == NULL) ==
				      (k->secret_key_env == NULL));
			break;
		case VT__CHECK_TCP:
			VT_FUZZ_CHECK(k->address != NULL);
			break;
		case VT__CHECK_DISK:
			VT_FUZZ_CHECK(k->path != NULL);
			break;
		case VT__CHECK_EXEC:
			VT_FUZZ_CHECK(k->argc >= 1 && k->argv != NULL &&
				      k->argv[0][0] == '/' &&
				      k->argv[k->argc] == NULL);
			break;
		case VT__CHECK_HEARTBEAT:
			VT_FUZZ_CHECK(k->ttl_ms >= 1);
			break;
		}
	}
}

static int vt_fuzz_config(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	fz_cfg_secrets sec;
	fz_cfg_secrets_find(text, size, &sec);
	char err[512];
	memset(err, 'x', sizeof(err));
	vt__config *cfg = NULL;
	vt_err rv =
	    vt__config_parse(&cfg, text, size, FZ_CFG_PATH, err, sizeof(err));
	if (rv != VT_OK) {
		VT_FUZZ_CHECK(rv == VT_EINVAL && cfg == NULL);
		fz_cfg_message(&sec, err, sizeof(err));
		fz_cfg_secrets_free(&sec);
		return 0;
	}
	VT_FUZZ_CHECK(cfg != NULL);
	fz_cfg_valid(cfg);

	/* The log lines, whole and cut. */
	static const size_t caps[] = {1, 7, 64, 2048};
	for (size_t i = 0; i < cfg->nchecks; i++) {
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			char *out = malloc(caps[c]);
			VT_FUZZ_CHECK(out != NULL);
			vt__check_conf_describe(&cfg->checks[i], out, caps[c]);
			VT_FUZZ_CHECK(memchr(out, '\0', caps[c]) != NULL);
			fz_cfg_no_leak(&sec, out);
			free(out);
		}
	}
	/* vitalsd --check-config: each check built, none started. */
	memset(err, 'x', sizeof(err));
	rv = vt__config_verify(cfg, err, sizeof(err));
	if (rv != VT_OK)
		fz_cfg_message(&sec, err, sizeof(err));
	vt__config_free(cfg);
	fz_cfg_secrets_free(&sec);
	return 0;
}

#ifndef VT_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vt_fuzz_config(data, size);
}
#endif
