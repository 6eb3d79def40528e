/*
 * support_tsan.h - what an integration test that publishes status
 * changes needs under ThreadSanitizer. Include it in one file of the
 * test program: in the TSan build (VT_TSAN, support_sanitizer.h) it
 * defines the runtime's default suppressions (a function TSan looks up
 * by name).
 *
 * One path only is suppressed. libnng is not built with TSan: a
 * published message is shared by the pub socket and each pipe through
 * a reference count kept with atomics TSan cannot see, so when the
 * server's pub listener (server.c on_change -> nng_send) drops the last
 * reference and frees the message after a transport thread's sendmsg()
 * has read it, TSan reports a race that the count rules out. Only races
 * with on_change on a stack are suppressed; every other report still
 * fails the test.
 */
#ifndef VT_TEST_SUPPORT_TSAN_H
#define VT_TEST_SUPPORT_TSAN_H

#include "support_sanitizer.h"

#ifdef VT_TSAN
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:on_change\n";
}
#endif

#endif
