/*
 * core/mutex.h - a mutex that spins a little before it sleeps, for the
 * locks held for a few instructions or microseconds (the pool's queue,
 * the health registry): on a few CPUs a sleep and a wake-up cost more
 * than that hold.
 */
#ifndef VT_CORE_MUTEX_H
#define VT_CORE_MUTEX_H

#include <pthread.h>

/* Initialises m as an adaptive mutex where glibc has one, else a plain
 * one. Returns pthread_mutex_init's result. */
int vt__mutex_init_adaptive(pthread_mutex_t *m);

#endif
