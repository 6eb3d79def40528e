/*
 * buf.c - growable byte buffer with a hard cap; see buf.h.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vt__buf_init(vt_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
	b->err = VT_OK;
}

void vt__buf_fini(vt_buf *b)
{
	free(b->data);
	vt__buf_init(b, b->limit);
}

/* Makes room for extra more bytes plus a NUL. */
static vt_err buf_reserve(vt_buf *b, size_t extra)
{
	if (b->err != VT_OK)
		return b->err;
	if (extra > b->limit || b->len > b->limit - extra)
		return b->err = VT_ETOOBIG;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return VT_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return b->err = VT_ENOMEM;
	b->data = p;
	b->cap = cap;
	return VT_OK;
}

vt_err vt__buf_append(vt_buf *b, const void *data, size_t len)
{
	vt_err rv = buf_reserve(b, len);
	if (rv != VT_OK)
		return rv;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return VT_OK;
}

vt_err vt__buf_puts(vt_buf *b, const char *s)
{
	return vt__buf_append(b, s, strlen(s));
}

vt_err vt__buf_printf(vt_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return b->err = VT_EINVAL;
	if ((size_t)n < sizeof(small))
		return vt__buf_append(b, small, (size_t)n);
	vt_err rv = buf_reserve(b, (size_t)n);
	if (rv != VT_OK)
		return rv;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return VT_OK;
}

vt_err vt__buf_take(vt_buf *b, char **out, size_t *len)
{
	if (b->err != VT_OK) {
		vt_err rv = b->err;
		vt__buf_fini(b);
		return rv;
	}
	vt_err rv = buf_reserve(b, 0);
	if (rv != VT_OK)
		return rv;
	b->data[b->len] = '\0';
	*out = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return VT_OK;
}
