/*
 * history.h - the inside of a vt_history, shared by the modules of
 * src/history: the store (store.c: open, schema, reads), the writer
 * (writer.c: queue, thread, commits, waits), rollups (rollup.c) and
 * retention (retention.c).
 *
 * Connections: wr belongs to the writer thread; rd serves reads under
 * rd_mtx. In memory there is one database, so rd == wr and the writer
 * takes rd_mtx around its work too. On a file, WAL lets rd read while wr
 * writes. Lock order: registry lock -> mtx -> rd_mtx -> cache_mtx.
 */
#ifndef VT_HISTORY_HISTORY_H
#define VT_HISTORY_HISTORY_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vitals/history.h"

/* SQLite's page cache per connection of the state database, as its
 * PRAGMA cache_size takes it (negative: KiB). With SQLite's default of
 * 2 MiB, each of the three connections (history writer and reader, alert
 * outbox) keeps up to 2 MiB of the pages it has read, and a daemon with
 * 50 checks every 5 s keeps 26 million results over 30 days: its
 * resident memory would creep up by 6 MiB over weeks. The writer works
 * on the tails of two indexes, and uptime and the status page read the
 * rollups; 256 KiB each holds both (bench_history renders the status
 * page as fast as with the default). */
#define VT__HISTORY_CACHE_KIB "-256"

/* Results committed in one transaction, at most. */
#define VT__BATCH 512

/* A queued result. */
typedef struct vt__hitem {
	struct vt__hitem *next;
	uint64_t seq; /* registry seq; 0 when recorded directly */
	int64_t id;   /* the check's row id, set by the writer */
	int64_t t_ms;
	vt_status status;
	double duration_ms;
	bool maintenance;
	/* Not a result: vt_history_forget's marker, handled by the writer
	 * in queue order, after every result of the check queued before. */
	bool forget;
	char *error;  /* NULL or inside this allocation */
	char check[]; /* NUL-terminated */
} vt__hitem;

/* A check's uptime as last computed by the writer. */
typedef struct vt__hcache {
	char *name;
	int64_t id;
	double ratio[VT_UPTIME_NWINDOWS];
	bool has_ratio;
	int64_t computed_ms; /* wall ms of the computation */
	vt_gauge *gauges[VT_UPTIME_NWINDOWS];
} vt__hcache;

struct vt_history {
	char *path;		    /* NULL = in memory; immutable */
	int retention_days;	    /* immutable */
	size_t queue_cap;	    /* immutable */
	vt_metrics *metrics;	    /* immutable */
	void (*on_trouble)(void *); /* immutable */
	void *trouble_arg;	    /* immutable */
	bool trouble_told;	    /* writer thread only */
	sqlite3 *wr;		    /* writer thread only (and open/close) */
	sqlite3 *rd;		    /* under rd_mtx; == wr in memory */
	pthread_mutex_t rd_mtx;
	sqlite3_stmt *rd_list, *rd_id, *rd_sum, *rd_hours; /* under rd_mtx */

	pthread_mutex_t mtx;
	pthread_cond_t cv; /* queue, commits, stop; CLOCK_MONOTONIC */
	/* protected by mtx */
	vt__hitem *head, *tail;
	size_t queued;
	uint64_t enq_seq;	/* last registry seq queued */
	uint64_t enq_count;	/* items ever queued */
	uint64_t done_count;	/* items ever committed */
	uint64_t committed_seq; /* registry seq committed */
	uint64_t dropped;	/* results dropped on a full queue */
	int64_t last_drop_ms;	/* wall ms of the last drop */
	bool failing;
	char fail_msg[256];
	bool stop;
	vt_health *health;

	pthread_t thread;
	bool thread_started;
	/* writer-thread-only */
	sqlite3_stmt *w_check_ins, *w_check_id, *w_insert, *w_roll, *w_sum;
	int wal_pages;		       /* set by the WAL hook */
	char w_err[200];	       /* the last failed commit's reason */
	void *w_agg;		       /* rollup sums of a batch (rollup.c) */
	size_t w_agg_cap;	       /* its slots, a power of two */
	vt__hitem *w_items[VT__BATCH]; /* the batch being committed */
	int64_t next_prune_ms;

	pthread_mutex_t cache_mtx;
	vt__hcache *cache; /* protected by cache_mtx; sorted by name */
	size_t ncache, capcache;
};

/* Gives each check of h without a result its newest stored one
 * (seed.c). No lock held. */
void vt__history_seed(vt_history *hs, vt_health *h);

/* "state database PATH: msg" (or ":memory:") into errbuf. */
void vt__history_err(const vt_history *hs, char *errbuf, size_t errlen,
		     const char *msg);
/* Maps a SQLite result code to vt_err. */
vt_err vt__history_map(int rc);

/* Writer side. */
vt_err vt__history_writer_start(vt_history *hs);
void vt__history_writer_stop(vt_history *hs);
void vt__history_listener(const vt_result_event *ev, void *arg);

/* Rollups. Level 0 = minute, 1 = hour, 2 = day. */
#define VT__ROLL_LEVELS 3
extern const int64_t vt__roll_len[VT__ROLL_LEVELS];
/* Prepares the writer's rollup upsert. */
int vt__rollup_prepare(vt_history *hs);
/* Adds items[0..n) (ids set) to their rollup rows, one upsert per row
 * touched. Writer thread; n <= VT__BATCH. */
int vt__rollup_batch(vt_history *hs, const vt__hitem *const *items, size_t n);
/* The start (Unix ms) of window w at now_ms. */
int64_t vt__window_start(int w, int64_t now_ms);
/* Uptime of check id from rollups on db (its owner holds it):
 * ratio[w] or -1. */
int vt__rollup_uptime(sqlite3 *db, sqlite3_stmt **sum, int64_t id,
		      int64_t now_ms, double ratio[VT_UPTIME_NWINDOWS]);
/* The same from raw rows: for tests, which compare the two. */
vt_err vt__history_uptime_raw(vt_history *hs, const char *check, double now,
			      double ratio[VT_UPTIME_NWINDOWS]);
/* Recomputes the cached uptime (and gauges) of check id name, at most
 * once a second unless force. Writer thread. */
void vt__uptime_refresh(vt_history *hs, const char *name, int64_t id,
			bool force);
void vt__uptime_cache_free(vt_history *hs);
/* Drops the cached uptime of check name and removes its gauges' series.
 * Writer thread. */
void vt__uptime_forget(vt_history *hs, const char *name);
/* The row id of check name as the cache knows it; 0 = not yet. */
int64_t vt__known_id(vt_history *hs, const char *name);

/* Retention: deletes what is older than the limits. Writer thread. */
int vt__retention_prune(vt_history *hs, int64_t now_ms);

#endif
