/*
 * answer_cache.h - encoded answers to the plain cached health question,
 * reused while nothing they show has changed. Both transports keep one:
 * the gateway for GET /health?cache=true, /livez and /readyz without
 * filters (JSON or IETF), the RPC server for vitals.v1.Health/Check
 * cached without filters (protobuf).
 *
 * Probes, dashboards and sidecars ask that question over and over. Its
 * answer changes only when the health registry's epoch does (a result
 * recorded, a check added or removed, shutdown; vt__health_epoch) or
 * with time (the snapshot's timestamp, a check going stale). So an
 * encoded answer is kept per slot (the transport's route, format and
 * caller access) with the epoch read before its snapshot was taken, and
 * reused while the epoch is unchanged and it is younger than
 * VT__ACACHE_TTL_MS: a new result shows at once, a time-derived change
 * at most that late. Each reuse copies the bytes (about 1 KiB), so an
 * answer never shares memory with the cache.
 */
#ifndef VT_SERVER_ANSWER_CACHE_H
#define VT_SERVER_ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"

#define VT__ACACHE_TTL_MS 100

typedef struct vt__acache vt__acache;

/* A cache of nslots (>= 1) empty slots. */
vt_err vt__acache_alloc(vt__acache **out, unsigned nslots);
/* Accepts NULL. */
void vt__acache_free(vt__acache *k);

/* A copy of slot's bytes (NUL-terminated, *len without it) and its
 * status when it was built at epoch and is young enough: true, *body
 * malloc'd. false when stale, empty, out of range or out of memory.
 * Accepts k NULL (false). Thread-safe. */
bool vt__acache_get(vt__acache *k, unsigned slot, uint64_t epoch, char **body,
		    size_t *len, uint16_t *status);

/* Stores a copy of body as slot's answer built at epoch (read before
 * the snapshot was taken). Best effort: out of memory keeps the old one.
 * Accepts k NULL. Thread-safe. */
void vt__acache_put(vt__acache *k, unsigned slot, uint64_t epoch,
		    const void *body, size_t len, uint16_t status);

#endif
