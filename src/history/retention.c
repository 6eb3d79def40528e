/*
 * retention.c - deleting what the state database keeps no longer: raw
 * results and hour/day rollups older than retention_days, minute rollups
 * older than two days (uptime windows need minutes for the last two
 * hours only, see rollup.c). Runs on the writer thread at start and
 * hourly, in chunks of CHUNK rows per transaction so that a large first
 * prune never holds the write lock for long.
 */
#include <stdio.h>

#include "history/history.h"

#define CHUNK 5000

/* Runs sql (binding ?1 = cut) until it deletes nothing. */
static int delete_chunks(sqlite3 *db, const char *sql, int64_t cut)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, cut);
		sqlite3_bind_int(st, 2, CHUNK);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			break;
		rc = sqlite3_changes(db) > 0 ? SQLITE_OK : SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int vt__retention_prune(vt_history *hs, int64_t now_ms)
{
	int64_t keep_ms = (int64_t)hs->retention_days * 86400 * 1000;
	int64_t raw_cut = now_ms - keep_ms;
	int64_t roll_cut = raw_cut / 1000;
	int64_t minute_cut = now_ms / 1000 - 2 * 86400;
	int rc = delete_chunks(
	    hs->wr,
	    "DELETE FROM history_results WHERE rowid IN (SELECT r.rowid"
	    " FROM history_checks c JOIN history_results r"
	    " ON r.check_id = c.id AND r.t_ms < ?1 LIMIT ?2)",
	    raw_cut);
	if (rc == SQLITE_OK)
		rc =
		    delete_chunks(hs->wr,
				  "DELETE FROM history_rollup WHERE"
				  " (level, check_id, bucket) IN (SELECT level,"
				  " check_id, bucket FROM history_rollup"
				  " WHERE level = 0 AND bucket < ?1 LIMIT ?2)",
				  minute_cut);
	if (rc == SQLITE_OK)
		rc =
		    delete_chunks(hs->wr,
				  "DELETE FROM history_rollup WHERE"
				  " (level, check_id, bucket) IN (SELECT level,"
				  " check_id, bucket FROM history_rollup"
				  " WHERE level IN (1, 2) AND bucket < ?1"
				  " LIMIT ?2)",
				  roll_cut);
	if (rc != SQLITE_OK)
		fprintf(stderr, "vitals: state database %s: pruning: %s\n",
			hs->path != NULL ? hs->path : ":memory:",
			sqlite3_errmsg(hs->wr));
	return rc;
}
