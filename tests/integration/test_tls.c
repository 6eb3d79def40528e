/*
 * test_tls.c - vitalsd over TLS (tls+tcp://, nng 1.5.2's mbedTLS
 * engine) with certificates made here by `openssl req`: vitalsctl and
 * libvitals-client with the right client certificate get answers; a
 * client certificate from another CA, or none, is refused (mutual TLS);
 * handshakes that stop half way do not block other clients; the gateway
 * serves HTTPS (libcurl with the CA, no client certificate) and drops
 * plain HTTP and stalled handshakes (those within the header timeout);
 * vitalsctl watch follows the pub socket over TLS; and a bearer token
 * over plain TCP or HTTP to a non-loopback bind is refused at config
 * check unless allowed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "support_daemon.h"
#include "support_http.h"
#include "testutil.h"
#include "vitals/client.h"

static char dir[512];

/* A CA (name) and a certificate for CN=127.0.0.1 signed by it (leaf),
 * EC P-256, in dir. 1 on success. */
static int make_certs(const char *ca, const char *leaf)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && "
		 "[ -f %s.pem ] || openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -keyout %s.key -out "
		 "%s.pem -subj /CN=%s -days 2 2>/dev/null; "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		 "-nodes -keyout %s.key -out %s.csr -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 2>/dev/null && "
		 "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
		 "-CAcreateserial -copy_extensions copy -out %s.pem -days 2 "
		 "2>/dev/null",
		 dir, ca, ca, ca, ca, leaf, leaf, leaf, ca, ca, leaf);
	return vt_test_sh(cmd, NULL) == 0;
}

/* The gateway's header timeout: stalled handshakes are cut after it. */
#define HEADER_MS 1500

static vt_test_daemon d;
static char tls_url[128];

/* vitalsctl health over TLS with extra options; its exit status. */
static int ctl(const char *extra, char **out)
{
	char bin[512], cmd[2048];
	CU_ASSERT_FATAL(
	    vt_test_build_path("client/vitalsctl", bin, sizeof(bin)) != NULL);
	snprintf(cmd, sizeof(cmd),
		 "'%s' --url %s --timeout 3000 --ca '%s/ca.pem' %s health "
		 "2>&1",
		 bin, tls_url, dir, extra);
	return vt_test_sh(cmd, out);
}

static void start_daemon(void)
{
	snprintf(dir, sizeof(dir), "%s", vt_test_tmpdir());
	CU_ASSERT_FATAL(make_certs("ca", "server"));
	CU_ASSERT_FATAL(make_certs("ca", "client"));
	CU_ASSERT_FATAL(make_certs("otherca", "stranger"));
	char top[2048], checks[1024];
	snprintf(top, sizeof(top),
		 "\"tls\": {\"cert\": \"%s/server.pem\", \"key\": "
		 "\"%s/server.key\", \"ca\": \"%s/ca.pem\"}, "
		 "\"http_header_timeout_ms\": %d,",
		 dir, dir, dir, HEADER_MS);
	/* "flag" follows the file dir/flag (healthy while it is there):
	 * the watch test flips it. */
	char flag[600];
	snprintf(flag, sizeof(flag), "%s/flag", dir);
	CU_ASSERT_FATAL(vt_test_write_file("flag", "", flag, sizeof(flag)) !=
			NULL);
	snprintf(checks, sizeof(checks),
		 "{\"name\": \"root\", \"type\": \"disk\", \"path\": \"/\"},"
		 "{\"name\": \"flag\", \"type\": \"exec\", \"command\": "
		 "[\"/bin/sh\", \"-c\", \"test -f '%s/flag'\"], "
		 "\"interval_ms\": 200, \"critical\": false}",
		 dir);
	CU_ASSERT_FATAL(vt_test_daemon_start(&d, "tls", top, checks, 0));
	snprintf(tls_url, sizeof(tls_url), "tls+%s", d.rpc);
}

static void test_mtls(void)
{
	start_daemon();
	char opts[1200], *out = NULL;
	snprintf(opts, sizeof(opts),
		 "--cert '%s/client.pem' --key '%s/client.key'", dir, dir);
	CU_ASSERT_EQUAL(ctl(opts, &out), 0);
	CU_ASSERT(out != NULL && strstr(out, "root") != NULL);
	free(out);

	/* The library, with the right certificate. */
	char ca[600], cert[600], key[600];
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	vt_client_tls t = {.ca = ca, .cert = cert, .key = key};
	vt_client *cl = NULL;
	CU_ASSERT_FATAL(vt_client_connect_tls(&cl, tls_url, 3000, &t) == VT_OK);
	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL(vt_client_health(cl, NULL, VT_RUN_FRESH, &s), VT_OK);
	CU_ASSERT(s != NULL && s->ncomponents == 2);
	vt_client_health_free(s);
	vt_client_close(cl);

	/* A certificate of another CA, and none at all: refused. */
	snprintf(opts, sizeof(opts),
		 "--cert '%s/stranger.pem' --key '%s/stranger.key'", dir, dir);
	out = NULL;
	CU_ASSERT_NOT_EQUAL(ctl(opts, &out), 0);
	CU_ASSERT(out == NULL || strstr(out, "root") == NULL);
	free(out);
	out = NULL;
	CU_ASSERT_NOT_EQUAL(ctl("", &out), 0);
	free(out);
	/* Plain TCP to the TLS port gets nothing either. */
	vt_client *plain = NULL;
	if (vt_client_connect(&plain, d.rpc, 1000) == VT_OK) {
		CU_ASSERT_NOT_EQUAL(
		    vt_client_health(plain, NULL, VT_RUN_CACHED, &s), VT_OK);
		vt_client_close(plain);
	}
}

/* Raw TCP clients that send the start of a ClientHello and then nothing
 * do not hold up a real client. */
static void test_half_handshake(void)
{
	static const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00,
						0x01, 0x00, 0x01, 0xfc, 0x03};
	int port = atoi(strrchr(d.rpc, ':') + 1);
	int fds[32];
	for (int i = 0; i < 32; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CU_ASSERT(connect(fds[i], (struct sockaddr *)&a, sizeof(a)) ==
			  0);
		CU_ASSERT(write(fds[i], partial, sizeof(partial)) ==
			  (ssize_t)sizeof(partial));
	}
	char opts[1200], *out = NULL;
	snprintf(opts, sizeof(opts),
		 "--cert '%s/client.pem' --key '%s/client.key'", dir, dir);
	double t0 = vt_test_now_ms();
	CU_ASSERT_EQUAL(ctl(opts, &out), 0);
	printf("\n  vitalsctl over TLS beside 32 stalled handshakes: %.0f ms\n",
	       vt_test_now_ms() - t0);
	CU_ASSERT(out != NULL && strstr(out, "root") != NULL);
	free(out);
	for (int i = 0; i < 32; i++)
		close(fds[i]);
}

/* The body of an HTTPS GET (curl's buffer). */
typedef struct body {
	char *p;
	size_t n;
} body;

static size_t body_add(char *ptr, size_t size, size_t nmemb, void *arg)
{
	body *b = arg;
	size_t len = size * nmemb;
	char *p = realloc(b->p, b->n + len + 1);
	if (p == NULL)
		return 0;
	memcpy(p + b->n, ptr, len);
	b->n += len;
	p[b->n] = '\0';
	b->p = p;
	return len;
}

/* GET https://127.0.0.1:PORT/path with libcurl, trusting ca (NULL: the
 * system's store); the status (0 when the transfer failed), the body in
 * *out (may be NULL; malloc'd). */
static long https_get(const char *path, const char *ca, char **out)
{
	char url[256];
	snprintf(url, sizeof(url), "https://%s%s", d.http, path);
	body b = {0};
	long status = 0;
	CURL *h = curl_easy_init();
	CU_ASSERT_FATAL(h != NULL);
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (ca != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_add);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		printf("\n  GET %s: %s\n", url, curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	if (out != NULL)
		*out = b.p;
	else
		free(b.p);
	return status;
}

static void test_https(void)
{
	char ca[600], *out = NULL;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	/* No client certificate: the gateway asks for none, ca or not. */
	CU_ASSERT_EQUAL(https_get("/health", ca, &out), 200);
	CU_ASSERT(out != NULL && strstr(out, "\"root\"") != NULL);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(https_get("/metrics", ca, &out), 200);
	CU_ASSERT(out != NULL && strstr(out, "vitals_check_status") != NULL);
	free(out);
	/* A client that does not trust the CA refuses the server (curl
	 * says why). */
	CU_ASSERT_EQUAL(https_get("/health", NULL, NULL), 0);
	/* Plain HTTP to the HTTPS port: no answer, the connection ends. */
	vt_test_resp r = {0};
	CU_ASSERT_FALSE(vt_test_http_request(d.http_port, "GET", "/health",
					     NULL, 5000, &r));
	CU_ASSERT_EQUAL(r.status, 0);
	vt_test_resp_free(&r);
	/* And the gateway goes on serving. */
	CU_ASSERT_EQUAL(https_get("/health", ca, NULL), 200);
}

/* Whether the server closed fd (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[256];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EINTR)
			return false; /* EAGAIN: timed out */
	}
}

/* Raw clients that send the start of a ClientHello to the gateway and
 * then nothing: HTTPS clients are served beside them, and the gateway
 * closes them once the header timeout (HEADER_MS) is up - well before
 * the idle timeout (60 s) that plain connections wait between requests. */
static void test_https_half_handshake(void)
{
	static const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00,
						0x01, 0x00, 0x01, 0xfc, 0x03};
	enum { N = 16 };
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port =
					    htons((uint16_t)d.http_port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CU_ASSERT(connect(fds[i], (struct sockaddr *)&a, sizeof(a)) ==
			  0);
		CU_ASSERT(write(fds[i], partial, sizeof(partial)) ==
			  (ssize_t)sizeof(partial));
	}
	char ca[600];
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	double t0 = vt_test_now_ms();
	CU_ASSERT_EQUAL(https_get("/health", ca, NULL), 200);
	CU_ASSERT_EQUAL(https_get("/metrics", ca, NULL), 200);
	printf("\n  2 HTTPS GETs beside %d stalled handshakes: %.0f ms", N,
	       vt_test_now_ms() - t0);
	t0 = vt_test_now_ms();
	for (int i = 0; i < N; i++) {
		CU_ASSERT(closed_within(fds[i], 20000));
		close(fds[i]);
	}
	printf("\n  stalled handshakes closed after %.0f ms more (header "
	       "timeout %d ms)\n",
	       vt_test_now_ms() - t0, HEADER_MS);
}

/* Lines of `vitalsctl watch` over TLS while dir/flag comes and goes. */
static void test_watch_tls(void)
{
	char bin[512], cmd[8192], *out = NULL;
	CU_ASSERT_FATAL(
	    vt_test_build_path("client/vitalsctl", bin, sizeof(bin)) != NULL);
	/* The watch ends after 3 s without a change; the flag flips every
	 * 600 ms before that, the first flip after the watch connected. */
	snprintf(cmd, sizeof(cmd),
		 "'%s' --pub tls+%s --ca '%s/ca.pem' --timeout 3000 watch "
		 ">'%s/watch.out' 2>&1 & "
		 "for i in 1 2 3 4 5; do sleep 0.6; rm -f '%s/flag'; "
		 "sleep 0.6; touch '%s/flag'; done; wait $!; echo rc=$?; "
		 "cat '%s/watch.out'",
		 bin, d.pub, dir, dir, dir, dir, dir);
	CU_ASSERT_EQUAL(vt_test_sh(cmd, &out), 0);
	CU_ASSERT(out != NULL && strstr(out, "rc=0") != NULL);
	CU_ASSERT(out != NULL && strstr(out, " flag ") != NULL);
	if (out == NULL || strstr(out, " flag ") == NULL)
		printf("\n  watch printed: %s\n", out != NULL ? out : "");
	free(out);
	/* Without the CA, watch says what is missing. */
	snprintf(cmd, sizeof(cmd),
		 "'%s' --pub tls+%s --timeout 1000 watch 2>&1", bin, d.pub);
	out = NULL;
	CU_ASSERT_NOT_EQUAL(vt_test_sh(cmd, &out), 0);
	CU_ASSERT(out != NULL && strstr(out, "--ca") != NULL);
	free(out);
}

/* --check-config of a file with a token, an http bind (NULL: none) and
 * an rpc bind; its status and output. */
static int check_token_config(const char *http, const char *rpc,
			      const char *extra, char **out)
{
	char text[2048], hq[128], path[600], bin[512], cmd[1400];
	snprintf(hq, sizeof(hq), http != NULL ? "\"%s\"" : "null",
		 http != NULL ? http : "");
	snprintf(text, sizeof(text),
		 "{\"http\": %s, \"rpc\": \"%s\", \"pub\": null, "
		 "\"token_env\": \"VT_TEST_TLS_TOKEN\", %s \"checks\": []}",
		 hq, rpc, extra);
	vt_test_write_file("token.json", text, path, sizeof(path));
	CU_ASSERT_FATAL(vt_test_build_path("vitalsd", bin, sizeof(bin)) !=
			NULL);
	snprintf(cmd, sizeof(cmd),
		 "VT_TEST_TLS_TOKEN=s3cret '%s' --check-config '%s' 2>&1", bin,
		 path);
	return vt_test_sh(cmd, out);
}

/* check_token_config's status; its output must hold want (if not NULL). */
static int token_config(const char *http, const char *rpc, const char *extra,
			const char *want)
{
	char *out = NULL;
	int rc = check_token_config(http, rpc, extra, &out);
	if (want != NULL) {
		CU_ASSERT(out != NULL && strstr(out, want) != NULL);
		if (out == NULL || strstr(out, want) == NULL)
			printf("\n  --check-config said: %s\n",
			       out != NULL ? out : "");
	}
	free(out);
	return rc;
}

static void test_plaintext_token(void)
{
	const char *any = "tcp://0.0.0.0:5555", *lo = "tcp://127.0.0.1:5555";
	const char *allow = "\"allow_plaintext_token\": true,";
	CU_ASSERT_EQUAL(token_config(NULL, any, "", "allow_plaintext_token"),
			1);
	CU_ASSERT_EQUAL(token_config(NULL, any, "", "clear text"), 1);
	CU_ASSERT_EQUAL(token_config(NULL, any, allow, NULL), 0);
	CU_ASSERT_EQUAL(token_config(NULL, lo, "", NULL), 0);
	char tls[1600];
	snprintf(tls, sizeof(tls),
		 "\"tls\": {\"cert\": \"%s/server.pem\", \"key\": "
		 "\"%s/server.key\"},",
		 dir, dir);
	CU_ASSERT_EQUAL(token_config(NULL, any, tls, NULL), 0);

	/* The gateway: plain HTTP to a non-loopback bind refused unless
	 * allowed; HTTPS (with "tls") accepted, unless http:// says plain. */
	CU_ASSERT_EQUAL(token_config("0.0.0.0:8080", lo, "", "clear text"), 1);
	CU_ASSERT_EQUAL(token_config("0.0.0.0:8080", lo, allow, NULL), 0);
	CU_ASSERT_EQUAL(token_config("127.0.0.1:8080", lo, "", NULL), 0);
	CU_ASSERT_EQUAL(token_config("0.0.0.0:8080", lo, tls, NULL), 0);
	CU_ASSERT_EQUAL(token_config("https://0.0.0.0:8080", any, tls, NULL),
			0);
	CU_ASSERT_EQUAL(
	    token_config("http://0.0.0.0:8080", lo, tls, "http://0.0.0.0:8080"),
	    1);
	CU_ASSERT_EQUAL(token_config("http://127.0.0.1:8080", lo, tls, NULL),
			0);
	/* https:// needs "tls". */
	CU_ASSERT_EQUAL(token_config("https://127.0.0.1:8080", lo, "",
				     "https:// needs \"tls\""),
			1);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"mutual TLS: right certificate served, wrong one refused",
	     test_mtls},
	    {"handshakes stopped half way block no one", test_half_handshake},
	    {"HTTPS gateway: served with the CA, plain HTTP dropped",
	     test_https},
	    {"HTTPS handshakes stopped half way: others served, cut in time",
	     test_https_half_handshake},
	    {"vitalsctl watch over TLS", test_watch_tls},
	    {"token over plain TCP or HTTP to a non-loopback bind refused",
	     test_plaintext_token},
	    {NULL, NULL},
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = vt_test_main("tls", tests);
	curl_global_cleanup();
	vt_test_stop(d.pid);
	return rc;
}
