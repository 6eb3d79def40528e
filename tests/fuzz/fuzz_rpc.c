/*
 * fuzz_rpc.c - libFuzzer target for the RPC server: the input is one
 * request message as the rep socket receives it, answered by
 * vt__rpc_handle (envelope decode, method dispatch for every method, the
 * service, Response packing) the way the server does, first without
 * waiting, then on "the pool", against the in-process service of fuzz.h.
 *
 * Checks, with an independent decode of the request: every input gets a
 * Response that decodes, with the code the request deserves (3 for what
 * does not decode or is over the size limit, 12 for an unknown method,
 * 5 for an unknown check, 12 for Reload, which the in-process service
 * cannot do, else 0); errors carry a message and no
 * payload; an OK payload decodes as the method's response, honours the
 * filters and goes through the JSON and Prometheus encoders; only
 * requests that may run checks are left for the pool, and those
 * untouched.
 *
 * Each input runs twice: against that service with no token (everyone
 * gets everything), then against the same checks and metrics with
 * FZ_TOKEN required, so that the access paths are fuzzed too: a
 * wrong token is 16 for every known method; no token is 16 for
 * Metrics, History and the admin methods, and statuses only for
 * Health/Check (no details, each error "reason withheld"); the right
 * token gets what the open service gives.
 */
#include <nng/nng.h>

#include "encode/admin.h"
#include "encode/protobuf.h"
#include "fuzz.h"
#include "grpc/health/v1/health.pb-c.h"
#include "server/rpc.h"
#include "vitals/encode.h"

/* Requests over this many bytes are answered with 3, unread. */
#define FZ_RPC_MAX_MSG 4096

/* A Health/Check answer: what the filter selected, and only that. */
static void fz_rpc_health(const vt__pb_health_req *hr, uint32_t code,
			  const vt__pb_response *r, bool withheld)
{
	const vt_health_filter *f = &hr->filter;
	bool valid = (f->name == NULL || fz_word(f->name)) &&
		     (f->tag == NULL || fz_word(f->tag));
	for (size_t i = 0; i < f->nexclude; i++)
		valid = valid && fz_word(f->exclude[i]);
	if (!valid) {
		VT_FUZZ_CHECK(code == 3);
		return;
	}
	bool known = f->name == NULL;
	for (size_t i = 0; i < FZ_NCHECKS && !known; i++)
		known = strcmp(fz_checks[i].name, f->name) == 0;
	if (!known) {
		VT_FUZZ_CHECK(code == 5);
		return;
	}
	VT_FUZZ_CHECK(code == 0);
	vt_health_snapshot *s = NULL;
	VT_FUZZ_CHECK(vt__pb_health_decode(r->payload, r->plen, &s) == VT_OK);
	fz_check_selection(s, f);
	for (size_t i = 0; withheld && i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		VT_FUZZ_CHECK(c->ndetails == 0);
		VT_FUZZ_CHECK(c->error == NULL ||
			      strcmp(c->error, "reason withheld") == 0);
	}
	char *json = NULL;
	size_t len = 0;
	VT_FUZZ_CHECK(vt_json_health(s, &json, &len) == VT_OK);
	cJSON_Delete(fz_json(json, len));
	free(json);
	vt__pb_health_free(s);
}

/* A Metrics/Get answer: the families and series the filter selected. */
static void fz_rpc_metrics(const vt_metrics_filter *f, uint32_t code,
			   const vt__pb_response *r)
{
	VT_FUZZ_CHECK(code == 0);
	vt_metrics_snapshot *s = NULL;
	VT_FUZZ_CHECK(vt__pb_metrics_decode(r->payload, r->plen, &s) == VT_OK);
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *fam = &s->families[i];
		if (f->name != NULL)
			VT_FUZZ_CHECK(strcmp(fam->name, f->name) == 0);
		if (f->name_prefix != NULL)
			VT_FUZZ_CHECK(strncmp(fam->name, f->name_prefix,
					      strlen(f->name_prefix)) == 0);
		for (size_t j = 0; j < fam->nseries; j++) {
			const vt_series_snap *ss = &fam->series[j];
			for (size_t k = 0; k < f->nlabels; k++) {
				bool carried = false;
				for (size_t l = 0; l < ss->nlabels; l++)
					carried |=
					    strcmp(ss->labels[l].name,
						   f->labels[k].name) == 0 &&
					    strcmp(ss->labels[l].value,
						   f->labels[k].value) == 0;
				VT_FUZZ_CHECK(carried);
			}
		}
	}
	char *out = NULL;
	size_t len = 0;
	VT_FUZZ_CHECK(vt_json_metrics(s, &out, &len) == VT_OK);
	cJSON_Delete(fz_json(out, len));
	free(out);
	VT_FUZZ_CHECK(vt_prom_metrics(s, &out, &len) == VT_OK);
	fz_check_prom(out, len);
	free(out);
	vt__pb_metrics_free(s);
}

/* grpc.health.v1.Health/Check: "" and every check name serve or not;
 * any other name is unknown. */
static void fz_rpc_grpc_check(const uint8_t *payload, size_t plen,
			      uint32_t code, const vt__pb_response *r)
{
	char *service = NULL;
	if (vt__pb_grpc_check_req_decode(payload, plen, &service) != VT_OK) {
		VT_FUZZ_CHECK(code == 3);
		return;
	}
	bool known = service[0] == '\0';
	for (size_t i = 0; i < FZ_NCHECKS && !known; i++)
		known = strcmp(fz_checks[i].name, service) == 0;
	free(service);
	if (!known) {
		VT_FUZZ_CHECK(code == 5);
		return;
	}
	VT_FUZZ_CHECK(code == 0);
	int serving = 0;
	VT_FUZZ_CHECK(vt__pb_grpc_check_resp_decode(r->payload, r->plen,
						    &serving) == VT_OK);
	VT_FUZZ_CHECK(serving == VT__SERVING || serving == VT__NOT_SERVING);
}

/* grpc.health.v1.Health/List: "" and every check, each serving or not. */
static void fz_rpc_grpc_list(const uint8_t *payload, size_t plen, uint32_t code,
			     const vt__pb_response *r)
{
	if (vt__pb_grpc_list_req_check(payload, plen) != VT_OK) {
		VT_FUZZ_CHECK(code == 3);
		return;
	}
	VT_FUZZ_CHECK(code == 0);
	Grpc__Health__V1__HealthListResponse *lr =
	    grpc__health__v1__health_list_response__unpack(NULL, r->plen,
							   r->payload);
	VT_FUZZ_CHECK(lr != NULL);
	VT_FUZZ_CHECK(lr->n_statuses == FZ_NCHECKS + 1);
	for (size_t i = 0; i < lr->n_statuses; i++) {
		const Grpc__Health__V1__HealthCheckResponse *v =
		    lr->statuses[i]->value;
		VT_FUZZ_CHECK(v != NULL);
		VT_FUZZ_CHECK((int)v->status == VT__SERVING ||
			      (int)v->status == VT__NOT_SERVING);
	}
	grpc__health__v1__health_list_response__free_unpacked(lr, NULL);
}

/* The server's cache of the plain cached health answer, so that its
 * reuses are checked by the same invariants as fresh encodes. */
static vt__acache *fz_rpc_cache(void)
{
	static vt__acache *k;
	if (k == NULL)
		VT_FUZZ_CHECK(vt__acache_alloc(&k, 2) == VT_OK);
	return k;
}

static bool fz_rpc_known(const char *m)
{
	static const char *const known[] = {
	    VT__M_HEALTH, VT__M_METRICS, VT__M_GRPC_CHECK, VT__M_GRPC_LIST,
	    VT__M_RELOAD, VT__M_HISTORY, VT__M_BEAT,	   VT__M_SILENCE};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return true;
	return false;
}

/* What the token service says to a request of a known method before
 * (or instead of) its answer: true when the oracle is done with it;
 * *withheld when the caller gets statuses only. */
static bool fz_rpc_access(const vt__pb_request *env, uint32_t code,
			  bool entered, bool waited, bool *withheld)
{
	const char *m = env->method;
	bool right = strcmp(env->token, FZ_TOKEN) == 0;
	*withheld = !right;
	if (!right && env->token[0] != '\0') {
		VT_FUZZ_CHECK(code == 16 && !entered && !waited);
		return true;
	}
	if (!right &&
	    (strcmp(m, VT__M_METRICS) == 0 || strcmp(m, VT__M_HISTORY) == 0 ||
	     strcmp(m, VT__M_BEAT) == 0 || strcmp(m, VT__M_SILENCE) == 0 ||
	     strcmp(m, VT__M_RELOAD) == 0)) {
		/* Refused at once: a caller without the token never takes
		 * a worker. */
		VT_FUZZ_CHECK(code == 16 && !waited);
		return true;
	}
	return false;
}

static void fz_rpc_run(vt__service *svc, bool token, const uint8_t *data,
		       size_t size)
{
	nng_msg *msg = NULL;
	VT_FUZZ_CHECK(nng_msg_alloc(&msg, 0) == 0);
	VT_FUZZ_CHECK(nng_msg_append(msg, data, size) == 0);

	/* As the server: answer now if that cannot wait on a check, else
	 * again where waiting is fine. */
	bool entered = false;
	bool waited = false;
	if (!vt__rpc_handle(svc, fz_rpc_cache(), FZ_RPC_MAX_MSG, msg, true,
			    &entered)) {
		VT_FUZZ_CHECK(entered);
		VT_FUZZ_CHECK(nng_msg_len(msg) == size);
		VT_FUZZ_CHECK(size == 0 ||
			      memcmp(nng_msg_body(msg), data, size) == 0);
		waited = true;
		VT_FUZZ_CHECK(vt__rpc_handle(
		    svc, fz_rpc_cache(), FZ_RPC_MAX_MSG, msg, false, &entered));
	}
	if (entered)
		vt__service_leave(svc);

	vt__pb_response r;
	VT_FUZZ_CHECK(vt__pb_response_decode(nng_msg_body(msg),
					     nng_msg_len(msg), &r) == VT_OK);
	uint32_t code = r.code;
	const char *text = r.message != NULL ? r.message : "";
	if (code == 0) {
		VT_FUZZ_CHECK(text[0] == '\0');
	} else {
		VT_FUZZ_CHECK(text[0] != '\0' && r.plen == 0);
		VT_FUZZ_CHECK(fz_utf8_valid(text, strlen(text)));
	}

	/* What the request deserves, decoded here on its own. */
	vt__pb_request env;
	if (size > FZ_RPC_MAX_MSG) {
		VT_FUZZ_CHECK(code == 3 && !entered && !waited);
	} else if (vt__pb_request_decode(data, size, &env) != VT_OK) {
		VT_FUZZ_CHECK(code == 3 && !waited);
	} else {
		const char *m = env.method;
		bool withheld = false;
		if (token && fz_rpc_known(m) &&
		    fz_rpc_access(&env, code, entered, waited, &withheld)) {
			/* refused: nothing more to check */
		} else if (m[0] == '\0') {
			VT_FUZZ_CHECK(code == 3 && !waited);
		} else if (strcmp(m, VT__M_HEALTH) == 0) {
			vt__pb_health_req hr;
			if (vt__pb_health_req_decode(env.payload, env.plen,
						     &hr) != VT_OK) {
				VT_FUZZ_CHECK(code == 3);
			} else {
				VT_FUZZ_CHECK(waited ==
					      (hr.mode == VT_RUN_FRESH));
				fz_rpc_health(&hr, code, &r, withheld);
				vt__pb_health_req_fini(&hr);
			}
		} else if (strcmp(m, VT__M_METRICS) == 0) {
			VT_FUZZ_CHECK(!waited);
			vt__pb_metrics_req mr;
			if (vt__pb_metrics_req_decode(env.payload, env.plen,
						      &mr) != VT_OK) {
				VT_FUZZ_CHECK(code == 3);
			} else {
				fz_rpc_metrics(&mr.filter, code, &r);
				vt__pb_metrics_req_fini(&mr);
			}
		} else if (strcmp(m, VT__M_GRPC_CHECK) == 0) {
			VT_FUZZ_CHECK(waited);
			fz_rpc_grpc_check(env.payload, env.plen, code, &r);
		} else if (strcmp(m, VT__M_GRPC_LIST) == 0) {
			VT_FUZZ_CHECK(waited);
			fz_rpc_grpc_list(env.payload, env.plen, code, &r);
		} else if (strcmp(m, VT__M_RELOAD) == 0) {
			/* The in-process service has no config file: 12,
			 * once the (empty) request decodes. */
			bool ok = vt__pb_reload_req_check(env.payload,
							  env.plen) == VT_OK;
			VT_FUZZ_CHECK(code == (ok ? 12u : 3u));
			VT_FUZZ_CHECK(strstr(text, ok ? "not supported"
						      : "malformed") != NULL);
		} else if (strcmp(m, VT__M_HISTORY) == 0 ||
			   strcmp(m, VT__M_BEAT) == 0 ||
			   strcmp(m, VT__M_SILENCE) == 0) {
			/* Served (their answers are tested in itest_history
			 * and itest_alerts): whatever the payload, an answer.
			 */
			VT_FUZZ_CHECK(code != 12);
		} else {
			VT_FUZZ_CHECK(code == 12 && !entered && !waited);
		}
		vt__pb_request_fini(&env);
	}
	vt__pb_response_fini(&r);
	nng_msg_free(msg);
}

static int vt_fuzz_rpc(const uint8_t *data, size_t size)
{
	fz_rpc_run(fz_service(), false, data, size);
	fz_rpc_run(fz_token_service(), true, data, size);
	return 0;
}

#ifndef VT_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vt_fuzz_rpc(data, size);
}
#endif
