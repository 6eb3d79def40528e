/*
 * admin.c - BeatRequest, SilenceRequest, ReloadRequest and
 * ReloadResponse (admin.h) through protoc-c. The Beat and Silence
 * responses are empty messages: an empty payload. A ReloadResponse
 * carries the four lists of names of a vt_reload_report.
 */
#include "encode/admin.h"

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

vt_err vt__pb_beat_req_encode(const char *name, uint8_t **out, size_t *len)
{
	if (name == NULL || out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__BeatRequest m = VITALS__V1__BEAT_REQUEST__INIT;
	m.name = (char *)name;
	return pack(&m.base, out, len);
}

vt_err vt__pb_beat_req_decode(const uint8_t *b, size_t n, char **name)
{
	Vitals__V1__BeatRequest *m =
	    vitals__v1__beat_request__unpack(NULL, n, b);
	if (m == NULL)
		return VT_EPROTO;
	*name = strdup(m->name != NULL ? m->name : "");
	vitals__v1__beat_request__free_unpacked(m, NULL);
	return *name != NULL ? VT_OK : VT_ENOMEM;
}

vt_err vt__pb_silence_req_encode(const char *name, int64_t duration_ms,
				 uint8_t **out, size_t *len)
{
	if (duration_ms < 0 || out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__SilenceRequest m = VITALS__V1__SILENCE_REQUEST__INIT;
	m.name = (char *)(name != NULL ? name : "");
	m.all = name == NULL;
	m.duration_ms = (uint64_t)duration_ms;
	return pack(&m.base, out, len);
}

vt_err vt__pb_silence_req_decode(const uint8_t *b, size_t n, char **name,
				 int64_t *duration_ms)
{
	Vitals__V1__SilenceRequest *m =
	    vitals__v1__silence_request__unpack(NULL, n, b);
	if (m == NULL)
		return VT_EPROTO;
	vt_err rv = VT_OK;
	*name = NULL;
	if (m->duration_ms > (uint64_t)INT64_MAX)
		rv = VT_EINVAL;
	else if (!m->all &&
		 (*name = strdup(m->name != NULL ? m->name : "")) == NULL)
		rv = VT_ENOMEM;
	*duration_ms = (int64_t)m->duration_ms;
	vitals__v1__silence_request__free_unpacked(m, NULL);
	return rv;
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
