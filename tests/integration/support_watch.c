/*
 * support_watch.c - a pub watch that ends only on a quiet line. See
 * support_watch.h.
 */
#include "support_watch.h"

#include <stdio.h>

#include "testutil.h"

void vt_test_watch_until(const char *pub_url, vt_client_watch_fn fn, void *arg,
			 atomic_bool *stop)
{
	for (;;) {
		vt_err e =
		    vt_client_watch(pub_url, VT_TEST_WATCH_QUIET_MS, fn, arg);
		if (e == VT_ETIMEDOUT && atomic_load(stop))
			return;
		if (e == VT_ETIMEDOUT)
			fprintf(stderr,
				"  watch: %d ms without a status change\n",
				VT_TEST_WATCH_QUIET_MS);
		else
			fprintf(stderr, "  watch: %s\n", vt_strerror(e));
		vt_test_sleep_ms(100);
	}
}
