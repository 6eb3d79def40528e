/*
 * outbox.c - pending alert messages and alert states in the state
 * database (SQLite, WAL), on a connection of their own.
 *
 *   vt_outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, notifier, id UNIQUE,
 *             check_name, kind, payload, created, attempts)
 *   vt_alert_state(notifier, check_name, alerted, since, last_sent,
 *                  PRIMARY KEY(notifier, check_name))
 *
 * A message is inserted (committed: it survives kill -9) before its
 * sender is woken, and deleted only once the receiver acknowledged it.
 * seq orders each notifier's messages, so a check's messages go in the
 * order they were made. The alert states let a restarted process know
 * what it last said, so it neither repeats a "triggered" nor forgets a
 * "resolved". The history shares the file; a busy timeout lets the two
 * connections take turns.
 *
 * Locks: ob->mtx serialises the connection (held only for one
 * statement or transaction).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "history/history.h"
#include "notify/notify_int.h"

#define BUSY_TIMEOUT_MS 5000

struct vt__outbox {
	pthread_mutex_t mtx;
	sqlite3 *db; /* protected by mtx */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=" VT__HISTORY_CACHE_KIB ";"
    "CREATE TABLE IF NOT EXISTS vt_outbox("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, notifier TEXT NOT NULL,"
    " id TEXT NOT NULL UNIQUE, check_name TEXT, kind TEXT NOT NULL,"
    " payload TEXT NOT NULL, created REAL NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS vt_outbox_notifier ON vt_outbox(notifier, "
    "seq);"
    "CREATE TABLE IF NOT EXISTS vt_alert_state("
    " notifier TEXT NOT NULL, check_name TEXT NOT NULL,"
    " alerted INTEGER NOT NULL, since REAL NOT NULL,"
    " last_sent REAL NOT NULL, PRIMARY KEY(notifier, check_name));";

vt_err vt__outbox_open(vt__outbox **out, const char *path, char *err,
		       size_t errcap)
{
	vt__outbox *ob = calloc(1, sizeof(*ob));
	if (ob == NULL)
		return VT_ENOMEM;
	pthread_mutex_init(&ob->mtx, NULL);
	int flags =
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
	const char *p = path != NULL ? path : ":memory:";
	char *msg = NULL;
	if (sqlite3_open_v2(p, &ob->db, flags, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(ob->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_exec(ob->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		if (err != NULL)
			snprintf(err, errcap, "state database %s: %s", p,
				 msg != NULL ? msg : sqlite3_errmsg(ob->db));
		sqlite3_free(msg);
		vt__outbox_close(ob);
		return VT_EIO;
	}
	*out = ob;
	return VT_OK;
}

void vt__outbox_close(vt__outbox *ob)
{
	if (ob == NULL)
		return;
	sqlite3_close(ob->db);
	pthread_mutex_destroy(&ob->mtx);
	free(ob);
}

/* Prepares sql; NULL on failure. Locks: caller holds ob->mtx. */
static sqlite3_stmt *prep(vt__outbox *ob, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

/* Steps st to completion and finalizes it. */
static vt_err run(sqlite3_stmt *st)
{
	if (st == NULL)
		return VT_EIO;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VT_OK : VT_EIO;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

vt_err vt__outbox_put(vt__outbox *ob, const char *notifier, const char *id,
		      const char *check, const char *kind, const char *payload)
{
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st = prep(ob, "INSERT INTO vt_outbox(notifier, id, "
				    "check_name, kind, payload, created) "
				    "VALUES(?,?,?,?,?,?)");
	if (st != NULL) {
		bind_text(st, 1, notifier);
		bind_text(st, 2, id);
		bind_text(st, 3, check);
		bind_text(st, 4, kind);
		bind_text(st, 5, payload);
		sqlite3_bind_double(st, 6, vt__wall_s());
	}
	vt_err rv = run(st);
	pthread_mutex_unlock(&ob->mtx);
	return rv;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? strdup((const char *)t) : NULL;
}

vt_err vt__outbox_head(vt__outbox *ob, const char *notifier, vt__delivery *d)
{
	vt_err rv = VT_EIO;
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st =
	    prep(ob, "SELECT seq, id, check_name, kind, payload, attempts "
		     "FROM vt_outbox WHERE notifier = ? ORDER BY seq LIMIT 1");
	if (st != NULL) {
		bind_text(st, 1, notifier);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			memset(d, 0, sizeof(*d));
			d->seq = sqlite3_column_int64(st, 0);
			d->id = col_dup(st, 1);
			d->check = col_dup(st, 2);
			d->kind = col_dup(st, 3);
			d->payload = col_dup(st, 4);
			d->attempts = sqlite3_column_int(st, 5);
			rv = d->id != NULL && d->payload != NULL ? VT_OK
								 : VT_ENOMEM;
			if (rv != VT_OK)
				vt__delivery_fini(d);
		} else if (rc == SQLITE_DONE) {
			rv = VT_ENOENT;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&ob->mtx);
	return rv;
}

void vt__delivery_fini(vt__delivery *d)
{
	free(d->id);
	free(d->check);
	free(d->kind);
	free(d->payload);
	memset(d, 0, sizeof(*d));
}

static vt_err exec_seq(vt__outbox *ob, const char *sql, int64_t seq)
{
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st = prep(ob, sql);
	if (st != NULL)
		sqlite3_bind_int64(st, 1, seq);
	vt_err rv = run(st);
	pthread_mutex_unlock(&ob->mtx);
	return rv;
}

vt_err vt__outbox_done(vt__outbox *ob, int64_t seq)
{
	return exec_seq(ob, "DELETE FROM vt_outbox WHERE seq = ?", seq);
}

vt_err vt__outbox_failed(vt__outbox *ob, int64_t seq)
{
	return exec_seq(
	    ob, "UPDATE vt_outbox SET attempts = attempts + 1 WHERE seq = ?",
	    seq);
}

size_t vt__outbox_count(vt__outbox *ob, const char *notifier)
{
	size_t n = 0;
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st =
	    notifier != NULL
		? prep(ob, "SELECT count(*) FROM vt_outbox WHERE notifier = ?")
		: prep(ob, "SELECT count(*) FROM vt_outbox");
	if (st != NULL) {
		if (notifier != NULL)
			bind_text(st, 1, notifier);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = (size_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&ob->mtx);
	return n;
}

vt_err vt__outbox_save_state(vt__outbox *ob, const char *notifier,
			     const char *check, const vt__rule_state *s)
{
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st = prep(
	    ob, "INSERT OR REPLACE INTO vt_alert_state(notifier, "
		"check_name, alerted, since, last_sent) VALUES(?,?,?,?,?)");
	if (st != NULL) {
		bind_text(st, 1, notifier);
		bind_text(st, 2, check);
		sqlite3_bind_int(st, 3, s->alerted);
		sqlite3_bind_double(st, 4, s->since);
		sqlite3_bind_double(st, 5, s->last_sent);
	}
	vt_err rv = run(st);
	pthread_mutex_unlock(&ob->mtx);
	return rv;
}

vt_err vt__outbox_load_state(vt__outbox *ob, const char *notifier,
			     const char *check, vt__rule_state *s)
{
	vt_err rv = VT_EIO;
	pthread_mutex_lock(&ob->mtx);
	sqlite3_stmt *st =
	    prep(ob, "SELECT alerted, since, last_sent FROM vt_alert_state "
		     "WHERE notifier = ? AND check_name = ?");
	if (st != NULL) {
		bind_text(st, 1, notifier);
		bind_text(st, 2, check);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			s->alerted = sqlite3_column_int(st, 0);
			s->since = sqlite3_column_double(st, 1);
			s->last_sent = sqlite3_column_double(st, 2);
			if (s->alerted < -1 || s->alerted > VT_UNHEALTHY)
				s->alerted = -1;
			rv = VT_OK;
		} else if (rc == SQLITE_DONE) {
			rv = VT_ENOENT;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&ob->mtx);
	return rv;
}
