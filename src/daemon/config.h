/*
 * config.h - vitalsd's configuration file: JSON in, a plain struct out,
 * checks built from it on a vt_health.
 *
 * The file (at most VT__CONFIG_MAX_BYTES) is one JSON object:
 *
 *   http                "host:port" of the HTTP gateway; default
 *                       "127.0.0.1:8080"; null = no gateway; HTTPS
 *                       when "tls" is set ("http://host:port": plain
 *                       all the same; "https://host:port" needs tls)
 *   rpc                 nng URL (tcp:// or ipc://) of the RPC server;
 *                       default "tcp://127.0.0.1:5555"; null = none
 *   pub                 nng URL of the status-change pub socket;
 *                       default "tcp://127.0.0.1:5556"; null = none
 *   workers             check worker threads, 1..256; default 4
 *   degraded_http_code  HTTP status of a DEGRADED /health, 200..599
 *                       (e.g. 429 for Consul); default 200
 *   tls                 {"cert", "key", "ca"}: PEM files; rpc and pub
 *                       then listen on tls+tcp://, http serves HTTPS;
 *                       with "ca", RPC clients need a certificate
 *                       signed by it (HTTPS clients never do)
 *   allow_plaintext_token  true lets the token cross a non-loopback
 *                       address in clear text; default false (refused)
 *   state               state database file (history); default
 *                       "vitals-state.db" beside the config file,
 *                       relative paths from the config's directory;
 *                       null = history in memory only
 *   retention_days      history kept, 1..3650; default 30
 *   checks              array of at most VT__CONFIG_MAX_CHECKS checks
 *
 * A check has "name" and "type" (redis, rabbitmq, http, dmarket, tcp,
 * disk, exec), the common options interval_ms, timeout_ms, degraded_ms,
 * critical, tags, failures_before_unhealthy, successes_before_healthy,
 * and the fields of its type (see the table in config.c). Unknown and
 * repeated keys are errors. DMarket's secret key is never read from the
 * file: "secret_key_env" names the environment variable that holds it.
 *
 * Every error names the file, the check (index and name) and the field:
 *   /etc/vitals.json: checks[2] "redis": field "timeout_ms": must be a
 *   positive integer
 * and syntax errors their line and column.
 */
#ifndef VT_DAEMON_CONFIG_H
#define VT_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/health.h"

#define VT__CONFIG_MAX_BYTES  (1024 * 1024)
#define VT__CONFIG_MAX_CHECKS 1000

#define VT__CONFIG_DEFAULT_HTTP "127.0.0.1:8080"
#define VT__CONFIG_DEFAULT_RPC	"tcp://127.0.0.1:5555"
#define VT__CONFIG_DEFAULT_PUB	"tcp://127.0.0.1:5556"

typedef enum vt__check_type {
	VT__CHECK_REDIS = 0,
	VT__CHECK_RABBITMQ,
	VT__CHECK_HTTP,
	VT__CHECK_DMARKET,
	VT__CHECK_TCP,
	VT__CHECK_DISK,
	VT__CHECK_EXEC,
	VT__CHECK_HEARTBEAT,
} vt__check_type;

/* One entry of "checks". Strings are owned; NULL = not given. */
typedef struct vt__check_conf {
	char *name;
	vt__check_type type;
	vt_check_opts opts; /* opts.tags points into tags */
	char **tags;
	size_t ntags;

	char *url;		  /* redis, rabbitmq, http */
	int connect_timeout_ms;	  /* redis, rabbitmq; 0 = the check's */
	int command_timeout_ms;	  /* redis; 0 = the check's */
	char *queue;		  /* rabbitmq */
	long degraded_above;	  /* rabbitmq; 0 = no threshold */
	char *method;		  /* http */
	long expect_status;	  /* http; 0 = any 2xx */
	bool insecure;		  /* http */
	char *base_url;		  /* dmarket */
	char *public_key;	  /* dmarket */
	char *secret_key_env;	  /* dmarket: name of the variable */
	char *address;		  /* tcp */
	char *path;		  /* disk */
	double degraded_free_pct; /* disk; 0 = off */
	double unhealthy_free_pct;
	char **argv; /* exec: NULL-terminated */
	size_t argc;
	int64_t ttl_ms;	     /* heartbeat */
	bool interval_given; /* "interval_ms" was in the file */
} vt__check_conf;

typedef struct vt__config {
	char *path; /* the file, as given; used in messages */
	char *http; /* NULL = disabled */
	char *rpc;
	char *pub;
	unsigned workers;
	int degraded_http_code;
	char *token_env;		 /* NULL = no bearer token */
	char *token;			 /* its value, read at parse time */
	unsigned max_connections;	 /* 0 = the server's default */
	unsigned http_max_per_address;	 /* 0 = the server's default */
	unsigned http_header_timeout_ms; /* 0 = the server's default */
	unsigned http_idle_timeout_ms;	 /* 0 = the server's default */
	char *state;			 /* state database; NULL = in memory */
	int retention_days;		 /* history kept, days */
	char *tls_cert, *tls_key, *tls_ca; /* "tls"; NULL = plain */
	bool allow_plaintext_token;	   /* token over plain non-loopback */
	vt__check_conf *checks;
	size_t nchecks;
	struct vt__alerts_conf *alerts; /* notify, maintenance */
} vt__config;

/* Reads and validates the file at path into *out (written only on
 * success). On error errbuf says why, starting with the path; VT_EIO
 * (unreadable), VT_ETOOBIG (over the size cap), VT_EINVAL (anything
 * else), VT_ENOMEM. */
vt_err vt__config_load(vt__config **out, const char *path, char *errbuf,
		       size_t errlen);

/* As vt__config_load, from len bytes of text; path is only for
 * messages. */
vt_err vt__config_parse(vt__config **out, const char *text, size_t len,
			const char *path, char *errbuf, size_t errlen);

/* Registers every check of cfg on h through the vt_check_*_add of
 * vitals/checks.h, reading DMarket secrets from the environment. On error
 * errbuf names the check and field; checks registered before it stay. */
vt_err vt__config_build(const vt__config *cfg, vt_health *h, char *errbuf,
			size_t errlen);

/* Moves every secret the config names (secret_key_env, token_env, the
 * notifiers' token_env and secret_env) out of the environment into the
 * process (secrets.h): called once the checks hold their own copies, so
 * that exec plugins (which inherit the environment) never see them,
 * while a reload still reads them. Call it before other threads read the
 * environment (unsetenv), and after a reload's parse. */
void vt__config_forget_secrets(const vt__config *cfg);

/* Full validation as at start, without serving: builds every check on a
 * scratch registry that is freed again. */
vt_err vt__config_verify(const vt__config *cfg, char *errbuf, size_t errlen);

/* Sets the listener key ("http", "rpc" or "pub") to value, validated as
 * in the file; "none" disables it. On error errbuf starts "--KEY: ". */
vt_err vt__config_override(vt__config *cfg, const char *key, const char *value,
			   char *errbuf, size_t errlen);

/* One line about check k for logs, URLs redacted: "redis
 * redis://:***@host:6379/0, every 5000 ms, timeout 1000 ms". */
void vt__check_conf_describe(const vt__check_conf *k, char *out, size_t cap);

/* The name of a check type as written in the file ("redis", ...). */
const char *vt__check_type_name(vt__check_type t);

/* VT_EINVAL (err says why) if cfg would send its bearer token in clear
 * text to a non-loopback address (http or rpc without "tls", or an
 * explicit "http://" gateway) and
 * "allow_plaintext_token" is not true. Run by vt__config_parse; run it
 * again after vt__config_override. */
vt_err vt__config_plaintext_token(const vt__config *cfg, char *errbuf,
				  size_t errlen);

/* Frees cfg and everything it owns. Accepts NULL. */
void vt__config_free(vt__config *cfg);

/* Writes text from a config file to out (cap bytes, NUL-terminated) for
 * an error message: quotes and backslashes escaped as in JSON, bytes
 * outside printable ASCII as \xNN, cut at 64 bytes of input with "...".
 * Every file text quoted in a message goes through it. */
void vt__config_quote(const char *s, char *out, size_t cap);

#endif
