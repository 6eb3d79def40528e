/*
 * notify_int.h - the inside of vt_notify, shared by the modules of
 * src/notify: rules (what to say when), telegram and webhook (how it
 * reads and how it is sent), outbox (the SQLite queue), sender (one
 * delivery thread per notifier) and engine (the watcher and the public
 * calls).
 *
 * Lock order: engine's n->mtx -> outbox's ob->mtx -> sender's s->mtx.
 * No network I/O and no SQLite call happens under n->mtx or s->mtx.
 */
#ifndef VT_NOTIFY_INT_H
#define VT_NOTIFY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "vitals/notify.h"

/* ---- rules.c: thresholds, reminders, rate limit, backoff ---------- */

typedef enum vt__alert_kind {
	VT__ALERT_NONE = 0,
	VT__ALERT_TRIGGERED,
	VT__ALERT_RESOLVED,
	VT__ALERT_REMINDER,
} vt__alert_kind;

typedef struct vt__rule_cfg {
	unsigned on; /* VT_ON_* */
	int failure_threshold, success_threshold;
	int64_t remind_ms;
} vt__rule_cfg;

/* One notifier's view of one check. */
typedef struct vt__rule_state {
	int alerted;	      /* -1 = quiet, else the vt_status alerted */
	int fail_streak;      /* alertable results in a row */
	int ok_streak;	      /* other results in a row */
	double since;	      /* wall time the alerted trouble began */
	double streak_start;  /* wall time of the streak's first result */
	double last_sent;     /* last triggered or reminder */
	vt_status last_quiet; /* last status that was not alertable */
} vt__rule_state;

#define VT__RULE_STATE_INIT                                                    \
	{                                                                      \
		.alerted = -1, .last_quiet = VT_HEALTHY                        \
	}

typedef struct vt__alert {
	vt__alert_kind kind;
	vt_status status, previous;
	double time;  /* of the result (or the tick, for a reminder) */
	double since; /* start of the trouble */
} vt__alert;

/* Feeds result status st at wall time now; true with *out set when a
 * message is due. A resolved transition updates st even when not in
 * cfg->on, and then says nothing. */
bool vt__rule_result(const vt__rule_cfg *cfg, vt__rule_state *st,
		     vt_status status, double now, vt__alert *out);
/* A reminder due at now, if any (sets last_sent). */
bool vt__rule_tick(const vt__rule_cfg *cfg, vt__rule_state *st, double now,
		   vt__alert *out);

/* At most limit messages in any window_s seconds. */
typedef struct vt__rate {
	int limit;
	double window_s;
	double *times; /* ring of the last limit send times */
	int count, head;
} vt__rate;

vt_err vt__rate_init(vt__rate *r, int limit, double window_s);
void vt__rate_fini(vt__rate *r);
/* True (and counts it) if a message may go at now. */
bool vt__rate_take(vt__rate *r, double now);

/* Delay before retry number attempts (1 = the first retry): min_ms
 * doubled each time, capped at max_ms. */
int64_t vt__backoff_ms(int attempts, int64_t min_ms, int64_t max_ms);

/* "2d 3h", "1h 5m", "4m 2s", "12s" for seconds s >= 0. */
void vt__duration_text(double s, char *out, size_t cap);

/* ---- telegram.c, webhook.c: the messages ------------------------- */

/* What one message is about. */
typedef struct vt__msg {
	vt__alert_kind kind;
	const char *check;
	vt_status status, previous;
	const char *error; /* may be NULL */
	double time, since;
} vt__msg;

/* One check's part of a summary. */
typedef struct vt__held {
	char *check;
	int count;	  /* alerts held back */
	vt_status status; /* the latest */
} vt__held;

/* The Telegram text of m / of a summary of held[0..n). Caller frees. */
char *vt__telegram_text(const vt__msg *m);
char *vt__telegram_summary(const vt__held *held, size_t n, int limit,
			   double window_s);
/* The sendMessage body {"chat_id":..,"text":..}. Caller frees. */
char *vt__telegram_body(const char *chat_id, const char *text);
/* retry_after of a Telegram error body, or -1. */
long vt__telegram_retry_after(const char *body);

/* The webhook body of m with delivery id, per DESIGN; and of a summary
 * ("kind":"summary", "held":[{check,count,status}]). Caller frees. */
char *vt__webhook_body(const vt__msg *m, const char *id);
char *vt__webhook_summary(const vt__held *held, size_t n, const char *id,
			  double time);
/* "sha256=" + hex HMAC-SHA256 of body under secret into out[cap >= 72]. */
vt_err vt__webhook_sign(const char *secret, const char *body, size_t len,
			char *out, size_t cap);
/* Appends s as a JSON string (quoted, escaped, invalid UTF-8 replaced
 * by U+FFFD). */
void vt__json_string(vt_buf *b, const char *s);

/* ---- outbox.c: the SQLite queue ----------------------------------- */

typedef struct vt__outbox vt__outbox;

typedef struct vt__delivery {
	int64_t seq;
	char *id;
	char *check;
	char *kind;
	char *payload;
	int attempts;
} vt__delivery;

vt_err vt__outbox_open(vt__outbox **out, const char *path, char *err,
		       size_t errcap);
void vt__outbox_close(vt__outbox *ob);
vt_err vt__outbox_put(vt__outbox *ob, const char *notifier, const char *id,
		      const char *check, const char *kind, const char *payload);
/* The oldest delivery of notifier into *d (VT_ENOENT when none). */
vt_err vt__outbox_head(vt__outbox *ob, const char *notifier, vt__delivery *d);
void vt__delivery_fini(vt__delivery *d);
vt_err vt__outbox_done(vt__outbox *ob, int64_t seq);
vt_err vt__outbox_failed(vt__outbox *ob, int64_t seq);
size_t vt__outbox_count(vt__outbox *ob, const char *notifier);
vt_err vt__outbox_save_state(vt__outbox *ob, const char *notifier,
			     const char *check, const vt__rule_state *st);
/* Loads the saved state (alerted, since, last_sent) if any. */
vt_err vt__outbox_load_state(vt__outbox *ob, const char *notifier,
			     const char *check, vt__rule_state *st);

/* ---- sender.c: one thread per notifier ---------------------------- */

typedef struct vt__notifier vt__notifier;

typedef struct vt__sender {
	vt__notifier *nf; /* immutable */
	pthread_t thread;
	bool started;
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	bool wake;	   /* protected by mtx */
	atomic_bool stop;
} vt__sender;

/* A configured notifier: copies of its options. */
struct vt__notifier {
	char *name;
	vt_notifier_type type;
	char *token, *chat_id, *api_url; /* telegram */
	char *url, *secret;		 /* webhook */
	char **headers;
	size_t nheaders;
	char **checks;
	size_t nchecks;
	char **tags;
	size_t ntags;
	vt__rule_cfg rule;
	int rate_limit;
	int64_t rate_window_ms;
	int timeout_ms;
	int64_t retry_min_ms, retry_max_ms;

	vt__outbox *ob;	      /* shared */
	vt_notify_log_fn log; /* may be NULL */
	void *log_arg;
	vt__sender sender;

	/* engine thread only */
	vt__rate rate;
	vt__held *held;
	size_t nheld;
};

vt_err vt__sender_start(vt__sender *s, vt__notifier *nf);
/* Wakes the sender: a delivery was queued. Thread-safe. */
void vt__sender_wake(vt__sender *s);
/* Stops and joins (an in-flight request is aborted). */
void vt__sender_stop(vt__sender *s);

/* Logs "notify NAME: " + text through nf->log, with the notifier's
 * token and secret replaced by "***". Thread-safe. */
void vt__notifier_log(const vt__notifier *nf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
