/*
 * test_sdnotify.c - the sd_notify protocol spoken without libsystemd: a
 * real datagram socket, bound where $NOTIFY_SOCKET points (a file system
 * path, and an abstract name), receives exactly what was sent; without
 * the variable nothing is sent; a variable naming no socket is an error,
 * never a crash. The watchdog interval comes from $WATCHDOG_USEC, for
 * this process only when $WATCHDOG_PID is set.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/sdnotify.h"
#include "testutil.h"

/* A datagram socket bound at name (a path, or "@abstract"), with a
 * receive timeout of 5 s so that a lost datagram fails, not hangs; -1 on
 * error. */
static int bind_receiver(const char *name)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(name);
	if (n >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, name, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = 5};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Receives one datagram into buf (NUL-terminated); its length, or -1. */
static ssize_t receive(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Sends states to the receiver at name and checks each arrives whole. */
static void check_delivery(const char *name)
{
	int fd = bind_receiver(name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(setenv("NOTIFY_SOCKET", name, 1), 0);
	static const char *const states[] = {"READY=1\nSTATUS=serving",
					     "RELOADING=1", "WATCHDOG=1",
					     "STOPPING=1"};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		char buf[256];
		CU_ASSERT_EQUAL(vt__sd_notify(states[i]), 1);
		CU_ASSERT_EQUAL(receive(fd, buf, sizeof(buf)),
				(ssize_t)strlen(states[i]));
		CU_ASSERT_STRING_EQUAL(buf, states[i]);
	}
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static void test_path_socket(void)
{
	char dir[] = "/tmp/vt-sdnotify-XXXXXX";
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/notify", dir);
	check_delivery(path);
	unlink(path);
	rmdir(dir);
}

static void test_abstract_socket(void)
{
	char name[64];
	snprintf(name, sizeof(name), "@vt-sdnotify-test-%ld", (long)getpid());
	check_delivery(name);
}

/* Outside systemd nothing is sent and nothing fails. */
static void test_no_socket(void)
{
	unsetenv("NOTIFY_SOCKET");
	CU_ASSERT_EQUAL(vt__sd_notify("READY=1"), 0);
	CU_ASSERT_EQUAL(setenv("NOTIFY_SOCKET", "", 1), 0);
	CU_ASSERT_EQUAL(vt__sd_notify("READY=1"), 0);
	unsetenv("NOTIFY_SOCKET");
}

/* A value that names no socket, or one nobody listens on, is -1. */
static void test_bad_socket(void)
{
	char longname[200];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = {
	    "relative/path", "@", "/", longname, "/nonexistent-dir-vt/notify",
	    "vsock:2:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(setenv("NOTIFY_SOCKET", bad[i], 1), 0);
		CU_ASSERT_EQUAL(vt__sd_notify("READY=1"), -1);
	}
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void)
{
	uint64_t usec = 7;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 0);
	CU_ASSERT_EQUAL(usec, 7); /* written only when on */

	setenv("WATCHDOG_USEC", "30000000", 1);
	CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 1);
	CU_ASSERT_EQUAL(usec, 30000000);

	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	usec = 0;
	CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 1);
	CU_ASSERT_EQUAL(usec, 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 0); /* another's */
	setenv("WATCHDOG_PID", "junk", 1);
	CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 0);
	unsetenv("WATCHDOG_PID");

	const char *bad[] = {
	    "", "0", "-5", "12abc", " 12", "1e6", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		CU_ASSERT_EQUAL(vt__sd_watchdog_usec(&usec), 0);
	}
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	static const vt_test tests[] = {
	    {"datagrams to a path socket", test_path_socket},
	    {"datagrams to an abstract socket", test_abstract_socket},
	    {"no NOTIFY_SOCKET: nothing sent", test_no_socket},
	    {"a NOTIFY_SOCKET naming no socket is an error", test_bad_socket},
	    {"watchdog interval and pid", test_watchdog},
	    {NULL, NULL},
	};
	return vt_test_main("sdnotify", tests);
}
