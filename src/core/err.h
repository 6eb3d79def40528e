/*
 * core/err.h - foreign error codes as vt_err and as text, in one place
 * (vitals/err.h promises the mapping at the boundary; this is it).
 *
 * Every call into nng whose failure the library reports goes through
 * vt__err_from_nng; every errno that ends up in a check's error or a log
 * line goes through vt__errno_text (thread-safe, unlike strerror).
 */
#ifndef VT_CORE_ERR_H
#define VT_CORE_ERR_H

#include "vitals/err.h"

/* The vt_err for nng's error rv (0 -> VT_OK). Refused or unreachable
 * peers, and an address already in use, are VT_EUNAVAIL; a bad URL,
 * address or option VT_EINVAL; anything without a better fit VT_EIO.
 * Thread-safe. */
vt_err vt__err_from_nng(int rv);

/* A short static text for errno value err ("connection refused", "no
 * such file or directory", ...); "system error" for the rare rest.
 * Thread-safe. */
const char *vt__errno_text(int err);

#endif
