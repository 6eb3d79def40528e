/*
 * pages.h - the gateway's history routes (pages.c): GET
 * /health/NAME/history?since=&limit=, the status page (GET /, /status)
 * and badges (GET /badge/NAME.svg, /badge/NAME/uptime/24h.svg).
 */
#ifndef VT_SERVER_PAGES_H
#define VT_SERVER_PAGES_H

#include <stdbool.h>

#include "server/gateway.h"
#include "server/service.h"

/* Whether uri (as sent) names one of these routes. */
bool vt__pages_match(const char *uri);

/* Answers uri into *a (status, type, body; head and close untouched).
 * full: the caller has the token (or none is set). May read the
 * database: call off nng's thread. */
void vt__pages_answer(vt__service *svc, const char *uri, bool full,
		      vt__gw_response *a);

#endif
