/*
 * connlimit.c - a cap on one nng socket's pipes. See connlimit.h.
 *
 * The admitted pipes' ids are kept in an array (connections come and go
 * rarely next to requests, so a linear removal is fine): a pipe closed
 * in ADD_PRE never gets a REM_POST, and one admitted always does, so
 * only ids found in the array are counted out.
 */
#include "server/connlimit.h"

#include <pthread.h>
#include <stdlib.h>

struct vt__connlimit {
	pthread_mutex_t mtx;
	unsigned max;	  /* immutable */
	unsigned n;	  /* protected by mtx */
	uint32_t *ids;	  /* [max]; protected by mtx */
	uint64_t refused; /* protected by mtx */
};

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	vt__connlimit *cl = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	pthread_mutex_lock(&cl->mtx);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (cl->n < cl->max) {
			cl->ids[cl->n++] = id;
		} else {
			cl->refused++;
			(void)nng_pipe_close(p);
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		for (unsigned i = 0; i < cl->n; i++) {
			if (cl->ids[i] == id) {
				cl->ids[i] = cl->ids[--cl->n];
				break;
			}
		}
	}
	pthread_mutex_unlock(&cl->mtx);
}

vt_err vt__connlimit_attach(vt__connlimit **out, nng_socket sock, unsigned max)
{
	if (out == NULL)
		return VT_EINVAL;
	if (max == 0)
		max = VT__CONNS_DEFAULT;
	vt__connlimit *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return VT_ENOMEM;
	cl->max = max;
	if ((cl->ids = calloc(max, sizeof(*cl->ids))) == NULL) {
		free(cl);
		return VT_ENOMEM;
	}
	if (pthread_mutex_init(&cl->mtx, NULL) != 0) {
		free(cl->ids);
		free(cl);
		return VT_ENOMEM;
	}
	if (nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, on_pipe, cl) != 0 ||
	    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_pipe, cl) != 0) {
		(void)nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, NULL, NULL);
		(void)nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
		vt__connlimit_free(cl);
		return VT_EINVAL;
	}
	*out = cl;
	return VT_OK;
}

unsigned vt__connlimit_current(vt__connlimit *cl)
{
	pthread_mutex_lock(&cl->mtx);
	unsigned n = cl->n;
	pthread_mutex_unlock(&cl->mtx);
	return n;
}

uint64_t vt__connlimit_refused(vt__connlimit *cl)
{
	pthread_mutex_lock(&cl->mtx);
	uint64_t n = cl->refused;
	pthread_mutex_unlock(&cl->mtx);
	return n;
}

void vt__connlimit_free(vt__connlimit *cl)
{
	if (cl == NULL)
		return;
	pthread_mutex_destroy(&cl->mtx);
	free(cl->ids);
	free(cl);
}
