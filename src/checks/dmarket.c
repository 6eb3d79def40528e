/*
 * dmarket.c - the dmarket check: is the DMarket trading API up, and are
 * our keys accepted?
 *
 * With keys, a run sends GET /account/v1/balance signed as DMarket
 * documents: the text method + path?query + body + timestamp (unix
 * seconds) is signed with Ed25519, and the request carries
 *   X-Api-Key:      the public key, lower-case hex
 *   X-Sign-Date:    the timestamp
 *   X-Request-Sign: "dmar ed25519 " + the signature, lower-case hex.
 * Without keys it sends the public GET
 * /exchange/v1/market/items?gameId=a8db&limit=1&currency=USD. The path is
 * appended to base_url; the signed path is the route alone, so a
 * base_url with a path prefix suits a proxy that strips that prefix.
 *
 * Keys are checked at registration: the secret key is 64 bytes of hex,
 * seed || public key (NaCl's layout); its seed must derive its own
 * public half and the given public key. Only an OpenSSL EVP_PKEY made
 * from the seed is kept; the decoded bytes are wiped and the secret
 * never reaches a detail, an error or the wire. A balance is private, so
 * it is not reported either: 2xx is healthy; 401/403 (keys refused) and
 * other statuses are UNHEALTHY, 429 (rate limited, yet up) DEGRADED.
 * HTTP itself goes through httpreq.c.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checks/budget.h"
#include "checks/httpreq.h"
#include "checks/url.h"
#include "vitals/checks.h"

#define DEFAULT_BASE_URL "https://api.dmarket.com"
#define BALANCE_PATH	 "/account/v1/balance"
#define MARKET_PATH	 "/exchange/v1/market/items?gameId=a8db&limit=1&currency=USD"
#define KEY_LEN		 32  /* Ed25519 public key and seed */
#define SIG_LEN		 64  /* Ed25519 signature */
#define BODY_KEEP	 160 /* bytes of an error answer quoted */

typedef struct dmarket_check {
	/* immutable after registration; one run at a time uses pkey */
	char *url;   /* base_url + path */
	char *shown; /* url with any password redacted */
	const char *path;
	EVP_PKEY *pkey;		       /* NULL: public endpoint */
	char pub_hex[2 * KEY_LEN + 1]; /* lower-case */
	int timeout_ms;
} dmarket_check;

static void dmarket_check_free(void *arg)
{
	dmarket_check *c = arg;
	if (c == NULL)
		return;
	free(c->url);
	free(c->shown);
	EVP_PKEY_free(c->pkey);
	free(c);
}

/* Decodes exactly n bytes from the hex text s (2n digits, either case,
 * no separators). 0 on success, -1 if s is not that. */
static int hex_decode(const char *s, unsigned char *out, size_t n)
{
	size_t len = 0;
	if (strlen(s) != 2 * n ||
	    OPENSSL_hexstr2buf_ex(out, n, &len, s, '\0') != 1 || len != n)
		return -1;
	return 0;
}
/* Writes in[0..n) as lower-case hex into out[2n + 1], as DMarket shows
 * its keys and signatures (OPENSSL_buf2hexstr_ex writes upper case). */
static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	if (OPENSSL_buf2hexstr_ex(out, 2 * n + 1, NULL, in, n, '\0') != 1) {
		out[0] = '\0';
		return;
	}
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
} /* The signing key of a secret key (hex seed || public) whose halves
   * agree with each other and with pub_hex; NULL when they do not. */
static EVP_PKEY *load_keys(const char *pub_hex, const char *secret_hex,
			   vt_err *err)
{
	unsigned char secret[2 * KEY_LEN], pub[KEY_LEN], derived[KEY_LEN];
	size_t dlen = sizeof(derived);
	EVP_PKEY *k = NULL;
	*err = VT_EINVAL;
	if (hex_decode(pub_hex, pub, KEY_LEN) != 0 ||
	    hex_decode(secret_hex, secret, sizeof(secret)) != 0)
		goto out;
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, secret,
					 KEY_LEN);
	if (k == NULL) {
		*err = VT_EINTERNAL;
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(k, derived, &dlen) != 1 ||
	    dlen != KEY_LEN) {
		*err = VT_EINTERNAL;
		goto fail_key;
	}
	if (CRYPTO_memcmp(derived, secret + KEY_LEN, KEY_LEN) != 0 ||
	    CRYPTO_memcmp(derived, pub, KEY_LEN) != 0)
		goto fail_key;
	*err = VT_OK;
	goto out;
fail_key:
	EVP_PKEY_free(k);
	k = NULL;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return k;
}

/* Signs msg with k into sig_hex[2 * SIG_LEN + 1]. 0 on success. */
static int sign_hex(EVP_PKEY *k, const char *msg, char *sig_hex)
{
	unsigned char sig[SIG_LEN];
	size_t slen = sizeof(sig);
	int rc = -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)msg,
			   strlen(msg)) == 1 &&
	    slen == SIG_LEN) {
		hex_encode(sig, SIG_LEN, sig_hex);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* The headers of a signed GET of path: X-Api-Key, X-Sign-Date and
 * X-Request-Sign written into the three buffers. 0 on success. */
static int sign_request(const dmarket_check *c, char key_h[96], char date_h[48],
			char sign_h[192])
{
	long long ts = (long long)time(NULL);
	char msg[256], sig_hex[2 * SIG_LEN + 1];
	int n = snprintf(msg, sizeof(msg), "GET%s%lld", c->path, ts);
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    sign_hex(c->pkey, msg, sig_hex))
		return -1;
	snprintf(key_h, 96, "X-Api-Key: %s", c->pub_hex);
	snprintf(date_h, 48, "X-Sign-Date: %lld", ts);
	snprintf(sign_h, 192, "X-Request-Sign: dmar ed25519 %s", sig_hex);
	return 0;
}

static void dmarket_run(vt_check_result *r, void *arg)
{
	dmarket_check *c = arg;
	vt_result_detail_str(r, "url", c->shown);
	vt_result_detail_bool(r, "signed", c->pkey != NULL);
	int budget = vt__check_budget_ms(r);
	if (budget <= 0) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r,
				"timeout after %d ms: no time left to ask %s",
				c->timeout_ms, c->shown);
		return;
	}
	char key_h[96], date_h[48], sign_h[192];
	const char *headers[5] = {"Accept: application/json", NULL};
	if (c->pkey != NULL) {
		if (sign_request(c, key_h, date_h, sign_h) != 0) {
			vt_result_status(r, VT_UNHEALTHY);
			vt_result_error(r, "cannot sign the request (OpenSSL)");
			return;
		}
		headers[1] = key_h;
		headers[2] = date_h;
		headers[3] = sign_h;
	}
	vt__http_req q = {
	    .url = c->url,
	    .headers = headers,
	    .timeout_ms = budget,
	    .body_keep = BODY_KEEP,
	};
	vt__http_resp resp = {0};
	if (vt__http_check_perform(r, &q, c->timeout_ms, c->shown, &resp) !=
	    VT_OK)
		return;
	if (resp.status < 200 || resp.status > 299) {
		char said[BODY_KEEP + 1];
		vt__http_printable(said, sizeof(said),
				   resp.body != NULL ? resp.body : "",
				   resp.body_len);
		const char *why = "";
		if (resp.status == 401 || resp.status == 403)
			why = "API keys refused: ";
		else if (resp.status == 429)
			why = "rate limited: ";
		vt_result_status(r, resp.status == 429 ? VT_DEGRADED
						       : VT_UNHEALTHY);
		vt_result_error(r, "%sHTTP %ld from %s%s%s", why, resp.status,
				c->shown, said[0] != '\0' ? ": " : "", said);
	}
	vt__http_resp_fini(&resp);
}

/* base (trailing '/' dropped) + path, malloc'd; NULL on ENOMEM. */
static char *join_url(const char *base, const char *path)
{
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	size_t plen = strlen(path);
	char *s = malloc(blen + plen + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, base, blen);
	memcpy(s + blen, path, plen + 1);
	return s;
}

/* Registers a dmarket check (see checks.h). VT_EINVAL: base_url not an
 * http(s) URL or with a query or fragment; only one of the keys; a key
 * that is not hex of the right length; a secret key whose public half,
 * or the public key given, is not the one its seed derives. VT_ENOMEM,
 * VT_EINTERNAL (OpenSSL failed), the registry's errors. Nothing is
 * registered on error. Thread-safe. */
vt_err vt_check_dmarket_add(vt_health *h, const char *name,
			    const vt_dmarket_opts *o, const vt_check_opts *co)
{
	if (h == NULL || o == NULL)
		return VT_EINVAL;
	const char *base = o->base_url != NULL ? o->base_url : DEFAULT_BASE_URL;
	vt_err rv = vt__http_url_check(base);
	if (rv != VT_OK)
		return rv;
	if (strchr(base, '?') != NULL || strchr(base, '#') != NULL)
		return VT_EINVAL;
	if ((o->public_key == NULL) != (o->secret_key == NULL))
		return VT_EINVAL;

	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = dmarket_check_free;

	dmarket_check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	c->timeout_ms = opts.timeout_ms;
	if (o->public_key != NULL) {
		c->pkey = load_keys(o->public_key, o->secret_key, &rv);
		if (c->pkey == NULL)
			goto fail;
		unsigned char pub[KEY_LEN];
		size_t plen = sizeof(pub);
		if (EVP_PKEY_get_raw_public_key(c->pkey, pub, &plen) != 1) {
			rv = VT_EINTERNAL;
			goto fail;
		}
		hex_encode(pub, KEY_LEN, c->pub_hex);
	}
	c->path = c->pkey != NULL ? BALANCE_PATH : MARKET_PATH;
	c->url = join_url(base, c->path);
	c->shown = c->url != NULL ? vt__url_shown(c->url) : NULL;
	if (c->shown == NULL) {
		rv = VT_ENOMEM;
		goto fail;
	}
	rv = vt_health_add(h, name, dmarket_run, c, &opts);
	if (rv == VT_OK)
		return VT_OK;
fail:
	dmarket_check_free(c);
	return rv;
}
