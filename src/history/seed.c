/*
 * seed.c - after a restart, each check's last result comes back from the
 * state database instead of reading "no result yet" until it runs again.
 *
 * On attach, every registered check that has no result of its own gets
 * its newest stored one (vt__health_seed): status, time, duration,
 * error; its last status change is the oldest of the newest results
 * that share that status, and its consecutive failures the number of
 * newest UNHEALTHY results, both counted over at most SEED_DEPTH rows
 * (cheap, and a run longer than that is reported as that long). The
 * registry ages the result by its wall time, so one older than three
 * intervals reads stale as usual. Maintenance results count as results
 * (they were reported so).
 *
 * The writer computed the uptime of every check the database knows when
 * it started; those no longer registered (removed from the config while
 * the process was down) are forgotten at attach, so their uptime gauges
 * leave /metrics. A check registered later gets them back with its
 * first result.
 */
#include <stdlib.h>
#include <string.h>

#include "health/registry.h"
#include "history/history.h"

#define SEED_DEPTH 200

/* Seeds check name of h from its newest stored results, if any. */
static void seed_one(vt_history *hs, vt_health *h, const char *name)
{
	vt_history_result *rs = NULL;
	size_t n = 0;
	if (vt_history_list(hs, name, 0, SEED_DEPTH, &rs, &n) != VT_OK ||
	    n == 0) {
		vt_history_list_free(rs);
		return;
	}
	vt__seed s = {.status = rs[0].status,
		      .time = rs[0].time,
		      .duration_ms = rs[0].duration_ms,
		      .error = rs[0].error,
		      .last_status_change = rs[0].time};
	for (size_t i = 0; i < n && rs[i].status == rs[0].status; i++)
		s.last_status_change = rs[i].time;
	for (size_t i = 0; i < n && rs[i].status == VT_UNHEALTHY; i++)
		s.consecutive_failures++;
	(void)vt__health_seed(h, name, &s);
	vt_history_list_free(rs);
}

static bool registered(const vt_health_snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->ncomponents; i++)
		if (strcmp(snap->components[i].name, name) == 0)
			return true;
	return false;
}

/* Forgets the uptime of each cached check that snap does not hold. */
static void forget_unregistered(vt_history *hs, const vt_health_snapshot *snap)
{
	pthread_mutex_lock(&hs->cache_mtx);
	size_t n = 0;
	char **gone = calloc(hs->ncache > 0 ? hs->ncache : 1, sizeof(*gone));
	for (size_t i = 0; gone != NULL && i < hs->ncache; i++)
		if (!registered(snap, hs->cache[i].name))
			gone[n++] = strdup(hs->cache[i].name);
	pthread_mutex_unlock(&hs->cache_mtx);
	for (size_t i = 0; i < n; i++) {
		if (gone[i] != NULL)
			(void)vt_history_forget(hs, gone[i]);
		free(gone[i]);
	}
	free(gone);
}

void vt__history_seed(vt_history *hs, vt_health *h)
{
	vt_health_snapshot *snap = NULL;
	if (vt_health_run(h, NULL, VT_RUN_CACHED, &snap) != VT_OK)
		return;
	for (size_t i = 0; i < snap->ncomponents; i++)
		if (snap->components[i].last_check_time <= 0)
			seed_one(hs, h, snap->components[i].name);
	forget_unregistered(hs, snap);
	vt_health_snapshot_free(snap);
}
