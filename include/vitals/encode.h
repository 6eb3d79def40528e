/*
 * vitals/encode.h - snapshots to bytes: JSON and Prometheus text.
 *
 * Every encoder writes a NUL-terminated, malloc'd string to *out and its
 * length (without the NUL) to *len, only on success. The caller frees
 * *out with free(). Errors: VT_EINVAL for a NULL argument or a malformed
 * snapshot (status or kind out of range, NULL name, NULL array with a
 * count, le bounds not finite and increasing or more than
 * VT_MAX_LE_BOUNDS), VT_ENOMEM, VT_ETOOBIG past 64 MiB of output.
 * Thread-safe; the snapshot is only read.
 *
 * Numbers are the shortest text that reads back as the same double. JSON
 * prints them as JavaScript does (3, 0.45, 1764000000.123, 1e-7) and
 * non-finite ones as null; Prometheus text as Go's client does (0.005,
 * 1e-06, 1.234567e+06, +Inf, -Inf, NaN). Invalid UTF-8 in any string is
 * replaced by U+FFFD, since neither format allows it.
 *
 * JSON shapes (the seed's aiohttp /health and /metrics):
 *   health:  {"status":"healthy","timestamp":1764000000.123,
 *             "components":[{"name":..,"status":..,"details":{..}|null,
 *             "last_check_time":..|null,"error":..|null,"duration_ms":..,
 *             "critical":..,"tags":[..],"consecutive_failures":..,
 *             "last_status_change":..|null,"stale":..}]}
 *   metrics: {"name":{"type":"counter","value":3}, ...,
 *             "hist":{"type":"histogram","count":2,"sum":0.9,"avg":0.45,
 *             "min":0.4,"max":0.5,"p50":..,"p90":..,"p95":..,"p99":..,
 *             "p999":..}}
 *            a labelled series is keyed name{label="value",...} (label
 *            values escaped as in Prometheus text) and carries "labels"
 *            right after "type". Empty histograms have null
 *            avg/min/max/percentiles. Times of 0 (never) are null.
 *            Families without series are left out.
 *
 * Prometheus text format 0.0.4: # HELP and # TYPE per family, no
 * timestamps; families without series are left out. A family without
 * help text gets "No help text registered." (promtool rejects a missing
 * or empty HELP). A counter whose name does not end in "_total" is
 * exposed with "_total" appended (Prometheus' naming rule) unless a
 * family of that name exists too; histograms as _bucket{le=..}, _sum,
 * _count. Label values escape \, " and newline; HELP escapes \ and
 * newline.
 */
#ifndef VITALS_ENCODE_H
#define VITALS_ENCODE_H

#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

vt_err vt_json_health(const vt_health_snapshot *s, char **out, size_t *len);
vt_err vt_json_component(const vt_component *c, char **out, size_t *len);
vt_err vt_json_metrics(const vt_metrics_snapshot *s, char **out, size_t *len);
/* The IETF health-check format (application/health+json) of components
 * cs[n] with overall status overall:
 *   {"status":"pass|warn|fail","checks":{"NAME:responseTime":[{
 *     "componentId":"NAME","componentType":"component",
 *     "observedValue":<duration ms>,"observedUnit":"ms","status":..,
 *     "time":"<RFC 3339>","output":"<error or empty>"}]}} */
vt_err vt_ietf_health(const vt_component *cs, size_t n, vt_status overall,
		      char **out, size_t *len);
/* A check's history (vitals/history.h), as GET /health/NAME/history:
 *   {"name":..,"results":[{"time":..,"status":..,"duration_ms":..,
 *    "error":..|null,"maintenance":false}]} */
vt_err vt_json_history(const char *name, const vt_history_result *rs, size_t n,
		       char **out, size_t *len);
vt_err vt_prom_metrics(const vt_metrics_snapshot *s, char **out, size_t *len);
/* OpenMetrics text 1.0.0 (application/openmetrics-text; version=1.0.0):
 * families named without "_total" for counters, NAME_created from each
 * series' creation time, floats as client_golang writes them ("1.0"),
 * HELP escaping double quotes too, and "# EOF" last. */
vt_err vt_openmetrics_metrics(const vt_metrics_snapshot *s, char **out,
			      size_t *len);
/* Prometheus' protobuf exposition (application/vnd.google.protobuf;
 * proto=io.prometheus.client.MetricFamily; encoding=delimited): one
 * varint-length-prefixed io.prometheus.client.MetricFamily per family,
 * binary (*out is NUL-terminated past *len bytes). Names as in the text
 * format; histograms carry their classic le buckets and their native
 * buckets (schema 5, zero threshold 2^-48, spans and deltas). */
vt_err vt_promproto_metrics(const vt_metrics_snapshot *s, char **out,
			    size_t *len);

#ifdef __cplusplus
}
#endif
#endif
