/*
 * support_daemon.h - child processes for the integration tests of the
 * programs vitals builds (vitalsd, vitalsctl, the examples) and of the
 * servers they talk to (prometheus): free loopback ports, a private
 * temporary directory, spawning with output to a file, waiting for a
 * port or an exit, running a command line and capturing its output.
 *
 * Everything started here is stopped when the test program exits, even
 * after a failed assertion (atexit: SIGKILL, then reaped), and the
 * temporary directory is removed; a child also dies with the test
 * program if that is killed (PR_SET_PDEATHSIG). Built programs are found
 * relative to the test binary: tests live in BUILD/tests/, vitalsd and
 * the examples in BUILD/, vitalsctl in BUILD/client/.
 */
#ifndef VT_TEST_SUPPORT_DAEMON_H
#define VT_TEST_SUPPORT_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include "support_net.h" /* the daemon's ports */

/* BUILD/rel (BUILD = the directory above the test binary's) into out;
 * out, or NULL if it does not fit. */
const char *vt_test_build_path(const char *rel, char *out, size_t cap);

/* The test program's private temporary directory (created on first
 * use, removed at exit). */
const char *vt_test_tmpdir(void);

/* Writes text to tmpdir/name and returns the path in out. */
const char *vt_test_write_file(const char *name, const char *text, char *out,
			       size_t cap);

/* Starts argv[0] (a path) with argv, stdin from /dev/null and stdout
 * and stderr appended to log_path (NULL: /dev/null). Returns the pid,
 * or -1. The child is killed at exit unless reaped before. */
pid_t vt_test_spawn(char *const argv[], const char *log_path);

/* Waits up to timeout_ms for pid to exit and reaps it. Returns its exit
 * status (0..255), 128 + signal if it was killed, -1 on timeout. */
int vt_test_wait_exit(pid_t pid, int timeout_ms);

/* SIGTERM, up to 10 s for the exit, then SIGKILL; reaps. Returns as
 * vt_test_wait_exit (of the SIGTERM). Accepts pid <= 0. */
int vt_test_stop(pid_t pid);

/* Runs cmd with /bin/sh, stdout (and stderr, if cmd redirects it)
 * captured into *out (malloc'd, NUL-terminated; may be NULL). Returns
 * the exit status as vt_test_wait_exit, -1 if it could not run. */
int vt_test_sh(const char *cmd, char **out);

/* A running vitalsd on free loopback ports. */
typedef struct vt_test_daemon {
	pid_t pid;
	int http_port;
	char http[64]; /* "127.0.0.1:PORT" */
	char rpc[64];  /* "tcp://127.0.0.1:PORT" */
	char pub[64];
	int file_http_port; /* http_by_flag: the file's (unused) port */
	char config[512];   /* the config file written */
	char log[512];	    /* its stderr */
} vt_test_daemon;

/* Writes tmpdir/NAME.json with the daemon's free ports, top (extra
 * top-level members, "" or e.g. "\"degraded_http_code\": 429,") and
 * checks (the JSON array's contents), starts vitalsd on it and waits
 * until HTTP and RPC accept. With http_by_flag the file names another
 * free port (file_http_port) and the real one is given by --http. 1 on
 * success; on failure prints the daemon's log. */
int vt_test_daemon_start(vt_test_daemon *d, const char *name, const char *top,
			 const char *checks, int http_by_flag);

/* The daemon's log so far (malloc'd; "" if none). */
char *vt_test_daemon_log(const vt_test_daemon *d);

#endif
