/*
 * register.h - the last step of every built-in check's _add function:
 * hand the check's state to the registry with the caller's options.
 */
#ifndef VT_CHECKS_REGISTER_H
#define VT_CHECKS_REGISTER_H

#include "vitals/health.h"

/* Registers run(arg) as check name with co (defaults when NULL) and
 * free_arg as the state's destructor. On failure free_arg(arg) has run
 * and the registry's error is returned (VT_EINVAL, VT_EEXIST,
 * VT_ENOMEM): the caller owns nothing either way. Thread-safe. */
vt_err vt__check_register(vt_health *h, const char *name, vt_check_fn run,
			  void *arg, vt_check_free_fn free_arg,
			  const vt_check_opts *co);

#endif
