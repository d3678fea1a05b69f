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

int
enroll_load_cert(const unsigned char *der, size_t len, X509 **out)
{
	*out = ca_x509_from_der(der, len);
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
			enroll_fail(e, o, enroll_ca_err(rv), why, rep);
			return;
		}
		if ((o->cert_serial = ca_serial_hex(o->cert)) == NULL)
			break;
		o->cert_is_new = 1;
		o->row.outcome = "issued";
		/* exec mode: the program's first line says why it allowed. */
		o->row.reason = o->exec_reason[0] != '\0' ? o->exec_reason : NULL;
		if (enroll_build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
			break;
		rv = enroll_op_record(e, o, rep);
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
			enroll_internal_error(rep, "ledger write failed");
			return;
		}
	}
	enroll_fail_internal(e, o, "cannot issue the certificate", rep);
}

/*
 * The profile, as NDES picks a template: the one a one-time challenge was
 * made for, else by the key usage the CSR asks for.
 */
scep_err
enroll_choose_profile(struct enroll_ctx *e, struct op *o, const char *name,
    const char **why)
{
	int i = name != NULL ? enroll_profile_index(e, name) :
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
	if (!enroll_load_cert(der, len, &o->cert)) {
		enroll_fail_internal(e, o, "ledger holds a bad certificate", rep);
		return;
	}
	o->row.outcome = "reissued";
	o->row.reason = reason;
	if (enroll_build_certrep(e, o, SCEP_STATUS_SUCCESS, -1, rep) != SCEP_OK)
		enroll_fail_internal(e, o, "cannot build CertRep", rep);
	else if (enroll_op_record(e, o, rep) != LEDGER_OK)
		enroll_internal_error(rep, "ledger write failed");
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
	if (enroll_build_certrep(e, o, SCEP_STATUS_PENDING, -1, rep) != SCEP_OK)
		enroll_fail_internal(e, o, "cannot build CertRep", rep);
	else if (enroll_op_record(e, o, rep) != LEDGER_OK)
		enroll_internal_error(rep, "ledger write failed");
}

/*
 * A request whose pending row exists: answer by its state.  Issuance
 * happens here, at the first poll after approval.
 */
void
enroll_answer_pending(struct enroll_ctx *e, struct op *o,
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
		enroll_fail(e, o, SCEP_ERR_BAD_REQUEST, reason, rep);
	} else if (strcmp(p->state, "approved") == 0) {
		o->row.completes_pending = p->id;
		issue(e, o, rep);
	} else if (p->cert_serial != NULL &&
	    ledger_cert_der(e->ledger, p->cert_serial, &der, &len) == LEDGER_OK) {
		o->cert_serial = strdup(p->cert_serial);
		resend(e, o, der, len, "approved earlier: same certificate", rep);
	} else {
		enroll_fail_internal(e, o, "pending row has no certificate", rep);
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
		enroll_fail_internal(e, o, "ledger read failed", rep);
		return;
	}
	if (found && strcmp(p.pubkey_sha256, o->pubkey_sha256) != 0 &&
	    strcmp(p.state, "pending") == 0) {
		enroll_fail(e, o, SCEP_ERR_BAD_REQUEST, "RFC 8894 3.2.1.1: "
		    "transactionID already pending for a different key", rep);
	} else if (found && strcmp(p.pubkey_sha256, o->pubkey_sha256) == 0) {
		/* micromdm's scepclient polls by sending its PKCSReq again. */
		enroll_answer_pending(e, o, &p, rep);
	} else if ((n = i2d_X509_REQ(o->csr, &o->csr_der)) <= 0) {
		enroll_fail_internal(e, o, "cannot encode the CSR", rep);
	} else {
		o->row.pending_csr = o->csr_der;
		o->row.pending_csr_len = (size_t)n;
		pending(e, o, "awaiting approval (approval = manual)", rep);
	}
	ledger_pending_clear(&p);
}

/* PKCSReq and RenewalReq. */
void
enroll_issue_request(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep)
{
	pthread_mutex_t *mu;
	unsigned char *der = NULL;
	size_t der_len = 0;
	const char *why = NULL;
	int state;
	scep_err err;

	if ((err = enroll_check_request(e, o, &why)) != SCEP_OK ||
	    (err = enroll_choose_profile(e, o, o->profile_name, &why)) != SCEP_OK) {
		if (err == SCEP_ERR_INTERNAL)
			enroll_fail_internal(e, o, "internal error checking the request", rep);
		else
			enroll_fail(e, o, err, why, rep);
		return;
	}
	/*
	 * Idempotency (RFC 8894 3.3.1): the same transactionID and key get
	 * the same certificate back; the stripe lock makes check-then-issue
	 * atomic against a concurrent retry or poll.
	 */
	mu = enroll_stripe(e, o->row.transaction_id);
	pthread_mutex_lock(mu);
	if (ledger_lookup_txid(e->ledger, o->row.transaction_id,
	    o->pubkey_sha256, o->renewal_of, (int64_t)time(NULL), &state, &der,
	    &der_len, &o->cert_serial) != LEDGER_OK) {
		enroll_fail_internal(e, o, "ledger read failed", rep);
		goto out;
	}
	switch (state) {
	case LEDGER_TXID_OTHER_KEY:
		enroll_fail(e, o, SCEP_ERR_BAD_REQUEST, "RFC 8894 3.2.1.1: "
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
