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

int64_t
enroll_now_us(void)
{
	return ledger_now_us();
}

void
enroll_reply_free(struct enroll_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
}

pthread_mutex_t *
enroll_stripe(struct enroll_ctx *e, const char *txid)
{
	unsigned long h = 5381;

	while (*txid)
		h = h * 33 + (unsigned char)*txid++;
	return &e->stripes[h % ENROLL_STRIPES];
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
	enroll_op_init(&o, req);

	if ((err = scep_msg_parse(req->body, req->len, &o.msg, &why)) != SCEP_OK) {
		/* Nothing to echo: a plain HTTP error, still in the ledger. */
		log_debug("PKIOperation from %s: %s", req->client_addr, why);
		enroll_text_reply(rep, scep_err_http_status(err), why);
		o.row.reason = why;
		if (enroll_op_record(e, &o, rep) != LEDGER_OK)
			enroll_internal_error(rep, "ledger write failed");
		goto out;
	}
	o.row.transaction_id = scep_msg_transaction_id(o.msg);
	o.row.message_type = scep_msg_type(o.msg);
	nonce = scep_msg_sender_nonce(o.msg, &nonce_len);
	ca_hex(nonce, nonce_len, o.request_nonce_hex, 0);
	o.row.request_nonce = o.request_nonce_hex;
	if (RAND_bytes(o.reply_nonce, sizeof(o.reply_nonce)) != 1) {
		enroll_fail_internal(e, &o, "no randomness for the reply nonce", rep);
		goto out;
	}
	ca_hex(o.reply_nonce, sizeof(o.reply_nonce), o.reply_nonce_hex, 0);
	o.row.reply_nonce = o.reply_nonce_hex;

	vo.allow_legacy = e->allow_legacy;
	vo.now = time(NULL);
	vo.max_skew = e->max_clock_skew;
	err = scep_msg_verify(o.msg, &vo, &why);
	if (scep_msg_digest(o.msg) != NULL)
		o.row.digest = EVP_MD_get0_name(scep_msg_digest(o.msg));
	if (err != SCEP_OK) {
		enroll_fail(e, &o, err, why, rep);
		goto out;
	}
	switch (o.row.message_type) {
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_RENEWALREQ:
		enroll_issue_request(e, &o, rep);
		break;
	case SCEP_MSG_CERTPOLL:
		enroll_poll(e, &o, rep);
		break;
	case SCEP_MSG_GETCERT:
	case SCEP_MSG_GETCRL:
		enroll_fetch(e, &o, rep);
		break;
	default:
		enroll_fail(e, &o, SCEP_ERR_BAD_REQUEST, "messageType not supported "
		    "(PKCSReq, RenewalReq, CertPoll, GetCert and GetCRL are)", rep);
		break;
	}
out:
	enroll_op_free(&o);
}

void
enroll_reject_http(struct enroll_ctx *e, const struct enroll_request *req,
    int http_status, const char *reason, struct enroll_reply *rep)
{
	struct op o;

	memset(rep, 0, sizeof(*rep));
	enroll_op_init(&o, req);
	enroll_text_reply(rep, http_status, reason);
	o.row.reason = reason;
	if (enroll_op_record(e, &o, rep) != LEDGER_OK)
		enroll_internal_error(rep, "ledger write failed");
	enroll_op_free(&o);
}
