/*
 * support_daemon.c - child processes for integration tests (see
 * support_daemon.h).
 *
 * Spawned children are kept in a small table; an atexit handler kills
 * (SIGKILL, to the child's process group, which it leads) and reaps
 * every one not reaped yet, then removes the temporary directory. A
 * child asks the kernel to be killed when the test program dies
 * (PR_SET_PDEATHSIG), so a test killed by a ctest timeout leaves
 * nothing behind either. Between fork and exec the child makes only
 * async-signal-safe calls: the test program may have threads.
 */
#include "support_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_CHILDREN 64

static pid_t children[MAX_CHILDREN];
static char tmpdir[64];
static int cleanup_registered;

static void cleanup(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] <= 0)
			continue;
		kill(-children[i], SIGKILL);
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
		children[i] = 0;
	}
	if (tmpdir[0] != '\0') {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
		tmpdir[0] = '\0';
	}
}

static void register_cleanup(void)
{
	if (!cleanup_registered) {
		atexit(cleanup);
		cleanup_registered = 1;
	}
}

const char *vt_test_build_path(const char *rel, char *out, size_t cap)
{
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	/* BUILD/tests/prog -> BUILD */
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return NULL;
		*slash = '\0';
	}
	int k = snprintf(out, cap, "%s/%s", exe, rel);
	return k > 0 && (size_t)k < cap ? out : NULL;
}

const char *vt_test_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		register_cleanup();
		char t[] = "/tmp/vt-itest-XXXXXX";
		if (mkdtemp(t) == NULL)
			return "/tmp";
		snprintf(tmpdir, sizeof(tmpdir), "%s", t);
	}
	return tmpdir;
}

const char *vt_test_write_file(const char *name, const char *text, char *out,
			       size_t cap)
{
	snprintf(out, cap, "%s/%s", vt_test_tmpdir(), name);
	FILE *f = fopen(out, "w");
	if (f == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	return out;
}

pid_t vt_test_spawn(char *const argv[], const char *log_path)
{
	register_cleanup();
	int slot = 0;
	while (slot < MAX_CHILDREN && children[slot] > 0)
		slot++;
	if (slot == MAX_CHILDREN)
		return -1;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int in = open("/dev/null", O_RDONLY);
		int out = open(log_path != NULL ? log_path : "/dev/null",
			       O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	children[slot] = pid;
	return pid;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int vt_test_wait_exit(pid_t pid, int timeout_ms)
{
	double end = vt_test_now_ms() + timeout_ms;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			forget(pid);
			return decode_status(st);
		}
		if (r < 0) {
			forget(pid);
			return -1;
		}
		if (vt_test_now_ms() >= end)
			return -1;
		vt_test_sleep_ms(10);
	}
}

int vt_test_stop(pid_t pid)
{
	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	int rc = vt_test_wait_exit(pid, 10000);
	if (rc == -1) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		forget(pid);
	}
	return rc;
}

int vt_test_sh(const char *cmd, char **out)
{
	if (out != NULL)
		*out = NULL;
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		size_t k = fread(buf + n, 1, cap - n - 1, p);
		n += k;
		if (k == 0)
			break;
		if (n + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[n] = '\0';
	int st = pclose(p);
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return st < 0 ? -1 : decode_status(st);
}

/* n distinct free ports into ports[]; 0 on failure. */
static int free_ports(int ports[], int n)
{
	for (int i = 0, tries = 0; i < n; tries++) {
		int p = vt_test_free_port();
		if (p < 0 || tries > 100)
			return 0;
		int dup = 0;
		for (int j = 0; j < i; j++)
			dup |= ports[j] == p;
		if (!dup)
			ports[i++] = p;
	}
	return 1;
}

char *vt_test_daemon_log(const vt_test_daemon *d)
{
	char *s = vt_test_read_file(d->log, NULL);
	if (s == NULL) {
		s = malloc(1);
		if (s != NULL)
			s[0] = '\0';
	}
	return s;
}

int vt_test_daemon_start(vt_test_daemon *d, const char *name, const char *top,
			 const char *checks, int http_by_flag)
{
	memset(d, 0, sizeof(*d));
	char exe[1024];
	if (vt_test_build_path("vitalsd", exe, sizeof(exe)) == NULL ||
	    access(exe, X_OK) != 0) {
		fprintf(stderr, "vitalsd not found next to the tests\n");
		return 0;
	}
	int ports[4];
	if (!free_ports(ports, 4))
		return 0;
	d->http_port = ports[0];
	d->file_http_port = http_by_flag ? ports[3] : 0;
	snprintf(d->http, sizeof(d->http), "127.0.0.1:%d", ports[0]);
	snprintf(d->rpc, sizeof(d->rpc), "tcp://127.0.0.1:%d", ports[1]);
	snprintf(d->pub, sizeof(d->pub), "tcp://127.0.0.1:%d", ports[2]);

	size_t cap = strlen(top) + strlen(checks) + 512;
	char *text = malloc(cap);
	if (text == NULL)
		return 0;
	snprintf(text, cap,
		 "{\"http\": \"127.0.0.1:%d\", \"rpc\": \"%s\", \"pub\": "
		 "\"%s\",\n %s\n \"checks\": [%s]}\n",
		 http_by_flag ? ports[3] : ports[0], d->rpc, d->pub, top,
		 checks);
	char file[128];
	snprintf(file, sizeof(file), "%s.json", name);
	const char *ok =
	    vt_test_write_file(file, text, d->config, sizeof(d->config));
	free(text);
	if (ok == NULL)
		return 0;
	snprintf(d->log, sizeof(d->log), "%s/%s.log", vt_test_tmpdir(), name);

	char *argv[] = {exe, "--config", d->config, "--http", d->http, NULL};
	if (!http_by_flag)
		argv[3] = NULL;
	d->pid = vt_test_spawn(argv, d->log);
	if (d->pid < 0)
		return 0;
	double end = vt_test_now_ms() + 20000;
	int up = 0;
	while (!up && vt_test_now_ms() < end) {
		up = vt_test_wait_port(ports[0], 100) &&
		     vt_test_wait_port(ports[1], 100);
		if (!up && waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			forget(d->pid);
			d->pid = 0;
			break;
		}
	}
	if (!up) {
		char *log = vt_test_daemon_log(d);
		fprintf(stderr, "\nvitalsd did not come up; its log:\n%s\n",
			log != NULL ? log : "");
		free(log);
		vt_test_stop(d->pid);
		d->pid = 0;
	}
	return up;
}
