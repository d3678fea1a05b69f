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

/*
 * CertPoll (20, RFC 8894 3.3.3; GetCertInitial in older drafts): the
 * messageData is IssuerAndSubject; the transactionID names the request.
 */
void
enroll_poll(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	struct ledger_pending p;
	struct ledger_cert_state cs;
	pthread_mutex_t *mu = NULL;
	X509_NAME *issuer = NULL, *subject = NULL;
	const unsigned char *content;
	unsigned char *der = NULL;
	size_t len, der_len = 0;
	const char *why = NULL;
	int found = 0;
	scep_err err;

	memset(&p, 0, sizeof(p));
	if ((err = enroll_open_envelope(e, o, &why)) != SCEP_OK) {
		enroll_fail(e, o, err, why, rep);
		goto out;
	}
	content = scep_msg_content(o->msg, &len);
	if ((err = scep_issuer_and_subject_parse(content, len, &issuer, &subject,
	    &why)) != SCEP_OK) {
		enroll_fail(e, o, err, why, rep);
		goto out;
	}
	/*
	 * The CA's name, or the RA's: a client that keeps the RA certificate
	 * as its "CA certificate" (sscep does, to check replies) names it,
	 * and NDES accepts that.  The transactionID finds the request.
	 */
	if (X509_NAME_cmp(issuer, X509_get_subject_name(ca_cert_get0(e->ca))) != 0 &&
	    (ca_ra_cert_get0(e->ca) == NULL || X509_NAME_cmp(issuer,
	    X509_get_subject_name(ca_ra_cert_get0(e->ca))) != 0)) {
		enroll_fail(e, o, SCEP_ERR_BAD_CERT_ID,
		    "RFC 8894 3.3.3: issuer is neither this CA nor its RA", rep);
		goto out;
	}
	mu = enroll_stripe(e, o->row.transaction_id);
	pthread_mutex_lock(mu);
	if (ledger_pending_find(e->ledger, o->row.transaction_id, &p, &found) !=
	    LEDGER_OK) {
		enroll_fail_internal(e, o, "ledger read failed", rep);
		goto out;
	}
	if (!found) {
		enroll_fail(e, o, SCEP_ERR_BAD_CERT_ID, "RFC 8894 3.3.3: no pending "
		    "request with this transactionID", rep);
		goto out;
	}
	/* The request as it was parked: its CSR, key and renewal link. */
	if (ca_csr_parse(p.csr, p.csr_len, &o->csr, &why) != CA_OK ||
	    (o->subject = strdup(p.subject)) == NULL) {
		enroll_fail_internal(e, o, "pending row holds a bad CSR", rep);
		goto out;
	}
	o->row.csr_subject = o->subject;
	if (enroll_choose_profile(e, o, p.profile, &why) != SCEP_OK) {
		enroll_fail(e, o, SCEP_ERR_BAD_REQUEST, why, rep);
		goto out;
	}
	snprintf(o->pubkey_sha256, sizeof(o->pubkey_sha256), "%s",
	    p.pubkey_sha256);
	o->row.pubkey_sha256 = o->pubkey_sha256;
	if (p.renewal_of != NULL) {
		if ((o->renewal_of = strdup(p.renewal_of)) == NULL ||
		    ledger_cert_der(e->ledger, p.renewal_of, &der, &der_len) !=
		    LEDGER_OK || !enroll_load_cert(der, der_len, &o->renewed)) {
			enroll_fail_internal(e, o, "cannot load the renewed certificate", rep);
			goto out;
		}
		o->row.renewal_of = o->renewal_of;
		/* Revoked while waiting: the renewal is no longer authorised. */
		if (strcmp(p.state, "approved") == 0 &&
		    (ledger_cert_state(e->ledger, p.renewal_of, &cs) != LEDGER_OK ||
		    cs.revoked_us != 0)) {
			enroll_fail(e, o, SCEP_ERR_BAD_REQUEST,
			    "signing certificate is revoked", rep);
			goto out;
		}
	}
	enroll_answer_pending(e, o, &p, rep);
out:
	if (mu != NULL)
		pthread_mutex_unlock(mu);
	ledger_pending_clear(&p);
	X509_NAME_free(issuer);
	X509_NAME_free(subject);
	free(der);
}

/* A CA's current CRL, published first if there is none yet. */
static X509_CRL *
current_crl(struct enroll_ctx *e, const ca *gen)
{
	unsigned char *der;
	const unsigned char *p;
	const char *why = "";
	X509_CRL *crl = NULL;
	size_t len = 0;

	if ((der = crl_read(gen, e->state_dir, &len)) == NULL) {
		if (!crl_publish(gen, e->ledger, e->state_dir, e->crl_days, &why))
			log_error("CRL: %s", why);
		der = crl_read(gen, e->state_dir, &len);
	}
	if (der != NULL) {
		p = der;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
	}
	free(der);
	return crl;
}

/*
 * GetCert (21) and GetCRL (22), RFC 8894 3.3.3 and 3.3.4: the messageData
 * is an IssuerAndSerialNumber; the reply is enveloped to the requester.
 */
void
enroll_fetch(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	X509_NAME *issuer = NULL;
	ASN1_INTEGER *serial = NULL;
	struct ledger_cert_state cs;
	const ca *gen;
	BIGNUM *bn = NULL;
	unsigned char *der = NULL;
	const unsigned char *content;
	size_t len, der_len = 0;
	const char *why = NULL;
	char *hex = NULL;
	scep_err err;

	if ((err = enroll_open_envelope(e, o, &why)) != SCEP_OK) {
		enroll_fail(e, o, err, why, rep);
		goto out;
	}
	content = scep_msg_content(o->msg, &len);
	if ((err = scep_issuer_and_serial_parse(content, len, &issuer, &serial,
	    &why)) != SCEP_OK) {
		if (err == SCEP_ERR_INTERNAL)
			enroll_fail_internal(e, o, "cannot copy IssuerAndSerialNumber", rep);
		else
			enroll_fail(e, o, err, why, rep);
		goto out;
	}
	/* The current CA, or a previous one whose certificates still live. */
	if ((gen = ca_by_subject(e->ca, issuer)) == NULL) {
		enroll_fail(e, o, SCEP_ERR_BAD_CERT_ID,
		    "RFC 8894 3.3.3: issuer is not this CA", rep);
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		enroll_fail_internal(e, o, "cannot read the serial number", rep);
		goto out;
	}
	/*
	 * A rolled-over CA usually keeps its name: the CA that issued the
	 * serial, when the ledger knows it, is the one whose CRL is wanted.
	 */
	if (ledger_cert_state(e->ledger, hex, &cs) == LEDGER_OK && cs.known &&
	    ca_by_id(e->ca, cs.ca_id) != NULL)
		gen = ca_by_id(e->ca, cs.ca_id);
	o->row.outcome = "returned";
	if (o->row.message_type == SCEP_MSG_GETCRL) {
		if ((o->crl = current_crl(e, gen)) == NULL) {
			enroll_fail_internal(e, o, "no CRL available", rep);
			goto out;
		}
	} else {
		if (ledger_cert_der(e->ledger, hex, &der, &der_len) != LEDGER_OK) {
			enroll_fail(e, o, SCEP_ERR_BAD_CERT_ID,
			    "RFC 8894 3.3.3: no certificate with this serial", rep);
			goto out;
		}
		if (!enroll_load_cert(der, der_len, &o->cert) ||
		    (o->cert_serial = strdup(hex)) == NULL) {
			enroll_fail_internal(e, o, "ledger holds a bad certificate", rep);
			goto out;
		}
	}
	if (enroll_build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
		enroll_fail_internal(e, o, "cannot build CertRep", rep);
	else if (enroll_op_record(e, o, rep) != LEDGER_OK)
		enroll_internal_error(rep, "ledger write failed");
out:
	X509_NAME_free(issuer);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	OPENSSL_free(hex);
	free(der);
}
