/*
 * err.c - texts of the library's error codes, and the one mapping of
 * foreign codes (nng's, errno) to vt_err and text (core/err.h).
 */
#include <errno.h>

#include <nng/nng.h>

#include "core/err.h"
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

vt_err vt__err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return VT_OK;
	case NNG_ENOMEM:
		return VT_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_ENOARG:
	case NNG_EAMBIGUOUS:
	case NNG_EBADTYPE:
		return VT_EINVAL;
	case NNG_ETIMEDOUT:
		return VT_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return VT_ECLOSED;
	case NNG_EMSGSIZE:
		return VT_ETOOBIG;
	case NNG_EAGAIN:
		return VT_EFULL;
	case NNG_EEXIST:
		return VT_EEXIST;
	case NNG_EPROTO:
		return VT_EPROTO;
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return VT_EAUTH;
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNABORTED:
	case NNG_ECONNSHUT:
	case NNG_EUNREACHABLE:
	case NNG_ENOENT:
	case NNG_EPERM:
	case NNG_EADDRINUSE:
		return VT_EUNAVAIL;
	case NNG_EINTERNAL:
		return VT_EINTERNAL;
	default:
		return VT_EIO;
	}
}

/* Network errors first, then those of files and processes. */
const char *vt__errno_text(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ETIMEDOUT:
		return "connection timed out";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case EADDRNOTAVAIL:
		return "address not available";
	case EAFNOSUPPORT:
		return "address family not supported";
	case ECONNRESET:
		return "connection reset";
	case ENOENT:
		return "no such file or directory";
	case ENOTDIR:
		return "a component of the path is not a directory";
	case EACCES:
		return "permission denied";
	case EPERM:
		return "not permitted";
	case ELOOP:
		return "too many symbolic links";
	case ENAMETOOLONG:
		return "path too long";
	case EIO:
		return "I/O error";
	case EOVERFLOW:
		return "sizes too large to report";
	case ENOSYS:
		return "not supported by the system";
	case ENOEXEC:
		return "not an executable format";
	case EAGAIN:
		return "resource limit reached (processes or ports)";
	case E2BIG:
		return "argument list too long";
	case ETXTBSY:
		return "text file busy";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	case ENOMEM:
	case ENOBUFS:
		return "out of memory";
	default:
		return "system error";
	}
}
