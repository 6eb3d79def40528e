/*
 * result.c - the callback side of a check: vt_result_* fill the
 * vt_check_result that one execution hands to its callback.
 *
 * Details are an array grown on demand up to VT__DETAILS_MAX; setting a
 * key again replaces its value, so a result never carries a key twice
 * (it becomes a JSON object). Texts are cut, never rejected, when they
 * are too long, and always at a UTF-8 character boundary so that what
 * the encoders get is still valid UTF-8 when the input was.
 *
 * Thread-safety: a result belongs to the one execution that runs its
 * callback; these calls are only valid inside that callback.
 */
#include "health/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

void vt__result_init(vt_check_result *r, int64_t deadline_ns)
{
	r->status = VT_HEALTHY;
	r->deadline_ns = deadline_ns;
	r->details = NULL;
	r->ndetails = 0;
	r->cap = 0;
	r->has_error = false;
	r->error[0] = '\0';
}

void vt__details_free(vt_detail *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)d[i].key);
		free((char *)d[i].str);
	}
	free(d);
}

void vt__result_fini(vt_check_result *r)
{
	vt__details_free(r->details, r->ndetails);
	r->details = NULL;
	r->ndetails = 0;
	r->cap = 0;
}

/* Length of the longest prefix of s, at most max bytes, that does not end
 * inside a UTF-8 sequence. */
static size_t utf8_prefix_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n <= max)
		return n;
	n = max;
	/* s[n] is the first byte left out: if it continues a sequence, the
	 * sequence's lead byte (at most 3 bytes back) goes too. */
	for (int back = 0;
	     back < 4 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; back++)
		n--;
	return n;
}

void vt__copy_utf8(char *dst, size_t cap, const char *s)
{
	size_t n = utf8_prefix_len(s, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Sets the status of this run. An invalid st is ignored. */
void vt_result_status(vt_check_result *r, vt_status st)
{
	if (r == NULL ||
	    (st != VT_HEALTHY && st != VT_DEGRADED && st != VT_UNHEALTHY))
		return;
	r->status = st;
}

/* ok: HEALTHY, else UNHEALTHY. */
void vt_result_ok(vt_check_result *r, bool ok)
{
	vt_result_status(r, ok ? VT_HEALTHY : VT_UNHEALTHY);
}

/* The slot for key: the existing one (its old string freed) or a new one
 * at the end. VT_EINVAL for a bad key, VT_EFULL past VT__DETAILS_MAX,
 * VT_ENOMEM; r is unchanged on error. */
static vt_err detail_slot(vt_check_result *r, const char *key, vt_detail **out)
{
	if (r == NULL || key == NULL)
		return VT_EINVAL;
	size_t klen = strnlen(key, VT__DETAIL_KEY_MAX + 1);
	if (klen == 0 || klen > VT__DETAIL_KEY_MAX)
		return VT_EINVAL;
	for (size_t i = 0; i < r->ndetails; i++) {
		if (strcmp(r->details[i].key, key) == 0) {
			free((char *)r->details[i].str);
			r->details[i].str = NULL;
			*out = &r->details[i];
			return VT_OK;
		}
	}
	if (r->ndetails == VT__DETAILS_MAX)
		return VT_EFULL;
	if (r->ndetails == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		if (cap > VT__DETAILS_MAX)
			cap = VT__DETAILS_MAX;
		vt_detail *d = realloc(r->details, cap * sizeof(*d));
		if (d == NULL)
			return VT_ENOMEM;
		r->details = d;
		r->cap = cap;
	}
	char *k = malloc(klen + 1);
	if (k == NULL)
		return VT_ENOMEM;
	memcpy(k, key, klen + 1);
	vt_detail *d = &r->details[r->ndetails++];
	*d = (vt_detail){.key = k};
	*out = d;
	return VT_OK;
}

/* Detail key = value (cut at VT__DETAIL_STR_MAX bytes). Replaces an
 * earlier value of key. VT_EINVAL: key empty or over 128 bytes, value
 * NULL; VT_EFULL: 64 details already; VT_ENOMEM. */
vt_err vt_result_detail_str(vt_check_result *r, const char *key,
			    const char *value)
{
	if (value == NULL)
		return VT_EINVAL;
	size_t n = utf8_prefix_len(value, VT__DETAIL_STR_MAX);
	char *copy = malloc(n + 1);
	if (copy == NULL)
		return VT_ENOMEM;
	memcpy(copy, value, n);
	copy[n] = '\0';
	vt_detail *d;
	vt_err rv = detail_slot(r, key, &d);
	if (rv != VT_OK) {
		free(copy);
		return rv;
	}
	d->kind = VT_DETAIL_STR;
	d->str = copy;
	return VT_OK;
}

/* Numeric detail; errors as vt_result_detail_str. */
vt_err vt_result_detail_num(vt_check_result *r, const char *key, double v)
{
	vt_detail *d;
	vt_err rv = detail_slot(r, key, &d);
	if (rv != VT_OK)
		return rv;
	d->kind = VT_DETAIL_NUM;
	d->num = v;
	return VT_OK;
}

/* Boolean detail; errors as vt_result_detail_str. */
vt_err vt_result_detail_bool(vt_check_result *r, const char *key, bool v)
{
	vt_detail *d;
	vt_err rv = detail_slot(r, key, &d);
	if (rv != VT_OK)
		return rv;
	d->kind = VT_DETAIL_BOOL;
	d->b = v;
	return VT_OK;
}

/* Sets (replaces) the error text, cut at VT__ERROR_MAX bytes on a UTF-8
 * boundary. VT_EINVAL for a NULL r or fmt or a format error. */
vt_err vt_result_error(vt_check_result *r, const char *fmt, ...)
{
	if (r == NULL || fmt == NULL)
		return VT_EINVAL;
	/* One byte more than kept, to see whether the cut splits a
	 * character. */
	char tmp[VT__ERROR_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return VT_EINVAL;
	vt__copy_utf8(r->error, sizeof(r->error), tmp);
	r->has_error = true;
	return VT_OK;
}

/* Whole milliseconds left until the deadline, 0 once it passed. */
int vt_result_remaining_ms(const vt_check_result *r)
{
	if (r == NULL)
		return 0;
	int64_t left = r->deadline_ns - vt__mono_ns();
	if (left <= 0)
		return 0;
	int64_t ms = left / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}
