/*
 * tls.c - nng TLS configurations from PEM files.
 *
 * Debian's libnng 1.5.2 is built with mbedTLS (libmbedtls.so.14), which
 * serves tls+tcp:// and takes PEM text: the files are read here (at most
 * MAX_PEM bytes each) and handed over with nng_tls_config_own_cert and
 * nng_tls_config_ca_chain, so that the certificate and the key may live
 * in separate files and every error names the file at fault.
 */
#include "server/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEM (1024 * 1024)

/* Reads the PEM file at path into a malloc'd NUL-terminated string. */
static vt_err read_pem(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return VT_EIO;
	}
	char *buf = malloc(MAX_PEM + 1);
	if (buf == NULL) {
		fclose(f);
		return VT_ENOMEM;
	}
	size_t n = fread(buf, 1, MAX_PEM + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > MAX_PEM || n == 0) {
		snprintf(err, errlen, "%s: %s", path,
			 bad	  ? "read error"
			 : n == 0 ? "empty"
				  : "over 1 MiB");
		free(buf);
		return bad ? VT_EIO : VT_EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	return VT_OK;
}

/* Loads the certificate cert (with chain) and key key into cfg. */
static vt_err own_cert(nng_tls_config *cfg, const char *cert, const char *key,
		       char *err, size_t errlen)
{
	char *c = NULL, *k = NULL;
	vt_err rv = read_pem(cert, &c, err, errlen);
	if (rv == VT_OK)
		rv = read_pem(key, &k, err, errlen);
	if (rv == VT_OK && nng_tls_config_own_cert(cfg, c, k, NULL) != 0) {
		snprintf(err, errlen,
			 "%s, %s: not a certificate and its private key "
			 "(PEM)",
			 cert, key);
		rv = VT_EINVAL;
	}
	free(c);
	free(k);
	return rv;
}

/* Loads the CA chain in the file ca into cfg. */
static vt_err ca_chain(nng_tls_config *cfg, const char *ca, char *err,
		       size_t errlen)
{
	char *pem = NULL;
	vt_err rv = read_pem(ca, &pem, err, errlen);
	if (rv == VT_OK && nng_tls_config_ca_chain(cfg, pem, NULL) != 0) {
		snprintf(err, errlen, "%s: not a CA certificate (PEM)", ca);
		rv = VT_EINVAL;
	}
	free(pem);
	return rv;
}

vt_err vt__tls_server_config(nng_tls_config **out, const char *cert,
			     const char *key, const char *ca, char *err,
			     size_t errlen)
{
	nng_tls_config *cfg;
	if (nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER) != 0) {
		snprintf(err, errlen, "TLS is not available");
		return VT_ENOMEM;
	}
	vt_err rv = own_cert(cfg, cert, key, err, errlen);
	if (rv == VT_OK && ca != NULL) {
		rv = ca_chain(cfg, ca, err, errlen);
		if (rv == VT_OK && nng_tls_config_auth_mode(
				       cfg, NNG_TLS_AUTH_MODE_REQUIRED) != 0)
			rv = VT_EINVAL;
	} else if (rv == VT_OK) {
		(void)nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
	}
	if (rv != VT_OK) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return VT_OK;
}

vt_err vt__tls_client_config(nng_tls_config **out, const char *ca,
			     const char *cert, const char *key,
			     const char *server_name, char *err, size_t errlen)
{
	if (ca == NULL || (cert == NULL) != (key == NULL)) {
		snprintf(err, errlen,
			 "TLS needs a CA file, and a client certificate "
			 "needs its key");
		return VT_EINVAL;
	}
	nng_tls_config *cfg;
	if (nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT) != 0) {
		snprintf(err, errlen, "TLS is not available");
		return VT_ENOMEM;
	}
	vt_err rv = ca_chain(cfg, ca, err, errlen);
	if (rv == VT_OK && cert != NULL)
		rv = own_cert(cfg, cert, key, err, errlen);
	if (rv == VT_OK &&
	    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED) != 0)
		rv = VT_EINVAL;
	if (rv == VT_OK && server_name != NULL &&
	    nng_tls_config_server_name(cfg, server_name) != 0)
		rv = VT_ENOMEM;
	if (rv != VT_OK) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return VT_OK;
}

vt_err vt__tls_url(const char *url, char *out, size_t cap)
{
	int n = strncmp(url, "tcp://", 6) == 0
		    ? snprintf(out, cap, "tls+%s", url)
		    : snprintf(out, cap, "%s", url);
	return n < 0 || (size_t)n >= cap ? VT_ETOOBIG : VT_OK;
}
