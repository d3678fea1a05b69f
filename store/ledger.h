/*
 * The ledger: every PKIOperation scepd answers, the certificates it issued
 * and an append-only list of events per operation, in SQLite (WAL).
 * Knows nothing of OpenSSL or HTTP: callers hand it text and bytes.
 * Safe to share between threads.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stddef.h>
#include <stdint.h>

enum ledger_result {
	LEDGER_OK = 0,
	LEDGER_DUPLICATE_SERIAL,	/* retry with a new serial */
	LEDGER_ERROR,
};

typedef struct ledger ledger;

/* A certificate being recorded for the first time. */
struct ledger_cert {
	const char		*serial;	/* uppercase hex */
	const char		*sha256;	/* lowercase hex of the DER */
	const unsigned char	*der;
	size_t			 der_len;
	const char		*subject;
	int64_t			 not_before;	/* Unix seconds */
	int64_t			 not_after;
	const char		*ca_id;		/* the issuing CA */
	const char		*sha1;		/* lowercase hex, as Windows shows */
};

/* One PKIOperation and its outcome.  NULL strings are stored as NULL. */
struct ledger_op {
	int64_t		 received_us;	/* Unix microseconds */
	const char	*client_addr;
	const char	*user_agent;
	const char	*http_method;
	const char	*transaction_id;
	int		 message_type;	/* 0: never parsed */
	const char	*request_nonce;	/* hex */
	const char	*reply_nonce;	/* hex */
	const char	*request_sha256;
	const char	*request_b64_head; /* first 1,024 base64 characters */
	const char	*csr_subject;
	const char	*csr_sans;
	const char	*pubkey_sha256;
	const char	*digest;	/* "sha256", ... */
	const char	*cipher;	/* "aes-256-cbc", ... */
	const char	*outcome;	/* "issued", "reissued", "rejected" */
	int		 pki_status;	/* -1: no CertRep */
	int		 fail_info;	/* -1: none */
	int		 http_status;
	const char	*reason;
	const char	*cert_serial;	/* the certificate the reply carries */
	const char	*renewal_of;	/* serial of the certificate that
					   signed a renewal; NULL otherwise */
	/* outcome "pending": the request to keep until someone decides. */
	const unsigned char *pending_csr;
	size_t		 pending_csr_len;
	/* outcome "issued" for an approved request: its pending row. */
	int64_t		 completes_pending;
	/* An extra event for the challenge check: challenge_ok, ... */
	const char	*challenge_event;
	const char	*profile;	/* certificate profile chosen */
};

#define LEDGER_B64_HEAD	1024

int ledger_open(const char *path, ledger **out, const char **why);

/* The ledger's clock: Unix microseconds, what every *_us it keeps is on. */
int64_t ledger_now_us(void);

/*
 * PRAGMA integrity_check's first line ("ok" when sound) into result, and
 * the time of the newest event (0 if none) into *newest_us.
 */
int ledger_check(ledger *l, char *result, size_t cap, int64_t *newest_us);
void ledger_close(ledger *l);

/*
 * Record op (and cert, when it is new) in one transaction, with its
 * request_received and outcome events.  An issued renewal also adds an
 * "installed" event (source "renewal") to the operation that issued the
 * signing certificate: the device proved it holds it.  Returns once
 * committed.
 */
int ledger_record(ledger *l, const struct ledger_op *op,
    const struct ledger_cert *cert, int64_t *op_id, const char **why);

/* Append an event; detail_json may be NULL. */
int ledger_add_event(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *detail_json);
/*
 * The same, committed with the next group commit; returns at once.  For
 * evidence recorded after the fact (a reply's delivery), where nothing
 * waits on the row.  A write that fails later is logged nowhere.
 */
int ledger_add_event_later(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *detail_json);

enum ledger_txid_state {
	LEDGER_TXID_NEW = 0,		/* no live certificate for this txid */
	LEDGER_TXID_SAME_KEY,		/* issued before, to this key */
	LEDGER_TXID_OTHER_KEY,		/* issued before, to another key */
};

/*
 * What a live (unexpired at now) certificate issued under txid says about
 * a new request with this key.  Only issuances with the same renewal_of
 * (NULL: first enrollments) count: clients reuse a transactionID when
 * they renew.  For SAME_KEY, *der and *serial are malloc'd copies of that
 * certificate.
 */
int ledger_lookup_txid(ledger *l, const char *txid, const char *pubkey_sha256,
    const char *renewal_of, int64_t now, int *state, unsigned char **der,
    size_t *der_len, char **serial);

struct ledger_cert_state {
	int	known;		/* issued by scepd and in the ledger */
	int64_t	not_after;	/* Unix seconds */
	int64_t	revoked_us;	/* 0: not revoked */
	int	reason;		/* RFC 5280 CRLReason when revoked */
	char	ca_id[17];	/* the issuing CA; "" if unknown */
};

int ledger_cert_state(ledger *l, const char *serial, struct ledger_cert_state *st);

enum ledger_revoke_result {
	LEDGER_REVOKED = 0,
	LEDGER_REVOKE_UNKNOWN,		/* no such serial */
	LEDGER_REVOKE_ALREADY,
	LEDGER_REVOKE_ERROR,
};

/* Revoke serial with an RFC 5280 reason code; a "revoked" event follows. */
int ledger_revoke(ledger *l, const char *serial, int reason);

/*
 * Reports hand their rows to a callback: the ledger shapes each row (a
 * JSON object, a CSV line or a text line, built by SQLite) and the
 * caller writes the document (server/common/report.c).  A callback
 * returns 0 to stop with an error.
 */
typedef int (*ledger_row_fn)(void *arg, const char *row);
/* A count per period (NULL where there is none) and status. */
typedef int (*ledger_count_fn)(void *arg, const char *period,
    const char *status, int64_t count);

/* All operations with their events, a JSON object each, oldest first. */
int ledger_dump_rows(ledger *l, ledger_row_fn fn, void *arg);
struct ledger_filter {
	const char	*status;	/* NULL: any */
	int64_t		 since_us;	/* received at or after; 0: any */
	const char	*subject;	/* substring; NULL: any */
	int64_t		 stuck_before_us; /* issued or delivered, issued
					   before this, never installed */
};

enum ledger_format { LEDGER_JSON, LEDGER_CSV, LEDGER_TEXT };

/* Operations that pass the filter, oldest first, a row each in format. */
int ledger_list_rows(ledger *l, const struct ledger_filter *f, int format,
    ledger_row_fn fn, void *arg);
/* Operations per hour (or day) and status. */
int ledger_stats_rows(ledger *l, int by_day, ledger_count_fn fn, void *arg);

/* A certificate's DER by serial (hex, any case); malloc'd. */
int ledger_cert_der(ledger *l, const char *serial, unsigned char **der,
    size_t *len);

/* Called for each revoked certificate; return 0 to stop with an error. */
typedef int (*ledger_revoked_fn)(void *arg, const char *serial,
    int64_t revoked_us, int reason);

/*
 * Every revoked certificate of CA ca_id that has not expired at now,
 * oldest first.
 */
int ledger_revoked(ledger *l, int64_t now, const char *ca_id,
    ledger_revoked_fn fn, void *arg);
/* Certificates from before schema 7 belong to the CA of the day. */
int ledger_claim_unassigned(ledger *l, const char *ca_id);

/* The next CRL number for a CA (1, 2, ...), kept across restarts. */
int ledger_next_crl_number(ledger *l, const char *ca_id, int64_t *number);

/* A request waiting for (or past) an administrator's decision. */
struct ledger_pending {
	int64_t		 id;
	char		*transaction_id;
	char		*pubkey_sha256;
	char		*renewal_of;	/* NULL for first enrollments */
	unsigned char	*csr;
	size_t		 csr_len;
	char		*subject;
	char		 state[16];	/* pending, approved, denied, issued */
	char		*reason;	/* why denied */
	char		*cert_serial;	/* once issued */
	char		*profile;	/* profile chosen when it was parked */
};

/* The latest pending row for txid; *found 0 when there is none. */
int ledger_pending_find(ledger *l, const char *txid, struct ledger_pending *p,
    int *found);
void ledger_pending_clear(struct ledger_pending *p);

enum ledger_decide_result {
	LEDGER_DECIDED = 0,
	LEDGER_DECIDE_UNKNOWN,		/* nothing pending under that txid */
	LEDGER_DECIDE_ERROR,
};

/* approve (1) or deny (0) the pending request txid; an event records it. */
int ledger_pending_decide(ledger *l, const char *txid, int approve,
    const char *reason);
/* Requests still waiting, a JSON object each. */
int ledger_pending_rows(ledger *l, ledger_row_fn fn, void *arg);

enum ledger_challenge_result {
	LEDGER_CHALLENGE_OK = 0,
	LEDGER_CHALLENGE_FULL,		/* challenge_max outstanding already */
	LEDGER_CHALLENGE_UNKNOWN,	/* no such password, used or expired */
	LEDGER_CHALLENGE_ERROR,
};

/*
 * Store a one-time password's SHA-256 (hex) until expires_us, unless max
 * unused, unexpired ones are outstanding already.
 */
int ledger_challenge_add(ledger *l, const char *sha256, int64_t expires_us,
    const char *profile, int max_outstanding);
/*
 * Use a one-time password, in the next group commit (no WAL sync of its
 * own): one use even under concurrent requests.  The same transaction and
 * key may present it again (a re-sent request).  *profile (malloc'd or
 * NULL) is the profile it was made for.
 */
int ledger_challenge_use(ledger *l, const char *sha256, const char *txid,
    const char *pubkey_sha256, char **profile);

/*
 * Device evidence (scepctl ingest).  Matches are exact: a reply by its
 * transactionID and the senderNonce scepd generated for it, a request by
 * the start of its base64 (at least LEDGER_MIN_PREFIX characters).
 * Return the operation id, 0 when nothing matches.
 */
#define LEDGER_MIN_PREFIX 64
int64_t ledger_match_reply(ledger *l, const char *txid, const char *reply_nonce);
int64_t ledger_match_request_prefix(ledger *l, const char *b64_prefix);

/*
 * Record device evidence on an operation: detail {evidence, file, line,
 * text}, built by SQLite.  Nothing is added when the same kind, source
 * and text are there already (ingesting a file twice adds nothing);
 * *added says whether it was.  *conflict: it is install evidence
 * (installed, install_failed) and the operation's newest install
 * evidence said the other (the newest wins; the timeline shows both).
 */
int ledger_add_evidence(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *evidence, const char *file, long line,
    const char *text, int *added, int *conflict);

/*
 * The evidence of the transactions ID names (events from device logs and
 * reports: installed, install_failed, probably_*, received_by_device,
 * request_logged, repoll), oldest first, a JSON object each with its
 * event id, transaction, kind, source, detail and retraction if any.
 */
int ledger_evidence_rows(ledger *l, const char *id, ledger_row_fn fn,
    void *arg, int *found);

enum ledger_retract_result {
	LEDGER_RETRACTED = 0,
	LEDGER_RETRACT_UNKNOWN,		/* no such event */
	LEDGER_RETRACT_ALREADY,
	LEDGER_RETRACT_NOT_EVIDENCE,	/* what the server recorded itself */
	LEDGER_RETRACT_ERROR,
};

/*
 * Retract evidence event event_id: it stays in the timeline, marked,
 * the transaction's status is recomputed without it, and an
 * "evidence_retracted" event says which, by whom and why.
 */
int ledger_retract_evidence(ledger *l, int64_t event_id, const char *reason,
    const char *by);

/*
 * The transactions ID names (transactionID or serial in hex, else subject
 * CN) with status and timeline, a JSON object each (dump_rows' shape);
 * *found 0 when nothing matches.
 */
int ledger_show_rows(ledger *l, const char *id, ledger_row_fn fn, void *arg,
    int *found);
/* The same an event at a time, with its transaction's fields beside it. */
struct ledger_show_event {
	int64_t		 op_id;
	const char	*transaction_id, *status, *subject, *serial;
	const char	*client_addr, *reason;		/* reason: "" if none */
	const char	*at, *kind, *source, *detail;	/* the event */
};
typedef int (*ledger_show_event_fn)(void *arg,
    const struct ledger_show_event *ev);
int ledger_show_events(ledger *l, const char *id, ledger_show_event_fn fn,
    void *arg, int *found);

/* The latest issuance for a transactionID or serial; 0 when none. */
int64_t ledger_find_issued(ledger *l, const char *id);
/* Transactions per status (period NULL), for scepd_transactions. */
int ledger_status_counts(ledger *l, ledger_count_fn fn, void *arg);

/*
 * Events after event id `after`, oldest first, at most limit, each as
 * JSON with its transaction's id, status, serial and subject.  fn runs
 * under the ledger's lock: copy, do not work, in it.
 */
typedef int (*ledger_event_fn)(void *arg, int64_t id, const char *kind,
    const char *json);
int ledger_events_since(ledger *l, int64_t after, int limit, ledger_event_fn fn,
    void *arg);
int64_t ledger_last_event_id(ledger *l);

/*
 * Certificates without a SHA-1 thumbprint yet (from before schema 8):
 * fn gets each DER, writes its lowercase hex SHA-1 into hex and returns
 * 0 (ca_sha1_hex's CA_OK), anything else to stop with an error.
 */
typedef int (*ledger_sha1_fn)(const unsigned char *der, size_t len,
    char hex[41]);
int ledger_backfill_sha1(ledger *l, ledger_sha1_fn fn);

/* The issuance of the certificate with this SHA-1, SHA-256 or serial. */
int64_t ledger_find_by_cert(ledger *l, const char *hex);
/*
 * The one issuance to subject CN cn whose reply completed within window
 * microseconds before at_us; 0 when none or more than one.
 */
int64_t ledger_find_by_cn_time(ledger *l, const char *cn, int64_t at_us,
    int64_t window_us);

/* Current schema version (PRAGMA user_version). */
int ledger_schema_version(ledger *l);

#endif
