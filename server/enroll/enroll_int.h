/*
 * Inside server/enroll only: the context, one PKIOperation's state, and
 * the steps the files of this module share.  Nothing outside enroll/
 * includes this header; enroll.h is the way in.
 *
 *   enroll.c         dispatch by messageType, HTTP-level rejections
 *   enroll_ctx.c     the context from the configuration, reload, accessors
 *   enroll_reply.c   CertRep building, failures, the ledger row
 *   enroll_policy.c  signer, envelope, challenge and CSR checks
 *   enroll_issue.c   PKCSReq/RenewalReq: issuing, manual approval
 *   enroll_fetch.c   CertPoll, GetCert, GetCRL
 *   crl.c            the CRL files
 *   onetime.c        one-time passwords
 *   challenge_exec.c challenge_mode = exec
 */
#ifndef SCEPD_ENROLL_INT_H
#define SCEPD_ENROLL_INT_H

#include <pthread.h>
#include <time.h>

#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_msg.h"
#include "server/enroll/enroll.h"

#define ENROLL_STRIPES 64

#define ENROLL_MAX_PROFILES 17	/* "default" and CONFIG_MAX_PROFILES */

#define SERIAL_TRIES 4

/*
 * challenge_mode = exec, the Intune-connector pattern: a program decides.
 * It gets the CSR (PEM) on stdin and SCEP_TRANSACTION_ID, SCEP_CHALLENGE,
 * SCEP_SUBJECT and SCEP_CLIENT_ADDR in its environment; exit 0 allows;
 * its first line of output becomes the ledger's reason.
 */
struct exec_request {
	const char	*program;
	int		 timeout;	/* seconds */
	const char	*csr_pem;
	const char	*txid;
	const char	*challenge;
	const char	*subject;
	const char	*client_addr;
};

/* Run the program; reason receives its first line (or why it failed). */
int challenge_exec(const struct exec_request *r, char *reason, size_t cap);

/* The current CRL as DER (malloc'd), or NULL. */
unsigned char *crl_read(const ca *c, const char *state_dir, size_t *len);

struct enroll_profile {
	const char		*name;
	struct ca_profile	 cp;
	int			 manual;	/* approval = manual */
};

struct enroll_ctx {
	ca			*ca;
	char			 ca_id[CA_ID_LEN + 1];	/* the current CA */
	ledger			*ledger;
	struct enroll_profile	 profiles[ENROLL_MAX_PROFILES];	/* [0]: default */
	int			 n_profiles;
	int			 by_ku[3];	/* enum ca_ku_class -> profile index */
	int			 challenge_mode;	/* enum challenge_mode */
	struct challenge	 challenge;	/* static */
	const char		*challenge_exec;	/* exec */
	int			 challenge_exec_timeout;
	struct ratelimit	 failures;	/* failed challenges per address */
	int			 allow_legacy;
	long			 max_clock_skew;
	long			 renewal_window;	/* 0: any time */
	int			 renewal_keep_subject;
	const char		*state_dir;	/* where the CRL lives */
	/* GetNextCACert's reply (signed by the CA key), or NULL. */
	unsigned char		*nextca;
	size_t			 nextca_len;
	int			 crl_days;
	/* Serialises requests that share a transactionID (idempotency). */
	pthread_mutex_t		 stripes[ENROLL_STRIPES];
	/* Requests hold it shared; a SIGHUP reload holds it alone. */
	pthread_rwlock_t	 reload_lock;
};

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

/* enroll_reply.c: the reply and the ledger row. */
void enroll_text_reply(struct enroll_reply *rep, int status, const char *reason);
void enroll_op_init(struct op *o, const struct enroll_request *req);
void enroll_op_free(struct op *o);
/* Commit the row (and the certificate when new); the reply waits on it. */
int enroll_op_record(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep);
scep_err enroll_build_certrep(struct enroll_ctx *e, struct op *o, int status,
    int fail_info, struct enroll_reply *rep);
void enroll_internal_error(struct enroll_reply *rep, const char *reason);
/*
 * Our fault: a 500 with no certificate in it, recorded when the ledger
 * still works so that the row says why.
 */
void enroll_fail_internal(struct enroll_ctx *e, struct op *o,
    const char *reason, struct enroll_reply *rep);
/* Answer with CertRep FAILURE, record it, done. */
void enroll_fail(struct enroll_ctx *e, struct op *o, scep_err err,
    const char *why, struct enroll_reply *rep);

/* enroll_policy.c: the checks before anything is issued. */
scep_err enroll_ca_err(int rv);
scep_err enroll_check_signer(struct enroll_ctx *e, struct op *o,
    const char **why);
scep_err enroll_open_envelope(struct enroll_ctx *e, struct op *o,
    const char **why);
scep_err enroll_check_challenge(struct enroll_ctx *e, struct op *o,
    const char **why);
scep_err enroll_check_request(struct enroll_ctx *e, struct op *o,
    const char **why);

/* enroll_ctx.c: a profile by name (NULL or "": the default); -1 if none. */
int enroll_profile_index(const struct enroll_ctx *e, const char *name);

/* enroll.c: the mutex for requests that share this transactionID. */
pthread_mutex_t *enroll_stripe(struct enroll_ctx *e, const char *txid);

/* enroll_issue.c */
int enroll_load_cert(const unsigned char *der, size_t len, X509 **out);
void enroll_issue_request(struct enroll_ctx *e, struct op *o,
    struct enroll_reply *rep);
/*
 * The profile for a request: the one its one-time challenge was made
 * for, else by the key usage the CSR asks for.
 */
scep_err enroll_choose_profile(struct enroll_ctx *e, struct op *o,
    const char *name, const char **why);
/* A request parked for approval: answer by its pending row's state. */
void enroll_answer_pending(struct enroll_ctx *e, struct op *o,
    const struct ledger_pending *p, struct enroll_reply *rep);

/* enroll_fetch.c */
void enroll_poll(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep);
void enroll_fetch(struct enroll_ctx *e, struct op *o, struct enroll_reply *rep);

#endif
