/*
 * snapshot.h - snapshots that do not come from a registry's merge, so
 * that vt_metrics_snapshot_free frees every vt_metrics_snapshot; and
 * whether two snapshots say the same thing, so that an answer encoded
 * from one can serve the other (server/answer_cache.h).
 */
#ifndef VT_METRICS_SNAPSHOT_H
#define VT_METRICS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/metrics.h"

/* A zeroed snapshot with size bytes of zeroed room for what it points to
 * at *mem (aligned for any type), in one block that
 * vt_metrics_snapshot_free frees; NULL when out of memory. */
vt_metrics_snapshot *vt__metrics_snapshot_block(size_t size, void **mem);

/* Whether a and b hold the same families, series and values: every
 * field an encoder reads (names, help, kinds, labels, values, creation
 * times, summaries, le counts and merged buckets), numbers compared bit
 * for bit (NaN equals NaN, -0 differs from 0). Then any encoder writes
 * the same bytes for both. Strings are compared by pointer first: a
 * snapshot's strings are the registry's interned ones, kept while it
 * lives. Either may be NULL (equal only to NULL). */
bool vt__metrics_snapshot_equal(const vt_metrics_snapshot *a,
				const vt_metrics_snapshot *b);

#endif
