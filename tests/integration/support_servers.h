/*
 * support_servers.h - real servers for integration tests: redis-server
 * and rabbitmq-server as child processes on free loopback ports, and
 * sockets that misbehave (a listener that never answers).
 *
 * Every server runs in a process group of its own, with a marker in its
 * environment that its descendants inherit (epmd, erl_child_setup, ...).
 * A small reaper process (a shell) waits on a pipe that only this
 * program holds open: when the server is stopped, or when this program
 * ends in any way (return, exit, crash, kill -9), the pipe closes and
 * the reaper SIGKILLs the group and every process carrying the marker.
 * An atexit handler also stops whatever is still running and removes
 * the servers' temporary directories. No stray servers, whatever fails.
 */
#ifndef VITALS_SUPPORT_SERVERS_H
#define VITALS_SUPPORT_SERVERS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct vt_test_server {
	pid_t pid;	     /* the server's process (group leader); 0 = none */
	pid_t reaper;	     /* the reaper's pid */
	int reaper_fd;	     /* write end of the reaper's pipe */
	int port;	     /* the loopback port it serves */
	char dir[128];	     /* its temporary directory */
	char unix_path[160]; /* redis: its unix socket, in dir */
	char password[128];  /* redis: requirepass, or "" */
	char user[64];	     /* rabbitmq: the default user */
	char pass[64];	     /* rabbitmq: its password */
	char what[16];	     /* "redis-server", "rabbitmq-server" */
	int slot;	     /* in the atexit table */
} vt_test_server;

/* Starts redis-server on 127.0.0.1:port (0 = a free port), with
 * requirepass when password is not NULL, and a unix socket in its
 * directory. Returns 0 when it accepts connections, else -1 with the
 * reason and the server's log on stderr (and nothing left running). */
int vt_test_redis_start(vt_test_server *s, int port, const char *password);

/* Starts rabbitmq-server on a free loopback port with its own node
 * name, epmd port, distribution port and directory, and the default
 * user user/pass (a fresh broker). Waits up to 60 s for the AMQP port.
 * Returns 0, or -1 with the reason on stderr - including when
 * rabbitmq-server is not installed. */
int vt_test_rabbitmq_start(vt_test_server *s, const char *user,
			   const char *pass);

/* SIGKILLs the server and everything it started, reaps it, and waits
 * until its port is free. The temporary directory stays, so the server
 * can be started again on the same port (vt_test_redis_start with
 * s->port). Accepts a stopped server. */
void vt_test_srv_kill(vt_test_server *s);

/* vt_test_srv_kill, then removes the directory. */
void vt_test_srv_stop(vt_test_server *s);

/* A listening socket on a free loopback port (*port) that never accepts
 * or reads: connects succeed, requests are never answered. Returns its
 * fd (close it when done), or -1. */
int vt_test_silent_listener(int *port);

/* A listening socket on a free loopback port (*port) whose accept queue
 * is full: the kernel drops further SYNs, so a connect to it hangs until
 * the client's own timeout. fillers[3] receives the connections that
 * fill it. Returns the listening fd, or -1. Close all four when done. */
int vt_test_blackhole_listener(int *port, int fillers[3]);

/* Declares queue (non-durable) on the broker at 127.0.0.1:port, purges
 * it, publishes n messages to it, and waits until the broker counts
 * them. 0 on success, -1 with the reason on stderr. */
int vt_test_amqp_fill(int port, const char *user, const char *pass,
		      const char *queue, int n);

#endif
