/*
 * admin.h - the protobuf messages of heartbeats, silences and reloads
 * (proto/vitals/v1/admin.proto), packed and unpacked with protoc-c's
 * code so that the RPC server and the client share one form.
 */
#ifndef VT_ENCODE_ADMIN_H
#define VT_ENCODE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/reload.h"

#define VT__M_BEAT    "vitals.v1.Health/Beat"
#define VT__M_SILENCE "vitals.v1.Admin/Silence"
#define VT__M_RELOAD  "vitals.v1.Admin/Reload"

/* BeatRequest{name}; *out malloc'd. VT_EINVAL for a NULL name. */
vt_err vt__pb_beat_req_encode(const char *name, uint8_t **out, size_t *len);
/* The name of a BeatRequest (malloc'd into *name). VT_EPROTO. */
vt_err vt__pb_beat_req_decode(const uint8_t *b, size_t n, char **name);
/* SilenceRequest: name NULL = all; duration_ms 0 = end it. */
vt_err vt__pb_silence_req_encode(const char *name, int64_t duration_ms,
				 uint8_t **out, size_t *len);
/* *name malloc'd, NULL for all. VT_EPROTO, VT_EINVAL for a duration
 * over INT64_MAX. */
vt_err vt__pb_silence_req_decode(const uint8_t *b, size_t n, char **name,
				 int64_t *duration_ms);

/* An empty ReloadRequest; *out malloc'd. */
vt_err vt__pb_reload_req_encode(uint8_t **out, size_t *len);
/* VT_OK when b[0..n) is a ReloadRequest (unknown fields are skipped, as
 * protobuf does), else VT_EPROTO. */
vt_err vt__pb_reload_req_check(const uint8_t *b, size_t n);
/* ReloadResponse from r; *out malloc'd. */
vt_err vt__pb_reload_resp_encode(const vt_reload_report *r, uint8_t **out,
				 size_t *len);
/* A ReloadResponse into *r (zeroed first; vt_reload_report_fini frees
 * it). VT_EPROTO, VT_ENOMEM. */
vt_err vt__pb_reload_resp_decode(const uint8_t *b, size_t n,
				 vt_reload_report *r);

#endif
