/*
 * statuspage.h - HTML status page and SVG badges (statuspage.c,
 * badge.c): encoders fed by a health snapshot and history summaries.
 * Output as in vitals/encode.h: malloc'd, NUL-terminated, *len without
 * the NUL, written only on success.
 */
#ifndef VT_ENCODE_STATUSPAGE_H
#define VT_ENCODE_STATUSPAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/health.h"
#include "vitals/history.h"

/* The page for s; sums[i] (NULL = no history) belongs to component i.
 * withhold: statuses only (no error texts, no timings). */
vt_err vt__statuspage_html(const vt_health_snapshot *s,
			   const vt_history_summary *sums, bool withhold,
			   char **out, size_t *len);

/* A flat two-part badge: label on grey, value on the colour of status
 * (or grey for "unknown"). Strings are escaped. */
vt_err vt__badge_svg(const char *label, const char *value, int status,
		     char **out, size_t *len);

#endif
