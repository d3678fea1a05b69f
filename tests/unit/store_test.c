/* store/: schema, migrations, recording, idempotency lookups, JSON. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <pthread.h>

#include <check.h>
#include <sqlite3.h>

#include "store/ledger.h"
#include "store/ledger_schema.h"
#include "server/common/common.h"
#include "tests/lib/testutil.h"

static char *dir, path[512];
static ledger *l;

static void
setup(void)
{
	const char *why = NULL;

	dir = tu_tmpdir();
	snprintf(path, sizeof(path), "%s/ledger.db", dir);
	ck_assert_int_eq(ledger_open(path, &l, &why), LEDGER_OK);
}

static void
teardown(void)
{
	ledger_close(l);
	l = NULL;
	tu_rm_rf(dir);
	free(dir);
}

static const unsigned char der_a[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

static struct ledger_op
op(const char *txid, const char *key, const char *outcome, const char *serial)
{
	struct ledger_op o;

	memset(&o, 0, sizeof(o));
	o.received_us = (int64_t)time(NULL) * 1000000;
	o.client_addr = "127.0.0.1";
	o.user_agent = "test";
	o.http_method = "POST";
	o.transaction_id = txid;
	o.message_type = 19;
	o.request_nonce = "00112233445566778899aabbccddeeff";
	o.reply_nonce = "ffeeddccbbaa99887766554433221100";
	o.pubkey_sha256 = key;
	o.csr_subject = "CN=x";
	o.outcome = outcome;
	o.pki_status = serial ? 0 : 2;
	o.fail_info = serial ? -1 : 2;
	o.http_status = 200;
	o.reason = serial ? NULL : "challenge password wrong";
	o.cert_serial = serial;
	return o;
}

static struct ledger_cert
cert(const char *serial, int64_t not_after)
{
	struct ledger_cert c;

	memset(&c, 0, sizeof(c));
	c.serial = serial;
	c.sha256 = "ab";
	c.der = der_a;
	c.der_len = sizeof(der_a);
	c.subject = "CN=x";
	c.not_before = time(NULL) - 300;
	c.not_after = not_after;
	return c;
}

START_TEST(test_schema_version)
{
	const char *why = NULL;
	sqlite3 *db;
	char *err = NULL;

	ck_assert_int_eq(ledger_schema_version(l), ledger_schema_latest);
	ledger_close(l);
	/* Reopening does not migrate twice. */
	ck_assert_int_eq(ledger_open(path, &l, &why), LEDGER_OK);
	ck_assert_int_eq(ledger_schema_version(l), ledger_schema_latest);
	ledger_close(l);
	l = NULL;
	/* A ledger from a newer scepd is refused, not damaged. */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL,
	    &err), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(ledger_open(path, &l, &why), LEDGER_ERROR);
	ck_assert_ptr_nonnull(strstr(why, "newer"));
	ck_assert_ptr_null(l);
}
END_TEST

/* A version-1 ledger (scepd's first schema) migrates and keeps its rows. */
START_TEST(test_migrate_from_v1)
{
	char v1[512];
	const char *why = NULL;
	struct ledger_cert_state cs;
	sqlite3 *db;
	ledger *old = NULL;

	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	ck_assert_int_eq(sqlite3_open(v1, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, ledger_migrations[0], NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 1;"
	    "INSERT INTO certificates VALUES ('0A', 'ab', x'30', 'CN=x', 0,"
	    " 4102444800, 0);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(ledger_open(v1, &old, &why), LEDGER_OK);
	ck_assert_int_eq(ledger_schema_version(old), ledger_schema_latest);
	ck_assert_int_eq(ledger_cert_state(old, "0a", &cs), LEDGER_OK);
	ck_assert_int_eq(cs.known, 1);
	ck_assert_int_eq(cs.revoked_us, 0);
	ledger_close(old);
}
END_TEST

START_TEST(test_wal)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_record_and_lookup)
{
	struct ledger_op o = op("tx1", "key1", "issued", "0A0B");
	struct ledger_cert c = cert("0A0B", time(NULL) + 86400);
	unsigned char *der = NULL;
	size_t len = 0;
	char *serial = NULL;
	int64_t id = 0;
	int state;

	ck_assert_int_eq(ledger_record(l, &o, &c, &id, NULL), LEDGER_OK);
	ck_assert_int_gt(id, 0);
	/* Same transaction, same key: the same certificate. */
	ck_assert_int_eq(ledger_lookup_txid(l, "tx1", "key1", NULL, time(NULL), &state,
	    &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_SAME_KEY);
	ck_assert_uint_eq(len, sizeof(der_a));
	ck_assert_mem_eq(der, der_a, len);
	ck_assert_str_eq(serial, "0A0B");
	free(der);
	free(serial);
	/* Another key under the same transactionID. */
	ck_assert_int_eq(ledger_lookup_txid(l, "tx1", "key2", NULL, time(NULL), &state,
	    &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_OTHER_KEY);
	ck_assert_ptr_null(der);
	/* Unknown transaction. */
	ck_assert_int_eq(ledger_lookup_txid(l, "tx2", "key1", NULL, time(NULL), &state,
	    &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_NEW);
	/* After expiry the transactionID may be used again (renewals). */
	ck_assert_int_eq(ledger_lookup_txid(l, "tx1", "key2", NULL,
	    time(NULL) + 2 * 86400, &state, &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_NEW);
	/* A cert by serial, case-insensitively. */
	ck_assert_int_eq(ledger_cert_der(l, "0a0b", &der, &len), LEDGER_OK);
	free(der);
	ck_assert_int_eq(ledger_cert_der(l, "FFFF", &der, &len), LEDGER_ERROR);
}
END_TEST

/* Renewals reuse transactionIDs: lookups stay within one renewal link. */
START_TEST(test_renewal_scope)
{
	struct ledger_op first = op("txR", "key1", "issued", "01");
	struct ledger_op renewal = op("txR", "key1", "issued", "02");
	struct ledger_cert c1 = cert("01", time(NULL) + 86400);
	struct ledger_cert c2 = cert("02", time(NULL) + 86400);
	unsigned char *der = NULL;
	size_t len = 0;
	char *serial = NULL;
	int state;
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(ledger_record(l, &first, &c1, NULL, NULL), LEDGER_OK);
	/* The first certificate renews itself under the same txid: new. */
	ck_assert_int_eq(ledger_lookup_txid(l, "txR", "key1", "01", time(NULL),
	    &state, &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_NEW);
	renewal.renewal_of = "01";
	renewal.message_type = 17;
	ck_assert_int_eq(ledger_record(l, &renewal, &c2, NULL, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_lookup_txid(l, "txR", "key1", "01", time(NULL),
	    &state, &der, &len, &serial), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_SAME_KEY);
	ck_assert_str_eq(serial, "02");
	free(der);
	free(serial);
	ck_assert_int_eq(ledger_lookup_txid(l, "txR", "key1", NULL, time(NULL),
	    &state, &der, &len, &serial), LEDGER_OK);
	ck_assert_str_eq(serial, "01");
	free(der);
	free(serial);
	/* The renewal proved the first certificate installed. */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT e.source,"
	    " json_extract(e.detail, '$.serial') FROM events e JOIN operations o"
	    " ON o.id = e.operation_id WHERE o.cert_serial = '01' AND"
	    " e.kind = 'installed'", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "renewal");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "01");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_revoke)
{
	struct ledger_op o = op("txV", "key1", "issued", "0B");
	struct ledger_cert c = cert("0B", time(NULL) + 86400);
	struct ledger_cert_state cs;

	ck_assert_int_eq(ledger_record(l, &o, &c, NULL, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_cert_state(l, "0b", &cs), LEDGER_OK);
	ck_assert_int_eq(cs.known, 1);
	ck_assert_int_eq(cs.revoked_us, 0);
	ck_assert_int_eq(ledger_revoke(l, "0b", 4), LEDGER_REVOKED);
	ck_assert_int_eq(ledger_revoke(l, "0B", 1), LEDGER_REVOKE_ALREADY);
	ck_assert_int_eq(ledger_revoke(l, "FF", 1), LEDGER_REVOKE_UNKNOWN);
	ck_assert_int_eq(ledger_cert_state(l, "0B", &cs), LEDGER_OK);
	ck_assert_int_gt(cs.revoked_us, 0);
	ck_assert_int_eq(cs.reason, 4);
	ck_assert_int_eq(ledger_cert_state(l, "FF", &cs), LEDGER_OK);
	ck_assert_int_eq(cs.known, 0);
}
END_TEST

/* One-time passwords: a cap on outstanding ones, one use each. */
START_TEST(test_challenges)
{
	int64_t later = ((int64_t)time(NULL) + 600) * 1000000;
	int64_t past = ((int64_t)time(NULL) - 1) * 1000000;
	char *profile = NULL;

	ck_assert_int_eq(ledger_challenge_add(l, "aa", later, "wifi", 2),
	    LEDGER_CHALLENGE_OK);
	ck_assert_int_eq(ledger_challenge_add(l, "bb", later, NULL, 2),
	    LEDGER_CHALLENGE_OK);
	ck_assert_int_eq(ledger_challenge_add(l, "cc", later, NULL, 2),
	    LEDGER_CHALLENGE_FULL);
	/* Expired ones do not count against the cap, and do not work. */
	ck_assert_int_eq(ledger_challenge_add(l, "dd", past, NULL, 3),
	    LEDGER_CHALLENGE_OK);
	ck_assert_int_eq(ledger_challenge_use(l, "dd", "t1", "k1", &profile),
	    LEDGER_CHALLENGE_UNKNOWN);
	ck_assert_int_eq(ledger_challenge_use(l, "aa", "t1", "k1", &profile),
	    LEDGER_CHALLENGE_OK);
	ck_assert_str_eq(profile, "wifi");
	free(profile);
	/* Used: only the same request, sent again, may present it. */
	ck_assert_int_eq(ledger_challenge_use(l, "aa", "t2", "k2", &profile),
	    LEDGER_CHALLENGE_UNKNOWN);
	ck_assert_int_eq(ledger_challenge_use(l, "aa", "t1", "k1", &profile),
	    LEDGER_CHALLENGE_OK);
	free(profile);
	ck_assert_int_eq(ledger_challenge_use(l, "zz", "t1", "k1", &profile),
	    LEDGER_CHALLENGE_UNKNOWN);
	ck_assert_ptr_null(profile);
}
END_TEST

START_TEST(test_duplicate_serial)
{
	struct ledger_op o = op("tx1", "key1", "issued", "0A0B");
	struct ledger_op o2 = op("tx2", "key2", "issued", "0A0B");
	struct ledger_cert c = cert("0A0B", time(NULL) + 86400);
	const char *why = NULL;
	char *json;
	FILE *f;
	size_t n = 0;

	ck_assert_int_eq(ledger_record(l, &o, &c, NULL, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_record(l, &o2, &c, NULL, &why),
	    LEDGER_DUPLICATE_SERIAL);
	/* The failed transaction left nothing behind. */
	f = open_memstream(&json, &n);
	ck_assert_int_eq(report_dump_json(l, f), LEDGER_OK);
	fclose(f);
	ck_assert_ptr_null(strstr(json, "\"tx2\""));
	free(json);
}
END_TEST

START_TEST(test_rejection_and_events)
{
	struct ledger_op o = op("tx9", "key9", "rejected", NULL);
	int64_t id = 0;
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = 0;

	ck_assert_int_eq(ledger_record(l, &o, NULL, &id, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_add_event(l, id, "response_complete", "server",
	    "{\"termination\":\"completed\"}"), LEDGER_OK);
	/* detail must be JSON: the schema refuses anything else. */
	ck_assert_int_eq(ledger_add_event(l, id, "x", "server", "not json"),
	    LEDGER_ERROR);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT kind FROM events "
	    "WHERE operation_id = ?1 ORDER BY id", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		static const char *want[] = { "request_received", "rejected",
		    "response_complete" };

		ck_assert_int_lt(n, 3);
		ck_assert_str_eq(k, want[n]);
		n++;
	}
	ck_assert_int_eq(n, 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_json)
{
	struct ledger_op o = op("tx\"quote", "key1", "issued", "0A0B");
	struct ledger_op r = op("tx2", "key2", "rejected", NULL);
	struct ledger_cert c = cert("0A0B", time(NULL) + 86400);
	sqlite3 *db;
	sqlite3_stmt *st;
	char *json = NULL;
	size_t n = 0;
	FILE *f;

	ck_assert_int_eq(ledger_record(l, &o, &c, NULL, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_record(l, &r, NULL, NULL, NULL), LEDGER_OK);
	f = open_memstream(&json, &n);
	ck_assert_int_eq(report_dump_json(l, f), LEDGER_OK);
	fclose(f);
	/* Valid JSON, by SQLite's own parser; two rows; fields present. */
	ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_valid(?1),"
	    " json_array_length(?1), json_extract(?1, '$[0].transaction_id'),"
	    " json_extract(?1, '$[0].serial'), json_extract(?1, '$[1].reason'),"
	    " json_extract(?1, '$[0].events[1].kind'),"
	    " json_extract(?1, '$[0].cert_der')", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
	ck_assert_int_eq(sqlite3_column_int(st, 1), 2);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "tx\"quote");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 3), "0A0B");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 4),
	    "challenge password wrong");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 5), "issued");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 6), "3003020101");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(json);
}
END_TEST

/*
 * Group commit: writers on many threads, each waiting for its own row,
 * with detached delivery events in between and one duplicate serial per
 * thread that must fail alone without taking its batch down.
 */
#define GC_THREADS	8
#define GC_PER_THREAD	50

static void *
gc_writer(void *arg)
{
	long t = (long)arg, i;
	char txid[32], serial[40];
	struct ledger_op o;
	struct ledger_cert c;
	int64_t id;
	long bad = 0;

	for (i = 0; i < GC_PER_THREAD; i++) {
		snprintf(txid, sizeof(txid), "gc-%ld-%ld", t, i);
		snprintf(serial, sizeof(serial), "%02lX%04lX", t, i);
		o = op(txid, "k", "issued", serial);
		c = cert(serial, time(NULL) + 3600);
		id = 0;
		if (ledger_record(l, &o, &c, &id, NULL) != LEDGER_OK || id <= 0 ||
		    ledger_add_event_later(l, id, "response_complete", "server",
		    NULL) != LEDGER_OK)
			bad++;
		if (i == 7) {
			/* The same serial again: refused, alone. */
			snprintf(txid, sizeof(txid), "gc-%ld-dup", t);
			o = op(txid, "k", "issued", serial);
			if (ledger_record(l, &o, &c, &id, NULL) !=
			    LEDGER_DUPLICATE_SERIAL)
				bad++;
		}
	}
	return (void *)bad;
}

/* Run fn((void *)t) for t = 0 … GC_THREADS - 1 at once; their results. */
static void
run_threads(void *(*fn)(void *), void *rc[GC_THREADS])
{
	pthread_t th[GC_THREADS];
	long t;

	for (t = 0; t < GC_THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, fn, (void *)t), 0);
	for (t = 0; t < GC_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], &rc[t]), 0);
}

START_TEST(test_group_commit)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	void *bad[GC_THREADS];
	int t, ops = -1, delivered = -1;

	run_threads(gc_writer, bad);
	for (t = 0; t < GC_THREADS; t++)
		ck_assert_ptr_null(bad[t]);
	/* Every detached write is committed once its writers have returned. */
	ledger_close(l);
	l = NULL;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM"
	    " operations), (SELECT count(*) FROM operations WHERE status ="
	    " 'delivered')", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ops = sqlite3_column_int(st, 0);
	delivered = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_int_eq(ops, GC_THREADS * GC_PER_THREAD);
	ck_assert_int_eq(delivered, GC_THREADS * GC_PER_THREAD);
}
END_TEST

/*
 * A detached write with no write after it to ride along with is written
 * alone soon after (the detached writer's delay is 10 ms), not at close.
 */
START_TEST(test_detached_alone)
{
	struct ledger_op o = op("alone", "k", "issued", "0A11");
	struct ledger_cert c = cert("0A11", time(NULL) + 3600);
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t id = 0;
	int i, n = 0;

	ck_assert_int_eq(ledger_record(l, &o, &c, &id, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_add_event_later(l, id, "response_complete",
	    "server", NULL), LEDGER_OK);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM events"
	    " WHERE kind = 'response_complete'", -1, &st, NULL), SQLITE_OK);
	for (i = 0; i < 200 && n == 0; i++) {
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		n = sqlite3_column_int(st, 0);
		sqlite3_reset(st);
		if (n == 0)
			usleep(10000);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_int_eq(n, 1);
}
END_TEST

static void *
challenge_user(void *arg)
{
	char txid[32], *profile = NULL;
	long rc;

	snprintf(txid, sizeof(txid), "cu-%ld", (long)arg);
	rc = ledger_challenge_use(l, "once", txid, "k", &profile);
	free(profile);
	return (void *)rc;
}

/* A one-time challenge presented by many requests at once: used once. */
START_TEST(test_challenge_once_under_load)
{
	int64_t later = ((int64_t)time(NULL) + 600) * 1000000;
	void *rc[GC_THREADS];
	int t, ok = 0, unknown = 0;

	ck_assert_int_eq(ledger_challenge_add(l, "once", later, NULL, 10),
	    LEDGER_CHALLENGE_OK);
	run_threads(challenge_user, rc);
	for (t = 0; t < GC_THREADS; t++) {
		ok += (long)rc[t] == LEDGER_CHALLENGE_OK;
		unknown += (long)rc[t] == LEDGER_CHALLENGE_UNKNOWN;
	}
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(unknown, GC_THREADS - 1);
}
END_TEST

/* The transactionID, with key "k", looks up the certificate SERIAL. */
static void
assert_lookup(const char *txid, const char *serial)
{
	unsigned char *der = NULL;
	char *got = NULL;
	size_t len = 0;
	int state;

	ck_assert_int_eq(ledger_lookup_txid(l, txid, "k", NULL, time(NULL),
	    &state, &der, &len, &got), LEDGER_OK);
	ck_assert_int_eq(state, LEDGER_TXID_SAME_KEY);
	ck_assert_str_eq(got, serial);
	free(der);
	free(got);
}

static off_t
file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

/*
 * Commits never checkpoint; the ledger's checkpointer copies the WAL into
 * the database while it stays open, and what it copied reads back whole.
 */
START_TEST(test_checkpoint_meanwhile)
{
	char txid[32], serial[32], wal[600];
	struct ledger_op o;
	struct ledger_cert c;
	off_t before = file_size(path);
	int i;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	/* Each a commit of its own: several WAL frames each, > 1000 in all. */
	for (i = 0; i < 400; i++) {
		snprintf(txid, sizeof(txid), "cp%d", i);
		snprintf(serial, sizeof(serial), "C0%04X", i);
		o = op(txid, "k", "issued", serial);
		c = cert(serial, time(NULL) + 3600);
		ck_assert_int_eq(ledger_record(l, &o, &c, NULL, NULL), LEDGER_OK);
	}
	for (i = 0; i < 500 && file_size(path) <= before; i++)
		usleep(10000);
	ck_assert_int_gt(file_size(path), before);
	ck_assert_int_gt(file_size(wal), 0);
	assert_lookup("cp399", "C0018F");
}
END_TEST

/* A report's row callback that records a transaction of its own. */
static int
record_from_report(void *arg, int64_t id, const char *kind, const char *json)
{
	struct ledger_op o = op("inside", "k", "issued", "0B0B");
	struct ledger_cert c = cert("0B0B", time(NULL) + 3600);
	int *rc = arg;

	(void)id;
	(void)kind;
	(void)json;
	if (*rc == -1)
		*rc = ledger_record(l, &o, &c, NULL, NULL);
	return 1;
}

/*
 * Reports run on a connection of their own: while one is reading, writes
 * go on (here from inside the report itself, which would deadlock if the
 * report held the writer), and lookups see them.
 */
START_TEST(test_report_does_not_hold_writer)
{
	struct ledger_op o = op("before", "k", "issued", "0A0A");
	struct ledger_cert c = cert("0A0A", time(NULL) + 3600);
	int rc = -1;

	ck_assert_int_eq(ledger_record(l, &o, &c, NULL, NULL), LEDGER_OK);
	ck_assert_int_eq(ledger_events_since(l, 0, 100, record_from_report, &rc),
	    LEDGER_OK);
	ck_assert_int_eq(rc, LEDGER_OK);
	assert_lookup("inside", "0B0B");
	ck_assert_int_gt(ledger_find_issued(l, "inside"), 0);
}
END_TEST

START_TEST(test_empty_json)
{
	char *json = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&json, &n);

	ck_assert_int_eq(report_dump_json(l, f), LEDGER_OK);
	fclose(f);
	ck_assert_str_eq(json, "[]\n");
	free(json);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *t = tcase_create("ledger");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_schema_version);
	tcase_add_test(t, test_migrate_from_v1);
	tcase_add_test(t, test_wal);
	tcase_add_test(t, test_renewal_scope);
	tcase_add_test(t, test_revoke);
	tcase_add_test(t, test_challenges);
	tcase_add_test(t, test_record_and_lookup);
	tcase_add_test(t, test_duplicate_serial);
	tcase_add_test(t, test_rejection_and_events);
	tcase_add_test(t, test_json);
	tcase_add_test(t, test_empty_json);
	tcase_add_test(t, test_group_commit);
	tcase_add_test(t, test_detached_alone);
	tcase_add_test(t, test_challenge_once_under_load);
	tcase_add_test(t, test_checkpoint_meanwhile);
	tcase_add_test(t, test_report_does_not_hold_writer);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(store_suite(), 0);
}
