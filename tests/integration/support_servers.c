/*
 * support_servers.c - starting and stopping real redis-server and
 * rabbitmq-server processes for integration tests (see
 * support_servers.h for the guarantees).
 *
 * A server is fork+exec'd into a session of its own (so its process
 * group is its pid) with stdout/stderr in DIR/out.log and the marker
 * VT_TEST_SERVER_TAG=<tag> in its environment. Its reaper is
 * `sh -c SCRIPT reaper PGID TAG DIR` reading a pipe whose write end only
 * this program holds; EOF (stop, exit or death of this program) makes it
 * SIGKILL the group, then every process whose environment carries the
 * tag (epmd, erl_child_setup, inet_gethost of RabbitMQ leave the group),
 * and remove DIR unless DIR/.keep exists (a kill meant for a restart).
 *
 * RabbitMQ runs as user rabbitmq (the Debian wrapper does the same via
 * su, which would put the broker in a session we cannot signal): its
 * own temporary directory owned by that user, node name, AMQP port
 * (loopback only), distribution port and epmd port (ERL_EPMD_PORT, so
 * its epmd is its own and dies with it), no plugins, and a config file
 * that sets the default user.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include "support_servers.h"

#include "support_net.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

extern char **environ;

#define RABBIT_SCRIPT  "/usr/lib/rabbitmq/bin/rabbitmq-server"
#define RABBIT_WRAPPER "/usr/sbin/rabbitmq-server"
#define RABBIT_HOME    "/var/lib/rabbitmq"
#define TAG_VAR	       "VT_TEST_SERVER_TAG"

static const char reaper_script[] =
    "read _x\n"
    "kill -KILL -\"$1\" 2>/dev/null\n"
    "i=0\n"
    "while [ $i -lt 100 ]; do\n"
    "  p=$(grep -lzx \"" TAG_VAR "=$2\" /proc/[0-9]*/environ 2>/dev/null"
    " | cut -d/ -f3)\n"
    "  [ -z \"$p\" ] && break\n"
    "  kill -KILL $p 2>/dev/null\n"
    "  sleep 0.05\n"
    "  i=$((i + 1))\n"
    "done\n"
    "case \"$3\" in /tmp/vt-*) [ -e \"$3/.keep\" ] || rm -rf \"$3\";; esac\n";

/* ---- what atexit cleans up ---- */

#define SLOTS 32

static struct slot {
	bool used;
	pid_t pid, reaper;
	int fd;
} slots[SLOTS];

static char dirs[SLOTS][128];
static bool atexit_set;

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void reap(pid_t pid)
{
	if (pid <= 0)
		return;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void cleanup_all(void)
{
	for (int i = 0; i < SLOTS; i++) {
		if (!slots[i].used)
			continue;
		kill(-slots[i].pid, SIGKILL);
		close(slots[i].fd);
		reap(slots[i].reaper);
		reap(slots[i].pid);
		slots[i].used = false;
	}
	for (int i = 0; i < SLOTS; i++) {
		rm_tree(dirs[i]);
		dirs[i][0] = '\0';
	}
}

static void ensure_atexit(void)
{
	if (!atexit_set) {
		atexit(cleanup_all);
		atexit_set = true;
	}
}

static void dir_register(const char *dir)
{
	for (int i = 0; i < SLOTS; i++)
		if (strcmp(dirs[i], dir) == 0)
			return;
	for (int i = 0; i < SLOTS; i++)
		if (dirs[i][0] == '\0') {
			snprintf(dirs[i], sizeof(dirs[i]), "%s", dir);
			return;
		}
}

static void dir_unregister(const char *dir)
{
	for (int i = 0; i < SLOTS; i++)
		if (strcmp(dirs[i], dir) == 0)
			dirs[i][0] = '\0';
}

/* ---- ports ---- */

int vt_test_silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int vt_test_blackhole_listener(int *port, int fillers[3])
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 0) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	/* Backlog 0 holds one completed connection; the rest wait in
	 * SYN_SENT, and so will any later connect. */
	for (int i = 0; i < 3; i++) {
		fillers[i] = socket(
		    AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fillers[i] >= 0)
			connect(fillers[i], (struct sockaddr *)&a, sizeof(a));
	}
	vt_test_sleep_ms(50);
	*port = ntohs(a.sin_port);
	return fd;
}

/* ---- processes ---- */

/* Forks argv[0] with envp into a new session, stdin from /dev/null,
 * stdout/stderr appended to log (or /dev/null), in cwd, as uid/gid when
 * uid is not -1. Only async-signal-safe calls between fork and exec. */
static pid_t spawn(char *const argv[], char *const envp[], const char *log,
		   int stdin_fd, const char *cwd, uid_t uid, gid_t gid)
{
	int out = open(log != NULL ? log : "/dev/null",
		       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int in =
	    stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || in < 0) {
		fprintf(stderr, "open %s: %s\n", log, strerror(errno));
		if (out >= 0)
			close(out);
		if (in >= 0 && in != stdin_fd)
			close(in);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		if (cwd != NULL && chdir(cwd) != 0)
			_exit(126);
		if (uid != (uid_t)-1 && (setgroups(1, &gid) != 0 ||
					 setgid(gid) != 0 || setuid(uid) != 0))
			_exit(126);
		execve(argv[0], argv, envp != NULL ? envp : environ);
		_exit(127);
	}
	close(out);
	if (in != stdin_fd)
		close(in);
	if (pid < 0)
		fprintf(stderr, "fork: %s\n", strerror(errno));
	return pid;
}

/* Starts the reaper of s (its pid is the group to kill) with tag. */
static int start_reaper(vt_test_server *s, const char *tag)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	char pg[24];
	snprintf(pg, sizeof(pg), "%d", (int)s->pid);
	char *argv[] = {"/bin/sh", "-c", (char *)reaper_script,
			"reaper",  pg,	 (char *)tag,
			s->dir,	   NULL};
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t r = spawn(argv, envp, NULL, p[0], "/", (uid_t)-1, 0);
	close(p[0]);
	if (r < 0) {
		close(p[1]);
		return -1;
	}
	s->reaper = r;
	s->reaper_fd = p[1];
	return 0;
}

/* Records a started server for atexit; SIGKILLs it when the table is
 * full (never: tests start a handful). */
static int track(vt_test_server *s)
{
	ensure_atexit();
	for (int i = 0; i < SLOTS; i++)
		if (!slots[i].used) {
			slots[i] = (struct slot){true, s->pid, s->reaper,
						 s->reaper_fd};
			s->slot = i;
			return 0;
		}
	return -1;
}

static void print_log(const vt_test_server *s)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/out.log", s->dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	fprintf(stderr, "---- %s log (%s) ----\n", s->what, path);
	char line[512];
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

/* Tells the reaper to leave the directory alone: this program removes
 * it itself (vt_test_srv_stop, atexit). */
static void keep_dir(const vt_test_server *s)
{
	char keep[200];
	snprintf(keep, sizeof(keep), "%s/.keep", s->dir);
	int k = open(keep, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (k >= 0)
		close(k);
}

void vt_test_srv_kill(vt_test_server *s)
{
	if (s == NULL || s->pid <= 0)
		return;
	kill(-s->pid, SIGKILL);
	keep_dir(s);
	close(s->reaper_fd); /* the reaper kills the rest */
	reap(s->reaper);
	reap(s->pid);
	if (s->slot >= 0 && s->slot < SLOTS)
		slots[s->slot].used = false;
	s->pid = 0;
	s->reaper = 0;
	s->reaper_fd = -1;
	if (s->port > 0 && !vt_test_wait_port_closed(s->port, 5000))
		fprintf(stderr, "%s: port %d still accepts after kill\n",
			s->what, s->port);
}

void vt_test_srv_stop(vt_test_server *s)
{
	if (s == NULL)
		return;
	vt_test_srv_kill(s);
	if (s->dir[0] != '\0') {
		rm_tree(s->dir);
		dir_unregister(s->dir);
		s->dir[0] = '\0';
	}
}

/* Makes s->dir (once) as /tmp/vt-<what>-XXXXXX. */
static int make_dir(vt_test_server *s, const char *what)
{
	if (s->dir[0] != '\0' && access(s->dir, F_OK) == 0)
		return 0;
	snprintf(s->dir, sizeof(s->dir), "/tmp/vt-%s-XXXXXX", what);
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	ensure_atexit();
	dir_register(s->dir);
	return 0;
}

static void make_tag(char *tag, size_t cap)
{
	static unsigned n;
	snprintf(tag, cap, "%d-%u-%ld", (int)getpid(), ++n, (long)time(NULL));
}

/* Waits until s accepts on its port. -1 if it did not within
 * timeout_ms or its process exited (then reaped, *exited set). */
static int wait_ready(vt_test_server *s, int timeout_ms, bool *exited)
{
	double until = vt_test_now_ms() + timeout_ms;
	*exited = false;
	while (vt_test_now_ms() < until) {
		int fd = vt_test_connect_port(s->port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			fprintf(stderr,
				"%s exited during start-up (status %d)\n",
				s->what, st);
			*exited = true;
			return -1;
		}
		vt_test_sleep_ms(50);
	}
	fprintf(stderr, "%s did not accept on port %d within %d ms\n", s->what,
		s->port, timeout_ms);
	return -1;
}

/* Prints the log of a server that failed to start and kills whatever
 * it left running. */
static void failed_start(vt_test_server *s, bool exited)
{
	print_log(s);
	kill(-s->pid, SIGKILL);
	keep_dir(s);
	close(s->reaper_fd);
	reap(s->reaper);
	if (!exited)
		reap(s->pid);
	if (s->slot >= 0 && s->slot < SLOTS)
		slots[s->slot].used = false;
	s->pid = 0;
	s->reaper = 0;
	s->reaper_fd = -1;
}

static int find_exe(const char *name, char *out, size_t cap)
{
	static const char *const dirs_[] = {"/usr/bin", "/usr/sbin",
					    "/usr/local/bin", "/bin", NULL};
	for (int i = 0; dirs_[i] != NULL; i++) {
		snprintf(out, cap, "%s/%s", dirs_[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* ---- redis ---- */

static int redis_start_once(vt_test_server *s, int port, const char *pw)
{
	char exe[256], sport[16], tag[64], tagenv[96], log[200];
	if (find_exe("redis-server", exe, sizeof(exe)) != 0) {
		fprintf(stderr, "redis-server is not installed: run "
				"scripts/install-deps.sh test\n");
		return -1;
	}
	if (make_dir(s, "redis") != 0)
		return -1;
	snprintf(s->what, sizeof(s->what), "redis-server");
	s->port = port;
	snprintf(s->password, sizeof(s->password), "%s", pw ? pw : "");
	snprintf(s->unix_path, sizeof(s->unix_path), "%s/redis.sock", s->dir);
	unlink(s->unix_path);
	char keep[200];
	snprintf(keep, sizeof(keep), "%s/.keep", s->dir);
	unlink(keep);
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(log, sizeof(log), "%s/out.log", s->dir);
	make_tag(tag, sizeof(tag));
	snprintf(tagenv, sizeof(tagenv), TAG_VAR "=%s", tag);

	char *argv[24];
	int n = 0;
	argv[n++] = exe;
	argv[n++] = "--port";
	argv[n++] = sport;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	argv[n++] = "--unixsocket";
	argv[n++] = s->unix_path;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "700";
	if (pw != NULL) {
		argv[n++] = "--requirepass";
		argv[n++] = (char *)pw;
	}
	argv[n] = NULL;
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", tagenv, NULL};

	s->pid = spawn(argv, envp, log, -1, s->dir, (uid_t)-1, 0);
	if (s->pid < 0) {
		s->pid = 0;
		return -1;
	}
	if (start_reaper(s, tag) != 0) {
		kill(-s->pid, SIGKILL);
		reap(s->pid);
		s->pid = 0;
		return -1;
	}
	track(s);
	bool exited;
	if (wait_ready(s, 15000, &exited) != 0) {
		failed_start(s, exited);
		return -1;
	}
	return 0;
}

int vt_test_redis_start(vt_test_server *s, int port, const char *password)
{
	if (s->pid > 0) {
		fprintf(stderr, "redis-server already runs\n");
		return -1;
	}
	s->slot = -1;
	/* A free port can be taken between finding and binding it: with
	 * a port of our choosing, try another. */
	for (int tries = 0; tries < (port == 0 ? 3 : 1); tries++) {
		int p = port != 0 ? port : vt_test_free_port();
		if (p > 0 && redis_start_once(s, p, password) == 0)
			return 0;
	}
	return -1;
}

/* ---- rabbitmq ---- */

static int write_file(const char *path, const char *text, uid_t uid, gid_t gid)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "write %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (chown(path, uid, gid) != 0)
		return -1;
	return 0;
}

int vt_test_rabbitmq_start(vt_test_server *s, const char *user,
			   const char *pass)
{
	if (s->pid > 0) {
		fprintf(stderr, "rabbitmq-server already runs\n");
		return -1;
	}
	s->slot = -1;
	if (access(RABBIT_WRAPPER, X_OK) != 0 ||
	    access(RABBIT_SCRIPT, X_OK) != 0) {
		fprintf(stderr,
			"FAIL: rabbitmq-server is not installed (%s is "
			"missing): run scripts/install-deps.sh test\n",
			RABBIT_SCRIPT);
		return -1;
	}
	struct passwd *pwd = getpwnam("rabbitmq");
	if (pwd == NULL) {
		fprintf(stderr, "FAIL: no user rabbitmq: is the "
				"rabbitmq-server package installed?\n");
		return -1;
	}
	uid_t uid = pwd->pw_uid;
	gid_t gid = pwd->pw_gid;
	if (geteuid() != 0 && geteuid() != uid) {
		fprintf(stderr, "FAIL: starting rabbitmq-server needs root "
				"or user rabbitmq\n");
		return -1;
	}
	if (make_dir(s, "rabbitmq") != 0)
		return -1;
	snprintf(s->what, sizeof(s->what), "rabbitmq-server");
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->pass, sizeof(s->pass), "%s", pass);
	if (chown(s->dir, uid, gid) != 0 || chmod(s->dir, 0755) != 0) {
		fprintf(stderr, "chown %s: %s\n", s->dir, strerror(errno));
		return -1;
	}
	char path[256], conf[512];
	snprintf(path, sizeof(path), "%s/rabbitmq.conf", s->dir);
	snprintf(conf, sizeof(conf),
		 "default_user = %s\ndefault_pass = %s\n"
		 "log.console = false\n",
		 user, pass);
	if (write_file(path, conf, uid, gid) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/enabled_plugins", s->dir);
	if (write_file(path, "[].\n", uid, gid) != 0)
		return -1;
	char log[200];
	snprintf(log, sizeof(log), "%s/out.log", s->dir);
	if (write_file(log, "", uid, gid) != 0)
		return -1;

	s->port = vt_test_free_port();
	int dist = vt_test_free_port();
	int epmd = vt_test_free_port();
	if (s->port <= 0 || dist <= 0 || epmd <= 0 || dist == s->port ||
	    epmd == s->port || epmd == dist) {
		fprintf(stderr, "no free ports\n");
		return -1;
	}
	char tag[64];
	make_tag(tag, sizeof(tag));
	char env[20][300];
	int n = 0;
	snprintf(env[n++], 300, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(env[n++], 300, "HOME=" RABBIT_HOME);
	snprintf(env[n++], 300, "LANG=C.UTF-8");
	snprintf(env[n++], 300, "LC_ALL=C.UTF-8");
	static unsigned nodes;
	snprintf(env[n++], 300, "RABBITMQ_NODENAME=vt%d_%u@localhost",
		 (int)getpid(), ++nodes);
	snprintf(env[n++], 300, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
	snprintf(env[n++], 300, "RABBITMQ_NODE_PORT=%d", s->port);
	snprintf(env[n++], 300, "RABBITMQ_DIST_PORT=%d", dist);
	snprintf(env[n++], 300, "ERL_EPMD_PORT=%d", epmd);
	snprintf(env[n++], 300, "ERL_EPMD_ADDRESS=127.0.0.1");
	snprintf(env[n++], 300, "RABBITMQ_MNESIA_BASE=%s/mnesia", s->dir);
	snprintf(env[n++], 300, "RABBITMQ_LOG_BASE=%s/log", s->dir);
	snprintf(env[n++], 300, "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf",
		 s->dir);
	snprintf(env[n++], 300,
		 "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins", s->dir);
	snprintf(env[n++], 300, "RABBITMQ_PID_FILE=%s/rabbit.pid", s->dir);
	snprintf(env[n++], 300,
		 "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel "
		 "inet_dist_use_interface {127,0,0,1}");
	snprintf(env[n++], 300, TAG_VAR "=%s", tag);
	char *envp[21];
	for (int i = 0; i < n; i++)
		envp[i] = env[i];
	envp[n] = NULL;
	char *argv[] = {RABBIT_SCRIPT, NULL};

	double t0 = vt_test_now_ms();
	s->pid = spawn(argv, envp, log, -1, RABBIT_HOME, uid, gid);
	if (s->pid < 0) {
		s->pid = 0;
		return -1;
	}
	if (start_reaper(s, tag) != 0) {
		kill(-s->pid, SIGKILL);
		reap(s->pid);
		s->pid = 0;
		return -1;
	}
	track(s);
	bool exited;
	if (wait_ready(s, 60000, &exited) != 0) {
		failed_start(s, exited);
		return -1;
	}
	fprintf(stderr,
		"rabbitmq-server accepts on 127.0.0.1:%d after %.1f s\n",
		s->port, (vt_test_now_ms() - t0) / 1e3);
	return 0;
}

/* ---- AMQP helper ---- */

static int amqp_ok(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 1;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "%s: %s\n", what,
			amqp_error_string2(r.library_error));
	else
		fprintf(stderr, "%s: reply type %d, method 0x%08x\n", what,
			(int)r.reply_type, (unsigned)r.reply.id);
	return 0;
}

int vt_test_amqp_fill(int port, const char *user, const char *pass,
		      const char *queue, int n)
{
	int rc = -1;
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *sock = c != NULL ? amqp_tcp_socket_new(c) : NULL;
	struct timeval tv = {5, 0};
	amqp_bytes_t q = amqp_cstring_bytes(queue);
	if (sock == NULL)
		goto out;
	int st = amqp_socket_open_noblock(sock, "127.0.0.1", port, &tv);
	if (st != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp open: %s\n", amqp_error_string2(st));
		goto out;
	}
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	if (!amqp_ok(amqp_login(c, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0,
				AMQP_SASL_METHOD_PLAIN, user, pass),
		     "amqp login"))
		goto out;
	amqp_channel_open(c, 1);
	if (!amqp_ok(amqp_get_rpc_reply(c), "channel open"))
		goto out;
	amqp_queue_declare(c, 1, q, 0, 0, 0, 0, amqp_empty_table);
	if (!amqp_ok(amqp_get_rpc_reply(c), "queue declare"))
		goto out;
	amqp_queue_purge(c, 1, q);
	if (!amqp_ok(amqp_get_rpc_reply(c), "queue purge"))
		goto out;
	for (int i = 0; i < n; i++) {
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, q, 0, 0, NULL,
				       amqp_cstring_bytes("vitals")) !=
		    AMQP_STATUS_OK) {
			fprintf(stderr, "publish failed\n");
			goto out;
		}
	}
	double until = vt_test_now_ms() + 10000;
	for (;;) {
		amqp_queue_declare_ok_t *ok =
		    amqp_queue_declare(c, 1, q, 1, 0, 0, 0, amqp_empty_table);
		if (!amqp_ok(amqp_get_rpc_reply(c), "passive declare"))
			goto out;
		if ((int)ok->message_count == n)
			break;
		if (vt_test_now_ms() > until) {
			fprintf(stderr, "queue %s: %u messages, want %d\n",
				queue, ok->message_count, n);
			goto out;
		}
		vt_test_sleep_ms(20);
	}
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	rc = 0;
out:
	if (c != NULL)
		amqp_destroy_connection(c);
	return rc;
}
