/*
 * err.c - texts of the library's error codes.
 */
#include "vitals/err.h"

const char *vt_strerror(vt_err err)
{
	switch (err) {
	case VT_OK:
		return "ok";
	case VT_EINVAL:
		return "invalid argument";
	case VT_ENOMEM:
		return "out of memory";
	case VT_ETIMEDOUT:
		return "timed out";
	case VT_EFULL:
		return "queue or table full";
	case VT_EEXIST:
		return "name already registered";
	case VT_ENOENT:
		return "no such name";
	case VT_EKIND:
		return "name registered with another kind";
	case VT_ECLOSED:
		return "shutting down";
	case VT_ETOOBIG:
		return "over the size limit";
	case VT_EPROTO:
		return "malformed message";
	case VT_EIO:
		return "input/output error";
	case VT_EUNAVAIL:
		return "unavailable";
	case VT_EAUTH:
		return "authentication refused";
	case VT_EINTERNAL:
		return "internal error";
	}
	return "unknown error";
}
