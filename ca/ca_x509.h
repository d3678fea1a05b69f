/*
 * Certificates and CSRs without OpenSSL 3.0's per-key decoder setup
 * (ca_x509.c says why).  Parsed objects have their public key left
 * undecoded: X509_get0_pubkey() and X509_REQ_get0_pubkey() return NULL
 * on them; ca_spki_key() decodes it, ca_x509_decode_key() puts it in.
 * pkcs7/ parses the certificates inside a PKIMessage with the same
 * helpers: it uses ca/ for X.509, and ca/ uses nothing of pkcs7/.
 */
#ifndef CA_X509_H
#define CA_X509_H

#include <stddef.h>

#include <openssl/x509.h>

#include "ca/ca_result.h"

/* Parsed from exactly len bytes of DER (trailing bytes refused). */
X509 *ca_x509_from_der(const unsigned char *der, size_t len);
X509_REQ *ca_req_from_der(const unsigned char *der, size_t len);
/* The same for any ASN.1 item (the CMS parser uses it). */
void *ca_asn1_parse_keyless(const ASN1_ITEM *it, const unsigned char **p,
    long len);

/* A SubjectPublicKeyInfo's key, decoded; the caller frees it. */
EVP_PKEY *ca_spki_key(const X509_PUBKEY *spki);
/* Lowercase hex SHA-256 of a SubjectPublicKeyInfo's DER; CA_OK. */
int ca_spki_sha256(const X509_PUBKEY *spki, char hex[65]);
/* Do two SubjectPublicKeyInfos hold the same key? */
int ca_spki_same_key(const X509_PUBKEY *a, const X509_PUBKEY *b);

/*
 * Give a certificate parsed without its key (in a CMS, say) its key, so
 * that X509_get0_pubkey() works, leaving its DER byte for byte as it was.
 * CA_ERROR when that cannot be done (the certificate is then unchanged,
 * or, if its DER would change, still verifies as before but must not be
 * encoded: use a copy parsed with d2i_X509()).
 */
int ca_x509_decode_key(X509 *x);

#endif
