/*
 * fold.h - the fold stage of the read side (shards -> fold -> merge ->
 * finish): shards whose thread has exited are added into their series'
 * totals (vt_series.dead_n, dead_f, dead_h) and freed. The totals are
 * this stage's data; merges read them under the same mutex.
 */
#ifndef VT_METRICS_FOLD_H
#define VT_METRICS_FOLD_H

#include "metrics/registry.h"

/* Folds every retired shard of m into the series' totals and frees it.
 * Locks: caller holds m->shard_mtx. */
void vt__fold_retired(vt_metrics *m);

#endif
