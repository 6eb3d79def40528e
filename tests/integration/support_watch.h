/*
 * support_watch.h - watching a server's pub socket for the whole of a
 * test without ever closing the watch while messages arrive.
 *
 * With nng 1.5.2, closing a sub socket while its tcp pipe receives can
 * wedge nng's reaper thread, after which every nng_close in the process
 * hangs (likely the tcp transport race fixed upstream after 1.5.2,
 * nanomsg/nng PR #1636). vt_client_watch closes its socket when its
 * callback stops it or on its timeout, so a watch must only end on a
 * quiet line: the tests keep a check flipping while they run, stop the
 * flips at the end, and let the watch time out.
 */
#ifndef VT_TEST_SUPPORT_WATCH_H
#define VT_TEST_SUPPORT_WATCH_H

#include <stdatomic.h>

#include "vitals/client.h"

/* How long the line must be quiet for a watch to end. */
#define VT_TEST_WATCH_QUIET_MS 3000

/* Calls fn for every message published at pub_url until *stop is set
 * and the line has then been quiet for VT_TEST_WATCH_QUIET_MS; a quiet
 * spell or an error before that is reported on stderr and the watch
 * starts again. For a thread of its own. */
void vt_test_watch_until(const char *pub_url, vt_client_watch_fn fn, void *arg,
			 atomic_bool *stop);

#endif
