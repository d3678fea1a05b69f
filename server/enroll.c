#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_msg.h"
#include "server/b64.h"
#include "server/challenge_exec.h"
#include "server/crl.h"
#include "server/enroll.h"
#include "server/log.h"
#include "server/metrics.h"

#define SERIAL_TRIES 4

/* Everything one PKIOperation accumulates on its way through. */
struct op {
	struct ledger_op	 row;
	scep_msg		*msg;
	X509_REQ		*csr;
	X509			*cert;		/* what the reply carries */
	X509_CRL		*crl;		/* or this, for GetCRL */
	int			 cert_is_new;
	char			*cert_serial;
	char			*renewal_of;	/* signer's serial, renewals only */
	X509			*renewed;	/* that certificate */
	unsigned char		*csr_der;	/* kept while approval is pending */
	unsigned char		 reply_nonce[SCEP_NONCE_LEN];
	char			 reply_nonce_hex[2 * SCEP_NONCE_LEN + 1];
	char			 request_nonce_hex[2 * SCEP_MAX_NONCE + 1];
	char			 request_sha256[65];
	char			 pubkey_sha256[65];
	char			*b64_head;
	char			*subject;
	char			*sans;
	char			 challenge[CA_MAX_CHALLENGE + 1];
	char			 exec_reason[EXEC_MAX_REASON + 1];
	char			*profile_name;	/* from a one-time challenge */
	const struct enroll_profile *profile;	/* chosen for issuance */
};

int
enroll_init(struct enroll_ctx *e, ca *c, ledger *l)
{
	int i;

	e->ca = c;
	e->ledger = l;
	if (!ca_id(c, e->ca_id))
		return 0;
	for (i = 0; i < ENROLL_STRIPES; i++)
		if (pthread_mutex_init(&e->stripes[i], NULL) != 0)
			return 0;
	return pthread_rwlock_init(&e->reload_lock, NULL) == 0;
}

static void
profile_from_config(struct enroll_profile *ep, const char *name, int days,
    const char *eku, const struct scepd_config *cfg, int approval)
{
	memset(ep, 0, sizeof(*ep));
	ep->name = name;
	ep->cp.days = days > 0 ? days : cfg->cert_days;
	ep->cp.eku = eku != NULL ? eku : cfg->eku;
	ep->cp.crl_url = cfg->crl_url;
	ep->manual = (approval >= 0 ? approval : cfg->approval) == APPROVAL_MANUAL;
}

static int
profile_index(const struct enroll_ctx *e, const char *name)
{
	int i;

	if (name == NULL || *name == '\0')
		return 0;
	for (i = 0; i < e->n_profiles; i++)
		if (strcmp(e->profiles[i].name, name) == 0)
			return i;
	return -1;
}

int
enroll_profiles(struct enroll_ctx *e, const struct scepd_config *cfg,
    const char **why)
{
	const char *by_ku[3];
	int i;

	profile_from_config(&e->profiles[0], "default", cfg->cert_days, cfg->eku,
	    cfg, -1);
	e->n_profiles = 1;
	for (i = 0; i < cfg->n_profiles; i++) {
		const struct scepd_profile *p = &cfg->profiles[i];
		struct enroll_profile *ep = &e->profiles[e->n_profiles++];

		profile_from_config(ep, p->name, p->days, p->eku, cfg, p->approval);
		ep->cp.key_usage = p->key_usage;
		ep->cp.san_policy = p->san_policy;
		ep->cp.san_allow = p->san_allow;
		ep->cp.subject = p->subject;
	}
	for (i = 0; i < e->n_profiles; i++) {
		if (ca_profile_check(&e->profiles[i].cp, why) != CA_OK) {
			log_error("profile %s: %s", e->profiles[i].name, *why);
			return 0;
		}
	}
	by_ku[CA_KU_GENERAL] = cfg->profile_general;
	by_ku[CA_KU_SIGNATURE] = cfg->profile_signature;
	by_ku[CA_KU_ENCRYPTION] = cfg->profile_encryption;
	for (i = 0; i < 3; i++) {
		if ((e->by_ku[i] = profile_index(e, by_ku[i])) < 0) {
			*why = "profile_signature/encryption/general names no profile";
			return 0;
		}
	}
	return 1;
}

void
enroll_fini(struct enroll_ctx *e)
{
	int i;

	for (i = 0; i < ENROLL_STRIPES; i++)
		pthread_mutex_destroy(&e->stripes[i]);
	pthread_rwlock_destroy(&e->reload_lock);
	OPENSSL_cleanse(&e->challenge, sizeof(e->challenge));
}

int
enroll_reload(struct enroll_ctx *e, const struct scepd_config *cfg,
    const struct challenge *ch, const char **why)
{
	struct enroll_ctx *fresh;

	/* Check the new profiles aside; apply them all or none. */
	if ((fresh = calloc(1, sizeof(*fresh))) == NULL) {
		*why = "out of memory";
		return 0;
	}
	if (!enroll_profiles(fresh, cfg, why)) {
		free(fresh);
		return 0;
	}
	pthread_rwlock_wrlock(&e->reload_lock);
	memcpy(e->profiles, fresh->profiles, sizeof(e->profiles));
	e->n_profiles = fresh->n_profiles;
	memcpy(e->by_ku, fresh->by_ku, sizeof(e->by_ku));
	e->challenge_mode = cfg->challenge_mode;
	OPENSSL_cleanse(&e->challenge, sizeof(e->challenge));
	e->challenge.required = ch->required;
	e->challenge.iterations = ch->iterations;
	memcpy(e->challenge.salt, ch->salt, sizeof(ch->salt));
	memcpy(e->challenge.hash, ch->hash, sizeof(ch->hash));
	atomic_store(&e->challenge.fast_state, 0);
	e->challenge_exec = cfg->challenge_exec;
	e->challenge_exec_timeout = cfg->challenge_exec_timeout;
	e->max_clock_skew = cfg->max_clock_skew;
	e->renewal_window = cfg->renewal_window;
	e->renewal_keep_subject = cfg->renewal_subject == RENEWAL_SUBJECT_SAME;
	pthread_mutex_lock(&e->failures.mu);
	e->failures.limit = cfg->challenge_failures;
	e->failures.window = cfg->challenge_failure_window;
	pthread_mutex_unlock(&e->failures.mu);
	pthread_rwlock_unlock(&e->reload_lock);
	free(fresh);
	return 1;
}

void
enroll_reply_free(struct enroll_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
}

static pthread_mutex_t *
stripe_for(struct enroll_ctx *e, const char *txid)
{
	unsigned long h = 5381;

	while (*txid)
		h = h * 33 + (unsigned char)*txid++;
	return &e->stripes[h % ENROLL_STRIPES];
}

static void
text_reply(struct enroll_reply *rep, int status, const char *reason)
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

static void
op_init(struct op *o, const struct enroll_request *req)
{
	memset(o, 0, sizeof(*o));
	o->row.received_us = req->received_us;
	o->row.client_addr = req->client_addr;
	o->row.user_agent = req->user_agent;
	o->row.http_method = req->method;
	o->row.outcome = "rejected";
	o->row.pki_status = -1;
	o->row.fail_info = -1;
	if (req->len > 0 && ca_sha256_hex(req->body, req->len, o->request_sha256))
		o->row.request_sha256 = o->request_sha256;
	/* Device logs quote the start of the request: keep it to match. */
	o->b64_head = b64_encode(req->body, req->len, LEDGER_B64_HEAD);
	o->row.request_b64_head = o->b64_head;
}

static void
op_free(struct op *o)
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
static int
op_record(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
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
		    !ca_sha256_hex(der, (size_t)der_len, sha) ||
		    !ca_sha1_hex(der, (size_t)der_len, sha1) ||
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

static scep_err
build_certrep(struct enroll_ctx *e, struct op *o, int status, int fail_info,
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

static void
internal_error(struct enroll_reply *rep, const char *reason)
{
	free(rep->body);
	rep->body = NULL;
	text_reply(rep, 500, reason);
}

/*
 * Our fault: a 500 with no certificate in it, recorded when the ledger
 * still works so that the row says why.
 */
static void
fail_internal(struct enroll_ctx *e, struct op *o, const char *reason,
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
	internal_error(rep, reason);
	(void)op_record(e, o, rep);
}

/* Answer with CertRep FAILURE, record it, done. */
static void
fail(struct enroll_ctx *e, struct op *o, scep_err err, const char *why,
    struct enroll_reply *rep)
{
	o->row.reason = why;
	log_debug("PKIOperation from %s: transaction %s rejected: %s (%s)",
	    o->row.client_addr ? o->row.client_addr : "-",
	    o->row.transaction_id, scep_err_name(err), why);
	if (build_certrep(e, o, SCEP_STATUS_FAILURE, scep_err_fail_info(err),
	    rep) != SCEP_OK) {
		fail_internal(e, o, "cannot build CertRep", rep);
		return;
	}
	if (op_record(e, o, rep) != LEDGER_OK)
		internal_error(rep, "ledger write failed");
}

static scep_err
ca_to_scep(int rv)
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
static scep_err
check_signer(struct enroll_ctx *e, struct op *o, const char **why)
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
		if (!scep_spki_same_key(X509_get_X509_PUBKEY(signer),
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
		    ca_to_scep(rv);
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
static scep_err
open_envelope(struct enroll_ctx *e, struct op *o, const char **why)
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
	switch (ca_decrypt(e->ca, env, envlen, &plain, &len, why)) {
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
static scep_err
check_challenge(struct enroll_ctx *e, struct op *o, const char **why)
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
		return ca_to_scep(rv);
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
static scep_err
check_request(struct enroll_ctx *e, struct op *o, const char **why)
{
	const unsigned char *content;
	size_t len;
	int rv;
	scep_err err;

	if ((err = open_envelope(e, o, why)) != SCEP_OK)
		return err;
	content = scep_msg_content(o->msg, &len);
	if ((rv = ca_csr_parse(content, len, &o->csr, why)) != CA_OK)
		return ca_to_scep(rv);
	if (!ca_csr_describe(o->csr, &o->subject, &o->sans))
		return SCEP_ERR_INTERNAL;
	o->row.csr_subject = o->subject;
	o->row.csr_sans = o->sans;
	if ((rv = ca_csr_check(o->csr, why)) != CA_OK)
		return ca_to_scep(rv);
	if (!scep_spki_sha256(X509_REQ_get_X509_PUBKEY(o->csr), o->pubkey_sha256))
		return SCEP_ERR_INTERNAL;
	o->row.pubkey_sha256 = o->pubkey_sha256;
	if ((err = check_signer(e, o, why)) != SCEP_OK)
		return err;
	/* A renewal is authorised by the certificate that signed it. */
	if (o->renewal_of != NULL)
		return SCEP_OK;
	return check_challenge(e, o, why);
}

static int
load_cert(const unsigned char *der, size_t len, X509 **out)
{
	*out = scep_x509_from_der(der, len);
	return *out != NULL;
}

/* Sign, wrap and record; a serial already in the ledger is retried. */
static void
issue(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	const char *why = NULL;
	int tries, rv;

	for (tries = 0; tries < SERIAL_TRIES; tries++) {
		X509_free(o->cert);
		o->cert = NULL;
		free(o->cert_serial);
		o->cert_serial = NULL;
		rv = ca_sign(e->ca, o->csr, &o->profile->cp,
		    e->renewal_keep_subject ? o->renewed : NULL, time(NULL),
		    &o->cert, &why);
		if (rv != CA_OK) {
			fail(e, o, ca_to_scep(rv), why, rep);
			return;
		}
		if ((o->cert_serial = ca_serial_hex(o->cert)) == NULL)
			break;
		o->cert_is_new = 1;
		o->row.outcome = "issued";
		/* exec mode: the program's first line says why it allowed. */
		o->row.reason = o->exec_reason[0] != '\0' ? o->exec_reason : NULL;
		if (build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
			break;
		rv = op_record(e, o, rep);
		if (rv == LEDGER_OK) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			metrics_issuance(((double)now.tv_sec * 1e6 + now.tv_nsec / 1e3 -
			    (double)o->row.received_us) / 1e6);
			log_debug("PKIOperation from %s: transaction %s issued "
			    "serial %s to %s%s%s", o->row.client_addr,
			    o->row.transaction_id, o->cert_serial, o->subject,
			    o->renewal_of ? ", renewing " : "",
			    o->renewal_of ? o->renewal_of : "");
			return;
		}
		if (rv != LEDGER_DUPLICATE_SERIAL) {
			/* Not recorded, so not sent: the client may retry. */
			internal_error(rep, "ledger write failed");
			return;
		}
	}
	fail_internal(e, o, "cannot issue the certificate", rep);
}

/*
 * The profile, as NDES picks a template: the one a one-time challenge was
 * made for, else by the key usage the CSR asks for.
 */
static scep_err
choose_profile(struct enroll_ctx *e, struct op *o, const char *name,
    const char **why)
{
	int i = name != NULL ? profile_index(e, name) :
	    e->by_ku[ca_csr_ku_class(o->csr)];

	if (i < 0) {
		*why = "the challenge names a profile that no longer exists";
		return SCEP_ERR_BAD_REQUEST;
	}
	o->profile = &e->profiles[i];
	o->row.profile = o->profile->name;
	return SCEP_OK;
}

/* Send again a certificate the ledger holds (DER), as "reissued". */
static void
resend(struct enroll_ctx *e, struct op *o, const unsigned char *der,
    size_t len, const char *reason, struct enroll_reply *rep)
{
	if (!load_cert(der, len, &o->cert)) {
		fail_internal(e, o, "ledger holds a bad certificate", rep);
		return;
	}
	o->row.outcome = "reissued";
	o->row.reason = reason;
	if (build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
		fail_internal(e, o, "cannot build CertRep", rep);
	else if (op_record(e, o, rep) != LEDGER_OK)
		internal_error(rep, "ledger write failed");
}

/* CertRep PENDING (RFC 8894 3.3.2), recorded with its reason. */
static void
pending(struct enroll_ctx *e, struct op *o, const char *reason,
    struct enroll_reply *rep)
{
	o->row.outcome = "pending";
	o->row.reason = reason;
	/*
	 * The client will come back after its poll interval (micromdm: 30 s,
	 * our idle timeout too): a kept-alive connection would be closed
	 * under it just as it sends, and Go does not retry a POST.
	 */
	rep->close = 1;
	if (build_certrep(e, o, SCEP_STATUS_PENDING, -1, rep) != SCEP_OK)
		fail_internal(e, o, "cannot build CertRep", rep);
	else if (op_record(e, o, rep) != LEDGER_OK)
		internal_error(rep, "ledger write failed");
}

/*
 * A request whose pending row exists: answer by its state.  Issuance
 * happens here, at the first poll after approval.
 */
static void
answer_pending(struct enroll_ctx *e, struct op *o,
    const struct ledger_pending *p, struct enroll_reply *rep)
{
	unsigned char *der = NULL;
	size_t len = 0;
	char reason[512];

	if (strcmp(p->state, "pending") == 0) {
		pending(e, o, "awaiting approval", rep);
	} else if (strcmp(p->state, "denied") == 0) {
		snprintf(reason, sizeof(reason), "denied by an administrator: %s",
		    p->reason != NULL ? p->reason : "(no reason given)");
		fail(e, o, SCEP_ERR_BAD_REQUEST, reason, rep);
	} else if (strcmp(p->state, "approved") == 0) {
		o->row.completes_pending = p->id;
		issue(e, o, rep);
	} else if (p->cert_serial != NULL &&
	    ledger_cert_der(e->ledger, p->cert_serial, &der, &len) == LEDGER_OK) {
		o->cert_serial = strdup(p->cert_serial);
		resend(e, o, der, len, "approved earlier: same certificate", rep);
	} else {
		fail_internal(e, o, "pending row has no certificate", rep);
	}
	free(der);
}

/* approval = manual: park a new request, or answer one already parked. */
static void
await_approval(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	struct ledger_pending p;
	int found, n;

	if (ledger_pending_find(e->ledger, o->row.transaction_id, &p, &found) !=
	    LEDGER_OK) {
		fail_internal(e, o, "ledger read failed", rep);
		return;
	}
	if (found && strcmp(p.pubkey_sha256, o->pubkey_sha256) != 0 &&
	    strcmp(p.state, "pending") == 0) {
		fail(e, o, SCEP_ERR_BAD_REQUEST, "RFC 8894 3.2.1.1: "
		    "transactionID already pending for a different key", rep);
	} else if (found && strcmp(p.pubkey_sha256, o->pubkey_sha256) == 0) {
		/* micromdm's scepclient polls by sending its PKCSReq again. */
		answer_pending(e, o, &p, rep);
	} else if ((n = i2d_X509_REQ(o->csr, &o->csr_der)) <= 0) {
		fail_internal(e, o, "cannot encode the CSR", rep);
	} else {
		o->row.pending_csr = o->csr_der;
		o->row.pending_csr_len = (size_t)n;
		pending(e, o, "awaiting approval (approval = manual)", rep);
	}
	ledger_pending_clear(&p);
}

/* PKCSReq and RenewalReq. */
static void
enroll_request(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	pthread_mutex_t *mu;
	unsigned char *der = NULL;
	size_t der_len = 0;
	const char *why = NULL;
	int state;
	scep_err err;

	if ((err = check_request(e, o, &why)) != SCEP_OK ||
	    (err = choose_profile(e, o, o->profile_name, &why)) != SCEP_OK) {
		if (err == SCEP_ERR_INTERNAL)
			fail_internal(e, o, "internal error checking the request", rep);
		else
			fail(e, o, err, why, rep);
		return;
	}
	/*
	 * Idempotency (RFC 8894 3.3.1): the same transactionID and key get
	 * the same certificate back; the stripe lock makes check-then-issue
	 * atomic against a concurrent retry or poll.
	 */
	mu = stripe_for(e, o->row.transaction_id);
	pthread_mutex_lock(mu);
	if (ledger_lookup_txid(e->ledger, o->row.transaction_id,
	    o->pubkey_sha256, o->renewal_of, (int64_t)time(NULL), &state, &der,
	    &der_len, &o->cert_serial) != LEDGER_OK) {
		fail_internal(e, o, "ledger read failed", rep);
		goto out;
	}
	switch (state) {
	case LEDGER_TXID_OTHER_KEY:
		fail(e, o, SCEP_ERR_BAD_REQUEST, "RFC 8894 3.2.1.1: "
		    "transactionID already used for a different key", rep);
		break;
	case LEDGER_TXID_SAME_KEY:
		resend(e, o, der, der_len,
		    "same transactionID and key: same certificate", rep);
		break;
	default:
		if (o->profile->manual)
			await_approval(e, o, rep);
		else
			issue(e, o, rep);
		break;
	}
out:
	pthread_mutex_unlock(mu);
	free(der);
}

/*
 * CertPoll (20, RFC 8894 3.3.3; GetCertInitial in older drafts): the
 * messageData is IssuerAndSubject; the transactionID names the request.
 */
static void
poll_request(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
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
	if ((err = open_envelope(e, o, &why)) != SCEP_OK) {
		fail(e, o, err, why, rep);
		goto out;
	}
	content = scep_msg_content(o->msg, &len);
	if ((err = scep_issuer_and_subject_parse(content, len, &issuer, &subject,
	    &why)) != SCEP_OK) {
		fail(e, o, err, why, rep);
		goto out;
	}
	if (X509_NAME_cmp(issuer, X509_get_subject_name(ca_cert_get0(e->ca))) != 0) {
		fail(e, o, SCEP_ERR_BAD_CERT_ID,
		    "RFC 8894 3.3.3: issuer is not this CA", rep);
		goto out;
	}
	mu = stripe_for(e, o->row.transaction_id);
	pthread_mutex_lock(mu);
	if (ledger_pending_find(e->ledger, o->row.transaction_id, &p, &found) !=
	    LEDGER_OK) {
		fail_internal(e, o, "ledger read failed", rep);
		goto out;
	}
	if (!found) {
		fail(e, o, SCEP_ERR_BAD_CERT_ID, "RFC 8894 3.3.3: no pending "
		    "request with this transactionID", rep);
		goto out;
	}
	/* The request as it was parked: its CSR, key and renewal link. */
	if (ca_csr_parse(p.csr, p.csr_len, &o->csr, &why) != CA_OK ||
	    (o->subject = strdup(p.subject)) == NULL) {
		fail_internal(e, o, "pending row holds a bad CSR", rep);
		goto out;
	}
	o->row.csr_subject = o->subject;
	if (choose_profile(e, o, p.profile, &why) != SCEP_OK) {
		fail(e, o, SCEP_ERR_BAD_REQUEST, why, rep);
		goto out;
	}
	snprintf(o->pubkey_sha256, sizeof(o->pubkey_sha256), "%s",
	    p.pubkey_sha256);
	o->row.pubkey_sha256 = o->pubkey_sha256;
	if (p.renewal_of != NULL) {
		if ((o->renewal_of = strdup(p.renewal_of)) == NULL ||
		    ledger_cert_der(e->ledger, p.renewal_of, &der, &der_len) !=
		    LEDGER_OK || !load_cert(der, der_len, &o->renewed)) {
			fail_internal(e, o, "cannot load the renewed certificate", rep);
			goto out;
		}
		o->row.renewal_of = o->renewal_of;
		/* Revoked while waiting: the renewal is no longer authorised. */
		if (strcmp(p.state, "approved") == 0 &&
		    (ledger_cert_state(e->ledger, p.renewal_of, &cs) != LEDGER_OK ||
		    cs.revoked_us != 0)) {
			fail(e, o, SCEP_ERR_BAD_REQUEST,
			    "signing certificate is revoked", rep);
			goto out;
		}
	}
	answer_pending(e, o, &p, rep);
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
static void
fetch_request(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
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

	if ((err = open_envelope(e, o, &why)) != SCEP_OK) {
		fail(e, o, err, why, rep);
		goto out;
	}
	content = scep_msg_content(o->msg, &len);
	if ((err = scep_issuer_and_serial_parse(content, len, &issuer, &serial,
	    &why)) != SCEP_OK) {
		if (err == SCEP_ERR_INTERNAL)
			fail_internal(e, o, "cannot copy IssuerAndSerialNumber", rep);
		else
			fail(e, o, err, why, rep);
		goto out;
	}
	/* The current CA, or a previous one whose certificates still live. */
	if ((gen = ca_by_subject(e->ca, issuer)) == NULL) {
		fail(e, o, SCEP_ERR_BAD_CERT_ID,
		    "RFC 8894 3.3.3: issuer is not this CA", rep);
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		fail_internal(e, o, "cannot read the serial number", rep);
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
			fail_internal(e, o, "no CRL available", rep);
			goto out;
		}
	} else {
		if (ledger_cert_der(e->ledger, hex, &der, &der_len) != LEDGER_OK) {
			fail(e, o, SCEP_ERR_BAD_CERT_ID,
			    "RFC 8894 3.3.3: no certificate with this serial", rep);
			goto out;
		}
		if (!load_cert(der, der_len, &o->cert) ||
		    (o->cert_serial = strdup(hex)) == NULL) {
			fail_internal(e, o, "ledger holds a bad certificate", rep);
			goto out;
		}
	}
	if (build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
		fail_internal(e, o, "cannot build CertRep", rep);
	else if (op_record(e, o, rep) != LEDGER_OK)
		internal_error(rep, "ledger write failed");
out:
	X509_NAME_free(issuer);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	OPENSSL_free(hex);
	free(der);
}

static void pkioperation(struct enroll_ctx *, const struct enroll_request *,
    struct enroll_reply *);

void
enroll_pkioperation(struct enroll_ctx *e, const struct enroll_request *req,
    struct enroll_reply *rep)
{
	pthread_rwlock_rdlock(&e->reload_lock);
	pkioperation(e, req, rep);
	pthread_rwlock_unlock(&e->reload_lock);
}

static void
pkioperation(struct enroll_ctx *e, const struct enroll_request *req,
    struct enroll_reply *rep)
{
	struct scep_verify_opts vo;
	struct op o;
	const unsigned char *nonce;
	size_t nonce_len;
	const char *why = "malformed";
	scep_err err;

	memset(rep, 0, sizeof(*rep));
	op_init(&o, req);

	if ((err = scep_msg_parse(req->body, req->len, &o.msg, &why)) != SCEP_OK) {
		/* Nothing to echo: a plain HTTP error, still in the ledger. */
		log_debug("PKIOperation from %s: %s", req->client_addr, why);
		text_reply(rep, scep_err_http_status(err), why);
		o.row.reason = why;
		if (op_record(e, &o, rep) != LEDGER_OK)
			internal_error(rep, "ledger write failed");
		goto out;
	}
	o.row.transaction_id = scep_msg_transaction_id(o.msg);
	o.row.message_type = scep_msg_type(o.msg);
	nonce = scep_msg_sender_nonce(o.msg, &nonce_len);
	hex_encode(nonce, nonce_len, o.request_nonce_hex);
	o.row.request_nonce = o.request_nonce_hex;
	if (RAND_bytes(o.reply_nonce, sizeof(o.reply_nonce)) != 1) {
		fail_internal(e, &o, "no randomness for the reply nonce", rep);
		goto out;
	}
	hex_encode(o.reply_nonce, sizeof(o.reply_nonce), o.reply_nonce_hex);
	o.row.reply_nonce = o.reply_nonce_hex;

	vo.allow_legacy = e->allow_legacy;
	vo.now = time(NULL);
	vo.max_skew = e->max_clock_skew;
	err = scep_msg_verify(o.msg, &vo, &why);
	if (scep_msg_digest(o.msg) != NULL)
		o.row.digest = EVP_MD_get0_name(scep_msg_digest(o.msg));
	if (err != SCEP_OK) {
		fail(e, &o, err, why, rep);
		goto out;
	}
	switch (o.row.message_type) {
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_RENEWALREQ:
		enroll_request(e, &o, rep);
		break;
	case SCEP_MSG_CERTPOLL:
		poll_request(e, &o, rep);
		break;
	case SCEP_MSG_GETCERT:
	case SCEP_MSG_GETCRL:
		fetch_request(e, &o, rep);
		break;
	default:
		fail(e, &o, SCEP_ERR_BAD_REQUEST, "messageType not supported "
		    "(PKCSReq, RenewalReq, CertPoll, GetCert and GetCRL are)", rep);
		break;
	}
out:
	op_free(&o);
}

void
enroll_reject_http(struct enroll_ctx *e, const struct enroll_request *req,
    int http_status, const char *reason, struct enroll_reply *rep)
{
	struct op o;

	memset(rep, 0, sizeof(*rep));
	op_init(&o, req);
	text_reply(rep, http_status, reason);
	o.row.reason = reason;
	if (op_record(e, &o, rep) != LEDGER_OK)
		internal_error(rep, "ledger write failed");
	op_free(&o);
}
