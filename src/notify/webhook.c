/*
 * webhook.c - the webhook message: a JSON body (DESIGN.md)
 *   {"id":"<delivery id>","kind":"triggered|resolved|reminder",
 *    "check":..,"status":..,"previous":..,"error":..|null,"time":..}
 * optionally signed with HMAC-SHA256 of the exact body bytes, sent as
 * "X-Vitals-Signature: sha256=<hex>". A reminder's "previous" equals
 * its "status". When the rate limit held messages back, one summary
 * follows: {"id","kind":"summary","time","held":[{"check","count",
 * "status"}]}, "status" being the check's latest.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "notify/notify_int.h"

#define BODY_MAX (64 * 1024)

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

void vt__json_string(vt_buf *b, const char *s)
{
	vt__buf_puts(b, "\"");
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		size_t n = utf8_len(p);
		if (n == 0) {
			vt__buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
			p++;
		} else if (*p == '"' || *p == '\\') {
			vt__buf_printf(b, "\\%c", *p);
			p++;
		} else if (*p == '\n') {
			vt__buf_puts(b, "\\n");
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			vt__buf_printf(b, "\\u%04x", *p);
			p++;
		} else {
			vt__buf_append(b, p, n);
			p += n;
		}
	}
	vt__buf_puts(b, "\"");
}

static const char *kind_name(vt__alert_kind k)
{
	switch (k) {
	case VT__ALERT_TRIGGERED:
		return "triggered";
	case VT__ALERT_RESOLVED:
		return "resolved";
	case VT__ALERT_REMINDER:
		return "reminder";
	default:
		return "none";
	}
}

static char *take(vt_buf *b)
{
	char *out = NULL;
	size_t len;
	if (vt__buf_take(b, &out, &len) != VT_OK) {
		vt__buf_fini(b);
		return NULL;
	}
	return out;
}

char *vt__webhook_body(const vt__msg *m, const char *id)
{
	vt_buf b;
	vt__buf_init(&b, BODY_MAX);
	vt__buf_puts(&b, "{\"id\":");
	vt__json_string(&b, id);
	vt__buf_printf(&b, ",\"kind\":\"%s\",\"check\":", kind_name(m->kind));
	vt__json_string(&b, m->check);
	vt__buf_printf(&b, ",\"status\":\"%s\",\"previous\":\"%s\",\"error\":",
		       vt_status_name(m->status), vt_status_name(m->previous));
	if (m->error != NULL)
		vt__json_string(&b, m->error);
	else
		vt__buf_puts(&b, "null");
	vt__buf_printf(&b, ",\"time\":%.3f}", m->time);
	return take(&b);
}

char *vt__webhook_summary(const vt__held *held, size_t n, const char *id,
			  double time)
{
	vt_buf b;
	vt__buf_init(&b, BODY_MAX);
	vt__buf_puts(&b, "{\"id\":");
	vt__json_string(&b, id);
	vt__buf_printf(&b, ",\"kind\":\"summary\",\"time\":%.3f,\"held\":[",
		       time);
	for (size_t i = 0; i < n; i++) {
		vt__buf_puts(&b, i > 0 ? ",{\"check\":" : "{\"check\":");
		vt__json_string(&b, held[i].check);
		vt__buf_printf(&b, ",\"count\":%d,\"status\":\"%s\"}",
			       held[i].count, vt_status_name(held[i].status));
	}
	vt__buf_puts(&b, "]}");
	return take(&b);
}

vt_err vt__webhook_sign(const char *secret, const char *body, size_t len,
			char *out, size_t cap)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	if (cap < 7 + 2 * 32 + 1)
		return VT_EINVAL;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
		 (const unsigned char *)body, len, mac, &mlen) == NULL ||
	    mlen != 32)
		return VT_EINTERNAL;
	memcpy(out, "sha256=", 7);
	for (unsigned i = 0; i < mlen; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return VT_OK;
}
