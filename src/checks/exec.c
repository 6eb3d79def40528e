/*
 * exec.c - the exec check: a Nagios-style plugin, run without a shell.
 *
 * A run spawns argv[0] with posix_spawn() in a process group of its own,
 * stdin on /dev/null, stdout and stderr on one pipe, every other
 * descriptor closed, signal mask empty and the commonly ignored signals
 * back to their defaults. The parent reads the pipe without blocking,
 * with poll() bounded by the run's budget: the first OUTPUT_CAP bytes
 * are kept, the rest is read and dropped so the plugin never blocks on
 * a full pipe. Reading ends when the plugin (the group leader) has
 * exited and the pipe is drained, or at the deadline.
 *
 * Then the whole process group gets SIGKILL - at the deadline to stop a
 * hung plugin, after a normal exit to stop anything it left behind
 * holding the pipe - while the leader is still an unreaped zombie, so
 * its pid (the group id) cannot have been reused; then the leader is
 * reaped with waitpid(). No run leaves a zombie or a descriptor behind.
 * (If the program ignores SIGCHLD, children are reaped by the kernel;
 * the group is then not signalled and the exit status reads unknown.)
 *
 * Exit 0/1/2 -> HEALTHY/DEGRADED/UNHEALTHY; any other exit, a signal or
 * the deadline -> UNHEALTHY. The first line of the output (control
 * bytes replaced by '?') is detail "output"; for exit 1 and 2 it is also
 * the error, as Nagios shows it. Only argv[0] is shown (detail
 * "command"): arguments may hold credentials. errno becomes text in
 * vt__errno_text (core/err.h).
 *
 * Linux/glibc: pipe2(O_CLOEXEC) and posix_spawn_file_actions_addclosefrom_np
 * keep descriptors of concurrent runs (and of the rest of the program)
 * out of the plugin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks/budget.h"
#include "core/clock.h"
#include "core/err.h"
#include "vitals/checks.h"

extern char **environ;

#define OUTPUT_CAP     (64 * 1024) /* bytes of output kept */
#define LINE_MAX_BYTES 1000	   /* of the first line shown */
#define POLL_SLICE_MS  50 /* how often a run looks for the leader's exit */

typedef struct exec_check {
	/* immutable after registration */
	char **argv; /* NULL-terminated deep copy */
	int timeout_ms;
} exec_check;

static void exec_check_free(void *arg)
{
	exec_check *c = arg;
	if (c == NULL)
		return;
	for (char **a = c->argv; a != NULL && *a != NULL; a++)
		free(*a);
	free(c->argv);
	free(c);
}

/* Spawns c's plugin with stdout and stderr on a new pipe. On success
 * returns 0 with *pid and *rfd (the non-blocking read end); else the
 * errno of the failure, nothing left open. */
static int spawn(const exec_check *c, pid_t *pid, int *rfd)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return errno;
	int err = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	if ((err = posix_spawn_file_actions_init(&fa)) != 0)
		goto close_pipe;
	if ((err = posix_spawnattr_init(&at)) != 0)
		goto fini_fa;

	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	const int reset[] = {SIGPIPE, SIGCHLD, SIGHUP,	SIGINT, SIGQUIT,
			     SIGTERM, SIGALRM, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaddset(&dfl, reset[i]);
	if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						    O_RDONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, fds[1], 1)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, fds[1], 2)) != 0)
		goto fini_attr;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	if ((err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto fini_attr;
#endif
	if ((err = posix_spawnattr_setflags(
		 &at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
			  POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (err = posix_spawnattr_setpgroup(&at, 0)) != 0 ||
	    (err = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (err = posix_spawnattr_setsigdefault(&at, &dfl)) != 0)
		goto fini_attr;
	err = posix_spawn(pid, c->argv[0], &fa, &at, c->argv, environ);
	if (err == 0 && fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
		err = errno; /* cannot happen on a fresh pipe */
fini_attr:
	posix_spawnattr_destroy(&at);
fini_fa:
	posix_spawn_file_actions_destroy(&fa);
close_pipe:
	close(fds[1]);
	if (err == 0) {
		*rfd = fds[0];
		return 0;
	}
	close(fds[0]);
	return err;
}

/* What was read from the plugin. */
typedef struct output {
	char *buf; /* [OUTPUT_CAP + 1] */
	size_t len;
	size_t total;
} output;

/* Reads what the pipe has now. Returns 1 at end of file (or a read
 * error, which ends reading the same way), 0 when it would block. */
static int drain(int fd, output *o)
{
	char scratch[4096];
	for (;;) {
		char *dst = o->len < OUTPUT_CAP ? o->buf + o->len : scratch;
		size_t room =
		    o->len < OUTPUT_CAP ? OUTPUT_CAP - o->len : sizeof(scratch);
		ssize_t n = read(fd, dst, room);
		if (n > 0) {
			if (dst != scratch)
				o->len += (size_t)n;
			o->total += (size_t)n;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	}
}

/* 1 once the leader pid has exited (left unreaped: WNOWAIT), also when
 * it cannot be waited for (*reapable = false then). */
static int leader_exited(pid_t pid, bool *reapable)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	for (;;) {
		if (waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0)
			return si.si_pid == pid;
		if (errno != EINTR)
			break;
	}
	*reapable = false; /* ECHILD: reaped by the kernel (SIGCHLD ignored) */
	return 1;
}

/* Reads the plugin's output until it has exited and the pipe is
 * drained, or until deadline_ns. Returns 1 if the deadline came first. */
static int collect(pid_t pid, int fd, output *o, int64_t deadline_ns,
		   bool *reapable)
{
	bool eof = false, exited = false;
	for (;;) {
		if (!eof)
			eof = drain(fd, o) == 1;
		if (exited)
			return 0; /* drained once more after the exit */
		if (leader_exited(pid, reapable)) {
			exited = true;
			continue;
		}
		int left = vt__ms_until(deadline_ns);
		if (left <= 0)
			return 1;
		int slice = left < POLL_SLICE_MS ? left : POLL_SLICE_MS;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		/* After EOF only the exit is awaited: sleep in short steps. */
		if (poll(&p, eof ? 0 : 1,
			 eof ? (slice < 5 ? slice : 5) : slice) < 0 &&
		    errno != EINTR)
			return 1; /* cannot wait: treat as the deadline */
	}
}

/* The first line of o (without "\r\n"), control bytes as '?', cut at
 * LINE_MAX_BYTES, into line[LINE_MAX_BYTES + 1]. */
static void first_line(const output *o, char *line)
{
	size_t n = 0;
	while (n < o->len && o->buf[n] != '\n' && n < LINE_MAX_BYTES)
		n++;
	if (n == LINE_MAX_BYTES && n < o->len) {
		/* Cut short: back to where the cut UTF-8 sequence starts. */
		size_t cut = n;
		while (n > cut - 3 && ((unsigned char)o->buf[n] & 0xC0) == 0x80)
			n--;
	}
	if (n > 0 && o->buf[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)o->buf[i];
		line[i] =
		    (ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
	}
	line[n] = '\0';
}

/* Sets r's status and error from how the plugin ended. */
static void report(vt_check_result *r, const exec_check *c, bool timed_out,
		   bool reaped, int wst, const char *line)
{
	const char *sep = line[0] != '\0' ? ": " : "";
	if (timed_out) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "timeout after %d ms: %s killed%s%s",
				c->timeout_ms, c->argv[0], sep, line);
	} else if (!reaped) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "exit status unknown (SIGCHLD ignored?)");
	} else if (WIFEXITED(wst)) {
		int code = WEXITSTATUS(wst);
		vt_result_detail_num(r, "exit_code", code);
		if (code == 0)
			return;
		if (code == 1 || code == 2) {
			vt_result_status(r, code == 1 ? VT_DEGRADED
						      : VT_UNHEALTHY);
			if (line[0] != '\0')
				vt_result_error(r, "%s", line);
			else
				vt_result_error(r, "exit status %d", code);
			return;
		}
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "exit status %d%s%s", code, sep, line);
	} else if (WIFSIGNALED(wst)) {
		vt_result_detail_num(r, "signal", WTERMSIG(wst));
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "killed by signal %d%s%s", WTERMSIG(wst),
				sep, line);
	} else {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "ended with wait status %d", wst);
	}
}

static void exec_run(vt_check_result *r, void *arg)
{
	exec_check *c = arg;
	vt_result_detail_str(r, "command", c->argv[0]);
	int budget = vt__check_budget_ms(r);
	if (budget <= 0) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r,
				"timeout after %d ms: no time left to run %s",
				c->timeout_ms, c->argv[0]);
		return;
	}
	int64_t deadline = vt__deadline_ns(budget);
	output o = {.buf = malloc(OUTPUT_CAP + 1)};
	if (o.buf == NULL) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "out of memory");
		return;
	}
	pid_t pid = 0;
	int fd = -1;
	int err = spawn(c, &pid, &fd);
	if (err != 0) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "cannot run %s: %s", c->argv[0],
				vt__errno_text(err));
		free(o.buf);
		return;
	}
	bool reapable = true;
	bool timed_out = collect(pid, fd, &o, deadline, &reapable) == 1;

	/* Kill before closing the pipe: a plugin still writing would
	 * otherwise die of SIGPIPE first and look like it ended by itself. */
	int wst = 0;
	bool reaped = false;
	if (reapable) {
		/* The leader is alive or a zombie: its group id is ours. */
		kill(-pid, SIGKILL);
		pid_t w;
		while ((w = waitpid(pid, &wst, 0)) < 0 && errno == EINTR)
			;
		reaped = w == pid;
		/* Exited on its own just as the deadline came: not a timeout.
		 */
		if (timed_out && reaped &&
		    !(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL))
			timed_out = false;
	}
	close(fd);
	char line[LINE_MAX_BYTES + 1];
	first_line(&o, line);
	vt_result_detail_str(r, "output", line);
	report(r, c, timed_out, reaped, wst, line);
	free(o.buf);
}

/* Registers an exec check (see checks.h). VT_EINVAL: no argv or argv[0],
 * or argv[0] is not an existing regular file executable by this process.
 * VT_ENOMEM; the registry's errors. Nothing is registered on error.
 * Thread-safe. */
vt_err vt_check_exec_add(vt_health *h, const char *name, const vt_exec_opts *o,
			 const vt_check_opts *co)
{
	if (h == NULL || o == NULL || o->argv == NULL || o->argv[0] == NULL)
		return VT_EINVAL;
	struct stat st;
	if (stat(o->argv[0], &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(o->argv[0], X_OK) != 0)
		return VT_EINVAL;
	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = exec_check_free;

	size_t argc = 0;
	while (o->argv[argc] != NULL)
		argc++;
	exec_check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	c->timeout_ms = opts.timeout_ms;
	if ((c->argv = calloc(argc + 1, sizeof(char *))) == NULL)
		goto fail_nomem;
	for (size_t i = 0; i < argc; i++) {
		size_t n = strlen(o->argv[i]) + 1;
		if ((c->argv[i] = malloc(n)) == NULL)
			goto fail_nomem;
		memcpy(c->argv[i], o->argv[i], n);
	}
	vt_err rv = vt_health_add(h, name, exec_run, c, &opts);
	if (rv != VT_OK)
		exec_check_free(c);
	return rv;
fail_nomem:
	exec_check_free(c);
	return VT_ENOMEM;
}
