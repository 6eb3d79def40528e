/*
 * result.h - what one execution of a check reports: the object a check
 * callback fills through vt_result_* (status, details, error) and its
 * deadline. The registry also builds one itself for the results it
 * records without a callback (timeout, worker queue full).
 */
#ifndef VT_HEALTH_RESULT_H
#define VT_HEALTH_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/health.h"

/* Limits of what a callback can report. */
#define VT__ERROR_MAX	   512	/* bytes of error text, longer is cut */
#define VT__DETAILS_MAX	   64	/* details per result */
#define VT__DETAIL_KEY_MAX 128	/* bytes of a detail key */
#define VT__DETAIL_STR_MAX 1024 /* bytes of a string value, longer is cut */

/* Owned by the execution that fills it; never shared between threads
 * while a callback runs. */
struct vt_check_result {
	vt_status status;    /* default VT_HEALTHY */
	int64_t deadline_ns; /* monotonic */
	vt_detail *details;  /* [ndetails], keys and strings malloc'd */
	size_t ndetails;
	size_t cap;
	bool has_error;
	char error[VT__ERROR_MAX + 1];
};

/* An empty HEALTHY result with this deadline (monotonic ns). */
void vt__result_init(vt_check_result *r, int64_t deadline_ns);
/* Frees the details r holds and empties it. */
void vt__result_fini(vt_check_result *r);
/* Frees n details as held by a vt_check_result (keys and strings). */
void vt__details_free(vt_detail *d, size_t n);
/* Copies s into dst[cap] with at most cap - 1 bytes, never cutting a
 * UTF-8 sequence in two; always NUL-terminates. */
void vt__copy_utf8(char *dst, size_t cap, const char *s);

#endif
