/*
 * gw_cache.h - encoded answers of the gateway's plain cached health
 * requests, reused while nothing they show has changed.
 *
 * Probes and dashboards ask the same question over and over:
 * GET /health?cache=true (or /livez, /readyz) with no filter. Its
 * answer changes only when the health registry's epoch does (a result
 * recorded, a check added or removed, shutdown; vt__health_epoch) or
 * with time (the snapshot's timestamp, a check going stale). So an
 * encoded answer is kept per (route, format, access) slot with the
 * epoch read before its snapshot was taken, and reused while the epoch
 * is unchanged and it is younger than VT__GW_CACHE_TTL_MS: a new result
 * shows at once, a time-derived change at most that late. Each reuse
 * copies the body (about 1 KiB), so an answer never shares memory with
 * the cache.
 */
#ifndef VT_SERVER_GW_CACHE_H
#define VT_SERVER_GW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"

#define VT__GW_CACHE_TTL_MS 100
/* Slots: 3 routes (/health, /livez, /readyz) x 2 formats (JSON, IETF) x
 * 2 accesses (full, statuses only). */
#define VT__GW_CACHE_SLOTS 12

typedef struct vt__gw_cache vt__gw_cache;

vt_err vt__gw_cache_alloc(vt__gw_cache **out);
/* Accepts NULL. */
void vt__gw_cache_free(vt__gw_cache *k);

/* The slot of (route 0..2, ietf, withhold). */
static inline unsigned vt__gw_cache_slot(unsigned route, bool ietf,
					 bool withhold)
{
	return route * 4 + (ietf ? 2u : 0u) + (withhold ? 1u : 0u);
}

/* A copy of slot's body and its status when it was built at epoch and
 * is young enough: true, *body malloc'd. false when stale, empty or out
 * of memory. Thread-safe. */
bool vt__gw_cache_get(vt__gw_cache *k, unsigned slot, uint64_t epoch,
		      char **body, size_t *len, uint16_t *status);

/* Stores a copy of body as slot's answer built at epoch (read before
 * the snapshot was taken). Best effort: out of memory keeps the old one.
 * Thread-safe. */
void vt__gw_cache_put(vt__gw_cache *k, unsigned slot, uint64_t epoch,
		      const char *body, size_t len, uint16_t status);

#endif
