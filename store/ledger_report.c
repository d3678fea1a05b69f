#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

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
	struct lg_query q;
	int rc, n = 0, ret = LEDGER_ERROR;

	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	fputs("[", out);
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW)
		fprintf(out, "%s\n%s", n++ ? "," : "",
		    (const char *)sqlite3_column_text(q.st, 0));
	fputs(n ? "\n]\n" : "]\n", out);
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	lg_query_end(&q);
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
	struct lg_query q;
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
	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	lg_bind_text(q.st, 1, f->status);
	sqlite3_bind_int64(q.st, 2, f->since_us);
	lg_bind_text(q.st, 3, f->subject);
	sqlite3_bind_int64(q.st, 4, f->stuck_before_us);
	if (format == LEDGER_JSON)
		fputs("[", out);
	else if (format == LEDGER_CSV)
		fputs("id,received_at,transaction_id,status,subject,serial,"
		    "client_addr,reason\n", out);
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(q.st, 0);

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
	lg_query_end(&q);
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
	struct lg_query q;
	int rc, ret = LEDGER_ERROR;

	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	lg_bind_text(q.st, 1, by_day ? "%Y-%m-%d" : "%Y-%m-%dT%H:00Z");
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW)
		fprintf(out, "%-18s %-16s %d\n",
		    (const char *)sqlite3_column_text(q.st, 0),
		    (const char *)sqlite3_column_text(q.st, 1),
		    sqlite3_column_int(q.st, 2));
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	lg_query_end(&q);
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
		lg_bind_text(st, 1, id);
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
		lg_bind_text(st, 1, id);
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
	return lg_query_id(l, "SELECT id FROM operations WHERE outcome = 'issued'"
	    " AND (transaction_id = ?1 OR cert_serial = upper(?1))"
	    " ORDER BY id DESC LIMIT 1", id, NULL);
}

int
ledger_status_metrics(ledger *l, FILE *out)
{
	static const char sql[] = "SELECT " STATUS " AS s, count(*) FROM"
	    " operations o LEFT JOIN certificates c ON c.serial = o.cert_serial"
	    " GROUP BY s ORDER BY s";
	struct lg_query q;
	int rc, ret = LEDGER_ERROR;

	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	fputs("# HELP scepd_transactions PKIOperations in the ledger by status.\n"
	    "# TYPE scepd_transactions gauge\n", out);
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW)
		fprintf(out, "scepd_transactions{status=\"%s\"} %d\n",
		    (const char *)sqlite3_column_text(q.st, 0),
		    sqlite3_column_int(q.st, 1));
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	lg_query_end(&q);
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
	struct lg_query q;
	int rc, ret = LEDGER_ERROR;

	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	sqlite3_bind_int64(q.st, 1, after);
	sqlite3_bind_int(q.st, 2, limit);
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW)
		if (!fn(arg, sqlite3_column_int64(q.st, 0),
		    (const char *)sqlite3_column_text(q.st, 1),
		    (const char *)sqlite3_column_text(q.st, 2)))
			break;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	lg_query_end(&q);
	return ret;
}

int64_t
ledger_last_event_id(ledger *l)
{
	return lg_query_id(l, "SELECT coalesce(max(id), 0) FROM events", NULL, NULL);
}



