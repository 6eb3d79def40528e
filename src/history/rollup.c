/*
 * rollup.c - per-minute, per-hour and per-day rollups of results, and
 * uptime read from them.
 *
 * Each result adds itself, in the transaction that inserts it, to three
 * rollup rows (summed over the batch first, one upsert per row touched) (level
 * 0 minute, 1 hour, 2 day; bucket = start of the period in Unix seconds):
 * counts of results, of up ones outside maintenance, of maintenance ones, of
 * DEGRADED and UNHEALTHY ones, the sum and maximum of durations, and the latest
 * error. A rollup row thus always equals a scan of its raw rows.
 *
 * A window [start, now] is cut into aligned pieces: minutes up to the
 * first hour boundary, hours up to the first day boundary, whole days,
 * hours, then minutes to the end. That is at most 5 range sums over the
 * primary key, whatever the window's length. Window starts: 1 h at a
 * minute boundary, longer ones at an hour boundary (so minute rows are
 * needed for the last two hours only and can be pruned early).
 *
 * The writer keeps each check's last computed uptime in a cache that
 * /health reads without touching the database, and sets the gauges
 * vitals_check_uptime_ratio{check,window} from it; a check's entry and
 * gauges go when vt_history_forget's marker reaches the writer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "history/history.h"

const int64_t vt__roll_len[VT__ROLL_LEVELS] = {60, 3600, 86400};
static const int64_t window_s[VT_UPTIME_NWINDOWS] = {3600, 86400, 7 * 86400,
						     30 * 86400};

int vt__rollup_prepare(vt_history *hs)
{
	return sqlite3_prepare_v2(
	    hs->wr,
	    "INSERT INTO history_rollup VALUES(?1, ?2, ?3, ?11, ?4, ?5, ?6,"
	    " ?7, ?8, ?12, ?9, ?10) ON CONFLICT(level, check_id, bucket) DO"
	    " UPDATE SET n = n + excluded.n, n_up = n_up + excluded.n_up,"
	    " n_maint = n_maint + excluded.n_maint,"
	    " n_degraded = n_degraded + excluded.n_degraded,"
	    " n_unhealthy = n_unhealthy + excluded.n_unhealthy,"
	    " dur_sum = dur_sum + excluded.dur_sum,"
	    " dur_max = max(dur_max, excluded.dur_max),"
	    " last_error = CASE WHEN excluded.last_error IS NOT NULL AND"
	    "  excluded.last_error_ms >= coalesce(last_error_ms, 0)"
	    "  THEN excluded.last_error ELSE last_error END,"
	    " last_error_ms = CASE WHEN excluded.last_error IS NOT NULL AND"
	    "  excluded.last_error_ms >= coalesce(last_error_ms, 0)"
	    "  THEN excluded.last_error_ms ELSE last_error_ms END",
	    -1, &hs->w_roll, NULL);
}

/* Floor division for times before 1970 too. */
static int64_t floor_to(int64_t v, int64_t step)
{
	int64_t q = v / step;
	if (v % step != 0 && v < 0)
		q--;
	return q * step;
}

/* One rollup row's share of a batch. */
typedef struct agg {
	int64_t id, bucket;
	int level;
	int64_t n, n_up, n_maint, n_degraded, n_unhealthy;
	double dur_sum, dur_max;
	const char *error; /* the latest in the batch; points into an item */
	int64_t error_ms;
	bool used;
} agg;

/* The table of a batch of n results has a power of two of slots, at
 * least twice the 3 rows each result touches: sized to the batch, not to
 * the largest one (VT__BATCH), so that the few results a steady load
 * commits at a time clear and scan a few KiB, not 400. */
#define AGG_MIN_SLOTS 64

static size_t agg_slots_for(size_t n)
{
	size_t need = 2 * VT__ROLL_LEVELS * (n > 0 ? n : 1),
	       cap = AGG_MIN_SLOTS;
	while (cap < need)
		cap *= 2;
	return cap;
}

static agg *agg_slot(agg *t, size_t cap, int64_t id, int level, int64_t bucket)
{
	uint64_t h = ((uint64_t)id * 0x9E3779B97F4A7C15ull) ^
		     ((uint64_t)bucket * 0xC2B2AE3D27D4EB4Full) ^
		     (uint64_t)level;
	for (size_t i = (size_t)(h & (cap - 1));; i = (i + 1) & (cap - 1)) {
		agg *a = &t[i];
		if (!a->used) {
			memset(a, 0, sizeof(*a));
			a->used = true;
			a->id = id;
			a->level = level;
			a->bucket = bucket;
			return a;
		}
		if (a->id == id && a->level == level && a->bucket == bucket)
			return a;
	}
}

static int agg_write(sqlite3_stmt *st, const agg *a)
{
	sqlite3_bind_int(st, 1, a->level);
	sqlite3_bind_int64(st, 2, a->id);
	sqlite3_bind_int64(st, 3, a->bucket);
	sqlite3_bind_int64(st, 4, a->n_up);
	sqlite3_bind_int64(st, 5, a->n_maint);
	sqlite3_bind_int64(st, 6, a->n_degraded);
	sqlite3_bind_int64(st, 7, a->n_unhealthy);
	sqlite3_bind_double(st, 8, a->dur_sum);
	if (a->error != NULL) {
		sqlite3_bind_text(st, 9, a->error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, a->error_ms);
	} else {
		sqlite3_bind_null(st, 9);
		sqlite3_bind_null(st, 10);
	}
	sqlite3_bind_int64(st, 11, a->n);
	sqlite3_bind_double(st, 12, a->dur_max);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int vt__rollup_batch(vt_history *hs, const vt__hitem *const *items, size_t n)
{
	size_t cap = agg_slots_for(n);
	if (cap > hs->w_agg_cap) {
		agg *grown = realloc(hs->w_agg, cap * sizeof(agg));
		if (grown == NULL)
			return SQLITE_NOMEM;
		hs->w_agg = grown;
		hs->w_agg_cap = cap;
	}
	agg *table = hs->w_agg;
	for (size_t i = 0; i < cap; i++)
		table[i].used = false;
	for (size_t i = 0; i < n; i++) {
		const vt__hitem *it = items[i];
		int64_t t_s = floor_to(it->t_ms, 1000) / 1000;
		for (int lv = 0; lv < VT__ROLL_LEVELS; lv++) {
			agg *a = agg_slot(table, cap, it->id, lv,
					  floor_to(t_s, vt__roll_len[lv]));
			a->n++;
			a->n_up +=
			    it->status != VT_UNHEALTHY && !it->maintenance;
			a->n_maint += it->maintenance;
			a->n_degraded += it->status == VT_DEGRADED;
			a->n_unhealthy += it->status == VT_UNHEALTHY;
			a->dur_sum += it->duration_ms;
			if (a->n == 1 || it->duration_ms > a->dur_max)
				a->dur_max = it->duration_ms;
			if (it->error != NULL &&
			    (a->error == NULL || it->t_ms >= a->error_ms)) {
				a->error = it->error;
				a->error_ms = it->t_ms;
			}
		}
	}
	int rc = SQLITE_OK;
	for (size_t i = 0; rc == SQLITE_OK && i < cap; i++)
		if (table[i].used)
			rc = agg_write(hs->w_roll, &table[i]);
	return rc;
}

int64_t vt__window_start(int w, int64_t now_ms)
{
	int64_t s = floor_to(now_ms, 1000) / 1000 - window_s[w];
	return floor_to(s, w == VT_UPTIME_1H ? 60 : 3600) * 1000;
}

/* Adds the sums of level lv over buckets [from, to) (to < 0: no end). */
static int add_range(sqlite3_stmt *st, int64_t id, int lv, int64_t from,
		     int64_t to, int64_t *up, int64_t *all)
{
	if (to >= 0 && from >= to)
		return SQLITE_OK;
	sqlite3_bind_int(st, 1, lv);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, from);
	sqlite3_bind_int64(st, 4, to >= 0 ? to : INT64_MAX);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*up += sqlite3_column_int64(st, 0);
		*all += sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	sqlite3_reset(st);
	return rc;
}

/* Uptime sums of id from start_s (aligned to a minute) to the end. */
static int window_sums(sqlite3_stmt *st, int64_t id, int64_t start_s,
		       int64_t now_s, int64_t *up, int64_t *all)
{
	int64_t h1 = floor_to(start_s + 3599, 3600);
	int64_t h2 = floor_to(now_s, 3600);
	if (h1 >= h2)
		return add_range(st, id, 0, start_s, -1, up, all);
	int64_t d1 = floor_to(h1 + 86399, 86400);
	int64_t d2 = floor_to(h2, 86400);
	int rc = add_range(st, id, 0, start_s, h1, up, all);
	if (d1 >= d2) {
		if (rc == SQLITE_OK)
			rc = add_range(st, id, 1, h1, h2, up, all);
	} else {
		if (rc == SQLITE_OK)
			rc = add_range(st, id, 1, h1, d1, up, all);
		if (rc == SQLITE_OK)
			rc = add_range(st, id, 2, d1, d2, up, all);
		if (rc == SQLITE_OK)
			rc = add_range(st, id, 1, d2, h2, up, all);
	}
	if (rc == SQLITE_OK)
		rc = add_range(st, id, 0, h2, -1, up, all);
	return rc;
}

int vt__rollup_uptime(sqlite3 *db, sqlite3_stmt **sum, int64_t id,
		      int64_t now_ms, double ratio[VT_UPTIME_NWINDOWS])
{
	int rc = SQLITE_OK;
	if (*sum == NULL)
		rc = sqlite3_prepare_v3(
		    db,
		    "SELECT coalesce(sum(n_up), 0), coalesce(sum(n - n_maint), "
		    "0)"
		    " FROM history_rollup WHERE level = ?1 AND check_id = ?2"
		    " AND bucket >= ?3 AND bucket < ?4",
		    -1, SQLITE_PREPARE_PERSISTENT, sum, NULL);
	int64_t now_s = floor_to(now_ms, 1000) / 1000;
	for (int w = 0; rc == SQLITE_OK && w < VT_UPTIME_NWINDOWS; w++) {
		int64_t up = 0, all = 0;
		rc = window_sums(*sum, id, vt__window_start(w, now_ms) / 1000,
				 now_s, &up, &all);
		ratio[w] = all > 0 ? (double)up / (double)all : -1;
	}
	return rc;
}

/* The cache entry of name, created if absent. Locks: caller holds
 * cache_mtx. */
static vt__hcache *cache_entry(vt_history *hs, const char *name, bool create)
{
	size_t lo = 0, hi = hs->ncache;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(hs->cache[mid].name, name);
		if (c == 0)
			return &hs->cache[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	if (hs->ncache == hs->capcache) {
		size_t cap = hs->capcache ? hs->capcache * 2 : 16;
		vt__hcache *a = realloc(hs->cache, cap * sizeof(*a));
		if (a == NULL)
			return NULL;
		hs->cache = a;
		hs->capcache = cap;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return NULL;
	memmove(&hs->cache[lo + 1], &hs->cache[lo],
		(hs->ncache - lo) * sizeof(hs->cache[0]));
	memset(&hs->cache[lo], 0, sizeof(hs->cache[0]));
	hs->cache[lo].name = copy;
	hs->ncache++;
	return &hs->cache[lo];
}

/* Sets the gauges of e (creating its series). Caller holds cache_mtx. */
static void set_gauges(vt_history *hs, vt__hcache *e)
{
	if (hs->metrics == NULL)
		return;
	static const char *const labels[] = {"check", "window"};
	vt_family *fam = NULL;
	if (vt_metrics_gauge_family(hs->metrics, "vitals_check_uptime_ratio",
				    "Share of a check's results that were "
				    "healthy or degraded, maintenance left "
				    "out, over the window.",
				    labels, 2, &fam) != VT_OK)
		return;
	for (int w = 0; w < VT_UPTIME_NWINDOWS; w++) {
		if (e->ratio[w] < 0)
			continue;
		if (e->gauges[w] == NULL) {
			const char *v[] = {e->name, vt_uptime_window_name(w)};
			if (vt_family_series(fam, v, 2, &e->gauges[w]) != VT_OK)
				continue;
		}
		(void)vt_gauge_set(e->gauges[w], e->ratio[w]);
	}
}

void vt__uptime_refresh(vt_history *hs, const char *name, int64_t id,
			bool force)
{
	int64_t now_ms = (int64_t)(vt__wall_s() * 1000.0);
	pthread_mutex_lock(&hs->cache_mtx);
	vt__hcache *e = cache_entry(hs, name, true);
	bool due = e != NULL && (force || now_ms - e->computed_ms >= 1000);
	pthread_mutex_unlock(&hs->cache_mtx);
	if (!due)
		return;
	pthread_mutex_lock(&hs->cache_mtx);
	if ((e = cache_entry(hs, name, false)) != NULL)
		e->id = id;
	pthread_mutex_unlock(&hs->cache_mtx);
	double ratio[VT_UPTIME_NWINDOWS];
	if (vt__rollup_uptime(hs->wr, &hs->w_sum, id, now_ms, ratio) !=
	    SQLITE_OK)
		return;
	pthread_mutex_lock(&hs->cache_mtx);
	e = cache_entry(hs, name, false);
	if (e != NULL) {
		memcpy(e->ratio, ratio, sizeof(ratio));
		e->has_ratio = true;
		e->id = id;
		e->computed_ms = now_ms;
		set_gauges(hs, e);
	}
	pthread_mutex_unlock(&hs->cache_mtx);
}

int64_t vt__known_id(vt_history *hs, const char *name)
{
	pthread_mutex_lock(&hs->cache_mtx);
	vt__hcache *e = cache_entry(hs, name, false);
	int64_t id = e != NULL ? e->id : 0;
	pthread_mutex_unlock(&hs->cache_mtx);
	return id;
}

bool vt_history_cached_uptime(vt_history *hs, const char *check,
			      double ratio[VT_UPTIME_NWINDOWS])
{
	if (hs == NULL || check == NULL)
		return false;
	pthread_mutex_lock(&hs->cache_mtx);
	vt__hcache *e = cache_entry(hs, check, false);
	bool ok = e != NULL && e->has_ratio;
	if (ok)
		memcpy(ratio, e->ratio, sizeof(e->ratio));
	pthread_mutex_unlock(&hs->cache_mtx);
	return ok;
}

void vt__uptime_cache_free(vt_history *hs)
{
	for (size_t i = 0; i < hs->ncache; i++)
		free(hs->cache[i].name);
	free(hs->cache);
	hs->cache = NULL;
	hs->ncache = hs->capcache = 0;
}

void vt__uptime_forget(vt_history *hs, const char *name)
{
	pthread_mutex_lock(&hs->cache_mtx);
	vt__hcache *e = cache_entry(hs, name, false);
	if (e != NULL) {
		size_t at = (size_t)(e - hs->cache);
		free(e->name);
		memmove(e, e + 1, (hs->ncache - at - 1) * sizeof(*e));
		hs->ncache--;
	}
	if (hs->metrics != NULL) {
		vt_label check = {"check", name};
		vt_metrics_filter f = {.name = "vitals_check_uptime_ratio",
				       .labels = &check,
				       .nlabels = 1};
		(void)vt_metrics_remove_matching(hs->metrics, &f, NULL);
	}
	pthread_mutex_unlock(&hs->cache_mtx);
}
