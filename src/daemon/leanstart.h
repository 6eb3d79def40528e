/*
 * leanstart.h - vitalsd starts again without GnuTLS's initialiser
 * (leanstart.c).
 */
#ifndef VT_DAEMON_LEANSTART_H
#define VT_DAEMON_LEANSTART_H

/* Executes vitalsd again (the same process, the same arguments) with
 * GNUTLS_NO_IMPLICIT_INIT=1 in its environment; in that second image,
 * takes the variable out again and returns. Also returns, doing
 * nothing, when the caller set GNUTLS_NO_IMPLICIT_INIT itself or the
 * exec fails. Call first in main, before any thread exists. */
void vt__lean_start(char **argv);

#endif
