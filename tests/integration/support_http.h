/*
 * support_http.h - a raw HTTP/1.1 keep-alive client on loopback, for
 * tests that drive the gateway for a long time on one connection each
 * (load, faults): no library between the test and the bytes, so what
 * the server sends is what is checked.
 */
#ifndef VT_TEST_SUPPORT_HTTP_H
#define VT_TEST_SUPPORT_HTTP_H

#include <stddef.h>

/* One connection and its unread bytes. */
typedef struct vt_test_conn {
	int fd; /* -1 when closed */
	char *buf;
	size_t n, cap;
} vt_test_conn;

/* One answer: the status, the head (with its closing blank line) and
 * the body (malloc'd, NUL-terminated; free it). */
typedef struct vt_test_resp {
	int status;
	char head[4096];
	char *body;
	size_t len;
} vt_test_resp;

/* A closed connection with its buffer; buf NULL when out of memory. */
void vt_test_conn_init(vt_test_conn *c);
/* Closes and frees the buffer. */
void vt_test_conn_fini(vt_test_conn *c);
/* Connects to 127.0.0.1:port; 0, or -1 with errno. */
int vt_test_conn_open(vt_test_conn *c, int port);
/* Closes, dropping unread bytes; the buffer stays. */
void vt_test_conn_close(vt_test_conn *c);

/* Sends GET target on the open c and reads the answer (Content-Length
 * framed) within timeout_ms per read. 0 on an answer; -1 with the reason
 * in why when the connection ended, timed out or sent a malformed head
 * first (c is then unusable: close it). */
int vt_test_conn_get(vt_test_conn *c, const char *target, int timeout_ms,
		     vt_test_resp *r, char *why, size_t cap);

/* Whether r's head says "Connection: close". */
int vt_test_resp_closes(const vt_test_resp *r);

/* The value of header name in r; "" when missing. */
void vt_test_resp_header(const vt_test_resp *r, const char *name, char *out,
			 size_t cap);

#endif
