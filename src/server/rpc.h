/*
 * rpc.h - the nng req/rep RPC server: vitals.v1.Request in,
 * vitals.v1.Response out (proto/vitals/v1/rpc.proto), on one rep socket
 * listening at a tcp:// or ipc:// url.
 *
 * Methods (src/encode/protobuf.h has the names):
 *   grpc.health.v1.Health/Check  service "" = overall, a check name =
 *                                that check; HEALTHY and DEGRADED ->
 *                                SERVING, UNHEALTHY -> NOT_SERVING;
 *                                unknown (or impossible) name -> 5.
 *                                Fresh: the checks run now, sharing any
 *                                run in flight (like a plain GET /health),
 *                                because a probe must not be told SERVING
 *                                from a cache that hides an outage.
 *   grpc.health.v1.Health/List   every check by name and "" = overall;
 *                                fresh, as Check.
 *   vitals.v1.Health/Check       full results; name / tag / exclude
 *                                filters; cached or fresh as the request
 *                                says; unknown name -> 5.
 *   vitals.v1.Metrics/Get        name / name_prefix / labels filters.
 *   vitals.v1.Health/Beat, vitals.v1.Admin/Silence (encode/admin.h)
 *   vitals.v1.Admin/Reload       the program's reload function
 *                                (vitals/reload.h) applies its config
 *                                again: what changed, or 3 with the
 *                                reason it was refused; 12 without one.
 *                                On the pool: it reads a file and
 *                                builds checks.
 * Errors, each a valid Response with an empty payload and a message:
 *   3  undecodable envelope or payload, empty method, bad filter value,
 *      request over max_msg bytes
 *   12 unknown method
 *   16 a wrong token (any method), or no token where the server has one
 *      and the method needs it (Metrics/Get, History, Beat, Silence,
 *      Reload); see service.h
 *   13 internal failure (out of memory, encoder failure)
 *   14 service shutting down (vt__service_enter refused), server stopping
 * Size: a request of more than max_msg bytes is answered with code 3; nng
 * itself (NNG_OPT_RECVMAXSZ) drops a message of more than twice max_msg
 * unread and closes its connection, so no peer makes the server buffer
 * more than that: such a client gets no Response and its call times out.
 * The server keeps serving after every bad input.
 *
 * Concurrency: `contexts` nng contexts are in flight (nng
 * demo/async/server.c), each a small state machine on its aio. Requests
 * that only read state (vitals.v1.Health/Check cached, Metrics/Get, and
 * every error) are answered from nng's callback: they take a registry
 * lock for a copy and never wait on a check. Requests that may run checks
 * (a fresh health run waits up to the largest check timeout) go to a
 * worker pool owned by the server with one thread per context, so a
 * callback never blocks and a hung check holds one context, not the
 * server. Every request is counted in and out of the service
 * (vt__service_enter / _leave) for graceful shutdown.
 */
#ifndef VT_SERVER_RPC_H
#define VT_SERVER_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "server/answer_cache.h"
#include "server/service.h"
#include "vitals/err.h"

typedef struct vt__rpc vt__rpc;

/* Starts listening at url with `contexts` (>= 1; 0 = 16) requests in
 * flight, requests of at most max_msg bytes (0 = 1 MiB) and at most
 * max_conns clients connected at once (0 = VT__CONNS_DEFAULT; one past
 * it is disconnected at once, see connlimit.h). svc must
 * outlive the server. On error nothing is left running and err (may be
 * NULL) says what failed, e.g. "rpc tcp://127.0.0.1:5555: Address in
 * use"; VT_EINVAL for a bad url, VT_EUNAVAIL when it cannot listen.
 * Thread-safe (touches nothing shared). */
vt_err vt__rpc_start(vt__rpc **out, vt__service *svc, const char *url,
		     unsigned contexts, size_t max_msg, unsigned max_conns,
		     char *err, size_t errlen);

/* As vt__rpc_start; with tls (not NULL; held by the listener) a
 * tls+tcp:// url is served with it. */
vt_err vt__rpc_start_tls(vt__rpc **out, vt__service *svc, const char *url,
			 unsigned contexts, size_t max_msg, unsigned max_conns,
			 nng_tls_config *tls, char *err, size_t errlen);

/* Stops taking requests: each context answers at most one more request
 * (with 14) and stops; returns once every reply under way (including
 * fresh health runs on the pool) has been handed to nng, then closes the
 * socket. Idempotent. Call it after vt__service_shutdown for a graceful
 * stop. Not concurrently with itself or vt__rpc_free. */
void vt__rpc_stop(vt__rpc *r);

/* Stops if needed and frees. Accepts NULL and a server whose start
 * failed half-way (start never returns one, though). */
void vt__rpc_free(vt__rpc *r);

/* Answers one request without a socket, as the server does each
 * message it receives (reusing the encoded plain cached health answer
 * from cache, NULL = none; answer_cache.h): msg's body, a packed
 * vitals.v1.Request, is
 * replaced by the packed vitals.v1.Response, errors included (the list
 * above; a body over max_msg bytes gets 3 unread). A routed request is
 * counted into svc (vt__service_enter) unless *entered already says it
 * is; *entered is then set, and the caller calls vt__service_leave once
 * it is done with the answer. With nowait, a request whose answer may
 * wait on a check run (the grpc.health.v1 methods, a fresh
 * vitals.v1.Health/Check) is not answered: false, msg as it was, to be
 * handled again where waiting is fine (the server's pool). Also false,
 * msg as it was, when memory runs out for even an error Response.
 * Thread-safe; without nowait it may block up to the largest timeout of
 * the selected checks. */
bool vt__rpc_handle(vt__service *svc, vt__acache *cache, size_t max_msg,
		    nng_msg *msg, bool nowait, bool *entered);

/* The TCP port the server listens on (for "tcp://127.0.0.1:0" urls), or
 * 0 for other transports. Thread-safe. */
int vt__rpc_port(const vt__rpc *r);

#endif
