/*
 * admin.c - BeatRequest and SilenceRequest (admin.h) through protoc-c.
 * The responses are empty messages: an empty payload.
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
