#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

void
lg_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

void
lg_bind_int_or_null(sqlite3_stmt *st, int i, int v, int null_value)
{
	if (v == null_value)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, v);
}

/* Step a write statement once, then reset it. */
int
lg_run(sqlite3_stmt *st)
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
int
lg_drain(sqlite3_stmt *st, int rc)
{
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE;
}

int
lg_copy_blob(sqlite3_stmt *st, int col, unsigned char **der, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);
	const void *b = sqlite3_column_blob(st, col);

	if (n <= 0 || b == NULL || (*der = malloc((size_t)n)) == NULL)
		return 0;
	memcpy(*der, b, (size_t)n);
	*len = (size_t)n;
	return 1;
}

char *
lg_column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? strdup((const char *)t) : NULL;
}

int64_t
lg_unique_id(sqlite3_stmt *st)
{
	int64_t id = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = 0;
	return id;
}

/* One id from a query with up to two text parameters; 0 when none. */
int64_t
lg_query_id(ledger *l, const char *sql, const char *a, const char *b)
{
	struct lg_query q;
	int64_t id = 0;

	if (lg_query_begin(l, LG_SLOW, sql, &q)) {
		if (a != NULL)
			lg_bind_text(q.st, 1, a);
		if (b != NULL)
			lg_bind_text(q.st, 2, b);
		if (sqlite3_step(q.st) == SQLITE_ROW)
			id = sqlite3_column_int64(q.st, 0);
	}
	lg_query_end(&q);
	return id;
}

sqlite3_stmt *
lg_stmt_begin(ledger *l, enum stmt s)
{
	pthread_mutex_lock(s < ST_READS ? &l->rmu : &l->mu);
	return l->st[s];
}

void
lg_stmt_end(ledger *l, enum stmt s)
{
	sqlite3_reset(l->st[s]);
	sqlite3_clear_bindings(l->st[s]);
	pthread_mutex_unlock(s < ST_READS ? &l->rmu : &l->mu);
}

int
lg_query_begin(ledger *l, enum lg_conn c, const char *sql, struct lg_query *q)
{
	sqlite3 *db = c == LG_WRITER ? l->db : l->slow;

	q->mu = c == LG_WRITER ? &l->mu : &l->slowmu;
	q->st = NULL;
	pthread_mutex_lock(q->mu);
	if (sqlite3_prepare_v2(db, sql, -1, &q->st, NULL) != SQLITE_OK) {
		sqlite3_finalize(q->st);
		q->st = NULL;
	}
	return q->st != NULL;
}

void
lg_query_end(struct lg_query *q)
{
	sqlite3_finalize(q->st);
	q->st = NULL;
	pthread_mutex_unlock(q->mu);
}
