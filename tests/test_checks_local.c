/*
 * test_checks_local.c - the built-in checks that need no server: tcp
 * (listeners this test opens on loopback), disk (thresholds set around
 * the real free space of /tmp) and exec (the plugins in tests/plugins:
 * exit 0/1/2/3, hang, print nothing, print garbage, flood, die by a
 * signal). After every exec test no child of this process is left,
 * zombie or not, and no descriptor.
 *
 * Time bounds are generous on purpose: they separate "stopped at the
 * deadline" from "waited for the hung dependency", not milliseconds.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "vitals/checks.h"
#include "vitals/encode.h"

/* ---- helpers ---- */

static vt_health *health_new(void)
{
	vt_health *h = NULL;
	vt_health_opts ho = {.workers = 4};
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	return h;
}

/* 1 if no check named name is registered. */
static int not_registered(vt_health *h, const char *name)
{
	vt_health_filter f = {.name = name};
	vt_health_snapshot *s = NULL;
	vt_err rv = vt_health_run(h, &f, VT_RUN_CACHED, &s);
	vt_health_snapshot_free(s);
	return rv == VT_ENOENT;
}

static vt_check_opts opts_timeout(int ms)
{
	vt_check_opts o = VT_CHECK_OPTS_DEFAULT;
	o.timeout_ms = ms;
	return o;
}

/* ---- tcp ---- */

/* A listening socket on the loopback of family af; its port in *port.
 * -1 if that family is not available here. */
static int listener(int af, int backlog, int *port)
{
	int fd = socket(af, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int rc;
	if (af == AF_INET6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6,
					 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		socklen_t len = sizeof(a);
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
		     listen(fd, backlog) ||
		     getsockname(fd, (struct sockaddr *)&a, &len);
		*port = ntohs(a.sin6_port);
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr =
					    htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(a);
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
		     listen(fd, backlog) ||
		     getsockname(fd, (struct sockaddr *)&a, &len);
		*port = ntohs(a.sin_port);
	}
	if (rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A loopback port nobody listens on (bound, then released). */
static int closed_port(void)
{
	int port = 0;
	int fd = listener(AF_INET, 1, &port);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	return port;
}

static void test_tcp_open_closed(void)
{
	vt_health *h = health_new();
	int port;
	int lfd = listener(AF_INET, 16, &port);
	CU_ASSERT_FATAL(lfd >= 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	vt_tcp_opts o = {.address = addr};
	CU_ASSERT_FATAL(vt_check_tcp_add(h, "open", &o, NULL) == VT_OK);
	char addr2[64];
	snprintf(addr2, sizeof(addr2), "127.0.0.1:%d", closed_port());
	vt_tcp_opts o2 = {.address = addr2};
	CU_ASSERT_FATAL(vt_check_tcp_add(h, "closed", &o2, NULL) == VT_OK);

	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "open", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	CU_ASSERT_STRING_EQUAL(vt_test_detail_str(c, "ip"), "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(vt_test_detail_str(c, "address"), addr);
	CU_ASSERT_PTR_NOT_NULL(vt_test_detail(c, "latency_ms"));
	vt_health_snapshot_free(s);

	c = vt_test_run_one(h, "closed", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT_PTR_NOT_NULL(c->error);
	CU_ASSERT_PTR_NOT_NULL(strstr(c->error, "connection refused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(c->error, addr2));
	vt_health_snapshot_free(s);
	vt_health_free(h);
	close(lfd);
}

/* "localhost" goes through getaddrinfo; it may give ::1 first, which
 * refuses, and then 127.0.0.1, which accepts. */
static void test_tcp_name_and_ipv6(void)
{
	vt_health *h = health_new();
	int port;
	int lfd = listener(AF_INET, 16, &port);
	CU_ASSERT_FATAL(lfd >= 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	vt_tcp_opts o = {.address = addr};
	CU_ASSERT_FATAL(vt_check_tcp_add(h, "byname", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "byname", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	vt_health_snapshot_free(s);

	int port6;
	int l6 = listener(AF_INET6, 16, &port6);
	if (l6 < 0) {
		printf("(no IPv6 loopback here: IPv6 literal not tried) ");
	} else {
		snprintf(addr, sizeof(addr), "[::1]:%d", port6);
		vt_tcp_opts o6 = {.address = addr};
		CU_ASSERT_FATAL(vt_check_tcp_add(h, "v6", &o6, NULL) == VT_OK);
		c = vt_test_run_one(h, "v6", &s, NULL);
		CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
		CU_ASSERT_STRING_EQUAL(vt_test_detail_str(c, "ip"), "::1");
		vt_health_snapshot_free(s);
		close(l6);
	}
	vt_health_free(h);
	close(lfd);
}

/* A listener whose accept queue is full drops new SYNs: the connect
 * hangs, and the check gives up at its deadline. */
static void test_tcp_timeout(void)
{
	int port;
	int lfd = listener(AF_INET, 0, &port);
	CU_ASSERT_FATAL(lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fill[8];
	for (int i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM, 0);
		fcntl(fill[i], F_SETFL, O_NONBLOCK);
		connect(fill[i], (struct sockaddr *)&a, sizeof(a));
	}
	vt_health *h = health_new();
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	vt_tcp_opts o = {.address = addr};
	vt_check_opts co = opts_timeout(300);
	CU_ASSERT_FATAL(vt_check_tcp_add(h, "hang", &o, &co) == VT_OK);
	vt_health_snapshot *s;
	double ms;
	const vt_component *c = vt_test_run_one(h, "hang", &s, &ms);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(c->error, "timeout after"));
	CU_ASSERT(ms < 300 + 1000);
	vt_health_snapshot_free(s);
	double t0 = vt_test_now_ms();
	vt_health_free(h); /* waits for the callback: it kept its deadline */
	CU_ASSERT(vt_test_now_ms() - t0 < 1000);
	for (int i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
}

static void test_tcp_invalid(void)
{
	vt_health *h = health_new();
	const char *bad[] = {"",
			     "127.0.0.1",
			     "127.0.0.1:",
			     "127.0.0.1:0",
			     "127.0.0.1:70000",
			     ":80",
			     "::1:80",
			     "[::1]80",
			     "[nothost]:80",
			     "[::1]:x",
			     "host:80x",
			     NULL};
	for (int i = 0; bad[i] != NULL; i++) {
		vt_tcp_opts o = {.address = bad[i]};
		CU_ASSERT_EQUAL(vt_check_tcp_add(h, "t", &o, NULL), VT_EINVAL);
	}
	vt_tcp_opts o = {.address = NULL};
	CU_ASSERT_EQUAL(vt_check_tcp_add(h, "t", &o, NULL), VT_EINVAL);
	CU_ASSERT(not_registered(h, "t"));
	vt_health_free(h);
}

/* ---- disk ---- */

static double tmp_free_pct(void)
{
	struct statvfs sv;
	CU_ASSERT_FATAL(statvfs("/tmp", &sv) == 0 && sv.f_blocks > 0);
	return 100.0 * (double)sv.f_bavail / (double)sv.f_blocks;
}

static vt_status disk_status(double degraded, double unhealthy, char **error)
{
	vt_health *h = health_new();
	vt_disk_opts o = {.path = "/tmp",
			  .degraded_free_pct = degraded,
			  .unhealthy_free_pct = unhealthy};
	CU_ASSERT_FATAL(vt_check_disk_add(h, "disk", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "disk", &s, NULL);
	vt_status st = c->status;
	const vt_detail *p = vt_test_detail(c, "free_pct");
	CU_ASSERT(p != NULL && p->num >= 0 && p->num <= 100);
	CU_ASSERT_PTR_NOT_NULL(vt_test_detail(c, "free_bytes"));
	CU_ASSERT_PTR_NOT_NULL(vt_test_detail(c, "total_bytes"));
	if (error != NULL)
		*error = c->error != NULL ? strdup(c->error) : NULL;
	vt_health_snapshot_free(s);
	vt_health_free(h);
	return st;
}

static void test_disk_thresholds(void)
{
	double pct = tmp_free_pct();
	double above = fmin(100, pct + 5);
	/* Free space at or below the degraded threshold. */
	CU_ASSERT_EQUAL(disk_status(above, 0, NULL), VT_DEGRADED);
	/* ... and at or below the unhealthy one. */
	char *err = NULL;
	CU_ASSERT_EQUAL(disk_status(above, above, &err), VT_UNHEALTHY);
	CU_ASSERT(err != NULL && strstr(err, "/tmp") != NULL &&
		  strstr(err, "free") != NULL);
	free(err);
	/* Thresholds well below the free space. */
	if (pct > 4) {
		CU_ASSERT_EQUAL(disk_status(pct / 2, pct / 4, NULL),
				VT_HEALTHY);
	}
	/* No thresholds: healthy whatever the space. */
	CU_ASSERT_EQUAL(disk_status(0, 0, NULL), VT_HEALTHY);
}

static void test_disk_missing_and_invalid(void)
{
	vt_health *h = health_new();
	vt_disk_opts o = {.path = "/nonexistent/vitals-test-path"};
	CU_ASSERT_FATAL(vt_check_disk_add(h, "gone", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "gone", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(c->error != NULL &&
		  strstr(c->error, "/nonexistent/vitals-test-path") != NULL &&
		  strstr(c->error, "no such file") != NULL);
	vt_health_snapshot_free(s);

	vt_disk_opts bad[] = {
	    {.path = ""},
	    {.path = NULL},
	    {.path = "/", .degraded_free_pct = 150},
	    {.path = "/", .unhealthy_free_pct = -1},
	    {.path = "/", .degraded_free_pct = NAN},
	    {.path = "/", .degraded_free_pct = 5, .unhealthy_free_pct = 10},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(vt_check_disk_add(h, "d", &bad[i], NULL),
				VT_EINVAL);
	CU_ASSERT(not_registered(h, "d"));
	vt_health_free(h);
}

/* ---- exec ---- */

/* tests/plugins/name, found next to this file. */
static void plugin(const char *name, char *out, size_t cap)
{
	const char *self = __FILE__;
	const char *slash = strrchr(self, '/');
	int dir = slash != NULL ? (int)(slash - self) : 1;
	snprintf(out, cap, "%.*s/plugins/%s", dir, slash != NULL ? self : ".",
		 name);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* 1 if this process has no child left, zombie or running. */
static int no_children(void)
{
	int st;
	return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

typedef struct exec_out {
	vt_status status;
	char error[600];
	char output[1100];
	double ms;
	int has_output;
	char *json;
} exec_out;

/* Runs plugin name with args (NULL-terminated, may be NULL) and
 * timeout_ms; fills *out (json: the snapshot's JSON, free()). */
static void run_plugin(const char *name, const char *const *args,
		       int timeout_ms, exec_out *out)
{
	char path[1024];
	plugin(name, path, sizeof(path));
	const char *argv[8] = {path};
	for (int i = 0; args != NULL && args[i] != NULL && i < 6; i++)
		argv[i + 1] = args[i];
	vt_health *h = health_new();
	vt_exec_opts o = {.argv = argv};
	vt_check_opts co = opts_timeout(timeout_ms);
	CU_ASSERT_FATAL(vt_check_exec_add(h, "plugin", &o, &co) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "plugin", &s, &out->ms);
	out->status = c->status;
	snprintf(out->error, sizeof(out->error), "%s",
		 c->error != NULL ? c->error : "");
	const char *line = vt_test_detail_str(c, "output");
	out->has_output = line != NULL;
	snprintf(out->output, sizeof(out->output), "%s",
		 line != NULL ? line : "");
	size_t len;
	CU_ASSERT(vt_json_health(s, &out->json, &len) == VT_OK);
	vt_health_snapshot_free(s);
	double t0 = vt_test_now_ms();
	vt_health_free(h);
	CU_ASSERT(vt_test_now_ms() - t0 < 2000);
	CU_ASSERT(no_children());
}

static void test_exec_exit_codes(void)
{
	int fds = open_fds();
	exec_out r;
	const char *args[] = {"a", "b c", NULL};
	run_plugin("ok.sh", args, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_HEALTHY);
	CU_ASSERT_STRING_EQUAL(r.output, "OK - args: a b c| x=1");
	CU_ASSERT_STRING_EQUAL(r.error, "");
	free(r.json);

	run_plugin("warn.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_DEGRADED);
	CU_ASSERT_STRING_EQUAL(r.error, "WARNING - load 7");
	free(r.json);

	run_plugin("crit.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_UNHEALTHY);
	CU_ASSERT_STRING_EQUAL(r.error, "CRITICAL - down"); /* from stderr */
	CU_ASSERT_STRING_EQUAL(r.output, "CRITICAL - down");
	free(r.json);

	run_plugin("unknown.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(r.error, "exit status 3"));
	CU_ASSERT_STRING_EQUAL(r.output, "UNKNOWN - bad option");
	free(r.json);

	run_plugin("segv.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(r.error, "killed by signal 11"));
	free(r.json);

	run_plugin("silent.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_HEALTHY);
	CU_ASSERT(r.has_output);
	CU_ASSERT_STRING_EQUAL(r.output, "");
	free(r.json);

	CU_ASSERT_EQUAL(open_fds(), fds);
}

static void test_exec_hang_killed(void)
{
	int fds = open_fds();
	char pidfile[] = "/tmp/vitals-hang-XXXXXX";
	int tfd = mkstemp(pidfile);
	CU_ASSERT_FATAL(tfd >= 0);
	close(tfd);
	unlink(pidfile);
	const char *args[] = {pidfile, NULL};
	exec_out r;
	run_plugin("hang.sh", args, 500, &r);
	CU_ASSERT_EQUAL(r.status, VT_UNHEALTHY);
	CU_ASSERT(vt_test_starts_with(r.error, "timeout after"));
	CU_ASSERT(r.ms < 500 + 1000);
	free(r.json);

	/* The shell and its sleep were both killed. */
	long sh = 0, sleeper = 0;
	FILE *f = fopen(pidfile, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fscanf(f, "%ld %ld", &sh, &sleeper) == 2);
	fclose(f);
	unlink(pidfile);
	double end = vt_test_now_ms() + 3000;
	while (!(vt_test_process_dead(sh) && vt_test_process_dead(sleeper)) &&
	       vt_test_now_ms() < end)
		vt_test_sleep_ms(10);
	CU_ASSERT(vt_test_process_dead(sh));
	CU_ASSERT(vt_test_process_dead(sleeper));
	CU_ASSERT(no_children());
	CU_ASSERT_EQUAL(open_fds(), fds);
}

static void test_exec_output_garbage_and_flood(void)
{
	int fds = open_fds();
	exec_out r;
	run_plugin("garbage.sh", NULL, 5000, &r);
	CU_ASSERT_EQUAL(r.status, VT_HEALTHY);
	CU_ASSERT(vt_test_starts_with(r.output, "GARBAGE???[31m"));
	for (const char *p = r.output; *p != '\0'; p++)
		CU_ASSERT((unsigned char)*p >= 0x20 || *p == '\t');
	cJSON *j = cJSON_Parse(r.json); /* still valid JSON */
	CU_ASSERT_PTR_NOT_NULL(j);
	cJSON_Delete(j);
	free(r.json);

	/* 8 MB of output: read and dropped past the cap, never blocking the
	 * plugin; it exits and the run ends long before its timeout. */
	const char *big[] = {"8000000", NULL};
	run_plugin("flood.sh", big, 20000, &r);
	CU_ASSERT_EQUAL(r.status, VT_HEALTHY);
	CU_ASSERT_STRING_EQUAL(r.output, "FLOOD start");
	CU_ASSERT(r.ms < 15000);
	free(r.json);

	/* Endless output: killed at the deadline. */
	const char *forever[] = {"forever", NULL};
	run_plugin("flood.sh", forever, 500, &r);
	CU_ASSERT_EQUAL(r.status, VT_UNHEALTHY);
	if (!vt_test_starts_with(r.error, "timeout after"))
		fprintf(stderr, "endless flood: error \"%s\"\n", r.error);
	CU_ASSERT(vt_test_starts_with(r.error, "timeout after"));
	CU_ASSERT(r.ms < 500 + 1000);
	free(r.json);
	CU_ASSERT_EQUAL(open_fds(), fds);
}

/* Several plugins at once, some hanging: all killed and reaped. */
static void test_exec_parallel(void)
{
	char hang[1024], ok[1024];
	plugin("hang.sh", hang, sizeof(hang));
	plugin("ok.sh", ok, sizeof(ok));
	vt_health *h = health_new();
	vt_check_opts co = opts_timeout(400);
	for (int i = 0; i < 6; i++) {
		char name[16], file[64];
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(file, sizeof(file), "/tmp/vitals-par-%d-%d",
			 (int)getpid(), i);
		const char *argv[] = {i % 2 ? hang : ok, file, NULL};
		vt_exec_opts o = {.argv = argv};
		CU_ASSERT_FATAL(vt_check_exec_add(h, name, &o, &co) == VT_OK);
	}
	for (int round = 0; round < 2; round++) {
		vt_health_snapshot *s;
		double t0 = vt_test_now_ms();
		CU_ASSERT_FATAL(vt_health_run(h, NULL, VT_RUN_FRESH, &s) ==
				VT_OK);
		CU_ASSERT(vt_test_now_ms() - t0 < 400 + 1500);
		for (size_t i = 0; i < s->ncomponents; i++) {
			const vt_component *c = &s->components[i];
			vt_status want = i % 2 ? VT_UNHEALTHY : VT_HEALTHY;
			if (c->status != want)
				fprintf(stderr, "\n%s: %s (%s)\n", c->name,
					vt_status_name(c->status),
					c->error != NULL ? c->error : "");
			CU_ASSERT_EQUAL(c->status, want);
		}
		vt_health_snapshot_free(s);
		vt_test_sleep_ms(200); /* let late callbacks finish */
	}
	vt_health_free(h);
	CU_ASSERT(no_children());
	for (int i = 0; i < 6; i++) {
		char file[64];
		snprintf(file, sizeof(file), "/tmp/vitals-par-%d-%d",
			 (int)getpid(), i);
		unlink(file);
	}
}

static void test_exec_invalid(void)
{
	vt_health *h = health_new();
	char noexec[] = "/tmp/vitals-noexec-XXXXXX";
	int fd = mkstemp(noexec);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "#!/bin/sh\n", 10) == 10);
	close(fd);
	chmod(noexec, 0644);
	const char *a1[] = {"/nonexistent/plugin", NULL};
	const char *a2[] = {noexec, NULL};
	const char *a3[] = {"/tmp", NULL};
	const char *a4[] = {NULL};
	const char *const *bad[] = {a1, a2, a3, a4, NULL};
	for (int i = 0; i < 5; i++) {
		vt_exec_opts o = {.argv = bad[i]};
		CU_ASSERT_EQUAL(vt_check_exec_add(h, "x", &o, NULL), VT_EINVAL);
	}
	CU_ASSERT(not_registered(h, "x"));
	unlink(noexec);
	vt_health_free(h);
}

int main(void)
{
	/* A host program that ignores SIGPIPE must not change the plugins. */
	signal(SIGPIPE, SIG_IGN);
	static const vt_test tests[] = {
	    {"tcp: open port healthy, closed port unhealthy",
	     test_tcp_open_closed},
	    {"tcp: host name and IPv6 literal", test_tcp_name_and_ipv6},
	    {"tcp: hanging connect stops at the deadline", test_tcp_timeout},
	    {"tcp: bad addresses refused at registration", test_tcp_invalid},
	    {"disk: thresholds around the real free space",
	     test_disk_thresholds},
	    {"disk: missing path unhealthy, bad options refused",
	     test_disk_missing_and_invalid},
	    {"exec: exit 0/1/2/3, signal, no output", test_exec_exit_codes},
	    {"exec: hung plugin killed with its group, reaped",
	     test_exec_hang_killed},
	    {"exec: garbage and flooded output",
	     test_exec_output_garbage_and_flood},
	    {"exec: parallel plugins, some hanging", test_exec_parallel},
	    {"exec: bad argv refused at registration", test_exec_invalid},
	    {NULL, NULL},
	};
	return vt_test_main("checks_local", tests);
}
