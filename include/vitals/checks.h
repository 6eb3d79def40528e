/*
 * vitals/checks.h - the built-in checks: redis, rabbitmq, http, dmarket,
 * tcp, disk and exec.
 *
 * Each vt_check_*_add registers one check on a health registry with the
 * common options co (NULL = VT_CHECK_OPTS_DEFAULT; co->free_arg is
 * ignored: the check owns copies of everything it is given). Every I/O
 * a check does is bounded by the run's deadline (vt_result_remaining_ms)
 * and by its own connect/command timeouts, whichever is earlier, so a
 * dead or hanging dependency is reported, never waited on.
 *
 * Credentials never appear in output: URLs are shown with the password
 * replaced by "***" in details, errors and logs (vt_url_redact).
 *
 * Options are validated at registration: VT_EINVAL for a bad URL, path or
 * threshold, with nothing registered.
 */
#ifndef VITALS_CHECKS_H
#define VITALS_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

#include "vitals/err.h"
#include "vitals/health.h"

#ifdef __cplusplus
extern "C" {
#endif

/* redis://[:password@]host[:port][/db] or unix:///path/to/socket[?db=N]:
 * AUTH (when a password is given), SELECT db, PING. Details: latency_ms,
 * role, version, url (redacted). Reconnects on the next run after a
 * failure. */
typedef struct vt_redis_opts {
	const char *url;
	int connect_timeout_ms; /* 0 = 1000 */
	int command_timeout_ms; /* 0 = 1000 */
} vt_redis_opts;
vt_err vt_check_redis_add(vt_health *h, const char *name,
			  const vt_redis_opts *o, const vt_check_opts *co);

/* amqp://user:pass@host[:port][/vhost]: login and channel open. With a
 * queue: its message count as detail "messages" (passive declare); above
 * degraded_above (> 0) the check is DEGRADED. */
typedef struct vt_rabbitmq_opts {
	const char *url;
	const char *queue;	/* may be NULL */
	long degraded_above;	/* 0 = no threshold */
	int connect_timeout_ms; /* 0 = 1000 */
} vt_rabbitmq_opts;
vt_err vt_check_rabbitmq_add(vt_health *h, const char *name,
			     const vt_rabbitmq_opts *o,
			     const vt_check_opts *co);

/* An HTTP(S) request: healthy when the status is expect_status (0 = any
 * 2xx); TLS verification on unless insecure. Slowness is judged by the
 * common degraded_ms option. Details: status_code, latency_ms, url. */
typedef struct vt_http_opts {
	const char *url;
	const char *method; /* NULL = "GET" */
	long expect_status; /* 0 = any 2xx */
	bool insecure;	    /* true: skip TLS verification */
} vt_http_opts;
vt_err vt_check_http_add(vt_health *h, const char *name, const vt_http_opts *o,
			 const vt_check_opts *co);

/* The DMarket trading API. With keys: GET /account/v1/balance signed as
 * DMarket documents (X-Api-Key, X-Sign-Date, X-Request-Sign:
 * "dmar ed25519 " + hex Ed25519 signature of method + path?query + body
 * + timestamp, with the secret key: 64 bytes, hex). Without keys: the
 * public GET /exchange/v1/market/items?gameId=a8db&limit=1&currency=USD.
 * base_url NULL = "https://api.dmarket.com". */
typedef struct vt_dmarket_opts {
	const char *base_url;
	const char *public_key; /* hex; NULL = public endpoint */
	const char *secret_key; /* hex, 128 chars; NULL = public endpoint */
} vt_dmarket_opts;
vt_err vt_check_dmarket_add(vt_health *h, const char *name,
			    const vt_dmarket_opts *o, const vt_check_opts *co);

/* A TCP connect to "host:port" ("[v6]:port" for IPv6 literals). */
typedef struct vt_tcp_opts {
	const char *address;
} vt_tcp_opts;
vt_err vt_check_tcp_add(vt_health *h, const char *name, const vt_tcp_opts *o,
			const vt_check_opts *co);

/* Free space of the file system holding path, in percent of its size
 * (as available to unprivileged users). At or below the thresholds:
 * DEGRADED / UNHEALTHY. Details: free_pct, free_bytes, total_bytes. */
typedef struct vt_disk_opts {
	const char *path;
	double degraded_free_pct;  /* 0 = off */
	double unhealthy_free_pct; /* 0 = off */
} vt_disk_opts;
vt_err vt_check_disk_add(vt_health *h, const char *name, const vt_disk_opts *o,
			 const vt_check_opts *co);

/* A Nagios-style plugin: argv[0] (a path) run with argv, no shell. Exit
 * 0/1/2 -> HEALTHY/DEGRADED/UNHEALTHY; any other exit or a signal ->
 * UNHEALTHY; the first line of its output is detail "output"; killed at
 * the deadline and always reaped. */
typedef struct vt_exec_opts {
	const char *const *argv; /* NULL-terminated */
} vt_exec_opts;
vt_err vt_check_exec_add(vt_health *h, const char *name, const vt_exec_opts *o,
			 const vt_check_opts *co);

/* Writes url to out (cap bytes, NUL-terminated, truncated if needed)
 * with any password replaced by "***": scheme://user:***@host/...
 * Text that is not a URL is copied unchanged. */
void vt_url_redact(const char *url, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
