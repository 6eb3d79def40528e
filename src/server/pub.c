/*
 * pub.c - the status-change pub socket: one nng pub0 socket listening at
 * a url; vt__pub_send hands each text to nng with NNG_FLAG_NONBLOCK, and
 * nng's pub protocol queues it per subscriber (dropping for the slow
 * ones), so publishing never waits on a watcher. See pub.h.
 */
#include "server/pub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "core/err.h"
#include "server/connlimit.h"

struct vt__pub {
	nng_socket sock;      /* immutable; nng sockets are thread-safe */
	int port;	      /* immutable */
	vt__connlimit *limit; /* immutable; freed after the socket */
};

static void set_err(char *err, size_t errlen, const char *url, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "pub %s: %s", url, what);
}

vt_err vt__pub_start(vt__pub **out, const char *url, unsigned max_conns,
		     char *err, size_t errlen)
{
	if (out == NULL || url == NULL) {
		set_err(err, errlen, url != NULL ? url : "(null)",
			"invalid argument");
		return VT_EINVAL;
	}
	vt__pub *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		set_err(err, errlen, url, "out of memory");
		return VT_ENOMEM;
	}
	int rv = nng_pub0_open(&p->sock);
	if (rv != 0) {
		free(p);
		set_err(err, errlen, url, nng_strerror(rv));
		return vt__err_from_nng(rv);
	}
	vt_err e = vt__connlimit_attach(&p->limit, p->sock, max_conns);
	if (e != VT_OK) {
		nng_close(p->sock);
		free(p);
		set_err(err, errlen, url, vt_strerror(e));
		return e;
	}
	nng_listener l;
	if ((rv = nng_listen(p->sock, url, &l, 0)) != 0) {
		nng_close(p->sock);
		vt__connlimit_free(p->limit);
		free(p);
		set_err(err, errlen, url, nng_strerror(rv));
		return vt__err_from_nng(rv);
	}
	if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &p->port) != 0)
		p->port = 0;
	*out = p;
	return VT_OK;
}

vt_err vt__pub_send(vt__pub *p, const char *text)
{
	if (p == NULL || text == NULL)
		return VT_EINVAL;
	int rv =
	    nng_send(p->sock, (void *)text, strlen(text), NNG_FLAG_NONBLOCK);
	return vt__err_from_nng(rv);
}

int vt__pub_port(const vt__pub *p)
{
	return p != NULL ? p->port : 0;
}

void vt__pub_free(vt__pub *p)
{
	if (p == NULL)
		return;
	nng_close(p->sock);
	vt__connlimit_free(p->limit);
	free(p);
}
