#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger.h"
#include "store/ledger_schema.h"

/*
 * Statements prepared once at open.  The first ST_READS only read: they
 * are prepared on the reader connection and run under its mutex, so that
 * a lookup never waits for the writer's commit and WAL sync.  The rest
 * run on the writer connection under the ledger's mutex.
 */
enum stmt {
	ST_LOOKUP_TXID,
	ST_CERT_DER,
	ST_CERT_STATE,
	ST_REVOKED_LIST,
	ST_PENDING_FIND,
	ST_READS,
	ST_INSERT_CERT = ST_READS,
	ST_INSERT_OP,
	ST_INSERT_EVENT,
	ST_OUTCOME_DETAIL,
	ST_ISSUING_OP,
	ST_REVOKE,
	ST_CRL_NUMBER,
	ST_PENDING_ADD,
	ST_PENDING_DECIDE,
	ST_PENDING_ISSUED,
	ST_CHALLENGE_COUNT,
	ST_CHALLENGE_ADD,
	ST_CHALLENGE_USE,
	ST_CHALLENGE_REUSE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_UNDO,
	ST_COUNT
};

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

/*
 * Group commit: a write waits in a queue; one waiting thread at a time
 * (the leader) takes every write queued so far, runs each in its own
 * savepoint inside one transaction and commits them with one WAL sync.
 * While it syncs, the next writes queue up for the next batch.  Each
 * writer returns only once its batch is committed, so a row is durable
 * before the reply it describes is sent.
 */
struct group_write {
	int		  (*fn)(ledger *, void *);
	void		   *arg;
	int		    ret;
	int		    done;
	int		    detached;	/* nobody waits: free once written */
	struct group_write *next;
};

struct ledger {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT];
	pthread_mutex_t	 mu;		/* the connection and its statements */
	/* WAL: a second connection reads the last commit meanwhile. */
	sqlite3		*rdb;
	pthread_mutex_t	 rmu;		/* rdb and statements < ST_READS */
	/*
	 * A third connection for slow work no reply waits on: checkpoints
	 * (copying the WAL into the database) and reports.
	 */
	sqlite3		*slow;
	pthread_mutex_t	 slowmu;
	/* The checkpointer thread, and when it is wanted. */
	pthread_mutex_t	 cmu;
	pthread_cond_t	 ccond;
	pthread_t	 cthread;
	int		 cstarted, cwanted, cstop;
	pthread_mutex_t	 qmu;		/* the group-commit queue */
	pthread_cond_t	 qcond;
	struct group_write *qhead, **qtail;
	int		 leader;	/* a batch is being written */
	int		 waiting;	/* queued writes someone waits for */
	/* The thread that writes detached writes nobody took along. */
	pthread_cond_t	 dcond;
	pthread_t	 dthread;
	int		 dstarted, dstop;
};

/*
 * How long a detached write (a delivery event) waits for a write someone
 * waits for, to share its commit and WAL sync, before it is written alone.
 */
#define DETACHED_DELAY_NS	(10 * 1000 * 1000)

/* WAL frames after which a checkpoint runs: SQLite's default. */
#define CHECKPOINT_FRAMES	1000

static int64_t
now_us(void)
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
	sqlite3_stmt *st = NULL;
	int ret = LEDGER_ERROR;

	*newest_us = 0;
	snprintf(result, cap, "integrity_check did not run");
	pthread_mutex_lock(&l->mu);
	if (sqlite3_prepare_v2(l->db, "PRAGMA integrity_check", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto out;
	snprintf(result, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(l->db, "SELECT coalesce(max(at_us), 0) FROM events",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*newest_us = sqlite3_column_int64(st, 0);
	ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->mu);
	return ret;
}

int
ledger_schema_version(ledger *l)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	pthread_mutex_lock(&l->mu);
	if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->mu);
	return v;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void
bind_int_or_null(sqlite3_stmt *st, int i, int v, int null_value)
{
	if (v == null_value)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, v);
}

/* Step a write statement once, then reset it. */
static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/*
 * After the first step (rc) of a statement with RETURNING and its row
 * read: step to the end, which is when the write is done, and reset.
 */
static int
drain(sqlite3_stmt *st, int rc)
{
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE;
}

static int
insert_event(ledger *l, int64_t op_id, int64_t at, const char *kind,
    const char *source, const char *detail)
{
	sqlite3_stmt *st = l->st[ST_INSERT_EVENT];

	sqlite3_bind_int64(st, 1, op_id);
	sqlite3_bind_int64(st, 2, at);
	bind_text(st, 3, kind);
	bind_text(st, 4, source);
	bind_text(st, 5, detail);
	return run(st) == SQLITE_DONE;
}

/* Id of the operation that issued serial, 0 when none; under the mutex. */
static int64_t
issuing_op(ledger *l, const char *serial)
{
	sqlite3_stmt *st = l->st[ST_ISSUING_OP];
	int64_t id = 0;

	bind_text(st, 1, serial);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

/* A detail object built by SQLite: json_object(k1, v1, ...). */
static char *
json_detail(ledger *l, const char *sql, const char *text, int64_t num)
{
	sqlite3_stmt *st = NULL;
	char *s = NULL;

	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	bind_text(st, 1, text);
	sqlite3_bind_int64(st, 2, num);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s;
}

/*
 * A renewal signed by a certificate proves the device holds it: record
 * that on the operation that issued it.
 */
static int
renewal_evidence(ledger *l, const char *serial, int64_t renewal_op, int64_t now)
{
	int64_t orig = issuing_op(l, serial);
	char *detail;
	int ok;

	if (orig == 0)
		return 1;
	detail = json_detail(l, "SELECT json_object('serial', ?1,"
	    " 'renewal_operation', ?2)", serial, renewal_op);
	ok = detail != NULL &&
	    insert_event(l, orig, now, "installed", "renewal", detail);
	free(detail);
	return ok;
}

static int
repoll_evidence(ledger *l, const char *serial, int64_t op_id, int type,
    int64_t now)
{
	int64_t orig = issuing_op(l, serial);
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (orig == 0 || orig == op_id)
		return 1;
	if (sqlite3_prepare_v2(l->db, "SELECT json_object('serial', ?1,"
	    " 'operation', ?2, 'message_type', ?3)", -1, &st, NULL) == SQLITE_OK) {
		bind_text(st, 1, serial);
		sqlite3_bind_int64(st, 2, op_id);
		sqlite3_bind_int(st, 3, type);
		ok = sqlite3_step(st) == SQLITE_ROW && insert_event(l, orig, now,
		    "repoll", "server", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return ok;
}

static char *
outcome_detail(ledger *l, const struct ledger_op *op)
{
	sqlite3_stmt *st = l->st[ST_OUTCOME_DETAIL];
	char *s = NULL;

	bind_text(st, 1, op->reason);
	bind_int_or_null(st, 2, op->fail_info, -1);
	sqlite3_bind_int(st, 3, op->http_status);
	bind_text(st, 4, op->cert_serial);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return s;
}

/* A write alone: its own transaction, no savepoint (no statement journal). */
static void
write_one(ledger *l, struct group_write *w)
{
	w->ret = LEDGER_ERROR;
	if (run(l->st[ST_BEGIN]) != SQLITE_DONE)
		return;
	if ((w->ret = w->fn(l, w->arg)) != LEDGER_OK)
		run(l->st[ST_ROLLBACK]);	/* its result stands */
	else if (run(l->st[ST_COMMIT]) != SQLITE_DONE) {
		run(l->st[ST_ROLLBACK]);
		w->ret = LEDGER_ERROR;
	}
}

/* Write one batch: each write in a savepoint, one commit for all. */
static void
write_batch(ledger *l, struct group_write *batch)
{
	struct group_write *w;
	int ok;

	pthread_mutex_lock(&l->mu);
	if (batch->next == NULL) {
		write_one(l, batch);
		pthread_mutex_unlock(&l->mu);
		return;
	}
	ok = run(l->st[ST_BEGIN]) == SQLITE_DONE;
	for (w = batch; w != NULL; w = w->next) {
		w->ret = LEDGER_ERROR;
		if (!ok || run(l->st[ST_SAVEPOINT]) != SQLITE_DONE)
			continue;
		if ((w->ret = w->fn(l, w->arg)) != LEDGER_OK)
			run(l->st[ST_UNDO]);
		if (run(l->st[ST_RELEASE]) != SQLITE_DONE)
			ok = 0;
	}
	if (!ok || run(l->st[ST_COMMIT]) != SQLITE_DONE) {
		run(l->st[ST_ROLLBACK]);
		for (w = batch; w != NULL; w = w->next)
			w->ret = LEDGER_ERROR;
	}
	pthread_mutex_unlock(&l->mu);
}

/*
 * Lead: write batches until none of the queued writes has a waiting
 * owner who would lead next (detached writes have none).  Called and
 * returns with qmu held.
 */
static void
lead(ledger *l)
{
	struct group_write *batch, *w;

	l->leader = 1;
	do {
		batch = l->qhead;
		l->qhead = NULL;
		l->qtail = &l->qhead;
		for (w = batch; w != NULL; w = w->next)
			if (!w->detached)
				l->waiting--;
		pthread_mutex_unlock(&l->qmu);
		write_batch(l, batch);
		pthread_mutex_lock(&l->qmu);
		/* Read next before done: a finished writer's entry may vanish. */
		while ((w = batch) != NULL) {
			batch = w->next;
			if (w->detached) {
				free(w->arg);
				free(w);
			} else {
				w->done = 1;
			}
		}
	} while (l->qhead != NULL && l->waiting == 0);
	l->leader = 0;
	pthread_cond_broadcast(&l->qcond);
}

static void
enqueue(ledger *l, struct group_write *w)
{
	*l->qtail = w;
	l->qtail = &w->next;
	if (!w->detached)
		l->waiting++;
}

/* Run fn(l, arg) in the next group commit; its result once durable. */
static int
group_write(ledger *l, int (*fn)(ledger *, void *), void *arg)
{
	struct group_write me = { fn, arg, LEDGER_ERROR, 0, 0, NULL };

	pthread_mutex_lock(&l->qmu);
	enqueue(l, &me);
	while (!me.done) {
		if (l->leader)
			pthread_cond_wait(&l->qcond, &l->qmu);
		else
			lead(l);
	}
	pthread_mutex_unlock(&l->qmu);
	return me.ret;
}

/*
 * The detached writer: a queued write nobody waits for rides along with
 * the next batch someone waits for (under load, there is one within
 * milliseconds); after DETACHED_DELAY_NS without one, it writes the queue
 * itself.  So delivery events cost no commit of their own and no WAL
 * sync on the HTTP server's threads.
 */
static void *
detached_writer(void *arg)
{
	ledger *l = arg;
	struct timespec until;

	pthread_mutex_lock(&l->qmu);
	for (;;) {
		while (l->qhead == NULL && !l->dstop)
			pthread_cond_wait(&l->dcond, &l->qmu);
		if (l->qhead == NULL)
			break;		/* stopping, nothing left */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += DETACHED_DELAY_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (l->qhead != NULL && !l->dstop &&
		    pthread_cond_timedwait(&l->dcond, &l->qmu, &until) == 0)
			;
		if (l->qhead != NULL && !l->leader)
			lead(l);
		else if (l->leader)
			pthread_cond_wait(&l->qcond, &l->qmu);
	}
	pthread_mutex_unlock(&l->qmu);
	return NULL;
}

/*
 * Queue fn(l, arg) for a coming group commit without waiting for it; arg
 * is malloc'd and freed once written (by the detached writer at the
 * latest).  0 when out of memory or no thread (arg freed).
 */
static int
group_write_detached(ledger *l, int (*fn)(ledger *, void *), void *arg)
{
	struct group_write *w;
	int ok = 0;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(arg);
		return 0;
	}
	w->fn = fn;
	w->arg = arg;
	w->detached = 1;
	pthread_mutex_lock(&l->qmu);
	if (!l->dstarted && !l->dstop &&
	    pthread_create(&l->dthread, NULL, detached_writer, l) == 0)
		l->dstarted = 1;
	if (l->dstarted && !l->dstop) {
		enqueue(l, w);
		pthread_cond_signal(&l->dcond);
		ok = 1;
	}
	pthread_mutex_unlock(&l->qmu);
	if (!ok) {
		free(arg);
		free(w);
	}
	return ok;
}

struct record_args {
	const struct ledger_op	 *op;
	const struct ledger_cert *cert;
	int64_t			  id;
	const char		 *why;
};

/* One operation's rows, inside the group commit's savepoint. */
static int
record_rows(ledger *l, void *arg)
{
	struct record_args *a = arg;
	const struct ledger_op *op = a->op;
	const struct ledger_cert *cert = a->cert;
	sqlite3_stmt *st;
	char *detail = NULL;
	int64_t now = now_us(), id;
	int rc, ret = LEDGER_ERROR;

	if (cert != NULL) {
		st = l->st[ST_INSERT_CERT];
		bind_text(st, 1, cert->serial);
		bind_text(st, 2, cert->sha256);
		sqlite3_bind_blob(st, 3, cert->der, (int)cert->der_len,
		    SQLITE_STATIC);
		bind_text(st, 4, cert->subject);
		sqlite3_bind_int64(st, 5, cert->not_before);
		sqlite3_bind_int64(st, 6, cert->not_after);
		sqlite3_bind_int64(st, 7, now);
		bind_text(st, 8, cert->ca_id);
		bind_text(st, 9, cert->sha1);
		rc = run(st);
		if (rc == SQLITE_CONSTRAINT) {
			a->why = "serial number already in the ledger";
			ret = LEDGER_DUPLICATE_SERIAL;
			goto out;
		}
		if (rc != SQLITE_DONE)
			goto out;
	}
	st = l->st[ST_INSERT_OP];
	sqlite3_bind_int64(st, 1, op->received_us);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, op->client_addr);
	bind_text(st, 4, op->user_agent);
	bind_text(st, 5, op->http_method);
	bind_text(st, 6, op->transaction_id);
	bind_int_or_null(st, 7, op->message_type, 0);
	bind_text(st, 8, op->request_nonce);
	bind_text(st, 9, op->reply_nonce);
	bind_text(st, 10, op->request_sha256);
	bind_text(st, 11, op->request_b64_head);
	bind_text(st, 12, op->csr_subject);
	bind_text(st, 13, op->csr_sans);
	bind_text(st, 14, op->pubkey_sha256);
	bind_text(st, 15, op->digest);
	bind_text(st, 16, op->cipher);
	bind_text(st, 17, op->outcome);
	bind_int_or_null(st, 18, op->pki_status, -1);
	bind_int_or_null(st, 19, op->fail_info, -1);
	sqlite3_bind_int(st, 20, op->http_status);
	bind_text(st, 21, op->reason);
	bind_text(st, 22, op->cert_serial);
	bind_text(st, 23, op->renewal_of);
	bind_text(st, 24, op->profile);
	if (run(st) != SQLITE_DONE)
		goto out;
	id = sqlite3_last_insert_rowid(l->db);
	if ((detail = outcome_detail(l, op)) == NULL)
		goto out;
	if (!insert_event(l, id, op->received_us, "request_received", "server",
	    NULL) || (op->challenge_event != NULL &&
	    !insert_event(l, id, now, op->challenge_event, "server", NULL)) ||
	    !insert_event(l, id, now, op->outcome, "server", detail))
		goto out;
	if (op->renewal_of != NULL && strcmp(op->outcome, "issued") == 0 &&
	    !renewal_evidence(l, op->renewal_of, id, now))
		goto out;
	/*
	 * The device asks again for a certificate it was sent (a re-sent
	 * request, a poll, a GetCert): it probably did not get or keep it.
	 */
	if (op->cert_serial != NULL && (strcmp(op->outcome, "reissued") == 0 ||
	    strcmp(op->outcome, "returned") == 0) && !repoll_evidence(l,
	    op->cert_serial, id, op->message_type, now))
		goto out;
	if (op->pending_csr != NULL) {
		st = l->st[ST_PENDING_ADD];
		bind_text(st, 1, op->transaction_id);
		bind_text(st, 2, op->pubkey_sha256);
		bind_text(st, 3, op->renewal_of);
		sqlite3_bind_blob(st, 4, op->pending_csr, (int)op->pending_csr_len,
		    SQLITE_STATIC);
		bind_text(st, 5, op->csr_subject ? op->csr_subject : "");
		bind_text(st, 6, op->client_addr);
		sqlite3_bind_int64(st, 7, id);
		sqlite3_bind_int64(st, 8, now);
		bind_text(st, 9, op->profile);
		if (run(st) != SQLITE_DONE)
			goto out;
	}
	if (op->completes_pending != 0) {
		st = l->st[ST_PENDING_ISSUED];
		sqlite3_bind_int64(st, 1, op->completes_pending);
		bind_text(st, 2, op->cert_serial);
		if (run(st) != SQLITE_DONE || sqlite3_changes(l->db) != 1)
			goto out;
	}
	a->id = id;
	ret = LEDGER_OK;
out:
	free(detail);
	return ret;
}

int
ledger_record(ledger *l, const struct ledger_op *op,
    const struct ledger_cert *cert, int64_t *op_id, const char **why)
{
	struct record_args a = { op, cert, 0, "ledger write failed" };
	int ret;

	ret = group_write(l, record_rows, &a);
	if (why != NULL)
		*why = a.why;
	if (ret == LEDGER_OK && op_id != NULL)
		*op_id = a.id;
	return ret;
}

struct event_args {
	int64_t		 op_id;
	int64_t		 at;
	const char	*kind, *source, *detail;
};

static int
event_row(ledger *l, void *arg)
{
	struct event_args *a = arg;

	return insert_event(l, a->op_id, a->at, a->kind, a->source, a->detail) ?
	    LEDGER_OK : LEDGER_ERROR;
}

/* An event_args with its strings after it, for a detached write. */
int
ledger_add_event_later(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *detail_json)
{
	size_t nk = strlen(kind) + 1, ns = strlen(source) + 1,
	    nd = detail_json != NULL ? strlen(detail_json) + 1 : 0;
	struct event_args *a;
	char *p;

	if ((a = malloc(sizeof(*a) + nk + ns + nd)) == NULL)
		return LEDGER_ERROR;
	p = (char *)(a + 1);
	a->op_id = op_id;
	a->at = now_us();
	a->kind = memcpy(p, kind, nk);
	a->source = memcpy(p + nk, source, ns);
	a->detail = nd ? memcpy(p + nk + ns, detail_json, nd) : NULL;
	return group_write_detached(l, event_row, a) ? LEDGER_OK : LEDGER_ERROR;
}

int
ledger_add_event(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *detail_json)
{
	struct event_args a = { op_id, now_us(), kind, source, detail_json };

	return group_write(l, event_row, &a);
}
static int
copy_blob(sqlite3_stmt *st, int col, unsigned char **der, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);
	const void *b = sqlite3_column_blob(st, col);

	if (n <= 0 || b == NULL || (*der = malloc((size_t)n)) == NULL)
		return 0;
	memcpy(*der, b, (size_t)n);
	*len = (size_t)n;
	return 1;
}

int
ledger_lookup_txid(ledger *l, const char *txid, const char *pubkey_sha256,
    const char *renewal_of, int64_t now, int *state, unsigned char **der,
    size_t *der_len, char **serial)
{
	sqlite3_stmt *st = l->st[ST_LOOKUP_TXID];
	int rc, ret = LEDGER_ERROR;

	*state = LEDGER_TXID_NEW;
	*der = NULL;
	*serial = NULL;
	pthread_mutex_lock(&l->rmu);
	bind_text(st, 1, txid);
	bind_text(st, 2, pubkey_sha256);
	sqlite3_bind_int64(st, 3, now);
	bind_text(st, 4, renewal_of);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = LEDGER_OK;
	} else if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(st, 0) == 0) {
			*state = LEDGER_TXID_OTHER_KEY;
			ret = LEDGER_OK;
		} else if (copy_blob(st, 1, der, der_len) &&
		    (*serial = strdup((const char *)sqlite3_column_text(st, 2))) != NULL) {
			*state = LEDGER_TXID_SAME_KEY;
			ret = LEDGER_OK;
		} else {
			free(*der);
			*der = NULL;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&l->rmu);
	return ret;
}

int
ledger_cert_der(ledger *l, const char *serial, unsigned char **der,
    size_t *len)
{
	sqlite3_stmt *st = l->st[ST_CERT_DER];
	int ret = LEDGER_ERROR;

	*der = NULL;
	pthread_mutex_lock(&l->rmu);
	bind_text(st, 1, serial);
	if (sqlite3_step(st) == SQLITE_ROW && copy_blob(st, 0, der, len))
		ret = LEDGER_OK;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&l->rmu);
	return ret;
}

int
ledger_cert_state(ledger *l, const char *serial, struct ledger_cert_state *cs)
{
	sqlite3_stmt *st = l->st[ST_CERT_STATE];
	int rc;

	memset(cs, 0, sizeof(*cs));
	pthread_mutex_lock(&l->rmu);
	bind_text(st, 1, serial);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		cs->known = 1;
		cs->not_after = sqlite3_column_int64(st, 0);
		cs->revoked_us = sqlite3_column_int64(st, 1);
		cs->reason = sqlite3_column_int(st, 2);
		if (sqlite3_column_text(st, 3) != NULL)
			snprintf(cs->ca_id, sizeof(cs->ca_id), "%s",
			    (const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&l->rmu);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? LEDGER_OK : LEDGER_ERROR;
}

struct revoke_args {
	const char	*serial;
	int		 reason;
	int		 result;	/* enum ledger_revoke_result */
};

/* Mark the certificate revoked; the transaction that issued it says so. */
static int
revoke_rows(ledger *l, void *arg)
{
	struct revoke_args *a = arg;
	sqlite3_stmt *st = l->st[ST_REVOKE];
	int64_t now = now_us(), op;
	char *detail = NULL;
	int ret = LEDGER_ERROR;

	bind_text(st, 1, a->serial);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, a->reason);
	if (run(st) != SQLITE_DONE)
		return LEDGER_ERROR;
	if (sqlite3_changes(l->db) == 0) {
		a->result = LEDGER_REVOKE_ALREADY;
		return LEDGER_OK;
	}
	if ((op = issuing_op(l, a->serial)) != 0) {
		detail = json_detail(l, "SELECT json_object('serial', upper(?1),"
		    " 'reason', ?2)", a->serial, a->reason);
		if (detail == NULL ||
		    !insert_event(l, op, now, "revoked", "api", detail))
			goto out;
	}
	a->result = LEDGER_REVOKED;
	ret = LEDGER_OK;
out:
	free(detail);
	return ret;
}

int
ledger_revoke(ledger *l, const char *serial, int reason)
{
	struct revoke_args a = { serial, reason, LEDGER_REVOKE_ERROR };
	struct ledger_cert_state cs;

	if (ledger_cert_state(l, serial, &cs) != LEDGER_OK)
		return LEDGER_REVOKE_ERROR;
	if (!cs.known)
		return LEDGER_REVOKE_UNKNOWN;
	if (group_write(l, revoke_rows, &a) != LEDGER_OK)
		return LEDGER_REVOKE_ERROR;
	return a.result;
}

int
ledger_claim_unassigned(ledger *l, const char *ca_id)
{
	sqlite3_stmt *st = NULL;
	int ok;

	pthread_mutex_lock(&l->mu);
	ok = sqlite3_prepare_v2(l->db, "UPDATE certificates SET ca_id = ?1"
	    " WHERE ca_id IS NULL", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		bind_text(st, 1, ca_id);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->mu);
	return ok ? LEDGER_OK : LEDGER_ERROR;
}

int
ledger_revoked(ledger *l, int64_t now, const char *ca_id,
    ledger_revoked_fn fn, void *arg)
{
	sqlite3_stmt *st = l->st[ST_REVOKED_LIST];
	int rc, ret = LEDGER_OK;

	pthread_mutex_lock(&l->rmu);
	sqlite3_bind_int64(st, 1, now);
	bind_text(st, 2, ca_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!fn(arg, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2))) {
			ret = LEDGER_ERROR;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = LEDGER_ERROR;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&l->rmu);
	return ret;
}

int
ledger_next_crl_number(ledger *l, const char *ca_id, int64_t *number)
{
	sqlite3_stmt *st = l->st[ST_CRL_NUMBER];
	int rc, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->mu);
	bind_text(st, 1, ca_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*number = sqlite3_column_int64(st, 0);
		ret = LEDGER_OK;
	}
	drain(st, rc);
	pthread_mutex_unlock(&l->mu);
	return ret;
}

static char *
column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? strdup((const char *)t) : NULL;
}

void
ledger_pending_clear(struct ledger_pending *p)
{
	free(p->transaction_id);
	free(p->pubkey_sha256);
	free(p->renewal_of);
	free(p->csr);
	free(p->subject);
	free(p->reason);
	free(p->cert_serial);
	free(p->profile);
	memset(p, 0, sizeof(*p));
}

int
ledger_pending_find(ledger *l, const char *txid, struct ledger_pending *p,
    int *found)
{
	sqlite3_stmt *st = l->st[ST_PENDING_FIND];
	int rc, ret = LEDGER_ERROR;

	memset(p, 0, sizeof(*p));
	*found = 0;
	pthread_mutex_lock(&l->rmu);
	bind_text(st, 1, txid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = LEDGER_OK;
	} else if (rc == SQLITE_ROW) {
		p->id = sqlite3_column_int64(st, 0);
		p->transaction_id = column_dup(st, 1);
		p->pubkey_sha256 = column_dup(st, 2);
		p->renewal_of = column_dup(st, 3);
		p->subject = column_dup(st, 5);
		snprintf(p->state, sizeof(p->state), "%s",
		    (const char *)sqlite3_column_text(st, 6));
		p->reason = column_dup(st, 7);
		p->cert_serial = column_dup(st, 8);
		p->profile = column_dup(st, 9);
		if (p->transaction_id != NULL && p->pubkey_sha256 != NULL &&
		    p->subject != NULL && copy_blob(st, 4, &p->csr, &p->csr_len)) {
			*found = 1;
			ret = LEDGER_OK;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&l->rmu);
	if (ret != LEDGER_OK)
		ledger_pending_clear(p);
	return ret;
}

struct decide_args {
	const char	*txid, *reason;
	int		 approve;
	int		 result;	/* enum ledger_decide_result */
};

/* Decide the newest pending request of a transaction, with an event. */
static int
decide_rows(ledger *l, void *arg)
{
	struct decide_args *a = arg;
	sqlite3_stmt *st = l->st[ST_PENDING_DECIDE];
	int64_t now = now_us(), op = 0;
	char *detail = NULL;
	int rc, ret = LEDGER_ERROR;

	bind_text(st, 1, a->txid);
	bind_text(st, 2, a->approve ? "approved" : "denied");
	sqlite3_bind_int64(st, 3, now);
	bind_text(st, 4, a->reason);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		op = sqlite3_column_int64(st, 0);
	if (!drain(st, rc))
		return LEDGER_ERROR;
	if (op == 0) {
		a->result = LEDGER_DECIDE_UNKNOWN;
		return LEDGER_OK;
	}
	detail = json_detail(l, "SELECT json_object('reason', ?1)", a->reason,
	    0);
	if (detail == NULL || !insert_event(l, op, now,
	    a->approve ? "approved" : "denied", "api", detail))
		goto out;
	a->result = LEDGER_DECIDED;
	ret = LEDGER_OK;
out:
	free(detail);
	return ret;
}

int
ledger_pending_decide(ledger *l, const char *txid, int approve,
    const char *reason)
{
	struct decide_args a = { txid, reason, approve, LEDGER_DECIDE_ERROR };

	if (group_write(l, decide_rows, &a) != LEDGER_OK)
		return LEDGER_DECIDE_ERROR;
	return a.result;
}

struct challenge_args {
	const char	*sha256, *txid, *pubkey_sha256, *profile_in;
	int64_t		 expires_us;
	int		 max_outstanding;
	char		*profile;	/* out, of the challenge used */
	int		 result;	/* enum ledger_challenge_result */
};

/* Count the live challenges and add one unless the cache is full. */
static int
challenge_add_rows(ledger *l, void *arg)
{
	struct challenge_args *a = arg;
	sqlite3_stmt *st = l->st[ST_CHALLENGE_COUNT];
	int64_t now = now_us();
	int outstanding;

	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return LEDGER_ERROR;
	}
	outstanding = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	/* Like NDES's PasswordMax: a cache that can fill up. */
	if (outstanding >= a->max_outstanding) {
		a->result = LEDGER_CHALLENGE_FULL;
		return LEDGER_OK;
	}
	st = l->st[ST_CHALLENGE_ADD];
	bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, a->expires_us);
	bind_text(st, 4, a->profile_in);
	if (run(st) != SQLITE_DONE)
		return LEDGER_ERROR;
	a->result = LEDGER_CHALLENGE_OK;
	return LEDGER_OK;
}

int
ledger_challenge_add(ledger *l, const char *sha256, int64_t expires_us,
    const char *profile, int max_outstanding)
{
	struct challenge_args a = { sha256, NULL, NULL, profile, expires_us,
	    max_outstanding, NULL, LEDGER_CHALLENGE_ERROR };

	if (group_write(l, challenge_add_rows, &a) != LEDGER_OK)
		return LEDGER_CHALLENGE_ERROR;
	return a.result;
}

/* The challenge's profile from a one-row statement, else UNKNOWN. */
static int
challenge_row(sqlite3_stmt *st, struct challenge_args *a)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		a->profile = column_dup(st, 0);
		a->result = LEDGER_CHALLENGE_OK;
	}
	return drain(st, rc);
}

/* Mark the challenge used by this request, unless it already is. */
static int
challenge_use_rows(ledger *l, void *arg)
{
	struct challenge_args *a = arg;
	sqlite3_stmt *st = l->st[ST_CHALLENGE_USE];

	a->result = LEDGER_CHALLENGE_UNKNOWN;
	bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, now_us());
	bind_text(st, 3, a->txid);
	bind_text(st, 4, a->pubkey_sha256);
	if (!challenge_row(st, a))
		return LEDGER_ERROR;
	if (a->result == LEDGER_CHALLENGE_OK)
		return LEDGER_OK;
	/* Already used, but by this very request sent again. */
	st = l->st[ST_CHALLENGE_REUSE];
	bind_text(st, 1, a->sha256);
	bind_text(st, 2, a->txid);
	bind_text(st, 3, a->pubkey_sha256);
	return challenge_row(st, a) ? LEDGER_OK : LEDGER_ERROR;
}

/* In the group commit: a challenge costs no WAL sync of its own. */
int
ledger_challenge_use(ledger *l, const char *sha256, const char *txid,
    const char *pubkey_sha256, char **profile)
{
	struct challenge_args a = { sha256, txid, pubkey_sha256, NULL, 0, 0,
	    NULL, LEDGER_CHALLENGE_ERROR };

	*profile = NULL;
	if (group_write(l, challenge_use_rows, &a) != LEDGER_OK) {
		free(a.profile);
		return LEDGER_CHALLENGE_ERROR;
	}
	*profile = a.profile;
	return a.result;
}

/* One id from a query with up to two text parameters; 0 when none. */
static int64_t
query_id(ledger *l, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) == SQLITE_OK) {
		if (a != NULL)
			bind_text(st, 1, a);
		if (b != NULL)
			bind_text(st, 2, b);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return id;
}

int64_t
ledger_match_reply(ledger *l, const char *txid, const char *reply_nonce)
{
	return query_id(l, "SELECT id FROM operations WHERE transaction_id = ?1"
	    " AND reply_nonce = lower(?2) ORDER BY id DESC LIMIT 1", txid,
	    reply_nonce);
}

int64_t
ledger_match_request_prefix(ledger *l, const char *b64_prefix)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	if (strlen(b64_prefix) < LEDGER_MIN_PREFIX)
		return 0;
	pthread_mutex_lock(&l->mu);
	/* substr, not LIKE: base64 has no wildcards, but be exact anyway. */
	if (sqlite3_prepare_v2(l->db, "SELECT id FROM operations WHERE"
	    " substr(request_b64_head, 1, length(?1)) = ?1 ORDER BY id DESC"
	    " LIMIT 2", -1, &st, NULL) == SQLITE_OK) {
		bind_text(st, 1, b64_prefix);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		/* Two requests with that start: no guessing. */
		if (sqlite3_step(st) == SQLITE_ROW)
			id = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->mu);
	return id;
}

struct evidence_args {
	int64_t		 op_id;
	const char	*kind, *source, *evidence, *file, *text;
	long		 line;
	int		 added;
};

/* The evidence event unless the same line is already there. */
static int
evidence_row(ledger *l, void *arg)
{
	struct evidence_args *a = arg;
	sqlite3_stmt *st = NULL;
	char *detail = NULL;
	int ret = LEDGER_ERROR;

	if (sqlite3_prepare_v2(l->db, "SELECT EXISTS (SELECT 1 FROM events WHERE"
	    " operation_id = ?1 AND kind = ?2 AND source = ?3 AND"
	    " json_extract(detail, '$.text') = ?4), json_object('evidence', ?5,"
	    " 'file', ?6, 'line', ?7, 'text', ?4)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->op_id);
	bind_text(st, 2, a->kind);
	bind_text(st, 3, a->source);
	bind_text(st, 4, a->text);
	bind_text(st, 5, a->evidence);
	bind_text(st, 6, a->file);
	sqlite3_bind_int64(st, 7, a->line);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) == 0) {
		if ((detail = strdup((const char *)sqlite3_column_text(st, 1))) ==
		    NULL || !insert_event(l, a->op_id, now_us(), a->kind,
		    a->source, detail))
			goto out;
		a->added = 1;
	}
	ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	free(detail);
	return ret;
}

/*
 * A group write, like every write: its transaction takes the write lock
 * before the check (a read that turns into a write would fail at once
 * with SQLITE_BUSY if scepd committed in between).
 */
int
ledger_add_evidence(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *evidence, const char *file, long line,
    const char *text, int *added)
{
	struct evidence_args a = { op_id, kind, source, evidence, file, text,
	    line, 0 };
	int ret = group_write(l, evidence_row, &a);

	*added = ret == LEDGER_OK && a.added;
	return ret;
}

/* Microseconds as ISO 8601 UTC with milliseconds, inside SQL. */
#define ISO(col) "strftime('%Y-%m-%dT%H:%M:%fZ', " col " / 1e6, 'unixepoch')"

/*
 * A transaction's status: the stored one (kept by triggers, see the
 * schema), or "expired" for a certificate past its notAfter that got no
 * further than delivery.
 */
#define STATUS \
    "(CASE WHEN o.status IN ('issued', 'delivered', 'delivery_failed') AND" \
    " o.outcome IN ('issued', 'reissued') AND c.not_after <" \
    " CAST(strftime('%s', 'now') AS INTEGER) THEN 'expired'" \
    " ELSE o.status END)"

#define JSON_ROW \
    "json_object(" \
    " 'id', o.id," \
    " 'status', " STATUS "," \
    " 'received_at', " ISO("o.received_us") "," \
    " 'completed_at', " ISO("o.completed_us") "," \
    " 'issued_at', " ISO("c.issued_us") "," \
    " 'client_addr', o.client_addr," \
    " 'user_agent', o.user_agent," \
    " 'http_method', o.http_method," \
    " 'transaction_id', o.transaction_id," \
    " 'message_type', o.message_type," \
    " 'request_nonce', o.request_nonce," \
    " 'reply_nonce', o.reply_nonce," \
    " 'request_sha256', o.request_sha256," \
    " 'request_b64_head', o.request_b64_head," \
    " 'subject', o.csr_subject," \
    " 'sans', o.csr_sans," \
    " 'pubkey_sha256', o.pubkey_sha256," \
    " 'digest', o.digest," \
    " 'cipher', o.cipher," \
    " 'outcome', o.outcome," \
    " 'pki_status', o.pki_status," \
    " 'fail_info', o.fail_info," \
    " 'http_status', o.http_status," \
    " 'reason', o.reason," \
    " 'serial', o.cert_serial," \
    " 'renewal_of', o.renewal_of," \
    " 'profile', o.profile," \
    " 'revoked_at', " ISO("c.revoked_us") "," \
    " 'revocation_reason', c.revocation_reason," \
    " 'cert_sha256', c.sha256," \
    " 'not_before', strftime('%Y-%m-%dT%H:%M:%SZ', c.not_before, 'unixepoch')," \
    " 'not_after', strftime('%Y-%m-%dT%H:%M:%SZ', c.not_after, 'unixepoch')," \
    " 'cert_der', hex(c.der)," \
    " 'events', (SELECT json_group_array(json_object(" \
    "     'at', " ISO("e.at_us") ", 'kind', e.kind, 'source', e.source," \
    "     'detail', json(e.detail)))" \
    "   FROM (SELECT * FROM events WHERE operation_id = o.id ORDER BY id) e))"

/* One CSV field, quoted the RFC 4180 way. */
#define CSV(x) "'\"' || replace(coalesce(" x ", ''), '\"', '\"\"') || '\"'"

/*
 * Filters: ?1 status, ?2 since (us), ?3 subject substring, ?4 stuck
 * cut-off.  Every status but "expired" is stored and indexed with
 * completed_us, so a status filter or `stuck` reads only its rows;
 * "expired" is looked for among the three statuses it can hide behind.
 */
#define FROM_OPS \
    " FROM operations o LEFT JOIN certificates c ON c.serial = o.cert_serial"
#define COMMON_FILTERS \
    " AND o.received_us >= ?2" \
    " AND (?3 IS NULL OR o.csr_subject LIKE '%' || ?3 || '%')" \
    " ORDER BY o.id"
static const char where_all[] = " WHERE 1";
static const char where_status[] = " WHERE o.status = ?1";
static const char where_expired[] = " WHERE o.status IN ('issued',"
    " 'delivered', 'delivery_failed') AND " STATUS " = 'expired'";
static const char where_stuck[] = " WHERE o.status IN ('issued', 'delivered')"
    " AND o.completed_us <= ?4 AND o.outcome = 'issued' AND " STATUS
    " IN ('issued', 'delivered')";

/* The row each output format prints, as one text column. */
static const char *const list_cols[] = {
	[LEDGER_JSON] = JSON_ROW,
	[LEDGER_CSV] = CSV("o.id") " || ',' || " CSV(ISO("o.received_us"))
	    " || ',' || " CSV("o.transaction_id") " || ',' || " CSV(STATUS)
	    " || ',' || " CSV("o.csr_subject") " || ',' || " CSV("o.cert_serial")
	    " || ',' || " CSV("o.client_addr") " || ',' || " CSV("o.reason"),
	[LEDGER_TEXT] = "printf('%-6d %s  %-15s %-34s %s', o.id,"
	    " " ISO("o.received_us") ", " STATUS ", coalesce(o.cert_serial, '-'),"
	    " coalesce(o.csr_subject, '-'))",
};

static const char dump_sql[] = "SELECT " JSON_ROW
    " FROM operations o LEFT JOIN certificates c ON c.serial = o.cert_serial"
    " ORDER BY o.id";

static const char pending_sql[] =
    "SELECT json_object("
    " 'transaction_id', transaction_id,"
    " 'subject', subject,"
    " 'client_addr', client_addr,"
    " 'renewal_of', renewal_of,"
    " 'pubkey_sha256', pubkey_sha256,"
    " 'requested_at', " ISO("created_us") ")"
    " FROM pending WHERE state = 'pending' ORDER BY id";

/* Print each row of a one-column JSON query as a JSON array. */
static int
json_rows(ledger *l, const char *sql, FILE *out)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	fputs("[", out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "%s\n%s", n++ ? "," : "",
		    (const char *)sqlite3_column_text(st, 0));
	fputs(n ? "\n]\n" : "]\n", out);
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return ret;
}

int
ledger_dump_json(ledger *l, FILE *out)
{
	return json_rows(l, dump_sql, out);
}

int
ledger_list(ledger *l, const struct ledger_filter *f, int format, FILE *out)
{
	sqlite3_stmt *st = NULL;
	const char *where;
	char *sql;
	int rc, n = 0, ret = LEDGER_ERROR;

	if (format < LEDGER_JSON || format > LEDGER_TEXT)
		return LEDGER_ERROR;
	where = f->stuck_before_us != 0 ? where_stuck : f->status == NULL ?
	    where_all : strcmp(f->status, "expired") == 0 ? where_expired :
	    where_status;
	if ((sql = sqlite3_mprintf("SELECT %s%s%s%s", list_cols[format],
	    FROM_OPS, where, COMMON_FILTERS)) == NULL)
		return LEDGER_ERROR;
	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	bind_text(st, 1, f->status);
	sqlite3_bind_int64(st, 2, f->since_us);
	bind_text(st, 3, f->subject);
	sqlite3_bind_int64(st, 4, f->stuck_before_us);
	if (format == LEDGER_JSON)
		fputs("[", out);
	else if (format == LEDGER_CSV)
		fputs("id,received_at,transaction_id,status,subject,serial,"
		    "client_addr,reason\n", out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);

		if (format == LEDGER_JSON)
			fprintf(out, "%s\n%s", n ? "," : "", row);
		else
			fprintf(out, "%s\n", row);
		n++;
	}
	if (format == LEDGER_JSON)
		fputs(n ? "\n]\n" : "]\n", out);
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	sqlite3_free(sql);
	return ret;
}

int
ledger_stats(ledger *l, int by_day, FILE *out)
{
	static const char sql[] =
	    "SELECT strftime(?1, o.received_us / 1e6, 'unixepoch') AS t, "
	    STATUS " AS s, count(*) FROM operations o LEFT JOIN certificates c"
	    " ON c.serial = o.cert_serial GROUP BY t, s ORDER BY t, s";
	sqlite3_stmt *st = NULL;
	int rc, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	bind_text(st, 1, by_day ? "%Y-%m-%d" : "%Y-%m-%dT%H:00Z");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "%-18s %-16s %d\n",
		    (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2));
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return ret;
}

int
ledger_pending_json(ledger *l, FILE *out)
{
	return json_rows(l, pending_sql, out);
}

/*
 * The transactions `show ID` means: by transactionID or serial (both
 * indexed); only when neither matches, by subject CN (a scan).
 */
static const char *const show_where[] = {
	" WHERE (o.transaction_id = ?1 OR o.cert_serial = upper(?1))",
	" WHERE (', ' || o.csr_subject || ',') LIKE '%, CN=' || ?1 || ',%'",
};

/* dump_sql's rows, for one transactionID, serial or subject CN. */
int
ledger_show_json(ledger *l, const char *id, FILE *out, int *found)
{
	const char *order = strstr(dump_sql, " ORDER BY o.id");
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	int rc = SQLITE_DONE, n = 0, pass, ret = LEDGER_ERROR;

	*found = 0;
	if (order == NULL)
		return LEDGER_ERROR;
	pthread_mutex_lock(&l->slowmu);
	fputs("[", out);
	for (pass = 0; pass < 2 && n == 0 && rc == SQLITE_DONE; pass++) {
		sqlite3_free(sql);
		sqlite3_finalize(st);
		st = NULL;
		if ((sql = sqlite3_mprintf("%.*s%s ORDER BY o.id",
		    (int)(order - dump_sql), dump_sql, show_where[pass])) == NULL ||
		    sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		bind_text(st, 1, id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			fprintf(out, "%s\n%s", n++ ? "," : "",
			    (const char *)sqlite3_column_text(st, 0));
	}
	fputs(n ? "\n]\n" : "]\n", out);
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
	*found = n > 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	sqlite3_free(sql);
	return ret;
}

static const char *
text_or_dash(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? (const char *)t : "-";
}

int
ledger_show_text(ledger *l, const char *id, FILE *out, int *found)
{
	/* One row per event, with its transaction's columns repeated. */
	static const char cols[] =
	    "SELECT o.id, o.transaction_id, " STATUS ", o.csr_subject,"
	    " o.cert_serial, o.client_addr, coalesce(o.reason, ''),"
	    " " ISO("e.at_us") ", e.kind, e.source, coalesce(e.detail, '')"
	    " FROM operations o LEFT JOIN certificates c ON c.serial ="
	    " o.cert_serial JOIN events e ON e.operation_id = o.id";
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	int64_t last = 0;
	int rc = SQLITE_DONE, pass, ret = LEDGER_ERROR;

	*found = 0;
	pthread_mutex_lock(&l->slowmu);
	for (pass = 0; pass < 2 && !*found && rc == SQLITE_DONE; pass++) {
		sqlite3_free(sql);
		sqlite3_finalize(st);
		st = NULL;
		if ((sql = sqlite3_mprintf("%s%s ORDER BY o.id, e.id", cols,
		    show_where[pass])) == NULL ||
		    sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		bind_text(st, 1, id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (sqlite3_column_int64(st, 0) != last) {
				last = sqlite3_column_int64(st, 0);
				fprintf(out, "%stransaction %s  status %s\n"
				    "  subject %s  serial %s  client %s\n",
				    *found ? "\n" : "", text_or_dash(st, 1),
				    text_or_dash(st, 2), text_or_dash(st, 3),
				    text_or_dash(st, 4), text_or_dash(st, 5));
				if (*(const char *)sqlite3_column_text(st, 6) !=
				    '\0')
					fprintf(out, "  reason %s\n", (const char *)
					    sqlite3_column_text(st, 6));
				*found = 1;
			}
			fprintf(out, "  %s  %-20s %-13s %s\n",
			    (const char *)sqlite3_column_text(st, 7),
			    (const char *)sqlite3_column_text(st, 8),
			    (const char *)sqlite3_column_text(st, 9),
			    (const char *)sqlite3_column_text(st, 10));
		}
	}
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	sqlite3_free(sql);
	return ret;
}

int64_t
ledger_find_issued(ledger *l, const char *id)
{
	return query_id(l, "SELECT id FROM operations WHERE outcome = 'issued'"
	    " AND (transaction_id = ?1 OR cert_serial = upper(?1))"
	    " ORDER BY id DESC LIMIT 1", id, NULL);
}

int
ledger_status_metrics(ledger *l, FILE *out)
{
	static const char sql[] = "SELECT " STATUS " AS s, count(*) FROM"
	    " operations o LEFT JOIN certificates c ON c.serial = o.cert_serial"
	    " GROUP BY s ORDER BY s";
	sqlite3_stmt *st = NULL;
	int rc, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	fputs("# HELP scepd_transactions PKIOperations in the ledger by status.\n"
	    "# TYPE scepd_transactions gauge\n", out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "scepd_transactions{status=\"%s\"} %d\n",
		    (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int(st, 1));
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return ret;
}

int
ledger_events_since(ledger *l, int64_t after, int limit, ledger_event_fn fn,
    void *arg)
{
	static const char sql[] = "SELECT e.id, e.kind, json_object("
	    " 'event_id', e.id, 'at', " ISO("e.at_us") ", 'kind', e.kind,"
	    " 'source', e.source, 'detail', json(e.detail),"
	    " 'transaction_id', o.transaction_id, 'status', " STATUS ","
	    " 'serial', o.cert_serial, 'subject', o.csr_subject,"
	    " 'client_addr', o.client_addr)"
	    " FROM events e JOIN operations o ON o.id = e.operation_id"
	    " LEFT JOIN certificates c ON c.serial = o.cert_serial"
	    " WHERE e.id > ?1 ORDER BY e.id LIMIT ?2";
	sqlite3_stmt *st = NULL;
	int rc, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!fn(arg, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2)))
			break;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return ret;
}

int64_t
ledger_last_event_id(ledger *l)
{
	return query_id(l, "SELECT coalesce(max(id), 0) FROM events", NULL, NULL);
}

int
ledger_backfill_sha1(ledger *l, ledger_sha1_fn fn)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	char hex[41];
	int rc, ret = LEDGER_ERROR;

	pthread_mutex_lock(&l->mu);
	if (sqlite3_prepare_v2(l->db, "SELECT serial, der FROM certificates"
	    " WHERE sha1 IS NULL", -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "UPDATE certificates SET sha1 = ?2"
	    " WHERE serial = ?1", -1, &upd, NULL) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (!fn(sqlite3_column_blob(sel, 1),
		    (size_t)sqlite3_column_bytes(sel, 1), hex))
			goto out;
		sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(upd, 2, hex, -1, SQLITE_TRANSIENT);
		if (run(upd) != SQLITE_DONE)
			goto out;
	}
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	pthread_mutex_unlock(&l->mu);
	return ret;
}

int64_t
ledger_find_by_cert(ledger *l, const char *hex)
{
	return query_id(l, "SELECT o.id FROM certificates c JOIN operations o ON"
	    " o.cert_serial = c.serial AND o.outcome = 'issued' WHERE"
	    " c.sha1 = lower(?1) OR c.sha256 = lower(?1) OR c.serial = upper(?1)"
	    " ORDER BY o.id LIMIT 1", hex, NULL);
}

int64_t
ledger_find_by_cn_time(ledger *l, const char *cn, int64_t at_us,
    int64_t window_us)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	pthread_mutex_lock(&l->slowmu);
	if (sqlite3_prepare_v2(l->slow, "SELECT o.id FROM operations o WHERE"
	    " o.outcome = 'issued' AND (', ' || o.csr_subject || ',') LIKE"
	    " '%, CN=' || ?1 || ',%' AND o.completed_us BETWEEN ?2 - ?3 AND ?2"
	    " LIMIT 2", -1, &st, NULL) == SQLITE_OK) {
		bind_text(st, 1, cn);
		sqlite3_bind_int64(st, 2, at_us);
		sqlite3_bind_int64(st, 3, window_us);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		/* Two candidates: no guessing. */
		if (sqlite3_step(st) == SQLITE_ROW)
			id = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->slowmu);
	return id;
}
