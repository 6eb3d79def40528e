/*
 * thread_name.c - thread names for operators; see thread_name.h.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "core/thread_name.h"

#include <string.h>

/* Linux's limit on a thread's name, without the terminating NUL. */
#define NAME_MAX_BYTES 15

void vt__thread_name(pthread_t t, const char *name)
{
	char buf[NAME_MAX_BYTES + 1];
	size_t n = strnlen(name, NAME_MAX_BYTES);
	memcpy(buf, name, n);
	buf[n] = '\0';
	(void)pthread_setname_np(t, buf);
}

void vt__thread_name_self(const char *name)
{
	vt__thread_name(pthread_self(), name);
}
