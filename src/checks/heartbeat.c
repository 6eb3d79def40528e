/*
 * heartbeat.c - the heartbeat check, a dead man's switch: healthy while
 * beats keep coming, UNHEALTHY "no heartbeat for N s" once ttl_ms passed
 * since the last one (or since the check was added, which counts as a
 * beat so that a worker has one ttl to start).
 *
 * The last beat is one atomic monotonic timestamp in the check's
 * argument; vt_health_beat stores it with the registry lock held (so
 * the check cannot be freed meanwhile) and, when the check is not
 * running, starts a run at once so that a recovery shows without
 * waiting for the next interval.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/clock.h"
#include "health/run.h"
#include "health/registry.h"
#include "vitals/health.h"

typedef struct heartbeat {
	_Atomic int64_t last_ns; /* monotonic time of the last beat */
	int64_t ttl_ms;		 /* immutable */
} heartbeat;

static void heartbeat_run(vt_check_result *r, void *arg)
{
	heartbeat *hb = arg;
	int64_t age_ms = (vt__mono_ns() - atomic_load(&hb->last_ns)) / 1000000;
	vt_result_detail_num(r, "ttl_ms", (double)hb->ttl_ms);
	vt_result_detail_num(r, "last_beat_age_ms", (double)age_ms);
	if (age_ms > hb->ttl_ms) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "no heartbeat for %lld s",
				(long long)(age_ms / 1000));
	}
}

vt_err vt_check_heartbeat_add(vt_health *h, const char *name, int64_t ttl_ms,
			      const vt_check_opts *opts)
{
	if (ttl_ms < 1 || ttl_ms > 366LL * 86400 * 1000)
		return VT_EINVAL;
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	if (opts != NULL) {
		o = *opts;
	} else {
		int64_t iv = ttl_ms / 4;
		o.interval_ms = (int)(iv > 10000 ? 10000 : iv < 50 ? 50 : iv);
	}
	heartbeat *hb = malloc(sizeof(*hb));
	if (hb == NULL)
		return VT_ENOMEM;
	atomic_init(&hb->last_ns, vt__mono_ns());
	hb->ttl_ms = ttl_ms;
	o.free_arg = free;
	vt_err rv = vt_health_add(h, name, heartbeat_run, hb, &o);
	if (rv != VT_OK)
		free(hb);
	return rv;
}

static vt_err beat(vt_health *h, vt__check *c, void *ctx)
{
	(void)ctx;
	if (c->fn != heartbeat_run)
		return VT_EINVAL;
	heartbeat *hb = c->arg;
	int64_t now = vt__mono_ns();
	atomic_store(&hb->last_ns, now);
	if (!c->running && c->status != VT_HEALTHY)
		vt__run_start(h, c, now);
	return VT_OK;
}

vt_err vt_health_beat(vt_health *h, const char *name)
{
	return vt__health_visit(h, name, beat, NULL);
}
