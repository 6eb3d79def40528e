/*
 * textfmt.h - the text pieces both encoders share: numbers and
 * Prometheus escaping.
 *
 * Numbers are written in their shortest form that reads back as the same
 * double (the Ryu algorithm, so no printf on the hot path), laid out two
 * ways: as Go's strconv.FormatFloat(v, 'g', -1, 64) for Prometheus text
 * (what client_golang writes: "0.005", "1e-06", "1.234567e+06", "+Inf")
 * and as JavaScript's Number#toString for JSON ("1764000000.123", "3",
 * "1e-7", "1e+21"). Text goes out through a write-combining vt__tw in
 * front of a capped vt_buf; the escapers replace invalid UTF-8 with
 * U+FFFD, since neither JSON nor the Prometheus parser accepts it.
 *
 * Thread-safe: the only shared state, Ryu's tables, is filled once under
 * pthread_once; a vt__tw belongs to one caller.
 */
#ifndef VT_ENCODE_TEXTFMT_H
#define VT_ENCODE_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

/* Room for any number written below, with its NUL. */
#define VT__NUM_MAX 32

/* Shortest decimal of a finite v: |v| = *digits * 10^*e10, *digits has
 * no trailing zeros (0 for zero); of all shortest forms the nearest. */
void vt__num_shortest(double v, uint64_t *digits, int *e10);

/* Writes v as Go's FormatFloat(v, 'g', -1, 64), "+Inf", "-Inf", "NaN";
 * -0 as "0" (as client_golang). dst holds VT__NUM_MAX; returns length. */
size_t vt__num_prom(char *dst, double v);

/* Writes v as JavaScript's Number#toString; non-finite as "null", -0 as
 * "0". dst holds VT__NUM_MAX; returns length. */
size_t vt__num_json(char *dst, double v);

/* Writes v in decimal. dst holds VT__NUM_MAX; returns length. */
size_t vt__num_u64(char *dst, uint64_t v);

/*
 * A write-combining front for a vt_buf: small appends land in chunk and
 * reach the buffer a few KiB at a time, so each piece costs a memcpy,
 * not a call with a capacity check. Errors (VT_ENOMEM, VT_ETOOBIG) show
 * in buf->err, sticky, after a flush.
 */
typedef struct vt__tw {
	vt_buf *buf;
	size_t n; /* bytes in chunk */
	char chunk[4096];
} vt__tw;

/* Starts writing to b. */
void vt__tw_init(vt__tw *w, vt_buf *b);

/* Moves what chunk holds to the buffer. */
void vt__tw_flush(vt__tw *w);

/* Appends n bytes of s. */
static inline void vt__tw_put(vt__tw *w, const char *s, size_t n)
{
	if (n > sizeof(w->chunk) - w->n) {
		vt__tw_flush(w);
		if (n > sizeof(w->chunk)) {
			vt__buf_append(w->buf, s, n);
			return;
		}
	}
	memcpy(w->chunk + w->n, s, n);
	w->n += n;
}

/* Appends a string literal. */
#define VT__TW_LIT(w, s) vt__tw_put((w), (s), sizeof(s) - 1)

/* Appends the NUL-terminated s. */
static inline void vt__tw_puts(vt__tw *w, const char *s)
{
	vt__tw_put(w, s, strlen(s));
}

/* Room for n <= 64 bytes at the end of chunk; the caller writes there and
 * then adds what it wrote to w->n. */
static inline char *vt__tw_room(vt__tw *w, size_t n)
{
	if (n > sizeof(w->chunk) - w->n)
		vt__tw_flush(w);
	return w->chunk + w->n;
}

/* Appends numbers, laid out as by vt__num_prom / _json / _u64. */
void vt__tw_num_prom(vt__tw *w, double v);
void vt__tw_num_json(vt__tw *w, double v);
void vt__tw_u64(vt__tw *w, uint64_t v);

/* How vt__tw_escape writes a string (none adds quotes). Every mode
 * replaces invalid UTF-8 with U+FFFD. */
typedef enum vt__esc_mode {
	VT__ESC_PROM_LABEL,	 /* label value: backslash, quote, newline */
	VT__ESC_PROM_HELP,	 /* HELP text: backslash, newline */
	VT__ESC_JSON,		 /* JSON string body (RFC 8259) */
	VT__ESC_JSON_PROM_LABEL, /* a label value escaped for Prometheus,
				    then for JSON: inside a series key */
} vt__esc_mode;

/* Length of the valid UTF-8 sequence at p (1..4; 1 for ASCII), or 0 if
 * the bytes before end do not start with one (overlong forms, surrogates
 * and code points past U+10FFFF are not valid). p < end. */
size_t vt__utf8_seq(const unsigned char *p, const unsigned char *end);

/* Appends s escaped by mode. */
void vt__tw_escape(vt__tw *w, const char *s, vt__esc_mode mode);

#endif
