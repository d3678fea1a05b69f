/*
 * Incoming SCEP PKIMessages (RFC 8894 3.2): a CMS SignedData whose content
 * is a pkcsPKIEnvelope (EnvelopedData) and whose signed attributes carry
 * messageType, transactionID and senderNonce.
 *
 * Three steps, so that a message that fails a later step can still be
 * answered with a CertRep FAILURE that echoes its transactionID and nonce:
 *   scep_msg_parse    structure and attributes          (else HTTP 400)
 *   scep_msg_verify   digest policy and signature       (else badAlg /
 *                                                        badMessageCheck)
 *   scep_msg_decrypt  the envelope, with RA or CA key   (else badAlg /
 *                                                        badMessageCheck)
 */
#ifndef SCEP_MSG_H
#define SCEP_MSG_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkcs7/scep_err.h"

#define SCEP_MAX_MESSAGE	(1024 * 1024)	/* bytes of DER */
#define SCEP_MAX_NONCE		64		/* RFC says 16; allow some slack */
#define SCEP_MIN_NONCE		8
#define SCEP_MAX_TXID		128		/* printable characters */
#define SCEP_NONCE_LEN		16		/* what we generate */

typedef struct scep_msg scep_msg;

struct scep_verify_opts {
	int	allow_legacy;	/* accept SHA-1 digests, DES and DES3 */
	time_t	now;		/* for the signingTime check */
	long	max_skew;	/* seconds; 0 disables the signingTime check */
};

scep_err scep_msg_parse(const unsigned char *der, size_t len, scep_msg **out,
    const char **why);
scep_err scep_msg_verify(scep_msg *m, const struct scep_verify_opts *o,
    const char **why);
/* Try each (cert, key) pair in turn; the first that opens the envelope wins. */
scep_err scep_msg_decrypt(scep_msg *m, X509 *const *certs,
    EVP_PKEY *const *keys, size_t n, int allow_legacy, const char **why);
/*
 * Open a CMS EnvelopedData (DER) with the first (cert, key) that fits, no
 * cipher policy (the signer process, for envelopes addressed to the CA):
 * *out is OPENSSL_malloc'd.  SCEP_ERR_BAD_MESSAGE_CHECK: not for these keys.
 */
scep_err scep_envelope_open(const unsigned char *der, size_t len,
    X509 *const *certs, EVP_PKEY *const *keys, size_t n, unsigned char **out,
    size_t *outlen, const char **why);
/*
 * The same with a ca_result (CA_UNTRUSTED: not for these keys), as
 * ca_decrypt() wants its envelope opener: ca/ does no CMS itself.
 */
int scep_envelope_open_ca(const unsigned char *der, size_t len,
    X509 *const *certs, EVP_PKEY *const *keys, size_t n, unsigned char **out,
    size_t *outlen, const char **why);
void scep_msg_free(scep_msg *m);

int scep_msg_type(const scep_msg *m);
const char *scep_msg_transaction_id(const scep_msg *m);
const unsigned char *scep_msg_sender_nonce(const scep_msg *m, size_t *len);
X509 *scep_msg_signer_get0(const scep_msg *m);
/* The digest the signer used; valid after scep_msg_verify. */
const EVP_MD *scep_msg_digest(const scep_msg *m);
/* The envelope's content cipher; valid after scep_msg_decrypt. */
const EVP_CIPHER *scep_msg_cipher(const scep_msg *m);
const char *scep_msg_cipher_name(const scep_msg *m);
/* The decrypted messageData (a PKCS#10 for PKCSReq); after decrypt. */
const unsigned char *scep_msg_content(const scep_msg *m, size_t *len);
/*
 * The pkcsPKIEnvelope's DER, and the messageData when another party (the
 * CA signer process) opened it; scep_msg_decrypt sets the cipher first.
 */
const unsigned char *scep_msg_envelope(const scep_msg *m, size_t *len);
scep_err scep_msg_set_content(scep_msg *m, const unsigned char *b,
    size_t len, const char **why);

#endif
