/*
 * register.c - the registration step the built-in checks share (see
 * register.h).
 */
#include "checks/register.h"

vt_err vt__check_register(vt_health *h, const char *name, vt_check_fn run,
			  void *arg, vt_check_free_fn free_arg,
			  const vt_check_opts *co)
{
	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = free_arg;
	vt_err e = vt_health_add(h, name, run, arg, &opts);
	if (e != VT_OK)
		free_arg(arg);
	return e;
}
