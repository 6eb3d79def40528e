/*
 * answer_cache.c - encoded health answers kept by epoch, /metrics
 * answers by the snapshot they were encoded from. See answer_cache.h.
 */
#include "server/answer_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/snapshot.h"

typedef struct slot {
	bool valid;
	uint64_t epoch;
	int64_t built_ms; /* CLOCK_MONOTONIC_COARSE */
	uint16_t status;
	char *body;
	size_t len;
} slot;

/* A /metrics answer and the snapshot it was encoded from. */
typedef struct mslot {
	vt_metrics_snapshot *snap; /* NULL = empty */
	char *body;
	size_t len;
} mslot;

struct vt__acache {
	pthread_mutex_t mtx;
	unsigned n;				/* immutable */
	slot *slots;				/* [n], protected by mtx */
	mslot mslots[VT__ACACHE_METRICS_SLOTS]; /* protected by mtx */
};

/* A few ms of resolution, from the vDSO: plenty for a 100 ms TTL. */
static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

vt_err vt__acache_alloc(vt__acache **out, unsigned nslots)
{
	if (out == NULL || nslots == 0)
		return VT_EINVAL;
	vt__acache *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return VT_ENOMEM;
	k->n = nslots;
	if ((k->slots = calloc(nslots, sizeof(*k->slots))) == NULL) {
		free(k);
		return VT_ENOMEM;
	}
	if (pthread_mutex_init(&k->mtx, NULL) != 0) {
		free(k->slots);
		free(k);
		return VT_ENOMEM;
	}
	*out = k;
	return VT_OK;
}

void vt__acache_free(vt__acache *k)
{
	if (k == NULL)
		return;
	for (unsigned i = 0; i < k->n; i++)
		free(k->slots[i].body);
	for (unsigned i = 0; i < VT__ACACHE_METRICS_SLOTS; i++) {
		vt_metrics_snapshot_free(k->mslots[i].snap);
		free(k->mslots[i].body);
	}
	free(k->slots);
	pthread_mutex_destroy(&k->mtx);
	free(k);
}

bool vt__acache_get(vt__acache *k, unsigned slot_no, uint64_t epoch,
		    char **body, size_t *len, uint16_t *status)
{
	if (k == NULL || slot_no >= k->n)
		return false;
	bool hit = false;
	int64_t now = now_ms();
	pthread_mutex_lock(&k->mtx);
	const slot *s = &k->slots[slot_no];
	if (s->valid && s->epoch == epoch &&
	    now - s->built_ms < VT__ACACHE_TTL_MS) {
		char *copy = malloc(s->len + 1);
		if (copy != NULL) {
			memcpy(copy, s->body, s->len);
			copy[s->len] = '\0';
			*body = copy;
			*len = s->len;
			*status = s->status;
			hit = true;
		}
	}
	pthread_mutex_unlock(&k->mtx);
	return hit;
}

void vt__acache_put(vt__acache *k, unsigned slot_no, uint64_t epoch,
		    const void *body, size_t len, uint16_t status)
{
	if (k == NULL || slot_no >= k->n)
		return;
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return;
	memcpy(copy, body, len);
	copy[len] = '\0';
	int64_t now = now_ms();
	pthread_mutex_lock(&k->mtx);
	slot *s = &k->slots[slot_no];
	/* A slower builder must not replace a newer answer. */
	if (s->valid && s->epoch > epoch) {
		pthread_mutex_unlock(&k->mtx);
		free(copy);
		return;
	}
	char *old = s->body;
	*s = (slot){.valid = true,
		    .epoch = epoch,
		    .built_ms = now,
		    .status = status,
		    .body = copy,
		    .len = len};
	pthread_mutex_unlock(&k->mtx);
	free(old);
}

bool vt__acache_metrics_get(vt__acache *k, unsigned slot_no,
			    const vt_metrics_snapshot *s, char **body,
			    size_t *len)
{
	if (k == NULL || s == NULL || slot_no >= VT__ACACHE_METRICS_SLOTS)
		return false;
	bool hit = false;
	pthread_mutex_lock(&k->mtx);
	const mslot *m = &k->mslots[slot_no];
	if (m->snap != NULL && vt__metrics_snapshot_equal(m->snap, s)) {
		char *copy = malloc(m->len + 1);
		if (copy != NULL) {
			memcpy(copy, m->body, m->len);
			copy[m->len] = '\0';
			*body = copy;
			*len = m->len;
			hit = true;
		}
	}
	pthread_mutex_unlock(&k->mtx);
	return hit;
}

void vt__acache_metrics_put(vt__acache *k, unsigned slot_no,
			    vt_metrics_snapshot *s, const void *body,
			    size_t len)
{
	char *copy = NULL;
	if (k == NULL || s == NULL || slot_no >= VT__ACACHE_METRICS_SLOTS ||
	    len > VT__ACACHE_METRICS_MAX || (copy = malloc(len + 1)) == NULL) {
		vt_metrics_snapshot_free(s);
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	pthread_mutex_lock(&k->mtx);
	mslot *m = &k->mslots[slot_no];
	/* Two misses at once: the later put wins. Either snapshot is one the
	 * registry held, and a hit needs an equal one, so both are right. */
	mslot old = *m;
	*m = (mslot){.snap = s, .body = copy, .len = len};
	pthread_mutex_unlock(&k->mtx);
	vt_metrics_snapshot_free(old.snap);
	free(old.body);
}
