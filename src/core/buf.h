/*
 * buf.h - one growable byte buffer with a hard size cap (after curl's
 * dynbuf), used for every encoder's output. Appending past the cap fails
 * with VT_ETOOBIG and leaves the contents as they were; any failure is
 * sticky, so a sequence of appends can be checked once at the end.
 */
#ifndef VT_CORE_BUF_H
#define VT_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "vitals/err.h"

typedef struct vt_buf {
	char *data; /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;   /* allocated */
	size_t limit; /* most bytes ever held */
	vt_err err;   /* first failure, sticky */
} vt_buf;

void vt__buf_init(vt_buf *b, size_t limit);
void vt__buf_fini(vt_buf *b);
vt_err vt__buf_append(vt_buf *b, const void *data, size_t len);
vt_err vt__buf_puts(vt_buf *b, const char *s);
vt_err vt__buf_printf(vt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the NUL-terminated contents to the caller (free()) and resets b.
 * Returns the sticky error instead if any append failed. */
vt_err vt__buf_take(vt_buf *b, char **out, size_t *len);

#endif
