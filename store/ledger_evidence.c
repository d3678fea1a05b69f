#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

int64_t
ledger_match_reply(ledger *l, const char *txid, const char *reply_nonce)
{
	return lg_query_id(l, "SELECT id FROM operations WHERE transaction_id = ?1"
	    " AND reply_nonce = lower(?2) ORDER BY id DESC LIMIT 1", txid,
	    reply_nonce);
}

int64_t
ledger_match_request_prefix(ledger *l, const char *b64_prefix)
{
	struct lg_query q;
	int64_t id = 0;

	if (strlen(b64_prefix) < LEDGER_MIN_PREFIX)
		return 0;
	/* substr, not LIKE: base64 has no wildcards, but be exact anyway. */
	if (lg_query_begin(l, LG_WRITER, "SELECT id FROM operations WHERE"
	    " substr(request_b64_head, 1, length(?1)) = ?1 ORDER BY id DESC"
	    " LIMIT 2", &q)) {
		lg_bind_text(q.st, 1, b64_prefix);
		id = lg_unique_id(q.st);	/* two with that start: none */
	}
	lg_query_end(&q);
	return id;
}

struct evidence_args {
	int64_t		 op_id;
	const char	*kind, *source, *evidence, *file, *text;
	long		 line;
	int		 added;
	int		 conflict;
};

/* The evidence event unless the same line is already there. */
static int
evidence_row(ledger *l, void *arg)
{
	struct evidence_args *a = arg;
	sqlite3_stmt *st = NULL;
	const char *prev;
	char *detail = NULL;
	int ret = LEDGER_ERROR;

	/* Is it there already; its detail; the install evidence before it. */
	if (sqlite3_prepare_v2(l->db, "SELECT EXISTS (SELECT 1 FROM events WHERE"
	    " operation_id = ?1 AND kind = ?2 AND source = ?3 AND"
	    " json_extract(detail, '$.text') = ?4), json_object('evidence', ?5,"
	    " 'file', ?6, 'line', ?7, 'text', ?4), (SELECT kind FROM events"
	    " WHERE operation_id = ?1 AND (kind = 'installed' OR kind ="
	    " 'install_failed') AND retracted_us IS NULL ORDER BY id DESC"
	    " LIMIT 1)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->op_id);
	lg_bind_text(st, 2, a->kind);
	lg_bind_text(st, 3, a->source);
	lg_bind_text(st, 4, a->text);
	lg_bind_text(st, 5, a->evidence);
	lg_bind_text(st, 6, a->file);
	sqlite3_bind_int64(st, 7, a->line);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) == 0) {
		if ((detail = strdup((const char *)sqlite3_column_text(st, 1))) ==
		    NULL || !lg_insert_event(l, a->op_id, ledger_now_us(), a->kind,
		    a->source, detail))
			goto out;
		a->added = 1;
		prev = (const char *)sqlite3_column_text(st, 2);
		a->conflict = prev != NULL && strcmp(prev, a->kind) != 0 &&
		    (strcmp(a->kind, "installed") == 0 ||
		    strcmp(a->kind, "install_failed") == 0);
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
    const char *text, int *added, int *conflict)
{
	struct evidence_args a = { op_id, kind, source, evidence, file, text,
	    line, 0, 0 };
	int ret = lg_group_write(l, evidence_row, &a);

	*added = ret == LEDGER_OK && a.added;
	*conflict = ret == LEDGER_OK && a.conflict;
	return ret;
}

struct retract_args {
	int64_t		 event_id;
	const char	*reason, *by;
	int		 result;	/* enum ledger_retract_result */
};

/* What a device or a report said, which an admin may take back. */
static int
is_evidence(const char *kind)
{
	static const char *const kinds[] = { "installed", "install_failed",
	    "probably_installed", "probably_install_failed",
	    "received_by_device", "request_logged" };
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return 1;
	return 0;
}

static int
retract_rows(ledger *l, void *arg)
{
	struct retract_args *a = arg;
	sqlite3_stmt *st = NULL;
	char *detail = NULL;
	int64_t op = 0, now = ledger_now_us();
	int ret = LEDGER_ERROR;

	if (sqlite3_prepare_v2(l->db, "SELECT operation_id, kind, retracted_us"
	    " IS NOT NULL, json_object('event_id', id, 'kind', kind, 'reason',"
	    " ?2, 'by', ?3) FROM events WHERE id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->event_id);
	lg_bind_text(st, 2, a->reason);
	lg_bind_text(st, 3, a->by);
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		a->result = LEDGER_RETRACT_UNKNOWN;
		ret = LEDGER_OK;
		goto out;
	case SQLITE_ROW:
		break;
	default:
		goto out;
	}
	op = sqlite3_column_int64(st, 0);
	if (!is_evidence((const char *)sqlite3_column_text(st, 1)))
		a->result = LEDGER_RETRACT_NOT_EVIDENCE;
	else if (sqlite3_column_int(st, 2))
		a->result = LEDGER_RETRACT_ALREADY;
	if (a->result != LEDGER_RETRACTED) {
		ret = LEDGER_OK;
		goto out;
	}
	if ((detail = strdup((const char *)sqlite3_column_text(st, 3))) == NULL)
		goto out;
	sqlite3_finalize(st);
	/* The status trigger recomputes the transaction's status. */
	if (sqlite3_prepare_v2(l->db, "UPDATE events SET retracted_us = ?2"
	    " WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->event_id);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) != SQLITE_DONE ||
	    !lg_insert_event(l, op, now, "evidence_retracted", a->by, detail))
		goto out;
	ret = LEDGER_OK;
out:
	sqlite3_finalize(st);
	free(detail);
	return ret;
}

int
ledger_retract_evidence(ledger *l, int64_t event_id, const char *reason,
    const char *by)
{
	struct retract_args a = { event_id, reason, by, LEDGER_RETRACTED };

	if (lg_group_write(l, retract_rows, &a) != LEDGER_OK)
		return LEDGER_RETRACT_ERROR;
	return a.result;
}

int64_t
ledger_find_by_cert(ledger *l, const char *hex)
{
	return lg_query_id(l, "SELECT o.id FROM certificates c JOIN operations o ON"
	    " o.cert_serial = c.serial AND o.outcome = 'issued' WHERE"
	    " c.sha1 = lower(?1) OR c.sha256 = lower(?1) OR c.serial = upper(?1)"
	    " ORDER BY o.id LIMIT 1", hex, NULL);
}

int64_t
ledger_find_by_cn_time(ledger *l, const char *cn, int64_t at_us,
    int64_t window_us)
{
	struct lg_query q;
	int64_t id = 0;

	if (lg_query_begin(l, LG_SLOW, "SELECT o.id FROM operations o WHERE"
	    " o.outcome = 'issued' AND (', ' || o.csr_subject || ',') LIKE"
	    " '%, CN=' || ?1 || ',%' AND o.completed_us BETWEEN ?2 - ?3 AND ?2"
	    " LIMIT 2", &q)) {
		lg_bind_text(q.st, 1, cn);
		sqlite3_bind_int64(q.st, 2, at_us);
		sqlite3_bind_int64(q.st, 3, window_us);
		id = lg_unique_id(q.st);	/* two candidates: none */
	}
	lg_query_end(&q);
	return id;
}
