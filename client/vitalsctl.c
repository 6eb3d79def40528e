/*
 * vitalsctl - command-line client of a vitals RPC server (vitalsd, or a
 * program serving with vt_server_start), over libvitals-client.
 *
 *   vitalsctl [OPTIONS] health [NAME]   table (or --json); exit 0/1/2
 *   vitalsctl [OPTIONS] metrics [NAME]  table, --json or --prometheus
 *   vitalsctl [OPTIONS] watch           one line per status change
 *   vitalsctl [OPTIONS] history NAME    recorded results (or --json)
 *   vitalsctl [OPTIONS] beat NAME       a heartbeat check's beat
 *   vitalsctl [OPTIONS] silence NAME|--all DURATION   no alerts for a while
 *   vitalsctl [OPTIONS] unsilence NAME|--all
 *   vitalsctl [OPTIONS] reload          the server re-reads its config
 *
 * Options may come before or after the command. The table is printed
 * whether or not stdout is a terminal (scripts that want to parse use
 * --json); on a terminal, statuses are coloured unless NO_COLOR is set.
 * --json and --prometheus print exactly what the HTTP gateway serves,
 * through the same encoders (vitals/encode.h). Every failure to get an
 * answer, and every usage error, exits 3 (Nagios' UNKNOWN) with a
 * message on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vitals/client.h"
#include "vitals/encode.h"

#define EXIT_UNKNOWN 3
#define MAX_EXCLUDE  64

static const char usage[] =
    "usage: vitalsctl [OPTIONS] health [NAME] [--json] [--cached]\n"
    "                 [--tag T] [--exclude NAME]...\n"
    "       vitalsctl [OPTIONS] metrics [NAME] [--json | --prometheus]\n"
    "       vitalsctl [OPTIONS] watch\n"
    "       vitalsctl [OPTIONS] history NAME [--since UNIX] [--limit N]\n"
    "                 [--json]\n"
    "       vitalsctl [OPTIONS] beat NAME\n"
    "       vitalsctl [OPTIONS] silence NAME|--all DURATION\n"
    "       vitalsctl [OPTIONS] unsilence NAME|--all\n"
    "       vitalsctl [OPTIONS] reload [--json]\n"
    "\n"
    "Asks a vitals RPC server (nng req/rep) for health and metrics.\n"
    "\n"
    "options:\n"
    "  --url URL      RPC server (default tcp://127.0.0.1:5555; ipc:// too)\n"
    "  --pub URL      status-change publisher for watch\n"
    "                 (default tcp://127.0.0.1:5556)\n"
    "  --timeout MS   bound on each request (default 5000); for watch,\n"
    "                 stop after MS without a change (default: never)\n"
    "  --json         print JSON, the same as the HTTP gateway's\n"
    "  --prometheus   metrics as Prometheus text format 0.0.4\n"
    "  --cached       health: last results, without running checks\n"
    "  --tag T        health: only checks tagged T\n"
    "  --exclude N    health: leave out check N (repeatable)\n"
    "  --ca FILE      TLS (a tls+tcp:// --url or --pub): CA of the\n"
    "                 server's certificate (or VITALS_CA)\n"
    "  --cert FILE, --key FILE  client certificate and key for mutual\n"
    "                 TLS (or VITALS_CERT, VITALS_KEY)\n"
    "  --since UNIX   history: results at or after this Unix time\n"
    "  --limit N      history: at most N results (default 100, the\n"
    "                 server caps it at 1000)\n"
    "  --all          silence, unsilence: every check\n"
    "  -h, --help     this text\n"
    "\n"
    "Output: an aligned table, on a terminal or not (statuses coloured on\n"
    "a terminal unless NO_COLOR is set); use --json or --prometheus to\n"
    "parse. health NAME prints that one check (--json: the gateway's\n"
    "GET /health/NAME object). watch prints \"<time> <check> <old> <new>\"\n"
    "per change until interrupted. history NAME prints the check's\n"
    "recorded results newest first (time, status, duration, error);\n"
    "--json: the gateway's GET /health/NAME/history. It needs a server\n"
    "keeping history (vitalsd with state_db) and its token. beat records a "
    "beat of a heartbeat\n"
    "check. silence keeps a check (or --all) in maintenance for\n"
    "DURATION - 90s, 10m, 2h, 1d, 500ms; a bare number is seconds -:\n"
    "results are shown with \"maintenance\":true, no alerts are sent;\n"
    "unsilence ends it. reload makes the server (vitalsd) read its\n"
    "config file again, as SIGHUP does, and prints the checks added,\n"
    "removed and changed and the settings that need a restart; a\n"
    "refused file is reported with the reason (exit 3) and the running\n"
    "config stays. beat, silence and reload need the token when the\n"
    "server has one.\n"
    "\n"
    "environment: VITALS_TOKEN, the server's bearer token if it has one\n"
    "(never on the command line, where ps shows it); without it such a\n"
    "server answers statuses only, errors read \"reason withheld\",\n"
    "and metrics are refused.\n"
    "\n"
    "exit status: health: 0 healthy, 1 degraded, 2 unhealthy (of the\n"
    "whole, or of NAME); every command: 3 when the server cannot be\n"
    "reached or answers with an error, or on a usage error (Nagios\n"
    "UNKNOWN); 0 otherwise.\n";

typedef struct opts {
	const char *url;
	vt_client_tls tls; /* --ca, --cert, --key or VITALS_CA/CERT/KEY */
	const char *pub;
	int timeout_ms;
	bool timeout_set;
	const char *cmd;
	const char *name;
	bool json, prom, cached;
	const char *tag;
	const char *exclude[MAX_EXCLUDE];
	size_t nexclude;
	double since;	  /* history; 0 = any */
	unsigned limit;	  /* history; 0 = the server's default */
	bool hist_opts;	  /* --since or --limit given */
	const char *arg2; /* silence NAME DURATION: the DURATION */
	bool all;	  /* silence, unsilence --all */
} opts;

static int fail_usage(const char *fmt, const char *arg)
{
	fputs("vitalsctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n(vitalsctl --help for usage)\n", stderr);
	return EXIT_UNKNOWN;
}

enum {
	OPT_URL = 256,
	OPT_PUB,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_PROM,
	OPT_CACHED,
	OPT_TAG,
	OPT_EXCLUDE,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_SINCE,
	OPT_LIMIT,
	OPT_ALL
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"pub", required_argument, NULL, OPT_PUB},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"prometheus", no_argument, NULL, OPT_PROM},
    {"cached", no_argument, NULL, OPT_CACHED},
    {"tag", required_argument, NULL, OPT_TAG},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"ca", required_argument, NULL, OPT_CA},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"since", required_argument, NULL, OPT_SINCE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"all", no_argument, NULL, OPT_ALL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What an option that needs a value takes, for the message when it is
 * missing. */
static const char *value_kind(int opt)
{
	switch (opt) {
	case OPT_URL:
	case OPT_PUB:
		return "a URL";
	case OPT_TIMEOUT:
		return "milliseconds";
	case OPT_TAG:
		return "a tag";
	case OPT_CA:
	case OPT_CERT:
	case OPT_KEY:
		return "a PEM file";
	case OPT_SINCE:
		return "Unix seconds";
	case OPT_LIMIT:
		return "a count";
	default:
		return "a check name";
	}
}

/* Says what was wrong with the option getopt_long just refused ('?'
 * unknown, ':' missing value); returns EXIT_UNKNOWN. */
static int bad_option(int c, char **argv)
{
	char shortopt[3] = {'-', (char)optopt, '\0'};
	const char *arg =
	    optopt > 0 && optopt < 256 ? shortopt : argv[optind - 1];
	if (c != ':')
		return fail_usage("unknown option \"%s\"", arg);
	fprintf(stderr,
		"vitalsctl: %s needs %s\n(vitalsctl --help for usage)\n", arg,
		value_kind(optopt));
	return EXIT_UNKNOWN;
}

/* Stores --timeout's value v in o; 0 or EXIT_UNKNOWN (after a message). */
static int set_timeout(opts *o, const char *v)
{
	char *end;
	errno = 0;
	long ms = strtol(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || ms <= 0 || ms > 86400000)
		return fail_usage("bad --timeout \"%s\": "
				  "milliseconds, 1..86400000",
				  v);
	o->timeout_ms = (int)ms;
	o->timeout_set = true;
	return 0;
}

/* Stores --since (s true) or --limit's value v in o; 0 or EXIT_UNKNOWN
 * (after a message). */
static int set_history_opt(opts *o, bool s, const char *v)
{
	char *end;
	errno = 0;
	o->hist_opts = true;
	if (s) {
		o->since = strtod(v, &end);
		if (end == v || *end != '\0' || errno != 0 ||
		    !(o->since >= 0) || !isfinite(o->since))
			return fail_usage(
			    "bad --since \"%s\": Unix seconds >= 0", v);
		return 0;
	}
	long n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || n < 1 || n > 1000000)
		return fail_usage("bad --limit \"%s\": a count, 1..1000000", v);
	o->limit = (unsigned)n;
	return 0;
}

/* Stores a non-option argument: the command, then the NAME. */
static int set_operand(opts *o, const char *a)
{
	if (o->cmd == NULL)
		o->cmd = a;
	else if (o->name == NULL)
		o->name = a;
	else if (o->arg2 == NULL && strcmp(o->cmd, "silence") == 0)
		o->arg2 = a;
	else
		return fail_usage("unexpected argument \"%s\"", a);
	return 0;
}

/* Applies option c (a getopt_long result) with value v to o; 0 or
 * EXIT_UNKNOWN (after a message). */
static int apply_option(opts *o, int c, const char *v, char **argv)
{
	switch (c) {
	case 1:
		return set_operand(o, v);
	case 'h':
		fputs(usage, stdout);
		exit(0);
	case OPT_URL:
		o->url = v;
		return 0;
	case OPT_PUB:
		o->pub = v;
		return 0;
	case OPT_CA:
		o->tls.ca = v;
		return 0;
	case OPT_CERT:
		o->tls.cert = v;
		return 0;
	case OPT_KEY:
		o->tls.key = v;
		return 0;
	case OPT_TIMEOUT:
		return set_timeout(o, v);
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_PROM:
		o->prom = true;
		return 0;
	case OPT_CACHED:
		o->cached = true;
		return 0;
	case OPT_TAG:
		o->tag = v;
		return 0;
	case OPT_EXCLUDE:
		if (o->nexclude == MAX_EXCLUDE)
			return fail_usage("too many --exclude (%s)",
					  "at most 64");
		o->exclude[o->nexclude++] = v;
		return 0;
	case OPT_SINCE:
	case OPT_LIMIT:
		return set_history_opt(o, c == OPT_SINCE, v);
	case OPT_ALL:
		o->all = true;
		return 0;
	default:
		return bad_option(c, argv);
	}
}

/* beat NAME, silence NAME|--all DURATION, unsilence NAME|--all. */
static int check_admin(const opts *o)
{
	bool beat = strcmp(o->cmd, "beat") == 0;
	bool silence = strcmp(o->cmd, "silence") == 0;
	if (o->json || o->prom || o->cached || o->tag != NULL ||
	    o->nexclude > 0)
		return fail_usage("%s: takes no output or filter options",
				  o->cmd);
	if (beat && (o->all || o->name == NULL))
		return fail_usage("%s",
				  "beat needs the heartbeat check's NAME");
	const char *dur = o->all ? o->name : o->arg2;
	const char *extra = o->all ? o->arg2 : NULL;
	if (silence && (dur == NULL || extra != NULL))
		return fail_usage("%s", "silence needs NAME or --all, then a "
					"DURATION (e.g. 30m)");
	if (!beat && !silence && (o->all == (o->name != NULL)))
		return fail_usage("%s", "unsilence needs NAME or --all");
	return 0;
}

/* Checks that the command exists and the options fit it. */
static int check_command(const opts *o)
{
	if (o->cmd == NULL)
		return fail_usage(
		    "%s", "no command (health, metrics, watch, history, beat, "
			  "silence, unsilence, reload)");
	bool health = strcmp(o->cmd, "health") == 0;
	bool metrics = strcmp(o->cmd, "metrics") == 0;
	bool watch = strcmp(o->cmd, "watch") == 0;
	bool history = strcmp(o->cmd, "history") == 0;
	bool reload = strcmp(o->cmd, "reload") == 0;
	bool admin = strcmp(o->cmd, "beat") == 0 ||
		     strcmp(o->cmd, "silence") == 0 ||
		     strcmp(o->cmd, "unsilence") == 0;
	if (!health && !metrics && !watch && !history && !admin && !reload)
		return fail_usage("unknown command \"%s\"", o->cmd);
	if (!history && o->hist_opts)
		return fail_usage("%s", "--since and --limit are for history");
	if (admin)
		return check_admin(o);
	if (o->all)
		return fail_usage("%s", "--all is for silence and unsilence");
	if (o->json && o->prom)
		return fail_usage("%s", "--json and --prometheus exclude "
					"each other");
	if (!metrics && o->prom)
		return fail_usage("%s", "--prometheus is for metrics");
	if (!health && (o->cached || o->tag != NULL || o->nexclude > 0))
		return fail_usage(
		    "%s", "--cached, --tag and --exclude are for health");
	if (reload && (o->name != NULL || o->prom))
		return fail_usage("%s", "reload takes no NAME (only --json)");
	if (watch && (o->name != NULL || o->json))
		return fail_usage("%s", "watch takes no NAME or --json");
	if (history && o->name == NULL)
		return fail_usage("%s", "history needs a check NAME");
	return 0;
}

/* Parses argv into o with getopt_long. Options may stand before or after
 * the command ("-" first in the option string hands the operands over in
 * order, whatever POSIXLY_CORRECT says). 0 or EXIT_UNKNOWN. */
static int parse(int argc, char **argv, opts *o)
{
	o->url = "tcp://127.0.0.1:5555";
	o->pub = "tcp://127.0.0.1:5556";
	o->timeout_ms = 5000;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "-:h", long_opts, NULL)) != -1) {
		int rc = apply_option(o, c, optarg, argv);
		if (rc != 0)
			return rc;
	}
	/* After "--", the rest are operands. */
	for (int i = optind; i < argc; i++) {
		int rc = set_operand(o, argv[i]);
		if (rc != 0)
			return rc;
	}
	return check_command(o);
}

/* ---- output helpers ---------------------------------------------------- */

static bool color;

static const char *status_color(vt_status st)
{
	if (!color)
		return "";
	switch (st) {
	case VT_HEALTHY:
		return "\033[32m";
	case VT_DEGRADED:
		return "\033[33m";
	default:
		return "\033[31m";
	}
}

static const char *color_off(void)
{
	return color ? "\033[0m" : "";
}

/* Prints a number the way people read it: integers plainly, others with
 * six significant digits. */
static void num_text(char *dst, size_t cap, double v)
{
	if (isnan(v))
		snprintf(dst, cap, "-");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(dst, cap, "%.0f", v);
	else
		snprintf(dst, cap, "%.6g", v);
}

static void duration_text(char *dst, size_t cap, double ms)
{
	if (ms < 1)
		snprintf(dst, cap, "%.3f ms", ms);
	else if (ms < 1000)
		snprintf(dst, cap, "%.1f ms", ms);
	else
		snprintf(dst, cap, "%.2f s", ms / 1000);
}

static void age_text(char *dst, size_t cap, double now, double then)
{
	if (then <= 0) {
		snprintf(dst, cap, "never");
		return;
	}
	double s = now - then;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(dst, cap, "%.1f s ago", s);
	else if (s < 3600)
		snprintf(dst, cap, "%.0f min ago", s / 60);
	else
		snprintf(dst, cap, "%.1f h ago", s / 3600);
}

static void time_text(char *dst, size_t cap, double t)
{
	time_t sec = (time_t)t;
	struct tm tm;
	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(dst, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(dst, cap, "%.3f", t);
}

/* The last column of a check's row: its error, then its details. */
static void info_text(char *dst, size_t cap, const vt_component *c)
{
	size_t o = 0;
	int n;
	dst[0] = '\0';
	if (c->maintenance || c->stale) {
		n = snprintf(dst, cap, "%s%s",
			     c->maintenance ? "[maintenance] " : "",
			     c->stale ? "[stale] " : "");
		o = n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
	}
	if (c->error != NULL) {
		n = snprintf(dst + o, cap - o, "%s", c->error);
		o = n < 0 ? o
			  : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
	}
	for (size_t i = 0; i < c->ndetails && o + 1 < cap; i++) {
		const vt_detail *d = &c->details[i];
		char v[64];
		const char *val = v;
		if (d->kind == VT_DETAIL_STR)
			val = d->str;
		else if (d->kind == VT_DETAIL_BOOL)
			val = d->b ? "true" : "false";
		else
			num_text(v, sizeof(v), d->num);
		n = snprintf(dst + o, cap - o, "%s%s=%s", o > 0 ? "  " : "",
			     d->key, val);
		o = n < 0 ? o
			  : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
	}
	if (o == 0)
		snprintf(dst, cap, "-");
}

static size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* A check's 24 h uptime as a percentage; "-" without history or with
 * no result in the window. */
static void uptime_text(char *dst, size_t cap, const vt_component *c)
{
	if (!c->has_uptime || c->uptime[1] < 0)
		snprintf(dst, cap, "-");
	else
		snprintf(dst, cap, "%.2f%%", c->uptime[1] * 100);
}

static void print_health_table(const vt_health_snapshot *s)
{
	char when[64];
	time_text(when, sizeof(when), s->timestamp);
	printf("%s%s%s  (%zu check%s, %s)\n", status_color(s->status),
	       vt_status_name(s->status), color_off(), s->ncomponents,
	       s->ncomponents == 1 ? "" : "s", when);
	if (s->ncomponents == 0)
		return;
	size_t wn = strlen("CHECK"), ws = strlen("STATUS");
	size_t wd = strlen("DURATION"), wa = strlen("LAST RUN");
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		char d[32], a[32];
		duration_text(d, sizeof(d), c->duration_ms);
		age_text(a, sizeof(a), s->timestamp, c->last_check_time);
		wn = max_sz(wn, strlen(c->name));
		ws = max_sz(ws, strlen(vt_status_name(c->status)));
		wd = max_sz(wd, strlen(d));
		wa = max_sz(wa, strlen(a));
	}
	printf("\n%-*s  %-*s  %-8s  %*s  %-*s  %5s  %7s  %s\n", (int)wn,
	       "CHECK", (int)ws, "STATUS", "CRITICAL", (int)wd, "DURATION",
	       (int)wa, "LAST RUN", "FAILS", "UP 24H", "ERROR / DETAILS");
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		char d[32], a[32], up[16], info[1024];
		duration_text(d, sizeof(d), c->duration_ms);
		if (c->last_check_time <= 0)
			snprintf(d, sizeof(d), "-");
		age_text(a, sizeof(a), s->timestamp, c->last_check_time);
		info_text(info, sizeof(info), c);
		uptime_text(up, sizeof(up), c);
		printf("%-*s  %s%-*s%s  %-8s  %*s  %-*s  %5" PRIu32
		       "  %7s  %s\n",
		       (int)wn, c->name, status_color(c->status), (int)ws,
		       vt_status_name(c->status), color_off(),
		       c->critical ? "yes" : "no", (int)wd, d, (int)wa, a,
		       c->consecutive_failures, up, info);
	}
}

/* Unix time t as UTC with milliseconds: results may be closer than a
 * second apart. */
static void time_ms_text(char *dst, size_t cap, double t)
{
	time_t sec = (time_t)floor(t);
	int ms = (int)((t - floor(t)) * 1000);
	struct tm tm;
	char base[32];
	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(dst, cap, "%.3f", t);
	else
		snprintf(dst, cap, "%s.%03dZ", base, ms > 999 ? 999 : ms);
}

/* One check's history as a table, newest first. */
static void print_history_table(const char *name, const vt_history_result *rs,
				size_t n)
{
	printf("%s  (%zu result%s, newest first)\n", name, n,
	       n == 1 ? "" : "s");
	if (n == 0)
		return;
	size_t ws = strlen("STATUS"), wd = strlen("DURATION");
	for (size_t i = 0; i < n; i++) {
		char d[32];
		duration_text(d, sizeof(d), rs[i].duration_ms);
		ws = max_sz(ws, strlen(vt_status_name(rs[i].status)));
		wd = max_sz(wd, strlen(d));
	}
	printf("\n%-24s  %-*s  %*s  %s\n", "TIME", (int)ws, "STATUS", (int)wd,
	       "DURATION", "ERROR");
	for (size_t i = 0; i < n; i++) {
		char t[64], d[32];
		time_ms_text(t, sizeof(t), rs[i].time);
		duration_text(d, sizeof(d), rs[i].duration_ms);
		printf("%-24s  %s%-*s%s  %*s  %s%s\n", t,
		       status_color(rs[i].status), (int)ws,
		       vt_status_name(rs[i].status), color_off(), (int)wd, d,
		       rs[i].error != NULL ? rs[i].error : "-",
		       rs[i].maintenance ? "  (maintenance)" : "");
	}
}

/* The labels of a series as name="value",...; "-" when none. */
static void labels_text(char *dst, size_t cap, const vt_series_snap *s)
{
	size_t o = 0;
	dst[0] = '\0';
	for (size_t i = 0; i < s->nlabels && o + 1 < cap; i++) {
		int n =
		    snprintf(dst + o, cap - o, "%s%s=\"%s\"", i > 0 ? "," : "",
			     s->labels[i].name, s->labels[i].value);
		o = n < 0 ? o
			  : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
	}
	if (o == 0)
		snprintf(dst, cap, "-");
}

static void value_text(char *dst, size_t cap, const vt_family_snap *f,
		       const vt_series_snap *s)
{
	if (f->kind != VT_HISTOGRAM) {
		num_text(dst, cap, s->value);
		return;
	}
	const vt_hist_summary *h = &s->hist;
	char sum[32], mn[32], p50[32], p90[32], p99[32], mx[32];
	num_text(sum, sizeof(sum), h->sum);
	num_text(mn, sizeof(mn), h->min);
	num_text(p50, sizeof(p50), h->p50);
	num_text(p90, sizeof(p90), h->p90);
	num_text(p99, sizeof(p99), h->p99);
	num_text(mx, sizeof(mx), h->max);
	snprintf(dst, cap,
		 "count=%" PRIu64 " sum=%s min=%s p50=%s p90=%s p99=%s max=%s",
		 h->count, sum, mn, p50, p90, p99, mx);
}

static const char *kind_name(vt_metric_kind k)
{
	switch (k) {
	case VT_COUNTER:
		return "counter";
	case VT_GAUGE:
		return "gauge";
	default:
		return "histogram";
	}
}

static void print_metrics_table(const vt_metrics_snapshot *s)
{
	size_t wn = strlen("NAME"), wt = strlen("histogram");
	size_t wl = strlen("LABELS");
	char lab[2048];
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		wn = max_sz(wn, strlen(f->name));
		for (size_t j = 0; j < f->nseries; j++) {
			labels_text(lab, sizeof(lab), &f->series[j]);
			wl = max_sz(wl, strlen(lab));
		}
	}
	printf("%-*s  %-*s  %-*s  %s\n", (int)wn, "NAME", (int)wt, "TYPE",
	       (int)wl, "LABELS", "VALUE");
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		for (size_t j = 0; j < f->nseries; j++) {
			char val[512];
			labels_text(lab, sizeof(lab), &f->series[j]);
			value_text(val, sizeof(val), f, &f->series[j]);
			printf("%-*s  %-*s  %-*s  %s\n", (int)wn, f->name,
			       (int)wt, kind_name(f->kind), (int)wl, lab, val);
		}
	}
}

static int print_encoded(vt_err err, char *text, size_t len, const char *what)
{
	if (err != VT_OK) {
		fprintf(stderr, "vitalsctl: encoding %s: %s\n", what,
			vt_strerror(err));
		return EXIT_UNKNOWN;
	}
	fwrite(text, 1, len, stdout);
	if (len == 0 || text[len - 1] != '\n')
		fputc('\n', stdout);
	free(text);
	return 0;
}

/* ---- commands ---------------------------------------------------------- */

#define TLS_EINVAL " or unusable TLS files (--ca, --cert, --key)"

/* The TLS files: --ca, --cert, --key, else VITALS_CA/CERT/KEY. False
 * (said on stderr) for a tls+ url without a CA. */
static bool tls_files(const opts *o, const char *url, vt_client_tls *tls)
{
	*tls = o->tls;
	if (tls->ca == NULL)
		tls->ca = getenv("VITALS_CA");
	if (tls->cert == NULL)
		tls->cert = getenv("VITALS_CERT");
	if (tls->key == NULL)
		tls->key = getenv("VITALS_KEY");
	if (strncmp(url, "tls+", 4) == 0 && tls->ca == NULL) {
		fprintf(stderr,
			"vitalsctl: %s: TLS needs the server's CA: --ca FILE "
			"(or VITALS_CA)\n",
			url);
		return false;
	}
	return true;
}

static vt_client *connect_or_say(const opts *o)
{
	vt_client *c = NULL;
	vt_client_tls tls;
	if (!tls_files(o, o->url, &tls))
		return NULL;
	vt_err err = vt_client_connect_tls(&c, o->url, o->timeout_ms, &tls);
	if (err == VT_OK) {
		const char *token = getenv("VITALS_TOKEN");
		if (vt_client_set_token(c, token) == VT_OK)
			return c;
		vt_client_close(c);
		err = VT_ENOMEM;
	}
	if (err == VT_EINVAL)
		fprintf(stderr, "vitalsctl: invalid URL \"%s\"%s\n", o->url,
			tls.ca != NULL ? TLS_EINVAL : "");
	else if (err == VT_EUNAVAIL)
		fprintf(stderr,
			"vitalsctl: cannot connect to %s: connection refused "
			"or no such socket (is the server running?)\n",
			o->url);
	else
		fprintf(stderr, "vitalsctl: cannot connect to %s: %s\n", o->url,
			vt_strerror(err));
	return NULL;
}

/* Closes c after a call that returned err; on failure says why (the
 * server's message when there is one) and returns EXIT_UNKNOWN, else 0. */
static int call_done(vt_client *c, const char *what, vt_err err)
{
	if (err != VT_OK) {
		const char *why = vt_client_last_error(c);
		fprintf(stderr, "vitalsctl: %s: %s\n", what,
			why[0] != '\0' ? why : vt_strerror(err));
	}
	vt_client_close(c);
	return err != VT_OK ? EXIT_UNKNOWN : 0;
}

static int cmd_health(const opts *o)
{
	vt_client *c = connect_or_say(o);
	if (c == NULL)
		return EXIT_UNKNOWN;
	vt_health_filter f = {.name = o->name,
			      .tag = o->tag,
			      .exclude = o->exclude,
			      .nexclude = o->nexclude};
	vt_health_snapshot *s = NULL;
	vt_err err = vt_client_health(
	    c, &f, o->cached ? VT_RUN_CACHED : VT_RUN_FRESH, &s);
	if (call_done(c, "health", err) != 0)
		return EXIT_UNKNOWN;
	/* One named check: its own status is the answer. */
	bool one = o->name != NULL && s->ncomponents == 1;
	vt_status st = one ? s->components[0].status : s->status;
	int rc = (int)st;
	if (o->json) {
		char *text = NULL;
		size_t len = 0;
		err = one ? vt_json_component(&s->components[0], &text, &len)
			  : vt_json_health(s, &text, &len);
		if (print_encoded(err, text, len, "JSON") != 0)
			rc = EXIT_UNKNOWN;
	} else {
		print_health_table(s);
	}
	vt_client_health_free(s);
	return rc;
}

static int cmd_metrics(const opts *o)
{
	vt_client *c = connect_or_say(o);
	if (c == NULL)
		return EXIT_UNKNOWN;
	vt_metrics_filter f = {.name = o->name};
	vt_metrics_snapshot *s = NULL;
	vt_err err = vt_client_metrics(c, &f, &s);
	if (call_done(c, "metrics", err) != 0)
		return EXIT_UNKNOWN;
	int rc = 0;
	if (o->name != NULL && s->nfamilies == 0) {
		fprintf(stderr, "vitalsctl: no metric named \"%s\"\n", o->name);
		rc = EXIT_UNKNOWN;
	} else if (o->json || o->prom) {
		char *text = NULL;
		size_t len = 0;
		err = o->json ? vt_json_metrics(s, &text, &len)
			      : vt_prom_metrics(s, &text, &len);
		rc = print_encoded(err, text, len,
				   o->json ? "JSON" : "Prometheus text");
	} else {
		print_metrics_table(s);
	}
	vt_client_metrics_free(s);
	return rc;
}

/* Says why a call on c failed (the server's reason when it gave one),
 * closes c and returns the exit status. */
static int call_failed(vt_client *c, const char *what, vt_err err)
{
	const char *why = vt_client_last_error(c);
	fprintf(stderr, "vitalsctl: %s: %s\n", what,
		why[0] != '\0' ? why : vt_strerror(err));
	vt_client_close(c);
	return EXIT_UNKNOWN;
}

static int cmd_history(const opts *o)
{
	vt_client *c = connect_or_say(o);
	if (c == NULL)
		return EXIT_UNKNOWN;
	vt_history_result *rs = NULL;
	size_t n = 0;
	vt_err err = vt_client_history(c, o->name, o->since, o->limit, &rs, &n);
	if (err != VT_OK)
		return call_failed(c, "history", err);
	vt_client_close(c);
	int rc = 0;
	if (o->json) {
		char *text = NULL;
		size_t len = 0;
		err = vt_json_history(o->name, rs, n, &text, &len);
		rc = print_encoded(err, text, len, "JSON");
	} else {
		print_history_table(o->name, rs, n);
	}
	vt_client_history_free(rs);
	return rc;
}

static int watch_line(const char *msg, void *arg)
{
	(void)arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char when[64];
	time_text(when, sizeof(when), (double)ts.tv_sec);
	printf("%s %s\n", when, msg);
	fflush(stdout);
	return 0;
}

static int cmd_watch(const opts *o)
{
	vt_client_tls tls;
	if (!tls_files(o, o->pub, &tls))
		return EXIT_UNKNOWN;
	vt_err err =
	    vt_client_watch_tls(o->pub, o->timeout_set ? o->timeout_ms : -1,
				&tls, watch_line, NULL);
	if (err == VT_OK || err == VT_ETIMEDOUT)
		return 0;
	if (err == VT_EINVAL)
		fprintf(stderr, "vitalsctl: invalid URL \"%s\"%s\n", o->pub,
			tls.ca != NULL ? TLS_EINVAL : "");
	else
		fprintf(stderr, "vitalsctl: watch %s: %s\n", o->pub,
			err == VT_EUNAVAIL ? "cannot connect (is the server "
					     "running with a pub url?)"
					   : vt_strerror(err));
	return EXIT_UNKNOWN;
}

/* DURATION ("90s", "10m", "2h", "1d", "500ms", bare = seconds) in ms
 * into *out; false when malformed or over 366 days. */
static bool parse_duration(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno != 0 || !(v > 0))
		return false;
	double mult = strcmp(end, "ms") == 0		      ? 1
		      : strcmp(end, "s") == 0 || *end == '\0' ? 1e3
		      : strcmp(end, "m") == 0		      ? 60e3
		      : strcmp(end, "h") == 0		      ? 3600e3
		      : strcmp(end, "d") == 0		      ? 86400e3
							      : -1;
	if (mult < 0 || v * mult > 366 * 86400e3 || v * mult < 1)
		return false;
	*out = (int64_t)(v * mult);
	return true;
}

/* beat, silence, unsilence. */
static int cmd_admin(const opts *o)
{
	bool beat = strcmp(o->cmd, "beat") == 0;
	bool silence = strcmp(o->cmd, "silence") == 0;
	int64_t ms = 0;
	if (silence && !parse_duration(o->all ? o->name : o->arg2, &ms))
		return fail_usage("bad DURATION \"%s\": e.g. 90s, 10m, 2h, 1d",
				  o->all ? o->name : o->arg2);
	const char *name = o->all ? NULL : o->name;
	vt_client *c = connect_or_say(o);
	if (c == NULL)
		return EXIT_UNKNOWN;
	vt_err err = beat ? vt_client_beat(c, name)
			  : vt_client_silence(c, name, silence ? ms : 0);
	if (err != VT_OK)
		return call_failed(c, o->cmd, err);
	vt_client_close(c);
	if (silence)
		printf("silenced %s for %s\n",
		       name != NULL ? name : "every check",
		       o->all ? o->name : o->arg2);
	else if (!beat)
		printf("unsilenced %s\n", name != NULL ? name : "every check");
	return 0;
}

/* Prints list as a JSON array of strings. */
static void print_json_list(const char *key, char *const *list, size_t n,
			    bool last)
{
	printf("\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		putchar('"');
		for (const unsigned char *p = (const unsigned char *)list[i];
		     *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if (*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
		printf("\"%s", i + 1 < n ? "," : "");
	}
	printf("]%s", last ? "" : ",");
}

/* Prints "WHAT: a, b" when list is not empty. */
static void print_names(const char *what, char *const *list, size_t n)
{
	if (n == 0)
		return;
	printf("%s:", what);
	for (size_t i = 0; i < n; i++)
		printf(" %s%s", list[i], i + 1 < n ? "," : "");
	putchar('\n');
}

/* reload: the server applies its config file again. */
static int cmd_reload(const opts *o)
{
	vt_client *c = connect_or_say(o);
	if (c == NULL)
		return EXIT_UNKNOWN;
	vt_reload_report r;
	vt_err err = vt_client_reload(c, &r);
	if (err != VT_OK)
		return call_failed(c, "reload", err);
	vt_client_close(c);
	if (o->json) {
		putchar('{');
		print_json_list("added", r.added, r.nadded, false);
		print_json_list("removed", r.removed, r.nremoved, false);
		print_json_list("changed", r.changed, r.nchanged, false);
		print_json_list("ignored", r.ignored, r.nignored, true);
		puts("}");
	} else {
		printf("reloaded: %zu added, %zu removed, %zu changed\n",
		       r.nadded, r.nremoved, r.nchanged);
		print_names("added", r.added, r.nadded);
		print_names("removed", r.removed, r.nremoved);
		print_names("changed", r.changed, r.nchanged);
		for (size_t i = 0; i < r.nignored; i++)
			printf("ignored: %s\n", r.ignored[i]);
	}
	vt_reload_report_fini(&r);
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {0};
	int rc = parse(argc, argv, &o);
	if (rc != 0)
		return rc;
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0') &&
		!(term != NULL && strcmp(term, "dumb") == 0);
	if (strcmp(o.cmd, "health") == 0)
		return cmd_health(&o);
	if (strcmp(o.cmd, "metrics") == 0)
		return cmd_metrics(&o);
	if (strcmp(o.cmd, "history") == 0)
		return cmd_history(&o);
	if (strcmp(o.cmd, "watch") == 0)
		return cmd_watch(&o);
	if (strcmp(o.cmd, "reload") == 0)
		return cmd_reload(&o);
	return cmd_admin(&o);
}
