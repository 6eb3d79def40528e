/*
 * support_http.h - the integration tests' raw HTTP/1.1 client on
 * loopback: no library between the test and the bytes, so what the
 * server sends is what is checked, and a test can send what no library
 * would (malformed lines, huge headers, lying Content-Length, a body
 * after the answer). One connection is kept alive across requests; the
 * load and fault tests drive the gateway on one each for a long time,
 * the gateway and middleware tests make one-off requests.
 */
#ifndef VT_TEST_SUPPORT_HTTP_H
#define VT_TEST_SUPPORT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* One connection and its unread bytes. */
typedef struct vt_test_conn {
	int fd; /* -1 when closed */
	char *buf;
	size_t n, cap;
} vt_test_conn;

/* One answer: the status, the head (with its closing blank line) and
 * the body (malloc'd, NUL-terminated; vt_test_resp_free). */
typedef struct vt_test_resp {
	int status; /* 0 when no answer came */
	char head[16384];
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

/* A new connection to 127.0.0.1:port, or NULL when refused (or out of
 * memory). Free with vt_test_conn_free, which accepts NULL. */
vt_test_conn *vt_test_conn_new(int port);
void vt_test_conn_free(vt_test_conn *c);

/* Sends the n bytes at p as they are; false once the peer is gone. */
bool vt_test_conn_send(vt_test_conn *c, const void *p, size_t n);

/* Reads one answer, waiting up to timeout_ms for each read: the head
 * (an "HTTP/1.x NNN" status line), then Content-Length bytes of body,
 * none when head_only (the answer to a HEAD), or all up to the close
 * when there is no Content-Length. false when the connection ended,
 * timed out or sent a malformed head first; why (may be NULL) says
 * which, and c is then unusable: close it. */
bool vt_test_conn_read(vt_test_conn *c, bool head_only, int timeout_ms,
		       vt_test_resp *r, char *why, size_t cap);

/* Sends "METHOD target HTTP/1.1", "Host: 127.0.0.1" and extra (header
 * lines, each ending in \r\n; NULL = none) and reads the answer as
 * vt_test_conn_read (head only for HEAD). */
bool vt_test_conn_request(vt_test_conn *c, const char *method,
			  const char *target, const char *extra, int timeout_ms,
			  vt_test_resp *r, char *why, size_t cap);

/* GET target on the open c, as vt_test_conn_request, where the answer
 * must say "HTTP/1.1" and carry a Content-Length. 0 on an answer, -1
 * with the reason in why. */
int vt_test_conn_get(vt_test_conn *c, const char *target, int timeout_ms,
		     vt_test_resp *r, char *why, size_t cap);

/* Whether the peer closed c within timeout_ms with no bytes unread or
 * arriving. */
bool vt_test_conn_closed(vt_test_conn *c, int timeout_ms);

/* One request on a connection of its own, closed after it. false (and
 * r->status 0) when the connection was refused or gave no answer. */
bool vt_test_http_request(int port, const char *method, const char *target,
			  const char *extra, int timeout_ms, vt_test_resp *r);

/* Frees r's body and clears it. */
void vt_test_resp_free(vt_test_resp *r);

/* Whether r's head says "Connection: close". */
int vt_test_resp_closes(const vt_test_resp *r);

/* The value of header name in r (the first, any case); "" when
 * missing. */
void vt_test_resp_header(const vt_test_resp *r, const char *name, char *out,
			 size_t cap);

#endif
