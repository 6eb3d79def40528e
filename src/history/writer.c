/*
 * writer.c - the history writer: a bounded FIFO of results filled by the
 * registry's result listener (under the registry's lock, so queue order
 * is result order), one thread that commits what is queued in one
 * transaction at a time (group commit, at most VT__BATCH rows each), and the
 * waits that let an answer go out only once the results it shows are
 * committed. See vitals/history.h for the contract.
 *
 * The WAL is checkpointed by this thread after a commit has been
 * announced (auto-checkpoint is off), so the fsync of a checkpoint never
 * delays an answer. While a commit fails the batch is kept and retried
 * every second; waits return VT_EIO meanwhile (results are served from
 * memory and the vitals component says why).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/thread_name.h"
#include "history/history.h"

#define RETRY_MS	 1000
#define CHECKPOINT_PAGES 1000
#define PRUNE_EVERY_MS	 (3600 * 1000)

static int64_t wall_ms(void)
{
	return (int64_t)(vt__wall_s() * 1000.0);
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	((vt_history *)arg)->wal_pages = pages;
	return SQLITE_OK;
}

/* Copies a result into a queue item. */
static vt__hitem *item_new(const char *check, const vt_history_result *r,
			   uint64_t seq)
{
	size_t nl = strlen(check) + 1;
	size_t el = r->error != NULL ? strlen(r->error) + 1 : 0;
	vt__hitem *it = malloc(sizeof(*it) + nl + el);
	if (it == NULL)
		return NULL;
	it->next = NULL;
	it->seq = seq;
	it->t_ms = (int64_t)(r->time * 1000.0 + 0.5);
	it->status = r->status;
	it->duration_ms = r->duration_ms;
	it->maintenance = r->maintenance;
	it->forget = false;
	memcpy(it->check, check, nl);
	it->error = NULL;
	if (el > 0) {
		it->error = it->check + nl;
		memcpy(it->error, r->error, el);
	}
	return it;
}

/* Queues it or drops it when full. Locks: takes hs->mtx. */
static vt_err enqueue(vt_history *hs, vt__hitem *it)
{
	vt_err err = VT_OK;
	pthread_mutex_lock(&hs->mtx);
	/* A forget marker is never dropped: it is what removes a check's
	 * gauges, and there is one per removed check. */
	if (it == NULL || (hs->queued >= hs->queue_cap && !it->forget)) {
		hs->dropped++;
		hs->last_drop_ms = wall_ms();
		free(it);
		err = it == NULL ? VT_ENOMEM : VT_EFULL;
	} else {
		if (hs->tail != NULL)
			hs->tail->next = it;
		else
			hs->head = it;
		hs->tail = it;
		hs->queued++;
		hs->enq_count++;
		if (it->seq > hs->enq_seq)
			hs->enq_seq = it->seq;
		pthread_cond_signal(&hs->cv);
	}
	pthread_mutex_unlock(&hs->mtx);
	return err;
}

vt_err vt_history_record(vt_history *hs, const char *check,
			 const vt_history_result *r)
{
	if (hs == NULL || check == NULL || check[0] == '\0' || r == NULL ||
	    r->status > VT_UNHEALTHY || !(r->time >= 0))
		return VT_EINVAL;
	return enqueue(hs, item_new(check, r, 0));
}

vt_err vt_history_forget(vt_history *hs, const char *check)
{
	if (hs == NULL || check == NULL || check[0] == '\0')
		return VT_EINVAL;
	vt_history_result r = {.status = VT_HEALTHY};
	vt__hitem *it = item_new(check, &r, 0);
	if (it != NULL)
		it->forget = true;
	return enqueue(hs, it);
}

/* The registry's result listener: runs under the registry's lock. */
void vt__history_listener(const vt_result_event *ev, void *arg)
{
	vt_history_result r = {ev->time, ev->status, ev->duration_ms, ev->error,
			       ev->maintenance};
	(void)enqueue((vt_history *)arg, item_new(ev->check, &r, ev->seq));
}

vt_err vt_history_attach(vt_history *hs, vt_health *h)
{
	if (hs == NULL || h == NULL)
		return VT_EINVAL;
	pthread_mutex_lock(&hs->mtx);
	bool taken = hs->health != NULL;
	if (!taken)
		hs->health = h;
	pthread_mutex_unlock(&hs->mtx);
	if (taken)
		return VT_EEXIST;
	vt_err err = vt_health_add_result_listener(h, vt__history_listener, hs);
	if (err != VT_OK) {
		pthread_mutex_lock(&hs->mtx);
		hs->health = NULL;
		pthread_mutex_unlock(&hs->mtx);
	} else {
		/* The last status of each check comes back (seed.c). */
		vt__history_seed(hs, h);
	}
	return err;
}

void vt_history_detach(vt_history *hs)
{
	if (hs == NULL)
		return;
	pthread_mutex_lock(&hs->mtx);
	vt_health *h = hs->health;
	hs->health = NULL;
	pthread_mutex_unlock(&hs->mtx);
	if (h != NULL)
		vt_health_remove_result_listener(h, vt__history_listener, hs);
}

/* The id of check on the writer's connection, creating its row. */
static int64_t writer_check_id(vt_history *hs, const char *check, int *rc)
{
	int64_t id = vt__known_id(hs, check);
	*rc = SQLITE_OK;
	if (id != 0)
		return id;
	sqlite3_bind_text(hs->w_check_ins, 1, check, -1, SQLITE_STATIC);
	*rc = sqlite3_step(hs->w_check_ins);
	sqlite3_reset(hs->w_check_ins);
	if (*rc != SQLITE_DONE)
		return 0;
	sqlite3_bind_text(hs->w_check_id, 1, check, -1, SQLITE_STATIC);
	*rc = sqlite3_step(hs->w_check_id);
	if (*rc == SQLITE_ROW) {
		id = sqlite3_column_int64(hs->w_check_id, 0);
		*rc = SQLITE_OK;
	}
	sqlite3_reset(hs->w_check_id);
	return id;
}

static int insert_one(vt_history *hs, vt__hitem *it)
{
	int rc;
	it->id = writer_check_id(hs, it->check, &rc);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_stmt *st = hs->w_insert;
	sqlite3_bind_int64(st, 1, it->id);
	sqlite3_bind_int64(st, 2, it->t_ms);
	sqlite3_bind_int(st, 3, (int)it->status);
	sqlite3_bind_double(st, 4, it->duration_ms);
	if (it->error != NULL)
		sqlite3_bind_text(st, 5, it->error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int(st, 6, it->maintenance ? 1 : 0);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Commits the items from first (up to n) in one transaction; on failure
 * rolls back and returns the SQLite code. Writer thread. */
static int commit_batch(vt_history *hs, size_t n)
{
	int rc = sqlite3_exec(hs->wr, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
		rc = insert_one(hs, hs->w_items[i]);
	if (rc == SQLITE_OK)
		rc = vt__rollup_batch(hs, (const vt__hitem *const *)hs->w_items,
				      n);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(hs->wr, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int sys = sqlite3_system_errno(hs->wr);
		snprintf(hs->w_err, sizeof(hs->w_err), "%s%s%s%s",
			 sqlite3_errmsg(hs->wr), sys != 0 ? " (" : "",
			 sys != 0 ? strerror(sys) : "", sys != 0 ? ")" : "");
	}
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(hs->wr))
		sqlite3_exec(hs->wr, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* After a commit: uptime of the checks in it, the WAL checkpoint, and
 * retention when due. Writer thread, no lock of ours held. */
static void after_commit(vt_history *hs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vt__uptime_refresh(hs, hs->w_items[i]->check,
				   hs->w_items[i]->id, false);
	if (hs->path != NULL && hs->wal_pages >= CHECKPOINT_PAGES) {
		sqlite3_wal_checkpoint_v2(
		    hs->wr, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		hs->wal_pages = 0;
	}
}

/* Marks the store failing with the error commit_batch noted. */
static void set_failing(vt_history *hs)
{
	pthread_mutex_lock(&hs->mtx);
	if (!hs->failing)
		fprintf(stderr, "vitals: state database %s: %s\n",
			hs->path != NULL ? hs->path : ":memory:", hs->w_err);
	hs->failing = true;
	snprintf(hs->fail_msg, sizeof(hs->fail_msg), "%s", hs->w_err);
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mtx);
}

/* Waits for work; puts the batch to commit in hs->w_items (the items
 * stay on the queue, so a failed commit keeps them) and returns its
 * size, 0 to leave. The next links are read here, under the lock only:
 * producers write the tail's. Locks: holds hs->mtx on entry and exit. */
static size_t next_batch(vt_history *hs)
{
	for (;;) {
		if (hs->head != NULL && !hs->failing)
			break;
		if (hs->stop)
			return 0;
		int64_t wait_ms = hs->failing ? RETRY_MS : 60000;
		struct timespec ts =
		    vt__mono_ts(vt__mono_ns() + wait_ms * 1000000);
		bool timed =
		    pthread_cond_timedwait(&hs->cv, &hs->mtx, &ts) != 0;
		if (hs->failing && timed && hs->head != NULL)
			break; /* retry */
		if (timed && hs->head == NULL && !hs->stop)
			return (size_t)-1; /* idle: housekeeping */
	}
	/* A forget marker is a batch of its own (writer_main). */
	size_t n = 0;
	for (vt__hitem *it = hs->head;
	     it != NULL && n < VT__BATCH && !(n > 0 && it->forget);
	     it = it->next) {
		hs->w_items[n++] = it;
		if (it->forget)
			break;
	}
	return n;
}

/* Removes the n committed items at the head and announces them. */
static void pop_committed(vt_history *hs, size_t n)
{
	pthread_mutex_lock(&hs->mtx);
	for (size_t i = 0; i < n; i++) {
		vt__hitem *it = hs->head;
		hs->head = it->next;
		if (hs->head == NULL)
			hs->tail = NULL;
		if (it->seq > hs->committed_seq)
			hs->committed_seq = it->seq;
		hs->queued--;
		hs->done_count++;
		free(it);
	}
	hs->failing = false;
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mtx);
}

/* Calls on_trouble the first time the store fails or drops. Writer
 * thread, no lock held. */
static void tell_trouble(vt_history *hs)
{
	if (hs->trouble_told || hs->on_trouble == NULL)
		return;
	pthread_mutex_lock(&hs->mtx);
	bool trouble = hs->failing || hs->dropped > 0;
	pthread_mutex_unlock(&hs->mtx);
	if (trouble) {
		hs->trouble_told = true;
		hs->on_trouble(hs->trouble_arg);
	}
}

static void housekeeping(vt_history *hs)
{
	int64_t now = wall_ms();
	if (now < hs->next_prune_ms)
		return;
	hs->next_prune_ms = now + PRUNE_EVERY_MS;
	if (hs->path == NULL)
		pthread_mutex_lock(&hs->rd_mtx);
	vt__retention_prune(hs, now);
	if (hs->path == NULL)
		pthread_mutex_unlock(&hs->rd_mtx);
}

static void *writer_main(void *arg)
{
	vt_history *hs = arg;
	vt__thread_name_self("vt-history");
	pthread_mutex_lock(&hs->mtx);
	for (;;) {
		size_t n = next_batch(hs);
		if (n == 0)
			break;
		pthread_mutex_unlock(&hs->mtx);
		if (n == (size_t)-1) {
			housekeeping(hs);
			pthread_mutex_lock(&hs->mtx);
			continue;
		}
		if (hs->w_items[0]->forget) {
			/* Every result of the check queued before is written
			 * and its uptime refreshed: nothing re-creates the
			 * gauges after this. */
			vt__uptime_forget(hs, hs->w_items[0]->check);
			pop_committed(hs, 1);
			pthread_mutex_lock(&hs->mtx);
			continue;
		}
		/* Items stay on the queue until committed; only this thread
		 * removes them, so w_items stay valid without the lock. */
		if (hs->path == NULL)
			pthread_mutex_lock(&hs->rd_mtx);
		int rc = commit_batch(hs, n);
		if (rc == SQLITE_OK)
			after_commit(hs, n);
		if (hs->path == NULL)
			pthread_mutex_unlock(&hs->rd_mtx);
		if (rc == SQLITE_OK)
			pop_committed(hs, n);
		else
			set_failing(hs);
		tell_trouble(hs);
		housekeeping(hs);
		pthread_mutex_lock(&hs->mtx);
	}
	pthread_mutex_unlock(&hs->mtx);
	return NULL;
}

static int prepare_writer(vt_history *hs)
{
	int rc = sqlite3_prepare_v2(
	    hs->wr, "INSERT OR IGNORE INTO history_checks(name) VALUES(?1)", -1,
	    &hs->w_check_ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
		    hs->wr, "SELECT id FROM history_checks WHERE name = ?1", -1,
		    &hs->w_check_id, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
		    hs->wr,
		    "INSERT INTO history_results(check_id, t_ms, status,"
		    " duration_ms, error, maintenance)"
		    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
		    -1, &hs->w_insert, NULL);
	if (rc == SQLITE_OK)
		rc = vt__rollup_prepare(hs);
	return rc;
}

static void finalize_writer(vt_history *hs)
{
	sqlite3_finalize(hs->w_check_ins);
	sqlite3_finalize(hs->w_check_id);
	sqlite3_finalize(hs->w_insert);
	sqlite3_finalize(hs->w_roll);
	sqlite3_finalize(hs->w_sum);
	hs->w_check_ins = hs->w_check_id = hs->w_insert = NULL;
	hs->w_roll = hs->w_sum = NULL;
}

/* Computes the uptime of every known check, so that a restart shows it
 * before the first new result. */
static int prime_cache(vt_history *hs)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	    hs->wr, "SELECT id, name FROM history_checks", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		vt__uptime_refresh(hs, (const char *)sqlite3_column_text(st, 1),
				   sqlite3_column_int64(st, 0), true);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

vt_err vt__history_writer_start(vt_history *hs)
{
	int rc = prepare_writer(hs);
	int64_t now = wall_ms();
	if (rc == SQLITE_OK)
		rc = vt__retention_prune(hs, now);
	hs->next_prune_ms = now + PRUNE_EVERY_MS;
	if (rc == SQLITE_OK)
		rc = prime_cache(hs);
	if (rc != SQLITE_OK) {
		finalize_writer(hs);
		return vt__history_map(rc) == VT_ENOMEM ? VT_ENOMEM : VT_EIO;
	}
	if (hs->path != NULL) {
		sqlite3_wal_autocheckpoint(hs->wr, 0);
		sqlite3_wal_hook(hs->wr, wal_hook, hs);
	}
	if (pthread_create(&hs->thread, NULL, writer_main, hs) != 0) {
		finalize_writer(hs);
		return VT_ENOMEM;
	}
	hs->thread_started = true;
	return VT_OK;
}

void vt__history_writer_stop(vt_history *hs)
{
	if (hs->thread_started) {
		pthread_mutex_lock(&hs->mtx);
		hs->stop = true;
		pthread_cond_broadcast(&hs->cv);
		pthread_mutex_unlock(&hs->mtx);
		pthread_join(hs->thread, NULL);
		hs->thread_started = false;
	}
	vt__hitem *it = hs->head;
	while (it != NULL) {
		vt__hitem *next = it->next;
		free(it);
		it = next;
	}
	hs->head = hs->tail = NULL;
	finalize_writer(hs);
	if (hs->path != NULL && hs->wr != NULL)
		sqlite3_wal_checkpoint_v2(
		    hs->wr, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

vt_err vt_history_wait(vt_history *hs, uint64_t seq, int timeout_ms)
{
	if (hs == NULL)
		return VT_OK;
	vt_err err = VT_OK;
	int64_t deadline = vt__mono_ns() + (int64_t)timeout_ms * 1000000;
	pthread_mutex_lock(&hs->mtx);
	uint64_t target = seq < hs->enq_seq ? seq : hs->enq_seq;
	if (hs->failing)
		err = VT_EIO;
	while (err == VT_OK && hs->committed_seq < target) {
		if (hs->failing) {
			err = VT_EIO;
			break;
		}
		struct timespec ts = vt__mono_ts(deadline);
		if (pthread_cond_timedwait(&hs->cv, &hs->mtx, &ts) != 0 &&
		    hs->committed_seq < target) {
			err = VT_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&hs->mtx);
	return err;
}

vt_err vt_history_flush(vt_history *hs)
{
	if (hs == NULL)
		return VT_EINVAL;
	vt_err err = VT_OK;
	pthread_mutex_lock(&hs->mtx);
	uint64_t target = hs->enq_count;
	while (hs->done_count < target) {
		if (hs->failing) {
			err = VT_EIO;
			break;
		}
		pthread_cond_wait(&hs->cv, &hs->mtx);
	}
	pthread_mutex_unlock(&hs->mtx);
	return err;
}

vt_err vt_history_status(vt_history *hs, char *errbuf, size_t errlen)
{
	if (hs == NULL)
		return VT_EINVAL;
	vt_err err = VT_OK;
	pthread_mutex_lock(&hs->mtx);
	int64_t since_drop = wall_ms() - hs->last_drop_ms;
	if (hs->failing) {
		err = VT_EIO;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen,
				 "%s; %zu results kept in memory only",
				 hs->fail_msg, hs->queued);
	} else if (hs->dropped > 0 && since_drop < 60000) {
		err = VT_EFULL;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen,
				 "queue full: %llu results not recorded",
				 (unsigned long long)hs->dropped);
	}
	pthread_mutex_unlock(&hs->mtx);
	return err;
}

void vt_history_check(vt_check_result *r, void *arg)
{
	vt_history *hs = arg;
	char msg[400];
	if (vt_history_status(hs, msg, sizeof(msg)) == VT_OK) {
		vt_result_status(r, VT_HEALTHY);
		return;
	}
	vt_result_status(r, VT_DEGRADED);
	vt_result_error(r, "state database %s: %s",
			hs->path != NULL ? hs->path : ":memory:", msg);
}
