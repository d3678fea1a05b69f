/*
 * A SCEP client for the tests, written against OpenSSL directly (not our
 * pkcs7/ module) so that the two check each other.  It can also build
 * the hostile variants the negative tests need.
 */
#ifndef TEST_SCEP_CLIENT_H
#define TEST_SCEP_CLIENT_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Ways to break a PKCSReq on purpose. */
enum tc_flaw {
	TC_OK = 0,
	TC_NO_TXID,
	TC_NO_NONCE,
	TC_NO_MSGTYPE,
	TC_DUP_MSGTYPE,
	TC_TWO_SIGNERS,
	TC_TAMPERED,		/* a byte of the signed content flipped */
	TC_SIGNER_OTHER_KEY,	/* self-signed signer with a key != CSR key */
	TC_SIGNER_FOREIGN_CA,	/* signer issued by some other CA */
	TC_NOT_A_CSR,		/* envelope holds garbage, not PKCS#10 */
	TC_NOT_ENVELOPED,	/* content is the raw CSR, not EnvelopedData */
	TC_TRAILING,		/* bytes after the ContentInfo */
	TC_OLD_SIGNING_TIME,	/* signingTime a day in the past */
	TC_TXID_BINARY,		/* transactionID with a control character */
	TC_NONCE_SHORT,
	TC_TXID_LONG,		/* 200 characters (SCEP_MAX_TXID is 128) */
	TC_NONCE_LONG,		/* 100 bytes (SCEP_MAX_NONCE is 64) */
};

struct tc_opts {
	const char		*cn;		/* subject CN; NULL: empty subject */
	const char		*challenge;	/* NULL: none */
	int			 challenge_utf8;
	const char		*sans;		/* OpenSSL syntax; NULL: none */
	const char		*key_usage;	/* requested KU; NULL: none */
	int			 key_bits;	/* RSA; 0: 2048 */
	const char		*ec_curve;	/* instead of RSA */
	EVP_PKEY		*key;		/* reuse this key (not owned) */
	X509			*sign_cert;	/* renewal: sign with this */
	EVP_PKEY		*sign_key;	/* certificate and key */
	const EVP_MD		*md;		/* NULL: SHA-256 */
	const EVP_CIPHER	*cipher;	/* NULL: AES-128-CBC */
	const char		*txid;		/* NULL: random */
	int			 msg_type;	/* 0: PKCSReq */
	const unsigned char	*content;	/* messageData instead of a CSR */
	size_t			 content_len;
	int			 ber;		/* indefinite-length BER, as iOS */
	size_t			 pad;		/* bytes of unsigned padding */
	enum tc_flaw		 flaw;
};

struct tc_req {
	EVP_PKEY	*key;		/* the CSR's key */
	X509		*signer;
	EVP_PKEY	*signer_key;	/* opens the CertRep envelope */
	unsigned char	*der;
	size_t		 len;
	char		 txid[160];	/* up to 159 characters */
	unsigned char	 nonce[16];
};

struct tc_rep {
	int		 msg_type;
	int		 status;
	int		 fail_info;	/* -1 when absent */
	char		 txid[160];
	unsigned char	 recipient_nonce[64];
	size_t		 recipient_nonce_len;
	unsigned char	 sender_nonce[64];
	size_t		 sender_nonce_len;
	int		 has_content;
	X509		*cert;		/* SUCCESS: the issued certificate */
	X509_CRL	*crl;		/* or, for GetCRL, the CRL */
	X509		*signer;	/* who signed the CertRep */
	int		 sig_nid;	/* SignerInfo signature algorithm */
};

/* Build a PKCSReq encrypted to recipient; 1 on success. */
int tc_build(const struct tc_opts *o, X509 *recipient, struct tc_req *out);
void tc_req_free(struct tc_req *r);

/* Verify a CertRep's signature and, on SUCCESS, decrypt its envelope. */
int tc_parse_certrep(const unsigned char *der, size_t len,
    const struct tc_req *req, struct tc_rep *out);
void tc_rep_free(struct tc_rep *r);

/* Certificates in a degenerate certs-only PKCS#7; caller frees. */
STACK_OF(X509) *tc_certs_only(const unsigned char *der, size_t len);

EVP_PKEY *tc_rsa_key(int bits);

/* A certificate for key named cn, signed by issuer_key named issuer_cn. */
X509 *tc_self_signed(EVP_PKEY *key, const char *cn, EVP_PKEY *issuer_key,
    const char *issuer_cn);

/* DER IssuerAndSubject for CertPoll; malloc'd. */
unsigned char *tc_issuer_and_subject(const X509_NAME *issuer,
    const X509_NAME *subject, size_t *len);

/* DER IssuerAndSerialNumber for GetCert / GetCRL; malloc'd. */
unsigned char *tc_issuer_and_serial(const X509_NAME *issuer,
    const ASN1_INTEGER *serial, size_t *len);

#endif
