/*
 * store.c - the state database: opening it (WAL, schema, clear errors),
 * closing it, and the reads behind the API (a check's results, uptime,
 * the status-page summary). See vitals/history.h.
 *
 * Tables (shared file: alerts keep their own tables beside these):
 *   history_checks(id, name)            one row per check name
 *   history_results(check_id, t_ms, status, duration_ms, error,
 *                   maintenance)        every result; index (check, t)
 *   history_rollup(level, check_id, bucket, n, n_up, n_maint,
 *                  n_degraded, n_unhealthy, dur_sum, dur_max,
 *                  last_error, last_error_ms)  per minute/hour/day
 */
#include "history/history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS history_checks("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS history_results("
    " check_id INTEGER NOT NULL, t_ms INTEGER NOT NULL,"
    " status INTEGER NOT NULL, duration_ms REAL NOT NULL, error TEXT,"
    " maintenance INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS history_results_by_check"
    " ON history_results(check_id, t_ms);"
    "CREATE TABLE IF NOT EXISTS history_rollup("
    " level INTEGER NOT NULL, check_id INTEGER NOT NULL,"
    " bucket INTEGER NOT NULL, n INTEGER NOT NULL, n_up INTEGER NOT NULL,"
    " n_maint INTEGER NOT NULL, n_degraded INTEGER NOT NULL,"
    " n_unhealthy INTEGER NOT NULL, dur_sum REAL NOT NULL,"
    " dur_max REAL NOT NULL, last_error TEXT, last_error_ms INTEGER,"
    " PRIMARY KEY(level, check_id, bucket)) WITHOUT ROWID;";

void vt__history_err(const vt_history *hs, char *errbuf, size_t errlen,
		     const char *msg)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "state database %s: %s",
			 hs->path != NULL ? hs->path : ":memory:", msg);
}

vt_err vt__history_map(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return VT_OK;
	case SQLITE_NOMEM:
		return VT_ENOMEM;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return VT_EPROTO;
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
		return VT_EINTERNAL;
	default:
		return VT_EIO;
	}
}

/* What every connection to a database file sets. */
static const char file_pragmas[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=" VT__HISTORY_CACHE_KIB ";";

/* Opens one connection with the pragmas every connection needs. On
 * error the message is in errbuf and *out is NULL. */
static int open_conn(vt_history *hs, sqlite3 **out, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags =
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	const char *name = hs->path != NULL ? hs->path : ":memory:";
	int rc = sqlite3_open_v2(name, &db, flags, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK && hs->path != NULL)
		rc = sqlite3_exec(db, file_pragmas, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s",
			 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		vt__history_err(hs, errbuf, errlen, msg);
		sqlite3_close(db);
		*out = NULL;
		return rc;
	}
	*out = db;
	return SQLITE_OK;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				  NULL);
}

/* Creates the tables and the read statements. */
static int setup(vt_history *hs)
{
	int rc = sqlite3_exec(hs->wr, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = prepare(hs->rd,
			     "SELECT t_ms, status, duration_ms, error,"
			     " maintenance FROM history_results WHERE"
			     " check_id = ?1 AND t_ms >= ?2"
			     " ORDER BY t_ms DESC LIMIT ?3",
			     &hs->rd_list);
	if (rc == SQLITE_OK)
		rc = prepare(hs->rd,
			     "SELECT id FROM history_checks WHERE name = ?1",
			     &hs->rd_id);
	if (rc == SQLITE_OK)
		rc = prepare(hs->rd,
			     "SELECT bucket, n, n_maint, n_degraded,"
			     " n_unhealthy, dur_sum, dur_max, last_error"
			     " FROM history_rollup WHERE level = 1 AND"
			     " check_id = ?1 AND bucket >= ?2 ORDER BY bucket",
			     &hs->rd_hours);
	return rc;
}

static void free_store(vt_history *hs)
{
	sqlite3_finalize(hs->rd_list);
	sqlite3_finalize(hs->rd_id);
	sqlite3_finalize(hs->rd_sum);
	sqlite3_finalize(hs->rd_hours);
	if (hs->rd != hs->wr)
		sqlite3_close(hs->rd);
	sqlite3_close(hs->wr);
	vt__uptime_cache_free(hs);
	free(hs->w_agg);
	pthread_mutex_destroy(&hs->cache_mtx);
	pthread_mutex_destroy(&hs->rd_mtx);
	pthread_cond_destroy(&hs->cv);
	pthread_mutex_destroy(&hs->mtx);
	free(hs->path);
	free(hs);
}

static vt_err init_sync(vt_history *hs)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return VT_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int bad = pthread_cond_init(&hs->cv, &ca);
	pthread_condattr_destroy(&ca);
	bad |= pthread_mutex_init(&hs->mtx, NULL);
	bad |= pthread_mutex_init(&hs->rd_mtx, NULL);
	bad |= pthread_mutex_init(&hs->cache_mtx, NULL);
	return bad ? VT_ENOMEM : VT_OK;
}

vt_err vt_history_open(vt_history **out, const vt_history_opts *opts,
		       char *errbuf, size_t errlen)
{
	if (out == NULL || opts == NULL || opts->retention_days < 0 ||
	    (opts->path != NULL && opts->path[0] == '\0')) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "state database: bad options");
		return VT_EINVAL;
	}
	vt_history *hs = calloc(1, sizeof(*hs));
	if (hs == NULL || init_sync(hs) != VT_OK)
		goto nomem;
	hs->retention_days =
	    opts->retention_days > 0 ? opts->retention_days : 30;
	hs->queue_cap = opts->queue_cap > 0 ? opts->queue_cap : 65536;
	hs->metrics = opts->metrics;
	hs->on_trouble = opts->on_trouble;
	hs->trouble_arg = opts->trouble_arg;
	if (opts->path != NULL && (hs->path = strdup(opts->path)) == NULL)
		goto nomem;
	int rc = open_conn(hs, &hs->wr, errbuf, errlen);
	if (rc == SQLITE_OK && hs->path != NULL)
		rc = open_conn(hs, &hs->rd, errbuf, errlen);
	else
		hs->rd = hs->wr;
	if (rc != SQLITE_OK)
		goto fail;
	if ((rc = setup(hs)) != SQLITE_OK) {
		vt__history_err(hs, errbuf, errlen, sqlite3_errmsg(hs->wr));
		goto fail;
	}
	vt_err err = vt__history_writer_start(hs);
	if (err != VT_OK) {
		vt__history_err(hs, errbuf, errlen, sqlite3_errmsg(hs->wr));
		free_store(hs);
		return err;
	}
	*out = hs;
	return VT_OK;
fail:
	free_store(hs);
	return vt__history_map(rc) == VT_ENOMEM ? VT_ENOMEM : VT_EIO;
nomem:
	if (hs != NULL)
		free_store(hs);
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "state database: out of memory");
	return VT_ENOMEM;
}

vt_err vt_history_probe(const char *path, char *errbuf, size_t errlen)
{
	vt_history tmp = {.path = (char *)path};
	if (path == NULL || path[0] == '\0')
		return VT_EINVAL;
	if (access(path, F_OK) != 0) {
		char dir[4096];
		const char *slash = strrchr(path, '/');
		size_t dl = slash == NULL ? 0 : (size_t)(slash - path);
		if (dl >= sizeof(dir))
			dl = sizeof(dir) - 1;
		memcpy(dir, path, dl);
		dir[dl] = '\0';
		const char *d = slash == NULL ? "." : dl == 0 ? "/" : dir;
		if (access(d, W_OK | X_OK) != 0) {
			char msg[300];
			snprintf(msg, sizeof(msg),
				 "cannot create: directory %s: %s", d,
				 strerror(errno));
			vt__history_err(&tmp, errbuf, errlen, msg);
			return VT_EIO;
		}
		return VT_OK;
	}
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master;",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK && access(path, W_OK) != 0)
		rc = SQLITE_READONLY;
	if (rc != SQLITE_OK)
		vt__history_err(&tmp, errbuf, errlen,
				rc == SQLITE_READONLY ? "not writable"
				: db != NULL	      ? sqlite3_errmsg(db)
						      : sqlite3_errstr(rc));
	sqlite3_close(db);
	return rc == SQLITE_OK ? VT_OK : VT_EIO;
}

void vt_history_close(vt_history *hs)
{
	if (hs == NULL)
		return;
	vt_history_detach(hs);
	vt__history_writer_stop(hs);
	free_store(hs);
}

/* The id of check, or 0 when it has no row. Caller holds rd_mtx. */
static int64_t check_id(vt_history *hs, const char *check, int *rc)
{
	int64_t id = 0;
	sqlite3_bind_text(hs->rd_id, 1, check, -1, SQLITE_STATIC);
	*rc = sqlite3_step(hs->rd_id);
	if (*rc == SQLITE_ROW)
		id = sqlite3_column_int64(hs->rd_id, 0);
	if (*rc == SQLITE_ROW || *rc == SQLITE_DONE)
		*rc = SQLITE_OK;
	sqlite3_reset(hs->rd_id);
	return id;
}

/* Copies the rows of rd_list into one allocation. Caller holds rd_mtx. */
static vt_err collect(sqlite3_stmt *st, vt_history_result **out, size_t *n)
{
	size_t cap = 16, cnt = 0, bytes = 0;
	vt_history_result *rs = malloc(cap * sizeof(*rs));
	char **errs = malloc(cap * sizeof(*errs));
	vt_err err = VT_OK;
	int rc;
	if (rs == NULL || errs == NULL)
		err = VT_ENOMEM;
	while (err == VT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap *= 2;
			void *a = realloc(rs, cap * sizeof(*rs));
			if (a != NULL)
				rs = a;
			void *b = realloc(errs, cap * sizeof(*errs));
			if (b != NULL)
				errs = b;
			if (a == NULL || b == NULL) {
				err = VT_ENOMEM;
				break;
			}
		}
		vt_history_result *r = &rs[cnt];
		r->time = (double)sqlite3_column_int64(st, 0) / 1000.0;
		r->status = (vt_status)sqlite3_column_int(st, 1);
		r->duration_ms = sqlite3_column_double(st, 2);
		const char *e = (const char *)sqlite3_column_text(st, 3);
		errs[cnt] = e != NULL ? strdup(e) : NULL;
		if (e != NULL && errs[cnt] == NULL)
			err = VT_ENOMEM;
		bytes += e != NULL ? strlen(e) + 1 : 0;
		r->maintenance = sqlite3_column_int(st, 4) != 0;
		cnt++;
	}
	if (err == VT_OK && rc != SQLITE_DONE)
		err = vt__history_map(rc);
	vt_history_result *blk = NULL;
	if (err == VT_OK &&
	    (blk = malloc(cnt * sizeof(*blk) + bytes + 1)) == NULL)
		err = VT_ENOMEM;
	char *p = blk != NULL ? (char *)(blk + cnt) : NULL;
	for (size_t i = 0; i < cnt; i++) {
		if (blk != NULL) {
			blk[i] = rs[i];
			blk[i].error = NULL;
			if (errs[i] != NULL) {
				size_t l = strlen(errs[i]) + 1;
				memcpy(p, errs[i], l);
				blk[i].error = p;
				p += l;
			}
		}
		free(errs[i]);
	}
	free(rs);
	free(errs);
	if (err != VT_OK) {
		free(blk);
		return err;
	}
	*out = blk;
	*n = cnt;
	return VT_OK;
}

vt_err vt_history_list(vt_history *hs, const char *check, double since,
		       size_t limit, vt_history_result **out, size_t *n)
{
	if (hs == NULL || check == NULL || out == NULL || n == NULL ||
	    !(since >= 0))
		return VT_EINVAL;
	if (limit > VT_HISTORY_LIMIT_MAX)
		limit = VT_HISTORY_LIMIT_MAX;
	pthread_mutex_lock(&hs->rd_mtx);
	int rc;
	vt_err err;
	int64_t id = check_id(hs, check, &rc);
	if (rc != SQLITE_OK) {
		err = vt__history_map(rc);
	} else {
		sqlite3_stmt *st = hs->rd_list;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)ceil(since * 1000.0));
		sqlite3_bind_int64(st, 3, (int64_t)limit);
		err = collect(st, out, n);
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&hs->rd_mtx);
	return err;
}

void vt_history_list_free(vt_history_result *r)
{
	free(r);
}

vt_err vt_history_uptime(vt_history *hs, const char *check, double now,
			 double ratio[VT_UPTIME_NWINDOWS])
{
	if (hs == NULL || check == NULL || ratio == NULL)
		return VT_EINVAL;
	for (int w = 0; w < VT_UPTIME_NWINDOWS; w++)
		ratio[w] = -1;
	pthread_mutex_lock(&hs->rd_mtx);
	int rc;
	int64_t id = check_id(hs, check, &rc);
	if (rc == SQLITE_OK && id != 0)
		rc = vt__rollup_uptime(hs->rd, &hs->rd_sum, id,
				       (int64_t)llround(now * 1000.0), ratio);
	pthread_mutex_unlock(&hs->rd_mtx);
	return vt__history_map(rc);
}

/* Fills the 24 hourly segments ending with the hour of now_ms from the
 * hour rollups of id. Caller holds rd_mtx. */
static int read_bar(vt_history *hs, int64_t id, int64_t now_ms,
		    vt_history_segment *bar)
{
	int64_t cur = now_ms / 3600000 * 3600;
	int64_t first = cur - (VT_HISTORY_BAR - 1) * 3600;
	for (int i = 0; i < VT_HISTORY_BAR; i++) {
		memset(&bar[i], 0, sizeof(bar[i]));
		bar[i].start = (double)(first + i * 3600);
	}
	sqlite3_stmt *st = hs->rd_hours;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, first);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t i = (sqlite3_column_int64(st, 0) - first) / 3600;
		if (i < 0 || i >= VT_HISTORY_BAR)
			continue;
		vt_history_segment *s = &bar[i];
		s->n = (uint32_t)sqlite3_column_int64(st, 1);
		s->n_maint = (uint32_t)sqlite3_column_int64(st, 2);
		s->n_degraded = (uint32_t)sqlite3_column_int64(st, 3);
		s->n_unhealthy = (uint32_t)sqlite3_column_int64(st, 4);
		s->avg_ms = s->n > 0 ? sqlite3_column_double(st, 5) / s->n : 0;
		s->max_ms = sqlite3_column_double(st, 6);
		const char *e = (const char *)sqlite3_column_text(st, 7);
		if (e != NULL)
			snprintf(s->error, sizeof(s->error), "%s", e);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

vt_err vt_history_summary_read(vt_history *hs, const char *check, double now,
			       vt_history_summary *out)
{
	if (hs == NULL || check == NULL || out == NULL)
		return VT_EINVAL;
	int64_t now_ms = (int64_t)llround(now * 1000.0);
	for (int w = 0; w < VT_UPTIME_NWINDOWS; w++)
		out->uptime[w] = -1;
	pthread_mutex_lock(&hs->rd_mtx);
	int rc;
	int64_t id = check_id(hs, check, &rc);
	if (rc == SQLITE_OK)
		rc = read_bar(hs, id, now_ms, out->bar);
	if (rc == SQLITE_OK && id != 0)
		rc = vt__rollup_uptime(hs->rd, &hs->rd_sum, id, now_ms,
				       out->uptime);
	pthread_mutex_unlock(&hs->rd_mtx);
	return vt__history_map(rc);
}

vt_err vt__history_uptime_raw(vt_history *hs, const char *check, double now,
			      double ratio[VT_UPTIME_NWINDOWS])
{
	int64_t now_ms = (int64_t)llround(now * 1000.0);
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&hs->rd_mtx);
	int rc = sqlite3_prepare_v2(
	    hs->rd,
	    "SELECT sum(r.status != 2 AND r.maintenance = 0),"
	    " sum(r.maintenance = 0) FROM history_results r"
	    " JOIN history_checks c ON c.id = r.check_id"
	    " WHERE c.name = ?1 AND r.t_ms >= ?2",
	    -1, &st, NULL);
	for (int w = 0; rc == SQLITE_OK && w < VT_UPTIME_NWINDOWS; w++) {
		sqlite3_bind_text(st, 1, check, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, vt__window_start(w, now_ms));
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			int64_t up = sqlite3_column_int64(st, 0);
			int64_t all = sqlite3_column_int64(st, 1);
			ratio[w] = all > 0 ? (double)up / (double)all : -1;
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&hs->rd_mtx);
	return vt__history_map(rc);
}

const char *vt_uptime_window_name(int w)
{
	static const char *const names[] = {"1h", "24h", "7d", "30d"};
	return w >= 0 && w < VT_UPTIME_NWINDOWS ? names[w] : "?";
}
