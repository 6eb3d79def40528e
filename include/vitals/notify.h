/*
 * vitals/notify.h - alerts that reach people: Telegram and webhook
 * notifiers fed by a health registry's results.
 *
 * A vt_notify watches the registry's recorded results (a thread of its
 * own reads the cache whenever the registry's epoch moved, every
 * poll_ms at most), decides per notifier and check what to say
 * (selection by check names and tags, the transitions asked for,
 * failure/success thresholds, reminders, a rate limit with a summary),
 * and puts each message in an outbox table of a SQLite database (WAL).
 * One sender thread per notifier sends its outbox in order with libcurl
 * (bounded by timeout_ms), deleting a message only once the receiver
 * acknowledged it (2xx): delivery is at least once. A failure (no
 * connection, timeout, 5xx, 408, 429) is retried with exponential
 * backoff from retry_min_ms to retry_max_ms; a 429's retry_after
 * (Telegram's JSON parameters, or a Retry-After header) is obeyed. Any
 * other 4xx cannot succeed by retrying: the message is dropped and
 * logged. Messages left in the outbox when the process died are sent
 * by the next one. Nothing here runs on the registry's threads, so a
 * slow or dead receiver never delays a check or a request.
 *
 * Checks under maintenance (vt_health_silence, windows) are not alerted
 * on: their results are skipped, and alerting resumes from the state
 * before the maintenance once it ends.
 *
 * Secrets (the bot token, the webhook secret) never appear in logs or
 * errors: URLs are logged with the token replaced by "***".
 */
#ifndef VITALS_NOTIFY_H
#define VITALS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/health.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_notify vt_notify;

typedef enum vt_notifier_type {
	VT_NOTIFIER_TELEGRAM = 0,
	VT_NOTIFIER_WEBHOOK = 1,
} vt_notifier_type;

/* Transitions a notifier reports ("on"). */
#define VT_ON_UNHEALTHY 0x1u
#define VT_ON_DEGRADED	0x2u
#define VT_ON_RESOLVED	0x4u

typedef struct vt_notifier_opts {
	const char *name; /* 1..200 of [A-Za-z0-9_.:-], unique */
	vt_notifier_type type;
	/* telegram */
	const char *token;   /* the bot token (secret) */
	const char *chat_id; /* "-100123" or "@channel" */
	const char *api_url; /* NULL = "https://api.telegram.org" */
	/* webhook */
	const char *url;
	const char *secret;	    /* HMAC-SHA256 key; NULL = unsigned */
	const char *const *headers; /* extra "Name: value" lines */
	size_t nheaders;
	/* which checks: none of both = all; else named or tagged */
	const char *const *checks;
	size_t nchecks;
	const char *const *tags;
	size_t ntags;
	unsigned on;		/* VT_ON_*; 0 = UNHEALTHY | RESOLVED */
	int failure_threshold;	/* results in a row before alerting; 0 = 1 */
	int success_threshold;	/* results in a row before resolved; 0 = 1 */
	int64_t remind_ms;	/* reminder period while alerting; 0 = none */
	int rate_limit;		/* messages per rate_window_ms; 0 = 20 */
	int64_t rate_window_ms; /* 0 = 60000 */
	int timeout_ms;		/* one request; 0 = 10000 */
	int64_t retry_min_ms;	/* first retry delay; 0 = 1000 */
	int64_t retry_max_ms;	/* longest retry delay; 0 = 300000 */
} vt_notifier_opts;

/* A log line (no newline) about deliveries; called from the notifier's
 * threads. */
typedef void (*vt_notify_log_fn)(const char *line, void *arg);

typedef struct vt_notify_opts {
	vt_health *health;	/* required; outlives the vt_notify */
	const char *state_path; /* SQLite file; NULL = in memory */
	int poll_ms;		/* result polling period; 0 = 200 */
	vt_notify_log_fn log;	/* may be NULL */
	void *log_arg;
} vt_notify_opts;

/* Opens the state database (creating its tables) and allocates the
 * notifier set. VT_EIO when the database cannot be opened. *out written
 * only on success. */
vt_err vt_notify_alloc(vt_notify **out, const vt_notify_opts *opts);
/* Adds a notifier (before vt_notify_start). VT_EINVAL for bad options,
 * VT_EEXIST for a name in use. */
vt_err vt_notify_add(vt_notify *n, const vt_notifier_opts *opts);
/* Starts the watcher and the senders; pending messages of the added
 * notifiers are sent. Results recorded before this call (a history
 * restored after a restart) are not news: only later ones are fed to
 * the rules, which resume from the alert states saved in the outbox. */
vt_err vt_notify_start(vt_notify *n);
/* Stops the threads (a request in flight is abandoned; its message stays
 * pending) and frees everything. Accepts NULL. */
void vt_notify_free(vt_notify *n);
/* Messages waiting in the outbox for every notifier. Thread-safe. */
size_t vt_notify_pending(vt_notify *n);

#ifdef __cplusplus
}
#endif
#endif
