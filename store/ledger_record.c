#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

int
lg_insert_event(ledger *l, int64_t op_id, int64_t at, const char *kind,
    const char *source, const char *detail)
{
	sqlite3_stmt *st = l->st[ST_INSERT_EVENT];

	sqlite3_bind_int64(st, 1, op_id);
	sqlite3_bind_int64(st, 2, at);
	lg_bind_text(st, 3, kind);
	lg_bind_text(st, 4, source);
	lg_bind_text(st, 5, detail);
	return lg_run(st) == SQLITE_DONE;
}

/* Id of the operation that issued serial, 0 when none; under the mutex. */
int64_t
lg_issuing_op(ledger *l, const char *serial)
{
	sqlite3_stmt *st = l->st[ST_ISSUING_OP];
	int64_t id = 0;

	lg_bind_text(st, 1, serial);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

/* A detail object built by SQLite: json_object(k1, v1, ...). */
char *
lg_json_detail(ledger *l, const char *sql, const char *text, int64_t num)
{
	sqlite3_stmt *st = NULL;
	char *s = NULL;

	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	lg_bind_text(st, 1, text);
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
	int64_t orig = lg_issuing_op(l, serial);
	char *detail;
	int ok;

	if (orig == 0)
		return 1;
	detail = lg_json_detail(l, "SELECT json_object('serial', ?1,"
	    " 'renewal_operation', ?2)", serial, renewal_op);
	ok = detail != NULL &&
	    lg_insert_event(l, orig, now, "installed", "renewal", detail);
	free(detail);
	return ok;
}

static int
repoll_evidence(ledger *l, const char *serial, int64_t op_id, int type,
    int64_t now)
{
	int64_t orig = lg_issuing_op(l, serial);
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (orig == 0 || orig == op_id)
		return 1;
	if (sqlite3_prepare_v2(l->db, "SELECT json_object('serial', ?1,"
	    " 'operation', ?2, 'message_type', ?3)", -1, &st, NULL) == SQLITE_OK) {
		lg_bind_text(st, 1, serial);
		sqlite3_bind_int64(st, 2, op_id);
		sqlite3_bind_int(st, 3, type);
		ok = sqlite3_step(st) == SQLITE_ROW && lg_insert_event(l, orig, now,
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

	lg_bind_text(st, 1, op->reason);
	lg_bind_int_or_null(st, 2, op->fail_info, -1);
	sqlite3_bind_int(st, 3, op->http_status);
	lg_bind_text(st, 4, op->cert_serial);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return s;
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
	int64_t now = ledger_now_us(), id;
	int rc, ret = LEDGER_ERROR;

	if (cert != NULL) {
		st = l->st[ST_INSERT_CERT];
		lg_bind_text(st, 1, cert->serial);
		lg_bind_text(st, 2, cert->sha256);
		sqlite3_bind_blob(st, 3, cert->der, (int)cert->der_len,
		    SQLITE_STATIC);
		lg_bind_text(st, 4, cert->subject);
		sqlite3_bind_int64(st, 5, cert->not_before);
		sqlite3_bind_int64(st, 6, cert->not_after);
		sqlite3_bind_int64(st, 7, now);
		lg_bind_text(st, 8, cert->ca_id);
		lg_bind_text(st, 9, cert->sha1);
		rc = lg_run(st);
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
	lg_bind_text(st, 3, op->client_addr);
	lg_bind_text(st, 4, op->user_agent);
	lg_bind_text(st, 5, op->http_method);
	lg_bind_text(st, 6, op->transaction_id);
	lg_bind_int_or_null(st, 7, op->message_type, 0);
	lg_bind_text(st, 8, op->request_nonce);
	lg_bind_text(st, 9, op->reply_nonce);
	lg_bind_text(st, 10, op->request_sha256);
	lg_bind_text(st, 11, op->request_b64_head);
	lg_bind_text(st, 12, op->csr_subject);
	lg_bind_text(st, 13, op->csr_sans);
	lg_bind_text(st, 14, op->pubkey_sha256);
	lg_bind_text(st, 15, op->digest);
	lg_bind_text(st, 16, op->cipher);
	lg_bind_text(st, 17, op->outcome);
	lg_bind_int_or_null(st, 18, op->pki_status, -1);
	lg_bind_int_or_null(st, 19, op->fail_info, -1);
	sqlite3_bind_int(st, 20, op->http_status);
	lg_bind_text(st, 21, op->reason);
	lg_bind_text(st, 22, op->cert_serial);
	lg_bind_text(st, 23, op->renewal_of);
	lg_bind_text(st, 24, op->profile);
	if (lg_run(st) != SQLITE_DONE)
		goto out;
	id = sqlite3_last_insert_rowid(l->db);
	if ((detail = outcome_detail(l, op)) == NULL)
		goto out;
	if (!lg_insert_event(l, id, op->received_us, "request_received", "server",
	    NULL) || (op->challenge_event != NULL &&
	    !lg_insert_event(l, id, now, op->challenge_event, "server", NULL)) ||
	    !lg_insert_event(l, id, now, op->outcome, "server", detail))
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
		lg_bind_text(st, 1, op->transaction_id);
		lg_bind_text(st, 2, op->pubkey_sha256);
		lg_bind_text(st, 3, op->renewal_of);
		sqlite3_bind_blob(st, 4, op->pending_csr, (int)op->pending_csr_len,
		    SQLITE_STATIC);
		lg_bind_text(st, 5, op->csr_subject ? op->csr_subject : "");
		lg_bind_text(st, 6, op->client_addr);
		sqlite3_bind_int64(st, 7, id);
		sqlite3_bind_int64(st, 8, now);
		lg_bind_text(st, 9, op->profile);
		if (lg_run(st) != SQLITE_DONE)
			goto out;
	}
	if (op->completes_pending != 0) {
		st = l->st[ST_PENDING_ISSUED];
		sqlite3_bind_int64(st, 1, op->completes_pending);
		lg_bind_text(st, 2, op->cert_serial);
		if (lg_run(st) != SQLITE_DONE || sqlite3_changes(l->db) != 1)
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

	ret = lg_group_write(l, record_rows, &a);
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

	return lg_insert_event(l, a->op_id, a->at, a->kind, a->source, a->detail) ?
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
	a->at = ledger_now_us();
	a->kind = memcpy(p, kind, nk);
	a->source = memcpy(p + nk, source, ns);
	a->detail = nd ? memcpy(p + nk + ns, detail_json, nd) : NULL;
	return lg_group_write_detached(l, event_row, a) ? LEDGER_OK : LEDGER_ERROR;
}

int
ledger_add_event(ledger *l, int64_t op_id, const char *kind,
    const char *source, const char *detail_json)
{
	struct event_args a = { op_id, ledger_now_us(), kind, source, detail_json };

	return lg_group_write(l, event_row, &a);
}
