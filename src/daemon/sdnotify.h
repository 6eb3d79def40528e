/*
 * sdnotify.h - the service manager's notification protocol (systemd's
 * sd_notify), spoken directly: vitalsd tells systemd READY=1,
 * STOPPING=1, RELOADING=1 and WATCHDOG=1 without linking libsystemd.
 *
 * The protocol: the manager names a datagram socket in $NOTIFY_SOCKET
 * (a file system path, or an abstract socket when it starts with '@');
 * a notification is one datagram of newline-separated KEY=VALUE lines.
 * The watchdog interval is $WATCHDOG_USEC, for the process named by
 * $WATCHDOG_PID when that is set. Outside systemd neither variable is
 * set and both calls do nothing.
 */
#ifndef VT_DAEMON_SDNOTIFY_H
#define VT_DAEMON_SDNOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when $NOTIFY_SOCKET is not set, -1 when it is
 * unusable (not a path, too long) or the send failed. Thread-safe. */
int vt__sd_notify(const char *state);

/* The watchdog interval asked of this process, in microseconds, into
 * *usec (written only when one is asked). Returns 1 when the watchdog
 * is on, 0 when it is off ($WATCHDOG_USEC unset or not a positive
 * number, or $WATCHDOG_PID naming another process). Thread-safe as
 * long as nothing changes those variables meanwhile. */
int vt__sd_watchdog_usec(uint64_t *usec);

#endif
