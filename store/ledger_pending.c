#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

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
	sqlite3_stmt *st;
	int rc, ret = LEDGER_ERROR;

	memset(p, 0, sizeof(*p));
	*found = 0;
	st = lg_stmt_begin(l, ST_PENDING_FIND);
	lg_bind_text(st, 1, txid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = LEDGER_OK;
	} else if (rc == SQLITE_ROW) {
		p->id = sqlite3_column_int64(st, 0);
		p->transaction_id = lg_column_dup(st, 1);
		p->pubkey_sha256 = lg_column_dup(st, 2);
		p->renewal_of = lg_column_dup(st, 3);
		p->subject = lg_column_dup(st, 5);
		snprintf(p->state, sizeof(p->state), "%s",
		    (const char *)sqlite3_column_text(st, 6));
		p->reason = lg_column_dup(st, 7);
		p->cert_serial = lg_column_dup(st, 8);
		p->profile = lg_column_dup(st, 9);
		if (p->transaction_id != NULL && p->pubkey_sha256 != NULL &&
		    p->subject != NULL && lg_copy_blob(st, 4, &p->csr, &p->csr_len)) {
			*found = 1;
			ret = LEDGER_OK;
		}
	}
	lg_stmt_end(l, ST_PENDING_FIND);
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
	int64_t now = ledger_now_us(), op = 0;
	char *detail = NULL;
	int rc, ret = LEDGER_ERROR;

	lg_bind_text(st, 1, a->txid);
	lg_bind_text(st, 2, a->approve ? "approved" : "denied");
	sqlite3_bind_int64(st, 3, now);
	lg_bind_text(st, 4, a->reason);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		op = sqlite3_column_int64(st, 0);
	if (!lg_drain(st, rc))
		return LEDGER_ERROR;
	if (op == 0) {
		a->result = LEDGER_DECIDE_UNKNOWN;
		return LEDGER_OK;
	}
	detail = lg_json_detail(l, "SELECT json_object('reason', ?1)", a->reason,
	    0);
	if (detail == NULL || !lg_insert_event(l, op, now,
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

	if (lg_group_write(l, decide_rows, &a) != LEDGER_OK)
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
	int64_t now = ledger_now_us();
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
	lg_bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, a->expires_us);
	lg_bind_text(st, 4, a->profile_in);
	if (lg_run(st) != SQLITE_DONE)
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

	if (lg_group_write(l, challenge_add_rows, &a) != LEDGER_OK)
		return LEDGER_CHALLENGE_ERROR;
	return a.result;
}

/* The challenge's profile from a one-row statement, else UNKNOWN. */
static int
challenge_row(sqlite3_stmt *st, struct challenge_args *a)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		a->profile = lg_column_dup(st, 0);
		a->result = LEDGER_CHALLENGE_OK;
	}
	return lg_drain(st, rc);
}

/* Mark the challenge used by this request, unless it already is. */
static int
challenge_use_rows(ledger *l, void *arg)
{
	struct challenge_args *a = arg;
	sqlite3_stmt *st = l->st[ST_CHALLENGE_USE];

	a->result = LEDGER_CHALLENGE_UNKNOWN;
	lg_bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, ledger_now_us());
	lg_bind_text(st, 3, a->txid);
	lg_bind_text(st, 4, a->pubkey_sha256);
	if (!challenge_row(st, a))
		return LEDGER_ERROR;
	if (a->result == LEDGER_CHALLENGE_OK)
		return LEDGER_OK;
	/* Already used, but by this very request sent again. */
	st = l->st[ST_CHALLENGE_REUSE];
	lg_bind_text(st, 1, a->sha256);
	lg_bind_text(st, 2, a->txid);
	lg_bind_text(st, 3, a->pubkey_sha256);
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
	if (lg_group_write(l, challenge_use_rows, &a) != LEDGER_OK) {
		free(a.profile);
		return LEDGER_CHALLENGE_ERROR;
	}
	*profile = a.profile;
	return a.result;
}
