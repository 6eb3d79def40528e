/*
 * vitals/reload.h - what applying a configuration again changed: the
 * answer of vitals.v1.Admin/Reload, filled by the program's reload
 * function (vt_server_opts.reload; vitalsd's re-reads its config file)
 * and returned to callers by vt_client_reload.
 */
#ifndef VITALS_RELOAD_H
#define VITALS_RELOAD_H

#include <stddef.h>

#include "vitals/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_reload_report {
	char **added; /* checks started */
	size_t nadded;
	char **removed; /* checks stopped; their metric series removed */
	size_t nremoved;
	char **changed; /* checks replaced in place: history, series kept */
	size_t nchanged;
	char **ignored; /* settings that need a restart, one line each */
	size_t nignored;
} vt_reload_report;

typedef enum vt_reload_what {
	VT_RELOAD_ADDED,
	VT_RELOAD_REMOVED,
	VT_RELOAD_CHANGED,
	VT_RELOAD_IGNORED,
} vt_reload_what;

/* Appends a copy of text to r's list what. VT_EINVAL, VT_ENOMEM (r is
 * left as it was). */
vt_err vt_reload_report_note(vt_reload_report *r, vt_reload_what what,
			     const char *text);

/* Frees r's lists and zeroes it. Accepts NULL and a zeroed report. */
void vt_reload_report_fini(vt_reload_report *r);

/*
 * A program's reload: applies its configuration again. On success it
 * fills report and returns VT_OK; a refused configuration returns an
 * error (VT_EINVAL for a bad file) with the reason in err, and the
 * running configuration stays. Called on a server thread, possibly
 * while another call runs: the function serializes itself.
 */
typedef vt_err (*vt_reload_fn)(void *arg, vt_reload_report *report, char *err,
			       size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
