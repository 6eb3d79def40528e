/*
 * core/thread_name.h - names a thread as `top -H`, `ps -L`, /proc and
 * debuggers show it, so that an operator can tell vitals' threads apart
 * (the check workers from the gateway's, the history writer, ...).
 */
#ifndef VT_CORE_THREAD_NAME_H
#define VT_CORE_THREAD_NAME_H

#include <pthread.h>

/* Names thread t; a name longer than Linux keeps (15 bytes) is cut
 * there. Best effort: a failure changes nothing else. */
void vt__thread_name(pthread_t t, const char *name);

/* Names the calling thread, as vt__thread_name(pthread_self(), name). */
void vt__thread_name_self(const char *name);

#endif
