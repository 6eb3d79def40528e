/*
 * vitals/history.h - every check result kept in a state database
 * (SQLite, WAL), with rollups for uptime and retention.
 *
 * Recording. vt_history_attach adds a result listener to a health
 * registry: each result (time, status, duration, error, maintenance) is
 * put on a bounded queue under the registry's lock, never written by
 * the check workers or request threads. One writer thread takes what is
 * queued and commits it in one transaction (group commit): the raw row
 * plus its per-minute, per-hour and per-day rollup rows, so that uptime
 * over any window is read from at most a few dozen rollup rows.
 *
 * No loss. A snapshot carries the registry's result number (seq); the
 * service calls vt_history_wait(seq) before it answers, which returns
 * at once when the writer has committed that far (the usual case) and
 * otherwise waits for the commit in progress. A commit is a write() of
 * the WAL (synchronous=NORMAL), so a result that was answered is in the
 * file after kill -9 of the process; an fsync happens at checkpoints.
 *
 * Failure. A corrupt, unreadable or unwritable file is an error of
 * vt_history_open naming the file. When a commit fails while running
 * (disk full, I/O error) the store is "failing": its results stay
 * queued in memory and are retried every second, answers no longer
 * wait, and vt_history_check (a check callback) reports DEGRADED with
 * the reason until a commit succeeds again. A full queue drops new
 * results (counted, reported by the same check).
 *
 * Uptime: the share of results in the window that were HEALTHY or
 * DEGRADED, results during maintenance left out. The 1 h window starts
 * at a minute boundary, longer ones at an hour boundary; results in the
 * current minute count. Retention: raw rows and hour/day rollups older
 * than retention_days are deleted hourly; minute rollups after 2 days.
 *
 * Threads: every call is thread-safe. Lock order: the registry's lock
 * -> hs->mtx (the queue) -> hs->rd_mtx (the read connection).
 */
#ifndef VITALS_HISTORY_H
#define VITALS_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/health.h"
#include "vitals/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_history vt_history;

typedef struct vt_history_opts {
	const char *path;    /* state database file; NULL = in memory */
	int retention_days;  /* >= 1; 0 = 30 */
	size_t queue_cap;    /* results waiting for the writer; 0 = 65536 */
	vt_metrics *metrics; /* vitals_check_uptime_ratio{check,window};
				may be NULL; must outlive the store */
	/* Called once, on the writer thread with no lock of the store
	 * held, when the store first fails a commit or drops a result: a
	 * program adds vt_history_check as a component then (vitalsd does,
	 * as "vitals"). May be NULL. */
	void (*on_trouble)(void *arg);
	void *trouble_arg;
} vt_history_opts;

/* Opens (creating if needed) the database and starts the writer. On
 * error errbuf (may be NULL) names the file and the reason, e.g.
 * "state database /x.db: file is not a database". VT_EINVAL, VT_EIO,
 * VT_ENOMEM. */
vt_err vt_history_open(vt_history **out, const vt_history_opts *opts,
		       char *errbuf, size_t errlen);
/* Checks, changing nothing, that path can serve as a state database:
 * an existing file must be a readable SQLite database, a new one's
 * directory must exist and be writable. VT_OK, or VT_EIO with errbuf
 * naming the file and the reason (for --check-config). */
vt_err vt_history_probe(const char *path, char *errbuf, size_t errlen);

/* Detaches, commits what is queued (if it can), stops the writer and
 * closes. Accepts NULL. */
void vt_history_close(vt_history *hs);

/* Records every result of h from now on. Each check of h that has no
 * result yet gets its newest stored one back (status, time, duration,
 * error, last status change, consecutive failures), aged by its time
 * so that one older than three intervals reads stale. One registry per
 * store;
 * VT_EEXIST if already attached. h must outlive the store, or
 * vt_history_detach first. */
vt_err vt_history_attach(vt_history *hs, vt_health *h);
void vt_history_detach(vt_history *hs);

/* One result. */
typedef struct vt_history_result {
	double time; /* Unix seconds */
	vt_status status;
	double duration_ms;
	const char *error; /* NULL when none */
	bool maintenance;
} vt_history_result;

/* Queues one result of check (as the listener does). VT_EFULL when the
 * queue is full (the result is dropped and counted), VT_EINVAL. */
vt_err vt_history_record(vt_history *hs, const char *check,
			 const vt_history_result *r);

/* For a check removed from the registry: its uptime gauges
 * (vitals_check_uptime_ratio{check=...}) and cached uptime go, once the
 * results of it queued before this call are written (the writer handles
 * the request in queue order, so none of them brings the gauges back).
 * Its stored results stay: a check added again under the name continues
 * its history. Never dropped on a full queue. VT_EINVAL, VT_ENOMEM.
 * Thread-safe. */
vt_err vt_history_forget(vt_history *hs, const char *check);

/* Returns once every result the registry recorded up to seq (and this
 * store was given) is committed: VT_OK; VT_EIO at once while the store
 * is failing; VT_ETIMEDOUT after timeout_ms. */
vt_err vt_history_wait(vt_history *hs, uint64_t seq, int timeout_ms);
/* Returns once everything queued so far is committed (VT_OK) or the
 * store is failing (VT_EIO). */
vt_err vt_history_flush(vt_history *hs);

/* Results of check, newest first, with time >= since (0 = any), at most
 * limit (capped at VT_HISTORY_LIMIT_MAX). *out is one allocation for
 * vt_history_list_free; *n may be 0. VT_ENOMEM, VT_EIO. */
#define VT_HISTORY_LIMIT_MAX 1000
vt_err vt_history_list(vt_history *hs, const char *check, double since,
		       size_t limit, vt_history_result **out, size_t *n);
void vt_history_list_free(vt_history_result *r);

/* The uptime windows. */
enum {
	VT_UPTIME_1H = 0,
	VT_UPTIME_24H,
	VT_UPTIME_7D,
	VT_UPTIME_30D,
	VT_UPTIME_NWINDOWS
};
/* "1h", "24h", "7d", "30d". */
const char *vt_uptime_window_name(int w);

/* Uptime of check at time now from the rollups: ratio[w] in [0, 1], or
 * -1 when the window holds no result (an unknown check: all -1). */
vt_err vt_history_uptime(vt_history *hs, const char *check, double now,
			 double ratio[VT_UPTIME_NWINDOWS]);
/* The uptime the writer last computed for check (after each commit that
 * held its results, at most once a second per check): cheap, no
 * database read. false if none yet. */
bool vt_history_cached_uptime(vt_history *hs, const char *check,
			      double ratio[VT_UPTIME_NWINDOWS]);

/* One hour of one check, for a status page. */
#define VT_HISTORY_BAR 24
typedef struct vt_history_segment {
	double start; /* Unix seconds of the hour's start */
	uint32_t n, n_degraded, n_unhealthy, n_maint;
	double avg_ms, max_ms; /* 0 when n == 0 */
	char error[160];       /* the hour's last error; "" = none */
} vt_history_segment;

typedef struct vt_history_summary {
	double uptime[VT_UPTIME_NWINDOWS];
	vt_history_segment bar[VT_HISTORY_BAR]; /* oldest first; the last
						   is the current hour */
} vt_history_summary;

/* The status-page view of check at time now, from the rollups only. */
vt_err vt_history_summary_read(vt_history *hs, const char *check, double now,
			       vt_history_summary *out);

/* VT_OK while commits succeed; otherwise VT_EIO and why in errbuf. */
vt_err vt_history_status(vt_history *hs, char *errbuf, size_t errlen);

/* A check callback (vt_health_add, arg = the store): HEALTHY while the
 * state database takes results, DEGRADED "state database: ..." while it
 * fails or has dropped results in the last minute. */
void vt_history_check(vt_check_result *r, void *arg);

#ifdef __cplusplus
}
#endif
#endif
