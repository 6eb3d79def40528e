/*
 * leanstart.c - spares vitalsd the initialiser of GnuTLS, a library it
 * loads but never uses.
 *
 * GnuTLS comes in only as a dependency of libcurl's own dependencies
 * (librtmp and libldap, for rtmp:// and ldap:// URLs); vitalsd's
 * requests are http and https only, over OpenSSL. Its initialiser runs
 * anyway when the library loads, before main: it reads the system's
 * priority settings, loads p11-kit and runs its self-tests, which cost
 * about 1 MiB of vitalsd's resident memory (bench/bench_footprint.sh).
 * GnuTLS skips it when GNUTLS_NO_IMPLICIT_INIT=1 is in the environment
 * the process starts with; nothing set later counts (libc resets
 * environ before any library initialiser runs). So the daemon executes
 * its own file (the target of /proc/self/exe, so that the process keeps
 * its name) once more with the variable and a marker added: same pid,
 * arguments, descriptors and signal state, a fresh address space. The second
 * image sees the marker and takes both out again, so exec checks' plugins
 * inherit exactly the environment vitalsd was given. A variable set by whoever
 * started vitalsd is left alone, and when the exec fails vitalsd runs on as it
 * is.
 */
#include "daemon/leanstart.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#define NO_INIT "GNUTLS_NO_IMPLICIT_INIT"
#define MARKER	"VITALSD_LEAN_START"

void vt__lean_start(char **argv)
{
	if (getenv(MARKER) != NULL) { /* the second image */
		unsetenv(MARKER);
		unsetenv(NO_INIT);
		return;
	}
	if (getenv(NO_INIT) != NULL || argv == NULL || argv[0] == NULL)
		return;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return;
	self[n] = '\0';
	if (setenv(NO_INIT, "1", 1) != 0 || setenv(MARKER, "1", 1) != 0) {
		unsetenv(NO_INIT);
		return;
	}
	execv(self, argv);
	unsetenv(MARKER);
	unsetenv(NO_INIT);
}
