/*
 * Inside store/ only; ledger.h is the way in.  One ledger in SQLite (WAL)
 * on three connections: the writer (group commit), a reader for lookups
 * that must not wait for a commit, and a slow one for reports and
 * checkpoints.
 *   ledger_open.c      open, migrate, checkpoints, close, integrity
 *   ledger_stmt.c      binding, stepping, and the statement helpers
 *   ledger_commit.c    group commit (and detached writes)
 *   ledger_record.c    a PKIOperation's rows and events
 *   ledger_certs.c     certificates, revocation, CRL numbers
 *   ledger_pending.c   manual approval and one-time challenges
 *   ledger_evidence.c  device evidence and the lookups that match it
 *   ledger_report.c    list, show, stats, metrics, the event feed
 */
#ifndef SCEPD_LEDGER_INT_H
#define SCEPD_LEDGER_INT_H

#include <pthread.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/ledger.h"

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

/* ledger_stmt.c */
void lg_bind_text(sqlite3_stmt *st, int i, const char *s);
void lg_bind_int_or_null(sqlite3_stmt *st, int i, int v, int null_value);
/* Step a write statement once, then reset it. */
int lg_run(sqlite3_stmt *st);
/* Step a RETURNING statement to its end (rc: the first step's), reset. */
int lg_drain(sqlite3_stmt *st, int rc);
/* A malloc'd copy of a blob column; 0 when empty or out of memory. */
int lg_copy_blob(sqlite3_stmt *st, int col, unsigned char **der, size_t *len);
/* A text column strdup'd, or NULL. */
char *lg_column_dup(sqlite3_stmt *st, int col);
/*
 * The id in the only row st returns; 0 when it returns none or more than
 * one (evidence is matched exactly or not at all: no guessing).
 */
int64_t lg_unique_id(sqlite3_stmt *st);
/* One id from a query with up to two text parameters; 0 when none. */
int64_t lg_query_id(ledger *l, const char *sql, const char *a, const char *b);

/*
 * The statement helpers: every read goes lock, prepare (or take the
 * prepared statement), bind, step, finalize (or reset), unlock.
 *
 * A prepared statement: lg_stmt_begin locks the connection it belongs to
 * (the reader for s < ST_READS, else the writer) and returns it;
 * lg_stmt_end resets it, clears its bindings and unlocks.
 */
sqlite3_stmt *lg_stmt_begin(ledger *l, enum stmt s);
void lg_stmt_end(ledger *l, enum stmt s);

/* Which connection an ad-hoc query runs on. */
enum lg_conn { LG_WRITER, LG_SLOW };
struct lg_query {
	sqlite3_stmt	*st;	/* NULL when sql could not be prepared */
	pthread_mutex_t	*mu;
};
/*
 * Lock the connection and prepare sql on it; 1 when q->st is ready.
 * Always followed by lg_query_end, which finalizes and unlocks.
 */
int lg_query_begin(ledger *l, enum lg_conn c, const char *sql,
    struct lg_query *q);
void lg_query_end(struct lg_query *q);

/* ledger_commit.c */
/* Run fn(l, arg) in the next group commit; its result once durable. */
int lg_group_write(ledger *l, int (*fn)(ledger *, void *), void *arg);
/*
 * The same, returning at once: arg (malloc'd, freed after the write) is
 * written with the next group commit or by the detached writer thread.
 */
int lg_group_write_detached(ledger *l, int (*fn)(ledger *, void *), void *arg);

/* ledger_record.c */
int lg_insert_event(ledger *l, int64_t op_id, int64_t at, const char *kind,
    const char *source, const char *detail);
/* Id of the operation that issued serial, 0 when none; under the mutex. */
int64_t lg_issuing_op(ledger *l, const char *serial);
/* A detail object built by SQLite: json_object(k1, v1, ...). */
char *lg_json_detail(ledger *l, const char *sql, const char *text,
    int64_t num);

#endif
