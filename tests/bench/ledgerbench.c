/*
 * ledgerbench: query times on a large ledger.
 *
 *   ledgerbench DB [ROWS]
 *
 * Fills DB (once; it is kept for the next run) with ROWS synthetic
 * transactions (default 1,000,000) through the ledger's own schema:
 * 95.9 % issued, delivered and installed, 4 % rejected by the challenge,
 * 0.1 % delivered an hour or more ago but never installed (what `scepctl
 * stuck` is for).  Each issued one has a 1 KB certificate and five
 * events.  Then times, with the functions scepctl and the admin API call:
 * lookup by transactionID and by serial, `show`, `stuck`, `stats` and
 * the metrics' count by status.  Prints one "result" line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "server/common/common.h"
#include "store/ledger.h"
#include "tests/bench/http_load.h"

#define SPACING_US	(30LL * 1000000)	/* between two transactions */

static int
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "ledgerbench: %s: %s\n", sql, err);
		sqlite3_free(err);
		return 0;
	}
	return 1;
}

static void
txid_of(long i, char *buf, size_t cap)
{
	snprintf(buf, cap, "bench-%08lX-txid", i);
}

static void
serial_of(long i, char *buf, size_t cap)
{
	snprintf(buf, cap, "5CE9D0%026lX", i);
}

static long
count_rows(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM operations", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The synthetic rows, in one transaction, through the real schema. */
static int
fill(const char *path, long rows)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *cert = NULL, *op = NULL, *ev = NULL;
	char txid[64], serial[64], cn[64], sha[65];
	int64_t now = (int64_t)time(NULL) * 1000000, at, id;
	long i;
	int ok = 0, k, kind;
	static const char *const issued_events[] = { "request_received",
	    "challenge_ok", "issued", "response_complete", "installed" };
	static const char *const rejected_events[] = { "request_received",
	    "challenge_failed", "rejected" };

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    !exec(db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	    " PRAGMA cache_size = -400000;"
	    " BEGIN"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO certificates (serial, sha256,"
	    " der, subject, not_before, not_after, issued_us, ca_id, sha1)"
	    " VALUES (?1, ?2, randomblob(1000), ?3, ?4, ?5, ?6, 'benchca',"
	    " substr(?2, 1, 40))", -1, &cert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO operations (received_us,"
	    " completed_us, client_addr, user_agent, http_method,"
	    " transaction_id, message_type, request_nonce, reply_nonce,"
	    " request_sha256, request_b64_head, csr_subject, pubkey_sha256,"
	    " digest, cipher, outcome, pki_status, fail_info, http_status,"
	    " reason, cert_serial) VALUES (?1, ?1 + 40000, '10.1.2.3',"
	    " 'Dalvik/2.1.0', 'POST', ?2, 19, hex(randomblob(16)),"
	    " hex(randomblob(16)), ?3, 'MIAGCSqGSIb3DQEHAqCAMIACAQExDzAN', ?4,"
	    " ?3, 'sha256', 'aes-128-cbc', ?5, ?6, ?7, 200, ?8, ?9)", -1, &op,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO events (operation_id, at_us,"
	    " kind, source, detail) VALUES (?1, ?2, ?3, ?4, NULL)", -1, &ev,
	    NULL) != SQLITE_OK)
		goto out;
	for (i = 0; i < rows; i++) {
		at = now - (rows - i) * SPACING_US;
		kind = i % 1000 == 500 ? 2 : i % 25 == 1 ? 1 : 0;
		txid_of(i, txid, sizeof(txid));
		serial_of(i, serial, sizeof(serial));
		snprintf(cn, sizeof(cn), "CN=device-%ld,O=bench", i);
		snprintf(sha, sizeof(sha), "%016lx%048x", i, 0);
		if (kind != 1) {
			sqlite3_bind_text(cert, 1, serial, -1, SQLITE_STATIC);
			sqlite3_bind_text(cert, 2, sha, -1, SQLITE_STATIC);
			sqlite3_bind_text(cert, 3, cn, -1, SQLITE_STATIC);
			sqlite3_bind_int64(cert, 4, at / 1000000 - 300);
			sqlite3_bind_int64(cert, 5, at / 1000000 + 3 * 365 * 86400);
			sqlite3_bind_int64(cert, 6, at + 30000);
			if (sqlite3_step(cert) != SQLITE_DONE)
				goto out;
			sqlite3_reset(cert);
		}
		sqlite3_bind_int64(op, 1, at);
		sqlite3_bind_text(op, 2, txid, -1, SQLITE_STATIC);
		sqlite3_bind_text(op, 3, sha, -1, SQLITE_STATIC);
		sqlite3_bind_text(op, 4, cn, -1, SQLITE_STATIC);
		sqlite3_bind_text(op, 5, kind == 1 ? "rejected" : "issued", -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(op, 6, kind == 1 ? 2 : 0);
		if (kind == 1) {
			sqlite3_bind_int(op, 7, 2);
			sqlite3_bind_text(op, 8, "challenge password wrong", -1,
			    SQLITE_STATIC);
			sqlite3_bind_null(op, 9);
		} else {
			sqlite3_bind_null(op, 7);
			sqlite3_bind_null(op, 8);
			sqlite3_bind_text(op, 9, serial, -1, SQLITE_STATIC);
		}
		if (sqlite3_step(op) != SQLITE_DONE)
			goto out;
		sqlite3_reset(op);
		id = sqlite3_last_insert_rowid(db);
		/* Stuck ones stop after response_complete. */
		for (k = 0; k < (kind == 1 ? 3 : kind == 2 ? 4 : 5); k++) {
			sqlite3_bind_int64(ev, 1, id);
			sqlite3_bind_int64(ev, 2, at + k * 10000 + (k == 4 ?
			    600000000LL : 0));
			sqlite3_bind_text(ev, 3, kind == 1 ? rejected_events[k] :
			    issued_events[k], -1, SQLITE_STATIC);
			sqlite3_bind_text(ev, 4, k == 4 ? "android-log" :
			    "server", -1, SQLITE_STATIC);
			if (sqlite3_step(ev) != SQLITE_DONE)
				goto out;
			sqlite3_reset(ev);
		}
		if (i > 0 && i % 100000 == 0)
			fprintf(stderr, "ledgerbench: %ld rows\n", i);
	}
	ok = exec(db, "COMMIT; PRAGMA journal_mode = WAL");
out:
	if (!ok)
		fprintf(stderr, "ledgerbench: filling failed: %s\n",
		    sqlite3_errmsg(db));
	sqlite3_finalize(cert);
	sqlite3_finalize(op);
	sqlite3_finalize(ev);
	sqlite3_close(db);
	return ok;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median time of n runs of what(), in ms. */
#define TIME_MS(n, result, what) do {					\
	double t_[64];							\
	int r_;								\
	for (r_ = 0; r_ < (n); r_++) {					\
		int64_t t0_ = load_now_us();				\
		what;							\
		t_[r_] = (double)(load_now_us() - t0_) / 1000.0;	\
	}								\
	qsort(t_, (size_t)(n), sizeof(double), cmp_double);		\
	(result) = t_[(n) / 2];						\
} while (0)

int
main(int argc, char **argv)
{
	const char *path, *why = NULL;
	struct ledger_filter stuck = { 0 };
	ledger *l = NULL;
	FILE *null = NULL;
	long rows = 1000000, have, i;
	double t_txid, t_serial, t_show, t_stuck, t_stats, t_metrics, t_open;
	char id[64];
	int found = 0, ret = 1;
	int64_t t0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: ledgerbench db [rows]\n");
		return 2;
	}
	path = argv[1];
	if (argc == 3)
		rows = strtol(argv[2], NULL, 10);
	if ((null = fopen("/dev/null", "w")) == NULL)
		return 1;
	have = count_rows(path);
	if (have != rows) {
		remove(path);
		if (ledger_open(path, &l, &why) != LEDGER_OK) {
			fprintf(stderr, "ledgerbench: %s\n", why);
			goto out;
		}
		ledger_close(l);
		l = NULL;
		fprintf(stderr, "ledgerbench: filling %s with %ld transactions\n",
		    path, rows);
		t0 = load_now_us();
		if (!fill(path, rows))
			goto out;
		fprintf(stderr, "ledgerbench: filled in %.0f s\n",
		    (double)(load_now_us() - t0) / 1e6);
	}
	t0 = load_now_us();
	if (ledger_open(path, &l, &why) != LEDGER_OK) {
		fprintf(stderr, "ledgerbench: %s\n", why);
		goto out;
	}
	t_open = (double)(load_now_us() - t0) / 1000.0;
	/*
	 * Lookups spread over the whole ledger.  First an untimed round on
	 * other rows: a running server has the b-trees' inner pages in
	 * memory, and the load run before this may have pushed them out.
	 */
	for (i = 7; i < rows; i += rows / 64 + 1) {
		txid_of(i, id, sizeof(id));
		(void)ledger_find_issued(l, id);
		serial_of(i, id, sizeof(id));
		(void)ledger_find_issued(l, id);
	}
	i = 0;
	TIME_MS(51, t_txid, (txid_of((i = (i + 19997) % rows), id, sizeof(id)),
	    found = ledger_find_issued(l, id) != 0 || i % 25 == 1));
	if (!found)
		goto miss;
	TIME_MS(51, t_serial, (serial_of((i = (i + 19997) % rows), id,
	    sizeof(id)), found = ledger_find_issued(l, id) != 0 || i % 25 == 1));
	if (!found)
		goto miss;
	TIME_MS(51, t_show, (txid_of((i = (i + 19997) % rows), id, sizeof(id)),
	    report_show_json(l, id, null, &found)));
	if (!found)
		goto miss;
	stuck.stuck_before_us = (int64_t)(time(NULL) - 15 * 60) * 1000000;
	TIME_MS(5, t_stuck, report_list(l, &stuck, LEDGER_TEXT, null));
	TIME_MS(3, t_stats, report_stats(l, 1, null));
	TIME_MS(3, t_metrics, report_status_metrics(l, null));
	printf("ledger: %ld transactions (%s)\n", rows, path);
	printf("  open %.1f ms  lookup by transactionID %.3f ms  by serial %.3f ms"
	    "  show %.3f ms\n", t_open, t_txid, t_serial, t_show);
	printf("  stuck %.1f ms (%ld rows)  stats by day %.0f ms  metrics %.0f ms\n",
	    t_stuck, rows / 1000, t_stats, t_metrics);
	printf("result label=ledger rows=%ld lookup_txid_ms=%.3f "
	    "lookup_serial_ms=%.3f show_ms=%.3f stuck_ms=%.1f stats_ms=%.0f "
	    "metrics_ms=%.0f\n", rows, t_txid, t_serial, t_show, t_stuck,
	    t_stats, t_metrics);
	ret = 0;
	goto out;
miss:
	fprintf(stderr, "ledgerbench: lookup of %s found nothing\n", id);
out:
	ledger_close(l);
	fclose(null);
	return ret;
}
