/*
 * support_net.h - loopback TCP for the integration tests: the one place
 * that finds a free port, connects to a port, and waits for a port to
 * accept or to stop accepting. Everything is 127.0.0.1.
 */
#ifndef VT_TEST_SUPPORT_NET_H
#define VT_TEST_SUPPORT_NET_H

/* A TCP port that no socket held a moment ago, on any address, chosen
 * below the kernel's ephemeral range so that no outgoing connection
 * takes it before the server binds it (RabbitMQ, for one, checks its
 * distribution port on 0.0.0.0 and fails when a client's source port
 * sits on it); -1 on failure. */
int vt_test_free_port(void);

/* A connected, close-on-exec socket to 127.0.0.1:port; -1 with errno
 * when refused or on failure. */
int vt_test_connect_port(int port);

/* 1 once 127.0.0.1:port accepts a connection, 0 after timeout_ms. */
int vt_test_wait_port(int port, int timeout_ms);

/* 1 once 127.0.0.1:port refuses connections, 0 after timeout_ms. */
int vt_test_wait_port_closed(int port, int timeout_ms);

#endif
