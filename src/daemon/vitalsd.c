/*
 * vitalsd.c - the stand-alone daemon: runs the checks of a JSON config
 * file and serves their health and metrics over HTTP, nng RPC and pub.
 *
 *   vitalsd --config FILE [--http ADDR] [--rpc URL] [--pub URL]   run
 *   vitalsd --check-config FILE          validate; exit 0 ok, 1 refused
 *   vitalsd --help | --version
 *
 * Start-up: SIGTERM and SIGINT are blocked before any thread exists, so
 * every thread the library starts inherits the mask and only the main
 * thread ever takes them, in sigwait. The config is loaded and validated
 * (config.c), the checks are registered, the background scheduler keeps
 * the cache fresh, and the server (vt_server_start) listens. Shutdown on
 * either signal: vt_server_shutdown turns readiness UNHEALTHY, publishes
 * it and waits for requests in flight; then everything is freed and the
 * exit status is 0.
 *
 * Under systemd (Type=notify, deploy/vitalsd.service) it tells the
 * manager READY=1 once it serves and the scheduler runs, STOPPING=1 at
 * shutdown, and with WatchdogSec= set pings WATCHDOG=1 at half the
 * interval from the signal wait (sdnotify.c speaks the protocol, without
 * libsystemd); outside systemd the notifications do nothing.
 * /metrics carries the process_* metrics, read at each scrape.
 *
 * Logs go to stderr, one line each, with a UTC timestamp: start, the
 * checks (URLs redacted), listeners, status changes and shutdown.
 *
 * Exit status: 0 clean shutdown or valid config; 1 refused config or a
 * start-up failure; 2 bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "daemon/config.h"
#include "daemon/config_alerts.h"
#include "daemon/leanstart.h"
#include "daemon/reload.h"
#include "daemon/sdnotify.h"
#include "vitals/checks.h"
#include "vitals/health.h"
#include "vitals/history.h"
#include "vitals/metrics.h"
#include "vitals/notify.h"
#include "vitals/server.h"

/* Follows project(vitals VERSION ...) in CMakeLists.txt. */
#define VITALSD_VERSION "0.1.0"

static const char usage_text[] =
    "usage: vitalsd --config FILE [--http ADDR] [--rpc URL] [--pub URL]\n"
    "       vitalsd --check-config FILE\n"
    "       vitalsd --help | --version\n"
    "\n"
    "Runs the health checks of FILE (JSON) and serves /health and\n"
    "/metrics over HTTP, the RPC API over nng req/rep and status changes\n"
    "over nng pub. --http, --rpc and --pub override the file's values\n"
    "(\"none\" turns a listener off). --check-config validates FILE\n"
    "(exit 0 valid, 1 refused, with the check and field named).\n"
    "\n"
    "FILE is a JSON object (config/vitalsd.json is an example): http,\n"
    "rpc, pub (null turns one off), workers, degraded_http_code (the\n"
    "status of a degraded /health, e.g. 429 for Consul; default 200),\n"
    "token_env (the environment variable holding a bearer token: then\n"
    "callers without it get statuses only, no details, errors or\n"
    "metrics), max_connections (RPC clients, pub subscribers and HTTP\n"
    "connections, each; default 1024), http_max_per_address (HTTP\n"
    "connections of one client address; default 64),\n"
    "http_header_timeout_ms (an HTTP request head must arrive within it,\n"
    "else 408; default 10000), http_idle_timeout_ms (an idle HTTP\n"
    "keep-alive connection is closed after it; default 60000), tls\n"
    "({cert, key, ca}: PEM files; rpc and pub on tls+tcp://, http\n"
    "serves HTTPS unless written http://HOST:PORT; with ca, RPC clients\n"
    "need a certificate signed by it), allow_plaintext_token and\n"
    "checks: "
    "[{name, type (redis, rabbitmq, http,\n"
    "dmarket, tcp, disk, exec, heartbeat), interval_ms, timeout_ms,\n"
    "degraded_ms, "
    "critical, tags, failures_before_unhealthy,\n"
    "successes_before_healthy, and the type's fields}]. Secrets - the\n"
    "token, DMarket's secret key (secret_key_env) - are read only from\n"
    "the environment, and removed from it before any check runs.\n"
    "Alerts (config/alerts.json is an example): notify (telegram with\n"
    "token_env and chat_id, or webhook with url and secret_env),\n"
    "maintenance windows, heartbeat checks (ttl_ms), state (the SQLite\n"
    "file of pending alerts; default vitals-state.db beside FILE).\n"
    "\n"
    "SIGTERM or SIGINT: readiness turns unhealthy and is published,\n"
    "requests in flight finish, exit 0. SIGHUP, or vitalsctl reload\n"
    "(with the token when one is set): FILE is read again;\n"
    "added checks start, removed ones stop, changed ones are replaced\n"
    "under the same name (history and metric series kept), removed\n"
    "checks' metric series go; a refused file is logged (and told to\n"
    "vitalsctl) and the running\n"
    "config stays; http, rpc, pub, workers, max_connections,\n"
    "token_env, degraded_http_code and tls need a restart.\n";

/* Writes one log line "2026-01-02T03:04:05.678Z vitalsd: MSG" to stderr.
 * Thread-safe (one fputs per line). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
log_line(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char line[2048];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	int k = snprintf(line + n, sizeof(line) - n,
			 ".%03ldZ vitalsd: ", ts.tv_nsec / 1000000);
	if (k > 0)
		n += (size_t)k;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n] = '\n';
	line[n + 1] = '\0';
	fputs(line, stderr);
}

/* Status-change listener: one log line per change. */
static void on_change(const char *check, vt_status old_status,
		      vt_status new_status, void *arg)
{
	(void)arg;
	log_line("check %s: %s -> %s", check, vt_status_name(old_status),
		 vt_status_name(new_status));
}

/* Log sink of the notifiers (their lines are already redacted). */
static void on_notify_log(const char *line, void *arg)
{
	(void)arg;
	log_line("%s", line);
}

/* Maintenance windows on h, and the notifiers (when any) in *out,
 * with their outbox in cfg->state. */
static vt_err start_alerts(const vt__config *cfg, vt_health *h, vt_notify **out)
{
	const vt__alerts_conf *a = cfg->alerts;
	vt_err rv = vt__alerts_build_maintenance(a, h);
	if (rv != VT_OK || a == NULL || a->nnotify == 0) {
		if (rv != VT_OK)
			log_line("maintenance: %s", vt_strerror(rv));
		return rv;
	}
	vt_notify_opts no = {
	    .health = h, .state_path = cfg->state, .log = on_notify_log};
	char err[512] = "";
	vt_notify *n = NULL;
	if ((rv = vt_notify_alloc(&n, &no)) != VT_OK ||
	    (rv = vt__alerts_build_notify(a, n, err, sizeof(err))) != VT_OK ||
	    (rv = vt_notify_start(n)) != VT_OK) {
		log_line("cannot start alerts: %s",
			 err[0] != '\0' ? err : vt_strerror(rv));
		vt_notify_free(n);
		return rv;
	}
	for (size_t i = 0; i < a->nnotify; i++) {
		const vt__notify_conf *k = &a->notify[i];
		bool tg = k->o.type == VT_NOTIFIER_TELEGRAM;
		char shown[1024];
		vt_url_redact(tg ? (k->api_url != NULL
					? k->api_url
					: "https://api.telegram.org")
				 : k->url,
			      shown, sizeof(shown));
		log_line("notify %s: %s %s%s", k->name,
			 tg ? "telegram via" : "webhook", shown,
			 k->secret != NULL ? " (signed)" : "");
	}
	log_line("alerts: %zu pending in %s", vt_notify_pending(n), cfg->state);
	*out = n;
	return VT_OK;
}

typedef struct args {
	const char *config;
	const char *check_config;
	const char *http, *rpc, *pub;
} args;

enum {
	OPT_CONFIG = 256,
	OPT_CHECK_CONFIG,
	OPT_HTTP,
	OPT_RPC,
	OPT_PUB,
	OPT_VERSION
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
    {"http", required_argument, NULL, OPT_HTTP},
    {"rpc", required_argument, NULL, OPT_RPC},
    {"pub", required_argument, NULL, OPT_PUB},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Says what was wrong with argv[optind - 1] after getopt_long returned
 * '?' or ':'; returns 2. */
static int bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		fprintf(stderr, "vitalsd: %s needs a value\n", arg);
	else
		fprintf(stderr, "vitalsd: unknown argument \"%s\"\n%s", arg,
			usage_text);
	return 2;
}

/* Checks the combination of options parsed into a; 0 or 2 (after a
 * message). */
static int check_args(const args *a)
{
	if ((a->config == NULL) == (a->check_config == NULL)) {
		fprintf(stderr,
			"vitalsd: give one of --config FILE or "
			"--check-config FILE\n%s",
			usage_text);
		return 2;
	}
	if (a->check_config != NULL && (a->http || a->rpc || a->pub)) {
		fprintf(stderr, "vitalsd: --http, --rpc and --pub go with "
				"--config\n");
		return 2;
	}
	return 0;
}

/* Parses argv into a with getopt_long ("--opt VALUE" and "--opt=VALUE");
 * returns -1 to exit 0 (help, version), 0 to go on, 2 on a usage error
 * (after a message). */
static int parse_args(int argc, char **argv, args *a)
{
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case OPT_CHECK_CONFIG:
			a->check_config = optarg;
			break;
		case OPT_HTTP:
			a->http = optarg;
			break;
		case OPT_RPC:
			a->rpc = optarg;
			break;
		case OPT_PUB:
			a->pub = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case OPT_VERSION:
			printf("vitalsd %s\n", VITALSD_VERSION);
			return -1;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vitalsd: unknown argument \"%s\"\n%s",
			argv[optind], usage_text);
		return 2;
	}
	return check_args(a);
}

/* --check-config: loads and fully validates, prints the verdict. */
static int check_config(const char *path)
{
	char err[1024];
	vt__config *cfg = NULL;
	vt_err rv = vt__config_load(&cfg, path, err, sizeof(err));
	if (rv == VT_OK)
		rv = vt__config_verify(cfg, err, sizeof(err));
	if (rv == VT_OK && cfg->state != NULL)
		rv = vt_history_probe(cfg->state, err, sizeof(err));
	if (rv != VT_OK) {
		fprintf(stderr, "vitalsd: %s\n", err);
		vt__config_free(cfg);
		return 1;
	}
	printf("vitalsd: %s: ok (%zu check%s)\n", path, cfg->nchecks,
	       cfg->nchecks == 1 ? "" : "s");
	vt__config_free(cfg);
	return 0;
}

/* The registry the state database's trouble is reported on; NULL once
 * it is being freed. */
static pthread_mutex_t trouble_mtx = PTHREAD_MUTEX_INITIALIZER;
static vt_health *trouble_h;
static vt_history *trouble_hs;

/* The state database failed a commit or dropped a result: the component
 * "vitals" appears, DEGRADED with the reason while the trouble lasts. */
static void on_trouble(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&trouble_mtx);
	if (trouble_h != NULL) {
		vt_check_opts co = VT_CHECK_OPTS_DEFAULT;
		co.interval_ms = 5000;
		co.timeout_ms = 1000;
		if (vt_health_add(trouble_h, "vitals", vt_history_check,
				  trouble_hs, &co) != VT_OK)
			log_line("state database in trouble; a check is "
				 "already named \"vitals\"");
	}
	pthread_mutex_unlock(&trouble_mtx);
}

static void forget_trouble(void)
{
	pthread_mutex_lock(&trouble_mtx);
	trouble_h = NULL;
	pthread_mutex_unlock(&trouble_mtx);
}

/* Opens the state database of cfg and records h's results into it; the
 * component "vitals" is added if the database ever fails. */
static vt_err open_history(const vt__config *cfg, vt_health *h, vt_metrics *m,
			   vt_history **out, char *err, size_t errlen)
{
	vt_history_opts o = {.path = cfg->state,
			     .retention_days = cfg->retention_days,
			     .metrics = m,
			     .on_trouble = on_trouble};
	vt_history *hs = NULL;
	vt_err rv = vt_history_open(&hs, &o, err, errlen);
	if (rv != VT_OK)
		return rv;
	if ((rv = vt_history_attach(hs, h)) != VT_OK) {
		snprintf(err, errlen, "state database: %s", vt_strerror(rv));
		vt_history_close(hs);
		return rv;
	}
	pthread_mutex_lock(&trouble_mtx);
	trouble_h = h;
	trouble_hs = hs;
	pthread_mutex_unlock(&trouble_mtx);
	log_line("history: %s, kept %d days",
		 cfg->state != NULL ? cfg->state : "in memory",
		 cfg->retention_days);
	*out = hs;
	return VT_OK;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread) and returns it
 * (0 on error); with systemd's watchdog on, pings it at half its
 * interval meanwhile. */
static int wait_signal(const sigset_t *set)
{
	uint64_t wd_usec = 0;
	if (vt__sd_watchdog_usec(&wd_usec) <= 0)
		wd_usec = 0;
	for (;;) {
		int sig;
		if (wd_usec > 0) {
			uint64_t half = wd_usec / 2;
			struct timespec ts = {
			    .tv_sec = (time_t)(half / 1000000),
			    .tv_nsec = (long)(half % 1000000) * 1000};
			sig = sigtimedwait(set, NULL, &ts);
			if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
				return sig;
			if (sig < 0 && errno == EAGAIN)
				vt__sd_notify("WATCHDOG=1");
			else if (sig < 0 && errno != EINTR) {
				log_line("sigtimedwait: %s",
					 vt__errno_text(errno));
				return 0;
			}
			continue;
		}
		int rc = sigwait(set, &sig);
		if (rc == 0 &&
		    (sig == SIGTERM || sig == SIGINT || sig == SIGHUP))
			return sig;
		if (rc != 0 && rc != EINTR) {
			log_line("sigwait: %s", vt__errno_text(rc));
			return 0;
		}
	}
}

typedef struct reloader reloader;
static void reload_on_signal(reloader *rl);

/* Tells systemd the daemon is ready, waits for SIGTERM or SIGINT
 * (blocked in every thread), reloading on each SIGHUP, tells it the
 * daemon is stopping and returns the signal (0 on error); with
 * systemd's watchdog on, pings it at half its interval meanwhile. */
static int wait_for_signal(const sigset_t *set, reloader *rl)
{
	vt__sd_notify("READY=1\nSTATUS=serving");
	int sig;
	while ((sig = wait_signal(set)) == SIGHUP)
		reload_on_signal(rl);
	vt__sd_notify("STOPPING=1");
	return sig;
}

/* Loads a->config with the command line's overrides into *out (written
 * only on success); on error err says why. */
static vt_err load_file(const args *a, vt__config **out, char *err,
			size_t errlen)
{
	vt__config *cfg = NULL;
	vt_err rv = vt__config_load(&cfg, a->config, err, errlen);
	if (rv == VT_OK && a->http)
		rv = vt__config_override(cfg, "http", a->http, err, errlen);
	if (rv == VT_OK && a->rpc)
		rv = vt__config_override(cfg, "rpc", a->rpc, err, errlen);
	if (rv == VT_OK && a->pub)
		rv = vt__config_override(cfg, "pub", a->pub, err, errlen);
	if (rv == VT_OK)
		rv = vt__config_plaintext_token(cfg, err, errlen);
	if (rv != VT_OK) {
		vt__config_free(cfg);
		return rv;
	}
	*out = cfg;
	return VT_OK;
}

/* Loads the config of a and applies the command line's overrides;
 * NULL (after a message) when it is refused. */
static vt__config *load_config(const args *a)
{
	char err[1024];
	vt__config *cfg = NULL;
	if (load_file(a, &cfg, err, sizeof(err)) != VT_OK) {
		fprintf(stderr, "vitalsd: %s\n", err);
		return NULL;
	}
	if (cfg->http == NULL && cfg->rpc == NULL) {
		fprintf(stderr, "vitalsd: http and rpc are both off: nothing "
				"would be served\n");
		vt__config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* The running config, and what a reload works on. SIGHUP (the main
 * thread) and vitals.v1.Admin/Reload (a server thread, vitalsctl
 * reload) both go through apply_reload, one at a time under mtx. */
struct reloader {
	pthread_mutex_t mtx;
	const args *a;	  /* immutable after start */
	vt__config *base; /* the listeners' config; immutable, never freed
			     here */
	vt__config *cur;  /* the checks running; protected by mtx */
	vt_health *h;	  /* immutable after start */
	vt_history *hs;	  /* immutable after start; NULL = none */
};

/* Logs what a reload changed. */
static void log_report(const char *what, char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		log_line("reload: %s %s", what, list[i]);
}

/* Applies the config file again (reload.c): rl->cur becomes the new
 * config, or stays if the file is refused (VT_EINVAL, or VT_ENOMEM;
 * err says why, and it is logged); rep gets what changed. by names the
 * caller in the log. Thread-safe: takes rl->mtx. */
static vt_err apply_reload(reloader *rl, const char *by, vt_reload_report *rep,
			   char *err, size_t errlen)
{
	vt__config *next = NULL;
	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&rl->mtx);
	vt__sd_notify("RELOADING=1");
	log_line("%s: reloading %s", by, rl->a->config);
	/* Secrets that left the environment at start are read from where
	 * they were kept (secrets.h). */
	vt_err rv = load_file(rl->a, &next, err, errlen);
	if (rv == VT_OK)
		rv = vt__reload(rl->base, rl->cur, next, rl->h, rl->hs, rep,
				err, errlen);
	if (rv != VT_OK) {
		vt__config_free(next);
		vt_reload_report_fini(rep);
		log_line("reload refused, the running config stays: %s", err);
		if (rv != VT_ENOMEM)
			rv = VT_EINVAL; /* whatever failed, the file is refused
					 */
	} else {
		if (rl->cur != rl->base)
			vt__config_free(rl->cur);
		rl->cur = next;
		log_report("ignored:", rep->ignored, rep->nignored);
		log_report("removed check", rep->removed, rep->nremoved);
		log_report("added check", rep->added, rep->nadded);
		log_report("changed check", rep->changed, rep->nchanged);
		log_line("reloaded: %zu check%s (%zu added, %zu removed, %zu "
			 "changed)",
			 next->nchecks, next->nchecks == 1 ? "" : "s",
			 rep->nadded, rep->nremoved, rep->nchanged);
	}
	vt__sd_notify("READY=1\nSTATUS=serving");
	pthread_mutex_unlock(&rl->mtx);
	return rv;
}

/* SIGHUP: the reason of a refusal is only logged. */
static void reload_on_signal(reloader *rl)
{
	char err[1024];
	vt_reload_report rep;
	if (apply_reload(rl, "SIGHUP", &rep, err, sizeof(err)) == VT_OK)
		vt_reload_report_fini(&rep);
}

/* vt_server_opts.reload: vitals.v1.Admin/Reload. */
static vt_err reload_on_rpc(void *arg, vt_reload_report *rep, char *err,
			    size_t errlen)
{
	return apply_reload(arg, "vitalsctl reload", rep, err, errlen);
}

/* Allocates the metrics and the registry, registers cfg's checks (their
 * secrets are then forgotten), opens the state database and starts the
 * maintenance windows and notifiers; 0, or 1 after a message. */
static int build_health(vt__config *cfg, vt_metrics **m, vt_health **h,
			vt_history **hs, vt_notify **notify)
{
	char err[1024];
	vt_err rv = vt_metrics_alloc(m);
	if (rv == VT_OK) {
		/* Room for every check queued at once, twice. */
		vt_health_opts ho = {.workers = cfg->workers,
				     .queue_cap = 2 * cfg->nchecks + 1024,
				     .metrics = *m};
		rv = vt_health_alloc(h, &ho);
	}
	if (rv != VT_OK) {
		log_line("cannot start: %s", vt_strerror(rv));
		return 1;
	}
	if (vt__config_build(cfg, *h, err, sizeof(err)) != VT_OK ||
	    open_history(cfg, *h, *m, hs, err, sizeof(err)) != VT_OK) {
		fprintf(stderr, "vitalsd: %s\n", err);
		return 1;
	}
	vt__config_forget_secrets(cfg);
	if (start_alerts(cfg, *h, notify) != VT_OK)
		return 1;
	for (size_t i = 0; i < cfg->nchecks; i++) {
		char d[1200];
		vt__check_conf_describe(&cfg->checks[i], d, sizeof(d));
		log_line("check %s: %s", cfg->checks[i].name, d);
	}
	return 0;
}

/* Starts the listeners of cfg and logs them; 0, or 1 after a message. */
static int serve(const vt__config *cfg, vt_health *h, vt_metrics *m,
		 vt_history *hs, reloader *rl, vt_server **srv)
{
	char err[1024];
	vt_server_opts so = {
	    .health = h,
	    .metrics = m,
	    .http_addr = cfg->http,
	    .rpc_url = cfg->rpc,
	    .pub_url = cfg->pub,
	    .degraded_http_code = cfg->degraded_http_code,
	    .token = cfg->token,
	    .max_connections = cfg->max_connections,
	    .http_max_per_address = cfg->http_max_per_address,
	    .http_header_timeout_ms = cfg->http_header_timeout_ms,
	    .http_idle_timeout_ms = cfg->http_idle_timeout_ms,
	    .history = hs,
	    .process_metrics = true,
	    .tls_cert = cfg->tls_cert,
	    .tls_key = cfg->tls_key,
	    .tls_ca = cfg->tls_ca,
	    .reload = reload_on_rpc,
	    .reload_arg = rl,
	};
	err[0] = '\0';
	vt_err rv = vt_server_start(srv, &so, err, sizeof(err));
	if (rv != VT_OK) {
		char shown[1024];
		vt_url_redact(err, shown, sizeof(shown));
		log_line("cannot serve: %s",
			 shown[0] != '\0' ? shown : vt_strerror(rv));
		return 1;
	}
	if (cfg->token_env != NULL)
		log_line("access: details and metrics need the bearer token "
			 "of $%s; other callers get statuses only",
			 cfg->token_env);
	if (cfg->http != NULL)
		log_line("listening: http %s%s (/health, /livez, /readyz, "
			 "/metrics, status page /)",
			 strstr(cfg->http, "://") != NULL ? ""
			 : cfg->tls_cert != NULL	  ? "https://"
							  : "http://",
			 cfg->http);
	if (cfg->rpc != NULL)
		log_line("listening: rpc %s%s%s", cfg->tls_cert ? "tls+" : "",
			 cfg->rpc,
			 cfg->tls_ca ? " (client certificates required)" : "");
	if (cfg->pub != NULL)
		log_line("publishing: status changes on %s%s",
			 cfg->tls_cert != NULL &&
				 strncmp(cfg->pub, "tcp://", 6) == 0
			     ? "tls+"
			     : "",
			 cfg->pub);
	return 0;
}

/* The daemon proper; returns the exit status. */
static int run(const args *a, const sigset_t *sigs)
{
	vt_metrics *m = NULL;
	vt_health *h = NULL;
	vt_server *srv = NULL;
	vt_history *hs = NULL;
	vt_notify *notify = NULL;
	int status = 1;
	vt__config *cfg = load_config(a);
	if (cfg == NULL)
		return 1;
	reloader rl = {.mtx = PTHREAD_MUTEX_INITIALIZER, .a = a, .base = cfg};
	rl.cur = cfg;
	log_line("vitalsd %s starting: config %s, %zu check%s, %u workers",
		 VITALSD_VERSION, cfg->path, cfg->nchecks,
		 cfg->nchecks == 1 ? "" : "s", cfg->workers);
	if (build_health(cfg, &m, &h, &hs, &notify) != 0)
		goto out;
	rl.h = h;
	rl.hs = hs;
	if (serve(cfg, h, m, hs, &rl, &srv) != 0)
		goto out;

	/* After the listeners, so that checks of vitalsd's own ports pass
	 * on their first run. */
	(void)vt_health_add_listener(h, on_change, NULL);
	vt_err rv = vt_health_start(h);
	if (rv != VT_OK) {
		log_line("cannot start the scheduler: %s", vt_strerror(rv));
		goto out;
	}

	int sig = wait_for_signal(sigs, &rl);
	log_line("%s: shutting down: readiness unhealthy, finishing "
		 "requests in flight",
		 sig == SIGINT	  ? "SIGINT"
		 : sig == SIGTERM ? "SIGTERM"
				  : "error");
	vt_server_shutdown(srv);
	log_line("readiness: unhealthy%s",
		 cfg->pub != NULL ? " (published)" : "");
	log_line("stopped serving");
	status = 0;
out:
	/* After the server: no reload request runs any more. */
	vt_server_free(srv);
	if (rl.cur != cfg)
		vt__config_free(rl.cur);
	vt_notify_free(notify);
	if (h != NULL)
		vt_health_stop(h);
	/* The vitals check reads hs: free the registry (which waits for
	 * running checks) before closing the store. */
	vt_history_detach(hs);
	forget_trouble();
	vt_health_free(h);
	vt_history_close(hs);
	vt_metrics_free(m);
	vt__config_free(cfg);
	if (status == 0)
		log_line("stopped");
	return status;
}

int main(int argc, char **argv)
{
	args a = {0};
	int rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (a.check_config != NULL)
		return check_config(a.check_config);
	/* The daemon runs for long: once more, without GnuTLS's
	 * initialiser (leanstart.c). */
	vt__lean_start(argv);

	/* Before any thread exists: the signals are taken by sigwait only,
	 * and a peer closing a connection must not kill the daemon. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* glibc gives each thread that allocates an arena of its own (up to
	 * 8 per core), each keeping freed memory resident: with its ~30
	 * threads that was half of the daemon's anonymous memory. Two are
	 * plenty for what it allocates (bench/bench_footprint.sh). */
	mallopt(M_ARENA_MAX, 2);
	/* Buffers past 128 KiB (the status page, large answers) come from
	 * mmap and go back to the system when freed. Left to itself glibc
	 * raises this threshold to the largest block freed so far, after
	 * which such buffers are carved from the heap, where they leave
	 * holes that stay resident. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	return run(&a, &sigs);
}
