/*
 * rabbitmq.c - the rabbitmq check: an AMQP 0-9-1 login and channel open
 * over librabbitmq, and optionally a queue's depth.
 *
 * URL: amqp://[user[:password]@]host[:port][/vhost]. User and password
 * default to guest/guest, the port to 5672; the vhost is the
 * percent-decoded path segment, and an empty path or "/" is the default
 * vhost "/" ("%2f" spells it too). Query parameters are ignored; amqps://
 * is refused (this check speaks plain TCP).
 *
 * Each run makes a fresh connection and closes it: connect, login,
 * channel open, optional passive queue declare (its message count is
 * detail "messages", above degraded_above the check is DEGRADED),
 * channel close, connection close. A fresh login proves what a client
 * starting now would see (credentials, vhost permissions, a broker that
 * accepts connections) and leaves no state between runs to go stale or
 * leak. The connect is done here, non-blocking with poll, so that a
 * refused or unreachable broker is reported with its reason
 * ("connect 127.0.0.1:5673: Connection refused"); librabbitmq then
 * takes the socket. Every step is bounded: the connect by the
 * connect timeout or the time left, whichever is less; the login
 * handshake and each RPC by the time left (librabbitmq's handshake and
 * RPC timeouts). The closing handshake gets at most CLOSE_MAX_MS of what
 * is left and is skipped when nothing is; the socket is closed anyway.
 *
 * Errors never contain the password: the URL is shown redacted, and
 * text from the broker has the password scrubbed out of it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "checks/budget.h"
#include "checks/register.h"
#include "checks/netconn.h"
#include "checks/url.h"
#include "core/clock.h"
#include "vitals/checks.h"

#define RABBIT_DEFAULT_PORT    5672
#define RABBIT_DEFAULT_TIMEOUT 1000 /* ms, connect */
#define RABBIT_QUEUE_MAX       255  /* AMQP short string */
#define CLOSE_MAX_MS	       500  /* for the closing handshake */
#define ERR_TEXT	       400

typedef struct rabbit_check {
	/* immutable after add; the callback keeps no state between runs */
	char *shown; /* the URL, redacted */
	char *host;
	bool host_v6;
	int port;
	char *user;
	char *password;
	char *vhost;
	char *queue; /* NULL: no queue */
	long degraded_above;
	int connect_timeout_ms;
} rabbit_check;

static void rabbit_check_free(rabbit_check *rq)
{
	if (rq == NULL)
		return;
	free(rq->shown);
	free(rq->host);
	free(rq->user);
	vt__secret_wipe(rq->password);
	free(rq->password);
	free(rq->vhost);
	free(rq->queue);
	free(rq);
}

static void rabbit_free_arg(void *arg)
{
	rabbit_check_free(arg);
}

/* ---- the one place where librabbitmq's errors become vt_err and text */

/* Maps a reply of librabbitmq that is not AMQP_RESPONSE_NORMAL to a
 * vt_err and writes "what: reason" (library) or "what failed: reason"
 * (broker) to err. */
static vt_err rabbit_error(const rabbit_check *rq, amqp_rpc_reply_t rep,
			   const char *what, int timeout_ms, char *err,
			   size_t cap)
{
	vt_err e = VT_EUNAVAIL;
	char text[ERR_TEXT];
	const char *sep = ": ";
	switch (rep.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		e = VT_OK;
		snprintf(text, sizeof(text), "ok");
		break;
	case AMQP_RESPONSE_NONE:
		snprintf(text, sizeof(text), "connection closed by the broker");
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		switch (rep.library_error) {
		case AMQP_STATUS_TIMEOUT:
		case AMQP_STATUS_HEARTBEAT_TIMEOUT:
			e = VT_ETIMEDOUT;
			break;
		case AMQP_STATUS_NO_MEMORY:
			e = VT_ENOMEM;
			break;
		case AMQP_STATUS_BAD_AMQP_DATA:
		case AMQP_STATUS_UNKNOWN_CLASS:
		case AMQP_STATUS_UNKNOWN_METHOD:
		case AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION:
		case AMQP_STATUS_WRONG_METHOD:
		case AMQP_STATUS_UNEXPECTED_STATE:
			e = VT_EPROTO;
			break;
		case AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD:
			e = VT_EAUTH;
			break;
		default:
			e = VT_EUNAVAIL;
			break;
		}
		if (e == VT_ETIMEDOUT)
			snprintf(text, sizeof(text), "timed out after %d ms",
				 timeout_ms);
		else if (rep.library_error == AMQP_STATUS_CONNECTION_CLOSED ||
			 rep.library_error == AMQP_STATUS_SOCKET_CLOSED)
			snprintf(text, sizeof(text),
				 "connection closed by the broker");
		else
			snprintf(text, sizeof(text), "%s",
				 amqp_error_string2(rep.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION: {
		uint16_t code = 0;
		amqp_bytes_t t = {0, NULL};
		if (rep.reply.id == AMQP_CONNECTION_CLOSE_METHOD &&
		    rep.reply.decoded != NULL) {
			const amqp_connection_close_t *m = rep.reply.decoded;
			code = m->reply_code;
			t = m->reply_text;
		} else if (rep.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
			   rep.reply.decoded != NULL) {
			const amqp_channel_close_t *m = rep.reply.decoded;
			code = m->reply_code;
			t = m->reply_text;
		}
		e = code == AMQP_ACCESS_REFUSED || code == AMQP_NOT_ALLOWED
			? VT_EAUTH
		    : code == AMQP_NOT_FOUND ? VT_ENOENT
					     : VT_EUNAVAIL;
		if (t.len > 0)
			snprintf(text, sizeof(text), "%.*s",
				 (int)(t.len < sizeof(text) ? t.len
							    : sizeof(text) - 1),
				 (const char *)t.bytes);
		else
			snprintf(text, sizeof(text),
				 "closed by the broker (%u)", (unsigned)code);
		sep = " failed: ";
		break;
	}
	}
	vt__scrub(text, sizeof(text), rq->password);
	snprintf(err, cap, "%s%s%s", what, sep, text);
	return e;
}

/* ---- steps ---- */

/* Sets librabbitmq's RPC timeout to the time left (at most limit_ms);
 * returns it, 0 when the deadline has passed. */
static int rpc_budget(amqp_connection_state_t conn, const vt_check_result *r,
		      int limit_ms)
{
	int ms = vt__step_ms(r, limit_ms);
	if (ms <= 0)
		return 0;
	struct timeval tv = vt__ms_tv(ms);
	amqp_set_rpc_timeout(conn, &tv);
	return ms;
}

/* Connects a non-blocking TCP socket to the broker, each address in
 * turn, within the connect timeout. *fd on success; else err says why. */
static vt_err tcp_connect(const rabbit_check *rq, const vt_check_result *r,
			  int *fd, char *err, size_t cap)
{
	char hp[300], port[8];
	vt__url_hostport(rq->host, rq->host_v6, rq->port, hp, sizeof(hp));
	snprintf(port, sizeof(port), "%d", rq->port);
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(rq->host, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, cap, "resolve %s: %s", rq->host,
			 gai_strerror(gai));
		return VT_EUNAVAIL;
	}
	int last = 0, ms = 0;
	bool timed_out = false;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ms = vt__step_ms(r, rq->connect_timeout_ms)) <= 0) {
			timed_out = true;
			break;
		}
		int s = -1;
		int rc = vt__netconn_connect(ai, vt__deadline_ns(ms), &s);
		if (rc != 0) {
			last = rc;
			if (rc == ETIMEDOUT)
				timed_out = true;
			continue;
		}
		int one = 1;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		freeaddrinfo(res);
		*fd = s;
		return VT_OK;
	}
	freeaddrinfo(res);
	if (timed_out) {
		snprintf(err, cap, "connect %s: timed out after %d ms", hp,
			 ms > 0 ? ms : rq->connect_timeout_ms);
		return VT_ETIMEDOUT;
	}
	char why[128];
	if (last == 0 || strerror_r(last, why, sizeof(why)) != 0)
		snprintf(why, sizeof(why), "error %d", last);
	snprintf(err, cap, "connect %s: %s", hp, why);
	return VT_EUNAVAIL;
}

/* Answers a close the broker sent (connection or channel) so that it
 * ends the connection or channel cleanly. */
static void ack_close(amqp_connection_state_t conn, amqp_rpc_reply_t rep,
		      amqp_channel_t ch)
{
	if (rep.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return;
	if (rep.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_ok_t ok = {0};
		amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	} else if (rep.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_ok_t ok = {0};
		amqp_send_method(conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
	}
}

/* The broker's "version" server property into out, or "". */
static void server_version(amqp_connection_state_t conn, char *out, size_t cap)
{
	out[0] = '\0';
	amqp_table_t *t = amqp_get_server_properties(conn);
	for (int i = 0; t != NULL && i < t->num_entries; i++) {
		const amqp_table_entry_t *en = &t->entries[i];
		if (en->key.len != 7 ||
		    memcmp(en->key.bytes, "version", 7) != 0 ||
		    (en->value.kind != AMQP_FIELD_KIND_UTF8 &&
		     en->value.kind != AMQP_FIELD_KIND_BYTES))
			continue;
		amqp_bytes_t v = en->value.value.bytes;
		snprintf(out, cap, "%.*s", (int)(v.len < cap ? v.len : cap - 1),
			 (const char *)v.bytes);
		return;
	}
}

/* ---- the check ---- */

/* One run's connection and what it has reached so far. */
typedef struct rabbit_run_state {
	const rabbit_check *rq;
	vt_check_result *r;
	amqp_connection_state_t conn;
	int fd;
	bool usable;  /* the connection can be closed politely */
	bool channel; /* channel 1 is open */
	vt_status st; /* when e is VT_OK */
	char err[512];
} rabbit_run_state;

/* Connects and logs in within the time left. */
static vt_err run_login(rabbit_run_state *s)
{
	amqp_socket_t *sock =
	    s->conn != NULL ? amqp_tcp_socket_new(s->conn) : NULL;
	if (sock == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return VT_ENOMEM;
	}
	vt_err e = tcp_connect(s->rq, s->r, &s->fd, s->err, sizeof(s->err));
	if (e != VT_OK)
		return e;
	amqp_tcp_socket_set_sockfd(sock, s->fd); /* conn owns fd now */
	int ms = vt__step_ms(s->r, INT32_MAX);
	if (ms <= 0) {
		snprintf(s->err, sizeof(s->err), "login: deadline reached");
		return VT_ETIMEDOUT;
	}
	struct timeval tv = vt__ms_tv(ms);
	amqp_set_handshake_timeout(s->conn, &tv);
	amqp_set_rpc_timeout(s->conn, &tv);
	amqp_rpc_reply_t rep =
	    amqp_login(s->conn, s->rq->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
		       AMQP_SASL_METHOD_PLAIN, s->rq->user, s->rq->password);
	if (rep.reply_type != AMQP_RESPONSE_NORMAL) {
		e = rabbit_error(s->rq, rep, "login", ms, s->err,
				 sizeof(s->err));
		ack_close(s->conn, rep, 0);
		return e;
	}
	s->usable = true;
	return VT_OK;
}

/* Opens channel 1 within the time left. */
static vt_err run_channel_open(rabbit_run_state *s)
{
	int ms = rpc_budget(s->conn, s->r, INT32_MAX);
	if (ms <= 0) {
		snprintf(s->err, sizeof(s->err),
			 "channel open: deadline reached");
		return VT_ETIMEDOUT;
	}
	amqp_channel_open(s->conn, 1);
	amqp_rpc_reply_t rep = amqp_get_rpc_reply(s->conn);
	if (rep.reply_type != AMQP_RESPONSE_NORMAL) {
		vt_err e = rabbit_error(s->rq, rep, "channel open", ms, s->err,
					sizeof(s->err));
		s->usable = rep.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
			    rep.reply.id == AMQP_CHANNEL_CLOSE_METHOD;
		ack_close(s->conn, rep, 1);
		return e;
	}
	s->channel = true;
	return VT_OK;
}

/* Declares the queue passively: its depth and consumers as details,
 * DEGRADED above degraded_above. */
static vt_err run_queue_depth(rabbit_run_state *s)
{
	const rabbit_check *rq = s->rq;
	char what[RABBIT_QUEUE_MAX + 16];
	snprintf(what, sizeof(what), "queue '%s'", rq->queue);
	int ms = rpc_budget(s->conn, s->r, INT32_MAX);
	if (ms <= 0) {
		snprintf(s->err, sizeof(s->err), "%s: deadline reached", what);
		return VT_ETIMEDOUT;
	}
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(s->conn, 1, amqp_cstring_bytes(rq->queue), 1, 0,
			       0, 0, amqp_empty_table);
	amqp_rpc_reply_t rep = amqp_get_rpc_reply(s->conn);
	if (ok == NULL || rep.reply_type != AMQP_RESPONSE_NORMAL) {
		vt_err e =
		    rabbit_error(rq, rep, what, ms, s->err, sizeof(s->err));
		s->usable = rep.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
			    rep.reply.id == AMQP_CHANNEL_CLOSE_METHOD;
		s->channel = false;
		ack_close(s->conn, rep, 1);
		return e;
	}
	vt_result_detail_num(s->r, "messages", (double)ok->message_count);
	vt_result_detail_num(s->r, "consumers", (double)ok->consumer_count);
	if (rq->degraded_above > 0 &&
	    (long)ok->message_count > rq->degraded_above) {
		s->st = VT_DEGRADED;
		snprintf(s->err, sizeof(s->err),
			 "%s holds %lu messages (degraded above %ld)", what,
			 (unsigned long)ok->message_count, rq->degraded_above);
	}
	return VT_OK;
}

/* Closes the channel and the connection politely when they are usable
 * and time is left, then frees them (and the socket) in any case. */
static void run_close(rabbit_run_state *s)
{
	if (s->usable && s->channel &&
	    rpc_budget(s->conn, s->r, CLOSE_MAX_MS) > 0) {
		amqp_rpc_reply_t rep =
		    amqp_channel_close(s->conn, 1, AMQP_REPLY_SUCCESS);
		s->usable = rep.reply_type == AMQP_RESPONSE_NORMAL;
	}
	if (s->usable && rpc_budget(s->conn, s->r, CLOSE_MAX_MS) > 0)
		amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
	if (s->conn != NULL)
		amqp_destroy_connection(s->conn); /* closes fd */
	else if (s->fd >= 0)
		close(s->fd);
}

static void rabbit_run(vt_check_result *r, void *arg)
{
	rabbit_run_state s = {
	    .rq = arg, .r = r, .fd = -1, .st = VT_HEALTHY, .err = ""};
	vt_result_detail_str(r, "url", s.rq->shown);
	int64_t t0 = vt__mono_ns();
	s.conn = amqp_new_connection();
	vt_err e = run_login(&s);
	if (e == VT_OK)
		e = run_channel_open(&s);
	if (e == VT_OK) {
		char version[64] = "";
		double latency_ms = (double)(vt__mono_ns() - t0) / 1e6;
		vt_result_detail_num(r, "latency_ms",
				     (double)(int64_t)(latency_ms * 1000.0) /
					 1000.0);
		server_version(s.conn, version, sizeof(version));
		if (version[0] != '\0')
			vt_result_detail_str(r, "version", version);
		if (s.rq->queue != NULL)
			e = run_queue_depth(&s);
	}
	run_close(&s);
	vt_result_status(r, e != VT_OK ? VT_UNHEALTHY : s.st);
	if (s.err[0] != '\0')
		vt_result_error(r, "%s", s.err);
}

/* ---- registration ---- */

/* Fills rq's target from the URL; VT_EINVAL for what the top of this
 * file does not describe. */
static vt_err rabbit_parse(rabbit_check *rq, const char *text)
{
	vt__url u;
	vt_err e = vt__url_parse(text, &u);
	if (e != VT_OK)
		return e;
	e = VT_EINVAL;
	if (strcmp(u.scheme, "amqp") != 0 || u.host[0] == '\0')
		goto out;
	const char *p = u.path[0] == '/' ? u.path + 1 : u.path;
	if (strchr(p, '/') != NULL)
		goto out;
	if (p[0] == '\0')
		rq->vhost = strdup("/");
	else if ((e = vt__url_decode(p, strlen(p), &rq->vhost)) != VT_OK)
		goto out;
	e = VT_ENOMEM;
	if (rq->vhost == NULL)
		goto out;
	rq->user =
	    u.user != NULL && u.user[0] != '\0' ? u.user : strdup("guest");
	if (rq->user == u.user)
		u.user = NULL;
	rq->password = u.password != NULL ? u.password : strdup("guest");
	if (rq->password == u.password)
		u.password = NULL;
	if (rq->user == NULL || rq->password == NULL)
		goto out;
	rq->host = u.host;
	u.host = NULL;
	rq->host_v6 = u.host_v6;
	rq->port = u.port != 0 ? u.port : RABBIT_DEFAULT_PORT;
	e = VT_OK;
out:
	vt__secret_wipe(u.password);
	vt__url_fini(&u);
	return e;
}

/* Registers the rabbitmq check (contract: vitals/checks.h).
 * Thread-safe. */
vt_err vt_check_rabbitmq_add(vt_health *h, const char *name,
			     const vt_rabbitmq_opts *o, const vt_check_opts *co)
{
	if (h == NULL || name == NULL || o == NULL || o->url == NULL ||
	    o->connect_timeout_ms < 0 || o->degraded_above < 0 ||
	    (o->degraded_above > 0 && o->queue == NULL))
		return VT_EINVAL;
	if (o->queue != NULL &&
	    (o->queue[0] == '\0' || strlen(o->queue) > RABBIT_QUEUE_MAX))
		return VT_EINVAL;
	rabbit_check *rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		return VT_ENOMEM;
	rq->degraded_above = o->degraded_above;
	rq->connect_timeout_ms = o->connect_timeout_ms > 0
				     ? o->connect_timeout_ms
				     : RABBIT_DEFAULT_TIMEOUT;
	vt_err e = rabbit_parse(rq, o->url);
	if (e != VT_OK)
		goto fail;
	e = VT_ENOMEM;
	if (o->queue != NULL && (rq->queue = strdup(o->queue)) == NULL)
		goto fail;
	if ((rq->shown = vt__url_shown(o->url)) == NULL)
		goto fail;
	return vt__check_register(h, name, rabbit_run, rq, rabbit_free_arg, co);
fail:
	rabbit_check_free(rq);
	return e;
}
