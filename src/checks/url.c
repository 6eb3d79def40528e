/*
 * url.c - URL parsing for the checks and vt_url_redact.
 *
 * vt__url_parse splits a URL into parts with one pass over the text:
 * the scheme ends at "://", the authority at the first '/', '?' or '#',
 * the user info at the last '@' of the authority; the rest is the path,
 * then the query. Only the user info is percent-decoded here; callers
 * decode what else they need (vt__url_decode, vt__url_query_get).
 *
 * vt_url_redact never needs a valid URL: it copies its input with the
 * password of the user info, and the values of query parameters named
 * like credentials (password, token, ...), replaced by "***". When the
 * authority is not a valid host[:port] - as when a password holds an
 * unencoded '/', '?' or '#' - it hides everything from the first ':' of
 * the authority up to the last '@' of the text (or to the end of the
 * authority), since it cannot tell where the password ends. Text without
 * "scheme://" is copied unchanged, as vitals/checks.h promises.
 */
#include "checks/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vitals/checks.h"

/* Query parameters whose values are credentials, compared without case. */
static const char *const secret_keys[] = {
    "password", "passwd",	"pass",	   "pwd",    "secret",
    "token",	"access_token", "api_key", "apikey", NULL,
};

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Length of the scheme when s starts with "scheme://", else 0. */
static size_t scheme_len(const char *s)
{
	if (!is_alpha(s[0]))
		return 0;
	size_t i = 1;
	while (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

/* The last '@' of s[0..n), or NULL. */
static const char *last_at(const char *s, size_t n)
{
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == '@')
			return s + i - 1;
	return NULL;
}

/* Parses host[:port] in s[0..n): the host is s[*hoff..*hoff + *hlen).
 * Returns false when it is not one. An empty host is valid (unix:///p);
 * so is an empty port (absent, *port = 0). */
static bool parse_hostport(const char *s, size_t n, size_t *hoff, size_t *hlen,
			   bool *v6, int *port)
{
	size_t i = 0;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL || close == s + 1)
			return false;
		bool colon = false;
		for (const char *c = s + 1; c < close; c++) {
			if (*c == ':')
				colon = true;
			else if (OPENSSL_hexchar2int((unsigned char)*c) < 0 &&
				 *c != '.')
				return false;
		}
		if (!colon)
			return false;
		*hoff = 1;
		*hlen = (size_t)(close - s) - 1;
		*v6 = true;
		i = (size_t)(close - s) + 1;
	} else {
		while (i < n && s[i] != ':') {
			char c = s[i];
			if (!is_alnum(c) && c != '-' && c != '.' && c != '_' &&
			    c != '~')
				return false;
			i++;
		}
		*hoff = 0;
		*hlen = i;
		*v6 = false;
	}
	*port = 0;
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	i++;
	if (n - i > 5)
		return false;
	long p = 0;
	for (; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		p = p * 10 + (s[i] - '0');
	}
	if (p > 65535 || (p == 0 && s[n - 1] != ':'))
		return false;
	*port = (int)p;
	return true;
}

vt_err vt__url_decode(const char *s, size_t n, char **out)
{
	char *d = malloc(n + 1);
	if (d == NULL)
		return VT_ENOMEM;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			d[j++] = s[i];
			continue;
		}
		int hi = n - i >= 3
			     ? OPENSSL_hexchar2int((unsigned char)s[i + 1])
			     : -1;
		int lo = n - i >= 3
			     ? OPENSSL_hexchar2int((unsigned char)s[i + 2])
			     : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(d);
			return VT_EINVAL;
		}
		d[j++] = (char)(hi * 16 + lo);
		i += 2;
	}
	d[j] = '\0';
	*out = d;
	return VT_OK;
}

void vt__url_fini(vt__url *u)
{
	if (u == NULL)
		return;
	free(u->scheme);
	free(u->user);
	vt__secret_wipe(u->password);
	free(u->password);
	vt__secret_wipe(u->password_raw);
	free(u->password_raw);
	free(u->host);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

vt_err vt__url_parse(const char *text, vt__url *out)
{
	if (text == NULL || out == NULL)
		return VT_EINVAL;
	size_t len = strnlen(text, VT__URL_MAX + 1);
	if (len > VT__URL_MAX)
		return VT_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c <= 0x20 || c == 0x7f)
			return VT_EINVAL;
	}
	size_t sl = scheme_len(text);
	if (sl == 0)
		return VT_EINVAL;

	vt__url u = {0};
	vt_err err = VT_ENOMEM;
	const char *a = text + sl + 3;
	size_t alen = strcspn(a, "/?#");
	const char *hp = a;
	size_t hplen = alen;

	if ((u.scheme = strndup(text, sl)) == NULL)
		goto fail;
	for (char *c = u.scheme; *c != '\0'; c++)
		*c = lower(*c);

	const char *at = last_at(a, alen);
	if (at != NULL) {
		size_t uilen = (size_t)(at - a);
		const char *colon = memchr(a, ':', uilen);
		size_t ulen = colon != NULL ? (size_t)(colon - a) : uilen;
		if ((err = vt__url_decode(a, ulen, &u.user)) != VT_OK)
			goto fail;
		if (colon != NULL &&
		    (err = vt__url_decode(colon + 1, uilen - ulen - 1,
					  &u.password)) != VT_OK)
			goto fail;
		err = VT_ENOMEM;
		if (colon != NULL && (u.password_raw = strndup(
					  colon + 1, uilen - ulen - 1)) == NULL)
			goto fail;
		hp = at + 1;
		hplen = alen - uilen - 1;
	}

	size_t hoff, hlen;
	if (!parse_hostport(hp, hplen, &hoff, &hlen, &u.host_v6, &u.port)) {
		err = VT_EINVAL;
		goto fail;
	}
	err = VT_ENOMEM;
	if ((u.host = strndup(hp + hoff, hlen)) == NULL)
		goto fail;

	const char *rest = a + alen;
	size_t plen = strcspn(rest, "?#");
	if ((u.path = strndup(rest, plen)) == NULL)
		goto fail;
	if (rest[plen] == '?') {
		const char *q = rest + plen + 1;
		if ((u.query = strndup(q, strcspn(q, "#"))) == NULL)
			goto fail;
	}
	*out = u;
	return VT_OK;
fail:
	vt__url_fini(&u);
	return err;
}

vt_err vt__url_query_get(const char *query, const char *key, char **out)
{
	if (query == NULL)
		return VT_ENOENT;
	size_t klen = strlen(key);
	const char *p = query;
	for (;;) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t kn = eq != NULL ? (size_t)(eq - p) : n;
		if (kn == klen && memcmp(p, key, klen) == 0) {
			if (eq == NULL)
				return vt__url_decode("", 0, out);
			return vt__url_decode(eq + 1, n - kn - 1, out);
		}
		if (p[n] == '\0')
			return VT_ENOENT;
		p += n + 1;
	}
}

void vt__url_hostport(const char *host, bool v6, int port, char *out,
		      size_t cap)
{
	if (cap == 0)
		return;
	/* Truncation is fine: the text is only shown. */
	int n = snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", host, port);
	if (n < 0)
		out[0] = '\0';
}

/* A bounded writer into a caller's buffer: whatever does not fit is cut,
 * and the text stays NUL-terminated. */
typedef struct wbuf {
	char *p;
	size_t cap; /* > 0 */
	size_t len;
	bool cut;
} wbuf;

static void w_put(wbuf *w, const char *s, size_t n)
{
	size_t room = w->cap - 1 - w->len;
	if (n > room) {
		n = room;
		w->cut = true;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void w_puts(wbuf *w, const char *s)
{
	w_put(w, s, strlen(s));
}

/* After a cut, drops a UTF-8 sequence left incomplete at the end. */
static void w_finish(wbuf *w)
{
	if (!w->cut || w->len == 0)
		return;
	size_t k = w->len;
	size_t back = 0;
	while (k > 0 && back < 4 &&
	       ((unsigned char)w->p[k - 1] & 0xC0) == 0x80) {
		k--;
		back++;
	}
	if (k == 0)
		return;
	unsigned char lead = (unsigned char)w->p[k - 1];
	size_t need = lead >= 0xF0   ? 4
		      : lead >= 0xE0 ? 3
		      : lead >= 0xC0 ? 2
				     : 1;
	if (need > 1 && back + 1 < need) {
		w->len = k - 1;
		w->p[w->len] = '\0';
	}
}

static bool is_secret_key(const char *k, size_t n)
{
	for (size_t i = 0; secret_keys[i] != NULL; i++) {
		const char *s = secret_keys[i];
		if (strlen(s) != n)
			continue;
		size_t j = 0;
		while (j < n && lower(k[j]) == s[j])
			j++;
		if (j == n)
			return true;
	}
	return false;
}

/* Copies s (the text after the authority) with the values of secret
 * query parameters hidden. */
static void put_rest(wbuf *w, const char *s)
{
	size_t n = strcspn(s, "?#");
	w_put(w, s, n);
	if (s[n] != '?') {
		w_puts(w, s + n);
		return;
	}
	w_put(w, "?", 1);
	const char *p = s + n + 1;
	for (;;) {
		size_t pn = strcspn(p, "&#");
		const char *eq = memchr(p, '=', pn);
		if (eq != NULL && is_secret_key(p, (size_t)(eq - p))) {
			w_put(w, p, (size_t)(eq - p) + 1);
			w_puts(w, "***");
		} else {
			w_put(w, p, pn);
		}
		p += pn;
		if (*p != '&')
			break;
		w_put(w, "&", 1);
		p++;
	}
	w_puts(w, p);
}

/* Contract: vitals/checks.h. Thread-safe. */
void vt_url_redact(const char *url, char *out, size_t cap)
{
	if (out == NULL || cap == 0)
		return;
	wbuf w = {out, cap, 0, false};
	out[0] = '\0';
	if (url == NULL)
		return;
	size_t sl = scheme_len(url);
	if (sl == 0) {
		w_puts(&w, url);
		w_finish(&w);
		return;
	}
	const char *a = url + sl + 3;
	size_t alen = strcspn(a, "/?#");
	const char *at = last_at(a, alen);
	const char *rest = a;
	w_put(&w, url, sl + 3);
	if (at != NULL) {
		const char *colon = memchr(a, ':', (size_t)(at - a));
		if (colon != NULL) {
			w_put(&w, a, (size_t)(colon - a) + 1);
			w_puts(&w, "***@");
		} else {
			w_put(&w, a, (size_t)(at - a) + 1);
		}
		rest = at + 1;
	} else {
		size_t hoff, hlen;
		bool v6;
		int port;
		const char *colon = memchr(a, ':', alen);
		if (!parse_hostport(a, alen, &hoff, &hlen, &v6, &port) &&
		    colon != NULL) {
			const char *at2 = strrchr(a, '@');
			w_put(&w, a, (size_t)(colon - a) + 1);
			w_puts(&w, "***");
			if (at2 != NULL && at2 > colon) {
				w_put(&w, "@", 1);
				rest = at2 + 1;
			} else {
				rest = a + alen;
			}
		}
	}
	put_rest(&w, rest);
	w_finish(&w);
}

char *vt__url_shown(const char *url)
{
	/* "***" may be longer than the password it replaces. */
	size_t cap = 2 * strlen(url) + 16;
	char *s = malloc(cap);
	if (s != NULL)
		vt_url_redact(url, s, cap);
	return s;
}

void vt__scrub(char *text, size_t cap, const char *secret)
{
	if (text == NULL || cap == 0 || secret == NULL || secret[0] == '\0' ||
	    strstr(text, secret) == NULL)
		return;
	char *copy = strdup(text);
	if (copy == NULL) {
		/* Cannot rebuild it: withhold it rather than show it. */
		snprintf(text, cap, "%s", "(text withheld)");
		return;
	}
	size_t sl = strlen(secret);
	wbuf w = {text, cap, 0, false};
	text[0] = '\0';
	const char *p = copy;
	const char *hit;
	while ((hit = strstr(p, secret)) != NULL) {
		w_put(&w, p, (size_t)(hit - p));
		w_puts(&w, "***");
		p = hit + sl;
	}
	w_puts(&w, p);
	w_finish(&w);
	free(copy);
}

void vt__secret_wipe(char *s)
{
	if (s == NULL)
		return;
	volatile char *p = s;
	while (*p != '\0')
		*p++ = '\0';
}
