/*
 * badge.c - SVG badges (GET /badge/NAME.svg, /badge/NAME/uptime/24h.svg):
 * a grey label and a coloured value, in the flat style people know from
 * project READMEs. The text is its own accessible title, so the status
 * is never colour alone. Widths come from a per-character estimate of
 * an 11 px sans-serif font.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "encode/statuspage.h"

/* Approximate advance of s in 11 px Verdana-like text. */
static int text_width(const char *s)
{
	int w = 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (strchr("il.:|!'", c) != NULL)
			w += 3;
		else if (strchr("mwMW%", c) != NULL)
			w += 10;
		else if (c >= 'A' && c <= 'Z')
			w += 8;
		else
			w += 7;
	}
	return w;
}

static vt_err esc(vt_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			vt__buf_puts(b, "&lt;");
			break;
		case '>':
			vt__buf_puts(b, "&gt;");
			break;
		case '&':
			vt__buf_puts(b, "&amp;");
			break;
		case '"':
			vt__buf_puts(b, "&quot;");
			break;
		default:
			vt__buf_append(b, s, 1);
		}
	}
	return b->err;
}

vt_err vt__badge_svg(const char *label, const char *value, int status,
		     char **out, size_t *len)
{
	if (label == NULL || value == NULL || out == NULL || len == NULL)
		return VT_EINVAL;
	static const char *const colours[] = {"#1f9d55", "#c77c02", "#d03b3b"};
	const char *col =
	    status >= 0 && status <= 2 ? colours[status] : "#8a94a3";
	int lw = text_width(label) + 12, vw = text_width(value) + 12;
	vt_buf b;
	vt__buf_init(&b, 64 * 1024);
	vt__buf_printf(&b,
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		       "height=\"20\" role=\"img\" aria-label=\"",
		       lw + vw);
	esc(&b, label);
	vt__buf_puts(&b, ": ");
	esc(&b, value);
	vt__buf_puts(&b, "\"><title>");
	esc(&b, label);
	vt__buf_puts(&b, ": ");
	esc(&b, value);
	vt__buf_printf(
	    &b,
	    "</title><rect width=\"%d\" height=\"20\" rx=\"3\" "
	    "fill=\"#555\"/><rect x=\"%d\" width=\"%d\" height=\"20\" "
	    "rx=\"3\" fill=\"%s\"/><rect x=\"%d\" width=\"4\" height=\"20\" "
	    "fill=\"%s\"/><g fill=\"#fff\" font-family=\"Verdana,DejaVu "
	    "Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\">"
	    "<text x=\"%d\" y=\"14\">",
	    lw + vw, lw, vw, col, lw, col, lw / 2);
	esc(&b, label);
	vt__buf_printf(&b, "</text><text x=\"%d\" y=\"14\">", lw + vw / 2);
	esc(&b, value);
	vt__buf_puts(&b, "</text></g></svg>\n");
	return vt__buf_take(&b, out, len);
}
