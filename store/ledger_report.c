#include <pthread.h>
#include <stdio.h>
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
    "     'id', e.id, 'at', " ISO("e.at_us") ", 'kind', e.kind," \
    "     'source', e.source, 'detail', json(e.detail)," \
    "     'retracted_at', " ISO("e.retracted_us") "))" \
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

/*
 * Every report query: sql on the slow connection, its parameters bound by
 * bind(st, barg) (NULL: none), each row handed to row(rarg, st); row
 * returns 0 to stop with an error.  *any says whether there was a row.
 */
struct rows {
	void	(*bind)(sqlite3_stmt *st, const void *barg);
	const void *barg;
	int	(*row)(void *rarg, sqlite3_stmt *st);
	void	*rarg;
};

static int
query_rows(ledger *l, const char *sql, const struct rows *r, int *any)
{
	struct lg_query q;
	int rc = SQLITE_ERROR, ret = LEDGER_ERROR;

	if (!lg_query_begin(l, LG_SLOW, sql, &q))
		goto out;
	if (r->bind != NULL)
		r->bind(q.st, r->barg);
	while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
		*any = 1;
		if (!r->row(r->rarg, q.st))
			goto out;
	}
	if (rc == SQLITE_DONE)
		ret = LEDGER_OK;
out:
	lg_query_end(&q);
	return ret;
}

/* Rows of one text column, to a ledger_row_fn. */
struct text_rows {
	ledger_row_fn	 fn;
	void		*arg;
};

static int
text_row(void *rarg, sqlite3_stmt *st)
{
	struct text_rows *t = rarg;

	return t->fn(t->arg, (const char *)sqlite3_column_text(st, 0));
}

/* Rows of (period or nothing, status, count), to a ledger_count_fn. */
struct count_rows {
	ledger_count_fn	 fn;
	void		*arg;
	int		 period;	/* the first column is a period */
};

static int
count_row(void *rarg, sqlite3_stmt *st)
{
	struct count_rows *c = rarg;
	int i = c->period;

	return c->fn(c->arg, c->period ? (const char *)sqlite3_column_text(st,
	    0) : NULL, (const char *)sqlite3_column_text(st, i),
	    sqlite3_column_int64(st, i + 1));
}

static void
bind_filter(sqlite3_stmt *st, const void *barg)
{
	const struct ledger_filter *f = barg;

	lg_bind_text(st, 1, f->status);
	sqlite3_bind_int64(st, 2, f->since_us);
	lg_bind_text(st, 3, f->subject);
	sqlite3_bind_int64(st, 4, f->stuck_before_us);
}

static void
bind_text1(sqlite3_stmt *st, const void *barg)
{
	lg_bind_text(st, 1, barg);
}

/* A one-text-column query without parameters, each row to fn. */
static int
text_query(ledger *l, const char *sql, ledger_row_fn fn, void *arg)
{
	struct text_rows t = { fn, arg };
	struct rows r = { NULL, NULL, text_row, &t };
	int any = 0;

	return query_rows(l, sql, &r, &any);
}

int
ledger_dump_rows(ledger *l, ledger_row_fn fn, void *arg)
{
	return text_query(l, dump_sql, fn, arg);
}

int
ledger_pending_rows(ledger *l, ledger_row_fn fn, void *arg)
{
	return text_query(l, pending_sql, fn, arg);
}

int
ledger_list_rows(ledger *l, const struct ledger_filter *f, int format,
    ledger_row_fn fn, void *arg)
{
	struct text_rows t = { fn, arg };
	struct rows r = { bind_filter, f, text_row, &t };
	const char *where;
	char *sql;
	int any = 0, ret;

	if (format < LEDGER_JSON || format > LEDGER_TEXT)
		return LEDGER_ERROR;
	where = f->stuck_before_us != 0 ? where_stuck : f->status == NULL ?
	    where_all : strcmp(f->status, "expired") == 0 ? where_expired :
	    where_status;
	if ((sql = sqlite3_mprintf("SELECT %s%s%s%s", list_cols[format],
	    FROM_OPS, where, COMMON_FILTERS)) == NULL)
		return LEDGER_ERROR;
	ret = query_rows(l, sql, &r, &any);
	sqlite3_free(sql);
	return ret;
}

int
ledger_stats_rows(ledger *l, int by_day, ledger_count_fn fn, void *arg)
{
	static const char sql[] =
	    "SELECT strftime(?1, o.received_us / 1e6, 'unixepoch') AS t, "
	    STATUS " AS s, count(*) FROM operations o LEFT JOIN certificates c"
	    " ON c.serial = o.cert_serial GROUP BY t, s ORDER BY t, s";
	struct count_rows c = { fn, arg, 1 };
	struct rows r = { bind_text1, by_day ? "%Y-%m-%d" : "%Y-%m-%dT%H:00Z",
	    count_row, &c };
	int any = 0;

	return query_rows(l, sql, &r, &any);
}

int
ledger_status_counts(ledger *l, ledger_count_fn fn, void *arg)
{
	static const char sql[] = "SELECT " STATUS " AS s, count(*) FROM"
	    " operations o LEFT JOIN certificates c ON c.serial = o.cert_serial"
	    " GROUP BY s ORDER BY s";
	struct count_rows c = { fn, arg, 0 };
	struct rows r = { NULL, NULL, count_row, &c };
	int any = 0;

	return query_rows(l, sql, &r, &any);
}

/*
 * The transactions `show ID` means: by transactionID or serial (both
 * indexed); only when neither matches, by subject CN (a scan).
 */
static const char *const show_where[] = {
	" WHERE (o.transaction_id = ?1 OR o.cert_serial = upper(?1))",
	" WHERE (', ' || o.csr_subject || ',') LIKE '%, CN=' || ?1 || ',%'",
};

/*
 * The rows of sql_for(pass) for id: by transactionID or serial first,
 * by subject CN only when that finds nothing.
 */
static int
show_passes(ledger *l, const char *id, char *(*sql_for)(int pass),
    int (*row)(void *rarg, sqlite3_stmt *st), void *rarg, int *found)
{
	struct rows r = { bind_text1, id, row, rarg };
	char *sql;
	int pass, ret = LEDGER_OK;

	*found = 0;
	for (pass = 0; pass < 2 && !*found && ret == LEDGER_OK; pass++) {
		if ((sql = sql_for(pass)) == NULL)
			return LEDGER_ERROR;
		ret = query_rows(l, sql, &r, found);
		sqlite3_free(sql);
	}
	return ret;
}

static char *
show_json_sql(int pass)
{
	const char *order = strstr(dump_sql, " ORDER BY o.id");

	return order == NULL ? NULL : sqlite3_mprintf("%.*s%s ORDER BY o.id",
	    (int)(order - dump_sql), dump_sql, show_where[pass]);
}

/* dump_sql's rows, for one transactionID, serial or subject CN. */
int
ledger_show_rows(ledger *l, const char *id, ledger_row_fn fn, void *arg,
    int *found)
{
	struct text_rows t = { fn, arg };

	return show_passes(l, id, show_json_sql, text_row, &t, found);
}

static char *
evidence_sql(int pass)
{
	static const char cols[] = "SELECT json_object('id', e.id,"
	    " 'transaction_id', o.transaction_id, 'at', " ISO("e.at_us") ","
	    " 'kind', e.kind, 'source', e.source, 'detail', json(e.detail),"
	    " 'retracted_at', " ISO("e.retracted_us") ") FROM operations o"
	    " JOIN events e ON e.operation_id = o.id";

	/* cols holds strftime's %s: an argument, never the format. */
	return sqlite3_mprintf("%s%s AND e.kind IN ('installed',"
	    " 'install_failed', 'probably_installed', 'probably_install_failed',"
	    " 'received_by_device', 'request_logged', 'evidence_retracted')"
	    " ORDER BY e.id", cols, show_where[pass]);
}

int
ledger_evidence_rows(ledger *l, const char *id, ledger_row_fn fn, void *arg,
    int *found)
{
	struct text_rows t = { fn, arg };

	return show_passes(l, id, evidence_sql, text_row, &t, found);
}

static char *
show_event_sql(int pass)
{
	/* One row per event, with its transaction's columns repeated. */
	static const char cols[] =
	    "SELECT o.id, o.transaction_id, " STATUS ", o.csr_subject,"
	    " o.cert_serial, o.client_addr, coalesce(o.reason, ''),"
	    " " ISO("e.at_us") ", e.kind, e.source, coalesce(e.detail, '')"
	    " FROM operations o LEFT JOIN certificates c ON c.serial ="
	    " o.cert_serial JOIN events e ON e.operation_id = o.id";

	/* cols holds strftime's %s: an argument, never the format. */
	return sqlite3_mprintf("%s%s ORDER BY o.id, e.id", cols,
	    show_where[pass]);
}

struct event_rows {
	ledger_show_event_fn	 fn;
	void			*arg;
};

static const char *
text_col(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

static int
event_row(void *rarg, sqlite3_stmt *st)
{
	struct event_rows *a = rarg;
	struct ledger_show_event ev = {
		sqlite3_column_int64(st, 0), text_col(st, 1), text_col(st, 2),
		text_col(st, 3), text_col(st, 4), text_col(st, 5),
		text_col(st, 6), text_col(st, 7), text_col(st, 8),
		text_col(st, 9), text_col(st, 10),
	};

	return a->fn(a->arg, &ev);
}

int
ledger_show_events(ledger *l, const char *id, ledger_show_event_fn fn,
    void *arg, int *found)
{
	struct event_rows a = { fn, arg };

	return show_passes(l, id, show_event_sql, event_row, &a, found);
}

int64_t
ledger_find_issued(ledger *l, const char *id)
{
	return lg_query_id(l, "SELECT id FROM operations WHERE outcome = 'issued'"
	    " AND (transaction_id = ?1 OR cert_serial = upper(?1))"
	    " ORDER BY id DESC LIMIT 1", id, NULL);
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



