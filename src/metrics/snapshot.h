/*
 * snapshot.h - snapshots that do not come from a registry's merge, so
 * that vt_metrics_snapshot_free frees every vt_metrics_snapshot.
 */
#ifndef VT_METRICS_SNAPSHOT_H
#define VT_METRICS_SNAPSHOT_H

#include <stddef.h>

#include "vitals/metrics.h"

/* A zeroed snapshot with size bytes of zeroed room for what it points to
 * at *mem (aligned for any type), in one block that
 * vt_metrics_snapshot_free frees; NULL when out of memory. */
vt_metrics_snapshot *vt__metrics_snapshot_block(size_t size, void **mem);

#endif
