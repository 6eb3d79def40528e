/*
 * test_tls.c - vitalsd's RPC over TLS (tls+tcp://, nng 1.5.2's mbedTLS
 * engine) with certificates made here by `openssl req`: vitalsctl and
 * libvitals-client with the right client certificate get answers; a
 * client certificate from another CA, or none, is refused (mutual TLS);
 * handshakes that stop half way do not block other clients; and a
 * bearer token over plain TCP to a non-loopback bind is refused at
 * config check unless allowed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support_daemon.h"
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
	char top[2048];
	snprintf(top, sizeof(top),
		 "\"tls\": {\"cert\": \"%s/server.pem\", \"key\": "
		 "\"%s/server.key\", \"ca\": \"%s/ca.pem\"},",
		 dir, dir, dir);
	CU_ASSERT_FATAL(vt_test_daemon_start(
	    &d, "tls", top,
	    "{\"name\": \"root\", \"type\": \"disk\", \"path\": \"/\"}", 0));
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
	CU_ASSERT(s != NULL && s->ncomponents == 1);
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

/* --check-config of a file with a token and an rpc bind; its status
 * and output. */
static int check_token_config(const char *rpc, const char *extra, char **out)
{
	char text[1024], path[600], bin[512], cmd[1400];
	snprintf(text, sizeof(text),
		 "{\"http\": null, \"rpc\": \"%s\", \"pub\": null, "
		 "\"token_env\": \"VT_TEST_TLS_TOKEN\", %s \"checks\": []}",
		 rpc, extra);
	vt_test_write_file("token.json", text, path, sizeof(path));
	CU_ASSERT_FATAL(vt_test_build_path("vitalsd", bin, sizeof(bin)) !=
			NULL);
	snprintf(cmd, sizeof(cmd),
		 "VT_TEST_TLS_TOKEN=s3cret '%s' --check-config '%s' 2>&1", bin,
		 path);
	return vt_test_sh(cmd, out);
}

static void test_plaintext_token(void)
{
	char *out = NULL;
	CU_ASSERT_EQUAL(check_token_config("tcp://0.0.0.0:5555", "", &out), 1);
	CU_ASSERT(out != NULL && strstr(out, "clear text") != NULL &&
		  strstr(out, "allow_plaintext_token") != NULL);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(check_token_config("tcp://0.0.0.0:5555",
					   "\"allow_plaintext_token\": true,",
					   &out),
			0);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(check_token_config("tcp://127.0.0.1:5555", "", &out),
			0);
	free(out);
	char tls[1600];
	snprintf(tls, sizeof(tls),
		 "\"tls\": {\"cert\": \"%s/server.pem\", \"key\": "
		 "\"%s/server.key\"},",
		 dir, dir);
	out = NULL;
	CU_ASSERT_EQUAL(check_token_config("tcp://0.0.0.0:5555", tls, &out), 0);
	free(out);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"mutual TLS: right certificate served, wrong one refused",
	     test_mtls},
	    {"handshakes stopped half way block no one", test_half_handshake},
	    {"token over plain TCP to a non-loopback bind refused",
	     test_plaintext_token},
	    {NULL, NULL},
	};
	int rc = vt_test_main("tls", tests);
	vt_test_stop(d.pid);
	return rc;
}
