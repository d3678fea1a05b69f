/*
 * PKIOperation: one request body in, one reply out, one ledger row
 * committed before the reply is returned.  The only place where pkcs7/,
 * ca/ and store/ meet.  Knows nothing of HTTP beyond status codes.
 */
#ifndef ENROLL_H
#define ENROLL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/ca.h"
#include "server/challenge.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "store/ledger.h"

#define ENROLL_STRIPES 64

#define ENROLL_MAX_PROFILES 17	/* "default" and CONFIG_MAX_PROFILES */

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
	const unsigned char	*nextca;
	size_t			 nextca_len;
	int			 crl_days;
	/* Serialises requests that share a transactionID (idempotency). */
	pthread_mutex_t		 stripes[ENROLL_STRIPES];
	/* Requests hold it shared; a SIGHUP reload holds it alone. */
	pthread_rwlock_t	 reload_lock;
};

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
	char		 txid[72];	/* "" when none; cut at 71 characters */
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

int enroll_init(struct enroll_ctx *e, ca *c, ledger *l);
/* Profiles from the configuration; 0 with *why when one is invalid. */
int enroll_profiles(struct enroll_ctx *e, const struct scepd_config *cfg,
    const char **why);
void enroll_fini(struct enroll_ctx *e);

/*
 * SIGHUP: apply a re-read configuration's profiles, challenge (mode,
 * password ch, exec program), renewal and clock settings and challenge
 * failure limit.  Waits for the requests in flight; nothing is applied
 * unless everything is valid.  cfg must outlive e's use of it.
 */
int enroll_reload(struct enroll_ctx *e, const struct scepd_config *cfg,
    const struct challenge *ch, const char **why);

void enroll_pkioperation(struct enroll_ctx *e, const struct enroll_request *req,
    struct enroll_reply *rep);

/* Record an HTTP-level rejection (413, bad base64) and build a text reply. */
void enroll_reject_http(struct enroll_ctx *e, const struct enroll_request *req,
    int http_status, const char *reason, struct enroll_reply *rep);

void enroll_reply_free(struct enroll_reply *rep);

#endif
