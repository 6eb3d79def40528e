/*
 * clock.h - the two clocks of the library: monotonic for deadlines and
 * durations, wall (Unix seconds) for what is shown to people.
 */
#ifndef VT_CORE_CLOCK_H
#define VT_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds. */
static inline int64_t vt__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wall clock, Unix seconds with fraction. */
static inline double vt__wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The CLOCK_MONOTONIC timespec of mono nanoseconds ns, for
 * pthread_cond_timedwait on a condvar set to CLOCK_MONOTONIC. */
static inline struct timespec vt__mono_ts(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000),
			      (long)(ns % 1000000000)};
	return ts;
}

#endif
