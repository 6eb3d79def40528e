/*
 * support_httpd.h - real HTTP servers on loopback for the http and
 * dmarket check tests: in-process threads on plain sockets, one thread
 * per connection, HTTP/1.1 with "Connection: close".
 *
 * The plain server answers
 *   /ok               200 "ok"
 *   /fail             500
 *   /slow?ms=N        200 after N ms (cut short when the client leaves)
 *   /status?code=N    N
 *   /stream           200 with an endless body, until the client leaves
 *   anything else     404
 * The silent server accepts connections and never answers. The fake
 * DMarket server verifies Ed25519-signed requests (see
 * vt_test_dmarket_start). Every server records the last request it got.
 */
#ifndef VT_TEST_SUPPORT_HTTPD_H
#define VT_TEST_SUPPORT_HTTPD_H

#include <stddef.h>

typedef struct vt_test_httpd vt_test_httpd;

/* What a server got last, and what it answered. */
typedef struct vt_test_request {
	char method[16];
	char target[1024];  /* path?query as sent */
	char headers[8192]; /* raw header lines, "\r\n"-separated */
	char body[4096];
	int status;   /* the status answered */
	double at_ms; /* receiver: when it came, monotonic ms */
} vt_test_request;

/* Starts a server on 127.0.0.1 with a free port; NULL on failure. */
vt_test_httpd *vt_test_httpd_start(void);
vt_test_httpd *vt_test_httpd_start_silent(void);

/* The fake DMarket server, trusting the Ed25519 public key pub[32]:
 *   GET /account/v1/balance: 200 with a balance JSON when X-Api-Key is
 *     pub in lower-case hex, X-Sign-Date is within 120 s of now and
 *     X-Request-Sign is "dmar ed25519 " + the hex signature (verified
 *     with EVP_DigestVerify) of method + path?query + body + X-Sign-Date;
 *     401 with {"code":"Unauthorized","message":...} otherwise.
 *   GET /exchange/v1/market/items?gameId=a8db&limit=1&currency=USD: 200
 *     with an empty item list, no key needed; other queries 400. */
vt_test_httpd *vt_test_dmarket_start(const unsigned char pub[32]);

int vt_test_httpd_port(const vt_test_httpd *s);
/* "http://127.0.0.1:PORT" + path into out[cap]. */
void vt_test_httpd_url(const vt_test_httpd *s, const char *path, char *out,
		       size_t cap);
/* Requests answered (or, for the silent server, connections accepted). */
int vt_test_httpd_count(vt_test_httpd *s);
/* Copies the last request into *out; 0 if there was none yet. */
int vt_test_httpd_last(vt_test_httpd *s, vt_test_request *out);
/* Stops the server: wakes and joins every thread, closes every socket.
 * Accepts NULL. */
void vt_test_httpd_stop(vt_test_httpd *s);

/* The value of header name (any case) in q->headers into out[cap]; 1 if
 * present. */
int vt_test_request_header(const vt_test_request *q, const char *name,
			   char *out, size_t cap);

/* An alert receiver: a stand-in for the Telegram Bot API and for a
 * webhook endpoint. It records every request it reads (up to
 * VT_TEST_RECV_MAX) and answers by its mode:
 *   VT_RECV_OK    200 {"ok":true,"result":{"message_id":N}}
 *   VT_RECV_500   500 {"ok":false,...}
 *   VT_RECV_429   429 with Telegram's {"parameters":{"retry_after":S}}
 *   VT_RECV_HANG  no answer until the client leaves or the server stops
 * port 0 picks a free port; a given port is bound again (SO_REUSEADDR),
 * so a stopped receiver can come back where it was. */
#define VT_TEST_RECV_MAX 256
typedef enum vt_test_recv_mode {
	VT_RECV_OK = 0,
	VT_RECV_500,
	VT_RECV_429,
	VT_RECV_HANG,
} vt_test_recv_mode;
vt_test_httpd *vt_test_receiver_start(int port);
void vt_test_receiver_mode(vt_test_httpd *s, vt_test_recv_mode m,
			   int retry_after_s);
/* Copies up to max recorded requests, oldest first, into out; returns
 * how many there are in all. */
int vt_test_receiver_requests(vt_test_httpd *s, vt_test_request *out, int max);

/* An Ed25519 key pair made by OpenSSL, with DMarket's hex forms. */
typedef struct vt_test_keypair {
	unsigned char pub[32];
	char pub_hex[65];
	char seed_hex[65];
	char secret_hex[129]; /* seed || public key */
} vt_test_keypair;

/* Generates a fresh key pair (EVP_PKEY_keygen). 1 on success. */
int vt_test_keypair_gen(vt_test_keypair *k);

#endif
