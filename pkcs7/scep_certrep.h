/*
 * Outgoing SCEP messages: the CertRep (RFC 8894 3.3.2) and the degenerate
 * certificates-only SignedData that GetCACert and the CertRep envelope use
 * (RFC 8894 3.4, 4.2.1.2).
 */
#ifndef SCEP_CERTREP_H
#define SCEP_CERTREP_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkcs7/scep_err.h"

struct scep_certrep {
	int			 status;	/* enum scep_pki_status */
	int			 fail_info;	/* when status is FAILURE */
	const char		*txid;		/* echoed */
	const unsigned char	*recipient_nonce; /* the request's senderNonce */
	size_t			 recipient_nonce_len;
	const unsigned char	*sender_nonce;	/* fresh, from the caller */
	size_t			 sender_nonce_len;
	/* The signer: a certificate GetCACert returns. */
	X509			*signer_cert;
	EVP_PKEY		*signer_key;
	const EVP_MD		*md;
	/* SUCCESS only: what to send (a certificate or a CRL), to whom. */
	X509			*issued;
	X509_CRL		*crl;
	X509			*recipient;	/* the request's signer */
	const EVP_CIPHER	*cipher;	/* the request's own cipher */
};

scep_err scep_certrep_der(const struct scep_certrep *r, unsigned char **der,
    size_t *len, const char **why);

/* Degenerate SignedData holding certificates and CRLs (either may be NULL). */
scep_err scep_certs_only_der(STACK_OF(X509) *certs, STACK_OF(X509_CRL) *crls,
    unsigned char **der, size_t *len);

/*
 * GetNextCACert (RFC 8894 4.7.1): a SignedData signed by the current CA
 * whose content is a certificates-only SignedData with the next CA (and
 * RA) certificates.
 */
scep_err scep_next_ca_der(X509 *signer, EVP_PKEY *key, STACK_OF(X509) *certs,
    unsigned char **der, size_t *len);

/*
 * The messageData of GetCert and GetCRL (RFC 8894 3.3.3, 3.3.4):
 * IssuerAndSerialNumber.  The caller frees both.
 */
scep_err scep_issuer_and_serial_parse(const unsigned char *der, size_t len,
    X509_NAME **issuer, ASN1_INTEGER **serial, const char **why);

/*
 * The messageData of CertPoll (RFC 8894 3.3.3): IssuerAndSubject, a
 * SEQUENCE of two Names.  The caller frees both.
 */
scep_err scep_issuer_and_subject_parse(const unsigned char *der, size_t len,
    X509_NAME **issuer, X509_NAME **subject, const char **why);

#endif
