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
 *
 * The gateway's /metrics answers (one slot per format) are kept the
 * other way: with the snapshot they were encoded from. A request still
 * takes its own snapshot, so it sees every value recorded before it;
 * when that snapshot equals the kept one (vt__metrics_snapshot_equal:
 * every name, label and value an encoder reads), the kept bytes are
 * exactly what encoding it would write, and are copied instead. No TTL
 * and no change counter on the writers' path: a counter that moved is a
 * miss, at the cost of comparing up to the first difference. Encoding
 * was most of a small /metrics answer's cost (about 15 us of 40 for 50
 * series); the snapshot, the comparison and the copy are about 2 us.
 * Answers past VT__ACACHE_METRICS_MAX bytes are not kept (memory).
 */
#ifndef VT_SERVER_ANSWER_CACHE_H
#define VT_SERVER_ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/metrics.h"

#define VT__ACACHE_TTL_MS 100

/* /metrics slots (one per format) every cache has besides its nslots. */
#define VT__ACACHE_METRICS_SLOTS 4
/* Largest /metrics answer kept. */
#define VT__ACACHE_METRICS_MAX ((size_t)4 << 20)

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

/* A copy of the /metrics answer in slot (< VT__ACACHE_METRICS_SLOTS)
 * when it was encoded from a snapshot equal to s: true, *body malloc'd
 * (NUL-terminated, *len without it). false when the snapshot differs,
 * the slot is empty or out of range, or out of memory. Accepts k NULL
 * (false). Thread-safe. */
bool vt__acache_metrics_get(vt__acache *k, unsigned slot,
			    const vt_metrics_snapshot *s, char **body,
			    size_t *len);

/* Keeps body (a copy), encoded from s, as slot's /metrics answer, and
 * takes s: the cache frees it when replaced, or at once when not kept
 * (k NULL, bad slot, body too large, out of memory). Thread-safe. */
void vt__acache_metrics_put(vt__acache *k, unsigned slot,
			    vt_metrics_snapshot *s, const void *body,
			    size_t len);

#endif
