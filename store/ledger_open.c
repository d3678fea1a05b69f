#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"
#include "store/ledger_schema.h"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_INSERT_CERT] =
	    "INSERT INTO certificates (serial, sha256, der, subject,"
	    " not_before, not_after, issued_us, ca_id, sha1)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_INSERT_OP] =
	    "INSERT INTO operations (received_us, completed_us, client_addr,"
	    " user_agent, http_method, transaction_id, message_type,"
	    " request_nonce, reply_nonce, request_sha256, request_b64_head,"
	    " csr_subject, csr_sans, pubkey_sha256, digest, cipher, outcome,"
	    " pki_status, fail_info, http_status, reason, cert_serial, renewal_of,"
	    " profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
	[ST_INSERT_EVENT] =
	    "INSERT INTO events (operation_id, at_us, kind, source, detail)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	/* {"reason": ..., "fail_info": ...} built by SQLite, never by hand. */
	[ST_OUTCOME_DETAIL] = "SELECT json_object('reason', ?1,"
	    " 'fail_info', ?2, 'http_status', ?3, 'serial', ?4)",
	/*
	 * Prefer a row with the same key; only live certificates count.
	 * "+o.renewal_of": never scan the renewal index for IS NULL (every
	 * first enrollment); the transactionID index is the selective one.
	 */
	[ST_LOOKUP_TXID] =
	    "SELECT o.pubkey_sha256 = ?2, c.der, c.serial"
	    " FROM operations o JOIN certificates c ON c.serial = o.cert_serial"
	    " WHERE o.transaction_id = ?1 AND o.outcome = 'issued'"
	    " AND c.not_after > ?3 AND +o.renewal_of IS ?4"
	    " ORDER BY o.pubkey_sha256 = ?2 DESC, o.id DESC LIMIT 1",
	[ST_CERT_DER] = "SELECT der FROM certificates WHERE serial = upper(?1)",
	[ST_CERT_STATE] = "SELECT not_after, revoked_us, revocation_reason,"
	    " ca_id FROM certificates WHERE serial = upper(?1)",
	/* The operation that first issued a certificate. */
	[ST_ISSUING_OP] = "SELECT id FROM operations WHERE cert_serial ="
	    " upper(?1) AND outcome = 'issued' ORDER BY id LIMIT 1",
	[ST_REVOKE] = "UPDATE certificates SET revoked_us = ?2,"
	    " revocation_reason = ?3 WHERE serial = upper(?1)"
	    " AND revoked_us IS NULL",
	/* Revoked and not yet expired: what a CRL must list. */
	[ST_REVOKED_LIST] = "SELECT serial, revoked_us, revocation_reason"
	    " FROM certificates WHERE revoked_us IS NOT NULL AND not_after > ?1"
	    " AND ca_id = ?2 ORDER BY revoked_us",
	[ST_CRL_NUMBER] = "INSERT INTO crls (ca_id, number) VALUES (?1, 1)"
	    " ON CONFLICT (ca_id) DO UPDATE SET number = number + 1"
	    " RETURNING number",
	[ST_PENDING_ADD] = "INSERT INTO pending (transaction_id, pubkey_sha256,"
	    " renewal_of, csr, subject, client_addr, operation_id, created_us,"
	    " state, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending',"
	    " ?9)",
	[ST_PENDING_FIND] = "SELECT id, transaction_id, pubkey_sha256,"
	    " renewal_of, csr, subject, state, reason, cert_serial, profile"
	    " FROM pending"
	    " WHERE transaction_id = ?1 ORDER BY id DESC LIMIT 1",
	[ST_PENDING_DECIDE] = "UPDATE pending SET state = ?2, decided_us = ?3,"
	    " reason = ?4 WHERE id = (SELECT max(id) FROM pending WHERE"
	    " transaction_id = ?1) AND state = 'pending' RETURNING operation_id",
	[ST_PENDING_ISSUED] = "UPDATE pending SET state = 'issued',"
	    " cert_serial = ?2 WHERE id = ?1 AND state = 'approved'",
	[ST_CHALLENGE_COUNT] = "SELECT count(*) FROM challenges WHERE"
	    " used_us IS NULL AND expires_us > ?1",
	[ST_CHALLENGE_ADD] = "INSERT INTO challenges (sha256, created_us,"
	    " expires_us, profile) VALUES (?1, ?2, ?3, ?4)",
	[ST_CHALLENGE_USE] = "UPDATE challenges SET used_us = ?2,"
	    " used_by_txid = ?3, used_by_key = ?4 WHERE sha256 = ?1 AND"
	    " used_us IS NULL AND expires_us > ?2 RETURNING profile",
	[ST_CHALLENGE_REUSE] = "SELECT profile FROM challenges WHERE"
	    " sha256 = ?1 AND used_by_txid = ?2 AND used_by_key = ?3",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT one_write",
	[ST_RELEASE] = "RELEASE one_write",
	[ST_UNDO] = "ROLLBACK TO one_write",
};

int64_t
ledger_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* PRAGMA foreign_key_check reports each violation as a row. */
static int
count_row(void *arg, int n, char **cols, char **names)
{
	(void)n;
	(void)cols;
	(void)names;
	(*(int *)arg)++;
	return 0;
}

static int
migrate(sqlite3 *db, const char **why)
{
	sqlite3_stmt *st = NULL;
	char pragma[64];
	int version = 0, i, violations = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		*why = "cannot read the ledger's schema version";
		return 0;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > ledger_schema_latest) {
		*why = "ledger was written by a newer scepd";
		return 0;
	}
	for (i = version; i < ledger_schema_latest; i++) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", i + 1);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
		if (sqlite3_exec(db, ledger_migrations[i], NULL, NULL, NULL) !=
		    SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA foreign_key_check", count_row,
		    &violations, NULL) != SQLITE_OK || violations != 0 ||
		    sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
	}
	return 1;
fail:
	*why = "ledger schema migration failed";
	return 0;
}

/*
 * The checkpointer: copies the WAL into the database on the slow
 * connection (PASSIVE: it never blocks a writer), so that no commit,
 * and no reply waiting for one, pays for a checkpoint's writes and syncs.
 */
static void *
checkpointer(void *arg)
{
	ledger *l = arg;

	pthread_mutex_lock(&l->cmu);
	for (;;) {
		while (!l->cwanted && !l->cstop)
			pthread_cond_wait(&l->ccond, &l->cmu);
		if (l->cstop)
			break;
		l->cwanted = 0;
		pthread_mutex_unlock(&l->cmu);
		pthread_mutex_lock(&l->slowmu);
		sqlite3_wal_checkpoint_v2(l->slow, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_unlock(&l->slowmu);
		pthread_mutex_lock(&l->cmu);
	}
	pthread_mutex_unlock(&l->cmu);
	return NULL;
}

/*
 * After each commit on the writer connection (it replaces SQLite's
 * automatic checkpoint): past CHECKPOINT_FRAMES, wake the checkpointer.
 * Without one (no thread could be made), checkpoint here as SQLite would.
 */
static int
wal_committed(void *arg, sqlite3 *db, const char *name, int frames)
{
	ledger *l = arg;
	int started;

	if (frames < CHECKPOINT_FRAMES)
		return SQLITE_OK;
	pthread_mutex_lock(&l->cmu);
	if (!l->cstarted && !l->cstop &&
	    pthread_create(&l->cthread, NULL, checkpointer, l) == 0)
		l->cstarted = 1;
	if ((started = l->cstarted) != 0) {
		l->cwanted = 1;
		pthread_cond_signal(&l->ccond);
	}
	pthread_mutex_unlock(&l->cmu);
	if (!started)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
	return SQLITE_OK;
}

/* One connection to the ledger, configured; NULL, or why not. */
static const char *
open_connection(const char *path, int flags, const char *pragmas,
    sqlite3 **db)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK)
		return "cannot open the ledger database";
	sqlite3_busy_timeout(*db, 10000);
	if (sqlite3_exec(*db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		return "cannot configure the ledger database";
	return NULL;
}

static void
stop_thread(pthread_mutex_t *mu, pthread_cond_t *cond, int *stop,
    int started, pthread_t thread)
{
	pthread_mutex_lock(mu);
	*stop = 1;
	pthread_cond_signal(cond);
	pthread_mutex_unlock(mu);
	if (started)
		pthread_join(thread, NULL);
}

void
ledger_close(ledger *l)
{
	int i;

	if (l == NULL)
		return;
	/* The detached writer writes what is queued, then stops. */
	stop_thread(&l->qmu, &l->dcond, &l->dstop, l->dstarted, l->dthread);
	stop_thread(&l->cmu, &l->ccond, &l->cstop, l->cstarted, l->cthread);
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->rdb);
	sqlite3_close(l->slow);
	sqlite3_close(l->db);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->rmu);
	pthread_mutex_destroy(&l->cmu);
	pthread_mutex_destroy(&l->slowmu);
	pthread_cond_destroy(&l->ccond);
	pthread_mutex_destroy(&l->qmu);
	pthread_cond_destroy(&l->qcond);
	pthread_cond_destroy(&l->dcond);
	free(l);
}

int
ledger_open(const char *path, ledger **out, const char **why)
{
	ledger *l = NULL;
	int i, ret = LEDGER_ERROR;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		*why = "out of memory";
		return LEDGER_ERROR;
	}
	/* Default attributes: the static initializers cannot fail. */
	l->mu = l->qmu = l->rmu = l->cmu = l->slowmu =
	    (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	l->qcond = l->dcond = l->ccond = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	l->qtail = &l->qhead;
	/* synchronous = FULL: a row is durable before its reply is sent. */
	if ((*why = open_connection(path,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA temp_store = MEMORY", &l->db)) != NULL)
		goto out;
	/* Table rebuilds in migrations need foreign keys off (SQLite 7). */
	if (sqlite3_exec(l->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) !=
	    SQLITE_OK || !migrate(l->db, why) ||
	    sqlite3_exec(l->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto out;
	/* Lookups touch a few index pages each: no second 2 MB page cache. */
	if ((*why = open_connection(path, SQLITE_OPEN_READONLY,
	    "PRAGMA cache_size = -256", &l->rdb)) != NULL ||
	    (*why = open_connection(path, SQLITE_OPEN_READWRITE,
	    "PRAGMA synchronous = FULL; PRAGMA cache_size = -512",
	    &l->slow)) != NULL)
		goto out;
	sqlite3_wal_hook(l->db, wal_committed, l);
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(i < ST_READS ? l->rdb : l->db,
		    stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i],
		    NULL) != SQLITE_OK) {
			*why = "cannot prepare ledger statements";
			goto out;
		}
	}
	*out = l;
	l = NULL;
	ret = LEDGER_OK;
out:
	ledger_close(l);
	return ret;
}

int
ledger_check(ledger *l, char *result, size_t cap, int64_t *newest_us)
{
	struct lg_query q;
	int ok;

	*newest_us = 0;
	snprintf(result, cap, "integrity_check did not run");
	ok = lg_query_begin(l, LG_WRITER, "PRAGMA integrity_check", &q) &&
	    sqlite3_step(q.st) == SQLITE_ROW;
	if (ok)
		snprintf(result, cap, "%s",
		    (const char *)sqlite3_column_text(q.st, 0));
	lg_query_end(&q);
	if (!ok)
		return LEDGER_ERROR;
	/* Another lock between the two: a write may land, which is fine. */
	ok = lg_query_begin(l, LG_WRITER, "SELECT coalesce(max(at_us), 0)"
	    " FROM events", &q) && sqlite3_step(q.st) == SQLITE_ROW;
	if (ok)
		*newest_us = sqlite3_column_int64(q.st, 0);
	lg_query_end(&q);
	return ok ? LEDGER_OK : LEDGER_ERROR;
}

int
ledger_schema_version(ledger *l)
{
	struct lg_query q;
	int v = -1;

	if (lg_query_begin(l, LG_WRITER, "PRAGMA user_version", &q) &&
	    sqlite3_step(q.st) == SQLITE_ROW)
		v = sqlite3_column_int(q.st, 0);
	lg_query_end(&q);
	return v;
}
