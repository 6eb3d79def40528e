/*
 * vitals/err.h - the one error enum of the library.
 *
 * Every fallible call returns a vt_err; VT_OK is zero. Codes of foreign
 * libraries (nng, libcurl, hiredis, librabbitmq) are mapped to these at
 * the boundary where they are called. errno is never returned.
 */
#ifndef VITALS_ERR_H
#define VITALS_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_err {
	VT_OK = 0,
	VT_EINVAL,    /* bad argument: name, value, option */
	VT_ENOMEM,    /* allocation failed */
	VT_ETIMEDOUT, /* deadline passed */
	VT_EFULL,     /* bounded queue or table is full */
	VT_EEXIST,    /* name already registered */
	VT_ENOENT,    /* no such name */
	VT_EKIND,     /* name registered with another metric kind */
	VT_ECLOSED,   /* object is shutting down */
	VT_ETOOBIG,   /* input or output over its size limit */
	VT_EPROTO,    /* malformed message or peer answer */
	VT_EIO,	      /* I/O or system call failed */
	VT_EUNAVAIL,  /* dependency or server unreachable */
	VT_EAUTH,     /* authentication refused */
	VT_EINTERNAL, /* a bug: should not happen */
} vt_err;

/* Returns a static, human-readable text for err. Thread-safe. */
const char *vt_strerror(vt_err err);

#ifdef __cplusplus
}
#endif
#endif
