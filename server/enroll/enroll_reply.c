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

void
enroll_text_reply(struct enroll_reply *rep, int status, const char *reason)
{
	size_t n = strlen(reason);

	rep->http_status = status;
	rep->content_type = "text/plain; charset=utf-8";
	rep->len = 0;
	if ((rep->body = malloc(n + 1)) != NULL) {
		memcpy(rep->body, reason, n);
		rep->body[n] = '\n';
		rep->len = n + 1;
	}
}

void
enroll_op_init(struct op *o, const struct enroll_request *req)
{
	memset(o, 0, sizeof(*o));
	o->row.received_us = req->received_us;
	o->row.client_addr = req->client_addr;
	o->row.user_agent = req->user_agent;
	o->row.http_method = req->method;
	o->row.outcome = "rejected";
	o->row.pki_status = -1;
	o->row.fail_info = -1;
	if (req->len > 0 && ca_sha256_hex(req->body, req->len,
	    o->request_sha256) == CA_OK)
		o->row.request_sha256 = o->request_sha256;
	/* Device logs quote the start of the request: keep it to match. */
	o->b64_head = b64_encode(req->body, req->len, LEDGER_B64_HEAD);
	o->row.request_b64_head = o->b64_head;
}

void
enroll_op_free(struct op *o)
{
	scep_msg_free(o->msg);
	X509_REQ_free(o->csr);
	X509_free(o->cert);
	X509_CRL_free(o->crl);
	free(o->cert_serial);
	free(o->renewal_of);
	X509_free(o->renewed);
	OPENSSL_free(o->csr_der);
	free(o->b64_head);
	free(o->subject);
	free(o->sans);
	OPENSSL_cleanse(o->challenge, sizeof(o->challenge));
	free(o->profile_name);
}

static int
unix_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	*out = (int64_t)timegm(&tm);
	return 1;
}

/* The log line carries the whole transactionID: nothing is cut silently. */
_Static_assert(sizeof(((struct enroll_summary *)0)->txid) > SCEP_MAX_TXID,
    "enroll_summary.txid holds a whole transactionID");

/* The request log line's fields, from the ledger row. */
static void
summarise(const struct op *o, struct enroll_reply *rep)
{
	struct enroll_summary *m = &rep->summary;

	snprintf(m->txid, sizeof(m->txid), "%s", o->row.transaction_id ?
	    o->row.transaction_id : "");
	snprintf(m->serial, sizeof(m->serial), "%s", o->row.cert_serial ?
	    o->row.cert_serial : "");
	snprintf(m->reason, sizeof(m->reason), "%s", o->row.reason ?
	    o->row.reason : "");
	m->outcome = o->row.outcome;
	m->msg_type = o->row.message_type ?
	    scep_msg_type_name(o->row.message_type) : NULL;
}

/* Commit the row (and the certificate when new); the reply waits on it. */
int
enroll_op_record(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	struct ledger_cert lc, *new_cert = NULL;
	unsigned char *der = NULL;
	char sha[65], sha1[41], *subject = NULL;
	const char *why = "cannot encode the certificate";
	int der_len, rc = LEDGER_ERROR;

	o->row.http_status = rep->http_status;
	o->row.cert_serial = o->cert_serial;
	if (o->cert != NULL && o->cert_is_new) {
		memset(&lc, 0, sizeof(lc));
		if ((der_len = i2d_X509(o->cert, &der)) <= 0 ||
		    ca_sha256_hex(der, (size_t)der_len, sha) != CA_OK ||
		    ca_sha1_hex(der, (size_t)der_len, sha1) != CA_OK ||
		    (subject = ca_name_oneline(X509_get_subject_name(o->cert))) == NULL ||
		    !unix_time(X509_get0_notBefore(o->cert), &lc.not_before) ||
		    !unix_time(X509_get0_notAfter(o->cert), &lc.not_after))
			goto out;
		lc.serial = o->cert_serial;
		lc.sha256 = sha;
		lc.der = der;
		lc.der_len = (size_t)der_len;
		lc.subject = subject;
		lc.ca_id = e->ca_id;
		lc.sha1 = sha1;
		new_cert = &lc;
	}
	rc = ledger_record(e->ledger, &o->row, new_cert, &rep->op_id, &why);
	summarise(o, rep);
out:
	if (rc == LEDGER_ERROR)
		log_error("ledger: %s (transaction %s)", why,
		    o->row.transaction_id ? o->row.transaction_id : "-");
	OPENSSL_free(der);
	free(subject);
	return rc;
}

/* The request's digest when we accepted it, else SHA-256. */
static const EVP_MD *
reply_digest(const struct op *o)
{
	const EVP_MD *md = o->msg != NULL ? scep_msg_digest(o->msg) : NULL;

	return md != NULL ? md : EVP_sha256();
}

scep_err
enroll_build_certrep(struct enroll_ctx *e, struct op *o, int status, int fail_info,
    struct enroll_reply *rep)
{
	struct scep_certrep r;
	unsigned char *der = NULL;
	size_t len = 0;
	const char *why = NULL;
	scep_err err;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.fail_info = fail_info;
	r.txid = scep_msg_transaction_id(o->msg);
	r.recipient_nonce = scep_msg_sender_nonce(o->msg, &r.recipient_nonce_len);
	r.sender_nonce = o->reply_nonce;
	r.sender_nonce_len = sizeof(o->reply_nonce);
	if (ca_ra_cert_get0(e->ca) != NULL) {
		r.signer_cert = ca_ra_cert_get0(e->ca);
		r.signer_key = ca_ra_key_get0(e->ca);
	} else {
		r.signer_cert = ca_cert_get0(e->ca);
		r.signer_key = ca_key_get0(e->ca);
	}
	r.md = reply_digest(o);
	if (status == SCEP_STATUS_SUCCESS) {
		r.issued = o->crl == NULL ? o->cert : NULL;
		r.crl = o->crl;
		r.recipient = scep_msg_signer_get0(o->msg);
		r.cipher = scep_msg_cipher(o->msg);
	}
	if ((err = scep_certrep_der(&r, &der, &len, &why)) != SCEP_OK) {
		log_error("CertRep for transaction %s: %s", r.txid, why);
		return err;
	}
	free(rep->body);
	if ((rep->body = malloc(len)) == NULL) {
		OPENSSL_free(der);
		return SCEP_ERR_INTERNAL;
	}
	memcpy(rep->body, der, len);
	OPENSSL_free(der);
	rep->len = len;
	rep->http_status = 200;
	rep->content_type = "application/x-pki-message";
	o->row.pki_status = status;
	o->row.fail_info = status == SCEP_STATUS_FAILURE ? fail_info : -1;
	return SCEP_OK;
}

void
enroll_internal_error(struct enroll_reply *rep, const char *reason)
{
	free(rep->body);
	rep->body = NULL;
	enroll_text_reply(rep, 500, reason);
}

/*
 * Our fault: a 500 with no certificate in it, recorded when the ledger
 * still works so that the row says why.
 */
void
enroll_fail_internal(struct enroll_ctx *e, struct op *o, const char *reason,
    struct enroll_reply *rep)
{
	log_error("PKIOperation from %s: transaction %s: %s",
	    o->row.client_addr ? o->row.client_addr : "-",
	    o->row.transaction_id ? o->row.transaction_id : "-", reason);
	X509_free(o->cert);
	o->cert = NULL;
	free(o->cert_serial);
	o->cert_serial = NULL;
	o->cert_is_new = 0;
	o->row.outcome = "rejected";
	o->row.pki_status = -1;
	o->row.fail_info = -1;
	o->row.reason = reason;
	enroll_internal_error(rep, reason);
	(void)enroll_op_record(e, o, rep);
}

/* Answer with CertRep FAILURE, record it, done. */
void
enroll_fail(struct enroll_ctx *e, struct op *o, scep_err err, const char *why,
    struct enroll_reply *rep)
{
	o->row.reason = why;
	log_debug("PKIOperation from %s: transaction %s rejected: %s (%s)",
	    o->row.client_addr ? o->row.client_addr : "-",
	    o->row.transaction_id, scep_err_name(err), why);
	if (enroll_build_certrep(e, o, SCEP_STATUS_FAILURE, scep_err_fail_info(err),
	    rep) != SCEP_OK) {
		enroll_fail_internal(e, o, "cannot build CertRep", rep);
		return;
	}
	if (enroll_op_record(e, o, rep) != LEDGER_OK)
		enroll_internal_error(rep, "ledger write failed");
}
