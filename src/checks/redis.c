/*
 * redis.c - the redis check: PING over hiredis, with AUTH and SELECT
 * from the URL.
 *
 * URLs: redis://[[user]:password@]host[:port][/db] (db also as ?db=N)
 * and unix:///path/to/socket[?db=N][&password=PW] (or unix://:PW@/path).
 * A user name needs a password (Redis 6 ACL: AUTH user password);
 * rediss:// is refused, as hiredis 0.14 has no TLS.
 *
 * The connection is kept between runs: the registry runs one callback
 * of a check at a time, so the context is owned by whichever worker runs
 * it, without a lock. A run first makes sure a kept connection is still
 * open (a non-blocking peek sees a server that closed it or died, and
 * the run reconnects at once instead of failing on a stale socket); any
 * error drops the connection and the next run connects afresh. On
 * connect: AUTH, SELECT, INFO server (the version is kept for the
 * connection's life). Each run: PING (its round trip is latency_ms),
 * ROLE. Every connect and command has a timeout of the option's value or
 * the time left until the run's deadline, whichever is less; host names
 * are resolved here (getaddrinfo, which has no timeout) and each address
 * is tried in turn within that budget.
 *
 * hiredis writes with write(2), which raises SIGPIPE on a connection the
 * server reset; a run blocks SIGPIPE in its thread and discards one it
 * caused, so a dying server cannot kill the program.
 *
 * Errors name the server and what failed ("connect 127.0.0.1:6390:
 * Connection refused", "AUTH failed: WRONGPASS ..."); text that came from
 * the server or hiredis has the password scrubbed out of it, and the URL
 * is only ever shown redacted.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>

#include "checks/budget.h"
#include "checks/register.h"
#include "checks/url.h"
#include "core/clock.h"
#include "vitals/checks.h"

#define REDIS_DEFAULT_PORT    6379
#define REDIS_DEFAULT_TIMEOUT 1000 /* ms, connect and command */
#define REDIS_ERR_TEXT	      400

typedef struct redis_check {
	/* immutable after add */
	char *shown;	/* the URL, redacted */
	bool is_unix;	/* host is a socket path */
	char *host;	/* host name or address, or socket path */
	bool host_v6;	/* host is an IPv6 literal */
	int port;	/* tcp only */
	char *user;	/* NULL: AUTH password alone */
	char *password; /* NULL: no AUTH */
	long db;
	int connect_timeout_ms;
	int command_timeout_ms;

	/* owned by the one callback that runs at a time */
	redisContext *ctx;
	char version[64]; /* of the server ctx is connected to; may be "" */
} redis_check;

static void redis_check_free(redis_check *rc)
{
	if (rc == NULL)
		return;
	if (rc->ctx != NULL)
		redisFree(rc->ctx);
	free(rc->shown);
	free(rc->host);
	free(rc->user);
	vt__secret_wipe(rc->password);
	free(rc->password);
	free(rc);
}

static void redis_free_arg(void *arg)
{
	redis_check_free(arg);
}

/* ---- the one place where hiredis' errors become vt_err and text ---- */

/* Maps the outcome of a hiredis call - a failed context (reply NULL) or
 * an error reply - to a vt_err, and writes its text to err. what names
 * the step; saved_errno is errno right after the call. */
static vt_err redis_error(const redis_check *rc, const redisContext *c,
			  const redisReply *reply, int saved_errno,
			  const char *what, int timeout_ms, char *err,
			  size_t cap)
{
	vt_err e;
	char text[REDIS_ERR_TEXT];
	if (c == NULL) {
		e = VT_ENOMEM;
		snprintf(text, sizeof(text), "out of memory");
	} else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		e = strncmp(reply->str, "WRONGPASS", 9) == 0 ||
			    strncmp(reply->str, "NOAUTH", 6) == 0 ||
			    strncmp(reply->str, "NOPERM", 6) == 0 ||
			    strstr(reply->str, "invalid password") != NULL
			? VT_EAUTH
			: VT_EUNAVAIL;
		snprintf(text, sizeof(text), "%.*s",
			 (int)(reply->len < sizeof(text) ? reply->len
							 : sizeof(text) - 1),
			 reply->str);
	} else if (reply != NULL) {
		e = VT_EPROTO;
		snprintf(text, sizeof(text), "unexpected reply (type %d)",
			 reply->type);
	} else {
		switch (c->err) {
		case REDIS_ERR_IO:
			e = saved_errno == EAGAIN ||
				    saved_errno == EWOULDBLOCK ||
				    saved_errno == ETIMEDOUT ||
				    saved_errno == EINPROGRESS
				? VT_ETIMEDOUT
				: VT_EUNAVAIL;
			break;
		case REDIS_ERR_PROTOCOL:
			e = VT_EPROTO;
			break;
		case REDIS_ERR_OOM:
			e = VT_ENOMEM;
			break;
		case REDIS_ERR_EOF:
		case REDIS_ERR_OTHER:
		default:
			e = VT_EUNAVAIL;
			break;
		}
		if (e == VT_ETIMEDOUT)
			snprintf(text, sizeof(text), "timed out after %d ms",
				 timeout_ms);
		else
			snprintf(text, sizeof(text), "%s",
				 c->errstr[0] != '\0' ? c->errstr
						      : vt_strerror(e));
	}
	vt__scrub(text, sizeof(text), rc->password);
	snprintf(err, cap, "%s%s%s", what,
		 reply != NULL && reply->type == REDIS_REPLY_ERROR ? " failed: "
								   : ": ",
		 text);
	return e;
}

/* ---- SIGPIPE ---- */

typedef struct sigpipe_guard {
	sigset_t old;
	bool active; /* this guard blocked SIGPIPE */
	bool was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	g->active = false;
	if (pthread_sigmask(SIG_BLOCK, &set, &g->old) != 0)
		return;
	if (sigismember(&g->old, SIGPIPE)) /* the program blocks it */
		return;
	g->active = true;
	g->was_pending =
	    sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(sigpipe_guard *g)
{
	if (!g->active)
		return;
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (!g->was_pending && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE)) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- connection ---- */

/* 1 when the kept connection is still open and quiet. */
static bool redis_alive(const redisContext *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n >= 0) /* 0: closed by the server; > 0: out of step */
		return false;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static void redis_drop(redis_check *rc)
{
	if (rc->ctx != NULL)
		redisFree(rc->ctx);
	rc->ctx = NULL;
	rc->version[0] = '\0';
}

/* Runs argv on the connection with the step timeout. On success *out is
 * the reply (which may be an error reply; the caller frees it); else err
 * says what failed. */
static vt_err redis_cmd(redis_check *rc, const vt_check_result *r, int argc,
			const char **argv, redisReply **out, char *err,
			size_t cap)
{
	int ms = vt__step_ms(r, rc->command_timeout_ms);
	if (ms <= 0) {
		snprintf(err, cap, "%s: deadline reached", argv[0]);
		return VT_ETIMEDOUT;
	}
	if (redisSetTimeout(rc->ctx, vt__ms_tv(ms)) != REDIS_OK)
		return redis_error(rc, rc->ctx, NULL, errno, argv[0], ms, err,
				   cap);
	errno = 0;
	redisReply *reply = redisCommandArgv(rc->ctx, argc, argv, NULL);
	int saved = errno;
	if (reply == NULL)
		return redis_error(rc, rc->ctx, NULL, saved, argv[0], ms, err,
				   cap);
	*out = reply;
	return VT_OK;
}

/* Like redis_cmd, but an error reply is a failure too. */
static vt_err redis_cmd_ok(redis_check *rc, const vt_check_result *r, int argc,
			   const char **argv, redisReply **out, char *err,
			   size_t cap)
{
	redisReply *reply;
	vt_err e = redis_cmd(rc, r, argc, argv, &reply, err, cap);
	if (e != VT_OK)
		return e;
	if (reply->type == REDIS_REPLY_ERROR) {
		e = redis_error(rc, rc->ctx, reply, 0, argv[0], 0, err, cap);
		freeReplyObject(reply);
		return e;
	}
	*out = reply;
	return VT_OK;
}

/* Connects to one resolved address (or the socket path) within the
 * connect timeout. */
static vt_err redis_connect_one(redis_check *rc, const vt_check_result *r,
				const char *addr, char *err, size_t cap)
{
	char where[300];
	if (rc->is_unix)
		snprintf(where, sizeof(where), "connect %s", rc->host);
	else {
		char hp[280];
		vt__url_hostport(rc->host, rc->host_v6, rc->port, hp,
				 sizeof(hp));
		snprintf(where, sizeof(where), "connect %s", hp);
	}
	int ms = vt__step_ms(r, rc->connect_timeout_ms);
	if (ms <= 0) {
		snprintf(err, cap, "%s: deadline reached", where);
		return VT_ETIMEDOUT;
	}
	errno = 0;
	redisContext *c =
	    rc->is_unix
		? redisConnectUnixWithTimeout(rc->host, vt__ms_tv(ms))
		: redisConnectWithTimeout(addr, rc->port, vt__ms_tv(ms));
	int saved = errno;
	if (c == NULL || c->err != 0) {
		vt_err e = redis_error(rc, c, NULL, saved, where, ms, err, cap);
		if (c != NULL)
			redisFree(c);
		return e;
	}
	rc->ctx = c;
	return VT_OK;
}

/* Opens the connection: each address of the host in turn, then AUTH,
 * SELECT and INFO server. On failure nothing is kept. */
static vt_err redis_connect(redis_check *rc, const vt_check_result *r,
			    char *err, size_t cap)
{
	vt_err e = VT_EUNAVAIL;
	if (rc->is_unix) {
		e = redis_connect_one(rc, r, NULL, err, cap);
	} else {
		struct addrinfo hints = {0}, *res = NULL;
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		int gai = getaddrinfo(rc->host, NULL, &hints, &res);
		if (gai != 0) {
			snprintf(err, cap, "resolve %s: %s", rc->host,
				 gai_strerror(gai));
			return VT_EUNAVAIL;
		}
		snprintf(err, cap, "resolve %s: no IPv4 or IPv6 address",
			 rc->host);
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			char ip[INET6_ADDRSTRLEN];
			const void *sa =
			    ai->ai_family == AF_INET6
				? (const void *)&(
				      (struct sockaddr_in6 *)ai->ai_addr)
				      ->sin6_addr
				: (const void *)&(
				      (struct sockaddr_in *)ai->ai_addr)
				      ->sin_addr;
			if ((ai->ai_family != AF_INET &&
			     ai->ai_family != AF_INET6) ||
			    inet_ntop(ai->ai_family, sa, ip, sizeof(ip)) ==
				NULL)
				continue;
			e = redis_connect_one(rc, r, ip, err, cap);
			if (e == VT_OK || e == VT_ENOMEM ||
			    vt_result_remaining_ms(r) <= 0)
				break;
		}
		freeaddrinfo(res);
	}
	if (e != VT_OK)
		return e;

	redisReply *reply = NULL;
	if (rc->password != NULL) {
		const char *argv[3] = {"AUTH"};
		int argc = 1;
		if (rc->user != NULL)
			argv[argc++] = rc->user;
		argv[argc++] = rc->password;
		if ((e = redis_cmd_ok(rc, r, argc, argv, &reply, err, cap)) !=
		    VT_OK)
			goto fail;
		freeReplyObject(reply);
	}
	if (rc->db != 0) {
		char db[24];
		snprintf(db, sizeof(db), "%ld", rc->db);
		const char *argv[2] = {"SELECT", db};
		if ((e = redis_cmd_ok(rc, r, 2, argv, &reply, err, cap)) !=
		    VT_OK)
			goto fail;
		freeReplyObject(reply);
	}
	/* The version is a detail, not a condition: a user whom ACLs deny
	 * INFO is still healthy. */
	const char *info[2] = {"INFO", "server"};
	if ((e = redis_cmd(rc, r, 2, info, &reply, err, cap)) != VT_OK)
		goto fail;
	if (reply->type == REDIS_REPLY_STRING) {
		const char *v = strstr(reply->str, "redis_version:");
		if (v != NULL) {
			v += strlen("redis_version:");
			size_t n = strcspn(v, "\r\n");
			if (n >= sizeof(rc->version))
				n = sizeof(rc->version) - 1;
			memcpy(rc->version, v, n);
			rc->version[n] = '\0';
		}
	}
	freeReplyObject(reply);
	return VT_OK;
fail:
	redis_drop(rc);
	return e;
}

/* ---- the check ---- */

static void redis_run(vt_check_result *r, void *arg)
{
	redis_check *rc = arg;
	char err[512] = "";
	vt_err e;
	redisReply *reply = NULL;
	sigpipe_guard g;

	sigpipe_block(&g);
	vt_result_detail_str(r, "url", rc->shown);
	if (rc->ctx != NULL && !redis_alive(rc->ctx))
		redis_drop(rc);
	if (rc->ctx == NULL &&
	    (e = redis_connect(rc, r, err, sizeof(err))) != VT_OK)
		goto fail;

	const char *ping[1] = {"PING"};
	int64_t t0 = vt__mono_ns();
	if ((e = redis_cmd_ok(rc, r, 1, ping, &reply, err, sizeof(err))) !=
	    VT_OK)
		goto fail;
	double latency_ms = (double)(vt__mono_ns() - t0) / 1e6;
	bool pong = reply->type == REDIS_REPLY_STATUS &&
		    strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	if (!pong) {
		snprintf(err, sizeof(err), "PING: unexpected reply");
		goto fail;
	}

	const char *role[1] = {"ROLE"};
	if ((e = redis_cmd(rc, r, 1, role, &reply, err, sizeof(err))) != VT_OK)
		goto fail;
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    (reply->element[0]->type == REDIS_REPLY_STRING ||
	     reply->element[0]->type == REDIS_REPLY_STATUS))
		vt_result_detail_str(r, "role", reply->element[0]->str);
	freeReplyObject(reply);

	vt_result_detail_num(r, "latency_ms",
			     (double)(int64_t)(latency_ms * 1000.0) / 1000.0);
	if (rc->version[0] != '\0')
		vt_result_detail_str(r, "version", rc->version);
	sigpipe_restore(&g);
	return;
fail:
	redis_drop(rc);
	vt_result_status(r, VT_UNHEALTHY);
	vt_result_error(r, "%s", err);
	sigpipe_restore(&g);
}

/* ---- registration ---- */

/* A non-negative decimal of at most 9 digits, else -1. */
static long parse_db(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 9 || strspn(s, "0123456789") != n)
		return -1;
	return strtol(s, NULL, 10);
}

/* Fills rc's target from the URL. VT_EINVAL for anything not described
 * at the top of this file. */
static vt_err redis_parse(redis_check *rc, const char *text)
{
	vt__url u;
	vt_err e = vt__url_parse(text, &u);
	if (e != VT_OK)
		return e;
	char *dbq = NULL, *pwq = NULL;
	e = VT_EINVAL;
	if (strcmp(u.scheme, "redis") == 0) {
		if (u.host[0] == '\0')
			goto out;
		rc->port = u.port != 0 ? u.port : REDIS_DEFAULT_PORT;
		rc->host_v6 = u.host_v6;
		rc->host = u.host;
		u.host = NULL;
		const char *p = u.path[0] == '/' ? u.path + 1 : u.path;
		vt_err q = vt__url_query_get(u.query, "db", &dbq);
		if (q != VT_OK && q != VT_ENOENT) {
			e = q;
			goto out;
		}
		rc->db = p[0] != '\0'  ? parse_db(p)
			 : dbq != NULL ? parse_db(dbq)
				       : 0;
	} else if (strcmp(u.scheme, "unix") == 0) {
		if (u.host[0] != '\0' || u.path[0] != '/')
			goto out;
		rc->is_unix = true;
		if ((e = vt__url_decode(u.path, strlen(u.path), &rc->host)) !=
		    VT_OK)
			goto out;
		e = VT_EINVAL;
		if (strlen(rc->host) >=
		    sizeof(((struct sockaddr_un *)0)->sun_path))
			goto out;
		vt_err q = vt__url_query_get(u.query, "db", &dbq);
		if (q == VT_OK || q == VT_ENOENT)
			q = vt__url_query_get(u.query, "password", &pwq);
		if (q != VT_OK && q != VT_ENOENT) {
			e = q;
			goto out;
		}
		rc->db = dbq != NULL ? parse_db(dbq) : 0;
	} else {
		goto out; /* rediss:// too: no TLS in hiredis 0.14 */
	}
	if (rc->db < 0)
		goto out;

	/* Credentials: [user]:password in the user info, or ?password=. */
	char *pw = u.password != NULL ? u.password : pwq;
	if (u.password != NULL && pwq != NULL)
		goto out;
	if (u.user != NULL && u.user[0] != '\0') {
		if (pw == NULL)
			goto out; /* a user name alone: AUTH needs a password */
		rc->user = u.user;
		u.user = NULL;
	}
	if (pw != NULL && (pw[0] != '\0' || rc->user != NULL)) {
		rc->password = pw;
		if (pw == u.password)
			u.password = NULL;
		else
			pwq = NULL;
	}
	e = VT_OK;
out:
	free(dbq);
	vt__secret_wipe(pwq);
	free(pwq);
	vt__secret_wipe(u.password);
	vt__url_fini(&u);
	return e;
}

/* Registers the redis check (contract: vitals/checks.h). Thread-safe. */
vt_err vt_check_redis_add(vt_health *h, const char *name,
			  const vt_redis_opts *o, const vt_check_opts *co)
{
	if (h == NULL || name == NULL || o == NULL || o->url == NULL ||
	    o->connect_timeout_ms < 0 || o->command_timeout_ms < 0)
		return VT_EINVAL;
	redis_check *rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return VT_ENOMEM;
	rc->connect_timeout_ms = o->connect_timeout_ms > 0
				     ? o->connect_timeout_ms
				     : REDIS_DEFAULT_TIMEOUT;
	rc->command_timeout_ms = o->command_timeout_ms > 0
				     ? o->command_timeout_ms
				     : REDIS_DEFAULT_TIMEOUT;
	vt_err e = redis_parse(rc, o->url);
	if (e != VT_OK)
		goto fail;
	if ((rc->shown = vt__url_shown(o->url)) == NULL) {
		e = VT_ENOMEM;
		goto fail;
	}
	return vt__check_register(h, name, redis_run, rc, redis_free_arg, co);
fail:
	redis_check_free(rc);
	return e;
}
