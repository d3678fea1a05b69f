/*
 * Certificates, CSRs and their public keys without OpenSSL 3.0's
 * per-key decoder setup.
 *
 * OpenSSL 3.0 decodes the SubjectPublicKeyInfo of every certificate and
 * CSR it parses, and each decode builds an OSSL_DECODER context by walking
 * every decoder and key manager of every loaded provider: about 0.3 ms,
 * a third of an RSA-2048 signature, four times per enrollment.  Parsing
 * against a library context that has no provider makes that walk find
 * nothing; the key is left undecoded (OpenSSL decodes "opportunistically"
 * and keeps the raw SubjectPublicKeyInfo either way).  What needs the key
 * then decodes it here: an RSA key straight from its RSAPublicKey (legacy
 * d2i, no decoder), anything else through the ordinary decoder.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "ca/ca.h"

/*
 * pkcs7/'s one static: an immutable library context with only the "null"
 * provider (so that OpenSSL does not load the default one into it), made
 * once and freed at exit.  Parsed objects keep a pointer to it.
 */
static OSSL_LIB_CTX *no_decoders;
static OSSL_PROVIDER *null_provider;
static pthread_once_t no_decoders_once = PTHREAD_ONCE_INIT;

static void
no_decoders_free(void)
{
	OSSL_PROVIDER_unload(null_provider);
	OSSL_LIB_CTX_free(no_decoders);
	null_provider = NULL;
	no_decoders = NULL;
}

static void
no_decoders_init(void)
{
	OSSL_LIB_CTX *lc;

	if ((lc = OSSL_LIB_CTX_new()) == NULL)
		return;
	if ((null_provider = OSSL_PROVIDER_load(lc, "null")) == NULL) {
		OSSL_LIB_CTX_free(lc);
		return;
	}
	no_decoders = lc;
	atexit(no_decoders_free);
}

void *
ca_asn1_parse_keyless(const ASN1_ITEM *it, const unsigned char **p,
    long len)
{
	ASN1_VALUE *v;

	if (pthread_once(&no_decoders_once, no_decoders_init) != 0 ||
	    no_decoders == NULL)
		return NULL;
	/* The failed key decode leaves errors; the key is decoded later. */
	ERR_set_mark();
	v = ASN1_item_d2i_ex(NULL, p, len, it, no_decoders, NULL);
	ERR_pop_to_mark();
	return v;
}

/* An item parsed from exactly len bytes, its key undecoded; or NULL. */
static void *
parse_exactly(const ASN1_ITEM *it, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	ASN1_VALUE *v;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	v = ca_asn1_parse_keyless(it, &p, (long)len);
	if (v != NULL && p != der + len) {
		ASN1_item_free(v, it);
		v = NULL;
	}
	return v;
}

X509_REQ *
ca_req_from_der(const unsigned char *der, size_t len)
{
	return parse_exactly(ASN1_ITEM_rptr(X509_REQ), der, len);
}

X509 *
ca_x509_from_der(const unsigned char *der, size_t len)
{
	return parse_exactly(ASN1_ITEM_rptr(X509), der, len);
}

EVP_PKEY *
ca_spki_key(const X509_PUBKEY *spki)
{
	const unsigned char *bits, *p;
	unsigned char *der = NULL;
	const ASN1_OBJECT *oid;
	const void *pval;
	X509_ALGOR *alg;
	EVP_PKEY *k = NULL;
	int len, ptype;

	if (spki == NULL ||
	    !X509_PUBKEY_get0_param(NULL, &bits, &len, &alg, spki))
		goto out;
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	/* RFC 3279 2.3.1: rsaEncryption, parameters NULL (or absent). */
	if (OBJ_obj2nid(oid) == NID_rsaEncryption &&
	    (ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF)) {
		p = bits;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
		if (k != NULL && p != bits + len) {
			EVP_PKEY_free(k);
			k = NULL;
		}
		goto out;
	}
	if ((len = i2d_X509_PUBKEY(spki, &der)) > 0) {
		p = der;
		k = d2i_PUBKEY(NULL, &p, len);
	}
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return k;
}

int
ca_spki_sha256(const X509_PUBKEY *spki, char hex[65])
{
	unsigned char *der = NULL, d[32];
	unsigned int dlen = 0;
	int n, ret = CA_ERROR;

	if (spki == NULL || (n = i2d_X509_PUBKEY(spki, &der)) <= 0)
		return CA_ERROR;
	if (EVP_Digest(der, (size_t)n, d, &dlen, EVP_sha256(), NULL) &&
	    dlen == sizeof(d)) {
		ca_hex(d, dlen, hex, 0);
		ret = CA_OK;
	}
	OPENSSL_free(der);
	return ret;
}

int
ca_spki_same_key(const X509_PUBKEY *a, const X509_PUBKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	EVP_PKEY *ka = NULL, *kb = NULL;
	int na, nb, same = 0;

	if ((na = i2d_X509_PUBKEY(a, &da)) <= 0 ||
	    (nb = i2d_X509_PUBKEY(b, &db)) <= 0)
		goto out;
	if (na == nb && memcmp(da, db, (size_t)na) == 0) {
		same = 1;
		goto out;
	}
	/* The same key may be encoded twice differently (RSA's NULL). */
	if ((ka = ca_spki_key(a)) != NULL && (kb = ca_spki_key(b)) != NULL)
		same = EVP_PKEY_eq(ka, kb) == 1;
out:
	OPENSSL_free(da);
	OPENSSL_free(db);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	ERR_clear_error();
	return same;
}

int
ca_x509_decode_key(X509 *x)
{
	unsigned char *before = NULL, *after = NULL;
	EVP_PKEY *k = NULL;
	int nb, na, ok = 0;

	if (X509_get0_pubkey(x) != NULL)
		return CA_OK;
	ERR_clear_error();
	/*
	 * Only for an RSA key, whose legacy form X509_set_pubkey() encodes
	 * without the provider machinery; the DER must not change.
	 */
	if ((k = ca_spki_key(X509_get_X509_PUBKEY(x))) == NULL ||
	    EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA ||
	    (nb = i2d_X509(x, &before)) <= 0 || !X509_set_pubkey(x, k) ||
	    (na = i2d_X509(x, &after)) <= 0)
		goto out;
	ok = na == nb && memcmp(before, after, (size_t)na) == 0;
out:
	OPENSSL_free(before);
	OPENSSL_free(after);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok ? CA_OK : CA_ERROR;
}
