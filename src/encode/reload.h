/*
 * reload.h - the protobuf messages of vitals.v1.Admin/Reload
 * (proto/vitals/v1/admin.proto), packed and unpacked with protoc-c's
 * code so that the RPC server and the client share one form.
 */
#ifndef VT_ENCODE_RELOAD_H
#define VT_ENCODE_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "vitals/err.h"
#include "vitals/reload.h"

#define VT__M_RELOAD "vitals.v1.Admin/Reload"

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
