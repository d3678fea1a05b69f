/*
 * The local CA: a root CA and the RA certificate that SCEP clients encrypt
 * to (like NDES's "CEP Encryption" certificate), kept as PEM files in a
 * state directory, created on first use.  Also the CSR policy and issuance.
 * Knows nothing of HTTP or the ledger.
 */
#ifndef CA_H
#define CA_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca_result.h"
#include "ca/ca_x509.h"

#define CA_MAX_CHALLENGE	255	/* bytes */
#define CA_MIN_RSA_BITS		2048
#define CA_MAX_RSA_BITS		8192
#define CA_MAX_SANS		64

typedef struct ca ca;

struct ca_params {
	int		 key_bits;	/* RSA bits for the RA key (and an RSA CA) */
	const char	*key_type;	/* CA key: "rsa", "ec-p256", "ec-p384" */
	const char	*ca_subject;	/* "CN=...,O=..." or "/CN=.../O=..." */
	int		 ca_days;
	const char	*ra_subject;	/* empty: no RA, the CA decrypts */
	/* Keys are encrypted with it (AES-256, PKCS#8) when non-empty. */
	char		 passphrase[256];
	/*
	 * The current CA's key elsewhere than STATE_DIR/ca.key: a path or
	 * file: URI, or an RFC 7512 pkcs11: URI on a token opened with
	 * pkcs11_module and pkcs11_pin.  NULL or "": the file.
	 */
	const char	*ca_key_uri;
	const char	*pkcs11_module;
	char		 pkcs11_pin[256];
};

/* Wipe the passphrase and the PIN once the CA is open. */
void ca_params_wipe(struct ca_params *p);

/* Load the CA (and RA) from dir, creating them if absent. */
int ca_open(const char *dir, const struct ca_params *p, int *created,
    ca **out, const char **why);
/*
 * Load certificates and RA keys but leave every CA key on disk: the CA's
 * private-key operations then go to the ca_remote set with ca_set_remote
 * (scepd's signer process, which holds the keys).  Creates nothing.
 */
int ca_open_keyless(const char *dir, const struct ca_params *p, ca **out,
    const char **why);
void ca_free(ca *c);

/*
 * CA rollover (RFC 8894 4.7): ca_rollover makes the next CA and RA in
 * dir/next/; ca_activate retires the current one to dir/previous/<id>/
 * and puts the next in its place.  Previous CAs keep verifying.
 */
int ca_rollover(const char *dir, const struct ca_params *p, const char **why);
int ca_activate(const char *dir, const struct ca_params *p, const char **why);
const ca *ca_next(const ca *c);			/* NULL: none */
size_t ca_previous_count(const ca *c);
const ca *ca_previous(const ca *c, size_t i);
/* The current or a previous CA with this subject, or NULL. */
const ca *ca_by_subject(const ca *c, const X509_NAME *name);
/* The current or a previous CA with this ca_id, or NULL. */
const ca *ca_by_id(const ca *c, const char *id);

X509 *ca_cert_get0(const ca *c);
EVP_PKEY *ca_key_get0(const ca *c);
X509 *ca_ra_cert_get0(const ca *c);	/* NULL when there is no RA */
EVP_PKEY *ca_ra_key_get0(const ca *c);

/*
 * Hex of n bytes into hex (2 * n + 1 bytes), uppercase or lowercase: the
 * one hex encoder (thumbprints, serials, nonces, password hashes).
 */
void ca_hex(const unsigned char *b, size_t n, char *hex, int upper);
/*
 * Uppercase hex digest of a certificate's DER, as MDM profiles want it;
 * CA_ERROR (hex untouched) when cap is too small.
 */
int ca_thumbprint(X509 *x, const EVP_MD *md, char *hex, size_t cap);
/* Lowercase hex SHA-256 of any bytes; CA_OK. */
int ca_sha256_hex(const unsigned char *b, size_t len, char hex[65]);
/* Lowercase hex SHA-1 of any bytes (Windows' thumbprint); CA_OK. */
int ca_sha1_hex(const unsigned char *b, size_t len, char hex[41]);

/* Parse a subject such as "CN=x,O=y" into a new X509_NAME. */
X509_NAME *ca_name_parse(const char *s, const char **why);

/* CSR (PKCS#10) handling.  Parsed as ca_req_from_der does. */
int ca_csr_parse(const unsigned char *der, size_t len, X509_REQ **out,
    const char **why);
/*
 * Self-signature valid, RSA >= 2048 bits or EC P-256/P-384, and no
 * control character (C0, C1, NUL) in the subject or a subjectAltName;
 * *why says which is wrong.
 */
int ca_csr_check(X509_REQ *req, const char **why);
/*
 * The challengePassword attribute into buf (NUL-terminated); *present is 0
 * when the CSR has none.
 */
int ca_csr_challenge(X509_REQ *req, char *buf, size_t cap, int *present,
    const char **why);
/*
 * Subject as one line and SANs as "DNS:a, IP:1.2.3.4, UPN:u@x"; malloc'd.
 * CA_OK.
 */
int ca_csr_describe(X509_REQ *req, char **subject, char **sans);

enum ca_san_policy {
	CA_SAN_COPY,	/* copy what the CSR asks for (allowed types only) */
	CA_SAN_ALLOW,	/* every SAN must match san_allow */
	CA_SAN_REQUIRE,	/* at least one SAN, and every one matches san_allow */
};

/* NDES's templates: what an issued certificate looks like. */
struct ca_profile {
	int		 days;
	const char	*eku;	/* OpenSSL list: "clientAuth,serverAuth,1.2.3" */
	const char	*crl_url; /* CRL Distribution Point; NULL or "": none */
	const char	*key_usage; /* "digitalSignature,..."; NULL: by key type */
	int		 san_policy;
	const char	*san_allow; /* "DNS:*.lab.example,email:*@lab.example" */
	const char	*subject;   /* override, "{cn}" is the CSR's CN; NULL */
};

/* The key usage a CSR asks for, as NDES picks a template by it. */
enum ca_ku_class { CA_KU_GENERAL, CA_KU_SIGNATURE, CA_KU_ENCRYPTION };
int ca_csr_ku_class(X509_REQ *req);

/* Check that an EKU list is one OpenSSL understands. */
int ca_profile_check(const struct ca_profile *p, const char **why);

/*
 * Issue a certificate for req's key, valid from now - 5 min.  Subject and
 * SANs come from the CSR or, when subject_from is set (a renewal that
 * keeps the old identity), from that certificate.  *out is parsed as
 * ca_x509_from_der does: its key (the CSR's) is not decoded.
 */
int ca_sign(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, X509 **out, const char **why);
/* The same as DER (OPENSSL_free it), with this process's CA key only. */
int ca_sign_der(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, unsigned char **der, size_t *len,
    const char **why);

/*
 * Is x a certificate this CA issued, valid at now?  CA_UNTRUSTED when the
 * chain does not verify; CA_REJECT when it is expired or not yet valid.
 */
int ca_verify_issued(const ca *c, X509 *x, time_t now, const char **why);

/* A short, stable name for this CA: 16 hex digits of its SHA-256. */
#define CA_ID_LEN 16
/* CA_OK with the id in out. */
int ca_id(const ca *c, char out[CA_ID_LEN + 1]);

struct ca_revoked {
	const char	*serial;	/* hex */
	time_t		 revoked_at;
	int		 reason;	/* RFC 5280 CRLReason; 0: unspecified */
};

/* A signed v2 CRL (RFC 5280 5): CRL number, reasons, nextUpdate. */
int ca_crl(const ca *c, const struct ca_revoked *r, size_t n, int64_t number,
    time_t now, int days, X509_CRL **out, const char **why);

/*
 * Opens a CMS EnvelopedData (DER) with the first of n (certificate, key)
 * pairs it is addressed to; a ca_result, CA_UNTRUSTED when it is for none
 * of them, *out OPENSSL_malloc'd.  pkcs7's scep_envelope_open_ca is one:
 * ca/ does no CMS itself.
 */
typedef int (*ca_envelope_fn)(const unsigned char *der, size_t len,
    X509 *const *certs, EVP_PKEY *const *keys, size_t n, unsigned char **out,
    size_t *outlen, const char **why);

/*
 * Open a CMS EnvelopedData (DER) encrypted to the certificate of this CA
 * or of a previous one: with opener and the CA keys where they are, else
 * through the ca_remote (the signer process).  *out is OPENSSL_malloc'd.
 * CA_UNTRUSTED: not for us.
 */
int ca_decrypt(const ca *c, ca_envelope_fn opener, const unsigned char *env,
    size_t len, unsigned char **out, size_t *outlen, const char **why);

/*
 * The CA's private-key operations for a keyless CA, done by someone who
 * holds the keys; same contracts as ca_sign, ca_crl and ca_decrypt.  c is
 * the generation asked for (ca_id tells which).
 */
struct ca_remote {
	int (*sign)(void *arg, const ca *c, X509_REQ *req,
	    const struct ca_profile *p, X509 *subject_from, time_t now,
	    X509 **out, const char **why);
	int (*crl)(void *arg, const ca *c, const struct ca_revoked *r,
	    size_t n, int64_t number, time_t now, int days, X509_CRL **out,
	    const char **why);
	int (*decrypt)(void *arg, const ca *c, const unsigned char *env,
	    size_t len, unsigned char **out, size_t *outlen, const char **why);
};
/* For c and its next and previous generations. */
void ca_set_remote(ca *c, const struct ca_remote *r, void *arg);

/* Text forms for the ledger; the caller frees with free(). */
char *ca_serial_hex(X509 *x);
char *ca_name_oneline(const X509_NAME *n);

#endif
