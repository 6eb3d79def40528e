/*
 * reload.c - ReloadRequest and ReloadResponse (reload.h) through
 * protoc-c. The request is empty; the response carries four lists of
 * strings, the vt_reload_report.
 */
#include "encode/reload.h"

#include <stdlib.h>
#include <string.h>

#include "vitals/v1/admin.pb-c.h"

static vt_err pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n > 0 ? n : 1);
	if (b == NULL)
		return VT_ENOMEM;
	*len = protobuf_c_message_pack(m, b);
	*out = b;
	return VT_OK;
}

vt_err vt__pb_reload_req_encode(uint8_t **out, size_t *len)
{
	if (out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__ReloadRequest m = VITALS__V1__RELOAD_REQUEST__INIT;
	return pack(&m.base, out, len);
}

vt_err vt__pb_reload_req_check(const uint8_t *b, size_t n)
{
	Vitals__V1__ReloadRequest *m =
	    vitals__v1__reload_request__unpack(NULL, n, b);
	if (m == NULL)
		return VT_EPROTO;
	vitals__v1__reload_request__free_unpacked(m, NULL);
	return VT_OK;
}

vt_err vt__pb_reload_resp_encode(const vt_reload_report *r, uint8_t **out,
				 size_t *len)
{
	if (r == NULL || out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__ReloadResponse m = VITALS__V1__RELOAD_RESPONSE__INIT;
	m.added = r->added;
	m.n_added = r->nadded;
	m.removed = r->removed;
	m.n_removed = r->nremoved;
	m.changed = r->changed;
	m.n_changed = r->nchanged;
	m.ignored = r->ignored;
	m.n_ignored = r->nignored;
	return pack(&m.base, out, len);
}

/* Notes each of list[0..n) in r as what. */
static vt_err note_all(vt_reload_report *r, vt_reload_what what,
		       char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vt_err err = vt_reload_report_note(r, what, list[i]);
		if (err != VT_OK)
			return err;
	}
	return VT_OK;
}

vt_err vt__pb_reload_resp_decode(const uint8_t *b, size_t n,
				 vt_reload_report *r)
{
	memset(r, 0, sizeof(*r));
	Vitals__V1__ReloadResponse *m =
	    vitals__v1__reload_response__unpack(NULL, n, b);
	if (m == NULL)
		return VT_EPROTO;
	vt_err err = note_all(r, VT_RELOAD_ADDED, m->added, m->n_added);
	if (err == VT_OK)
		err = note_all(r, VT_RELOAD_REMOVED, m->removed, m->n_removed);
	if (err == VT_OK)
		err = note_all(r, VT_RELOAD_CHANGED, m->changed, m->n_changed);
	if (err == VT_OK)
		err = note_all(r, VT_RELOAD_IGNORED, m->ignored, m->n_ignored);
	vitals__v1__reload_response__free_unpacked(m, NULL);
	if (err != VT_OK)
		vt_reload_report_fini(r);
	return err;
}
