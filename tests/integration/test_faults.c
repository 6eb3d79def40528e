/*
 * test_faults.c - vitals keeps answering, on time and truthfully, while
 * its dependencies fail, and sees them recover without a restart.
 *
 * One in-process vt_server (HTTP, RPC, pub on free loopback ports) over
 * a health registry in background mode with short intervals, checking:
 *   redis          a real redis-server, SIGKILLed and restarted on its port
 *   rabbitmq       a real rabbitmq-server, SIGKILLed and restarted; the
 *                  restarted broker gets a new port (support_servers picks
 *                  one), so the check dials a fixed port of a small
 *                  in-test TCP relay that forwards to the broker's current
 *                  port and resets connections while nothing is there
 *   http_silent    an HTTP check on a port that accepts and never answers
 *   redis_silent   a redis check on that same port
 *   tcp_blackhole  a tcp check on a port whose accept queue is full (the
 *                  connect itself hangs)
 *   tcp_nohost     a tcp check on nohost.invalid:80
 *   http_nohost    an HTTP check on http://nohost.invalid/
 *   disk_missing   a disk check on a path that does not exist
 *   disk_tmp       a disk check on a directory removed and made again
 *   exec_hang      tests/plugins/hang.sh (killed at its deadline)
 *   exec_segv      tests/plugins/segv.sh (dies by SIGSEGV)
 *   exec_flood     tests/plugins/flood.sh forever (endless output)
 *   exec_cycle     a plugin written here that runs ok, hang.sh, segv.sh
 *                  or flood.sh as a mode file says, to see an exec check
 *                  fail in each way and recover
 *   flip           a non-critical callback check that flips at every run,
 *                  so the pub line is never quiet for long (see
 *                  watch_main)
 * .invalid is reserved (RFC 6761): it never resolves. glibc still asks
 * the resolver of /etc/resolv.conf, which answers NXDOMAIN at once on
 * these machines; if it did not, the check's timeout would bound the
 * run, and either outcome is accepted as long as it is UNHEALTHY, says
 * why, and comes within the deadline.
 *
 * All along, client threads hammer /health?cache=true (keep-alive raw
 * sockets), fresh /health now and then, /metrics, and RPC (cached and
 * fresh vitals.v1.Health/Check, grpc Check); a pub watcher records the
 * status changes. Asserted: no request fails; cached answers come within
 * CACHED_MAX_MS, fresh ones within the largest check timeout plus slack;
 * each fault is reported UNHEALTHY with the right error within its
 * interval + timeout (+ slack), stays so while the fault lasts, and turns
 * HEALTHY again once the dependency is back (detection and recovery times
 * are printed for docs/RELIABILITY.md); the changes reach the pub socket;
 * hung and crashed plugins leave no process and no zombie behind (every
 * plugin inherits a marker in its environment, and /proc is searched for
 * it at the end).
 */
#define _GNU_SOURCE /* strcasestr, accept4 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support_daemon.h"
#include "support_httpd.h"
#include "support_servers.h"
#include "testutil.h"
#include "vitals/checks.h"
#include "vitals/client.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

#include "support_http.h"
#include "support_net.h"
#include "support_tsan.h"
#include "support_watch.h"

#define MARK_VAR	   "VT_FAULTS_MARK"
#define RABBIT_USER	   "vitals"
#define RABBIT_PASS	   "faults-pw"
#define CACHED_MAX_MS	   1000 /* a cached answer later than this fails */
#define LARGEST_TIMEOUT_MS 1500
/* Added to every time bound: sanitizer builds on a shared 2-vCPU
 * machine are slow. The bounds separate "on time" from "waited for the
 * hang", which is what they are for. */
#define SLACK_MS     3000
#define CALL_TIMEOUT 15000
#define HTTP_THREADS 3
#define RPC_THREADS  2
#define NCHECKS	     14

/* ---- state ------------------------------------------------------------ */

static vt_metrics *metrics;
static vt_health *health;
static vt_server *server;
static int http_port;
static char rpc_url[64], pub_url[64];
static char mark[64];
static char plugins[512];	   /* tests/plugins */
static char mode_path[512];	   /* exec_cycle's mode file */
static char cycle_pidfile[512];	   /* hang.sh's pids, for exec_cycle */
static char standing_pidfile[512]; /* hang.sh's pids, for exec_hang */
static char disk_dir[256];	   /* disk_tmp's directory */
static double sched_t0;		   /* when the scheduler started */

static vt_test_server redis, rabbit;
static vt_test_httpd *silent;
static int bh_fd = -1, bh_fillers[3] = {-1, -1, -1}, bh_port;

static atomic_bool stop_load;
static atomic_uint_least64_t n_cached, n_fresh, n_rpc_cached, n_rpc_fresh,
    n_rpc_grpc, n_metrics, failures;
static atomic_uint_least64_t max_cached_us, max_fresh_us;

static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int nlogged; /* protected by log_mtx */

static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failure(const char *fmt, ...)
{
	atomic_fetch_add(&failures, 1);
	pthread_mutex_lock(&log_mtx);
	if (nlogged++ < 30) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "  FAILURE: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	pthread_mutex_unlock(&log_mtx);
}

static void note_max(atomic_uint_least64_t *max, double t0)
{
	uint64_t us = (uint64_t)((vt_test_now_ms() - t0) * 1000.0);
	uint64_t cur = atomic_load(max);
	while (us > cur && !atomic_compare_exchange_weak(max, &cur, us))
		;
}

/* ---- HTTP over one keep-alive connection (support_http.h) ------------- */

typedef vt_test_conn conn;
typedef vt_test_resp resp;

/* GET target on c (opened on port if needed); the answer in r (body
 * malloc'd). 0 on an answer, else -1 with the reason in why. The
 * connection is closed after an error and when the answer says so. */
static int http_get(conn *c, int port, const char *target, resp *r, char *why,
		    size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (c->fd < 0 && vt_test_conn_open(c, port) != 0) {
		snprintf(why, cap, "connect: %s", strerror(errno));
		return -1;
	}
	if (vt_test_conn_get(c, target, CALL_TIMEOUT, r, why, cap) != 0) {
		vt_test_conn_close(c);
		return -1;
	}
	if (vt_test_resp_closes(r))
		vt_test_conn_close(c);
	return 0;
}

static const char *json_str(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- a TCP relay for the broker --------------------------------------- */

/*
 * Listens on a fixed loopback port and relays each connection to
 * 127.0.0.1:upstream. While nothing accepts there (the broker is dead or
 * not yet back), a new connection is reset at once, as a refused
 * connect would be. One thread, poll(), at most RELAY_PAIRS connections.
 */
#define RELAY_PAIRS 32

typedef struct relay {
	int lfd, port;
	atomic_int upstream;
	atomic_bool stop;
	pthread_t th;
	int a[RELAY_PAIRS], b[RELAY_PAIRS]; /* relay thread only */
} relay;

static relay rabbit_relay;

static void close_reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Copies what fd from has to fd to; 0 when that connection is over. */
static int relay_copy(int from, int to)
{
	char buf[16384];
	ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0)
		return 0;
	for (char *p = buf; n > 0;) {
		ssize_t w = send(to, p, (size_t)n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		p += w;
		n -= w;
	}
	return 1;
}

static void *relay_main(void *arg)
{
	relay *r = arg;
	for (int i = 0; i < RELAY_PAIRS; i++)
		r->a[i] = r->b[i] = -1;
	while (!atomic_load(&r->stop)) {
		struct pollfd p[1 + 2 * RELAY_PAIRS];
		int idx[1 + 2 * RELAY_PAIRS], n = 0;
		p[n] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
		idx[n++] = -1;
		for (int i = 0; i < RELAY_PAIRS; i++) {
			if (r->a[i] < 0)
				continue;
			p[n] = (struct pollfd){.fd = r->a[i], .events = POLLIN};
			idx[n++] = i;
			p[n] = (struct pollfd){.fd = r->b[i], .events = POLLIN};
			idx[n++] = i;
		}
		if (poll(p, (nfds_t)n, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
			int u = c >= 0 ? vt_test_connect_port(
					     atomic_load(&r->upstream))
				       : -1;
			int slot = -1;
			for (int i = 0; i < RELAY_PAIRS && slot < 0; i++)
				if (r->a[i] < 0)
					slot = i;
			if (c >= 0 && (u < 0 || slot < 0)) {
				close_reset(c);
				if (u >= 0)
					close(u);
			} else if (c >= 0) {
				r->a[slot] = c;
				r->b[slot] = u;
			}
		}
		for (int k = 1; k < n; k++) {
			int i = idx[k];
			if (r->a[i] < 0 || p[k].revents == 0)
				continue;
			bool from_a = p[k].fd == r->a[i];
			if (!relay_copy(p[k].fd, from_a ? r->b[i] : r->a[i])) {
				close_reset(r->a[i]);
				close_reset(r->b[i]);
				r->a[i] = r->b[i] = -1;
			}
		}
	}
	for (int i = 0; i < RELAY_PAIRS; i++)
		if (r->a[i] >= 0) {
			close(r->a[i]);
			close(r->b[i]);
		}
	return NULL;
}

static int relay_start(relay *r, int upstream)
{
	r->lfd = vt_test_silent_listener(&r->port);
	if (r->lfd < 0)
		return -1;
	atomic_store(&r->upstream, upstream);
	atomic_store(&r->stop, false);
	return pthread_create(&r->th, NULL, relay_main, r) == 0 ? 0 : -1;
}

static void relay_stop(relay *r)
{
	if (r->lfd < 0)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	close(r->lfd);
	r->lfd = -1;
}

/* ---- processes -------------------------------------------------------- */

/* Children of this process that are zombies: their pids into out[cap];
 * returns how many. */
static int zombie_children(int *out, int cap)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		const char *rp = strrchr(buf, ')');
		char st;
		int ppid;
		if (rp != NULL && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 &&
		    ppid == (int)getpid() && st == 'Z' && n < cap)
			out[n++] = atoi(e->d_name);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* Processes (other than this one) whose environment carries the marker
 * that every plugin inherits; their pids into out[cap]. */
static int marked_processes(int *out, int cap)
{
	char want[128];
	snprintf(want, sizeof(want), MARK_VAR "=%s", mark);
	size_t wl = strlen(want) + 1; /* with its NUL */
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	static char env[131072];
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    atoi(e->d_name) == (int)getpid())
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, env, sizeof(env) - 1);
		close(fd);
		if (len <= 0)
			continue;
		env[len] = '\0';
		for (ssize_t i = 0; i + (ssize_t)wl <= len + 1;) {
			if (memcmp(env + i, want, wl) == 0) {
				if (n < cap)
					out[n] = atoi(e->d_name);
				n++;
				break;
			}
			i += (ssize_t)strlen(env + i) + 1;
		}
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* A zombie child that is still one a second later is leaked. */
static void assert_no_lasting_zombie(const char *when)
{
	int z[16], z2[16];
	int n = zombie_children(z, 16);
	if (n == 0)
		return;
	vt_test_sleep_ms(1000);
	int n2 = zombie_children(z2, 16);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < n2; k++)
			if (z[i] == z2[k]) {
				fprintf(stderr, "  %s: pid %d is a zombie\n",
					when, z[i]);
				CU_FAIL("zombie child");
			}
}

/* ---- the load --------------------------------------------------------- */

/* Checks a /health body of the whole: overall unhealthy (critical
 * dependencies are down on purpose), every component there. */
static int whole_ok(const resp *r, char *why, size_t cap)
{
	if (r->status != 503) {
		snprintf(why, cap, "status %d: %.200s", r->status, r->body);
		return 0;
	}
	cJSON *j = cJSON_ParseWithLength(r->body, r->len);
	const char *st = j != NULL ? json_str(j, "status") : NULL;
	int ok = st != NULL && strcmp(st, "unhealthy") == 0 &&
		 cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
		     j, "components")) == NCHECKS;
	if (!ok)
		snprintf(why, cap, "body: %.300s", r->body);
	cJSON_Delete(j);
	return ok;
}

static void *http_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	conn c;
	vt_test_conn_init(&c);
	char why[512];
	for (unsigned i = (unsigned)idx; !atomic_load(&stop_load); i++) {
		const char *target = i % 25 == 0 ? "/health"
				     : i % 25 == 1
					 ? "/metrics?format=prometheus"
					 : "/health?cache=true";
		double t0 = vt_test_now_ms();
		resp r;
		if (http_get(&c, http_port, target, &r, why, sizeof(why)) !=
		    0) {
			failure("GET %s: %s", target, why);
			vt_test_sleep_ms(50);
			continue;
		}
		if (i % 25 == 1) {
			if (r.status != 200 ||
			    strstr(r.body, "vitals_check_status{") == NULL)
				failure("GET %s: %d", target, r.status);
			atomic_fetch_add(&n_metrics, 1);
		} else if (!whole_ok(&r, why, sizeof(why))) {
			failure("GET %s: %s", target, why);
		} else if (i % 25 == 0) {
			note_max(&max_fresh_us, t0);
			atomic_fetch_add(&n_fresh, 1);
		} else {
			note_max(&max_cached_us, t0);
			atomic_fetch_add(&n_cached, 1);
		}
		free(r.body);
		vt_test_sleep_ms(1); /* leave the brokers' boot some CPU */
	}
	vt_test_conn_fini(&c);
	return NULL;
}

static void *rpc_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	vt_client *c = NULL;
	if (vt_client_connect(&c, rpc_url, CALL_TIMEOUT) != VT_OK) {
		failure("rpc connect");
		return NULL;
	}
	for (unsigned i = (unsigned)idx; !atomic_load(&stop_load); i++) {
		double t0 = vt_test_now_ms();
		if (i % 10 == 9) {
			int serving = 0;
			vt_err e =
			    vt_client_grpc_check(c, "disk_missing", &serving);
			if (e != VT_OK || serving != 2)
				failure("rpc grpc: %s, %d", vt_strerror(e),
					serving);
			else
				atomic_fetch_add(&n_rpc_grpc, 1);
			note_max(&max_cached_us, t0);
			vt_test_sleep_ms(1);
			continue;
		}
		bool fresh = i % 10 == 4;
		vt_health_snapshot *s = NULL;
		vt_err e = vt_client_health(
		    c, NULL, fresh ? VT_RUN_FRESH : VT_RUN_CACHED, &s);
		if (e != VT_OK) {
			failure("rpc health: %s", vt_strerror(e));
			continue;
		}
		if (s->ncomponents != NCHECKS || s->status != VT_UNHEALTHY)
			failure("rpc health: %zu components, %s",
				s->ncomponents, vt_status_name(s->status));
		vt_client_health_free(s);
		note_max(fresh ? &max_fresh_us : &max_cached_us, t0);
		atomic_fetch_add(fresh ? &n_rpc_fresh : &n_rpc_cached, 1);
		vt_test_sleep_ms(1);
	}
	vt_client_close(c);
	return NULL;
}

/* ---- pub watcher ------------------------------------------------------ */

static pthread_mutex_t pub_mtx = PTHREAD_MUTEX_INITIALIZER;
static char pub_log[16384]; /* "msg\n" lines; protected by pub_mtx */
static atomic_bool stop_watch;

static atomic_uint_least64_t pub_flips;

static int on_pub(const char *msg, void *arg)
{
	(void)arg;
	if (strncmp(msg, "flip ", 5) == 0) {
		atomic_fetch_add(&pub_flips, 1);
		return 0;
	}
	pthread_mutex_lock(&pub_mtx);
	size_t n = strlen(pub_log);
	if (n + strlen(msg) + 2 < sizeof(pub_log))
		snprintf(pub_log + n, sizeof(pub_log) - n, "%s\n", msg);
	pthread_mutex_unlock(&pub_mtx);
	return 0;
}

/* The watch ends on a quiet line (support_watch.h): the flip check
 * changes every run, so the watch does not time out while the test
 * runs; at the end flip freezes and the scheduler stops first. */
static void *watch_main(void *arg)
{
	(void)arg;
	vt_test_watch_until(pub_url, on_pub, NULL, &stop_watch);
	return NULL;
}

/* flip: healthy and unhealthy by turns, until frozen healthy. */
static atomic_bool flip_frozen;
static atomic_uint flip_runs;

static void flip_fn(vt_check_result *r, void *arg)
{
	(void)arg;
	if (!atomic_load(&flip_frozen) &&
	    atomic_fetch_add(&flip_runs, 1) % 2 == 1) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "flipped");
	}
}

/* Whether the watcher has received line, waiting up to 3 s for it: a
 * change reaches the pub socket after the cached read that shows it
 * (the listener runs on the thread that recorded it, then nng and the
 * watcher's thread carry it), so a just-seen recovery may still be on
 * its way, more so under the sanitizers. */
static bool published(const char *line)
{
	char want[256];
	snprintf(want, sizeof(want), "%s\n", line);
	double t0 = vt_test_now_ms();
	for (;;) {
		pthread_mutex_lock(&pub_mtx);
		bool found = strstr(pub_log, want) != NULL;
		pthread_mutex_unlock(&pub_mtx);
		if (found || vt_test_now_ms() - t0 > 3000)
			return found;
		vt_test_sleep_ms(20);
	}
}

/* ---- watching one component ------------------------------------------ */

static conn mon; /* the main thread's connection for /health/NAME */

typedef struct comp {
	vt_status status;
	char error[600];
	double duration_ms;
} comp;

/* The cached state of check name over HTTP on connection c. */
static void component_on(conn *c, const char *name, comp *out)
{
	char target[128], why[256];
	snprintf(target, sizeof(target), "/health/%s?cache=true", name);
	memset(out, 0, sizeof(*out));
	out->status = VT_UNHEALTHY;
	double t0 = vt_test_now_ms();
	resp r;
	int rv = http_get(c, http_port, target, &r, why, sizeof(why));
	if (rv != 0) {
		failure("GET %s: %s", target, why);
		snprintf(out->error, sizeof(out->error), "(no answer)");
		return;
	}
	note_max(&max_cached_us, t0);
	cJSON *j = cJSON_ParseWithLength(r.body, r.len);
	const char *st = j != NULL ? json_str(j, "status") : NULL;
	if (st == NULL || vt_status_parse(st, &out->status) != VT_OK ||
	    (r.status == 503) != (out->status == VT_UNHEALTHY)) {
		failure("GET %s: %d %.200s", target, r.status, r.body);
	} else {
		const char *e = json_str(j, "error");
		snprintf(out->error, sizeof(out->error), "%s", e ? e : "");
		const cJSON *d =
		    cJSON_GetObjectItemCaseSensitive(j, "duration_ms");
		out->duration_ms = cJSON_IsNumber(d) ? d->valuedouble : -1;
	}
	cJSON_Delete(j);
	free(r.body);
}

/* The same on the main thread's connection. */
static void component(const char *name, comp *out)
{
	component_on(&mon, name, out);
}

/* Reads a check over and over on a thread of its own, counting reads
 * that are not UNHEALTHY, until stopped: a dependency that stays down is
 * reported so all along. */
typedef struct sampler {
	const char *name;
	pthread_t th;
	atomic_bool stop;
	int reads, wrong; /* read after the join */
} sampler;

static void *sampler_main(void *arg)
{
	sampler *sp = arg;
	conn c;
	vt_test_conn_init(&c);
	while (!atomic_load(&sp->stop)) {
		comp st;
		component_on(&c, sp->name, &st);
		sp->reads++;
		if (st.status != VT_UNHEALTHY && sp->wrong++ < 3)
			fprintf(stderr, "  %s read %s while down\n", sp->name,
				vt_status_name(st.status));
		vt_test_sleep_ms(100);
	}
	vt_test_conn_fini(&c);
	return NULL;
}

/* Whether error names what was expected: any of the '|'-separated
 * alternatives in want (case-insensitive); want NULL or "" accepts any. */
static bool error_matches(const char *error, const char *want)
{
	if (want == NULL || want[0] == '\0')
		return true;
	char alt[256];
	snprintf(alt, sizeof(alt), "%s", want);
	for (char *s = alt, *bar; s != NULL; s = bar) {
		bar = strchr(s, '|');
		if (bar != NULL)
			*bar++ = '\0';
		if (strcasestr(error, s) != NULL)
			return true;
	}
	return false;
}

/* Polls the cache until check name reads status (and, for UNHEALTHY,
 * its error matches want); the ms it took from since, or -1 after
 * limit_ms. The last state in *last. */
static double wait_for(const char *name, vt_status status, const char *want,
		       double since, int limit_ms, comp *last)
{
	double until = vt_test_now_ms() + limit_ms;
	for (;;) {
		component(name, last);
		if (last->status == status &&
		    (status != VT_UNHEALTHY ||
		     error_matches(last->error, want)))
			return vt_test_now_ms() - since;
		if (vt_test_now_ms() > until)
			return -1;
		vt_test_sleep_ms(20);
	}
}

/* ---- the figures ------------------------------------------------------ */

typedef struct figure {
	char what[64];
	double detect_ms, recover_ms; /* -1: not measured */
	char error[200];
} figure;

static figure figs[24];
static int nfigs;

static void add_figure(const char *what, double detect, double recover,
		       const char *error)
{
	if (nfigs == 24)
		return;
	figure *f = &figs[nfigs++];
	snprintf(f->what, sizeof(f->what), "%s", what);
	f->detect_ms = detect;
	f->recover_ms = recover;
	snprintf(f->error, sizeof(f->error), "%.199s", error);
}

/* Checks that name turns UNHEALTHY with want (since: when the fault
 * began; limit: its interval + timeout, plus slack) and records it;
 * returns the figure's index. */
static int expect_down(const char *what, const char *name, const char *want,
		       double since, int limit_ms)
{
	comp c;
	double ms =
	    wait_for(name, VT_UNHEALTHY, want, since, limit_ms + SLACK_MS, &c);
	fprintf(stderr, "  %-28s unhealthy after %6.0f ms: %s\n", what, ms,
		c.error);
	if (ms < 0)
		fprintf(stderr, "  %s: last %s \"%s\", want \"%s\"\n", name,
			vt_status_name(c.status), c.error, want);
	CU_ASSERT(ms >= 0);
	add_figure(what, ms, -1, c.error);
	return nfigs - 1;
}

/* Checks that name turns HEALTHY again and records the time in figure
 * fig. */
static void expect_up(int fig, const char *name, double since, int limit_ms)
{
	comp c;
	double ms =
	    wait_for(name, VT_HEALTHY, NULL, since, limit_ms + SLACK_MS, &c);
	fprintf(stderr, "  %-28s healthy again after %6.0f ms\n", name, ms);
	if (ms < 0)
		fprintf(stderr, "  %s: last %s \"%s\"\n", name,
			vt_status_name(c.status), c.error);
	CU_ASSERT(ms >= 0);
	if (fig >= 0 && fig < nfigs)
		figs[fig].recover_ms = ms;
}

/* While a dependency stays down: every read of name for ms says
 * UNHEALTHY. */
static void hold_down(const char *name, int ms)
{
	double until = vt_test_now_ms() + ms;
	int reads = 0, wrong = 0;
	while (vt_test_now_ms() < until) {
		comp c;
		component(name, &c);
		reads++;
		if (c.status != VT_UNHEALTHY) {
			wrong++;
			fprintf(stderr, "  %s read %s while down\n", name,
				vt_status_name(c.status));
		}
		vt_test_sleep_ms(50);
	}
	CU_ASSERT(reads > 0);
	CU_ASSERT_EQUAL(wrong, 0);
}

/* ---- set-up ----------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
	CU_ASSERT_FATAL(rename(tmp, path) == 0); /* atomic for the plugin */
}

static void set_mode(const char *mode)
{
	write_text(mode_path, mode);
}

static vt_check_opts opts(int timeout_ms, int interval_ms)
{
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = timeout_ms;
	o.interval_ms = interval_ms;
	return o;
}

static void add_checks(void)
{
	char url[256];
	vt_check_opts o;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
	vt_redis_opts ro = {
	    .url = url, .connect_timeout_ms = 300, .command_timeout_ms = 300};
	o = opts(800, 200);
	CU_ASSERT_FATAL(vt_check_redis_add(health, "redis", &ro, &o) == VT_OK);

	snprintf(url, sizeof(url), "amqp://%s:%s@127.0.0.1:%d/", RABBIT_USER,
		 RABBIT_PASS, rabbit_relay.port);
	vt_rabbitmq_opts qo = {.url = url, .connect_timeout_ms = 500};
	o = opts(LARGEST_TIMEOUT_MS, 250);
	CU_ASSERT_FATAL(vt_check_rabbitmq_add(health, "rabbitmq", &qo, &o) ==
			VT_OK);

	vt_test_httpd_url(silent, "/ping", url, sizeof(url));
	vt_http_opts ho = {.url = url};
	o = opts(400, 300);
	CU_ASSERT_FATAL(vt_check_http_add(health, "http_silent", &ho, &o) ==
			VT_OK);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0",
		 vt_test_httpd_port(silent));
	ro = (vt_redis_opts){.url = url};
	CU_ASSERT_FATAL(vt_check_redis_add(health, "redis_silent", &ro, &o) ==
			VT_OK);

	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", bh_port);
	vt_tcp_opts to = {.address = addr};
	CU_ASSERT_FATAL(vt_check_tcp_add(health, "tcp_blackhole", &to, &o) ==
			VT_OK);

	o = opts(1000, 300);
	to.address = "nohost.invalid:80";
	CU_ASSERT_FATAL(vt_check_tcp_add(health, "tcp_nohost", &to, &o) ==
			VT_OK);
	ho.url = "http://nohost.invalid/";
	CU_ASSERT_FATAL(vt_check_http_add(health, "http_nohost", &ho, &o) ==
			VT_OK);

	o = opts(500, 200);
	vt_disk_opts dopt = {.path = "/nonexistent/vitals-faults"};
	CU_ASSERT_FATAL(vt_check_disk_add(health, "disk_missing", &dopt, &o) ==
			VT_OK);
	dopt.path = disk_dir;
	CU_ASSERT_FATAL(vt_check_disk_add(health, "disk_tmp", &dopt, &o) ==
			VT_OK);

	char hang[600], segv[600], flood[600], cycle[600];
	snprintf(hang, sizeof(hang), "%s/hang.sh", plugins);
	snprintf(segv, sizeof(segv), "%s/segv.sh", plugins);
	snprintf(flood, sizeof(flood), "%s/flood.sh", plugins);
	const char *ah[] = {hang, standing_pidfile, NULL};
	const char *as[] = {segv, NULL};
	const char *af[] = {flood, "forever", NULL};
	vt_exec_opts eo = {.argv = ah};
	o = opts(400, 500);
	CU_ASSERT_FATAL(vt_check_exec_add(health, "exec_hang", &eo, &o) ==
			VT_OK);
	eo.argv = as;
	CU_ASSERT_FATAL(vt_check_exec_add(health, "exec_segv", &eo, &o) ==
			VT_OK);
	o = opts(400, 2000); /* its output costs CPU: not too often */
	eo.argv = af;
	CU_ASSERT_FATAL(vt_check_exec_add(health, "exec_flood", &eo, &o) ==
			VT_OK);

	/* exec_cycle: a plugin that becomes another as the mode file says. */
	char script[4096], path[600];
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "# exec_cycle of test_faults: runs what %s says.\n"
		 "case \"$(cat '%s')\" in\n"
		 "hang) exec '%s' '%s';;\n"
		 "segv) exec '%s';;\n"
		 "flood) exec '%s' forever;;\n"
		 "esac\n"
		 "echo 'OK - cycle'\n",
		 mode_path, mode_path, hang, cycle_pidfile, segv, flood);
	vt_test_write_file("cycle.sh", script, path, sizeof(path));
	CU_ASSERT_FATAL(chmod(path, 0755) == 0);
	snprintf(cycle, sizeof(cycle), "%s", path);
	const char *ac[] = {cycle, NULL};
	eo.argv = ac;
	o = opts(500, 200);
	CU_ASSERT_FATAL(vt_check_exec_add(health, "exec_cycle", &eo, &o) ==
			VT_OK);

	o = opts(1000, 250);
	o.critical = false;
	CU_ASSERT_FATAL(vt_health_add(health, "flip", flip_fn, NULL, &o) ==
			VT_OK);
}

static void start_server(void)
{
	char http[64], err[256];
	for (int tries = 0; tries < 5 && server == NULL; tries++) {
		http_port = vt_test_free_port();
		int rpc = vt_test_free_port(), pub = vt_test_free_port();
		if (rpc == pub || rpc == http_port || pub == http_port)
			continue;
		snprintf(http, sizeof(http), "127.0.0.1:%d", http_port);
		snprintf(rpc_url, sizeof(rpc_url), "tcp://127.0.0.1:%d", rpc);
		snprintf(pub_url, sizeof(pub_url), "tcp://127.0.0.1:%d", pub);
		vt_server_opts so = {.health = health,
				     .metrics = metrics,
				     .http_addr = http,
				     .rpc_url = rpc_url,
				     .pub_url = pub_url};
		if (vt_server_start(&server, &so, err, sizeof(err)) != VT_OK) {
			fprintf(stderr, "vt_server_start: %s\n", err);
			server = NULL;
		}
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(server);
}

/* ---- the test --------------------------------------------------------- */

/* Boots rabbitmq-server again on a thread of its own (it takes 10-60 s
 * on a busy machine; the other faults are tested meanwhile). Once more
 * if the first boot fails. Only this thread calls support_servers while
 * it runs. */
typedef struct reboot {
	pthread_t th;
	int rc;
	double secs;
} reboot;

static void *reboot_main(void *arg)
{
	reboot *rb = arg;
	double t0 = vt_test_now_ms();
	rb->rc = vt_test_rabbitmq_start(&rabbit, RABBIT_USER, RABBIT_PASS);
	if (rb->rc != 0) {
		fprintf(stderr, "  rabbitmq-server did not come back; once "
				"more\n");
		rb->rc =
		    vt_test_rabbitmq_start(&rabbit, RABBIT_USER, RABBIT_PASS);
	}
	rb->secs = (vt_test_now_ms() - t0) / 1e3;
	return NULL;
}

/* Reads the two pids hang.sh wrote to file; 1 if both are dead (within
 * 3 s). */
static int hang_pids_dead(const char *file)
{
	long sh = 0, sleeper = 0;
	FILE *f = fopen(file, "r");
	if (f == NULL) {
		fprintf(stderr, "  %s: %s\n", file, strerror(errno));
		return 0;
	}
	int got = fscanf(f, "%ld %ld", &sh, &sleeper);
	fclose(f);
	if (got != 2)
		return 0;
	double until = vt_test_now_ms() + 3000;
	while (!(vt_test_process_dead(sh) && vt_test_process_dead(sleeper)) &&
	       vt_test_now_ms() < until)
		vt_test_sleep_ms(20);
	return vt_test_process_dead(sh) && vt_test_process_dead(sleeper);
}

static void test_faults(void)
{
	double t_begin = vt_test_now_ms();
	/* The dependencies. */
	CU_ASSERT_FATAL(vt_test_redis_start(&redis, 0, NULL) == 0);
	double t0 = vt_test_now_ms();
	CU_ASSERT_FATAL(
	    vt_test_rabbitmq_start(&rabbit, RABBIT_USER, RABBIT_PASS) == 0);
	double rabbit_boot = (vt_test_now_ms() - t0) / 1e3;
	CU_ASSERT_FATAL(relay_start(&rabbit_relay, rabbit.port) == 0);
	silent = vt_test_httpd_start_silent();
	CU_ASSERT_PTR_NOT_NULL_FATAL(silent);
	bh_fd = vt_test_blackhole_listener(&bh_port, bh_fillers);
	CU_ASSERT_FATAL(bh_fd >= 0);
	snprintf(disk_dir, sizeof(disk_dir), "%s/disk", vt_test_tmpdir());
	CU_ASSERT_FATAL(mkdir(disk_dir, 0755) == 0);
	snprintf(mode_path, sizeof(mode_path), "%s/mode", vt_test_tmpdir());
	snprintf(cycle_pidfile, sizeof(cycle_pidfile), "%s/cycle.pids",
		 vt_test_tmpdir());
	snprintf(standing_pidfile, sizeof(standing_pidfile), "%s/hang.pids",
		 vt_test_tmpdir());
	set_mode("ok");

	/* vitals. */
	CU_ASSERT_FATAL(vt_metrics_alloc(&metrics) == VT_OK);
	vt_health_opts hopt = {.workers = 16, .metrics = metrics};
	CU_ASSERT_FATAL(vt_health_alloc(&health, &hopt) == VT_OK);
	add_checks();
	start_server();
	vt_test_conn_init(&mon);
	pthread_t watch, ht[HTTP_THREADS], rt[RPC_THREADS];
	CU_ASSERT_FATAL(pthread_create(&watch, NULL, watch_main, NULL) == 0);
	sched_t0 = vt_test_now_ms();
	CU_ASSERT_FATAL(vt_health_start(health) == VT_OK);
	for (intptr_t i = 0; i < HTTP_THREADS; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&ht[i], NULL, http_main, (void *)i) == 0);
	for (intptr_t i = 0; i < RPC_THREADS; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&rt[i], NULL, rpc_main, (void *)i) == 0);

	/* Standing faults: each reported from its first runs on. */
	fprintf(stderr, "\n  -- standing faults (times from the scheduler's "
			"start) --\n");
	static const struct standing {
		const char *what, *name, *want;
		int limit_ms; /* interval + timeout */
	} standing[] = {
	    {"silent port, http check", "http_silent", "timeout after 400 ms",
	     300 + 400},
	    {"silent port, redis check", "redis_silent", "timeout|timed out",
	     300 + 400},
	    {"full accept queue, tcp", "tcp_blackhole", "timeout after 400 ms",
	     300 + 400},
	    {"nohost.invalid, tcp check", "tcp_nohost",
	     "cannot resolve nohost.invalid|timeout after", 300 + 1000},
	    {"nohost.invalid, http check", "http_nohost",
	     "cannot resolve|timeout after", 300 + 1000},
	    {"disk path missing", "disk_missing", "no such file or directory",
	     200 + 500},
	    {"exec plugin hangs", "exec_hang", "timeout after 400 ms",
	     500 + 400},
	    {"exec plugin SIGSEGV", "exec_segv", "killed by signal 11",
	     500 + 400},
	    {"exec plugin floods", "exec_flood", "timeout after 400 ms",
	     2000 + 400},
	};
	enum { NSTANDING = sizeof(standing) / sizeof(standing[0]) };
	/* All polled in turn, so each time is that of its first result. */
	double seen[NSTANDING];
	comp last[NSTANDING];
	int pending = NSTANDING;
	for (int i = 0; i < NSTANDING; i++)
		seen[i] = -1;
	double until = sched_t0 + 2400 + SLACK_MS;
	while (pending > 0 && vt_test_now_ms() < until) {
		for (int i = 0; i < NSTANDING; i++) {
			if (seen[i] >= 0)
				continue;
			component(standing[i].name, &last[i]);
			if (last[i].status == VT_UNHEALTHY &&
			    error_matches(last[i].error, standing[i].want)) {
				seen[i] = vt_test_now_ms() - sched_t0;
				pending--;
			}
		}
		vt_test_sleep_ms(10);
	}
	for (int i = 0; i < NSTANDING; i++) {
		fprintf(stderr, "  %-28s unhealthy after %6.0f ms: %s\n",
			standing[i].what, seen[i], last[i].error);
		if (seen[i] < 0)
			fprintf(stderr, "  %s: %s \"%s\", want \"%s\"\n",
				standing[i].name,
				vt_status_name(last[i].status), last[i].error,
				standing[i].want);
		CU_ASSERT(seen[i] >= 0 &&
			  seen[i] <= standing[i].limit_ms + SLACK_MS);
		add_figure(standing[i].what, seen[i], -1, last[i].error);
	}
	/* Name lookups fail fast here, and never outlast the timeout. */
	comp c;
	component("tcp_nohost", &c);
	fprintf(stderr, "  nohost.invalid lookup: run took %.1f ms\n",
		c.duration_ms);
	CU_ASSERT(c.duration_ms >= 0 && c.duration_ms <= 1000 + 50);
	/* The healthy ones are healthy. */
	comp h;
	const char *healthy[] = {"redis", "rabbitmq", "disk_tmp", "exec_cycle"};
	for (int i = 0; i < 4; i++) {
		double ms = wait_for(healthy[i], VT_HEALTHY, NULL, sched_t0,
				     LARGEST_TIMEOUT_MS + SLACK_MS, &h);
		if (ms < 0)
			fprintf(stderr, "  %s: %s %s\n", healthy[i],
				vt_status_name(h.status), h.error);
		CU_ASSERT_FATAL(ms >= 0);
	}

	/* redis: SIGKILL, detected; restarted on its port, healthy again. */
	fprintf(stderr, "  -- redis-server killed and restarted --\n");
	t0 = vt_test_now_ms();
	vt_test_srv_kill(&redis);
	int fig = expect_down("redis-server SIGKILL", "redis", "127.0.0.1", t0,
			      220 + 800);
	hold_down("redis", 1000);
	CU_ASSERT_FATAL(vt_test_redis_start(&redis, redis.port, NULL) == 0);
	expect_up(fig, "redis", vt_test_now_ms(), 220 + 800);
	CU_ASSERT(published("redis healthy unhealthy"));

	/* rabbitmq: SIGKILL; the broker boots again (on a new port, behind
	 * the relay's fixed one) while the next faults are tested, and is
	 * reported down all that time; then healthy again. */
	fprintf(stderr, "  -- rabbitmq-server killed (restarted below) --\n");
	t0 = vt_test_now_ms();
	vt_test_srv_kill(&rabbit);
	int rabbit_fig = expect_down("rabbitmq-server SIGKILL", "rabbitmq", "",
				     t0, 275 + LARGEST_TIMEOUT_MS);
	static reboot rb;
	static sampler rs = {.name = "rabbitmq"};
	CU_ASSERT_FATAL(pthread_create(&rs.th, NULL, sampler_main, &rs) == 0);
	CU_ASSERT_FATAL(pthread_create(&rb.th, NULL, reboot_main, &rb) == 0);

	/* disk: the directory goes away and comes back. */
	fprintf(stderr, "  -- disk path removed and made again --\n");
	t0 = vt_test_now_ms();
	CU_ASSERT_FATAL(rmdir(disk_dir) == 0);
	fig = expect_down("disk path removed", "disk_tmp",
			  "no such file or directory", t0, 220 + 500);
	hold_down("disk_tmp", 500);
	CU_ASSERT_FATAL(mkdir(disk_dir, 0755) == 0);
	expect_up(fig, "disk_tmp", vt_test_now_ms(), 220 + 500);

	/* exec: the plugin hangs, crashes, floods, and recovers each time. */
	fprintf(stderr, "  -- exec plugin: hang, crash, flood --\n");
	static const struct {
		const char *mode, *what, *want;
	} cyc[] = {
	    {"hang", "exec plugin starts hanging", "timeout after 500 ms"},
	    {"segv", "exec plugin starts crashing", "killed by signal 11"},
	    {"flood", "exec plugin starts flooding", "timeout after 500 ms"},
	};
	for (int i = 0; i < 3; i++) {
		t0 = vt_test_now_ms();
		set_mode(cyc[i].mode);
		fig = expect_down(cyc[i].what, "exec_cycle", cyc[i].want, t0,
				  220 + 500);
		hold_down("exec_cycle", 500);
		set_mode("ok");
		expect_up(fig, "exec_cycle", vt_test_now_ms(), 220 + 500);
		if (strcmp(cyc[i].mode, "hang") == 0)
			CU_ASSERT(hang_pids_dead(cycle_pidfile));
		assert_no_lasting_zombie(cyc[i].mode);
	}
	/* The broker is back: the relay turns to its new port. */
	pthread_join(rb.th, NULL);
	double rabbit_reboot = rb.secs;
	CU_ASSERT_FATAL(rb.rc == 0);
	atomic_store(&rs.stop, true);
	pthread_join(rs.th, NULL);
	fprintf(stderr,
		"  rabbitmq read %d times while down, %d not "
		"unhealthy\n",
		rs.reads, rs.wrong);
	CU_ASSERT(rs.reads > 0);
	CU_ASSERT_EQUAL(rs.wrong, 0);
	atomic_store(&rabbit_relay.upstream, rabbit.port);
	expect_up(rabbit_fig, "rabbitmq", vt_test_now_ms(),
		  275 + LARGEST_TIMEOUT_MS);
	CU_ASSERT(published("rabbitmq healthy unhealthy"));

	CU_ASSERT(published("exec_cycle healthy unhealthy"));
	CU_ASSERT(published("exec_cycle unhealthy healthy"));
	CU_ASSERT(published("disk_tmp unhealthy healthy"));
	CU_ASSERT(published("redis unhealthy healthy"));
	CU_ASSERT(published("rabbitmq unhealthy healthy"));

	/* The standing faults are still reported, with their errors. */
	for (int i = 0; i < NSTANDING; i++) {
		component(standing[i].name, &c);
		CU_ASSERT_EQUAL(c.status, VT_UNHEALTHY);
		if (!error_matches(c.error, standing[i].want))
			fprintf(stderr, "  %s now: \"%s\"\n", standing[i].name,
				c.error);
		CU_ASSERT(error_matches(c.error, standing[i].want));
	}

	/* The load ends; the figures. */
	atomic_store(&stop_load, true);
	for (int i = 0; i < HTTP_THREADS; i++)
		pthread_join(ht[i], NULL);
	for (int i = 0; i < RPC_THREADS; i++)
		pthread_join(rt[i], NULL);
	double secs = (vt_test_now_ms() - sched_t0) / 1e3;
	fprintf(stderr,
		"\n  under faults for %.1f s (rabbitmq-server boot %.1f s, "
		"reboot %.1f s):\n"
		"  http: %llu cached /health, %llu fresh /health, %llu "
		"/metrics; rpc: %llu cached, %llu fresh, %llu grpc; "
		"failures %llu; %llu status changes of flip published\n"
		"  slowest cached answer %.1f ms (limit %d), slowest fresh "
		"%.1f ms (limit %d)\n",
		secs, rabbit_boot, rabbit_reboot,
		(unsigned long long)atomic_load(&n_cached),
		(unsigned long long)atomic_load(&n_fresh),
		(unsigned long long)atomic_load(&n_metrics),
		(unsigned long long)atomic_load(&n_rpc_cached),
		(unsigned long long)atomic_load(&n_rpc_fresh),
		(unsigned long long)atomic_load(&n_rpc_grpc),
		(unsigned long long)atomic_load(&failures),
		(unsigned long long)atomic_load(&pub_flips),
		(double)atomic_load(&max_cached_us) / 1e3, CACHED_MAX_MS,
		(double)atomic_load(&max_fresh_us) / 1e3,
		LARGEST_TIMEOUT_MS + SLACK_MS);
	fprintf(stderr, "\n  %-30s %10s %10s  %s\n", "fault", "detect ms",
		"recover ms", "error reported");
	for (int i = 0; i < nfigs; i++) {
		char rec[32];
		if (figs[i].recover_ms >= 0)
			snprintf(rec, sizeof(rec), "%.0f", figs[i].recover_ms);
		else
			snprintf(rec, sizeof(rec), "-");
		fprintf(stderr, "  %-30s %10.0f %10s  %s\n", figs[i].what,
			figs[i].detect_ms, rec, figs[i].error);
	}
	CU_ASSERT_EQUAL(atomic_load(&failures), 0);
	CU_ASSERT(atomic_load(&n_cached) > 0 && atomic_load(&n_fresh) > 0 &&
		  atomic_load(&n_rpc_cached) > 0 &&
		  atomic_load(&n_rpc_fresh) > 0);
	CU_ASSERT(atomic_load(&max_cached_us) < CACHED_MAX_MS * 1000ULL);
	CU_ASSERT(atomic_load(&max_fresh_us) <
		  (LARGEST_TIMEOUT_MS + SLACK_MS) * 1000ULL);

	/* Background runs stop; the runs in flight end by their deadlines
	 * and leave no plugin process, no zombie. */
	atomic_store(&flip_frozen, true);
	vt_health_stop(health);
	until = vt_test_now_ms() + 5000;
	int pids[16], nmarked;
	while ((nmarked = marked_processes(pids, 16)) > 0 &&
	       vt_test_now_ms() < until)
		vt_test_sleep_ms(50);
	for (int i = 0; i < nmarked && i < 16; i++)
		fprintf(stderr, "  plugin process %d still there\n", pids[i]);
	CU_ASSERT_EQUAL(nmarked, 0);
	CU_ASSERT(hang_pids_dead(standing_pidfile));
	/* A plugin killed at its deadline is a zombie until its worker's
	 * waitpid, a moment later: only one that stays is a leak. */
	int z[16], nz;
	until = vt_test_now_ms() + 5000;
	while ((nz = zombie_children(z, 16)) > 0 && vt_test_now_ms() < until)
		vt_test_sleep_ms(50);
	for (int i = 0; i < nz && i < 16; i++)
		fprintf(stderr, "  zombie child %d\n", z[i]);
	CU_ASSERT_EQUAL(nz, 0);

	atomic_store(&stop_watch, true);
	pthread_join(watch, NULL);
	vt_test_conn_fini(&mon);
	vt_server_free(server);
	vt_health_free(health);
	vt_metrics_free(metrics);
	relay_stop(&rabbit_relay);
	vt_test_httpd_stop(silent);
	close(bh_fd);
	for (int i = 0; i < 3; i++)
		if (bh_fillers[i] >= 0)
			close(bh_fillers[i]);
	vt_test_srv_stop(&redis);
	vt_test_srv_stop(&rabbit);
	/* Nothing is left: no child of any kind, zombie or running. */
	int st;
	pid_t left = waitpid(-1, &st, WNOHANG);
	if (left != -1)
		fprintf(stderr, "  child %d left\n", (int)left);
	CU_ASSERT(left == -1 && errno == ECHILD);
	fprintf(stderr, "  whole test: %.1f s\n",
		(vt_test_now_ms() - t_begin) / 1e3);
}

int main(void)
{
	/* Before any thread: every plugin inherits this, so /proc can tell
	 * whether one outlived its run. */
	snprintf(mark, sizeof(mark), "%d-%ld", (int)getpid(), (long)time(NULL));
	setenv(MARK_VAR, mark, 1);
	/* tests/plugins, next to this file's directory. */
	snprintf(plugins, sizeof(plugins), "%s", __FILE__);
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(plugins, '/');
		if (slash != NULL)
			*slash = '\0';
	}
	strncat(plugins, "/plugins", sizeof(plugins) - strlen(plugins) - 1);
	static const vt_test tests[] = {
	    {"dependencies fail and recover under load", test_faults},
	    {NULL, NULL},
	};
	int rc = vt_test_main("faults", tests);
	vt_test_srv_stop(&redis);
	vt_test_srv_stop(&rabbit);
	return rc;
}
