/*
 * test_dmarket_check.c - the dmarket check against a fake DMarket server
 * on loopback (support_httpd) that verifies the Ed25519 request
 * signature with the public key it is configured with.
 *
 * Key pairs are made here with OpenSSL: the check's secret key is
 * hex(seed || public key), as DMarket hands it out. The right pair is
 * healthy, a pair the server does not know is refused (401, unhealthy),
 * no keys use the public market endpoint. The secret never appears in
 * what the check shows, nor on the wire.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support_httpd.h"
#include "support_net.h"
#include "testutil.h"
#include "vitals/checks.h"
#include "vitals/encode.h"

static vt_test_keypair key_a, key_b;
static vt_test_httpd *dm; /* trusts key_a */
static char base_url[128];

static vt_health *health_new(void)
{
	vt_health *h = NULL;
	CU_ASSERT_FATAL(vt_health_alloc(&h, NULL) == VT_OK);
	return h;
}

/* Asserts that neither the secret key nor its seed, in either case,
 * occurs in text. */
static void assert_no_secret(const char *text, const vt_test_keypair *k)
{
	char upper[129];
	for (int i = 0; i < 129; i++)
		upper[i] = (char)toupper((unsigned char)k->secret_hex[i]);
	CU_ASSERT_PTR_NULL(strstr(text, k->secret_hex));
	CU_ASSERT_PTR_NULL(strstr(text, k->seed_hex));
	CU_ASSERT_PTR_NULL(strstr(text, upper));
	upper[64] = '\0';
	CU_ASSERT_PTR_NULL(strstr(text, upper));
}

/* The snapshot's JSON, checked to hold no secret of k. */
static void assert_json_clean(const vt_health_snapshot *s,
			      const vt_test_keypair *k)
{
	char *json;
	size_t len;
	CU_ASSERT_FATAL(vt_json_health(s, &json, &len) == VT_OK);
	assert_no_secret(json, k);
	free(json);
}

static void test_signed_ok(void)
{
	vt_health *h = health_new();
	vt_dmarket_opts o = {.base_url = base_url,
			     .public_key = key_a.pub_hex,
			     .secret_key = key_a.secret_hex};
	CU_ASSERT_FATAL(vt_check_dmarket_add(h, "dmarket", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "dmarket", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	CU_ASSERT_PTR_NULL(c->error);
	const vt_detail *d = vt_test_detail(c, "status_code");
	CU_ASSERT(d != NULL && d->num == 200);
	d = vt_test_detail(c, "signed");
	CU_ASSERT(d != NULL && d->kind == VT_DETAIL_BOOL && d->b);
	assert_json_clean(s, &key_a);
	vt_health_snapshot_free(s);

	/* What went over the wire: the documented headers, no secret. */
	vt_test_request q;
	CU_ASSERT_FATAL(vt_test_httpd_last(dm, &q));
	CU_ASSERT_STRING_EQUAL(q.method, "GET");
	CU_ASSERT_STRING_EQUAL(q.target, "/account/v1/balance");
	CU_ASSERT_EQUAL(q.status, 200);
	char v[256];
	CU_ASSERT(vt_test_request_header(&q, "X-Api-Key", v, sizeof(v)) &&
		  strcmp(v, key_a.pub_hex) == 0);
	CU_ASSERT(vt_test_request_header(&q, "X-Sign-Date", v, sizeof(v)));
	long long ts = strtoll(v, NULL, 10);
	CU_ASSERT(ts > (long long)time(NULL) - 30 &&
		  ts <= (long long)time(NULL) + 1);
	CU_ASSERT(vt_test_request_header(&q, "X-Request-Sign", v, sizeof(v)));
	CU_ASSERT(strncmp(v, "dmar ed25519 ", 13) == 0 &&
		  strlen(v) == 13 + 128);
	assert_no_secret(q.headers, &key_a);
	vt_health_free(h);
}

/* Key pair B is valid and consistent, but the server trusts A only. */
static void test_unknown_key_refused(void)
{
	vt_health *h = health_new();
	vt_dmarket_opts o = {.base_url = base_url,
			     .public_key = key_b.pub_hex,
			     .secret_key = key_b.secret_hex};
	CU_ASSERT_FATAL(vt_check_dmarket_add(h, "dmarket", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "dmarket", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(c->error != NULL && strstr(c->error, "401") != NULL);
	if (c->error != NULL)
		assert_no_secret(c->error, &key_b);
	assert_json_clean(s, &key_b);
	vt_health_snapshot_free(s);
	vt_test_request q;
	CU_ASSERT(vt_test_httpd_last(dm, &q) && q.status == 401);
	vt_health_free(h);
}

static void test_public_endpoint(void)
{
	vt_health *h = health_new();
	char slash[160];
	snprintf(slash, sizeof(slash), "%s/", base_url); /* trailing '/' */
	vt_dmarket_opts o = {.base_url = slash};
	CU_ASSERT_FATAL(vt_check_dmarket_add(h, "public", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "public", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	const vt_detail *d = vt_test_detail(c, "signed");
	CU_ASSERT(d != NULL && !d->b);
	vt_health_snapshot_free(s);
	vt_test_request q;
	CU_ASSERT_FATAL(vt_test_httpd_last(dm, &q));
	CU_ASSERT_STRING_EQUAL(
	    q.target,
	    "/exchange/v1/market/items?gameId=a8db&limit=1&currency=USD");
	char v[256];
	CU_ASSERT(!vt_test_request_header(&q, "X-Api-Key", v, sizeof(v)));
	CU_ASSERT(!vt_test_request_header(&q, "X-Request-Sign", v, sizeof(v)));
	vt_health_free(h);
}

/* Upper-case hex is accepted; the key goes out in lower case, as
 * DMarket requires. */
static void test_upper_case_keys(void)
{
	char pub[65], secret[129];
	for (int i = 0; i < 65; i++)
		pub[i] = (char)toupper((unsigned char)key_a.pub_hex[i]);
	for (int i = 0; i < 129; i++)
		secret[i] = (char)toupper((unsigned char)key_a.secret_hex[i]);
	vt_health *h = health_new();
	vt_dmarket_opts o = {
	    .base_url = base_url, .public_key = pub, .secret_key = secret};
	CU_ASSERT_FATAL(vt_check_dmarket_add(h, "dmarket", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "dmarket", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_HEALTHY);
	assert_json_clean(s, &key_a);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

static void test_server_down(void)
{
	vt_health *h = health_new();
	char url[128];
	int port = vt_test_free_port(); /* nothing listens there */
	CU_ASSERT_FATAL(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	vt_dmarket_opts o = {.base_url = url,
			     .public_key = key_a.pub_hex,
			     .secret_key = key_a.secret_hex};
	CU_ASSERT_FATAL(vt_check_dmarket_add(h, "dmarket", &o, NULL) == VT_OK);
	vt_health_snapshot *s;
	const vt_component *c = vt_test_run_one(h, "dmarket", &s, NULL);
	CU_ASSERT_EQUAL(c->status, VT_UNHEALTHY);
	CU_ASSERT(c->error != NULL && strstr(c->error, "cannot connect"));
	assert_json_clean(s, &key_a);
	vt_health_snapshot_free(s);
	vt_health_free(h);
}

static void test_invalid_keys(void)
{
	vt_health *h = health_new();
	/* Seed of A with public half B; public A and secret B; etc. */
	char mixed[129], badhex[129], shortsec[127];
	memcpy(mixed, key_a.seed_hex, 64);
	memcpy(mixed + 64, key_b.pub_hex, 65);
	memcpy(badhex, key_a.secret_hex, 129);
	badhex[10] = 'g';
	memcpy(shortsec, key_a.secret_hex, 126);
	shortsec[126] = '\0';
	struct {
		const char *base, *pub, *sec;
	} bad[] = {
	    {base_url, key_a.pub_hex, key_b.secret_hex}, /* not the pair */
	    {base_url, key_a.pub_hex, mixed},		 /* halves disagree */
	    {base_url, key_b.pub_hex, mixed},  /* seed A derives A, not B */
	    {base_url, key_a.pub_hex, badhex}, /* not hex */
	    {base_url, key_a.pub_hex, shortsec},
	    {base_url, key_a.seed_hex + 2, key_a.secret_hex}, /* short pub */
	    {base_url, key_a.pub_hex, NULL},
	    {base_url, NULL, key_a.secret_hex},
	    {"ftp://127.0.0.1", NULL, NULL},
	    {"not a url", NULL, NULL},
	    {"http://127.0.0.1:1/?x=1", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vt_dmarket_opts o = {.base_url = bad[i].base,
				     .public_key = bad[i].pub,
				     .secret_key = bad[i].sec};
		CU_ASSERT_EQUAL(vt_check_dmarket_add(h, "dm", &o, NULL),
				VT_EINVAL);
	}
	vt_health_filter f = {.name = "dm"};
	vt_health_snapshot *s = NULL;
	CU_ASSERT_EQUAL(vt_health_run(h, &f, VT_RUN_CACHED, &s), VT_ENOENT);
	vt_health_free(h);
}

int main(void)
{
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	if (!vt_test_keypair_gen(&key_a) || !vt_test_keypair_gen(&key_b)) {
		fprintf(stderr, "cannot generate Ed25519 keys\n");
		return 2;
	}
	dm = vt_test_dmarket_start(key_a.pub);
	if (dm == NULL) {
		fprintf(stderr, "cannot start the fake DMarket server\n");
		return 2;
	}
	vt_test_httpd_url(dm, "", base_url, sizeof(base_url));
	static const vt_test tests[] = {
	    {"signed balance with the right keys: healthy", test_signed_ok},
	    {"keys the server does not know: 401, unhealthy",
	     test_unknown_key_refused},
	    {"no keys: public market endpoint", test_public_endpoint},
	    {"upper-case hex keys", test_upper_case_keys},
	    {"server down: unhealthy", test_server_down},
	    {"bad keys and base URLs refused at registration",
	     test_invalid_keys},
	    {NULL, NULL},
	};
	int rc = vt_test_main("dmarket_check", tests);
	vt_test_httpd_stop(dm);
	return rc;
}
