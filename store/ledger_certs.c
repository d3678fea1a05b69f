#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

int
ledger_lookup_txid(ledger *l, const char *txid, const char *pubkey_sha256,
    const char *renewal_of, int64_t now, int *state, unsigned char **der,
    size_t *der_len, char **serial)
{
	sqlite3_stmt *st;
	int rc, ret = LEDGER_ERROR;

	*state = LEDGER_TXID_NEW;
	*der = NULL;
	*serial = NULL;
	st = lg_stmt_begin(l, ST_LOOKUP_TXID);
	lg_bind_text(st, 1, txid);
	lg_bind_text(st, 2, pubkey_sha256);
	sqlite3_bind_int64(st, 3, now);
	lg_bind_text(st, 4, renewal_of);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = LEDGER_OK;
	} else if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(st, 0) == 0) {
			*state = LEDGER_TXID_OTHER_KEY;
			ret = LEDGER_OK;
		} else if (lg_copy_blob(st, 1, der, der_len) &&
		    (*serial = strdup((const char *)sqlite3_column_text(st, 2))) != NULL) {
			*state = LEDGER_TXID_SAME_KEY;
			ret = LEDGER_OK;
		} else {
			free(*der);
			*der = NULL;
		}
	}
	lg_stmt_end(l, ST_LOOKUP_TXID);
	return ret;
}

int
ledger_cert_der(ledger *l, const char *serial, unsigned char **der,
    size_t *len)
{
	sqlite3_stmt *st;
	int ret = LEDGER_ERROR;

	*der = NULL;
	st = lg_stmt_begin(l, ST_CERT_DER);
	lg_bind_text(st, 1, serial);
	if (sqlite3_step(st) == SQLITE_ROW && lg_copy_blob(st, 0, der, len))
		ret = LEDGER_OK;
	lg_stmt_end(l, ST_CERT_DER);
	return ret;
}

int
ledger_cert_state(ledger *l, const char *serial, struct ledger_cert_state *cs)
{
	sqlite3_stmt *st;
	int rc;

	memset(cs, 0, sizeof(*cs));
	st = lg_stmt_begin(l, ST_CERT_STATE);
	lg_bind_text(st, 1, serial);
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
	lg_stmt_end(l, ST_CERT_STATE);
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
	int64_t now = ledger_now_us(), op;
	char *detail = NULL;
	int ret = LEDGER_ERROR;

	lg_bind_text(st, 1, a->serial);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, a->reason);
	if (lg_run(st) != SQLITE_DONE)
		return LEDGER_ERROR;
	if (sqlite3_changes(l->db) == 0) {
		a->result = LEDGER_REVOKE_ALREADY;
		return LEDGER_OK;
	}
	if ((op = lg_issuing_op(l, a->serial)) != 0) {
		detail = lg_json_detail(l, "SELECT json_object('serial', upper(?1),"
		    " 'reason', ?2)", a->serial, a->reason);
		if (detail == NULL ||
		    !lg_insert_event(l, op, now, "revoked", "api", detail))
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
	if (lg_group_write(l, revoke_rows, &a) != LEDGER_OK)
		return LEDGER_REVOKE_ERROR;
	return a.result;
}

int
ledger_claim_unassigned(ledger *l, const char *ca_id)
{
	struct lg_query q;
	int ok;

	if ((ok = lg_query_begin(l, LG_WRITER, "UPDATE certificates SET"
	    " ca_id = ?1 WHERE ca_id IS NULL", &q))) {
		lg_bind_text(q.st, 1, ca_id);
		ok = sqlite3_step(q.st) == SQLITE_DONE;
	}
	lg_query_end(&q);
	return ok ? LEDGER_OK : LEDGER_ERROR;
}

int
ledger_revoked(ledger *l, int64_t now, const char *ca_id,
    ledger_revoked_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc, ret = LEDGER_OK;

	st = lg_stmt_begin(l, ST_REVOKED_LIST);
	sqlite3_bind_int64(st, 1, now);
	lg_bind_text(st, 2, ca_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!fn(arg, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2))) {
			ret = LEDGER_ERROR;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = LEDGER_ERROR;
	lg_stmt_end(l, ST_REVOKED_LIST);
	return ret;
}

int
ledger_next_crl_number(ledger *l, const char *ca_id, int64_t *number)
{
	sqlite3_stmt *st = lg_stmt_begin(l, ST_CRL_NUMBER);
	int rc, ret = LEDGER_ERROR;

	lg_bind_text(st, 1, ca_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*number = sqlite3_column_int64(st, 0);
		ret = LEDGER_OK;
	}
	lg_drain(st, rc);
	lg_stmt_end(l, ST_CRL_NUMBER);
	return ret;
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
		if (fn(sqlite3_column_blob(sel, 1),
		    (size_t)sqlite3_column_bytes(sel, 1), hex) != 0)
			goto out;
		sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(upd, 2, hex, -1, SQLITE_TRANSIENT);
		if (lg_run(upd) != SQLITE_DONE)
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
