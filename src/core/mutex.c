/*
 * core/mutex.c - see mutex.h.
 */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "core/mutex.h"

int vt__mutex_init_adaptive(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0)
		return pthread_mutex_init(m, NULL);
#ifdef __GLIBC__
	(void)pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	int rv = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return rv;
}
