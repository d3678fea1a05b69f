#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/enroll/enroll_int.h"

scep_err
enroll_ca_err(int rv)
{
	switch (rv) {
	case CA_OK:
		return SCEP_OK;
	case CA_REJECT:
		return SCEP_ERR_BAD_REQUEST;
	case CA_BAD_ALG:
		return SCEP_ERR_BAD_ALG;
	case CA_UNTRUSTED:
		return SCEP_ERR_BAD_MESSAGE_CHECK;
	}
	return SCEP_ERR_INTERNAL;
}

static int
is_self_signed(X509 *x)
{
	int ok = X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)) == 0 &&
	    X509_verify(x, X509_get0_pubkey(x)) == 1;

	ERR_clear_error();
	return ok;
}

/*
 * Who signed decides what the request is (RFC 8894 3.3.1): a self-signed
 * certificate with the CSR's key asks for a first certificate; a live
 * certificate this CA issued asks for a renewal (a RenewalReq, or the
 * PKCSReq certmonger sends when it renews).
 */
scep_err
enroll_check_signer(struct enroll_ctx *e, struct op *o, const char **why)
{
	struct ledger_cert_state cs;
	X509 *signer = scep_msg_signer_get0(o->msg);
	time_t now = time(NULL);
	int rv;

	if (is_self_signed(signer)) {
		if (o->row.message_type == SCEP_MSG_RENEWALREQ) {
			*why = "RFC 8894 3.3.1.2: RenewalReq signed by a "
			    "self-signed certificate, not one this CA issued";
			return SCEP_ERR_BAD_MESSAGE_CHECK;
		}
		if (!ca_spki_same_key(X509_get_X509_PUBKEY(signer),
		    X509_REQ_get_X509_PUBKEY(o->csr))) {
			*why = "RFC 8894 2.3: self-signed signer key differs from "
			    "the CSR key";
			return SCEP_ERR_BAD_REQUEST;
		}
		return SCEP_OK;
	}
	if ((rv = ca_verify_issued(e->ca, signer, now, why)) != CA_OK) {
		if (rv == CA_UNTRUSTED && o->row.message_type == SCEP_MSG_PKCSREQ)
			*why = "RFC 8894 2.3: signer certificate is neither "
			    "self-signed nor issued by this CA";
		return rv == CA_UNTRUSTED ? SCEP_ERR_BAD_MESSAGE_CHECK :
		    enroll_ca_err(rv);
	}
	if ((o->renewal_of = ca_serial_hex(signer)) == NULL ||
	    ledger_cert_state(e->ledger, o->renewal_of, &cs) != LEDGER_OK)
		return SCEP_ERR_INTERNAL;
	if (!cs.known) {
		/* The RA certificate, or one issued outside scepd. */
		*why = "signing certificate was not issued through scepd";
		return SCEP_ERR_BAD_MESSAGE_CHECK;
	}
	o->row.renewal_of = o->renewal_of;
	if (!X509_up_ref(signer))
		return SCEP_ERR_INTERNAL;
	o->renewed = signer;
	if (cs.revoked_us != 0) {
		*why = "signing certificate is revoked";
		return SCEP_ERR_BAD_REQUEST;
	}
	if (e->renewal_window > 0 && cs.not_after - (int64_t)now > e->renewal_window) {
		*why = "renewal too early: the signing certificate is valid for "
		    "longer than renewal_window";
		return SCEP_ERR_BAD_REQUEST;
	}
	return SCEP_OK;
}

/*
 * RFC 8894 3.2.2: open the pkcsPKIEnvelope with the RA key, else the CA's;
 * after a rollover, clients that cached the previous RA still get in.  The
 * CA keys are tried by ca_decrypt: with privsep they live in the signer.
 */
scep_err
enroll_open_envelope(struct enroll_ctx *e, struct op *o, const char **why)
{
	size_t n = 0, g, gens = 1 + ca_previous_count(e->ca), envlen, len = 0;
	X509 **certs = calloc(gens, sizeof(*certs));
	EVP_PKEY **keys = calloc(gens, sizeof(*keys));
	const unsigned char *env;
	unsigned char *plain = NULL;
	scep_err err = SCEP_ERR_INTERNAL;

	if (certs == NULL || keys == NULL)
		goto out;
	for (g = 0; g < gens; g++) {
		const ca *c = g == 0 ? e->ca : ca_previous(e->ca, g - 1);

		if (ca_ra_cert_get0(c) != NULL) {
			certs[n] = ca_ra_cert_get0(c);
			keys[n++] = ca_ra_key_get0(c);
		}
	}
	err = scep_msg_decrypt(o->msg, certs, keys, n, e->allow_legacy, why);
	o->row.cipher = scep_msg_cipher_name(o->msg);
	if (err != SCEP_ERR_BAD_MESSAGE_CHECK)
		goto out;
	env = scep_msg_envelope(o->msg, &envlen);
	switch (ca_decrypt(e->ca, scep_envelope_open_ca, env, envlen, &plain,
	    &len, why)) {
	case CA_OK:
		err = scep_msg_set_content(o->msg, plain, len, why);
		break;
	case CA_UNTRUSTED:
		err = SCEP_ERR_BAD_MESSAGE_CHECK;
		break;
	case CA_REJECT:
		err = SCEP_ERR_BAD_REQUEST;
		break;
	default:
		err = SCEP_ERR_INTERNAL;
		break;
	}
out:
	if (plain != NULL)
		OPENSSL_clear_free(plain, len);
	free(certs);
	free(keys);
	return err;
}

/* challenge_mode = exec: the configured program decides. */
static int
exec_allows(struct enroll_ctx *e, struct op *o, int present)
{
	struct exec_request r;
	BIO *b = NULL;
	char *pem = NULL;
	long n;
	int rv = EXEC_ERROR;

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_REQ(b, o->csr) || (n = BIO_get_mem_data(b, &pem)) <= 0 ||
	    (pem = strndup(pem, (size_t)n)) == NULL) {
		snprintf(o->exec_reason, sizeof(o->exec_reason),
		    "cannot encode the CSR");
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.program = e->challenge_exec;
	r.timeout = e->challenge_exec_timeout;
	r.csr_pem = pem;
	r.txid = o->row.transaction_id;
	r.challenge = present ? o->challenge : "";
	r.subject = o->subject;
	r.client_addr = o->row.client_addr ? o->row.client_addr : "";
	rv = challenge_exec(&r, o->exec_reason, sizeof(o->exec_reason));
out:
	free(pem);
	BIO_free(b);
	return rv == EXEC_ALLOW;
}

/*
 * The enrollment challenge, by challenge_mode.  Failures are counted per
 * client address; past challenge_failures the address waits out the
 * window without its passwords even being looked at.
 */
scep_err
enroll_check_challenge(struct enroll_ctx *e, struct op *o, const char **why)
{
	char sha[65];
	time_t now = time(NULL);
	const char *addr = o->row.client_addr ? o->row.client_addr : "";
	int present, rv, ok = 0;

	if (e->challenge_mode == CHALLENGE_NONE ||
	    (e->challenge_mode == CHALLENGE_STATIC && !e->challenge.required))
		return SCEP_OK;
	if (ratelimit_blocked(&e->failures, addr, now)) {
		o->row.challenge_event = "challenge_rate_limited";
		*why = "too many failed challenges from this address; try later";
		return SCEP_ERR_BAD_REQUEST;
	}
	if ((rv = ca_csr_challenge(o->csr, o->challenge, sizeof(o->challenge),
	    &present, why)) != CA_OK)
		return enroll_ca_err(rv);
	switch (e->challenge_mode) {
	case CHALLENGE_STATIC:
		ok = present && challenge_verify(&e->challenge, o->challenge);
		*why = present ? "challenge password wrong" :
		    "challenge password missing";
		break;
	case CHALLENGE_ONETIME:
		*why = "challenge password missing";
		if (!present)
			break;
		if (!challenge_sha256(o->challenge, sha))
			return SCEP_ERR_INTERNAL;
		rv = ledger_challenge_use(e->ledger, sha, o->row.transaction_id,
		    o->pubkey_sha256, &o->profile_name);
		if (rv == LEDGER_CHALLENGE_ERROR)
			return SCEP_ERR_INTERNAL;
		ok = rv == LEDGER_CHALLENGE_OK;
		*why = "one-time challenge password unknown, used or expired";
		break;
	case CHALLENGE_EXEC:
		ok = exec_allows(e, o, present);
		*why = o->exec_reason;
		break;
	}
	if (!ok) {
		ratelimit_fail(&e->failures, addr, now);
		o->row.challenge_event = "challenge_failed";
		return SCEP_ERR_BAD_REQUEST;
	}
	o->row.challenge_event = "challenge_ok";
	return SCEP_OK;
}

/* RFC 8894 3.3.1: the checks before anything is issued. */
scep_err
enroll_check_request(struct enroll_ctx *e, struct op *o, const char **why)
{
	const unsigned char *content;
	size_t len;
	int rv;
	scep_err err;

	if ((err = enroll_open_envelope(e, o, why)) != SCEP_OK)
		return err;
	content = scep_msg_content(o->msg, &len);
	if ((rv = ca_csr_parse(content, len, &o->csr, why)) != CA_OK)
		return enroll_ca_err(rv);
	if (ca_csr_describe(o->csr, &o->subject, &o->sans) != CA_OK)
		return SCEP_ERR_INTERNAL;
	o->row.csr_subject = o->subject;
	o->row.csr_sans = o->sans;
	if ((rv = ca_csr_check(o->csr, why)) != CA_OK)
		return enroll_ca_err(rv);
	if (ca_spki_sha256(X509_REQ_get_X509_PUBKEY(o->csr),
	    o->pubkey_sha256) != CA_OK)
		return SCEP_ERR_INTERNAL;
	o->row.pubkey_sha256 = o->pubkey_sha256;
	if ((err = enroll_check_signer(e, o, why)) != SCEP_OK)
		return err;
	/* A renewal is authorised by the certificate that signed it. */
	if (o->renewal_of != NULL)
		return SCEP_OK;
	return enroll_check_challenge(e, o, why);
}
