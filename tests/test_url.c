/*
 * test_url.c - URL parsing of the checks (src/checks/url.c) and
 * vt_url_redact: what a check reads out of a URL, and that no password
 * is ever shown, whatever the URL looks like.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks/url.h"
#include "testutil.h"
#include "vitals/checks.h"

/* Parses text, expecting success. */
static vt__url parse_ok(const char *text)
{
	vt__url u;
	memset(&u, 0xAB, sizeof(u));
	vt_err e = vt__url_parse(text, &u);
	CU_ASSERT_EQUAL_FATAL(e, VT_OK);
	return u;
}

static void expect_str(const char *got, const char *want)
{
	if (want == NULL) {
		CU_ASSERT_PTR_NULL(got);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_parse_parts(void)
{
	vt__url u = parse_ok("redis://:pw@example.com:6380/2");
	expect_str(u.scheme, "redis");
	expect_str(u.user, "");
	expect_str(u.password, "pw");
	expect_str(u.password_raw, "pw");
	expect_str(u.host, "example.com");
	CU_ASSERT_FALSE(u.host_v6);
	CU_ASSERT_EQUAL(u.port, 6380);
	expect_str(u.path, "/2");
	expect_str(u.query, NULL);
	vt__url_fini(&u);

	u = parse_ok("REDIS://host");
	expect_str(u.scheme, "redis");
	expect_str(u.user, NULL);
	expect_str(u.password, NULL);
	expect_str(u.password_raw, NULL);
	expect_str(u.host, "host");
	CU_ASSERT_EQUAL(u.port, 0);
	expect_str(u.path, "");
	vt__url_fini(&u);

	/* The password both decoded and as written: a text quoting either
	 * must not be shown. */
	u = parse_ok("http://u:p%40ss@h/");
	expect_str(u.password, "p@ss");
	expect_str(u.password_raw, "p%40ss");
	vt__url_fini(&u);

	u = parse_ok("amqp://guest@h:/vh?heartbeat=5#frag");
	expect_str(u.user, "guest");
	expect_str(u.password, NULL);
	CU_ASSERT_EQUAL(u.port, 0);
	expect_str(u.path, "/vh");
	expect_str(u.query, "heartbeat=5");
	vt__url_fini(&u);

	u = parse_ok("redis://user:@h");
	expect_str(u.user, "user");
	expect_str(u.password, "");
	vt__url_fini(&u);

	/* fini twice is harmless: it zeroes. */
	vt__url_fini(&u);
	vt__url_fini(NULL);
}

static void test_parse_ipv6_and_unix(void)
{
	vt__url u = parse_ok("redis://[::1]:7000/1");
	expect_str(u.host, "::1");
	CU_ASSERT_TRUE(u.host_v6);
	CU_ASSERT_EQUAL(u.port, 7000);
	vt__url_fini(&u);

	u = parse_ok("amqp://u:p@[fe80::1:2]/");
	expect_str(u.host, "fe80::1:2");
	CU_ASSERT_EQUAL(u.port, 0);
	expect_str(u.path, "/");
	vt__url_fini(&u);

	u = parse_ok("unix:///run/redis/redis.sock?db=3&password=s%26cret");
	expect_str(u.scheme, "unix");
	expect_str(u.host, "");
	expect_str(u.path, "/run/redis/redis.sock");
	char *v = NULL;
	CU_ASSERT_EQUAL(vt__url_query_get(u.query, "db", &v), VT_OK);
	expect_str(v, "3");
	free(v);
	CU_ASSERT_EQUAL(vt__url_query_get(u.query, "password", &v), VT_OK);
	expect_str(v, "s&cret");
	free(v);
	CU_ASSERT_EQUAL(vt__url_query_get(u.query, "d", &v), VT_ENOENT);
	CU_ASSERT_EQUAL(vt__url_query_get(NULL, "db", &v), VT_ENOENT);
	vt__url_fini(&u);

	u = parse_ok("unix://:pw@/tmp/s.sock");
	expect_str(u.password, "pw");
	expect_str(u.host, "");
	expect_str(u.path, "/tmp/s.sock");
	vt__url_fini(&u);

	char *flag = NULL;
	CU_ASSERT_EQUAL(vt__url_query_get("a=1&flag&b=2", "flag", &flag),
			VT_OK);
	expect_str(flag, "");
	free(flag);
	CU_ASSERT_EQUAL(vt__url_query_get("a=%zz", "a", &flag), VT_EINVAL);
}

static void test_parse_credentials_decoded(void)
{
	/* Percent-encoded user and password, and an unencoded '@' in the
	 * password (the last '@' of the authority ends the user info). */
	vt__url u = parse_ok("amqp://us%40er:p%3Ass%2Fw%25@host/%2f");
	expect_str(u.user, "us@er");
	expect_str(u.password, "p:ss/w%");
	expect_str(u.host, "host");
	expect_str(u.path, "/%2f"); /* paths stay raw */
	vt__url_fini(&u);

	u = parse_ok("redis://:p@ss:w@host:1");
	expect_str(u.user, "");
	expect_str(u.password, "p@ss:w");
	expect_str(u.host, "host");
	CU_ASSERT_EQUAL(u.port, 1);
	vt__url_fini(&u);

	char *d = NULL;
	CU_ASSERT_EQUAL(vt__url_decode("%41b+%7e", 8, &d), VT_OK);
	expect_str(d, "Ab+~");
	free(d);
	CU_ASSERT_EQUAL(vt__url_decode("%4", 2, &d), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__url_decode("%g1", 3, &d), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__url_decode("a%00b", 5, &d), VT_EINVAL);
	CU_ASSERT_EQUAL(vt__url_decode("", 0, &d), VT_OK);
	expect_str(d, "");
	free(d);
}

static void test_parse_rejects(void)
{
	static const char *const bad[] = {
	    "",
	    "not a url",
	    "host:6379",
	    "redis:/host",
	    "://host",
	    "1redis://host",
	    "redis://host:99999",
	    "redis://host:0",
	    "redis://host:12ab",
	    "redis://host:123456",
	    "redis://ho st",
	    "redis://ho\tst",
	    "redis://h/\x7f",
	    "redis://:p%zz@h",
	    "redis://:p%00@h",
	    "redis://[::1",
	    "redis://[::1]x",
	    "redis://[zz::1]",
	    "redis://[1.2.3.4]",
	    "redis://[]:1",
	    "redis://h*st",
	    NULL,
	};
	for (size_t i = 0; bad[i] != NULL; i++) {
		vt__url u;
		memset(&u, 0x5A, sizeof(u));
		vt__url before = u;
		vt_err e = vt__url_parse(bad[i], &u);
		if (e != VT_EINVAL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(e, VT_EINVAL);
		/* out-parameters are written only on success */
		CU_ASSERT_EQUAL(memcmp(&u, &before, sizeof(u)), 0);
	}
	CU_ASSERT_EQUAL(vt__url_parse(NULL, NULL), VT_EINVAL);

	size_t n = VT__URL_MAX + 10;
	char *big = malloc(n + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, "http://h/", 9);
	memset(big + 9, 'a', n - 9);
	big[n] = '\0';
	vt__url u;
	CU_ASSERT_EQUAL(vt__url_parse(big, &u), VT_EINVAL);
	big[VT__URL_MAX] = '\0';
	CU_ASSERT_EQUAL(vt__url_parse(big, &u), VT_OK);
	vt__url_fini(&u);
	free(big);
}

/* Redacts in into a roomy buffer and compares with want. */
static void expect_redact(const char *in, const char *want)
{
	char out[512];
	memset(out, 'X', sizeof(out));
	vt_url_redact(in, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fprintf(stderr, "redact(%s) = %s, want %s\n", in, out, want);
	CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_redact_passwords(void)
{
	expect_redact("redis://:secret@127.0.0.1:6379/0",
		      "redis://:***@127.0.0.1:6379/0");
	expect_redact("amqp://guest:guest@h:5672/", "amqp://guest:***@h:5672/");
	expect_redact("redis://alice:s3cr3t@[::1]:6379",
		      "redis://alice:***@[::1]:6379");
	/* Percent-encoded passwords are hidden whole, escapes and all. */
	expect_redact("amqp://u:p%40ss%2Fw%3A@h/%2f", "amqp://u:***@h/%2f");
	/* An unencoded '@' in the password: the last '@' ends it. */
	expect_redact("redis://:p@ss@h:1", "redis://:***@h:1");
	/* An empty password is still shown as hidden. */
	expect_redact("redis://user:@h", "redis://user:***@h");
	/* Scheme of any kind, user info of unix URLs. */
	expect_redact("HTTPS://user:pw@example.com/x?y=1",
		      "HTTPS://user:***@example.com/x?y=1");
	expect_redact("unix://:pw@/tmp/r.sock?db=1",
		      "unix://:***@/tmp/r.sock?db=1");
}

static void test_redact_unchanged(void)
{
	/* No password: as is. */
	expect_redact("amqp://guest@h/", "amqp://guest@h/");
	expect_redact("http://example.com:8080/a/b?c=d#e",
		      "http://example.com:8080/a/b?c=d#e");
	expect_redact("unix:///tmp/redis.sock", "unix:///tmp/redis.sock");
	/* '@' in a path or query is not user info. */
	expect_redact("http://h:80/@me", "http://h:80/@me");
	expect_redact("http://h/?email=a@b.c", "http://h/?email=a@b.c");
	expect_redact("http://u:pw@h/?email=a@b.c",
		      "http://u:***@h/?email=a@b.c");
	/* Not a URL: copied unchanged. */
	expect_redact("", "");
	expect_redact("hello world", "hello world");
	expect_redact("host:6379", "host:6379");
	expect_redact("redis:/x:y@z", "redis:/x:y@z");
	char out[8] = "zzzzzzz";
	vt_url_redact(NULL, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "");
	vt_url_redact("redis://:pw@h", out, 0); /* cap 0: nothing written */
	CU_ASSERT_EQUAL(out[0], '\0');
	vt_url_redact("x", NULL, 10);
}

static void test_redact_odd_urls(void)
{
	/* A password with an unencoded '/', '?' or '#' makes the authority
	 * unparsable: everything up to the last '@' is hidden. */
	expect_redact("redis://:pa/ss@h:1/0", "redis://:***@h:1/0");
	expect_redact("redis://u:pa?ss@h", "redis://u:***@h");
	expect_redact("redis://u:pa#ss@h/", "redis://u:***@h/");
	/* No host after a colon: hide what follows it. */
	expect_redact("redis://:secret", "redis://:***");
	expect_redact("redis://:secret/0", "redis://:***/0");
	/* Query parameters that carry credentials. */
	expect_redact("http://h/x?a=1&password=pw&Token=t&b=2#f",
		      "http://h/x?a=1&password=***&Token=***&b=2#f");
	expect_redact("unix:///s.sock?db=1&password=s3cret",
		      "unix:///s.sock?db=1&password=***");
	expect_redact("http://h/?api_key=k&passwordx=y",
		      "http://h/?api_key=***&passwordx=y");
	/* Both at once. */
	expect_redact("redis://:a@h/?pwd=b", "redis://:***@h/?pwd=***");
	/* The fragment is not a query. */
	expect_redact("http://h/#?password=x", "http://h/#?password=x");
}

static void test_redact_truncation(void)
{
	const char *url = "redis://user:secret@host:6379/0?token=tok3n";
	char full[256];
	vt_url_redact(url, full, sizeof(full));
	CU_ASSERT_STRING_EQUAL(full, "redis://user:***@host:6379/0?token=***");
	for (size_t cap = 1; cap < sizeof(full); cap++) {
		char out[256];
		memset(out, 'X', sizeof(out));
		vt_url_redact(url, out, cap);
		size_t n = strlen(out);
		CU_ASSERT(n < cap);
		CU_ASSERT(n == strlen(full) || n == cap - 1);
		CU_ASSERT_EQUAL(strncmp(out, full, n), 0);
		CU_ASSERT_PTR_NULL(strstr(out, "secret"));
		CU_ASSERT_PTR_NULL(strstr(out, "tok3n"));
		CU_ASSERT_EQUAL(out[cap], 'X'); /* nothing past cap */
	}

	/* A cut never splits a UTF-8 character. */
	char out[16];
	vt_url_redact("http://h/\xc3\xa4\xc3\xa4", out, 12); /* 9 + 2 fit */
	CU_ASSERT_STRING_EQUAL(out, "http://h/\xc3\xa4");
	vt_url_redact("http://h/\xc3\xa4\xc3\xa4", out, 13); /* 9 + 3 */
	CU_ASSERT_STRING_EQUAL(out, "http://h/\xc3\xa4");
	vt_url_redact("http://h/\xe2\x82\xac", out, 12); /* euro sign cut */
	CU_ASSERT_STRING_EQUAL(out, "http://h/");
	vt_url_redact("plain \xe2\x82\xac", out, 9);
	CU_ASSERT_STRING_EQUAL(out, "plain ");
}

static void test_hostport_and_scrub(void)
{
	char hp[64];
	vt__url_hostport("127.0.0.1", false, 6379, hp, sizeof(hp));
	CU_ASSERT_STRING_EQUAL(hp, "127.0.0.1:6379");
	vt__url_hostport("::1", true, 5672, hp, sizeof(hp));
	CU_ASSERT_STRING_EQUAL(hp, "[::1]:5672");
	vt__url_hostport("example.com", false, 1, hp, 5);
	CU_ASSERT_STRING_EQUAL(hp, "exam");

	char t[64] = "ERR bad pw hunter2 and hunter2!";
	vt__scrub(t, sizeof(t), "hunter2");
	CU_ASSERT_STRING_EQUAL(t, "ERR bad pw *** and ***!");
	vt__scrub(t, sizeof(t), "");
	vt__scrub(t, sizeof(t), NULL);
	CU_ASSERT_STRING_EQUAL(t, "ERR bad pw *** and ***!");
	char s[8] = "ab";
	vt__scrub(s, sizeof(s), "ab"); /* a longer result than the input */
	CU_ASSERT_STRING_EQUAL(s, "***");
	char u[6] = "xxaba";
	vt__scrub(u, sizeof(u), "ab");
	CU_ASSERT_STRING_EQUAL(u, "xx***"); /* cut to the buffer */
	CU_ASSERT_PTR_NULL(strstr(u, "ab"));
}

int main(void)
{
	static const vt_test tests[] = {
	    {"parse parts", test_parse_parts},
	    {"parse ipv6 and unix", test_parse_ipv6_and_unix},
	    {"parse credentials decoded", test_parse_credentials_decoded},
	    {"parse rejects", test_parse_rejects},
	    {"redact passwords", test_redact_passwords},
	    {"redact leaves others unchanged", test_redact_unchanged},
	    {"redact odd urls", test_redact_odd_urls},
	    {"redact truncation", test_redact_truncation},
	    {"hostport and scrub", test_hostport_and_scrub},
	    {NULL, NULL},
	};
	return vt_test_main("url", tests);
}
