/*
 * secrets.c - secrets kept in the process once out of the environment
 * (see secrets.h).
 *
 * A short list, one entry per variable name ever kept, never freed:
 * the values must outlive every config parsed from them, and a config
 * names a handful. Locks: mtx guards the list.
 */
#include "daemon/secrets.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct kept {
	char *name, *value;
	struct kept *next;
} kept;

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static kept *list; /* protected by mtx */

static kept *find(const char *name)
{
	for (kept *k = list; k != NULL; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

const char *vt__secret_get(const char *name)
{
	pthread_mutex_lock(&mtx);
	kept *k = find(name);
	const char *v = k != NULL ? k->value : getenv(name);
	pthread_mutex_unlock(&mtx);
	return v;
}

void vt__secret_keep(const char *name)
{
	pthread_mutex_lock(&mtx);
	const char *v = getenv(name);
	if (find(name) == NULL && v != NULL) {
		kept *k = malloc(sizeof(*k));
		char *n = strdup(name), *val = strdup(v);
		if (k == NULL || n == NULL || val == NULL) {
			free(k);
			free(n);
			free(val);
			pthread_mutex_unlock(&mtx);
			return; /* left in the environment: still readable */
		}
		*k = (kept){.name = n, .value = val, .next = list};
		list = k;
	}
	if (find(name) != NULL)
		unsetenv(name);
	pthread_mutex_unlock(&mtx);
}
