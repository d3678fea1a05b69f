#include "store/ledger_schema.h"

#define HAS(k) "EXISTS (SELECT 1 FROM events x WHERE x.operation_id = operations.id" \
	" AND x.kind = '" k "')"
/*
 * No IN list of more than two values in what the triggers run: SQLite
 * builds a temporary b-tree for each such list each time it runs (three
 * per event written), where a chain of = costs nothing.
 */
#define SENT_CERT "(operations.outcome = 'issued' OR" \
    " operations.outcome = 'reissued' OR operations.outcome = 'returned')"
/* A transaction's status but "expired": the furthest it got (SQLite allows no alias in a trigger's UPDATE). */
#define REVOKED_FIRST \
    "(CASE" \
    " WHEN (SELECT revoked_us FROM certificates WHERE serial = operations.cert_serial)" \
    "   IS NOT NULL THEN 'revoked'"
/* Below the install evidence: how far the reply and the request got. */
#define SHORT_OF_INSTALL \
    " WHEN " SENT_CERT " AND " HAS("response_complete") " THEN 'delivered'" \
    " WHEN " SENT_CERT " AND " HAS("response_aborted") \
    "   THEN 'delivery_failed'" \
    " WHEN operations.outcome IN ('issued', 'reissued') THEN 'issued'" \
    " WHEN operations.outcome = 'pending' THEN 'pending'" \
    " WHEN operations.outcome IN ('rejected', 'denied') THEN 'rejected'" \
    " ELSE 'received' END)"
#define STORED_STATUS REVOKED_FIRST \
    " WHEN " HAS("installed") " THEN 'installed'" \
    " WHEN " HAS("install_failed") " THEN 'install_failed'" \
    SHORT_OF_INSTALL

/*
 * From schema 11: of the install evidence (installed, install_failed)
 * not retracted, the newest decides; weak evidence has other kinds
 * (probably_*) and decides nothing.
 */
#define LAST_INSTALL \
    "(SELECT x.kind FROM events x WHERE x.operation_id = operations.id" \
    " AND (x.kind = 'installed' OR x.kind = 'install_failed')" \
    " AND x.retracted_us IS NULL ORDER BY x.id DESC LIMIT 1)"
#define STORED_STATUS_11 REVOKED_FIRST \
    " WHEN " LAST_INSTALL " IS NOT NULL THEN " LAST_INSTALL \
    SHORT_OF_INSTALL
#define STATUS_TRIGGERS_11 \
    "CREATE TRIGGER status_on_insert AFTER INSERT ON operations BEGIN" \
    "  UPDATE operations SET status = " STORED_STATUS_11 \
    "  WHERE id = NEW.id; END;" \
    "CREATE TRIGGER status_on_event AFTER INSERT ON events WHEN" \
    "  NEW.kind = 'installed' OR NEW.kind = 'install_failed' OR" \
    "  NEW.kind = 'response_complete' OR NEW.kind = 'response_aborted'" \
    "  BEGIN UPDATE operations SET status = " STORED_STATUS_11 \
    "  WHERE id = NEW.operation_id; END;" \
    "CREATE TRIGGER status_on_revoke AFTER UPDATE OF revoked_us ON" \
    "  certificates BEGIN" \
    "  UPDATE operations SET status = " STORED_STATUS_11 \
    "  WHERE cert_serial = NEW.serial; END;" \
    "CREATE TRIGGER status_on_retract AFTER UPDATE OF retracted_us ON" \
    "  events BEGIN" \
    "  UPDATE operations SET status = " STORED_STATUS_11 \
    "  WHERE id = NEW.operation_id; END;"

#define STATUS_TRIGGERS \
    "CREATE TRIGGER status_on_insert AFTER INSERT ON operations BEGIN" \
    "  UPDATE operations SET status = " STORED_STATUS \
    "  WHERE id = NEW.id; END;" \
    "CREATE TRIGGER status_on_event AFTER INSERT ON events WHEN" \
    "  NEW.kind = 'installed' OR NEW.kind = 'install_failed' OR" \
    "  NEW.kind = 'response_complete' OR NEW.kind = 'response_aborted'" \
    "  BEGIN UPDATE operations SET status = " STORED_STATUS \
    "  WHERE id = NEW.operation_id; END;" \
    "CREATE TRIGGER status_on_revoke AFTER UPDATE OF revoked_us ON" \
    "  certificates BEGIN" \
    "  UPDATE operations SET status = " STORED_STATUS \
    "  WHERE cert_serial = NEW.serial; END;"

const char *const ledger_migrations[] = {
	/* 0 -> 1: operations, certificates, events. */
	"CREATE TABLE certificates ("
	"  serial      TEXT PRIMARY KEY,"		/* uppercase hex */
	"  sha256      TEXT NOT NULL,"
	"  der         BLOB NOT NULL,"
	"  subject     TEXT NOT NULL,"
	"  not_before  INTEGER NOT NULL,"		/* Unix seconds */
	"  not_after   INTEGER NOT NULL,"
	"  issued_us   INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE operations ("
	"  id               INTEGER PRIMARY KEY,"
	"  received_us      INTEGER NOT NULL,"
	"  completed_us     INTEGER NOT NULL,"
	"  client_addr      TEXT,"
	"  user_agent       TEXT,"
	"  http_method      TEXT,"
	"  transaction_id   TEXT,"
	"  message_type     INTEGER,"
	"  request_nonce    TEXT,"
	"  reply_nonce      TEXT,"
	"  request_sha256   TEXT,"
	"  request_b64_head TEXT,"
	"  csr_subject      TEXT,"
	"  csr_sans         TEXT,"
	"  pubkey_sha256    TEXT,"
	"  digest           TEXT,"
	"  cipher           TEXT,"
	"  outcome          TEXT NOT NULL CHECK (outcome IN"
	"                   ('issued', 'reissued', 'rejected')),"
	"  pki_status       INTEGER,"
	"  fail_info        INTEGER,"
	"  http_status      INTEGER NOT NULL,"
	"  reason           TEXT,"
	"  cert_serial      TEXT REFERENCES certificates(serial)"
	") STRICT;"
	"CREATE INDEX operations_txid ON operations(transaction_id);"
	"CREATE INDEX operations_serial ON operations(cert_serial);"
	"CREATE TABLE events ("
	"  id            INTEGER PRIMARY KEY,"
	"  operation_id  INTEGER NOT NULL REFERENCES operations(id),"
	"  at_us         INTEGER NOT NULL,"
	"  kind          TEXT NOT NULL,"
	"  source        TEXT NOT NULL,"
	"  detail        TEXT CHECK (detail IS NULL OR json_valid(detail))"
	") STRICT;"
	"CREATE INDEX events_operation ON events(operation_id);",

	/*
	 * 1 -> 2: renewal links an operation to the certificate that signed
	 * it; certificates can be revoked (RFC 5280 5.3.1 reason codes).
	 */
	"ALTER TABLE operations ADD COLUMN renewal_of TEXT"
	"  REFERENCES certificates(serial);"
	"CREATE INDEX operations_renewal ON operations(renewal_of);"
	"ALTER TABLE certificates ADD COLUMN revoked_us INTEGER;"
	"ALTER TABLE certificates ADD COLUMN revocation_reason INTEGER;",

	/*
	 * 2 -> 3: more outcomes (GetCert and GetCRL replies are "returned";
	 * manual approval brings "pending" and "denied"), which SQLite can
	 * only add by rebuilding the table; and CRL numbers per CA.
	 * Foreign keys are off while migrations run.
	 */
	"CREATE TABLE operations_new ("
	"  id               INTEGER PRIMARY KEY,"
	"  received_us      INTEGER NOT NULL,"
	"  completed_us     INTEGER NOT NULL,"
	"  client_addr      TEXT,"
	"  user_agent       TEXT,"
	"  http_method      TEXT,"
	"  transaction_id   TEXT,"
	"  message_type     INTEGER,"
	"  request_nonce    TEXT,"
	"  reply_nonce      TEXT,"
	"  request_sha256   TEXT,"
	"  request_b64_head TEXT,"
	"  csr_subject      TEXT,"
	"  csr_sans         TEXT,"
	"  pubkey_sha256    TEXT,"
	"  digest           TEXT,"
	"  cipher           TEXT,"
	"  outcome          TEXT NOT NULL CHECK (outcome IN ('issued',"
	"                   'reissued', 'rejected', 'returned', 'pending',"
	"                   'denied')),"
	"  pki_status       INTEGER,"
	"  fail_info        INTEGER,"
	"  http_status      INTEGER NOT NULL,"
	"  reason           TEXT,"
	"  cert_serial      TEXT REFERENCES certificates(serial),"
	"  renewal_of       TEXT REFERENCES certificates(serial)"
	") STRICT;"
	"INSERT INTO operations_new SELECT id, received_us, completed_us,"
	"  client_addr, user_agent, http_method, transaction_id, message_type,"
	"  request_nonce, reply_nonce, request_sha256, request_b64_head,"
	"  csr_subject, csr_sans, pubkey_sha256, digest, cipher, outcome,"
	"  pki_status, fail_info, http_status, reason, cert_serial, renewal_of"
	"  FROM operations;"
	"DROP TABLE operations;"
	"ALTER TABLE operations_new RENAME TO operations;"
	"CREATE INDEX operations_txid ON operations(transaction_id);"
	"CREATE INDEX operations_serial ON operations(cert_serial);"
	"CREATE INDEX operations_renewal ON operations(renewal_of);"
	"CREATE TABLE crls ("
	"  ca_id   TEXT PRIMARY KEY,"
	"  number  INTEGER NOT NULL"
	") STRICT;",

	/*
	 * 3 -> 4: requests waiting for an administrator (approval = manual).
	 * The CSR waits here; the certificate is issued at the first poll
	 * after approval.
	 */
	"CREATE TABLE pending ("
	"  id              INTEGER PRIMARY KEY,"
	"  transaction_id  TEXT NOT NULL,"
	"  pubkey_sha256   TEXT NOT NULL,"
	"  renewal_of      TEXT REFERENCES certificates(serial),"
	"  csr             BLOB NOT NULL,"
	"  subject         TEXT NOT NULL,"
	"  client_addr     TEXT,"
	"  operation_id    INTEGER NOT NULL REFERENCES operations(id),"
	"  created_us      INTEGER NOT NULL,"
	"  state           TEXT NOT NULL CHECK (state IN ('pending', 'approved',"
	"                  'denied', 'issued')),"
	"  decided_us      INTEGER,"
	"  reason          TEXT,"
	"  cert_serial     TEXT REFERENCES certificates(serial)"
	") STRICT;"
	"CREATE INDEX pending_txid ON pending(transaction_id);"
	"CREATE INDEX pending_state ON pending(state);",

	/*
	 * 4 -> 5: one-time challenge passwords (challenge_mode = onetime),
	 * kept as SHA-256 of random passwords; used at most once.
	 */
	"CREATE TABLE challenges ("
	"  id            INTEGER PRIMARY KEY,"
	"  sha256        TEXT NOT NULL UNIQUE,"
	"  created_us    INTEGER NOT NULL,"
	"  expires_us    INTEGER NOT NULL,"
	"  profile       TEXT,"
	"  used_us       INTEGER,"
	"  used_by_txid  TEXT,"
	"  used_by_key   TEXT"
	") STRICT;"
	"CREATE INDEX challenges_open ON challenges(used_us, expires_us);",

	/* 5 -> 6: the certificate profile (NDES template) each request got. */
	"ALTER TABLE operations ADD COLUMN profile TEXT;"
	"ALTER TABLE pending ADD COLUMN profile TEXT;",

	/*
	 * 6 -> 7: which CA issued each certificate (16 hex digits of its
	 * SHA-256), so that after a rollover each CA's CRL lists its own.
	 * scepd assigns the rows from before this to the CA of the day.
	 */
	"ALTER TABLE certificates ADD COLUMN ca_id TEXT;"
	"CREATE INDEX certificates_ca ON certificates(ca_id);",

	/*
	 * 7 -> 8: SHA-1 thumbprints, the form Windows shows, for matching
	 * device events; scepd fills in the rows from before at start.
	 */
	"ALTER TABLE certificates ADD COLUMN sha1 TEXT;"
	"CREATE INDEX certificates_sha1 ON certificates(sha1);",

	/*
	 * 8 -> 9: each transaction's status kept in its row (by triggers on
	 * every write that changes it) and indexed, so that `stuck`, the
	 * status filters and the metrics need not derive it from the events
	 * of every row.  All but "expired", which depends on the clock: the
	 * queries lay that over the stored value.
	 */
	"ALTER TABLE operations ADD COLUMN status TEXT;"
	"UPDATE operations SET status = " STORED_STATUS ";"
	"CREATE INDEX operations_status ON operations(status, completed_us);"
	STATUS_TRIGGERS,

	/* 9 -> 10: the same triggers without IN lists (see SENT_CERT). */
	"DROP TRIGGER status_on_insert;"
	"DROP TRIGGER status_on_event;"
	"DROP TRIGGER status_on_revoke;"
	STATUS_TRIGGERS,

	/*
	 * 10 -> 11: evidence can be retracted (it stays in the timeline,
	 * marked, with a retraction event), and the newest install evidence
	 * not retracted decides between installed and install_failed (it was
	 * installed whenever any installed event existed).
	 */
	"ALTER TABLE events ADD COLUMN retracted_us INTEGER;"
	"DROP TRIGGER status_on_insert;"
	"DROP TRIGGER status_on_event;"
	"DROP TRIGGER status_on_revoke;"
	STATUS_TRIGGERS_11
	"UPDATE operations SET status = " STORED_STATUS_11
	" WHERE status = 'installed' OR status = 'install_failed';",
};

const int ledger_schema_latest =
    (int)(sizeof(ledger_migrations) / sizeof(ledger_migrations[0]));
