/*
 * test_config.c - vitalsd's configuration file (src/daemon/config.c):
 * a full file of every check type read into the struct with defaults
 * filled in, then each way a file is refused, with the message naming
 * the file, the check and the field; building the checks on a registry;
 * listener overrides and the log description with redacted URLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "testutil.h"

#define F "/etc/vitals.json"

/* RFC 8032 test 1: seed || public key, and the public key. */
#define SECRET                                                                 \
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"     \
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define PUBLIC                                                                 \
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define OTHER_PUBLIC                                                           \
	"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"

static char err[1024];

static vt__config *parse_ok(const char *text)
{
	vt__config *cfg = NULL;
	vt_err rv =
	    vt__config_parse(&cfg, text, strlen(text), F, err, sizeof(err));
	if (rv != VT_OK)
		fprintf(stderr, "\nunexpected error: %s\n", err);
	CU_ASSERT_FATAL(rv == VT_OK);
	CU_ASSERT_FATAL(cfg != NULL);
	return cfg;
}

/* Parses text, expecting a refusal whose message is exactly want. */
static void refused(const char *text, const char *want)
{
	vt__config *cfg = NULL;
	vt_err rv =
	    vt__config_parse(&cfg, text, strlen(text), F, err, sizeof(err));
	CU_ASSERT(rv != VT_OK);
	CU_ASSERT(cfg == NULL);
	if (strcmp(err, want) != 0)
		fprintf(stderr, "\n got: %s\nwant: %s\n", err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
	vt__config_free(cfg);
}

/* Parses one check object (JSON text), expecting the message
 * F ": checks[0] ..." + want. */
static void check_refused(const char *check, const char *want)
{
	char text[4096], full[2048];
	snprintf(text, sizeof(text), "{\"checks\":[%s]}", check);
	snprintf(full, sizeof(full), F ": %s", want);
	refused(text, full);
}

static void test_full_file(void)
{
	setenv("VT_TEST_DMARKET_SECRET", SECRET, 1);
	vt__config *cfg = parse_ok(
	    "{\"http\": \"127.0.0.1:8080\", \"rpc\": "
	    "\"tcp://127.0.0.1:5555\",\n"
	    " \"pub\": \"ipc:///tmp/vitals-pub\", \"workers\": 8,\n"
	    " \"degraded_http_code\": 429,\n"
	    " \"checks\": [\n"
	    "  {\"name\": \"redis\", \"type\": \"redis\", \"url\": "
	    "\"redis://:pw@127.0.0.1:6379/0\",\n"
	    "   \"interval_ms\": 5000, \"timeout_ms\": 1000, \"degraded_ms\": "
	    "100,\n"
	    "   \"critical\": true, \"tags\": [\"ready\", \"live\"], "
	    "\"connect_timeout_ms\": 300,\n"
	    "   \"command_timeout_ms\": 400, \"failures_before_unhealthy\": "
	    "3,\n"
	    "   \"successes_before_healthy\": 2},\n"
	    "  {\"name\": \"queue\", \"type\": \"rabbitmq\", \"url\": "
	    "\"amqp://guest:guest@127.0.0.1:5672/\",\n"
	    "   \"queue\": \"orders\", \"degraded_above\": 1000, \"critical\": "
	    "false},\n"
	    "  {\"name\": \"api\", \"type\": \"http\", \"url\": "
	    "\"http://127.0.0.1:9000/ping\",\n"
	    "   \"expect_status\": 204, \"method\": \"HEAD\", \"insecure\": "
	    "true},\n"
	    "  {\"name\": \"dmarket\", \"type\": \"dmarket\", \"base_url\": "
	    "\"https://api.dmarket.com\",\n"
	    "   \"public_key\": \"" PUBLIC "\", \"secret_key_env\": "
	    "\"VT_TEST_DMARKET_SECRET\"},\n"
	    "  {\"name\": \"port\", \"type\": \"tcp\", \"address\": "
	    "\"127.0.0.1:5432\"},\n"
	    "  {\"name\": \"disk\", \"type\": \"disk\", \"path\": \"/\", "
	    "\"degraded_free_pct\": 10,\n"
	    "   \"unhealthy_free_pct\": 5.5},\n"
	    "  {\"name\": \"load\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/echo\", \"-w\", \"5\", \"-c\", \"10\"]}]}\n");
	CU_ASSERT_STRING_EQUAL(cfg->path, F);
	CU_ASSERT_STRING_EQUAL(cfg->http, "127.0.0.1:8080");
	CU_ASSERT_STRING_EQUAL(cfg->rpc, "tcp://127.0.0.1:5555");
	CU_ASSERT_STRING_EQUAL(cfg->pub, "ipc:///tmp/vitals-pub");
	CU_ASSERT_EQUAL(cfg->workers, 8);
	CU_ASSERT_EQUAL(cfg->degraded_http_code, 429);
	CU_ASSERT_EQUAL_FATAL(cfg->nchecks, 7);

	const vt__check_conf *k = &cfg->checks[0];
	CU_ASSERT_STRING_EQUAL(k->name, "redis");
	CU_ASSERT_EQUAL(k->type, VT__CHECK_REDIS);
	CU_ASSERT_STRING_EQUAL(k->url, "redis://:pw@127.0.0.1:6379/0");
	CU_ASSERT_EQUAL(k->opts.interval_ms, 5000);
	CU_ASSERT_EQUAL(k->opts.timeout_ms, 1000);
	CU_ASSERT_EQUAL(k->opts.degraded_ms, 100);
	CU_ASSERT(k->opts.critical);
	CU_ASSERT_EQUAL_FATAL(k->opts.ntags, 2);
	CU_ASSERT_STRING_EQUAL(k->opts.tags[0], "ready");
	CU_ASSERT_STRING_EQUAL(k->opts.tags[1], "live");
	CU_ASSERT_EQUAL(k->connect_timeout_ms, 300);
	CU_ASSERT_EQUAL(k->command_timeout_ms, 400);
	CU_ASSERT_EQUAL(k->opts.failures_before_unhealthy, 3);
	CU_ASSERT_EQUAL(k->opts.successes_before_healthy, 2);

	k = &cfg->checks[1];
	CU_ASSERT_EQUAL(k->type, VT__CHECK_RABBITMQ);
	CU_ASSERT_STRING_EQUAL(k->queue, "orders");
	CU_ASSERT_EQUAL(k->degraded_above, 1000);
	CU_ASSERT(!k->opts.critical);
	/* Defaults of the common options. */
	CU_ASSERT_EQUAL(k->opts.timeout_ms, 2000);
	CU_ASSERT_EQUAL(k->opts.interval_ms, 10000);
	CU_ASSERT_EQUAL(k->opts.failures_before_unhealthy, 1);
	CU_ASSERT_EQUAL(k->opts.ntags, 0);

	k = &cfg->checks[2];
	CU_ASSERT_EQUAL(k->type, VT__CHECK_HTTP);
	CU_ASSERT_EQUAL(k->expect_status, 204);
	CU_ASSERT_STRING_EQUAL(k->method, "HEAD");
	CU_ASSERT(k->insecure);

	k = &cfg->checks[3];
	CU_ASSERT_EQUAL(k->type, VT__CHECK_DMARKET);
	CU_ASSERT_STRING_EQUAL(k->public_key, PUBLIC);
	CU_ASSERT_STRING_EQUAL(k->secret_key_env, "VT_TEST_DMARKET_SECRET");

	CU_ASSERT_STRING_EQUAL(cfg->checks[4].address, "127.0.0.1:5432");
	k = &cfg->checks[5];
	CU_ASSERT_STRING_EQUAL(k->path, "/");
	CU_ASSERT_DOUBLE_EQUAL(k->degraded_free_pct, 10, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(k->unhealthy_free_pct, 5.5, 1e-12);
	k = &cfg->checks[6];
	CU_ASSERT_EQUAL_FATAL(k->argc, 5);
	CU_ASSERT_STRING_EQUAL(k->argv[0], "/bin/echo");
	CU_ASSERT_STRING_EQUAL(k->argv[4], "10");
	CU_ASSERT_PTR_NULL(k->argv[5]);

	/* Every check builds on a real registry. */
	vt_err rv = vt__config_verify(cfg, err, sizeof(err));
	if (rv != VT_OK)
		fprintf(stderr, "\nunexpected error: %s\n", err);
	CU_ASSERT_EQUAL(rv, VT_OK);
	vt_health *h = NULL;
	vt_health_opts ho = {.workers = 1};
	CU_ASSERT_FATAL(vt_health_alloc(&h, &ho) == VT_OK);
	CU_ASSERT_EQUAL(vt__config_build(cfg, h, err, sizeof(err)), VT_OK);
	/* Built checks hold their keys: the variable can go, so that exec
	 * plugins never inherit it. */
	vt__config_forget_secrets(cfg);
	CU_ASSERT_PTR_NULL(getenv("VT_TEST_DMARKET_SECRET"));
	vt_health_snapshot *s = NULL;
	CU_ASSERT_FATAL(vt_health_run(h, NULL, VT_RUN_CACHED, &s) == VT_OK);
	CU_ASSERT_EQUAL(s->ncomponents, 7);
	CU_ASSERT_STRING_EQUAL(s->components[0].name, "api"); /* sorted */
	vt_health_snapshot_free(s);
	vt_health_free(h);
	vt__config_free(cfg);
	unsetenv("VT_TEST_DMARKET_SECRET");
}

static void test_defaults_and_null(void)
{
	vt__config *cfg = parse_ok("{}");
	CU_ASSERT_STRING_EQUAL(cfg->http, VT__CONFIG_DEFAULT_HTTP);
	CU_ASSERT_STRING_EQUAL(cfg->rpc, VT__CONFIG_DEFAULT_RPC);
	CU_ASSERT_STRING_EQUAL(cfg->pub, VT__CONFIG_DEFAULT_PUB);
	CU_ASSERT_EQUAL(cfg->workers, 4);
	CU_ASSERT_EQUAL(cfg->degraded_http_code, 200);
	CU_ASSERT_EQUAL(cfg->nchecks, 0);
	vt__config_free(cfg);

	cfg = parse_ok("{\"http\": null, \"pub\": null, \"checks\": []}");
	CU_ASSERT_PTR_NULL(cfg->http);
	CU_ASSERT_PTR_NULL(cfg->pub);
	CU_ASSERT_STRING_EQUAL(cfg->rpc, VT__CONFIG_DEFAULT_RPC);
	vt__config_free(cfg);

	refused("{\"http\": null, \"rpc\": null}",
		F ": \"http\" and \"rpc\" are both null: nothing would be "
		  "served");
}

static void test_syntax_errors(void)
{
	refused("{\"http\": \"127.0.0.1:8080\",\n  \"workers\": 4,,\n}",
		F ": line 2, column 17: JSON syntax error after \"  "
		  "\\\"workers\\\": 4,,\"");
	refused("{\"checks\": [\n",
		F ": line 1, column 13: JSON syntax error: unexpected end of "
		  "file");
	refused("{\"checks\": [{\"name\": \"a\" \"type\": \"tcp\"}]}",
		F ": line 1, column 26: JSON syntax error after \"checks\\\": "
		  "[{\\\"name\\\": \\\"a\\\" \\\"\"");
	refused("", F ": empty file: expected a JSON object");
	refused("{} {}",
		F ": line 1, column 4: JSON syntax error after \"{} {\"");
	refused("[1, 2]", F ": must be one JSON object ({...})");
	vt__config *cfg = NULL;
	CU_ASSERT(vt__config_parse(&cfg, "{}\0{}", 5, F, err, sizeof(err)) ==
		  VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(err, F ": contains a NUL byte: not a JSON text");
}

static void test_top_level_fields(void)
{
	refused("{\"htpp\": \"127.0.0.1:8080\"}",
		F ": field \"htpp\": unknown field (known: http, rpc, pub, "
		  "workers, degraded_http_code, token_env, max_connections, "
		  "http_max_per_address, http_header_timeout_ms, "
		  "http_idle_timeout_ms, tls, allow_plaintext_token, state, "
		  "retention_days, checks, "
		  "notify, maintenance)");
	refused("{\"workers\": 4, \"workers\": 5}",
		F ": field \"workers\": given twice");
	refused("{\"workers\": 0}",
		F ": field \"workers\": must be an integer from 1 to 256");
	refused("{\"workers\": \"4\"}",
		F ": field \"workers\": must be an integer from 1 to 256");
	refused("{\"workers\": 2.5}",
		F ": field \"workers\": must be an integer from 1 to 256");
	refused("{\"degraded_http_code\": 99}",
		F ": field \"degraded_http_code\": must be an HTTP status "
		  "code from 200 to 599");
	refused("{\"http\": \"localhost\"}",
		F ": field \"http\": must be \"host:port\" with a port of "
		  "1..65535 (optionally after http:// or https://), or null");
	refused("{\"http\": \"ftp://127.0.0.1:8080\"}",
		F ": field \"http\": must be \"host:port\" with a port of "
		  "1..65535 (optionally after http:// or https://), or null");
	refused("{\"http\": \"https://127.0.0.1:8443\"}",
		F ": field \"http\": https:// needs \"tls\" (a certificate "
		  "and key)");
	refused("{\"http\": 8080}", F ": field \"http\": must be a string");
	refused("{\"rpc\": \"http://127.0.0.1:5555\"}",
		F ": field \"rpc\": must be \"tcp://host:port\" or "
		  "\"ipc:///path\", or null");
	refused("{\"rpc\": \"tcp://127.0.0.1:5555\", \"pub\": "
		"\"tcp://127.0.0.1:5555\"}",
		F ": field \"pub\": must differ from \"rpc\"");
	refused("{\"checks\": {}}",
		F ": field \"checks\": must be an array of check objects");
	refused("{\"checks\": [1]}", F ": checks[0]: must be a JSON object");
	/* Keys from the file are quoted, control bytes escaped. */
	refused("{\"a\\u0001\\\"\": 1}",
		F ": field \"a\\x01\\\"\": unknown field (known: http, rpc, "
		  "pub, workers, degraded_http_code, token_env, "
		  "max_connections, http_max_per_address, "
		  "http_header_timeout_ms, http_idle_timeout_ms, tls, "
		  "allow_plaintext_token, state, "
		  "retention_days, checks, notify, maintenance)");
}

static void test_check_fields(void)
{
	check_refused("{\"type\": \"tcp\"}",
		      "checks[0]: field \"name\": missing");
	check_refused("{\"name\": \"a b\", \"type\": \"tcp\"}",
		      "checks[0]: field \"name\": must be 1-200 characters of "
		      "[A-Za-z0-9_.:-]");
	check_refused("{\"name\": \"x\"}",
		      "checks[0] \"x\": field \"type\": missing");
	check_refused("{\"name\": \"x\", \"type\": \"mysql\"}",
		      "checks[0] \"x\": field \"type\": unknown check type "
		      "\"mysql\" (known: redis, rabbitmq, http, dmarket, tcp, "
		      "disk, exec, heartbeat)");
	check_refused("{\"name\": \"redis\", \"type\": \"redis\", \"url\": "
		      "\"redis://h\", \"timeout_ms\": \"1000\"}",
		      "checks[0] \"redis\": field \"timeout_ms\": must be a "
		      "positive integer");
	check_refused("{\"name\": \"redis\", \"type\": \"redis\", \"url\": "
		      "\"redis://h\", \"timeout_ms\": -5}",
		      "checks[0] \"redis\": field \"timeout_ms\": must be a "
		      "positive integer");
	check_refused("{\"name\": \"redis\", \"type\": \"redis\", \"url\": "
		      "\"redis://h\", \"timout_ms\": 5}",
		      "checks[0] \"redis\": field \"timout_ms\": unknown field "
		      "for a redis check (known: url, connect_timeout_ms, "
		      "command_timeout_ms and the common options)");
	/* A key of another type is unknown here too. */
	check_refused("{\"name\": \"p\", \"type\": \"tcp\", \"address\": "
		      "\"h:1\", \"url\": \"redis://h\"}",
		      "checks[0] \"p\": field \"url\": unknown field for a tcp "
		      "check (known: address and the common options)");
	check_refused("{\"name\": \"redis\", \"type\": \"redis\"}",
		      "checks[0] \"redis\": field \"url\": missing");
	check_refused("{\"name\": \"r\", \"type\": \"redis\", \"url\": "
		      "\"http://h\"}",
		      "checks[0] \"r\": field \"url\": must be a redis:// or "
		      "unix:// URL");
	check_refused("{\"name\": \"q\", \"type\": \"rabbitmq\", \"url\": "
		      "\"amqp://h\", \"degraded_above\": 5}",
		      "checks[0] \"q\": field \"degraded_above\": needs "
		      "\"queue\": the threshold is on its message count");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"expect_status\": 600}",
		      "checks[0] \"a\": field \"expect_status\": must be an "
		      "HTTP status code from 100 to 599");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"method\": \"get\"}",
		      "checks[0] \"a\": field \"method\": must be an "
		      "upper-case HTTP method such as GET or HEAD");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"critical\": 1}",
		      "checks[0] \"a\": field \"critical\": must be true or "
		      "false");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"tags\": \"ready\"}",
		      "checks[0] \"a\": field \"tags\": must be an array of "
		      "strings");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"tags\": [\"ok\", \"not ok\"]}",
		      "checks[0] \"a\": field \"tags\": entry 1: a tag is "
		      "1-200 characters of [A-Za-z0-9_.:-]");
	check_refused("{\"name\": \"a\", \"type\": \"http\", \"url\": "
		      "\"http://h/\", \"degraded_ms\": -1}",
		      "checks[0] \"a\": field \"degraded_ms\": must be an "
		      "integer >= 0 (0 = off)");
	check_refused("{\"name\": \"p\", \"type\": \"tcp\", \"address\": "
		      "\"h:70000\"}",
		      "checks[0] \"p\": field \"address\": must be "
		      "\"host:port\" (\"[v6]:port\" for IPv6) with a port of "
		      "1..65535");
	check_refused("{\"name\": \"d\", \"type\": \"disk\", \"path\": \"/\", "
		      "\"degraded_free_pct\": 101}",
		      "checks[0] \"d\": field \"degraded_free_pct\": must be a "
		      "number from 0 to 100");
	check_refused("{\"name\": \"d\", \"type\": \"disk\", \"path\": \"/\", "
		      "\"degraded_free_pct\": 5, \"unhealthy_free_pct\": 10}",
		      "checks[0] \"d\": field \"unhealthy_free_pct\": must not "
		      "be above \"degraded_free_pct\"");
	check_refused("{\"name\": \"e\", \"type\": \"exec\"}",
		      "checks[0] \"e\": field \"command\": missing");
	check_refused("{\"name\": \"e\", \"type\": \"exec\", \"command\": []}",
		      "checks[0] \"e\": field \"command\": must not be empty");
	check_refused("{\"name\": \"e\", \"type\": \"exec\", \"command\": "
		      "[\"true\"]}",
		      "checks[0] \"e\": field \"command\": the program (first "
		      "entry) must be an absolute path: it is run without a "
		      "shell or PATH search");
	check_refused("{\"name\": \"e\", \"type\": \"exec\", \"command\": "
		      "[\"/bin/echo\", 3]}",
		      "checks[0] \"e\": field \"command\": must be an array of "
		      "strings");
	check_refused("{\"name\": \"e\", \"type\": \"exec\", \"command\": "
		      "[\"/bin/true\"], \"command\": [\"/bin/false\"]}",
		      "checks[0] \"e\": field \"command\": given twice");

	/* The check index counts from 0 across the array, and names are
	 * unique. */
	refused("{\"checks\": [{\"name\": \"a\", \"type\": \"disk\", \"path\": "
		"\"/\"},\n {\"name\": \"b\", \"type\": \"disk\", \"path\": "
		"\"/\", \"interval_ms\": 0},\n]}",
		F ": line 3, column 1: JSON syntax error after \"]\"");
	refused("{\"checks\": [{\"name\": \"a\", \"type\": \"disk\", \"path\": "
		"\"/\"}, {\"name\": \"b\", \"type\": \"disk\", \"path\": "
		"\"/\", \"interval_ms\": 0}]}",
		F ": checks[1] \"b\": field \"interval_ms\": must be a "
		  "positive integer");
	refused("{\"checks\": [{\"name\": \"a\", \"type\": \"disk\", \"path\": "
		"\"/\"}, {\"name\": \"a\", \"type\": \"tcp\", \"address\": "
		"\"h:1\"}]}",
		F ": checks[1]: field \"name\": \"a\" is already used by "
		  "checks[0]");
}

static void test_dmarket_secrets(void)
{
	/* A secret in the file is refused, and never echoed. */
	vt__config *cfg = NULL;
	const char *text = "{\"checks\": [{\"name\": \"dm\", \"type\": "
			   "\"dmarket\", \"public_key\": \"" PUBLIC "\", "
			   "\"secret_key\": \"" SECRET "\"}]}";
	CU_ASSERT(vt__config_parse(&cfg, text, strlen(text), F, err,
				   sizeof(err)) == VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(
	    err, F ": checks[0] \"dm\": field \"secret_key\": secrets are not "
		   "read from the configuration file: put the key in an "
		   "environment variable and name it in \"secret_key_env\"");
	CU_ASSERT_PTR_NULL(strstr(err, "9d61b1"));

	unsetenv("VT_TEST_NO_SUCH_SECRET");
	check_refused("{\"name\": \"dm\", \"type\": \"dmarket\", "
		      "\"public_key\": \"" PUBLIC "\", \"secret_key_env\": "
		      "\"VT_TEST_NO_SUCH_SECRET\"}",
		      "checks[0] \"dm\": field \"secret_key_env\": environment "
		      "variable VT_TEST_NO_SUCH_SECRET is not set");
	setenv("VT_TEST_SHORT_SECRET", "abcdef", 1);
	check_refused("{\"name\": \"dm\", \"type\": \"dmarket\", "
		      "\"public_key\": \"" PUBLIC "\", \"secret_key_env\": "
		      "\"VT_TEST_SHORT_SECRET\"}",
		      "checks[0] \"dm\": field \"secret_key_env\": environment "
		      "variable VT_TEST_SHORT_SECRET must hold the 64-byte "
		      "secret key as 128 hex digits");
	unsetenv("VT_TEST_SHORT_SECRET");
	check_refused("{\"name\": \"dm\", \"type\": \"dmarket\", "
		      "\"public_key\": \"" PUBLIC "\"}",
		      "checks[0] \"dm\": field \"secret_key_env\": missing: "
		      "\"public_key\" needs the secret key, from the "
		      "environment variable this names");
	check_refused("{\"name\": \"dm\", \"type\": \"dmarket\", "
		      "\"public_key\": \"xyz\", \"secret_key_env\": \"K\"}",
		      "checks[0] \"dm\": field \"public_key\": must be the "
		      "32-byte public key as 64 hex digits");
	check_refused("{\"name\": \"dm\", \"type\": \"dmarket\", \"base_url\": "
		      "\"https://h/?a=1\"}",
		      "checks[0] \"dm\": field \"base_url\": must not have a "
		      "query or fragment: the API paths are appended to it");

	/* A secret that does not belong to the public key is found when
	 * the check is built (as --check-config does). */
	setenv("VT_TEST_DMARKET_SECRET", SECRET, 1);
	cfg = parse_ok("{\"checks\": [{\"name\": \"dm\", \"type\": "
		       "\"dmarket\", \"public_key\": \"" OTHER_PUBLIC "\", "
		       "\"secret_key_env\": \"VT_TEST_DMARKET_SECRET\"}]}");
	CU_ASSERT_EQUAL(vt__config_verify(cfg, err, sizeof(err)), VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(
	    err, F ": checks[0] \"dm\": field \"public_key\": refused by the "
		   "dmarket check: the secret key in VT_TEST_DMARKET_SECRET "
		   "does not belong to this public key");
	CU_ASSERT_PTR_NULL(strstr(err, "9d61b1"));
	vt__config_free(cfg);

	/* Without keys: the public endpoint. */
	cfg = parse_ok("{\"checks\": [{\"name\": \"dm\", \"type\": "
		       "\"dmarket\"}]}");
	CU_ASSERT_PTR_NULL(cfg->checks[0].public_key);
	CU_ASSERT_EQUAL(vt__config_verify(cfg, err, sizeof(err)), VT_OK);
	vt__config_free(cfg);
	unsetenv("VT_TEST_DMARKET_SECRET");
}

/* The bearer token comes from the environment only, is validated at
 * parse time (so --check-config tells), and leaves the environment with
 * the other secrets. */
static void test_token_and_connections(void)
{
	unsetenv("VT_TEST_TOKEN");
	refused("{\"token_env\": \"VT_TEST_TOKEN\"}",
		F ": field \"token_env\": environment variable VT_TEST_TOKEN "
		  "is not set");
	refused("{\"token_env\": \"1BAD\"}",
		F ": field \"token_env\": must name an environment variable "
		  "([A-Za-z_][A-Za-z0-9_]*)");
	refused("{\"token\": \"abc\"}",
		F ": field \"token\": unknown field (known: http, rpc, pub, "
		  "workers, degraded_http_code, token_env, max_connections, "
		  "http_max_per_address, http_header_timeout_ms, "
		  "http_idle_timeout_ms, tls, allow_plaintext_token, state, "
		  "retention_days, checks, "
		  "notify, maintenance)");
	setenv("VT_TEST_TOKEN", "two words", 1);
	refused("{\"token_env\": \"VT_TEST_TOKEN\"}",
		F ": field \"token_env\": environment variable VT_TEST_TOKEN "
		  "must hold 1..1024 characters of [A-Za-z0-9-._~+/], then "
		  "any '='");
	CU_ASSERT_PTR_NULL(strstr(err, "two words"));
	refused("{\"http_header_timeout_ms\": 0}",
		F ": field \"http_header_timeout_ms\": must be an integer "
		  "from 1 to 3600000");
	refused("{\"max_connections\": 0}",
		F ": field \"max_connections\": must be an integer from 1 to "
		  "65536");

	setenv("VT_TEST_TOKEN", "Zm9vYmFy-token==", 1);
	vt__config *cfg = parse_ok("{\"token_env\": \"VT_TEST_TOKEN\", "
				   "\"max_connections\": 64, "
				   "\"http_max_per_address\": 8, "
				   "\"http_header_timeout_ms\": 500, "
				   "\"http_idle_timeout_ms\": 700}");
	CU_ASSERT_STRING_EQUAL(cfg->token, "Zm9vYmFy-token==");
	CU_ASSERT_EQUAL(cfg->max_connections, 64);
	CU_ASSERT_EQUAL(cfg->http_max_per_address, 8);
	CU_ASSERT_EQUAL(cfg->http_header_timeout_ms, 500);
	CU_ASSERT_EQUAL(cfg->http_idle_timeout_ms, 700);
	vt__config_forget_secrets(cfg);
	CU_ASSERT_PTR_NULL(getenv("VT_TEST_TOKEN"));
	CU_ASSERT_STRING_EQUAL(cfg->token, "Zm9vYmFy-token==");
	vt__config_free(cfg);

	cfg = parse_ok("{}");
	CU_ASSERT_PTR_NULL(cfg->token);
	CU_ASSERT_EQUAL(cfg->max_connections, 0);
	vt__config_free(cfg);
}

/* What only the check itself can refuse is reported against the field
 * it concerns. */
static void test_refused_by_check(void)
{
	vt__config *cfg =
	    parse_ok("{\"checks\": [{\"name\": \"ok\", \"type\": \"tcp\", "
		     "\"address\": \"127.0.0.1:1\"}, {\"name\": \"a\", "
		     "\"type\": \"http\", \"url\": \"http://exa mple/\"}]}");
	CU_ASSERT_EQUAL(vt__config_verify(cfg, err, sizeof(err)), VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(err, F ": checks[1] \"a\": field \"url\": "
				      "refused by the http check: not a valid "
				      "value");
	vt__config_free(cfg);

	cfg = parse_ok("{\"checks\": [{\"name\": \"load\", \"type\": \"exec\", "
		       "\"command\": [\"/usr/lib/vt-no-such/check_load\"]}]}");
	CU_ASSERT_EQUAL(vt__config_verify(cfg, err, sizeof(err)), VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(err,
			       F ": checks[0] \"load\": field \"command\": "
				 "/usr/lib/vt-no-such/check_load: not "
				 "executable: no such file or directory");
	vt__config_free(cfg);
}

static void test_limits_and_files(void)
{
	/* At most VT__CONFIG_MAX_CHECKS checks. */
	size_t cap = 64 * (VT__CONFIG_MAX_CHECKS + 2);
	char *text = malloc(cap);
	CU_ASSERT_FATAL(text != NULL);
	size_t o = (size_t)snprintf(text, cap, "{\"checks\": [");
	for (int i = 0; i <= VT__CONFIG_MAX_CHECKS; i++)
		o += (size_t)snprintf(text + o, cap - o,
				      "%s{\"name\": \"c%d\", \"type\": "
				      "\"disk\", \"path\": \"/\"}",
				      i > 0 ? "," : "", i);
	snprintf(text + o, cap - o, "]}");
	refused(text, F ": field \"checks\": more than 1000 checks");
	free(text);

	char dir[] = "/tmp/vt-config-XXXXXX";
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/big.json", dir);
	FILE *f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("{\"checks\": []}", f);
	for (int i = 0; i < VT__CONFIG_MAX_BYTES; i += 16)
		fputs("                ", f);
	fclose(f);
	vt__config *cfg = NULL;
	CU_ASSERT_EQUAL(vt__config_load(&cfg, path, err, sizeof(err)),
			VT_ETOOBIG);
	char want[512];
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	CU_ASSERT_STRING_EQUAL(err, want);

	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("{\"workers\": 2,\n \"checks\": [{\"name\": \"root\", \"type\": "
	      "\"disk\", \"path\": \"/\"}]}\n",
	      f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(vt__config_load(&cfg, path, err, sizeof(err)),
			      VT_OK);
	CU_ASSERT_STRING_EQUAL(cfg->path, path);
	CU_ASSERT_EQUAL(cfg->workers, 2);
	CU_ASSERT_EQUAL(cfg->nchecks, 1);
	vt__config_free(cfg);
	unlink(path);

	CU_ASSERT_EQUAL(vt__config_load(&cfg, path, err, sizeof(err)), VT_EIO);
	snprintf(want, sizeof(want),
		 "%s: cannot open: no such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	rmdir(dir);
}

static void test_override_and_describe(void)
{
	vt__config *cfg = parse_ok(
	    "{\"checks\": [{\"name\": \"r\", \"type\": \"redis\", \"url\": "
	    "\"redis://:s3cret@127.0.0.1:6379/2\", \"critical\": false},"
	    "{\"name\": \"e\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/echo\", "
	    "\"hi\"], \"interval_ms\": 500, \"timeout_ms\": 100},"
	    "{\"name\": \"p\", \"type\": \"exec\", \"command\": "
	    "[\"/bin/check_http\", \"--url=https://u:pw9x@h/a\", "
	    "\"amqp://:pw9x@q\"]}]}");
	CU_ASSERT_EQUAL(vt__config_override(cfg, "http", "127.0.0.1:9999", err,
					    sizeof(err)),
			VT_OK);
	CU_ASSERT_STRING_EQUAL(cfg->http, "127.0.0.1:9999");
	CU_ASSERT_EQUAL(vt__config_override(cfg, "http", "http://[::1]:9999",
					    err, sizeof(err)),
			VT_OK);
	CU_ASSERT_STRING_EQUAL(cfg->http, "http://[::1]:9999");
	CU_ASSERT_EQUAL(
	    vt__config_override(cfg, "pub", "none", err, sizeof(err)), VT_OK);
	CU_ASSERT_PTR_NULL(cfg->pub);
	CU_ASSERT_EQUAL(
	    vt__config_override(cfg, "rpc", "udp://x", err, sizeof(err)),
	    VT_EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "--rpc: must be \"tcp://host:port\" or "
				    "\"ipc:///path\", or none");
	CU_ASSERT_STRING_EQUAL(cfg->rpc, VT__CONFIG_DEFAULT_RPC);

	char d[512];
	vt__check_conf_describe(&cfg->checks[0], d, sizeof(d));
	CU_ASSERT_STRING_EQUAL(d, "redis redis://:***@127.0.0.1:6379/2, every "
				  "10000 ms, timeout 2000 ms, non-critical");
	vt__check_conf_describe(&cfg->checks[1], d, sizeof(d));
	CU_ASSERT_STRING_EQUAL(
	    d, "exec /bin/echo hi, every 500 ms, timeout 100 ms");
	/* A plugin's arguments are logged with URL passwords redacted. */
	vt__check_conf_describe(&cfg->checks[2], d, sizeof(d));
	CU_ASSERT_STRING_EQUAL(d,
			       "exec /bin/check_http --url=https://u:***@h/a "
			       "amqp://:***@q, every 10000 ms, timeout "
			       "2000 ms");
	vt__config_free(cfg);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"full file, every check type", test_full_file},
	    {"defaults and null listeners", test_defaults_and_null},
	    {"syntax errors with line and column", test_syntax_errors},
	    {"top-level fields", test_top_level_fields},
	    {"check fields", test_check_fields},
	    {"token and connection limit", test_token_and_connections},
	    {"dmarket secrets only from the environment", test_dmarket_secrets},
	    {"refused by the check itself", test_refused_by_check},
	    {"limits and files", test_limits_and_files},
	    {"overrides and log descriptions", test_override_and_describe},
	    {NULL, NULL},
	};
	return vt_test_main("config", tests);
}
