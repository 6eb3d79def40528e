/*
 * vitals/metrics.h - counters, gauges and histograms, sharded per thread.
 *
 * A registry (vt_metrics) holds metric families; a family has a name, a
 * help text, a kind and fixed label names; a series is one family with
 * one set of label values. Names follow Prometheus rules:
 *   metric name  [a-zA-Z_:][a-zA-Z0-9_:]*
 *   label name   [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", not "le"
 *                on histograms
 * A bad name, or a name registered again with another kind or other
 * label names (or, for histograms, other le bounds), is an error return;
 * nothing is registered or recorded. So is a name whose Prometheus
 * exposition would reuse another family's sample name: a counter is
 * exposed as NAME_total (NAME if it ends in "_total"), a histogram as
 * NAME_bucket, NAME_sum and NAME_count; counters "x" and "x_total" cannot
 * both exist (VT_EEXIST), nor counter "x" and gauge "x_total" (VT_EKIND).
 *
 * Hot path. A series handle (vt_counter, vt_gauge, vt_histogram) records
 * without a lock. Counters and histograms write only to the calling
 * thread's shard: no atomic read-modify-write on a cache line another
 * thread writes. Readers merge every shard. When a thread exits, its
 * shard is folded into the registry's totals, so nothing is lost.
 *
 * Gauges are the exception, on purpose: a gauge's set must win over
 * concurrent adds in one global order (linearizable), which per-thread
 * shards cannot give. A gauge is one atomic double: set is a plain
 * atomic store, add/sub a compare-and-swap loop.
 *
 * By name. vt_metrics_increment/set_gauge/observe mirror the seed's
 * MetricsCollector: they create the series on first use and then cost a
 * lock-free hash lookup.
 *
 * Histograms keep log buckets, 32 per power of two (the bounds of
 * Prometheus' native-histogram schema 5; src/metrics/histogram.c has the
 * layout): O(1) record, bounded memory, mergeable; percentiles within
 * 1.1% relative error of the exact nearest-rank value for positive
 * values in (2^-48, 2^48] (zero, negatives and values outside go to four
 * clamp buckets); count, sum, min and max exact; Prometheus "le" buckets
 * exact.
 *
 * Handles stay valid until the registry is freed, removed series' too.
 *
 * Removal (vt_metrics_remove_series, _family, _matching): a removed
 * series is gone from every snapshot taken after the call returns, and
 * its memory is kept until the registry is freed, so that a handle a
 * writer still holds stays safe: recording through it succeeds and is
 * dropped (it lands where no snapshot reads). The by-name API and
 * vt_family_series never return a removed series: they create a new
 * one, starting from zero, with a new creation time. A removed family's
 * handle refuses vt_family_series with VT_ENOENT; registering the name
 * again makes a new family, of any kind. A write that races with the
 * removal of its series may land in either. Each series ever created,
 * removed ones included, counts toward the registry's limit (VT_EFULL
 * past 131072): removal suits series that come and go with a
 * configuration, not one per request.
 */
#ifndef VITALS_METRICS_H
#define VITALS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_metrics vt_metrics;
typedef struct vt_family vt_family;
typedef struct vt_series vt_counter;
typedef struct vt_series vt_gauge;
typedef struct vt_series vt_histogram;

typedef enum vt_metric_kind {
	VT_COUNTER = 0,
	VT_GAUGE = 1,
	VT_HISTOGRAM = 2,
} vt_metric_kind;

/* Most label names per family and longest name or label value. */
#define VT_MAX_LABELS	       16
#define VT_MAX_NAME_LEN	       200
#define VT_MAX_LABEL_VALUE_LEN 1024
/* Most Prometheus "le" bounds per histogram family. */
#define VT_MAX_LE_BOUNDS 64

/* Prometheus' default histogram bounds (seconds). */
extern const double vt_default_le_bounds[];
extern const size_t vt_default_le_nbounds;

typedef struct vt_label {
	const char *name;
	const char *value;
} vt_label;

/* Allocates an empty registry. */
vt_err vt_metrics_alloc(vt_metrics **out);

/* Frees the registry, its families and series. No thread may record to
 * it while or after it is freed. Accepts NULL. */
void vt_metrics_free(vt_metrics *m);

/*
 * Family registration. Registering the same name again with the same
 * kind and label names returns the existing family (help is kept from
 * the first call); another kind is VT_EKIND, other label names
 * VT_EEXIST. help may be NULL. Thread-safe.
 */
vt_err vt_metrics_counter_family(vt_metrics *m, const char *name,
				 const char *help,
				 const char *const *label_names, size_t nlabels,
				 vt_family **out);
vt_err vt_metrics_gauge_family(vt_metrics *m, const char *name,
			       const char *help, const char *const *label_names,
			       size_t nlabels, vt_family **out);
/* le_bounds: strictly increasing finite values; NULL (nbounds 0) means
 * vt_default_le_bounds. "+Inf" is implicit. */
vt_err vt_metrics_histogram_family(vt_metrics *m, const char *name,
				   const char *help,
				   const char *const *label_names,
				   size_t nlabels, const double *le_bounds,
				   size_t nbounds, vt_family **out);

/* The series of family f with these label values (in the order of the
 * family's label names; nvalues must equal that count), created on first
 * use. Thread-safe. */
vt_err vt_family_series(vt_family *f, const char *const *values, size_t nvalues,
			struct vt_series **out);

/* Shorthands for unlabelled series: family + its one series. */
vt_err vt_metrics_counter(vt_metrics *m, const char *name, const char *help,
			  vt_counter **out);
vt_err vt_metrics_gauge(vt_metrics *m, const char *name, const char *help,
			vt_gauge **out);
vt_err vt_metrics_histogram(vt_metrics *m, const char *name, const char *help,
			    vt_histogram **out);

/* Hot path. Thread-safe, lock-free. VT_EINVAL (nothing recorded) for a
 * negative or NaN counter add, a NaN gauge value or observation, or a
 * handle of another kind. */
vt_err vt_counter_inc(vt_counter *c);
vt_err vt_counter_add(vt_counter *c, double v);
vt_err vt_gauge_set(vt_gauge *g, double v);
vt_err vt_gauge_add(vt_gauge *g, double v);
vt_err vt_gauge_sub(vt_gauge *g, double v);
vt_err vt_histogram_observe(vt_histogram *h, double v);

/*
 * By-name API (the seed's MetricsCollector). The series is created on
 * first use with no help text. The seed's three verbs (increment,
 * set_gauge, observe) take an unlabelled series; the labelled forms are
 * named vt_metrics_<kind>_<verb> like the handle calls, and their labels
 * may be NULL/0 for an unlabelled series, else they name every label of
 * the family (in any order). Errors as for registration and for the
 * handle calls. Thread-safe.
 */
vt_err vt_metrics_increment(vt_metrics *m, const char *name);
vt_err vt_metrics_counter_add(vt_metrics *m, const char *name, double v,
			      const vt_label *labels, size_t nlabels);
vt_err vt_metrics_set_gauge(vt_metrics *m, const char *name, double v);
vt_err vt_metrics_gauge_add(vt_metrics *m, const char *name, double v,
			    const vt_label *labels, size_t nlabels);
vt_err vt_metrics_gauge_set(vt_metrics *m, const char *name, double v,
			    const vt_label *labels, size_t nlabels);
vt_err vt_metrics_observe(vt_metrics *m, const char *name, double v);
vt_err vt_metrics_histogram_observe(vt_metrics *m, const char *name, double v,
				    const vt_label *labels, size_t nlabels);

/*
 * Removal (see the top). Thread-safe, concurrently with writers,
 * lookups and snapshots; they take the registry's mutex, not the
 * writers' path.
 */
/* Removes the series of f with these label values (family order, as for
 * vt_family_series). For an unlabelled family (nvalues 0) the family
 * itself is removed. VT_ENOENT when there is no such series. */
vt_err vt_family_remove_series(vt_family *f, const char *const *values,
			       size_t nvalues);
/* The same by name, labels in any order naming every label of the
 * family (NULL/0 for an unlabelled family, which is then removed).
 * VT_ENOENT for an unknown name or labels no series has. */
vt_err vt_metrics_remove_series(vt_metrics *m, const char *name,
				const vt_label *labels, size_t nlabels);
/* Removes family name and all its series. VT_ENOENT when unknown. */
vt_err vt_metrics_remove_family(vt_metrics *m, const char *name);

/* Validators, exposed for config checking: true when name follows
 * Prometheus' rules above. */
bool vt_metric_name_valid(const char *name);
bool vt_label_name_valid(const char *name);

/*
 * Snapshots: all shards merged at one moment, immutable, owned by the
 * caller. Families are sorted by name, series by their label values.
 * A histogram series is self-consistent: count equals the sum of its
 * buckets and the "+Inf" bucket.
 */
typedef struct vt_hist_summary {
	uint64_t count;
	double sum;
	double min, max;		 /* NaN when count == 0 */
	double p50, p90, p95, p99, p999; /* NaN when count == 0 */
	size_t nbounds;			 /* le bounds, without +Inf */
	const double *le_bounds;	 /* [nbounds] */
	const uint64_t *le_cumulative;	 /* [nbounds + 1], last is count */
} vt_hist_summary;

/* A histogram series' merged buckets: opaque, read through
 * vt_series_quantile. */
typedef struct vt_hist_buckets vt_hist_buckets;

typedef struct vt_series_snap {
	const vt_label *labels; /* [nlabels], in family label order */
	size_t nlabels;
	double value;	      /* counter, gauge */
	vt_hist_summary hist; /* histogram */
	double created; /* Unix time the series was created; 0 = unknown */
	/* Histogram: for vt_series_quantile; NULL in a snapshot that has
	 * summaries only (one from vt_client_metrics). */
	const vt_hist_buckets *buckets;
} vt_series_snap;

typedef struct vt_family_snap {
	const char *name;
	const char *help; /* "" when none was given */
	vt_metric_kind kind;
	size_t nseries;
	const vt_series_snap *series;
} vt_family_snap;

typedef struct vt_metrics_snapshot {
	size_t nfamilies;
	const vt_family_snap *families;
} vt_metrics_snapshot;

/* Which families to take: a NULL filter, or NULL/empty fields, take all. */
typedef struct vt_metrics_filter {
	const char *name;	 /* exact family name */
	const char *name_prefix; /* family name prefix */
	const vt_label *labels;	 /* series must carry every one of these */
	size_t nlabels;
} vt_metrics_filter;

/* Removes what filter selects (as for snapshots): without
 * labels, every family whose name matches, whole; with labels, the
 * series that carry every one of them, in the families whose name
 * matches (a family stays, empty, when its last series goes). A filter
 * with no name, prefix or label is VT_EINVAL (it would remove
 * everything). *nremoved (may be NULL) gets the number of series
 * removed. */
vt_err vt_metrics_remove_matching(vt_metrics *m,
				  const vt_metrics_filter *filter,
				  size_t *nremoved);

/* Merges every shard into a new snapshot. Thread-safe; writers are never
 * blocked. A histogram series that has recorded nothing since the
 * previous snapshot is not merged again: its last result is reused. */
vt_err vt_metrics_snapshot_take(vt_metrics *m, const vt_metrics_filter *filter,
				vt_metrics_snapshot **out);

/* Frees any snapshot: one from vt_metrics_snapshot_take and one from
 * vt_client_metrics alike. It may outlive its registry. Accepts NULL. */
void vt_metrics_snapshot_free(vt_metrics_snapshot *s);

/* Sets the process' own metrics in m, read from /proc/self now, under
 * Prometheus' standard names: process_cpu_seconds_total (counter),
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds and
 * process_threads (gauges). Call it before taking a snapshot to expose
 * (vt_server does, with vt_server_opts.process_metrics). What cannot be
 * read is left as it was; a name already registered as another kind is
 * VT_EKIND after the others are set. Thread-safe. */
vt_err vt_metrics_process_update(vt_metrics *m);

/* Quantile q in [0, 1] of a histogram series, nearest-rank, within 1.1%
 * relative error; NaN when empty, q is out of range or s has no buckets
 * (then its summary's percentiles are all there is). */
double vt_series_quantile(const vt_series_snap *s, double q);

#ifdef __cplusplus
}
#endif
#endif
