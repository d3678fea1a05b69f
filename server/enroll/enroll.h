/*
 * server/enroll: what happens to a PKIOperation once its bytes are in —
 * one request body in, one reply out, one ledger row committed before the
 * reply is returned.  The only place where pkcs7/, ca/ and store/ meet:
 * dispatch by messageType, policy checks (signer, envelope, challenge),
 * issuing and manual approval, CertPoll, GetCert and GetCRL, the CRL
 * files, one-time passwords and the delivery events HTTP reports.
 *
 * Owns: the enrollment context (profiles, challenge settings, the CA and
 * ledger handles), made from the configuration by enroll_new().
 * Must not touch: HTTP (it knows status codes, not connections), the
 * process model (privsep), presentation (ctl, admin).
 */
#ifndef SCEPD_ENROLL_H
#define SCEPD_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "ca/ca.h"
#include "server/common/common.h"
#include "store/ledger.h"

typedef struct enroll_ctx enroll_ctx;

struct enroll_request {
	const unsigned char	*body;
	size_t			 len;
	const char		*client_addr;
	const char		*user_agent;
	const char		*method;
	int64_t			 received_us;
};

/* What the request log line says of a PKIOperation. */
struct enroll_summary {
	/* "" when none; whole (pkcs7's SCEP_MAX_TXID is 128): never cut. */
	char		 txid[129];
	char		 serial[68];	/* the certificate's, "" when none */
	const char	*outcome;	/* issued, rejected, ...; NULL */
	const char	*msg_type;	/* PKCSReq, ...; NULL when unparsed */
	char		 reason[160];	/* why it was refused; "" */
};

struct enroll_reply {
	int		 http_status;
	const char	*content_type;
	unsigned char	*body;		/* malloc'd */
	size_t		 len;
	int64_t		 op_id;		/* ledger row; 0 if none */
	int		 close;		/* end the connection after it */
	struct enroll_summary summary;
};

/*
 * Are the configuration's certificate profiles valid?  (scepd -n checks
 * this before anything is opened.)  0 with *why when one is not.
 */
int enroll_check_config(const struct scepd_config *cfg, const char **why);
/*
 * The context for c and l, made from cfg (which must outlive it):
 * profiles, renewal and clock settings, challenge mode and failure limit.
 * nextca: the GetNextCACert reply (signed where the CA key is), or NULL;
 * copied.  The static challenge is set with enroll_set_challenge.
 */
int enroll_new(const struct scepd_config *cfg, ca *c, ledger *l,
    const unsigned char *nextca, size_t nextca_len, enroll_ctx **out,
    const char **why);
void enroll_free(enroll_ctx *e);
/* challenge_mode = static: the password hash requests must match. */
void enroll_set_challenge(enroll_ctx *e, const struct challenge *ch);

/*
 * SIGHUP: apply a re-read configuration's profiles, challenge (mode,
 * password ch, exec program), renewal and clock settings and challenge
 * failure limit.  Waits for the requests in flight; nothing is applied
 * unless everything is valid.  cfg must outlive e's use of it.
 */
int enroll_reload(enroll_ctx *e, const struct scepd_config *cfg,
    const struct challenge *ch, const char **why);

void enroll_pkioperation(enroll_ctx *e, const struct enroll_request *req,
    struct enroll_reply *rep);
/* Record an HTTP-level rejection (413, bad base64) and build a text reply. */
void enroll_reject_http(enroll_ctx *e, const struct enroll_request *req,
    int http_status, const char *reason, struct enroll_reply *rep);
void enroll_reply_free(struct enroll_reply *rep);
/* Now on the clock requests are stamped with (the ledger's). */
int64_t enroll_now_us(void);

/*
 * The delivery evidence for ledger row op_id: whether the whole reply
 * left (response_complete) or not (response_aborted), with how the
 * request ended.  Rides the next group commit: nothing waits on it.
 */
int enroll_delivered(enroll_ctx *e, int64_t op_id, int complete,
    const char *termination);

/*
 * GetCACert (RFC 8894 4.2.1): RA + CA as a degenerate PKCS#7, or the CA
 * alone as DER; *der malloc'd, *type its Content-Type.
 */
int enroll_cacert(const enroll_ctx *e, unsigned char **der, size_t *len,
    const char **type);
/* GetNextCACert's reply (RFC 8894 4.7), or NULL when no rollover is prepared. */
const unsigned char *enroll_nextca(const enroll_ctx *e, size_t *len);
int enroll_has_next_ca(const enroll_ctx *e);
/*
 * The CRL (DER, malloc'd) of the CA (current or previous) with id ca_id;
 * NULL with *known 0 when there is no such CA, *known 1 when its CRL is
 * not published yet.
 */
unsigned char *enroll_crl(const enroll_ctx *e, const char *ca_id, size_t *len,
    int *known);
/* The CRLs of the current CA and every previous one, each before nextUpdate. */
int enroll_refresh_crls(enroll_ctx *e, const char **why);
/* The current CA certificate's SHA-256 thumbprint (uppercase hex). */
int enroll_ca_thumbprint(const enroll_ctx *e, char *out, size_t cap);

/*
 * CRL files: STATE_DIR/crl/<ca id>.crl, built from the ledger, published
 * on every revocation (by scepctl) and again before nextUpdate (by scepd).
 */
/* Build, sign and write a new CRL with the next CRL number. */
int crl_publish(const ca *c, ledger *l, const char *state_dir, int days,
    const char **why);
/*
 * Publish if the file is missing, unreadable, or past half its life;
 * *published says whether it did.
 */
int crl_refresh(const ca *c, ledger *l, const char *state_dir, int days,
    int *published, const char **why);

/*
 * One-time passwords (challenge_mode = onetime): a new one, stored as its
 * SHA-256 until ttl seconds from now, unless max are outstanding;
 * LEDGER_CHALLENGE_* result.  out holds CHALLENGE_GEN_LEN + 1 bytes.
 */
int enroll_onetime_new(ledger *l, long ttl, const char *profile, int max,
    char *out);
/* The same in e's ledger, for any profile (NDES's challenge page). */
int enroll_onetime(enroll_ctx *e, long ttl, int max, char *out);

#endif
