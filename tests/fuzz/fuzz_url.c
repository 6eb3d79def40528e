/*
 * fuzz_url.c - libFuzzer target for URL parsing and redaction
 * (src/checks/url.c): the input's first byte picks the size of the
 * output buffer, the rest is the text (up to a NUL). It goes through
 * vt__url_parse, vt_url_redact (into a roomy buffer and into the picked
 * one) and vt__scrub.
 *
 * Checks: a parsed URL has the documented parts (lower-case scheme, port
 * in range, path empty or rooted, query without '#'); redaction always
 * leaves a NUL-terminated text in the buffer, valid UTF-8 when the input
 * is, the input itself when it has no "scheme://"; when the parse found
 * a password, neither its text in the URL nor its decoded form appears
 * in the redacted output, nor do the values of credential query
 * parameters (password, token, ...), unless the same text is elsewhere
 * in the URL; and vt__scrub leaves no occurrence of its secret.
 */
#include <strings.h>

#include "checks/url.h"
#include "fuzz.h"
#include "vitals/checks.h"

/* The query parameters vt_url_redact hides, compared without case. */
static const char *const fz_url_secret_keys[] = {
    "password", "passwd",	"pass",	   "pwd",    "secret",
    "token",	"access_token", "api_key", "apikey", NULL,
};

/* Length of the "scheme" when s starts with "scheme://", else 0. */
static size_t fz_url_scheme(const char *s)
{
	size_t i = 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	       (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
	       s[i] == '.')
		i++;
	return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

/* Secrets of a parsed URL: the spans of text that hold one, and the
 * decoded password, which must not show in a redaction. */
typedef struct fz_url_spans {
	size_t off[16], len[16];
	size_t n;
} fz_url_spans;

static void fz_url_span(fz_url_spans *sp, size_t off, size_t len)
{
	if (len > 0 && sp->n < 16) {
		sp->off[sp->n] = off;
		sp->len[sp->n++] = len;
	}
}

/* Whether needle (n bytes, no '*') may show in a redaction of text:
 * only when it is in text with every secret span turned into "*". */
static bool fz_url_elsewhere(const char *text, const fz_url_spans *sp,
			     const char *needle)
{
	size_t tl = strlen(text);
	char *rest = malloc(tl + 1);
	VT_FUZZ_CHECK(rest != NULL);
	size_t o = 0;
	for (size_t i = 0; i < tl;) {
		size_t k = 0;
		while (k < sp->n && sp->off[k] != i)
			k++;
		if (k < sp->n) {
			rest[o++] = '*';
			i += sp->len[k];
		} else {
			rest[o++] = text[i++];
		}
	}
	rest[o] = '\0';
	bool found = strstr(rest, needle) != NULL;
	free(rest);
	return found;
}

/* needle (if any, without '*') is not in out unless it is elsewhere. */
static void fz_url_hidden(const char *text, const fz_url_spans *sp,
			  const char *out, const char *needle, size_t n)
{
	if (n == 0 || memchr(needle, '*', n) != NULL)
		return;
	char *s = strndup(needle, n);
	VT_FUZZ_CHECK(s != NULL);
	if (strstr(out, s) != NULL)
		VT_FUZZ_CHECK(fz_url_elsewhere(text, sp, s));
	free(s);
}

static void fz_url_parsed(const char *text, const vt__url *u)
{
	size_t sl = fz_url_scheme(text);
	VT_FUZZ_CHECK(sl > 0 && strlen(u->scheme) == sl);
	VT_FUZZ_CHECK(strncasecmp(text, u->scheme, sl) == 0);
	for (const char *c = u->scheme; *c != '\0'; c++)
		VT_FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'));
	VT_FUZZ_CHECK(strlen(text) <= VT__URL_MAX);
	VT_FUZZ_CHECK(u->host != NULL && u->path != NULL);
	VT_FUZZ_CHECK(u->port >= 0 && u->port <= 65535);
	VT_FUZZ_CHECK(u->path[0] == '\0' || u->path[0] == '/');
	VT_FUZZ_CHECK(u->query == NULL || strchr(u->query, '#') == NULL);
	VT_FUZZ_CHECK(u->password == NULL || u->user != NULL);
	for (const char *c = u->host; *c != '\0'; c++)
		VT_FUZZ_CHECK(*c != '@' && *c != '/' && *c != '[');
	char hp[16];
	vt__url_hostport(u->host, u->host_v6, u->port, hp, sizeof(hp));
	VT_FUZZ_CHECK(memchr(hp, '\0', sizeof(hp)) != NULL);
	char *v = NULL;
	vt_err rv = vt__url_query_get(u->query, "db", &v);
	VT_FUZZ_CHECK(rv == VT_OK || rv == VT_ENOENT || rv == VT_EINVAL);
	VT_FUZZ_CHECK((rv == VT_OK) == (v != NULL));
	free(v);
}

/* The secret spans of a parsed URL: the password (from the user info's
 * first ':' to the authority's last '@') and the values of credential
 * query parameters. */
static void fz_url_find(const char *text, const vt__url *u, fz_url_spans *sp)
{
	memset(sp, 0, sizeof(*sp));
	const char *a = text + fz_url_scheme(text) + 3;
	size_t alen = strcspn(a, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (a[i] == '@')
			at = a + i;
	if (u->password != NULL) {
		VT_FUZZ_CHECK(at != NULL);
		const char *colon = memchr(a, ':', (size_t)(at - a));
		VT_FUZZ_CHECK(colon != NULL);
		fz_url_span(sp, (size_t)(colon + 1 - text),
			    (size_t)(at - colon - 1));
	}
	if (u->query == NULL)
		return;
	const char *q = strchr(a + alen, '?');
	VT_FUZZ_CHECK(q != NULL);
	q++;
	for (;;) {
		size_t n = strcspn(q, "&#");
		const char *eq = memchr(q, '=', n);
		for (size_t k = 0; eq != NULL && fz_url_secret_keys[k] != NULL;
		     k++)
			if (strlen(fz_url_secret_keys[k]) == (size_t)(eq - q) &&
			    strncasecmp(q, fz_url_secret_keys[k],
					(size_t)(eq - q)) == 0)
				fz_url_span(sp, (size_t)(eq + 1 - text),
					    n - (size_t)(eq - q) - 1);
		if (q[n] != '&')
			break;
		q += n + 1;
	}
}

static void fz_url_redacted(const char *text, const char *out, size_t cap,
			    const vt__url *u, const fz_url_spans *sp)
{
	VT_FUZZ_CHECK(memchr(out, '\0', cap) != NULL);
	size_t tl = strlen(text), ol = strlen(out);
	if (fz_utf8_valid(text, tl))
		VT_FUZZ_CHECK(fz_utf8_valid(out, ol));
	if (fz_url_scheme(text) == 0 && tl < cap)
		VT_FUZZ_CHECK(strcmp(out, text) == 0);
	if (u == NULL)
		return;
	for (size_t k = 0; k < sp->n; k++)
		fz_url_hidden(text, sp, out, text + sp->off[k], sp->len[k]);
	if (u->password != NULL)
		fz_url_hidden(text, sp, out, u->password, strlen(u->password));
}

static int vt_fuzz_url(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t small = 1 + data[0] % 64;
	char *text = strndup((const char *)data + 1, size - 1);
	VT_FUZZ_CHECK(text != NULL);
	size_t tl = strlen(text);

	vt__url u;
	bool parsed = vt__url_parse(text, &u) == VT_OK;
	fz_url_spans sp = {.n = 0};
	if (parsed) {
		fz_url_parsed(text, &u);
		fz_url_find(text, &u, &sp);
	}

	/* Redaction, roomy and cut. */
	size_t cap = 2 * tl + 16;
	char *out = malloc(cap);
	VT_FUZZ_CHECK(out != NULL);
	vt_url_redact(text, out, cap);
	fz_url_redacted(text, out, cap, parsed ? &u : NULL, &sp);
	char *cut = malloc(small);
	VT_FUZZ_CHECK(cut != NULL);
	vt_url_redact(text, cut, small);
	fz_url_redacted(text, cut, small, parsed ? &u : NULL, &sp);
	VT_FUZZ_CHECK(strncmp(cut, out, strlen(cut)) == 0);

	/* Scrubbing a secret out of the text: the parsed password, or a
	 * piece of the text. */
	char piece[8];
	const char *secret = piece;
	if (parsed && u.password != NULL)
		secret = u.password;
	else
		snprintf(piece, sizeof(piece), "%s", text + data[0] % (tl + 1));
	size_t scap = tl + 1 + data[0] % 8;
	char *scr = malloc(scap);
	VT_FUZZ_CHECK(scr != NULL);
	memcpy(scr, text, tl + 1);
	vt__scrub(scr, scap, secret);
	VT_FUZZ_CHECK(memchr(scr, '\0', scap) != NULL);
	if (secret[0] == '\0' || strstr(text, secret) == NULL)
		VT_FUZZ_CHECK(strcmp(scr, text) == 0);
	else if (strchr(secret, '*') == NULL)
		VT_FUZZ_CHECK(strstr(scr, secret) == NULL);

	free(scr);
	free(cut);
	free(out);
	if (parsed)
		vt__url_fini(&u);
	free(text);
	return 0;
}

#ifndef VT_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vt_fuzz_url(data, size);
}
#endif
